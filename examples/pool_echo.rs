//! A two-loop echo server: one loop per core, each with its own listener on the same
//! port (`SO_REUSEPORT`), the kernel spreading the connections among them.
//!
//! ```text
//! cargo run --release --example pool_echo -- 127.0.0.1:7000 2
//! ```
//!
//! Each loop prints how many connections it served when it stops (after the count of
//! connections given as the third argument, 100 by default, arrived in all). Try it with
//! many short `nc 127.0.0.1 7000` sessions, or with the built-in client: with no
//! address argument it starts the server on a free port and connects 100 clients to it.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ringloop::LoopPool;
use ringloop::net::{ListenOptions, TcpListener, TcpStream};

/// Serves echo on `addr` until `total` connections arrived over all loops; how many this
/// loop served.
async fn serve(addr: SocketAddr, total: usize, seen: Arc<AtomicUsize>) -> usize {
    let listener = TcpListener::bind_with(addr, ListenOptions::new().reuse_port(true))
        .expect("bind with SO_REUSEPORT");
    let mut served = 0;
    while seen.load(Ordering::SeqCst) < total {
        let Ok(accepted) = ringloop::timeout(Duration::from_millis(20), listener.accept()).await
        else {
            continue; // look at the count again
        };
        let (stream, _) = accepted.expect("accept");
        seen.fetch_add(1, Ordering::SeqCst);
        served += 1;
        ringloop::spawn(async move {
            let mut buf = Vec::with_capacity(4096);
            while let (Ok(n), b) = stream.read(buf).await {
                if n == 0 {
                    break;
                }
                let (written, b) = stream.write_all(b).await;
                if written.is_err() {
                    break;
                }
                buf = b;
                buf.clear();
            }
        });
    }
    served
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let given: Option<SocketAddr> = args.next().map(|a| a.parse().expect("an address"));
    let loops: usize = args.next().map_or(2, |n| n.parse().expect("a loop count"));
    let total: usize = args
        .next()
        .map_or(100, |n| n.parse().expect("a connection count"));
    // A free port when none was given: bind once to learn it (SO_REUSEPORT lets the
    // loops bind it too), then let the probe go.
    let probe = TcpListener::bind_with(
        given.unwrap_or_else(|| "127.0.0.1:0".parse().unwrap()),
        ListenOptions::new().reuse_port(true),
    )?;
    let addr = probe.local_addr()?;
    let pool = LoopPool::builder().threads(loops).pin_cpus(true).build()?;
    println!("{loops} loops serving echo on {addr}");
    let seen = Arc::new(AtomicUsize::new(0));
    let counted = seen.clone();
    let server =
        std::thread::spawn(move || pool.run_each(move |_| serve(addr, total, counted.clone())));
    drop(probe);
    if given.is_none() {
        // The built-in client: `total` connections, one round trip each.
        ringloop::run(async move {
            for i in 0..total {
                let stream = loop {
                    match TcpStream::connect(addr).await {
                        Ok(stream) => break stream,
                        // The loops may not have bound yet.
                        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                            ringloop::sleep(Duration::from_millis(5)).await;
                        }
                        Err(e) => return Err(e),
                    }
                };
                let (written, _) = stream.write_all(format!("hello {i}\n").into_bytes()).await;
                written?;
                let (n, _) = stream.read(Vec::with_capacity(64)).await;
                n?;
            }
            Ok::<(), io::Error>(())
        })?;
    }
    let per_loop = server.join().expect("the pool's thread");
    for (index, served) in per_loop.iter().enumerate() {
        println!("loop {index} served {served} connection(s)");
    }
    Ok(())
}
