//! sendmsg(2) / recvmsg(2): datagrams with a peer address (UDP's and Unix datagram
//! sockets' `send_to`, `recv_from`). The operations are the same for both kinds; only
//! the address type a receive gives back differs ([`MsgAddr`]).

use std::io;
use std::marker::PhantomData;
use std::net::SocketAddr;

use crate::driver::buf::{IoBuf, IoBufMut};
use crate::driver::fd::Fd;
use crate::driver::op::{OpCode, Operation};
use crate::driver::ops::recv::checked_len;
use crate::driver::slab::Completion;
use crate::sys::net::SockAddr;

/// A message header with its one iovec and its address, in one heap allocation the
/// kernel reads (and for recvmsg writes) while the operation is in flight.
struct MsgHdr {
    msg: libc::msghdr,
    iov: libc::iovec,
    addr: SockAddr,
}

impl MsgHdr {
    fn new(addr: SockAddr) -> Box<MsgHdr> {
        Box::new(MsgHdr {
            // SAFETY: `msghdr` is plain old data; all zeroes is a valid value.
            msg: unsafe { std::mem::zeroed() },
            iov: libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            },
            addr,
        })
    }

    /// Points the header at its own iovec and address, and the iovec at `buf`.
    fn link(&mut self, buf: *mut u8, len: usize, addr_len: libc::socklen_t) -> *mut libc::msghdr {
        self.iov = libc::iovec {
            iov_base: buf.cast(),
            iov_len: len,
        };
        self.msg.msg_name = self.addr.as_mut_ptr().cast();
        self.msg.msg_namelen = addr_len;
        self.msg.msg_iov = &mut self.iov;
        self.msg.msg_iovlen = 1;
        &mut self.msg
    }
}

/// A sender's address as a receive gives it back: an IP one ([`SocketAddr`], UDP) or a
/// Unix one ([`std::os::unix::net::SocketAddr`]). Sealed: not nameable outside the crate.
#[doc(hidden)]
pub trait MsgAddr: Sized + 'static {
    /// The address the kernel wrote.
    fn from_sock(addr: &SockAddr) -> io::Result<Self>;
}

impl MsgAddr for SocketAddr {
    fn from_sock(addr: &SockAddr) -> io::Result<SocketAddr> {
        addr.as_inet()
    }
}

impl MsgAddr for std::os::unix::net::SocketAddr {
    fn from_sock(addr: &SockAddr) -> io::Result<std::os::unix::net::SocketAddr> {
        addr.as_unix()
    }
}

/// Receiving a datagram with its sender, recvmsg(2): what
/// [`UdpSocket::recv_from`](crate::net::UdpSocket::recv_from) returns, as an
/// [`Op<'_, RecvMsg<B>>`](crate::net::Op). Its output is
/// `(io::Result<(usize, A)>, B)`: the datagram's length (truncated to the buffer's
/// capacity), the sender, and the buffer. `A` is [`SocketAddr`] for UDP and
/// [`std::os::unix::net::SocketAddr`] for
/// [`UnixDatagram::recv_from`](crate::net::UnixDatagram::recv_from).
///
/// ```
/// use ringloop::net::{Op, UdpSocket, ops::RecvMsg};
///
/// fn next_datagram(socket: &UdpSocket) -> Op<'_, RecvMsg<Vec<u8>>> {
///     socket.recv_from(Vec::with_capacity(1500))
/// }
///
/// ringloop::run(async {
///     let server = UdpSocket::bind("127.0.0.1:0")?;
///     let client = UdpSocket::bind("127.0.0.1:0")?;
///     client.send_to(b"ping", server.local_addr()?).await.0?;
///     let (got, buf) = next_datagram(&server).await;
///     let (n, from) = got?;
///     assert_eq!((&buf[..n], from), (&b"ping"[..], client.local_addr()?));
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct RecvMsg<B, A = SocketAddr> {
    fd: Fd,
    buf: B,
    hdr: Box<MsgHdr>,
    addr: PhantomData<fn() -> A>,
}

impl<B: IoBufMut, A: MsgAddr> RecvMsg<B, A> {
    pub(crate) fn new(fd: Fd, buf: B) -> RecvMsg<B, A> {
        RecvMsg {
            fd,
            buf,
            hdr: MsgHdr::new(SockAddr::empty()),
            addr: PhantomData,
        }
    }
}

// SAFETY: the header, iovec and address live in `self.hdr`'s heap allocation; the data
// buffer's memory is stable across moves (`IoBufMut`'s contract).
unsafe impl<B: IoBufMut + Unpin, A: MsgAddr> Operation for RecvMsg<B, A> {
    type Output = (io::Result<(usize, A)>, B);

    fn code(&mut self) -> OpCode {
        let len = self.buf.bytes_total();
        let room = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        let msg = self.hdr.link(self.buf.stable_mut_ptr(), len, room);
        OpCode::RecvMsg { fd: self.fd, msg }
    }

    fn complete(mut self, completion: Completion) -> Self::Output {
        let n = match checked_len(completion, self.buf.bytes_total()) {
            Ok(n) => n,
            Err(e) => return (Err(e), self.buf),
        };
        // SAFETY: the kernel wrote `n` bytes, no more than the buffer holds (checked).
        unsafe { self.buf.set_init(n) };
        self.hdr.addr.len = self.hdr.msg.msg_namelen;
        let from = A::from_sock(&self.hdr.addr);
        (from.map(|addr| (n, addr)), self.buf)
    }

    fn fail(self, error: io::Error) -> Self::Output {
        (Err(error), self.buf)
    }
}

/// Sending a datagram to an address, sendmsg(2): what
/// [`UdpSocket::send_to`](crate::net::UdpSocket::send_to) returns, as an
/// [`Op<'_, SendMsg<B>>`](crate::net::Op). Its output is `(io::Result<usize>, B)`: the
/// count sent (the whole datagram) and the buffer.
///
/// ```
/// use std::net::SocketAddr;
/// use ringloop::net::{Op, UdpSocket, ops::SendMsg};
///
/// fn announce(socket: &UdpSocket, to: SocketAddr) -> Op<'_, SendMsg<&'static str>> {
///     socket.send_to("here", to)
/// }
///
/// ringloop::run(async {
///     let a = UdpSocket::bind("127.0.0.1:0")?;
///     let b = UdpSocket::bind("127.0.0.1:0")?;
///     let (sent, _) = announce(&a, b.local_addr()?).await;
///     assert_eq!(sent?, 4);
///     let (got, buf) = b.recv_from(Vec::with_capacity(64)).await;
///     assert_eq!(&buf[..got?.0], b"here");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct SendMsg<B> {
    fd: Fd,
    buf: B,
    hdr: Box<MsgHdr>,
}

impl<B: IoBuf> SendMsg<B> {
    /// Sends `buf` to `to`, an address of the socket's family.
    pub(crate) fn new(fd: Fd, buf: B, to: SockAddr) -> SendMsg<B> {
        SendMsg {
            fd,
            buf,
            hdr: MsgHdr::new(to),
        }
    }
}

// SAFETY: as for `RecvMsg`; the kernel only reads the data buffer here.
unsafe impl<B: IoBuf + Unpin> Operation for SendMsg<B> {
    type Output = (io::Result<usize>, B);

    fn code(&mut self) -> OpCode {
        let len = self.buf.bytes_init();
        let addr_len = self.hdr.addr.len;
        // The kernel never writes through the iovec of a sendmsg.
        let msg = self
            .hdr
            .link(self.buf.stable_ptr().cast_mut(), len, addr_len);
        OpCode::SendMsg { fd: self.fd, msg }
    }

    fn complete(self, completion: Completion) -> Self::Output {
        (checked_len(completion, self.buf.bytes_init()), self.buf)
    }

    fn fail(self, error: io::Error) -> Self::Output {
        (Err(error), self.buf)
    }
}

impl<B, A> std::fmt::Debug for RecvMsg<B, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvMsg")
            .field("fd", &self.fd)
            .finish_non_exhaustive()
    }
}

impl<B> std::fmt::Debug for SendMsg<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendMsg")
            .field("fd", &self.fd)
            .finish_non_exhaustive()
    }
}
