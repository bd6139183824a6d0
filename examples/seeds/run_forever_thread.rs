//! A loop that runs forever on its own thread, steered from the main thread.
//!
//! A background thread builds an event loop, spawns a heartbeat task on it (a task that
//! never ends on its own) and calls [`ringloop::EventLoop::run_forever`]. An
//! `EventLoop` cannot leave the thread that made it, so the thread hands the main
//! thread a [`ringloop::Remote`] instead: the part of a loop other threads may hold.
//!
//! The main thread waits for a few heartbeats, to be sure the loop is up, then uses the
//! remote twice: [`Remote::call_soon_threadsafe`] to have a few closures run on the loop
//! thread, and [`Remote::stop`] to make `run_forever` return. Messages from one thread
//! arrive in the order they were sent, so the closures run before the stop takes
//! effect. When `run_forever` returns the thread drops its loop, which closes it: the
//! heartbeat task is dropped where it sleeps, and the remote reports the loop as
//! closed and refuses new work from then on.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::Duration;

use ringloop::{Closed, EventLoop, Remote};

use super::Narrator;

/// The heartbeat's period.
pub const BEAT: Duration = Duration::from_millis(5);

/// How many heartbeats the main thread waits for before it steers the loop.
pub const BEATS_BEFORE_STEERING: u32 = 3;

/// How many closures the main thread sends to the loop.
pub const CALLS: u32 = 3;

/// What happened.
#[derive(Debug)]
pub struct Outcome {
    /// The numbers of the closures sent with `call_soon_threadsafe`, in the order they
    /// ran, and the thread each ran on.
    pub calls: Vec<(u32, ThreadId)>,
    /// The loop's thread.
    pub loop_thread: ThreadId,
    /// How many heartbeats the loop got through before it stopped.
    pub beats: u32,
    /// Whether the remote said the loop was closed once its thread had ended.
    pub closed_afterwards: bool,
    /// What `call_soon_threadsafe` said once the loop was closed.
    pub late_call: Result<(), Closed>,
}

/// Runs the loop thread and steers it from the calling thread.
pub fn run(say: &Narrator) -> Outcome {
    let (remote_tx, remote_rx) = mpsc::channel::<Remote>();
    let (beat_tx, beat_rx) = mpsc::channel::<u32>();

    let loop_say = say.clone();
    let loop_thread = thread::Builder::new()
        .name("ringloop-forever".into())
        .spawn(move || {
            let event_loop = EventLoop::new().expect("an event loop can be created here");
            let beats = Rc::new(Cell::new(0));
            // Detached: the task runs until the loop is closed under it.
            drop(event_loop.spawn(heartbeat(beats.clone(), beat_tx, loop_say.clone())));
            remote_tx
                .send(event_loop.remote())
                .expect("the main thread waits for the remote");
            event_loop.run_forever();
            loop_say.say(format!(
                "loop thread: run_forever returned after {} heartbeats",
                beats.get()
            ));
            (thread::current().id(), beats.get())
            // `event_loop` is dropped here, which closes it.
        })
        .expect("a thread can be started");

    let remote = remote_rx
        .recv()
        .expect("the loop thread sends its remote before it runs");
    for _ in 0..BEATS_BEFORE_STEERING {
        beat_rx
            .recv()
            .expect("the heartbeat runs until the loop stops");
    }

    let calls = Arc::new(Mutex::new(Vec::new()));
    for number in 1..=CALLS {
        let calls = calls.clone();
        let say = say.clone();
        remote
            .call_soon_threadsafe(move || {
                say.say(format!("loop thread: running closure {number} from main"));
                calls
                    .lock()
                    .expect("nothing panics while holding this lock")
                    .push((number, thread::current().id()));
            })
            .expect("the loop is still running");
    }
    say.say("main thread: closures sent; asking the loop to stop");
    remote.stop();

    let (loop_thread, beats) = loop_thread.join().expect("the loop thread does not panic");
    let closed_afterwards = remote.is_closed();
    let late_call = remote.call_soon_threadsafe(|| {});
    say.say(format!(
        "main thread: loop thread joined; loop closed: {closed_afterwards}; \
         a call sent now gets {late_call:?}"
    ));

    let calls = std::mem::take(&mut *calls.lock().expect("no panics while locked"));
    Outcome {
        calls,
        loop_thread,
        beats,
        closed_afterwards,
        late_call,
    }
}

/// Beats forever: counts, tells the main thread, sleeps.
async fn heartbeat(beats: Rc<Cell<u32>>, beat_tx: mpsc::Sender<u32>, say: Narrator) {
    loop {
        beats.set(beats.get() + 1);
        say.say(format!("loop thread: heartbeat {}", beats.get()));
        // The main thread stops listening once it has seen enough; that is fine.
        let _ = beat_tx.send(beats.get());
        ringloop::sleep(BEAT).await;
    }
}
