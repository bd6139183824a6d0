//! What a loop has done so far, as counters.

/// Counters describing what a loop has done. See [`EventLoop::stats`](crate::EventLoop::stats).
///
/// ```
/// use ringloop::EventLoop;
///
/// let lp = EventLoop::new()?;
/// lp.run_until_complete(async {
///     ringloop::spawn(async { ringloop::sleep(std::time::Duration::from_millis(1)).await })
///         .await
///         .unwrap();
/// });
/// let stats = lp.stats();
/// assert!(stats.tasks_spawned >= 1 && stats.iterations >= 1);
/// assert_eq!(stats.tasks_live, 0); // nothing left running
/// println!("{stats:?}");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Loop iterations run.
    pub iterations: u64,
    /// Tasks spawned.
    pub tasks_spawned: u64,
    /// Task polls (a task's future polled once counts one).
    pub tasks_polled: u64,
    /// Tasks whose future is still alive.
    pub tasks_live: usize,
    /// Timers pending (sleeps, timeouts, `call_later`).
    pub timers_pending: usize,
    /// `io_uring_enter` calls made.
    pub io_uring_enters: u64,
    /// SQEs the kernel accepted, over all enters.
    pub sqes_submitted: u64,
    /// I/O operations submitted and not yet completed, including ones whose future was
    /// dropped (still cancelling) and the closes of dropped sockets, which complete in
    /// the loop's next iteration.
    pub ops_in_flight: usize,
    /// Operations whose future is gone but whose memory is held until the kernel is done.
    pub buffers_held: usize,
    /// Completions the kernel reported for no operation of this loop (an unknown, stale
    /// or duplicated one): counted and ignored.
    pub stray_completions: u64,
    /// Accepts submitted: accept SQEs, single-shot or multishot (io_uring), or accept(2)
    /// attempts (epoll). A multishot accept counts once however many connections it
    /// delivers.
    pub accepts_submitted: u64,
    /// Stream sockets holding a slot of the ring's registered-file table now
    /// ([`Builder::fixed_files`](crate::Builder::fixed_files); always 0 without it, and
    /// on epoll).
    pub fixed_files: usize,
    /// Jobs the blocking pool started ([`spawn_blocking`], name lookups).
    ///
    /// [`spawn_blocking`]: crate::spawn_blocking
    pub blocking_jobs: u64,
    /// Blocking-pool threads alive now (busy or idle).
    pub blocking_threads: usize,
}
