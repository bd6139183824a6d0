//! A seccomp-BPF filter that switches io_uring off for this thread.
//!
//! Docker's default seccomp profile, and many hardened sandboxes, make `io_uring_setup`
//! fail with `EPERM` or `ENOSYS`. [`deny_io_uring`] reproduces that in a test process,
//! so the fallback to epoll can be proven where io_uring is really blocked, not merely
//! asked away.

use std::io;
use std::mem::offset_of;

/// `AUDIT_ARCH_*` of the architecture this crate was built for (`EM_*` | 64-bit |
/// little-endian, from `linux/audit.h`; libc does not export them).
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: Option<u32> = Some(0xC000_003E); // AUDIT_ARCH_X86_64
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: Option<u32> = Some(0xC000_00B7); // AUDIT_ARCH_AARCH64
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const AUDIT_ARCH: Option<u32> = None;

/// The largest errno a `SECCOMP_RET_ERRNO` action can carry that the C library will
/// still read as an error (`MAX_ERRNO` in the kernel).
const MAX_ERRNO: i32 = 4095;

/// A BPF statement (`BPF_STMT` in `linux/filter.h`, without libc's `unsafe fn`).
const fn stmt(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

/// A BPF conditional jump (`BPF_JUMP`): skip `jt` instructions if true, `jf` if false.
const fn jump(code: u32, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

/// The filter: io_uring's three syscalls, and any syscall made with a foreign
/// architecture's numbering (whose number cannot be read as ours), return `errno`;
/// everything else is allowed.
fn program(arch: u32, errno: i32) -> [libc::sock_filter; 9] {
    let deny = libc::SECCOMP_RET_ERRNO | (errno as u32 & libc::SECCOMP_RET_DATA);
    let load_word = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let jeq = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
    let ret = libc::BPF_RET | libc::BPF_K;
    [
        /* 0 */ stmt(load_word, offset_of!(libc::seccomp_data, arch) as u32),
        /* 1 */ jump(jeq, arch, 1, 0),
        /* 2 */ stmt(ret, deny),
        /* 3 */ stmt(load_word, offset_of!(libc::seccomp_data, nr) as u32),
        /* 4 */ jump(jeq, libc::SYS_io_uring_setup as u32, 3, 0),
        /* 5 */ jump(jeq, libc::SYS_io_uring_enter as u32, 2, 0),
        /* 6 */ jump(jeq, libc::SYS_io_uring_register as u32, 1, 0),
        /* 7 */ stmt(ret, libc::SECCOMP_RET_ALLOW),
        /* 8 */ stmt(ret, deny),
    ]
}

/// **Test support, not API.** Installs, for the calling thread and the threads and
/// processes it creates from now on, a seccomp-BPF filter that makes `io_uring_setup`,
/// `io_uring_enter` and `io_uring_register` fail with `errno` (e.g. `libc::EPERM`, as
/// Docker's default profile does, or `libc::ENOSYS`) and allows every other syscall.
///
/// It first sets `PR_SET_NO_NEW_PRIVS` (so no privilege is needed), then installs the
/// filter with `prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER)`. A filter cannot be removed:
/// call this only in a process made for the purpose (a test's child), never in a
/// multi-threaded test harness whose other tests expect io_uring. Other threads that
/// already exist are not affected.
///
/// # Errors
///
/// `InvalidInput` if `errno` is not in `1..=4095`; `Unsupported` on an architecture
/// other than x86_64 and aarch64 (the filter checks the syscall ABI); the `prctl` error
/// if the kernel refuses (e.g. `EINVAL` without `CONFIG_SECCOMP_FILTER`).
pub fn deny_io_uring(errno: i32) -> io::Result<()> {
    let Some(arch) = AUDIT_ARCH else {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "deny_io_uring: seccomp filter only written for x86_64 and aarch64",
        ));
    };
    if !(1..=MAX_ERRNO).contains(&errno) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("deny_io_uring: errno {errno} is not in 1..={MAX_ERRNO}"),
        ));
    }
    let mut filter = program(arch, errno);
    let prog = libc::sock_fprog {
        len: filter.len() as libc::c_ushort,
        filter: filter.as_mut_ptr(),
    };
    // `prctl` is variadic: every argument is passed as the `unsigned long` it reads.
    let one: libc::c_ulong = 1;
    let zero: libc::c_ulong = 0;
    syscall!(prctl(libc::PR_SET_NO_NEW_PRIVS, one, zero, zero, zero))?;
    // `prog` and the `filter` array it points to live until `prctl` returns; the kernel
    // copies the program and keeps no pointer into our memory.
    let mode = libc::SECCOMP_MODE_FILTER as libc::c_ulong;
    let prog_ptr = &prog as *const libc::sock_fprog;
    syscall!(prctl(libc::PR_SET_SECCOMP, mode, prog_ptr))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_out_of_range_is_refused_before_anything_is_installed() {
        for errno in [0, -1, MAX_ERRNO + 1] {
            let e = deny_io_uring(errno).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{errno}: {e}");
        }
    }

    #[test]
    fn the_program_denies_only_io_uring_and_foreign_arches() {
        let prog = program(0xC000_003E, libc::EPERM);
        let deny = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
        assert_eq!(prog[2].k, deny);
        assert_eq!(prog[7].k, libc::SECCOMP_RET_ALLOW);
        assert_eq!(prog[8].k, deny);
        // Every io_uring match jumps to the deny at 8.
        for (i, insn) in prog.iter().enumerate().take(7).skip(4) {
            assert_eq!(i + 1 + usize::from(insn.jt), 8);
        }
    }
}
