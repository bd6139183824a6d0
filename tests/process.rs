//! Subprocesses on both backends: output and exit codes, piped stdin and stdout under
//! back-pressure, a wait that leaves the loop running, kill, bad programs, a dropped
//! child reaped without a zombie, and no descriptor left behind.

mod support;

use std::cell::Cell;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::rc::Rc;
use std::time::Duration;

use ringloop::process::{Command, Stdio};
use support::{exclusive_fds, fd_count, for_each_backend, guard, shared_fds};

#[test]
fn output_and_exit_codes() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let out = guard("echo", Command::new("echo").args(["one", "two"]).output())
                .await
                .expect("echo runs");
            assert!(out.status.success());
            assert_eq!(out.stdout, b"one two\n");
            assert!(out.stderr.is_empty());

            let out = guard(
                "sh",
                Command::new("sh")
                    .args(["-c", "echo oops >&2; exit 7"])
                    .output(),
            )
            .await
            .expect("sh runs");
            assert_eq!(out.status.code(), Some(7));
            assert_eq!(out.stderr, b"oops\n");

            let status = guard("status", Command::new("true").status())
                .await
                .expect("true");
            assert!(status.success());
        });
    });
}

#[test]
fn piped_stdin_and_stdout_carry_a_megabyte_both_ways() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let mut child = Command::new("cat")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("cat");
            let (stdin, stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
            let data: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 253) as u8).collect();
            let expected = data.clone();
            // The pipes hold far less than a megabyte: writing and reading must take
            // turns, each waiting for the other without blocking the loop.
            let ((), got) = ringloop::join!(
                async move {
                    let (written, _) = stdin.write_all(data).await;
                    written.expect("write to cat");
                    // stdin drops here: cat sees end of file.
                },
                async move {
                    let mut got = Vec::new();
                    let mut buf = Vec::with_capacity(64 * 1024);
                    loop {
                        let (n, b) = stdout.read(buf).await;
                        if n.expect("read from cat") == 0 {
                            return got;
                        }
                        got.extend_from_slice(&b);
                        buf = b;
                        buf.clear();
                    }
                },
            );
            assert!(got == expected, "cat changed the bytes");
            assert!(
                guard("cat exits", child.wait())
                    .await
                    .expect("wait")
                    .success()
            );
        });
    });
}

#[test]
fn a_wait_leaves_the_loop_running_and_kill_ends_the_child() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let mut child = Command::new("sleep").arg("60").spawn().expect("sleep");
            let ran = Rc::new(Cell::new(0));
            let r = ran.clone();
            ringloop::spawn(async move {
                for _ in 0..3 {
                    ringloop::sleep(Duration::from_millis(1)).await;
                    r.set(r.get() + 1);
                }
            });
            // Ends the child once the other task ran: only if the wait leaves the loop
            // running does this ever happen.
            let k = ran.clone();
            let pid = child.id();
            let killer = ringloop::spawn(async move {
                while k.get() < 3 {
                    ringloop::sleep(Duration::from_millis(1)).await;
                }
                // The test holds the child in the waiting task: kill it by pid.
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            });
            let status = guard("the killed child's exit", child.wait())
                .await
                .expect("wait");
            assert_eq!(status.signal(), Some(libc::SIGKILL));
            assert_eq!(ran.get(), 3);
            guard("killer", killer).await.expect("killer");
            // `kill` on a child we hold, then wait.
            let mut child = Command::new("sleep").arg("60").spawn().expect("sleep");
            child.kill().expect("kill");
            let status = guard("wait after kill", child.wait()).await.expect("wait");
            assert_eq!(status.signal(), Some(libc::SIGKILL));
            assert_eq!(
                child.wait().await.expect("again"),
                status,
                "the same status again"
            );
            child.kill().expect("killing a reaped child is a no-op");
        });
    });
}

#[test]
fn bad_programs_fail_with_the_os_kind() {
    let _fds = shared_fds();
    for_each_backend(|_lp| {
        let missing = Command::new("/nonexistent/ringloop-no-such-program").spawn();
        assert_eq!(
            missing.expect_err("missing").kind(),
            io::ErrorKind::NotFound
        );
        let path = std::env::temp_dir().join(format!("ringloop-noexec-{}", std::process::id()));
        std::fs::write(&path, "#!/bin/sh\necho never\n").expect("write script");
        // No execute bit: refused even for root.
        let not_executable = Command::new(&path).spawn();
        std::fs::remove_file(&path).expect("cleanup");
        assert_eq!(
            not_executable.expect_err("not executable").kind(),
            io::ErrorKind::PermissionDenied
        );
    });
}

#[test]
fn a_dropped_child_is_reaped_without_a_zombie_and_nothing_leaks() {
    let _fds = exclusive_fds();
    let before = fd_count();
    for_each_backend(|lp| {
        let pids: Vec<u32> = lp.run_until_complete(async {
            (0..5)
                .map(|_| {
                    let child = Command::new("sh")
                        .args(["-c", "sleep 0.05"])
                        .spawn()
                        .expect("sh");
                    let pid = child.id();
                    drop(child); // never waited for
                    pid
                })
                .collect()
        });
        // Each ends within a few tens of milliseconds; the reaper then reaps it, and
        // its /proc entry goes (a zombie would stay, in state Z).
        let deadline = std::time::Instant::now() + support::HANG;
        for pid in pids {
            while std::path::Path::new(&format!("/proc/{pid}")).exists() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "child {pid} was left a zombie"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        lp.run_until_complete(async {
            let out = Command::new("true").output().await.expect("true");
            assert!(out.status.success());
        });
    });
    let deadline = std::time::Instant::now() + support::HANG;
    // The reaper's own eventfd stays for the process's life.
    while fd_count() > before + 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        fd_count() <= before + 2,
        "descriptors leaked: {} then {}",
        before,
        fd_count()
    );
}
