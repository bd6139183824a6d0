//! Signals: one process-wide handler per signal, and the listeners it wakes.
//!
//! A loop that wants a signal owns a [`Listener`] (an eventfd) and asks it to
//! [`listen`](Listener::listen) for the signal. The first listener for a signal in the
//! process installs [`on_signal`] with `sigaction` (saving the disposition it replaces);
//! the last one to stop restores that disposition. The handler does three
//! async-signal-safe things only: it takes a sequence number, counts the delivery, and
//! writes 8 bytes to the eventfd of every listener of the signal. Everything else (what
//! a loop does about it) happens later, in normal code, when the loop wakes up: it reads
//! [`deliveries`] and compares with what it saw last.
//!
//! # Ground rules
//!
//! - The handler reads the listener table, never writes it, and takes no lock. The
//!   table is changed only by normal code, under [`INSTALLED`]'s lock.
//! - A descriptor leaves the table before it is closed, and [`Listener::unlisten`]
//!   returns only once no handler call that may have read it is still running (see
//!   [`Slot::running`]). So the handler never writes to a descriptor number that was
//!   closed and handed to something else.
//! - A delivery is counted *before* the listeners are woken, so a loop that drains its
//!   eventfd and then reads the counters has seen every delivery whose wake it drained.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};

use libc::c_int;

/// Signal numbers the table covers: 1 to 64 (Linux's `_NSIG` - 1 on every architecture
/// but MIPS).
const TABLE: usize = 65;

/// Loops (listeners) that may wait for one signal at the same time.
pub(crate) const MAX_LISTENERS: usize = 64;

/// A free entry of [`Slot::fds`].
const FREE: RawFd = -1;

/// One signal's entry in the process-wide table.
struct Slot {
    /// Deliveries so far: the handler adds one per call.
    delivered: AtomicU64,
    /// The process-wide sequence number ([`SEQUENCE`]) of the latest delivery.
    latest: AtomicU64,
    /// Handler calls for this signal that may still be reading `fds`.
    ///
    /// # Invariant
    ///
    /// The handler adds one before it reads `fds` and takes it back after its last
    /// write, so once an entry of `fds` is cleared and this reads 0, no handler call
    /// still holds the descriptor that was there.
    running: AtomicUsize,
    /// The eventfds of the listeners, [`FREE`] where none.
    fds: [AtomicI32; MAX_LISTENERS],
}

impl Slot {
    const fn new() -> Slot {
        Slot {
            delivered: AtomicU64::new(0),
            latest: AtomicU64::new(0),
            running: AtomicUsize::new(0),
            fds: [const { AtomicI32::new(FREE) }; MAX_LISTENERS],
        }
    }
}

static SLOTS: [Slot; TABLE] = [const { Slot::new() }; TABLE];

/// Orders deliveries of different signals: each handler call takes the next number.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// Per signal: how many listeners the process has, and the disposition the handler
/// replaced (while it is installed). Taken by normal code only, never by the handler.
static INSTALLED: Mutex<[Installed; TABLE]> = Mutex::new([const { Installed::NONE }; TABLE]);

#[derive(Clone, Copy)]
struct Installed {
    listeners: usize,
    previous: Option<libc::sigaction>,
}

impl Installed {
    const NONE: Installed = Installed {
        listeners: 0,
        previous: None,
    };
}

/// What the process has seen of one signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Deliveries {
    /// How many times the handler ran for it (since the process started).
    pub(crate) count: u64,
    /// The sequence number of its latest delivery: larger is later, over all signals.
    pub(crate) latest: u64,
}

/// What the process has seen of `signum` (which [`check`] accepted).
pub(crate) fn deliveries(signum: c_int) -> Deliveries {
    let slot = &SLOTS[signum as usize];
    // Read `count` first: a newer delivery may move `latest` past it, which only makes
    // the signal look later, never missed.
    let count = slot.delivered.load(Ordering::SeqCst);
    Deliveries {
        count,
        latest: slot.latest.load(Ordering::SeqCst),
    }
}

/// The process-wide handler. Async-signal-safe: atomics, `write(2)`, and `errno` saved
/// and restored around them; no allocation, no lock, no panic.
extern "C" fn on_signal(signum: c_int) {
    let Some(slot) = usize::try_from(signum).ok().and_then(|i| SLOTS.get(i)) else {
        return;
    };
    // SAFETY: `__errno_location` returns the calling thread's errno, valid for as long
    // as the thread lives.
    let errno = unsafe { *libc::__errno_location() };
    slot.running.fetch_add(1, Ordering::SeqCst);
    let sequence = SEQUENCE.fetch_add(1, Ordering::SeqCst) + 1;
    slot.latest.fetch_max(sequence, Ordering::SeqCst);
    slot.delivered.fetch_add(1, Ordering::SeqCst);
    let one: u64 = 1;
    for fd in &slot.fds {
        let fd = fd.load(Ordering::SeqCst);
        if fd != FREE {
            // SAFETY: `fd` is a listener's eventfd, open until its listener leaves the
            // table and sees `running` at 0 (the ground rules); `one` is 8 readable
            // bytes. A full counter (`EAGAIN`) already means "woken": nothing to do.
            unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
        }
    }
    slot.running.fetch_sub(1, Ordering::SeqCst);
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// The name of a signal (`SIGTERM`, `SIGRTMIN+3`), or `None` for a number that is none.
pub(crate) fn name(signum: c_int) -> Option<String> {
    let fixed = match signum {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSTKFLT => "SIGSTKFLT",
        libc::SIGCHLD => "SIGCHLD",
        libc::SIGCONT => "SIGCONT",
        libc::SIGSTOP => "SIGSTOP",
        libc::SIGTSTP => "SIGTSTP",
        libc::SIGTTIN => "SIGTTIN",
        libc::SIGTTOU => "SIGTTOU",
        libc::SIGURG => "SIGURG",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGVTALRM => "SIGVTALRM",
        libc::SIGPROF => "SIGPROF",
        libc::SIGWINCH => "SIGWINCH",
        libc::SIGIO => "SIGIO",
        libc::SIGPWR => "SIGPWR",
        libc::SIGSYS => "SIGSYS",
        _ => {
            let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
            return (min..=max)
                .contains(&signum)
                .then(|| format!("SIGRTMIN+{}", signum - min))
                .or_else(|| {
                    (32..min)
                        .contains(&signum)
                        .then(|| format!("signal {signum}"))
                });
        }
    };
    Some(fixed.to_string())
}

/// Refuses, with [`io::ErrorKind::InvalidInput`] and a message naming it, a number that
/// is not a signal, a signal that cannot be caught (`SIGKILL`, `SIGSTOP`), one that
/// reports a fault of the thread that receives it (`SIGSEGV`, `SIGBUS`, `SIGFPE`,
/// `SIGILL`: a handler that runs later, on a loop, cannot deal with it), and the
/// real-time signals the C library keeps for itself.
pub(crate) fn check(signum: c_int) -> io::Result<()> {
    let invalid = |msg: String| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX().min(TABLE as c_int - 1));
    if signum <= 0 || signum > max {
        return invalid(format!(
            "{signum} is not a signal number (signals are 1 to {max})"
        ));
    }
    let name = name(signum).unwrap_or_else(|| format!("signal {signum}"));
    match signum {
        libc::SIGKILL | libc::SIGSTOP => {
            invalid(format!("{name} ({signum}) cannot be caught or handled"))
        }
        libc::SIGSEGV | libc::SIGBUS | libc::SIGFPE | libc::SIGILL => invalid(format!(
            "{name} ({signum}) reports a fault of the thread that receives it: a handler \
             that runs later, on an event loop, cannot handle it"
        )),
        32.. if signum < min => invalid(format!(
            "{name} is reserved by the C library (real-time signals start at SIGRTMIN = {min})"
        )),
        _ => Ok(()),
    }
}

/// An eventfd the process-wide handler writes to for each signal it listens for.
///
/// Dropping it stops every listen (restoring a signal's previous disposition if it was
/// the last listener) before the eventfd is closed.
pub(crate) struct Listener {
    fd: OwnedFd,
    /// The signals listened for, and the entry of [`Slot::fds`] each one holds.
    entries: Vec<(c_int, usize)>,
}

impl Listener {
    /// A listener that listens for nothing yet.
    pub(crate) fn new() -> io::Result<Listener> {
        Ok(Listener {
            fd: super::eventfd()?,
            entries: Vec::new(),
        })
    }

    /// The eventfd to wait on for readability.
    pub(crate) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Resets the eventfd; whether it was signalled.
    pub(crate) fn drain(&self) -> io::Result<bool> {
        super::eventfd_drain(&self.fd)
    }

    /// Starts listening for `signum` (which [`check`] accepted): from now on each
    /// delivery signals the eventfd. The first listener in the process installs the
    /// handler. Listening twice for one signal is listening once.
    pub(crate) fn listen(&mut self, signum: c_int) -> io::Result<()> {
        check(signum)?;
        if self.entries.iter().any(|&(s, _)| s == signum) {
            return Ok(());
        }
        let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
        let slot = &SLOTS[signum as usize];
        let Some(index) = slot
            .fds
            .iter()
            .position(|fd| fd.load(Ordering::SeqCst) == FREE)
        else {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!(
                    "{MAX_LISTENERS} event loops already listen for {}: no room for another",
                    name(signum).unwrap_or_default()
                ),
            ));
        };
        let entry = &mut installed[signum as usize];
        if entry.listeners == 0 {
            entry.previous = Some(install(signum)?);
        }
        entry.listeners += 1;
        // Published after the handler is in place; the table lock keeps the entry ours.
        slot.fds[index].store(self.fd.as_raw_fd(), Ordering::SeqCst);
        self.entries.push((signum, index));
        Ok(())
    }

    /// Stops listening for `signum`. When this was the process's last listener for it,
    /// restores the disposition the handler replaced. Returns once the handler can no
    /// longer write to this listener's eventfd for `signum`.
    pub(crate) fn unlisten(&mut self, signum: c_int) {
        let Some(at) = self.entries.iter().position(|&(s, _)| s == signum) else {
            return;
        };
        let (_, index) = self.entries.swap_remove(at);
        let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
        let slot = &SLOTS[signum as usize];
        slot.fds[index].store(FREE, Ordering::SeqCst);
        // Handler calls that began before the store may still write to our descriptor:
        // wait them out (each is a handful of instructions and writes; see `running`).
        while slot.running.load(Ordering::SeqCst) != 0 {
            std::thread::yield_now();
        }
        let entry = &mut installed[signum as usize];
        entry.listeners -= 1;
        if entry.listeners == 0
            && let Some(previous) = entry.previous.take()
            && let Err(e) = restore(signum, &previous)
        {
            log::error!(
                "ringloop: cannot restore the disposition of {}: {e}",
                name(signum).unwrap_or_default()
            );
        }
    }

    /// Whether this listener listens for `signum`.
    #[cfg(test)]
    fn listens(&self, signum: c_int) -> bool {
        self.entries.iter().any(|&(s, _)| s == signum)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        while let Some(&(signum, _)) = self.entries.last() {
            self.unlisten(signum);
        }
        // `fd` closes after this, out of every table entry.
    }
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("fd", &self.fd.as_raw_fd())
            .field(
                "signals",
                &self.entries.iter().map(|&(s, _)| s).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Installs [`on_signal`] for `signum`; the disposition it replaced.
fn install(signum: c_int) -> io::Result<libc::sigaction> {
    // SAFETY: an all-zero `sigaction` is a valid value (SIG_DFL, empty mask, no flags).
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_signal as extern "C" fn(c_int) as libc::sighandler_t;
    // A plain handler (no SA_SIGINFO); interrupted syscalls of other code restart.
    action.sa_flags = libc::SA_RESTART;
    // SAFETY: `action.sa_mask` is a valid, writable sigset.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    // SAFETY: as above: all zeros is a valid `sigaction` to be overwritten.
    let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
    // `on_signal` is async-signal-safe; both pointers are valid for the call.
    syscall!(sigaction(signum, &action, &mut previous))?;
    Ok(previous)
}

/// Puts back a disposition [`install`] replaced.
fn restore(signum: c_int, previous: &libc::sigaction) -> io::Result<()> {
    // `previous` came from the kernel for this signal; the old action is not asked for.
    syscall!(sigaction(signum, previous, std::ptr::null_mut()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_refuses_what_cannot_be_handled_and_names_it() {
        for (signum, words) in [
            (0, "0 is not a signal number"),
            (-3, "-3 is not a signal number"),
            (libc::SIGRTMAX() + 1, "is not a signal number"),
            (libc::SIGKILL, "SIGKILL (9) cannot be caught"),
            (libc::SIGSTOP, "SIGSTOP (19) cannot be caught"),
            (libc::SIGSEGV, "SIGSEGV (11) reports a fault"),
            (32, "signal 32 is reserved by the C library"),
        ] {
            let err = check(signum).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{signum}");
            assert!(err.to_string().contains(words), "{signum}: {err}");
        }
        for signum in [libc::SIGINT, libc::SIGTERM, libc::SIGCHLD, libc::SIGRTMAX()] {
            check(signum).unwrap();
        }
    }

    #[test]
    fn names() {
        assert_eq!(name(libc::SIGTERM).as_deref(), Some("SIGTERM"));
        assert_eq!(name(libc::SIGRTMIN() + 2), Some(format!("SIGRTMIN+{}", 2)));
        assert_eq!(name(0), None);
        assert_eq!(name(1000), None);
    }

    /// Uses SIGRTMAX - 1, which nothing else in the unit tests touches.
    #[test]
    fn a_delivery_is_counted_and_wakes_each_listener_until_it_stops() {
        let signum = libc::SIGRTMAX() - 1;
        let (mut a, mut b) = (Listener::new().unwrap(), Listener::new().unwrap());
        a.listen(signum).unwrap();
        a.listen(signum).unwrap();
        b.listen(signum).unwrap();
        assert!(a.listens(signum) && b.listens(signum));
        let before = deliveries(signum);
        // SAFETY: `raise` has no preconditions; the handler is installed for `signum`.
        assert_eq!(unsafe { libc::raise(signum) }, 0);
        let after = deliveries(signum);
        assert_eq!(after.count, before.count + 1);
        assert!(after.latest > before.latest);
        assert!(a.drain().unwrap() && b.drain().unwrap());
        b.unlisten(signum);
        // SAFETY: as above; `a` still listens, so the handler is still installed.
        assert_eq!(unsafe { libc::raise(signum) }, 0);
        assert!(a.drain().unwrap());
        assert!(!b.drain().unwrap(), "b stopped listening");
        drop(a);
        let installed = INSTALLED.lock().unwrap();
        assert_eq!(installed[signum as usize].listeners, 0);
        assert!(installed[signum as usize].previous.is_none());
    }
}
