//! Policy routing rules: add, replace, delete, get, list, flush, follow —
//! what `ip rule` does.
//!
//! | netplumb | `ip` |
//! |---|---|
//! | [`Rules::add`] | `ip rule add ...` |
//! | [`Rules::replace`] | `ip rule replace ...` (kernel 6.x: `NLM_F_REPLACE`) |
//! | [`Rules::delete`] | `ip rule del ...` |
//! | [`Rules::get`] | `ip rule show pref N` |
//! | [`Rules::list`] | `ip rule show`, `ip -6 rule show` |
//! | [`Rules::flush`] | `ip rule flush` |
//! | [`Rules::events`], [`Rules::list_and_follow`] | `ip monitor rule` |
//!
//! [`Rule`]'s `Display` prints a rule as `ip rule show` does.
//!
//! ```no_run
//! # async fn demo(rt: &netplumb::Rtnl) -> netplumb::Result<()> {
//! use netplumb::route::RouteTable;
//! use netplumb::rule::Rule;
//! // ip rule add fwmark 0x10/0xff table 100 priority 1000
//! rt.rules().add(&Rule::v4().fwmark(0x10, 0xff).table(RouteTable(100)).priority(1000)).await?;
//! # Ok(()) }
//! ```

use std::fmt;

use bitflags::bitflags;
use ipnet::IpNet;

use crate::conn::{Connection, Dump, Request, Subscription};
use crate::error::{DecodeError, Error, Result};
use crate::rtnl::route::RouteTable;
use crate::rtnl::{
    self, groups, header, ip_from, put_ip, rtm, validate_ifname, Change, RawAttr, Snapshot, AF_INET,
    AF_INET6, AF_UNSPEC,
};
use crate::wire::{attrs_after, AttrWriter, Msg, NLM_F_CREATE, NLM_F_EXCL};

/// `FRA_*` attribute numbers (`include/uapi/linux/fib_rules.h`).
#[allow(missing_docs)]
pub(crate) mod fra {
    pub const DST: u16 = 1;
    pub const SRC: u16 = 2;
    pub const IIFNAME: u16 = 3;
    pub const GOTO: u16 = 4;
    pub const PRIORITY: u16 = 6;
    pub const FWMARK: u16 = 10;
    pub const FLOW: u16 = 11;
    pub const TUN_ID: u16 = 12;
    pub const SUPPRESS_IFGROUP: u16 = 13;
    pub const SUPPRESS_PREFIXLEN: u16 = 14;
    pub const TABLE: u16 = 15;
    pub const FWMASK: u16 = 16;
    pub const OIFNAME: u16 = 17;
    pub const L3MDEV: u16 = 19;
    pub const UID_RANGE: u16 = 20;
    pub const PROTOCOL: u16 = 21;
    pub const IP_PROTO: u16 = 22;
    pub const SPORT_RANGE: u16 = 23;
    pub const DPORT_RANGE: u16 = 24;
}

/// Size of `struct fib_rule_hdr`.
pub const FIB_RULE_HDR_LEN: usize = 12;

/// What the kernel reports for an unset `suppress_prefixlength` or
/// `suppress_ifgroup` (`-1`).
const UNSET: u32 = u32::MAX;

/// What a matching rule does (`fib_rule_hdr.action`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum RuleAction {
    /// `lookup TABLE` (1).
    #[default]
    ToTable,
    /// `goto PRIORITY` (2).
    Goto,
    /// `nop` (3).
    Nop,
    /// `blackhole` (6).
    Blackhole,
    /// `unreachable` (7).
    Unreachable,
    /// `prohibit` (8).
    Prohibit,
    /// Any other value.
    Unknown(u8),
}

impl RuleAction {
    /// From the raw value.
    pub fn from_raw(v: u8) -> RuleAction {
        match v {
            1 => RuleAction::ToTable,
            2 => RuleAction::Goto,
            3 => RuleAction::Nop,
            6 => RuleAction::Blackhole,
            7 => RuleAction::Unreachable,
            8 => RuleAction::Prohibit,
            v => RuleAction::Unknown(v),
        }
    }
    /// The name `ip rule` prints (`lookup`, `goto`, `nop`, `blackhole`,
    /// `unreachable`, `prohibit`, or the number).
    pub fn name(self) -> String {
        match self {
            RuleAction::ToTable => "lookup".into(),
            RuleAction::Goto => "goto".into(),
            RuleAction::Nop => "nop".into(),
            RuleAction::Blackhole => "blackhole".into(),
            RuleAction::Unreachable => "unreachable".into(),
            RuleAction::Prohibit => "prohibit".into(),
            RuleAction::Unknown(v) => v.to_string(),
        }
    }
    /// The raw value.
    pub fn to_raw(self) -> u8 {
        match self {
            RuleAction::ToTable => 1,
            RuleAction::Goto => 2,
            RuleAction::Nop => 3,
            RuleAction::Blackhole => 6,
            RuleAction::Unreachable => 7,
            RuleAction::Prohibit => 8,
            RuleAction::Unknown(v) => v,
        }
    }
}

bitflags! {
    /// Rule flags (`FIB_RULE_*`). Unknown bits are kept.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct RuleFlags: u32 {
        /// `FIB_RULE_PERMANENT`.
        const PERMANENT = 0x1;
        /// `not`: invert the match.
        const INVERT = 0x2;
        /// `FIB_RULE_UNRESOLVED`.
        const UNRESOLVED = 0x4;
        /// `FIB_RULE_IIF_DETACHED`.
        const IIF_DETACHED = 0x8;
        /// `FIB_RULE_OIF_DETACHED`.
        const OIF_DETACHED = 0x10;
        // Keep every bit the kernel sends.
        const _ = !0;
    }
}

/// A policy routing rule (`ip rule add [not] [from P] [to P] [tos T]
/// [fwmark M/MASK] [iif L] [oif L] [l3mdev] [uidrange A-B] [ipproto P]
/// [sport A[-B]] [dport A[-B]] [priority N] [lookup TABLE | goto N |
/// blackhole | ...] [suppress_prefixlength N] [suppress_ifgroup G] [realms
/// FROM/TO]`).
///
/// Build one with [`Rule::v4`]/[`Rule::v6`] and the builder methods; the
/// fields are public for reading what the kernel reported.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rule {
    /// IPv6 (`ip -6 rule`) rather than IPv4.
    pub v6: bool,
    /// Priority (`priority`/`pref`); `None` lets the kernel choose.
    pub priority: Option<u32>,
    /// Firewall mark to match (`fwmark`).
    pub fwmark: Option<u32>,
    /// Mask for the mark (`fwmark M/MASK`).
    pub fwmask: Option<u32>,
    /// Table to look up; [`RouteTable::UNSPEC`] for a rule that looks up
    /// none (`blackhole`, `goto`, `l3mdev`...).
    pub table: RouteTable,
    /// Source prefix (`from`).
    pub src: Option<IpNet>,
    /// Destination prefix (`to`).
    pub dst: Option<IpNet>,
    /// Input interface name (`iif`).
    pub iif: Option<String>,
    /// Output interface name (`oif`).
    pub oif: Option<String>,
    /// Type of service (`tos`).
    pub tos: u8,
    /// Action.
    pub action: RuleAction,
    /// Target priority of a `goto`.
    pub goto: Option<u32>,
    /// `suppress_prefixlength`: ignore lookup results with a prefix this
    /// long or shorter. `None` when unset (the kernel reports `-1`).
    pub suppress_prefixlen: Option<u32>,
    /// `suppress_ifgroup`: ignore lookup results out of links of this
    /// group. `None` when unset.
    pub suppress_ifgroup: Option<u32>,
    /// Realms (`realms FROM/TO`), as `(from, to)`; 0 is "any".
    pub realms: Option<(u16, u16)>,
    /// Look up the table of the VRF the packet's link belongs to
    /// (`l3mdev`).
    pub l3mdev: bool,
    /// Match socket owner uids `start..=end` (`uidrange A-B`).
    pub uid_range: Option<(u32, u32)>,
    /// Match an IP protocol number (`ipproto tcp`).
    pub ip_proto: Option<u8>,
    /// Match source ports `start..=end` (`sport A-B`).
    pub sport: Option<(u16, u16)>,
    /// Match destination ports `start..=end` (`dport A-B`).
    pub dport: Option<(u16, u16)>,
    /// Tunnel id (`tun_id`).
    pub tun_id: Option<u64>,
    /// Flags (`not` is [`RuleFlags::INVERT`]).
    pub flags: RuleFlags,
    /// Who installed it (`protocol`).
    pub protocol: Option<u8>,
    /// Attributes netplumb does not model, as sent.
    pub unknown: Vec<RawAttr>,
}

impl Rule {
    /// An IPv4 rule that looks up the main table.
    pub fn v4() -> Rule {
        Rule {
            v6: false,
            priority: None,
            fwmark: None,
            fwmask: None,
            table: RouteTable::MAIN,
            src: None,
            dst: None,
            iif: None,
            oif: None,
            tos: 0,
            action: RuleAction::ToTable,
            goto: None,
            suppress_prefixlen: None,
            suppress_ifgroup: None,
            realms: None,
            l3mdev: false,
            uid_range: None,
            ip_proto: None,
            sport: None,
            dport: None,
            tun_id: None,
            flags: RuleFlags::empty(),
            protocol: None,
            unknown: Vec::new(),
        }
    }
    /// An IPv6 rule that looks up the main table.
    pub fn v6() -> Rule {
        Rule { v6: true, ..Rule::v4() }
    }
    /// Set the priority (`priority N`).
    pub fn priority(mut self, p: u32) -> Self {
        self.priority = Some(p);
        self
    }
    /// Match a firewall mark under `mask` (`fwmark M/MASK`).
    pub fn fwmark(mut self, mark: u32, mask: u32) -> Self {
        self.fwmark = Some(mark);
        self.fwmask = Some(mask);
        self
    }
    /// Look up `t` (`lookup T`). After [`Rule::action`], records a table
    /// with another action, as `ip rule add blackhole table T` does.
    pub fn table(mut self, t: RouteTable) -> Self {
        self.table = t;
        self
    }
    /// Match a source prefix (`from P`).
    pub fn from(mut self, p: IpNet) -> Self {
        self.src = Some(p);
        self
    }
    /// Match a destination prefix (`to P`).
    pub fn to(mut self, p: IpNet) -> Self {
        self.dst = Some(p);
        self
    }
    /// Match the type of service (`tos T`).
    pub fn tos(mut self, tos: u8) -> Self {
        self.tos = tos;
        self
    }
    /// Match an input interface (`iif NAME`).
    pub fn iif(mut self, name: impl Into<String>) -> Self {
        self.iif = Some(name.into());
        self
    }
    /// Match an output interface (`oif NAME`).
    pub fn oif(mut self, name: impl Into<String>) -> Self {
        self.oif = Some(name.into());
        self
    }
    /// Set the action (`blackhole`, `unreachable`, `prohibit`, `nop`). An
    /// action other than [`RuleAction::ToTable`] looks up no table, so the
    /// table becomes [`RouteTable::UNSPEC`], as `ip rule add blackhole`
    /// sends it.
    pub fn action(mut self, a: RuleAction) -> Self {
        self.action = a;
        if a != RuleAction::ToTable {
            self.table = RouteTable::UNSPEC;
        }
        self
    }
    /// Jump to the rule of priority `target` (`goto N`).
    pub fn goto(mut self, target: u32) -> Self {
        self.action = RuleAction::Goto;
        self.table = RouteTable::UNSPEC;
        self.goto = Some(target);
        self
    }
    /// Ignore lookup results with a prefix of `len` or shorter
    /// (`suppress_prefixlength N`).
    pub fn suppress_prefixlen(mut self, len: u32) -> Self {
        self.suppress_prefixlen = Some(len);
        self
    }
    /// Ignore lookup results whose output link is in `group`
    /// (`suppress_ifgroup G`).
    pub fn suppress_ifgroup(mut self, group: u32) -> Self {
        self.suppress_ifgroup = Some(group);
        self
    }
    /// Match route realms (`realms FROM/TO`; 0 matches any).
    pub fn realms(mut self, from: u16, to: u16) -> Self {
        self.realms = Some((from, to));
        self
    }
    /// Look up the table of the packet's VRF (`l3mdev`); the rule then
    /// names no table.
    pub fn l3mdev(mut self) -> Self {
        self.l3mdev = true;
        self.table = RouteTable::UNSPEC;
        self
    }
    /// Match socket owner uids `start..=end` (`uidrange A-B`).
    pub fn uid_range(mut self, start: u32, end: u32) -> Self {
        self.uid_range = Some((start, end));
        self
    }
    /// Match an IP protocol (`ipproto N`; 6 is tcp, 17 udp).
    pub fn ip_proto(mut self, p: u8) -> Self {
        self.ip_proto = Some(p);
        self
    }
    /// Match source ports `start..=end` (`sport A-B`, `sport A`).
    pub fn sport(mut self, start: u16, end: u16) -> Self {
        self.sport = Some((start, end));
        self
    }
    /// Match destination ports `start..=end` (`dport A-B`, `dport A`).
    pub fn dport(mut self, start: u16, end: u16) -> Self {
        self.dport = Some((start, end));
        self
    }
    /// Match a tunnel id (`tun_id N`).
    pub fn tun_id(mut self, id: u64) -> Self {
        self.tun_id = Some(id);
        self
    }
    /// Record who installed the rule (`protocol N`).
    pub fn protocol(mut self, p: u8) -> Self {
        self.protocol = Some(p);
        self
    }
    /// Invert the match (`not`).
    pub fn invert(mut self) -> Self {
        self.flags |= RuleFlags::INVERT;
        self
    }

    fn family(&self) -> u8 {
        if self.v6 {
            AF_INET6
        } else {
            AF_INET
        }
    }

    /// Check every field; nothing is sent when this fails.
    pub fn validate(&self) -> Result<()> {
        for (field, p) in [("from", self.src), ("to", self.dst)] {
            if let Some(p) = p {
                if p.addr().is_ipv6() != self.v6 {
                    return Err(Error::invalid(field, format!("{p} is not of the rule's family")));
                }
            }
        }
        if let Some(i) = &self.iif {
            validate_ifname("iif", i)?;
        }
        if let Some(o) = &self.oif {
            validate_ifname("oif", o)?;
        }
        if self.fwmask.is_some() && self.fwmark.is_none() {
            return Err(Error::invalid("fwmask", "a mask needs a mark"));
        }
        if self.action == RuleAction::Goto && self.goto.is_none() {
            return Err(Error::invalid("goto", "a goto rule needs a target priority"));
        }
        if self.suppress_prefixlen == Some(UNSET) {
            return Err(Error::invalid("suppress_prefixlen", "4294967295 means unset; use None"));
        }
        if self.suppress_ifgroup == Some(UNSET) {
            return Err(Error::invalid("suppress_ifgroup", "4294967295 means unset; use None"));
        }
        if let Some(l) = self.suppress_prefixlen {
            let max = if self.v6 { 128 } else { 32 };
            if l > max {
                return Err(Error::invalid("suppress_prefixlen", format!("{l} is longer than {max}")));
            }
        }
        for (field, r) in [("sport", self.sport), ("dport", self.dport)] {
            if let Some((a, b)) = r {
                if a > b {
                    return Err(Error::invalid(field, format!("{a}-{b}: start after end")));
                }
            }
        }
        if let Some((a, b)) = self.uid_range {
            if a > b {
                return Err(Error::invalid("uid_range", format!("{a}-{b}: start after end")));
            }
        }
        if self.l3mdev && self.table != RouteTable::UNSPEC {
            return Err(Error::invalid("table", "an l3mdev rule looks up the VRF's table, not another"));
        }
        Ok(())
    }

    /// Encode the `RTM_NEWRULE`/`RTM_DELRULE` payload (pure).
    pub fn write(&self, w: &mut AttrWriter<'_>) {
        let t = self.table.0;
        let mut h = [0u8; FIB_RULE_HDR_LEN];
        h[0] = self.family();
        h[1] = self.dst.map_or(0, |p| p.prefix_len());
        h[2] = self.src.map_or(0, |p| p.prefix_len());
        h[3] = self.tos;
        h[4] = if t < 256 { t as u8 } else { 0 };
        h[7] = self.action.to_raw();
        h[8..12].copy_from_slice(&self.flags.bits().to_ne_bytes());
        w.raw(&h);
        if let Some(p) = self.priority {
            w.u32(fra::PRIORITY, p);
        }
        if let Some(p) = self.dst {
            put_ip(w, fra::DST, p.addr());
        }
        if let Some(p) = self.src {
            put_ip(w, fra::SRC, p.addr());
        }
        if let Some(i) = &self.iif {
            w.str(fra::IIFNAME, i);
        }
        if let Some(o) = &self.oif {
            w.str(fra::OIFNAME, o);
        }
        if let Some(m) = self.fwmark {
            w.u32(fra::FWMARK, m);
        }
        if let Some(m) = self.fwmask {
            w.u32(fra::FWMASK, m);
        }
        // The header holds tables below 256 only; a rule without table
        // (blackhole, goto, l3mdev) sends none, as `ip` does.
        if t > 255 || (self.action == RuleAction::ToTable && t != 0) {
            w.u32(fra::TABLE, t);
        }
        if let Some(g) = self.goto {
            w.u32(fra::GOTO, g);
        }
        if let Some(s) = self.suppress_prefixlen {
            w.u32(fra::SUPPRESS_PREFIXLEN, s);
        }
        if let Some(s) = self.suppress_ifgroup {
            w.u32(fra::SUPPRESS_IFGROUP, s);
        }
        if let Some((from, to)) = self.realms {
            w.u32(fra::FLOW, (from as u32) << 16 | to as u32);
        }
        if self.l3mdev {
            w.u8(fra::L3MDEV, 1);
        }
        if let Some((a, b)) = self.uid_range {
            let mut v = [0u8; 8];
            v[..4].copy_from_slice(&a.to_ne_bytes());
            v[4..].copy_from_slice(&b.to_ne_bytes());
            w.bytes(fra::UID_RANGE, &v);
        }
        if let Some(p) = self.ip_proto {
            w.u8(fra::IP_PROTO, p);
        }
        for (ty, r) in [(fra::SPORT_RANGE, self.sport), (fra::DPORT_RANGE, self.dport)] {
            if let Some((a, b)) = r {
                let mut v = [0u8; 4];
                v[..2].copy_from_slice(&a.to_ne_bytes());
                v[2..].copy_from_slice(&b.to_ne_bytes());
                w.bytes(ty, &v);
            }
        }
        if let Some(id) = self.tun_id {
            w.u64_be(fra::TUN_ID, id);
        }
        if let Some(p) = self.protocol {
            w.u8(fra::PROTOCOL, p);
        }
        RawAttr::write_all(w, &self.unknown);
    }

    /// Decode an `RTM_NEWRULE`/`RTM_DELRULE` message.
    pub fn parse(m: &Msg<'_>) -> Result<Rule, DecodeError> {
        let p = m.payload;
        let h = header::<FIB_RULE_HDR_LEN>(p, "fib_rule_hdr")?;
        let mut r = match h[0] {
            AF_INET => Rule::v4(),
            AF_INET6 => Rule::v6(),
            f => return Err(DecodeError::new("fib_rule_hdr", format!("family {f}"))),
        };
        let (dst_len, src_len) = (h[1], h[2]);
        r.tos = h[3];
        r.table = RouteTable(h[4] as u32);
        r.action = RuleAction::from_raw(h[7]);
        r.flags = RuleFlags::from_bits_retain(u32::from_ne_bytes(h[8..12].try_into().expect("4")));
        let net = |a: &crate::wire::Attr<'_>, len: u8, what: &'static str| -> Result<IpNet, DecodeError> {
            IpNet::new(ip_from(a.payload, what)?, len)
                .map_err(|_| DecodeError::new(what, format!("prefix {len}")))
        };
        let pair32 = |a: &crate::wire::Attr<'_>, what: &'static str| -> Result<(u32, u32), DecodeError> {
            let b: [u8; 8] = crate::wire::fixed(a.payload, what)?;
            Ok((
                u32::from_ne_bytes(b[..4].try_into().expect("4")),
                u32::from_ne_bytes(b[4..].try_into().expect("4")),
            ))
        };
        let pair16 = |a: &crate::wire::Attr<'_>, what: &'static str| -> Result<(u16, u16), DecodeError> {
            let b: [u8; 4] = crate::wire::fixed(a.payload, what)?;
            Ok((u16::from_ne_bytes([b[0], b[1]]), u16::from_ne_bytes([b[2], b[3]])))
        };
        for a in attrs_after(p, FIB_RULE_HDR_LEN) {
            let a = a?;
            match a.kind() {
                fra::PRIORITY => r.priority = Some(a.u32()?),
                fra::DST => r.dst = Some(net(&a, dst_len, "FRA_DST")?),
                fra::SRC => r.src = Some(net(&a, src_len, "FRA_SRC")?),
                fra::IIFNAME => r.iif = Some(a.str()?.to_string()),
                fra::OIFNAME => r.oif = Some(a.str()?.to_string()),
                fra::FWMARK => r.fwmark = Some(a.u32()?),
                fra::FWMASK => r.fwmask = Some(a.u32()?),
                fra::TABLE => r.table = RouteTable(a.u32()?),
                fra::GOTO => r.goto = Some(a.u32()?),
                fra::SUPPRESS_PREFIXLEN => r.suppress_prefixlen = Some(a.u32()?).filter(|&v| v != UNSET),
                fra::SUPPRESS_IFGROUP => r.suppress_ifgroup = Some(a.u32()?).filter(|&v| v != UNSET),
                fra::FLOW => {
                    let v = a.u32()?;
                    r.realms = Some(((v >> 16) as u16, v as u16));
                }
                fra::L3MDEV => r.l3mdev = a.u8()? != 0,
                fra::UID_RANGE => r.uid_range = Some(pair32(&a, "FRA_UID_RANGE")?),
                fra::IP_PROTO => r.ip_proto = Some(a.u8()?),
                fra::SPORT_RANGE => r.sport = Some(pair16(&a, "FRA_SPORT_RANGE")?),
                fra::DPORT_RANGE => r.dport = Some(pair16(&a, "FRA_DPORT_RANGE")?),
                fra::TUN_ID => r.tun_id = Some(a.u64_be()?),
                fra::PROTOCOL => r.protocol = Some(a.u8()?),
                _ => r.unknown.push(RawAttr::from(a)),
            }
        }
        Ok(r)
    }
}

/// Which rules [`Rules::flush`] deletes: `ip [-4|-6] rule flush [table
/// T] [protocol P]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuleFilter {
    /// Only IPv6 (`Some(true)`) or IPv4 (`Some(false)`) rules; both when
    /// `None`.
    pub v6: Option<bool>,
    /// Only rules looking up this table.
    pub table: Option<RouteTable>,
    /// Only rules installed by this protocol.
    pub protocol: Option<u8>,
}

impl RuleFilter {
    /// Every rule of both families (but the priority 0 rule).
    pub fn all() -> RuleFilter {
        RuleFilter::default()
    }
    /// Only rules of one family (`-6` for `true`).
    pub fn v6(mut self, v6: bool) -> Self {
        self.v6 = Some(v6);
        self
    }
    /// Only rules looking up `t` (`table T`).
    pub fn table(mut self, t: RouteTable) -> Self {
        self.table = Some(t);
        self
    }
    /// Only rules installed by `p` (`protocol P`).
    pub fn protocol(mut self, p: u8) -> Self {
        self.protocol = Some(p);
        self
    }

    fn selects(&self, r: &Rule) -> bool {
        r.priority.unwrap_or(0) != 0
            && self.v6.is_none_or_eq(r.v6)
            && self.table.is_none_or_eq(r.table)
            && (self.protocol.is_none() || self.protocol == r.protocol)
    }
}

trait NoneOrEq<T> {
    fn is_none_or_eq(&self, v: T) -> bool;
}

impl<T: PartialEq> NoneOrEq<T> for Option<T> {
    fn is_none_or_eq(&self, v: T) -> bool {
        self.as_ref().is_none_or(|s| *s == v)
    }
}

/// A table as `ip` names it.
fn table_name(t: RouteTable) -> String {
    match t.0 {
        253 => "default".into(),
        254 => "main".into(),
        255 => "local".into(),
        n => n.to_string(),
    }
}

/// An IP protocol as `ip` names it (from `/etc/protocols`).
pub(crate) fn ip_proto_name(p: u8) -> String {
    match p {
        1 => "icmp".into(),
        2 => "igmp".into(),
        4 => "ipencap".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        41 => "ipv6".into(),
        47 => "gre".into(),
        50 => "esp".into(),
        51 => "ah".into(),
        58 => "ipv6-icmp".into(),
        132 => "sctp".into(),
        136 => "udplite".into(),
        n => n.to_string(),
    }
}

fn range(f: &mut fmt::Formatter<'_>, what: &str, r: Option<(u16, u16)>) -> fmt::Result {
    match r {
        Some((a, b)) if a == b => write!(f, " {what} {a}"),
        Some((a, b)) => write!(f, " {what} {a}-{b}"),
        None => Ok(()),
    }
}

/// As `ip rule show` prints it: `1000:\tnot from 10.0.0.0/8 fwmark
/// 0x10/0xff lookup 100`.
impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:\t", self.priority.unwrap_or(0))?;
        if self.flags.contains(RuleFlags::INVERT) {
            write!(f, "not ")?;
        }
        match self.src {
            Some(p) if p.prefix_len() == p.max_prefix_len() => write!(f, "from {}", p.addr())?,
            Some(p) if p.prefix_len() > 0 => write!(f, "from {p}")?,
            _ => write!(f, "from all")?,
        }
        match self.dst {
            Some(p) if p.prefix_len() == p.max_prefix_len() => write!(f, " to {}", p.addr())?,
            Some(p) if p.prefix_len() > 0 => write!(f, " to {p}")?,
            _ => {}
        }
        if self.tos != 0 {
            write!(f, " tos 0x{:02x}", self.tos)?;
        }
        if let Some(m) = self.fwmark {
            write!(f, " fwmark 0x{m:x}")?;
            if let Some(mask) = self.fwmask.filter(|&m| m != u32::MAX) {
                write!(f, "/0x{mask:x}")?;
            }
        }
        if let Some(i) = &self.iif {
            write!(f, " iif {i}")?;
            if self.flags.contains(RuleFlags::IIF_DETACHED) {
                write!(f, " [detached]")?;
            }
        }
        if let Some(o) = &self.oif {
            write!(f, " oif {o}")?;
            if self.flags.contains(RuleFlags::OIF_DETACHED) {
                write!(f, " [detached]")?;
            }
        }
        if let Some((a, b)) = self.uid_range {
            write!(f, " uidrange {a}-{b}")?;
        }
        if let Some(p) = self.ip_proto {
            write!(f, " ipproto {}", ip_proto_name(p))?;
        }
        range(f, "sport", self.sport)?;
        range(f, "dport", self.dport)?;
        if let Some(id) = self.tun_id {
            write!(f, " tun_id {id}")?;
        }
        if self.l3mdev {
            write!(f, " lookup [l3mdev-table]")?;
        } else if self.table != RouteTable::UNSPEC {
            write!(f, " lookup {}", table_name(self.table))?;
        }
        if let Some(l) = self.suppress_prefixlen {
            write!(f, " suppress_prefixlength {l}")?;
        }
        if let Some(g) = self.suppress_ifgroup {
            write!(f, " suppress_ifgroup {g}")?;
        }
        match self.realms {
            Some((0, to)) => write!(f, " realms {to}")?,
            Some((from, to)) => write!(f, " realms {from}/{to}")?,
            None => {}
        }
        match self.action {
            RuleAction::ToTable => {}
            RuleAction::Goto => write!(f, " goto {}", self.goto.unwrap_or(0))?,
            RuleAction::Nop => write!(f, " nop")?,
            a => write!(f, " {}", a.name())?,
        }
        if let Some(p) = self.protocol.filter(|&p| p != 0 && p != 2) {
            write!(f, " proto {}", crate::rtnl::route::RouteProtocol(p).name())?;
        }
        Ok(())
    }
}

fn decode_rule(m: &Msg<'_>) -> Result<Rule, DecodeError> {
    Rule::parse(m)
}

/// Operations on policy rules (see the [module docs](self)). Get one from
/// [`crate::Rtnl::rules`].
#[derive(Clone, Debug)]
pub struct Rules {
    conn: Connection,
}

impl Rules {
    /// Rules on `conn` (a `NETLINK_ROUTE` connection).
    pub fn new(conn: Connection) -> Rules {
        Rules { conn }
    }

    /// Add a rule: `ip [-6] rule add ...`.
    ///
    /// # Errors
    /// [`Error::Invalid`] (nothing sent); `EEXIST` for an identical rule;
    /// `EPERM` without `CAP_NET_ADMIN`.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// Once sent the request takes effect even if the future is dropped.
    #[doc(alias = "RTM_NEWRULE")]
    pub async fn add(&self, r: &Rule) -> Result<()> {
        r.validate()?;
        self.conn.ack(&Request::new(rtm::NEWRULE, NLM_F_CREATE | NLM_F_EXCL, |w| r.write(w))).await
    }

    /// Replace the rules of `r`'s family and priority with `r`: `ip rule
    /// del pref N; ip rule add pref N ...`. The kernel has no atomic
    /// replace for rules (it would add a duplicate), so this deletes the
    /// rules of that priority, then adds `r`; a reader may see neither
    /// for a moment.
    ///
    /// # Errors
    /// [`Error::Invalid`] without a priority (nothing sent); as
    /// [`Rules::add`].
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// Not cancel safe: dropped between the two steps, the old rules are
    /// gone and `r` not added.
    #[doc(alias = "RTM_NEWRULE")]
    pub async fn replace(&self, r: &Rule) -> Result<()> {
        r.validate()?;
        let Some(prio) = r.priority else {
            return Err(Error::invalid("priority", "replace needs the priority of the rule to replace"));
        };
        let old: Vec<Rule> = self.list(Some(r.v6)).try_collect().await?;
        for o in old.iter().filter(|o| o.priority == Some(prio)) {
            match self.conn.ack(&Request::new(rtm::DELRULE, 0, |w| o.write(w))).await {
                Err(e) if e.is_not_found() => {}
                other => other?,
            }
        }
        self.add(r).await
    }

    /// Delete the first rule matching every field set in `r`: `ip rule del
    /// ...`.
    ///
    /// # Errors
    /// `ENOENT` ([`Error::is_not_found`]) if none matches.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// Once sent the request takes effect even if the future is dropped.
    #[doc(alias = "RTM_DELRULE")]
    pub async fn delete(&self, r: &Rule) -> Result<()> {
        r.validate()?;
        self.conn.ack(&Request::new(rtm::DELRULE, 0, |w| r.write(w))).await
    }

    /// The rule of family `v6` with priority `priority`: `ip [-6] rule show
    /// pref N` (the first one, if several share it).
    ///
    /// # Errors
    /// [`Error::NotFound`] ([`Error::is_not_found`]) if there is none.
    ///
    /// # Privileges
    /// None: reading needs no privilege.
    ///
    /// # Cancel safety
    /// Cancel safe: nothing changes.
    #[doc(alias = "RTM_GETRULE")]
    pub async fn get(&self, v6: bool, priority: u32) -> Result<Rule> {
        let all: Vec<Rule> = self.list(Some(v6)).try_collect().await?;
        // The kernel omits FRA_PRIORITY for priority 0.
        all.into_iter()
            .find(|r| r.priority.unwrap_or(0) == priority)
            .ok_or_else(|| Error::NotFound { what: format!("rule with priority {priority}") })
    }

    /// Delete every rule `filter` selects except the priority 0 rule, as
    /// `ip [-4|-6] rule flush [table T] [protocol P]` does — which, with no
    /// table, also deletes the default `main` and `default` rules. Returns
    /// how many were deleted.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// Rules deleted before the future is dropped stay deleted.
    #[doc(alias = "RTM_DELRULE")]
    pub async fn flush(&self, filter: &RuleFilter) -> Result<usize> {
        let all: Vec<Rule> = self.list(filter.v6).try_collect().await?;
        let mut n = 0;
        for r in all.iter().filter(|r| filter.selects(r)) {
            match self.conn.ack(&Request::new(rtm::DELRULE, 0, |w| r.write(w))).await {
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
                Ok(()) => n += 1,
            }
        }
        Ok(n)
    }

    /// Follow rule changes of both families (`ip monitor rule`).
    ///
    /// # Privileges
    /// None: reading needs no privilege.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn events(&self) -> Result<Subscription<Change<Rule>>> {
        self.conn
            .subscribe(
                &[groups::IPV4_RULE, groups::IPV6_RULE],
                None,
                rtnl::change_decoder(rtm::NEWRULE, rtm::DELRULE, decode_rule),
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
    pub async fn list_and_follow(&self) -> Result<Snapshot<Rule>> {
        let events = self.events().await?;
        let existing = self.list(None).try_collect().await?;
        Ok(Snapshot { existing, events })
    }

    /// Every rule of both families (`ip rule show; ip -6 rule show`);
    /// `v6: Some(false)` for IPv4 only, `Some(true)` for IPv6 only.
    ///
    /// # Privileges
    /// None: reading needs no privilege.
    ///
    /// # Cancel safety
    /// Dropping the stream abandons the dump.
    #[doc(alias = "RTM_GETRULE")]
    pub fn list(&self, v6: Option<bool>) -> Dump<Rule> {
        let family = match v6 {
            None => AF_UNSPEC,
            Some(false) => AF_INET,
            Some(true) => AF_INET6,
        };
        let req = Request::new(rtm::GETRULE, 0, |w| {
            let mut h = [0u8; FIB_RULE_HDR_LEN];
            h[0] = family;
            w.raw(&h);
        });
        self.conn.dump(&req, |m| {
            if m.header.ty != rtm::NEWRULE {
                return Ok(None);
            }
            match m.payload.first() {
                Some(&AF_INET) | Some(&AF_INET6) => decode_rule(m).map(Some).map_err(Error::Decode),
                _ => Ok(None),
            }
        })
    }
}
