//! Dumps as streams with constant memory.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use tokio::sync::OwnedMutexGuard;

use std::os::fd::AsFd;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};

use super::socket::{Received, Sock};
use super::{Connection, Request};
use crate::error::{Error, Result};
use crate::names::{MsgType, Protocol};
use crate::wire::{
    self, ErrorMsg, Header, Msg, MsgIter, NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR,
};

/// What to do when the kernel flags a dump as interrupted
/// (`NLM_F_DUMP_INTR`: the table changed while it was being dumped, so the
/// result may miss or repeat objects).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DumpPolicy {
    /// How many times to dump again before giving up with
    /// [`Error::DumpInterrupted`]. 0: never retry. Default 5.
    pub retries: u32,
}

impl Default for DumpPolicy {
    fn default() -> Self {
        DumpPolicy { retries: 5 }
    }
}

/// The dump socket and its reusable receive buffer.
pub(crate) struct DumpSock {
    sock: Sock,
    buf: Vec<u8>,
    /// A dump whose stream was dropped before the end: its remaining
    /// messages must be drained before the socket can dump again.
    in_progress: Option<u32>,
}

impl DumpSock {
    pub(crate) fn new(sock: Sock) -> DumpSock {
        DumpSock { sock, buf: vec![0; 64 << 10], in_progress: None }
    }
}

type Decoder<T> = Box<dyn FnMut(&Msg<'_>) -> Result<Option<T>> + Send>;
type LockFuture = Pin<Box<dyn Future<Output = OwnedMutexGuard<DumpSock>> + Send>>;

enum State {
    Init,
    Locking(LockFuture),
    Active { src: Source, phase: Phase, seq: u32, len: usize, pos: usize, received: u32 },
    Done,
}

impl State {
    /// Reading our own dump `seq` from the start.
    fn active(guard: OwnedMutexGuard<DumpSock>, seq: u32) -> State {
        State::Active { src: Source::Inline(guard), phase: Phase::Reading, seq, len: 0, pos: 0, received: 0 }
    }
}

/// Where the datagrams of an active dump come from.
enum Source {
    /// Read here, in `poll`, into the socket's own buffer.
    Inline(OwnedMutexGuard<DumpSock>),
    /// Read ahead by a thread that holds the socket; `cur` is the datagram
    /// being parsed.
    Ahead { ahead: ReadAhead, cur: Vec<u8> },
}

impl Source {
    fn buf(&self) -> &[u8] {
        match self {
            Source::Inline(g) => &g.buf,
            Source::Ahead { cur, .. } => cur,
        }
    }

    fn inline(&mut self) -> Option<&mut DumpSock> {
        match self {
            Source::Inline(g) => Some(g),
            Source::Ahead { .. } => None,
        }
    }
}

/// Datagrams read in a dump before a thread takes over reading the rest.
///
/// The kernel produces each datagram of a dump inside the `recvmsg` that
/// takes the previous one, so a single reader pays the kernel's time and
/// the decoding one after the other. For long dumps a thread keeps
/// `recvmsg` going while the caller decodes; short dumps (most of them)
/// never start one.
///
/// Two, not more: the overlap is worth the thread (tens of microseconds)
/// from the third datagram on. With 8, a dump of 10,000 routes (19
/// datagrams of 32 KiB) decoded 40% of itself before the thread started
/// and the kernel's work for those datagrams was not overlapped.
pub(crate) const READ_AHEAD_AFTER: u32 = 2;

/// The last datagram must be at least this large for the thread to
/// start: the kernel fills each datagram of a dump (32 KiB with
/// netplumb's receive buffer) until the dump runs out, so a smaller one
/// says the end is near and a thread would only read the `NLMSG_DONE`.
/// (Scripted tests send small datagrams: any will do there.)
const READ_AHEAD_FULL: usize = if cfg!(test) { 1 } else { 16 << 10 };

/// Datagrams the reading thread may hold before the consumer takes them:
/// memory stays bounded (at most this many datagrams of at most 32 KiB,
/// the kernel's dump chunk).
const READ_AHEAD_DEPTH: usize = 4;

/// The largest datagram of a dump the kernel sends on its own: it fills
/// each one up to the largest receive buffer it has seen on the socket,
/// capped just below 32 KiB (`netlink_recvmsg`), or to the dump's
/// `min_dump_alloc` when that is larger, and trims the datagram to that
/// size (`netlink_dump`: "User is expected to provide buffer as large as
/// max(min_dump_alloc, 32KiB)").
const DUMP_DATAGRAM_MAX: usize = 32 << 10;

/// The longest datagram a dump may send, when it is known and so the
/// datagrams can be received without peeking at their size first (inline
/// and by the reading thread): [`DUMP_DATAGRAM_MAX`], `None` for a dump
/// whose datagrams may be longer. Of the rtnetlink dumps only the link dump
/// (`RTM_GETLINK`) has a `min_dump_alloc` (its largest link's message,
/// which grows with SR-IOV VFs), so it keeps the peek; nfnetlink's dumps
/// (nf_tables, conntrack) have none. Should a longer datagram come anyway,
/// it is consumed and the dump fails with [`Error::Truncated`]: never
/// parsed in part. The peek is not free: it is a receive call, and the
/// kernel builds the next datagram of a dump inside every receive call
/// while its buffer has room, so a reader that peeks gets one datagram
/// for every two the kernel builds and is left with half the dump queued
/// when the kernel is done, to hand out after it.
fn datagram_bound(protocol: Protocol, request: u16) -> Option<usize> {
    let link_dump = protocol == Protocol::Route && request == libc::RTM_GETLINK;
    (!link_dump).then_some(DUMP_DATAGRAM_MAX)
}

/// One receive by the reading thread: the datagram (in the first `len`
/// bytes of the buffer, as [`Received`] says; empty when it was
/// truncated) and what the receive got, or the socket's error. The
/// last one of the dump (it holds our `NLMSG_DONE` or error) or a failed
/// read gives the socket back.
struct Chunk {
    got: Result<(Vec<u8>, Received)>,
    back: Option<OwnedMutexGuard<DumpSock>>,
}

/// A thread reading the rest of a dump.
///
/// Why a thread and not a task: the kernel builds each datagram of a dump
/// inside the `recvmsg` that takes the previous one, so the overlap this
/// buys needs that `recvmsg` to run on another CPU while the consumer
/// decodes. A tokio task would run on the consumer's own thread on a
/// current-thread runtime (no overlap at all), and on a multi-thread
/// runtime it would occupy a worker with the kernel's work; a plain
/// thread gets the gain on every runtime and lives only as long as one
/// long dump.
///
/// It does not poll on a timer: it sleeps in `poll(2)` on the socket and
/// on `abandoned`, an eventfd that dropping this handle signals, so it
/// wakes exactly when a datagram arrives or nobody wants the rest. While
/// it holds the socket's guard nobody else reads the socket; tokio's
/// reactor still has it registered, and the readiness it records in the
/// meantime only makes the next inline read try `recvmsg` once and find
/// out (tokio clears it again on `WouldBlock`).
struct ReadAhead {
    rx: tokio::sync::mpsc::Receiver<Chunk>,
    abandoned: Arc<EventFd>,
    /// Parsed datagrams' buffers, handed back for the thread to receive
    /// into again (no allocation or zeroing per datagram).
    spent: std::sync::mpsc::Sender<Vec<u8>>,
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        // Wakes the thread from `poll` (or its next send fails, once `rx`
        // is gone): it releases the socket, whose unread rest the next dump
        // drains. If the write fails the counter is already huge and the
        // thread is awake anyway.
        let _ = self.abandoned.write(1);
    }
}

impl ReadAhead {
    fn start(guard: OwnedMutexGuard<DumpSock>, seq: u32, bound: Option<usize>) -> Result<ReadAhead> {
        let (tx, rx) = tokio::sync::mpsc::channel(READ_AHEAD_DEPTH);
        let abandoned = Arc::new(
            EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)
                .map_err(|e| Error::io("create the dump reader's eventfd", e.into()))?,
        );
        let wake = abandoned.clone();
        let (spent, reuse) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("netplumb-dump".into())
            .spawn(move || read_ahead(guard, seq, bound, tx, &wake, &reuse))
            .map_err(|e| Error::io("start the dump reading thread", e))?;
        Ok(ReadAhead { rx, abandoned, spent })
    }
}

/// Decode object message `$m` of the dump and return it from
/// `poll_inner`, counted, or `continue` its loop when it is skipped. In a
/// dump of objects of one type ([`Connection::dump_objects`]) other types
/// are skipped before decoding and the decoder's result is returned as it
/// is, so the object is built where the caller takes it; any other
/// decoder's `Ok(None)` must be looked at first, which builds the object
/// aside and copies it.
macro_rules! hand_over {
    ($dump:ident, $m:ident) => {{
        if let Some(ty) = $dump.objects {
            if $m.header.ty != ty {
                continue;
            }
            $dump.yielded += 1;
            return Poll::Ready(($dump.decode)(&$m));
        }
        let r = ($dump.decode)(&$m);
        match &r {
            Ok(None) => continue,
            Ok(Some(_)) => $dump.yielded += 1,
            Err(_) => {}
        }
        return Poll::Ready(r);
    }};
}

/// Whether a datagram holds the end of dump `seq`: its `NLMSG_DONE` or a
/// non-zero `NLMSG_ERROR`.
fn ends_dump(data: &[u8], seq: u32) -> bool {
    MsgIter::new(data).flatten().any(|m| {
        m.header.seq == seq
            && (m.header.ty == NLMSG_DONE
                || (m.header.ty == NLMSG_ERROR && m.payload.get(0..4).is_some_and(|c| c != [0, 0, 0, 0])))
    })
}

/// The reading thread: receive datagrams and pass them on until the dump
/// ends, a read fails or the consumer goes away.
fn read_ahead(
    mut guard: OwnedMutexGuard<DumpSock>,
    seq: u32,
    bound: Option<usize>,
    tx: tokio::sync::mpsc::Sender<Chunk>,
    abandoned: &EventFd,
    reuse: &std::sync::mpsc::Receiver<Vec<u8>>,
) {
    loop {
        if tx.is_closed() {
            return;
        }
        let mut buf = reuse.try_recv().unwrap_or_default();
        let got = match guard.sock.try_recv_within(&mut buf, bound) {
            Ok(got) => got,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::Interrupted =>
            {
                // Sleep until a datagram arrives or the consumer is gone.
                let mut fds = [
                    PollFd::new(guard.sock.fd(), PollFlags::POLLIN),
                    PollFd::new(abandoned.as_fd(), PollFlags::POLLIN),
                ];
                match poll(&mut fds, PollTimeout::NONE) {
                    Ok(_) | Err(Errno::EINTR) => {}
                    Err(e) => {
                        let got = Err(Error::io("wait for the dump", e.into()));
                        let _ = tx.blocking_send(Chunk { got, back: Some(guard) });
                        return;
                    }
                }
                if fds[1].any().unwrap_or(false) {
                    return;
                }
                continue;
            }
            Err(e) => {
                let _ = tx.blocking_send(Chunk { got: Err(Error::io("receive dump", e)), back: Some(guard) });
                return;
            }
        };
        if let Received::Datagram { len, port } = got {
            // The datagram is `buf[..len]`; the buffer keeps its length so
            // that receiving into it again needs no zeroing.
            // Only the kernel ends a dump; a forged end is passed on and
            // dropped by the consumer like any foreign datagram.
            if port == 0 && ends_dump(&buf[..len], seq) {
                // Nothing of this dump is left on the socket, even if the
                // consumer is gone before it takes this chunk.
                guard.in_progress = None;
                let _ = tx.blocking_send(Chunk { got: Ok((buf, got)), back: Some(guard) });
                return;
            }
        } else {
            buf.clear();
        }
        if tx.blocking_send(Chunk { got: Ok((buf, got)), back: None }).is_err() {
            return;
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Discarding what is left of an abandoned dump with this sequence.
    Draining(u32),
    /// Reading our own dump.
    Reading,
}

/// A dump in progress: a [`Stream`] of decoded objects.
///
/// Use it with `futures::StreamExt`, or with the inherent
/// [`Dump::try_next`] and [`Dump::try_collect`].
///
/// Only one dump runs at a time on a connection (the kernel allows one per
/// socket); a second waits until the first ends or is dropped.
///
/// A long dump (from its third full datagram, past 64 KiB) is read ahead:
/// a short-lived thread keeps receiving while you decode, so the kernel's
/// work and yours overlap instead of adding up (the kernel produces each
/// datagram of a dump inside the receive that takes the previous one). It
/// holds at most 4 datagrams ahead, so memory stays bounded whatever the
/// size of the dump; dropping the stream stops it.
pub struct Dump<T> {
    conn: Connection,
    dump: Arc<tokio::sync::Mutex<DumpSock>>,
    req: Request,
    decode: Decoder<T>,
    policy: DumpPolicy,
    state: State,
    attempts: u32,
    yielded: u64,
    /// Set by [`Connection::dump_objects`]: the message type that is an
    /// object, which the decoder always turns into an item or an error;
    /// other messages of the dump are skipped without decoding.
    objects: Option<u16>,
    intr: bool,
    /// An error found before anything was sent (bad input): the first and
    /// only item; nothing reaches the kernel.
    failed: Option<Error>,
}

impl<T> std::fmt::Debug for Dump<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dump")
            .field("request", &MsgType { protocol: self.conn.protocol(), raw: self.req.msg_type() })
            .field("yielded", &self.yielded)
            .finish()
    }
}

impl<T> Dump<T> {
    pub(crate) fn new(
        conn: Connection,
        dump: Arc<tokio::sync::Mutex<DumpSock>>,
        req: Request,
        decode: Decoder<T>,
        policy: DumpPolicy,
    ) -> Dump<T> {
        Dump {
            conn,
            dump,
            req,
            decode,
            policy,
            state: State::Init,
            attempts: 0,
            yielded: 0,
            objects: None,
            intr: false,
            failed: None,
        }
    }

    /// Every message of type `ty` is an object that the decoder turns into
    /// an item or an error, never `Ok(None)`; the dump's other messages
    /// are skipped without calling it ([`Connection::dump_objects`]).
    pub(crate) fn objects_of(mut self, ty: u16) -> Self {
        self.objects = Some(ty);
        self
    }

    /// A dump that yields `e` and ends without sending anything: for input
    /// found invalid when the dump is built.
    pub(crate) fn failed_with(mut self, e: Error) -> Self {
        self.failed = Some(e);
        self
    }

    /// Override the interrupted-dump policy for this dump.
    pub fn policy(mut self, policy: DumpPolicy) -> Self {
        self.policy = policy;
        self
    }

    fn ty(&self) -> MsgType {
        MsgType { protocol: self.conn.protocol(), raw: self.req.msg_type() }
    }

    /// Send the request on the locked socket; returns the sequence used.
    fn send(&mut self, guard: &mut DumpSock) -> Result<u32> {
        let seq = self.conn.inner.shared.next_seqs(1);
        let mut bytes = self.req.as_bytes().to_vec();
        wire::set_seq(&mut bytes, 0, seq);
        let flags = (self.req.flags() | wire::NLM_F_REQUEST | NLM_F_DUMP) & !NLM_F_ACK;
        wire::set_flags(&mut bytes, 0, flags);
        guard.sock.send_now(&bytes).map_err(|e| Error::io(format!("send {} dump", self.ty()), e))?;
        guard.in_progress = Some(seq);
        self.attempts += 1;
        self.intr = false;
        Ok(seq)
    }

    fn kernel_error(&self, e: &ErrorMsg, seq: u32) -> Error {
        Error::Kernel(e.to_kernel_error(self.ty(), seq))
    }

    fn poll_inner(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<T>>> {
        if let Some(e) = self.failed.take() {
            self.state = State::Done;
            return Poll::Ready(Err(e));
        }
        loop {
            // The common case first: the next message of the current
            // datagram is an object of our dump. Exactly what `step` does
            // for it, without its general bookkeeping.
            if let State::Active { src, phase: Phase::Reading, seq, len, pos, .. } = &mut self.state {
                let buf = src.buf();
                if let Some(header) = buf.get(*pos..*len).and_then(|b| Header::parse(b).ok()) {
                    let mlen = header.len as usize;
                    if header.seq == *seq
                        && header.ty != NLMSG_DONE
                        && header.ty != NLMSG_ERROR
                        && mlen >= wire::NLMSG_HDRLEN
                        && mlen <= *len - *pos
                    {
                        let start = *pos;
                        *pos = (start + wire::align(mlen)).min(*len);
                        if header.flags & NLM_F_DUMP_INTR != 0 {
                            self.intr = true;
                        }
                        let m = Msg { header, payload: &buf[start + wire::NLMSG_HDRLEN..start + mlen] };
                        hand_over!(self, m);
                    }
                }
            }
            match &mut self.state {
                State::Done => return Poll::Ready(Ok(None)),
                State::Init => {
                    let fut = self.dump.clone().lock_owned();
                    self.state = State::Locking(Box::pin(fut));
                }
                State::Locking(fut) => {
                    let mut guard = match fut.as_mut().poll(cx) {
                        Poll::Ready(g) => g,
                        Poll::Pending => return Poll::Pending,
                    };
                    if let Some(old) = guard.in_progress {
                        self.state = State::Active {
                            src: Source::Inline(guard),
                            phase: Phase::Draining(old),
                            seq: 0,
                            len: 0,
                            pos: 0,
                            received: 0,
                        };
                        continue;
                    }
                    match self.send(&mut guard) {
                        Ok(seq) => self.state = State::active(guard, seq),
                        Err(e) => {
                            self.state = State::Done;
                            return Poll::Ready(Err(e));
                        }
                    }
                }
                State::Active { .. } => {
                    let mut object = None;
                    if let Some(r) = self.step(cx, &mut object) {
                        return r;
                    }
                    if let Some((header, payload)) = object {
                        let State::Active { src, .. } = &self.state else {
                            unreachable!("an object comes from the active state")
                        };
                        let m = Msg { header, payload: &src.buf()[payload] };
                        hand_over!(self, m);
                    }
                }
            }
        }
    }

    /// Take the socket back from the active state (it must be inline) to
    /// send again, leaving `Done` behind.
    fn take_inline(&mut self) -> OwnedMutexGuard<DumpSock> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Active { src: Source::Inline(g), .. } => g,
            _ => unreachable!("the socket is inline when a dump ends"),
        }
    }

    /// Fail the dump: `Done`, and the error to return.
    fn fail(&mut self, e: Error) -> Option<Poll<Result<Option<T>>>> {
        self.state = State::Done;
        Some(Poll::Ready(Err(e)))
    }

    /// Get the next datagram into the active state's buffer: `None` to
    /// loop again (it arrived), `Some(poll)` to return.
    fn next_datagram(&mut self, cx: &mut Context<'_>) -> Option<Poll<Result<Option<T>>>> {
        let State::Active { src, phase, seq, len, pos, received } = &mut self.state else {
            unreachable!("only called in the active state")
        };
        // A long dump of our own: let a thread read the rest.
        if *phase == Phase::Reading && *received >= READ_AHEAD_AFTER && *len >= READ_AHEAD_FULL {
            if let Source::Inline(_) = src {
                let seq = *seq;
                let State::Active { src: Source::Inline(g), phase, len, pos, received, .. } =
                    std::mem::replace(&mut self.state, State::Done)
                else {
                    unreachable!("checked above")
                };
                match ReadAhead::start(g, seq, datagram_bound(self.conn.protocol(), self.req.msg_type())) {
                    Ok(ahead) => {
                        let src = Source::Ahead { ahead, cur: Vec::new() };
                        self.state = State::Active { src, phase, seq, len, pos, received };
                    }
                    Err(e) => return self.fail(e),
                }
                return None;
            }
        }
        let got = match src {
            Source::Inline(ds) => {
                let ds: &mut DumpSock = ds;
                // Our own dump's datagrams: without a peek when the kernel
                // bounds them (not while draining another dump's rest,
                // whose request is not known here).
                let bound = match phase {
                    Phase::Reading => datagram_bound(self.conn.protocol(), self.req.msg_type()),
                    Phase::Draining(_) => None,
                };
                match ds.sock.poll_recv_bounded(cx, &mut ds.buf, bound) {
                    Poll::Pending => return Some(Poll::Pending),
                    Poll::Ready(Err(e)) => return self.fail(Error::io("receive dump", e)),
                    Poll::Ready(Ok(got)) => got,
                }
            }
            Source::Ahead { ahead, cur } => {
                // The current datagram is parsed: its buffer goes back to
                // the thread now, before it receives the next one (handed
                // back later, it would find none and take a new, zeroed
                // one). The thread may be gone (its last chunk is queued):
                // then the buffer is just freed.
                if cur.capacity() > 0 {
                    let _ = ahead.spent.send(std::mem::take(cur));
                }
                match ahead.rx.poll_recv(cx) {
                    Poll::Pending => return Some(Poll::Pending),
                    // The thread never leaves without the socket's last chunk
                    // unless the consumer is gone; treat a silent end as an I/O
                    // error.
                    Poll::Ready(None) => {
                        return self.fail(Error::io(
                            "receive dump",
                            std::io::Error::other("the dump reading thread ended"),
                        ))
                    }
                    Poll::Ready(Some(Chunk { got: Err(e), .. })) => return self.fail(e),
                    Poll::Ready(Some(Chunk { got: Ok((data, got)), back })) => {
                        match back {
                            // The end of the dump: the socket comes back and the
                            // last datagram is parsed from its own buffer.
                            Some(mut g) => {
                                let n = match got {
                                    Received::Datagram { len, .. } => len,
                                    Received::Truncated { .. } => 0,
                                };
                                // Into the socket's buffer as it is (its
                                // length kept: no zeroing on the next dump).
                                if g.buf.len() < n {
                                    g.buf.resize(n, 0);
                                }
                                g.buf[..n].copy_from_slice(&data[..n]);
                                *src = Source::Inline(g);
                            }
                            None => *cur = data,
                        }
                        got
                    }
                }
            }
        };
        match got {
            Received::Datagram { len: n, port: 0 } => {
                *received += 1;
                *len = n;
                *pos = 0;
                None
            }
            Received::Datagram { len: n, .. } => {
                // Not from the kernel: dropped and counted, whatever it
                // claims (an end of dump, an error, objects); the dump
                // goes on with the kernel's next datagram.
                self.conn.inner.shared.drop_foreign(&src.buf()[..n]);
                *len = 0;
                *pos = 0;
                None
            }
            Received::Truncated { port, .. } if port != 0 => {
                self.conn.inner.shared.drop_foreign(&[]);
                *len = 0;
                *pos = 0;
                None
            }
            Received::Truncated { size, buffer, .. } => self.fail(Error::Truncated { size, buffer }),
        }
    }

    /// One step of reading: `None` to loop again, `Some(poll)` to return.
    /// A message of our dump for the decoder is left in `object` (its
    /// header and payload range in the current datagram) with `None`.
    fn step(
        &mut self,
        cx: &mut Context<'_>,
        object: &mut Option<(wire::Header, std::ops::Range<usize>)>,
    ) -> Option<Poll<Result<Option<T>>>> {
        if matches!(&self.state, State::Active { pos, len, .. } if pos >= len) {
            return self.next_datagram(cx);
        }
        let State::Active { src, phase, seq, len, pos, .. } = &mut self.state else {
            unreachable!("step is only called in the active state")
        };
        // Parse the next message of the current datagram.
        let (msg_len, header) = {
            let mut it = MsgIter::new(&src.buf()[*pos..*len]);
            match it.next() {
                Some(Ok(m)) => (wire::align(m.header.len as usize), m.header),
                Some(Err(e)) => {
                    *pos = *len;
                    return self.fail(Error::Decode(e));
                }
                None => {
                    *pos = *len;
                    return None;
                }
            }
        };
        let start = *pos;
        let end = (start + header.len as usize).min(*len);
        *pos = (start + msg_len).min(*len);
        let payload_range = start + wire::NLMSG_HDRLEN..end;
        match *phase {
            Phase::Draining(old) => {
                if header.seq == old && (header.ty == NLMSG_DONE || header.ty == NLMSG_ERROR) {
                    if let Some(ds) = src.inline() {
                        ds.in_progress = None;
                    }
                    let mut g = self.take_inline();
                    match self.send(&mut g) {
                        Ok(seq) => self.state = State::active(g, seq),
                        Err(e) => return Some(Poll::Ready(Err(e))),
                    }
                }
                None
            }
            Phase::Reading => {
                if header.seq != *seq {
                    // The kernel's, but not for this dump: dropped, and
                    // counted as unmatched.
                    self.conn.inner.shared.unmatched.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return None;
                }
                if header.flags & NLM_F_DUMP_INTR != 0 {
                    self.intr = true;
                }
                match header.ty {
                    NLMSG_DONE => {
                        // DONE carries the dump's error code, and may carry
                        // extended-ack attributes after it.
                        let err = match ErrorMsg::parse_done(&src.buf()[payload_range], header.flags) {
                            Ok(e) if e.error < 0 => Some(Ok(e)),
                            Ok(_) => None,
                            Err(d) => Some(Err(d)),
                        };
                        if let Some(ds) = src.inline() {
                            ds.in_progress = None;
                        }
                        let seq = *seq;
                        match err {
                            Some(Ok(e)) => {
                                let err = self.kernel_error(&e, seq);
                                return self.fail(err);
                            }
                            Some(Err(d)) => return self.fail(Error::Decode(d)),
                            None => {}
                        }
                        if self.intr {
                            if self.yielded == 0 && self.attempts <= self.policy.retries {
                                let mut g = self.take_inline();
                                return match self.send(&mut g) {
                                    Ok(seq) => {
                                        self.state = State::active(g, seq);
                                        None
                                    }
                                    Err(e) => Some(Poll::Ready(Err(e))),
                                };
                            }
                            let attempts = self.attempts;
                            let request = self.ty();
                            return self.fail(Error::DumpInterrupted { request, attempts });
                        }
                        self.state = State::Done;
                        Some(Poll::Ready(Ok(None)))
                    }
                    NLMSG_ERROR => {
                        let parsed = ErrorMsg::parse(&src.buf()[payload_range], header.flags);
                        match parsed {
                            Ok(e) if e.error == 0 => None,
                            Ok(e) => {
                                if let Some(ds) = src.inline() {
                                    ds.in_progress = None;
                                }
                                let seq = *seq;
                                let err = self.kernel_error(&e, seq);
                                self.fail(err)
                            }
                            Err(d) => Some(Poll::Ready(Err(Error::Decode(d)))),
                        }
                    }
                    _ => {
                        *object = Some((header, payload_range));
                        None
                    }
                }
            }
        }
    }

    /// The next object, `Ok(None)` at the end.
    ///
    /// # Cancel safety
    /// Cancel safe: no object is lost if the future is dropped.
    pub async fn try_next(&mut self) -> Result<Option<T>> {
        std::future::poll_fn(|cx| self.poll_inner(cx)).await
    }

    /// Collect the whole dump into a `Vec`, dumping again (per the policy)
    /// when the kernel flags it as interrupted, so the result is consistent.
    ///
    /// # Cancel safety
    /// Dropping the future drops the dump; the connection drains what the kernel still sends before its next dump.
    pub async fn try_collect(mut self) -> Result<Vec<T>> {
        let mut rounds = 0u32;
        loop {
            let mut out = Vec::new();
            let mut interrupted = false;
            loop {
                match self.try_next().await {
                    Ok(Some(t)) => out.push(t),
                    Ok(None) => break,
                    Err(Error::DumpInterrupted { .. }) => {
                        interrupted = true;
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            if !interrupted {
                return Ok(out);
            }
            rounds += 1;
            if rounds > self.policy.retries {
                return Err(Error::DumpInterrupted { request: self.ty(), attempts: self.attempts });
            }
            self.state = State::Init;
            self.yielded = 0;
            self.intr = false;
        }
    }
}

impl<T> Stream for Dump<T> {
    type Item = Result<T>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_inner(cx).map(Result::transpose)
    }
}
