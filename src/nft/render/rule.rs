//! Rule delinearization: registers are tracked, loads followed by
//! comparisons become matches, dependencies implied by a later match are
//! left out, and each expression prints as a statement.

use std::collections::HashMap;

use super::*;

/// What a register holds.
#[derive(Clone, Debug)]
pub(super) enum Src {
    /// A header field: its printed name, type, byte order, and for a
    /// partial load (prefix) the field's full length.
    Field { name: String, ty: DataType, be: bool, len: u32, full: u32, proto: Option<Proto> },
    /// The result of `meta`/`ct`/`numgen`/... with its printed form, and
    /// the protocol its inputs imply (jhash of `ip saddr`).
    Expr { name: String, ty: DataType, be: bool, len: u32, needs: Option<Proto> },
    /// Several adjacent header fields loaded at once (`udp sport 67 udp
    /// dport 68` is one 4-byte load).
    Multi { parts: Vec<(String, DataType, u32)>, proto: Proto },
    /// A constant.
    Const(Vec<u8>),
    /// `SRC & mask ^ xor`.
    Masked { inner: Box<Src>, mask: Vec<u8>, xor: Vec<u8> },
    /// A map lookup result; `concat` when the map's data is a
    /// concatenation.
    /// `also`: protocols the other fields of a concatenated key imply.
    Mapped { text: String, ty: DataType, len: u32, needs: Option<Proto>, concat: bool, also: Vec<Proto> },
}

impl Src {
    pub(super) fn text(&self) -> String {
        match self {
            Src::Field { name, .. } | Src::Expr { name, .. } => name.clone(),
            Src::Const(v) => value(DataType::INTEGER, v, false),
            Src::Masked { inner, mask, xor } => masked_text(inner, mask, xor),
            Src::Mapped { text, .. } => text.clone(),
            Src::Multi { parts, .. } => parts.iter().map(|p| p.0.clone()).collect::<Vec<_>>().join(" . "),
        }
    }

    pub(super) fn ty(&self) -> (DataType, bool) {
        match self {
            Src::Field { ty, be, .. } | Src::Expr { ty, be, .. } => (*ty, *be),
            Src::Const(_) => (DataType::INTEGER, false),
            Src::Masked { inner, .. } => inner.ty(),
            Src::Mapped { ty, .. } => (*ty, ty.big_endian()),
            Src::Multi { .. } => (DataType::INTEGER, true),
        }
    }

    pub(super) fn len(&self) -> u32 {
        match self {
            Src::Field { len, .. } | Src::Expr { len, .. } | Src::Mapped { len, .. } => *len,
            Src::Const(v) => v.len() as u32,
            Src::Masked { inner, .. } => inner.len(),
            Src::Multi { parts, .. } => parts.iter().map(|p| p.2).sum(),
        }
    }
}

pub(super) fn masked_text(inner: &Src, mask: &[u8], xor: &[u8]) -> String {
    let (ty, be) = inner.ty();
    let fmt = |b: &[u8]| {
        let flags = value(ty, b, be);
        if matches!(ty, DataType::TCP_FLAG | DataType::CT_STATE | DataType::CT_STATUS)
            && !flags.contains("0x")
        {
            // `tcp flags & (syn | ack)`
            if flags.contains(',') {
                format!("({})", flags.replace(',', " | "))
            } else {
                flags
            }
        } else if matches!(
            ty,
            DataType::MARK | DataType::IPV4_ADDR | DataType::IPV6_ADDR | DataType::ETHER_ADDR
        ) {
            value(ty, b, be)
        } else {
            let v = if be { be_uint(b) } else { le_uint(b) };
            format!("{v:#x}")
        }
    };
    let all_ones = mask.iter().all(|&b| b == 0xff);
    let zero = |b: &[u8]| b.iter().all(|&x| x == 0);
    let inv_mask: Vec<u8> = mask.iter().map(|b| !b).collect();
    if all_ones {
        format!("{} ^ {}", inner.text(), fmt(xor))
    } else if zero(xor) {
        format!("{} & {}", inner.text(), fmt(mask))
    } else if inv_mask == xor {
        format!("{} | {}", inner.text(), fmt(xor))
    } else {
        format!("({} & {}) ^ {}", inner.text(), fmt(mask), fmt(xor))
    }
}

/// One printed statement, with what it implies for dependency removal.
pub(super) struct Stmt {
    pub(super) text: String,
    /// A protocol match another statement may make redundant.
    pub(super) dep: Option<Proto>,
    /// Protocols this statement's match implies.
    pub(super) needs: Option<Proto>,
    /// Further protocols it implies (the other fields of a concatenation).
    pub(super) also: Vec<Proto>,
    /// A statement that is not a match: dependencies do not reach past it.
    pub(super) barrier: bool,
}

pub(super) struct Ctx<'a> {
    /// Interface names of the listed namespace by index.
    pub(super) ifnames: &'a std::collections::BTreeMap<u32, String>,
    pub(super) family: Family,
    pub(super) sets: &'a HashMap<&'a str, &'a SetWithElements>,
    pub(super) regs: HashMap<u32, Src>,
    pub(super) stmts: Vec<Stmt>,
    pub(super) net: Option<Proto>,
    pub(super) l4: Option<Proto>,
    /// The icmp/icmpv6 message type matched, as a protocol context.
    pub(super) sub: Option<Proto>,
    /// Bytes of VLAN headers matched before the current one.
    pub(super) ll_off: u32,
    /// Whether a link-layer load was printed raw (`@ll,...`).
    pub(super) raw_ll: bool,
    /// The last `>=` comparison: register slot, statement index, value.
    pub(super) last_ge: Option<(u32, usize, Vec<u8>)>,
    /// What could not be rendered exactly, in order.
    pub(super) problems: Vec<String>,
    /// Registers holding a conntrack address loaded by the key of either
    /// family (`ct original saddr`), which nft lists wrongly when only a
    /// prefix of it is compared.
    pub(super) ct_any_family: std::collections::HashSet<u32>,
}

impl<'a> Ctx<'a> {
    pub(super) fn set_reg(&mut self, r: Reg, s: Src) {
        let slot = r.slot();
        self.ct_any_family.remove(&slot);
        let words = s.len().div_ceil(4).max(1);
        for i in 0..words {
            self.regs.remove(&(slot + i));
        }
        self.regs.insert(slot, s);
    }

    pub(super) fn reg(&self, r: Reg) -> Option<&Src> {
        self.regs.get(&r.slot())
    }

    /// Sources for a key of `len` bytes starting at `r` (a concatenation
    /// spans several registers).
    pub(super) fn sources(&self, r: Reg, len: u32) -> Vec<Src> {
        let mut out = Vec::new();
        let mut slot = r.slot();
        let mut got = 0;
        while got < len.max(1) {
            let Some(s) = self.regs.get(&slot) else { break };
            let l = s.len().max(1);
            got += l.div_ceil(4) * 4;
            slot += l.div_ceil(4);
            out.push(s.clone());
            if got >= len {
                break;
            }
        }
        out
    }

    /// The context that names header fields.
    pub(super) fn hdr(&self) -> HdrCtx {
        HdrCtx { net: self.net, l4: self.l4, sub: self.sub, ll_off: self.ll_off }
    }

    pub(super) fn push(&mut self, text: String, dep: Option<Proto>, needs: Option<Proto>) {
        self.stmts.push(Stmt { text, dep, needs, also: Vec::new(), barrier: false });
    }

    /// A statement that is not a match (`counter`, `log`): protocol
    /// dependencies before it stay printed.
    pub(super) fn push_barrier(&mut self, text: String) {
        self.push(text, None, None);
        self.stmts.last_mut().expect("pushed").barrier = true;
    }

    /// Something netplumb cannot print exactly: marked in the text in a
    /// form `nft -f` refuses (never a comment, which nft would skip and
    /// load a broader rule), and recorded for the strict render.
    pub(super) fn unrenderable(&mut self, what: String) {
        self.stmts.push(Stmt {
            text: format!("{MARK_OPEN}{what}{MARK_CLOSE}"),
            dep: None,
            needs: None,
            also: Vec::new(),
            barrier: true,
        });
        self.problems.push(what);
    }

    /// The text of register `r` as the right-hand side of a `set`
    /// statement of type `ty`, or a mark when it holds nothing known.
    pub(super) fn rhs(&mut self, r: Reg, ty: DataType, be: bool) -> String {
        match self.reg(r) {
            Some(s) => rhs_text(s, ty, be),
            None => {
                let what = format!("value of empty register {}", r.0);
                self.problems.push(what.clone());
                format!("{MARK_OPEN}{what}{MARK_CLOSE}")
            }
        }
    }

    /// A set reference: `@name`, or an anonymous set printed inline.
    pub(super) fn set_ref(&self, name: &str) -> String {
        match self.sets.get(name) {
            Some(s) if s.set.flags.contains(SetFlags::ANONYMOUS) => elements_block(s, true, false),
            _ => format!("@{}", quote_name(name)),
        }
    }
}

pub(super) fn nat_addr(family: u32, b: &[u8]) -> String {
    if family == 10 {
        value(DataType::IPV6_ADDR, b, true)
    } else {
        value(DataType::IPV4_ADDR, b, true)
    }
}

pub(super) fn nat_flags(f: Option<NatFlags>) -> String {
    let Some(f) = f else { return String::new() };
    let mut v = Vec::new();
    if f.contains(NatFlags::RANDOM) {
        v.push("random");
    }
    if f.contains(NatFlags::FULLY_RANDOM) {
        v.push("fully-random");
    }
    if f.contains(NatFlags::PERSISTENT) {
        v.push("persistent");
    }
    if v.is_empty() {
        String::new()
    } else {
        format!(" {}", v.join(","))
    }
}

/// A rule's text and what in it could not be rendered exactly (each
/// marked in the text by [`MARK_OPEN`]...[`MARK_CLOSE`]).
pub(super) struct RuleText {
    pub(super) text: String,
    pub(super) problems: Vec<String>,
}

pub(super) fn rule_with(
    r: &Rule,
    sets: &HashMap<&str, &SetWithElements>,
    ifnames: &std::collections::BTreeMap<u32, String>,
) -> RuleText {
    let mut cx = Ctx {
        family: r.family,
        sets,
        ifnames,
        regs: HashMap::new(),
        stmts: Vec::new(),
        net: match r.family {
            Family::Ip => Some(Proto::Ip),
            Family::Ip6 => Some(Proto::Ip6),
            Family::Arp => Some(Proto::Arp),
            _ => None,
        },
        l4: None,
        sub: None,
        ll_off: 0,
        raw_ll: false,
        last_ge: None,
        problems: Vec::new(),
        ct_any_family: Default::default(),
    };
    for e in &r.exprs {
        expr(&mut cx, e);
    }
    // Drop protocol matches that a later match implies, as nft does: only
    // a match that is itself printed counts, and a statement that is not
    // a match (counter, log, ...) ends the reach of a dependency.
    let n = cx.stmts.len();
    let mut keep = vec![true; n];
    for i in (0..n).rev() {
        let Some(d) = cx.stmts[i].dep else { continue };
        let mut implied = false;
        for (s, k) in cx.stmts[i + 1..].iter().zip(&keep[i + 1..]) {
            if *k && s.needs.iter().chain(&s.also).any(|n| implies(*n, d)) {
                implied = true;
                break;
            }
            // A statement that is not a match (`counter`, `meta mark set
            // ...`) may itself imply it, but nothing after it does.
            if s.barrier {
                break;
            }
        }
        keep[i] = !implied;
    }
    let mut parts: Vec<String> =
        cx.stmts.into_iter().zip(keep).filter(|(_, k)| *k).map(|(s, _)| s.text).collect();
    if let Some(c) = &r.comment {
        parts.push(format!("comment {}", quote_str(c)));
    }
    let text = parts.join(" ");
    let mut problems = cx.problems;
    // Anything marked in the text is a problem, whichever printer marked it.
    if problems.is_empty() {
        if let Some(at) = text.find(MARK_OPEN) {
            let what = text[at + MARK_OPEN.len()..].split(MARK_CLOSE).next().unwrap_or("").to_string();
            problems.push(what);
        }
    }
    RuleText { text, problems }
}

pub(super) fn expr(cx: &mut Ctx<'_>, e: &Expr) {
    match e {
        Expr::Payload(p) => payload_stmt(cx, p),
        Expr::Meta(m) => meta_stmt(cx, m),
        Expr::Ct(c) => ct_stmt(cx, c),
        Expr::Numgen(n) => numgen_stmt(cx, n),
        Expr::Hash(h) => hash_stmt(cx, h),
        Expr::Fib(f) => fib_stmt(cx, f),
        Expr::Immediate(i) => match &i.data {
            Data::Verdict(v) => {
                if i.dreg == Reg::VERDICT {
                    cx.push(v.to_string(), None, None);
                }
            }
            Data::Value(v) => cx.set_reg(i.dreg, Src::Const(v.clone())),
        },
        Expr::Bitwise(b) => bitwise_stmt(cx, b),
        Expr::Byteorder(b) => byteorder_stmt(cx, b),
        Expr::Cmp(c) => cmp(cx, c),
        Expr::Range(r) => range_stmt(cx, r),
        Expr::Lookup(l) => lookup(cx, l),
        Expr::Counter(c) => cx.push_barrier(format!("counter packets {} bytes {}", c.packets, c.bytes)),
        Expr::Notrack(_) => cx.push_barrier("notrack".into()),
        Expr::Limit(l) => cx.push_barrier(format!("limit {}", limit_str(l))),
        Expr::Quota(q) => cx.push_barrier(format!("quota {}", quota_str(q))),
        Expr::Log(l) => log_stmt(cx, l),
        Expr::Reject(rj) => reject_stmt(cx, rj),
        Expr::Nat(n) => nat_stmt(cx, n),
        Expr::Masq(m) => masq_stmt(cx, m),
        Expr::Redir(m) => redir_stmt(cx, m),
        Expr::Dynset(d) => dynset_stmt(cx, d),
        Expr::Objref(o) => objref_stmt(cx, o),
        Expr::Exthdr(x) => exthdr_stmt(cx, x),
        Expr::Connlimit(c) => {
            cx.push(format!("ct count {}{}", if c.over() { "over " } else { "" }, c.count), None, None)
        }
        Expr::Rt(r) => rt_stmt(cx, r),
        Expr::Socket(k) => socket_stmt(cx, k),
        Expr::Synproxy(p) => synproxy_stmt(cx, p),
        Expr::Tproxy(t) => tproxy_stmt(cx, t),
        Expr::Dup(d) => dup_stmt(cx, d),
        Expr::Fwd(f) => fwd_stmt(cx, f),
        Expr::Queue(q) => queue_stmt(cx, q),
        Expr::Xfrm(x) => xfrm_stmt(cx, x),
        Expr::Osf(o) => osf_stmt(cx, o),
        Expr::Unknown(u) => {
            cx.unrenderable(format!("expression {}", if u.name.is_empty() { "(unnamed)" } else { &u.name }))
        }
    }
}

pub(super) fn port_range(cx: &Ctx<'_>, min: Option<Reg>, max: Option<Reg>) -> String {
    let port = |r: Option<Reg>| -> Option<String> {
        match cx.reg(r?)? {
            Src::Const(v) if v.len() >= 2 => Some(u16::from_be_bytes([v[0], v[1]]).to_string()),
            other => Some(other.text()),
        }
    };
    match (port(min), port(max)) {
        (Some(lo), Some(hi)) if lo != hi => format!(" to :{lo}-{hi}"),
        (Some(lo), _) => format!(" to :{lo}"),
        _ => String::new(),
    }
}

/// The right-hand side of a `set` statement.
pub(super) fn rhs_text(s: &Src, ty: DataType, be: bool) -> String {
    match s {
        Src::Const(v) => value(ty, v, be),
        other => other.text(),
    }
}

pub(super) fn field_needs(src: &Src) -> Option<Proto> {
    match src {
        Src::Field { proto, .. } => *proto,
        Src::Multi { proto, .. } => Some(*proto),
        Src::Masked { inner, .. } => field_needs(inner),
        Src::Expr { needs, .. } | Src::Mapped { needs, .. } => *needs,
        Src::Const(_) => None,
    }
}

pub(super) fn cmp(cx: &mut Ctx<'_>, c: &Cmp) {
    let Some(src) = cx.reg(c.sreg).cloned() else {
        cx.unrenderable(format!("comparison of empty register {}", c.sreg.0));
        return;
    };
    let needs = field_needs(&src);
    let op = c.op.symbol();
    // `>= lo` then `<= hi` on the same load: nft's encoding of a range.
    if c.op == CmpOp::Le {
        if let Some((slot, idx, lo)) = cx.last_ge.take() {
            if slot == c.sreg.slot() && idx + 1 == cx.stmts.len() {
                let (ty, be) = src.ty();
                cx.stmts.pop();
                if let Src::Masked { inner, mask, .. } = &src {
                    if let Src::Field { name, .. } = inner.as_ref() {
                        if let Some((field, _, shift, proto)) = bitfield(cx.hdr(), name, mask) {
                            let (a, b) = (be_uint(&lo) >> shift, be_uint(&c.data) >> shift);
                            cx.push(format!("{field} {a}-{b}"), None, Some(proto));
                            return;
                        }
                    }
                }
                let shown = match &src {
                    // Raw payload ranges print in hex (`@nh,8,8 0x1-0x4`).
                    Src::Field { name, .. } if name.starts_with('@') && lo.len() <= 8 => {
                        format!("{}-{}", raw_hex(&lo), raw_hex(&c.data))
                    }
                    _ => range_plain(ty, be, &lo, &c.data),
                };
                cx.push(format!("{} {shown}", src.text()), None, needs);
                return;
            }
        }
    }
    if c.op == CmpOp::Ge {
        cx.last_ge = Some((c.sreg.slot(), cx.stmts.len(), c.data.clone()));
    }
    if let Src::Multi { parts, .. } = &src {
        if c.op == CmpOp::Eq {
            // Each field is its own match, so that one that is a
            // dependency (`ether type ip` after `ether saddr`) can be left
            // out as nft does.
            let mut off = 0usize;
            for (name, ty, l) in parts {
                let v = c.data.get(off..off + *l as usize).unwrap_or(&[]).to_vec();
                let part =
                    Src::Field { name: name.clone(), ty: *ty, be: true, len: *l, full: *l, proto: needs };
                let dep = dependency_of(&part, &v, CmpOp::Eq, cx.family);
                update_context(cx, &part, &v);
                cx.push(format!("{name} {}", value(*ty, &v, true)), dep, needs);
                off += *l as usize;
            }
            return;
        }
    }
    // A comparison of fewer bytes than the value holds: nft's encoding of
    // a prefix of a conntrack address (`ct reply ip saddr 192.168.1.0/24`
    // compares 3 bytes). Anything else of that shape has no nft syntax
    // netplumb knows: refused, never printed as another value.
    if let Src::Expr { name, ty, len, .. } = &src {
        // (Names compare a prefix the same way: `iifname "eth*"`.)
        if (c.data.len() as u32) < *len && !matches!(*ty, DataType::IFNAME | DataType::STRING) {
            let any_family = cx.ct_any_family.contains(&c.sreg.slot());
            if matches!(*ty, DataType::IPV4_ADDR | DataType::IPV6_ADDR)
                && matches!(c.op, CmpOp::Eq | CmpOp::Ne)
                && !any_family
            {
                let mut v = c.data.clone();
                v.resize(*len as usize, 0);
                let text = format!("{name} {op}{}/{}", value(*ty, &v, true), c.data.len() * 8);
                cx.push(text, None, needs);
            } else {
                cx.unrenderable(format!("{name} compared on {} of its {len} bytes", c.data.len()));
            }
            return;
        }
    }
    match &src {
        // A prefix: a partial address load, optionally masked.
        Src::Field { name, ty, len, full, .. } if len < full => {
            let mut v = c.data.clone();
            v.resize(*full as usize, 0);
            let text = format!("{name} {op}{}/{}", value(*ty, &v, true), len * 8);
            cx.push(text, None, needs);
        }
        Src::Masked { inner, mask, xor } => {
            let (ty, be) = inner.ty();
            let zero = |b: &[u8]| b.iter().all(|&x| x == 0);
            // nft keeps `meta nfproto ipv6` before a masked conntrack
            // address (`ct original saddr dead::/50`).
            let needs = if matches!(inner.as_ref(), Src::Expr { .. }) { None } else { needs };
            // A field narrower than a byte (`ip dscp`, `vlan id`, `tcp
            // option mptcp subtype`): a masked load of the bytes holding it.
            if let (Src::Field { name, .. }, true) = (inner.as_ref(), zero(xor)) {
                if let Some((field, fty, shift, proto)) = bitfield(cx.hdr(), name, mask) {
                    let v = be_uint(&c.data) >> shift;
                    let shown = value(fty, &[v as u8], true);
                    let shown = if fty == DataType::INTEGER { v.to_string() } else { shown };
                    cx.push(format!("{field} {op}{shown}"), None, needs.or(Some(proto)));
                    return;
                }
            }
            // A masked conntrack address that is no prefix has no nft
            // syntax netplumb prints back exactly.
            if matches!(inner.as_ref(), Src::Expr { .. })
                && matches!(ty, DataType::IPV4_ADDR | DataType::IPV6_ADDR)
                && !(zero(xor) && matches!(c.op, CmpOp::Eq | CmpOp::Ne))
            {
                cx.unrenderable(format!("masked {}", inner.text()));
                return;
            }
            // A mask of leading ones is a prefix (`ip saddr 10.0.0.0/8`,
            // `meta mark 0xffffff00/24`); any other mask prints as `&`.
            let is_eq = matches!(c.op, CmpOp::Eq | CmpOp::Ne);
            if let (true, true, Some(bits)) = (is_eq, zero(xor), mask_prefix(mask, be)) {
                // Not for raw payload (`@ll,0,8 & 0x80 == 0x80`).
                let prefixable = match inner.as_ref() {
                    Src::Field { name, .. } => !name.starts_with('@'),
                    Src::Expr { .. } => true,
                    _ => false,
                };
                if prefixable
                    && !matches!(
                        ty,
                        DataType::CT_STATE | DataType::CT_STATUS | DataType::TCP_FLAG | DataType::CT_LABEL
                    )
                {
                    let full = match inner.as_ref() {
                        Src::Field { full, .. } => *full as usize,
                        _ => c.data.len(),
                    };
                    let mut v = c.data.clone();
                    v.resize(full.max(v.len()), 0);
                    cx.push(format!("{} {op}{}/{bits}", inner.text(), value(ty, &v, be)), None, needs);
                    return;
                }
            }
            let flags_type = matches!(
                ty,
                DataType::CT_STATE | DataType::CT_STATUS | DataType::TCP_FLAG | DataType::CT_LABEL
            );
            if flags_type && zero(xor) && zero(&c.data) && c.op == CmpOp::Ne {
                // `ct state established,related`: any of the flags set
                cx.push(format!("{} {}", inner.text(), value(ty, mask, be)), None, needs);
                return;
            }
            if flags_type && zero(xor) && zero(&c.data) && c.op == CmpOp::Eq {
                // `ct status ! dnat`: none of the flags set
                cx.push(format!("{} ! {}", inner.text(), value(ty, mask, be)), None, needs);
                return;
            }
            if flags_type && ty != DataType::CT_LABEL && zero(xor) && is_eq {
                let int = |b: &[u8]| if be { be_uint(b) } else { le_uint(b) };
                let (m, v) = (int(mask), int(&c.data));
                let field = matches!(inner.as_ref(), Src::Field { name, .. } if !name.starts_with('@'));
                if field && mask.iter().all(|&b| b == 0xff) {
                    // A mask covering the whole header field: nft leaves it
                    // out (`tcp flags == 0xff`).
                    let text = flags_cmp_text(inner.as_ref(), c.op, &c.data);
                    cx.push(text, None, needs);
                    return;
                }
                let text = if m == v && m.count_ones() == 1 {
                    // `tcp flags & syn == syn`
                    let f = value(ty, mask, be);
                    format!("{} & {f} {} {f}", inner.text(), if c.op == CmpOp::Eq { "==" } else { "!=" })
                } else if v & !m == 0 {
                    // `tcp flags syn / fin,syn,rst,ack`: flags among a mask.
                    let neg = if c.op == CmpOp::Ne { "!= " } else { "" };
                    format!("{} {neg}{} / {}", inner.text(), value(ty, &c.data, be), value(ty, mask, be))
                } else {
                    // Bits outside the mask: never true (or always); no
                    // flag syntax says it.
                    cx.unrenderable(format!("{} compared outside its mask", inner.text()));
                    return;
                };
                cx.push(text, None, needs);
                return;
            }
            let eq = match c.op {
                CmpOp::Eq => "==",
                CmpOp::Ne => "!=",
                _ => c.op.symbol().trim(),
            };
            let rhs = if matches!(
                ty,
                DataType::MARK | DataType::IPV4_ADDR | DataType::IPV6_ADDR | DataType::ETHER_ADDR
            ) {
                value(ty, &c.data, be)
            } else {
                format!("{:#x}", if be { be_uint(&c.data) } else { le_uint(&c.data) })
            };
            cx.push(format!("{} {eq} {rhs}", masked_text(inner, mask, xor)), None, needs);
        }
        _ if is_flags_cmp(&src, c.op) => {
            let text = flags_cmp_text(&src, c.op, &c.data);
            cx.push(text, None, needs);
        }
        _ => {
            let (ty, be) = src.ty();
            // `tcp flags == syn`: a bare flags value means "any of".
            let op = if matches!(ty, DataType::TCP_FLAG | DataType::CT_STATE | DataType::CT_STATUS)
                && c.op == CmpOp::Eq
            {
                "== "
            } else {
                op
            };
            let shown = match (ty, c.data.as_slice()) {
                // `iif "lo"`: nft names the interface when it lists.
                (DataType::IFINDEX, [a, b, c2, d]) => {
                    let idx = u32::from_ne_bytes([*a, *b, *c2, *d]);
                    cx.ifnames.get(&idx).map(|n| quote_str(n)).unwrap_or_else(|| idx.to_string())
                }
                // Raw payload values print in hex (`@nh,8,8 0xff`).
                _ if matches!(&src, Src::Field { name, .. } if name.starts_with('@'))
                    && c.data.len() <= 8 =>
                {
                    format!("{:#x}", be_uint(&c.data))
                }
                _ => value(ty, &c.data, be),
            };
            let text = format!("{} {op}{shown}", src.text());
            let dep = dependency_of(&src, &c.data, c.op, cx.family);
            // A protocol match sets the context for later header fields.
            if c.op == CmpOp::Eq {
                update_context(cx, &src, &c.data);
            }
            cx.push(text, dep, needs);
        }
    }
}

/// Whether `src OP value` is an unmasked comparison of a flags value
/// (`tcp flags`, `ct state`, `ct status`) with `==` or `!=`.
fn is_flags_cmp(src: &Src, op: CmpOp) -> bool {
    matches!(op, CmpOp::Eq | CmpOp::Ne)
        && matches!(src, Src::Field { .. } | Src::Expr { .. })
        && matches!(
            src.ty().0,
            DataType::CT_STATE | DataType::CT_STATUS | DataType::TCP_FLAG | DataType::CT_EVENT
        )
}

/// An unmasked flags comparison as nft prints it: one flag by name
/// (`tcp flags == syn`), several flags in hex (`tcp flags == 0x12`). For
/// several conntrack flags nft prints `ct state established | related`,
/// which it reads back as a different rule: netplumb prints the exact
/// value in hex (`ct state == 0x6`).
fn flags_cmp_text(src: &Src, op: CmpOp, data: &[u8]) -> String {
    let (ty, be) = src.ty();
    let v = if be { be_uint(data) } else { le_uint(data) };
    let ne = op == CmpOp::Ne;
    let shown = value(ty, data, be);
    let named = !shown.contains(',') && !shown.starts_with("0x");
    if v.count_ones() == 1 && named {
        format!("{} {} {shown}", src.text(), if ne { "!=" } else { "==" })
    } else if matches!(src, Src::Field { .. }) || shown.contains("0x") {
        format!("{} {} {v:#x}", src.text(), if ne { "!=" } else { "==" })
    } else {
        // nft lists `ct state established | new` here, but reads that
        // text back as "any of" (`ct state established,new`): a different
        // rule. The value in hex is read back exactly.
        format!("{} {} {v:#x}", src.text(), if ne { "!=" } else { "==" })
    }
}

/// Whether the match `src == data` is a protocol match nft inserts as a
/// dependency (and so leaves out when a later match implies it).
pub(super) fn dependency_of(src: &Src, data: &[u8], op: CmpOp, family: Family) -> Option<Proto> {
    if op != CmpOp::Eq {
        return None;
    }
    let name = match src {
        Src::Field { name, .. } | Src::Expr { name, .. } => name.as_str(),
        _ => return None,
    };
    match name {
        "meta l4proto" => data.first().and_then(|&p| proto_of_l4(p)),
        // In ip and ip6 tables nft leaves out an `ip protocol`/`ip6
        // nexthdr` match a transport field implies; in inet, bridge and
        // netdev tables it keeps it (it also restricts the network
        // protocol, which `meta l4proto` would not).
        "ip protocol" | "ip6 nexthdr" if matches!(family, Family::Ip | Family::Ip6) => {
            data.first().and_then(|&p| proto_of_l4(p))
        }
        "vlan type" => match data {
            [0x08, 0x00] => Some(Proto::Ip),
            [0x86, 0xdd] => Some(Proto::Ip6),
            [0x08, 0x06] => Some(Proto::Arp),
            _ => None,
        },
        "meta nfproto" => match data.first() {
            Some(2) => Some(Proto::Ip),
            Some(10) => Some(Proto::Ip6),
            _ => None,
        },
        "meta iiftype" if data == 1u16.to_ne_bytes() => Some(Proto::Ether),
        // `vlan id` implies `ether type 8021q` (not 8021ad, which stays).
        "ether type" if data == [0x81, 0x00] => Some(Proto::Vlan),
        "ether type" if data == [0x88, 0xa8] => None,
        "icmp type" => match data {
            [3] => Some(Proto::IcmpUnreach),
            [5] => Some(Proto::IcmpRedirect),
            _ => None,
        },
        "icmpv6 type" => match data {
            [2] => Some(Proto::Icmp6TooBig),
            [4] => Some(Proto::Icmp6Param),
            [130..=132] => Some(Proto::Icmp6Mld),
            _ => None,
        },
        "ether type" | "meta protocol" => match data {
            [0x08, 0x00] => Some(Proto::Ip),
            [0x86, 0xdd] => Some(Proto::Ip6),
            [0x08, 0x06] => Some(Proto::Arp),
            _ => None,
        },
        _ => None,
    }
}

pub(super) fn update_context(cx: &mut Ctx<'_>, src: &Src, data: &[u8]) {
    let name = match src {
        Src::Field { name, .. } | Src::Expr { name, .. } => name.as_str(),
        _ => return,
    };
    match name {
        "meta l4proto" | "ip protocol" | "ip6 nexthdr" => {
            if let Some(&p) = data.first() {
                cx.l4 = proto_of_l4(p);
            }
        }
        // 802.1ad: a VLAN header follows, though `vlan id` does not imply it.
        "ether type" if data == [0x88, 0xa8] => cx.sub = Some(Proto::Vlan),
        // QinQ: another VLAN header follows this one.
        "vlan type" if cx.sub == Some(Proto::Vlan) && matches!(data, [0x81, 0x00] | [0x88, 0xa8]) => {
            cx.ll_off += 4
        }
        _ => {
            if let Some(p) = dependency_of(src, data, CmpOp::Eq, cx.family) {
                if matches!(p, Proto::Ip | Proto::Ip6 | Proto::Arp) {
                    cx.net = Some(p);
                }
                if matches!(
                    p,
                    Proto::IcmpUnreach
                        | Proto::IcmpRedirect
                        | Proto::Icmp6TooBig
                        | Proto::Icmp6Param
                        | Proto::Icmp6Mld
                        | Proto::Vlan
                ) {
                    cx.sub = Some(p);
                }
            }
        }
    }
}

/// Clears [`LOOKUP_FIELDS`] when a lookup is printed.
struct LookupFields;

impl Drop for LookupFields {
    fn drop(&mut self) {
        LOOKUP_FIELDS.with(|f| *f.borrow_mut() = None);
    }
}

pub(super) fn lookup(cx: &mut Ctx<'_>, l: &Lookup) {
    let set = cx.sets.get(l.set.as_str()).copied();
    let key_len = set.map(|s| s.set.key_len).unwrap_or_else(|| cx.reg(l.sreg).map(Src::len).unwrap_or(4));
    let mut srcs = cx.sources(l.sreg, key_len);
    // A field narrower than a byte inside a concatenation (`ether saddr .
    // vlan id`): named when its mask needs no shift.
    if srcs.len() > 1 {
        for s in srcs.iter_mut() {
            let named = match &*s {
                Src::Masked { inner, mask, xor } if xor.iter().all(|&b| b == 0) => match inner.as_ref() {
                    Src::Field { name, len, full, .. } => match bitfield(cx.hdr(), name, mask) {
                        Some((f, fty, 0, p)) => Some(Src::Field {
                            name: f.to_string(),
                            ty: fty,
                            be: true,
                            len: *len,
                            full: *full,
                            proto: Some(p),
                        }),
                        _ => None,
                    },
                    _ => None,
                },
                _ => None,
            };
            if let Some(n) = named {
                *s = n;
            }
        }
    }
    // The anonymous set's elements print by the loads of the rule: raw
    // payload in hex (`@ih,32,32 { 0x14 }`), each field as wide as its load.
    let _fields = LookupFields;
    if set.is_some_and(|s| s.set.flags.contains(SetFlags::ANONYMOUS))
        && srcs.iter().all(|s| matches!(s, Src::Field { .. } | Src::Expr { .. }))
    {
        let f = srcs
            .iter()
            // (As the whole key of a map nft prints them in decimal.)
            .map(|s| {
                let raw = matches!(s, Src::Field { name, .. } if name.starts_with('@'));
                (s.len() as usize, raw && (l.dreg.is_none() || srcs.len() > 1))
            })
            .collect();
        LOOKUP_FIELDS.with(|x| *x.borrow_mut() = Some(f));
    }
    let needs = srcs.iter().find_map(field_needs);
    let lhs = srcs.iter().map(Src::text).collect::<Vec<_>>().join(" . ");
    // A host-order key converted to network order before the lookup
    // (`ct mark { 0x1-0x9 }`): the anonymous set holds network-order
    // values, whatever its key type says.
    let r = match (set, srcs.as_slice()) {
        (Some(s), [src]) if s.set.flags.contains(SetFlags::ANONYMOUS) && !s.set.key.is_concat() => {
            let (ty, be) = src.ty();
            if be && !s.set.key.fields[0].big_endian() && !ty.big_endian() {
                let mut s2 = s.clone();
                s2.set.userdata = Some(with_key_byteorder(&s.set.userdata_bytes(), 2));
                elements_block(&s2, true, false)
            } else {
                cx.set_ref(&l.set)
            }
        }
        _ => cx.set_ref(&l.set),
    };
    // A sub-byte field looked up in a set (`ip dscp { cs0, af21 }`, `vlan
    // id { 1, 2 }`): its name, and the anonymous set's values shifted back
    // and printed by the field's type.
    let mut needs = needs;
    let (lhs, r) = match (srcs.as_slice(), set) {
        ([Src::Masked { inner, mask, xor }], Some(s)) if xor.iter().all(|&b| b == 0) => {
            match inner.as_ref() {
                Src::Field { name, .. } => match bitfield(cx.hdr(), name, mask) {
                    Some((field, fty, shift, proto)) if !s.set.key.is_concat() => {
                        let r = if s.set.flags.contains(SetFlags::ANONYMOUS) {
                            elements_block(&unshift_set(s, fty, shift), true, false)
                        } else {
                            r
                        };
                        needs = needs.or(Some(proto));
                        (field.to_string(), r)
                    }
                    _ => (lhs, r),
                },
                _ => (lhs, r),
            }
        }
        _ => (lhs, r),
    };
    // A masked value inside a concatenation has no nft syntax netplumb
    // can print back exactly (`ether saddr . vlan id`).
    if srcs.len() > 1 && srcs.iter().any(|s| matches!(s, Src::Masked { .. })) {
        cx.unrenderable(format!("masked field in a concatenation looked up in {}", l.set));
        return;
    }
    // A concatenation with host-order fields converted to network order
    // (`meta mark . tcp dport` in an interval set): print those fields of
    // the anonymous set's elements in network order.
    let r = match set {
        Some(s)
            if srcs.len() > 1
                && s.set.flags.contains(SetFlags::ANONYMOUS)
                && s.set.key.fields.len() == srcs.len() =>
        {
            let bes: Vec<bool> = srcs.iter().map(|x| x.ty().1).collect();
            if s.set.key.fields.iter().zip(&bes).any(|(t, be)| *be && !t.big_endian()) {
                CONCAT_BE.with(|c| *c.borrow_mut() = Some(bes));
                let text = elements_block(s, true, false);
                CONCAT_BE.with(|c| *c.borrow_mut() = None);
                text
            } else {
                r
            }
        }
        _ => r,
    };
    let also: Vec<Proto> = srcs.iter().filter_map(field_needs).collect();
    // A masked value looked up (`meta mark & 0x000000ff == { ... }`): nft
    // prints the operator after a binary operation.
    let masked = matches!(srcs.as_slice(), [Src::Masked { .. }])
        && [" & ", " | ", " ^ "].iter().any(|o| lhs.contains(o));
    match l.dreg {
        None => {
            let op = match (l.invert, masked) {
                (true, _) => "!= ",
                (false, true) => "== ",
                (false, false) => "",
            };
            cx.push(format!("{lhs} {op}{r}"), None, needs);
            cx.stmts.last_mut().expect("pushed").also = also;
        }
        Some(Reg::VERDICT) => {
            cx.push(format!("{lhs} vmap {r}"), None, needs);
            cx.stmts.last_mut().expect("pushed").also = also;
        }
        Some(d) => {
            // Interval data (NAT ranges and prefixes) counts as
            // concatenated: nft then names the NAT family (`snat ip to`).
            let (ty, len, concat) = set
                .and_then(|s| {
                    let interval = |k: &KeyType| s.set.data_len > k.len();
                    s.set.data.as_ref().map(|k| (k.fields[0], s.set.data_len, k.is_concat() || interval(k)))
                })
                .unwrap_or((DataType::INTEGER, 4, false));
            cx.set_reg(d, Src::Mapped { text: format!("{lhs} map {r}"), ty, len, needs, concat, also });
        }
    }
}

/// The prefix length if `mask` is leading ones then zeros (most
/// significant bit first, in byte order `be`), and not all ones.
pub(super) fn mask_prefix(mask: &[u8], be: bool) -> Option<u32> {
    let bytes: Vec<u8> = if be { mask.to_vec() } else { mask.iter().rev().copied().collect() };
    let total = bytes.len() as u32 * 8;
    let ones: u32 = bytes.iter().map(|b| b.count_ones()).sum();
    if ones == 0 || ones == total {
        return None;
    }
    for i in 0..total {
        let bit = bytes[(i / 8) as usize] >> (7 - i % 8) & 1;
        if (bit == 1) != (i < ones) {
            return None;
        }
    }
    Some(ones)
}

/// Set userdata with its key byte order record replaced by `order` (1
/// host, 2 big endian).
fn with_key_byteorder(u: &[u8], order: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut seen = false;
    for (t, v) in crate::nft::types::udata_iter(u) {
        if t == crate::nft::consts::UDATA_SET_KEYBYTEORDER {
            crate::nft::types::udata_put(&mut out, t, &order.to_ne_bytes());
            seen = true;
        } else {
            crate::nft::types::udata_put(&mut out, t, v);
        }
    }
    if !seen {
        crate::nft::types::udata_put(
            &mut out,
            crate::nft::consts::UDATA_SET_KEYBYTEORDER,
            &order.to_ne_bytes(),
        );
    }
    out
}

/// Whether a match on `needs` implies the dependency `dep`, directly or
/// through the dependency nft inserts for it (icmp implies ip, a field
/// only in some icmp messages implies icmp and ip, ...).
pub(super) fn implies(needs: Proto, dep: Proto) -> bool {
    if needs == dep {
        return true;
    }
    let parent = match needs {
        Proto::Icmp | Proto::Igmp => Some(Proto::Ip),
        Proto::Icmp6 => Some(Proto::Ip6),
        Proto::IcmpUnreach | Proto::IcmpRedirect => Some(Proto::Icmp),
        Proto::Vlan => Some(Proto::Ether),
        Proto::Icmp6TooBig | Proto::Icmp6Param | Proto::Icmp6Mld => Some(Proto::Icmp6),
        _ => None,
    };
    parent.is_some_and(|p| implies(p, dep))
}

/// An anonymous set of masked sub-byte field values as a set of the
/// field's own values: each key shifted right by `shift`, typed `ty`
/// (one byte for dscp/ecn, else a big-endian integer of the key's width).
fn unshift_set(s: &SetWithElements, ty: DataType, shift: u32) -> SetWithElements {
    let mut out = s.clone();
    let narrow = matches!(ty, DataType::DSCP | DataType::ECN | DataType::DCCP_PKTTYPE);
    let conv = |k: &[u8]| -> Vec<u8> {
        let v = be_uint(k) >> shift;
        if narrow {
            vec![v as u8]
        } else {
            let b = v.to_be_bytes();
            b[8 - k.len().min(8)..].to_vec()
        }
    };
    out.set.key = KeyType::single(if narrow { ty } else { DataType::INTEGER });
    out.set.userdata = Some(with_key_byteorder(&s.set.userdata_bytes(), 2));
    for e in &mut out.elements {
        e.key = conv(&e.key).into();
        if let Some(k) = &e.key_end {
            e.key_end = Some(conv(k).into());
        }
    }
    out
}
