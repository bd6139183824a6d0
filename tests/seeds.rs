//! The ported asyncio tutorial programs (`examples/seeds/`), checked for what they
//! demonstrate: the order in which things happen. Nothing here looks at printed text or
//! measures time; the programs' random choices come from fixed seeds (plus one run with
//! a clock seed, which must satisfy the same rules).
//!
//! The programs build their own loops (`ringloop::run`, `EventLoop::new()`), so each
//! test runs them in a child of this binary once per backend, `RINGLOOP_BACKEND` naming
//! it (`support::for_each_backend_by_env`).

#[path = "../examples/seeds/mod.rs"]
mod seeds;
mod support;

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use ringloop::Closed;
use seeds::producer_consumer::Step;
use seeds::unlikely_to_return::{Event, GaveUp};
use seeds::{
    Narrator, Rng, counters, gather_sleeps, producer_consumer, run_forever_thread,
    unlikely_to_return,
};
use support::for_each_backend_by_env;

const SEEDS: [u64; 4] = [1, 7, 42, 2024];

fn quiet() -> Narrator {
    Narrator::new(|_| {})
}

/// Runs `program` on its own thread and fails the test, rather than hanging it, if the
/// program has not finished after a very generous while.
fn finishes<T: Send + 'static>(what: &str, program: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(program());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(outcome) => outcome,
        Err(RecvTimeoutError::Disconnected) => panic!("{what} panicked (see above)"),
        Err(RecvTimeoutError::Timeout) => panic!("{what} did not finish: is it hanging?"),
    }
}

fn unlikely(seed: u64) -> unlikely_to_return::Outcome {
    finishes("unlikely_to_return", move || {
        unlikely_to_return::run(seed, &quiet())
    })
}

fn producer_consumer(seed: u64) -> producer_consumer::Outcome {
    finishes("producer_consumer", move || {
        producer_consumer::run(seed, &quiet())
    })
}

fn gather_sleeps(seed: u64) -> gather_sleeps::Outcome {
    finishes("gather_sleeps", move || gather_sleeps::run(seed, &quiet()))
}

// ---- unlikely_to_return -------------------------------------------------------------

fn check_valid_attempt(result: &unlikely_to_return::Attempt, seed: u64) {
    match result {
        Ok(roll) => assert!(
            *roll < unlikely_to_return::SUCCESS_BELOW,
            "seed {seed}: a winning roll must be below the bar, got {roll}"
        ),
        Err(gave_up) => assert_eq!(
            *gave_up,
            GaveUp {
                attempts: unlikely_to_return::MAX_ATTEMPTS
            },
            "seed {seed}: a worker gives up only when its rolls are used up"
        ),
    }
}

fn check_awaited_in_spawn_order(outcome: &unlikely_to_return::Outcome, seed: u64) {
    let awaited: Vec<&str> = outcome.awaited.iter().map(|(tag, _)| *tag).collect();
    assert_eq!(
        awaited,
        unlikely_to_return::TAGS,
        "seed {seed}: results come back in the order the tasks were awaited"
    );
    let mut finished = outcome.finished.clone();
    finished.sort_unstable();
    let mut tags = unlikely_to_return::TAGS;
    tags.sort_unstable();
    assert_eq!(finished, tags, "seed {seed}: every worker finished once");
    for (_, result) in &outcome.awaited {
        check_valid_attempt(result, seed);
    }
}

fn check_done_callbacks(outcome: &unlikely_to_return::Outcome, seed: u64) {
    let events = &outcome.events;
    let all_tags = unlikely_to_return::TAGS
        .into_iter()
        .chain([unlikely_to_return::LATE_TAG]);
    for tag in all_tags {
        let finished: Vec<usize> = positions(events, |e| *e == Event::Finished { tag });
        let callbacks: Vec<usize> = positions(
            events,
            |e| matches!(e, Event::Callback { tag: t, .. } if *t == tag),
        );
        let awaits: Vec<usize> = positions(
            events,
            |e| matches!(e, Event::Awaited { tag: t, .. } if *t == tag),
        );
        assert_eq!(
            finished.len(),
            1,
            "seed {seed}: {tag} finishes once: {events:?}"
        );
        assert_eq!(
            callbacks.len(),
            1,
            "seed {seed}: {tag}'s done callback runs exactly once: {events:?}"
        );
        assert_eq!(
            awaits.len(),
            1,
            "seed {seed}: {tag} is awaited once: {events:?}"
        );
        assert!(
            finished[0] < callbacks[0],
            "seed {seed}: {tag}'s callback runs only after the task is done: {events:?}"
        );
        assert!(
            callbacks[0] < awaits[0],
            "seed {seed}: {tag}'s callback (added before the await) runs before the await \
             returns: {events:?}"
        );
        let Event::Callback {
            added_before,
            result: seen,
            ..
        } = &events[callbacks[0]]
        else {
            unreachable!()
        };
        let Event::Awaited { result, .. } = &events[awaits[0]] else {
            unreachable!()
        };
        assert!(
            *added_before,
            "seed {seed}: {tag}'s callback ran inside add_done_callback instead of being \
             scheduled"
        );
        assert_eq!(
            seen.as_ref(),
            Some(result),
            "seed {seed}: {tag}'s callback sees the result the await returns"
        );
        check_valid_attempt(result, seed);
    }

    // Callbacks are handled as results arrive: in finishing order, not spawn order.
    let finishing: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::Finished { tag } => Some(*tag),
            _ => None,
        })
        .collect();
    let called_back: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::Callback { tag, .. } => Some(*tag),
            _ => None,
        })
        .collect();
    assert_eq!(
        called_back, finishing,
        "seed {seed}: callbacks run in the order the tasks finished"
    );
}

fn positions(events: &[Event], matches: impl Fn(&Event) -> bool) -> Vec<usize> {
    events
        .iter()
        .enumerate()
        .filter(|(_, e)| matches(e))
        .map(|(i, _)| i)
        .collect()
}

#[test]
fn awaited_results_come_back_in_spawn_order() {
    for_each_backend_by_env("awaited_results_come_back_in_spawn_order", || {
        for seed in SEEDS {
            check_awaited_in_spawn_order(&unlikely(seed), seed);
        }
    });
}

#[test]
fn done_callbacks_fire_once_after_completion_and_never_inline() {
    for_each_backend_by_env(
        "done_callbacks_fire_once_after_completion_and_never_inline",
        || {
            for seed in SEEDS {
                check_done_callbacks(&unlikely(seed), seed);
            }
        },
    );
}

#[test]
fn workers_behave_the_same_however_their_results_are_collected() {
    for_each_backend_by_env(
        "workers_behave_the_same_however_their_results_are_collected",
        || {
            // Each worker has its own random stream, so part two rolls exactly as part one did.
            for seed in SEEDS {
                let outcome = unlikely(seed);
                let from_callback_part: Vec<(&str, unlikely_to_return::Attempt)> = outcome
                    .events
                    .iter()
                    .filter_map(|e| match e {
                        Event::Awaited { tag, result } if *tag != unlikely_to_return::LATE_TAG => {
                            Some((*tag, *result))
                        }
                        _ => None,
                    })
                    .collect();
                assert_eq!(outcome.awaited, from_callback_part, "seed {seed}");
            }
        },
    );
}

// ---- producer_consumer --------------------------------------------------------------

fn check_producer_consumer(outcome: &producer_consumer::Outcome, seed: u64) {
    assert!(
        outcome.produced.len() <= producer_consumer::MAX_ITEMS,
        "seed {seed}: the producer respects its cap"
    );
    assert_eq!(
        outcome.consumed, outcome.produced,
        "seed {seed}: the consumer receives every item, in the order it was put"
    );
    assert_eq!(
        outcome.left_over, 0,
        "seed {seed}: nothing is left behind on the queue"
    );

    let steps = &outcome.steps;
    let produced: Vec<u64> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Produced(n) => Some(*n),
            _ => None,
        })
        .collect();
    let consumed: Vec<u64> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Consumed(n) => Some(*n),
            _ => None,
        })
        .collect();
    assert_eq!(
        produced, outcome.produced,
        "seed {seed}: steps match results"
    );
    assert_eq!(
        consumed, outcome.consumed,
        "seed {seed}: steps match results"
    );

    // The k-th item is taken only after it was put.
    let put_at = positions_of(steps, |s| matches!(s, Step::Produced(_)));
    let taken_at = positions_of(steps, |s| matches!(s, Step::Consumed(_)));
    for (k, (put, taken)) in put_at.iter().zip(&taken_at).enumerate() {
        assert!(
            put < taken,
            "seed {seed}: item {k} taken before it was put: {steps:?}"
        );
    }

    // The end marker comes after every item, and the consumer stops right there.
    let producer_done = positions_of(steps, |s| *s == Step::ProducerDone);
    let consumer_done = positions_of(steps, |s| *s == Step::ConsumerDone);
    assert_eq!(producer_done.len(), 1, "seed {seed}: {steps:?}");
    assert_eq!(consumer_done, [steps.len() - 1], "seed {seed}: {steps:?}");
    assert!(
        put_at.iter().all(|&p| p < producer_done[0]),
        "seed {seed}: the marker goes on the queue after the last item: {steps:?}"
    );
    assert!(
        producer_done[0] < consumer_done[0],
        "seed {seed}: the consumer stops only once the marker was sent: {steps:?}"
    );
}

fn positions_of(steps: &[Step], matches: impl Fn(&Step) -> bool) -> Vec<usize> {
    steps
        .iter()
        .enumerate()
        .filter(|(_, s)| matches(s))
        .map(|(i, _)| i)
        .collect()
}

#[test]
fn producer_consumer_delivers_every_item_in_order_and_stops_at_the_marker() {
    for_each_backend_by_env(
        "producer_consumer_delivers_every_item_in_order_and_stops_at_the_marker",
        || {
            let mut most = 0;
            for seed in SEEDS {
                let outcome = producer_consumer(seed);
                check_producer_consumer(&outcome, seed);
                most = most.max(outcome.produced.len());
            }
            assert!(
                most >= 3,
                "the fixed seeds should include a run with a few items, not only empty ones"
            );
        },
    );
}

// ---- counters -----------------------------------------------------------------------

#[test]
fn counters_take_strict_turns() {
    for_each_backend_by_env("counters_take_strict_turns", || {
        for rounds in [0, 1, 5] {
            let outcome = finishes("counters", move || counters::run(rounds, &quiet()));
            let expected: Vec<(&str, u32)> = (1..=rounds)
                .flat_map(|n| counters::NAMES.map(|name| (name, n)))
                .collect();
            assert_eq!(
                outcome.ticks, expected,
                "{rounds} rounds: a1 b1 c1 d1 a2 b2 ... exactly"
            );
        }
    });
}

// ---- gather_sleeps ------------------------------------------------------------------

fn check_gather(outcome: &gather_sleeps::Outcome, seed: u64) {
    let ids: Vec<usize> = outcome.gathered.iter().map(|r| r.id).collect();
    assert_eq!(
        ids,
        (0..gather_sleeps::SLEEPERS).collect::<Vec<_>>(),
        "seed {seed}: gather answers in argument order"
    );
    for report in &outcome.gathered {
        assert!(
            (1..=gather_sleeps::MAX_TICKS).contains(&report.ticks),
            "seed {seed}: {report:?}"
        );
    }
    let mut by_sleep = outcome.gathered.clone();
    by_sleep.sort_by_key(|r| (r.ticks, r.id));
    let by_sleep: Vec<usize> = by_sleep.iter().map(|r| r.id).collect();
    assert_eq!(
        outcome.finished, by_sleep,
        "seed {seed}: sleepers finish in order of their sleeps, equal sleeps in spawn order \
         (gathered: {:?})",
        outcome.gathered
    );
}

#[test]
fn gather_keeps_argument_order_while_tasks_finish_in_sleep_order() {
    for_each_backend_by_env(
        "gather_keeps_argument_order_while_tasks_finish_in_sleep_order",
        || {
            let mut reordered = false;
            for seed in SEEDS {
                let outcome = gather_sleeps(seed);
                check_gather(&outcome, seed);
                reordered |= !outcome.finished.is_sorted();
            }
            assert!(
                reordered,
                "the fixed seeds should include a run where finishing order differs from spawn order"
            );
        },
    );
}

// ---- run_forever_thread -------------------------------------------------------------

#[test]
fn run_forever_thread_stops_when_asked_and_runs_each_call_once() {
    for_each_backend_by_env(
        "run_forever_thread_stops_when_asked_and_runs_each_call_once",
        || {
            let outcome = finishes("run_forever_thread", || run_forever_thread::run(&quiet()));
            let numbers: Vec<u32> = outcome.calls.iter().map(|&(n, _)| n).collect();
            assert_eq!(
                numbers,
                (1..=run_forever_thread::CALLS).collect::<Vec<_>>(),
                "every closure runs exactly once, in the order sent, before the stop"
            );
            assert!(
                outcome
                    .calls
                    .iter()
                    .all(|&(_, thread)| thread == outcome.loop_thread),
                "the closures run on the loop's thread"
            );
            assert_ne!(outcome.loop_thread, thread::current().id());
            assert!(
                outcome.beats >= run_forever_thread::BEATS_BEFORE_STEERING,
                "the main thread waited for {} heartbeats, the loop counted {}",
                run_forever_thread::BEATS_BEFORE_STEERING,
                outcome.beats
            );
            assert!(
                outcome.closed_afterwards,
                "the remote sees the loop closed once its thread has dropped it"
            );
            assert_eq!(
                outcome.late_call,
                Err(Closed),
                "a closed loop refuses calls"
            );
        },
    );
}

// ---- all of them, with a seed nobody picked -----------------------------------------

#[test]
fn the_rules_hold_for_a_clock_seed() {
    for_each_backend_by_env("the_rules_hold_for_a_clock_seed", || {
        let seed = seeds::pick_seed(None);
        let outcome = unlikely(seed);
        check_awaited_in_spawn_order(&outcome, seed);
        check_done_callbacks(&outcome, seed);
        check_producer_consumer(&producer_consumer(seed), seed);
        check_gather(&gather_sleeps(seed), seed);
    });
}

// ---- the helpers --------------------------------------------------------------------

#[test]
fn seeds_replay_and_stay_in_range() {
    assert_eq!(seeds::pick_seed(Some(" 1234 ".into())), 1234);

    let draw = |mut rng: Rng| (0..8).map(|_| rng.next_u64()).collect::<Vec<_>>();
    assert_eq!(
        draw(Rng::new(5)),
        draw(Rng::new(5)),
        "same seed, same numbers"
    );
    assert_ne!(draw(Rng::new(5)), draw(Rng::new(6)));
    assert_ne!(draw(Rng::stream(5, 1)), draw(Rng::stream(5, 2)));
    assert_ne!(draw(Rng::new(0)), vec![0; 8], "seed 0 is fine too");

    let mut rng = Rng::new(9);
    for _ in 0..1000 {
        assert!((3..=7).contains(&rng.between(3, 7)));
        let pause = rng.millis(2, 4);
        assert!(pause >= Duration::from_millis(2) && pause <= Duration::from_millis(4));
    }
}

#[test]
fn fetch_monitor_sees_only_whole_batches_and_gets_everything_in_order() {
    for_each_backend_by_env(
        "fetch_monitor_sees_only_whole_batches_and_gets_everything_in_order",
        || {
            for seed in SEEDS {
                let outcome = finishes("fetch_monitor", move || {
                    seeds::fetch_monitor::run(seed, 30, &quiet())
                });
                assert_eq!(outcome.sent.len(), 30 * seeds::fetch_monitor::BATCH);
                assert_eq!(
                    outcome.fetched, outcome.sent,
                    "seed {seed}: lost or reordered"
                );
                assert!(
                    !outcome.seen_lengths.is_empty(),
                    "seed {seed}: the monitor never ran"
                );
                for len in &outcome.seen_lengths {
                    assert_eq!(
                        len % seeds::fetch_monitor::BATCH,
                        0,
                        "seed {seed}: the monitor ran in the middle of a batch"
                    );
                }
                assert!(
                    outcome.seen_lengths.windows(2).all(|w| w[0] <= w[1]),
                    "seed {seed}: the list shrank"
                );
            }
        },
    );
}
