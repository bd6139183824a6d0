//! Every libc call ringloop makes, behind one [`syscall!`] helper.
//!
//! The rest of the crate never touches `libc` directly: it calls the small safe
//! wrappers here, which turn `-1` + `errno` into [`io::Error`] in exactly one place.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Calls a libc function and maps a `-1` return to the thread's `errno` as an
/// [`io::Error`].
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: each call site passes arguments that satisfy the documented contract
        // of the libc function named here; see the wrapper around it.
        let res = unsafe { libc::$fn($($arg),*) };
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}

/// A result as an io_uring completion reports it (and ringloop's own operation
/// wrappers, see [`as_result`]): non-negative is the value, `-errno` a failure. The one
/// place such a result becomes an [`io::Error`].
pub(crate) fn result(res: i32) -> io::Result<u32> {
    if res < 0 {
        Err(io::Error::from_raw_os_error(-res))
    } else {
        Ok(res as u32)
    }
}

/// Runs a syscall wrapper and reports its outcome as a completion would: the value, or
/// `-errno`; `EINTR` is retried. The one place an [`io::Error`] becomes such a result.
pub(crate) fn as_result<T: TryInto<i32>>(mut call: impl FnMut() -> io::Result<T>) -> i32 {
    loop {
        match call() {
            Ok(n) => return n.try_into().unwrap_or(i32::MAX),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return -e.raw_os_error().unwrap_or(libc::EIO),
        }
    }
}

pub(crate) mod epoll;
pub(crate) mod fs;
pub(crate) mod net;
pub(crate) mod process;
pub(crate) mod signal;

/// Creates a nonblocking, close-on-exec eventfd with a zero counter.
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    let fd = syscall!(eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK))?;
    // SAFETY: `eventfd` just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Adds one to an eventfd's counter, waking whoever waits on it.
///
/// A full counter (`EAGAIN`) already means "a wake-up is pending", so it is success.
pub(crate) fn eventfd_signal(fd: &OwnedFd) -> io::Result<()> {
    let one: u64 = 1;
    let ptr = (&one as *const u64).cast::<libc::c_void>();
    loop {
        match syscall!(write(fd.as_raw_fd(), ptr, 8)) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// Resets an eventfd's counter to zero. Returns whether it was signalled.
pub(crate) fn eventfd_drain(fd: &OwnedFd) -> io::Result<bool> {
    let mut value: u64 = 0;
    let ptr = (&mut value as *mut u64).cast::<libc::c_void>();
    loop {
        match syscall!(read(fd.as_raw_fd(), ptr, 8)) {
            Ok(_) => return Ok(true),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
    }
}

/// Pins the calling thread to CPU `cpu` (`sched_setaffinity`).
pub(crate) fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "CPU {cpu} is past the largest CPU set ({})",
                libc::CPU_SETSIZE
            ),
        ));
    }
    // SAFETY: an all-zero `cpu_set_t` is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` is below `CPU_SETSIZE` (checked above), so the bit is inside `set`.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // `set` is a valid CPU set of `size` bytes; pid 0 is the calling thread.
    syscall!(sched_setaffinity(0, size, &set))?;
    Ok(())
}

/// Asks the CPU to start loading the cache line at `ptr` (a hint: it never faults, so
/// any address will do, dangling or null). The loop prefetches the next task node or
/// timer entry it will touch while it works on the current one: with many tasks or
/// timers their memory is cold, and a miss costs as much as a task step.
#[inline(always)]
pub(crate) fn prefetch<T>(ptr: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: `prefetch` is a hint that reads nothing architecturally and cannot
        // fault, whatever the address; SSE is part of the x86_64 baseline.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(ptr.cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eventfd_signal_then_drain_reports_once() {
        let fd = eventfd().unwrap();
        assert!(!eventfd_drain(&fd).unwrap());
        eventfd_signal(&fd).unwrap();
        eventfd_signal(&fd).unwrap();
        assert!(eventfd_drain(&fd).unwrap());
        assert!(!eventfd_drain(&fd).unwrap());
    }
}
