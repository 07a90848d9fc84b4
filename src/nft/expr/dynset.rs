//! `dynset`: add or update an element of a set from the packet path.

use super::{collect, opt, reg, req, Expr, Reg};
use crate::error::DecodeError;
use crate::wire::{AttrIter, AttrWriter, NLA_F_NESTED};

const SET_NAME: u16 = 1;
const SET_ID: u16 = 2;
const OP: u16 = 3;
const SREG_KEY: u16 = 4;
const SREG_DATA: u16 = 5;
const TIMEOUT: u16 = 6;
const EXPR: u16 = 7;
const FLAGS: u16 = 9;
const EXPRESSIONS: u16 = 10;

/// `add`, `update` or `delete`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DynsetOp {
    /// `add @set { key }` (`NFT_DYNSET_OP_ADD`).
    Add,
    /// `update @set { key }`: add, or refresh the timeout.
    Update,
    /// `delete @set { key }`.
    Delete,
}

/// `[ dynset update reg_key 1 set NAME timeout 0ms ]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dynset {
    /// The set.
    pub set: String,
    /// Its transaction id when created in the same batch.
    pub set_id: Option<u32>,
    /// What to do.
    pub op: DynsetOp,
    /// Where the key starts.
    pub sreg_key: Reg,
    /// Where the data starts (maps).
    pub sreg_data: Option<Reg>,
    /// Element timeout in milliseconds (`None`: the set's default).
    pub timeout_ms: Option<u64>,
    /// Per-element expression (`counter`, `limit`), kernel ≥ 5.11 form.
    pub exprs: Vec<Expr>,
    /// `NFT_DYNSET_F_INV`.
    pub invert: bool,
}

impl Dynset {
    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        w.u32_be(SREG_KEY, self.sreg_key.0);
        if let Some(r) = self.sreg_data {
            w.u32_be(SREG_DATA, r.0);
        }
        w.u32_be(OP, self.op as u32);
        w.str(SET_NAME, &self.set);
        if let Some(id) = self.set_id {
            w.u32_be(SET_ID, id);
        }
        if let Some(t) = self.timeout_ms {
            w.u64_be(TIMEOUT, t);
        }
        if self.invert {
            w.u32_be(FLAGS, 1);
        }
        match self.exprs.len() {
            0 => {}
            1 => w.nest(EXPR | NLA_F_NESTED, |w| {
                // A single expression goes in NFTA_DYNSET_EXPR, unwrapped.
                let mut tmp = Vec::new();
                self.exprs[0].encode(&mut AttrWriter::new(&mut tmp));
                if let Some(Ok(a)) = AttrIter::new(&tmp).next() {
                    w.raw(a.payload);
                }
            }),
            _ => super::encode_list(w, EXPRESSIONS, &self.exprs),
        }
    }

    pub(crate) fn decode(it: AttrIter<'_>) -> Result<Option<Dynset>, DecodeError> {
        let Some(a) = collect::<11>(it)? else { return Ok(None) };
        let op = match req(&a[OP as usize], "dynset op", |a| a.u32_be())? {
            0 => DynsetOp::Add,
            1 => DynsetOp::Update,
            2 => DynsetOp::Delete,
            _ => return Ok(None),
        };
        let flags = opt(&a[FLAGS as usize], |a| a.u32_be())?.unwrap_or(0);
        if flags & !1 != 0 {
            return Ok(None);
        }
        let mut exprs = Vec::new();
        if let Some(e) = &a[EXPR as usize] {
            exprs.push(Expr::decode(e)?);
        }
        if let Some(l) = &a[EXPRESSIONS as usize] {
            exprs.extend(super::decode_list(l)?);
        }
        Ok(Some(Dynset {
            set: req(&a[SET_NAME as usize], "dynset set", |a| a.str())?.to_string(),
            set_id: opt(&a[SET_ID as usize], |a| a.u32_be())?,
            op,
            sreg_key: req(&a[SREG_KEY as usize], "dynset sreg_key", reg)?,
            sreg_data: opt(&a[SREG_DATA as usize], reg)?,
            timeout_ms: opt(&a[TIMEOUT as usize], |a| a.u64_be())?.filter(|&t| t != 0),
            exprs,
            invert: flags & 1 != 0,
        }))
    }
}
