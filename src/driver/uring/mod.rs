//! The io_uring backend.
//!
//! # Setup
//!
//! The ring asks for `SINGLE_ISSUER | DEFER_TASKRUN | COOP_TASKRUN | TASKRUN_FLAG` and
//! drops them one at a time where the kernel refuses (`EINVAL`): completion work then
//! runs only when the loop enters the kernel, never interrupting a task, and
//! `IORING_SQ_TASKRUN` tells the loop when an enter is worth making. Only the loop's
//! thread ever enters the ring; other threads wake it through an eventfd on which the
//! driver keeps one read armed.
//!
//! # Waiting
//!
//! A bounded wait passes its timeout with `IORING_ENTER_EXT_ARG` where the kernel has
//! `IORING_FEAT_EXT_ARG`; elsewhere it submits a timeout SQE.
//!
//! # The push site
//!
//! [`Uring::push`] is the only place an SQE reaches the ring. Every pointer in an SQE
//! points into memory the driver owns (the eventfd buffer, the timeout timespec) or,
//! for operations, into the op slab, and stays valid until that SQE's completion.

mod fixed;
use fixed::FixedFiles;
mod setup;
use setup::SetupFlags;
mod sqe;

use std::any::Any;
use std::io;
use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use io_uring::{IoUring, opcode, squeue, types};

use crate::driver::bufring::BufRing;
use crate::driver::fd::Fd;
use crate::driver::op::{Late, OpCode, OpId};
use crate::driver::retry::{self, Retries, Verdict};
use crate::driver::sink::{self, Sink};
use crate::driver::slab::{Abandoned, Completion, Delivered, OpSlab};
use crate::driver::token::{self, Token};
use crate::driver::{Backend, Driver, DriverConfig, DriverStats, Wait};
use crate::sys::net::own;

/// At close, waits of 5 ms in a row that may deliver no completion before the driver
/// stops waiting for the kernel and leaks what it still owns (never frees it).
const QUIET_WAITS: u32 = 200;

/// The io_uring driver.
pub(crate) struct Uring {
    ring: IoUring,
    setup: SetupFlags,
    ext_arg: bool,
    wake_fd: RawFd,
    /// Where the armed eventfd read writes. Owned by the driver; freed only once no read
    /// is in flight (see `Drop`).
    wake_buf: NonNull<u64>,
    wake_armed: bool,
    /// The fallback timeout SQE's timespec; the kernel copies it when it takes the SQE.
    timeout_ts: Box<types::Timespec>,
    timeout_armed: bool,
    force_timeout_sqe: bool,
    ops: OpSlab,
    stats: DriverStats,
    /// Set once `shutdown` ran.
    shut_down: bool,
    /// Wakers of completions reaped while pushing onto a full queue, for the next turn.
    deferred: Vec<Waker>,
    /// The provided-buffer ring (group [`BUF_GROUP`]), once asked for. Unregistered and
    /// released in `Drop` only after every operation drained, else leaked.
    buf_ring: Option<Rc<BufRing>>,
    /// Setting the buffer ring up failed once: do not try again.
    buf_ring_failed: bool,
    recv_buffers: (u16, u32),
    /// Operations that may answer `EAGAIN` with nothing to wait for (`retry.rs`).
    retries: Retries,
    /// The kernel has the file opcodes (`setup::probe_files`).
    files: bool,
    /// The kernel has `IORING_OP_SEND_ZC` (`setup::probe_send_zc`).
    send_zc: bool,
    /// Retry timeouts and resubmissions decided while reaping, pushed after it (a reap
    /// may run inside `push`).
    retry_sqes: Vec<squeue::Entry>,
    /// The retry timeouts' timespecs ([`retry::RETRY_WAITS`]), never changed: valid for
    /// every timeout SQE until the driver drops, after its shutdown drained them.
    retry_ts: Box<[types::Timespec; retry::RETRY_WAITS.len()]>,
    /// The registered-file table for stream sockets (`Builder::fixed_files`).
    fixed: Option<FixedFiles>,
}

/// The buffer group id of the loop's provided-buffer ring.
const BUF_GROUP: u16 = 0;

impl Uring {
    pub(crate) fn new(config: DriverConfig, wake_fd: RawFd) -> io::Result<Uring> {
        let entries = config
            .ring_entries
            .clamp(2, crate::driver::MAX_RING_ENTRIES);
        let (ring, setup) = setup::build_ring(entries, config.sqpoll_idle)?;
        let ext_arg = ring.params().is_feature_ext_arg();
        let mut driver = Uring {
            ring,
            setup,
            ext_arg,
            wake_fd,
            wake_buf: NonNull::from(Box::leak(Box::new(0u64))),
            wake_armed: false,
            timeout_ts: Box::new(types::Timespec::new()),
            timeout_armed: false,
            force_timeout_sqe: config.force_timeout_sqe,
            ops: OpSlab::new(),
            stats: DriverStats::default(),
            shut_down: false,
            deferred: Vec::new(),
            buf_ring: None,
            buf_ring_failed: false,
            recv_buffers: (config.recv_buffers, config.recv_buffer_size),
            retries: Retries::default(),
            files: false,
            send_zc: false,
            retry_sqes: Vec::new(),
            retry_ts: Box::new(retry::RETRY_WAITS.map(sqe::timespec)),
            fixed: None,
        };
        setup::probe_opcodes(&driver.ring)?;
        if config.fixed_files > 0 {
            driver.fixed = setup_fixed_files(&driver.ring, config.fixed_files);
        }
        driver.files = setup::probe_files(&driver.ring);
        driver.send_zc = setup::probe_send_zc(&driver.ring);
        driver.probe_nop()?;
        Ok(driver)
    }

    /// Round-trips one NOP through the op slab, proving the ring works here.
    fn probe_nop(&mut self) -> io::Result<()> {
        let id = self.ops.insert();
        self.push(&sqe::build(OpCode::Nop, None).user_data(id.user_data()))?;
        let mut wakers = Vec::new();
        let mut cx = Context::from_waker(Waker::noop());
        for _ in 0..100 {
            self.enter(Wait::Timeout(Duration::from_millis(100)))?;
            self.reap(&mut wakers);
            if let Poll::Ready(done) = self.ops.poll(id, &mut cx) {
                return crate::sys::result(done.result).map(drop);
            }
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "io_uring NOP never completed",
        ))
    }

    /// The only place SQEs enter the submission queue. A full queue is submitted first.
    fn push(&mut self, sqe: &squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: every SQE built here points only at memory the driver owns until
            // its completion arrives (module docs): eventfd buffer and timespec until
            // `Drop` drained them, op memory in the op slab until its completion.
            let pushed = unsafe { self.ring.submission().push(sqe) };
            if pushed.is_ok() {
                return Ok(());
            }
            // Full: submit what is queued. If the kernel refuses because the completion
            // queue is full (EBUSY), reaping makes room; the wakers wait for the next
            // turn, since no user code may run from here.
            self.enter(Wait::Poll)?;
            let mut deferred = std::mem::take(&mut self.deferred);
            self.reap(&mut deferred);
            self.deferred = deferred;
        }
    }

    fn arm_wake(&mut self) -> io::Result<()> {
        if !self.wake_armed {
            let read = opcode::Read::new(types::Fd(self.wake_fd), self.wake_buf.as_ptr().cast(), 8)
                .build()
                .user_data(token::WAKE);
            self.push(&read)?;
            self.wake_armed = true;
        }
        Ok(())
    }

    /// One `io_uring_enter`: submits the queue and waits as `wait` says.
    fn enter(&mut self, wait: Wait) -> io::Result<()> {
        let submitted = match wait {
            Wait::Poll => self.ring.submit(),
            Wait::Forever => self.ring.submit_and_wait(1),
            Wait::Timeout(d) if self.ext_arg && !self.force_timeout_sqe => {
                let ts = sqe::timespec(d);
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
            Wait::Timeout(d) => {
                if self.timeout_armed {
                    let remove = opcode::TimeoutRemove::new(token::TIMEOUT)
                        .build()
                        .user_data(token::CANCEL);
                    self.push(&remove)?;
                }
                *self.timeout_ts = sqe::timespec(d);
                let ts: *const types::Timespec = &*self.timeout_ts;
                self.push(&opcode::Timeout::new(ts).build().user_data(token::TIMEOUT))?;
                self.timeout_armed = true;
                self.ring.submit_and_wait(1)
            }
        };
        self.stats.enters += 1;
        if let Some(fixed) = self.fixed.as_mut() {
            // Retries wait outside the queue as built SQEs: none may name a slot.
            if fixed.has_quarantined()
                && self.retry_sqes.is_empty()
                && self.ring.submission().is_empty()
            {
                fixed.queue_emptied();
            }
        }
        match submitted {
            Ok(n) => {
                self.stats.sqes_submitted += n as u64;
                Ok(())
            }
            // A timed wait that timed out, a signal, or a full completion queue: none is
            // a failure; the loop reaps what is there and goes on.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn reap(&mut self, wakers: &mut Vec<Waker>) {
        for cqe in self.ring.completion() {
            let completion = Completion {
                result: cqe.result(),
                flags: cqe.flags(),
            };
            match token::decode(cqe.user_data()) {
                Token::Wake => self.wake_armed = false,
                Token::Timeout => self.timeout_armed = false,
                Token::Cancel => {}
                Token::Op { .. } => {
                    let id = OpId::from_user_data(cqe.user_data());
                    let result =
                        match self
                            .retries
                            .on_completion(id, completion.result, !self.shut_down)
                        {
                            Verdict::Deliver(result) => result,
                            Verdict::Wait { step } => {
                                let ts: *const types::Timespec = &self.retry_ts[step];
                                self.retry_sqes.push(
                                    opcode::Timeout::new(ts).build().user_data(id.user_data()),
                                );
                                continue;
                            }
                            Verdict::Resubmit(code) => {
                                self.retry_sqes.push(
                                    sqe::build(code, self.fixed.as_ref()).user_data(id.user_data()),
                                );
                                continue;
                            }
                        };
                    let completion = Completion {
                        result,
                        ..completion
                    };
                    deliver(
                        &mut self.ops,
                        &self.buf_ring,
                        &mut self.stats,
                        id,
                        completion,
                        wakers,
                    );
                }
                Token::Unknown(_) => {
                    self.stats.stray_completions += 1;
                    recycle(&self.buf_ring, completion.flags);
                }
            }
        }
    }

    /// Pushes the retry timeouts and resubmissions the last reap decided on; they reach
    /// the kernel with the next enter.
    fn push_retries(&mut self) -> io::Result<()> {
        // Pushed from where they wait, so that an enter made by a push on a full queue
        // still sees them (and keeps quarantined fixed-file slots: `fixed.rs`). Those
        // a reap inside a push adds wait for the next turn.
        let waiting = self.retry_sqes.len();
        for i in 0..waiting {
            let sqe = self.retry_sqes[i].clone();
            if let Err(e) = self.push(&sqe) {
                self.retry_sqes.drain(..i);
                return Err(e);
            }
        }
        self.retry_sqes.drain(..waiting);
        Ok(())
    }

    /// Pushes the SQE of an operation whose slot `user_data` was just taken. If it
    /// cannot reach the kernel, the slot is released at once (a sink hears nothing).
    fn push_op(&mut self, op: OpCode, id: OpId) -> io::Result<OpId> {
        self.count_accept(&op);
        if let Err(e) = self.push(&sqe::build(op, self.fixed.as_ref()).user_data(id.user_data())) {
            self.retries.forget(id);
            self.ops.abandon(id, None, Late::Ignore);
            let never_ran = Completion {
                result: -libc::ECANCELED,
                flags: 0,
            };
            self.ops.complete(id, never_ran);
            return Err(e);
        }
        Ok(id)
    }

    fn count_accept(&mut self, op: &OpCode) {
        if matches!(op, OpCode::Accept { .. } | OpCode::AcceptMulti { .. }) {
            self.stats.accepts_submitted += 1;
        }
    }

    fn in_flight(&self) -> usize {
        usize::from(self.wake_armed) + usize::from(self.timeout_armed) + self.ops.in_flight()
    }
}

/// The registered-file table of `slots` (`Builder::fixed_files`), where this kernel
/// frees a removed file at once (`setup::FIXED_FILES_SINCE`) and registers the table;
/// otherwise a warning says why sockets go by descriptor.
fn setup_fixed_files(ring: &IoUring, slots: u32) -> Option<FixedFiles> {
    let old_kernel = |what: String| {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "{what}: before 6.13 the table keeps closed sockets open while other \
                 registered ones have operations pending"
            ),
        ))
    };
    let registered = match setup::kernel_version() {
        Some(version) if version >= setup::FIXED_FILES_SINCE => {
            ring.submitter().register_files_sparse(slots)
        }
        Some((major, minor)) => old_kernel(format!("kernel {major}.{minor}")),
        None => old_kernel("the kernel's version is unknown".to_string()),
    };
    match registered {
        Ok(()) => Some(FixedFiles::new(slots)),
        Err(e) => {
            log::warn!(
                "ringloop: no registered-file table of {slots} slots ({e}); sockets are \
                 named by descriptor"
            );
            None
        }
    }
}

/// Hands an operation's completion to the op slab.
fn deliver(
    ops: &mut OpSlab,
    buf_ring: &Option<Rc<BufRing>>,
    stats: &mut DriverStats,
    id: OpId,
    completion: Completion,
    wakers: &mut Vec<Waker>,
) {
    match ops.complete(id, completion) {
        Delivered::Wake(waker) => wakers.push(waker),
        Delivered::Sink(waker) => wakers.extend(waker),
        Delivered::Quiet => recycle(buf_ring, completion.flags),
        Delivered::Stray => {
            stats.stray_completions += 1;
            recycle(buf_ring, completion.flags);
        }
        // SAFETY: an abandoned accept's new descriptor: nothing else owns it.
        Delivered::CloseFd(fd) => drop(unsafe { own(fd) }),
    }
}

/// A provided buffer that a completion took but nobody will read goes straight back.
fn recycle(ring: &Option<Rc<BufRing>>, flags: u32) {
    if let (Some(bid), Some(ring)) = (sink::buffer_id(flags), ring) {
        ring.recycle(bid);
    }
}

impl Driver for Uring {
    fn backend(&self) -> Backend {
        Backend::IoUring
    }

    fn turn(&mut self, wait: Wait, wakers: &mut Vec<Waker>) -> io::Result<()> {
        self.arm_wake()?;
        let wait = if self.deferred.is_empty() {
            wait
        } else {
            wakers.append(&mut self.deferred);
            Wait::Poll
        };
        self.enter(wait)?;
        self.reap(wakers);
        self.push_retries()
    }

    fn wants_poll(&mut self, _ran: usize) -> bool {
        if !self.deferred.is_empty() {
            return true;
        }
        let sq = self.ring.submission();
        let kernel_side = !sq.is_empty() || sq.taskrun() || sq.cq_overflow();
        drop(sq);
        kernel_side || !self.ring.completion().is_empty()
    }

    unsafe fn submit(&mut self, op: OpCode) -> io::Result<OpId> {
        let id = self.ops.insert();
        self.retries.track(id, &op);
        self.push_op(op, id)
    }

    unsafe fn submit_to(&mut self, op: OpCode, sink: &Rc<Sink>, tag: u64) -> io::Result<OpId> {
        let id = self.ops.insert_sink(sink, tag);
        self.push_op(op, id)
    }

    fn buf_ring(&mut self) -> Option<Rc<BufRing>> {
        if self.buf_ring.is_none() && !self.buf_ring_failed && !self.shut_down {
            let (count, size) = self.recv_buffers;
            let ring = match BufRing::new(count, size, BUF_GROUP) {
                Ok(ring) => Rc::new(ring),
                Err(e) => {
                    log::warn!("ringloop: no provided-buffer ring ({e}); reading on readiness");
                    self.buf_ring_failed = true;
                    return None;
                }
            };
            // SAFETY: the ring's memory stays valid until it is unregistered or the ring
            // is destroyed: the driver keeps its `Rc` until then (see `Drop`).
            let registered = unsafe {
                self.ring.submitter().register_buf_ring_with_flags(
                    ring.ring_addr(),
                    ring.count(),
                    ring.group(),
                    0,
                )
            };
            match registered {
                Ok(()) => self.buf_ring = Some(ring),
                Err(e) => {
                    log::debug!("ringloop: no provided-buffer ring ({e}); reading on readiness");
                    self.buf_ring_failed = true;
                }
            }
        }
        self.buf_ring.clone()
    }

    fn files(&self) -> bool {
        self.files
    }

    fn send_zc(&self) -> bool {
        self.send_zc
    }

    fn multishot_accept(&self) -> bool {
        // The ACCEPT opcode is probed at setup; a kernel older than 5.19 refuses the
        // multishot flag with EINVAL on the first arm, and the caller falls back.
        true
    }

    fn register_fixed(&mut self, fd: Fd) -> Option<u32> {
        if self.shut_down {
            return None;
        }
        let fixed = self.fixed.as_mut()?;
        let slot = fixed.take(fd.id)?;
        match self.ring.submitter().register_files_update(slot, &[fd.raw]) {
            Ok(_) => Some(slot),
            Err(e) => {
                log::debug!("ringloop: registering descriptor {} failed ({e})", fd.raw);
                fixed.untake(slot);
                None
            }
        }
    }

    fn unregister_fixed(&mut self, fd: Fd) {
        let Some(slot) = self.fixed.as_mut().and_then(|f| f.release(fd)) else {
            return;
        };
        if let Err(e) = self.ring.submitter().register_files_update(slot, &[-1]) {
            // The table keeps its reference: the connection stays open until the ring
            // closes. Not seen in practice (the update only fails for a bad slot).
            log::warn!("ringloop: unregistering fixed file slot {slot} failed ({e})");
        }
    }

    fn poll_op(&mut self, id: OpId, cx: &mut Context<'_>) -> Poll<Completion> {
        self.ops.poll(id, cx)
    }

    fn cancel_op(&mut self, id: OpId) {
        self.retries.cancel(id);
        if self.ops.is_pending(id) {
            // A full queue that cannot even be submitted leaves the op to finish on its
            // own; the cancel is a request, not a guarantee.
            let _ = self.push(&sqe::cancel(id.user_data()));
        }
    }

    fn abandon_op(&mut self, id: OpId, held: Option<Box<dyn Any>>, late: Late) {
        // An op that holds nothing and whose result needs nothing (a close nobody
        // awaits) is left to finish: cancelling it would only cost an SQE.
        let worth_cancelling = late != Late::Finish && (held.is_some() || late != Late::Ignore);
        self.retries.cancel(id);
        match self.ops.abandon(id, held, late) {
            Abandoned::InFlight if worth_cancelling => {
                let _ = self.push(&sqe::cancel(id.user_data()));
            }
            Abandoned::InFlight => {}
            Abandoned::Done => {}
            // SAFETY: a completed accept's new descriptor: nothing else owns it.
            Abandoned::CloseFd(fd) => drop(unsafe { own(fd) }),
        }
    }

    fn shutdown(&mut self) -> bool {
        if self.shut_down {
            return self.ops.in_flight() == 0;
        }
        self.shut_down = true;
        // Retries decided but never pushed: those operations are not in the kernel.
        let mut wakers = Vec::new();
        for sqe in std::mem::take(&mut self.retry_sqes) {
            let id = OpId::from_user_data(sqe.get_user_data());
            self.retries.forget(id);
            let cancelled = Completion {
                result: -libc::ECANCELED,
                flags: 0,
            };
            deliver(
                &mut self.ops,
                &self.buf_ring,
                &mut self.stats,
                id,
                cancelled,
                &mut wakers,
            );
        }
        drop(wakers);
        // Cancel everything the kernel still owns (but file writes, which must land), then
        // wait for every completion before the memory it points at is freed.
        let mut targets: Vec<u64> = self.ops.tokens_to_cancel().map(OpId::user_data).collect();
        if self.wake_armed {
            targets.push(token::WAKE);
        }
        if self.timeout_armed {
            targets.push(token::TIMEOUT);
        }
        for target in targets {
            if self.push(&sqe::cancel(target)).is_err() {
                break;
            }
        }
        // Wait as long as completions keep coming: one enter may deliver only a few of
        // them (with DEFER_TASKRUN, recent kernels run a bounded batch of task work per
        // wait, 20 on 6.x), so thousands of cancelled operations take many enters. Give
        // up only after `QUIET_WAITS` waits in a row delivered nothing.
        let mut wakers = Vec::new();
        let mut quiet = 0;
        while self.in_flight() != 0 && quiet < QUIET_WAITS {
            let before = self.in_flight();
            if self.enter(Wait::Timeout(Duration::from_millis(5))).is_err() {
                break;
            }
            self.reap(&mut wakers);
            quiet = if self.in_flight() < before {
                0
            } else {
                quiet + 1
            };
        }
        drop(wakers);
        if self.ops.in_flight() != 0 {
            self.ops.leak_held();
            return false;
        }
        true
    }

    fn stats(&self) -> DriverStats {
        DriverStats {
            ops_in_flight: self.ops.in_flight(),
            buffers_held: self.ops.abandoned(),
            fixed_files: self.fixed.as_ref().map_or(0, FixedFiles::in_use),
            ..self.stats
        }
    }

    fn describe(&self) -> String {
        let params = self.ring.params();
        let mut feats = Vec::new();
        if params.is_feature_ext_arg() {
            feats.push("EXT_ARG");
        }
        if params.is_feature_nodrop() {
            feats.push("NODROP");
        }
        if params.is_feature_fast_poll() {
            feats.push("FAST_POLL");
        }
        let fixed = match &self.fixed {
            Some(table) => format!("; {} registered-file slots", table.slots()),
            None => String::new(),
        };
        format!(
            "io_uring (setup {}; features {}; {} SQ entries{fixed})",
            self.setup.names(),
            feats.join(" "),
            params.sq_entries()
        )
    }
}

impl Drop for Uring {
    fn drop(&mut self) {
        let drained = self.shutdown();
        if let Some(ring) = self.buf_ring.take() {
            if drained
                && self
                    .ring
                    .submitter()
                    .unregister_buf_ring(ring.group())
                    .is_ok()
            {
                drop(ring);
            } else {
                // An operation may still pick a buffer: the memory must outlive the ring.
                std::mem::forget(ring);
            }
        }
        if self.wake_armed {
            // The kernel may still write into the buffer: leaking 8 bytes is the safe
            // choice. (Not seen in practice: a pending eventfd read cancels at once.)
            return;
        }
        // SAFETY: `wake_buf` came from `Box::leak` in `new`, and no read is in flight, so
        // nothing else refers to it.
        drop(unsafe { Box::from_raw(self.wake_buf.as_ptr()) });
    }
}

impl std::fmt::Debug for Uring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uring")
            .field("setup", &self.setup)
            .field("ext_arg", &self.ext_arg)
            .field("ops", &self.ops)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn driver() -> Uring {
        driver_with(0)
    }

    /// A driver with a registered-file table of `fixed_files` slots.
    fn driver_with(fixed_files: u32) -> Uring {
        let fd = crate::sys::eventfd().unwrap();
        // The eventfd must outlive the ring; leak it for the test's lifetime.
        let raw = std::os::fd::IntoRawFd::into_raw_fd(fd);
        Uring::new(
            DriverConfig {
                ring_entries: 8,
                force_timeout_sqe: false,
                recv_buffers: 4,
                recv_buffer_size: 64,
                sqpoll_idle: None,
                fixed_files,
            },
            raw,
        )
        .unwrap()
    }

    #[test]
    fn a_stale_completion_from_the_kernel_never_reaches_the_slots_new_owner() {
        let mut d = driver();
        let mut cx = Context::from_waker(Waker::noop());
        let mut wakers = Vec::new();
        // SAFETY: a NOP holds no pointers.
        let old = unsafe { d.submit(OpCode::Nop) }.unwrap();
        d.turn(Wait::Timeout(Duration::from_secs(1)), &mut wakers)
            .unwrap();
        assert!(d.poll_op(old, &mut cx).is_ready());
        // The slot is reused by a new operation with a new generation.
        // SAFETY: as above.
        let new = unsafe { d.submit(OpCode::Nop) }.unwrap();
        assert_ne!(old, new);
        let slot = |id: OpId| match token::decode(id.user_data()) {
            Token::Op { slot, .. } => slot,
            other => panic!("not an op token: {other:?}"),
        };
        assert_eq!(slot(old), slot(new), "the slot is reused");
        // The kernel now completes something under the old token (a late duplicate).
        d.push(&opcode::Nop::new().build().user_data(old.user_data()))
            .unwrap();
        let before = d.stats().stray_completions;
        for _ in 0..10 {
            d.turn(Wait::Timeout(Duration::from_millis(100)), &mut wakers)
                .unwrap();
            if d.stats().stray_completions > before && d.ops.in_flight() == 0 {
                break;
            }
        }
        assert_eq!(d.stats().stray_completions, before + 1);
        // The new owner got its own completion, exactly once.
        assert!(d.poll_op(new, &mut cx).is_ready());
        assert_eq!(d.stats().ops_in_flight, 0);
    }

    /// Turns `d` until `id` completes: its completion.
    fn completion(d: &mut Uring, id: OpId) -> Completion {
        let mut cx = Context::from_waker(Waker::noop());
        let mut wakers = Vec::new();
        for _ in 0..100 {
            if let Poll::Ready(done) = d.poll_op(id, &mut cx) {
                return done;
            }
            d.turn(Wait::Timeout(Duration::from_millis(50)), &mut wakers)
                .unwrap();
        }
        panic!("the operation never completed");
    }

    /// A send of `msg` (static, so valid until its completion) through `fd`.
    fn send(d: &mut Uring, fd: Fd, msg: &'static [u8]) -> OpId {
        let op = OpCode::Send {
            fd,
            buf: msg.as_ptr(),
            len: msg.len() as u32,
            zc: false,
        };
        // SAFETY: `msg` is static: valid for as long as the kernel may read it.
        unsafe { d.submit(op) }.unwrap()
    }

    #[test]
    fn an_operation_on_a_registered_socket_names_its_slot_not_its_number() {
        use std::io::Read;
        use std::os::fd::AsRawFd;

        let mut d = driver_with(4);
        if d.fixed.is_none() {
            eprintln!("no registered-file table on this kernel: nothing to check");
            return;
        }
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        let fd = Fd::new(a.as_raw_fd());
        let slot = d.register_fixed(fd).expect("a free slot");
        // The socket's identity and slot with a number that names no descriptor: only
        // the slot can carry the send to `a`.
        let ghost = Fd {
            raw: i32::MAX,
            slot,
            ..fd
        };
        let sent = send(&mut d, ghost, b"by slot");
        assert_eq!(completion(&mut d, sent).result, 7);
        let mut got = [0u8; 7];
        b.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"by slot");
        // Given back, an operation names the number: the bogus one reaches nothing, the
        // real one the socket (a stale use of the now empty slot would fail both).
        d.unregister_fixed(ghost);
        let sent = send(&mut d, ghost, b"by slot");
        assert_eq!(completion(&mut d, sent).result, -libc::EBADF);
        let real = Fd { slot, ..fd };
        let sent = send(&mut d, real, b"by number");
        assert_eq!(completion(&mut d, sent).result, 9);
        let mut got = [0u8; 9];
        b.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"by number");
        assert_eq!(d.stats().fixed_files, 0);
    }

    #[test]
    fn a_given_back_slot_is_reused_only_after_the_queue_naming_it_was_submitted() {
        use std::io::Read;
        use std::os::fd::AsRawFd;

        let mut d = driver_with(1);
        if d.fixed.is_none() {
            eprintln!("no registered-file table on this kernel: nothing to check");
            return;
        }
        let (a, _a_peer) = std::os::unix::net::UnixStream::pair().unwrap();
        let fa = Fd::new(a.as_raw_fd());
        let slot = d.register_fixed(fa).expect("the only slot");
        let fa = Fd { slot, ..fa };
        // Queued, not yet submitted: a send naming the slot; then `a` closes.
        let stale = send(&mut d, fa, b"stale");
        d.unregister_fixed(fa);
        drop(a);
        let (c, mut c_peer) = std::os::unix::net::UnixStream::pair().unwrap();
        let fc = Fd::new(c.as_raw_fd());
        assert_eq!(d.register_fixed(fc), None, "the slot waits for the queue");
        // Submitted with the slot empty: the stale send fails and never reaches `c`.
        assert_eq!(completion(&mut d, stale).result, -libc::EBADF);
        assert_eq!(d.register_fixed(fc), Some(slot), "free once submitted");
        let fc = Fd { slot, ..fc };
        let fresh = send(&mut d, fc, b"fresh");
        assert_eq!(completion(&mut d, fresh).result, 5);
        c_peer.set_nonblocking(true).unwrap();
        let mut got = Vec::new();
        let _ = c_peer.read_to_end(&mut got);
        assert_eq!(got, b"fresh", "only the new owner's bytes");
    }

    #[test]
    fn forged_tokens_are_counted_and_ignored() {
        let mut d = driver();
        let mut wakers = Vec::new();
        d.push(&opcode::Nop::new().build().user_data(0xFFFF_FFF0))
            .unwrap();
        d.push(&opcode::Nop::new().build().user_data(12345 << 32 | 3))
            .unwrap();
        for _ in 0..10 {
            d.turn(Wait::Timeout(Duration::from_millis(100)), &mut wakers)
                .unwrap();
            if d.stats().stray_completions == 2 {
                break;
            }
        }
        assert_eq!(d.stats().stray_completions, 2);
        assert!(wakers.is_empty());
    }
}
