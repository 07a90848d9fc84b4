//! nftables messages: rules (expressions round trip, unknown ones byte for
//! byte), sets, chains, tables, objects, elements.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| netplumb::fuzzing::nft(data));
