//! Panic isolation matrix (issue 5, item 6): a panic in a task's poll, in its future's
//! drop, in a callback, in a timer callback and in a done callback, × the task handle
//! dropped before completion / dropped after completion / kept and dropped last /
//! awaited, × cancelled or not. In every cell: the loop keeps running (a later task
//! completes normally), the task's future is dropped exactly once, and the exception
//! handler hears each unobserved failure exactly once (and nothing else).
//!
//! `tests/tasks.rs` and `tests/loop_semantics.rs` hold the single cases; this file runs
//! every combination, each on a fresh loop, on each backend, and names the failing cell.

mod support;

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use ringloop::sync::Event;
use ringloop::{Backend, EventLoop, ExceptionKind, Task, TaskError};
use support::Log;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Where {
    /// The task's body panics when polled.
    Poll,
    /// The task's future panics in its destructor (after completing, or when cancelled).
    Drop,
    /// The task schedules a `call_soon` callback that panics.
    Callback,
    /// The task schedules a `call_later` callback that panics.
    Timer,
    /// A done callback on the task panics.
    DoneCallback,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Handle {
    /// Dropped while the task is still suspended.
    DroppedBefore,
    /// Dropped once the task is done, never awaited.
    DroppedAfter,
    /// Kept, never awaited nor dropped while the cell runs; dropped last.
    Kept,
    /// Awaited: the result is retrieved.
    Awaited,
}

#[derive(Clone, Copy)]
struct Cell3 {
    backend: Backend,
    at: Where,
    handle: Handle,
    cancel: bool,
}

impl fmt::Display for Cell3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{:?}: panic in {:?}, handle {:?}, {}]",
            self.backend,
            self.at,
            self.handle,
            if self.cancel {
                "cancelled"
            } else {
                "not cancelled"
            }
        )
    }
}

impl Cell3 {
    /// Whether the task itself resolves to `Panicked`. A destructor that panics while
    /// the task is cancelled turns the cancellation into a panic.
    fn task_fails(&self) -> bool {
        match self.at {
            Where::Poll => !self.cancel,
            Where::Drop => true,
            _ => false,
        }
    }

    /// Reports of a task failure nobody retrieved.
    fn never_retrieved_reports(&self) -> usize {
        usize::from(self.task_fails() && self.handle != Handle::Awaited)
    }

    /// Reports of a panicking callback.
    fn callback_reports(&self) -> usize {
        match self.at {
            // Scheduled by the body after its await: a cancelled task never schedules it.
            Where::Callback | Where::Timer => usize::from(!self.cancel),
            // Runs on any result, a cancellation included.
            Where::DoneCallback => 1,
            _ => 0,
        }
    }
}

/// The task's future: the body, plus a destructor that counts and may panic.
struct Body<F> {
    inner: Pin<Box<F>>,
    drops: Rc<Cell<usize>>,
    panic_on_drop: bool,
}

impl<F: Future> Future for Body<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<F> Drop for Body<F> {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
        if self.panic_on_drop && !std::thread::panicking() {
            panic!("cell panic in drop");
        }
    }
}

type Reports = Log<(ExceptionKind, String)>;

/// Runs the loop for a few iterations (reports from dropped handles arrive in the next).
fn turn(lp: &EventLoop, n: usize) {
    lp.run_until_complete(async {
        for _ in 0..n {
            ringloop::yield_now().await;
        }
    });
}

fn count(reports: &Reports, kind: ExceptionKind) -> usize {
    reports.borrow().iter().filter(|(k, _)| *k == kind).count()
}

fn run_cell(cell: Cell3) {
    let lp = Rc::new(support::new_loop(cell.backend));
    let reports = support::record_exceptions(&lp);
    let drops = Rc::new(Cell::new(0usize));
    let acted = Rc::new(Cell::new(false));
    let gate = Rc::new(Event::new());

    let body = {
        let (gate, acted, lp) = (gate.clone(), acted.clone(), Rc::downgrade(&lp));
        async move {
            gate.wait().await;
            match cell.at {
                Where::Poll => panic!("cell panic in poll"),
                Where::Callback => {
                    let acted = acted.clone();
                    ringloop::call_soon(move || {
                        acted.set(true);
                        panic!("cell panic in callback");
                    });
                }
                Where::Timer => {
                    let acted = acted.clone();
                    lp.upgrade()
                        .unwrap()
                        .call_later(Duration::from_millis(1), move || {
                            acted.set(true);
                            panic!("cell panic in timer callback");
                        });
                }
                Where::Drop | Where::DoneCallback => {}
            }
            7u32
        }
    };
    let task: Task<u32> = lp.spawn(Body {
        inner: Box::pin(body),
        drops: drops.clone(),
        panic_on_drop: cell.at == Where::Drop,
    });
    if cell.at == Where::DoneCallback {
        let acted = acted.clone();
        task.add_done_callback(move |_| {
            acted.set(true);
            panic!("cell panic in done callback");
        });
    }
    // The task starts and suspends on the gate.
    turn(&lp, 2);
    assert!(
        !task.is_done(),
        "{cell}: the task finished before its gate opened"
    );
    assert_eq!(drops.get(), 0, "{cell}: the future was dropped early");
    if cell.cancel {
        assert!(task.cancel(), "{cell}: cancel on a suspended task");
    } else {
        gate.set();
    }
    let mut task = Some(task);
    if cell.handle == Handle::DroppedBefore {
        drop(task.take());
    }
    // Until the future is gone and any callback (the timer's included) has run.
    let wants_action = cell.callback_reports() > 0;
    lp.run_until_complete(async {
        for _ in 0..10_000 {
            if drops.get() > 0 && (!wants_action || acted.get()) {
                break;
            }
            ringloop::sleep(Duration::from_millis(1)).await;
        }
    });
    turn(&lp, 3);
    assert_eq!(
        drops.get(),
        1,
        "{cell}: the future was dropped {} times",
        drops.get()
    );
    if wants_action {
        assert!(acted.get(), "{cell}: the panicking callback never ran");
    }

    let result = match cell.handle {
        Handle::DroppedBefore => None,
        Handle::DroppedAfter => {
            let task = task.take().unwrap();
            assert!(task.is_done(), "{cell}: not done");
            drop(task);
            turn(&lp, 3);
            None
        }
        Handle::Kept => {
            assert_eq!(
                count(&reports, ExceptionKind::TaskNeverRetrieved),
                0,
                "{cell}: a failure was reported while its handle could still retrieve it"
            );
            None
        }
        Handle::Awaited => Some(lp.run_until_complete(task.take().unwrap())),
    };
    if let Some(result) = result {
        match (cell.task_fails(), cell.cancel, result) {
            (true, _, Err(TaskError::Panicked(p))) => {
                let msg = support::panic_message(&*p);
                assert!(msg.starts_with("cell panic in"), "{cell}: payload {msg:?}");
            }
            (false, true, Err(TaskError::Cancelled)) => {}
            (false, false, Ok(7)) => {}
            (_, _, other) => panic!("{cell}: unexpected result {other:?}"),
        }
    }
    // The loop keeps running.
    let later = lp.spawn(async { 42 });
    assert_eq!(
        lp.run_until_complete(later).ok(),
        Some(42),
        "{cell}: a later task did not complete"
    );
    if let Some(task) = task.take() {
        // Kept: dropped last, with the loop still open.
        drop(task);
        turn(&lp, 3);
    }
    assert_eq!(
        count(&reports, ExceptionKind::TaskNeverRetrieved),
        cell.never_retrieved_reports(),
        "{cell}: never-retrieved reports: {:?}",
        reports.borrow()
    );
    assert_eq!(
        count(&reports, ExceptionKind::CallbackPanicked),
        cell.callback_reports(),
        "{cell}: callback reports: {:?}",
        reports.borrow()
    );
    for (kind, msg) in reports.borrow().iter() {
        assert!(msg.starts_with("cell panic in"), "{cell}: {kind:?} {msg:?}");
    }
    assert_eq!(drops.get(), 1, "{cell}: dropped again later");
    let lp = Rc::try_unwrap(lp).expect("nothing else holds the loop");
    drop(lp);
    assert_eq!(drops.get(), 1, "{cell}: dropped again at close");
}

#[test]
fn every_panic_cell_keeps_the_loop_running_drops_once_and_reports_once() {
    // The panics are expected: keep their messages out of the output.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .copied()
            .or(info.payload().downcast_ref::<String>().map(String::as_str))
            .unwrap_or("");
        if !msg.starts_with("cell panic in") {
            eprintln!("{info}");
        }
    }));
    let mut cells = 0;
    support::on_each_backend(|backend| {
        for at in [
            Where::Poll,
            Where::Drop,
            Where::Callback,
            Where::Timer,
            Where::DoneCallback,
        ] {
            for handle in [
                Handle::DroppedBefore,
                Handle::DroppedAfter,
                Handle::Kept,
                Handle::Awaited,
            ] {
                for cancel in [false, true] {
                    run_cell(Cell3 {
                        backend,
                        at,
                        handle,
                        cancel,
                    });
                    cells += 1;
                }
            }
        }
    });
    std::panic::set_hook(hook);
    println!("{cells} cells");
}
