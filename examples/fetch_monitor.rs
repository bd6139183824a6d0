//! A fetcher reading batches from a TCP connection while a monitor ticks.
//!
//! `cargo run --example fetch_monitor [seed]`

// Every example includes the whole shared module but uses only its own program.
#[allow(dead_code)]
#[path = "seeds/mod.rs"]
mod seeds;

fn main() {
    let seed = seeds::pick_seed(std::env::args().nth(1));
    let say = seeds::Narrator::new(|line| println!("{line}"));
    let outcome = seeds::fetch_monitor::run(seed, 20, &say);
    println!(
        "fetched {} numbers; the monitor saw lengths {:?}",
        outcome.fetched.len(),
        outcome.seen_lengths
    );
}
