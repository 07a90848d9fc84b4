//! Differential: one rtnetlink address payload decoded by netplumb and by
//! netlink-packet-route; every field both model must agree (see
//! `netplumb::packet::differential::address`). Seed it from corpus/address.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    netplumb::packet::differential::address(data);
});
