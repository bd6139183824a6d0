//! Try-first socket I/O (`Builder::try_first_io`): a read or write on a ready socket
//! finishes on its first poll, with exactly the result the submitted path gives; on a
//! socket that is not ready it is submitted as usual. Every test runs on each backend.

mod support;

use std::net::Shutdown;
use std::task::Poll;

use ringloop::net::{IoBuf, UnixStream};
use ringloop::{Backend, EventLoop};
use support::{on_each_backend, poll_once};

fn loop_with(backend: Backend, try_first: bool) -> EventLoop {
    EventLoop::builder()
        .backend(backend)
        .try_first_io(try_first)
        .build()
        .unwrap_or_else(|e| panic!("building a loop on {backend:?}: {e}"))
}

/// What one scripted exchange returns, to compare the two paths.
#[derive(Debug, PartialEq)]
struct Outcome {
    first_poll_ready: Vec<bool>,
    results: Vec<Result<usize, i32>>,
    buffers: Vec<Vec<u8>>,
}

/// Data waiting, a read into a slice of a partly filled `Vec`, a read into a boxed
/// slice, a read of more than is there, end-of-file, and a write to a closed peer.
fn scripted(backend: Backend, try_first: bool) -> Outcome {
    let lp = loop_with(backend, try_first);
    lp.run_until_complete(async {
        let (a, b) = UnixStream::pair().unwrap();
        let mut out = Outcome {
            first_poll_ready: Vec::new(),
            results: Vec::new(),
            buffers: Vec::new(),
        };
        let (res, _) = a.write_all(b"hello, try-first".to_vec()).await;
        res.unwrap();

        // A `Vec` with 2 bytes already, read into 2..7 of its capacity.
        let mut buf = Vec::with_capacity(16);
        buf.extend_from_slice(b"xy");
        let mut op = b.read(buf.slice(2..7));
        let first = poll_once(&mut op).await;
        out.first_poll_ready.push(first.is_ready());
        let (res, slice) = match first {
            Poll::Ready(r) => r,
            Poll::Pending => op.await,
        };
        out.results.push(res.map_err(|e| e.raw_os_error().unwrap()));
        out.buffers.push(slice.into_inner());

        // A boxed slice, larger than what is left.
        let mut op = b.read(vec![0u8; 32].into_boxed_slice());
        let first = poll_once(&mut op).await;
        out.first_poll_ready.push(first.is_ready());
        let (res, buf) = match first {
            Poll::Ready(r) => r,
            Poll::Pending => op.await,
        };
        out.results.push(res.map_err(|e| e.raw_os_error().unwrap()));
        out.buffers.push(buf.into_vec());

        // End-of-file.
        a.shutdown(Shutdown::Write).await.unwrap();
        let (res, buf) = b.read(Vec::with_capacity(8)).await;
        out.results.push(res.map_err(|e| e.raw_os_error().unwrap()));
        out.buffers.push(buf);

        // A write to a peer that has gone: an error, never SIGPIPE. A dropped socket is
        // closed by the driver in the next iteration; let that happen first (neither a
        // try nor an io_uring batch is ordered behind a close still queued).
        drop(a);
        ringloop::yield_now().await;
        ringloop::yield_now().await;
        let (res, _) = b.write(b"late".to_vec()).await;
        out.results.push(res.map_err(|e| e.raw_os_error().unwrap()));
        out
    })
}

#[test]
fn try_first_results_match_the_submitted_path() {
    on_each_backend(|backend| {
        let tried = scripted(backend, true);
        let submitted = scripted(backend, false);
        assert_eq!(tried.first_poll_ready, [true, true], "data was waiting");
        assert_eq!(submitted.first_poll_ready, [false, false]);
        assert_eq!(tried.results, submitted.results);
        assert_eq!(tried.buffers, submitted.buffers);
        assert_eq!(tried.results[..3], [Ok(5), Ok(11), Ok(0)]);
        assert_eq!(tried.buffers[0], b"xyhello");
        assert_eq!(&tried.buffers[1][..11], b", try-first");
        assert!(
            matches!(tried.results[3], Err(libc::EPIPE | libc::ECONNRESET)),
            "{:?}",
            tried.results[3]
        );
    });
}

#[test]
fn try_first_read_on_an_empty_socket_waits_for_data() {
    on_each_backend(|backend| {
        let lp = loop_with(backend, true);
        lp.run_until_complete(async {
            let (a, b) = UnixStream::pair().unwrap();
            let mut op = b.read(Vec::with_capacity(8));
            assert!(poll_once(&mut op).await.is_pending(), "nothing to read yet");
            let (res, _) = a.write_all(b"late".to_vec()).await;
            res.unwrap();
            let (res, buf) = op.await;
            assert_eq!(res.unwrap(), 4);
            assert_eq!(buf, b"late");
            // Reads keep working through the back-off (tries skipped, then tried again).
            for i in 0..40u8 {
                let mut op = b.read(Vec::with_capacity(1));
                let first = poll_once(&mut op).await;
                assert!(first.is_pending(), "nothing was written yet");
                let (res, _) = a.write_all(vec![i]).await;
                res.unwrap();
                let (res, buf) = match first {
                    Poll::Ready(r) => r,
                    Poll::Pending => op.await,
                };
                assert_eq!(res.unwrap(), 1);
                assert_eq!(buf, [i]);
            }
        });
    });
}

#[test]
fn try_first_write_to_a_ready_socket_finishes_on_first_poll() {
    on_each_backend(|backend| {
        let lp = loop_with(backend, true);
        lp.run_until_complete(async {
            let (a, b) = UnixStream::pair().unwrap();
            let mut op = a.write(b"now".to_vec());
            let Poll::Ready((res, _)) = poll_once(&mut op).await else {
                panic!("the send buffer had room");
            };
            assert_eq!(res.unwrap(), 3);
            let (res, buf) = b.read(Vec::with_capacity(8)).await;
            assert_eq!(res.unwrap(), 3);
            assert_eq!(buf, b"now");
        });
    });
}

#[test]
fn try_first_reader_of_a_full_socket_still_suspends() {
    on_each_backend(|backend| {
        // A task reading a socket that always has data must not run forever without
        // suspending: at most 16 reads per socket per iteration finish at once.
        let lp = loop_with(backend, true);
        lp.run_until_complete(async {
            let (a, b) = UnixStream::pair().unwrap();
            let (res, _) = a.write_all(vec![7u8; 200]).await;
            res.unwrap();
            let other_ran = std::rc::Rc::new(std::cell::Cell::new(0u32));
            let o = other_ran.clone();
            let other = ringloop::spawn(async move {
                loop {
                    o.set(o.get() + 1);
                    ringloop::yield_now().await;
                }
            });
            for _ in 0..200 {
                let (res, _) = b.read(Vec::with_capacity(1)).await;
                assert_eq!(res.unwrap(), 1);
            }
            assert!(
                other_ran.get() >= 200 / 17,
                "the other task ran only {} times",
                other_ran.get()
            );
            other.cancel();
        });
    });
}

#[test]
fn try_first_env_and_builder_knobs() {
    on_each_backend(|backend| {
        // The builder wins over the environment; here we only check the builder.
        for on in [true, false] {
            let lp = loop_with(backend, on);
            lp.run_until_complete(async move {
                let (a, _b) = UnixStream::pair().unwrap();
                let mut op = a.write(b"x".to_vec());
                assert_eq!(poll_once(&mut op).await.is_ready(), on);
                if !on {
                    let (res, _) = op.await;
                    res.unwrap();
                }
            });
        }
    });
}
