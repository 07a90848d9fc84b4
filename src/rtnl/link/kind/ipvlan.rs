//! `ipvlan` links.

use crate::error::{DecodeError, Result};
use crate::rtnl::IfIndex;
use crate::wire::{AttrIter, AttrWriter};

use crate::rtnl::link::header::ifla;

/// `IFLA_IPVLAN_MODE`.
const IPVLAN_MODE: u16 = 1;
/// `IFLA_IPVLAN_FLAGS`.
const IPVLAN_FLAGS: u16 = 2;

/// Where an ipvlan switches packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum IpvlanMode {
    /// `l2` (0).
    #[default]
    L2,
    /// `l3` (1).
    L3,
    /// `l3s` (2).
    L3s,
    /// Any other value.
    Unknown(u16),
}

impl IpvlanMode {
    /// The raw value.
    pub fn to_raw(self) -> u16 {
        match self {
            IpvlanMode::L2 => 0,
            IpvlanMode::L3 => 1,
            IpvlanMode::L3s => 2,
            IpvlanMode::Unknown(v) => v,
        }
    }
    /// From the raw value.
    pub fn from_raw(v: u16) -> IpvlanMode {
        match v {
            0 => IpvlanMode::L2,
            1 => IpvlanMode::L3,
            2 => IpvlanMode::L3s,
            v => IpvlanMode::Unknown(v),
        }
    }
}

/// How ipvlans on one lower device reach each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum IpvlanFlags {
    /// `bridge` (0).
    #[default]
    Bridge,
    /// `private` (1).
    Private,
    /// `vepa` (2).
    Vepa,
    /// Any other value.
    Unknown(u16),
}

impl IpvlanFlags {
    /// The raw value.
    pub fn to_raw(self) -> u16 {
        match self {
            IpvlanFlags::Bridge => 0,
            IpvlanFlags::Private => 1,
            IpvlanFlags::Vepa => 2,
            IpvlanFlags::Unknown(v) => v,
        }
    }
    /// From the raw value.
    pub fn from_raw(v: u16) -> IpvlanFlags {
        match v {
            0 => IpvlanFlags::Bridge,
            1 => IpvlanFlags::Private,
            2 => IpvlanFlags::Vepa,
            v => IpvlanFlags::Unknown(v),
        }
    }
}

/// An `ipvlan` link on top of `link` (`ip link add link LOWER NAME type
/// ipvlan mode l2|l3|l3s [bridge|private|vepa]`). Some kernels are built
/// without it ("Unknown device type").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipvlan {
    /// The lower device (`IFLA_LINK`).
    pub link: IfIndex,
    /// The mode.
    pub mode: IpvlanMode,
    /// Bridge, private or VEPA.
    pub flags: IpvlanFlags,
}

impl Ipvlan {
    /// An ipvlan on `link` in `mode`, bridge flavour.
    pub fn new(link: IfIndex, mode: IpvlanMode) -> Ipvlan {
        Ipvlan { link, mode, flags: IpvlanFlags::Bridge }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        crate::rtnl::link::validate_lower("ipvlan.link", self.link)
    }

    /// As `ip` writes it: mode then flags, both `u16`.
    pub(crate) fn write_data(&self, w: &mut AttrWriter<'_>) {
        w.nest(ifla::INFO_DATA, |w| {
            w.u16(IPVLAN_MODE, self.mode.to_raw());
            w.u16(IPVLAN_FLAGS, self.flags.to_raw());
        });
    }

    pub(crate) fn decode(data: &[u8]) -> Result<Ipvlan, DecodeError> {
        let mut i = Ipvlan::new(IfIndex(0), IpvlanMode::L2);
        for a in AttrIter::new(data) {
            let a = a?;
            match a.kind() {
                IPVLAN_MODE => i.mode = IpvlanMode::from_raw(a.u16()?),
                IPVLAN_FLAGS => i.flags = IpvlanFlags::from_raw(a.u16()?),
                _ => {}
            }
        }
        Ok(i)
    }
}
