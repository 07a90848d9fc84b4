//! `bridge` links and bridge port settings.

use std::time::Duration;

use crate::error::{DecodeError, Error, Result};
use crate::wire::{AttrIter, AttrWriter};

use super::flag_u8;
use crate::rtnl::link::header::ifla;

/// `IFLA_BR_*`.
mod br {
    pub const FORWARD_DELAY: u16 = 1;
    pub const HELLO_TIME: u16 = 2;
    pub const MAX_AGE: u16 = 3;
    pub const AGEING_TIME: u16 = 4;
    pub const STP_STATE: u16 = 5;
    pub const PRIORITY: u16 = 6;
    pub const VLAN_FILTERING: u16 = 7;
    pub const VLAN_DEFAULT_PVID: u16 = 39;
}

/// `IFLA_BRPORT_*`.
mod brport {
    pub const STATE: u16 = 1;
    pub const PRIORITY: u16 = 2;
    pub const COST: u16 = 3;
    pub const MODE: u16 = 4;
    pub const GUARD: u16 = 5;
    pub const LEARNING: u16 = 8;
    pub const UNICAST_FLOOD: u16 = 9;
    pub const PROXYARP: u16 = 10;
    pub const MCAST_FLOOD: u16 = 27;
    pub const BCAST_FLOOD: u16 = 30;
    pub const NEIGH_SUPPRESS: u16 = 32;
    pub const ISOLATED: u16 = 33;
}

/// Centiseconds (`clock_t` at `USER_HZ` = 100), the unit the kernel uses
/// for bridge timers on the wire.
fn to_cs(d: Duration) -> u32 {
    (d.as_millis() / 10).min(u32::MAX as u128) as u32
}

fn from_cs(v: u32) -> Duration {
    Duration::from_millis(v as u64 * 10)
}

/// A `bridge` (`ip link add NAME type bridge ...`). `None` fields are left
/// to the kernel's defaults; a listed bridge has them all filled in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bridge {
    /// Spanning tree on or off (`stp_state`).
    pub stp: Option<bool>,
    /// `forward_delay` (sent in centiseconds).
    pub forward_delay: Option<Duration>,
    /// `hello_time`.
    pub hello_time: Option<Duration>,
    /// `max_age`.
    pub max_age: Option<Duration>,
    /// `ageing_time` of learned FDB entries.
    pub ageing_time: Option<Duration>,
    /// Bridge priority (`priority`).
    pub priority: Option<u16>,
    /// VLAN filtering (`vlan_filtering`), settable at creation.
    pub vlan_filtering: Option<bool>,
    /// Default PVID of new ports (`vlan_default_pvid`).
    pub vlan_default_pvid: Option<u16>,
}

impl Bridge {
    /// A bridge with the kernel's defaults.
    pub fn new() -> Bridge {
        Bridge::default()
    }
    /// Turn spanning tree on or off.
    pub fn stp(mut self, on: bool) -> Self {
        self.stp = Some(on);
        self
    }
    /// Set the forward delay (whole centiseconds; 2 to 30 s with STP on).
    pub fn forward_delay(mut self, d: Duration) -> Self {
        self.forward_delay = Some(d);
        self
    }
    /// Set the STP hello time (`hello_time`, whole centiseconds; 1 to
    /// 10 s).
    pub fn hello_time(mut self, d: Duration) -> Self {
        self.hello_time = Some(d);
        self
    }
    /// Set the STP maximum message age (`max_age`, 6 to 40 s).
    pub fn max_age(mut self, d: Duration) -> Self {
        self.max_age = Some(d);
        self
    }
    /// Set the FDB ageing time (`ageing_time`).
    pub fn ageing_time(mut self, d: Duration) -> Self {
        self.ageing_time = Some(d);
        self
    }
    /// Set the bridge priority.
    pub fn priority(mut self, p: u16) -> Self {
        self.priority = Some(p);
        self
    }
    /// Turn VLAN filtering on or off.
    pub fn vlan_filtering(mut self, on: bool) -> Self {
        self.vlan_filtering = Some(on);
        self
    }
    /// Set the default PVID of new ports.
    pub fn vlan_default_pvid(mut self, pvid: u16) -> Self {
        self.vlan_default_pvid = Some(pvid);
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if let Some(p) = self.vlan_default_pvid {
            if p > 4094 {
                return Err(Error::invalid("bridge.vlan_default_pvid", format!("{p} is not in 0..=4094")));
            }
        }
        for (field, d) in [
            ("bridge.forward_delay", self.forward_delay),
            ("bridge.hello_time", self.hello_time),
            ("bridge.max_age", self.max_age),
            ("bridge.ageing_time", self.ageing_time),
        ] {
            if let Some(d) = d {
                if d.as_millis() / 10 > u32::MAX as u128 {
                    return Err(Error::invalid(field, format!("{d:?} is too long")));
                }
            }
        }
        Ok(())
    }

    pub(crate) fn write_data(&self, w: &mut AttrWriter<'_>) {
        if *self == Bridge::default() {
            return;
        }
        w.nest(ifla::INFO_DATA, |w| {
            if let Some(d) = self.forward_delay {
                w.u32(br::FORWARD_DELAY, to_cs(d));
            }
            if let Some(d) = self.hello_time {
                w.u32(br::HELLO_TIME, to_cs(d));
            }
            if let Some(d) = self.max_age {
                w.u32(br::MAX_AGE, to_cs(d));
            }
            if let Some(d) = self.ageing_time {
                w.u32(br::AGEING_TIME, to_cs(d));
            }
            if let Some(s) = self.stp {
                w.u32(br::STP_STATE, s as u32);
            }
            if let Some(p) = self.priority {
                w.u16(br::PRIORITY, p);
            }
            if let Some(v) = self.vlan_filtering {
                w.u8(br::VLAN_FILTERING, v as u8);
            }
            if let Some(p) = self.vlan_default_pvid {
                w.u16(br::VLAN_DEFAULT_PVID, p);
            }
        });
    }

    pub(crate) fn decode(data: &[u8]) -> Result<Bridge, DecodeError> {
        let mut b = Bridge::default();
        for a in AttrIter::new(data) {
            let a = a?;
            match a.kind() {
                br::FORWARD_DELAY => b.forward_delay = Some(from_cs(a.u32()?)),
                br::HELLO_TIME => b.hello_time = Some(from_cs(a.u32()?)),
                br::MAX_AGE => b.max_age = Some(from_cs(a.u32()?)),
                br::AGEING_TIME => b.ageing_time = Some(from_cs(a.u32()?)),
                br::STP_STATE => b.stp = Some(a.u32()? != 0),
                br::PRIORITY => b.priority = Some(a.u16()?),
                br::VLAN_FILTERING => b.vlan_filtering = Some(flag_u8(&a)?),
                br::VLAN_DEFAULT_PVID => b.vlan_default_pvid = Some(a.u16()?),
                // The rest (timers, multicast settings, ...) stays in
                // `Link::info_data`.
                _ => {}
            }
        }
        Ok(b)
    }
}

/// Spanning-tree state of a bridge port (`IFLA_BRPORT_STATE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PortState {
    /// `disabled` (0).
    Disabled,
    /// `listening` (1).
    Listening,
    /// `learning` (2).
    Learning,
    /// `forwarding` (3).
    Forwarding,
    /// `blocking` (4).
    Blocking,
    /// Any other value.
    Unknown(u8),
}

impl PortState {
    /// The name `ip -d link` and `bridge link` print (`disabled`,
    /// `forwarding`, ...), or the number.
    pub fn name(self) -> String {
        match self {
            PortState::Disabled => "disabled".into(),
            PortState::Listening => "listening".into(),
            PortState::Learning => "learning".into(),
            PortState::Forwarding => "forwarding".into(),
            PortState::Blocking => "blocking".into(),
            PortState::Unknown(v) => v.to_string(),
        }
    }
    /// From the raw value.
    pub fn from_raw(v: u8) -> PortState {
        match v {
            0 => PortState::Disabled,
            1 => PortState::Listening,
            2 => PortState::Learning,
            3 => PortState::Forwarding,
            4 => PortState::Blocking,
            v => PortState::Unknown(v),
        }
    }
    /// The raw value.
    pub fn to_raw(self) -> u8 {
        match self {
            PortState::Disabled => 0,
            PortState::Listening => 1,
            PortState::Learning => 2,
            PortState::Forwarding => 3,
            PortState::Blocking => 4,
            PortState::Unknown(v) => v,
        }
    }
}

/// Settings of a link enslaved to a bridge (`ip link set dev PORT type
/// bridge_slave ...`, `bridge link set dev PORT ...`). `None` fields are
/// left unchanged; a listed port has them filled in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BridgePort {
    /// Spanning-tree state.
    pub state: Option<PortState>,
    /// Port priority.
    pub priority: Option<u16>,
    /// Path cost.
    pub cost: Option<u32>,
    /// Hairpin mode: send frames back out the port they came in on (what
    /// the CNI bridge plugin's `hairpinMode` sets).
    pub hairpin: Option<bool>,
    /// BPDU guard.
    pub guard: Option<bool>,
    /// Learn source MACs (`learning`).
    pub learning: Option<bool>,
    /// Flood unknown unicast to this port (`flood`).
    pub unicast_flood: Option<bool>,
    /// Flood multicast to this port (`mcast_flood`).
    pub mcast_flood: Option<bool>,
    /// Flood broadcast to this port (`bcast_flood`).
    pub bcast_flood: Option<bool>,
    /// Proxy ARP.
    pub proxy_arp: Option<bool>,
    /// Neighbour (ARP/ND) suppression.
    pub neigh_suppress: Option<bool>,
    /// Isolated: may talk only to non-isolated ports.
    pub isolated: Option<bool>,
}

impl BridgePort {
    /// No changes.
    pub fn new() -> BridgePort {
        BridgePort::default()
    }
    /// Set hairpin mode.
    pub fn hairpin(mut self, on: bool) -> Self {
        self.hairpin = Some(on);
        self
    }
    /// Set isolation.
    pub fn isolated(mut self, on: bool) -> Self {
        self.isolated = Some(on);
        self
    }
    /// Set MAC learning.
    pub fn learning(mut self, on: bool) -> Self {
        self.learning = Some(on);
        self
    }
    /// Set unknown-unicast flooding.
    pub fn unicast_flood(mut self, on: bool) -> Self {
        self.unicast_flood = Some(on);
        self
    }
    /// Set multicast flooding.
    pub fn mcast_flood(mut self, on: bool) -> Self {
        self.mcast_flood = Some(on);
        self
    }
    /// Set broadcast flooding.
    pub fn bcast_flood(mut self, on: bool) -> Self {
        self.bcast_flood = Some(on);
        self
    }
    /// Set the path cost.
    pub fn cost(mut self, c: u32) -> Self {
        self.cost = Some(c);
        self
    }
    /// Set the port priority.
    pub fn priority(mut self, p: u16) -> Self {
        self.priority = Some(p);
        self
    }

    /// Write the settings as `IFLA_BRPORT_*` attributes.
    pub(crate) fn write_attrs(&self, w: &mut AttrWriter<'_>) {
        if let Some(s) = self.state {
            w.u8(brport::STATE, s.to_raw());
        }
        if let Some(p) = self.priority {
            w.u16(brport::PRIORITY, p);
        }
        if let Some(c) = self.cost {
            w.u32(brport::COST, c);
        }
        let flags = [
            (brport::MODE, self.hairpin),
            (brport::GUARD, self.guard),
            (brport::LEARNING, self.learning),
            (brport::UNICAST_FLOOD, self.unicast_flood),
            (brport::PROXYARP, self.proxy_arp),
            (brport::MCAST_FLOOD, self.mcast_flood),
            (brport::BCAST_FLOOD, self.bcast_flood),
            (brport::NEIGH_SUPPRESS, self.neigh_suppress),
            (brport::ISOLATED, self.isolated),
        ];
        for (ty, v) in flags {
            if let Some(v) = v {
                w.u8(ty, v as u8);
            }
        }
    }

    /// Decode `IFLA_INFO_SLAVE_DATA` of a bridge port.
    pub fn decode(data: &[u8]) -> Result<BridgePort, DecodeError> {
        let mut p = BridgePort::default();
        for a in AttrIter::new(data) {
            let a = a?;
            match a.kind() {
                brport::STATE => p.state = Some(PortState::from_raw(a.u8()?)),
                brport::PRIORITY => p.priority = Some(a.u16()?),
                brport::COST => p.cost = Some(a.u32()?),
                brport::MODE => p.hairpin = Some(flag_u8(&a)?),
                brport::GUARD => p.guard = Some(flag_u8(&a)?),
                brport::LEARNING => p.learning = Some(flag_u8(&a)?),
                brport::UNICAST_FLOOD => p.unicast_flood = Some(flag_u8(&a)?),
                brport::PROXYARP => p.proxy_arp = Some(flag_u8(&a)?),
                brport::MCAST_FLOOD => p.mcast_flood = Some(flag_u8(&a)?),
                brport::BCAST_FLOOD => p.bcast_flood = Some(flag_u8(&a)?),
                brport::NEIGH_SUPPRESS => p.neigh_suppress = Some(flag_u8(&a)?),
                brport::ISOLATED => p.isolated = Some(flag_u8(&a)?),
                _ => {}
            }
        }
        Ok(p)
    }
}
