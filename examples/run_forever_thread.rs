//! A loop that runs forever on a thread of its own, stopped from the main thread.
//!
//! `cargo run --example run_forever_thread`. The thread builds a loop, spawns a task
//! that prints every half second, and calls `run_forever`. An `EventLoop` stays on the
//! thread that made it, so the thread hands the main thread a `Remote`, the part of a
//! loop other threads may use. After two seconds the main thread asks the loop to stop
//! and waits for the thread to end. (Port of a Python asyncio tutorial program.)

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use ringloop::EventLoop;

async fn start() {
    loop {
        println!("in start");
        ringloop::sleep(Duration::from_millis(500)).await;
    }
}

fn main() {
    let (remote_tx, remote_rx) = mpsc::channel();
    let thread = thread::spawn(move || {
        let lp = EventLoop::new().expect("an event loop");
        remote_tx.send(lp.remote()).unwrap();
        lp.spawn(start());
        lp.run_forever();
        println!("the loop stopped");
        // Dropping the loop closes it: the `start` task is dropped where it sleeps.
    });
    let remote = remote_rx.recv().unwrap();
    thread::sleep(Duration::from_secs(2));
    remote.stop();
    thread.join().unwrap();
    assert!(remote.is_closed());
}
