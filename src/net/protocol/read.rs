//! How the server reads: a multishot receive per connection from the loop's
//! provided-buffer ring on io_uring, or readiness and one reused buffer on epoll (and on
//! kernels without buffer rings); held data and a held end-of-file while reading is
//! paused.

use std::io;

use super::Protocol;
use super::callback::Callback;
use super::server::{Engine, call};
use super::state::{Data, Eof};
use super::transport::{Conn, READ};
use crate::driver::op::OpCode;
use crate::driver::sink::{self, SinkEvent};
use crate::driver::sink_io;
use crate::sys::net::recv_slice;

/// The buffer the readiness path reads into (one per server).
pub(super) const READ_BUF: usize = 64 * 1024;
/// Reads one connection may make per wake on the readiness path before others run.
const READS_PER_WAKE: usize = 16;

impl<P: Protocol, F: FnMut() -> P> Engine<P, F> {
    /// A multishot receive's completion.
    pub(super) fn on_recv(&mut self, conn: &Conn, event: SinkEvent) {
        let slot = conn.slot as usize;
        if sink::is_final(event.flags) {
            conn.io.borrow_mut().recv = None;
        }
        let result = event.result;
        if result > 0 {
            let ring = self.ring.clone().expect("multishot path");
            let lent = sink::buffer_id(event.flags).and_then(|bid| ring.lend(bid, result as usize));
            let Some(data) = lent else {
                let e = io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a receive completed without a valid provided buffer",
                );
                self.fail(conn, e);
                return;
            };
            let entry = &mut self.entries[slot];
            let holding = !entry.stash.is_empty();
            // The borrow ends before user code runs: `data_received` may use its transport.
            let what = conn.io.borrow().state.data_arrived(holding);
            match what {
                // Closing or closed: what still arrives is dropped.
                Data::Drop => {}
                Data::Hold => entry.stash.extend_from_slice(&data),
                Data::Deliver => {
                    call(conn, entry.proto.as_mut(), Callback::DataReceived, |p| {
                        p.data_received(&data)
                    });
                }
            }
            drop(data);
            if sink::is_final(event.flags) {
                self.arm(conn);
            }
            return;
        }
        self.recycle(event.flags);
        match result {
            0 => {
                let holding = !self.entries[slot].stash.is_empty();
                let eof = conn.io.borrow_mut().state.eof_arrived(holding);
                match eof {
                    Eof::Deliver => self.on_eof(conn),
                    Eof::Held => {}
                }
            }
            r if r == -libc::ENOBUFS => {
                if conn.io.borrow_mut().state.starve() {
                    self.retry.push(conn.slot);
                }
            }
            r if r == -libc::ECANCELED => self.arm(conn),
            r if r == -libc::EINTR || r == -libc::EAGAIN => self.arm(conn),
            r => self.fail(conn, io::Error::from_raw_os_error(-r)),
        }
    }

    /// Readiness (or its failure) on the readiness path.
    pub(super) fn on_ready(&mut self, conn: &Conn, event: SinkEvent) {
        conn.io.borrow_mut().recv = None;
        match event.result {
            r if r >= 0 => self.read_ready(conn),
            r if r == -libc::ECANCELED => {}
            r => self.fail(conn, io::Error::from_raw_os_error(-r)),
        }
    }

    /// Reads what the socket holds (readiness path), then waits for readiness again.
    fn read_ready(&mut self, conn: &Conn) {
        let slot = conn.slot as usize;
        for _ in 0..READS_PER_WAKE {
            if !conn.io.borrow().state.wants_read() {
                return;
            }
            match recv_slice(conn.fd, &mut self.read_buf) {
                Ok(0) => {
                    self.on_eof(conn);
                    return;
                }
                Ok(n) => {
                    let proto = self.entries[slot].proto.as_mut();
                    call(conn, proto, Callback::DataReceived, |p| {
                        p.data_received(&self.read_buf[..n])
                    });
                    self.settle(conn.slot);
                    if n < self.read_buf.len() {
                        // Drained: any later arrival raises a new readiness edge.
                        self.arm(conn);
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.arm(conn);
                    return;
                }
                Err(e) => {
                    self.fail(conn, e);
                    return;
                }
            }
        }
        // More to read: after the others had their turn.
        self.retry.push(conn.slot);
    }

    /// Reads (or arms the receive) for the connection in `slot`, then settles it.
    pub(super) fn start_reading(&mut self, slot: u32) {
        let Some(conn) = self.entries[slot as usize].conn.clone() else {
            return;
        };
        if self.ring.is_some() {
            self.arm(&conn);
        } else {
            self.read_ready(&conn);
        }
        self.settle(slot);
        self.try_free(slot);
    }

    /// Arms the receive (or the readiness wait) if the connection wants to read.
    fn arm(&mut self, conn: &Conn) {
        let mut io = conn.io.borrow_mut();
        if io.recv.is_some() || !io.state.may_arm() {
            return;
        }
        let op = match &self.ring {
            Some(ring) => OpCode::RecvMulti {
                fd: conn.handle,
                group: ring.group(),
            },
            None => OpCode::PollIn { fd: conn.handle },
        };
        match sink_io::submit_plain(&self.shared.io, op, &self.shared.sink, conn.tag(READ)) {
            Ok(id) => io.recv = Some(id),
            Err(e) => {
                io.state.fail(e);
                drop(io);
                self.settle(conn.slot);
            }
        }
    }

    /// Delivers the end-of-file (once): `eof_received`, then the close unless the
    /// protocol kept the transport open.
    pub(super) fn on_eof(&mut self, conn: &Conn) {
        if !conn.io.borrow_mut().state.take_eof() {
            return;
        }
        let proto = self.entries[conn.slot as usize].proto.as_mut();
        let keep_open = call(conn, proto, Callback::EofReceived, |p| p.eof_received());
        conn.io.borrow_mut().state.eof_answered(keep_open);
    }

    /// An operation failed: the next settle loses the connection with `error`.
    fn fail(&mut self, conn: &Conn, error: io::Error) {
        conn.io.borrow_mut().state.fail(error);
    }

    /// A starved receive to re-arm, or a reader with more to read.
    pub(super) fn on_retry(&mut self, slot: u32) {
        let Some(conn) = self.entries[slot as usize].conn.clone() else {
            return;
        };
        conn.io.borrow_mut().state.fed();
        if conn.io.borrow().recv.is_none() {
            self.start_reading(slot);
        }
    }
}
