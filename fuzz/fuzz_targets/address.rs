//! rtnetlink address messages: one message payload (after `struct nlmsghdr`)
//! decoded, re-encoded and decoded again (see `netplumb::fuzzing::address`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    netplumb::fuzzing::address(data);
});
