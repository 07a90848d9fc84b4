//! Replays every saved fuzz corpus (and crash regression) through the same
//! round-trip checks the fuzz targets run, so a regression fails CI without
//! cargo-fuzz. Seeds (`fuzz/seeds/`) named `kernel-*` are real kernel replies: they must
//! decode, not merely not fail. No root needed.

use std::path::Path;

fn replay<R: Decoded>(target: &str, check: fn(&[u8]) -> R) {
    let mut n = 0;
    let mut kernel = 0;
    for dir in ["seeds", "corpus", "regressions"] {
        let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(dir).join(target);
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let data = std::fs::read(e.path()).unwrap();
            let r = std::panic::catch_unwind(|| check(&data));
            assert!(r.is_ok(), "{target}: {} fails its round trip", e.path().display());
            if e.file_name().to_string_lossy().starts_with("kernel-") {
                assert!(
                    r.unwrap().decoded(),
                    "{target}: {} is a real kernel reply and does not decode",
                    e.path().display()
                );
                kernel += 1;
            }
            n += 1;
        }
    }
    assert!(n > 0, "{target}: no seeds or corpus under fuzz/{{seeds,corpus}}/{target}");
    println!("{target}: {n} inputs, {kernel} of them real kernel replies");
}

/// Whether a property decoded its input (`()` for properties that do not
/// say).
trait Decoded {
    fn decoded(&self) -> bool;
}
impl Decoded for () {
    fn decoded(&self) -> bool {
        true
    }
}
impl Decoded for bool {
    fn decoded(&self) -> bool {
        *self
    }
}

#[test]
fn envelope_corpus() {
    replay("envelope", netplumb::fuzzing::envelope);
}

#[test]
fn link_corpus() {
    replay("link", netplumb::fuzzing::link);
}

#[test]
fn address_corpus() {
    replay("address", netplumb::fuzzing::address);
}

#[test]
fn route_corpus() {
    replay("route", netplumb::fuzzing::route);
}

#[test]
fn neighbour_corpus() {
    replay("neighbour", netplumb::fuzzing::neighbour);
}

#[test]
fn rule_corpus() {
    replay("rule", netplumb::fuzzing::rule);
}

#[test]
fn typed_corpus() {
    replay("typed", netplumb::fuzzing::typed);
}

/// The structured property over 20,000 pseudo-random inputs, so plain
/// `cargo test` explores beyond the saved corpus.
#[test]
fn typed_pseudo_random() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut buf = Vec::new();
    for i in 0..20_000u32 {
        buf.clear();
        buf.push((i % 7) as u8);
        for _ in 0..300 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf.push(x as u8);
        }
        netplumb::fuzzing::typed(&buf);
    }
}

#[test]
fn conntrack_flow_corpus() {
    replay("conntrack_flow", netplumb::fuzzing::conntrack_flow);
}

#[test]
fn nft_corpus() {
    replay("nft", netplumb::fuzzing::nft);
}

#[test]
fn conntrack_event_corpus() {
    replay("conntrack_event", netplumb::fuzzing::conntrack_event);
}

#[test]
fn tc_corpus() {
    replay("tc", netplumb::fuzzing::tc);
}
