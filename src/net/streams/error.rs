//! The two failures of a [`StreamReader`](super::StreamReader) that carry data: asyncio's
//! `IncompleteReadError` and `LimitOverrunError`, each the inner error of an
//! [`io::Error`] so that `?` works and the data can still be had back.

use std::error::Error;
use std::fmt;
use std::io;

/// The peer closed before a [`readexactly`](super::StreamReader::readexactly) or a
/// [`readuntil`](super::StreamReader::readuntil) was satisfied: asyncio's
/// `IncompleteReadError`. It reaches you as the inner error of an [`io::Error`] of kind
/// [`UnexpectedEof`](io::ErrorKind::UnexpectedEof), and holds the bytes that did arrive
/// (they are no longer in the reader): [`IncompleteReadError::from_io`] takes it out of
/// the `io::Error`, [`into_partial`](Self::into_partial) gives the bytes.
///
/// ```
/// use ringloop::net::{IncompleteReadError, UnixStream, StreamReader};
///
/// ringloop::run(async {
///     let (a, b) = UnixStream::pair()?;
///     let (mut reader, _writer) = ringloop::net::into_streams(b);
///     a.write_all(b"only 9 b.").await.0?;
///     drop(a); // end-of-file after 9 bytes
///     let err = reader.readexactly(16).await.unwrap_err();
///     assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
///     let incomplete = IncompleteReadError::from_io(err).expect("an incomplete read");
///     assert_eq!(incomplete.expected(), Some(16));
///     assert_eq!(incomplete.into_partial(), b"only 9 b.");
///     assert!(reader.at_eof());
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncompleteReadError {
    partial: Vec<u8>,
    expected: Option<usize>,
}

impl IncompleteReadError {
    pub(super) fn new(partial: Vec<u8>, expected: Option<usize>) -> IncompleteReadError {
        IncompleteReadError { partial, expected }
    }

    /// The `io::Error` (kind `UnexpectedEof`) that carries it.
    pub(super) fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::UnexpectedEof, self)
    }

    /// Takes the `IncompleteReadError` out of `error`, or gives `error` back when it is
    /// some other failure.
    ///
    /// ```
    /// use std::io;
    /// use ringloop::net::IncompleteReadError;
    ///
    /// let other = io::Error::from(io::ErrorKind::ConnectionReset);
    /// let back = IncompleteReadError::from_io(other).unwrap_err();
    /// assert_eq!(back.kind(), io::ErrorKind::ConnectionReset);
    /// ```
    pub fn from_io(error: io::Error) -> Result<IncompleteReadError, io::Error> {
        if error
            .get_ref()
            .is_some_and(|e| e.is::<IncompleteReadError>())
        {
            let inner = error.into_inner().expect("checked: it has an inner error");
            return Ok(*inner.downcast().expect("checked: its type"));
        }
        Err(error)
    }

    /// The bytes that arrived before the end-of-file.
    ///
    /// ```
    /// # use ringloop::net::{IncompleteReadError, UnixStream};
    /// # ringloop::run(async {
    /// # let (a, b) = UnixStream::pair()?;
    /// # let (mut reader, _writer) = ringloop::net::into_streams(b);
    /// a.write_all(b"GET / HT").await.0?;
    /// drop(a);
    /// let err = reader.readuntil(b"\r\n").await.unwrap_err();
    /// // Peek without taking it out:
    /// let inner = err.get_ref().and_then(|e| e.downcast_ref::<IncompleteReadError>());
    /// assert_eq!(inner.unwrap().partial(), b"GET / HT");
    /// # Ok::<(), std::io::Error>(())
    /// # })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn partial(&self) -> &[u8] {
        &self.partial
    }

    /// The bytes that arrived before the end-of-file, taken.
    ///
    /// ```
    /// # use ringloop::net::{IncompleteReadError, UnixStream};
    /// # ringloop::run(async {
    /// # let (a, b) = UnixStream::pair()?;
    /// # let (mut reader, _writer) = ringloop::net::into_streams(b);
    /// a.write_all(b"abc").await.0?;
    /// drop(a);
    /// let err = reader.readexactly(4).await.unwrap_err();
    /// let partial = IncompleteReadError::from_io(err).unwrap().into_partial();
    /// assert_eq!(partial, b"abc");
    /// # Ok::<(), std::io::Error>(())
    /// # })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn into_partial(self) -> Vec<u8> {
        self.partial
    }

    /// How many bytes were asked for: `Some(n)` for `readexactly(n)`, `None` for a
    /// `readuntil` (asyncio's `expected`).
    ///
    /// ```
    /// # use ringloop::net::{IncompleteReadError, UnixStream};
    /// # ringloop::run(async {
    /// # let (a, b) = UnixStream::pair()?;
    /// # let (mut reader, _writer) = ringloop::net::into_streams(b);
    /// drop(a);
    /// let err = reader.readuntil(b"\n").await.unwrap_err();
    /// assert_eq!(IncompleteReadError::from_io(err).unwrap().expected(), None);
    /// # Ok::<(), std::io::Error>(())
    /// # })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn expected(&self) -> Option<usize> {
        self.expected
    }
}

impl fmt::Display for IncompleteReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.expected {
            Some(n) => write!(
                f,
                "the peer closed after {} of {n} expected bytes",
                self.partial.len()
            ),
            None => write!(
                f,
                "the peer closed before the separator, after {} bytes",
                self.partial.len()
            ),
        }
    }
}

impl Error for IncompleteReadError {}

/// A [`readuntil`](super::StreamReader::readuntil) or
/// [`readline`](super::StreamReader::readline) found no separator within the reader's
/// [limit](super::StreamReader::limit), or found it past the limit: asyncio's
/// `LimitOverrunError`. It reaches you as the inner error of an [`io::Error`] of kind
/// [`InvalidData`](io::ErrorKind::InvalidData).
///
/// After `readuntil` the bytes stay in the reader (as in asyncio): read them with
/// [`read`](super::StreamReader::read) or
/// [`readexactly`](super::StreamReader::readexactly)`(consumed)`, or raise the limit and
/// try again. `readline`, as asyncio's, drops the over-long line instead.
///
/// ```
/// use ringloop::net::{LimitOverrunError, UnixStream};
///
/// ringloop::run(async {
///     let (a, b) = UnixStream::pair()?;
///     let (mut reader, _writer) = ringloop::net::into_streams(b);
///     reader.set_limit(4);
///     a.write_all(b"toolong;").await.0?;
///     let err = reader.readuntil(b";").await.unwrap_err();
///     assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
///     let overrun = LimitOverrunError::from_io(err).expect("a limit overrun");
///     assert_eq!(overrun.consumed(), 7); // the separator was found at offset 7
///     // Nothing was lost: the bytes are still in the reader.
///     assert_eq!(reader.readexactly(overrun.consumed() + 1).await?, b"toolong;");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitOverrunError {
    consumed: usize,
    found: bool,
}

impl LimitOverrunError {
    pub(super) fn new(consumed: usize, found: bool) -> LimitOverrunError {
        LimitOverrunError { consumed, found }
    }

    /// The `io::Error` (kind `InvalidData`) that carries it.
    pub(super) fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self)
    }

    /// Takes the `LimitOverrunError` out of `error`, or gives `error` back when it is
    /// some other failure.
    ///
    /// ```
    /// use std::io;
    /// use ringloop::net::LimitOverrunError;
    ///
    /// let other = io::Error::from(io::ErrorKind::BrokenPipe);
    /// assert!(LimitOverrunError::from_io(other).is_err());
    /// ```
    pub fn from_io(error: io::Error) -> Result<LimitOverrunError, io::Error> {
        if error.get_ref().is_some_and(|e| e.is::<LimitOverrunError>()) {
            let inner = error.into_inner().expect("checked: it has an inner error");
            return Ok(*inner.downcast().expect("checked: its type"));
        }
        Err(error)
    }

    /// How many bytes to consume to get past the data that overran (asyncio's
    /// `consumed`): where the separator starts when it was found past the limit, else
    /// how far the reader searched (the bytes buffered, less the separator's length
    /// plus one, which may yet begin a separator).
    ///
    /// ```
    /// # use ringloop::net::{LimitOverrunError, UnixStream};
    /// # ringloop::run(async {
    /// # let (a, b) = UnixStream::pair()?;
    /// # let (mut reader, _writer) = ringloop::net::into_streams(b);
    /// reader.set_limit(2);
    /// a.write_all(b"abcd").await.0?; // no separator at all
    /// let err = reader.readuntil(b"\r\n").await.unwrap_err();
    /// let overrun = LimitOverrunError::from_io(err).unwrap();
    /// assert_eq!(overrun.consumed(), 3); // "abc": the "d" may start a "\r\n"
    /// assert!(!overrun.separator_found());
    /// # Ok::<(), std::io::Error>(())
    /// # })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn consumed(&self) -> usize {
        self.consumed
    }

    /// Whether the separator was found (past the limit), at offset
    /// [`consumed`](Self::consumed).
    ///
    /// ```
    /// # use ringloop::net::{LimitOverrunError, UnixStream};
    /// # ringloop::run(async {
    /// # let (a, b) = UnixStream::pair()?;
    /// # let (mut reader, _writer) = ringloop::net::into_streams(b);
    /// reader.set_limit(2);
    /// a.write_all(b"abcd\n").await.0?;
    /// let err = reader.readuntil(b"\n").await.unwrap_err();
    /// let overrun = LimitOverrunError::from_io(err).unwrap();
    /// assert!(overrun.separator_found());
    /// assert_eq!(overrun.consumed(), 4);
    /// # Ok::<(), std::io::Error>(())
    /// # })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn separator_found(&self) -> bool {
        self.found
    }
}

impl fmt::Display for LimitOverrunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.found {
            write!(
                f,
                "the separator was found at offset {}, past the reader's limit",
                self.consumed
            )
        } else {
            write!(
                f,
                "no separator within the reader's limit ({} bytes searched)",
                self.consumed
            )
        }
    }
}

impl Error for LimitOverrunError {}
