//! A provided-buffer ring (`IORING_REGISTER_PBUF_RING`): buffers the kernel picks from
//! for multishot receives, so no read needs a buffer of its own.
//!
//! # Ownership
//!
//! A buffer is either *in the ring* (the kernel may write to it at any time) or *lent*
//! (a completion named it: the kernel has filled it and let go of it). Only a lent buffer
//! is ever read, through a [`Lent`] guard; dropping the guard writes the buffer back into
//! the ring at once. A buffer id is lent at most once at a time (checked).
//!
//! The ring and its buffers are freed only when the last `Rc<BufRing>` goes. The io_uring
//! driver holds one, and before dropping it either unregisters the ring (after every
//! operation that could pick from it has completed) or, if the kernel did not give every
//! operation back, leaks it. Other holders (the protocol server, and the `RecvBuf`s of
//! `read_buffered`, which own an `Rc` so they may outlive the loop) only lend and
//! return: a buffer given back to a ring the kernel no longer knows is only a write into
//! memory the ring owns.

use std::alloc::{self, Layout};
use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::ops::Deref;
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::atomic::{AtomicU16, Ordering};

/// `struct io_uring_buf`: one ring entry. In entry 0, `resv` is the ring's tail.
#[repr(C)]
struct RawEntry {
    addr: u64,
    len: u32,
    bid: u16,
    resv: u16,
}

const PAGE: usize = 4096;

/// The ring and its buffers.
pub(crate) struct BufRing {
    /// `count` entries, page aligned, shared with the kernel.
    ring: NonNull<RawEntry>,
    ring_layout: Layout,
    /// `count * size` bytes of buffers.
    bufs: NonNull<u8>,
    bufs_layout: Layout,
    count: u16,
    size: u32,
    group: u16,
    /// Our copy of the tail (the kernel only reads it).
    tail: Cell<u16>,
    /// Which buffers are lent out.
    lent: RefCell<Vec<bool>>,
}

impl BufRing {
    /// Allocates `count` (a power of two, at most 32768) buffers of `size` bytes, all in
    /// the ring, for buffer group `group`. Not registered yet. An `OutOfMemory` error
    /// when the memory cannot be had (never an abort).
    pub(crate) fn new(count: u16, size: u32, group: u16) -> io::Result<BufRing> {
        assert!(
            count.is_power_of_two() && count <= 32768,
            "buffer count must be a power of two"
        );
        assert!(size > 0, "buffer size must not be zero");
        let ring_layout = Layout::from_size_align(usize::from(count) * size_of::<RawEntry>(), PAGE)
            .expect("ring layout");
        let total = usize::from(count) * size as usize;
        let no_memory = || {
            io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!("cannot allocate {count} receive buffers of {size} bytes ({total} bytes)"),
            )
        };
        let bufs_layout = Layout::from_size_align(total, 64).map_err(|_| no_memory())?;
        // SAFETY: the layout has a non-zero size (count is non-zero).
        let ring = NonNull::new(unsafe { alloc::alloc_zeroed(ring_layout) }.cast::<RawEntry>())
            .ok_or_else(no_memory)?;
        // SAFETY: the layout has a non-zero size (count and size are non-zero).
        let Some(bufs) = NonNull::new(unsafe { alloc::alloc(bufs_layout) }) else {
            // SAFETY: `ring` was allocated just above with `ring_layout`, and nothing
            // else refers to it.
            unsafe { alloc::dealloc(ring.as_ptr().cast(), ring_layout) };
            return Err(no_memory());
        };
        let this = BufRing {
            ring,
            ring_layout,
            bufs,
            bufs_layout,
            count,
            size,
            group,
            tail: Cell::new(0),
            lent: RefCell::new(vec![true; usize::from(count)]),
        };
        for bid in 0..count {
            this.give_back(bid);
        }
        Ok(this)
    }

    /// The ring's address, for registration.
    pub(crate) fn ring_addr(&self) -> u64 {
        self.ring.as_ptr() as u64
    }

    pub(crate) fn count(&self) -> u16 {
        self.count
    }

    pub(crate) fn group(&self) -> u16 {
        self.group
    }

    /// Buffer `bid` with the `len` bytes a completion reported, lent until the guard
    /// drops. `None` for an id or length that cannot be (a corrupt completion), or a
    /// buffer already lent.
    pub(crate) fn lend(&self, bid: u16, len: usize) -> Option<Lent<&BufRing>> {
        // Lazily (`then`, not `then_some`): a guard built for a refused id would give
        // that buffer back when dropped.
        self.take(bid, len).then(|| Lent {
            ring: self,
            bid,
            len,
        })
    }

    /// As [`lend`](BufRing::lend), for a guard that holds the ring itself, so it may
    /// outlive the borrow (and the loop: see the module docs).
    pub(crate) fn lend_rc(self: &Rc<Self>, bid: u16, len: usize) -> Option<Lent<Rc<BufRing>>> {
        self.take(bid, len).then(|| Lent {
            ring: self.clone(),
            bid,
            len,
        })
    }

    /// Marks `bid` lent; false if it cannot be (see `lend`).
    fn take(&self, bid: u16, len: usize) -> bool {
        if bid >= self.count || len > self.size as usize {
            return false;
        }
        !std::mem::replace(&mut self.lent.borrow_mut()[usize::from(bid)], true)
    }

    /// Returns a buffer the kernel picked but nobody will read (an abandoned or stray
    /// completion).
    pub(crate) fn recycle(&self, bid: u16) {
        drop(self.lend(bid, 0));
    }

    /// Puts a lent buffer back at the ring's tail.
    fn give_back(&self, bid: u16) {
        let was_lent = std::mem::replace(&mut self.lent.borrow_mut()[usize::from(bid)], false);
        debug_assert!(was_lent);
        let tail = self.tail.get();
        let index = usize::from(tail & (self.count - 1));
        let addr = self.buf_ptr(bid) as u64;
        // SAFETY: `index < count`, so the entry is inside the ring allocation. The entry
        // past the tail is not read by the kernel until the tail moves over it; only its
        // own fields are written (entry 0's `resv`, the tail, is left alone).
        unsafe {
            let entry = self.ring.as_ptr().add(index);
            std::ptr::addr_of_mut!((*entry).addr).write(addr);
            std::ptr::addr_of_mut!((*entry).len).write(self.size);
            std::ptr::addr_of_mut!((*entry).bid).write(bid);
        }
        let tail = tail.wrapping_add(1);
        self.tail.set(tail);
        // SAFETY: entry 0's `resv` field is the ring's tail, a u16 the kernel reads
        // concurrently: written only atomically, with release ordering so the entry
        // written above is visible first.
        unsafe {
            let tail_ptr = std::ptr::addr_of_mut!((*self.ring.as_ptr()).resv);
            AtomicU16::from_ptr(tail_ptr).store(tail, Ordering::Release);
        }
    }

    fn buf_ptr(&self, bid: u16) -> *mut u8 {
        // SAFETY: `bid < count`, so the offset is inside the buffers' allocation.
        unsafe {
            self.bufs
                .as_ptr()
                .add(usize::from(bid) * self.size as usize)
        }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with these layouts. The driver drops its reference
        // only once the kernel can no longer use the ring (module docs).
        unsafe {
            alloc::dealloc(self.ring.as_ptr().cast(), self.ring_layout);
            alloc::dealloc(self.bufs.as_ptr(), self.bufs_layout);
        }
    }
}

impl fmt::Debug for BufRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufRing")
            .field("count", &self.count)
            .field("size", &self.size)
            .field("group", &self.group)
            .finish()
    }
}

/// A filled buffer, lent by the ring until dropped. `R` is how the guard reaches the
/// ring: a borrow, or an `Rc` for a guard handed to user code.
pub(crate) struct Lent<R: Deref<Target = BufRing>> {
    ring: R,
    bid: u16,
    len: usize,
}

impl<R: Deref<Target = BufRing>> Deref for Lent<R> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: the buffer is lent (out of the ring): the kernel wrote `len <= size`
        // bytes into it before completing, and does not touch it until `give_back`.
        unsafe { std::slice::from_raw_parts(self.ring.buf_ptr(self.bid), self.len) }
    }
}

impl<R: Deref<Target = BufRing>> Drop for Lent<R> {
    fn drop(&mut self) {
        self.ring.give_back(self.bid);
    }
}

impl<R: Deref<Target = BufRing>> fmt::Debug for Lent<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lent")
            .field("bid", &self.bid)
            .field("len", &self.len)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_lent_once_and_return_to_the_tail() {
        let ring = BufRing::new(4, 16, 0).expect("a small ring");
        assert_eq!(ring.tail.get(), 4);
        let a = ring.lend(2, 5).expect("lend");
        assert_eq!(a.len(), 5);
        assert!(ring.lend(2, 5).is_none(), "already lent");
        assert!(ring.lend(9, 1).is_none(), "no such buffer");
        assert!(ring.lend(1, 17).is_none(), "longer than a buffer");
        drop(a);
        assert_eq!(ring.tail.get(), 5);
        ring.recycle(3);
        assert_eq!(ring.tail.get(), 6);
    }

    #[test]
    fn an_owning_guard_outlives_every_other_holder() {
        let ring = Rc::new(BufRing::new(4, 16, 0).expect("a small ring"));
        let held = ring.lend_rc(1, 3).expect("lend");
        assert!(ring.lend_rc(1, 3).is_none(), "already lent");
        assert!(ring.lend(1, 3).is_none(), "already lent");
        drop(ring);
        // The guard alone keeps the ring (and its memory) alive, and gives the buffer
        // back to it when dropped.
        assert_eq!(held.len(), 3);
        let ring = held.ring.clone();
        drop(held);
        assert_eq!(ring.tail.get(), 5);
        assert!(ring.lend(1, 3).is_some(), "returned");
    }
}
