//! `vrf` links.

use crate::error::{DecodeError, Error, Result};
use crate::rtnl::link::message::ifla;
use crate::wire::{AttrIter, AttrWriter};

/// `IFLA_VRF_TABLE`.
const VRF_TABLE: u16 = 1;

/// A `vrf` link: an L3 domain whose ports route through its own table
/// (`ip link add NAME type vrf table T`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Vrf {
    /// The routing table of the VRF (`table T`).
    pub table: u32,
}

impl Vrf {
    /// A VRF routing through `table`.
    pub fn new(table: u32) -> Vrf {
        Vrf { table }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.table == 0 || (253..=255).contains(&self.table) {
            return Err(Error::invalid(
                "vrf.table",
                format!("{} is not a table a VRF may own (not 0, default, main or local)", self.table),
            ));
        }
        Ok(())
    }

    pub(crate) fn write_data(&self, w: &mut AttrWriter<'_>) {
        w.nest(ifla::INFO_DATA, |w| {
            w.u32(VRF_TABLE, self.table);
        });
    }

    pub(crate) fn decode(data: &[u8]) -> Result<Vrf, DecodeError> {
        let mut v = Vrf::default();
        for a in AttrIter::new(data) {
            let a = a?;
            if a.kind() == VRF_TABLE {
                v.table = a.u32()?;
            }
        }
        Ok(v)
    }
}
