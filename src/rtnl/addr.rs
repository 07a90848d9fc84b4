//! IPv4 and IPv6 addresses on links: add, replace, delete, list, follow —
//! what `ip address` does.
//!
//! ```no_run
//! # async fn demo(rt: &netplumb::Rtnl, eth0: netplumb::IfIndex) -> netplumb::Result<()> {
//! use netplumb::addr::Address;
//! rt.addresses().add(&Address::new(eth0, "10.244.1.5/24".parse().unwrap())).await?;
//! rt.addresses().add(&Address::new(eth0, "fd00::5/64".parse().unwrap()).nodad()).await?;
//! # Ok(()) }
//! ```

use std::net::{IpAddr, Ipv4Addr};

use bitflags::bitflags;
use ipnet::IpNet;

use crate::conn::{Batch, Connection, Dump, Request, Subscription};
use crate::error::{DecodeError, Error, Result};
use crate::rtnl::{
    self, family_of, groups, header, ip_from, put_ip, rtm, Change, IfIndex, RawAttr, Scope, Snapshot,
    AF_INET, AF_INET6, AF_UNSPEC,
};
use crate::wire::{attrs_after, AttrWriter, Msg, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};

/// `IFA_*` attribute numbers (`include/uapi/linux/if_addr.h`).
#[allow(missing_docs)]
pub(crate) mod ifa {
    pub const ADDRESS: u16 = libc::IFA_ADDRESS;
    pub const LOCAL: u16 = libc::IFA_LOCAL;
    pub const LABEL: u16 = libc::IFA_LABEL;
    pub const BROADCAST: u16 = libc::IFA_BROADCAST;
    pub const CACHEINFO: u16 = libc::IFA_CACHEINFO;
    pub const FLAGS: u16 = libc::IFA_FLAGS;
    pub const RT_PRIORITY: u16 = 9;
}

/// Size of `struct ifaddrmsg`.
pub const IFADDRMSG_LEN: usize = 8;

/// "Forever", as a lifetime on the wire.
const INFINITY: u32 = u32::MAX;

bitflags! {
    /// Address flags (`IFA_F_*`). Unknown bits are kept.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct AddrFlags: u32 {
        /// `secondary` (IPv4) / `temporary` (IPv6).
        const SECONDARY = 0x1;
        /// `nodad`: skip IPv6 duplicate address detection.
        const NODAD = 0x2;
        /// `optimistic`.
        const OPTIMISTIC = 0x4;
        /// `dadfailed`.
        const DADFAILED = 0x8;
        /// `home`.
        const HOMEADDRESS = 0x10;
        /// `deprecated`.
        const DEPRECATED = 0x20;
        /// `tentative`: DAD still running.
        const TENTATIVE = 0x40;
        /// `permanent`: configured, not autoconfigured.
        const PERMANENT = 0x80;
        /// `mngtmpaddr`.
        const MANAGETEMPADDR = 0x100;
        /// `noprefixroute`: add no prefix route.
        const NOPREFIXROUTE = 0x200;
        /// `autojoin`.
        const MCAUTOJOIN = 0x400;
        /// `stable-privacy`.
        const STABLE_PRIVACY = 0x800;
        // Keep every bit the kernel sends.
        const _ = !0;
    }
}

/// An address on a link (`ip address add ADDR/LEN dev LINK ...`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Address {
    /// The link.
    pub index: IfIndex,
    /// The address and prefix length (`10.0.0.5/24`; host bits kept).
    pub address: IpNet,
    /// Peer address of a point-to-point address (`peer`).
    pub peer: Option<IpAddr>,
    /// IPv4 broadcast address (`broadcast`).
    pub broadcast: Option<Ipv4Addr>,
    /// IPv4 label (`label eth0:1`), at most 15 bytes.
    pub label: Option<String>,
    /// Scope.
    pub scope: Scope,
    /// Flags.
    pub flags: AddrFlags,
    /// Valid lifetime in seconds (`valid_lft`); `None` is forever.
    pub valid_lft: Option<u32>,
    /// Preferred lifetime in seconds (`preferred_lft`); `None` is forever.
    pub preferred_lft: Option<u32>,
    /// Route metric of the prefix route (`metric`).
    pub metric: Option<u32>,
    /// Attributes netplumb does not model, as sent.
    pub unknown: Vec<RawAttr>,
}

impl Address {
    /// `address` on link `index`, with the scope `ip` would choose (`host`
    /// for loopback addresses, else `global`).
    pub fn new(index: IfIndex, address: IpNet) -> Address {
        let scope = if address.addr().is_loopback() { Scope::Host } else { Scope::Universe };
        Address {
            index,
            address,
            peer: None,
            broadcast: None,
            label: None,
            scope,
            flags: AddrFlags::empty(),
            valid_lft: None,
            preferred_lft: None,
            metric: None,
            unknown: Vec::new(),
        }
    }
    /// Set a point-to-point peer.
    pub fn peer(mut self, peer: IpAddr) -> Self {
        self.peer = Some(peer);
        self
    }
    /// Set the IPv4 broadcast address.
    pub fn broadcast(mut self, b: Ipv4Addr) -> Self {
        self.broadcast = Some(b);
        self
    }
    /// Set the IPv4 label.
    pub fn label(mut self, l: impl Into<String>) -> Self {
        self.label = Some(l.into());
        self
    }
    /// Set the scope.
    pub fn scope(mut self, s: Scope) -> Self {
        self.scope = s;
        self
    }
    /// Add flags.
    pub fn flags(mut self, f: AddrFlags) -> Self {
        self.flags |= f;
        self
    }
    /// Skip duplicate address detection (IPv6 `nodad`).
    pub fn nodad(self) -> Self {
        self.flags(AddrFlags::NODAD)
    }
    /// Add no prefix route (`noprefixroute`).
    pub fn noprefixroute(self) -> Self {
        self.flags(AddrFlags::NOPREFIXROUTE)
    }
    /// Set the lifetimes in seconds.
    pub fn lifetimes(mut self, valid: u32, preferred: u32) -> Self {
        self.valid_lft = Some(valid);
        self.preferred_lft = Some(preferred);
        self
    }
    /// Set the prefix route's metric.
    pub fn metric(mut self, m: u32) -> Self {
        self.metric = Some(m);
        self
    }

    fn family(&self) -> u8 {
        family_of(self.address.addr())
    }

    /// Check every field; nothing is sent when this fails.
    pub fn validate(&self) -> Result<()> {
        if self.index.0 == 0 || self.index.0 > i32::MAX as u32 {
            return Err(Error::invalid("index", format!("{} is not an interface index", self.index.0)));
        }
        if let Some(p) = self.peer {
            if p.is_ipv4() != self.address.addr().is_ipv4() {
                return Err(Error::invalid("peer", "must be of the address's family"));
            }
        }
        if self.broadcast.is_some() && !self.address.addr().is_ipv4() {
            return Err(Error::invalid("broadcast", "only IPv4 addresses have a broadcast address"));
        }
        if let Some(l) = &self.label {
            if !self.address.addr().is_ipv4() {
                return Err(Error::invalid("label", "only IPv4 addresses have labels"));
            }
            rtnl::validate_ifname("label", l)?;
        }
        match (self.valid_lft, self.preferred_lft) {
            (Some(v), Some(p)) if p > v => {
                return Err(Error::invalid("preferred_lft", format!("{p} is longer than valid_lft {v}")))
            }
            (None, Some(_)) | (Some(_), None) => {
                return Err(Error::invalid("valid_lft", "set both lifetimes or neither"))
            }
            (Some(0), _) => return Err(Error::invalid("valid_lft", "0 would expire the address at once")),
            _ => {}
        }
        Ok(())
    }

    fn write_header(&self, w: &mut AttrWriter<'_>, flags: u8) {
        let mut h = [0u8; IFADDRMSG_LEN];
        h[0] = self.family();
        h[1] = self.address.prefix_len();
        h[2] = flags;
        h[3] = self.scope.to_raw();
        h[4..8].copy_from_slice(&self.index.0.to_ne_bytes());
        w.raw(&h);
    }

    fn write_addrs(&self, w: &mut AttrWriter<'_>) {
        // As `ip` sends it for both families: IFA_LOCAL, then IFA_ADDRESS
        // (the peer, or the address itself).
        let a = self.address.addr();
        put_ip(w, ifa::LOCAL, a);
        put_ip(w, ifa::ADDRESS, self.peer.unwrap_or(a));
    }

    /// Encode the `RTM_NEWADDR` payload (pure; no validation).
    pub fn write(&self, w: &mut AttrWriter<'_>) {
        let bits = self.flags.bits();
        self.write_header(w, (bits & 0xff) as u8);
        self.write_addrs(w);
        if let Some(b) = self.broadcast {
            w.bytes(ifa::BROADCAST, &b.octets());
        }
        if let Some(l) = &self.label {
            w.str(ifa::LABEL, l);
        }
        if bits > 0xff {
            w.u32(ifa::FLAGS, bits);
        }
        if self.valid_lft.is_some() || self.preferred_lft.is_some() {
            // A lifetime left out is forever (a request needs both, see
            // `validate`; a listed address may have either).
            let mut ci = [0u8; 16];
            ci[0..4].copy_from_slice(&self.preferred_lft.unwrap_or(INFINITY).to_ne_bytes());
            ci[4..8].copy_from_slice(&self.valid_lft.unwrap_or(INFINITY).to_ne_bytes());
            w.bytes(ifa::CACHEINFO, &ci);
        }
        if let Some(m) = self.metric {
            w.u32(ifa::RT_PRIORITY, m);
        }
    }

    /// Encode the `RTM_DELADDR` payload (pure).
    pub fn write_delete(&self, w: &mut AttrWriter<'_>) {
        self.write_header(w, 0);
        self.write_addrs(w);
    }

    /// Decode an `RTM_NEWADDR`/`RTM_DELADDR` message.
    pub fn parse(m: &Msg<'_>) -> Result<Address, DecodeError> {
        let p = m.payload;
        let h = header::<IFADDRMSG_LEN>(p, "ifaddrmsg")?;
        let (family, prefix, hflags, scope) = (h[0], h[1], h[2], h[3]);
        let index = IfIndex(u32::from_ne_bytes(h[4..8].try_into().expect("4")));
        let mut address = None;
        let mut local = None;
        let mut a = Address::new(index, IpNet::from(IpAddr::from([0u8; 4])));
        a.scope = Scope::from_raw(scope);
        a.flags = AddrFlags::from_bits_retain(hflags as u32);
        for attr in attrs_after(p, IFADDRMSG_LEN) {
            let attr = attr?;
            match attr.kind() {
                ifa::ADDRESS => address = Some(ip_from(attr.payload, "IFA_ADDRESS")?),
                ifa::LOCAL => local = Some(ip_from(attr.payload, "IFA_LOCAL")?),
                ifa::LABEL => a.label = Some(attr.str()?.to_string()),
                ifa::BROADCAST => match ip_from(attr.payload, "IFA_BROADCAST")? {
                    IpAddr::V4(b) => a.broadcast = Some(b),
                    IpAddr::V6(_) => return Err(DecodeError::new("IFA_BROADCAST", "IPv6")),
                },
                ifa::FLAGS => a.flags = AddrFlags::from_bits_retain(attr.u32()?),
                ifa::CACHEINFO => {
                    let ci = attr.payload;
                    if ci.len() < 8 {
                        return Err(DecodeError::new("IFA_CACHEINFO", format!("{} bytes", ci.len())));
                    }
                    let pref = u32::from_ne_bytes(ci[0..4].try_into().expect("4"));
                    let valid = u32::from_ne_bytes(ci[4..8].try_into().expect("4"));
                    a.preferred_lft = (pref != INFINITY).then_some(pref);
                    a.valid_lft = (valid != INFINITY).then_some(valid);
                }
                ifa::RT_PRIORITY => a.metric = Some(attr.u32()?),
                _ => a.unknown.push(RawAttr::from(attr)),
            }
        }
        let (addr, peer) = match (local, address) {
            (Some(l), Some(ad)) if l != ad => (l, Some(ad)),
            (Some(l), _) => (l, None),
            (None, Some(ad)) => (ad, None),
            (None, None) => return Err(DecodeError::new("address message", "no IFA_ADDRESS or IFA_LOCAL")),
        };
        let fam_ok = matches!((family, addr), (AF_INET, IpAddr::V4(_)) | (AF_INET6, IpAddr::V6(_)));
        if !fam_ok {
            return Err(DecodeError::new("address message", format!("family {family} with {addr}")));
        }
        a.address = IpNet::new(addr, prefix)
            .map_err(|_| DecodeError::new("address message", format!("prefix length {prefix}")))?;
        a.peer = peer;
        Ok(a)
    }
}

/// Kernel-side filters for [`Addresses::list_filtered`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddressFilter {
    /// Only IPv4 (`Some(false)`... see [`AddressFilter::v4`]) or IPv6.
    family: u8,
    /// Only addresses on this link.
    pub index: Option<IfIndex>,
}

impl AddressFilter {
    /// Every address.
    pub fn new() -> AddressFilter {
        AddressFilter::default()
    }
    /// Only IPv4 (`ip -4 address`).
    pub fn v4(mut self) -> Self {
        self.family = AF_INET;
        self
    }
    /// Only IPv6 (`ip -6 address`).
    pub fn v6(mut self) -> Self {
        self.family = AF_INET6;
        self
    }
    /// Only on link `index` (`ip address show dev LINK`).
    pub fn index(mut self, index: IfIndex) -> Self {
        self.index = Some(index);
        self
    }

    /// The `RTM_GETADDR` dump request.
    pub fn request(&self) -> Request {
        Request::new(rtm::GETADDR, 0, |w| {
            let mut h = [0u8; IFADDRMSG_LEN];
            h[0] = self.family;
            h[4..8].copy_from_slice(&self.index.map_or(0, |i| i.0).to_ne_bytes());
            w.raw(&h);
        })
    }
}

fn decode_addr(m: &Msg<'_>) -> Result<Address, DecodeError> {
    Address::parse(m)
}

/// Operations on addresses (see the [module docs](self)). Get one from
/// [`crate::Rtnl::addresses`].
#[derive(Clone, Debug)]
pub struct Addresses {
    conn: Connection,
}

impl Addresses {
    /// Addresses on `conn` (a `NETLINK_ROUTE` connection).
    pub fn new(conn: Connection) -> Addresses {
        Addresses { conn }
    }

    /// Add an address: `ip address add ADDR/LEN [peer ..] [broadcast ..]
    /// [label ..] [scope ..] [nodad] [valid_lft .. preferred_lft ..] dev
    /// LINK`.
    ///
    /// # Errors
    /// [`Error::Invalid`] (nothing sent); `EEXIST` if the link already has
    /// it; `ENODEV` for a missing link; `EPERM` without `CAP_NET_ADMIN`.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// Once sent the request takes effect even if the future is dropped.
    #[doc(alias = "RTM_NEWADDR")]
    pub async fn add(&self, a: &Address) -> Result<()> {
        a.validate()?;
        self.conn.ack(&Request::new(rtm::NEWADDR, NLM_F_CREATE | NLM_F_EXCL, |w| a.write(w))).await
    }

    /// Add or update an address: `ip address replace ...`.
    ///
    /// # Errors
    /// As [`Addresses::add`], without `EEXIST`.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// As [`Addresses::add`].
    #[doc(alias = "RTM_NEWADDR")]
    pub async fn replace(&self, a: &Address) -> Result<()> {
        a.validate()?;
        self.conn.ack(&Request::new(rtm::NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, |w| a.write(w))).await
    }

    /// Add many addresses in few datagrams (acks only on error), as `ip
    /// -batch` would one by one.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// As [`Connection::bulk`].
    #[doc(alias = "RTM_NEWADDR")]
    pub async fn add_many<'a>(&self, addrs: impl IntoIterator<Item = &'a Address>) -> Result<()> {
        let mut batch = Batch::new();
        let mut what = Vec::new();
        for (i, a) in addrs.into_iter().enumerate() {
            a.validate().map_err(|e| e.at_index("", i))?;
            batch.push(rtm::NEWADDR, NLM_F_CREATE | NLM_F_EXCL, |w| a.write(w));
            what.push((a.address, a.index));
        }
        self.conn.bulk_described(&batch, |i| format!("add address {} dev {}", what[i].0, what[i].1)).await
    }

    /// Delete an address: `ip address del ADDR/LEN dev LINK`.
    ///
    /// # Errors
    /// `EADDRNOTAVAIL` if the link does not have it; [`Error::Invalid`].
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// Once sent the request takes effect even if the future is dropped.
    #[doc(alias = "RTM_DELADDR")]
    pub async fn delete(&self, a: &Address) -> Result<()> {
        a.validate()?;
        self.conn.ack(&Request::new(rtm::DELADDR, 0, |w| a.write_delete(w))).await
    }

    /// Every address: `ip address show`.
    ///
    /// # Privileges
    /// None: reading needs no privilege.
    ///
    /// # Cancel safety
    /// Dropping the stream abandons the dump.
    #[doc(alias = "RTM_GETADDR")]
    pub fn list(&self) -> Dump<Address> {
        self.list_filtered(&AddressFilter::default())
    }

    /// Addresses matching `filter`, filtered by the kernel (`ip -4 address
    /// show dev LINK`).
    ///
    /// # Privileges
    /// None: reading needs no privilege.
    ///
    /// # Cancel safety
    /// As [`Addresses::list`].
    #[doc(alias = "RTM_GETADDR")]
    pub fn list_filtered(&self, filter: &AddressFilter) -> Dump<Address> {
        rtnl::typed_dump(&self.conn, &filter.request(), rtm::NEWADDR, decode_addr)
    }

    /// Delete every address of `family` on link `index` (`ip address flush
    /// dev LINK`); `v6: None` for both families. Returns how many were
    /// deleted.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// Addresses deleted before the future is dropped stay deleted.
    pub async fn flush(&self, index: IfIndex, v6: Option<bool>) -> Result<usize> {
        let mut f = AddressFilter::new().index(index);
        f.family = match v6 {
            None => AF_UNSPEC,
            Some(false) => AF_INET,
            Some(true) => AF_INET6,
        };
        let all = self.list_filtered(&f).try_collect().await?;
        let mut batch = Batch::new();
        for a in &all {
            // Only what was configured: link-local IPv6 addresses come back
            // by themselves but count like any other.
            batch.push(rtm::DELADDR, 0, |w| a.write_delete(w));
        }
        match self.conn.bulk(&batch).await {
            Ok(()) => Ok(all.len()),
            // A secondary address goes when its primary is deleted.
            Err(Error::Batch(b)) if b.failures.iter().all(|k| k.errno == crate::Errno::EADDRNOTAVAIL) => {
                Ok(all.len() - b.failures.len())
            }
            Err(Error::Kernel(k)) if k.errno == crate::Errno::EADDRNOTAVAIL => Ok(all.len() - 1),
            Err(e) => Err(e),
        }
    }

    /// Follow IPv4 and IPv6 address changes (`ip monitor address`).
    ///
    /// # Privileges
    /// None: reading needs no privilege.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn events(&self) -> Result<Subscription<Change<Address>>> {
        self.conn
            .subscribe(
                &[groups::IPV4_IFADDR, groups::IPV6_IFADDR],
                None,
                rtnl::change_decoder(rtm::NEWADDR, rtm::DELADDR, decode_addr),
            )
            .await
    }

    /// Subscribe, then list (see [`Snapshot`]).
    ///
    /// # Privileges
    /// None: reading needs no privilege.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn list_and_follow(&self) -> Result<Snapshot<Address>> {
        let events = self.events().await?;
        let existing = self.list().try_collect().await?;
        Ok(Snapshot { existing, events })
    }
}
