//! Time: the timer queue, `sleep`, `sleep_until`, `timeout` and `timeout_at`.
//!
//! Durations count from the first poll, as an asyncio coroutine's body starts when the
//! loop first runs it: `sleep(d)` resolves no earlier than `d` after it was first polled.
//! A timer never fires before its deadline; equal deadlines fire in the order they were
//! scheduled.

#![forbid(unsafe_code)]

pub(crate) mod current;
pub(crate) mod queue;
mod sleep;
mod timeout;
pub(crate) mod timers;

use std::task::Waker;

use crate::task::header::NodeRef;

pub use sleep::{Sleep, sleep, sleep_until};
pub use timeout::{Elapsed, timeout, timeout_at};

/// What a timer does when it fires.
pub(crate) enum TimerTarget {
    /// Wake a sleeping future.
    Wake(Waker),
    /// Schedule a `call_later` / `call_at` callback node.
    Call(NodeRef),
}

impl TimerTarget {
    /// Starts loading the memory that firing this timer will touch: the woken task's
    /// node (a ringloop waker's data pointer; any other waker's is harmless to prefetch)
    /// or the callback's.
    pub(crate) fn prefetch(&self) {
        match self {
            TimerTarget::Wake(waker) => crate::sys::prefetch(waker.data()),
            TimerTarget::Call(node) => crate::sys::prefetch(node.as_ptr().as_ptr()),
        }
    }
}

/// Converts a duration to whole nanoseconds, saturating at `u64::MAX` ("never").
/// `Builder::timer_slack`'s default: timers due within the same millisecond of the
/// loop's clock share one wake-up (tokio's and libuv's resolution).
pub(crate) const DEFAULT_SLACK: std::time::Duration = std::time::Duration::from_millis(1);

pub(crate) fn duration_to_ns(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::duration_to_ns;
    use std::time::Duration;

    #[test]
    fn duration_max_saturates_instead_of_overflowing() {
        assert_eq!(duration_to_ns(Duration::MAX), u64::MAX);
        assert_eq!(duration_to_ns(Duration::from_millis(3)), 3_000_000);
    }
}
