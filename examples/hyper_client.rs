//! HTTP requests from ringloop with hyper's client: several requests over one HTTP/1.1
//! keep-alive connection, then concurrent requests over one HTTP/2 connection (h2c,
//! "prior knowledge").
//!
//! ```text
//! cargo run --example hyper_server -- 127.0.0.1:3000 &
//! cargo run --example hyper_client -- 127.0.0.1:3000
//! ```
//!
//! hyper's client connections are two halves: a `SendRequest` to send requests on,
//! and a connection future that drives the socket, spawned as a ringloop task. HTTP/2
//! also spawns a task per request through [`HyperExecutor`]. `tests/hyper_compat.rs`
//! runs this file's functions.

use std::net::SocketAddr;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::{http1, http2};
use hyper::header::HOST;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use ringloop::compat::{HyperExecutor, HyperTimer};
use ringloop::net::TcpStream;

/// Errors hyper hands back.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An HTTP/1.1 connection to `addr`; its driving half runs as a task until the
/// connection closes (when the `SendRequest` and every response are gone).
pub async fn connect_http1(addr: SocketAddr) -> Result<http1::SendRequest<Full<Bytes>>, BoxError> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    ringloop::spawn(async move {
        if let Err(e) = conn.await {
            eprintln!("http1 connection to {addr}: {e}");
        }
    });
    Ok(sender)
}

/// An HTTP/2 connection to `addr` (no TLS, no upgrade: the client speaks HTTP/2 first).
pub async fn connect_http2(addr: SocketAddr) -> Result<http2::SendRequest<Full<Bytes>>, BoxError> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http2::Builder::new(HyperExecutor)
        .timer(HyperTimer)
        .handshake(TokioIo::new(stream))
        .await?;
    ringloop::spawn(async move {
        if let Err(e) = conn.await {
            eprintln!("http2 connection to {addr}: {e}");
        }
    });
    Ok(sender)
}

/// A request for `path` on `addr`, with `body` (empty for a GET).
pub fn request(method: Method, addr: SocketAddr, path: &str, body: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header(HOST, addr.to_string())
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("a valid request")
}

/// A response's status and its whole body as text.
pub async fn text(response: Response<Incoming>) -> Result<(StatusCode, String), BoxError> {
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8(body.to_vec())?))
}

/// GET / and POST /echo, `rounds` times each, one after the other on one HTTP/1.1
/// connection; the answers in order.
pub async fn http1_rounds(
    addr: SocketAddr,
    rounds: usize,
) -> Result<Vec<(StatusCode, String)>, BoxError> {
    let mut sender = connect_http1(addr).await?;
    let mut answers = Vec::new();
    for i in 0..rounds {
        for req in [
            request(Method::GET, addr, "/", ""),
            request(
                Method::POST,
                addr,
                "/echo",
                &format!("echo {i} over http/1.1"),
            ),
        ] {
            // HTTP/1.1 carries one request at a time: wait until the last one is done.
            sender.ready().await?;
            answers.push(text(sender.send_request(req).await?).await?);
        }
    }
    Ok(answers)
}

/// `n` POST /echo requests in flight at once on one HTTP/2 connection; the answers in
/// request order.
pub async fn http2_concurrent(
    addr: SocketAddr,
    n: usize,
) -> Result<Vec<(StatusCode, String)>, BoxError> {
    let sender = connect_http2(addr).await?;
    let requests = (0..n).map(|i| {
        // HTTP/2 multiplexes: each clone sends on the same connection.
        let mut sender = sender.clone();
        async move {
            let req = request(
                Method::POST,
                addr,
                "/echo",
                &format!("echo {i} over http/2"),
            );
            text(sender.send_request(req).await?).await
        }
    });
    ringloop::gather(requests).await.into_iter().collect()
}

fn main() -> Result<(), BoxError> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".to_string())
        .parse()?;
    ringloop::run(async move {
        for (status, body) in http1_rounds(addr, 2).await? {
            println!("HTTP/1.1 {status}: {}", body.trim_end());
        }
        for (status, body) in http2_concurrent(addr, 4).await? {
            println!("HTTP/2 {status}: {}", body.trim_end());
        }
        Ok(())
    })
}
