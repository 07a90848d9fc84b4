//! `immediate`: load a constant or a verdict into a register.

use super::{collect, reg, req, Data, Reg, Verdict};
use crate::error::DecodeError;
use crate::wire::{AttrIter, AttrWriter};

const DREG: u16 = 1;
const DATA: u16 = 2;

/// `[ immediate reg DREG DATA ]`. With `dreg` 0 and a verdict this is how
/// a rule says `accept`, `drop`, `jump CHAIN`...
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Immediate {
    /// The destination register ([`Reg::VERDICT`] for verdicts).
    pub dreg: Reg,
    /// What is loaded.
    pub data: Data,
}

impl Immediate {
    /// A verdict statement (`accept`, `jump x`, ...).
    pub fn verdict(v: Verdict) -> Immediate {
        Immediate { dreg: Reg::VERDICT, data: Data::Verdict(v) }
    }

    /// Load `value` into `dreg`.
    pub fn value(dreg: Reg, value: impl Into<Vec<u8>>) -> Immediate {
        Immediate { dreg, data: Data::Value(value.into()) }
    }

    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        w.u32_be(DREG, self.dreg.0);
        self.data.encode(w, DATA);
    }

    pub(crate) fn decode(it: AttrIter<'_>) -> Result<Option<Immediate>, DecodeError> {
        let Some(a) = collect::<3>(it)? else { return Ok(None) };
        Ok(Some(Immediate {
            dreg: req(&a[DREG as usize], "immediate dreg", reg)?,
            data: req(&a[DATA as usize], "immediate data", Data::decode)?,
        }))
    }
}
