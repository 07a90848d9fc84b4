//! `ifb` links.

/// An intermediate functional block: a device that traffic is redirected
/// into (`tc ... action mirred egress redirect dev ifb0`) so that a qdisc
/// on it shapes what arrives on another device (`ip link add NAME type
/// ifb`). Has no settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ifb;
