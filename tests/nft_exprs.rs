//! The nftables expressions and objects modelled last (tproxy, ipsec/xfrm,
//! osf, dup, fwd, ct expectation objects, ct helpers chosen through a map)
//! against the real kernel and nft, on rulesets written for these tests.
//! Each ruleset is loaded with `nft -f` into a fresh namespace, then:
//!
//! 1. every rule decodes to typed expressions (none kept opaque);
//! 2. netplumb's listing equals `nft list ruleset`;
//! 3. the strict render loaded with `nft -f` rebuilds the identical ruleset;
//! 4. the decoded ruleset committed through a `Transaction` into a fresh
//!    namespace lists identically.
//!
//! `queue` cannot be loaded here (the kernels this runs on lack
//! nft_queue): it is checked against nft's own bytes at the codec level
//! (src/nft/expr/tests.rs). Needs root.

use netplumb::nft::expr::Expr;
use netplumb::nft::{render, Nft, ObjectKind, Ruleset, Transaction};
use netplumb::testing::TestNs;

mod common;
use common::nft::{load as nft_file, netplumb_ruleset as netplumb_list};

fn list(ns: &TestNs) -> String {
    ns.exec("nft", &["list", "ruleset"])
}

/// One base chain `c` (`hook`: "filter hook input") in table `t` of
/// `family` holding `rules`, plus
/// `objects` declared before it.
fn table(family: &str, hook: &str, objects: &str, rules: &[&str]) -> String {
    let mut s =
        format!("table {family} t {{\n{objects}\tchain c {{\n\t\ttype {hook} priority 0; policy accept;\n");
    for r in rules {
        s.push_str(&format!("\t\t{r}\n"));
    }
    s.push_str("\t}\n}\n");
    s
}

/// The fixtures: (what, ruleset text, expression name each rule must
/// decode to). Written for netplumb, one kind of statement each.
fn fixtures() -> Vec<(&'static str, String, &'static str)> {
    vec![
        (
            "tproxy, inet",
            table(
                "inet",
                "filter hook prerouting",
                "",
                &[
                    "meta l4proto tcp tproxy to :8080",
                    "meta l4proto udp tproxy ip to 10.1.2.3:53",
                    "meta l4proto tcp tproxy ip6 to [fd00::5]",
                    "meta l4proto tcp tproxy ip6 to [fd00::5]:443",
                    "meta l4proto tcp tproxy ip to 192.0.2.9",
                    "ip daddr 10.0.0.0/8 meta l4proto tcp tproxy ip to :2000 accept",
                ],
            ),
            "tproxy",
        ),
        (
            "tproxy, ip",
            table(
                "ip",
                "filter hook prerouting",
                "",
                &["ip protocol tcp tproxy to 10.0.0.7:8443", "meta l4proto udp tproxy to :5353", "meta l4proto tcp tproxy to 10.0.0.8"],
            ),
            "tproxy",
        ),
        (
            "tproxy, ip6",
            table("ip6", "filter hook prerouting", "", &["meta l4proto tcp tproxy to [fd00::9]:80", "meta l4proto udp tproxy to :53"]),
            "tproxy",
        ),
        (
            "ipsec, inet",
            table(
                "inet",
                "filter hook forward",
                "",
                &[
                    "ipsec in reqid 7",
                    "ipsec out spnum 1 spi 300-400",
                    "ipsec in ip saddr 10.9.8.7",
                    "ipsec out ip6 daddr fd00::1 accept",
                    "ipsec in spnum 2 ip daddr { 10.0.0.0/8, 192.168.0.0/16 } drop",
                    "ipsec out reqid != 4294967295",
                ],
            ),
            "xfrm",
        ),
        ("ipsec, ip", table("ip", "filter hook forward", "", &["ipsec out spi 9", "ipsec in ip daddr 192.0.2.1 counter"]), "xfrm"),
        (
            "osf",
            table(
                "inet",
                "filter hook input",
                "",
                &[
                    "osf name \"Linux\"",
                    "osf ttl loose name \"Windows\" drop",
                    "osf ttl skip version \"Linux:4.19\"",
                    "osf name { \"Linux\", \"FreeBSD\" } accept",
                    "osf version != \"MacOs:Sierra\"",
                ],
            ),
            "osf",
        ),
        ("osf, ip", table("ip", "filter hook input", "", &["osf ttl skip name \"Linux\" counter"]), "osf"),
        (
            "dup, ip",
            table(
                "ip",
                "filter hook input",
                "",
                &["dup to 10.2.3.4", "dup to 10.2.3.4 device \"lo\"", "dup to ip daddr map { 10.0.0.1 : 10.0.0.2, 10.0.0.3 : 10.0.0.4 } device \"lo\""],
            ),
            "dup",
        ),
        ("dup, ip6", table("ip6", "filter hook input", "", &["dup to fd00::2 device \"lo\"", "tcp dport 22 dup to fd00::3"]), "dup"),
        (
            "dup and fwd, netdev",
            table(
                "netdev",
                "filter hook ingress device \"lo\"",
                "",
                &[
                    "dup to \"lo\"",
                    "fwd to \"lo\"",
                    "fwd ip to 10.1.1.1 device \"lo\"",
                    "fwd ip6 to fd00::1 device \"lo\"",
                    "dup to meta mark map { 0x00000001 : \"lo\", 0x00000002 : \"lo\" }",
                ],
            ),
            "dup|fwd",
        ),
        (
            "snat map data: ranges, prefixes, address . port",
            table(
                "ip",
                "nat hook postrouting",
                "",
                &[
                    "snat ip to ip saddr map { 10.141.11.4 : 192.168.2.2-192.168.2.4 }",
                    "snat ip to ip saddr map { 10.141.12.14 : 192.168.2.0/24 }",
                    "snat ip prefix to ip saddr map { 10.141.11.0/24 : 192.168.2.0/24 }",
                    "meta l4proto udp snat ip to ip saddr map { 10.141.11.4 : 192.168.2.3 . 80 }",
                    "ip saddr 10.1.0.0/16 snat prefix to 10.10.0.0/16",
                    "ip saddr 10.2.0.0/16 snat to 10.20.0.0-10.20.0.255",
                    "ip saddr 10.3.0.0/16 snat to 10.30.0.1-10.30.0.9 persistent",
                ],
            ),
            "nat",
        ),
        (
            "dnat map data: concatenated ranges and prefixes",
            table(
                "inet",
                "nat hook prerouting",
                "",
                &[
                    "dnat ip to ip saddr . tcp dport map { 192.168.1.2 . 80 : 10.141.10.0/24 . 8888-8999 }",
                    "dnat ip to ip saddr . tcp dport map { 192.168.1.2 . 80 : 10.141.10.0/24 . 80 }",
                    "dnat ip to ip saddr . tcp dport map { 192.168.1.2 . 80 : 10.141.10.2 . 8888-8999 }",
                    "ip daddr 192.168.0.1 dnat ip to tcp dport map { 443 : 10.141.10.4 . 8443, 80 : 10.141.10.4 . 8080 }",
                    "dnat ip6 to ip6 saddr map { fd00::1 : fd00:1::/64 }",
                    "ip daddr 10.4.0.0/16 dnat ip prefix to 10.40.0.0/16",
                    "ip6 daddr fd00:4::/64 dnat ip6 prefix to fd00:40::/64",
                    "ip6 daddr fd00:5::1 tcp dport 80 dnat ip6 to [fd00:50::1]-[fd00:50::9]:8080-8090",
                    "ip6 daddr fd00:5::2 tcp dport 80 dnat ip6 to [fd00:50::1]:8080",
                ],
            ),
            "nat",
        ),
        (
            "ct expectation objects",
            table(
                "ip",
                "filter hook input",
                "\tct expectation e1 {\n\t\tprotocol tcp\n\t\tdport 2121\n\t\ttimeout 2m\n\t\tsize 8\n\t\tl3proto ip\n\t}\n\n\tct expectation e2 {\n\t\tprotocol udp\n\t\tdport 69\n\t\ttimeout 1s500ms\n\t\tsize 1\n\t\tl3proto ip\n\t}\n\n",
                &["tcp dport 21 ct expectation set \"e1\"", "udp dport 69 ct expectation set \"e2\""],
            ),
            "objref",
        ),
        (
            "ct helper through a map",
            table(
                "ip",
                "filter hook input",
                "\tct helper ftp1 {\n\t\ttype \"ftp\" protocol tcp\n\t\tl3proto ip\n\t}\n\n",
                &["ct helper set tcp dport map { 21 : \"ftp1\", 2121 : \"ftp1\" }"],
            ),
            "objref",
        ),
    ]
}

#[tokio::test]
async fn new_expressions_decode_list_reload_and_recommit_as_nft() {
    let mut failures = Vec::new();
    let all = fixtures();
    for (what, text, expect) in &all {
        let src = TestNs::new("exsrc").await;
        if let Err(e) = nft_file(&src, text) {
            failures.push(format!("{what}: nft refuses the fixture itself: {e}\n{text}"));
            continue;
        }
        let want = list(&src);
        let rs = netplumb_list(&src).await;
        // 1. typed, not opaque
        assert!(!rs.rules.is_empty(), "{what}: no rules listed");
        for r in &rs.rules {
            if let Some(u) = r.exprs.iter().find(|e| matches!(e, Expr::Unknown(_))) {
                failures.push(format!("{what}: rule {:?} keeps {} opaque", r.handle, u.name()));
            }
            if !r.exprs.iter().any(|e| expect.split('|').any(|n| e.name() == n)) {
                failures.push(format!("{what}: rule {:?} has no {expect} expression", r.handle));
            }
        }
        for o in &rs.objects {
            if matches!(o.kind, ObjectKind::Other { .. }) {
                failures.push(format!("{what}: object {} kept opaque", o.name));
            }
        }
        // 2. listing
        let got = rs.to_string();
        if got != want {
            failures.push(format!("{what}: listing\n  nft:      {want:?}\n  netplumb: {got:?}"));
        }
        // 3. strict render reloaded
        match render::ruleset_strict(&rs) {
            Err(e) => failures.push(format!("{what}: strict render: {e}")),
            Ok(text) => {
                let dst = TestNs::new("exload").await;
                match nft_file(&dst, &text) {
                    Err(e) => failures.push(format!("{what}: nft -f refuses the render: {e}")),
                    Ok(()) => {
                        let again = list(&dst);
                        if again != want {
                            failures.push(format!("{what}: reload builds\n  {again:?}\n  not\n  {want:?}"));
                        }
                    }
                }
            }
        }
        // 4. typed re-commit
        let dst = TestNs::new("extx").await;
        let mut tx = Transaction::new();
        rs.write_to(&mut tx).unwrap();
        match Nft::from_connection(dst.netfilter().await).unwrap().commit(&tx).await {
            Err(e) => failures.push(format!("{what}: re-commit: {e}")),
            Ok(_) => {
                let again = list(&dst);
                if again != want {
                    failures.push(format!("{what}: re-commit builds\n  {again:?}\n  not\n  {want:?}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures over {} fixtures:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

/// Rules built with [`RuleBuilder`] and the same rule loaded by nft from
/// text: the kernel lists the same expressions (byte for byte once
/// decoded) and nft prints the same text.
#[tokio::test]
async fn builder_statements_match_what_nft_builds() {
    use netplumb::nft::{Family, Field, IpsecKey, OsfTtl, RuleBuilder, Value};
    let ip = |s: &str| s.parse().unwrap();
    let lo = 1; // loopback's index in a fresh namespace
    let tcp = |b: RuleBuilder| b.eq(Field::META_L4PROTO, Value::proto(6));
    let cases: Vec<(&str, &str, RuleBuilder, &str)> = vec![
        (
            "inet",
            "filter hook prerouting",
            tcp(RuleBuilder::new(Family::Inet, "t", "c")).tproxy(None, Some(8080)),
            "meta l4proto tcp tproxy to :8080",
        ),
        (
            "inet",
            "filter hook prerouting",
            tcp(RuleBuilder::new(Family::Inet, "t", "c")).tproxy(Some(ip("10.1.2.3")), Some(53)),
            "meta l4proto tcp tproxy ip to 10.1.2.3:53",
        ),
        (
            "inet",
            "filter hook prerouting",
            tcp(RuleBuilder::new(Family::Inet, "t", "c")).tproxy(Some(ip("fd00::5")), None),
            "meta l4proto tcp tproxy ip6 to [fd00::5]",
        ),
        (
            "ip",
            "filter hook prerouting",
            tcp(RuleBuilder::new(Family::Ip, "t", "c")).tproxy(None, Some(5353)),
            "meta l4proto tcp tproxy to :5353",
        ),
        (
            "ip6",
            "filter hook prerouting",
            tcp(RuleBuilder::new(Family::Ip6, "t", "c")).tproxy(Some(ip("fd00::9")), Some(80)),
            "meta l4proto tcp tproxy to [fd00::9]:80",
        ),
        (
            "ip",
            "filter hook input",
            RuleBuilder::new(Family::Ip, "t", "c").dup(Some(ip("10.2.3.4")), Some(lo)),
            "dup to 10.2.3.4 device \"lo\"",
        ),
        (
            "ip6",
            "filter hook input",
            RuleBuilder::new(Family::Ip6, "t", "c").dup(Some(ip("fd00::2")), None),
            "dup to fd00::2",
        ),
        (
            "netdev",
            "filter hook ingress device \"lo\"",
            RuleBuilder::new(Family::Netdev, "t", "c").dup(None, Some(lo)),
            "dup to \"lo\"",
        ),
        (
            "netdev",
            "filter hook ingress device \"lo\"",
            RuleBuilder::new(Family::Netdev, "t", "c").fwd(lo, None),
            "fwd to \"lo\"",
        ),
        (
            "netdev",
            "filter hook ingress device \"lo\"",
            RuleBuilder::new(Family::Netdev, "t", "c").fwd(lo, Some(ip("10.1.1.1"))),
            "fwd ip to 10.1.1.1 device \"lo\"",
        ),
        (
            "inet",
            "filter hook forward",
            RuleBuilder::new(Family::Inet, "t", "c").ipsec(false, 0, IpsecKey::Reqid(7)),
            "ipsec in reqid 7",
        ),
        (
            "inet",
            "filter hook forward",
            RuleBuilder::new(Family::Inet, "t", "c").ipsec(true, 1, IpsecKey::Spi(300)),
            "ipsec out spnum 1 spi 300",
        ),
        (
            "ip",
            "filter hook forward",
            RuleBuilder::new(Family::Ip, "t", "c").ipsec(false, 0, IpsecKey::Saddr(ip("10.9.8.7"))),
            "ipsec in ip saddr 10.9.8.7",
        ),
        (
            "inet",
            "filter hook forward",
            RuleBuilder::new(Family::Inet, "t", "c").ipsec(true, 0, IpsecKey::Daddr(ip("fd00::1"))),
            "ipsec out ip6 daddr fd00::1",
        ),
        (
            "inet",
            "filter hook input",
            RuleBuilder::new(Family::Inet, "t", "c").osf(OsfTtl::Exact, false, "Linux"),
            "osf name \"Linux\"",
        ),
        (
            "ip",
            "filter hook input",
            RuleBuilder::new(Family::Ip, "t", "c").osf(OsfTtl::Skip, true, "Linux:4.19"),
            "osf ttl skip version \"Linux:4.19\"",
        ),
        (
            "inet",
            "filter hook input",
            RuleBuilder::new(Family::Inet, "t", "c").osf(OsfTtl::Loose, false, "Windows"),
            "osf ttl loose name \"Windows\"",
        ),
    ];
    // One pair of namespaces per table shape (fewer nft runs: this also
    // runs in the slow Linux 6.1 guest), rules in the order given.
    type Group<'a> = ((&'a str, &'a str), Vec<(RuleBuilder, &'a str)>);
    let mut groups: Vec<Group> = Vec::new();
    for (family, hook, b, text) in cases {
        match groups.iter_mut().find(|(k, _)| *k == (family, hook)) {
            Some((_, v)) => v.push((b, text)),
            None => groups.push(((family, hook), vec![(b, text)])),
        }
    }
    let mut failures = Vec::new();
    for ((family, hook), rules) in groups {
        let texts: Vec<&str> = rules.iter().map(|(_, t)| *t).collect();
        let mut tx = Transaction::new();
        let mut built = true;
        for (b, text) in rules {
            match b.build() {
                Ok(r) => {
                    tx.add_rule(&r).unwrap();
                }
                Err(e) => {
                    failures.push(format!("{text}: builder: {e}"));
                    built = false;
                }
            }
        }
        if !built {
            continue;
        }
        let by_nft = TestNs::new("exnft").await;
        nft_file(&by_nft, &table(family, hook, "", &texts)).unwrap();
        let ours = TestNs::new("exbld").await;
        nft_file(&ours, &table(family, hook, "", &[])).unwrap();
        if let Err(e) = Nft::from_connection(ours.netfilter().await).unwrap().commit(&tx).await {
            failures.push(format!("{texts:?}: commit: {e}"));
            continue;
        }
        let (want, got) = (list(&by_nft), list(&ours));
        if want != got {
            failures.push(format!("{texts:?}: nft lists\n  {got:?}\n  not\n  {want:?}"));
        }
        let exprs = |rs: Ruleset| rs.rules.into_iter().map(|r| r.exprs).collect::<Vec<_>>();
        let (a, b) = (exprs(netplumb_list(&by_nft).await), exprs(netplumb_list(&ours).await));
        assert_eq!(a.len(), texts.len(), "{texts:?}: nft built {} rules", a.len());
        for ((x, y), text) in a.iter().zip(&b).zip(&texts) {
            if x != y {
                failures.push(format!("{text}: kernel holds\n  {y:?}\n  not what nft built\n  {x:?}"));
            }
        }
        if a.len() != b.len() {
            failures.push(format!("{texts:?}: {} rules built, nft built {}", b.len(), a.len()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Bad input to the new builder methods is an error naming the field,
/// before anything reaches the kernel.
#[test]
fn builder_statements_refuse_bad_input() {
    use netplumb::nft::{Family, IpsecKey, OsfTtl, RuleBuilder};
    let ip = |s: &str| s.parse().unwrap();
    let cases: Vec<(RuleBuilder, &str)> = vec![
        (RuleBuilder::new(Family::Inet, "t", "c").tproxy(None, None), "tproxy"),
        (RuleBuilder::new(Family::Ip, "t", "c").tproxy(Some(ip("fd00::1")), None), "tproxy address"),
        (RuleBuilder::new(Family::Netdev, "t", "c").tproxy(None, Some(1)), "tproxy"),
        (RuleBuilder::new(Family::Inet, "t", "c").dup(Some(ip("10.0.0.1")), None), "dup address"),
        (RuleBuilder::new(Family::Ip, "t", "c").dup(None, Some(1)), "dup device"),
        (RuleBuilder::new(Family::Ip, "t", "c").fwd(1, None), "fwd"),
        (RuleBuilder::new(Family::Ip, "t", "c").queue(5, 4, 0), "queue"),
        (RuleBuilder::new(Family::Ip, "t", "c").queue(5, 5, 2), "queue"),
        (RuleBuilder::new(Family::Ip, "t", "c").ipsec(true, 256, IpsecKey::Reqid(1)), "ipsec spnum"),
        (
            RuleBuilder::new(Family::Ip6, "t", "c").ipsec(true, 0, IpsecKey::Saddr(ip("10.0.0.1"))),
            "ipsec address",
        ),
        (
            RuleBuilder::new(Family::Ip, "t", "c").osf(OsfTtl::Exact, false, "morethansixteenbytes"),
            "osf name",
        ),
        (RuleBuilder::new(Family::Ip, "t", "c").osf(OsfTtl::Exact, false, ""), "osf name"),
        (RuleBuilder::new(Family::Ip6, "t", "c").osf(OsfTtl::Exact, false, "Linux"), "osf"),
    ];
    for (b, field) in cases {
        let e = b.build().expect_err(field).to_string();
        assert!(e.contains(field), "{field}: {e}");
    }
}
