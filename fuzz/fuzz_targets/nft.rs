//! nftables messages: tables, chains, rules (every expression; unknown
//! ones byte for byte), sets, elements and objects, each put in a
//! transaction batch and decoded back (see `netplumb::fuzzing::nft`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    netplumb::fuzzing::nft(data);
});
