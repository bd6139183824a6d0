//! The runtimes: [`Runtime`], the four the bench names (monoio only in the core
//! workloads), and [`Rt`], what the echo and HTTP servers need from a runtime on top of
//! the workloads' [`Exec`], with its implementations for ringloop on io_uring and on
//! epoll ([`Ringloop`]) and tokio's current-thread runtime with a `LocalSet` ([`Tokio`]).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use ringloop::Backend;

pub(crate) use crate::workloads::{Exec, Monoio, Ringloop, Tokio};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Runtime {
    IoUring,
    Epoll,
    Tokio,
    /// monoio on its io_uring driver: a peer in the core workloads only.
    Monoio,
}

/// The runtimes of every part but the core workloads.
pub(crate) const RUNTIMES: [Runtime; 3] = [Runtime::IoUring, Runtime::Epoll, Runtime::Tokio];

/// [`RUNTIMES`] in the order of round `round`: rotated by one each round, so over as many
/// rounds as runtimes each runs in every position once (the runtime measured right
/// after another inherits its leftovers: its writeback, its threads' caches).
pub(crate) fn rotated(round: usize) -> [Runtime; 3] {
    let mut order = RUNTIMES;
    order.rotate_left(round % RUNTIMES.len());
    order
}

/// The runtimes of the core workloads: [`RUNTIMES`] and monoio.
pub(crate) const CORE_RUNTIMES: [Runtime; 4] = [
    Runtime::IoUring,
    Runtime::Epoll,
    Runtime::Tokio,
    Runtime::Monoio,
];

/// Whether each runtime of [`CORE_RUNTIMES`] can be built here, by [`Runtime::index`].
pub(crate) type Available = [bool; 4];

impl Runtime {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Runtime::IoUring => "ringloop-io_uring",
            Runtime::Epoll => "ringloop-epoll",
            Runtime::Tokio => "tokio",
            Runtime::Monoio => "monoio",
        }
    }

    /// The label in ratio and counter column headers.
    pub(crate) fn short(self) -> &'static str {
        match self {
            Runtime::IoUring => "io_uring",
            Runtime::Epoll => "epoll",
            Runtime::Tokio => "tokio",
            Runtime::Monoio => "monoio",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Runtime::IoUring => 0,
            Runtime::Epoll => 1,
            Runtime::Tokio => 2,
            Runtime::Monoio => 3,
        }
    }

    /// The ringloop backend, or `None` for tokio and monoio (the parts that match on it
    /// run [`RUNTIMES`], where `None` is tokio).
    pub(crate) fn backend(self) -> Option<Backend> {
        match self {
            Runtime::IoUring => Some(Backend::IoUring),
            Runtime::Epoll => Some(Backend::Epoll),
            Runtime::Tokio | Runtime::Monoio => None,
        }
    }

    /// Chart colour.
    pub(crate) fn colour(self) -> &'static str {
        match self {
            Runtime::IoUring => "#d1495b",
            Runtime::Epoll => "#edae49",
            Runtime::Tokio => "#00798c",
            Runtime::Monoio => "#66a61e",
        }
    }
}

/// What the echo and HTTP servers need from a runtime besides [`Exec`]. Static methods
/// are called from inside a running loop.
pub(crate) trait Rt: Exec {
    type Listener: 'static;
    type Stream: 'static;
    /// Stops [`Rt::run_until_stopped`] from another thread.
    type Stopper: Clone + Send + Sync + 'static;

    fn spawn_detached<F: Future<Output = ()> + 'static>(future: F);

    /// Runs spawned tasks until [`Rt::stop`]; can be called again after.
    fn run_until_stopped(&self);

    fn stopper(&self) -> Self::Stopper;

    fn stop(stopper: &Self::Stopper);

    /// The loop's counters, where the runtime has them.
    fn stats(&self) -> Option<ringloop::Stats>;

    fn bind() -> io::Result<Self::Listener>;

    fn local_addr(listener: &Self::Listener) -> io::Result<SocketAddr>;

    /// Accepts a connection and sets `TCP_NODELAY` on it.
    fn accept(listener: &Self::Listener) -> impl Future<Output = io::Result<Self::Stream>>;

    /// Reads what is there, up to `buf.len()`.
    fn read(
        stream: &mut Self::Stream,
        buf: Box<[u8]>,
    ) -> impl Future<Output = (io::Result<usize>, Box<[u8]>)>;

    /// Writes all of `buf[..len]`.
    fn write_all(
        stream: &mut Self::Stream,
        buf: Box<[u8]>,
        len: usize,
    ) -> impl Future<Output = (io::Result<()>, Box<[u8]>)>;
}

impl Rt for Ringloop {
    type Listener = ringloop::net::TcpListener;
    type Stream = ringloop::net::TcpStream;
    type Stopper = ringloop::Remote;

    fn spawn_detached<F: Future<Output = ()> + 'static>(future: F) {
        drop(ringloop::spawn(future));
    }

    fn run_until_stopped(&self) {
        self.lp.run_forever();
    }

    fn stopper(&self) -> ringloop::Remote {
        self.lp.remote()
    }

    fn stop(stopper: &ringloop::Remote) {
        stopper.stop();
    }

    fn stats(&self) -> Option<ringloop::Stats> {
        Some(self.lp.stats())
    }

    fn bind() -> io::Result<Self::Listener> {
        ringloop::net::TcpListener::bind("127.0.0.1:0")
    }

    fn local_addr(listener: &Self::Listener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    async fn accept(listener: &Self::Listener) -> io::Result<Self::Stream> {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    async fn read(stream: &mut Self::Stream, buf: Box<[u8]>) -> (io::Result<usize>, Box<[u8]>) {
        stream.read(buf).await
    }

    async fn write_all(
        stream: &mut Self::Stream,
        buf: Box<[u8]>,
        len: usize,
    ) -> (io::Result<()>, Box<[u8]>) {
        use ringloop::net::IoBuf;
        let (res, view) = stream.write_all(buf.slice(..len)).await;
        (res, view.into_inner())
    }
}

impl Rt for Tokio {
    type Listener = tokio::net::TcpListener;
    type Stream = tokio::net::TcpStream;
    type Stopper = Arc<tokio::sync::Notify>;

    fn spawn_detached<F: Future<Output = ()> + 'static>(future: F) {
        drop(tokio::task::spawn_local(future));
    }

    fn run_until_stopped(&self) {
        // `notify_one` before the wait leaves a permit, so a stop is never lost.
        self.block_on(self.stop.notified());
    }

    fn stopper(&self) -> Self::Stopper {
        self.stop.clone()
    }

    fn stop(stopper: &Self::Stopper) {
        stopper.notify_one();
    }

    fn stats(&self) -> Option<ringloop::Stats> {
        None
    }

    fn bind() -> io::Result<Self::Listener> {
        // ringloop's listeners' backlog (std's is 128), so that a load generator opening
        // its connections all at once (wrk) meets the same accept queue on every server.
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        socket.listen(1024)
    }

    fn local_addr(listener: &Self::Listener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    async fn accept(listener: &Self::Listener) -> io::Result<Self::Stream> {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    async fn read(stream: &mut Self::Stream, mut buf: Box<[u8]>) -> (io::Result<usize>, Box<[u8]>) {
        use tokio::io::AsyncReadExt;
        let res = stream.read(&mut buf).await;
        (res, buf)
    }

    async fn write_all(
        stream: &mut Self::Stream,
        buf: Box<[u8]>,
        len: usize,
    ) -> (io::Result<()>, Box<[u8]>) {
        use tokio::io::AsyncWriteExt;
        let res = stream.write_all(&buf[..len]).await;
        (res, buf)
    }
}

/// One line per runtime: what it runs on, or why it cannot be built here.
pub(crate) fn probe(runtime: Runtime) -> Result<String, String> {
    match runtime {
        Runtime::IoUring | Runtime::Epoll => {
            let backend = runtime.backend().expect("a ringloop runtime");
            Ringloop::new(backend)
                .map(|rt| rt.lp.backend_description())
                .map_err(|e| e.to_string())
        }
        Runtime::Tokio => Tokio::new()
            .map(|_| "current_thread runtime + LocalSet (epoll through mio)".to_string())
            .map_err(|e| e.to_string()),
        Runtime::Monoio => Monoio::new()
            .map(|_| "monoio 0.2, io_uring driver with timers (`RuntimeBuilder::<IoUringDriver>::enable_timer`)".to_string())
            .map_err(|e| e.to_string()),
    }
}
