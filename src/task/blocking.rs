//! The blocking pool: threads for work that would block the loop (asyncio's `to_thread`
//! and `run_in_executor`; name lookup; file I/O the ring cannot do).
//!
//! # Ground rules
//!
//! - Each loop has its own pool. Threads start on demand, when a job arrives and no
//!   thread is idle, up to the loop's limit (`Builder::blocking_threads`, default 512);
//!   past it, jobs queue in order. A thread idle for [`KEEP_ALIVE`] retires.
//! - A job runs to its end: nothing can stop a thread mid-call. Cancelling the task
//!   that awaits it only drops the result.
//! - When the loop closes, the pool closes: queued jobs that never started are dropped,
//!   idle threads retire at once, busy ones when their job ends. The loop waits for
//!   none of them, and no thread outlives the job it was running.
//! - A job's panic is caught on its thread and becomes the awaiting task's
//!   `TaskError::Panicked`.

#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::raw::catch;

/// How long a thread waits for a job before it retires.
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// The default most threads one loop's pool runs at once.
pub(crate) const DEFAULT_THREADS: usize = 512;

type Job = Box<dyn FnOnce() + Send>;

/// One loop's blocking pool (cheap to clone: a handle).
#[derive(Clone)]
pub(crate) struct BlockingPool {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a job arrives or the pool closes.
    work: Condvar,
    max_threads: usize,
    /// Jobs started, over the pool's life (for `Stats`).
    started: AtomicU64,
}

struct State {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Jobs run outside the lock, so nothing can panic while it is held but the
        // allocator: a poisoned lock still guards a consistent state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl BlockingPool {
    /// A pool of at most `max_threads` threads (at least one), none started yet.
    pub(crate) fn new(max_threads: usize) -> BlockingPool {
        BlockingPool {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    threads: 0,
                    idle: 0,
                    closed: false,
                }),
                work: Condvar::new(),
                max_threads: max_threads.max(1),
                started: AtomicU64::new(0),
            }),
        }
    }

    /// Runs `job` on a pool thread (its panic is caught: `job` reports its own outcome,
    /// typically through a channel). Returns `false`, dropping the job unrun, once the
    /// pool has closed or when no thread can be started at all.
    #[cfg(test)]
    pub(crate) fn execute(&self, job: impl FnOnce() + Send + 'static) -> bool {
        self.execute_alone(job).is_some()
    }

    /// As [`execute`](Self::execute); `Some(alone)` when accepted, where `alone` says
    /// whether no other job was queued or running then.
    pub(crate) fn execute_alone(&self, job: impl FnOnce() + Send + 'static) -> Option<bool> {
        let mut state = self.shared.lock();
        if state.closed {
            return None;
        }
        let alone = state.queue.is_empty() && state.idle == state.threads;
        state.queue.push_back(Box::new(job));
        if state.idle > 0 {
            drop(state);
            self.shared.work.notify_one();
            return Some(alone);
        }
        if state.threads >= self.shared.max_threads {
            // Every thread is busy and no more may start: the job waits its turn.
            return Some(alone);
        }
        state.threads += 1;
        let index = state.threads;
        drop(state);
        let shared = self.shared.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("ringloop-blocking-{index}"))
            .spawn(move || work(&shared));
        if let Err(e) = spawned {
            let mut state = self.shared.lock();
            state.threads -= 1;
            if state.threads == 0 {
                // Nobody will ever run what is queued: give it back (dropped unrun).
                let dropped: Vec<Job> = state.queue.drain(..).collect();
                drop(state);
                drop(dropped);
                log::error!("ringloop: cannot start a blocking-pool thread: {e}");
                return None;
            }
            log::warn!("ringloop: cannot start another blocking-pool thread: {e}");
        }
        Some(alone)
    }

    /// Jobs started so far.
    pub(crate) fn jobs_started(&self) -> u64 {
        self.shared.started.load(Ordering::Relaxed)
    }

    /// Threads alive now.
    pub(crate) fn threads(&self) -> usize {
        self.shared.lock().threads
    }

    /// Closes the pool (see the module docs); returns the jobs that never started, for
    /// the caller to drop where their destructors may run safely.
    pub(crate) fn close(&self) -> Vec<Box<dyn FnOnce() + Send>> {
        let mut state = self.shared.lock();
        state.closed = true;
        let unstarted: Vec<Job> = state.queue.drain(..).collect();
        drop(state);
        self.shared.work.notify_all();
        unstarted
    }
}

/// A pool thread: runs jobs until the pool closes or it has been idle too long.
fn work(shared: &Shared) {
    let mut state = shared.lock();
    loop {
        if let Some(job) = state.queue.pop_front() {
            drop(state);
            shared.started.fetch_add(1, Ordering::Relaxed);
            // A job reports its own panic; this only keeps the thread alive.
            let _ = catch(job);
            state = shared.lock();
            continue;
        }
        if state.closed {
            break;
        }
        state.idle += 1;
        let (guard, timeout) = shared
            .work
            .wait_timeout(state, KEEP_ALIVE)
            .unwrap_or_else(|e| e.into_inner());
        state = guard;
        state.idle -= 1;
        if timeout.timed_out() && state.queue.is_empty() {
            break;
        }
    }
    state.threads -= 1;
}

impl fmt::Debug for BlockingPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("BlockingPool")
            .field("threads", &state.threads)
            .field("idle", &state.idle)
            .field("queued", &state.queue.len())
            .field("max_threads", &self.shared.max_threads)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// `alone` tells whether another job was queued or running: what decides whether
    /// a loop spins for the job's answer.
    #[test]
    fn a_job_knows_whether_it_is_alone() {
        let pool = BlockingPool::new(2);
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (started, ran) = std::sync::mpsc::channel();
        assert_eq!(
            pool.execute_alone(move || {
                started.send(()).unwrap();
                wait.recv().unwrap();
            }),
            Some(true)
        );
        ran.recv().unwrap(); // running now
        assert_eq!(pool.execute_alone(|| {}), Some(false));
        release.send(()).unwrap();
        pool.close();
        assert_eq!(pool.execute_alone(|| {}), None, "a closed pool refuses");
    }

    #[test]
    fn jobs_run_in_order_on_one_thread_and_the_thread_is_reused() {
        let pool = BlockingPool::new(1);
        let (tx, rx) = mpsc::channel();
        for i in 0..10 {
            let tx = tx.clone();
            assert!(pool.execute(move || tx.send(i).unwrap()));
        }
        let got: Vec<i32> = (0..10).map(|_| rx.recv().unwrap()).collect();
        assert_eq!(got, (0..10).collect::<Vec<_>>());
        assert_eq!(pool.threads(), 1);
        assert_eq!(pool.jobs_started(), 10);
    }

    #[test]
    fn threads_start_on_demand_up_to_the_limit() {
        let pool = BlockingPool::new(3);
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Arc::new(Mutex::new(release_rx));
        let (started_tx, started_rx) = mpsc::channel();
        for _ in 0..5 {
            let (rx, tx) = (release_rx.clone(), started_tx.clone());
            pool.execute(move || {
                tx.send(()).unwrap();
                rx.lock().unwrap().recv().unwrap();
            });
        }
        for _ in 0..3 {
            started_rx.recv().unwrap();
        }
        assert_eq!(pool.threads(), 3, "no more than the limit");
        for _ in 0..5 {
            release_tx.send(()).unwrap();
        }
        for _ in 0..2 {
            started_rx.recv().unwrap();
        }
    }

    #[test]
    fn a_closed_pool_refuses_jobs_and_drops_the_unstarted_ones() {
        let pool = BlockingPool::new(1);
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (started_tx, started_rx) = mpsc::channel();
        pool.execute(move || {
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        });
        started_rx.recv().unwrap();
        pool.execute(|| unreachable!("never started"));
        let unstarted = pool.close();
        assert_eq!(unstarted.len(), 1);
        assert!(!pool.execute(|| {}));
        release_tx.send(()).unwrap();
        // The busy thread ends with its job.
        while pool.threads() > 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_panicking_job_does_not_take_its_thread_down() {
        let pool = BlockingPool::new(1);
        pool.execute(|| panic!("job panic"));
        let (tx, rx) = mpsc::channel();
        pool.execute(move || tx.send(7).unwrap());
        assert_eq!(rx.recv().unwrap(), 7);
    }
}
