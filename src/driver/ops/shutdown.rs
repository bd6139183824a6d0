//! shutdown(2): half-close a connection.

use std::io;
use std::os::fd::RawFd;

use crate::driver::op::{OpCode, Operation, result};
use crate::driver::slab::Completion;

/// A shutdown(2) in flight. (Named apart from `std::net::Shutdown`, the direction it
/// takes.)
pub struct ShutdownOp {
    fd: RawFd,
    how: libc::c_int,
}

impl ShutdownOp {
    pub(crate) fn new(fd: RawFd, how: std::net::Shutdown) -> ShutdownOp {
        let how = match how {
            std::net::Shutdown::Read => libc::SHUT_RD,
            std::net::Shutdown::Write => libc::SHUT_WR,
            std::net::Shutdown::Both => libc::SHUT_RDWR,
        };
        ShutdownOp { fd, how }
    }
}

// SAFETY: the request holds no pointers.
unsafe impl Operation for ShutdownOp {
    type Output = io::Result<()>;

    fn code(&mut self) -> OpCode {
        OpCode::Shutdown {
            fd: self.fd,
            how: self.how,
        }
    }

    fn complete(self, completion: Completion) -> Self::Output {
        result(completion).map(drop)
    }

    fn fail(self, error: io::Error) -> Self::Output {
        Err(error)
    }
}

impl std::fmt::Debug for ShutdownOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShutdownOp")
            .field("fd", &self.fd)
            .finish_non_exhaustive()
    }
}
