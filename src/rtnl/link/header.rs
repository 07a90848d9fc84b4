//! The fixed part of a link message: `struct ifinfomsg` and the `IFLA_*`
//! attribute numbers. Below both [`super::message`] and [`super::kind`],
//! which use it; public as [`super::message::ifla`] and
//! [`super::message::IfInfoMsg`].

use crate::error::DecodeError;
use crate::rtnl::header;

/// `IFLA_*` attribute numbers (`include/uapi/linux/if_link.h`).
#[allow(missing_docs)]
pub(crate) mod ifla {
    pub const ADDRESS: u16 = libc::IFLA_ADDRESS;
    pub const BROADCAST: u16 = libc::IFLA_BROADCAST;
    pub const IFNAME: u16 = libc::IFLA_IFNAME;
    pub const MTU: u16 = libc::IFLA_MTU;
    pub const LINK: u16 = libc::IFLA_LINK;
    pub const QDISC: u16 = libc::IFLA_QDISC;
    pub const STATS: u16 = libc::IFLA_STATS;
    pub const MASTER: u16 = libc::IFLA_MASTER;
    pub const TXQLEN: u16 = libc::IFLA_TXQLEN;
    pub const OPERSTATE: u16 = libc::IFLA_OPERSTATE;
    pub const LINKINFO: u16 = libc::IFLA_LINKINFO;
    pub const IFALIAS: u16 = libc::IFLA_IFALIAS;
    pub const STATS64: u16 = libc::IFLA_STATS64;
    pub const AF_SPEC: u16 = libc::IFLA_AF_SPEC;
    pub const GROUP: u16 = libc::IFLA_GROUP;
    pub const NET_NS_FD: u16 = libc::IFLA_NET_NS_FD;
    pub const PROMISCUITY: u16 = libc::IFLA_PROMISCUITY;
    pub const NUM_TX_QUEUES: u16 = libc::IFLA_NUM_TX_QUEUES;
    pub const NUM_RX_QUEUES: u16 = libc::IFLA_NUM_RX_QUEUES;
    pub const CARRIER: u16 = libc::IFLA_CARRIER;
    pub const CARRIER_CHANGES: u16 = libc::IFLA_CARRIER_CHANGES;
    pub const LINK_NETNSID: u16 = libc::IFLA_LINK_NETNSID;
    pub const PROTO_DOWN: u16 = libc::IFLA_PROTO_DOWN;
    pub const GSO_MAX_SEGS: u16 = libc::IFLA_GSO_MAX_SEGS;
    pub const GSO_MAX_SIZE: u16 = libc::IFLA_GSO_MAX_SIZE;
    pub const CARRIER_UP_COUNT: u16 = libc::IFLA_CARRIER_UP_COUNT;
    pub const CARRIER_DOWN_COUNT: u16 = libc::IFLA_CARRIER_DOWN_COUNT;
    pub const MIN_MTU: u16 = libc::IFLA_MIN_MTU;
    pub const MAX_MTU: u16 = libc::IFLA_MAX_MTU;
    pub const PROP_LIST: u16 = libc::IFLA_PROP_LIST;
    pub const ALT_IFNAME: u16 = libc::IFLA_ALT_IFNAME;
    pub const PERM_ADDRESS: u16 = libc::IFLA_PERM_ADDRESS;
    pub const GRO_MAX_SIZE: u16 = libc::IFLA_GRO_MAX_SIZE;
    pub const TSO_MAX_SIZE: u16 = libc::IFLA_TSO_MAX_SIZE;
    pub const TSO_MAX_SEGS: u16 = libc::IFLA_TSO_MAX_SEGS;
    pub const ALLMULTI: u16 = libc::IFLA_ALLMULTI;

    /// `IFLA_INFO_*` inside `IFLA_LINKINFO`.
    pub const INFO_KIND: u16 = libc::IFLA_INFO_KIND;
    pub const INFO_DATA: u16 = libc::IFLA_INFO_DATA;
    pub const INFO_SLAVE_KIND: u16 = libc::IFLA_INFO_SLAVE_KIND;
    pub const INFO_SLAVE_DATA: u16 = libc::IFLA_INFO_SLAVE_DATA;
}

/// Size of `struct ifinfomsg`.
pub const IFINFOMSG_LEN: usize = 16;

/// `struct ifinfomsg`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IfInfoMsg {
    /// `ifi_family` (`AF_UNSPEC`, or `AF_BRIDGE` for bridge port messages).
    pub family: u8,
    /// `ifi_type`: `ARPHRD_*`.
    pub link_type: u16,
    /// `ifi_index`.
    pub index: i32,
    /// `ifi_flags`: `IFF_*`.
    pub flags: u32,
    /// `ifi_change`: which flags to change.
    pub change: u32,
}

impl IfInfoMsg {
    /// Encode.
    pub fn to_bytes(&self) -> [u8; IFINFOMSG_LEN] {
        let mut b = [0u8; IFINFOMSG_LEN];
        b[0] = self.family;
        b[2..4].copy_from_slice(&self.link_type.to_ne_bytes());
        b[4..8].copy_from_slice(&self.index.to_ne_bytes());
        b[8..12].copy_from_slice(&self.flags.to_ne_bytes());
        b[12..16].copy_from_slice(&self.change.to_ne_bytes());
        b
    }

    /// Decode from the start of a payload.
    pub fn parse(payload: &[u8]) -> Result<IfInfoMsg, DecodeError> {
        let b = header::<IFINFOMSG_LEN>(payload, "ifinfomsg")?;
        Ok(IfInfoMsg {
            family: b[0],
            link_type: u16::from_ne_bytes([b[2], b[3]]),
            index: i32::from_ne_bytes(b[4..8].try_into().expect("4")),
            flags: u32::from_ne_bytes(b[8..12].try_into().expect("4")),
            change: u32::from_ne_bytes(b[12..16].try_into().expect("4")),
        })
    }
}
