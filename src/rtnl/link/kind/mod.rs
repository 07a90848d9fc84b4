//! Link kinds: what `ip link add ... type KIND ...` configures, and what
//! `ip -d link` shows back. Each kind's settings encode to and decode from
//! `IFLA_INFO_DATA`; a kind netplumb does not model keeps its raw bytes.

mod bond;
mod bridge;
mod dummy;
mod geneve;
mod ifb;
mod ipvlan;
mod macvlan;
pub(crate) mod veth;
mod vlan;
mod vrf;
mod vxlan;
mod wireguard;

pub use bond::{Bond, BondMode};
pub use bridge::{Bridge, BridgePort, PortState};
pub use dummy::Dummy;
pub use geneve::Geneve;
pub use ifb::Ifb;
pub use ipvlan::{Ipvlan, IpvlanFlags, IpvlanMode};
pub use macvlan::{Macvlan, MacvlanMode};
pub use veth::{Veth, VethPeer};
pub use vlan::{Vlan, VlanProtocol};
pub use vrf::Vrf;
pub use vxlan::{Vxlan, VxlanDf};
pub use wireguard::Wireguard;

use crate::error::{DecodeError, Result};
use crate::rtnl::IfIndex;
use crate::wire::AttrWriter;

use super::header::ifla;

/// The kind of a link and its kind-specific settings.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkKind {
    /// `veth`: a pair of connected links.
    Veth(Veth),
    /// `bridge`.
    Bridge(Bridge),
    /// `vxlan`.
    Vxlan(Vxlan),
    /// `macvlan`.
    Macvlan(Macvlan),
    /// `macvtap`: a macvlan with a tap character device; same settings
    /// (`ip link add link LOWER NAME type macvtap mode bridge`).
    Macvtap(Macvlan),
    /// `ipvlan`.
    Ipvlan(Ipvlan),
    /// `vlan` (802.1Q/802.1ad).
    Vlan(Vlan),
    /// `dummy`.
    Dummy(Dummy),
    /// `ifb`.
    Ifb(Ifb),
    /// `vrf`.
    Vrf(Vrf),
    /// `bond`.
    Bond(Bond),
    /// `geneve`.
    Geneve(Geneve),
    /// `wireguard`.
    Wireguard(Wireguard),
    /// A kind netplumb does not model, with its raw `IFLA_INFO_DATA`.
    Other {
        /// `IFLA_INFO_KIND`, e.g. `"wireguard"`.
        kind: String,
        /// `IFLA_INFO_DATA` as the kernel sent it.
        data: Option<Vec<u8>>,
    },
}

impl LinkKind {
    /// The kind's name as `ip` spells it (`"veth"`, `"bridge"`, ...).
    pub fn name(&self) -> &str {
        match self {
            LinkKind::Veth(_) => "veth",
            LinkKind::Bridge(_) => "bridge",
            LinkKind::Vxlan(_) => "vxlan",
            LinkKind::Macvlan(_) => "macvlan",
            LinkKind::Macvtap(_) => "macvtap",
            LinkKind::Ipvlan(_) => "ipvlan",
            LinkKind::Vlan(_) => "vlan",
            LinkKind::Dummy(_) => "dummy",
            LinkKind::Ifb(_) => "ifb",
            LinkKind::Vrf(_) => "vrf",
            LinkKind::Bond(_) => "bond",
            LinkKind::Geneve(_) => "geneve",
            LinkKind::Wireguard(_) => "wireguard",
            LinkKind::Other { kind, .. } => kind,
        }
    }

    /// The lower device the kind needs in `IFLA_LINK` (macvlan, ipvlan,
    /// vlan).
    pub(crate) fn lower(&self) -> Option<IfIndex> {
        match self {
            LinkKind::Macvlan(m) | LinkKind::Macvtap(m) => Some(m.link),
            LinkKind::Ipvlan(i) => Some(i.link),
            LinkKind::Vlan(v) => Some(v.link),
            _ => None,
        }
    }

    /// Check the settings before anything is sent.
    pub(crate) fn validate(&self) -> Result<()> {
        match self {
            LinkKind::Veth(v) => v.validate(),
            LinkKind::Bridge(b) => b.validate(),
            LinkKind::Vxlan(v) => v.validate(),
            LinkKind::Vlan(v) => v.validate(),
            LinkKind::Macvlan(m) | LinkKind::Macvtap(m) => m.validate(),
            LinkKind::Ipvlan(i) => i.validate(),
            LinkKind::Vrf(v) => v.validate(),
            LinkKind::Geneve(g) => g.validate(),
            LinkKind::Dummy(_)
            | LinkKind::Ifb(_)
            | LinkKind::Bond(_)
            | LinkKind::Wireguard(_)
            | LinkKind::Other { .. } => Ok(()),
        }
    }

    /// Write `IFLA_INFO_DATA` (nothing for kinds without settings).
    pub(crate) fn write_data(&self, w: &mut AttrWriter<'_>) {
        match self {
            LinkKind::Veth(v) => v.write_data(w),
            LinkKind::Bridge(b) => b.write_data(w),
            LinkKind::Vxlan(v) => v.write_data(w),
            LinkKind::Macvlan(m) | LinkKind::Macvtap(m) => m.write_data(w),
            LinkKind::Ipvlan(i) => i.write_data(w),
            LinkKind::Vlan(v) => v.write_data(w),
            LinkKind::Vrf(v) => v.write_data(w),
            LinkKind::Bond(b) => b.write_data(w),
            LinkKind::Geneve(g) => g.write_data(w),
            LinkKind::Dummy(_) | LinkKind::Ifb(_) | LinkKind::Wireguard(_) => {}
            LinkKind::Other { data, .. } => {
                if let Some(d) = data {
                    w.bytes(ifla::INFO_DATA, d);
                }
            }
        }
    }

    /// Decode from `IFLA_INFO_KIND` and `IFLA_INFO_DATA`.
    pub fn decode(kind: &str, data: Option<&[u8]>) -> Result<LinkKind, DecodeError> {
        let d = data.unwrap_or(&[]);
        Ok(match kind {
            "veth" => LinkKind::Veth(Veth::decode(d)?),
            "bridge" => LinkKind::Bridge(Bridge::decode(d)?),
            "vxlan" => LinkKind::Vxlan(Vxlan::decode(d)?),
            "macvlan" => LinkKind::Macvlan(Macvlan::decode(d)?),
            "macvtap" => LinkKind::Macvtap(Macvlan::decode(d)?),
            "ipvlan" => LinkKind::Ipvlan(Ipvlan::decode(d)?),
            "vlan" => LinkKind::Vlan(Vlan::decode(d)?),
            "dummy" => LinkKind::Dummy(Dummy),
            "ifb" if data.is_none() => LinkKind::Ifb(Ifb),
            "vrf" => LinkKind::Vrf(Vrf::decode(d)?),
            "bond" => LinkKind::Bond(Bond::decode(d)?),
            "geneve" => LinkKind::Geneve(Geneve::decode(d)?),
            "wireguard" => LinkKind::Wireguard(Wireguard),
            other => LinkKind::Other { kind: other.to_string(), data: data.map(<[u8]>::to_vec) },
        })
    }
}

macro_rules! into_kind {
    ($($t:ident),*) => {$(
        impl From<$t> for LinkKind {
            fn from(v: $t) -> LinkKind {
                LinkKind::$t(v)
            }
        }
    )*};
}
into_kind!(Veth, Bridge, Vxlan, Macvlan, Ipvlan, Vlan, Dummy, Ifb, Vrf, Bond, Geneve, Wireguard);

/// What a link is a port of (`IFLA_INFO_SLAVE_KIND`/`_DATA`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PortInfo {
    /// A bridge port, with its settings.
    Bridge(BridgePort),
    /// A port of another kind of master, with its raw settings.
    Other {
        /// `IFLA_INFO_SLAVE_KIND`, e.g. `"bond"`.
        kind: String,
        /// `IFLA_INFO_SLAVE_DATA` as the kernel sent it.
        data: Option<Vec<u8>>,
    },
}

/// Read a boolean carried as a `u8`.
pub(crate) fn flag_u8(a: &crate::wire::Attr<'_>) -> Result<bool, DecodeError> {
    Ok(a.u8()? != 0)
}
