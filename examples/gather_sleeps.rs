//! Ten tasks that sleep a random time each, gathered.
//!
//! `cargo run --example gather_sleeps`. The tasks sleep concurrently, so the program
//! takes about as long as the longest sleep (at most half a second), not the sum; each
//! reports as it finishes, shortest sleep first, and `gather` hands back their results
//! in the order they were passed. (Port of a Python asyncio tutorial program; the
//! original slept 1 to 5 whole seconds.)

use std::time::Duration;

async fn my_coroutine(id: u32) -> u64 {
    let process_time = fastrand::u64(1..=5) * 100;
    ringloop::sleep(Duration::from_millis(process_time)).await;
    println!("Coroutine: {id}, has successfully completed after {process_time} ms");
    process_time
}

fn main() {
    let times = ringloop::run(async {
        let tasks: Vec<_> = (0..10)
            .map(|id| ringloop::spawn(my_coroutine(id)))
            .collect();
        ringloop::gather(tasks).await
    });
    let times: Vec<u64> = times.into_iter().map(|t| t.unwrap()).collect();
    println!("gathered, in spawn order: {times:?}");
}
