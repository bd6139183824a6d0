//! A readiness wait: completes once a descriptor is readable (or writable), for I/O
//! that runs its own nonblocking syscall and waits only when that would block (the
//! poll-style traits of `tokio-io` and `futures-io`, and a loop's signal eventfd). It
//! holds no memory, so dropping it at any point is free of risk: the driver cancels it.

use std::io;

use crate::driver::fd::Fd;
use crate::driver::op::{OpCode, Operation, result};
use crate::driver::slab::Completion;

/// Which readiness to wait for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interest {
    Readable,
    /// Used by the poll-style traits only.
    #[cfg_attr(not(poll_io), allow(dead_code))]
    Writable,
}

/// A readiness wait in flight.
#[derive(Debug)]
pub(crate) struct Ready {
    fd: Fd,
    interest: Interest,
}

impl Ready {
    pub(crate) fn new(fd: Fd, interest: Interest) -> Ready {
        Ready { fd, interest }
    }
}

// SAFETY: the request holds no pointers.
unsafe impl Operation for Ready {
    type Output = io::Result<()>;

    fn code(&mut self) -> OpCode {
        match self.interest {
            Interest::Readable => OpCode::PollIn { fd: self.fd },
            Interest::Writable => OpCode::PollOut { fd: self.fd },
        }
    }

    fn complete(self, completion: Completion) -> Self::Output {
        result(completion).map(drop)
    }

    fn fail(self, error: io::Error) -> Self::Output {
        Err(error)
    }
}
