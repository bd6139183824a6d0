//! Signals without `SA_RESTART`, sending signals, reading a signal's disposition and
//! the thread's mask, `fork`, and waiting for a child, so the signal and fork tests
//! (`tests/signals_fork.rs`, `tests/signals.rs`) stay free of `unsafe` but for the
//! `fork` itself.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Signals caught by [`install_noop_handler`]'s handler, over all signal numbers.
static HANDLED: AtomicUsize = AtomicUsize::new(0);

extern "C" fn count_signal(_signo: libc::c_int) {
    // An atomic add is async-signal-safe.
    HANDLED.fetch_add(1, Ordering::Relaxed);
}

/// Installs, for `signo`, a handler that only counts, *without* `SA_RESTART`: a
/// blocking syscall interrupted by the signal fails with `EINTR` instead of restarting.
pub fn install_noop_handler(signo: i32) -> io::Result<()> {
    // SAFETY: an all-zero `sigaction` is a valid value (empty mask, no flags).
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = count_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    action.sa_flags = 0;
    // SAFETY: `action.sa_mask` is a valid, writable sigset.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    // The handler only touches an atomic, so it is async-signal-safe; `action` is valid
    // for the call and the old action is not asked for.
    syscall!(sigaction(signo, &action, std::ptr::null_mut()))?;
    Ok(())
}

/// How many signals the handler of [`install_noop_handler`] has caught.
pub fn signals_handled() -> usize {
    HANDLED.load(Ordering::Relaxed)
}

/// The calling thread's kernel id, for [`signal_thread`].
pub fn gettid() -> i32 {
    // SAFETY: `gettid` has no preconditions and cannot fail.
    unsafe { libc::gettid() }
}

/// Sends `signo` to thread `tid` of this process.
pub fn signal_thread(tid: i32, signo: i32) -> io::Result<()> {
    // SAFETY: `getpid` has no preconditions.
    let pid = unsafe { libc::getpid() };
    syscall!(syscall(libc::SYS_tgkill, pid, tid, signo))?;
    Ok(())
}

/// Sends `signo` to process `pid` (`kill(2)`).
pub fn signal_process(pid: u32, signo: i32) -> io::Result<()> {
    syscall!(kill(pid as libc::pid_t, signo))?;
    Ok(())
}

/// Sends `signo` to this process as a whole (`kill(getpid(), signo)`): the kernel
/// picks the thread that runs the handler, as for a signal from outside.
pub fn signal_self(signo: i32) -> io::Result<()> {
    signal_process(std::process::id(), signo)
}

/// What a process does with a signal: its disposition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// `SIG_DFL`: the signal's default action.
    Default,
    /// `SIG_IGN`: ignored.
    Ignore,
    /// A handler function.
    Handler,
}

/// The disposition of `signo` in this process (`sigaction` with no new action).
pub fn disposition(signo: i32) -> io::Result<Disposition> {
    // SAFETY: an all-zero `sigaction` is a valid value to be overwritten.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // No new action; `old` is valid and writable for the call.
    syscall!(sigaction(signo, std::ptr::null(), &mut old))?;
    Ok(match old.sa_sigaction {
        libc::SIG_DFL => Disposition::Default,
        libc::SIG_IGN => Disposition::Ignore,
        _ => Disposition::Handler,
    })
}

/// Whether `signo` is blocked in the calling thread's signal mask (as it is, among
/// others, while a handler for it runs on the thread).
pub fn is_blocked(signo: i32) -> bool {
    // SAFETY: an all-zero `sigset_t` is a valid value to be overwritten.
    let mut mask: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: no new mask is set; `mask` is valid and writable for the call.
    let res = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut mask) };
    assert_eq!(res, 0, "pthread_sigmask");
    // SAFETY: `mask` was filled in by the kernel above.
    unsafe { libc::sigismember(&mask, signo) == 1 }
}

/// `fork(2)`: the child's pid in the parent, 0 in the child. The child has only the
/// calling thread; it should build what it needs anew and leave with [`exit_child`].
///
/// # Safety
///
/// In the child, only the calling thread exists: a lock another thread held at the fork
/// (the allocator's, stdout's, a test harness's) stays held forever. The child must
/// touch nothing such a thread may have held, other than through what it builds anew,
/// and must leave through [`exit_child`], never by returning or unwinding into code
/// that the parent also runs.
pub unsafe fn fork() -> io::Result<u32> {
    let pid = syscall!(fork())?;
    Ok(pid as u32)
}

/// Ends a forked child at once (`_exit`): no destructors, no atexit handlers, no
/// flushing of buffers copied from the parent.
pub fn exit_child(code: i32) -> ! {
    // SAFETY: `_exit` has no preconditions and does not return.
    unsafe { libc::_exit(code) }
}

/// Waits for child `pid` to end (retrying on `EINTR`); its exit code, or 128 + the
/// signal that killed it.
pub fn wait_child(pid: u32) -> io::Result<i32> {
    let mut status = 0;
    loop {
        match syscall!(waitpid(pid as libc::pid_t, &mut status, 0)) {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    if libc::WIFEXITED(status) {
        Ok(libc::WEXITSTATUS(status))
    } else {
        Ok(128 + libc::WTERMSIG(status))
    }
}
