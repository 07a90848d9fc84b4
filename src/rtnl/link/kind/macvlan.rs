//! `macvlan` links.

use crate::error::{DecodeError, Result};
use crate::rtnl::IfIndex;
use crate::wire::{AttrIter, AttrWriter};

use crate::rtnl::link::header::ifla;

/// `IFLA_MACVLAN_MODE`.
const MACVLAN_MODE: u16 = 1;

/// How macvlan links on one lower device reach each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum MacvlanMode {
    /// `private` (1): no traffic between macvlans.
    Private,
    /// `vepa` (2): via the external switch.
    Vepa,
    /// `bridge` (4): directly, inside the kernel.
    #[default]
    Bridge,
    /// `passthru` (8): one macvlan takes over the device.
    Passthru,
    /// `source` (16): by source MAC allow-list.
    Source,
    /// Any other value.
    Unknown(u32),
}

impl MacvlanMode {
    /// The raw value.
    pub fn to_raw(self) -> u32 {
        match self {
            MacvlanMode::Private => 1,
            MacvlanMode::Vepa => 2,
            MacvlanMode::Bridge => 4,
            MacvlanMode::Passthru => 8,
            MacvlanMode::Source => 16,
            MacvlanMode::Unknown(v) => v,
        }
    }
    /// The name `ip -d link` prints (`private`, `vepa`, `bridge`,
    /// `passthru`, `source`), or the number.
    pub fn name(self) -> String {
        match self {
            MacvlanMode::Private => "private".into(),
            MacvlanMode::Vepa => "vepa".into(),
            MacvlanMode::Bridge => "bridge".into(),
            MacvlanMode::Passthru => "passthru".into(),
            MacvlanMode::Source => "source".into(),
            MacvlanMode::Unknown(v) => v.to_string(),
        }
    }
    /// From the raw value.
    pub fn from_raw(v: u32) -> MacvlanMode {
        match v {
            1 => MacvlanMode::Private,
            2 => MacvlanMode::Vepa,
            4 => MacvlanMode::Bridge,
            8 => MacvlanMode::Passthru,
            16 => MacvlanMode::Source,
            v => MacvlanMode::Unknown(v),
        }
    }
}

/// A `macvlan` link on top of `link` (`ip link add link LOWER NAME type
/// macvlan mode MODE`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Macvlan {
    /// The lower device (`IFLA_LINK`). On a listed link this is 0 when the
    /// lower device is in another namespace and not reported.
    pub link: IfIndex,
    /// The mode; `None` leaves the kernel's default (`vepa`).
    pub mode: Option<MacvlanMode>,
}

impl Macvlan {
    /// A macvlan on `link` in `mode`.
    pub fn new(link: IfIndex, mode: MacvlanMode) -> Macvlan {
        Macvlan { link, mode: Some(mode) }
    }
    /// The same settings as a `macvtap` link (`type macvtap mode MODE`).
    pub fn tap(self) -> super::LinkKind {
        super::LinkKind::Macvtap(self)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        crate::rtnl::link::validate_lower("macvlan.link", self.link)
    }

    pub(crate) fn write_data(&self, w: &mut AttrWriter<'_>) {
        if let Some(m) = self.mode {
            w.nest(ifla::INFO_DATA, |w| {
                w.u32(MACVLAN_MODE, m.to_raw());
            });
        }
    }

    pub(crate) fn decode(data: &[u8]) -> Result<Macvlan, DecodeError> {
        let mut m = Macvlan { link: IfIndex(0), mode: None };
        for a in AttrIter::new(data) {
            let a = a?;
            if a.kind() == MACVLAN_MODE {
                m.mode = Some(MacvlanMode::from_raw(a.u32()?));
            }
        }
        Ok(m)
    }
}
