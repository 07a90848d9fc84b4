//! `fib`: forwarding information base lookup.

use super::{collect, reg, req, Reg};
use crate::error::DecodeError;
use crate::wire::{AttrIter, AttrWriter};

const DREG: u16 = 1;
const RESULT: u16 = 2;
const FLAGS: u16 = 3;

/// What the lookup returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FibResult {
    /// `oif` (`NFT_FIB_RESULT_OIF`).
    Oif,
    /// `oifname`.
    OifName,
    /// `type` (address type: local, unicast, ...).
    AddrType,
    /// Another result code.
    Other(u32),
}

impl FibResult {
    fn code(self) -> u32 {
        match self {
            FibResult::Oif => 1,
            FibResult::OifName => 2,
            FibResult::AddrType => 3,
            FibResult::Other(c) => c,
        }
    }

    fn from_code(c: u32) -> FibResult {
        match c {
            1 => FibResult::Oif,
            2 => FibResult::OifName,
            3 => FibResult::AddrType,
            c => FibResult::Other(c),
        }
    }
}

bitflags::bitflags! {
    /// `NFTA_FIB_F_*`: what the lookup is keyed on.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct FibFlags: u32 {
        /// `saddr`.
        const SADDR = 1;
        /// `daddr`.
        const DADDR = 2;
        /// `mark`.
        const MARK = 4;
        /// `iif`.
        const IIF = 8;
        /// `oif`.
        const OIF = 16;
        /// `present` (existence check).
        const PRESENT = 32;
        const _ = !0;
    }
}

/// `[ fib daddr type => reg 1 ]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fib {
    /// Destination register.
    pub dreg: Reg,
    /// What is returned.
    pub result: FibResult,
    /// What the lookup uses.
    pub flags: FibFlags,
}

impl Fib {
    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        w.u32_be(DREG, self.dreg.0);
        w.u32_be(RESULT, self.result.code());
        w.u32_be(FLAGS, self.flags.bits());
    }

    pub(crate) fn decode(it: AttrIter<'_>) -> Result<Option<Fib>, DecodeError> {
        let Some(a) = collect::<4>(it)? else { return Ok(None) };
        Ok(Some(Fib {
            dreg: req(&a[DREG as usize], "fib dreg", reg)?,
            result: FibResult::from_code(req(&a[RESULT as usize], "fib result", |a| a.u32_be())?),
            flags: FibFlags::from_bits_retain(req(&a[FLAGS as usize], "fib flags", |a| a.u32_be())?),
        }))
    }
}
