//! netplumb's nft listing against nft itself, rule by rule, on rules
//! written for these tests (tests/nft/render/rules.txt: TCP options and
//! IPv6 extension headers, byte order, header fields by name, symbols,
//! syntax). Each rule is loaded with `nft` into a fresh namespace and
//! checked three ways, each in a fresh namespace too:
//!
//! 1. netplumb's listing equals `nft list ruleset`;
//! 2. the strict render loaded with `nft -f` rebuilds the identical ruleset;
//! 3. the decoded ruleset committed through a `Transaction` lists identically.
//!
//! And the safety property: what netplumb cannot render is an error in
//! the strict render and a mark nft refuses in the listing. Needs root.

use netplumb::nft::expr::{Expr, Unknown};
use netplumb::nft::{render, Nft, Ruleset, Transaction};
use netplumb::rtnl::Rtnl;
use netplumb::testing::TestNs;

fn nft_file(ns: &TestNs, text: &str) -> Result<(), String> {
    let path = std::env::temp_dir().join(format!("netplumb-render-{}-{}.nft", std::process::id(), ns.name()));
    std::fs::write(&path, text).unwrap();
    let (ok, _, err) = ns.try_exec("nft", &["-f", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    if ok {
        Ok(())
    } else {
        Err(err.trim().to_string())
    }
}

fn list(ns: &TestNs) -> String {
    ns.exec("nft", &["list", "ruleset"])
}

async fn netplumb_list(ns: &TestNs) -> Ruleset {
    let mut rs = Nft::from_connection(ns.netfilter().await).ruleset().await.unwrap();
    let links = Rtnl::from_connection(ns.route().await).unwrap().links().list().try_collect().await.unwrap();
    rs.set_ifnames(links.into_iter().map(|l| (l.index.0, l.name)));
    rs
}

fn rules() -> Vec<(String, String, String)> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/nft/render/rules.txt")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (head, rule) = l.split_once(" | ").expect("FAMILY TYPE | RULE");
            let (family, kind) = head.split_once(' ').expect("FAMILY TYPE");
            (family.to_string(), kind.to_string(), rule.to_string())
        })
        .collect()
}

fn table_text(family: &str, kind: &str, rule: &str) -> String {
    let hook = match family {
        "netdev" => "ingress device lo",
        _ => "input",
    };
    format!("table {family} t {{\n\tchain c {{\n\t\ttype {kind} hook {hook} priority 0; policy accept;\n\t\t{rule}\n\t}}\n}}\n")
}

#[tokio::test]
async fn fixture_rules_list_reload_and_recommit_as_nft() {
    let mut failures = Vec::new();
    let all = rules();
    assert!(all.len() >= 30, "fixture rules missing");
    for (family, kind, rule) in &all {
        let here = format!("{family} | {rule}");
        let src = TestNs::new("rndsrc").await;
        if let Err(e) = nft_file(&src, &table_text(family, kind, rule)) {
            failures.push(format!("{here}: nft refuses the fixture itself: {e}"));
            continue;
        }
        let want = list(&src);
        let rs = netplumb_list(&src).await;
        // 1. listing
        let got = rs.to_string();
        if got != want {
            failures.push(format!("{here}: listing\n  nft:      {want:?}\n  netplumb: {got:?}"));
        }
        // 2. strict render reloaded
        match render::ruleset_strict(&rs) {
            Err(e) => failures.push(format!("{here}: strict render: {e}")),
            Ok(text) => {
                let dst = TestNs::new("rndload").await;
                match nft_file(&dst, &text) {
                    Err(e) => failures.push(format!("{here}: nft -f refuses the render: {e}")),
                    Ok(()) => {
                        let again = list(&dst);
                        if again != want {
                            failures.push(format!("{here}: reload builds\n  {again:?}\n  not\n  {want:?}"));
                        }
                    }
                }
            }
        }
        // 3. typed re-commit
        let dst = TestNs::new("rndtx").await;
        let mut tx = Transaction::new();
        rs.write_to(&mut tx).unwrap();
        match Nft::from_connection(dst.netfilter().await).commit(&tx).await {
            Err(e) => failures.push(format!("{here}: re-commit: {e}")),
            Ok(_) => {
                let again = list(&dst);
                if again != want {
                    failures.push(format!("{here}: re-commit builds\n  {again:?}\n  not\n  {want:?}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} rules:\n{}", failures.len(), all.len(), failures.join("\n"));
}

/// An expression netplumb cannot render: the strict render names table,
/// chain, rule handle and expression; the human listing carries a mark
/// that nft refuses to load (a `#` comment would load a broader rule).
#[tokio::test]
async fn unrenderable_expression_is_an_error_and_a_listing_nft_refuses() {
    let src = TestNs::new("rndbad").await;
    nft_file(&src, &table_text("ip", "filter", "tcp dport 22 accept")).unwrap();
    let mut rs = netplumb_list(&src).await;
    // Make the rule carry an expression netplumb has no printer for: an
    // opaque one, as decoding an expression it does not model gives.
    let rule = rs.rules.first_mut().expect("one rule");
    let handle = rule.handle.expect("listed rules have handles");
    let opaque = Unknown { name: "futurexpr".into(), raw_type: 1 | 0x8000, raw: vec![] };
    rule.exprs.insert(rule.exprs.len() - 1, Expr::Unknown(opaque));
    let err = render::ruleset_strict(&rs).unwrap_err();
    assert_eq!((err.table.as_str(), err.chain.as_deref(), err.handle), ("t", Some("c"), Some(handle)));
    assert!(err.what.contains("futurexpr"), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("table ip t") && msg.contains("chain c") && msg.contains(&format!("handle {handle}")),
        "{msg}"
    );
    assert!(render::rule_strict(&rs.rules[0], &rs.sets).is_err());

    let human = rs.to_string();
    assert!(human.contains(render::MARK_OPEN) && !human.contains('#'), "{human}");
    let dst = TestNs::new("rndbad").await;
    assert!(nft_file(&dst, &human).is_err(), "nft must refuse:\n{human}");
    assert_eq!(list(&dst), "", "nothing was loaded");
}
