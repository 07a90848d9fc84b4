//! Printers for `tproxy`, `dup`, `fwd`, `queue`, `ipsec` (xfrm), `osf`
//! and `ct expectation` objects, as nft 1.0.6 prints them.

use std::fmt::Write as _;

use super::*;

/// The text of register `r` as a value of type `ty`, and whether it is
/// a constant (nft brackets constant IPv6 addresses and prints only
/// constant tproxy ports).
fn operand(cx: &mut Ctx<'_>, r: Reg, ty: DataType, be: bool) -> (String, bool) {
    let is_const = matches!(cx.reg(r), Some(Src::Const(_)));
    (cx.rhs(r, ty, be), is_const)
}

fn family_addr_type(nfproto: u32) -> Option<(&'static str, DataType)> {
    match nfproto {
        2 => Some(("ip", DataType::IPV4_ADDR)),
        10 => Some(("ip6", DataType::IPV6_ADDR)),
        _ => None,
    }
}

/// `Expr::Tproxy`: `tproxy [ip|ip6] to [ADDR][:PORT]` (the family printed
/// only in inet tables, an IPv6 constant in brackets).
pub(super) fn tproxy_stmt(cx: &mut Ctx<'_>, t: &Tproxy) {
    let family = t.family.unwrap_or(0);
    let mut s = String::from("tproxy");
    if cx.family == Family::Inet && family != 0 {
        match family_addr_type(family) {
            Some((name, _)) => {
                let _ = write!(s, " {name}");
            }
            None => return cx.unrenderable(format!("tproxy of family {family}")),
        }
    }
    s.push_str(" to");
    if let Some(r) = t.addr {
        let Some((_, ty)) = family_addr_type(family) else {
            return cx.unrenderable(format!("tproxy address of family {family}"));
        };
        let (text, is_const) = operand(cx, r, ty, true);
        if is_const && ty == DataType::IPV6_ADDR {
            let _ = write!(s, " [{text}]");
        } else {
            let _ = write!(s, " {text}");
        }
    }
    if let Some(r) = t.port {
        let (text, is_const) = operand(cx, r, DataType::INET_SERVICE, true);
        // nft prints a port only when it is a constant: anything else
        // would load as a tproxy without a port.
        if !is_const {
            return cx.unrenderable("tproxy port that is not a constant".into());
        }
        if t.addr.is_none() {
            s.push(' ');
        }
        let _ = write!(s, ":{text}");
    }
    if t.addr.is_none() && t.port.is_none() {
        return cx.unrenderable("tproxy without address or port".into());
    }
    cx.push_barrier(s);
}

/// `Expr::Dup`: `dup to ADDR [device DEV]`, or `dup to DEV` (netdev).
pub(super) fn dup_stmt(cx: &mut Ctx<'_>, d: &Dup) {
    let mut s = String::from("dup");
    match (d.addr, d.dev) {
        (Some(a), dev) => {
            let ty = match cx.family {
                Family::Ip => DataType::IPV4_ADDR,
                Family::Ip6 => DataType::IPV6_ADDR,
                f => return cx.unrenderable(format!("dup to an address in a {f:?} table")),
            };
            let (to, _) = operand(cx, a, ty, true);
            let _ = write!(s, " to {to}");
            if let Some(r) = dev {
                let (dev, _) = operand(cx, r, DataType::IFINDEX, false);
                let _ = write!(s, " device {dev}");
            }
        }
        (None, Some(r)) => {
            let (dev, _) = operand(cx, r, DataType::IFINDEX, false);
            let _ = write!(s, " to {dev}");
        }
        (None, None) => {}
    }
    cx.push_barrier(s);
}

/// `Expr::Fwd`: `fwd to DEV`, or `fwd ip|ip6 to ADDR device DEV`.
pub(super) fn fwd_stmt(cx: &mut Ctx<'_>, f: &Fwd) {
    let Some(dev) = f.dev else {
        return cx.unrenderable("fwd without a device".into());
    };
    let (dev, _) = operand(cx, dev, DataType::IFINDEX, false);
    let s = match f.addr {
        None => format!("fwd to {dev}"),
        Some(a) => {
            let Some((name, ty)) = family_addr_type(f.nfproto.unwrap_or(0)) else {
                return cx.unrenderable(format!("fwd to an address of family {:?}", f.nfproto));
            };
            let (to, _) = operand(cx, a, ty, true);
            format!("fwd {name} to {to} device {dev}")
        }
    };
    cx.push_barrier(s);
}

/// `Expr::Queue`: `queue [flags bypass,fanout] to N[-M]` or `queue to
/// EXPR` (a hash or numgen computing the queue number).
pub(super) fn queue_stmt(cx: &mut Ctx<'_>, q: &Queue) {
    let flags = q.flags.unwrap_or(0);
    if flags & !(QUEUE_FLAG_BYPASS | QUEUE_FLAG_CPU_FANOUT) != 0 {
        return cx.unrenderable(format!("queue flags {flags:#x}"));
    }
    let mut s = String::from("queue");
    let mut names = Vec::new();
    if flags & QUEUE_FLAG_BYPASS != 0 {
        names.push("bypass");
    }
    if flags & QUEUE_FLAG_CPU_FANOUT != 0 {
        names.push("fanout");
    }
    if !names.is_empty() {
        let _ = write!(s, " flags {}", names.join(","));
    }
    let to = match q.sreg_qnum {
        Some(r) => cx.rhs(r, DataType::INTEGER, false),
        None => {
            let num = q.num.unwrap_or(0);
            let total = q.total.unwrap_or(1);
            if total > 1 {
                let last = u32::from(num) + u32::from(total) - 1;
                if last > 65535 {
                    return cx.unrenderable(format!("queue range {num} + {total}"));
                }
                format!("{num}-{last}")
            } else {
                num.to_string()
            }
        }
    };
    let _ = write!(s, " to {to}");
    cx.push_barrier(s);
}

/// `Expr::Xfrm`: a load printed as `ipsec in|out [spnum N] [ip|ip6]
/// KEY`, compared by the match that follows.
pub(super) fn xfrm_stmt(cx: &mut Ctx<'_>, x: &Xfrm) {
    let dir = match x.dir {
        0 => "in",
        1 => "out",
        d => {
            cx.unrenderable(format!("ipsec direction {d}"));
            cx.regs.remove(&x.dreg.slot());
            return;
        }
    };
    let (key, ty, be, len) = match x.key {
        1 => ("ip daddr", DataType::IPV4_ADDR, true, 4),
        2 => ("ip6 daddr", DataType::IPV6_ADDR, true, 16),
        3 => ("ip saddr", DataType::IPV4_ADDR, true, 4),
        4 => ("ip6 saddr", DataType::IPV6_ADDR, true, 16),
        5 => ("reqid", DataType::INTEGER, false, 4),
        6 => ("spi", DataType::INTEGER, true, 4),
        k => {
            cx.unrenderable(format!("ipsec key {k}"));
            cx.regs.remove(&x.dreg.slot());
            return;
        }
    };
    let spnum = match x.spnum.unwrap_or(0) {
        0 => String::new(),
        n => format!(" spnum {n}"),
    };
    let name = format!("ipsec {dir}{spnum} {key}");
    cx.set_reg(x.dreg, Src::Expr { name, ty, be, len, needs: None });
}

/// `Expr::Osf`: a load printed as `osf [ttl loose|skip] name|version`,
/// compared by the match that follows.
pub(super) fn osf_stmt(cx: &mut Ctx<'_>, o: &Osf) {
    let ttl = match o.ttl.unwrap_or(0) {
        0 => "",
        1 => "ttl loose ",
        2 => "ttl skip ",
        t => {
            cx.unrenderable(format!("osf ttl {t}"));
            cx.regs.remove(&o.dreg.slot());
            return;
        }
    };
    let what = match o.flags {
        0 => "name",
        OSF_F_VERSION => "version",
        f => {
            cx.unrenderable(format!("osf flags {f:#x}"));
            cx.regs.remove(&o.dreg.slot());
            return;
        }
    };
    let name = format!("osf {ttl}{what}");
    cx.set_reg(o.dreg, Src::Expr { name, ty: DataType::STRING, be: false, len: 16, needs: None });
}

/// The body of a `ct expectation` object, as nft prints it.
pub(super) fn ct_expect_body(out: &mut String, e: &CtExpect) {
    let p = proto_name(e.l4proto).map(str::to_string).unwrap_or_else(|| e.l4proto.to_string());
    let _ = writeln!(out, "\t\tprotocol {p}");
    let _ = writeln!(out, "\t\tdport {}", e.dport);
    let _ = writeln!(out, "\t\ttimeout {}", duration(std::time::Duration::from_millis(e.timeout_ms.into())));
    let _ = writeln!(out, "\t\tsize {}", e.size);
    let l3 = match e.l3proto {
        2 => "ip",
        10 => "ip6",
        1 => "inet",
        7 => "bridge",
        _ => "unknown",
    };
    let _ = writeln!(out, "\t\tl3proto {l3}");
}

/// Map data that is a range per field (NAT maps: `192.168.2.2-192.168.2.4`,
/// `10.0.0.0/24 . 8888-8999`): the start of every field, then the end.
/// `None` unless the data holds exactly twice the type's length and nft
/// recorded the data as an interval in the set's userdata.
pub(super) fn interval_data(set: &Set, dt: &KeyType, v: &[u8]) -> Option<String> {
    let n = dt.len() as usize;
    if n == 0 || v.len() != 2 * n {
        return None;
    }
    let u = set.userdata_bytes();
    let flag =
        crate::nft::types::udata_iter(&u).find(|(t, _)| *t == crate::nft::consts::UDATA_SET_DATA_INTERVAL)?.1;
    if u32::from_ne_bytes(flag.try_into().ok()?) != 1 {
        return None;
    }
    let (lo, hi) = v.split_at(n);
    let parts = dt
        .fields
        .iter()
        .zip(dt.field_spans())
        .enumerate()
        .map(|(i, (t, (off, len)))| {
            let be =
                if dt.is_concat() { concat_be(i, *t) } else { set_be(set, true).unwrap_or(t.big_endian()) };
            range_str_be(*t, be, &lo[off..off + len], &hi[off..off + len])
        })
        .collect::<Vec<_>>();
    Some(parts.join(" . "))
}
