//! Addresses to connect to, and name lookup that never blocks the loop.
//!
//! Resolving a host name (`getaddrinfo`) blocks its thread for as long as DNS takes, so
//! it runs on the loop's blocking pool; addresses given as numbers never leave the
//! loop's thread.

#![forbid(unsafe_code)]

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// What [`TcpStream::connect`](super::TcpStream::connect) and [`lookup_host`] take: a
/// [`SocketAddr`] (or a slice, array or `Vec` of them), an `(IpAddr, u16)` pair, a
/// `(host, port)` pair, or a `"host:port"` string (`&str` or `String`; IPv6 hosts in
/// brackets, as in `"[::1]:80"`). Sealed: these are all.
///
/// ```
/// use std::net::{Ipv4Addr, SocketAddr};
/// use ringloop::net::lookup_host;
///
/// ringloop::run(async {
///     let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
///     assert_eq!(lookup_host(addr).await?, [addr]);
///     assert_eq!(lookup_host((Ipv4Addr::LOCALHOST, 8080)).await?, [addr]);
///     assert_eq!(lookup_host("127.0.0.1:8080").await?, [addr]);
///     assert_eq!(lookup_host(format!("127.0.0.1:{}", 8080)).await?, [addr]);
///     // A name is resolved on the blocking pool, never on the loop's thread.
///     assert!(!lookup_host(("localhost", 8080)).await?.is_empty());
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait ToSocketAddrs: sealed::Sealed {}

pub(crate) mod sealed {
    use super::Lookup;

    /// How an address argument resolves. Not API: it seals [`ToSocketAddrs`](super::ToSocketAddrs).
    #[doc(hidden)]
    pub trait Sealed {
        /// The addresses at once, or the name to resolve.
        fn to_lookup(&self) -> Lookup;
    }
}

/// An address argument, resolved (numbers) or to resolve (a name). Not API: `pub` only
/// because the sealing trait names it.
#[derive(Debug)]
#[doc(hidden)]
pub enum Lookup {
    /// Numeric: no lookup needed.
    Ready(Vec<SocketAddr>),
    /// `"host:port"` as given.
    HostPort(String),
    /// A host name and a port.
    Host(String, u16),
}

impl Lookup {
    /// Resolves on the calling thread (blocking for a name).
    fn resolve_here(self) -> io::Result<Vec<SocketAddr>> {
        use std::net::ToSocketAddrs as _;
        match self {
            Lookup::Ready(addrs) => Ok(addrs),
            Lookup::HostPort(s) => s.to_socket_addrs().map(Iterator::collect),
            Lookup::Host(host, port) => (host.as_str(), port)
                .to_socket_addrs()
                .map(Iterator::collect),
        }
    }
}

macro_rules! ready_impl {
    ($($ty:ty),*) => {$(
        impl ToSocketAddrs for $ty {}
        impl sealed::Sealed for $ty {
            fn to_lookup(&self) -> Lookup {
                Lookup::Ready(vec![SocketAddr::from(*self)])
            }
        }
    )*};
}
ready_impl!(SocketAddr, SocketAddrV4, SocketAddrV6);

macro_rules! ip_port_impl {
    ($($ty:ty),*) => {$(
        impl ToSocketAddrs for ($ty, u16) {}
        impl sealed::Sealed for ($ty, u16) {
            fn to_lookup(&self) -> Lookup {
                Lookup::Ready(vec![SocketAddr::from((self.0, self.1))])
            }
        }
    )*};
}
ip_port_impl!(IpAddr, Ipv4Addr, Ipv6Addr);

impl ToSocketAddrs for [SocketAddr] {}
impl sealed::Sealed for [SocketAddr] {
    fn to_lookup(&self) -> Lookup {
        Lookup::Ready(self.to_vec())
    }
}

impl<const N: usize> ToSocketAddrs for [SocketAddr; N] {}
impl<const N: usize> sealed::Sealed for [SocketAddr; N] {
    fn to_lookup(&self) -> Lookup {
        Lookup::Ready(self.to_vec())
    }
}

impl ToSocketAddrs for Vec<SocketAddr> {}
impl sealed::Sealed for Vec<SocketAddr> {
    fn to_lookup(&self) -> Lookup {
        Lookup::Ready(self.clone())
    }
}

impl ToSocketAddrs for str {}
impl sealed::Sealed for str {
    fn to_lookup(&self) -> Lookup {
        match self.parse::<SocketAddr>() {
            Ok(addr) => Lookup::Ready(vec![addr]),
            Err(_) => Lookup::HostPort(self.to_string()),
        }
    }
}

impl ToSocketAddrs for String {}
impl sealed::Sealed for String {
    fn to_lookup(&self) -> Lookup {
        self.as_str().to_lookup()
    }
}

impl ToSocketAddrs for (&str, u16) {}
impl sealed::Sealed for (&str, u16) {
    fn to_lookup(&self) -> Lookup {
        match self.0.parse::<IpAddr>() {
            Ok(ip) => Lookup::Ready(vec![SocketAddr::new(ip, self.1)]),
            Err(_) => Lookup::Host(self.0.to_string(), self.1),
        }
    }
}

impl ToSocketAddrs for (String, u16) {}
impl sealed::Sealed for (String, u16) {
    fn to_lookup(&self) -> Lookup {
        (self.0.as_str(), self.1).to_lookup()
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}
impl<T: sealed::Sealed + ?Sized> sealed::Sealed for &T {
    fn to_lookup(&self) -> Lookup {
        (**self).to_lookup()
    }
}

/// Resolves `addr` to its socket addresses, in the order the resolver gives them. A host
/// name is looked up on the loop's blocking pool (`getaddrinfo` blocks for as long as
/// DNS takes), so the loop runs on meanwhile; numeric addresses resolve at once.
///
/// ```
/// ringloop::run(async {
///     let addrs = ringloop::net::lookup_host("localhost:80").await.unwrap();
///     assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 80));
///     let numeric = ringloop::net::lookup_host("127.0.0.1:8080").await.unwrap();
///     assert_eq!(numeric, ["127.0.0.1:8080".parse().unwrap()]);
/// });
/// ```
///
/// # Errors
///
/// The resolver's error (an unknown host, a malformed `"host:port"`), as an
/// [`io::Error`].
///
/// # Panics
///
/// When polled for a name outside a running loop.
pub async fn lookup_host(addr: impl ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    resolve(addr.to_lookup(), "ringloop::net::lookup_host()").await
}

/// Resolves `lookup`, on the blocking pool when it is a name.
pub(crate) async fn resolve(lookup: Lookup, what: &str) -> io::Result<Vec<SocketAddr>> {
    match lookup {
        Lookup::Ready(addrs) => Ok(addrs),
        name => {
            let core = crate::event_loop::context::current_core(what);
            match core.spawn_blocking(move || name.resolve_here()).await {
                Ok(resolved) => resolved,
                Err(e) => Err(io::Error::other(format!("name lookup failed: {e}"))),
            }
        }
    }
}
