//! rtnetlink (`NETLINK_ROUTE`): links, addresses, routes, neighbours, FDB
//! entries and policy rules, and the handle that hands them out.
//!
//! [`Rtnl`] wraps a [`Connection`] speaking `NETLINK_ROUTE` and hands out
//! one cheap handle per area: [`Rtnl::links`], [`Rtnl::addresses`],
//! [`Rtnl::routes`], [`Rtnl::neighbours`], [`Rtnl::fdb`], [`Rtnl::rules`],
//! [`Rtnl::nexthops`], [`Rtnl::tc`].
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
pub mod tc;
mod types;

pub(crate) use types::{
    change_decoder, family_of, header, ip_from, put_ip, rtm, typed_dump, validate_lower, validate_mtu,
    AF_BRIDGE, AF_INET, AF_INET6, AF_UNSPEC,
};
pub use types::{groups, validate_ifname, Change, IfIndex, MacAddr, RawAttr, Scope, Snapshot};

use crate::conn::Connection;
use crate::error::{Error, Result};
use crate::names::Protocol;
use crate::netns::Netns;

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
///
/// The accessors return references into the handle, so requests can be
/// awaited together without binding each accessor first, and every request
/// future is `Send` (it can be spawned):
///
/// ```no_run
/// # async fn demo(a: &str) -> netplumb::Result<()> {
/// use netplumb::Rtnl;
/// let rt = Rtnl::new().await?;
/// let (a, lo) = tokio::join!(rt.links().get(a), rt.links().get("lo"));
/// let (_a, _lo) = (a?, lo?);
/// tokio::select! {
///     l = rt.links().get("eth0") => println!("{}", l?.index),
///     _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => println!("timed out"),
/// }
/// fn is_send<T: Send>(t: T) -> T { t }
/// let added = is_send(rt.links().set("lo", &netplumb::link::LinkChange::new().up())).await;
/// # let _ = added;
/// let handle = tokio::spawn({
///     let rt = rt.clone();
///     async move { rt.addresses().list().try_collect().await }
/// });
/// # let _ = handle;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Rtnl {
    conn: Connection,
    // The per-area handles, built once, so that the accessors return
    // references into `self`: a future from `rt.links().get(..)` borrows
    // `rt`, not a temporary, and `join!`/`select!` over such futures
    // compile.
    links: link::Links,
    addresses: addr::Addresses,
    routes: route::Routes,
    neighbours: neigh::Neighbours,
    fdb: neigh::Fdb,
    rules: rule::Rules,
}

impl Rtnl {
    /// Open a `NETLINK_ROUTE` connection in the calling thread's namespace.
    ///
    /// # Cancel safety
    /// Cancel safe: nothing is left behind.
    pub async fn new() -> Result<Rtnl> {
        Ok(Rtnl::wrap(Connection::new(Protocol::Route).await?))
    }

    /// Open a `NETLINK_ROUTE` connection inside `netns` (created on a
    /// short-lived thread; no runtime thread changes namespace).
    ///
    /// # Cancel safety
    /// Cancel safe: the sockets are closed if the future is dropped.
    pub async fn new_in(netns: &Netns) -> Result<Rtnl> {
        Ok(Rtnl::wrap(Connection::new_in(Protocol::Route, netns).await?))
    }

    /// Wrap an existing connection.
    ///
    /// # Errors
    /// [`Error::Invalid`] if it does not speak `NETLINK_ROUTE`.
    pub fn from_connection(conn: Connection) -> Result<Rtnl> {
        if conn.protocol() != Protocol::Route {
            return Err(Error::invalid("connection", "not a NETLINK_ROUTE connection"));
        }
        Ok(Rtnl::wrap(conn))
    }

    fn wrap(conn: Connection) -> Rtnl {
        Rtnl {
            links: link::Links::new(conn.clone()),
            addresses: addr::Addresses::new(conn.clone()),
            routes: route::Routes::new(conn.clone()),
            neighbours: neigh::Neighbours::new(conn.clone()),
            fdb: neigh::Fdb::new(conn.clone()),
            rules: rule::Rules::new(conn.clone()),
            conn,
        }
    }

    /// The underlying connection.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Links (network interfaces).
    pub fn links(&self) -> &link::Links {
        &self.links
    }

    /// IPv4 and IPv6 addresses.
    pub fn addresses(&self) -> &addr::Addresses {
        &self.addresses
    }

    /// IPv4 and IPv6 routes.
    pub fn routes(&self) -> &route::Routes {
        &self.routes
    }

    /// ARP and NDP neighbour entries.
    pub fn neighbours(&self) -> &neigh::Neighbours {
        &self.neighbours
    }

    /// Bridge forwarding database (FDB) entries, including VXLAN ones.
    pub fn fdb(&self) -> &neigh::Fdb {
        &self.fdb
    }

    /// Nexthop objects (`ip nexthop`).
    pub fn nexthops(&self) -> nexthop::Nexthops {
        nexthop::Nexthops::new(self.conn.clone())
    }

    /// Traffic control: qdiscs, classes, filters and chains (`tc`).
    pub fn tc(&self) -> tc::Tc {
        tc::Tc::new(self.conn.clone())
    }

    /// Bridge VLAN tables of ports and bridges (`bridge vlan`).
    pub fn bridge_vlans(&self) -> bridge_vlan::BridgeVlans {
        bridge_vlan::BridgeVlans::new(self.conn.clone())
    }

    /// Policy routing rules.
    pub fn rules(&self) -> &rule::Rules {
        &self.rules
    }
}

impl From<Rtnl> for Connection {
    fn from(r: Rtnl) -> Connection {
        r.conn
    }
}
