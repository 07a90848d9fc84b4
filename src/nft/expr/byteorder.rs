//! `byteorder`: convert a register between host and network order.

use super::{collect, reg, req, Reg};
use crate::error::DecodeError;
use crate::wire::{AttrIter, AttrWriter};

const SREG: u16 = 1;
const DREG: u16 = 2;
const OP: u16 = 3;
const LEN: u16 = 4;
const SIZE: u16 = 5;

/// Direction of the conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ByteorderOp {
    /// Network to host (`NFT_BYTEORDER_NTOH`).
    Ntoh,
    /// Host to network.
    Hton,
}

/// `[ byteorder reg 1 = ntoh(reg 1, 2, 2) ]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Byteorder {
    /// Source.
    pub sreg: Reg,
    /// Destination.
    pub dreg: Reg,
    /// Direction.
    pub op: ByteorderOp,
    /// Bytes converted.
    pub len: u32,
    /// Word size (2, 4 or 8).
    pub size: u32,
}

impl Byteorder {
    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        w.u32_be(SREG, self.sreg.0);
        w.u32_be(DREG, self.dreg.0);
        w.u32_be(OP, self.op as u32);
        w.u32_be(LEN, self.len);
        w.u32_be(SIZE, self.size);
    }

    pub(crate) fn decode(it: AttrIter<'_>) -> Result<Option<Byteorder>, DecodeError> {
        let Some(a) = collect::<6>(it)? else { return Ok(None) };
        let op = match req(&a[OP as usize], "byteorder op", |a| a.u32_be())? {
            0 => ByteorderOp::Ntoh,
            1 => ByteorderOp::Hton,
            _ => return Ok(None),
        };
        Ok(Some(Byteorder {
            sreg: req(&a[SREG as usize], "byteorder sreg", reg)?,
            dreg: req(&a[DREG as usize], "byteorder dreg", reg)?,
            op,
            len: req(&a[LEN as usize], "byteorder len", |a| a.u32_be())?,
            size: req(&a[SIZE as usize], "byteorder size", |a| a.u32_be())?,
        }))
    }
}
