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
}

pub(super) fn field(
    base: PayloadBase,
    off: u32,
    len: u32,
    net: Option<Proto>,
    l4: Option<Proto>,
) -> Option<(String, DataType, u32, Proto)> {
    use DataType as T;
    let pick = |fields: &[(u32, u32, &str, DataType)], proto: Proto, prefix: &str| {
        fields
            .iter()
            .find(|(o, l, _, _)| *o == off && (*l == len || (len < *l && matches!(prefix, "ip" | "ip6"))))
            .map(|(_, l, n, t)| (format!("{prefix} {n}"), *t, *l, proto))
    };
    match base {
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
                    (14, 4, "saddr ip", T::IPV4_ADDR),
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
            _ => pick(&[(0, 2, "sport", T::INET_SERVICE), (2, 2, "dport", T::INET_SERVICE)], Proto::Th, "th"),
        },
        _ => None,
    }
}

/// A load covering several whole adjacent fields of one header.
pub(super) fn multi_field(
    base: PayloadBase,
    off: u32,
    len: u32,
    net: Option<Proto>,
    l4: Option<Proto>,
) -> Option<Src> {
    let mut parts = Vec::new();
    let mut at = off;
    let mut proto = None;
    while at < off + len {
        let (name, ty, flen, p) = (1..=len.min(16))
            .rev()
            .filter(|l| at + l <= off + len)
            .find_map(|l| field(base, at, l, net, l4).filter(|f| f.2 == l))?;
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
        MetaKey::TimeNs => (T::INTEGER, 8),
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
        _ => (T::INTEGER, 4, false),
    }
}

pub(super) fn proto_of_l4(p: u8) -> Option<Proto> {
    match p {
        6 => Some(Proto::Tcp),
        17 => Some(Proto::Udp),
        1 => Some(Proto::Icmp),
        58 => Some(Proto::Icmp6),
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
