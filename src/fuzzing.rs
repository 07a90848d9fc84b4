//! Round-trip properties checked by the fuzz targets in `fuzz/` and replayed
//! over the saved corpora by `tests/fuzz_corpus.rs` (feature `fuzzing`).
//!
//! Each function takes arbitrary bytes, decodes them, and if that succeeds
//! re-encodes the result, decodes it again and asserts equality. They panic
//! only when a property fails — never on malformed input.

use crate::wire::{AttrIter, AttrWriter, ErrorMsg, Header, Msg, MsgIter, NLMSG_ERROR, NLMSG_HDRLEN};

/// Attributes: whatever parses re-encodes to something that parses to the
/// same attributes.
pub fn attributes(data: &[u8]) {
    let parsed: Vec<_> = AttrIter::new(data).take_while(|a| a.is_ok()).map(|a| a.expect("ok")).collect();
    let mut buf = Vec::new();
    {
        let mut w = AttrWriter::new(&mut buf);
        for a in &parsed {
            if a.payload.len() + 4 <= u16::MAX as usize {
                w.bytes(a.raw_type, a.payload);
            }
        }
    }
    let again: Vec<_> = AttrIter::new(&buf).map(|a| a.expect("re-encoded attributes parse")).collect();
    assert_eq!(parsed, again, "attribute round trip");
    for a in &parsed {
        // Typed accessors never panic.
        let _ = (a.u8(), a.u16(), a.u32(), a.u64(), a.u16_be(), a.u32_be(), a.str(), a.nested().count());
    }
}

/// The netlink envelope: messages of a datagram and `NLMSG_ERROR` payloads
/// with extended-ack TLVs.
pub fn envelope(data: &[u8]) {
    for m in MsgIter::new(data) {
        let Ok(m) = m else { break };
        // Header + payload re-encode to the same message.
        let bytes = m.to_vec();
        let again = MsgIter::new(&bytes).next().expect("one message").expect("re-encoded message parses");
        assert_eq!(again.header, m.header);
        assert_eq!(again.payload, m.payload);
        assert_eq!(Header::parse(&bytes).expect("header"), m.header);
        if m.header.ty == NLMSG_ERROR {
            if let Ok(e) = ErrorMsg::parse(m.payload, m.header.flags) {
                let (payload, flags) = e.encode();
                let e2 = ErrorMsg::parse(&payload, flags).expect("re-encoded error parses");
                assert_eq!(e, e2, "NLMSG_ERROR round trip");
            }
        }
        if m.payload.len() > NLMSG_HDRLEN {
            attributes(&m.payload[NLMSG_HDRLEN.min(m.payload.len())..]);
        }
    }
}

// ---------------------------------------------------------------------
// rtnetlink messages. Each target's input is one message payload (what
// follows `struct nlmsghdr`); seeds are payloads of real kernel replies.
// ---------------------------------------------------------------------

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::rtnl::addr::Address;
use crate::rtnl::link::message::{parse_link_payload, write_link};
use crate::rtnl::link::Link;
use crate::rtnl::neigh::{FdbEntry, Neighbour};
use crate::rtnl::route::{AnyRoute, Route, RouteAddr, RouteFlags};
use crate::rtnl::rule::Rule;

/// Inputs past this size are skipped by the properties whose encoders
/// gather repeated attributes into one nest: netlink caps a nest at 64 KiB,
/// and the encoders document that they panic past it.
const MAX_INPUT: usize = 60_000;

fn encode(f: impl FnOnce(&mut AttrWriter<'_>)) -> Vec<u8> {
    let mut buf = Vec::new();
    f(&mut AttrWriter::new(&mut buf));
    buf
}

fn as_msg(ty: u16, payload: &[u8]) -> Msg<'_> {
    Msg { header: Header { len: (NLMSG_HDRLEN + payload.len()) as u32, ty, ..Header::default() }, payload }
}

/// Decode, encode, decode again: equal; and encoding again gives the same
/// bytes. `view` drops what the encoder does not carry by design.
fn round_trip<T: PartialEq + std::fmt::Debug>(
    what: &str,
    data: &[u8],
    decode: impl Fn(&[u8]) -> Option<T>,
    write: impl Fn(&T, &mut AttrWriter<'_>),
    view: impl Fn(T) -> T,
) -> bool {
    if data.len() > MAX_INPUT {
        return false;
    }
    let Some(first) = decode(data) else { return false };
    let first = view(first);
    let bytes = encode(|w| write(&first, w));
    let second = decode(&bytes).unwrap_or_else(|| panic!("{what}: re-encoded message does not decode"));
    let second = view(second);
    assert_eq!(first, second, "{what}: decode(encode(decode(x))) != decode(x)");
    let again = encode(|w| write(&second, w));
    assert_eq!(bytes, again, "{what}: encoding is not stable");
    true
}

/// `RTM_NEWLINK` payloads: [`parse_link_payload`] and [`write_link`], which
/// carries every field (unknown attributes too).
pub fn link(data: &[u8]) -> bool {
    round_trip("link", data, |b| parse_link_payload(b).ok(), write_link, |l| l)
}

/// `RTM_NEWADDR` payloads: [`Address::parse`] and [`Address::write`]. The
/// request encoder does not send attributes netplumb does not model.
pub fn address(data: &[u8]) -> bool {
    round_trip(
        "address",
        data,
        |b| Address::parse(&as_msg(20, b)).ok(),
        |a, w| a.write(w),
        |mut a| {
            a.unknown.clear();
            a
        },
    )
}

/// What [`Route::write`] carries: reply-only fields (input link, mark,
/// `RTM_F_*` flags, unmodelled attributes) are not part of a request.
fn route_view<A: RouteAddr>(mut r: Route<A>) -> Route<A> {
    r.iif = None;
    r.mark = None;
    r.unknown.clear();
    r.flags = RouteFlags::from_bits_retain(r.flags.bits() & 0xff);
    r
}

/// `RTM_NEWROUTE` payloads of either family: [`AnyRoute::parse`] and
/// [`Route::write`].
pub fn route(data: &[u8]) -> bool {
    round_trip(
        "route",
        data,
        |b| AnyRoute::parse(&as_msg(24, b)).ok(),
        |r, w| match r {
            AnyRoute::V4(r) => r.write(w),
            AnyRoute::V6(r) => r.write(w),
        },
        |r| match r {
            AnyRoute::V4(r) => AnyRoute::V4(route_view(r)),
            AnyRoute::V6(r) => AnyRoute::V6(route_view(r)),
        },
    )
}

/// `RTM_NEWNEIGH` payloads: ARP/NDP entries ([`Neighbour`]) and, for
/// `AF_BRIDGE`, FDB entries ([`FdbEntry`]). Reply-only fields (probes,
/// the bridge an FDB entry is reported under) are not part of a request.
pub fn neighbour(data: &[u8]) -> bool {
    if data.first() == Some(&crate::rtnl::AF_BRIDGE) {
        round_trip(
            "fdb entry",
            data,
            |b| FdbEntry::parse(&as_msg(28, b)).ok(),
            |e, w| e.write(w),
            |mut e| {
                e.master = None;
                e.unknown.clear();
                e
            },
        )
    } else {
        round_trip(
            "neighbour",
            data,
            |b| Neighbour::parse(&as_msg(28, b)).ok(),
            |n, w| n.write(w),
            |mut n| {
                n.probes = None;
                n.unknown.clear();
                n
            },
        )
    }
}

/// `RTM_NEWRULE` payloads: [`Rule::parse`] and [`Rule::write`].
pub fn rule(data: &[u8]) -> bool {
    round_trip(
        "rule",
        data,
        |b| Rule::parse(&as_msg(32, b)).ok(),
        |r, w| r.write(w),
        |mut r| {
            r.unknown.clear();
            r
        },
    )
}

// ---------------------------------------------------------------------
// Structured: typed values built from the fuzzer's bytes, encoded,
// decoded, compared.
// ---------------------------------------------------------------------

/// Reads typed values from fuzzer bytes; past the end everything is 0.
#[derive(Debug)]
pub struct Gen<'a> {
    data: &'a [u8],
}

impl<'a> Gen<'a> {
    /// Read from `data`.
    pub fn new(data: &'a [u8]) -> Gen<'a> {
        Gen { data }
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.data.len()
    }

    /// `N` bytes, zero-padded past the end.
    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let n = N.min(self.data.len());
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        out
    }

    /// A byte.
    pub fn u8(&mut self) -> u8 {
        self.array::<1>()[0]
    }

    /// A `u16`.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.array())
    }

    /// A `u32`.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.array())
    }

    /// A `u64`.
    pub fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.array())
    }

    /// A boolean.
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// `Some(f(self))` or `None`.
    pub fn opt<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> Option<T> {
        if self.bool() {
            Some(f(self))
        } else {
            None
        }
    }

    /// Up to `max` items.
    pub fn vec<T>(&mut self, max: usize, mut f: impl FnMut(&mut Self) -> T) -> Vec<T> {
        let n = self.u8() as usize % (max + 1);
        (0..n).map(|_| f(self)).collect()
    }

    /// Up to `max` bytes.
    pub fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = (self.u8() as usize % (max + 1)).min(self.data.len());
        let (b, rest) = self.data.split_at(n);
        self.data = rest;
        b.to_vec()
    }

    /// A string of up to `max` printable ASCII characters (no NUL).
    pub fn string(&mut self, max: usize) -> String {
        self.bytes(max).into_iter().map(|b| (b' ' + b % 95) as char).collect()
    }

    /// An IPv4 address.
    pub fn ipv4(&mut self) -> Ipv4Addr {
        Ipv4Addr::from(self.array::<4>())
    }

    /// An IPv6 address.
    pub fn ipv6(&mut self) -> Ipv6Addr {
        Ipv6Addr::from(self.array::<16>())
    }

    /// An address of either family.
    pub fn ip(&mut self) -> IpAddr {
        if self.bool() {
            IpAddr::V6(self.ipv6())
        } else {
            IpAddr::V4(self.ipv4())
        }
    }

    /// A prefix of the family of `ip` (host bits kept).
    pub fn net_of(&mut self, ip: IpAddr) -> ipnet::IpNet {
        let max = if ip.is_ipv4() { 32 } else { 128 };
        ipnet::IpNet::new(ip, self.u8() % (max + 1)).expect("length in range")
    }
}

fn check_typed<T: PartialEq + std::fmt::Debug>(
    what: &str,
    value: &T,
    write: impl Fn(&T, &mut AttrWriter<'_>),
    decode: impl Fn(&[u8]) -> Result<T, crate::error::DecodeError>,
    expected: impl Fn(&T) -> T,
) {
    let bytes = encode(|w| write(value, w));
    let back = decode(&bytes)
        .unwrap_or_else(|e| panic!("{what}: {value:?} encodes to bytes that do not decode: {e}"));
    assert_eq!(back, expected(value), "{what}: decode(encode(v)) != v");
}

fn gen_route<A: RouteAddr>(g: &mut Gen<'_>, addr: fn(&mut Gen<'_>) -> A) -> Route<A> {
    use crate::rtnl::route::{NextHop, RouteProtocol, RouteTable, RouteType};
    let net = |g: &mut Gen<'_>| {
        let a = addr(g);
        let len = g.u8() % (A::BITS + 1);
        A::net(a, len).expect("length in range")
    };
    let mut r = Route::new(net(g));
    r.src = g.opt(net);
    r.gateway = g.opt(addr);
    r.oif = g.opt(|g| crate::IfIndex(g.u32()));
    r.prefsrc = g.opt(addr);
    r.table = RouteTable(g.u32());
    r.scope = g.opt(|g| crate::rtnl::Scope::from_raw(g.u8()));
    r.protocol = RouteProtocol(g.u8());
    r.metric = g.opt(Gen::u32);
    r.kind = RouteType::from_raw(g.u8());
    r.tos = g.u8();
    r.flags = RouteFlags::from_bits_retain(g.u8() as u32);
    r.nexthops = g.vec(3, |g| NextHop {
        gateway: g.opt(addr),
        via: g.opt(|g| IpAddr::V6(g.ipv6())),
        oif: g.opt(|g| crate::IfIndex(g.u32().max(1))),
        weight: g.u8() as u16 + 1,
        flags: RouteFlags::from_bits_retain(g.u8() as u32),
    });
    r.mtu = g.opt(Gen::u32);
    r.advmss = g.opt(Gen::u32);
    r.pref = g.opt(Gen::u8);
    r.congctl = g.opt(|g| g.string(15));
    r.other_metrics = g.vec(3, |g| {
        use crate::rtnl::route::rtax;
        let k = g.u16() & crate::wire::attr::NLA_TYPE_MASK;
        let k = if [rtax::MTU, rtax::ADVMSS, rtax::CC_ALGO].contains(&k) { 1 } else { k };
        (crate::rtnl::route::Metric::from_raw(k), g.u32())
    });
    r.via = g.opt(|g| IpAddr::V6(g.ipv6()));
    r.expires = g.opt(|g| std::time::Duration::from_secs(g.u32() as u64));
    r.realms = g.opt(|g| (g.u16(), g.u16()));
    r.nh_id = g.opt(Gen::u32);
    r
}

fn check_route<A: RouteAddr>(r: Route<A>) {
    let _ = r.validate();
    check_typed(
        "typed route",
        &r,
        |r, w| r.write(w),
        |b| Route::<A>::parse(&as_msg(24, b)),
        |r| {
            let mut e = r.clone();
            e.scope = Some(r.effective_scope());
            e
        },
    );
}

fn gen_address(g: &mut Gen<'_>) -> Address {
    let ip = g.ip();
    let mut a = Address::new(crate::IfIndex(g.u32()), g.net_of(ip));
    a.peer = g.opt(Gen::ip);
    a.broadcast = g.opt(Gen::ipv4);
    a.label = g.opt(|g| g.string(15));
    a.scope = crate::rtnl::Scope::from_raw(g.u8());
    a.flags = crate::rtnl::addr::AddrFlags::from_bits_retain(g.u32());
    a.valid_lft = g.opt(Gen::u32);
    a.preferred_lft = g.opt(Gen::u32);
    a.metric = g.opt(Gen::u32);
    a
}

fn gen_neighbour(g: &mut Gen<'_>) -> Neighbour {
    use crate::rtnl::neigh::{NeighFlags, NeighState};
    let mut n = Neighbour::new(crate::IfIndex(g.u32()), g.ip(), crate::MacAddr(g.array()));
    n.lladdr = g.opt(|g| g.bytes(32));
    n.state = NeighState::from_bits_retain(g.u16());
    n.flags = NeighFlags::from_bits_retain(g.u8());
    n.protocol = g.opt(Gen::u8);
    n
}

fn gen_fdb(g: &mut Gen<'_>) -> FdbEntry {
    use crate::rtnl::neigh::{NeighFlags, NeighState};
    let mut e = FdbEntry::new(crate::IfIndex(g.u32()), crate::MacAddr(g.array()));
    e.dst = g.opt(Gen::ip);
    e.vni = g.opt(Gen::u32);
    e.port = g.opt(Gen::u16);
    e.via = g.opt(|g| crate::IfIndex(g.u32()));
    e.vlan = g.opt(Gen::u16);
    e.src_vni = g.opt(Gen::u32);
    e.state = NeighState::from_bits_retain(g.u16());
    e.flags = NeighFlags::from_bits_retain(g.u8());
    e
}

fn gen_rule(g: &mut Gen<'_>) -> Rule {
    use crate::rtnl::route::RouteTable;
    use crate::rtnl::rule::{RuleAction, RuleFlags};
    let mut r = if g.bool() { Rule::v6() } else { Rule::v4() };
    let prefix = |g: &mut Gen<'_>, v6: bool| {
        let ip = if v6 { IpAddr::V6(g.ipv6()) } else { IpAddr::V4(g.ipv4()) };
        g.net_of(ip)
    };
    r.priority = g.opt(Gen::u32);
    r.fwmark = g.opt(Gen::u32);
    r.fwmask = g.opt(Gen::u32);
    r.table = RouteTable(g.u32());
    r.src = g.opt(|g| prefix(g, r.v6));
    r.dst = g.opt(|g| prefix(g, r.v6));
    r.iif = g.opt(|g| g.string(15));
    r.oif = g.opt(|g| g.string(15));
    r.tos = g.u8();
    r.action = RuleAction::from_raw(g.u8());
    r.goto = g.opt(Gen::u32);
    // u32::MAX is how the kernel says "unset": it decodes as None.
    r.suppress_prefixlen = g.opt(Gen::u32).filter(|&v| v != u32::MAX);
    r.suppress_ifgroup = g.opt(Gen::u32).filter(|&v| v != u32::MAX);
    r.realms = g.opt(|g| (g.u16(), g.u16()));
    r.l3mdev = g.bool();
    r.uid_range = g.opt(|g| (g.u32(), g.u32()));
    r.ip_proto = g.opt(Gen::u8);
    r.sport = g.opt(|g| (g.u16(), g.u16()));
    r.dport = g.opt(|g| (g.u16(), g.u16()));
    r.tun_id = g.opt(Gen::u64);
    r.flags = RuleFlags::from_bits_retain(g.u32());
    r.protocol = g.opt(Gen::u8);
    r
}

fn gen_link(g: &mut Gen<'_>) -> Link {
    use std::time::Duration;

    use crate::rtnl::link::{
        Bridge, BridgePort, Ipvlan, IpvlanFlags, IpvlanMode, LinkFlags, LinkKind, LinkStats, Macvlan,
        MacvlanMode, OperState, PortInfo, PortState, Veth, Vlan, VlanProtocol, Vxlan,
    };
    use crate::rtnl::RawAttr;
    use crate::IfIndex;

    let mut l = Link {
        index: IfIndex(g.u32()),
        name: g.string(15),
        link_type: g.u16(),
        flags: LinkFlags::from_bits_retain(g.u32()),
        ..Link::default()
    };
    l.address = g.opt(|g| g.bytes(32));
    l.broadcast = g.opt(|g| g.bytes(32));
    l.perm_address = g.opt(|g| g.bytes(32));
    l.mtu = g.opt(Gen::u32);
    l.min_mtu = g.opt(Gen::u32);
    l.max_mtu = g.opt(Gen::u32);
    l.oper_state = OperState::from_raw(g.u8());
    l.master = g.opt(|g| IfIndex(g.u32()));
    l.link = g.opt(|g| IfIndex(g.u32()));
    l.link_netnsid = g.opt(|g| g.u32() as i32);
    l.group = g.u32();
    l.txqlen = g.opt(Gen::u32);
    l.alias = g.opt(|g| g.string(64));
    l.carrier = g.opt(Gen::bool);
    l.qdisc = g.opt(|g| g.string(16));
    l.stats = g.opt(|g| LinkStats {
        rx_packets: g.u64(),
        tx_bytes: g.u64(),
        rx_otherhost_dropped: g.u64(),
        ..LinkStats::default()
    });
    let lower = l.link.unwrap_or(IfIndex(0));
    let cs = |g: &mut Gen<'_>| Duration::from_millis(g.u32() as u64 * 10);
    let nonzero_ip = |g: &mut Gen<'_>| Some(g.ip()).filter(|ip| !ip.is_unspecified());
    l.kind = match g.u8() % 15 {
        0 => None,
        1 => Some(LinkKind::Veth(Veth { peer: None })),
        2 => Some(LinkKind::Bridge(Bridge {
            stp: g.opt(Gen::bool),
            forward_delay: g.opt(cs),
            hello_time: g.opt(cs),
            max_age: g.opt(cs),
            ageing_time: g.opt(cs),
            priority: g.opt(Gen::u16),
            vlan_filtering: g.opt(Gen::bool),
            vlan_default_pvid: g.opt(Gen::u16),
        })),
        3 => Some(LinkKind::Vxlan(Vxlan {
            vni: g.u32(),
            remote: nonzero_ip(g),
            local: nonzero_ip(g),
            port: g.opt(Gen::u16),
            learning: g.opt(Gen::bool),
            ttl: g.opt(Gen::u8),
            link: g.opt(|g| IfIndex(g.u32().max(1))),
            ageing: g.opt(Gen::u32),
            tos: g.opt(Gen::u8),
            udp_csum: g.opt(Gen::bool),
            udp6_zero_csum_tx: g.opt(Gen::bool),
            udp6_zero_csum_rx: g.opt(Gen::bool),
            external: g.opt(Gen::bool),
            df: g.opt(|g| crate::rtnl::link::VxlanDf::from_raw(g.u8())),
            port_range: g.opt(|g| (g.u16(), g.u16())),
        })),
        4 => {
            Some(LinkKind::Macvlan(Macvlan { link: lower, mode: g.opt(|g| MacvlanMode::from_raw(g.u32())) }))
        }
        5 => Some(LinkKind::Ipvlan(Ipvlan {
            link: lower,
            mode: IpvlanMode::from_raw(g.u16()),
            flags: IpvlanFlags::from_raw(g.u16()),
        })),
        6 => Some(LinkKind::Vlan(Vlan {
            link: lower,
            id: g.u16(),
            protocol: g.opt(|g| VlanProtocol::from_raw(g.u16())),
        })),
        7 => Some(LinkKind::Dummy(crate::rtnl::link::Dummy)),
        8 => {
            Some(LinkKind::Macvtap(Macvlan { link: lower, mode: g.opt(|g| MacvlanMode::from_raw(g.u32())) }))
        }
        9 => Some(LinkKind::Vrf(crate::rtnl::link::Vrf { table: g.u32() })),
        10 => Some(LinkKind::Bond(crate::rtnl::link::Bond {
            mode: g.opt(|g| crate::rtnl::link::BondMode::from_raw(g.u8())),
            miimon: g.opt(Gen::u32),
        })),
        11 => Some(LinkKind::Geneve(crate::rtnl::link::Geneve {
            vni: g.u32(),
            remote: nonzero_ip(g),
            ttl: g.u8(),
            tos: g.u8(),
            label: g.u32(),
            port: g.opt(Gen::u16),
            external: g.bool(),
        })),
        12 => Some(LinkKind::Wireguard(crate::rtnl::link::Wireguard)),
        _ => {
            let kind = format!("x{}", g.string(8));
            Some(LinkKind::Other { kind, data: g.opt(|g| g.bytes(64)) })
        }
    };
    l.port = match g.u8() % 3 {
        0 => None,
        1 => Some(PortInfo::Bridge(BridgePort {
            state: g.opt(|g| PortState::from_raw(g.u8())),
            priority: g.opt(Gen::u16),
            cost: g.opt(Gen::u32),
            hairpin: g.opt(Gen::bool),
            guard: g.opt(Gen::bool),
            learning: g.opt(Gen::bool),
            unicast_flood: g.opt(Gen::bool),
            mcast_flood: g.opt(Gen::bool),
            bcast_flood: g.opt(Gen::bool),
            proxy_arp: g.opt(Gen::bool),
            neigh_suppress: g.opt(Gen::bool),
            isolated: g.opt(Gen::bool),
        })),
        _ => Some(PortInfo::Other { kind: format!("x{}", g.string(8)), data: g.opt(|g| g.bytes(64)) }),
    };
    l.promiscuity = g.opt(Gen::u32);
    l.allmulti = g.opt(Gen::u32);
    l.num_tx_queues = g.opt(Gen::u32);
    l.num_rx_queues = g.opt(Gen::u32);
    l.gso_max_segs = g.opt(Gen::u32);
    l.gso_max_size = g.opt(Gen::u32);
    l.gro_max_size = g.opt(Gen::u32);
    l.tso_max_size = g.opt(Gen::u32);
    l.tso_max_segs = g.opt(Gen::u32);
    l.proto_down = g.opt(Gen::bool);
    l.carrier_changes = g.opt(Gen::u32);
    l.carrier_up_count = g.opt(Gen::u32);
    l.carrier_down_count = g.opt(Gen::u32);
    l.altnames = g.vec(2, |g| g.string(20));
    // Attributes netplumb does not model: IFLA_LINKMODE, _PHYS_SWITCH_ID,
    // _PHYS_PORT_NAME, _AF_SPEC (raw, read through Link::af_spec);
    // IFLA_INFO_XSTATS.
    l.unknown = g.vec(3, |g| RawAttr { kind: [17, 36, 38, 26][g.u8() as usize % 4], payload: g.bytes(8) });
    l.linkinfo_unknown = g.vec(2, |g| RawAttr { kind: 3, payload: g.bytes(8) });
    l
}

fn check_link(l: Link) {
    // The decoder also keeps the kind's settings as raw bytes
    // (`info_data`), which a built link does not have.
    let decode = |b: &[u8]| {
        parse_link_payload(b).map(|mut l| {
            l.info_data = None;
            l
        })
    };
    check_typed("typed link", &l, write_link, decode, Clone::clone);
}

/// Typed values of every rtnetlink family built from `data`, encoded,
/// decoded and compared with what the encoder promises to carry.
pub fn typed(data: &[u8]) {
    let mut g = Gen::new(data);
    match g.u8() % 7 {
        0 => check_route(gen_route(&mut g, |g| g.ipv4())),
        1 => check_route(gen_route(&mut g, |g| g.ipv6())),
        2 => {
            let a = gen_address(&mut g);
            let _ = a.validate();
            check_typed(
                "typed address",
                &a,
                |a, w| a.write(w),
                |b| Address::parse(&as_msg(20, b)),
                |a| {
                    let mut e = a.clone();
                    // An IFA_ADDRESS equal to IFA_LOCAL is no peer; a lifetime
                    // of u32::MAX is forever.
                    e.peer = a.peer.filter(|p| *p != a.address.addr());
                    e.valid_lft = a.valid_lft.filter(|v| *v != u32::MAX);
                    e.preferred_lft = a.preferred_lft.filter(|v| *v != u32::MAX);
                    e
                },
            );
        }
        3 => {
            let n = gen_neighbour(&mut g);
            let _ = n.validate();
            check_typed(
                "typed neighbour",
                &n,
                |n, w| n.write(w),
                |b| Neighbour::parse(&as_msg(28, b)),
                Clone::clone,
            );
        }
        4 => {
            let e = gen_fdb(&mut g);
            let _ = e.validate();
            check_typed(
                "typed fdb entry",
                &e,
                |e, w| e.write(w),
                |b| FdbEntry::parse(&as_msg(28, b)),
                Clone::clone,
            );
        }
        5 => {
            let r = gen_rule(&mut g);
            let _ = r.validate();
            check_typed("typed rule", &r, |r, w| r.write(w), |b| Rule::parse(&as_msg(32, b)), Clone::clone);
        }
        _ => check_link(gen_link(&mut g)),
    }
}

/// A conntrack flow message payload (`struct nfgenmsg` and attributes):
/// whatever decodes re-encodes to bytes that decode to the same flow, and
/// encoding is stable from then on.
pub fn conntrack_flow(data: &[u8]) {
    use crate::conntrack::Flow;
    let Ok(first) = Flow::decode(data) else { return };
    let bytes = first.encode();
    let second = Flow::decode(&bytes).expect("a re-encoded flow decodes");
    // Unknown attributes come back grouped by the nest they belong in, so
    // compare them as sets.
    assert_eq!(normalized(&first), normalized(&second), "flow round trip");
    assert_eq!(second.encode(), bytes, "flow encoding is stable");
    // Rendering never panics.
    let _ = second.to_conntrack_line();
    let _ = second.nat();
}

fn normalized(f: &crate::conntrack::Flow) -> crate::conntrack::Flow {
    let mut f = f.clone();
    f.unknown.sort_by(|a, b| (a.parent, a.raw_type, &a.payload).cmp(&(b.parent, b.raw_type, &b.payload)));
    for t in [&mut f.orig, &mut f.reply].into_iter().chain(f.extra.master.as_mut()) {
        t.unknown.sort_by(|a, b| (a.parent, a.raw_type, &a.payload).cmp(&(b.parent, b.raw_type, &b.payload)));
    }
    f
}

/// nftables messages: the payload of a table, chain, rule, set, element
/// or object message (nfgenmsg + attributes). Whatever decodes is put in a
/// [`crate::nft::Transaction`] (the batch netplumb sends), and each message
/// of that batch decodes back to the same value, listing-only fields
/// aside; expressions netplumb does not model come back byte for byte.
/// Returns whether any decoder accepted the input.
pub fn nft(data: &[u8]) -> bool {
    use crate::nft::consts::{
        msg as nft_msg, NFT_MSG_NEWCHAIN, NFT_MSG_NEWOBJ, NFT_MSG_NEWRULE, NFT_MSG_NEWSET,
        NFT_MSG_NEWSETELEM, NFT_MSG_NEWTABLE,
    };
    use crate::nft::expr::{decode_list, encode_list};
    use crate::nft::{decode_elements, Chain, DataType, KeyType, Object, Rule, Set, Table, Transaction};
    use crate::wire::NLA_F_NESTED;

    if data.len() > MAX_INPUT {
        return false;
    }
    let m = as_msg(0, data);
    let mut decoded = false;
    // The one message of type `ty` in the transaction's batch, decoded.
    fn only<T>(tx: &Transaction, ty: u16, decode: impl Fn(&Msg<'_>) -> T) -> T {
        let batch: Vec<u8> = tx.messages().flat_map(|b| b.iter().copied()).collect();
        let msgs: Vec<Msg<'_>> = MsgIter::new(&batch)
            .map(|m| m.expect("the batch parses"))
            .filter(|m| m.header.ty == ty)
            .collect();
        assert_eq!(msgs.len(), 1, "one message of type {ty:#x} in the batch");
        decode(&msgs[0])
    }

    // Put a decoded value in a transaction; its one message decodes back
    // to the value, listing-only fields cleared by `view`.
    fn through_tx<T: PartialEq + std::fmt::Debug, E: std::fmt::Debug>(
        value: T,
        add: impl FnOnce(&mut Transaction, &T) -> Result<crate::nft::OpId, crate::Error>,
        ty: u16,
        decode: impl Fn(&Msg<'_>) -> Result<T, E>,
        view: impl Fn(T) -> T,
        what: &str,
    ) {
        let mut tx = Transaction::new();
        if add(&mut tx, &value).is_ok() {
            let back =
                only(&tx, ty, |m| decode(m).unwrap_or_else(|e| panic!("re-encoded {what} decodes: {e:?}")));
            assert_eq!(back, view(value), "{what} round trip");
        }
    }
    if let Ok(r) = Rule::decode(&m) {
        decoded = true;
        let mut buf = Vec::new();
        encode_list(&mut AttrWriter::new(&mut buf), 4, &r.exprs);
        let a = AttrIter::new(&buf).next().expect("one attribute").expect("re-encoded list parses");
        assert_eq!(a.raw_type, 4 | NLA_F_NESTED);
        assert_eq!(decode_list(&a).expect("re-encoded expressions decode"), r.exprs, "expression round trip");
        let view = |mut r: Rule| {
            r.handle = None;
            r.position = None;
            r
        };
        through_tx(r, |tx, r| tx.add_rule(r), nft_msg(NFT_MSG_NEWRULE), Rule::decode, view, "rule");
    }
    if let Ok(t) = Table::decode(&m) {
        decoded = true;
        let view = |mut t: Table| {
            t.handle = None;
            t.use_count = None;
            t.owner = None;
            t
        };
        through_tx(t, |tx, t| tx.add_table(t), nft_msg(NFT_MSG_NEWTABLE), Table::decode, view, "table");
    }
    if let Ok(c) = Chain::decode(&m) {
        decoded = true;
        let view = |mut c: Chain| {
            c.handle = None;
            c.use_count = None;
            c.flags = None;
            c
        };
        through_tx(c, |tx, c| tx.add_chain(c), nft_msg(NFT_MSG_NEWCHAIN), Chain::decode, view, "chain");
    }
    if let Ok(s) = Set::decode(&m) {
        decoded = true;
        let view = |mut s: Set| {
            s.handle = None;
            s
        };
        through_tx(s, |tx, s| tx.add_set(s), nft_msg(NFT_MSG_NEWSET), Set::decode, view, "set");
    }
    if let Ok((table, set, elems)) = decode_elements(&m) {
        decoded = true;
        // A plain set encodes elements one for one (interval sets expand
        // ranges into start and end markers).
        let family = crate::nft::Family::Inet;
        let s = Set::new(family, table, set, KeyType::single(DataType::INTEGER));
        let mut tx = Transaction::new();
        if tx.add_elements(&s, &elems).is_ok() {
            let batch: Vec<u8> = tx.messages().flat_map(|b| b.iter().copied()).collect();
            let mut back = Vec::new();
            for m in MsgIter::new(&batch) {
                let m = m.expect("the batch parses");
                if m.header.ty == nft_msg(NFT_MSG_NEWSETELEM) {
                    let (t, n, e) = decode_elements(&m).expect("re-encoded elements decode");
                    assert_eq!((t.as_str(), n.as_str()), (s.table.as_str(), s.name.as_str()));
                    back.extend(e);
                }
            }
            let view = |mut e: crate::nft::Element| {
                // Listing only, and per-element expressions come from the
                // set's declaration, not from the element.
                e.expiration = None;
                e.exprs.clear();
                e
            };
            assert_eq!(back, elems.into_iter().map(view).collect::<Vec<_>>(), "element round trip");
        }
    }
    if let Ok(o) = Object::decode(&m) {
        decoded = true;
        let view = |mut o: Object| {
            o.handle = None;
            o
        };
        through_tx(o, |tx, o| tx.add_object(o), nft_msg(NFT_MSG_NEWOBJ), Object::decode, view, "object");
    }
    decoded
}

/// A conntrack event datagram (netlink messages as the event socket
/// receives them): each event decodes, re-encodes as the kernel would send
/// it, and decodes to the same event.
pub fn conntrack_event(data: &[u8]) -> bool {
    use crate::conntrack::consts::{msg_type, IPCTNL_MSG_CT_DELETE, IPCTNL_MSG_CT_NEW};
    use crate::conntrack::{EventKind, FlowEvent};
    let mut decoded = false;
    for m in MsgIter::new(data) {
        let Ok(m) = m else { break };
        let Ok(Some(ev)) = FlowEvent::decode(&m) else { continue };
        decoded = true;
        let (ty, flags) = match ev.kind {
            EventKind::New => {
                (msg_type(IPCTNL_MSG_CT_NEW), crate::wire::NLM_F_CREATE | crate::wire::NLM_F_EXCL)
            }
            EventKind::Update => (msg_type(IPCTNL_MSG_CT_NEW), 0),
            EventKind::Destroy => (msg_type(IPCTNL_MSG_CT_DELETE), 0),
        };
        let payload = ev.flow.encode();
        let m2 = Msg {
            header: Header { len: (NLMSG_HDRLEN + payload.len()) as u32, ty, flags, ..Header::default() },
            payload: &payload,
        };
        let back = FlowEvent::decode(&m2).expect("re-encoded event decodes").expect("an event");
        assert_eq!(back.kind, ev.kind, "event kind round trip");
        assert_eq!(normalized(&back.flow), normalized(&ev.flow), "event flow round trip");
    }
    decoded
}

/// Traffic-control messages (`RTM_NEWQDISC`, `RTM_NEWTCLASS`,
/// `RTM_NEWTFILTER` payloads, `struct tcmsg` first): each decoder that
/// accepts the input must round-trip through its request encoder.
/// Read-only parts (statistics, hit counters, action bookkeeping) are not
/// part of a request; kinds, classifiers and actions netplumb does not
/// model come back byte for byte. Returns whether any decoder accepted it.
pub fn tc(data: &[u8]) -> bool {
    use crate::tc::{Class, Filter, FilterKind, KernelInfo, Qdisc};

    fn actions_view(acts: &mut [crate::tc::Action]) {
        for a in acts {
            a.stats = None;
            a.kernel.clear();
        }
    }
    let q = round_trip(
        "qdisc",
        data,
        |b| Qdisc::parse_payload(b).ok(),
        |q, w| q.write(w),
        |mut q| {
            q.kernel = KernelInfo::default();
            q
        },
    );
    let c = round_trip(
        "class",
        data,
        |b| Class::parse_payload(b).ok(),
        |c, w| c.write(w),
        |mut c| {
            c.kernel = KernelInfo::default();
            c
        },
    );
    let f = round_trip(
        "filter",
        data,
        |b| Filter::parse_payload(b).ok(),
        |f, w| f.write(w),
        |mut f| {
            f.kernel = KernelInfo::default();
            match &mut f.kind {
                FilterKind::U32(u) => {
                    u.pcnt = None;
                    actions_view(&mut u.actions);
                }
                FilterKind::MatchAll(m) => {
                    m.pcnt = None;
                    actions_view(&mut m.actions);
                }
                FilterKind::Flower(fl) => actions_view(&mut fl.actions),
                FilterKind::Other { .. } => {}
            }
            f
        },
    );
    q || c || f
}
