//! File operations on the ring: openat(2), pread(2), pwrite(2), fsync(2). Submitted only
//! where the driver says it has them (`Driver::files`); elsewhere `fs` uses the blocking
//! pool.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use crate::driver::buf::{IoBuf, IoBufMut};
use crate::driver::op::{Late, OpCode, Operation, result};
use crate::driver::ops::recv::{checked_len, clamp_len};
use crate::driver::slab::Completion;
use crate::sys::net::own;

/// An open file shared by the operations on it: each operation holds it, so the
/// descriptor stays open (its number cannot be reused by another file) until the last
/// operation that may still run on it is dropped, by its future or, once abandoned, by
/// the driver after the kernel's completion; even when the `File` itself went away
/// first, outside any running loop.
pub(crate) type OpenFile = Arc<std::fs::File>;

/// An openat(2) in flight: yields the new descriptor.
pub(crate) struct OpenAt {
    path: CString,
    flags: libc::c_int,
    mode: libc::mode_t,
}

impl OpenAt {
    /// Opens `path` (relative to the working directory) with `flags` and, when creating,
    /// permission bits `mode`.
    pub(crate) fn new(path: CString, flags: libc::c_int, mode: libc::mode_t) -> OpenAt {
        OpenAt { path, flags, mode }
    }
}

// SAFETY: the path lives in `self.path`'s heap allocation, which moving `self` does not
// move.
unsafe impl Operation for OpenAt {
    type Output = io::Result<OwnedFd>;

    /// A file opened after the future was dropped is closed, never leaked.
    const LATE: Late = Late::CloseFd;

    fn code(&mut self) -> OpCode {
        OpCode::OpenAt {
            dirfd: libc::AT_FDCWD,
            path: self.path.as_ptr(),
            flags: self.flags,
            mode: self.mode,
        }
    }

    fn complete(self, completion: Completion) -> Self::Output {
        let fd = result(completion)?;
        // SAFETY: a successful openat returns a new descriptor that nothing owns yet.
        Ok(unsafe { own(fd as RawFd) })
    }

    fn fail(self, error: io::Error) -> Self::Output {
        Err(error)
    }
}

/// The offset that means "at the file's own position, moving it" (io_uring's -1;
/// read(2) / write(2) on the blocking pool).
pub(crate) const CURRENT_POSITION: u64 = u64::MAX;

/// A pread(2) in flight (read(2) at [`CURRENT_POSITION`]): yields the byte count and the
/// buffer.
pub(crate) struct ReadAt<B> {
    fd: RawFd,
    buf: B,
    offset: u64,
    /// Keeps the descriptor open while the operation may run (see [`OpenFile`]).
    _file: OpenFile,
}

impl<B: IoBufMut> ReadAt<B> {
    pub(crate) fn new(file: OpenFile, buf: B, offset: u64) -> ReadAt<B> {
        ReadAt {
            fd: file.as_raw_fd(),
            buf,
            offset,
            _file: file,
        }
    }

    /// Runs the read on this thread (the blocking pool's), blocking until it is done.
    pub(crate) fn run_here(mut self) -> (io::Result<usize>, B) {
        if let Some(e) = self.refuse() {
            return (Err(e), self.buf);
        }
        let (buf, len) = (self.buf.stable_mut_ptr(), clamp_len(self.buf.bytes_total()));
        // `IoBufMut`'s contract: `buf` is valid for writes of `bytes_total()` bytes, of
        // which `len` is at most; nothing else touches it during the call.
        let result = if self.offset == CURRENT_POSITION {
            // SAFETY: `buf` is valid for writes of `len` bytes (above).
            unsafe { crate::sys::fs::read(self.fd, buf, len) }
        } else {
            // SAFETY: `buf` is valid for writes of `len` bytes (above).
            unsafe { crate::sys::fs::pread(self.fd, buf, len, self.offset) }
        };
        self.complete(Completion { result, flags: 0 })
    }
}

// SAFETY: the buffer's memory is stable across moves (`IoBufMut`'s contract) and owned
// by `self.buf`.
unsafe impl<B: IoBufMut + Unpin> Operation for ReadAt<B> {
    type Output = (io::Result<usize>, B);

    fn code(&mut self) -> OpCode {
        OpCode::ReadAt {
            fd: self.fd,
            buf: self.buf.stable_mut_ptr(),
            len: clamp_len(self.buf.bytes_total()),
            offset: self.offset,
        }
    }

    fn refuse(&self) -> Option<io::Error> {
        (self.buf.bytes_total() == 0).then(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "read into a buffer with no capacity: `Ok(0)` would look like end of file",
            )
        })
    }

    fn complete(mut self, completion: Completion) -> Self::Output {
        let n = match checked_len(completion, self.buf.bytes_total()) {
            Ok(n) => n,
            Err(e) => return (Err(e), self.buf),
        };
        // SAFETY: the kernel wrote `n` bytes, no more than the buffer holds (checked).
        unsafe { self.buf.set_init(n) };
        (Ok(n), self.buf)
    }

    fn fail(self, error: io::Error) -> Self::Output {
        (Err(error), self.buf)
    }
}

/// A pwrite(2) in flight (write(2) at [`CURRENT_POSITION`]): yields the byte count and
/// the buffer.
pub(crate) struct WriteAt<B> {
    fd: RawFd,
    buf: B,
    offset: u64,
    /// Keeps the descriptor open while the operation may run (see [`OpenFile`]).
    _file: OpenFile,
}

impl<B: IoBuf> WriteAt<B> {
    pub(crate) fn new(file: OpenFile, buf: B, offset: u64) -> WriteAt<B> {
        WriteAt {
            fd: file.as_raw_fd(),
            buf,
            offset,
            _file: file,
        }
    }

    /// The file written to.
    pub(crate) fn file(&self) -> &std::fs::File {
        &self._file
    }

    /// Runs the write on this thread (the blocking pool's), blocking until it is done.
    pub(crate) fn run_here(self) -> (io::Result<usize>, B) {
        let (buf, len) = (self.buf.stable_ptr(), clamp_len(self.buf.bytes_init()));
        // `IoBuf`'s contract: `buf` is valid for reads of `bytes_init()` bytes, of which
        // `len` is at most.
        let result = if self.offset == CURRENT_POSITION {
            // SAFETY: `buf` is valid for reads of `len` bytes (above).
            unsafe { crate::sys::fs::write(self.fd, buf, len) }
        } else {
            // SAFETY: `buf` is valid for reads of `len` bytes (above).
            unsafe { crate::sys::fs::pwrite(self.fd, buf, len, self.offset) }
        };
        self.complete(Completion { result, flags: 0 })
    }
}

// SAFETY: as for `ReadAt`; the kernel only reads the buffer here.
unsafe impl<B: IoBuf + Unpin> Operation for WriteAt<B> {
    type Output = (io::Result<usize>, B);

    /// A write dropped before its completion runs to its end: its caller may count it
    /// done already (the sequential traits do), and a regular file's write cannot be
    /// taken back halfway anyway.
    const LATE: Late = Late::Finish;

    fn code(&mut self) -> OpCode {
        OpCode::WriteAt {
            fd: self.fd,
            buf: self.buf.stable_ptr(),
            len: clamp_len(self.buf.bytes_init()),
            offset: self.offset,
        }
    }

    fn complete(self, completion: Completion) -> Self::Output {
        let n = checked_len(completion, self.buf.bytes_init());
        (n, self.buf)
    }

    fn fail(self, error: io::Error) -> Self::Output {
        (Err(error), self.buf)
    }
}

/// A statx(2) in flight: yields the kernel's record of the file.
pub(crate) struct Statx {
    path: CString,
    dirfd: RawFd,
    /// The open file `dirfd` is, for a statx of a descriptor (see [`OpenFile`]).
    _file: Option<OpenFile>,
    flags: libc::c_int,
    /// Written by the kernel; on the heap, so it stays put while `self` moves.
    buf: Box<std::mem::MaybeUninit<libc::statx>>,
}

/// What `Statx` asks for: the basic fields and the birth time.
const STATX_MASK: u32 = libc::STATX_BASIC_STATS | libc::STATX_BTIME;

impl Statx {
    /// The file at `path` (relative to the working directory); a final symbolic link is
    /// followed when `follow` says so.
    pub(crate) fn path(path: CString, follow: bool) -> Statx {
        let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
        Statx::new(path, libc::AT_FDCWD, None, flags)
    }

    /// The open file `file`.
    pub(crate) fn file(file: OpenFile) -> Statx {
        let fd = file.as_raw_fd();
        Statx::new(CString::default(), fd, Some(file), libc::AT_EMPTY_PATH)
    }

    fn new(path: CString, dirfd: RawFd, file: Option<OpenFile>, flags: libc::c_int) -> Statx {
        Statx {
            path,
            dirfd,
            _file: file,
            flags,
            buf: Box::new(std::mem::MaybeUninit::uninit()),
        }
    }

    /// Runs the call on this thread (the blocking pool's).
    pub(crate) fn run_here(mut self) -> io::Result<libc::statx> {
        // SAFETY: the path is a C string owned by `self`, and the buffer is valid for
        // writes of one `statx`.
        let result = unsafe {
            crate::sys::fs::statx(
                self.dirfd,
                self.path.as_ptr(),
                self.flags,
                STATX_MASK,
                self.buf.as_mut_ptr(),
            )
        };
        self.complete(Completion { result, flags: 0 })
    }
}

// SAFETY: the path and the record live in heap allocations owned by `self`, which
// moving `self` does not move.
unsafe impl Operation for Statx {
    type Output = io::Result<libc::statx>;

    fn code(&mut self) -> OpCode {
        OpCode::Statx {
            dirfd: self.dirfd,
            path: self.path.as_ptr(),
            flags: self.flags,
            mask: STATX_MASK,
            buf: self.buf.as_mut_ptr(),
        }
    }

    fn complete(self, completion: Completion) -> Self::Output {
        result(completion)?;
        // SAFETY: a successful statx filled the record.
        Ok(unsafe { self.buf.assume_init_read() })
    }

    fn fail(self, error: io::Error) -> Self::Output {
        Err(error)
    }
}

/// Where a file's writes go, learnt on its first one.
///
/// The ring does well with what it can do without a thread: reads from the page cache
/// (copied inline, within `io_uring_enter`), and `O_DIRECT`, pipes and devices. But a
/// buffered write the file system cannot take without blocking (ext4 and tmpfs refuse
/// `RWF_NOWAIT` for them) io_uring hands to its io-wq worker threads, and that round
/// trip measured about 65 µs per write on the bench's machine against 28 µs for the
/// blocking pool's (1 MiB writes: 0.74 × `tokio::fs`'s throughput on the ring). So a
/// buffered write at a given position to a regular file is first tried on the loop
/// thread without blocking (`pwritev2(RWF_NOWAIT)`: the copy into the page cache that
/// io_uring itself makes inline where the file system allows, as XFS does on recent
/// kernels), at most [`STREAK`] times per file per loop iteration so a writing task
/// still lets the others run; it runs on the blocking pool when it would block, when
/// the file system cannot (remembered per file: any error but `EAGAIN` says so, and
/// the pool's blocking write then reports the real one), and for writes at the file's
/// own position (a nonblocking write there could still wait for the position's lock).
/// Every other write uses the ring (on epoll, the pool).
#[derive(Debug, Default)]
pub(crate) struct WriteRoute {
    state: AtomicU8,
    /// The loop iteration of the current streak of inline writes, and its length.
    streak_iteration: AtomicU64,
    streak: AtomicU8,
}

/// Where one write goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// An operation on the ring (on epoll: the blocking pool).
    Ring,
    /// Tried on the loop thread without blocking, then the blocking pool.
    Inline,
    /// The blocking pool.
    Pool,
}

const UNKNOWN: u8 = 0;
const RING: u8 = 1;
const INLINE: u8 = 2;
const POOL: u8 = 3;

/// The most inline writes per file per loop iteration (as sockets' try-first I/O).
const STREAK: u8 = crate::driver::try_first::STREAK;

impl WriteRoute {
    /// Where the next write to `file` at `offset` goes, in loop iteration `iteration`.
    pub(crate) fn route(&self, file: &std::fs::File, offset: u64, iteration: u64) -> Route {
        let mut state = self.state.load(Ordering::Relaxed);
        if state == UNKNOWN {
            state = classify(file);
            self.state.store(state, Ordering::Relaxed);
        }
        match state {
            INLINE if offset == CURRENT_POSITION => Route::Pool,
            INLINE => {
                if self.streak_iteration.load(Ordering::Relaxed) != iteration {
                    self.streak_iteration.store(iteration, Ordering::Relaxed);
                    self.streak.store(0, Ordering::Relaxed);
                }
                let streak = self.streak.load(Ordering::Relaxed);
                if streak >= STREAK {
                    return Route::Pool;
                }
                self.streak.store(streak + 1, Ordering::Relaxed);
                Route::Inline
            }
            POOL => Route::Pool,
            _ => Route::Ring,
        }
    }
}

/// A buffered regular file is written inline first; anything else (`O_DIRECT`, pipes,
/// devices, or a descriptor that does not say) on the ring.
fn classify(file: &std::fs::File) -> u8 {
    let fd = file.as_raw_fd();
    let regular = crate::sys::fs::file_type(fd).is_ok_and(|t| t == libc::S_IFREG);
    let direct = crate::sys::fs::status_flags(fd).map_or(true, |flags| flags & libc::O_DIRECT != 0);
    if regular && !direct { INLINE } else { RING }
}

impl<B: IoBuf> WriteAt<B> {
    /// The position written at ([`CURRENT_POSITION`] for the file's own).
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// Tries the write on this thread without blocking (see [`WriteRoute`]): its
    /// outcome when it wrote, or the write back when it would block or failed (then
    /// `route` sends the file's later writes to the blocking pool at once, whose
    /// blocking write reports the error if it was not the nonblocking try's alone).
    pub(crate) fn try_inline(self, route: &WriteRoute) -> Result<(io::Result<usize>, B), Self> {
        let (buf, len) = (self.buf.stable_ptr(), clamp_len(self.buf.bytes_init()));
        // SAFETY: `IoBuf`'s contract: `buf` is valid for reads of `bytes_init()` bytes, of
        // which `len` is at most; the call is over when it returns.
        let result = unsafe { crate::sys::fs::pwrite_nowait(self.fd, buf, len, self.offset) };
        match result {
            n if n >= 0 => Ok(self.complete(Completion {
                result: n,
                flags: 0,
            })),
            r if r == -libc::EAGAIN => Err(self),
            _ => {
                route.state.store(POOL, Ordering::Relaxed);
                Err(self)
            }
        }
    }
}

/// A write for the blocking pool that is never lost: run by the job, or, when the job
/// is dropped unrun (the loop closed with it queued, or the pool refused it), by the
/// drop, on the dropping thread. A write its caller may count as done lands either way.
pub(crate) struct PoolWrite<B: IoBuf>(Option<WriteAt<B>>);

impl<B: IoBuf> PoolWrite<B> {
    pub(crate) fn new(op: WriteAt<B>) -> PoolWrite<B> {
        PoolWrite(Some(op))
    }

    /// Runs the write on this thread.
    pub(crate) fn run(mut self) -> (io::Result<usize>, B) {
        self.0.take().expect("run once").run_here()
    }
}

impl<B: IoBuf> Drop for PoolWrite<B> {
    fn drop(&mut self) {
        if let Some(op) = self.0.take() {
            drop(op.run_here());
        }
    }
}

/// An fsync(2) (or fdatasync(2)) in flight.
pub(crate) struct Fsync {
    fd: RawFd,
    data_only: bool,
    /// Keeps the descriptor open while the operation may run (see [`OpenFile`]).
    _file: OpenFile,
}

impl Fsync {
    pub(crate) fn new(file: OpenFile, data_only: bool) -> Fsync {
        Fsync {
            fd: file.as_raw_fd(),
            data_only,
            _file: file,
        }
    }
}

// SAFETY: the request holds no pointers.
unsafe impl Operation for Fsync {
    type Output = io::Result<()>;

    fn code(&mut self) -> OpCode {
        OpCode::Fsync {
            fd: self.fd,
            data_only: self.data_only,
        }
    }

    fn complete(self, completion: Completion) -> Self::Output {
        result(completion).map(drop)
    }

    fn fail(self, error: io::Error) -> Self::Output {
        Err(error)
    }
}
