//! rtnetlink (`NETLINK_ROUTE`): links, addresses, routes, neighbours, FDB
//! entries and policy rules, and the handle that hands them out.
//!
//! [`Rtnl`] wraps a [`Connection`] speaking `NETLINK_ROUTE` and hands out
//! one cheap handle per area: [`Rtnl::links`], [`Rtnl::addresses`],
//! [`Rtnl::routes`], [`Rtnl::neighbours`], [`Rtnl::fdb`], [`Rtnl::rules`],
//! [`Rtnl::nexthops`].
//! Their verbs match: `add`, `replace`, `set`, `delete`, `get`, `list`,
//! `flush`, `events`.
//!
//! Layout: `types` holds the shared vocabulary ([`IfIndex`], [`MacAddr`],
//! [`Scope`], [`RawAttr`], [`Change`], ...) and imports no family; each
//! family ([`link`], [`addr`], [`route`], [`neigh`], [`rule`]) imports it;
//! this module imports the families to hand them out.

pub mod addr;
pub mod bridge_vlan;
pub mod link;
pub mod neigh;
pub mod nexthop;
pub mod route;
pub mod rule;
mod types;

pub(crate) use types::{
    change_decoder, family_of, header, ip_from, put_ip, rtm, typed_dump, AF_BRIDGE, AF_INET, AF_INET6,
    AF_UNSPEC,
};
pub use types::{groups, validate_ifname, Change, IfIndex, MacAddr, RawAttr, Scope, Snapshot};

use crate::conn::Connection;
use crate::error::{Error, Result};
use crate::netns::Netns;
use crate::wire::names::Protocol;

/// An rtnetlink handle: links, addresses, routes, neighbours, FDB entries
/// and policy rules of one network namespace.
///
/// `Clone + Send + Sync`; clones share one connection (see
/// [`crate::conn`]): many tasks may use it at once.
///
/// ```no_run
/// # async fn demo() -> netplumb::Result<()> {
/// use netplumb::Rtnl;
/// let rt = Rtnl::new().await?;
/// for link in rt.links().list().try_collect().await? {
///     println!("{} {}", link.index, link.name);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Rtnl {
    conn: Connection,
}

impl Rtnl {
    /// Open a `NETLINK_ROUTE` connection in the calling thread's namespace.
    ///
    /// # Cancel safety
    /// Cancel safe: nothing is left behind.
    pub async fn new() -> Result<Rtnl> {
        Ok(Rtnl { conn: Connection::new(Protocol::Route).await? })
    }

    /// Open a `NETLINK_ROUTE` connection inside `netns` (created on a
    /// short-lived thread; no runtime thread changes namespace).
    ///
    /// # Cancel safety
    /// Cancel safe: the sockets are closed if the future is dropped.
    pub async fn new_in(netns: &Netns) -> Result<Rtnl> {
        Ok(Rtnl { conn: Connection::new_in(Protocol::Route, netns).await? })
    }

    /// Wrap an existing connection.
    ///
    /// # Errors
    /// [`Error::Invalid`] if it does not speak `NETLINK_ROUTE`.
    pub fn from_connection(conn: Connection) -> Result<Rtnl> {
        if conn.protocol() != Protocol::Route {
            return Err(Error::invalid("connection", "not a NETLINK_ROUTE connection"));
        }
        Ok(Rtnl { conn })
    }

    /// The underlying connection.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Links (network interfaces).
    pub fn links(&self) -> link::Links {
        link::Links::new(self.conn.clone())
    }

    /// IPv4 and IPv6 addresses.
    pub fn addresses(&self) -> addr::Addresses {
        addr::Addresses::new(self.conn.clone())
    }

    /// IPv4 and IPv6 routes.
    pub fn routes(&self) -> route::Routes {
        route::Routes::new(self.conn.clone())
    }

    /// ARP and NDP neighbour entries.
    pub fn neighbours(&self) -> neigh::Neighbours {
        neigh::Neighbours::new(self.conn.clone())
    }

    /// Bridge forwarding database (FDB) entries, including VXLAN ones.
    pub fn fdb(&self) -> neigh::Fdb {
        neigh::Fdb::new(self.conn.clone())
    }

    /// Nexthop objects (`ip nexthop`).
    pub fn nexthops(&self) -> nexthop::Nexthops {
        nexthop::Nexthops::new(self.conn.clone())
    }

    /// Bridge VLAN tables of ports and bridges (`bridge vlan`).
    pub fn bridge_vlans(&self) -> bridge_vlan::BridgeVlans {
        bridge_vlan::BridgeVlans::new(self.conn.clone())
    }

    /// Policy routing rules.
    pub fn rules(&self) -> rule::Rules {
        rule::Rules::new(self.conn.clone())
    }
}

impl From<Rtnl> for Connection {
    fn from(r: Rtnl) -> Connection {
        r.conn
    }
}
