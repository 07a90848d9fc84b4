//! The fixed part of a link message: `struct ifinfomsg` and the `IFLA_*`
//! attribute numbers. Below both [`super::message`] and [`super::kind`],
//! which use it; public as [`super::message::ifla`] and
//! [`super::message::IfInfoMsg`].

use crate::error::DecodeError;
use crate::rtnl::header;

/// `IFLA_*` attribute numbers (`include/uapi/linux/if_link.h`).
#[allow(missing_docs)]
pub(crate) mod ifla {
    pub const ADDRESS: u16 = 1;
    pub const BROADCAST: u16 = 2;
    pub const IFNAME: u16 = 3;
    pub const MTU: u16 = 4;
    pub const LINK: u16 = 5;
    pub const QDISC: u16 = 6;
    pub const STATS: u16 = 7;
    pub const MASTER: u16 = 10;
    pub const TXQLEN: u16 = 13;
    pub const OPERSTATE: u16 = 16;
    pub const LINKINFO: u16 = 18;
    pub const IFALIAS: u16 = 20;
    pub const STATS64: u16 = 23;
    pub const AF_SPEC: u16 = 26;
    pub const GROUP: u16 = 27;
    pub const NET_NS_FD: u16 = 28;
    pub const PROMISCUITY: u16 = 30;
    pub const NUM_TX_QUEUES: u16 = 31;
    pub const NUM_RX_QUEUES: u16 = 32;
    pub const CARRIER: u16 = 33;
    pub const CARRIER_CHANGES: u16 = 35;
    pub const LINK_NETNSID: u16 = 37;
    pub const PROTO_DOWN: u16 = 39;
    pub const GSO_MAX_SEGS: u16 = 40;
    pub const GSO_MAX_SIZE: u16 = 41;
    pub const CARRIER_UP_COUNT: u16 = 47;
    pub const CARRIER_DOWN_COUNT: u16 = 48;
    pub const MIN_MTU: u16 = 50;
    pub const MAX_MTU: u16 = 51;
    pub const PROP_LIST: u16 = 52;
    pub const ALT_IFNAME: u16 = 53;
    pub const PERM_ADDRESS: u16 = 54;
    pub const GRO_MAX_SIZE: u16 = 58;
    pub const TSO_MAX_SIZE: u16 = 59;
    pub const TSO_MAX_SEGS: u16 = 60;
    pub const ALLMULTI: u16 = 61;

    /// `IFLA_INFO_*` inside `IFLA_LINKINFO`.
    pub const INFO_KIND: u16 = 1;
    pub const INFO_DATA: u16 = 2;
    pub const INFO_SLAVE_KIND: u16 = 4;
    pub const INFO_SLAVE_DATA: u16 = 5;
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
