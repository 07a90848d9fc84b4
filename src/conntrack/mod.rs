//! Connection tracking (ctnetlink): list, get, create, update and delete
//! flows, flush, statistics and events — what the `conntrack` tool does,
//! as a typed async API.
//!
//! [`Conntrack`] wraps a netfilter [`Connection`]; [`Flow`] is one tracked
//! connection (tuples, status, timeout, mark, zone, labels, counters,
//! timestamps, protocol state, helper, and the [`Nat`] derived from its
//! tuples); [`Filter`] selects flows, applied by the kernel wherever it can
//! and always checked again in user space.
//!
//! ```no_run
//! use futures_util::TryStreamExt;
//! use netplumb::conntrack::{Conntrack, Filter, IpProto};
//! use netplumb::netns::Netns;
//!
//! # async fn demo() -> netplumb::Result<()> {
//! let ct = Conntrack::new_in(&Netns::open_named("router")?).await?;
//! // conntrack -L -p udp -d 10.96.0.10 --dport 53
//! let filter = Filter::new().proto(IpProto::UDP).orig_dst("10.96.0.10".parse().unwrap()).orig_dst_port(53);
//! let mut flows = ct.list(&filter);
//! while let Some(flow) = flows.try_next().await? {
//!     println!("{}", flow.to_conntrack_line());
//! }
//! // The service lost a backend: drop UDP flows still pinned to it.
//! let live = ["10.2.0.3:5353".parse().unwrap()];
//! let removed = ct.delete_stale_udp("10.96.0.10:53".parse().unwrap(), &live).await?;
//! # let _ = removed;
//! # Ok(()) }
//! ```
//!
//! Everything needs `CAP_NET_ADMIN` in the namespace (run as root).

pub(crate) mod consts;
mod events;
mod filter;
mod flow;
mod labels;
mod raw;
mod render;
mod stack;
mod stats;
mod status;
mod tuple;

pub use events::{EventGroups, EventKind, FlowEvent};
pub use filter::{Filter, IpFamily};
pub use flow::{
    Counters, DccpInfo, Extra, Flow, FlowExtra, Helper, Labels, Nat, NatTarget, ProtoInfo, SctpInfo, SeqAdj,
    Synproxy, TcpFlags, TcpInfo, Timestamps, Update,
};
pub use labels::{LabelMap, DEFAULT_CONNLABEL_CONF};
pub use raw::{UnknownAttr, UnknownAttrs};
pub use render::LineFormat;
pub use stats::{Count, CpuStats, Stats};
pub use status::{DccpState, SctpState, Status, TcpState};
pub use tuple::{Icmp, IpProto, Tuple};

use std::net::SocketAddr;
use std::sync::OnceLock;

use consts::*;
use flow::nfgenmsg;

use crate::conn::{Batch, Connection, Dump, Request, Subscription};
use crate::error::{BatchError, Error, KernelError, Result};
use crate::names::Protocol;
use crate::netns::Netns;
use crate::wire::{AttrWriter, Msg, NLM_F_CREATE, NLM_F_EXCL};

/// Deletes per chunk handed from the listing to the deleting task in
/// [`Conntrack::delete_many`]: small enough that deleting starts early.
const DELETE_CHUNK: usize = 2048;

/// Aborts a spawned task when dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The running kernel's version, for features older kernels lack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct KernelVersion(pub u32, pub u32);

impl KernelVersion {
    pub(crate) fn at_least(self, major: u32, minor: u32) -> bool {
        self >= KernelVersion(major, minor)
    }

    /// From `/proc/sys/kernel/osrelease`; 0.0 (assume nothing) if it
    /// cannot be read.
    pub(crate) fn running() -> KernelVersion {
        static V: OnceLock<KernelVersion> = OnceLock::new();
        *V.get_or_init(|| {
            std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .ok()
                .and_then(|s| Self::parse(&s))
                .unwrap_or(KernelVersion(0, 0))
        })
    }

    fn parse(s: &str) -> Option<KernelVersion> {
        let mut it = s.trim().split(|c: char| !c.is_ascii_digit());
        Some(KernelVersion(it.next()?.parse().ok()?, it.next()?.parse().ok()?))
    }
}

/// Connection tracking in one network namespace (see the [module
/// docs](self)).
///
/// Cheap to clone (`Clone + Send + Sync`): clones share the connection.
/// Every operation needs `CAP_NET_ADMIN` in the namespace.
#[derive(Clone, Debug)]
pub struct Conntrack {
    conn: Connection,
}

impl Conntrack {
    /// Use a netfilter connection (`Connection::new_in(Protocol::Netfilter, ..)`).
    ///
    /// # Errors
    /// [`Error::Invalid`] if `conn` speaks another protocol.
    pub fn from_connection(conn: Connection) -> Result<Conntrack> {
        if conn.protocol() != Protocol::Netfilter {
            return Err(Error::invalid("connection", "conntrack needs a Protocol::Netfilter connection"));
        }
        Ok(Conntrack { conn })
    }

    /// Open a connection in the calling thread's namespace.
    ///
    /// # Cancel safety
    /// Cancel safe: nothing is left behind if dropped.
    pub async fn new() -> Result<Conntrack> {
        Self::from_connection(Connection::new(Protocol::Netfilter).await?)
    }

    /// Open a connection inside `netns` (as `ip netns exec NS conntrack`).
    ///
    /// # Cancel safety
    /// Cancel safe: nothing is left behind if dropped.
    pub async fn new_in(netns: &Netns) -> Result<Conntrack> {
        Self::from_connection(Connection::new_in(Protocol::Netfilter, netns).await?)
    }

    /// The underlying connection.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Stream the flows `filter` selects (`conntrack -L [options]`), one
    /// datagram in memory at a time.
    ///
    /// The kernel applies the filter where it can; the rest is applied in
    /// user space before flows are yielded. A flow that cannot be decoded
    /// is yielded as an [`Error::Decode`] item and the stream goes on.
    #[doc(alias = "IPCTNL_MSG_CT_GET")]
    #[doc(alias = "NLM_F_DUMP")]
    pub fn list(&self, filter: &Filter) -> Dump<Flow> {
        self.list_with(filter, Some)
    }

    /// [`Conntrack::list`], each selected flow turned into what `keep`
    /// returns (`None`: skip it) as it is decoded.
    fn list_with<T, K>(&self, filter: &Filter, mut keep: K) -> Dump<T>
    where
        T: Send + 'static,
        K: FnMut(Flow) -> Option<T> + Send + 'static,
    {
        let req = Request::new(msg_type(IPCTNL_MSG_CT_GET), 0, |w| filter.write_kernel(w, 0));
        let invalid = filter.validate().err();
        let filter = filter.clone();
        let dump = self.conn.dump(&req, move |m: &Msg<'_>| {
            if m.header.ty != msg_type(IPCTNL_MSG_CT_NEW) {
                return Ok(None);
            }
            let f = Flow::decode(m.payload)?;
            Ok(if filter.matches(&f) { keep(f) } else { None })
        });
        match invalid {
            // Yielded as the first item; nothing is sent.
            Some(e) => dump.failed_with(e),
            None => dump,
        }
    }

    /// The flow whose original tuple is `orig` in `zone` (0: the default
    /// zone), as `conntrack -G` finds it.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such flow; [`Error::Invalid`]
    /// for a tuple mixing address families; the kernel's error otherwise.
    ///
    /// # Cancel safety
    /// Cancel safe: a lookup changes nothing.
    #[doc(alias = "IPCTNL_MSG_CT_GET")]
    pub async fn get(&self, orig: &Tuple, zone: u16) -> Result<Flow> {
        orig.validate("orig")?;
        let req = Request::new(msg_type(IPCTNL_MSG_CT_GET), 0, |w| write_key(w, orig, zone, None));
        let replies = self.conn.request(&req).await.map_err(|e| not_found(e, orig))?;
        let m = replies
            .iter()
            .find(|m| m.header.ty == msg_type(IPCTNL_MSG_CT_NEW))
            .ok_or_else(|| Error::NotFound { what: format!("conntrack flow {orig}") })?;
        Ok(Flow::decode(&m.payload)?)
    }

    /// Create a flow (`conntrack -I`). The kernel takes the tuples, zone,
    /// timeout (required), status, mark, protocol state, helper and labels;
    /// other fields are ignored.
    ///
    /// # Errors
    /// [`Error::Invalid`] without a timeout or with mixed address
    /// families; `EEXIST` ([`Error::is_exists`]) if the flow exists;
    /// `ENOSPC` for labels when no rule in the namespace uses labels.
    ///
    /// # Cancel safety
    /// Once sent, the flow is created whether or not the future completes.
    #[doc(alias = "IPCTNL_MSG_CT_NEW")]
    pub async fn add(&self, flow: &Flow) -> Result<()> {
        flow.validate_create()?;
        let req =
            Request::new(msg_type(IPCTNL_MSG_CT_NEW), NLM_F_CREATE | NLM_F_EXCL, |w| flow.write_create(w));
        self.conn.ack(&req).await
    }

    /// Create many flows, packed many per datagram (what `conntrack -R`
    /// does from a file, much faster). Returns how many were created.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the first invalid flow (nothing is sent);
    /// [`Error::Batch`] listing each flow the kernel refused, by index,
    /// after trying them all.
    ///
    /// # Cancel safety
    /// Dropping the future stops after the current datagram; the flows of
    /// earlier datagrams exist.
    #[doc(alias = "IPCTNL_MSG_CT_NEW")]
    pub async fn add_many(&self, flows: &[Flow]) -> Result<usize> {
        for (i, f) in flows.iter().enumerate() {
            f.validate_create().map_err(|e| e.at_index("flows", i))?;
        }
        // Encoded straight into the datagrams as they are sent.
        let res = self
            .conn
            .bulk_with(
                flows.len(),
                |_| (msg_type(IPCTNL_MSG_CT_NEW), NLM_F_CREATE | NLM_F_EXCL),
                |i, w| flows[i].write_create(w),
                |i| format!("add {}", flows[i].orig),
            )
            .await;
        match res {
            Ok(()) => Ok(flows.len()),
            // A single flow's failure comes back alone; `add_many` reports
            // a batch whatever the count.
            Err(Error::Kernel(k)) if k.operation.is_some() => {
                Err(Error::Batch(BatchError { total: flows.len(), failures: vec![k] }))
            }
            Err(e) => Err(e),
        }
    }

    /// Change the flow whose original tuple is `orig` in `zone`
    /// (`conntrack -U`): timeout, mark, status, labels.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such flow; `EBUSY`
    /// ([`Error::is_busy`]) when clearing `SEEN_REPLY` or `ASSURED`.
    ///
    /// # Cancel safety
    /// Once sent, the change applies whether or not the future completes.
    #[doc(alias = "IPCTNL_MSG_CT_NEW")]
    pub async fn update(&self, orig: &Tuple, zone: u16, change: &Update) -> Result<()> {
        orig.validate("orig")?;
        let req = Request::new(msg_type(IPCTNL_MSG_CT_NEW), 0, |w| {
            write_key(w, orig, zone, None);
            change.write(w);
        });
        self.conn.ack(&req).await.map_err(|e| not_found(e, orig))
    }

    /// Delete the flow whose original tuple is `orig` in `zone`
    /// (`conntrack -D` with a full tuple).
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such flow.
    ///
    /// # Cancel safety
    /// Once sent, the flow is deleted whether or not the future completes.
    #[doc(alias = "IPCTNL_MSG_CT_DELETE")]
    pub async fn delete(&self, orig: &Tuple, zone: u16) -> Result<()> {
        orig.validate("orig")?;
        let req = Request::new(msg_type(IPCTNL_MSG_CT_DELETE), 0, |w| write_key(w, orig, zone, None));
        self.conn.ack(&req).await.map_err(|e| not_found(e, orig))
    }

    /// Delete a flow obtained from [`Conntrack::list`] or an event: by its
    /// original tuple, zone and id, so another flow that now has the same
    /// tuple is left alone. (The kernel derives ids from the flow's memory
    /// address and tuples, so a flow re-created at once in the same memory
    /// can get the same id.)
    ///
    /// # Errors
    /// [`Error::NotFound`] when the flow is gone.
    ///
    /// # Cancel safety
    /// As [`Conntrack::delete`].
    #[doc(alias = "IPCTNL_MSG_CT_DELETE")]
    pub async fn delete_flow(&self, flow: &Flow) -> Result<()> {
        flow.orig.validate("orig")?;
        let req = Request::new(msg_type(IPCTNL_MSG_CT_DELETE), 0, |w| write_flow_key(w, flow));
        self.conn.ack(&req).await.map_err(|e| not_found(e, &flow.orig))
    }

    /// Delete every flow `filter` selects (`conntrack -D [options]`) and
    /// return how many were deleted. Flows are listed (filtered by the
    /// kernel where possible) and deleted by tuple and id, many delete
    /// requests per datagram, while the listing goes on. Flows that vanish
    /// meanwhile (`ENOENT`) are not counted and are not errors.
    ///
    /// # Errors
    /// Listing errors end the operation; [`Error::Batch`] lists deletes the
    /// kernel refused for other reasons, after all were tried.
    ///
    /// # Cancel safety
    /// Dropping the future stops after the current datagram; flows deleted
    /// until then stay deleted.
    #[doc(alias = "IPCTNL_MSG_CT_DELETE")]
    pub async fn delete_many(&self, filter: &Filter) -> Result<u64> {
        filter.validate()?;
        self.delete_listed(self.list_with(filter, |f| Some(FlowKey::of(f))), Some).await
    }

    /// [`Conntrack::delete_many`] for the flows `filter` selects and for
    /// which `also` returns true (a test the kernel cannot do, e.g. "reply
    /// source not among these endpoints").
    ///
    /// # Errors
    /// As [`Conntrack::delete_many`].
    ///
    /// # Cancel safety
    /// As [`Conntrack::delete_many`].
    #[doc(alias = "IPCTNL_MSG_CT_DELETE")]
    pub async fn delete_many_where(
        &self,
        filter: &Filter,
        mut also: impl FnMut(&Flow) -> bool,
    ) -> Result<u64> {
        filter.validate()?;
        self.delete_listed(self.list(filter), |f| also(&f).then(|| FlowKey::of(f))).await
    }

    /// Delete the flows `listing` yields that `select` keeps, by key, many
    /// delete requests per datagram, while the listing goes on (see
    /// [`Conntrack::delete_many`]).
    async fn delete_listed<T: Send + 'static>(
        &self,
        mut listing: Dump<T>,
        mut select: impl FnMut(T) -> Option<FlowKey>,
    ) -> Result<u64> {
        // The listing runs here while a second task sends the deletes, so
        // the kernel's two halves of the work (filling dump datagrams in the
        // dump's receives, deleting in the worker's sends) overlap. The channel is
        // bounded: memory stays at a few chunks however many flows match.
        // Emptied batches come back to be filled again.
        let rt = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(Batch, usize)>(2);
        let (back_tx, mut back_rx) = tokio::sync::mpsc::channel::<Batch>(4);
        let conn = self.conn.clone();
        let worker = rt.spawn(async move {
            let (mut deleted, mut failures) = (0u64, Vec::new());
            while let Some((mut batch, base)) = rx.recv().await {
                let res =
                    conn.bulk_described(&batch, |i| format!("delete {}", key_text(batch.message(i)))).await;
                let mut failed = batch_failures(res, base)?;
                let gone = failed.iter().filter(|k| k.is_not_found()).count();
                failed.retain(|k| !k.is_not_found());
                deleted += (batch.len() - gone - failed.len()) as u64;
                failures.extend(failed);
                batch.clear();
                // The lister may be done and gone: then the batch is freed.
                let _ = back_tx.try_send(batch);
            }
            Ok::<_, Error>((deleted, failures))
        });
        // Dropping this future stops the worker after its current datagram.
        let _abort = AbortOnDrop(worker.abort_handle());
        let mut batch = Batch::new();
        let mut tried = 0usize;
        loop {
            let next = listing.try_next().await?;
            let done = next.is_none();
            if let Some(key) = next.and_then(&mut select) {
                batch.push(msg_type(IPCTNL_MSG_CT_DELETE), 0, |w| key.write(w));
            }
            if batch.len() >= DELETE_CHUNK || (done && !batch.is_empty()) {
                let n = batch.len();
                let fresh = back_rx.try_recv().unwrap_or_default();
                if tx.send((std::mem::replace(&mut batch, fresh), tried)).await.is_err() {
                    // The worker stopped early: its error is reported below.
                    break;
                }
                tried += n;
            }
            if done {
                break;
            }
        }
        drop(tx);
        let (deleted, failures) = match worker.await {
            Ok(r) => r?,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => return Err(Error::Closed),
        };
        if failures.is_empty() {
            Ok(deleted)
        } else {
            Err(Error::Batch(BatchError { total: tried, failures }))
        }
    }

    /// Delete the UDP flows to a service whose backend is gone: flows whose
    /// original destination is `service` but whose reply source (the
    /// backend the flow was translated to, or the service itself if it was
    /// never translated) is not one of `live_endpoints`. This is the stale
    /// UDP cleanup a service proxy does when endpoints change, since UDP
    /// flows would otherwise keep sending traffic to a dead backend until
    /// they time out. Returns how many flows were deleted.
    ///
    /// `conntrack -D -p udp -d SERVICE_IP --dport PORT -r OLD_BACKEND` for
    /// each old backend, in one pass.
    ///
    /// # Errors
    /// As [`Conntrack::delete_many`].
    ///
    /// # Cancel safety
    /// As [`Conntrack::delete_many`].
    pub async fn delete_stale_udp(&self, service: SocketAddr, live_endpoints: &[SocketAddr]) -> Result<u64> {
        let filter = Filter::new()
            .family(IpFamily::of(&service.ip()))
            .proto(IpProto::UDP)
            .orig_dst(service.ip())
            .orig_dst_port(service.port());
        filter.validate()?;
        let live = live_endpoints.to_vec();
        let listing = self.list_with(&filter, move |f| {
            f.reply.src_socket().is_none_or(|backend| !live.contains(&backend)).then(|| FlowKey::of(f))
        });
        self.delete_listed(listing, Some).await
    }

    /// Delete every flow of the namespace (`conntrack -F`).
    ///
    /// # Cancel safety
    /// Once sent, the table is flushed whether or not the future completes.
    #[doc(alias = "IPCTNL_MSG_CT_DELETE")]
    pub async fn flush(&self) -> Result<()> {
        let req = Request::new(msg_type(IPCTNL_MSG_CT_DELETE), 0, |w| {
            w.raw(&nfgenmsg(0, 0));
        });
        self.conn.ack(&req).await
    }

    /// Delete every flow `filter` selects in one request the kernel carries
    /// out by itself (e.g. by mark or zone: `conntrack -D -m 1`, `-w 5`),
    /// without listing and without a count. Filters the running kernel
    /// cannot apply exactly (zones before Linux 6.8, ports of protocols
    /// other than TCP and UDP, ...) fall back to
    /// [`Conntrack::delete_many`], so the result is the same.
    ///
    /// # Cancel safety
    /// Once sent, the flows are deleted whether or not the future completes.
    #[doc(alias = "IPCTNL_MSG_CT_DELETE")]
    pub async fn flush_filtered(&self, filter: &Filter) -> Result<()> {
        filter.validate()?;
        if filter.is_empty() {
            return self.flush().await;
        }
        if filter.kernel_exact(KernelVersion::running()) {
            // Version 1: the kernel honours the family on a flush.
            let req = Request::new(msg_type(IPCTNL_MSG_CT_DELETE), 0, |w| filter.write_kernel(w, 1));
            match self.conn.ack(&req).await {
                Err(e) if e.errno() == Some(crate::Errno::EOPNOTSUPP) => {}
                other => return other,
            }
        }
        self.delete_many(filter).await.map(|_| ())
    }

    /// The number of flows in the namespace and `nf_conntrack_max`
    /// (`conntrack -C`).
    ///
    /// # Cancel safety
    /// Cancel safe.
    #[doc(alias = "IPCTNL_MSG_CT_GET_STATS")]
    pub async fn count(&self) -> Result<Count> {
        let req = Request::new(msg_type(IPCTNL_MSG_CT_GET_STATS), 0, |w| {
            w.raw(&nfgenmsg(0, 0));
        });
        let replies = self.conn.request(&req).await?;
        let m = replies
            .iter()
            .find(|m| m.header.ty == msg_type(IPCTNL_MSG_CT_GET_STATS))
            .ok_or_else(|| Error::NotFound { what: "conntrack statistics in the kernel's reply".into() })?;
        Ok(Count::decode(&m.payload)?)
    }

    /// The per-CPU counters (`conntrack -S`) and the table's size
    /// (`conntrack -C`).
    ///
    /// # Cancel safety
    /// Cancel safe.
    #[doc(alias = "IPCTNL_MSG_CT_GET_STATS_CPU")]
    #[doc(alias = "IPCTNL_MSG_CT_GET_STATS")]
    pub async fn stats(&self) -> Result<Stats> {
        let count = self.count().await?;
        let req = Request::new(msg_type(IPCTNL_MSG_CT_GET_STATS_CPU), 0, |w| {
            w.raw(&nfgenmsg(0, 0));
        });
        let per_cpu = self
            .conn
            .dump(&req, |m: &Msg<'_>| {
                if m.header.ty != msg_type(IPCTNL_MSG_CT_GET_STATS_CPU) {
                    return Ok(None);
                }
                Ok(Some(CpuStats::decode(m.payload)?))
            })
            .try_collect()
            .await?;
        Ok(Stats { count, per_cpu })
    }

    /// Follow flow events (`conntrack -E [-e GROUPS] [options]`): the
    /// groups chosen, the flows `filter` selects (checked in user space).
    /// A socket overflow yields [`Event::Overrun`](crate::conn::Event::Overrun);
    /// list again to resynchronise (the kernel drops further events until
    /// what is queued has been read). The receive buffer is 4 MiB; see
    /// [`Conntrack::events_with_buffer`].
    ///
    /// Events are only generated while `net.netfilter.nf_conntrack_events`
    /// is on (the default, 2, turns it on when someone listens).
    ///
    /// # Cancel safety
    /// Cancel safe: subscribing changes nothing.
    #[doc(alias = "NFNLGRP_CONNTRACK_NEW")]
    #[doc(alias = "NFNLGRP_CONNTRACK_UPDATE")]
    #[doc(alias = "NFNLGRP_CONNTRACK_DESTROY")]
    pub async fn events(&self, groups: EventGroups, filter: &Filter) -> Result<Subscription<FlowEvent>> {
        self.subscribe(groups, filter.clone(), None).await
    }

    /// [`Conntrack::events`] with a receive buffer of `rcvbuf` bytes.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn events_with_buffer(
        &self,
        groups: EventGroups,
        filter: &Filter,
        rcvbuf: usize,
    ) -> Result<Subscription<FlowEvent>> {
        self.subscribe(groups, filter.clone(), Some(rcvbuf)).await
    }

    async fn subscribe(
        &self,
        groups: EventGroups,
        filter: Filter,
        rcvbuf: Option<usize>,
    ) -> Result<Subscription<FlowEvent>> {
        if groups.is_empty() {
            return Err(Error::invalid("groups", "no event group chosen"));
        }
        filter.validate()?;
        self.conn
            .subscribe(&groups.groups(), rcvbuf, move |m: &Msg<'_>| {
                Ok(FlowEvent::decode(m)?.filter(|e| filter.matches(&e.flow)))
            })
            .await
    }
}

/// `struct nfgenmsg`, the original tuple and the zone of a request about
/// one flow.
fn write_key(w: &mut AttrWriter<'_>, orig: &Tuple, zone: u16, id: Option<u32>) {
    w.raw(&nfgenmsg(orig.family(), 0));
    orig.write(w, CTA_TUPLE_ORIG);
    if zone != 0 {
        w.u16_be(CTA_ZONE, zone);
    }
    if let Some(id) = id {
        w.u32_be(CTA_ID, id);
    }
}

/// What deletes one listed flow: its original tuple, zone and id.
struct FlowKey {
    orig: Tuple,
    zone: u16,
    id: Option<u32>,
}

impl FlowKey {
    fn of(flow: Flow) -> FlowKey {
        FlowKey { zone: flow.zone.unwrap_or(0), id: flow.id, orig: flow.orig }
    }

    fn write(&self, w: &mut AttrWriter<'_>) {
        write_key(w, &self.orig, self.zone, self.id);
    }
}

/// The original tuple of a request written by [`write_key`] (the whole
/// message, header included), as text for an error.
fn key_text(msg: &[u8]) -> String {
    let tuple = crate::wire::attrs_after(msg, crate::wire::NLMSG_HDRLEN + NFGENMSG_LEN)
        .map_while(|a| a.ok())
        .find(|a| a.kind() == CTA_TUPLE_ORIG)
        .and_then(|a| Tuple::parse(&a).ok());
    match tuple {
        Some(t) => t.to_string(),
        None => "a flow".into(),
    }
}

fn write_flow_key(w: &mut AttrWriter<'_>, flow: &Flow) {
    write_key(w, &flow.orig, flow.zone.unwrap_or(0), flow.id);
}

/// An `ENOENT` about one flow as a typed not-found.
fn not_found(e: Error, orig: &Tuple) -> Error {
    if matches!(&e, Error::Kernel(k) if k.is_not_found()) {
        Error::NotFound { what: format!("conntrack flow {orig}") }
    } else {
        e
    }
}

/// The kernel errors of a bulk call, with indices shifted by `base`; other
/// errors (I/O, lost replies) are returned as such.
fn batch_failures(res: Result<()>, base: usize) -> Result<Vec<KernelError>> {
    let mut failures = match res {
        Ok(()) => return Ok(Vec::new()),
        Err(Error::Batch(b)) => b.failures,
        Err(Error::Kernel(k)) if k.operation.is_some() => vec![k],
        Err(e) => return Err(e),
    };
    for f in &mut failures {
        if let Some(op) = &mut f.operation {
            op.index += base;
        }
    }
    Ok(failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions() {
        assert_eq!(KernelVersion::parse("6.18.44-fc-v782\n"), Some(KernelVersion(6, 18)));
        assert_eq!(KernelVersion::parse("5.10.0"), Some(KernelVersion(5, 10)));
        assert_eq!(KernelVersion::parse("garbage"), None);
        assert!(KernelVersion(6, 18).at_least(6, 8));
        assert!(!KernelVersion(5, 19).at_least(6, 1));
    }

    #[test]
    fn keys_carry_zone_and_id() {
        let t = Tuple::udp("10.0.0.1:1".parse().unwrap(), "10.0.0.2:2".parse().unwrap());
        let mut f = Flow::new(t.clone()).with_zone(4);
        f.id = Some(9);
        let mut buf = Vec::new();
        write_flow_key(&mut AttrWriter::new(&mut buf), &f);
        let d = Flow::decode(&{
            // A key has no reply tuple; add one so the flow decoder accepts it.
            let mut b = buf.clone();
            t.reversed().write(&mut AttrWriter::new(&mut b), CTA_TUPLE_REPLY);
            b
        })
        .unwrap();
        assert_eq!((d.orig, d.zone, d.id, d.family), (t, Some(4), Some(9), libc::AF_INET as u8));
        let mut plain = Vec::new();
        write_key(&mut AttrWriter::new(&mut plain), &f.orig, 0, None);
        let kinds: Vec<u16> = crate::wire::attrs_after(&plain, 4).map(|a| a.unwrap().kind()).collect();
        assert_eq!(kinds, vec![CTA_TUPLE_ORIG]);
    }

    #[test]
    fn delete_requests_name_their_flow() {
        let t = Tuple::tcp("10.0.0.1:1000".parse().unwrap(), "10.0.0.2:80".parse().unwrap());
        let mut f = Flow::new(t.clone()).with_zone(3);
        f.id = Some(7);
        let key = FlowKey::of(f.clone());
        let mut batch = Batch::new();
        batch.push(msg_type(IPCTNL_MSG_CT_DELETE), 0, |w| key.write(w));
        // The same bytes as a delete of the flow itself.
        let mut direct = Batch::new();
        direct.push(msg_type(IPCTNL_MSG_CT_DELETE), 0, |w| write_flow_key(w, &f));
        assert_eq!(batch.as_bytes(), direct.as_bytes());
        assert_eq!(key_text(batch.message(0)), t.to_string());
        assert_eq!(key_text(&batch.message(0)[..20]), "a flow");
        batch.clear();
        assert!(batch.is_empty() && batch.as_bytes().is_empty());
    }
}
