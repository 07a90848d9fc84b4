//! The nftables regression corpus as a measure of netplumb's listing
//! (local use; the corpus is GPL-licensed and is not part of this
//! repository).
//!
//! Given a checkout of the nftables `tests/py` directory, every rule line
//! marked `ok` is added with the installed `nft` into a table of each
//! family its file declares (one step per table and chain, as the
//! corpus's own runner does) and checked three ways:
//!
//! 1. listing: netplumb's listing equals `nft list ruleset`;
//! 2. reload: netplumb's listing loaded with `nft -f` into an empty
//!    namespace rebuilds the identical ruleset; a listing nft accepts but
//!    turns into a *different* ruleset is counted apart, as a defect;
//! 3. re-commit: the decoded ruleset written through a `Transaction` into
//!    an empty namespace lists identically.
//!
//! ```text
//! NFT_TESTS_PY=/path/to/nftables/tests/py \
//!     cargo test --test nft_corpus -- --ignored --nocapture
//! ```
//!
//! `NFT_TESTS_ONLY=ip/icmp.t` restricts the run to files whose path
//! contains it. Needs root; everything happens in three namespaces the
//! run creates and removes.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use netplumb::nft::{render, Nft, Transaction};
use netplumb::rtnl::Rtnl;
use netplumb::testing::TestNs;

/// One table a corpus file declares (`*ip;test-ip4;input`), with the
/// commands that build it so far (chains, sets, elements, objects).
struct CorpusTable {
    family: String,
    name: String,
    chains: Vec<String>,
    setup: Vec<String>,
}

/// One step: a rule added into one table and chain.
struct Step {
    file: String,
    line: usize,
    family: String,
    chain: String,
    rule: String,
    setup: String,
}

#[derive(Default)]
struct Tally {
    steps: usize,
    refused_by_nft: usize,
    listing_ok: usize,
    reload_ok: usize,
    reload_refused: usize,
    reload_different: usize,
    recommit_ok: usize,
    mismatches: Vec<String>,
    different: Vec<String>,
}

fn files(root: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for d in std::fs::read_dir(root).expect("tests/py directory").flatten() {
        if d.path().is_dir() {
            for f in std::fs::read_dir(d.path()).into_iter().flatten().flatten() {
                if f.path().extension().is_some_and(|x| x == "t") {
                    v.push(f.path());
                }
            }
        }
    }
    v.sort();
    v
}

use common::nft::load as nft_file;

fn flush(ns: &TestNs) {
    ns.exec("nft", &["flush", "ruleset"]);
}

/// `nft list ruleset`, normalized; an error when nft fails (nft 1.0.6
/// crashes listing some rulesets).
fn list(ns: &TestNs) -> Result<String, String> {
    let (ok, out, err) = ns.try_exec("nft", &["list", "ruleset"]);
    if ok {
        Ok(common::nft::without_expires(&out))
    } else {
        Err(format!("nft list ruleset failed: {}", err.trim()))
    }
}

fn diff(want: &str, got: &str) -> String {
    let (a, b): (Vec<_>, Vec<_>) = (want.lines().collect(), got.lines().collect());
    let mut out = String::new();
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (a.get(i).copied().unwrap_or("<none>"), b.get(i).copied().unwrap_or("<none>"));
        if x != y {
            out.push_str(&format!("    nft:      {}\n    netplumb: {}\n", x.trim(), y.trim()));
        }
    }
    out
}

/// The steps of one corpus file, in order.
fn parse(path: &Path, root: &Path, probe: &TestNs) -> Vec<Step> {
    let file = path.strip_prefix(root).unwrap_or(path).display().to_string();
    let text = std::fs::read_to_string(path).unwrap();
    let mut chain_defs: BTreeMap<String, String> = BTreeMap::new();
    let mut tables: Vec<CorpusTable> = Vec::new();
    let mut steps = Vec::new();
    // A setup command is kept for a table only if nft accepts it there.
    let try_add = |t: &mut CorpusTable, cmd: String| {
        flush(probe);
        let mut script = t.setup.join("\n");
        script.push('\n');
        script.push_str(&cmd);
        script.push('\n');
        if nft_file(probe, &script).is_ok() {
            t.setup.push(cmd);
        }
    };
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') || line.starts_with('-') {
            continue;
        }
        let (kind, rest) = line.split_at(1);
        match kind {
            "*" => {
                let f: Vec<&str> = rest.split(';').collect();
                if f.len() < 3 {
                    continue;
                }
                let mut t = CorpusTable {
                    family: f[0].to_string(),
                    name: f[1].to_string(),
                    chains: f[2].split(',').map(str::to_string).collect(),
                    setup: vec![format!("add table {} {}", f[0], f[1])],
                };
                for c in t.chains.clone() {
                    let cmd = match chain_defs.get(&c).filter(|cfg| !cfg.is_empty()) {
                        Some(cfg) => format!("add chain {} {} {c} {{ {cfg}; }}", t.family, t.name),
                        None => format!("add chain {} {} {c}", t.family, t.name),
                    };
                    t.setup.push(cmd);
                }
                tables.push(t);
            }
            ":" => {
                let (name, cfg) = rest.split_once(';').unwrap_or((rest, ""));
                chain_defs.insert(name.to_string(), cfg.to_string());
            }
            "!" => {
                // !name type T [. T...] [timeout X] [flags F];ok
                let Some((def, state)) = rest.split_once(';') else { continue };
                if state.trim() != "ok" {
                    continue;
                }
                let tok: Vec<&str> = def.split(' ').collect();
                if tok.len() < 3 {
                    continue;
                }
                let mut ty = tok[2].to_string();
                let mut i = 3;
                while tok.len() > i + 1 && tok[i] == "." {
                    ty += &format!(" . {}", tok[i + 1]);
                    i += 2;
                }
                let mut body = format!("type {ty};");
                if tok.len() >= i + 2 && tok[i] == "timeout" {
                    body += &format!(" timeout {};", tok[i + 1]);
                    i += 2;
                }
                if tok.len() >= i + 2 && tok[i] == "flags" {
                    body += &format!(" flags {};", tok[i + 1]);
                }
                for t in &mut tables {
                    let cmd = format!("add set {} {} {} {{ {body} }}", t.family, t.name, tok[0]);
                    try_add(t, cmd);
                }
            }
            "?" => {
                let Some((def, state)) = rest.split_once(';') else { continue };
                if state.trim() != "ok" {
                    continue;
                }
                let (name, elems) = def.split_once(' ').unwrap_or((def, ""));
                for t in &mut tables {
                    let cmd = format!("add element {} {} {name} {{ {elems} }}", t.family, t.name);
                    try_add(t, cmd);
                }
            }
            "%" => {
                let (def, state) = match line.rfind('}') {
                    Some(b) => (&line[1..=b], line[b + 1..].trim_start_matches(';')),
                    None => rest.split_once(';').unwrap_or((rest, "")),
                };
                if state.trim() != "ok" {
                    continue;
                }
                let tok: Vec<&str> = def.split(' ').collect();
                if tok.len() < 3 {
                    continue;
                }
                let (ty, spec_from) = match (tok[2], tok.get(3).copied()) {
                    ("ct", Some(k @ ("helper" | "timeout" | "expectation"))) => (format!("ct {k}"), 4),
                    (t, _) => (t.to_string(), 3),
                };
                let spec = tok[spec_from.min(tok.len())..].join(" ");
                for t in &mut tables {
                    let cmd = format!("add {ty} {} {} {} {spec}", t.family, t.name, tok[0]);
                    try_add(t, cmd);
                }
            }
            _ => {
                let parts: Vec<&str> = line.split(';').collect();
                if parts.len() < 2 || parts.len() > 3 || parts[1].trim() != "ok" {
                    continue;
                }
                for t in &tables {
                    for c in &t.chains {
                        steps.push(Step {
                            file: file.clone(),
                            line: lineno,
                            family: t.family.clone(),
                            chain: c.clone(),
                            rule: format!("add rule {} {} {c} {}", t.family, t.name, parts[0]),
                            setup: t.setup.join("\n"),
                        });
                    }
                }
            }
        }
    }
    steps
}

async fn run_step(step: &Step, src: &TestNs, dst: &TestNs, tally: &mut Tally) {
    flush(src);
    if nft_file(src, &format!("{}\n{}\n", step.setup, step.rule)).is_err() {
        tally.refused_by_nft += 1;
        return;
    }
    let here = format!("{}:{} ({} {})", step.file, step.line, step.family, step.chain);
    let Ok(want) = list(src) else {
        tally.refused_by_nft += 1;
        return;
    };
    tally.steps += 1;
    let rs = match Nft::from_connection(src.netfilter().await).unwrap().ruleset().await {
        Ok(mut rs) => {
            let links =
                Rtnl::from_connection(src.route().await).unwrap().links().list().try_collect().await.unwrap();
            rs.set_ifnames(links.into_iter().map(|l| (l.index.0, l.name)));
            rs
        }
        Err(e) => {
            tally.mismatches.push(format!("{here}: listing: netplumb cannot list: {e}"));
            return;
        }
    };
    // 1. listing
    let got = common::nft::without_expires(&rs.to_string());
    if got == want {
        tally.listing_ok += 1;
    } else {
        tally.mismatches.push(format!("{here}: listing\n{}", diff(&want, &got)));
    }
    // 2. reload of the listing (the human one: what an operator saves)
    flush(dst);
    match nft_file(dst, &rs.to_string()) {
        Err(e) => {
            tally.reload_refused += 1;
            let strict = render::ruleset_strict(&rs).err().map(|e| e.to_string());
            tally.mismatches.push(format!(
                "{here}: reload refused by nft: {}{}",
                e.lines().next().unwrap_or(""),
                strict.map(|s| format!("\n    strict render: {s}")).unwrap_or_default()
            ));
        }
        Ok(()) => {
            match list(dst) {
                Ok(again) if again == want => tally.reload_ok += 1,
                Ok(again) => {
                    tally.reload_different += 1;
                    let m =
                        format!("{here}: nft accepts netplumb's text and builds\n{}", diff(&want, &again));
                    println!("DIFFERENT {m}");
                    tally.different.push(m);
                }
                Err(e) => tally.mismatches.push(format!("{here}: reload: {e}")),
            }
            if let Err(e) = render::ruleset_strict(&rs) {
                tally
                    .different
                    .push(format!("{here}: nft accepted a listing the strict render refuses: {e}"));
            }
        }
    }
    // 3. typed re-commit
    flush(dst);
    let mut tx = Transaction::new();
    let committed = match rs.write_to(&mut tx) {
        Err(e) => Err(format!("build: {e}")),
        Ok(()) => Nft::from_connection(dst.netfilter().await)
            .unwrap()
            .commit(&tx)
            .await
            .map_err(|e| format!("commit: {e}")),
    };
    match committed {
        Err(e) => tally.mismatches.push(format!("{here}: re-commit: {e}")),
        Ok(_) => match list(dst) {
            Ok(again) if again == want => tally.recommit_ok += 1,
            Ok(again) => tally.mismatches.push(format!("{here}: re-commit\n{}", diff(&want, &again))),
            Err(e) => tally.mismatches.push(format!("{here}: re-commit: {e}")),
        },
    }
}

fn pct(n: usize, d: usize) -> String {
    if d == 0 {
        "-".into()
    } else {
        format!("{:.1}%", 100.0 * n as f64 / d as f64)
    }
}

#[tokio::test]
#[ignore = "local measure: needs NFT_TESTS_PY=<nftables checkout>/tests/py (GPL corpus, not in this repository) and root"]
async fn nftables_regression_corpus() {
    let root =
        PathBuf::from(std::env::var("NFT_TESTS_PY").expect("NFT_TESTS_PY=<nftables checkout>/tests/py"));
    let only = std::env::var("NFT_TESTS_ONLY").ok();
    let (src, dst) = (TestNs::new("corpsrc").await, TestNs::new("corpdst").await);
    let mut tally = Tally::default();
    for f in files(&root) {
        if only.as_ref().is_some_and(|o| !f.display().to_string().contains(o.as_str())) {
            continue;
        }
        let before = tally.mismatches.len();
        for step in parse(&f, &root, &dst) {
            run_step(&step, &src, &dst, &mut tally).await;
        }
        // Progress as it goes (a full run takes minutes).
        for m in &tally.mismatches[before..] {
            println!("MISMATCH {m}");
        }
    }
    for m in &tally.different {
        println!("DIFFERENT (summary) {m}");
    }
    let n = tally.steps;
    println!("steps: {n} (rule lines nft itself refused here: {})", tally.refused_by_nft);
    println!(
        "1. listing identical to nft list ruleset: {}/{n} = {}",
        tally.listing_ok,
        pct(tally.listing_ok, n)
    );
    println!(
        "2. nft -f of the listing rebuilds the identical ruleset: {}/{n} = {} (refused by nft: {}; accepted but a different ruleset: {})",
        tally.reload_ok,
        pct(tally.reload_ok, n),
        tally.reload_refused,
        tally.reload_different
    );
    println!(
        "3. typed re-commit lists identically: {}/{n} = {}",
        tally.recommit_ok,
        pct(tally.recommit_ok, n)
    );
    assert!(n > 0, "no steps ran: is NFT_TESTS_PY the tests/py directory?");
}
