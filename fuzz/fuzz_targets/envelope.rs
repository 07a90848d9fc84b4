//! The netlink envelope: datagrams of messages, NLMSG_ERROR with extended
//! acks, attributes. Asserts round trips, not just "no panic".
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| netplumb::fuzzing::envelope(data));
