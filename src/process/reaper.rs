//! The orphan reaper: children dropped before they were waited for are reaped here, so
//! none is left a zombie.
//!
//! One thread, started with the first orphan, polls the orphans' pidfds (and an eventfd
//! that says a new orphan arrived) and reaps each as it exits. It never reaps a child it
//! was not given (no `waitpid(-1)`), so other code's children are left alone.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Mutex, OnceLock};

struct Orphans {
    /// New orphans, handed over by `adopt`.
    incoming: Mutex<Vec<(std::process::Child, OwnedFd)>>,
    /// Signalled when `incoming` grows.
    wake: OwnedFd,
}

static REAPER: OnceLock<Option<Orphans>> = OnceLock::new();

/// Takes `child` (whose pidfd is `pidfd`) to reap in the background.
pub(super) fn adopt(mut child: std::process::Child, pidfd: OwnedFd) {
    if let Ok(Some(_)) = child.try_wait() {
        return; // already exited: reaped now
    }
    let Some(orphans) = REAPER.get_or_init(start) else {
        // No reaper thread could start: reap with a thread of its own.
        let _ = std::thread::Builder::new()
            .name("ringloop-reap".into())
            .spawn(move || drop(child.wait()));
        return;
    };
    orphans
        .incoming
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((child, pidfd));
    let _ = crate::sys::eventfd_signal(&orphans.wake);
}

fn start() -> Option<Orphans> {
    let wake = crate::sys::eventfd().ok()?;
    let thread_wake = wake.try_clone().ok()?;
    std::thread::Builder::new()
        .name("ringloop-reaper".into())
        .spawn(move || reap_forever(thread_wake))
        .ok()?;
    Some(Orphans {
        incoming: Mutex::new(Vec::new()),
        wake,
    })
}

fn reap_forever(wake: OwnedFd) {
    let mut orphans: Vec<(std::process::Child, OwnedFd)> = Vec::new();
    loop {
        if let Some(reaper) = REAPER.get().and_then(Option::as_ref) {
            orphans.append(&mut reaper.incoming.lock().unwrap_or_else(|e| e.into_inner()));
        }
        orphans.retain_mut(|(child, _)| !matches!(child.try_wait(), Ok(Some(_)) | Err(_)));
        let mut fds = vec![wake.as_raw_fd()];
        fds.extend(orphans.iter().map(|(_, pidfd)| pidfd.as_raw_fd()));
        match crate::sys::process::poll_readable(&fds, -1) {
            Ok(ready) if ready[0] => {
                let _ = crate::sys::eventfd_drain(&wake);
            }
            Ok(_) => {}
            Err(e) => {
                log::error!("ringloop: the orphan reaper cannot poll: {e}");
                return;
            }
        }
    }
}
