//! Owned buffers for I/O: the kernel reads or writes them while the caller has given
//! them away, and hands them back with the result.
//!
//! A buffer passed to an operation is moved into it, and comes back with the result:
//! `let (res, buf) = stream.read(buf).await;`. While the kernel may touch it, nobody
//! else can: if the future is dropped early, the buffer stays with the driver until the
//! kernel's completion arrives.

use std::ops::{Bound, RangeBounds};

/// A buffer the kernel may read from.
///
/// # Safety
///
/// `stable_ptr` must point to `bytes_total()` bytes of memory owned by the buffer, of
/// which the first `bytes_init()` are initialized, and that memory must stay valid and
/// at the same address when the buffer value itself is moved, until it is dropped.
pub unsafe trait IoBuf: Unpin + 'static {
    /// The start of the buffer's memory.
    fn stable_ptr(&self) -> *const u8;
    /// How many bytes are initialized (what a write sends).
    fn bytes_init(&self) -> usize;
    /// How many bytes the memory holds (what a read may fill).
    fn bytes_total(&self) -> usize;

    /// A view of part of the buffer, so that a read or write uses just that part without
    /// copying. The range is checked against `bytes_total`.
    ///
    /// # Panics
    ///
    /// When the range reaches past the buffer's capacity.
    fn slice(self, range: impl RangeBounds<usize>) -> Slice<Self>
    where
        Self: Sized,
    {
        let begin = match range.start_bound() {
            Bound::Included(&n) => n,
            Bound::Excluded(&n) => n + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&n) => n + 1,
            Bound::Excluded(&n) => n,
            Bound::Unbounded => self.bytes_total(),
        };
        assert!(
            begin <= end && end <= self.bytes_total(),
            "slice {begin}..{end} is out of the buffer's capacity {}",
            self.bytes_total()
        );
        Slice {
            buf: self,
            begin,
            end,
        }
    }
}

/// A buffer the kernel may write into.
///
/// # Safety
///
/// As for [`IoBuf`], and `stable_mut_ptr` points to the same memory, writable.
pub unsafe trait IoBufMut: IoBuf {
    /// The start of the buffer's memory, for writing.
    fn stable_mut_ptr(&mut self) -> *mut u8;

    /// Records that the first `n` bytes are now initialized (a read filled them).
    ///
    /// # Safety
    ///
    /// The first `n` bytes (`n <= bytes_total()`) really are initialized.
    unsafe fn set_init(&mut self, n: usize);
}

// SAFETY: a `Vec`'s heap memory does not move when the `Vec` does; `len` bytes of the
// `capacity` are initialized.
unsafe impl IoBuf for Vec<u8> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}

// SAFETY: as for `IoBuf`; reads may fill the spare capacity, and `set_init` grows `len`
// over bytes the kernel wrote.
unsafe impl IoBufMut for Vec<u8> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, n: usize) {
        if n > self.len() {
            // SAFETY: the caller guarantees the first `n <= capacity` bytes are
            // initialized.
            unsafe { self.set_len(n) };
        }
    }
}

// SAFETY: a boxed slice's memory does not move with the box; all of it is initialized.
unsafe impl IoBuf for Box<[u8]> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: as for `IoBuf`; every byte is always initialized.
unsafe impl IoBufMut for Box<[u8]> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, _n: usize) {}
}

// SAFETY: static memory never moves and is never freed.
unsafe impl IoBuf for &'static [u8] {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: static memory never moves and is never freed.
unsafe impl<const N: usize> IoBuf for &'static [u8; N] {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        N
    }
    fn bytes_total(&self) -> usize {
        N
    }
}

// SAFETY: static memory never moves and is never freed.
unsafe impl IoBuf for &'static str {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

/// Part of a buffer: `begin..end` of `buf`'s capacity. Made by [`IoBuf::slice`]; get the
/// buffer back with [`Slice::into_inner`].
#[derive(Debug)]
pub struct Slice<T> {
    buf: T,
    begin: usize,
    end: usize,
}

impl<T> Slice<T> {
    /// Where the view starts in the buffer.
    pub fn begin(&self) -> usize {
        self.begin
    }
    /// Where the view ends in the buffer.
    pub fn end(&self) -> usize {
        self.end
    }
    /// The whole buffer.
    pub fn get_ref(&self) -> &T {
        &self.buf
    }
    /// The whole buffer, given back.
    pub fn into_inner(self) -> T {
        self.buf
    }
}

// SAFETY: the view lies inside the buffer's capacity (checked by `slice`), and moves with
// it; bytes below the buffer's `bytes_init` are initialized.
unsafe impl<T: IoBuf> IoBuf for Slice<T> {
    fn stable_ptr(&self) -> *const u8 {
        // `begin <= bytes_total`: the result stays inside (or one past) the allocation.
        self.buf.stable_ptr().wrapping_add(self.begin)
    }
    fn bytes_init(&self) -> usize {
        self.buf.bytes_init().clamp(self.begin, self.end) - self.begin
    }
    fn bytes_total(&self) -> usize {
        self.end - self.begin
    }
}

// SAFETY: as for `IoBuf`; `set_init` translates to the whole buffer's offsets.
unsafe impl<T: IoBufMut> IoBufMut for Slice<T> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.buf.stable_mut_ptr().wrapping_add(self.begin)
    }
    unsafe fn set_init(&mut self, n: usize) {
        // Bytes before `begin` count as initialized only if they already were.
        if self.buf.bytes_init() >= self.begin {
            // SAFETY: the caller guarantees the view's first `n` bytes are initialized,
            // and the bytes before the view already were.
            unsafe { self.buf.set_init(self.begin + n) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vec_reads_fill_capacity_and_grow_len() {
        let mut v = Vec::with_capacity(16);
        v.extend_from_slice(b"ab");
        assert_eq!((v.bytes_init(), v.bytes_total()), (2, 16));
        // SAFETY: pretend a read wrote 5 bytes.
        unsafe {
            v.stable_mut_ptr().add(2).copy_from(b"cde".as_ptr(), 3);
            v.set_init(5);
        }
        assert_eq!(v, b"abcde");
        // A shorter read never shrinks what was there.
        // SAFETY: the first byte is initialized.
        unsafe { v.set_init(1) };
        assert_eq!(v.len(), 5);
    }

    #[test]
    fn slices_view_part_of_the_buffer() {
        let v = b"hello world".to_vec();
        let s = v.slice(6..);
        assert_eq!(s.bytes_init(), 5);
        assert_eq!(s.bytes_total(), 5);
        let v = s.into_inner();
        let s = v.slice(2..4);
        assert_eq!((s.bytes_init(), s.bytes_total()), (2, 2));
    }

    #[test]
    fn slice_into_spare_capacity_grows_the_vec() {
        let mut v = Vec::with_capacity(8);
        v.extend_from_slice(b"abc");
        let mut s = v.slice(3..8);
        assert_eq!((s.bytes_init(), s.bytes_total()), (0, 5));
        // SAFETY: pretend a read wrote 2 bytes into the view.
        unsafe {
            s.stable_mut_ptr().copy_from(b"de".as_ptr(), 2);
            s.set_init(2);
        }
        assert_eq!(s.into_inner(), b"abcde");
    }

    #[test]
    #[should_panic(expected = "out of the buffer's capacity")]
    fn slice_past_capacity_panics() {
        let v = vec![0u8; 4];
        let _ = v.slice(2..9);
    }
}
