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

#[cfg(test)]
mod tests {
    //! The kernels netplumb is tested on lack nft_queue, so `queue` is
    //! checked here against the bytes nft 1.0.6 sends (captured with `nft
    //! --debug=mnl`) and the text nft prints for them.
    use super::*;
    use crate::nft::expr::{Expr, Hash, HashType, Payload, PayloadBase};
    use crate::nft::{render, Family, Rule};

    fn encode(q: &Queue) -> Vec<u8> {
        let mut buf = Vec::new();
        q.encode(&mut AttrWriter::new(&mut buf));
        buf
    }

    fn text(exprs: Vec<Expr>) -> String {
        render::rule_strict(&Rule::new(Family::Ip, "t", "c", exprs), &[]).unwrap()
    }

    #[test]
    fn queue_range_with_bypass_is_what_nft_sends_and_prints() {
        // `queue flags bypass to 1-3`: num 1, total 3, flags bypass.
        let nft: &[u8] = &[6, 0, 1, 0, 0, 1, 0, 0, 6, 0, 2, 0, 0, 3, 0, 0, 6, 0, 3, 0, 0, 1, 0, 0];
        let q = Queue::new(1, 3, QUEUE_FLAG_BYPASS);
        assert_eq!(encode(&q), nft);
        assert_eq!(Queue::decode(AttrIter::new(nft)).unwrap(), Some(q.clone()));
        assert_eq!(text(vec![q.into()]), "queue flags bypass to 1-3");
    }

    #[test]
    fn queue_forms_print_as_nft_prints_them() {
        assert_eq!(text(vec![Queue::new(0, 0, 0).into()]), "queue to 0");
        assert_eq!(text(vec![Queue::new(7, 7, 0).into()]), "queue to 7");
        let both = QUEUE_FLAG_BYPASS | QUEUE_FLAG_CPU_FANOUT;
        assert_eq!(text(vec![Queue::new(4, 5, both).into()]), "queue flags bypass,fanout to 4-5");
        assert_eq!(text(vec![Queue::new(4, 5, QUEUE_FLAG_CPU_FANOUT).into()]), "queue flags fanout to 4-5");
        // Unknown flags: an error, not a queue without them.
        let odd = Queue { flags: Some(0x8), ..Queue::new(1, 1, 0) };
        assert!(render::rule_strict(&Rule::new(Family::Ip, "t", "c", vec![odd.into()]), &[]).is_err());
    }

    #[test]
    fn queue_number_from_a_hash_is_what_nft_sends_and_prints() {
        // `queue to jhash ip saddr mod 4`: the queue attributes are only
        // NFTA_QUEUE_SREG_QNUM = 1.
        let nft: &[u8] = &[8, 0, 4, 0, 0, 0, 0, 1];
        let q = Queue { num: None, total: None, flags: None, sreg_qnum: Some(Reg(1)) };
        assert_eq!(encode(&q), nft);
        assert_eq!(Queue::decode(AttrIter::new(nft)).unwrap(), Some(q.clone()));
        let hash = Hash {
            kind: HashType::Jenkins,
            sreg: Some(Reg(2)),
            dreg: Reg(1),
            len: Some(4),
            modulus: 4,
            seed: None,
            offset: 0,
        };
        let load = Payload::load(PayloadBase::Network, 12, 4, Reg(2));
        assert_eq!(text(vec![load.into(), hash.into(), q.into()]), "queue to jhash ip saddr mod 4");
    }
}
