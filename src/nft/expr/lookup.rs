//! `lookup`: look a register up in a set or map.

use super::{collect, opt, reg, req, Reg};
use crate::error::DecodeError;
use crate::wire::{AttrIter, AttrWriter};

const SET: u16 = 1;
const SREG: u16 = 2;
const DREG: u16 = 3;
const SET_ID: u16 = 4;
const FLAGS: u16 = 5;

/// `[ lookup reg SREG set NAME dreg DREG ]`: match if the key is (or with
/// `invert`, is not) in the set; for a map, load the mapped data into
/// `dreg` (register 0 for a verdict map: `vmap`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lookup {
    /// The set's name (`__set%d`/`__map%d` for an anonymous one being
    /// created in the same transaction).
    pub set: String,
    /// The set's transaction id, when it is created in the same batch.
    pub set_id: Option<u32>,
    /// Where the key starts.
    pub sreg: Reg,
    /// For maps: where the data goes.
    pub dreg: Option<Reg>,
    /// `!= @set` (`NFT_LOOKUP_F_INV`).
    pub invert: bool,
    /// Whether the flags attribute is written even when 0 (the kernel
    /// lists it; nft writes it only for `!=`).
    pub explicit_flags: bool,
}

impl Lookup {
    /// Match `sreg` against set `set`.
    pub fn set(sreg: Reg, set: impl Into<String>) -> Lookup {
        Lookup { set: set.into(), set_id: None, sreg, dreg: None, invert: false, explicit_flags: false }
    }

    /// Map `sreg` through map `set` into `dreg`.
    pub fn map(sreg: Reg, set: impl Into<String>, dreg: Reg) -> Lookup {
        Lookup { dreg: Some(dreg), ..Lookup::set(sreg, set) }
    }

    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        w.u32_be(SREG, self.sreg.0);
        if let Some(d) = self.dreg {
            w.u32_be(DREG, d.0);
        }
        w.str(SET, &self.set);
        if let Some(id) = self.set_id {
            w.u32_be(SET_ID, id);
        }
        if self.explicit_flags || self.invert {
            w.u32_be(FLAGS, self.invert as u32);
        }
    }

    pub(crate) fn decode(it: AttrIter<'_>) -> Result<Option<Lookup>, DecodeError> {
        let Some(a) = collect::<6>(it)? else { return Ok(None) };
        let flags = opt(&a[FLAGS as usize], |a| a.u32_be())?;
        if flags.unwrap_or(0) & !1 != 0 {
            return Ok(None);
        }
        Ok(Some(Lookup {
            set: req(&a[SET as usize], "lookup set", |a| a.str())?.to_string(),
            set_id: opt(&a[SET_ID as usize], |a| a.u32_be())?,
            sreg: req(&a[SREG as usize], "lookup sreg", reg)?,
            dreg: opt(&a[DREG as usize], reg)?,
            invert: flags.unwrap_or(0) & 1 != 0,
            explicit_flags: flags == Some(0),
        }))
    }
}
