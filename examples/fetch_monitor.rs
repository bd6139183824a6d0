//! A fetcher appends batches of values from a socket while a monitor prints how many it
//! has: both on one loop.
//!
//! `cargo run --example fetch_monitor`. A source task sends ten batches of ten numbers
//! over a local TCP connection, pausing between batches. The fetcher reads them and
//! appends each batch with a plain `for` loop; the monitor prints the count every 20 ms.
//! The monitor can only run while the fetcher waits on the socket, never in the middle
//! of its `for` loop, so every count it prints is a whole number of batches: on one
//! loop, code between two `.await`s runs without interruption. (Port of a Python
//! asyncio tutorial program.)

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::time::Duration;

use ringloop::net::{TcpListener, TcpStream};

const BATCH: usize = 10;

/// Sends ten batches of `BATCH` little-endian u32s, then closes its end.
async fn source(listener: TcpListener) -> io::Result<()> {
    let (stream, _) = listener.accept().await?;
    for batch in 0..10u32 {
        let bytes: Vec<u8> = (0..BATCH as u32)
            .flat_map(|i| (batch * 100 + i).to_le_bytes())
            .collect();
        stream.write_all(bytes).await.0?;
        ringloop::sleep(Duration::from_millis(fastrand::u64(5..=30))).await;
    }
    Ok(())
}

/// Reads one batch of values: the tutorial's `get_some_values_from_io()`.
async fn get_some_values_from_io(stream: &TcpStream) -> io::Result<Option<Vec<u32>>> {
    let buf = Vec::with_capacity(BATCH * 4);
    let (res, buf) = stream.read_exact(buf).await;
    match res {
        Ok(()) => Ok(Some(
            buf.chunks_exact(4)
                .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
                .collect(),
        )),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

async fn fetcher(stream: TcpStream, vals: Rc<RefCell<Vec<u32>>>, done: Rc<Cell<bool>>) {
    while let Some(io_vals) = get_some_values_from_io(&stream).await.expect("reading") {
        for val in io_vals {
            vals.borrow_mut().push(val); // no await in here: the monitor cannot run
        }
    }
    done.set(true);
}

async fn monitor(vals: Rc<RefCell<Vec<u32>>>, done: Rc<Cell<bool>>) {
    while !done.get() {
        let len = vals.borrow().len();
        println!("{len}");
        assert_eq!(len % BATCH, 0, "the monitor never sees half a batch");
        ringloop::sleep(Duration::from_millis(20)).await;
    }
}

fn main() -> io::Result<()> {
    ringloop::run(async {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let source = ringloop::spawn(source(listener));
        let stream = TcpStream::connect(addr).await?;
        let vals = Rc::new(RefCell::new(Vec::new()));
        let done = Rc::new(Cell::new(false));
        ringloop::join!(
            fetcher(stream, vals.clone(), done.clone()),
            monitor(vals.clone(), done)
        );
        source.await??;
        println!("fetched {} values", vals.borrow().len());
        Ok(())
    })
}
