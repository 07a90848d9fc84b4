//! ipMasq: TEMPORARY until the nft module lands.
use super::config::{CniError, NetConf};
use super::ipam::Allocation;
use netplumb::netns::Netns;

pub async fn add(
    _h: &Netns,
    _c: &NetConf,
    _id: &str,
    _if: &str,
    _ips: &[Allocation],
) -> Result<(), CniError> {
    Err(CniError::new(2, "ipMasq is not supported yet"))
}
pub async fn del(_h: &Netns, _c: &NetConf, _id: &str, _if: &str) -> Result<(), CniError> {
    Ok(())
}
pub async fn check(_h: &Netns, _c: &NetConf, _id: &str, _if: &str) -> Result<(), CniError> {
    Ok(())
}
