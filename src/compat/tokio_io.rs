//! `tokio::io::AsyncRead` and `AsyncWrite` for ringloop's streams (feature `tokio-io`).

use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, OwnedFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::net::socket::{ReadHalf, Socket, WriteHalf};
use crate::net::{TcpStream, UnixStream};
use crate::sys::net as sys;

fn poll_read<S: AsRawFd + Into<OwnedFd>>(
    sock: &Socket<S>,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
) -> Poll<io::Result<()>> {
    let asked = buf.remaining();
    if asked == 0 {
        return Poll::Ready(Ok(()));
    }
    let fd = sock.fd();
    let n = std::task::ready!(sock.poll_read_with(cx, || sys::recv_into(fd, buf)))?;
    if n < asked {
        sock.waits().read_drained();
    }
    Poll::Ready(Ok(()))
}

macro_rules! stream_traits {
    ($ty:ty) => {
        impl AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                poll_read(&self.sock, cx, buf)
            }
        }

        impl AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.sock.poll_write_slice(cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                self.sock.poll_write_slices(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            /// Nothing is buffered: written bytes are in the kernel already.
            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            /// Shuts the write direction down (the peer reads end-of-file).
            fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.sock.shutdown_write_now()
            }
        }
    };
}

stream_traits!(TcpStream);
stream_traits!(UnixStream);

impl<S: AsRawFd + Into<OwnedFd>> AsyncRead for ReadHalf<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        poll_read(&self.sock, cx, buf)
    }
}

impl<S: AsRawFd + Into<OwnedFd>> AsyncWrite for WriteHalf<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.sock.poll_write_slice(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.sock.poll_write_slices(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.sock.shutdown_write_now()
    }
}

/// Sequential reads at the file's position (see `fs/seq.rs`).
impl AsyncRead for crate::fs::File {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let dst = buf.initialize_unfilled();
        let n = std::task::ready!(self.get_mut().poll_read_seq(cx, dst))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

/// Sequential writes at the file's position: each is reported written once copied, and
/// its outcome is checked by the next call or by `flush` (as `tokio::fs::File` does).
impl AsyncWrite for crate::fs::File {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_seq(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush_seq(cx)
    }

    /// As flush: a file has nothing to shut down.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush_seq(cx)
    }
}

impl tokio::io::AsyncSeek for crate::fs::File {
    fn start_seek(self: Pin<&mut Self>, position: std::io::SeekFrom) -> io::Result<()> {
        self.get_mut().start_seek_seq(position)
    }

    fn poll_complete(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        self.get_mut().poll_complete_seq(cx)
    }
}
