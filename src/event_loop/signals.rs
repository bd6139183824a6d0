//! A loop's signals: the handlers of [`EventLoop::add_signal_handler`] and the
//! subscriptions behind [`crate::signal::Signals`].
//!
//! # How a signal reaches the loop
//!
//! The process-wide handler (`sys::signal`) counts the delivery and writes to the
//! eventfd of every loop that listens for the signal; it runs no user code. Each loop
//! that listens has one [`Listener`] (that eventfd) and one *watcher*, an internal task
//! that waits for the eventfd to become readable (a readiness wait through the driver:
//! `POLL_ADD` on io_uring, a parked wait on epoll), drains it, and compares each
//! signal's delivery count with the one it saw last. For each signal that moved, in the
//! order of their latest arrival, it schedules the signal's handler as a callback (as
//! `call_soon` would) and queues the signal in every subscription that wants it.
//!
//! The watcher drains and looks *before* each wait: whatever arrived while it was not
//! waiting (before it first ran, between two waits) is found at once, and the next
//! write to the eventfd comes after the drain, so the wait sees it on either backend.
//!
//! # Coalescing
//!
//! A signal delivered several times before the watcher looks is seen once: its handler
//! runs once, and a subscription gets it once. A signal still queued, unreceived, in a
//! subscription is not queued there again. The kernel does the same with a standard
//! signal that is already pending.
//!
//! A handler or a subscription hears of the deliveries that come after it was added,
//! not of one that arrived before and that the watcher had not looked at yet: each
//! keeps the delivery count of its signal at the time it was added (`Since`).
//!
//! # Ground rules
//!
//! - A signal is listened for (its entry in `watches` exists) while it has a handler or
//!   a live subscription; the last one to go stops the listen, and the process-wide
//!   handler restores the previous disposition once no loop listens.
//! - The watcher holds the loop's signal state weakly: the loop owns it, and closing the
//!   loop drops it (stopping every listen) before anything else is released.
//! - Borrows are released before user code runs: handlers run as callbacks, wakers are
//!   collected and woken after the state is released, and a replaced handler is dropped
//!   outside every borrow.

#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::io;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use libc::c_int;

use super::core::Core;
use super::handle::call_soon_on;
use crate::driver::fd::Fd;
use crate::driver::handle::DriverHandle;
use crate::driver::op::Op;
use crate::driver::ops::ready::{Interest, Ready};
use crate::sys::signal::{self as sys, Listener};
use crate::task::raw::catch;
use crate::task::{ExceptionContext, ExceptionKind, Task};

/// A handler given to `add_signal_handler`.
type Handler = Rc<RefCell<Box<dyn FnMut()>>>;

/// A loop's signal state (see the module docs). Made on the loop's first signal call
/// and kept (its one eventfd with it) until the loop closes; the watcher task runs only
/// while some signal is watched.
pub(crate) struct LoopSignals {
    listener: RefCell<Listener>,
    /// The listener's eventfd, as the driver names it.
    fd: Fd,
    watches: RefCell<BTreeMap<c_int, Watch>>,
    /// The watcher task, while anything is watched.
    watcher: RefCell<Option<Task<()>>>,
}

/// What the loop does with one signal.
struct Watch {
    /// The delivery count the watcher saw last.
    seen: u64,
    handler: Option<Since<Handler>>,
    mailboxes: Vec<Since<Weak<Mailbox>>>,
}

/// A handler or a mailbox, with the delivery count of its signal when it was added: it
/// hears only of deliveries after that (not of one that arrived earlier and that the
/// watcher had not seen yet).
struct Since<T> {
    item: T,
    count: u64,
}

impl<T> Since<T> {
    fn now(signum: c_int, item: T) -> Since<T> {
        Since {
            item,
            count: sys::deliveries(signum).count,
        }
    }
}

/// The signals one subscription has not received yet, and its receiver's waker.
#[derive(Default)]
struct Mailbox {
    queue: RefCell<VecDeque<c_int>>,
    waker: RefCell<Option<Waker>>,
}

impl Mailbox {
    /// Queues `signum` (unless it is already waiting); the receiver's waker.
    fn push(&self, signum: c_int) -> Option<Waker> {
        let mut queue = self.queue.borrow_mut();
        if !queue.contains(&signum) {
            queue.push_back(signum);
        }
        self.waker.borrow_mut().take()
    }
}

/// The error of a signal call on a closed loop.
fn loop_closed() -> io::Error {
    io::Error::other("the event loop has closed: it cannot listen for signals any more")
}

/// The loop's signal state, made on first use.
fn state(core: &Rc<Core>) -> io::Result<Rc<LoopSignals>> {
    if core.closed.get() {
        return Err(loop_closed());
    }
    let mut slot = core.signals.borrow_mut();
    if let Some(state) = &*slot {
        return Ok(state.clone());
    }
    let listener = Listener::new()?;
    let state = Rc::new(LoopSignals {
        fd: Fd::new(listener.raw_fd()),
        listener: RefCell::new(listener),
        watches: RefCell::new(BTreeMap::new()),
        watcher: RefCell::new(None),
    });
    *slot = Some(state.clone());
    Ok(state)
}

/// `EventLoop::add_signal_handler`.
pub(crate) fn add_handler(core: &Rc<Core>, signum: c_int, f: Box<dyn FnMut()>) -> io::Result<()> {
    sys::check(signum)?;
    let state = state(core)?;
    state.watch(signum)?;
    let old = {
        let mut watches = state.watches.borrow_mut();
        let watch = watches.get_mut(&signum).expect("watched just now");
        let handler = Since::now(signum, Rc::new(RefCell::new(f)));
        watch.handler.replace(handler).map(|old| old.item)
    };
    state.start_watcher(core);
    drop_handler(core, old);
    Ok(())
}

/// `EventLoop::remove_signal_handler`.
pub(crate) fn remove_handler(core: &Rc<Core>, signum: c_int) -> bool {
    let Some(state) = core.signals.borrow().clone() else {
        return false;
    };
    let old = {
        let mut watches = state.watches.borrow_mut();
        watches
            .get_mut(&signum)
            .and_then(|w| w.handler.take())
            .map(|old| old.item)
    };
    let removed = old.is_some();
    if removed {
        state.release(signum, None);
    }
    drop_handler(core, old);
    removed
}

/// Drops a handler that was replaced or removed; a panic in its destructor goes to the
/// exception handler.
fn drop_handler(core: &Core, handler: Option<Handler>) {
    if let Some(handler) = handler
        && let Err(payload) = catch(move || drop(handler))
    {
        core.report(ExceptionContext::new(
            ExceptionKind::DestructorPanicked,
            payload,
        ));
    }
}

/// Closes the loop's signal state (the loop is closing): every listen stops, and
/// receivers waiting for a signal are woken to find the loop gone.
pub(super) fn close(core: &Core) {
    let state = core.signals.borrow_mut().take();
    let Some(state) = state else {
        return;
    };
    let watches = std::mem::take(&mut *state.watches.borrow_mut());
    let mut wakers = Vec::new();
    let mut handlers = Vec::new();
    for (signum, watch) in watches {
        state.listener.borrow_mut().unlisten(signum);
        handlers.extend(watch.handler.map(|h| h.item));
        for mailbox in watch.mailboxes.iter().filter_map(|m| m.item.upgrade()) {
            wakers.extend(mailbox.waker.borrow_mut().take());
        }
    }
    drop(state);
    for handler in handlers {
        drop_handler(core, Some(handler));
    }
    for waker in wakers {
        waker.wake();
    }
}

impl LoopSignals {
    /// Listens for `signum` in this loop, unless it already does.
    fn watch(&self, signum: c_int) -> io::Result<()> {
        if self.watches.borrow().contains_key(&signum) {
            return Ok(());
        }
        self.listener.borrow_mut().listen(signum)?;
        // Read after the listen: a delivery from now on both moves the count past this
        // and wakes the watcher.
        let seen = sys::deliveries(signum).count;
        self.watches.borrow_mut().insert(
            signum,
            Watch {
                seen,
                handler: None,
                mailboxes: Vec::new(),
            },
        );
        Ok(())
    }

    /// Spawns the watcher task unless one runs.
    fn start_watcher(self: &Rc<Self>, core: &Core) {
        let mut watcher = self.watcher.borrow_mut();
        if watcher.as_ref().is_some_and(|task| !task.is_done()) {
            return;
        }
        let task = core.spawn(
            watch(core.io().clone(), self.fd, Rc::downgrade(self)),
            false,
        );
        *watcher = Some(task);
    }

    /// `signum` lost its handler, or `leaving` (a subscription's mailbox) stops
    /// wanting it: stops listening if nothing else wants it, and stops the watcher if
    /// nothing is watched any more.
    fn release(&self, signum: c_int, leaving: Option<&Rc<Mailbox>>) {
        let (unlisten, empty) = {
            let mut watches = self.watches.borrow_mut();
            let Some(watch) = watches.get_mut(&signum) else {
                return;
            };
            watch.mailboxes.retain(|m| {
                m.item.strong_count() > 0
                    && leaving.is_none_or(|l| !std::ptr::eq(m.item.as_ptr(), &**l))
            });
            let unlisten = watch.handler.is_none() && watch.mailboxes.is_empty();
            if unlisten {
                watches.remove(&signum);
            }
            (unlisten, watches.is_empty())
        };
        if unlisten {
            self.listener.borrow_mut().unlisten(signum);
        }
        if empty {
            let watcher = self.watcher.borrow_mut().take();
            if let Some(task) = watcher {
                task.cancel();
            }
        }
    }

    /// Looks at the delivery counts: schedules the handlers of the signals that moved
    /// and queues those signals in their subscriptions, in the order of their latest
    /// arrival.
    fn dispatch(&self) {
        let mut fired = Vec::new();
        let mut wakers = Vec::new();
        let mut handlers = Vec::new();
        {
            let mut watches = self.watches.borrow_mut();
            for (&signum, watch) in watches.iter_mut() {
                let now = sys::deliveries(signum);
                if now.count != watch.seen {
                    watch.seen = now.count;
                    fired.push((now.latest, signum, now.count));
                }
            }
            fired.sort_unstable();
            for &(_, signum, count) in &fired {
                let watch = &watches[&signum];
                for mailbox in &watch.mailboxes {
                    if mailbox.count < count
                        && let Some(mailbox) = mailbox.item.upgrade()
                    {
                        wakers.extend(mailbox.push(signum));
                    }
                }
                if let Some(handler) = &watch.handler
                    && handler.count < count
                {
                    handlers.push(Rc::downgrade(&handler.item));
                }
            }
        }
        if let Some(core) = super::context::try_current() {
            for handler in handlers {
                // Runs the handler installed now, unless it is removed or replaced before
                // the callback comes up.
                call_soon_on(&core, move || {
                    if let Some(handler) = handler.upgrade() {
                        let mut handler = handler.borrow_mut();
                        (*handler)();
                    }
                });
            }
        }
        for waker in wakers {
            waker.wake();
        }
    }
}

/// The watcher task (see the module docs).
async fn watch(io: Rc<DriverHandle>, fd: Fd, state: Weak<LoopSignals>) {
    loop {
        {
            let Some(state) = state.upgrade() else {
                return;
            };
            if let Err(e) = state.listener.borrow().drain() {
                log::error!("ringloop: cannot read the loop's signal eventfd: {e}");
                return;
            }
            state.dispatch();
        }
        match Op::new(io.clone(), Ready::new(fd, Interest::Readable)).await {
            Ok(()) => {}
            Err(_) if io.is_closed() => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // Nothing is lost meanwhile: the next round looks at the counts first.
                log::warn!("ringloop: waiting for signals failed ({e}); retrying in 10 ms");
                crate::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// One receiver's interest in a set of signals (behind [`crate::signal::Signals`]).
pub(crate) struct Subscription {
    state: Weak<LoopSignals>,
    mailbox: Rc<Mailbox>,
    signals: Vec<c_int>,
}

/// Subscribes to `signals` (each checked, duplicates ignored) on `core`'s loop.
pub(crate) fn subscribe(core: &Rc<Core>, signals: &[c_int]) -> io::Result<Subscription> {
    if signals.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "Signals::new needs at least one signal to listen for",
        ));
    }
    for &signum in signals {
        sys::check(signum)?;
    }
    let state = state(core)?;
    let mut subscription = Subscription {
        state: Rc::downgrade(&state),
        mailbox: Rc::new(Mailbox::default()),
        signals: Vec::with_capacity(signals.len()),
    };
    for &signum in signals {
        if subscription.signals.contains(&signum) {
            continue;
        }
        // On failure, dropping `subscription` releases what it took so far.
        state.watch(signum)?;
        let mut watches = state.watches.borrow_mut();
        let watch = watches.get_mut(&signum).expect("watched just now");
        let mailbox = Since::now(signum, Rc::downgrade(&subscription.mailbox));
        watch.mailboxes.push(mailbox);
        subscription.signals.push(signum);
    }
    state.start_watcher(core);
    Ok(subscription)
}

impl Subscription {
    /// The next signal received, `None` once the loop has closed.
    pub(crate) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<c_int>> {
        if let Some(signum) = self.mailbox.queue.borrow_mut().pop_front() {
            return Poll::Ready(Some(signum));
        }
        if self.state.strong_count() == 0 {
            return Poll::Ready(None);
        }
        let mut waker = self.mailbox.waker.borrow_mut();
        match &*waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// The signals subscribed to, without duplicates, in the order given.
    pub(crate) fn signals(&self) -> &[c_int] {
        &self.signals
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(state) = self.state.upgrade() {
            for &signum in &self.signals {
                state.release(signum, Some(&self.mailbox));
            }
        }
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("signals", &self.signals)
            .field("queued", &self.mailbox.queue.borrow())
            .field("closed", &(self.state.strong_count() == 0))
            .finish()
    }
}

impl fmt::Debug for LoopSignals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopSignals")
            .field("listener", &self.listener.borrow())
            .field("signals", &self.watches.borrow().keys().collect::<Vec<_>>())
            .finish()
    }
}
