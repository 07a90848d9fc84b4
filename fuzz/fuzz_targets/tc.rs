//! Traffic-control messages (qdisc, class, filter payloads after `struct
//! nlmsghdr`) decoded, re-encoded and decoded again (see
//! `netplumb::fuzzing::tc`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    netplumb::fuzzing::tc(data);
});
