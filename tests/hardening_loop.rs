//! Hardening of the loop itself (the hardening issue, items 8, 9, 10 and 12), each case
//! on every backend:
//!
//! - destructors that panic while the loop closes are contained, and the `Remote` is
//!   closed from the close's first step on (8);
//! - a `Task`, `Sleep` or socket operation awaited where its loop is not running panics
//!   with a message instead of hanging, and a sleep never fires early (9);
//! - misuse messages name the call and say how to fix what the user actually did (10);
//! - `Builder::remote_queue_limit` bounds `Remote::try_call_soon_threadsafe`, and a
//!   backlog is dropped, not run, when the loop closes (12).

mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use ringloop::net::UnixStream;
use ringloop::{Backend, Closed, EventLoop, ExceptionKind, TaskError, TrySendError};

// ---------------------------------------------------------------------------------------
// Helpers

/// Runs `f`, which must panic; returns the panic's message.
fn panic_message_of<R>(what: &str, f: impl FnOnce() -> R) -> String {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("{what}: expected a panic, got none"),
        Err(payload) => support::panic_message(&*payload),
    }
}

/// Panics in its destructor, naming `0`.
struct Loud(&'static str);

impl Drop for Loud {
    fn drop(&mut self) {
        panic!("{}", self.0);
    }
}

/// Messages logged through the `log` crate, for every test of this binary.
static LOGGED: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct TestLogger;

impl log::Log for TestLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let line = format!("{}", record.args());
        LOGGED.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    }

    fn flush(&self) {}
}

fn install_logger() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        log::set_logger(&TestLogger).expect("no other logger in this binary");
        log::set_max_level(log::LevelFilter::Trace);
    });
}

fn logged_containing(needle: &str) -> usize {
    LOGGED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|line| line.contains(needle))
        .count()
}

/// A loop on `backend` whose remote queue holds at most `limit` messages.
fn bounded_loop(backend: Backend, limit: usize) -> EventLoop {
    EventLoop::builder()
        .backend(backend)
        .remote_queue_limit(limit)
        .build()
        .unwrap_or_else(|e| panic!("building a loop on {backend:?}: {e}"))
}

/// Calls `make` while `lp` runs (so what it builds belongs to `lp`) and returns what
/// it built, unpolled.
fn created_in<T>(lp: &EventLoop, make: impl FnOnce() -> T) -> T {
    let mut make = Some(make);
    lp.run_until_complete(std::future::poll_fn(|_| {
        Poll::Ready(make.take().expect("polled once")())
    }))
}

/// Runs `lp` until `done` says so (a hang guard around it).
fn run_until(lp: &EventLoop, what: &str, done: impl Fn() -> bool) {
    lp.run_until_complete(support::guard(
        what,
        std::future::poll_fn(|cx| {
            if done() {
                Poll::Ready(())
            } else {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }),
    ));
}

// ---------------------------------------------------------------------------------------
// Item 8: panicking destructors while the loop closes

#[test]
fn remote_call_whose_drop_panics_is_contained_reported_and_the_remote_closes() {
    support::on_each_backend(|backend| {
        let lp = support::new_loop(backend);
        let heard = support::record_exceptions(&lp);
        let remote = lp.remote();
        let loud = Loud("remote closure drop");
        remote
            .call_soon_threadsafe(move || drop(loud))
            .expect("the loop is open");
        let dropped = catch_unwind(AssertUnwindSafe(move || drop(lp)));
        assert!(
            dropped.is_ok(),
            "{backend:?}: a closure's destructor panic escaped drop(EventLoop)"
        );
        assert!(remote.is_closed(), "{backend:?}: the remote stayed open");
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        assert_eq!(
            remote.call_soon_threadsafe(move || r.store(true, Ordering::SeqCst)),
            Err(Closed),
            "{backend:?}: a call after the close must be refused"
        );
        assert!(!ran.load(Ordering::SeqCst));
        assert_eq!(
            *heard.borrow(),
            [(
                ExceptionKind::DestructorPanicked,
                "remote closure drop".to_string()
            )],
            "{backend:?}: the handler hears of the panic once"
        );
    });
}

#[test]
fn exception_handler_whose_drop_panics_is_contained_and_logged() {
    install_logger();
    support::on_each_backend(|backend| {
        let lp = support::new_loop(backend);
        let remote = lp.remote();
        let loud = Loud("handler drop at close");
        lp.set_exception_handler(move |_| {
            let _keep = &loud;
        });
        let before = logged_containing("handler drop at close");
        let dropped = catch_unwind(AssertUnwindSafe(move || drop(lp)));
        assert!(
            dropped.is_ok(),
            "{backend:?}: the handler's destructor panic escaped drop(EventLoop)"
        );
        assert!(remote.is_closed(), "{backend:?}: the remote stayed open");
        assert_eq!(remote.call_soon_threadsafe(|| {}), Err(Closed));
        assert_eq!(
            logged_containing("handler drop at close"),
            before + 1,
            "{backend:?}: the contained panic is logged once"
        );
    });
}

#[test]
fn replaced_exception_handler_whose_drop_panics_is_reported_to_the_new_one() {
    support::for_each_backend(|lp| {
        let loud = Loud("replaced handler drop");
        lp.set_exception_handler(move |_| {
            let _keep = &loud;
        });
        let heard = support::record_exceptions(lp);
        assert_eq!(
            *heard.borrow(),
            [(
                ExceptionKind::DestructorPanicked,
                "replaced handler drop".to_string()
            )]
        );
    });
}

#[test]
fn callbacks_dropped_unrun_at_close_report_their_destructor_panics() {
    support::on_each_backend(|backend| {
        let lp = support::new_loop(backend);
        let heard = support::record_exceptions(&lp);
        let soon = Loud("call_soon closure drop");
        lp.call_soon(move || drop(soon));
        let later = Loud("call_later closure drop");
        lp.call_later(Duration::from_secs(3600), move || drop(later));
        let dropped = catch_unwind(AssertUnwindSafe(move || drop(lp)));
        assert!(dropped.is_ok(), "{backend:?}: a panic escaped the close");
        let mut heard = heard.borrow().clone();
        heard.sort_by(|a, b| a.1.cmp(&b.1));
        assert_eq!(
            heard,
            [
                (
                    ExceptionKind::DestructorPanicked,
                    "call_later closure drop".to_string()
                ),
                (
                    ExceptionKind::DestructorPanicked,
                    "call_soon closure drop".to_string()
                ),
            ],
            "{backend:?}"
        );
    });
}

/// Records, when dropped, whether its remote already refused calls.
struct SeesClosed {
    remote: ringloop::Remote,
    closed_when_dropped: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
}

impl Drop for SeesClosed {
    fn drop(&mut self) {
        self.dropped.fetch_add(1, Ordering::SeqCst);
        if self.remote.is_closed() && self.remote.call_soon_threadsafe(|| {}) == Err(Closed) {
            self.closed_when_dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// The close shuts other threads out before it drops the backlog, so senders cannot
/// keep it growing while it is dropped (a close that took as long as the senders kept
/// sending).
#[test]
fn the_remote_refuses_calls_before_the_close_drops_the_backlog() {
    support::on_each_backend(|backend| {
        let lp = support::new_loop(backend);
        let remote = lp.remote();
        let closed_when_dropped = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicUsize::new(0));
        const BACKLOG: usize = 1000;
        for _ in 0..BACKLOG {
            let probe = SeesClosed {
                remote: remote.clone(),
                closed_when_dropped: closed_when_dropped.clone(),
                dropped: dropped.clone(),
            };
            remote
                .call_soon_threadsafe(move || drop(probe))
                .expect("the loop is open");
        }
        drop(lp);
        assert_eq!(dropped.load(Ordering::SeqCst), BACKLOG, "{backend:?}");
        assert_eq!(
            closed_when_dropped.load(Ordering::SeqCst),
            BACKLOG,
            "{backend:?}: calls were still accepted while the close dropped the backlog"
        );
    });
}

// ---------------------------------------------------------------------------------------
// Item 9: futures polled where their loop is not running

const WRONG_LOOP: &str = "belongs to the loop it was first polled on";

#[test]
fn a_task_awaited_on_another_loop_panics_instead_of_hanging() {
    support::on_each_backend(|backend| {
        let a = support::new_loop(backend);
        let b = support::new_loop(backend);
        let task = a.spawn(std::future::pending::<u32>());
        let msg = panic_message_of("awaiting A's task in B", || {
            b.run_until_complete(support::guard("A's task awaited in B", task))
        });
        assert!(
            msg.contains("this Task was polled on another event loop") && msg.contains(WRONG_LOOP),
            "{backend:?}: {msg:?}"
        );

        // The same from a task of B: the task resolves as panicked with the message.
        let task = a.spawn(std::future::pending::<u32>());
        let waiter = b.spawn(task);
        let result = b.run_until_complete(support::guard("B's waiter", waiter));
        match result {
            Err(TaskError::Panicked(payload)) => {
                let msg = support::panic_message(&*payload);
                assert!(
                    msg.contains("this Task was polled on another event loop"),
                    "{msg:?}"
                );
            }
            other => panic!("{backend:?}: expected a panicked waiter, got {other:?}"),
        }
    });
}

#[test]
fn a_task_awaited_from_another_executor_panics_instead_of_hanging() {
    support::on_each_backend(|backend| {
        let lp = support::new_loop(backend);
        let task = lp.spawn(std::future::pending::<u32>());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let msg = panic_message_of("awaiting a task from tokio", || {
            rt.block_on(async { tokio::time::timeout(support::HANG, task).await })
        });
        assert!(
            msg.contains("this Task was polled outside any running ringloop loop")
                && msg.contains(WRONG_LOOP),
            "{backend:?}: {msg:?}"
        );
    });
}

#[test]
fn a_finished_task_can_still_be_taken_anywhere() {
    support::for_each_backend(|lp| {
        let task = lp.spawn(async { 7 });
        lp.run_until_complete(ringloop::yield_now());
        assert!(task.is_done());
        let mut task = pin!(task);
        let mut cx = Context::from_waker(Waker::noop());
        match task.as_mut().poll(&mut cx) {
            Poll::Ready(Ok(7)) => {}
            other => panic!("expected the result, got {other:?}"),
        }
    });
}

#[test]
fn a_sleep_first_polled_on_one_loop_panics_when_awaited_on_another() {
    support::on_each_backend(|backend| {
        let a = support::new_loop(backend);
        let b = support::new_loop(backend);
        let mut sleep = ringloop::sleep(Duration::from_secs(30));
        let first = a.run_until_complete(support::poll_once(&mut sleep));
        assert!(first.is_pending());
        let msg = panic_message_of("awaiting A's sleep in B", || {
            b.run_until_complete(support::guard("A's sleep awaited in B", &mut sleep))
        });
        assert!(
            msg.contains("this Sleep was polled on another event loop") && msg.contains(WRONG_LOOP),
            "{backend:?}: {msg:?}"
        );
        assert!(!sleep.is_elapsed(), "{backend:?}: the sleep fired early");
    });
}

#[test]
fn a_sleep_whose_loop_was_dropped_never_fires_early_on_another_loop() {
    support::on_each_backend(|backend| {
        let a = support::new_loop(backend);
        let b = support::new_loop(backend);
        let mut sleep = ringloop::sleep(Duration::from_secs(30));
        assert!(
            a.run_until_complete(support::poll_once(&mut sleep))
                .is_pending()
        );
        drop(a);
        let msg = panic_message_of("awaiting a dropped loop's sleep in B", || {
            b.run_until_complete(support::guard("a dead loop's sleep", &mut sleep))
        });
        assert!(
            msg.contains("this Sleep was polled on another event loop"),
            "{backend:?}: {msg:?}"
        );
        assert!(
            !sleep.is_elapsed(),
            "{backend:?}: the 30 s sleep fired early"
        );
    });
}

#[test]
fn a_socket_operation_created_on_one_loop_panics_when_awaited_on_another() {
    let _fds = support::shared_fds();
    support::on_each_backend(|backend| {
        let a = support::new_loop(backend);
        let b = support::new_loop(backend);
        let (stream, _peer) = UnixStream::pair().unwrap();
        let read = created_in(&a, || stream.read(Vec::with_capacity(8)));
        let msg = panic_message_of("awaiting A's read in B", || {
            b.run_until_complete(support::guard("A's read awaited in B", read))
        });
        assert!(
            msg.contains("this socket operation was polled on another event loop")
                && msg.contains(WRONG_LOOP),
            "{backend:?}: {msg:?}"
        );
    });
}

#[test]
fn a_socket_operation_whose_loop_closed_answers_an_error() {
    let _fds = support::shared_fds();
    support::on_each_backend(|backend| {
        let a = support::new_loop(backend);
        let b = support::new_loop(backend);
        let (stream, _peer) = UnixStream::pair().unwrap();
        let read = created_in(&a, || stream.read(Vec::with_capacity(8)));
        drop(a);
        let (result, _buf) = b.run_until_complete(support::guard("a closed loop's read", read));
        let err = result.expect_err("the loop closed");
        assert!(err.to_string().contains("closed"), "{backend:?}: {err}");
    });
}

// ---------------------------------------------------------------------------------------
// Item 10: misuse messages

#[test]
fn an_operation_passed_straight_to_run_until_complete_says_to_build_it_inside() {
    let _fds = support::shared_fds();
    support::for_each_backend(|lp| {
        let (mine, mut peer) = std::os::unix::net::UnixStream::pair().unwrap();
        let stream = UnixStream::from_std(mine).unwrap();
        let msg = panic_message_of("run_until_complete(stream.read(buf))", || {
            lp.run_until_complete(stream.read(Vec::with_capacity(8)))
        });
        assert!(
            msg.contains("reading from a socket needs a running ringloop event loop"),
            "{msg:?}"
        );
        assert!(
            msg.contains("created before the loop started running")
                && msg.contains("lp.run_until_complete(async { stream.read(buf).await })"),
            "the message must say how to build it inside the loop: {msg:?}"
        );
        // What the message advises works.
        std::io::Write::write_all(&mut peer, b"hi").unwrap();
        let (n, _) = lp.run_until_complete(async { stream.read(Vec::with_capacity(8)).await });
        assert_eq!(n.unwrap(), 2);
    });
}

#[test]
fn a_spawn_passed_straight_to_run_until_complete_says_to_build_it_inside() {
    support::for_each_backend(|lp| {
        let msg = panic_message_of("run_until_complete(spawn(..))", || {
            lp.run_until_complete(ringloop::spawn(async {}))
        });
        assert!(
            msg.contains("ringloop::spawn() needs a running ringloop event loop")
                && msg.contains("created before the loop started running"),
            "{msg:?}"
        );
    });
}

#[test]
fn shield_outside_a_loop_names_shield() {
    support::for_each_backend(|lp| {
        let msg = panic_message_of("run_until_complete(shield(..))", || {
            lp.run_until_complete(ringloop::shield(async {}))
        });
        assert!(
            msg.contains("ringloop::shield() needs a running ringloop event loop"),
            "{msg:?}"
        );
        assert!(!msg.contains("spawn()"), "{msg:?}");
    });
}

#[test]
fn a_sleep_polled_by_another_executor_says_so() {
    support::for_each_backend(|_lp| {
        let msg = panic_message_of("polling a sleep by hand", || {
            let mut sleep = pin!(ringloop::sleep(Duration::from_millis(1)));
            let mut cx = Context::from_waker(Waker::noop());
            let _ = sleep.as_mut().poll(&mut cx);
        });
        assert!(
            msg.contains("sleep() / timeout() was polled outside a running ringloop event loop")
                && msg.contains("not from another executor"),
            "{msg:?}"
        );
    });
}

// ---------------------------------------------------------------------------------------
// Item 12: a bounded remote queue

/// A call that counts its runs in `runs[i]` and its drops in `drops`.
fn counted_call(
    i: usize,
    runs: &Arc<Vec<AtomicUsize>>,
    drops: &Arc<AtomicUsize>,
) -> impl FnOnce() + Send + 'static {
    struct CountDrop(Arc<AtomicUsize>);
    impl Drop for CountDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let runs = runs.clone();
    let guard = CountDrop(drops.clone());
    move || {
        let _guard = guard;
        runs[i].fetch_add(1, Ordering::SeqCst);
    }
}

fn counters(n: usize) -> Arc<Vec<AtomicUsize>> {
    Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect())
}

#[test]
fn a_bounded_remote_queue_refuses_the_call_past_the_limit_and_loses_nothing() {
    const LIMIT: usize = 16;
    support::on_each_backend(|backend| {
        let lp = bounded_loop(backend, LIMIT);
        let remote = lp.remote();
        let runs = counters(LIMIT + 1);
        let drops = Arc::new(AtomicUsize::new(0));
        for i in 0..LIMIT {
            remote
                .try_call_soon_threadsafe(counted_call(i, &runs, &drops))
                .unwrap_or_else(|e| panic!("{backend:?}: call {i} of {LIMIT}: {e}"));
        }
        let refused = match remote.try_call_soon_threadsafe(counted_call(LIMIT, &runs, &drops)) {
            Err(TrySendError::Full(f)) => f,
            other => panic!("{backend:?}: expected Full, got {other:?}"),
        };
        assert_eq!(
            drops.load(Ordering::SeqCst),
            0,
            "a refused call is handed back"
        );
        run_until(&lp, "the accepted calls", || {
            runs[..LIMIT].iter().all(|r| r.load(Ordering::SeqCst) > 0)
        });
        // Room again: the refused closure itself goes through now.
        remote
            .try_call_soon_threadsafe(refused)
            .unwrap_or_else(|e| panic!("{backend:?}: after the drain: {e}"));
        run_until(&lp, "the resent call", || {
            runs[LIMIT].load(Ordering::SeqCst) > 0
        });
        let counts: Vec<usize> = runs.iter().map(|r| r.load(Ordering::SeqCst)).collect();
        assert_eq!(
            counts,
            vec![1; LIMIT + 1],
            "{backend:?}: each call runs once"
        );
        assert_eq!(drops.load(Ordering::SeqCst), LIMIT + 1);
    });
}

#[test]
fn the_unbounded_call_still_queues_past_the_limit() {
    support::on_each_backend(|backend| {
        let lp = bounded_loop(backend, 1);
        let remote = lp.remote();
        let ran = Arc::new(AtomicUsize::new(0));
        remote.try_call_soon_threadsafe(|| {}).unwrap();
        assert!(
            remote
                .try_call_soon_threadsafe(|| {})
                .unwrap_err()
                .is_full()
        );
        for _ in 0..3 {
            let ran = ran.clone();
            remote
                .call_soon_threadsafe(move || {
                    ran.fetch_add(1, Ordering::SeqCst);
                })
                .unwrap();
        }
        run_until(&lp, "the unbounded calls", || {
            ran.load(Ordering::SeqCst) == 3
        });
    });
}

#[test]
fn a_zero_limit_counts_as_one() {
    support::on_each_backend(|backend| {
        let lp = bounded_loop(backend, 0);
        let remote = lp.remote();
        remote.try_call_soon_threadsafe(|| {}).unwrap();
        assert!(
            remote
                .try_call_soon_threadsafe(|| {})
                .unwrap_err()
                .is_full()
        );
    });
}

#[test]
fn senders_applying_back_pressure_get_every_call_run_exactly_once() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 2000;
    support::on_each_backend(|backend| {
        let lp = bounded_loop(backend, 8);
        let runs = counters(THREADS * PER_THREAD);
        let drops = Arc::new(AtomicUsize::new(0));
        let senders: Vec<_> = (0..THREADS)
            .map(|t| {
                let remote = lp.remote();
                let runs = runs.clone();
                let drops = drops.clone();
                std::thread::spawn(move || {
                    for i in t * PER_THREAD..(t + 1) * PER_THREAD {
                        let mut call = counted_call(i, &runs, &drops);
                        loop {
                            match remote.try_call_soon_threadsafe(call) {
                                Ok(()) => break,
                                Err(TrySendError::Full(f)) => {
                                    call = f;
                                    std::thread::yield_now();
                                }
                                Err(TrySendError::Closed(_)) => panic!("closed early"),
                            }
                        }
                    }
                })
            })
            .collect();
        run_until(&lp, "every sent call", || {
            drops.load(Ordering::SeqCst) == THREADS * PER_THREAD
        });
        for sender in senders {
            sender.join().unwrap();
        }
        assert!(
            runs.iter().all(|r| r.load(Ordering::SeqCst) == 1),
            "{backend:?}: a call ran twice or never"
        );
    });
}

#[test]
fn accepted_calls_not_run_are_dropped_at_close_and_later_calls_are_refused() {
    const LIMIT: usize = 32;
    support::on_each_backend(|backend| {
        let lp = bounded_loop(backend, LIMIT);
        let remote = lp.remote();
        let runs = counters(LIMIT);
        let drops = Arc::new(AtomicUsize::new(0));
        for i in 0..LIMIT {
            remote
                .try_call_soon_threadsafe(counted_call(i, &runs, &drops))
                .unwrap();
        }
        drop(lp);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            LIMIT,
            "{backend:?}: every accepted call is dropped at close"
        );
        assert!(runs.iter().all(|r| r.load(Ordering::SeqCst) == 0));
        let hit = Arc::new(AtomicBool::new(false));
        let h = hit.clone();
        let refused = match remote.try_call_soon_threadsafe(move || h.store(true, Ordering::SeqCst))
        {
            Err(TrySendError::Closed(f)) => f,
            other => panic!("{backend:?}: expected Closed, got {other:?}"),
        };
        refused();
        assert!(
            hit.load(Ordering::SeqCst),
            "the refused closure comes back intact"
        );
        assert_eq!(remote.call_soon_threadsafe(|| {}), Err(Closed));
        assert!(remote.is_closed());
    });
}
