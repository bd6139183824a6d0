//! Subprocesses (asyncio's `create_subprocess_exec`, tokio's `process`): [`Command`] has
//! std's shape, [`Child::wait`] awaits the exit without blocking the loop, and piped
//! stdio reads and writes with owned buffers.
//!
//! The exit is awaited through a pidfd (`pidfd_open`, Linux 5.3), which becomes readable
//! when the child exits: a readiness wait on the ring or on epoll, then a reap. No
//! `SIGCHLD` handler is installed. A [`Child`] dropped before it was waited for is reaped
//! in the background (a small thread that polls the orphans' pidfds), so no zombie is
//! left; it is not killed (as with std).
//!
//! ```
//! use ringloop::process::Command;
//!
//! let out = ringloop::run(async { Command::new("echo").arg("hello").output().await })?;
//! assert!(out.status.success());
//! assert_eq!(out.stdout, b"hello\n");
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! With the feature `tokio-io` (or `futures-io`) the pipes also implement `AsyncRead`
//! ([`ChildStdout`], [`ChildStderr`]) and `AsyncWrite` ([`ChildStdin`]: nothing is
//! buffered; shutting it down closes the pipe, so the child reads end of file), for
//! codecs and `tokio::io::copy`. The owned-buffer `read` and `write_all` keep the plain
//! names; call the traits' methods through their paths:
//!
//! ```
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use ringloop::process::{Command, Stdio};
//!
//! let sorted = ringloop::run(async {
//!     let mut child = Command::new("sort").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
//!     let mut stdin = child.stdin.take().unwrap();
//!     AsyncWriteExt::write_all(&mut stdin, b"pear\napple\n").await?;
//!     stdin.shutdown().await?; // end of file: sort answers
//!     let mut out = String::new();
//!     child.stdout.take().unwrap().read_to_string(&mut out).await?;
//!     child.wait().await?;
//!     Ok::<_, std::io::Error>(out)
//! })?;
//! assert_eq!(sorted, "apple\npear\n");
//! # Ok::<(), std::io::Error>(())
//! ```

#![forbid(unsafe_code)]

mod reaper;
mod stdio;

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

pub use std::process::{ExitStatus, Output, Stdio};
pub use stdio::{ChildStderr, ChildStdin, ChildStdout};

use crate::driver::fd::Fd;
use crate::driver::op::Op;
use crate::driver::ops::ready::{Interest, Ready};

/// A process to start: std's `Command`, whose child is awaited on the loop.
///
/// ```
/// use ringloop::process::{Command, Stdio};
///
/// let status = ringloop::run(async {
///     let mut child = Command::new("sh").args(["-c", "exit 3"]).stdout(Stdio::null()).spawn()?;
///     child.wait().await
/// })?;
/// assert_eq!(status.code(), Some(3));
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Command {
    std: std::process::Command,
}

impl Command {
    /// A command running `program` (looked up in `PATH` unless it has a slash).
    ///
    /// ```
    /// use ringloop::process::Command;
    ///
    /// let out = ringloop::run(Command::new("true").output())?;
    /// assert!(out.status.success());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            std: std::process::Command::new(program),
        }
    }

    /// Adds an argument.
    ///
    /// ```
    /// use ringloop::process::Command;
    ///
    /// let out = ringloop::run(Command::new("echo").arg("-n").arg("two words").output())?;
    /// assert_eq!(out.stdout, b"two words"); // one argument, spaces and all
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.std.arg(arg);
        self
    }

    /// Adds arguments.
    ///
    /// ```
    /// use ringloop::process::Command;
    ///
    /// let out = ringloop::run(Command::new("printf").args(["%s-%s", "a", "b"]).output())?;
    /// assert_eq!(out.stdout, b"a-b");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.std.args(args);
        self
    }

    /// Sets an environment variable for the child.
    ///
    /// ```
    /// use ringloop::process::Command;
    ///
    /// let out = ringloop::run(Command::new("sh").args(["-c", "echo $GREETING"]).env("GREETING", "hi").output())?;
    /// assert_eq!(out.stdout, b"hi\n");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.std.env(key, value);
        self
    }

    /// Sets environment variables for the child.
    ///
    /// ```
    /// use ringloop::process::Command;
    ///
    /// let vars = [("A", "1"), ("B", "2")];
    /// let out = ringloop::run(Command::new("sh").args(["-c", "echo $A$B"]).envs(vars).output())?;
    /// assert_eq!(out.stdout, b"12\n");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.std.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment.
    ///
    /// ```
    /// use ringloop::process::Command;
    ///
    /// let out = ringloop::run(
    ///     Command::new("sh").args(["-c", "echo ${HOME:-unset}"]).env_remove("HOME").output(),
    /// )?;
    /// assert_eq!(out.stdout, b"unset\n");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.std.env_remove(key);
        self
    }

    /// Starts the child with an empty environment (then add with [`env`](Self::env)).
    ///
    /// ```
    /// use ringloop::process::Command;
    ///
    /// let out = ringloop::run(Command::new("/usr/bin/env").env_clear().env("ONLY", "this").output())?;
    /// assert_eq!(out.stdout, b"ONLY=this\n"); // nothing inherited
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn env_clear(&mut self) -> &mut Self {
        self.std.env_clear();
        self
    }

    /// The child's working directory.
    ///
    /// ```
    /// use ringloop::process::Command;
    ///
    /// let dir = std::env::temp_dir().canonicalize()?;
    /// let out = ringloop::run(Command::new("pwd").current_dir(&dir).output())?;
    /// assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), dir.to_string_lossy());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.std.current_dir(dir);
        self
    }

    /// The child's standard input (default: inherited; [`output`](Self::output): none).
    ///
    /// ```
    /// use ringloop::process::{Command, Stdio};
    ///
    /// let out = ringloop::run(async {
    ///     let mut child = Command::new("wc").arg("-c")
    ///         .stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
    ///     let stdin = child.stdin.take().unwrap();
    ///     stdin.write_all(b"12345").await.0?;
    ///     drop(stdin); // end of file
    ///     let (n, buf) = child.stdout.take().unwrap().read(Vec::with_capacity(32)).await;
    ///     child.wait().await?;
    ///     n.map(|n| buf[..n].to_vec())
    /// })?;
    /// assert_eq!(String::from_utf8_lossy(&out).trim(), "5");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Self {
        self.std.stdin(cfg);
        self
    }

    /// The child's standard output (default: inherited; [`output`](Self::output): piped).
    ///
    /// ```
    /// use ringloop::process::{Command, Stdio};
    ///
    /// let status = ringloop::run(async {
    ///     // Silence a chatty child.
    ///     Command::new("echo").arg("noise").stdout(Stdio::null()).status().await
    /// })?;
    /// assert!(status.success());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Self {
        self.std.stdout(cfg);
        self
    }

    /// The child's standard error (default: inherited; [`output`](Self::output): piped).
    ///
    /// ```
    /// use ringloop::process::{Command, Stdio};
    ///
    /// let out = ringloop::run(async {
    ///     let mut child = Command::new("sh").args(["-c", "echo oops >&2"])
    ///         .stderr(Stdio::piped()).spawn()?;
    ///     let (n, buf) = child.stderr.take().unwrap().read(Vec::with_capacity(64)).await;
    ///     child.wait().await?;
    ///     n.map(|n| buf[..n].to_vec())
    /// })?;
    /// assert_eq!(out, b"oops\n");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Self {
        self.std.stderr(cfg);
        self
    }

    /// Starts the child (the fork and exec happen now, as with std: this is not async).
    /// Piped stdio comes back as the child's `stdin` / `stdout` / `stderr`.
    ///
    /// # Errors
    ///
    /// The OS's error: `NotFound` for a program that does not exist,
    /// `PermissionDenied` for one that is not executable, ...
    ///
    /// ```
    /// use ringloop::process::Command;
    ///
    /// let code = ringloop::run(async {
    ///     let mut child = Command::new("sleep").arg("0.01").spawn()?;
    ///     // The loop runs other tasks while the child runs.
    ///     child.wait().await.map(|status| status.code())
    /// })?;
    /// assert_eq!(code, Some(0));
    /// let missing = Command::new("no-such-program-here").spawn().unwrap_err();
    /// assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn(&mut self) -> io::Result<Child> {
        let mut std = self.std.spawn()?;
        let pidfd = match crate::sys::process::pidfd_open(std.id()) {
            Ok(fd) => fd,
            Err(e) => {
                // Without a pidfd the exit cannot be awaited: do not leave the child.
                let _ = std.kill();
                let _ = std.wait();
                return Err(e);
            }
        };
        let stdin = std.stdin.take().map(ChildStdin::new).transpose()?;
        let stdout = std.stdout.take().map(ChildStdout::new).transpose()?;
        let stderr = std.stderr.take().map(ChildStderr::new).transpose()?;
        let handle = Fd::new(pidfd.as_raw_fd());
        Ok(Child {
            std: Some(std),
            pidfd: Some(pidfd),
            handle,
            status: None,
            stdin,
            stdout,
            stderr,
        })
    }

    /// Runs the child to its end and collects its output (stdout and stderr piped and
    /// read concurrently, stdin empty), as std's `output`.
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn), or a read of the pipes failing.
    ///
    /// ```
    /// use ringloop::process::Command;
    ///
    /// let out = ringloop::run(Command::new("sh").args(["-c", "echo out; echo err >&2; exit 2"]).output())?;
    /// assert_eq!(out.status.code(), Some(2));
    /// assert_eq!((&out.stdout[..], &out.stderr[..]), (&b"out\n"[..], &b"err\n"[..]));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn output(&mut self) -> io::Result<Output> {
        self.std
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.spawn()?;
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let (out, err) = crate::join!(read_all(stdout), read_all(stderr));
        let status = child.wait().await?;
        Ok(Output {
            status,
            stdout: out?,
            stderr: err?,
        })
    }

    /// Runs the child to its end with inherited stdio; its exit status.
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn).
    ///
    /// ```
    /// use ringloop::process::Command;
    ///
    /// let status = ringloop::run(Command::new("false").status())?;
    /// assert!(!status.success());
    /// assert_eq!(status.code(), Some(1));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn status(&mut self) -> io::Result<ExitStatus> {
        self.spawn()?.wait().await
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.std, f)
    }
}

/// Everything a pipe gives until end of file (nothing for no pipe).
async fn read_all<P: stdio::PipeRead>(pipe: Option<P>) -> io::Result<Vec<u8>> {
    let Some(pipe) = pipe else {
        return Ok(Vec::new());
    };
    let mut data = Vec::new();
    let mut buf = Vec::with_capacity(16 * 1024);
    loop {
        let (n, b) = pipe.read_into(buf).await;
        if n? == 0 {
            return Ok(data);
        }
        data.extend_from_slice(&b);
        buf = b;
        buf.clear();
    }
}

/// A running (or finished) child process.
///
/// ```
/// use ringloop::process::{Command, Stdio};
///
/// let (pid, status, output) = ringloop::run(async {
///     let mut child = Command::new("sh").args(["-c", "read line; echo got $line"])
///         .stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
///     let pid = child.id();
///     let stdin = child.stdin.take().unwrap();
///     stdin.write_all(b"it\n").await.0?;
///     let (n, buf) = child.stdout.take().unwrap().read(Vec::with_capacity(64)).await;
///     let status = child.wait().await?;
///     Ok::<_, std::io::Error>((pid, status, buf[..n?].to_vec()))
/// })?;
/// assert!(pid > 0 && status.success());
/// assert_eq!(output, b"got it\n");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Child {
    std: Option<std::process::Child>,
    pidfd: Option<OwnedFd>,
    handle: Fd,
    status: Option<ExitStatus>,
    /// The child's standard input, if piped; drop it to send end of file.
    pub stdin: Option<ChildStdin>,
    /// The child's standard output, if piped.
    pub stdout: Option<ChildStdout>,
    /// The child's standard error, if piped.
    pub stderr: Option<ChildStderr>,
}

impl Child {
    /// The child's process id.
    ///
    /// ```
    /// use ringloop::process::Command;
    ///
    /// let mut child = Command::new("true").spawn()?;
    /// assert!(child.id() > 0); // the pid, e.g. for logs
    /// ringloop::run(child.wait())?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn id(&self) -> u32 {
        self.std.as_ref().map_or(0, std::process::Child::id)
    }

    /// Awaits the child's exit (the loop runs on meanwhile) and reaps it; its status.
    /// Once it has returned, later calls return the same status at once.
    ///
    /// # Errors
    ///
    /// The OS's error reaping it (not seen in practice).
    ///
    /// ```
    /// use ringloop::process::Command;
    ///
    /// let status = ringloop::run(async {
    ///     let mut child = Command::new("sh").args(["-c", "exit 7"]).spawn()?;
    ///     let status = child.wait().await?;
    ///     assert_eq!(child.wait().await?, status); // the same status again, at once
    ///     Ok::<_, std::io::Error>(status)
    /// })?;
    /// assert_eq!(status.code(), Some(7));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        // Piped stdin left open could keep a child reading forever: close it, as std does.
        drop(self.stdin.take());
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            let io = crate::event_loop::context::current_io("ringloop::process::Child::wait");
            Op::new(io, Ready::new(self.handle, Interest::Readable)).await?;
        }
    }

    /// The exit status if the child has exited (reaping it), else `None`, without
    /// waiting.
    ///
    /// # Errors
    ///
    /// The OS's error.
    ///
    /// ```
    /// use ringloop::process::Command;
    ///
    /// use std::time::Duration;
    ///
    /// ringloop::run(async {
    ///     let mut child = Command::new("sleep").arg("0.01").spawn()?;
    ///     assert!(child.try_wait()?.is_none()); // still running
    ///     while child.try_wait()?.is_none() {
    ///         ringloop::sleep(Duration::from_millis(1)).await;
    ///     }
    ///     assert!(child.try_wait()?.unwrap().success());
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        let std = self.std.as_mut().expect("a child is present until dropped");
        let status = std.try_wait()?;
        self.status = status;
        Ok(status)
    }

    /// Sends `SIGKILL` to the child (nothing if it has already been reaped). Await
    /// [`wait`](Self::wait) to reap it.
    ///
    /// # Errors
    ///
    /// The OS's error.
    ///
    /// ```
    /// use ringloop::process::Command;
    ///
    /// use std::os::unix::process::ExitStatusExt;
    ///
    /// let status = ringloop::run(async {
    ///     let mut child = Command::new("sleep").arg("60").spawn()?;
    ///     child.kill()?;
    ///     child.wait().await // reap it
    /// })?;
    /// assert_eq!(status.signal(), Some(9)); // SIGKILL
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn kill(&mut self) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        self.std.as_mut().expect("a child is present").kill()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.status.is_none()
            && let (Some(std), Some(pidfd)) = (self.std.take(), self.pidfd.take())
        {
            reaper::adopt(std, pidfd);
        }
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("id", &self.id())
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}
