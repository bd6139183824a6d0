//! accept(2): a new connection on a listening socket.

use std::io;
use std::os::fd::{OwnedFd, RawFd};

use crate::driver::fd::Fd;
use crate::driver::op::{Late, OpCode, Operation, result};
use crate::driver::slab::Completion;
use crate::sys::net::{SockAddr, own};

/// Accepting a connection, accept(2): the operation that
/// [`TcpListener::accept`](crate::net::TcpListener::accept) and
/// [`UnixListener::accept`](crate::net::UnixListener::accept) await. Those are
/// `async fn`s (they retry when descriptors run out), so no method hands out an
/// `Op<'_, Accept>`; use them:
///
/// ```
/// use ringloop::net::{TcpListener, TcpStream};
///
/// ringloop::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let client = TcpStream::connect(listener.local_addr()?).await?;
///     let (_conn, peer) = listener.accept().await?;
///     assert_eq!(peer, client.local_addr()?);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Accept {
    fd: Fd,
    addr: Box<SockAddr>,
}

impl Accept {
    pub(crate) fn new(fd: Fd) -> Accept {
        Accept {
            fd,
            addr: Box::new(SockAddr::empty()),
        }
    }
}

// SAFETY: the address and its length live in `self.addr`'s heap allocation.
unsafe impl Operation for Accept {
    type Output = io::Result<(OwnedFd, SockAddr)>;

    /// A connection accepted after the future was dropped is closed, never leaked.
    const LATE: Late = Late::CloseFd;

    fn code(&mut self) -> OpCode {
        OpCode::Accept {
            fd: self.fd,
            addr: self.addr.as_mut_ptr(),
            len: &mut self.addr.len,
        }
    }

    fn complete(self, completion: Completion) -> Self::Output {
        let fd = result(completion)?;
        // SAFETY: a successful accept returns a new descriptor that nothing owns yet.
        let fd = unsafe { own(fd as RawFd) };
        Ok((fd, *self.addr))
    }

    fn fail(self, error: io::Error) -> Self::Output {
        Err(error)
    }
}

impl std::fmt::Debug for Accept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accept")
            .field("fd", &self.fd)
            .finish_non_exhaustive()
    }
}
