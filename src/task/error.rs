//! Errors a task resolves to, and what the loop's exception handler receives.

use std::any::Any;
use std::fmt;

/// Why a [`Task`](crate::Task) did not produce its value.
///
/// ```
/// use ringloop::TaskError;
///
/// fn fail() -> u32 {
///     panic!("oops")
/// }
///
/// ringloop::run(async {
///     match ringloop::spawn(async { fail() }).await {
///         Ok(n) => println!("got {n}"),
///         Err(TaskError::Cancelled) => println!("cancelled"),
///         Err(TaskError::Panicked(payload)) => {
///             assert_eq!(payload.downcast_ref::<&str>(), Some(&"oops"));
///         }
///     }
/// });
/// ```
pub enum TaskError {
    /// The task was cancelled (by [`Task::cancel`](crate::Task::cancel) or because its
    /// loop closed) before it finished.
    Cancelled,
    /// The task's future panicked; the payload is what `panic!` was given.
    Panicked(Box<dyn Any + Send + 'static>),
}

impl TaskError {
    /// Whether the task was cancelled.
    ///
    /// ```
    /// let err = ringloop::run(async {
    ///     let task = ringloop::spawn(std::future::pending::<()>());
    ///     task.cancel();
    ///     task.await.unwrap_err()
    /// });
    /// assert!(err.is_cancelled());
    /// assert_eq!(err.to_string(), "task was cancelled");
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, TaskError::Cancelled)
    }

    /// Whether the task panicked.
    ///
    /// ```
    /// fn fail() -> u32 {
    ///     panic!("oops")
    /// }
    ///
    /// let err = ringloop::run(async { ringloop::spawn(async { fail() }).await.unwrap_err() });
    /// assert!(err.is_panic());
    /// assert_eq!(err.to_string(), "task panicked: oops");
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self, TaskError::Panicked(_))
    }

    /// The panic payload, to re-raise it with [`std::panic::resume_unwind`].
    ///
    /// ```
    /// fn fail() -> u32 {
    ///     panic!("oops")
    /// }
    ///
    /// let err = ringloop::run(async { ringloop::spawn(async { fail() }).await.unwrap_err() });
    /// let payload = err.into_panic();
    /// assert_eq!(payload.downcast_ref::<&str>(), Some(&"oops"));
    /// // Or re-raise it in the awaiting code: std::panic::resume_unwind(payload)
    /// ```
    ///
    /// # Panics
    ///
    /// When the task was cancelled rather than panicking; check [`is_panic`](Self::is_panic).
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        match self {
            TaskError::Panicked(payload) => payload,
            TaskError::Cancelled => {
                panic!("TaskError::into_panic on a cancelled task; check is_panic() first")
            }
        }
    }
}

/// The message a panic payload carries, when it is a string.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "Box<dyn Any>"
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Cancelled => f.write_str("Cancelled"),
            TaskError::Panicked(p) => f
                .debug_tuple("Panicked")
                .field(&panic_message(&**p))
                .finish(),
        }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Cancelled => f.write_str("task was cancelled"),
            TaskError::Panicked(p) => write!(f, "task panicked: {}", panic_message(&**p)),
        }
    }
}

impl std::error::Error for TaskError {}

/// What kind of failure reached the exception handler.
///
/// ```
/// use ringloop::ExceptionKind;
///
/// let lp = ringloop::EventLoop::new()?;
/// lp.set_exception_handler(|report| match report.kind() {
///     ExceptionKind::TaskNeverRetrieved => eprintln!("lost task failure: {report}"),
///     ExceptionKind::CallbackPanicked => eprintln!("callback failed: {report}"),
///     _ => eprintln!("{report}"), // the enum is non_exhaustive
/// });
/// lp.call_soon(|| panic!("in a callback"));
/// lp.run_until_complete(ringloop::yield_now()); // prints "callback failed: ..."
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExceptionKind {
    /// A callback (`call_soon`, `call_later`, a done callback, a remote call) panicked.
    CallbackPanicked,
    /// A task panicked and nobody retrieved its result: its handle was dropped (or was
    /// already gone) without awaiting it. asyncio's "Task exception was never retrieved".
    TaskNeverRetrieved,
    /// A destructor panicked while the loop released something it held for you without
    /// running it: a callback or remote call dropped unrun when the loop closed, a timer's
    /// waker, or an exception handler replaced by another. The panic is contained: the
    /// loop goes on (or finishes closing).
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use ringloop::{EventLoop, ExceptionKind};
    ///
    /// struct Loud;
    /// impl Drop for Loud {
    ///     fn drop(&mut self) {
    ///         panic!("loud drop");
    ///     }
    /// }
    ///
    /// let kinds = Rc::new(RefCell::new(Vec::new()));
    /// let lp = EventLoop::new()?;
    /// let seen = kinds.clone();
    /// lp.set_exception_handler(move |report| seen.borrow_mut().push(report.kind()));
    /// let loud = Loud;
    /// lp.call_soon(move || drop(loud)); // never runs: the loop closes first
    /// drop(lp); // no panic escapes
    /// assert_eq!(*kinds.borrow(), [ExceptionKind::DestructorPanicked]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    DestructorPanicked,
}

/// A task's failure as an I/O error, so `task.await?` works in a function that returns
/// `io::Result`: a cancelled task becomes `ErrorKind::Interrupted` ("the task was
/// cancelled"), a panic `ErrorKind::Other` carrying the panic's message (the payload
/// itself is dropped: keep the `TaskError` to re-raise it).
///
/// ```
/// use std::io;
///
/// async fn read_config() -> io::Result<String> {
///     let task = ringloop::spawn_blocking(|| "port = 8080".to_string());
///     Ok(task.await?)
/// }
///
/// assert_eq!(ringloop::run(read_config()).unwrap(), "port = 8080");
/// ```
impl From<TaskError> for std::io::Error {
    fn from(e: TaskError) -> std::io::Error {
        match e {
            TaskError::Cancelled => {
                std::io::Error::new(std::io::ErrorKind::Interrupted, "the task was cancelled")
            }
            TaskError::Panicked(payload) => {
                std::io::Error::other(format!("the task panicked: {}", panic_message(&*payload)))
            }
        }
    }
}

/// The exception handler of a loop that has none set: one line on stderr.
pub(crate) fn default_exception_handler(report: ExceptionContext) {
    eprintln!("ringloop: {report}");
}

/// A failure nobody else will see, handed to the loop's exception handler once.
///
/// See [`EventLoop::set_exception_handler`](crate::EventLoop::set_exception_handler).
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use ringloop::{ExceptionContext, ExceptionKind};
///
/// fn fail() -> u32 {
///     panic!("oops")
/// }
///
/// let reports = Rc::new(RefCell::new(Vec::new()));
/// let seen = reports.clone();
/// let lp = ringloop::EventLoop::new()?;
/// lp.set_exception_handler(move |report: ExceptionContext| {
///     seen.borrow_mut().push(report.to_string());
/// });
/// lp.run_until_complete(async {
///     drop(ringloop::spawn(async { fail() })); // nobody will see its result
///     ringloop::yield_now().await;
/// });
/// assert_eq!(*reports.borrow(), ["task failure was never retrieved: oops"]);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct ExceptionContext {
    kind: ExceptionKind,
    payload: Box<dyn Any + Send + 'static>,
}

impl ExceptionContext {
    pub(crate) fn new(kind: ExceptionKind, payload: Box<dyn Any + Send + 'static>) -> Self {
        ExceptionContext { kind, payload }
    }

    /// What failed.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use ringloop::ExceptionKind;
    ///
    /// let kind = Rc::new(Cell::new(None));
    /// let k = kind.clone();
    /// let lp = ringloop::EventLoop::new()?;
    /// lp.set_exception_handler(move |report| k.set(Some(report.kind())));
    /// lp.call_soon(|| panic!("boom"));
    /// lp.run_until_complete(ringloop::yield_now());
    /// assert_eq!(kind.get(), Some(ExceptionKind::CallbackPanicked));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn kind(&self) -> ExceptionKind {
        self.kind
    }

    /// The panic's message, when its payload is a string.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    ///
    /// let message = Rc::new(RefCell::new(String::new()));
    /// let m = message.clone();
    /// let lp = ringloop::EventLoop::new()?;
    /// lp.set_exception_handler(move |report| *m.borrow_mut() = report.message().to_string());
    /// let port = 99_999;
    /// lp.call_soon(move || panic!("bad port {port}")); // a formatted String payload
    /// lp.run_until_complete(ringloop::yield_now());
    /// assert_eq!(*message.borrow(), "bad port 99999");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn message(&self) -> &str {
        panic_message(&*self.payload)
    }

    /// The panic payload itself.
    ///
    /// ```
    /// use std::any::Any;
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    ///
    /// let payloads: Rc<RefCell<Vec<Box<dyn Any + Send>>>> = Rc::default();
    /// let p = payloads.clone();
    /// let lp = ringloop::EventLoop::new()?;
    /// lp.set_exception_handler(move |report| p.borrow_mut().push(report.into_payload()));
    /// lp.call_soon(|| std::panic::panic_any(42_u16)); // a payload that is not a string
    /// lp.run_until_complete(ringloop::yield_now());
    /// assert_eq!(payloads.borrow()[0].downcast_ref::<u16>(), Some(&42));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn into_payload(self) -> Box<dyn Any + Send + 'static> {
        self.payload
    }
}

impl fmt::Debug for ExceptionContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExceptionContext")
            .field("kind", &self.kind)
            .field("message", &self.message())
            .finish()
    }
}

impl fmt::Display for ExceptionContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ExceptionKind::CallbackPanicked => "a callback panicked",
            ExceptionKind::TaskNeverRetrieved => "task failure was never retrieved",
            ExceptionKind::DestructorPanicked => "a destructor panicked while the loop released it",
        };
        write!(f, "{what}: {}", self.message())
    }
}
