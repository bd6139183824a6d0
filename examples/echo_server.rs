//! A TCP echo server: every connection gets its own task, which writes back what it
//! reads until the peer closes.
//!
//! Run `cargo run --release --example echo_server -- 127.0.0.1:7000`, then talk to it
//! with `cargo run --release --example echo_client -- 127.0.0.1:7000`.

use ringloop::net::{IoBuf, TcpListener, TcpStream};

async fn echo(stream: TcpStream) -> std::io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let (res, b) = stream.read(buf).await;
        let n = res?;
        if n == 0 {
            return Ok(());
        }
        let (res, b) = stream.write_all(b.slice(..n)).await;
        res?;
        buf = b.into_inner();
    }
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7000".to_string());
    ringloop::run(async move {
        let listener = TcpListener::bind(&addr)?;
        println!("echoing on {}", listener.local_addr()?);
        loop {
            let (stream, peer) = listener.accept().await?;
            stream.set_nodelay(true)?;
            ringloop::spawn(async move {
                if let Err(e) = echo(stream).await {
                    eprintln!("{peer}: {e}");
                }
            });
        }
    })
}
