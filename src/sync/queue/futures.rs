//! The futures of a queue: [`QueuePut`], [`QueueGet`] and [`QueueJoin`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::super::QueueClosed;
use super::super::event::EventWait;
use super::super::waiters::{WaiterId, WakeSet};
use super::order::{FifoOrder, QueueOrder};
use super::{GetNotice, PutNotice, Shared};

/// Future returned by [`put`](super::GenericQueue::put) on a [`Queue`](super::Queue),
/// [`LifoQueue`](super::LifoQueue) or [`PriorityQueue`](super::PriorityQueue).
///
/// ```
/// use std::time::Duration;
/// use ringloop::sync::Queue;
///
/// ringloop::run(async {
///     let q = Queue::new(1);
///     q.put("first").await.unwrap();
///     // A QueuePut is a future: with a deadline, dropping it means the item was not put.
///     let put = ringloop::timeout(Duration::from_millis(5), q.put("second")).await;
///     assert!(put.is_err());
///     assert_eq!(q.len(), 1);
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct QueuePut<T, O: QueueOrder<T> = FifoOrder<T>> {
    pub(super) shared: Rc<Shared<T, O>>,
    /// The item until it goes in (or the put fails).
    pub(super) item: Option<T>,
    /// Our putter entry, once we had to wait.
    pub(super) id: Option<WaiterId>,
}

// The item is only ever moved, never pinned, so the future may move freely.
impl<T, O: QueueOrder<T>> Unpin for QueuePut<T, O> {}

impl<T, O: QueueOrder<T>> Future for QueuePut<T, O> {
    type Output = Result<(), QueueClosed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut wakers = WakeSet::new();
        let item = this.item.take().expect("QueuePut polled after completion");
        let (result, left_zero) = {
            let mut state = this.shared.state.borrow_mut();
            let admitted = match &this.id {
                None if state.closed => false,
                None if state.has_room() => true,
                None => {
                    this.id = Some(state.putters.push(cx.waker().clone()));
                    this.item = Some(item);
                    return Poll::Pending;
                }
                Some(id) => match state.putters.take_notice(id) {
                    None => {
                        state.putters.update_waker(id, cx.waker());
                        this.item = Some(item);
                        return Poll::Pending;
                    }
                    Some(PutNotice::Slot) => {
                        this.id = None;
                        state.reserved -= 1;
                        // Closed after our slot was reserved: the put still fails.
                        !state.closed
                    }
                    Some(PutNotice::Closed) => {
                        this.id = None;
                        false
                    }
                },
            };
            if admitted {
                (Ok(()), state.enqueue(item, &mut wakers))
            } else {
                // Drop the item only after the borrow is released (see below).
                this.item = Some(item);
                (Err(QueueClosed), false)
            }
        };
        drop(this.item.take());
        if left_zero {
            this.shared.finished.clear();
        }
        wakers.wake_all();
        Poll::Ready(result)
    }
}

impl<T, O: QueueOrder<T>> Drop for QueuePut<T, O> {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        let mut wakers = WakeSet::new();
        {
            let mut state = self.shared.state.borrow_mut();
            if let Some(PutNotice::Slot) = state.putters.remove(id) {
                // A slot was reserved for us: give it to the next putter.
                state.reserved -= 1;
                state.admit_putters(&mut wakers);
            }
        }
        wakers.wake_all();
        // `self.item` drops after this, with no borrow held.
    }
}

impl<T, O: QueueOrder<T>> fmt::Debug for QueuePut<T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueuePut")
            .field("waiting", &self.id.is_some())
            .field("done", &self.item.is_none())
            .finish()
    }
}

/// Future returned by [`get`](super::GenericQueue::get) on a [`Queue`](super::Queue),
/// [`LifoQueue`](super::LifoQueue) or [`PriorityQueue`](super::PriorityQueue).
///
/// ```
/// use std::time::Duration;
/// use ringloop::sync::Queue;
///
/// ringloop::run(async {
///     let q: Queue<u32> = Queue::unbounded();
///     // Poll for work with a deadline: the dropped QueueGet loses nothing.
///     let got = ringloop::timeout(Duration::from_millis(5), q.get()).await;
///     assert!(got.is_err());
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct QueueGet<T, O: QueueOrder<T> = FifoOrder<T>> {
    pub(super) shared: Rc<Shared<T, O>>,
    /// Our getter entry, once we had to wait.
    pub(super) id: Option<WaiterId>,
    pub(super) done: bool,
}

impl<T, O: QueueOrder<T>> Future for QueueGet<T, O> {
    type Output = Result<T, QueueClosed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        assert!(!this.done, "QueueGet polled after completion");
        let mut wakers = WakeSet::new();
        let result = {
            let mut state = this.shared.state.borrow_mut();
            match &this.id {
                None => match state.pop(&mut wakers) {
                    Some(item) => Ok(item),
                    None if state.closed => Err(QueueClosed),
                    None => {
                        this.id = Some(state.getters.push(cx.waker().clone()));
                        return Poll::Pending;
                    }
                },
                Some(id) => match state.getters.take_notice(id) {
                    None => {
                        state.getters.update_waker(id, cx.waker());
                        return Poll::Pending;
                    }
                    Some(GetNotice::Item(item)) => {
                        this.id = None;
                        state.handed -= 1;
                        state.admit_putters(&mut wakers);
                        Ok(item)
                    }
                    Some(GetNotice::Closed) => {
                        this.id = None;
                        // A dropped getter may have given an item back since.
                        state.pop(&mut wakers).ok_or(QueueClosed)
                    }
                },
            }
        };
        this.done = true;
        wakers.wake_all();
        Poll::Ready(result)
    }
}

impl<T, O: QueueOrder<T>> Drop for QueueGet<T, O> {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        let mut wakers = WakeSet::new();
        {
            let mut state = self.shared.state.borrow_mut();
            if let Some(GetNotice::Item(item)) = state.getters.remove(id) {
                // We were handed an item but never ran: the next getter gets it, or
                // it goes back into the queue as its oldest item.
                state.give_back(item, &mut wakers);
            }
        }
        wakers.wake_all();
    }
}

impl<T, O: QueueOrder<T>> fmt::Debug for QueueGet<T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueGet")
            .field("waiting", &self.id.is_some())
            .field("done", &self.done)
            .finish()
    }
}

/// Future returned by [`join`](super::GenericQueue::join) on a [`Queue`](super::Queue),
/// [`LifoQueue`](super::LifoQueue) or [`PriorityQueue`](super::PriorityQueue).
///
/// ```
/// use std::time::Duration;
/// use ringloop::sync::Queue;
///
/// ringloop::run(async {
///     let q = Queue::unbounded();
///     q.put("never processed").await.unwrap();
///     // Wait for the workers at most 5 ms.
///     let finished = ringloop::timeout(Duration::from_millis(5), q.join()).await;
///     assert!(finished.is_err());
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct QueueJoin {
    pub(super) wait: EventWait,
}

impl Future for QueueJoin {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.wait).poll(cx)
    }
}
