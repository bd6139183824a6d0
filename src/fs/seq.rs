//! Sequential I/O on a [`File`](super::File) at the file's own position, for the
//! `tokio-io` and `futures-io` traits.
//!
//! The traits lend the caller's buffer for one poll only, and a file has no readiness to
//! wait for, so each file keeps one buffer of its own and at most one operation in
//! flight: a read (at the file's position: io_uring's offset -1, or read(2) on the
//! blocking pool) lands in that buffer and is copied out; a write copies the caller's
//! bytes in, is reported written at once, and its outcome is checked by the next
//! operation or by `flush` (as `tokio::fs::File` does). The buffer belongs to the
//! operation while it is in flight, so a file dropped mid-operation leaves the kernel
//! nothing freed to write into.
//!
//! Bytes read ahead and not yet handed out are accounted for by seeks and writes: the
//! file's position is moved back over them first, so the sequence the caller sees is
//! exactly that of blocking `std::fs::File` I/O.

use std::future::Future;
use std::io::{self, Seek, SeekFrom};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use super::file::Write;
use crate::driver::buf::{IoBuf, Slice};
use crate::driver::op::Op;
use crate::driver::ops::file::{CURRENT_POSITION, ReadAt, WriteAt, WriteRoute};
use crate::task::Task;

/// The most one operation moves (tokio::fs uses the same bound).
const MAX_CHUNK: usize = 2 << 20;

type Done = (io::Result<usize>, Slice<Vec<u8>>);

/// The one operation in flight.
enum InFlight {
    RingRead(Op<'static, ReadAt<Slice<Vec<u8>>>>),
    RingWrite(Op<'static, WriteAt<Slice<Vec<u8>>>>),
    /// A write done on the loop thread, without blocking.
    Written(Option<Done>),
    PoolRead(Task<Done>),
    PoolWrite(Task<Done>),
}

/// A file's sequential state: its buffer and what is in flight.
#[derive(Default)]
pub(super) struct Seq {
    busy: Option<InFlight>,
    /// Read-ahead not handed out yet is `buf[head..]`; otherwise a spare buffer.
    buf: Vec<u8>,
    head: usize,
    /// The last read reached end of file (and no byte of it is left to hand out).
    eof: bool,
    /// A failed read, for the next `poll_read`.
    read_error: Option<io::Error>,
    /// A failed write that was already reported written, for the next operation.
    write_error: Option<io::Error>,
    /// Where the writes go (see [`WriteRoute`]).
    route: WriteRoute,
    /// A seek started with tokio's `start_seek`, for `poll_complete`.
    #[cfg(feature = "tokio-io")]
    pub(super) seek: Option<SeekFrom>,
}

impl Seq {
    /// Drives the operation in flight to its end and files its outcome.
    fn poll_idle(&mut self, cx: &mut Context<'_>, file: &Arc<std::fs::File>) -> Poll<()> {
        while let Some(busy) = self.busy.as_mut() {
            let (result, slice, write) = match busy {
                InFlight::RingRead(op) => {
                    let (r, s) = ready!(Pin::new(op).poll(cx));
                    (r, s, false)
                }
                InFlight::RingWrite(op) => {
                    let (r, s) = ready!(Pin::new(op).poll(cx));
                    (r, s, true)
                }
                InFlight::Written(done) => {
                    let (r, s) = done.take().expect("a write's outcome is filed once");
                    (r, s, true)
                }
                InFlight::PoolRead(task) => {
                    let (r, s) = pool_done(ready!(Pin::new(task).poll(cx)));
                    (r, s, false)
                }
                InFlight::PoolWrite(task) => {
                    let (r, s) = pool_done(ready!(Pin::new(task).poll(cx)));
                    (r, s, true)
                }
            };
            self.busy = None;
            if !write {
                self.buf = slice.into_inner();
                self.head = 0;
                match result {
                    Ok(0) => self.eof = true,
                    Ok(_) => {}
                    Err(e) => self.read_error = Some(e),
                }
                continue;
            }
            let (begin, end) = (slice.begin(), slice.end());
            match result {
                Ok(n) if n > 0 && begin + n < end => {
                    // A short write: the rest goes next, at the position it moved to.
                    let rest = slice.into_inner().slice(begin + n..end);
                    self.busy = Some(start_write(file, &self.route, rest));
                }
                Ok(0) if begin < end => {
                    self.write_error = Some(io::Error::from(io::ErrorKind::WriteZero));
                    self.buf = slice.into_inner();
                }
                Ok(_) => self.buf = slice.into_inner(),
                Err(e) => {
                    self.write_error = Some(e);
                    self.buf = slice.into_inner();
                }
            }
            if self.busy.is_none() {
                // Written bytes are not read-ahead: the buffer is spare again.
                self.buf.clear();
                self.head = 0;
            }
        }
        Poll::Ready(())
    }

    /// Moves the file's position back over read-ahead not handed out, and drops it.
    fn unread(&mut self, file: &std::fs::File) -> io::Result<()> {
        let ahead = self.buf.len() - self.head;
        self.buf.clear();
        self.head = 0;
        self.eof = false;
        self.read_error = None;
        if ahead > 0 {
            (&*file).seek(SeekFrom::Current(-(ahead as i64)))?;
        }
        Ok(())
    }

    /// Reads into `dst` at the file's position.
    pub(super) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        file: &Arc<std::fs::File>,
        dst: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            if self.head < self.buf.len() {
                let n = dst.len().min(self.buf.len() - self.head);
                dst[..n].copy_from_slice(&self.buf[self.head..self.head + n]);
                self.head += n;
                return Poll::Ready(Ok(n));
            }
            if self.busy.is_some() {
                ready!(self.poll_idle(cx, file));
                continue;
            }
            if let Some(e) = self.write_error.take().or_else(|| self.read_error.take()) {
                return Poll::Ready(Err(e));
            }
            if std::mem::take(&mut self.eof) || dst.is_empty() {
                return Poll::Ready(Ok(0));
            }
            let mut buf = std::mem::take(&mut self.buf);
            buf.clear();
            let want = dst.len().min(MAX_CHUNK);
            buf.reserve(want);
            self.head = 0;
            self.busy = Some(start_read(file, buf.slice(0..want)));
        }
    }

    /// Writes `src` at the file's position: copied in and reported written at once.
    pub(super) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        file: &Arc<std::fs::File>,
        src: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_idle(cx, file));
        if let Some(e) = self.write_error.take() {
            return Poll::Ready(Err(e));
        }
        if src.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.unread(file)?;
        let n = src.len().min(MAX_CHUNK);
        let mut buf = std::mem::take(&mut self.buf);
        buf.extend_from_slice(&src[..n]);
        self.busy = Some(start_write(file, &self.route, buf.slice(0..n)));
        // Polled once now, so it is under way before the caller's next call.
        let _ = self.poll_idle(cx, file);
        Poll::Ready(Ok(n))
    }

    /// Waits for the write in flight; its error, if it failed.
    pub(super) fn poll_flush(
        &mut self,
        cx: &mut Context<'_>,
        file: &Arc<std::fs::File>,
    ) -> Poll<io::Result<()>> {
        ready!(self.poll_idle(cx, file));
        Poll::Ready(self.write_error.take().map_or(Ok(()), Err))
    }

    /// Moves the file's position (after the operation in flight); the new position.
    pub(super) fn poll_seek(
        &mut self,
        cx: &mut Context<'_>,
        file: &Arc<std::fs::File>,
        to: SeekFrom,
    ) -> Poll<io::Result<u64>> {
        ready!(self.poll_idle(cx, file));
        if let Some(e) = self.write_error.take() {
            return Poll::Ready(Err(e));
        }
        self.unread(file)?;
        Poll::Ready((&**file).seek(to))
    }
}

/// A blocking job's outcome; the pool runs every job it accepted, and one it refused
/// means the loop is closing, where nothing polls this any more.
fn pool_done(done: Result<Done, crate::TaskError>) -> Done {
    done.unwrap_or_else(|e| panic!("a blocking file operation did not run: {e}"))
}

fn start_read(file: &Arc<std::fs::File>, buf: Slice<Vec<u8>>) -> InFlight {
    let op = ReadAt::new(file.clone(), buf, CURRENT_POSITION);
    let (core, ring) = super::file::current("reading a ringloop::fs::File");
    match ring {
        Some(io) => InFlight::RingRead(Op::new(io, op)),
        None => InFlight::PoolRead(core.spawn_blocking(move || op.run_here())),
    }
}

fn start_write(file: &Arc<std::fs::File>, route: &WriteRoute, buf: Slice<Vec<u8>>) -> InFlight {
    let op = WriteAt::new(file.clone(), buf, CURRENT_POSITION);
    match super::file::start_write(op, route, "writing a ringloop::fs::File") {
        Write::Done(done) => InFlight::Written(Some(done)),
        Write::Ring(op) => InFlight::RingWrite(op),
        Write::Pool(task) => InFlight::PoolWrite(task),
    }
}

impl super::File {
    /// The sequential state and the file, for the traits.
    fn seq(&mut self) -> (&mut Seq, &Arc<std::fs::File>) {
        let file = self.std.as_ref().expect("file used after close");
        (self.seq.get_or_insert_with(Box::default), file)
    }

    pub(crate) fn poll_read_seq(
        &mut self,
        cx: &mut Context<'_>,
        dst: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let (seq, file) = self.seq();
        seq.poll_read(cx, file, dst)
    }

    pub(crate) fn poll_write_seq(
        &mut self,
        cx: &mut Context<'_>,
        src: &[u8],
    ) -> Poll<io::Result<usize>> {
        let (seq, file) = self.seq();
        seq.poll_write(cx, file, src)
    }

    pub(crate) fn poll_flush_seq(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let (seq, file) = self.seq();
        seq.poll_flush(cx, file)
    }

    #[cfg(feature = "futures-io")]
    pub(crate) fn poll_seek_seq(
        &mut self,
        cx: &mut Context<'_>,
        to: SeekFrom,
    ) -> Poll<io::Result<u64>> {
        let (seq, file) = self.seq();
        seq.poll_seek(cx, file, to)
    }

    /// tokio's `start_seek`: remembered for `poll_complete`.
    #[cfg(feature = "tokio-io")]
    pub(crate) fn start_seek_seq(&mut self, to: SeekFrom) -> io::Result<()> {
        let (seq, _) = self.seq();
        if seq.seek.is_some() {
            return Err(io::Error::other(
                "a seek is already under way on this file: call poll_complete first",
            ));
        }
        seq.seek = Some(to);
        Ok(())
    }

    /// tokio's `poll_complete`: the started seek, or the position now.
    #[cfg(feature = "tokio-io")]
    pub(crate) fn poll_complete_seq(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        let (seq, file) = self.seq();
        let to = seq.seek.unwrap_or(SeekFrom::Current(0));
        let done = ready!(seq.poll_seek(cx, file, to));
        seq.seek = None;
        Poll::Ready(done)
    }
}
