//! A TCP echo client: sends a few messages to an echo server and checks each reply.
//!
//! `cargo run --release --example echo_client -- 127.0.0.1:7000 [rounds]`

use std::time::Instant;

use ringloop::net::{IoBuf, TcpStream};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:7000".to_string());
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    ringloop::run(async move {
        let stream = TcpStream::connect(&addr).await?;
        stream.set_nodelay(true)?;
        let started = Instant::now();
        let mut reply = vec![0u8; 64];
        for i in 0..rounds {
            let message = format!("message {i:>10} of the echo client").into_bytes();
            let len = message.len();
            let (res, _) = stream.write_all(message).await;
            res?;
            // Read exactly `len` bytes: a view of that much of the reply buffer.
            let (res, r) = stream.read_exact(reply.slice(..len)).await;
            res?;
            reply = r.into_inner();
            assert_eq!(
                &reply[..len],
                format!("message {i:>10} of the echo client").as_bytes()
            );
        }
        let elapsed = started.elapsed();
        println!(
            "{rounds} round trips in {elapsed:.2?} ({:.0} per second)",
            rounds as f64 / elapsed.as_secs_f64()
        );
        Ok(())
    })
}
