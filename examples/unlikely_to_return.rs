//! Tasks that are unlikely to return, awaited in order and then handled by done
//! callbacks.
//!
//! `cargo run --example unlikely_to_return [seed]` (a seed replays a run).

// Every example includes the whole shared module but uses only its own program.
#[allow(dead_code)]
#[path = "seeds/mod.rs"]
mod seeds;

fn main() {
    let seed = seeds::pick_seed(std::env::args().nth(1));
    println!("seed {seed}");
    let say = seeds::Narrator::new(|line| println!("{line}"));
    seeds::unlikely_to_return::run(seed, &say);
}
