//! Operations the kernel answers with `EAGAIN` and no readiness to wait for.
//!
//! A connect to a Unix listener whose backlog is full answers `EAGAIN`, and nothing
//! signals when room frees up: resubmitting at once would spin the loop (thousands of
//! `io_uring_enter` a second). Both drivers instead try again after a wait that starts at
//! 1 ms and doubles up to 16 ms ([`RETRY_WAITS`]): a connect that finds room soon gets
//! it soon, and one that waits long costs about 60 attempts a second. The io_uring
//! driver keeps such an operation in flight under its own token and puts a timeout in
//! its place, then submits it again; a cancel of the token meanwhile cancels the
//! timeout, and the operation completes with `ECANCELED`. The epoll driver keeps it in
//! a list of retries due at a time, which bounds its waits.
//!
//! This file holds the schedule and the io_uring side's bookkeeping, as pure logic:
//! which tokens are such operations and which phase each is in.

use std::time::Duration;

use super::op::{OpCode, OpId};

/// The waits between attempts of an operation that answered `EAGAIN` with nothing to
/// wait for (both backends): the first after the first such answer, and so on; the
/// last one from then on.
pub(crate) const RETRY_WAITS: [Duration; 5] = [
    Duration::from_millis(1),
    Duration::from_millis(2),
    Duration::from_millis(4),
    Duration::from_millis(8),
    Duration::from_millis(16),
];

/// The index in [`RETRY_WAITS`] of the wait after the one at `step`.
pub(crate) fn next_step(step: usize) -> usize {
    (step + 1).min(RETRY_WAITS.len() - 1)
}

/// Whether `code` is an operation that may answer `EAGAIN` without readiness to wait
/// for, so the driver must track it for retries.
pub(crate) fn may_need_retry(code: &OpCode) -> bool {
    matches!(code, OpCode::Connect { .. })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// The operation itself is in the kernel; if it answers `EAGAIN`, the wait is
    /// `RETRY_WAITS[step]`.
    Running { step: usize },
    /// Its retry timeout (`RETRY_WAITS[step]`) is in the kernel, under its token.
    Waiting { step: usize },
}

/// What the driver does with a completion for a token.
#[derive(Clone, Copy, Debug)]
#[must_use]
pub(crate) enum Verdict {
    /// Hand this result to the op slab: the operation is over.
    Deliver(i32),
    /// Submit a timeout of `RETRY_WAITS[step]` under the token (the operation stays in
    /// flight).
    Wait { step: usize },
    /// The wait is over: submit the operation again under the token.
    Resubmit(OpCode),
}

/// The tracked operations of one io_uring driver: token, operation, phase, and whether
/// it was cancelled (or abandoned), which stops its retries.
#[derive(Debug, Default)]
pub(crate) struct Retries {
    tracked: Vec<(OpId, OpCode, Phase, bool)>,
}

impl Retries {
    /// Starts tracking the operation submitted under `token`, if it may need retries.
    pub(crate) fn track(&mut self, token: OpId, code: &OpCode) {
        if may_need_retry(code) {
            self.tracked
                .push((token, *code, Phase::Running { step: 0 }, false));
        }
    }

    /// The operation under `token` was cancelled or abandoned: it is not tried again.
    /// Its next completion ends it, as `ECANCELED` if it was a wait or a would-block.
    /// (Resubmitted after its owner let go, a connect would name a descriptor number
    /// that may belong to another socket by then.)
    pub(crate) fn cancel(&mut self, token: OpId) {
        if let Some(entry) = self.tracked.iter_mut().find(|entry| entry.0 == token) {
            entry.3 = true;
        }
    }

    /// Stops tracking `token` (its submission failed).
    pub(crate) fn forget(&mut self, token: OpId) {
        self.tracked.retain(|&(t, ..)| t != token);
    }

    /// What to do with a completion carrying `result` for `token`. `retry` is false when
    /// no further attempt may be made (the driver is shutting down).
    pub(crate) fn on_completion(&mut self, token: OpId, result: i32, retry: bool) -> Verdict {
        let Some(i) = self.tracked.iter().position(|&(t, ..)| t == token) else {
            return Verdict::Deliver(result);
        };
        let (_, code, phase, cancelled) = self.tracked[i];
        let retry = retry && !cancelled;
        match phase {
            Phase::Running { .. } if result == -libc::EAGAIN && cancelled => {
                self.tracked.swap_remove(i);
                Verdict::Deliver(-libc::ECANCELED)
            }
            Phase::Running { step } if result == -libc::EAGAIN && retry => {
                self.tracked[i].2 = Phase::Waiting { step };
                Verdict::Wait { step }
            }
            Phase::Waiting { step } if result == -libc::ETIME && retry => {
                self.tracked[i].2 = Phase::Running {
                    step: next_step(step),
                };
                Verdict::Resubmit(code)
            }
            Phase::Running { .. } => {
                self.tracked.swap_remove(i);
                Verdict::Deliver(result)
            }
            // The timeout was cancelled (or the driver is closing): the operation did
            // nothing.
            Phase::Waiting { .. } => {
                self.tracked.swap_remove(i);
                Verdict::Deliver(-libc::ECANCELED)
            }
        }
    }

    /// Operations tracked.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.tracked.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect() -> OpCode {
        OpCode::Connect {
            fd: super::super::fd::Fd::new(3),
            addr: std::ptr::null(),
            len: 0,
        }
    }

    fn wait_step(verdict: Verdict) -> usize {
        match verdict {
            Verdict::Wait { step } => step,
            other => panic!("expected a wait, got {other:?}"),
        }
    }

    #[test]
    fn untracked_results_pass_through() {
        let mut r = Retries::default();
        r.track(OpId::from_user_data(1), &OpCode::Nop);
        assert_eq!(r.len(), 0);
        let verdict = r.on_completion(OpId::from_user_data(1), -libc::EAGAIN, true);
        assert!(matches!(verdict, Verdict::Deliver(e) if e == -libc::EAGAIN));
    }

    #[test]
    fn eagain_waits_doubling_then_resubmits_until_a_final_result() {
        let mut r = Retries::default();
        r.track(OpId::from_user_data(7), &connect());
        for expected in [0, 1, 2, 3, 4, 4, 4] {
            let step = wait_step(r.on_completion(OpId::from_user_data(7), -libc::EAGAIN, true));
            assert_eq!(step, expected, "the waits double, then stay at the longest");
            let verdict = r.on_completion(OpId::from_user_data(7), -libc::ETIME, true);
            assert!(matches!(verdict, Verdict::Resubmit(OpCode::Connect { .. })));
        }
        assert!(matches!(
            r.on_completion(OpId::from_user_data(7), 0, true),
            Verdict::Deliver(0)
        ));
        assert_eq!(r.len(), 0);
        assert!(RETRY_WAITS.windows(2).all(|w| w[1] == w[0] * 2));
    }

    #[test]
    fn a_cancelled_wait_completes_the_operation_cancelled() {
        let mut r = Retries::default();
        r.track(OpId::from_user_data(7), &connect());
        assert_eq!(
            wait_step(r.on_completion(OpId::from_user_data(7), -libc::EAGAIN, true)),
            0
        );
        let verdict = r.on_completion(OpId::from_user_data(7), -libc::ECANCELED, true);
        assert!(matches!(verdict, Verdict::Deliver(e) if e == -libc::ECANCELED));
        assert_eq!(r.len(), 0);
    }

    #[test]
    fn a_cancelled_operation_is_never_tried_again() {
        let mut r = Retries::default();
        let t = OpId::from_user_data(7);
        // Cancelled while its wait runs, and the wait ran out before the cancel landed.
        r.track(t, &connect());
        assert_eq!(wait_step(r.on_completion(t, -libc::EAGAIN, true)), 0);
        r.cancel(t);
        let verdict = r.on_completion(t, -libc::ETIME, true);
        assert!(matches!(verdict, Verdict::Deliver(e) if e == -libc::ECANCELED));
        assert_eq!(r.len(), 0);
        // Cancelled while an attempt runs, which then would block.
        r.track(t, &connect());
        r.cancel(t);
        let verdict = r.on_completion(t, -libc::EAGAIN, true);
        assert!(matches!(verdict, Verdict::Deliver(e) if e == -libc::ECANCELED));
        // One that got through keeps its result.
        r.track(t, &connect());
        r.cancel(t);
        assert!(matches!(r.on_completion(t, 0, true), Verdict::Deliver(0)));
        assert_eq!(r.len(), 0);
    }

    #[test]
    fn no_retry_while_closing() {
        let mut r = Retries::default();
        r.track(OpId::from_user_data(7), &connect());
        let verdict = r.on_completion(OpId::from_user_data(7), -libc::EAGAIN, false);
        assert!(matches!(verdict, Verdict::Deliver(e) if e == -libc::EAGAIN));
        r.track(OpId::from_user_data(8), &connect());
        assert_eq!(
            wait_step(r.on_completion(OpId::from_user_data(8), -libc::EAGAIN, true)),
            0
        );
        let verdict = r.on_completion(OpId::from_user_data(8), -libc::ETIME, false);
        assert!(matches!(verdict, Verdict::Deliver(e) if e == -libc::ECANCELED));
    }
}
