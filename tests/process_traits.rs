//! A child's piped stdio through the poll-style traits (features `tokio-io` and
//! `futures-io`), on both backends: a megabyte each way under back-pressure, end of file
//! by shutting stdin down, a lines codec over stdout, and writes after the shutdown
//! refused without touching the closed descriptor.

mod support;

use ringloop::process::{Command, Stdio};
use support::{for_each_backend, guard, shared_fds};

/// Bytes that differ at every offset, so a lost or misplaced chunk shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 13 % 251) as u8).collect()
}

#[test]
fn tokio_io_pipes_carry_a_megabyte_through_cat_and_shutdown_ends_it() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _fds = shared_fds();
    for_each_backend(|lp| {
        let data = pattern(1 << 20); // far more than a pipe holds: both sides wait
        let (status, echoed) = lp.run_until_complete(async {
            let mut child = Command::new("cat")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("cat");
            let mut stdin = child.stdin.take().unwrap();
            let mut stdout = child.stdout.take().unwrap();
            let input = data.clone();
            let writer = ringloop::spawn(async move {
                // The inherent (owned-buffer) `write_all` takes the plain name.
                AsyncWriteExt::write_all(&mut stdin, &input)
                    .await
                    .expect("write_all");
                stdin
                    .shutdown()
                    .await
                    .expect("shutdown: cat reads end of file");
            });
            let mut echoed = Vec::new();
            guard("reading cat's output", stdout.read_to_end(&mut echoed))
                .await
                .expect("read_to_end");
            writer.await.unwrap();
            let status = guard("cat's exit", child.wait()).await.expect("wait");
            (status, echoed)
        });
        assert!(status.success(), "{status:?}");
        assert!(echoed == data, "{:?}: cat's output differs", lp.backend());
    });
}

#[test]
fn futures_io_pipes_carry_data_and_close_ends_the_input() {
    use futures_util::io::{AsyncReadExt, AsyncWriteExt};
    let _fds = shared_fds();
    for_each_backend(|lp| {
        let data = pattern(300_000);
        let (status, echoed) = lp.run_until_complete(async {
            let mut child = Command::new("cat")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("cat");
            let mut stdin = child.stdin.take().unwrap();
            let mut stdout = child.stdout.take().unwrap();
            let input = data.clone();
            let writer = ringloop::spawn(async move {
                AsyncWriteExt::write_all(&mut stdin, &input)
                    .await
                    .expect("write_all");
                stdin.close().await.expect("close");
            });
            let mut echoed = Vec::new();
            guard("reading", stdout.read_to_end(&mut echoed))
                .await
                .expect("read");
            writer.await.unwrap();
            (guard("exit", child.wait()).await.expect("wait"), echoed)
        });
        assert!(status.success());
        assert!(echoed == data, "{:?}", lp.backend());
    });
}

#[test]
fn a_lines_codec_reads_a_childs_stdout_and_stderr() {
    use futures_util::StreamExt;
    use tokio_util::codec::{FramedRead, LinesCodec};
    let _fds = shared_fds();
    for_each_backend(|lp| {
        let (out, err) = lp.run_until_complete(async {
            let mut child = Command::new("sh")
                .args(["-c", "seq 1 3000; echo oops >&2"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("sh");
            let out = FramedRead::new(child.stdout.take().unwrap(), LinesCodec::new());
            let err = FramedRead::new(child.stderr.take().unwrap(), LinesCodec::new());
            let out: Vec<String> = guard("stdout", out.map(|l| l.unwrap()).collect()).await;
            let err: Vec<String> = guard("stderr", err.map(|l| l.unwrap()).collect()).await;
            assert!(guard("exit", child.wait()).await.unwrap().success());
            (out, err)
        });
        assert_eq!(out.len(), 3000);
        assert_eq!(out[0], "1");
        assert_eq!(out[2999], "3000");
        assert_eq!(err, ["oops"]);
    });
}

#[test]
fn writes_after_shutdown_are_refused_with_broken_pipe() {
    use tokio::io::AsyncWriteExt;
    let _fds = shared_fds();
    for_each_backend(|lp| {
        lp.run_until_complete(async {
            let mut child = Command::new("cat")
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .expect("cat");
            let mut stdin = child.stdin.take().unwrap();
            AsyncWriteExt::write_all(&mut stdin, b"hello\n")
                .await
                .unwrap();
            stdin.shutdown().await.unwrap();
            let err = AsyncWriteExt::write_all(&mut stdin, b"more")
                .await
                .unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "{err}");
            // The owned-buffer API sees the same.
            let (res, _) = ringloop::process::ChildStdin::write_all(&stdin, b"owned").await;
            assert_eq!(res.unwrap_err().kind(), std::io::ErrorKind::BrokenPipe);
            assert!(guard("exit", child.wait()).await.unwrap().success());
        });
    });
}
