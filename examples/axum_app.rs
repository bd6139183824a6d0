//! An axum `Router` served on ringloop. `axum::serve` needs tokio's runtime, so the
//! router is served the way `axum::serve` does it inside: each accepted ringloop
//! `TcpStream` goes to hyper-util's auto builder (HTTP/1.1 or HTTP/2), with the router
//! adapted to a hyper service by `TowerToHyperService`.
//!
//! ```text
//! cargo run --example axum_app -- 127.0.0.1:3000 [--requests N]
//! curl http://127.0.0.1:3000/
//! curl http://127.0.0.1:3000/hello/ringloop
//! ```
//!
//! It serves until Ctrl-C, or, given `--requests N`, until N requests came in.
//! `tests/hyper_compat.rs` runs this file's functions.

use std::cell::Cell;
use std::io;
use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use futures_util::future::{Either, select};
use hyper::service::{Service, service_fn};
use hyper_util::rt::TokioIo;
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use ringloop::compat::{HyperExecutor, HyperTimer};
use ringloop::net::{TcpListener, TcpStream};
use ringloop::sync::Event;

/// The application: two routes with plain-text handlers.
pub fn app() -> Router {
    Router::new()
        .route("/", get(index))
        .route("/hello/{name}", get(hello))
}

async fn index() -> &'static str {
    "axum on ringloop\n"
}

async fn hello(Path(name): Path<String>) -> String {
    format!("hello, {name}!\n")
}

/// The connection builder: HTTP/1.1 or HTTP/2, on ringloop's executor and timer.
pub fn builder() -> auto::Builder<HyperExecutor> {
    let mut builder = auto::Builder::new(HyperExecutor);
    builder
        .http1()
        .timer(HyperTimer)
        .header_read_timeout(Duration::from_secs(10))
        .http2()
        .timer(HyperTimer);
    builder
}

/// Serves one connection with `router` until the client closes it.
pub async fn serve_connection(
    stream: TcpStream,
    router: Router,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    stream.set_nodelay(true)?;
    builder()
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(router))
        .await
}

/// Accepts connections and serves `router` on each, on its own task. With
/// `max_requests`, stops accepting once that many requests came in, then waits for
/// the open connections to finish them and close (hyper's graceful shutdown).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    max_requests: Option<usize>,
) -> io::Result<()> {
    let seen = Rc::new(Cell::new(0usize));
    let limit_reached = Rc::new(Event::new());
    let graceful = GracefulShutdown::new();
    loop {
        let accept = pin!(listener.accept());
        let (stream, peer) = match select(accept, pin!(limit_reached.wait())).await {
            Either::Left((accepted, _)) => accepted?,
            Either::Right(_) => break,
        };
        stream.set_nodelay(true)?;
        // The router as a hyper service, counting the requests it is handed.
        let router = TowerToHyperService::new(router.clone());
        let (seen, reached) = (seen.clone(), limit_reached.clone());
        let service = service_fn(move |req| {
            seen.set(seen.get() + 1);
            if max_requests.is_some_and(|max| seen.get() >= max) {
                reached.set();
            }
            router.call(req)
        });
        let conn = builder()
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        ringloop::spawn(async move {
            if let Err(e) = conn.await {
                eprintln!("{peer}: {e}");
            }
        });
    }
    graceful.shutdown().await;
    Ok(())
}

/// `[ADDR] [--requests N]`.
fn args() -> (String, Option<usize>) {
    let mut addr = "127.0.0.1:3000".to_string();
    let mut max = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--requests" {
            let n = args.next().and_then(|n| n.parse().ok());
            max = Some(n.expect("--requests takes a number"));
        } else {
            addr = arg;
        }
    }
    (addr, max)
}

fn main() -> io::Result<()> {
    let (addr, max_requests) = args();
    ringloop::run(async move {
        let listener = TcpListener::bind(&addr)?;
        println!("listening on http://{}", listener.local_addr()?);
        serve(listener, app(), max_requests).await
    })
}
