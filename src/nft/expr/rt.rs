//! `rt`: routing information of the packet (`rt mtu`, `rt ip nexthop`,
//! `rt classid`, `rt ipsec`).

use super::{collect, reg, req, Reg};
use crate::error::DecodeError;
use crate::wire::{AttrIter, AttrWriter};

const DREG: u16 = 1;
const KEY: u16 = 2;

/// `[ rt load nexthop4 => reg 1 ]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rt {
    /// Destination register.
    pub dreg: Reg,
    /// `NFT_RT_*`: 0 classid, 1 nexthop4, 2 nexthop6, 3 tcpmss, 4 xfrm.
    pub key: u32,
}

impl Rt {
    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        w.u32_be(DREG, self.dreg.0);
        w.u32_be(KEY, self.key);
    }

    pub(crate) fn decode(it: AttrIter<'_>) -> Result<Option<Rt>, DecodeError> {
        let Some(a) = collect::<3>(it)? else { return Ok(None) };
        Ok(Some(Rt {
            dreg: req(&a[DREG as usize], "rt dreg", reg)?,
            key: req(&a[KEY as usize], "rt key", |a| a.u32_be())?,
        }))
    }
}
