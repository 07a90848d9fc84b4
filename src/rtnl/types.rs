//! The vocabulary every rtnetlink area shares: [`IfIndex`], [`MacAddr`],
//! [`Scope`], [`RawAttr`], [`Change`], [`Snapshot`], the interface-name
//! check, address-family numbers, `RTM_*` types and the dump and event
//! helpers. It imports no family (link, addr, route, neigh, rule): they
//! import it.

use std::fmt;
use std::str::FromStr;

use crate::conn::{Connection, Dump, Request};
use crate::error::{DecodeError, Error, Result};
use crate::wire::{Attr, AttrWriter, Msg};

pub(crate) use crate::wire::{family_of, AF_BRIDGE, AF_INET, AF_INET6, AF_UNSPEC};

/// A network interface index (`ifindex`), as `ip link` prints before the
/// name. Indices are per namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct IfIndex(pub u32);

impl IfIndex {
    /// The raw index.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for IfIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<u32> for IfIndex {
    fn from(v: u32) -> Self {
        IfIndex(v)
    }
}

/// A 6-byte Ethernet (MAC) address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// `00:00:00:00:00:00`, which FDB entries use for "all unknown
    /// destinations" (BUM traffic of a VXLAN).
    pub const ZERO: MacAddr = MacAddr([0; 6]);
    /// `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);

    /// The bytes.
    pub fn octets(self) -> [u8; 6] {
        self.0
    }

    /// From a slice of exactly 6 bytes.
    pub fn from_slice(b: &[u8]) -> Option<MacAddr> {
        Some(MacAddr(b.try_into().ok()?))
    }

    /// Whether the group (multicast) bit is set.
    pub fn is_multicast(self) -> bool {
        self.0[0] & 1 != 0
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MacAddr({self})")
    }
}

impl FromStr for MacAddr {
    type Err = Error;
    /// Parse `aa:bb:cc:dd:ee:ff` (or with `-`).
    fn from_str(s: &str) -> Result<MacAddr> {
        let bad = || Error::invalid("mac", format!("{s:?} is not a MAC address like 02:00:00:00:00:01"));
        let mut out = [0u8; 6];
        let mut n = 0;
        for part in s.split([':', '-']) {
            if n == 6 || part.is_empty() || part.len() > 2 {
                return Err(bad());
            }
            out[n] = u8::from_str_radix(part, 16).map_err(|_| bad())?;
            n += 1;
        }
        if n != 6 {
            return Err(bad());
        }
        Ok(MacAddr(out))
    }
}

/// Address and route scope (`rtm_scope`, `ifa_scope`), as `ip` prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Scope {
    /// `global` (`RT_SCOPE_UNIVERSE`, 0).
    #[default]
    Universe,
    /// `site` (200).
    Site,
    /// `link` (253).
    Link,
    /// `host` (254).
    Host,
    /// `nowhere` (255).
    Nowhere,
    /// Any other value.
    Unknown(u8),
}

impl Scope {
    /// The raw value.
    pub fn to_raw(self) -> u8 {
        match self {
            Scope::Universe => 0,
            Scope::Site => 200,
            Scope::Link => 253,
            Scope::Host => 254,
            Scope::Nowhere => 255,
            Scope::Unknown(v) => v,
        }
    }

    /// From the raw value.
    pub fn from_raw(v: u8) -> Scope {
        match v {
            0 => Scope::Universe,
            200 => Scope::Site,
            253 => Scope::Link,
            254 => Scope::Host,
            255 => Scope::Nowhere,
            v => Scope::Unknown(v),
        }
    }

    /// The name `ip` uses (`global`, `link`, `host`, ...).
    pub fn name(self) -> String {
        match self {
            Scope::Universe => "global".into(),
            Scope::Site => "site".into(),
            Scope::Link => "link".into(),
            Scope::Host => "host".into(),
            Scope::Nowhere => "nowhere".into(),
            Scope::Unknown(v) => v.to_string(),
        }
    }
}

/// An attribute netplumb does not model, kept as the kernel sent it.
#[derive(Clone, PartialEq, Eq)]
pub struct RawAttr {
    /// Attribute type, flag bits included.
    pub kind: u16,
    /// Payload.
    pub payload: Vec<u8>,
}

impl RawAttr {
    /// Write attributes back exactly as they were decoded.
    pub(crate) fn write_all(w: &mut AttrWriter<'_>, attrs: &[RawAttr]) {
        for a in attrs {
            w.bytes(a.kind, &a.payload);
        }
    }
}

impl fmt::Debug for RawAttr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawAttr({}, {} bytes)", self.kind, self.payload.len())
    }
}

impl From<Attr<'_>> for RawAttr {
    fn from(a: Attr<'_>) -> Self {
        RawAttr { kind: a.raw_type, payload: a.payload.to_vec() }
    }
}

/// What an event says happened to an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change<T> {
    /// Created or changed (`RTM_NEW*`): the object as it is now. Treat it
    /// as "insert or update".
    New(T),
    /// Deleted (`RTM_DEL*`): the object as it was.
    Deleted(T),
}

impl<T> Change<T> {
    /// The object, whatever happened to it.
    pub fn object(&self) -> &T {
        match self {
            Change::New(t) | Change::Deleted(t) => t,
        }
    }

    /// Map the object.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Change<U> {
        match self {
            Change::New(t) => Change::New(f(t)),
            Change::Deleted(t) => Change::Deleted(f(t)),
        }
    }
}

/// What exists now, and every change from the moment before it was listed.
///
/// Built by the `list_and_follow` helpers: they subscribe first, then list,
/// so no change can fall between the two. Changes made while the list was
/// being taken may show up in both `existing` and `events`; apply events as
/// "insert or update" ([`Change::New`]) and "remove" ([`Change::Deleted`])
/// and the result is exact. When `events` yields
/// [`crate::conn::Event::Overrun`], some changes were lost: list again.
#[derive(Debug)]
pub struct Snapshot<T> {
    /// Everything that existed when the list was taken.
    pub existing: Vec<T>,
    /// Changes from just before the list on.
    pub events: crate::conn::Subscription<Change<T>>,
}

/// Check an interface name as the kernel's `dev_valid_name` does: 1 to 15
/// bytes, not `.` or `..`, no `/`, `:` is allowed, no whitespace or NUL.
///
/// # Errors
/// [`Error::Invalid`] naming `field`.
pub fn validate_ifname(field: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid(field, "empty interface name"));
    }
    if name.len() > 15 {
        return Err(Error::invalid(
            field,
            format!("{name:?} is {} bytes, at most 15 (IFNAMSIZ - 1)", name.len()),
        ));
    }
    if name == "." || name == ".." {
        return Err(Error::invalid(field, format!("{name:?} is not a valid interface name")));
    }
    if let Some(c) = name.chars().find(|c| *c == '/' || *c == '\0' || c.is_whitespace()) {
        return Err(Error::invalid(
            field,
            format!("{name:?} contains {c:?}; '/', NUL and whitespace are not allowed"),
        ));
    }
    Ok(())
}

/// Check an MTU: 68 (the IPv4 minimum) to 65535 (the kernel's largest for
/// software devices).
pub(crate) fn validate_mtu(field: &str, mtu: u32) -> Result<()> {
    if !(68..=65535).contains(&mtu) {
        return Err(Error::invalid(field, format!("{mtu} is not in 68..=65535")));
    }
    Ok(())
}

/// Check an interface index given as a lower device or output interface:
/// not 0, and within the kernel's `int`.
pub(crate) fn validate_lower(field: &str, link: IfIndex) -> Result<()> {
    if link.0 == 0 || link.0 > i32::MAX as u32 {
        return Err(Error::invalid(field, format!("{} is not an interface index", link.0)));
    }
    Ok(())
}

/// Copy the fixed `N`-byte header at the start of `payload`, naming `what`.
#[inline]
pub(crate) fn header<const N: usize>(payload: &[u8], what: &'static str) -> Result<[u8; N], DecodeError> {
    crate::wire::fixed::<N>(payload, what)
}

/// Decode an IP address of either family from an attribute payload.
pub(crate) fn ip_from(payload: &[u8], what: &'static str) -> Result<std::net::IpAddr, DecodeError> {
    match payload.len() {
        4 => Ok(std::net::IpAddr::from(<[u8; 4]>::try_from(payload).expect("4 bytes"))),
        16 => Ok(std::net::IpAddr::from(<[u8; 16]>::try_from(payload).expect("16 bytes"))),
        n => Err(DecodeError::new(what, format!("address of {n} bytes"))),
    }
}

/// Write an IP address attribute.
#[inline]
pub(crate) fn put_ip(w: &mut AttrWriter<'_>, ty: u16, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(a) => w.fixed(ty, a.octets()),
        std::net::IpAddr::V6(a) => w.fixed(ty, a.octets()),
    };
}

/// A dump that decodes the messages of type `ty` with `decode`, skipping
/// others ([`Connection::dump_objects`]).
///
/// Generic over the decoder (not a function pointer) so that it is inlined
/// into the dump's decoding closure: the decoded value is then built where
/// the dump returns it instead of being copied out of a call.
pub(crate) fn typed_dump<T, F>(conn: &Connection, req: &Request, ty: u16, decode: F) -> Dump<T>
where
    T: Send + 'static,
    F: Fn(&Msg<'_>) -> Result<T, DecodeError> + Send + 'static,
{
    conn.dump_objects(req, ty, move |m| match decode(m) {
        Ok(t) => Ok(Some(t)),
        Err(e) => Err(Error::Decode(e)),
    })
}

/// A decoder for events: `RTM_NEW*` becomes [`Change::New`], `RTM_DEL*`
/// [`Change::Deleted`], other types are skipped.
pub(crate) fn change_decoder<T: 'static>(
    new: u16,
    del: u16,
    decode: fn(&Msg<'_>) -> Result<T, DecodeError>,
) -> impl FnMut(&Msg<'_>) -> Result<Option<Change<T>>> + Send + 'static {
    move |m| {
        if m.header.ty == new {
            decode(m).map(|t| Some(Change::New(t))).map_err(Error::Decode)
        } else if m.header.ty == del {
            decode(m).map(|t| Some(Change::Deleted(t))).map_err(Error::Decode)
        } else {
            Ok(None)
        }
    }
}

/// Multicast groups of `NETLINK_ROUTE` (`RTNLGRP_*`).
pub mod groups {
    /// `RTNLGRP_LINK`.
    pub const LINK: u32 = libc::RTNLGRP_LINK;
    /// `RTNLGRP_NEIGH`.
    pub const NEIGH: u32 = libc::RTNLGRP_NEIGH;
    /// `RTNLGRP_IPV4_IFADDR`.
    pub const IPV4_IFADDR: u32 = libc::RTNLGRP_IPV4_IFADDR;
    /// `RTNLGRP_IPV4_ROUTE`.
    pub const IPV4_ROUTE: u32 = libc::RTNLGRP_IPV4_ROUTE;
    /// `RTNLGRP_IPV4_RULE`.
    pub const IPV4_RULE: u32 = libc::RTNLGRP_IPV4_RULE;
    /// `RTNLGRP_IPV6_IFADDR`.
    pub const IPV6_IFADDR: u32 = libc::RTNLGRP_IPV6_IFADDR;
    /// `RTNLGRP_IPV6_ROUTE`.
    pub const IPV6_ROUTE: u32 = libc::RTNLGRP_IPV6_ROUTE;
    /// `RTNLGRP_IPV6_RULE`.
    pub const IPV6_RULE: u32 = libc::RTNLGRP_IPV6_RULE;
    /// `RTNLGRP_NEXTHOP`.
    pub const NEXTHOP: u32 = libc::RTNLGRP_NEXTHOP;
}

/// `RTM_*` message types.
pub(crate) mod rtm {
    pub const NEWLINK: u16 = libc::RTM_NEWLINK;
    pub const DELLINK: u16 = libc::RTM_DELLINK;
    pub const GETLINK: u16 = libc::RTM_GETLINK;
    pub const NEWADDR: u16 = libc::RTM_NEWADDR;
    pub const DELADDR: u16 = libc::RTM_DELADDR;
    pub const GETADDR: u16 = libc::RTM_GETADDR;
    pub const NEWROUTE: u16 = libc::RTM_NEWROUTE;
    pub const DELROUTE: u16 = libc::RTM_DELROUTE;
    pub const GETROUTE: u16 = libc::RTM_GETROUTE;
    pub const NEWNEIGH: u16 = libc::RTM_NEWNEIGH;
    pub const DELNEIGH: u16 = libc::RTM_DELNEIGH;
    pub const GETNEIGH: u16 = libc::RTM_GETNEIGH;
    pub const NEWRULE: u16 = libc::RTM_NEWRULE;
    pub const DELRULE: u16 = libc::RTM_DELRULE;
    pub const GETRULE: u16 = libc::RTM_GETRULE;
    pub const NEWNEXTHOP: u16 = 104;
    pub const DELNEXTHOP: u16 = 105;
    pub const GETNEXTHOP: u16 = 106;
    pub const NEWLINKPROP: u16 = 108;
    pub const DELLINKPROP: u16 = 109;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_are_checked() {
        for ok in ["eth0", "a", "veth-0123456789", "br:1", "x.y"] {
            validate_ifname("name", ok).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "a b", "tab\there", "0123456789abcdef", "nul\0"] {
            let e = validate_ifname("peer.name", bad).unwrap_err();
            assert!(e.to_string().starts_with("invalid peer.name: "), "{e}");
        }
    }

    #[test]
    fn mac_parse_and_print() {
        let m: MacAddr = "02:AB:0c:00:00:01".parse().unwrap();
        assert_eq!(m.to_string(), "02:ab:0c:00:00:01");
        assert!("02:ab:0c:00:00".parse::<MacAddr>().is_err());
        assert!("02:ab:0c:00:00:01:02".parse::<MacAddr>().is_err());
        assert!("zz:ab:0c:00:00:01".parse::<MacAddr>().is_err());
        assert!(MacAddr::BROADCAST.is_multicast());
    }

    #[test]
    fn scope_round_trip() {
        for v in 0..=255u8 {
            assert_eq!(Scope::from_raw(v).to_raw(), v);
        }
        assert_eq!(Scope::from_raw(253), Scope::Link);
    }
}
