//! recv(2): read from a connected socket into an owned buffer.

use std::io;

use crate::driver::buf::IoBufMut;
use crate::driver::fd::Fd;
use crate::driver::op::{OpCode, Operation, result};
use crate::driver::slab::Completion;

/// A read from a connected socket, recv(2): what the streams' `read` and
/// [`UdpSocket::recv`](crate::net::UdpSocket::recv) return, as an
/// [`Op<'_, Recv<B>>`](crate::net::Op). Its output is `(io::Result<usize>, B)`: the count
/// read (0 at end-of-file) and the buffer.
///
/// ```
/// use ringloop::net::{Op, UnixStream, ops::Recv};
///
/// /// Starts reading a request; the caller awaits it (or cancels it) later.
/// fn start_request(conn: &UnixStream) -> Op<'_, Recv<Vec<u8>>> {
///     conn.read(Vec::with_capacity(1024))
/// }
///
/// ringloop::run(async {
///     let (client, server) = UnixStream::pair()?;
///     let request = start_request(&server);
///     client.write_all(b"GET /").await.0?;
///     let (n, buf) = request.await;
///     assert_eq!(&buf[..n?], b"GET /");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Recv<B> {
    fd: Fd,
    buf: B,
}

impl<B: IoBufMut> Recv<B> {
    pub(crate) fn new(fd: Fd, buf: B) -> Recv<B> {
        Recv { fd, buf }
    }
}

// SAFETY: the buffer's memory is stable across moves (`IoBufMut`'s contract) and owned by
// `self.buf`.
unsafe impl<B: IoBufMut + Unpin> Operation for Recv<B> {
    type Output = (io::Result<usize>, B);

    fn code(&mut self) -> OpCode {
        OpCode::Recv {
            fd: self.fd,
            buf: self.buf.stable_mut_ptr(),
            len: clamp_len(self.buf.bytes_total()),
        }
    }

    /// A read into a buffer with no room could only report `Ok(0)`, which reads as end
    /// of file: it is refused instead.
    fn refuse(&self) -> Option<io::Error> {
        (self.buf.bytes_total() == 0).then(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "read into a buffer with no capacity: `Ok(0)` would look like end of file; \
                 give the buffer room, e.g. `Vec::with_capacity(4096)` (a read fills up to \
                 the capacity, not the length)",
            )
        })
    }

    fn try_now(&mut self) -> Option<Completion> {
        let (buf, len) = (self.buf.stable_mut_ptr(), clamp_len(self.buf.bytes_total()));
        // SAFETY: `IoBufMut`'s contract: `buf` is valid for writes of `bytes_total()`
        // bytes, of which `len` is at most; the call returns before we touch it again.
        let result = unsafe { crate::sys::net::recv(self.fd.raw, buf, len) };
        (result != -libc::EAGAIN).then_some(Completion { result, flags: 0 })
    }

    fn complete(mut self, completion: Completion) -> Self::Output {
        let n = match checked_len(completion, self.buf.bytes_total()) {
            Ok(n) => n,
            Err(e) => return (Err(e), self.buf),
        };
        // SAFETY: the kernel wrote `n` bytes, no more than the buffer holds (checked).
        unsafe { self.buf.set_init(n) };
        (Ok(n), self.buf)
    }

    fn fail(self, error: io::Error) -> Self::Output {
        (Err(error), self.buf)
    }
}

/// The kernel takes a 32-bit length; larger buffers are used up to that.
pub(crate) fn clamp_len(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// A byte count from the kernel, refused if it exceeds what the buffer holds.
pub(crate) fn checked_len(completion: Completion, capacity: usize) -> io::Result<usize> {
    let n = result(completion)? as usize;
    if n > capacity {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the kernel reported {n} bytes for a buffer of {capacity}"),
        ));
    }
    Ok(n)
}

impl<B> std::fmt::Debug for Recv<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recv")
            .field("fd", &self.fd)
            .finish_non_exhaustive()
    }
}
