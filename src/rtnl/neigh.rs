//! Neighbours — ARP (IPv4) and NDP (IPv6) entries, what `ip neigh` does —
//! and bridge forwarding database entries, what `bridge fdb` does,
//! including the VXLAN destinations an overlay needs.
//!
//! ```no_run
//! # async fn demo(rt: &netplumb::Rtnl, vx: netplumb::IfIndex) -> netplumb::Result<()> {
//! use netplumb::neigh::{FdbEntry, Neighbour};
//! let mac: netplumb::MacAddr = "02:00:0a:f4:02:00".parse()?;
//! // ip neigh add 10.244.2.0 lladdr 02:00:0a:f4:02:00 dev flannel.1 nud permanent
//! rt.neighbours().add(&Neighbour::new(vx, "10.244.2.0".parse().unwrap(), mac)).await?;
//! // bridge fdb append 02:00:0a:f4:02:00 dev flannel.1 dst 192.168.1.2 self permanent
//! rt.fdb().append(&FdbEntry::new(vx, mac).dst("192.168.1.2".parse().unwrap())).await?;
//! # Ok(()) }
//! ```

use std::net::IpAddr;

use bitflags::bitflags;

use crate::conn::{Connection, Dump, Request, Subscription};
use crate::error::{DecodeError, Error, Result};
use crate::rtnl::{
    self, groups, header, ip_from, put_ip, rtm, Change, IfIndex, MacAddr, RawAttr, Snapshot, AF_BRIDGE,
    AF_INET, AF_INET6, AF_UNSPEC,
};
use crate::wire::{attrs_after, AttrWriter, Msg, NLM_F_APPEND, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};

/// `NDA_*` attribute numbers (`include/uapi/linux/neighbour.h`).
#[allow(missing_docs)]
pub(crate) mod nda {
    pub const DST: u16 = libc::NDA_DST;
    pub const LLADDR: u16 = libc::NDA_LLADDR;
    pub const PROBES: u16 = libc::NDA_PROBES;
    pub const VLAN: u16 = libc::NDA_VLAN;
    pub const PORT: u16 = libc::NDA_PORT;
    pub const VNI: u16 = libc::NDA_VNI;
    pub const IFINDEX: u16 = libc::NDA_IFINDEX;
    pub const MASTER: u16 = libc::NDA_MASTER;
    pub const SRC_VNI: u16 = libc::NDA_SRC_VNI;
    pub const PROTOCOL: u16 = 12;
}

/// Size of `struct ndmsg`.
pub const NDMSG_LEN: usize = 12;

bitflags! {
    /// Neighbour states (`NUD_*`), as `ip neigh` prints them. Unknown bits
    /// are kept.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct NeighState: u16 {
        /// `INCOMPLETE`: resolution in progress.
        const INCOMPLETE = 0x01;
        /// `REACHABLE`: confirmed recently.
        const REACHABLE = 0x02;
        /// `STALE`.
        const STALE = 0x04;
        /// `DELAY`.
        const DELAY = 0x08;
        /// `PROBE`.
        const PROBE = 0x10;
        /// `FAILED`.
        const FAILED = 0x20;
        /// `NOARP`: needs no resolution (`static` in `bridge fdb`).
        const NOARP = 0x40;
        /// `PERMANENT`: configured, never expires.
        const PERMANENT = 0x80;
        // Keep every bit the kernel sends.
        const _ = !0;
    }
}

bitflags! {
    /// Neighbour flags (`NTF_*`). Unknown bits are kept.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct NeighFlags: u8 {
        /// `use`.
        const USE = 0x01;
        /// `self`: an FDB entry of the device itself (a VXLAN's
        /// destinations).
        const SELF = 0x02;
        /// `master`: an FDB entry of the bridge the port belongs to.
        const MASTER = 0x04;
        /// `proxy`.
        const PROXY = 0x08;
        /// `extern_learn`.
        const EXT_LEARNED = 0x10;
        /// `offload`.
        const OFFLOADED = 0x20;
        /// `sticky`.
        const STICKY = 0x40;
        /// `router` (IPv6).
        const ROUTER = 0x80;
        // Keep every bit the kernel sends.
        const _ = !0;
    }
}

impl NeighState {
    /// The names `ip neigh` prints, in its order (`["PERMANENT"]`,
    /// `["REACHABLE"]`, `["NONE"]` for no bit); unknown bits as hex.
    pub fn names(self) -> Vec<String> {
        const NAMES: [(NeighState, &str); 8] = [
            (NeighState::INCOMPLETE, "INCOMPLETE"),
            (NeighState::REACHABLE, "REACHABLE"),
            (NeighState::STALE, "STALE"),
            (NeighState::DELAY, "DELAY"),
            (NeighState::PROBE, "PROBE"),
            (NeighState::FAILED, "FAILED"),
            (NeighState::NOARP, "NOARP"),
            (NeighState::PERMANENT, "PERMANENT"),
        ];
        if self.is_empty() {
            return vec!["NONE".into()];
        }
        let mut out: Vec<String> =
            NAMES.iter().filter(|(b, _)| self.contains(*b)).map(|(_, n)| n.to_string()).collect();
        let rest = self.bits() & !0xff;
        if rest != 0 {
            out.push(format!("{rest:#x}"));
        }
        out
    }

    /// The state as `bridge fdb` names it: `permanent`, `static` (NOARP),
    /// `stale`, `""` for reachable (printed as nothing), else `state=0xN`.
    pub fn bridge_name(self) -> String {
        if self.contains(NeighState::PERMANENT) {
            "permanent".into()
        } else if self.contains(NeighState::NOARP) {
            "static".into()
        } else if self.contains(NeighState::STALE) {
            "stale".into()
        } else if self.contains(NeighState::REACHABLE) {
            String::new()
        } else {
            format!("state={:#x}", self.bits())
        }
    }
}

impl NeighFlags {
    /// The flags as `ip neigh` prints them (`router`, `proxy`,
    /// `extern_learn`, `offload`, ...).
    pub fn names(self) -> Vec<&'static str> {
        [
            (NeighFlags::ROUTER, "router"),
            (NeighFlags::PROXY, "proxy"),
            (NeighFlags::EXT_LEARNED, "extern_learn"),
            (NeighFlags::OFFLOADED, "offload"),
        ]
        .into_iter()
        .filter(|(b, _)| self.contains(*b))
        .map(|(_, n)| n)
        .collect()
    }

    /// The flags as `bridge -j fdb` lists them under `"flags"` (`self`,
    /// `router`, `offload`, `extern_learn`, `sticky`; `master` is shown as
    /// the bridge's name instead).
    pub fn bridge_names(self) -> Vec<&'static str> {
        [
            (NeighFlags::SELF, "self"),
            (NeighFlags::ROUTER, "router"),
            (NeighFlags::EXT_LEARNED, "extern_learn"),
            (NeighFlags::OFFLOADED, "offload"),
            (NeighFlags::STICKY, "sticky"),
        ]
        .into_iter()
        .filter(|(b, _)| self.contains(*b))
        .map(|(_, n)| n)
        .collect()
    }
}

fn write_ndmsg(w: &mut AttrWriter<'_>, family: u8, index: u32, state: u16, flags: u8) {
    let mut h = [0u8; NDMSG_LEN];
    h[0] = family;
    h[4..8].copy_from_slice(&index.to_ne_bytes());
    h[8..10].copy_from_slice(&state.to_ne_bytes());
    h[10] = flags;
    w.raw(&h);
}

struct NdHeader {
    family: u8,
    index: IfIndex,
    state: NeighState,
    flags: NeighFlags,
}

fn parse_ndmsg(p: &[u8]) -> Result<NdHeader, DecodeError> {
    let h = header::<NDMSG_LEN>(p, "ndmsg")?;
    Ok(NdHeader {
        family: h[0],
        index: IfIndex(u32::from_ne_bytes(h[4..8].try_into().expect("4"))),
        state: NeighState::from_bits_retain(u16::from_ne_bytes([h[8], h[9]])),
        flags: NeighFlags::from_bits_retain(h[10]),
    })
}

/// An ARP or NDP entry (`ip neigh add ADDR lladdr MAC dev LINK nud STATE`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Neighbour {
    /// The link.
    pub index: IfIndex,
    /// The neighbour's IP address.
    pub dst: IpAddr,
    /// Its link-layer address (6 bytes on Ethernet; see
    /// [`Neighbour::mac`]). `None` while unresolved.
    pub lladdr: Option<Vec<u8>>,
    /// State; `PERMANENT` by default, as with `ip neigh add`.
    pub state: NeighState,
    /// Flags (`router`, `proxy`, ...).
    pub flags: NeighFlags,
    /// Who installed it (`protocol`).
    pub protocol: Option<u8>,
    /// How many probes were sent.
    pub probes: Option<u32>,
    /// Attributes netplumb does not model, as sent.
    pub unknown: Vec<RawAttr>,
}

impl Neighbour {
    /// A permanent entry: `dst` is at `mac` on link `index`.
    pub fn new(index: IfIndex, dst: IpAddr, mac: MacAddr) -> Neighbour {
        Neighbour {
            index,
            dst,
            lladdr: Some(mac.0.to_vec()),
            state: NeighState::PERMANENT,
            flags: NeighFlags::empty(),
            protocol: None,
            probes: None,
            unknown: Vec::new(),
        }
    }
    /// A proxy ARP/NDP entry: answer for `dst` on link `index` (`ip neigh
    /// add proxy ADDR dev LINK`). It has no link-layer address.
    pub fn proxy(index: IfIndex, dst: IpAddr) -> Neighbour {
        Neighbour {
            index,
            dst,
            lladdr: None,
            state: NeighState::PERMANENT,
            flags: NeighFlags::PROXY,
            protocol: None,
            probes: None,
            unknown: Vec::new(),
        }
    }
    /// Whether this is a proxy entry (`ip neigh show proxy`).
    pub fn is_proxy(&self) -> bool {
        self.flags.contains(NeighFlags::PROXY)
    }
    /// Set the link-layer address.
    pub fn lladdr(mut self, mac: MacAddr) -> Self {
        self.lladdr = Some(mac.0.to_vec());
        self
    }
    /// Record who installed it (`protocol N`).
    pub fn protocol(mut self, p: u8) -> Self {
        self.protocol = Some(p);
        self
    }
    /// Set the state (`nud reachable`, `nud stale`, `nud noarp`...).
    pub fn state(mut self, s: NeighState) -> Self {
        self.state = s;
        self
    }
    /// Mark it as a router (IPv6).
    pub fn router(mut self) -> Self {
        self.flags |= NeighFlags::ROUTER;
        self
    }
    /// The link-layer address as a MAC, if 6 bytes long.
    pub fn mac(&self) -> Option<MacAddr> {
        self.lladdr.as_deref().and_then(MacAddr::from_slice)
    }

    fn family(&self) -> u8 {
        rtnl::family_of(self.dst)
    }

    /// Check every field; nothing is sent when this fails.
    pub fn validate(&self) -> Result<()> {
        crate::rtnl::validate_lower("index", self.index)?;
        if self.lladdr.as_ref().is_some_and(|l| l.is_empty() || l.len() > 32) {
            return Err(Error::invalid("lladdr", "1 to 32 bytes"));
        }
        if self.state.is_empty() {
            return Err(Error::invalid("state", "no state given"));
        }
        if self.is_proxy() && self.lladdr.is_some() {
            return Err(Error::invalid("lladdr", "a proxy entry has no link-layer address"));
        }
        Ok(())
    }

    /// Encode the `RTM_NEWNEIGH` payload (pure; no validation).
    pub fn write(&self, w: &mut AttrWriter<'_>) {
        write_ndmsg(w, self.family(), self.index.0, self.state.bits(), self.flags.bits());
        put_ip(w, nda::DST, self.dst);
        if let Some(l) = &self.lladdr {
            w.bytes(nda::LLADDR, l);
        }
        if let Some(p) = self.protocol {
            w.u8(nda::PROTOCOL, p);
        }
    }

    /// Encode the `RTM_DELNEIGH` payload.
    pub fn write_delete(&self, w: &mut AttrWriter<'_>) {
        // A proxy entry is deleted from the proxy table (NTF_PROXY).
        write_ndmsg(w, self.family(), self.index.0, 0, (self.flags & NeighFlags::PROXY).bits());
        put_ip(w, nda::DST, self.dst);
    }

    /// Decode an `RTM_NEWNEIGH`/`RTM_DELNEIGH` message of family
    /// `AF_INET`/`AF_INET6`.
    pub fn parse(m: &Msg<'_>) -> Result<Neighbour, DecodeError> {
        let h = parse_ndmsg(m.payload)?;
        if h.family != AF_INET && h.family != AF_INET6 {
            return Err(DecodeError::new("ndmsg", format!("family {} is not IPv4 or IPv6", h.family)));
        }
        let mut dst = None;
        let mut n = Neighbour {
            index: h.index,
            dst: IpAddr::from([0u8; 4]),
            lladdr: None,
            state: h.state,
            flags: h.flags,
            protocol: None,
            probes: None,
            unknown: Vec::new(),
        };
        for a in attrs_after(m.payload, NDMSG_LEN) {
            let a = a?;
            match a.kind() {
                nda::DST => dst = Some(ip_from(a.payload, "NDA_DST")?),
                nda::LLADDR => n.lladdr = Some(a.payload.to_vec()),
                nda::PROBES => n.probes = Some(a.u32()?),
                nda::PROTOCOL => n.protocol = Some(a.u8()?),
                _ => n.unknown.push(RawAttr::from(a)),
            }
        }
        n.dst = dst.ok_or_else(|| DecodeError::new("neighbour", "no NDA_DST"))?;
        Ok(n)
    }
}

fn decode_neigh(m: &Msg<'_>) -> Result<Option<Neighbour>, DecodeError> {
    match m.payload.first() {
        Some(&AF_INET) | Some(&AF_INET6) => Neighbour::parse(m).map(Some),
        _ => Ok(None),
    }
}

fn decode_fdb(m: &Msg<'_>) -> Result<Option<FdbEntry>, DecodeError> {
    match m.payload.first() {
        Some(&AF_BRIDGE) => FdbEntry::parse(m).map(Some),
        _ => Ok(None),
    }
}

fn dump<T: Send + 'static>(
    conn: &Connection,
    req: &Request,
    decode: fn(&Msg<'_>) -> Result<Option<T>, DecodeError>,
) -> Dump<T> {
    conn.dump(
        req,
        move |m| if m.header.ty == rtm::NEWNEIGH { decode(m).map_err(Error::Decode) } else { Ok(None) },
    )
}

fn events_decoder<T: 'static>(
    decode: fn(&Msg<'_>) -> Result<Option<T>, DecodeError>,
) -> impl FnMut(&Msg<'_>) -> Result<Option<Change<T>>> + Send + 'static {
    move |m| {
        let wrap: fn(T) -> Change<T> = match m.header.ty {
            rtm::NEWNEIGH => Change::New,
            rtm::DELNEIGH => Change::Deleted,
            _ => return Ok(None),
        };
        decode(m).map(|o| o.map(wrap)).map_err(Error::Decode)
    }
}

/// Kernel-side filters for neighbour and FDB dumps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NeighFilter {
    /// Only entries of this link (an FDB's port).
    pub index: Option<IfIndex>,
    /// Only entries of ports of this master (bridge).
    pub master: Option<IfIndex>,
    /// Proxy entries instead of ordinary ones (`ip neigh show proxy`).
    pub proxy: bool,
}

impl NeighFilter {
    /// No filter.
    pub fn new() -> NeighFilter {
        NeighFilter::default()
    }
    /// Only on link `index` (`dev LINK`, `brport LINK`).
    pub fn index(mut self, index: IfIndex) -> Self {
        self.index = Some(index);
        self
    }
    /// Only ports of `master` (`br BRIDGE`).
    pub fn master(mut self, master: IfIndex) -> Self {
        self.master = Some(master);
        self
    }
    /// Proxy entries (`ip neigh show proxy`): the kernel dumps its proxy
    /// table instead of the neighbour table.
    pub fn proxy(mut self) -> Self {
        self.proxy = true;
        self
    }

    fn request(&self, family: u8) -> Request {
        Request::new(rtm::GETNEIGH, 0, |w| {
            if family == AF_BRIDGE {
                // The FDB dump takes the port in the header.
                write_ndmsg(w, family, self.index.map_or(0, |i| i.0), 0, 0);
            } else {
                let flags = if self.proxy { NeighFlags::PROXY.bits() } else { 0 };
                write_ndmsg(w, family, 0, 0, flags);
                if let Some(i) = self.index {
                    w.u32(nda::IFINDEX, i.0);
                }
            }
            if let Some(m) = self.master {
                w.u32(nda::MASTER, m.0);
            }
        })
    }
}

/// Operations on ARP/NDP entries (see the [module docs](self)). Get one
/// from [`crate::Rtnl::neighbours`].
#[derive(Clone, Debug)]
pub struct Neighbours {
    conn: Connection,
}

impl Neighbours {
    /// Neighbours on `conn` (a `NETLINK_ROUTE` connection).
    pub fn new(conn: Connection) -> Neighbours {
        Neighbours { conn }
    }

    /// Add an entry: `ip neigh add ADDR lladdr MAC dev LINK nud STATE`.
    ///
    /// # Errors
    /// [`Error::Invalid`] (nothing sent); `EEXIST`; `ENODEV`; `EPERM`
    /// without `CAP_NET_ADMIN`.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// Once sent the request takes effect even if the future is dropped.
    #[doc(alias = "RTM_NEWNEIGH")]
    pub async fn add(&self, n: &Neighbour) -> Result<()> {
        n.validate()?;
        self.conn.ack(&Request::new(rtm::NEWNEIGH, NLM_F_CREATE | NLM_F_EXCL, |w| n.write(w))).await
    }

    /// Add or update an entry: `ip neigh replace ...`.
    ///
    /// # Errors
    /// As [`Neighbours::add`], without `EEXIST`.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// As [`Neighbours::add`].
    #[doc(alias = "RTM_NEWNEIGH")]
    pub async fn replace(&self, n: &Neighbour) -> Result<()> {
        n.validate()?;
        self.conn.ack(&Request::new(rtm::NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, |w| n.write(w))).await
    }

    /// Delete an entry: `ip neigh del ADDR dev LINK`.
    ///
    /// # Errors
    /// `ENOENT` ([`Error::is_not_found`]) if there is none.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// Once sent the request takes effect even if the future is dropped.
    #[doc(alias = "RTM_DELNEIGH")]
    pub async fn delete(&self, n: &Neighbour) -> Result<()> {
        crate::rtnl::validate_lower("index", n.index)?;
        self.conn.ack(&Request::new(rtm::DELNEIGH, 0, |w| n.write_delete(w))).await
    }

    /// Every IPv4 and IPv6 entry: `ip neigh show`.
    ///
    /// # Privileges
    /// None: reading needs no privilege.
    ///
    /// # Cancel safety
    /// Dropping the stream abandons the dump.
    #[doc(alias = "RTM_GETNEIGH")]
    pub fn list(&self) -> Dump<Neighbour> {
        self.list_filtered(&NeighFilter::default())
    }

    /// Entries matching `filter` (`ip neigh show dev LINK`).
    ///
    /// # Privileges
    /// None: reading needs no privilege.
    ///
    /// # Cancel safety
    /// As [`Neighbours::list`].
    #[doc(alias = "RTM_GETNEIGH")]
    pub fn list_filtered(&self, filter: &NeighFilter) -> Dump<Neighbour> {
        dump(&self.conn, &filter.request(AF_UNSPEC), decode_neigh)
    }

    /// Every proxy entry of both families: `ip neigh show proxy`.
    ///
    /// # Privileges
    /// None: reading needs no privilege.
    ///
    /// # Cancel safety
    /// As [`Neighbours::list`].
    #[doc(alias = "RTM_GETNEIGH")]
    pub fn list_proxy(&self) -> Dump<Neighbour> {
        self.list_filtered(&NeighFilter::default().proxy())
    }

    /// Follow neighbour changes (`ip monitor neigh`).
    ///
    /// # Privileges
    /// None: reading needs no privilege.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn events(&self) -> Result<Subscription<Change<Neighbour>>> {
        self.conn.subscribe(&[groups::NEIGH], None, events_decoder(decode_neigh)).await
    }

    /// Subscribe, then list (see [`Snapshot`]).
    ///
    /// # Privileges
    /// None: reading needs no privilege.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn list_and_follow(&self) -> Result<Snapshot<Neighbour>> {
        let events = self.events().await?;
        let existing = self.list().try_collect().await?;
        Ok(Snapshot { existing, events })
    }
}

/// A bridge forwarding database entry (`bridge fdb add MAC dev PORT [dst
/// IP] [vni N] [port P] [vlan V] self|master permanent|static`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FdbEntry {
    /// The port (or VXLAN device) the entry belongs to.
    pub index: IfIndex,
    /// The MAC address; [`MacAddr::ZERO`] on a VXLAN is "every unknown
    /// destination" (the flood list).
    pub mac: MacAddr,
    /// VXLAN: the remote VTEP (`dst`).
    pub dst: Option<IpAddr>,
    /// VXLAN: the VNI (`vni`), when not the device's own.
    pub vni: Option<u32>,
    /// VXLAN: the UDP port (`port`), when not the device's own.
    pub port: Option<u16>,
    /// VXLAN: the device to reach `dst` through (`via`).
    pub via: Option<IfIndex>,
    /// VLAN (`vlan`).
    pub vlan: Option<u16>,
    /// VXLAN in collect-metadata (`external`) mode: the VNI of the
    /// received packets the entry applies to (`src_vni`).
    pub src_vni: Option<u32>,
    /// The bridge (`master`), as reported.
    pub master: Option<IfIndex>,
    /// State: `NOARP|PERMANENT` (`permanent`) by default, as `bridge` does;
    /// `NOARP` alone is `static`.
    pub state: NeighState,
    /// `SELF` (the device's own table, default) or `MASTER` (the bridge's).
    pub flags: NeighFlags,
    /// Attributes netplumb does not model, as sent.
    pub unknown: Vec<RawAttr>,
}

impl FdbEntry {
    /// A permanent entry for `mac` on `index`, in the device's own table.
    pub fn new(index: IfIndex, mac: MacAddr) -> FdbEntry {
        FdbEntry {
            index,
            mac,
            dst: None,
            vni: None,
            port: None,
            via: None,
            vlan: None,
            src_vni: None,
            master: None,
            state: NeighState::NOARP | NeighState::PERMANENT,
            flags: NeighFlags::SELF,
            unknown: Vec::new(),
        }
    }
    /// Set the VXLAN remote.
    pub fn dst(mut self, ip: IpAddr) -> Self {
        self.dst = Some(ip);
        self
    }
    /// Set the VXLAN VNI.
    pub fn vni(mut self, vni: u32) -> Self {
        self.vni = Some(vni);
        self
    }
    /// Set the source VNI (`src_vni N`; a VXLAN in `external` mode).
    pub fn src_vni(mut self, vni: u32) -> Self {
        self.src_vni = Some(vni);
        self
    }
    /// Set the UDP port of the remote (`port P`).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }
    /// Reach the remote through link `via` (`via LINK`).
    pub fn via(mut self, via: IfIndex) -> Self {
        self.via = Some(via);
        self
    }
    /// Set the VLAN.
    pub fn vlan(mut self, vlan: u16) -> Self {
        self.vlan = Some(vlan);
        self
    }
    /// Put it in the bridge's table (`master`) instead of the device's.
    pub fn master(mut self) -> Self {
        self.flags = (self.flags - NeighFlags::SELF) | NeighFlags::MASTER;
        self
    }
    /// Make it `static` (NOARP, not permanent).
    pub fn static_entry(mut self) -> Self {
        self.state = NeighState::NOARP;
        self
    }

    /// Check every field; nothing is sent when this fails.
    pub fn validate(&self) -> Result<()> {
        crate::rtnl::validate_lower("index", self.index)?;
        for (field, v) in [("vni", self.vni), ("src_vni", self.src_vni)] {
            if let Some(v) = v {
                if v >= 1 << 24 {
                    return Err(Error::invalid(field, format!("{v} does not fit 24 bits")));
                }
            }
        }
        if let Some(v) = self.vlan {
            if v == 0 || v > 4094 {
                return Err(Error::invalid("vlan", format!("{v} is not in 1..=4094")));
            }
        }
        if self.port == Some(0) {
            return Err(Error::invalid("port", "0 is not a port"));
        }
        if !self.flags.intersects(NeighFlags::SELF | NeighFlags::MASTER) {
            return Err(Error::invalid("flags", "SELF or MASTER is needed"));
        }
        Ok(())
    }

    /// Encode the `RTM_NEWNEIGH`/`RTM_DELNEIGH` payload (pure).
    pub fn write(&self, w: &mut AttrWriter<'_>) {
        write_ndmsg(w, AF_BRIDGE, self.index.0, self.state.bits(), self.flags.bits());
        w.bytes(nda::LLADDR, &self.mac.0);
        if let Some(d) = self.dst {
            put_ip(w, nda::DST, d);
        }
        if let Some(v) = self.vlan {
            w.u16(nda::VLAN, v);
        }
        if let Some(p) = self.port {
            w.u16_be(nda::PORT, p);
        }
        if let Some(v) = self.vni {
            w.u32(nda::VNI, v);
        }
        if let Some(v) = self.via {
            w.u32(nda::IFINDEX, v.0);
        }
        if let Some(v) = self.src_vni {
            w.u32(nda::SRC_VNI, v);
        }
    }

    /// Decode an `AF_BRIDGE` `RTM_NEWNEIGH`/`RTM_DELNEIGH` message.
    pub fn parse(m: &Msg<'_>) -> Result<FdbEntry, DecodeError> {
        let h = parse_ndmsg(m.payload)?;
        if h.family != AF_BRIDGE {
            return Err(DecodeError::new("ndmsg", format!("family {} is not AF_BRIDGE", h.family)));
        }
        let mut e = FdbEntry::new(h.index, MacAddr::ZERO);
        e.state = h.state;
        e.flags = h.flags;
        let mut mac = None;
        for a in attrs_after(m.payload, NDMSG_LEN) {
            let a = a?;
            match a.kind() {
                nda::LLADDR => {
                    mac = Some(MacAddr::from_slice(a.payload).ok_or_else(|| {
                        DecodeError::new("NDA_LLADDR", format!("{} bytes", a.payload.len()))
                    })?)
                }
                nda::DST => e.dst = Some(ip_from(a.payload, "NDA_DST")?),
                nda::VLAN => e.vlan = Some(a.u16()?),
                nda::PORT => e.port = Some(a.u16_be()?),
                nda::VNI => e.vni = Some(a.u32()?),
                nda::IFINDEX => e.via = Some(IfIndex(a.u32()?)),
                nda::MASTER => e.master = Some(IfIndex(a.u32()?)),
                nda::SRC_VNI => e.src_vni = Some(a.u32()?),
                _ => e.unknown.push(RawAttr::from(a)),
            }
        }
        e.mac = mac.ok_or_else(|| DecodeError::new("fdb entry", "no NDA_LLADDR"))?;
        Ok(e)
    }
}

/// Operations on bridge FDB entries (see the [module docs](self)). Get one
/// from [`crate::Rtnl::fdb`].
#[derive(Clone, Debug)]
pub struct Fdb {
    conn: Connection,
}

impl Fdb {
    /// FDB entries on `conn` (a `NETLINK_ROUTE` connection).
    pub fn new(conn: Connection) -> Fdb {
        Fdb { conn }
    }

    async fn send(&self, e: &FdbEntry, flags: u16) -> Result<()> {
        e.validate()?;
        self.conn.ack(&Request::new(rtm::NEWNEIGH, flags, |w| e.write(w))).await
    }

    /// Add an entry: `bridge fdb add MAC dev PORT [dst IP] ...`.
    ///
    /// # Errors
    /// [`Error::Invalid`] (nothing sent); `EEXIST`; `ENODEV`; `EINVAL`
    /// when the device keeps no such table; `EPERM` without
    /// `CAP_NET_ADMIN`.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// Once sent the request takes effect even if the future is dropped.
    #[doc(alias = "RTM_NEWNEIGH")]
    pub async fn add(&self, e: &FdbEntry) -> Result<()> {
        self.send(e, NLM_F_CREATE | NLM_F_EXCL).await
    }

    /// Append a destination: `bridge fdb append MAC dev VXLAN dst IP`. On
    /// a VXLAN, the all-zero MAC with several destinations is the flood
    /// list (head-end replication).
    ///
    /// # Errors
    /// As [`Fdb::add`].
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// As [`Fdb::add`].
    #[doc(alias = "RTM_NEWNEIGH")]
    pub async fn append(&self, e: &FdbEntry) -> Result<()> {
        self.send(e, NLM_F_CREATE | NLM_F_APPEND).await
    }

    /// Add or update: `bridge fdb replace ...`.
    ///
    /// # Errors
    /// As [`Fdb::add`], without `EEXIST`.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// As [`Fdb::add`].
    #[doc(alias = "RTM_NEWNEIGH")]
    pub async fn replace(&self, e: &FdbEntry) -> Result<()> {
        self.send(e, NLM_F_CREATE | NLM_F_REPLACE).await
    }

    /// Delete: `bridge fdb del MAC dev PORT [dst IP] ...`.
    ///
    /// # Errors
    /// `ENOENT` ([`Error::is_not_found`]) if there is none.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// Once sent the request takes effect even if the future is dropped.
    #[doc(alias = "RTM_DELNEIGH")]
    pub async fn delete(&self, e: &FdbEntry) -> Result<()> {
        e.validate()?;
        self.conn.ack(&Request::new(rtm::DELNEIGH, 0, |w| e.write(w))).await
    }

    /// Every FDB entry: `bridge fdb show`.
    ///
    /// # Privileges
    /// None: reading needs no privilege.
    ///
    /// # Cancel safety
    /// Dropping the stream abandons the dump.
    #[doc(alias = "RTM_GETNEIGH")]
    pub fn list(&self) -> Dump<FdbEntry> {
        self.list_filtered(&NeighFilter::default())
    }

    /// Entries matching `filter` (`bridge fdb show brport PORT`, `bridge
    /// fdb show br BRIDGE`).
    ///
    /// # Privileges
    /// None: reading needs no privilege.
    ///
    /// # Cancel safety
    /// As [`Fdb::list`].
    #[doc(alias = "RTM_GETNEIGH")]
    pub fn list_filtered(&self, filter: &NeighFilter) -> Dump<FdbEntry> {
        dump(&self.conn, &filter.request(AF_BRIDGE), decode_fdb)
    }

    /// Follow FDB changes (`bridge monitor fdb`).
    ///
    /// # Privileges
    /// None: reading needs no privilege.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn events(&self) -> Result<Subscription<Change<FdbEntry>>> {
        self.conn.subscribe(&[groups::NEIGH], None, events_decoder(decode_fdb)).await
    }
}
