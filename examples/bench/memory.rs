//! Memory per connection (issue 15 item 5), and the descriptor limit it and the
//! largest echo case need.
//!
//! Each echo server (`echo.rs`'s [`EchoServer`]: the stream server on each runtime, a
//! task per connection holding its 16 KiB buffer, and the protocol server) runs in a
//! child process of its own, the bench re-executing itself with `--rss-server LABEL`, so
//! that its resident memory is its alone. The parent connects to it, warms it up with a
//! few connections that make one 64-byte round trip and close, reads the child's `VmRSS`
//! (`/proc/self/status`, through the child's stdin and stdout), opens N connections that
//! make one 64-byte round trip each (so that every one has been accepted, served and is
//! back waiting for data) and stay open and idle, waits a moment, and reads `VmRSS`
//! again. The figure: (RSS with N connections − RSS before) / N, the server's user-space
//! memory per idle connection; the kernel's socket buffers are not in it.

use std::io::{self, BufRead, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::thread;
use std::time::Duration;

use crate::echo::{ECHO_SERVERS, EchoServer, start_server};
use crate::runtime::Available;
use crate::{Plan, Progress};

// ---------------------------------------------------------------------------------------
// Descriptors
// ---------------------------------------------------------------------------------------

/// Raises the soft `RLIMIT_NOFILE` to the hard one (inherited by the children); returns
/// the soft limit in force.
pub(crate) fn raise_nofile() -> io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// Makes sure this process may hold `need` descriptors: the soft limit is raised to the
/// hard one, and past that the hard one is raised too where the process may (root).
/// `Err` says why not.
pub(crate) fn ensure_nofile(need: u64) -> Result<(), String> {
    let (soft, hard) = rlimit::Resource::NOFILE
        .get()
        .map_err(|e| format!("getrlimit: {e}"))?;
    if soft >= need {
        return Ok(());
    }
    let raised = if hard >= need {
        rlimit::Resource::NOFILE.set(need, hard)
    } else {
        rlimit::Resource::NOFILE.set(need, need)
    };
    raised.map_err(|e| {
        format!("needs {need} descriptors; RLIMIT_NOFILE is {soft} (hard {hard}) and cannot be raised: {e}")
    })
}

// ---------------------------------------------------------------------------------------
// The child: one server, answering "rss" on stdin with its VmRSS
// ---------------------------------------------------------------------------------------

/// This process's resident set, in bytes (`VmRSS` in `/proc/self/status`).
fn vm_rss() -> io::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no VmRSS in /proc/self/status"))
}

/// The child's side (`--rss-server LABEL`): starts the server, prints its address, then
/// answers each `rss` line on stdin with its `VmRSS` in bytes, until stdin closes.
pub(crate) fn serve_child(label: &str) -> ! {
    let Some(server) = ECHO_SERVERS.into_iter().find(|s| s.label() == label) else {
        eprintln!("bench: --rss-server: no server {label:?}");
        std::process::exit(2);
    };
    let handle = match start_server(server, None) {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("bench: --rss-server {label}: {e}");
            std::process::exit(1);
        }
    };
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "{}", handle.addr);
    let _ = stdout.flush();
    for line in io::stdin().lock().lines() {
        match line.as_deref() {
            Ok("rss") => {
                let rss = vm_rss().unwrap_or(0);
                let _ = writeln!(stdout, "{rss}");
                let _ = stdout.flush();
            }
            _ => break,
        }
    }
    drop(handle);
    std::process::exit(0);
}

// ---------------------------------------------------------------------------------------
// The parent: connections and figures
// ---------------------------------------------------------------------------------------

/// A server in a child process.
struct ServerChild {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    addr: SocketAddr,
}

impl ServerChild {
    fn start(server: EchoServer) -> io::Result<ServerChild> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["--rss-server", server.label()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let addr = line.trim().parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the server child said {line:?}, not its address"),
            )
        })?;
        Ok(ServerChild {
            child,
            stdin,
            stdout,
            addr,
        })
    }

    fn rss(&mut self) -> io::Result<u64> {
        let stdin = self.stdin.as_mut().expect("the child's stdin is open");
        writeln!(stdin, "rss")?;
        stdin.flush()?;
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        line.trim().parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the server child said {line:?}, not its RSS"),
            )
        })
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        // Closing its stdin makes the child stop its server and exit.
        self.stdin.take();
        let _ = self.child.wait();
    }
}

/// A connection that made one 64-byte round trip.
fn connect_once(addr: SocketAddr) -> io::Result<TcpStream> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let msg = [0x5au8; 64];
    stream.write_all(&msg)?;
    let mut reply = [0u8; 64];
    stream.read_exact(&mut reply)?;
    if reply != msg {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the echo differs from the message",
        ));
    }
    Ok(stream)
}

/// One server's figures.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Memory {
    pub(crate) before: u64,
    pub(crate) after: u64,
    pub(crate) conns: usize,
}

impl Memory {
    /// Bytes of RSS per idle connection.
    pub(crate) fn per_conn(&self) -> f64 {
        (self.after as f64 - self.before as f64) / self.conns as f64
    }
}

/// Connections of the warm-up, opened and closed before the first reading.
const WARMUP_CONNS: usize = 16;
/// How long the server is left alone before each reading.
const SETTLE: Duration = Duration::from_millis(200);

fn measure_server(server: EchoServer, conns: usize) -> io::Result<Memory> {
    let mut child = ServerChild::start(server)?;
    let warmup: Vec<TcpStream> = (0..WARMUP_CONNS)
        .map(|_| connect_once(child.addr))
        .collect::<io::Result<_>>()?;
    drop(warmup);
    thread::sleep(SETTLE);
    let before = child.rss()?;
    let open: Vec<TcpStream> = (0..conns)
        .map(|_| connect_once(child.addr))
        .collect::<io::Result<_>>()?;
    thread::sleep(SETTLE);
    let after = child.rss()?;
    // The server goes first, then the client's ends.
    drop(child);
    drop(open);
    Ok(Memory {
        before,
        after,
        conns,
    })
}

/// Memory results: per server (by [`EchoServer::index`]), with why a server had none.
pub(crate) type MemoryResults = [Result<Memory, String>; ECHO_SERVERS.len()];

/// Progress steps of [`run_memory`].
pub(crate) fn memory_steps() -> usize {
    ECHO_SERVERS.len()
}

pub(crate) fn run_memory(plan: &Plan, available: &Available, progress: &Progress) -> MemoryResults {
    let room = ensure_nofile(plan.memory_conns as u64 + 64);
    ECHO_SERVERS.map(|server| {
        progress.step(format!(
            "memory: {} idle connections on {}",
            plan.memory_conns,
            server.label()
        ));
        if !available[server.runtime().index()] {
            return Err("unavailable".to_string());
        }
        room.clone()?;
        measure_server(server, plan.memory_conns).map_err(|e| {
            eprintln!("\nbench: memory: {}: {e}", server.label());
            format!("{}: {e}", server.label())
        })
    })
}
