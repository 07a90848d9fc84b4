//! conntrack events: datagrams of NEW/UPDATE/DESTROY messages decoded,
//! re-encoded and decoded again (see `netplumb::fuzzing::conntrack_event`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    netplumb::fuzzing::conntrack_event(data);
});
