//! Accepting under descriptor exhaustion (issue 3): with `RLIMIT_NOFILE` lowered, a
//! server accepts until `EMFILE`, backs off without spinning while a timer keeps firing,
//! and resumes accepting when descriptors free up.
//!
//! The limit is lowered in a child: the test re-runs its own binary under
//! `prlimit --nofile=N:N` (util-linux) with `RINGLOOP_EMFILE_CHILD` set, once per
//! backend (`support::FdLimitedChild`). The parent holds the client ends of the
//! connections, so only the child's accepts use its descriptors. Assertions are on
//! counts (accepts, timer ticks, loop iterations) and on CPU time being a small share of
//! wall time during the exhaustion; never on how long anything took.

mod support;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringloop::EventLoop;
use ringloop::net::{ListenOptions, TcpListener};
use support::{FdLimitedChild, cpu_time, fds_below, wait_for, wait_until};

const CHILD: &str = "RINGLOOP_EMFILE_CHILD";
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
    FdLimitedChild {
        test: TEST_NAME,
        child_var: CHILD,
        limit: LIMIT,
        // More connections than the child can ever accept: the rest wait in the backlog.
        clients: LIMIT + FREED + 16,
        port_marker: "EMFILE-CHILD PORT ",
        ok_marker: "EMFILE-CHILD OK",
    }
    .run_on_each_backend();
}

/// In the child, under the descriptor limit, on the backend `RINGLOOP_BACKEND` names.
fn child() {
    let limit = LIMIT;
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
        wait_for("accepting every free descriptor", status, || {
            accepted.get() >= room
        })
        .await;
        assert_eq!(accepted.get(), room, "accepted more than the limit allows");
        // Let the back-off reach its steady state.
        let t0 = ticks.get();
        wait_until("timer ticks", || ticks.get() >= t0 + 20).await;

        // The exhaustion window: WINDOW_TICKS timer ticks.
        let start_ticks = ticks.get();
        let (wall0, cpu0, iter0) = (Instant::now(), cpu_time(&stat), lp.stats().iterations);
        wait_until("the timer during exhaustion", || {
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
            "EMFILE-CHILD window ({:?}): {fired} ticks, {iterations} loop iterations, cpu \
             {cpu:?} over wall {wall:?}, {} accepted (room {room})",
            lp.backend(),
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
        wait_until("accepting to resume", || accepted.get() >= room + FREED).await;
        // The next ones find no room again.
        let t1 = ticks.get();
        wait_until("timer ticks", || ticks.get() >= t1 + 20).await;
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
