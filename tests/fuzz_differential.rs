//! Replays the saved fuzz inputs of the rtnetlink and conntrack targets
//! (fuzz/{seeds,corpus,regressions}/{link,address,route,conntrack_flow})
//! through the differential properties: netplumb and netlink-packet-route
//! (or netlink-packet-netfilter) must agree on every field both model
//! (`netplumb::packet::differential`). Runs in CI without
//! cargo-fuzz; the `diff_*` fuzz targets explore further. No root needed.

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let mut n = 0;
    let mut disagreements = Vec::new();
    for dir in ["seeds", "corpus", "regressions"] {
        let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(dir).join(target);
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let data = std::fs::read(e.path()).unwrap();
            if let Err(p) = std::panic::catch_unwind(|| check(&data)) {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                disagreements.push(format!("{}: {}", e.path().display(), msg.lines().next().unwrap_or("")));
            }
            n += 1;
        }
    }
    assert!(n > 0, "{target}: no saved inputs");
    assert!(
        disagreements.is_empty(),
        "{target}: {} of {n} inputs disagree:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
    println!("{target}: {n} inputs, both codecs agree");
}

#[test]
fn link_codecs_agree() {
    replay("link", netplumb::packet::differential::link);
}

#[test]
fn address_codecs_agree() {
    replay("address", netplumb::packet::differential::address);
}

#[test]
fn route_codecs_agree() {
    replay("route", netplumb::packet::differential::route);
}

#[test]
fn conntrack_codecs_agree() {
    replay("conntrack_flow", netplumb::packet::differential::conntrack);
}
