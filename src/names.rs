//! Names of message types, for errors and debugging output.

use std::fmt;

/// The netlink protocol a socket speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// `NETLINK_ROUTE`: links, addresses, routes, neighbours, rules.
    Route,
    /// `NETLINK_NETFILTER`: nftables, conntrack.
    Netfilter,
}

impl Protocol {
    /// The protocol number passed to `socket(2)`.
    pub fn number(self) -> isize {
        match self {
            Protocol::Route => netlink_sys::protocols::NETLINK_ROUTE,
            Protocol::Netfilter => netlink_sys::protocols::NETLINK_NETFILTER,
        }
    }
}

/// A message type together with its protocol, printable as the kernel's
/// constant name (`RTM_NEWLINK`, `NFT_MSG_NEWRULE`, `IPCTNL_MSG_CT_GET`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MsgType {
    /// The protocol the message was sent on.
    pub protocol: Protocol,
    /// The raw `nlmsg_type`.
    pub raw: u16,
}

impl MsgType {
    /// The constant's name, if netplumb knows it.
    pub fn name(&self) -> Option<&'static str> {
        match self.raw {
            1 => return Some("NLMSG_NOOP"),
            2 => return Some("NLMSG_ERROR"),
            3 => return Some("NLMSG_DONE"),
            4 => return Some("NLMSG_OVERRUN"),
            _ => {}
        }
        match self.protocol {
            Protocol::Route => route_name(self.raw),
            Protocol::Netfilter => netfilter_name(self.raw),
        }
    }
}

impl fmt::Display for MsgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => match self.protocol {
                Protocol::Netfilter => write!(f, "nfnetlink {}/{}", self.raw >> 8, self.raw & 0xff),
                Protocol::Route => write!(f, "message type {}", self.raw),
            },
        }
    }
}

fn route_name(t: u16) -> Option<&'static str> {
    Some(match t {
        16 => "RTM_NEWLINK",
        17 => "RTM_DELLINK",
        18 => "RTM_GETLINK",
        19 => "RTM_SETLINK",
        20 => "RTM_NEWADDR",
        21 => "RTM_DELADDR",
        22 => "RTM_GETADDR",
        24 => "RTM_NEWROUTE",
        25 => "RTM_DELROUTE",
        26 => "RTM_GETROUTE",
        28 => "RTM_NEWNEIGH",
        29 => "RTM_DELNEIGH",
        30 => "RTM_GETNEIGH",
        32 => "RTM_NEWRULE",
        33 => "RTM_DELRULE",
        34 => "RTM_GETRULE",
        36 => "RTM_NEWQDISC",
        37 => "RTM_DELQDISC",
        38 => "RTM_GETQDISC",
        40 => "RTM_NEWTCLASS",
        41 => "RTM_DELTCLASS",
        42 => "RTM_GETTCLASS",
        44 => "RTM_NEWTFILTER",
        45 => "RTM_DELTFILTER",
        46 => "RTM_GETTFILTER",
        48 => "RTM_NEWACTION",
        49 => "RTM_DELACTION",
        50 => "RTM_GETACTION",
        64 => "RTM_NEWNEIGHTBL",
        66 => "RTM_GETNEIGHTBL",
        67 => "RTM_SETNEIGHTBL",
        80 => "RTM_NEWNETCONF",
        81 => "RTM_DELNETCONF",
        82 => "RTM_GETNETCONF",
        88 => "RTM_NEWNSID",
        89 => "RTM_DELNSID",
        90 => "RTM_GETNSID",
        92 => "RTM_NEWSTATS",
        94 => "RTM_GETSTATS",
        104 => "RTM_NEWNEXTHOP",
        105 => "RTM_DELNEXTHOP",
        106 => "RTM_GETNEXTHOP",
        112 => "RTM_NEWVLAN",
        113 => "RTM_DELVLAN",
        114 => "RTM_GETVLAN",
        _ => return None,
    })
}

/// `NFNL_SUBSYS_CTNETLINK`.
pub const NFNL_SUBSYS_CTNETLINK: u8 = libc::NFNL_SUBSYS_CTNETLINK as u8;
/// `NFNL_SUBSYS_CTNETLINK_EXP`.
pub const NFNL_SUBSYS_CTNETLINK_EXP: u8 = libc::NFNL_SUBSYS_CTNETLINK_EXP as u8;
/// `NFNL_SUBSYS_NFTABLES`.
pub const NFNL_SUBSYS_NFTABLES: u8 = libc::NFNL_SUBSYS_NFTABLES as u8;
/// `NFNL_MSG_BATCH_BEGIN`.
pub const NFNL_MSG_BATCH_BEGIN: u16 = libc::NFNL_MSG_BATCH_BEGIN as u16;
/// `NFNL_MSG_BATCH_END`.
pub const NFNL_MSG_BATCH_END: u16 = libc::NFNL_MSG_BATCH_END as u16;

const NFT_NAMES: [&str; 34] = [
    "NFT_MSG_NEWTABLE",
    "NFT_MSG_GETTABLE",
    "NFT_MSG_DELTABLE",
    "NFT_MSG_NEWCHAIN",
    "NFT_MSG_GETCHAIN",
    "NFT_MSG_DELCHAIN",
    "NFT_MSG_NEWRULE",
    "NFT_MSG_GETRULE",
    "NFT_MSG_DELRULE",
    "NFT_MSG_NEWSET",
    "NFT_MSG_GETSET",
    "NFT_MSG_DELSET",
    "NFT_MSG_NEWSETELEM",
    "NFT_MSG_GETSETELEM",
    "NFT_MSG_DELSETELEM",
    "NFT_MSG_NEWGEN",
    "NFT_MSG_GETGEN",
    "NFT_MSG_TRACE",
    "NFT_MSG_NEWOBJ",
    "NFT_MSG_GETOBJ",
    "NFT_MSG_DELOBJ",
    "NFT_MSG_GETOBJ_RESET",
    "NFT_MSG_NEWFLOWTABLE",
    "NFT_MSG_GETFLOWTABLE",
    "NFT_MSG_DELFLOWTABLE",
    "NFT_MSG_GETRULE_RESET",
    "NFT_MSG_DESTROYTABLE",
    "NFT_MSG_DESTROYCHAIN",
    "NFT_MSG_DESTROYRULE",
    "NFT_MSG_DESTROYSET",
    "NFT_MSG_DESTROYSETELEM",
    "NFT_MSG_DESTROYOBJ",
    "NFT_MSG_DESTROYFLOWTABLE",
    "NFT_MSG_GETSETELEM_RESET",
];

const CT_NAMES: [&str; 8] = [
    "IPCTNL_MSG_CT_NEW",
    "IPCTNL_MSG_CT_GET",
    "IPCTNL_MSG_CT_DELETE",
    "IPCTNL_MSG_CT_GET_CTRZERO",
    "IPCTNL_MSG_CT_GET_STATS_CPU",
    "IPCTNL_MSG_CT_GET_STATS",
    "IPCTNL_MSG_CT_GET_DYING",
    "IPCTNL_MSG_CT_GET_UNCONFIRMED",
];

const EXP_NAMES: [&str; 6] = [
    "IPCTNL_MSG_EXP_NEW",
    "IPCTNL_MSG_EXP_GET",
    "IPCTNL_MSG_EXP_DELETE",
    "IPCTNL_MSG_EXP_GET_STATS_CPU",
    "",
    "",
];

fn netfilter_name(t: u16) -> Option<&'static str> {
    match t {
        NFNL_MSG_BATCH_BEGIN => return Some("NFNL_MSG_BATCH_BEGIN"),
        NFNL_MSG_BATCH_END => return Some("NFNL_MSG_BATCH_END"),
        _ => {}
    }
    let (subsys, msg) = ((t >> 8) as u8, (t & 0xff) as usize);
    let n = match subsys {
        NFNL_SUBSYS_NFTABLES => NFT_NAMES.get(msg).copied(),
        NFNL_SUBSYS_CTNETLINK => CT_NAMES.get(msg).copied(),
        NFNL_SUBSYS_CTNETLINK_EXP => EXP_NAMES.get(msg).copied(),
        _ => None,
    };
    n.filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let t = |p, raw| MsgType { protocol: p, raw }.to_string();
        assert_eq!(t(Protocol::Route, 16), "RTM_NEWLINK");
        // Every rtnetlink name agrees with libc's number for it.
        for (n, name) in [
            (libc::RTM_NEWQDISC, "RTM_NEWQDISC"),
            (libc::RTM_NEWTCLASS, "RTM_NEWTCLASS"),
            (libc::RTM_DELTCLASS, "RTM_DELTCLASS"),
            (libc::RTM_GETTCLASS, "RTM_GETTCLASS"),
            (libc::RTM_NEWTFILTER, "RTM_NEWTFILTER"),
            (libc::RTM_DELTFILTER, "RTM_DELTFILTER"),
            (libc::RTM_GETTFILTER, "RTM_GETTFILTER"),
            (libc::RTM_NEWACTION, "RTM_NEWACTION"),
            (libc::RTM_DELACTION, "RTM_DELACTION"),
            (libc::RTM_GETACTION, "RTM_GETACTION"),
        ] {
            assert_eq!(t(Protocol::Route, n), name);
        }
        assert_eq!(t(Protocol::Route, 112), "RTM_NEWVLAN");
        assert_eq!(t(Protocol::Route, 114), "RTM_GETVLAN");
        assert_eq!(t(Protocol::Netfilter, (10 << 8) | 6), "NFT_MSG_NEWRULE");
        assert_eq!(t(Protocol::Netfilter, (1 << 8) | 1), "IPCTNL_MSG_CT_GET");
        assert_eq!(t(Protocol::Netfilter, 0x10), "NFNL_MSG_BATCH_BEGIN");
        assert_eq!(t(Protocol::Route, 999), "message type 999");
        assert_eq!(t(Protocol::Netfilter, (7 << 8) | 200), "nfnetlink 7/200");
    }
}
