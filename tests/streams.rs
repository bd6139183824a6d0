//! asyncio's streams (`net::open_connection`, `start_server`, `StreamReader`,
//! `StreamWriter` and their Unix twins), on each backend. The reader tests port the
//! behaviours of CPython's `test_asyncio/test_streams.py`, feeding the reader through the
//! other end of a socket pair (`feed_data` is a write to the peer, `feed_eof` its
//! shutdown); the server tests check `Server`'s graceful shutdown with stream handlers.

mod support;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io::{self, ErrorKind};
use std::net::Shutdown;
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use ringloop::ExceptionKind;
use ringloop::net::{
    IncompleteReadError, LimitOverrunError, StreamReader, StreamWriter, TcpListener, UnixStream,
    into_streams, open_connection, open_unix_connection, start_server, start_unix_server,
};
use support::{
    exclusive_fds, fd_count, for_each_backend, guard, pattern, poll_once, record_exceptions,
    settle_io, shared_fds, wait_until, yield_times,
};

/// A reader and writer on one end of a Unix pair, and the other end to feed them with.
fn pair() -> (UnixStream, StreamReader, StreamWriter) {
    let (peer, ours) = UnixStream::pair().expect("socketpair");
    let (reader, writer) = into_streams(ours);
    (peer, reader, writer)
}

/// asyncio's `feed_data`: the peer sends `data`.
async fn feed(peer: &UnixStream, data: &'static [u8]) {
    peer.write_all(data).await.0.expect("feed the reader");
}

/// asyncio's `feed_eof`: the peer is done sending.
async fn feed_eof(peer: &UnixStream) {
    peer.shutdown(Shutdown::Write)
        .await
        .expect("feed end-of-file");
}

/// Feeds `chunks` one at a time from a task of their own, letting the reader take each
/// in before the next comes, then the end-of-file if `eof`.
fn feed_slowly(peer: &Rc<UnixStream>, chunks: &[&'static [u8]], eof: bool) -> ringloop::Task<()> {
    let (peer, chunks) = (peer.clone(), chunks.to_vec());
    ringloop::spawn(async move {
        for chunk in chunks {
            feed(&peer, chunk).await;
            yield_times(3).await;
            ringloop::sleep(Duration::from_millis(1)).await;
        }
        if eof {
            feed_eof(&peer).await;
        }
    })
}

/// Runs `body` to completion on each backend, with a hang guard.
fn on_each<F: Future<Output = ()>>(what: &str, mut body: impl FnMut() -> F) {
    let _fds = shared_fds();
    for_each_backend(|lp| lp.run_until_complete(guard(what, body())));
}

fn incomplete(e: io::Error) -> IncompleteReadError {
    assert_eq!(e.kind(), ErrorKind::UnexpectedEof, "{e}");
    IncompleteReadError::from_io(e).expect("an IncompleteReadError inside")
}

fn overrun(e: io::Error) -> LimitOverrunError {
    assert_eq!(e.kind(), ErrorKind::InvalidData, "{e}");
    LimitOverrunError::from_io(e).expect("a LimitOverrunError inside")
}

// ---------------------------------------------------------------------------------------
// StreamReader (CPython's StreamTests)

/// test_readline, test_readline_eof, test_readline_empty_eof, test_readline_read_byte_count.
#[test]
fn readline_returns_lines_then_the_rest_at_eof() {
    on_each("readline", || async {
        let (peer, mut reader, _w) = pair();
        feed(&peer, b"line1\nline2\nrest").await;
        assert_eq!(reader.readline().await.unwrap(), b"line1\n");
        assert_eq!(reader.read(3).await.unwrap(), b"lin"); // a byte count after a line
        assert_eq!(reader.readline().await.unwrap(), b"e2\n");
        feed_eof(&peer).await;
        assert_eq!(reader.readline().await.unwrap(), b"rest");
        assert_eq!(reader.readline().await.unwrap(), b"");
        assert!(reader.at_eof());
    });
}

/// test_readline_limit_with_existing_data, test_readline_limit: an over-long line fails
/// with InvalidData and, as in asyncio, is dropped, through its newline when that came.
#[test]
fn readline_past_the_limit_drops_the_line() {
    on_each("readline limit", || async {
        let (peer, mut reader, _w) = pair();
        reader.set_limit(7);
        feed(&peer, b"chunk1chunk2\nchunk3\n").await;
        let e = overrun(reader.readline().await.unwrap_err());
        assert!(e.separator_found());
        assert_eq!(e.consumed(), 12);
        assert_eq!(reader.readline().await.unwrap(), b"chunk3\n");

        // Strictness: a separator at the limit is fine, one past it is not.
        feed(&peer, b"1234567\n").await;
        assert_eq!(reader.readline().await.unwrap(), b"1234567\n");
        feed(&peer, b"12345678\n").await;
        overrun(reader.readline().await.unwrap_err());
        // No newline at all within the limit: everything buffered is dropped.
        feed(&peer, b"12345678").await;
        let e = overrun(reader.readline().await.unwrap_err());
        assert!(!e.separator_found());
        feed(&peer, b"tail\n").await;
        assert_eq!(reader.readline().await.unwrap(), b"tail\n");
    });
}

/// A line longer than the default limit (64 KiB) fails; a raised limit lets it through.
#[test]
fn readline_limit_defaults_to_64_kib_and_can_be_raised() {
    on_each("readline default limit", || async {
        let (peer, mut reader, _w) = pair();
        assert_eq!(reader.limit(), 64 * 1024);
        let line = [vec![b'x'; 100_000], b"\n".to_vec()].concat();
        peer.write_all(line.clone()).await.0.unwrap();
        feed(&peer, b"short\n").await;
        overrun(reader.readline().await.unwrap_err());
        // The over-long line was dropped: through its newline if the reader had it, else
        // what was buffered, and the line's rest comes next.
        let next = reader.readline().await.unwrap();
        if next != b"short\n" {
            assert!(next.len() < line.len() && next.iter().all(|&b| b == b'x' || b == b'\n'));
            assert_eq!(reader.readline().await.unwrap(), b"short\n");
        }
        reader.set_limit(1 << 20);
        peer.write_all(line.clone()).await.0.unwrap();
        assert!(reader.readline().await.unwrap() == line, "the whole line");
    });
}

/// test_readuntil_separator, test_readuntil_multi_chunks, test_readuntil_multi_chunks_1:
/// a multi-byte separator split across reads is found; what follows it stays.
#[test]
fn readuntil_finds_a_separator_split_across_reads() {
    on_each("readuntil split", || async {
        let (peer, mut reader, _w) = pair();
        let peer = Rc::new(peer);
        let chunks: [&[&'static [u8]]; 5] = [
            &[b"QWEaa", b"XYaa", b"a"],
            &[b"QWEaa", b"XYa", b"aa"],
            &[b"aaa"],
            &[b"Xaaa"],
            &[b"XXX", b"a", b"a", b"a"],
        ];
        let expected: [&[u8]; 5] = [b"QWEaaXYaaa", b"QWEaaXYaaa", b"aaa", b"Xaaa", b"XXXaaa"];
        for (chunks, expected) in chunks.iter().zip(expected) {
            let feeder = feed_slowly(&peer, chunks, false);
            assert_eq!(reader.readuntil(b"aaa").await.unwrap(), expected);
            feeder.await.unwrap();
        }
        feed(&peer, b"lineAAAxxx").await;
        assert_eq!(reader.readuntil(b"AAA").await.unwrap(), b"lineAAA");
        assert_eq!(reader.read(10).await.unwrap(), b"xxx");
    });
}

/// test_readuntil_limit_found_sep: past the limit, LimitOverrun, and the bytes stay in
/// the reader, whether the separator was found or not.
#[test]
fn readuntil_limit_overrun_keeps_the_data() {
    on_each("readuntil overrun", || async {
        let (peer, mut reader, _w) = pair();
        reader.set_limit(3);
        feed(&peer, b"some dataAA").await;
        let e = overrun(reader.readuntil(b"AAA").await.unwrap_err());
        assert!(!e.separator_found());
        assert!(e.to_string().contains("no separator"), "{e}");
        assert_eq!(e.consumed(), 9); // 11 buffered, less 3, plus 1
        // Nothing was lost: with a raised limit the same call reads on and succeeds.
        reader.set_limit(100);
        feed(&peer, b"A").await;
        assert_eq!(reader.readuntil(b"AAA").await.unwrap(), b"some dataAAA");

        reader.set_limit(3);
        feed(&peer, b"more dataAAA").await;
        let e = overrun(reader.readuntil(b"AAA").await.unwrap_err());
        assert!(e.separator_found());
        assert!(e.to_string().contains("past the reader's limit"), "{e}");
        assert_eq!(e.consumed(), 9);
        // The bytes are still there, to be taken as they are.
        assert_eq!(
            reader.readexactly(e.consumed() + 3).await.unwrap(),
            b"more dataAAA"
        );
    });
}

/// test_readuntil_eof: end-of-file before the separator gives the partial bytes.
#[test]
fn readuntil_at_eof_gives_the_partial_bytes() {
    on_each("readuntil eof", || async {
        let (peer, mut reader, _w) = pair();
        feed(&peer, b"some dataAA").await;
        feed_eof(&peer).await;
        let e = incomplete(reader.readuntil(b"AAA").await.unwrap_err());
        assert_eq!(e.partial(), b"some dataAA");
        assert_eq!(e.expected(), None);
        assert!(reader.at_eof());
        let e = reader.readuntil(b"").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    });
}

/// test_readexactly, test_readexactly_zero_or_less, test_readexactly_eof.
#[test]
fn readexactly_waits_for_the_count_and_carries_the_partial_at_eof() {
    on_each("readexactly", || async {
        let (peer, mut reader, _w) = pair();
        let peer = Rc::new(peer);
        let feeder = feed_slowly(&peer, &[b"chunk1", b"chunk2", b"chunk3"], false);
        assert_eq!(reader.readexactly(0).await.unwrap(), b"");
        assert_eq!(reader.readexactly(15).await.unwrap(), b"chunk1chunk2chu");
        feeder.await.unwrap();
        feed_eof(&peer).await;
        let e = incomplete(reader.readexactly(6).await.unwrap_err());
        assert_eq!((e.partial(), e.expected()), (&b"nk3"[..], Some(6)));
        assert!(e.to_string().contains("3 of 6"), "{e}");
        assert_eq!(e.into_partial(), b"nk3");
        assert!(reader.at_eof());
    });
}

/// test_read_zero, test_read, test_read_line_breaks, test_read_eof, test_read_until_eof
/// (asyncio's `read(-1)` is `read_to_end`).
#[test]
fn read_n_and_read_to_end() {
    on_each("read", || async {
        let (peer, mut reader, _w) = pair();
        feed(&peer, b"line1\nline2\n").await;
        assert_eq!(reader.read(0).await.unwrap(), b"");
        assert_eq!(reader.read(5).await.unwrap(), b"line1");
        assert_eq!(reader.read(100).await.unwrap(), b"\nline2\n");
        let peer = Rc::new(peer);
        let feeder = feed_slowly(&peer, &[b"chunk1\n", b"chunk2"], true);
        assert_eq!(reader.read_to_end().await.unwrap(), b"chunk1\nchunk2");
        feeder.await.unwrap();
        assert_eq!(reader.read(10).await.unwrap(), b"");
        assert_eq!(reader.read_to_end().await.unwrap(), b"");
    });
}

/// test_at_eof: true only once the end-of-file arrived and every byte was read, without
/// a read having to see it first.
#[test]
fn at_eof_once_everything_was_read() {
    on_each("at_eof", || async {
        let (peer, mut reader, _w) = pair();
        assert!(!reader.at_eof());
        feed(&peer, b"some data\n").await;
        assert!(!reader.at_eof());
        reader.readline().await.unwrap();
        assert!(!reader.at_eof());
        feed(&peer, b"some data\n").await;
        feed_eof(&peer).await;
        reader.readline().await.unwrap();
        assert!(reader.at_eof());
    });
}

/// The promise of the module: a `readuntil` that times out while waiting loses nothing,
/// neither the bytes already buffered nor those its read in flight had taken from the
/// kernel; the next `readuntil` sees them all.
#[test]
fn readuntil_timed_out_then_retried_loses_no_bytes() {
    on_each("readuntil after a timeout", || async {
        let (peer, mut reader, _w) = pair();
        feed(&peer, b"partial ").await;
        let timed_out =
            ringloop::timeout(Duration::from_millis(20), reader.readuntil(b"\r\n")).await;
        assert!(timed_out.is_err(), "nothing completes the line yet");
        // The line's rest arrives while the dropped call's read is still in flight.
        feed(&peer, b"line\r\nnext").await;
        yield_times(4).await;
        assert_eq!(
            reader.readuntil(b"\r\n").await.unwrap(),
            b"partial line\r\n"
        );
        // A call that can be answered from the buffer does not wait for the socket.
        let timed_out = ringloop::timeout(Duration::from_millis(20), reader.readline()).await;
        assert!(timed_out.is_err());
        assert_eq!(reader.read(100).await.unwrap(), b"next");
    });
}

/// A `readuntil` future dropped right after its read took bytes from the kernel (before
/// it was polled again) leaves those bytes to the next call.
#[test]
fn readuntil_dropped_mid_read_keeps_what_the_kernel_delivered() {
    on_each("readuntil dropped", || async {
        let (peer, mut reader, _w) = pair();
        {
            let mut call = pin!(reader.readuntil(b"\n"));
            assert!(poll_once(&mut call).await.is_pending()); // its read is in flight
            feed(&peer, b"delivered").await;
            // The read completes in the kernel; the call is dropped before it looks.
            ringloop::sleep(Duration::from_millis(5)).await;
        }
        feed(&peer, b" and more\n").await;
        assert_eq!(reader.readline().await.unwrap(), b"delivered and more\n");
    });
}

// ---------------------------------------------------------------------------------------
// StreamWriter

/// test_drain / back-pressure: past the high-water mark `drain` waits for a reader that
/// does not read, and resumes once it did, the buffer down to the low-water mark.
#[test]
fn drain_waits_for_a_slow_reader() {
    on_each("drain back-pressure", || async {
        let (peer, _r, writer) = pair();
        let data = pattern(4 << 20, 7); // far more than a Unix socket holds
        writer.write(&data);
        assert!(writer.get_write_buffer_size() > 64 * 1024);
        let writer = Rc::new(writer);
        let drained = Rc::new(Cell::new(false));
        let drainer = {
            let (writer, drained) = (writer.clone(), drained.clone());
            ringloop::spawn(async move {
                let res = writer.drain().await;
                drained.set(true);
                res
            })
        };
        yield_times(10).await;
        ringloop::sleep(Duration::from_millis(10)).await;
        assert!(!drained.get(), "drain returned while nobody read");
        let (mut reader, _w) = into_streams(peer);
        let got = reader.readexactly(data.len() - (64 << 10)).await.unwrap();
        drainer.await.unwrap().unwrap();
        assert!(writer.get_write_buffer_size() <= 16 * 1024);
        let rest = reader.readexactly(64 << 10).await.unwrap();
        assert!([got, rest].concat() == data, "the data, whole and in order");
    });
}

/// Writes without drain still leave (in the background), and dropping the writer sends
/// what is buffered before the end-of-file.
#[test]
fn writes_leave_without_drain_and_drop_flushes_then_eof() {
    on_each("write then drop", || async {
        let (peer, _r, writer) = pair();
        let data = pattern(1 << 20, 3);
        writer.write(&data[..1000]);
        writer.writelines([&data[1000..2000], &data[2000..]]);
        drop(writer);
        let (mut reader, _w) = into_streams(peer);
        assert!(
            reader.read_to_end().await.unwrap() == data,
            "the data, whole"
        );
    });
}

/// `close` flushes, shuts both directions down (this side's reader sees end-of-file too),
/// and `wait_closed` resolves; later writes are dropped and `drain` reports the close.
#[test]
fn close_flushes_then_wait_closed_resolves() {
    on_each("close", || async {
        let (peer, mut reader, writer) = pair();
        let data = pattern(2 << 20, 5);
        writer.write(&data);
        assert!(!writer.is_closing());
        writer.close();
        assert!(writer.is_closing());
        writer.write(b"dropped");
        let (mut peer_reader, _peer_writer) = into_streams(peer);
        assert!(
            peer_reader.read_to_end().await.unwrap() == data,
            "the data, whole"
        );
        writer.wait_closed().await.unwrap();
        assert_eq!(reader.read(10).await.unwrap(), b"");
        assert_eq!(
            writer.drain().await.unwrap_err().kind(),
            ErrorKind::ConnectionReset
        );
    });
}

/// A peer that went away: the failed send reaches `drain` and `wait_closed` as an error.
#[test]
fn writing_to_a_closed_peer_fails_drain() {
    on_each("broken pipe", || async {
        let (peer, _r, writer) = pair();
        drop(peer);
        ringloop::sleep(Duration::from_millis(2)).await; // its close rides the ring
        writer.write(&vec![0; 1 << 20]);
        let e = guard("drain error", async {
            loop {
                if let Err(e) = writer.drain().await {
                    return e;
                }
                writer.write(&[0; 1024]);
                ringloop::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        assert!(
            matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset),
            "{e}"
        );
        assert!(writer.is_closing());
        writer.close();
        assert!(writer.wait_closed().await.is_err());
    });
}

/// `write_eof` half-closes: the peer reads to the end and can still answer.
#[test]
fn write_eof_half_closes() {
    on_each("write_eof", || async {
        let (peer, mut reader, writer) = pair();
        let (mut peer_reader, peer_writer) = into_streams(peer);
        writer.write(b"request");
        writer.write_eof();
        writer.write(b"too late");
        assert_eq!(peer_reader.read_to_end().await.unwrap(), b"request");
        peer_writer.write(b"response");
        peer_writer.close();
        assert_eq!(reader.read_to_end().await.unwrap(), b"response");
        assert!(!writer.is_closing());
    });
}

// ---------------------------------------------------------------------------------------
// open_connection / start_server

/// An echo handler: a line back for each line, until end-of-file.
async fn echo(mut reader: StreamReader, writer: StreamWriter) {
    while let Ok(line) = reader.readline().await {
        if line.is_empty() {
            return;
        }
        writer.write(&line);
        if writer.drain().await.is_err() {
            return;
        }
    }
}

/// test_start_server / test_open_connection: several clients at once, each echoed.
#[test]
fn start_server_and_open_connection_echo() {
    on_each("tcp echo", || async {
        let server = start_server("127.0.0.1:0", echo).await.unwrap();
        let addr = server.local_addr().unwrap();
        let mut clients = Vec::new();
        for i in 0..4 {
            clients.push(ringloop::spawn(async move {
                let (mut reader, writer) = open_connection(addr).await?;
                assert_eq!(writer.peer_addr()?, addr);
                assert_eq!(writer.local_addr()?.ip(), addr.ip());
                for n in 0..20 {
                    let line = format!("client {i} line {n}\n");
                    writer.write(line.as_bytes());
                    writer.drain().await?;
                    assert_eq!(reader.readline().await?, line.as_bytes());
                }
                let mut big = pattern(60_000, i); // a line within the server's 64 KiB limit
                big.iter_mut()
                    .filter(|b| **b == b'\n')
                    .for_each(|b| *b = b'.');
                writer.write(&big);
                writer.write(b"\n");
                let mut expected = big;
                expected.push(b'\n');
                assert!(reader.readline().await? == expected, "the big line echoed");
                writer.close();
                writer.wait_closed().await
            }));
        }
        for client in clients {
            client.await.unwrap().unwrap();
        }
        server.close();
        server.wait_closed().await;
        assert!(!server.is_serving());
    });
}

/// test_open_unix_connection / test_start_unix_server: echo over a Unix socket; the
/// server removes its socket file when closed, and a stale file is replaced.
#[test]
fn unix_server_and_connection_echo() {
    on_each("unix echo", || async {
        let path = std::env::temp_dir().join(format!(
            "ringloop-streams-{}-{:?}.sock",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_file(&path);
        // A stale socket file, as a crashed server leaves it.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let server = start_unix_server(&path, echo).await.unwrap();
        assert!(
            server.local_addr().is_err(),
            "no IP address for a Unix server"
        );
        let (mut reader, writer) = open_unix_connection(&path).await.unwrap();
        assert_eq!(
            writer.unix_peer_addr().unwrap().as_pathname(),
            Some(path.as_path())
        );
        assert_eq!(
            writer.peer_addr().unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        writer.write(b"over unix\n");
        assert_eq!(reader.readline().await.unwrap(), b"over unix\n");
        drop(writer);
        assert_eq!(reader.readline().await.unwrap(), b"");
        server.close();
        server.wait_closed().await;
        // Removed at the server's next turn, once it dropped its listener.
        wait_until("the socket file removed", || !path.exists()).await;
    });
}

#[test]
fn open_connection_to_nothing_is_refused() {
    on_each("refused", || async {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        ringloop::sleep(Duration::from_millis(2)).await; // the close rides the ring
        let e = open_connection(("127.0.0.1", port)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    });
}

/// A handler that panics costs its own connection only: the panic reaches the exception
/// handler, its client sees the connection end, and the others go on.
#[test]
fn a_panicking_handler_costs_one_connection() {
    let _fds = shared_fds();
    for_each_backend(|lp| {
        let reports = record_exceptions(lp);
        lp.run_until_complete(guard("handler panic", async {
            let server = start_server("127.0.0.1:0", |mut reader, writer| async move {
                let line = reader.readline().await.unwrap_or_default();
                if line == b"panic\n" {
                    panic!("handler gave up");
                }
                writer.write(&line);
                echo(reader, writer).await;
            })
            .await
            .unwrap();
            let addr = server.local_addr().unwrap();
            let (mut good_reader, good_writer) = open_connection(addr).await.unwrap();
            good_writer.write(b"hello\n");
            assert_eq!(good_reader.readline().await.unwrap(), b"hello\n");
            let (mut bad_reader, bad_writer) = open_connection(addr).await.unwrap();
            bad_writer.write(b"panic\n");
            assert_eq!(bad_reader.read_to_end().await.unwrap(), b"");
            good_writer.write(b"still here\n");
            assert_eq!(good_reader.readline().await.unwrap(), b"still here\n");
            let (_r, w) = open_connection(addr).await.unwrap();
            w.write(b"new ones too\n");
            let mut r = _r;
            assert_eq!(r.readline().await.unwrap(), b"new ones too\n");
            wait_until("the panic reported", || !reports.borrow().is_empty()).await;
        }));
        let reports = reports.borrow();
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert_eq!(reports[0].0, ExceptionKind::TaskNeverRetrieved);
    });
}

/// `Server::close` stops accepting at once; `wait_closed` waits for the stream handlers'
/// connections to end, and resolves once the last one did.
#[test]
fn server_close_and_wait_closed_with_stream_handlers() {
    on_each("close + wait_closed", || async {
        let server = start_server("127.0.0.1:0", echo).await.unwrap();
        let addr = server.local_addr().unwrap();
        let (mut reader, writer) = open_connection(addr).await.unwrap();
        writer.write(b"before\n");
        assert_eq!(reader.readline().await.unwrap(), b"before\n");
        server.close();
        assert!(!server.is_serving());
        let refused = open_connection(addr).await;
        assert!(refused.is_err(), "a closed server accepts nothing");
        let closed = Rc::new(Cell::new(false));
        let waiter = {
            let (server, closed) = (server.clone(), closed.clone());
            ringloop::spawn(async move {
                server.wait_closed().await;
                closed.set(true);
            })
        };
        // The established connection runs on.
        writer.write(b"after close\n");
        assert_eq!(reader.readline().await.unwrap(), b"after close\n");
        ringloop::sleep(Duration::from_millis(5)).await;
        assert!(!closed.get(), "wait_closed resolved with a connection open");
        drop(writer); // the handler sees end-of-file and returns
        waiter.await.unwrap();
        assert!(closed.get());
        server.wait_closed().await; // at once from now on
    });
}

/// `abort_clients` drops what the handlers buffered and ends their connections: handlers
/// blocked reading see end-of-file, clients see the end, `wait_closed` resolves.
#[test]
fn abort_clients_ends_stream_connections() {
    on_each("abort_clients", || async {
        let finished = Rc::new(RefCell::new(Vec::new()));
        let server = {
            let finished = finished.clone();
            start_server("127.0.0.1:0", move |mut reader, writer| {
                let finished = finished.clone();
                async move {
                    writer.write(b"welcome\n");
                    let line = reader.readline().await;
                    finished.borrow_mut().push(line.ok());
                    drop((reader, writer));
                }
            })
            .await
            .unwrap()
        };
        let addr = server.local_addr().unwrap();
        let mut clients = Vec::new();
        for _ in 0..3 {
            let (mut reader, writer) = open_connection(addr).await.unwrap();
            assert_eq!(reader.readline().await.unwrap(), b"welcome\n");
            clients.push((reader, writer));
        }
        server.close();
        server.abort_clients();
        server.wait_closed().await;
        assert_eq!(
            *finished.borrow(),
            vec![Some(Vec::new()); 3],
            "each saw end-of-file"
        );
        for (mut reader, _writer) in clients {
            assert_eq!(reader.read_to_end().await.unwrap(), b"");
        }
    });
}

/// `close_clients` closes each writer once flushed: what the handlers wrote arrives whole,
/// then the end.
#[test]
fn close_clients_flushes_then_closes() {
    on_each("close_clients", || async {
        let big = Rc::new(pattern(1 << 20, 11));
        let server = {
            let big = big.clone();
            start_server("127.0.0.1:0", move |mut reader, writer| {
                let big = big.clone();
                async move {
                    writer.write(&big);
                    // Blocks until close_clients shuts the connection down.
                    let _ = reader.read_to_end().await;
                }
            })
            .await
            .unwrap()
        };
        let (mut reader, _writer) = open_connection(server.local_addr().unwrap()).await.unwrap();
        assert_eq!(reader.readexactly(10).await.unwrap(), big[..10]);
        server.close();
        server.close_clients();
        server.wait_closed().await;
        let rest = reader.read_to_end().await.unwrap();
        assert!(rest == big[10..], "the rest, whole");
    });
}

/// No descriptor outlives a stream server and its connections once `wait_closed`
/// resolved and the loop settled.
#[test]
fn a_closed_stream_server_leaves_no_descriptor() {
    let _fds = exclusive_fds();
    for_each_backend(|lp| {
        let before = fd_count();
        lp.run_until_complete(guard("fd check", async {
            let server = start_server("127.0.0.1:0", echo).await.unwrap();
            for _ in 0..5 {
                let (mut reader, writer) =
                    open_connection(server.local_addr().unwrap()).await.unwrap();
                writer.write(b"x\n");
                assert_eq!(reader.readline().await.unwrap(), b"x\n");
                writer.close();
                writer.wait_closed().await.unwrap();
            }
            server.close();
            server.wait_closed().await;
            settle_io(lp).await;
            ringloop::sleep(Duration::from_millis(5)).await;
        }));
        assert_eq!(fd_count(), before, "descriptors leaked");
    });
}

/// A readline that fails on a limit has no effect on a `drain`/`write` on the other half,
/// and a reader polled once then dropped is no obstacle to closing (Poll reaches both).
#[test]
fn reader_and_writer_are_independent() {
    on_each("halves", || async {
        let (peer, mut reader, writer) = pair();
        reader.set_limit(2);
        feed(&peer, b"abcdef").await;
        overrun(reader.readline().await.unwrap_err());
        writer.write(b"still writing");
        writer.drain().await.unwrap();
        let (mut peer_reader, _pw) = into_streams(peer);
        assert_eq!(peer_reader.read(100).await.unwrap(), b"still writing");
        let mut pending = pin!(reader.readline());
        assert!(matches!(poll_once(&mut pending).await, Poll::Pending));
    });
}

/// examples/streams_echo.rs, run as it ships (its server and client, then a graceful
/// shutdown) on each backend: it echoes every line and exits cleanly.
#[test]
fn the_streams_echo_example_runs_on_each_backend() {
    let exe = std::env::current_exe().expect("the test binary");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let example = dir.join("examples").join("streams_echo");
    assert!(
        example.exists(),
        "{} is missing: run through `cargo test`",
        example.display()
    );
    for backend in support::backends() {
        let out = std::process::Command::new(&example)
            .env("RINGLOOP_BACKEND", support::env_value(backend))
            .output()
            .expect("run the example");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{backend:?}: {}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        for line in ["echoed: hello", "echoed: bye", "server closed"] {
            assert!(
                stdout.contains(line),
                "{backend:?}: no {line:?} in\n{stdout}"
            );
        }
    }
}
