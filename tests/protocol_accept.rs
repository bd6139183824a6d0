//! `net::serve`'s accepting, on whichever backend `RINGLOOP_BACKEND` selects (CI runs
//! this file on io_uring and on epoll): on io_uring the server runs on one multishot
//! accept, re-armed when it ends; on epoll it accepts on readiness, one at a time.
//!
//! - a burst of connections all get `connection_made` and echo (on io_uring, through far
//!   fewer accept SQEs than connections);
//! - dropping the server while connections keep arriving leaves the process's
//!   descriptor count where it began;
//! - an accept the kernel refuses with `EINVAL` falls back to single-shot accepts (and
//!   then ends the server with the error, as before);
//! - running out of descriptors backs off without spinning and resumes (in a child run
//!   under `prlimit --nofile`, like `net_emfile.rs`).
//!
//! The tests count the process's descriptors, so they run one at a time.

use std::cell::{Cell, RefCell};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::FileExt;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use ringloop::net::{ListenOptions, Protocol, TcpListener, Transport, serve};
use ringloop::{Backend, EventLoop};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Default)]
struct Log {
    made: Cell<usize>,
    lost: Cell<usize>,
    bytes: Cell<usize>,
    transports: RefCell<Vec<Transport>>,
}

struct Echo {
    log: Rc<Log>,
    transport: Option<Transport>,
}

impl Protocol for Echo {
    fn connection_made(&mut self, transport: Transport) {
        self.log.made.set(self.log.made.get() + 1);
        self.log.transports.borrow_mut().push(transport.clone());
        self.transport = Some(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        self.log.bytes.set(self.log.bytes.get() + data.len());
        self.transport.as_ref().unwrap().write(data);
    }

    fn connection_lost(&mut self, _error: Option<std::io::Error>) {
        self.log.lost.set(self.log.lost.get() + 1);
    }
}

fn echo(log: &Rc<Log>) -> impl FnMut() -> Echo + 'static {
    let log = log.clone();
    move || Echo {
        log: log.clone(),
        transport: None,
    }
}

/// Open descriptors of this process (not counting the listing's own).
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
        - 1
}

/// Waits for `ready`, failing with `status()` if it hangs.
async fn wait_for(what: &str, status: impl Fn() -> String, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "hung waiting for {what}: {}",
            status()
        );
        ringloop::sleep(Duration::from_millis(2)).await;
    }
}

const BURST: usize = 200;

#[test]
fn a_burst_of_connections_is_accepted_made_and_echoed() {
    let _serial = serial();
    let lp = EventLoop::new().unwrap();
    let listener =
        TcpListener::bind_with("127.0.0.1:0", ListenOptions::new().backlog(1024)).unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Rc::new(Log::default());
    let before = lp.stats();
    // Every client connects first (the burst), then each echoes one message.
    let clients = thread::spawn(move || {
        let mut streams: Vec<TcpStream> = (0..BURST)
            .map(|_| TcpStream::connect(addr).expect("connect"))
            .collect();
        for (i, s) in streams.iter_mut().enumerate() {
            let msg = format!("hello {i}");
            s.write_all(msg.as_bytes()).unwrap();
            let mut back = vec![0; msg.len()];
            s.read_exact(&mut back).unwrap();
            assert_eq!(back, msg.as_bytes());
        }
        drop(streams);
    });
    lp.run_until_complete(async {
        let server = ringloop::spawn(serve(listener, echo(&log)));
        let status = || format!("made {} lost {}", log.made.get(), log.lost.get());
        wait_for("every connection lost", status, || log.lost.get() == BURST).await;
        server.cancel();
        let _ = server.await;
    });
    clients.join().expect("client thread");
    let after = lp.stats();
    assert_eq!(log.made.get(), BURST);
    assert_eq!(log.lost.get(), BURST);
    let expected: usize = (0..BURST).map(|i| format!("hello {i}").len()).sum();
    assert_eq!(log.bytes.get(), expected);
    let accepts = after.accepts_submitted - before.accepts_submitted;
    println!(
        "{:?}: {BURST} connections, {accepts} accepts submitted",
        lp.backend()
    );
    if lp.backend() == Backend::IoUring {
        // One multishot accept takes the whole burst; it is re-armed only when the kernel
        // ends it (a full completion queue), never once per connection.
        assert!(
            accepts * 10 < BURST as u64,
            "{accepts} accepts for {BURST} connections: not multishot"
        );
    } else {
        assert!(
            accepts >= BURST as u64,
            "{accepts} accept(2) calls for {BURST} connections"
        );
    }
}

#[test]
fn dropping_the_server_while_connections_arrive_leaks_no_descriptor() {
    let _serial = serial();
    let fds_before_loop = open_fds();
    let lp = EventLoop::new().unwrap();
    let fds_at_start = open_fds();
    for round in 0..5 {
        let listener =
            TcpListener::bind_with("127.0.0.1:0", ListenOptions::new().backlog(1024)).unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let log = Rc::new(Log::default());
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        // Connects as fast as it can until told to stop or refused (the listener closed),
        // keeping every connection open.
        let client = thread::spawn(move || {
            let mut streams = Vec::new();
            while !s.load(Ordering::Relaxed) && streams.len() < 3000 {
                match TcpStream::connect(addr) {
                    Ok(c) => streams.push(c),
                    Err(_) => break,
                }
            }
            streams
        });
        lp.run_until_complete(async {
            let server = ringloop::spawn(serve(listener, echo(&log)));
            let threshold = 10 + round * 20;
            let status = || format!("made {}", log.made.get());
            wait_for("connections", status, || log.made.get() >= threshold).await;
            // Connections are still arriving: some are in the accept's sink, some
            // completing in the kernel, some in the backlog.
            server.cancel();
            let _ = server.await;
            assert_eq!(log.lost.get(), log.made.get(), "connection_lost for each");
            stop.store(true, Ordering::Relaxed);
            let streams = client.join().expect("client thread");
            drop(streams);
            // Closes ride in the loop's next submissions: let them land.
            let status = || format!("{} open, {fds_at_start} at the start", open_fds());
            wait_for("descriptors closed", status, || open_fds() == fds_at_start).await;
        });
        drop(log);
    }
    assert_eq!(open_fds(), fds_at_start);
    drop(lp);
    assert_eq!(
        open_fds(),
        fds_before_loop,
        "the loop left descriptors open"
    );
}

#[test]
fn an_accept_refused_with_einval_falls_back_to_single_shot() {
    let _serial = serial();
    // A connected (not listening) TCP socket: accept(2) on it fails with EINVAL, which is
    // also what a kernel without multishot accept answers to the multishot flag.
    let peer = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stream = TcpStream::connect(peer.local_addr().unwrap()).unwrap();
    let not_listening = std::net::TcpListener::from(std::os::fd::OwnedFd::from(stream));
    let listener = TcpListener::from_std(not_listening).unwrap();
    let lp = EventLoop::new().unwrap();
    let log = Rc::new(Log::default());
    let before = lp.stats();
    let result = lp.run_until_complete(serve(listener, echo(&log)));
    let e = result.expect_err("accepting on a socket that does not listen");
    assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{e}");
    let accepts = lp.stats().accepts_submitted - before.accepts_submitted;
    if lp.backend() == Backend::IoUring {
        assert_eq!(accepts, 2, "one multishot accept, then one single-shot");
    } else {
        assert_eq!(accepts, 1);
    }
    assert_eq!(log.made.get(), 0);
}

// ---------------------------------------------------------------------------------------
// Descriptor exhaustion, in a child with a low RLIMIT_NOFILE
// ---------------------------------------------------------------------------------------

const CHILD: &str = "RINGLOOP_SERVE_EMFILE_CHILD";
const EMFILE_TEST: &str = "serve_under_emfile_backs_off_lets_timers_run_and_resumes";
/// The child's descriptor limit.
const LIMIT: usize = 64;
/// Connections the child closes to make room.
const FREED: usize = 10;
const TICK: Duration = Duration::from_millis(10);
const WINDOW_TICKS: u64 = 100;

#[test]
fn serve_under_emfile_backs_off_lets_timers_run_and_resumes() {
    if std::env::var_os(CHILD).is_some() {
        emfile_child();
        return;
    }
    let _serial = serial();
    let has_prlimit = Command::new("prlimit")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !has_prlimit {
        println!("skipped: `prlimit` (util-linux) is not installed");
        return;
    }
    let mut child = Command::new("prlimit")
        .arg(format!("--nofile={LIMIT}:{LIMIT}"))
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", EMFILE_TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the child");
    let mut stderr = child.stderr.take().unwrap();
    let stderr_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut transcript = String::new();
    let mut port = None;
    let mut line = String::new();
    while stdout.read_line(&mut line).unwrap_or(0) > 0 {
        transcript.push_str(&line);
        if let Some((_, p)) = line.trim().split_once("SERVE-EMFILE PORT ") {
            port = Some(p.parse::<u16>().expect("port number"));
            break;
        }
        line.clear();
    }
    let Some(port) = port else {
        let status = child.wait().unwrap();
        panic!(
            "the child never listened ({status}):\n{transcript}\n{}",
            stderr_reader.join().unwrap()
        );
    };
    // More connections than the child can ever accept: the rest wait in the backlog.
    let clients: Vec<TcpStream> = (0..LIMIT + FREED + 16)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).expect("connect"))
        .collect();
    let mut rest = String::new();
    let _ = stdout.read_to_string(&mut rest);
    transcript.push_str(&rest);
    let status = child.wait().unwrap();
    let stderr = stderr_reader.join().unwrap();
    drop(clients);
    println!("{transcript}");
    assert!(
        status.success(),
        "child failed ({status}):\n{transcript}\n{stderr}"
    );
    assert!(
        transcript.contains("SERVE-EMFILE OK"),
        "the child did not finish:\n{transcript}\n{stderr}"
    );
}

/// This process's user + system CPU time, from a `/proc/self/stat` opened in advance.
fn cpu_time(stat: &std::fs::File) -> Duration {
    let mut buf = [0u8; 1024];
    let n = stat.read_at(&mut buf, 0).expect("read /proc/self/stat");
    let text = std::str::from_utf8(&buf[..n]).unwrap();
    let after_name = &text[text.rfind(')').unwrap() + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat(5) (utime, stime), in USER_HZ (100) ticks.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// Open descriptors below `limit` (the ones that count against it).
fn fds_below(limit: usize) -> usize {
    let fds: Vec<usize> = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    // The listing's own descriptor is among them.
    fds.iter().filter(|&&fd| fd < limit).count() - 1
}

fn emfile_child() {
    let stat = std::fs::File::open("/proc/self/stat").unwrap();
    let lp = EventLoop::new().unwrap();
    let listener =
        TcpListener::bind_with("127.0.0.1:0", ListenOptions::new().backlog(512)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let room = LIMIT - fds_below(LIMIT);
    println!("SERVE-EMFILE PORT {port}");

    let log = Rc::new(Log::default());
    let ticks = Rc::new(Cell::new(0u64));
    lp.run_until_complete(async {
        let server = ringloop::spawn(serve(listener, echo(&log)));
        let t = ticks.clone();
        let timer = ringloop::spawn(async move {
            loop {
                ringloop::sleep(TICK).await;
                t.set(t.get() + 1);
            }
        });
        let made = || log.made.get();
        let status = || format!("{} made of {room}", log.made.get());
        wait_for("accepting every free descriptor", status, || made() >= room).await;
        assert_eq!(made(), room, "accepted more than the limit allows");
        let t0 = ticks.get();
        wait_for("timer ticks", String::new, || ticks.get() >= t0 + 20).await;

        let start_ticks = ticks.get();
        let (wall0, cpu0, iter0) = (Instant::now(), cpu_time(&stat), lp.stats().iterations);
        let window = || ticks.get() >= start_ticks + WINDOW_TICKS;
        wait_for("the timer during exhaustion", String::new, window).await;
        let (wall, cpu, iterations) = (
            wall0.elapsed(),
            cpu_time(&stat) - cpu0,
            lp.stats().iterations - iter0,
        );
        println!(
            "SERVE-EMFILE window ({:?}): {iterations} loop iterations, cpu {cpu:?} over wall \
             {wall:?}, {} made (room {room}), {} accepts submitted",
            lp.backend(),
            made(),
            lp.stats().accepts_submitted
        );
        assert_eq!(made(), room, "accepted beyond the descriptor limit");
        assert!(
            cpu.as_secs_f64() < 0.5 * wall.as_secs_f64(),
            "the loop burned {cpu:?} of CPU in {wall:?} of exhaustion"
        );
        assert!(
            iterations < 20 * WINDOW_TICKS,
            "{iterations} loop iterations for {WINDOW_TICKS} timer ticks: spinning"
        );

        // Close some connections: accepting resumes, exactly that many more.
        let closing: Vec<Transport> = log.transports.borrow_mut().drain(..FREED).collect();
        for t in &closing {
            t.close();
        }
        drop(closing);
        let status = || format!("{} made, {} lost", log.made.get(), log.lost.get());
        wait_for("accepting to resume", status, || made() >= room + FREED).await;
        let t1 = ticks.get();
        wait_for("timer ticks", String::new, || ticks.get() >= t1 + 20).await;
        assert_eq!(made(), room + FREED);
        println!(
            "SERVE-EMFILE OK: made {room}, freed {FREED}, made {} in all",
            made()
        );
        server.cancel();
        let _ = server.await;
        timer.cancel();
    });
}
