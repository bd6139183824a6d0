//! Async cancel: asks the kernel to give up an operation by its token. The cancelled
//! operation still completes (with `ECANCELED`, or with what it did first); the cancel
//! request itself completes under the driver's `CANCEL` sentinel and is ignored.

use io_uring::{opcode, squeue};

use super::token;

/// The SQE cancelling the operation whose `user_data` is `target`.
pub(crate) fn sqe(target: u64) -> squeue::Entry {
    opcode::AsyncCancel::new(target)
        .build()
        .user_data(token::CANCEL)
}
