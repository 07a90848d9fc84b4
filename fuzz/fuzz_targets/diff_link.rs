//! Differential: one rtnetlink link payload decoded by netplumb and by
//! netlink-packet-route; every field both model must agree (see
//! `netplumb::packet::differential::link`). Seed it from corpus/link.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    netplumb::packet::differential::link(data);
});
