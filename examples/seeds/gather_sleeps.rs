//! Ten sleepers, gathered.
//!
//! Ten tasks each sleep for a random number of ticks and report back. They are spawned
//! together, so their sleeps overlap: the whole program takes about as long as the
//! longest sleep, not the sum of them. [`ringloop::gather`] hands back their reports in
//! the order the tasks were passed to it, whichever finished first; the order in which
//! they actually finished is recorded separately and follows the sleep lengths.
//!
//! Every sleeper counts its ticks from one shared starting instant (with
//! [`ringloop::sleep_until`]), so their deadlines are exactly "start + n ticks". Two
//! sleepers with the same n then have the same deadline, and ringloop fires equal
//! deadlines in the order they were set: the finishing order is fully determined by
//! (ticks, spawn order), with no dependence on how fast the loop got around to each.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::{Narrator, Rng};

/// How many sleepers.
pub const SLEEPERS: usize = 10;

/// One tick. The original program slept whole seconds; tens of milliseconds show the
/// same thing much faster.
pub const TICK: Duration = Duration::from_millis(10);

/// The longest sleep, in ticks (the shortest is one).
pub const MAX_TICKS: u32 = 5;

/// One sleeper's report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report {
    /// The sleeper's position among the futures given to `gather`.
    pub id: usize,
    /// How many ticks it slept.
    pub ticks: u32,
}

/// What happened.
#[derive(Debug)]
pub struct Outcome {
    /// What `gather` returned: one report per sleeper, in argument order.
    pub gathered: Vec<Report>,
    /// The sleepers' ids in the order they woke up and finished.
    pub finished: Vec<usize>,
}

/// Runs the ten sleepers, with sleep lengths drawn from `seed`.
pub fn run(seed: u64, say: &Narrator) -> Outcome {
    let mut rng = Rng::new(seed);
    let plan: Vec<u32> = (0..SLEEPERS)
        .map(|_| {
            let ticks = rng.between(1, u64::from(MAX_TICKS));
            u32::try_from(ticks).expect("at most MAX_TICKS")
        })
        .collect();
    let finished = Rc::new(RefCell::new(Vec::new()));

    let results = ringloop::run(async {
        let start = Instant::now();
        let sleepers: Vec<_> = plan
            .iter()
            .enumerate()
            .map(|(id, &ticks)| {
                let wake_at = start + TICK * ticks;
                ringloop::spawn(sleeper(id, ticks, wake_at, finished.clone(), say.clone()))
            })
            .collect();
        say.say(format!(
            "{SLEEPERS} sleepers started; waiting for all of them with gather"
        ));
        ringloop::gather(sleepers).await
    });

    let gathered = results
        .into_iter()
        .map(|result| result.expect("a sleeper only sleeps; it cannot fail"))
        .collect();
    let finished = finished.take();
    Outcome { gathered, finished }
}

async fn sleeper(
    id: usize,
    ticks: u32,
    wake_at: Instant,
    finished: Rc<RefCell<Vec<usize>>>,
    say: Narrator,
) -> Report {
    ringloop::sleep_until(wake_at).await;
    finished.borrow_mut().push(id);
    let plural = if ticks == 1 { "" } else { "s" };
    say.say(format!("sleeper {id} woke up after {ticks} tick{plural}"));
    Report { id, ticks }
}
