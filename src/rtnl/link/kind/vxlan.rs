//! `vxlan` links.

use std::net::IpAddr;

use crate::error::{DecodeError, Error, Result};
use crate::rtnl::{ip_from, IfIndex};
use crate::wire::{AttrIter, AttrWriter};

use super::flag_u8;
use crate::rtnl::link::message::ifla;

/// `IFLA_VXLAN_*`.
mod vx {
    pub const ID: u16 = 1;
    pub const GROUP: u16 = 2;
    pub const LINK: u16 = 3;
    pub const LOCAL: u16 = 4;
    pub const TTL: u16 = 5;
    pub const LEARNING: u16 = 7;
    pub const AGEING: u16 = 8;
    pub const PORT: u16 = 15;
    pub const GROUP6: u16 = 16;
    pub const LOCAL6: u16 = 17;
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
                _ => {}
            }
        }
        Ok(v)
    }
}
