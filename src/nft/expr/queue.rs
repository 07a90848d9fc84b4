//! `queue`: hand the packet to a userspace program through nfqueue
//! (`queue to 3`, `queue flags bypass,fanout to 2-5`, `queue to jhash
//! ip saddr mod 4`).

use super::{collect, opt, reg, Reg};
use crate::error::DecodeError;
use crate::wire::{AttrIter, AttrWriter};

const NUM: u16 = 1;
const TOTAL: u16 = 2;
const FLAGS: u16 = 3;
const SREG_QNUM: u16 = 4;

/// `NFT_QUEUE_FLAG_BYPASS`: accept the packet when no program listens.
pub const QUEUE_FLAG_BYPASS: u16 = 0x01;
/// `NFT_QUEUE_FLAG_CPU_FANOUT`: pick the queue of the current CPU.
pub const QUEUE_FLAG_CPU_FANOUT: u16 = 0x02;

/// `[ queue num 2-5 bypass ]` or `[ queue sreg_qnum 1 ]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Queue {
    /// First queue number.
    pub num: Option<u16>,
    /// How many queues from `num` to balance over.
    pub total: Option<u16>,
    /// [`QUEUE_FLAG_BYPASS`], [`QUEUE_FLAG_CPU_FANOUT`].
    pub flags: Option<u16>,
    /// Register holding the queue number (`queue to jhash ... mod N`).
    pub sreg_qnum: Option<Reg>,
}

impl Queue {
    /// `queue [flags ...] to FIRST[-LAST]`: the queues `first..=last`.
    pub fn new(first: u16, last: u16, flags: u16) -> Queue {
        Queue {
            num: Some(first),
            total: Some(last.saturating_sub(first).saturating_add(1)),
            flags: Some(flags),
            sreg_qnum: None,
        }
    }

    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        if let Some(v) = self.num {
            w.u16_be(NUM, v);
        }
        if let Some(v) = self.total {
            w.u16_be(TOTAL, v);
        }
        if let Some(v) = self.flags {
            w.u16_be(FLAGS, v);
        }
        if let Some(r) = self.sreg_qnum {
            w.u32_be(SREG_QNUM, r.0);
        }
    }

    pub(crate) fn decode(it: AttrIter<'_>) -> Result<Option<Queue>, DecodeError> {
        let Some(a) = collect::<5>(it)? else { return Ok(None) };
        Ok(Some(Queue {
            num: opt(&a[NUM as usize], |a| a.u16_be())?,
            total: opt(&a[TOTAL as usize], |a| a.u16_be())?,
            flags: opt(&a[FLAGS as usize], |a| a.u16_be())?,
            sreg_qnum: opt(&a[SREG_QNUM as usize], reg)?,
        }))
    }
}
