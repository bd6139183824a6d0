//! An event loop under `run_forever` on a second thread, fed closures and stopped from
//! the main thread through its `Remote`.
//!
//! `cargo run --example run_forever_thread`

// Every example includes the whole shared module but uses only its own program.
#[allow(dead_code)]
#[path = "seeds/mod.rs"]
mod seeds;

fn main() {
    let say = seeds::Narrator::new(|line| println!("{line}"));
    let outcome = seeds::run_forever_thread::run(&say);
    let on_loop_thread = outcome
        .calls
        .iter()
        .all(|&(_, thread)| thread == outcome.loop_thread);
    println!(
        "{} closures ran, all on the loop thread: {on_loop_thread}",
        outcome.calls.len()
    );
}
