//! One file per operation: what each asks of the kernel (its `OpCode`), what memory it
//! owns while the kernel may use it, and how its completion becomes the caller's result.

pub(crate) mod accept;
pub(crate) mod close;
pub(crate) mod connect;
pub(crate) mod msg;
pub(crate) mod ready;
pub(crate) mod recv;
pub(crate) mod send;
pub(crate) mod shutdown;
