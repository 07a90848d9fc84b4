//! `ct expectation` objects: an expected related connection that a rule
//! sets up (`ct expectation e { protocol tcp; dport 1234; timeout 2m;
//! size 12; l3proto ip; }`, used by `ct expectation set "e"`).

use super::{collect, req};
use crate::error::DecodeError;
use crate::wire::{AttrIter, AttrWriter};

const L3PROTO: u16 = 1;
const L4PROTO: u16 = 2;
const DPORT: u16 = 3;
const TIMEOUT: u16 = 4;
const SIZE: u16 = 5;

/// The data of an `NFT_OBJECT_CT_EXPECT` object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CtExpect {
    /// `NFPROTO_*` (2 ip, 10 ip6).
    pub l3proto: u16,
    /// IP protocol of the expected connection (6 tcp, 17 udp, ...).
    pub l4proto: u8,
    /// Destination port of the expected connection.
    pub dport: u16,
    /// How long the expectation lives, in milliseconds (host byte order
    /// on the wire, as the kernel and nft write it).
    pub timeout_ms: u32,
    /// How many expectations the master connection may hold.
    pub size: u8,
}

impl CtExpect {
    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        w.u16_be(L3PROTO, self.l3proto);
        w.u8(L4PROTO, self.l4proto);
        w.u16_be(DPORT, self.dport);
        w.u32(TIMEOUT, self.timeout_ms);
        w.u8(SIZE, self.size);
    }

    pub(crate) fn decode(it: AttrIter<'_>) -> Result<Option<CtExpect>, DecodeError> {
        let Some(a) = collect::<6>(it)? else { return Ok(None) };
        Ok(Some(CtExpect {
            l3proto: req(&a[L3PROTO as usize], "ct expectation l3proto", |a| a.u16_be())?,
            l4proto: req(&a[L4PROTO as usize], "ct expectation l4proto", |a| a.u8())?,
            dport: req(&a[DPORT as usize], "ct expectation dport", |a| a.u16_be())?,
            timeout_ms: req(&a[TIMEOUT as usize], "ct expectation timeout", |a| a.u32())?,
            size: req(&a[SIZE as usize], "ct expectation size", |a| a.u8())?,
        }))
    }
}
