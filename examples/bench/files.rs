//! Files (issue 13): one file in the output directory (`Plan::file_size`), written once
//! with std, then on each runtime 4 KiB random reads from the page cache at queue depth
//! 1 and 32 (that many tasks, each reading in a loop) for a window, and 1 MiB sequential
//! writes of the whole file. ringloop-io_uring reads through the ring, and writes as
//! `fs::File` routes them (tried without blocking on the loop, else its blocking pool,
//! as on ext4), ringloop-epoll through its blocking pool; tokio does what `tokio::fs` does for every
//! call, a job on its blocking pool (`tokio::task::spawn_blocking`), here with
//! `FileExt::read_at` / `write_all_at` and the buffer moved in and out (positional, so
//! no seek, and no copy into `tokio::fs::File`'s own buffer). The writes measure the
//! page cache, not the disk: each round makes [`WRITE_PASSES`] passes per runtime, each
//! a sample, and before each the file is synced, untimed, so every pass starts from clean
//! pages with no other pass's writeback under way. The file is removed at the end.

use std::io::{self, Write as _};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::measure::median;
use crate::runtime::{RUNTIMES, Runtime, rotated};
use crate::{Plan, Progress};

/// A read's size, and the unit of the file's pattern.
const BLOCK: usize = 4096;
/// A write's size.
const CHUNK: usize = 1 << 20;

/// One row of the files table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileWorkload {
    /// 4 KiB random reads, this many in flight.
    Reads(usize),
    /// 1 MiB sequential writes of the whole file.
    Writes,
}

pub(crate) const FILE_WORKLOADS: [FileWorkload; 3] = [
    FileWorkload::Reads(1),
    FileWorkload::Reads(32),
    FileWorkload::Writes,
];

impl FileWorkload {
    pub(crate) fn name(self) -> String {
        match self {
            FileWorkload::Reads(depth) => format!("4 KiB random reads, QD{depth}"),
            FileWorkload::Writes => "1 MiB sequential writes".to_string(),
        }
    }

    /// The bytes one operation moves.
    pub(crate) fn op_bytes(self) -> usize {
        match self {
            FileWorkload::Reads(_) => BLOCK,
            FileWorkload::Writes => CHUNK,
        }
    }
}

/// The files part's figures.
pub(crate) struct FileResults {
    /// The file's size in bytes.
    pub(crate) size: u64,
    /// `[workload][runtime]`: operations per second, the median over the rounds.
    pub(crate) rates: Vec<[Option<f64>; 3]>,
    /// ringloop's blocking-pool jobs per read and per write (0 where the ring or the
    /// loop thread did them all).
    pub(crate) blocking_per_read: [Option<f64>; 3],
    pub(crate) blocking_per_write: [Option<f64>; 3],
    /// Why the part did not run (the file could not be written), or a runtime's error.
    pub(crate) errors: Vec<String>,
}

/// Removes the file when the part ends, however it ends.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.0)
            && e.kind() != io::ErrorKind::NotFound
        {
            eprintln!("\nbench: files: cannot remove {}: {e}", self.0.display());
        }
    }
}

/// A 1 MiB chunk of the file's pattern: every 4 KiB block holds its index's low byte
/// (a chunk is 256 blocks, so every chunk is the same).
fn chunk() -> Vec<u8> {
    (0..CHUNK).map(|i| (i / BLOCK) as u8).collect()
}

fn write_file(path: &Path, size: u64) -> io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    let chunk = chunk();
    for _ in 0..size / CHUNK as u64 {
        file.write_all(&chunk)?;
    }
    Ok(())
}

/// Fixed-seed xorshift64: the next block index below `blocks`.
fn next_block(state: &mut u64, blocks: u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state % blocks
}

fn seed(task: usize) -> u64 {
    0x9E37_79B9_7F4A_7C15 ^ ((task as u64 + 1) * 0x2545_F491_4F6C_DD1D)
}

/// A read came back whole and from the right block.
fn check_read(res: io::Result<usize>, buf: &[u8], block: u64) {
    let n = res.unwrap_or_else(|e| panic!("files: a read failed: {e}"));
    assert_eq!(n, BLOCK, "files: a short read");
    assert_eq!(buf[0], block as u8, "files: a read from the wrong place");
}

/// A runtime with the file open on it.
enum Runner {
    Ringloop {
        lp: ringloop::EventLoop,
        file: Rc<ringloop::fs::File>,
    },
    Tokio {
        rt: tokio::runtime::Runtime,
        file: Arc<std::fs::File>,
    },
}

impl Runner {
    fn new(runtime: Runtime, path: &Path) -> io::Result<Runner> {
        match runtime.backend() {
            Some(backend) => {
                let lp = ringloop::EventLoop::builder().backend(backend).build()?;
                let mut options = ringloop::fs::OpenOptions::new();
                options.read(true).write(true);
                let file = lp.run_until_complete(options.open(path))?;
                Ok(Runner::Ringloop {
                    lp,
                    file: Rc::new(file),
                })
            }
            None => {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                let file = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(path)?;
                Ok(Runner::Tokio {
                    rt,
                    file: Arc::new(file),
                })
            }
        }
    }

    /// Random 4 KiB reads from `depth` tasks until `window` has passed: how many, and
    /// how long they took.
    fn reads(&self, depth: usize, blocks: u64, window: Duration) -> (u64, Duration) {
        let start = Instant::now();
        let until = start + window;
        let reads = match self {
            Runner::Ringloop { lp, file } => lp.run_until_complete(async {
                let tasks: Vec<_> = (0..depth)
                    .map(|i| ringloop::spawn(ringloop_reads(file.clone(), seed(i), blocks, until)))
                    .collect();
                let mut total = 0;
                for task in tasks {
                    total += task.await.expect("a ringloop read task failed");
                }
                total
            }),
            Runner::Tokio { rt, file } => rt.block_on(async {
                let tasks: Vec<_> = (0..depth)
                    .map(|i| tokio::spawn(tokio_reads(file.clone(), seed(i), blocks, until)))
                    .collect();
                let mut total = 0;
                for task in tasks {
                    total += task.await.expect("a tokio read task failed");
                }
                total
            }),
        };
        (reads, start.elapsed())
    }

    /// Writes the whole file (`size` bytes) in 1 MiB chunks, one after the other: how
    /// long it took.
    fn write_whole(&self, size: u64) -> Duration {
        let chunks = size / CHUNK as u64;
        let start = Instant::now();
        match self {
            Runner::Ringloop { lp, file } => lp.run_until_complete(async {
                let mut buf = chunk();
                for i in 0..chunks {
                    let (res, b) = file.write_all_at(buf, i * CHUNK as u64).await;
                    res.unwrap_or_else(|e| panic!("files: a ringloop write failed: {e}"));
                    buf = b;
                }
            }),
            Runner::Tokio { rt, file } => rt.block_on(async {
                let mut buf = chunk();
                for i in 0..chunks {
                    let file = file.clone();
                    let (res, b) = tokio::task::spawn_blocking(move || {
                        let res = file.write_all_at(&buf, i * CHUNK as u64);
                        (res, buf)
                    })
                    .await
                    .expect("a tokio write job failed");
                    res.unwrap_or_else(|e| panic!("files: a tokio write failed: {e}"));
                    buf = b;
                }
            }),
        }
        start.elapsed()
    }

    /// The loop's blocking-pool jobs so far (ringloop only).
    fn blocking_jobs(&self) -> Option<u64> {
        match self {
            Runner::Ringloop { lp, .. } => Some(lp.stats().blocking_jobs),
            Runner::Tokio { .. } => None,
        }
    }
}

async fn ringloop_reads(
    file: Rc<ringloop::fs::File>,
    mut rng: u64,
    blocks: u64,
    until: Instant,
) -> u64 {
    let mut buf = Vec::with_capacity(BLOCK);
    let mut reads = 0;
    while Instant::now() < until {
        let block = next_block(&mut rng, blocks);
        buf.clear();
        let (res, b) = file.read_at(buf, block * BLOCK as u64).await;
        buf = b;
        check_read(res, &buf, block);
        reads += 1;
    }
    reads
}

async fn tokio_reads(file: Arc<std::fs::File>, mut rng: u64, blocks: u64, until: Instant) -> u64 {
    let mut buf = vec![0u8; BLOCK];
    let mut reads = 0;
    while Instant::now() < until {
        let block = next_block(&mut rng, blocks);
        let file = file.clone();
        let (res, b) = tokio::task::spawn_blocking(move || {
            let res = file.read_at(&mut buf, block * BLOCK as u64);
            (res, buf)
        })
        .await
        .expect("a tokio read job failed");
        buf = b;
        check_read(res, &buf, block);
        reads += 1;
    }
    reads
}

/// Whole-file write passes per runtime per round, each a sample.
pub(crate) const WRITE_PASSES: usize = 4;

/// Writes the file's dirty pages back and waits for it (between write passes,
/// untimed); a failure is reported once.
fn sync(path: &Path, errors: &mut Vec<String>) {
    if let Err(e) = std::fs::File::open(path).and_then(|f| f.sync_all()) {
        let e = format!("cannot sync {}: {e}", path.display());
        if !errors.contains(&e) {
            eprintln!("\nbench: files: {e}");
            errors.push(e);
        }
    }
}

/// Progress steps of [`run_files`].
pub(crate) fn file_steps(plan: &Plan) -> usize {
    1 + RUNTIMES.len() * (1 + plan.file_rounds)
}

/// The files part, with the file at `dir/bench-file.tmp`.
pub(crate) fn run_files(
    plan: &Plan,
    available: &[bool; 4],
    dir: &Path,
    progress: &Progress,
) -> FileResults {
    let size = plan.file_size;
    let mut results = FileResults {
        size,
        rates: vec![[None; 3]; FILE_WORKLOADS.len()],
        blocking_per_read: [None; 3],
        blocking_per_write: [None; 3],
        errors: Vec::new(),
    };
    progress.step(format!("files: write the {} MiB file", size >> 20));
    let path = dir.join("bench-file.tmp");
    let written = std::fs::create_dir_all(dir).and_then(|()| write_file(&path, size));
    let _remove = TempFile(path.clone());
    if let Err(e) = written {
        let e = format!("cannot write {}: {e}", path.display());
        eprintln!("\nbench: files: {e}");
        results.errors.push(e);
        return results;
    }
    let blocks = size / BLOCK as u64;

    // Open the file on every runtime and warm each up (tokio's and ringloop-epoll's
    // blocking pools start their threads).
    let runners = RUNTIMES.map(|runtime| {
        progress.step(format!("files: open and warm up on {}", runtime.label()));
        if !available[runtime.index()] {
            return None;
        }
        match Runner::new(runtime, &path) {
            Ok(runner) => {
                for workload in FILE_WORKLOADS {
                    if let FileWorkload::Reads(depth) = workload {
                        runner.reads(depth, blocks, plan.file_warmup);
                    }
                }
                Some(runner)
            }
            Err(e) => {
                let e = format!("{}: {e}", runtime.label());
                eprintln!("\nbench: files: {e}");
                results.errors.push(e);
                None
            }
        }
    });
    // Interleaved rounds: every runtime does every workload once per round.
    let mut samples: Vec<[Vec<f64>; 3]> = vec![Default::default(); FILE_WORKLOADS.len()];
    // Operations and blocking-pool jobs, reads then writes, per runtime.
    let mut ops = [[0u64; 3]; 2];
    let mut jobs = [[Some(0u64); 3]; 2];
    for round in 0..plan.file_rounds {
        for runtime in rotated(round) {
            progress.step(format!(
                "files: round {}/{} on {}",
                round + 1,
                plan.file_rounds,
                runtime.label()
            ));
            let Some(runner) = &runners[runtime.index()] else {
                continue;
            };
            for (w, workload) in FILE_WORKLOADS.iter().enumerate() {
                let before = runner.blocking_jobs();
                let (kind, (n, took)) = match *workload {
                    FileWorkload::Reads(depth) => {
                        (0, runner.reads(depth, blocks, plan.file_window))
                    }
                    FileWorkload::Writes => {
                        // Several passes, each a sample, each from clean pages: the
                        // previous pass's dirty pages are written back first (untimed),
                        // so no pass inherits another runtime's writeback.
                        for _ in 1..WRITE_PASSES {
                            sync(&path, &mut results.errors);
                            let took = runner.write_whole(size);
                            samples[w][runtime.index()]
                                .push((size / CHUNK as u64) as f64 / took.as_secs_f64());
                        }
                        sync(&path, &mut results.errors);
                        let took = runner.write_whole(size);
                        // The next runtime's reads start with no writeback under way.
                        sync(&path, &mut results.errors);
                        (1, (WRITE_PASSES as u64 * (size / CHUNK as u64), took))
                    }
                };
                let i = runtime.index();
                ops[kind][i] += n;
                jobs[kind][i] = jobs[kind][i]
                    .zip(before.zip(runner.blocking_jobs()))
                    .map(|(sum, (before, after))| sum + (after - before));
                let per_pass = if kind == 1 { WRITE_PASSES as u64 } else { 1 };
                samples[w][runtime.index()].push((n / per_pass) as f64 / took.as_secs_f64());
            }
        }
    }
    for (rates, samples) in results.rates.iter_mut().zip(samples) {
        for runtime in RUNTIMES {
            let s = &samples[runtime.index()];
            rates[runtime.index()] = (!s.is_empty()).then(|| median(s.clone()));
        }
    }
    for runtime in RUNTIMES {
        let i = runtime.index();
        let per_op = |kind: usize| jobs[kind][i].map(|j| j as f64 / ops[kind][i].max(1) as f64);
        results.blocking_per_read[i] = per_op(0);
        results.blocking_per_write[i] = per_op(1);
    }
    results
}
