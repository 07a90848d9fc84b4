//! `cmp`: compare a register with a value.

use super::{collect, get_value, put_value, reg, req, Reg};
use crate::error::DecodeError;
use crate::wire::{AttrIter, AttrWriter};

const SREG: u16 = 1;
const OP: u16 = 2;
const DATA: u16 = 3;

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `==` (`NFT_CMP_EQ`).
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

impl CmpOp {
    fn code(self) -> u32 {
        self as u32
    }

    fn from_code(c: u32) -> Option<CmpOp> {
        Some(match c {
            0 => CmpOp::Eq,
            1 => CmpOp::Ne,
            2 => CmpOp::Lt,
            3 => CmpOp::Le,
            4 => CmpOp::Gt,
            5 => CmpOp::Ge,
            _ => return None,
        })
    }

    /// The operator as `nft` prints it (`""` for equality, which nft
    /// leaves implicit).
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "",
            CmpOp::Ne => "!= ",
            CmpOp::Lt => "< ",
            CmpOp::Le => "<= ",
            CmpOp::Gt => "> ",
            CmpOp::Ge => ">= ",
        }
    }
}

/// `[ cmp OP reg SREG DATA ]`: compare `len(data)` bytes of `sreg` with
/// `data`; a mismatch ends the rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cmp {
    /// The register compared.
    pub sreg: Reg,
    /// The operator.
    pub op: CmpOp,
    /// The value, in register layout (network order for addresses and
    /// ports, host order for marks).
    pub data: Vec<u8>,
}

impl Cmp {
    /// Compare `sreg` with `data`.
    pub fn new(sreg: Reg, op: CmpOp, data: impl Into<Vec<u8>>) -> Cmp {
        Cmp { sreg, op, data: data.into() }
    }

    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        w.u32_be(SREG, self.sreg.0);
        w.u32_be(OP, self.op.code());
        put_value(w, DATA, &self.data);
    }

    pub(crate) fn decode(it: AttrIter<'_>) -> Result<Option<Cmp>, DecodeError> {
        let Some(a) = collect::<4>(it)? else { return Ok(None) };
        let Some(op) = CmpOp::from_code(req(&a[OP as usize], "cmp op", |a| a.u32_be())?) else {
            return Ok(None);
        };
        Ok(Some(Cmp {
            sreg: req(&a[SREG as usize], "cmp sreg", reg)?,
            op,
            data: req(&a[DATA as usize], "cmp data", get_value)?,
        }))
    }
}
