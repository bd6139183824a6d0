//! Fuzzing hooks: the crate-private timer queue, op slab and token codec, wrapped so
//! the targets under `fuzz/` can drive them. Not API: compiled only with
//! `--cfg fuzzing` or `--cfg ringloop_fuzzing`, hidden from the docs, and every type
//! here is a one-line forward to the real one, so the fuzzers test the real code.

#![forbid(unsafe_code)]
#![allow(missing_docs)]

use std::any::Any;
use std::fmt;
use std::task::{Context, Poll, Waker};

use crate::driver::op::{Late, OpId};
use crate::driver::{slab, token};
use crate::time::queue;

// ---------------------------------------------------------------------------------------
// Timer queue

/// log2 of a timer tick in nanoseconds.
pub const TIMER_TICK_SHIFT: u32 = queue::TICK_SHIFT;

/// Key of a scheduled timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerKey(queue::TimerKey);

/// `time::queue::TimerQueue`.
pub struct TimerQueue<T>(queue::TimerQueue<T>);

impl<T> Default for TimerQueue<T> {
    fn default() -> Self {
        TimerQueue(queue::TimerQueue::new())
    }
}

impl<T> fmt::Debug for TimerQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<T> TimerQueue<T> {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn insert(&mut self, deadline: u64, target: T) -> TimerKey {
        TimerKey(self.0.insert(deadline, target))
    }
    pub fn contains(&self, key: TimerKey) -> bool {
        self.0.contains(key.0)
    }
    pub fn get_mut(&mut self, key: TimerKey) -> Option<&mut T> {
        self.0.get_mut(key.0)
    }
    pub fn remove(&mut self, key: TimerKey) -> Option<T> {
        self.0.remove(key.0)
    }
    pub fn next_deadline(&self) -> Option<u64> {
        self.0.next_deadline()
    }
    pub fn pop_expired(&mut self, now: u64) -> Option<T> {
        self.0.pop_expired(now)
    }
    pub fn drain(&mut self, f: impl FnMut(T)) {
        self.0.drain(f)
    }
}

// ---------------------------------------------------------------------------------------
// Token codec

pub const MAX_SLOTS: u32 = token::MAX_SLOTS;
pub const WAKE: u64 = token::WAKE;
pub const TIMEOUT: u64 = token::TIMEOUT;
pub const CANCEL: u64 = token::CANCEL;

/// `driver::token::Token`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Token {
    Op { slot: u32, generation: u32 },
    Wake,
    Timeout,
    Cancel,
    Unknown(u64),
}

pub fn encode(slot: u32, generation: u32) -> u64 {
    token::encode(slot, generation)
}

pub fn decode(user_data: u64) -> Token {
    match token::decode(user_data) {
        token::Token::Op { slot, generation } => Token::Op { slot, generation },
        token::Token::Wake => Token::Wake,
        token::Token::Timeout => Token::Timeout,
        token::Token::Cancel => Token::Cancel,
        token::Token::Unknown(v) => Token::Unknown(v),
    }
}

// ---------------------------------------------------------------------------------------
// Op slab

/// `driver::slab::Completion`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    pub result: i32,
    pub flags: u32,
}

impl From<slab::Completion> for Completion {
    fn from(c: slab::Completion) -> Self {
        Completion {
            result: c.result,
            flags: c.flags,
        }
    }
}

/// `driver::slab::Delivered`.
#[derive(Debug)]
pub enum Delivered {
    Wake(Waker),
    Quiet,
    Stray,
    CloseFd(i32),
    /// Handed to a multishot sink; carries its consumer's waker, if any.
    Sink(Option<Waker>),
}

/// `driver::slab::Abandoned`.
#[derive(Debug, PartialEq, Eq)]
pub enum Abandoned {
    InFlight,
    Done,
    CloseFd(i32),
}

/// `driver::slab::OpSlab`.
#[derive(Debug, Default)]
pub struct OpSlab(slab::OpSlab);

impl OpSlab {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn in_flight(&self) -> usize {
        self.0.in_flight()
    }
    pub fn abandoned(&self) -> usize {
        self.0.abandoned()
    }
    pub fn insert(&mut self) -> u64 {
        self.0.insert().user_data()
    }
    pub fn complete(&mut self, user_data: u64, c: Completion) -> Delivered {
        let c = slab::Completion {
            result: c.result,
            flags: c.flags,
        };
        match self.0.complete(OpId::from_user_data(user_data), c) {
            slab::Delivered::Wake(w) => Delivered::Wake(w),
            slab::Delivered::Quiet => Delivered::Quiet,
            slab::Delivered::Stray => Delivered::Stray,
            slab::Delivered::CloseFd(fd) => Delivered::CloseFd(fd),
            slab::Delivered::Sink(w) => Delivered::Sink(w),
        }
    }
    pub fn poll(&mut self, user_data: u64, cx: &mut Context<'_>) -> Poll<Completion> {
        self.0
            .poll(OpId::from_user_data(user_data), cx)
            .map(Completion::from)
    }
    /// `close_fd` selects `Late::CloseFd`, else `Late::Ignore`.
    pub fn abandon(
        &mut self,
        user_data: u64,
        held: Option<Box<dyn Any>>,
        close_fd: bool,
    ) -> Abandoned {
        let late = if close_fd {
            Late::CloseFd
        } else {
            Late::Ignore
        };
        match self.0.abandon(OpId::from_user_data(user_data), held, late) {
            slab::Abandoned::InFlight => Abandoned::InFlight,
            slab::Abandoned::Done => Abandoned::Done,
            slab::Abandoned::CloseFd(fd) => Abandoned::CloseFd(fd),
        }
    }
    pub fn is_pending(&mut self, user_data: u64) -> bool {
        self.0.is_pending(OpId::from_user_data(user_data))
    }
    pub fn pending_tokens(&self) -> Vec<u64> {
        self.0.pending_tokens().map(OpId::user_data).collect()
    }
}
