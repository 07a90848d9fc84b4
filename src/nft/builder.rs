//! A rule builder above registers: say what to match and do, get the
//! expressions `nft` would generate for it.

use std::net::IpAddr;
use std::time::Duration;

use super::expr::*;
use super::set::{AnonSet, Element, Set, SetFlags};
use super::types::{DataType, Family, KeyType};
use super::value::Value;
use super::Rule;
use crate::error::{Error, Result};

bitflags::bitflags! {
    /// Conntrack states for [`RuleBuilder::ct_state`].
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct CtState: u32 {
        /// `invalid`.
        const INVALID = 1;
        /// `established`.
        const ESTABLISHED = 2;
        /// `related`.
        const RELATED = 4;
        /// `new`.
        const NEW = 8;
        /// `untracked`.
        const UNTRACKED = 64;
    }
}

bitflags::bitflags! {
    /// Conntrack status bits for [`RuleBuilder::ct_status`].
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct CtStatus: u32 {
        /// `expected`.
        const EXPECTED = 1;
        /// `seen-reply`.
        const SEEN_REPLY = 2;
        /// `assured`.
        const ASSURED = 4;
        /// `confirmed`.
        const CONFIRMED = 8;
        /// `snat`.
        const SNAT = 0x10;
        /// `dnat`.
        const DNAT = 0x20;
        /// `dying`.
        const DYING = 0x200;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Source {
    Payload(PayloadBase, u32),
    Meta(MetaKey),
    Ct(CtKey, Option<CtDir>),
}

/// What a match or a key reads: a header field, a meta key or a
/// conntrack key, with its type and size. `Field::IP_DADDR`,
/// `Field::TCP_DPORT`, `Field::META_MARK`, `Field::CT_STATE`...
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Field {
    src: Source,
    /// Its data type.
    pub ty: DataType,
    /// Its size in bytes.
    pub len: u32,
    /// The protocol match nft puts before it: network (2 ipv4, 10 ipv6)
    /// or transport (an IP protocol number + 256).
    dep: Option<u16>,
    /// nft's protocol description and field numbers, for `typeof` records
    /// (0: none).
    typeof_: (u32, u32),
}

const V4: Option<u16> = Some(2);
const V6: Option<u16> = Some(10);
const fn l4(p: u8) -> Option<u16> {
    Some(256 + p as u16)
}

macro_rules! payload_fields {
    ($($name:ident = $base:ident, $off:literal, $len:literal, $ty:ident, $dep:expr, $td:expr, $doc:literal;)*) => {
        impl Field {
            $(
                #[doc = concat!("`", $doc, "`")]
                pub const $name: Field =
                    Field { src: Source::Payload(PayloadBase::$base, $off), ty: DataType::$ty, len: $len, dep: $dep, typeof_: $td };
            )*
        }

        /// nft's name of the payload field with this `typeof` record
        /// (protocol description, field number).
        pub(crate) fn payload_typeof_name(desc: u32, idx: u32) -> Option<&'static str> {
            [$(($td, $doc)),*]
                .into_iter()
                .find(|(t, _): &((u32, u32), &str)| *t != (0, 0) && *t == (desc, idx))
                .map(|(_, n)| n)
        }
    };
}

payload_fields! {
    ETHER_DADDR = LinkLayer, 0, 6, ETHER_ADDR, None, (0, 0), "ether daddr";
    ETHER_SADDR = LinkLayer, 6, 6, ETHER_ADDR, None, (0, 0), "ether saddr";
    ETHER_TYPE = LinkLayer, 12, 2, ETHER_TYPE, None, (0, 0), "ether type";
    IP_PROTOCOL = Network, 9, 1, INET_PROTO, V4, (12, 9), "ip protocol";
    IP_TTL = Network, 8, 1, INTEGER, V4, (12, 8), "ip ttl";
    IP_SADDR = Network, 12, 4, IPV4_ADDR, V4, (12, 11), "ip saddr";
    IP_DADDR = Network, 16, 4, IPV4_ADDR, V4, (12, 12), "ip daddr";
    IP6_NEXTHDR = Network, 6, 1, INET_PROTO, V6, (13, 6), "ip6 nexthdr";
    IP6_HOPLIMIT = Network, 7, 1, INTEGER, V6, (13, 7), "ip6 hoplimit";
    IP6_SADDR = Network, 8, 16, IPV6_ADDR, V6, (13, 8), "ip6 saddr";
    IP6_DADDR = Network, 24, 16, IPV6_ADDR, V6, (13, 9), "ip6 daddr";
    TCP_SPORT = Transport, 0, 2, INET_SERVICE, l4(6), (8, 1), "tcp sport";
    TCP_DPORT = Transport, 2, 2, INET_SERVICE, l4(6), (8, 2), "tcp dport";
    TCP_FLAGS = Transport, 13, 1, TCP_FLAG, l4(6), (8, 7), "tcp flags";
    UDP_SPORT = Transport, 0, 2, INET_SERVICE, l4(17), (6, 1), "udp sport";
    UDP_DPORT = Transport, 2, 2, INET_SERVICE, l4(17), (6, 2), "udp dport";
    TH_SPORT = Transport, 0, 2, INET_SERVICE, None, (11, 1), "th sport";
    TH_DPORT = Transport, 2, 2, INET_SERVICE, None, (11, 2), "th dport";
    ICMP_TYPE = Transport, 0, 1, ICMP_TYPE, l4(1), (4, 1), "icmp type";
    ICMPV6_TYPE = Transport, 0, 1, ICMP6_TYPE, l4(58), (14, 1), "icmpv6 type";
}

impl Field {
    /// `meta mark`.
    pub const META_MARK: Field = Field::meta(MetaKey::Mark, DataType::MARK, 4);
    /// `meta l4proto`.
    pub const META_L4PROTO: Field = Field::meta(MetaKey::L4Proto, DataType::INET_PROTO, 1);
    /// `meta nfproto`.
    pub const META_NFPROTO: Field = Field::meta(MetaKey::NfProto, DataType::NFPROTO, 1);
    /// `meta protocol`.
    pub const META_PROTOCOL: Field = Field::meta(MetaKey::Protocol, DataType::ETHER_TYPE, 2);
    /// `iifname`.
    pub const IIFNAME: Field = Field::meta(MetaKey::IifName, DataType::IFNAME, 16);
    /// `oifname`.
    pub const OIFNAME: Field = Field::meta(MetaKey::OifName, DataType::IFNAME, 16);
    /// `meta pkttype`.
    pub const META_PKTTYPE: Field = Field::meta(MetaKey::PktType, DataType::PKTTYPE, 1);
    /// `ct state`.
    pub const CT_STATE: Field = Field::ct(CtKey::State, None, DataType::CT_STATE, 4);
    /// `ct status`.
    pub const CT_STATUS: Field = Field::ct(CtKey::Status, None, DataType::CT_STATUS, 4);
    /// `ct mark`.
    pub const CT_MARK: Field = Field::ct(CtKey::Mark, None, DataType::MARK, 4);
    /// `ct direction`.
    pub const CT_DIRECTION: Field = Field::ct(CtKey::Direction, None, DataType::CT_DIR, 1);
    /// `ct original ip saddr`.
    pub const CT_ORIGINAL_IP_SADDR: Field =
        Field::ct(CtKey::SrcIp, Some(CtDir::Original), DataType::IPV4_ADDR, 4);
    /// `ct original ip daddr`.
    pub const CT_ORIGINAL_IP_DADDR: Field =
        Field::ct(CtKey::DstIp, Some(CtDir::Original), DataType::IPV4_ADDR, 4);
    /// `ct reply ip saddr`.
    pub const CT_REPLY_IP_SADDR: Field = Field::ct(CtKey::SrcIp, Some(CtDir::Reply), DataType::IPV4_ADDR, 4);
    /// `ct original proto-dst`.
    pub const CT_ORIGINAL_PROTO_DST: Field =
        Field::ct(CtKey::ProtoDst, Some(CtDir::Original), DataType::INET_SERVICE, 2);
    /// `ct reply proto-src`.
    pub const CT_REPLY_PROTO_SRC: Field =
        Field::ct(CtKey::ProtoSrc, Some(CtDir::Reply), DataType::INET_SERVICE, 2);

    /// Any meta key, with its type and size.
    pub const fn meta(key: MetaKey, ty: DataType, len: u32) -> Field {
        Field { src: Source::Meta(key), ty, len, dep: None, typeof_: (0, 0) }
    }

    /// Any conntrack key (optionally in one direction), with its type and
    /// size.
    pub const fn ct(key: CtKey, dir: Option<CtDir>, ty: DataType, len: u32) -> Field {
        Field { src: Source::Ct(key, dir), ty, len, dep: None, typeof_: (0, 0) }
    }

    /// nft's `typeof` userdata record for this field as a set key.
    pub(crate) fn typeof_record(&self) -> Option<Vec<u8>> {
        let (desc, idx) = self.typeof_;
        if desc == 0 {
            return None;
        }
        let mut inner = Vec::new();
        super::types::udata_put(&mut inner, 0, &desc.to_ne_bytes());
        super::types::udata_put(&mut inner, 1, &idx.to_ne_bytes());
        let mut rec = Vec::new();
        // 7: nft's expression type for a payload.
        super::types::udata_put(&mut rec, 0, &7u32.to_ne_bytes());
        super::types::udata_put(&mut rec, 1, &inner);
        Some(rec)
    }

    fn load(&self, dreg: Reg, len: u32) -> Expr {
        match self.src {
            Source::Payload(base, off) => Payload::load(base, off, len, dreg).into(),
            Source::Meta(k) => Meta::load(k, dreg).into(),
            Source::Ct(k, dir) => Ct { key: k, dir, dreg: Some(dreg), sreg: None }.into(),
        }
    }
}

/// Builds a [`Rule`] from what it means; each method appends what `nft`
/// generates for that piece of syntax, so rules built here list the way
/// they were meant (`nft list` prints them back in the same words).
///
/// ```
/// use netplumb::nft::{Family, Field, RuleBuilder, Value};
/// let rule = RuleBuilder::new(Family::Ip, "kube-proxy", "endpoint-a")
///     .eq(Field::IP_SADDR, Value::ipv4("10.0.0.5".parse().unwrap()))
///     .mark_or(0x4000)
///     .dnat(Some("10.0.0.5".parse().unwrap()), Some(8080))
///     .build()
///     .unwrap();
/// assert!(!rule.exprs.is_empty());
/// ```
#[derive(Debug)]
pub struct RuleBuilder {
    family: Family,
    table: String,
    chain: String,
    exprs: Vec<Expr>,
    anon: Vec<AnonSet>,
    comment: Option<String>,
    deps: Vec<u16>,
    error: Option<Error>,
}

impl RuleBuilder {
    /// A rule for `table`/`chain` in `family`.
    pub fn new(family: Family, table: impl Into<String>, chain: impl Into<String>) -> RuleBuilder {
        RuleBuilder {
            family,
            table: table.into(),
            chain: chain.into(),
            exprs: Vec::new(),
            anon: Vec::new(),
            comment: None,
            deps: Vec::new(),
            error: None,
        }
    }

    /// The table family this rule is for.
    pub(super) fn family(&self) -> Family {
        self.family
    }

    pub(super) fn fail(&mut self, field: &str, reason: String) {
        if self.error.is_none() {
            self.error = Some(Error::invalid(field, reason));
        }
    }

    /// Append an expression as is.
    pub fn expr(mut self, e: impl Into<Expr>) -> Self {
        self.exprs.push(e.into());
        self
    }

    /// The protocol match nft inserts before a field of another layer.
    fn dep(&mut self, f: &Field) {
        // In netdev tables nft checks the device is Ethernet before reading
        // Ethernet headers (`meta iiftype ether`).
        if self.family == Family::Netdev
            && matches!(f.src, Source::Payload(PayloadBase::LinkLayer, _))
            && !self.deps.contains(&1)
        {
            self.deps.push(1);
            self.exprs.push(Meta::load(MetaKey::IifType, Reg::R1).into());
            self.exprs.push(Cmp::new(Reg::R1, CmpOp::Eq, 1u16.to_ne_bytes().to_vec()).into());
        }
        let Some(d) = f.dep else { return };
        if self.deps.contains(&d) {
            return;
        }
        if d >= 256 {
            self.deps.push(d);
            self.exprs.push(Meta::load(MetaKey::L4Proto, Reg::R1).into());
            self.exprs.push(Cmp::new(Reg::R1, CmpOp::Eq, vec![(d - 256) as u8]).into());
            return;
        }
        let v4 = d == 2;
        match self.family {
            Family::Inet => {
                self.deps.push(d);
                self.exprs.push(Meta::load(MetaKey::NfProto, Reg::R1).into());
                self.exprs.push(Cmp::new(Reg::R1, CmpOp::Eq, vec![d as u8]).into());
            }
            Family::Bridge => {
                self.deps.push(d);
                self.exprs.push(Payload::load(PayloadBase::LinkLayer, 12, 2, Reg::R1).into());
                let et: u16 = if v4 { 0x0800 } else { 0x86dd };
                self.exprs.push(Cmp::new(Reg::R1, CmpOp::Eq, et.to_be_bytes().to_vec()).into());
            }
            Family::Netdev => {
                self.deps.push(d);
                self.exprs.push(Meta::load(MetaKey::Protocol, Reg::R1).into());
                let et: u16 = if v4 { 0x0800 } else { 0x86dd };
                self.exprs.push(Cmp::new(Reg::R1, CmpOp::Eq, et.to_be_bytes().to_vec()).into());
            }
            _ => {}
        }
    }

    fn check_len(&mut self, f: &Field, v: &[u8]) -> bool {
        // Interface names may be shorter (a prefix match `"eth*"`).
        let ok = v.len() == f.len as usize || (f.ty == DataType::IFNAME && !v.is_empty() && v.len() <= 16);
        if !ok {
            self.fail("value", format!("{} bytes for a {}-byte {:?}", v.len(), f.len, f.ty.name()));
        }
        ok
    }

    /// `FIELD OP VALUE` (`tcp dport != 22`, `meta mark 0x4000`).
    pub fn cmp(mut self, f: Field, op: CmpOp, v: impl Into<Value>) -> Self {
        let v = v.into().into_vec();
        if !self.check_len(&f, &v) {
            return self;
        }
        self.dep(&f);
        // An explicit protocol match satisfies later dependencies on it.
        if op == CmpOp::Eq && v.len() == 1 {
            if f == Field::META_L4PROTO || f == Field::IP_PROTOCOL || f == Field::IP6_NEXTHDR {
                self.deps.push(256 + v[0] as u16);
            } else if f == Field::META_NFPROTO {
                self.deps.push(v[0] as u16);
            }
        }
        self.exprs.push(f.load(Reg::R1, f.len));
        self.exprs.push(Cmp::new(Reg::R1, op, v).into());
        self
    }

    /// `FIELD VALUE`.
    pub fn eq(self, f: Field, v: impl Into<Value>) -> Self {
        self.cmp(f, CmpOp::Eq, v)
    }

    /// `FIELD != VALUE`.
    pub fn ne(self, f: Field, v: impl Into<Value>) -> Self {
        self.cmp(f, CmpOp::Ne, v)
    }

    /// `iifname "NAME"` (or `oifname` with [`Field::OIFNAME`]); a name
    /// ending in `*` matches a prefix.
    pub fn ifname(mut self, f: Field, name: &str) -> Self {
        let v = match name.strip_suffix('*') {
            Some(p) => p.as_bytes().to_vec(),
            None => match Value::ifname(name) {
                Ok(v) => v.into_vec(),
                Err(e) => {
                    self.error.get_or_insert(e);
                    return self;
                }
            },
        };
        self.dep(&f);
        self.exprs.push(f.load(Reg::R1, f.len));
        self.exprs.push(Cmp::new(Reg::R1, CmpOp::Eq, v).into());
        self
    }

    /// `FIELD [!=] NET/LEN` for an address field, encoded as nft does (a
    /// shorter load for whole bytes, a mask for the rest).
    pub fn prefix(mut self, f: Field, net: ipnet::IpNet, negate: bool) -> Self {
        let net = net.trunc();
        let bits = net.prefix_len() as u32;
        let addr = Value::ip(net.network()).into_vec();
        if addr.len() != f.len as usize {
            self.fail("prefix", format!("{net} does not fit a {}-byte field", f.len));
            return self;
        }
        self.dep(&f);
        let op = if negate { CmpOp::Ne } else { CmpOp::Eq };
        if bits == 0 {
            return self;
        }
        if bits % 8 == 0 {
            // Whole bytes: a shorter load, as nft does.
            let bytes = bits / 8;
            self.exprs.push(f.load(Reg::R1, bytes));
            self.exprs.push(Cmp::new(Reg::R1, op, addr[..bytes as usize].to_vec()).into());
            return self;
        }
        let mut mask = vec![0u8; addr.len()];
        for (i, m) in mask.iter_mut().enumerate() {
            let b = (bits as usize).saturating_sub(i * 8).min(8);
            *m = if b == 0 { 0 } else { 0xff << (8 - b) };
        }
        let xor = vec![0u8; addr.len()];
        self.exprs.push(f.load(Reg::R1, f.len));
        self.exprs.push(Bitwise::mask_xor(Reg::R1, Reg::R1, mask, xor).into());
        self.exprs.push(Cmp::new(Reg::R1, op, addr).into());
        self
    }

    /// `FIELD [!=] LO-HI`.
    pub fn range(mut self, f: Field, lo: impl Into<Value>, hi: impl Into<Value>, negate: bool) -> Self {
        let (lo, hi) = (lo.into().into_vec(), hi.into().into_vec());
        if !self.check_len(&f, &lo) || !self.check_len(&f, &hi) {
            return self;
        }
        self.dep(&f);
        self.exprs.push(f.load(Reg::R1, f.len));
        if negate {
            self.exprs.push(Range { sreg: Reg::R1, negate, from: lo, to: hi }.into());
        } else {
            // nft 1.0.6 writes an inclusive range as two comparisons.
            self.exprs.push(Cmp::new(Reg::R1, CmpOp::Ge, lo).into());
            self.exprs.push(Cmp::new(Reg::R1, CmpOp::Le, hi).into());
        }
        self
    }

    /// Load `fields` into consecutive registers as nft does for a
    /// concatenation; returns the first register.
    fn load_concat(&mut self, fields: &[Field]) -> Reg {
        for f in fields {
            self.dep(f);
        }
        let mut slot = 0;
        for f in fields {
            let r = Reg::from_slot(slot);
            self.exprs.push(f.load(r, f.len));
            slot += f.len.div_ceil(4);
        }
        Reg::R1
    }

    /// `FIELD . FIELD ... @SET`: the key is in the named set.
    pub fn in_set(mut self, fields: &[Field], set: &str) -> Self {
        let r = self.load_concat(fields);
        self.exprs.push(Lookup::set(r, set).into());
        self
    }

    /// `FIELD . FIELD ... != @SET`.
    pub fn not_in_set(mut self, fields: &[Field], set: &str) -> Self {
        let r = self.load_concat(fields);
        let mut l = Lookup::set(r, set);
        l.invert = true;
        self.exprs.push(l.into());
        self
    }

    fn anon(&mut self, set: Set, elements: Vec<Element>) -> u32 {
        self.anon.push(AnonSet { set, elements });
        (self.anon.len() - 1) as u32
    }

    fn anon_set(&self, name: &str, key: KeyType, data: Option<KeyType>, interval: bool) -> Set {
        let mut s = match data {
            Some(d) => Set::map(self.family, self.table.clone(), name, key, d),
            None => Set::new(self.family, self.table.clone(), name, key),
        };
        s.flags |= SetFlags::ANONYMOUS | SetFlags::CONSTANT;
        if interval {
            s.flags |= SetFlags::INTERVAL;
        }
        s
    }

    fn key_type(fields: &[Field]) -> KeyType {
        KeyType { fields: fields.iter().map(|f| f.ty).collect() }
    }

    /// `FIELD { a, b, c }`: the key is one of `values` (an anonymous set).
    pub fn in_values(mut self, fields: &[Field], values: &[Value]) -> Self {
        let kt = Self::key_type(fields);
        let mut set = self.anon_set("__set%d", kt, None, false);
        if let [f] = fields {
            set.key_typeof = f.typeof_record();
        }
        let elems = values.iter().map(|v| Element::new(v.clone())).collect();
        let id = self.anon(set, elems);
        let r = self.load_concat(fields);
        let mut l = Lookup::set(r, "__set%d");
        l.set_id = Some(id);
        self.exprs.push(l.into());
        self
    }

    /// `FIELD . FIELD ... vmap @MAP`: jump/goto/accept... as the verdict
    /// map says.
    pub fn vmap(mut self, fields: &[Field], map: &str) -> Self {
        let r = self.load_concat(fields);
        self.exprs.push(Lookup::map(r, map, Reg::VERDICT).into());
        self
    }

    /// `FIELD vmap { KEY : VERDICT, ... }` (an anonymous verdict map).
    pub fn vmap_values(mut self, fields: &[Field], entries: &[(Value, Verdict)]) -> Self {
        let kt = Self::key_type(fields);
        let set = self.anon_set("__map%d", kt, Some(KeyType::single(DataType::VERDICT)), false);
        let elems = entries.iter().map(|(k, v)| Element::new(k.clone()).verdict(v.clone())).collect();
        let id = self.anon(set, elems);
        let r = self.load_concat(fields);
        let mut l = Lookup::map(r, "__map%d", Reg::VERDICT);
        l.set_id = Some(id);
        self.exprs.push(l.into());
        self
    }

    /// `numgen random|inc mod N vmap { 0 : V0, 1 : V1, ... }`: spread
    /// connections over `verdicts` (the kube-proxy endpoint choice). Each
    /// such rule owns an anonymous map; see [`RuleBuilder::numgen_vmap_named`]
    /// for the same choice through a named map, and
    /// [`RuleBuilder::numgen_eq`] for a set-free alternative.
    ///
    /// A transaction that creates many anonymous sets is slow in the
    /// kernel: binding each one walks the whole transaction
    /// (`__nft_set_trans_bind`), so one transaction of 10,000 such rules
    /// among 340,000 operations takes minutes; named maps do not pay this.
    pub fn numgen_vmap(mut self, kind: NumgenType, verdicts: &[Verdict]) -> Self {
        let n = verdicts.len() as u32;
        if n == 0 {
            self.fail("numgen_vmap", "no verdicts".into());
            return self;
        }
        self.exprs.push(Numgen { dreg: Reg::R1, kind, modulus: n, offset: 0 }.into());
        let set = self.anon_set(
            "__map%d",
            KeyType::single(DataType::INTEGER),
            Some(KeyType::single(DataType::VERDICT)),
            false,
        );
        let elems = verdicts
            .iter()
            .enumerate()
            .map(|(i, v)| Element::new(Value::u32(i as u32)).verdict(v.clone()))
            .collect();
        let id = self.anon(set, elems);
        let mut l = Lookup::map(Reg::R1, "__map%d", Reg::VERDICT);
        l.set_id = Some(id);
        self.exprs.push(l.into());
        self
    }

    /// `numgen random|inc mod MODULUS vmap @MAP`: the endpoint choice of
    /// [`RuleBuilder::numgen_vmap`] through a named verdict map (make it with
    /// [`Set::numgen_vmap`]), whose elements `0 .. MODULUS - 1` can then be
    /// rewritten without replacing the rule.
    pub fn numgen_vmap_named(mut self, kind: NumgenType, modulus: u32, map: &str) -> Self {
        if modulus == 0 {
            self.fail("numgen modulus", "must be at least 1".into());
            return self;
        }
        self.exprs.push(Numgen { dreg: Reg::R1, kind, modulus, offset: 0 }.into());
        self.exprs.push(Lookup::map(Reg::R1, map, Reg::VERDICT).into());
        self
    }

    /// `numgen random|inc mod N [offset O] == VALUE`.
    ///
    /// With one rule per endpoint (`numgen random mod (N - i) == 0 goto
    /// endpoint-i`, then a plain `goto` for the last) this spreads
    /// connections evenly without an anonymous map, like iptables'
    /// `statistic` mode. In a table holding many anonymous maps it is much
    /// cheaper to add: the kernel finds sets by walking a list, so each new
    /// map costs a few milliseconds at 10,000 maps, a rule ~0.1 ms.
    pub fn numgen_eq(mut self, kind: NumgenType, modulus: u32, offset: u32, value: u32) -> Self {
        if modulus == 0 {
            self.fail("numgen modulus", "must be at least 1".into());
            return self;
        }
        self.exprs.push(Numgen { dreg: Reg::R1, kind, modulus, offset }.into());
        self.exprs.push(Cmp::new(Reg::R1, CmpOp::Eq, value.to_ne_bytes().to_vec()).into());
        self
    }

    fn flags_match(mut self, f: Field, bits: u32) -> Self {
        self.exprs.push(f.load(Reg::R1, 4));
        self.exprs.push(Bitwise::mask_xor(Reg::R1, Reg::R1, bits.to_ne_bytes().to_vec(), vec![0; 4]).into());
        self.exprs.push(Cmp::new(Reg::R1, CmpOp::Ne, vec![0; 4]).into());
        self
    }

    /// `ct state established,related`.
    pub fn ct_state(self, s: CtState) -> Self {
        self.flags_match(Field::CT_STATE, s.bits())
    }

    /// `ct status dnat,...`.
    pub fn ct_status(self, s: CtStatus) -> Self {
        self.flags_match(Field::CT_STATUS, s.bits())
    }

    /// `meta mark & MASK == VALUE` (or `!=` with `negate`).
    pub fn mark_masked(mut self, mask: u32, value: u32, negate: bool) -> Self {
        self.exprs.push(Meta::load(MetaKey::Mark, Reg::R1).into());
        let mut b = Bitwise::mask_xor(Reg::R1, Reg::R1, mask.to_ne_bytes().to_vec(), vec![0; 4]);
        b.explicit_op = true;
        self.exprs.push(b.into());
        let op = if negate { CmpOp::Ne } else { CmpOp::Eq };
        self.exprs.push(Cmp::new(Reg::R1, op, value.to_ne_bytes().to_vec()).into());
        self
    }

    /// `meta mark set VALUE`.
    pub fn mark_set(mut self, v: u32) -> Self {
        self.exprs.push(Immediate::value(Reg::R1, v.to_ne_bytes().to_vec()).into());
        self.exprs.push(Meta::set(MetaKey::Mark, Reg::R1).into());
        self
    }

    fn mark_op(mut self, mask: u32, xor: u32) -> Self {
        self.exprs.push(Meta::load(MetaKey::Mark, Reg::R1).into());
        let mut b =
            Bitwise::mask_xor(Reg::R1, Reg::R1, mask.to_ne_bytes().to_vec(), xor.to_ne_bytes().to_vec());
        b.explicit_op = true;
        self.exprs.push(b.into());
        self.exprs.push(Meta::set(MetaKey::Mark, Reg::R1).into());
        self
    }

    /// `meta mark set meta mark | BITS`.
    pub fn mark_or(self, bits: u32) -> Self {
        self.mark_op(!bits, bits)
    }

    /// `meta mark set meta mark ^ BITS`.
    pub fn mark_xor(self, bits: u32) -> Self {
        self.mark_op(u32::MAX, bits)
    }

    /// `meta mark set meta mark & MASK`.
    pub fn mark_and(self, mask: u32) -> Self {
        self.mark_op(mask, 0)
    }

    /// `ct mark set VALUE`.
    pub fn ct_mark_set(mut self, v: u32) -> Self {
        self.exprs.push(Immediate::value(Reg::R1, v.to_ne_bytes().to_vec()).into());
        self.exprs.push(Ct::set(CtKey::Mark, Reg::R1).into());
        self
    }

    /// `ct mark set meta mark`.
    pub fn ct_mark_from_mark(mut self) -> Self {
        self.exprs.push(Meta::load(MetaKey::Mark, Reg::R1).into());
        self.exprs.push(Ct::set(CtKey::Mark, Reg::R1).into());
        self
    }

    /// `update @SET { FIELD . ... [timeout T] }` (kube-proxy session
    /// affinity); `add` with `add = true`.
    pub fn update_set(mut self, set: &str, fields: &[Field], timeout: Option<Duration>, add: bool) -> Self {
        let r = self.load_concat(fields);
        self.exprs.push(
            Dynset {
                set: set.to_string(),
                set_id: None,
                op: if add { DynsetOp::Add } else { DynsetOp::Update },
                sreg_key: r,
                sreg_data: None,
                timeout_ms: timeout.map(|t| t.as_millis() as u64),
                exprs: Vec::new(),
                invert: false,
            }
            .into(),
        );
        self
    }

    /// `counter`.
    pub fn counter(self) -> Self {
        self.expr(Counter::default())
    }

    /// `counter name "NAME"` (a named counter object).
    pub fn counter_named(self, name: &str) -> Self {
        self.expr(Objref::Named { kind: 1, name: name.into() })
    }

    /// `log [prefix "PREFIX"]`.
    pub fn log(self, prefix: Option<&str>) -> Self {
        self.expr(Log { prefix: prefix.map(str::to_string), ..Default::default() })
    }

    /// `limit rate [over] RATE/UNIT [burst B packets]` (burst 5 is nft's
    /// default).
    pub fn limit(self, rate: u64, unit: LimitUnit, burst: u32, over: bool) -> Self {
        self.expr(Limit { rate, unit, burst, kind: LimitType::Packets, over })
    }

    /// `quota [over] BYTES`.
    pub fn quota(self, bytes: u64, over: bool) -> Self {
        self.expr(Quota { bytes, consumed: 0, over })
    }

    /// `notrack`.
    pub fn notrack(self) -> Self {
        self.expr(Notrack)
    }

    fn nat(
        mut self,
        kind: NatType,
        addr: Option<(IpAddr, IpAddr)>,
        port: Option<(u16, u16)>,
        flags: NatFlags,
    ) -> Self {
        let mut f = flags;
        let mut n = Nat {
            kind,
            family: 2,
            addr_min: None,
            addr_max: None,
            proto_min: None,
            proto_max: None,
            flags: None,
        };
        let mut next = 1;
        if let Some((lo, hi)) = addr {
            n.family = if lo.is_ipv4() { 2 } else { 10 };
            let (lo, hi) = (Value::ip(lo).into_vec(), Value::ip(hi).into_vec());
            let r1 = Reg(next);
            self.exprs.push(Immediate::value(r1, lo.clone()).into());
            n.addr_min = Some(r1);
            next += 1;
            if lo != hi {
                let r2 = Reg(next);
                self.exprs.push(Immediate::value(r2, hi).into());
                n.addr_max = Some(r2);
                next += 1;
            }
        } else if self.family == Family::Ip6 {
            n.family = 10;
        }
        if let Some((lo, hi)) = port {
            let r1 = Reg(next);
            self.exprs.push(Immediate::value(r1, lo.to_be_bytes().to_vec()).into());
            n.proto_min = Some(r1);
            next += 1;
            if lo != hi {
                let r2 = Reg(next);
                self.exprs.push(Immediate::value(r2, hi.to_be_bytes().to_vec()).into());
                n.proto_max = Some(r2);
            }
            f |= NatFlags::PROTO_SPECIFIED;
        }
        if addr.is_none() && self.family == Family::Ip6 {
            n.family = 10;
        }
        n.flags = (!f.is_empty()).then_some(f);
        self.exprs.push(n.into());
        self
    }

    /// `dnat to ADDR[:PORT]` (in an inet table, `dnat ip to ...`).
    pub fn dnat(self, addr: Option<IpAddr>, port: Option<u16>) -> Self {
        self.nat(NatType::Dnat, addr.map(|a| (a, a)), port.map(|p| (p, p)), NatFlags::empty())
    }

    /// `snat to ADDR[:PORT]`.
    pub fn snat(self, addr: Option<IpAddr>, port: Option<u16>) -> Self {
        self.nat(NatType::Snat, addr.map(|a| (a, a)), port.map(|p| (p, p)), NatFlags::empty())
    }

    /// `snat|dnat to A-B:P-Q FLAGS` with ranges and `persistent`,
    /// `random`, `fully-random`.
    pub fn nat_range(
        self,
        kind: NatType,
        addr: Option<(IpAddr, IpAddr)>,
        port: Option<(u16, u16)>,
        flags: NatFlags,
    ) -> Self {
        self.nat(kind, addr, port, flags)
    }

    /// `masquerade [random|fully-random|persistent]`.
    pub fn masquerade(self, flags: NatFlags) -> Self {
        self.expr(Masq { flags: (!flags.is_empty()).then_some(flags), proto_min: None, proto_max: None })
    }

    /// `redirect to :PORT`.
    pub fn redirect(mut self, port: u16) -> Self {
        self.exprs.push(Immediate::value(Reg::R1, port.to_be_bytes().to_vec()).into());
        self.exprs.push(
            Redir { proto_min: Some(Reg::R1), proto_max: None, flags: Some(NatFlags::PROTO_SPECIFIED) }
                .into(),
        );
        self
    }

    /// A verdict: `accept`, `drop`, `jump C`, `goto C`, `return`, `continue`.
    pub fn verdict(self, v: Verdict) -> Self {
        self.expr(Immediate::verdict(v))
    }

    /// `accept`.
    pub fn accept(self) -> Self {
        self.verdict(Verdict::Accept)
    }

    /// `drop`.
    pub fn drop(self) -> Self {
        self.verdict(Verdict::Drop)
    }

    /// `return`.
    pub fn ret(self) -> Self {
        self.verdict(Verdict::Return)
    }

    /// `jump CHAIN`.
    pub fn jump(self, chain: &str) -> Self {
        self.verdict(Verdict::Jump(chain.into()))
    }

    /// `goto CHAIN`.
    pub fn goto(self, chain: &str) -> Self {
        self.verdict(Verdict::Goto(chain.into()))
    }

    /// `reject` (ICMP port unreachable; icmpx in inet/bridge/netdev).
    pub fn reject(self) -> Self {
        let kind = match self.family {
            Family::Ip | Family::Ip6 => RejectType::IcmpUnreach,
            _ => RejectType::IcmpxUnreach,
        };
        let code = match self.family {
            Family::Ip => 3,
            Family::Ip6 => 4,
            _ => 1,
        };
        self.expr(Reject { kind, code })
    }

    /// `reject with tcp reset` (adds `meta l4proto tcp` as nft does).
    pub fn reject_tcp_reset(mut self) -> Self {
        self.dep(&Field::TCP_DPORT);
        self.expr(Reject { kind: RejectType::TcpRst, code: 0 })
    }

    /// `reject with icmpx CODE` (0 no-route, 1 port-unreachable,
    /// 2 host-unreachable, 3 admin-prohibited).
    pub fn reject_icmpx(self, code: u8) -> Self {
        self.expr(Reject { kind: RejectType::IcmpxUnreach, code })
    }

    /// `comment "..."`.
    pub fn comment(mut self, c: impl Into<String>) -> Self {
        self.comment = Some(c.into());
        self
    }

    /// The rule, or the first invalid input met while building.
    pub fn build(self) -> Result<Rule> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if let Some(c) = &self.comment {
            if c.len() > 128 {
                return Err(Error::invalid("comment", format!("{} bytes, nft allows 128", c.len())));
            }
        }
        let mut r = Rule::new(self.family, self.table, self.chain, self.exprs);
        r.comment = self.comment;
        r.anon_sets = self.anon;
        Ok(r)
    }
}
