//! Sockets on the loop's ring: TCP, UDP and Unix streams with owned buffers.
//!
//! Every read and write takes its buffer by value and gives it back with the result,
//! because the kernel works on the buffer while the future is suspended:
//!
//! ```no_run
//! # ringloop::run(async {
//! use ringloop::net::TcpStream;
//! let stream = TcpStream::connect("127.0.0.1:7000").await?;
//! let (res, buf) = stream.write_all(b"ping".to_vec()).await;
//! res?;
//! let (res, buf) = stream.read(Vec::with_capacity(4096)).await;
//! println!("{:?}", &buf[..res?]);
//! # Ok::<(), std::io::Error>(())
//! # }).unwrap();
//! ```
//!
//! # Buffers
//!
//! [`IoBuf`] (for writes) and [`IoBufMut`] (for reads) are implemented for `Vec<u8>`,
//! `Box<[u8]>` and [`Slice`], a view of part of either made by [`IoBuf::slice`]. A read
//! fills the buffer's *capacity* (for a `Vec`, from its start, growing `len` to cover
//! what arrived) and returns how many bytes came; a write sends the initialized bytes
//! (a `Vec`'s `len`). A read into a buffer of capacity zero returns `Ok(0)` at once.
//!
//! # Cancellation
//!
//! Dropping a read or write future while its operation is in flight is safe: the
//! operation is cancelled and its buffer stays with the loop until the kernel lets go of
//! it. The socket stays usable, so `timeout(d, stream.read(buf))` is fine, but a read
//! that was cancelled may still have consumed bytes from the socket just before the
//! cancel took effect, and those bytes go with the dropped buffer. When that matters,
//! call [`Op::cancel`] instead of dropping, and await the [`Op`]: it yields what the
//! operation really did, with the buffer.
//!
//! Dropping a socket with operations pending cancels them; the descriptor is closed
//! through the ring, and the peer sees end-of-file once the kernel lets go of it.

#![forbid(unsafe_code)]

mod addr;
mod protocol;
#[cfg(poll_io)]
mod ready;
pub(crate) mod socket;
mod tcp;
mod udp;
mod unix;

pub use crate::driver::buf::{IoBuf, IoBufMut, Slice};
pub use crate::driver::op::Op;
pub use addr::{ToSocketAddrs, lookup_host};
pub use protocol::{Protocol, Server, Transport, create_server, serve};
pub use socket::{ReadHalf, WriteHalf};
pub use tcp::{ListenOptions, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};

/// The operations behind [`Op`], named so that an `Op` can be stored or returned.
pub mod ops {
    pub use crate::driver::ops::accept::Accept;
    pub use crate::driver::ops::connect::Connect;
    pub use crate::driver::ops::msg::{RecvMsg, SendMsg};
    pub use crate::driver::ops::recv::Recv;
    pub use crate::driver::ops::send::SendOp;
    pub use crate::driver::ops::shutdown::ShutdownOp;
}
