//! `quota`: match until (or once) a byte budget is used up.

use super::{collect, opt, req};
use crate::error::DecodeError;
use crate::wire::{AttrIter, AttrWriter};

const BYTES: u16 = 1;
const FLAGS: u16 = 2;
const CONSUMED: u16 = 3;

/// `[ quota bytes 25000000 consumed 0 flags 0 ]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quota {
    /// The budget.
    pub bytes: u64,
    /// Used so far.
    pub consumed: u64,
    /// `over` (`NFT_QUOTA_F_INV`).
    pub over: bool,
}

impl Quota {
    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        w.u64_be(BYTES, self.bytes);
        w.u64_be(CONSUMED, self.consumed);
        w.u32_be(FLAGS, self.over as u32);
    }

    pub(crate) fn decode(it: AttrIter<'_>) -> Result<Option<Quota>, DecodeError> {
        // 4 is NFTA_QUOTA_PAD.
        let Some(a) = collect::<5>(it)? else { return Ok(None) };
        let flags = opt(&a[FLAGS as usize], |a| a.u32_be())?.unwrap_or(0);
        if flags & !1 != 0 {
            return Ok(None);
        }
        Ok(Some(Quota {
            bytes: req(&a[BYTES as usize], "quota bytes", |a| a.u64_be())?,
            consumed: opt(&a[CONSUMED as usize], |a| a.u64_be())?.unwrap_or(0),
            over: flags & 1 != 0,
        }))
    }
}
