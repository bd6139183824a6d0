//! Registered (fixed) files (`Builder::fixed_files`): on io_uring each stream socket
//! takes a slot of the ring's file table and its operations name the slot; on epoll the
//! option is ignored. What a user relies on, on both backends:
//!
//! - streams read and write as without it (owned buffers, `read_buffered`, the
//!   poll-style traits), and `Stats::fixed_files` counts the registered sockets;
//! - dropping a registered stream closes the connection at once (the table never keeps
//!   it open), and `into_std` hands out a plain descriptor that works outside the loop;
//! - sockets made when the table is full work unregistered;
//! - a slot given back and taken by the next connection never carries one
//!   connection's bytes to another, however connections come and go;
//! - nothing leaks: the process's descriptors are back where they began.

mod support;

use std::io::{Read, Write};
use std::rc::Rc;

use ringloop::net::{TcpListener, TcpStream, UnixStream};
use ringloop::{Backend, EventLoop};
use support::{backends, exclusive_fds, fd_count, guard, on_each_backend, pattern, shared_fds};

/// A loop on `backend` with a registered-file table of `slots`, whose operations all
/// go through the ring (no syscall tried first), so that they name the slots.
fn fixed_loop(backend: Backend, slots: u32) -> EventLoop {
    EventLoop::builder()
        .backend(backend)
        .fixed_files(slots)
        .try_first_io(false)
        .build()
        .unwrap_or_else(|e| panic!("a loop on {backend:?}: {e}"))
}

/// Runs the future `body` makes on a fresh loop with a table of `slots` on each
/// backend (named if it panics), handing it the loop (for its stats); after it, every
/// slot is back.
fn on_fixed_loops<F: Future<Output = ()>>(
    slots: u32,
    what: &str,
    body: impl Fn(Rc<EventLoop>) -> F,
) {
    on_each_backend(|backend| {
        let lp = Rc::new(fixed_loop(backend, slots));
        lp.run_until_complete(guard(what, body(lp.clone())));
        assert_eq!(lp.stats().fixed_files, 0, "{backend:?}: every slot back");
    });
}

/// Whether `lp` got a registered-file table: on io_uring from kernel 6.13 (before it
/// the loop goes without, and every socket by its number), never on epoll.
fn has_table(lp: &EventLoop) -> bool {
    lp.backend_description().contains("registered-file slots")
}

/// How many sockets `lp` should have registered, `registered` of them asking.
fn expected(lp: &EventLoop, registered: usize) -> usize {
    if has_table(lp) { registered } else { 0 }
}

/// Asserts that `lp` has `registered` sockets in its table (none on epoll).
fn assert_registered(lp: &EventLoop, registered: usize) {
    let backend = lp.backend();
    assert_eq!(
        lp.stats().fixed_files,
        expected(lp, registered),
        "{backend:?}"
    );
}

/// A connected TCP pair on the running loop: (client, server).
async fn tcp_pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .expect("connect");
    let (server, _) = listener.accept().await.expect("accept");
    (client, server)
}

/// `msg` from `client` to `server` and back, each end checking what it got.
async fn round_trip(client: &TcpStream, server: &TcpStream, msg: &str) {
    client.write_all(msg.as_bytes().to_vec()).await.0.unwrap();
    let (res, buf) = server.read_exact(vec![0u8; msg.len()]).await;
    res.unwrap();
    assert_eq!(buf, msg.as_bytes(), "at the server");
    server.write_all(buf).await.0.unwrap();
    let (res, buf) = client.read_exact(vec![0u8; msg.len()]).await;
    res.unwrap();
    assert_eq!(buf, msg.as_bytes(), "back at the client");
}

/// Writes back what `conn` reads, `chunk` bytes at most at a time, until end-of-file.
async fn echo_until_eof(conn: &TcpStream, chunk: usize) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(chunk);
    loop {
        let (n, back) = conn.read(buf).await;
        if n? == 0 {
            return Ok(());
        }
        let (res, back) = conn.write_all(back).await;
        res?;
        buf = back;
        buf.clear();
    }
}

#[test]
fn registered_streams_carry_data_both_ways_and_give_their_slots_back() {
    let _fds = shared_fds();
    on_fixed_loops(64, "echo on registered streams", |lp| async move {
        let backend = lp.backend();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (client, server) = tcp_pair(&listener).await;
        assert_registered(&lp, 2);
        let data = pattern(300 * 1024, 11);
        let echo = ringloop::spawn(async move {
            echo_until_eof(&server, 64 * 1024)
                .await
                .expect("server echo");
        });
        let (reader, writer) = client.into_split();
        let sent = data.clone();
        let send = ringloop::spawn(async move {
            writer.write_all(sent).await.0.expect("client write");
            writer.shutdown().await.expect("shutdown");
        });
        let (res, back) = reader.read_exact(vec![0u8; data.len()]).await;
        res.expect("client read_exact");
        assert!(back == data, "{backend:?}: the echoed bytes differ");
        send.await.unwrap();
        echo.await.unwrap();
        // The Unix pair registers both ends too; read_buffered reads through the slot.
        let (a, b) = UnixStream::pair().unwrap();
        a.write_all(b"buffered").await.0.unwrap();
        let got = b.read_buffered().await.unwrap();
        assert_eq!(&got[..], b"buffered", "{backend:?}");
        drop(got);
        // The client (its reading half is alive) and the pair; the server is gone.
        assert_registered(&lp, 3);
        drop(reader);
    });
}

#[test]
fn a_dropped_registered_stream_closes_its_connection_and_into_std_works() {
    let _fds = shared_fds();
    on_fixed_loops(8, "close and into_std", |lp| async move {
        let backend = lp.backend();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        // An idle registered connection with a receive pending throughout (on a
        // kernel whose table freed files in order, it would hold the next one open).
        let (idle, idle_peer) = tcp_pair(&listener).await;
        let idle_read = ringloop::spawn(async move {
            let (n, _) = idle.read(Vec::with_capacity(8)).await;
            n
        });
        ringloop::yield_now().await;
        // Dropped: the peer reads end-of-file, so the table let go of the socket.
        let (client, server) = tcp_pair(&listener).await;
        drop(server);
        let (n, _) = client.read(Vec::with_capacity(8)).await;
        assert_eq!(n.expect("read after the peer's drop"), 0, "{backend:?}");
        assert_registered(&lp, 3);
        drop(client);
        drop(idle_peer);
        assert_eq!(idle_read.await.unwrap().unwrap(), 0, "{backend:?}");
        // into_std: a plain, working descriptor; the slot is given back.
        let (client, server) = tcp_pair(&listener).await;
        let mut std_server = server.into_std();
        assert_registered(&lp, 1);
        std_server.write_all(b"from std").unwrap();
        let (res, buf) = client.read_exact(vec![0u8; 8]).await;
        res.unwrap();
        assert_eq!(buf, b"from std");
        client.write_all(b"to std").await.0.unwrap();
        std_server.set_nonblocking(false).unwrap();
        let mut six = [0u8; 6];
        std_server.read_exact(&mut six).unwrap();
        assert_eq!(&six, b"to std");
        drop(std_server);
        let (n, _) = client.read(Vec::with_capacity(8)).await;
        assert_eq!(n.unwrap(), 0, "{backend:?}: std's drop closed it");
    });
}

#[test]
fn sockets_beyond_the_table_work_unregistered() {
    let _fds = shared_fds();
    on_fixed_loops(2, "a full table", |lp| async move {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut pairs = Vec::new();
        for _ in 0..3 {
            pairs.push(tcp_pair(&listener).await);
        }
        // Two slots: the first pair's two ends took them.
        assert_registered(&lp, 2);
        for (i, (client, server)) in pairs.iter().enumerate() {
            round_trip(client, server, &format!("pair {i}")).await;
        }
    });
}

/// One slot, connections opened and closed in a churn (three alive at a time, each
/// echoing its own message several times, some closing mid-way): every slot reuse
/// keeps every connection's bytes its own, and every descriptor is closed after.
#[test]
fn a_reused_slot_never_carries_bytes_to_another_connection() {
    let _fds = exclusive_fds();
    for backend in backends() {
        let before = fd_count();
        {
            let lp = fixed_loop(backend, 1);
            lp.run_until_complete(guard("slot churn", async move {
                let listener = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
                let server_listener = listener.clone();
                let server = ringloop::spawn(async move {
                    let mut conns = Vec::new();
                    for _ in 0..60 {
                        let (conn, _) = server_listener.accept().await.expect("accept");
                        conns.push(ringloop::spawn(async move {
                            // The client's end of a connection closes with it.
                            echo_until_eof(&conn, 256).await.expect("server echo");
                        }));
                    }
                    for conn in conns {
                        conn.await.unwrap();
                    }
                });
                let addr = listener.local_addr().unwrap();
                for wave in 0..20 {
                    let mut clients = Vec::new();
                    for k in 0..3 {
                        clients.push(ringloop::spawn(async move {
                            let client = TcpStream::connect(addr).await.expect("connect");
                            let msg = format!("connection {wave}/{k} ").repeat(4);
                            for round in 0..(1 + (wave + k) % 4) {
                                client.write_all(msg.clone().into_bytes()).await.0.unwrap();
                                let (res, back) = client.read_exact(vec![0u8; msg.len()]).await;
                                res.unwrap_or_else(|e| panic!("round {round}: {e}"));
                                assert_eq!(
                                    String::from_utf8_lossy(&back),
                                    msg,
                                    "bytes of another connection"
                                );
                            }
                        }));
                    }
                    for client in clients {
                        client.await.unwrap();
                    }
                }
                server.await.unwrap();
            }));
            assert_eq!(lp.stats().fixed_files, 0, "{backend:?}");
        }
        // A leak raises the count. (Once in a full run it came out one lower: a
        // descriptor of an earlier test's teardown closed meanwhile.)
        let after = fd_count();
        assert!(
            after <= before,
            "{backend:?}: descriptors left open: {after} after, {before} before"
        );
    }
}

/// The poll-style traits name the slot too (their readiness waits and syscalls).
#[cfg(feature = "tokio-io")]
#[test]
fn the_tokio_io_traits_work_on_registered_streams() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _fds = shared_fds();
    on_fixed_loops(16, "tokio-io on registered streams", |lp| async move {
        let backend = lp.backend();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (client, mut server) = tcp_pair(&listener).await;
        assert_registered(&lp, 2);
        let data = pattern(200 * 1024, 5);
        let expect = data.clone();
        let echo = ringloop::spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = AsyncReadExt::read(&mut server, &mut buf)
                    .await
                    .expect("server read");
                if n == 0 {
                    return;
                }
                AsyncWriteExt::write_all(&mut server, &buf[..n])
                    .await
                    .expect("server write");
            }
        });
        let (mut reader, mut writer) = client.into_split();
        let send = ringloop::spawn(async move {
            AsyncWriteExt::write_all(&mut writer, &data).await.unwrap();
            AsyncWriteExt::flush(&mut writer).await.unwrap();
            AsyncWriteExt::shutdown(&mut writer).await.unwrap();
        });
        let mut back = Vec::new();
        reader.read_to_end(&mut back).await.unwrap();
        assert!(back == expect, "{backend:?}: the echoed bytes differ");
        send.await.unwrap();
        echo.await.unwrap();
    });
}

/// `net::serve` registers the connections it accepts and gives every slot back as they
/// are lost; its multishot receives and sends name the slots.
#[test]
fn served_connections_are_registered_while_they_live() {
    use std::cell::Cell;

    use ringloop::net::{Protocol, Transport, serve};

    struct Echo {
        transport: Option<Transport>,
        lost: Rc<Cell<usize>>,
    }

    impl Protocol for Echo {
        fn connection_made(&mut self, transport: Transport) {
            self.transport = Some(transport);
        }

        fn data_received(&mut self, data: &[u8]) {
            self.transport.as_ref().unwrap().write(data);
        }

        fn connection_lost(&mut self, _error: Option<std::io::Error>) {
            self.lost.set(self.lost.get() + 1);
        }
    }

    const CONNS: usize = 20;
    let _fds = shared_fds();
    on_fixed_loops(256, "a registered protocol server", |lp| async move {
        let backend = lp.backend();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let lost = Rc::new(Cell::new(0));
        let factory_lost = lost.clone();
        let server = ringloop::spawn(serve(listener, move || Echo {
            transport: None,
            lost: factory_lost.clone(),
        }));
        let mut clients = Vec::new();
        for i in 0..CONNS {
            let client = TcpStream::connect(addr).await.expect("connect");
            let msg = pattern(4096 + i, i as u64);
            client.write_all(msg.clone()).await.0.unwrap();
            let (res, back) = client.read_exact(vec![0u8; msg.len()]).await;
            res.unwrap();
            assert!(back == msg, "{backend:?}: connection {i} got other bytes");
            clients.push(client);
        }
        // Each client end and each served connection.
        assert_registered(&lp, 2 * CONNS);
        drop(clients);
        while lost.get() < CONNS {
            ringloop::sleep(std::time::Duration::from_millis(1)).await;
        }
        assert_eq!(lp.stats().fixed_files, 0, "{backend:?}: every slot back");
        server.cancel();
        let _ = server.await;
    });
}

/// With a kernel polling thread (`Builder::sqpoll`) taking the submissions, slots are
/// registered and reused as without one: connections churn through a 2-slot table
/// and every echo stays its own. (A slot given back is reused once the polling thread
/// took every queued submission, which it does on its own time: so not necessarily by
/// the very next connection.)
#[test]
fn a_polled_ring_registers_and_reuses_slots_too() {
    let _fds = shared_fds();
    for backend in backends() {
        let built = EventLoop::builder()
            .backend(backend)
            .fixed_files(2)
            .try_first_io(false)
            .sqpoll(std::time::Duration::from_millis(5))
            .build();
        let lp = match built {
            Ok(lp) => lp,
            Err(e) if backend == Backend::IoUring => {
                eprintln!("no SQPOLL here ({e}): nothing to check");
                continue;
            }
            Err(e) => panic!("{backend:?}: {e}"),
        };
        let lp_ref = &lp;
        lp.run_until_complete(guard("fixed files on a polled ring", async move {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let mut fully_registered = 0;
            for i in 0..30 {
                let (client, server) = tcp_pair(&listener).await;
                let registered = lp_ref.stats().fixed_files;
                assert!(
                    registered <= expected(lp_ref, 2),
                    "{backend:?}: {registered}"
                );
                if registered == 2 {
                    fully_registered += 1;
                }
                round_trip(&client, &server, &format!("polled {i}").repeat(1 + i % 5)).await;
            }
            if has_table(lp_ref) {
                assert!(
                    fully_registered > 1,
                    "slots never reused: {fully_registered}"
                );
            }
        }));
        assert_eq!(lp.stats().fixed_files, 0, "{backend:?}");
    }
}
