//! `counter`: count packets and bytes.

use super::collect;
use crate::error::DecodeError;
use crate::wire::{AttrIter, AttrWriter};

const BYTES: u16 = 1;
const PACKETS: u16 = 2;

/// `[ counter pkts P bytes B ]`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Counter {
    /// Bytes counted.
    pub bytes: u64,
    /// Packets counted.
    pub packets: u64,
}

impl Counter {
    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        // A fresh counter is sent empty, as nft sends `counter`.
        if self.bytes != 0 || self.packets != 0 {
            w.u64_be(BYTES, self.bytes);
            w.u64_be(PACKETS, self.packets);
        }
    }

    pub(crate) fn decode(it: AttrIter<'_>) -> Result<Option<Counter>, DecodeError> {
        // 3 is NFTA_COUNTER_PAD: alignment only.
        let Some(a) = collect::<4>(it)? else { return Ok(None) };
        Ok(Some(Counter {
            bytes: a[BYTES as usize].map(|a| a.u64_be()).transpose()?.unwrap_or(0),
            packets: a[PACKETS as usize].map(|a| a.u64_be()).transpose()?.unwrap_or(0),
        }))
    }
}
