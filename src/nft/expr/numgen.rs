//! `numgen`: a number, incrementing or random, modulo N (load balancing).

use super::{collect, opt, reg, req, Reg};
use crate::error::DecodeError;
use crate::wire::{AttrIter, AttrWriter};

const DREG: u16 = 1;
const MODULUS: u16 = 2;
const TYPE: u16 = 3;
const OFFSET: u16 = 4;

/// `inc` or `random`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NumgenType {
    /// `numgen inc` (`NFT_NG_INCREMENTAL`).
    Inc,
    /// `numgen random` (`NFT_NG_RANDOM`).
    Random,
}

/// `[ numgen reg DREG = random mod N offset O ]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Numgen {
    /// Destination register.
    pub dreg: Reg,
    /// inc or random.
    pub kind: NumgenType,
    /// Modulus.
    pub modulus: u32,
    /// Added to the result.
    pub offset: u32,
}

impl Numgen {
    /// nft's `typeof numgen ...` record (libnftnl set userdata): expression
    /// type 23 (numgen), then its type, modulus and offset.
    pub(crate) fn typeof_record(&self) -> Vec<u8> {
        use crate::nft::types::udata_put;
        let mut inner = Vec::new();
        udata_put(&mut inner, 0, &(self.kind as u32).to_ne_bytes());
        udata_put(&mut inner, 1, &self.modulus.to_ne_bytes());
        udata_put(&mut inner, 2, &self.offset.to_ne_bytes());
        let mut rec = Vec::new();
        udata_put(&mut rec, 0, &23u32.to_ne_bytes());
        udata_put(&mut rec, 1, &inner);
        rec
    }

    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        w.u32_be(DREG, self.dreg.0);
        w.u32_be(MODULUS, self.modulus);
        w.u32_be(TYPE, self.kind as u32);
        w.u32_be(OFFSET, self.offset);
    }

    pub(crate) fn decode(it: AttrIter<'_>) -> Result<Option<Numgen>, DecodeError> {
        let Some(a) = collect::<5>(it)? else { return Ok(None) };
        let kind = match req(&a[TYPE as usize], "numgen type", |a| a.u32_be())? {
            0 => NumgenType::Inc,
            1 => NumgenType::Random,
            _ => return Ok(None),
        };
        Ok(Some(Numgen {
            dreg: req(&a[DREG as usize], "numgen dreg", reg)?,
            kind,
            modulus: req(&a[MODULUS as usize], "numgen modulus", |a| a.u32_be())?,
            offset: opt(&a[OFFSET as usize], |a| a.u32_be())?.unwrap_or(0),
        }))
    }
}
