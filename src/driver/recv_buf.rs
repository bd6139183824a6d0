//! [`RecvBuf`]: bytes received into a buffer of the loop's, lent to user code by
//! `read_buffered` (see `net/recv_buf.rs`) — a provided buffer of the ring, or a spare
//! buffer of the driver handle's — and given back when dropped. Here, in the driver,
//! because it is also an [`IoBuf`] (writes send from it), an unsafe trait.

use std::fmt;
use std::ops::Deref;
use std::rc::Rc;

use super::buf::IoBuf;
use super::bufring::{BufRing, Lent};
use super::handle::DriverHandle;

/// Received bytes in a buffer of the loop's, from
/// [`TcpStream::read_buffered`](crate::net::TcpStream::read_buffered) (and
/// [`UnixStream`](crate::net::UnixStream)'s, and [`ReadHalf`](crate::net::ReadHalf)'s).
///
/// It derefs to the bytes received; an empty one is end-of-file. Dropping it gives the
/// buffer back to the loop (on io_uring, to the provided-buffer ring the kernel receives
/// into), so hold it only as long as you need the bytes: while every buffer of the ring
/// is held, reads go on, but without the ring. It is `!Send` (it belongs to its loop's
/// thread), and safe to drop at any time, even after the loop closed.
///
/// It is an [`IoBuf`]: writing it sends the bytes straight from the loop's buffer, which
/// comes back with the write's result (an echo copies nothing).
///
/// No asyncio counterpart: asyncio's `StreamReader.read(n)` returns new `bytes`; this
/// hands out the kernel's own buffer instead, with no copy.
///
/// ```
/// use ringloop::net::UnixStream;
///
/// ringloop::run(async {
///     let (a, b) = UnixStream::pair()?;
///     a.write_all(b"hello").await.0?;
///     let buf = b.read_buffered().await?;
///     assert_eq!(&buf[..], b"hello");
///     assert_eq!(buf.len(), 5);
///     let (res, buf) = b.write_all(buf).await; // sent from the loop's buffer
///     res?;
///     drop(buf); // back to the loop
///     let (n, echo) = a.read(Vec::with_capacity(16)).await;
///     assert_eq!(&echo[..n?], b"hello");
///     drop(a);
///     assert!(b.read_buffered().await?.is_empty()); // end-of-file
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct RecvBuf {
    pub(crate) data: Data,
}

/// Where a [`RecvBuf`]'s bytes are.
pub(crate) enum Data {
    /// A provided buffer, lent by the ring until dropped.
    Ring(Lent<Rc<BufRing>>),
    /// A spare buffer of the loop's with `len` bytes read into it; back to the loop's
    /// spares when dropped.
    Spare {
        buf: Vec<u8>,
        len: usize,
        io: Rc<DriverHandle>,
    },
    /// End-of-file from the ring path (no buffer).
    Eof,
}

impl Deref for RecvBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.data {
            Data::Ring(lent) => lent,
            Data::Spare { buf, len, .. } => &buf[..*len],
            Data::Eof => &[],
        }
    }
}

impl AsRef<[u8]> for RecvBuf {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl Drop for RecvBuf {
    fn drop(&mut self) {
        if let Data::Spare { buf, io, .. } = &mut self.data {
            io.put_spare(std::mem::take(buf));
        }
    }
}

impl fmt::Debug for RecvBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let from = match self.data {
            Data::Ring(_) => "ring",
            Data::Spare { .. } => "spare",
            Data::Eof => "eof",
        };
        f.debug_struct("RecvBuf")
            .field("len", &self.len())
            .field("from", &from)
            .finish()
    }
}

// SAFETY: every variant's bytes live outside the `RecvBuf` value, so they stay at one
// address when it moves: a lent ring buffer is the ring's memory, kept alive by the
// guard's `Rc` and out of the kernel's reach until the guard drops; a spare's bytes are
// its `Vec`'s heap memory, never resized while held; end-of-file has none. All
// `bytes_total() == bytes_init()` bytes are initialized (received, or zeroed at
// allocation). `RecvBuf` is `Unpin` and owns everything it refers to (`'static`).
unsafe impl IoBuf for RecvBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.deref().as_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.len()
    }

    fn bytes_total(&self) -> usize {
        self.len()
    }
}
