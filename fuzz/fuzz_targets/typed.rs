//! Structured: typed values (routes, addresses, neighbours, FDB entries,
//! rules, links) built from the fuzzer's bytes, encoded, decoded and
//! compared (see `netplumb::fuzzing::typed`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| netplumb::fuzzing::typed(data));
