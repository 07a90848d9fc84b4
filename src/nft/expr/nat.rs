//! `nat`: source or destination NAT from registers.

use super::{collect, opt, reg, req, Reg};
use crate::error::DecodeError;
use crate::wire::{AttrIter, AttrWriter};

const TYPE: u16 = 1;
const FAMILY: u16 = 2;
const REG_ADDR_MIN: u16 = 3;
const REG_ADDR_MAX: u16 = 4;
const REG_PROTO_MIN: u16 = 5;
const REG_PROTO_MAX: u16 = 6;
const FLAGS: u16 = 7;

/// `snat` or `dnat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NatType {
    /// `NFT_NAT_SNAT`.
    Snat,
    /// `NFT_NAT_DNAT`.
    Dnat,
}

bitflags::bitflags! {
    /// `NF_NAT_RANGE_*` flags.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct NatFlags: u32 {
        /// An address range is given (set by nft when there is an address).
        const MAP_IPS = 0x1;
        /// A port range is given.
        const PROTO_SPECIFIED = 0x2;
        /// `random`.
        const RANDOM = 0x4;
        /// `persistent`.
        const PERSISTENT = 0x8;
        /// `fully-random`.
        const FULLY_RANDOM = 0x10;
        /// Port offset.
        const PROTO_OFFSET = 0x20;
        /// `netmap`.
        const NETMAP = 0x40;
        const _ = !0;
    }
}

/// `[ nat dnat ip addr_min reg 1 proto_min reg 2 flags 0x3 ]`: translate
/// to the address in `addr_min`..`addr_max` and port in
/// `proto_min`..`proto_max` (registers loaded by preceding immediates).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nat {
    /// snat or dnat.
    pub kind: NatType,
    /// `NFPROTO_IPV4` (2) or `NFPROTO_IPV6` (10).
    pub family: u32,
    /// Register with the lowest address.
    pub addr_min: Option<Reg>,
    /// Register with the highest address.
    pub addr_max: Option<Reg>,
    /// Register with the lowest port.
    pub proto_min: Option<Reg>,
    /// Register with the highest port.
    pub proto_max: Option<Reg>,
    /// Flags; `None` when the attribute is absent.
    pub flags: Option<NatFlags>,
}

impl Nat {
    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        w.u32_be(TYPE, self.kind as u32);
        w.u32_be(FAMILY, self.family);
        if let Some(r) = self.addr_min {
            w.u32_be(REG_ADDR_MIN, r.0);
        }
        if let Some(r) = self.addr_max {
            w.u32_be(REG_ADDR_MAX, r.0);
        }
        if let Some(r) = self.proto_min {
            w.u32_be(REG_PROTO_MIN, r.0);
        }
        if let Some(r) = self.proto_max {
            w.u32_be(REG_PROTO_MAX, r.0);
        }
        if let Some(f) = self.flags {
            w.u32_be(FLAGS, f.bits());
        }
    }

    pub(crate) fn decode(it: AttrIter<'_>) -> Result<Option<Nat>, DecodeError> {
        let Some(a) = collect::<8>(it)? else { return Ok(None) };
        let kind = match req(&a[TYPE as usize], "nat type", |a| a.u32_be())? {
            0 => NatType::Snat,
            1 => NatType::Dnat,
            _ => return Ok(None),
        };
        Ok(Some(Nat {
            kind,
            family: req(&a[FAMILY as usize], "nat family", |a| a.u32_be())?,
            addr_min: opt(&a[REG_ADDR_MIN as usize], reg)?,
            addr_max: opt(&a[REG_ADDR_MAX as usize], reg)?,
            proto_min: opt(&a[REG_PROTO_MIN as usize], reg)?,
            proto_max: opt(&a[REG_PROTO_MAX as usize], reg)?,
            flags: opt(&a[FLAGS as usize], |a| a.u32_be())?.map(NatFlags::from_bits_retain),
        }))
    }
}
