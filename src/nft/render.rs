//! Rendering in `nft` syntax, the way `nft list ruleset` prints, so that
//! `nft -f` accepts the output.
//!
//! Rules are turned back into statements the way `nft` does it: register
//! loads are tracked, a load followed by a comparison becomes a match
//! (`ip daddr 10.0.0.1`), protocol dependencies that a later match implies
//! are left out (`meta l4proto tcp tcp dport 80` prints as `tcp dport 80`),
//! anonymous sets are printed inline, and values print according to their
//! type (addresses, ports, marks, conntrack states...).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::expr::*;
use super::set::{merge_intervals, SetFlags};
use super::{
    BaseChain, Chain, DataType, Element, Family, Hook, KeyType, Object, ObjectKind, Policy, Rule, Ruleset,
    Set, SetWithElements, Table,
};

/// A name as `nft` prints it (no quoting: nft 1.0.6 prints names bare).
pub fn quote_name(s: &str) -> String {
    s.to_string()
}

fn quote_str(s: &str) -> String {
    format!("\"{}\"", s)
}

/// A duration as `nft` prints it: `1d2h3m4s5ms`.
pub fn duration(d: Duration) -> String {
    let mut ms = d.as_millis() as u64;
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, name) in [(86_400_000u64, "d"), (3_600_000, "h"), (60_000, "m"), (1000, "s"), (1, "ms")] {
        let n = ms / unit;
        if n > 0 {
            let _ = write!(out, "{n}{name}");
            ms -= n * unit;
        }
    }
    out
}

fn le_uint(b: &[u8]) -> u64 {
    let mut v = 0u64;
    for (i, x) in b.iter().take(8).enumerate() {
        v |= (*x as u64) << (8 * i);
    }
    v
}

fn be_uint(b: &[u8]) -> u64 {
    b.iter().take(8).fold(0u64, |acc, x| (acc << 8) | *x as u64)
}

fn proto_name(p: u8) -> Option<&'static str> {
    Some(match p {
        1 => "icmp",
        2 => "igmp",
        6 => "tcp",
        17 => "udp",
        33 => "dccp",
        41 => "ipv6",
        47 => "gre",
        50 => "esp",
        51 => "ah",
        58 => "ipv6-icmp",
        132 => "sctp",
        136 => "udplite",
        _ => return None,
    })
}

fn flag_names(v: u64, names: &[(u64, &str)]) -> String {
    let mut parts = Vec::new();
    let mut rest = v;
    for (bit, n) in names {
        if v & bit != 0 {
            parts.push(n.to_string());
            rest &= !bit;
        }
    }
    if rest != 0 || parts.is_empty() {
        parts.push(format!("{rest:#x}"));
    }
    parts.join(",")
}

const CT_STATES: &[(u64, &str)] =
    &[(1, "invalid"), (2, "established"), (4, "related"), (8, "new"), (64, "untracked")];
const CT_STATUS: &[(u64, &str)] = &[
    (1, "expected"),
    (2, "seen-reply"),
    (4, "assured"),
    (8, "confirmed"),
    (0x10, "snat"),
    (0x20, "dnat"),
    (0x200, "dying"),
];
const TCP_FLAGS: &[(u64, &str)] = &[
    (1, "fin"),
    (2, "syn"),
    (4, "rst"),
    (8, "psh"),
    (0x10, "ack"),
    (0x20, "urg"),
    (0x40, "ecn"),
    (0x80, "cwr"),
];

fn icmp_type(t: u8) -> Option<&'static str> {
    Some(match t {
        0 => "echo-reply",
        3 => "destination-unreachable",
        4 => "source-quench",
        5 => "redirect",
        8 => "echo-request",
        9 => "router-advertisement",
        10 => "router-solicitation",
        11 => "time-exceeded",
        12 => "parameter-problem",
        13 => "timestamp-request",
        14 => "timestamp-reply",
        15 => "info-request",
        16 => "info-reply",
        17 => "address-mask-request",
        18 => "address-mask-reply",
        _ => return None,
    })
}

fn icmp6_type(t: u8) -> Option<&'static str> {
    Some(match t {
        1 => "destination-unreachable",
        2 => "packet-too-big",
        3 => "time-exceeded",
        4 => "parameter-problem",
        128 => "echo-request",
        129 => "echo-reply",
        130 => "mld-listener-query",
        131 => "mld-listener-report",
        132 => "mld-listener-done",
        133 => "nd-router-solicit",
        134 => "nd-router-advert",
        135 => "nd-neighbor-solicit",
        136 => "nd-neighbor-advert",
        137 => "nd-redirect",
        138 => "router-renumbering",
        141 => "ind-neighbor-solicit",
        142 => "ind-neighbor-advert",
        143 => "mld2-listener-report",
        _ => return None,
    })
}

/// Format one value of type `t` (bytes as in a register); `be` says the
/// byte order for plain integers.
pub fn value(t: DataType, b: &[u8], be: bool) -> String {
    let int = |b: &[u8]| if be { be_uint(b) } else { le_uint(b) };
    match t {
        DataType::IPV4_ADDR if b.len() == 4 => Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string(),
        DataType::IPV6_ADDR if b.len() == 16 => {
            Ipv6Addr::from(<[u8; 16]>::try_from(b).expect("16 bytes")).to_string()
        }
        DataType::ETHER_ADDR | DataType::LLADDR => {
            b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(":")
        }
        DataType::INET_PROTO if b.len() == 1 => {
            proto_name(b[0]).map(str::to_string).unwrap_or_else(|| b[0].to_string())
        }
        DataType::INET_SERVICE if b.len() == 2 => u16::from_be_bytes([b[0], b[1]]).to_string(),
        DataType::MARK => format!("0x{:08x}", le_uint(b)),
        DataType::CT_STATE => flag_names(le_uint(b), CT_STATES),
        DataType::CT_STATUS => flag_names(le_uint(b), CT_STATUS),
        DataType::CT_DIR => match b.first() {
            Some(0) => "original".into(),
            Some(1) => "reply".into(),
            _ => int(b).to_string(),
        },
        DataType::NFPROTO => match b.first() {
            Some(2) => "ipv4".into(),
            Some(10) => "ipv6".into(),
            _ => int(b).to_string(),
        },
        DataType::ETHER_TYPE if b.len() == 2 => match u16::from_be_bytes([b[0], b[1]]) {
            0x0800 => "ip".into(),
            0x0806 => "arp".into(),
            0x86dd => "ip6".into(),
            0x8100 => "8021q".into(),
            0x88a8 => "8021ad".into(),
            v => format!("0x{v:04x}"),
        },
        DataType::ARP_OP if b.len() == 2 => match u16::from_be_bytes([b[0], b[1]]) {
            1 => "request".into(),
            2 => "reply".into(),
            3 => "rrequest".into(),
            4 => "rreply".into(),
            8 => "inrequest".into(),
            9 => "inreply".into(),
            10 => "nak".into(),
            v => v.to_string(),
        },
        DataType::ARPHRD if b.len() == 2 => match u16::from_ne_bytes([b[0], b[1]]) {
            1 => "ether".into(),
            772 => "loopback".into(),
            v => v.to_string(),
        },
        DataType::PKTTYPE => match b.first() {
            Some(0) => "host".into(),
            Some(1) => "broadcast".into(),
            Some(2) => "multicast".into(),
            Some(3) => "other".into(),
            _ => int(b).to_string(),
        },
        DataType::IFNAME | DataType::STRING => {
            match b.iter().position(|&x| x == 0) {
                Some(end) => quote_str(&String::from_utf8_lossy(&b[..end])),
                // No terminating NUL: a prefix match (`"eth*"`).
                None => quote_str(&format!("{}*", String::from_utf8_lossy(b))),
            }
        }
        DataType::ICMP_TYPE if b.len() == 1 => {
            icmp_type(b[0]).map(str::to_string).unwrap_or_else(|| b[0].to_string())
        }
        DataType::ICMP6_TYPE if b.len() == 1 => {
            icmp6_type(b[0]).map(str::to_string).unwrap_or_else(|| b[0].to_string())
        }
        DataType::TCP_FLAG => flag_names(int(b), TCP_FLAGS),
        DataType::BOOLEAN => {
            if int(b) != 0 {
                "exists".into()
            } else {
                "missing".into()
            }
        }
        DataType::FIB_ADDR => match le_uint(b) {
            0 => "unspec".into(),
            1 => "unicast".into(),
            2 => "local".into(),
            3 => "broadcast".into(),
            4 => "anycast".into(),
            5 => "multicast".into(),
            6 => "blackhole".into(),
            7 => "unreachable".into(),
            8 => "prohibit".into(),
            v => v.to_string(),
        },
        DataType::TIME => duration(Duration::from_millis(le_uint(b))),
        _ => {
            if b.len() <= 8 {
                int(b).to_string()
            } else {
                format!("0x{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>())
            }
        }
    }
}

/// Format a key of `kt` (a concatenation prints as `a . b . c`).
pub fn key(kt: &KeyType, b: &[u8]) -> String {
    kt.fields
        .iter()
        .zip(kt.field_spans())
        .map(|(t, (off, len))| {
            let part = b.get(off..(off + len).min(b.len())).unwrap_or(&[]);
            value(*t, part, t.big_endian())
        })
        .collect::<Vec<_>>()
        .join(" . ")
}

/// A range or prefix of `t` as nft prints it: `10.0.0.0/8`, `80-90`, or a
/// single value.
fn range_str(t: DataType, lo: &[u8], hi: &[u8]) -> String {
    if lo == hi {
        return value(t, lo, t.big_endian());
    }
    if matches!(t, DataType::IPV4_ADDR | DataType::IPV6_ADDR) {
        if let Some(p) = prefix_len(lo, hi) {
            return format!("{}/{}", value(t, lo, true), p);
        }
    }
    format!("{}-{}", value(t, lo, t.big_endian()), value(t, hi, t.big_endian()))
}

/// The prefix length if `lo`..`hi` is exactly one prefix.
fn prefix_len(lo: &[u8], hi: &[u8]) -> Option<usize> {
    let bits = lo.len() * 8;
    let mut p = bits;
    for i in (0..bits).rev() {
        let (byte, bit) = (i / 8, 7 - i % 8);
        let l = lo[byte] >> bit & 1;
        let h = hi[byte] >> bit & 1;
        if l == 0 && h == 1 {
            p = i;
        } else {
            break;
        }
    }
    let host = bits - p;
    let _ = host;
    // Everything above p must match.
    for i in 0..p {
        let (byte, bit) = (i / 8, 7 - i % 8);
        if (lo[byte] >> bit & 1) != (hi[byte] >> bit & 1) {
            return None;
        }
    }
    Some(p)
}

fn element_key(set: &Set, e: &Element) -> String {
    match &e.key_end {
        Some(end) if set.flags.contains(SetFlags::INTERVAL) => {
            if set.key.is_concat() {
                set.key
                    .fields
                    .iter()
                    .zip(set.key.field_spans())
                    .map(|(t, (off, len))| {
                        let lo = e.key.get(off..off + len).unwrap_or(&[]);
                        let hi = end.get(off..off + len).unwrap_or(&[]);
                        range_str(*t, lo, hi)
                    })
                    .collect::<Vec<_>>()
                    .join(" . ")
            } else {
                range_str(set.key.fields[0], &e.key, end)
            }
        }
        _ => key(&set.key, &e.key),
    }
}

fn element_str(set: &Set, e: &Element, with_expires: bool) -> String {
    let mut s = element_key(set, e);
    if let Some(t) = e.timeout {
        if set.timeout != Some(t) {
            let _ = write!(s, " timeout {}", duration(t));
        }
    }
    if with_expires {
        if let Some(x) = e.expiration {
            let _ = write!(s, " expires {}", duration(x));
        }
    }
    for x in &e.exprs {
        if let Expr::Counter(c) = x {
            let _ = write!(s, " counter packets {} bytes {}", c.packets, c.bytes);
        }
    }
    if let Some(c) = &e.comment {
        let _ = write!(s, " comment {}", quote_str(c));
    }
    match (&e.data, &e.objref) {
        (Some(Data::Verdict(v)), _) => {
            let _ = write!(s, " : {v}");
        }
        (Some(Data::Value(v)), _) => {
            let dt = set.data.clone().unwrap_or(KeyType::single(DataType::INTEGER));
            let _ = write!(s, " : {}", key(&dt, v));
        }
        (None, Some(o)) => {
            let _ = write!(s, " : {}", quote_str(o));
        }
        _ => {}
    }
    s
}

/// Elements in the order `nft` prints them (sorted as nft sorts, ranges
/// of plain interval sets merged).
fn printable_elements(sw: &SetWithElements) -> Vec<Element> {
    let set = &sw.set;
    let mut elems: Vec<Element> = if set.flags.contains(SetFlags::INTERVAL) && !set.key.is_concat() {
        merge_intervals(sw.elements.clone())
    } else {
        sw.elements.clone()
    };
    // nft sorts by the key's numeric value: a plain key in its own byte
    // order; a concatenation as its unpadded bytes read little-endian.
    let sort_key = |e: &Element| -> Vec<u8> {
        if set.key.is_concat() {
            let mut v = Vec::new();
            for (off, len) in set.key.field_spans() {
                let lo = e.key.get(off..off + len).unwrap_or(&[]);
                let hi = e.key_end.as_ref().and_then(|k| k.get(off..off + len)).unwrap_or(lo);
                // A range or prefix has no single value: nft sorts it as 0.
                if lo == hi {
                    v.extend_from_slice(lo);
                } else {
                    v.resize(v.len() + len, 0);
                }
            }
            v.reverse();
            v
        } else if set.key.fields[0].big_endian() {
            e.key.clone()
        } else {
            e.key.iter().rev().copied().collect()
        }
    };
    elems.sort_by_cached_key(sort_key);
    elems
}

/// Elements `{ a, b, ... }` with nft's line breaking for named sets.
fn elements_block(sw: &SetWithElements, anonymous: bool, with_expires: bool) -> String {
    let set = &sw.set;
    let elems = printable_elements(sw);
    let per_line = if anonymous {
        usize::MAX
    } else if set.key.is_concat() {
        1
    } else {
        match set.key.fields[0] {
            DataType::NFPROTO
            | DataType::INTEGER
            | DataType::ARP_OP
            | DataType::INET_PROTO
            | DataType::INET_SERVICE
            | DataType::TCP_FLAG
            | DataType::MARK
            | DataType::IFINDEX
            | DataType::CLASSID
            | DataType::UID
            | DataType::GID
            | DataType::CT_DIR => 5,
            DataType::IPV4_ADDR | DataType::CT_STATE | DataType::CT_STATUS | DataType::PKTTYPE => 2,
            _ => 1,
        }
    };
    let mut out = String::from("{ ");
    let mut count = 0;
    for (i, e) in elems.iter().enumerate() {
        if i > 0 {
            if count < per_line {
                out.push_str(", ");
            } else {
                out.push_str(",\n\t\t\t     ");
                count = 0;
            }
        }
        out.push_str(&element_str(set, e, with_expires));
        count += 1;
    }
    out.push_str(" }");
    out
}

fn priority_str(family: Family, hook: Hook, p: i32) -> String {
    let names: &[(&str, i32)] = if family == Family::Bridge {
        &[("dstnat", -300), ("filter", -200), ("out", 100), ("srcnat", 300)]
    } else {
        &[("raw", -300), ("mangle", -150), ("dstnat", -100), ("filter", 0), ("security", 50), ("srcnat", 100)]
    };
    let allowed = |n: &str| match n {
        "dstnat" => hook == Hook::Prerouting || family == Family::Bridge,
        "srcnat" => hook == Hook::Postrouting || family == Family::Bridge,
        "out" => hook == Hook::Output,
        _ => {
            matches!(family, Family::Ip | Family::Ip6 | Family::Inet | Family::Bridge)
                || (family == Family::Netdev && n == "filter")
                || (family == Family::Arp && n == "filter")
        }
    };
    for (n, v) in names {
        if !allowed(n) {
            continue;
        }
        let d = p - v;
        if d == 0 {
            return n.to_string();
        }
        if d.abs() <= 10 {
            return if d > 0 { format!("{n} + {d}") } else { format!("{n} - {}", -d) };
        }
    }
    p.to_string()
}

fn chain_header(c: &Chain, b: &BaseChain) -> String {
    let mut s = format!("type {} hook {}", b.kind.name(), b.hook.name());
    match b.devices.as_slice() {
        [] => {}
        [d] => {
            let _ = write!(s, " device {}", quote_str(d));
        }
        ds => {
            let _ = write!(s, " devices = {{ {} }}", ds.join(", "));
        }
    }
    let _ = write!(s, " priority {};", priority_str(c.family, b.hook, b.priority));
    let pol = match b.policy.unwrap_or(Policy::Accept) {
        Policy::Accept => "accept",
        Policy::Drop => "drop",
    };
    let _ = write!(s, " policy {pol};");
    s
}

fn set_block(out: &mut String, sw: &SetWithElements, with_expires: bool) {
    let s = &sw.set;
    let kind = if s.data.is_some() || s.obj_type.is_some() { "map" } else { "set" };
    let _ = writeln!(out, "\t{kind} {} {{", quote_name(&s.name));
    // A key declared `typeof numgen ...` (a numgen verdict map): nft cannot
    // read it back as `type integer`.
    let numgen = s.key_typeof_numgen().filter(|_| s.key.fields == [DataType::INTEGER]);
    let typeof_ = numgen.is_some();
    let mut ty = match &numgen {
        Some(n) => {
            let kind = if n.kind == NumgenType::Random { "random" } else { "inc" };
            let mut t = format!("numgen {kind} mod {}", n.modulus);
            if n.offset != 0 {
                let _ = write!(t, " offset {}", n.offset);
            }
            t
        }
        None => s.key.nft_name(),
    };
    if let Some(d) = &s.data {
        // `typeof numgen ... : ip daddr . tcp dport` (Set::numgen_map).
        let names = s.data_typeof_fields().filter(|n| typeof_ && n.len() == d.fields.len());
        match names {
            Some(n) => {
                let _ = write!(ty, " : {}", n.join(" . "));
            }
            None => {
                let _ = write!(ty, " : {}", d.nft_name());
            }
        }
    }
    if let Some(o) = s.obj_type {
        let n = match o {
            1 => "counter",
            2 => "quota",
            3 => "ct helper",
            4 => "limit",
            7 => "ct timeout",
            _ => "object",
        };
        let _ = write!(ty, " : {n}");
    }
    let _ = writeln!(out, "\t\t{} {ty}", if typeof_ { "typeof" } else { "type" });
    if s.policy_memory == Some(true) {
        out.push_str("\t\tpolicy memory\n");
    }
    // nft sizes constant sets itself and does not print it.
    if let Some(n) = s.size.filter(|_| !s.flags.contains(SetFlags::CONSTANT)) {
        let _ = writeln!(out, "\t\tsize {n}");
    }
    let mut flags = Vec::new();
    for (f, n) in [
        (SetFlags::CONSTANT, "constant"),
        (SetFlags::EVAL, "dynamic"),
        (SetFlags::INTERVAL, "interval"),
        (SetFlags::TIMEOUT, "timeout"),
    ] {
        if s.flags.contains(f) {
            flags.push(n);
        }
    }
    if !flags.is_empty() {
        let _ = writeln!(out, "\t\tflags {}", flags.join(","));
    }
    if let Some(t) = s.timeout {
        let _ = writeln!(out, "\t\ttimeout {}", duration(t));
    }
    if let Some(t) = s.gc_interval {
        let _ = writeln!(out, "\t\tgc-interval {}", duration(t));
    }
    for e in &s.exprs {
        if let Expr::Counter(_) = e {
            out.push_str("\t\tcounter\n");
        }
    }
    if let Some(c) = &s.comment {
        let _ = writeln!(out, "\t\tcomment {}", quote_str(c));
    }
    if !sw.elements.is_empty() {
        let _ = writeln!(out, "\t\telements = {}", elements_block(sw, false, with_expires));
    }
    out.push_str("\t}\n");
}

fn bytes_unit(v: u64) -> String {
    let mut v = v;
    let mut unit = 0;
    while v >= 1024 && v % 1024 == 0 && unit < 3 {
        v /= 1024;
        unit += 1;
    }
    format!("{v} {}", ["bytes", "kbytes", "mbytes", "gbytes"][unit])
}

fn limit_str(l: &Limit) -> String {
    let unit = l.unit.name().unwrap_or("second");
    let over = if l.over { "over " } else { "" };
    match l.kind {
        LimitType::Packets => {
            let mut s = format!("rate {over}{}/{unit}", l.rate);
            if l.burst != 0 && l.burst != 5 {
                let _ = write!(s, " burst {} packets", l.burst);
            }
            s
        }
        LimitType::Bytes => {
            let mut s = format!("rate {over}{}/{unit}", bytes_unit(l.rate));
            if l.burst != 0 {
                let _ = write!(s, " burst {}", bytes_unit(l.burst as u64));
            }
            s
        }
    }
}

fn quota_str(q: &Quota) -> String {
    let mut s = format!("{}{}", if q.over { "over " } else { "" }, bytes_unit(q.bytes));
    if q.consumed > 0 {
        let _ = write!(s, " used {}", bytes_unit(q.consumed));
    }
    s
}

fn object_block(out: &mut String, o: &Object) {
    let name = quote_name(&o.name);
    match &o.kind {
        ObjectKind::Counter(c) => {
            let _ = writeln!(out, "\tcounter {name} {{");
            if let Some(cm) = &o.comment {
                let _ = writeln!(out, "\t\tcomment {}", quote_str(cm));
            }
            let _ = writeln!(out, "\t\tpackets {} bytes {}", c.packets, c.bytes);
        }
        ObjectKind::Quota(q) => {
            let _ = writeln!(out, "\tquota {name} {{");
            if let Some(cm) = &o.comment {
                let _ = writeln!(out, "\t\tcomment {}", quote_str(cm));
            }
            let _ = writeln!(out, "\t\t{}", quota_str(q));
        }
        ObjectKind::Limit(l) => {
            let _ = writeln!(out, "\tlimit {name} {{");
            if let Some(cm) = &o.comment {
                let _ = writeln!(out, "\t\tcomment {}", quote_str(cm));
            }
            let _ = writeln!(out, "\t\t{}", limit_str(l));
        }
        ObjectKind::CtHelper { name: h, l3proto, l4proto } => {
            let _ = writeln!(out, "\tct helper {name} {{");
            let p = proto_name(*l4proto).map(str::to_string).unwrap_or_else(|| l4proto.to_string());
            let _ = writeln!(out, "\t\ttype {} protocol {p}", quote_str(h));
            let l3 = match l3proto {
                2 => "ip",
                10 => "ip6",
                1 => "inet",
                _ => "ip",
            };
            let _ = writeln!(out, "\t\tl3proto {l3}");
        }
        ObjectKind::CtTimeout { l3proto, l4proto, policy } => {
            let _ = writeln!(out, "\tct timeout {name} {{");
            let p = proto_name(*l4proto).map(str::to_string).unwrap_or_else(|| l4proto.to_string());
            let _ = writeln!(out, "\t\tprotocol {p}");
            let l3 = if *l3proto == 10 { "ip6" } else { "ip" };
            let _ = writeln!(out, "\t\tl3proto {l3}");
            let states = ct_timeout_states(*l4proto);
            // nft prints the timeouts that differ from the kernel's defaults.
            let items: Vec<String> = policy
                .iter()
                .filter_map(|(k, v)| {
                    let (n, default) =
                        states.get((*k as usize).wrapping_sub(1)).copied().unwrap_or(("unknown", 0));
                    (*v != default).then(|| format!("{n} : {v}"))
                })
                .collect();
            let _ = writeln!(out, "\t\tpolicy = {{ {} }}", items.join(", "));
        }
        ObjectKind::Other { kind, .. } => {
            let _ = writeln!(out, "\t# object {name} of type {kind} (not modelled)");
            let _ = writeln!(out, "\t{{");
        }
    }
    out.push_str("\t}\n");
}

/// Conntrack timeout states of a protocol with the kernel's defaults in
/// seconds.
fn ct_timeout_states(l4: u8) -> &'static [(&'static str, u32)] {
    match l4 {
        6 => &[
            ("syn_sent", 120),
            ("syn_recv", 60),
            ("established", 432_000),
            ("fin_wait", 120),
            ("close_wait", 60),
            ("last_ack", 30),
            ("time_wait", 120),
            ("close", 10),
            ("syn_sent2", 120),
            ("retrans", 300),
            ("unack", 300),
        ],
        17 => &[("unreplied", 30), ("replied", 120)],
        _ => &[("generic", 600)],
    }
}

/// The whole ruleset, as `nft list ruleset` prints it.
pub fn ruleset(rs: &Ruleset) -> String {
    ruleset_opts(rs, true)
}

/// The whole ruleset; `with_expires` prints elements' remaining time
/// (`expires 4s964ms`) as nft does.
pub fn ruleset_opts(rs: &Ruleset, with_expires: bool) -> String {
    let mut rules_by_chain: HashMap<(Family, &str, &str), Vec<&Rule>> = HashMap::new();
    for r in &rs.rules {
        rules_by_chain.entry((r.family, r.table.as_str(), r.chain.as_str())).or_default().push(r);
    }
    let mut sets_by_table: HashMap<(Family, &str), Vec<&SetWithElements>> = HashMap::new();
    for s in &rs.sets {
        sets_by_table.entry((s.set.family, s.set.table.as_str())).or_default().push(s);
    }
    let mut chains_by_table: HashMap<(Family, &str), Vec<&Chain>> = HashMap::new();
    for c in &rs.chains {
        chains_by_table.entry((c.family, c.table.as_str())).or_default().push(c);
    }
    let mut out = String::with_capacity(rs.rules.len() * 80 + rs.sets.len() * 64);
    for t in &rs.tables {
        let key = (t.family, t.name.as_str());
        let sets: &[&SetWithElements] = sets_by_table.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        let set_index: HashMap<&str, &SetWithElements> =
            sets.iter().map(|s| (s.set.name.as_str(), *s)).collect();
        let chains: &[&Chain] = chains_by_table.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        let objects: Vec<&Object> =
            rs.objects.iter().filter(|o| o.family == t.family && o.table == t.name).collect();
        table_block(&mut out, t, &objects, sets, chains, &set_index, &rules_by_chain, with_expires);
    }
    out
}

#[allow(clippy::too_many_arguments)] // internal: the pieces of one table
fn table_block(
    out: &mut String,
    t: &Table,
    objects: &[&Object],
    sets: &[&SetWithElements],
    chains: &[&Chain],
    set_index: &HashMap<&str, &SetWithElements>,
    rules: &HashMap<(Family, &str, &str), Vec<&Rule>>,
    with_expires: bool,
) {
    let _ = writeln!(out, "table {} {} {{", t.family, quote_name(&t.name));
    let mut flags = Vec::new();
    if t.flags.contains(super::TableFlags::DORMANT) {
        flags.push("dormant");
    }
    if t.flags.contains(super::TableFlags::OWNER) {
        flags.push("owner");
    }
    if t.flags.contains(super::TableFlags::PERSIST) {
        flags.push("persist");
    }
    if !flags.is_empty() {
        let _ = writeln!(out, "\tflags {}", flags.join(","));
    }
    if let Some(c) = &t.comment {
        let _ = writeln!(out, "\tcomment {}", quote_str(c));
    }
    // nft separates a table's flags from what follows by a blank line.
    let mut delim = if flags.is_empty() { "" } else { "\n" };
    for o in objects {
        out.push_str(delim);
        object_block(out, o);
        delim = "\n";
    }
    for s in sets {
        if s.set.flags.contains(SetFlags::ANONYMOUS) {
            continue;
        }
        out.push_str(delim);
        set_block(out, s, with_expires);
        delim = "\n";
    }
    for c in chains {
        out.push_str(delim);
        delim = "\n";
        let _ = writeln!(out, "\tchain {} {{", quote_name(&c.name));
        if let Some(cm) = &c.comment {
            let _ = writeln!(out, "\t\tcomment {}", quote_str(cm));
        }
        if let Some(b) = &c.base {
            let _ = writeln!(out, "\t\t{}", chain_header(c, b));
        }
        if let Some(rs) = rules.get(&(c.family, c.table.as_str(), c.name.as_str())) {
            for r in rs {
                let _ = writeln!(out, "\t\t{}", rule_with(r, set_index));
            }
        }
        out.push_str("\t}\n");
    }
    out.push_str("}\n");
}

/// One rule in nft syntax (without a trailing newline), resolving
/// anonymous sets and set key types from `sets`.
pub fn rule(r: &Rule, sets: &[SetWithElements]) -> String {
    let idx: HashMap<&str, &SetWithElements> = sets
        .iter()
        .filter(|s| s.set.table == r.table && s.set.family == r.family)
        .map(|s| (s.set.name.as_str(), s))
        .collect();
    rule_with(r, &idx)
}

// ---------------------------------------------------------------------
// Rule delinearization.

/// What a register holds.
#[derive(Clone, Debug)]
enum Src {
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
    Mapped { text: String, ty: DataType, len: u32, needs: Option<Proto>, concat: bool },
}

impl Src {
    fn text(&self) -> String {
        match self {
            Src::Field { name, .. } | Src::Expr { name, .. } => name.clone(),
            Src::Const(v) => value(DataType::INTEGER, v, false),
            Src::Masked { inner, mask, xor } => masked_text(inner, mask, xor),
            Src::Mapped { text, .. } => text.clone(),
            Src::Multi { parts, .. } => parts.iter().map(|p| p.0.clone()).collect::<Vec<_>>().join(" . "),
        }
    }

    fn ty(&self) -> (DataType, bool) {
        match self {
            Src::Field { ty, be, .. } | Src::Expr { ty, be, .. } => (*ty, *be),
            Src::Const(_) => (DataType::INTEGER, false),
            Src::Masked { inner, .. } => inner.ty(),
            Src::Mapped { ty, .. } => (*ty, ty.big_endian()),
            Src::Multi { .. } => (DataType::INTEGER, true),
        }
    }

    fn len(&self) -> u32 {
        match self {
            Src::Field { len, .. } | Src::Expr { len, .. } | Src::Mapped { len, .. } => *len,
            Src::Const(v) => v.len() as u32,
            Src::Masked { inner, .. } => inner.len(),
            Src::Multi { parts, .. } => parts.iter().map(|p| p.2).sum(),
        }
    }
}

fn masked_text(inner: &Src, mask: &[u8], xor: &[u8]) -> String {
    let (ty, be) = inner.ty();
    let fmt = |b: &[u8]| {
        if ty == DataType::MARK {
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

/// The protocol a transport-header match belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proto {
    Ip,
    Ip6,
    Tcp,
    Udp,
    Icmp,
    Icmp6,
    Ether,
    Th,
    Arp,
}

/// One printed statement, with what it implies for dependency removal.
struct Stmt {
    text: String,
    /// A protocol match another statement may make redundant.
    dep: Option<Proto>,
    /// Protocols this statement's match implies.
    needs: Option<Proto>,
}

fn field(
    base: PayloadBase,
    off: u32,
    len: u32,
    net: Option<Proto>,
    l4: Option<Proto>,
) -> Option<(String, DataType, u32, Proto)> {
    use DataType as T;
    let pick = |fields: &[(u32, u32, &str, DataType)], proto: Proto, prefix: &str| {
        fields
            .iter()
            .find(|(o, l, _, _)| *o == off && (*l == len || (len < *l && matches!(prefix, "ip" | "ip6"))))
            .map(|(_, l, n, t)| (format!("{prefix} {n}"), *t, *l, proto))
    };
    match base {
        PayloadBase::LinkLayer => pick(
            &[(0, 6, "daddr", T::ETHER_ADDR), (6, 6, "saddr", T::ETHER_ADDR), (12, 2, "type", T::ETHER_TYPE)],
            Proto::Ether,
            "ether",
        ),
        PayloadBase::Network => match net.unwrap_or(Proto::Ip) {
            Proto::Ip6 => pick(
                &[
                    (4, 2, "length", T::INTEGER),
                    (6, 1, "nexthdr", T::INET_PROTO),
                    (7, 1, "hoplimit", T::INTEGER),
                    (8, 16, "saddr", T::IPV6_ADDR),
                    (24, 16, "daddr", T::IPV6_ADDR),
                ],
                Proto::Ip6,
                "ip6",
            ),
            Proto::Arp => pick(
                &[
                    (0, 2, "htype", T::INTEGER),
                    (2, 2, "ptype", T::ETHER_TYPE),
                    (4, 1, "hlen", T::INTEGER),
                    (5, 1, "plen", T::INTEGER),
                    (6, 2, "operation", T::ARP_OP),
                    (14, 4, "saddr ip", T::IPV4_ADDR),
                    (24, 4, "daddr ip", T::IPV4_ADDR),
                ],
                Proto::Arp,
                "arp",
            ),
            _ => pick(
                &[
                    (2, 2, "length", T::INTEGER),
                    (4, 2, "id", T::INTEGER),
                    (6, 2, "frag-off", T::INTEGER),
                    (8, 1, "ttl", T::INTEGER),
                    (9, 1, "protocol", T::INET_PROTO),
                    (10, 2, "checksum", T::INTEGER),
                    (12, 4, "saddr", T::IPV4_ADDR),
                    (16, 4, "daddr", T::IPV4_ADDR),
                ],
                Proto::Ip,
                "ip",
            ),
        },
        PayloadBase::Transport => match l4 {
            Some(Proto::Tcp) => pick(
                &[
                    (0, 2, "sport", T::INET_SERVICE),
                    (2, 2, "dport", T::INET_SERVICE),
                    (4, 4, "sequence", T::INTEGER),
                    (8, 4, "ackseq", T::INTEGER),
                    (13, 1, "flags", T::TCP_FLAG),
                    (14, 2, "window", T::INTEGER),
                    (16, 2, "checksum", T::INTEGER),
                    (18, 2, "urgptr", T::INTEGER),
                ],
                Proto::Tcp,
                "tcp",
            ),
            Some(Proto::Udp) => pick(
                &[
                    (0, 2, "sport", T::INET_SERVICE),
                    (2, 2, "dport", T::INET_SERVICE),
                    (4, 2, "length", T::INTEGER),
                    (6, 2, "checksum", T::INTEGER),
                ],
                Proto::Udp,
                "udp",
            ),
            Some(Proto::Icmp) => pick(
                &[
                    (0, 1, "type", T::ICMP_TYPE),
                    (1, 1, "code", T::ICMP_CODE),
                    (2, 2, "checksum", T::INTEGER),
                    (4, 2, "id", T::INTEGER),
                    (6, 2, "sequence", T::INTEGER),
                ],
                Proto::Icmp,
                "icmp",
            ),
            Some(Proto::Icmp6) => pick(
                &[
                    (0, 1, "type", T::ICMP6_TYPE),
                    (1, 1, "code", T::ICMPV6_CODE),
                    (2, 2, "checksum", T::INTEGER),
                    (4, 2, "id", T::INTEGER),
                    (6, 2, "sequence", T::INTEGER),
                ],
                Proto::Icmp6,
                "icmpv6",
            ),
            _ => pick(&[(0, 2, "sport", T::INET_SERVICE), (2, 2, "dport", T::INET_SERVICE)], Proto::Th, "th"),
        },
        _ => None,
    }
}

/// A load covering several whole adjacent fields of one header.
fn multi_field(base: PayloadBase, off: u32, len: u32, net: Option<Proto>, l4: Option<Proto>) -> Option<Src> {
    let mut parts = Vec::new();
    let mut at = off;
    let mut proto = None;
    while at < off + len {
        let (name, ty, flen, p) = (1..=len.min(16))
            .rev()
            .filter(|l| at + l <= off + len)
            .find_map(|l| field(base, at, l, net, l4).filter(|f| f.2 == l))?;
        parts.push((name, ty, flen));
        proto = Some(p);
        at += flen;
    }
    (parts.len() > 1).then(|| Src::Multi { parts, proto: proto.expect("at least one part") })
}

fn meta_type(k: MetaKey) -> (DataType, u32) {
    use DataType as T;
    match k {
        MetaKey::Mark => (T::MARK, 4),
        MetaKey::IifName
        | MetaKey::OifName
        | MetaKey::BriIifName
        | MetaKey::BriOifName
        | MetaKey::IifKind
        | MetaKey::OifKind
        | MetaKey::SdifName => (T::IFNAME, 16),
        MetaKey::Iif | MetaKey::Oif | MetaKey::Sdif => (T::IFINDEX, 4),
        MetaKey::L4Proto => (T::INET_PROTO, 1),
        MetaKey::NfProto => (T::NFPROTO, 1),
        MetaKey::Protocol => (T::ETHER_TYPE, 2),
        MetaKey::PktType => (T::PKTTYPE, 1),
        MetaKey::IifType | MetaKey::OifType => (T::ARPHRD, 2),
        MetaKey::SkUid => (T::UID, 4),
        MetaKey::SkGid => (T::GID, 4),
        MetaKey::NfTrace => (T::INTEGER, 1),
        MetaKey::Secpath => (T::BOOLEAN, 1),
        MetaKey::Priority => (T::CLASSID, 4),
        MetaKey::TimeNs => (T::INTEGER, 8),
        _ => (T::INTEGER, 4),
    }
}

fn ct_type(k: CtKey, net: Option<Proto>) -> (DataType, u32, bool) {
    use DataType as T;
    match k {
        CtKey::State => (T::CT_STATE, 4, false),
        CtKey::Direction => (T::CT_DIR, 1, false),
        CtKey::Status => (T::CT_STATUS, 4, false),
        CtKey::Mark => (T::MARK, 4, false),
        CtKey::Expiration => (T::TIME, 4, false),
        CtKey::Helper => (T::STRING, 16, false),
        CtKey::L3Protocol => (T::NFPROTO, 1, false),
        CtKey::Protocol => (T::INET_PROTO, 1, true),
        CtKey::ProtoSrc | CtKey::ProtoDst => (T::INET_SERVICE, 2, true),
        CtKey::SrcIp | CtKey::DstIp => (T::IPV4_ADDR, 4, true),
        CtKey::SrcIp6 | CtKey::DstIp6 => (T::IPV6_ADDR, 16, true),
        CtKey::Src | CtKey::Dst => match net {
            Some(Proto::Ip6) => (T::IPV6_ADDR, 16, true),
            _ => (T::IPV4_ADDR, 4, true),
        },
        CtKey::Pkts | CtKey::Bytes | CtKey::AvgPkt => (T::INTEGER, 8, false),
        CtKey::Zone => (T::INTEGER, 2, false),
        CtKey::Id => (T::INTEGER, 4, true),
        CtKey::Labels => (T::CT_LABEL, 16, false),
        _ => (T::INTEGER, 4, false),
    }
}

struct Ctx<'a> {
    family: Family,
    sets: &'a HashMap<&'a str, &'a SetWithElements>,
    regs: HashMap<u32, Src>,
    stmts: Vec<Stmt>,
    net: Option<Proto>,
    l4: Option<Proto>,
    /// The last `>=` comparison: register slot, statement index, value.
    last_ge: Option<(u32, usize, Vec<u8>)>,
}

impl<'a> Ctx<'a> {
    fn set_reg(&mut self, r: Reg, s: Src) {
        let slot = r.slot();
        let words = s.len().div_ceil(4).max(1);
        for i in 0..words {
            self.regs.remove(&(slot + i));
        }
        self.regs.insert(slot, s);
    }

    fn reg(&self, r: Reg) -> Option<&Src> {
        self.regs.get(&r.slot())
    }

    /// Sources for a key of `len` bytes starting at `r` (a concatenation
    /// spans several registers).
    fn sources(&self, r: Reg, len: u32) -> Vec<Src> {
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

    fn push(&mut self, text: String, dep: Option<Proto>, needs: Option<Proto>) {
        self.stmts.push(Stmt { text, dep, needs });
    }

    /// A set reference: `@name`, or an anonymous set printed inline.
    fn set_ref(&self, name: &str) -> String {
        match self.sets.get(name) {
            Some(s) if s.set.flags.contains(SetFlags::ANONYMOUS) => elements_block(s, true, false),
            _ => format!("@{}", quote_name(name)),
        }
    }
}

fn proto_of_l4(p: u8) -> Option<Proto> {
    match p {
        6 => Some(Proto::Tcp),
        17 => Some(Proto::Udp),
        1 => Some(Proto::Icmp),
        58 => Some(Proto::Icmp6),
        _ => None,
    }
}

fn nat_addr(family: u32, b: &[u8]) -> String {
    if family == 10 {
        value(DataType::IPV6_ADDR, b, true)
    } else {
        value(DataType::IPV4_ADDR, b, true)
    }
}

fn nat_flags(f: Option<NatFlags>) -> String {
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

fn rule_with(r: &Rule, sets: &HashMap<&str, &SetWithElements>) -> String {
    let mut cx = Ctx {
        family: r.family,
        sets,
        regs: HashMap::new(),
        stmts: Vec::new(),
        net: match r.family {
            Family::Ip => Some(Proto::Ip),
            Family::Ip6 => Some(Proto::Ip6),
            Family::Arp => Some(Proto::Arp),
            _ => None,
        },
        l4: None,
        last_ge: None,
    };
    for e in &r.exprs {
        expr(&mut cx, e);
    }
    // Drop protocol matches that a later match implies.
    let n = cx.stmts.len();
    let keep: Vec<bool> = (0..n)
        .map(|i| match cx.stmts[i].dep {
            Some(d) => !cx.stmts[i + 1..].iter().any(|s| s.needs == Some(d)),
            None => true,
        })
        .collect();
    let mut parts: Vec<String> =
        cx.stmts.into_iter().zip(keep).filter(|(_, k)| *k).map(|(s, _)| s.text).collect();
    if let Some(c) = &r.comment {
        parts.push(format!("comment {}", quote_str(c)));
    }
    parts.join(" ")
}

fn expr(cx: &mut Ctx<'_>, e: &Expr) {
    match e {
        Expr::Payload(p) => {
            if let Some(d) = p.dreg {
                let src = match field(p.base, p.offset, p.len, cx.net, cx.l4) {
                    Some((name, ty, full, proto)) => {
                        Src::Field { name, ty, be: true, len: p.len, full, proto: Some(proto) }
                    }
                    None => match multi_field(p.base, p.offset, p.len, cx.net, cx.l4) {
                        Some(m) => m,
                        None => Src::Field {
                            name: format!("@{},{},{}", base_name(p.base), p.offset * 8, p.len * 8),
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
                let lhs = field(p.base, p.offset, p.len, cx.net, cx.l4)
                    .map(|f| f.0)
                    .unwrap_or_else(|| format!("@{},{},{}", base_name(p.base), p.offset * 8, p.len * 8));
                let rhs = cx.reg(s).map(|s| rhs_text(s, DataType::INTEGER, true)).unwrap_or_default();
                let needs = cx.reg(s).and_then(field_needs);
                cx.push(format!("{lhs} set {rhs}"), None, needs);
            }
        }
        Expr::Meta(m) => {
            let (ty, len) = meta_type(m.key);
            let name = m.key.nft_name().map(str::to_string).unwrap_or_else(|| format!("{}", m.key.code()));
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
                cx.set_reg(d, Src::Expr { name: shown, ty, be: false, len, needs: None });
            } else if let Some(s) = m.sreg {
                let rhs = cx.reg(s).map(|s| rhs_text(s, ty, false)).unwrap_or_default();
                let needs = cx.reg(s).and_then(field_needs);
                let lhs = if unqualified && m.key != MetaKey::Mark { name } else { full };
                cx.push(format!("{lhs} set {rhs}"), None, needs);
            }
        }
        Expr::Ct(c) => {
            let (ty, len, be) = ct_type(c.key, cx.net);
            let key = c.key.nft_name().map(str::to_string).unwrap_or_else(|| c.key.code().to_string());
            let name = match c.dir {
                Some(CtDir::Original) => format!("ct original {key}"),
                Some(CtDir::Reply) => format!("ct reply {key}"),
                None => format!("ct {key}"),
            };
            if let Some(d) = c.dreg {
                cx.set_reg(d, Src::Expr { name, ty, be, len, needs: None });
            } else if let Some(s) = c.sreg {
                let rhs = cx.reg(s).map(|s| rhs_text(s, ty, be)).unwrap_or_default();
                let needs = cx.reg(s).and_then(field_needs);
                cx.push(format!("{name} set {rhs}"), None, needs);
            }
        }
        Expr::Numgen(n) => {
            let kind = if n.kind == NumgenType::Random { "random" } else { "inc" };
            let mut name = format!("numgen {kind} mod {}", n.modulus);
            if n.offset != 0 {
                let _ = write!(name, " offset {}", n.offset);
            }
            cx.set_reg(n.dreg, Src::Expr { name, ty: DataType::INTEGER, be: false, len: 4, needs: None });
        }
        Expr::Hash(h) => {
            let srcs = h.sreg.map(|r| cx.sources(r, h.len.unwrap_or(4))).unwrap_or_default();
            let needs = srcs.iter().find_map(field_needs);
            let mut name = match h.kind {
                HashType::Sym => format!("symhash mod {}", h.modulus),
                HashType::Jenkins => {
                    let key = srcs.iter().map(Src::text).collect::<Vec<_>>().join(" . ");
                    let mut s = format!("jhash {key} mod {}", h.modulus);
                    if let Some(seed) = h.seed.filter(|&s| s != 0) {
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
        Expr::Fib(f) => {
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
                FibResult::Other(_) => ("?", DataType::INTEGER, 4),
            };
            let ty = if f.flags.contains(FibFlags::PRESENT) { DataType::BOOLEAN } else { ty };
            let name = format!("fib {} {res}", keys.join(" . "));
            cx.set_reg(f.dreg, Src::Expr { name, ty, be: false, len, needs: None });
        }
        Expr::Immediate(i) => match &i.data {
            Data::Verdict(v) => {
                if i.dreg == Reg::VERDICT {
                    cx.push(v.to_string(), None, None);
                }
            }
            Data::Value(v) => cx.set_reg(i.dreg, Src::Const(v.clone())),
        },
        Expr::Bitwise(b) => {
            if let (Some(src), BitwiseOp::Bool { mask, xor }) = (cx.reg(b.sreg).cloned(), &b.op) {
                cx.set_reg(
                    b.dreg,
                    Src::Masked { inner: Box::new(src), mask: mask.clone(), xor: xor.clone() },
                );
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
                        name: format!("{} {op} {n}", src.text()),
                        ty,
                        be,
                        len: b.len,
                        needs: field_needs(&src),
                    },
                );
            }
        }
        Expr::Byteorder(b) => {
            if let Some(src) = cx.reg(b.sreg).cloned() {
                cx.set_reg(b.dreg, src);
            }
        }
        Expr::Cmp(c) => cmp(cx, c),
        Expr::Range(r) => {
            if let Some(src) = cx.reg(r.sreg).cloned() {
                let (ty, _) = src.ty();
                let op = if r.negate { "!= " } else { "" };
                let text = format!("{} {op}{}", src.text(), range_str(ty, &r.from, &r.to));
                let needs = field_needs(&src);
                cx.push(text, None, needs);
            }
        }
        Expr::Lookup(l) => lookup(cx, l),
        Expr::Counter(c) => cx.push(format!("counter packets {} bytes {}", c.packets, c.bytes), None, None),
        Expr::Notrack(_) => cx.push("notrack".into(), None, None),
        Expr::Limit(l) => cx.push(format!("limit {}", limit_str(l)), None, None),
        Expr::Quota(q) => cx.push(format!("quota {}", quota_str(q)), None, None),
        Expr::Log(l) => {
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
        Expr::Reject(rj) => {
            let text = match (rj.kind, cx.family) {
                (RejectType::TcpRst, _) => "reject with tcp reset".to_string(),
                (RejectType::IcmpxUnreach, _) => match rj.code {
                    1 => "reject".into(),
                    0 => "reject with icmpx no-route".into(),
                    2 => "reject with icmpx host-unreachable".into(),
                    3 => "reject with icmpx admin-prohibited".into(),
                    c => format!("reject with icmpx {c}"),
                },
                (RejectType::IcmpUnreach, Family::Ip6) => match rj.code {
                    4 => "reject".into(),
                    0 => "reject with icmpv6 no-route".into(),
                    1 => "reject with icmpv6 admin-prohibited".into(),
                    3 => "reject with icmpv6 addr-unreachable".into(),
                    5 => "reject with icmpv6 policy-fail".into(),
                    6 => "reject with icmpv6 reject-route".into(),
                    c => format!("reject with icmpv6 {c}"),
                },
                (RejectType::IcmpUnreach, _) => match rj.code {
                    3 => "reject".into(),
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
            let needs = (rj.kind == RejectType::TcpRst && matches!(cx.family, Family::Ip | Family::Ip6))
                .then_some(Proto::Tcp);
            cx.push(text, None, needs);
        }
        Expr::Nat(n) => {
            let verb = if n.kind == NatType::Snat { "snat" } else { "dnat" };
            let fam = match (cx.family, n.family) {
                (Family::Inet, 2) => " ip",
                (Family::Inet, 10) => " ip6",
                _ => "",
            };
            let get = |r: Option<Reg>| r.and_then(|r| cx.reg(r).cloned());
            if let Some(Src::Mapped { text, concat, needs, .. }) = get(n.addr_min) {
                let fam = match (concat || cx.family == Family::Inet, n.family) {
                    (true, 10) => " ip6",
                    (true, _) => " ip",
                    _ => "",
                };
                cx.push(format!("{verb}{fam} to {text}{}", nat_flags(n.flags)), None, needs);
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
            let mut a = match (&amin, &amax) {
                (Some(lo), Some(hi)) if lo != hi => format!("{lo}-{hi}"),
                (Some(lo), _) => lo.clone(),
                _ => String::new(),
            };
            if n.family == 10 && pmin.is_some() && !a.is_empty() {
                a = format!("[{a}]");
            }
            let p = match (&pmin, &pmax) {
                (Some(lo), Some(hi)) if lo != hi => format!(":{lo}-{hi}"),
                (Some(lo), _) => format!(":{lo}"),
                _ => String::new(),
            };
            let to = if a.is_empty() && p.is_empty() { String::new() } else { format!(" to {a}{p}") };
            cx.push(format!("{verb}{fam}{to}{}", nat_flags(n.flags)), None, None);
        }
        Expr::Masq(m) => {
            let p = port_range(cx, m.proto_min, m.proto_max);
            cx.push(format!("masquerade{p}{}", nat_flags(m.flags)), None, None);
        }
        Expr::Redir(m) => {
            let p = port_range(cx, m.proto_min, m.proto_max);
            cx.push(format!("redirect{p}{}", nat_flags(m.flags)), None, None);
        }
        Expr::Dynset(d) => {
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
        Expr::Objref(o) => match o {
            Objref::Named { kind, name } => {
                let k = match kind {
                    1 => "counter",
                    2 => "quota",
                    3 => "ct helper set",
                    4 => "limit",
                    7 => "ct timeout set",
                    _ => "object",
                };
                if matches!(kind, 3 | 7) {
                    cx.push(format!("{k} {}", quote_str(name)), None, None);
                } else {
                    cx.push(format!("{k} name {}", quote_str(name)), None, None);
                }
            }
            Objref::Map { sreg, set, .. } => {
                let kl = cx.sets.get(set.as_str()).map(|s| s.set.key_len).unwrap_or(4);
                let key = cx.sources(*sreg, kl).iter().map(Src::text).collect::<Vec<_>>().join(" . ");
                let kind = match cx.sets.get(set.as_str()).and_then(|s| s.set.obj_type) {
                    Some(2) => "quota",
                    Some(4) => "limit",
                    _ => "counter",
                };
                let r = cx.set_ref(set);
                cx.push(format!("{kind} name {key} map {r}"), None, None);
            }
        },
        Expr::Unknown(u) => cx.push(format!("# unknown expression {}", u.name), None, None),
    }
}

fn base_name(b: PayloadBase) -> &'static str {
    match b {
        PayloadBase::LinkLayer => "ll",
        PayloadBase::Network => "nh",
        PayloadBase::Transport => "th",
        PayloadBase::Inner => "ih",
        PayloadBase::Other(_) => "?",
    }
}

fn port_range(cx: &Ctx<'_>, min: Option<Reg>, max: Option<Reg>) -> String {
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
fn rhs_text(s: &Src, ty: DataType, be: bool) -> String {
    match s {
        Src::Const(v) => value(ty, v, be),
        other => other.text(),
    }
}

fn field_needs(src: &Src) -> Option<Proto> {
    match src {
        Src::Field { proto, .. } => *proto,
        Src::Multi { proto, .. } => Some(*proto),
        Src::Masked { inner, .. } => field_needs(inner),
        Src::Expr { needs, .. } | Src::Mapped { needs, .. } => *needs,
        Src::Const(_) => None,
    }
}

fn cmp(cx: &mut Ctx<'_>, c: &Cmp) {
    let Some(src) = cx.reg(c.sreg).cloned() else {
        cx.push(format!("# cmp on empty register {}", c.sreg.0), None, None);
        return;
    };
    let needs = field_needs(&src);
    let op = c.op.symbol();
    // `>= lo` then `<= hi` on the same load: nft's encoding of a range.
    if c.op == CmpOp::Le {
        if let Some((slot, idx, lo)) = cx.last_ge.take() {
            if slot == c.sreg.slot() && idx + 1 == cx.stmts.len() {
                let (ty, _) = src.ty();
                cx.stmts.pop();
                cx.push(format!("{} {}", src.text(), range_str(ty, &lo, &c.data)), None, needs);
                return;
            }
        }
    }
    if c.op == CmpOp::Ge {
        cx.last_ge = Some((c.sreg.slot(), cx.stmts.len(), c.data.clone()));
    }
    if let Src::Multi { parts, .. } = &src {
        if c.op == CmpOp::Eq {
            let mut off = 0usize;
            let mut out = Vec::new();
            for (name, ty, l) in parts {
                let v = c.data.get(off..off + *l as usize).unwrap_or(&[]);
                out.push(format!("{name} {}", value(*ty, v, true)));
                off += *l as usize;
            }
            cx.push(out.join(" "), None, needs);
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
            if let Src::Field { name, len, full, .. } = inner.as_ref() {
                if zero(xor) && matches!(ty, DataType::IPV4_ADDR | DataType::IPV6_ADDR) {
                    let bits: u32 = mask.iter().map(|b| b.count_ones()).sum();
                    let mut v = c.data.clone();
                    v.resize(*full as usize, 0);
                    let _ = len;
                    cx.push(format!("{name} {op}{}/{bits}", value(ty, &v, true)), None, needs);
                    return;
                }
            }
            let flags_type = matches!(ty, DataType::CT_STATE | DataType::CT_STATUS | DataType::TCP_FLAG);
            if flags_type && zero(xor) && zero(&c.data) && c.op == CmpOp::Ne {
                // `ct state established,related`
                cx.push(format!("{} {}", inner.text(), value(ty, mask, be)), None, needs);
                return;
            }
            if flags_type && zero(xor) && c.op == CmpOp::Eq && !zero(&c.data) {
                // `tcp flags & (syn | ack) == syn`
                cx.push(
                    format!(
                        "{} & ({}) == {}",
                        inner.text(),
                        value(ty, mask, be).replace(',', " | "),
                        value(ty, &c.data, be)
                    ),
                    None,
                    needs,
                );
                return;
            }
            let eq = match c.op {
                CmpOp::Eq => "==",
                CmpOp::Ne => "!=",
                _ => c.op.symbol().trim(),
            };
            let rhs = if ty == DataType::MARK {
                value(ty, &c.data, be)
            } else {
                format!("{:#x}", if be { be_uint(&c.data) } else { le_uint(&c.data) })
            };
            cx.push(format!("{} {eq} {rhs}", masked_text(inner, mask, xor)), None, needs);
        }
        _ => {
            let (ty, be) = src.ty();
            let text = format!("{} {op}{}", src.text(), value(ty, &c.data, be));
            let dep = dependency_of(&src, &c.data, c.op);
            // A protocol match sets the context for later header fields.
            if c.op == CmpOp::Eq {
                update_context(cx, &src, &c.data);
            }
            cx.push(text, dep, needs);
        }
    }
}

/// Whether the match `src == data` is a protocol match nft inserts as a
/// dependency (and so leaves out when a later match implies it).
fn dependency_of(src: &Src, data: &[u8], op: CmpOp) -> Option<Proto> {
    if op != CmpOp::Eq {
        return None;
    }
    let name = match src {
        Src::Field { name, .. } | Src::Expr { name, .. } => name.as_str(),
        _ => return None,
    };
    match name {
        "meta l4proto" | "ip protocol" | "ip6 nexthdr" => data.first().and_then(|&p| proto_of_l4(p)),
        "meta nfproto" => match data.first() {
            Some(2) => Some(Proto::Ip),
            Some(10) => Some(Proto::Ip6),
            _ => None,
        },
        "meta iiftype" if data == 1u16.to_ne_bytes() => Some(Proto::Ether),
        "ether type" | "meta protocol" => match data {
            [0x08, 0x00] => Some(Proto::Ip),
            [0x86, 0xdd] => Some(Proto::Ip6),
            [0x08, 0x06] => Some(Proto::Arp),
            _ => None,
        },
        _ => None,
    }
}

fn update_context(cx: &mut Ctx<'_>, src: &Src, data: &[u8]) {
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
        _ => {
            if let Some(p) = dependency_of(src, data, CmpOp::Eq) {
                if matches!(p, Proto::Ip | Proto::Ip6 | Proto::Arp) {
                    cx.net = Some(p);
                }
            }
        }
    }
}

fn lookup(cx: &mut Ctx<'_>, l: &Lookup) {
    let set = cx.sets.get(l.set.as_str()).copied();
    let key_len = set.map(|s| s.set.key_len).unwrap_or_else(|| cx.reg(l.sreg).map(Src::len).unwrap_or(4));
    let srcs = cx.sources(l.sreg, key_len);
    let needs = srcs.iter().find_map(field_needs);
    let lhs = srcs.iter().map(Src::text).collect::<Vec<_>>().join(" . ");
    let r = cx.set_ref(&l.set);
    match l.dreg {
        None => {
            let op = if l.invert { "!= " } else { "" };
            cx.push(format!("{lhs} {op}{r}"), None, needs);
        }
        Some(Reg::VERDICT) => cx.push(format!("{lhs} vmap {r}"), None, needs),
        Some(d) => {
            let (ty, len, concat) = set
                .and_then(|s| s.set.data.as_ref().map(|k| (k.fields[0], s.set.data_len, k.is_concat())))
                .unwrap_or((DataType::INTEGER, 4, false));
            cx.set_reg(d, Src::Mapped { text: format!("{lhs} map {r}"), ty, len, needs, concat });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_like_nft() {
        assert_eq!(duration(Duration::from_secs(3 * 3600)), "3h");
        assert_eq!(duration(Duration::from_millis(4964)), "4s964ms");
        assert_eq!(duration(Duration::from_secs(90061)), "1d1h1m1s");
    }

    #[test]
    fn prefixes_and_ranges() {
        assert_eq!(range_str(DataType::IPV4_ADDR, &[10, 0, 0, 0], &[10, 255, 255, 255]), "10.0.0.0/8");
        assert_eq!(
            range_str(DataType::IPV4_ADDR, &[192, 168, 1, 1], &[192, 168, 1, 5]),
            "192.168.1.1-192.168.1.5"
        );
        assert_eq!(range_str(DataType::INET_SERVICE, &[0, 80], &[0, 90]), "80-90");
        assert_eq!(range_str(DataType::IPV4_ADDR, &[1, 2, 3, 4], &[1, 2, 3, 4]), "1.2.3.4");
    }

    #[test]
    fn priorities_use_names() {
        assert_eq!(priority_str(Family::Ip, Hook::Prerouting, -100), "dstnat");
        assert_eq!(priority_str(Family::Inet, Hook::Input, 5), "filter + 5");
        assert_eq!(priority_str(Family::Ip, Hook::Postrouting, 100), "srcnat");
        assert_eq!(priority_str(Family::Inet, Hook::Ingress, -500), "-500");
    }
}
