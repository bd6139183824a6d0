//! What TCP and Unix streams share: a connected stream socket and its operations.

use std::io;
use std::net::Shutdown;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;

use std::time::Duration;

use crate::driver::buf::{IoBuf, IoBufMut};
use crate::driver::fd::Fd;
use crate::driver::handle::DriverHandle;
use crate::driver::op::Op;
use crate::driver::ops::accept::Accept;
use crate::driver::ops::connect::Connect;
use crate::driver::ops::recv::Recv;
use crate::driver::ops::send::SendOp;
use crate::driver::try_first::TryGate;
use crate::sys::net::SockAddr;

use super::recv_buf::Buffered;
use crate::driver::recv_buf::RecvBuf;

/// The first back-off after accepting ran out of descriptors or memory, and the longest
/// (each back-off doubles the last).
pub(crate) const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(1);
pub(crate) const ACCEPT_BACKOFF_MAX: Duration = Duration::from_millis(100);

/// Accepts one connection on the listening socket `fd`.
///
/// When the process or system runs out of descriptors (`EMFILE`, `ENFILE`) or memory,
/// this backs off (1 ms, doubling to 100 ms) and tries again instead of returning the
/// error, so the loop keeps running other tasks and timers and accepting resumes once
/// descriptors free up. A connection aborted before it was accepted is skipped.
pub(crate) async fn accept(fd: Fd, what: &str) -> io::Result<(OwnedFd, SockAddr)> {
    let core = crate::event_loop::context::current_io(what);
    let mut backoff = ACCEPT_BACKOFF_MIN;
    loop {
        match Op::<Accept>::new(core.clone(), Accept::new(fd)).await {
            Ok(accepted) => return Ok(accepted),
            Err(e) if is_resource_exhaustion(&e) => {
                crate::time::sleep(backoff).await;
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
            }
            Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => {}
            Err(e) => return Err(e),
        }
    }
}

pub(crate) fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Connects `sock` to `addr`; the socket back once connected.
///
/// The socket is owned here throughout, so if the connect fails or its future is
/// dropped, the socket closes through the ring ([`close_soon`]): after the connect's own
/// submission, never before it. (Closed at once instead, its descriptor number could
/// be taken by a new socket before a connect still queued for the kernel ran, and that
/// connect would then run on the new socket.)
pub(crate) async fn connect<S: AsRawFd + Into<OwnedFd>>(
    io: &Rc<DriverHandle>,
    sock: Socket<S>,
    addr: SockAddr,
) -> io::Result<Socket<S>> {
    Op::<Connect>::new(io.clone(), Connect::new(sock.handle(), addr)).await?;
    Ok(sock)
}

/// Registers a new stream socket in the running loop's registered-file table, where
/// there is one with a free slot (`Builder::fixed_files`): the descriptor with its slot,
/// and the loop that holds it.
pub(crate) fn register_fixed(fd: Fd) -> (Fd, Option<Rc<DriverHandle>>) {
    let Some(core) = crate::event_loop::context::try_current() else {
        return (fd, None);
    };
    let io = core.io();
    let fd = register_fixed_on(io, fd);
    let holder = fd.slot().map(|_| io.clone());
    (fd, holder)
}

/// Registers the new stream socket `fd` in `io`'s registered-file table, where it has
/// one with a free slot: `fd` with its slot, or as it was.
pub(crate) fn register_fixed_on(io: &DriverHandle, fd: Fd) -> Fd {
    match io.with_driver(|d| d.register_fixed(fd)).flatten() {
        Some(slot) => Fd { slot, ..fd },
        None => fd,
    }
}

/// Closes the stream socket `fd` (`handle` as operations name it) through the running
/// loop's ring, after `io`'s registered-file table let go of it.
pub(crate) fn close_registered(io: &DriverHandle, handle: Fd, fd: OwnedFd) {
    io.with_driver(|d| d.unregister_fixed(handle));
    close_soon(fd);
}

/// Closes `fd` through the running loop's ring when there is one (the close rides in
/// its next batch of submissions), else at once.
pub(crate) fn close_soon(fd: OwnedFd) {
    match crate::event_loop::context::try_current() {
        Some(core) => crate::driver::ops::close::close_on(core.io(), fd),
        None => drop(fd),
    }
}

/// `AsRawFd`, `AsFd` and `into_std` for a socket type that keeps its std socket in an
/// `io: Option<_>` field (listeners, UDP sockets); `from_std` is each type's own, as it
/// sets the socket up.
macro_rules! owned_socket_conversions {
    ($ty:ident, $std:ty) => {
        impl $ty {
            /// The std socket, still nonblocking (call `set_nonblocking(false)` on it for
            /// blocking use). It leaves the loop: nothing of ringloop refers to it after,
            /// and `from_std` brings it back.
            ///
            /// ```
            /// let socket = ringloop::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            /// let addr = socket.local_addr().unwrap();
            /// let std_socket: std::net::UdpSocket = socket.into_std();
            /// assert_eq!(std_socket.local_addr().unwrap(), addr);
            /// ```
            pub fn into_std(mut self) -> $std {
                self.io.take().expect("socket used after close")
            }
        }

        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.get().as_raw_fd()
            }
        }

        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.get().as_fd()
            }
        }
    };
}
pub(crate) use owned_socket_conversions;

/// `AsRawFd`, `AsFd` and `into_std` for a stream type (`sock: Rc<Socket<_>>`).
macro_rules! stream_conversions {
    ($ty:ident, $std:ty) => {
        impl $ty {
            /// The std stream, still nonblocking (call `set_nonblocking(false)` on it for
            /// blocking use). It leaves the loop: nothing of ringloop refers to it after,
            /// and `from_std` brings it back.
            ///
            /// ```
            /// use std::io::Write;
            /// use ringloop::net::UnixStream;
            ///
            /// let (a, b) = UnixStream::pair().unwrap();
            /// let mut a = a.into_std();
            /// a.write_all(b"plain std").unwrap();
            /// let got = ringloop::run(async move {
            ///     let (n, buf) = b.read(Vec::with_capacity(16)).await;
            ///     n.map(|_| buf)
            /// });
            /// assert_eq!(got.unwrap(), b"plain std");
            /// ```
            pub fn into_std(self) -> $std {
                match std::rc::Rc::try_unwrap(self.sock) {
                    Ok(sock) => sock.into_inner(),
                    Err(_) => unreachable!("a stream owns its socket alone until split"),
                }
            }
        }

        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.sock.fd()
            }
        }

        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.sock.get().as_fd()
            }
        }
    };
}
pub(crate) use stream_conversions;

/// The I/O methods every stream type offers, forwarded to its `sock: Rc<Socket<_>>`.
/// `$setup` starts each method's example: the `use` line, `ringloop::run(async {` and
/// two connected streams `a` and `b` of the type.
macro_rules! stream_methods {
    ($setup:literal) => {
        /// Reads what is available, up to `buf`'s capacity, into `buf`; `Ok(0)` is
        /// end-of-file. The returned [`Op`] can be awaited, dropped, or
        /// [cancelled](Op::cancel) and then awaited; its output is
        /// `(io::Result<usize>, B)`, the count and the buffer. The bytes land at the
        /// buffer's start (to append, read into [`IoBuf::slice`]`(len..)`); a buffer with
        /// no capacity is refused with `InvalidInput`. See [`net`](crate::net)'s "Owned
        /// buffers".
        ///
        /// ```
        #[doc = $setup]
        ///     a.write_all(b"hello").await.0?;
        ///     let (n, buf) = b.read(Vec::with_capacity(1024)).await;
        ///     assert_eq!(&buf[..n?], b"hello");
        ///     drop(a);
        ///     let (n, _) = b.read(buf).await;
        ///     assert_eq!(n?, 0); // end-of-file
        ///     Ok::<(), std::io::Error>(())
        /// })?;
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn read<B: IoBufMut>(&self, buf: B) -> Op<'_, Recv<B>> {
            self.sock.read(buf)
        }

        /// Reads what arrives next into a buffer of the loop's, and hands that buffer
        /// out: the [`RecvBuf`](crate::net::RecvBuf) derefs to the bytes and goes back
        /// to the loop when dropped; an empty one is end-of-file. On io_uring the first
        /// call arms one multishot receive into the loop's provided-buffer ring
        /// ([`Builder::recv_buffers`](crate::Builder::recv_buffers)), so the kernel
        /// receives without a request per read and each call takes the next filled
        /// buffer; elsewhere each call reads on readiness into a spare buffer.
        ///
        /// Once a stream was read this way, keep reading it this way: a plain
        /// [`read`](Self::read) or [`read_exact`](Self::read_exact) of it panics (bytes
        /// already received would be overtaken), and so does a second `read_buffered`
        /// while one is waiting. Dropping the future loses nothing. While every buffer of
        /// the ring is held, reads go on without it. Converting the stream back with
        /// `into_std` ends the multishot, and bytes it had received but not handed out
        /// are lost, as are bytes that arrive before the loop's next turn submits its
        /// cancel (so convert a stream read this way only when its peer is quiet).
        ///
        /// ```
        #[doc = $setup]
        ///     let data = vec![7u8; 100_000];
        ///     let writer = ringloop::spawn(async move {
        ///         a.write_all(data).await.0 // dropping `a` then closes it
        ///     });
        ///     let mut total = 0;
        ///     loop {
        ///         let buf = b.read_buffered().await?;
        ///         if buf.is_empty() {
        ///             break; // end-of-file
        ///         }
        ///         assert!(buf.iter().all(|&x| x == 7));
        ///         total += buf.len();
        ///     } // each buffer goes back to the loop here
        ///     writer.await??;
        ///     assert_eq!(total, 100_000);
        ///     Ok::<(), std::io::Error>(())
        /// })?;
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub async fn read_buffered(&self) -> io::Result<crate::net::RecvBuf> {
            self.sock.read_buffered().await
        }

        /// Reads until `buf`'s whole capacity is filled (use [`IoBuf::slice`] for an
        /// exact count); `UnexpectedEof` if the peer closes first.
        ///
        /// ```
        #[doc = $setup]
        ///     a.write_all(b"LEN:5 hello").await.0?;
        ///     let (res, header) = b.read_exact(Vec::with_capacity(6)).await;
        ///     res?;
        ///     assert_eq!(header, b"LEN:5 ");
        ///     Ok::<(), std::io::Error>(())
        /// })?;
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub async fn read_exact<B: IoBufMut>(&self, buf: B) -> (io::Result<()>, B) {
            self.sock.read_exact(buf).await
        }

        /// Writes some of `buf`'s initialized bytes; returns how many, and the buffer. A
        /// peer that closed gives an error (`EPIPE` or `ECONNRESET`), never a `SIGPIPE`.
        /// Use [`write_all`](Self::write_all) to send everything.
        ///
        /// ```
        #[doc = $setup]
        ///     let (sent, msg) = a.write(b"hello".to_vec()).await;
        ///     let sent = sent?; // on a busy socket, maybe fewer than msg.len()
        ///     let (n, buf) = b.read(Vec::with_capacity(16)).await;
        ///     assert_eq!(&buf[..n?], &msg[..sent]);
        ///     Ok::<(), std::io::Error>(())
        /// })?;
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn write<B: IoBuf>(&self, buf: B) -> Op<'_, SendOp<B>> {
            self.sock.write(buf)
        }

        /// Writes all of `buf`'s initialized bytes, however many writes that takes;
        /// the buffer comes back with the result.
        ///
        /// ```
        #[doc = $setup]
        ///     let reader = ringloop::spawn(async move {
        ///         let (res, got) = b.read_exact(Vec::with_capacity(1 << 20)).await;
        ///         res.map(|()| got)
        ///     });
        ///     let (res, sent) = a.write_all(vec![7u8; 1 << 20]).await; // 1 MiB
        ///     res?;
        ///     assert_eq!(reader.await??, sent);
        ///     Ok::<(), std::io::Error>(())
        /// })?;
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub async fn write_all<B: IoBuf>(&self, buf: B) -> (io::Result<()>, B) {
            self.sock.write_all(buf).await
        }

        /// Shuts down the read, write or both directions (`Write` is a half-close: the
        /// peer sees end-of-file and can still send).
        ///
        /// ```
        #[doc = $setup]
        ///     a.shutdown(std::net::Shutdown::Write).await?;
        ///     let (n, _) = b.read(Vec::with_capacity(16)).await;
        ///     assert_eq!(n?, 0); // end-of-file; the other direction still works
        ///     b.write_all(b"bye").await.0?;
        ///     let (n, buf) = a.read(Vec::with_capacity(16)).await;
        ///     assert_eq!(&buf[..n?], b"bye");
        ///     Ok::<(), std::io::Error>(())
        /// })?;
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub async fn shutdown(&self, how: Shutdown) -> io::Result<()> {
            self.sock.shutdown(how).await
        }
    };
}
pub(crate) use stream_methods;

/// A connected stream socket (`S` is the std type, for its synchronous accessors).
///
/// Reads and writes try the syscall first when the socket was ready lately (see
/// `driver/try_first.rs`), one adaptive gate per direction.
pub(crate) struct Socket<S: AsRawFd + Into<OwnedFd>> {
    io: Option<S>,
    /// The descriptor as operations name it (its identity is this socket's).
    fd: Fd,
    read_gate: TryGate,
    write_gate: TryGate,
    /// Readiness waits of the poll-style traits (`ready.rs`).
    #[cfg(poll_io)]
    waits: super::ready::Waits,
    /// `read_buffered`'s multishot receive and its received buffers (`recv_buf.rs`).
    buffered: Buffered,
    /// Whether the socket takes zero-copy sends (TCP does, Unix sockets refuse them):
    /// asked on the first write large enough for one.
    zero_copy: std::cell::Cell<Option<bool>>,
    /// The loop whose ring holds `fd` in its registered-file table (`fd.slot`), until
    /// the socket closes or leaves (`Builder::fixed_files`).
    fixed: Option<Rc<DriverHandle>>,
}

impl<S: AsRawFd + Into<OwnedFd>> Socket<S> {
    pub(crate) fn new(io: S) -> Socket<S> {
        let fd = Fd::new(io.as_raw_fd());
        Socket::with_fd(io, fd)
    }

    /// Wraps `io`, keeping the identity `fd` under which operations already ran on it
    /// (a connect).
    pub(crate) fn with_fd(io: S, fd: Fd) -> Socket<S> {
        debug_assert_eq!(fd.raw, io.as_raw_fd());
        let (fd, fixed) = register_fixed(fd);
        Socket {
            io: Some(io),
            fd,
            fixed,
            read_gate: TryGate::new(),
            write_gate: TryGate::new(),
            #[cfg(poll_io)]
            waits: super::ready::Waits::default(),
            buffered: Buffered::default(),
            zero_copy: std::cell::Cell::new(None),
        }
    }

    /// Whether the socket takes zero-copy sends (see `zero_copy`).
    fn takes_zero_copy(&self) -> bool {
        match self.zero_copy.get() {
            Some(takes) => takes,
            None => {
                let takes = crate::sys::net::is_tcp(self.fd.raw);
                self.zero_copy.set(Some(takes));
                takes
            }
        }
    }

    pub(crate) fn get(&self) -> &S {
        self.io.as_ref().expect("socket used after close")
    }

    /// Gives the registered-file slot back, if the socket holds one.
    fn unregister_fixed(&mut self) {
        if let Some(io) = self.fixed.take() {
            io.with_driver(|d| d.unregister_fixed(self.fd));
        }
    }

    /// The std socket, taken out: this socket will not close it.
    pub(crate) fn into_inner(mut self) -> S {
        self.buffered.release();
        self.unregister_fixed();
        self.io.take().expect("socket used after close")
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.get().as_raw_fd()
    }

    #[cfg(poll_io)]
    pub(crate) fn waits(&self) -> &super::ready::Waits {
        &self.waits
    }

    /// The descriptor with this socket's identity, for operations.
    pub(crate) fn handle(&self) -> Fd {
        debug_assert!(self.io.is_some(), "socket used after close");
        self.fd
    }

    /// The `read_buffered` state (the poll-style reads check it).
    #[cfg(poll_io)]
    pub(crate) fn buffered(&self) -> &Buffered {
        &self.buffered
    }

    pub(crate) fn read<B: IoBufMut>(&self, buf: B) -> Op<'_, Recv<B>> {
        self.buffered.check_plain_read();
        let core = crate::event_loop::context::current_io("reading from a socket");
        let try_first = core.try_first_io();
        let op = Op::new(core, Recv::new(self.handle(), buf));
        if try_first {
            op.try_first(&self.read_gate)
        } else {
            op
        }
    }

    pub(crate) async fn read_buffered(&self) -> io::Result<RecvBuf> {
        self.buffered.read(self.fd(), self.handle()).await
    }

    pub(crate) fn write<B: IoBuf>(&self, buf: B) -> Op<'_, SendOp<B>> {
        let core = crate::event_loop::context::current_io("writing to a socket");
        let try_first = core.try_first_io();
        let zc = core.send_zc(buf.bytes_init()) && self.takes_zero_copy();
        let op = Op::new(core, SendOp::with_zc(self.handle(), buf, zc));
        if try_first && !zc {
            op.try_first(&self.write_gate)
        } else {
            op
        }
    }

    pub(crate) async fn read_exact<B: IoBufMut>(&self, mut buf: B) -> (io::Result<()>, B) {
        let total = buf.bytes_total();
        let mut filled = 0;
        while filled < total {
            let (res, slice) = self.read(buf.slice(filled..total)).await;
            buf = slice.into_inner();
            match res {
                Ok(0) => {
                    let eof = io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("the peer closed after {filled} of {total} bytes"),
                    );
                    return (Err(eof), buf);
                }
                Ok(n) => filled += n,
                Err(e) => return (Err(e), buf),
            }
        }
        (Ok(()), buf)
    }

    pub(crate) async fn write_all<B: IoBuf>(&self, mut buf: B) -> (io::Result<()>, B) {
        let total = buf.bytes_init();
        let mut sent = 0;
        while sent < total {
            let (res, slice) = self.write(buf.slice(sent..total)).await;
            buf = slice.into_inner();
            match res {
                Ok(0) => {
                    let e = io::Error::new(io::ErrorKind::WriteZero, "the socket took no bytes");
                    return (Err(e), buf);
                }
                Ok(n) => sent += n,
                Err(e) => return (Err(e), buf),
            }
        }
        (Ok(()), buf)
    }

    pub(crate) async fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let core = crate::event_loop::context::current_io("shutting down a socket");
        Op::new(
            core,
            crate::driver::ops::shutdown::ShutdownOp::new(self.fd(), how),
        )
        .await
    }
}

impl<S: AsRawFd + Into<OwnedFd>> Drop for Socket<S> {
    fn drop(&mut self) {
        // The multishot's cancel goes to the kernel ahead of the close, and the ring's
        // table lets go of the socket before it (else the connection would stay open).
        self.buffered.release();
        self.unregister_fixed();
        if let Some(io) = self.io.take() {
            close_soon(io.into());
        }
    }
}

/// The reading half of a stream, from [`TcpStream::into_split`](super::TcpStream::into_split)
/// or [`UnixStream::into_split`](super::UnixStream::into_split): usable from one task
/// while another writes.
///
/// ```
/// use ringloop::net::{TcpListener, TcpStream};
///
/// ringloop::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let client = TcpStream::connect(listener.local_addr()?).await?;
///     let (server, _) = listener.accept().await?;
///     let (reader, writer) = server.into_split();
///     // One task reads requests while this one writes replies.
///     let requests = ringloop::spawn(async move {
///         let (n, buf) = reader.read(Vec::with_capacity(64)).await;
///         n.map(|n| buf[..n].to_vec())
///     });
///     writer.write_all(b"welcome\n").await.0?;
///     client.write_all(b"hi").await.0?;
///     assert_eq!(requests.await??, b"hi");
///     let (n, buf) = client.read(Vec::with_capacity(64)).await;
///     assert_eq!(&buf[..n?], b"welcome\n");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct ReadHalf<S: AsRawFd + Into<OwnedFd> = std::net::TcpStream> {
    pub(crate) sock: Rc<Socket<S>>,
}

impl<S: AsRawFd + Into<OwnedFd>> ReadHalf<S> {
    /// Reads into `buf`, up to its capacity; `Ok(0)` is end-of-file. See
    /// [`TcpStream::read`](super::TcpStream::read).
    ///
    /// ```
    /// # use ringloop::net::{TcpListener, TcpStream};
    /// # ringloop::run(async {
    /// # let listener = TcpListener::bind("127.0.0.1:0")?;
    /// # let client = TcpStream::connect(listener.local_addr()?).await?;
    /// # let (server, _) = listener.accept().await?;
    /// let (reader, _writer) = server.into_split();
    /// client.write_all(b"ping").await.0?;
    /// let (n, buf) = reader.read(Vec::with_capacity(64)).await;
    /// assert_eq!(&buf[..n?], b"ping");
    /// # Ok::<(), std::io::Error>(())
    /// # })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn read<B: IoBufMut>(&self, buf: B) -> Op<'_, Recv<B>> {
        self.sock.read(buf)
    }

    /// Reads what arrives next into a buffer of the loop's; an empty one is
    /// end-of-file. See [`TcpStream::read_buffered`](super::TcpStream::read_buffered).
    ///
    /// ```
    /// # use ringloop::net::{TcpListener, TcpStream};
    /// # ringloop::run(async {
    /// # let listener = TcpListener::bind("127.0.0.1:0")?;
    /// # let client = TcpStream::connect(listener.local_addr()?).await?;
    /// # let (server, _) = listener.accept().await?;
    /// let (reader, _writer) = server.into_split();
    /// client.write_all(b"ping").await.0?;
    /// let buf = reader.read_buffered().await?;
    /// assert_eq!(&buf[..], b"ping");
    /// # Ok::<(), std::io::Error>(())
    /// # })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn read_buffered(&self) -> io::Result<RecvBuf> {
        self.sock.read_buffered().await
    }

    /// Fills `buf`'s whole capacity; `UnexpectedEof` if the peer closes first. See
    /// [`TcpStream::read_exact`](super::TcpStream::read_exact).
    ///
    /// ```
    /// # use ringloop::net::{TcpListener, TcpStream};
    /// # ringloop::run(async {
    /// # let listener = TcpListener::bind("127.0.0.1:0")?;
    /// # let client = TcpStream::connect(listener.local_addr()?).await?;
    /// # let (server, _) = listener.accept().await?;
    /// let (reader, _writer) = server.into_split();
    /// client.write_all(b"abcdef").await.0?;
    /// let (res, first) = reader.read_exact(Vec::with_capacity(4)).await;
    /// res?;
    /// assert_eq!(first, b"abcd");
    /// # Ok::<(), std::io::Error>(())
    /// # })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn read_exact<B: IoBufMut>(&self, buf: B) -> (io::Result<()>, B) {
        self.sock.read_exact(buf).await
    }
}

/// The writing half of a stream. Dropping it shuts the write direction down, so the
/// peer sees end-of-file even while the read half lives on.
///
/// ```
/// use ringloop::net::{TcpListener, TcpStream};
///
/// ringloop::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let client = TcpStream::connect(listener.local_addr()?).await?;
///     let (server, _) = listener.accept().await?;
///     let (reader, writer) = server.into_split();
///     writer.write_all(b"last words").await.0?;
///     drop(writer); // the client sees end-of-file...
///     let (res, buf) = client.read_exact(Vec::with_capacity(10)).await;
///     res?;
///     assert_eq!(buf, b"last words");
///     assert_eq!(client.read(buf).await.0?, 0);
///     client.write_all(b"still heard").await.0?; // ...and can still send
///     let (n, buf) = reader.read(Vec::with_capacity(64)).await;
///     assert_eq!(&buf[..n?], b"still heard");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct WriteHalf<S: AsRawFd + Into<OwnedFd> = std::net::TcpStream> {
    pub(crate) sock: Rc<Socket<S>>,
    pub(crate) shutdown: fn(&S),
}

impl<S: AsRawFd + Into<OwnedFd>> WriteHalf<S> {
    /// Writes some of `buf`'s initialized bytes; how many, and the buffer. See
    /// [`TcpStream::write`](super::TcpStream::write).
    ///
    /// ```
    /// # use ringloop::net::{TcpListener, TcpStream};
    /// # ringloop::run(async {
    /// # let listener = TcpListener::bind("127.0.0.1:0")?;
    /// # let client = TcpStream::connect(listener.local_addr()?).await?;
    /// # let (server, _) = listener.accept().await?;
    /// let (_reader, writer) = server.into_split();
    /// let (sent, msg) = writer.write("hello").await;
    /// let (n, buf) = client.read(Vec::with_capacity(64)).await;
    /// assert_eq!(&buf[..n?], &msg.as_bytes()[..sent?]);
    /// # Ok::<(), std::io::Error>(())
    /// # })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn write<B: IoBuf>(&self, buf: B) -> Op<'_, SendOp<B>> {
        self.sock.write(buf)
    }

    /// Writes all of `buf`'s initialized bytes. See
    /// [`TcpStream::write_all`](super::TcpStream::write_all).
    ///
    /// ```
    /// # use ringloop::net::{TcpListener, TcpStream};
    /// # ringloop::run(async {
    /// # let listener = TcpListener::bind("127.0.0.1:0")?;
    /// # let client = TcpStream::connect(listener.local_addr()?).await?;
    /// # let (server, _) = listener.accept().await?;
    /// let (_reader, writer) = server.into_split();
    /// writer.write_all(b"complete").await.0?;
    /// let (res, buf) = client.read_exact(Vec::with_capacity(8)).await;
    /// res?;
    /// assert_eq!(buf, b"complete");
    /// # Ok::<(), std::io::Error>(())
    /// # })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn write_all<B: IoBuf>(&self, buf: B) -> (io::Result<()>, B) {
        self.sock.write_all(buf).await
    }

    /// Shuts down the write direction now (the peer sees end-of-file), without waiting
    /// for the half to be dropped.
    ///
    /// ```
    /// # use ringloop::net::{TcpListener, TcpStream};
    /// # ringloop::run(async {
    /// # let listener = TcpListener::bind("127.0.0.1:0")?;
    /// # let client = TcpStream::connect(listener.local_addr()?).await?;
    /// # let (server, _) = listener.accept().await?;
    /// let (_reader, writer) = server.into_split();
    /// writer.shutdown().await?;
    /// let (n, _) = client.read(Vec::with_capacity(16)).await;
    /// assert_eq!(n?, 0);
    /// # Ok::<(), std::io::Error>(())
    /// # })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn shutdown(&self) -> io::Result<()> {
        self.sock.shutdown(Shutdown::Write).await
    }
}

impl<S: AsRawFd + Into<OwnedFd>> Drop for WriteHalf<S> {
    fn drop(&mut self) {
        (self.shutdown)(self.sock.get());
    }
}

impl<S: AsRawFd + Into<OwnedFd>> std::fmt::Debug for ReadHalf<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadHalf")
            .field("fd", &self.sock.fd())
            .finish()
    }
}

impl<S: AsRawFd + Into<OwnedFd>> std::fmt::Debug for WriteHalf<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteHalf")
            .field("fd", &self.sock.fd())
            .finish()
    }
}
