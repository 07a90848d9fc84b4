//! `notrack`: do not track this packet's connection.

use super::collect;
use crate::error::DecodeError;
use crate::wire::{AttrIter, AttrWriter};

/// `[ notrack ]`: no attributes.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Notrack;

impl Notrack {
    pub(crate) fn encode(&self, _w: &mut AttrWriter<'_>) {}

    pub(crate) fn decode(it: AttrIter<'_>) -> Result<Option<Notrack>, DecodeError> {
        Ok(collect::<1>(it)?.map(|_| Notrack))
    }
}
