//! `vxlan` links.

use std::net::IpAddr;

use crate::error::{DecodeError, Error, Result};
use crate::rtnl::{ip_from, IfIndex};
use crate::wire::{AttrIter, AttrWriter};

use super::flag_u8;
use crate::rtnl::link::header::ifla;

/// `IFLA_VXLAN_*`.
mod vx {
    pub const ID: u16 = 1;
    pub const GROUP: u16 = 2;
    pub const LINK: u16 = 3;
    pub const LOCAL: u16 = 4;
    pub const TTL: u16 = 5;
    pub const TOS: u16 = 6;
    pub const LEARNING: u16 = 7;
    pub const AGEING: u16 = 8;
    pub const PORT_RANGE: u16 = 10;
    pub const PORT: u16 = 15;
    pub const GROUP6: u16 = 16;
    pub const LOCAL6: u16 = 17;
    pub const UDP_CSUM: u16 = 18;
    pub const UDP_ZERO_CSUM6_TX: u16 = 19;
    pub const UDP_ZERO_CSUM6_RX: u16 = 20;
    pub const COLLECT_METADATA: u16 = 25;
    pub const DF: u16 = 29;
}

/// The DF bit of encapsulated IPv4 packets (`df unset|set|inherit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VxlanDf {
    /// `unset` (0): never set.
    Unset,
    /// `set` (1): always set.
    Set,
    /// `inherit` (2): copied from the inner packet.
    Inherit,
    /// Any other value.
    Unknown(u8),
}

impl VxlanDf {
    /// From the raw value.
    pub fn from_raw(v: u8) -> VxlanDf {
        match v {
            0 => VxlanDf::Unset,
            1 => VxlanDf::Set,
            2 => VxlanDf::Inherit,
            v => VxlanDf::Unknown(v),
        }
    }
    /// The raw value.
    pub fn to_raw(self) -> u8 {
        match self {
            VxlanDf::Unset => 0,
            VxlanDf::Set => 1,
            VxlanDf::Inherit => 2,
            VxlanDf::Unknown(v) => v,
        }
    }
    /// The name `ip -d link` prints.
    pub fn name(self) -> String {
        match self {
            VxlanDf::Unset => "unset".into(),
            VxlanDf::Set => "set".into(),
            VxlanDf::Inherit => "inherit".into(),
            VxlanDf::Unknown(v) => v.to_string(),
        }
    }
}

/// A `vxlan` link (`ip link add NAME type vxlan id VNI ...`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Vxlan {
    /// The VXLAN network identifier (24 bits).
    pub vni: u32,
    /// Remote VTEP (`remote`, unicast) or multicast group (`group`). With
    /// neither, destinations come from FDB entries.
    pub remote: Option<IpAddr>,
    /// Local source address (`local`).
    pub local: Option<IpAddr>,
    /// UDP destination port (`dstport`); the kernel's default is 8472,
    /// the IANA port is 4789.
    pub port: Option<u16>,
    /// Learn remote MACs from received packets (`learning`).
    pub learning: Option<bool>,
    /// TTL of encapsulated packets (`ttl`; 0 inherits).
    pub ttl: Option<u8>,
    /// Underlying device (`dev`).
    pub link: Option<IfIndex>,
    /// FDB ageing time in seconds (`ageing`).
    pub ageing: Option<u32>,
    /// TOS of encapsulated packets (`tos`; 1 is `inherit`).
    pub tos: Option<u8>,
    /// UDP checksums on IPv4 (`udpcsum`/`noudpcsum`).
    pub udp_csum: Option<bool>,
    /// Send IPv6 packets with a zero UDP checksum (`udp6zerocsumtx`).
    pub udp6_zero_csum_tx: Option<bool>,
    /// Accept IPv6 packets with a zero UDP checksum (`udp6zerocsumrx`).
    pub udp6_zero_csum_rx: Option<bool>,
    /// Collect metadata (`external`): one device for every VNI, the
    /// destination chosen per packet (by tc, BPF or `src_vni` FDB
    /// entries). The device then has no VNI of its own.
    pub external: Option<bool>,
    /// DF bit of encapsulated IPv4 packets (`df`).
    pub df: Option<VxlanDf>,
    /// UDP source port range (`srcport LOW HIGH`), inclusive low,
    /// exclusive high as the kernel keeps it.
    pub port_range: Option<(u16, u16)>,
}

impl Vxlan {
    /// A vxlan link with identifier `vni`.
    pub fn new(vni: u32) -> Vxlan {
        Vxlan { vni, ..Default::default() }
    }
    /// Send to one remote VTEP.
    pub fn remote(mut self, ip: IpAddr) -> Self {
        self.remote = Some(ip);
        self
    }
    /// Send BUM traffic to a multicast group (needs [`Vxlan::link`]).
    pub fn group(mut self, ip: IpAddr) -> Self {
        self.remote = Some(ip);
        self
    }
    /// Set the local address.
    pub fn local(mut self, ip: IpAddr) -> Self {
        self.local = Some(ip);
        self
    }
    /// Set the UDP destination port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }
    /// Turn learning on or off.
    pub fn learning(mut self, on: bool) -> Self {
        self.learning = Some(on);
        self
    }
    /// Set the TTL.
    pub fn ttl(mut self, ttl: u8) -> Self {
        self.ttl = Some(ttl);
        self
    }
    /// Set the underlying device.
    pub fn link(mut self, dev: IfIndex) -> Self {
        self.link = Some(dev);
        self
    }
    /// Set the FDB ageing time in seconds (`ageing N`).
    pub fn ageing(mut self, secs: u32) -> Self {
        self.ageing = Some(secs);
        self
    }
    /// Set the TOS (`tos N`; `tos inherit` is 1).
    pub fn tos(mut self, tos: u8) -> Self {
        self.tos = Some(tos);
        self
    }
    /// UDP checksums on IPv4 on or off (`udpcsum`/`noudpcsum`).
    pub fn udp_csum(mut self, on: bool) -> Self {
        self.udp_csum = Some(on);
        self
    }
    /// Zero UDP checksums when sending over IPv6 (`udp6zerocsumtx`).
    pub fn udp6_zero_csum_tx(mut self, on: bool) -> Self {
        self.udp6_zero_csum_tx = Some(on);
        self
    }
    /// Accept zero UDP checksums over IPv6 (`udp6zerocsumrx`).
    pub fn udp6_zero_csum_rx(mut self, on: bool) -> Self {
        self.udp6_zero_csum_rx = Some(on);
        self
    }
    /// Collect metadata (`external`); the VNI is then per packet.
    pub fn external(mut self) -> Self {
        self.external = Some(true);
        self
    }
    /// Set the DF bit policy (`df set|unset|inherit`).
    pub fn df(mut self, df: VxlanDf) -> Self {
        self.df = Some(df);
        self
    }
    /// Set the UDP source port range (`srcport LOW HIGH`).
    pub fn port_range(mut self, low: u16, high: u16) -> Self {
        self.port_range = Some((low, high));
        self
    }
    /// The TOS as `ip -d link` prints it: nothing for 0, `inherit` for 1,
    /// else hex (`0x10`).
    pub fn tos_name(&self) -> Option<String> {
        match self.tos? {
            0 => None,
            1 => Some("inherit".into()),
            t => Some(format!("{t:#x}")),
        }
    }
    /// Whether [`Vxlan::remote`] is a multicast group.
    pub fn is_group(&self) -> bool {
        self.remote.is_some_and(|r| r.is_multicast())
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.vni >= 1 << 24 {
            return Err(Error::invalid("vxlan.vni", format!("{} does not fit 24 bits", self.vni)));
        }
        if let (Some(r), Some(l)) = (self.remote, self.local) {
            if r.is_ipv4() != l.is_ipv4() {
                return Err(Error::invalid("vxlan.local", "remote and local must be of one address family"));
            }
        }
        if self.is_group() && self.link.is_none() {
            return Err(Error::invalid("vxlan.link", "a multicast group needs an underlying device"));
        }
        if self.port == Some(0) {
            return Err(Error::invalid("vxlan.port", "0 is not a port"));
        }
        if let Some((lo, hi)) = self.port_range {
            if lo == 0 || hi < lo {
                return Err(Error::invalid("vxlan.port_range", format!("{lo}-{hi}: need 1 <= low <= high")));
            }
        }
        if self.external == Some(true) && self.vni != 0 {
            return Err(Error::invalid(
                "vxlan.vni",
                "an external (collect metadata) vxlan has no VNI of its own",
            ));
        }
        Ok(())
    }

    pub(crate) fn write_data(&self, w: &mut AttrWriter<'_>) {
        w.nest(ifla::INFO_DATA, |w| {
            w.u32(vx::ID, self.vni);
            match self.remote {
                Some(IpAddr::V4(a)) => {
                    w.bytes(vx::GROUP, &a.octets());
                }
                Some(IpAddr::V6(a)) => {
                    w.bytes(vx::GROUP6, &a.octets());
                }
                None => {}
            }
            if let Some(l) = self.link {
                w.u32(vx::LINK, l.0);
            }
            match self.local {
                Some(IpAddr::V4(a)) => {
                    w.bytes(vx::LOCAL, &a.octets());
                }
                Some(IpAddr::V6(a)) => {
                    w.bytes(vx::LOCAL6, &a.octets());
                }
                None => {}
            }
            if let Some(t) = self.ttl {
                w.u8(vx::TTL, t);
            }
            if let Some(l) = self.learning {
                w.u8(vx::LEARNING, l as u8);
            }
            if let Some(a) = self.ageing {
                w.u32(vx::AGEING, a);
            }
            if let Some(p) = self.port {
                w.u16_be(vx::PORT, p);
            }
            if let Some(t) = self.tos {
                w.u8(vx::TOS, t);
            }
            for (ty, v) in [
                (vx::UDP_CSUM, self.udp_csum),
                (vx::UDP_ZERO_CSUM6_TX, self.udp6_zero_csum_tx),
                (vx::UDP_ZERO_CSUM6_RX, self.udp6_zero_csum_rx),
                (vx::COLLECT_METADATA, self.external),
            ] {
                if let Some(v) = v {
                    w.u8(ty, v as u8);
                }
            }
            if let Some(d) = self.df {
                w.u8(vx::DF, d.to_raw());
            }
            if let Some((lo, hi)) = self.port_range {
                let mut b = [0u8; 4];
                b[..2].copy_from_slice(&lo.to_be_bytes());
                b[2..].copy_from_slice(&hi.to_be_bytes());
                w.bytes(vx::PORT_RANGE, &b);
            }
        });
    }

    pub(crate) fn decode(data: &[u8]) -> Result<Vxlan, DecodeError> {
        let mut v = Vxlan::default();
        for a in AttrIter::new(data) {
            let a = a?;
            match a.kind() {
                vx::ID => v.vni = a.u32()?,
                vx::GROUP | vx::GROUP6 => {
                    let ip = ip_from(a.payload, "vxlan group")?;
                    if !ip.is_unspecified() {
                        v.remote = Some(ip);
                    }
                }
                vx::LOCAL | vx::LOCAL6 => {
                    let ip = ip_from(a.payload, "vxlan local")?;
                    if !ip.is_unspecified() {
                        v.local = Some(ip);
                    }
                }
                vx::LINK => {
                    let l = a.u32()?;
                    if l != 0 {
                        v.link = Some(IfIndex(l));
                    }
                }
                vx::TTL => v.ttl = Some(a.u8()?),
                vx::LEARNING => v.learning = Some(flag_u8(&a)?),
                vx::AGEING => v.ageing = Some(a.u32()?),
                vx::PORT => v.port = Some(a.u16_be()?),
                vx::TOS => v.tos = Some(a.u8()?),
                vx::UDP_CSUM => v.udp_csum = Some(flag_u8(&a)?),
                vx::UDP_ZERO_CSUM6_TX => v.udp6_zero_csum_tx = Some(flag_u8(&a)?),
                vx::UDP_ZERO_CSUM6_RX => v.udp6_zero_csum_rx = Some(flag_u8(&a)?),
                vx::COLLECT_METADATA => v.external = Some(flag_u8(&a)?),
                vx::DF => v.df = Some(VxlanDf::from_raw(a.u8()?)),
                vx::PORT_RANGE => {
                    let b: [u8; 4] = crate::wire::fixed(a.payload, "IFLA_VXLAN_PORT_RANGE")?;
                    v.port_range = Some((u16::from_be_bytes([b[0], b[1]]), u16::from_be_bytes([b[2], b[3]])));
                }
                _ => {}
            }
        }
        Ok(v)
    }
}
