//! `range`: match a register against an inclusive range.

use super::{collect, get_value, put_value, reg, req, CmpOp, Reg};
use crate::error::DecodeError;
use crate::wire::{AttrIter, AttrWriter};

const SREG: u16 = 1;
const OP: u16 = 2;
const FROM: u16 = 3;
const TO: u16 = 4;

/// `[ range OP reg SREG FROM TO ]` (`tcp dport 1000-2000`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Range {
    /// The register.
    pub sreg: Reg,
    /// `true` for `!=` (`NFT_RANGE_NEQ`).
    pub negate: bool,
    /// Low end, in register layout.
    pub from: Vec<u8>,
    /// High end.
    pub to: Vec<u8>,
}

impl Range {
    /// The operator as a [`CmpOp`] (`Eq` or `Ne`).
    pub fn op(&self) -> CmpOp {
        if self.negate {
            CmpOp::Ne
        } else {
            CmpOp::Eq
        }
    }

    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        w.u32_be(SREG, self.sreg.0);
        w.u32_be(OP, self.negate as u32);
        put_value(w, FROM, &self.from);
        put_value(w, TO, &self.to);
    }

    pub(crate) fn decode(it: AttrIter<'_>) -> Result<Option<Range>, DecodeError> {
        let Some(a) = collect::<5>(it)? else { return Ok(None) };
        let op = req(&a[OP as usize], "range op", |a| a.u32_be())?;
        if op > 1 {
            return Ok(None);
        }
        Ok(Some(Range {
            sreg: req(&a[SREG as usize], "range sreg", reg)?,
            negate: op == 1,
            from: req(&a[FROM as usize], "range from", get_value)?,
            to: req(&a[TO as usize], "range to", get_value)?,
        }))
    }
}
