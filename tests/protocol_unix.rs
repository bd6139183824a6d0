//! `net::serve` and `net::create_server` on a `UnixListener` (asyncio's
//! `create_unix_server`): the same server, graceful shutdown included, on each backend.

mod support;

use std::cell::RefCell;
use std::io;
use std::rc::Rc;

use ringloop::net::{Protocol, Transport, UnixListener, UnixStream, create_server, serve};
use support::{for_each_backend, guard};

/// Echoes, and records how its connection ended.
struct Echo {
    transport: Option<Transport>,
    lost: Rc<RefCell<Vec<Option<String>>>>,
}

impl Protocol for Echo {
    fn connection_made(&mut self, transport: Transport) {
        self.transport = Some(transport);
    }
    fn data_received(&mut self, data: &[u8]) {
        self.transport.as_ref().unwrap().write(data);
    }
    fn connection_lost(&mut self, error: Option<io::Error>) {
        self.lost.borrow_mut().push(error.map(|e| e.to_string()));
    }
}

type Lost = Rc<RefCell<Vec<Option<String>>>>;

fn echo_factory(lost: &Lost) -> impl FnMut() -> Echo + 'static {
    let lost = lost.clone();
    move || Echo {
        transport: None,
        lost: lost.clone(),
    }
}

async fn round_trip(client: &UnixStream, msg: &[u8]) {
    client.write_all(msg.to_vec()).await.0.unwrap();
    let (res, buf) = client.read_exact(Vec::with_capacity(msg.len())).await;
    res.unwrap();
    assert_eq!(buf, msg);
}

#[test]
fn serve_on_a_unix_listener_echoes_and_dropping_it_loses_every_connection() {
    let _fds = support::shared_fds();
    for_each_backend(|lp| {
        let dir = support::socket_dir("serve");
        let path = dir.join("echo.sock");
        let lost: Lost = Rc::default();
        lp.run_until_complete(guard("serve unix", async {
            let server = ringloop::spawn(serve(
                UnixListener::bind(&path).unwrap(),
                echo_factory(&lost),
            ));
            let a = UnixStream::connect(&path).await.unwrap();
            let b = UnixStream::connect(&path).await.unwrap();
            round_trip(&a, b"first").await;
            round_trip(&b, b"second").await;
            round_trip(&a, b"first again").await;
            server.cancel();
            let _ = server.await;
            // Every connection was closed, each protocol told once, with no error.
            assert_eq!(*lost.borrow(), [None, None]);
            let (n, _) = a.read(Vec::with_capacity(8)).await;
            assert_eq!(n.unwrap(), 0);
        }));
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

#[test]
fn a_unix_server_closes_gracefully_while_an_established_client_finishes() {
    let _fds = support::shared_fds();
    for_each_backend(|lp| {
        let dir = support::socket_dir("graceful");
        let path = dir.join("echo.sock");
        let lost: Lost = Rc::default();
        lp.run_until_complete(guard("graceful unix", async {
            let server = create_server(UnixListener::bind(&path).unwrap(), echo_factory(&lost));
            assert_eq!(
                server.local_unix_addr().unwrap().as_pathname(),
                Some(path.as_path())
            );
            assert_eq!(
                server.local_addr().unwrap_err().kind(),
                io::ErrorKind::InvalidInput
            );
            let client = UnixStream::connect(&path).await.unwrap();
            round_trip(&client, b"before close").await;
            server.close();
            assert!(!server.is_serving());
            // No new connection from here on.
            assert!(UnixStream::connect(&path).await.is_err());
            // The established one goes on.
            round_trip(&client, b"after close").await;
            let mut closed = std::pin::pin!(server.wait_closed());
            assert!(support::poll_once(&mut closed).await.is_pending());
            drop(client);
            closed.await;
            assert_eq!(*lost.borrow(), [None]);
        }));
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

#[test]
fn abort_clients_ends_every_unix_connection_of_a_closed_server() {
    let _fds = support::shared_fds();
    for_each_backend(|lp| {
        let dir = support::socket_dir("abort");
        let path = dir.join("echo.sock");
        let lost: Lost = Rc::default();
        lp.run_until_complete(guard("abort unix", async {
            let server = create_server(UnixListener::bind(&path).unwrap(), echo_factory(&lost));
            let mut clients = Vec::new();
            for i in 0..3u8 {
                let c = UnixStream::connect(&path).await.unwrap();
                round_trip(&c, &[i; 3]).await;
                clients.push(c);
            }
            server.close();
            server.abort_clients();
            server.wait_closed().await;
            assert_eq!(*lost.borrow(), [None, None, None]);
            for c in &clients {
                let (n, _) = c.read(Vec::with_capacity(8)).await;
                assert!(matches!(n, Ok(0) | Err(_)));
            }
        }));
        std::fs::remove_dir_all(&dir).unwrap();
    });
}
