//! `timeout` and `timeout_at`: asyncio's `wait_for`, `timeout` and `timeout_at`.

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::{Duration, Instant};

use super::sleep::{Sleep, sleep, sleep_until};

/// The inner future against the timer, the inner future polled first. A macro rather
/// than a shared `async fn`: a second async layer moved the timer between the two
/// futures' states on every call, which doubled the cost of a timeout around a ready
/// future (`timeout_1m`: 4.0 → 10.0 ms).
macro_rules! race {
    ($timer:expr, $future:expr) => {{
        let mut future = pin!(Some($future));
        let mut timer: Sleep = $timer;
        poll_fn(move |cx| {
            if let Some(inner) = future.as_mut().as_pin_mut()
                && let Poll::Ready(value) = inner.poll(cx)
            {
                future.set(None);
                return Poll::Ready(Ok(value));
            }
            match Pin::new(&mut timer).poll(cx) {
                Poll::Ready(()) => {
                    future.set(None);
                    Poll::Ready(Err(Elapsed(())))
                }
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }};
}

/// The error of a [`timeout`] or [`timeout_at`] whose time ran out.
///
/// ```
/// use std::time::Duration;
///
/// ringloop::run(async {
///     let never = std::future::pending::<()>();
///     let err: ringloop::Elapsed = ringloop::timeout(Duration::from_millis(1), never)
///         .await
///         .unwrap_err();
///     assert_eq!(err.to_string(), "deadline has elapsed");
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

/// Runs `future` for at most `duration` (asyncio's `wait_for`).
///
/// The inner future is polled first, so one that is ready at once never touches the
/// clock or the timer queue; otherwise a timer starts at that first poll. When the time
/// runs out the inner future is dropped there and then (its destructors run) and the
/// result is `Err(Elapsed)`. If the inner future and the timer are ready in the same
/// poll, the inner future's value wins.
///
/// ```
/// use std::time::Duration;
///
/// ringloop::run(async {
///     let slow = ringloop::sleep(Duration::from_secs(60));
///     assert!(ringloop::timeout(Duration::from_millis(5), slow).await.is_err());
///     let quick = async { 7 };
///     assert_eq!(ringloop::timeout(Duration::from_millis(5), quick).await, Ok(7));
/// });
/// ```
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Result<F::Output, Elapsed> {
    race!(sleep(duration), future)
}

/// Runs `future` until the instant `deadline` at most (asyncio's `timeout_at`): as
/// [`timeout`], with an absolute deadline on the loop's clock
/// ([`EventLoop::time`](crate::EventLoop::time), the monotonic `Instant`).
///
/// The time runs out no earlier than `deadline`, never early; a deadline already passed
/// lets the inner future have its first poll (a future ready at once still wins) and
/// then runs out in the loop's next iteration. Several operations can share one
/// deadline, where [`timeout`] would restart the clock for each.
///
/// ```
/// use std::time::{Duration, Instant};
///
/// ringloop::run(async {
///     let deadline = Instant::now() + Duration::from_millis(20);
///     // Both steps share the one deadline.
///     let first = ringloop::timeout_at(deadline, ringloop::sleep(Duration::from_millis(1))).await;
///     assert!(first.is_ok());
///     let second = ringloop::timeout_at(deadline, ringloop::sleep(Duration::from_secs(60))).await;
///     assert!(second.is_err());
///     assert!(Instant::now() >= deadline, "never early");
/// });
/// ```
pub async fn timeout_at<F: Future>(deadline: Instant, future: F) -> Result<F::Output, Elapsed> {
    race!(sleep_until(deadline), future)
}
