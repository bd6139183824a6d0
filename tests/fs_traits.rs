//! `fs::File` through the poll-style traits (features `tokio-io` and `futures-io`), on
//! both backends: sequential reads and writes at the file's own position, exactly as
//! blocking `std::fs::File` I/O would leave the file; read-ahead that seeks and writes
//! account for; write errors reported by flush; tokio-util codecs over a file; a file
//! dropped with an operation in flight.

mod support;

use std::io::SeekFrom;
use std::path::PathBuf;
use std::time::Duration;

use ringloop::Backend;
use ringloop::fs::{File, OpenOptions};
use support::{exclusive_fds, fd_count, for_each_backend, guard, shared_fds};

fn scratch(test: &str, backend: Backend) -> PathBuf {
    support::socket_dir(&format!("fs-traits-{test}-{backend:?}"))
}

/// `path` opened for reading and writing (and created if `create`).
async fn open_rw(path: &std::path::Path, create: bool) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .open(path)
        .await
        .expect("open for reading and writing")
}

/// Bytes that differ at every offset (a misplaced chunk shows).
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn tokio_writes_then_reads_back_every_byte_in_order() {
    use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
    let _fds = shared_fds();
    for_each_backend(|lp| {
        let dir = scratch("tokio-roundtrip", lp.backend());
        let path = dir.join("data");
        let data = pattern(5 << 20); // more than one 2 MiB chunk per write
        let read_back = lp.run_until_complete(async {
            let mut file = File::create(&path).await.expect("create");
            // One large write, then many small ones, as a codec would.
            file.write_all(&data[..(4 << 20) + 3])
                .await
                .expect("write_all");
            for chunk in data[(4 << 20) + 3..].chunks(1000) {
                file.write_all(chunk).await.expect("small writes");
            }
            file.flush().await.expect("flush");
            assert_eq!(file.stream_position().await.unwrap(), data.len() as u64);
            assert_eq!(file.seek(SeekFrom::Start(0)).await.unwrap(), 0);
            let mut back = Vec::new();
            file.read_to_end(&mut back).await.expect("read_to_end");
            back
        });
        assert!(
            read_back == data,
            "{:?}: the bytes read back differ",
            lp.backend()
        );
        assert_eq!(std::fs::read(&path).unwrap(), data, "on disk");
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

#[test]
fn read_ahead_is_given_back_to_seeks_and_writes() {
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
    let _fds = shared_fds();
    for_each_backend(|lp| {
        let dir = scratch("read-ahead", lp.backend());
        let path = dir.join("data");
        std::fs::write(&path, b"0123456789abcdefghij").unwrap();
        lp.run_until_complete(async {
            let mut file = open_rw(&path, false).await;
            // Read-ahead: a poll with a 16-byte buffer starts a 16-byte read; the
            // caller comes back with a 2-byte buffer, then a 1-byte one, and the rest
            // stays in the file's buffer.
            let mut big = [0u8; 16];
            std::future::poll_fn(|cx| {
                let mut buf = tokio::io::ReadBuf::new(&mut big);
                let polled = std::pin::Pin::new(&mut file).poll_read(cx, &mut buf);
                assert!(
                    polled.is_pending(),
                    "a file read waits for the kernel or the pool"
                );
                std::task::Poll::Ready(())
            })
            .await;
            let mut two = [0u8; 2];
            file.read_exact(&mut two).await.unwrap();
            assert_eq!(&two, b"01");
            let mut one = [0u8; 1];
            file.read_exact(&mut one).await.unwrap();
            assert_eq!(&one, b"2");
            // Position is 3 as std would have it, whatever was read ahead.
            assert_eq!(file.stream_position().await.unwrap(), 3);
            // A write lands at the logical position.
            file.write_all(b"XY").await.unwrap();
            file.flush().await.unwrap();
            let n = file.read(&mut big).await.unwrap();
            assert_eq!(&big[..n], b"56789abcdefghij");
            // Relative seeks count from the logical position too.
            file.seek(SeekFrom::Start(10)).await.unwrap();
            file.read_exact(&mut one).await.unwrap(); // 'a', maybe with read-ahead
            assert_eq!(&one, b"a");
            assert_eq!(file.seek(SeekFrom::Current(-3)).await.unwrap(), 8);
            file.read_exact(&mut two).await.unwrap();
            assert_eq!(&two, b"89");
            assert_eq!(file.seek(SeekFrom::End(-2)).await.unwrap(), 18);
            let mut rest = Vec::new();
            file.read_to_end(&mut rest).await.unwrap();
            assert_eq!(rest, b"ij");
            assert_eq!(file.read(&mut big).await.unwrap(), 0, "end of file, again");
        });
        assert_eq!(std::fs::read(&path).unwrap(), b"012XY56789abcdefghij");
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

#[test]
fn a_large_read_then_small_reads_hand_out_read_ahead_in_order() {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let _fds = shared_fds();
    for_each_backend(|lp| {
        let dir = scratch("small-reads", lp.backend());
        let path = dir.join("data");
        let data = pattern(100_000);
        std::fs::write(&path, &data).unwrap();
        lp.run_until_complete(async {
            let mut file = File::open(&path).await.expect("open");
            // One big read, then many 7-byte ones: each a read of its own at the
            // file's position, handed out in order.
            let mut first = vec![0u8; 50_000];
            let n = file.read(&mut first).await.unwrap();
            assert!(n > 0);
            assert_eq!(&first[..n], &data[..n]);
            let mut pos = n;
            let mut small = [0u8; 7];
            while pos < data.len() {
                let got = file.read(&mut small).await.unwrap();
                assert!(got > 0, "data ended early at {pos}");
                assert_eq!(&small[..got], &data[pos..pos + got], "at {pos}");
                pos += got;
            }
            assert_eq!(file.read(&mut small).await.unwrap(), 0);
            assert_eq!(file.stream_position().await.unwrap(), data.len() as u64);
        });
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

#[test]
fn futures_io_round_trips_and_seeks() {
    use futures_util::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
    let _fds = shared_fds();
    for_each_backend(|lp| {
        let dir = scratch("futures", lp.backend());
        let path = dir.join("data");
        let data = pattern(300_000);
        lp.run_until_complete(async {
            let mut file = open_rw(&path, true).await;
            file.write_all(&data).await.unwrap();
            file.close().await.unwrap(); // flushes; the file stays usable
            assert_eq!(file.seek(SeekFrom::Start(1000)).await.unwrap(), 1000);
            let mut back = Vec::new();
            file.read_to_end(&mut back).await.unwrap();
            assert!(back == data[1000..], "{:?}", lp.backend());
        });
        assert_eq!(std::fs::read(&path).unwrap(), data);
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

#[test]
fn a_write_error_is_reported_by_flush_with_the_os_error() {
    use tokio::io::AsyncWriteExt;
    let _fds = shared_fds();
    for_each_backend(|lp| {
        let dir = scratch("write-error", lp.backend());
        let path = dir.join("read-only");
        std::fs::write(&path, b"x").unwrap();
        lp.run_until_complete(async {
            let mut file = File::open(&path).await.expect("open for reading");
            // Reported written (copied), then refused by the kernel: EBADF.
            let first = file.write(b"no").await;
            let err = match first {
                Ok(n) => {
                    assert_eq!(n, 2);
                    file.flush()
                        .await
                        .expect_err("flush reports the failed write")
                }
                Err(e) => e,
            };
            assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{err}");
            file.flush().await.expect("reported once");
        });
        assert_eq!(std::fs::read(&path).unwrap(), b"x", "nothing written");
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

#[test]
fn lines_codec_reads_a_file() {
    use futures_util::StreamExt;
    use tokio_util::codec::{FramedRead, LinesCodec};
    let _fds = shared_fds();
    for_each_backend(|lp| {
        let dir = scratch("lines", lp.backend());
        let path = dir.join("config");
        let text: String = (0..2000).map(|i| format!("key{i} = {i}\n")).collect();
        std::fs::write(&path, &text).unwrap();
        let lines = lp.run_until_complete(async {
            let file = File::open(&path).await.expect("open");
            let mut framed = FramedRead::new(file, LinesCodec::new());
            let mut lines = Vec::new();
            while let Some(line) = framed.next().await {
                lines.push(line.expect("a line"));
            }
            lines
        });
        assert_eq!(lines.len(), 2000);
        assert_eq!(lines[1999], "key1999 = 1999");
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

#[test]
fn a_file_dropped_mid_operation_leaks_nothing() {
    use std::pin::Pin;
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
    let _fds = exclusive_fds();
    let before = fd_count();
    for_each_backend(|lp| {
        let dir = scratch("dropped", lp.backend());
        let path = dir.join("f");
        std::fs::write(&path, vec![3u8; 1 << 20]).unwrap();
        lp.run_until_complete(async {
            for round in 0..20 {
                let mut file = open_rw(&path, false).await;
                // One poll starts an operation; then the file goes.
                std::future::poll_fn(|cx| {
                    if round % 2 == 0 {
                        let mut space = vec![0u8; 64 * 1024];
                        let mut buf = ReadBuf::new(&mut space);
                        let _ = Pin::new(&mut file).poll_read(cx, &mut buf);
                    } else {
                        let _ = Pin::new(&mut file).poll_write(cx, &[5u8; 64 * 1024]);
                    }
                    std::task::Poll::Ready(())
                })
                .await;
                drop(file);
            }
            guard(
                "a turn after the drops",
                ringloop::sleep(Duration::from_millis(20)),
            )
            .await;
        });
        lp.run_until_complete(ringloop::sleep(Duration::from_millis(20)));
        let stats = lp.stats();
        assert_eq!(stats.buffers_held, 0, "{:?}", lp.backend());
        assert_eq!(stats.ops_in_flight, 0, "{:?}", lp.backend());
        std::fs::remove_dir_all(&dir).unwrap();
    });
    let deadline = std::time::Instant::now() + support::HANG;
    while fd_count() != before && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(fd_count(), before, "descriptors leaked");
}

/// A write reported done (copied) may still be on its way to the kernel when the `File`
/// is dropped outside the loop; the descriptor must stay open until it ran, so the
/// bytes land in that file and never in one opened afterwards under the same number.
#[test]
fn a_pending_write_of_a_file_dropped_outside_the_loop_lands_in_that_file() {
    use tokio::io::AsyncWriteExt;
    let _fds = exclusive_fds();
    support::on_each_backend(|backend| {
        let dir = scratch("dropped-outside", backend);
        let (first, second) = (dir.join("first"), dir.join("second"));
        let lp = support::new_loop(backend);
        for round in 0..20 {
            let mut file = lp.run_until_complete(async { open_rw(&first, true).await });
            lp.run_until_complete(async {
                file.write_all(format!("{round:02}").as_bytes())
                    .await
                    .unwrap();
            });
            drop(file); // outside the loop, with the write maybe not yet submitted
            let other = std::fs::File::create(&second).unwrap(); // may reuse the number
            lp.run_until_complete(ringloop::sleep(Duration::from_millis(2)));
            drop(other);
            assert_eq!(
                std::fs::read(&second).unwrap(),
                b"",
                "{backend:?}: round {round}: a write reached another file"
            );
        }
        let data = std::fs::read_to_string(&first).unwrap();
        assert_eq!(data, "19", "{backend:?}: the last round's write");
        drop(lp);
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

/// The sequential traits under injected faults (failed turns, delays, reordering,
/// duplicated and stray completions, `EINTR`/`EAGAIN` from operations): every byte
/// written comes back, in order, on both backends.
#[test]
fn sequential_io_survives_injected_faults() {
    use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
    let _fds = shared_fds();
    support::on_each_backend(|backend| {
        for seed in [3u64, 17, 2026] {
            let dir = scratch(&format!("chaos-{seed}"), backend);
            let path = dir.join("data");
            let lp = ringloop::EventLoop::builder()
                .backend(backend)
                .fault_injection(seed, ringloop::FaultPlan::chaos())
                .build()
                .expect("a faulty loop");
            let data = pattern(700_000);
            let back = lp.run_until_complete(async {
                let mut file = open_rw(&path, true).await;
                for chunk in data.chunks(50_000) {
                    guard("a write", file.write_all(chunk))
                        .await
                        .expect("write");
                }
                guard("the flush", file.flush()).await.expect("flush");
                file.seek(SeekFrom::Start(0)).await.expect("seek");
                let mut back = Vec::new();
                guard("the read", file.read_to_end(&mut back))
                    .await
                    .expect("read");
                back
            });
            assert!(back == data, "{backend:?} seed {seed}: the bytes differ");
            drop(lp);
            std::fs::remove_dir_all(&dir).unwrap();
        }
    });
}

/// A write reported done, then the loop closes at once (no flush, the `File` dropped
/// with the run's future): the bytes land, on both backends (the ring's close waits for
/// file writes instead of cancelling them; the blocking pool runs a queued write job
/// instead of dropping it, and one already running finishes on its thread).
#[test]
fn writes_reported_done_land_even_when_the_loop_closes_at_once() {
    use tokio::io::AsyncWriteExt;
    let _fds = shared_fds();
    support::on_each_backend(|backend| {
        let dir = scratch("close-at-once", backend);
        for round in 0..10 {
            let path = dir.join(format!("f{round}"));
            let data = pattern(3 << 20); // more than one 2 MiB operation
            let lp = support::new_loop(backend);
            lp.run_until_complete(async {
                let mut file = open_rw(&path, true).await;
                file.write_all(&data).await.expect("write_all");
                // No flush: the last write may still be in flight or queued.
            });
            drop(lp); // closes the loop
            // On io_uring the close waited for the write. On the blocking pool a write
            // a pool thread had already started finishes there (the close waits for no
            // blocking job): it lands, maybe just after the close returned.
            let deadline = std::time::Instant::now() + support::HANG;
            let mut on_disk = std::fs::read(&path).unwrap();
            while on_disk != data && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
                on_disk = std::fs::read(&path).unwrap();
            }
            assert!(
                on_disk == data,
                "{backend:?} round {round}: {} of {} bytes landed",
                on_disk.len(),
                data.len()
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

/// A fresh named pipe in a scratch directory.
fn fifo(test: &str, backend: Backend) -> (PathBuf, PathBuf) {
    let dir = scratch(test, backend);
    let path = dir.join("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .expect("run mkfifo");
    assert!(made.success(), "mkfifo failed");
    (dir, path)
}

/// Who opens a named pipe first: the test's plain thread (the peer) or the loop.
#[derive(Clone, Copy, Debug)]
enum First {
    Peer,
    Loop,
}

impl First {
    /// Sleeps on the side that comes second, so the other has started to open.
    fn delay(self, side: First) -> Duration {
        match (self, side) {
            (First::Peer, First::Loop) | (First::Loop, First::Peer) => Duration::from_millis(50),
            _ => Duration::ZERO,
        }
    }
}

/// A named pipe opened as a `File` for writing (a log shipper's FIFO), with its reader
/// there first or coming later: the open waits for the reader as std's does (io_uring's
/// own open answers ENXIO when no reader is there, so it is made again on the blocking
/// pool; a reader already waiting keeps the ring's open), and writes at the file's
/// position reach the reader in order, on both backends. Not a regular file, so on
/// io_uring its writes go through the ring, never the blocking pool: a full pipe waits
/// in the kernel, holding no thread.
#[test]
fn writes_to_a_named_pipe_arrive_in_order() {
    use std::io::Read;
    use tokio::io::AsyncWriteExt;
    let _fds = shared_fds();
    for first in [First::Loop, First::Peer] {
        for_each_backend(|lp| {
            let (dir, path) = fifo("fifo-write", lp.backend());
            let data = pattern(300 << 10); // more than a pipe holds: the writer waits
            let reader = {
                let path = path.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(first.delay(First::Peer));
                    let mut back = Vec::new();
                    std::fs::File::open(&path)
                        .and_then(|mut f| f.read_to_end(&mut back))
                        .expect("read the pipe");
                    back
                })
            };
            let mut pipe = lp.run_until_complete(guard("opening a named pipe", async {
                ringloop::sleep(first.delay(First::Loop)).await;
                OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .await
                    .expect("open the pipe")
            }));
            let opened = lp.stats().blocking_jobs;
            lp.run_until_complete(guard("writing a named pipe", async {
                for chunk in data.chunks(40 << 10) {
                    pipe.write_all(chunk).await.expect("write");
                }
                pipe.flush().await.expect("flush");
            }));
            let write_jobs = lp.stats().blocking_jobs - opened;
            drop(pipe);
            let back = reader.join().expect("reader");
            assert_eq!(
                back.len(),
                data.len(),
                "{:?}, {first:?} first",
                lp.backend()
            );
            assert_eq!(back, data, "{:?}, {first:?} first", lp.backend());
            if lp.backend() == Backend::IoUring {
                assert_eq!(write_jobs, 0, "the pipe's writes went through the ring");
            }
            std::fs::remove_dir_all(&dir).expect("cleanup");
        });
    }
}

/// A named pipe opened for reading, with its writer there first (waiting in its open)
/// or coming later: the reader sees every byte the writer sends, and the end only
/// when it leaves, on both backends.
#[test]
fn reading_a_named_pipe_waits_for_its_writer() {
    use std::io::Write;
    use tokio::io::AsyncReadExt;
    let _fds = shared_fds();
    for first in [First::Loop, First::Peer] {
        for_each_backend(|lp| {
            let (dir, path) = fifo("fifo-read", lp.backend());
            let data = pattern(100 << 10);
            let writer = {
                let (path, data) = (path.clone(), data.clone());
                std::thread::spawn(move || {
                    std::thread::sleep(first.delay(First::Peer));
                    let mut pipe = std::fs::OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .expect("open the pipe for writing");
                    pipe.write_all(&data).expect("write the pipe");
                })
            };
            let back = lp.run_until_complete(guard("reading a named pipe", async {
                ringloop::sleep(first.delay(First::Loop)).await;
                let mut pipe = File::open(&path).await.expect("open the pipe");
                let mut back = Vec::new();
                pipe.read_to_end(&mut back).await.expect("read");
                back
            }));
            writer.join().expect("writer");
            assert_eq!(
                back.len(),
                data.len(),
                "{:?}, {first:?} first",
                lp.backend()
            );
            assert_eq!(back, data, "{:?}, {first:?} first", lp.backend());
            std::fs::remove_dir_all(&dir).expect("cleanup");
        });
    }
}
