//! Address family numbers (`AF_*`) as the headers of rtnetlink and
//! nfnetlink messages carry them, and the family of an IP address: shared
//! by every family module (rtnl, conntrack, nft) that writes one.

use std::net::IpAddr;

/// `AF_UNSPEC`.
pub(crate) const AF_UNSPEC: u8 = libc::AF_UNSPEC as u8;
/// `AF_INET`.
pub(crate) const AF_INET: u8 = libc::AF_INET as u8;
/// `AF_BRIDGE`.
pub(crate) const AF_BRIDGE: u8 = libc::AF_BRIDGE as u8;
/// `AF_INET6`.
pub(crate) const AF_INET6: u8 = libc::AF_INET6 as u8;

/// The family number of an address: `AF_INET` or `AF_INET6`.
pub(crate) fn family_of(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => AF_INET,
        IpAddr::V6(_) => AF_INET6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_numbers_are_the_kernel_ones() {
        assert_eq!((AF_UNSPEC, AF_INET, AF_BRIDGE, AF_INET6), (0, 2, 7, 10));
        assert_eq!(family_of("10.0.0.1".parse().unwrap()), AF_INET);
        assert_eq!(family_of("fd00::1".parse().unwrap()), AF_INET6);
    }
}
