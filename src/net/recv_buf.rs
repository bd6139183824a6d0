//! `read_buffered`: stream reads into the loop's buffers instead of the caller's.
//!
//! On io_uring a stream read with `read_buffered` arms one multishot receive
//! (`IORING_RECV_MULTISHOT`) the first time, into the loop's provided-buffer ring (the
//! one the protocol server reads into, sized by `Builder::recv_buffers`): the kernel
//! picks a buffer for each arrival, and each call hands out the next filled one as a
//! [`RecvBuf`], which goes back to the ring when dropped. Without a ring (the epoll
//! backend, or a kernel without buffer rings) each call reads on readiness into a spare
//! buffer of the loop's (a small pool, kept in the driver handle): the same `RecvBuf`, so
//! user code does not depend on the backend.
//!
//! # Policies
//!
//! - **The ring ran dry** (`ENOBUFS`: every buffer is held, by this reader or others):
//!   the multishot ends, with nothing taken from the socket. That one call then reads on
//!   readiness into a spare buffer; the next call arms the multishot again.
//! - **The multishot ends without an error** (`EINTR`, `EAGAIN`, `ECANCELED`, or a
//!   final completion that carried data): the next call arms it again. End-of-file ends
//!   it too and is handed out as an empty buffer; a later call asks the kernel again
//!   (and sees end-of-file again).
//! - **Mixing**: once `read_buffered` was called on a stream, a plain read of it
//!   (`read`, `read_exact`, the poll-style `AsyncRead`) panics: bytes already received
//!   into ring buffers would otherwise be overtaken. Checked on both backends alike.
//! - **One reader at a time**: a second `read_buffered` polled while one is waiting
//!   panics (asyncio's "read() called while another coroutine is already waiting").
//! - **Dropping a `read_buffered` future loses nothing**: completed buffers wait in the
//!   stream for the next call, and the readiness path reads only once the socket is
//!   readable, with no await between the read and its return.
//! - **Another loop**: the multishot belongs to the loop that armed it. A stream read
//!   on a second loop while the first is open panics; once the first has closed, the
//!   second arms its own (what the first had received and not handed out is gone with
//!   it, as with any read in flight when a loop closes).
//! - **Dropping the stream** cancels the multishot and hands it to the driver
//!   (`abandon_plain`): whatever it still receives goes back to the ring, as do the
//!   buffers already received and not handed out. `RecvBuf`s handed out hold the ring
//!   (an `Rc`), so they may outlive the stream and the loop (see `bufring.rs`).
//!
//! The `RecvBuf` type itself is in `driver/recv_buf.rs`: it is an `IoBuf` too (a write
//! sends from it), an unsafe trait implemented only in the driver.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::driver::bufring::BufRing;
use crate::driver::fd::Fd;
use crate::driver::handle::DriverHandle;
use crate::driver::op::{Op, OpCode, OpId};
use crate::driver::ops::ready::{Interest, Ready};
use crate::driver::recv_buf::{Data, RecvBuf};
use crate::driver::sink::{self, Sink, SinkEvent};
use crate::driver::sink_io;

/// The size of a spare buffer on the readiness path (the ring's default buffer size).
const SPARE_SIZE: usize = 16 * 1024;

/// A stream's `read_buffered` state (in its `Socket`).
#[derive(Default)]
pub(crate) struct Buffered {
    /// `read_buffered` was called: plain reads are refused from then on.
    used: Cell<bool>,
    /// A `read_buffered` is waiting.
    busy: Cell<bool>,
    /// The multishot receive, once armed on a loop with a buffer ring.
    multi: RefCell<Option<Multishot>>,
}

impl Buffered {
    /// Panics if `read_buffered` was used on this stream (see the module docs).
    pub(crate) fn check_plain_read(&self) {
        assert!(
            !self.used.get(),
            "a plain read (read, read_exact, AsyncRead) of a stream already read with \
             read_buffered: bytes received into the loop's buffers would be overtaken; \
             keep reading this stream with read_buffered"
        );
    }

    /// Ends the multishot (the stream is closing or leaving the loop).
    pub(crate) fn release(&self) {
        drop(self.multi.borrow_mut().take());
    }

    /// Reads the next buffer from the stream `fd` (identity `handle`).
    pub(crate) async fn read(&self, fd: RawFd, handle: Fd) -> io::Result<RecvBuf> {
        let io = crate::event_loop::context::current_io("reading from a socket");
        let _busy = Busy::enter(self);
        self.check_loop(&io);
        if self.multi.borrow().is_none() {
            if let Some(ring) = io.with_driver(|d| d.buf_ring()).flatten() {
                *self.multi.borrow_mut() = Some(Multishot::new(io.clone(), ring));
            }
        }
        if self.multi.borrow().is_some() {
            let next = poll_fn(|cx| {
                let mut multi = self.multi.borrow_mut();
                let multi = multi.as_mut().expect("the multishot lives with the stream");
                multi.poll_next(handle, cx)
            })
            .await;
            if let Some(done) = next {
                return done;
            }
            // The ring ran dry: this call reads on readiness.
        }
        read_ready(&io, fd, handle).await
    }
}

impl Buffered {
    /// The multishot belongs to the loop that armed it: once that loop has closed (its
    /// kernel side went with it), a later loop arms its own; while it is open, reading
    /// on another loop is refused.
    fn check_loop(&self, io: &Rc<DriverHandle>) {
        let mut multi = self.multi.borrow_mut();
        let Some(armed_on) = multi.as_ref().map(|m| m.io.clone()) else {
            return;
        };
        if Rc::ptr_eq(&armed_on, io) {
            return;
        }
        assert!(
            armed_on.is_closed(),
            "read_buffered on a stream whose buffered reads belong to another event loop, \
             still open: read a stream on one loop (or close the first loop before)"
        );
        drop(multi.take());
    }
}

/// Marks a `read_buffered` as waiting until dropped.
struct Busy<'a>(&'a Buffered);

impl<'a> Busy<'a> {
    fn enter(buffered: &'a Buffered) -> Busy<'a> {
        assert!(
            !buffered.busy.replace(true),
            "read_buffered called while another read_buffered of the same stream is \
             already waiting for data: read a stream from one task at a time"
        );
        buffered.used.set(true);
        Busy(buffered)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.busy.set(false);
    }
}

/// Reads what the socket holds into a spare buffer, waiting for readability first if
/// it holds nothing.
async fn read_ready(io: &Rc<DriverHandle>, fd: RawFd, handle: Fd) -> io::Result<RecvBuf> {
    // Held by a `RecvBuf` from the start, so a dropped future gives the buffer back.
    let mut out = RecvBuf {
        data: Data::Spare {
            buf: io.take_spare().unwrap_or_else(|| vec![0; SPARE_SIZE]),
            len: 0,
            io: io.clone(),
        },
    };
    let Data::Spare { buf, len, .. } = &mut out.data else {
        unreachable!("built as a spare above")
    };
    loop {
        match crate::sys::net::recv_slice(fd, buf) {
            Ok(n) => {
                *len = n;
                return Ok(out);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                Op::new(io.clone(), Ready::new(handle, Interest::Readable)).await?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// A stream's multishot receive and the completions it delivered.
struct Multishot {
    io: Rc<DriverHandle>,
    ring: Rc<BufRing>,
    /// This stream's own sink: everything in it comes from its multishots.
    sink: Rc<Sink>,
    /// The multishot in flight, until its final completion is taken from `events`.
    armed: Option<OpId>,
    /// Completions received and not yet handed out, in order.
    events: VecDeque<SinkEvent>,
    scratch: Vec<SinkEvent>,
}

impl Multishot {
    fn new(io: Rc<DriverHandle>, ring: Rc<BufRing>) -> Multishot {
        Multishot {
            io,
            ring,
            sink: Rc::new(Sink::new()),
            armed: None,
            events: VecDeque::new(),
            scratch: Vec::new(),
        }
    }

    /// The next buffer, end-of-file or error; `None` when the ring ran dry.
    fn poll_next(&mut self, fd: Fd, cx: &mut Context<'_>) -> Poll<Option<io::Result<RecvBuf>>> {
        loop {
            while let Some(event) = self.events.pop_front() {
                if sink::is_final(event.flags) {
                    self.armed = None;
                }
                if event.result > 0 {
                    let lent = sink::buffer_id(event.flags)
                        .and_then(|bid| self.ring.lend_rc(bid, event.result as usize));
                    return Poll::Ready(Some(match lent {
                        Some(lent) => Ok(RecvBuf {
                            data: Data::Ring(lent),
                        }),
                        None => Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "a receive completed without a valid provided buffer",
                        )),
                    }));
                }
                self.recycle(event.flags);
                match event.result {
                    0 => return Poll::Ready(Some(Ok(RecvBuf { data: Data::Eof }))),
                    r if r == -libc::ENOBUFS => return Poll::Ready(None),
                    // Ended without an error: armed again below.
                    r if r == -libc::ECANCELED || r == -libc::EINTR || r == -libc::EAGAIN => {}
                    r => return Poll::Ready(Some(Err(io::Error::from_raw_os_error(-r)))),
                }
            }
            if self.armed.is_none() {
                let op = OpCode::RecvMulti {
                    fd,
                    group: self.ring.group(),
                };
                match sink_io::submit_plain(&self.io, op, &self.sink, 0) {
                    Ok(id) => self.armed = Some(id),
                    Err(e) => return Poll::Ready(Some(Err(e))),
                }
            }
            self.sink.drain_into(&mut self.scratch, cx.waker());
            if self.scratch.is_empty() {
                return Poll::Pending;
            }
            self.events.extend(self.scratch.drain(..));
        }
    }

    fn recycle(&self, flags: u32) {
        if let Some(bid) = sink::buffer_id(flags) {
            self.ring.recycle(bid);
        }
    }
}

impl Drop for Multishot {
    fn drop(&mut self) {
        self.sink.detach();
        if let Some(id) = self.armed.take() {
            // Cancelled, and from now on its completions are the driver's: their
            // buffers go back to the ring.
            sink_io::abandon_plain(&self.io, id);
        }
        // What arrived before the abandon and was not handed out.
        self.sink.drain_into(&mut self.scratch, Waker::noop());
        self.sink.detach();
        for event in self.events.drain(..).chain(self.scratch.drain(..)) {
            if let Some(bid) = sink::buffer_id(event.flags) {
                self.ring.recycle(bid);
            }
        }
    }
}
