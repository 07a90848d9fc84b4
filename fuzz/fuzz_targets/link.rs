//! rtnetlink link messages: one message payload (after `struct nlmsghdr`)
//! decoded, re-encoded and decoded again (see `netplumb::fuzzing::link`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    netplumb::fuzzing::link(data);
});
