//! `veth` pairs.

use crate::error::{DecodeError, Error, Result};
use crate::netns::Netns;
use crate::rtnl::{validate_ifname, MacAddr};
use crate::wire::AttrWriter;

use crate::rtnl::link::header::{ifla, IfInfoMsg};

/// `VETH_INFO_PEER`.
const VETH_INFO_PEER: u16 = 1;

/// A `veth` pair (`ip link add NAME type veth peer name PEER ...`).
///
/// The kernel does not report the peer's settings back: on a listed veth
/// this is `Veth { peer: None }`; the peer's index is
/// [`crate::rtnl::link::Link::link`] and its namespace
/// [`crate::rtnl::link::Link::link_netnsid`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Veth {
    /// The other end.
    pub peer: Option<VethPeer>,
}

impl Veth {
    /// A veth pair whose other end is `peer`.
    pub fn new(peer: VethPeer) -> Veth {
        Veth { peer: Some(peer) }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        match &self.peer {
            Some(p) => p.validate(),
            None => Ok(()),
        }
    }

    pub(crate) fn write_data(&self, w: &mut AttrWriter<'_>) {
        let Some(p) = &self.peer else { return };
        w.nest(ifla::INFO_DATA, |w| {
            w.nest(VETH_INFO_PEER, |w| p.write(w));
        });
    }

    pub(crate) fn decode(_data: &[u8]) -> Result<Veth, DecodeError> {
        Ok(Veth { peer: None })
    }
}

/// The peer end of a [`Veth`], created in the same request — directly in
/// another namespace if [`VethPeer::netns`] is set (as `ip link add ...
/// peer name eth0 netns POD`). It is created down; bring it up with a
/// connection in its namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VethPeer {
    /// The peer's name (`peer name`).
    pub name: String,
    /// MTU (`peer mtu`).
    pub mtu: Option<u32>,
    /// MAC address (`peer address`).
    pub mac: Option<MacAddr>,
    /// Transmit queue length.
    pub txqlen: Option<u32>,
    /// Create the peer inside this namespace (`peer netns`).
    pub netns: Option<NetnsRef>,
}

/// A namespace given to the kernel by file descriptor, compared by inode.
#[derive(Clone, Debug)]
pub struct NetnsRef(pub Netns);

impl PartialEq for NetnsRef {
    fn eq(&self, other: &Self) -> bool {
        self.0.same_as(&other.0).unwrap_or(false)
    }
}
impl Eq for NetnsRef {}

impl VethPeer {
    /// A peer named `name`.
    pub fn new(name: impl Into<String>) -> VethPeer {
        VethPeer { name: name.into(), ..Default::default() }
    }
    /// Set the MTU.
    pub fn mtu(mut self, mtu: u32) -> Self {
        self.mtu = Some(mtu);
        self
    }
    /// Set the MAC address.
    pub fn mac(mut self, mac: MacAddr) -> Self {
        self.mac = Some(mac);
        self
    }
    /// Set the transmit queue length.
    pub fn txqlen(mut self, n: u32) -> Self {
        self.txqlen = Some(n);
        self
    }
    /// Create the peer inside `netns` (e.g. a pod's namespace).
    pub fn netns(mut self, netns: &Netns) -> Self {
        self.netns = Some(NetnsRef(netns.clone()));
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        validate_ifname("peer.name", &self.name)?;
        if let Some(m) = self.mtu {
            crate::rtnl::link::validate_mtu("peer.mtu", m)?;
        }
        if let Some(mac) = self.mac {
            if mac.is_multicast() || mac == MacAddr::ZERO {
                return Err(Error::invalid("peer.mac", format!("{mac} is not a unicast address")));
            }
        }
        Ok(())
    }

    fn write(&self, w: &mut AttrWriter<'_>) {
        use std::os::fd::{AsFd, AsRawFd};
        // The peer cannot be brought up in the creating request: the kernel
        // configures it before the pair is joined (veth_open: ENOTCONN).
        w.raw(&IfInfoMsg::default().to_bytes());
        w.str(ifla::IFNAME, &self.name);
        if let Some(m) = self.mtu {
            w.u32(ifla::MTU, m);
        }
        if let Some(mac) = self.mac {
            w.bytes(ifla::ADDRESS, &mac.0);
        }
        if let Some(q) = self.txqlen {
            w.u32(ifla::TXQLEN, q);
        }
        if let Some(ns) = &self.netns {
            w.u32(ifla::NET_NS_FD, ns.0.as_fd().as_raw_fd() as u32);
        }
    }
}
