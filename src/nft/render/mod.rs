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

mod elements;
mod extra;
mod proto;
mod rule;
mod stmt;
mod types;

use elements::*;
use extra::*;
use proto::*;
use rule::*;
use stmt::*;
use types::*;

pub use types::{key, value};

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
        let names = s
            .data_typeof_payloads()
            .and_then(|p| {
                p.into_iter()
                    .map(|(d, i)| crate::nft::builder::payload_typeof_name(d, i))
                    .collect::<Option<Vec<_>>>()
            })
            .filter(|n| typeof_ && n.len() == d.fields.len());
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
    // A set whose only flag is `timeout` and that has a default timeout:
    // nft prints the timeout and no flags line.
    let only_timeout = flags == ["timeout"] && s.timeout.is_some();
    if !flags.is_empty() && !only_timeout {
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
        ObjectKind::CtExpect(e) => {
            let _ = writeln!(out, "\tct expectation {name} {{");
            ct_expect_body(out, e);
        }
        ObjectKind::Other { kind, .. } => {
            let _ = writeln!(out, "\t{MARK_OPEN}object {name} of type {kind}{MARK_CLOSE} {{");
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

/// Opens the mark of something netplumb cannot print exactly, in the
/// human listing. `?` is not a character of nft's language anywhere
/// outside a quoted string, so `nft -f` refuses a listing carrying it
/// (a `#` comment would be skipped, and the rule loaded without the
/// expression: a broader rule).
pub const MARK_OPEN: &str = "?? cannot render: ";
/// Closes the mark opened by [`MARK_OPEN`].
pub const MARK_CLOSE: &str = " ??";

/// Something in a ruleset netplumb cannot render exactly, and where:
/// returned by the strict renders ([`ruleset_strict`], [`rule_strict`]),
/// meant for text that will be loaded back with `nft -f`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderError {
    /// The family of the table.
    pub family: Family,
    /// The table.
    pub table: String,
    /// The chain, for a rule.
    pub chain: Option<String>,
    /// The rule's handle, for a listed rule.
    pub handle: Option<u64>,
    /// What could not be rendered (`expression exthdr`, `object x of
    /// type 9`).
    pub what: String,
}

impl std::fmt::Display for RenderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot render in nft syntax: table {} {}", self.family, self.table)?;
        if let Some(c) = &self.chain {
            write!(f, " chain {c}")?;
        }
        match self.handle {
            Some(h) => write!(f, " rule handle {h}")?,
            None if self.chain.is_some() => write!(f, " rule (no handle)")?,
            None => {}
        }
        write!(f, ": {}", self.what)
    }
}

impl std::error::Error for RenderError {}

/// The whole ruleset, as `nft list ruleset` prints it, for people: what
/// netplumb cannot render exactly is marked (see [`MARK_OPEN`]) so that
/// `nft -f` refuses the text rather than load something else. For text
/// meant to be loaded back, use [`ruleset_strict`].
pub fn ruleset(rs: &Ruleset) -> String {
    ruleset_opts(rs, true)
}

/// The whole ruleset for loading back with `nft -f`: an error naming the
/// table, chain, rule handle and expression when any part cannot be
/// rendered exactly. Elements' remaining time (`expires`) is left out.
pub fn ruleset_strict(rs: &Ruleset) -> Result<String, RenderError> {
    let mut problems = Vec::new();
    let text = render_all(rs, false, &mut problems);
    if let Some(e) = problems.into_iter().next() {
        return Err(e);
    }
    // Anything marked outside a rule (a set element), named by its table.
    if let Some(at) = text.find(MARK_OPEN) {
        let table =
            text[..at].rfind("table ").map(|t| text[t + 6..].split(" {").next().unwrap_or("").to_string());
        let what = text[at + MARK_OPEN.len()..].split(MARK_CLOSE).next().unwrap_or("").to_string();
        let (family, table) = match table.as_deref().and_then(|t| t.split_once(' ')) {
            Some((f, n)) => (f.parse().unwrap_or(Family::Ip), n.to_string()),
            None => (Family::Ip, String::new()),
        };
        return Err(RenderError { family, table, chain: None, handle: None, what });
    }
    Ok(text)
}

/// The whole ruleset; `with_expires` prints elements' remaining time
/// (`expires 4s964ms`) as nft does. What cannot be rendered is marked as
/// in [`ruleset`].
pub fn ruleset_opts(rs: &Ruleset, with_expires: bool) -> String {
    render_all(rs, with_expires, &mut Vec::new())
}

fn render_all(rs: &Ruleset, with_expires: bool, problems: &mut Vec<RenderError>) -> String {
    types::IFNAMES.with(|n| *n.borrow_mut() = rs.ifnames.clone());
    let out = render_tables(rs, with_expires, problems);
    types::IFNAMES.with(|n| n.borrow_mut().clear());
    out
}

fn render_tables(rs: &Ruleset, with_expires: bool, problems: &mut Vec<RenderError>) -> String {
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
        let parts = TableParts {
            objects: &objects,
            sets,
            chains,
            set_index: &set_index,
            rules: &rules_by_chain,
            ifnames: &rs.ifnames,
        };
        table_block(&mut out, t, &parts, with_expires, problems);
    }
    out
}

/// The pieces of one table.
struct TableParts<'a> {
    objects: &'a [&'a Object],
    sets: &'a [&'a SetWithElements],
    chains: &'a [&'a Chain],
    set_index: &'a HashMap<&'a str, &'a SetWithElements>,
    rules: &'a HashMap<(Family, &'a str, &'a str), Vec<&'a Rule>>,
    ifnames: &'a std::collections::BTreeMap<u32, String>,
}

fn table_block(
    out: &mut String,
    t: &Table,
    parts: &TableParts<'_>,
    with_expires: bool,
    problems: &mut Vec<RenderError>,
) {
    let TableParts { objects, sets, chains, set_index, rules, ifnames } = *parts;
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
        if let ObjectKind::Other { kind, .. } = &o.kind {
            problems.push(RenderError {
                family: t.family,
                table: t.name.clone(),
                chain: None,
                handle: None,
                what: format!("object {} of type {kind}", o.name),
            });
        }
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
                let rt = rule_with(r, set_index, ifnames);
                let _ = writeln!(out, "\t\t{}", rt.text);
                problems.extend(rt.problems.into_iter().map(|what| rule_error(r, what)));
            }
        }
        out.push_str("\t}\n");
    }
    out.push_str("}\n");
}

fn rule_error(r: &Rule, what: String) -> RenderError {
    RenderError {
        family: r.family,
        table: r.table.clone(),
        chain: Some(r.chain.clone()),
        handle: r.handle,
        what,
    }
}

/// One rule in nft syntax (without a trailing newline), resolving
/// anonymous sets and set key types from `sets`; what cannot be rendered
/// exactly is marked as in [`ruleset`].
pub fn rule(r: &Rule, sets: &[SetWithElements]) -> String {
    rule_text(r, sets).text
}

/// One rule in nft syntax for loading back: an error naming the table,
/// chain, rule handle and expression when it cannot be rendered exactly.
pub fn rule_strict(r: &Rule, sets: &[SetWithElements]) -> Result<String, RenderError> {
    let rt = rule_text(r, sets);
    match rt.problems.into_iter().next() {
        Some(what) => Err(rule_error(r, what)),
        None => Ok(rt.text),
    }
}

fn rule_text(r: &Rule, sets: &[SetWithElements]) -> RuleText {
    let idx: HashMap<&str, &SetWithElements> = sets
        .iter()
        .filter(|s| s.set.table == r.table && s.set.family == r.family)
        .map(|s| (s.set.name.as_str(), s))
        .collect();
    rule_with(r, &idx, &Default::default())
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
        assert_eq!(
            range_str_be(DataType::IPV4_ADDR, true, &[10, 0, 0, 0], &[10, 255, 255, 255]),
            "10.0.0.0/8"
        );
        assert_eq!(
            range_str_be(DataType::IPV4_ADDR, true, &[192, 168, 1, 1], &[192, 168, 1, 5]),
            "192.168.1.1-192.168.1.5"
        );
        assert_eq!(range_str_be(DataType::INET_SERVICE, true, &[0, 80], &[0, 90]), "80-90");
        assert_eq!(range_str_be(DataType::IPV4_ADDR, true, &[1, 2, 3, 4], &[1, 2, 3, 4]), "1.2.3.4");
    }

    #[test]
    fn priorities_use_names() {
        assert_eq!(priority_str(Family::Ip, Hook::Prerouting, -100), "dstnat");
        assert_eq!(priority_str(Family::Inet, Hook::Input, 5), "filter + 5");
        assert_eq!(priority_str(Family::Ip, Hook::Postrouting, 100), "srcnat");
        assert_eq!(priority_str(Family::Inet, Hook::Ingress, -500), "-500");
    }
}
