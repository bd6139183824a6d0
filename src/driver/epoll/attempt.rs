//! Running operations on the epoll backend: the first attempt of what was submitted,
//! parking on a descriptor that is not ready (registering it first, once per owner),
//! retrying the parked ones when readiness arrives, unlinking cancelled ones, and
//! closes through the driver.

use std::io;
use std::os::fd::RawFd;
use std::task::Waker;
use std::time::Instant;

use super::readiness::{Dir, direction};
use super::{Epoll, sock, sys};
use crate::driver::fd::Fd;
use crate::driver::op::{OpCode, OpId};
use crate::driver::retry::{RETRY_WAITS, next_step};
use crate::sys::net::own;

impl Epoll {
    /// Attempts everything submitted since the last turn.
    pub(super) fn attempt_queued(&mut self, wakers: &mut Vec<Waker>) {
        let mut batch = std::mem::take(&mut self.batch);
        std::mem::swap(&mut batch, &mut self.queued);
        for token in batch.drain(..) {
            self.start(token, wakers);
        }
        self.batch = batch;
    }

    /// A queued operation's first attempt.
    pub(super) fn start(&mut self, token: OpId, wakers: &mut Vec<Waker>) {
        let Some(code) = self.request(token).map(|r| r.code) else {
            return;
        };
        match code {
            OpCode::Close { fd } => {
                let result = self.close_fd(fd, wakers);
                self.finish(token, result, wakers);
            }
            OpCode::Shutdown { fd, how } => {
                self.stats.sqes_submitted += 1;
                let result = sock::shutdown(fd, how);
                self.finish(token, result, wakers);
            }
            OpCode::Nop => self.finish(token, 0, wakers),
            // No provided buffers here (`buf_ring` is `None`): never submitted.
            OpCode::RecvMulti { .. } => self.finish(token, -libc::EINVAL, wakers),
            // No multishot here (`multishot_accept` is false): never submitted.
            OpCode::AcceptMulti { .. } => self.finish(token, -libc::EINVAL, wakers),
            // File I/O runs on the blocking pool here (`files` is false): never submitted.
            OpCode::OpenAt { .. }
            | OpCode::ReadAt { .. }
            | OpCode::WriteAt { .. }
            | OpCode::Fsync { .. }
            | OpCode::Statx { .. } => self.finish(token, -libc::EOPNOTSUPP, wakers),
            // Waits for the next readiness edge (its submitter just drained the socket),
            // unless the read side is closed: then it is readable for good, and the read
            // sees EOF or the error. (Registering first clears a stale closed bit of a
            // descriptor number that was closed behind the driver's back and reused.)
            OpCode::PollIn { fd } if fd.raw >= 0 => {
                if self.register(fd).is_ok() && self.fd_state(fd.raw).read_closed {
                    self.finish(token, libc::POLLIN as i32, wakers);
                } else {
                    self.park(token, Dir::Read, false, wakers);
                }
            }
            // Waits for the next writability edge (its submitter's send just found the
            // buffer full); a hang-up or error wakes it too, and the send then reports it.
            OpCode::PollOut { fd } if fd.raw >= 0 => self.park(token, Dir::Write, false, wakers),
            _ => {
                let (fd, dir) = direction(&code).expect("a waiting operation");
                if fd.raw < 0 {
                    self.finish(token, -libc::EBADF, wakers);
                    return;
                }
                // What is known of the descriptor belongs to its registered owner only.
                let state = self.fd_state(fd.raw);
                let known = state.registered && state.owner == fd.id;
                if known && (state.blocked & dir.bit() != 0 || !state.parked(dir).is_empty()) {
                    // Known not ready, or others wait first: no syscall yet.
                    self.park(token, dir, false, wakers);
                } else if let Some(dir) = self.attempt(token, wakers) {
                    self.park(token, dir, false, wakers);
                }
            }
        }
    }

    /// Runs the operation's syscall once. Returns the direction to wait for when it
    /// would block; otherwise the operation is finished (or requeued).
    pub(super) fn attempt(&mut self, token: OpId, wakers: &mut Vec<Waker>) -> Option<Dir> {
        let request = self.request(token).expect("attempting a live operation");
        let (code, connecting) = (request.code, request.connecting);
        self.stats.sqes_submitted += 1;
        let result = match code {
            OpCode::Accept { fd, addr, len } => {
                self.stats.accepts_submitted += 1;
                // SAFETY: `Driver::submit`'s contract keeps the pointers valid until the
                // completion is collected or the abandoned operation is freed; it is live
                // (neither completed nor abandoned), so neither has happened.
                unsafe { sock::accept(fd.raw, addr, len) }
            }
            OpCode::Connect { fd, .. } if connecting => sock::connect_result(fd.raw),
            // SAFETY: as for accept, above (the pointers are live).
            OpCode::Connect { fd, addr, len } => unsafe { sock::connect(fd.raw, addr, len) },
            // SAFETY: as for accept, above.
            OpCode::Recv { fd, buf, len } => unsafe { sock::recv(fd.raw, buf, len) },
            // SAFETY: as for accept, above.
            OpCode::Send { fd, buf, len, .. } => unsafe { sock::send(fd.raw, buf, len) },
            // SAFETY: as for accept, above.
            OpCode::RecvMsg { fd, msg } => unsafe { sock::recvmsg(fd.raw, msg) },
            // SAFETY: as for accept, above.
            OpCode::SendMsg { fd, msg } => unsafe { sock::sendmsg(fd.raw, msg) },
            // Readiness arrived (an event woke the parked operation): done.
            OpCode::PollIn { .. } => libc::POLLIN as i32,
            OpCode::PollOut { .. } => libc::POLLOUT as i32,
            OpCode::Shutdown { .. }
            | OpCode::Close { .. }
            | OpCode::RecvMulti { .. }
            | OpCode::AcceptMulti { .. }
            | OpCode::OpenAt { .. }
            | OpCode::ReadAt { .. }
            | OpCode::WriteAt { .. }
            | OpCode::Fsync { .. }
            | OpCode::Statx { .. }
            | OpCode::Nop => {
                unreachable!("never parked")
            }
        };
        let (fd, dir) = direction(&code).expect("a waiting operation");
        match code {
            OpCode::Connect { .. } if result == -libc::EINPROGRESS => {
                // In progress: writable means done, one way or the other.
                self.request(token).expect("live").connecting = true;
                self.fd_state(fd.raw).blocked |= Dir::Write.bit();
                Some(Dir::Write)
            }
            OpCode::Connect { .. } if result == -libc::EAGAIN && !connecting => {
                // A Unix listener's backlog is full; nothing signals room: try again
                // after a wait (`retry.rs`).
                let request = self.request(token).expect("live");
                let step = request.retry_step;
                request.retry_step = next_step(step);
                let due = Instant::now() + RETRY_WAITS[step];
                self.retrying.push((token, due));
                None
            }
            _ if result == -libc::EAGAIN => {
                self.fd_state(fd.raw).blocked |= dir.bit();
                Some(dir)
            }
            _ => {
                self.finish(token, result, wakers);
                None
            }
        }
    }

    /// Parks an operation on its descriptor until `dir` is ready (at the front when it
    /// was the head and just found it blocked again).
    pub(super) fn park(&mut self, token: OpId, dir: Dir, front: bool, wakers: &mut Vec<Waker>) {
        let request = self.request(token).expect("parking a live operation");
        let (fd, _) = direction(&request.code).expect("a parked operation waits");
        if let Err(e) = self.register(fd) {
            // Not a descriptor epoll can watch: the operation cannot wait.
            let errno = e.raw_os_error().unwrap_or(libc::EIO);
            self.finish(token, -errno, wakers);
            return;
        }
        self.request(token)
            .expect("parking a live operation")
            .parked = Some(dir);
        let queue = self.fd_state(fd.raw).parked(dir);
        if front {
            queue.push_front(token);
        } else {
            queue.push_back(token);
        }
    }

    /// Makes sure `fd` is in the interest list: once per owner of a descriptor number,
    /// so a number reused by another socket is registered afresh (module docs).
    pub(super) fn register(&mut self, fd: Fd) -> io::Result<()> {
        let state = self.fd_state(fd.raw);
        if state.registered && state.owner == fd.id {
            return Ok(());
        }
        debug_assert!(
            state.readers.is_empty() && state.writers.is_empty(),
            "operations parked on descriptor {} of another owner",
            fd.raw
        );
        // Whatever was known belonged to the previous owner.
        state.reset();
        // A number whose old file is still open elsewhere (a dup) stays registered
        // under that file: this file's registration is new all the same. The same file
        // under a new owner (a socket rewrapped) is already there: re-arm it.
        match sys::add(&self.ep, fd.raw, sys::INTEREST) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                sys::modify(&self.ep, fd.raw, sys::INTEREST)
            }
            other => other,
        }?;
        let state = self.fd_state(fd.raw);
        state.registered = true;
        state.owner = fd.id;
        Ok(())
    }

    /// Retries the operations parked on `fd` for `dir`, in order, until one blocks.
    pub(super) fn run_parked(&mut self, fd: RawFd, dir: Dir, wakers: &mut Vec<Waker>) {
        loop {
            let state = &mut self.fds[fd as usize];
            if state.blocked & dir.bit() != 0 {
                return;
            }
            let Some(token) = state.parked(dir).pop_front() else {
                return;
            };
            self.request(token)
                .expect("a parked operation is live")
                .parked = None;
            if let Some(dir) = self.attempt(token, wakers) {
                self.park(token, dir, true, wakers);
            }
        }
    }

    /// Takes an operation out of the queue or its descriptor's parked list, so nothing
    /// will run it. Returns whether it was there.
    pub(super) fn unlink(&mut self, token: OpId) -> bool {
        let Some(request) = self.request(token) else {
            return false;
        };
        let parked = request.parked.take();
        let code = request.code;
        match parked {
            Some(dir) => {
                let (fd, _) = direction(&code).expect("a parked operation waits");
                let queue = self.fds[fd.raw as usize].parked(dir);
                if let Some(i) = queue.iter().position(|&t| t == token) {
                    queue.remove(i);
                }
            }
            None => {
                if let Some(i) = self.queued.iter().position(|&t| t == token) {
                    self.queued.remove(i);
                } else if let Some(i) = self.retrying.iter().position(|&(t, _)| t == token) {
                    self.retrying.swap_remove(i);
                }
            }
        }
        let slot = Self::slot(token);
        self.requests[slot] = None;
        true
    }

    /// close(2) through the driver: deregister, close, forget; operations still parked
    /// on the descriptor can never be woken, so they complete with `ECANCELED`.
    pub(super) fn close_fd(&mut self, fd: RawFd, wakers: &mut Vec<Waker>) -> i32 {
        if fd >= 0 && (fd as usize) < self.fds.len() {
            let state = &mut self.fds[fd as usize];
            let mut orphans: Vec<OpId> = state.readers.drain(..).collect();
            orphans.extend(state.writers.drain(..));
            if state.registered {
                let _ = sys::delete(&self.ep, fd);
            }
            state.reset();
            for token in orphans {
                if let Some(r) = self.request(token) {
                    r.parked = None;
                }
                self.finish(token, -libc::ECANCELED, wakers);
            }
        }
        self.stats.sqes_submitted += 1;
        if fd < 0 {
            return -libc::EBADF;
        }
        // SAFETY: a close operation owns its descriptor (`ops::close::Close::new` took
        // it), and this is its one attempt.
        sock::close(unsafe { own(fd) })
    }
}
