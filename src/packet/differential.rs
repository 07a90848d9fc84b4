//! Differential properties (features `packet-crates` and `fuzzing`): the
//! same bytes decoded by netplumb and by netlink-packet-route (links,
//! addresses, routes) or netlink-packet-netfilter (conntrack flows) must
//! agree on every field both model. Used by the `diff_*` fuzz targets; each function
//! panics, naming the field, on a disagreement (a decode error on one side
//! only is not a disagreement: the two codecs differ in strictness).
//!
//! Known differences, found by these targets and left out of the
//! comparison (both are netlink-packet-route 0.34 behaviour):
//! - a string attribute with a NUL inside (`"veth\0" "2"`): the kernel and
//!   netplumb read a C string, up to the first NUL (`veth`);
//!   netlink-packet-route strips one trailing NUL only and keeps the rest
//!   (`"veth\02"`). Compared up to the first NUL.
//! - an `ifi_type` (ARPHRD) value it does not list decodes as
//!   `LinkLayerType::Void` (0xffff): the value is lost. netplumb keeps it.
//!   Compared only when netlink-packet-route kept it.

use std::net::IpAddr;

use netlink_packet_core::Parseable;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};

use crate::addr::Address;
use crate::route::AnyRoute;

/// The last value an attribute takes (the kernel writes each once; for
/// duplicates both codecs keep the last, as the kernel's own parser does).
fn last<A, T>(attrs: &[A], f: impl Fn(&A) -> Option<T>) -> Option<T> {
    attrs.iter().filter_map(f).last()
}

/// A string as C (and the kernel) reads it: up to the first NUL.
fn c_str(s: String) -> String {
    s.split('\0').next().unwrap_or_default().to_string()
}

fn check<T: PartialEq + std::fmt::Debug>(what: &str, field: &str, ours: T, theirs: T, data: &[u8]) {
    assert!(
        ours == theirs,
        "{what}.{field}: netplumb {ours:?}, netlink-packet-route {theirs:?} (input {data:02x?})"
    );
}

/// An `RTM_NEWLINK` payload: index, type, flags, name, MTU, hardware
/// addresses, master, lower link, txqlen, alias, qdisc.
pub fn link(data: &[u8]) {
    let (Ok(ours), Ok(theirs)) = (crate::link::message::parse_link_payload(data), LinkMessage::parse(data))
    else {
        return;
    };
    let a = &theirs.attributes;
    let c = |f: &str, o, t| check("link", f, o, t, data);
    c("index", Some(ours.index.0), Some(theirs.header.index));
    let their_type = u16::from(theirs.header.link_layer_type);
    if their_type != 0xffff || ours.link_type == 0xffff {
        c("link_type", Some(ours.link_type as u32), Some(their_type as u32));
    }
    c("flags", Some(ours.flags.bits()), Some(theirs.header.flags.bits()));
    let name = last(a, |x| if let LinkAttribute::IfName(n) = x { Some(c_str(n.clone())) } else { None });
    if let Some(n) = name {
        c("name", Some(ours.name.len() as u32), Some(n.len() as u32));
        assert_eq!(ours.name, n, "link.name (input {data:02x?})");
    }
    c("mtu", ours.mtu, last(a, |x| if let LinkAttribute::Mtu(v) = x { Some(*v) } else { None }));
    c(
        "master",
        ours.master.map(|i| i.0),
        last(a, |x| if let LinkAttribute::Controller(v) = x { Some(*v) } else { None }),
    );
    c(
        "link",
        ours.link.map(|i| i.0),
        last(a, |x| if let LinkAttribute::Link(v) = x { Some(*v) } else { None }),
    );
    c("txqlen", ours.txqlen, last(a, |x| if let LinkAttribute::TxQueueLen(v) = x { Some(*v) } else { None }));
    let bytes = |f: fn(&LinkAttribute) -> Option<Vec<u8>>| last(a, f);
    assert_eq!(
        ours.address,
        bytes(|x| if let LinkAttribute::Address(v) = x { Some(v.clone()) } else { None }),
        "link.address (input {data:02x?})"
    );
    assert_eq!(
        ours.broadcast,
        bytes(|x| if let LinkAttribute::Broadcast(v) = x { Some(v.clone()) } else { None }),
        "link.broadcast (input {data:02x?})"
    );
    let s = |f: fn(&LinkAttribute) -> Option<String>| last(a, f);
    assert_eq!(
        ours.alias,
        s(|x| if let LinkAttribute::IfAlias(v) = x { Some(c_str(v.clone())) } else { None }),
        "link.alias (input {data:02x?})"
    );
    assert_eq!(
        ours.qdisc,
        s(|x| if let LinkAttribute::Qdisc(v) = x { Some(c_str(v.clone())) } else { None }),
        "link.qdisc (input {data:02x?})"
    );
}

/// An `RTM_NEWADDR` payload: index, prefix length, scope, address, local,
/// label, broadcast.
pub fn address(data: &[u8]) {
    let msg = super::as_msg(libc::RTM_NEWADDR, data);
    let (Ok(ours), Ok(theirs)) = (Address::parse(&msg), AddressMessage::parse(data)) else {
        return;
    };
    let a = &theirs.attributes;
    check("address", "index", ours.index.0, theirs.header.index, data);
    check("address", "prefix_len", ours.address.prefix_len(), theirs.header.prefix_len, data);
    check("address", "scope", ours.scope.to_raw(), u8::from(theirs.header.scope), data);
    let local = last(a, |x| if let AddressAttribute::Local(v) = x { Some(*v) } else { None });
    let addr = last(a, |x| if let AddressAttribute::Address(v) = x { Some(*v) } else { None });
    // netplumb's address is IFA_LOCAL when present, else IFA_ADDRESS; a peer
    // is IFA_ADDRESS when it differs from IFA_LOCAL.
    let expect: Option<IpAddr> = local.or(addr);
    if let Some(e) = expect {
        check("address", "address", ours.address.addr(), e, data);
    }
    check(
        "address",
        "label",
        ours.label.clone(),
        last(a, |x| if let AddressAttribute::Label(v) = x { Some(c_str(v.clone())) } else { None }),
        data,
    );
    check(
        "address",
        "broadcast",
        ours.broadcast,
        last(a, |x| if let AddressAttribute::Broadcast(v) = x { Some(*v) } else { None }),
        data,
    );
}

fn ip_of(r: &RouteAddress) -> Option<IpAddr> {
    match r {
        RouteAddress::Inet(a) => Some(IpAddr::V4(*a)),
        RouteAddress::Inet6(a) => Some(IpAddr::V6(*a)),
        _ => None,
    }
}

/// An `RTM_NEWROUTE` payload: destination and its length, gateway, output
/// interface, priority, table, type.
pub fn route(data: &[u8]) {
    let msg = super::as_msg(libc::RTM_NEWROUTE, data);
    let (Ok(ours), Ok(theirs)) = (AnyRoute::parse(&msg), RouteMessage::parse(data)) else {
        return;
    };
    let a = &theirs.attributes;
    let (dst, len, gw, oif, metric, table): (IpAddr, u8, Option<IpAddr>, _, _, _) = match &ours {
        AnyRoute::V4(r) => {
            (r.dst.addr().into(), r.dst.prefix_len(), r.gateway.map(Into::into), r.oif, r.metric, r.table)
        }
        AnyRoute::V6(r) => {
            (r.dst.addr().into(), r.dst.prefix_len(), r.gateway.map(Into::into), r.oif, r.metric, r.table)
        }
    };
    check("route", "dst_len", len, theirs.header.destination_prefix_length, data);
    if let Some(d) = last(a, |x| if let RouteAttribute::Destination(v) = x { ip_of(v) } else { None }) {
        check("route", "dst", dst, d, data);
    }
    check(
        "route",
        "gateway",
        gw,
        last(a, |x| if let RouteAttribute::Gateway(v) = x { ip_of(v) } else { None }),
        data,
    );
    check(
        "route",
        "oif",
        oif.map(|i| i.0),
        last(a, |x| if let RouteAttribute::Oif(v) = x { Some(*v) } else { None }),
        data,
    );
    check(
        "route",
        "priority",
        metric,
        last(a, |x| if let RouteAttribute::Priority(v) = x { Some(*v) } else { None }),
        data,
    );
    // RTA_TABLE overrides rtm_table when present, in both.
    let t = last(a, |x| if let RouteAttribute::Table(v) = x { Some(*v) } else { None })
        .unwrap_or(theirs.header.table as u32);
    check("route", "table", table.0, t, data);
}

/// The last value in the flattened lists `f` picks from `items`.
fn last_in<A, B, T>(items: &[A], f: fn(&A) -> Option<&Vec<B>>, g: impl Fn(&B) -> Option<T>) -> Option<T> {
    items.iter().filter_map(f).flatten().filter_map(g).last()
}

/// The fields of one conntrack tuple both codecs model: source,
/// destination, protocol number, ports.
type TupleFields = (Option<IpAddr>, Option<IpAddr>, Option<u8>, Option<u16>, Option<u16>);

fn their_tuple(t: &[netlink_packet_netfilter::conntrack::Tuple]) -> TupleFields {
    use netlink_packet_netfilter::conntrack::{IPTuple, ProtoTuple, Tuple};
    let ip: fn(&Tuple) -> Option<&Vec<IPTuple>> = |x| if let Tuple::Ip(v) = x { Some(v) } else { None };
    let proto: fn(&Tuple) -> Option<&Vec<ProtoTuple>> =
        |x| if let Tuple::Proto(v) = x { Some(v) } else { None };
    (
        last_in(t, ip, |x| if let IPTuple::SourceAddress(a) = x { Some(*a) } else { None }),
        last_in(t, ip, |x| if let IPTuple::DestinationAddress(a) = x { Some(*a) } else { None }),
        last_in(t, proto, |x| if let ProtoTuple::Protocol(p) = x { Some(u8::from(*p)) } else { None }),
        last_in(t, proto, |x| if let ProtoTuple::SourcePort(p) = x { Some(*p) } else { None }),
        last_in(t, proto, |x| if let ProtoTuple::DestinationPort(p) = x { Some(*p) } else { None }),
    )
}

fn our_tuple(t: &crate::conntrack::Tuple) -> TupleFields {
    (Some(t.src), Some(t.dst), Some(t.proto.0), t.src_port, t.dst_port)
}

/// A ctnetlink flow payload (`struct nfgenmsg`, then attributes), read by
/// netlink-packet-netfilter as an `IPCTNL_MSG_CT_NEW` message: the
/// `nfgenmsg` family, both tuples (addresses, protocol, ports), status,
/// timeout, mark, and the TCP state, window scales and flags.
pub fn conntrack(data: &[u8]) {
    use netlink_packet_core::ParseableParametrized;
    use netlink_packet_netfilter::conntrack::{
        ConntrackAttribute as A, ConntrackMessage, ProtoInfo, ProtoInfoTCP,
    };
    use netlink_packet_netfilter::{NetfilterMessage, NetfilterMessageInner};

    let (Ok(ours), Ok(theirs)) =
        (crate::conntrack::Flow::decode(data), NetfilterMessage::parse_with_param(data, 1 << 8))
    else {
        return;
    };
    let w = "conntrack";
    check(w, "nfgenmsg.family", ours.family, u8::from(theirs.header.family), data);
    let NetfilterMessageInner::Conntrack(ConntrackMessage::New(a)) = &theirs.inner else {
        panic!(
            "conntrack: netlink-packet-netfilter read a flow message as {:?} (input {data:02x?})",
            theirs.inner
        )
    };
    // netplumb keeps the last CTA_TUPLE_ORIG / CTA_TUPLE_REPLY whole.
    let orig = last(a, |x| if let A::CtaTupleOrig(t) = x { Some(their_tuple(t)) } else { None });
    let reply = last(a, |x| if let A::CtaTupleReply(t) = x { Some(their_tuple(t)) } else { None });
    check(w, "orig", Some(our_tuple(&ours.orig)), orig, data);
    check(w, "reply", Some(our_tuple(&ours.reply)), reply, data);
    check(
        w,
        "status",
        ours.status.map(|s| s.bits()),
        last(a, |x| if let A::CtaStatus(s) = x { Some(s.bits()) } else { None }),
        data,
    );
    check(
        w,
        "timeout",
        ours.timeout,
        last(a, |x| if let A::CtaTimeout(v) = x { Some(*v) } else { None }),
        data,
    );
    check(w, "mark", ours.mark, last(a, |x| if let A::CtaMark(v) = x { Some(*v) } else { None }), data);
    // netplumb models a CTA_PROTOINFO of exactly one nest (the kernel's
    // shape); compare the TCP fields when it did.
    if let Some(crate::conntrack::ProtoInfo::Tcp(t)) = &ours.protoinfo {
        let info =
            last(a, |x| if let A::CtaProtoInfo(p) = x { Some(p.clone()) } else { None }).unwrap_or_default();
        let tcp: fn(&ProtoInfo) -> Option<&Vec<ProtoInfoTCP>> =
            |x| if let ProtoInfo::TCP(v) = x { Some(v) } else { None };
        let state = last_in(&info, tcp, |x| if let ProtoInfoTCP::State(v) = x { Some(*v) } else { None });
        check(w, "protoinfo.tcp.state", t.state.map(|s| s.0), state, data);
        let ws_o =
            last_in(
                &info,
                tcp,
                |x| if let ProtoInfoTCP::OriginalWindowScale(v) = x { Some(*v) } else { None },
            );
        check(w, "protoinfo.tcp.wscale_orig", t.wscale_orig, ws_o, data);
        let ws_r =
            last_in(&info, tcp, |x| if let ProtoInfoTCP::ReplyWindowScale(v) = x { Some(*v) } else { None });
        check(w, "protoinfo.tcp.wscale_reply", t.wscale_reply, ws_r, data);
        let fl_o = last_in(&info, tcp, |x| {
            if let ProtoInfoTCP::OriginalFlags(f) = x {
                Some((f.flags, f.mask))
            } else {
                None
            }
        });
        check(w, "protoinfo.tcp.flags_orig", t.flags_orig.map(|f| (f.flags, f.mask)), fl_o, data);
        let fl_r = last_in(&info, tcp, |x| {
            if let ProtoInfoTCP::ReplyFlags(f) = x {
                Some((f.flags, f.mask))
            } else {
                None
            }
        });
        check(w, "protoinfo.tcp.flags_reply", t.flags_reply.map(|f| (f.flags, f.mask)), fl_r, data);
    }
}
