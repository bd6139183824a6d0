//! `LoopPool`: one loop per thread, for one loop per core.
//!
//! A server that wants every core runs a loop on each, all serving the same port: each
//! loop binds its own listener with [`ListenOptions::reuse_port`] and the kernel spreads
//! the connections among them. Nothing is shared between the loops; what one loop must
//! ask of another goes through [`Remote::spawn`] (work with a result) or
//! [`Remote::call_soon_threadsafe`] (a callback).
//!
//! [`ListenOptions::reuse_port`]: crate::net::ListenOptions::reuse_port

#![forbid(unsafe_code)]

use std::fmt;
use std::future::Future;
use std::io;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use crate::event_loop::{Builder, EventLoop, Remote};
use crate::task::TaskError;

/// Builds a [`LoopPool`].
///
/// ```
/// use ringloop::{Backend, EventLoop, LoopPool};
///
/// let mut loops = EventLoop::builder();
/// loops.backend(Backend::Auto).ring_entries(1024);
/// let pool = LoopPool::builder().threads(2).loops(loops).build()?;
/// assert_eq!(pool.len(), 2);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct LoopPoolBuilder {
    threads: usize,
    pin_cpus: bool,
    loops: Builder,
}

impl LoopPoolBuilder {
    /// How many loops (threads) to run (default: one per CPU this process may use).
    ///
    /// ```
    /// let pool = ringloop::LoopPool::builder().threads(3).build()?;
    /// assert_eq!(pool.run_each(|i| async move { i }), [0, 1, 2]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn threads(&mut self, n: usize) -> &mut Self {
        self.threads = n;
        self
    }

    /// Pins loop `i` to CPU `i` (modulo the CPU count), so each loop keeps its core's
    /// caches (default off).
    ///
    /// ```
    /// // One loop per core, each staying on its core.
    /// let cores = std::thread::available_parallelism()?.get();
    /// let pool = ringloop::LoopPool::builder().threads(cores).pin_cpus(true).build()?;
    /// assert_eq!(pool.len(), cores);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn pin_cpus(&mut self, on: bool) -> &mut Self {
        self.pin_cpus = on;
        self
    }

    /// The settings every loop is built with (default: [`EventLoop::builder`]'s).
    ///
    /// ```
    /// use ringloop::{EventLoop, LoopPool};
    ///
    /// let mut each = EventLoop::builder();
    /// each.blocking_threads(4); // every loop gets a small blocking pool
    /// let pool = LoopPool::builder().threads(2).loops(each).build()?;
    /// let sums = pool.run_each(|i| async move {
    ///     ringloop::spawn_blocking(move || i * 10).await.unwrap()
    /// });
    /// assert_eq!(sums, [0, 10]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn loops(&mut self, builder: Builder) -> &mut Self {
        self.loops = builder;
        self
    }

    /// Starts the threads and builds a loop on each.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for zero threads; otherwise the first error a thread met building
    /// its loop, pinning itself, or being spawned (the loops already started are stopped
    /// and joined first).
    ///
    /// ```
    /// use ringloop::LoopPool;
    ///
    /// let pool = LoopPool::builder().threads(2).build()?; // two threads, each running a loop
    /// assert_eq!(pool.len(), 2);
    /// let err = LoopPool::builder().threads(0).build().unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn build(&self) -> io::Result<LoopPool> {
        if self.threads == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "LoopPool needs at least one thread",
            ));
        }
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut pool = LoopPool {
            remotes: Vec::with_capacity(self.threads),
            threads: Vec::with_capacity(self.threads),
        };
        for index in 0..self.threads {
            let (started, ready) = mpsc::channel::<io::Result<Remote>>();
            let builder = self.loops.clone();
            let pin = self.pin_cpus.then_some(index % cpus);
            let thread = std::thread::Builder::new()
                .name(format!("ringloop-pool-{index}"))
                .spawn(move || {
                    let built = pin
                        .map_or(Ok(()), crate::sys::pin_to_cpu)
                        .and_then(|()| builder.build());
                    match built {
                        Ok(lp) => {
                            let _ = started.send(Ok(lp.remote()));
                            lp.run_forever();
                        }
                        Err(e) => {
                            let _ = started.send(Err(e));
                        }
                    }
                })?;
            pool.threads.push(thread);
            match ready.recv() {
                Ok(Ok(remote)) => pool.remotes.push(remote),
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(io::Error::other("a pool thread died starting its loop")),
            }
        }
        Ok(pool)
    }
}

/// One event loop per thread: a server's way to use every core.
///
/// Each loop runs on its own thread until the pool is dropped. [`run_each`] runs the
/// same async function on every loop at once and collects the results by index;
/// [`remote`] reaches one loop.
///
/// ```no_run
/// use ringloop::LoopPool;
/// use ringloop::net::{ListenOptions, TcpListener};
///
/// let pool = LoopPool::builder().threads(2).pin_cpus(true).build()?;
/// // Every loop serves the same port: the kernel spreads the connections.
/// let served = pool.run_each(|index| async move {
///     let options = ListenOptions::new().reuse_port(true);
///     let listener = TcpListener::bind_with("127.0.0.1:8080", options).unwrap();
///     let (stream, _) = listener.accept().await.unwrap();
///     stream.write_all(format!("served by loop {index}\n").into_bytes()).await.0.unwrap();
///     index
/// });
/// assert_eq!(served, [0, 1]);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// [`run_each`]: LoopPool::run_each
/// [`remote`]: LoopPool::remote
pub struct LoopPool {
    remotes: Vec<Remote>,
    threads: Vec<JoinHandle<()>>,
}

impl LoopPool {
    /// A builder with one thread per CPU, unpinned.
    ///
    /// ```
    /// let pool = ringloop::LoopPool::builder().build()?; // one loop per CPU
    /// assert_eq!(pool.len(), std::thread::available_parallelism()?.get());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn builder() -> LoopPoolBuilder {
        LoopPoolBuilder {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            pin_cpus: false,
            loops: EventLoop::builder(),
        }
    }

    /// Runs `f(index)`'s future on every loop, concurrently (each on its own thread), and
    /// blocks until all have finished; their results, by loop index.
    ///
    /// `f` is shared by the threads (`Send + Sync`); the future it makes runs on its
    /// loop's thread and need not be `Send`.
    ///
    /// # Panics
    ///
    /// When called on a thread running a ringloop loop (it blocks; use [`remote`] and
    /// [`Remote::spawn`] and await there instead). A panic in one of the futures is
    /// resumed here, after every loop's future has finished.
    ///
    /// ```
    /// let pool = ringloop::LoopPool::builder().threads(2).build()?;
    /// let squares = pool.run_each(|i| async move { i * i });
    /// assert_eq!(squares, [0, 1]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// [`remote`]: LoopPool::remote
    pub fn run_each<F, Fut>(&self, f: F) -> Vec<Fut::Output>
    where
        F: Fn(usize) -> Fut + Send + Sync + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        let f = Arc::new(f);
        let tasks: Vec<_> = self
            .remotes
            .iter()
            .enumerate()
            .map(|(index, remote)| {
                let f = f.clone();
                remote.spawn(move || f(index))
            })
            .collect();
        let results: Vec<_> = tasks.into_iter().map(|task| task.join()).collect();
        results
            .into_iter()
            .enumerate()
            .map(|(index, result)| match result {
                Ok(value) => value,
                Err(TaskError::Panicked(payload)) => std::panic::resume_unwind(payload),
                Err(TaskError::Cancelled) => {
                    panic!("LoopPool::run_each: loop {index} closed before its future finished")
                }
            })
            .collect()
    }

    /// The handle of loop `index`.
    ///
    /// # Panics
    ///
    /// When `index >= self.len()`.
    ///
    /// ```
    /// let pool = ringloop::LoopPool::builder().threads(2).build()?;
    /// // Work for loop 1 only, from this plain thread.
    /// let task = pool.remote(1).spawn(|| async { std::thread::current().name().map(String::from) });
    /// assert_eq!(task.join().unwrap().as_deref(), Some("ringloop-pool-1"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn remote(&self, index: usize) -> Remote {
        self.remotes[index].clone()
    }

    /// How many loops the pool runs.
    ///
    /// ```
    /// let pool = ringloop::LoopPool::builder().threads(2).build()?;
    /// for i in 0..pool.len() {
    ///     pool.remote(i).call_soon_threadsafe(move || println!("hello from loop {i}")).unwrap();
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.remotes.len()
    }

    /// Whether the pool runs no loop (never, once built).
    ///
    /// ```
    /// let pool = ringloop::LoopPool::builder().threads(1).build()?;
    /// assert!(!pool.is_empty()); // a built pool always runs a loop
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.remotes.is_empty()
    }
}

impl Drop for LoopPool {
    /// Stops every loop and joins its thread (each loop closes: its tasks are cancelled,
    /// its I/O drained).
    fn drop(&mut self) {
        for remote in &self.remotes {
            remote.stop();
        }
        for thread in self.threads.drain(..) {
            if thread.join().is_err() {
                log::error!("ringloop: a LoopPool thread panicked");
            }
        }
    }
}

impl fmt::Debug for LoopPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopPool")
            .field("loops", &self.remotes.len())
            .finish()
    }
}
