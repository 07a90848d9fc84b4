//! The socket under a connection: a netlink socket, or (in tests) a Unix
//! datagram socket that carries scripted replies.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::task::{Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::error::{Error, Result};
use crate::wire::names::Protocol;

/// Receive and send buffer size netplumb asks for (with `SO_RCVBUFFORCE`
/// when privileged, else `SO_RCVBUF`, which the kernel caps at `rmem_max`).
pub(crate) const WANT_SOCKET_BUFFER: usize = 4 << 20;

/// What a socket is for; decides its options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Requests and acks.
    Request,
    /// Dumps.
    Dump,
    /// Multicast events, with an optional receive buffer size.
    Events(Option<usize>),
}

pub(crate) enum RawSock {
    Netlink(netlink_sys::Socket),
    /// Test transport: every datagram is framed as `[u32 port][netlink bytes]`.
    // Constructed only by the scripted-reply tests and testing::FakeKernel.
    #[cfg_attr(not(any(test, feature = "test-support")), allow(dead_code))]
    Scripted(UnixDatagram),
}

impl AsRawFd for RawSock {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            RawSock::Netlink(s) => s.as_raw_fd(),
            RawSock::Scripted(s) => s.as_raw_fd(),
        }
    }
}

fn setsockopt_int(fd: RawFd, level: i32, opt: i32, val: i32) -> io::Result<()> {
    // SAFETY: passing a pointer to a live i32 and its size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            &val as *const i32 as *const libc::c_void,
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn getsockopt_int(fd: RawFd, level: i32, opt: i32) -> io::Result<i32> {
    let mut val: i32 = 0;
    let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
    // SAFETY: pointer to a live i32 and its length.
    let r = unsafe { libc::getsockopt(fd, level, opt, &mut val as *mut i32 as *mut libc::c_void, &mut len) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(val)
    }
}

/// Set a socket buffer, forcing past `rmem_max`/`wmem_max` when allowed.
/// Returns the size the kernel reports afterwards.
pub(crate) fn set_buffer(fd: RawFd, receive: bool, size: usize) -> usize {
    let size = size.min(i32::MAX as usize / 2) as i32;
    let (force, plain) = if receive {
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF)
    } else {
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF)
    };
    if setsockopt_int(fd, libc::SOL_SOCKET, force, size).is_err() {
        let _ = setsockopt_int(fd, libc::SOL_SOCKET, plain, size);
    }
    getsockopt_int(fd, libc::SOL_SOCKET, plain).map(|v| v as usize).unwrap_or(0)
}

/// Open and configure a netlink socket in the calling thread's namespace.
pub(crate) fn open(protocol: Protocol, role: Role, groups: &[u32]) -> Result<RawSock> {
    let what = |op: &str| format!("{op} ({protocol:?} netlink socket)");
    let mut s = netlink_sys::Socket::new(protocol.number()).map_err(|e| Error::io(what("socket"), e))?;
    s.bind_auto().map_err(|e| Error::io(what("bind"), e))?;
    s.set_non_blocking(true).map_err(|e| Error::io(what("set non-blocking"), e))?;
    // Extended acks everywhere; capped acks so an error does not echo a
    // whole (possibly huge) request back into the receive buffer.
    s.set_ext_ack(true).map_err(|e| Error::io(what("NETLINK_EXT_ACK"), e))?;
    s.set_cap_ack(true).map_err(|e| Error::io(what("NETLINK_CAP_ACK"), e))?;
    if protocol == Protocol::Route {
        s.set_netlink_get_strict_chk(true).map_err(|e| Error::io(what("NETLINK_GET_STRICT_CHK"), e))?;
    }
    let fd = s.as_raw_fd();
    match role {
        Role::Request | Role::Dump => {
            set_buffer(fd, true, WANT_SOCKET_BUFFER);
            set_buffer(fd, false, WANT_SOCKET_BUFFER);
        }
        Role::Events(Some(size)) => {
            // A user-chosen size: plain SO_RCVBUF semantics, but allowed
            // past rmem_max like the others.
            set_buffer(fd, true, size);
        }
        Role::Events(None) => {
            set_buffer(fd, true, WANT_SOCKET_BUFFER);
        }
    }
    for &g in groups {
        s.add_membership(g).map_err(|e| Error::io(format!("join multicast group {g}"), e))?;
    }
    Ok(RawSock::Netlink(s))
}

/// One received datagram's size and sender.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Received {
    pub len: usize,
    pub port: u32,
}

/// A registered, non-blocking socket.
pub(crate) struct Sock {
    fd: AsyncFd<RawSock>,
    /// Largest datagram accepted; a bigger one is discarded as truncated.
    max_datagram: usize,
}

impl Sock {
    pub(crate) fn new(raw: RawSock, max_datagram: usize) -> Result<Sock> {
        if let RawSock::Scripted(s) = &raw {
            s.set_nonblocking(true).map_err(|e| Error::io("set non-blocking", e))?;
        }
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::NoRuntime);
        }
        // SAFETY: `raw` owns its file descriptor, keeps it open for as long
        // as the AsyncFd owns `raw`, and `as_raw_fd` always returns it.
        let fd = unsafe { AsyncFd::register_with_interest(raw, Interest::READABLE | Interest::WRITABLE) }
            .map_err(|e| Error::io("register socket with tokio", e.into()))?;
        Ok(Sock { fd, max_datagram })
    }

    pub(crate) fn raw_fd(&self) -> RawFd {
        self.fd.get_ref().as_raw_fd()
    }

    fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        match self.fd.get_ref() {
            RawSock::Netlink(s) => {
                let kernel = netlink_sys::SocketAddr::new(0, 0);
                s.send_to(buf, &kernel, libc::MSG_DONTWAIT)
            }
            RawSock::Scripted(s) => s.send(buf),
        }
    }

    /// Send one datagram.
    pub(crate) async fn send(&self, buf: &[u8]) -> io::Result<()> {
        loop {
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|_| self.try_send(buf)) {
                Ok(Ok(n)) if n == buf.len() => return Ok(()),
                Ok(Ok(n)) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        format!("sent {n} of {} bytes", buf.len()),
                    ))
                }
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }

    /// Send without waiting for writability (netlink sends to the kernel
    /// never block); used from `poll` functions. Retries on EINTR.
    pub(crate) fn send_now(&self, buf: &[u8]) -> io::Result<()> {
        loop {
            match self.try_send(buf) {
                Ok(n) if n == buf.len() => return Ok(()),
                Ok(n) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        format!("sent {n} of {} bytes", buf.len()),
                    ))
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Non-blocking receive of one datagram into `buf` (resized to fit).
    /// `Err(WouldBlock)` when nothing is queued.
    pub(crate) fn try_recv(&self, buf: &mut Vec<u8>) -> io::Result<std::result::Result<Received, Error>> {
        let fd = self.raw_fd();
        // Peek at the real size first (MSG_TRUNC reports it), so a datagram
        // never gets cut short by a small buffer.
        // SAFETY: zero-length read into a valid pointer.
        let peek = unsafe {
            libc::recv(
                fd,
                buf.as_mut_ptr() as *mut libc::c_void,
                0,
                libc::MSG_PEEK | libc::MSG_TRUNC | libc::MSG_DONTWAIT,
            )
        };
        if peek < 0 {
            return Err(io::Error::last_os_error());
        }
        let size = peek as usize;
        if size > self.max_datagram {
            // Too large to accept: consume it so the socket moves on, and
            // report it instead of parsing a part of it.
            let mut scratch = [0u8; 16];
            // SAFETY: valid buffer and length.
            let r = unsafe {
                libc::recv(fd, scratch.as_mut_ptr() as *mut libc::c_void, scratch.len(), libc::MSG_DONTWAIT)
            };
            if r < 0 {
                return Err(io::Error::last_os_error());
            }
            return Ok(Err(Error::Truncated { size, buffer: self.max_datagram }));
        }
        if buf.len() < size {
            buf.resize(size, 0);
        }
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        let mut addrlen = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
        let cap = buf.len();
        // SAFETY: buffer pointer/length are valid; the address storage is a
        // sockaddr_nl with its size (Unix sockets write a shorter address).
        let n = unsafe {
            libc::recvfrom(
                fd,
                buf.as_mut_ptr() as *mut libc::c_void,
                cap,
                libc::MSG_TRUNC | libc::MSG_DONTWAIT,
                &mut addr as *mut libc::sockaddr_nl as *mut libc::sockaddr,
                &mut addrlen,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        if n > cap {
            return Ok(Err(Error::Truncated { size: n, buffer: cap }));
        }
        Ok(Ok(match self.fd.get_ref() {
            RawSock::Netlink(_) => Received { len: n, port: addr.nl_pid },
            RawSock::Scripted(_) => {
                if n < 4 {
                    return Ok(Err(Error::Truncated { size: n, buffer: cap }));
                }
                let port = u32::from_ne_bytes(buf[0..4].try_into().expect("4 bytes"));
                buf.copy_within(4..n, 0);
                Received { len: n - 4, port }
            }
        }))
    }

    /// Poll for one datagram. `Ok(Err(e))` is a per-datagram error
    /// (truncation) after which the socket is still usable; `Err(io)` is a
    /// socket error such as ENOBUFS.
    pub(crate) fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        buf: &mut Vec<u8>,
    ) -> Poll<io::Result<std::result::Result<Received, Error>>> {
        loop {
            let mut guard = match self.fd.poll_read_ready(cx) {
                Poll::Ready(Ok(g)) => g,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            match guard.try_io(|_| self.try_recv(buf)) {
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(r) => return Poll::Ready(r),
                Err(_would_block) => continue,
            }
        }
    }

    /// Receive one datagram.
    pub(crate) async fn recv(&self, buf: &mut Vec<u8>) -> io::Result<std::result::Result<Received, Error>> {
        std::future::poll_fn(|cx| self.poll_recv(cx, buf)).await
    }
}
