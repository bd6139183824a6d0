//! The fault driver's sink routing over a scripted wrapped driver, whose "kernel" is a
//! script: multishot operations that deliver numbered completions, cancels that land a
//! few turns late, accepts that yield real descriptors.

use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use super::*;

/// One operation of the script.
struct Scripted {
    sink: Rc<Sink>,
    tag: u64,
    code: OpCode,
    /// Completions delivered so far.
    sent: i32,
    /// Turns until an asked-for cancel lands.
    cancel_in: Option<u32>,
    done: bool,
}

/// A wrapped driver that plays a script: each turn, every live operation delivers one
/// completion. A `RecvMulti` delivers `0, 1, …, LAST` (`F_MORE` on all but the last);
/// a `PollIn` delivers `1` once; an `AcceptMulti` delivers a new descriptor (a clone of
/// `peer`) per turn until cancelled. A cancel lands two turns after it was asked for,
/// as a final `ECANCELED`.
struct Script {
    ops: Vec<Scripted>,
    peer: Option<UnixStream>,
    abandoned: usize,
}

const LAST: i32 = 9;

impl Script {
    fn new(peer: Option<UnixStream>) -> Script {
        Script {
            ops: Vec::new(),
            peer,
            abandoned: 0,
        }
    }

    fn play(&mut self, wakers: &mut Vec<Waker>) {
        for op in self.ops.iter_mut().filter(|op| !op.done) {
            let cancelled = match &mut op.cancel_in {
                Some(0) => true,
                Some(n) => {
                    *n -= 1;
                    false
                }
                None => false,
            };
            let (result, last) = if cancelled {
                (-libc::ECANCELED, true)
            } else {
                match op.code {
                    OpCode::RecvMulti { .. } => (op.sent, op.sent == LAST),
                    OpCode::PollIn { .. } => (1, true),
                    OpCode::AcceptMulti { .. } => {
                        let peer = self.peer.as_ref().expect("a peer to accept");
                        (peer.try_clone().unwrap().into_raw_fd(), false)
                    }
                    other => panic!("not scripted: {other:?}"),
                }
            };
            op.sent += 1;
            op.done = last;
            let flags = if last { 0 } else { sink::F_MORE };
            wakers.extend(op.sink.push(op.tag, Completion { result, flags }));
        }
    }
}

impl Driver for Script {
    fn backend(&self) -> Backend {
        Backend::Epoll
    }

    fn turn(&mut self, _wait: Wait, wakers: &mut Vec<Waker>) -> io::Result<()> {
        self.play(wakers);
        Ok(())
    }

    fn wants_poll(&mut self, _ran: usize) -> bool {
        self.ops.iter().any(|op| !op.done)
    }

    fn stats(&self) -> DriverStats {
        DriverStats::default()
    }

    unsafe fn submit(&mut self, _op: OpCode) -> io::Result<OpId> {
        Err(io::Error::other("the script has only sink operations"))
    }

    unsafe fn submit_to(&mut self, op: OpCode, sink: &Rc<Sink>, tag: u64) -> io::Result<OpId> {
        self.ops.push(Scripted {
            sink: sink.clone(),
            tag,
            code: op,
            sent: 0,
            cancel_in: None,
            done: false,
        });
        Ok(OpId::from_user_data(self.ops.len() as u64 - 1))
    }

    fn buf_ring(&mut self) -> Option<Rc<BufRing>> {
        None
    }

    fn files(&self) -> bool {
        false
    }

    fn send_zc(&self) -> bool {
        false
    }

    fn multishot_accept(&self) -> bool {
        true
    }

    fn poll_op(&mut self, _id: OpId, _cx: &mut Context<'_>) -> Poll<Completion> {
        panic!("sink operations are never polled")
    }

    fn cancel_op(&mut self, id: OpId) {
        let op = &mut self.ops[id.user_data() as usize];
        if !op.done && op.cancel_in.is_none() {
            op.cancel_in = Some(2);
        }
    }

    fn abandon_op(&mut self, _id: OpId, _held: Option<Box<dyn Any>>, _late: Late) {
        self.abandoned += 1;
    }

    fn shutdown(&mut self) -> bool {
        assert_eq!(
            self.abandoned, 0,
            "sink operations are cancelled, never abandoned"
        );
        for op in &mut self.ops {
            op.cancel_in = Some(0);
        }
        let mut wakers = Vec::new();
        self.play(&mut wakers);
        true
    }

    fn describe(&self) -> String {
        "script".into()
    }
}

/// Every fault that applies to sink operations, often.
fn stormy() -> FaultPlan {
    FaultPlan {
        turn_error: 0.2,
        partial_submit: 0.5,
        delay: 0.6,
        max_delay_turns: 4,
        reorder: 1.0,
        duplicate: 1.0,
        stray: 0.5,
        ..FaultPlan::default()
    }
}

fn turn(driver: &mut FaultDriver) {
    let mut wakers = Vec::new();
    let _ = driver.turn(Wait::Poll, &mut wakers);
}

#[test]
fn each_multishot_operations_completions_arrive_in_order_and_once() {
    for seed in 0..32 {
        let mut driver = FaultDriver::wrap(Box::new(Script::new(None)), seed, stormy()).unwrap();
        let sink = Rc::new(Sink::new());
        let mut seen: BTreeMap<u64, Vec<SinkEvent>> = BTreeMap::new();
        for tag in 0..6 {
            let op = OpCode::RecvMulti {
                fd: crate::driver::fd::Fd::new(3),
                group: 0,
            };
            // SAFETY: the operation holds no memory.
            unsafe { driver.submit_to(op, &sink, tag) }.unwrap();
        }
        let poll = OpCode::PollIn {
            fd: crate::driver::fd::Fd::new(3),
        };
        // SAFETY: the operation holds no memory.
        unsafe { driver.submit_to(poll, &sink, 100) }.unwrap();
        for _ in 0..500 {
            turn(&mut driver);
            let mut out = Vec::new();
            sink.drain_into(&mut out, Waker::noop());
            for event in out {
                seen.entry(event.tag).or_default().push(event);
            }
            if driver.stats().ops_in_flight == 0 {
                break;
            }
        }
        assert_eq!(driver.stats().ops_in_flight, 0, "seed {seed}");
        for tag in 0..6 {
            let events = &seen[&tag];
            let results: Vec<i32> = events.iter().map(|e| e.result).collect();
            assert_eq!(
                results,
                (0..=LAST).collect::<Vec<_>>(),
                "seed {seed} tag {tag}"
            );
            let finals: Vec<bool> = events.iter().map(|e| sink::is_final(e.flags)).collect();
            assert!(finals[..LAST as usize].iter().all(|f| !f) && finals[LAST as usize]);
        }
        assert_eq!(
            seen[&100].len(),
            1,
            "a repeated single-shot completion is dropped"
        );
        let injected = driver.injected;
        assert!(
            injected.reordered > 0 && injected.delayed > 0,
            "{injected:?}"
        );
        assert!(
            injected.duplicated > 0,
            "the poll's completion was repeated"
        );
        assert!(driver.stats().stray_completions > 0);
    }
}

#[test]
fn cancelling_a_multishot_operation_forwards_and_ends_it() {
    for seed in 0..16 {
        let mut driver = FaultDriver::wrap(Box::new(Script::new(None)), seed, stormy()).unwrap();
        let sink = Rc::new(Sink::new());
        let op = OpCode::RecvMulti {
            fd: crate::driver::fd::Fd::new(3),
            group: 0,
        };
        // SAFETY: the operation holds no memory.
        let id = unsafe { driver.submit_to(op, &sink, 7) }.unwrap();
        turn(&mut driver);
        driver.cancel_op(id);
        let mut events = Vec::new();
        for _ in 0..200 {
            turn(&mut driver);
            let mut out = Vec::new();
            sink.drain_into(&mut out, Waker::noop());
            events.extend(out);
            if driver.stats().ops_in_flight == 0 {
                break;
            }
        }
        let last = events.last().expect("a final completion");
        assert!(sink::is_final(last.flags), "seed {seed}");
        assert_eq!(last.result, -libc::ECANCELED, "seed {seed}");
        assert!(
            events[..events.len() - 1]
                .iter()
                .all(|e| !sink::is_final(e.flags))
        );
        assert_eq!(driver.stats().ops_in_flight, 0);
    }
}

/// Whether every descriptor of `peer`'s connection is closed: `probe` reads end-of-file.
fn all_closed(probe: &UnixStream) -> bool {
    use std::io::Read;
    probe.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    matches!((&*probe).read(&mut byte), Ok(0))
}

#[test]
fn an_abandoned_multishot_accept_closes_every_descriptor_it_still_yields() {
    for seed in 0..16 {
        let (peer, probe) = UnixStream::pair().unwrap();
        let script = Script::new(Some(peer));
        let mut driver = FaultDriver::wrap(Box::new(script), seed, stormy()).unwrap();
        let sink = Rc::new(Sink::new());
        let op = OpCode::AcceptMulti { fd: 3 };
        // SAFETY: the operation holds no memory.
        let id = unsafe { driver.submit_to(op, &sink, 0) }.unwrap();
        let mut owned = Vec::new();
        let mut take = |sink: &Sink| {
            let mut out = Vec::new();
            sink.drain_into(&mut out, Waker::noop());
            for event in out.into_iter().filter(|e| e.result >= 0) {
                // SAFETY: the script's accepts are fresh descriptors, each delivered
                // once (never repeated): this sink's consumer owns them.
                owned.push(unsafe { OwnedFd::from_raw_fd(event.result) });
            }
        };
        for _ in 0..4 {
            turn(&mut driver);
            take(&sink);
        }
        // The consumer goes; the "kernel" accepts on until the cancel lands.
        driver.abandon_op(id, None, Late::CloseFd);
        take(&sink);
        for _ in 0..200 {
            turn(&mut driver);
            if driver.stats().ops_in_flight == 0 {
                break;
            }
        }
        assert_eq!(driver.stats().ops_in_flight, 0, "seed {seed}");
        let mut out = Vec::new();
        sink.drain_into(&mut out, Waker::noop());
        assert!(
            out.is_empty(),
            "nothing reaches an abandoned operation's sink"
        );
        drop(owned);
        drop(driver);
        assert!(all_closed(&probe), "seed {seed}: a descriptor leaked");
    }
}

#[test]
fn sink_operations_fail_before_the_kernel_without_retryable_errors_for_polls() {
    let plan = FaultPlan {
        op_error: 1.0,
        op_errnos: vec![libc::EINTR, libc::EAGAIN],
        ..FaultPlan::default()
    };
    let mut driver = FaultDriver::wrap(Box::new(Script::new(None)), 3, plan).unwrap();
    let sink = Rc::new(Sink::new());
    let recv = OpCode::RecvMulti {
        fd: crate::driver::fd::Fd::new(3),
        group: 0,
    };
    let poll = OpCode::PollIn {
        fd: crate::driver::fd::Fd::new(3),
    };
    // SAFETY: neither operation holds memory.
    unsafe {
        driver.submit_to(recv, &sink, 1).unwrap();
        driver.submit_to(poll, &sink, 2).unwrap();
    }
    for _ in 0..50 {
        turn(&mut driver);
    }
    let mut out = Vec::new();
    sink.drain_into(&mut out, Waker::noop());
    let recv: Vec<_> = out.iter().filter(|e| e.tag == 1).collect();
    assert_eq!(recv.len(), 1, "{out:?}");
    assert!([-libc::EINTR, -libc::EAGAIN].contains(&recv[0].result));
    assert!(sink::is_final(recv[0].flags));
    let poll: Vec<i32> = out
        .iter()
        .filter(|e| e.tag == 2)
        .map(|e| e.result)
        .collect();
    assert_eq!(poll, vec![1], "a readiness wait is never interrupted");
    assert_eq!(driver.stats().ops_in_flight, 0);
}

#[test]
fn a_readiness_wait_is_never_held_back() {
    let plan = FaultPlan {
        partial_submit: 1.0,
        ..FaultPlan::default()
    };
    for seed in 0..16 {
        let mut driver =
            FaultDriver::wrap(Box::new(Script::new(None)), seed, plan.clone()).unwrap();
        let sink = Rc::new(Sink::new());
        let recv = OpCode::RecvMulti {
            fd: crate::driver::fd::Fd::new(3),
            group: 0,
        };
        let poll = OpCode::PollIn {
            fd: crate::driver::fd::Fd::new(3),
        };
        // SAFETY: neither operation holds memory.
        unsafe {
            driver.submit_to(poll, &sink, 2).unwrap();
            driver.submit_to(recv, &sink, 1).unwrap();
        }
        // Whichever prefix of the two goes, the receive is held back and the wait is not.
        turn(&mut driver);
        assert_eq!(
            driver.injected.held_back, 1,
            "seed {seed}: the receive waits"
        );
        let mut out = Vec::new();
        sink.drain_into(&mut out, Waker::noop());
        let polled: Vec<u64> = out.iter().map(|e| e.tag).collect();
        assert_eq!(
            polled,
            vec![2],
            "seed {seed}: the wait went in its first turn"
        );
    }
}
