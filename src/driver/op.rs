//! Operations: what a socket call asks of the driver, and the future that awaits it.
//!
//! An [`Operation`] owns everything the kernel may touch (buffers, addresses, message
//! headers), all of it in heap memory that does not move when the operation value moves.
//! [`Op`] submits it on first poll, and gives the resources back with the result. If the
//! `Op` is dropped while the kernel still owns the operation, the resources are moved
//! into the driver's op slab (their heap memory stays where it is), an async cancel is
//! submitted, and they are freed only when the completion arrives.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::fd::Fd;
use super::handle::DriverHandle;
use super::slab::Completion;
use super::try_first::TryGate;

/// A submitted operation, by its token (slot + generation, see `token.rs`): what the
/// op slab, the backends and the futures name an operation by. The raw `u64` appears
/// only where it crosses to the kernel (an SQE's `user_data`, a CQE's) or to epoll's
/// own bookkeeping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct OpId(u64);

impl OpId {
    /// The operation a completion's `user_data` names (the caller has decoded it as an
    /// operation token; an unknown or stale one is the slab's to refuse).
    pub(crate) fn from_user_data(user_data: u64) -> OpId {
        OpId(user_data)
    }

    /// The token, as an SQE's `user_data`.
    pub(crate) fn user_data(self) -> u64 {
        self.0
    }

    /// The slab slot the token names.
    pub(crate) fn slot(self) -> usize {
        match super::token::decode(self.0) {
            super::token::Token::Op { slot, .. } => slot as usize,
            other => panic!("not an operation token: {other:?}"),
        }
    }
}

/// What the driver does with the result of an operation whose future is gone.
///
/// Not API: `pub` only because the sealed [`Operation`] names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[doc(hidden)]
pub enum Late {
    /// Nothing: drop the resources.
    Ignore,
    /// The result is a new descriptor nobody will own: close it.
    CloseFd,
    /// Never cancel it: it runs to its end (a file write, which its caller may already
    /// count as done), and its resources go with its completion.
    Finish,
}

/// A request for the kernel, in raw form. Every pointer points into heap memory owned by
/// the operation that built it.
///
/// Not API: `pub` only because the sealed [`Operation`] names it.
#[derive(Clone, Copy, Debug)]
#[doc(hidden)]
pub enum OpCode {
    Accept {
        fd: Fd,
        addr: *mut libc::sockaddr,
        len: *mut libc::socklen_t,
    },
    Connect {
        fd: Fd,
        addr: *const libc::sockaddr,
        len: libc::socklen_t,
    },
    Recv {
        fd: Fd,
        buf: *mut u8,
        len: u32,
    },
    Send {
        fd: Fd,
        buf: *const u8,
        len: u32,
        /// Zero-copy (`IORING_OP_SEND_ZC`, only where the driver says `send_zc()`): the
        /// kernel reads the buffer in place, and a second completion (`F_NOTIF`) says
        /// when it has let go of it; the operation completes with that one, carrying the
        /// first one's result. A plain send elsewhere.
        zc: bool,
    },
    RecvMsg {
        fd: Fd,
        msg: *mut libc::msghdr,
    },
    SendMsg {
        fd: Fd,
        msg: *const libc::msghdr,
    },
    Shutdown {
        fd: RawFd,
        how: libc::c_int,
    },
    Close {
        fd: RawFd,
    },
    /// Multishot recv(2) into buffers the kernel picks from provided-buffer group
    /// `group` (io_uring only).
    RecvMulti {
        fd: Fd,
        group: u16,
    },
    /// Multishot accept(2) on the listening socket `fd` (io_uring only): one completion
    /// per new connection (its descriptor, nonblocking and close-on-exec), with
    /// `IORING_CQE_F_MORE` while it goes on. No address is written: the operation holds
    /// no memory.
    AcceptMulti {
        fd: RawFd,
    },
    /// Completes once `fd` is readable (io_uring: `POLL_ADD`; epoll: the next readiness
    /// edge, without a syscall first).
    PollIn {
        fd: Fd,
    },
    /// Completes once `fd` is writable, as `PollIn` for reading.
    PollOut {
        fd: Fd,
    },
    /// openat(2) of the NUL-terminated `path` (io_uring only: see `Driver::files`).
    OpenAt {
        dirfd: RawFd,
        path: *const libc::c_char,
        flags: libc::c_int,
        mode: libc::mode_t,
    },
    /// pread(2) of `len` bytes at `offset` (io_uring only).
    ReadAt {
        fd: RawFd,
        buf: *mut u8,
        len: u32,
        offset: u64,
    },
    /// pwrite(2) of `len` bytes at `offset` (io_uring only).
    WriteAt {
        fd: RawFd,
        buf: *const u8,
        len: u32,
        offset: u64,
    },
    /// statx(2) of `path` relative to `dirfd` (an empty path with `AT_EMPTY_PATH`: the
    /// descriptor itself) into `buf` (io_uring only).
    Statx {
        dirfd: RawFd,
        path: *const libc::c_char,
        flags: libc::c_int,
        mask: u32,
        buf: *mut libc::statx,
    },
    /// fsync(2), or fdatasync(2) with `data_only` (io_uring only).
    Fsync {
        fd: RawFd,
        data_only: bool,
    },
    Nop,
}

/// An operation's resources and how to read its completion. Sealed: implemented only
/// by ringloop's own operations (the types of `net::ops`), and not nameable outside the
/// crate, so users meet it only as the bound on [`Op`] and its [`Output`] only as the
/// `Op`'s output, which the compiler checks here:
///
/// ```
/// use std::future::Future;
/// use std::io;
/// use std::net::SocketAddr;
/// use ringloop::net::Op;
/// use ringloop::net::ops::{Recv, RecvMsg, SendMsg, SendOp};
///
/// fn yields<O, F: Future<Output = O>>() {}
/// yields::<(io::Result<usize>, Vec<u8>), Op<'static, Recv<Vec<u8>>>>();
/// yields::<(io::Result<usize>, &'static str), Op<'static, SendOp<&'static str>>>();
/// yields::<(io::Result<(usize, SocketAddr)>, Box<[u8]>), Op<'static, RecvMsg<Box<[u8]>>>>();
/// yields::<(io::Result<usize>, Vec<u8>), Op<'static, SendMsg<Vec<u8>>>>();
/// ```
///
/// [`Output`]: Operation::Output
///
/// # Safety
///
/// Every pointer in the `OpCode` returned by `code` points into memory owned by `self`
/// that stays valid, at the same address, when `self` is moved, until `self` is dropped.
pub unsafe trait Operation: Unpin + 'static {
    /// What the caller gets back.
    type Output;

    /// What to do with a completion that arrives after the future was dropped.
    const LATE: Late = Late::Ignore;

    /// The request to submit.
    fn code(&mut self) -> OpCode;

    /// An error known without asking the kernel (a read into a buffer with no room), in
    /// which case the operation is never submitted.
    fn refuse(&self) -> Option<io::Error> {
        None
    }

    /// Runs the operation's syscall once, now, without blocking and without the driver
    /// (try-first I/O, see `try_first.rs`): the completion the kernel would report, or
    /// `None` when the operation would have to wait (`EAGAIN`) or cannot be tried.
    fn try_now(&mut self) -> Option<Completion> {
        None
    }

    /// Turns the completion into the caller's result (giving the resources back).
    fn complete(self, completion: Completion) -> Self::Output;

    /// The result when the operation could not be submitted at all.
    fn fail(self, error: io::Error) -> Self::Output;
}

enum State<T> {
    /// Not submitted yet: nothing happens until the first poll, like an asyncio
    /// coroutine that has not been awaited.
    Idle(T),
    InFlight {
        id: OpId,
        op: T,
    },
    Done,
}

/// A socket operation, as a future: awaiting an `Op<'_, T>` gives the output of its
/// operation `T`, the result and, where the operation took a buffer, the buffer back.
///
/// `T` is one of the types of [`net::ops`](crate::net::ops), and says what the output
/// is:
///
/// - [`Recv<B>`](crate::net::ops::Recv), from the streams' `read` and
///   [`UdpSocket::recv`](crate::net::UdpSocket::recv): `(io::Result<usize>, B)`, the
///   count read (0 at end-of-file) and the buffer;
/// - [`SendOp<B>`](crate::net::ops::SendOp), from `write` and
///   [`UdpSocket::send`](crate::net::UdpSocket::send): `(io::Result<usize>, B)`, the
///   count sent and the buffer;
/// - [`RecvMsg<B>`](crate::net::ops::RecvMsg), from
///   [`UdpSocket::recv_from`](crate::net::UdpSocket::recv_from):
///   `(io::Result<(usize, SocketAddr)>, B)`, the count, the sender and the buffer;
/// - [`SendMsg<B>`](crate::net::ops::SendMsg), from
///   [`UdpSocket::send_to`](crate::net::UdpSocket::send_to): `(io::Result<usize>, B)`.
///
/// The trait these types implement, `Operation`, is sealed: only ringloop's operations
/// implement it, and its output is all of it a user meets. The [`net`](crate::net)
/// module's "Owned buffers" section tells who holds the buffer when.
///
/// Nothing reaches the kernel before the first poll. Dropping the `Op` early is safe:
/// the operation is cancelled, and the loop keeps the buffer until the kernel has let
/// go of it, then frees it. What the operation did before the cancel took effect
/// (bytes read or written) is lost with it; to keep the real result and the buffer,
/// call [`cancel`](Op::cancel) and await the `Op`.
///
/// The `'a` lifetime borrows the socket: it stays open while an `Op` on it exists.
///
/// An `Op` belongs to the loop it is created in (`stream.read(buf)` looks the running
/// loop up at once): create it inside the loop, e.g.
/// `lp.run_until_complete(async { stream.read(buf).await })`, and await it there.
///
/// ```
/// use std::io;
/// use ringloop::net::{Op, UnixStream, ops::Recv};
///
/// ringloop::run(async {
///     let (a, b) = UnixStream::pair()?;
///     a.write_all(b"hi").await.0?;
///     let read: Op<'_, Recv<Vec<u8>>> = b.read(Vec::with_capacity(16));
///     let (n, buf): (io::Result<usize>, Vec<u8>) = read.await;
///     assert_eq!(&buf[..n?], b"hi");
///     Ok::<(), io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[must_use = "an operation does nothing until awaited"]
pub struct Op<'a, T: Operation> {
    io: Rc<DriverHandle>,
    state: State<T>,
    cancel_requested: bool,
    /// The socket's try-first gate for this direction, when trying first is on.
    gate: Option<&'a TryGate>,
    _socket: PhantomData<&'a ()>,
}

impl<'a, T: Operation> Op<'a, T> {
    pub(crate) fn new(io: Rc<DriverHandle>, op: T) -> Self {
        Op {
            io,
            state: State::Idle(op),
            cancel_requested: false,
            gate: None,
            _socket: PhantomData,
        }
    }

    /// Lets the first poll try the syscall at once when `gate` says the socket is
    /// likely ready (see `try_first.rs`); otherwise, or when it would block, the
    /// operation is submitted as usual.
    pub(crate) fn try_first(mut self, gate: &'a TryGate) -> Self {
        self.gate = Some(gate);
        self
    }

    /// Asks the kernel to cancel the operation, and keeps waiting for its real outcome:
    /// awaiting the `Op` afterwards gives what the operation did (it may have completed
    /// before the cancel took effect) or an `Interrupted`-like error
    /// (`ECANCELED`), together with the buffers. Cancelling an `Op` that was never polled
    /// makes it complete with `ECANCELED` without reaching the kernel.
    ///
    /// A read with a deadline that keeps what it got:
    ///
    /// ```
    /// use std::io;
    /// use std::time::Duration;
    /// use ringloop::net::UnixStream;
    ///
    /// async fn read_within(conn: &UnixStream, limit: Duration) -> (io::Result<usize>, Vec<u8>) {
    ///     let mut read = conn.read(Vec::with_capacity(1024));
    ///     match ringloop::timeout(limit, &mut read).await {
    ///         Ok(done) => done,
    ///         Err(_elapsed) => {
    ///             read.cancel(); // not dropped: bytes it read before the cancel are kept
    ///             read.await
    ///         }
    ///     }
    /// }
    ///
    /// ringloop::run(async {
    ///     let (a, b) = UnixStream::pair()?;
    ///     a.write_all(b"quick").await.0?;
    ///     let (n, buf) = read_within(&b, Duration::from_millis(50)).await;
    ///     assert_eq!(&buf[..n?], b"quick");
    ///     let (res, buf) = read_within(&b, Duration::from_millis(5)).await;
    ///     assert!(res.is_err() && buf.is_empty()); // nothing came: cancelled
    ///     Ok::<(), io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn cancel(&mut self) {
        self.cancel_requested = true;
        if let State::InFlight { id, .. } = self.state {
            self.io.with_driver(|d| d.cancel_op(id));
        }
    }
}

impl<T: Operation> Future for Op<'_, T> {
    type Output = T::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
        let this = self.get_mut();
        // Only its own loop, while it runs, can complete it (on another it would wait
        // forever); an operation whose loop has closed answers an error below instead.
        if !crate::task::current::is_running(this.io.loop_id()) && !this.io.is_closed() {
            crate::task::current::wrong_loop("this socket operation");
        }
        loop {
            match std::mem::replace(&mut this.state, State::Done) {
                State::Idle(mut op) => {
                    if this.cancel_requested {
                        return Poll::Ready(op.fail(io::Error::from_raw_os_error(libc::ECANCELED)));
                    }
                    if let Some(e) = op.refuse() {
                        return Poll::Ready(op.fail(e));
                    }
                    if let Some(gate) = this.gate.take() {
                        // Only on the first poll: a retry after EAGAIN is submitted.
                        let iteration = this.io.iteration();
                        if gate.should_try(iteration) {
                            match op.try_now() {
                                Some(c) => {
                                    gate.hit(iteration);
                                    return Poll::Ready(op.complete(c));
                                }
                                None => gate.miss(),
                            }
                        }
                    }
                    let code = op.code();
                    // SAFETY: `Operation`'s contract: the pointers in `code` stay valid
                    // while `op` lives, wherever it moves; it lives in `this.state` until
                    // the completion is collected, or in the driver after `abandon_op`.
                    let submitted = this.io.with_driver(|d| unsafe { d.submit(code) });
                    match submitted {
                        Some(Ok(id)) => this.state = State::InFlight { id, op },
                        Some(Err(e)) => return Poll::Ready(op.fail(e)),
                        None => return Poll::Ready(op.fail(loop_closed())),
                    }
                }
                State::InFlight { id, op } => {
                    let polled = this.io.with_driver(|d| d.poll_op(id, cx));
                    match polled {
                        Some(Poll::Pending) => {
                            this.state = State::InFlight { id, op };
                            return Poll::Pending;
                        }
                        Some(Poll::Ready(c)) if retryable(c.result) => {
                            // EINTR / EAGAIN never reach the caller: submit again, or,
                            // when a cancel was asked for, report `ECANCELED` (the
                            // operation did nothing).
                            this.state = State::Idle(op);
                        }
                        Some(Poll::Ready(c)) => return Poll::Ready(op.complete(c)),
                        None => {
                            // The loop closed under us and drained the kernel's work;
                            // if it could not, the memory must not be freed.
                            if !this.io.io_drained() {
                                std::mem::forget(op);
                                panic!(
                                    "ringloop: the event loop closed with this operation still owned by the kernel"
                                );
                            }
                            return Poll::Ready(op.fail(loop_closed()));
                        }
                    }
                }
                State::Done => panic!("a ringloop Op was polled after it completed"),
            }
        }
    }
}

impl<T: Operation> Drop for Op<'_, T> {
    fn drop(&mut self) {
        if let State::InFlight { id, op } = std::mem::replace(&mut self.state, State::Done) {
            let held: Box<dyn Any> = Box::new(op);
            let mut held = Some(held);
            self.io
                .with_driver(|d| d.abandon_op(id, held.take(), T::LATE));
            if let Some(held) = held {
                // No driver: the loop closed. Its close drained the kernel's work unless
                // it says otherwise, in which case the memory is leaked, never freed.
                if !self.io.io_drained() {
                    std::mem::forget(held);
                }
            }
        }
    }
}

impl<T: Operation> fmt::Debug for Op<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Idle(_) => "idle",
            State::InFlight { .. } => "in flight",
            State::Done => "done",
        };
        f.debug_struct("Op").field("state", &state).finish()
    }
}

fn retryable(result: i32) -> bool {
    result == -libc::EINTR || result == -libc::EAGAIN
}

pub(crate) fn loop_closed() -> io::Error {
    io::Error::other("the ringloop event loop has closed")
}

/// The completion's result as a byte count or an error.
pub(crate) fn result(c: Completion) -> io::Result<u32> {
    crate::sys::result(c.result)
}
