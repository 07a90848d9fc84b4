//! netplumb end to end against the reference tools and crates, on the
//! same work in the same run, each measurement in fresh namespaces.
//!
//! ```sh
//! cargo run --release --manifest-path benches/e2e/Cargo.toml -- [--runs N] [--only CASE[,CASE]] [--tools TOOL[,TOOL]] [--list]
//! ```
//!
//! `--tools` keeps only the named rows of each case ("netplumb,kernel
//! floor" for an A/B of netplumb against its floor without the other
//! tools' runs in between).
//!
//! Needs root (it creates network namespaces; nothing touches the host's
//! own network) and `ip`, `nft`, `conntrack` installed. Prints one
//! markdown table: per case and tool the median of N runs, the ratio to
//! the reference tool, and whether netplumb meets its target.

mod ct;
mod harness;
mod nft;
mod quiet;
mod rtnl;
mod tc;

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;

use harness::{median, Case, Target};
use quiet::quiesce;

/// Per (case, tool): every run's (seconds, peak MiB).
type Samples = BTreeMap<(usize, usize), Vec<(f64, Option<f64>)>>;

struct Args {
    runs: usize,
    only: Option<Vec<String>>,
    tools: Option<Vec<String>>,
    list: bool,
}

fn args() -> Args {
    let mut a = Args { runs: 5, only: None, tools: None, list: false };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        match x.as_str() {
            "--runs" => {
                a.runs = it.next().and_then(|v| v.parse().ok()).filter(|n| *n > 0).expect("--runs N (N > 0)")
            }
            "--only" => {
                a.only = Some(it.next().expect("--only CASE[,CASE]").split(',').map(String::from).collect())
            }
            "--tools" => {
                a.tools = Some(it.next().expect("--tools TOOL[,TOOL]").split(',').map(String::from).collect())
            }
            "--list" => a.list = true,
            "-h" | "--help" => {
                println!(
                    "usage: netplumb-e2e [--runs N] [--only CASE[,CASE]] [--tools TOOL[,TOOL]] [--list]"
                );
                std::process::exit(0);
            }
            other => panic!("unknown argument {other:?} (try --help)"),
        }
    }
    a
}

fn all_cases() -> Vec<Case> {
    let mut v = rtnl::cases();
    v.extend(nft::cases());
    v.extend(ct::cases());
    v.extend(tc::cases());
    v
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some(ct::LAUNCH) {
        std::process::exit(ct::launch(&argv[2..]));
    }
    if argv.get(1).map(String::as_str) == Some(ct::CHILD_LIST) {
        match ct::child_list() {
            Ok(n) => println!("{n}"),
            Err(msg) => {
                eprintln!("{msg}");
                std::process::exit(1);
            }
        }
        return;
    }
    let a = args();
    let mut cases = all_cases();
    if a.list {
        for c in &cases {
            println!("{:16} {} (vs {})", c.name, c.what, c.reference);
        }
        return;
    }
    if let Some(only) = &a.only {
        for o in only {
            assert!(cases.iter().any(|c| c.name == o), "no case {o:?} (try --list)");
        }
        cases.retain(|c| only.iter().any(|o| o == c.name));
    }
    if let Some(tools) = &a.tools {
        for t in tools {
            assert!(
                cases.iter().any(|c| c.tools.iter().any(|x| x.name == t)),
                "no tool {t:?} in these cases"
            );
        }
        // The table and its targets are netplumb's.
        assert!(tools.iter().any(|t| t == "netplumb"), "--tools must keep netplumb");
        for c in &mut cases {
            c.tools.retain(|t| tools.iter().any(|x| x == t.name));
        }
        cases.retain(|c| !c.tools.is_empty());
    }
    netplumb::testing::require_root();
    // Quiet the default panic output; failures are reported in the table.
    std::panic::set_hook(Box::new(|i| eprintln!("  panic: {i}")));

    // samples[case][tool] = (secs, peak MiB)
    let mut samples: Samples = BTreeMap::new();
    let mut failures: BTreeMap<(usize, usize), String> = BTreeMap::new();
    // Measurements that started without the machine getting quiet first.
    let mut noisy = 0usize;
    for run in 0..a.runs {
        for (ci, c) in cases.iter().enumerate() {
            let n = c.tools.len();
            // Rotate the order per run so no tool always goes first.
            for k in 0..n {
                let ti = (k + run) % n;
                let t = &c.tools[ti];
                let r = std::panic::catch_unwind(AssertUnwindSafe(|| (t.run)()));
                // Namespace removal finishes in the kernel's background:
                // let it, before the next measurement starts (at least one
                // 200 ms window).
                if !quiesce(std::time::Duration::from_secs(3)) {
                    noisy += 1;
                }
                match r {
                    Ok(Ok(m)) => {
                        eprintln!(
                            "run {}/{} {:16} {:20} {:9.4} s{}",
                            run + 1,
                            a.runs,
                            c.name,
                            t.name,
                            m.secs,
                            m.peak_mib.map(|p| format!("  peak {p:.1} MiB")).unwrap_or_default()
                        );
                        samples.entry((ci, ti)).or_default().push((m.secs, m.peak_mib));
                    }
                    Ok(Err(msg)) => {
                        eprintln!("run {}/{} {:16} {:20} FAILED: {msg}", run + 1, a.runs, c.name, t.name);
                        failures.insert((ci, ti), msg);
                    }
                    Err(_) => {
                        eprintln!("run {}/{} {:16} {:20} PANICKED", run + 1, a.runs, c.name, t.name);
                        failures.insert((ci, ti), "panicked".into());
                    }
                }
            }
        }
    }
    report(&cases, &samples, &failures, a.runs);
    if noisy > 0 {
        println!(
            "{noisy} measurements started on a busy machine (CPUs under 90% idle for 3 s after the previous one)."
        );
    }
}

fn report(cases: &[Case], samples: &Samples, failures: &BTreeMap<(usize, usize), String>, runs: usize) {
    println!("\n| case | tool | median (s) | vs reference | vs floor | peak memory | target |");
    println!("|---|---|---:|---:|---:|---:|---|");
    for (ci, c) in cases.iter().enumerate() {
        let med = |ti: usize| {
            samples.get(&(ci, ti)).map(|v| {
                let mut s: Vec<f64> = v.iter().map(|x| x.0).collect();
                let mut p: Vec<f64> = v.iter().filter_map(|x| x.1).collect();
                (median(&mut s), if p.is_empty() { None } else { Some(median(&mut p)) }, v.len())
            })
        };
        // The reference row may be left out (`--tools`).
        let ref_i = c.tools.iter().position(|t| t.name == c.reference);
        let ref_m = ref_i.and_then(&med).map(|m| m.0);
        let floor_m = c.tools.iter().position(|t| t.name == "kernel floor").and_then(&med).map(|m| m.0);
        let np_i = c.tools.iter().position(|t| t.name == "netplumb").expect("netplumb tool");
        let np = med(np_i);
        for (ti, t) in c.tools.iter().enumerate() {
            let m = med(ti);
            let (secs, ratio, vs_floor, peak) = match m {
                Some((s, p, k)) => (
                    format!("{s:.4}{}", if k < runs { format!(" ({k}/{runs} runs)") } else { String::new() }),
                    ref_m.map(|r| format!("{:.2}x", s / r)).unwrap_or_else(|| "-".into()),
                    floor_m.map(|f| format!("{:.2}x", s / f)).unwrap_or_else(|| "-".into()),
                    p.map(|p| format!("{p:.1} MiB")).unwrap_or_default(),
                ),
                None => (
                    format!("failed: {}", failures.get(&(ci, ti)).map(String::as_str).unwrap_or("?")),
                    "-".into(),
                    "-".into(),
                    String::new(),
                ),
            };
            let target = if t.name == "netplumb" {
                let reference = match (ref_i, ref_m) {
                    (_, Some(r)) => Ok(r),
                    (Some(_), None) => Err("reference failed"),
                    (None, None) => Err("reference not run"),
                };
                target_text(c, np.map(|x| x.0), reference, np.and_then(|x| x.1), floor_m, samples, ci)
            } else {
                String::new()
            };
            println!("| {} | {} | {secs} | {ratio} | {vs_floor} | {peak} | {target} |", c.name, t.name);
        }
    }
    println!("\n{runs} runs per tool per case; medians; ratios are netplumb (or the crate) over the reference tool in the same run.");
    // The machine drifts between runs: the ratio within each run (the two
    // rows measured minutes apart at most) shows how far a median moves.
    println!("\nnetplumb / kernel floor within each run: median (min–max)");
    for (ci, c) in cases.iter().enumerate() {
        let at = |name: &str| c.tools.iter().position(|t| t.name == name).and_then(|i| samples.get(&(ci, i)));
        let (Some(np), Some(fl)) = (at("netplumb"), at("kernel floor")) else { continue };
        if np.len() != runs || fl.len() != runs {
            continue;
        }
        let mut r: Vec<f64> = np.iter().zip(fl).map(|(a, b)| a.0 / b.0).collect();
        let (lo, hi) = r.iter().fold((f64::MAX, 0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        println!("- {}: {:.2}x ({lo:.2}–{hi:.2}x)", c.name, median(&mut r));
    }
}

fn target_text(
    c: &Case,
    np: Option<f64>,
    reference: Result<f64, &'static str>,
    np_peak: Option<f64>,
    floor: Option<f64>,
    samples: &Samples,
    ci: usize,
) -> String {
    let Some(np) = np else { return "not met (failed)".into() };
    let mut parts = Vec::new();
    match c.target {
        Some(Target::Ratio(r)) => match reference {
            Ok(refm) => parts.push(format!("≤ {r}x: {}", if np / refm <= r { "met" } else { "NOT met" })),
            Err(why) => parts.push(why.into()),
        },
        Some(Target::Below(s)) => parts.push(format!("< {s} s: {}", if np < s { "met" } else { "NOT met" })),
        None => {}
    }
    if let Some(m) = c.mem_target_mib {
        match np_peak {
            Some(p) => parts.push(format!("< {m} MiB: {}", if p < m { "met" } else { "NOT met" })),
            None => parts.push("memory not measured".into()),
        }
    }
    // Within 1.15x of the kernel floor.
    if let Some(f) = floor {
        parts.push(format!("≤ 1.15x floor: {}", if np / f <= 1.15 { "met" } else { "NOT met" }));
    }
    // At least 10% faster than the crates at their best, where they do the case.
    for (ti, t) in c.tools.iter().enumerate() {
        if t.name == "rtnetlink" || t.name == "nlink" {
            let other = samples.get(&(ci, ti)).map(|v| {
                let mut s: Vec<f64> = v.iter().map(|x| x.0).collect();
                median(&mut s)
            });
            match other {
                Some(o) => parts.push(format!(
                    "≤ 0.9x {}: {}",
                    t.name,
                    if np <= 0.9 * o { "met" } else { "NOT met" }
                )),
                None => parts.push(format!("{} failed", t.name)),
            }
        }
    }
    parts.join("; ")
}
