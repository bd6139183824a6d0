//! Ten tasks with random sleeps, collected with `ringloop::gather`.
//!
//! `cargo run --example gather_sleeps [seed]` (a seed replays a run).

// Every example includes the whole shared module but uses only its own program.
#[allow(dead_code)]
#[path = "seeds/mod.rs"]
mod seeds;

fn main() {
    let seed = seeds::pick_seed(std::env::args().nth(1));
    println!("seed {seed}");
    let say = seeds::Narrator::new(|line| println!("{line}"));
    let outcome = seeds::gather_sleeps::run(seed, &say);
    let gathered: Vec<String> = outcome
        .gathered
        .iter()
        .map(|report| format!("{}:{}", report.id, report.ticks))
        .collect();
    println!("gather returned (id:ticks): {}", gathered.join(" "));
    println!("finishing order: {:?}", outcome.finished);
}
