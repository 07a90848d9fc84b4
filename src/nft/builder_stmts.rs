//! [`RuleBuilder`] methods for tproxy, dup, fwd, queue, ipsec (xfrm) and
//! osf, each appending what nft 1.0.6 generates for that syntax.

use std::net::IpAddr;

use super::expr::{Cmp, CmpOp, Dup, Fwd, Immediate, Osf, Queue, Reg, Tproxy, Xfrm, OSF_F_VERSION};
use super::{Family, RuleBuilder, Value};

/// The ipsec field `ipsec in|out ... KEY` matches (see
/// [`RuleBuilder::ipsec`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpsecKey {
    /// `ip daddr` / `ip6 daddr` of the tunnel (by the address given).
    Daddr(IpAddr),
    /// `ip saddr` / `ip6 saddr` of the tunnel.
    Saddr(IpAddr),
    /// `reqid N`.
    Reqid(u32),
    /// `spi N`.
    Spi(u32),
}

/// TTL check of [`RuleBuilder::osf`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OsfTtl {
    /// The packet's TTL must equal the fingerprint's (default).
    Exact,
    /// `ttl loose`: lower TTLs also match.
    Loose,
    /// `ttl skip`: the TTL is not checked.
    Skip,
}

fn nfproto(a: IpAddr) -> u32 {
    if a.is_ipv4() {
        2
    } else {
        10
    }
}

impl RuleBuilder {
    /// Whether `a` fits the rule's table family (`field` names it in the
    /// error when it does not).
    fn addr_fits(&mut self, field: &str, a: IpAddr) -> bool {
        let ok = match self.family() {
            Family::Ip => a.is_ipv4(),
            Family::Ip6 => a.is_ipv6(),
            _ => true,
        };
        if !ok {
            self.fail(field, format!("{a} does not fit a {:?} table", self.family()));
        }
        ok
    }

    /// `tproxy [ip|ip6] to [ADDR][:PORT]`: divert to a local socket (in
    /// a prerouting chain; nft wants a transport protocol match before
    /// it, e.g. `.eq(Field::META_L4PROTO, Value::u8(6))`).
    pub fn tproxy(mut self, addr: Option<IpAddr>, port: Option<u16>) -> Self {
        if addr.is_none() && port.is_none() {
            self.fail("tproxy", "needs an address, a port or both".into());
            return self;
        }
        if let Some(a) = addr {
            if !self.addr_fits("tproxy address", a) {
                return self;
            }
        }
        if !matches!(self.family(), Family::Ip | Family::Ip6 | Family::Inet) {
            self.fail("tproxy", format!("not available in {:?} tables", self.family()));
            return self;
        }
        let family = match (addr, self.family()) {
            (Some(a), _) => nfproto(a),
            (None, Family::Ip) => 2,
            (None, Family::Ip6) => 10,
            _ => 0,
        };
        let mut t = Tproxy { family: Some(family), addr: None, port: None };
        let mut next = 1;
        if let Some(a) = addr {
            self = self.expr(Immediate::value(Reg(next), Value::ip(a).into_vec()));
            t.addr = Some(Reg(next));
            next += 1;
        }
        if let Some(p) = port {
            self = self.expr(Immediate::value(Reg(next), p.to_be_bytes().to_vec()));
            t.port = Some(Reg(next));
        }
        self.expr(t)
    }

    /// `dup to ADDR [device "DEV"]` (ip, ip6) or `dup to "DEV"` (netdev,
    /// `addr` `None`): send a copy of the packet. `ifindex` is the
    /// device's index, as nft resolves the name when it loads the rule.
    pub fn dup(mut self, addr: Option<IpAddr>, ifindex: Option<u32>) -> Self {
        match (addr, self.family()) {
            (Some(a), Family::Ip | Family::Ip6) => {
                if !self.addr_fits("dup address", a) {
                    return self;
                }
            }
            (Some(_), f) => {
                self.fail("dup address", format!("only in ip and ip6 tables, not {f:?}"));
                return self;
            }
            (None, Family::Netdev) if ifindex.is_some() => {}
            (None, _) => {
                self.fail("dup device", "a device alone is only for netdev tables".into());
                return self;
            }
        }
        let mut d = Dup { addr: None, dev: None };
        let mut next = 1;
        if let Some(a) = addr {
            self = self.expr(Immediate::value(Reg(next), Value::ip(a).into_vec()));
            d.addr = Some(Reg(next));
            next += 1;
        }
        if let Some(i) = ifindex {
            self = self.expr(Immediate::value(Reg(next), i.to_ne_bytes().to_vec()));
            d.dev = Some(Reg(next));
        }
        self.expr(d)
    }

    /// `fwd to "DEV"` or `fwd ip|ip6 to ADDR device "DEV"` (netdev ingress
    /// and egress): forward out of the device with index `ifindex`.
    pub fn fwd(mut self, ifindex: u32, addr: Option<IpAddr>) -> Self {
        if self.family() != Family::Netdev {
            self.fail("fwd", format!("only in netdev tables, not {:?}", self.family()));
            return self;
        }
        self = self.expr(Immediate::value(Reg::R1, ifindex.to_ne_bytes().to_vec()));
        let mut f = Fwd { dev: Some(Reg::R1), addr: None, nfproto: None };
        if let Some(a) = addr {
            self = self.expr(Immediate::value(Reg::R2, Value::ip(a).into_vec()));
            f.addr = Some(Reg::R2);
            f.nfproto = Some(nfproto(a));
        }
        self.expr(f)
    }

    /// `queue [flags bypass,fanout] to FIRST[-LAST]`: hand the packet to
    /// the nfqueue program listening on queues `first..=last` (`flags`:
    /// [`crate::nft::expr::QUEUE_FLAG_BYPASS`], ...). The kernel needs
    /// the nft_queue module.
    pub fn queue(mut self, first: u16, last: u16, flags: u16) -> Self {
        if last < first {
            self.fail("queue", format!("range {first}-{last} ends before it starts"));
            return self;
        }
        if flags & crate::nft::expr::QUEUE_FLAG_CPU_FANOUT != 0 && first == last {
            self.fail("queue", "fanout needs a range of queues".into());
            return self;
        }
        self.expr(Queue::new(first, last, flags))
    }

    /// `ipsec in|out [spnum N] KEY VALUE`: match the IPsec state the
    /// packet was (`out == false`: input) or will be processed by.
    pub fn ipsec(mut self, out: bool, spnum: u32, key: IpsecKey) -> Self {
        if spnum > 255 {
            self.fail("ipsec spnum", format!("{spnum} is above 255"));
            return self;
        }
        let (k, data) = match key {
            IpsecKey::Daddr(a) => (if a.is_ipv4() { 1 } else { 2 }, Value::ip(a).into_vec()),
            IpsecKey::Saddr(a) => (if a.is_ipv4() { 3 } else { 4 }, Value::ip(a).into_vec()),
            IpsecKey::Reqid(r) => (5, r.to_ne_bytes().to_vec()),
            IpsecKey::Spi(s) => (6, s.to_be_bytes().to_vec()),
        };
        if let IpsecKey::Daddr(a) | IpsecKey::Saddr(a) = key {
            if !self.addr_fits("ipsec address", a) {
                return self;
            }
        }
        self = self.expr(Xfrm { dreg: Reg::R1, key: k, dir: u8::from(out), spnum: Some(spnum) });
        self.expr(Cmp::new(Reg::R1, CmpOp::Eq, data))
    }

    /// `osf [ttl loose|skip] name "NAME"` (or `version "NAME:VERSION"`
    /// when `version`): match the operating system fingerprinted from a
    /// TCP SYN (the kernel needs fingerprints loaded through nfnetlink_osf
    /// to ever match).
    pub fn osf(mut self, ttl: OsfTtl, version: bool, name: &str) -> Self {
        if name.is_empty() || name.len() > 15 || name.contains('\0') {
            self.fail("osf name", format!("{name:?} must be 1 to 15 bytes without NUL"));
            return self;
        }
        // The kernel fingerprints IPv4 only: ip and inet tables.
        if !matches!(self.family(), Family::Ip | Family::Inet) {
            self.fail("osf", format!("only in ip and inet tables, not {:?}", self.family()));
            return self;
        }
        let ttl = match ttl {
            OsfTtl::Exact => 0,
            OsfTtl::Loose => 1,
            OsfTtl::Skip => 2,
        };
        let mut v = name.as_bytes().to_vec();
        v.resize(16, 0);
        self =
            self.expr(Osf { dreg: Reg::R1, ttl: Some(ttl), flags: if version { OSF_F_VERSION } else { 0 } });
        self.expr(Cmp::new(Reg::R1, CmpOp::Eq, v))
    }
}
