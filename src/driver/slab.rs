//! The op slab: every operation the kernel may still touch lives here until its
//! completion arrives.
//!
//! An operation is a slot with a lifecycle. Its token (slot + generation, see
//! `token.rs`) rides in the SQE; the completion finds the slot only if the generation
//! still matches. A future dropped while its operation is in flight hands the slab
//! whatever the kernel may write into (buffers, addresses) as `Abandoned`; the slot and
//! that memory are freed only when the completion arrives.

use std::any::Any;
use std::fmt;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::op::{Late, OpId};
use super::sink::{self, Sink};
use super::token::{self, MAX_SLOTS};

/// A completion as the kernel reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    pub(crate) result: i32,
    pub(crate) flags: u32,
}

/// Where an operation stands.
pub(crate) enum Lifecycle {
    /// Submitted; nobody has polled for it yet.
    Submitted,
    /// Submitted; this waker wants the completion.
    Waiting(Waker),
    /// The completion arrived and waits to be collected.
    Completed(Completion),
    /// Its future was dropped; this memory waits for the completion before it is freed.
    /// A multishot operation stays here until its final completion.
    Abandoned(Option<Box<dyn Any>>, Late),
    /// Completions go to this sink with this tag; a multishot operation stays here until
    /// its final completion (see `sink.rs`).
    Sink { sink: Rc<Sink>, tag: u64 },
    /// A zero-copy send's result arrived (with `F_MORE`): the kernel still reads the
    /// buffer, until its notification (the final completion), which completes the
    /// operation with this result. The waker, if one polled.
    Sending(Completion, Option<Waker>),
}

impl fmt::Debug for Lifecycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lifecycle::Submitted => f.write_str("Submitted"),
            Lifecycle::Waiting(_) => f.write_str("Waiting"),
            Lifecycle::Completed(c) => f.debug_tuple("Completed").field(c).finish(),
            Lifecycle::Abandoned(..) => f.write_str("Abandoned"),
            Lifecycle::Sink { tag, .. } => write!(f, "Sink({tag:#x})"),
            Lifecycle::Sending(c, _) => f.debug_tuple("Sending").field(c).finish(),
        }
    }
}

struct Slot {
    generation: u32,
    life: Option<Lifecycle>,
}

/// What the driver should do with a completion it handed to [`OpSlab::complete`].
#[derive(Debug)]
pub(crate) enum Delivered {
    /// Wake this waker (the op's future waits).
    Wake(Waker),
    /// Stored for a future that has not polled yet; or an abandoned op was freed.
    Quiet,
    /// Unknown, stale or duplicated: count it and ignore it.
    Stray,
    /// An abandoned operation produced a descriptor nobody owns: close it.
    CloseFd(i32),
    /// Handed to the operation's sink; wake its consumer if a waker is given.
    Sink(Option<Waker>),
}

/// What became of an operation handed to [`OpSlab::abandon`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Abandoned {
    /// The kernel still owns it: submit a cancel.
    InFlight,
    /// It had completed; everything is freed.
    Done,
    /// It had completed with a descriptor nobody owns: close it.
    CloseFd(i32),
}

/// The slab of in-flight operations.
#[derive(Default)]
pub(crate) struct OpSlab {
    slots: Vec<Slot>,
    free: Vec<u32>,
    in_flight: usize,
    abandoned: usize,
}

impl OpSlab {
    pub(crate) fn new() -> OpSlab {
        OpSlab::default()
    }

    /// Operations the kernel has not completed yet (including abandoned ones).
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Abandoned operations whose memory is held for the kernel.
    pub(crate) fn abandoned(&self) -> usize {
        self.abandoned
    }

    /// Reserves a slot for a new operation; returns its id.
    pub(crate) fn insert(&mut self) -> OpId {
        self.insert_with(Lifecycle::Submitted)
    }

    /// Reserves a slot for an operation whose completions go to `sink` with `tag`.
    pub(crate) fn insert_sink(&mut self, sink: &Rc<Sink>, tag: u64) -> OpId {
        self.insert_with(Lifecycle::Sink {
            sink: sink.clone(),
            tag,
        })
    }

    fn insert_with(&mut self, life: Lifecycle) -> OpId {
        self.in_flight += 1;
        if let Some(slot) = self.free.pop() {
            let entry = &mut self.slots[slot as usize];
            entry.life = Some(life);
            return OpId::from_user_data(token::encode(slot, entry.generation));
        }
        let slot = u32::try_from(self.slots.len())
            .ok()
            .filter(|&s| s < MAX_SLOTS)
            .expect("op slab full: more than 4 billion operations in flight");
        self.slots.push(Slot {
            generation: 0,
            life: Some(life),
        });
        OpId::from_user_data(token::encode(slot, 0))
    }

    fn entry(&mut self, id: OpId) -> Option<&mut Slot> {
        match token::decode(id.user_data()) {
            token::Token::Op { slot, generation } => self
                .slots
                .get_mut(slot as usize)
                .filter(|s| s.generation == generation && s.life.is_some()),
            _ => None,
        }
    }

    fn free_slot(&mut self, id: OpId) {
        if let token::Token::Op { slot, .. } = token::decode(id.user_data()) {
            let entry = &mut self.slots[slot as usize];
            entry.life = None;
            entry.generation = entry.generation.wrapping_add(1);
            self.free.push(slot);
        }
    }

    /// Records a completion from the kernel.
    pub(crate) fn complete(&mut self, id: OpId, completion: Completion) -> Delivered {
        let Some(entry) = self.entry(id) else {
            return Delivered::Stray;
        };
        let life = entry.life.take();
        match life {
            // A zero-copy send's result: its buffer stays the kernel's until the final
            // completion, its notification.
            Some(Lifecycle::Submitted) if !sink::is_final(completion.flags) => {
                entry.life = Some(Lifecycle::Sending(completion, None));
                Delivered::Quiet
            }
            Some(Lifecycle::Waiting(waker)) if !sink::is_final(completion.flags) => {
                entry.life = Some(Lifecycle::Sending(completion, Some(waker)));
                Delivered::Quiet
            }
            Some(Lifecycle::Sending(result, waker)) if sink::is_final(completion.flags) => {
                // The kernel let go of the buffer: the send completes with its result
                // (the operation is over: no `F_MORE` on what its future collects).
                let result = Completion {
                    flags: result.flags & !sink::F_MORE,
                    ..result
                };
                entry.life = Some(Lifecycle::Completed(result));
                self.in_flight -= 1;
                match waker {
                    Some(waker) => Delivered::Wake(waker),
                    None => Delivered::Quiet,
                }
            }
            Some(sending @ Lifecycle::Sending(..)) => {
                // A second result for one send: keep the first, flag this one.
                entry.life = Some(sending);
                Delivered::Stray
            }
            Some(Lifecycle::Submitted) => {
                entry.life = Some(Lifecycle::Completed(completion));
                self.in_flight -= 1;
                Delivered::Quiet
            }
            Some(Lifecycle::Waiting(waker)) => {
                entry.life = Some(Lifecycle::Completed(completion));
                self.in_flight -= 1;
                Delivered::Wake(waker)
            }
            Some(Lifecycle::Sink { sink, tag }) => {
                let waker = sink.push(tag, completion);
                if sink::is_final(completion.flags) {
                    self.in_flight -= 1;
                    self.free_slot(id);
                } else {
                    entry.life = Some(Lifecycle::Sink { sink, tag });
                }
                Delivered::Sink(waker)
            }
            Some(Lifecycle::Abandoned(held, late)) if !sink::is_final(completion.flags) => {
                // A multishot operation goes on: keep its memory until the last one. A
                // descriptor it produced meanwhile (a multishot accept) has no owner.
                entry.life = Some(Lifecycle::Abandoned(held, late));
                if late == Late::CloseFd && completion.result >= 0 {
                    Delivered::CloseFd(completion.result)
                } else {
                    Delivered::Quiet
                }
            }
            Some(Lifecycle::Abandoned(held, late)) => {
                self.in_flight -= 1;
                if held.is_some() {
                    self.abandoned -= 1;
                }
                self.free_slot(id);
                // The kernel is done with it: now the memory may go.
                drop(held);
                if late == Late::CloseFd && completion.result >= 0 {
                    Delivered::CloseFd(completion.result)
                } else {
                    Delivered::Quiet
                }
            }
            Some(done @ Lifecycle::Completed(_)) => {
                // A second completion for a single-shot op: keep the first, flag this one.
                entry.life = Some(done);
                Delivered::Stray
            }
            None => Delivered::Stray,
        }
    }

    /// Polls an operation's completion, registering the waker until it arrives. A
    /// collected completion frees the slot.
    pub(crate) fn poll(&mut self, id: OpId, cx: &mut Context<'_>) -> Poll<Completion> {
        let entry = self.entry(id).unwrap_or_else(|| {
            panic!(
                "polled op token {:#x} that the slab does not hold",
                id.user_data()
            )
        });
        match entry.life.take() {
            Some(Lifecycle::Completed(completion)) => {
                self.free_slot(id);
                Poll::Ready(completion)
            }
            Some(Lifecycle::Waiting(waker)) if waker.will_wake(cx.waker()) => {
                entry.life = Some(Lifecycle::Waiting(waker));
                Poll::Pending
            }
            Some(Lifecycle::Sending(result, waker)) => {
                let waker = match waker {
                    Some(waker) if waker.will_wake(cx.waker()) => waker,
                    _ => cx.waker().clone(),
                };
                entry.life = Some(Lifecycle::Sending(result, Some(waker)));
                Poll::Pending
            }
            Some(Lifecycle::Submitted | Lifecycle::Waiting(_)) => {
                entry.life = Some(Lifecycle::Waiting(cx.waker().clone()));
                Poll::Pending
            }
            other => panic!(
                "unexpected lifecycle for op {:#x}: {other:?}",
                id.user_data()
            ),
        }
    }

    /// The op's future is gone. If the kernel still owns the op, `held` (its buffers)
    /// stays here until the completion, and the caller should submit a cancel: returns
    /// `true`. If it had completed, the slot is freed now: returns `false`.
    pub(crate) fn abandon(
        &mut self,
        id: OpId,
        held: Option<Box<dyn Any>>,
        late: Late,
    ) -> Abandoned {
        let Some(entry) = self.entry(id) else {
            return Abandoned::Done;
        };
        match entry.life.take() {
            Some(Lifecycle::Completed(completion)) => {
                self.free_slot(id);
                drop(held);
                if late == Late::CloseFd && completion.result >= 0 {
                    Abandoned::CloseFd(completion.result)
                } else {
                    Abandoned::Done
                }
            }
            Some(
                Lifecycle::Submitted
                | Lifecycle::Waiting(_)
                | Lifecycle::Sink { .. }
                | Lifecycle::Sending(..),
            ) => {
                let holds = held.is_some();
                entry.life = Some(Lifecycle::Abandoned(held, late));
                if holds {
                    self.abandoned += 1;
                }
                Abandoned::InFlight
            }
            other => panic!(
                "unexpected lifecycle for abandoned op {:#x}: {other:?}",
                id.user_data()
            ),
        }
    }

    /// Gives up on operations the kernel never completed (a ring torn down without its
    /// completions): their memory is leaked, since the kernel may still write to it.
    pub(crate) fn leak_held(&mut self) {
        for slot in &mut self.slots {
            if let Some(Lifecycle::Abandoned(held, _)) = slot.life.take() {
                std::mem::forget(held);
            }
        }
    }

    /// Whether the operation's completion has not arrived (a zero-copy send whose result
    /// arrived but not its notification is not pending: there is nothing to cancel).
    pub(crate) fn is_pending(&mut self, id: OpId) -> bool {
        matches!(
            self.entry(id).and_then(|e| e.life.as_ref()),
            Some(Lifecycle::Submitted | Lifecycle::Waiting(_) | Lifecycle::Sink { .. })
        )
    }

    /// The operations the loop's close cancels: every pending one but those abandoned
    /// with `Late::Finish` (a file write, which must land), which it only waits for.
    pub(crate) fn tokens_to_cancel(&self) -> impl Iterator<Item = OpId> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(slot, s)| match s.life {
                Some(
                    Lifecycle::Submitted
                    | Lifecycle::Waiting(_)
                    | Lifecycle::Abandoned(_, Late::CloseFd | Late::Ignore)
                    | Lifecycle::Sink { .. }
                    | Lifecycle::Sending(..),
                ) => Some(OpId::from_user_data(token::encode(
                    slot as u32,
                    s.generation,
                ))),
                _ => None,
            })
    }

    /// Tokens of every operation the kernel still owns (to cancel them at close).
    #[cfg(any(test, fuzzing, ringloop_fuzzing))]
    pub(crate) fn pending_tokens(&self) -> impl Iterator<Item = OpId> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(slot, s)| match s.life {
                Some(
                    Lifecycle::Submitted
                    | Lifecycle::Waiting(_)
                    | Lifecycle::Abandoned(..)
                    | Lifecycle::Sink { .. }
                    | Lifecycle::Sending(..),
                ) => Some(OpId::from_user_data(token::encode(
                    slot as u32,
                    s.generation,
                ))),
                _ => None,
            })
    }
}

impl fmt::Debug for OpSlab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpSlab")
            .field("in_flight", &self.in_flight)
            .field("abandoned", &self.abandoned)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Counter(AtomicUsize);
    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    const C: Completion = Completion {
        result: 7,
        flags: 0,
    };

    #[test]
    fn completion_wakes_the_waiting_future_once() {
        let mut slab = OpSlab::new();
        let counter = Arc::new(Counter(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let t = slab.insert();
        assert!(slab.poll(t, &mut cx).is_pending());
        match slab.complete(t, C) {
            Delivered::Wake(w) => w.wake(),
            other => panic!("expected a wake, got {other:?}"),
        }
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert_eq!(slab.poll(t, &mut cx), Poll::Ready(C));
        assert_eq!(slab.in_flight(), 0);
    }

    #[test]
    fn stale_completion_after_slot_reuse_never_reaches_the_new_owner() {
        let mut slab = OpSlab::new();
        let mut cx = Context::from_waker(Waker::noop());
        let old = slab.insert();
        assert!(matches!(slab.complete(old, C), Delivered::Quiet));
        assert!(slab.poll(old, &mut cx).is_ready());
        let new = slab.insert();
        assert_ne!(old, new, "a reused slot gets a new generation");
        assert!(matches!(slab.complete(old, C), Delivered::Stray));
        assert!(slab.poll(new, &mut cx).is_pending());
    }

    #[test]
    fn duplicate_and_unknown_completions_are_stray() {
        let mut slab = OpSlab::new();
        let t = slab.insert();
        assert!(matches!(slab.complete(t, C), Delivered::Quiet));
        assert!(matches!(slab.complete(t, C), Delivered::Stray));
        assert!(matches!(
            slab.complete(OpId::from_user_data(0xdead_0000_0042), C),
            Delivered::Stray
        ));
        let wake = OpId::from_user_data(token::WAKE);
        assert!(matches!(slab.complete(wake, C), Delivered::Stray));
    }

    #[test]
    fn abandoned_memory_is_held_until_the_completion() {
        struct Flag(Arc<AtomicUsize>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let dropped = Arc::new(AtomicUsize::new(0));
        let mut slab = OpSlab::new();
        let t = slab.insert();
        assert_eq!(
            slab.abandon(t, Some(Box::new(Flag(dropped.clone()))), Late::Ignore),
            Abandoned::InFlight
        );
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            0,
            "freed before the kernel finished"
        );
        assert_eq!(slab.abandoned(), 1);
        assert_eq!(slab.pending_tokens().collect::<Vec<_>>(), vec![t]);
        assert!(matches!(slab.complete(t, C), Delivered::Quiet));
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
        assert_eq!((slab.in_flight(), slab.abandoned()), (0, 0));
    }

    /// A zero-copy send: its result (with `F_MORE`) does not complete it; the kernel's
    /// notification does, with that result, waking the latest poller once.
    #[test]
    fn a_zero_copy_send_completes_with_its_notification() {
        let mut slab = OpSlab::new();
        let t = slab.insert();
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(slab.poll(t, &mut cx).is_pending());
        let result = Completion {
            result: 4096,
            flags: sink::F_MORE,
        };
        assert!(matches!(slab.complete(t, result), Delivered::Quiet));
        assert!(
            slab.poll(t, &mut cx).is_pending(),
            "the buffer is still the kernel's"
        );
        assert_eq!(slab.in_flight(), 1);
        let notif = Completion {
            result: 0,
            flags: 1 << 3, // IORING_CQE_F_NOTIF
        };
        assert!(matches!(slab.complete(t, notif), Delivered::Wake(_)));
        assert_eq!(slab.in_flight(), 0);
        assert_eq!(
            slab.poll(t, &mut cx),
            Poll::Ready(Completion {
                result: 4096,
                flags: 0
            })
        );
    }

    #[test]
    fn a_multishot_sink_op_lives_until_its_final_completion() {
        let mut slab = OpSlab::new();
        let sink = Rc::new(Sink::new());
        let t = slab.insert_sink(&sink, 9);
        let more = Completion {
            result: 3,
            flags: sink::F_MORE,
        };
        assert!(matches!(slab.complete(t, more), Delivered::Sink(None)));
        assert!(matches!(slab.complete(t, more), Delivered::Sink(None)));
        assert!(slab.is_pending(t));
        assert!(matches!(slab.complete(t, C), Delivered::Sink(None)));
        assert!(!slab.is_pending(t));
        assert_eq!(slab.in_flight(), 0);
        assert!(matches!(slab.complete(t, C), Delivered::Stray));
        let mut out = Vec::new();
        sink.drain_into(&mut out, Waker::noop());
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(|e| e.tag == 9));
        // Abandoned mid-stream: held until the final completion.
        let t = slab.insert_sink(&sink, 10);
        assert_eq!(
            slab.abandon(t, Some(Box::new(1u8)), Late::Ignore),
            Abandoned::InFlight
        );
        assert!(matches!(slab.complete(t, more), Delivered::Quiet));
        assert_eq!(slab.abandoned(), 1);
        assert!(matches!(slab.complete(t, C), Delivered::Quiet));
        assert_eq!((slab.in_flight(), slab.abandoned()), (0, 0));
    }

    #[test]
    fn a_descriptor_accepted_after_abandonment_is_handed_back_to_close() {
        let mut slab = OpSlab::new();
        let t = slab.insert();
        assert_eq!(slab.abandon(t, None, Late::CloseFd), Abandoned::InFlight);
        assert_eq!(slab.abandoned(), 0, "no memory held, only a slot");
        let fd = Completion {
            result: 42,
            flags: 0,
        };
        assert!(matches!(slab.complete(t, fd), Delivered::CloseFd(42)));
        // Completed before the abandon: closed at once.
        let t = slab.insert();
        assert!(matches!(slab.complete(t, fd), Delivered::Quiet));
        assert_eq!(slab.abandon(t, None, Late::CloseFd), Abandoned::CloseFd(42));
        // A failed accept leaves nothing to close.
        let t = slab.insert();
        slab.abandon(t, None, Late::CloseFd);
        let failed = Completion {
            result: -libc::ECANCELED,
            flags: 0,
        };
        assert!(matches!(slab.complete(t, failed), Delivered::Quiet));
        assert_eq!(slab.in_flight(), 0);
    }

    #[test]
    fn every_descriptor_of_an_abandoned_multishot_accept_is_handed_back_to_close() {
        // Found by the op_lifecycle fuzzer: completions with F_MORE used to be Quiet.
        let mut slab = OpSlab::new();
        let t = slab.insert();
        assert_eq!(slab.abandon(t, None, Late::CloseFd), Abandoned::InFlight);
        let more = |fd| Completion {
            result: fd,
            flags: sink::F_MORE,
        };
        assert!(matches!(slab.complete(t, more(7)), Delivered::CloseFd(7)));
        assert!(matches!(slab.complete(t, more(8)), Delivered::CloseFd(8)));
        assert_eq!(
            slab.in_flight(),
            1,
            "the kernel goes on until a final completion"
        );
        let last = Completion {
            result: 9,
            flags: 0,
        };
        assert!(matches!(slab.complete(t, last), Delivered::CloseFd(9)));
        assert_eq!(slab.in_flight(), 0);
    }
}
