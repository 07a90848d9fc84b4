//! `objref`: use a named object (`counter name "x"`, `quota name "q"`).

use super::{collect, opt, reg, Reg};
use crate::error::DecodeError;
use crate::wire::{AttrIter, AttrWriter};

const IMM_TYPE: u16 = 1;
const IMM_NAME: u16 = 2;
const SET_SREG: u16 = 3;
const SET_NAME: u16 = 4;
const SET_ID: u16 = 5;

/// `[ objref type 1 name x ]`, or a map lookup selecting the object
/// (`counter name ip saddr map @m`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Objref {
    /// A named object of type `kind` (`NFT_OBJECT_*`).
    Named {
        /// Object type (1 counter, 2 quota, 3 ct helper, 4 limit, ...).
        kind: u32,
        /// Object name.
        name: String,
    },
    /// The object an object map maps the key in `sreg` to.
    Map {
        /// Key register.
        sreg: Reg,
        /// The map.
        set: String,
        /// Its transaction id.
        set_id: Option<u32>,
    },
}

impl Objref {
    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        match self {
            Objref::Named { kind, name } => {
                w.u32_be(IMM_TYPE, *kind);
                w.str(IMM_NAME, name);
            }
            Objref::Map { sreg, set, set_id } => {
                w.u32_be(SET_SREG, sreg.0);
                w.str(SET_NAME, set);
                if let Some(id) = set_id {
                    w.u32_be(SET_ID, *id);
                }
            }
        }
    }

    pub(crate) fn decode(it: AttrIter<'_>) -> Result<Option<Objref>, DecodeError> {
        let Some(a) = collect::<6>(it)? else { return Ok(None) };
        if let (Some(t), Some(n)) = (&a[IMM_TYPE as usize], &a[IMM_NAME as usize]) {
            return Ok(Some(Objref::Named { kind: t.u32_be()?, name: n.str()?.to_string() }));
        }
        if let (Some(r), Some(s)) = (&a[SET_SREG as usize], &a[SET_NAME as usize]) {
            return Ok(Some(Objref::Map {
                sreg: reg(r)?,
                set: s.str()?.to_string(),
                set_id: opt(&a[SET_ID as usize], |a| a.u32_be())?,
            }));
        }
        Ok(None)
    }
}
