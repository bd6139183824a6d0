//! HTTPS on ringloop: the `https_server` example (rustls through tokio-rustls on a
//! ringloop `TcpStream`, hyper over it, an rcgen certificate) answers a rustls client
//! that trusts the certificate over HTTP/1.1 and HTTP/2, and the system's `curl`; a
//! client that does not trust it, or does not speak TLS, fails and costs only its own
//! connection. Every test runs on io_uring and epoll.
//!
//! The curl test needs `curl` installed (`.ci/run` installs it).

#[allow(dead_code)]
#[path = "../examples/https_server.rs"]
mod https_server;
mod support;

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::sync::Arc;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::header::HOST;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use ringloop::compat::HyperExecutor;
use ringloop::net::{TcpListener, TcpStream};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use support::{Log, for_each_backend, guard, log, shared_fds, wait_until};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The example's HTTPS server on a free loopback port, with a fresh certificate; each
/// connection's outcome (its error, if any) is recorded.
struct TlsServer {
    addr: SocketAddr,
    cert: CertificateDer<'static>,
    pem: String,
    ended: Log<Option<String>>,
    _accept: ringloop::Task<()>,
}

impl TlsServer {
    fn start() -> TlsServer {
        let (identity, pem) = https_server::self_signed().expect("a certificate");
        let cert = identity.chain[0].clone();
        let acceptor = https_server::acceptor(identity).expect("a TLS config");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        let ended = log();
        let accept = ringloop::spawn({
            let ended = ended.clone();
            async move {
                loop {
                    let (stream, _) = listener.accept().await.expect("accept");
                    let conn = https_server::serve_connection(stream, acceptor.clone());
                    let ended = ended.clone();
                    ringloop::spawn(async move {
                        let outcome = conn.await.err().map(|e| e.to_string());
                        ended.borrow_mut().push(outcome);
                    });
                }
            }
        });
        TlsServer {
            addr,
            cert,
            pem,
            ended,
            _accept: accept,
        }
    }

    async fn ended(&self, n: usize) -> Vec<Option<String>> {
        let ended = self.ended.clone();
        wait_until("server connections to end", || ended.borrow().len() >= n).await;
        self.ended.borrow().clone()
    }
}

/// A rustls client (ring provider) trusting `roots`, offering `alpn`.
fn connector(roots: &[CertificateDer<'static>], alpn: &[&[u8]]) -> TlsConnector {
    let mut store = RootCertStore::empty();
    for cert in roots {
        store.add(cert.clone()).expect("a root certificate");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(store)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(config))
}

/// A TLS connection to `addr` for the name `localhost`.
async fn tls_connect(
    addr: SocketAddr,
    connector: &TlsConnector,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").expect("a server name");
    connector.connect(name, tcp).await
}

fn get(addr: SocketAddr) -> Request<Empty<Bytes>> {
    Request::get(format!("https://localhost:{}/", addr.port()))
        .header(HOST, "localhost")
        .body(Empty::new())
        .expect("a request")
}

/// GET / over HTTP/1.1 on a trusted TLS connection: (status, body).
async fn get_http1(
    addr: SocketAddr,
    connector: &TlsConnector,
) -> Result<(StatusCode, String), BoxError> {
    let tls = tls_connect(addr, connector).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
    ringloop::spawn(conn);
    let res = sender.send_request(get(addr)).await?;
    let status = res.status();
    let body = res.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8(body.to_vec())?))
}

const PAGE: &str = "hello over TLS from ringloop\n";

#[test]
fn https_answers_a_rustls_client_that_trusts_the_certificate() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(guard("HTTPS with rustls", async {
            let server = TlsServer::start();
            let trusting = connector(std::slice::from_ref(&server.cert), &[b"http/1.1"]);
            let answer = get_http1(server.addr, &trusting)
                .await
                .expect("HTTP/1.1 over TLS");
            assert_eq!(answer, (StatusCode::OK, PAGE.to_string()));

            // HTTP/2, chosen by ALPN.
            let h2 = connector(std::slice::from_ref(&server.cert), &[b"h2"]);
            let tls = tls_connect(server.addr, &h2).await.expect("TLS");
            assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
            let (sender, conn) =
                hyper::client::conn::http2::handshake(HyperExecutor, TokioIo::new(tls))
                    .await
                    .expect("HTTP/2 handshake");
            ringloop::spawn(conn);
            let requests = (0..4).map(|_| {
                let mut sender = sender.clone();
                async move {
                    let res = sender.send_request(get(server.addr)).await?;
                    let body = res.into_body().collect().await?.to_bytes();
                    Ok::<_, hyper::Error>(body)
                }
            });
            for body in ringloop::gather(requests).await {
                assert_eq!(&body.expect("an HTTP/2 answer")[..], PAGE.as_bytes());
            }
        }));
    });
}

/// Runs `curl` with `args`, failing with how to install it if it is missing.
fn curl(args: &[String]) -> Output {
    match Command::new("curl").args(args).output() {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "this test runs the system's `curl`, which is not installed: install it \
             (`apt-get install curl` on Debian/Ubuntu; .ci/run does)"
        ),
        Err(e) => panic!("running curl: {e}"),
    }
}

#[test]
fn https_answers_the_system_curl() {
    // Checked before the server starts, so that a missing curl says so plainly.
    let version = curl(&["--version".to_string()]);
    assert!(version.status.success(), "`curl --version` failed");
    let _fds = shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(guard("curl against the HTTPS server", async {
            let server = TlsServer::start();
            let pem_path = std::env::temp_dir().join(format!(
                "ringloop-hyper-tls-{}-{}.pem",
                std::process::id(),
                server.addr.port()
            ));
            std::fs::write(&pem_path, &server.pem).expect("write the certificate");
            let port = server.addr.port();
            let args: Vec<String> = [
                "--silent",
                "--show-error",
                "--noproxy",
                "*",
                "--max-time",
                "15",
                "--cacert",
                pem_path.to_str().expect("a UTF-8 path"),
                // `localhost` is the certificate's name; it may resolve to ::1 first.
                "--resolve",
                &format!("localhost:{port}:127.0.0.1"),
                "--write-out",
                "\n%{http_code} HTTP/%{http_version}",
                &format!("https://localhost:{port}/"),
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            // curl blocks: it runs on a plain thread while the loop serves it.
            let run = std::thread::spawn(move || curl(&args));
            wait_until("curl to finish", || run.is_finished()).await;
            let output = run.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            let _ = std::fs::remove_file(&pem_path);
            let stdout = String::from_utf8_lossy(&output.stdout);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                output.status.success(),
                "curl failed ({}): {stderr}\n{stdout}",
                output.status
            );
            let (page, status) = stdout.rsplit_once('\n').expect("curl's status line");
            assert_eq!(page, PAGE);
            assert!(status.starts_with("200 HTTP/"), "curl saw {status:?}");
        }));
    });
}

#[test]
fn a_client_that_does_not_trust_the_certificate_fails_naming_the_problem() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(guard("an untrusting client", async {
            let server = TlsServer::start();
            // Trusts nothing (as a client without this certificate installed).
            let untrusting = connector(&[], &[b"http/1.1"]);
            let err = tls_connect(server.addr, &untrusting)
                .await
                .expect_err("the handshake must fail");
            let message = err.to_string();
            assert!(
                message.contains("invalid peer certificate") && message.contains("UnknownIssuer"),
                "the error names the certificate problem: {message}"
            );
            // Trusts another certificate (of the same subject name) only.
            let (other, _) = https_server::self_signed().expect("another certificate");
            let err = tls_connect(server.addr, &connector(&other.chain, &[]))
                .await
                .expect_err("the handshake must fail");
            assert!(
                err.to_string().contains("invalid peer certificate"),
                "the error names the certificate problem: {err}"
            );
            let ended = server.ended(2).await;
            assert!(
                ended.iter().all(Option::is_some),
                "the server side fails too: {ended:?}"
            );

            // A client that does not speak TLS at all.
            let plain = TcpStream::connect(server.addr).await.expect("connect");
            let (res, _) = plain
                .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec())
                .await;
            res.expect("send plain HTTP");
            let answer = support::read_to_end(&plain).await;
            assert!(
                !String::from_utf8_lossy(&answer.unwrap_or_default()).contains(PAGE),
                "a plain-text client got the page"
            );
            let ended = server.ended(3).await;
            assert!(ended[2].is_some(), "the plain connection fails");

            // Each cost its own connection only.
            let trusting = connector(std::slice::from_ref(&server.cert), &[b"http/1.1"]);
            let answer = get_http1(server.addr, &trusting)
                .await
                .expect("a trusted client");
            assert_eq!(answer, (StatusCode::OK, PAGE.to_string()));
        }));
    });
}
