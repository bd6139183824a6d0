//! The driver handle: what operations, sinks and closes hold of their loop's I/O.
//!
//! The loop owns its driver through this handle and shares it (through `Rc`) with
//! everything that submits to it, so none of those need the loop itself. It carries
//! what an operation asks of its loop: the driver (gone once the loop has closed),
//! whether the close got everything back from the kernel, the iteration count (for the
//! try-first gates), the try-first setting, and the loop's id (for the wrong-loop
//! check), and the spare buffers `read_buffered` reads into where there is no
//! provided-buffer ring.
//!
//! # Ground rules
//!
//! - Used only on the loop's thread.
//! - [`with_driver`](DriverHandle::with_driver) lends the driver for one call; user
//!   code never runs inside it (drivers only collect wakers), so it is never re-entered.

use std::cell::{Cell, RefCell};

use super::{Backend, Driver};

/// See the module docs.
pub(crate) struct DriverHandle {
    driver: RefCell<Option<Box<dyn Driver>>>,
    backend: Backend,
    /// False if the close could not get every operation back from the kernel.
    drained: Cell<bool>,
    /// Set when the loop starts closing.
    closed: Cell<bool>,
    iteration: Cell<u64>,
    try_first: bool,
    /// Stream writes of at least this many bytes go zero-copy (`Builder::send_zc`);
    /// `None` where the driver has no zero-copy sends or they are off.
    send_zc_min: Option<u32>,
    loop_id: usize,
    /// Spare read buffers (`net::RecvBuf` on the readiness path), at most `MAX_SPARES`.
    spares: RefCell<Vec<Vec<u8>>>,
}

/// How many spare read buffers a loop keeps for reuse.
const MAX_SPARES: usize = 16;

impl DriverHandle {
    /// The handle of `driver`, for the loop with id `loop_id`.
    pub(crate) fn new(
        driver: Box<dyn Driver>,
        try_first: bool,
        send_zc_min: Option<u32>,
        loop_id: usize,
    ) -> DriverHandle {
        let send_zc_min = send_zc_min.filter(|_| driver.send_zc());
        DriverHandle {
            send_zc_min,
            backend: driver.backend(),
            driver: RefCell::new(Some(driver)),
            drained: Cell::new(true),
            closed: Cell::new(false),
            iteration: Cell::new(0),
            try_first,
            loop_id,
            spares: RefCell::new(Vec::new()),
        }
    }

    /// Runs `f` on the driver; `None` once the loop has closed.
    pub(crate) fn with_driver<R>(&self, f: impl FnOnce(&mut dyn Driver) -> R) -> Option<R> {
        let mut driver = self.driver.borrow_mut();
        driver.as_mut().map(|d| f(&mut **d))
    }

    /// The backend the driver implements.
    pub(crate) fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether socket reads and writes try the syscall before submitting
    /// (`Builder::try_first_io`).
    pub(crate) fn try_first_io(&self) -> bool {
        self.try_first
    }

    /// Whether a stream write of `len` bytes goes zero-copy (`Builder::send_zc`).
    pub(crate) fn send_zc(&self, len: usize) -> bool {
        self.send_zc_min.is_some_and(|min| len >= min as usize)
    }

    /// The id of the loop the driver belongs to (`task::current::is_running`).
    pub(crate) fn loop_id(&self) -> usize {
        self.loop_id
    }

    /// The number of the current iteration (counted from 1).
    pub(crate) fn iteration(&self) -> u64 {
        self.iteration.get()
    }

    /// Counts a new iteration.
    pub(crate) fn next_iteration(&self) {
        self.iteration.set(self.iteration.get() + 1);
    }

    /// Whether the loop has closed (or is closing).
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// Whether the close got every operation back from the kernel (true while open).
    pub(crate) fn io_drained(&self) -> bool {
        self.drained.get()
    }

    /// The loop starts closing: from now on nothing may wait on this driver.
    pub(crate) fn start_close(&self) {
        self.closed.set(true);
    }

    /// Takes the driver out, to shut it down; operations see a closed loop from then.
    pub(crate) fn take(&self) -> Option<Box<dyn Driver>> {
        self.driver.borrow_mut().take()
    }

    /// A spare read buffer given back earlier, if any.
    pub(crate) fn take_spare(&self) -> Option<Vec<u8>> {
        self.spares.borrow_mut().pop()
    }

    /// Keeps `buf` for [`take_spare`](Self::take_spare), unless enough are kept already.
    pub(crate) fn put_spare(&self, buf: Vec<u8>) {
        let mut spares = self.spares.borrow_mut();
        if spares.len() < MAX_SPARES {
            spares.push(buf);
        }
    }

    /// Records whether the shutdown got everything back from the kernel.
    pub(crate) fn set_drained(&self, drained: bool) {
        self.drained.set(drained);
    }
}

impl std::fmt::Debug for DriverHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriverHandle")
            .field("backend", &self.backend)
            .field("iteration", &self.iteration.get())
            .field("closed", &self.closed.get())
            .finish_non_exhaustive()
    }
}
