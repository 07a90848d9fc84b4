//! `connlimit`: match on the number of connections (`ct count 3`, `ct
//! count over 3`).

use super::{collect, opt, req};
use crate::error::DecodeError;
use crate::wire::{AttrIter, AttrWriter};

const COUNT: u16 = 1;
const FLAGS: u16 = 2;

/// `NFT_CONNLIMIT_F_INV`: match above the count (`over`).
pub const CONNLIMIT_F_INV: u32 = 1;

/// `[ connlimit count 3 flags 0 ]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connlimit {
    /// The connection count compared with.
    pub count: u32,
    /// `NFTA_CONNLIMIT_FLAGS` ([`CONNLIMIT_F_INV`]); the kernel lists it
    /// only when set.
    pub flags: Option<u32>,
}

impl Connlimit {
    /// `ct count COUNT` (`over`: `ct count over COUNT`).
    pub fn new(count: u32, over: bool) -> Connlimit {
        Connlimit { count, flags: over.then_some(CONNLIMIT_F_INV) }
    }

    /// Whether it matches above the count.
    pub fn over(&self) -> bool {
        self.flags.unwrap_or(0) & CONNLIMIT_F_INV != 0
    }

    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        w.u32_be(COUNT, self.count);
        if let Some(f) = self.flags {
            w.u32_be(FLAGS, f);
        }
    }

    pub(crate) fn decode(it: AttrIter<'_>) -> Result<Option<Connlimit>, DecodeError> {
        let Some(a) = collect::<3>(it)? else { return Ok(None) };
        Ok(Some(Connlimit {
            count: req(&a[COUNT as usize], "connlimit count", |a| a.u32_be())?,
            flags: opt(&a[FLAGS as usize], |a| a.u32_be())?,
        }))
    }
}
