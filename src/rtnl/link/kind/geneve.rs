//! `geneve` links.

use std::net::IpAddr;

use crate::error::{DecodeError, Error, Result};
use crate::rtnl::ip_from;
use crate::rtnl::link::message::ifla;
use crate::wire::{AttrIter, AttrWriter};

/// `IFLA_GENEVE_*`.
mod gn {
    pub const ID: u16 = 1;
    pub const REMOTE: u16 = 2;
    pub const TTL: u16 = 3;
    pub const TOS: u16 = 4;
    pub const PORT: u16 = 5;
    pub const COLLECT_METADATA: u16 = 6;
    pub const REMOTE6: u16 = 7;
    pub const LABEL: u16 = 11;
}

/// A `geneve` link (`ip link add NAME type geneve id VNI remote ADDR
/// [dstport P] [ttl T] [tos T] [flowlabel L] | external`).
///
/// Encoded as `ip` encodes it: the VNI, remote, flow label, TTL and TOS
/// are always sent (0 meaning the kernel's default, or inherit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Geneve {
    /// The virtual network identifier (24 bits).
    pub vni: u32,
    /// The remote tunnel endpoint (`remote`).
    pub remote: Option<IpAddr>,
    /// TTL of encapsulated packets (`ttl`; 0 is the default).
    pub ttl: u8,
    /// TOS of encapsulated packets (`tos`; 1 is `inherit`).
    pub tos: u8,
    /// IPv6 flow label (`flowlabel`, 20 bits).
    pub label: u32,
    /// UDP destination port (`dstport`; the kernel's default is 6081).
    pub port: Option<u16>,
    /// Collect metadata (`external`): one device, the destination per
    /// packet.
    pub external: bool,
}

impl Geneve {
    /// A geneve link with `vni` to `remote`.
    pub fn new(vni: u32, remote: IpAddr) -> Geneve {
        Geneve { vni, remote: Some(remote), ..Default::default() }
    }
    /// A collect-metadata geneve link (`external`).
    pub fn external() -> Geneve {
        Geneve { external: true, ..Default::default() }
    }
    /// Set the UDP destination port (`dstport P`).
    pub fn port(mut self, p: u16) -> Self {
        self.port = Some(p);
        self
    }
    /// Set the TTL (`ttl T`).
    pub fn ttl(mut self, t: u8) -> Self {
        self.ttl = t;
        self
    }
    /// Set the TOS (`tos T`).
    pub fn tos(mut self, t: u8) -> Self {
        self.tos = t;
        self
    }
    /// Set the IPv6 flow label (`flowlabel L`).
    pub fn label(mut self, l: u32) -> Self {
        self.label = l;
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.vni >= 1 << 24 {
            return Err(Error::invalid("geneve.vni", format!("{} does not fit 24 bits", self.vni)));
        }
        if self.label >= 1 << 20 {
            return Err(Error::invalid("geneve.label", format!("{} does not fit 20 bits", self.label)));
        }
        if self.external && (self.vni != 0 || self.remote.is_some()) {
            return Err(Error::invalid(
                "geneve.external",
                "an external geneve has no VNI or remote of its own",
            ));
        }
        if !self.external && self.remote.is_none() {
            return Err(Error::invalid("geneve.remote", "a geneve link needs a remote (or external)"));
        }
        if self.port == Some(0) {
            return Err(Error::invalid("geneve.port", "0 is not a port"));
        }
        Ok(())
    }

    pub(crate) fn write_data(&self, w: &mut AttrWriter<'_>) {
        w.nest(ifla::INFO_DATA, |w| {
            w.u32(gn::ID, self.vni);
            match self.remote {
                Some(IpAddr::V4(a)) => {
                    w.bytes(gn::REMOTE, &a.octets());
                }
                Some(IpAddr::V6(a)) => {
                    w.bytes(gn::REMOTE6, &a.octets());
                }
                None => {}
            }
            w.u32_be(gn::LABEL, self.label);
            w.u8(gn::TTL, self.ttl);
            w.u8(gn::TOS, self.tos);
            if let Some(p) = self.port {
                w.u16_be(gn::PORT, p);
            }
            if self.external {
                w.flag(gn::COLLECT_METADATA);
            }
        });
    }

    pub(crate) fn decode(data: &[u8]) -> Result<Geneve, DecodeError> {
        let mut g = Geneve::default();
        for a in AttrIter::new(data) {
            let a = a?;
            match a.kind() {
                gn::ID => g.vni = a.u32()?,
                gn::REMOTE | gn::REMOTE6 => {
                    let ip = ip_from(a.payload, "geneve remote")?;
                    if !ip.is_unspecified() {
                        g.remote = Some(ip);
                    }
                }
                gn::TTL => g.ttl = a.u8()?,
                gn::TOS => g.tos = a.u8()?,
                gn::LABEL => g.label = a.u32_be()?,
                gn::PORT => g.port = Some(a.u16_be()?),
                gn::COLLECT_METADATA => g.external = true,
                _ => {}
            }
        }
        Ok(g)
    }
}
