//! The runtime seam: [`Rt`], what a workload and the echo server need from a runtime,
//! and its three implementations: ringloop on io_uring, ringloop on epoll ([`Ringloop`])
//! and tokio's current-thread runtime with a `LocalSet` ([`Tokio`]).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ringloop::Backend;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Runtime {
    IoUring,
    Epoll,
    Tokio,
}

pub(crate) const RUNTIMES: [Runtime; 3] = [Runtime::IoUring, Runtime::Epoll, Runtime::Tokio];

impl Runtime {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Runtime::IoUring => "ringloop-io_uring",
            Runtime::Epoll => "ringloop-epoll",
            Runtime::Tokio => "tokio",
        }
    }

    /// The label in ratio and counter column headers.
    pub(crate) fn short(self) -> &'static str {
        match self {
            Runtime::IoUring => "io_uring",
            Runtime::Epoll => "epoll",
            Runtime::Tokio => "tokio",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Runtime::IoUring => 0,
            Runtime::Epoll => 1,
            Runtime::Tokio => 2,
        }
    }

    /// The ringloop backend, or `None` for tokio.
    pub(crate) fn backend(self) -> Option<Backend> {
        match self {
            Runtime::IoUring => Some(Backend::IoUring),
            Runtime::Epoll => Some(Backend::Epoll),
            Runtime::Tokio => None,
        }
    }

    /// Chart colour.
    pub(crate) fn colour(self) -> &'static str {
        match self {
            Runtime::IoUring => "#d1495b",
            Runtime::Epoll => "#edae49",
            Runtime::Tokio => "#00798c",
        }
    }
}

/// What a workload and the echo server need from a runtime. Static methods are called
/// from inside a running loop.
pub(crate) trait Rt: Sized + 'static {
    type Listener: 'static;
    type Stream: 'static;
    /// Stops [`Rt::run_until_stopped`] from another thread.
    type Stopper: Clone + Send + Sync + 'static;

    fn block_on<F: Future>(&self, future: F) -> F::Output;

    /// Spawns on the running loop; the returned future yields the task's output.
    fn spawn<F>(future: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static;

    fn spawn_detached<F: Future<Output = ()> + 'static>(future: F);

    fn yield_now() -> impl Future<Output = ()>;

    fn sleep(duration: Duration) -> impl Future<Output = ()>;

    /// `Some(output)` when `future` finished in time.
    fn timeout<F: Future>(duration: Duration, future: F)
    -> impl Future<Output = Option<F::Output>>;

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

pub(crate) struct Ringloop {
    lp: ringloop::EventLoop,
}

impl Ringloop {
    pub(crate) fn new(backend: Backend) -> io::Result<Ringloop> {
        let lp = ringloop::EventLoop::builder().backend(backend).build()?;
        Ok(Ringloop { lp })
    }
}

impl Rt for Ringloop {
    type Listener = ringloop::net::TcpListener;
    type Stream = ringloop::net::TcpStream;
    type Stopper = ringloop::Remote;

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.lp.run_until_complete(future)
    }

    fn spawn<F>(future: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let task = ringloop::spawn(future);
        async move { task.await.expect("ringloop task failed") }
    }

    fn spawn_detached<F: Future<Output = ()> + 'static>(future: F) {
        drop(ringloop::spawn(future));
    }

    fn yield_now() -> impl Future<Output = ()> {
        ringloop::yield_now()
    }

    fn sleep(duration: Duration) -> impl Future<Output = ()> {
        ringloop::sleep(duration)
    }

    async fn timeout<F: Future>(duration: Duration, future: F) -> Option<F::Output> {
        ringloop::timeout(duration, future).await.ok()
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

pub(crate) struct Tokio {
    rt: tokio::runtime::Runtime,
    local: tokio::task::LocalSet,
    stop: Arc<tokio::sync::Notify>,
}

impl Tokio {
    pub(crate) fn new() -> io::Result<Tokio> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Tokio {
            rt,
            local: tokio::task::LocalSet::new(),
            stop: Arc::new(tokio::sync::Notify::new()),
        })
    }
}

impl Rt for Tokio {
    type Listener = tokio::net::TcpListener;
    type Stream = tokio::net::TcpStream;
    type Stopper = Arc<tokio::sync::Notify>;

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.local.block_on(&self.rt, future)
    }

    fn spawn<F>(future: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let task = tokio::task::spawn_local(future);
        async move { task.await.expect("tokio task failed") }
    }

    fn spawn_detached<F: Future<Output = ()> + 'static>(future: F) {
        drop(tokio::task::spawn_local(future));
    }

    fn yield_now() -> impl Future<Output = ()> {
        tokio::task::yield_now()
    }

    fn sleep(duration: Duration) -> impl Future<Output = ()> {
        tokio::time::sleep(duration)
    }

    async fn timeout<F: Future>(duration: Duration, future: F) -> Option<F::Output> {
        tokio::time::timeout(duration, future).await.ok()
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
    match runtime.backend() {
        Some(backend) => match Ringloop::new(backend) {
            Ok(rt) => Ok(rt.lp.backend_description()),
            Err(e) => Err(e.to_string()),
        },
        None => match Tokio::new() {
            Ok(_) => Ok("current_thread runtime + LocalSet (epoll through mio)".to_string()),
            Err(e) => Err(e.to_string()),
        },
    }
}
