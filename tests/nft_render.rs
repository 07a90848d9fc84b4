//! netplumb's nft listing against nft itself, rule by rule, on rules
//! written for these tests (tests/nft/render/rules.txt: TCP options and
//! IPv6 extension headers, byte order, header fields by name, symbols,
//! syntax). Each rule gets a table of its own (`t0`, `t1`, ... in file
//! order, one base chain holding the rule); all the tables are loaded by
//! one `nft -f` into a fresh namespace and checked three ways, each in a
//! fresh namespace too, table by table:
//!
//! 1. netplumb's listing equals `nft list ruleset`;
//! 2. the strict render loaded with `nft -f` rebuilds the identical ruleset;
//! 3. the decoded ruleset committed through a `Transaction` lists identically.
//!
//! Each step loads or commits every table at once (a handful of `nft`
//! processes in all, so the test stays fast on a slow machine); where the
//! kernel or nft refuses the whole, the tables are retried one by one to
//! name the rules at fault. A failure names the rule and the check.
//!
//! And the safety property: what netplumb cannot render is an error in
//! the strict render and a mark nft refuses in the listing. Needs root.

use std::collections::BTreeMap;

use netplumb::nft::expr::{Expr, Unknown};
use netplumb::nft::{render, Family, Nft, Ruleset, Transaction};
use netplumb::testing::TestNs;

mod common;
use common::nft::{load as nft_file, netplumb_ruleset as netplumb_list};

fn list(ns: &TestNs) -> String {
    ns.exec("nft", &["list", "ruleset"])
}

/// One line of rules.txt: `FAMILY CHAIN-TYPE | RULE`, and the table it
/// is loaded as.
struct Fixture {
    family: String,
    kind: String,
    rule: String,
    table: String,
}

impl Fixture {
    /// How failures name the fixture: as written in rules.txt.
    fn here(&self) -> String {
        format!("{} | {} (table {})", self.family, self.rule, self.table)
    }

    fn key(&self) -> TableKey {
        (self.family.clone(), self.table.clone())
    }

    fn text(&self) -> String {
        table_text(&self.family, &self.table, &self.kind, &self.rule)
    }
}

fn rules() -> Vec<Fixture> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/nft/render/rules.txt")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .enumerate()
        .map(|(i, l)| {
            let (head, rule) = l.split_once(" | ").expect("FAMILY TYPE | RULE");
            let (family, kind) = head.split_once(' ').expect("FAMILY TYPE");
            Fixture { family: family.into(), kind: kind.into(), rule: rule.into(), table: format!("t{i}") }
        })
        .collect()
}

fn table_text(family: &str, table: &str, kind: &str, rule: &str) -> String {
    let hook = match family {
        "netdev" => "ingress device lo",
        _ => "input",
    };
    format!(
        "table {family} {table} {{\n\tchain c {{\n\t\ttype {kind} hook {hook} priority 0; policy accept;\n\t\t{rule}\n\t}}\n}}\n"
    )
}

/// A table by (family, name).
type TableKey = (String, String);

/// A listing cut into its tables, by (family, name). Each table starts
/// with a `table FAMILY NAME {` line and ends with the first `}` line at
/// the start of a line; the tables must make up the whole text, in order
/// (checked, so that nothing of a listing escapes the comparison).
fn tables(text: &str) -> Result<Vec<(TableKey, String)>, String> {
    let mut out = Vec::new();
    let mut current: Option<(TableKey, String)> = None;
    for line in text.split_inclusive('\n') {
        match current.as_mut() {
            None => {
                let head = line.strip_prefix("table ").and_then(|r| r.strip_suffix(" {\n"));
                let (family, name) = head
                    .and_then(|h| h.split_once(' '))
                    .ok_or_else(|| format!("line outside any table: {line:?}"))?;
                current = Some(((family.to_string(), name.to_string()), line.to_string()));
            }
            Some((_, body)) => {
                body.push_str(line);
                if line == "}\n" {
                    out.push(current.take().expect("a table"));
                }
            }
        }
    }
    if let Some((key, _)) = current {
        return Err(format!("table {key:?} not closed"));
    }
    let joined: String = out.iter().map(|(_, t)| t.as_str()).collect();
    if joined != text {
        return Err("the tables do not make up the listing".into());
    }
    Ok(out)
}

/// The part of `rs` in table `family`/`name`, as a ruleset of its own.
fn only_table(rs: &Ruleset, family: Family, name: &str) -> Ruleset {
    let mut one = Ruleset::new(
        rs.tables.iter().filter(|t| t.family == family && t.name == name).cloned().collect(),
        rs.chains.iter().filter(|c| c.family == family && c.table == name).cloned().collect(),
        rs.rules.iter().filter(|r| r.family == family && r.table == name).cloned().collect(),
        rs.sets.iter().filter(|s| s.set.family == family && s.set.table == name).cloned().collect(),
        rs.objects.iter().filter(|o| o.family == family && o.table == name).cloned().collect(),
    );
    one.ifnames = rs.ifnames.clone();
    one
}

/// Load `texts` (fixture index, nft input) into `ns`: all in one `nft -f`,
/// or, if nft refuses that, one by one. Returns the indexes loaded and
/// the refusals (index, nft's message).
fn load_all(ns: &TestNs, texts: &[(usize, String)]) -> (Vec<usize>, Vec<(usize, String)>) {
    let all: String = texts.iter().map(|(_, t)| t.as_str()).collect();
    if texts.is_empty() || nft_file(ns, &all).is_ok() {
        return (texts.iter().map(|(i, _)| *i).collect(), Vec::new());
    }
    let (mut loaded, mut refused) = (Vec::new(), Vec::new());
    for (i, text) in texts {
        match nft_file(ns, text) {
            Ok(()) => loaded.push(*i),
            Err(e) => refused.push((*i, e)),
        }
    }
    (loaded, refused)
}

/// Compare the tables of `fixtures` listed in `listing` (those in
/// `which`) with what nft listed from the fixtures (`want`); a failure
/// per table that differs or is missing, saying which `check` it was.
fn compare(
    fixtures: &[Fixture],
    which: &[usize],
    want: &BTreeMap<TableKey, String>,
    listing: &str,
    check: &str,
    failures: &mut Vec<String>,
) {
    let got: BTreeMap<_, _> = match tables(listing) {
        Ok(t) => t.into_iter().collect(),
        Err(e) => {
            failures.push(format!("{check}: cannot cut the listing into tables ({e}):\n{listing}"));
            return;
        }
    };
    for &i in which {
        let f = &fixtures[i];
        let Some(w) = want.get(&f.key()) else { continue };
        match got.get(&f.key()) {
            None => failures.push(format!("{}: {check}: table missing", f.here())),
            Some(g) if g != w => {
                failures.push(format!("{}: {check}\n  got:  {g:?}\n  want: {w:?}", f.here()))
            }
            Some(_) => {}
        }
    }
    let extra: Vec<_> = got.keys().filter(|k| !which.iter().any(|&i| fixtures[i].key() == **k)).collect();
    if !extra.is_empty() {
        failures.push(format!("{check}: tables no fixture made: {extra:?}"));
    }
}

#[tokio::test]
async fn fixture_rules_list_reload_and_recommit_as_nft() {
    let mut failures = Vec::new();
    let all = rules();
    assert!(all.len() >= 30, "fixture rules missing");

    // Every fixture in one namespace, each in its own table.
    let src = TestNs::new("rndsrc").await;
    let texts: Vec<(usize, String)> = all.iter().enumerate().map(|(i, f)| (i, f.text())).collect();
    let (loaded, refused) = load_all(&src, &texts);
    for (i, e) in refused {
        failures.push(format!("{}: nft refuses the fixture itself: {e}", all[i].here()));
    }
    let want_text = list(&src);
    let want: BTreeMap<_, _> =
        tables(&want_text).expect("nft's own listing cut into tables").into_iter().collect();
    for &i in &loaded {
        assert!(
            want.contains_key(&all[i].key()),
            "{}: loaded but not listed by nft:\n{want_text}",
            all[i].here()
        );
    }
    let rs = netplumb_list(&src).await;

    // 1. listing
    let got = rs.to_string();
    compare(&all, &loaded, &want, &got, "listing", &mut failures);
    if got != want_text && tables(&got).is_ok_and(|g| g.into_iter().collect::<BTreeMap<_, _>>() == want) {
        failures.push(format!(
            "listing: same tables in another order\n  nft:      {want_text:?}\n  netplumb: {got:?}"
        ));
    }

    // 2. strict render reloaded
    let family = |f: &Fixture| f.family.parse::<Family>().unwrap();
    let mut rendered = Vec::new();
    for &i in &loaded {
        let f = &all[i];
        match render::ruleset_strict(&only_table(&rs, family(f), &f.table)) {
            Err(e) => failures.push(format!("{}: strict render: {e}", f.here())),
            Ok(text) => rendered.push((i, text)),
        }
    }
    let dst = TestNs::new("rndload").await;
    let (reloaded, refused) = load_all(&dst, &rendered);
    for (i, e) in refused {
        failures.push(format!("{}: nft -f refuses the render: {e}", all[i].here()));
    }
    compare(&all, &reloaded, &want, &list(&dst), "reload builds", &mut failures);

    // 3. typed re-commit: all at once; if the kernel refuses that, table
    // by table to name the culprits.
    let dst = TestNs::new("rndtx").await;
    let nft = Nft::from_connection(dst.netfilter().await).unwrap();
    let mut tx = Transaction::new();
    rs.write_to(&mut tx).unwrap();
    let recommitted = match nft.commit(&tx).await {
        Ok(_) => loaded.clone(),
        Err(all_err) => {
            let mut ok = Vec::new();
            for &i in &loaded {
                let f = &all[i];
                let mut tx = Transaction::new();
                only_table(&rs, family(f), &f.table).write_to(&mut tx).unwrap();
                match nft.commit(&tx).await {
                    Ok(_) => ok.push(i),
                    Err(e) => failures.push(format!("{}: re-commit: {e}", f.here())),
                }
            }
            if ok.len() == loaded.len() {
                failures.push(format!("re-commit of all tables at once: {all_err}"));
            }
            ok
        }
    };
    compare(&all, &recommitted, &want, &list(&dst), "re-commit builds", &mut failures);

    assert!(
        failures.is_empty(),
        "{} failures, {} rules:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

/// An expression netplumb cannot render: the strict render names table,
/// chain, rule handle and expression; the human listing carries a mark
/// that nft refuses to load (a `#` comment would load a broader rule).
#[tokio::test]
async fn unrenderable_expression_is_an_error_and_a_listing_nft_refuses() {
    let src = TestNs::new("rndbad").await;
    nft_file(&src, &table_text("ip", "t", "filter", "tcp dport 22 accept")).unwrap();
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
