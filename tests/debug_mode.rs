//! Debug mode (asyncio's debug mode and `slow_callback_duration`): a task step or
//! callback that holds the loop longer than the threshold is reported through the `log`
//! crate with what ran and for how long; nothing is reported when debug mode is off.
//! And `EventLoop::close`.
//!
//! The `log` crate has one logger per process: this binary installs a recorder that
//! keeps every record with the thread that logged it, and each test reads its own
//! thread's records (tests run on parallel threads).

mod support;

use std::sync::Mutex;
use std::thread::ThreadId;
use std::time::Duration;

use ringloop::EventLoop;
use support::{for_each_backend_by_env, on_each_backend, panic_message, rerun, serial};

struct Recorder;

static RECORDS: Mutex<Vec<(ThreadId, log::Level, String)>> = Mutex::new(Vec::new());
static RECORDER: Recorder = Recorder;

impl log::Log for Recorder {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        RECORDS.lock().unwrap().push((
            std::thread::current().id(),
            record.level(),
            record.args().to_string(),
        ));
    }

    fn flush(&self) {}
}

/// Installs the recorder (once per process) and returns what this thread logged so far
/// at `Warn`, after forgetting it.
fn take_warnings() -> Vec<String> {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        log::set_logger(&RECORDER).expect("no other logger in this binary");
        log::set_max_level(log::LevelFilter::Trace);
    });
    let me = std::thread::current().id();
    let mut records = RECORDS.lock().unwrap();
    let mut mine = Vec::new();
    records.retain(|(thread, level, message)| {
        if *thread == me {
            if *level == log::Level::Warn {
                mine.push(message.clone());
            }
            false
        } else {
            true
        }
    });
    mine
}

fn loop_with_threshold(backend: ringloop::Backend, threshold: Option<Duration>) -> EventLoop {
    let mut builder = EventLoop::builder();
    builder.backend(backend);
    if let Some(threshold) = threshold {
        builder.slow_callback_duration(threshold);
    }
    builder.build().unwrap()
}

/// The brief's case: a 50 ms blocking step with a 10 ms threshold is reported with its
/// task's name and how long it took.
#[test]
fn slow_task_step_is_reported_with_its_name_and_duration() {
    // Steps that block the thread: one test at a time, so timing stays honest.
    let _serial = serial();
    on_each_backend(|backend| {
        take_warnings();
        let lp = loop_with_threshold(backend, Some(Duration::from_millis(10)));
        let task = lp.spawn(async {
            ringloop::yield_now().await;
            std::thread::sleep(Duration::from_millis(50));
        });
        task.set_name("blocker");
        let id = task.id();
        lp.run_until_complete(async {
            // Fast steps, timers included, are not reported.
            ringloop::sleep(Duration::from_millis(1)).await;
            task.await.unwrap();
        });
        // Only the blocking step is slow (a loaded machine may stretch another step
        // past 10 ms now and then: those are not what this test is about).
        let warnings: Vec<String> = take_warnings()
            .into_iter()
            .filter(|w| w.contains("\"blocker\""))
            .collect();
        assert_eq!(warnings.len(), 1, "{backend:?}: {warnings:#?}");
        let warning = &warnings[0];
        assert!(warning.contains(&format!("id {id}")), "{warning}");
        let took = took_ms(warning);
        assert!((50..5_000).contains(&took), "says how long: {warning}");
        assert!(
            warning.contains("longer than the slow callback duration of 10ms"),
            "says the threshold: {warning}"
        );
    });
}

/// The number of milliseconds after "took " in a warning (`Debug` of a `Duration`).
fn took_ms(warning: &str) -> u64 {
    let rest = &warning[warning.find("took ").expect("took") + 5..];
    let end = rest.find(',').expect("a comma after the duration");
    let text = &rest[..end];
    if let Some(ms) = text.strip_suffix("ms") {
        ms.parse::<f64>().expect("milliseconds") as u64
    } else if let Some(s) = text.strip_suffix('s') {
        (s.parse::<f64>().expect("seconds") * 1000.0) as u64
    } else {
        panic!("unexpected duration {text:?}")
    }
}

#[test]
fn nothing_is_reported_when_debug_mode_is_off() {
    let _serial = serial();
    if std::env::var_os("RINGLOOP_DEBUG").is_some() {
        println!("skipped: RINGLOOP_DEBUG is set in this environment");
        return;
    }
    on_each_backend(|backend| {
        take_warnings();
        let lp = loop_with_threshold(backend, None);
        lp.call_soon(|| std::thread::sleep(Duration::from_millis(50)));
        let task = lp.spawn(async { std::thread::sleep(Duration::from_millis(50)) });
        lp.run_until_complete(task).unwrap();
        assert_eq!(take_warnings(), Vec::<String>::new(), "{backend:?}");
    });
}

#[test]
fn slow_callback_and_slow_main_future_are_reported() {
    let _serial = serial();
    on_each_backend(|backend| {
        take_warnings();
        let lp = loop_with_threshold(backend, Some(Duration::from_millis(10)));
        lp.call_soon(|| std::thread::sleep(Duration::from_millis(30)));
        let main_id = lp.run_until_complete(async {
            ringloop::yield_now().await;
            std::thread::sleep(Duration::from_millis(30));
            ringloop::current_task().unwrap().id
        });
        let warnings: Vec<String> = take_warnings()
            .into_iter()
            .filter(|w| took_ms(w) >= 30)
            .collect();
        assert_eq!(warnings.len(), 2, "{backend:?}: {warnings:#?}");
        assert!(warnings[0].contains("callback"), "{}", warnings[0]);
        assert!(
            warnings[1].contains(&format!("\"Task-{main_id}\"")),
            "the main future is reported as its task: {}",
            warnings[1]
        );
        assert!(
            warnings[1].contains("run_until_complete"),
            "{}",
            warnings[1]
        );
    });
}

/// A task whose slow step is its last (the task is freed right after) is still named.
#[test]
fn slow_final_step_of_a_detached_task_is_reported() {
    let _serial = serial();
    on_each_backend(|backend| {
        take_warnings();
        let lp = loop_with_threshold(backend, Some(Duration::from_millis(5)));
        let task = lp.spawn(async { std::thread::sleep(Duration::from_millis(20)) });
        task.set_name("detached");
        drop(task);
        lp.run_until_complete(ringloop::sleep(Duration::from_millis(1)));
        let warnings: Vec<String> = take_warnings()
            .into_iter()
            .filter(|w| w.contains("\"detached\""))
            .collect();
        assert_eq!(warnings.len(), 1, "{backend:?}: {warnings:#?}");
    });
}

/// `RINGLOOP_DEBUG=1` (asyncio's PYTHONASYNCIODEBUG) turns debug mode on with asyncio's
/// 100 ms threshold: 150 ms is reported, 20 ms is not. Runs in a child per backend with
/// the variable set.
#[test]
fn ringloop_debug_env_turns_debug_mode_on_at_100ms() {
    const CHILD: &str = "RINGLOOP_DEBUG_MODE_CHILD";
    if std::env::var_os(CHILD).is_some() {
        for_each_backend_by_env("ringloop_debug_env_turns_debug_mode_on_at_100ms", || {
            take_warnings();
            let lp = EventLoop::new().unwrap();
            let quick = lp.spawn(async { std::thread::sleep(Duration::from_millis(20)) });
            quick.set_name("quick");
            let slow = lp.spawn(async { std::thread::sleep(Duration::from_millis(150)) });
            slow.set_name("slow");
            lp.run_until_complete(async {
                quick.await.unwrap();
                slow.await.unwrap();
            });
            let warnings = take_warnings();
            assert!(
                !warnings.iter().any(|w| w.contains("\"quick\"")),
                "20 ms is under the threshold: {warnings:#?}"
            );
            let warnings: Vec<&String> =
                warnings.iter().filter(|w| w.contains("\"slow\"")).collect();
            assert_eq!(warnings.len(), 1, "{warnings:#?}");
            assert!(warnings[0].contains("100ms"), "{}", warnings[0]);
        });
        return;
    }
    let _serial = serial();
    let test = "ringloop_debug_env_turns_debug_mode_on_at_100ms";
    let out = rerun(test)
        .env(CHILD, "1")
        .env("RINGLOOP_DEBUG", "1")
        .output()
        .expect("run the test binary as a child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 passed"), "{stdout}");
}

// ---------------------------------------------------------------------------------------
// EventLoop::close

#[test]
fn close_is_idempotent_and_cancels_tasks() {
    on_each_backend(|backend| {
        let lp = loop_with_threshold(backend, None);
        let task = lp.spawn(async { ringloop::sleep(Duration::from_secs(60)).await });
        lp.run_until_complete(ringloop::yield_now());
        assert!(!lp.is_closed());
        lp.close();
        assert!(lp.is_closed());
        lp.close();
        assert!(task.is_cancelled());
        drop(lp); // Drop after close closes nothing twice.
    });
}

#[test]
fn running_a_closed_loop_panics_clearly() {
    let lp = EventLoop::new().unwrap();
    lp.close();
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        lp.run_until_complete(async {});
    }))
    .unwrap_err();
    assert!(panic_message(&*err).contains("this event loop is closed"));
    let err =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run_forever())).unwrap_err();
    assert!(panic_message(&*err).contains("this event loop is closed"));
}

#[test]
fn closing_a_running_loop_panics_clearly() {
    let lp = EventLoop::new().unwrap();
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        lp.run_until_complete(async { lp.close() });
    }))
    .unwrap_err();
    assert!(panic_message(&*err).contains("while the loop is running"));
    assert!(!lp.is_closed());
    assert_eq!(lp.run_until_complete(async { 1 }), 1, "still usable");
}
