//! nftables through netplumb in fresh namespaces (root needed): building
//! with the rule builder, handles, partial updates, atomicity, the
//! generation guard, large element lists, element updates in place.

use std::net::Ipv4Addr;
use std::time::Duration;

use netplumb::nft::expr::{NumgenType, Verdict};
use netplumb::nft::{
    is_generation_conflict, Chain, DataType, Element, Family, Field, KeyType, Nft, RuleBuilder, Set,
    SetFlags, Table, Transaction, Value,
};
use netplumb::testing::{run_with_input, TestNs};

mod common;
use common::nft::{service_map, service_vip, v4, F, T};

fn fixture_text(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/nft/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn nft_list(ns: &TestNs) -> String {
    ns.exec("nft", &["list", "ruleset"])
}

#[tokio::test]
async fn builder_output_lists_like_the_same_ruleset_loaded_by_nft() {
    let ours = TestNs::new("nftvip").await;
    let nft = Nft::from_connection(ours.netfilter().await).unwrap();
    let mut tx = Transaction::new();
    let ops = service_vip(&mut tx);
    let done = nft.commit(&tx).await.unwrap();
    // Every rule got its handle back, and they are the ones nft shows.
    let handles: Vec<u64> = ops.iter().map(|op| done.handle(*op).expect("handle")).collect();
    let listed = nft.list_rules(Some(F), Some(T), None).await.unwrap();
    let mut listed_handles: Vec<u64> = listed.iter().map(|r| r.handle.unwrap()).collect();
    let mut sorted = handles.clone();
    sorted.sort();
    listed_handles.sort();
    assert_eq!(sorted, listed_handles);
    assert_eq!(done.generation, nft.generation().await.unwrap());

    let theirs = TestNs::new("nftvip").await;
    run_with_input(
        "ip",
        &["netns", "exec", theirs.name(), "nft", "-f", "-"],
        &fixture_text("kube-proxy-service.nft"),
    );
    assert_eq!(nft_list(&ours), nft_list(&theirs));
}

#[tokio::test]
async fn partial_update_replaces_a_rule_and_deletes_a_chain_atomically() {
    let ns = TestNs::new("nftpart").await;
    let nft = Nft::from_connection(ns.netfilter().await).unwrap();
    let mut tx = Transaction::new();
    let ops = service_vip(&mut tx);
    let done = nft.commit(&tx).await.unwrap();
    // ops[3] is the numgen rule of svc-a: point it at ep-a only, drop ep-b.
    let numgen = done.handle(ops[3]).unwrap();
    let mut tx = Transaction::new();
    let r = RuleBuilder::new(F, T, "svc-a")
        .numgen_vmap(NumgenType::Random, &[Verdict::Goto("ep-a".into())])
        .build()
        .unwrap();
    tx.replace_rule(&r, numgen).unwrap();
    tx.flush_chain(F, T, "ep-b").unwrap();
    tx.delete_chain(F, T, "ep-b").unwrap();
    nft.commit(&tx).await.unwrap();
    let out = ns.exec("nft", &["-a", "list", "chain", "ip", T, "svc-a"]);
    assert!(
        out.contains(&format!("numgen random mod 1 vmap {{ 0 : goto ep-a }} # handle {numgen}")),
        "{out}"
    );
    let chains = nft.list_chains(Some(F)).await.unwrap();
    assert!(chains.iter().all(|c| c.name != "ep-b"));
    assert!(chains.iter().any(|c| c.name == "ep-a"));
}

#[tokio::test]
async fn a_failing_operation_leaves_the_ruleset_unchanged_and_is_named() {
    let ns = TestNs::new("nftatom").await;
    let nft = Nft::from_connection(ns.netfilter().await).unwrap();
    let mut tx = Transaction::new();
    service_vip(&mut tx);
    nft.commit(&tx).await.unwrap();
    let before = nft_list(&ns);

    // Many valid changes, then one the kernel must refuse (a jump to a
    // chain that does not exist), then more valid changes.
    let mut tx = Transaction::new();
    tx.add_chain(&Chain::new(F, T, "svc-new")).unwrap();
    for i in 0..20u8 {
        tx.add_rule(
            &RuleBuilder::new(F, T, "svc-new")
                .eq(Field::IP_DADDR, v4(&format!("10.0.0.{i}")))
                .accept()
                .build()
                .unwrap(),
        )
        .unwrap();
    }
    let key = Value::concat(&[v4("10.96.0.9"), Value::proto(Value::TCP), Value::port(80)]);
    tx.add_elements(&service_map(), &[Element::new(key).verdict(Verdict::Goto("svc-new".into()))]).unwrap();
    tx.flush_chain(F, T, "ep-a").unwrap();
    let bad = tx
        .add_rule(&RuleBuilder::new(F, T, "nat-prerouting").jump("no-such-chain").build().unwrap())
        .unwrap();
    tx.add_chain(&Chain::new(F, T, "svc-later")).unwrap();
    let err = nft.commit(&tx).await.unwrap_err();
    let k = err.kernel().expect("a kernel error");
    let op = k.operation.as_ref().expect("the failed operation");
    assert_eq!(op.index, bad.0, "{err}");
    assert_eq!(op.description, "add rule to ip kube-proxy/nat-prerouting");
    assert_eq!(tx.describe(bad), Some("add rule to ip kube-proxy/nat-prerouting"));
    assert!(err.is_not_found(), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("operation {}: add rule to ip kube-proxy/nat-prerouting failed", bad.0)),
        "{text}"
    );
    // Byte for byte what it was.
    assert_eq!(nft_list(&ns), before);
}

#[tokio::test]
async fn generation_guard_refuses_a_stale_transaction() {
    let ns = TestNs::new("nftgen").await;
    let nft = Nft::from_connection(ns.netfilter().await).unwrap();
    let mut tx = Transaction::new();
    tx.add_table(&Table::new(F, T)).unwrap();
    nft.commit(&tx).await.unwrap();
    let seen = nft.generation().await.unwrap();
    // Someone else changes the ruleset.
    ns.exec("nft", &["add", "table", "ip", "other"]);
    let mut tx = Transaction::new();
    tx.guard_generation(seen);
    tx.add_chain(&Chain::new(F, T, "c")).unwrap();
    let err = nft.commit(&tx).await.unwrap_err();
    assert!(is_generation_conflict(&err), "{err}");
    // Reported against the batch header, which is no operation.
    let k = err.kernel().unwrap();
    assert_eq!(k.operation, None, "{err}");
    assert_eq!(k.request.to_string(), "NFNL_MSG_BATCH_BEGIN", "{err}");
    assert!(err.to_string().contains("generation guard failed"), "{err}");
    assert!(nft.list_chains(Some(F)).await.unwrap().is_empty());
    // With the current generation it goes through.
    let mut tx = Transaction::new();
    tx.guard_generation(nft.generation().await.unwrap());
    tx.add_chain(&Chain::new(F, T, "c")).unwrap();
    nft.commit(&tx).await.unwrap();
    assert_eq!(nft.list_chains(Some(F)).await.unwrap().len(), 1);
}

#[tokio::test]
async fn hundred_thousand_elements_are_one_atomic_batch() {
    let ns = TestNs::new("nftbig").await;
    let nft = Nft::from_connection(ns.netfilter().await).unwrap();
    let set = Set::new(F, T, "big", KeyType::single(DataType::IPV4_ADDR)).size(200_000);
    let elems: Vec<Element> =
        (0..100_000u32).map(|i| Element::new(Value::ipv4(Ipv4Addr::from(0x0a00_0000 + i)))).collect();
    let mut tx = Transaction::new();
    tx.add_table(&Table::new(F, T)).unwrap();
    tx.add_set(&set).unwrap();
    tx.add_elements(&set, &elems).unwrap();
    assert!(tx.message_count() > 20, "elements must be split across messages");
    assert_eq!(tx.len(), 3, "still three operations");
    nft.commit(&tx).await.unwrap();
    assert_eq!(nft.list_elements(F, T, "big").await.unwrap().len(), 100_000);

    // The same size with one failing element at the end: nothing applied.
    let mut tx = Transaction::new();
    let other = Set::new(F, T, "big2", KeyType::single(DataType::IPV4_ADDR)).size(200_000);
    tx.add_set(&other).unwrap();
    tx.add_elements(&other, &elems).unwrap();
    tx.create_elements(&set, &elems[..1]).unwrap(); // exists: EEXIST
    let err = nft.commit(&tx).await.unwrap_err();
    assert!(err.is_exists(), "{err}");
    assert!(nft.list_sets(Some(F)).await.unwrap().iter().all(|s| s.name != "big2"));
}

#[tokio::test]
async fn elements_change_in_place_with_timeouts_comments_and_ranges() {
    let ns = TestNs::new("nftelem").await;
    let nft = Nft::from_connection(ns.netfilter().await).unwrap();
    let set = Set::new(F, T, "nets", KeyType::single(DataType::IPV4_ADDR))
        .flags(SetFlags::INTERVAL)
        .timeout(Duration::from_secs(3600));
    let mut tx = Transaction::new();
    tx.add_table(&Table::new(F, T)).unwrap();
    tx.add_set(&set).unwrap();
    tx.add_elements(
        &set,
        &[
            Element::prefix("10.0.0.0/8".parse().unwrap()).comment("ten"),
            Element::range(v4("192.168.1.1"), v4("192.168.1.5")).timeout(Duration::from_secs(60)),
            Element::new(v4("203.0.113.7")),
        ],
    )
    .unwrap();
    nft.commit(&tx).await.unwrap();
    let out = ns.exec("nft", &["list", "set", "ip", T, "nets"]);
    assert!(out.contains("10.0.0.0/8 expires"), "{out}");
    assert!(out.contains("comment \"ten\""), "{out}");
    assert!(out.contains("192.168.1.1-192.168.1.5 timeout 1m"), "{out}");
    assert!(out.contains("203.0.113.7 expires"), "{out}");

    // Delete one range and add one address, in place.
    let mut tx = Transaction::new();
    tx.delete_elements(&set, &[Element::range(v4("192.168.1.1"), v4("192.168.1.5"))]).unwrap();
    tx.add_elements(&set, &[Element::new(v4("198.51.100.1"))]).unwrap();
    nft.commit(&tx).await.unwrap();
    let merged = netplumb::nft::merge_intervals(nft.list_elements(F, T, "nets").await.unwrap());
    let keys: Vec<Vec<u8>> = merged.iter().map(|e| e.key.to_vec()).collect();
    assert_eq!(keys, vec![vec![10, 0, 0, 0], vec![198, 51, 100, 1], vec![203, 0, 113, 7]]);
    assert_eq!(merged[0].comment.as_deref(), Some("ten"));

    // Flush the set, then destroy it and a table that does not exist.
    let mut tx = Transaction::new();
    tx.flush_set(F, T, "nets").unwrap();
    nft.commit(&tx).await.unwrap();
    assert!(nft.list_elements(F, T, "nets").await.unwrap().is_empty());
    let mut tx = Transaction::new();
    tx.destroy_set(F, T, "nets").unwrap();
    tx.destroy_table(Family::Ip6, "never-was").unwrap();
    nft.commit(&tx).await.unwrap();
    assert!(nft.list_sets(Some(F)).await.unwrap().is_empty());
}

#[tokio::test]
async fn rules_insert_at_positions_and_delete_by_handle() {
    let ns = TestNs::new("nftpos").await;
    let nft = Nft::from_connection(ns.netfilter().await).unwrap();
    let mut tx = Transaction::new();
    tx.add_table(&Table::new(F, T)).unwrap();
    tx.add_chain(&Chain::new(F, T, "c")).unwrap();
    let r = |port: u16| {
        RuleBuilder::new(F, T, "c").eq(Field::TCP_DPORT, Value::port(port)).accept().build().unwrap()
    };
    let a = tx.add_rule(&r(1)).unwrap();
    let b = tx.add_rule(&r(2)).unwrap();
    let done = nft.commit(&tx).await.unwrap();
    let (ha, hb) = (done.handle(a).unwrap(), done.handle(b).unwrap());
    let mut tx = Transaction::new();
    tx.insert_rule(&r(0)).unwrap();
    tx.add_rule_after(&r(11), ha).unwrap();
    tx.insert_rule_before(&r(12), hb).unwrap();
    tx.add_rule(&r(3)).unwrap();
    nft.commit(&tx).await.unwrap();
    let ports = |rules: Vec<netplumb::nft::Rule>| -> Vec<String> {
        let rs = netplumb::nft::Ruleset { rules, ..Default::default() };
        rs.rules.iter().map(|r| netplumb::nft::render::rule(r, &[])).collect()
    };
    let got = ports(nft.list_rules(Some(F), Some(T), Some("c")).await.unwrap());
    let want: Vec<String> = [0, 1, 11, 12, 2, 3].iter().map(|p| format!("tcp dport {p} accept")).collect();
    assert_eq!(got, want);
    let mut tx = Transaction::new();
    tx.delete_rule(F, T, "c", ha).unwrap();
    nft.commit(&tx).await.unwrap();
    let got = ports(nft.list_rules(Some(F), Some(T), Some("c")).await.unwrap());
    assert_eq!(got.len(), 5);
    assert!(!got.contains(&"tcp dport 1 accept".to_string()));
}

#[tokio::test]
async fn invalid_input_is_refused_before_sending() {
    let mut tx = Transaction::new();
    let e = tx.add_table(&Table::new(F, "")).unwrap_err();
    assert!(e.to_string().contains("table name"), "{e}");
    let set = Set::new(F, T, "s", KeyType::single(DataType::IPV4_ADDR));
    let e = tx.add_elements(&set, &[Element::new(Value::port(80))]).unwrap_err();
    assert!(e.to_string().contains("elements[0].key"), "{e}");
    let e = RuleBuilder::new(F, T, "c").eq(Field::IP_DADDR, Value::port(1)).build().unwrap_err();
    assert!(e.to_string().contains("value"), "{e}");
    assert!(tx.is_empty());
}

#[tokio::test]
async fn set_free_endpoint_spread_lists_like_nft() {
    let text = "table ip kp {\n\tchain ep-a {\n\t}\n\n\tchain ep-b {\n\t}\n\n\tchain svc {\n\t\tnumgen random mod 2 0 goto ep-a\n\t\tgoto ep-b\n\t}\n}\n";
    let theirs = TestNs::new("nftng").await;
    run_with_input("ip", &["netns", "exec", theirs.name(), "nft", "-f", "-"], text);
    let ours = TestNs::new("nftng").await;
    let nft = Nft::from_connection(ours.netfilter().await).unwrap();
    let mut tx = Transaction::new();
    tx.add_table(&Table::new(F, "kp")).unwrap();
    for c in ["ep-a", "ep-b", "svc"] {
        tx.add_chain(&Chain::new(F, "kp", c)).unwrap();
    }
    tx.add_rule(
        &RuleBuilder::new(F, "kp", "svc")
            .numgen_eq(NumgenType::Random, 2, 0, 0)
            .goto("ep-a")
            .build()
            .unwrap(),
    )
    .unwrap();
    tx.add_rule(&RuleBuilder::new(F, "kp", "svc").goto("ep-b").build().unwrap()).unwrap();
    nft.commit(&tx).await.unwrap();
    assert_eq!(nft_list(&ours), nft_list(&theirs));
    assert_eq!(nft.ruleset().await.unwrap().to_string(), nft_list(&theirs));
}

/// `destroy` on kernels before 6.3 (which lack `NFT_MSG_DESTROY*`) is a
/// delete of what exists, decided against a listing and committed under a
/// generation guard. Each step runs in two namespaces holding the same
/// ruleset: through [`Nft::commit`] (the kernel's own destroy where it has
/// one) and through [`Nft::commit_emulating_destroy`]; the outcome (success
/// or errno) and `nft list ruleset` must agree after every step. On a
/// kernel before 6.3 both sides are the emulation, and the steps still
/// check what the ruleset must hold.
#[tokio::test]
async fn destroy_emulated_for_kernels_before_6_3_matches_the_kernels_destroy() {
    use netplumb::nft::expr::Counter;
    use netplumb::nft::{Object, ObjectKind};
    let native = TestNs::new("destroyn").await;
    let emul = TestNs::new("destroye").await;
    let nn = Nft::from_connection(native.netfilter().await).unwrap();
    let ne = Nft::from_connection(emul.netfilter().await).unwrap();
    let set = Set::new(F, T, "s", KeyType::single(DataType::IPV4_ADDR)).flags(SetFlags::INTERVAL);
    let rule =
        |p: u16| RuleBuilder::new(F, T, "c").eq(Field::TCP_DPORT, Value::port(p)).accept().build().unwrap();
    let counter = ObjectKind::Counter(Counter { bytes: 0, packets: 0 });
    let mut setup = Transaction::new();
    setup.add_table(&Table::new(F, T)).unwrap();
    setup.add_chain(&Chain::new(F, T, "c")).unwrap();
    setup.add_chain(&Chain::new(F, T, "d")).unwrap();
    setup.add_rule(&rule(1)).unwrap();
    setup.add_rule(&rule(2)).unwrap();
    setup.add_set(&set).unwrap();
    setup
        .add_elements(
            &set,
            &[
                Element::range(v4("10.0.0.1"), v4("10.0.0.9")),
                Element::new(v4("192.0.2.1")),
                Element::new(v4("192.0.2.7")),
            ],
        )
        .unwrap();
    setup.add_object(&Object::new(F, T, "cnt", counter.clone())).unwrap();
    nn.commit(&setup).await.unwrap();
    ne.commit(&setup).await.unwrap();
    let handles: Vec<u64> =
        nn.list_rules(Some(F), Some(T), Some("c")).await.unwrap().iter().map(|r| r.handle.unwrap()).collect();
    let same: Vec<u64> =
        ne.list_rules(Some(F), Some(T), Some("c")).await.unwrap().iter().map(|r| r.handle.unwrap()).collect();
    assert_eq!(handles, same);
    let other = Set::new(F, T, "x", KeyType::single(DataType::IPV4_ADDR));
    let nowhere = Set::new(F, T, "nowhere", KeyType::single(DataType::IPV4_ADDR));
    let cnt = counter.object_type();

    // (what, operations, whether it must succeed on every kernel (None:
    // only that both sides agree), text `nft list ruleset` must then show,
    // text it must not).
    type Step =
        (&'static str, Box<dyn Fn(&mut Transaction)>, Option<bool>, Vec<&'static str>, Vec<&'static str>);
    let steps: Vec<Step> = vec![
        (
            "chain d exists, chain nope does not",
            Box::new(|tx| {
                tx.destroy_chain(F, T, "d").unwrap();
                tx.destroy_chain(F, T, "nope").unwrap();
            }),
            Some(true),
            vec!["chain c {"],
            vec!["chain d {"],
        ),
        (
            "set, object and rules that do not exist",
            Box::new(move |tx| {
                tx.destroy_set(F, T, "nope").unwrap();
                tx.destroy_object(F, T, "nope", cnt).unwrap();
                tx.destroy_rule(F, T, "c", 999_999).unwrap();
                tx.destroy_rule(F, T, "nochain", 1).unwrap();
            }),
            Some(true),
            vec!["tcp dport 1 accept", "tcp dport 2 accept", "counter cnt"],
            vec![],
        ),
        (
            "the first rule, by handle",
            Box::new(move |tx| {
                tx.destroy_rule(F, T, "c", handles[0]).unwrap();
            }),
            Some(true),
            vec!["tcp dport 2 accept"],
            vec!["tcp dport 1 accept"],
        ),
        (
            "a range and an address that exist, one that does not",
            Box::new(move |tx| {
                let els = [
                    Element::range(v4("10.0.0.1"), v4("10.0.0.9")),
                    Element::new(v4("192.0.2.1")),
                    Element::new(v4("198.51.100.9")),
                ];
                tx.destroy_elements(&set, &els).unwrap();
            }),
            Some(true),
            vec!["elements = { 192.0.2.7 }"],
            vec!["10.0.0.1", "192.0.2.1 "],
        ),
        (
            "objects created earlier in the same transaction",
            Box::new(move |tx| {
                tx.add_chain(&Chain::new(F, T, "e")).unwrap();
                tx.destroy_chain(F, T, "e").unwrap();
                tx.add_set(&other).unwrap();
                tx.add_elements(&other, &[Element::new(v4("192.0.2.3")), Element::new(v4("192.0.2.4"))])
                    .unwrap();
                tx.destroy_elements(&other, &[Element::new(v4("192.0.2.3")), Element::new(v4("192.0.2.5"))])
                    .unwrap();
                tx.destroy_chain(F, T, "f").unwrap();
                tx.add_chain(&Chain::new(F, T, "f")).unwrap();
            }),
            Some(true),
            vec!["chain f {", "elements = { 192.0.2.4 }"],
            vec!["chain e {", "192.0.2.3"],
        ),
        (
            "the counter",
            Box::new(move |tx| {
                tx.destroy_object(F, T, "cnt", cnt).unwrap();
            }),
            Some(true),
            vec![],
            vec!["counter cnt"],
        ),
        (
            "elements of a set that does not exist",
            Box::new(move |tx| {
                tx.destroy_elements(&nowhere, &[Element::new(v4("192.0.2.3"))]).unwrap();
            }),
            None,
            vec![],
            vec![],
        ),
        (
            "a chain in a table that does not exist",
            Box::new(|tx| {
                tx.destroy_chain(Family::Ip6, "never-was", "c").unwrap();
            }),
            None,
            vec![],
            vec![],
        ),
        (
            "a rule in a table that does not exist",
            Box::new(|tx| {
                tx.destroy_rule(Family::Ip6, "never-was", "c", 1).unwrap();
            }),
            None,
            vec![],
            vec![],
        ),
        (
            "a deleted table's chain",
            Box::new(|tx| {
                tx.flush_table(F, T).unwrap();
                tx.delete_table(F, T).unwrap();
                tx.destroy_chain(F, T, "c").unwrap();
            }),
            None,
            vec![],
            vec![],
        ),
        (
            "the table, and one that does not exist",
            Box::new(|tx| {
                tx.destroy_table(F, T).unwrap();
                tx.destroy_table(Family::Ip6, "never-was").unwrap();
            }),
            Some(true),
            vec![],
            vec!["table"],
        ),
    ];
    let outcome = |r: netplumb::Result<netplumb::nft::Committed>| match r {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("{:?}", e.errno()),
    };
    for (what, build, must_succeed, present, absent) in &steps {
        let mut tx = Transaction::new();
        build(&mut tx);
        let a = outcome(nn.commit(&tx).await);
        let b = outcome(ne.commit_emulating_destroy(&tx).await);
        let (la, lb) = (nft_list(&native), nft_list(&emul));
        println!("{what}: kernel {a}, emulated {b}");
        assert_eq!(a, b, "{what}: kernel vs emulated outcome");
        assert_eq!(la, lb, "{what}: kernel vs emulated ruleset");
        if let Some(ok) = must_succeed {
            assert_eq!(a == "ok", *ok, "{what}: {a}");
        }
        for p in present {
            assert!(la.contains(p), "{what}: no {p:?} in\n{la}");
        }
        for p in absent {
            assert!(!la.contains(p), "{what}: {p:?} still in\n{la}");
        }
    }
    // What the steps must have done, on any kernel.
    let rs = nft_list(&native);
    assert!(rs.is_empty(), "{rs}");
}
