//! Reads and writes on pipes (a child's stdio) with owned buffers: the nonblocking
//! syscall, run at once. The caller waits for readiness ([`Ready`](super::ready::Ready))
//! when it would block; nothing the kernel may write into outlives the call.

use std::io;
use std::os::fd::RawFd;

use crate::driver::buf::{IoBuf, IoBufMut};
use crate::driver::ops::recv::clamp_len;

/// read(2) into `buf`'s spare room up to its capacity (replacing what it held); the
/// count, `Ok(0)` at end of file, `WouldBlock` when nothing is there yet.
pub(crate) fn read_now<B: IoBufMut>(fd: RawFd, buf: &mut B) -> io::Result<usize> {
    let (ptr, len) = (buf.stable_mut_ptr(), clamp_len(buf.bytes_total()));
    // SAFETY: `IoBufMut`'s contract: `ptr` is valid for writes of `bytes_total()` bytes,
    // of which `len` is at most; the call returns before anything else touches them.
    let n = crate::sys::result(unsafe { crate::sys::fs::read(fd, ptr, len) })? as usize;
    // SAFETY: the kernel wrote `n` bytes, no more than `len`.
    unsafe { buf.set_init(n.min(buf.bytes_total())) };
    Ok(n)
}

/// write(2) of `buf`'s bytes; how many went, `WouldBlock` when the pipe is full.
pub(crate) fn write_now<B: IoBuf>(fd: RawFd, buf: &B) -> io::Result<usize> {
    let (ptr, len) = (buf.stable_ptr(), clamp_len(buf.bytes_init()));
    // SAFETY: `IoBuf`'s contract: `ptr` is valid for reads of `bytes_init()` bytes, of
    // which `len` is at most.
    crate::sys::result(unsafe { crate::sys::fs::write(fd, ptr, len) }).map(|n| n as usize)
}

/// read(2) into a borrowed slice (the poll-style traits); as [`read_now`].
#[cfg(feature = "futures-io")]
pub(crate) fn read_slice(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    let len = clamp_len(buf.len());
    // SAFETY: `buf` is valid for writes of its length, of which `len` is at most.
    crate::sys::result(unsafe { crate::sys::fs::read(fd, buf.as_mut_ptr(), len) })
        .map(|n| n as usize)
}

/// read(2) into the unfilled part of a tokio `ReadBuf`; the bytes read are marked
/// filled (and initialized).
#[cfg(feature = "tokio-io")]
pub(crate) fn read_into(fd: RawFd, buf: &mut tokio::io::ReadBuf<'_>) -> io::Result<usize> {
    // SAFETY: only the kernel writes into the unfilled part (never de-initializing it),
    // and at most its length.
    let unfilled = unsafe { buf.unfilled_mut() };
    let len = clamp_len(unfilled.len());
    // SAFETY: `unfilled` is valid for writes of its length, of which `len` is at most.
    let n = crate::sys::result(unsafe {
        crate::sys::fs::read(fd, unfilled.as_mut_ptr().cast::<u8>(), len)
    })? as usize;
    // SAFETY: the kernel initialized the first `n` bytes of the unfilled part.
    unsafe { buf.assume_init(n) };
    buf.advance(n);
    Ok(n)
}

/// write(2) of a borrowed slice (the poll-style traits); as [`write_now`].
#[cfg(poll_io)]
pub(crate) fn write_slice(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    let len = clamp_len(buf.len());
    // SAFETY: `buf` is valid for reads of its length, of which `len` is at most.
    crate::sys::result(unsafe { crate::sys::fs::write(fd, buf.as_ptr(), len) }).map(|n| n as usize)
}
