//! Subprocesses on the loop (asyncio's `create_subprocess_exec`): run a command for its
//! output, then talk to `sort` through its pipes, while the loop stays free.
//!
//! ```text
//! cargo run --example subprocess
//! ```

use std::io;

use ringloop::process::{Command, Stdio};

fn main() -> io::Result<()> {
    ringloop::run(async {
        // The whole output, as std's `output()`, awaited.
        let out = Command::new("uname").arg("-sr").output().await?;
        print!("uname says: {}", String::from_utf8_lossy(&out.stdout));

        // A conversation: write to sort's stdin, close it, read its stdout.
        let mut sort = Command::new("sort")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = sort.stdin.take().expect("piped");
        let (written, _) = stdin.write_all(b"pear\napple\nfig\n").await;
        written?;
        drop(stdin); // end of file: sort can answer
        let stdout = sort.stdout.take().expect("piped");
        let (n, sorted) = stdout.read(Vec::with_capacity(64)).await;
        print!("sorted:\n{}", String::from_utf8_lossy(&sorted[..n?]));
        let status = sort.wait().await?;
        println!("sort exited with {status}");

        // A program that does not exist: the OS's error, nothing left behind.
        let missing = Command::new("no-such-program-ringloop").spawn();
        println!(
            "a missing program: {}",
            missing.expect_err("missing").kind()
        );
        Ok(())
    })
}
