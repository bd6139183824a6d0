//! A descriptor as a waiting operation names it: its number and the identity of the
//! ringloop socket that owns it.
//!
//! Descriptor numbers are reused: once a socket is closed, by whatever thread and
//! whatever path (a failed connect, a listener dropped on another thread, a stream
//! turned back into a std one and dropped there), the next socket the process opens may
//! get the same number. A readiness backend that remembered "number 7 is registered"
//! would then wait on a registration the kernel dropped with the old file, and never
//! wake. So every socket object takes a fresh identity when it takes ownership of a
//! descriptor, and operations carry it: the epoll driver trusts a registration only
//! for the identity that made it, and registers afresh for any other. No close has to
//! be seen for this to hold, and it costs one integer comparison per wait.
//!
//! A stream socket on an io_uring loop built with `Builder::fixed_files` also carries
//! the slot its descriptor holds in the ring's registered-file table (`fixed.rs`).
//! The driver uses the slot only while the table still names this identity there, so
//! a stale copy falls back to the plain number, never to another socket's slot.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};

/// A descriptor number and its owner's identity (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fd {
    /// The descriptor number.
    pub(crate) raw: RawFd,
    /// Unique in the process for the socket object that owns `raw`; never 0.
    pub(crate) id: u64,
    /// The registered-file slot the owner was given ([`NO_SLOT`]: none).
    pub(crate) slot: u32,
}

/// [`Fd::slot`] of a descriptor with no registered-file slot.
pub(crate) const NO_SLOT: u32 = u32::MAX;

impl Fd {
    /// `raw` under a new identity. Called once by each socket object that takes
    /// ownership of a descriptor; its operations then reuse the value.
    pub(crate) fn new(raw: RawFd) -> Fd {
        // Only uniqueness matters, not order with other memory: relaxed suffices.
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Fd {
            raw,
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            slot: NO_SLOT,
        }
    }

    /// The registered-file slot this owner was given, if any.
    pub(crate) fn slot(self) -> Option<u32> {
        (self.slot != NO_SLOT).then_some(self.slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_owner_gets_its_own_identity() {
        let (a, b) = (Fd::new(7), Fd::new(7));
        assert_eq!(a.raw, b.raw);
        assert_ne!(a.id, b.id);
        assert_ne!(a.id, 0);
    }
}
