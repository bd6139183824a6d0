//! Threads: CPU time and placement. A thread's CPU time and a core's busy time read
//! from `/proc`, and pinning with `taskset`.

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Reads one thread's CPU time from `/proc`, from any thread of the process (or the
/// main thread of a child process).
#[derive(Clone, Debug)]
pub(crate) struct ThreadClock {
    tid: String,
    /// `/proc/self/task/<tid>`, or `/proc/<pid>/task/<pid>`.
    dir: String,
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
        let dir = format!("/proc/self/task/{tid}");
        ThreadClock { tid, dir }
    }

    /// The clock of process `pid`'s main thread (a child's).
    pub(crate) fn main_thread_of(pid: u32) -> ThreadClock {
        ThreadClock {
            tid: pid.to_string(),
            dir: format!("/proc/{pid}/task/{pid}"),
        }
    }

    pub(crate) fn read(&self) -> Duration {
        if schedstat_works() {
            let path = format!("{}/schedstat", self.dir);
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let ns = text.split_whitespace().next().and_then(|f| f.parse().ok());
            Duration::from_nanos(ns.unwrap_or(0))
        } else {
            // utime and stime are fields 14 and 15, counted after the `(comm)` field,
            // in USER_HZ (100 on Linux) ticks.
            let path = format!("{}/stat", self.dir);
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

/// The CPUs the first thread to pin itself (the main thread) could run on before, as a
/// `taskset` list (`Cpus_allowed_list` in `/proc/thread-self/status`).
static UNPINNED: OnceLock<Option<String>> = OnceLock::new();

fn allowed_cpus() -> Option<String> {
    let status = std::fs::read_to_string("/proc/thread-self/status").ok()?;
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))?;
    Some(line.trim().to_string())
}

/// Pins the calling thread to `cpu` with `taskset` (no `unsafe` needed): `Err` says why
/// it could not.
pub(crate) fn pin_current_thread(cpu: usize) -> Result<(), String> {
    UNPINNED.get_or_init(allowed_cpus);
    taskset(&cpu.to_string())
}

/// Lets the calling thread run on every CPU the process could use before the first
/// [`pin_current_thread`] (threads inherit their creator's pinning). Nothing to do when
/// nothing was pinned.
pub(crate) fn unpin_current_thread() -> Result<(), String> {
    match UNPINNED.get() {
        Some(Some(cpus)) => taskset(cpus),
        Some(None) => Err("the CPUs allowed before pinning are unknown".to_string()),
        None => Ok(()),
    }
}

fn taskset(cpu: &str) -> Result<(), String> {
    let tid = ThreadClock::current().tid;
    let status = Command::new("taskset")
        .args(["-p", "-c", cpu, &tid])
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

/// The whole machine's busy time (user, nice, system and steal, all CPUs) and how many
/// CPUs it has. Interrupts are left out: the kernel's network work for this process's
/// own loopback traffic is accounted there, not to the process.
fn machine_busy() -> Option<(Duration, usize)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpus = stat
        .lines()
        .filter(|line| line.starts_with("cpu") && !line.starts_with("cpu "))
        .count();
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let busy: u64 = [0, 1, 2, 7].iter().filter_map(|&i| fields.get(i)).sum();
    Some((Duration::from_millis(busy * 10), cpus))
}

/// This process's CPU time, its threads' and its waited-for children's (`utime`,
/// `stime`, `cutime`, `cstime` in `/proc/self/stat`, 10 ms ticks).
fn process_cpu_time() -> Duration {
    let text = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_comm = text.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = after_comm
        .split_whitespace()
        .skip(11)
        .take(4)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

/// Runs `f`, and tells what share of the machine's CPU time went meanwhile to anything
/// but this process (other processes, steal; interrupts not counted): above a few %,
/// `f`'s figures were disturbed. `None` where `/proc/stat` cannot be read.
pub(crate) fn other_load<T>(f: impl FnOnce() -> T) -> (T, Option<f64>) {
    let (before, own_before, start) = (machine_busy(), process_cpu_time(), Instant::now());
    let out = f();
    let (after, own_after, wall) = (machine_busy(), process_cpu_time(), start.elapsed());
    let share = before.zip(after).map(|((b0, cpus), (b1, _))| {
        let other = (b1 - b0).saturating_sub(own_after - own_before);
        other.as_secs_f64() / (wall.as_secs_f64() * cpus.max(1) as f64)
    });
    (out, share)
}
