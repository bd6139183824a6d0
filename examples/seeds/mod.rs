//! The asyncio tutorial programs ("seeds"), ported to ringloop.
//!
//! Each submodule is one program, with a `run` function that does the work and returns
//! an outcome: a record of what happened and in which order. `examples/tour.rs` runs
//! every program in turn, and `tests/seeds.rs` runs the same functions with fixed seeds
//! and checks the outcomes; both include this module through
//! `#[path = ".../seeds/mod.rs"] mod seeds;`. The plain ports, one file per program for
//! reading and copying, are the examples of the same names in `examples/`.
//!
//! Two small helpers live here as well: a xorshift random number generator (the
//! programs only need a little randomness, not a dependency) and [`Narrator`], the place
//! where a program describes what it is doing as it goes.

pub mod counters;
pub mod fetch_monitor;
pub mod gather_sleeps;
pub mod producer_consumer;
pub mod run_forever_thread;
pub mod unlikely_to_return;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Receives a program's narration one line at a time.
///
/// The programs run tasks that must own what they use (`'static`), and one of them runs
/// a loop on another thread, so the sink is shared (`Arc`) and thread-safe (`Mutex`).
/// Clones share the same sink.
#[derive(Clone)]
pub struct Narrator {
    sink: Arc<Mutex<dyn FnMut(String) + Send>>,
}

impl Narrator {
    /// A narrator that hands every line to `sink` (print it, collect it, or drop it).
    pub fn new(sink: impl FnMut(String) + Send + 'static) -> Narrator {
        Narrator {
            sink: Arc::new(Mutex::new(sink)),
        }
    }

    /// Passes one line to the sink.
    pub fn say(&self, line: impl Into<String>) {
        let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        sink(line.into());
    }
}

/// A xorshift64 generator: tiny, fast, and good enough to pick sleep lengths and dice
/// rolls. Not for anything that needs real randomness.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator for `seed`. The seed goes through one splitmix64 step first, so seeds
    /// that differ in one bit (0, 1, 2, ...) still give unrelated sequences, and the
    /// state is never the one value xorshift cannot leave (zero).
    pub fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng { state: z.max(1) }
    }

    /// An independent generator for one participant (a task, say) of a program run with
    /// `seed`. Giving each task its own stream keeps what a task draws independent of
    /// the order in which the loop happens to run the tasks.
    pub fn stream(seed: u64, participant: u64) -> Rng {
        Rng::new(seed ^ participant.wrapping_mul(0xD6E8_FEB8_6659_FD93))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }

    /// A number in `low..=high`. (The modulo bias is negligible for the small ranges the
    /// programs use.)
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        assert!(low <= high, "empty range {low}..={high}");
        low + self.next_u64() % (high - low + 1)
    }

    /// A pause of `low..=high` milliseconds.
    pub fn millis(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_millis(self.between(low, high))
    }
}

/// The seed a program should use: the one given (for example on the command line, to
/// replay a run), or else one taken from the clock.
///
/// # Panics
///
/// If `given` is not a number.
pub fn pick_seed(given: Option<String>) -> u64 {
    match given {
        Some(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("the seed must be a whole number, not {text:?}")),
        None => {
            let since_epoch = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            // The low bits of the nanosecond count change from run to run; mix in the
            // process id so two runs started in the same instant still differ.
            (since_epoch.as_nanos() as u64) ^ (u64::from(std::process::id()) << 32)
        }
    }
}
