//! Classifiers: `u32` (any header word under a mask), `matchall`, `flower`
//! (the common keys). Others are kept raw and sent back unchanged.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::Ipv4Net;

use crate::error::{DecodeError, Error, Result};
use crate::rtnl::RawAttr;
use crate::wire::{AttrIter, AttrWriter};

use super::action::{self, parse_actions, write_actions, Action};
use super::types::{tca, TcHandle};

/// The classifier of a filter and its settings.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FilterKind {
    /// `u32`.
    U32(U32),
    /// `matchall`.
    MatchAll(MatchAll),
    /// `flower`.
    Flower(Flower),
    /// Any other classifier, with its `TCA_OPTIONS` payload.
    Other {
        /// `TCA_KIND`, e.g. `"bpf"`.
        kind: String,
        /// `TCA_OPTIONS` payload.
        options: Option<Vec<u8>>,
    },
}

impl FilterKind {
    /// The kind as `tc` spells it.
    pub fn name(&self) -> &str {
        match self {
            FilterKind::U32(_) => "u32",
            FilterKind::MatchAll(_) => "matchall",
            FilterKind::Flower(_) => "flower",
            FilterKind::Other { kind, .. } => kind,
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        match self {
            FilterKind::U32(u) => u.validate(),
            FilterKind::MatchAll(m) => action::validate(&m.actions, "matchall.actions"),
            FilterKind::Flower(f) => action::validate(&f.actions, "flower.actions"),
            FilterKind::Other { kind, .. } if kind.is_empty() || kind.len() > 15 => {
                Err(Error::invalid("filter.kind", format!("{kind:?} is not a classifier")))
            }
            FilterKind::Other { .. } => Ok(()),
        }
    }

    /// Write `TCA_OPTIONS`.
    pub fn write_options(&self, w: &mut AttrWriter<'_>) {
        match self {
            FilterKind::U32(u) => w.nest(tca::OPTIONS, |w| u.write(w)),
            FilterKind::MatchAll(m) => w.nest(tca::OPTIONS, |w| m.write(w)),
            FilterKind::Flower(f) => w.nest(tca::OPTIONS, |w| f.write(w)),
            FilterKind::Other { options, .. } => {
                if let Some(o) = options {
                    w.bytes(tca::OPTIONS, o);
                }
            }
        }
    }

    /// Decode from `TCA_KIND` and `TCA_OPTIONS`.
    pub fn decode(kind: &str, options: Option<&[u8]>) -> Result<FilterKind, DecodeError> {
        Ok(match (kind, options) {
            // The kernel lists a classifier's instance itself (before its
            // filters) without options.
            ("u32", o) => FilterKind::U32(U32::decode(o.unwrap_or(&[]))?),
            ("matchall", o) => FilterKind::MatchAll(MatchAll::decode(o.unwrap_or(&[]))?),
            ("flower", o) => FilterKind::Flower(Flower::decode(o.unwrap_or(&[]))?),
            (k, o) => FilterKind::Other { kind: k.to_string(), options: o.map(<[u8]>::to_vec) },
        })
    }
}

impl From<U32> for FilterKind {
    fn from(v: U32) -> FilterKind {
        FilterKind::U32(v)
    }
}
impl From<MatchAll> for FilterKind {
    fn from(v: MatchAll) -> FilterKind {
        FilterKind::MatchAll(v)
    }
}
impl From<Flower> for FilterKind {
    fn from(v: Flower) -> FilterKind {
        FilterKind::Flower(v)
    }
}

/// `TCA_U32_*`.
#[allow(missing_docs)]
pub mod u32_attr {
    pub const CLASSID: u16 = 1;
    pub const HASH: u16 = 2;
    pub const LINK: u16 = 3;
    pub const DIVISOR: u16 = 4;
    pub const SEL: u16 = 5;
    pub const POLICE: u16 = 6;
    pub const ACT: u16 = 7;
    pub const INDEV: u16 = 8;
    pub const PCNT: u16 = 9;
    pub const MARK: u16 = 10;
    pub const FLAGS: u16 = 11;
}

/// `TC_U32_TERMINAL`: a match ends classification.
pub const TC_U32_TERMINAL: u8 = 1;

/// One 32-bit match of a u32 selector (`struct tc_u32_key`): the word at
/// byte offset `off` (from the network header), under `mask`, equals `val`.
/// `val` and `mask` are in network byte order as numbers (the first byte
/// on the wire is the high byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct U32Key {
    /// Mask.
    pub mask: u32,
    /// Value (already masked).
    pub val: u32,
    /// Byte offset, a multiple of 4.
    pub off: i32,
    /// `offmask` (for `nexthdr+` offsets).
    pub offmask: i32,
}

/// A u32 selector (`struct tc_u32_sel` and its keys).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct U32Sel {
    /// `TC_U32_*` flags ([`TC_U32_TERMINAL`] ...).
    pub flags: u8,
    /// `offshift`.
    pub offshift: u8,
    /// `offmask` (network order as a number).
    pub offmask: u16,
    /// `off`.
    pub off: u16,
    /// `offoff`.
    pub offoff: i16,
    /// `hoff`.
    pub hoff: i16,
    /// `hmask` (network order as a number).
    pub hmask: u32,
    /// The keys, all of which must match.
    pub keys: Vec<U32Key>,
}

const U32_SEL_LEN: usize = 16;
const U32_KEY_LEN: usize = 16;

impl U32Sel {
    fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(U32_SEL_LEN + self.keys.len() * U32_KEY_LEN);
        b.extend_from_slice(&[self.flags, self.offshift, self.keys.len().min(255) as u8, 0]);
        b.extend_from_slice(&self.offmask.to_be_bytes());
        b.extend_from_slice(&self.off.to_ne_bytes());
        b.extend_from_slice(&self.offoff.to_ne_bytes());
        b.extend_from_slice(&self.hoff.to_ne_bytes());
        b.extend_from_slice(&self.hmask.to_be_bytes());
        for k in &self.keys {
            b.extend_from_slice(&k.mask.to_be_bytes());
            b.extend_from_slice(&k.val.to_be_bytes());
            b.extend_from_slice(&k.off.to_ne_bytes());
            b.extend_from_slice(&k.offmask.to_ne_bytes());
        }
        b
    }

    fn parse(b: &[u8]) -> Result<U32Sel, DecodeError> {
        if b.len() < U32_SEL_LEN {
            return Err(DecodeError::new("TCA_U32_SEL", format!("{} bytes, need 16", b.len())));
        }
        let nkeys = b[2] as usize;
        if b.len() < U32_SEL_LEN + nkeys * U32_KEY_LEN {
            return Err(DecodeError::new("TCA_U32_SEL", format!("{nkeys} keys in {} bytes", b.len())));
        }
        let be32 = |i: usize| u32::from_be_bytes(b[i..i + 4].try_into().expect("4"));
        let ne32 = |i: usize| i32::from_ne_bytes(b[i..i + 4].try_into().expect("4"));
        let keys = (0..nkeys)
            .map(|i| {
                let o = U32_SEL_LEN + i * U32_KEY_LEN;
                U32Key { mask: be32(o), val: be32(o + 4), off: ne32(o + 8), offmask: ne32(o + 12) }
            })
            .collect();
        Ok(U32Sel {
            flags: b[0],
            offshift: b[1],
            offmask: u16::from_be_bytes([b[4], b[5]]),
            off: u16::from_ne_bytes([b[6], b[7]]),
            offoff: i16::from_ne_bytes([b[8], b[9]]),
            hoff: i16::from_ne_bytes([b[10], b[11]]),
            hmask: be32(12),
            keys,
        })
    }

    /// Add a match as `tc`'s `pack_key` does: a key at the same offset is
    /// merged (an overlap that disagrees is an error).
    ///
    /// # Errors
    /// [`Error::Invalid`] for an unaligned offset, a contradiction, or
    /// more than 128 keys.
    pub fn add(&mut self, val: u32, mask: u32, off: i32) -> Result<()> {
        let val = val & mask;
        if let Some(k) = self.keys.iter_mut().find(|k| k.off == off && k.offmask == 0) {
            if (val ^ k.val) & (mask & k.mask) != 0 {
                return Err(Error::invalid(
                    "u32.match",
                    format!("at offset {off} contradicts an earlier match"),
                ));
            }
            k.val |= val;
            k.mask |= mask;
            return Ok(());
        }
        if off % 4 != 0 {
            return Err(Error::invalid("u32.match", format!("offset {off} is not a multiple of 4")));
        }
        if self.keys.len() >= 128 {
            return Err(Error::invalid("u32.match", "more than 128 keys"));
        }
        self.keys.push(U32Key { mask, val, off, offmask: 0 });
        Ok(())
    }
}

/// The u32 classifier: `tc filter add ... u32 [match ...] [flowid C]
/// [action ...]`. Matches on any 32-, 16- or 8-bit word of the packet at
/// an offset from the network header, under a mask.
///
/// The kernel puts filters without `ht`/`handle` in the prio's default
/// hash table `800:` (it creates it with the first filter, divisor 1) and
/// numbers them `800::800`, `800::801`, ...; a listing shows the table
/// itself too (a u32 entry with only `divisor`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct U32 {
    /// `flowid`/`classid`: the class a match selects.
    pub classid: Option<TcHandle>,
    /// The selector (`None` for hash-table entries).
    pub sel: Option<U32Sel>,
    /// `ht`: the hash table to insert into.
    pub hash: Option<u32>,
    /// `link`: the hash table to continue in.
    pub link: Option<u32>,
    /// `divisor` (hash tables).
    pub divisor: Option<u32>,
    /// `TCA_U32_FLAGS` (`skip_hw`, `skip_sw`).
    pub flags: Option<u32>,
    /// The actions run on a match.
    pub actions: Vec<Action>,
    /// `TCA_U32_PCNT`: per-key hit counters (read-only, not sent).
    pub pcnt: Option<Vec<u8>>,
    /// Attributes netplumb does not model (`indev`, `mark`, `police`).
    pub other: Vec<RawAttr>,
}

impl U32 {
    /// An empty filter (add matches with the `match_*` methods).
    pub fn new() -> U32 {
        U32::default()
    }

    /// `match u32 0 0`: every packet (the reference CNI bandwidth plugin's
    /// redirect filter), terminal.
    pub fn match_all() -> U32 {
        U32 {
            sel: Some(U32Sel { flags: TC_U32_TERMINAL, keys: vec![U32Key::default()], ..U32Sel::default() }),
            ..U32::default()
        }
    }

    fn sel_mut(&mut self) -> &mut U32Sel {
        self.sel.get_or_insert_with(U32Sel::default)
    }

    /// `match u32 VAL MASK at OFF`.
    ///
    /// # Errors
    /// As [`U32Sel::add`].
    pub fn match_u32(mut self, val: u32, mask: u32, off: i32) -> Result<Self> {
        self.sel_mut().add(val, mask, off)?;
        Ok(self)
    }

    /// `match u16 VAL MASK at OFF` (packed as `tc` packs it).
    ///
    /// # Errors
    /// As [`U32Sel::add`].
    pub fn match_u16(self, val: u16, mask: u16, off: i32) -> Result<Self> {
        let shift = if off & 3 == 0 { 16 } else { 0 };
        self.match_u32((val as u32) << shift, (mask as u32) << shift, off & !3)
    }

    /// `match u8 VAL MASK at OFF`.
    ///
    /// # Errors
    /// As [`U32Sel::add`].
    pub fn match_u8(self, val: u8, mask: u8, off: i32) -> Result<Self> {
        let shift = 24 - 8 * (off & 3) as u32;
        self.match_u32((val as u32) << shift, (mask as u32) << shift, off & !3)
    }

    /// `match ip src NET`.
    ///
    /// # Errors
    /// As [`U32Sel::add`].
    pub fn match_ip_src(self, net: Ipv4Net) -> Result<Self> {
        self.match_u32(u32::from(net.addr()), u32::from(net.netmask()), 12)
    }

    /// `match ip dst NET`.
    ///
    /// # Errors
    /// As [`U32Sel::add`].
    pub fn match_ip_dst(self, net: Ipv4Net) -> Result<Self> {
        self.match_u32(u32::from(net.addr()), u32::from(net.netmask()), 16)
    }

    /// `match ip protocol P 0xff`.
    ///
    /// # Errors
    /// As [`U32Sel::add`].
    pub fn match_ip_protocol(self, proto: u8) -> Result<Self> {
        self.match_u8(proto, 0xff, 9)
    }

    /// `flowid CLASS` (makes the selector terminal, as `tc` does).
    pub fn flowid(mut self, c: TcHandle) -> Self {
        self.classid = Some(c);
        self.sel_mut().flags |= TC_U32_TERMINAL;
        self
    }

    /// `action ...` (makes the selector terminal, as `tc` does).
    pub fn action(mut self, a: impl Into<Action>) -> Self {
        self.actions.push(a.into());
        self.sel_mut().flags |= TC_U32_TERMINAL;
        self
    }

    /// `ht HT:` (the hash table, as a u32 handle `HT << 20`).
    pub fn hash_table(mut self, ht: u32) -> Self {
        self.hash = Some(ht);
        self
    }

    fn validate(&self) -> Result<()> {
        if let Some(s) = &self.sel {
            if s.keys.len() > 128 {
                return Err(Error::invalid("u32.sel.keys", format!("{} keys, at most 128", s.keys.len())));
            }
            if let Some(k) = s.keys.iter().find(|k| k.off % 4 != 0) {
                return Err(Error::invalid(
                    "u32.sel.keys",
                    format!("offset {} is not a multiple of 4", k.off),
                ));
            }
        }
        if let Some(d) = self.divisor {
            if d == 0 || d > 256 || !d.is_power_of_two() {
                return Err(Error::invalid("u32.divisor", format!("{d} is not a power of two in 1..=256")));
            }
        }
        action::validate(&self.actions, "u32.actions")
    }

    fn write(&self, w: &mut AttrWriter<'_>) {
        if let Some(c) = self.classid {
            w.u32(u32_attr::CLASSID, c.0);
        }
        if let Some(d) = self.divisor {
            w.u32(u32_attr::DIVISOR, d);
        }
        if let Some(l) = self.link {
            w.u32(u32_attr::LINK, l);
        }
        if !self.actions.is_empty() {
            write_actions(w, u32_attr::ACT, &self.actions);
        }
        if let Some(h) = self.hash {
            w.u32(u32_attr::HASH, h);
        }
        if let Some(s) = &self.sel {
            w.bytes(u32_attr::SEL, &s.to_bytes());
        }
        if let Some(f) = self.flags {
            w.u32(u32_attr::FLAGS, f);
        }
        RawAttr::write_all(w, &self.other);
    }

    fn decode(o: &[u8]) -> Result<U32, DecodeError> {
        let mut u = U32::default();
        for a in AttrIter::new(o) {
            let a = a?;
            match a.kind() {
                u32_attr::CLASSID => u.classid = Some(TcHandle(a.u32()?)),
                u32_attr::HASH => u.hash = Some(a.u32()?),
                u32_attr::LINK => u.link = Some(a.u32()?),
                u32_attr::DIVISOR => u.divisor = Some(a.u32()?),
                u32_attr::FLAGS => u.flags = Some(a.u32()?),
                u32_attr::SEL => u.sel = Some(U32Sel::parse(a.payload)?),
                u32_attr::ACT => u.actions = parse_actions(a.payload)?,
                u32_attr::PCNT => u.pcnt = Some(a.payload.to_vec()),
                _ => u.other.push(RawAttr::from(a)),
            }
        }
        Ok(u)
    }
}

/// `TCA_MATCHALL_*`.
#[allow(missing_docs)]
pub mod matchall_attr {
    pub const CLASSID: u16 = 1;
    pub const ACT: u16 = 2;
    pub const FLAGS: u16 = 3;
    pub const PCNT: u16 = 4;
}

/// Every packet: `tc filter add ... matchall [classid C] action ...`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MatchAll {
    /// `classid`.
    pub classid: Option<TcHandle>,
    /// The actions.
    pub actions: Vec<Action>,
    /// `skip_hw`/`skip_sw`.
    pub flags: Option<u32>,
    /// Hit counter (read-only, not sent).
    pub pcnt: Option<Vec<u8>>,
    /// Attributes netplumb does not model.
    pub other: Vec<RawAttr>,
}

impl MatchAll {
    /// `matchall action A`.
    pub fn new(a: impl Into<Action>) -> MatchAll {
        MatchAll { actions: vec![a.into()], ..MatchAll::default() }
    }

    fn write(&self, w: &mut AttrWriter<'_>) {
        if let Some(c) = self.classid {
            w.u32(matchall_attr::CLASSID, c.0);
        }
        if !self.actions.is_empty() {
            write_actions(w, matchall_attr::ACT, &self.actions);
        }
        if let Some(f) = self.flags {
            w.u32(matchall_attr::FLAGS, f);
        }
        RawAttr::write_all(w, &self.other);
    }

    fn decode(o: &[u8]) -> Result<MatchAll, DecodeError> {
        let mut m = MatchAll::default();
        for a in AttrIter::new(o) {
            let a = a?;
            match a.kind() {
                matchall_attr::CLASSID => m.classid = Some(TcHandle(a.u32()?)),
                matchall_attr::ACT => m.actions = parse_actions(a.payload)?,
                matchall_attr::FLAGS => m.flags = Some(a.u32()?),
                matchall_attr::PCNT => m.pcnt = Some(a.payload.to_vec()),
                _ => m.other.push(RawAttr::from(a)),
            }
        }
        Ok(m)
    }
}

/// `TCA_FLOWER_*` (the common keys).
#[allow(missing_docs)]
pub mod flower_attr {
    pub const CLASSID: u16 = 1;
    pub const INDEV: u16 = 2;
    pub const ACT: u16 = 3;
    pub const KEY_ETH_DST: u16 = 4;
    pub const KEY_ETH_DST_MASK: u16 = 5;
    pub const KEY_ETH_SRC: u16 = 6;
    pub const KEY_ETH_SRC_MASK: u16 = 7;
    pub const KEY_ETH_TYPE: u16 = 8;
    pub const KEY_IP_PROTO: u16 = 9;
    pub const KEY_IPV4_SRC: u16 = 10;
    pub const KEY_IPV4_SRC_MASK: u16 = 11;
    pub const KEY_IPV4_DST: u16 = 12;
    pub const KEY_IPV4_DST_MASK: u16 = 13;
    pub const KEY_IPV6_SRC: u16 = 14;
    pub const KEY_IPV6_SRC_MASK: u16 = 15;
    pub const KEY_IPV6_DST: u16 = 16;
    pub const KEY_IPV6_DST_MASK: u16 = 17;
    pub const KEY_TCP_SRC: u16 = 18;
    pub const KEY_TCP_DST: u16 = 19;
    pub const KEY_UDP_SRC: u16 = 20;
    pub const KEY_UDP_DST: u16 = 21;
    pub const FLAGS: u16 = 22;
}

/// The flower classifier with its common keys: `tc filter add ... flower
/// [dst_mac M] [src_mac M] [ip_proto P] [src_ip A/L] [dst_ip A/L]
/// [src_port N] [dst_port N] action ...`. The Ethernet type comes from the
/// filter's protocol; `tc` sends it as `KEY_ETH_TYPE` too, and so does
/// [`Flower::eth_type`]. Ports are for TCP or UDP per `ip_proto`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Flower {
    /// `classid`.
    pub classid: Option<TcHandle>,
    /// `indev`.
    pub indev: Option<String>,
    /// Destination MAC and mask.
    pub eth_dst: Option<([u8; 6], [u8; 6])>,
    /// Source MAC and mask.
    pub eth_src: Option<([u8; 6], [u8; 6])>,
    /// Ethernet type (host order).
    pub eth_type: Option<u16>,
    /// IP protocol (6 TCP, 17 UDP ...).
    pub ip_proto: Option<u8>,
    /// IPv4 source and mask.
    pub ipv4_src: Option<(Ipv4Addr, Ipv4Addr)>,
    /// IPv4 destination and mask.
    pub ipv4_dst: Option<(Ipv4Addr, Ipv4Addr)>,
    /// IPv6 source and mask.
    pub ipv6_src: Option<(Ipv6Addr, Ipv6Addr)>,
    /// IPv6 destination and mask.
    pub ipv6_dst: Option<(Ipv6Addr, Ipv6Addr)>,
    /// TCP source port.
    pub tcp_src: Option<u16>,
    /// TCP destination port.
    pub tcp_dst: Option<u16>,
    /// UDP source port.
    pub udp_src: Option<u16>,
    /// UDP destination port.
    pub udp_dst: Option<u16>,
    /// `skip_hw`/`skip_sw`.
    pub flags: Option<u32>,
    /// The actions.
    pub actions: Vec<Action>,
    /// Keys netplumb does not model, raw.
    pub other: Vec<RawAttr>,
}

/// A key and its mask.
type Masked<const N: usize> = ([u8; N], [u8; N]);

fn addr_pair<const N: usize>(
    v: Option<&[u8]>,
    m: Option<&[u8]>,
    what: &'static str,
) -> Result<Option<Masked<N>>, DecodeError> {
    match v {
        None => Ok(None),
        Some(v) => {
            let a: [u8; N] =
                v.try_into().map_err(|_| DecodeError::new(what, format!("{} bytes", v.len())))?;
            let m: [u8; N] = match m {
                Some(m) => {
                    m.try_into().map_err(|_| DecodeError::new(what, format!("mask of {} bytes", m.len())))?
                }
                None => [0xff; N],
            };
            Ok(Some((a, m)))
        }
    }
}

impl Flower {
    fn write(&self, w: &mut AttrWriter<'_>) {
        use flower_attr::*;
        if let Some(c) = self.classid {
            w.u32(CLASSID, c.0);
        }
        if let Some(i) = &self.indev {
            w.str(INDEV, i);
        }
        if let Some(t) = self.eth_type {
            w.u16_be(KEY_ETH_TYPE, t);
        }
        if let Some((a, m)) = self.eth_dst {
            w.bytes(KEY_ETH_DST, &a).bytes(KEY_ETH_DST_MASK, &m);
        }
        if let Some((a, m)) = self.eth_src {
            w.bytes(KEY_ETH_SRC, &a).bytes(KEY_ETH_SRC_MASK, &m);
        }
        if let Some(p) = self.ip_proto {
            w.u8(KEY_IP_PROTO, p);
        }
        if let Some((a, m)) = self.ipv4_src {
            w.bytes(KEY_IPV4_SRC, &a.octets()).bytes(KEY_IPV4_SRC_MASK, &m.octets());
        }
        if let Some((a, m)) = self.ipv4_dst {
            w.bytes(KEY_IPV4_DST, &a.octets()).bytes(KEY_IPV4_DST_MASK, &m.octets());
        }
        if let Some((a, m)) = self.ipv6_src {
            w.bytes(KEY_IPV6_SRC, &a.octets()).bytes(KEY_IPV6_SRC_MASK, &m.octets());
        }
        if let Some((a, m)) = self.ipv6_dst {
            w.bytes(KEY_IPV6_DST, &a.octets()).bytes(KEY_IPV6_DST_MASK, &m.octets());
        }
        for (ty, v) in [
            (KEY_TCP_SRC, self.tcp_src),
            (KEY_TCP_DST, self.tcp_dst),
            (KEY_UDP_SRC, self.udp_src),
            (KEY_UDP_DST, self.udp_dst),
        ] {
            if let Some(p) = v {
                w.u16_be(ty, p);
            }
        }
        if let Some(f) = self.flags {
            w.u32(FLAGS, f);
        }
        if !self.actions.is_empty() {
            write_actions(w, ACT, &self.actions);
        }
        RawAttr::write_all(w, &self.other);
    }

    fn decode(o: &[u8]) -> Result<Flower, DecodeError> {
        use flower_attr::*;
        let mut f = Flower::default();
        // The first of each address key or mask, and how many attributes
        // `other` held when it came (so that a mask kept raw goes back in
        // its place, before later duplicates).
        let mut raw: [Option<(&[u8], usize, usize)>; 18] = [None; 18];
        for (seq, a) in AttrIter::new(o).enumerate() {
            let a = a?;
            match a.kind() {
                CLASSID => f.classid = Some(TcHandle(a.u32()?)),
                INDEV => f.indev = Some(a.str()?.to_string()),
                ACT => f.actions = parse_actions(a.payload)?,
                KEY_ETH_TYPE => f.eth_type = Some(a.u16_be()?),
                KEY_IP_PROTO => f.ip_proto = Some(a.u8()?),
                KEY_TCP_SRC => f.tcp_src = Some(a.u16_be()?),
                KEY_TCP_DST => f.tcp_dst = Some(a.u16_be()?),
                KEY_UDP_SRC => f.udp_src = Some(a.u16_be()?),
                KEY_UDP_DST => f.udp_dst = Some(a.u16_be()?),
                FLAGS => f.flags = Some(a.u32()?),
                k @ (KEY_ETH_DST..=KEY_ETH_SRC_MASK | KEY_IPV4_SRC..=KEY_IPV6_DST_MASK)
                    if raw[k as usize].is_none() =>
                {
                    raw[k as usize] = Some((a.payload, f.other.len(), seq))
                }
                _ => f.other.push(RawAttr::from(a)),
            }
        }
        let r = |k: u16| raw[k as usize].map(|(p, _, _)| p);
        f.eth_dst = addr_pair::<6>(r(KEY_ETH_DST), r(KEY_ETH_DST_MASK), "flower eth_dst")?;
        f.eth_src = addr_pair::<6>(r(KEY_ETH_SRC), r(KEY_ETH_SRC_MASK), "flower eth_src")?;
        f.ipv4_src = addr_pair::<4>(r(KEY_IPV4_SRC), r(KEY_IPV4_SRC_MASK), "flower src_ip")?
            .map(|(a, m)| (a.into(), m.into()));
        f.ipv4_dst = addr_pair::<4>(r(KEY_IPV4_DST), r(KEY_IPV4_DST_MASK), "flower dst_ip")?
            .map(|(a, m)| (a.into(), m.into()));
        f.ipv6_src = addr_pair::<16>(r(KEY_IPV6_SRC), r(KEY_IPV6_SRC_MASK), "flower src_ip")?
            .map(|(a, m)| (a.into(), m.into()));
        f.ipv6_dst = addr_pair::<16>(r(KEY_IPV6_DST), r(KEY_IPV6_DST_MASK), "flower dst_ip")?
            .map(|(a, m)| (a.into(), m.into()));
        // A mask without its key is kept raw, where it came.
        let mut orphans = Vec::new();
        for (k, m) in [
            (KEY_ETH_DST, KEY_ETH_DST_MASK),
            (KEY_ETH_SRC, KEY_ETH_SRC_MASK),
            (KEY_IPV4_SRC, KEY_IPV4_SRC_MASK),
            (KEY_IPV4_DST, KEY_IPV4_DST_MASK),
            (KEY_IPV6_SRC, KEY_IPV6_SRC_MASK),
            (KEY_IPV6_DST, KEY_IPV6_DST_MASK),
        ] {
            if r(k).is_none() {
                if let Some((p, at, seq)) = raw[m as usize] {
                    orphans.push((at, seq, m, p));
                }
            }
        }
        // Later places first, so that earlier ones keep their index; at one
        // place, the mask that came first ends up first.
        orphans.sort_by_key(|(at, seq, _, _)| std::cmp::Reverse((*at, *seq)));
        for (at, _, m, p) in orphans {
            f.other.insert(at, RawAttr { kind: m, payload: p.to_vec() });
        }
        Ok(f)
    }
}
