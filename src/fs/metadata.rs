//! [`Metadata`]: what statx(2) says about a file, asked on the ring.

use std::ffi::CString;
use std::fmt;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::driver::op::Op;
use crate::driver::ops::file::Statx;

/// A file's metadata (std's `fs::Metadata`, read with statx(2): through the ring on
/// io_uring, on the blocking pool on epoll). The methods have std's names, so code
/// written against `std::fs::Metadata` reads the same; the Unix fields (std's
/// `MetadataExt`) are plain methods here.
///
/// ```
/// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-meta.txt", std::process::id()));
/// std::fs::write(&path, "12345")?;
/// let meta = ringloop::run(ringloop::fs::metadata(&path))?;
/// assert!(meta.is_file() && !meta.is_dir());
/// assert_eq!(meta.len(), 5);
/// assert!(meta.modified()? <= std::time::SystemTime::now());
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct Metadata {
    stx: libc::statx,
}

impl Metadata {
    /// The size in bytes.
    ///
    /// ```
    /// let meta = ringloop::run(ringloop::fs::metadata("/proc/self/exe"))?;
    /// assert!(meta.len() > 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn len(&self) -> u64 {
        self.stx.stx_size
    }

    /// Whether the size is zero.
    ///
    /// ```
    /// let meta = ringloop::run(ringloop::fs::metadata("/dev/null"))?;
    /// assert!(meta.is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The kind of file.
    ///
    /// ```
    /// let meta = ringloop::run(ringloop::fs::metadata("/dev/null"))?;
    /// assert!(meta.file_type().is_char_device());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn file_type(&self) -> FileType {
        FileType(u32::from(self.stx.stx_mode))
    }

    /// Whether it is a regular file.
    ///
    /// ```
    /// let meta = ringloop::run(ringloop::fs::metadata("/proc/self/exe"))?;
    /// assert!(meta.is_file()); // the link was followed
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_file(&self) -> bool {
        self.file_type().is_file()
    }

    /// Whether it is a directory.
    ///
    /// ```
    /// let meta = ringloop::run(ringloop::fs::metadata(std::env::temp_dir()))?;
    /// assert!(meta.is_dir());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_dir(&self) -> bool {
        self.file_type().is_dir()
    }

    /// Whether it is a symbolic link (only from [`symlink_metadata`](super::symlink_metadata)).
    ///
    /// ```
    /// let meta = ringloop::run(ringloop::fs::symlink_metadata("/proc/self/exe"))?;
    /// assert!(meta.is_symlink());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_symlink(&self) -> bool {
        self.file_type().is_symlink()
    }

    /// The permission bits, as std's `Permissions`.
    ///
    /// ```
    /// use std::os::unix::fs::PermissionsExt;
    ///
    /// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-perm", std::process::id()));
    /// std::fs::write(&path, "")?;
    /// std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640))?;
    /// let meta = ringloop::run(ringloop::fs::metadata(&path))?;
    /// assert_eq!(meta.permissions().mode() & 0o777, 0o640);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn permissions(&self) -> std::fs::Permissions {
        std::fs::Permissions::from_mode(self.mode())
    }

    /// The last modification time.
    ///
    /// ```
    /// let meta = ringloop::run(ringloop::fs::metadata(std::env::temp_dir()))?;
    /// assert!(meta.modified()? > std::time::UNIX_EPOCH);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn modified(&self) -> io::Result<SystemTime> {
        self.time(libc::STATX_MTIME, self.stx.stx_mtime)
    }

    /// The last access time.
    ///
    /// ```
    /// let meta = ringloop::run(ringloop::fs::metadata(std::env::temp_dir()))?;
    /// assert!(meta.accessed()? > std::time::UNIX_EPOCH);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn accessed(&self) -> io::Result<SystemTime> {
        self.time(libc::STATX_ATIME, self.stx.stx_atime)
    }

    /// The creation (birth) time, where the filesystem records one; `Unsupported`
    /// otherwise (as std).
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("ringloop-doc-{}-born", std::process::id()));
    /// std::fs::write(&path, "")?;
    /// let meta = ringloop::run(ringloop::fs::metadata(&path))?;
    /// match meta.created() {
    ///     Ok(born) => assert!(born <= std::time::SystemTime::now()),
    ///     Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::Unsupported),
    /// }
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn created(&self) -> io::Result<SystemTime> {
        self.time(libc::STATX_BTIME, self.stx.stx_btime)
    }

    fn time(&self, bit: u32, t: libc::statx_timestamp) -> io::Result<SystemTime> {
        if self.stx.stx_mask & bit == 0 {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this filesystem does not record that time",
            ));
        }
        // statx's seconds may be negative (before 1970); its nanoseconds never are, and
        // count forward from those seconds.
        let secs = SystemTime::UNIX_EPOCH
            .checked_add(Duration::from_secs(t.tv_sec.max(0).unsigned_abs()))
            .and_then(|t0| t0.checked_sub(Duration::from_secs(t.tv_sec.min(0).unsigned_abs())));
        secs.and_then(|s| s.checked_add(Duration::from_nanos(u64::from(t.tv_nsec))))
            .ok_or_else(|| io::Error::other("a file time outside the system clock's range"))
    }

    /// The mode: file type and permission bits (std's `MetadataExt::mode`).
    ///
    /// ```
    /// let meta = ringloop::run(ringloop::fs::metadata(std::env::temp_dir()))?;
    /// assert_eq!(meta.mode() & libc::S_IFMT, libc::S_IFDIR);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn mode(&self) -> u32 {
        u32::from(self.stx.stx_mode)
    }

    /// The inode number.
    ///
    /// ```
    /// use std::os::unix::fs::MetadataExt;
    ///
    /// let dir = std::env::temp_dir();
    /// let meta = ringloop::run(ringloop::fs::metadata(&dir))?;
    /// assert_eq!(meta.ino(), std::fs::metadata(&dir)?.ino());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn ino(&self) -> u64 {
        self.stx.stx_ino
    }

    /// The device the file is on.
    ///
    /// ```
    /// use std::os::unix::fs::MetadataExt;
    ///
    /// let dir = std::env::temp_dir();
    /// let meta = ringloop::run(ringloop::fs::metadata(&dir))?;
    /// assert_eq!(meta.dev(), std::fs::metadata(&dir)?.dev());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn dev(&self) -> u64 {
        libc::makedev(self.stx.stx_dev_major, self.stx.stx_dev_minor)
    }

    /// The number of hard links.
    ///
    /// ```
    /// let meta = ringloop::run(ringloop::fs::metadata("/proc/self/exe"))?;
    /// assert!(meta.nlink() >= 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn nlink(&self) -> u64 {
        u64::from(self.stx.stx_nlink)
    }

    /// The owner's user id.
    ///
    /// ```
    /// use std::os::unix::fs::MetadataExt;
    ///
    /// let dir = std::env::temp_dir();
    /// let meta = ringloop::run(ringloop::fs::metadata(&dir))?;
    /// assert_eq!(meta.uid(), std::fs::metadata(&dir)?.uid());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn uid(&self) -> u32 {
        self.stx.stx_uid
    }

    /// The owner's group id.
    ///
    /// ```
    /// use std::os::unix::fs::MetadataExt;
    ///
    /// let dir = std::env::temp_dir();
    /// let meta = ringloop::run(ringloop::fs::metadata(&dir))?;
    /// assert_eq!(meta.gid(), std::fs::metadata(&dir)?.gid());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn gid(&self) -> u32 {
        self.stx.stx_gid
    }

    /// The filesystem's preferred I/O block size.
    ///
    /// ```
    /// let meta = ringloop::run(ringloop::fs::metadata(std::env::temp_dir()))?;
    /// assert!(meta.blksize().is_power_of_two());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn blksize(&self) -> u64 {
        u64::from(self.stx.stx_blksize)
    }

    /// The 512-byte blocks allocated.
    ///
    /// ```
    /// let meta = ringloop::run(ringloop::fs::metadata("/dev/null"))?;
    /// assert_eq!(meta.blocks(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn blocks(&self) -> u64 {
        self.stx.stx_blocks
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metadata")
            .field("file_type", &self.file_type())
            .field("len", &self.len())
            .field("mode", &format_args!("{:#o}", self.mode()))
            .field("modified", &self.modified().ok())
            .finish_non_exhaustive()
    }
}

/// The kind of a file (std's `fs::FileType`), from [`Metadata::file_type`].
///
/// ```
/// let kind = ringloop::run(ringloop::fs::metadata(std::env::temp_dir()))?.file_type();
/// assert!(kind.is_dir() && !kind.is_file() && !kind.is_symlink());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileType(u32);

impl FileType {
    fn is(self, kind: u32) -> bool {
        self.0 & libc::S_IFMT == kind
    }

    /// A regular file.
    ///
    /// ```
    /// let kind = ringloop::run(ringloop::fs::metadata("/proc/self/exe"))?.file_type();
    /// assert!(kind.is_file());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_file(self) -> bool {
        self.is(libc::S_IFREG)
    }

    /// A directory.
    ///
    /// ```
    /// let kind = ringloop::run(ringloop::fs::metadata("/"))?.file_type();
    /// assert!(kind.is_dir());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_dir(self) -> bool {
        self.is(libc::S_IFDIR)
    }

    /// A symbolic link.
    ///
    /// ```
    /// let kind = ringloop::run(ringloop::fs::symlink_metadata("/proc/self/exe"))?.file_type();
    /// assert!(kind.is_symlink());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_symlink(self) -> bool {
        self.is(libc::S_IFLNK)
    }

    /// A named pipe.
    ///
    /// ```
    /// let kind = ringloop::run(ringloop::fs::metadata("/dev/null"))?.file_type();
    /// assert!(!kind.is_fifo());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_fifo(self) -> bool {
        self.is(libc::S_IFIFO)
    }

    /// A Unix socket.
    ///
    /// ```
    /// let kind = ringloop::run(ringloop::fs::metadata("/dev/null"))?.file_type();
    /// assert!(!kind.is_socket());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_socket(self) -> bool {
        self.is(libc::S_IFSOCK)
    }

    /// A character device.
    ///
    /// ```
    /// let kind = ringloop::run(ringloop::fs::metadata("/dev/null"))?.file_type();
    /// assert!(kind.is_char_device());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_char_device(self) -> bool {
        self.is(libc::S_IFCHR)
    }

    /// A block device.
    ///
    /// ```
    /// let kind = ringloop::run(ringloop::fs::metadata("/dev/null"))?.file_type();
    /// assert!(!kind.is_block_device());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_block_device(self) -> bool {
        self.is(libc::S_IFBLK)
    }
}

impl fmt::Debug for FileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 & libc::S_IFMT {
            libc::S_IFREG => "file",
            libc::S_IFDIR => "directory",
            libc::S_IFLNK => "symlink",
            libc::S_IFIFO => "fifo",
            libc::S_IFSOCK => "socket",
            libc::S_IFCHR => "char device",
            libc::S_IFBLK => "block device",
            _ => "unknown",
        };
        f.write_str(name)
    }
}

/// Runs `op` on the ring, or on the blocking pool where the driver has no file
/// operations.
pub(super) async fn statx(what: &str, op: Statx) -> io::Result<Metadata> {
    let (core, ring) = super::file::current(what);
    let stx = match ring {
        Some(io) => Op::new(io, op).await?,
        None => core.spawn_blocking(move || op.run_here()).await??,
    };
    Ok(Metadata { stx })
}

/// `path` as a C string, for the kernel.
pub(super) fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path with a NUL byte"))
}
