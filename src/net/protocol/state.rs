//! A connection's state, readable as a spec: its flags, the error it is to be lost with,
//! its water marks, and the transitions between them.
//!
//! # Ground rules
//!
//! - The state sits in the connection's `RefCell` (see [`ConnIo`](super::transport::ConnIo))
//!   and is only read or changed on the loop's thread, by the server and by the
//!   connection's [`Transport`](super::Transport) handles.
//! - Every change is a transition below. A transition changes the state only; what it
//!   leaves its caller to do — with the I/O (cancel the receive, drop what was not sent,
//!   wake the server) or with the protocol (call `pause_writing`, `connection_lost`) —
//!   comes back as a `#[must_use]` value. So each rule ("close once flushed", "abort drops
//!   what was not sent", "an error costs the connection") is coded once, here.
//! - The state does not hold the buffers: a transition that depends on the write buffer is
//!   handed its size (`buffered`: bytes written and not yet taken by the kernel).
//! - Once [`LOST`](Flags::LOST) is set the protocol is owed nothing more and a transport's
//!   calls have no effect (only new water marks are still recorded); the server only
//!   waits for the kernel to give back the connection's operations before it frees the
//!   slot.
//! - The protocol is never re-entered: what a transport call owes the protocol
//!   (`pause_writing`, `resume_writing`, `connection_lost`) is recorded here and paid by
//!   the server's next [`settle`](ConnState::settle), after the running callback returned.
//!
//! # The way to `connection_lost`
//!
//! ```text
//! open ── close(), or an end-of-file not kept open ──▶ CLOSING ── flushed ──┐
//!   ├──── abort() ───────────────────────────────────▶ ABORTED ─────────────┼─▶ LOST
//!   └──── an I/O error, or a callback's panic ───────▶ (error) ─────────────┘
//! ```
//!
//! [`settle`](ConnState::settle) takes each arrow into `LOST`, and only it (or the
//! server's own end, [`tear_down`](ConnState::tear_down)): the recorded error first
//! (`connection_lost(Some(error))`), then an abort, then a flushed close (both
//! `connection_lost(None)`).

use std::fmt;
use std::io;

/// asyncio's default high-water mark for the write buffer (the low-water mark is a
/// quarter of it).
pub(super) const DEFAULT_HIGH: usize = 64 * 1024;

/// A snapshot of a connection's flags.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Flags(u16);

impl Flags {
    // Writing.

    /// The write buffer went above the high-water mark: the protocol was told (or is owed
    /// being told) to stop writing. Cleared when the buffer drains to the low-water mark
    /// or the marks move above it.
    pub(super) const WRITING_PAUSED: u16 = 1 << 0;
    /// `pause_writing` is owed to the protocol.
    pub(super) const OWE_PAUSE: u16 = 1 << 1;
    /// `resume_writing` is owed to the protocol: the water marks moved while paused.
    pub(super) const OWE_RESUME: u16 = 1 << 2;

    // Reading.

    /// [`Transport::pause_reading`](super::Transport::pause_reading): no `data_received`
    /// until `resume_reading`; what still arrives is held, and comes first afterwards.
    pub(super) const READING_PAUSED: u16 = 1 << 3;
    /// A receive found the provided-buffer ring empty: the connection is queued to re-arm
    /// once buffers came back (the data waits in the socket).
    pub(super) const STARVED: u16 = 1 << 4;
    /// The peer's end-of-file was delivered (`eof_received` was called, or is being).
    pub(super) const READ_EOF: u16 = 1 << 5;
    /// An end-of-file arrived behind data held while reading was paused: it is delivered
    /// after that data.
    pub(super) const EOF_PENDING: u16 = 1 << 6;

    // Closing.

    /// [`Transport::close`](super::Transport::close), or an end-of-file the protocol did
    /// not keep open: nothing more is read or written; the connection is lost (with
    /// `None`) once the write buffer is flushed.
    pub(super) const CLOSING: u16 = 1 << 7;
    /// [`Transport::abort`](super::Transport::abort): what was not sent is dropped, and the
    /// connection is lost (with `None`) at once.
    pub(super) const ABORTED: u16 = 1 << 8;
    /// `connection_lost` was called (or is being called): the connection is over.
    pub(super) const LOST: u16 = 1 << 9;

    // The server's bookkeeping.

    /// The connection is in the server's dirty list: a transport changed something the
    /// server must look at.
    pub(super) const DIRTY: u16 = 1 << 10;

    const NAMES: [(u16, &'static str); 11] = [
        (Flags::WRITING_PAUSED, "WRITING_PAUSED"),
        (Flags::OWE_PAUSE, "OWE_PAUSE"),
        (Flags::OWE_RESUME, "OWE_RESUME"),
        (Flags::READING_PAUSED, "READING_PAUSED"),
        (Flags::STARVED, "STARVED"),
        (Flags::READ_EOF, "READ_EOF"),
        (Flags::EOF_PENDING, "EOF_PENDING"),
        (Flags::CLOSING, "CLOSING"),
        (Flags::ABORTED, "ABORTED"),
        (Flags::LOST, "LOST"),
        (Flags::DIRTY, "DIRTY"),
    ];

    /// Whether any of `bits` is set.
    pub(super) fn has(self, bits: u16) -> bool {
        self.0 & bits != 0
    }

    fn set(&mut self, bits: u16) {
        self.0 |= bits;
    }

    fn clear(&mut self, bits: u16) {
        self.0 &= !bits;
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = Flags::NAMES.iter().filter(|(bit, _)| self.has(*bit));
        debug_flags(f, "Flags", set.map(|(_, name)| *name))
    }
}

/// Writes a flags snapshot as `Type(A | B)`, naming the flags that are `set`.
pub(super) fn debug_flags<'a>(
    f: &mut fmt::Formatter<'_>,
    type_name: &str,
    set: impl Iterator<Item = &'a str>,
) -> fmt::Result {
    f.write_str(type_name)?;
    f.write_str("(")?;
    for (i, name) in set.enumerate() {
        if i > 0 {
            f.write_str(" | ")?;
        }
        f.write_str(name)?;
    }
    f.write_str(")")
}

/// What a transport call leaves its caller to do.
#[must_use = "the transition's effect must be carried out"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Effect {
    /// Nothing.
    None,
    /// Wake the server to look at the connection: it owes the protocol a callback, or
    /// must read again.
    Notify,
    /// Cancel the armed receive (reading paused).
    CancelRecv,
    /// Cancel the armed receive, then notify the server, which loses the connection once
    /// it is flushed.
    Close,
    /// Drop what was not sent, cancel the send in flight and the armed receive, then
    /// notify the server, which loses the connection.
    Abort,
}

/// What the server must do next for a connection, after a callback returned or an
/// operation completed: [`ConnState::settle`] until `Done`.
#[must_use = "what the protocol is owed must be paid"]
#[derive(Debug)]
pub(super) enum Settle {
    /// Nothing is owed.
    Done,
    /// Call `pause_writing`, then settle again.
    PauseWriting,
    /// Call `resume_writing`, then settle again.
    ResumeWriting,
    /// The connection is over ([`Flags::LOST`] is now set): drop what was not sent,
    /// cancel its operations, and call `connection_lost` with this error.
    Lost(Option<io::Error>),
}

/// What to do after a send completed.
#[must_use = "a completed send may leave more to send"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Sent {
    /// Nothing more: the connection is lost, aborted, or failed (the error is recorded).
    Stop,
    /// Send what was queued meanwhile, then see whether writing resumes
    /// ([`ConnState::drained`]).
    Refill,
}

/// What to do with bytes a receive delivered.
#[must_use = "received data must be delivered, held or dropped"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Data {
    /// Call `data_received`.
    Deliver,
    /// Append them to the held data: reading is paused (a multishot receive stops late),
    /// or earlier data is still held.
    Hold,
    /// Drop them: the connection is closing, closed or failed.
    Drop,
}

/// What to do with an end-of-file a receive delivered.
#[must_use = "an end-of-file must be delivered or held"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Eof {
    /// Deliver it now ([`ConnState::take_eof`]).
    Deliver,
    /// It waits behind held data ([`Flags::EOF_PENDING`] is now set).
    Held,
}

/// A connection's state: its flags, the error it is to be lost with, and its water marks.
pub(super) struct ConnState {
    flags: Flags,
    /// The error the connection is to be lost with: the first I/O failure, or a panic in
    /// one of its callbacks (which wins over an I/O error, so `connection_lost` names the
    /// callback). The next [`settle`](Self::settle) takes it and loses the connection.
    error: Option<io::Error>,
    /// `pause_writing` above this many buffered bytes.
    high: usize,
    /// `resume_writing` at or below this many buffered bytes. Never above `high`.
    low: usize,
}

impl ConnState {
    /// A connection just accepted: reading, writing, asyncio's default water marks.
    pub(super) fn new() -> ConnState {
        ConnState {
            flags: Flags::default(),
            error: None,
            high: DEFAULT_HIGH,
            low: DEFAULT_HIGH / 4,
        }
    }

    // Queries.

    /// A snapshot of the flags.
    pub(super) fn flags(&self) -> Flags {
        self.flags
    }

    /// `connection_lost` was called (or is being called).
    pub(super) fn is_lost(&self) -> bool {
        self.flags.has(Flags::LOST)
    }

    /// Closing or closed: [`Transport::is_closing`](super::Transport::is_closing).
    pub(super) fn is_closing(&self) -> bool {
        self.flags
            .has(Flags::LOST | Flags::CLOSING | Flags::ABORTED)
    }

    /// Reading is paused by the protocol.
    pub(super) fn reading_paused(&self) -> bool {
        self.flags.has(Flags::READING_PAUSED)
    }

    /// The water marks, `(low, high)`.
    pub(super) fn limits(&self) -> (usize, usize) {
        (self.low, self.high)
    }

    /// Whether the connection is healthy: not closing, closed or failed.
    fn open(&self) -> bool {
        !self.is_closing() && self.error.is_none()
    }

    /// A write is taken: the connection is open.
    pub(super) fn accepts_writes(&self) -> bool {
        self.open()
    }

    /// The connection wants a receive armed (or a readiness wait): open, not paused, and
    /// no end-of-file seen or held.
    pub(super) fn wants_read(&self) -> bool {
        self.open()
            && !self
                .flags
                .has(Flags::READ_EOF | Flags::EOF_PENDING | Flags::READING_PAUSED)
    }

    /// A receive may be armed now: it wants to read and is not waiting for buffers.
    pub(super) fn may_arm(&self) -> bool {
        !self.flags.has(Flags::STARVED) && self.wants_read()
    }

    /// `data_received` may be called with held data (and an end-of-file behind it).
    pub(super) fn can_deliver(&self) -> bool {
        self.open() && !self.reading_paused()
    }

    // The transport's transitions.

    /// Bytes were written and `buffered` are now waiting: above the high-water mark,
    /// writing pauses and `pause_writing` is owed.
    pub(super) fn wrote(&mut self, buffered: usize) -> Effect {
        if self.pause_if_high(buffered) {
            Effect::Notify
        } else {
            Effect::None
        }
    }

    /// A write failed: the connection is to be lost with `error`.
    pub(super) fn write_failed(&mut self, error: io::Error) -> Effect {
        self.fail(error);
        Effect::Notify
    }

    /// [`Transport::pause_reading`](super::Transport::pause_reading).
    pub(super) fn pause_reading(&mut self) -> Effect {
        if self.flags.has(Flags::LOST | Flags::READING_PAUSED) {
            return Effect::None;
        }
        self.flags.set(Flags::READING_PAUSED);
        Effect::CancelRecv
    }

    /// [`Transport::resume_reading`](super::Transport::resume_reading): the server
    /// delivers what was held, then reads again.
    pub(super) fn resume_reading(&mut self) -> Effect {
        if self.is_lost() || !self.reading_paused() {
            return Effect::None;
        }
        self.flags.clear(Flags::READING_PAUSED);
        Effect::Notify
    }

    /// [`Transport::set_write_buffer_limits`](super::Transport::set_write_buffer_limits)
    /// with `buffered` bytes waiting: writing pauses if that is above the new high-water
    /// mark, and resumes if it is at or below the new low-water mark (unless its pause is
    /// still owed).
    pub(super) fn set_limits(&mut self, high: usize, low: usize, buffered: usize) -> Effect {
        self.high = high;
        self.low = low.min(high);
        if self.is_lost() {
            return Effect::None;
        }
        if self.pause_if_high(buffered) {
            return Effect::Notify;
        }
        if self.flags.has(Flags::WRITING_PAUSED) && buffered <= self.low {
            if !self.flags.has(Flags::OWE_PAUSE) {
                self.flags.set(Flags::OWE_RESUME);
            }
            return Effect::Notify;
        }
        Effect::None
    }

    /// [`Transport::close`](super::Transport::close).
    pub(super) fn close(&mut self) -> Effect {
        if self.flags.has(Flags::LOST | Flags::CLOSING) {
            return Effect::None;
        }
        self.flags.set(Flags::CLOSING);
        Effect::Close
    }

    /// [`Transport::abort`](super::Transport::abort).
    pub(super) fn abort(&mut self) -> Effect {
        if self.flags.has(Flags::LOST | Flags::ABORTED) {
            return Effect::None;
        }
        self.flags.set(Flags::ABORTED);
        Effect::Abort
    }

    /// Puts the connection on the server's dirty list: `true` when it was not there yet,
    /// and the caller must add it (and wake the server).
    #[must_use = "a connection newly marked dirty must be added to the dirty list"]
    pub(super) fn mark(&mut self) -> bool {
        if self.flags.has(Flags::DIRTY) {
            return false;
        }
        self.flags.set(Flags::DIRTY);
        true
    }

    // The server's transitions.

    /// The server took the connection off its dirty list.
    pub(super) fn unmark(&mut self) {
        self.flags.clear(Flags::DIRTY);
    }

    /// An operation failed: the connection is to be lost with `error`, unless it already
    /// failed or is lost. The server settles next.
    pub(super) fn fail(&mut self, error: io::Error) {
        if self.error.is_none() && !self.is_lost() {
            self.error = Some(error);
        }
    }

    /// A callback panicked: the connection is to be lost with `error`, which names the
    /// callback (it replaces an earlier I/O error). The server settles next.
    pub(super) fn panicked(&mut self, error: io::Error) {
        if !self.is_lost() {
            self.error = Some(error);
        }
    }

    /// What is owed next, with the write buffer `flushed` (empty, no send in flight).
    /// In order: nothing once lost; the loss with the recorded error; an owed
    /// `pause_writing`, then `resume_writing`; the loss with `None` once aborted, or once
    /// closing and flushed.
    pub(super) fn settle(&mut self, flushed: bool) -> Settle {
        if self.is_lost() {
            return Settle::Done;
        }
        if let Some(error) = self.error.take() {
            return self.lose(Some(error));
        }
        if self.flags.has(Flags::OWE_PAUSE) {
            self.flags.clear(Flags::OWE_PAUSE);
            return Settle::PauseWriting;
        }
        if self.flags.has(Flags::OWE_RESUME) {
            self.flags.clear(Flags::OWE_RESUME | Flags::WRITING_PAUSED);
            return Settle::ResumeWriting;
        }
        if self.flags.has(Flags::ABORTED) || (self.flags.has(Flags::CLOSING) && flushed) {
            return self.lose(None);
        }
        Settle::Done
    }

    fn lose(&mut self, error: Option<io::Error>) -> Settle {
        self.flags.set(Flags::LOST);
        Settle::Lost(error)
    }

    /// The server ends: the connection is lost without [`settle`](Self::settle) (the
    /// server tears its I/O down and tells the protocol itself).
    pub(super) fn tear_down(&mut self) {
        self.flags.set(Flags::LOST);
    }

    /// A send completed with `done`: an interrupted one is sent again; one cancelled by
    /// an abort, or any send once lost or aborted, stops there; another error fails the
    /// connection.
    pub(super) fn sent(&mut self, done: io::Result<usize>) -> Sent {
        if self.is_lost() {
            return Sent::Stop;
        }
        match done {
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EAGAIN)) => {}
            Err(e)
                if e.raw_os_error() == Some(libc::ECANCELED) && self.flags.has(Flags::ABORTED) =>
            {
                return Sent::Stop;
            }
            Err(e) => {
                self.fail(e);
                return Sent::Stop;
            }
            Ok(_) => {}
        }
        if self.flags.has(Flags::ABORTED) {
            return Sent::Stop;
        }
        Sent::Refill
    }

    /// The write buffer drained to `buffered` bytes after a send: `true` when writing
    /// resumes, and the caller must call `resume_writing` now. A pause still owed is
    /// dropped instead, and then no resume is due: the protocol never heard of the pause
    /// (as in asyncio, `resume_writing` only ever follows `pause_writing`).
    #[must_use = "resume_writing must be called"]
    pub(super) fn drained(&mut self, buffered: usize) -> bool {
        if self.flags.has(Flags::WRITING_PAUSED) && buffered <= self.low {
            let told = !self.flags.has(Flags::OWE_PAUSE);
            self.flags.clear(Flags::WRITING_PAUSED | Flags::OWE_PAUSE);
            return told;
        }
        false
    }

    /// Bytes arrived, with data already `holding` (or not).
    pub(super) fn data_arrived(&self, holding: bool) -> Data {
        if !self.wants_read() && !self.reading_paused() {
            Data::Drop
        } else if self.reading_paused() || holding {
            Data::Hold
        } else {
            Data::Deliver
        }
    }

    /// An end-of-file arrived, with data `holding` (or not): it waits behind held data.
    pub(super) fn eof_arrived(&mut self, holding: bool) -> Eof {
        if self.reading_paused() || holding {
            self.flags.set(Flags::EOF_PENDING);
            Eof::Held
        } else {
            Eof::Deliver
        }
    }

    /// A held end-of-file is due: reading resumed and nothing is `holding` any more.
    /// `true` when the caller must deliver it ([`take_eof`](Self::take_eof)).
    #[must_use = "a held end-of-file must be delivered"]
    pub(super) fn take_held_eof(&mut self, holding: bool) -> bool {
        let due = self.flags.has(Flags::EOF_PENDING)
            && !self.flags.has(Flags::READING_PAUSED | Flags::LOST)
            && !holding;
        if due {
            self.flags.clear(Flags::EOF_PENDING);
        }
        due
    }

    /// Delivers an end-of-file: `true` when the caller must call `eof_received` now (once
    /// per connection, never once lost), then [`eof_answered`](Self::eof_answered).
    #[must_use = "eof_received must be called"]
    pub(super) fn take_eof(&mut self) -> bool {
        if self.flags.has(Flags::READ_EOF | Flags::LOST) {
            return false;
        }
        self.flags.set(Flags::READ_EOF);
        true
    }

    /// `eof_received` returned `keep_open` (`None`: it panicked): unless it asked to keep
    /// the transport open, the connection closes once flushed. The server settles next.
    pub(super) fn eof_answered(&mut self, keep_open: Option<bool>) {
        if keep_open != Some(true) {
            self.flags.set(Flags::CLOSING);
        }
    }

    /// A receive found the buffer ring empty: `true` when the caller must queue the
    /// connection to re-arm (it was not queued yet).
    #[must_use = "a starved connection must be queued for a retry"]
    pub(super) fn starve(&mut self) -> bool {
        if self.flags.has(Flags::STARVED) {
            return false;
        }
        self.flags.set(Flags::STARVED);
        true
    }

    /// The server came round to a starved connection: buffers are back.
    pub(super) fn fed(&mut self) {
        self.flags.clear(Flags::STARVED);
    }

    /// Pauses writing when `buffered` went above the high-water mark: `pause_writing` is
    /// owed. `true` when it paused.
    fn pause_if_high(&mut self, buffered: usize) -> bool {
        if !self.flags.has(Flags::WRITING_PAUSED) && buffered > self.high {
            self.flags.set(Flags::WRITING_PAUSED | Flags::OWE_PAUSE);
            return true;
        }
        false
    }
}

impl fmt::Debug for ConnState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnState")
            .field("flags", &self.flags)
            .field("error", &self.error)
            .field("low", &self.low)
            .field("high", &self.high)
            .finish()
    }
}

#[cfg(test)]
mod tests;
