//! send(2): write an owned buffer to a connected socket, never raising SIGPIPE.

use std::io;

use crate::driver::buf::IoBuf;
use crate::driver::fd::Fd;
use crate::driver::op::{OpCode, Operation};
use crate::driver::ops::recv::{checked_len, clamp_len};
use crate::driver::slab::Completion;

/// A write to a connected socket, send(2): what the streams' `write` and
/// [`UdpSocket::send`](crate::net::UdpSocket::send) return, as an
/// [`Op<'_, SendOp<B>>`](crate::net::Op). Its output is `(io::Result<usize>, B)`: the
/// count sent (maybe fewer than the buffer held) and the buffer. (Named apart from the
/// `Send` marker trait.)
///
/// ```
/// use ringloop::net::{Op, UnixStream, ops::SendOp};
///
/// fn greet(conn: &UnixStream) -> Op<'_, SendOp<&'static str>> {
///     conn.write("hello\n")
/// }
///
/// ringloop::run(async {
///     let (a, b) = UnixStream::pair()?;
///     let (sent, msg) = greet(&a).await;
///     assert_eq!(sent?, msg.len()); // a small write to an idle socket goes whole
///     let (n, buf) = b.read(Vec::with_capacity(16)).await;
///     assert_eq!(&buf[..n?], b"hello\n");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct SendOp<B> {
    fd: Fd,
    buf: B,
    /// Sent zero-copy (see [`DriverHandle::send_zc`]).
    ///
    /// [`DriverHandle::send_zc`]: crate::driver::handle::DriverHandle::send_zc
    zc: bool,
}

impl<B: IoBuf> SendOp<B> {
    pub(crate) fn new(fd: Fd, buf: B) -> SendOp<B> {
        SendOp { fd, buf, zc: false }
    }

    /// A send that goes zero-copy when `zc` (a stream's large write, where the driver
    /// takes them).
    pub(crate) fn with_zc(fd: Fd, buf: B, zc: bool) -> SendOp<B> {
        SendOp { fd, buf, zc }
    }
}

// SAFETY: the buffer's memory is stable across moves (`IoBuf`'s contract) and owned by
// `self.buf`.
unsafe impl<B: IoBuf + Unpin> Operation for SendOp<B> {
    type Output = (io::Result<usize>, B);

    fn code(&mut self) -> OpCode {
        OpCode::Send {
            fd: self.fd,
            buf: self.buf.stable_ptr(),
            len: clamp_len(self.buf.bytes_init()),
            zc: self.zc,
        }
    }

    fn try_now(&mut self) -> Option<Completion> {
        if self.zc {
            // A send(2) here would copy what the zero-copy send is for not copying.
            return None;
        }
        let (buf, len) = (self.buf.stable_ptr(), clamp_len(self.buf.bytes_init()));
        // SAFETY: `IoBuf`'s contract: `buf` is valid for reads of `bytes_init()` bytes,
        // of which `len` is at most; the call returns before the buffer can move on.
        let result = unsafe { crate::sys::net::send(self.fd.raw, buf, len) };
        (result != -libc::EAGAIN).then_some(Completion { result, flags: 0 })
    }

    fn complete(self, completion: Completion) -> Self::Output {
        (checked_len(completion, self.buf.bytes_init()), self.buf)
    }

    fn fail(self, error: io::Error) -> Self::Output {
        (Err(error), self.buf)
    }
}

impl<B> std::fmt::Debug for SendOp<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendOp")
            .field("fd", &self.fd)
            .finish_non_exhaustive()
    }
}
