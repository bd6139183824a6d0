//! Bridges to the Rust async ecosystem, each behind a feature.
//!
//! - `tokio-io`: [`TcpStream`](crate::net::TcpStream), [`UnixStream`](crate::net::UnixStream)
//!   and their halves implement `tokio::io::AsyncRead` and `AsyncWrite`, so hyper,
//!   tokio-util codecs and tokio-rustls run over ringloop sockets;
//! - `futures-io`: the same with `futures_io::AsyncRead` and `AsyncWrite`;
//! - `hyper` (implies `tokio-io`): `HyperExecutor` and `HyperTimer`, hyper 1.x's
//!   `rt::Executor` (for `!Send` futures: HTTP/2 on ringloop streams) and `rt::Timer`.
//!   With hyper-util's `TokioIo` over a ringloop stream, hyper's HTTP/1.1 and HTTP/2
//!   clients and servers (and what is built on them: axum's `Router` through
//!   hyper-util's `TowerToHyperService`, TLS through tokio-rustls) run on the loop.
//!
//! The I/O traits run the nonblocking syscall on the caller's buffer and wait for
//! readiness only when it would block (see `net/ready.rs`): nothing the kernel may
//! write into outlives a poll, so an abandoned poll is always safe. Reads and writes
//! through these traits and the owned-buffer methods may be mixed on one socket, one
//! at a time per direction.
//!
//! Generic code (hyper, codecs, TLS) calls the traits' `poll_*` methods and needs
//! nothing more. Calling an extension trait's method by name needs its path, because a
//! stream's own owned-buffer methods of the same names (`read`, `read_exact`,
//! `write_all`, `shutdown`) come first in method lookup:
//!
//! ```
//! # #[cfg(feature = "tokio-io")]
//! # fn main() {
//! use ringloop::net::UnixStream;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! ringloop::run(async {
//!     let (mut a, mut b) = UnixStream::pair().unwrap();
//!     AsyncWriteExt::write_all(&mut a, b"hello").await.unwrap();
//!     let mut got = [0u8; 5];
//!     AsyncReadExt::read_exact(&mut b, &mut got).await.unwrap();
//!     assert_eq!(&got, b"hello");
//! });
//! # }
//! # #[cfg(not(feature = "tokio-io"))]
//! # fn main() {}
//! ```

#[cfg(feature = "futures-io")]
mod futures_io;
#[cfg(feature = "hyper")]
mod hyper;
#[cfg(feature = "tokio-io")]
mod tokio_io;

#[cfg(feature = "hyper")]
pub use self::hyper::{HyperExecutor, HyperTimer};
