//! A protocol echo server: asyncio's `create_server(EchoProtocol)`.
//!
//! ```text
//! cargo run --example protocol_echo -- 127.0.0.1:7000
//! ```
//!
//! Each connection gets an `Echo` protocol; `data_received` writes what came straight
//! back through the transport. No task, no future and no buffer per connection: reads
//! arrive from a multishot receive into the loop's provided buffers (io_uring) or on
//! readiness (epoll).

use std::io;

use ringloop::net::{Protocol, TcpListener, Transport, serve};

struct Echo {
    transport: Option<Transport>,
}

impl Protocol for Echo {
    fn connection_made(&mut self, transport: Transport) {
        self.transport = Some(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        if let Some(t) = &self.transport {
            t.write(data);
        }
    }

    fn connection_lost(&mut self, error: Option<io::Error>) {
        if let Some(e) = error {
            eprintln!("connection lost: {e}");
        }
    }
}

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7000".to_string());
    ringloop::run(async move {
        let listener = TcpListener::bind(&addr)?;
        println!("protocol echo on {}", listener.local_addr()?);
        serve(listener, || Echo { transport: None }).await
    })
}
