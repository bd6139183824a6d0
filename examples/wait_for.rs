//! Time limits, waiting and shielding: asyncio's `wait_for`, `wait` and `shield`.
//!
//! `cargo run --example wait_for`. A slow operation takes half a second:
//! - under a 100 ms `timeout` (asyncio's `wait_for`) it is cancelled and the caller gets
//!   `Elapsed`;
//! - spawned as a task and awaited through `&mut`, the same timeout only stops the
//!   waiting: the task runs on and its result is still there to take; `shield` keeps
//!   work running when the task awaiting it is cancelled;
//! - `wait` with `FirstCompleted` returns as soon as one of several tasks is done,
//!   leaving the others running.
//!
//! (The tutorial this follows lists these helpers; the program is ringloop's own.)

use std::time::Duration;

use ringloop::ReturnWhen;

async fn slow_operation(name: &'static str, ms: u64) -> &'static str {
    ringloop::sleep(Duration::from_millis(ms)).await;
    println!("{name} finished after {ms} ms");
    name
}

fn main() {
    ringloop::run(async {
        // wait_for: the time limit cancels the operation.
        match ringloop::timeout(Duration::from_millis(100), slow_operation("plain", 500)).await {
            Ok(name) => println!("{name} made it in time"),
            Err(elapsed) => println!("timed out: {elapsed}; the operation was cancelled"),
        }

        // A task awaited through `&mut` is not consumed: the time limit gives up the
        // waiting, not the work (asyncio's `wait_for(shield(task), t)`), and the result
        // can be awaited later.
        let mut work = ringloop::spawn(slow_operation("kept", 300));
        if ringloop::timeout(Duration::from_millis(100), &mut work)
            .await
            .is_err()
        {
            println!("timed out waiting for the task; it keeps running");
        }
        println!("its result, later: {}", work.await.unwrap());

        // shield: cancelling whoever awaits it does not cancel the work inside.
        let waiter = ringloop::shield(slow_operation("shielded", 100));
        waiter.cancel();
        assert!(waiter.await.unwrap_err().is_cancelled());
        ringloop::sleep(Duration::from_millis(200)).await; // "shielded finished" prints

        // wait: the first of three to finish.
        let tasks = vec![
            ringloop::spawn(slow_operation("fast", 50)),
            ringloop::spawn(slow_operation("medium", 150)),
            ringloop::spawn(slow_operation("slow", 300)),
        ];
        let (done, pending) = ringloop::wait(tasks, ReturnWhen::FirstCompleted).await;
        for task in done {
            println!("first done: {}", task.await.unwrap());
        }
        println!("{} still running; waiting for them too", pending.len());
        for task in pending {
            task.await.unwrap();
        }
    });
}
