//! connect(2): connect a socket to a peer.

use std::io;

use crate::driver::fd::Fd;
use crate::driver::op::{OpCode, Operation, result};
use crate::driver::slab::Completion;
use crate::sys::net::SockAddr;

/// A connect(2) in flight.
pub struct Connect {
    fd: Fd,
    addr: Box<SockAddr>,
}

impl Connect {
    pub(crate) fn new(fd: Fd, addr: SockAddr) -> Connect {
        Connect {
            fd,
            addr: Box::new(addr),
        }
    }
}

// SAFETY: the address lives in `self.addr`'s heap allocation.
unsafe impl Operation for Connect {
    type Output = io::Result<()>;

    fn code(&mut self) -> OpCode {
        OpCode::Connect {
            fd: self.fd,
            addr: self.addr.as_ptr(),
            len: self.addr.len,
        }
    }

    fn complete(self, completion: Completion) -> Self::Output {
        result(completion).map(drop)
    }

    fn fail(self, error: io::Error) -> Self::Output {
        Err(error)
    }
}

impl std::fmt::Debug for Connect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connect")
            .field("fd", &self.fd)
            .finish_non_exhaustive()
    }
}
