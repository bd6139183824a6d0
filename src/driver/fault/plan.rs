//! What the fault driver injects ([`FaultPlan`]) and the seeded PRNG that decides when.

/// What a loop built with [`Builder::fault_injection`](crate::Builder::fault_injection)
/// injects, as probabilities (`0.0` never, `1.0` always). Feature `fault-injection`.
///
/// A fault plan is how a service chaos-tests itself on the real loop and the real
/// kernel: the loop runs unchanged on a wrapper around its backend, which perturbs what
/// the kernel reports, deterministically by seed. Two kinds of fault:
///
/// - **hidden** ones, which a correct loop absorbs and a service never sees: failed
///   waits (`turn_error`), operations held back (`partial_submit`) or delivered late,
///   out of order or twice (`delay`, `reorder`, `duplicate`), completions under unknown
///   or stale tokens (`stray`), short reads and writes (`short_io`: `write_all` and
///   `read_exact` still move every byte), and `EINTR`/`EAGAIN` from operations
///   (`op_error` with the default `op_errnos`). Under these a service must behave
///   exactly as without them;
/// - **visible** ones, which reach the service as the kernel's errors would: other
///   errnos in `op_errnos` (say `ENOBUFS` or `ENOMEM`: a read or write fails with that
///   `io::Error`), and a failed setup (`setup_error`: `build()` returns the error).
///   Under these a service must fail cleanly: one connection lost, nothing leaked.
///
/// Everything the loop does goes through it: futures' operations and the
/// callback-driven ones of [`net::serve`](crate::net::serve) alike, whose protocols see
/// the visible faults as `connection_lost(Some(error))`.
///
/// Build one with struct-update syntax from [`FaultPlan::default`] (which injects
/// nothing) or [`FaultPlan::chaos`] (every hidden fault at a moderate rate). A run is
/// reproducible in the faults it chooses, not in every interleaving: the kernel's
/// timing still varies.
///
/// ```
/// use ringloop::net::UnixStream;
/// use ringloop::{EventLoop, FaultPlan};
///
/// for seed in 0..8 {
///     let lp = EventLoop::builder()
///         .fault_injection(seed, FaultPlan::chaos())
///         .build()
///         .unwrap();
///     lp.run_until_complete(async {
///         let (a, b) = UnixStream::pair().unwrap();
///         let message: Vec<u8> = (0..64 * 1024).map(|i| i as u8).collect();
///         let writer = ringloop::spawn(async move {
///             let (sent, _) = a.write_all(message).await;
///             sent.unwrap();
///         });
///         // Short reads, retries and reordered completions are hidden: every byte
///         // arrives, in order.
///         let (got, buf) = b.read_exact(Vec::with_capacity(64 * 1024)).await;
///         got.unwrap();
///         assert!(buf.iter().enumerate().all(|(i, &x)| x == i as u8), "seed {seed}");
///         writer.await.unwrap();
///     });
/// }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct FaultPlan {
    /// When set, building the loop fails with this errno (after the real driver was
    /// built and dropped).
    pub setup_error: Option<i32>,
    /// Per turn: the turn fails with one of `turn_errnos`, doing nothing.
    pub turn_error: f64,
    /// The errnos a failing turn reports (default `EINTR`, `EAGAIN`, `EBUSY`, `ENOMEM`).
    pub turn_errnos: Vec<i32>,
    /// Per turn: only a random prefix of the queued operations is forwarded.
    pub partial_submit: f64,
    /// Per completion: it is held back for 1 to `max_delay_turns` turns.
    pub delay: f64,
    /// The longest delay, in turns (default 3).
    pub max_delay_turns: u32,
    /// Per turn: the completions delivered together are shuffled.
    pub reorder: f64,
    /// Per completion: it is delivered a second time, under the same token.
    pub duplicate: f64,
    /// Per turn: one completion under an unknown or stale token is delivered.
    pub stray: f64,
    /// Per stream recv or send: it is forwarded with a shorter length.
    pub short_io: f64,
    /// Per accept, connect, recv or send (for [`net::serve`](crate::net::serve): per
    /// multishot receive or accept, readiness wait or send): it completes with one of
    /// `op_errnos` without reaching the kernel. A readiness wait is never given `EINTR`
    /// or `EAGAIN`, which the kernel never reports for one.
    pub op_error: f64,
    /// The errnos a failing operation reports (default `EINTR`, `EAGAIN`).
    pub op_errnos: Vec<i32>,
}

impl Default for FaultPlan {
    /// Injects nothing.
    fn default() -> Self {
        FaultPlan {
            setup_error: None,
            turn_error: 0.0,
            turn_errnos: vec![libc::EINTR, libc::EAGAIN, libc::EBUSY, libc::ENOMEM],
            partial_submit: 0.0,
            delay: 0.0,
            max_delay_turns: 3,
            reorder: 0.0,
            duplicate: 0.0,
            stray: 0.0,
            short_io: 0.0,
            op_error: 0.0,
            op_errnos: vec![libc::EINTR, libc::EAGAIN],
        }
    }
}

impl FaultPlan {
    /// Every fault the loop must hide from user code, at a moderate rate: turn errors,
    /// partial submits, delays, reordering, duplicates, strays, short stream I/O, and
    /// `EINTR`/`EAGAIN` from operations.
    ///
    /// ```
    /// use ringloop::{EventLoop, FaultPlan};
    ///
    /// let lp = EventLoop::builder().fault_injection(42, FaultPlan::chaos()).build()?;
    /// let slept = lp.run_until_complete(async {
    ///     ringloop::sleep(std::time::Duration::from_millis(1)).await;
    ///     "timers and tasks work as ever"
    /// });
    /// assert_eq!(slept, "timers and tasks work as ever");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn chaos() -> FaultPlan {
        FaultPlan {
            turn_error: 0.1,
            partial_submit: 0.3,
            delay: 0.3,
            reorder: 0.5,
            duplicate: 0.1,
            stray: 0.1,
            short_io: 0.3,
            op_error: 0.1,
            ..FaultPlan::default()
        }
    }
}

/// splitmix64: small, fast, and good enough to pick faults.
#[derive(Debug)]
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with probability `p` (draws nothing when `p` is zero).
    pub(super) fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && ((self.next() >> 11) as f64) / ((1u64 << 53) as f64) < p
    }

    /// Uniform in `0..n` (`n > 0`).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub(super) fn pick(&mut self, choices: &[i32]) -> Option<i32> {
        if choices.is_empty() {
            None
        } else {
            Some(choices[self.below(choices.len() as u64) as usize])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prng_is_deterministic_and_spread() {
        let mut a = Rng(42);
        let mut b = Rng(42);
        let xs: Vec<u64> = (0..100).map(|_| a.next()).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.next()).collect();
        assert_eq!(xs, ys);
        let mut r = Rng(7);
        let hits = (0..10_000).filter(|_| r.chance(0.25)).count();
        assert!((2000..3000).contains(&hits), "{hits}");
        assert!(!Rng(1).chance(0.0));
        assert!((0..100).all(|_| r.below(3) < 3));
    }
}
