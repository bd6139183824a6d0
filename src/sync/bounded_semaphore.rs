//! [`BoundedSemaphore`]: a [`Semaphore`] that refuses to grow past its initial number
//! of permits (asyncio's `BoundedSemaphore`).

use std::fmt;

use super::semaphore::{Semaphore, SemaphoreAcquire, SemaphorePermit};

/// A [`Semaphore`] whose [`release`](BoundedSemaphore::release) fails instead of
/// adding a permit beyond the number it was created with, which catches a release
/// without a matching acquire.
///
/// Acquiring is the same as on a `Semaphore` (fair, cancellation-safe), and a
/// [`SemaphorePermit`] still returns itself when dropped; `release` is for permits
/// taken with [`SemaphorePermit::forget`]. Clones share the same permits.
///
/// ```
/// use ringloop::sync::BoundedSemaphore;
///
/// ringloop::run(async {
///     let sem = BoundedSemaphore::new(2);
///     sem.acquire().await.forget(); // taken here ...
///     assert_eq!(sem.available_permits(), 1);
///     sem.release().unwrap(); // ... given back elsewhere
///     assert!(sem.release().is_err()); // one release too many: a bug, reported
///     assert_eq!(sem.available_permits(), 2);
/// });
/// ```
#[derive(Clone)]
pub struct BoundedSemaphore {
    semaphore: Semaphore,
    /// The initial number of permits: available permits never exceed it.
    bound: usize,
}

impl BoundedSemaphore {
    /// Creates a semaphore with `permits` permits, which is also its bound.
    ///
    /// ```
    /// use ringloop::sync::BoundedSemaphore;
    ///
    /// let connections = BoundedSemaphore::new(10);
    /// assert_eq!(connections.available_permits(), 10);
    /// ```
    pub fn new(permits: usize) -> BoundedSemaphore {
        BoundedSemaphore {
            semaphore: Semaphore::new(permits),
            bound: permits,
        }
    }

    /// Waits for a permit, first come, first served (see [`Semaphore::acquire`]).
    ///
    /// ```
    /// use ringloop::sync::BoundedSemaphore;
    ///
    /// ringloop::run(async {
    ///     let sem = BoundedSemaphore::new(1);
    ///     let permit = sem.acquire().await;
    ///     assert_eq!(sem.available_permits(), 0);
    ///     drop(permit); // returned: dropping a permit never exceeds the bound
    ///     assert_eq!(sem.available_permits(), 1);
    /// });
    /// ```
    pub fn acquire(&self) -> SemaphoreAcquire {
        self.semaphore.acquire()
    }

    /// Takes a permit if one is available right now (see [`Semaphore::try_acquire`]).
    ///
    /// ```
    /// use ringloop::sync::BoundedSemaphore;
    ///
    /// let sem = BoundedSemaphore::new(1);
    /// let _permit = sem.try_acquire().expect("one free");
    /// assert!(sem.try_acquire().is_none());
    /// ```
    pub fn try_acquire(&self) -> Option<SemaphorePermit> {
        self.semaphore.try_acquire()
    }

    /// Number of permits available right now.
    ///
    /// ```
    /// use ringloop::sync::BoundedSemaphore;
    ///
    /// let sem = BoundedSemaphore::new(3);
    /// let _a = sem.try_acquire().unwrap();
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    pub fn available_permits(&self) -> usize {
        self.semaphore.available_permits()
    }

    /// Gives back one permit (taken with [`SemaphorePermit::forget`]), waking the oldest
    /// waiter if there is one.
    ///
    /// Fails with [`TooManyReleases`], and changes nothing, if every permit is already
    /// available: the release has no matching acquire. (asyncio raises `ValueError`.)
    ///
    /// ```
    /// use ringloop::sync::{BoundedSemaphore, TooManyReleases};
    ///
    /// let sem = BoundedSemaphore::new(1);
    /// sem.try_acquire().unwrap().forget();
    /// assert_eq!(sem.release(), Ok(()));
    /// assert_eq!(sem.release(), Err(TooManyReleases));
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn release(&self) -> Result<(), TooManyReleases> {
        if self.semaphore.available_permits() >= self.bound {
            return Err(TooManyReleases);
        }
        self.semaphore.release();
        Ok(())
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedSemaphore")
            .field("semaphore", &self.semaphore)
            .field("bound", &self.bound)
            .finish()
    }
}

/// [`BoundedSemaphore::release`] would have raised the permits past their initial
/// number (asyncio's `ValueError: BoundedSemaphore released too many times`).
///
/// ```
/// use ringloop::sync::{BoundedSemaphore, TooManyReleases};
///
/// let sem = BoundedSemaphore::new(4);
/// let err = sem.release().unwrap_err();
/// assert_eq!(err, TooManyReleases);
/// assert_eq!(err.to_string(), "BoundedSemaphore released too many times");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TooManyReleases;

impl fmt::Display for TooManyReleases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoundedSemaphore released too many times")
    }
}

impl std::error::Error for TooManyReleases {}
