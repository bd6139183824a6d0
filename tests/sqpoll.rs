//! `Builder::sqpoll`: a ring with a kernel polling thread runs sockets, files, timers
//! and remote calls as any loop does (and the option changes nothing on epoll).

mod support;

use std::time::{Duration, Instant};

use ringloop::net::{TcpListener, TcpStream};
use ringloop::{Backend, EventLoop};
use support::{guard, on_each_backend};

#[test]
fn a_polled_ring_runs_sockets_files_timers_and_remote_calls() {
    on_each_backend(|backend| {
        let built = EventLoop::builder()
            .backend(backend)
            .sqpoll(Duration::from_millis(5))
            .build();
        let lp = match built {
            Ok(lp) => lp,
            // A kernel may refuse the polling thread (privileges, old kernels): the
            // error is the kernel's, and that is all the option promises.
            Err(e) if backend == Backend::IoUring => {
                eprintln!("no SQPOLL here ({e}): nothing else to check");
                return;
            }
            Err(e) => panic!("{backend:?}: {e}"),
        };
        if backend == Backend::IoUring {
            assert!(
                lp.backend_description().contains("SQPOLL"),
                "{}",
                lp.backend_description()
            );
        }
        let remote = lp.remote();
        let dir = std::env::temp_dir().join(format!(
            "ringloop-sqpoll-{}-{backend:?}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        let total = lp.run_until_complete(async {
            // A megabyte through a TCP connection, in both directions.
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = ringloop::spawn(async move {
                let (s, _) = listener.accept().await.unwrap();
                let mut buf = Vec::with_capacity(64 * 1024);
                let mut total = 0;
                loop {
                    let (n, b) = s.read(buf).await;
                    let n = n.unwrap();
                    if n == 0 {
                        break total;
                    }
                    total += n;
                    let (w, b) = s.write_all(b).await;
                    w.unwrap();
                    buf = b;
                    buf.clear(); // a read fills from the start; the length is the count
                }
            });
            let client = TcpStream::connect(addr).await.unwrap();
            let (rd, wr) = client.into_split();
            let writer = ringloop::spawn(async move {
                for _ in 0..16 {
                    wr.write_all(vec![7u8; 64 * 1024]).await.0.unwrap();
                }
                wr.shutdown().await.unwrap();
            });
            let mut echoed = 0;
            let mut buf = Vec::with_capacity(64 * 1024);
            loop {
                let (n, b) = guard("the echo", rd.read(buf)).await;
                let n = n.unwrap();
                if n == 0 {
                    break;
                }
                assert!(b[..n].iter().all(|&x| x == 7));
                echoed += n;
                buf = b;
                buf.clear();
            }
            writer.await.unwrap();
            assert_eq!(server.await.unwrap(), 1 << 20);
            // A file, a timer and a call from another thread.
            ringloop::fs::write(&path, b"polled").await.unwrap();
            assert_eq!(ringloop::fs::read(&path).await.unwrap(), b"polled");
            let start = Instant::now();
            ringloop::sleep(Duration::from_millis(3)).await;
            assert!(start.elapsed() >= Duration::from_millis(3));
            let (tx, rx) = ringloop::sync::oneshot::channel();
            std::thread::spawn(move || {
                remote
                    .call_soon_threadsafe(move || tx.send(1).unwrap())
                    .unwrap()
            });
            echoed + guard("the remote call", rx).await.unwrap()
        });
        assert_eq!(total, (1 << 20) + 1, "{backend:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    });
}
