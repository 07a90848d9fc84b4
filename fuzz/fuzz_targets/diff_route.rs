//! Differential: one rtnetlink route payload decoded by netplumb and by
//! netlink-packet-route; every field both model must agree (see
//! `netplumb::packet::differential::route`). Seed it from corpus/route.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    netplumb::packet::differential::route(data);
});
