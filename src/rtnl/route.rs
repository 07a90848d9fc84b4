//! IPv4 and IPv6 routes: add, replace, delete, list, look up, follow —
//! what `ip route` does.
//!
//! A route's family is its type: [`Route<Ipv4Addr>`] ([`RouteV4`]) and
//! [`Route<Ipv6Addr>`] ([`RouteV6`]) cannot be mixed by accident — a v4
//! route cannot get a v6 gateway.
//!
//! ```no_run
//! # async fn demo(rt: &netplumb::Rtnl, eth0: netplumb::IfIndex) -> netplumb::Result<()> {
//! use netplumb::route::RouteV4;
//! // ip route add default via 10.244.1.1 dev eth0
//! rt.routes().add(&RouteV4::new("0.0.0.0/0".parse().unwrap()).gateway("10.244.1.1".parse().unwrap()).oif(eth0)).await?;
//! // ip route add 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink
//! rt.routes().add(&RouteV4::new("10.244.2.0/24".parse().unwrap()).gateway("10.244.2.0".parse().unwrap()).oif(eth0).onlink()).await?;
//! # Ok(()) }
//! ```

use std::fmt::Debug;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use bitflags::bitflags;
use ipnet::{Ipv4Net, Ipv6Net};

use crate::conn::{Batch, Connection, Dump, Request, Subscription};
use crate::error::{DecodeError, Error, Result};
use crate::rtnl::{self, groups, header, rtm, Change, IfIndex, RawAttr, Scope, Snapshot, AF_INET, AF_INET6};
use crate::wire::{
    attr::{malformed_attr, split_attr},
    Attr, AttrIter, AttrWriter, Msg, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE,
};

/// `RTA_*` attribute numbers (`include/uapi/linux/rtnetlink.h`).
#[allow(missing_docs)]
pub(crate) mod rta {
    pub const DST: u16 = libc::RTA_DST;
    pub const SRC: u16 = libc::RTA_SRC;
    pub const IIF: u16 = libc::RTA_IIF;
    pub const OIF: u16 = libc::RTA_OIF;
    pub const GATEWAY: u16 = libc::RTA_GATEWAY;
    pub const PRIORITY: u16 = libc::RTA_PRIORITY;
    pub const PREFSRC: u16 = libc::RTA_PREFSRC;
    pub const METRICS: u16 = libc::RTA_METRICS;
    pub const MULTIPATH: u16 = libc::RTA_MULTIPATH;
    pub const FLOW: u16 = libc::RTA_FLOW;
    pub const CACHEINFO: u16 = libc::RTA_CACHEINFO;
    pub const TABLE: u16 = libc::RTA_TABLE;
    pub const MARK: u16 = libc::RTA_MARK;
    pub const VIA: u16 = libc::RTA_VIA;
    pub const PREF: u16 = libc::RTA_PREF;
    pub const EXPIRES: u16 = libc::RTA_EXPIRES;
    pub const NH_ID: u16 = 30;
}

/// `RTAX_*` metrics inside `RTA_METRICS`.
#[allow(missing_docs)]
pub(crate) mod rtax {
    pub const LOCK: u16 = 1;
    pub const MTU: u16 = 2;
    pub const WINDOW: u16 = 3;
    pub const RTT: u16 = 4;
    pub const RTTVAR: u16 = 5;
    pub const SSTHRESH: u16 = 6;
    pub const CWND: u16 = 7;
    pub const ADVMSS: u16 = 8;
    pub const REORDERING: u16 = 9;
    pub const HOPLIMIT: u16 = 10;
    pub const INITCWND: u16 = 11;
    pub const FEATURES: u16 = 12;
    pub const RTO_MIN: u16 = 13;
    pub const INITRWND: u16 = 14;
    pub const QUICKACK: u16 = 15;
    pub const CC_ALGO: u16 = 16;
    pub const FASTOPEN_NO_COOKIE: u16 = 17;
}

/// A route metric (`RTAX_*`) other than `mtu`, `advmss` and `congctl`
/// (which [`Route`] has fields for), named as `ip route` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Metric {
    /// `lock`: bit `1 << RTAX_x` locks metric x against path MTU
    /// discovery and the like (`mtu lock 1400`).
    Lock,
    /// `window`: TCP window clamp, bytes.
    Window,
    /// `rtt`: initial RTT estimate, in units of 1/8 ms (`ip` prints ms).
    Rtt,
    /// `rttvar`: initial RTT variance, in units of 1/4 ms (`ip` prints ms).
    Rttvar,
    /// `ssthresh`: initial slow start threshold.
    Ssthresh,
    /// `cwnd`: clamp for the congestion window.
    Cwnd,
    /// `reordering`: maximal reordering.
    Reordering,
    /// `hoplimit`: TTL / hop limit of outgoing packets.
    Hoplimit,
    /// `initcwnd`: initial congestion window.
    Initcwnd,
    /// `features`: bit 0 is `ecn`.
    Features,
    /// `rto_min`: minimal TCP retransmission timeout, ms.
    RtoMin,
    /// `initrwnd`: initial receive window.
    Initrwnd,
    /// `quickack`: 1 disables delayed acks.
    Quickack,
    /// `fastopen_no_cookie`: 1 allows TFO without a cookie.
    FastopenNoCookie,
    /// A metric of another number.
    Other(u16),
}

impl Metric {
    /// From the `RTAX_*` number. `RTAX_MTU`, `RTAX_ADVMSS` and
    /// `RTAX_CC_ALGO` come back as `Other`: they have [`Route`] fields.
    pub fn from_raw(v: u16) -> Metric {
        match v {
            rtax::LOCK => Metric::Lock,
            rtax::WINDOW => Metric::Window,
            rtax::RTT => Metric::Rtt,
            rtax::RTTVAR => Metric::Rttvar,
            rtax::SSTHRESH => Metric::Ssthresh,
            rtax::CWND => Metric::Cwnd,
            rtax::REORDERING => Metric::Reordering,
            rtax::HOPLIMIT => Metric::Hoplimit,
            rtax::INITCWND => Metric::Initcwnd,
            rtax::FEATURES => Metric::Features,
            rtax::RTO_MIN => Metric::RtoMin,
            rtax::INITRWND => Metric::Initrwnd,
            rtax::QUICKACK => Metric::Quickack,
            rtax::FASTOPEN_NO_COOKIE => Metric::FastopenNoCookie,
            v => Metric::Other(v),
        }
    }
    /// The `RTAX_*` number.
    pub fn to_raw(self) -> u16 {
        match self {
            Metric::Lock => rtax::LOCK,
            Metric::Window => rtax::WINDOW,
            Metric::Rtt => rtax::RTT,
            Metric::Rttvar => rtax::RTTVAR,
            Metric::Ssthresh => rtax::SSTHRESH,
            Metric::Cwnd => rtax::CWND,
            Metric::Reordering => rtax::REORDERING,
            Metric::Hoplimit => rtax::HOPLIMIT,
            Metric::Initcwnd => rtax::INITCWND,
            Metric::Features => rtax::FEATURES,
            Metric::RtoMin => rtax::RTO_MIN,
            Metric::Initrwnd => rtax::INITRWND,
            Metric::Quickack => rtax::QUICKACK,
            Metric::FastopenNoCookie => rtax::FASTOPEN_NO_COOKIE,
            Metric::Other(v) => v,
        }
    }
    /// The name `ip route` uses (`window`, `initcwnd`, ...), or
    /// `metric N` for unknown numbers.
    pub fn name(self) -> String {
        let n = match self {
            Metric::Lock => "lock",
            Metric::Window => "window",
            Metric::Rtt => "rtt",
            Metric::Rttvar => "rttvar",
            Metric::Ssthresh => "ssthresh",
            Metric::Cwnd => "cwnd",
            Metric::Reordering => "reordering",
            Metric::Hoplimit => "hoplimit",
            Metric::Initcwnd => "initcwnd",
            Metric::Features => "features",
            Metric::RtoMin => "rto_min",
            Metric::Initrwnd => "initrwnd",
            Metric::Quickack => "quickack",
            Metric::FastopenNoCookie => "fastopen_no_cookie",
            Metric::Other(v) => return format!("metric {v}"),
        };
        n.into()
    }
}

/// `struct rtvia`: a gateway of another family (`RTA_VIA`).
fn write_via(w: &mut AttrWriter<'_>, ty: u16, via: IpAddr) {
    let mut b = Vec::with_capacity(18);
    b.extend_from_slice(&(rtnl::family_of(via) as u16).to_ne_bytes());
    match via {
        IpAddr::V4(a) => b.extend_from_slice(&a.octets()),
        IpAddr::V6(a) => b.extend_from_slice(&a.octets()),
    }
    w.bytes(ty, &b);
}

/// An address attribute, without the allocation of [`RouteAddr::bytes`].
#[inline]
fn put_addr<A: RouteAddr>(w: &mut AttrWriter<'_>, ty: u16, a: A) {
    rtnl::put_ip(w, ty, a.ip());
}

fn parse_via(b: &[u8]) -> Result<IpAddr, DecodeError> {
    if b.len() < 2 {
        return Err(DecodeError::new("RTA_VIA", format!("{} bytes", b.len())));
    }
    let fam = u16::from_ne_bytes([b[0], b[1]]);
    let ip = rtnl::ip_from(&b[2..], "RTA_VIA")?;
    if fam as u8 != rtnl::family_of(ip) || fam > 255 {
        return Err(DecodeError::new("RTA_VIA", format!("family {fam} with {} address bytes", b.len() - 2)));
    }
    Ok(ip)
}

/// `USER_HZ`: the unit of `rta_cacheinfo.rta_expires`.
const USER_HZ: u64 = 100;

/// Size of `struct rtmsg`.
pub const RTMSG_LEN: usize = 12;

mod sealed {
    pub trait Sealed {}
    impl Sealed for std::net::Ipv4Addr {}
    impl Sealed for std::net::Ipv6Addr {}
}

/// An address family a [`Route`] can be of: [`Ipv4Addr`] or [`Ipv6Addr`].
pub trait RouteAddr: sealed::Sealed + Copy + Eq + Debug + Send + Sync + 'static {
    /// The prefix type (`Ipv4Net`, `Ipv6Net`).
    type Net: Copy + Eq + Debug + Send + Sync + 'static;
    /// `AF_INET` or `AF_INET6`.
    const FAMILY: u8;
    /// 32 or 128.
    const BITS: u8;
    /// The address bytes.
    fn bytes(self) -> Vec<u8>;
    /// From address bytes of the right length.
    fn from_bytes(b: &[u8]) -> Option<Self>;
    /// The prefix's address.
    fn net_addr(n: &Self::Net) -> Self;
    /// The prefix's length.
    fn net_len(n: &Self::Net) -> u8;
    /// A prefix (`None` if `len` is too long).
    fn net(addr: Self, len: u8) -> Option<Self::Net>;
    /// As an `IpAddr`.
    fn ip(self) -> IpAddr;
    /// Wrap a route of this family.
    fn any(r: Route<Self>) -> AnyRoute;
}

impl RouteAddr for Ipv4Addr {
    type Net = Ipv4Net;
    const FAMILY: u8 = AF_INET;
    const BITS: u8 = 32;
    fn bytes(self) -> Vec<u8> {
        self.octets().to_vec()
    }
    fn from_bytes(b: &[u8]) -> Option<Self> {
        Some(Ipv4Addr::from(<[u8; 4]>::try_from(b).ok()?))
    }
    fn net_addr(n: &Ipv4Net) -> Self {
        n.addr()
    }
    fn net_len(n: &Ipv4Net) -> u8 {
        n.prefix_len()
    }
    fn net(addr: Self, len: u8) -> Option<Ipv4Net> {
        Ipv4Net::new(addr, len).ok()
    }
    fn ip(self) -> IpAddr {
        IpAddr::V4(self)
    }
    fn any(r: Route<Self>) -> AnyRoute {
        AnyRoute::V4(r)
    }
}

impl RouteAddr for Ipv6Addr {
    type Net = Ipv6Net;
    const FAMILY: u8 = AF_INET6;
    const BITS: u8 = 128;
    fn bytes(self) -> Vec<u8> {
        self.octets().to_vec()
    }
    fn from_bytes(b: &[u8]) -> Option<Self> {
        Some(Ipv6Addr::from(<[u8; 16]>::try_from(b).ok()?))
    }
    fn net_addr(n: &Ipv6Net) -> Self {
        n.addr()
    }
    fn net_len(n: &Ipv6Net) -> u8 {
        n.prefix_len()
    }
    fn net(addr: Self, len: u8) -> Option<Ipv6Net> {
        Ipv6Net::new(addr, len).ok()
    }
    fn ip(self) -> IpAddr {
        IpAddr::V6(self)
    }
    fn any(r: Route<Self>) -> AnyRoute {
        AnyRoute::V6(r)
    }
}

/// A routing table id (`table`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteTable(pub u32);

impl RouteTable {
    /// `unspec` (0): in a filter, every table.
    pub const UNSPEC: RouteTable = RouteTable(0);
    /// `default` (253).
    pub const DEFAULT: RouteTable = RouteTable(253);
    /// `main` (254): where routes go unless told otherwise.
    pub const MAIN: RouteTable = RouteTable(254);
    /// `local` (255): local and broadcast addresses.
    pub const LOCAL: RouteTable = RouteTable(255);
}

impl Default for RouteTable {
    fn default() -> Self {
        RouteTable::MAIN
    }
}

/// Who installed a route (`proto`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteProtocol(pub u8);

impl RouteProtocol {
    /// `unspec` (0).
    pub const UNSPEC: RouteProtocol = RouteProtocol(0);
    /// `redirect` (1).
    pub const REDIRECT: RouteProtocol = RouteProtocol(1);
    /// `kernel` (2): from an address.
    pub const KERNEL: RouteProtocol = RouteProtocol(2);
    /// `boot` (3): what `ip route add` uses by default.
    pub const BOOT: RouteProtocol = RouteProtocol(3);
    /// `static` (4).
    pub const STATIC: RouteProtocol = RouteProtocol(4);
    /// `dhcp` (16).
    pub const DHCP: RouteProtocol = RouteProtocol(16);
    /// `bgp` (186).
    pub const BGP: RouteProtocol = RouteProtocol(186);
}

impl RouteProtocol {
    /// The name `ip` prints (`/etc/iproute2/rt_protos`), or the number.
    pub fn name(self) -> String {
        let n = match self.0 {
            0 => "unspec",
            1 => "redirect",
            2 => "kernel",
            3 => "boot",
            4 => "static",
            8 => "gated",
            9 => "ra",
            10 => "mrt",
            11 => "zebra",
            12 => "bird",
            13 => "dnrouted",
            14 => "xorp",
            15 => "ntk",
            16 => "dhcp",
            18 => "keepalived",
            42 => "babel",
            99 => "openr",
            186 => "bgp",
            187 => "isis",
            188 => "ospf",
            189 => "rip",
            192 => "eigrp",
            n => return n.to_string(),
        };
        n.into()
    }
}

impl Default for RouteProtocol {
    fn default() -> Self {
        RouteProtocol::BOOT
    }
}

/// Route type (`rtm_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum RouteType {
    /// `unicast` (1): a real route.
    #[default]
    Unicast,
    /// `local` (2): a local address.
    Local,
    /// `broadcast` (3).
    Broadcast,
    /// `anycast` (4).
    Anycast,
    /// `multicast` (5).
    Multicast,
    /// `blackhole` (6): drop silently.
    Blackhole,
    /// `unreachable` (7): drop, ICMP host unreachable.
    Unreachable,
    /// `prohibit` (8): drop, ICMP administratively prohibited.
    Prohibit,
    /// `throw` (9): continue with the next rule.
    Throw,
    /// Any other value.
    Unknown(u8),
}

impl RouteType {
    /// From the raw value.
    pub fn from_raw(v: u8) -> RouteType {
        match v {
            1 => RouteType::Unicast,
            2 => RouteType::Local,
            3 => RouteType::Broadcast,
            4 => RouteType::Anycast,
            5 => RouteType::Multicast,
            6 => RouteType::Blackhole,
            7 => RouteType::Unreachable,
            8 => RouteType::Prohibit,
            9 => RouteType::Throw,
            v => RouteType::Unknown(v),
        }
    }
    /// The raw value.
    pub fn to_raw(self) -> u8 {
        match self {
            RouteType::Unicast => 1,
            RouteType::Local => 2,
            RouteType::Broadcast => 3,
            RouteType::Anycast => 4,
            RouteType::Multicast => 5,
            RouteType::Blackhole => 6,
            RouteType::Unreachable => 7,
            RouteType::Prohibit => 8,
            RouteType::Throw => 9,
            RouteType::Unknown(v) => v,
        }
    }
    /// The name `ip` prints.
    pub fn name(self) -> String {
        match self {
            RouteType::Unicast => "unicast".into(),
            RouteType::Local => "local".into(),
            RouteType::Broadcast => "broadcast".into(),
            RouteType::Anycast => "anycast".into(),
            RouteType::Multicast => "multicast".into(),
            RouteType::Blackhole => "blackhole".into(),
            RouteType::Unreachable => "unreachable".into(),
            RouteType::Prohibit => "prohibit".into(),
            RouteType::Throw => "throw".into(),
            RouteType::Unknown(v) => v.to_string(),
        }
    }
    fn has_nexthop(self) -> bool {
        !matches!(
            self,
            RouteType::Blackhole | RouteType::Unreachable | RouteType::Prohibit | RouteType::Throw
        )
    }
}

bitflags! {
    /// Route and next-hop flags (`RTNH_F_*` in the low byte, `RTM_F_*`
    /// above). Unknown bits are kept.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct RouteFlags: u32 {
        /// `dead`.
        const DEAD = 0x1;
        /// `pervasive`.
        const PERVASIVE = 0x2;
        /// `onlink`: the gateway is on the link even if no prefix says so.
        const ONLINK = 0x4;
        /// `offload`.
        const OFFLOAD = 0x8;
        /// `linkdown`.
        const LINKDOWN = 0x10;
        /// `unresolved`.
        const UNRESOLVED = 0x20;
        /// `RTM_F_NOTIFY`.
        const NOTIFY = 0x100;
        /// `RTM_F_CLONED`: a cached route (route lookups return these).
        const CLONED = 0x200;
        /// `RTM_F_LOOKUP_TABLE`.
        const LOOKUP_TABLE = 0x1000;
        /// `RTM_F_FIB_MATCH`.
        const FIB_MATCH = 0x2000;
        // Keep every bit the kernel sends.
        const _ = !0;
    }
}

/// One path of a multipath route (`nexthop via GW dev LINK weight W`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NextHop<A: RouteAddr> {
    /// Gateway.
    pub gateway: Option<A>,
    /// Gateway of the other family (`via inet6 ADDR`, `RTA_VIA`): an
    /// IPv6 next hop of an IPv4 route.
    pub via: Option<IpAddr>,
    /// Output link.
    pub oif: Option<IfIndex>,
    /// Weight, 1 to 256.
    pub weight: u16,
    /// Flags (`onlink`, and what the kernel reports: `dead`, `linkdown`).
    pub flags: RouteFlags,
}

impl<A: RouteAddr> NextHop<A> {
    /// A path via `gateway` out of `oif`, weight 1.
    pub fn new(gateway: Option<A>, oif: Option<IfIndex>) -> NextHop<A> {
        NextHop { gateway, via: None, oif, weight: 1, flags: RouteFlags::empty() }
    }
    /// A path via an IPv6 gateway of an IPv4 route (`nexthop via inet6
    /// ADDR dev LINK`).
    pub fn via(via: Ipv6Addr, oif: IfIndex) -> NextHop<A> {
        NextHop {
            gateway: None,
            via: Some(IpAddr::V6(via)),
            oif: Some(oif),
            weight: 1,
            flags: RouteFlags::empty(),
        }
    }
    /// Set the weight.
    pub fn weight(mut self, w: u16) -> Self {
        self.weight = w;
        self
    }
    /// Mark the gateway as on-link.
    pub fn onlink(mut self) -> Self {
        self.flags |= RouteFlags::ONLINK;
        self
    }
}

/// A route (`ip route add DST ...`), IPv4 or IPv6 by its type parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Route<A: RouteAddr> {
    /// Destination prefix (`0.0.0.0/0` is `default`).
    pub dst: A::Net,
    /// Source prefix (`from`, IPv6 source routing).
    pub src: Option<A::Net>,
    /// Gateway (`via`).
    pub gateway: Option<A>,
    /// Gateway of the other family (`via inet6 ADDR`, `RTA_VIA`): an IPv6
    /// gateway of an IPv4 route.
    pub via: Option<IpAddr>,
    /// Output link (`dev`).
    pub oif: Option<IfIndex>,
    /// Input link (in route lookups with `iif`).
    pub iif: Option<IfIndex>,
    /// Preferred source address (`src`).
    pub prefsrc: Option<A>,
    /// Table.
    pub table: RouteTable,
    /// Scope; `None` lets netplumb choose as `ip` does (`link` for an IPv4
    /// unicast route without gateway, `host` for local, else `global`).
    pub scope: Option<Scope>,
    /// Protocol (`proto`); `boot` by default as with `ip`.
    pub protocol: RouteProtocol,
    /// Metric (`metric`/`priority`).
    pub metric: Option<u32>,
    /// Type.
    pub kind: RouteType,
    /// Type of service / DS field (`tos`).
    pub tos: u8,
    /// Flags (`onlink`, ...).
    pub flags: RouteFlags,
    /// Paths of a multipath route (`nexthop ...`); empty for single-path.
    pub nexthops: Vec<NextHop<A>>,
    /// MTU metric (`mtu`).
    pub mtu: Option<u32>,
    /// Advertised MSS metric (`advmss`).
    pub advmss: Option<u32>,
    /// Firewall mark (route lookups).
    pub mark: Option<u32>,
    /// IPv6 router preference (`pref`): 0 medium, 1 high, 3 low.
    pub pref: Option<u8>,
    /// Congestion control algorithm (`congctl`), the one metric that is a
    /// string.
    pub congctl: Option<String>,
    /// Other metrics (`window 1000`, `initcwnd 10`, `lock`...), in the
    /// kernel's units (see [`Metric`]).
    pub other_metrics: Vec<(Metric, u32)>,
    /// When the route expires (`expires`, IPv6): time left when read
    /// (from `RTA_CACHEINFO`), lifetime when set (`RTA_EXPIRES`, whole
    /// seconds).
    pub expires: Option<Duration>,
    /// Realms (`realm TO`, `realms FROM/TO`, `RTA_FLOW`), as `(from,
    /// to)`.
    pub realms: Option<(u16, u16)>,
    /// The nexthop object the route uses (`nhid N`, `RTA_NH_ID`; see
    /// [`crate::rtnl::nexthop`]). The kernel also reports the nexthop's
    /// paths in [`Route::nexthops`].
    pub nh_id: Option<u32>,
    /// Attributes netplumb does not model, as sent.
    pub unknown: Vec<RawAttr>,
}

/// An IPv4 route.
pub type RouteV4 = Route<Ipv4Addr>;
/// An IPv6 route.
pub type RouteV6 = Route<Ipv6Addr>;

/// A route of either family, from a mixed stream (events).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnyRoute {
    /// IPv4.
    V4(RouteV4),
    /// IPv6.
    V6(RouteV6),
}

impl<A: RouteAddr> Route<A> {
    /// A unicast route to `dst` in the main table, protocol `boot`.
    pub fn new(dst: A::Net) -> Route<A> {
        Route {
            dst,
            src: None,
            gateway: None,
            via: None,
            oif: None,
            iif: None,
            prefsrc: None,
            table: RouteTable::MAIN,
            scope: None,
            protocol: RouteProtocol::BOOT,
            metric: None,
            kind: RouteType::Unicast,
            tos: 0,
            flags: RouteFlags::empty(),
            nexthops: Vec::new(),
            mtu: None,
            advmss: None,
            mark: None,
            pref: None,
            congctl: None,
            other_metrics: Vec::new(),
            expires: None,
            realms: None,
            nh_id: None,
            unknown: Vec::new(),
        }
    }
    /// Set a gateway of the other family (`via inet6 ADDR`): an IPv6
    /// gateway for an IPv4 route.
    pub fn via(mut self, via: IpAddr) -> Self {
        self.via = Some(via);
        self
    }
    /// Set a metric (`window 1000`, `initcwnd 10`, `lock`, ...), in the
    /// kernel's units (see [`Metric`]); replaces an earlier value.
    pub fn with_metric(mut self, m: Metric, value: u32) -> Self {
        self.other_metrics.retain(|(k, _)| *k != m);
        self.other_metrics.push((m, value));
        self
    }
    /// The value of metric `m`, if set.
    pub fn metric_value(&self, m: Metric) -> Option<u32> {
        self.other_metrics.iter().find(|(k, _)| *k == m).map(|(_, v)| *v)
    }
    /// Expire the route after `d` (`expires SECONDS`; IPv6 only; whole
    /// seconds are sent).
    pub fn expires(mut self, d: Duration) -> Self {
        self.expires = Some(d);
        self
    }
    /// Set the realms (`realms FROM/TO`; `realm TO` is `(0, TO)`).
    pub fn realms(mut self, from: u16, to: u16) -> Self {
        self.realms = Some((from, to));
        self
    }
    /// Use nexthop object `id` (`nhid N`) instead of a gateway and link.
    pub fn nh_id(mut self, id: u32) -> Self {
        self.nh_id = Some(id);
        self
    }
    /// Set the gateway.
    pub fn gateway(mut self, gw: A) -> Self {
        self.gateway = Some(gw);
        self
    }
    /// Set the output link.
    pub fn oif(mut self, oif: IfIndex) -> Self {
        self.oif = Some(oif);
        self
    }
    /// Set the preferred source.
    pub fn prefsrc(mut self, src: A) -> Self {
        self.prefsrc = Some(src);
        self
    }
    /// Set the table.
    pub fn table(mut self, t: RouteTable) -> Self {
        self.table = t;
        self
    }
    /// Set the scope.
    pub fn scope(mut self, s: Scope) -> Self {
        self.scope = Some(s);
        self
    }
    /// Set the protocol.
    pub fn protocol(mut self, p: RouteProtocol) -> Self {
        self.protocol = p;
        self
    }
    /// Set the metric.
    pub fn metric(mut self, m: u32) -> Self {
        self.metric = Some(m);
        self
    }
    /// Set the type (`blackhole`, `unreachable`, `prohibit`, `local`...).
    pub fn kind(mut self, t: RouteType) -> Self {
        self.kind = t;
        self
    }
    /// Mark the gateway as on-link.
    pub fn onlink(mut self) -> Self {
        self.flags |= RouteFlags::ONLINK;
        self
    }
    /// Add a path (makes this a multipath route).
    pub fn nexthop(mut self, nh: NextHop<A>) -> Self {
        self.nexthops.push(nh);
        self
    }
    /// Set the MTU metric.
    pub fn mtu(mut self, mtu: u32) -> Self {
        self.mtu = Some(mtu);
        self
    }
    /// Set the advertised MSS metric.
    pub fn advmss(mut self, mss: u32) -> Self {
        self.advmss = Some(mss);
        self
    }

    /// Set the congestion control algorithm (`congctl reno`).
    pub fn congctl(mut self, name: impl Into<String>) -> Self {
        self.congctl = Some(name.into());
        self
    }

    /// The scope that will be sent: the one set, or `ip`'s choice.
    pub fn effective_scope(&self) -> Scope {
        if let Some(s) = self.scope {
            return s;
        }
        if A::FAMILY == AF_INET6 {
            return Scope::Universe;
        }
        match self.kind {
            RouteType::Local => Scope::Host,
            RouteType::Broadcast | RouteType::Multicast | RouteType::Anycast => Scope::Link,
            RouteType::Unicast
                if self.gateway.is_none()
                    && self.via.is_none()
                    && self.nexthops.is_empty()
                    && self.nh_id.is_none() =>
            {
                Scope::Link
            }
            _ => Scope::Universe,
        }
    }

    /// Check every field; nothing is sent when this fails.
    pub fn validate(&self) -> Result<()> {
        if let Some(o) = self.oif {
            crate::rtnl::validate_lower("oif", o)?;
        }
        if !self.kind.has_nexthop()
            && (self.gateway.is_some() || self.oif.is_some() || !self.nexthops.is_empty())
        {
            return Err(Error::invalid(
                "kind",
                format!("a {} route has no gateway, output link or next hops", self.kind.name()),
            ));
        }
        if !self.nexthops.is_empty() && (self.gateway.is_some() || self.oif.is_some()) {
            return Err(Error::invalid(
                "nexthops",
                "give the gateway and link per next hop, not on the route",
            ));
        }
        for (i, nh) in self.nexthops.iter().enumerate() {
            if !(1..=256).contains(&nh.weight) {
                return Err(Error::invalid(
                    format!("nexthops[{i}].weight"),
                    format!("{} is not in 1..=256", nh.weight),
                ));
            }
            if nh.gateway.is_none() && nh.oif.is_none() {
                return Err(Error::invalid(format!("nexthops[{i}]"), "needs a gateway or a link"));
            }
            if let Some(o) = nh.oif {
                crate::rtnl::validate_lower(&format!("nexthops[{i}].oif"), o)?;
            }
        }
        if self.flags.contains(RouteFlags::ONLINK) && self.oif.is_none() && self.nexthops.is_empty() {
            return Err(Error::invalid("oif", "an onlink route needs an output link"));
        }
        if let Some(m) = self.mtu {
            crate::rtnl::validate_mtu("mtu", m)?;
        }
        if let Some(m) = self.advmss {
            if m == 0 || m > 65535 {
                return Err(Error::invalid("advmss", format!("{m} is not in 1..=65535")));
            }
        }
        let via_ok = |field: &str, v: Option<IpAddr>| -> Result<()> {
            match v {
                Some(v) if A::FAMILY != AF_INET || !v.is_ipv6() => Err(Error::invalid(
                    field,
                    format!("{v}: via is for an IPv6 gateway of an IPv4 route; use gateway"),
                )),
                _ => Ok(()),
            }
        };
        via_ok("via", self.via)?;
        if self.via.is_some() && self.gateway.is_some() {
            return Err(Error::invalid("via", "a route has a gateway or a via, not both"));
        }
        for (i, nh) in self.nexthops.iter().enumerate() {
            via_ok(&format!("nexthops[{i}].via"), nh.via)?;
            if nh.via.is_some() && nh.gateway.is_some() {
                return Err(Error::invalid(format!("nexthops[{i}].via"), "a gateway or a via, not both"));
            }
        }
        if self.via.is_some() && !self.nexthops.is_empty() {
            return Err(Error::invalid("nexthops", "give the via per next hop, not on the route"));
        }
        if let Some(e) = self.expires {
            if A::FAMILY != AF_INET6 {
                return Err(Error::invalid("expires", "only IPv6 routes expire"));
            }
            if e.as_secs() == 0 || e.as_secs() > u32::MAX as u64 {
                return Err(Error::invalid("expires", format!("{e:?} is not 1 to 4294967295 seconds")));
            }
        }
        if self.nh_id == Some(0) {
            return Err(Error::invalid("nh_id", "0 is not a nexthop id"));
        }
        if self.nh_id.is_some()
            && (self.gateway.is_some()
                || self.via.is_some()
                || self.oif.is_some()
                || !self.nexthops.is_empty())
        {
            return Err(Error::invalid(
                "nh_id",
                "a route using a nexthop object has no gateway, link or next hops",
            ));
        }
        for (m, _) in &self.other_metrics {
            if matches!(m.to_raw(), rtax::MTU | rtax::ADVMSS | rtax::CC_ALGO) || m.to_raw() == 0 {
                return Err(Error::invalid(
                    "other_metrics",
                    format!("{}: use the mtu/advmss/congctl fields", m.to_raw()),
                ));
            }
        }
        if let Some(c) = &self.congctl {
            // TCP_CA_NAME_MAX is 16 bytes with the NUL.
            if c.is_empty() || c.len() > 15 || c.contains('\0') {
                return Err(Error::invalid(
                    "congctl",
                    format!("{c:?} is not an algorithm name of 1 to 15 bytes"),
                ));
            }
        }
        Ok(())
    }

    fn write_header(&self, w: &mut AttrWriter<'_>, scope: Scope, kind: u8, protocol: u8) {
        let t = self.table.0;
        let h = [
            A::FAMILY,
            A::net_len(&self.dst),
            self.src.map_or(0, |s| A::net_len(&s)),
            self.tos,
            if t < 256 { t as u8 } else { 0 },
            protocol,
            scope.to_raw(),
            kind,
        ];
        let mut b = [0u8; RTMSG_LEN];
        b[..8].copy_from_slice(&h);
        // rtm_flags: the RTNH_F_* byte (onlink); RTM_F_* bits are for replies.
        b[8..12].copy_from_slice(&(self.flags.bits() & 0xff).to_ne_bytes());
        w.raw(&b);
    }

    fn write_keys(&self, w: &mut AttrWriter<'_>) {
        w.u32(rta::TABLE, self.table.0);
        // A /0 needs no RTA_DST, unless host bits are set (which the
        // kernel then rejects, rather than adding a default route).
        let dst = A::net_addr(&self.dst);
        if A::net_len(&self.dst) > 0 || !dst.ip().is_unspecified() {
            put_addr(w, rta::DST, dst);
        }
        if let Some(s) = &self.src {
            put_addr(w, rta::SRC, A::net_addr(s));
        }
        if let Some(m) = self.metric {
            w.u32(rta::PRIORITY, m);
        }
    }

    /// Encode the `RTM_NEWROUTE` payload (pure; no validation).
    pub fn write(&self, w: &mut AttrWriter<'_>) {
        self.write_header(w, self.effective_scope(), self.kind.to_raw(), self.protocol.0);
        self.write_keys(w);
        if let Some(p) = self.prefsrc {
            put_addr(w, rta::PREFSRC, p);
        }
        if let Some(g) = self.gateway {
            put_addr(w, rta::GATEWAY, g);
        }
        if let Some(v) = self.via {
            write_via(w, rta::VIA, v);
        }
        if let Some(o) = self.oif {
            w.u32(rta::OIF, o.0);
        }
        if let Some(id) = self.nh_id {
            w.u32(rta::NH_ID, id);
        }
        if let Some((from, to)) = self.realms {
            w.u32(rta::FLOW, (from as u32) << 16 | to as u32);
        }
        if let Some(e) = self.expires {
            w.u32(rta::EXPIRES, e.as_secs().min(u32::MAX as u64) as u32);
        }
        if self.mtu.is_some()
            || self.advmss.is_some()
            || self.congctl.is_some()
            || !self.other_metrics.is_empty()
        {
            w.nest(rta::METRICS, |w| {
                if let Some(m) = self.mtu {
                    w.u32(rtax::MTU, m);
                }
                if let Some(m) = self.advmss {
                    w.u32(rtax::ADVMSS, m);
                }
                if let Some(c) = &self.congctl {
                    w.str(rtax::CC_ALGO, c);
                }
                for &(k, v) in &self.other_metrics {
                    w.u32(k.to_raw(), v);
                }
            });
        }
        if let Some(p) = self.pref {
            w.u8(rta::PREF, p);
        }
        if !self.nexthops.is_empty() {
            w.nest(rta::MULTIPATH, |w| {
                for nh in &self.nexthops {
                    let gw_len = if nh.gateway.is_some() { 4 + A::BITS as usize / 8 } else { 0 }
                        + match nh.via {
                            Some(IpAddr::V4(_)) => 4 + 8,
                            Some(IpAddr::V6(_)) => 4 + 20,
                            None => 0,
                        };
                    let mut h = [0u8; 8];
                    h[0..2].copy_from_slice(&((8 + gw_len) as u16).to_ne_bytes());
                    h[2] = (nh.flags.bits() & 0xff) as u8;
                    h[3] = (nh.weight.clamp(1, 256) - 1) as u8;
                    h[4..8].copy_from_slice(&nh.oif.map_or(0, |o| o.0).to_ne_bytes());
                    w.raw(&h);
                    if let Some(g) = nh.gateway {
                        put_addr(w, rta::GATEWAY, g);
                    }
                    if let Some(v) = nh.via {
                        write_via(w, rta::VIA, v);
                    }
                }
            });
        }
    }

    /// Encode the `RTM_DELROUTE` payload: the keys that identify the route
    /// (destination, table, metric, tos), any scope, as `ip route del`.
    pub fn write_delete(&self, w: &mut AttrWriter<'_>) {
        self.write_header(w, Scope::Nowhere, self.kind.to_raw(), 0);
        self.write_keys(w);
        if let Some(g) = self.gateway {
            put_addr(w, rta::GATEWAY, g);
        }
        if let Some(v) = self.via {
            write_via(w, rta::VIA, v);
        }
        if let Some(o) = self.oif {
            w.u32(rta::OIF, o.0);
        }
    }

    /// Decode an `RTM_NEWROUTE`/`RTM_DELROUTE` message of this family.
    #[inline]
    pub fn parse(m: &Msg<'_>) -> Result<Route<A>, DecodeError> {
        Route::parse_as(m, Ok, Err)
    }

    /// [`Route::parse`], handing the route to `done` or the error to
    /// `fail`: a dump's decoder returns `done`'s value (the route wrapped
    /// as the dump's item) built where the route was, instead of
    /// rewrapping a `Result<Route, DecodeError>`, which copies the route
    /// once more.
    #[inline(always)]
    pub(crate) fn parse_as<R>(
        m: &Msg<'_>,
        done: impl FnOnce(Route<A>) -> R,
        fail: impl FnOnce(DecodeError) -> R,
    ) -> R {
        // `?` for this function's errors.
        macro_rules! tri {
            ($e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(e) => return fail(e),
                }
            };
        }
        let p = m.payload;
        let [family, dst_len, src_len, tos, table, protocol, scope, kind, f0, f1, f2, f3] =
            tri!(header::<RTMSG_LEN>(p, "rtmsg"));
        if family != A::FAMILY {
            return fail(wrong_family(family, A::FAMILY));
        }
        // The route is built first with the header's values and every
        // attribute absent, and each attribute is written into it as it
        // comes: nothing is gathered in locals and copied in at the end.
        // Only the destination waits for the loop's end (it is checked
        // against `dst_len` then).
        let zero = A::from_bytes(&[0u8; 16][..A::BITS as usize / 8]).expect("zero address");
        let mut dst = zero;
        let mut src = None;
        let mut r = Route::<A> {
            table: RouteTable(table as u32),
            scope: Some(Scope::from_raw(scope)),
            protocol: RouteProtocol(protocol),
            kind: RouteType::from_raw(kind),
            tos,
            flags: RouteFlags::from_bits_retain(u32::from_ne_bytes([f0, f1, f2, f3])),
            ..Route::new(A::net(zero, 0).expect("a prefix of length 0"))
        };
        // The attributes of (nearly) every route are read here, the rest
        // (metrics, multipath, cache info, ...) in `take_rare`. The walk
        // uses the attribute iterator's own framing step (`split_attr`).
        let mut b = &p[RTMSG_LEN..];
        while !b.is_empty() {
            let Some((a, rest)) = split_attr(b) else {
                return fail(malformed_attr(b));
            };
            b = rest;
            match a.kind() {
                rta::TABLE => r.table = RouteTable(tri!(a.u32())),
                rta::DST => dst = tri!(addr_attr(a.payload, "RTA_DST")),
                rta::GATEWAY => r.gateway = Some(tri!(addr_attr(a.payload, "RTA_GATEWAY"))),
                rta::OIF => r.oif = Some(IfIndex(tri!(a.u32()))),
                rta::PRIORITY => r.metric = Some(tri!(a.u32())),
                rta::PREFSRC => r.prefsrc = Some(tri!(addr_attr(a.payload, "RTA_PREFSRC"))),
                rta::SRC => src = Some(tri!(addr_attr(a.payload, "RTA_SRC"))),
                _ => tri!(take_rare(&mut r, a)),
            }
        }
        let Some(dst) = A::net(dst, dst_len) else {
            return fail(bad_prefix_len("dst_len", dst_len));
        };
        r.dst = dst;
        if src_len > 0 || src.is_some() {
            let Some(s) = A::net(src.unwrap_or(zero), src_len) else {
                return fail(bad_prefix_len("src_len", src_len));
            };
            r.src = Some(s);
        }
        done(r)
    }
}

/// An address attribute of family `A`.
#[inline]
fn addr_attr<A: RouteAddr>(b: &[u8], what: &'static str) -> Result<A, DecodeError> {
    match A::from_bytes(b) {
        Some(a) => Ok(a),
        None => Err(addr_size(what, b.len())),
    }
}

#[cold]
#[inline(never)]
fn addr_size(what: &'static str, len: usize) -> DecodeError {
    DecodeError::new(what, format!("{len} bytes"))
}

#[cold]
#[inline(never)]
fn wrong_family(got: u8, want: u8) -> DecodeError {
    DecodeError::new("rtmsg", format!("family {got} where {want} was expected"))
}

#[cold]
#[inline(never)]
fn bad_prefix_len(field: &str, len: u8) -> DecodeError {
    DecodeError::new("rtmsg", format!("{field} {len}"))
}

/// One attribute of a route message other than those of every route,
/// written into `r`; out of line so that the loop over the common ones
/// stays small.
#[inline(never)]
fn take_rare<A: RouteAddr>(r: &mut Route<A>, a: Attr<'_>) -> Result<(), DecodeError> {
    match a.kind() {
        rta::IIF => r.iif = Some(IfIndex(a.u32()?)),
        rta::MARK => r.mark = Some(a.u32()?),
        rta::VIA => r.via = Some(parse_via(a.payload)?),
        rta::NH_ID => r.nh_id = Some(a.u32()?),
        rta::FLOW => {
            let v = a.u32()?;
            r.realms = Some(((v >> 16) as u16, v as u16));
        }
        rta::EXPIRES => r.expires = Some(Duration::from_secs(a.u32()? as u64)),
        rta::CACHEINFO => {
            // struct rta_cacheinfo: clntref, lastuse, expires (s32,
            // USER_HZ ticks), error, used, id, ts, tsage.
            let b: [u8; 12] = crate::wire::fixed(a.payload, "RTA_CACHEINFO")?;
            let e = i32::from_ne_bytes(b[8..12].try_into().expect("4"));
            if e > 0 {
                r.expires = Some(Duration::from_millis(e as u64 * 1000 / USER_HZ));
            }
            r.unknown.push(RawAttr::from(a));
        }
        rta::PREF => r.pref = Some(a.u8()?),
        rta::METRICS => {
            for m in AttrIter::new(a.payload) {
                let m = m?;
                match m.kind() {
                    rtax::MTU => r.mtu = Some(m.u32()?),
                    rtax::ADVMSS => r.advmss = Some(m.u32()?),
                    rtax::CC_ALGO => r.congctl = Some(m.str()?.to_string()),
                    k => r.other_metrics.push((Metric::from_raw(k), m.u32()?)),
                }
            }
        }
        rta::MULTIPATH => r.nexthops = parse_multipath::<A>(a.payload)?,
        _ => r.unknown.push(RawAttr::from(a)),
    }
    Ok(())
}

fn parse_multipath<A: RouteAddr>(mut b: &[u8]) -> Result<Vec<NextHop<A>>, DecodeError> {
    let mut out = Vec::new();
    while b.len() >= 8 {
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        if len < 8 || len > b.len() {
            return Err(DecodeError::new("rtnexthop", format!("length {len} of {}", b.len())));
        }
        let mut nh = NextHop::<A> {
            gateway: None,
            via: None,
            oif: None,
            weight: b[3] as u16 + 1,
            flags: RouteFlags::from_bits_retain(b[2] as u32),
        };
        let idx = u32::from_ne_bytes(b[4..8].try_into().expect("4"));
        nh.oif = (idx != 0).then_some(IfIndex(idx));
        for a in AttrIter::new(&b[8..len]) {
            let a = a?;
            match a.kind() {
                rta::GATEWAY => {
                    nh.gateway = Some(
                        A::from_bytes(a.payload)
                            .ok_or_else(|| DecodeError::new("nexthop gateway", "bad length"))?,
                    )
                }
                rta::VIA => nh.via = Some(parse_via(a.payload)?),
                _ => {}
            }
        }
        out.push(nh);
        b = &b[crate::wire::align(len).min(b.len())..];
    }
    Ok(out)
}

impl AnyRoute {
    /// Decode a route message of either family.
    pub fn parse(m: &Msg<'_>) -> Result<AnyRoute, DecodeError> {
        match m.payload.first() {
            Some(&AF_INET) => Ok(AnyRoute::V4(Route::parse(m)?)),
            Some(&AF_INET6) => Ok(AnyRoute::V6(Route::parse(m)?)),
            Some(f) => Err(DecodeError::new("rtmsg", format!("family {f}"))),
            None => Err(DecodeError::new("rtmsg", "empty")),
        }
    }

    /// The table, whatever the family.
    pub fn table(&self) -> RouteTable {
        match self {
            AnyRoute::V4(r) => r.table,
            AnyRoute::V6(r) => r.table,
        }
    }
}

/// Kernel-side filters for [`Routes::list`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouteFilter {
    /// Only this table; `None` for every table (`ip route show table all`).
    pub table: Option<RouteTable>,
    /// Only this protocol (`proto`).
    pub protocol: Option<RouteProtocol>,
    /// Only routes out of this link (`dev`).
    pub oif: Option<IfIndex>,
    /// Only this type.
    pub kind: Option<RouteType>,
}

impl RouteFilter {
    /// Every route of every table.
    pub fn all() -> RouteFilter {
        RouteFilter::default()
    }
    /// Only table `t` (`ip route show table T`).
    pub fn table(mut self, t: RouteTable) -> Self {
        self.table = Some(t);
        self
    }
    /// Only protocol `p` (`ip route show proto P`).
    pub fn protocol(mut self, p: RouteProtocol) -> Self {
        self.protocol = Some(p);
        self
    }
    /// Only routes out of `oif` (`ip route show dev LINK`).
    pub fn oif(mut self, oif: IfIndex) -> Self {
        self.oif = Some(oif);
        self
    }
    /// Only routes of type `t`.
    pub fn kind(mut self, t: RouteType) -> Self {
        self.kind = Some(t);
        self
    }

    /// The `RTM_GETROUTE` dump request for `family` (0 for both).
    pub fn request(&self, family: u8) -> Request {
        Request::new(rtm::GETROUTE, 0, |w| {
            let t = self.table.map_or(0, |t| t.0);
            let h = [
                family,
                0,
                0,
                0,
                if t < 256 { t as u8 } else { 0 },
                self.protocol.map_or(0, |p| p.0),
                0,
                self.kind.map_or(0, |k| k.to_raw()),
            ];
            let mut b = [0u8; RTMSG_LEN];
            b[..8].copy_from_slice(&h);
            w.raw(&b);
            if t >= 256 {
                w.u32(rta::TABLE, t);
            }
            if let Some(o) = self.oif {
                w.u32(rta::OIF, o.0);
            }
        })
    }
}

/// A route lookup (`ip route get`): what the kernel would do with a packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteQuery<A: RouteAddr> {
    /// Destination.
    pub dst: A,
    /// Source address (`from`).
    pub src: Option<A>,
    /// Pretend the packet came in on this link (`iif`).
    pub iif: Option<IfIndex>,
    /// Force the output link (`oif`).
    pub oif: Option<IfIndex>,
    /// Firewall mark (`mark`).
    pub mark: Option<u32>,
}

impl<A: RouteAddr> RouteQuery<A> {
    /// Look up `dst`.
    pub fn new(dst: A) -> RouteQuery<A> {
        RouteQuery { dst, src: None, iif: None, oif: None, mark: None }
    }
    /// Set the source.
    pub fn src(mut self, s: A) -> Self {
        self.src = Some(s);
        self
    }
    /// Set the input link.
    pub fn iif(mut self, i: IfIndex) -> Self {
        self.iif = Some(i);
        self
    }
    /// Set the output link.
    pub fn oif(mut self, o: IfIndex) -> Self {
        self.oif = Some(o);
        self
    }
    /// Set the mark.
    pub fn mark(mut self, m: u32) -> Self {
        self.mark = Some(m);
        self
    }

    /// The `RTM_GETROUTE` request.
    pub fn request(&self) -> Request {
        Request::new(rtm::GETROUTE, 0, |w| {
            let h = [A::FAMILY, A::BITS, if self.src.is_some() { A::BITS } else { 0 }, 0, 0, 0, 0, 0];
            let mut b = [0u8; RTMSG_LEN];
            b[..8].copy_from_slice(&h);
            w.raw(&b);
            put_addr(w, rta::DST, self.dst);
            if let Some(s) = self.src {
                put_addr(w, rta::SRC, s);
            }
            if let Some(i) = self.iif {
                w.u32(rta::IIF, i.0);
            }
            if let Some(o) = self.oif {
                w.u32(rta::OIF, o.0);
            }
            if let Some(m) = self.mark {
                w.u32(rta::MARK, m);
            }
        })
    }
}

fn decode_any(m: &Msg<'_>) -> Result<AnyRoute, DecodeError> {
    AnyRoute::parse(m)
}

/// Operations on routes (see the [module docs](self)). Get one from
/// [`crate::Rtnl::routes`].
#[derive(Clone, Debug)]
pub struct Routes {
    conn: Connection,
}

impl Routes {
    /// Routes on `conn` (a `NETLINK_ROUTE` connection).
    pub fn new(conn: Connection) -> Routes {
        Routes { conn }
    }

    /// Add a route: `ip route add [TYPE] DST [via GW] [dev LINK] [src
    /// ADDR] [table T] [proto P] [scope S] [metric M] [onlink] [mtu N]
    /// [advmss N] [nexthop ...]`.
    ///
    /// # Errors
    /// [`Error::Invalid`] (nothing sent); `EEXIST` if it exists; `ENETUNREACH`
    /// ("Nexthop has invalid gateway") when the gateway is not reachable
    /// and not `onlink`; `ENODEV`; `EPERM` without `CAP_NET_ADMIN`.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// Once sent the request takes effect even if the future is dropped.
    #[doc(alias = "RTM_NEWROUTE")]
    pub async fn add<A: RouteAddr>(&self, r: &Route<A>) -> Result<()> {
        r.validate()?;
        self.conn.ack(&Request::new(rtm::NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, |w| r.write(w))).await
    }

    /// Add or replace a route: `ip route replace ...`.
    ///
    /// # Errors
    /// As [`Routes::add`], without `EEXIST`.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// As [`Routes::add`].
    #[doc(alias = "RTM_NEWROUTE")]
    pub async fn replace<A: RouteAddr>(&self, r: &Route<A>) -> Result<()> {
        r.validate()?;
        self.conn.ack(&Request::new(rtm::NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, |w| r.write(w))).await
    }

    /// Add many routes, packed many per datagram with acks only on error
    /// (thousands per second more than `ip -batch`). All are attempted;
    /// failures come back together as [`Error::Batch`] with their index.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// As [`Connection::bulk`].
    #[doc(alias = "RTM_NEWROUTE")]
    pub async fn add_many<'a, A: RouteAddr>(
        &self,
        routes: impl IntoIterator<Item = &'a Route<A>>,
    ) -> Result<()> {
        self.bulk(routes, NLM_F_CREATE | NLM_F_EXCL).await
    }

    /// [`Routes::add_many`] with replace semantics.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// As [`Connection::bulk`].
    #[doc(alias = "RTM_NEWROUTE")]
    pub async fn replace_many<'a, A: RouteAddr>(
        &self,
        routes: impl IntoIterator<Item = &'a Route<A>>,
    ) -> Result<()> {
        self.bulk(routes, NLM_F_CREATE | NLM_F_REPLACE).await
    }

    async fn bulk<'a, A: RouteAddr>(
        &self,
        routes: impl IntoIterator<Item = &'a Route<A>>,
        flags: u16,
    ) -> Result<()> {
        let routes: Vec<&Route<A>> = routes.into_iter().collect();
        for (i, r) in routes.iter().enumerate() {
            r.validate().map_err(|e| e.at_index("", i))?;
        }
        // Encoded straight into the datagrams as they are sent.
        self.conn
            .bulk_with(
                routes.len(),
                |_| (rtm::NEWROUTE, flags),
                |i, w| routes[i].write(w),
                |i| format!("add route {:?}", routes[i].dst),
            )
            .await
    }

    /// Delete a route: `ip route del DST [via GW] [dev LINK] [table T]
    /// [metric M]`.
    ///
    /// # Errors
    /// `ESRCH` ([`Error::is_not_found`]) if no route matches.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// Once sent the request takes effect even if the future is dropped.
    #[doc(alias = "RTM_DELROUTE")]
    pub async fn delete<A: RouteAddr>(&self, r: &Route<A>) -> Result<()> {
        self.conn.ack(&Request::new(rtm::DELROUTE, 0, |w| r.write_delete(w))).await
    }

    /// Delete many routes in few datagrams.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// As [`Connection::bulk`].
    #[doc(alias = "RTM_DELROUTE")]
    pub async fn delete_many<'a, A: RouteAddr>(
        &self,
        routes: impl IntoIterator<Item = &'a Route<A>>,
    ) -> Result<()> {
        let mut batch = Batch::new();
        for r in routes {
            batch.push(rtm::DELROUTE, 0, |w| r.write_delete(w));
        }
        self.conn.bulk(&batch).await
    }

    /// Routes of family `A` matching `filter`, filtered by the kernel:
    /// `ip [-6] route show table all [proto P] [dev LINK]`. A stream with
    /// constant memory (see [`Dump`]).
    ///
    /// ```no_run
    /// # async fn demo(rt: &netplumb::Rtnl) -> netplumb::Result<()> {
    /// use std::net::Ipv4Addr;
    /// use netplumb::route::{RouteFilter, RouteTable};
    /// let main = rt.routes().list::<Ipv4Addr>(&RouteFilter::all().table(RouteTable::MAIN)).try_collect().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Privileges
    /// None: reading needs no privilege.
    ///
    /// # Cancel safety
    /// Dropping the stream abandons the dump.
    #[doc(alias = "RTM_GETROUTE")]
    pub fn list<A: RouteAddr>(&self, filter: &RouteFilter) -> Dump<Route<A>> {
        self.conn.dump_objects(&filter.request(A::FAMILY), rtm::NEWROUTE, |m| {
            Route::<A>::parse_as(m, |r| Ok(Some(r)), |e| Err(Error::Decode(e)))
        })
    }

    /// Ask the kernel how it would route a packet: `ip route get DST [from
    /// SRC] [iif LINK] [oif LINK] [mark M]`. The answer is a route with
    /// [`RouteFlags::CLONED`] set.
    ///
    /// # Errors
    /// `ENETUNREACH` when there is no route; `EINVAL` for impossible
    /// queries.
    ///
    /// # Privileges
    /// None: reading needs no privilege.
    ///
    /// # Cancel safety
    /// Cancel safe: nothing changes.
    #[doc(alias = "RTM_GETROUTE")]
    pub async fn get<A: RouteAddr>(&self, q: &RouteQuery<A>) -> Result<Route<A>> {
        let replies = self.conn.request(&q.request()).await?;
        let m = replies
            .iter()
            .find(|m| m.header.ty == rtm::NEWROUTE)
            .ok_or_else(|| Error::NotFound { what: format!("route to {:?}", q.dst) })?;
        Ok(Route::<A>::parse(&m.as_msg())?)
    }

    /// Delete every route of family `A` matching `filter` (`ip route flush
    /// ...`), except those the kernel owns (`proto kernel` and the local
    /// table) unless the filter names them. Returns how many were deleted.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// Routes deleted before the future is dropped stay deleted.
    pub async fn flush<A: RouteAddr>(&self, filter: &RouteFilter) -> Result<usize> {
        let all: Vec<Route<A>> = self.list::<A>(filter).try_collect().await?;
        let doomed: Vec<&Route<A>> = all
            .iter()
            .filter(|r| {
                (filter.protocol.is_some() || r.protocol != RouteProtocol::KERNEL)
                    && (filter.table.is_some() || r.table != RouteTable::LOCAL)
                    && !r.flags.contains(RouteFlags::CLONED)
            })
            .collect();
        self.delete_many(doomed.iter().copied()).await?;
        Ok(doomed.len())
    }

    /// Follow IPv4 and IPv6 route changes (`ip monitor route`).
    ///
    /// # Privileges
    /// None: reading needs no privilege.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn events(&self) -> Result<Subscription<Change<AnyRoute>>> {
        self.events_with_buffer(None).await
    }

    /// [`Routes::events`] with an explicit socket receive buffer.
    ///
    /// # Privileges
    /// None: reading needs no privilege.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn events_with_buffer(&self, rcvbuf: Option<usize>) -> Result<Subscription<Change<AnyRoute>>> {
        self.conn
            .subscribe(
                &[groups::IPV4_ROUTE, groups::IPV6_ROUTE],
                rcvbuf,
                rtnl::change_decoder(rtm::NEWROUTE, rtm::DELROUTE, decode_any),
            )
            .await
    }

    /// Subscribe, then list both families (see [`Snapshot`]).
    ///
    /// # Privileges
    /// None: reading needs no privilege.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn list_and_follow(&self, filter: &RouteFilter) -> Result<Snapshot<AnyRoute>> {
        let events = self.events().await?;
        let existing =
            rtnl::typed_dump(&self.conn, &filter.request(0), rtm::NEWROUTE, decode_any).try_collect().await?;
        Ok(Snapshot { existing, events })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{attrs_after, Header};

    /// A route with common and rare attributes (metrics nest, cache info,
    /// an odd-sized one), encoded as the kernel would.
    fn sample() -> Vec<u8> {
        let r: RouteV4 = Route::new("100.64.1.0/24".parse().unwrap())
            .gateway(Ipv4Addr::new(10, 0, 0, 2))
            .oif(IfIndex(3))
            .metric(7)
            .mtu(1400)
            .realms(1, 2);
        let mut buf = Vec::new();
        {
            let mut w = AttrWriter::new(&mut buf);
            r.write(&mut w);
            w.u8(rta::PREF, 1);
            w.bytes(rta::CACHEINFO, &[0u8; 32]);
            w.u32(rta::TABLE, 254);
        }
        buf
    }

    fn parse(p: &[u8]) -> Result<RouteV4, DecodeError> {
        let m = Msg { header: Header { ty: rtm::NEWROUTE, ..Header::default() }, payload: p };
        Route::parse(&m)
    }

    /// What the attribute walk must report: `AttrIter`'s first error.
    fn iter_error(p: &[u8]) -> Option<DecodeError> {
        attrs_after(p, RTMSG_LEN).find_map(|a| a.err())
    }

    #[test]
    fn hand_walked_attributes_fail_as_attr_iter_does() {
        let full = sample();
        assert!(parse(&full).is_ok());
        // Every truncation, and every attribute length field corrupted.
        let mut cases: Vec<Vec<u8>> = (RTMSG_LEN..full.len()).map(|n| full[..n].to_vec()).collect();
        let mut at = RTMSG_LEN;
        while at + 4 <= full.len() {
            let len = u16::from_ne_bytes([full[at], full[at + 1]]) as usize;
            for bad in [0u16, 1, 3, (full.len() - at + 1) as u16, u16::MAX] {
                let mut c = full.clone();
                c[at..at + 2].copy_from_slice(&bad.to_ne_bytes());
                cases.push(c);
            }
            at += crate::wire::align(len);
        }
        let mut errors = 0;
        for c in &cases {
            match (iter_error(c), parse(c)) {
                (Some(want), got) => {
                    assert_eq!(got.unwrap_err(), want, "{c:02x?}");
                    errors += 1;
                }
                // A whole attribute list: an error can only come from a value.
                (None, Err(e)) => assert!(e.what != "attribute", "{e} for {c:02x?}"),
                (None, Ok(_)) => {}
            }
        }
        assert!(errors > 20, "only {errors} malformed cases");
    }
}
