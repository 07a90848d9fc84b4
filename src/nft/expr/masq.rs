//! `masq`: masquerade (source NAT to the outgoing interface's address).

use super::{collect, opt, reg, NatFlags, Reg};
use crate::error::DecodeError;
use crate::wire::{AttrIter, AttrWriter};

const FLAGS: u16 = 1;
const REG_PROTO_MIN: u16 = 2;
const REG_PROTO_MAX: u16 = 3;

/// `[ masq flags 0x10 ]` (`masquerade fully-random`), optionally `to :PORT`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Masq {
    /// `random`, `fully-random`, `persistent`; `None` when absent.
    pub flags: Option<NatFlags>,
    /// Register with the lowest port.
    pub proto_min: Option<Reg>,
    /// Register with the highest port.
    pub proto_max: Option<Reg>,
}

impl Masq {
    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        if let Some(f) = self.flags {
            w.u32_be(FLAGS, f.bits());
        }
        if let Some(r) = self.proto_min {
            w.u32_be(REG_PROTO_MIN, r.0);
        }
        if let Some(r) = self.proto_max {
            w.u32_be(REG_PROTO_MAX, r.0);
        }
    }

    pub(crate) fn decode(it: AttrIter<'_>) -> Result<Option<Masq>, DecodeError> {
        let Some(a) = collect::<4>(it)? else { return Ok(None) };
        Ok(Some(Masq {
            flags: opt(&a[FLAGS as usize], |a| a.u32_be())?.map(NatFlags::from_bits_retain),
            proto_min: opt(&a[REG_PROTO_MIN as usize], reg)?,
            proto_max: opt(&a[REG_PROTO_MAX as usize], reg)?,
        }))
    }
}
