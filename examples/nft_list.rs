//! Prints the whole nftables ruleset of a network namespace, read through
//! netplumb and rendered in nft syntax (what `nft list ruleset` shows, and
//! what `nft -f` accepts back).
//!
//! ```text
//! cargo run --example nft_list -- [--netns NAME] [--strict]
//! ```
//!
//! `NAME` is a namespace as `ip netns` names it; without it, the current
//! namespace. What netplumb cannot render exactly is marked `?? cannot
//! render: ... ??` (nft refuses to load it); with `--strict` the example
//! fails instead, naming table, chain, rule handle and expression: use it
//! for text you will load back with `nft -f`. Reading the ruleset needs
//! root (CAP_NET_ADMIN).

use netplumb::netns::Netns;
use netplumb::nft::{render, Nft, Ruleset};
use netplumb::rtnl::Rtnl;

fn usage() -> ! {
    eprintln!("usage: nft_list [--netns NAME] [--strict]");
    std::process::exit(2);
}

async fn list(netns: Option<String>) -> netplumb::Result<Ruleset> {
    let ns = netns.map(|name| Netns::open_named(&name)).transpose()?;
    let (nft, rtnl) = match &ns {
        Some(ns) => (Nft::new_in(ns).await?, Rtnl::new_in(ns).await?),
        None => (Nft::new().await?, Rtnl::new().await?),
    };
    let mut ruleset = nft.ruleset().await?;
    // nft prints `iif "lo"`, resolving indexes in the listed namespace.
    let links = rtnl.links().list().try_collect().await?;
    ruleset.set_ifnames(links.into_iter().map(|l| (l.index.0, l.name)));
    Ok(ruleset)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut netns = None;
    let mut strict = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--netns" => netns = Some(args.next().unwrap_or_else(|| usage())),
            "--strict" => strict = true,
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    let text = match list(netns).await {
        Ok(rs) if strict => render::ruleset_strict(&rs).map_err(|e| e.to_string()),
        Ok(rs) => Ok(rs.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match text {
        Ok(text) => print!("{text}"),
        Err(e) => {
            eprintln!("nft_list: {e}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
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
        let got = super::list(Some(ns.name().to_string())).await.unwrap().to_string();
        assert_eq!(got, want);
        let before = ns.exec("nft", &["list", "ruleset"]);
        assert_eq!(before, want, "listing changed nothing");
    }
}
