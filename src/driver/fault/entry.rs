//! An operation as the fault driver knows it, from `submit` until its (final)
//! completion is delivered, and what kind of operation it is.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use crate::driver::Driver;
use crate::driver::op::{OpCode, OpId};
use crate::driver::slab::Completion;

/// An operation the fault driver knows, until its completion is delivered.
pub(super) struct Entry {
    pub(super) code: OpCode,
    /// Handed to the wrapped driver.
    pub(super) forwarded: bool,
    /// The wrapped driver's id while it owns the operation; `None` before it was
    /// forwarded and after its (final) completion was collected.
    pub(super) inner: Option<OpId>,
    /// How its completions come back from the wrapped driver.
    pub(super) route: Route,
    /// Abandoned with nothing held and nothing to do with its result (a close nobody
    /// awaits): left to finish, never cancelled. Never a sink operation.
    pub(super) detached: bool,
}

/// Where the wrapped driver's completions of an operation go.
pub(super) enum Route {
    /// A future's operation (`submit`): this waker records the token when the wrapped
    /// driver completes it, and `collect` polls the completion out.
    Future(Waker),
    /// A sink operation (`submit_to`): its completions arrive in the fault driver's own
    /// sink, tagged with its token.
    Sink,
}

/// The wake of an operation in the wrapped driver: notes its token.
pub(super) struct Notify {
    pub(super) token: u64,
    pub(super) ready: Arc<Mutex<Vec<u64>>>,
}

impl Wake for Notify {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.ready
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(self.token);
    }
}

/// Polls the wrapped driver for `entry`'s completion, if it still owns the operation
/// (a future's: a sink operation's completions arrive in the fault driver's sink).
pub(super) fn poll_inner(inner: &mut dyn Driver, entry: &mut Entry) -> Option<Completion> {
    let Route::Future(waker) = &entry.route else {
        return None;
    };
    let id = entry.inner?;
    let mut cx = Context::from_waker(waker);
    match inner.poll_op(id, &mut cx) {
        Poll::Ready(c) => {
            entry.inner = None;
            Some(c)
        }
        Poll::Pending => None,
    }
}

/// Closes a descriptor an abandoned accept produced.
pub(super) fn close_fd(fd: i32) {
    // SAFETY: the result of an accept whose future is gone: nothing else owns it.
    drop(unsafe { crate::sys::net::own(fd) });
}

/// Operations that may fail before reaching the kernel without losing anything.
pub(super) fn may_fail(code: &OpCode) -> bool {
    matches!(
        code,
        OpCode::Accept { .. }
            | OpCode::Connect { .. }
            | OpCode::Recv { .. }
            | OpCode::Send { .. }
            | OpCode::RecvMsg { .. }
            | OpCode::SendMsg { .. }
            | OpCode::RecvMulti { .. }
            | OpCode::AcceptMulti { .. }
            | OpCode::PollIn { .. }
    )
}

/// Operations whose completions come several to one operation (`F_MORE`).
pub(super) fn is_multishot(code: &OpCode) -> bool {
    matches!(code, OpCode::RecvMulti { .. } | OpCode::AcceptMulti { .. })
}
