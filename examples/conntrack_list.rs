//! Lists the connection tracking table of a network namespace through
//! netplumb, one line per flow in exactly the format of `conntrack -L`
//! (conntrack-tools 1.4.7), so scripts that parse that output keep working;
//! the count goes to stderr as `conntrack -L` prints it.
//!
//! Needs root (CAP_NET_ADMIN in the namespace).
//!
//! ```text
//! cargo run --example conntrack_list -- [--netns NAME] [-p PROTO] [--src ADDR] [--dst ADDR]
//!     [--sport N] [--dport N] [--mark VALUE[/MASK]] [--zone N] [--orig-zone N]
//!     [--reply-zone N]
//! ```
//!
//! The options select flows as `conntrack -L` does: `--zone N` is the
//! flow's zone (`zone=`), `--orig-zone`/`--reply-zone` a direction's.

use std::io::Write;

use netplumb::conntrack::{Conntrack, Filter, IpProto, LineFormat};
use netplumb::netns::Netns;

/// Parsed command line.
#[derive(Debug, Default)]
struct Args {
    netns: Option<String>,
    filter: Filter,
}

fn parse_u32(s: &str) -> Result<u32, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => s.parse(),
    };
    r.map_err(|_| format!("not a number: {s:?}"))
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut out = Args::default();
    let mut it = args.iter();
    while let Some(opt) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{opt} needs a value"));
        let f = std::mem::take(&mut out.filter);
        out.filter = match opt.as_str() {
            "--netns" => {
                out.netns = Some(value()?.clone());
                f
            }
            "-p" | "--proto" | "--protonum" => {
                let v = value()?;
                f.proto(IpProto::parse(v).ok_or_else(|| format!("unknown protocol {v:?}"))?)
            }
            "-s" | "--src" | "--orig-src" => f.orig_src(value()?.parse().map_err(|e| format!("--src: {e}"))?),
            "-d" | "--dst" | "--orig-dst" => f.orig_dst(value()?.parse().map_err(|e| format!("--dst: {e}"))?),
            "--sport" | "--orig-port-src" => {
                f.orig_src_port(value()?.parse().map_err(|e| format!("--sport: {e}"))?)
            }
            "--dport" | "--orig-port-dst" => {
                f.orig_dst_port(value()?.parse().map_err(|e| format!("--dport: {e}"))?)
            }
            "-m" | "--mark" => {
                let v = value()?;
                let (val, mask) = match v.split_once('/') {
                    Some((a, b)) => (parse_u32(a)?, parse_u32(b)?),
                    None => (parse_u32(v)?, u32::MAX),
                };
                f.mark(val, mask)
            }
            "-w" | "--zone" => f.zone(value()?.parse().map_err(|e| format!("--zone: {e}"))?),
            "--orig-zone" => f.orig_zone(value()?.parse().map_err(|e| format!("--orig-zone: {e}"))?),
            "--reply-zone" => f.reply_zone(value()?.parse().map_err(|e| format!("--reply-zone: {e}"))?),
            other => return Err(format!("unknown option {other:?}")),
        };
    }
    Ok(out)
}

/// Run the example with `args` (without the program name), writing the
/// listing to `out` and the summary to `err`. Returns the number of flows.
async fn run(
    args: &[String],
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<u64, Box<dyn std::error::Error>> {
    let args = parse_args(args)?;
    let ct = match &args.netns {
        Some(name) => Conntrack::open_in(&Netns::open_named(name)?).await?,
        None => Conntrack::open().await?,
    };
    let mut flows = ct.list(&args.filter);
    let mut n = 0u64;
    let mut line = String::with_capacity(256);
    while let Some(flow) = flows.try_next().await? {
        line.clear();
        // conntrack computes delta-time against the time of each line.
        flow.render_into(&mut line, LineFormat::default(), std::time::SystemTime::now());
        line.push('\n');
        out.write_all(line.as_bytes())?;
        n += 1;
    }
    out.flush()?;
    writeln!(err, "conntrack v1.4.7 (conntrack-tools): {n} flow entries have been shown.")?;
    Ok(n)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    if let Err(e) = run(&args, &mut out, &mut std::io::stderr()).await {
        let _ = out.flush();
        eprintln!("conntrack_list: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netplumb::testing::TestNs;

    fn sv(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    async fn ours(args: &[String]) -> (String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        run(args, &mut out, &mut err).await.expect("conntrack_list runs");
        (String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
    }

    /// Compare our output with `conntrack -L`'s for the same options. The
    /// timeouts count down, so conntrack runs between two runs of ours and
    /// each of its lines must equal the line of the run before or after it;
    /// retried a few times should a slow machine straddle two seconds.
    async fn assert_same_as_conntrack(ns: &TestNs, opts: &[&str]) {
        let mut ours_args = sv(&["--netns", ns.name()]);
        ours_args.extend(sv(opts));
        let mut ct_args = vec!["-L"];
        ct_args.extend_from_slice(opts);
        let mut last = String::new();
        for _attempt in 0..5 {
            let (before, err_before) = ours(&ours_args).await;
            let (ok, ct_out, ct_err) = ns.try_exec("conntrack", &ct_args);
            let (after, _) = ours(&ours_args).await;
            assert!(ok, "conntrack {ct_args:?} failed: {ct_err}");
            assert_eq!(err_before.trim(), ct_err.trim(), "summary line for {opts:?}");
            let (b, c, a): (Vec<&str>, Vec<&str>, Vec<&str>) =
                (before.lines().collect(), ct_out.lines().collect(), after.lines().collect());
            let same = b.len() == c.len()
                && a.len() == c.len()
                && c.iter().zip(b.iter().zip(&a)).all(|(c, (b, a))| c == b || c == a);
            if same {
                assert!(!c.is_empty(), "nothing listed for {opts:?}");
                return;
            }
            last = format!("ours before:\n{before}\nconntrack:\n{ct_out}\nours after:\n{after}");
        }
        panic!("output differs from conntrack -L {opts:?}:\n{last}");
    }

    #[tokio::test]
    async fn same_output_as_conntrack_list() {
        let ns = TestNs::new("ctlist").await;
        // conntrack -I -t 600 ...
        let inserts = [
            "-p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1000 --dport 80 --state ESTABLISHED -u SEEN_REPLY,ASSURED -m 7",
            "-p udp -s 10.0.0.1 -d 10.0.0.3 --sport 53 --dport 53 -w 5",
            "-p icmp -s 10.0.0.1 -d 10.0.0.2 --icmp-type 8 --icmp-code 0 --icmp-id 77",
            "-p udp -s fd00::1 -d fd00::2 --sport 5 --dport 6 --orig-zone 3",
            "-p udp -s fd00::1 -d fd00::2 --sport 7 --dport 8 -m 4",
            "-p tcp -s 10.0.0.9 -d 10.0.0.2 --sport 2000 --dport 443 -m 6 --state SYN_SENT",
        ];
        for args in inserts {
            let mut a = vec!["-I", "-t", "600"];
            a.extend(args.split_whitespace());
            ns.exec("conntrack", &a);
        }
        for opts in [
            &[][..],
            &["-p", "udp"],
            &["-p", "tcp", "--dport", "80"],
            &["-p", "udp", "--sport", "53"],
            &["--src", "10.0.0.1"],
            &["--dst", "fd00::2"],
            &["--mark", "7"],
            &["--mark", "0x4/0x4"],
            &["--zone", "5"],
            &["--zone", "0"],
        ] {
            assert_same_as_conntrack(&ns, opts).await;
        }
        let (all, _) = ours(&sv(&["--netns", ns.name()])).await;
        assert_eq!(all.lines().count(), inserts.len());
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(parse_args(&sv(&["--mark"])).unwrap_err().contains("needs a value"));
        assert!(parse_args(&sv(&["-p", "bogus"])).unwrap_err().contains("unknown protocol"));
        assert!(parse_args(&sv(&["--frobnicate"])).is_err());
        let a = parse_args(&sv(&["--mark", "0x10/0xf0", "--netns", "x"])).unwrap();
        assert_eq!(a.netns.as_deref(), Some("x"));
        assert_eq!(a.filter, Filter::new().mark(0x10, 0xf0));
    }
}
