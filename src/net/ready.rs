//! Poll-style I/O on a stream socket, for the `tokio-io` and `futures-io` traits.
//!
//! A poll runs the nonblocking syscall at once (`recv`/`send` with `MSG_DONTWAIT`, into
//! the caller's own buffer, which the kernel touches only during the call). Only when it
//! would block does the socket wait for readiness: a `POLL_ADD` on io_uring, a parked
//! readiness wait on epoll. The wait holds no memory, so a poll abandoned at any point
//! (a dropped future, a `select!` that went the other way) leaves the kernel nothing to
//! write into: the wait is simply cancelled when the socket drops.
//!
//! Why readiness rather than ring operations with a buffer of the socket's own: the
//! traits lend the caller's buffer for one poll only, so a ring read would have to land
//! in a socket buffer and be copied out, and a write be copied in; a syscall on ready
//! data costs about what a completion does, without the copy. Measured in the echo
//! bench's `tokio-io` column.
//!
//! One task per direction: a second task polling the same direction of the same
//! socket takes the wake-up over (as with tokio's own sockets).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::socket::Socket;
use crate::driver::fd::Fd;
use crate::driver::op::Op;
use crate::driver::ops::ready::{Interest, Ready};

/// A descriptor's pending readiness waits, one per direction (sockets and a child's
/// pipes).
#[derive(Default)]
pub(crate) struct Waits {
    read: Dir,
    write: Dir,
}

/// One direction: its pending wait, and whether the last call showed it drained.
#[derive(Default)]
struct Dir {
    wait: RefCell<Option<Op<'static, Ready>>>,
    /// The last call moved fewer bytes than asked: the socket's buffer was emptied (or
    /// filled), so the next call would most likely answer `WouldBlock`. On io_uring the
    /// next poll then arms the readiness wait straight away (a `POLL_ADD` completes at
    /// once when the socket is ready after all), saving that syscall; tokio skips it
    /// the same way. Not on epoll, whose edge-triggered wait needs the drain.
    drained: Cell<bool>,
}

impl Waits {
    /// Polls `syscall` (a nonblocking read-like call on `handle`) until it does not
    /// answer `WouldBlock`, waiting for readability in between.
    pub(crate) fn poll_read<T>(
        &self,
        handle: Fd,
        cx: &mut Context<'_>,
        syscall: impl FnMut() -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        poll_io(&self.read, handle, Interest::Readable, cx, syscall)
    }

    /// As [`poll_read`](Self::poll_read), for a write-like call and writability.
    pub(crate) fn poll_write<T>(
        &self,
        handle: Fd,
        cx: &mut Context<'_>,
        syscall: impl FnMut() -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        poll_io(&self.write, handle, Interest::Writable, cx, syscall)
    }

    /// The last read took fewer bytes than it asked for (see `Dir::drained`).
    pub(crate) fn read_drained(&self) {
        self.read.drained.set(true);
    }

    /// The last write gave fewer bytes than it was given (see `Dir::drained`).
    pub(crate) fn write_drained(&self) {
        self.write.drained.set(true);
    }

    /// Drops both waits (before the descriptor closes).
    pub(crate) fn clear(&self) {
        self.read.wait.borrow_mut().take();
        self.write.wait.borrow_mut().take();
    }
}

impl<S: AsRawFd + Into<OwnedFd>> Socket<S> {
    /// Polls `syscall` (a nonblocking recv-like call on this socket) until it does not
    /// answer `WouldBlock`, waiting for readability in between.
    pub(crate) fn poll_read_with<T>(
        &self,
        cx: &mut Context<'_>,
        syscall: impl FnMut() -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        self.buffered().check_plain_read();
        self.waits().poll_read(self.handle(), cx, syscall)
    }

    /// As [`poll_read_with`](Self::poll_read_with), for a send-like call and writability.
    pub(crate) fn poll_write_with<T>(
        &self,
        cx: &mut Context<'_>,
        syscall: impl FnMut() -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        self.waits().poll_write(self.handle(), cx, syscall)
    }
}

/// Polls `syscall` (a nonblocking call on the descriptor `handle`) until it does not
/// answer `WouldBlock`, waiting for `interest` in between with the wait kept in `dir`.
fn poll_io<T>(
    dir: &Dir,
    handle: Fd,
    interest: Interest,
    cx: &mut Context<'_>,
    mut syscall: impl FnMut() -> io::Result<T>,
) -> Poll<io::Result<T>> {
    loop {
        {
            let mut wait = dir.wait.borrow_mut();
            if let Some(op) = wait.as_mut() {
                match Pin::new(op).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    // Ready (or hung up / failed: the syscall reports which).
                    Poll::Ready(Ok(())) => *wait = None,
                    Poll::Ready(Err(e)) => {
                        *wait = None;
                        return Poll::Ready(Err(e));
                    }
                }
            } else if dir.drained.replace(false) {
                let io = crate::event_loop::context::current_io("polling ringloop I/O");
                if io.backend() == crate::driver::Backend::IoUring {
                    *wait = Some(Op::new(io, Ready::new(handle, interest)));
                    continue;
                }
            }
        }
        match syscall() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let io = crate::event_loop::context::current_io("polling ringloop I/O");
                *dir.wait.borrow_mut() = Some(Op::new(io, Ready::new(handle, interest)));
            }
            other => return Poll::Ready(other),
        }
    }
}

impl<S: AsRawFd + Into<OwnedFd>> Socket<S> {
    /// Polls a read into `buf` (the slice's length is the most it takes).
    #[cfg(feature = "futures-io")]
    pub(crate) fn poll_read_slice(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let (fd, asked) = (self.fd(), buf.len());
        let n =
            std::task::ready!(self.poll_read_with(cx, || crate::sys::net::recv_slice(fd, buf)))?;
        if n < asked {
            self.waits().read_drained();
        }
        Poll::Ready(Ok(n))
    }

    /// Polls a write of `buf`.
    pub(crate) fn poll_write_slice(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let fd = self.fd();
        let n =
            std::task::ready!(self.poll_write_with(cx, || crate::sys::net::send_slice(fd, buf)))?;
        if n < buf.len() {
            self.waits().write_drained();
        }
        Poll::Ready(Ok(n))
    }

    /// Polls a vectored write of `bufs`.
    pub(crate) fn poll_write_slices(
        &self,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if bufs.iter().all(|b| b.is_empty()) {
            return Poll::Ready(Ok(0));
        }
        let fd = self.fd();
        let n = std::task::ready!(
            self.poll_write_with(cx, || crate::sys::net::send_vectored(fd, bufs))
        )?;
        if n < bufs.iter().map(|b| b.len()).sum::<usize>() {
            self.waits().write_drained();
        }
        Poll::Ready(Ok(n))
    }

    /// A half-close: the peer reads end-of-file; reading goes on. Already shut (or
    /// reset): nothing to do.
    pub(crate) fn shutdown_write_now(&self) -> Poll<io::Result<()>> {
        match crate::sys::net::shutdown(self.fd(), libc::SHUT_WR) {
            r if r >= 0 || r == -libc::ENOTCONN => Poll::Ready(Ok(())),
            r => Poll::Ready(crate::sys::result(r).map(drop)),
        }
    }
}
