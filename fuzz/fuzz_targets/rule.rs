//! rtnetlink rule messages: one message payload (after `struct nlmsghdr`)
//! decoded, re-encoded and decoded again (see `netplumb::fuzzing::rule`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    netplumb::fuzzing::rule(data);
});
