//! Files: [`File`], [`OpenOptions`], [`Metadata`] and the whole-file helpers ([`read`],
//! [`write`](fn@write), [`metadata`], [`symlink_metadata`], [`remove_file`], [`rename`],
//! [`create_dir_all`]).
//!
//! On io_uring, opening, reading, syncing and metadata go through the ring
//! (`IORING_OP_OPENAT`, `READ`, `FSYNC`, `STATX`), batched with everything else the
//! loop submits; a read from the page cache is copied within the loop's own
//! `io_uring_enter`, with no thread involved. On epoll (and on a kernel without those
//! opcodes) the same calls run on the loop's blocking pool
//! ([`spawn_blocking`](crate::spawn_blocking)): regular files have no readiness to wait
//! for, and a read from disk would stall the loop. Removal, renames, length changes and
//! directory creation run on the blocking pool on both backends.
//!
//! Writes go where they cost least. A write at a given position to a regular file
//! (buffered, not `O_DIRECT`) is first tried on the loop thread without blocking
//! (`RWF_NOWAIT`: a copy into the page cache, which XFS allows on recent kernels), at
//! most 16 per file per loop iteration; where the file system cannot do that (ext4 and
//! tmpfs cannot), io_uring would hand the write to its own worker threads, and the
//! blocking pool's round trip measured less than half of theirs, so such writes, and
//! sequential writes at the file's own position, run on the blocking pool on both
//! backends. Writes to anything else (`O_DIRECT` files, named pipes, devices) go
//! through the ring on io_uring (the pool on epoll). Opening a named pipe for writing
//! waits for a reader as std's open does (the ring's open does not: when it finds no
//! reader, the open is made again on the blocking pool).
//!
//! Reads and writes take owned buffers and positions, as the sockets' do (see the
//! [`net`](crate::net) module's "Owned buffers"): `read_at(buf, pos)` fills up to the
//! buffer's capacity and gives the buffer back with the count; a read or write dropped
//! before it completes keeps its buffer until the kernel lets go.
//! There is no file cursor: every call says where (use [`write_all_at`] and a running
//! offset for appending, or open with [`OpenOptions::append`]).
//!
//! ```
//! let dir = std::env::temp_dir().join(format!("ringloop-fs-doc-{}", std::process::id()));
//! ringloop::run(async {
//!     ringloop::fs::create_dir_all(&dir).await?;
//!     let path = dir.join("hello.txt");
//!     ringloop::fs::write(&path, "hello, files").await?;
//!     assert_eq!(ringloop::fs::read(&path).await?, b"hello, files");
//!
//!     let file = ringloop::fs::File::open(&path).await?;
//!     let (n, buf) = file.read_at(Vec::with_capacity(5), 7).await;
//!     assert_eq!((n?, &buf[..]), (5, &b"files"[..]));
//!     ringloop::fs::remove_file(&path).await?;
//!     Ok::<(), std::io::Error>(())
//! })?;
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! [`write_all_at`]: File::write_all_at

#![forbid(unsafe_code)]

mod file;
mod metadata;
#[cfg(any(feature = "tokio-io", feature = "futures-io"))]
mod seq;

use std::io;
use std::path::Path;

pub use file::{File, OpenOptions};
pub use metadata::{FileType, Metadata};

use crate::driver::ops::file::Statx;

/// Runs `f` on the running loop's blocking pool; its result.
async fn blocking<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let core = crate::event_loop::context::current_core(what);
    core.spawn_blocking(f).await?
}

/// The whole contents of the file at `path`.
///
/// ```
/// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-read.conf", std::process::id()));
/// std::fs::write(&path, "port = 8080\n")?;
/// let config = ringloop::run(ringloop::fs::read(&path))?;
/// assert_eq!(config, b"port = 8080\n");
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
///
/// The OS's error (`NotFound`, `PermissionDenied`, `IsADirectory`, ...).
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let file = File::open(path).await?;
    let mut data = Vec::with_capacity(64 * 1024);
    loop {
        if data.capacity() - data.len() < 16 * 1024 {
            data.reserve(data.capacity());
        }
        let start = data.len();
        let end = data.capacity();
        let pos = start as u64;
        let (n, slice) = file
            .read_at(crate::net::IoBuf::slice(data, start..end), pos)
            .await;
        data = slice.into_inner();
        if n? == 0 {
            return Ok(data);
        }
    }
}

/// Writes `contents` to the file at `path`, creating it or replacing what it held.
///
/// ```
/// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-greeting.txt", std::process::id()));
/// ringloop::run(ringloop::fs::write(&path, "hello"))?;
/// assert_eq!(std::fs::read_to_string(&path)?, "hello");
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
///
/// The OS's error.
pub async fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let file = File::create(path).await?;
    let (written, _) = file.write_all_at(contents.as_ref().to_vec(), 0).await;
    written
}

/// The metadata of `path`, following symbolic links (statx(2): on the ring on
/// io_uring, on the blocking pool on epoll).
///
/// ```
/// let meta = ringloop::run(ringloop::fs::metadata(std::env::temp_dir()))?;
/// assert!(meta.is_dir());
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
///
/// The OS's error (`NotFound`, `PermissionDenied`, ...).
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let op = Statx::path(metadata::c_path(path.as_ref())?, true);
    metadata::statx("ringloop::fs::metadata", op).await
}

/// The metadata of `path` itself: a symbolic link is not followed (std's
/// `symlink_metadata`, asyncio's `os.lstat`).
///
/// ```
/// let meta = ringloop::run(ringloop::fs::symlink_metadata("/proc/self/exe"))?;
/// assert!(meta.is_symlink());
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
///
/// The OS's error (`NotFound`, `PermissionDenied`, ...).
pub async fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let op = Statx::path(metadata::c_path(path.as_ref())?, false);
    metadata::statx("ringloop::fs::symlink_metadata", op).await
}

/// Removes the file at `path`.
///
/// ```
/// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-remove.tmp", std::process::id()));
/// std::fs::write(&path, "scratch")?;
/// ringloop::run(ringloop::fs::remove_file(&path))?;
/// assert!(!path.exists());
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
///
/// The OS's error (`NotFound`, `IsADirectory`, ...).
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_path_buf();
    blocking("ringloop::fs::remove_file", move || {
        std::fs::remove_file(path)
    })
    .await
}

/// Renames `from` to `to`, replacing `to` if it exists.
///
/// ```
/// let dir = std::env::temp_dir();
/// let partial = dir.join(format!("ringloop-doc-{}-report.partial", std::process::id()));
/// let done = partial.with_extension("txt");
/// std::fs::write(&partial, "complete report")?;
/// // Publish a finished file at once: readers see the old one or the new one.
/// ringloop::run(ringloop::fs::rename(&partial, &done))?;
/// assert_eq!(std::fs::read_to_string(&done)?, "complete report");
/// # std::fs::remove_file(&done)?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
///
/// The OS's error.
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let (from, to) = (from.as_ref().to_path_buf(), to.as_ref().to_path_buf());
    blocking("ringloop::fs::rename", move || std::fs::rename(from, to)).await
}

/// Creates the directory `path` and every missing parent.
///
/// ```
/// let root = std::env::temp_dir().join(format!("ringloop-doc-{}-dirs", std::process::id()));
/// ringloop::run(ringloop::fs::create_dir_all(root.join("a/b")))?;
/// assert!(root.join("a/b").is_dir());
/// # std::fs::remove_dir_all(&root)?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
///
/// The OS's error.
pub async fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_path_buf();
    blocking("ringloop::fs::create_dir_all", move || {
        std::fs::create_dir_all(path)
    })
    .await
}
