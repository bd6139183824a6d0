//! Misuse gets a clear panic that says what to do, never a hang (DESIGN.md, "Semantics
//! to keep" 6). Each `expected` is a substring of the message, including its advice.
//!
//! A misuse is caught before anything waits or reaches the driver, so these run on the
//! default backend (and `should_panic` ends a test at its first panic).

mod support;

use std::pin::pin;
use std::task::{Context, Waker};
use std::time::Duration;

use ringloop::TaskError;
use support::{default_loop, task_panic_message};

#[test]
#[should_panic(expected = "this event loop is already running: await the future")]
fn run_until_complete_inside_running_loop_panics() {
    let lp = default_loop();
    lp.run_until_complete(async {
        lp.run_until_complete(async {});
    });
}

#[test]
#[should_panic(expected = "this event loop is already running: await the future")]
fn run_forever_inside_running_loop_panics() {
    let lp = default_loop();
    lp.run_until_complete(async {
        lp.run_forever();
    });
}

#[test]
#[should_panic(expected = "start the second loop on its own thread")]
fn second_loop_run_inside_running_loop_panics() {
    let first = default_loop();
    let second = default_loop();
    first.run_until_complete(async {
        second.run_until_complete(async {});
    });
}

#[test]
#[should_panic(expected = "start the second loop on its own thread")]
fn ringloop_run_inside_running_loop_panics() {
    ringloop::run(async {
        ringloop::run(async {});
    });
}

#[test]
#[should_panic(expected = "call it from code the loop runs: inside ringloop::run(...)")]
fn spawn_without_running_loop_panics() {
    drop(ringloop::spawn(async {}));
}

#[test]
#[should_panic(expected = "ringloop::spawn() needs a running ringloop event loop")]
fn spawn_without_running_loop_names_the_call() {
    drop(ringloop::spawn(async {}));
}

#[test]
#[should_panic(expected = "ringloop::call_soon() needs a running ringloop event loop")]
fn call_soon_without_running_loop_panics() {
    ringloop::call_soon(|| {});
}

#[test]
#[should_panic(expected = "ringloop::shield() needs a running ringloop event loop")]
fn shield_without_running_loop_panics() {
    drop(ringloop::shield(async {}));
}

#[test]
#[should_panic(expected = "sleep() / timeout() was polled outside a running ringloop event loop")]
fn sleep_polled_without_running_loop_panics() {
    let mut sleep = pin!(ringloop::sleep(Duration::from_millis(1)));
    let mut cx = Context::from_waker(Waker::noop());
    let _ = sleep.as_mut().poll(&mut cx);
}

#[test]
#[should_panic(expected = "sleep() / timeout() was polled outside a running ringloop event loop")]
fn timeout_polled_without_running_loop_panics() {
    let mut t = pin!(ringloop::timeout(
        Duration::from_millis(1),
        std::future::pending::<()>()
    ));
    let mut cx = Context::from_waker(Waker::noop());
    let _ = t.as_mut().poll(&mut cx);
}

#[test]
#[should_panic(expected = "Task polled again after it returned its result")]
fn task_polled_after_returning_result_panics() {
    ringloop::run(async {
        let mut task = ringloop::spawn(async { 1 });
        assert_eq!((&mut task).await.unwrap(), 1);
        let _ = (&mut task).await;
    });
}

#[test]
#[should_panic(expected = "add done callbacks before awaiting it")]
fn add_done_callback_after_result_taken_panics() {
    ringloop::run(async {
        let mut task = ringloop::spawn(async { 1 });
        (&mut task).await.unwrap();
        task.add_done_callback(|_| {});
    });
}

#[test]
#[should_panic(expected = "call it from inside the loop")]
fn add_done_callback_on_finished_task_outside_loop_panics() {
    let lp = default_loop();
    let task = lp.spawn(async { 1 });
    lp.run_until_complete(ringloop::yield_now());
    assert!(task.is_done());
    task.add_done_callback(|_| {});
}

#[test]
#[should_panic(expected = "check is_panic() first")]
fn task_error_into_panic_on_cancelled_panics() {
    let _ = TaskError::Cancelled.into_panic();
}

#[test]
#[should_panic(expected = "use run_forever() with stop(), or let the future finish")]
fn stop_during_run_until_complete_panics() {
    let lp = default_loop();
    lp.run_until_complete(async {
        lp.stop();
        std::future::pending::<()>().await;
    });
}

#[test]
fn loop_is_usable_after_a_misuse_panic() {
    let lp = default_loop();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        lp.run_until_complete(async {
            lp.run_until_complete(async {});
        })
    }));
    assert!(caught.is_err());
    assert!(!lp.is_running());
    // The thread's running-loop marker was reset: this loop and others run again.
    assert_eq!(lp.run_until_complete(async { 5 }), 5);
    assert_eq!(ringloop::run(async { 6 }), 6);
}

#[test]
fn task_panic_inside_loop_is_not_a_misuse_panic() {
    // Misuse inside a spawned task resolves that task as panicked; the loop goes on.
    let message = ringloop::run(async {
        let err = ringloop::spawn(async {
            ringloop::run(async {});
        })
        .await
        .unwrap_err();
        task_panic_message(err)
    });
    assert!(
        message.contains("start the second loop on its own thread"),
        "{message}"
    );
}
