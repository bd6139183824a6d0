//! [`StreamReader`]: asyncio's `StreamReader` over a socket, with one reusable buffer.
//!
//! # Ground rules
//!
//! - The bytes received and not yet returned are `buf[start..]`. Every method takes bytes
//!   out of the buffer only when it returns them (or, at end-of-file, hands them over in
//!   an [`IncompleteReadError`]); a method that fails or is dropped leaves them where they
//!   are.
//! - The read in flight lives in the reader (`pending`), not in the method's future,
//!   together with the buffer it reads into (at `buf[len..]`, so the bytes before stay
//!   where they are). A method dropped while it waits (a `timeout` fired, its task was
//!   cancelled) leaves the read there; the next call first [reclaims](StreamReader::reclaim)
//!   it: it asks the kernel to cancel the read and awaits its real outcome, keeping
//!   whatever the kernel had already delivered. Nothing the kernel read is lost.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::rc::Rc;

use super::conn::Conn;
use super::error::{IncompleteReadError, LimitOverrunError};
use crate::driver::buf::{IoBuf, Slice};
use crate::driver::op::Op;
use crate::driver::ops::recv::Recv;

/// asyncio's default limit of a reader (`asyncio.streams._DEFAULT_LIMIT`): 64 KiB.
pub(super) const DEFAULT_LIMIT: usize = 64 * 1024;

/// The buffer's first allocation, and the least it grows by.
const CHUNK: usize = 16 * 1024;

/// A read is not issued into less room than this: the buffer is compacted or grown.
const MIN_ROOM: usize = 4 * 1024;

/// What a search of the buffer for a separator concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Scan {
    /// The separator ends at this offset: the chunk to return is `..end`.
    Found { end: usize },
    /// The separator starts at `at`, past the limit.
    FoundPastLimit { at: usize },
    /// No separator, and the searched part is past the limit.
    Overrun { searched: usize },
    /// No separator yet: search again from `from` once more bytes came.
    More { from: usize },
}

/// Searches `data` for `sep` from offset `from`, as asyncio's `readuntil` does: a
/// separator is found only if it starts within `limit`, and searching more than `limit`
/// bytes without finding it is an overrun.
pub(super) fn scan(data: &[u8], sep: &[u8], from: usize, limit: usize) -> Scan {
    debug_assert!(!sep.is_empty());
    if data.len().saturating_sub(from) >= sep.len() {
        if let Some(i) = data[from..].windows(sep.len()).position(|w| w == sep) {
            let at = from + i;
            if at > limit {
                return Scan::FoundPastLimit { at };
            }
            return Scan::Found {
                end: at + sep.len(),
            };
        }
        // A separator may start in the last `sep.len() - 1` bytes: search those again.
        let from = data.len() + 1 - sep.len();
        if from > limit {
            return Scan::Overrun { searched: from };
        }
        return Scan::More { from };
    }
    Scan::More { from }
}

/// Makes room for a read at the end of `buf`, whose unread bytes are `buf[*start..]`:
/// drops what was consumed when the room runs short, and grows the buffer when that is
/// not enough.
pub(super) fn make_room(buf: &mut Vec<u8>, start: &mut usize) {
    if *start == buf.len() {
        buf.clear();
        *start = 0;
    }
    if buf.capacity() - buf.len() >= MIN_ROOM {
        return;
    }
    if *start > 0 {
        buf.drain(..*start);
        *start = 0;
    }
    if buf.capacity() - buf.len() < MIN_ROOM {
        buf.reserve(buf.capacity().max(CHUNK));
    }
}

/// The reading end of a connection, asyncio's `StreamReader`: reads lines, chunks up to
/// a separator, exact counts, or whatever arrived, from one buffer it reuses.
///
/// Its methods take `&mut self`: one call at a time. A call that fails or is dropped
/// (a [`timeout`](crate::timeout) around it fired) loses no byte: what had arrived stays
/// in the reader for the next call. See the [streams module](crate::net#streams).
///
/// ```
/// use ringloop::net::UnixStream;
///
/// ringloop::run(async {
///     let (a, b) = UnixStream::pair()?;
///     let (mut reader, _writer) = ringloop::net::into_streams(b);
///     a.write_all(b"HELO x\r\nSIZE 3\r\nabc").await.0?;
///     assert_eq!(reader.readuntil(b"\r\n").await?, b"HELO x\r\n");
///     assert_eq!(reader.readline().await?, b"SIZE 3\r\n");
///     assert_eq!(reader.readexactly(3).await?, b"abc");
///     drop(a);
///     assert_eq!(reader.read(100).await?, b""); // end-of-file
///     assert!(reader.at_eof());
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct StreamReader {
    /// A read left in flight by a call that was dropped; it holds the buffer meanwhile.
    /// Declared first: dropped (and so cancelled) before the connection may close.
    pending: Option<Op<'static, Recv<Slice<Vec<u8>>>>>,
    /// The unread bytes are `buf[start..]`; empty while `pending` holds it.
    buf: Vec<u8>,
    start: usize,
    /// A read returned end-of-file, or `at_eof` saw it waiting.
    eof: Cell<bool>,
    limit: usize,
    conn: Rc<Conn>,
}

impl StreamReader {
    pub(super) fn new(conn: Rc<Conn>) -> StreamReader {
        StreamReader {
            pending: None,
            buf: Vec::new(),
            start: 0,
            eof: Cell::new(false),
            limit: DEFAULT_LIMIT,
            conn,
        }
    }

    /// The unread bytes.
    fn buffered(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Takes the first `n` unread bytes out.
    fn consume(&mut self, n: usize) -> Vec<u8> {
        let out = self.buf[self.start..self.start + n].to_vec();
        self.start += n;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        out
    }

    /// Takes every unread byte out.
    fn consume_all(&mut self) -> Vec<u8> {
        self.consume(self.buf.len() - self.start)
    }

    /// Reads once more into the buffer: the count, 0 at end-of-file (then `eof` is set).
    /// Dropped while it waits, it leaves the read in `pending`.
    async fn fill(&mut self) -> io::Result<usize> {
        if self.pending.is_none() {
            let mut buf = std::mem::take(&mut self.buf);
            make_room(&mut buf, &mut self.start);
            let len = buf.len();
            let io = crate::event_loop::context::current_io("StreamReader");
            let recv = Recv::new(self.conn.sock.handle(), buf.slice(len..));
            self.pending = Some(Op::new(io, recv));
        }
        let op = self.pending.as_mut().expect("a read in flight");
        let (res, slice) = op.await;
        self.pending = None;
        self.buf = slice.into_inner();
        let n = res?;
        if n == 0 {
            self.eof.set(true);
        }
        Ok(n)
    }

    /// Takes back the read a dropped call left in flight: cancels it and awaits what it
    /// really did, keeping the bytes it read (see the module's ground rules).
    async fn reclaim(&mut self) -> io::Result<()> {
        let Some(op) = self.pending.as_mut() else {
            return Ok(());
        };
        op.cancel();
        let (res, slice) = op.await;
        self.pending = None;
        self.buf = slice.into_inner();
        match res {
            Ok(0) => self.eof.set(true),
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ECANCELED) => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Up to `n` bytes: what is buffered, else what the next read brings (asyncio's
    /// `read(n)`). Empty at end-of-file, and for `n == 0`. To read everything until
    /// end-of-file (asyncio's `read(-1)`), use [`read_to_end`](Self::read_to_end).
    ///
    /// ```
    /// # use ringloop::net::UnixStream;
    /// ringloop::run(async {
    ///     let (a, b) = UnixStream::pair()?;
    ///     let (mut reader, _w) = ringloop::net::into_streams(b);
    ///     a.write_all(b"abcdef").await.0?;
    ///     assert_eq!(reader.read(4).await?, b"abcd");
    ///     assert_eq!(reader.read(4).await?, b"ef"); // what is left, not waiting for more
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn read(&mut self, n: usize) -> io::Result<Vec<u8>> {
        self.reclaim().await?;
        if n == 0 {
            return Ok(Vec::new());
        }
        if self.buffered().is_empty() && !self.eof.get() {
            self.fill().await?;
        }
        let n = n.min(self.buffered().len());
        Ok(self.consume(n))
    }

    /// Everything until end-of-file (asyncio's `read(-1)`). On an error the bytes read so
    /// far stay in the reader.
    ///
    /// ```
    /// # use ringloop::net::UnixStream;
    /// ringloop::run(async {
    ///     let (a, b) = UnixStream::pair()?;
    ///     let (mut reader, _w) = ringloop::net::into_streams(b);
    ///     a.write_all(b"all of ").await.0?;
    ///     a.write_all(b"it").await.0?;
    ///     drop(a);
    ///     assert_eq!(reader.read_to_end().await?, b"all of it");
    ///     assert!(reader.at_eof());
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn read_to_end(&mut self) -> io::Result<Vec<u8>> {
        self.reclaim().await?;
        while !self.eof.get() {
            self.fill().await?;
        }
        Ok(self.consume_all())
    }

    /// Exactly `n` bytes (asyncio's `readexactly`). If the peer closes first, fails with
    /// `UnexpectedEof` carrying an [`IncompleteReadError`] that holds the bytes that did
    /// arrive (the reader is then at end-of-file).
    ///
    /// ```
    /// # use ringloop::net::UnixStream;
    /// ringloop::run(async {
    ///     let (a, b) = UnixStream::pair()?;
    ///     let (mut reader, _w) = ringloop::net::into_streams(b);
    ///     a.write_all(&[0, 5]).await.0?; // a length prefix...
    ///     a.write_all(b"hello").await.0?; // ...and the payload
    ///     let len = reader.readexactly(2).await?;
    ///     let len = u16::from_be_bytes([len[0], len[1]]) as usize;
    ///     assert_eq!(reader.readexactly(len).await?, b"hello");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn readexactly(&mut self, n: usize) -> io::Result<Vec<u8>> {
        self.reclaim().await?;
        while self.buffered().len() < n {
            if self.eof.get() {
                let partial = self.consume_all();
                return Err(IncompleteReadError::new(partial, Some(n)).into_io());
            }
            self.fill().await?;
        }
        Ok(self.consume(n))
    }

    /// The bytes up to and including the first `separator` (asyncio's `readuntil`).
    ///
    /// Fails with `UnexpectedEof` carrying an [`IncompleteReadError`] (the bytes that
    /// arrived, taken out of the reader) if the peer closes before a separator; with
    /// `InvalidData` carrying a [`LimitOverrunError`] if no separator starts within the
    /// reader's [limit](Self::limit), the bytes staying in the reader; with
    /// `InvalidInput` for an empty separator. Dropped while it waits, it leaves what
    /// arrived in the reader.
    ///
    /// ```
    /// # use ringloop::net::UnixStream;
    /// ringloop::run(async {
    ///     let (a, b) = UnixStream::pair()?;
    ///     let (mut reader, _w) = ringloop::net::into_streams(b);
    ///     a.write_all(b"Host: x\r\n\r\nbody").await.0?;
    ///     assert_eq!(reader.readuntil(b"\r\n\r\n").await?, b"Host: x\r\n\r\n");
    ///     assert_eq!(reader.read(100).await?, b"body");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn readuntil(&mut self, separator: &[u8]) -> io::Result<Vec<u8>> {
        if separator.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "readuntil: the separator is empty; give at least one byte",
            ));
        }
        self.reclaim().await?;
        let mut from = 0;
        loop {
            match scan(self.buffered(), separator, from, self.limit) {
                Scan::Found { end } => return Ok(self.consume(end)),
                Scan::FoundPastLimit { at } => {
                    return Err(LimitOverrunError::new(at, true).into_io());
                }
                Scan::Overrun { searched } => {
                    return Err(LimitOverrunError::new(searched, false).into_io());
                }
                Scan::More { from: next } => from = next,
            }
            if self.eof.get() {
                let partial = self.consume_all();
                return Err(IncompleteReadError::new(partial, None).into_io());
            }
            self.fill().await?;
        }
    }

    /// One line, up to and including `\n` (asyncio's `readline`). At end-of-file it
    /// returns what is left (without `\n`), then empty lines.
    ///
    /// A line longer than the [limit](Self::limit) fails with `InvalidData` carrying a
    /// [`LimitOverrunError`], and, as in asyncio, is dropped: up to and including its
    /// `\n` when that had arrived, else every byte buffered (the next call reads the
    /// line's rest). Use [`readuntil`](Self::readuntil) to keep the bytes instead.
    ///
    /// ```
    /// # use ringloop::net::UnixStream;
    /// ringloop::run(async {
    ///     let (a, b) = UnixStream::pair()?;
    ///     let (mut reader, _w) = ringloop::net::into_streams(b);
    ///     a.write_all(b"first\nsecond").await.0?;
    ///     drop(a);
    ///     assert_eq!(reader.readline().await?, b"first\n");
    ///     assert_eq!(reader.readline().await?, b"second"); // the last, unterminated
    ///     assert_eq!(reader.readline().await?, b""); // end-of-file
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn readline(&mut self) -> io::Result<Vec<u8>> {
        let error = match self.readuntil(b"\n").await {
            Ok(line) => return Ok(line),
            Err(e) => e,
        };
        let error = match IncompleteReadError::from_io(error) {
            Ok(incomplete) => return Ok(incomplete.into_partial()),
            Err(e) => e,
        };
        let overrun = error
            .get_ref()
            .and_then(|e| e.downcast_ref::<LimitOverrunError>());
        if let Some(overrun) = overrun {
            if overrun.separator_found() {
                self.consume(overrun.consumed() + 1);
            } else {
                self.consume_all();
            }
        }
        Err(error)
    }

    /// Whether the peer closed and every byte was read (asyncio's `at_eof`): `true` once
    /// the buffer is empty and the end-of-file was read, or is the next thing the socket
    /// holds (checked without reading, so `while !reader.at_eof()` loops end on time).
    ///
    /// ```
    /// # use ringloop::net::UnixStream;
    /// ringloop::run(async {
    ///     let (a, b) = UnixStream::pair()?;
    ///     let (mut reader, _w) = ringloop::net::into_streams(b);
    ///     a.write_all(b"x").await.0?;
    ///     assert!(!reader.at_eof());
    ///     a.shutdown(std::net::Shutdown::Write).await?; // the peer is done sending
    ///     assert!(!reader.at_eof()); // "x" is still to be read
    ///     assert_eq!(reader.read(10).await?, b"x");
    ///     assert!(reader.at_eof());
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn at_eof(&self) -> bool {
        if self.pending.is_some() || !self.buffered().is_empty() {
            return false;
        }
        if !self.eof.get() && crate::sys::net::peer_closed(self.conn.sock.raw_fd()) {
            // The end-of-file is there, unread: no read will bring anything more.
            self.eof.set(true);
        }
        self.eof.get()
    }

    /// The most a [`readuntil`](Self::readuntil) or [`readline`](Self::readline) searches
    /// for its separator; asyncio's default is 64 KiB.
    ///
    /// ```
    /// # use ringloop::net::UnixStream;
    /// # let (a, _b) = UnixStream::pair()?;
    /// # ringloop::run(async move {
    /// let (reader, _w) = ringloop::net::into_streams(a);
    /// assert_eq!(reader.limit(), 64 * 1024);
    /// # });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Sets the [limit](Self::limit) (asyncio's `limit=` argument). Bytes past it that
    /// are already buffered stay there.
    ///
    /// ```
    /// # use ringloop::net::UnixStream;
    /// ringloop::run(async {
    ///     let (a, b) = UnixStream::pair()?;
    ///     let (mut reader, _w) = ringloop::net::into_streams(b);
    ///     reader.set_limit(1 << 20); // lines of up to 1 MiB
    ///     a.write_all(&[b'x'; 100_000]).await.0?;
    ///     a.write_all(b"\n").await.0?;
    ///     assert_eq!(reader.readline().await?.len(), 100_001);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Panics
    ///
    /// When `limit` is 0.
    pub fn set_limit(&mut self, limit: usize) {
        assert!(
            limit > 0,
            "StreamReader::set_limit(0): the limit must be at least 1 byte"
        );
        self.limit = limit;
    }
}

impl fmt::Debug for StreamReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamReader")
            .field("fd", &self.conn.sock.raw_fd())
            .field("buffered", &self.buffered().len())
            .field("read_in_flight", &self.pending.is_some())
            .field("eof", &self.eof.get())
            .field("limit", &self.limit)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_finds_the_separator_within_the_limit() {
        assert_eq!(scan(b"ab\ncd", b"\n", 0, 10), Scan::Found { end: 3 });
        // asyncio's strictness: a separator starting exactly at the limit is accepted.
        assert_eq!(scan(b"1234567\n", b"\n", 0, 7), Scan::Found { end: 8 });
        assert_eq!(
            scan(b"12345678\n", b"\n", 0, 7),
            Scan::FoundPastLimit { at: 8 }
        );
    }

    #[test]
    fn scan_resumes_where_a_split_separator_may_start() {
        // "\r\n\r" may be the start of "\r\n\r\n": search again from offset 4.
        assert_eq!(
            scan(b"abcd\r\n\r", b"\r\n\r\n", 0, 100),
            Scan::More { from: 4 }
        );
        assert_eq!(
            scan(b"abcd\r\n\r\n", b"\r\n\r\n", 4, 100),
            Scan::Found { end: 8 }
        );
        // Fewer bytes than the separator: nothing searched yet.
        assert_eq!(scan(b"ab", b"abc", 0, 100), Scan::More { from: 0 });
    }

    #[test]
    fn scan_reports_an_overrun_past_the_limit() {
        assert_eq!(scan(b"abcd", b"\r\n", 0, 2), Scan::Overrun { searched: 3 });
        assert_eq!(scan(b"abc", b"\r\n", 0, 2), Scan::More { from: 2 });
    }

    #[test]
    fn make_room_compacts_then_grows() {
        let mut buf = Vec::new();
        let mut start = 0;
        make_room(&mut buf, &mut start);
        assert!(buf.capacity() >= CHUNK);
        // Consumed bytes are dropped when room runs short; unread ones kept in order.
        let cap = buf.capacity();
        buf.resize(cap - 10, b'a');
        buf.extend_from_slice(b"0123456789");
        start = cap - 10;
        make_room(&mut buf, &mut start);
        assert_eq!((start, &buf[..]), (0, &b"0123456789"[..]));
        assert!(buf.capacity() - buf.len() >= MIN_ROOM);
        // Full of unread bytes: it grows.
        let cap = buf.capacity();
        buf.resize(cap, b'b');
        make_room(&mut buf, &mut start);
        assert!(buf.capacity() >= 2 * cap && buf.len() == cap);
        // Everything read: it starts over.
        start = buf.len();
        make_room(&mut buf, &mut start);
        assert_eq!((start, buf.len()), (0, 0));
    }
}
