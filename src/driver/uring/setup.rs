//! Setting a ring up: the setup flags, tried from most to least wanted, and the check
//! that the kernel knows every opcode ringloop submits.

use std::io;

use io_uring::{IoUring, opcode};

/// Which setup flags the ring was built with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct SetupFlags {
    single_issuer: bool,
    defer_taskrun: bool,
    coop_taskrun: bool,
    /// `IORING_SETUP_SQPOLL`'s idle time in milliseconds (`Builder::sqpoll`).
    sqpoll_idle_ms: Option<u32>,
}

impl SetupFlags {
    /// From most to least wanted: each step drops one flag the kernel may not know.
    const LADDER: [SetupFlags; 4] = [
        SetupFlags {
            single_issuer: true,
            defer_taskrun: true,
            coop_taskrun: true,
            sqpoll_idle_ms: None,
        },
        SetupFlags {
            single_issuer: true,
            defer_taskrun: false,
            coop_taskrun: true,
            sqpoll_idle_ms: None,
        },
        SetupFlags {
            single_issuer: false,
            defer_taskrun: false,
            coop_taskrun: true,
            sqpoll_idle_ms: None,
        },
        SetupFlags {
            single_issuer: false,
            defer_taskrun: false,
            coop_taskrun: false,
            sqpoll_idle_ms: None,
        },
    ];

    fn build(self, entries: u32) -> io::Result<IoUring> {
        let mut builder = IoUring::builder();
        if let Some(idle) = self.sqpoll_idle_ms {
            builder.setup_sqpoll(idle);
        }
        if self.single_issuer {
            builder.setup_single_issuer();
        }
        if self.defer_taskrun {
            builder.setup_defer_taskrun();
        }
        if self.coop_taskrun {
            builder.setup_coop_taskrun().setup_taskrun_flag();
        }
        builder.build(entries)
    }
}

impl SetupFlags {
    /// The flags' names, `|`-separated, or `none`.
    pub(super) fn names(self) -> String {
        let mut flags = Vec::new();
        if self.single_issuer {
            flags.push("SINGLE_ISSUER");
        }
        if self.defer_taskrun {
            flags.push("DEFER_TASKRUN");
        }
        if self.coop_taskrun {
            flags.push("COOP_TASKRUN|TASKRUN_FLAG");
        }
        if self.sqpoll_idle_ms.is_some() {
            flags.push("SQPOLL");
        }
        if flags.is_empty() {
            "none".to_string()
        } else {
            flags.join("|")
        }
    }
}

/// Builds a ring of `entries` with the most wanted setup flags this kernel takes (and a
/// kernel polling thread idling after `sqpoll_idle`, when given).
pub(super) fn build_ring(
    entries: u32,
    sqpoll_idle: Option<std::time::Duration>,
) -> io::Result<(IoUring, SetupFlags)> {
    let mut last_err = None;
    let idle_ms = sqpoll_idle.map(|d| u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1));
    // With a polling thread the ladder starts lower: `DEFER_TASKRUN` does not go with
    // `SQPOLL`.
    let ladder = SetupFlags::LADDER
        .into_iter()
        .filter(|s| idle_ms.is_none() || !s.defer_taskrun);
    for setup in ladder {
        let setup = SetupFlags {
            sqpoll_idle_ms: idle_ms,
            ..setup
        };
        match setup.build(entries) {
            Ok(ring) => return Ok((ring, setup)),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| io::Error::other("io_uring setup failed")))
}

/// Whether the kernel knows the file opcodes `fs` submits (`OPENAT`, `READ`, `WRITE`,
/// `FSYNC`, `STATX`); without them `fs` uses the blocking pool.
pub(super) fn probe_files(ring: &IoUring) -> bool {
    const FILES: [u8; 5] = [
        opcode::OpenAt::CODE,
        opcode::Read::CODE,
        opcode::Write::CODE,
        opcode::Fsync::CODE,
        opcode::Statx::CODE,
    ];
    let mut probe = io_uring::Probe::new();
    ring.submitter().register_probe(&mut probe).is_ok()
        && FILES.iter().all(|&code| probe.is_supported(code))
}

/// Whether the kernel has zero-copy sends that always notify: `IORING_OP_SEND_ZC` with
/// `IORING_OP_SENDMSG_ZC` beside it (Linux 6.1). On 6.0, a send that failed having sent
/// nothing could set `F_MORE` on its result and never post the notification.
pub(super) fn probe_send_zc(ring: &IoUring) -> bool {
    let mut probe = io_uring::Probe::new();
    ring.submitter().register_probe(&mut probe).is_ok()
        && probe.is_supported(opcode::SendZc::CODE)
        && probe.is_supported(opcode::SendMsgZc::CODE)
}

/// The first kernel whose registered-file table lets go of a removed file at once
/// (each slot counts its own users). Before it (5.19 to 6.12), a removed file stays
/// open until every fixed-file operation submitted before the removal, on any slot of
/// the ring, has finished: one idle connection's pending receive would keep every
/// connection closed after it open. The driver sets no table there.
pub(super) const FIXED_FILES_SINCE: (u32, u32) = (6, 13);

/// The running kernel's `(major, minor)`, from `/proc/sys/kernel/osrelease`.
pub(super) fn kernel_version() -> Option<(u32, u32)> {
    parse_release(&std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?)
}

/// `(major, minor)` of a kernel release string such as `6.13.2-arch1-1`.
fn parse_release(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.trim().split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Checks that the kernel knows every opcode ringloop submits. A missing one is an
/// `Unsupported` error naming it (`Backend::Auto` then selects epoll).
pub(super) fn probe_opcodes(ring: &IoUring) -> io::Result<()> {
    const USED: [(u8, &str); 14] = [
        (opcode::Nop::CODE, "NOP"),
        (opcode::Accept::CODE, "ACCEPT"),
        (opcode::Connect::CODE, "CONNECT"),
        (opcode::Recv::CODE, "RECV"),
        (opcode::Send::CODE, "SEND"),
        (opcode::RecvMsg::CODE, "RECVMSG"),
        (opcode::SendMsg::CODE, "SENDMSG"),
        (opcode::Shutdown::CODE, "SHUTDOWN"),
        (opcode::Close::CODE, "CLOSE"),
        (opcode::Read::CODE, "READ"),
        (opcode::Timeout::CODE, "TIMEOUT"),
        (opcode::TimeoutRemove::CODE, "TIMEOUT_REMOVE"),
        (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
        (opcode::PollAdd::CODE, "POLL_ADD"),
    ];
    let mut probe = io_uring::Probe::new();
    ring.submitter().register_probe(&mut probe)?;
    match USED.iter().find(|(code, _)| !probe.is_supported(*code)) {
        None => Ok(()),
        Some((_, name)) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("this kernel's io_uring lacks the {name} opcode ringloop uses"),
        )),
    }
}

#[cfg(test)]
mod release_tests {
    use super::*;

    #[test]
    fn kernel_releases_parse_to_major_and_minor() {
        assert_eq!(parse_release("6.13.2-arch1-1\n"), Some((6, 13)));
        assert_eq!(parse_release("6.13.0-rc1"), Some((6, 13)));
        assert_eq!(parse_release("5.19.0-1025-aws"), Some((5, 19)));
        assert_eq!(parse_release("6.18"), Some((6, 18)));
        assert_eq!(parse_release("garbage"), None);
        assert!(parse_release("6.12.9").unwrap() < FIXED_FILES_SINCE);
        assert!(parse_release("7.0.1").unwrap() >= FIXED_FILES_SINCE);
    }
}
