//! Replays every saved fuzz corpus (and crash regression) through the same
//! round-trip checks the fuzz targets run, so a regression fails CI without
//! cargo-fuzz. No root needed.

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let mut n = 0;
    for dir in ["corpus", "regressions"] {
        let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(dir).join(target);
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let data = std::fs::read(e.path()).unwrap();
            let r = std::panic::catch_unwind(|| check(&data));
            assert!(r.is_ok(), "{target}: {} fails its round trip", e.path().display());
            n += 1;
        }
    }
    assert!(n > 0, "{target}: no corpus found under fuzz/corpus/{target}");
}

#[test]
fn envelope_corpus() {
    replay("envelope", netplumb::fuzzing::envelope);
}

#[test]
fn conntrack_flow_corpus() {
    replay("conntrack_flow", netplumb::fuzzing::conntrack_flow);
}

#[test]
fn nft_corpus() {
    replay("nft", netplumb::fuzzing::nft);
}
