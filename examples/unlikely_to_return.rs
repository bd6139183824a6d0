//! Tasks that are unlikely to return, collected by awaiting them in order, or with
//! done callbacks as they finish.
//!
//! `cargo run --example unlikely_to_return` awaits the tasks one after the other;
//! `cargo run --example unlikely_to_return -- callback` handles each result in a done
//! callback as soon as its task finishes. (Port of a Python asyncio tutorial program.)

use std::time::Duration;

use ringloop::Task;

/// Rolls until a roll is below `likelihood`, sleeping 100 ms between tries, and returns
/// the winning roll.
async fn unlikely_to_return(tag: &str, likelihood: f64) -> f64 {
    loop {
        let roll = fastrand::f64();
        if roll < likelihood {
            println!("{tag} Done.");
            return roll;
        }
        println!("{tag} retry needed (roll = {roll:.3} > {likelihood})");
        ringloop::sleep(Duration::from_millis(100)).await;
    }
}

/// Results in the order of the awaits, even when a later task finished first.
async fn await_in_order() {
    let tags = ["task1", "task2"];
    // Spawn every task before awaiting any, or they would not run concurrently.
    let tasks: Vec<Task<f64>> = tags
        .iter()
        .map(|&tag| ringloop::spawn(unlikely_to_return(tag, 0.1)))
        .collect();
    println!("Awaiting results...");
    for (tag, task) in tags.iter().zip(tasks) {
        let result = task
            .await
            .expect("the task neither panicked nor was cancelled");
        println!("The result of task={tag} was {result:.3}.");
    }
}

/// Results handled by a callback as each task finishes, in whatever order that is.
async fn with_callbacks() {
    let tags = ["task1", "task2"];
    let mut tasks = Vec::new();
    for tag in tags {
        let task = ringloop::spawn(unlikely_to_return(tag, 0.1));
        // The callback gets the task's result: `Ok(value)`, or `Err(TaskError)` when the
        // task panicked or was cancelled.
        task.add_done_callback(move |result| match result {
            Ok(roll) => println!("The result of task={tag} was {roll:.3}."),
            Err(err) => println!("Problem with task={tag}: {err}."),
        });
        tasks.push(task);
    }
    println!("Awaiting results...");
    // Await the tasks only so that main does not return (and end the loop) first.
    for task in tasks {
        let _ = task.await;
    }
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("callback") {
        ringloop::run(with_callbacks());
    } else {
        ringloop::run(await_in_order());
    }
}
