//! Links (network interfaces): create, look up, list, change, delete, and
//! follow changes — what `ip link` does.
//!
//! ```no_run
//! # async fn demo(pod: &netplumb::netns::Netns) -> netplumb::Result<()> {
//! use netplumb::link::{Bridge, BridgePort, LinkChange, NewLink, Veth, VethPeer};
//! let rt = netplumb::Rtnl::new().await?;
//! let links = rt.links();
//! links.add(&NewLink::new("cni0", Bridge::new().stp(false)).up()).await?;
//! // The pod end is created as eth0 directly inside the pod's namespace.
//! links.add(&NewLink::new("veth1234", Veth::new(VethPeer::new("eth0").netns(pod).mtu(1450))).mtu(1450)).await?;
//! let br = links.get("cni0").await?;
//! links.set("veth1234", &LinkChange::new().master(br.index).up()).await?;
//! links.set("veth1234", &LinkChange::new().bridge_port(BridgePort::new().hairpin(true))).await?;
//! # Ok(()) }
//! ```

mod header;
pub mod kind;
pub mod message;

pub use kind::veth::NetnsRef;
pub use kind::{
    Bond, BondMode, Bridge, BridgePort, Dummy, Geneve, Ifb, Ipvlan, IpvlanFlags, IpvlanMode, LinkKind,
    Macvlan, MacvlanMode, PortInfo, PortState, Veth, VethPeer, Vlan, VlanProtocol, Vrf, Vxlan, VxlanDf,
    Wireguard,
};

use std::fmt;

use bitflags::bitflags;

use crate::conn::{Batch, Connection, Dump, Request, Subscription};
use crate::error::{DecodeError, Error, Result};
use crate::netns::Netns;
// validate_lower and validate_mtu are shared by the families; kept
// reachable here for the link kinds.
use crate::rtnl::{self, groups, rtm, validate_ifname, Change, IfIndex, MacAddr, RawAttr, Snapshot};
pub(crate) use crate::rtnl::{validate_lower, validate_mtu};
use crate::wire::{AttrWriter, NLM_F_CREATE, NLM_F_EXCL};

use header::{ifla, IfInfoMsg};

bitflags! {
    /// Interface flags (`IFF_*`), as `ip link` prints them in `<...>`.
    /// Unknown bits are kept.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct LinkFlags: u32 {
        /// `UP`: administratively up.
        const UP = 0x1;
        /// `BROADCAST`.
        const BROADCAST = 0x2;
        /// `DEBUG`.
        const DEBUG = 0x4;
        /// `LOOPBACK`.
        const LOOPBACK = 0x8;
        /// `POINTOPOINT`.
        const POINTOPOINT = 0x10;
        /// `NOTRAILERS`.
        const NOTRAILERS = 0x20;
        /// `RUNNING`: operationally up.
        const RUNNING = 0x40;
        /// `NOARP`.
        const NOARP = 0x80;
        /// `PROMISC`.
        const PROMISC = 0x100;
        /// `ALLMULTI`.
        const ALLMULTI = 0x200;
        /// `MASTER`.
        const MASTER = 0x400;
        /// `SLAVE`.
        const SLAVE = 0x800;
        /// `MULTICAST`.
        const MULTICAST = 0x1000;
        /// `PORTSEL`.
        const PORTSEL = 0x2000;
        /// `AUTOMEDIA`.
        const AUTOMEDIA = 0x4000;
        /// `DYNAMIC`.
        const DYNAMIC = 0x8000;
        /// `LOWER_UP`: carrier.
        const LOWER_UP = 0x10000;
        /// `DORMANT`.
        const DORMANT = 0x20000;
        /// `ECHO`.
        const ECHO = 0x40000;
        // Keep every bit the kernel sends.
        const _ = !0;
    }
}

/// RFC 2863 operational state (`IFLA_OPERSTATE`), as `ip link` prints
/// after `state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum OperState {
    /// `UNKNOWN` (0).
    #[default]
    Unknown,
    /// `NOTPRESENT` (1).
    NotPresent,
    /// `DOWN` (2).
    Down,
    /// `LOWERLAYERDOWN` (3).
    LowerLayerDown,
    /// `TESTING` (4).
    Testing,
    /// `DORMANT` (5).
    Dormant,
    /// `UP` (6).
    Up,
    /// Any other value.
    Other(u8),
}

impl OperState {
    /// From the raw value.
    pub fn from_raw(v: u8) -> OperState {
        match v {
            0 => OperState::Unknown,
            1 => OperState::NotPresent,
            2 => OperState::Down,
            3 => OperState::LowerLayerDown,
            4 => OperState::Testing,
            5 => OperState::Dormant,
            6 => OperState::Up,
            v => OperState::Other(v),
        }
    }

    /// The raw value.
    pub fn to_raw(self) -> u8 {
        match self {
            OperState::Unknown => 0,
            OperState::NotPresent => 1,
            OperState::Down => 2,
            OperState::LowerLayerDown => 3,
            OperState::Testing => 4,
            OperState::Dormant => 5,
            OperState::Up => 6,
            OperState::Other(v) => v,
        }
    }

    /// The name `ip` prints (`UP`, `DOWN`, `LOWERLAYERDOWN`, ...).
    pub fn name(self) -> String {
        match self {
            OperState::Unknown => "UNKNOWN".into(),
            OperState::NotPresent => "NOTPRESENT".into(),
            OperState::Down => "DOWN".into(),
            OperState::LowerLayerDown => "LOWERLAYERDOWN".into(),
            OperState::Testing => "TESTING".into(),
            OperState::Dormant => "DORMANT".into(),
            OperState::Up => "UP".into(),
            OperState::Other(v) => v.to_string(),
        }
    }
}

/// 64-bit interface statistics (`struct rtnl_link_stats64`), as `ip -s
/// link` shows. Fields a kernel does not send stay 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct LinkStats {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
    pub multicast: u64,
    pub collisions: u64,
    pub rx_length_errors: u64,
    pub rx_over_errors: u64,
    pub rx_crc_errors: u64,
    pub rx_frame_errors: u64,
    pub rx_fifo_errors: u64,
    pub rx_missed_errors: u64,
    pub tx_aborted_errors: u64,
    pub tx_carrier_errors: u64,
    pub tx_fifo_errors: u64,
    pub tx_heartbeat_errors: u64,
    pub tx_window_errors: u64,
    pub rx_compressed: u64,
    pub tx_compressed: u64,
    pub rx_nohandler: u64,
    pub rx_otherhost_dropped: u64,
}

impl LinkStats {
    /// Decode `IFLA_STATS64`: as many 64-bit counters as the kernel sent
    /// (older kernels send fewer).
    pub fn parse(b: &[u8]) -> Result<LinkStats, DecodeError> {
        if b.len() % 8 != 0 || b.len() < 8 * 23 {
            return Err(DecodeError::new("IFLA_STATS64", format!("{} bytes", b.len())));
        }
        let mut v = [0u64; 25];
        for (i, c) in b.chunks_exact(8).take(25).enumerate() {
            v[i] = u64::from_ne_bytes(c.try_into().expect("8"));
        }
        Ok(LinkStats {
            rx_packets: v[0],
            tx_packets: v[1],
            rx_bytes: v[2],
            tx_bytes: v[3],
            rx_errors: v[4],
            tx_errors: v[5],
            rx_dropped: v[6],
            tx_dropped: v[7],
            multicast: v[8],
            collisions: v[9],
            rx_length_errors: v[10],
            rx_over_errors: v[11],
            rx_crc_errors: v[12],
            rx_frame_errors: v[13],
            rx_fifo_errors: v[14],
            rx_missed_errors: v[15],
            tx_aborted_errors: v[16],
            tx_carrier_errors: v[17],
            tx_fifo_errors: v[18],
            tx_heartbeat_errors: v[19],
            tx_window_errors: v[20],
            rx_compressed: v[21],
            tx_compressed: v[22],
            rx_nohandler: v[23],
            rx_otherhost_dropped: v[24],
        })
    }

    /// Encode as `IFLA_STATS64` (all 25 counters).
    pub fn to_bytes(&self) -> [u8; 200] {
        let v = [
            self.rx_packets,
            self.tx_packets,
            self.rx_bytes,
            self.tx_bytes,
            self.rx_errors,
            self.tx_errors,
            self.rx_dropped,
            self.tx_dropped,
            self.multicast,
            self.collisions,
            self.rx_length_errors,
            self.rx_over_errors,
            self.rx_crc_errors,
            self.rx_frame_errors,
            self.rx_fifo_errors,
            self.rx_missed_errors,
            self.tx_aborted_errors,
            self.tx_carrier_errors,
            self.tx_fifo_errors,
            self.tx_heartbeat_errors,
            self.tx_window_errors,
            self.rx_compressed,
            self.tx_compressed,
            self.rx_nohandler,
            self.rx_otherhost_dropped,
        ];
        let mut b = [0u8; 200];
        for (c, x) in b.chunks_exact_mut(8).zip(v) {
            c.copy_from_slice(&x.to_ne_bytes());
        }
        b
    }
}

/// A link as the kernel reports it (`ip -d -s link show`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Link {
    /// Interface index.
    pub index: IfIndex,
    /// Name.
    pub name: String,
    /// Kind and kind-specific settings (`None` for links without one, such
    /// as `lo` or physical devices).
    pub kind: Option<LinkKind>,
    /// Hardware type (`ARPHRD_*`: 1 Ethernet, 772 loopback, ...).
    pub link_type: u16,
    /// Flags.
    pub flags: LinkFlags,
    /// Hardware address as sent (6 bytes for Ethernet); see [`Link::mac`].
    pub address: Option<Vec<u8>>,
    /// Hardware broadcast address.
    pub broadcast: Option<Vec<u8>>,
    /// Permanent hardware address, when the device has one.
    pub perm_address: Option<Vec<u8>>,
    /// MTU.
    pub mtu: Option<u32>,
    /// Smallest MTU the device accepts.
    pub min_mtu: Option<u32>,
    /// Largest MTU the device accepts.
    pub max_mtu: Option<u32>,
    /// Operational state.
    pub oper_state: OperState,
    /// The master (bridge, bond, VRF) this link is a port of.
    pub master: Option<IfIndex>,
    /// `IFLA_LINK`: the peer of a veth, the lower device of a vlan,
    /// macvlan or ipvlan — in the namespace [`Link::link_netnsid`] names
    /// when that is set.
    pub link: Option<IfIndex>,
    /// Id (in this namespace's id table) of the namespace [`Link::link`]
    /// lives in, when it is another namespace.
    pub link_netnsid: Option<i32>,
    /// Link group (0 is the default group).
    pub group: u32,
    /// Transmit queue length.
    pub txqlen: Option<u32>,
    /// Alias (`ip link set ... alias`).
    pub alias: Option<String>,
    /// Carrier.
    pub carrier: Option<bool>,
    /// Alternative names (`altname`, `IFLA_PROP_LIST`); see
    /// [`Links::add_altname`].
    pub altnames: Vec<String>,
    /// `IFLA_PROP_LIST` members other than alternative names.
    pub prop_unknown: Vec<RawAttr>,
    /// How many users put the link in promiscuous mode (`promiscuity`);
    /// `ip link set ... promisc on` counts one.
    pub promiscuity: Option<u32>,
    /// How many users put the link in all-multicast mode (`allmulti`,
    /// Linux 6.5+).
    pub allmulti: Option<u32>,
    /// Number of transmit queues (`numtxqueues`).
    pub num_tx_queues: Option<u32>,
    /// Number of receive queues (`numrxqueues`).
    pub num_rx_queues: Option<u32>,
    /// Largest GSO packet in segments (`gso_max_segs`).
    pub gso_max_segs: Option<u32>,
    /// Largest GSO packet in bytes (`gso_max_size`).
    pub gso_max_size: Option<u32>,
    /// Largest GRO packet in bytes (`gro_max_size`).
    pub gro_max_size: Option<u32>,
    /// Largest TSO packet the device takes, bytes (`tso_max_size`).
    pub tso_max_size: Option<u32>,
    /// Largest TSO packet the device takes, segments (`tso_max_segs`).
    pub tso_max_segs: Option<u32>,
    /// Protocol down (`protodown`): held down by a control plane.
    pub proto_down: Option<bool>,
    /// Carrier changes so far (`carrier_changes`).
    pub carrier_changes: Option<u32>,
    /// Carrier up events so far (`carrier_up_count`).
    pub carrier_up_count: Option<u32>,
    /// Carrier down events so far (`carrier_down_count`).
    pub carrier_down_count: Option<u32>,
    /// Queueing discipline.
    pub qdisc: Option<String>,
    /// 64-bit statistics.
    pub stats: Option<LinkStats>,
    /// Port settings when enslaved (bridge port settings, ...).
    pub port: Option<PortInfo>,
    /// The raw `IFLA_INFO_DATA` (kind settings netplumb does not model
    /// are here).
    pub info_data: Option<Vec<u8>>,
    /// `IFLA_LINKINFO` members netplumb does not model.
    pub linkinfo_unknown: Vec<RawAttr>,
    /// Top-level attributes netplumb does not model, as sent.
    pub unknown: Vec<RawAttr>,
}

impl Link {
    /// The hardware address as a MAC, if it is 6 bytes long.
    pub fn mac(&self) -> Option<MacAddr> {
        self.address.as_deref().and_then(MacAddr::from_slice)
    }

    /// Whether the link is administratively up.
    pub fn is_up(&self) -> bool {
        self.flags.contains(LinkFlags::UP)
    }

    /// The kind's name (`"veth"`, `"bridge"`, ...).
    pub fn kind_name(&self) -> Option<&str> {
        self.kind.as_ref().map(LinkKind::name)
    }

    /// For a veth: the peer's index (in the namespace
    /// [`Link::link_netnsid`] names, if set).
    pub fn peer_index(&self) -> Option<IfIndex> {
        matches!(self.kind, Some(LinkKind::Veth(_))).then_some(self.link).flatten()
    }

    /// The per-family settings (`IFLA_AF_SPEC`: IPv4 and IPv6 devconf,
    /// IPv6 address generation mode, ...), decoded from
    /// [`Link::unknown`] where the raw attribute is kept. `None` when the
    /// kernel sent none.
    ///
    /// # Errors
    /// [`DecodeError`] if the attribute is malformed.
    pub fn af_spec(&self) -> Option<Result<AfSpec, DecodeError>> {
        self.unknown
            .iter()
            .find(|a| a.kind & crate::wire::attr::NLA_TYPE_MASK == ifla::AF_SPEC)
            .map(|a| AfSpec::parse(&a.payload))
    }

    /// The bridge port settings, when this link is a bridge port.
    pub fn bridge_port(&self) -> Option<&BridgePort> {
        match &self.port {
            Some(PortInfo::Bridge(p)) => Some(p),
            _ => None,
        }
    }
}

/// A link's per-family settings (`IFLA_AF_SPEC`), as `ip -d link` shows
/// some of them (`addrgenmode`) and `/proc/sys/net/ipv{4,6}/conf/LINK/`
/// all of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AfSpec {
    /// IPv4 devconf values (`IFLA_INET_CONF`), indexed by
    /// `IPV4_DEVCONF_*` - 1 (0 is `forwarding`).
    pub inet_conf: Vec<u32>,
    /// IPv6 flags (`IFLA_INET6_FLAGS`: `IF_READY`, `IF_RA_*`).
    pub inet6_flags: Option<u32>,
    /// IPv6 devconf values (`IFLA_INET6_CONF`), indexed by
    /// `DEVCONF_*` (0 is `forwarding`, 1 `hop_limit`, 2 `mtu6`).
    pub inet6_conf: Vec<u32>,
    /// IPv6 address generation mode (`addrgenmode`): 0 `eui64`, 1
    /// `none`, 2 `stable_secret`, 3 `random`.
    pub inet6_addr_gen_mode: Option<u8>,
    /// IPv6 interface token (`ip token`).
    pub inet6_token: Option<std::net::Ipv6Addr>,
    /// Members netplumb does not decode, as `(family, attribute)`.
    pub unknown: Vec<(u16, RawAttr)>,
}

impl AfSpec {
    /// The `ip -d link` name of the IPv6 address generation mode.
    pub fn addr_gen_mode_name(&self) -> Option<String> {
        self.inet6_addr_gen_mode.map(|m| match m {
            0 => "eui64".into(),
            1 => "none".into(),
            2 => "stable_secret".into(),
            3 => "random".into(),
            n => n.to_string(),
        })
    }

    /// Decode the payload of `IFLA_AF_SPEC`.
    ///
    /// # Errors
    /// [`DecodeError`] naming the malformed member.
    pub fn parse(b: &[u8]) -> Result<AfSpec, DecodeError> {
        let u32s =
            |b: &[u8]| b.chunks_exact(4).map(|c| u32::from_ne_bytes(c.try_into().expect("4"))).collect();
        let mut s = AfSpec::default();
        for fam in crate::wire::AttrIter::new(b) {
            let fam = fam?;
            for a in fam.nested() {
                let a = a?;
                match (fam.kind(), a.kind()) {
                    (2, 1) => s.inet_conf = u32s(a.payload),
                    (10, 1) => s.inet6_flags = Some(a.u32()?),
                    (10, 2) => s.inet6_conf = u32s(a.payload),
                    (10, 7) => {
                        let o: [u8; 16] = crate::wire::fixed(a.payload, "IFLA_INET6_TOKEN")?;
                        s.inet6_token = Some(o.into());
                    }
                    (10, 8) => s.inet6_addr_gen_mode = Some(a.u8()?),
                    (f, _) => s.unknown.push((f, RawAttr::from(a))),
                }
            }
        }
        Ok(s)
    }
}

/// Which link an operation is about: by index or by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkRef {
    /// By interface index.
    Index(IfIndex),
    /// By name.
    Name(String),
}

impl fmt::Display for LinkRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkRef::Index(i) => write!(f, "link {i}"),
            LinkRef::Name(n) => write!(f, "link {n:?}"),
        }
    }
}

impl From<IfIndex> for LinkRef {
    fn from(i: IfIndex) -> Self {
        LinkRef::Index(i)
    }
}
impl From<&str> for LinkRef {
    fn from(n: &str) -> Self {
        LinkRef::Name(n.to_string())
    }
}
impl From<String> for LinkRef {
    fn from(n: String) -> Self {
        LinkRef::Name(n)
    }
}
impl From<&String> for LinkRef {
    fn from(n: &String) -> Self {
        LinkRef::Name(n.clone())
    }
}
impl From<&Link> for LinkRef {
    fn from(l: &Link) -> Self {
        LinkRef::Index(l.index)
    }
}

impl LinkRef {
    fn validate(&self) -> Result<()> {
        match self {
            LinkRef::Index(i) if i.0 == 0 || i.0 > i32::MAX as u32 => {
                Err(Error::invalid("link", format!("{} is not an interface index", i.0)))
            }
            LinkRef::Index(_) => Ok(()),
            LinkRef::Name(n) => validate_ifname("name", n),
        }
    }

    /// The ifinfomsg index and, for a name, the `IFLA_IFNAME` to send.
    fn write_key(&self, w: &mut AttrWriter<'_>, ifi: IfInfoMsg) {
        match self {
            LinkRef::Index(i) => {
                w.raw(&IfInfoMsg { index: i.0 as i32, ..ifi }.to_bytes());
            }
            LinkRef::Name(n) => {
                w.raw(&IfInfoMsg { index: 0, ..ifi }.to_bytes());
                w.str(ifla::IFNAME, n);
            }
        }
    }
}

/// Check an alternative name: 1 to 127 bytes (`ALTIFNAMSIZ` - 1), the
/// characters of an interface name.
fn validate_altname(name: &str) -> Result<()> {
    if name.len() > 127 {
        return Err(Error::invalid("altname", format!("{name:?} is {} bytes, at most 127", name.len())));
    }
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.contains(['/', '\0'])
        || name.contains(char::is_whitespace)
    {
        return Err(Error::invalid(
            "altname",
            format!("{name:?} is not a valid name: 1 to 127 bytes, not . or .., no '/', NUL or whitespace"),
        ));
    }
    Ok(())
}

fn validate_mac(field: &str, mac: MacAddr) -> Result<()> {
    if mac.is_multicast() || mac == MacAddr::ZERO {
        return Err(Error::invalid(field, format!("{mac} is not a unicast address")));
    }
    Ok(())
}

/// A link to create (`ip link add NAME ... type KIND ...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewLink {
    /// Name.
    pub name: String,
    /// Kind and its settings.
    pub kind: LinkKind,
    /// MTU.
    pub mtu: Option<u32>,
    /// MAC address.
    pub mac: Option<MacAddr>,
    /// Transmit queue length.
    pub txqlen: Option<u32>,
    /// Link group.
    pub group: Option<u32>,
    /// Master to enslave it to.
    pub master: Option<IfIndex>,
    /// Bring it up once created.
    pub up: bool,
    /// Create it inside this namespace instead of the connection's.
    pub netns: Option<NetnsRef>,
}

impl NewLink {
    /// A link named `name` of `kind` (e.g. [`Bridge`], [`Veth`], [`Vxlan`]).
    pub fn new(name: impl Into<String>, kind: impl Into<LinkKind>) -> NewLink {
        NewLink {
            name: name.into(),
            kind: kind.into(),
            mtu: None,
            mac: None,
            txqlen: None,
            group: None,
            master: None,
            up: false,
            netns: None,
        }
    }
    /// Set the MTU.
    pub fn mtu(mut self, mtu: u32) -> Self {
        self.mtu = Some(mtu);
        self
    }
    /// Set the MAC address. On a bridge, a MAC set here stays put as ports
    /// come and go.
    pub fn mac(mut self, mac: MacAddr) -> Self {
        self.mac = Some(mac);
        self
    }
    /// Set the transmit queue length.
    pub fn txqlen(mut self, n: u32) -> Self {
        self.txqlen = Some(n);
        self
    }
    /// Put it in link group `g` (for [`Links::delete_group`]).
    pub fn group(mut self, g: u32) -> Self {
        self.group = Some(g);
        self
    }
    /// Enslave it to `master` (a bridge) on creation.
    pub fn master(mut self, master: IfIndex) -> Self {
        self.master = Some(master);
        self
    }
    /// Bring it up on creation.
    pub fn up(mut self) -> Self {
        self.up = true;
        self
    }
    /// Create it inside `netns`.
    pub fn netns(mut self, netns: &Netns) -> Self {
        self.netns = Some(NetnsRef(netns.clone()));
        self
    }

    /// Check every field; nothing is sent when this fails.
    pub fn validate(&self) -> Result<()> {
        validate_ifname("name", &self.name)?;
        if let Some(m) = self.mtu {
            validate_mtu("mtu", m)?;
        }
        if let Some(mac) = self.mac {
            validate_mac("mac", mac)?;
        }
        if let Some(m) = self.master {
            validate_lower("master", m)?;
        }
        if let LinkKind::Veth(Veth { peer: Some(p) }) = &self.kind {
            if p.name == self.name && p.netns.is_none() && self.netns.is_none() {
                return Err(Error::invalid(
                    "peer.name",
                    format!("{:?} is the name of the link itself", p.name),
                ));
            }
        }
        self.kind.validate()
    }

    /// Encode the `RTM_NEWLINK` payload (pure; no validation).
    pub fn write(&self, w: &mut AttrWriter<'_>) {
        use std::os::fd::{AsFd, AsRawFd};
        let flags = if self.up { libc::IFF_UP as u32 } else { 0 };
        w.raw(&IfInfoMsg { flags, change: flags, ..Default::default() }.to_bytes());
        if let Some(l) = self.kind.lower() {
            w.u32(ifla::LINK, l.0);
        }
        w.str(ifla::IFNAME, &self.name);
        if let Some(m) = self.mtu {
            w.u32(ifla::MTU, m);
        }
        if let Some(mac) = self.mac {
            w.bytes(ifla::ADDRESS, &mac.0);
        }
        if let Some(q) = self.txqlen {
            w.u32(ifla::TXQLEN, q);
        }
        if let Some(g) = self.group {
            w.u32(ifla::GROUP, g);
        }
        if let Some(m) = self.master {
            w.u32(ifla::MASTER, m.0);
        }
        if let Some(ns) = &self.netns {
            w.u32(ifla::NET_NS_FD, ns.0.as_fd().as_raw_fd() as u32);
        }
        message::write_linkinfo(w, &self.kind);
    }

    /// The `RTM_NEWLINK` request, validated.
    pub fn request(&self) -> Result<Request> {
        self.validate()?;
        Ok(Request::new(rtm::NEWLINK, NLM_F_CREATE | NLM_F_EXCL, |w| self.write(w)))
    }
}

/// Changes to an existing link (`ip link set ...`). Everything set here is
/// applied in one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkChange {
    /// Up (`Some(true)`) or down (`Some(false)`).
    pub up: Option<bool>,
    /// New MTU.
    pub mtu: Option<u32>,
    /// New MAC address.
    pub mac: Option<MacAddr>,
    /// New master; `Some(None)` removes it (`nomaster`).
    pub master: Option<Option<IfIndex>>,
    /// New name. Combined with [`LinkChange::netns`], the link gets this
    /// name in the target namespace.
    pub name: Option<String>,
    /// New alias; `Some("")` clears it.
    pub alias: Option<String>,
    /// New link group.
    pub group: Option<u32>,
    /// New transmit queue length.
    pub txqlen: Option<u32>,
    /// Move into this namespace.
    pub netns: Option<NetnsRef>,
    /// Bridge port settings (the link must be enslaved to a bridge).
    pub bridge_port: Option<BridgePort>,
    /// Promiscuous mode on or off (`promisc on|off`).
    pub promisc: Option<bool>,
    /// All-multicast mode on or off (`allmulticast on|off`).
    pub allmulticast: Option<bool>,
    /// ARP on or off (`arp on|off`; off sets `NOARP`).
    pub arp: Option<bool>,
    /// Protocol down on or off (`protodown on|off`).
    pub proto_down: Option<bool>,
    /// Largest GSO packet, bytes (`gso_max_size N`).
    pub gso_max_size: Option<u32>,
    /// Largest GSO packet, segments (`gso_max_segs N`).
    pub gso_max_segs: Option<u32>,
    /// Largest GRO packet, bytes (`gro_max_size N`).
    pub gro_max_size: Option<u32>,
}

impl LinkChange {
    /// No changes yet.
    pub fn new() -> LinkChange {
        LinkChange::default()
    }
    /// Set it up (`ip link set ... up`).
    pub fn up(mut self) -> Self {
        self.up = Some(true);
        self
    }
    /// Set it down.
    pub fn down(mut self) -> Self {
        self.up = Some(false);
        self
    }
    /// Change the MTU.
    pub fn mtu(mut self, mtu: u32) -> Self {
        self.mtu = Some(mtu);
        self
    }
    /// Turn promiscuous mode on or off (`ip link set ... promisc on|off`).
    pub fn promisc(mut self, on: bool) -> Self {
        self.promisc = Some(on);
        self
    }
    /// Change the MAC address.
    pub fn mac(mut self, mac: MacAddr) -> Self {
        self.mac = Some(mac);
        self
    }
    /// Enslave to `master` (`ip link set ... master BR`).
    pub fn master(mut self, master: IfIndex) -> Self {
        self.master = Some(Some(master));
        self
    }
    /// Release from its master (`ip link set ... nomaster`).
    pub fn nomaster(mut self) -> Self {
        self.master = Some(None);
        self
    }
    /// Rename (`ip link set ... name NEW`; the link must be down).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Set the alias.
    pub fn alias(mut self, alias: impl Into<String>) -> Self {
        self.alias = Some(alias.into());
        self
    }
    /// Change the link group.
    pub fn group(mut self, g: u32) -> Self {
        self.group = Some(g);
        self
    }
    /// Change the transmit queue length.
    pub fn txqlen(mut self, n: u32) -> Self {
        self.txqlen = Some(n);
        self
    }
    /// Move into `netns` (`ip link set ... netns NS`); with
    /// [`LinkChange::name`], renamed on the way in one request.
    pub fn netns(mut self, netns: &Netns) -> Self {
        self.netns = Some(NetnsRef(netns.clone()));
        self
    }
    /// All-multicast mode on or off (`ip link set ... allmulticast on|off`).
    pub fn allmulticast(mut self, on: bool) -> Self {
        self.allmulticast = Some(on);
        self
    }
    /// ARP on or off (`ip link set ... arp on|off`).
    pub fn arp(mut self, on: bool) -> Self {
        self.arp = Some(on);
        self
    }
    /// Protocol down on or off (`ip link set ... protodown on|off`).
    pub fn proto_down(mut self, on: bool) -> Self {
        self.proto_down = Some(on);
        self
    }
    /// Largest GSO packet in bytes (`ip link set ... gso_max_size N`).
    pub fn gso_max_size(mut self, n: u32) -> Self {
        self.gso_max_size = Some(n);
        self
    }
    /// Largest GSO packet in segments (`ip link set ... gso_max_segs N`).
    pub fn gso_max_segs(mut self, n: u32) -> Self {
        self.gso_max_segs = Some(n);
        self
    }
    /// Largest GRO packet in bytes (`ip link set ... gro_max_size N`).
    pub fn gro_max_size(mut self, n: u32) -> Self {
        self.gro_max_size = Some(n);
        self
    }
    /// Change bridge port settings (`ip link set ... type bridge_slave
    /// hairpin on ...`).
    pub fn bridge_port(mut self, p: BridgePort) -> Self {
        self.bridge_port = Some(p);
        self
    }

    /// Check every field; nothing is sent when this fails.
    pub fn validate(&self) -> Result<()> {
        if let Some(n) = &self.name {
            validate_ifname("name", n)?;
        }
        if let Some(m) = self.mtu {
            validate_mtu("mtu", m)?;
        }
        if let Some(mac) = self.mac {
            validate_mac("mac", mac)?;
        }
        if let Some(Some(m)) = self.master {
            validate_lower("master", m)?;
        }
        if let Some(a) = &self.alias {
            if a.len() >= 256 || a.contains('\0') {
                return Err(Error::invalid("alias", "at most 255 bytes, no NUL"));
            }
        }
        if *self == LinkChange::default() {
            return Err(Error::invalid("change", "nothing to change"));
        }
        Ok(())
    }

    /// Encode the `RTM_NEWLINK` payload for `link` (pure; no validation).
    /// A name reference is sent as `IFLA_IFNAME`; a rename needs an index.
    pub fn write(&self, link: &LinkRef, w: &mut AttrWriter<'_>) {
        use std::os::fd::{AsFd, AsRawFd};
        let (mut flags, mut change) = (0u32, 0u32);
        for (bit, on) in [
            (libc::IFF_UP as u32, self.up),
            (libc::IFF_PROMISC as u32, self.promisc),
            (libc::IFF_ALLMULTI as u32, self.allmulticast),
            // arp on clears NOARP.
            (libc::IFF_NOARP as u32, self.arp.map(|on| !on)),
        ] {
            if let Some(on) = on {
                change |= bit;
                if on {
                    flags |= bit;
                }
            }
        }
        link.write_key(w, IfInfoMsg { flags, change, ..Default::default() });
        if let Some(n) = &self.name {
            w.str(ifla::IFNAME, n);
        }
        if let Some(m) = self.mtu {
            w.u32(ifla::MTU, m);
        }
        if let Some(mac) = self.mac {
            w.bytes(ifla::ADDRESS, &mac.0);
        }
        if let Some(m) = self.master {
            w.u32(ifla::MASTER, m.map_or(0, |i| i.0));
        }
        if let Some(a) = &self.alias {
            w.str(ifla::IFALIAS, a);
        }
        if let Some(g) = self.group {
            w.u32(ifla::GROUP, g);
        }
        if let Some(q) = self.txqlen {
            w.u32(ifla::TXQLEN, q);
        }
        if let Some(p) = self.proto_down {
            w.u8(ifla::PROTO_DOWN, p as u8);
        }
        if let Some(n) = self.gso_max_size {
            w.u32(ifla::GSO_MAX_SIZE, n);
        }
        if let Some(n) = self.gso_max_segs {
            w.u32(ifla::GSO_MAX_SEGS, n);
        }
        if let Some(n) = self.gro_max_size {
            w.u32(ifla::GRO_MAX_SIZE, n);
        }
        if let Some(ns) = &self.netns {
            w.u32(ifla::NET_NS_FD, ns.0.as_fd().as_raw_fd() as u32);
        }
        if let Some(p) = &self.bridge_port {
            // As `ip link set dev X type bridge_slave ...` sends it.
            w.nest(ifla::LINKINFO, |w| {
                w.bytes(ifla::INFO_KIND, b"bridge_slave");
                w.nest(ifla::INFO_SLAVE_DATA, |w| p.write_attrs(w));
            });
        }
    }
}

/// Kernel-side filters for [`Links::list_filtered`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkFilter {
    /// Only links of this kind (`ip link show type KIND`).
    pub kind: Option<String>,
    /// Only ports of this master (`ip link show master BR`).
    pub master: Option<IfIndex>,
}

impl LinkFilter {
    /// No filter.
    pub fn new() -> LinkFilter {
        LinkFilter::default()
    }
    /// Only links of `kind` (`"veth"`, `"bridge"`, ...).
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }
    /// Only ports of `master`.
    pub fn master(mut self, master: IfIndex) -> Self {
        self.master = Some(master);
        self
    }

    /// The `RTM_GETLINK` dump request.
    pub fn request(&self) -> Request {
        Request::new(rtm::GETLINK, 0, |w| {
            w.raw(&IfInfoMsg::default().to_bytes());
            if let Some(m) = self.master {
                w.u32(ifla::MASTER, m.0);
            }
            if let Some(k) = &self.kind {
                w.nest(ifla::LINKINFO, |w| {
                    w.bytes(ifla::INFO_KIND, k.as_bytes());
                });
            }
        })
    }
}

fn decode_link(m: &crate::wire::Msg<'_>) -> Result<Link, DecodeError> {
    message::parse_link(m)
}

/// Operations on links (see the [module docs](self)). Get one from
/// [`crate::Rtnl::links`]; cheap to clone.
#[derive(Clone, Debug)]
pub struct Links {
    conn: Connection,
}

impl Links {
    /// Links on `conn` (a `NETLINK_ROUTE` connection).
    pub fn new(conn: Connection) -> Links {
        Links { conn }
    }

    /// Create a link: `ip link add NAME [mtu ..] [address ..] [group ..]
    /// [master ..] [up] type KIND ...`. A veth's peer may be created in
    /// another namespace in the same request.
    ///
    /// # Errors
    /// [`Error::Invalid`] (nothing sent) for a bad name, MTU, MAC, VNI...;
    /// `EEXIST` ([`Error::is_exists`]) if the name is taken; `EOPNOTSUPP`
    /// or "Unknown device type" if the kernel lacks the kind; `EPERM`
    /// without `CAP_NET_ADMIN`.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// Once sent the request takes effect even if the future is dropped.
    #[doc(alias = "RTM_NEWLINK")]
    pub async fn add(&self, link: &NewLink) -> Result<()> {
        self.conn.ack(&link.request()?).await
    }

    /// Create many links in few datagrams (acks only on error): see
    /// [`Connection::bulk`]. All are attempted; failures are reported
    /// together as [`Error::Batch`] with their index.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// As [`Connection::bulk`].
    #[doc(alias = "RTM_NEWLINK")]
    pub async fn add_many<'a>(&self, links: impl IntoIterator<Item = &'a NewLink>) -> Result<()> {
        let mut batch = Batch::new();
        let mut names = Vec::new();
        for (i, l) in links.into_iter().enumerate() {
            l.validate().map_err(|e| e.at_index("", i))?;
            batch.push(rtm::NEWLINK, NLM_F_CREATE | NLM_F_EXCL, |w| l.write(w));
            names.push(l.name.clone());
        }
        self.conn.bulk_described(&batch, |i| format!("add link {:?}", names[i])).await
    }

    /// Look one link up by index or name: `ip -d -s link show dev NAME`.
    ///
    /// # Errors
    /// [`Error::NotFound`] if there is no such link; [`Error::Invalid`]
    /// for an impossible name or index.
    ///
    /// # Privileges
    /// None: reading needs no privilege.
    ///
    /// # Cancel safety
    /// Cancel safe: nothing changes.
    #[doc(alias = "RTM_GETLINK")]
    pub async fn get(&self, link: impl Into<LinkRef>) -> Result<Link> {
        let link = link.into();
        link.validate()?;
        let req = Request::new(rtm::GETLINK, 0, |w| link.write_key(w, IfInfoMsg::default()));
        let replies = match self.conn.request(&req).await {
            Ok(r) => r,
            Err(e) if e.is_not_found() => return Err(Error::NotFound { what: link.to_string() }),
            Err(e) => return Err(e),
        };
        let m = replies
            .iter()
            .find(|m| m.header.ty == rtm::NEWLINK)
            .ok_or_else(|| Error::NotFound { what: link.to_string() })?;
        Ok(message::parse_link(&m.as_msg())?)
    }

    /// The link that has alternative name `altname`: `ip link show
    /// ALTNAME` (the kernel looks `IFLA_ALT_IFNAME` up).
    ///
    /// # Errors
    /// [`Error::Invalid`] for a name longer than 127 bytes;
    /// [`Error::NotFound`] if no link has it.
    ///
    /// # Privileges
    /// None: reading needs no privilege.
    ///
    /// # Cancel safety
    /// Cancel safe: nothing changes.
    #[doc(alias = "RTM_GETLINK")]
    pub async fn get_by_altname(&self, altname: &str) -> Result<Link> {
        validate_altname(altname)?;
        let req = Request::new(rtm::GETLINK, 0, |w| {
            w.raw(&IfInfoMsg::default().to_bytes());
            w.str(ifla::ALT_IFNAME, altname);
        });
        let what = || format!("link with altname {altname:?}");
        let replies = match self.conn.request(&req).await {
            Ok(r) => r,
            Err(e) if e.is_not_found() || e.is_no_device() => return Err(Error::NotFound { what: what() }),
            Err(e) => return Err(e),
        };
        let m = replies
            .iter()
            .find(|m| m.header.ty == rtm::NEWLINK)
            .ok_or_else(|| Error::NotFound { what: what() })?;
        Ok(message::parse_link(&m.as_msg())?)
    }

    /// Give `link` an alternative name: `ip link property add dev LINK
    /// altname NAME`. Alternative names are up to 127 bytes and work
    /// wherever a name does.
    ///
    /// # Errors
    /// [`Error::Invalid`] (nothing sent); `EEXIST` if a link already has
    /// that name; [`Error::NotFound`] if `link` does not exist.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// Once sent the request takes effect even if the future is dropped.
    #[doc(alias = "RTM_NEWLINKPROP")]
    pub async fn add_altname(&self, link: impl Into<LinkRef>, altname: &str) -> Result<()> {
        self.linkprop(rtm::NEWLINKPROP, NLM_F_CREATE | NLM_F_EXCL, link.into(), altname).await
    }

    /// Remove an alternative name: `ip link property del dev LINK altname
    /// NAME`.
    ///
    /// # Errors
    /// [`Error::Invalid`] (nothing sent); `ENOENT` if the link has no such
    /// altname; [`Error::NotFound`] if `link` does not exist.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// Once sent the request takes effect even if the future is dropped.
    #[doc(alias = "RTM_DELLINKPROP")]
    pub async fn delete_altname(&self, link: impl Into<LinkRef>, altname: &str) -> Result<()> {
        self.linkprop(rtm::DELLINKPROP, 0, link.into(), altname).await
    }

    async fn linkprop(&self, ty: u16, flags: u16, link: LinkRef, altname: &str) -> Result<()> {
        link.validate()?;
        validate_altname(altname)?;
        let req = Request::new(ty, flags, |w| {
            link.write_key(w, IfInfoMsg::default());
            w.nest(ifla::PROP_LIST | crate::wire::attr::NLA_F_NESTED, |w| {
                w.str(ifla::ALT_IFNAME, altname);
            });
        });
        match self.conn.ack(&req).await {
            Err(e) if e.is_no_device() => Err(Error::NotFound { what: link.to_string() }),
            r => r,
        }
    }

    /// Every link: `ip -d -s link show`. A stream (see [`Dump`]).
    ///
    /// # Privileges
    /// None: reading needs no privilege.
    ///
    /// # Cancel safety
    /// Dropping the stream abandons the dump; the connection drains the
    /// rest before its next dump.
    #[doc(alias = "RTM_GETLINK")]
    pub fn list(&self) -> Dump<Link> {
        self.list_filtered(&LinkFilter::default())
    }

    /// Links matching `filter`, filtered by the kernel: `ip link show
    /// type KIND`, `ip link show master BR`.
    ///
    /// # Privileges
    /// None: reading needs no privilege.
    ///
    /// # Cancel safety
    /// As [`Links::list`].
    #[doc(alias = "RTM_GETLINK")]
    pub fn list_filtered(&self, filter: &LinkFilter) -> Dump<Link> {
        rtnl::typed_dump(&self.conn, &filter.request(), rtm::NEWLINK, decode_link)
    }

    /// Change a link: `ip link set dev LINK [up|down] [mtu ..] [address
    /// ..] [master ..|nomaster] [name ..] [alias ..] [group ..] [txqlen
    /// ..] [netns NS]`, all in one request. Moving into a namespace with a
    /// new name is atomic.
    ///
    /// # Errors
    /// [`Error::Invalid`] (nothing sent); [`Error::NotFound`] if the link
    /// does not exist; `EBUSY` renaming a link that is up; `EEXIST` if
    /// the new name is taken; `EPERM` without `CAP_NET_ADMIN`.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// Once sent the request takes effect even if the future is dropped.
    #[doc(alias = "RTM_NEWLINK")]
    #[doc(alias = "RTM_SETLINK")]
    pub async fn set(&self, link: impl Into<LinkRef>, change: &LinkChange) -> Result<()> {
        let mut link = link.into();
        link.validate()?;
        change.validate()?;
        if let (LinkRef::Name(_), Some(_)) = (&link, &change.name) {
            // The name is the lookup key: find the index first.
            link = LinkRef::Index(self.get(link).await?.index);
        }
        let req = Request::new(rtm::NEWLINK, 0, |w| change.write(&link, w));
        match self.conn.ack(&req).await {
            Err(e) if e.is_no_device() => Err(Error::NotFound { what: link.to_string() }),
            r => r,
        }
    }

    /// Delete a link: `ip link del dev LINK`. Deleting one end of a veth
    /// deletes both.
    ///
    /// # Errors
    /// [`Error::NotFound`] if there is no such link; `EOPNOTSUPP` for
    /// devices that cannot be deleted (`lo`, physical devices).
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// Once sent the request takes effect even if the future is dropped.
    #[doc(alias = "RTM_DELLINK")]
    pub async fn delete(&self, link: impl Into<LinkRef>) -> Result<()> {
        let link = link.into();
        link.validate()?;
        let req = Request::new(rtm::DELLINK, 0, |w| link.write_key(w, IfInfoMsg::default()));
        match self.conn.ack(&req).await {
            Err(e) if e.is_not_found() => Err(Error::NotFound { what: link.to_string() }),
            r => r,
        }
    }

    /// Delete every link of group `group` in one kernel operation: `ip
    /// link del group GROUP`. Tearing down 1,000 veth pairs this way takes
    /// a fraction of a second, where deleting them one by one takes many.
    ///
    /// # Errors
    /// [`Error::Invalid`] for group 0 (every link is in it, `lo` too);
    /// `EOPNOTSUPP` if a link of the group cannot be deleted (then none is).
    /// Deleting an empty group succeeds.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// Once sent the request takes effect even if the future is dropped.
    #[doc(alias = "RTM_DELLINK")]
    pub async fn delete_group(&self, group: u32) -> Result<()> {
        if group == 0 {
            return Err(Error::invalid("group", "0 is the default group every link is in"));
        }
        let req = Request::new(rtm::DELLINK, 0, |w| {
            w.raw(&IfInfoMsg::default().to_bytes());
            w.u32(ifla::GROUP, group);
        });
        self.conn.ack(&req).await
    }

    /// Delete many links in few datagrams (acks only on error).
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// As [`Connection::bulk`].
    #[doc(alias = "RTM_DELLINK")]
    pub async fn delete_many(&self, links: impl IntoIterator<Item = LinkRef>) -> Result<()> {
        let mut batch = Batch::new();
        let mut what = Vec::new();
        for (i, l) in links.into_iter().enumerate() {
            l.validate().map_err(|e| e.at_index("", i))?;
            batch.push(rtm::DELLINK, 0, |w| l.write_key(w, IfInfoMsg::default()));
            what.push(l);
        }
        self.conn.bulk_described(&batch, |i| format!("delete {}", what[i])).await
    }

    /// Follow link changes (`ip monitor link`): a stream of
    /// [`Change<Link>`] and [`crate::conn::Event::Overrun`].
    ///
    /// # Privileges
    /// None: reading needs no privilege.
    ///
    /// # Cancel safety
    /// Cancel safe.
    #[doc(alias = "RTNLGRP_LINK")]
    pub async fn events(&self) -> Result<Subscription<Change<Link>>> {
        self.events_with_buffer(None).await
    }

    /// [`Links::events`] with an explicit socket receive buffer.
    ///
    /// # Privileges
    /// None: reading needs no privilege.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn events_with_buffer(&self, rcvbuf: Option<usize>) -> Result<Subscription<Change<Link>>> {
        self.conn
            .subscribe(&[groups::LINK], rcvbuf, rtnl::change_decoder(rtm::NEWLINK, rtm::DELLINK, decode_link))
            .await
    }

    /// Subscribe, then list: every link that exists, and every change from
    /// before the list was taken (see [`Snapshot`]).
    ///
    /// # Privileges
    /// None: reading needs no privilege.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn list_and_follow(&self) -> Result<Snapshot<Link>> {
        let events = self.events().await?;
        let existing = self.list().try_collect().await?;
        Ok(Snapshot { existing, events })
    }
}
