//! Conntrack flow messages: decode, encode, decode again: equal.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    netplumb::fuzzing::conntrack_flow(data);
});
