//! The user code the protocol server calls, and the one place its panics are caught.
//!
//! # Ground rules
//!
//! - Every call the server makes into user code (the factory, each [`Protocol`] method,
//!   a protocol's destructor) goes through [`guarded`], naming what it calls.
//! - A panic goes no further than that call: it is reported to the loop's exception
//!   handler, once, as [`ExceptionKind::CallbackPanicked`] with a message that names the
//!   callback, and comes back as the error the connection is lost with.
//!
//! [`Protocol`]: super::Protocol

use std::any::Any;
use std::fmt;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::event_loop::Core;
use crate::task::error::panic_message;
use crate::task::remote::RemoteMsg;
use crate::task::{ExceptionContext, ExceptionKind};

/// The user code the server calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Callback {
    /// The protocol factory given to `serve`.
    Factory,
    ConnectionMade,
    DataReceived,
    EofReceived,
    ConnectionLost,
    PauseWriting,
    ResumeWriting,
    /// A protocol's destructor, when the server lets go of it.
    DropProtocol,
    /// The factory's destructor, when the server is dropped.
    DropFactory,
    /// A [`DatagramProtocol`](super::DatagramProtocol)'s callbacks and destructor.
    DatagramMade,
    DatagramReceived,
    ErrorReceived,
    DatagramLost,
    DropDatagramProtocol,
}

impl fmt::Display for Callback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Callback::Factory => "the protocol factory",
            Callback::ConnectionMade => "Protocol::connection_made",
            Callback::DataReceived => "Protocol::data_received",
            Callback::EofReceived => "Protocol::eof_received",
            Callback::ConnectionLost => "Protocol::connection_lost",
            Callback::PauseWriting => "Protocol::pause_writing",
            Callback::ResumeWriting => "Protocol::resume_writing",
            Callback::DropProtocol => "the protocol's Drop",
            Callback::DropFactory => "the protocol factory's Drop",
            Callback::DatagramMade => "DatagramProtocol::connection_made",
            Callback::DatagramReceived => "DatagramProtocol::datagram_received",
            Callback::ErrorReceived => "DatagramProtocol::error_received",
            Callback::DatagramLost => "DatagramProtocol::connection_lost",
            Callback::DropDatagramProtocol => "the datagram protocol's Drop",
        })
    }
}

/// Runs `f`, user code that `what` (the API that runs it: `ringloop::net::serve`,
/// `ringloop::net::create_connection`, ...) calls as `callback`. A panic is caught here,
/// reported to the loop's exception handler (naming `what` and `callback`), and returned
/// as the error the connection is to be lost with: it never unwinds into the server.
pub(super) fn guarded<R>(
    core: &Core,
    what: &str,
    callback: Callback,
    f: impl FnOnce() -> R,
) -> io::Result<R> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let error = panicked(callback, &*payload);
        report(core, format!("{what}: {error}"));
        error
    })
}

/// The error a connection is lost with when its user code panicked.
fn panicked(callback: Callback, payload: &(dyn Any + Send)) -> io::Error {
    io::Error::other(format!("{callback} panicked: {}", panic_message(payload)))
}

/// Hands `message` to the loop's exception handler by the path task failures take: the
/// loop's queue, drained by its next iteration; the default handler when the loop has
/// closed.
fn report(core: &Core, message: String) {
    let report = ExceptionContext::new(ExceptionKind::CallbackPanicked, Box::new(message));
    if let Err(RemoteMsg::Report(report)) =
        core.scheduler().shared().push(RemoteMsg::Report(report))
    {
        crate::task::error::default_exception_handler(report);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_names_the_callback_and_the_panic() {
        let payload: Box<dyn Any + Send> = Box::new("boom");
        let e = panicked(Callback::DataReceived, &*payload);
        assert_eq!(e.to_string(), "Protocol::data_received panicked: boom");
        let payload: Box<dyn Any + Send> = Box::new(String::from("bad"));
        let e = panicked(Callback::Factory, &*payload);
        assert_eq!(e.to_string(), "the protocol factory panicked: bad");
    }
}
