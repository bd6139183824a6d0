//! Fetching from I/O while a monitor ticks.
//!
//! A fetcher task reads batches of numbers from a real TCP connection and appends each
//! batch to a shared list in a plain `for` loop; a monitor task wakes every few
//! milliseconds and records how long the list is. Both run on one loop, so the monitor
//! can only run while the fetcher is suspended in an `.await` (waiting for the socket),
//! never in the middle of its `for` loop: every length the monitor sees is a whole
//! number of batches.
//!
//! The numbers come from a third task, the source, which writes a batch, sleeps a
//! little, and repeats, then closes its end so the fetcher sees end-of-file.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use ringloop::net::{IoBuf, TcpListener, TcpStream};

use super::{Narrator, Rng};

/// Numbers per batch.
pub const BATCH: usize = 10;

/// What happened.
#[derive(Debug)]
pub struct Outcome {
    /// Every number the source sent, in order.
    pub sent: Vec<u32>,
    /// Every number the fetcher appended, in order.
    pub fetched: Vec<u32>,
    /// The list's length at each of the monitor's ticks.
    pub seen_lengths: Vec<usize>,
}

/// Sends `batches` batches through a loopback connection while the monitor watches.
pub fn run(seed: u64, batches: usize, say: &Narrator) -> Outcome {
    ringloop::run(async move {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let vals = Rc::new(RefCell::new(Vec::new()));
        let fetching = Rc::new(Cell::new(true));

        let source = ringloop::spawn(source(addr, batches, seed, say.clone()));
        let (stream, _) = listener.accept().await.expect("accept the source");
        let fetcher = ringloop::spawn(fetcher(stream, vals.clone(), fetching.clone()));
        let monitor = ringloop::spawn(monitor(vals.clone(), fetching, say.clone()));

        let sent = source.await.expect("the source does not fail");
        fetcher.await.expect("the fetcher does not fail");
        let seen_lengths = monitor.await.expect("the monitor does not fail");
        let fetched = vals.take();
        Outcome {
            sent,
            fetched,
            seen_lengths,
        }
    })
}

async fn source(addr: std::net::SocketAddr, batches: usize, seed: u64, say: Narrator) -> Vec<u32> {
    let mut rng = Rng::new(seed);
    let stream = TcpStream::connect(addr)
        .await
        .expect("connect to the fetcher");
    let mut sent = Vec::new();
    for b in 0..batches {
        let batch: Vec<u32> = (0..BATCH).map(|_| rng.next_u64() as u32).collect();
        let bytes: Vec<u8> = batch.iter().flat_map(|v| v.to_le_bytes()).collect();
        let (res, _) = stream.write_all(bytes).await;
        res.expect("send a batch");
        say.say(format!("source: sent batch {}", b + 1));
        sent.extend(batch);
        ringloop::sleep(rng.millis(1, 8)).await;
    }
    // Dropping the stream closes it: the fetcher reads end-of-file.
    sent
}

async fn fetcher(stream: TcpStream, vals: Rc<RefCell<Vec<u32>>>, fetching: Rc<Cell<bool>>) {
    let mut buf = vec![0u8; BATCH * 4];
    loop {
        // Suspends until a whole batch arrived: the only place the monitor can run.
        let (res, b) = stream.read_exact(buf.slice(..)).await;
        buf = b.into_inner();
        if res.is_err() {
            break; // end-of-file: the source is done
        }
        // No `.await` in here: nothing else runs until the whole batch is in.
        for chunk in buf.chunks_exact(4) {
            let value = u32::from_le_bytes(chunk.try_into().expect("4 bytes"));
            vals.borrow_mut().push(value);
        }
    }
    fetching.set(false);
}

async fn monitor(
    vals: Rc<RefCell<Vec<u32>>>,
    fetching: Rc<Cell<bool>>,
    say: Narrator,
) -> Vec<usize> {
    let mut seen = Vec::new();
    while fetching.get() {
        let len = vals.borrow().len();
        say.say(format!("monitor: {len} values so far"));
        seen.push(len);
        ringloop::sleep(Duration::from_millis(3)).await;
    }
    seen
}
