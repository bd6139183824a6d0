//! How the server accepts: one multishot accept on io_uring, re-armed whenever it ends
//! (after a back-off when descriptors ran out), or single-shot accepts one at a time on
//! epoll and on kernels without multishot accept; nothing once the server stopped
//! accepting.

use std::future::Future;
use std::io;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::Protocol;
use super::server::Engine;
use crate::driver::sink_io::MultiAccept;
use crate::net::socket::{ACCEPT_BACKOFF_MAX, ACCEPT_BACKOFF_MIN, is_resource_exhaustion};
use crate::sys::net::SockAddr;

type AcceptFuture = Pin<Box<dyn Future<Output = io::Result<(OwnedFd, SockAddr)>>>>;

/// How the server accepts.
pub(super) enum Acceptor {
    /// io_uring: one multishot accept, re-armed whenever it ends.
    Multi(MultiAccept),
    /// Single-shot accepts, one at a time: epoll, or a kernel without multishot accept.
    Single(Option<AcceptFuture>),
    /// The server stopped accepting (it was closed, or it ends): no accept is armed.
    Stopped,
}

impl<P: Protocol, F: FnMut() -> P> Engine<P, F> {
    /// Takes in the connections that arrived; whether there were any. An error is the
    /// server's end, unless the server was closed meanwhile (its listener shut down, an
    /// accept on it fails).
    pub(super) fn accept_connections(&mut self, cx: &mut Context<'_>) -> io::Result<bool> {
        match &mut self.acceptor {
            Acceptor::Multi(_) => self.accept_multi(cx),
            Acceptor::Single(_) => self.accept_single(cx),
            Acceptor::Stopped => Ok(false),
        }
    }

    fn accept_single(&mut self, cx: &mut Context<'_>) -> io::Result<bool> {
        let mut progressed = false;
        loop {
            // A callback of a connection just taken in may have closed the server.
            if !self.control().is_serving() {
                return Ok(progressed);
            }
            let Acceptor::Single(pending) = &mut self.acceptor else {
                unreachable!("single-shot accepting");
            };
            let listener = self
                .listener
                .as_ref()
                .expect("the listener is open while the server accepts");
            let what = self.shared.what;
            let accept = pending.get_or_insert_with(|| {
                Box::pin(crate::net::socket::accept(listener.handle(), what))
            });
            match accept.as_mut().poll(cx) {
                Poll::Ready(Ok((fd, _))) => {
                    *pending = None;
                    self.add(fd);
                    progressed = true;
                }
                Poll::Ready(Err(e)) => {
                    *pending = None;
                    return Err(e);
                }
                Poll::Pending => return Ok(progressed),
            }
        }
    }

    /// The multishot path: connections come in batches through the accept's sink; the
    /// accept is re-armed when it ends, after a back-off when descriptors ran out.
    fn accept_multi(&mut self, cx: &mut Context<'_>) -> io::Result<bool> {
        let Acceptor::Multi(accept) = &mut self.acceptor else {
            unreachable!("multishot accepting");
        };
        let mut accepted = std::mem::take(&mut self.accepted);
        accept.drain_into(&mut accepted, cx.waker());
        let progressed = !accepted.is_empty();
        let mut fatal = None;
        let mut refused = false;
        for result in accepted.drain(..) {
            match result {
                Ok(fd) => {
                    self.accepted_any = true;
                    self.backoff_len = ACCEPT_BACKOFF_MIN;
                    self.add(fd);
                }
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) && !self.accepted_any => {
                    refused = true
                }
                Err(e) if is_resource_exhaustion(&e) => {
                    if self.backoff.is_none() {
                        self.backoff = Some(Box::pin(crate::time::sleep(self.backoff_len)));
                        self.backoff_len = (self.backoff_len * 2).min(ACCEPT_BACKOFF_MAX);
                    }
                }
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ECONNABORTED | libc::EINTR | libc::EAGAIN | libc::ECANCELED)
                    ) => {}
                Err(e) => {
                    fatal.get_or_insert(e);
                }
            }
        }
        self.accepted = accepted;
        if !self.control().is_serving() {
            // Closed by a callback of a connection just taken in: the listener is shut
            // down (its accept fails), and the next turn stops accepting.
            return Ok(progressed);
        }
        if let Some(e) = fatal {
            return Err(e);
        }
        if refused {
            // This kernel's accept has no multishot flag (before 5.19): accept one at a
            // time from now on.
            log::debug!("ringloop: no multishot accept here; accepting one at a time");
            self.acceptor = Acceptor::Single(None);
            self.backoff = None;
            return Ok(self.accept_single(cx)? || progressed);
        }
        if let Some(sleep) = self.backoff.as_mut() {
            if sleep.as_mut().poll(cx).is_pending() {
                return Ok(progressed);
            }
            self.backoff = None;
        }
        let Acceptor::Multi(accept) = &mut self.acceptor else {
            unreachable!("multishot accepting");
        };
        accept.arm()?;
        Ok(progressed)
    }
}
