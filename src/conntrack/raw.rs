//! Attributes netplumb does not model, kept so they can be inspected and
//! written back. Below the flow, tuple and statistics codecs, which all
//! keep them.

use crate::wire::{Attr, AttrWriter};

/// An attribute netplumb does not model, kept as the kernel sent it so it
/// can be inspected and written back.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RawAttr {
    /// The type of the nest it was found in, relative to the structure
    /// that holds it (0: directly in that structure's own attributes; for a
    /// [`Tuple`](super::Tuple), `CTA_TUPLE_IP` = 1 or `CTA_TUPLE_PROTO` = 2 for those
    /// nests).
    pub parent: u16,
    /// The attribute's type field as sent, flag bits included.
    pub raw_type: u16,
    /// The payload.
    pub payload: Vec<u8>,
}

impl RawAttr {
    pub(crate) fn new(parent: u16, a: &Attr<'_>) -> RawAttr {
        RawAttr { parent, raw_type: a.raw_type, payload: a.payload.to_vec() }
    }
}

/// Write back the unknown attributes that were found in nest `parent`.
pub(crate) fn write_unknown(w: &mut AttrWriter<'_>, unknown: &[RawAttr], parent: u16) {
    for u in unknown.iter().filter(|u| u.parent == parent) {
        w.bytes(u.raw_type, &u.payload);
    }
}
