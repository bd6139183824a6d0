//! close(2) through the ring: dropping a socket on a running loop costs no syscall of
//! its own; the close rides in the next batch of submissions.

use std::io;
use std::os::fd::{IntoRawFd, OwnedFd, RawFd};

use crate::driver::handle::DriverHandle;
use crate::driver::op::{Late, OpCode, Operation, result};
use crate::driver::slab::Completion;
use crate::sys::net::own;

/// Owns the descriptor until the kernel has taken it.
pub(crate) struct Close {
    fd: RawFd,
}

impl Close {
    pub(crate) fn new(fd: OwnedFd) -> Close {
        Close {
            fd: fd.into_raw_fd(),
        }
    }
}

// SAFETY: the request holds no pointers.
unsafe impl Operation for Close {
    type Output = io::Result<()>;

    fn code(&mut self) -> OpCode {
        OpCode::Close { fd: self.fd }
    }

    fn complete(self, completion: Completion) -> Self::Output {
        result(completion).map(drop)
    }

    fn fail(self, _error: io::Error) -> Self::Output {
        // Never submitted: close it here.
        // SAFETY: `new` took ownership of the descriptor and nothing closed it yet.
        drop(unsafe { own(self.fd) });
        Ok(())
    }
}

/// Closes `fd` through `io`'s ring, in its next batch of submissions (at once when the
/// loop has closed).
pub(crate) fn close_on(io: &DriverHandle, fd: OwnedFd) {
    let mut op = Close::new(fd);
    let code = op.code();
    let submitted = io.with_driver(|d| {
        // SAFETY: a close request holds no pointers.
        let id = unsafe { d.submit(code) }?;
        // Nobody awaits it: the driver frees the slot when the completion arrives.
        d.abandon_op(id, None, Late::Ignore);
        Ok::<(), io::Error>(())
    });
    if !matches!(submitted, Some(Ok(()))) {
        let _ = op.fail(crate::driver::op::loop_closed());
    }
}
