//! A producer and a consumer around an asyncio-style queue.
//!
//! `cargo run --example producer_consumer`. The producer emits random numbers with a
//! short pause before each, until it draws 42; then it closes the queue, which tells the
//! consumer, once the queue is empty, that nothing more will come (the original put an
//! `END_OF_QUEUE` sentinel on the queue for that). (Port of a Python asyncio tutorial
//! program.)

use std::time::Duration;

use ringloop::sync::Queue;

async fn producer(queue: Queue<String>) {
    loop {
        let emit_me = fastrand::u32(1..=42);
        if emit_me == 42 {
            println!("At the end");
            break;
        }
        let msg = format!("Emitting {emit_me}");
        println!("{msg}");
        // Simulate some I/O time.
        ringloop::sleep(Duration::from_millis(fastrand::u64(0..=50))).await;
        queue
            .put(msg)
            .await
            .expect("only the producer closes the queue");
    }
    queue.close();
}

async fn consumer(queue: Queue<String>) {
    // `get` fails once the queue is closed and empty.
    while let Ok(message) = queue.get().await {
        println!("Got message: {message}");
        // Simulate some I/O time.
        ringloop::sleep(Duration::from_millis(fastrand::u64(0..=100))).await;
    }
    println!("This is the end my friend....");
}

fn main() {
    ringloop::run(async {
        let queue = Queue::unbounded();
        ringloop::join!(producer(queue.clone()), consumer(queue));
    });
}
