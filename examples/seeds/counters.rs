//! Four counters taking turns on one thread.
//!
//! Each counter reports a number, then calls [`ringloop::yield_now`] to give the thread
//! back to the loop before counting on. Nothing else suspends them, so the only thing
//! that decides who runs next is the loop's ready queue: a task that yields goes to the
//! back of the line, behind every task that was already waiting. The four therefore
//! take strict turns: a1 b1 c1 d1 a2 b2 c2 d2 ...
//!
//! Without the `yield_now` each counter would run to its end before the next one even
//! started: cooperative scheduling only switches tasks at an `.await` that suspends.

use std::cell::RefCell;
use std::rc::Rc;

use super::Narrator;

/// The counters' names, in the order they are spawned.
pub const NAMES: [&str; 4] = ["a", "b", "c", "d"];

/// What happened: every number every counter reported, in the order reported.
#[derive(Debug)]
pub struct Outcome {
    /// `(counter, number)` pairs; numbers start at 1.
    pub ticks: Vec<(&'static str, u32)>,
}

/// Runs the four counters, each counting from 1 to `rounds`.
pub fn run(rounds: u32, say: &Narrator) -> Outcome {
    let ticks = Rc::new(RefCell::new(Vec::new()));
    ringloop::run(async {
        let counters: Vec<_> = NAMES
            .iter()
            .map(|&name| ringloop::spawn(count(name, rounds, ticks.clone(), say.clone())))
            .collect();
        // The main task just waits for all of them; the order it waits in does not
        // matter, since the counters run while it is suspended.
        for counter in counters {
            counter
                .await
                .expect("a counter only counts; it cannot fail");
        }
    });
    let ticks = ticks.take();
    Outcome { ticks }
}

async fn count(
    name: &'static str,
    rounds: u32,
    ticks: Rc<RefCell<Vec<(&'static str, u32)>>>,
    say: Narrator,
) {
    for number in 1..=rounds {
        say.say(format!("counter {name} is at {number}"));
        ticks.borrow_mut().push((name, number));
        // Step aside: every other ready counter gets one turn before this one resumes.
        ringloop::yield_now().await;
    }
}
