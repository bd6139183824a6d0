//! A protocol echo server that shuts down gracefully, asyncio's way.
//!
//! ```text
//! cargo run --example graceful_echo -- 127.0.0.1:7000 5
//! ```
//!
//! It serves until SIGTERM (or Ctrl-C's SIGINT), then stops accepting at once ([`Server::close`]: new clients are refused), lets the open
//! connections finish for up to the grace period (5 s unless the second argument says
//! otherwise: a [`timeout`](ringloop::timeout) around [`Server::wait_closed`]), and
//! aborts the rest ([`Server::abort_clients`]).
//!
//! Try it with a few `nc 127.0.0.1 7000` sessions: `kill -TERM` the server (or press
//! Ctrl-C in its terminal), and the sessions still echo while new ones are refused; quit
//! them within the grace period for a clean drain, or leave them open to see them
//! aborted. `tests/graceful_sigterm.rs` does this under load with a real SIGTERM.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use ringloop::net::{Protocol, Server, TcpListener, Transport, create_server};
use ringloop::signal::{SIGINT, SIGTERM, Signals};

/// Echoes, and keeps the count of open connections.
struct Echo {
    open: Rc<Cell<usize>>,
    transport: Option<Transport>,
}

impl Protocol for Echo {
    fn connection_made(&mut self, transport: Transport) {
        self.open.set(self.open.get() + 1);
        self.transport = Some(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        if let Some(t) = &self.transport {
            t.write(data);
        }
    }

    fn connection_lost(&mut self, error: Option<io::Error>) {
        self.open.set(self.open.get() - 1);
        if let Some(e) = error {
            eprintln!("connection lost: {e}");
        }
    }
}

/// How the shutdown went.
#[derive(Debug)]
enum Drain {
    /// Every connection finished within the grace period.
    Clean,
    /// This many were still open at its end, and were aborted.
    Aborted(usize),
}

/// What starts the shutdown: SIGTERM (what a service manager sends) or SIGINT (Ctrl-C),
/// received on the loop, never inside the signal handler. Listening starts when this is
/// called, before the server announces itself, so no early signal is missed.
fn shutdown_trigger() -> io::Result<impl Future<Output = io::Result<()>>> {
    let mut signals = Signals::new(&[SIGTERM, SIGINT])?;
    Ok(async move {
        let signal = signals.recv().await;
        println!("received signal {signal:?}");
        Ok(())
    })
}

/// Serves echo on `listener` until `trigger` completes, then shuts down gracefully:
/// stop accepting, give open connections `grace` to finish, abort the rest.
async fn serve_until(
    listener: TcpListener,
    grace: Duration,
    trigger: impl Future<Output = io::Result<()>>,
) -> io::Result<Drain> {
    let open = Rc::new(Cell::new(0));
    let counted = open.clone();
    let server: Server = create_server(listener, move || Echo {
        open: counted.clone(),
        transport: None,
    });
    trigger.await?;

    server.close();
    println!(
        "shutting down: no new connections; {} open get {grace:?} to finish",
        open.get()
    );
    if ringloop::timeout(grace, server.wait_closed()).await.is_ok() {
        return Ok(Drain::Clean);
    }
    let left = open.get();
    server.abort_clients();
    server.wait_closed().await;
    Ok(Drain::Aborted(left))
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:7000".to_string());
    let grace = match args.next() {
        Some(secs) => Duration::from_secs_f64(secs.parse().map_err(io::Error::other)?),
        None => Duration::from_secs(5),
    };
    ringloop::run(async move {
        let listener = TcpListener::bind(&addr)?;
        let trigger = shutdown_trigger()?;
        println!(
            "graceful echo on {}; SIGTERM or Ctrl-C shuts it down",
            listener.local_addr()?
        );
        match serve_until(listener, grace, trigger).await? {
            Drain::Clean => println!("every connection finished: bye"),
            Drain::Aborted(n) => println!("aborted {n} connection(s) after {grace:?}: bye"),
        }
        Ok(())
    })
}
