//! Prints the whole nftables ruleset of a network namespace, read through
//! netplumb and rendered in nft syntax (what `nft list ruleset` shows, and
//! what `nft -f` accepts back).
//!
//! ```text
//! cargo run --example nft_list -- [--netns NAME]
//! ```
//!
//! `NAME` is a namespace as `ip netns` names it; without it, the current
//! namespace. Reading the ruleset needs root (CAP_NET_ADMIN).

use netplumb::netns::Netns;
use netplumb::nft::Nft;

const USAGE: &str = "usage: nft_list [--netns NAME]";

/// Anything not understood: the usage on stderr, exit code 2, nothing done.
fn usage() -> ! {
    eprintln!("{USAGE}");
    std::process::exit(2);
}

/// `--help`: the usage on stdout, exit code 0, nothing done.
fn help() -> ! {
    println!("{USAGE}");
    std::process::exit(0);
}

async fn run(netns: Option<String>) -> netplumb::Result<String> {
    let nft = match netns {
        Some(name) => Nft::new_in(&Netns::open_named(&name)?).await?,
        None => Nft::new().await?,
    };
    Ok(nft.ruleset().await?.to_string())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut netns = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--netns" => netns = Some(args.next().unwrap_or_else(|| usage())),
            "-h" | "--help" => help(),
            _ => usage(),
        }
    }
    match run(netns).await {
        Ok(text) => print!("{text}"),
        Err(e) => {
            eprintln!("nft_list: {e}");
            std::process::exit(1);
        }
    }
}

// The end-to-end tests need the harness (feature test-support).
#[cfg(all(test, feature = "test-support"))]
mod tests {
    use netplumb::testing::{run_with_input, TestNs};

    /// Runs the example end to end against a namespace holding a
    /// kube-proxy-like ruleset loaded by nft: its output is what
    /// `nft list ruleset` prints, and listing changes nothing (the
    /// namespace is removed when the test ends).
    #[tokio::test]
    async fn prints_what_nft_list_ruleset_prints() {
        let ns = TestNs::new("nftlist").await;
        let ruleset = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/nft/fixtures/kube-proxy-service.nft"
        ))
        .unwrap();
        run_with_input("ip", &["netns", "exec", ns.name(), "nft", "-f", "-"], &ruleset);
        let want = ns.exec("nft", &["list", "ruleset"]);
        // The same path main() takes for `--netns NAME`.
        let got = super::run(Some(ns.name().to_string())).await.unwrap();
        assert_eq!(got, want);
        let before = ns.exec("nft", &["list", "ruleset"]);
        assert_eq!(before, want, "listing changed nothing");
    }
}
