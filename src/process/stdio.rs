//! A child's piped stdio: nonblocking pipes read and written with owned buffers, waiting
//! for readiness when the pipe is empty (or full).

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use crate::driver::buf::{IoBuf, IoBufMut};
use crate::driver::fd::Fd;
use crate::driver::op::Op;
use crate::driver::ops::pipe::{read_now, write_now};
use crate::driver::ops::ready::{Interest, Ready};

/// One end of a pipe, nonblocking, closed through the ring when dropped.
struct Pipe {
    /// `None` once shut down through the traits (stdin's `poll_shutdown`).
    fd: Option<OwnedFd>,
    handle: Fd,
    /// Readiness waits of the poll-style traits.
    #[cfg(poll_io)]
    waits: crate::net::ready::Waits,
}

impl Pipe {
    fn new(fd: OwnedFd) -> io::Result<Pipe> {
        crate::sys::fs::set_nonblocking(fd.as_raw_fd())?;
        let handle = Fd::new(fd.as_raw_fd());
        Ok(Pipe {
            fd: Some(fd),
            handle,
            #[cfg(poll_io)]
            waits: Default::default(),
        })
    }

    fn raw(&self) -> RawFd {
        self.handle.raw
    }

    /// The descriptor, unless the pipe was shut down (then an error, never a number
    /// that may since name another file).
    fn open_raw(&self) -> io::Result<RawFd> {
        match self.fd {
            Some(_) => Ok(self.handle.raw),
            None => Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the child's stdin was shut down (poll_shutdown / close closed it)",
            )),
        }
    }

    async fn wait(&self, interest: Interest, what: &str) -> io::Result<()> {
        let io = crate::event_loop::context::current_io(what);
        Op::new(io, Ready::new(self.handle, interest)).await
    }

    async fn read<B: IoBufMut>(&self, mut buf: B) -> (io::Result<usize>, B) {
        if buf.bytes_total() == 0 {
            let e = io::Error::new(
                io::ErrorKind::InvalidInput,
                "read into a buffer with no capacity: `Ok(0)` would look like end of file",
            );
            return (Err(e), buf);
        }
        let fd = match self.open_raw() {
            Ok(fd) => fd,
            Err(e) => return (Err(e), buf),
        };
        loop {
            match read_now(fd, &mut buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Err(e) = self
                        .wait(Interest::Readable, "reading a child's pipe")
                        .await
                    {
                        return (Err(e), buf);
                    }
                }
                other => return (other, buf),
            }
        }
    }

    async fn write_all<B: IoBuf>(&self, mut buf: B) -> (io::Result<()>, B) {
        let fd = match self.open_raw() {
            Ok(fd) => fd,
            Err(e) => return (Err(e), buf),
        };
        let total = buf.bytes_init();
        let mut sent = 0;
        while sent < total {
            let slice = buf.slice(sent..total);
            let result = write_now(fd, &slice);
            buf = slice.into_inner();
            match result {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Err(e) = self
                        .wait(Interest::Writable, "writing a child's pipe")
                        .await
                    {
                        return (Err(e), buf);
                    }
                }
                Err(e) => return (Err(e), buf),
            }
        }
        (Ok(()), buf)
    }
}

/// The poll-style traits' side: the nonblocking syscall on the caller's buffer, a
/// readiness wait only when it would block (as for sockets, `net/ready.rs`).
#[cfg(poll_io)]
impl Pipe {
    #[cfg(feature = "futures-io")]
    fn poll_read_slice(
        &self,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<io::Result<usize>> {
        if buf.is_empty() {
            return std::task::Poll::Ready(Ok(0));
        }
        let fd = self.open_raw()?;
        self.waits.poll_read(self.handle, cx, || {
            crate::driver::ops::pipe::read_slice(fd, buf)
        })
    }

    #[cfg(feature = "tokio-io")]
    fn poll_read_buf(
        &self,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return std::task::Poll::Ready(Ok(()));
        }
        let fd = self.open_raw()?;
        self.waits.poll_read(self.handle, cx, || {
            crate::driver::ops::pipe::read_into(fd, buf).map(drop)
        })
    }

    fn poll_write_slice(
        &self,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        if buf.is_empty() {
            return std::task::Poll::Ready(Ok(0));
        }
        let fd = self.open_raw()?;
        self.waits.poll_write(self.handle, cx, || {
            crate::driver::ops::pipe::write_slice(fd, buf)
        })
    }

    /// Closes the pipe now: the child reads end of file. Later calls fail with
    /// `BrokenPipe`.
    fn shut_down(&mut self) {
        self.waits.clear();
        if let Some(fd) = self.fd.take() {
            crate::net::socket::close_soon(fd);
        }
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        if let Some(fd) = self.fd.take() {
            crate::net::socket::close_soon(fd);
        }
    }
}

/// Reading a pipe, for `Command::output`.
pub(super) trait PipeRead {
    async fn read_into(&self, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>);
}

macro_rules! read_end {
    ($name:ident, $std:ty, $what:literal) => {
        #[doc = concat!("The child's ", $what, ", piped: read with owned buffers.")]
        pub struct $name {
            pipe: Pipe,
        }

        impl $name {
            pub(super) fn new(std: $std) -> io::Result<$name> {
                Ok($name {
                    pipe: Pipe::new(OwnedFd::from(std))?,
                })
            }

            /// Reads what is available, up to `buf`'s capacity (replacing what it held);
            /// `Ok(0)` once the child closed its end (exited). Waits, without blocking
            /// the loop, while the pipe is empty.
            ///
            /// ```
            /// use ringloop::process::{Command, Stdio};
            ///
            /// ringloop::run(async {
            ///     let mut child = Command::new("echo").arg("hi").stdout(Stdio::piped()).spawn()?;
            ///     let out = child.stdout.take().unwrap();
            ///     let (n, buf) = out.read(Vec::with_capacity(64)).await;
            ///     assert_eq!(&buf[..n?], b"hi\n");
            ///     child.wait().await.map(drop)
            /// })?;
            /// # Ok::<(), std::io::Error>(())
            /// ```
            pub async fn read<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
                self.pipe.read(buf).await
            }
        }

        #[cfg(feature = "futures-io")]
        impl futures_io::AsyncRead for $name {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<io::Result<usize>> {
                self.pipe.poll_read_slice(cx, buf)
            }
        }

        #[cfg(feature = "tokio-io")]
        impl tokio::io::AsyncRead for $name {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<io::Result<()>> {
                self.pipe.poll_read_buf(cx, buf)
            }
        }

        impl PipeRead for $name {
            async fn read_into(&self, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
                self.pipe.read(buf).await
            }
        }

        impl AsRawFd for $name {
            fn as_raw_fd(&self) -> RawFd {
                self.pipe.raw()
            }
        }

        impl AsFd for $name {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.pipe.fd.as_ref().expect("an open pipe").as_fd()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("fd", &self.pipe.raw())
                    .finish()
            }
        }
    };
}

read_end!(ChildStdout, std::process::ChildStdout, "standard output");
read_end!(ChildStderr, std::process::ChildStderr, "standard error");

/// The child's standard input, piped: write with owned buffers; drop it to send end of
/// file.
///
/// ```
/// use ringloop::process::{Command, Stdio};
///
/// let out = ringloop::run(async {
///     let mut child = Command::new("sort").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
///     let stdin = child.stdin.take().unwrap();
///     stdin.write_all(b"pear\napple\n").await.0?;
///     drop(stdin); // end of file: sort can answer
///     let (n, buf) = child.stdout.take().unwrap().read(Vec::with_capacity(64)).await;
///     child.wait().await?;
///     n.map(|n| buf[..n].to_vec())
/// })?;
/// assert_eq!(out, b"apple\npear\n");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct ChildStdin {
    pipe: Pipe,
}

impl ChildStdin {
    pub(super) fn new(std: std::process::ChildStdin) -> io::Result<ChildStdin> {
        Ok(ChildStdin {
            pipe: Pipe::new(OwnedFd::from(std))?,
        })
    }

    /// Writes all of `buf`'s bytes, waiting (without blocking the loop) while the pipe
    /// is full. A child that exited makes it fail with `BrokenPipe`.
    ///
    /// ```
    /// use ringloop::process::{Command, Stdio};
    ///
    /// let out = ringloop::run(async {
    ///     let mut child = Command::new("tr").arg("a-z").arg("A-Z")
    ///         .stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
    ///     let stdin = child.stdin.take().unwrap();
    ///     let (written, _) = stdin.write_all(b"shout\n").await;
    ///     written?;
    ///     drop(stdin); // end of file: tr finishes
    ///     let (n, buf) = child.stdout.take().unwrap().read(Vec::with_capacity(64)).await;
    ///     child.wait().await?;
    ///     n.map(|n| buf[..n].to_vec())
    /// })?;
    /// assert_eq!(out, b"SHOUT\n");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn write_all<B: IoBuf>(&self, buf: B) -> (io::Result<()>, B) {
        self.pipe.write_all(buf).await
    }
}

/// Writes go straight to the pipe (nothing is buffered, so flush has nothing to do);
/// shutting down closes the pipe, and the child reads end of file.
#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncWrite for ChildStdin {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        self.pipe.poll_write_slice(cx, buf)
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        self.get_mut().pipe.shut_down();
        std::task::Poll::Ready(Ok(()))
    }
}

/// As the tokio trait: `poll_close` closes the pipe.
#[cfg(feature = "futures-io")]
impl futures_io::AsyncWrite for ChildStdin {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        self.pipe.poll_write_slice(cx, buf)
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_close(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        self.get_mut().pipe.shut_down();
        std::task::Poll::Ready(Ok(()))
    }
}

/// -1 once the pipe was shut down through the I/O traits (it is closed then).
impl AsRawFd for ChildStdin {
    fn as_raw_fd(&self) -> RawFd {
        self.pipe.open_raw().unwrap_or(-1)
    }
}

/// # Panics
///
/// Once the pipe was shut down through the I/O traits (it is closed then).
impl AsFd for ChildStdin {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.pipe
            .fd
            .as_ref()
            .expect("ChildStdin::as_fd: the pipe was shut down (poll_shutdown closed it)")
            .as_fd()
    }
}

impl fmt::Debug for ChildStdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildStdin")
            .field("fd", &self.pipe.raw())
            .finish()
    }
}
