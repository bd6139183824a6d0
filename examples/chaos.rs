//! A service's chaos test on ringloop's fault backend (feature `fault-injection`).
//!
//! The service here is a line-oriented upper-casing server: it reads lines and answers
//! each in capitals. The test runs it, with a client, on loops whose backend perturbs
//! everything the kernel reports, deterministically by seed:
//!
//! 1. under `FaultPlan::chaos()` (failed waits, delayed, reordered, duplicated and stray
//!    completions, short reads and writes, `EINTR`/`EAGAIN`), the service must answer
//!    exactly as without faults: the loop hides all of them;
//! 2. with `ENOBUFS` among the operation errors, some reads and writes really fail: the
//!    service must lose only the connection that met the error, answer the others, and
//!    leak nothing.
//!
//! A failing seed replays the same faults: run `cargo run --example chaos -- <seed>`.
//!
//! Run: `cargo run --example chaos` (the crate's examples build with the feature on; a
//! service enables it in its own `[dev-dependencies]`:
//! `ringloop = { version = "…", features = ["fault-injection"] }`).

use std::io;
use std::rc::Rc;

use ringloop::net::UnixStream;
use ringloop::{EventLoop, FaultPlan};

/// The service: answers every line of `stream` in capitals, until end of file.
async fn serve(stream: UnixStream) -> io::Result<()> {
    let mut pending = Vec::new();
    loop {
        let (read, buf) = stream.read(Vec::with_capacity(512)).await;
        if read? == 0 {
            return Ok(());
        }
        pending.extend_from_slice(&buf);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let (wrote, _) = stream.write_all(line.to_ascii_uppercase()).await;
            wrote?;
        }
    }
}

/// One client: sends `lines` lines, reads every answer, checks them. `Err` when an I/O
/// error reached it (a visible fault on its side or a lost connection).
async fn client(stream: UnixStream, id: usize, lines: usize) -> io::Result<()> {
    let request: Vec<u8> = (0..lines)
        .flat_map(|i| format!("client {id} line {i}\n").into_bytes())
        .collect();
    let expected = request.to_ascii_uppercase();
    let (wrote, _) = stream.write_all(request).await;
    wrote?;
    let (read, answer) = stream.read_exact(Vec::with_capacity(expected.len())).await;
    read?;
    assert_eq!(answer, expected, "client {id}: an answer differs");
    Ok(())
}

/// Runs `clients` clients against the service on a loop with `plan` and `seed`; returns
/// how many finished without an I/O error.
fn run(seed: u64, plan: FaultPlan, clients: usize) -> usize {
    let lp = EventLoop::builder()
        .fault_injection(seed, plan)
        .build()
        .expect("a loop with fault injection");
    let ok = lp.run_until_complete(async move {
        let finished = Rc::new(std::cell::Cell::new(0));
        let mut tasks = Vec::new();
        for id in 0..clients {
            let (near, far) = UnixStream::pair().expect("socketpair");
            // A failed server side just drops its connection: the client then sees end
            // of file or an error, never a hang.
            let _server = ringloop::spawn(async move { serve(far).await });
            let finished = finished.clone();
            tasks.push(ringloop::spawn(async move {
                if client(near, id, 50).await.is_ok() {
                    finished.set(finished.get() + 1);
                }
            }));
        }
        for task in tasks {
            task.await.expect("a client task never panics");
        }
        finished.get()
    });
    let stats = lp.stats();
    assert_eq!(stats.buffers_held, 0, "seed {seed}: buffers still held");
    ok
}

fn main() {
    let seeds: Vec<u64> = match std::env::args().nth(1) {
        Some(seed) => vec![seed.parse().expect("a seed is a number")],
        None => (0..20).collect(),
    };
    for &seed in &seeds {
        // 1. Hidden faults: every client finishes, every answer exact.
        let ok = run(seed, FaultPlan::chaos(), 8);
        assert_eq!(ok, 8, "seed {seed}: a hidden fault reached the service");
        // 2. Visible faults: some connections fail, the rest are answered exactly.
        let plan = FaultPlan {
            op_error: 0.01,
            op_errnos: vec![libc::EINTR, libc::EAGAIN, libc::ENOBUFS],
            ..FaultPlan::chaos()
        };
        let ok = run(seed, plan, 8);
        println!("seed {seed:>2}: chaos 8/8 clients answered; with ENOBUFS {ok}/8");
    }
    println!("the service held up under {} seeds", seeds.len());
}
