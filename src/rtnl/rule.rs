//! Policy routing rules: add, delete, list — what `ip rule` does.
//!
//! ```no_run
//! # async fn demo(rt: &netplumb::Rtnl) -> netplumb::Result<()> {
//! use netplumb::route::RouteTable;
//! use netplumb::rule::Rule;
//! // ip rule add fwmark 0x10/0xff table 100 priority 1000
//! rt.rules().add(&Rule::v4().fwmark(0x10, 0xff).table(RouteTable(100)).priority(1000)).await?;
//! # Ok(()) }
//! ```

use bitflags::bitflags;
use ipnet::IpNet;

use crate::conn::{Connection, Dump, Request};
use crate::error::{DecodeError, Error, Result};
use crate::rtnl::route::RouteTable;
use crate::rtnl::{header, ip_from, put_ip, rtm, validate_ifname, RawAttr, AF_INET, AF_INET6, AF_UNSPEC};
use crate::wire::{attrs_after, AttrWriter, Msg, NLM_F_CREATE, NLM_F_EXCL};

/// `FRA_*` attribute numbers (`include/uapi/linux/fib_rules.h`).
#[allow(missing_docs)]
pub mod fra {
    pub const DST: u16 = 1;
    pub const SRC: u16 = 2;
    pub const IIFNAME: u16 = 3;
    pub const GOTO: u16 = 4;
    pub const PRIORITY: u16 = 6;
    pub const FWMARK: u16 = 10;
    pub const SUPPRESS_PREFIXLEN: u16 = 14;
    pub const TABLE: u16 = 15;
    pub const FWMASK: u16 = 16;
    pub const OIFNAME: u16 = 17;
    pub const PROTOCOL: u16 = 21;
}

/// Size of `struct fib_rule_hdr`.
pub const FIB_RULE_HDR_LEN: usize = 12;

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

/// A policy routing rule (`ip rule add [not] [from P] [to P] [fwmark
/// M/MASK] [iif L] [oif L] [priority N] lookup TABLE`).
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
    /// Table to look up.
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
    /// `suppress_prefixlength`.
    pub suppress_prefixlen: Option<u32>,
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
            flags: RuleFlags::empty(),
            protocol: None,
            unknown: Vec::new(),
        }
    }
    /// An IPv6 rule that looks up the main table.
    pub fn v6() -> Rule {
        Rule { v6: true, ..Rule::v4() }
    }
    /// Set the priority.
    pub fn priority(mut self, p: u32) -> Self {
        self.priority = Some(p);
        self
    }
    /// Match a firewall mark under `mask`.
    pub fn fwmark(mut self, mark: u32, mask: u32) -> Self {
        self.fwmark = Some(mark);
        self.fwmask = Some(mask);
        self
    }
    /// Look up `t`.
    pub fn table(mut self, t: RouteTable) -> Self {
        self.table = t;
        self
    }
    /// Match a source prefix.
    pub fn from(mut self, p: IpNet) -> Self {
        self.src = Some(p);
        self
    }
    /// Match a destination prefix.
    pub fn to(mut self, p: IpNet) -> Self {
        self.dst = Some(p);
        self
    }
    /// Match an input interface.
    pub fn iif(mut self, name: impl Into<String>) -> Self {
        self.iif = Some(name.into());
        self
    }
    /// Match an output interface.
    pub fn oif(mut self, name: impl Into<String>) -> Self {
        self.oif = Some(name.into());
        self
    }
    /// Set the action.
    pub fn action(mut self, a: RuleAction) -> Self {
        self.action = a;
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
        // The header holds tables below 256 only.
        if self.action == RuleAction::ToTable || t > 255 {
            w.u32(fra::TABLE, t);
        }
        if let Some(g) = self.goto {
            w.u32(fra::GOTO, g);
        }
        if let Some(s) = self.suppress_prefixlen {
            w.u32(fra::SUPPRESS_PREFIXLEN, s);
        }
        if let Some(p) = self.protocol {
            w.u8(fra::PROTOCOL, p);
        }
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
                fra::SUPPRESS_PREFIXLEN => r.suppress_prefixlen = Some(a.u32()?),
                fra::PROTOCOL => r.protocol = Some(a.u8()?),
                _ => r.unknown.push(RawAttr::from(a)),
            }
        }
        Ok(r)
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
