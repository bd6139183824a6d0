//! What a newcomer reaches for in the first hour: `join!` over futures of different
//! types, `call_later` without holding the loop, a one-shot completed from another
//! thread while the loop waits in the kernel, `task.await?` in an `io::Result`
//! function, and static byte strings written as they are. On both backends.

mod support;

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use ringloop::net::UnixStream;
use ringloop::sync::oneshot;
use support::{for_each_backend, guard};

#[test]
fn join_awaits_futures_of_different_types_together() {
    for_each_backend(|lp| {
        let (a, b, c) = lp.run_until_complete(async {
            ringloop::join!(
                async {
                    ringloop::sleep(Duration::from_millis(3)).await;
                    1u8
                },
                async {
                    ringloop::sleep(Duration::from_millis(1)).await;
                    "two"
                },
                async { vec![3.0f64] },
            )
        });
        assert_eq!((a, b, c), (1, "two", vec![3.0]));
    });
}

#[test]
fn call_later_runs_a_callback_without_a_loop_handle() {
    for_each_backend(|lp| {
        let order = lp.run_until_complete(async {
            let order = Rc::new(std::cell::RefCell::new(Vec::new()));
            let (o1, o2) = (order.clone(), order.clone());
            ringloop::call_later(Duration::from_millis(4), move || {
                o1.borrow_mut().push("late")
            });
            ringloop::call_later(Duration::from_millis(1), move || {
                o2.borrow_mut().push("soon")
            });
            let cancelled = Rc::new(Cell::new(false));
            let c = cancelled.clone();
            let handle = ringloop::call_later(Duration::from_millis(2), move || c.set(true));
            assert!(handle.cancel());
            ringloop::sleep(Duration::from_millis(10)).await;
            assert!(!cancelled.get(), "a cancelled callback never runs");
            order.borrow().clone()
        });
        assert_eq!(order, ["soon", "late"]);
    });
}

#[test]
fn a_oneshot_completed_by_another_thread_wakes_a_waiting_loop() {
    for_each_backend(|lp| {
        let (tx, rx) = oneshot::channel();
        let thread = std::thread::spawn(move || {
            // The loop is blocked in the kernel by now (nothing else to do).
            std::thread::sleep(Duration::from_millis(20));
            tx.send(String::from("from a thread"))
                .expect("the task waits");
        });
        let got = lp.run_until_complete(async move { guard("a oneshot", rx).await });
        assert_eq!(got.as_deref(), Ok("from a thread"));
        thread.join().expect("thread");
    });
}

#[test]
fn task_failures_convert_to_io_errors_with_question_mark() {
    async fn fails() -> io::Result<u32> {
        let task = ringloop::spawn(async { panic!("boom") });
        let value: u32 = task.await?;
        Ok(value)
    }
    async fn cancelled() -> io::Result<()> {
        let task = ringloop::spawn(ringloop::sleep(Duration::from_secs(60)));
        task.cancel();
        task.await?;
        Ok(())
    }
    for_each_backend(|lp| {
        let err = lp
            .run_until_complete(fails())
            .expect_err("the task panicked");
        assert!(err.to_string().contains("boom"), "{err}");
        let err = lp.run_until_complete(cancelled()).expect_err("cancelled");
        assert_eq!(err.kind(), io::ErrorKind::Interrupted);
    });
}

#[test]
fn static_byte_strings_are_written_as_they_are() {
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let (a, b) = UnixStream::pair().expect("socketpair");
            let (sent, _) = a.write_all(b"OK\n").await;
            sent.expect("an array literal");
            let (sent, _) = a.write_all("and a str\n").await;
            sent.expect("a str literal");
            let (read, buf) = guard("read", b.read_exact(Vec::with_capacity(13))).await;
            read.expect("read");
            assert_eq!(buf, b"OK\nand a str\n");
        });
    });
}
