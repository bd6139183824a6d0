//! Four counters that take strict turns through `ringloop::yield_now()`.
//!
//! `cargo run --example counters [rounds]` (default 5 rounds).

// Every example includes the whole shared module but uses only its own program.
#[allow(dead_code)]
#[path = "seeds/mod.rs"]
mod seeds;

fn main() {
    let rounds = std::env::args()
        .nth(1)
        .map_or(5, |arg| arg.parse().expect("rounds must be a whole number"));
    let say = seeds::Narrator::new(|line| println!("{line}"));
    let outcome = seeds::counters::run(rounds, &say);
    let order: Vec<String> = outcome
        .ticks
        .iter()
        .map(|(name, number)| format!("{name}{number}"))
        .collect();
    println!("turn order: {}", order.join(" "));
}
