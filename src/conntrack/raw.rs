//! Attributes netplumb does not model, kept so they can be inspected and
//! written back. Below the flow, tuple and statistics codecs, which all
//! keep them.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::{Deref, DerefMut};

use crate::wire::{Attr, AttrWriter};

/// An attribute netplumb does not model, kept as the kernel sent it so it
/// can be inspected and written back.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UnknownAttr {
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

impl UnknownAttr {
    pub(crate) fn new(parent: u16, a: &Attr<'_>) -> UnknownAttr {
        UnknownAttr { parent, raw_type: a.raw_type, payload: a.payload.to_vec() }
    }
}

/// The unknown attributes of a [`Flow`](super::Flow), a
/// [`Tuple`](super::Tuple) or protocol information: a vector that takes
/// one pointer (8 bytes, not 24) while empty, as it almost always is, so
/// the values that hold it stay small.
///
/// Use it as a `Vec<UnknownAttr>`: it dereferences to one (reading an
/// empty one allocates nothing; the first change allocates it).
/// Comparison and hashing look at the attributes only, so an empty value
/// equals a never-allocated one. Build one from a `Vec` with `.into()`.
#[derive(Clone, Default)]
// The box is the point: 8 bytes in the value that holds it, not a Vec's 24.
#[allow(clippy::box_collection)]
pub struct UnknownAttrs(Option<Box<Vec<UnknownAttr>>>);

/// What an empty [`UnknownAttrs`] reads as.
static NO_ATTRS: Vec<UnknownAttr> = Vec::new();

impl UnknownAttrs {
    /// An empty list (allocates nothing).
    #[inline]
    pub const fn new() -> UnknownAttrs {
        UnknownAttrs(None)
    }
}

impl Deref for UnknownAttrs {
    type Target = Vec<UnknownAttr>;

    #[inline]
    fn deref(&self) -> &Vec<UnknownAttr> {
        self.0.as_deref().unwrap_or(&NO_ATTRS)
    }
}

impl DerefMut for UnknownAttrs {
    /// Allocates the list on first use.
    #[inline]
    fn deref_mut(&mut self) -> &mut Vec<UnknownAttr> {
        self.0.get_or_insert_with(Box::default)
    }
}

impl From<Vec<UnknownAttr>> for UnknownAttrs {
    fn from(v: Vec<UnknownAttr>) -> UnknownAttrs {
        UnknownAttrs(if v.is_empty() { None } else { Some(Box::new(v)) })
    }
}

impl FromIterator<UnknownAttr> for UnknownAttrs {
    fn from_iter<I: IntoIterator<Item = UnknownAttr>>(iter: I) -> UnknownAttrs {
        iter.into_iter().collect::<Vec<_>>().into()
    }
}

impl<'a> IntoIterator for &'a UnknownAttrs {
    type Item = &'a UnknownAttr;
    type IntoIter = std::slice::Iter<'a, UnknownAttr>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl fmt::Debug for UnknownAttrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for UnknownAttrs {
    fn eq(&self, other: &UnknownAttrs) -> bool {
        **self == **other
    }
}

impl Eq for UnknownAttrs {}

impl Hash for UnknownAttrs {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

/// Write back the unknown attributes that were found in nest `parent`.
pub(crate) fn write_unknown(w: &mut AttrWriter<'_>, unknown: &[UnknownAttr], parent: u16) {
    for u in unknown.iter().filter(|u| u.parent == parent) {
        w.bytes(u.raw_type, &u.payload);
    }
}
