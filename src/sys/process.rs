//! Process syscalls: a pidfd for a child (readable once it exits), and a poll over
//! several descriptors for the orphan reaper.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// `pidfd_open(2)`: a descriptor that becomes readable when process `pid` exits
/// (Linux 5.3). Close-on-exec, nonblocking.
pub(crate) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a process id out of range"))?;
    let fd = syscall!(syscall(libc::SYS_pidfd_open, pid, libc::PIDFD_NONBLOCK))?;
    // SAFETY: pidfd_open just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// poll(2) for readability of `fds`, waiting up to `timeout_ms` (-1: forever); which
/// are readable (or hung up). `EINTR` counts as "none yet".
pub(crate) fn poll_readable(fds: &[RawFd], timeout_ms: i32) -> io::Result<Vec<bool>> {
    let mut polls: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    match syscall!(poll(
        polls.as_mut_ptr(),
        polls.len() as libc::nfds_t,
        timeout_ms
    )) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
        Err(e) => return Err(e),
    }
    Ok(polls.iter().map(|p| p.revents != 0).collect())
}
