//! The service-VIP table of tests/nft/fixtures/kube-proxy-service.nft,
//! built through the API: loaded into the kernel by tests/nft.rs and
//! compared byte for byte with what `nft -f` sent by tests/nft_bytes.rs.

use std::net::{IpAddr, Ipv4Addr};

use netplumb::nft::expr::{NatFlags, NumgenType, Verdict};
use netplumb::nft::{
    priority, Chain, ChainType, DataType, Element, Family, Field, Hook, KeyType, OpId, Policy, RuleBuilder,
    Set, Table, Transaction, Value,
};

/// The table's family.
pub const F: Family = Family::Ip;
/// The table's name.
pub const T: &str = "kube-proxy";

/// An IPv4 address value.
pub fn v4(s: &str) -> Value {
    Value::ipv4(s.parse::<Ipv4Addr>().unwrap())
}

/// An address.
pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The `service-ips` verdict map.
pub fn service_map() -> Set {
    Set::map(
        F,
        T,
        "service-ips",
        KeyType::concat(&[DataType::IPV4_ADDR, DataType::INET_PROTO, DataType::INET_SERVICE]),
        KeyType::single(DataType::VERDICT),
    )
    .comment("ClusterIP traffic")
}

/// The service-VIP table of tests/nft/fixtures/kube-proxy-service.nft,
/// built through the API.
pub fn service_vip(tx: &mut Transaction) -> Vec<OpId> {
    tx.add_table(&Table::new(F, T)).unwrap();
    let chain = |n: &str| Chain::new(F, T, n);
    tx.add_chain(
        &chain("nat-prerouting")
            .base(ChainType::Nat, Hook::Prerouting, priority::DSTNAT)
            .policy(Policy::Accept),
    )
    .unwrap();
    for c in ["services", "svc-a", "ep-a", "ep-b", "mark-for-masquerade"] {
        tx.add_chain(&chain(c)).unwrap();
    }
    tx.add_chain(
        &chain("nat-postrouting")
            .base(ChainType::Nat, Hook::Postrouting, priority::SRCNAT)
            .policy(Policy::Accept),
    )
    .unwrap();
    tx.add_set(&service_map()).unwrap();
    let rule = |c: &str| RuleBuilder::new(F, T, c);
    let rules = vec![
        rule("nat-prerouting").jump("services"),
        rule("services").vmap(&[Field::IP_DADDR, Field::META_L4PROTO, Field::TH_DPORT], "service-ips"),
        rule("svc-a")
            .eq(Field::IP_DADDR, v4("10.96.0.1"))
            .eq(Field::TCP_DPORT, Value::port(443))
            .prefix(Field::IP_SADDR, "10.244.0.0/16".parse().unwrap(), true)
            .jump("mark-for-masquerade"),
        rule("svc-a")
            .numgen_vmap(NumgenType::Random, &[Verdict::Goto("ep-a".into()), Verdict::Goto("ep-b".into())]),
        rule("ep-a").eq(Field::IP_SADDR, v4("172.18.0.2")).jump("mark-for-masquerade"),
        rule("ep-a")
            .eq(Field::META_L4PROTO, Value::proto(Value::TCP))
            .dnat(Some(ip("172.18.0.2")), Some(6443)),
        rule("ep-b")
            .eq(Field::META_L4PROTO, Value::proto(Value::TCP))
            .dnat(Some(ip("172.18.0.3")), Some(6443))
            .comment("hello world"),
        rule("mark-for-masquerade").mark_or(0x4000),
        rule("nat-postrouting").mark_masked(0x4000, 0, false).ret(),
        rule("nat-postrouting").mark_xor(0x4000),
        rule("nat-postrouting").masquerade(NatFlags::FULLY_RANDOM),
    ];
    let ops = rules.into_iter().map(|r| tx.add_rule(&r.build().unwrap()).unwrap()).collect();
    let key = Value::concat(&[v4("10.96.0.1"), Value::proto(Value::TCP), Value::port(443)]);
    tx.add_elements(&service_map(), &[Element::new(key).verdict(Verdict::Goto("svc-a".into()))]).unwrap();
    ops
}

/// `nft list ruleset` text without what changes with time (`expires
/// 4s964ms`), keeping the separator the value carried; one line each.
pub fn without_expires(s: &str) -> String {
    let mut out = String::new();
    for line in s.lines() {
        let mut words = line.split(' ');
        let mut first = true;
        while let Some(w) = words.next() {
            if w == "expires" {
                let v = words.next().unwrap_or("");
                if v.ends_with(',') {
                    out.push(',');
                } else if v.ends_with('}') {
                    out.push_str(" }");
                }
                continue;
            }
            if !first {
                out.push(' ');
            }
            out.push_str(w);
            first = false;
        }
        out.push('\n');
    }
    out
}

/// `nft -f` of `text` in `ns` (through a temporary file, removed after);
/// nft's error message when it refuses the text.
pub fn load(ns: &netplumb::testing::TestNs, text: &str) -> Result<(), String> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let path = std::env::temp_dir().join(format!(
        "netplumb-test-{}-{}-{}.nft",
        std::process::id(),
        ns.name(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, text).unwrap();
    let (ok, _, err) = ns.try_exec("nft", &["-f", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    if ok {
        Ok(())
    } else {
        Err(err.trim().to_string())
    }
}

/// The ruleset of `ns` as netplumb decodes it, interface names resolved
/// in `ns` (as `nft list ruleset` resolves them).
pub async fn netplumb_ruleset(ns: &netplumb::testing::TestNs) -> netplumb::nft::Ruleset {
    let mut rs = netplumb::nft::Nft::from_connection(ns.netfilter().await).unwrap().ruleset().await.unwrap();
    let links: Vec<_> = netplumb::rtnl::Rtnl::from_connection(ns.route().await)
        .unwrap()
        .links()
        .list()
        .try_collect()
        .await
        .unwrap();
    rs.set_ifnames(links.into_iter().map(|l| (l.index.0, l.name)));
    rs
}
