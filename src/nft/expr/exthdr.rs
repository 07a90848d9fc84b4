//! `exthdr`: IPv6 extension headers, TCP options, IPv4 options and SCTP
//! chunks: load a field into a register (`tcp option maxseg size`,
//! `frag id`), test for presence (`exthdr hbh exists`), write a field
//! (`tcp option maxseg size set 1360`) or remove an option (`reset tcp
//! option sack-perm`).

use super::{collect, opt, reg, Reg};
use crate::error::DecodeError;
use crate::wire::{AttrIter, AttrWriter};

const DREG: u16 = 1;
const TYPE: u16 = 2;
const OFFSET: u16 = 3;
const LEN: u16 = 4;
const FLAGS: u16 = 5;
const OP: u16 = 6;
const SREG: u16 = 7;

/// Which header an [`Exthdr`] walks (`NFT_EXTHDR_OP_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExthdrOp {
    /// IPv6 extension headers (`hbh`, `rt`, `frag`, `dst`, `mh`, `srh`).
    Ipv6,
    /// TCP options (`tcp option ...`).
    TcpOpt,
    /// IPv4 options (`ip option ...`).
    Ipv4,
    /// SCTP chunks (`sctp chunk ...`).
    Sctp,
    /// Another operation number.
    Other(u32),
}

impl ExthdrOp {
    /// The `NFT_EXTHDR_OP_*` number.
    pub fn code(self) -> u32 {
        match self {
            ExthdrOp::Ipv6 => 0,
            ExthdrOp::TcpOpt => 1,
            ExthdrOp::Ipv4 => 2,
            ExthdrOp::Sctp => 3,
            ExthdrOp::Other(c) => c,
        }
    }

    /// From an `NFT_EXTHDR_OP_*` number.
    pub fn from_code(c: u32) -> ExthdrOp {
        match c {
            0 => ExthdrOp::Ipv6,
            1 => ExthdrOp::TcpOpt,
            2 => ExthdrOp::Ipv4,
            3 => ExthdrOp::Sctp,
            c => ExthdrOp::Other(c),
        }
    }
}

/// `NFT_EXTHDR_F_PRESENT`: load 1 if the header or option is there, 0 if
/// not, instead of a field.
pub const EXTHDR_F_PRESENT: u32 = 1;

/// `[ exthdr load tcpopt 2b @ 2 + 2 => reg 1 ]`: with `dreg` a load, with
/// `sreg` a write, with neither (TCP options only) a removal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exthdr {
    /// Destination register of a load.
    pub dreg: Option<Reg>,
    /// Source register of a write.
    pub sreg: Option<Reg>,
    /// The extension header type, option kind or chunk type.
    pub ty: u8,
    /// Byte offset of the field in the header or option.
    pub offset: Option<u32>,
    /// Length of the field in bytes.
    pub len: Option<u32>,
    /// `NFTA_EXTHDR_FLAGS` ([`EXTHDR_F_PRESENT`]).
    pub flags: Option<u32>,
    /// Which header is walked (absent: IPv6).
    pub op: Option<ExthdrOp>,
}

impl Exthdr {
    /// Load `len` bytes at `offset` of TCP option `kind` into `dreg`
    /// (`tcp option maxseg size`: kind 2, offset 2, len 2).
    pub fn tcp_option(dreg: Reg, kind: u8, offset: u32, len: u32) -> Exthdr {
        Exthdr {
            dreg: Some(dreg),
            sreg: None,
            ty: kind,
            offset: Some(offset),
            len: Some(len),
            flags: None,
            op: Some(ExthdrOp::TcpOpt),
        }
    }

    /// Load `len` bytes at `offset` of IPv6 extension header `nexthdr`
    /// (0 hbh, 43 rt, 44 frag, 60 dst, 135 mh) into `dreg`.
    pub fn ipv6(dreg: Reg, nexthdr: u8, offset: u32, len: u32) -> Exthdr {
        Exthdr {
            dreg: Some(dreg),
            sreg: None,
            ty: nexthdr,
            offset: Some(offset),
            len: Some(len),
            flags: None,
            op: Some(ExthdrOp::Ipv6),
        }
    }

    /// Load 1 into `dreg` if the header or option is present, 0 if not
    /// (`exthdr frag exists`, `tcp option sack-perm exists`).
    pub fn present(dreg: Reg, op: ExthdrOp, ty: u8) -> Exthdr {
        Exthdr {
            dreg: Some(dreg),
            sreg: None,
            ty,
            offset: Some(0),
            len: Some(1),
            flags: Some(EXTHDR_F_PRESENT),
            op: Some(op),
        }
    }

    /// The operation, IPv6 when absent (as the kernel reads it).
    pub fn op(&self) -> ExthdrOp {
        self.op.unwrap_or(ExthdrOp::Ipv6)
    }

    /// Whether this tests for presence.
    pub fn is_present_test(&self) -> bool {
        self.flags.unwrap_or(0) & EXTHDR_F_PRESENT != 0
    }

    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        if let Some(r) = self.dreg {
            w.u32_be(DREG, r.0);
        }
        if let Some(r) = self.sreg {
            w.u32_be(SREG, r.0);
        }
        w.u8(TYPE, self.ty);
        if let Some(v) = self.offset {
            w.u32_be(OFFSET, v);
        }
        if let Some(v) = self.len {
            w.u32_be(LEN, v);
        }
        if let Some(v) = self.flags {
            w.u32_be(FLAGS, v);
        }
        if let Some(op) = self.op {
            w.u32_be(OP, op.code());
        }
    }

    pub(crate) fn decode(it: AttrIter<'_>) -> Result<Option<Exthdr>, DecodeError> {
        let Some(a) = collect::<8>(it)? else { return Ok(None) };
        let Some(ty) = opt(&a[TYPE as usize], |a| a.u8())? else { return Ok(None) };
        let mut x = Exthdr {
            dreg: opt(&a[DREG as usize], reg)?,
            sreg: opt(&a[SREG as usize], reg)?,
            ty,
            offset: opt(&a[OFFSET as usize], |a| a.u32_be())?,
            len: opt(&a[LEN as usize], |a| a.u32_be())?,
            flags: opt(&a[FLAGS as usize], |a| a.u32_be())?,
            op: opt(&a[OP as usize], |a| a.u32_be())?.map(ExthdrOp::from_code),
        };
        // The kernel lists every attribute, zero ones included, but
        // refuses a write carrying flags and a removal carrying offset,
        // length or flags (EINVAL): zero ones are dropped here so that a
        // listed rule can be committed again.
        let zero = |v: &mut Option<u32>| {
            if *v == Some(0) {
                *v = None;
            }
        };
        if x.sreg.is_some() && x.dreg.is_none() {
            zero(&mut x.flags);
        }
        if x.sreg.is_none() && x.dreg.is_none() {
            zero(&mut x.offset);
            zero(&mut x.len);
            zero(&mut x.flags);
        }
        Ok(Some(x))
    }
}
