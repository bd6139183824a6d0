//! hyper 1.x's runtime traits on ringloop (feature `hyper`): [`HyperExecutor`] spawns
//! hyper's background futures on the running loop, [`HyperTimer`] gives hyper
//! ringloop's timers.
//!
//! The timer's design (a `Send + Sync` sleep made of plain data that reaches the
//! loop's timer queue through the running loop's thread-local view of it) is
//! described on [`HyperTimer`], where users see it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use hyper::rt::{Executor, Sleep as HyperSleepTrait, Timer};

use crate::time::TimerTarget;
use crate::time::queue::TimerKey;
use crate::time::timers::Timers;

/// hyper's executor on ringloop: `execute` spawns the future as a detached task on the
/// running loop. The future need not be `Send`, so HTTP/2 connections, which spawn a
/// task per stream, serve `!Send` services over ringloop's `!Send` streams.
///
/// The task starts in the loop's next iteration, never inside `execute` (hyper calls it
/// from inside a connection's poll), even on a loop with eager tasks.
///
/// # Panics
///
/// `execute` panics when no ringloop loop runs on this thread: give the executor to
/// connections that run on a loop.
///
/// # Examples
///
/// An HTTP/2 server connection (h2c) and an HTTP/2 client, both on the loop:
///
/// ```no_run
/// use http_body_util::{BodyExt, Empty, Full};
/// use hyper::body::Bytes;
/// use hyper::{Request, Response};
/// use hyper_util::rt::TokioIo;
/// use ringloop::compat::HyperExecutor;
/// use ringloop::net::{TcpListener, TcpStream};
///
/// ringloop::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
///     let addr = listener.local_addr().unwrap();
///     ringloop::spawn(async move {
///         let (stream, _) = listener.accept().await.unwrap();
///         let service = hyper::service::service_fn(|_req| async {
///             Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("hi"))))
///         });
///         hyper::server::conn::http2::Builder::new(HyperExecutor)
///             .serve_connection(TokioIo::new(stream), service)
///             .await
///             .unwrap();
///     });
///
///     let stream = TcpStream::connect(addr).await.unwrap();
///     let (mut sender, conn) = hyper::client::conn::http2::Builder::new(HyperExecutor)
///         .handshake(TokioIo::new(stream))
///         .await
///         .unwrap();
///     ringloop::spawn(conn);
///     let req = Request::get("http://localhost/").body(Empty::<Bytes>::new()).unwrap();
///     let res = sender.send_request(req).await.unwrap();
///     let body = res.into_body().collect().await.unwrap().to_bytes();
///     assert_eq!(&body[..], b"hi");
/// });
/// ```
#[derive(Clone, Copy, Default, Debug)]
pub struct HyperExecutor;

impl<F> Executor<F> for HyperExecutor
where
    F: Future + 'static,
{
    fn execute(&self, fut: F) {
        let core = crate::event_loop::context::current_core("HyperExecutor::execute");
        // Detached; hyper's futures end by themselves (their output is unit).
        drop(core.spawn(
            async move {
                drop(fut.await);
            },
            false,
        ));
    }
}

/// hyper's timer on ringloop: the sleeps it hands hyper run on the timers of the loop
/// they are polled on, and [`reset`](Timer::reset) moves one's deadline without a new
/// allocation.
///
/// Give it to a connection builder's `timer(..)`; the HTTP/1 server then enforces its
/// header-read timeout (`header_read_timeout`), and HTTP/2 its keep-alive pings.
///
/// # Design
///
/// hyper boxes every sleep as `Pin<Box<dyn hyper::rt::Sleep>>`, and that trait requires
/// `Send + Sync`, while a loop's timers are `Rc`-shared and stay on its thread. So the
/// sleep this timer makes holds plain data only: its deadline and, once armed, the key
/// of its timer in the loop's queue (slot and generation), the loop's id, and its
/// waker (`Send + Sync`). Whatever touches the queue reaches it through the running
/// loop's thread-local view of its timers, after checking that the running loop is
/// the one the key belongs to; a stale key (its timer fired) is recognised by its
/// generation and does nothing. No `Rc` inside, so no `unsafe` either.
///
/// It is built for hyper's hot path: the HTTP/1 server makes a sleep for each request
/// head it reads and drops it once the head is in.
///
/// - making one allocates the box hyper asks for, nothing more: the timer starts on the
///   first poll, so a sleep never polled (the head arrived whole) never touches the
///   queue;
/// - arming inserts into the loop's timer queue (`O(1)` for deadlines within about four
///   seconds, a heap push beyond), and dropping an armed sleep removes it (`O(1)` too);
/// - a poll of an armed sleep refreshes its waker in place;
/// - `reset` stores the new deadline in the same box. A later deadline than the armed
///   timer's costs nothing more: the timer fires at the old deadline, the sleep sees
///   its deadline has moved and re-arms (one early wake-up per move). An earlier one
///   moves the armed timer at once, with its waker, so the sleeper wakes on time
///   without another poll.
///
/// A sleep never completes before its deadline: only once its timer has fired, and only
/// if the deadline that timer was armed for is not before the sleep's deadline.
///
/// # Where its sleeps are dropped
///
/// Dropped on its loop's thread while that loop runs, which is where hyper drops them
/// (the connection future that owns one runs there, and a loop drops its tasks, even
/// leftovers, while running), a sleep cancels its timer: no timer outlives its sleep.
/// Dropped anywhere else (another thread, or between two `run_until_complete` calls) it
/// cannot reach the queue: its timer stays until its deadline and then fires into a
/// waker nobody waits on, a no-op, or until the loop closes and discards it. Nothing is
/// freed twice, and nothing stays past that deadline. Reset there to an earlier
/// deadline, an armed sleep cannot move its timer either: it completes when the old
/// timer fires (late, never early), unless polled on its loop before then.
///
/// # Panics
///
/// A sleep it made panics when polled where no ringloop loop runs, or on a loop other
/// than the one it was first polled on (as [`crate::Sleep`] does).
///
/// # Examples
///
/// An HTTP/1.1 server connection that closes a client which takes over 5 s to send its
/// request head:
///
/// ```no_run
/// use std::time::Duration;
///
/// use http_body_util::Full;
/// use hyper::body::Bytes;
/// use hyper::Response;
/// use hyper_util::rt::TokioIo;
/// use ringloop::compat::HyperTimer;
/// use ringloop::net::TcpListener;
///
/// ringloop::run(async {
///     let listener = TcpListener::bind("127.0.0.1:8080").unwrap();
///     loop {
///         let (stream, _) = listener.accept().await.unwrap();
///         ringloop::spawn(async move {
///             let service = hyper::service::service_fn(|_req| async {
///                 Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("hi"))))
///             });
///             let _ = hyper::server::conn::http1::Builder::new()
///                 .timer(HyperTimer)
///                 .header_read_timeout(Duration::from_secs(5))
///                 .serve_connection(TokioIo::new(stream), service)
///                 .await;
///         });
///     }
/// });
/// ```
///
/// Used directly, its sleeps are futures like [`crate::sleep`]'s:
///
/// ```
/// use std::time::{Duration, Instant};
/// use hyper::rt::Timer;
/// use ringloop::compat::HyperTimer;
///
/// ringloop::run(async {
///     let start = Instant::now();
///     let mut sleep = HyperTimer.sleep(Duration::from_secs(60));
///     HyperTimer.reset(&mut sleep, start + Duration::from_millis(5));
///     sleep.await;
///     assert!(start.elapsed() >= Duration::from_millis(5));
/// });
/// ```
#[derive(Clone, Copy, Default, Debug)]
pub struct HyperTimer;

impl Timer for HyperTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn HyperSleepTrait>> {
        // `Instant + Duration::MAX` would overflow: such a sleep never ends.
        let deadline = Instant::now().checked_add(duration);
        Box::pin(HyperSleep::new(deadline))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn HyperSleepTrait>> {
        Box::pin(HyperSleep::new(Some(deadline)))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn HyperSleepTrait>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<HyperSleep>() {
            Some(ours) => ours.get_mut().reset(new_deadline),
            // Another timer's sleep: replace it, as hyper's default does.
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// The sleep [`HyperTimer`] hands hyper: plain data, so `Send + Sync` without `unsafe`
/// (see the module docs).
struct HyperSleep {
    /// When it completes; `None`: never.
    deadline: Option<Instant>,
    state: State,
    /// The last poll's waker, while armed: the queue holds a clone, and an earlier
    /// deadline moves the timer with it.
    waker: Option<Waker>,
}

#[derive(Clone, Copy, Debug)]
enum State {
    /// No timer armed (not polled since it was made or reset).
    Idle,
    /// A timer armed for `at` in the queue of the loop with id `loop_id`.
    Armed {
        loop_id: usize,
        key: TimerKey,
        at: Option<Instant>,
    },
    /// Its deadline has passed (until a reset).
    Done,
}

impl HyperSleep {
    fn new(deadline: Option<Instant>) -> HyperSleep {
        HyperSleep {
            deadline,
            state: State::Idle,
            waker: None,
        }
    }

    /// Moves the deadline (see [`HyperTimer`] for what it costs).
    fn reset(&mut self, deadline: Instant) {
        self.deadline = Some(deadline);
        match self.state {
            State::Idle => {}
            State::Done => self.state = State::Idle,
            // Armed no later than the new deadline: the sleep re-arms when it fires.
            State::Armed { at, .. } if !armed_too_late(at, self.deadline) => {}
            State::Armed { loop_id, key, .. } => {
                // Armed too late: move the timer now, with its waker, so it wakes the
                // sleeper at the new deadline even if nobody polls before then. Off its
                // loop the queue is out of reach: the old timer fires late, and the
                // sleep completes then.
                let (Some(timers), Some(waker)) = (running_timers(loop_id), &self.waker) else {
                    return;
                };
                // Fired already (false): the sleeper is woken, and its next poll sees
                // that the timer fired after the new deadline and completes.
                if timers.update_waker(key, waker) {
                    timers.remove(key);
                    let at = Some(deadline);
                    let key = timers.insert(ns_at(&timers, at), TimerTarget::Wake(waker.clone()));
                    self.state = State::Armed { loop_id, key, at };
                }
            }
        }
    }

    /// Arms a timer for the current deadline on the running loop.
    fn arm(&mut self, cx: &Context<'_>) {
        let timers = crate::time::current::timers("a hyper sleep (HyperTimer)");
        let at = self.deadline;
        let waker = cx.waker().clone();
        let key = timers.insert(ns_at(&timers, at), TimerTarget::Wake(waker.clone()));
        self.waker = Some(waker);
        self.state = State::Armed {
            loop_id: timers.loop_id(),
            key,
            at,
        };
    }
}

/// Whether a timer armed for `at` fires after `deadline` (`None`: never).
fn armed_too_late(at: Option<Instant>, deadline: Option<Instant>) -> bool {
    match (at, deadline) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(at), Some(deadline)) => at > deadline,
    }
}

/// A deadline on `timers`' clock (`u64::MAX`, never, for `None`).
fn ns_at(timers: &Timers, at: Option<Instant>) -> u64 {
    at.map_or(u64::MAX, |t| timers.deadline_at(t))
}

/// The timers of the loop with id `loop_id`, if it is the one running on this thread.
fn running_timers(loop_id: usize) -> Option<std::rc::Rc<Timers>> {
    if crate::task::current::is_running(loop_id) {
        // The loop sets its timers' view before, and clears it after, its scheduler's.
        Some(crate::time::current::timers("a hyper sleep (HyperTimer)"))
    } else {
        None
    }
}

impl Future for HyperSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        match this.state {
            State::Done => Poll::Ready(()),
            State::Idle => {
                this.arm(cx);
                Poll::Pending
            }
            State::Armed { loop_id, key, at } => {
                if !crate::task::current::is_running(loop_id) {
                    crate::task::current::wrong_loop("a hyper sleep (HyperTimer)");
                }
                let timers = crate::time::current::timers("a hyper sleep (HyperTimer)");
                if timers.update_waker(key, cx.waker()) {
                    if armed_too_late(at, this.deadline) {
                        // Reset to an earlier deadline where the queue was out of reach.
                        timers.remove(key);
                        this.arm(cx);
                    } else if !this.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                        this.waker = Some(cx.waker().clone());
                    }
                    return Poll::Pending;
                }
                // Fired at `at`, so now is past `at`: done unless the deadline moved on.
                // (A timer for "never" is gone only when its loop closed and discarded
                // it: done, as a `crate::Sleep` is then.)
                let reached = match (at, this.deadline) {
                    (None, _) => true,
                    (Some(_), None) => false,
                    (Some(at), Some(deadline)) => at >= deadline,
                };
                if reached {
                    this.state = State::Done;
                    this.waker = None;
                    Poll::Ready(())
                } else {
                    this.arm(cx);
                    Poll::Pending
                }
            }
        }
    }
}

impl HyperSleepTrait for HyperSleep {}

impl Drop for HyperSleep {
    fn drop(&mut self) {
        if let State::Armed { loop_id, key, .. } = self.state {
            if let Some(timers) = running_timers(loop_id) {
                timers.remove(key);
            }
        }
    }
}

impl fmt::Debug for HyperSleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HyperSleep")
            .field("deadline", &self.deadline)
            .field("state", &self.state)
            .finish()
    }
}
