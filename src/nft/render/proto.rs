//! Header fields by protocol (what nft calls protocol templates) and the
//! types of meta and ct keys: the tables the rule printer names loads from.

use super::*;

/// The protocol a transport-header match belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Proto {
    Ip,
    Ip6,
    Tcp,
    Udp,
    Icmp,
    Icmp6,
    Ether,
    Th,
    Arp,
    Esp,
    Ah,
    Comp,
    Sctp,
    Dccp,
    Udplite,
    Igmp,
    /// `icmp type destination-unreachable`: the header carries `mtu`.
    IcmpUnreach,
    /// `icmp type redirect`: the header carries `gateway`.
    IcmpRedirect,
    /// `icmpv6 type packet-too-big`: `mtu`.
    Icmp6TooBig,
    /// `icmpv6 type parameter-problem`: `parameter-problem`.
    Icmp6Param,
    /// `icmpv6 type mld-listener-*`: `max-delay`.
    Icmp6Mld,
    /// `ether type 8021q`/`8021ad`: a VLAN header follows.
    Vlan,
}

/// What the rule has matched so far that decides how a header field is
/// named: the network protocol, the transport protocol, and for icmp
/// and icmpv6 the message type (nft names the bytes after the checksum
/// by it: `mtu`, `gateway`, `id`...).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct HdrCtx {
    pub(super) net: Option<Proto>,
    pub(super) l4: Option<Proto>,
    pub(super) sub: Option<Proto>,
    /// Bytes of VLAN headers before the current one (`vlan type 8021q`
    /// after a VLAN header: another one follows, 4 bytes on).
    pub(super) ll_off: u32,
}

pub(super) fn field(
    base: PayloadBase,
    off: u32,
    len: u32,
    h: HdrCtx,
) -> Option<(String, DataType, u32, Proto)> {
    use DataType as T;
    let HdrCtx { net, l4, sub, ll_off } = h;
    // Fields that exist only for one icmp/icmpv6 message type.
    let by_type: Option<(u32, u32, &str, Proto)> = match (l4, sub) {
        (Some(Proto::Icmp), Some(Proto::IcmpUnreach)) => Some((6, 2, "icmp mtu", Proto::IcmpUnreach)),
        (Some(Proto::Icmp), Some(Proto::IcmpRedirect)) => Some((4, 4, "icmp gateway", Proto::IcmpRedirect)),
        (Some(Proto::Icmp6), Some(Proto::Icmp6TooBig)) => Some((4, 4, "icmpv6 mtu", Proto::Icmp6TooBig)),
        (Some(Proto::Icmp6), Some(Proto::Icmp6Param)) => {
            Some((4, 4, "icmpv6 parameter-problem", Proto::Icmp6Param))
        }
        (Some(Proto::Icmp6), Some(Proto::Icmp6Mld)) => Some((4, 2, "icmpv6 max-delay", Proto::Icmp6Mld)),
        _ => None,
    };
    if let Some((o, l, n, p)) = by_type {
        if base == PayloadBase::Transport && o == off && l == len {
            return Some((n.to_string(), T::INTEGER, l, p));
        }
    }
    let pick = |fields: &[(u32, u32, &str, DataType)], proto: Proto, prefix: &str| {
        fields
            .iter()
            .find(|(o, l, _, _)| *o == off && (*l == len || (len < *l && matches!(prefix, "ip" | "ip6"))))
            .map(|(_, l, n, t)| (format!("{prefix} {n}"), *t, *l, proto))
    };
    match base {
        PayloadBase::LinkLayer if sub == Some(Proto::Vlan) && off == 16 + ll_off && len == 2 => {
            Some(("vlan type".to_string(), T::ETHER_TYPE, 2, Proto::Vlan))
        }
        // Inside a second VLAN header nft names only its fields.
        PayloadBase::LinkLayer if ll_off > 0 => None,
        PayloadBase::LinkLayer => pick(
            &[(0, 6, "daddr", T::ETHER_ADDR), (6, 6, "saddr", T::ETHER_ADDR), (12, 2, "type", T::ETHER_TYPE)],
            Proto::Ether,
            "ether",
        ),
        PayloadBase::Network => match net.unwrap_or(Proto::Ip) {
            Proto::Ip6 => pick(
                &[
                    (4, 2, "length", T::INTEGER),
                    (6, 1, "nexthdr", T::INET_PROTO),
                    (7, 1, "hoplimit", T::INTEGER),
                    (8, 16, "saddr", T::IPV6_ADDR),
                    (24, 16, "daddr", T::IPV6_ADDR),
                ],
                Proto::Ip6,
                "ip6",
            ),
            Proto::Arp => pick(
                &[
                    (0, 2, "htype", T::INTEGER),
                    (2, 2, "ptype", T::ETHER_TYPE),
                    (4, 1, "hlen", T::INTEGER),
                    (5, 1, "plen", T::INTEGER),
                    (6, 2, "operation", T::ARP_OP),
                    (8, 6, "saddr ether", T::ETHER_ADDR),
                    (14, 4, "saddr ip", T::IPV4_ADDR),
                    (18, 6, "daddr ether", T::ETHER_ADDR),
                    (24, 4, "daddr ip", T::IPV4_ADDR),
                ],
                Proto::Arp,
                "arp",
            ),
            _ => pick(
                &[
                    (2, 2, "length", T::INTEGER),
                    (4, 2, "id", T::INTEGER),
                    (6, 2, "frag-off", T::INTEGER),
                    (8, 1, "ttl", T::INTEGER),
                    (9, 1, "protocol", T::INET_PROTO),
                    (10, 2, "checksum", T::INTEGER),
                    (12, 4, "saddr", T::IPV4_ADDR),
                    (16, 4, "daddr", T::IPV4_ADDR),
                ],
                Proto::Ip,
                "ip",
            ),
        },
        PayloadBase::Transport => match l4 {
            Some(Proto::Tcp) => pick(
                &[
                    (0, 2, "sport", T::INET_SERVICE),
                    (2, 2, "dport", T::INET_SERVICE),
                    (4, 4, "sequence", T::INTEGER),
                    (8, 4, "ackseq", T::INTEGER),
                    (13, 1, "flags", T::TCP_FLAG),
                    (14, 2, "window", T::INTEGER),
                    (16, 2, "checksum", T::INTEGER),
                    (18, 2, "urgptr", T::INTEGER),
                ],
                Proto::Tcp,
                "tcp",
            ),
            Some(Proto::Udp) => pick(
                &[
                    (0, 2, "sport", T::INET_SERVICE),
                    (2, 2, "dport", T::INET_SERVICE),
                    (4, 2, "length", T::INTEGER),
                    (6, 2, "checksum", T::INTEGER),
                ],
                Proto::Udp,
                "udp",
            ),
            Some(Proto::Icmp) => pick(
                &[
                    (0, 1, "type", T::ICMP_TYPE),
                    (1, 1, "code", T::ICMP_CODE),
                    (2, 2, "checksum", T::INTEGER),
                    (4, 2, "id", T::INTEGER),
                    (6, 2, "sequence", T::INTEGER),
                ],
                Proto::Icmp,
                "icmp",
            ),
            Some(Proto::Icmp6) => pick(
                &[
                    (0, 1, "type", T::ICMP6_TYPE),
                    (1, 1, "code", T::ICMPV6_CODE),
                    (2, 2, "checksum", T::INTEGER),
                    (4, 2, "id", T::INTEGER),
                    (6, 2, "sequence", T::INTEGER),
                ],
                Proto::Icmp6,
                "icmpv6",
            ),
            Some(Proto::Esp) => {
                pick(&[(0, 4, "spi", T::INTEGER), (4, 4, "sequence", T::INTEGER)], Proto::Esp, "esp")
            }
            Some(Proto::Ah) => pick(
                &[
                    (0, 1, "nexthdr", T::INET_PROTO),
                    (1, 1, "hdrlength", T::INTEGER),
                    (2, 2, "reserved", T::INTEGER),
                    (4, 4, "spi", T::INTEGER),
                    (8, 4, "sequence", T::INTEGER),
                ],
                Proto::Ah,
                "ah",
            ),
            Some(Proto::Comp) => pick(
                &[(0, 1, "nexthdr", T::INET_PROTO), (1, 1, "flags", T::BITMASK), (2, 2, "cpi", T::INTEGER)],
                Proto::Comp,
                "comp",
            ),
            Some(Proto::Sctp) => pick(
                &[
                    (0, 2, "sport", T::INET_SERVICE),
                    (2, 2, "dport", T::INET_SERVICE),
                    (4, 4, "vtag", T::INTEGER),
                    (8, 4, "checksum", T::INTEGER),
                ],
                Proto::Sctp,
                "sctp",
            ),
            Some(Proto::Dccp) => pick(
                &[(0, 2, "sport", T::INET_SERVICE), (2, 2, "dport", T::INET_SERVICE)],
                Proto::Dccp,
                "dccp",
            ),
            Some(Proto::Udplite) => pick(
                &[
                    (0, 2, "sport", T::INET_SERVICE),
                    (2, 2, "dport", T::INET_SERVICE),
                    (4, 2, "csumcov", T::INTEGER),
                    (6, 2, "checksum", T::INTEGER),
                ],
                Proto::Udplite,
                "udplite",
            ),
            Some(Proto::Igmp) => pick(
                &[
                    (0, 1, "type", T::IGMP_TYPE),
                    (1, 1, "mrt", T::INTEGER),
                    (2, 2, "checksum", T::INTEGER),
                    (4, 4, "group", T::IPV4_ADDR),
                ],
                Proto::Igmp,
                "igmp",
            ),
            _ => pick(&[(0, 2, "sport", T::INET_SERVICE), (2, 2, "dport", T::INET_SERVICE)], Proto::Th, "th"),
        },
        _ => None,
    }
}

/// A load covering several whole adjacent fields of one header.
pub(super) fn multi_field(base: PayloadBase, off: u32, len: u32, h: HdrCtx) -> Option<Src> {
    let mut parts = Vec::new();
    let mut at = off;
    let mut proto = None;
    while at < off + len {
        let (name, ty, flen, p) = (1..=len.min(16))
            .rev()
            .filter(|l| at + l <= off + len)
            .find_map(|l| field(base, at, l, h).filter(|f| f.2 == l))?;
        parts.push((name, ty, flen));
        proto = Some(p);
        at += flen;
    }
    (parts.len() > 1).then(|| Src::Multi { parts, proto: proto.expect("at least one part") })
}

pub(super) fn meta_type(k: MetaKey) -> (DataType, u32) {
    use DataType as T;
    match k {
        MetaKey::Mark => (T::MARK, 4),
        MetaKey::IifName
        | MetaKey::OifName
        | MetaKey::BriIifName
        | MetaKey::BriOifName
        | MetaKey::IifKind
        | MetaKey::OifKind
        | MetaKey::SdifName => (T::IFNAME, 16),
        MetaKey::Iif | MetaKey::Oif | MetaKey::Sdif => (T::IFINDEX, 4),
        MetaKey::L4Proto => (T::INET_PROTO, 1),
        MetaKey::NfProto => (T::NFPROTO, 1),
        MetaKey::Protocol => (T::ETHER_TYPE, 2),
        MetaKey::PktType => (T::PKTTYPE, 1),
        MetaKey::IifType | MetaKey::OifType => (T::ARPHRD, 2),
        MetaKey::SkUid => (T::UID, 4),
        MetaKey::SkGid => (T::GID, 4),
        MetaKey::NfTrace => (T::INTEGER, 1),
        MetaKey::Secpath => (T::BOOLEAN, 1),
        MetaKey::Priority => (T::CLASSID, 4),
        MetaKey::TimeNs => (T::TIME_DATE, 8),
        MetaKey::TimeHour => (T::TIME_HOUR, 4),
        MetaKey::TimeDay => (T::TIME_DAY, 1),
        MetaKey::IifGroup | MetaKey::OifGroup => (T::DEVGROUP, 4),
        MetaKey::Len | MetaKey::Cpu | MetaKey::Cgroup | MetaKey::Prandom => (T::INTEGER, 4),
        MetaKey::BriIifPvid | MetaKey::BriIifVproto => (T::INTEGER, 2),
        MetaKey::RtClassId => (T::REALM, 4),
        _ => (T::INTEGER, 4),
    }
}

pub(super) fn ct_type(k: CtKey, net: Option<Proto>) -> (DataType, u32, bool) {
    use DataType as T;
    match k {
        CtKey::State => (T::CT_STATE, 4, false),
        CtKey::Direction => (T::CT_DIR, 1, false),
        CtKey::Status => (T::CT_STATUS, 4, false),
        CtKey::Mark => (T::MARK, 4, false),
        CtKey::Expiration => (T::TIME, 4, false),
        CtKey::Helper => (T::STRING, 16, false),
        CtKey::L3Protocol => (T::NFPROTO, 1, false),
        CtKey::Protocol => (T::INET_PROTO, 1, true),
        CtKey::ProtoSrc | CtKey::ProtoDst => (T::INET_SERVICE, 2, true),
        CtKey::SrcIp | CtKey::DstIp => (T::IPV4_ADDR, 4, true),
        CtKey::SrcIp6 | CtKey::DstIp6 => (T::IPV6_ADDR, 16, true),
        CtKey::Src | CtKey::Dst => match net {
            Some(Proto::Ip6) => (T::IPV6_ADDR, 16, true),
            _ => (T::IPV4_ADDR, 4, true),
        },
        CtKey::Pkts | CtKey::Bytes | CtKey::AvgPkt => (T::INTEGER, 8, false),
        CtKey::Zone => (T::INTEGER, 2, false),
        CtKey::Id => (T::INTEGER, 4, true),
        CtKey::Labels => (T::CT_LABEL, 16, false),
        CtKey::EventMask => (T::CT_EVENT, 4, false),
        _ => (T::INTEGER, 4, false),
    }
}

pub(super) fn proto_of_l4(p: u8) -> Option<Proto> {
    match p {
        6 => Some(Proto::Tcp),
        17 => Some(Proto::Udp),
        1 => Some(Proto::Icmp),
        58 => Some(Proto::Icmp6),
        50 => Some(Proto::Esp),
        51 => Some(Proto::Ah),
        108 => Some(Proto::Comp),
        132 => Some(Proto::Sctp),
        33 => Some(Proto::Dccp),
        136 => Some(Proto::Udplite),
        2 => Some(Proto::Igmp),
        _ => None,
    }
}

pub(super) fn base_name(b: PayloadBase) -> &'static str {
    match b {
        PayloadBase::LinkLayer => "ll",
        PayloadBase::Network => "nh",
        PayloadBase::Transport => "th",
        PayloadBase::Inner => "ih",
        PayloadBase::Other(_) => "?",
    }
}

/// The name nft gives an IPv6 extension header, TCP option or IPv4
/// option, and its fields as (byte offset, length, name, type).
type ExthdrFields = &'static [(u32, u32, &'static str, DataType)];

/// nft's templates for `exthdr` (IPv6 extension headers, TCP and IPv4
/// options): the header's name and its fields. `None` for a kind nft has
/// no name for.
pub(super) fn exthdr_template(op: ExthdrOp, ty: u8) -> Option<(&'static str, ExthdrFields)> {
    use DataType as T;
    const KIND_LEN: ExthdrFields = &[(0, 1, "kind", T::INTEGER), (1, 1, "length", T::INTEGER)];
    Some(match (op, ty) {
        (ExthdrOp::Ipv6, 0) => ("hbh", &[(0, 1, "nexthdr", T::INET_PROTO), (1, 1, "hdrlength", T::INTEGER)]),
        (ExthdrOp::Ipv6, 60) => ("dst", &[(0, 1, "nexthdr", T::INET_PROTO), (1, 1, "hdrlength", T::INTEGER)]),
        (ExthdrOp::Ipv6, 43) => (
            "rt",
            &[
                (0, 1, "nexthdr", T::INET_PROTO),
                (1, 1, "hdrlength", T::INTEGER),
                (2, 1, "type", T::INTEGER),
                (3, 1, "seg-left", T::INTEGER),
            ],
        ),
        (ExthdrOp::Ipv6, 44) => (
            "frag",
            &[(0, 1, "nexthdr", T::INET_PROTO), (1, 1, "reserved", T::INTEGER), (4, 4, "id", T::INTEGER)],
        ),
        (ExthdrOp::Ipv6, 135) => (
            "mh",
            &[
                (0, 1, "nexthdr", T::INET_PROTO),
                (1, 1, "hdrlength", T::INTEGER),
                (2, 1, "type", T::MH_TYPE),
                (3, 1, "reserved", T::INTEGER),
                (4, 2, "checksum", T::INTEGER),
            ],
        ),
        (ExthdrOp::TcpOpt, 0) => ("eol", &[(0, 1, "kind", T::INTEGER)]),
        (ExthdrOp::TcpOpt, 1) => ("nop", &[(0, 1, "kind", T::INTEGER)]),
        (ExthdrOp::TcpOpt, 2) => (
            "maxseg",
            &[(0, 1, "kind", T::INTEGER), (1, 1, "length", T::INTEGER), (2, 2, "size", T::INTEGER)],
        ),
        (ExthdrOp::TcpOpt, 3) => (
            "window",
            &[(0, 1, "kind", T::INTEGER), (1, 1, "length", T::INTEGER), (2, 1, "count", T::INTEGER)],
        ),
        (ExthdrOp::TcpOpt, 4) => ("sack-perm", KIND_LEN),
        (ExthdrOp::TcpOpt, 5) => (
            "sack",
            &[
                (0, 1, "kind", T::INTEGER),
                (1, 1, "length", T::INTEGER),
                (2, 4, "left", T::INTEGER),
                (6, 4, "right", T::INTEGER),
            ],
        ),
        (ExthdrOp::TcpOpt, 8) => (
            "timestamp",
            &[
                (0, 1, "kind", T::INTEGER),
                (1, 1, "length", T::INTEGER),
                (2, 4, "tsval", T::INTEGER),
                (6, 4, "tsecr", T::INTEGER),
            ],
        ),
        (ExthdrOp::TcpOpt, 19) => ("md5sig", KIND_LEN),
        (ExthdrOp::TcpOpt, 30) => ("mptcp", KIND_LEN),
        (ExthdrOp::TcpOpt, 34) => ("fastopen", KIND_LEN),
        (ExthdrOp::Ipv4, t @ (7 | 131 | 137)) => (
            match t {
                7 => "rr",
                131 => "lsrr",
                _ => "ssrr",
            },
            &[
                (0, 1, "type", T::INTEGER),
                (1, 1, "length", T::INTEGER),
                (2, 1, "ptr", T::INTEGER),
                (3, 4, "addr", T::IPV4_ADDR),
            ],
        ),
        (ExthdrOp::Sctp, t) => return sctp_chunk(t),
        (ExthdrOp::Ipv4, 148) => {
            ("ra", &[(0, 1, "type", T::INTEGER), (1, 1, "length", T::INTEGER), (2, 2, "value", T::INTEGER)])
        }
        _ => return None,
    })
}

/// How nft names an `exthdr` load: the field's printed name and type,
/// and the protocol it implies; `None` when nft would print something
/// netplumb does not know.
pub(super) fn exthdr_field(e: &Exthdr) -> Option<(String, DataType, Proto)> {
    let op = e.op();
    let (prefix, proto) = match op {
        ExthdrOp::Ipv6 => ("", Proto::Ip6),
        ExthdrOp::TcpOpt => ("tcp option ", Proto::Tcp),
        ExthdrOp::Ipv4 => ("ip option ", Proto::Ip),
        ExthdrOp::Sctp => ("sctp chunk ", Proto::Sctp),
        _ => return None,
    };
    let tmpl = exthdr_template(op, e.ty);
    if e.is_present_test() {
        let name = match (op, tmpl) {
            (ExthdrOp::Ipv6, Some((n, _))) => format!("exthdr {n}"),
            (ExthdrOp::Ipv6, None) => return None,
            (_, Some((n, _))) => format!("{prefix}{n}"),
            (_, None) => format!("{prefix}{}", e.ty),
        };
        return Some((name, DataType::BOOLEAN, proto));
    }
    let (off, len) = (e.offset?, e.len?);
    // SACK blocks 1 to 3 are further fields of the sack option.
    if (op, e.ty) == (ExthdrOp::TcpOpt, 5) && off >= 10 && (off - 2) % 8 < 8 && len == 4 {
        let n = (off - 2) / 8;
        let side = if (off - 2) % 8 == 0 { "left" } else { "right" };
        if n <= 3 && (off - 2) % 4 == 0 {
            return Some((format!("tcp option sack{n} {side}"), DataType::INTEGER, proto));
        }
    }
    // The routing header: nft tries its generic fields, then those of
    // segment routing (`srh`), then of type 0 (`rt0`).
    if (op, e.ty) == (ExthdrOp::Ipv6, 43) && !(off < 4 && len == 1) {
        let srh: ExthdrFields = &[
            (4, 1, "last-entry", DataType::INTEGER),
            (5, 1, "flags", DataType::INTEGER),
            (6, 2, "tag", DataType::INTEGER),
            (8, 16, "sid[1]", DataType::IPV6_ADDR),
            (24, 16, "sid[2]", DataType::IPV6_ADDR),
        ];
        let rt0: ExthdrFields = &[(4, 4, "reserved", DataType::INTEGER)];
        for (n, fields) in [("srh", srh), ("rt0", rt0)] {
            if let Some(f) = fields.iter().find(|f| f.0 == off && f.1 == len) {
                return Some((format!("{n} {}", f.2), f.3, proto));
            }
        }
    }
    match tmpl.and_then(|(n, fields)| fields.iter().find(|f| f.0 == off && f.1 == len).map(|f| (n, f))) {
        Some((n, f)) => Some((format!("{prefix}{n} {}", f.2), f.3, proto)),
        // A TCP option field nft has no name for: `tcp option @kind,off,len`.
        None if op == ExthdrOp::TcpOpt => {
            Some((format!("tcp option @{},{},{}", e.ty, off * 8, len * 8), DataType::INTEGER, proto))
        }
        None => None,
    }
}

/// A field narrower than a byte, loaded as the whole bytes holding it
/// and masked: the raw load's printed name and the mask give the field's
/// name, type, shift and protocol (nft's bit-level header templates).
pub(super) fn bitfield(h: HdrCtx, load: &str, mask: &[u8]) -> Option<(&'static str, DataType, u32, Proto)> {
    use DataType as T;
    let m = mask.iter().fold(0u64, |a, b| (a << 8) | *b as u64);
    let net = h.net.unwrap_or(Proto::Ip);
    // The VLAN header's tag, 4 bytes on for each VLAN header before it.
    let vlan = h.sub == Some(Proto::Vlan);
    let (v16, v8) = (vlan_tag_load(h.ll_off, 16), vlan_tag_load(h.ll_off, 8));
    let load = if vlan && load == v16 {
        "@ll,112,16"
    } else if vlan && load == v8 {
        "@ll,112,8"
    } else if load.starts_with("@ll,") {
        "@ll,?"
    } else {
        load
    };
    Some(match (load, m) {
        ("@nh,0,8", 0xf0) if net == Proto::Ip => ("ip version", T::INTEGER, 4, Proto::Ip),
        ("@nh,0,8", 0x0f) if net == Proto::Ip => ("ip hdrlength", T::INTEGER, 0, Proto::Ip),
        ("@nh,8,8", 0xfc) if net == Proto::Ip => ("ip dscp", T::DSCP, 2, Proto::Ip),
        ("@nh,8,8", 0x03) if net == Proto::Ip => ("ip ecn", T::ECN, 0, Proto::Ip),
        // Writes load two bytes (`ip dscp set`).
        ("@nh,0,16", 0x00fc) if net == Proto::Ip => ("ip dscp", T::DSCP, 2, Proto::Ip),
        ("@nh,0,16", 0x0003) if net == Proto::Ip => ("ip ecn", T::ECN, 0, Proto::Ip),
        ("@nh,0,8", 0xf0) if net == Proto::Ip6 => ("ip6 version", T::INTEGER, 4, Proto::Ip6),
        ("@nh,0,16", 0x0fc0) if net == Proto::Ip6 => ("ip6 dscp", T::DSCP, 6, Proto::Ip6),
        ("@nh,8,8", 0x30) if net == Proto::Ip6 => ("ip6 ecn", T::ECN, 4, Proto::Ip6),
        ("@nh,8,24", 0x0f_ffff) if net == Proto::Ip6 => ("ip6 flowlabel", T::INTEGER, 0, Proto::Ip6),
        ("@th,96,8", 0xf0) if h.l4 == Some(Proto::Tcp) => ("tcp doff", T::INTEGER, 4, Proto::Tcp),
        ("@ll,112,16", 0xe000) if h.sub == Some(Proto::Vlan) => ("vlan pcp", T::INTEGER, 13, Proto::Vlan),
        ("@ll,112,8", 0xe0) if h.sub == Some(Proto::Vlan) => ("vlan pcp", T::INTEGER, 5, Proto::Vlan),
        ("@ll,112,8", 0x10) if h.sub == Some(Proto::Vlan) => ("vlan dei", T::INTEGER, 4, Proto::Vlan),
        ("@ll,112,16", 0x1000) if h.sub == Some(Proto::Vlan) => ("vlan dei", T::INTEGER, 12, Proto::Vlan),
        ("@ll,112,16", 0x0fff) if h.sub == Some(Proto::Vlan) => ("vlan id", T::INTEGER, 0, Proto::Vlan),
        ("@th,64,8", 0x1e) if h.l4 == Some(Proto::Dccp) => ("dccp type", T::DCCP_PKTTYPE, 1, Proto::Dccp),
        ("tcp option @30,16,8", 0xf0) => ("tcp option mptcp subtype", T::INTEGER, 4, Proto::Tcp),
        // The fragment header's offset and flags (bytes 2 and 3).
        (l, 0xfff8) if l == raw_exthdr_name(44, 2, 2) => ("frag frag-off", T::INTEGER, 3, Proto::Ip6),
        (l, 0x06) if l == raw_exthdr_name(44, 3, 1) => ("frag reserved2", T::INTEGER, 1, Proto::Ip6),
        (l, 0x01) if l == raw_exthdr_name(44, 3, 1) => ("frag more-fragments", T::INTEGER, 0, Proto::Ip6),
        _ => return None,
    })
}

/// The raw name of a load of the VLAN tag (`@ll,112,16`), `ll_off` bytes
/// of VLAN headers on.
pub(super) fn vlan_tag_load(ll_off: u32, bits: u32) -> String {
    format!("@ll,{},{bits}", 112 + 8 * ll_off)
}

/// The name of an IPv6 extension header load that is no field of nft's
/// templates: a mark nft refuses, unless a mask turns it into a field
/// narrower than a byte (`frag frag-off`, see [`bitfield`]).
pub(super) fn raw_exthdr_name(ty: u8, off: u32, len: u32) -> String {
    format!("{MARK_OPEN}exthdr type {ty} offset {off} length {len}{MARK_CLOSE}")
}

/// SCTP chunks as nft names them, with their fields.
fn sctp_chunk(t: u8) -> Option<(&'static str, ExthdrFields)> {
    use DataType as T;
    const COMMON: ExthdrFields =
        &[(0, 1, "type", T::INTEGER), (1, 1, "flags", T::INTEGER), (2, 2, "length", T::INTEGER)];
    macro_rules! with {
        ($($f:expr),*) => {
            &[(0, 1, "type", T::INTEGER), (1, 1, "flags", T::INTEGER), (2, 2, "length", T::INTEGER), $($f),*]
        };
    }
    Some(match t {
        0 => (
            "data",
            with!(
                (4, 4, "tsn", T::INTEGER),
                (8, 2, "stream", T::INTEGER),
                (10, 2, "ssn", T::INTEGER),
                (12, 4, "ppid", T::INTEGER)
            ),
        ),
        1 | 2 => (
            if t == 1 { "init" } else { "init-ack" },
            with!(
                (4, 4, "init-tag", T::INTEGER),
                (8, 4, "a-rwnd", T::INTEGER),
                (12, 2, "num-outbound-streams", T::INTEGER),
                (14, 2, "num-inbound-streams", T::INTEGER),
                (16, 4, "initial-tsn", T::INTEGER)
            ),
        ),
        3 => (
            "sack",
            with!(
                (4, 4, "cum-tsn-ack", T::INTEGER),
                (8, 4, "a-rwnd", T::INTEGER),
                (12, 2, "num-gap-ack-blocks", T::INTEGER),
                (14, 2, "num-dup-tsns", T::INTEGER)
            ),
        ),
        4 => ("heartbeat", COMMON),
        5 => ("heartbeat-ack", COMMON),
        6 => ("abort", COMMON),
        7 => ("shutdown", with!((4, 4, "cum-tsn-ack", T::INTEGER))),
        8 => ("shutdown-ack", COMMON),
        9 => ("error", COMMON),
        10 => ("cookie-echo", COMMON),
        11 => ("cookie-ack", COMMON),
        12 => ("ecne", with!((4, 4, "lowest-tsn", T::INTEGER))),
        13 => ("cwr", with!((4, 4, "lowest-tsn", T::INTEGER))),
        14 => ("shutdown-complete", COMMON),
        128 => ("asconf-ack", with!((4, 4, "seqno", T::INTEGER))),
        192 => ("forward-tsn", with!((4, 4, "new-cum-tsn", T::INTEGER))),
        193 => ("asconf", with!((4, 4, "seqno", T::INTEGER))),
        _ => return None,
    })
}
