//! shutdown(2): half-close a connection.

use std::io;
use std::os::fd::RawFd;

use crate::driver::op::{OpCode, Operation, result};
use crate::driver::slab::Completion;

/// Shutting a connection down, shutdown(2): the operation that the streams' `shutdown`
/// (and [`WriteHalf::shutdown`](crate::net::WriteHalf::shutdown)) await; they are
/// `async fn`s, so no method hands out an `Op<'_, ShutdownOp>`. (Named apart from
/// `std::net::Shutdown`, the direction it takes.)
///
/// ```
/// use std::net::Shutdown;
/// use ringloop::net::UnixStream;
///
/// ringloop::run(async {
///     let (a, b) = UnixStream::pair()?;
///     a.shutdown(Shutdown::Write).await?; // b sees end-of-file
///     let (n, _) = b.read(Vec::with_capacity(16)).await;
///     assert_eq!(n?, 0);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
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
