//! connect(2): connect a socket to a peer.

use std::io;

use crate::driver::fd::Fd;
use crate::driver::op::{OpCode, Operation, result};
use crate::driver::slab::Completion;
use crate::sys::net::SockAddr;

/// Connecting a socket, connect(2): the operation that
/// [`TcpStream::connect`](crate::net::TcpStream::connect) and
/// [`UnixStream::connect`](crate::net::UnixStream::connect) await. Those are
/// `async fn`s (they resolve names, try each address), so no method hands out an
/// `Op<'_, Connect>`; use them:
///
/// ```
/// use ringloop::net::{TcpListener, TcpStream};
///
/// ringloop::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let stream = TcpStream::connect(listener.local_addr()?).await?;
///     assert_eq!(stream.peer_addr()?, listener.local_addr()?);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
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
