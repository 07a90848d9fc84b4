//! `xfrm`: IPsec state the packet went through or will go through
//! (`ipsec in reqid 1`, `ipsec out spnum 1 ip daddr 192.0.2.1`).

use super::{collect, opt, reg, req, Reg};
use crate::error::DecodeError;
use crate::wire::{AttrIter, AttrWriter};

const DREG: u16 = 1;
const KEY: u16 = 2;
const DIR: u16 = 3;
const SPNUM: u16 = 4;

/// `[ xfrm load in 0 reqid => reg 1 ]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Xfrm {
    /// Destination register.
    pub dreg: Reg,
    /// `NFT_XFRM_KEY_*`: 1 daddr ip, 2 daddr ip6, 3 saddr ip, 4 saddr ip6,
    /// 5 reqid, 6 spi.
    pub key: u32,
    /// `XFRM_POLICY_IN` (0) or `XFRM_POLICY_OUT` (1).
    pub dir: u8,
    /// Index in the secure path (`spnum`).
    pub spnum: Option<u32>,
}

impl Xfrm {
    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        w.u32_be(DREG, self.dreg.0);
        w.u32_be(KEY, self.key);
        w.u8(DIR, self.dir);
        if let Some(n) = self.spnum {
            w.u32_be(SPNUM, n);
        }
    }

    pub(crate) fn decode(it: AttrIter<'_>) -> Result<Option<Xfrm>, DecodeError> {
        let Some(a) = collect::<5>(it)? else { return Ok(None) };
        Ok(Some(Xfrm {
            dreg: req(&a[DREG as usize], "xfrm dreg", reg)?,
            key: req(&a[KEY as usize], "xfrm key", |a| a.u32_be())?,
            dir: req(&a[DIR as usize], "xfrm dir", |a| a.u8())?,
            spnum: opt(&a[SPNUM as usize], |a| a.u32_be())?,
        }))
    }
}
