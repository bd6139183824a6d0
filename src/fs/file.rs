//! `File` and `OpenOptions`.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use crate::driver::buf::{IoBuf, IoBufMut};
use crate::driver::handle::DriverHandle;
use crate::driver::op::Op;
use crate::driver::ops::file::{Fsync, OpenAt, ReadAt, Route, WriteAt, WriteRoute};
use crate::event_loop::Core;
use crate::task::Task;

/// The running loop, and whether its driver does file I/O on the ring.
pub(super) fn current(what: &str) -> (Rc<Core>, Option<Rc<DriverHandle>>) {
    let core = crate::event_loop::context::current_core(what);
    let ring = core.io().with_driver(|d| d.files()) == Some(true);
    let io = ring.then(|| core.io().clone());
    (core, io)
}

/// A write started as its file's [`WriteRoute`] says.
pub(super) enum Write<B: IoBuf> {
    /// Done on the loop thread, without blocking.
    Done((io::Result<usize>, B)),
    Ring(Op<'static, WriteAt<B>>),
    Pool(Task<(io::Result<usize>, B)>),
}

/// Starts `op` (for `what`, a call that writes): inline if its file allows, else on the
/// ring or the blocking pool (see [`WriteRoute`]).
pub(super) fn start_write<B: IoBuf + Send + Unpin + 'static>(
    op: WriteAt<B>,
    route: &WriteRoute,
    what: &str,
) -> Write<B> {
    let (core, ring) = current(what);
    let io = core.io();
    // With try-first I/O off (as under fault injection), every write meets the driver.
    let way = if io.try_first_io() {
        route.route(op.file(), op.offset(), io.iteration())
    } else {
        Route::Ring
    };
    let op = match way {
        Route::Inline => match op.try_inline(route) {
            Ok(done) => return Write::Done(done),
            Err(op) => op,
        },
        Route::Ring => match ring {
            Some(io) => return Write::Ring(Op::new(io, op)),
            None => op,
        },
        Route::Pool => op,
    };
    // Lands even if the loop closes with the job still queued.
    let op = crate::driver::ops::file::PoolWrite::new(op);
    Write::Pool(core.spawn_blocking(move || op.run()))
}

/// How to open a file (std's `OpenOptions`, opened asynchronously).
///
/// ```
/// use ringloop::fs::OpenOptions;
///
/// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-app.log", std::process::id()));
/// ringloop::run(async {
///     let log = OpenOptions::new().append(true).create(true).open(&path).await?;
///     let (written, _) = log.write_all_at(b"started\n", 0).await;
///     written
/// })?;
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
    mode: u32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions::new()
    }
}

impl OpenOptions {
    /// Nothing set: say at least `read` or `write`.
    ///
    /// ```
    /// use ringloop::fs::OpenOptions;
    ///
    /// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-options-new.txt", std::process::id()));
    /// ringloop::run(async {
    ///     // Nothing set is an error: say what the file is opened for.
    ///     let err = OpenOptions::new().open(&path).await.unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    ///     let file = OpenOptions::new().write(true).create(true).open(&path).await?;
    ///     # drop(file);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> OpenOptions {
        OpenOptions {
            read: false,
            write: false,
            append: false,
            truncate: false,
            create: false,
            create_new: false,
            mode: 0o666,
        }
    }

    /// Open for reading.
    ///
    /// ```
    /// use ringloop::fs::OpenOptions;
    ///
    /// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-options-read.txt", std::process::id()));
    /// std::fs::write(&path, "contents")?;
    /// ringloop::run(async {
    ///     let file = OpenOptions::new().read(true).open(&path).await?;
    ///     let (n, buf) = file.read_at(Vec::with_capacity(16), 0).await;
    ///     assert_eq!(&buf[..n?], b"contents");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn read(&mut self, on: bool) -> &mut Self {
        self.read = on;
        self
    }

    /// Open for writing.
    ///
    /// ```
    /// use ringloop::fs::OpenOptions;
    ///
    /// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-options-write.txt", std::process::id()));
    /// std::fs::write(&path, "hello")?;
    /// ringloop::run(async {
    ///     // Overwrites in place: no truncation, no creation.
    ///     let file = OpenOptions::new().write(true).open(&path).await?;
    ///     file.write_all_at(b"HE", 0).await.0?;
    ///     drop(file);
    ///     assert_eq!(std::fs::read(&path)?, b"HEllo");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn write(&mut self, on: bool) -> &mut Self {
        self.write = on;
        self
    }

    /// Every write goes to the end of the file (`O_APPEND`; implies writing). The
    /// position a write is given is then ignored by the kernel.
    ///
    /// ```
    /// use ringloop::fs::OpenOptions;
    ///
    /// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-options-append.log", std::process::id()));
    /// ringloop::run(async {
    ///     let log = OpenOptions::new().append(true).create(true).open(&path).await?;
    ///     log.write_all_at(b"one\n", 0).await.0?;
    ///     log.write_all_at(b"two\n", 0).await.0?; // the position is ignored: to the end
    ///     drop(log);
    ///     assert_eq!(std::fs::read(&path)?, b"one\ntwo\n");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn append(&mut self, on: bool) -> &mut Self {
        self.append = on;
        self
    }

    /// Empty the file when opening it for writing.
    ///
    /// ```
    /// use ringloop::fs::OpenOptions;
    ///
    /// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-options-truncate.txt", std::process::id()));
    /// std::fs::write(&path, "old contents")?;
    /// ringloop::run(async {
    ///     let file = OpenOptions::new().write(true).truncate(true).open(&path).await?;
    ///     assert_eq!(file.metadata().await?.len(), 0); // emptied on open
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn truncate(&mut self, on: bool) -> &mut Self {
        self.truncate = on;
        self
    }

    /// Create the file if it does not exist.
    ///
    /// ```
    /// use ringloop::fs::OpenOptions;
    ///
    /// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-options-create.txt", std::process::id()));
    /// ringloop::run(async {
    ///     let file = OpenOptions::new().write(true).create(true).open(&path).await?;
    ///     assert!(file.metadata().await?.is_file()); // there now, empty
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn create(&mut self, on: bool) -> &mut Self {
        self.create = on;
        self
    }

    /// Create the file, failing (`AlreadyExists`) if it exists.
    ///
    /// ```
    /// use ringloop::fs::OpenOptions;
    ///
    /// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-options-create-new.lock", std::process::id()));
    /// ringloop::run(async {
    ///     // A lock file: only one process can create it.
    ///     let mut options = OpenOptions::new();
    ///     options.write(true).create_new(true);
    ///     let _lock = options.open(&path).await?;
    ///     let err = options.open(&path).await.unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn create_new(&mut self, on: bool) -> &mut Self {
        self.create_new = on;
        self
    }

    /// Permission bits of a created file (default `0o666`, less the umask).
    ///
    /// ```
    /// use std::os::unix::fs::PermissionsExt;
    /// use ringloop::fs::OpenOptions;
    ///
    /// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-options-mode.key", std::process::id()));
    /// ringloop::run(async {
    ///     // A secret: readable and writable by its owner only.
    ///     let key = OpenOptions::new().write(true).create(true).mode(0o600).open(&path).await?;
    ///     let mode = key.metadata().await?.permissions().mode();
    ///     assert_eq!(mode & 0o777, 0o600);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn mode(&mut self, mode: u32) -> &mut Self {
        self.mode = mode;
        self
    }

    /// The `open(2)` flags, checked as std checks them.
    fn flags(&self) -> io::Result<libc::c_int> {
        let invalid = |why: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, why.to_string()));
        let access = match (self.read, self.write, self.append) {
            (true, false, false) => libc::O_RDONLY,
            (false, true, false) => libc::O_WRONLY,
            (true, true, false) => libc::O_RDWR,
            (false, _, true) => libc::O_WRONLY | libc::O_APPEND,
            (true, _, true) => libc::O_RDWR | libc::O_APPEND,
            (false, false, false) => return invalid("open options say neither read nor write"),
        };
        let writing = self.write || self.append;
        if !writing && (self.truncate || self.create || self.create_new) {
            return invalid("truncate, create and create_new need write or append");
        }
        if self.append && self.truncate && !self.create_new {
            return invalid("append and truncate together");
        }
        let creation = if self.create_new {
            libc::O_CREAT | libc::O_EXCL
        } else {
            (if self.create { libc::O_CREAT } else { 0 })
                | (if self.truncate { libc::O_TRUNC } else { 0 })
        };
        Ok(access | creation | libc::O_CLOEXEC)
    }

    fn to_std(&self) -> std::fs::OpenOptions {
        let mut std = std::fs::OpenOptions::new();
        std.read(self.read)
            .write(self.write)
            .append(self.append)
            .truncate(self.truncate)
            .create(self.create)
            .create_new(self.create_new)
            .mode(self.mode);
        std
    }

    /// Opens `path`: through the ring on io_uring, on the blocking pool elsewhere.
    ///
    /// # Errors
    ///
    /// The OS's error (`NotFound`, `PermissionDenied`, `AlreadyExists` for
    /// `create_new`, ...); `InvalidInput` for options that make no sense or a path with
    /// a NUL byte.
    ///
    /// ```
    /// use ringloop::fs::OpenOptions;
    ///
    /// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-options-open.txt", std::process::id()));
    /// std::fs::write(&path, "hello")?;
    /// ringloop::run(async {
    ///     let file = OpenOptions::new().read(true).write(true).open(&path).await?;
    ///     file.write_all_at(b"!", 5).await.0?;
    ///     let (n, buf) = file.read_at(Vec::with_capacity(16), 0).await;
    ///     assert_eq!(&buf[..n?], b"hello!");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let flags = self.flags()?;
        let (core, ring) = current("ringloop::fs::OpenOptions::open");
        let path = path.as_ref();
        match ring {
            Some(io) => {
                let c_path = super::metadata::c_path(path)?;
                let opened = Op::new(io, OpenAt::new(c_path, flags, self.mode)).await;
                // io_uring tries an open without blocking first (`O_NONBLOCK`, unless it
                // creates or truncates) and keeps what that gives, which differs from a
                // blocking open only for a named pipe with nobody at the other end: a
                // writer gets ENXIO. It is opened again on the blocking pool, waiting for
                // a reader as std's open does. (A reader opened so does not wait for a
                // writer, but its reads do, as tested.)
                let tried_nonblocking =
                    flags & (libc::O_CREAT | libc::O_TRUNC | libc::O_NONBLOCK) == 0;
                match opened {
                    Ok(fd) => Ok(File::wrap(std::fs::File::from(fd))),
                    Err(e)
                        if tried_nonblocking
                            && flags & libc::O_ACCMODE == libc::O_WRONLY
                            && e.raw_os_error() == Some(libc::ENXIO) =>
                    {
                        let (options, path) = (self.to_std(), path.to_path_buf());
                        let file = core.spawn_blocking(move || options.open(path)).await??;
                        Ok(File::wrap(file))
                    }
                    Err(e) => Err(e),
                }
            }
            None => {
                let (options, path) = (self.to_std(), path.to_path_buf());
                let file = core.spawn_blocking(move || options.open(path)).await??;
                Ok(File::wrap(file))
            }
        }
    }
}

/// An open file, read and written at explicit positions with owned buffers.
///
/// Dropping it closes the file (through the ring on a running io_uring loop).
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("ringloop-file-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// # let path = dir.join("data.bin");
/// use ringloop::fs::File;
///
/// ringloop::run(async {
///     let file = File::create(&path).await?;
///     let (written, _) = file.write_all_at(vec![7u8; 8192], 0).await;
///     written?;
///     file.sync_all().await?;
///     let (read, buf) = file.read_exact_at(Vec::with_capacity(4096), 4096).await;
///     read.map(|()| assert!(buf.iter().all(|&b| b == 7)))
/// })?;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Sequential I/O through the ecosystem's traits
///
/// With the feature `tokio-io` (or `futures-io`), `File` also implements `AsyncRead`,
/// `AsyncWrite` and `AsyncSeek` at the file's own position, like `tokio::fs::File`, so
/// codecs and `tokio::io::copy` work on it. Reads and writes go through a buffer of the
/// file's own (one operation in flight at a time, at most 2 MiB each): a write is
/// reported done once copied, and its outcome arrives with the next call or `flush`, so
/// **flush before dropping** to see write errors. A write is never cancelled: dropped
/// with the `File` (or a dropped `write_at` future), it still runs to its end, and the
/// descriptor stays open until it has. When the loop closes meanwhile, the ring's close
/// waits for it; on the blocking pool (epoll) a write a pool thread already started
/// finishes there, possibly just after the close returned. The position is the one std's blocking
/// I/O would have: bytes read ahead and not yet taken are given back by seeks and writes.
///
/// ```
/// use tokio::io::{AsyncBufReadExt, AsyncSeekExt, AsyncWriteExt, BufReader};
/// use ringloop::fs::OpenOptions;
///
/// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-file-traits.log", std::process::id()));
/// ringloop::run(async {
///     let mut log = OpenOptions::new().read(true).write(true).create(true).open(&path).await?;
///     log.write_all(b"started\nlistening\n").await?;
///     log.flush().await?; // the write's outcome
///     log.rewind().await?;
///     let mut lines = BufReader::new(log).lines();
///     assert_eq!(lines.next_line().await?.as_deref(), Some("started"));
///     assert_eq!(lines.next_line().await?.as_deref(), Some("listening"));
///     Ok::<(), std::io::Error>(())
/// })?;
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct File {
    /// Shared with the blocking jobs that use it, so the descriptor outlives them.
    pub(super) std: Option<Arc<std::fs::File>>,
    /// Where positional writes go (see [`WriteRoute`]).
    writes: WriteRoute,
    /// The sequential I/O of the poll-style traits, made on first use.
    #[cfg(any(feature = "tokio-io", feature = "futures-io"))]
    pub(super) seq: Option<Box<super::seq::Seq>>,
}

impl File {
    fn wrap(file: std::fs::File) -> File {
        File {
            std: Some(Arc::new(file)),
            writes: WriteRoute::default(),
            #[cfg(any(feature = "tokio-io", feature = "futures-io"))]
            seq: None,
        }
    }

    fn wrap_shared(shared: Arc<std::fs::File>) -> File {
        File {
            std: Some(shared),
            writes: WriteRoute::default(),
            #[cfg(any(feature = "tokio-io", feature = "futures-io"))]
            seq: None,
        }
    }

    pub(super) fn std(&self) -> &Arc<std::fs::File> {
        self.std.as_ref().expect("file used after close")
    }

    /// Opens `path` for reading.
    ///
    /// # Errors
    ///
    /// The OS's error (`NotFound`, `PermissionDenied`, `IsADirectory` is reported by
    /// the first read).
    ///
    /// ```
    /// use ringloop::fs::File;
    ///
    /// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-file-open.txt", std::process::id()));
    /// std::fs::write(&path, "key = value\n")?;
    /// ringloop::run(async {
    ///     let file = File::open(&path).await?;
    ///     let (n, buf) = file.read_at(Vec::with_capacity(64), 0).await;
    ///     assert_eq!(&buf[..n?], b"key = value\n");
    ///     let missing = File::open(path.with_extension("missing")).await.unwrap_err();
    ///     assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path).await
    }

    /// Creates `path` for writing (and reading), emptying it if it exists.
    ///
    /// # Errors
    ///
    /// The OS's error.
    ///
    /// ```
    /// use ringloop::fs::File;
    ///
    /// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-file-create.txt", std::process::id()));
    /// std::fs::write(&path, "old old old")?;
    /// ringloop::run(async {
    ///     let file = File::create(&path).await?; // emptied: "old" is gone
    ///     file.write_all_at(b"new", 0).await.0?;
    ///     let (n, buf) = file.read_at(Vec::with_capacity(16), 0).await; // and readable
    ///     assert_eq!(&buf[..n?], b"new");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .await
    }

    /// Wraps an open std file.
    ///
    /// ```
    /// use ringloop::fs::File;
    ///
    /// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-file-from-std.txt", std::process::id()));
    /// std::fs::write(&path, "opened by std")?;
    /// ringloop::run(async {
    ///     let file = File::from_std(std::fs::File::open(&path)?);
    ///     let (n, buf) = file.read_at(Vec::with_capacity(16), 0).await;
    ///     assert_eq!(&buf[..n?], b"opened by std");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_std(file: std::fs::File) -> File {
        File::wrap(file)
    }

    /// The std file, once no operation holds it (`Err(self)` while one does: a blocking
    /// job, or a ring operation that may still run, which keeps the descriptor open).
    ///
    /// ```
    /// use ringloop::fs::File;
    ///
    /// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-file-into-std.txt", std::process::id()));
    /// ringloop::run(async {
    ///     let file = File::create(&path).await?;
    ///     file.write_all_at(b"handed over", 0).await.0?;
    ///     let mut std_file = file.into_std().expect("no operation holds it");
    ///     let mut text = String::new();
    ///     std::io::Read::read_to_string(&mut std_file, &mut text)?; // blocking std I/O from here
    ///     assert_eq!(text, "handed over");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn into_std(mut self) -> Result<std::fs::File, File> {
        let shared = self.std.take().expect("file used after close");
        Arc::try_unwrap(shared).map_err(File::wrap_shared)
    }

    /// Reads up to `buf`'s capacity from `pos`; the count (0 at end of file) and the
    /// buffer back. As with sockets, the bytes land at the buffer's start (read into
    /// [`IoBuf::slice`]`(len..)` to append), and a buffer with no capacity is refused
    /// with `InvalidInput`.
    ///
    /// ```
    /// use ringloop::fs::File;
    ///
    /// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-file-read-at.bin", std::process::id()));
    /// std::fs::write(&path, "0123456789")?;
    /// ringloop::run(async {
    ///     let file = File::open(&path).await?;
    ///     let (n, buf) = file.read_at(Vec::with_capacity(4), 6).await; // 4 bytes from offset 6
    ///     assert_eq!(&buf[..n?], b"6789");
    ///     let (n, _) = file.read_at(buf, 10).await;
    ///     assert_eq!(n?, 0); // end of file
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn read_at<B: IoBufMut + Send>(&self, buf: B, pos: u64) -> (io::Result<usize>, B) {
        let op = ReadAt::new(self.std().clone(), buf, pos);
        let (core, ring) = current("ringloop::fs::File::read_at");
        match ring {
            Some(io) => Op::new(io, op).await,
            None => {
                let job = core.spawn_blocking(move || op.run_here());
                job.await
                    .unwrap_or_else(|e| panic!("a blocking file read did not run: {e}"))
            }
        }
    }

    /// Writes some of `buf`'s bytes at `pos`; the count and the buffer back.
    ///
    /// ```
    /// use ringloop::fs::File;
    ///
    /// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-file-write-at.bin", std::process::id()));
    /// ringloop::run(async {
    ///     let file = File::create(&path).await?;
    ///     let (n, _) = file.write_at(b"header", 0).await;
    ///     let n = n?; // maybe fewer than 6: write_all_at loops for you
    ///     assert!(n > 0 && n <= 6);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn write_at<B: IoBuf + Send>(&self, buf: B, pos: u64) -> (io::Result<usize>, B) {
        let op = WriteAt::new(self.std().clone(), buf, pos);
        match start_write(op, &self.writes, "ringloop::fs::File::write_at") {
            Write::Done(done) => done,
            Write::Ring(op) => op.await,
            Write::Pool(job) => job
                .await
                .unwrap_or_else(|e| panic!("a blocking file write did not run: {e}")),
        }
    }

    /// Fills `buf`'s whole capacity from `pos`; `UnexpectedEof` if the file ends first.
    ///
    /// ```
    /// use ringloop::fs::File;
    ///
    /// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-file-read-exact-at.bin", std::process::id()));
    /// std::fs::write(&path, "AAAABBBBCCCC")?;
    /// ringloop::run(async {
    ///     let file = File::open(&path).await?;
    ///     // A fixed-size record: 4 bytes at offset 4.
    ///     let (res, record) = file.read_exact_at(Vec::with_capacity(4), 4).await;
    ///     res?;
    ///     assert_eq!(record, b"BBBB");
    ///     let (res, _) = file.read_exact_at(Vec::with_capacity(4), 10).await;
    ///     assert_eq!(res.unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn read_exact_at<B: IoBufMut + Send>(
        &self,
        mut buf: B,
        pos: u64,
    ) -> (io::Result<()>, B) {
        let total = buf.bytes_total();
        let mut filled = 0;
        while filled < total {
            let (res, slice) = self
                .read_at(buf.slice(filled..total), pos + filled as u64)
                .await;
            buf = slice.into_inner();
            match res {
                Ok(0) => {
                    let eof = io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("the file ended after {filled} of {total} bytes"),
                    );
                    return (Err(eof), buf);
                }
                Ok(n) => filled += n,
                Err(e) => return (Err(e), buf),
            }
        }
        (Ok(()), buf)
    }

    /// Writes all of `buf`'s bytes from `pos`.
    ///
    /// ```
    /// use ringloop::fs::File;
    ///
    /// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-file-write-all-at.log", std::process::id()));
    /// ringloop::run(async {
    ///     let file = File::create(&path).await?;
    ///     let mut offset = 0;
    ///     for line in ["first\n", "second\n"] {
    ///         file.write_all_at(line, offset).await.0?; // a running offset appends
    ///         offset += line.len() as u64;
    ///     }
    ///     drop(file);
    ///     assert_eq!(std::fs::read_to_string(&path)?, "first\nsecond\n");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn write_all_at<B: IoBuf + Send>(&self, mut buf: B, pos: u64) -> (io::Result<()>, B) {
        let total = buf.bytes_init();
        let mut sent = 0;
        while sent < total {
            let (res, slice) = self
                .write_at(buf.slice(sent..total), pos + sent as u64)
                .await;
            buf = slice.into_inner();
            match res {
                Ok(0) => {
                    let e = io::Error::new(io::ErrorKind::WriteZero, "the file took no bytes");
                    return (Err(e), buf);
                }
                Ok(n) => sent += n,
                Err(e) => return (Err(e), buf),
            }
        }
        (Ok(()), buf)
    }

    /// Flushes data and metadata to the device (`fsync`).
    ///
    /// ```
    /// use ringloop::fs::File;
    ///
    /// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-file-sync-all.db", std::process::id()));
    /// ringloop::run(async {
    ///     let file = File::create(&path).await?;
    ///     file.write_all_at(b"committed", 0).await.0?;
    ///     file.sync_all().await?; // on the device now, size and times included
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn sync_all(&self) -> io::Result<()> {
        self.sync(false).await
    }

    /// Flushes data (and the metadata needed to read it back) to the device
    /// (`fdatasync`).
    ///
    /// ```
    /// use ringloop::fs::File;
    ///
    /// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-file-sync-data.wal", std::process::id()));
    /// ringloop::run(async {
    ///     let file = File::create(&path).await?;
    ///     file.write_all_at(b"log record", 0).await.0?;
    ///     file.sync_data().await?; // the data is durable (cheaper than sync_all)
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn sync_data(&self) -> io::Result<()> {
        self.sync(true).await
    }

    async fn sync(&self, data_only: bool) -> io::Result<()> {
        let (core, ring) = current("ringloop::fs::File::sync_all");
        match ring {
            Some(io) => Op::new(io, Fsync::new(self.std().clone(), data_only)).await,
            None => {
                let file = self.std().clone();
                core.spawn_blocking(move || {
                    if data_only {
                        file.sync_data()
                    } else {
                        file.sync_all()
                    }
                })
                .await?
            }
        }
    }

    /// The file's metadata (statx(2): on the ring on io_uring, on the blocking pool on
    /// epoll).
    ///
    /// ```
    /// use ringloop::fs::File;
    ///
    /// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-file-metadata.txt", std::process::id()));
    /// std::fs::write(&path, "12345")?;
    /// ringloop::run(async {
    ///     let file = File::open(&path).await?;
    ///     let meta = file.metadata().await?;
    ///     assert!(meta.is_file());
    ///     assert_eq!(meta.len(), 5);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn metadata(&self) -> io::Result<super::Metadata> {
        let op = crate::driver::ops::file::Statx::file(self.std().clone());
        super::metadata::statx("ringloop::fs::File::metadata", op).await
    }

    /// Truncates or extends the file to `size` bytes (from the blocking pool).
    ///
    /// ```
    /// use ringloop::fs::File;
    ///
    /// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-file-set-len.bin", std::process::id()));
    /// ringloop::run(async {
    ///     let file = File::create(&path).await?;
    ///     file.set_len(4096).await?; // preallocated (reads as zeros)
    ///     assert_eq!(file.metadata().await?.len(), 4096);
    ///     file.set_len(0).await?; // and emptied again
    ///     assert_eq!(file.metadata().await?.len(), 0);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn set_len(&self, size: u64) -> io::Result<()> {
        let file = self.std().clone();
        super::blocking("ringloop::fs::File::set_len", move || file.set_len(size)).await
    }
}

impl Drop for File {
    fn drop(&mut self) {
        if let Some(shared) = self.std.take() {
            // A blocking job still holding it closes it when it ends.
            if let Ok(file) = Arc::try_unwrap(shared) {
                crate::net::socket::close_soon(file.into());
            }
        }
    }
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.std().as_raw_fd()
    }
}

impl AsFd for File {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.std().as_fd()
    }
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File")
            .field("fd", &self.std.as_ref().map(|s| s.as_raw_fd()))
            .finish()
    }
}
