//! Differential tests against `nft` (nftables 1.0.6) on a corpus of
//! rulesets (tests/nft/corpus/*.nft), in fresh namespaces (root needed):
//!
//! (a) load with `nft -f`, list with netplumb, render: the text equals
//!     `nft list ruleset`, and `nft -f` accepts it back unchanged;
//! (b) build with netplumb (write back what was decoded, through a
//!     transaction), list with `nft`: the same ruleset.

mod common;

use netplumb::nft::{Nft, Ruleset, Transaction};
use netplumb::testing::{run_with_input, TestNs};

fn corpus() -> Vec<(String, String)> {
    let mut v = full_corpus();
    // NFT_CORPUS=name restricts a run to one file while debugging.
    if let Ok(only) = std::env::var("NFT_CORPUS") {
        v.retain(|(n, _)| n.contains(&only));
    }
    v
}

fn full_corpus() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/nft/corpus");
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .expect("corpus directory")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "nft"))
        .map(|p| {
            (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    v.sort();
    assert!(v.len() >= 5, "corpus is missing files");
    v
}

fn nft_list(ns: &TestNs) -> String {
    ns.exec("nft", &["list", "ruleset"])
}

fn load(ns: &TestNs, text: &str) {
    run_with_input("ip", &["netns", "exec", ns.name(), "nft", "-f", "-"], text);
}

fn diff(a: &str, b: &str) -> String {
    let mut out = String::new();
    let (al, bl): (Vec<_>, Vec<_>) = (a.lines().collect(), b.lines().collect());
    for i in 0..al.len().max(bl.len()) {
        let (x, y) = (al.get(i).copied().unwrap_or("<none>"), bl.get(i).copied().unwrap_or("<none>"));
        if x != y {
            out.push_str(&format!("line {}:\n  nft:       {x}\n  netplumb:  {y}\n", i + 1));
        }
    }
    out
}

#[tokio::test]
async fn decode_and_render_match_nft_list() {
    let mut failures = Vec::new();
    for (name, text) in corpus() {
        let ns = TestNs::new("nftdiff").await;
        load(&ns, &text);
        let want = nft_list(&ns);
        let nft = Nft::from_connection(ns.netfilter().await).unwrap();
        let rs: Ruleset = nft.ruleset().await.unwrap_or_else(|e| panic!("{name}: list: {e}"));
        let got = rs.to_string();
        if common::nft::without_expires(&want) != common::nft::without_expires(&got) {
            failures.push(format!(
                "{name}:\n{}",
                diff(&common::nft::without_expires(&want), &common::nft::without_expires(&got))
            ));
            continue;
        }
        // nft accepts what we render, and lists it back the same.
        let ns2 = TestNs::new("nftdiff").await;
        load(&ns2, &got);
        let again = nft_list(&ns2);
        if common::nft::without_expires(&again) != common::nft::without_expires(&want) {
            failures.push(format!(
                "{name} (reloaded):\n{}",
                diff(&common::nft::without_expires(&want), &common::nft::without_expires(&again))
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn rebuild_through_netplumb_lists_the_same_in_nft() {
    let mut failures = Vec::new();
    for (name, text) in corpus() {
        let src = TestNs::new("nftsrc").await;
        load(&src, &text);
        let want = nft_list(&src);
        let rs = Nft::from_connection(src.netfilter().await).unwrap().ruleset().await.unwrap();
        // Write it into an empty namespace through one transaction.
        let dst = TestNs::new("nftdst").await;
        let mut tx = Transaction::new();
        rs.write_to(&mut tx).unwrap_or_else(|e| panic!("{name}: build: {e}"));
        let nft = Nft::from_connection(dst.netfilter().await).unwrap();
        nft.commit(&tx).await.unwrap_or_else(|e| panic!("{name}: commit: {e}"));
        let got = nft_list(&dst);
        if common::nft::without_expires(&want) != common::nft::without_expires(&got) {
            failures.push(format!(
                "{name}:\n{}",
                diff(&common::nft::without_expires(&want), &common::nft::without_expires(&got))
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn corpus_covers_every_modelled_expression_and_nothing_is_opaque() {
    use std::collections::BTreeSet;
    let mut seen = BTreeSet::new();
    for (name, text) in full_corpus() {
        let ns = TestNs::new("nftcov").await;
        load(&ns, &text);
        let rs = Nft::from_connection(ns.netfilter().await).unwrap().ruleset().await.unwrap();
        for r in &rs.rules {
            for e in &r.exprs {
                assert!(!matches!(e, netplumb::nft::expr::Expr::Unknown(_)), "{name}: opaque {e:?}");
                seen.insert(e.name().to_string());
            }
        }
    }
    // byteorder is not produced by any nft syntax in this corpus; it is
    // covered by the round-trip unit tests.
    let want = [
        "bitwise",
        "cmp",
        "counter",
        "ct",
        "dynset",
        "fib",
        "hash",
        "immediate",
        "limit",
        "log",
        "lookup",
        "masq",
        "meta",
        "nat",
        "notrack",
        "numgen",
        "objref",
        "payload",
        "quota",
        "range",
        "redir",
        "reject",
    ];
    let missing: Vec<_> = want.iter().filter(|w| !seen.contains(**w)).collect();
    assert!(missing.is_empty(), "corpus lacks {missing:?}; has {seen:?}");
}
