//! `reject`: drop and answer with an ICMP error or a TCP reset.

use super::collect;
use crate::error::DecodeError;
use crate::wire::{AttrIter, AttrWriter};

const TYPE: u16 = 1;
const ICMP_CODE: u16 = 2;

/// How to reject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectType {
    /// An ICMP (or ICMPv6) unreachable of the family's own kind
    /// (`NFT_REJECT_ICMP_UNREACH`).
    IcmpUnreach,
    /// `with tcp reset`.
    TcpRst,
    /// `with icmpx CODE` (family-independent codes, inet/bridge/netdev).
    IcmpxUnreach,
}

/// `[ reject type 0 code 3 ]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    /// How.
    pub kind: RejectType,
    /// The ICMP code (for icmpx: 0 no-route, 1 port-unreachable,
    /// 2 host-unreachable, 3 admin-prohibited).
    pub code: u8,
}

impl Reject {
    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        w.u32_be(TYPE, self.kind as u32);
        w.u8(ICMP_CODE, self.code);
    }

    pub(crate) fn decode(it: AttrIter<'_>) -> Result<Option<Reject>, DecodeError> {
        let Some(a) = collect::<3>(it)? else { return Ok(None) };
        let kind = match a[TYPE as usize].map(|a| a.u32_be()).transpose()?.unwrap_or(0) {
            0 => RejectType::IcmpUnreach,
            1 => RejectType::TcpRst,
            2 => RejectType::IcmpxUnreach,
            _ => return Ok(None),
        };
        let code = a[ICMP_CODE as usize].map(|a| a.u8()).transpose()?.unwrap_or(0);
        Ok(Some(Reject { kind, code }))
    }
}
