//! Helpers shared by the privileged rtnetlink tests.
#![allow(dead_code)]

pub mod nft;

use netplumb::testing::TestNs;
use netplumb::Rtnl;
use serde_json::Value;

/// `ip -n NS -j ARGS...` parsed as JSON.
pub fn ipj(ns: &TestNs, args: &[&str]) -> Value {
    let mut full = vec!["-j"];
    full.extend_from_slice(args);
    let out = ns.ip(&full);
    serde_json::from_str(if out.trim().is_empty() { "[]" } else { &out })
        .unwrap_or_else(|e| panic!("ip -j {args:?}: {e}: {out}"))
}

/// `bridge -n NS -j ARGS...` parsed as JSON.
pub fn bridgej(ns: &TestNs, args: &[&str]) -> Value {
    let mut full = vec!["-n", ns.name(), "-j"];
    full.extend_from_slice(args);
    let out = netplumb::testing::run("bridge", &full);
    serde_json::from_str(if out.trim().is_empty() { "[]" } else { &out })
        .unwrap_or_else(|e| panic!("bridge -j {args:?}: {e}: {out}"))
}

/// An rtnetlink handle inside the test namespace.
pub async fn rtnl(ns: &TestNs) -> Rtnl {
    Rtnl::new_in(ns.netns()).await.expect("rtnl connection in test namespace")
}

/// The one object of an `ip -j ... show dev X` answer.
pub fn one(v: &Value) -> &Value {
    let a = v.as_array().unwrap_or_else(|| panic!("not an array: {v}"));
    assert_eq!(a.len(), 1, "expected one object: {v}");
    &a[0]
}

/// Whether an `ip -j` flags array contains `flag`.
pub fn has_flag(obj: &Value, flag: &str) -> bool {
    obj["flags"].as_array().is_some_and(|f| f.iter().any(|x| x == flag))
}

/// One netlink socket of a namespace, as `/proc/net/netlink` lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetlinkSocket {
    /// The protocol (`Eth`: 0 `NETLINK_ROUTE`, 12 `NETLINK_NETFILTER`).
    pub protocol: isize,
    /// The port id (`Pid`; 0 for the kernel's own).
    pub port: u32,
    /// Bytes queued for reading (`Rmem`).
    pub rmem: u64,
    /// Whether a dump is running on it (`Dump`).
    pub dumping: bool,
}

/// The sockets listed in `table`, the text of `/proc/net/netlink` (read
/// from `/proc/thread-self/net/netlink` on a thread inside the namespace).
pub fn netlink_sockets(table: &str) -> Vec<NetlinkSocket> {
    // sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some(NetlinkSocket {
                protocol: f.get(1)?.parse().ok()?,
                port: f.get(2)?.parse().ok()?,
                rmem: f.get(4)?.parse().ok()?,
                dumping: *f.get(6)? != "0",
            })
        })
        .collect()
}
