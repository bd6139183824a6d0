//! The sockets of `scheduler_io` beyond its stream pairs (see the target's module docs):
//! the listeners connects go to, the connect tasks, how the connections they make are
//! told apart, and the sockets given away to another thread.
//!
//! # Ground rules
//!
//! - A listener of each kind (Unix, TCP) lives one *generation*: from its bind to its
//!   retirement (replaced, given away to a thread, or let go by the ending). A connect
//!   aims at the generation current when its task was spawned; `ECONNREFUSED` (and, on
//!   the connection it made, `EPIPE`/`ECONNRESET`) is allowed only once that generation
//!   is retired.
//! - Every connection made to a listener starts with an 8-byte *tag* the connecting side
//!   writes (generation in the high half, a sequence number in the low half). The
//!   accepting side reads it to find which client a server end belongs to; a tag that was
//!   never handed out, or is read twice, is a crash. A connection whose client went away
//!   before its tag was complete reads end-of-file (an orphan) and is dropped.
//! - The harness owns the listeners; no task holds one. Clients whose tag is written and
//!   server ends whose tag is read wait in the generation's queues until a join pairs
//!   them; retiring the generation drops them.
//! - Nothing here waits without a bound: the harness's own waits go through
//!   [`block_on`](super::block_on), which counts [`SETTLE_LIMIT`](super::SETTLE_LIMIT)
//!   as a hang.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, VecDeque};
use std::future::{Future, poll_fn};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::pin::pin;
use std::rc::Rc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use ringloop::net::{ListenOptions, TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};

use super::{FutureGuard, Pre, TaskRec, poll_once, run_pre};

/// Bytes of the tag a client writes first.
const TAG_LEN: usize = 8;
/// Accepts a strand makes at most, draining connections queued before it waits.
const STRAND_ACCEPTS: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Unix,
    Tcp,
}

/// What a connect task connects to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum To {
    Unix,
    Tcp,
    /// [`down_addr`]: refused.
    Down,
}

#[derive(Clone, Copy, Debug)]
pub(super) enum ConnectHow {
    Await,
    /// Wrapped in `ringloop::timeout` of this many µs.
    Timeout(u16),
    /// 0: before the first poll; 1: after one poll; 2: after one poll and a short wait.
    Drop(u8),
}

/// A loopback TCP address where nothing listens: a socket bound there and never
/// listening, held for the life of the process, so no listener can take the port and
/// every connect there is refused. Made before the first input counts descriptors.
pub(super) fn down_addr() -> SocketAddr {
    static DOWN: OnceLock<(OwnedFd, SocketAddr)> = OnceLock::new();
    DOWN.get_or_init(|| {
        // SAFETY: socket(2) takes no pointers.
        let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
        assert!(raw >= 0, "socket: {}", io::Error::last_os_error());
        // SAFETY: `raw` is a descriptor just opened, owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: all-zero is a valid `sockaddr_in` (the unspecified address, port 0).
        let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        sin.sin_family = libc::AF_INET as libc::sa_family_t;
        sin.sin_addr.s_addr = u32::from(Ipv4Addr::LOCALHOST).to_be();
        let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let ptr = (&raw mut sin).cast::<libc::sockaddr>();
        // SAFETY: `ptr` points to a `sockaddr_in` of `len` bytes that outlives the call.
        let rc = unsafe { libc::bind(raw, ptr, len) };
        assert_eq!(rc, 0, "bind: {}", io::Error::last_os_error());
        // SAFETY: as for bind; the kernel writes at most `len` bytes there.
        let rc = unsafe { libc::getsockname(raw, ptr, &mut len) };
        assert_eq!(rc, 0, "getsockname: {}", io::Error::last_os_error());
        let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, u16::from_be(sin.sin_port));
        (fd, SocketAddr::V4(addr))
    })
    .1
}

fn is_errno(e: &io::Error, errno: i32) -> bool {
    e.raw_os_error() == Some(errno)
}

// ---------------------------------------------------------------------------------------
// Listeners and connections of either kind

/// A listener of either kind.
pub(super) enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

impl Listener {
    async fn accept(&self) -> io::Result<Conn> {
        match self {
            Listener::Unix(l) => l.accept().await.map(Conn::Unix),
            Listener::Tcp(l) => l.accept().await.map(|(s, _)| Conn::Tcp(s)),
        }
    }
}

/// A connected stream of either kind.
pub(super) enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Conn {
    async fn write_all(&self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        match self {
            Conn::Unix(s) => s.write_all(buf).await,
            Conn::Tcp(s) => s.write_all(buf).await,
        }
    }

    async fn read_exact(&self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        match self {
            Conn::Unix(s) => s.read_exact(buf).await,
            Conn::Tcp(s) => s.read_exact(buf).await,
        }
    }
}

/// Where a connect goes.
#[derive(Clone, Debug)]
pub(super) enum Target {
    Path(PathBuf),
    Addr(SocketAddr),
}

async fn connect_to(target: Target) -> io::Result<Conn> {
    match target {
        Target::Path(path) => UnixStream::connect(path).await.map(Conn::Unix),
        Target::Addr(addr) => TcpStream::connect(addr).await.map(Conn::Tcp),
    }
}

// ---------------------------------------------------------------------------------------
// One kind's listener and the connections made to it

/// A listener generation and the connections made to it that wait to be paired.
pub(super) struct Rendezvous {
    kind: Kind,
    /// The current generation (0: none bound yet).
    generation: Cell<u32>,
    /// Whether the current generation still listens (it is not retired).
    open: Cell<bool>,
    listener: RefCell<Option<Rc<Listener>>>,
    target: RefCell<Option<Target>>,
    next_seq: Cell<u32>,
    /// Every tag handed out, of every generation.
    issued: RefCell<BTreeSet<u64>>,
    /// Every tag read on an accepted connection.
    seen: RefCell<BTreeSet<u64>>,
    /// Connected clients of the current generation whose tag is written.
    clients: RefCell<VecDeque<(u64, Conn)>>,
    /// Accepted server ends of the current generation whose tag is read.
    servers: RefCell<Vec<(u64, Conn)>>,
}

impl Rendezvous {
    fn new(kind: Kind) -> Rendezvous {
        Rendezvous {
            kind,
            generation: Cell::new(0),
            open: Cell::new(false),
            listener: RefCell::new(None),
            target: RefCell::new(None),
            next_seq: Cell::new(0),
            issued: RefCell::new(BTreeSet::new()),
            seen: RefCell::new(BTreeSet::new()),
            clients: RefCell::new(VecDeque::new()),
            servers: RefCell::new(Vec::new()),
        }
    }

    fn is_open(&self, generation: u32) -> bool {
        self.open.get() && self.generation.get() == generation
    }

    /// A new tag for a connection to generation `generation`.
    fn issue(&self, generation: u32) -> u64 {
        let seq = self.next_seq.get();
        self.next_seq.set(seq + 1);
        let tag = u64::from(generation) << 32 | u64::from(seq);
        self.issued.borrow_mut().insert(tag);
        tag
    }

    /// A tag read on an accepted connection: handed out, and read once.
    fn check_tag(&self, tag: u64) {
        assert!(
            self.issued.borrow().contains(&tag),
            "{:?}: an accepted connection starts with {tag:#018x}, a tag never handed out",
            self.kind
        );
        assert!(
            self.seen.borrow_mut().insert(tag),
            "{:?}: the tag {tag:#018x} was read on two accepted connections",
            self.kind
        );
    }

    /// A client whose tag is written: it waits for a join if its generation listens.
    fn offer(&self, generation: u32, tag: u64, conn: Conn) {
        if self.is_open(generation) {
            self.clients.borrow_mut().push_back((tag, conn));
        }
    }

    fn take_server(&self, tag: u64) -> Option<Conn> {
        let mut servers = self.servers.borrow_mut();
        let i = servers.iter().position(|(t, _)| *t == tag)?;
        Some(servers.swap_remove(i).1)
    }

    /// From now on connects to the current generation may be refused.
    fn retire(&self) {
        self.open.set(false);
    }

    /// Retires the current generation: drops its waiting connections here and hands
    /// back its listener (the only reference) for the caller to close where it likes.
    fn end_generation(&self) -> Option<Listener> {
        self.retire();
        let clients = std::mem::take(&mut *self.clients.borrow_mut());
        let servers = std::mem::take(&mut *self.servers.borrow_mut());
        drop((clients, servers));
        let listener = self.listener.borrow_mut().take()?;
        Some(
            Rc::try_unwrap(listener)
                .unwrap_or_else(|_| panic!("only the harness holds a listener")),
        )
    }

    pub(super) fn describe(&self) -> String {
        format!(
            "{:?}: generation {} ({}), {} tags issued, {} read, {} clients and {} servers waiting",
            self.kind,
            self.generation.get(),
            if self.open.get() { "open" } else { "retired" },
            self.issued.borrow().len(),
            self.seen.borrow().len(),
            self.clients.borrow().len(),
            self.servers.borrow().len()
        )
    }
}

// ---------------------------------------------------------------------------------------
// The input's sockets

/// Names a directory per input for the Unix listeners' socket files.
fn next_dir() -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("ringloop-fuzz-io-{}-{n}", std::process::id()))
}

pub(super) struct Net {
    dir: PathBuf,
    dir_made: Cell<bool>,
    pub(super) unix: Rendezvous,
    pub(super) tcp: Rendezvous,
    enobufs: bool,
}

impl Net {
    pub(super) fn new(enobufs: bool) -> Net {
        Net {
            dir: next_dir(),
            dir_made: Cell::new(false),
            unix: Rendezvous::new(Kind::Unix),
            tcp: Rendezvous::new(Kind::Tcp),
            enobufs,
        }
    }

    fn rv(&self, kind: Kind) -> &Rendezvous {
        match kind {
            Kind::Unix => &self.unix,
            Kind::Tcp => &self.tcp,
        }
    }

    /// Retires `kind`'s generation, if any, and binds the next (`backlog`: the Unix
    /// listener's, `None` for the default). Returns the old listener to close.
    pub(super) fn rebind(&self, kind: Kind, backlog: Option<u32>) -> Option<Listener> {
        let rv = self.rv(kind);
        let old = rv.end_generation();
        let generation = rv.generation.get() + 1;
        let (listener, target) = match kind {
            Kind::Unix => {
                if !self.dir_made.replace(true) {
                    std::fs::create_dir_all(&self.dir).expect("the input's temp dir");
                }
                let path = self.dir.join(format!("u{generation}.sock"));
                let l = match backlog {
                    Some(n) => UnixListener::bind_with(&path, ListenOptions::new().backlog(n)),
                    None => UnixListener::bind(&path),
                }
                .expect("binding a Unix listener");
                (Listener::Unix(l), Target::Path(path))
            }
            Kind::Tcp => {
                let l = TcpListener::bind("127.0.0.1:0").expect("binding a TCP listener");
                let addr = l.local_addr().expect("the listener's address");
                (Listener::Tcp(l), Target::Addr(addr))
            }
        };
        rv.generation.set(generation);
        rv.open.set(true);
        *rv.listener.borrow_mut() = Some(Rc::new(listener));
        *rv.target.borrow_mut() = Some(target);
        old
    }

    /// `kind`'s listener, bound now (default backlog) if none listens; a retired one
    /// still held closes here.
    pub(super) fn ensure(&self, kind: Kind) -> Rc<Listener> {
        let rv = self.rv(kind);
        if !rv.open.get() {
            drop(self.rebind(kind, None));
        }
        rv.listener.borrow().clone().expect("a listener is bound")
    }

    /// Retires `kind`'s generation and hands back its listener to close.
    pub(super) fn end_generation(&self, kind: Kind) -> Option<Listener> {
        self.rv(kind).end_generation()
    }

    /// Lets go of everything: listeners and waiting connections close here.
    pub(super) fn close_all(&self) {
        for kind in [Kind::Unix, Kind::Tcp] {
            drop(self.end_generation(kind));
        }
    }

    /// Removes the input's socket files.
    pub(super) fn cleanup(&self) {
        if self.dir_made.get() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// The target and generation a connect spawned now aims at (binding a listener if
    /// none listens).
    pub(super) fn aim(&self, to: To) -> (u32, Target) {
        let kind = match to {
            To::Down => return (0, Target::Addr(down_addr())),
            To::Unix => Kind::Unix,
            To::Tcp => Kind::Tcp,
        };
        drop(self.ensure(kind));
        let rv = self.rv(kind);
        let target = rv
            .target
            .borrow()
            .clone()
            .expect("a bound listener's target");
        (rv.generation.get(), target)
    }

    /// An error a connect (or the tag write on its connection) may surface: a refusal
    /// or a reset once the listener's generation is retired (always, for the down
    /// address), `EPIPE` on the tag write likewise, `ENOBUFS` when injected.
    fn check_connect_error(&self, e: &io::Error, what: &str, to: To, generation: u32) {
        let retired = match to {
            To::Down => true,
            To::Unix => !self.unix.is_open(generation),
            To::Tcp => !self.tcp.is_open(generation),
        };
        let ok = match e.raw_os_error() {
            Some(libc::ENOBUFS) => self.enobufs,
            Some(libc::ECONNREFUSED) => what == "connect" && retired,
            // A handshake the closing listener reset before the connect's result was
            // read (TCP); a connection reset before or during the tag write.
            Some(libc::ECONNRESET) => retired,
            Some(libc::EPIPE) => what == "tag write" && retired,
            _ => false,
        };
        assert!(
            ok,
            "{to:?} {what} (generation {generation}): unexpected {e:?}; {}; {}",
            self.unix.describe(),
            self.tcp.describe()
        );
    }
}

// ---------------------------------------------------------------------------------------
// Connect tasks

/// A task that connects to `to` (aimed at by [`Net::aim`] when spawned) as `how` says;
/// a connection it makes writes its tag and waits in its generation's queue.
pub(super) fn connect_future(
    rec: Rc<TaskRec>,
    net: Rc<Net>,
    to: To,
    (generation, target): (u32, Target),
    how: ConnectHow,
    pre: Pre,
) -> impl Future<Output = u32> + 'static {
    let guard = FutureGuard(rec.clone());
    async move {
        let _guard = guard;
        rec.step();
        run_pre(&rec, pre).await;
        let tag = match to {
            To::Down => None,
            To::Unix => Some(net.unix.issue(generation)),
            To::Tcp => Some(net.tcp.issue(generation)),
        };
        let mut connect = Box::pin(connect_to(target));
        let result = match how {
            ConnectHow::Await => Some(connect.await),
            ConnectHow::Timeout(us) => {
                let d = Duration::from_micros(u64::from(us));
                ringloop::timeout(d, connect).await.ok()
            }
            ConnectHow::Drop(0) => {
                // Never polled: no socket was even made.
                drop(connect);
                None
            }
            ConnectHow::Drop(when) => match poll_once(&mut connect).await {
                Poll::Ready(result) => Some(result),
                Poll::Pending => {
                    if when == 2 {
                        ringloop::sleep(Duration::from_micros(50)).await;
                        rec.step();
                    }
                    // Mid-flight: its socket closes behind the driver's back.
                    drop(connect);
                    None
                }
            },
        };
        rec.step();
        match result {
            None => {}
            Some(Err(e)) => net.check_connect_error(&e, "connect", to, generation),
            Some(Ok(conn)) => {
                let tag = tag.unwrap_or_else(|| panic!("a connect to {} succeeded", down_addr()));
                let bytes = tag.to_le_bytes().to_vec();
                let (res, buf) = conn.write_all(bytes.clone()).await;
                rec.step();
                assert_eq!(buf, bytes, "the tag write's buffer came back changed");
                match res {
                    Ok(()) => match to {
                        To::Unix => net.unix.offer(generation, tag, conn),
                        To::Tcp => net.tcp.offer(generation, tag, conn),
                        To::Down => unreachable!("checked above"),
                    },
                    Err(e) => net.check_connect_error(&e, "tag write", to, generation),
                }
            }
        }
        rec.finish()
    }
}

// ---------------------------------------------------------------------------------------
// The harness's side: joins, strands, UDP

/// Why a join gave up: an injected `ENOBUFS` left a tag unknown.
struct GaveUp;

/// Accepts on `l` until the server end of `tag`'s connection turns up; the others wait
/// in the queue (or are dropped, orphans and connections to an older generation).
async fn find_server(net: &Net, rv: &Rendezvous, l: &Listener, tag: u64) -> Result<Conn, GaveUp> {
    loop {
        if let Some(server) = rv.take_server(tag) {
            return Ok(server);
        }
        let conn = l
            .accept()
            .await
            .unwrap_or_else(|e| panic!("{:?} accept failed: {e:?}", rv.kind));
        let (res, buf) = conn.read_exact(Vec::with_capacity(TAG_LEN)).await;
        match res {
            Ok(()) => {
                assert_eq!(buf.len(), TAG_LEN, "read_exact returned a short tag");
                let got = u64::from_le_bytes(buf[..TAG_LEN].try_into().expect("8 bytes"));
                rv.check_tag(got);
                if got == tag {
                    return Ok(conn);
                }
                if rv.is_open((got >> 32) as u32) {
                    rv.servers.borrow_mut().push((got, conn));
                }
            }
            // A client that went away before its tag was complete.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {}
            Err(e) if rv.kind == Kind::Tcp && is_errno(&e, libc::ECONNRESET) => {}
            Err(e) if net.enobufs && is_errno(&e, libc::ENOBUFS) => {
                // Whose tag that was is unknown: this generation cannot pair reliably.
                rv.retire();
                return Err(GaveUp);
            }
            Err(e) => panic!("{:?}: reading an accepted connection's tag: {e:?}", rv.kind),
        }
    }
}

/// Connects to the current generation here and writes `tag`.
async fn connect_here(
    net: &Net,
    rv: &Rendezvous,
    target: Target,
    tag: u64,
) -> Result<Conn, GaveUp> {
    let gave_up = |e: &io::Error, what: &str| {
        assert!(
            net.enobufs && is_errno(e, libc::ENOBUFS),
            "{:?} {what} to an open listener failed: {e:?}",
            rv.kind
        );
        rv.retire();
        GaveUp
    };
    let conn = connect_to(target)
        .await
        .map_err(|e| gave_up(&e, "connect"))?;
    let bytes = tag.to_le_bytes().to_vec();
    let (res, buf) = conn.write_all(bytes.clone()).await;
    assert_eq!(buf, bytes, "the tag write's buffer came back changed");
    res.map_err(|e| gave_up(&e, "tag write"))?;
    Ok(conn)
}

/// A connected pair from `kind`'s listener: the oldest waiting client (or one connected
/// here) and its server end, accepted meanwhile. `None` when an injected error made the
/// generation give up (it is then retired: [`Net::end_generation`] it).
pub(super) async fn pair_up(net: &Net, kind: Kind) -> Option<(Conn, Conn)> {
    let rv = net.rv(kind);
    let l = rv.listener.borrow().clone().expect("pair_up after ensure");
    let generation = rv.generation.get();
    let waiting = rv.clients.borrow_mut().pop_front();
    let (tag, waiting) = match waiting {
        Some((tag, conn)) => (tag, Some(conn)),
        None => (rv.issue(generation), None),
    };
    let target = rv
        .target
        .borrow()
        .clone()
        .expect("a bound listener's target");
    let mut client = pin!(async {
        match waiting {
            Some(conn) => Ok(conn),
            None => connect_here(net, rv, target, tag).await,
        }
    });
    let mut server = pin!(find_server(net, rv, &l, tag));
    let (mut c, mut s) = (None, None);
    // Both at once: connecting may need the room accepting makes in the backlog.
    let paired = poll_fn(|cx| {
        if c.is_none()
            && let Poll::Ready(r) = client.as_mut().poll(cx)
        {
            match r {
                Ok(conn) => c = Some(conn),
                Err(GaveUp) => return Poll::Ready(false),
            }
        }
        if s.is_none()
            && let Poll::Ready(r) = server.as_mut().poll(cx)
        {
            match r {
                Ok(conn) => s = Some(conn),
                Err(GaveUp) => return Poll::Ready(false),
            }
        }
        if c.is_some() && s.is_some() {
            Poll::Ready(true)
        } else {
            Poll::Pending
        }
    })
    .await;
    paired.then(|| (c.expect("client"), s.expect("server")))
}

/// The TCP join: a pair, and one checked round trip on it (the tag one way, a reply of
/// 1 to 64 bytes the other); both ends then close through the loop. `false` when the
/// generation gave up.
pub(super) async fn tcp_round_trip(net: &Net) -> bool {
    let Some((client, server)) = pair_up(net, Kind::Tcp).await else {
        return false;
    };
    let injected = |e: &io::Error| net.enobufs && is_errno(e, libc::ENOBUFS);
    let len = 1 + net.tcp.seen.borrow().len() % 64;
    let reply: Vec<u8> = (0..len)
        .map(|i| super::splitmix(0x7C9 ^ i as u64) as u8)
        .collect();
    let (res, buf) = server.write_all(reply.clone()).await;
    assert_eq!(buf, reply, "a write's buffer came back changed");
    let sent = match res {
        Ok(()) => true,
        Err(e) if injected(&e) => false,
        Err(e) => panic!("TCP reply write failed: {e:?}"),
    };
    if sent {
        let (res, buf) = client.read_exact(Vec::with_capacity(len)).await;
        match res {
            Ok(()) => assert_eq!(buf, reply, "the TCP reply arrived changed"),
            Err(e) if injected(&e) => {}
            Err(e) => panic!("TCP reply read failed: {e:?}"),
        }
    }
    drop((client, server));
    true
}

/// A strand, on the loop: `kind`'s listener waits in accepts of `wait` each (draining
/// queued connections, at most [`STRAND_ACCEPTS`]) until one times out, so the loop has
/// registered it; then its generation ends (what it accepted and the connections
/// waiting close on the loop) and the listener is handed back for
/// [`give_away_listener`].
pub(super) async fn strand(net: &Net, kind: Kind, wait: Duration) -> Listener {
    let l = net.ensure(kind);
    let mut accepted = Vec::new();
    for _ in 0..STRAND_ACCEPTS {
        match ringloop::timeout(wait, l.accept()).await {
            Ok(Ok(conn)) => accepted.push(conn),
            Ok(Err(e)) => panic!("{kind:?} accept failed: {e:?}"),
            Err(_) => break,
        }
    }
    drop(l);
    let rv = net.rv(kind);
    rv.retire();
    drop(accepted);
    rv.end_generation().expect("a strand's listener")
}

/// Moves a listener to another thread and drops it there (joined).
pub(super) fn give_away_listener(listener: Listener) {
    match listener {
        Listener::Unix(l) => give_away(l),
        Listener::Tcp(l) => give_away(l),
    }
}

/// Moves `socket` to another thread and drops it there; joins the thread, so the
/// close is done when this returns.
pub(super) fn give_away<S: Send + 'static>(socket: S) {
    std::thread::spawn(move || drop(socket))
        .join()
        .expect("dropping a socket on another thread");
}

/// A UDP socket: one checked datagram to itself (`echo` bytes, none when 0), then a
/// receive cut off by a timeout of `wait` (nobody sends), so the loop has registered
/// it. Returns the socket when `away` (for [`give_away`]); else it closes through
/// the loop here.
pub(super) async fn udp(net: &Net, echo: usize, wait: Duration, away: bool) -> Option<UdpSocket> {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("binding a UDP socket");
    let addr = sock.local_addr().expect("the UDP socket's address");
    let injected = |e: &io::Error| net.enobufs && is_errno(e, libc::ENOBUFS);
    if echo > 0 {
        let data: Vec<u8> = (0..echo)
            .map(|i| super::splitmix(0xD6 ^ i as u64) as u8)
            .collect();
        let (res, buf) = sock.send_to(data.clone(), addr).await;
        assert_eq!(buf, data, "send_to's buffer came back changed");
        let sent = match res {
            Ok(n) => {
                assert_eq!(n, echo, "a datagram sent short");
                true
            }
            Err(e) if injected(&e) => false,
            Err(e) => panic!("UDP send_to failed: {e:?}"),
        };
        // An injected failure leaves the datagram queued: receive until it comes.
        if sent {
            loop {
                let (res, buf) = sock.recv_from(Vec::with_capacity(64)).await;
                match res {
                    Ok((n, from)) => {
                        assert_eq!((n, from), (echo, addr), "UDP: another datagram");
                        assert_eq!(buf, data, "UDP: the datagram arrived changed");
                        break;
                    }
                    Err(e) if injected(&e) => {}
                    Err(e) => panic!("UDP recv_from failed: {e:?}"),
                }
            }
        }
    }
    match ringloop::timeout(wait, sock.recv(Vec::with_capacity(8))).await {
        Err(_) => {}
        Ok((Err(e), _)) if injected(&e) => {}
        Ok((res, buf)) => panic!("UDP: a receive nobody sent to returned {res:?} ({buf:?})"),
    }
    if away { Some(sock) } else { None }
}

/// A Unix connection's stream, for the pool.
pub(super) fn into_unix(conn: Conn) -> UnixStream {
    match conn {
        Conn::Unix(s) => s,
        Conn::Tcp(_) => panic!("a TCP connection where a Unix one was paired"),
    }
}
