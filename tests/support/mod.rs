//! Helpers shared by the integration tests: loops on each backend, hang guards, and
//! descriptor counting. Each test binary includes it with `mod support;` and uses what
//! it needs.

#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::task::Poll;
use std::time::Duration;

use ringloop::{Backend, EventLoop};

/// The backends a behaviour test runs on: io_uring where this machine has it, and epoll
/// always.
pub fn backends() -> Vec<Backend> {
    let mut list = Vec::new();
    match EventLoop::builder().backend(Backend::IoUring).build() {
        Ok(_) => list.push(Backend::IoUring),
        Err(e) => eprintln!("io_uring is unavailable here ({e}): testing epoll only"),
    }
    list.push(Backend::Epoll);
    list
}

/// A loop on `backend`.
pub fn new_loop(backend: Backend) -> EventLoop {
    EventLoop::builder()
        .backend(backend)
        .build()
        .unwrap_or_else(|e| panic!("building a loop on {backend:?}: {e}"))
}

/// Runs `test` once per backend with a fresh loop, naming the backend if it panics.
pub fn for_each_backend(mut test: impl FnMut(&EventLoop)) {
    for backend in backends() {
        let lp = new_loop(backend);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| test(&lp)));
        if let Err(panic) = result {
            eprintln!("the test failed on the {backend:?} backend");
            std::panic::resume_unwind(panic);
        }
    }
}

/// A hang guard: generous, and its expiry is the failure being tested for.
pub const HANG: Duration = Duration::from_secs(20);

/// Awaits `fut`, panicking with `what` if it takes longer than [`HANG`].
pub async fn guard<F: Future>(what: &str, fut: F) -> F::Output {
    match ringloop::timeout(HANG, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what} hung for {HANG:?}"),
    }
}

/// Polls `fut` exactly once.
pub async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *fut).poll(cx))).await
}

/// Tests in one binary share one process, so its descriptor table: tests that count
/// `/proc/self/fd` run alone (write lock), the others together (read lock).
static FD_TABLE: RwLock<()> = RwLock::new(());

/// Taken by tests that open descriptors but do not count them.
pub fn shared_fds() -> RwLockReadGuard<'static, ()> {
    FD_TABLE.read().unwrap_or_else(|e| e.into_inner())
}

/// Taken by tests that count descriptors: nothing else in the binary opens one meanwhile.
pub fn exclusive_fds() -> RwLockWriteGuard<'static, ()> {
    FD_TABLE.write().unwrap_or_else(|e| e.into_inner())
}

/// Open descriptors of this process (the directory handle itself not counted).
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd is readable")
        .count()
        - 1
}
