//! Fuzz target `scheduler_io`: the scheduler target widened to I/O. Bytes drive a real
//! [`ringloop::EventLoop`] doing stream I/O over a pool of Unix stream pairs, on io_uring
//! or epoll, with or without the fault-injecting backend, and a model checks every
//! result. Around the pool, connects (Unix, TCP, refused), listeners and UDP sockets come
//! and go, some cut off mid-flight, some dropped on another thread, so that descriptor
//! numbers are freed behind the loop's back and taken again by the next sockets made.
//!
//! The input: byte 0 picks the ending; byte 1 the backend (io_uring or epoll; epoll
//! where io_uring is unavailable), whether faults are injected (none at all, with
//! try-first I/O on or off; `FaultPlan::chaos()`; or a plan from the input: a mask of
//! which faults are on, a probability byte for each, the delay depth, and whether
//! `ENOBUFS` is among the operation errors) and how many pairs (1 to 3); then a 16-bit
//! seed for the fault PRNG, whose bit 8 also gives the loop a registered-file table
//! (`Builder::fixed_files`) of 1 to 4 slots (bits 9-10), so that the pool's sockets take
//! and give back slots as they come and go (on io_uring; epoll ignores it). The rest is
//! decoded into at most [`MAX_OPS`] operations:
//!
//! - spawn a writer task that `write_all`s the next chunk of its channel's stream (each
//!   pair has two channels, one per direction, each with its own deterministic byte
//!   stream), or one `write` that it cancels (`Op::cancel()`) and then awaits, or one
//!   `write` it drops before its first poll, mid-flight, or once it has likely
//!   completed unobserved;
//! - spawn a reader task doing one to three reads into an owned `Vec` (capacity from
//!   the input, zero included), each awaited plainly, wrapped in `ringloop::timeout` of
//!   at most 250 µs, cancelled then awaited, or dropped before its first poll,
//!   mid-flight, or once it has likely completed unobserved;
//! - spawn a sleeper (yields and sleeps of at most 250 µs); tasks also yield or sleep
//!   before their I/O;
//! - cancel a task, drop (detach) a task handle;
//! - drop a stream's read half or write half (a dropped write half shuts the direction
//!   down: the peer reads end-of-file), a whole stream end or a whole pair, optionally
//!   cancelling every task using it, so that the descriptor closes while their
//!   operations are still in flight;
//! - run a few loop iterations, or run the loop through a short sleep;
//! - spawn a connect task: `UnixStream::connect` to the input's Unix listener (bound in
//!   a temp dir per input, by default or by a `Listen` with a backlog of 0, 1 or 2, so
//!   connects wait on a full backlog, `EAGAIN` retried by the loop), `TcpStream::connect`
//!   to a loopback listener, or to a loopback address where nothing listens (refused).
//!   The connect is awaited, wrapped in `ringloop::timeout` of at most ~1 ms, dropped
//!   before its first poll, after it, or after it and a short wait, and its task may be
//!   cancelled like any other. A connection it makes writes an 8-byte tag and waits to
//!   be joined;
//! - join: the oldest waiting Unix connection (or one the harness connects, accepting
//!   meanwhile to make room in the backlog) and its accepted server end, found by its
//!   tag, take the place of a pair in the pool (its old halves close on the loop or
//!   here), two new channels with them; for TCP the pair makes one checked round trip
//!   (the tag, then a reply the other way) and closes;
//! - put a new `UnixStream::pair()` in a pair's place (old halves as for a join);
//! - retire the Unix or TCP listener and bind a new one (a new *generation*);
//! - strand a listener: accepts cut off by a timeout (so the loop registered it), then
//!   the listener moves to another thread and is dropped there (joined before going on);
//! - a UDP socket sends itself a datagram and receives it, then a receive is cut off by
//!   a timeout, and the socket is dropped on the loop or on another thread.
//!
//! The socket operations make their sockets while numbers freed behind the loop's back
//! (a connect refused, timed out or dropped closes its socket at once; a stranded
//! socket closes on its thread) are free: the next pair, connect or socket takes them,
//! and an epoll registration wrongly trusted for them hangs its first wait, which
//! settling (or the harness's own bounded waits) reports. Their machinery, with its
//! ground rules, is in `scheduler_io/net.rs`.
//!
//! The ending settles (drops every stream half, listener and waiting connection the
//! harness holds, so that connects waiting on a backlog are refused, then runs until
//! every task is done and no operation is in flight, within [`SETTLE_LIMIT`], which
//! counts as a hang), cancels every task and settles, or drops the loop with work
//! pending. Whatever the harness waits for itself (a join, a strand's accepts, a UDP
//! round) must also finish within [`SETTLE_LIMIT`].
//!
//! Writers and readers of one channel take turns (a small async lock per channel and
//! side), so each side's operations are sequential and the model knows the order.
//!
//! What the model checks (any violation panics, which libFuzzer reports as a crash):
//!
//! - the bytes each read returns are exactly the next bytes of its channel's stream:
//!   nothing a completed read returned is lost or duplicated, nothing arrives out of
//!   order. Where the semantics leave it open the model keeps a set of candidate stream
//!   positions instead of one: a read dropped mid-flight (a timeout, a drop, a cancelled
//!   task) may have consumed up to its capacity, and a write dropped mid-flight may
//!   have sent any prefix of its chunk. Before the next operation on a channel after
//!   such a drop, its side waits until the loop holds no abandoned buffer (so the
//!   abandoned operation is over). Everything else is exact: a cancelled `Op` that is
//!   awaited reports what it really did (`ECANCELED` means it did nothing), and its
//!   bytes must match; with no drop the candidate set is a single position;
//! - end-of-file (or `ECONNRESET`) only after the writing half is gone, and only once
//!   everything written could have been read; no data after end-of-file;
//! - results are `Ok` or a proper `io::Error`: never `Interrupted`/`WouldBlock`
//!   (`EINTR`/`EAGAIN`), `ECANCELED` only for a cancelled `Op`, `EPIPE`/`ECONNRESET` on
//!   a write only once the reading half is gone, `ENOBUFS` only when the plan injects it;
//! - every buffer handed to an operation that completes comes back: the same
//!   allocation (pointer and capacity), with the length the result says and, for a
//!   write, its bytes intact. (The `IoBuf` traits are `unsafe` to implement, so a
//!   drop-counting buffer is out of reach here: buffers the loop keeps after a drop are
//!   checked by AddressSanitizer (freed twice or used after free) and LeakSanitizer
//!   (never freed), and by `buffers_held` returning to zero;)
//! - every task resolves exactly once: its future is dropped exactly once, `is_done()`
//!   agrees with that drop, `cancel()` returns `true` exactly when the task was not
//!   done and the body makes no progress afterwards, and the handle yields `Ok(value)`
//!   exactly when the body returned, else `Err(Cancelled)`; sleeps never wake early;
//! - a connect succeeds, or fails only with `ECONNREFUSED`/`ECONNRESET` once its
//!   listener's generation is retired (always refused for the down address), or with an
//!   injected `ENOBUFS`; the tag write likewise (`EPIPE` too); the harness's own
//!   connects and accepts to an open listener never fail; every accepted connection
//!   starts with a tag that was handed out and was never read before, or ends first
//!   (its client went away); the TCP reply and the UDP datagram arrive intact, from
//!   the right sender, and a UDP receive nobody sent to gets nothing;
//! - after settling, `tasks_live`, `ops_in_flight` and `buffers_held` are zero;
//! - once the loop is dropped, every task future is gone and the process has exactly
//!   the descriptors it had before the input (`/proc/self/fd`; the down address's
//!   socket is made once per process, before the count).
//!
//! `RINGLOOP_FUZZ_TRACE=1` prints each input's configuration and operations (to read a
//! crash).
//!
//! The input's byte layout, for seeds written by hand: an operation is `b a` and what
//! its kind reads after; `b % 16` picks the kind (0-3 writer, 4-7 reader, 8 sleeper,
//! 9 cancel, 10 drop handle, 11 drop end, 12 drop pair, 13 step, or a sleeping step when
//! `b & 0x10`, 14-15 the socket operations, `b >> 4` picking which: see [`decode_net`]).
//!
//! Run: `cargo +nightly fuzz run scheduler_io fuzz/seeds/scheduler_io -- -max_total_time=60`.

#![no_main]

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::future::{Future, poll_fn};
use std::io;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::OnceLock;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use ringloop::net::{ReadHalf, UnixStream, WriteHalf};
use ringloop::{Backend, EventLoop, FaultPlan, Task, TaskError};

#[path = "scheduler_io/net.rs"]
mod net;

use net::{ConnectHow, Kind, Net, To};

/// Operations decoded per input.
const MAX_OPS: usize = 48;
/// Tasks spawned per input (further spawns are skipped).
const MAX_TASKS: usize = 40;
/// Largest chunk one writer sends.
const MAX_CHUNK: usize = 1024;
/// Bytes per channel: small enough that writes never wait for a reader (the socket
/// buffer holds them all), so every writer finishes.
const MAX_CHAN_BYTES: u64 = 6 << 10;
/// Writers per channel (each a few socket buffers' worth of overhead at most).
const MAX_CHAN_WRITES: u32 = 10;
/// Largest read buffer.
const MAX_READ: usize = 1024;
/// How long settling may take before it counts as a hang.
const SETTLE_LIMIT: Duration = Duration::from_secs(5);

fuzz_target!(|data: &[u8]| {
    run_input(data);
});

// ---------------------------------------------------------------------------------------
// Decoding

struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn more(&self) -> bool {
        self.pos < self.data.len()
    }
}

#[derive(Clone, Copy, Debug)]
enum Pre {
    None,
    Yield(u8),
    Sleep(u16),
}

#[derive(Clone, Copy, Debug)]
enum WriteHow {
    All,
    /// Poll once, yield this many times, `cancel()`, await.
    CancelAwait(u8),
    /// 0: before the first poll; 1: after one poll; 2: after one poll and a short wait.
    Drop(u8),
}

#[derive(Clone, Copy, Debug)]
enum ReadHow {
    Plain,
    Timeout(u16),
    CancelAwait(u8),
    Drop(u8),
}

#[derive(Clone, Copy, Debug)]
enum Half {
    Read,
    Write,
    Both,
}

#[derive(Clone, Debug)]
enum Op {
    Writer {
        chan: usize,
        len: usize,
        how: WriteHow,
        pre: Pre,
    },
    Reader {
        chan: usize,
        cap: usize,
        reads: u8,
        how: ReadHow,
        pre: Pre,
    },
    Sleeper(Vec<Pre>),
    Cancel(u8),
    DropHandle(u8),
    DropEnd {
        pair: usize,
        end: usize,
        half: Half,
        cancel_users: bool,
    },
    DropPair {
        pair: usize,
        cancel_users: bool,
    },
    Step(u8),
    StepSleep(u8),
    /// Spawn a task connecting to the Unix or TCP listener, or to the down address.
    Connect {
        to: To,
        how: ConnectHow,
        pre: Pre,
    },
    /// A connection from the listener: Unix joins the pool at `pair`'s place (as
    /// `DropPair` then a new pair; the old pair's halves the harness held close on the
    /// loop when `old_on_loop`, else here), TCP makes one checked round trip.
    Join {
        kind: Kind,
        pair: usize,
        cancel_users: bool,
        old_on_loop: bool,
    },
    /// A new `UnixStream::pair()` at `pair`'s place (as `Join`).
    NewPair {
        pair: usize,
        cancel_users: bool,
        old_on_loop: bool,
    },
    /// Retire the listener and bind a new one (`backlog`: the Unix listener's).
    Listen {
        kind: Kind,
        backlog: Option<u32>,
    },
    /// Accepts cut off by a timeout of `wait_us`, then the listener goes to another
    /// thread and is dropped there.
    Strand {
        kind: Kind,
        wait_us: u16,
    },
    /// A UDP socket: a datagram of `echo` bytes to itself (none when 0), a receive cut
    /// off by a timeout of `wait_us`, then dropped on another thread when `away`, else
    /// on the loop.
    Udp {
        echo: usize,
        wait_us: u16,
        away: bool,
    },
}

fn decode_pre(b: u8) -> Pre {
    match b % 4 {
        0 | 1 => Pre::None,
        2 => Pre::Yield(1 + (b >> 2) % 3),
        _ => Pre::Sleep(u16::from(b >> 2) * 4),
    }
}

fn decode(inp: &mut Input<'_>, chans: usize) -> Op {
    let b = inp.byte();
    let a = inp.byte();
    match b % 16 {
        0..=3 => {
            let len = (usize::from(inp.byte()) << 2 | usize::from(a & 3)) % (MAX_CHUNK + 1);
            let how = match (a >> 2) % 6 {
                0..=2 => WriteHow::All,
                3 => WriteHow::CancelAwait(a >> 5),
                _ => WriteHow::Drop((a >> 5) % 3),
            };
            Op::Writer {
                chan: usize::from(b >> 4) % chans,
                len,
                how,
                pre: decode_pre(inp.byte()),
            }
        }
        4..=7 => {
            let c = inp.byte();
            let cap = match c % 8 {
                0 => 0,
                1 => 1 + usize::from(c >> 3) % 8,
                _ => (usize::from(c) * 5) % (MAX_READ + 1),
            };
            let how = match a % 8 {
                0..=2 => ReadHow::Plain,
                3 | 4 => ReadHow::Timeout(u16::from(a >> 3) * 8),
                5 => ReadHow::CancelAwait(a >> 5),
                _ => ReadHow::Drop((a >> 3) % 3),
            };
            Op::Reader {
                chan: usize::from(b >> 4) % chans,
                cap,
                reads: 1 + (b >> 2) % 3,
                how,
                pre: decode_pre(inp.byte()),
            }
        }
        8 => Op::Sleeper((0..1 + a % 3).map(|_| decode_pre(inp.byte())).collect()),
        9 => Op::Cancel(a),
        10 => Op::DropHandle(a),
        11 => Op::DropEnd {
            pair: usize::from(a) % (chans / 2),
            end: usize::from(a >> 2) % 2,
            half: match (a >> 3) % 3 {
                0 => Half::Read,
                1 => Half::Write,
                _ => Half::Both,
            },
            cancel_users: b & 0x80 != 0,
        },
        12 => Op::DropPair {
            pair: usize::from(a) % (chans / 2),
            cancel_users: b & 0x80 != 0,
        },
        13 if b & 0x10 == 0 => Op::Step(a),
        13 => Op::StepSleep(a),
        _ => decode_net(inp, b, a, chans / 2),
    }
}

/// The socket operations: `b % 16` is 14 or 15, `b >> 4` picks one.
fn decode_net(inp: &mut Input<'_>, b: u8, a: u8, pairs: usize) -> Op {
    let kind = |bit: bool| if bit { Kind::Tcp } else { Kind::Unix };
    match b >> 4 {
        s @ 0..=5 => Op::Connect {
            to: match s {
                0..=2 => To::Unix,
                3 | 4 => To::Tcp,
                _ => To::Down,
            },
            how: match a % 8 {
                0..=2 => ConnectHow::Await,
                3 | 4 => ConnectHow::Timeout(u16::from(a >> 3) * 32),
                _ => ConnectHow::Drop((a >> 3) % 3),
            },
            pre: decode_pre(inp.byte()),
        },
        s @ 6..=8 => Op::Join {
            kind: kind(s == 8),
            pair: usize::from(a & 0x3f) % pairs,
            cancel_users: a & 0x80 != 0,
            old_on_loop: a & 0x40 != 0,
        },
        9 | 10 => Op::NewPair {
            pair: usize::from(a & 0x3f) % pairs,
            cancel_users: a & 0x80 != 0,
            old_on_loop: a & 0x40 != 0,
        },
        11 if a & 1 == 0 => Op::Listen {
            kind: Kind::Unix,
            backlog: [Some(0), Some(1), Some(2), None][usize::from(a >> 1) % 4],
        },
        11 => Op::Listen {
            kind: Kind::Tcp,
            backlog: None,
        },
        s @ (12 | 13) => Op::Strand {
            kind: kind(s == 13),
            wait_us: 20 + u16::from(a) * 2,
        },
        _ => Op::Udp {
            echo: usize::from(a) % 48,
            wait_us: 20 + u16::from(inp.byte()) * 2,
            away: b & 1 != 0,
        },
    }
}

/// io_uring where it can be set up here, else epoll.
fn uring_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        EventLoop::builder()
            .backend(Backend::IoUring)
            .build()
            .is_ok()
    })
}

fn prob(inp: &mut Input<'_>, max: f64) -> f64 {
    f64::from(inp.byte()) / 255.0 * max
}

struct Config {
    backend: Backend,
    fault: Option<(u64, FaultPlan)>,
    try_first: bool,
    pairs: usize,
    enobufs: bool,
    /// `Builder::fixed_files` (0: none).
    fixed_files: u32,
}

fn decode_config(inp: &mut Input<'_>) -> Config {
    let cfg = inp.byte();
    let seed = u64::from(inp.byte()) | u64::from(inp.byte()) << 8;
    let backend = if cfg & 1 == 0 && uring_available() {
        Backend::IoUring
    } else {
        Backend::Epoll
    };
    let pairs = 1 + usize::from(cfg >> 3) % 3;
    // Turn errors that cost no wall time (ENOMEM backs off for milliseconds).
    let turn_errnos = vec![libc::EINTR, libc::EAGAIN, libc::EBUSY];
    let mut enobufs = false;
    let fault = match (cfg >> 1) & 3 {
        0 => None,
        1 => Some(FaultPlan {
            turn_errnos,
            ..FaultPlan::chaos()
        }),
        _ => {
            let mask = inp.byte();
            let mut plan = FaultPlan {
                turn_errnos,
                ..FaultPlan::default()
            };
            let fields: [(&mut f64, f64); 8] = [
                (&mut plan.turn_error, 0.5),
                (&mut plan.partial_submit, 0.9),
                (&mut plan.delay, 0.9),
                (&mut plan.reorder, 1.0),
                (&mut plan.duplicate, 0.5),
                (&mut plan.stray, 0.5),
                (&mut plan.short_io, 0.9),
                (&mut plan.op_error, 0.5),
            ];
            for (i, (field, max)) in fields.into_iter().enumerate() {
                if mask & (1 << i) != 0 {
                    *field = prob(inp, max);
                }
            }
            let extra = inp.byte();
            plan.max_delay_turns = 1 + u32::from(extra % 5);
            if extra & 0x80 != 0 && plan.op_error > 0.0 {
                plan.op_errnos.push(libc::ENOBUFS);
                enobufs = true;
            }
            Some(plan)
        }
    };
    Config {
        backend,
        fault: fault.map(|plan| (seed, plan)),
        try_first: cfg & 0x40 != 0,
        pairs,
        enobufs,
        fixed_files: if seed & 0x100 != 0 {
            1 + ((seed >> 9) & 3) as u32
        } else {
            0
        },
    }
}

// ---------------------------------------------------------------------------------------
// The byte streams and the reader's model

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChunkState {
    /// A writer is sending it (a prefix may have arrived).
    InProgress,
    /// Sent completely.
    Done,
    /// Its write was dropped or failed: any prefix of it may have been sent.
    Uncertain,
}

#[derive(Clone, Copy, Debug)]
struct Chunk {
    start: u64,
    len: u64,
    state: ChunkState,
}

/// An async lock: one side of a channel at a time.
#[derive(Default)]
struct Lock {
    held: Cell<bool>,
    waiters: RefCell<Vec<Waker>>,
}

impl Lock {
    async fn acquire(&self) {
        poll_fn(|cx| {
            if self.held.get() {
                let mut waiters = self.waiters.borrow_mut();
                if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
                    waiters.push(cx.waker().clone());
                }
                Poll::Pending
            } else {
                self.held.set(true);
                Poll::Ready(())
            }
        })
        .await
    }

    fn release(&self) {
        assert!(self.held.replace(false), "lock released twice");
        // Everyone: a waiter may have been cancelled meanwhile.
        for w in std::mem::take(&mut *self.waiters.borrow_mut()) {
            w.wake();
        }
    }
}

/// One direction of a pair: its stream, what was written of it, and what the reader
/// may have seen.
struct Chan {
    id: usize,
    seed: u64,
    chunks: RefCell<Vec<Chunk>>,
    /// The end of every position handed to a writer.
    cursor: Cell<u64>,
    writes: Cell<u32>,
    /// Where the next byte the reader gets may come from in the stream.
    cands: RefCell<Vec<u64>>,
    /// Bytes reads dropped mid-flight may have consumed (applied before the next read).
    pending_gap: Cell<u64>,
    read_dirty: Cell<bool>,
    write_dirty: Cell<bool>,
    wlock: Lock,
    rlock: Lock,
    /// The write half is gone (shut down or closed).
    write_closed: Cell<bool>,
    /// The reading end's read half is gone.
    read_closed: Cell<bool>,
    eof: Cell<bool>,
    delivered: Cell<u64>,
}

impl Chan {
    fn new(id: usize) -> Chan {
        Chan {
            id,
            seed: splitmix(0xC0FFEE ^ id as u64),
            chunks: RefCell::new(Vec::new()),
            cursor: Cell::new(0),
            writes: Cell::new(0),
            cands: RefCell::new(vec![0]),
            pending_gap: Cell::new(0),
            read_dirty: Cell::new(false),
            write_dirty: Cell::new(false),
            wlock: Lock::default(),
            rlock: Lock::default(),
            write_closed: Cell::new(false),
            read_closed: Cell::new(false),
            eof: Cell::new(false),
            delivered: Cell::new(0),
        }
    }

    fn byte_at(&self, p: u64) -> u8 {
        splitmix(self.seed ^ p.wrapping_mul(0xD6E8_FEB8_6659_FD93)) as u8
    }

    fn bytes(&self, start: u64, len: u64) -> Vec<u8> {
        (start..start + len).map(|p| self.byte_at(p)).collect()
    }

    /// Adds to `set` every position reachable by skipping the unsent rest of an
    /// uncertain chunk; sorts and dedups.
    fn closure(&self, set: &mut Vec<u64>) {
        let chunks = self.chunks.borrow();
        let mut seen: BTreeSet<u64> = set.iter().copied().collect();
        let mut work: Vec<u64> = seen.iter().copied().collect();
        while let Some(p) = work.pop() {
            let k = chunks.partition_point(|c| c.start + c.len <= p);
            if let Some(c) = chunks.get(k)
                && c.start <= p
                && c.state == ChunkState::Uncertain
            {
                let end = c.start + c.len;
                if seen.insert(end) {
                    work.push(end);
                }
            }
        }
        *set = seen.into_iter().collect();
    }

    /// Dropped reads may have consumed up to `pending_gap` bytes: widen the candidates
    /// to every position reachable from one with at most that many delivered bytes (a
    /// skip over an uncertain chunk's unsent rest costs none). One pass over the
    /// positions: every step goes forward.
    fn apply_gap(&self) {
        let n = self.pending_gap.replace(0);
        let cursor = self.cursor.get();
        let cands = self.cands.borrow().clone();
        let Some(&lo) = cands.first() else {
            return;
        };
        let lo = lo.min(cursor);
        let mut dist = vec![u64::MAX; (cursor - lo + 1) as usize];
        for &c in &cands {
            if c >= lo && c <= cursor {
                dist[(c - lo) as usize] = 0;
            }
        }
        let chunks = self.chunks.borrow();
        let mut k = chunks.partition_point(|c| c.start + c.len <= lo);
        let mut run_min = u64::MAX;
        for p in lo..=cursor {
            let i = (p - lo) as usize;
            while k < chunks.len() && chunks[k].start + chunks[k].len <= p {
                if chunks[k].state == ChunkState::Uncertain && chunks[k].start + chunks[k].len == p
                {
                    dist[i] = dist[i].min(run_min);
                }
                run_min = u64::MAX;
                k += 1;
            }
            let d = dist[i];
            if k < chunks.len() && chunks[k].start <= p && chunks[k].state == ChunkState::Uncertain
            {
                run_min = run_min.min(d);
            }
            if p < cursor && d != u64::MAX {
                dist[i + 1] = dist[i + 1].min(d + 1);
            }
        }
        let all: Vec<u64> = (lo..=cursor)
            .filter(|&p| dist[(p - lo) as usize] <= n)
            .collect();
        drop(chunks);
        *self.cands.borrow_mut() = all;
    }

    /// A read returned `got`: it must continue the stream from a candidate position.
    fn feed(&self, got: &[u8]) {
        assert!(
            !self.eof.get(),
            "channel {}: {} bytes after end-of-file",
            self.id,
            got.len()
        );
        let cursor = self.cursor.get();
        let mut cur = self.cands.borrow().clone();
        self.closure(&mut cur);
        let before = cur.clone();
        for (i, &x) in got.iter().enumerate() {
            let mut next: Vec<u64> = cur
                .iter()
                .filter(|&&p| p < cursor && self.byte_at(p) == x)
                .map(|p| p + 1)
                .collect();
            if next.is_empty() {
                panic!(
                    "channel {}: a read of {} bytes differs from the stream at byte {i} \
                     (got {x:#04x}; candidates before the read {:?}, at this byte {:?}; \
                     written up to {cursor}; {} bytes delivered before; chunks {:?})",
                    self.id,
                    got.len(),
                    short(&before),
                    short(&cur),
                    self.delivered.get(),
                    self.chunks.borrow()
                );
            }
            self.closure(&mut next);
            cur = next;
        }
        *self.cands.borrow_mut() = cur;
        self.delivered.set(self.delivered.get() + got.len() as u64);
    }

    /// End-of-file (or a reset): the writer is gone and nothing written was lost.
    fn end(&self, what: &str) {
        assert!(
            self.write_closed.get(),
            "channel {}: {what} while its write half is alive",
            self.id
        );
        if self.eof.replace(true) {
            return;
        }
        let chunks = self.chunks.borrow();
        assert!(
            chunks.iter().all(|c| c.state != ChunkState::InProgress),
            "channel {}: {what} while a write is in progress",
            self.id
        );
        drop(chunks);
        let mut cur = self.cands.borrow().clone();
        self.closure(&mut cur);
        let cursor = self.cursor.get();
        assert!(
            cur.contains(&cursor),
            "channel {}: {what} with written bytes never read (candidates {:?}, written up \
             to {cursor}, {} delivered; chunks {:?})",
            self.id,
            short(&cur),
            self.delivered.get(),
            self.chunks.borrow()
        );
    }
}

fn short(v: &[u64]) -> String {
    if v.len() <= 8 {
        format!("{v:?}")
    } else {
        format!(
            "{:?}..({} in all)..{:?}",
            &v[..4],
            v.len(),
            &v[v.len() - 2..]
        )
    }
}

// ---------------------------------------------------------------------------------------
// Stream halves, noting when they go

type Rh = ReadHalf<StdUnixStream>;
type Wh = WriteHalf<StdUnixStream>;

struct RHalf {
    half: Rh,
    /// The channel this half reads.
    chan: Rc<Chan>,
}

impl Drop for RHalf {
    fn drop(&mut self) {
        self.chan.read_closed.set(true);
    }
}

struct WHalf {
    half: Wh,
    /// The channel this half writes.
    chan: Rc<Chan>,
}

impl Drop for WHalf {
    fn drop(&mut self) {
        // The half's own drop, right after this, shuts the direction down.
        self.chan.write_closed.set(true);
    }
}

/// One place in the pool of pairs: the halves the harness holds of its current pair.
struct PairSlot {
    /// The current pair's number (each new pair takes the next).
    id: usize,
    r: [Option<Rc<RHalf>>; 2],
    w: [Option<Rc<WHalf>>; 2],
}

/// A pair's halves the harness held, let go of.
type Halves = ([Option<Rc<RHalf>>; 2], [Option<Rc<WHalf>>; 2]);

impl PairSlot {
    /// Lets go of the halves (to drop once the pool is no longer borrowed).
    fn take(&mut self) -> Halves {
        (std::mem::take(&mut self.r), std::mem::take(&mut self.w))
    }
}

// ---------------------------------------------------------------------------------------
// Tasks

#[derive(Debug)]
struct TaskRec {
    id: usize,
    ended: Cell<bool>,
    drops: Cell<u32>,
    /// `cancel()` returned true.
    cancelled: Cell<bool>,
    /// (pair number, end) whose halves the task holds.
    uses: Option<(usize, usize)>,
}

impl TaskRec {
    fn step(&self) {
        assert!(!self.ended.get(), "task {} ran after it ended", self.id);
        assert!(
            !self.cancelled.get(),
            "task {} made progress after a successful cancel()",
            self.id
        );
    }

    fn value(&self) -> u32 {
        (self.id as u32).wrapping_mul(31).wrapping_add(5)
    }

    fn finish(&self) -> u32 {
        self.step();
        self.ended.set(true);
        self.value()
    }
}

struct FutureGuard(Rc<TaskRec>);

impl Drop for FutureGuard {
    fn drop(&mut self) {
        let drops = self.0.drops.get() + 1;
        self.0.drops.set(drops);
        assert_eq!(drops, 1, "task {}: future dropped twice", self.0.id);
    }
}

struct TaskSlot {
    rec: Rc<TaskRec>,
    handle: Option<Task<u32>>,
}

/// Holds a side's lock; marks an unfinished chunk uncertain when dropped.
struct WriteTurn {
    chan: Rc<Chan>,
    chunk: Option<usize>,
}

impl Drop for WriteTurn {
    fn drop(&mut self) {
        if let Some(i) = self.chunk.take() {
            let mut chunks = self.chan.chunks.borrow_mut();
            if chunks[i].state == ChunkState::InProgress {
                chunks[i].state = ChunkState::Uncertain;
                self.chan.write_dirty.set(true);
            }
        }
        self.chan.wlock.release();
    }
}

struct ReadTurn(Rc<Chan>);

impl Drop for ReadTurn {
    fn drop(&mut self) {
        self.0.rlock.release();
    }
}

/// A read that was polled: if dropped before its result was seen, it may have consumed
/// up to `cap` bytes.
struct InFlight {
    chan: Rc<Chan>,
    cap: usize,
    armed: bool,
}

impl InFlight {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.armed {
            let c = &self.chan;
            c.pending_gap.set(c.pending_gap.get() + self.cap as u64);
            c.read_dirty.set(true);
        }
    }
}

/// Polls `fut` exactly once.
async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    poll_fn(|cx| Poll::Ready(Pin::new(&mut *fut).poll(cx))).await
}

/// Waits until the loop holds no abandoned operation's memory: every operation dropped
/// mid-flight is over.
async fn quiesce(lp: &Weak<EventLoop>) {
    loop {
        let held = lp.upgrade().map_or(0, |lp| lp.stats().buffers_held);
        if held == 0 {
            return;
        }
        ringloop::yield_now().await;
    }
}

async fn run_pre(rec: &TaskRec, pre: Pre) {
    match pre {
        Pre::None => {}
        Pre::Yield(n) => {
            for _ in 0..n {
                ringloop::yield_now().await;
                rec.step();
            }
        }
        Pre::Sleep(us) => {
            let d = Duration::from_micros(u64::from(us));
            let t0 = Instant::now();
            ringloop::sleep(d).await;
            rec.step();
            assert!(
                t0.elapsed() >= d,
                "task {}: sleep({d:?}) woke early",
                rec.id
            );
        }
    }
}

/// An error that may reach user code, per the operation and the channel's state.
fn check_error(e: &io::Error, what: &str, chan: &Chan, cancelled: bool, enobufs: bool) {
    assert!(
        !matches!(
            e.kind(),
            io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
        ),
        "channel {}: {what} surfaced {e:?} ({:?})",
        chan.id,
        e.kind()
    );
    match e.raw_os_error() {
        Some(libc::ECANCELED) => assert!(
            cancelled,
            "channel {}: {what} failed with ECANCELED though never cancelled",
            chan.id
        ),
        Some(libc::ENOBUFS) => assert!(
            enobufs,
            "channel {}: {what} failed with ENOBUFS that nobody injected",
            chan.id
        ),
        Some(libc::EPIPE | libc::ECONNRESET) if what.starts_with("write") => assert!(
            chan.read_closed.get(),
            "channel {}: {what} failed with {e} while the reader's half is alive",
            chan.id
        ),
        Some(libc::ECONNRESET) if what.starts_with("read") => {}
        _ => panic!(
            "channel {}: {what} failed with an unexpected {e:?}",
            chan.id
        ),
    }
}

/// Checks the outcome of a read whose result was seen.
fn read_outcome(
    chan: &Chan,
    cap: usize,
    ptr: usize,
    res: io::Result<usize>,
    buf: &[u8],
    buf_cap: usize,
    buf_ptr: usize,
    cancelled: bool,
    enobufs: bool,
) {
    assert_eq!(
        (buf_ptr, buf_cap),
        (ptr, cap),
        "channel {}: a read gave back another buffer",
        chan.id
    );
    match res {
        Ok(n) => {
            assert!(n <= cap, "channel {}: read {n} into {cap}", chan.id);
            assert_ne!(cap, 0, "channel {}: a read with no room succeeded", chan.id);
            assert_eq!(buf.len(), n, "channel {}: buffer length vs result", chan.id);
            if n == 0 {
                chan.end("end-of-file");
            } else {
                chan.feed(buf);
            }
        }
        // A buffer with no room is refused before it reaches the kernel.
        Err(e) if cap == 0 => assert_eq!(
            e.kind(),
            io::ErrorKind::InvalidInput,
            "channel {}: a read with no room failed with {e:?}",
            chan.id
        ),
        Err(e) => {
            assert!(
                buf.is_empty(),
                "channel {}: a failed read filled bytes",
                chan.id
            );
            check_error(&e, "read", chan, cancelled, enobufs);
            if e.raw_os_error() == Some(libc::ECONNRESET) {
                chan.end("ECONNRESET");
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn writer_future(
    rec: Rc<TaskRec>,
    lp: Weak<EventLoop>,
    wh: Rc<WHalf>,
    len: usize,
    how: WriteHow,
    pre: Pre,
    enobufs: bool,
) -> impl Future<Output = u32> + 'static {
    let guard = FutureGuard(rec.clone());
    async move {
        let _guard = guard;
        rec.step();
        run_pre(&rec, pre).await;
        let chan = wh.chan.clone();
        chan.wlock.acquire().await;
        rec.step();
        let mut turn = WriteTurn {
            chan: chan.clone(),
            chunk: None,
        };
        if chan.write_dirty.get() {
            quiesce(&lp).await;
            rec.step();
            chan.write_dirty.set(false);
        }
        let start = chan.cursor.get();
        let len = if chan.writes.get() >= MAX_CHAN_WRITES {
            0
        } else {
            (len as u64).min(MAX_CHAN_BYTES - start)
        };
        chan.writes.set(chan.writes.get() + 1);
        chan.cursor.set(start + len);
        let idx = {
            let mut chunks = chan.chunks.borrow_mut();
            chunks.push(Chunk {
                start,
                len,
                state: ChunkState::InProgress,
            });
            chunks.len() - 1
        };
        turn.chunk = Some(idx);
        let data = chan.bytes(start, len);
        let ptr = data.as_ptr() as usize;
        // The outcome: Some(bytes really sent) when known, None when uncertain.
        let settle_chunk = |sent: Option<u64>| {
            let mut chunks = chan.chunks.borrow_mut();
            assert_eq!(idx, chunks.len() - 1, "another writer ran meanwhile");
            match sent {
                Some(n) => {
                    assert!(n <= len);
                    chunks[idx].len = n;
                    chunks[idx].state = ChunkState::Done;
                    chan.cursor.set(start + n);
                }
                None => {
                    chunks[idx].state = ChunkState::Uncertain;
                    chan.write_dirty.set(true);
                }
            }
        };
        let check_buf = |buf: &Vec<u8>| {
            assert_eq!(
                buf.as_ptr() as usize,
                ptr,
                "a write gave back another buffer"
            );
            assert!(
                buf.len() == len as usize && *buf == chan.bytes(start, len),
                "a write's buffer came back changed"
            );
        };
        // The result of one `write` whose outcome is seen.
        let one_write = |res: io::Result<usize>, buf: Vec<u8>, cancelled: bool| {
            check_buf(&buf);
            match res {
                Ok(n) => {
                    assert!(n as u64 <= len, "wrote {n} of {len}");
                    if len > 0 {
                        assert!(n > 0, "a write of {len} bytes wrote nothing");
                    }
                    settle_chunk(Some(n as u64));
                }
                Err(e) => {
                    check_error(&e, "write", &chan, cancelled, enobufs);
                    settle_chunk(Some(0));
                }
            }
        };
        match how {
            WriteHow::All => {
                let (res, buf) = wh.half.write_all(data).await;
                rec.step();
                check_buf(&buf);
                match res {
                    Ok(()) => settle_chunk(Some(len)),
                    Err(e) => {
                        check_error(&e, "write_all", &chan, false, enobufs);
                        settle_chunk(None);
                    }
                }
            }
            WriteHow::CancelAwait(yields) => {
                let mut op = wh.half.write(data);
                match poll_once(&mut op).await {
                    Poll::Ready((res, buf)) => one_write(res, buf, false),
                    Poll::Pending => {
                        for _ in 0..yields % 4 {
                            ringloop::yield_now().await;
                            rec.step();
                        }
                        op.cancel();
                        let (res, buf) = op.await;
                        rec.step();
                        one_write(res, buf, true);
                    }
                }
            }
            WriteHow::Drop(when) => {
                let mut op = wh.half.write(data);
                if when == 0 {
                    drop(op);
                    settle_chunk(Some(0));
                } else {
                    match poll_once(&mut op).await {
                        Poll::Ready((res, buf)) => one_write(res, buf, false),
                        Poll::Pending => {
                            if when == 2 {
                                ringloop::sleep(Duration::from_micros(50)).await;
                                rec.step();
                            }
                            drop(op);
                            settle_chunk(None);
                        }
                    }
                }
            }
        }
        drop(turn);
        rec.finish()
    }
}

#[allow(clippy::too_many_arguments)]
fn reader_future(
    rec: Rc<TaskRec>,
    lp: Weak<EventLoop>,
    rh: Rc<RHalf>,
    cap: usize,
    reads: u8,
    how: ReadHow,
    pre: Pre,
    enobufs: bool,
) -> impl Future<Output = u32> + 'static {
    let guard = FutureGuard(rec.clone());
    async move {
        let _guard = guard;
        rec.step();
        run_pre(&rec, pre).await;
        let chan = rh.chan.clone();
        chan.rlock.acquire().await;
        rec.step();
        let _turn = ReadTurn(chan.clone());
        for _ in 0..reads {
            if chan.read_dirty.get() {
                quiesce(&lp).await;
                rec.step();
                chan.read_dirty.set(false);
                chan.apply_gap();
            }
            let buf: Vec<u8> = Vec::with_capacity(cap);
            let (ptr, cap) = (buf.as_ptr() as usize, buf.capacity());
            let outcome = |res: io::Result<usize>, buf: Vec<u8>, cancelled: bool| {
                read_outcome(
                    &chan,
                    cap,
                    ptr,
                    res,
                    &buf,
                    buf.capacity(),
                    buf.as_ptr() as usize,
                    cancelled,
                    enobufs,
                );
            };
            match how {
                ReadHow::Plain => {
                    let op = rh.half.read(buf);
                    let flight = InFlight {
                        chan: chan.clone(),
                        cap,
                        armed: true,
                    };
                    let (res, buf) = op.await;
                    rec.step();
                    flight.disarm();
                    outcome(res, buf, false);
                }
                ReadHow::Timeout(us) => {
                    let flight = InFlight {
                        chan: chan.clone(),
                        cap,
                        armed: true,
                    };
                    let d = Duration::from_micros(u64::from(us));
                    let r = ringloop::timeout(d, rh.half.read(buf)).await;
                    rec.step();
                    match r {
                        Ok((res, buf)) => {
                            flight.disarm();
                            outcome(res, buf, false);
                        }
                        // Dropped by the timeout after a poll: perhaps consumed.
                        Err(_) => drop(flight),
                    }
                }
                ReadHow::CancelAwait(yields) => {
                    let mut op = rh.half.read(buf);
                    let flight = InFlight {
                        chan: chan.clone(),
                        cap,
                        armed: true,
                    };
                    match poll_once(&mut op).await {
                        Poll::Ready((res, buf)) => {
                            flight.disarm();
                            outcome(res, buf, false);
                        }
                        Poll::Pending => {
                            for _ in 0..yields % 4 {
                                ringloop::yield_now().await;
                                rec.step();
                            }
                            op.cancel();
                            let (res, buf) = op.await;
                            rec.step();
                            flight.disarm();
                            outcome(res, buf, true);
                        }
                    }
                }
                ReadHow::Drop(when) => {
                    let mut op = rh.half.read(buf);
                    if when == 0 {
                        // Never polled: never submitted.
                        drop(op);
                    } else {
                        let flight = InFlight {
                            chan: chan.clone(),
                            cap,
                            armed: true,
                        };
                        match poll_once(&mut op).await {
                            Poll::Ready((res, buf)) => {
                                flight.disarm();
                                outcome(res, buf, false);
                            }
                            Poll::Pending => {
                                if when == 2 {
                                    ringloop::sleep(Duration::from_micros(50)).await;
                                    rec.step();
                                }
                                drop(op);
                                drop(flight);
                            }
                        }
                    }
                }
            }
        }
        rec.finish()
    }
}

fn sleeper_future(rec: Rc<TaskRec>, steps: Vec<Pre>) -> impl Future<Output = u32> + 'static {
    let guard = FutureGuard(rec.clone());
    async move {
        let _guard = guard;
        rec.step();
        for pre in steps {
            run_pre(&rec, pre).await;
        }
        rec.finish()
    }
}

// ---------------------------------------------------------------------------------------
// The world

struct World {
    /// Every channel of every pair made, in order.
    chans: RefCell<Vec<Rc<Chan>>>,
    pairs: RefCell<Vec<PairSlot>>,
    /// The number of the next pair made.
    next_pair: Cell<usize>,
    tasks: RefCell<Vec<TaskSlot>>,
    net: Rc<Net>,
    enobufs: bool,
}

impl World {
    /// Puts the connected streams `a` and `b` (ends 0 and 1) at place `p` of the pool,
    /// with two new channels; returns the halves of the pair there before, to drop.
    #[must_use]
    fn install(&self, p: usize, a: UnixStream, b: UnixStream) -> Option<Halves> {
        let id = self.next_pair.get();
        self.next_pair.set(id + 1);
        let chans = [Rc::new(Chan::new(2 * id)), Rc::new(Chan::new(2 * id + 1))];
        self.chans.borrow_mut().extend(chans.iter().cloned());
        let mut slot = PairSlot {
            id,
            r: [None, None],
            w: [None, None],
        };
        for (e, s) in [a, b].into_iter().enumerate() {
            let (r, wr) = s.into_split();
            // End e writes channel 2id + e and reads channel 2id + 1 - e.
            slot.r[e] = Some(Rc::new(RHalf {
                half: r,
                chan: chans[1 - e].clone(),
            }));
            slot.w[e] = Some(Rc::new(WHalf {
                half: wr,
                chan: chans[e].clone(),
            }));
        }
        let mut pairs = self.pairs.borrow_mut();
        if p < pairs.len() {
            Some(std::mem::replace(&mut pairs[p], slot).take())
        } else {
            pairs.push(slot);
            None
        }
    }

    /// Replaces the pair at place `p` with `ends` (cancelling the old pair's users first
    /// when `cancel`); the old pair's halves close on the loop when `on_loop`, else here.
    fn replace(
        &self,
        lp: &EventLoop,
        p: usize,
        (a, b): (UnixStream, UnixStream),
        cancel: bool,
        on_loop: bool,
    ) {
        if cancel {
            self.cancel_users(p, None);
        }
        let old = self.install(p, a, b);
        if on_loop {
            block_on(lp, self, "closing a pair", async move { drop(old) });
        } else {
            drop(old);
        }
    }

    fn new_task(&self, uses: Option<(usize, usize)>) -> Option<Rc<TaskRec>> {
        let id = self.tasks.borrow().len();
        (id < MAX_TASKS).then(|| {
            Rc::new(TaskRec {
                id,
                ended: Cell::new(false),
                drops: Cell::new(0),
                cancelled: Cell::new(false),
                uses,
            })
        })
    }

    fn task_index(&self, b: u8) -> Option<usize> {
        let n = self.tasks.borrow().len();
        (n > 0).then(|| usize::from(b) % n)
    }

    /// Checks every handle still held agrees with its task's record.
    fn check_handles(&self) {
        for t in self.tasks.borrow().iter() {
            if let Some(h) = &t.handle {
                assert_eq!(
                    h.is_done(),
                    t.rec.drops.get() == 1,
                    "task {}: is_done() disagrees with its future's drop ({:?})",
                    t.rec.id,
                    t.rec
                );
            }
        }
    }

    fn cancel(&self, i: usize) {
        let tasks = self.tasks.borrow();
        let t = &tasks[i];
        if let Some(h) = &t.handle {
            let done = h.is_done();
            assert_eq!(done, t.rec.drops.get() == 1, "task {}: is_done()", t.rec.id);
            let cancelled = h.cancel();
            assert_eq!(
                cancelled, !done,
                "task {}: cancel() returned {cancelled}",
                t.rec.id
            );
            if cancelled {
                t.rec.cancelled.set(true);
            }
        }
    }

    /// Cancels every task using place `pair`'s current pair (its end `end`, or both).
    fn cancel_users(&self, pair: usize, end: Option<usize>) {
        let id = self.pairs.borrow()[pair].id;
        let n = self.tasks.borrow().len();
        for i in 0..n {
            let uses = self.tasks.borrow()[i].rec.uses;
            if let Some((p, e)) = uses
                && p == id
                && end.is_none_or(|end| end == e)
            {
                self.cancel(i);
            }
        }
    }

    fn all_done(&self) -> bool {
        self.tasks.borrow().iter().all(|t| t.rec.drops.get() == 1)
    }

    fn describe(&self) -> String {
        let mut out = String::new();
        for t in self.tasks.borrow().iter() {
            if t.rec.drops.get() == 0 {
                out.push_str(&format!("  live: {:?}\n", t.rec));
            }
        }
        for c in self.chans.borrow().iter() {
            out.push_str(&format!(
                "  channel {}: written {} in {:?}, delivered {}, candidates {}, \
                 write closed {}, read closed {}, eof {}, locks w{} r{}\n",
                c.id,
                c.cursor.get(),
                c.chunks.borrow(),
                c.delivered.get(),
                short(&c.cands.borrow()),
                c.write_closed.get(),
                c.read_closed.get(),
                c.eof.get(),
                c.wlock.held.get(),
                c.rlock.held.get()
            ));
        }
        out.push_str(&format!(
            "  {}\n  {}\n",
            self.net.unix.describe(),
            self.net.tcp.describe()
        ));
        out
    }
}

fn step(lp: &EventLoop) {
    lp.run_until_complete(ringloop::yield_now());
}

fn apply(lp: &Rc<EventLoop>, w: &World, op: Op) {
    match op {
        Op::Writer {
            chan,
            len,
            how,
            pre,
        } => {
            // Channel 2p + e is the one end e of the pair at place p writes.
            let (p, e) = (chan / 2, chan % 2);
            let (id, wh) = {
                let pairs = w.pairs.borrow();
                (pairs[p].id, pairs[p].w[e].clone())
            };
            let Some(wh) = wh else {
                return;
            };
            let Some(rec) = w.new_task(Some((id, e))) else {
                return;
            };
            let fut = writer_future(rec.clone(), Rc::downgrade(lp), wh, len, how, pre, w.enobufs);
            let h = lp.spawn(fut);
            assert!(!h.is_done());
            w.tasks.borrow_mut().push(TaskSlot {
                rec,
                handle: Some(h),
            });
        }
        Op::Reader {
            chan,
            cap,
            reads,
            how,
            pre,
        } => {
            // ... and end 1 - e reads.
            let (p, e) = (chan / 2, 1 - chan % 2);
            let (id, rh) = {
                let pairs = w.pairs.borrow();
                (pairs[p].id, pairs[p].r[e].clone())
            };
            let Some(rh) = rh else {
                return;
            };
            let Some(rec) = w.new_task(Some((id, e))) else {
                return;
            };
            let fut = reader_future(
                rec.clone(),
                Rc::downgrade(lp),
                rh,
                cap,
                reads,
                how,
                pre,
                w.enobufs,
            );
            let h = lp.spawn(fut);
            assert!(!h.is_done());
            w.tasks.borrow_mut().push(TaskSlot {
                rec,
                handle: Some(h),
            });
        }
        Op::Sleeper(steps) => {
            let Some(rec) = w.new_task(None) else {
                return;
            };
            let h = lp.spawn(sleeper_future(rec.clone(), steps));
            w.tasks.borrow_mut().push(TaskSlot {
                rec,
                handle: Some(h),
            });
        }
        Op::Cancel(b) => {
            if let Some(i) = w.task_index(b) {
                w.cancel(i);
            }
        }
        Op::DropHandle(b) => {
            if let Some(i) = w.task_index(b) {
                let h = w.tasks.borrow_mut()[i].handle.take();
                drop(h);
            }
        }
        Op::DropEnd {
            pair,
            end,
            half,
            cancel_users,
        } => {
            if cancel_users {
                w.cancel_users(pair, Some(end));
            }
            let (r, wr) = {
                let mut pairs = w.pairs.borrow_mut();
                let slot = &mut pairs[pair];
                match half {
                    Half::Read => (slot.r[end].take(), None),
                    Half::Write => (None, slot.w[end].take()),
                    Half::Both => (slot.r[end].take(), slot.w[end].take()),
                }
            };
            drop((r, wr));
        }
        Op::DropPair { pair, cancel_users } => {
            if cancel_users {
                w.cancel_users(pair, None);
            }
            let halves = w.pairs.borrow_mut()[pair].take();
            drop(halves);
        }
        Op::Step(n) => {
            for _ in 0..1 + n % 4 {
                step(lp);
            }
        }
        Op::StepSleep(us) => {
            let d = Duration::from_micros(u64::from(us));
            let t0 = Instant::now();
            lp.run_until_complete(ringloop::sleep(d));
            assert!(
                t0.elapsed() >= d,
                "run_until_complete(sleep) returned early"
            );
        }
        Op::Connect { to, how, pre } => {
            let Some(rec) = w.new_task(None) else {
                return;
            };
            let aim = w.net.aim(to);
            let fut = net::connect_future(rec.clone(), w.net.clone(), to, aim, how, pre);
            let h = lp.spawn(fut);
            w.tasks.borrow_mut().push(TaskSlot {
                rec,
                handle: Some(h),
            });
        }
        Op::Join {
            kind,
            pair,
            cancel_users,
            old_on_loop,
        } => {
            // What the harness lets go of in these operations closes on the loop.
            let net = &w.net;
            let joined = match kind {
                Kind::Unix => block_on(lp, w, "a Unix join", async {
                    drop(net.ensure(kind));
                    let pair = net::pair_up(net, kind).await;
                    pair.map(|(c, s)| (net::into_unix(c), net::into_unix(s)))
                }),
                Kind::Tcp => {
                    let done = block_on(lp, w, "a TCP round trip", async {
                        drop(net.ensure(kind));
                        net::tcp_round_trip(net).await
                    });
                    if !done {
                        block_on(lp, w, "ending a generation", async {
                            drop(net.end_generation(kind))
                        });
                    }
                    return w.check_handles();
                }
            };
            let ends = joined.unwrap_or_else(|| {
                // An injected error left a tag unknown: end the generation.
                block_on(lp, w, "ending a generation", async {
                    drop(net.end_generation(kind))
                });
                UnixStream::pair().expect("UnixStream::pair")
            });
            w.replace(lp, pair, ends, cancel_users, old_on_loop);
        }
        Op::NewPair {
            pair,
            cancel_users,
            old_on_loop,
        } => {
            let ends = UnixStream::pair().expect("UnixStream::pair");
            w.replace(lp, pair, ends, cancel_users, old_on_loop);
        }
        Op::Listen { kind, backlog } => {
            block_on(lp, w, "rebinding a listener", async {
                drop(w.net.rebind(kind, backlog))
            });
        }
        Op::Strand { kind, wait_us } => {
            let wait = Duration::from_micros(u64::from(wait_us));
            let listener = block_on(lp, w, "a strand", net::strand(&w.net, kind, wait));
            net::give_away_listener(listener);
        }
        Op::Udp {
            echo,
            wait_us,
            away,
        } => {
            let wait = Duration::from_micros(u64::from(wait_us));
            let sock = block_on(lp, w, "a UDP round", net::udp(&w.net, echo, wait, away));
            if let Some(sock) = sock {
                net::give_away(sock);
            }
        }
    }
    w.check_handles();
}

/// Runs `fut` on the loop (other tasks run meanwhile); not done within
/// [`SETTLE_LIMIT`] counts as a hang.
fn block_on<F: Future>(lp: &EventLoop, w: &World, what: &str, fut: F) -> F::Output {
    match lp.run_until_complete(ringloop::timeout(SETTLE_LIMIT, fut)) {
        Ok(out) => out,
        Err(_) => panic!(
            "{what} did not finish within {SETTLE_LIMIT:?} (lost wake-up or stuck op?): {:?}\n{}\n{}",
            lp.stats(),
            lp.backend_description(),
            w.describe()
        ),
    }
}

/// `RINGLOOP_FUZZ_TRACE=1` prints the configuration and each operation (to read a
/// crash).
fn trace() -> bool {
    static TRACE: OnceLock<bool> = OnceLock::new();
    *TRACE.get_or_init(|| {
        std::env::var("RINGLOOP_FUZZ_TRACE").is_ok_and(|v| !v.is_empty() && v != "0")
    })
}

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd is readable")
        .count()
}

fn fd_targets() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd is readable")
        .filter_map(|e| {
            let e = e.ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            Some(format!(
                "{}->{}",
                e.file_name().to_string_lossy(),
                target.display()
            ))
        })
        .collect();
    out.sort();
    out
}

// ---------------------------------------------------------------------------------------
// One input

fn run_input(data: &[u8]) {
    let mut inp = Input { data, pos: 0 };
    if !inp.more() {
        return;
    }
    let ending = inp.byte();
    let cfg = decode_config(&mut inp);
    if trace() {
        eprintln!(
            "ending {}, {:?}, faults {:?}, try_first {}, {} pairs, fixed files {}",
            ending % 3,
            cfg.backend,
            cfg.fault,
            cfg.try_first,
            cfg.pairs,
            cfg.fixed_files
        );
    }
    // Made once per process, before descriptors are counted.
    net::down_addr();
    let fds_before = fd_count();
    let targets_before = fd_targets();

    let mut builder = EventLoop::builder();
    builder.backend(cfg.backend).fixed_files(cfg.fixed_files);
    match &cfg.fault {
        Some((seed, plan)) => {
            builder.fault_injection(*seed, plan.clone());
        }
        None => {
            builder.try_first_io(cfg.try_first);
        }
    }
    let lp = Rc::new(builder.build().expect("building the loop"));

    let w = World {
        chans: RefCell::new(Vec::new()),
        pairs: RefCell::new(Vec::new()),
        next_pair: Cell::new(0),
        tasks: RefCell::new(Vec::new()),
        net: Rc::new(Net::new(cfg.enobufs)),
        enobufs: cfg.enobufs,
    };
    for p in 0..cfg.pairs {
        let (a, b) = UnixStream::pair().expect("UnixStream::pair");
        assert!(w.install(p, a, b).is_none());
    }

    let mut ops = 0;
    while inp.more() && ops < MAX_OPS {
        ops += 1;
        let op = decode(&mut inp, cfg.pairs * 2);
        if trace() {
            eprintln!("op {ops}: {op:?}");
        }
        apply(&lp, &w, op);
    }

    match ending % 3 {
        0 | 1 => {
            if ending % 3 == 1 {
                for i in 0..w.tasks.borrow().len() {
                    w.cancel(i);
                }
            }
            settle(&lp, &w);
            check_results(&w, true);
        }
        _ => {
            // The harness lets go of its halves and sockets; tasks keep theirs as the
            // loop drops.
            w.pairs.borrow_mut().clear();
            w.net.close_all();
        }
    }

    let lp = Rc::try_unwrap(lp).unwrap_or_else(|_| panic!("nothing else holds the loop"));
    drop(lp);
    check_results(&w, false);
    for t in w.tasks.borrow().iter() {
        assert_eq!(
            t.rec.drops.get(),
            1,
            "task {}: future alive after close",
            t.rec.id
        );
    }
    // The input's socket files go (its sockets are closed: a retired generation takes
    // no connection from a task).
    w.net.cleanup();
    drop(w);
    let fds_after = fd_count();
    assert_eq!(
        fds_after,
        fds_before,
        "descriptors leaked: before {targets_before:?}, after {:?}",
        fd_targets()
    );
}

/// Drops every half and socket the harness holds and runs until every task is done and
/// no operation is in flight (connects waiting on a full backlog are then refused).
fn settle(lp: &Rc<EventLoop>, w: &World) {
    w.pairs.borrow_mut().clear();
    w.net.close_all();
    let t0 = Instant::now();
    loop {
        let s = lp.stats();
        if w.all_done() && s.ops_in_flight == 0 && s.buffers_held == 0 {
            break;
        }
        assert!(
            t0.elapsed() < SETTLE_LIMIT,
            "did not settle within {SETTLE_LIMIT:?} (lost wake-up or stuck op?): {s:?}\n{}\n{}",
            lp.backend_description(),
            w.describe()
        );
        step(lp);
    }
    w.check_handles();
    let s = lp.stats();
    assert_eq!(s.tasks_live, 0, "tasks_live after settling: {s:?}");
    assert_eq!(s.ops_in_flight, 0, "ops_in_flight after settling: {s:?}");
    assert_eq!(s.buffers_held, 0, "buffers_held after settling: {s:?}");
}

/// Every held handle is done and yields what its task did.
fn check_results(w: &World, open: bool) {
    let mut tasks = w.tasks.borrow_mut();
    for t in tasks.iter_mut() {
        let r = &t.rec;
        if let Some(mut h) = t.handle.take() {
            assert!(h.is_done(), "task {}: not done", r.id);
            let mut cx = std::task::Context::from_waker(Waker::noop());
            let result = match Pin::new(&mut h).poll(&mut cx) {
                Poll::Ready(result) => result,
                Poll::Pending => panic!("task {}: done but its handle is pending", r.id),
            };
            match result {
                Ok(v) => {
                    assert!(
                        r.ended.get(),
                        "task {}: Ok({v}) but its body never ended",
                        r.id
                    );
                    assert!(
                        !r.cancelled.get(),
                        "task {}: Ok after cancel() == true",
                        r.id
                    );
                    assert_eq!(v, r.value(), "task {}: wrong value", r.id);
                }
                Err(TaskError::Cancelled) => {
                    assert!(
                        !r.ended.get(),
                        "task {}: its body ended but Cancelled",
                        r.id
                    );
                    if open {
                        assert!(
                            r.cancelled.get(),
                            "task {}: Cancelled, never cancelled",
                            r.id
                        );
                    }
                }
                Err(TaskError::Panicked(_)) => panic!("task {}: panicked", r.id),
            }
            assert_eq!(
                h.is_cancelled(),
                !r.ended.get(),
                "task {}: is_cancelled()",
                r.id
            );
        }
    }
}
