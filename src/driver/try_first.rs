//! Try-first I/O: run a socket's recv/send at once, without the driver, when the socket
//! is likely ready.
//!
//! Submitting an operation costs a trip through the driver: an SQE and a completion on
//! io_uring, a turn of the loop and an attempt on epoll, and on both the task waits for
//! the next iteration. When the socket already has data (or send-buffer room), one
//! nonblocking syscall (`MSG_DONTWAIT`) on the first poll finishes the operation there
//! and then, with the very result the kernel would have put in the completion.
//!
//! A [`TryGate`] per socket and direction decides when to try, adaptively:
//!
//! - a try that finds the socket ready keeps trying;
//! - a try that finds it empty (`EAGAIN`) costs a wasted syscall, so the next tries are
//!   skipped: 1 operation after the first miss, doubling on each further miss up to
//!   [`MAX_SKIP`], back to 0 on the next hit. A request/response socket whose reads
//!   always wait thus wastes one syscall in `MAX_SKIP + 1` reads at most;
//! - at most [`STREAK`] immediate completions per direction per loop iteration: a task
//!   that keeps reading a socket that always has data would otherwise never suspend and
//!   starve every other task; past the streak, operations are submitted (and the task
//!   waits for its completion) until the next iteration.

#![forbid(unsafe_code)]

use std::cell::Cell;

/// The most operations skipped after repeated misses.
pub(crate) const MAX_SKIP: u8 = 16;

/// The most immediate completions per gate per loop iteration.
pub(crate) const STREAK: u8 = 16;

/// When to try a socket's syscall before submitting; one per socket and direction.
#[derive(Debug, Default)]
pub(crate) struct TryGate {
    /// Operations still to submit without trying.
    skip: Cell<u8>,
    /// What the next miss sets `skip` to (0 after a hit).
    penalty: Cell<u8>,
    /// The loop iteration of the current streak, and its length.
    iteration: Cell<u64>,
    streak: Cell<u8>,
}

impl TryGate {
    pub(crate) const fn new() -> TryGate {
        TryGate {
            skip: Cell::new(0),
            penalty: Cell::new(0),
            iteration: Cell::new(0),
            streak: Cell::new(0),
        }
    }

    /// Whether the operation about to be submitted in loop iteration `iteration` should
    /// try the syscall first. Counts a skipped operation.
    pub(crate) fn should_try(&self, iteration: u64) -> bool {
        if self.iteration.get() == iteration && self.streak.get() >= STREAK {
            return false;
        }
        match self.skip.get() {
            0 => true,
            n => {
                self.skip.set(n - 1);
                false
            }
        }
    }

    /// The try completed the operation (data, room, end-of-file or an error).
    pub(crate) fn hit(&self, iteration: u64) {
        self.penalty.set(0);
        if self.iteration.get() == iteration {
            self.streak.set(self.streak.get().saturating_add(1));
        } else {
            self.iteration.set(iteration);
            self.streak.set(1);
        }
    }

    /// The try found the socket not ready (`EAGAIN`): skip the next tries.
    pub(crate) fn miss(&self) {
        let next = self.penalty.get().saturating_mul(2).clamp(1, MAX_SKIP);
        self.penalty.set(next);
        self.skip.set(next);
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_SKIP, STREAK, TryGate};

    fn tries(gate: &TryGate, ops: usize, ready: bool) -> usize {
        let mut tried = 0;
        for _ in 0..ops {
            if gate.should_try(0) {
                tried += 1;
                if ready {
                    gate.hit(0);
                } else {
                    gate.miss();
                }
            }
        }
        tried
    }

    #[test]
    fn gate_tries_a_fresh_socket_and_keeps_trying_while_ready() {
        let gate = TryGate::new();
        for i in 1..=1000 {
            assert!(gate.should_try(i));
            gate.hit(i);
        }
    }

    #[test]
    fn gate_backs_off_exponentially_on_misses_up_to_max_skip() {
        let gate = TryGate::new();
        // Tries at ops 0, 2, 5, 10, 19, 36, then every MAX_SKIP + 1.
        let mut tried_at = Vec::new();
        for op in 0..80 {
            if gate.should_try(op) {
                tried_at.push(op);
                gate.miss();
            }
        }
        assert_eq!(tried_at[..6], [0, 2, 5, 10, 19, 36]);
        assert_eq!(tried_at[6] - tried_at[5], u64::from(MAX_SKIP) + 1);
        assert!(tries(&TryGate::new(), 1000, false) <= 1000 / (MAX_SKIP as usize) + 6);
    }

    #[test]
    fn gate_hit_after_misses_resets_the_back_off() {
        let gate = TryGate::new();
        assert!(gate.should_try(0));
        gate.miss();
        gate.miss();
        gate.miss();
        while !gate.should_try(1) {}
        gate.hit(1);
        assert!(gate.should_try(2));
        gate.miss();
        assert!(!gate.should_try(3), "one skip after a fresh miss");
        assert!(gate.should_try(3));
    }

    #[test]
    fn gate_streak_is_bounded_per_iteration() {
        let gate = TryGate::new();
        for _ in 0..STREAK {
            assert!(gate.should_try(7));
            gate.hit(7);
        }
        assert!(!gate.should_try(7), "the streak ran out in iteration 7");
        assert!(gate.should_try(8), "a new iteration, a new streak");
    }
}
