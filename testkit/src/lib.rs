//! ringloop's test support, kept out of the library it tests (`publish = false`).
//!
//! Integration tests, benches and examples take it as a dev-dependency, so that they stay
//! free of `unsafe` themselves:
//!
//! - [`CountingAlloc`]: a global allocator that counts live bytes and blocks, and
//!   allocations per thread, for leak tests and allocation-free paths;
//! - [`deny_io_uring`]: a seccomp filter under which io_uring fails as in a hardened
//!   container, for the epoll fallback tests;
//! - [`process`]: signal handlers without `SA_RESTART`, `kill` and `tgkill`, a signal's
//!   disposition and the thread's mask, `fork` (an `unsafe fn`) and waiting for a child,
//!   for the signal and fork tests.

#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

/// Calls a libc function and maps a `-1` return to the thread's `errno` as an
/// [`std::io::Error`].
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: each call site passes arguments that satisfy the documented contract
        // of the libc function named here; see the wrapper around it.
        let res = unsafe { libc::$fn($($arg),*) };
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}

mod alloc;
pub mod process;
mod seccomp;

pub use alloc::CountingAlloc;
pub use seccomp::deny_io_uring;
