//! `timeout`: asyncio's `wait_for`.

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::Duration;

use super::sleep::sleep;

/// The error of a [`timeout`] whose time ran out.
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
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Result<F::Output, Elapsed> {
    let mut future = pin!(Some(future));
    let mut timer = sleep(duration);
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
}
