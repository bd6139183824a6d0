//! Owned buffers for I/O: the kernel reads or writes them while the caller has given
//! them away, and hands them back with the result.
//!
//! A buffer passed to an operation is moved into it, and comes back with the result:
//! `let (res, buf) = stream.read(buf).await;`. While the kernel may touch it, nobody
//! else can: if the future is dropped early, the buffer stays with the driver until the
//! kernel's completion arrives.

use std::ops::{Bound, RangeBounds};

/// A buffer the kernel may read from: what writes take (`Vec<u8>`, `Box<[u8]>`, a
/// [`Slice`] of either, and the `'static` `&[u8]`, `b"..."` and `&str`).
///
/// A write sends the [initialized](IoBuf::bytes_init) bytes (a `Vec`'s length); a read
/// fills up to [`bytes_total`](IoBuf::bytes_total) (its capacity). See the
/// [`net`](crate::net) module's "Owned buffers" section.
///
/// ```
/// use ringloop::net::{IoBuf, UnixStream};
///
/// /// Sends `msg` whole, and hands the buffer back for reuse.
/// async fn send<B: IoBuf>(conn: &UnixStream, msg: B) -> std::io::Result<B> {
///     let (res, msg) = conn.write_all(msg).await;
///     res.map(|()| msg)
/// }
///
/// ringloop::run(async {
///     let (a, b) = UnixStream::pair()?;
///     send(&a, "a str, ").await?;
///     send(&a, b"bytes, ").await?;
///     let mut buf = send(&a, b"a Vec".to_vec()).await?;
///     buf.clear(); // reused below as a read buffer
///     buf.reserve(64);
///     assert_eq!(buf.bytes_init(), 0); // a write would send nothing
///     assert!(buf.bytes_total() >= 64); // a read may fill this much
///     let (res, buf) = b.read_exact(buf.slice(..19)).await;
///     res?;
///     assert_eq!(buf.into_inner(), b"a str, bytes, a Vec");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
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
    /// ```
    /// use ringloop::net::IoBuf;
    ///
    /// let line = b"GET / HTTP/1.1".to_vec();
    /// let path = line.slice(4..5); // what `write(path)` would send: "/"
    /// assert_eq!((path.bytes_init(), path.bytes_total()), (1, 1));
    /// let mut line = path.into_inner(); // the whole buffer back
    /// line.reserve(100);
    /// let spare = line.slice(14..); // from the length to the capacity: where to append
    /// assert_eq!(spare.bytes_init(), 0);
    /// ```
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

/// A buffer the kernel may write into: what reads take (`Vec<u8>`, `Box<[u8]>`, and a
/// [`Slice`] of either).
///
/// A read fills up to the buffer's capacity ([`bytes_total`](IoBuf::bytes_total)) from
/// its start, and marks what it wrote as initialized: a `Vec`'s length grows to cover
/// it, never shrinks. See the [`net`](crate::net) module's "Owned buffers" section.
///
/// ```
/// use ringloop::net::{IoBufMut, UnixStream};
///
/// /// Reads once into any buffer; the buffer comes back either way.
/// async fn read_some<B: IoBufMut>(conn: &UnixStream, buf: B) -> (std::io::Result<usize>, B) {
///     conn.read(buf).await
/// }
///
/// ringloop::run(async {
///     let (a, b) = UnixStream::pair()?;
///     a.write_all(b"boxed").await.0?;
///     // A boxed slice is all initialized: its length is its capacity.
///     let (n, buf) = read_some(&b, vec![0u8; 8].into_boxed_slice()).await;
///     assert_eq!(&buf[..n?], b"boxed");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
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
///
/// A write of a slice sends its initialized part; a read into it fills it and, when it
/// starts at the buffer's length, appends.
///
/// ```
/// use ringloop::net::{IoBuf, UnixStream};
///
/// ringloop::run(async {
///     let (a, b) = UnixStream::pair()?;
///     let message = b"header:body".to_vec();
///     let (res, body) = a.write_all(message.slice(7..)).await; // sends "body"
///     res?;
///     let message = body.into_inner(); // the whole Vec, untouched
///     assert_eq!(message, b"header:body");
///     let (n, buf) = b.read(Vec::with_capacity(16)).await;
///     assert_eq!(&buf[..n?], b"body");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Slice<T> {
    buf: T,
    begin: usize,
    end: usize,
}

impl<T> Slice<T> {
    /// Where the view starts in the buffer.
    ///
    /// ```
    /// use ringloop::net::IoBuf;
    ///
    /// assert_eq!(b"key=value".to_vec().slice(4..).begin(), 4);
    /// ```
    pub fn begin(&self) -> usize {
        self.begin
    }
    /// Where the view ends in the buffer (exclusive).
    ///
    /// ```
    /// use ringloop::net::IoBuf;
    ///
    /// let key = b"key=value".to_vec().slice(..3);
    /// assert_eq!((key.begin(), key.end()), (0, 3));
    /// ```
    pub fn end(&self) -> usize {
        self.end
    }
    /// The whole buffer, borrowed.
    ///
    /// ```
    /// use ringloop::net::IoBuf;
    ///
    /// let value = b"key=value".to_vec().slice(4..);
    /// assert_eq!(&value.get_ref()[value.begin()..value.end()], b"value");
    /// ```
    pub fn get_ref(&self) -> &T {
        &self.buf
    }
    /// The whole buffer, given back (after a read into the slice, with what it read).
    ///
    /// ```
    /// use ringloop::net::IoBuf;
    ///
    /// let buf = b"key=value".to_vec();
    /// let value = buf.slice(4..);
    /// assert_eq!(value.into_inner(), b"key=value");
    /// ```
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
