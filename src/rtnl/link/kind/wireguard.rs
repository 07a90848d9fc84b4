//! `wireguard` links.

/// A `wireguard` link (`ip link add NAME type wireguard`). It has no
/// link settings: keys and peers are configured over the `wireguard`
/// generic netlink family (`wg set`), which netplumb does not speak. Some
/// kernels are built without it ("Unknown device type").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wireguard;
