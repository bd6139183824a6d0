//! The state bits of a queue node (task or callback), readable as a spec.
//!
//! # Ground rules
//!
//! The bits live in a plain `Cell<u32>` and are only ever read or written on the thread
//! that runs the node's loop. Another thread never touches them: a cross-thread wake goes
//! through [`Shared`](super::remote::Shared) and is applied by the loop thread when it
//! drains the remote queue.

use std::fmt;

/// A snapshot of a node's state bits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct State(pub(crate) u32);

impl State {
    /// The node sits in the loop's ready queue (holding one reference).
    pub(crate) const SCHEDULED: u32 = 1 << 0;
    /// The task's future is being polled right now.
    pub(crate) const RUNNING: u32 = 1 << 1;
    /// The future is gone (finished, panicked or cancelled); the result is stored.
    pub(crate) const COMPLETE: u32 = 1 << 2;
    /// `cancel()` was called: the next run drops the future instead of polling it.
    pub(crate) const CANCEL_REQUESTED: u32 = 1 << 3;
    /// A `Task<T>` handle is alive.
    pub(crate) const HANDLE: u32 = 1 << 4;
    /// The result was observed: taken by the handle or shown to a done callback.
    pub(crate) const RETRIEVED: u32 = 1 << 5;
    /// A callback node was cancelled (its closure is already dropped).
    pub(crate) const CANCELLED: u32 = 1 << 6;
    /// A callback node has run (or was dropped by the loop's close).
    pub(crate) const CALLED: u32 = 1 << 7;

    pub(crate) fn has(self, bits: u32) -> bool {
        self.0 & bits != 0
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(u32, &str); 8] = [
            (State::SCHEDULED, "SCHEDULED"),
            (State::RUNNING, "RUNNING"),
            (State::COMPLETE, "COMPLETE"),
            (State::CANCEL_REQUESTED, "CANCEL_REQUESTED"),
            (State::HANDLE, "HANDLE"),
            (State::RETRIEVED, "RETRIEVED"),
            (State::CANCELLED, "CANCELLED"),
            (State::CALLED, "CALLED"),
        ];
        let mut first = true;
        f.write_str("State(")?;
        for (bit, name) in NAMES {
            if self.0 & bit != 0 {
                if !first {
                    f.write_str(" | ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::State;

    #[test]
    fn debug_decodes_the_bits() {
        let s = State(State::SCHEDULED | State::HANDLE);
        assert_eq!(format!("{s:?}"), "State(SCHEDULED | HANDLE)");
        assert_eq!(format!("{:?}", State(0)), "State()");
    }
}
