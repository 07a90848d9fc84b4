//! `vlan` links.

use crate::error::{DecodeError, Error, Result};
use crate::rtnl::IfIndex;
use crate::wire::{AttrIter, AttrWriter};

use crate::rtnl::link::header::ifla;

/// `IFLA_VLAN_ID`.
const VLAN_ID: u16 = 1;
/// `IFLA_VLAN_PROTOCOL`.
const VLAN_PROTOCOL: u16 = 5;

/// The VLAN tag protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VlanProtocol {
    /// 802.1Q (0x8100).
    Dot1Q,
    /// 802.1ad (0x88a8), "QinQ".
    Dot1Ad,
    /// Any other EtherType.
    Unknown(u16),
}

impl VlanProtocol {
    /// The EtherType.
    pub fn to_raw(self) -> u16 {
        match self {
            VlanProtocol::Dot1Q => 0x8100,
            VlanProtocol::Dot1Ad => 0x88a8,
            VlanProtocol::Unknown(v) => v,
        }
    }
    /// From the EtherType.
    pub fn from_raw(v: u16) -> VlanProtocol {
        match v {
            0x8100 => VlanProtocol::Dot1Q,
            0x88a8 => VlanProtocol::Dot1Ad,
            v => VlanProtocol::Unknown(v),
        }
    }
}

/// A `vlan` link on top of `link` (`ip link add link LOWER name NAME type
/// vlan id ID [protocol 802.1ad]`). Some kernels are built without it
/// ("Unknown device type").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vlan {
    /// The lower device (`IFLA_LINK`).
    pub link: IfIndex,
    /// The VLAN id, 1 to 4094 (0 is accepted by the kernel as priority
    /// tagging).
    pub id: u16,
    /// The tag protocol; `None` leaves 802.1Q.
    pub protocol: Option<VlanProtocol>,
}

impl Vlan {
    /// VLAN `id` on `link`.
    pub fn new(link: IfIndex, id: u16) -> Vlan {
        Vlan { link, id, protocol: None }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        crate::rtnl::link::validate_lower("vlan.link", self.link)?;
        if self.id > 4094 {
            return Err(Error::invalid("vlan.id", format!("{} is not in 0..=4094", self.id)));
        }
        Ok(())
    }

    pub(crate) fn write_data(&self, w: &mut AttrWriter<'_>) {
        w.nest(ifla::INFO_DATA, |w| {
            w.u16(VLAN_ID, self.id);
            if let Some(p) = self.protocol {
                w.u16_be(VLAN_PROTOCOL, p.to_raw());
            }
        });
    }

    pub(crate) fn decode(data: &[u8]) -> Result<Vlan, DecodeError> {
        let mut v = Vlan::new(IfIndex(0), 0);
        for a in AttrIter::new(data) {
            let a = a?;
            match a.kind() {
                VLAN_ID => v.id = a.u16()?,
                VLAN_PROTOCOL => v.protocol = Some(VlanProtocol::from_raw(a.u16_be()?)),
                _ => {}
            }
        }
        Ok(v)
    }
}
