//! The flow model and its codec: one `IPCTNL_MSG_CT_NEW` message (a dump
//! entry, an event, a `get` reply) to a [`Flow`] and back. Pure code.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::ops::{Deref, DerefMut};
use std::time::{Duration, SystemTime};

use super::consts::*;
use super::raw::{write_unknown, UnknownAttr, UnknownAttrs};
use super::stack::{write_in_place, Stack};
use super::status::{DccpState, SctpState, Status, TcpState};
use super::tuple::{ported_v4, Tuple};
use crate::error::DecodeError;
use crate::wire::{self, family_of, put_attr_header, Attr, AttrWriter, AF_INET, NLA_F_NESTED};

/// Packet and byte counters of one direction (`CTA_COUNTERS_ORIG`,
/// `CTA_COUNTERS_REPLY`; present when `net.netfilter.nf_conntrack_acct`
/// is on).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Counters {
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
}

/// Start and stop times (`CTA_TIMESTAMP`; present when
/// `net.netfilter.nf_conntrack_timestamp` is on), in nanoseconds since
/// the Unix epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Timestamps {
    /// When the flow was created.
    pub start: u64,
    /// When it ended (destroy events only).
    pub stop: Option<u64>,
}

impl Timestamps {
    /// The start as a [`SystemTime`].
    pub fn start_time(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_nanos(self.start)
    }

    /// The stop as a [`SystemTime`].
    pub fn stop_time(&self) -> Option<SystemTime> {
        self.stop.map(|s| SystemTime::UNIX_EPOCH + Duration::from_nanos(s))
    }
}

/// Connection labels (`CTA_LABELS`): a 128-bit set; bit `n` is label `n`
/// (the names in `/etc/xtables/connlabel.conf` map to these numbers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Labels(pub u128);

impl Labels {
    /// Whether label `bit` (0..128) is set.
    pub fn contains(&self, bit: u8) -> bool {
        bit < 128 && self.0 & (1u128 << bit) != 0
    }

    /// The set with label `bit` added (bits past 127 are ignored).
    pub fn with(self, bit: u8) -> Labels {
        if bit < 128 {
            Labels(self.0 | 1u128 << bit)
        } else {
            self
        }
    }

    /// The labels that are set, in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = u8> + '_ {
        (0u8..128).filter(|b| self.contains(*b))
    }

    /// The kernel's layout: four 32-bit words in host byte order.
    pub(crate) fn to_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        for i in 0..4 {
            let word = (self.0 >> (32 * i)) as u32;
            out[4 * i..4 * i + 4].copy_from_slice(&word.to_ne_bytes());
        }
        out
    }

    fn from_bytes(b: &[u8]) -> Option<Labels> {
        if b.len() != 16 {
            return None;
        }
        let mut v = 0u128;
        for (i, w) in b.chunks_exact(4).enumerate() {
            let word = u32::from_ne_bytes(w.try_into().expect("4 bytes"));
            v |= (word as u128) << (32 * i);
        }
        Some(Labels(v))
    }
}

/// TCP window-scale-independent flags of one direction
/// (`struct nf_ct_tcp_flags`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags {
    /// `IP_CT_TCP_FLAG_*` bits.
    pub flags: u8,
    /// Which of them are meant (on updates).
    pub mask: u8,
}

/// TCP protocol information (`CTA_PROTOINFO_TCP`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpInfo {
    /// Connection state.
    pub state: Option<TcpState>,
    /// Window scale seen in the original direction.
    pub wscale_orig: Option<u8>,
    /// Window scale seen in the reply direction.
    pub wscale_reply: Option<u8>,
    /// Flags of the original direction.
    pub flags_orig: Option<TcpFlags>,
    /// Flags of the reply direction.
    pub flags_reply: Option<TcpFlags>,
    /// Attributes netplumb does not model.
    pub unknown: UnknownAttrs,
}

/// SCTP protocol information (`CTA_PROTOINFO_SCTP`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SctpInfo {
    /// Association state.
    pub state: Option<SctpState>,
    /// Verification tag of the original direction.
    pub vtag_orig: Option<u32>,
    /// Verification tag of the reply direction.
    pub vtag_reply: Option<u32>,
    /// Attributes netplumb does not model.
    pub unknown: UnknownAttrs,
}

/// DCCP protocol information (`CTA_PROTOINFO_DCCP`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct DccpInfo {
    /// Connection state.
    pub state: Option<DccpState>,
    /// Role (client 0, server 1).
    pub role: Option<u8>,
    /// Handshake sequence number.
    pub handshake_seq: Option<u64>,
    /// Attributes netplumb does not model.
    pub unknown: UnknownAttrs,
}

/// Protocol information (`CTA_PROTOINFO`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ProtoInfo {
    /// TCP state, window scales and flags.
    Tcp(TcpInfo),
    /// SCTP state and verification tags.
    Sctp(SctpInfo),
    /// DCCP state, role and handshake sequence.
    Dccp(DccpInfo),
    /// Something else: the nest's attributes as sent.
    Other(Vec<UnknownAttr>),
}

/// The helper attached to a flow (`CTA_HELP`), e.g. `ftp`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Helper {
    /// Its name.
    pub name: String,
    /// Helper-private data (`CTA_HELP_INFO`), as sent.
    pub info: Option<Vec<u8>>,
}

/// TCP sequence adjustment of one direction (`CTA_SEQ_ADJ_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SeqAdj {
    /// `CTA_SEQADJ_CORRECTION_POS`.
    pub correction_pos: u32,
    /// `CTA_SEQADJ_OFFSET_BEFORE`.
    pub offset_before: u32,
    /// `CTA_SEQADJ_OFFSET_AFTER`.
    pub offset_after: u32,
}

/// SYN proxy state (`CTA_SYNPROXY`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Synproxy {
    /// `CTA_SYNPROXY_ISN`.
    pub isn: u32,
    /// `CTA_SYNPROXY_ITS`.
    pub its: u32,
    /// `CTA_SYNPROXY_TSOFF`.
    pub tsoff: u32,
}

/// Where an address translation sent one side of a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NatTarget {
    /// The translated address.
    pub addr: IpAddr,
    /// The translated port, for protocols with ports.
    pub port: Option<u16>,
}

impl NatTarget {
    /// As a socket address, when there is a port.
    pub fn socket(&self) -> Option<SocketAddr> {
        self.port.map(|p| SocketAddr::new(self.addr, p))
    }
}

/// The NAT a flow went through, derived from its tuples (see
/// [`Flow::nat`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Nat {
    /// Source NAT: what the original source was rewritten to (the reply
    /// destination), when it differs from the original source.
    pub source: Option<NatTarget>,
    /// Destination NAT: the real destination (the reply source; for a
    /// service, the backend), when it differs from the original
    /// destination.
    pub destination: Option<NatTarget>,
}

/// One tracked connection, as `conntrack -L` shows it.
///
/// Fields are `None` when the kernel did not send them (the mark of a flow
/// without one, `use_count` in events, ...). What most flows lack
/// (counters without accounting, timestamps without
/// `nf_conntrack_timestamp`, labels, helper, ...) is in [`Flow::extra`],
/// allocated only when one of them is set, so a flow takes 248 bytes on
/// 64-bit targets.
/// [`Flow::new`] starts a flow to create with [`Conntrack::add`](super::Conntrack::add).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Flow {
    /// Address family (`nfgen_family`: `AF_INET` 2 or `AF_INET6` 10).
    pub family: u8,
    /// The original direction (`CTA_TUPLE_ORIG`).
    pub orig: Tuple,
    /// The reply direction (`CTA_TUPLE_REPLY`).
    pub reply: Tuple,
    /// Status bits (`CTA_STATUS`).
    pub status: Option<Status>,
    /// Seconds until the flow expires (`CTA_TIMEOUT`).
    pub timeout: Option<u32>,
    /// Connection mark (`CTA_MARK`).
    pub mark: Option<u32>,
    /// Zone of both directions (`CTA_ZONE`); see also [`Tuple::zone`] and
    /// [`Flow::zone_id`].
    pub zone: Option<u16>,
    /// The kernel's id of the flow (`CTA_ID`).
    pub id: Option<u32>,
    /// Reference count (`CTA_USE`).
    pub use_count: Option<u32>,
    /// Protocol state (TCP, SCTP, DCCP).
    pub protoinfo: Option<ProtoInfo>,
    /// SYN proxy state (the kernel sends it for every flow created
    /// through ctnetlink, hence not in [`Flow::extra`]).
    pub synproxy: Option<Synproxy>,
    /// The rarely-sent attributes: labels, counters, timestamps, helper,
    /// security context, master tuple, sequence adjustment.
    /// Read them as fields (`flow.extra.counters_orig`, no allocation) and
    /// assign them the same way (`flow.extra.helper = Some(..)`, which
    /// allocates the [`FlowExtra`] once).
    pub extra: Extra,
    /// Attributes netplumb does not model; for unknown attributes inside
    /// the known nests, `parent` names the nest (`CTA_COUNTERS_ORIG`, ...).
    pub unknown: UnknownAttrs,
}

/// The parts of a [`Flow`] most flows do not have, reached through
/// [`Flow::extra`]. All `None` by default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FlowExtra {
    /// Connection labels (`CTA_LABELS`).
    pub labels: Option<Labels>,
    /// Counters of the original direction.
    pub counters_orig: Option<Counters>,
    /// Counters of the reply direction.
    pub counters_reply: Option<Counters>,
    /// Start and stop timestamps.
    pub timestamp: Option<Timestamps>,
    /// When the event was generated, in nanoseconds since the epoch
    /// (`CTA_TIMESTAMP_EVENT`, events only).
    pub event_timestamp: Option<u64>,
    /// The attached helper.
    pub helper: Option<Helper>,
    /// SELinux security context (`CTA_SECCTX`).
    pub secctx: Option<String>,
    /// The flow this one was expected by (`CTA_TUPLE_MASTER`).
    pub master: Option<Tuple>,
    /// Sequence adjustment of the original direction.
    pub seq_adj_orig: Option<SeqAdj>,
    /// Sequence adjustment of the reply direction.
    pub seq_adj_reply: Option<SeqAdj>,
}

/// What an unallocated [`Extra`] reads as.
static NO_EXTRA: FlowExtra = FlowExtra {
    labels: None,
    counters_orig: None,
    counters_reply: None,
    timestamp: None,
    event_timestamp: None,
    helper: None,
    secctx: None,
    master: None,
    seq_adj_orig: None,
    seq_adj_reply: None,
};

/// A [`FlowExtra`] on the heap, allocated when first written: one pointer
/// in the [`Flow`].
///
/// It dereferences to the [`FlowExtra`]: reading a field of an
/// unallocated one allocates nothing and finds `None`; writing through it
/// (`flow.extra.helper = ..`, `&mut *flow.extra`) allocates it. Comparison and
/// hashing look at the fields only, so an allocated all-`None` value equals
/// an unallocated one.
#[derive(Clone, Default)]
pub struct Extra(Option<Box<FlowExtra>>);

impl Extra {
    /// Nothing set (allocates nothing).
    #[inline]
    pub const fn new() -> Extra {
        Extra(None)
    }

    /// Whether any field is set.
    pub fn is_empty(&self) -> bool {
        **self == NO_EXTRA
    }
}

impl Deref for Extra {
    type Target = FlowExtra;

    #[inline]
    fn deref(&self) -> &FlowExtra {
        self.0.as_deref().unwrap_or(&NO_EXTRA)
    }
}

impl DerefMut for Extra {
    /// Allocates the [`FlowExtra`] on first use.
    #[inline]
    fn deref_mut(&mut self) -> &mut FlowExtra {
        self.0.get_or_insert_with(Box::default)
    }
}

impl From<FlowExtra> for Extra {
    fn from(e: FlowExtra) -> Extra {
        Extra(Some(Box::new(e)))
    }
}

impl fmt::Debug for Extra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl PartialEq for Extra {
    fn eq(&self, other: &Extra) -> bool {
        **self == **other
    }
}

impl Eq for Extra {}

impl Hash for Extra {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

impl Flow {
    /// A flow to create, as `conntrack -I` builds one: `orig` and its
    /// reversal as the reply tuple (no NAT), everything else unset. Set at
    /// least a timeout ([`Flow::with_timeout`]) before adding it.
    #[inline]
    pub fn new(orig: Tuple) -> Flow {
        let reply = orig.reversed();
        Flow {
            family: orig.family(),
            orig,
            reply,
            status: None,
            timeout: None,
            mark: None,
            zone: None,
            id: None,
            use_count: None,
            protoinfo: None,
            synproxy: None,
            extra: Extra::new(),
            unknown: UnknownAttrs::new(),
        }
    }

    /// Set the reply tuple (e.g. to create a flow that went through NAT).
    #[inline]
    pub fn with_reply(mut self, reply: Tuple) -> Flow {
        self.reply = reply;
        self
    }

    /// Set the timeout in seconds (`conntrack -t`).
    #[inline]
    pub fn with_timeout(mut self, seconds: u32) -> Flow {
        self.timeout = Some(seconds);
        self
    }

    /// Set the mark (`conntrack -m`).
    #[inline]
    pub fn with_mark(mut self, mark: u32) -> Flow {
        self.mark = Some(mark);
        self
    }

    /// Set the zone (`conntrack -w`).
    #[inline]
    pub fn with_zone(mut self, zone: u16) -> Flow {
        self.zone = Some(zone);
        self
    }

    /// Set status bits (`conntrack -u`).
    #[inline]
    pub fn with_status(mut self, status: Status) -> Flow {
        self.status = Some(status);
        self
    }

    /// Set labels (`conntrack -l`; labels must be in use in the namespace,
    /// e.g. by an nftables rule with `ct label`).
    #[inline]
    pub fn with_labels(mut self, labels: Labels) -> Flow {
        self.extra.labels = Some(labels);
        self
    }

    /// Set the TCP state (`conntrack --state`).
    #[inline]
    pub fn with_tcp_state(mut self, state: TcpState) -> Flow {
        self.protoinfo = Some(ProtoInfo::Tcp(TcpInfo { state: Some(state), ..Default::default() }));
        self
    }

    /// The zone id the kernel matches on: `CTA_ZONE`, else the zone of
    /// either direction, else 0 (the default zone).
    pub fn zone_id(&self) -> u16 {
        self.zone.or(self.orig.zone).or(self.reply.zone).unwrap_or(0)
    }

    /// The TCP state, for TCP flows.
    pub fn tcp_state(&self) -> Option<TcpState> {
        match &self.protoinfo {
            Some(ProtoInfo::Tcp(t)) => t.state,
            _ => None,
        }
    }

    /// The status bits, empty when not sent.
    pub fn status_bits(&self) -> Status {
        self.status.unwrap_or_default()
    }

    /// The NAT the flow went through, derived from the tuples as the
    /// kernel sets them up: destination NAT when the reply comes from
    /// somewhere other than the original destination (a service's
    /// backend), source NAT when the reply goes to somewhere other than
    /// the original source (masquerading).
    pub fn nat(&self) -> Nat {
        let (o, r) = (&self.orig, &self.reply);
        let ports = o.proto.has_ports();
        let destination = (r.src != o.dst || (ports && r.src_port != o.dst_port))
            .then_some(NatTarget { addr: r.src, port: if ports { r.src_port } else { None } });
        let source = (r.dst != o.src || (ports && r.dst_port != o.src_port))
            .then_some(NatTarget { addr: r.dst, port: if ports { r.dst_port } else { None } });
        Nat { source, destination }
    }

    /// Decode the payload of a ctnetlink flow message (after the netlink
    /// header: `struct nfgenmsg`, then attributes).
    pub fn decode(payload: &[u8]) -> Result<Flow, DecodeError> {
        let hdr: [u8; NFGENMSG_LEN] = wire::fixed(payload, "nfgenmsg")?;
        let family = hdr[0];
        let mut orig = None;
        let mut reply = None;
        let placeholder = || Tuple::new(IpAddr::from([0u8; 4]), IpAddr::from([0u8; 4]), super::IpProto(0));
        let mut f = Flow::new(placeholder());
        f.family = family;
        for a in wire::attrs_after(payload, NFGENMSG_LEN) {
            let a = a?;
            match a.kind() {
                CTA_TUPLE_ORIG => orig = Some(Tuple::parse(&a)?),
                CTA_TUPLE_REPLY => reply = Some(Tuple::parse(&a)?),
                CTA_TUPLE_MASTER => f.extra.master = Some(Tuple::parse(&a)?),
                CTA_STATUS => f.status = Some(Status::from_bits_retain(a.u32_be()?)),
                CTA_TIMEOUT => f.timeout = Some(a.u32_be()?),
                CTA_MARK => f.mark = Some(a.u32_be()?),
                CTA_ZONE => f.zone = Some(a.u16_be()?),
                CTA_ID => f.id = Some(a.u32_be()?),
                CTA_USE => f.use_count = Some(a.u32_be()?),
                CTA_LABELS => match Labels::from_bytes(a.payload) {
                    Some(l) => f.extra.labels = Some(l),
                    None => f.unknown.push(UnknownAttr::new(0, &a)),
                },
                CTA_COUNTERS_ORIG => f.extra.counters_orig = Some(parse_counters(&a, &mut f.unknown)?),
                CTA_COUNTERS_REPLY => f.extra.counters_reply = Some(parse_counters(&a, &mut f.unknown)?),
                CTA_TIMESTAMP => f.extra.timestamp = Some(parse_timestamps(&a, &mut f.unknown)?),
                CTA_TIMESTAMP_EVENT => f.extra.event_timestamp = Some(a.u64_be()?),
                CTA_PROTOINFO => f.protoinfo = Some(parse_protoinfo(&a)?),
                CTA_HELP => f.extra.helper = Some(parse_helper(&a, &mut f.unknown)?),
                CTA_SECCTX => {
                    let inner: Vec<Attr<'_>> = a.nested().collect::<Result<_, _>>()?;
                    match inner.iter().rev().find(|s| s.kind() == CTA_SECCTX_NAME) {
                        Some(name) => {
                            f.extra.secctx = Some(name.str()?.to_string());
                            let others = inner.iter().filter(|s| s.kind() != CTA_SECCTX_NAME);
                            f.unknown.extend(others.map(|s| UnknownAttr::new(CTA_SECCTX, s)));
                        }
                        // Without a name there is nothing to model: keep it whole.
                        None => f.unknown.push(UnknownAttr::new(0, &a)),
                    }
                }
                CTA_SEQ_ADJ_ORIG => f.extra.seq_adj_orig = Some(parse_seqadj(&a, &mut f.unknown)?),
                CTA_SEQ_ADJ_REPLY => f.extra.seq_adj_reply = Some(parse_seqadj(&a, &mut f.unknown)?),
                CTA_SYNPROXY => f.synproxy = Some(parse_synproxy(&a, &mut f.unknown)?),
                _ => f.unknown.push(UnknownAttr::new(0, &a)),
            }
        }
        f.orig = orig.ok_or_else(|| DecodeError::new("conntrack flow", "no original tuple"))?;
        f.reply = reply.ok_or_else(|| DecodeError::new("conntrack flow", "no reply tuple"))?;
        Ok(f)
    }

    /// Encode everything the flow holds as the payload of a flow message,
    /// in the kernel's order ([`Flow::decode`] reads it back unchanged).
    /// For tests, fuzzing and captures; requests send only what the kernel
    /// accepts.
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(256);
        let mut w = AttrWriter::new(&mut buf);
        let x = &*self.extra;
        w.raw(&[self.family, 0, 0, 0]);
        self.orig.write(&mut w, CTA_TUPLE_ORIG);
        self.reply.write(&mut w, CTA_TUPLE_REPLY);
        if let Some(z) = self.zone {
            w.u16_be(CTA_ZONE, z);
        }
        if let Some(s) = self.status {
            w.u32_be(CTA_STATUS, s.bits());
        }
        if let Some(m) = self.mark {
            w.u32_be(CTA_MARK, m);
        }
        if let Some(s) = &x.secctx {
            w.nest(CTA_SECCTX | NLA_F_NESTED, |w| {
                w.str(CTA_SECCTX_NAME, s);
                write_unknown(w, &self.unknown, CTA_SECCTX);
            });
        }
        if let Some(id) = self.id {
            w.u32_be(CTA_ID, id);
        }
        if let Some(u) = self.use_count {
            w.u32_be(CTA_USE, u);
        }
        if let Some(m) = &x.master {
            m.write(&mut w, CTA_TUPLE_MASTER);
        }
        if let Some(t) = self.timeout {
            w.u32_be(CTA_TIMEOUT, t);
        }
        if let Some(p) = &self.protoinfo {
            write_protoinfo(&mut w, p);
        }
        for (ty, c) in [(CTA_COUNTERS_ORIG, x.counters_orig), (CTA_COUNTERS_REPLY, x.counters_reply)] {
            if let Some(c) = c {
                w.nest(ty | NLA_F_NESTED, |w| {
                    w.u64_be(CTA_COUNTERS_PACKETS, c.packets).u64_be(CTA_COUNTERS_BYTES, c.bytes);
                    write_unknown(w, &self.unknown, ty);
                });
            }
        }
        if let Some(t) = x.timestamp {
            w.nest(CTA_TIMESTAMP | NLA_F_NESTED, |w| {
                w.u64_be(CTA_TIMESTAMP_START, t.start);
                if let Some(s) = t.stop {
                    w.u64_be(CTA_TIMESTAMP_STOP, s);
                }
                write_unknown(w, &self.unknown, CTA_TIMESTAMP);
            });
        }
        if let Some(h) = &x.helper {
            write_helper(&mut w, h, &self.unknown);
        }
        if let Some(l) = x.labels {
            w.bytes(CTA_LABELS, &l.to_bytes());
        }
        for (ty, s) in [(CTA_SEQ_ADJ_ORIG, x.seq_adj_orig), (CTA_SEQ_ADJ_REPLY, x.seq_adj_reply)] {
            if let Some(s) = s {
                w.nest(ty | NLA_F_NESTED, |w| {
                    w.u32_be(CTA_SEQADJ_CORRECTION_POS, s.correction_pos)
                        .u32_be(CTA_SEQADJ_OFFSET_BEFORE, s.offset_before)
                        .u32_be(CTA_SEQADJ_OFFSET_AFTER, s.offset_after);
                    write_unknown(w, &self.unknown, ty);
                });
            }
        }
        if let Some(s) = self.synproxy {
            w.nest(CTA_SYNPROXY | NLA_F_NESTED, |w| {
                w.u32_be(CTA_SYNPROXY_ISN, s.isn)
                    .u32_be(CTA_SYNPROXY_ITS, s.its)
                    .u32_be(CTA_SYNPROXY_TSOFF, s.tsoff);
                write_unknown(w, &self.unknown, CTA_SYNPROXY);
            });
        }
        if let Some(t) = x.event_timestamp {
            w.u64_be(CTA_TIMESTAMP_EVENT, t);
        }
        write_unknown(&mut w, &self.unknown, 0);
        buf
    }

    /// Check the flow can be created: tuples of one family and a timeout.
    #[inline]
    pub(crate) fn validate_create(&self) -> crate::Result<()> {
        self.orig.validate("orig")?;
        self.reply.validate("reply")?;
        if self.orig.src.is_ipv4() != self.reply.src.is_ipv4() {
            return Err(crate::Error::invalid("reply", "the tuples are of different address families"));
        }
        if self.orig.proto != self.reply.proto {
            return Err(crate::Error::invalid("reply", "the tuples have different protocols"));
        }
        if self.timeout.is_none() {
            return Err(crate::Error::invalid("timeout", "the kernel needs a timeout to create a flow"));
        }
        if let Some(h) = &self.extra.helper {
            // NF_CT_HELPER_NAME_LEN is 16 with the terminating NUL.
            if h.name.is_empty() || h.name.len() > 15 || h.name.contains('\0') {
                return Err(crate::Error::invalid(
                    "helper.name",
                    format!("{:?}: 1 to 15 bytes, no NUL", h.name),
                ));
            }
        }
        Ok(())
    }

    /// The attributes of a create request (`IPCTNL_MSG_CT_NEW` with
    /// `NLM_F_CREATE`): what the kernel accepts from user space.
    pub(crate) fn write_create(&self, w: &mut AttrWriter<'_>) {
        if self.write_create_v4(w) {
            return;
        }
        // The other bounded flows written in place; the rest below.
        let x = &*self.extra;
        if x.helper.is_none()
            && self.orig.unknown.is_empty()
            && self.reply.unknown.is_empty()
            && write_in_place(w, |s| {
                s.raw(nfgenmsg(family_of(self.orig.src), 0));
                self.orig.write_stack(s, CTA_TUPLE_ORIG);
                self.reply.write_stack(s, CTA_TUPLE_REPLY);
                if let Some(z) = self.zone {
                    s.attr(CTA_ZONE, z.to_be_bytes());
                }
                if let Some(t) = self.timeout {
                    s.attr(CTA_TIMEOUT, t.to_be_bytes());
                }
                if let Some(st) = self.status {
                    s.attr(CTA_STATUS, (st | Status::CONFIRMED).bits().to_be_bytes());
                }
                if let Some(m) = self.mark {
                    s.attr(CTA_MARK, m.to_be_bytes());
                }
                if !self.protoinfo.as_ref().is_none_or(|p| write_protoinfo_stack(s, p)) {
                    return false;
                }
                if let Some(l) = x.labels {
                    s.attr(CTA_LABELS, l.to_bytes());
                }
                true
            })
        {
            return;
        }
        self.write_create_general(w);
    }

    /// [`Flow::write_create`] for the most common flow, in one copy: IPv4
    /// tuples with ports (no ICMP fields, zones or unknown attributes), at
    /// most a TCP state as protocol information, no labels or helper.
    /// Returns false, having written nothing, for any other flow.
    #[inline]
    fn write_create_v4(&self, w: &mut AttrWriter<'_>) -> bool {
        let (o, r) = (&self.orig, &self.reply);
        let (IpAddr::V4(os), IpAddr::V4(od), IpAddr::V4(rs), IpAddr::V4(rd)) = (o.src, o.dst, r.src, r.dst)
        else {
            return false;
        };
        let (Some(osp), Some(odp), Some(rsp), Some(rdp)) = (o.src_port, o.dst_port, r.src_port, r.dst_port)
        else {
            return false;
        };
        let plain = |t: &Tuple| t.icmp.is_none() && t.zone.is_none() && t.unknown.is_empty();
        if !plain(o)
            || !plain(r)
            || self.extra.0.as_deref().is_some_and(|x| x.helper.is_some() || x.labels.is_some())
        {
            return false;
        }
        let state = match &self.protoinfo {
            None => None,
            Some(ProtoInfo::Tcp(TcpInfo {
                state: Some(st),
                wscale_orig: None,
                wscale_reply: None,
                flags_orig: None,
                flags_reply: None,
                unknown,
            })) if unknown.is_empty() => Some(*st),
            _ => return false,
        };
        // nfgenmsg, two 52-byte tuples, then at most zone, timeout,
        // status, mark (8 each) and the TCP state nest (16).
        let mut b = [0u8; 156];
        b[..4].copy_from_slice(&nfgenmsg(AF_INET, 0));
        let (orig, reply) = b[4..108].split_at_mut(52);
        let (orig, reply) = (orig.try_into().expect("52 bytes"), reply.try_into().expect("52 bytes"));
        ported_v4(orig, CTA_TUPLE_ORIG, os.octets(), od.octets(), o.proto, osp, odp);
        ported_v4(reply, CTA_TUPLE_REPLY, rs.octets(), rd.octets(), r.proto, rsp, rdp);
        let mut n = 108;
        /// One attribute with a payload of up to 4 bytes at `n`.
        #[inline(always)]
        fn put<const N: usize>(b: &mut [u8; 156], n: &mut usize, ty: u16, payload: [u8; N]) {
            let at = *n;
            put_attr_header(b, at, 4 + N, ty);
            b[at + 4..at + 4 + N].copy_from_slice(&payload);
            *n = at + 8;
        }
        if let Some(z) = self.zone {
            put(&mut b, &mut n, CTA_ZONE, z.to_be_bytes());
        }
        if let Some(t) = self.timeout {
            put(&mut b, &mut n, CTA_TIMEOUT, t.to_be_bytes());
        }
        if let Some(st) = self.status {
            put(&mut b, &mut n, CTA_STATUS, (st | Status::CONFIRMED).bits().to_be_bytes());
        }
        if let Some(m) = self.mark {
            put(&mut b, &mut n, CTA_MARK, m.to_be_bytes());
        }
        if let Some(st) = state {
            put_attr_header(&mut b, n, 16, CTA_PROTOINFO | NLA_F_NESTED);
            put_attr_header(&mut b, n + 4, 12, CTA_PROTOINFO_TCP | NLA_F_NESTED);
            put_attr_header(&mut b, n + 8, 5, CTA_PROTOINFO_TCP_STATE);
            b[n + 12] = st.0;
            n += 16;
        }
        debug_assert_eq!(w.len() % 4, 0, "attributes start 4-aligned");
        w.vec_mut().extend_from_slice(&b[..n]);
        true
    }

    /// [`Flow::write_create`] with the general attribute writer.
    fn write_create_general(&self, w: &mut AttrWriter<'_>) {
        w.raw(&nfgenmsg(family_of(self.orig.src), 0));
        self.orig.write(w, CTA_TUPLE_ORIG);
        self.reply.write(w, CTA_TUPLE_REPLY);
        if let Some(z) = self.zone {
            w.u16_be(CTA_ZONE, z);
        }
        if let Some(t) = self.timeout {
            w.u32_be(CTA_TIMEOUT, t);
        }
        if let Some(s) = self.status {
            // The kernel refuses (EBUSY) a status that would clear CONFIRMED,
            // which it sets before applying ours.
            w.u32_be(CTA_STATUS, (s | Status::CONFIRMED).bits());
        }
        if let Some(m) = self.mark {
            w.u32_be(CTA_MARK, m);
        }
        if let Some(p) = &self.protoinfo {
            write_protoinfo(w, p);
        }
        if let Some(h) = &self.extra.helper {
            write_helper(w, h, &[]);
        }
        if let Some(l) = self.extra.labels {
            w.bytes(CTA_LABELS, &l.to_bytes());
        }
    }
}

/// `struct nfgenmsg` for a request.
pub(crate) fn nfgenmsg(family: u8, version: u8) -> [u8; 4] {
    [family, version, 0, 0]
}

fn parse_counters(a: &Attr<'_>, unknown: &mut UnknownAttrs) -> Result<Counters, DecodeError> {
    let mut c = Counters::default();
    for s in a.nested() {
        let s = s?;
        match s.kind() {
            CTA_COUNTERS_PACKETS => c.packets = s.u64_be()?,
            CTA_COUNTERS_BYTES => c.bytes = s.u64_be()?,
            CTA_COUNTERS_PAD => {}
            _ => unknown.push(UnknownAttr::new(a.kind(), &s)),
        }
    }
    Ok(c)
}

fn parse_timestamps(a: &Attr<'_>, unknown: &mut UnknownAttrs) -> Result<Timestamps, DecodeError> {
    let mut t = Timestamps::default();
    for s in a.nested() {
        let s = s?;
        match s.kind() {
            CTA_TIMESTAMP_START => t.start = s.u64_be()?,
            CTA_TIMESTAMP_STOP => t.stop = Some(s.u64_be()?),
            CTA_TIMESTAMP_PAD => {}
            _ => unknown.push(UnknownAttr::new(CTA_TIMESTAMP, &s)),
        }
    }
    Ok(t)
}

fn parse_seqadj(a: &Attr<'_>, unknown: &mut UnknownAttrs) -> Result<SeqAdj, DecodeError> {
    let mut s = SeqAdj::default();
    for x in a.nested() {
        let x = x?;
        match x.kind() {
            CTA_SEQADJ_CORRECTION_POS => s.correction_pos = x.u32_be()?,
            CTA_SEQADJ_OFFSET_BEFORE => s.offset_before = x.u32_be()?,
            CTA_SEQADJ_OFFSET_AFTER => s.offset_after = x.u32_be()?,
            _ => unknown.push(UnknownAttr::new(a.kind(), &x)),
        }
    }
    Ok(s)
}

fn parse_synproxy(a: &Attr<'_>, unknown: &mut UnknownAttrs) -> Result<Synproxy, DecodeError> {
    let mut s = Synproxy::default();
    for x in a.nested() {
        let x = x?;
        match x.kind() {
            CTA_SYNPROXY_ISN => s.isn = x.u32_be()?,
            CTA_SYNPROXY_ITS => s.its = x.u32_be()?,
            CTA_SYNPROXY_TSOFF => s.tsoff = x.u32_be()?,
            _ => unknown.push(UnknownAttr::new(CTA_SYNPROXY, &x)),
        }
    }
    Ok(s)
}

fn parse_helper(a: &Attr<'_>, unknown: &mut UnknownAttrs) -> Result<Helper, DecodeError> {
    let mut h = Helper { name: String::new(), info: None };
    for x in a.nested() {
        let x = x?;
        match x.kind() {
            CTA_HELP_NAME => h.name = x.str()?.to_string(),
            CTA_HELP_INFO => h.info = Some(x.payload.to_vec()),
            _ => unknown.push(UnknownAttr::new(CTA_HELP, &x)),
        }
    }
    Ok(h)
}

fn write_helper(w: &mut AttrWriter<'_>, h: &Helper, unknown: &[UnknownAttr]) {
    w.nest(CTA_HELP | NLA_F_NESTED, |w| {
        w.str(CTA_HELP_NAME, &h.name);
        if let Some(i) = &h.info {
            w.bytes(CTA_HELP_INFO, i);
        }
        write_unknown(w, unknown, CTA_HELP);
    });
}

fn parse_protoinfo(a: &Attr<'_>) -> Result<ProtoInfo, DecodeError> {
    // Exactly one nest is the usual case; anything else is kept raw.
    let mut it = a.nested();
    let one = match (it.next().transpose()?, it.next()) {
        (Some(one), None) => one,
        _ => {
            return Ok(ProtoInfo::Other(
                a.nested().map(|x| x.map(|x| UnknownAttr::new(0, &x))).collect::<Result<_, _>>()?,
            ))
        }
    };
    let one = &one;
    Ok(match one.kind() {
        CTA_PROTOINFO_TCP => {
            let mut t = TcpInfo::default();
            for x in one.nested() {
                let x = x?;
                match x.kind() {
                    CTA_PROTOINFO_TCP_STATE => t.state = Some(TcpState(x.u8()?)),
                    CTA_PROTOINFO_TCP_WSCALE_ORIGINAL => t.wscale_orig = Some(x.u8()?),
                    CTA_PROTOINFO_TCP_WSCALE_REPLY => t.wscale_reply = Some(x.u8()?),
                    CTA_PROTOINFO_TCP_FLAGS_ORIGINAL => t.flags_orig = Some(tcp_flags(&x)?),
                    CTA_PROTOINFO_TCP_FLAGS_REPLY => t.flags_reply = Some(tcp_flags(&x)?),
                    _ => t.unknown.push(UnknownAttr::new(0, &x)),
                }
            }
            ProtoInfo::Tcp(t)
        }
        CTA_PROTOINFO_SCTP => {
            let mut s = SctpInfo::default();
            for x in one.nested() {
                let x = x?;
                match x.kind() {
                    CTA_PROTOINFO_SCTP_STATE => s.state = Some(SctpState(x.u8()?)),
                    CTA_PROTOINFO_SCTP_VTAG_ORIGINAL => s.vtag_orig = Some(x.u32_be()?),
                    CTA_PROTOINFO_SCTP_VTAG_REPLY => s.vtag_reply = Some(x.u32_be()?),
                    _ => s.unknown.push(UnknownAttr::new(0, &x)),
                }
            }
            ProtoInfo::Sctp(s)
        }
        CTA_PROTOINFO_DCCP => {
            let mut d = DccpInfo::default();
            for x in one.nested() {
                let x = x?;
                match x.kind() {
                    CTA_PROTOINFO_DCCP_STATE => d.state = Some(DccpState(x.u8()?)),
                    CTA_PROTOINFO_DCCP_ROLE => d.role = Some(x.u8()?),
                    CTA_PROTOINFO_DCCP_HANDSHAKE_SEQ => d.handshake_seq = Some(x.u64_be()?),
                    CTA_PROTOINFO_DCCP_PAD => {}
                    _ => d.unknown.push(UnknownAttr::new(0, &x)),
                }
            }
            ProtoInfo::Dccp(d)
        }
        _ => ProtoInfo::Other(vec![UnknownAttr::new(0, one)]),
    })
}

fn tcp_flags(a: &Attr<'_>) -> Result<TcpFlags, DecodeError> {
    match a.payload {
        [flags, mask] => Ok(TcpFlags { flags: *flags, mask: *mask }),
        p => Err(DecodeError::new("conntrack TCP flags", format!("{} bytes, need 2", p.len()))),
    }
}

/// Protocol information on `s` as [`write_protoinfo`] writes it; `false`
/// (and nothing written) for what only the general writer handles
/// (unknown attributes).
#[inline]
fn write_protoinfo_stack(out: &mut Stack<'_>, p: &ProtoInfo) -> bool {
    let flags = |f: TcpFlags| [f.flags, f.mask];
    match p {
        ProtoInfo::Tcp(t) if t.unknown.is_empty() => {
            let outer = out.begin(CTA_PROTOINFO);
            let inner = out.begin(CTA_PROTOINFO_TCP);
            if let Some(s) = t.state {
                out.attr(CTA_PROTOINFO_TCP_STATE, [s.0]);
            }
            if let Some(s) = t.wscale_orig {
                out.attr(CTA_PROTOINFO_TCP_WSCALE_ORIGINAL, [s]);
            }
            if let Some(s) = t.wscale_reply {
                out.attr(CTA_PROTOINFO_TCP_WSCALE_REPLY, [s]);
            }
            if let Some(f) = t.flags_orig {
                out.attr(CTA_PROTOINFO_TCP_FLAGS_ORIGINAL, flags(f));
            }
            if let Some(f) = t.flags_reply {
                out.attr(CTA_PROTOINFO_TCP_FLAGS_REPLY, flags(f));
            }
            out.end(inner);
            out.end(outer);
            true
        }
        ProtoInfo::Sctp(s) if s.unknown.is_empty() => {
            let outer = out.begin(CTA_PROTOINFO);
            let inner = out.begin(CTA_PROTOINFO_SCTP);
            if let Some(st) = s.state {
                out.attr(CTA_PROTOINFO_SCTP_STATE, [st.0]);
            }
            if let Some(v) = s.vtag_orig {
                out.attr(CTA_PROTOINFO_SCTP_VTAG_ORIGINAL, v.to_be_bytes());
            }
            if let Some(v) = s.vtag_reply {
                out.attr(CTA_PROTOINFO_SCTP_VTAG_REPLY, v.to_be_bytes());
            }
            out.end(inner);
            out.end(outer);
            true
        }
        ProtoInfo::Dccp(d) if d.unknown.is_empty() => {
            let outer = out.begin(CTA_PROTOINFO);
            let inner = out.begin(CTA_PROTOINFO_DCCP);
            if let Some(st) = d.state {
                out.attr(CTA_PROTOINFO_DCCP_STATE, [st.0]);
            }
            if let Some(r) = d.role {
                out.attr(CTA_PROTOINFO_DCCP_ROLE, [r]);
            }
            if let Some(s) = d.handshake_seq {
                out.attr(CTA_PROTOINFO_DCCP_HANDSHAKE_SEQ, s.to_be_bytes());
            }
            out.end(inner);
            out.end(outer);
            true
        }
        _ => false,
    }
}

fn write_protoinfo(w: &mut AttrWriter<'_>, p: &ProtoInfo) {
    w.nest(CTA_PROTOINFO | NLA_F_NESTED, |w| match p {
        ProtoInfo::Tcp(t) => {
            w.nest(CTA_PROTOINFO_TCP | NLA_F_NESTED, |w| {
                if let Some(s) = t.state {
                    w.u8(CTA_PROTOINFO_TCP_STATE, s.0);
                }
                if let Some(s) = t.wscale_orig {
                    w.u8(CTA_PROTOINFO_TCP_WSCALE_ORIGINAL, s);
                }
                if let Some(s) = t.wscale_reply {
                    w.u8(CTA_PROTOINFO_TCP_WSCALE_REPLY, s);
                }
                if let Some(f) = t.flags_orig {
                    w.bytes(CTA_PROTOINFO_TCP_FLAGS_ORIGINAL, &[f.flags, f.mask]);
                }
                if let Some(f) = t.flags_reply {
                    w.bytes(CTA_PROTOINFO_TCP_FLAGS_REPLY, &[f.flags, f.mask]);
                }
                write_unknown(w, &t.unknown, 0);
            });
        }
        ProtoInfo::Sctp(s) => {
            w.nest(CTA_PROTOINFO_SCTP | NLA_F_NESTED, |w| {
                if let Some(st) = s.state {
                    w.u8(CTA_PROTOINFO_SCTP_STATE, st.0);
                }
                if let Some(v) = s.vtag_orig {
                    w.u32_be(CTA_PROTOINFO_SCTP_VTAG_ORIGINAL, v);
                }
                if let Some(v) = s.vtag_reply {
                    w.u32_be(CTA_PROTOINFO_SCTP_VTAG_REPLY, v);
                }
                write_unknown(w, &s.unknown, 0);
            });
        }
        ProtoInfo::Dccp(d) => {
            w.nest(CTA_PROTOINFO_DCCP | NLA_F_NESTED, |w| {
                if let Some(st) = d.state {
                    w.u8(CTA_PROTOINFO_DCCP_STATE, st.0);
                }
                if let Some(r) = d.role {
                    w.u8(CTA_PROTOINFO_DCCP_ROLE, r);
                }
                if let Some(s) = d.handshake_seq {
                    w.u64_be(CTA_PROTOINFO_DCCP_HANDSHAKE_SEQ, s);
                }
                write_unknown(w, &d.unknown, 0);
            });
        }
        ProtoInfo::Other(raw) => write_unknown(w, raw, 0),
    });
}

/// What [`Conntrack::update`](super::Conntrack::update) changes on an
/// existing flow (`conntrack -U`). Unset fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Update {
    timeout: Option<u32>,
    mark: Option<(u32, u32)>,
    status: Option<Status>,
    labels: Option<(Labels, Option<Labels>)>,
}

impl Update {
    /// Change nothing (yet).
    pub fn new() -> Update {
        Update::default()
    }

    /// Set the timeout in seconds.
    pub fn timeout(mut self, seconds: u32) -> Update {
        self.timeout = Some(seconds);
        self
    }

    /// Set the mark.
    pub fn mark(mut self, mark: u32) -> Update {
        self.mark = Some((mark, u32::MAX));
        self
    }

    /// Set only the bits of the mark in `mask` to those of `mark`.
    pub fn mark_masked(mut self, mark: u32, mask: u32) -> Update {
        self.mark = Some((mark & mask, mask));
        self
    }

    /// Set status bits. The kernel only ever sets bits: clearing
    /// `SEEN_REPLY` or `ASSURED` is refused (`EBUSY`), other bits it keeps,
    /// and bits user space may not change (NAT, `DYING`, ...) are ignored.
    /// `CONFIRMED` is always sent, as the kernel requires.
    pub fn status(mut self, status: Status) -> Update {
        self.status = Some(status);
        self
    }

    /// Replace the labels.
    pub fn labels(mut self, labels: Labels) -> Update {
        self.labels = Some((labels, None));
        self
    }

    /// Change only the labels in `mask` to their value in `labels`.
    pub fn labels_masked(mut self, labels: Labels, mask: Labels) -> Update {
        self.labels = Some((Labels(labels.0 & mask.0), Some(mask)));
        self
    }

    pub(crate) fn write(&self, w: &mut AttrWriter<'_>) {
        if let Some(t) = self.timeout {
            w.u32_be(CTA_TIMEOUT, t);
        }
        if let Some(s) = self.status {
            w.u32_be(CTA_STATUS, (s | Status::CONFIRMED).bits());
        }
        if let Some((m, mask)) = self.mark {
            w.u32_be(CTA_MARK, m);
            if mask != u32::MAX {
                w.u32_be(CTA_MARK_MASK, mask);
            }
        }
        if let Some((l, mask)) = self.labels {
            w.bytes(CTA_LABELS, &l.to_bytes());
            if let Some(m) = mask {
                w.bytes(CTA_LABELS_MASK, &m.to_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conntrack::IpProto;

    pub(crate) fn full_flow() -> Flow {
        let orig = Tuple::tcp("10.0.0.1:40000".parse().unwrap(), "10.96.0.10:80".parse().unwrap());
        let reply = Tuple::tcp("10.2.0.2:8080".parse().unwrap(), "10.0.0.1:40000".parse().unwrap());
        let mut f = Flow::new(orig)
            .with_reply(reply)
            .with_timeout(431999)
            .with_mark(0x10)
            .with_zone(3)
            .with_status(Status::SEEN_REPLY | Status::ASSURED | Status::CONFIRMED | Status::DST_NAT);
        f.id = Some(0xdead_beef);
        f.use_count = Some(1);
        f.extra.labels = Some(Labels(0).with(1).with(127));
        f.extra.counters_orig = Some(Counters { packets: 5, bytes: 300 });
        f.extra.counters_reply = Some(Counters { packets: 4, bytes: 1 << 40 });
        f.extra.timestamp =
            Some(Timestamps { start: 1_700_000_000_000_000_000, stop: Some(1_700_000_100_000_000_000) });
        f.extra.event_timestamp = Some(1_700_000_100_000_000_001);
        f.protoinfo = Some(ProtoInfo::Tcp(TcpInfo {
            state: Some(TcpState::ESTABLISHED),
            wscale_orig: Some(7),
            wscale_reply: Some(9),
            flags_orig: Some(TcpFlags { flags: 0x2b, mask: 0 }),
            flags_reply: Some(TcpFlags { flags: 0x23, mask: 0 }),
            unknown: UnknownAttrs::new(),
        }));
        f.extra.helper = Some(Helper { name: "ftp".into(), info: Some(vec![1, 2, 3, 4]) });
        f.extra.secctx = Some("system_u:object_r:unlabeled_t:s0".into());
        f.extra.master = Some(Tuple::tcp("10.0.0.1:21".parse().unwrap(), "10.0.0.2:2121".parse().unwrap()));
        f.extra.seq_adj_orig = Some(SeqAdj { correction_pos: 1, offset_before: 2, offset_after: 3 });
        f.extra.seq_adj_reply = Some(SeqAdj { correction_pos: 4, offset_before: 5, offset_after: 6 });
        f.synproxy = Some(Synproxy { isn: 7, its: 8, tsoff: 9 });
        // In the order encode() writes them: nested ones first, top level last.
        f.unknown = vec![
            UnknownAttr { parent: CTA_COUNTERS_ORIG, raw_type: 77, payload: vec![1] },
            UnknownAttr { parent: 0, raw_type: 99, payload: vec![9, 9] },
        ]
        .into();
        f
    }

    #[test]
    fn every_field_round_trips() {
        let f = full_flow();
        let bytes = f.encode();
        assert_eq!(Flow::decode(&bytes).unwrap(), f);
    }

    #[test]
    fn sctp_dccp_other_and_v6_round_trip() {
        let mut f = Flow::new(Tuple::sctp("[fd00::1]:5".parse().unwrap(), "[fd00::2]:6".parse().unwrap()));
        f.protoinfo = Some(ProtoInfo::Sctp(SctpInfo {
            state: Some(SctpState::ESTABLISHED),
            vtag_orig: Some(5),
            vtag_reply: Some(6),
            unknown: UnknownAttrs::new(),
        }));
        assert_eq!(Flow::decode(&f.encode()).unwrap(), f);
        f.protoinfo = Some(ProtoInfo::Dccp(DccpInfo {
            state: Some(DccpState::OPEN),
            role: Some(1),
            handshake_seq: Some(1 << 47),
            unknown: UnknownAttrs::new(),
        }));
        assert_eq!(Flow::decode(&f.encode()).unwrap(), f);
        f.protoinfo = Some(ProtoInfo::Other(vec![UnknownAttr {
            parent: 0,
            raw_type: 9 | NLA_F_NESTED,
            payload: vec![],
        }]));
        assert_eq!(Flow::decode(&f.encode()).unwrap(), f);
        let g = Flow::new(Tuple::new("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap(), IpProto(47)));
        assert_eq!(Flow::decode(&g.encode()).unwrap(), g);
    }

    #[test]
    fn nat_is_derived_from_the_tuples() {
        let f = full_flow();
        let nat = f.nat();
        assert_eq!(nat.destination.unwrap().socket(), Some("10.2.0.2:8080".parse().unwrap()));
        assert_eq!(nat.source, None);
        let plain = Flow::new(Tuple::udp("10.0.0.1:5".parse().unwrap(), "10.0.0.2:6".parse().unwrap()));
        assert_eq!(plain.nat(), Nat::default());
        // Masquerade: the reply goes to the router's address and a new port.
        let o = Tuple::udp("10.1.0.2:5000".parse().unwrap(), "8.8.8.8:53".parse().unwrap());
        let r = Tuple::udp("8.8.8.8:53".parse().unwrap(), "192.0.2.1:61000".parse().unwrap());
        let m = Flow::new(o).with_reply(r);
        assert_eq!(m.nat().source.unwrap().socket(), Some("192.0.2.1:61000".parse().unwrap()));
        assert_eq!(m.nat().destination, None);
        // ICMP: addresses only.
        let o = Tuple::icmp("10.1.0.2".parse().unwrap(), "10.96.0.1".parse().unwrap(), 3, 8, 0);
        let mut r = o.reversed();
        r.src = "10.2.0.2".parse().unwrap();
        let i = Flow::new(o).with_reply(r);
        assert_eq!(i.nat().destination, Some(NatTarget { addr: "10.2.0.2".parse().unwrap(), port: None }));
    }

    #[test]
    fn truncated_and_malformed_messages_are_errors_not_panics() {
        let bytes = full_flow().encode();
        for cut in 0..bytes.len() {
            let _ = Flow::decode(&bytes[..cut]);
        }
        assert!(Flow::decode(&[2, 0]).is_err());
        // No tuples at all.
        assert!(Flow::decode(&[2, 0, 0, 0]).is_err());
        // Wrong-size scalar.
        let mut f =
            Flow::new(Tuple::udp("10.0.0.1:1".parse().unwrap(), "10.0.0.2:2".parse().unwrap())).encode();
        AttrWriter::new(&mut f).u16(CTA_MARK, 1);
        assert!(Flow::decode(&f).is_err());
        // Labels of an odd size are kept raw, not lost.
        let mut g =
            Flow::new(Tuple::udp("10.0.0.1:1".parse().unwrap(), "10.0.0.2:2".parse().unwrap())).encode();
        AttrWriter::new(&mut g).bytes(CTA_LABELS, &[1, 0, 0, 0]);
        let d = Flow::decode(&g).unwrap();
        assert_eq!(d.extra.labels, None);
        assert_eq!(d.unknown[0].payload, vec![1, 0, 0, 0]);
    }

    #[test]
    fn labels_bits() {
        let l = Labels(0).with(0).with(33).with(127).with(200);
        assert_eq!(l.iter().collect::<Vec<_>>(), vec![0, 33, 127]);
        assert_eq!(Labels::from_bytes(&l.to_bytes()), Some(l));
        // Bit 33 lives in the second 32-bit word, bit 1.
        let b = l.to_bytes();
        assert_eq!(u32::from_ne_bytes(b[4..8].try_into().unwrap()), 2);
    }

    #[test]
    fn create_requests_carry_only_settable_fields_and_are_checked() {
        let f = full_flow();
        let mut buf = Vec::new();
        f.write_create(&mut AttrWriter::new(&mut buf));
        let d = Flow::decode(&buf).unwrap();
        assert_eq!(
            (d.orig, d.reply, d.timeout, d.mark, d.zone),
            (f.orig, f.reply, f.timeout, f.mark, f.zone)
        );
        assert_eq!((d.id, d.use_count, d.extra.counters_orig, d.extra.timestamp), (None, None, None, None));
        let no_timeout = Flow::new(Tuple::udp("10.0.0.1:1".parse().unwrap(), "10.0.0.2:2".parse().unwrap()));
        assert!(no_timeout.validate_create().unwrap_err().to_string().contains("timeout"));
        let mixed = no_timeout
            .clone()
            .with_timeout(5)
            .with_reply(Tuple::udp("[fd00::2]:2".parse().unwrap(), "[fd00::1]:1".parse().unwrap()));
        assert!(mixed.validate_create().is_err());
    }

    /// The stack encoding of create requests and tuples is byte for byte
    /// the general writer's, for every combination of what it handles.
    #[test]
    fn stack_encoding_is_the_general_encoding() {
        use crate::conntrack::raw::UnknownAttr;
        let v4 = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let v6 = ("fd00::1".parse().unwrap(), "fd00::2:1".parse().unwrap());
        let mut tuples = Vec::new();
        for (src, dst) in [v4, v6] {
            for proto in
                [IpProto::TCP, IpProto::UDP, IpProto::SCTP, IpProto::GRE, IpProto::ICMP, IpProto::ICMPV6]
            {
                let mut t = Tuple::new(src, dst, proto);
                if proto.has_ports() || proto == IpProto::GRE {
                    (t.src_port, t.dst_port) = (Some(40000), Some(443));
                }
                if proto == IpProto::ICMP || proto == IpProto::ICMPV6 {
                    t.icmp = Some(crate::conntrack::Icmp { id: 0x1234, kind: 8, code: 1 });
                }
                tuples.push(t.clone());
                tuples.push(t.with_zone(9));
            }
        }
        // Past the constant-offset layout's conditions: ports and ICMP
        // fields together, one port only, mixed families.
        let mut both = Tuple::tcp("10.0.0.1:1".parse().unwrap(), "10.0.0.2:2".parse().unwrap());
        both.icmp = Some(crate::conntrack::Icmp { id: 1, kind: 2, code: 3 });
        let mut one = Tuple::udp("[fd00::1]:1".parse().unwrap(), "[fd00::2]:2".parse().unwrap());
        one.dst_port = None;
        let mut mixed = Tuple::udp("10.0.0.1:1".parse().unwrap(), "10.0.0.2:2".parse().unwrap());
        mixed.dst = "fd00::2".parse().unwrap();
        tuples.extend([both, one, mixed]);
        let infos = [
            None,
            Some(ProtoInfo::Tcp(TcpInfo { state: Some(TcpState::ESTABLISHED), ..Default::default() })),
            full_flow().protoinfo,
            Some(ProtoInfo::Sctp(SctpInfo {
                state: Some(SctpState(3)),
                vtag_orig: Some(1),
                vtag_reply: Some(0xffff_fffe),
                unknown: UnknownAttrs::new(),
            })),
            Some(ProtoInfo::Dccp(DccpInfo {
                state: Some(DccpState(4)),
                role: Some(1),
                handshake_seq: Some(1 << 40),
                unknown: UnknownAttrs::new(),
            })),
            Some(ProtoInfo::Dccp(DccpInfo::default())),
        ];
        let general = |f: &Flow| {
            let mut b = Vec::new();
            f.write_create_general(&mut AttrWriter::new(&mut b));
            b
        };
        let mut n = 0;
        for (i, t) in tuples.iter().enumerate() {
            let (mut fast, mut slow) = (vec![1, 2, 3, 4], vec![1, 2, 3, 4]);
            t.write(&mut AttrWriter::new(&mut fast), CTA_TUPLE_ORIG);
            t.write_general(&mut AttrWriter::new(&mut slow), CTA_TUPLE_ORIG);
            assert_eq!(fast, slow, "{t:?}");
            for (k, info) in infos.iter().enumerate() {
                let mut f = Flow::new(t.clone()).with_timeout(600);
                f.protoinfo = info.clone();
                if (i + k) % 2 == 0 {
                    f = f.with_zone(3).with_mark(7).with_status(Status::ASSURED);
                }
                if (i + k) % 3 == 0 {
                    f = f.with_labels(Labels(0).with(1).with(127));
                }
                let mut fast = vec![9; 4];
                f.write_create(&mut AttrWriter::new(&mut fast));
                assert_eq!(fast[4..], general(&f)[..], "{f:?}");
                n += 1;
            }
        }
        assert_eq!(n, 27 * infos.len());
        // The one-copy IPv4 layout: every subset of zone, timeout, status
        // and mark, with each protocol information it takes or declines.
        let v4 = Tuple::tcp("10.1.2.3:40000".parse().unwrap(), "10.9.8.7:443".parse().unwrap());
        let nat = Tuple::tcp("10.2.0.2:8080".parse().unwrap(), "10.1.2.3:40000".parse().unwrap());
        for bits in 0..16u32 {
            for info in &infos[..3] {
                let mut f = Flow::new(v4.clone()).with_reply(nat.clone());
                f.zone = (bits & 1 != 0).then_some(7);
                f.timeout = (bits & 2 != 0).then_some(30);
                f.status = (bits & 4 != 0).then_some(Status::ASSURED);
                f.mark = (bits & 8 != 0).then_some(0xdead_beef);
                f.protoinfo = info.clone();
                let mut fast = vec![9; 4];
                f.write_create(&mut AttrWriter::new(&mut fast));
                assert_eq!(fast[4..], general(&f)[..], "{f:?}");
            }
        }
        // What only the general writer handles goes there, unchanged.
        let full = full_flow();
        let mut b = Vec::new();
        full.write_create(&mut AttrWriter::new(&mut b));
        assert_eq!(b, general(&full));
        let mut odd = Flow::new(tuples[0].clone()).with_timeout(1);
        odd.protoinfo =
            Some(ProtoInfo::Other(vec![UnknownAttr { parent: 0, raw_type: 9, payload: vec![1] }]));
        let mut b = Vec::new();
        odd.write_create(&mut AttrWriter::new(&mut b));
        assert_eq!(b, general(&odd));
    }

    /// The rarely-set parts live behind one pointer: reading them
    /// allocates nothing, writing allocates once, and an allocated but
    /// empty extra or unknown list equals an absent one.
    #[test]
    fn rare_fields_are_boxed_and_compare_by_value() {
        // 608 bytes when every field was inline.
        #[cfg(target_pointer_width = "64")]
        assert!(std::mem::size_of::<Flow>() <= 256, "{}", std::mem::size_of::<Flow>());
        let mut f = Flow::new(Tuple::udp("10.0.0.1:1".parse().unwrap(), "10.0.0.2:2".parse().unwrap()));
        assert_eq!((f.extra.helper.as_ref(), f.extra.labels), (None, None));
        assert!(f.extra.0.is_none() && f.unknown.is_empty() && f.extra.is_empty());
        let plain = f.clone();
        f.extra.labels = None;
        f.unknown.clear();
        assert!(f.extra.0.is_some());
        assert_eq!(f, plain);
        use std::hash::BuildHasher;
        let state = std::collections::hash_map::RandomState::new();
        assert_eq!(state.hash_one(&f), state.hash_one(&plain));
        f.extra.secctx = Some("x".into());
        assert!(!f.extra.is_empty());
        assert_ne!(f, plain);
        let e: Extra = FlowExtra { secctx: Some("x".into()), ..Default::default() }.into();
        assert_eq!(e, f.extra);
        let u: UnknownAttrs = vec![UnknownAttr { parent: 0, raw_type: 5, payload: vec![1] }].into();
        assert_eq!(u.len(), 1);
        assert_eq!(UnknownAttrs::from(Vec::new()), UnknownAttrs::new());
        assert_eq!(format!("{:?}", UnknownAttrs::new()), "[]");
    }

    #[test]
    fn update_masks_the_mark() {
        let u = Update::new().mark_masked(0xff, 0x0f).timeout(9);
        let mut buf = vec![2, 0, 0, 0];
        u.write(&mut AttrWriter::new(&mut buf));
        let attrs: Vec<_> = wire::attrs_after(&buf, 4).collect::<Result<_, _>>().unwrap();
        assert_eq!(attrs[0].u32_be().unwrap(), 9);
        assert_eq!(attrs[1].u32_be().unwrap(), 0x0f);
        assert_eq!(attrs[2].kind(), CTA_MARK_MASK);
    }
}
