//! A producer and a consumer joined by a `ringloop::sync::Queue`, ended by a `None`.
//!
//! `cargo run --example producer_consumer [seed]` (a seed replays a run).

// Every example includes the whole shared module but uses only its own program.
#[allow(dead_code)]
#[path = "seeds/mod.rs"]
mod seeds;

fn main() {
    let seed = seeds::pick_seed(std::env::args().nth(1));
    println!("seed {seed}");
    let say = seeds::Narrator::new(|line| println!("{line}"));
    let outcome = seeds::producer_consumer::run(seed, &say);
    println!(
        "{} items produced, {} consumed, {} left on the queue",
        outcome.produced.len(),
        outcome.consumed.len(),
        outcome.left_over
    );
}
