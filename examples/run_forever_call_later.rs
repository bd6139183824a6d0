//! `run_forever` on one thread, stopped by a timer callback.
//!
//! `cargo run --example run_forever_call_later`. A loop runs a task that prints every
//! half second; `call_later` schedules a callback that stops the loop after two seconds,
//! so `run_forever` returns without a second thread. A second callback is cancelled
//! before it is due and never runs. (Port of a Python asyncio tutorial program, which
//! asked how to use `run_forever` from a single thread.)

use std::time::Duration;

use ringloop::EventLoop;

async fn start() {
    loop {
        println!("in start");
        ringloop::sleep(Duration::from_millis(500)).await;
    }
}

fn main() {
    let lp = EventLoop::new().expect("an event loop");
    lp.spawn(start());
    let handle = lp.handle();
    lp.call_later(Duration::from_secs(2), move || {
        println!("two seconds: stopping the loop");
        handle.stop();
    });
    let never = lp.call_later(Duration::from_secs(3), || unreachable!("cancelled"));
    never.cancel();
    lp.run_forever();
    println!("run_forever returned");
}
