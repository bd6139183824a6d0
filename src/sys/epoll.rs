//! epoll: the instance, its interest list, and waiting. (The socket calls the epoll
//! backend runs operations with live in `net.rs`.)

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Events every descriptor is registered for, once: both directions, peer half-close,
/// edge-triggered.
pub(crate) const INTEREST: u32 =
    (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;

/// A new close-on-exec epoll instance.
pub(crate) fn create() -> io::Result<OwnedFd> {
    let fd = syscall!(epoll_create1(libc::EPOLL_CLOEXEC))?;
    // SAFETY: `epoll_create1` just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn ctl(ep: &OwnedFd, op: libc::c_int, fd: RawFd, events: u32) -> io::Result<()> {
    let mut event = libc::epoll_event {
        events,
        u64: fd as u64,
    };
    syscall!(epoll_ctl(ep.as_raw_fd(), op, fd, &mut event))?;
    Ok(())
}

/// Adds `fd` to the interest list, its events tagged with the descriptor number.
pub(crate) fn add(ep: &OwnedFd, fd: RawFd, events: u32) -> io::Result<()> {
    ctl(ep, libc::EPOLL_CTL_ADD, fd, events)
}

/// Re-arms `fd`'s registration (`ENOENT` when it has none).
pub(crate) fn modify(ep: &OwnedFd, fd: RawFd, events: u32) -> io::Result<()> {
    ctl(ep, libc::EPOLL_CTL_MOD, fd, events)
}

/// Removes `fd` from the interest list.
pub(crate) fn delete(ep: &OwnedFd, fd: RawFd) -> io::Result<()> {
    ctl(ep, libc::EPOLL_CTL_DEL, fd, 0)
}

/// Waits up to `timeout_ms` (-1: forever) and fills `events` (its spare capacity) with
/// what is ready. A signal ends the wait with no events.
pub(crate) fn wait(
    ep: &OwnedFd,
    events: &mut Vec<libc::epoll_event>,
    timeout_ms: libc::c_int,
) -> io::Result<()> {
    events.clear();
    let room = events.capacity().min(libc::c_int::MAX as usize) as libc::c_int;
    let n = syscall!(epoll_wait(
        ep.as_raw_fd(),
        events.as_mut_ptr(),
        room,
        timeout_ms
    ));
    set_ready(events, n)
}

/// As [`wait`], with a nanosecond timeout (`None`: forever), through `epoll_pwait2`
/// (Linux 5.11). Called as a raw syscall, so an older C library does not matter; an
/// older kernel (or a seccomp filter) answers `ENOSYS` or `EPERM`.
pub(crate) fn pwait2(
    ep: &OwnedFd,
    events: &mut Vec<libc::epoll_event>,
    timeout: Option<Duration>,
) -> io::Result<()> {
    events.clear();
    let room = events.capacity().min(libc::c_int::MAX as usize) as libc::c_int;
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as _,
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |ts| ts as *const libc::timespec);
    let n = syscall!(syscall(
        libc::SYS_epoll_pwait2,
        ep.as_raw_fd(),
        events.as_mut_ptr(),
        room,
        ts_ptr,
        std::ptr::null::<libc::sigset_t>(),
        0usize
    ));
    set_ready(events, n.map(|n| n as libc::c_int))
}

fn set_ready(events: &mut Vec<libc::epoll_event>, n: io::Result<libc::c_int>) -> io::Result<()> {
    match n {
        Ok(n) => {
            let n = (n.max(0) as usize).min(events.capacity());
            // SAFETY: the kernel initialized the first `n` entries (it never reports more
            // than the `maxevents` it was given, the capacity).
            unsafe { events.set_len(n) };
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
        Err(e) => Err(e),
    }
}

/// Resets an eventfd's counter (the loop's wake-up descriptor).
pub(crate) fn eventfd_read(fd: RawFd) {
    let mut value: u64 = 0;
    let ptr = (&mut value as *mut u64).cast::<libc::c_void>();
    // An empty counter (`EAGAIN`) or a signal leaves nothing to do: the next write
    // raises a new edge.
    let _ = syscall!(read(fd, ptr, 8));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_eventfd_write_is_reported_and_drained() {
        let ep = create().unwrap();
        let efd = crate::sys::eventfd().unwrap();
        add(&ep, efd.as_raw_fd(), INTEREST).unwrap();
        let mut events = Vec::with_capacity(8);
        // Registration reports the writable edge.
        wait(&ep, &mut events, 0).unwrap();
        assert_eq!(events.len(), 1);
        wait(&ep, &mut events, 0).unwrap();
        assert!(events.is_empty(), "edge-triggered: reported once");
        crate::sys::eventfd_signal(&efd).unwrap();
        wait(&ep, &mut events, 0).unwrap();
        assert_eq!(events.len(), 1);
        assert_ne!(events[0].events & libc::EPOLLIN as u32, 0);
        eventfd_read(efd.as_raw_fd());
        assert!(!crate::sys::eventfd_drain(&efd).unwrap());
    }

    #[test]
    fn pwait2_times_out_no_earlier_than_asked() {
        let ep = create().unwrap();
        let mut events = Vec::with_capacity(8);
        let start = std::time::Instant::now();
        match pwait2(&ep, &mut events, Some(Duration::from_micros(1500))) {
            Ok(()) => assert!(start.elapsed() >= Duration::from_micros(1500)),
            Err(e) => assert!(matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM))),
        }
        assert!(events.is_empty());
    }
}
