//! A global allocator that counts.
//!
//! Installing a `#[global_allocator]` takes an `unsafe impl GlobalAlloc`, and ringloop
//! keeps `unsafe` out of its tests, so the impl lives here. A test installs it with
//!
//! ```ignore
//! #[global_allocator]
//! static A: testkit::CountingAlloc = testkit::CountingAlloc::new();
//! ```
//!
//! and reads what it needs: the live bytes and blocks (leak tests compare them before
//! and after a workload), [`CountingAlloc::thread_allocations`] (allocations and
//! reallocations made by the calling thread so far; tests run in parallel threads, so
//! an allocation-free path is proven with a per-thread count) or [`CountingAlloc::total`].

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, AtomicU64, Ordering};

thread_local! {
    // Const-initialized and without a destructor: reading it never allocates.
    static THREAD: Cell<u64> = const { Cell::new(0) };
}

/// [`System`], counting (see the module docs).
#[derive(Debug)]
pub struct CountingAlloc {
    bytes: AtomicIsize,
    blocks: AtomicIsize,
    total: AtomicU64,
}

impl CountingAlloc {
    /// A counter at zero (what a `static` needs).
    pub const fn new() -> CountingAlloc {
        CountingAlloc {
            bytes: AtomicIsize::new(0),
            blocks: AtomicIsize::new(0),
            total: AtomicU64::new(0),
        }
    }

    /// Bytes allocated through this allocator and not yet freed.
    pub fn live_bytes(&self) -> isize {
        self.bytes.load(Ordering::SeqCst)
    }

    /// Blocks allocated through this allocator and not yet freed.
    pub fn live_blocks(&self) -> isize {
        self.blocks.load(Ordering::SeqCst)
    }

    /// Allocations (and reallocations) made by the calling thread so far.
    pub fn thread_allocations() -> u64 {
        THREAD.try_with(Cell::get).unwrap_or(0)
    }

    /// Allocations (and reallocations) made by every thread so far.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    fn count(&self) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let _ = THREAD.try_with(|c| c.set(c.get() + 1));
    }

    fn add(&self, size: usize, blocks: isize) {
        self.bytes.fetch_add(size as isize, Ordering::Relaxed);
        self.blocks.fetch_add(blocks, Ordering::Relaxed);
    }

    fn sub(&self, size: usize, blocks: isize) {
        self.bytes.fetch_sub(size as isize, Ordering::Relaxed);
        self.blocks.fetch_sub(blocks, Ordering::Relaxed);
    }
}

impl Default for CountingAlloc {
    fn default() -> Self {
        CountingAlloc::new()
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees are ours; counting touches only atomics and a const-initialized
// thread-local, none of which allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.count();
        // SAFETY: forwarded as is; the caller upholds `alloc`'s contract.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            self.add(layout.size(), 1);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.count();
        // SAFETY: forwarded as is; the caller upholds `alloc_zeroed`'s contract.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            self.add(layout.size(), 1);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is; `ptr` came from this allocator, hence from `System`.
        unsafe { System.dealloc(ptr, layout) };
        self.sub(layout.size(), 1);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.count();
        // SAFETY: forwarded as is; `ptr` came from this allocator, hence from `System`.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            self.sub(layout.size(), 0);
            self.add(new_size, 0);
        }
        new
    }
}
