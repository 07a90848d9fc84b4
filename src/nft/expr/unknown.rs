//! An expression netplumb does not model, kept byte for byte.

use crate::error::DecodeError;
use crate::nft::consts::*;
use crate::wire::{Attr, AttrWriter};

/// An expression kept opaque: its name and the exact bytes of its list
/// element, re-encoded unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unknown {
    /// The kernel's name for it (`"exthdr"`, `"tproxy"`, ...).
    pub name: String,
    /// The type field of the list element as received (with or without
    /// `NLA_F_NESTED`).
    pub raw_type: u16,
    /// The payload of the `NFTA_LIST_ELEM` attribute, as received.
    pub raw: Vec<u8>,
}

impl Unknown {
    /// Keep the list element `elem` as it is.
    pub fn from_elem(elem: &Attr<'_>) -> Result<Unknown, DecodeError> {
        let mut name = String::new();
        for a in elem.nested() {
            let a = a?;
            if a.kind() == NFTA_EXPR_NAME {
                name = a.str()?.to_string();
            }
        }
        Ok(Unknown { name, raw_type: elem.raw_type, raw: elem.payload.to_vec() })
    }

    /// The attributes inside its `NFTA_EXPR_DATA`, for inspection.
    pub fn data(&self) -> Option<Vec<u8>> {
        crate::wire::AttrIter::new(&self.raw)
            .flatten()
            .find(|a| a.kind() == NFTA_EXPR_DATA)
            .map(|a| a.payload.to_vec())
    }

    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        // Byte for byte: the attribute's length is the raw payload's (a
        // nest would pad it).
        w.bytes(self.raw_type, &self.raw);
    }
}
