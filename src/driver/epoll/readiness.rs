//! What the epoll driver knows of one descriptor: which direction an operation waits
//! for, which directions an event makes ready, and the per-descriptor state (its
//! registration and owner, the directions known blocked, the operations parked).

use std::collections::VecDeque;

use crate::driver::fd::Fd;
use crate::driver::op::{OpCode, OpId};

/// The two directions an operation can wait for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Dir {
    Read,
    Write,
}

impl Dir {
    pub(super) const fn bit(self) -> u8 {
        match self {
            Dir::Read => 1,
            Dir::Write => 2,
        }
    }
}

/// Which direction an operation waits for, `None` for those that never wait.
pub(super) fn direction(code: &OpCode) -> Option<(Fd, Dir)> {
    match *code {
        OpCode::Accept { fd, .. }
        | OpCode::Recv { fd, .. }
        | OpCode::RecvMsg { fd, .. }
        | OpCode::PollIn { fd } => Some((fd, Dir::Read)),
        OpCode::Connect { fd, .. }
        | OpCode::Send { fd, .. }
        | OpCode::SendMsg { fd, .. }
        | OpCode::PollOut { fd } => Some((fd, Dir::Write)),
        OpCode::Shutdown { .. }
        | OpCode::Close { .. }
        | OpCode::RecvMulti { .. }
        | OpCode::AcceptMulti { .. }
        | OpCode::OpenAt { .. }
        | OpCode::ReadAt { .. }
        | OpCode::WriteAt { .. }
        | OpCode::Fsync { .. }
        | OpCode::Statx { .. }
        | OpCode::Nop => None,
    }
}

/// Events that mean the read side will stay readable (EOF or an error) from now on.
pub(super) const READ_CLOSED: u32 = (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;

/// Which directions an event makes ready. Errors and hang-ups wake both: the syscall
/// then reports them.
pub(super) fn ready_bits(events: u32) -> u8 {
    let read = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;
    let write = (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as u32;
    let mut bits = 0;
    if events & read != 0 {
        bits |= Dir::Read.bit();
    }
    if events & write != 0 {
        bits |= Dir::Write.bit();
    }
    bits
}

/// What the driver knows about one descriptor.
#[derive(Debug, Default)]
pub(super) struct FdState {
    pub(super) registered: bool,
    /// The identity of the socket whose operation made the registration (`fd.rs`).
    pub(super) owner: u64,
    /// Directions a syscall found blocked (`EAGAIN`) with no event since.
    pub(super) blocked: u8,
    /// An event reported the read side closed (`EPOLLRDHUP`, `EPOLLHUP`, `EPOLLERR`).
    /// Sticky, as the condition is: edge-triggered epoll reports it once, possibly merged
    /// into the data edge a short read then drains, so a later readiness wait must not
    /// wait for another edge.
    pub(super) read_closed: bool,
    pub(super) readers: VecDeque<OpId>,
    pub(super) writers: VecDeque<OpId>,
}

impl FdState {
    pub(super) fn parked(&mut self, dir: Dir) -> &mut VecDeque<OpId> {
        match dir {
            Dir::Read => &mut self.readers,
            Dir::Write => &mut self.writers,
        }
    }

    /// Forgets the descriptor, keeping the queues' memory for the next one.
    pub(super) fn reset(&mut self) {
        self.registered = false;
        self.owner = 0;
        self.blocked = 0;
        self.read_closed = false;
        debug_assert!(self.readers.is_empty() && self.writers.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hangups_and_errors_wake_both_directions() {
        let both = Dir::Read.bit() | Dir::Write.bit();
        assert_eq!(ready_bits(libc::EPOLLIN as u32), Dir::Read.bit());
        assert_eq!(ready_bits(libc::EPOLLRDHUP as u32), Dir::Read.bit());
        assert_eq!(ready_bits(libc::EPOLLOUT as u32), Dir::Write.bit());
        assert_eq!(ready_bits(libc::EPOLLHUP as u32), both);
        assert_eq!(ready_bits(libc::EPOLLERR as u32), both);
    }
}
