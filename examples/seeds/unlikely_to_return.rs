//! Tasks that are unlikely to return, collected two ways.
//!
//! A worker keeps rolling a hundred-sided die, sleeping a random moment before each
//! roll, until it rolls below [`SUCCESS_BELOW`]; then it returns the winning roll. It
//! only has [`MAX_ATTEMPTS`] rolls, though: when they are used up it fails with
//! [`GaveUp`]. Several workers run at once, and which one finishes first is anybody's
//! guess.
//!
//! - **Awaiting in order.** All the workers are spawned first (so they run
//!   concurrently), then their tasks are awaited one after another. Results come back
//!   in the order of the awaits, even when a later worker finished long before an
//!   earlier one: its result just waits in its task until it is asked for.
//! - **Done callbacks.** Each task gets a callback with [`ringloop::Task::add_done_callback`]
//!   that handles its result as soon as the task is done, in whatever order the workers
//!   happen to finish. The main task still awaits every task, only so that it does not
//!   return (and tear the loop down) before the workers are through. A callback is never
//!   run on the spot, not even when it is added to a task that has already finished: it
//!   is always scheduled for a later turn of the loop, like `call_soon`. The last step
//!   shows that with a task that finished before its callback was added.
//!
//! Both parts give each worker the same random stream, so a worker rolls the same
//! numbers in both and wins or gives up the same way; only the collecting differs.
//!
//! A failure here is an ordinary `Err` value returned by the worker, so the task itself
//! succeeds and the error travels inside its result. (A worker that panicked would
//! instead show up as `Err(TaskError::Panicked(..))` when awaited.)

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;

use ringloop::{Task, TaskError};

use super::{Narrator, Rng};

/// The workers' names, in the order they are spawned.
pub const TAGS: [&str; 3] = ["first", "second", "third"];

/// A roll below this (out of 100) wins.
pub const SUCCESS_BELOW: u64 = 25;

/// How many rolls a worker gets before it gives up.
pub const MAX_ATTEMPTS: u32 = 6;

/// The tag of the extra worker used to show a callback added after the task finished.
pub const LATE_TAG: &str = "late";

/// A worker used up all its rolls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GaveUp {
    /// How many rolls it made.
    pub attempts: u32,
}

impl fmt::Display for GaveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "gave up after {} rolls", self.attempts)
    }
}

impl std::error::Error for GaveUp {}

/// What a worker returns: its winning roll, or the news that it gave up.
pub type Attempt = Result<u64, GaveUp>;

/// What happened in the callback part, in the order it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The worker's body returned (the last thing it did before its task completed).
    Finished {
        /// Which worker.
        tag: &'static str,
    },
    /// The worker's done callback ran.
    Callback {
        /// Which worker.
        tag: &'static str,
        /// Whether the code that added the callback had already moved on (it sets a
        /// flag right after `add_done_callback` returns). Always true: the callback is
        /// scheduled, never run inline.
        added_before: bool,
        /// The result the callback saw; `None` if the task itself failed (it was
        /// cancelled or panicked), which the workers never do.
        result: Option<Attempt>,
    },
    /// The main task's `await` on the worker returned.
    Awaited {
        /// Which worker.
        tag: &'static str,
        /// The result the await returned.
        result: Attempt,
    },
}

/// What happened.
#[derive(Debug)]
pub struct Outcome {
    /// Part one: each worker's result, in the order the main task received them.
    pub awaited: Vec<(&'static str, Attempt)>,
    /// Part one: the workers in the order they actually finished.
    pub finished: Vec<&'static str>,
    /// Part two: workers finishing, their callbacks, and the main task's awaits,
    /// interleaved as they happened (the late worker comes last).
    pub events: Vec<Event>,
}

/// Runs both parts, with every worker's sleeps and rolls drawn from `seed`.
pub fn run(seed: u64, say: &Narrator) -> Outcome {
    say.say("-- awaiting the tasks in the order they were spawned");
    let (awaited, finished) = ringloop::run(await_in_order(seed, say));
    say.say("-- handling each result in a done callback");
    let events = ringloop::run(with_callbacks(seed, say));
    Outcome {
        awaited,
        finished,
        events,
    }
}

/// Rolls until a roll wins or the rolls run out, pausing before each roll.
async fn unlikely_to_return(tag: &'static str, mut rng: Rng, say: Narrator) -> Attempt {
    for attempt in 1..=MAX_ATTEMPTS {
        ringloop::sleep(rng.millis(2, 10)).await;
        let roll = rng.between(0, 99);
        if roll < SUCCESS_BELOW {
            say.say(format!("[{tag}] rolled {roll} on roll {attempt}: done"));
            return Ok(roll);
        }
        say.say(format!(
            "[{tag}] rolled {roll}, needed below {SUCCESS_BELOW}; rolling again"
        ));
    }
    say.say(format!("[{tag}] out of rolls"));
    Err(GaveUp {
        attempts: MAX_ATTEMPTS,
    })
}

/// Spawns a worker whose body, once the worker returns, notes that in `note`.
fn spawn_worker(
    tag: &'static str,
    rng: Rng,
    say: &Narrator,
    note: impl FnOnce(&'static str) + 'static,
) -> Task<Attempt> {
    let say = say.clone();
    ringloop::spawn(async move {
        let result = unlikely_to_return(tag, rng, say).await;
        note(tag);
        result
    })
}

fn describe(result: &Attempt) -> String {
    match result {
        Ok(roll) => format!("the winning roll {roll}"),
        Err(gave_up) => format!("an error ({gave_up})"),
    }
}

async fn await_in_order(
    seed: u64,
    say: &Narrator,
) -> (Vec<(&'static str, Attempt)>, Vec<&'static str>) {
    let finished = Rc::new(RefCell::new(Vec::new()));
    // Start every worker before awaiting any, or they would run one at a time.
    let tasks: Vec<_> = TAGS
        .iter()
        .zip(0..)
        .map(|(&tag, n)| {
            let finished = finished.clone();
            spawn_worker(tag, Rng::stream(seed, n), say, move |tag| {
                finished.borrow_mut().push(tag);
            })
        })
        .collect();

    say.say("waiting for the results, in spawn order");
    let mut awaited = Vec::new();
    for (tag, task) in TAGS.into_iter().zip(tasks) {
        let result = task.await.expect("a worker reports failure as a value");
        say.say(format!("result of {tag}: {}", describe(&result)));
        awaited.push((tag, result));
    }
    let finished = finished.take();
    say.say(format!(
        "(they actually finished in the order {finished:?})"
    ));
    (awaited, finished)
}

async fn with_callbacks(seed: u64, say: &Narrator) -> Vec<Event> {
    let events = Rc::new(RefCell::new(Vec::new()));
    let mut tasks = Vec::new();
    for (tag, n) in TAGS.into_iter().zip(0..) {
        let task = {
            let events = events.clone();
            spawn_worker(tag, Rng::stream(seed, n), say, move |tag| {
                events.borrow_mut().push(Event::Finished { tag });
            })
        };
        attach_callback(&task, tag, &events, say);
        tasks.push((tag, task));
    }

    say.say("callbacks attached; each result is handled as soon as it is ready");
    for (tag, task) in tasks {
        await_for_events(tag, task, &events).await;
    }

    // A task that is already done when its callback is added: the callback still waits
    // for the loop's next turn.
    let late = {
        let events = events.clone();
        spawn_worker(LATE_TAG, Rng::stream(seed, 99), say, move |tag| {
            events.borrow_mut().push(Event::Finished { tag });
        })
    };
    while !late.is_done() {
        ringloop::yield_now().await;
    }
    say.say("the late task is already done; adding its callback now");
    attach_callback(&late, LATE_TAG, &events, say);
    await_for_events(LATE_TAG, late, &events).await;

    events.take()
}

/// Adds a done callback that records the result, and records whether the callback ran
/// before `add_done_callback` returned (it must not).
fn attach_callback(
    task: &Task<Attempt>,
    tag: &'static str,
    events: &Rc<RefCell<Vec<Event>>>,
    say: &Narrator,
) {
    let added = Rc::new(Cell::new(false));
    let callback = {
        let added = added.clone();
        let events = events.clone();
        let say = say.clone();
        move |result: &Result<Attempt, TaskError>| {
            let result = result.as_ref().ok().copied();
            match &result {
                Some(attempt) => say.say(format!(
                    "callback: {tag} finished with {}",
                    describe(attempt)
                )),
                None => say.say(format!("callback: {tag} did not finish normally")),
            }
            events.borrow_mut().push(Event::Callback {
                tag,
                added_before: added.get(),
                result,
            });
        }
    };
    task.add_done_callback(callback);
    added.set(true);
}

/// Awaits one worker's task and records that the await returned.
async fn await_for_events(tag: &'static str, task: Task<Attempt>, events: &RefCell<Vec<Event>>) {
    let result = task.await.expect("a worker reports failure as a value");
    events.borrow_mut().push(Event::Awaited { tag, result });
}
