//! The graceful echo example as a real child process under load, shut down by a real
//! SIGTERM, on io_uring and on epoll: new clients are refused from then on, every
//! client that was connected goes on being served, every request it sent is answered
//! whole, and the server drains cleanly and exits 0.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ringloop::Backend;

/// The example's binary, which `cargo test` builds next to the test binaries.
fn example() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let path = dir.join("examples").join("graceful_echo");
    assert!(
        path.exists(),
        "{} is missing: run through `cargo test`",
        path.display()
    );
    path
}

const CLIENTS: usize = 8;
const MSG: usize = 32;

/// One client: round trips on its own connection until told to stop, then
/// `after` more; each answer must equal its request.
fn client(
    addr: SocketAddr,
    id: usize,
    stop: Arc<AtomicBool>,
    done: Arc<Vec<AtomicUsize>>,
) -> usize {
    let mut stream = TcpStream::connect(addr).expect("connect before the shutdown");
    stream
        .set_read_timeout(Some(support::HANG))
        .expect("timeout");
    let mut trips = 0;
    let mut after_stop = 0;
    while after_stop < 20 {
        let request = format!("{id:>4}-{trips:>26}\n");
        assert_eq!(request.len(), MSG);
        stream
            .write_all(request.as_bytes())
            .expect("a request to an accepted connection");
        let mut answer = [0u8; MSG];
        stream.read_exact(&mut answer).expect("its whole answer");
        assert_eq!(&answer, request.as_bytes(), "client {id}: a wrong answer");
        trips += 1;
        done[id].fetch_add(1, Ordering::SeqCst);
        if stop.load(Ordering::SeqCst) {
            after_stop += 1;
        }
    }
    trips
}

#[test]
fn sigterm_under_load_loses_no_accepted_request() {
    let _serial = support::serial();
    for backend in support::backends() {
        let name = match backend {
            Backend::IoUring => "io_uring",
            _ => "epoll",
        };
        let mut child = Command::new(example())
            .args(["127.0.0.1:0", "20"])
            .env("RINGLOOP_BACKEND", name)
            .stdout(Stdio::piped())
            .spawn()
            .expect("the example starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = lines.next().expect("a first line").expect("utf-8");
        let addr: SocketAddr = first
            .split_whitespace()
            .find_map(|word| word.trim_end_matches(';').parse().ok())
            .unwrap_or_else(|| panic!("{name}: no address in {first:?}"));

        let stop = Arc::new(AtomicBool::new(false));
        let done: Arc<Vec<AtomicUsize>> =
            Arc::new((0..CLIENTS).map(|_| AtomicUsize::new(0)).collect());
        let clients: Vec<_> = (0..CLIENTS)
            .map(|id| {
                let (stop, done) = (stop.clone(), done.clone());
                std::thread::spawn(move || client(addr, id, stop, done))
            })
            .collect();
        // Mid-load: every client is connected, served, and has made round trips.
        let deadline = Instant::now() + support::HANG;
        while done.iter().any(|n| n.load(Ordering::SeqCst) < 10) {
            assert!(
                Instant::now() < deadline,
                "{name}: the load never got going"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        testkit::process::signal_process(child.id(), libc::SIGTERM).expect("SIGTERM");
        // The server says it stopped accepting; from then on new clients are refused.
        let said = lines
            .by_ref()
            .map(|l| l.expect("utf-8"))
            .find(|l| l.starts_with("shutting down"))
            .unwrap_or_else(|| panic!("{name}: the server never began its shutdown"));
        assert!(said.contains(&format!("{CLIENTS} open")), "{name}: {said}");
        let refused = TcpStream::connect(addr);
        assert!(
            refused.is_err(),
            "{name}: a new client was accepted after SIGTERM"
        );
        // The connected clients go on, then leave: the drain is clean.
        stop.store(true, Ordering::SeqCst);
        for c in clients {
            assert!(c.join().expect("a client thread") >= 30);
        }
        let rest: Vec<String> = lines.map(|l| l.expect("utf-8")).collect();
        assert!(
            rest.iter().any(|l| l.contains("every connection finished")),
            "{name}: not a clean drain: {rest:?}"
        );
        let status = child.wait().expect("the example exits");
        assert!(status.success(), "{name}: {status}");
    }
}
