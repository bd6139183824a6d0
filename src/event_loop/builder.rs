//! Building a loop with non-default settings.

#![forbid(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "fault-injection")]
use crate::driver::fault::{FaultDriver, FaultPlan};
use crate::driver::handle::DriverHandle;
use crate::driver::{self, Backend, DriverConfig};
use crate::task::blocking::BlockingPool;
use crate::task::remote::Shared;
use crate::task::scheduler::Scheduler;
use crate::time::timers::Timers;

use super::{Core, EventLoop};

/// Builds an [`EventLoop`] with non-default settings.
///
/// ```
/// use ringloop::{Backend, EventLoop};
///
/// let lp = EventLoop::builder()
///     .backend(Backend::Auto)
///     .ring_entries(1024)
///     .blocking_threads(8)
///     .build()?;
/// assert_eq!(lp.run_until_complete(async { 6 * 7 }), 42);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    backend: Backend,
    ring_entries: u32,
    force_timeout_sqe: bool,
    #[cfg(feature = "fault-injection")]
    fault: Option<(u64, FaultPlan)>,
    eager_tasks: bool,
    try_first_io: Option<bool>,
    recv_buffers: u16,
    recv_buffer_size: u32,
    remote_queue_limit: usize,
    blocking_threads: usize,
    slow_callback_duration: Option<Duration>,
    timer_slack: Duration,
    busy_poll: Duration,
    remote_spin: Duration,
    send_zc: Option<u32>,
    sqpoll: Option<Duration>,
    fixed_files: u32,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            backend: Backend::Auto,
            ring_entries: 256,
            force_timeout_sqe: false,
            #[cfg(feature = "fault-injection")]
            fault: None,
            eager_tasks: false,
            try_first_io: None,
            recv_buffers: 256,
            recv_buffer_size: 16 * 1024,
            remote_queue_limit: usize::MAX,
            blocking_threads: crate::task::blocking::DEFAULT_THREADS,
            slow_callback_duration: None,
            timer_slack: crate::time::DEFAULT_SLACK,
            busy_poll: Duration::ZERO,
            remote_spin: DEFAULT_REMOTE_SPIN,
            send_zc: None,
            sqpoll: None,
            fixed_files: 0,
        }
    }
}

impl Builder {
    /// Which I/O backend to use (default [`Backend::Auto`]).
    ///
    /// ```
    /// use ringloop::{Backend, EventLoop};
    ///
    /// // epoll works on every Linux: e.g. for a sandbox that forbids io_uring.
    /// let lp = EventLoop::builder().backend(Backend::Epoll).build()?;
    /// assert_eq!(lp.backend(), Backend::Epoll);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn backend(&mut self, backend: Backend) -> &mut Self {
        self.backend = backend;
        self
    }

    /// Submission queue entries of the io_uring ring (default 256; the kernel rounds up
    /// to a power of two, and more than 32768, the kernel's most, is taken as 32768). A
    /// full queue is submitted and refilled, never an error.
    ///
    /// ```
    /// // A deeper queue for a loop that submits many operations per iteration.
    /// let lp = ringloop::EventLoop::builder().ring_entries(4096).build()?;
    /// # drop(lp);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn ring_entries(&mut self, entries: u32) -> &mut Self {
        self.ring_entries = entries;
        self
    }

    /// Makes every spawn eager (default off): [`EventLoop::spawn`] and
    /// [`spawn`](crate::spawn) behave like [`EventLoop::spawn_eager`], as with Python
    /// 3.12's `loop.set_task_factory(asyncio.eager_task_factory)`.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    ///
    /// let lp = ringloop::EventLoop::builder().eager_tasks(true).build()?;
    /// let order = lp.run_until_complete(async {
    ///     let log = Rc::new(RefCell::new(Vec::new()));
    ///     let task = ringloop::spawn({
    ///         let log = log.clone();
    ///         async move { log.borrow_mut().push("task's first step") }
    ///     });
    ///     log.borrow_mut().push("after spawn");
    ///     task.await.unwrap();
    ///     log.take()
    /// });
    /// assert_eq!(order, ["task's first step", "after spawn"]); // lazily: the other way round
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn eager_tasks(&mut self, on: bool) -> &mut Self {
        self.eager_tasks = on;
        self
    }

    /// Whether stream reads and writes try the nonblocking syscall on their first poll,
    /// before submitting to the backend, when the socket was ready lately (default on,
    /// off under fault injection; when not set here, env `RINGLOOP_TRY_FIRST=0` turns it
    /// off, for comparisons).
    ///
    /// A read or write that finds the socket ready completes within that first poll,
    /// with exactly the result a submitted operation would give; one that finds it not
    /// ready is submitted as usual, and the socket's next few operations skip the try
    /// (adaptive, per socket and direction, backing off to one try in 17). At most 16
    /// operations per socket and direction complete this way per loop iteration, so a
    /// task reading a socket that always has data still suspends regularly.
    ///
    /// ```
    /// use ringloop::net::UnixStream;
    ///
    /// // Every read and write is submitted to the backend (to compare, or to test that path).
    /// let lp = ringloop::EventLoop::builder().try_first_io(false).build()?;
    /// lp.run_until_complete(async {
    ///     let (a, b) = UnixStream::pair()?;
    ///     a.write_all(b"submitted").await.0?;
    ///     let (n, buf) = b.read(Vec::with_capacity(16)).await;
    ///     assert_eq!(&buf[..n?], b"submitted");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_first_io(&mut self, on: bool) -> &mut Self {
        self.try_first_io = Some(on);
        self
    }

    /// Makes the io_uring backend bound its waits with a timeout SQE instead of
    /// `IORING_ENTER_EXT_ARG`, as it does on kernels older than 5.11 (default off): for
    /// testing a service on that path without an old kernel. Needs the
    /// `fault-injection` feature.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let lp = ringloop::EventLoop::builder().force_timeout_sqe(true).build().unwrap();
    /// lp.run_until_complete(ringloop::sleep(Duration::from_millis(1)));
    /// ```
    #[cfg(feature = "fault-injection")]
    pub fn force_timeout_sqe(&mut self, on: bool) -> &mut Self {
        self.force_timeout_sqe = on;
        self
    }

    /// Runs the loop on a fault-injecting wrapper around the chosen backend: what the
    /// kernel reports is perturbed as `plan` says (failed waits, delayed, reordered and
    /// duplicated completions, stray completions, short reads and writes, operations
    /// failing with `EINTR`, `EAGAIN` or `ENOBUFS`, a failed setup), with every decision
    /// drawn from a PRNG seeded with `seed`, so a failing run can be replayed with its
    /// seed. Needs the `fault-injection` feature; see [`FaultPlan`] for what each fault
    /// means to a service and an example.
    ///
    /// The loop hides the transient faults (a service sees the same bytes, in the same
    /// order, and no `Interrupted` or `WouldBlock`), and reports the others as the kernel
    /// would: a chaos test checks that the service copes with both. While faults are
    /// injected, try-first I/O is off unless [`try_first_io`](Builder::try_first_io)
    /// asks for it, so every operation meets the faulty backend.
    ///
    /// [`FaultPlan`]: crate::FaultPlan
    ///
    /// ```
    /// use ringloop::net::UnixStream;
    /// use ringloop::{EventLoop, FaultPlan};
    ///
    /// // Hidden faults (short reads and writes, retries, reordering): the service sees none.
    /// let lp = EventLoop::builder().fault_injection(7, FaultPlan::chaos()).build()?;
    /// lp.run_until_complete(async {
    ///     let (a, b) = UnixStream::pair()?;
    ///     let reader = ringloop::spawn(async move { b.read_exact(Vec::with_capacity(4096)).await });
    ///     a.write_all(vec![1u8; 4096]).await.0?;
    ///     let (res, got) = reader.await?;
    ///     res?;
    ///     assert!(got.iter().all(|&x| x == 1));
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    ///
    /// // A visible fault: building fails as a real setup might.
    /// let plan = FaultPlan { setup_error: Some(12), ..FaultPlan::default() }; // ENOMEM
    /// let err = EventLoop::builder().fault_injection(1, plan).build().unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::OutOfMemory);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[cfg(feature = "fault-injection")]
    pub fn fault_injection(&mut self, seed: u64, plan: FaultPlan) -> &mut Self {
        self.fault = Some((seed, plan));
        self
    }

    /// The provided buffers that [`net::serve`](crate::net::serve) receives into on
    /// io_uring (multishot receive): `count` buffers (rounded up to a power of two, at
    /// most 32768) of `size` bytes each (default 256 × 16 KiB, allocated on first use).
    /// A connection that finds them all in use waits until some are returned, which
    /// happens as soon as `data_received` returns; no data is lost.
    ///
    /// All of them together may take at most 1 GiB: [`build`](Builder::build) refuses
    /// more with an `InvalidInput` error. Where the memory cannot be had when the
    /// server first needs it, the server reads on readiness instead.
    ///
    /// ```
    /// use ringloop::EventLoop;
    ///
    /// // Many connections with small messages: 4096 buffers of 4 KiB (16 MiB).
    /// let lp = EventLoop::builder().recv_buffers(4096, 4096).build()?;
    /// # drop(lp);
    /// // More than 1 GiB in all is refused.
    /// let err = EventLoop::builder().recv_buffers(32768, 64 * 1024).build().unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recv_buffers(&mut self, count: u16, size: u32) -> &mut Self {
        self.recv_buffers = count.max(1).checked_next_power_of_two().unwrap_or(32768);
        self.recv_buffer_size = size.max(1);
        self
    }

    /// The most threads the loop's blocking pool runs at once (default 512, as
    /// tokio's; 0 counts as 1). Threads start when [`spawn_blocking`] work (or a name
    /// lookup) arrives and none is idle, and retire after 10 s idle; past the limit,
    /// work waits its turn in order.
    ///
    /// ```
    /// let lp = ringloop::EventLoop::builder().blocking_threads(4).build()?;
    /// let sum = lp.run_until_complete(async {
    ///     ringloop::spawn_blocking(|| (1..=10).sum::<u32>()).await.unwrap()
    /// });
    /// assert_eq!(sum, 55);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// [`spawn_blocking`]: crate::spawn_blocking
    pub fn blocking_threads(&mut self, n: usize) -> &mut Self {
        self.blocking_threads = n.max(1);
        self
    }

    /// Bounds the queue through which other threads reach the loop (default: unbounded,
    /// as asyncio's `call_soon_threadsafe`). With a limit of `n` (at least 1; 0 counts as
    /// 1), [`Remote::try_call_soon_threadsafe`] refuses a call with
    /// [`TrySendError::Full`], handing the closure back, while `n` messages are waiting
    /// for the loop to take them. Every message counts toward the depth: calls from
    /// either method, stops, and wakes of the loop's tasks from other threads (at most
    /// one waits per task).
    ///
    /// [`Remote::call_soon_threadsafe`] is not bounded by the limit (it cannot report a
    /// full queue): it always queues. Senders that must not outrun the loop use the
    /// `try_` method and apply back-pressure on `Full`: wait (sleep, or block on a
    /// signal from a callback the loop runs) and send the same closure again, or shed
    /// the work.
    ///
    /// The loop takes at most [`ITERATION_BUDGET`] messages per iteration out of the
    /// queue, so the memory held for other threads stays within about `n` closures plus
    /// one budget of callbacks about to run.
    ///
    /// [`Remote::try_call_soon_threadsafe`]: crate::Remote::try_call_soon_threadsafe
    /// [`TrySendError::Full`]: crate::TrySendError::Full
    /// [`Remote::call_soon_threadsafe`]: crate::Remote::call_soon_threadsafe
    /// [`ITERATION_BUDGET`]: crate::ITERATION_BUDGET
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use ringloop::{EventLoop, TrySendError};
    ///
    /// let lp = EventLoop::builder().remote_queue_limit(2).build()?;
    /// let remote = lp.remote();
    /// let ran = Arc::new(AtomicUsize::new(0));
    /// for _ in 0..2 {
    ///     let ran = ran.clone();
    ///     remote.try_call_soon_threadsafe(move || { ran.fetch_add(1, Ordering::SeqCst); })
    ///         .expect("room for two");
    /// }
    /// let third = {
    ///     let ran = ran.clone();
    ///     move || { ran.fetch_add(1, Ordering::SeqCst); }
    /// };
    /// let third = match remote.try_call_soon_threadsafe(third) {
    ///     Err(TrySendError::Full(f)) => f, // the closure comes back: try again later
    ///     other => panic!("expected a full queue, got {other:?}"),
    /// };
    /// lp.run_until_complete(ringloop::yield_now()); // the loop takes both
    /// assert_eq!(ran.load(Ordering::SeqCst), 2);
    /// remote.try_call_soon_threadsafe(third).expect("room again");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn remote_queue_limit(&mut self, n: usize) -> &mut Self {
        self.remote_queue_limit = n.max(1);
        self
    }

    /// Turns on debug mode (asyncio's `loop.slow_callback_duration` with debug on): a task
    /// step or callback that holds the loop longer than `threshold` is reported through
    /// the [`log`](https://docs.rs/log) crate, as a `warn!` naming the task (its
    /// [`name`](crate::Task::name) and id) or the callback's type, and how long it ran.
    /// Off by default, and then free: no clock is read around a step. When not set here,
    /// env `RINGLOOP_DEBUG=1` (asyncio's `PYTHONASYNCIODEBUG`) turns it on with asyncio's
    /// default threshold, 100 ms.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lp = ringloop::EventLoop::builder()
    ///     .slow_callback_duration(Duration::from_millis(10))
    ///     .build()?;
    /// let task = lp.spawn(async {
    ///     // Logged: ringloop: executing task "Task-.." (id .., ..) took 20ms, ...
    ///     std::thread::sleep(Duration::from_millis(20));
    /// });
    /// lp.run_until_complete(task).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn slow_callback_duration(&mut self, threshold: Duration) -> &mut Self {
        self.slow_callback_duration = Some(threshold);
        self
    }

    /// How late a timer may fire so that the loop wakes once for many: timers are
    /// fired on a grid of this step (each deadline rounded up to the next multiple, on
    /// the loop's clock), so timers due within one step share one wake-up. A timer still
    /// never fires early; it fires at most `slack` late (plus the scheduling delay every
    /// wake-up has). `Duration::ZERO` wakes for each deadline exactly.
    ///
    /// The default, 1 ms, is tokio's and libuv's timer resolution: measured on the
    /// bench's 2-CPU machine, 20,000 sleeps spread over a second cost about a fifth of
    /// the CPU they cost without slack (each wake-up of an idle loop is a syscall and a
    /// context switch), and 200,000 sleeps over 100 ms about half (see `docs/bench.md`).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let lp = ringloop::EventLoop::builder().timer_slack(Duration::ZERO).build()?;
    /// let start = Instant::now();
    /// lp.run_until_complete(ringloop::sleep(Duration::from_micros(300)));
    /// assert!(start.elapsed() >= Duration::from_micros(300)); // never early, slack or not
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn timer_slack(&mut self, slack: Duration) -> &mut Self {
        self.timer_slack = slack;
        self
    }

    /// Busy polling (off by default): before the loop blocks waiting for I/O, timers or
    /// other threads, it polls for up to `spin` first (non-blocking turns of the driver:
    /// `io_uring_enter` or `epoll_wait` with no wait), so work that arrives within that
    /// time is picked up without the sleep and wake-up of a parked thread. It trades CPU
    /// for latency: an idle loop spins `spin` before each block, burning a core while it
    /// does, so it pays on a dedicated core at low load, and costs elsewhere. A timer due
    /// sooner cuts the spin short; nothing fires early.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lp = ringloop::EventLoop::builder().busy_poll(Duration::from_micros(50)).build()?;
    /// let remote = lp.remote();
    /// let other = std::thread::spawn(move || remote.call_soon_threadsafe(|| ()).is_ok());
    /// lp.run_until_complete(ringloop::sleep(Duration::from_millis(2)));
    /// assert!(other.join().unwrap());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn busy_poll(&mut self, spin: Duration) -> &mut Self {
        self.busy_poll = spin;
        self
    }

    /// How long a loop that awaits a [`RemoteTask`](crate::RemoteTask) polls before it
    /// blocks (default 50 µs; zero turns it off). Work sent to another loop usually
    /// answers within microseconds, and a parked thread takes tens of them to wake
    /// (about 30 µs on the bench's machine), so a loop with nothing else to do and an
    /// answer on its way spins for it, as [`busy_poll`](Builder::busy_poll) does always:
    /// each `RemoteTask` buys one spin of this length, before the loop's next block after
    /// its first `Pending`; an answer that takes longer is waited for without spinning
    /// again. A loop with work never spins; a timer due sooner cuts the spin short; past
    /// its first 10 µs the spin yields the CPU between polls, in case the answer is to
    /// be made on this very CPU. A [`spawn_blocking`](crate::spawn_blocking) job's
    /// answer is spun for the same way when it is the pool's only job (with others
    /// queued or running, the pool's threads may need every CPU): a lone blocking round
    /// trip took about 10 µs with the spin against 25 without in a scratch run here.
    /// Spins adapt: after a spin that ran its full length without an answer the loop
    /// skips the next one, after two in a row the next three, and so on up to 63, so a
    /// loop whose answers take longer (a 1 MiB file write on the pool) soon stops paying
    /// for them; a spin answered in time restores spinning for every wait.
    /// `busy_poll`, when longer, takes precedence.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = ringloop::LoopPool::builder().threads(1).build()?;
    /// let remote = pool.remote(0);
    /// let lp = ringloop::EventLoop::builder().remote_spin(Duration::from_micros(20)).build()?;
    /// let answer = lp.run_until_complete(async move { remote.spawn(|| async { 6 * 7 }).await });
    /// assert_eq!(answer.unwrap(), 42);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn remote_spin(&mut self, spin: Duration) -> &mut Self {
        self.remote_spin = spin;
        self
    }

    /// Zero-copy sends on io_uring (`IORING_OP_SEND_ZC`, Linux 6.0; off by default): a
    /// TCP stream write (`TcpStream` `write`, `write_all`, and their write halves) of at
    /// least `min_len` bytes is sent from its buffer in place instead of being copied
    /// into the kernel, and its buffer comes back once the kernel has let go of it (a
    /// second completion). It pays where the copy is the cost, on a network card with
    /// large writes; on loopback (the bench's machine) it did not: the sender's CPU per
    /// MiB was 1.4–2.5 × a copying write's at 64 KiB writes, 0.70–1.00 × at 256 KiB and
    /// 1.00–1.84 × at 1 MiB, over three runs. Such writes skip try-first I/O. Ignored on
    /// epoll, for Unix sockets, and where the kernel lacks the opcodes (Linux 6.1).
    ///
    /// A zero-copy write completes when the kernel lets go of its buffer, which on TCP is
    /// once the peer has acknowledged the data, not once it is queued: a write to a peer
    /// that stops reading does not complete (cancelling it does not end it either), and
    /// two peers that each write a message before reading the other's can wait on each
    /// other where copying writes would not. It applies to every TCP write of the loop
    /// (`TcpStream`, its halves, the streams API's `StreamWriter`). A TCP socket that
    /// refuses zero-copy sends (kernel TLS) fails such writes with the kernel's error.
    ///
    /// ```
    /// use ringloop::net::{TcpListener, TcpStream};
    ///
    /// let lp = ringloop::EventLoop::builder().send_zc(Some(64 * 1024)).build()?;
    /// let got = lp.run_until_complete(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0")?;
    ///     let a = TcpStream::connect(listener.local_addr()?).await?;
    ///     let (b, _) = listener.accept().await?;
    ///     let reader = ringloop::spawn(async move { b.read_exact(vec![0u8; 1 << 20]).await });
    ///     let (sent, _) = a.write_all(vec![7u8; 1 << 20]).await; // zero-copy where it can
    ///     sent?;
    ///     let (read, buf) = reader.await.unwrap();
    ///     read.map(|()| buf.iter().all(|&b| b == 7))
    /// })?;
    /// assert!(got);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send_zc(&mut self, min_len: Option<usize>) -> &mut Self {
        self.send_zc = min_len.map(|n| u32::try_from(n).unwrap_or(u32::MAX));
        self
    }

    /// io_uring's submission-queue polling (`IORING_SETUP_SQPOLL`; off by default): a
    /// kernel thread takes submissions from the ring as they are queued, so submitting
    /// needs no `io_uring_enter`, and sleeps after `idle` without any (then the next
    /// submission wakes it with one syscall). The polling thread burns a core while
    /// busy: on the bench's 2-CPU machine, 1 KiB loopback echo round trips (1 and 100
    /// connections, client and server on one loop) took about 10 % less wall time with
    /// it and about 1.7 × the process's CPU time. It pays where spare cores exist and
    /// latency matters more than CPU. Ignored on epoll. Building fails (as the kernel
    /// says) where the ring cannot have a polling thread, e.g. without the privilege
    /// older kernels require.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lp = ringloop::EventLoop::builder()
    ///     .backend(ringloop::Backend::IoUring)
    ///     .sqpoll(Duration::from_millis(10))
    ///     .build()?;
    /// assert!(lp.backend_description().contains("SQPOLL"));
    /// let (a, b) = lp.run_until_complete(async {
    ///     let (a, b) = ringloop::net::UnixStream::pair()?;
    ///     a.write_all(b"polled").await.0?;
    ///     let (n, buf) = b.read(Vec::with_capacity(8)).await;
    ///     Ok::<_, std::io::Error>((n?, buf))
    /// })?;
    /// assert_eq!(&b[..a], b"polled");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn sqpoll(&mut self, idle: Duration) -> &mut Self {
        self.sqpoll = Some(idle);
        self
    }

    /// Registered (fixed) files for stream sockets on io_uring: a table of `slots`
    /// slots in the ring (0, the default, means none). Each TCP or Unix stream socket
    /// of the loop (accepted, connected, from `from_std`, or served by
    /// [`net::serve`](crate::net::serve)) takes a slot when it is made and gives it
    /// back when it closes or leaves with `into_std`; while it holds one, its reads,
    /// writes and readiness waits name the slot (`IOSQE_FIXED_FILE`), which spares the
    /// kernel a descriptor lookup and a file reference per operation. Sockets made when
    /// every slot is taken simply go without. Registering and unregistering cost one
    /// `io_uring_register` each, so it pays for long connections, not for one request
    /// per connection. Nothing changes for the user: a closed socket closes at once
    /// (its slot is given back first) and `into_std` hands out a plain descriptor.
    /// Ignored on epoll. [`Stats::fixed_files`](crate::Stats::fixed_files) counts the
    /// sockets holding a slot, and [`EventLoop::backend_description`] names the table's
    /// size. The loop goes without a table (a logged warning says why) where the kernel
    /// refuses it (`slots` above the process's descriptor limit, `RLIMIT_NOFILE`), and
    /// on kernels before 6.13, whose table keeps a closed socket's connection open for
    /// as long as any registered socket of the ring has an older operation pending.
    ///
    /// Measured here, in two scratch A/B runs: about 5 % less server CPU per round trip
    /// for [`net::serve`](crate::net::serve)'s echo at 100 connections (its receives
    /// are multishot operations on the ring; its sends try a syscall first), and no
    /// difference for stream sockets, whose reads and writes run as syscalls first. The
    /// bench's echo shows no clear difference either way.
    ///
    /// [`EventLoop::backend_description`]: crate::EventLoop::backend_description
    ///
    /// ```
    /// let lp = ringloop::EventLoop::builder().fixed_files(1024).build()?;
    /// let registered = lp.run_until_complete(async {
    ///     let (a, b) = ringloop::net::UnixStream::pair()?;
    ///     a.write_all(b"fixed").await.0?;
    ///     let (n, buf) = b.read(Vec::with_capacity(8)).await;
    ///     assert_eq!(&buf[..n?], b"fixed");
    ///     Ok::<_, std::io::Error>(lp.stats().fixed_files)
    /// })?;
    /// // io_uring from kernel 6.13 has the table (the description says so); elsewhere
    /// // every socket goes by its descriptor number, and works the same.
    /// if lp.backend_description().contains("registered-file slots") {
    ///     assert_eq!(registered, 2); // both ends of the pair
    /// }
    /// assert_eq!(lp.stats().fixed_files, 0); // dropped: every slot is back
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn fixed_files(&mut self, slots: u32) -> &mut Self {
        self.fixed_files = slots;
        self
    }

    /// Whether faults are injected.
    fn faulty(&self) -> bool {
        #[cfg(feature = "fault-injection")]
        return self.fault.is_some();
        #[cfg(not(feature = "fault-injection"))]
        return false;
    }

    /// Builds the loop.
    ///
    /// # Errors
    ///
    /// When the backend cannot be set up here (io_uring disabled, out of memory, a bad
    /// `RINGLOOP_BACKEND` value), or a setting is out of range ([`recv_buffers`]), as
    /// an [`io::Error`].
    ///
    /// [`recv_buffers`]: Builder::recv_buffers
    ///
    /// ```
    /// use ringloop::EventLoop;
    ///
    /// let mut builder = EventLoop::builder();
    /// builder.blocking_threads(2);
    /// let first = builder.build()?; // a builder can build several loops alike
    /// let second = builder.build()?;
    /// assert_eq!(first.run_until_complete(async { 1 }) + second.run_until_complete(async { 2 }), 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn build(&self) -> io::Result<EventLoop> {
        let recv_bytes = u64::from(self.recv_buffers) * u64::from(self.recv_buffer_size);
        if recv_bytes > driver::MAX_RECV_BUFFER_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "Builder::recv_buffers({}, {}) asks for {recv_bytes} bytes of receive \
                     buffers; at most {} (1 GiB) are allowed",
                    self.recv_buffers,
                    self.recv_buffer_size,
                    driver::MAX_RECV_BUFFER_BYTES
                ),
            ));
        }
        let shared = Arc::new(Shared::new(self.remote_queue_limit)?);
        let config = DriverConfig {
            ring_entries: self.ring_entries,
            force_timeout_sqe: self.force_timeout_sqe,
            recv_buffers: self.recv_buffers,
            recv_buffer_size: self.recv_buffer_size,
            sqpoll_idle: self.sqpoll,
            fixed_files: self.fixed_files,
        };
        let driver = driver::build(self.backend, config, shared.wake_fd())?;
        #[cfg(feature = "fault-injection")]
        let driver: Box<dyn crate::driver::Driver> = match &self.fault {
            Some((seed, plan)) => Box::new(FaultDriver::wrap(driver, *seed, plan.clone())?),
            None => driver,
        };
        let sched = Rc::new(Scheduler::new(shared));
        sched.set_eager(self.eager_tasks);
        // Under fault injection every operation goes through the (faulty) driver, unless
        // try-first was asked for explicitly.
        let try_first = self
            .try_first_io
            .unwrap_or_else(|| !self.faulty() && try_first_from_env());
        let core = Core {
            timers: Rc::new(Timers::new(sched.id(), self.timer_slack)),
            backend: driver.backend(),
            io: Rc::new(DriverHandle::new(
                driver,
                try_first,
                self.send_zc,
                sched.id(),
            )),
            blocking: BlockingPool::new(self.blocking_threads),
            sched,
            woken: RefCell::new(Vec::new()),
            expired: RefCell::new(Vec::new()),
            running: Cell::new(false),
            stopping: Cell::new(false),
            closed: Cell::new(false),
            turn_failures: Cell::new(0),
            ran: Cell::new(0),
            handler: RefCell::new(None),
            signals: RefCell::new(None),
            slow_callback: self.slow_callback_duration.or_else(debug_from_env),
            busy_poll: self.busy_poll,
            remote_spin: self.remote_spin,
            awaiting_remote: Cell::new(false),
            spin_backoff: super::core::SpinBackoff::default(),
            sealed_spawning: Cell::new(false),
            sealed_calls: super::drop_chain::DropChain::new(),
        };
        Ok(EventLoop {
            core: Rc::new(core),
        })
    }
}

/// `Builder::remote_spin`'s default: longer than a parked thread's wake-up on the
/// bench's machine (about 30 µs), short enough that a remote answer that takes long
/// costs little CPU.
const DEFAULT_REMOTE_SPIN: Duration = Duration::from_micros(50);

/// asyncio's default slow callback duration in debug mode.
const DEBUG_SLOW_CALLBACK: Duration = Duration::from_millis(100);

/// `RINGLOOP_DEBUG`: `1`, `true`, `on` or `yes` turn debug mode on with a threshold of
/// 100 ms (asyncio's `PYTHONASYNCIODEBUG`); anything else (or nothing) leaves it off.
fn debug_from_env() -> Option<Duration> {
    let on = std::env::var("RINGLOOP_DEBUG").is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "on" | "yes"
        )
    });
    on.then_some(DEBUG_SLOW_CALLBACK)
}

/// `RINGLOOP_TRY_FIRST`: `0`, `false`, `off` or `no` turn try-first I/O off; anything
/// else (or nothing) leaves it on.
fn try_first_from_env() -> bool {
    match std::env::var("RINGLOOP_TRY_FIRST") {
        Ok(v) => !matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "0" | "false" | "off" | "no"
        ),
        Err(_) => true,
    }
}
