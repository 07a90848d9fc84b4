//! `hash`: jhash of registers, or symmetric hash of the flow.

use super::{collect, opt, reg, req, Reg};
use crate::error::DecodeError;
use crate::wire::{AttrIter, AttrWriter};

const SREG: u16 = 1;
const DREG: u16 = 2;
const LEN: u16 = 3;
const MODULUS: u16 = 4;
const SEED: u16 = 5;
const OFFSET: u16 = 6;
const TYPE: u16 = 7;

/// `jhash` or `symhash`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashType {
    /// `jhash EXPR mod N seed S` (`NFT_HASH_JENKINS`).
    Jenkins,
    /// `symhash mod N` (`NFT_HASH_SYM`).
    Sym,
}

/// `[ hash reg DREG = jhash(reg SREG, LEN, SEED) % MOD ]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hash {
    /// jhash or symhash.
    pub kind: HashType,
    /// Source register (jhash only).
    pub sreg: Option<Reg>,
    /// Destination register.
    pub dreg: Reg,
    /// Bytes hashed (jhash only).
    pub len: Option<u32>,
    /// Modulus.
    pub modulus: u32,
    /// Seed (jhash only; `None` when absent).
    pub seed: Option<u32>,
    /// Added to the result.
    pub offset: u32,
}

impl Hash {
    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        if let Some(r) = self.sreg {
            w.u32_be(SREG, r.0);
        }
        w.u32_be(DREG, self.dreg.0);
        if let Some(l) = self.len {
            w.u32_be(LEN, l);
        }
        w.u32_be(MODULUS, self.modulus);
        if let Some(s) = self.seed {
            w.u32_be(SEED, s);
        }
        w.u32_be(OFFSET, self.offset);
        w.u32_be(TYPE, self.kind as u32);
    }

    pub(crate) fn decode(it: AttrIter<'_>) -> Result<Option<Hash>, DecodeError> {
        let Some(a) = collect::<8>(it)? else { return Ok(None) };
        let kind = match opt(&a[TYPE as usize], |a| a.u32_be())?.unwrap_or(0) {
            0 => HashType::Jenkins,
            1 => HashType::Sym,
            _ => return Ok(None),
        };
        Ok(Some(Hash {
            kind,
            sreg: opt(&a[SREG as usize], reg)?,
            dreg: req(&a[DREG as usize], "hash dreg", reg)?,
            len: opt(&a[LEN as usize], |a| a.u32_be())?,
            modulus: req(&a[MODULUS as usize], "hash modulus", |a| a.u32_be())?,
            seed: opt(&a[SEED as usize], |a| a.u32_be())?,
            offset: opt(&a[OFFSET as usize], |a| a.u32_be())?.unwrap_or(0),
        }))
    }
}
