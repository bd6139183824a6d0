//! [`StreamWriter`]: asyncio's `StreamWriter`, writes buffered synchronously and sent in
//! the background, [`drain`](StreamWriter::drain) for back-pressure.
//!
//! # How bytes leave
//!
//! [`write`](StreamWriter::write) with nothing queued tries a nonblocking `send(2)` on the
//! spot (when the loop tries I/O first, its default); what the socket does not take is
//! appended to the writer's buffer, and a *flusher* — one task per connection, started
//! the first time anything has to wait — sends it with the loop's owned-buffer writes.
//! The flusher double-buffers: while one buffer is in the kernel's hands, writes go to
//! the other, and the two swap when the send completes. Once the writer is closed (or
//! dropped, or [`write_eof`](StreamWriter::write_eof) was called), the flusher sends what
//! is left, shuts the socket down, and ends.
//!
//! # Ground rules
//!
//! - Every change of [`Outgoing`] happens under one short `borrow_mut`; wakers are
//!   collected under it and woken after it is released.
//! - While bytes are buffered or a send is in flight, a flusher exists (`flusher` is
//!   `true`) and will send them, unless the connection failed.
//! - `finished` is set once: the socket was shut down as asked, or the connection failed
//!   or was aborted; nothing is sent after it.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::os::unix::net::SocketAddr as UnixSocketAddr;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::conn::Conn;
use crate::sys::net::send_slice;

/// asyncio's default high-water mark; the low one is a quarter of it.
pub(super) const DEFAULT_HIGH: usize = 64 * 1024;

/// How the writer ends, once flushed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// Not asked yet.
    Open,
    /// `write_eof` or the writer dropped: shut the writing side down.
    Eof,
    /// `close`: shut both sides down.
    Close,
}

/// A writer's outgoing state, shared with its flusher.
pub(super) struct Outgoing {
    /// Bytes written and not yet handed to the kernel.
    pending: Vec<u8>,
    /// The other buffer, kept for its memory while no send is in flight.
    spare: Vec<u8>,
    /// Bytes of the send in flight.
    in_flight: usize,
    high: usize,
    low: usize,
    /// Above the high-water mark: `drain` waits until the buffer is down to the low one.
    paused: bool,
    end: End,
    /// See the module's ground rules.
    finished: bool,
    /// Why the connection failed, if a send did.
    error: Option<io::Error>,
    /// Aborted (by its server): `drain` reports the connection lost.
    aborted: bool,
    /// Whether a flusher task exists.
    flusher: bool,
    /// The flusher, waiting for work.
    flusher_waker: Option<Waker>,
    drain_waiters: Vec<Waker>,
    closed_waiters: Vec<Waker>,
    /// Try a nonblocking send before queueing.
    try_send: bool,
}

/// What the flusher does next.
enum Job {
    Send(Vec<u8>),
    Shutdown(libc::c_int),
    Exit,
}

impl Outgoing {
    pub(super) fn new(try_send: bool) -> Outgoing {
        Outgoing {
            pending: Vec::new(),
            spare: Vec::new(),
            in_flight: 0,
            high: DEFAULT_HIGH,
            low: DEFAULT_HIGH / 4,
            paused: false,
            end: End::Open,
            finished: false,
            error: None,
            aborted: false,
            flusher: false,
            flusher_waker: None,
            drain_waiters: Vec::new(),
            closed_waiters: Vec::new(),
            try_send,
        }
    }

    fn buffered(&self) -> usize {
        self.pending.len() + self.in_flight
    }

    fn idle(&self) -> bool {
        self.buffered() == 0
    }

    /// Ends the connection with `error` (a send failed): nothing more is sent, and every
    /// waiter is to be woken.
    fn fail(&mut self, error: io::Error, wake: &mut Vec<Waker>) {
        self.error.get_or_insert(error);
        self.finish(wake);
    }

    /// Sets `finished`, drops what was not sent, and collects every waiter.
    fn finish(&mut self, wake: &mut Vec<Waker>) {
        self.finished = true;
        self.paused = false;
        self.pending = Vec::new();
        self.spare = Vec::new();
        wake.append(&mut self.drain_waiters);
        wake.append(&mut self.closed_waiters);
        wake.extend(self.flusher_waker.take());
    }

    /// The flusher's next job, or `Pending` (its waker kept) while there is none.
    fn next_job(&mut self, cx: &Context<'_>) -> Poll<Job> {
        if self.finished {
            return Poll::Ready(Job::Exit);
        }
        if !self.pending.is_empty() {
            let next = std::mem::take(&mut self.spare);
            let buf = std::mem::replace(&mut self.pending, next);
            self.in_flight = buf.len();
            return Poll::Ready(Job::Send(buf));
        }
        match self.end {
            End::Open => {
                self.flusher_waker = Some(cx.waker().clone());
                Poll::Pending
            }
            End::Eof => Poll::Ready(Job::Shutdown(libc::SHUT_WR)),
            End::Close => Poll::Ready(Job::Shutdown(libc::SHUT_RDWR)),
        }
    }

    /// The send in flight completed and gave its buffer back.
    fn sent(&mut self, mut buf: Vec<u8>, wake: &mut Vec<Waker>) {
        self.in_flight = 0;
        buf.clear();
        if self.spare.capacity() < buf.capacity() && !self.finished {
            self.spare = buf;
        }
        if self.paused && self.buffered() <= self.low {
            self.paused = false;
            wake.append(&mut self.drain_waiters);
        }
    }

    /// Asks for `end` once flushed. The shutdown to make at once, when nothing waits to
    /// be sent and no flusher will do it.
    fn ask_end(&mut self, end: End) -> Option<libc::c_int> {
        if self.finished || self.end == End::Close || self.end == end {
            return None;
        }
        self.end = end;
        if self.flusher {
            return None;
        }
        debug_assert!(self.idle(), "bytes buffered with no flusher");
        Some(if end == End::Close {
            libc::SHUT_RDWR
        } else {
            libc::SHUT_WR
        })
    }
}

/// Wakes what was collected, after the borrow that collected it ended.
fn wake_all(wake: Vec<Waker>) {
    for waker in wake {
        waker.wake();
    }
}

/// A copy of `error` (an `io::Error` is not `Clone`): the same OS error, or the same kind
/// and message.
fn copy_error(error: &io::Error) -> io::Error {
    match error.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(error.kind(), error.to_string()),
    }
}

/// Shuts `conn`'s socket down (`how`) and marks the writer finished.
fn shut_down(conn: &Conn, how: libc::c_int) {
    // An error here (the peer is gone already) leaves nothing to do.
    let _ = crate::sys::net::shutdown(conn.sock.raw_fd(), how);
    let mut wake = Vec::new();
    conn.out.borrow_mut().finish(&mut wake);
    wake_all(wake);
}

/// The flusher: sends what the writer buffered, then carries out its end.
async fn flush(conn: Rc<Conn>) {
    loop {
        match poll_fn(|cx| conn.out.borrow_mut().next_job(cx)).await {
            Job::Send(buf) => {
                let (res, buf) = conn.sock.write_all(buf).await;
                let mut wake = Vec::new();
                {
                    let mut out = conn.out.borrow_mut();
                    match res {
                        Ok(()) => out.sent(buf, &mut wake),
                        Err(e) => {
                            out.in_flight = 0;
                            out.fail(e, &mut wake);
                        }
                    }
                }
                wake_all(wake);
            }
            Job::Shutdown(libc::SHUT_WR) => {
                // The writing side only: the writer may still be closed later.
                let _ = crate::sys::net::shutdown(conn.sock.raw_fd(), libc::SHUT_WR);
                break;
            }
            Job::Shutdown(how) => {
                shut_down(&conn, how);
                break;
            }
            Job::Exit => break,
        }
    }
    let mut out = conn.out.borrow_mut();
    out.flusher = false;
    out.flusher_waker = None;
}

/// Aborts `conn` (its server's `abort_clients`): what was not sent is dropped, both
/// directions are shut down (the reader sees end-of-file, the peer the connection end),
/// and `drain` reports the connection lost.
pub(super) fn abort(conn: &Conn) {
    {
        let mut out = conn.out.borrow_mut();
        if out.finished {
            return;
        }
        out.aborted = true;
        out.end = End::Close;
    }
    shut_down(conn, libc::SHUT_RDWR);
}

/// Closes `conn`'s writer once flushed (its server's `close_clients`, or
/// [`StreamWriter::close`]).
pub(super) fn close(conn: &Conn) {
    let now = conn.out.borrow_mut().ask_end(End::Close);
    if let Some(how) = now {
        shut_down(conn, how);
    } else {
        wake_flusher(conn);
    }
}

fn wake_flusher(conn: &Conn) {
    let waker = conn.out.borrow_mut().flusher_waker.take();
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// The writing end of a connection, asyncio's `StreamWriter`: [`write`](Self::write)
/// buffers at once and never waits; [`drain`](Self::drain) waits while the buffer is
/// above its high-water mark, which is how a writer keeps pace with a slow peer.
///
/// Bytes leave in the background (see the [streams module](crate::net#streams)), so a
/// `write` followed by a read of the answer works without a `drain`. Dropping the writer
/// sends what is buffered, then shuts the writing side down (the peer sees end-of-file);
/// [`close`](Self::close) shuts both sides down once flushed.
///
/// ```
/// use ringloop::net::{open_connection, start_server};
///
/// ringloop::run(async {
///     let server = start_server("127.0.0.1:0", |mut reader, writer| async move {
///         while let Ok(line) = reader.readline().await {
///             if line.is_empty() {
///                 break; // end-of-file
///             }
///             writer.write(&line.to_ascii_uppercase());
///             if writer.drain().await.is_err() {
///                 break;
///             }
///         }
///     })
///     .await?;
///     let (mut reader, writer) = open_connection(server.local_addr()?).await?;
///     writer.write(b"hello\n");
///     writer.drain().await?;
///     assert_eq!(reader.readline().await?, b"HELLO\n");
///     writer.close();
///     writer.wait_closed().await?;
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct StreamWriter {
    conn: Rc<Conn>,
}

impl StreamWriter {
    pub(super) fn new(conn: Rc<Conn>) -> StreamWriter {
        StreamWriter { conn }
    }

    /// Writes `data`: sent at once if the socket takes it, else buffered and sent in the
    /// background. Never waits; follow it with [`drain`](Self::drain) to keep the buffer
    /// bounded. Once the writer is closing, or the connection failed, the data is dropped
    /// (and `drain` reports the failure).
    ///
    /// ```
    /// # use ringloop::net::UnixStream;
    /// ringloop::run(async {
    ///     let (a, b) = UnixStream::pair()?;
    ///     let (_reader, writer) = ringloop::net::into_streams(a);
    ///     writer.write(b"one ");
    ///     writer.write(b"two");
    ///     drop(writer); // flushed, then end-of-file
    ///     let (mut reader, _) = ringloop::net::into_streams(b);
    ///     assert_eq!(reader.read_to_end().await?, b"one two");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Panics
    ///
    /// When bytes must be queued and no loop runs on this thread.
    pub fn write(&self, data: &[u8]) {
        let conn = &*self.conn;
        let start_flusher = {
            let mut out = conn.out.borrow_mut();
            if data.is_empty() || out.end != End::Open || out.finished {
                return;
            }
            let mut rest = data;
            if out.idle() && out.try_send {
                match send_slice(conn.sock.raw_fd(), data) {
                    Ok(n) => rest = &data[n..],
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => {
                        let mut wake = Vec::new();
                        out.fail(e, &mut wake);
                        drop(out);
                        wake_all(wake);
                        return;
                    }
                }
                if rest.is_empty() {
                    return;
                }
            }
            out.pending.extend_from_slice(rest);
            if out.buffered() > out.high {
                out.paused = true;
            }
            let start = !out.flusher;
            out.flusher = true;
            start
        };
        if start_flusher {
            let core = crate::event_loop::context::current_core("StreamWriter::write");
            // Detached: it ends once the writer is done with. Never eager: the caller may
            // be in the middle of something the flusher would observe.
            drop(core.spawn(flush(self.conn.clone()), false));
        } else {
            wake_flusher(conn);
        }
    }

    /// Writes each of `chunks` in turn, as [`write`](Self::write) would (asyncio's
    /// `writelines`).
    ///
    /// ```
    /// # use ringloop::net::UnixStream;
    /// ringloop::run(async {
    ///     let (a, b) = UnixStream::pair()?;
    ///     let (_r, writer) = ringloop::net::into_streams(a);
    ///     writer.writelines([&b"GET / HTTP/1.0\r\n"[..], b"\r\n"]);
    ///     drop(writer);
    ///     let (mut reader, _w) = ringloop::net::into_streams(b);
    ///     assert_eq!(reader.read_to_end().await?, b"GET / HTTP/1.0\r\n\r\n");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn writelines<I>(&self, chunks: I)
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        for chunk in chunks {
            self.write(chunk.as_ref());
        }
    }

    /// Waits until the write buffer is down to its low-water mark, if it went above the
    /// high one (asyncio's `drain`); returns at once otherwise. Fails with the error the
    /// connection failed with (a reset, a broken pipe), or `ConnectionReset` once the
    /// writer was closed or aborted.
    ///
    /// ```
    /// # use ringloop::net::UnixStream;
    /// ringloop::run(async {
    ///     let (a, b) = UnixStream::pair()?;
    ///     let (_r, writer) = ringloop::net::into_streams(a);
    ///     let (mut reader, _w) = ringloop::net::into_streams(b);
    ///     let consumer = ringloop::spawn(async move { reader.read_to_end().await });
    ///     for _ in 0..64 {
    ///         writer.write(&[7; 16 * 1024]);
    ///         writer.drain().await?; // never more than the high-water mark queued
    ///         assert!(writer.get_write_buffer_size() <= 64 * 1024);
    ///     }
    ///     drop(writer);
    ///     assert_eq!(consumer.await??.len(), 64 * 16 * 1024);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn drain(&self) -> io::Result<()> {
        poll_fn(|cx| {
            let mut out = self.conn.out.borrow_mut();
            if let Some(e) = &out.error {
                return Poll::Ready(Err(copy_error(e)));
            }
            if out.aborted || (out.finished && out.end == End::Close) {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "the connection is closed",
                )));
            }
            if !out.paused {
                return Poll::Ready(Ok(()));
            }
            if !out.drain_waiters.iter().any(|w| w.will_wake(cx.waker())) {
                out.drain_waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    /// Shuts the writing side down once the buffer is flushed: the peer sees end-of-file
    /// and can still send (asyncio's `write_eof`). Later writes are dropped.
    ///
    /// ```
    /// # use ringloop::net::UnixStream;
    /// ringloop::run(async {
    ///     let (a, b) = UnixStream::pair()?;
    ///     let (mut a_reader, a_writer) = ringloop::net::into_streams(a);
    ///     let (mut b_reader, b_writer) = ringloop::net::into_streams(b);
    ///     a_writer.write(b"request");
    ///     a_writer.write_eof();
    ///     assert_eq!(b_reader.read_to_end().await?, b"request");
    ///     b_writer.write(b"response"); // the other direction still works
    ///     drop(b_writer);
    ///     assert_eq!(a_reader.read_to_end().await?, b"response");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn write_eof(&self) {
        let now = self.conn.out.borrow_mut().ask_end(End::Eof);
        if let Some(how) = now {
            // Nothing queued: shut down now. The writer may still be closed later.
            let _ = crate::sys::net::shutdown(self.conn.sock.raw_fd(), how);
        } else {
            wake_flusher(&self.conn);
        }
    }

    /// Closes the connection once the buffer is flushed: both directions are shut down
    /// (the peer sees end-of-file, and so does this connection's
    /// [`StreamReader`](super::StreamReader)). Later writes are dropped;
    /// [`wait_closed`](Self::wait_closed) waits for the close. The descriptor itself is
    /// closed once the reader and the writer are both dropped.
    ///
    /// ```
    /// # use ringloop::net::UnixStream;
    /// ringloop::run(async {
    ///     let (a, b) = UnixStream::pair()?;
    ///     let (_r, writer) = ringloop::net::into_streams(a);
    ///     writer.write(b"bye");
    ///     writer.close();
    ///     assert!(writer.is_closing());
    ///     writer.wait_closed().await?;
    ///     let (mut reader, _w) = ringloop::net::into_streams(b);
    ///     assert_eq!(reader.read_to_end().await?, b"bye");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn close(&self) {
        close(&self.conn);
    }

    /// Whether the writer is closing or closed ([`close`](Self::close) was called, its
    /// server aborted it, or the connection failed): asyncio's `is_closing`.
    ///
    /// ```
    /// # use ringloop::net::UnixStream;
    /// ringloop::run(async {
    ///     let (a, _b) = UnixStream::pair()?;
    ///     let (_r, writer) = ringloop::net::into_streams(a);
    ///     assert!(!writer.is_closing());
    ///     writer.close();
    ///     assert!(writer.is_closing());
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_closing(&self) -> bool {
        let out = self.conn.out.borrow();
        out.end == End::Close || out.error.is_some()
    }

    /// Waits until the writer is closed: [`close`](Self::close) was called and what was
    /// buffered has been sent (or the connection failed, or its server aborted it).
    /// Fails with the error the connection failed with, if it did. Waits for `close`
    /// too when it was not called yet.
    ///
    /// ```
    /// # use ringloop::net::UnixStream;
    /// ringloop::run(async {
    ///     let (a, b) = UnixStream::pair()?;
    ///     let (_r, writer) = ringloop::net::into_streams(a);
    ///     drop(b); // the peer is gone: sending fails
    ///     writer.write(&vec![0; 1 << 20]);
    ///     writer.close();
    ///     let err = writer.wait_closed().await.unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn wait_closed(&self) -> io::Result<()> {
        poll_fn(|cx| {
            let mut out = self.conn.out.borrow_mut();
            if let Some(e) = &out.error {
                return Poll::Ready(Err(copy_error(e)));
            }
            if out.finished && out.end == End::Close {
                return Poll::Ready(Ok(()));
            }
            if !out.closed_waiters.iter().any(|w| w.will_wake(cx.waker())) {
                out.closed_waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    /// Sets the write buffer's water marks: [`drain`](Self::drain) waits once the buffer
    /// goes above `high`, until it is back at `low` (clamped to `high`). asyncio's
    /// defaults are 64 KiB and a quarter of it.
    ///
    /// ```
    /// # use ringloop::net::UnixStream;
    /// # let (a, _b) = UnixStream::pair()?;
    /// # ringloop::run(async move {
    /// let (_r, writer) = ringloop::net::into_streams(a);
    /// writer.set_write_buffer_limits(1 << 20, 256 << 10);
    /// assert_eq!(writer.get_write_buffer_limits(), (256 << 10, 1 << 20));
    /// # });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_write_buffer_limits(&self, high: usize, low: usize) {
        let mut wake = Vec::new();
        {
            let mut out = self.conn.out.borrow_mut();
            out.high = high;
            out.low = low.min(high);
            if out.buffered() > out.high {
                out.paused = true;
            } else if out.paused && out.buffered() <= out.low {
                out.paused = false;
                wake.append(&mut out.drain_waiters);
            }
        }
        wake_all(wake);
    }

    /// The write buffer's water marks, `(low, high)`.
    ///
    /// ```
    /// # use ringloop::net::UnixStream;
    /// # let (a, _b) = UnixStream::pair()?;
    /// # ringloop::run(async move {
    /// let (_r, writer) = ringloop::net::into_streams(a);
    /// assert_eq!(writer.get_write_buffer_limits(), (16 * 1024, 64 * 1024)); // asyncio's
    /// # });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn get_write_buffer_limits(&self) -> (usize, usize) {
        let out = self.conn.out.borrow();
        (out.low, out.high)
    }

    /// Bytes written and not yet taken by the kernel.
    ///
    /// ```
    /// # use ringloop::net::UnixStream;
    /// ringloop::run(async {
    ///     let (a, _b) = UnixStream::pair()?; // nobody reads `_b`
    ///     let (_r, writer) = ringloop::net::into_streams(a);
    ///     writer.write(&vec![1; 8 << 20]); // 8 MiB: more than the socket takes
    ///     assert!(writer.get_write_buffer_size() > 0);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn get_write_buffer_size(&self) -> usize {
        self.conn.out.borrow().buffered()
    }

    /// The peer's address (asyncio's `get_extra_info("peername")`), for a TCP stream;
    /// `InvalidInput` for a Unix one (see [`unix_peer_addr`](Self::unix_peer_addr)).
    ///
    /// ```
    /// ringloop::run(async {
    ///     let listener = ringloop::net::TcpListener::bind("127.0.0.1:0")?;
    ///     let (_reader, writer) = ringloop::net::open_connection(listener.local_addr()?).await?;
    ///     assert_eq!(writer.peer_addr()?, listener.local_addr()?);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.conn.sock.peer_addr()
    }

    /// This end's address (asyncio's `get_extra_info("sockname")`), for a TCP stream;
    /// `InvalidInput` for a Unix one (see [`unix_local_addr`](Self::unix_local_addr)).
    ///
    /// ```
    /// ringloop::run(async {
    ///     let listener = ringloop::net::TcpListener::bind("127.0.0.1:0")?;
    ///     let (_reader, writer) = ringloop::net::open_connection(listener.local_addr()?).await?;
    ///     let (_conn, client_addr) = listener.accept().await?;
    ///     assert_eq!(writer.local_addr()?, client_addr);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.conn.sock.local_addr()
    }

    /// The peer's address, for a Unix-domain stream; `InvalidInput` for a TCP one.
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-w-peer.sock", std::process::id()));
    /// ringloop::run(async {
    ///     let listener = ringloop::net::UnixListener::bind(&path)?;
    ///     let (_reader, writer) = ringloop::net::open_unix_connection(&path).await?;
    ///     assert_eq!(writer.unix_peer_addr()?.as_pathname(), Some(path.as_path()));
    ///     # drop(listener);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn unix_peer_addr(&self) -> io::Result<UnixSocketAddr> {
        self.conn.sock.unix_peer_addr()
    }

    /// This end's address, for a Unix-domain stream (unnamed for a client that did not
    /// bind); `InvalidInput` for a TCP one.
    ///
    /// ```
    /// # use ringloop::net::UnixStream;
    /// let (a, _b) = UnixStream::pair()?;
    /// # ringloop::run(async move {
    /// let (_reader, writer) = ringloop::net::into_streams(a);
    /// assert!(writer.unix_local_addr()?.is_unnamed());
    /// assert!(writer.local_addr().is_err()); // not a TCP stream
    /// # Ok::<(), std::io::Error>(())
    /// # })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn unix_local_addr(&self) -> io::Result<UnixSocketAddr> {
        self.conn.sock.unix_local_addr()
    }
}

impl Drop for StreamWriter {
    fn drop(&mut self) {
        // As `write_eof`: what is buffered is sent, then the peer sees end-of-file.
        self.write_eof();
    }
}

impl fmt::Debug for StreamWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let out = self.conn.out.borrow();
        f.debug_struct("StreamWriter")
            .field("fd", &self.conn.sock.raw_fd())
            .field("buffered", &out.buffered())
            .field("end", &out.end)
            .field("finished", &out.finished)
            .finish()
    }
}
