//! Registered (fixed) files: stream sockets named by a slot in the ring's file table.
//!
//! An operation on a plain descriptor makes the kernel look the number up in the
//! process's descriptor table and take a reference on the file, and drop it at the end;
//! with `IOSQE_FIXED_FILE` it indexes the ring's own table instead, whose entries hold
//! their reference for as long as they are registered. A loop built with
//! `Builder::fixed_files(n)` gets a sparse table of `n` slots; each stream socket
//! (accepted, connected, adopted from std, or served by `net::serve`) takes a free
//! slot when it is made and gives it back when it closes or leaves with `into_std`.
//!
//! # The rules that keep a slot naming the right socket
//!
//! - Registration and unregistration are synchronous (`io_uring_register`): the table
//!   changes at once, never behind an SQE still waiting in the queue.
//! - An operation names the slot only if the table still holds its socket's identity
//!   there when its SQE is built ([`FixedFiles::lookup`]); any other operation names the
//!   plain number, as without fixed files.
//! - The kernel resolves a fixed file when it takes the SQE (ringloop submits no links,
//!   drains or forced-async operations, which would resolve it later). So a slot given
//!   back is *quarantined* until the submission queue has been emptied into the kernel:
//!   an SQE still queued for the old socket then fails with `EBADF` (it belongs to an
//!   operation being abandoned, as its socket is gone) instead of reaching the socket
//!   that took the slot next.
//! - A socket's close unregisters it first, so the table never keeps a closed socket's
//!   connection open. That holds from kernel 6.13, where each slot counts its own
//!   users; before it, a removed file lives until every older fixed-file operation of
//!   the ring finished, so the driver sets no table there (`setup::FIXED_FILES_SINCE`).

#![forbid(unsafe_code)]

use crate::driver::fd::Fd;

/// The slots of the ring's sparse file table and who holds each.
#[derive(Debug)]
pub(super) struct FixedFiles {
    /// Per slot, the identity ([`Fd::id`], never 0) of the socket registered there; 0
    /// when the slot is empty.
    owners: Vec<u64>,
    /// Empty slots ready to be taken, the next on top.
    free: Vec<u32>,
    /// Emptied slots that SQEs still in the submission queue may name.
    quarantined: Vec<u32>,
    /// Slots holding a socket.
    in_use: usize,
}

impl FixedFiles {
    /// A table of `slots` empty slots.
    pub(super) fn new(slots: u32) -> FixedFiles {
        FixedFiles {
            owners: vec![0; slots as usize],
            free: (0..slots).rev().collect(),
            quarantined: Vec::new(),
            in_use: 0,
        }
    }

    /// Takes a free slot for the socket `id`; `None` when every slot is taken.
    pub(super) fn take(&mut self, id: u64) -> Option<u32> {
        debug_assert_ne!(id, 0);
        let slot = self.free.pop()?;
        self.owners[slot as usize] = id;
        self.in_use += 1;
        Some(slot)
    }

    /// Gives back a slot just taken whose registration the kernel refused.
    pub(super) fn untake(&mut self, slot: u32) {
        self.owners[slot as usize] = 0;
        self.in_use -= 1;
        self.free.push(slot);
    }

    /// The slot `fd`'s operations may name: the one it was given, while the table still
    /// holds its identity there.
    #[inline]
    pub(super) fn lookup(&self, fd: Fd) -> Option<u32> {
        let slot = fd.slot()?;
        (self.owners.get(slot as usize) == Some(&fd.id)).then_some(slot)
    }

    /// Empties `fd`'s slot (if the table still holds it there) and quarantines it; the
    /// slot to unregister, if any.
    pub(super) fn release(&mut self, fd: Fd) -> Option<u32> {
        let slot = self.lookup(fd)?;
        self.owners[slot as usize] = 0;
        self.in_use -= 1;
        self.quarantined.push(slot);
        Some(slot)
    }

    /// The submission queue is empty: every SQE that named a quarantined slot is in the
    /// kernel, its file resolved; those slots may be taken again.
    pub(super) fn queue_emptied(&mut self) {
        self.free.append(&mut self.quarantined);
    }

    /// Whether slots wait in quarantine.
    pub(super) fn has_quarantined(&self) -> bool {
        !self.quarantined.is_empty()
    }

    /// The table's size.
    pub(super) fn slots(&self) -> usize {
        self.owners.len()
    }

    /// Slots in use.
    pub(super) fn in_use(&self) -> usize {
        self.in_use
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(fd: Fd, slot: u32) -> Fd {
        Fd { slot, ..fd }
    }

    #[test]
    fn a_slot_names_only_the_socket_that_took_it() {
        let mut table = FixedFiles::new(2);
        let a = Fd::new(7);
        let slot = table.take(a.id).unwrap();
        let a = owned(a, slot);
        assert_eq!(table.lookup(a), Some(slot));
        // The same number under another owner, or a socket with no slot: plain.
        assert_eq!(table.lookup(owned(Fd::new(7), slot)), None);
        assert_eq!(table.lookup(Fd::new(7)), None);
        assert_eq!(table.in_use(), 1);
    }

    #[test]
    fn a_released_slot_is_reused_only_after_the_queue_emptied() {
        let mut table = FixedFiles::new(1);
        let a = Fd::new(3);
        let a = owned(a, table.take(a.id).unwrap());
        assert_eq!(table.take(Fd::new(4).id), None, "one slot, taken");
        assert_eq!(table.release(a), Some(a.slot));
        assert_eq!(table.lookup(a), None, "a released slot is not named again");
        assert_eq!(table.release(a), None, "released once");
        assert!(table.has_quarantined());
        assert_eq!(
            table.take(Fd::new(4).id),
            None,
            "quarantined until submitted"
        );
        table.queue_emptied();
        let b = Fd::new(3);
        let b = owned(b, table.take(b.id).unwrap());
        assert_eq!(b.slot, a.slot);
        assert_eq!(
            table.lookup(a),
            None,
            "the old owner never gets the new socket"
        );
        assert_eq!(table.lookup(b), Some(b.slot));
    }

    #[test]
    fn a_refused_registration_gives_the_slot_back() {
        let mut table = FixedFiles::new(1);
        let a = Fd::new(5);
        let slot = table.take(a.id).unwrap();
        table.untake(slot);
        assert_eq!(table.lookup(owned(a, slot)), None);
        assert_eq!(table.in_use(), 0);
        assert_eq!(table.take(Fd::new(6).id), Some(slot));
    }
}
