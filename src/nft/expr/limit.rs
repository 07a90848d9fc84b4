//! `limit`: rate limiting (token bucket).

use super::{collect, opt, req};
use crate::error::DecodeError;
use crate::wire::{AttrIter, AttrWriter};

const RATE: u16 = 1;
const UNIT: u16 = 2;
const BURST: u16 = 3;
const TYPE: u16 = 4;
const FLAGS: u16 = 5;

/// Packets or bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LimitType {
    /// `rate 10/second` (`NFT_LIMIT_PKTS`).
    Packets,
    /// `rate 10 mbytes/second` (`NFT_LIMIT_PKT_BYTES`).
    Bytes,
}

/// The period of a rate, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LimitUnit(pub u64);

impl LimitUnit {
    /// Per second.
    pub const SECOND: LimitUnit = LimitUnit(1);
    /// Per minute.
    pub const MINUTE: LimitUnit = LimitUnit(60);
    /// Per hour.
    pub const HOUR: LimitUnit = LimitUnit(3600);
    /// Per day.
    pub const DAY: LimitUnit = LimitUnit(86400);
    /// Per week.
    pub const WEEK: LimitUnit = LimitUnit(604800);

    /// The word `nft` uses.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1 => "second",
            60 => "minute",
            3600 => "hour",
            86400 => "day",
            604800 => "week",
            _ => return None,
        })
    }
}

/// `[ limit rate 10/second burst 5 type packets flags 0x0 ]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limit {
    /// Rate (packets, or bytes) per unit.
    pub rate: u64,
    /// Period.
    pub unit: LimitUnit,
    /// Burst.
    pub burst: u32,
    /// Packets or bytes.
    pub kind: LimitType,
    /// `over`: match when the rate is exceeded (`NFT_LIMIT_F_INV`).
    pub over: bool,
}

impl Limit {
    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        w.u64_be(RATE, self.rate);
        w.u64_be(UNIT, self.unit.0);
        w.u32_be(BURST, self.burst);
        w.u32_be(TYPE, self.kind as u32);
        w.u32_be(FLAGS, self.over as u32);
    }

    pub(crate) fn decode(it: AttrIter<'_>) -> Result<Option<Limit>, DecodeError> {
        // 6 is NFTA_LIMIT_PAD.
        let Some(a) = collect::<7>(it)? else { return Ok(None) };
        let kind = match opt(&a[TYPE as usize], |a| a.u32_be())?.unwrap_or(0) {
            0 => LimitType::Packets,
            1 => LimitType::Bytes,
            _ => return Ok(None),
        };
        let flags = opt(&a[FLAGS as usize], |a| a.u32_be())?.unwrap_or(0);
        if flags & !1 != 0 {
            return Ok(None);
        }
        Ok(Some(Limit {
            rate: req(&a[RATE as usize], "limit rate", |a| a.u64_be())?,
            unit: LimitUnit(req(&a[UNIT as usize], "limit unit", |a| a.u64_be())?),
            burst: opt(&a[BURST as usize], |a| a.u32_be())?.unwrap_or(0),
            kind,
            over: flags & 1 != 0,
        }))
    }
}
