//! Runs every ported asyncio tutorial program, one after another.
//!
//! `cargo run --release --example tour [seed]`: one seed drives all the random choices,
//! so passing the seed a run printed replays that run's choices.

#[path = "seeds/mod.rs"]
mod seeds;

use seeds::{
    Narrator, counters, fetch_monitor, gather_sleeps, producer_consumer, run_forever_thread,
    unlikely_to_return,
};

fn heading(title: &str) {
    println!();
    println!("=== {title}");
}

fn main() {
    let seed = seeds::pick_seed(std::env::args().nth(1));
    println!("ringloop tour of the asyncio tutorial programs (seed {seed})");
    let say = Narrator::new(|line| println!("  {line}"));

    heading("1. tasks that are unlikely to return");
    let outcome = unlikely_to_return::run(seed, &say);
    let callbacks = outcome
        .events
        .iter()
        .filter(|event| matches!(event, unlikely_to_return::Event::Callback { .. }))
        .count();
    println!(
        "results awaited in spawn order {:?}; finished in the order {:?}; {callbacks} done \
         callbacks ran",
        outcome
            .awaited
            .iter()
            .map(|(tag, _)| tag)
            .collect::<Vec<_>>(),
        outcome.finished,
    );

    heading("2. a producer and a consumer with an end marker");
    let outcome = producer_consumer::run(seed, &say);
    // The consumer is the slower side, so items are usually still waiting for it when
    // the producer sends the end marker.
    let backlog = outcome
        .steps
        .iter()
        .skip_while(|step| **step != producer_consumer::Step::ProducerDone)
        .filter(|step| matches!(step, producer_consumer::Step::Consumed(_)))
        .count();
    println!(
        "{} items produced, {} consumed in the same order: {}; {backlog} were still queued \
         when the producer finished; {} left over",
        outcome.produced.len(),
        outcome.consumed.len(),
        outcome.produced == outcome.consumed,
        outcome.left_over,
    );

    heading("3. four counters taking turns");
    let outcome = counters::run(3, &say);
    let order: Vec<String> = outcome
        .ticks
        .iter()
        .map(|(name, number)| format!("{name}{number}"))
        .collect();
    println!("turn order: {}", order.join(" "));

    heading("4. ten sleepers gathered");
    let outcome = gather_sleeps::run(seed, &say);
    println!(
        "gather returned ids {:?}; they finished in the order {:?}",
        outcome
            .gathered
            .iter()
            .map(|report| report.id)
            .collect::<Vec<_>>(),
        outcome.finished,
    );

    heading("5. run_forever on another thread");
    let outcome = run_forever_thread::run(&say);
    let on_loop_thread = outcome
        .calls
        .iter()
        .filter(|&&(_, thread)| thread == outcome.loop_thread)
        .count();
    println!(
        "{on_loop_thread} of {} closures ran on the loop thread; {} heartbeats before it \
         stopped; closed afterwards: {}; a late call got {:?}",
        outcome.calls.len(),
        outcome.beats,
        outcome.closed_afterwards,
        outcome.late_call,
    );

    heading("6. fetching from a socket while a monitor ticks");
    let outcome = fetch_monitor::run(seed, 20, &say);
    let whole = outcome
        .seen_lengths
        .iter()
        .all(|len| len % fetch_monitor::BATCH == 0);
    println!(
        "{} numbers sent, {} fetched in the same order: {}; the monitor looked {} times and \
         always saw whole batches: {whole}",
        outcome.sent.len(),
        outcome.fetched.len(),
        outcome.sent == outcome.fetched,
        outcome.seen_lengths.len(),
    );

    heading("7. newer asyncio: a TaskGroup, the streams API and a Condition");
    newer_asyncio();
}

/// An echo server with `start_server`, three clients in a `TaskGroup` with
/// `open_connection`, and a `Condition` that holds the clients back until the server is
/// listening (asyncio 3.11's `TaskGroup`, `asyncio.streams`, `asyncio.Condition`).
fn newer_asyncio() {
    use std::cell::Cell;
    use std::rc::Rc;

    use ringloop::TaskGroup;
    use ringloop::net::{open_connection, start_server};
    use ringloop::sync::Condition;

    let replies = ringloop::run(async {
        let ready = Condition::new();
        let addr: Rc<Cell<Option<std::net::SocketAddr>>> = Rc::new(Cell::new(None));
        let mut clients = TaskGroup::new();
        for name in ["ada", "grace", "barbara"] {
            let (ready, addr) = (ready.clone(), addr.clone());
            clients.spawn(async move {
                // Wait, holding the condition's lock, until the server's address is set.
                let guard = ready.lock().await;
                let guard = ready.wait_for(guard, || addr.get().is_some()).await;
                drop(guard);
                let (mut reader, writer) = open_connection(addr.get().unwrap()).await?;
                writer.write(format!("hello from {name}\n").as_bytes());
                writer.drain().await?;
                let line = reader.readline().await?;
                writer.close();
                writer.wait_closed().await?;
                Ok::<_, std::io::Error>(String::from_utf8_lossy(&line).trim_end().to_owned())
            });
        }
        let server = start_server("127.0.0.1:0", |mut reader, writer| async move {
            while let Ok(line) = reader.readline().await {
                if line.is_empty() {
                    break; // end of file
                }
                writer.write(b"echo: ");
                writer.write(&line);
                if writer.drain().await.is_err() {
                    break;
                }
            }
        })
        .await
        .expect("a loopback server");
        addr.set(Some(server.local_addr().expect("its address")));
        let guard = ready.lock().await;
        ready.notify_all(); // the clients go
        drop(guard);
        let replies = clients.join_all().await.expect("no client panicked");
        server.close();
        server.wait_closed().await;
        replies
    });
    for reply in replies {
        match reply {
            Ok(line) => println!("{line}"),
            Err(e) => println!("a client failed: {e}"),
        }
    }
}
