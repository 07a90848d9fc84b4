//! Differential: one ctnetlink flow payload (nfgenmsg + attributes)
//! decoded by netplumb and by netlink-packet-netfilter; every field both
//! model must agree (see `netplumb::packet::differential::conntrack`).
//! Seed it from corpus/conntrack_flow.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    netplumb::packet::differential::conntrack(data);
});
