//! Task-local values: [`task_local!`](crate::task_local), asyncio's `contextvars` for
//! ringloop tasks.
//!
//! A key is a thread-local slot. [`TaskLocalKey::scope`] wraps a future so that around
//! each of its polls (and its drop) its value is swapped into the slot and back out
//! afterwards (tokio's design): code running inside the future, across any number of
//! awaits, sees the value; code outside it — other tasks, interleaved on the same thread
//! — does not. Nothing is allocated, and a scope costs two swaps per poll.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Declares task-local keys: `static NAME: T;` each, with optional attributes and
/// visibility (asyncio's `contextvars.ContextVar`; tokio's `task_local!`).
///
/// A key has no value until [`scope`](TaskLocalKey::scope) gives it one for a future
/// (or [`sync_scope`](TaskLocalKey::sync_scope) for a closure); inside, read it with
/// [`with`](TaskLocalKey::with), [`try_with`](TaskLocalKey::try_with) or
/// [`get`](TaskLocalKey::get). The value follows the future across its awaits.
///
/// A spawned task does not inherit the spawner's values by itself (asyncio copies the
/// context into `create_task`): pass them on with [`inherit`](TaskLocalKey::inherit),
/// `ringloop::spawn(NAME.inherit(fut))`, which is `NAME.scope(NAME.get(), fut)` when the
/// key is set.
///
/// ```
/// ringloop::task_local! {
///     static REQUEST_ID: u64;
///     pub(crate) static USER: String;
/// }
///
/// async fn log_line(what: &str) -> String {
///     format!("[{}] {what}", REQUEST_ID.get())
/// }
///
/// let lines = ringloop::run(async {
///     let a = ringloop::spawn(REQUEST_ID.scope(1, async {
///         ringloop::yield_now().await;
///         log_line("a").await
///     }));
///     let b = ringloop::spawn(REQUEST_ID.scope(2, async {
///         // A child task inherits the value explicitly.
///         ringloop::spawn(REQUEST_ID.inherit(log_line("b"))).await.unwrap()
///     }));
///     (a.await.unwrap(), b.await.unwrap())
/// });
/// assert_eq!(lines, ("[1] a".to_string(), "[2] b".to_string()));
/// assert!(REQUEST_ID.try_with(|id| *id).is_err(), "not set outside any scope");
/// ```
#[macro_export]
macro_rules! task_local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty; $($rest:tt)*) => {
        $crate::__task_local_key!($(#[$attr])* $vis $name, $t);
        $crate::task_local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty) => {
        $crate::__task_local_key!($(#[$attr])* $vis $name, $t);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __task_local_key {
    ($(#[$attr:meta])* $vis:vis $name:ident, $t:ty) => {
        $(#[$attr])*
        $vis static $name: $crate::TaskLocalKey<$t> = {
            ::std::thread_local! {
                static __RINGLOOP_TASK_LOCAL: ::std::cell::RefCell<::std::option::Option<$t>> =
                    const { ::std::cell::RefCell::new(::std::option::Option::None) };
            }
            $crate::TaskLocalKey {
                inner: __RINGLOOP_TASK_LOCAL,
            }
        };
    };
}

/// A task-local key, declared with [`task_local!`](crate::task_local).
///
/// ```
/// ringloop::task_local! { static TENANT: &'static str; }
///
/// let key: &'static ringloop::TaskLocalKey<&'static str> = &TENANT;
/// assert_eq!(ringloop::run(key.scope("acme", async { key.get() })), "acme");
/// ```
pub struct TaskLocalKey<T: 'static> {
    /// The thread-local slot the scoped value is swapped into. Set by the macro.
    #[doc(hidden)]
    pub inner: std::thread::LocalKey<RefCell<Option<T>>>,
}

/// The key has no value here: the code does not run inside a
/// [`scope`](TaskLocalKey::scope) of it (or the thread is exiting).
///
/// ```
/// ringloop::task_local! { static USER: u32; }
///
/// let err: ringloop::TaskLocalError = USER.try_with(|u| *u).unwrap_err();
/// assert!(err.to_string().contains("not set"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskLocalError(());

impl fmt::Display for TaskLocalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task-local value not set: this code does not run inside a scope of the key")
    }
}

impl std::error::Error for TaskLocalError {}

impl<T: 'static> TaskLocalKey<T> {
    /// Runs `future` with the key set to `value` (asyncio: running the coroutine in a
    /// context where the variable was `set`). Scopes nest: an inner scope of the same
    /// key hides the outer value until it ends. Dropping the future (cancellation) drops
    /// it inside the scope, so its destructors see the value too.
    ///
    /// ```
    /// ringloop::task_local! { static DEPTH: u32; }
    ///
    /// let seen = ringloop::run(DEPTH.scope(1, async {
    ///     let outer = DEPTH.get();
    ///     let inner = DEPTH.scope(2, async { DEPTH.get() }).await;
    ///     (outer, inner, DEPTH.get())
    /// }));
    /// assert_eq!(seen, (1, 2, 1));
    /// ```
    pub fn scope<F: Future>(&'static self, value: T, future: F) -> TaskLocalFuture<T, F> {
        TaskLocalFuture {
            local: self,
            slot: Some(value),
            future: Some(future),
        }
    }

    /// Runs `future` with the key set as it is here: its value cloned, or unset when it
    /// is not set. What to wrap a spawned task's future in to hand it the spawner's
    /// value (asyncio copies the whole context into a new task):
    /// `ringloop::spawn(KEY.inherit(fut))`.
    ///
    /// ```
    /// ringloop::task_local! { static TRACE: String; }
    ///
    /// let child = ringloop::run(TRACE.scope("trace-7".into(), async {
    ///     ringloop::spawn(TRACE.inherit(async { TRACE.get() })).await.unwrap()
    /// }));
    /// assert_eq!(child, "trace-7");
    /// ```
    pub fn inherit<F: Future>(&'static self, future: F) -> TaskLocalFuture<T, F>
    where
        T: Clone,
    {
        TaskLocalFuture {
            local: self,
            slot: self.try_with(T::clone).ok(),
            future: Some(future),
        }
    }

    /// Runs `f` with the key set to `value`, for synchronous code.
    ///
    /// ```
    /// ringloop::task_local! { static LEVEL: u8; }
    ///
    /// assert_eq!(LEVEL.sync_scope(3, || LEVEL.get()), 3);
    /// ```
    pub fn sync_scope<R>(&'static self, value: T, f: impl FnOnce() -> R) -> R {
        let mut slot = Some(value);
        self.scope_inner(&mut slot, f)
    }

    /// Calls `f` with the value.
    ///
    /// ```
    /// ringloop::task_local! { static NAME: String; }
    ///
    /// let len = ringloop::run(NAME.scope("ringloop".into(), async { NAME.with(|n| n.len()) }));
    /// assert_eq!(len, 8);
    /// ```
    ///
    /// # Panics
    ///
    /// When the key is not set here (see [`try_with`](TaskLocalKey::try_with)).
    #[track_caller]
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        match self.try_with(f) {
            Ok(r) => r,
            Err(_) => panic!(
                "a task-local value of type {} was read outside any scope of its key: run \
                 the code inside KEY.scope(value, future) (a spawned task does not inherit \
                 the value: spawn KEY.inherit(future) to pass it on)",
                std::any::type_name::<T>()
            ),
        }
    }

    /// Calls `f` with the value, or returns an error when the key is not set here.
    ///
    /// ```
    /// ringloop::task_local! { static USER: u32; }
    ///
    /// assert!(USER.try_with(|u| *u).is_err());
    /// assert_eq!(USER.sync_scope(5, || USER.try_with(|u| *u)), Ok(5));
    /// ```
    pub fn try_with<R>(&'static self, f: impl FnOnce(&T) -> R) -> Result<R, TaskLocalError> {
        let mut f = Some(f);
        let result = self.inner.try_with(|cell| {
            let value = cell.borrow();
            value
                .as_ref()
                .map(|value| (f.take().expect("called once"))(value))
        });
        match result {
            Ok(Some(r)) => Ok(r),
            _ => Err(TaskLocalError(())),
        }
    }

    /// A clone of the value.
    ///
    /// ```
    /// ringloop::task_local! { static ID: u64; }
    ///
    /// assert_eq!(ringloop::run(ID.scope(9, async { ID.get() })), 9);
    /// ```
    ///
    /// # Panics
    ///
    /// When the key is not set here.
    #[track_caller]
    pub fn get(&'static self) -> T
    where
        T: Clone,
    {
        self.with(T::clone)
    }

    /// Swaps `slot` into the key for the duration of `f`, and back afterwards (also when
    /// `f` panics).
    #[track_caller]
    fn scope_inner<R>(&'static self, slot: &mut Option<T>, f: impl FnOnce() -> R) -> R {
        struct Restore<'a, T: 'static> {
            key: &'static std::thread::LocalKey<RefCell<Option<T>>>,
            slot: &'a mut Option<T>,
        }
        impl<T: 'static> Drop for Restore<'_, T> {
            fn drop(&mut self) {
                // Entered means the slot was there; it still is (a borrow from `with`
                // cannot outlive the closure that made it).
                let _ = self
                    .key
                    .try_with(|cell| std::mem::swap(self.slot, &mut *cell.borrow_mut()));
            }
        }

        let entered = self.inner.try_with(|cell| {
            cell.try_borrow_mut()
                .map(|mut value| std::mem::swap(slot, &mut *value))
        });
        match entered {
            Ok(Ok(())) => {}
            Ok(Err(_)) => panic!(
                "a task-local scope of type {} was entered while its value is borrowed (from \
                 inside KEY.with(..)): poll scoped futures outside `with`",
                std::any::type_name::<T>()
            ),
            Err(_) => panic!(
                "a task-local scope of type {} was entered while its thread is exiting",
                std::any::type_name::<T>()
            ),
        }
        let _restore = Restore {
            key: &self.inner,
            slot,
        };
        f()
    }
}

impl<T: 'static> fmt::Debug for TaskLocalKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskLocalKey")
            .field("type", &std::any::type_name::<T>())
            .finish_non_exhaustive()
    }
}

/// A future run with a task-local key set: see [`TaskLocalKey::scope`].
///
/// ```
/// ringloop::task_local! { static ATTEMPT: u8; }
///
/// let scoped: ringloop::TaskLocalFuture<u8, _> = ATTEMPT.scope(3, async { ATTEMPT.get() * 2 });
/// assert_eq!(ringloop::run(scoped), 6);
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct TaskLocalFuture<T: 'static, F> {
    local: &'static TaskLocalKey<T>,
    /// The value while the future is not being polled (swapped into the key meanwhile);
    /// `None` for "unset" (`inherit` of an unset key).
    slot: Option<T>,
    /// Structurally pinned: never moved, dropped in place.
    future: Option<F>,
}

impl<T: 'static, F: Future> Future for TaskLocalFuture<T, F> {
    type Output = F::Output;

    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned and nothing moves it: it is polled
        // through a pinned reference and dropped in place (set to `None`, here or in
        // `Drop`); `local` and `slot` are not pinned and may be moved freely.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above: `this.future` stays where it is until dropped in place.
        let mut future = unsafe { Pin::new_unchecked(&mut this.future) };
        this.local.scope_inner(&mut this.slot, || {
            let Some(inner) = future.as_mut().as_pin_mut() else {
                panic!("a TaskLocalFuture was polled after it completed");
            };
            let polled = inner.poll(cx);
            if polled.is_ready() {
                // Dropped inside the scope, as in `Drop`.
                future.set(None);
            }
            polled
        })
    }
}

impl<T: 'static, F> Drop for TaskLocalFuture<T, F> {
    fn drop(&mut self) {
        if self.future.is_none() {
            return;
        }
        // Drop the future in place, inside the scope, so its destructors see the value;
        // outside it if the key cannot be entered here (borrowed, or the thread exiting).
        let entered = self
            .local
            .inner
            .try_with(|cell| cell.try_borrow_mut().is_ok());
        if entered == Ok(true) {
            let future = &mut self.future;
            self.local.scope_inner(&mut self.slot, || *future = None);
        } else {
            self.future = None;
        }
    }
}

impl<T: 'static, F> fmt::Debug for TaskLocalFuture<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskLocalFuture")
            .field("type", &std::any::type_name::<T>())
            .field("done", &self.future.is_none())
            .finish()
    }
}
