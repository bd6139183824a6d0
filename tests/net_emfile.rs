//! Accepting under descriptor exhaustion (issue 3): with `RLIMIT_NOFILE` lowered, a
//! server accepts until `EMFILE`, backs off without spinning while a timer keeps firing,
//! and resumes accepting when descriptors free up.
//!
//! The limit is lowered in a child: the test re-runs its own binary under
//! `prlimit --nofile=N:N` (util-linux) with `RINGLOOP_EMFILE_CHILD` set. The parent
//! holds the client ends of the connections, so only the child's accepts use its
//! descriptors. Assertions are on counts (accepts, timer ticks, loop iterations) and on
//! CPU time being a small share of wall time during the exhaustion; never on how long
//! anything took.

use std::cell::{Cell, RefCell};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringloop::EventLoop;
use ringloop::net::{ListenOptions, TcpListener};

const CHILD: &str = "RINGLOOP_EMFILE_CHILD";
const LIMIT_VAR: &str = "RINGLOOP_EMFILE_LIMIT";
const TEST_NAME: &str = "accept_under_emfile_backs_off_lets_timers_run_and_resumes";
/// The child's descriptor limit.
const LIMIT: usize = 64;
/// Connections the child closes to make room.
const FREED: usize = 10;
/// Timer period and the exhaustion window, in ticks.
const TICK: Duration = Duration::from_millis(10);
const WINDOW_TICKS: u64 = 100;

#[test]
fn accept_under_emfile_backs_off_lets_timers_run_and_resumes() {
    if std::env::var_os(CHILD).is_some() {
        child();
        return;
    }
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
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env(LIMIT_VAR, LIMIT.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the child under prlimit");
    let mut stderr = child.stderr.take().unwrap();
    let stderr_reader = std::thread::spawn(move || {
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
        // libtest prints the test's name on the same line, before the child's output.
        if let Some((_, p)) = line.trim().split_once("EMFILE-CHILD PORT ") {
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
    let clients: Vec<std::net::TcpStream> = (0..LIMIT + FREED + 16)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect"))
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
        transcript.contains("EMFILE-CHILD OK"),
        "the child did not finish:\n{transcript}\n{stderr}"
    );
}

/// Open descriptors below `limit` (the ones that count against it), not counting the
/// directory handle used to list them.
fn fds_below(limit: usize) -> usize {
    let dir = std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd");
    let fds: Vec<usize> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    // The listing's own descriptor is among them; it was the lowest free one.
    fds.iter().filter(|&&fd| fd < limit).count() - 1
}

/// This process's user + system CPU time, from a `/proc/self/stat` opened in advance
/// (no descriptor can be opened during the exhaustion).
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

async fn wait_for(what: &str, ready: impl FnMut() -> bool) {
    wait_for_or(what, String::new, ready).await;
}

/// Waits for `ready`, failing with `status()` if it hangs.
async fn wait_for_or(what: &str, status: impl Fn() -> String, mut ready: impl FnMut() -> bool) {
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

fn child() {
    let limit: usize = std::env::var(LIMIT_VAR).unwrap().parse().unwrap();
    let stat = std::fs::File::open("/proc/self/stat").unwrap();
    let lp = EventLoop::new().unwrap();
    let listener =
        TcpListener::bind_with("127.0.0.1:0", ListenOptions::new().backlog(512)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let room = limit - fds_below(limit);
    println!("EMFILE-CHILD PORT {port}");

    let accepted = Rc::new(Cell::new(0usize));
    let conns = Rc::new(RefCell::new(Vec::new()));
    let ticks = Rc::new(Cell::new(0u64));
    lp.run_until_complete(async {
        let (a, c) = (accepted.clone(), conns.clone());
        let acceptor = ringloop::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.expect("accept");
                c.borrow_mut().push(stream);
                a.set(a.get() + 1);
            }
        });
        let t = ticks.clone();
        let timer = ringloop::spawn(async move {
            loop {
                ringloop::sleep(TICK).await;
                t.set(t.get() + 1);
            }
        });

        // Accept until the descriptors run out.
        let status = || format!("{} accepted of {room}", accepted.get());
        wait_for_or("accepting every free descriptor", status, || {
            accepted.get() >= room
        })
        .await;
        assert_eq!(accepted.get(), room, "accepted more than the limit allows");
        // Let the back-off reach its steady state.
        let t0 = ticks.get();
        wait_for("timer ticks", || ticks.get() >= t0 + 20).await;

        // The exhaustion window: WINDOW_TICKS timer ticks.
        let start_ticks = ticks.get();
        let (wall0, cpu0, iter0) = (Instant::now(), cpu_time(&stat), lp.stats().iterations);
        wait_for("the timer during exhaustion", || {
            ticks.get() >= start_ticks + WINDOW_TICKS
        })
        .await;
        let (wall, cpu, iterations) = (
            wall0.elapsed(),
            cpu_time(&stat) - cpu0,
            lp.stats().iterations - iter0,
        );
        let fired = ticks.get() - start_ticks;
        println!(
            "EMFILE-CHILD window: {fired} ticks, {iterations} loop iterations, cpu {cpu:?} \
             over wall {wall:?}, {} accepted (room {room})",
            accepted.get()
        );
        assert_eq!(accepted.get(), room, "accepted beyond the descriptor limit");
        assert_eq!(fired, WINDOW_TICKS);
        assert!(
            wall >= TICK * WINDOW_TICKS as u32,
            "timers fired early: {WINDOW_TICKS} ticks in {wall:?}"
        );
        // A loop spinning on EMFILE would burn a core (~100%) and turn thousands of
        // iterations per tick; backing off, it idles between ticks and retries.
        assert!(
            cpu.as_secs_f64() < 0.5 * wall.as_secs_f64(),
            "the loop burned {cpu:?} of CPU in {wall:?} of exhaustion"
        );
        assert!(
            iterations < 20 * WINDOW_TICKS,
            "{iterations} loop iterations for {WINDOW_TICKS} timer ticks: spinning"
        );

        // Free some descriptors: accepting resumes, exactly that many more.
        conns.borrow_mut().drain(..FREED);
        wait_for("accepting to resume", || accepted.get() >= room + FREED).await;
        // The next ones find no room again.
        let t1 = ticks.get();
        wait_for("timer ticks", || ticks.get() >= t1 + 20).await;
        assert_eq!(accepted.get(), room + FREED);
        println!(
            "EMFILE-CHILD OK: accepted {room}, freed {FREED}, accepted {} in all; timer {} ticks",
            accepted.get(),
            ticks.get()
        );
        acceptor.cancel();
        timer.cancel();
    });
}
