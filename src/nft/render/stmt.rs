//! One printer per expression: how each statement or register load
//! prints in nft syntax (the matches themselves are in `rule.rs`).

use std::fmt::Write as _;
use std::time::Duration;

use super::*;

/// `Expr::Payload` as nft prints it.
pub(super) fn payload_stmt(cx: &mut Ctx<'_>, p: &Payload) {
    if let PayloadBase::Other(b) = p.base {
        // Printed as `@?,...`, which nft refuses.
        cx.problems.push(format!("payload of unknown base {b}"));
    }
    if let Some(d) = p.dreg {
        let src = match field(p.base, p.offset, p.len, cx.hdr()) {
            Some((name, ty, full, proto)) => {
                // After a link-layer match netplumb printed raw, nft reading
                // a named network or transport field back would insert a
                // dependency of its own (`vlan type ip`): not the same rule.
                let upper = matches!(p.base, PayloadBase::Network | PayloadBase::Transport);
                if upper && cx.raw_ll && matches!(cx.family, Family::Bridge | Family::Netdev) {
                    cx.unrenderable(format!("{name} after a raw link-layer match"));
                }
                Src::Field { name, ty, be: true, len: p.len, full, proto: Some(proto) }
            }
            None => match multi_field(p.base, p.offset, p.len, cx.hdr()) {
                Some(m) => m,
                None => Src::Field {
                    name: {
                        let name = format!("@{},{},{}", base_name(p.base), p.offset * 8, p.len * 8);
                        // Loads of sub-byte fields (`vlan id`) are named when masked.
                        let vlan_bits = cx.sub == Some(Proto::Vlan)
                            && matches!(name.as_str(), "@ll,112,16" | "@ll,112,8");
                        cx.raw_ll |= p.base == PayloadBase::LinkLayer && !vlan_bits;
                        name
                    },
                    ty: DataType::INTEGER,
                    be: true,
                    len: p.len,
                    full: p.len,
                    proto: None,
                },
            },
        };
        cx.set_reg(d, src);
    } else if let Some(s) = p.sreg {
        // `ip ttl set 64`: nft rewrites whole words, keeping the
        // neighbouring field with a mask; name the field it sets.
        if let Some(Src::Masked { inner, mask, xor }) = cx.reg(s).cloned() {
            let parts: Vec<(String, DataType, u32)> = match *inner {
                Src::Multi { parts, .. } => parts,
                Src::Field { name, ty, len, .. } => vec![(name, ty, len)],
                _ => Vec::new(),
            };
            let mut off = 0usize;
            let mut set = Vec::new();
            for (name, ty, l) in &parts {
                let r = off..off + *l as usize;
                if mask.get(r.clone()).is_some_and(|m| m.iter().all(|&b| b == 0)) {
                    set.push(format!("{name} set {}", value(*ty, &xor[r], true)));
                }
                off += *l as usize;
            }
            if set.len() == 1 {
                cx.push(set.remove(0), None, None);
                return;
            }
        }
        let (lhs, ty) = field(p.base, p.offset, p.len, cx.hdr()).map(|f| (f.0, f.1)).unwrap_or_else(|| {
            (format!("@{},{},{}", base_name(p.base), p.offset * 8, p.len * 8), DataType::INTEGER)
        });
        let rhs = cx.rhs(s, ty, true);
        let needs = cx.reg(s).and_then(field_needs);
        cx.push(format!("{lhs} set {rhs}"), None, needs);
        cx.stmts.last_mut().expect("pushed").barrier = true;
    }
}

/// `Expr::Meta` as nft prints it.
pub(super) fn meta_stmt(cx: &mut Ctx<'_>, m: &Meta) {
    let (ty, len) = meta_type(m.key);
    let name = match m.key {
        // nft 1.0.6 lists `meta secpath` as `meta ipsec`.
        MetaKey::Secpath => "ipsec".to_string(),
        k => k.nft_name().map(str::to_string).unwrap_or_else(|| format!("{}", k.code())),
    };
    // nft prints these keys without the `meta` prefix.
    let unqualified = matches!(
        m.key,
        MetaKey::Mark
            | MetaKey::Iif
            | MetaKey::Oif
            | MetaKey::IifName
            | MetaKey::OifName
            | MetaKey::IifGroup
            | MetaKey::OifGroup
    );
    let full = format!("meta {name}");
    if let Some(d) = m.dreg {
        let shown = if unqualified && m.key != MetaKey::Mark { name.clone() } else { full };
        // `meta random` is the one meta key nft reads in network order.
        let be = m.key == MetaKey::Prandom;
        cx.set_reg(d, Src::Expr { name: shown, ty, be, len, needs: None });
    } else if let Some(s) = m.sreg {
        let rhs = cx.rhs(s, ty, false);
        let needs = cx.reg(s).and_then(field_needs);
        let lhs = if unqualified && m.key != MetaKey::Mark { name } else { full };
        cx.push(format!("{lhs} set {rhs}"), None, needs);
        cx.stmts.last_mut().expect("pushed").barrier = true;
    }
}

/// `Expr::Ct` as nft prints it.
pub(super) fn ct_stmt(cx: &mut Ctx<'_>, c: &Ct) {
    let (ty, len, be) = ct_type(c.key, cx.net);
    let mut key = c.key.nft_name().map(str::to_string).unwrap_or_else(|| c.key.code().to_string());
    // `ct original ip saddr`: where the table does not fix the network
    // protocol, nft names it (and leaves out `meta nfproto` before it).
    let mut needs = None;
    if matches!(c.key, CtKey::Src | CtKey::Dst) && !matches!(cx.family, Family::Ip | Family::Ip6) {
        let (q, p) = if cx.net == Some(Proto::Ip6) { ("ip6", Proto::Ip6) } else { ("ip", Proto::Ip) };
        key = format!("{q} {key}");
        needs = Some(p);
    }
    let name = match c.dir {
        Some(CtDir::Original) => format!("ct original {key}"),
        Some(CtDir::Reply) => format!("ct reply {key}"),
        None => format!("ct {key}"),
    };
    if let Some(d) = c.dreg {
        cx.set_reg(d, Src::Expr { name, ty, be, len, needs });
    } else if let Some(s) = c.sreg {
        let rhs = cx.rhs(s, ty, be);
        let needs = cx.reg(s).and_then(field_needs);
        cx.push(format!("{name} set {rhs}"), None, needs);
        cx.stmts.last_mut().expect("pushed").barrier = true;
    }
}

/// `Expr::Numgen` as nft prints it.
pub(super) fn numgen_stmt(cx: &mut Ctx<'_>, n: &Numgen) {
    let kind = if n.kind == NumgenType::Random { "random" } else { "inc" };
    let mut name = format!("numgen {kind} mod {}", n.modulus);
    if n.offset != 0 {
        let _ = write!(name, " offset {}", n.offset);
    }
    cx.set_reg(n.dreg, Src::Expr { name, ty: DataType::INTEGER, be: false, len: 4, needs: None });
}

/// `Expr::Hash` as nft prints it.
pub(super) fn hash_stmt(cx: &mut Ctx<'_>, h: &Hash) {
    let srcs = h.sreg.map(|r| cx.sources(r, h.len.unwrap_or(4))).unwrap_or_default();
    let needs = srcs.iter().find_map(field_needs);
    let mut name = match h.kind {
        HashType::Sym => format!("symhash mod {}", h.modulus),
        HashType::Jenkins => {
            let key = srcs.iter().map(Src::text).collect::<Vec<_>>().join(" . ");
            let mut s = format!("jhash {key} mod {}", h.modulus);
            if let Some(seed) = h.seed {
                let _ = write!(s, " seed {seed:#x}");
            }
            s
        }
    };
    if h.offset != 0 {
        let _ = write!(name, " offset {}", h.offset);
    }
    cx.set_reg(h.dreg, Src::Expr { name, ty: DataType::INTEGER, be: false, len: 4, needs });
}

/// `Expr::Fib` as nft prints it.
pub(super) fn fib_stmt(cx: &mut Ctx<'_>, f: &Fib) {
    let mut keys = Vec::new();
    for (flag, n) in [
        (FibFlags::SADDR, "saddr"),
        (FibFlags::DADDR, "daddr"),
        (FibFlags::MARK, "mark"),
        (FibFlags::IIF, "iif"),
        (FibFlags::OIF, "oif"),
    ] {
        if f.flags.contains(flag) {
            keys.push(n);
        }
    }
    let (res, ty, len) = match f.result {
        FibResult::Oif => ("oif", DataType::IFINDEX, 4),
        FibResult::OifName => ("oifname", DataType::IFNAME, 16),
        FibResult::AddrType => ("type", DataType::FIB_ADDR, 4),
        FibResult::Other(r) => {
            cx.problems.push(format!("fib result {r}"));
            ("?", DataType::INTEGER, 4)
        }
    };
    let ty = if f.flags.contains(FibFlags::PRESENT) { DataType::BOOLEAN } else { ty };
    let name = format!("fib {} {res}", keys.join(" . "));
    cx.set_reg(f.dreg, Src::Expr { name, ty, be: false, len, needs: None });
}

/// `Expr::Bitwise` as nft prints it.
pub(super) fn bitwise_stmt(cx: &mut Ctx<'_>, b: &Bitwise) {
    if let (Some(src), BitwiseOp::Bool { mask, xor }) = (cx.reg(b.sreg).cloned(), &b.op) {
        cx.set_reg(b.dreg, Src::Masked { inner: Box::new(src), mask: mask.clone(), xor: xor.clone() });
    } else if let Some(src) = cx.reg(b.sreg).cloned() {
        let (op, n) = match b.op {
            BitwiseOp::Lshift(n) => ("<<", n),
            BitwiseOp::Rshift(n) => (">>", n),
            BitwiseOp::Bool { .. } => ("?", 0),
        };
        let (ty, be) = src.ty();
        cx.set_reg(
            b.dreg,
            Src::Expr {
                // `(meta mark | 0x10) << 8`: a masked value shifts as a whole.
                name: if matches!(src, Src::Masked { .. }) {
                    format!("({}) {op} {n}", src.text())
                } else {
                    format!("{} {op} {n}", src.text())
                },
                ty,
                be,
                len: b.len,
                needs: field_needs(&src),
            },
        );
    }
}

/// `Expr::Byteorder` as nft prints it.
pub(super) fn byteorder_stmt(cx: &mut Ctx<'_>, b: &Byteorder) {
    // nft converts a host-order value to network order before a range
    // or an interval lookup (`ct mark 0x32-0x45`): the values compared
    // afterwards are big endian.
    fn reorder(src: Src, be: bool) -> Src {
        match src {
            Src::Field { name, ty, len, full, proto, .. } => Src::Field { name, ty, be, len, full, proto },
            Src::Expr { name, ty, len, needs, .. } => Src::Expr { name, ty, be, len, needs },
            Src::Masked { inner, mask, xor } => {
                Src::Masked { inner: Box::new(reorder(*inner, be)), mask, xor }
            }
            other => other,
        }
    }
    if let Some(src) = cx.reg(b.sreg).cloned() {
        cx.set_reg(b.dreg, reorder(src, b.op == ByteorderOp::Hton));
    }
}

/// `Expr::Range` as nft prints it.
pub(super) fn range_stmt(cx: &mut Ctx<'_>, r: &Range) {
    if let Some(src) = cx.reg(r.sreg).cloned() {
        let (ty, be) = src.ty();
        let op = if r.negate { "!= " } else { "" };
        // A sub-byte field in a range (`vlan pcp 1-3`).
        if let Src::Masked { inner, mask, xor } = &src {
            if let (Src::Field { name, .. }, true) = (inner.as_ref(), xor.iter().all(|&b| b == 0)) {
                if let Some((field, _, shift, proto)) = bitfield(cx.hdr(), name, mask) {
                    let (lo, hi) = (be_uint(&r.from) >> shift, be_uint(&r.to) >> shift);
                    cx.push(format!("{field} {op}{lo}-{hi}"), None, Some(proto));
                    return;
                }
            }
        }
        let text = format!("{} {op}{}", src.text(), range_plain(ty, be, &r.from, &r.to));
        let needs = field_needs(&src);
        cx.push(text, None, needs);
    }
}

/// `Expr::Log` as nft prints it.
pub(super) fn log_stmt(cx: &mut Ctx<'_>, l: &Log) {
    let mut s = String::from("log");
    if let Some(p) = &l.prefix {
        let _ = write!(s, " prefix {}", quote_str(p));
    }
    if let Some(g) = l.group {
        let _ = write!(s, " group {g}");
    }
    if let Some(n) = l.snaplen {
        let _ = write!(s, " snaplen {n}");
    }
    if let Some(q) = l.qthreshold {
        let _ = write!(s, " queue-threshold {q}");
    }
    if let Some(lv) = l.level {
        let names = ["emerg", "alert", "crit", "err", "warn", "notice", "info", "debug", "audit"];
        if lv != 4 {
            let _ = write!(s, " level {}", names.get(lv as usize).copied().unwrap_or("warn"));
        }
    }
    if let Some(f) = l.flags.filter(|&f| f != 0) {
        if f & 0x2f == 0x2f {
            s.push_str(" flags all");
        } else {
            let mut v = Vec::new();
            if f & 3 != 0 {
                let mut t = Vec::new();
                if f & 1 != 0 {
                    t.push("sequence");
                }
                if f & 2 != 0 {
                    t.push("options");
                }
                v.push(format!("tcp {}", t.join(",")));
            }
            if f & 4 != 0 {
                v.push("ip options".into());
            }
            if f & 8 != 0 {
                v.push("skuid".into());
            }
            if f & 0x20 != 0 {
                v.push("ether".into());
            }
            let _ = write!(s, " flags {}", v.join(" flags "));
        }
    }
    cx.push(s, None, None);
}

/// `Expr::Reject` as nft prints it.
pub(super) fn reject_stmt(cx: &mut Ctx<'_>, rj: &Reject) {
    // Which ICMP an `icmp unreach` reject sends follows the network
    // protocol: the table's, or in inet/bridge/netdev the one matched
    // before (`meta nfproto ipv6`), which the reject then implies.
    let single = matches!(cx.family, Family::Ip | Family::Ip6);
    let fam = match (cx.family, cx.net) {
        (Family::Ip6, _) | (_, Some(Proto::Ip6)) => Family::Ip6,
        _ => Family::Ip,
    };
    let text = match (rj.kind, fam) {
        (RejectType::TcpRst, _) => "reject with tcp reset".to_string(),
        (RejectType::IcmpxUnreach, _) => match rj.code {
            1 => "reject".into(),
            0 => "reject with icmpx no-route".into(),
            2 => "reject with icmpx host-unreachable".into(),
            3 => "reject with icmpx admin-prohibited".into(),
            c => format!("reject with icmpx {c}"),
        },
        (RejectType::IcmpUnreach, Family::Ip6) => match rj.code {
            4 if single => "reject".into(),
            4 => "reject with icmpv6 port-unreachable".into(),
            0 => "reject with icmpv6 no-route".into(),
            1 => "reject with icmpv6 admin-prohibited".into(),
            3 => "reject with icmpv6 addr-unreachable".into(),
            5 => "reject with icmpv6 policy-fail".into(),
            6 => "reject with icmpv6 reject-route".into(),
            c => format!("reject with icmpv6 {c}"),
        },
        (RejectType::IcmpUnreach, _) => match rj.code {
            3 if single => "reject".into(),
            3 => "reject with icmp port-unreachable".into(),
            0 => "reject with icmp net-unreachable".into(),
            1 => "reject with icmp host-unreachable".into(),
            2 => "reject with icmp prot-unreachable".into(),
            9 => "reject with icmp net-prohibited".into(),
            10 => "reject with icmp host-prohibited".into(),
            13 => "reject with icmp admin-prohibited".into(),
            c => format!("reject with icmp {c}"),
        },
    };
    // In ip and ip6 tables `reject with tcp reset` implies `meta
    // l4proto tcp`, which nft then leaves out of its listing (in
    // inet tables it keeps it).
    let needs = match rj.kind {
        RejectType::TcpRst if single => Some(Proto::Tcp),
        RejectType::IcmpUnreach if !single => Some(if fam == Family::Ip6 { Proto::Ip6 } else { Proto::Ip }),
        _ => None,
    };
    cx.push(text, None, needs);
}

/// `Expr::Nat` as nft prints it.
pub(super) fn nat_stmt(cx: &mut Ctx<'_>, n: &Nat) {
    let verb = if n.kind == NatType::Snat { "snat" } else { "dnat" };
    let fam = match (cx.family, n.family) {
        (Family::Inet, 2) => " ip",
        (Family::Inet, 10) => " ip6",
        _ => "",
    };
    let get = |r: Option<Reg>| r.and_then(|r| cx.reg(r).cloned());
    let prefix = if n.flags.is_some_and(|f| f.contains(NatFlags::NETMAP)) { " prefix" } else { "" };
    if let Some(Src::Mapped { text, concat, needs, also, .. }) = get(n.addr_min) {
        let fam = match (concat || cx.family == Family::Inet, n.family) {
            (true, 10) => " ip6",
            (true, _) => " ip",
            _ => "",
        };
        cx.push(format!("{verb}{fam}{prefix} to {text}{}", nat_flags(n.flags)), None, needs);
        cx.stmts.last_mut().expect("pushed").also = also;
        return;
    }
    let addr = |s: Option<Src>| -> Option<String> {
        match s? {
            Src::Const(v) => Some(nat_addr(n.family, &v)),
            other => Some(other.text()),
        }
    };
    let port = |s: Option<Src>| -> Option<String> {
        match s? {
            Src::Const(v) if v.len() >= 2 => Some(u16::from_be_bytes([v[0], v[1]]).to_string()),
            other => Some(other.text()),
        }
    };
    let (amin, amax) = (addr(get(n.addr_min)), addr(get(n.addr_max)));
    let (pmin, pmax) = (port(get(n.proto_min)), port(get(n.proto_max)));
    // A constant range that is one prefix prints as the prefix, as nft
    // prints it (`snat ip prefix to 10.0.0.0/24`).
    let as_prefix = match (get(n.addr_min), get(n.addr_max)) {
        (Some(Src::Const(lo)), Some(Src::Const(hi))) if lo != hi && lo.len() == hi.len() => {
            prefix_len(&lo, &hi).map(|p| format!("{}/{p}", nat_addr(n.family, &lo)))
        }
        _ => None,
    };
    let mut a = match (&amin, &amax) {
        _ if as_prefix.is_some() => as_prefix.clone().unwrap_or_default(),
        (Some(lo), Some(hi)) if lo != hi => format!("{lo}-{hi}"),
        (Some(lo), _) => lo.clone(),
        _ => String::new(),
    };
    // With a port, nft brackets an IPv6 constant (`[fd00::1]:80`) and
    // each end of an IPv6 range (`[fd00::1]-[fd00::9]:80`), not a prefix.
    if n.family == 10 && pmin.is_some() && as_prefix.is_none() {
        match (&amin, &amax) {
            (Some(lo), Some(hi)) if lo != hi => a = format!("[{lo}]-[{hi}]"),
            (Some(lo), _) if matches!(get(n.addr_min), Some(Src::Const(_))) => a = format!("[{lo}]"),
            _ => {}
        }
    }
    let p = match (&pmin, &pmax) {
        (Some(lo), Some(hi)) if lo != hi => format!(":{lo}-{hi}"),
        (Some(lo), _) => format!(":{lo}"),
        _ => String::new(),
    };
    let to = if a.is_empty() && p.is_empty() { String::new() } else { format!(" to {a}{p}") };
    let to = if to.is_empty() { to } else { format!("{prefix}{to}") };
    cx.push(format!("{verb}{fam}{to}{}", nat_flags(n.flags)), None, None);
}

/// `Expr::Masq` as nft prints it.
pub(super) fn masq_stmt(cx: &mut Ctx<'_>, m: &Masq) {
    let p = port_range(cx, m.proto_min, m.proto_max);
    cx.push(format!("masquerade{p}{}", nat_flags(m.flags)), None, None);
}

/// `Expr::Redir` as nft prints it.
pub(super) fn redir_stmt(cx: &mut Ctx<'_>, m: &Redir) {
    let p = port_range(cx, m.proto_min, m.proto_max);
    cx.push(format!("redirect{p}{}", nat_flags(m.flags)), None, None);
}

/// `Expr::Dynset` as nft prints it.
pub(super) fn dynset_stmt(cx: &mut Ctx<'_>, d: &Dynset) {
    let op = match d.op {
        DynsetOp::Add => "add",
        DynsetOp::Update => "update",
        DynsetOp::Delete => "delete",
    };
    let key_len = cx.sets.get(d.set.as_str()).map(|s| s.set.key_len).unwrap_or(4);
    let srcs = cx.sources(d.sreg_key, key_len);
    let needs = srcs.iter().find_map(field_needs);
    let mut inner = srcs.iter().map(Src::text).collect::<Vec<_>>().join(" . ");
    if let Some(t) = d.timeout_ms {
        let _ = write!(inner, " timeout {}", duration(Duration::from_millis(t)));
    }
    for x in &d.exprs {
        match x {
            Expr::Counter(c) => {
                let _ = write!(inner, " counter packets {} bytes {}", c.packets, c.bytes);
            }
            Expr::Limit(l) => {
                let _ = write!(inner, " limit {}", limit_str(l));
            }
            _ => {}
        }
    }
    if let Some(r) = d.sreg_data {
        let dl = cx.sets.get(d.set.as_str()).map(|s| s.set.data_len).unwrap_or(4);
        let data = cx.sources(r, dl).iter().map(Src::text).collect::<Vec<_>>().join(" . ");
        let _ = write!(inner, " : {data}");
    }
    cx.push(format!("{op} @{} {{ {inner} }}", quote_name(&d.set)), None, needs);
}

/// `Expr::Objref` as nft prints it.
pub(super) fn objref_stmt(cx: &mut Ctx<'_>, o: &Objref) {
    match o {
        Objref::Named { kind, name } => {
            let k = match kind {
                1 => "counter",
                2 => "quota",
                3 => "ct helper set",
                4 => "limit",
                7 => "ct timeout set",
                9 => "ct expectation set",
                k => {
                    cx.unrenderable(format!("reference to object {name} of type {k}"));
                    return;
                }
            };
            if matches!(kind, 3 | 7 | 9) {
                cx.push(format!("{k} {}", quote_str(name)), None, None);
            } else {
                cx.push(format!("{k} name {}", quote_str(name)), None, None);
            }
        }
        Objref::Map { sreg, set, .. } => {
            let kl = cx.sets.get(set.as_str()).map(|s| s.set.key_len).unwrap_or(4);
            let srcs = cx.sources(*sreg, kl);
            let key = srcs.iter().map(Src::text).collect::<Vec<_>>().join(" . ");
            // The key implies its protocol (`tcp dport map`), as for a match.
            let needs = srcs.first().and_then(field_needs);
            let kind = match cx.sets.get(set.as_str()).and_then(|s| s.set.obj_type) {
                Some(2) => "quota",
                Some(4) => "limit",
                Some(3) => "ct helper set",
                Some(7) => "ct timeout set",
                Some(9) => "ct expectation set",
                Some(1) => "counter",
                t => {
                    cx.unrenderable(format!("object map {set} of object type {t:?}"));
                    return;
                }
            };
            let r = cx.set_ref(set);
            let name = if kind.starts_with("ct ") { "" } else { " name" };
            cx.push(format!("{kind}{name} {key} map {r}"), None, needs);
        }
    }
}

/// `Expr::Exthdr` as nft prints it: a load names the field (`tcp option
/// maxseg size`, `frag id`, `exthdr hbh` for a presence test), a write
/// is `... set VALUE`, a removal `reset tcp option NAME`.
pub(super) fn exthdr_stmt(cx: &mut Ctx<'_>, x: &Exthdr) {
    let field = exthdr_field(x);
    match (x.dreg, x.sreg) {
        (Some(d), None) => match field {
            Some((name, ty, proto)) => {
                let len = x.len.unwrap_or(1);
                cx.set_reg(d, Src::Field { name, ty, be: true, len, full: len, proto: Some(proto) });
            }
            None => {
                cx.unrenderable(format!("exthdr load of type {} op {:?}", x.ty, x.op()));
                cx.regs.remove(&d.slot());
            }
        },
        (None, Some(s)) => match field {
            Some((name, ty, proto)) if !x.is_present_test() => {
                let rhs = cx.rhs(s, ty, true);
                cx.push(format!("{name} set {rhs}"), None, Some(proto));
            }
            _ => cx.unrenderable(format!("exthdr write of type {} op {:?}", x.ty, x.op())),
        },
        (None, None) if x.op() == ExthdrOp::TcpOpt => {
            let name = exthdr_template(ExthdrOp::TcpOpt, x.ty)
                .map(|(n, _)| n.to_string())
                .unwrap_or_else(|| x.ty.to_string());
            cx.push(format!("reset tcp option {name}"), None, Some(Proto::Tcp));
        }
        _ => cx.unrenderable(format!("exthdr of type {} op {:?}", x.ty, x.op())),
    }
}

/// `Expr::Rt` as nft prints it: `rt classid`, `rt ip nexthop`, `rt ip6
/// nexthop`, `rt mtu`, `rt ipsec`.
pub(super) fn rt_stmt(cx: &mut Ctx<'_>, r: &Rt) {
    let (name, ty, len, be, needs) = match r.key {
        0 => ("rt classid", DataType::REALM, 4, false, None),
        1 => ("rt ip nexthop", DataType::IPV4_ADDR, 4, true, Some(Proto::Ip)),
        2 => ("rt ip6 nexthop", DataType::IPV6_ADDR, 16, true, Some(Proto::Ip6)),
        3 => ("rt mtu", DataType::INTEGER, 2, false, None),
        4 => ("rt ipsec", DataType::BOOLEAN, 1, false, None),
        k => {
            cx.unrenderable(format!("rt key {k}"));
            cx.regs.remove(&r.dreg.slot());
            return;
        }
    };
    // In an inet table `rt ip nexthop` implies `meta nfproto ipv4`.
    // nft keeps the `meta nfproto` before `rt ip nexthop`: not a
    // dependency the field implies.
    let _ = needs;
    cx.set_reg(r.dreg, Src::Expr { name: name.into(), ty, be, len, needs: None });
}

/// `Expr::Socket` as nft prints it: `socket transparent`, `socket mark`,
/// `socket wildcard`.
pub(super) fn socket_stmt(cx: &mut Ctx<'_>, k: &Socket) {
    let (name, ty, len) = match k.key {
        0 => ("socket transparent", DataType::INTEGER, 1),
        1 => ("socket mark", DataType::MARK, 4),
        2 => ("socket wildcard", DataType::INTEGER, 1),
        key => {
            cx.unrenderable(format!("socket key {key}"));
            cx.regs.remove(&k.dreg.slot());
            return;
        }
    };
    cx.set_reg(k.dreg, Src::Expr { name: name.into(), ty, be: false, len, needs: None });
}

/// `Expr::Synproxy` as nft prints it: `synproxy mss 1460 wscale 7
/// timestamp sack-perm`.
pub(super) fn synproxy_stmt(cx: &mut Ctx<'_>, p: &Synproxy) {
    let flags = p.flags.unwrap_or(0);
    let mut s = String::from("synproxy");
    if let (Some(m), true) = (p.mss, flags & 1 != 0) {
        let _ = write!(s, " mss {m}");
    }
    if let (Some(w), true) = (p.wscale, flags & 2 != 0) {
        let _ = write!(s, " wscale {w}");
    }
    if flags & SYNPROXY_TIMESTAMP != 0 {
        s.push_str(" timestamp");
    }
    if flags & SYNPROXY_SACK_PERM != 0 {
        s.push_str(" sack-perm");
    }
    cx.push(s, None, None);
}
