//! Signals (issue 12, item 5): `EventLoop::add_signal_handler` /
//! `remove_signal_handler`, `signal::Signals` and `signal::ctrl_c`, with real signals
//! sent to this process (`kill(getpid())`, or `tgkill` to the loop's own thread where
//! the order of two signals matters), on every backend.
//!
//! Every test takes [`serial`]: they share the process's signal dispositions, and each
//! one checks what it left behind (the disposition it found). Tests that must see the
//! default action of a signal (the process dies) or a signal from another process run
//! the test binary again as a child. The `unsafe` they need (kill, sigaction,
//! pthread_sigmask, waitpid) lives in `testkit::process`.

mod support;

use std::cell::Cell;
use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::rc::Rc;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use ringloop::signal::{SIGINT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, Signals};
use ringloop::{EventLoop, ExceptionKind};
use support::{
    DropFlag, HANG, bump, env_value, for_each_backend, guard, log, new_loop, on_each_backend,
    record_exceptions, rerun, serial, wait_until,
};
use testkit::process::{self, Disposition, disposition, signal_self};

/// The disposition of each signal a test uses, checked unchanged at its end.
fn dispositions(signals: &[i32]) -> Vec<Disposition> {
    signals
        .iter()
        .map(|&s| disposition(s).expect("sigaction"))
        .collect()
}

/// Sends `signum` to the calling thread alone: its handler has run when this returns.
fn signal_this_thread(signum: i32) {
    process::signal_thread(process::gettid(), signum).expect("tgkill");
}

#[test]
fn signal_handler_runs_once_as_a_callback_on_the_loop_thread() {
    let _serial = serial();
    let before = dispositions(&[SIGUSR1]);
    for_each_backend(|lp| {
        let calls = log::<(thread::ThreadId, bool, String)>();
        let c = calls.clone();
        lp.add_signal_handler(SIGUSR1, move || {
            // Outside the signal handler: allocating and printing are fine, and the
            // signal is not blocked (it would be, inside its handler).
            let msg = format!("SIGUSR1 handled on {:?}", thread::current().id());
            println!("{msg}");
            c.borrow_mut()
                .push((thread::current().id(), process::is_blocked(SIGUSR1), msg));
        })
        .unwrap();
        assert_eq!(disposition(SIGUSR1).unwrap(), Disposition::Handler);
        lp.run_until_complete(async {
            signal_self(SIGUSR1).unwrap();
            wait_until("the SIGUSR1 handler ran", || !calls.borrow().is_empty()).await;
            // More iterations, and nothing runs it again.
            ringloop::sleep(Duration::from_millis(30)).await;
        });
        let calls = calls.borrow();
        assert_eq!(calls.len(), 1, "{calls:?}");
        let (thread, blocked, msg) = &calls[0];
        assert_eq!(*thread, thread::current().id(), "ran on the loop's thread");
        assert!(!blocked, "ran inside the signal handler: {msg}");
        assert!(lp.remove_signal_handler(SIGUSR1));
        assert_eq!(
            dispositions(&[SIGUSR1]),
            before,
            "the old disposition is back"
        );
    });
    // Nothing here asked for SIGCHLD: no handler for it.
    assert_ne!(disposition(libc::SIGCHLD).unwrap(), Disposition::Handler);
}

#[test]
fn signal_that_arrives_while_the_loop_is_not_running_is_handled_when_it_runs() {
    let _serial = serial();
    let before = dispositions(&[SIGUSR2]);
    for_each_backend(|lp| {
        let calls = Rc::new(Cell::new(0));
        let c = calls.clone();
        lp.add_signal_handler(SIGUSR2, move || bump(&c)).unwrap();
        // The loop has never run: the signal waits for it.
        signal_this_thread(SIGUSR2);
        assert_eq!(calls.get(), 0, "never inside the signal handler");
        lp.run_until_complete(async {
            wait_until("the SIGUSR2 handler ran", || calls.get() == 1).await;
            ringloop::sleep(Duration::from_millis(20)).await;
        });
        assert_eq!(calls.get(), 1);
        assert!(lp.remove_signal_handler(SIGUSR2));
    });
    assert_eq!(dispositions(&[SIGUSR2]), before);
}

#[test]
fn signal_handler_replaced_runs_the_new_one_and_removed_runs_none() {
    let _serial = serial();
    let before = dispositions(&[SIGUSR1]);
    for_each_backend(|lp| {
        let first = Rc::new(Cell::new(0));
        let second = Rc::new(Cell::new(0));
        let first_dropped = Rc::new(Cell::new(false));
        let (f, flag) = (first.clone(), DropFlag(first_dropped.clone()));
        lp.add_signal_handler(SIGUSR1, move || {
            let _keep = &flag;
            bump(&f);
        })
        .unwrap();
        let s = second.clone();
        lp.add_signal_handler(SIGUSR1, move || bump(&s)).unwrap();
        assert!(first_dropped.get(), "the replaced handler is dropped");
        lp.run_until_complete(async {
            // A `Signals` keeps SIGUSR1 caught once the handler is gone.
            let mut signals = Signals::new(&[SIGUSR1]).unwrap();
            signal_self(SIGUSR1).unwrap();
            assert_eq!(guard("recv", signals.recv()).await, Some(SIGUSR1));
            wait_until("the new handler ran", || second.get() == 1).await;
            assert!(lp.remove_signal_handler(SIGUSR1));
            assert!(!lp.remove_signal_handler(SIGUSR1), "removed already");
            signal_self(SIGUSR1).unwrap();
            assert_eq!(guard("recv", signals.recv()).await, Some(SIGUSR1));
            ringloop::sleep(Duration::from_millis(20)).await;
        });
        assert_eq!((first.get(), second.get()), (0, 1));
        assert_eq!(dispositions(&[SIGUSR1]), before);
    });
}

#[test]
fn signal_handler_and_signals_hear_only_of_signals_after_they_were_added() {
    let _serial = serial();
    let before = dispositions(&[SIGUSR1]);
    for_each_backend(|lp| {
        let calls = Rc::new(Cell::new(0));
        lp.run_until_complete(async {
            let mut early = Signals::new(&[SIGUSR1]).unwrap();
            // Arrives (its handler has run) before the loop looked at it...
            signal_this_thread(SIGUSR1);
            // ...so neither of these hears of it.
            let c = calls.clone();
            lp.add_signal_handler(SIGUSR1, move || bump(&c)).unwrap();
            let mut late = Signals::new(&[SIGUSR1]).unwrap();
            assert_eq!(guard("recv", early.recv()).await, Some(SIGUSR1));
            ringloop::sleep(Duration::from_millis(20)).await;
            assert_eq!(calls.get(), 0, "the handler ran for an earlier signal");
            let nothing = ringloop::timeout(Duration::from_millis(1), late.recv()).await;
            assert!(nothing.is_err(), "received an earlier signal: {nothing:?}");
            // The next one reaches all three.
            signal_this_thread(SIGUSR1);
            assert_eq!(guard("recv", early.recv()).await, Some(SIGUSR1));
            assert_eq!(guard("recv", late.recv()).await, Some(SIGUSR1));
            wait_until("the handler ran", || calls.get() == 1).await;
            assert!(lp.remove_signal_handler(SIGUSR1));
        });
        assert_eq!(calls.get(), 1);
    });
    assert_eq!(dispositions(&[SIGUSR1]), before);
}

#[test]
fn signal_handler_panic_is_reported_and_the_handler_stays() {
    let _serial = serial();
    let before = dispositions(&[SIGUSR2]);
    for_each_backend(|lp| {
        let reports = record_exceptions(lp);
        lp.add_signal_handler(SIGUSR2, || panic!("handler failed"))
            .unwrap();
        lp.run_until_complete(async {
            for n in 1..=2 {
                signal_self(SIGUSR2).unwrap();
                wait_until("the panic was reported", || reports.borrow().len() == n).await;
            }
        });
        for (kind, message) in reports.borrow().iter() {
            assert_eq!(*kind, ExceptionKind::CallbackPanicked);
            assert!(message.contains("handler failed"), "{message}");
        }
        assert!(lp.remove_signal_handler(SIGUSR2));
    });
    assert_eq!(dispositions(&[SIGUSR2]), before);
}

#[test]
fn signals_recv_each_signal_once_in_order_of_arrival() {
    let _serial = serial();
    let before = dispositions(&[SIGUSR1, SIGUSR2]);
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let mut signals = Signals::new(&[SIGUSR1, SIGUSR2, SIGUSR1]).unwrap();
            assert_eq!(signals.signals(), &[SIGUSR1, SIGUSR2]);
            // Both arrive (their handlers run, on this thread) before the loop looks.
            signal_this_thread(SIGUSR1);
            signal_this_thread(SIGUSR2);
            assert_eq!(guard("recv", signals.recv()).await, Some(SIGUSR1));
            assert_eq!(guard("recv", signals.recv()).await, Some(SIGUSR2));
            // The other order: arrival, not signal number, decides.
            signal_this_thread(SIGUSR2);
            signal_this_thread(SIGUSR1);
            assert_eq!(guard("recv", signals.recv()).await, Some(SIGUSR2));
            assert_eq!(guard("recv", signals.recv()).await, Some(SIGUSR1));
            // One signal from outside the thread, while the loop waits for it.
            let sender = thread::spawn(|| {
                thread::sleep(Duration::from_millis(20));
                signal_self(SIGUSR2).unwrap();
            });
            assert_eq!(guard("recv", signals.recv()).await, Some(SIGUSR2));
            sender.join().unwrap();
            // Each once: nothing more is queued.
            let more = ringloop::timeout(Duration::from_millis(30), signals.recv()).await;
            assert!(more.is_err(), "a signal was received twice: {more:?}");
        });
    });
    assert_eq!(dispositions(&[SIGUSR1, SIGUSR2]), before);
}

#[test]
fn ctrl_c_resolves_on_sigint() {
    let _serial = serial();
    let before = dispositions(&[SIGINT]);
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let not_polled = ringloop::signal::ctrl_c();
            assert_eq!(
                dispositions(&[SIGINT]),
                before,
                "listens from its first poll"
            );
            drop(not_polled);
            let waiting = ringloop::spawn(ringloop::signal::ctrl_c());
            wait_until("ctrl_c listens", || {
                disposition(SIGINT).unwrap() == Disposition::Handler
            })
            .await;
            assert!(!waiting.is_done());
            signal_self(SIGINT).unwrap();
            guard("ctrl_c", waiting).await.unwrap().unwrap();
        });
        assert_eq!(
            dispositions(&[SIGINT]),
            before,
            "SIGINT's disposition is back"
        );
    });
}

#[test]
fn two_loops_on_two_threads_both_see_one_sigusr2() {
    let _serial = serial();
    let before = dispositions(&[SIGUSR2]);
    on_each_backend(|backend| {
        let ready = Arc::new(Barrier::new(3));
        // One loop with a handler, one with a `Signals`.
        let r = ready.clone();
        let with_handler = thread::spawn(move || {
            let lp = new_loop(backend);
            let calls = Rc::new(Cell::new(0));
            let c = calls.clone();
            lp.add_signal_handler(SIGUSR2, move || bump(&c)).unwrap();
            r.wait();
            lp.run_until_complete(async {
                wait_until("the handler of loop 1 ran", || calls.get() == 1).await;
                ringloop::sleep(Duration::from_millis(20)).await;
            });
            calls.get()
        });
        let r = ready.clone();
        let with_stream = thread::spawn(move || {
            let lp = new_loop(backend);
            lp.run_until_complete(async {
                let mut signals = Signals::new(&[SIGUSR2]).unwrap();
                r.wait();
                guard("loop 2's recv", signals.recv()).await
            })
        });
        ready.wait();
        signal_self(SIGUSR2).unwrap();
        assert_eq!(with_handler.join().unwrap(), 1);
        assert_eq!(with_stream.join().unwrap(), Some(SIGUSR2));
    });
    assert_eq!(dispositions(&[SIGUSR2]), before);
}

#[test]
fn invalid_numbers_and_uncatchable_signals_are_refused() {
    let _serial = serial();
    let before = dispositions(&[SIGUSR1]);
    let max = libc::SIGRTMAX();
    let refused = [
        (0, "0 is not a signal number".to_string()),
        (-1, "-1 is not a signal number".to_string()),
        (max + 1, format!("{} is not a signal number", max + 1)),
        (libc::SIGKILL, "SIGKILL (9) cannot be caught".to_string()),
        (libc::SIGSTOP, "SIGSTOP (19) cannot be caught".to_string()),
        (libc::SIGSEGV, "SIGSEGV (11) reports a fault".to_string()),
    ];
    for_each_backend(|lp| {
        for (signum, words) in &refused {
            let err = lp.add_signal_handler(*signum, || {}).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{signum}: {err}");
            assert!(err.to_string().contains(words), "{signum}: {err}");
            assert!(!lp.remove_signal_handler(*signum));
        }
        lp.run_until_complete(async {
            for (signum, words) in &refused {
                // Checked before anything listens: SIGUSR1 stays untouched.
                let err = Signals::new(&[SIGUSR1, *signum]).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::InvalidInput, "{signum}: {err}");
                assert!(err.to_string().contains(words), "{signum}: {err}");
                assert_eq!(dispositions(&[SIGUSR1]), before);
            }
            let err = Signals::new(&[]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        });
    });
}

#[test]
fn signals_of_a_closed_loop_stop_listening_and_receive_none() {
    let _serial = serial();
    let before = dispositions(&[SIGWINCH]);
    on_each_backend(|backend| {
        let lp = new_loop(backend);
        let mut signals = lp.run_until_complete(async { Signals::new(&[SIGWINCH]).unwrap() });
        assert_eq!(disposition(SIGWINCH).unwrap(), Disposition::Handler);
        drop(lp);
        assert_eq!(
            dispositions(&[SIGWINCH]),
            before,
            "closing the loop stops the listen"
        );
        let other = new_loop(backend);
        assert_eq!(other.run_until_complete(signals.recv()), None);
    });
}

// ---------------------------------------------------------------------------------------
// In a child process

const DEFAULT_CHILD: &str = "RINGLOOP_SIGNALS_DEFAULT_CHILD";
const SIGTERM_CHILD: &str = "RINGLOOP_SIGNALS_SIGTERM_CHILD";

#[test]
fn default_disposition_is_back_after_the_last_listener_goes() {
    const TEST: &str = "default_disposition_is_back_after_the_last_listener_goes";
    if std::env::var_os(DEFAULT_CHILD).is_some() {
        // The child: SIGUSR1 handled while a handler or a `Signals` listens, then fatal.
        let lp = EventLoop::new().unwrap();
        let calls = Rc::new(Cell::new(0));
        let c = calls.clone();
        lp.add_signal_handler(SIGUSR1, move || bump(&c)).unwrap();
        lp.run_until_complete(async {
            let mut signals = Signals::new(&[SIGUSR1]).unwrap();
            signal_self(SIGUSR1).unwrap();
            assert_eq!(guard("recv", signals.recv()).await, Some(SIGUSR1));
            wait_until("the handler ran", || calls.get() == 1).await;
            assert!(lp.remove_signal_handler(SIGUSR1));
            // The `Signals` still listens: the process lives on.
            signal_self(SIGUSR1).unwrap();
            assert_eq!(guard("recv", signals.recv()).await, Some(SIGUSR1));
        });
        assert_eq!(disposition(SIGUSR1).unwrap(), Disposition::Default);
        println!("default restored");
        signal_self(SIGUSR1).unwrap();
        thread::sleep(HANG);
        println!("survived SIGUSR1");
        return;
    }
    let _serial = serial();
    on_each_backend(|backend| {
        let mut child = rerun(TEST)
            .env(DEFAULT_CHILD, "1")
            .env("RINGLOOP_BACKEND", env_value(backend))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run the test binary as a child");
        let mut stdout = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = child.wait().expect("waitpid");
        // As a shell (and `testkit::process::wait_child`) reports it: 128 + the signal.
        let code = status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        assert_eq!(
            code,
            128 + SIGUSR1,
            "the child should die of SIGUSR1:\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        );
        assert!(stdout.contains("default restored"), "{stdout}\n{stderr}");
        assert!(!stdout.contains("survived"), "{stdout}");
    });
}

#[test]
fn sigterm_from_another_process_stops_the_child_loop_cleanly() {
    const TEST: &str = "sigterm_from_another_process_stops_the_child_loop_cleanly";
    if std::env::var_os(SIGTERM_CHILD).is_some() {
        // The child: a service that stops its loop on SIGTERM and exits 0.
        let lp = EventLoop::new().unwrap();
        let remote = lp.remote();
        let handled = Rc::new(Cell::new(false));
        let h = handled.clone();
        lp.add_signal_handler(SIGTERM, move || {
            h.set(true);
            remote.stop();
        })
        .unwrap();
        // A guard against a lost signal: the test then fails instead of hanging.
        let remote = lp.remote();
        lp.call_later(HANG, move || remote.stop());
        println!("ready for SIGTERM");
        lp.run_forever();
        assert!(handled.get(), "the loop stopped without SIGTERM");
        assert!(lp.remove_signal_handler(SIGTERM));
        println!("stopped by SIGTERM");
        return;
    }
    let _serial = serial();
    on_each_backend(|backend| {
        let mut child = rerun(TEST)
            .env(SIGTERM_CHILD, "1")
            .env("RINGLOOP_BACKEND", env_value(backend))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run the test binary as a child");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut transcript = String::new();
        let mut line = String::new();
        while stdout.read_line(&mut line).unwrap() > 0 {
            transcript.push_str(&line);
            // libtest prints the test's name on the same line, before the child's output.
            if line.contains("ready for SIGTERM") {
                break;
            }
            line.clear();
        }
        assert!(
            transcript.contains("ready for SIGTERM"),
            "the child never got ready:\n{transcript}"
        );
        process::signal_process(child.id(), SIGTERM).expect("kill -TERM");
        stdout.read_to_string(&mut transcript).unwrap();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(
            status.code(),
            Some(0),
            "{status}\n--- stdout\n{transcript}\n--- stderr\n{stderr}"
        );
        assert!(transcript.contains("stopped by SIGTERM"), "{transcript}");
    });
}
