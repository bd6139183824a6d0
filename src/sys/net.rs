//! Socket syscalls and socket-address conversions.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A socket address in the kernel's layout, big enough for any family ringloop uses.
/// Lives on the heap (in an operation's resources) while the kernel may read or write it.
#[derive(Clone, Copy)]
pub struct SockAddr {
    pub(crate) storage: libc::sockaddr_storage,
    pub(crate) len: libc::socklen_t,
}

impl SockAddr {
    /// Room for the kernel to write any address into (accept, recvmsg).
    pub(crate) fn empty() -> SockAddr {
        SockAddr {
            // SAFETY: `sockaddr_storage` is plain old data; all zeroes is a valid value.
            storage: unsafe { mem::zeroed() },
            len: mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t,
        }
    }

    pub(crate) fn as_ptr(&self) -> *const libc::sockaddr {
        (&self.storage as *const libc::sockaddr_storage).cast()
    }

    pub(crate) fn as_mut_ptr(&mut self) -> *mut libc::sockaddr {
        (&mut self.storage as *mut libc::sockaddr_storage).cast()
    }

    pub(crate) fn family(&self) -> libc::c_int {
        libc::c_int::from(self.storage.ss_family)
    }

    /// The kernel layout of an IP socket address.
    pub(crate) fn from_inet(addr: SocketAddr) -> SockAddr {
        let mut out = SockAddr::empty();
        match addr {
            SocketAddr::V4(v4) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: v4.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(v4.ip().octets()),
                    },
                    sin_zero: [0; 8],
                };
                // SAFETY: `sockaddr_storage` is larger than and aligned for `sockaddr_in`.
                unsafe { out.as_mut_ptr().cast::<libc::sockaddr_in>().write(sin) };
                out.len = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            }
            SocketAddr::V6(v6) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: v6.port().to_be(),
                    sin6_flowinfo: v6.flowinfo(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: v6.ip().octets(),
                    },
                    sin6_scope_id: v6.scope_id(),
                };
                // SAFETY: `sockaddr_storage` is larger than and aligned for `sockaddr_in6`.
                unsafe { out.as_mut_ptr().cast::<libc::sockaddr_in6>().write(sin6) };
                out.len = mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            }
        }
        out
    }

    /// The kernel layout of a Unix socket path.
    pub(crate) fn from_path(path: &Path) -> io::Result<SockAddr> {
        let bytes = path.as_os_str().as_bytes();
        let mut out = SockAddr::empty();
        // SAFETY: `sockaddr_storage` is larger than and aligned for `sockaddr_un`.
        let sun = unsafe { &mut *out.as_mut_ptr().cast::<libc::sockaddr_un>() };
        if bytes.len() >= sun.sun_path.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a Unix socket path must be shorter than 108 bytes",
            ));
        }
        if bytes.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a Unix socket path may not contain a NUL byte",
            ));
        }
        sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (dst, &src) in sun.sun_path.iter_mut().zip(bytes) {
            *dst = src as libc::c_char;
        }
        let base = mem::offset_of!(libc::sockaddr_un, sun_path);
        out.len = (base + bytes.len() + 1) as libc::socklen_t;
        Ok(out)
    }

    /// The kernel layout of a Unix socket address: a path, an abstract name (Linux) or
    /// unnamed (only the family).
    pub(crate) fn from_unix(addr: &std::os::unix::net::SocketAddr) -> SockAddr {
        use std::os::linux::net::SocketAddrExt;
        if let Some(path) = addr.as_pathname() {
            // A std address holds a path that fits and has no NUL.
            return SockAddr::from_path(path).expect("a Unix socket address's path fits");
        }
        let mut out = SockAddr::empty();
        // SAFETY: `sockaddr_storage` is larger than and aligned for `sockaddr_un`.
        let sun = unsafe { &mut *out.as_mut_ptr().cast::<libc::sockaddr_un>() };
        sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let base = mem::offset_of!(libc::sockaddr_un, sun_path);
        out.len = base as libc::socklen_t;
        if let Some(name) = addr.as_abstract_name() {
            // sun_path[0] stays 0: the name follows it, without a terminating NUL.
            for (dst, &src) in sun.sun_path[1..].iter_mut().zip(name) {
                *dst = src as libc::c_char;
            }
            out.len = (base + 1 + name.len()) as libc::socklen_t;
        }
        out
    }

    /// The Unix socket address the kernel wrote.
    pub(crate) fn as_unix(&self) -> io::Result<std::os::unix::net::SocketAddr> {
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::net::SocketAddr as UnixAddr;
        if self.len == 0 {
            // A sender bound to nothing: recvmsg writes no address at all.
            return UnixAddr::from_pathname("");
        }
        if self.family() != libc::AF_UNIX {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the kernel returned an address of family {}, not AF_UNIX",
                    self.family()
                ),
            ));
        }
        // SAFETY: the family says the storage holds a `sockaddr_un`.
        let sun = unsafe { &*self.as_ptr().cast::<libc::sockaddr_un>() };
        let base = mem::offset_of!(libc::sockaddr_un, sun_path);
        let len = (self.len as usize)
            .saturating_sub(base)
            .min(sun.sun_path.len());
        let bytes: Vec<u8> = sun.sun_path[..len].iter().map(|&c| c as u8).collect();
        match bytes.first() {
            // Only the family: an unbound socket (std's empty path is its unnamed address).
            None => UnixAddr::from_pathname(""),
            Some(0) => UnixAddr::from_abstract_name(&bytes[1..]),
            Some(_) => {
                let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                UnixAddr::from_pathname(Path::new(std::ffi::OsStr::from_bytes(&bytes[..end])))
            }
        }
    }

    /// The IP address the kernel wrote.
    pub(crate) fn as_inet(&self) -> io::Result<SocketAddr> {
        match self.family() {
            libc::AF_INET => {
                // SAFETY: the family says the storage holds a `sockaddr_in`.
                let sin = unsafe { &*self.as_ptr().cast::<libc::sockaddr_in>() };
                let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
                Ok(SocketAddr::V4(SocketAddrV4::new(
                    ip,
                    u16::from_be(sin.sin_port),
                )))
            }
            libc::AF_INET6 => {
                // SAFETY: the family says the storage holds a `sockaddr_in6`.
                let sin6 = unsafe { &*self.as_ptr().cast::<libc::sockaddr_in6>() };
                Ok(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            other => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the kernel returned an address of family {other}, not IPv4 or IPv6"),
            )),
        }
    }
}

/// A new nonblocking, close-on-exec socket.
pub(crate) fn socket(domain: libc::c_int, ty: libc::c_int) -> io::Result<OwnedFd> {
    let fd = syscall!(socket(
        domain,
        ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        0
    ))?;
    // SAFETY: `socket` just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The address family of an IP address.
pub(crate) fn inet_domain(addr: &SocketAddr) -> libc::c_int {
    match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    }
}

/// Sets an integer socket option.
pub(crate) fn set_int_option(
    fd: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    let ptr = (&value as *const libc::c_int).cast::<libc::c_void>();
    let len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    syscall!(setsockopt(fd.as_raw_fd(), level, name, ptr, len))?;
    Ok(())
}

/// An integer socket option.
pub(crate) fn int_option(
    fd: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    let ptr = (&mut value as *mut libc::c_int).cast::<libc::c_void>();
    syscall!(getsockopt(fd.as_raw_fd(), level, name, ptr, &mut len))?;
    Ok(value)
}

/// `SO_LINGER`: `Some(d)` makes close wait up to `d` (whole seconds, rounded up) for
/// unsent data, `Some(0)` resets the connection on close; `None` is the default.
pub(crate) fn set_linger(fd: &impl AsRawFd, linger: Option<std::time::Duration>) -> io::Result<()> {
    let value = libc::linger {
        l_onoff: libc::c_int::from(linger.is_some()),
        l_linger: linger.map_or(0, |d| {
            let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
            libc::c_int::try_from(secs).unwrap_or(libc::c_int::MAX)
        }),
    };
    let ptr = (&value as *const libc::linger).cast::<libc::c_void>();
    let len = mem::size_of::<libc::linger>() as libc::socklen_t;
    syscall!(setsockopt(
        fd.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_LINGER,
        ptr,
        len
    ))?;
    Ok(())
}

/// `SO_LINGER` as set.
pub(crate) fn linger(fd: &impl AsRawFd) -> io::Result<Option<std::time::Duration>> {
    let mut value = libc::linger {
        l_onoff: 0,
        l_linger: 0,
    };
    let mut len = mem::size_of::<libc::linger>() as libc::socklen_t;
    let ptr = (&mut value as *mut libc::linger).cast::<libc::c_void>();
    syscall!(getsockopt(
        fd.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_LINGER,
        ptr,
        &mut len
    ))?;
    Ok((value.l_onoff != 0).then(|| std::time::Duration::from_secs(value.l_linger.max(0) as u64)))
}

/// Binds `fd` to `addr`.
pub(crate) fn bind(fd: &OwnedFd, addr: &SockAddr) -> io::Result<()> {
    syscall!(bind(fd.as_raw_fd(), addr.as_ptr(), addr.len))?;
    Ok(())
}

/// Marks `fd` as listening.
pub(crate) fn listen(fd: &OwnedFd, backlog: i32) -> io::Result<()> {
    syscall!(listen(fd.as_raw_fd(), backlog))?;
    Ok(())
}

// The calls below that run an operation report as an io_uring completion would: the
// return value, or `-errno` (`super::as_result`). `EINTR` is retried, so it never
// escapes. Those that take an operation's raw pointers are `unsafe fn`s: the caller
// vouches for the memory.

/// recv(2) that never blocks (`MSG_DONTWAIT`): the byte count, or `-errno` (`-EAGAIN`
/// when nothing is waiting). The one recv wrapper: operations (try-first and the epoll
/// backend) and [`recv_slice`] go through it.
///
/// # Safety
///
/// `buf` is valid for writes of `len` bytes.
pub(crate) unsafe fn recv(fd: RawFd, buf: *mut u8, len: u32) -> i32 {
    super::as_result(|| syscall!(recv(fd, buf.cast(), len as usize, libc::MSG_DONTWAIT)))
}

/// send(2) that never blocks (`MSG_DONTWAIT`) and never raises `SIGPIPE`
/// (`MSG_NOSIGNAL`): the byte count, or `-errno` (`-EAGAIN` when the socket's send
/// buffer is full). The one send wrapper, as [`recv`] is for receiving.
///
/// # Safety
///
/// `buf` is valid for reads of `len` bytes.
pub(crate) unsafe fn send(fd: RawFd, buf: *const u8, len: u32) -> i32 {
    let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
    super::as_result(|| syscall!(send(fd, buf.cast(), len as usize, flags)))
}

/// accept4(2) with a nonblocking, close-on-exec result, as the io_uring backend asks.
///
/// # Safety
///
/// `addr` and `len` are valid for writes (`*len` bytes at `addr`).
pub(crate) unsafe fn accept(
    fd: RawFd,
    addr: *mut libc::sockaddr,
    len: *mut libc::socklen_t,
) -> i32 {
    let flags = libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
    super::as_result(|| syscall!(accept4(fd, addr, len, flags)))
}

/// connect(2). A nonblocking TCP socket answers `-EINPROGRESS`.
///
/// # Safety
///
/// `addr` is valid for reads of `len` bytes.
pub(crate) unsafe fn connect(fd: RawFd, addr: *const libc::sockaddr, len: libc::socklen_t) -> i32 {
    super::as_result(|| syscall!(connect(fd, addr, len)))
}

/// The outcome of a connect that answered `EINPROGRESS`: `0` or `-errno`
/// (`getsockopt(SO_ERROR)`).
pub(crate) fn connect_result(fd: RawFd) -> i32 {
    let mut err: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    let ptr = (&mut err as *mut libc::c_int).cast::<libc::c_void>();
    match super::as_result(|| {
        syscall!(getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            ptr,
            &mut len
        ))
    }) {
        0 => -err,
        failed => failed,
    }
}

/// recvmsg(2).
///
/// # Safety
///
/// `msg` and everything it points to are valid (for writes where recvmsg writes).
pub(crate) unsafe fn recvmsg(fd: RawFd, msg: *mut libc::msghdr) -> i32 {
    super::as_result(|| syscall!(recvmsg(fd, msg, 0)))
}

/// sendmsg(2), never raising `SIGPIPE`.
///
/// # Safety
///
/// `msg` and everything it points to are valid for reads.
pub(crate) unsafe fn sendmsg(fd: RawFd, msg: *const libc::msghdr) -> i32 {
    super::as_result(|| syscall!(sendmsg(fd, msg, libc::MSG_NOSIGNAL)))
}

/// shutdown(2).
pub(crate) fn shutdown(fd: RawFd, how: libc::c_int) -> i32 {
    super::as_result(|| syscall!(shutdown(fd, how)))
}

/// close(2), reported as a completion would be. Never retried: on Linux the descriptor
/// is gone even when close reports `EINTR`, which therefore counts as success.
pub(crate) fn close(fd: OwnedFd) -> i32 {
    match syscall!(close(fd.into_raw_fd())) {
        Ok(_) => 0,
        Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
        Err(e) => -e.raw_os_error().unwrap_or(libc::EIO),
    }
}

/// Takes ownership of a descriptor the kernel just created for us (an accept result).
///
/// # Safety
///
/// `fd` is open and owned by nothing else.
pub(crate) unsafe fn own(fd: RawFd) -> OwnedFd {
    // SAFETY: the caller's contract.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

impl std::fmt::Debug for SockAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SockAddr")
            .field("family", &self.family())
            .field("len", &self.len)
            .finish()
    }
}

/// Whether `fd` is a stream socket (`SO_TYPE` is `SOCK_STREAM`); false on any error.
#[cfg(feature = "fault-injection")]
pub(crate) fn is_stream(fd: RawFd) -> bool {
    let mut ty: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    let ptr = (&mut ty as *mut libc::c_int).cast::<libc::c_void>();
    syscall!(getsockopt(
        fd,
        libc::SOL_SOCKET,
        libc::SO_TYPE,
        ptr,
        &mut len
    ))
    .is_ok_and(|_| ty == libc::SOCK_STREAM)
}

/// Whether `fd` is a TCP socket (`SO_PROTOCOL`), which takes zero-copy sends.
pub(crate) fn is_tcp(fd: RawFd) -> bool {
    let mut proto: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    let ptr = (&mut proto as *mut libc::c_int).cast::<libc::c_void>();
    syscall!(getsockopt(
        fd,
        libc::SOL_SOCKET,
        libc::SO_PROTOCOL,
        ptr,
        &mut len
    ))
    .is_ok_and(|_| proto == libc::IPPROTO_TCP)
}

/// [`send`] of a slice (at most 4 GiB of it per call).
pub(crate) fn send_slice(fd: RawFd, data: &[u8]) -> io::Result<usize> {
    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    // SAFETY: `data` is valid for reads of its length, of which `len` is at most.
    super::result(unsafe { send(fd, data.as_ptr(), len) }).map(|n| n as usize)
}

/// sendto(2) of a slice as one datagram to `to`, never raising `SIGPIPE`.
pub(crate) fn send_to_slice(fd: RawFd, data: &[u8], to: &SockAddr) -> io::Result<usize> {
    // SAFETY: `data` is valid for reads of its length, and `to` for `to.len` bytes.
    let n = syscall!(sendto(
        fd,
        data.as_ptr().cast(),
        data.len(),
        libc::MSG_NOSIGNAL,
        to.as_ptr(),
        to.len
    ))?;
    Ok(n as usize)
}

/// Whether the peer of the stream socket `fd` has closed and nothing is left to read
/// (a nonblocking one-byte `recv` with `MSG_PEEK` returns 0): false while data waits,
/// while nothing has come, and on any error. Reads nothing.
pub(crate) fn peer_closed(fd: RawFd) -> bool {
    let mut byte = 0u8;
    let ptr = (&mut byte as *mut u8).cast::<libc::c_void>();
    matches!(
        syscall!(recv(fd, ptr, 1, libc::MSG_PEEK | libc::MSG_DONTWAIT)),
        Ok(0)
    )
}

/// [`recv`] into a slice (at most 4 GiB of it per call).
pub(crate) fn recv_slice(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
    // SAFETY: `buf` is valid for writes of its length, of which `len` is at most.
    super::result(unsafe { recv(fd, buf.as_mut_ptr(), len) }).map(|n| n as usize)
}

/// The peer address of a connected IP socket.
pub(crate) fn peer_addr(fd: &OwnedFd) -> io::Result<SocketAddr> {
    let mut addr = SockAddr::empty();
    syscall!(getpeername(
        fd.as_raw_fd(),
        addr.as_mut_ptr(),
        &mut addr.len
    ))?;
    addr.as_inet()
}

/// sendmsg(2) of several slices at once (writev on a socket), never blocking and never
/// raising `SIGPIPE`; `EINTR` is retried.
#[cfg(poll_io)]
pub(crate) fn send_vectored(fd: RawFd, bufs: &[std::io::IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: an all-zero `msghdr` is valid (no name, no control data).
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    // `IoSlice` is ABI-compatible with `iovec` on Unix (std's guarantee); the kernel
    // only reads through it. More than `IOV_MAX` slices are cut to that many.
    msg.msg_iov = bufs.as_ptr().cast_mut().cast::<libc::iovec>();
    msg.msg_iovlen = bufs.len().min(libc::UIO_MAXIOV as usize);
    let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
    let n = super::as_result(|| syscall!(sendmsg(fd, &msg, flags)));
    super::result(n).map(|n| n as usize)
}

/// recv(2) into the unfilled part of a tokio `ReadBuf`, never blocking; `EINTR` is
/// retried. The bytes received are marked filled (and initialized).
#[cfg(feature = "tokio-io")]
pub(crate) fn recv_into(fd: RawFd, buf: &mut tokio::io::ReadBuf<'_>) -> io::Result<usize> {
    // SAFETY: only the kernel writes into the unfilled part (never de-initializing it),
    // and at most its length.
    let unfilled = unsafe { buf.unfilled_mut() };
    let len = u32::try_from(unfilled.len()).unwrap_or(u32::MAX);
    // SAFETY: `unfilled` is valid for writes of its length, of which `len` is at most.
    let n = super::result(unsafe { recv(fd, unfilled.as_mut_ptr().cast::<u8>(), len) })?;
    let n = n as usize;
    // SAFETY: the kernel initialized the first `n` bytes of the unfilled part.
    unsafe { buf.assume_init(n) };
    buf.advance(n);
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::SocketAddr as UnixAddr;

    #[test]
    fn unix_addresses_round_trip_through_the_kernel_layout() {
        let path = UnixAddr::from_pathname("/tmp/some.sock").unwrap();
        let back = SockAddr::from_unix(&path).as_unix().unwrap();
        assert_eq!(back.as_pathname(), Some(Path::new("/tmp/some.sock")));

        let abstract_name = UnixAddr::from_abstract_name(b"ringloop\0x").unwrap();
        let back = SockAddr::from_unix(&abstract_name).as_unix().unwrap();
        assert_eq!(back.as_abstract_name(), Some(&b"ringloop\0x"[..]));
        assert!(back.as_pathname().is_none());

        let mut nothing = SockAddr::empty();
        nothing.len = 0;
        assert!(
            nothing.as_unix().unwrap().is_unnamed(),
            "recvmsg from an unbound sender"
        );

        let unnamed = UnixAddr::from_pathname("").unwrap();
        assert!(unnamed.is_unnamed());
        let raw = SockAddr::from_unix(&unnamed);
        assert_eq!(
            raw.len as usize,
            mem::offset_of!(libc::sockaddr_un, sun_path)
        );
        assert!(raw.as_unix().unwrap().is_unnamed());
    }

    #[test]
    fn an_inet_address_is_not_a_unix_one() {
        let raw = SockAddr::from_inet("127.0.0.1:80".parse().unwrap());
        assert_eq!(
            raw.as_unix().unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }
}
