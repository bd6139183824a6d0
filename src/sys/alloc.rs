//! Test support: a global allocator that counts the heap a process holds.
//!
//! The leak tests (`tests/soak.rs`) install it with `#[global_allocator]` and compare
//! the live bytes and blocks before and after a workload. Implementing
//! [`GlobalAlloc`] takes `unsafe`, which the crate keeps in `sys/`; the tests stay safe.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

/// [`System`], counting the bytes and blocks currently allocated.
#[derive(Debug)]
pub struct CountingAlloc {
    bytes: AtomicIsize,
    blocks: AtomicIsize,
}

impl CountingAlloc {
    /// A counter at zero (what a `static` needs).
    pub const fn new() -> CountingAlloc {
        CountingAlloc {
            bytes: AtomicIsize::new(0),
            blocks: AtomicIsize::new(0),
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
// `System`'s guarantees are ours; the counters only observe sizes.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `alloc`'s contract.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            self.add(layout.size(), 1);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
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
        // SAFETY: forwarded as is; `ptr` came from this allocator, hence from `System`.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            self.sub(layout.size(), 0);
            self.add(new_size, 0);
        }
        new
    }
}
