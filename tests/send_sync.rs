//! Which types may cross threads, checked at compile time: a change that made a
//! loop-bound type `Send` (or a cross-thread handle `!Send`) fails to build this file.
//!
//! `EventLoop`, `Task` and the `sync` primitives belong to one loop's thread (they hold
//! `Rc`s and the loop's single-threaded state); `Remote` and `Closed` are how other
//! threads reach a loop; listeners and UDP sockets may be bound on one thread and moved
//! to the loop thread that serves them.

use ringloop::net::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
use ringloop::sync::{
    Barrier, BoundedSemaphore, Condition, Event, LifoQueue, Lock, PriorityQueue, Queue, Semaphore,
};
use ringloop::{Closed, EventLoop, Remote, Task};

/// Fails to compile for a `Send` type: both impls then apply and `is_not_send` is
/// ambiguous (the trick of the `static_assertions` crate, written out).
trait NotSend<A> {
    fn is_not_send() {}
}
impl<T: ?Sized> NotSend<()> for T {}
impl<T: ?Sized + Send> NotSend<u8> for T {}

macro_rules! assert_not_send {
    ($($t:ty),* $(,)?) => {
        $( let _ = <$t as NotSend<_>>::is_not_send; )*
    };
}

fn assert_send_sync<T: Send + Sync>() {}
fn assert_send<T: Send>() {}

#[test]
fn loop_bound_types_are_not_send_and_handles_are() {
    assert_not_send!(
        EventLoop,
        Task<()>,
        Event,
        Lock,
        Queue<u32>,
        LifoQueue<u32>,
        PriorityQueue<u32>,
        Semaphore,
        BoundedSemaphore,
        Condition,
        Barrier,
        TcpStream,
        UnixStream,
    );
    assert_send_sync::<Remote>();
    assert_send_sync::<Closed>();
    assert_send::<TcpListener>();
    assert_send::<UnixListener>();
    assert_send::<UdpSocket>();
    assert_send_sync::<ringloop::sync::oneshot::Sender<String>>();
    assert_send_sync::<ringloop::sync::oneshot::Receiver<String>>();
    assert_send_sync::<ringloop::RemoteTask<String>>();
}
