//! Unix signals as loop events: [`ctrl_c`] and [`Signals`], usable from tasks on any
//! loop (and [`EventLoop::add_signal_handler`] for callbacks).
//!
//! ```no_run
//! use ringloop::signal::{SIGHUP, SIGTERM, Signals};
//!
//! ringloop::run(async {
//!     let mut signals = Signals::new(&[SIGTERM, SIGHUP])?;
//!     while let Some(signum) = signals.recv().await {
//!         if signum == SIGHUP {
//!             println!("reloading the configuration");
//!         } else {
//!             println!("shutting down");
//!             break;
//!         }
//!     }
//!     Ok::<(), std::io::Error>(())
//! })
//! .unwrap();
//! ```
//!
//! # How signals arrive
//!
//! The first listener for a signal in the process installs one process-wide handler for
//! it (`sigaction`, `SA_RESTART`), which does only what is safe inside a signal handler:
//! it counts the delivery and writes to an eventfd of each loop that listens. A loop
//! waits on its eventfd like on any descriptor (a readiness wait on io_uring or epoll)
//! and, when it wakes, runs the handlers and wakes the [`Signals`] of the signals whose
//! count moved. Nothing of yours runs inside the signal handler, on any thread.
//!
//! This works whatever the threads of the process do with their signal masks, with
//! several loops on several threads (each gets every signal it listens for), and with
//! code that is not ringloop's; it needs no signal to be blocked anywhere, which a
//! library cannot promise (`signalfd` would).
//!
//! While anything listens for a signal, its default action (for most, ending the
//! process) does not happen; when the last listener goes, the disposition the signal
//! had before is restored. ringloop installs no handler for a signal you did not ask
//! for (no `SIGCHLD` handler, in particular).
//!
//! # Coalescing
//!
//! A signal that arrives several times before its loop looks is seen once, as the
//! kernel itself merges a standard signal that is already pending. Signals of different
//! numbers are reported in the order of their (latest) arrival.
//!
//! # Which signals
//!
//! Any signal from 1 to `SIGRTMAX` but `SIGKILL` and `SIGSTOP` (no process can catch
//! them), `SIGSEGV`, `SIGBUS`, `SIGFPE` and `SIGILL` (they report a fault of the thread
//! that receives them, which a handler running later on a loop cannot deal with), and
//! the real-time signals the C library keeps for itself (32 and 33 with glibc). Others
//! are refused with [`io::ErrorKind::InvalidInput`] and a message naming the signal.
//!
//! [`EventLoop::add_signal_handler`]: crate::EventLoop::add_signal_handler

#![forbid(unsafe_code)]

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::task::{Context, Poll};

use crate::event_loop::context::current_core;
use crate::event_loop::signals::{Subscription, subscribe};

use std::ffi::c_int;

pub use libc::{SIGALRM, SIGCHLD, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH};

/// Completes on the next `SIGINT` (Ctrl-C at a terminal) after it is first polled.
///
/// The future listens from its first poll on: a `SIGINT` that arrives before that is
/// not seen (and, with nothing else listening, ends the process as usual). While it
/// waits, `SIGINT` does not end the process; once it has completed or been dropped, and
/// nothing else listens for `SIGINT`, it ends the process again.
///
/// # Errors
///
/// If the loop cannot listen for signals (no eventfd could be created, 64 loops
/// already listen for `SIGINT`) or closes while waiting.
///
/// # Panics
///
/// When first polled outside a running ringloop loop.
///
/// # Example
///
/// ```no_run
/// ringloop::run(async {
///     let server = ringloop::spawn(async { /* serve */ });
///     ringloop::signal::ctrl_c().await?;
///     println!("Ctrl-C: shutting down");
///     server.cancel();
///     Ok::<(), std::io::Error>(())
/// })
/// .unwrap();
/// ```
pub async fn ctrl_c() -> io::Result<()> {
    let mut signals = Signals::new(&[libc::SIGINT])?;
    match signals.recv().await {
        Some(_) => Ok(()),
        None => Err(io::Error::other(
            "the event loop closed before SIGINT arrived",
        )),
    }
}

/// A stream of the signals in a set, on the running loop (tokio's `signal` and
/// signal-hook's `Signals`).
///
/// It listens from [`new`](Signals::new) on, until it is dropped. Each signal that
/// arrives is received once by [`recv`](Signals::recv), in order of arrival; see the
/// [module docs](self) on coalescing. Several `Signals` (on one loop or on several) may
/// listen for the same signal: each receives it.
///
/// It belongs to the loop it was made on (it is `!Send`); it may be moved between
/// tasks of that loop.
///
/// # Example
///
/// ```
/// use ringloop::signal::{SIGUSR1, SIGUSR2, Signals};
///
/// ringloop::run(async {
///     let mut signals = Signals::new(&[SIGUSR1, SIGUSR2])?;
///     // SAFETY: `raise` has no preconditions; both signals are listened for.
///     unsafe { libc::raise(SIGUSR2) };
///     // SAFETY: as above.
///     unsafe { libc::raise(SIGUSR1) };
///     assert_eq!(signals.recv().await, Some(SIGUSR2));
///     assert_eq!(signals.recv().await, Some(SIGUSR1));
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Signals {
    subscription: Subscription,
}

impl Signals {
    /// Listens for `signals` on the running loop (duplicates count once).
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::InvalidInput`], naming the signal, for an empty list or a
    /// signal that cannot be listened for (see the [module docs](self#which-signals));
    /// an error if no eventfd can be created or 64 loops already listen for one of the
    /// signals.
    ///
    /// # Panics
    ///
    /// Outside a running ringloop loop.
    ///
    /// # Example
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use ringloop::signal::{SIGTERM, Signals};
    ///
    /// ringloop::run(async {
    ///     let _signals = Signals::new(&[SIGTERM])?;
    ///     let err = Signals::new(&[libc::SIGKILL]).unwrap_err();
    ///     assert_eq!(err.kind(), ErrorKind::InvalidInput);
    ///     assert!(err.to_string().contains("SIGKILL"));
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new(signals: &[c_int]) -> io::Result<Signals> {
        let core = current_core("ringloop::signal::Signals::new");
        Ok(Signals {
            subscription: subscribe(&core, signals)?,
        })
    }

    /// The next signal: waits until one arrives. `None` once the loop it belongs to has
    /// closed.
    ///
    /// Cancel-safe: dropping the future loses no signal; the next call receives it.
    ///
    /// ```no_run
    /// use ringloop::signal::{SIGTERM, Signals};
    ///
    /// ringloop::run(async {
    ///     let mut signals = Signals::new(&[SIGTERM])?;
    ///     signals.recv().await;
    ///     println!("terminating");
    ///     Ok::<(), std::io::Error>(())
    /// })
    /// .unwrap();
    /// ```
    pub async fn recv(&mut self) -> Option<c_int> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next signal, registering `cx`'s waker to be woken when one
    /// arrives (for hand-written futures and streams).
    ///
    /// ```
    /// use std::future::poll_fn;
    /// use ringloop::signal::{SIGUSR2, Signals};
    ///
    /// ringloop::run(async {
    ///     let mut signals = Signals::new(&[SIGUSR2])?;
    ///     // SAFETY: `raise` has no preconditions; SIGUSR2 is listened for.
    ///     unsafe { libc::raise(SIGUSR2) };
    ///     let signum = poll_fn(|cx| signals.poll_recv(cx)).await;
    ///     assert_eq!(signum, Some(SIGUSR2));
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<c_int>> {
        self.subscription.poll_recv(cx)
    }

    /// The signals listened for, without duplicates.
    ///
    /// ```
    /// use ringloop::signal::{SIGHUP, SIGTERM, Signals};
    ///
    /// ringloop::run(async {
    ///     let signals = Signals::new(&[SIGTERM, SIGHUP, SIGTERM])?;
    ///     assert_eq!(signals.signals(), &[SIGTERM, SIGHUP]);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn signals(&self) -> &[c_int] {
        self.subscription.signals()
    }
}

impl fmt::Debug for Signals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signals")
            .field("subscription", &self.subscription)
            .finish()
    }
}
