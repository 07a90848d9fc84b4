//! The socket under a connection: a netlink socket, or (in tests) a Unix
//! datagram socket that carries scripted replies.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::task::{Context, Poll};

use nix::sys::socket::{getsockopt, recv, recvmsg, setsockopt, sockopt, MsgFlags, SockaddrStorage};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::error::{Error, Result};
use crate::names::Protocol;

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

impl AsFd for RawSock {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            RawSock::Netlink(s) => s.as_fd(),
            RawSock::Scripted(s) => s.as_fd(),
        }
    }
}

impl AsRawFd for RawSock {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            RawSock::Netlink(s) => s.as_raw_fd(),
            RawSock::Scripted(s) => s.as_raw_fd(),
        }
    }
}

/// Set a socket buffer, forcing past `rmem_max`/`wmem_max` when allowed.
/// Returns the size the kernel reports afterwards.
pub(crate) fn set_buffer(fd: &impl AsFd, receive: bool, size: usize) -> usize {
    let size = size.min(i32::MAX as usize / 2);
    if receive {
        if setsockopt(fd, sockopt::RcvBufForce, &size).is_err() {
            let _ = setsockopt(fd, sockopt::RcvBuf, &size);
        }
        getsockopt(fd, sockopt::RcvBuf).unwrap_or(0)
    } else {
        if setsockopt(fd, sockopt::SndBufForce, &size).is_err() {
            let _ = setsockopt(fd, sockopt::SndBuf, &size);
        }
        getsockopt(fd, sockopt::SndBuf).unwrap_or(0)
    }
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
    let fd = &s;
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

/// What one receive got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Received {
    /// A whole datagram of `len` bytes from port `port`, at the start of
    /// the buffer.
    Datagram { len: usize, port: u32 },
    /// A datagram of `size` bytes from port `port` that did not fit in
    /// `buffer` bytes: it was consumed and discarded, never parsed in part.
    Truncated { size: usize, buffer: usize, port: u32 },
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

    /// The socket's descriptor, borrowed.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.get_ref().as_fd()
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
    pub(crate) fn try_recv(&self, buf: &mut Vec<u8>) -> io::Result<Received> {
        let fd = self.raw_fd();
        let nonblocking = MsgFlags::MSG_DONTWAIT;
        // Peek at the real size first (MSG_TRUNC reports it), so a datagram
        // never gets cut short by a small buffer.
        let size = recv(fd, &mut [], MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC | nonblocking)?;
        if size > self.max_datagram {
            // Too large to accept: consume it so the socket moves on (its
            // sender is still known), and report it instead of parsing a
            // part of it.
            let mut scratch = [0u8; 16];
            let (_, port) = self.recv_from(&mut scratch, nonblocking)?;
            return Ok(Received::Truncated { size, buffer: self.max_datagram, port });
        }
        if buf.len() < size {
            buf.resize(size, 0);
        }
        let cap = buf.len();
        let (n, port) = self.recv_from(buf, nonblocking | MsgFlags::MSG_TRUNC)?;
        if n > cap {
            return Ok(Received::Truncated { size: n, buffer: cap, port });
        }
        if let RawSock::Scripted(_) = self.fd.get_ref() {
            if n < 4 {
                return Ok(Received::Truncated { size: n, buffer: cap, port });
            }
            buf.copy_within(4..n, 0);
            return Ok(Received::Datagram { len: n - 4, port });
        }
        Ok(Received::Datagram { len: n, port })
    }

    /// Non-blocking receive of one datagram of at most `bound` bytes
    /// (capped at the largest accepted) into `buf`, without first peeking
    /// at its size: a longer one is consumed and reported
    /// [`Received::Truncated`] with `bound` as the buffer, as
    /// [`Sock::try_recv`] reports one longer than the largest accepted.
    /// `buf` is zeroed once to the size it needs, then reused as it is.
    /// For dumps whose datagrams the kernel bounds (`dump::datagram_bound`):
    /// the peek is a receive call too, and the kernel builds the next
    /// datagram of a dump inside each one. `Err(WouldBlock)` when nothing
    /// is queued.
    pub(crate) fn try_recv_bounded(&self, buf: &mut Vec<u8>, bound: usize) -> io::Result<Received> {
        let bound = bound.min(self.max_datagram);
        // The scripted transport puts the sender's port before each datagram.
        let extra = if let RawSock::Scripted(_) = self.fd.get_ref() { 4 } else { 0 };
        let cap = bound + extra;
        if buf.len() < cap {
            buf.resize(cap, 0);
        }
        let (n, port) = self.recv_from(&mut buf[..cap], MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_TRUNC)?;
        if n > cap || n < extra {
            return Ok(Received::Truncated { size: n.saturating_sub(extra), buffer: bound, port });
        }
        if extra > 0 {
            buf.copy_within(extra..n, 0);
        }
        Ok(Received::Datagram { len: n - extra, port })
    }

    /// [`Sock::try_recv_bounded`] with `Some(bound)`, else [`Sock::try_recv`].
    pub(crate) fn try_recv_within(&self, buf: &mut Vec<u8>, bound: Option<usize>) -> io::Result<Received> {
        match bound {
            Some(b) => self.try_recv_bounded(buf, b),
            None => self.try_recv(buf),
        }
    }

    /// `recvmsg` into `buf`: the datagram's full size (with `MSG_TRUNC`,
    /// possibly more than `buf`) and its sender's port id. On the scripted
    /// transport the port is the first 4 bytes of the datagram.
    fn recv_from(&self, buf: &mut [u8], flags: MsgFlags) -> io::Result<(usize, u32)> {
        let mut iov = [io::IoSliceMut::new(buf)];
        let r = recvmsg::<SockaddrStorage>(self.raw_fd(), &mut iov, None, flags)?;
        let n = r.bytes;
        let port = match self.fd.get_ref() {
            RawSock::Netlink(_) => r.address.as_ref().and_then(|a| a.as_netlink_addr()).map(|a| a.pid()),
            RawSock::Scripted(_) => buf.get(0..4).map(|b| u32::from_ne_bytes(b.try_into().expect("4 bytes"))),
        };
        // A datagram whose sender is unknown is treated as not the kernel's.
        Ok((n, port.unwrap_or(u32::MAX)))
    }

    /// Poll for one datagram. [`Received::Truncated`] is a per-datagram
    /// loss after which the socket is still usable; `Err(io)` is a socket
    /// error such as ENOBUFS.
    pub(crate) fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<Received>> {
        self.poll_recv_bounded(cx, buf, None)
    }

    /// [`Sock::poll_recv`] through [`Sock::try_recv_within`].
    pub(crate) fn poll_recv_bounded(
        &self,
        cx: &mut Context<'_>,
        buf: &mut Vec<u8>,
        bound: Option<usize>,
    ) -> Poll<io::Result<Received>> {
        loop {
            let mut guard = match self.fd.poll_read_ready(cx) {
                Poll::Ready(Ok(g)) => g,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            match guard.try_io(|_| self.try_recv_within(buf, bound)) {
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(r) => return Poll::Ready(r),
                Err(_would_block) => continue,
            }
        }
    }

    /// Receive one datagram.
    pub(crate) async fn recv(&self, buf: &mut Vec<u8>) -> io::Result<Received> {
        std::future::poll_fn(|cx| self.poll_recv(cx, buf)).await
    }
}
