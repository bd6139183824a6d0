//! File syscalls the blocking pool runs for `fs` where the ring cannot (epoll, or a
//! kernel without the file opcodes). They report as a completion would: the value or
//! `-errno`; `EINTR` is retried.

use std::os::fd::RawFd;

/// pread(2): up to `len` bytes at `offset` into `buf`.
///
/// # Safety
///
/// `buf` is valid for writes of `len` bytes.
pub(crate) unsafe fn pread(fd: RawFd, buf: *mut u8, len: u32, offset: u64) -> i32 {
    let offset = libc::off_t::try_from(offset).unwrap_or(libc::off_t::MAX);
    super::as_result(|| syscall!(pread(fd, buf.cast(), len as usize, offset)))
}

/// pwrite(2): up to `len` bytes of `buf` at `offset`.
///
/// # Safety
///
/// `buf` is valid for reads of `len` bytes.
pub(crate) unsafe fn pwrite(fd: RawFd, buf: *const u8, len: u32, offset: u64) -> i32 {
    let offset = libc::off_t::try_from(offset).unwrap_or(libc::off_t::MAX);
    super::as_result(|| syscall!(pwrite(fd, buf.cast(), len as usize, offset)))
}

/// pwritev2(2) with `RWF_NOWAIT`: up to `len` bytes of `buf` at `offset` (the file's
/// position for `u64::MAX`), or `-EAGAIN` where that would block, or `-EOPNOTSUPP`
/// where the file system cannot tell (most refuse buffered writes so).
///
/// # Safety
///
/// `buf` is valid for reads of `len` bytes.
pub(crate) unsafe fn pwrite_nowait(fd: RawFd, buf: *const u8, len: u32, offset: u64) -> i32 {
    let offset = if offset == u64::MAX {
        -1
    } else {
        libc::off_t::try_from(offset).unwrap_or(libc::off_t::MAX)
    };
    let iov = libc::iovec {
        iov_base: buf.cast_mut().cast(),
        iov_len: len as usize,
    };
    super::as_result(|| syscall!(pwritev2(fd, &iov, 1, offset, libc::RWF_NOWAIT)))
}

/// The descriptor's status flags (`fcntl(F_GETFL)`).
pub(crate) fn status_flags(fd: RawFd) -> std::io::Result<libc::c_int> {
    syscall!(fcntl(fd, libc::F_GETFL))
}

/// read(2) from a pipe or other stream descriptor (nonblocking ones answer `-EAGAIN`).
///
/// # Safety
///
/// `buf` is valid for writes of `len` bytes.
pub(crate) unsafe fn read(fd: RawFd, buf: *mut u8, len: u32) -> i32 {
    super::as_result(|| syscall!(read(fd, buf.cast(), len as usize)))
}

/// write(2) to a pipe or other stream descriptor (nonblocking ones answer `-EAGAIN`).
///
/// # Safety
///
/// `buf` is valid for reads of `len` bytes.
pub(crate) unsafe fn write(fd: RawFd, buf: *const u8, len: u32) -> i32 {
    super::as_result(|| syscall!(write(fd, buf.cast(), len as usize)))
}

/// Makes `fd` nonblocking (`O_NONBLOCK`).
pub(crate) fn set_nonblocking(fd: RawFd) -> std::io::Result<()> {
    let flags = syscall!(fcntl(fd, libc::F_GETFL))?;
    syscall!(fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK))?;
    Ok(())
}

/// statx(2): `path` relative to `dirfd` (with `AT_EMPTY_PATH` and an empty path, the
/// descriptor itself) into `buf`.
///
/// # Safety
///
/// `path` is a valid C string and `buf` is valid for writes of one `statx`.
pub(crate) unsafe fn statx(
    dirfd: RawFd,
    path: *const libc::c_char,
    flags: libc::c_int,
    mask: u32,
    buf: *mut libc::statx,
) -> i32 {
    super::as_result(|| syscall!(statx(dirfd, path, flags, mask, buf)))
}

/// The descriptor's file type bits (`S_IFMT` of its mode), from the inode's cached
/// attributes (statx with `AT_STATX_DONT_SYNC`: no round trip to a network file
/// system's server).
pub(crate) fn file_type(fd: RawFd) -> std::io::Result<u32> {
    let mut buf = std::mem::MaybeUninit::<libc::statx>::uninit();
    let flags = libc::AT_EMPTY_PATH | libc::AT_STATX_DONT_SYNC;
    // SAFETY: the path is a valid (empty) C string and `buf` is valid for writes of one
    // `statx`.
    let r = unsafe { statx(fd, c"".as_ptr(), flags, libc::STATX_TYPE, buf.as_mut_ptr()) };
    if r < 0 {
        return Err(std::io::Error::from_raw_os_error(-r));
    }
    // SAFETY: a successful statx filled the record.
    let stx = unsafe { buf.assume_init() };
    Ok(u32::from(stx.stx_mode) & libc::S_IFMT)
}
