//! One netlink connection: requests and acks, dumps, bulk batches, atomic
//! transactions and event subscriptions.
//!
//! A [`Connection`] is a cheap handle (`Clone + Send + Sync`). It owns two
//! sockets in one network namespace: one for requests, whose replies a
//! background task (spawned for you on the current tokio runtime) routes to
//! the request they answer by sequence number, and one for dumps, which are
//! read directly by the [`Dump`] stream that consumes them (so a dump's
//! memory is bounded by one datagram and a slow consumer slows the kernel,
//! not your heap). Dropping the last handle closes both sockets.
//!
//! Replies are authenticated: only messages from the kernel (port id 0)
//! with a sequence number this connection has in flight are accepted.
//! Anything else is dropped and counted in [`Stats`]; a forged message
//! never completes, fails or ends a request, dump or event stream.

mod dump;
mod events;
pub(crate) mod socket;
#[cfg(test)]
mod tests;

pub use dump::{Dump, DumpPolicy};
pub use events::{Event, Subscription};

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::error::{BatchError, Error, KernelError, Operation, Result};
use crate::names::{MsgType, Protocol};
use crate::netns::Netns;
use crate::wire::{
    self, AttrWriter, ErrorMsg, Header, Msg, MsgIter, MsgWriter, NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK,
    NLM_F_REQUEST,
};

use socket::{RawSock, Received, Role, Sock};

/// A netlink message received from the kernel, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedMsg {
    /// Its header.
    pub header: Header,
    /// Its payload (after the 16-byte header).
    pub payload: Vec<u8>,
}

impl OwnedMsg {
    /// Borrow as a [`Msg`].
    pub fn as_msg(&self) -> Msg<'_> {
        Msg { header: self.header, payload: &self.payload }
    }
}

impl From<Msg<'_>> for OwnedMsg {
    fn from(m: Msg<'_>) -> Self {
        OwnedMsg { header: m.header, payload: m.payload.to_vec() }
    }
}

/// One request message, built but not yet sent. The connection sets its
/// sequence number and the `NLM_F_REQUEST`/`NLM_F_ACK` flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    bytes: Vec<u8>,
}

impl Request {
    /// Build a request of type `ty` with extra `flags` (`NLM_F_CREATE`,
    /// `NLM_F_EXCL`, `NLM_F_DUMP`, ...); `f` writes the payload (fixed
    /// header first, then attributes).
    pub fn new(ty: u16, flags: u16, f: impl FnOnce(&mut AttrWriter<'_>)) -> Request {
        let mut bytes = Vec::with_capacity(128);
        {
            let mut m = MsgWriter::new(&mut bytes, ty, flags | NLM_F_REQUEST);
            f(&mut m);
        }
        Request { bytes }
    }

    /// A request from raw bytes: exactly one netlink message. For sending
    /// something netplumb does not model, or a deliberately malformed
    /// request in a test.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Request> {
        let h = Header::parse(&bytes)?;
        if h.len as usize != bytes.len() {
            return Err(Error::invalid(
                "request",
                format!("header length {} but {} bytes given", h.len, bytes.len()),
            ));
        }
        Ok(Request { bytes })
    }

    /// The message type.
    pub fn msg_type(&self) -> u16 {
        u16::from_ne_bytes([self.bytes[4], self.bytes[5]])
    }

    /// The flags as built.
    pub fn flags(&self) -> u16 {
        u16::from_ne_bytes([self.bytes[6], self.bytes[7]])
    }

    /// The encoded message (sequence number 0 until sent).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// The largest datagram a bulk send makes.
const BULK_DATAGRAM_MAX: usize = 64 << 10;

/// Many request messages in one buffer, for [`Connection::bulk`] and
/// [`Connection::transaction`].
#[derive(Clone, Debug, Default)]
pub struct Batch {
    buf: Vec<u8>,
    starts: Vec<usize>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Append a message; `f` writes its payload. Returns its index.
    pub fn push(&mut self, ty: u16, flags: u16, f: impl FnOnce(&mut AttrWriter<'_>)) -> usize {
        self.starts.push(self.buf.len());
        {
            let mut m = MsgWriter::new(&mut self.buf, ty, flags | NLM_F_REQUEST);
            f(&mut m);
        }
        self.starts.len() - 1
    }

    /// Append a built request. Returns its index.
    pub fn push_request(&mut self, r: &Request) -> usize {
        self.starts.push(self.buf.len());
        self.buf.extend_from_slice(&r.bytes);
        self.starts.len() - 1
    }

    /// Remove every message, keeping the allocated memory for reuse.
    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.starts.clear();
    }

    /// Number of messages.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether the batch holds no messages.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Total encoded size in bytes.
    pub fn byte_len(&self) -> usize {
        self.buf.len()
    }

    /// The bytes of message `i`.
    pub fn message(&self, i: usize) -> &[u8] {
        let start = self.starts[i];
        let end = self.starts.get(i + 1).copied().unwrap_or(self.buf.len());
        &self.buf[start..end]
    }

    /// The message type of message `i`.
    pub fn msg_type(&self, i: usize) -> u16 {
        let s = self.starts[i];
        u16::from_ne_bytes([self.buf[s + 4], self.buf[s + 5]])
    }

    fn flags_of(&self, i: usize) -> u16 {
        let s = self.starts[i];
        u16::from_ne_bytes([self.buf[s + 6], self.buf[s + 7]])
    }

    /// All messages, concatenated.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }
}

/// Options for a connection.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// Give up on a reply after this long (default: wait forever). Also
    /// settable per handle with [`Connection::with_timeout`].
    pub timeout: Option<Duration>,
    /// What to do when a dump is interrupted.
    pub dump_policy: DumpPolicy,
    /// Largest datagram accepted; a larger one is discarded and reported as
    /// [`Error::Truncated`]. Default 16 MiB. The datagrams of a dump other
    /// than a link dump are read without a size-finding peek, at most 32
    /// KiB each (or this, if smaller): the kernel never sends them longer.
    pub max_datagram: usize,
    /// Most messages per datagram in [`Connection::bulk`] (further limited
    /// by the socket buffers). Default 1,024.
    pub bulk_chunk: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: None,
            dump_policy: DumpPolicy::default(),
            max_datagram: 16 << 20,
            bulk_chunk: 1024,
        }
    }
}

/// Counters of what a connection rejected or dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages from a port other than the kernel's, dropped: on the
    /// request socket, the dump socket and every subscription opened from
    /// this connection. A truncated or malformed datagram from another port
    /// counts as one.
    pub foreign: u64,
    /// Messages from the kernel with a sequence number nobody waits for,
    /// dropped (e.g. a reply arriving after its request timed out, or a
    /// message of an earlier dump on the dump socket).
    pub unmatched: u64,
    /// Receive buffer overflows on the request socket.
    pub overruns: u64,
}

/// What a range of sequence numbers (a bulk chunk or a transaction) waits for.
struct RangeWait {
    lo: u32,
    hi: u32,
    /// The sequence whose ack ends the wait.
    last: u32,
    /// Collect non-error replies too (echoes).
    keep_replies: bool,
    errors: Vec<(u32, ErrorMsg)>,
    replies: Vec<(u32, OwnedMsg)>,
    tx: Option<oneshot::Sender<Result<RangeDone>>>,
}

struct RangeDone {
    errors: Vec<(u32, ErrorMsg)>,
    replies: Vec<(u32, OwnedMsg)>,
}

struct Waiter {
    ty: u16,
    replies: Vec<OwnedMsg>,
    tx: Option<oneshot::Sender<Result<Vec<OwnedMsg>>>>,
}

#[derive(Default)]
struct Pending {
    single: HashMap<u32, Waiter>,
    ranges: Vec<RangeWait>,
}

impl Pending {
    /// The range waiting for `seq`, if any.
    fn range_of(&self, seq: u32) -> Option<usize> {
        self.ranges.iter().position(|r| seq.wrapping_sub(r.lo) <= r.hi.wrapping_sub(r.lo))
    }
}

/// How many messages a datagram holds, for counting dropped ones: each
/// whole message, plus one for an unreadable rest (so never 0).
pub(crate) fn message_count(buf: &[u8]) -> u64 {
    let mut n = 0u64;
    let mut broken = false;
    for m in MsgIter::new(buf) {
        match m {
            Ok(_) => n += 1,
            Err(_) => broken = true,
        }
    }
    if broken || n == 0 {
        n + 1
    } else {
        n
    }
}

struct Shared {
    protocol: Protocol,
    pending: Mutex<Pending>,
    seq: AtomicU32,
    foreign: AtomicU64,
    unmatched: AtomicU64,
    overruns: AtomicU64,
}

impl Shared {
    fn new(protocol: Protocol) -> Shared {
        Shared {
            protocol,
            pending: Mutex::new(Pending::default()),
            seq: AtomicU32::new(1),
            foreign: AtomicU64::new(0),
            unmatched: AtomicU64::new(0),
            overruns: AtomicU64::new(0),
        }
    }

    fn next_seqs(&self, n: u32) -> u32 {
        // Skip 0 so a zeroed buffer never matches.
        loop {
            let s = self.seq.fetch_add(n, Ordering::Relaxed);
            if s != 0 && s.checked_add(n).is_some() {
                return s;
            }
        }
    }

    fn kernel_error(&self, e: &ErrorMsg, seq: u32, ty: u16) -> KernelError {
        e.to_kernel_error(MsgType { protocol: self.protocol, raw: ty }, seq)
    }

    /// Count a datagram that did not come from the kernel (`port` is not 0)
    /// and drop it: whatever it claims to answer, no wait ends because of
    /// it.
    fn drop_foreign(&self, buf: &[u8]) {
        self.foreign.fetch_add(message_count(buf), Ordering::Relaxed);
    }

    /// Route one datagram from `port` to whoever waits for its messages.
    fn dispatch(&self, buf: &[u8], port: u32) {
        if port != 0 {
            self.drop_foreign(buf);
            return;
        }
        let mut p = self.pending.lock().expect("pending lock");
        let mut off = 0;
        while off < buf.len() {
            let m = match MsgIter::new(&buf[off..]).next() {
                None => break,
                Some(Ok(m)) => m,
                Some(Err(d)) => {
                    // The kernel's datagram is malformed from here on: the
                    // request its header names (if it is readable) fails
                    // with the decoding error; the rest is unreadable.
                    let seq = Header::parse(&buf[off..]).ok().map(|h| h.seq);
                    self.fail_seq(&mut p, seq, d);
                    break;
                }
            };
            off += wire::align(m.header.len as usize);
            let seq = m.header.seq;
            if let Some(w) = p.single.get_mut(&seq) {
                let finished = match m.header.ty {
                    NLMSG_ERROR => Some(match ErrorMsg::parse(m.payload, m.header.flags) {
                        Ok(e) if e.error == 0 => Ok(std::mem::take(&mut w.replies)),
                        Ok(e) => Err(Error::Kernel(self.kernel_error(&e, seq, w.ty))),
                        Err(d) => Err(Error::Decode(d)),
                    }),
                    NLMSG_DONE => Some(Ok(std::mem::take(&mut w.replies))),
                    _ => {
                        w.replies.push(m.into());
                        None
                    }
                };
                if let Some(r) = finished {
                    let mut w = p.single.remove(&seq).expect("present");
                    if let Some(tx) = w.tx.take() {
                        let _ = tx.send(r);
                    }
                }
                continue;
            }
            let Some(idx) = p.range_of(seq) else {
                self.unmatched.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let r = &mut p.ranges[idx];
            let mut done = false;
            if m.header.ty == NLMSG_ERROR {
                match ErrorMsg::parse(m.payload, m.header.flags) {
                    Ok(e) => {
                        if e.error != 0 {
                            r.errors.push((seq, e));
                        }
                        done = seq == r.last;
                    }
                    Err(d) => {
                        self.fail_seq(&mut p, Some(seq), d);
                        continue;
                    }
                }
            } else if r.keep_replies {
                r.replies.push((seq, m.into()));
            }
            if done {
                let mut r = p.ranges.remove(idx);
                if let Some(tx) = r.tx.take() {
                    let _ = tx.send(Ok(RangeDone { errors: r.errors, replies: r.replies }));
                }
            }
        }
    }

    /// A message of the kernel's that cannot be decoded: the request or
    /// range waiting for `seq` fails with `d`; nobody else is touched.
    fn fail_seq(&self, p: &mut Pending, seq: Option<u32>, d: crate::error::DecodeError) {
        let Some(seq) = seq else {
            self.unmatched.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if let Some(mut w) = p.single.remove(&seq) {
            if let Some(tx) = w.tx.take() {
                let _ = tx.send(Err(Error::Decode(d)));
            }
        } else if let Some(idx) = p.range_of(seq) {
            let mut r = p.ranges.remove(idx);
            if let Some(tx) = r.tx.take() {
                let _ = tx.send(Err(Error::Decode(d)));
            }
        } else {
            self.unmatched.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Replies were lost (receive buffer overflow, or a datagram too large
    /// to read): fail everyone who waits, so nobody hangs on a reply that
    /// will never come.
    fn fail_all(&self, make: impl Fn(MsgType, u32) -> Error) {
        self.overruns.fetch_add(1, Ordering::Relaxed);
        let mut p = self.pending.lock().expect("pending lock");
        for (seq, mut w) in p.single.drain() {
            if let Some(tx) = w.tx.take() {
                let _ = tx.send(Err(make(MsgType { protocol: self.protocol, raw: w.ty }, seq)));
            }
        }
        for mut r in p.ranges.drain(..) {
            if let Some(tx) = r.tx.take() {
                let _ = tx.send(Err(make(MsgType { protocol: self.protocol, raw: 0 }, r.last)));
            }
        }
    }

    fn fail_all_closed(&self) {
        let mut p = self.pending.lock().expect("pending lock");
        p.single.clear();
        p.ranges.clear();
    }
}

struct Inner {
    protocol: Protocol,
    sock: Arc<Sock>,
    shared: Arc<Shared>,
    dump: Arc<tokio::sync::Mutex<dump::DumpSock>>,
    netns: Option<Netns>,
    opts: Options,
    /// Dropped with the last handle: tells the reader task to stop.
    _stop: oneshot::Sender<()>,
    /// Serialises datagram sends of bulk chunks and transactions so their
    /// sequence ranges are not interleaved with each other.
    send_lock: tokio::sync::Mutex<()>,
}

/// A handle to one netlink connection (see the [module docs](self)).
///
/// `Clone + Send + Sync`: clone it into as many tasks as you like; every
/// reply reaches the request it belongs to.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
    timeout: Option<Duration>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("protocol", &self.inner.protocol)
            .field("netns", &self.inner.netns)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Connection {
    /// Open a connection in the calling thread's network namespace.
    ///
    /// Must be called from within a tokio runtime (the reply router is
    /// spawned on it). Needs no privilege to open; most changes need
    /// `CAP_NET_ADMIN`.
    ///
    /// # Cancel safety
    /// Cancel safe: nothing is left behind.
    pub async fn new(protocol: Protocol) -> Result<Connection> {
        Self::with_options(protocol, None, Options::default()).await
    }

    /// Open a connection whose sockets live in `netns`. The sockets are
    /// created on a short-lived thread that enters the namespace; no runtime
    /// thread ever changes namespace.
    ///
    /// # Cancel safety
    /// Cancel safe: the sockets are closed if the future is dropped.
    pub async fn new_in(protocol: Protocol, netns: &Netns) -> Result<Connection> {
        Self::with_options(protocol, Some(netns), Options::default()).await
    }

    /// Open a connection with explicit options, optionally in `netns`.
    ///
    /// # Cancel safety
    /// Cancel safe: the sockets are closed if the future is dropped.
    pub async fn with_options(
        protocol: Protocol,
        netns: Option<&Netns>,
        opts: Options,
    ) -> Result<Connection> {
        let (req, dump) = match netns {
            None => (socket::open(protocol, Role::Request, &[])?, socket::open(protocol, Role::Dump, &[])?),
            Some(ns) => {
                ns.run(move || -> Result<(RawSock, RawSock)> {
                    Ok((
                        socket::open(protocol, Role::Request, &[])?,
                        socket::open(protocol, Role::Dump, &[])?,
                    ))
                })
                .await??
            }
        };
        Self::from_sockets(protocol, req, dump, netns.cloned(), opts)
    }

    fn from_sockets(
        protocol: Protocol,
        req: RawSock,
        dump: RawSock,
        netns: Option<Netns>,
        opts: Options,
    ) -> Result<Connection> {
        let rt = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let sock = Arc::new(Sock::new(req, opts.max_datagram)?);
        let dump_sock = Sock::new(dump, opts.max_datagram)?;
        let shared = Arc::new(Shared::new(protocol));
        let (stop_tx, stop_rx) = oneshot::channel();
        rt.spawn(reader(sock.clone(), shared.clone(), stop_rx));
        let timeout = opts.timeout;
        Ok(Connection {
            inner: Arc::new(Inner {
                protocol,
                sock,
                shared,
                dump: Arc::new(tokio::sync::Mutex::new(dump::DumpSock::new(dump_sock))),
                netns,
                opts,
                _stop: stop_tx,
                send_lock: tokio::sync::Mutex::new(()),
            }),
            timeout,
        })
    }

    /// A connection over scripted transports, for byte-level tests: returns
    /// the connection and the peer ends of its request and dump sockets.
    /// (Public through [`crate::testing::FakeKernel`].)
    #[cfg(any(test, feature = "test-support"))]
    pub(crate) fn scripted(
        protocol: Protocol,
        opts: Options,
    ) -> Result<(Connection, std::os::unix::net::UnixDatagram, std::os::unix::net::UnixDatagram)> {
        let (a, a_peer) = std::os::unix::net::UnixDatagram::pair().map_err(|e| Error::io("socketpair", e))?;
        let (b, b_peer) = std::os::unix::net::UnixDatagram::pair().map_err(|e| Error::io("socketpair", e))?;
        let c = Self::from_sockets(protocol, RawSock::Scripted(a), RawSock::Scripted(b), None, opts)?;
        Ok((c, a_peer, b_peer))
    }

    /// The protocol this connection speaks.
    pub fn protocol(&self) -> Protocol {
        self.inner.protocol
    }

    /// The namespace this connection's sockets live in (`None`: the
    /// namespace of the thread that opened it).
    pub fn netns(&self) -> Option<&Netns> {
        self.inner.netns.as_ref()
    }

    /// A handle to the same connection whose requests time out after `t`
    /// (`None`: never).
    pub fn with_timeout(&self, t: Option<Duration>) -> Connection {
        Connection { inner: self.inner.clone(), timeout: t }
    }

    /// Counters of rejected and unmatched messages.
    pub fn stats(&self) -> Stats {
        let s = &self.inner.shared;
        Stats {
            foreign: s.foreign.load(Ordering::Relaxed),
            unmatched: s.unmatched.load(Ordering::Relaxed),
            overruns: s.overruns.load(Ordering::Relaxed),
        }
    }

    /// The options this connection was opened with.
    pub fn options(&self) -> &Options {
        &self.inner.opts
    }

    fn msg_type(&self, raw: u16) -> MsgType {
        MsgType { protocol: self.inner.protocol, raw }
    }

    async fn wait<T>(
        &self,
        rx: oneshot::Receiver<Result<T>>,
        seq: u32,
        ty: u16,
        cancel: impl FnOnce(),
    ) -> Result<T> {
        let res = match self.timeout {
            None => rx.await,
            Some(t) => match tokio::time::timeout(t, rx).await {
                Ok(r) => r,
                Err(_) => {
                    cancel();
                    return Err(Error::Timeout { request: self.msg_type(ty), seq, after: t });
                }
            },
        };
        res.unwrap_or(Err(Error::Closed))
    }

    /// Send `req` and collect every reply message until the kernel's ack.
    /// This is the primitive under "get one object" and "change something".
    ///
    /// # Errors
    /// [`Error::Kernel`] with the kernel's errno and extended-ack message;
    /// [`Error::Timeout`]; [`Error::ReplyLost`].
    ///
    /// # Cancel safety
    /// Dropping the future before it completes leaves the request sent (it
    /// may take effect); its reply is discarded.
    pub async fn request(&self, req: &Request) -> Result<Vec<OwnedMsg>> {
        let ty = req.msg_type();
        let seq = self.inner.shared.next_seqs(1);
        let mut bytes = req.bytes.clone();
        wire::set_seq(&mut bytes, 0, seq);
        wire::set_flags(&mut bytes, 0, req.flags() | NLM_F_REQUEST | NLM_F_ACK);
        let (tx, rx) = oneshot::channel();
        {
            let mut p = self.inner.shared.pending.lock().expect("pending lock");
            p.single.insert(seq, Waiter { ty, replies: Vec::new(), tx: Some(tx) });
        }
        // Removes the waiter if this future is dropped or times out.
        let _guard = RemoveOnDrop { shared: &self.inner.shared, seq };
        if let Err(e) = self.inner.sock.send(&bytes).await {
            return Err(Error::io(format!("send {}", self.msg_type(ty)), e));
        }
        self.wait(rx, seq, ty, || {}).await
    }

    /// Send `req` and wait for the kernel's ack, ignoring any reply data.
    ///
    /// # Errors
    /// As [`Connection::request`].
    ///
    /// # Cancel safety
    /// As [`Connection::request`].
    pub async fn ack(&self, req: &Request) -> Result<()> {
        self.request(req).await.map(|_| ())
    }

    /// Send a dump request (`NLM_F_DUMP` is added) and stream the reply
    /// messages through `decode`, which may skip a message by returning
    /// `Ok(None)`.
    ///
    /// The stream holds one datagram at a time. A dump the kernel flags as
    /// interrupted (`NLM_F_DUMP_INTR`) is restarted per the connection's
    /// [`DumpPolicy`] when nothing was yielded yet, and otherwise ends with
    /// [`Error::DumpInterrupted`]; [`Dump::try_collect`] restarts the whole
    /// dump under the same policy.
    pub fn dump<T, F>(&self, req: &Request, decode: F) -> Dump<T>
    where
        F: FnMut(&Msg<'_>) -> Result<Option<T>> + Send + 'static,
        T: Send + 'static,
    {
        Dump::new(
            self.clone(),
            self.inner.dump.clone(),
            req.clone(),
            Box::new(decode),
            self.inner.opts.dump_policy,
        )
    }

    /// [`Connection::dump`] of objects of message type `ty`: `decode` is
    /// called only for those, and makes each one an item or an error
    /// (never `Ok(None)`, which would end the stream); the dump's other
    /// messages are skipped. Each item is returned as `decode` builds it,
    /// without being copied on its way to the caller.
    pub(crate) fn dump_objects<T, F>(&self, req: &Request, ty: u16, decode: F) -> Dump<T>
    where
        F: FnMut(&Msg<'_>) -> Result<Option<T>> + Send + 'static,
        T: Send + 'static,
    {
        self.dump(req, decode).objects_of(ty)
    }

    /// Send many requests, packed many per datagram, asking the kernel to
    /// acknowledge only the last message of each datagram (errors are always
    /// reported). The kernel processes a datagram before `sendmsg` returns,
    /// so each datagram's final ack confirms all of it; the chunk size is
    /// bounded so that even if every message fails, the errors fit in the
    /// receive buffer.
    ///
    /// Returns `Ok(())` if every message succeeded, else
    /// [`Error::Batch`] listing each failure with its index. All messages
    /// are attempted.
    ///
    /// # Cancel safety
    /// Dropping the future stops after the current datagram; earlier
    /// datagrams have taken effect.
    pub async fn bulk(&self, batch: &Batch) -> Result<()> {
        self.bulk_described(batch, |_| String::new()).await
    }

    /// [`Connection::bulk`], naming each failed operation with `describe`.
    ///
    /// # Cancel safety
    /// As [`Connection::bulk`].
    pub async fn bulk_described(&self, batch: &Batch, describe: impl Fn(usize) -> String) -> Result<()> {
        self.bulk_inner(
            batch.len(),
            |i| (batch.msg_type(i), batch.flags_of(i)),
            |i, dgram| dgram.extend_from_slice(batch.message(i)),
            describe,
        )
        .await
    }

    /// [`Connection::bulk_described`] for `n` requests encoded straight
    /// into the datagrams as they are sent, with no [`Batch`] in between:
    /// request `i` has the type and flags `head(i)` and the payload
    /// `encode(i, ..)` writes. A request that does not fit the datagram it
    /// was started in is written again at the start of the next. Validate
    /// the requests before: the first datagram is sent before the last
    /// request is encoded.
    ///
    /// # Cancel safety
    /// As [`Connection::bulk`].
    pub(crate) async fn bulk_with(
        &self,
        n: usize,
        head: impl Fn(usize) -> (u16, u16),
        mut encode: impl FnMut(usize, &mut AttrWriter<'_>),
        describe: impl Fn(usize) -> String,
    ) -> Result<()> {
        self.bulk_inner(
            n,
            &head,
            |i, dgram| {
                let (ty, flags) = head(i);
                encode(i, &mut MsgWriter::new(dgram, ty, flags | NLM_F_REQUEST));
            },
            describe,
        )
        .await
    }

    /// The bulk send itself: `put(i, dgram)` appends request `i` (type and
    /// flags `head(i)`) to the datagram being filled; one that takes the
    /// datagram past [`BULK_DATAGRAM_MAX`] is cut off again and put first
    /// in the next. Each datagram gets sequence numbers and flags (an ack
    /// asked only of its last request), is sent and waited for; each
    /// failed request becomes a [`KernelError`] with its index.
    async fn bulk_inner(
        &self,
        n: usize,
        head: impl Fn(usize) -> (u16, u16),
        mut put: impl FnMut(usize, &mut Vec<u8>),
        describe: impl Fn(usize) -> String,
    ) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        let chunk_max = self.bulk_chunk_max();
        let mut failures = Vec::new();
        let mut i = 0;
        let mut dgram = Vec::with_capacity(BULK_DATAGRAM_MAX);
        let mut starts = Vec::new();
        while i < n {
            let _send = self.inner.send_lock.lock().await;
            dgram.clear();
            starts.clear();
            let first = i;
            while i < n && i - first < chunk_max {
                let start = dgram.len();
                put(i, &mut dgram);
                if start > 0 && dgram.len() > BULK_DATAGRAM_MAX {
                    // Into the next datagram instead.
                    dgram.truncate(start);
                    break;
                }
                starts.push(start);
                i += 1;
            }
            let count = starts.len() as u32;
            let lo = self.inner.shared.next_seqs(count);
            let hi = lo.wrapping_add(count - 1);
            for (k, &off) in starts.iter().enumerate() {
                wire::set_seq(&mut dgram, off, lo.wrapping_add(k as u32));
                let fl = head(first + k).1 | NLM_F_REQUEST;
                let fl = if k as u32 == count - 1 { fl | NLM_F_ACK } else { fl & !NLM_F_ACK };
                wire::set_flags(&mut dgram, off, fl);
            }
            let done = self.send_range(&dgram, lo, hi, hi, false, head(i - 1).0).await?;
            for (seq, e) in done.errors {
                let idx = first + seq.wrapping_sub(lo) as usize;
                let mut k = self.inner.shared.kernel_error(&e, seq, head(idx).0);
                k.operation = Some(Operation { index: idx, description: describe(idx) });
                failures.push(k);
            }
        }
        if failures.is_empty() {
            Ok(())
        } else if failures.len() == 1 && n == 1 {
            Err(Error::Kernel(failures.pop().expect("one")))
        } else {
            Err(Error::Batch(BatchError { total: n, failures }))
        }
    }

    /// How many requests of a bulk send go in one datagram at most: few
    /// enough that their errors, if all fail, fit the receive buffer.
    fn bulk_chunk_max(&self) -> usize {
        let rcvbuf = socket::set_buffer(&self.inner.sock.fd(), true, socket::WANT_SOCKET_BUFFER);
        // ~1 KiB of receive buffer per possible error (skb truesize).
        let by_rcv = (rcvbuf / 1024).max(1);
        self.inner.opts.bulk_chunk.min(by_rcv).max(1)
    }

    async fn send_range(
        &self,
        dgram: &[u8],
        lo: u32,
        hi: u32,
        last: u32,
        keep: bool,
        ty: u16,
    ) -> Result<RangeDone> {
        let (tx, rx) = oneshot::channel();
        {
            let mut p = self.inner.shared.pending.lock().expect("pending lock");
            p.ranges.push(RangeWait {
                lo,
                hi,
                last,
                keep_replies: keep,
                errors: Vec::new(),
                replies: Vec::new(),
                tx: Some(tx),
            });
        }
        let remove = |shared: &Shared| {
            shared.pending.lock().expect("pending lock").ranges.retain(|r| r.lo != lo);
        };
        if let Err(e) = self.inner.sock.send(dgram).await {
            remove(&self.inner.shared);
            return Err(Error::io(format!("send batch of {} bytes", dgram.len()), e));
        }
        let shared = &self.inner.shared;
        self.wait(rx, last, ty, || remove(shared)).await
    }

    /// Send batch `parts` as **one datagram** (the kernel applies an
    /// nfnetlink batch atomically only within one datagram; the socket's
    /// send buffer is raised to fit, as `nft -f` does), followed by
    /// `barrier`, a request whose ack proves the batch was processed.
    ///
    /// The parts are sent one after the other, e.g. a batch header, the
    /// operations, a trailer; each byte is copied once, into the datagram,
    /// where sequence numbers are set. Message indices below count across
    /// all parts, from 0.
    ///
    /// Messages carry no `NLM_F_ACK` (unless they set it); a failed
    /// message comes back as a [`KernelError`] whose
    /// [`operation`](KernelError::operation) is `locate(index)`: `None`
    /// for a message that is no operation of the caller's (a batch
    /// header). Several failures make an [`Error::Batch`] of `operations`
    /// operations, in the order the messages were sent. Replies to
    /// messages that asked for them with `NLM_F_ECHO` are returned with
    /// their index.
    ///
    /// Returns the echoed replies and the barrier's replies.
    ///
    /// # Cancel safety
    /// Once sent, the batch takes effect whether or not the future is
    /// polled to completion.
    pub async fn transaction(
        &self,
        parts: &[&Batch],
        barrier: &Request,
        operations: usize,
        locate: impl Fn(usize) -> Option<Operation>,
    ) -> Result<TransactionReplies> {
        let n: usize = parts.iter().map(|b| b.len()).sum();
        if n == 0 {
            return Err(Error::invalid("batch", "empty"));
        }
        let _send = self.inner.send_lock.lock().await;
        let total = n as u32 + 1;
        let lo = self.inner.shared.next_seqs(total);
        let hi = lo.wrapping_add(total - 1);
        let mut dgram = Vec::with_capacity(parts.iter().map(|b| b.byte_len()).sum());
        let mut echoes = 0usize;
        let mut seq = lo;
        for b in parts {
            let base = dgram.len();
            dgram.extend_from_slice(&b.buf);
            for (i, &start) in b.starts.iter().enumerate() {
                let off = base + start;
                wire::set_seq(&mut dgram, off, seq);
                seq = seq.wrapping_add(1);
                let fl = b.flags_of(i) | NLM_F_REQUEST;
                if fl & wire::NLM_F_ECHO != 0 {
                    echoes += 1;
                }
                wire::set_flags(&mut dgram, off, fl);
            }
        }
        // The type of message `idx` across the parts (for errors only).
        let msg_type = |mut idx: usize| {
            for b in parts {
                if idx < b.len() {
                    return b.msg_type(idx);
                }
                idx -= b.len();
            }
            barrier.msg_type()
        };
        let fd = &self.inner.sock.fd();
        let need_snd = dgram.len() + 4096;
        let have_snd = socket::set_buffer(fd, false, need_snd.max(socket::WANT_SOCKET_BUFFER));
        if have_snd / 2 < dgram.len() + 64 && have_snd < dgram.len() + 64 {
            return Err(Error::invalid(
                "transaction",
                format!(
                    "{} bytes do not fit the socket send buffer ({have_snd} bytes); raising it needs CAP_NET_ADMIN",
                    dgram.len()
                ),
            ));
        }
        let want_rcv = socket::WANT_SOCKET_BUFFER + echoes * 2048;
        socket::set_buffer(fd, true, want_rcv);
        let (tx, rx) = oneshot::channel();
        {
            let mut p = self.inner.shared.pending.lock().expect("pending lock");
            p.ranges.push(RangeWait {
                lo,
                hi,
                last: hi,
                keep_replies: true,
                errors: Vec::new(),
                replies: Vec::new(),
                tx: Some(tx),
            });
        }
        let shared = &self.inner.shared;
        let remove = || {
            shared.pending.lock().expect("pending lock").ranges.retain(|r| r.lo != lo);
        };
        if let Err(e) = self.inner.sock.send(&dgram).await {
            remove();
            return Err(Error::io(format!("send transaction of {} bytes", dgram.len()), e));
        }
        drop(dgram);
        let mut b = barrier.bytes.clone();
        wire::set_seq(&mut b, 0, hi);
        wire::set_flags(&mut b, 0, barrier.flags() | NLM_F_REQUEST | NLM_F_ACK);
        if let Err(e) = self.inner.sock.send(&b).await {
            remove();
            return Err(Error::io("send transaction barrier", e));
        }
        let done = self.wait(rx, hi, barrier.msg_type(), remove).await?;
        let mut replies = TransactionReplies::default();
        for (seq, m) in done.replies {
            let idx = seq.wrapping_sub(lo) as usize;
            if idx == n {
                replies.barrier.push(m);
            } else {
                replies.echoes.push((idx, m));
            }
        }
        // In the order the messages were sent: later failures are usually
        // consequences of the first.
        let mut failed = done.errors;
        failed.sort_by_key(|(seq, _)| seq.wrapping_sub(lo));
        let mut errors: Vec<KernelError> = failed
            .into_iter()
            .map(|(seq, e)| {
                let idx = seq.wrapping_sub(lo) as usize;
                let mut k = self.inner.shared.kernel_error(&e, seq, msg_type(idx));
                if idx < n {
                    k.operation = locate(idx);
                }
                k
            })
            .collect();
        match errors.len() {
            0 => Ok(replies),
            1 => Err(Error::Kernel(errors.pop().expect("one"))),
            _ => Err(Error::Batch(BatchError { total: operations, failures: errors })),
        }
    }

    /// Subscribe to multicast `groups` (e.g. `RTNLGRP_LINK`) on a new socket
    /// in this connection's namespace, decoding each message with `decode`.
    /// `rcvbuf` sets the socket's receive buffer (default 4 MiB); when it
    /// overflows the stream yields [`Event::Overrun`] and keeps going.
    ///
    /// # Cancel safety
    /// Cancel safe: the socket is closed if the future is dropped.
    pub async fn subscribe<T, F>(
        &self,
        groups: &[u32],
        rcvbuf: Option<usize>,
        decode: F,
    ) -> Result<Subscription<T>>
    where
        F: FnMut(&Msg<'_>) -> Result<Option<T>> + Send + 'static,
        T: Send + 'static,
    {
        let protocol = self.inner.protocol;
        let groups_v = groups.to_vec();
        let raw = match &self.inner.netns {
            None => socket::open(protocol, Role::Events(rcvbuf), &groups_v)?,
            Some(ns) => ns.run(move || socket::open(protocol, Role::Events(rcvbuf), &groups_v)).await??,
        };
        let sock = Sock::new(raw, self.inner.opts.max_datagram)?;
        Ok(Subscription::new(sock, protocol, self.inner.shared.clone(), Box::new(decode)))
    }
}

/// Replies gathered by [`Connection::transaction`].
#[derive(Clone, Debug, Default)]
pub struct TransactionReplies {
    /// Replies to messages sent with `NLM_F_ECHO`, with the message's index.
    pub echoes: Vec<(usize, OwnedMsg)>,
    /// Replies to the barrier request.
    pub barrier: Vec<OwnedMsg>,
}

struct RemoveOnDrop<'a> {
    shared: &'a Shared,
    seq: u32,
}

impl Drop for RemoveOnDrop<'_> {
    fn drop(&mut self) {
        if let Ok(mut p) = self.shared.pending.lock() {
            p.single.remove(&self.seq);
        }
    }
}

/// The background task: read the request socket, route replies.
async fn reader(sock: Arc<Sock>, shared: Arc<Shared>, mut stop: oneshot::Receiver<()>) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        tokio::select! {
            _ = &mut stop => break,
            r = sock.recv(&mut buf) => match r {
                Ok(Received::Datagram { len, port }) => shared.dispatch(&buf[..len], port),
                Ok(Received::Truncated { port, .. }) if port != 0 => shared.drop_foreign(&[]),
                Ok(Received::Truncated { size, buffer, .. }) => {
                    // A datagram of the kernel's we could not read whole:
                    // whatever it held is lost to whoever waits.
                    shared.fail_all(|_, _| Error::Truncated { size, buffer });
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    shared.fail_all(|request, seq| Error::ReplyLost { request, seq })
                }
                Err(_) => {
                    // Unrecoverable socket error: stop; waiters see Closed.
                    break;
                }
            }
        }
    }
    shared.fail_all_closed();
}
