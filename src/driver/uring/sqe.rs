//! Building SQEs: one per operation code, the async cancel, and timespecs. Building is
//! safe; only pushing one onto the ring (`Uring::push`) hands memory to the kernel.

use std::time::Duration;

use io_uring::{opcode, squeue, types};

use super::fixed::FixedFiles;
use crate::driver::fd::Fd;
use crate::driver::op::OpCode;
use crate::driver::token;

/// `$build` with `$t` naming the socket `$fd`: its registered slot when `$fixed` holds
/// it there (the builder then sets `IOSQE_FIXED_FILE`), else its descriptor number.
macro_rules! on_socket {
    ($fixed:expr, $fd:expr, |$t:ident| $build:expr) => {
        match lookup($fixed, $fd) {
            Some(slot) => {
                let $t = types::Fixed(slot);
                $build
            }
            None => {
                let $t = types::Fd($fd.raw);
                $build
            }
        }
    };
}

#[inline]
fn lookup(fixed: Option<&FixedFiles>, fd: Fd) -> Option<u32> {
    fixed.and_then(|table| table.lookup(fd))
}

/// The SQE for an operation, naming stream sockets by their slot in `fixed` where they
/// hold one (`fixed.rs`). Pointers are copied as they are: the caller of
/// `Driver::submit` keeps them valid until the completion.
pub(super) fn build(op: OpCode, fixed: Option<&FixedFiles>) -> squeue::Entry {
    match op {
        OpCode::Accept { fd, addr, len } => opcode::Accept::new(types::Fd(fd.raw), addr, len)
            .flags(libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK)
            .build(),
        OpCode::AcceptMulti { fd } => opcode::AcceptMulti::new(types::Fd(fd))
            .flags(libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK)
            .build(),
        OpCode::Connect { fd, addr, len } => {
            opcode::Connect::new(types::Fd(fd.raw), addr, len).build()
        }
        OpCode::Recv { fd, buf, len } => {
            on_socket!(fixed, fd, |t| opcode::Recv::new(t, buf, len).build())
        }
        OpCode::Send {
            fd,
            buf,
            len,
            zc: true,
        } => on_socket!(fixed, fd, |t| opcode::SendZc::new(t, buf, len)
            .flags(libc::MSG_NOSIGNAL)
            .build()),
        OpCode::Send { fd, buf, len, .. } => {
            on_socket!(fixed, fd, |t| opcode::Send::new(t, buf, len)
                .flags(libc::MSG_NOSIGNAL)
                .build())
        }
        OpCode::RecvMsg { fd, msg } => opcode::RecvMsg::new(types::Fd(fd.raw), msg).build(),
        OpCode::SendMsg { fd, msg } => opcode::SendMsg::new(types::Fd(fd.raw), msg)
            .flags(libc::MSG_NOSIGNAL as u32)
            .build(),
        OpCode::Shutdown { fd, how } => opcode::Shutdown::new(types::Fd(fd), how).build(),
        OpCode::Close { fd } => opcode::Close::new(types::Fd(fd)).build(),
        OpCode::RecvMulti { fd, group } => {
            on_socket!(fixed, fd, |t| opcode::RecvMulti::new(t, group).build())
        }
        OpCode::PollIn { fd } => {
            on_socket!(fixed, fd, |t| opcode::PollAdd::new(t, libc::POLLIN as u32)
                .build())
        }
        OpCode::PollOut { fd } => {
            on_socket!(fixed, fd, |t| opcode::PollAdd::new(t, libc::POLLOUT as u32)
                .build())
        }
        OpCode::OpenAt {
            dirfd,
            path,
            flags,
            mode,
        } => opcode::OpenAt::new(types::Fd(dirfd), path)
            .flags(flags | libc::O_CLOEXEC)
            .mode(mode)
            .build(),
        OpCode::ReadAt {
            fd,
            buf,
            len,
            offset,
        } => opcode::Read::new(types::Fd(fd), buf, len)
            .offset(offset)
            .build(),
        OpCode::WriteAt {
            fd,
            buf,
            len,
            offset,
        } => opcode::Write::new(types::Fd(fd), buf, len)
            .offset(offset)
            .build(),
        OpCode::Statx {
            dirfd,
            path,
            flags,
            mask,
            buf,
        } => opcode::Statx::new(types::Fd(dirfd), path, buf.cast())
            .flags(flags)
            .mask(mask)
            .build(),
        OpCode::Fsync { fd, data_only } => {
            let flags = if data_only {
                types::FsyncFlags::DATASYNC
            } else {
                types::FsyncFlags::empty()
            };
            opcode::Fsync::new(types::Fd(fd)).flags(flags).build()
        }
        OpCode::Nop => opcode::Nop::new().build(),
    }
}

/// The SQE cancelling the operation whose `user_data` is `target`. The cancelled
/// operation still completes (with `ECANCELED`, or with what it did first); the cancel
/// request itself completes under the driver's `CANCEL` sentinel and is ignored.
pub(super) fn cancel(target: u64) -> squeue::Entry {
    opcode::AsyncCancel::new(target)
        .build()
        .user_data(token::CANCEL)
}

/// `d` as the kernel's timespec.
pub(super) fn timespec(d: Duration) -> types::Timespec {
    types::Timespec::new()
        .sec(d.as_secs())
        .nsec(d.subsec_nanos())
}
