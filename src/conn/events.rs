//! Multicast event subscriptions as streams.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use std::sync::Arc;

use super::socket::{Received, Sock};
use super::Shared;
use crate::error::{Error, Result};
use crate::names::Protocol;
use crate::wire::{self, Msg, MsgIter};

/// One item of an event stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event<T> {
    /// A change the kernel announced.
    Message(T),
    /// The socket's receive buffer overflowed (ENOBUFS): some events were
    /// lost. List the current state again to resynchronise; the stream goes
    /// on.
    Overrun,
}

impl<T> Event<T> {
    /// Map the message.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Event<U> {
        match self {
            Event::Message(t) => Event::Message(f(t)),
            Event::Overrun => Event::Overrun,
        }
    }
}

type Decoder<T> = Box<dyn FnMut(&Msg<'_>) -> Result<Option<T>> + Send>;

/// A subscription to netlink multicast groups: a [`Stream`] of
/// [`Event`]s. Dropping it leaves the groups and closes its socket.
pub struct Subscription<T> {
    sock: Sock,
    protocol: Protocol,
    /// The connection's counters: datagrams not sent by the kernel are
    /// counted there as foreign.
    shared: Arc<Shared>,
    buf: Vec<u8>,
    len: usize,
    pos: usize,
    decode: Decoder<T>,
}

impl<T> std::fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").field("protocol", &self.protocol).finish()
    }
}

impl<T> Subscription<T> {
    pub(super) fn new(sock: Sock, protocol: Protocol, shared: Arc<Shared>, decode: Decoder<T>) -> Self {
        Subscription { sock, protocol, shared, buf: vec![0; 64 << 10], len: 0, pos: 0, decode }
    }

    /// Messages dropped so far because they did not come from the kernel
    /// (the same counter as the connection's [`Stats::foreign`](super::Stats::foreign)).
    #[cfg(test)]
    pub(crate) fn foreign(&self) -> u64 {
        self.shared.foreign.load(std::sync::atomic::Ordering::Relaxed)
    }

    #[cfg(test)]
    pub(crate) fn scripted(
        protocol: Protocol,
        decode: Decoder<T>,
    ) -> (Self, std::os::unix::net::UnixDatagram) {
        let (a, b) = std::os::unix::net::UnixDatagram::pair().expect("socketpair");
        let sock = Sock::new(super::socket::RawSock::Scripted(a), 16 << 20).expect("register");
        (Subscription::new(sock, protocol, Arc::new(Shared::new(protocol)), decode), b)
    }

    fn poll_inner(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Event<T>>>> {
        loop {
            if self.pos < self.len {
                let (header, adv) = match MsgIter::new(&self.buf[self.pos..self.len]).next() {
                    Some(Ok(m)) => (m.header, wire::align(m.header.len as usize)),
                    Some(Err(e)) => {
                        self.pos = self.len;
                        return Poll::Ready(Some(Err(Error::Decode(e))));
                    }
                    None => {
                        self.pos = self.len;
                        continue;
                    }
                };
                let start = self.pos;
                let end = (start + header.len as usize).min(self.len);
                self.pos = (start + adv).min(self.len);
                if header.ty == wire::NLMSG_DONE || header.ty == wire::NLMSG_NOOP {
                    continue;
                }
                let m = Msg { header, payload: &self.buf[start + wire::NLMSG_HDRLEN..end] };
                match (self.decode)(&m) {
                    Ok(Some(t)) => return Poll::Ready(Some(Ok(Event::Message(t)))),
                    Ok(None) => continue,
                    Err(e) => return Poll::Ready(Some(Err(e))),
                }
            }
            match self.sock.poll_recv(cx, &mut self.buf) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    return Poll::Ready(Some(Ok(Event::Overrun)))
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(Error::io("receive events", e)))),
                Poll::Ready(Ok(Received::Datagram { len, port })) if port != 0 => {
                    // Not the kernel's (another process sending to our
                    // port or to the group): dropped, counted, never an
                    // item of the stream.
                    self.shared.drop_foreign(&self.buf[..len]);
                }
                Poll::Ready(Ok(Received::Truncated { port, .. })) if port != 0 => {
                    self.shared.drop_foreign(&[])
                }
                Poll::Ready(Ok(Received::Truncated { size, buffer, .. })) => {
                    return Poll::Ready(Some(Err(Error::Truncated { size, buffer })))
                }
                Poll::Ready(Ok(Received::Datagram { len, .. })) => {
                    self.len = len;
                    self.pos = 0;
                }
            }
        }
    }

    /// The next event; `Ok(None)` never happens on a live socket.
    ///
    /// # Cancel safety
    /// Cancel safe: no event is lost if the future is dropped.
    pub async fn try_next(&mut self) -> Result<Option<Event<T>>> {
        std::future::poll_fn(|cx| self.poll_inner(cx)).await.transpose()
    }
}

impl<T> Stream for Subscription<T> {
    type Item = Result<Event<T>>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_inner(cx)
    }
}
