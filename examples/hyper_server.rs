//! An HTTP server on ringloop with hyper: HTTP/1.1 (keep-alive) and HTTP/2 (cleartext,
//! "prior knowledge") on one port, told apart per connection by hyper-util's auto
//! builder. `GET /` says hello; `POST /echo` streams the request body back.
//!
//! ```text
//! cargo run --example hyper_server -- 127.0.0.1:3000 [--requests N]
//! curl http://127.0.0.1:3000/
//! curl --http2-prior-knowledge -d 'hello' http://127.0.0.1:3000/echo
//! cargo run --example hyper_client -- 127.0.0.1:3000
//! ```
//!
//! It serves until Ctrl-C, or, given `--requests N`, until N requests came in (it then
//! stops accepting, lets open connections finish what they started, and exits).
//! `127.0.0.1:0` picks a free port; the address is printed.
//!
//! The pieces ringloop adds to hyper: [`HyperExecutor`] (HTTP/2 spawns a task per
//! stream; ringloop's tasks need not be `Send`), [`HyperTimer`] (the header-read
//! timeout), and ringloop's `TcpStream`, which implements tokio's I/O traits, wrapped
//! in hyper-util's `TokioIo` for hyper. `tests/hyper_compat.rs` runs this file's
//! functions.

use std::cell::Cell;
use std::convert::Infallible;
use std::io;
use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

use futures_util::future::{Either, select};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use ringloop::compat::{HyperExecutor, HyperTimer};
use ringloop::net::{TcpListener, TcpStream};
use ringloop::sync::Event;

/// Errors hyper and hyper-util hand back.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A response body: a whole buffer, or a request body streamed back.
pub type Body = BoxBody<Bytes, hyper::Error>;

/// How long a client may take to send a request's head before its connection closes.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A whole body.
pub fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// The routes.
pub async fn route(req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    Ok(match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => Response::new(full("hello from ringloop\n")),
        // The body streams back as it arrives: nothing buffers the whole of it.
        (&Method::POST, "/echo") => Response::new(req.into_body().boxed()),
        _ => {
            let mut not_found = Response::new(full("not found\n"));
            *not_found.status_mut() = StatusCode::NOT_FOUND;
            not_found
        }
    })
}

/// The connection builder: HTTP/1.1 or HTTP/2, whichever the client speaks, on
/// ringloop's executor and timer. An HTTP/1 client that takes over
/// `header_read_timeout` to send a request head is disconnected.
pub fn builder(header_read_timeout: Duration) -> auto::Builder<HyperExecutor> {
    let mut builder = auto::Builder::new(HyperExecutor);
    builder
        .http1()
        .timer(HyperTimer)
        .header_read_timeout(header_read_timeout)
        .http2()
        .timer(HyperTimer);
    builder
}

/// Serves one connection with [`route`] until the client closes it.
pub async fn serve_connection(
    stream: TcpStream,
    header_read_timeout: Duration,
) -> Result<(), BoxError> {
    stream.set_nodelay(true)?;
    builder(header_read_timeout)
        .serve_connection(TokioIo::new(stream), service_fn(route))
        .await
}

/// Counts requests and says when the limit, if any, is reached.
pub struct RequestLimit {
    seen: Cell<usize>,
    max: Option<usize>,
    reached: Event,
}

impl RequestLimit {
    /// No limit with `None`.
    pub fn new(max: Option<usize>) -> RequestLimit {
        RequestLimit {
            seen: Cell::new(0),
            max,
            reached: Event::new(),
        }
    }

    /// One more request.
    pub fn count(&self) {
        self.seen.set(self.seen.get() + 1);
        if self.max.is_some_and(|max| self.seen.get() >= max) {
            self.reached.set();
        }
    }
}

/// Accepts connections and serves each on its own task. With `max_requests`, stops
/// accepting once that many requests came in, then waits for the open connections
/// to finish their requests and close (hyper's graceful shutdown).
pub async fn serve(listener: TcpListener, max_requests: Option<usize>) -> io::Result<()> {
    let limit = Rc::new(RequestLimit::new(max_requests));
    let graceful = GracefulShutdown::new();
    loop {
        let accept = pin!(listener.accept());
        let (stream, peer) = match select(accept, pin!(limit.reached.wait())).await {
            Either::Left((accepted, _)) => accepted?,
            Either::Right(_) => break,
        };
        stream.set_nodelay(true)?;
        let counted = limit.clone();
        let service = service_fn(move |req| {
            counted.count();
            route(req)
        });
        let conn = builder(HEADER_READ_TIMEOUT)
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        // Watched, so that shutting down can ask it to close after its last request.
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
        serve(listener, max_requests).await
    })
}
