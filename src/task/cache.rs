//! Recycled task allocations: each loop keeps the cells of its finished tasks on free
//! lists by size class, and its next spawns take them from there. Spawning and joining
//! in steady state then allocates nothing, and a burst of tasks reuses the memory of the
//! last burst instead of handing it back to the allocator (which gives large bursts back
//! to the kernel, to be faulted in again page by page).
//!
//! A cell is recycled only when its last reference goes on its own loop's thread while
//! that loop runs (the usual case: the handle is awaited there). Anywhere else it is
//! freed to the allocator, with the same class layout it was allocated with. A loop's
//! lists are freed when the loop is dropped; until then it holds at most the memory of
//! its largest burst of tasks.
//!
//! Cells larger than [`MAX_CLASS_SIZE`] or aligned to more than [`ALIGN`] bytes are not
//! recycled (their futures dwarf the allocation's cost anyway).

use std::alloc::{Layout, alloc, dealloc, handle_alloc_error};
use std::cell::Cell;
use std::ptr::{self, NonNull};
use std::sync::Arc;

use super::remote::Shared;

/// Bytes between size classes.
const STEP: usize = 64;
/// Number of size classes: cells up to `CLASSES * STEP` bytes are recycled.
const CLASSES: usize = 16;
/// The largest recycled cell.
pub(crate) const MAX_CLASS_SIZE: usize = CLASSES * STEP;
/// The alignment of every recycled cell (what the allocator gives small blocks anyway).
pub(crate) const ALIGN: usize = 16;

thread_local! {
    /// The running loop's cache (null when none runs here); set with the scheduler in
    /// `current::enter`. Const-initialized, without a destructor: one load to read.
    static RUNNING: Cell<*const CellCache> = const { Cell::new(ptr::null()) };
}

/// The layout a cell of `layout` is allocated with: its size class's, when it has one.
pub(crate) const fn class_layout(layout: Layout) -> (Option<usize>, Layout) {
    let size = layout.size();
    if size == 0 || size > MAX_CLASS_SIZE || layout.align() > ALIGN {
        return (None, layout);
    }
    let class = (size - 1) / STEP;
    match Layout::from_size_align((class + 1) * STEP, ALIGN) {
        Ok(l) => (Some(class), l),
        Err(_) => (None, layout),
    }
}

/// A free block: its first word links to the next.
struct Free {
    next: *mut Free,
}

/// One loop's free lists, and the strong counts of its `Shared` its finished tasks gave
/// back.
pub(crate) struct CellCache {
    heads: [Cell<*mut Free>; CLASSES],
    /// The loop's `Shared`, which every task holds a strong count of: a task finished
    /// on the loop's thread leaves its count here and the next spawn takes it, so
    /// neither touches the atomic counter. Released when the cache drops.
    shared: *const Shared,
    counts: Cell<usize>,
}

impl CellCache {
    pub(crate) fn new(shared: &Arc<Shared>) -> CellCache {
        CellCache {
            heads: [const { Cell::new(ptr::null_mut()) }; CLASSES],
            shared: Arc::as_ptr(shared),
            counts: Cell::new(0),
        }
    }

    /// A strong count of the loop's `Shared` for a new task: one given back by a
    /// finished task, else a new one.
    pub(crate) fn take_shared(&self, shared: &Arc<Shared>) -> Arc<Shared> {
        debug_assert!(ptr::eq(Arc::as_ptr(shared), self.shared));
        match self.counts.get() {
            0 => shared.clone(),
            n => {
                self.counts.set(n - 1);
                // SAFETY: a strong count this cache holds (given back by a task through
                // `release_shared`) and now hands over.
                unsafe { Arc::from_raw(self.shared) }
            }
        }
    }

    /// Memory for a cell of `layout`: a recycled block of its class when there is one.
    pub(crate) fn alloc(&self, layout: Layout) -> NonNull<u8> {
        let (class, real) = class_layout(layout);
        if let Some(class) = class {
            let head = self.heads[class].get();
            if let Some(block) = NonNull::new(head) {
                // SAFETY: a block on the list is a live allocation of this class's
                // layout whose first word holds the link written by `push`.
                self.heads[class].set(unsafe { (*head).next });
                return block.cast();
            }
        }
        alloc_global(real)
    }

    fn push(&self, class: usize, block: NonNull<u8>) {
        let free = block.cast::<Free>().as_ptr();
        // SAFETY: the caller hands over a block of this class's layout (at least `STEP`
        // bytes, aligned to `ALIGN`) that nothing else uses any more.
        unsafe {
            free.write(Free {
                next: self.heads[class].get(),
            })
        };
        self.heads[class].set(free);
    }

    /// Makes this the cache cells freed on this thread go to (while its loop runs).
    pub(crate) fn enter(&self) {
        RUNNING.with(|c| c.set(self));
    }

    /// Ends [`enter`](Self::enter).
    pub(crate) fn exit() {
        RUNNING.with(|c| c.set(ptr::null()));
    }
}

impl Drop for CellCache {
    fn drop(&mut self) {
        for _ in 0..self.counts.replace(0) {
            // SAFETY: each is a strong count of `shared` this cache held.
            unsafe { Arc::decrement_strong_count(self.shared) };
        }
        for (class, head) in self.heads.iter().enumerate() {
            let layout =
                Layout::from_size_align((class + 1) * STEP, ALIGN).expect("a valid class layout");
            let mut block = head.replace(ptr::null_mut());
            while !block.is_null() {
                // SAFETY: as in `alloc`: a live block of this class with its link.
                let next = unsafe { (*block).next };
                // SAFETY: allocated with this layout (`alloc_global` of the class's).
                unsafe { dealloc(block.cast(), layout) };
                block = next;
            }
        }
    }
}

/// Gives back a task's strong count of its loop's `Shared` (`owner` is its address):
/// kept by the running loop's cache when that is the task's loop, dropped otherwise.
pub(crate) fn release_shared(shared: Arc<Shared>, owner: usize) {
    if super::current::is_running(owner) {
        let cache = RUNNING.with(Cell::get);
        // SAFETY: as in `free`: the running loop's cache is alive.
        if let Some(cache) = unsafe { cache.as_ref() }
            && ptr::eq(Arc::as_ptr(&shared), cache.shared)
        {
            std::mem::forget(shared);
            cache.counts.set(cache.counts.get() + 1);
            return;
        }
    }
    drop(shared);
}

/// Memory for `layout` from the allocator.
fn alloc_global(layout: Layout) -> NonNull<u8> {
    // SAFETY: a cell's layout is never zero-sized (it holds a header).
    let ptr = unsafe { alloc(layout) };
    NonNull::new(ptr).unwrap_or_else(|| handle_alloc_error(layout))
}

/// Frees the memory of a cell of `layout` whose contents are already dropped: onto the
/// running loop's lists when `owner` (the cell's scheduler id) is that loop, to the
/// allocator otherwise.
///
/// # Safety
///
/// `block` was allocated by [`CellCache::alloc`] for `layout`,
/// and nothing uses it any more.
pub(crate) unsafe fn free(block: NonNull<u8>, layout: Layout, owner: usize) {
    let (class, real) = class_layout(layout);
    if let Some(class) = class
        && super::current::is_running(owner)
    {
        let cache = RUNNING.with(Cell::get);
        // SAFETY: set by the running loop's `enter` and cleared before its scheduler
        // (which owns the cache) can go: the loop runs, so the cache is alive.
        if let Some(cache) = unsafe { cache.as_ref() } {
            cache.push(class, block);
            return;
        }
    }
    // SAFETY: the caller's contract: allocated with `real` (the class layout, or the
    // cell's own when it has no class).
    unsafe { dealloc(block.as_ptr(), real) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_round_up_to_the_step_and_stop_at_the_largest() {
        let l = |size, align| Layout::from_size_align(size, align).unwrap();
        assert_eq!(class_layout(l(1, 8)), (Some(0), l(64, 16)));
        assert_eq!(class_layout(l(64, 8)), (Some(0), l(64, 16)));
        assert_eq!(class_layout(l(65, 16)), (Some(1), l(128, 16)));
        assert_eq!(class_layout(l(1024, 8)), (Some(15), l(1024, 16)));
        assert_eq!(class_layout(l(1025, 8)), (None, l(1025, 8)));
        assert_eq!(class_layout(l(64, 32)), (None, l(64, 32)));
    }

    #[test]
    fn a_freed_block_is_handed_out_again_last_in_first_out() {
        let shared = Arc::new(Shared::new(usize::MAX).unwrap());
        let cache = CellCache::new(&shared);
        let layout = Layout::from_size_align(100, 8).unwrap();
        let a = cache.alloc(layout);
        let b = cache.alloc(layout);
        assert_ne!(a, b);
        cache.push(1, a);
        cache.push(1, b);
        assert_eq!(cache.alloc(layout), b);
        assert_eq!(cache.alloc(layout), a);
        // A different class does not take them.
        cache.push(1, a);
        let small = cache.alloc(Layout::from_size_align(10, 8).unwrap());
        assert_ne!(small, a);
        // SAFETY: allocated just above with the class-0 layout, unused.
        unsafe { dealloc(small.as_ptr(), Layout::from_size_align(64, 16).unwrap()) };
        // SAFETY: `b` was handed out above and is unused.
        unsafe { dealloc(b.as_ptr(), Layout::from_size_align(128, 16).unwrap()) };
        // `a` stays on the list and is freed with the cache.
    }
}
