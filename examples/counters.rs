//! Four counters that take turns: each prints a number, then yields to the loop.
//!
//! `cargo run --example counters`. The output interleaves task0 0, task1 0, task2 0,
//! task3 0, task0 1, ...: `yield_now()` (asyncio's `sleep(0)`) puts the task at the back
//! of the ready queue. Without it each counter would run to its end before the next
//! began. (Port of a Python asyncio tutorial program.)

async fn counter(name: String) {
    for i in 0..10 {
        println!("{name}: {i}");
        ringloop::yield_now().await;
    }
}

fn main() {
    ringloop::run(async {
        let mut tasks: Vec<_> = (0..4)
            .map(|n| ringloop::spawn(counter(format!("task{n}"))))
            .collect();
        // As the original does: keep awaiting the first task that is not done yet.
        loop {
            tasks.retain(|task| !task.is_done());
            let Some(first) = tasks.first_mut() else {
                return;
            };
            first.await.unwrap();
        }
    });
}
