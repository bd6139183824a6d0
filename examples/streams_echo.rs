//! A line echo server and its client with asyncio's streams: `start_server` and
//! `open_connection`, `readline`, `write` and `drain`.
//!
//! ```text
//! cargo run --example streams_echo                    # server and client, then exits
//! cargo run --example streams_echo -- 127.0.0.1:7000  # serves until interrupted
//! ```
//!
//! Without an argument it serves on a free loopback port, runs a client that sends a
//! few lines and checks each echo, then shuts the server down gracefully (`close`,
//! `wait_closed`). With an address it only serves (try `nc 127.0.0.1 7000`).

use std::io;

use ringloop::net::{StreamReader, StreamWriter, open_connection, start_server};

/// Echoes each line back until the client closes, its connection fails, or a line is
/// longer than the reader's limit (64 KiB).
async fn handle(mut reader: StreamReader, writer: StreamWriter) {
    let peer = writer.peer_addr().ok();
    loop {
        match reader.readline().await {
            Ok(line) if line.is_empty() => break, // end-of-file
            Ok(line) => {
                writer.write(&line);
                // Back-pressure: wait while a slow client lets too much pile up.
                if let Err(e) = writer.drain().await {
                    eprintln!("{peer:?}: {e}");
                    break;
                }
            }
            Err(e) => {
                eprintln!("{peer:?}: {e}");
                break;
            }
        }
    }
    writer.close();
}

fn main() -> io::Result<()> {
    let serve_only = std::env::args().nth(1);
    ringloop::run(async move {
        let addr = serve_only.clone().unwrap_or_else(|| "127.0.0.1:0".into());
        let server = start_server(addr, handle).await?;
        let addr = server.local_addr()?;
        println!("echo server on {addr}");
        if serve_only.is_some() {
            // Serves until the process is interrupted.
            std::future::pending::<()>().await;
        }

        let (mut reader, writer) = open_connection(addr).await?;
        for line in ["hello\n", "streams on io_uring or epoll\n", "bye\n"] {
            writer.write(line.as_bytes());
            writer.drain().await?;
            let echo = reader.readline().await?;
            assert_eq!(echo, line.as_bytes());
            print!("echoed: {}", String::from_utf8_lossy(&echo));
        }
        writer.close();
        writer.wait_closed().await?;

        server.close();
        server.wait_closed().await;
        println!("server closed");
        Ok(())
    })
}
