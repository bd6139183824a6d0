//! Threads: CPU time and placement. A thread's CPU time and a core's busy time read
//! from `/proc`, and pinning with `taskset`.

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Reads one thread's CPU time from `/proc`, from any thread of the process.
#[derive(Clone, Debug)]
pub(crate) struct ThreadClock {
    tid: String,
}

/// Whether `/proc/<tid>/schedstat` (nanoseconds) works here; else `stat`'s clock ticks.
pub(crate) fn schedstat_works() -> bool {
    static WORKS: OnceLock<bool> = OnceLock::new();
    *WORKS.get_or_init(|| {
        // Burn a little CPU so that a working counter cannot read zero.
        let start = Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(2) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        std::fs::read_to_string("/proc/thread-self/schedstat")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .is_some_and(|ns| ns > 0)
    })
}

impl ThreadClock {
    /// The calling thread's clock.
    pub(crate) fn current() -> ThreadClock {
        // `/proc/thread-self` links to `<pid>/task/<tid>`.
        let tid = std::fs::read_link("/proc/thread-self")
            .ok()
            .and_then(|link| Some(link.file_name()?.to_str()?.to_string()))
            .expect("/proc/thread-self names the calling thread");
        ThreadClock { tid }
    }

    pub(crate) fn read(&self) -> Duration {
        if schedstat_works() {
            let path = format!("/proc/self/task/{}/schedstat", self.tid);
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let ns = text.split_whitespace().next().and_then(|f| f.parse().ok());
            Duration::from_nanos(ns.unwrap_or(0))
        } else {
            // utime and stime are fields 14 and 15, counted after the `(comm)` field,
            // in USER_HZ (100 on Linux) ticks.
            let path = format!("/proc/self/task/{}/stat", self.tid);
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let after_comm = text.rsplit_once(')').map_or("", |(_, rest)| rest);
            let fields: Vec<u64> = after_comm
                .split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|f| f.parse().ok())
                .collect();
            Duration::from_millis(fields.iter().sum::<u64>() * 10)
        }
    }
}

/// How long `cpu` has been busy (user, system, interrupts, steal: anything but idle and
/// I/O wait), from `/proc/stat`, in USER_HZ (100 on Linux) ticks.
pub(crate) fn cpu_busy(cpu: usize) -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let label = format!("cpu{cpu}");
    let line = stat
        .lines()
        .find(|line| line.split_whitespace().next() == Some(label.as_str()))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let busy: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| fields.get(i))
        .sum();
    Some(Duration::from_millis(busy * 10))
}

/// The CPU time of this process's children that have ended and been waited for
/// (`cutime` + `cstime` in `/proc/self/stat`, 10 ms ticks): an external load generator
/// (wrk) once it has exited.
pub(crate) fn children_cpu_time() -> Duration {
    let text = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_comm = text.rsplit_once(')').map_or("", |(_, rest)| rest);
    // Fields 16 and 17, counted as in `ThreadClock::read`.
    let ticks: u64 = after_comm
        .split_whitespace()
        .skip(13)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

/// The calling thread's CPU time.
pub(crate) fn thread_cpu_time() -> Duration {
    ThreadClock::current().read()
}

/// Pins the calling thread to `cpu` with `taskset` (no `unsafe` needed): `Err` says why
/// it could not.
pub(crate) fn pin_current_thread(cpu: usize) -> Result<(), String> {
    let tid = ThreadClock::current().tid;
    let status = Command::new("taskset")
        .args(["-p", "-c", &cpu.to_string(), &tid])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("taskset: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("taskset -p -c {cpu} {tid}: {status}"))
    }
}
