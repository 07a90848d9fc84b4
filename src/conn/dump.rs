//! Dumps as streams with constant memory.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use tokio::sync::OwnedMutexGuard;

use super::socket::Sock;
use super::{Connection, Request};
use crate::error::{Errno, Error, KernelError, Result};
use crate::wire::names::MsgType;
use crate::wire::{
    self, ErrorMsg, Msg, MsgIter, NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR,
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
    Active { guard: OwnedMutexGuard<DumpSock>, phase: Phase, seq: u32, len: usize, pos: usize },
    Done,
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
pub struct Dump<T> {
    conn: Connection,
    dump: Arc<tokio::sync::Mutex<DumpSock>>,
    req: Request,
    decode: Decoder<T>,
    policy: DumpPolicy,
    state: State,
    attempts: u32,
    yielded: u64,
    intr: bool,
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
        Dump { conn, dump, req, decode, policy, state: State::Init, attempts: 0, yielded: 0, intr: false }
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
        Error::Kernel(KernelError {
            errno: Errno(-e.error),
            message: e.message.clone(),
            offset: e.offset,
            missing_attr: e.missing_type,
            request: self.ty(),
            seq,
            operation: None,
        })
    }

    fn poll_inner(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T>>> {
        loop {
            match &mut self.state {
                State::Done => return Poll::Ready(None),
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
                        self.state =
                            State::Active { guard, phase: Phase::Draining(old), seq: 0, len: 0, pos: 0 };
                        continue;
                    }
                    match self.send(&mut guard) {
                        Ok(seq) => {
                            self.state = State::Active { guard, phase: Phase::Reading, seq, len: 0, pos: 0 }
                        }
                        Err(e) => {
                            self.state = State::Done;
                            return Poll::Ready(Some(Err(e)));
                        }
                    }
                }
                State::Active { .. } => {
                    if let Some(r) = self.step(cx) {
                        return r;
                    }
                }
            }
        }
    }

    /// One step of reading: `None` to loop again, `Some(poll)` to return.
    fn step(&mut self, cx: &mut Context<'_>) -> Option<Poll<Option<Result<T>>>> {
        let State::Active { guard, phase, seq, len, pos } = &mut self.state else {
            unreachable!("step is only called in the active state")
        };
        if *pos >= *len {
            let ds: &mut DumpSock = guard;
            return match ds.sock.poll_recv(cx, &mut ds.buf) {
                Poll::Pending => Some(Poll::Pending),
                Poll::Ready(Err(e)) => {
                    self.state = State::Done;
                    Some(Poll::Ready(Some(Err(Error::io("receive dump", e)))))
                }
                Poll::Ready(Ok(Err(e))) => {
                    self.state = State::Done;
                    Some(Poll::Ready(Some(Err(e))))
                }
                Poll::Ready(Ok(Ok(rx))) => {
                    if rx.port != 0 {
                        // Not from the kernel: refuse the whole datagram.
                        let hdr = wire::Header::parse(&ds.buf[..rx.len]).map(|h| h.seq).unwrap_or(0);
                        self.state = State::Done;
                        return Some(Poll::Ready(Some(Err(Error::Unexpected {
                            port: rx.port,
                            seq: hdr,
                            reason: "not sent by the kernel",
                        }))));
                    }
                    *len = rx.len;
                    *pos = 0;
                    None
                }
            };
        }
        // Parse the next message of the current datagram.
        let (msg_len, header) = {
            let mut it = MsgIter::new(&guard.buf[*pos..*len]);
            match it.next() {
                Some(Ok(m)) => (wire::align(m.header.len as usize), m.header),
                Some(Err(e)) => {
                    *pos = *len;
                    self.state = State::Done;
                    return Some(Poll::Ready(Some(Err(Error::Decode(e)))));
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
                    guard.in_progress = None;
                    let mut g = match std::mem::replace(&mut self.state, State::Done) {
                        State::Active { guard, .. } => guard,
                        _ => unreachable!(),
                    };
                    match self.send(&mut g) {
                        Ok(seq) => {
                            self.state =
                                State::Active { guard: g, phase: Phase::Reading, seq, len: 0, pos: 0 }
                        }
                        Err(e) => return Some(Poll::Ready(Some(Err(e)))),
                    }
                }
                None
            }
            Phase::Reading => {
                if header.seq != *seq {
                    // Left over from an earlier request on this socket.
                    return None;
                }
                if header.flags & NLM_F_DUMP_INTR != 0 {
                    self.intr = true;
                }
                match header.ty {
                    NLMSG_DONE => {
                        let payload = &guard.buf[payload_range];
                        let err = if payload.len() >= 4 {
                            let code = i32::from_ne_bytes(payload[0..4].try_into().expect("4 bytes"));
                            (code < 0).then(|| {
                                // DONE may carry extended-ack TLVs after the code.
                                let mut e = ErrorMsg { error: code, ..Default::default() };
                                if header.flags & wire::NLM_F_ACK_TLVS != 0 {
                                    for a in wire::AttrIter::new(&payload[4..]).flatten() {
                                        if a.kind() == wire::NLMSGERR_ATTR_MSG {
                                            e.message = a.str().ok().map(str::to_string);
                                        }
                                    }
                                }
                                e
                            })
                        } else {
                            None
                        };
                        guard.in_progress = None;
                        let seq = *seq;
                        if let Some(e) = err {
                            let err = self.kernel_error(&e, seq);
                            self.state = State::Done;
                            return Some(Poll::Ready(Some(Err(err))));
                        }
                        if self.intr {
                            if self.yielded == 0 && self.attempts <= self.policy.retries {
                                let mut g = match std::mem::replace(&mut self.state, State::Done) {
                                    State::Active { guard, .. } => guard,
                                    _ => unreachable!(),
                                };
                                return match self.send(&mut g) {
                                    Ok(seq) => {
                                        self.state = State::Active {
                                            guard: g,
                                            phase: Phase::Reading,
                                            seq,
                                            len: 0,
                                            pos: 0,
                                        };
                                        None
                                    }
                                    Err(e) => Some(Poll::Ready(Some(Err(e)))),
                                };
                            }
                            let attempts = self.attempts;
                            let request = self.ty();
                            self.state = State::Done;
                            return Some(Poll::Ready(Some(Err(Error::DumpInterrupted {
                                request,
                                attempts,
                            }))));
                        }
                        self.state = State::Done;
                        Some(Poll::Ready(None))
                    }
                    NLMSG_ERROR => {
                        let parsed = ErrorMsg::parse(&guard.buf[payload_range], header.flags);
                        match parsed {
                            Ok(e) if e.error == 0 => None,
                            Ok(e) => {
                                guard.in_progress = None;
                                let seq = *seq;
                                let err = self.kernel_error(&e, seq);
                                self.state = State::Done;
                                Some(Poll::Ready(Some(Err(err))))
                            }
                            Err(d) => Some(Poll::Ready(Some(Err(Error::Decode(d))))),
                        }
                    }
                    _ => {
                        let m = Msg { header, payload: &guard.buf[payload_range] };
                        match (self.decode)(&m) {
                            Ok(Some(t)) => {
                                self.yielded += 1;
                                Some(Poll::Ready(Some(Ok(t))))
                            }
                            Ok(None) => None,
                            Err(e) => Some(Poll::Ready(Some(Err(e)))),
                        }
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
        std::future::poll_fn(|cx| self.poll_inner(cx)).await.transpose()
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
        self.poll_inner(cx)
    }
}
