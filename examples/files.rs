//! Files on the loop: write a file, read it back at positions, count its lines, all
//! while a ticker keeps running (on io_uring through the ring, on epoll on the blocking
//! pool, never blocking the loop).
//!
//! ```text
//! cargo run --example files -- [PATH]
//! ```

use std::io;
use std::time::Duration;

use ringloop::fs::{self, File};

fn main() -> io::Result<()> {
    let path = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("ringloop-files-example.txt"));
    ringloop::run(async move {
        let ticker = ringloop::spawn(async {
            let mut ticks = 0u32;
            loop {
                ringloop::sleep(Duration::from_millis(1)).await;
                ticks += 1;
                if ticks % 100 == 0 {
                    println!("(the loop ticked {ticks} times meanwhile)");
                }
            }
        });

        let text: String = (1..=10_000).map(|i| format!("line {i}\n")).collect();
        fs::write(&path, &text).await?;
        let meta = fs::metadata(&path).await?;
        println!("wrote {} bytes to {}", meta.len(), path.display());

        // Positional reads with an owned buffer: the buffer comes back with the count.
        let file = File::open(&path).await?;
        let (n, buf) = file.read_at(Vec::with_capacity(16), 7).await;
        println!(
            "16 bytes at offset 7: {:?}",
            String::from_utf8_lossy(&buf[..n?])
        );

        let whole = fs::read(&path).await?;
        let lines = whole.iter().filter(|&&b| b == b'\n').count();
        println!("read it back whole: {lines} lines, {} bytes", whole.len());
        assert_eq!(whole, text.as_bytes());

        fs::remove_file(&path).await?;
        ticker.cancel();
        Ok(())
    })
}
