//! `payload`: load bytes from a packet header (or write them).

use super::{collect, opt, reg, req, Reg};
use crate::error::DecodeError;
use crate::wire::{AttrIter, AttrWriter};

const DREG: u16 = 1;
const BASE: u16 = 2;
const OFFSET: u16 = 3;
const LEN: u16 = 4;
const SREG: u16 = 5;
const CSUM_TYPE: u16 = 6;
const CSUM_OFFSET: u16 = 7;
const CSUM_FLAGS: u16 = 8;

/// Which header an offset counts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PayloadBase {
    /// `link layer header` (`NFT_PAYLOAD_LL_HEADER`).
    LinkLayer,
    /// `network header`.
    Network,
    /// `transport header`.
    Transport,
    /// `inner header`.
    Inner,
    /// Any other base.
    Other(u32),
}

impl PayloadBase {
    fn code(self) -> u32 {
        match self {
            PayloadBase::LinkLayer => 0,
            PayloadBase::Network => 1,
            PayloadBase::Transport => 2,
            PayloadBase::Inner => 3,
            PayloadBase::Other(c) => c,
        }
    }

    fn from_code(c: u32) -> PayloadBase {
        match c {
            0 => PayloadBase::LinkLayer,
            1 => PayloadBase::Network,
            2 => PayloadBase::Transport,
            3 => PayloadBase::Inner,
            c => PayloadBase::Other(c),
        }
    }
}

/// `[ payload load LENb @ BASE + OFFSET => reg DREG ]`, or with `sreg`
/// set, a payload write (`ip ttl set 1`) with optional checksum update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payload {
    /// Destination register for a load.
    pub dreg: Option<Reg>,
    /// Source register for a write.
    pub sreg: Option<Reg>,
    /// The header.
    pub base: PayloadBase,
    /// Byte offset in that header.
    pub offset: u32,
    /// Number of bytes.
    pub len: u32,
    /// Checksum type to fix after a write (`NFT_PAYLOAD_CSUM_INET` = 1).
    pub csum_type: Option<u32>,
    /// Offset of the checksum.
    pub csum_offset: Option<u32>,
    /// Checksum flags (`NFT_PAYLOAD_L4CSUM_PSEUDOHDR` = 1).
    pub csum_flags: Option<u32>,
}

impl Payload {
    /// Load `len` bytes at `offset` of `base` into `dreg`.
    pub fn load(base: PayloadBase, offset: u32, len: u32, dreg: Reg) -> Payload {
        Payload {
            dreg: Some(dreg),
            sreg: None,
            base,
            offset,
            len,
            csum_type: None,
            csum_offset: None,
            csum_flags: None,
        }
    }

    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        if let Some(r) = self.sreg {
            w.u32_be(SREG, r.0);
        }
        if let Some(r) = self.dreg {
            w.u32_be(DREG, r.0);
        }
        w.u32_be(BASE, self.base.code());
        w.u32_be(OFFSET, self.offset);
        w.u32_be(LEN, self.len);
        if let Some(v) = self.csum_type {
            w.u32_be(CSUM_TYPE, v);
        }
        if let Some(v) = self.csum_offset {
            w.u32_be(CSUM_OFFSET, v);
        }
        if let Some(v) = self.csum_flags {
            w.u32_be(CSUM_FLAGS, v);
        }
    }

    pub(crate) fn decode(it: AttrIter<'_>) -> Result<Option<Payload>, DecodeError> {
        let Some(a) = collect::<9>(it)? else { return Ok(None) };
        let u = |x: &crate::wire::Attr<'_>| x.u32_be();
        Ok(Some(Payload {
            dreg: opt(&a[DREG as usize], reg)?,
            sreg: opt(&a[SREG as usize], reg)?,
            base: PayloadBase::from_code(req(&a[BASE as usize], "payload base", u)?),
            offset: req(&a[OFFSET as usize], "payload offset", u)?,
            len: req(&a[LEN as usize], "payload len", u)?,
            csum_type: opt(&a[CSUM_TYPE as usize], u)?,
            csum_offset: opt(&a[CSUM_OFFSET as usize], u)?,
            csum_flags: opt(&a[CSUM_FLAGS as usize], u)?,
        }))
    }
}
