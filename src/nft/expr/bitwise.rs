//! `bitwise`: mask and xor, or shift, a register.

use super::{collect, get_value, opt, put_value, reg, req, Reg};
use crate::error::DecodeError;
use crate::wire::{AttrIter, AttrWriter};

const SREG: u16 = 1;
const DREG: u16 = 2;
const LEN: u16 = 3;
const MASK: u16 = 4;
const XOR: u16 = 5;
const OP: u16 = 6;
const DATA: u16 = 7;

/// What a bitwise expression computes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BitwiseOp {
    /// `dreg = (sreg & mask) ^ xor` (`NFT_BITWISE_BOOL`; older kernels and
    /// nft omit the op attribute for it).
    Bool {
        /// The mask.
        mask: Vec<u8>,
        /// The xor.
        xor: Vec<u8>,
    },
    /// `dreg = sreg << n` (per 32-bit word).
    Lshift(u32),
    /// `dreg = sreg >> n`.
    Rshift(u32),
}

/// `[ bitwise reg DREG = ( reg SREG & MASK ) ^ XOR ]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bitwise {
    /// Source.
    pub sreg: Reg,
    /// Destination.
    pub dreg: Reg,
    /// Bytes operated on.
    pub len: u32,
    /// The operation.
    pub op: BitwiseOp,
    /// Whether the op attribute is written for a boolean operation
    /// (`nft` 1.0.6 writes it for `meta mark | 0x1`-style expressions, not
    /// for flag tests or prefixes).
    pub explicit_op: bool,
}

impl Bitwise {
    /// `dreg = (sreg & mask) ^ xor`.
    pub fn mask_xor(sreg: Reg, dreg: Reg, mask: Vec<u8>, xor: Vec<u8>) -> Bitwise {
        Bitwise { sreg, dreg, len: mask.len() as u32, op: BitwiseOp::Bool { mask, xor }, explicit_op: false }
    }

    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        w.u32_be(SREG, self.sreg.0);
        w.u32_be(DREG, self.dreg.0);
        match &self.op {
            BitwiseOp::Bool { mask, xor } => {
                // Order as libnftnl: op, len, mask, xor.
                if self.explicit_op {
                    w.u32_be(OP, 0);
                }
                w.u32_be(LEN, self.len);
                put_value(w, MASK, mask);
                put_value(w, XOR, xor);
            }
            BitwiseOp::Lshift(n) | BitwiseOp::Rshift(n) => {
                let op = if matches!(self.op, BitwiseOp::Lshift(_)) { 1 } else { 2 };
                w.u32_be(OP, op);
                w.u32_be(LEN, self.len);
                put_value(w, DATA, &n.to_ne_bytes());
            }
        }
    }

    pub(crate) fn decode(it: AttrIter<'_>) -> Result<Option<Bitwise>, DecodeError> {
        let Some(a) = collect::<8>(it)? else { return Ok(None) };
        let op_code = opt(&a[OP as usize], |a| a.u32_be())?;
        let op = match op_code.unwrap_or(0) {
            0 => BitwiseOp::Bool {
                mask: req(&a[MASK as usize], "bitwise mask", get_value)?,
                xor: req(&a[XOR as usize], "bitwise xor", get_value)?,
            },
            c @ (1 | 2) => {
                let d = req(&a[DATA as usize], "bitwise data", get_value)?;
                let n = u32::from_ne_bytes(
                    d.get(..4)
                        .and_then(|s| s.try_into().ok())
                        .ok_or_else(|| DecodeError::new("bitwise shift", "data not 4 bytes"))?,
                );
                if c == 1 {
                    BitwiseOp::Lshift(n)
                } else {
                    BitwiseOp::Rshift(n)
                }
            }
            _ => return Ok(None),
        };
        Ok(Some(Bitwise {
            sreg: req(&a[SREG as usize], "bitwise sreg", reg)?,
            dreg: req(&a[DREG as usize], "bitwise dreg", reg)?,
            len: req(&a[LEN as usize], "bitwise len", |a| a.u32_be())?,
            op,
            explicit_op: op_code.is_some(),
        }))
    }
}
