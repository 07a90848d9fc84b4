//! nftables: netplumb transactions and listings vs `nft -f` and
//! `nft -j list ruleset`.

use std::net::Ipv4Addr;
use std::time::Instant;

use netplumb::nft::expr::Verdict;
use netplumb::nft::{
    Chain, ChainType, DataType, Element, Family, Field, Hook, KeyType, Nft, Policy, RuleBuilder, Set, Table,
    Transaction, Value,
};
use netplumb::testing::TestNs;

use crate::harness::*;

const F: Family = Family::Ip;
const T: &str = "bench";
pub const RULES: usize = 1_000;
pub const SET_ELEMS: usize = 100_000;
pub const VMAP_ELEMS: usize = 10_000;
pub const SERVICES: usize = 10_000;

fn e(x: impl std::fmt::Display) -> String {
    x.to_string()
}

fn allow_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, (i >> 16) as u8, (i >> 8) as u8, i as u8)
}
fn vip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(172, 16 + (i >> 16) as u8, (i >> 8) as u8, i as u8)
}
fn rule_src(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(192, 168, (i >> 8) as u8, i as u8)
}

fn allow_set() -> Set {
    Set::new(F, T, "allow", KeyType::single(DataType::IPV4_ADDR))
}
fn svc_map(name: &str) -> Set {
    Set::map(
        F,
        T,
        name,
        KeyType::concat(&[DataType::IPV4_ADDR, DataType::INET_SERVICE]),
        KeyType::single(DataType::VERDICT),
    )
}

/// The big ruleset through netplumb: one transaction.
fn big_tx() -> Transaction {
    let mut tx = Transaction::new();
    tx.without_echo();
    tx.add_table(&Table::new(F, T)).unwrap();
    tx.add_chain(&Chain::new(F, T, "input").base(ChainType::Filter, Hook::Input, 0).policy(Policy::Accept))
        .unwrap();
    tx.add_set(&allow_set()).unwrap();
    let elems: Vec<Element> = (0..SET_ELEMS).map(|i| Element::new(allow_ip(i))).collect();
    tx.add_elements(&allow_set(), &elems).unwrap();
    let svc = svc_map("svc");
    tx.add_set(&svc).unwrap();
    let vm: Vec<Element> = (0..VMAP_ELEMS)
        .map(|i| {
            let v = if i % 2 == 0 { Verdict::Accept } else { Verdict::Drop };
            Element::new(Value::concat(&[Value::ipv4(vip(i)), Value::port(80)])).verdict(v)
        })
        .collect();
    tx.add_elements(&svc, &vm).unwrap();
    let r = || RuleBuilder::new(F, T, "input");
    tx.add_rule(&r().in_set(&[Field::IP_SADDR], "allow").accept().build().unwrap()).unwrap();
    tx.add_rule(&r().vmap(&[Field::IP_DADDR, Field::TCP_DPORT], "svc").build().unwrap()).unwrap();
    for i in 2..RULES {
        let rule =
            r().eq(Field::IP_SADDR, Value::ipv4(rule_src(i))).eq(Field::TCP_DPORT, Value::port(22)).accept();
        tx.add_rule(&rule.build().unwrap()).unwrap();
    }
    tx
}

/// The same ruleset in nft syntax.
fn big_text() -> String {
    let mut s = String::with_capacity(4 << 20);
    s.push_str(&format!("table ip {T} {{\n  set allow {{ type ipv4_addr; elements = {{ "));
    for i in 0..SET_ELEMS {
        s.push_str(&format!("{}{}", if i > 0 { ", " } else { "" }, allow_ip(i)));
    }
    s.push_str(" } }\n  map svc { type ipv4_addr . inet_service : verdict; elements = { ");
    for i in 0..VMAP_ELEMS {
        let v = if i % 2 == 0 { "accept" } else { "drop" };
        s.push_str(&format!("{}{} . 80 : {v}", if i > 0 { ", " } else { "" }, vip(i)));
    }
    s.push_str(" } }\n  chain input {\n    type filter hook input priority 0; policy accept;\n");
    s.push_str("    ip saddr @allow accept\n    ip daddr . tcp dport vmap @svc\n");
    for i in 2..RULES {
        s.push_str(&format!("    ip saddr {} tcp dport 22 accept\n", rule_src(i)));
    }
    s.push_str("  }\n}\n");
    s
}

fn nft_in(ns: &TestNs) -> Nft {
    block(async { Nft::new_in(ns.netns()).await.expect("nft handle") })
}

fn verify_big(ns: &TestNs) -> Result<(), String> {
    let nft = nft_in(ns);
    block(async {
        let rules = nft.list_rules(Some(F), Some(T), None).await.map_err(e)?;
        expect_count("rules", rules.len(), RULES)?;
        let a = nft.list_elements(F, T, "allow").await.map_err(e)?;
        expect_count("set elements", a.len(), SET_ELEMS)?;
        let v = nft.list_elements(F, T, "svc").await.map_err(e)?;
        expect_count("verdict map elements", v.len(), VMAP_ELEMS)
    })
}

fn nft_file(ns: &TestNs, text: &str) -> Result<std::time::Duration, String> {
    let f = Scratch::new("nft", text);
    let (d, _) = timed(in_ns_cmd(ns, "nft").args(["-f", f.path()]), None)?;
    Ok(d)
}

fn nft_load() -> Case {
    Case {
        name: "nft-load",
        what: "load 1,000 rules, a 100,000-element set and a 10,000-element verdict map",
        reference: "nft -f",
        target: Some(Target::Ratio(0.6)),
        mem_target_mib: None,
        tools: vec![
            tool("netplumb", || {
                let ns = fresh("nload");
                let nft = nft_in(&ns);
                let d = block(async {
                    let t = Instant::now();
                    let tx = big_tx();
                    nft.commit(&tx).await.map_err(e)?;
                    Ok::<_, String>(t.elapsed())
                })?;
                verify_big(&ns)?;
                Ok(Measure::time(d))
            }),
            tool("kernel floor", || {
                // netplumb with the batch built before the clock starts:
                // what the kernel's commit costs.
                let ns = fresh("nload");
                let nft = nft_in(&ns);
                let tx = big_tx();
                let d = block(async {
                    let t = Instant::now();
                    nft.commit(&tx).await.map_err(e)?;
                    Ok::<_, String>(t.elapsed())
                })?;
                verify_big(&ns)?;
                Ok(Measure::time(d))
            }),
            tool("nft -f", || {
                let ns = fresh("nload");
                let text = big_text();
                let d = nft_file(&ns, &text)?;
                verify_big(&ns)?;
                Ok(Measure::time(d))
            }),
        ],
    }
}

fn nft_list() -> Case {
    let setup = || {
        let ns = fresh("nlist");
        let nft = nft_in(&ns);
        block(async { nft.commit(&big_tx()).await.map_err(e) })?;
        Ok::<_, String>((ns, nft))
    };
    Case {
        name: "nft-list",
        what: "list that ruleset (every rule and element decoded)",
        reference: "nft -j list ruleset",
        target: Some(Target::Ratio(0.5)),
        mem_target_mib: None,
        tools: vec![
            tool("netplumb", move || {
                let (_ns, nft) = setup()?;
                let (d, rs) = block(async {
                    let t = Instant::now();
                    let rs = nft.ruleset().await.map_err(e)?;
                    Ok::<_, String>((t.elapsed(), rs))
                })?;
                expect_count("rules", rs.rules.len(), RULES)?;
                let elems: usize = rs.sets.iter().map(|s| s.elements.len()).sum();
                expect_count("elements", elems, SET_ELEMS + VMAP_ELEMS)?;
                Ok(Measure::time(d))
            }),
            tool("kernel floor", move || {
                // The dumps netplumb's listing sends (tables, chains, sets,
                // each set's elements, objects, rules), prepared before the
                // clock starts, read but not decoded.
                let (ns, _) = setup()?;
                let nf = |msg: u16, f: u8, table_set: Option<(&str, &str)>| {
                    netplumb::conn::Request::new((10 << 8) | msg, 0, |w| {
                        w.raw(&[f, 0, 0, 0]);
                        if let Some((t, s)) = table_set {
                            w.str(1, t);
                            w.str(2, s);
                        }
                    })
                };
                let reqs = vec![
                    nf(1, 0, None),
                    nf(4, 0, None),
                    nf(10, 0, None),
                    nf(13, 2, Some((T, "allow"))),
                    nf(13, 2, Some((T, "svc"))),
                    nf(19, 0, None),
                    nf(7, 0, None),
                ];
                let (d, n) = block(async {
                    let conn = floor_conn(&ns, netplumb::wire::names::Protocol::Netfilter).await?;
                    let t = Instant::now();
                    let mut n = 0;
                    for r in &reqs {
                        n += floor_dump_on(&conn, r).await?;
                    }
                    Ok::<_, String>((t.elapsed(), n))
                })?;
                // Rules one message each; elements many per message.
                if n < RULES {
                    return Err(format!("{n} messages, fewer than the {RULES} rules"));
                }
                Ok(Measure::time(d))
            }),
            tool("nft -j list ruleset", move || {
                let (ns, _) = setup()?;
                let (d, out) = timed(in_ns_cmd(&ns, "nft").args(["-j", "list", "ruleset"]), None)?;
                let text = String::from_utf8_lossy(&out.stdout);
                expect_count("rules printed", text.matches("{\"rule\":").count(), RULES)?;
                // Elements: the set's are plain addresses, the map's pairs.
                expect_count("10.x elements printed", text.matches("\"10.").count(), SET_ELEMS)?;
                Ok(Measure::time(d))
            }),
        ],
    }
}

/// A table of `n` services: each a chain with two rules and three
/// verdict-map elements (`VIP . port : goto svc-N`).
fn service_tx(tx: &mut Transaction, i: usize) {
    let name = format!("svc-{i}");
    tx.add_chain(&Chain::new(F, T, &name)).unwrap();
    let r = || RuleBuilder::new(F, T, &name);
    tx.add_rule(&r().eq(Field::TCP_DPORT, Value::port(80)).counter().accept().build().unwrap()).unwrap();
    tx.add_rule(&r().drop().build().unwrap()).unwrap();
    let elems: Vec<Element> = [80u16, 443, 8080]
        .iter()
        .map(|p| {
            Element::new(Value::concat(&[Value::ipv4(vip(i)), Value::port(*p)]))
                .verdict(Verdict::Goto(name.clone()))
        })
        .collect();
    tx.add_elements(&svc_map("services"), &elems).unwrap();
}

fn service_text(i: usize) -> String {
    let n = format!("svc-{i}");
    format!(
        "add chain ip {T} {n}\nadd rule ip {T} {n} tcp dport 80 counter accept\nadd rule ip {T} {n} drop\n\
         add element ip {T} services {{ {v} . 80 : goto {n}, {v} . 443 : goto {n}, {v} . 8080 : goto {n} }}\n",
        v = vip(i)
    )
}

fn with_services() -> Result<(TestNs, Nft), String> {
    let ns = fresh("nsvc");
    let nft = nft_in(&ns);
    let mut tx = Transaction::new();
    tx.without_echo();
    tx.add_table(&Table::new(F, T)).unwrap();
    tx.add_chain(&Chain::new(F, T, "pre").base(ChainType::Filter, Hook::Prerouting, 0)).unwrap();
    tx.add_set(&svc_map("services")).unwrap();
    tx.add_rule(
        &RuleBuilder::new(F, T, "pre")
            .vmap(&[Field::IP_DADDR, Field::TCP_DPORT], "services")
            .build()
            .unwrap(),
    )
    .unwrap();
    for i in 0..SERVICES {
        service_tx(&mut tx, i);
    }
    block(async { nft.commit(&tx).await.map_err(e) })?;
    // The kernel finishes a commit of that size in the background (freeing
    // the transaction log after an RCU grace period): let it, so the timed
    // add meets the table in its steady state, for both tools.
    std::thread::sleep(std::time::Duration::from_secs(1));
    Ok((ns, nft))
}

fn verify_service(nft: &Nft) -> Result<(), String> {
    block(async {
        let rules = nft.list_rules(Some(F), Some(T), Some(&format!("svc-{SERVICES}"))).await.map_err(e)?;
        expect_count("rules of the new service", rules.len(), 2)?;
        let v = nft.list_elements(F, T, "services").await.map_err(e)?;
        expect_count("verdict map elements", v.len(), 3 * (SERVICES + 1))
    })
}

fn nft_service() -> Case {
    Case {
        name: "nft-add-service",
        what: "add one service (a chain, two rules, three verdict-map elements) to a table of 10,000",
        reference: "nft -f",
        target: Some(Target::Below(0.005)),
        mem_target_mib: None,
        tools: vec![
            tool("netplumb", || {
                let (_ns, nft) = with_services()?;
                let d = block(async {
                    let t = Instant::now();
                    let mut tx = Transaction::new();
                    service_tx(&mut tx, SERVICES);
                    nft.commit(&tx).await.map_err(e)?;
                    Ok::<_, String>(t.elapsed())
                })?;
                verify_service(&nft)?;
                Ok(Measure::time(d))
            }),
            tool("kernel floor", || {
                // The same transaction, built before the clock starts.
                let (_ns, nft) = with_services()?;
                let mut tx = Transaction::new();
                service_tx(&mut tx, SERVICES);
                let d = block(async {
                    let t = Instant::now();
                    nft.commit(&tx).await.map_err(e)?;
                    Ok::<_, String>(t.elapsed())
                })?;
                verify_service(&nft)?;
                Ok(Measure::time(d))
            }),
            tool("nft -f", || {
                let (ns, nft) = with_services()?;
                let d = nft_file(&ns, &service_text(SERVICES))?;
                verify_service(&nft)?;
                Ok(Measure::time(d))
            }),
        ],
    }
}

pub fn cases() -> Vec<Case> {
    vec![nft_load(), nft_list(), nft_service()]
}
