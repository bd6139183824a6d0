//! An HTTPS server on ringloop: rustls (through tokio-rustls) over a ringloop
//! `TcpStream`, and hyper (HTTP/1.1 or HTTP/2, offered by ALPN) over the TLS stream.
//! Its certificate comes from files given on the command line, or is made at start-up
//! with rcgen (self-signed, for `localhost` and `127.0.0.1`; its PEM is written to a
//! file for clients to trust).
//!
//! ```text
//! cargo run --example https_server -- 127.0.0.1:8443 [--cert CERT.pem --key KEY.pem] [--requests N]
//! curl --cacert <the printed PEM file> https://localhost:8443/
//! ```
//!
//! It serves until Ctrl-C, or, given `--requests N`, until N requests came in.
//! `tests/hyper_compat.rs` runs this file's functions. The routes are
//! `hyper_server.rs`'s (hello and echo), written again here to keep the file whole.

use std::cell::Cell;
use std::convert::Infallible;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
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
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

/// Errors hyper, hyper-util and rustls hand back.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A certificate chain and its private key.
pub struct Identity {
    /// The server's certificate first, then any intermediates.
    pub chain: Vec<CertificateDer<'static>>,
    /// The certificate's private key.
    pub key: PrivateKeyDer<'static>,
}

/// A self-signed certificate for `localhost` and `127.0.0.1`, made now; also its PEM,
/// which a client trusts (`curl --cacert`).
pub fn self_signed() -> Result<(Identity, String), BoxError> {
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let rcgen::CertifiedKey { cert, signing_key } = rcgen::generate_simple_self_signed(names)?;
    let identity = Identity {
        chain: vec![cert.der().clone()],
        key: PrivatePkcs8KeyDer::from(signing_key.serialize_der()).into(),
    };
    Ok((identity, cert.pem()))
}

/// A certificate chain and a private key from PEM files.
pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Identity, BoxError> {
    let chain = CertificateDer::pem_file_iter(cert)?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(key)?;
    Ok(Identity { chain, key })
}

/// The TLS side: rustls on its `ring` provider, offering HTTP/2 and HTTP/1.1 by ALPN.
pub fn acceptor(identity: Identity) -> Result<TlsAcceptor, BoxError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(identity.chain, identity.key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A whole body.
fn full(data: impl Into<Bytes>) -> BoxBody<Bytes, hyper::Error> {
    Full::new(data.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// The routes: `GET /` says hello, `POST /echo` streams the body back.
pub async fn route(
    req: Request<Incoming>,
) -> Result<Response<BoxBody<Bytes, hyper::Error>>, Infallible> {
    Ok(match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => Response::new(full("hello over TLS from ringloop\n")),
        (&Method::POST, "/echo") => Response::new(req.into_body().boxed()),
        _ => {
            let mut not_found = Response::new(full("not found\n"));
            *not_found.status_mut() = StatusCode::NOT_FOUND;
            not_found
        }
    })
}

/// The HTTP side: HTTP/1.1 or HTTP/2, on ringloop's executor and timer.
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

/// The TLS handshake, then [`route`] over the encrypted stream until the client
/// closes it. A handshake that fails (a client that does not trust the certificate,
/// one that is not speaking TLS) ends this connection only.
pub async fn serve_connection(stream: TcpStream, acceptor: TlsAcceptor) -> Result<(), BoxError> {
    stream.set_nodelay(true)?;
    let tls = acceptor.accept(stream).await?;
    builder()
        .serve_connection(TokioIo::new(tls), service_fn(route))
        .await
}

/// Accepts connections and serves each on its own task. With `max_requests`, stops
/// accepting once that many requests came in, then lets the open connections finish
/// them and close.
pub async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
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
        let (seen, reached) = (seen.clone(), limit_reached.clone());
        let service = service_fn(move |req| {
            seen.set(seen.get() + 1);
            if max_requests.is_some_and(|max| seen.get() >= max) {
                reached.set();
            }
            route(req)
        });
        // Taken now, so that a shutdown also waits for a connection in its handshake.
        let (acceptor, watcher) = (acceptor.clone(), graceful.watcher());
        ringloop::spawn(async move {
            let tls = match acceptor.accept(stream).await {
                Ok(tls) => tls,
                Err(e) => return eprintln!("{peer}: TLS handshake: {e}"),
            };
            let conn = builder()
                .serve_connection(TokioIo::new(tls), service)
                .into_owned();
            if let Err(e) = watcher.watch(conn).await {
                eprintln!("{peer}: {e}");
            }
        });
    }
    graceful.shutdown().await;
    Ok(())
}

/// `[ADDR] [--cert CERT.pem --key KEY.pem] [--requests N]`.
struct Args {
    addr: String,
    cert: Option<(PathBuf, PathBuf)>,
    max_requests: Option<usize>,
}

fn args() -> Args {
    let mut parsed = Args {
        addr: "127.0.0.1:8443".to_string(),
        cert: None,
        max_requests: None,
    };
    let (mut cert, mut key) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--cert" => cert = args.next().map(PathBuf::from),
            "--key" => key = args.next().map(PathBuf::from),
            "--requests" => {
                let n = args.next().and_then(|n| n.parse().ok());
                parsed.max_requests = Some(n.expect("--requests takes a number"));
            }
            _ => parsed.addr = arg,
        }
    }
    match (cert, key) {
        (Some(cert), Some(key)) => parsed.cert = Some((cert, key)),
        (None, None) => {}
        _ => panic!("--cert and --key go together"),
    }
    parsed
}

fn main() -> Result<(), BoxError> {
    let args = args();
    let identity = match &args.cert {
        Some((cert, key)) => from_pem_files(cert, key)?,
        None => {
            let (identity, pem) = self_signed()?;
            let path = std::env::temp_dir().join("ringloop-https-server.pem");
            std::fs::write(&path, pem)?;
            println!(
                "a self-signed certificate for localhost: {}",
                path.display()
            );
            identity
        }
    };
    let acceptor = acceptor(identity)?;
    ringloop::run(async move {
        let listener = TcpListener::bind(&args.addr)?;
        let port = listener.local_addr()?.port();
        println!("listening on https://localhost:{port}");
        serve(listener, acceptor, args.max_requests).await?;
        Ok(())
    })
}
