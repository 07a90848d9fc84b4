//! # netplumb
//!
//! Typed, async control of Linux networking through netlink: network
//! namespaces, links, addresses, routes, neighbours, conntrack and nftables
//! transactions. The building blocks a CNI plugin or a service proxy is made
//! of, with errors that carry the kernel's own words.
//!
//! ## Layers
//!
//! Lowest first; a module uses only the ones above it in this list (the
//! repository's DESIGN.md has the rules and where new code goes).
//!
//! - [`names`] and [`error`]: protocol and message-type names (also at
//!   [`wire::names`]) and the vocabulary of errors.
//! - [`wire`]: pure encoding and decoding of netlink messages (no I/O).
//! - [`netns`]: namespaces that cannot bite: `setns` only ever happens on
//!   short-lived threads netplumb owns.
//! - [`conn`]: one netlink socket pair: requests and acks, dumps as
//!   streams, bulk batches, atomic transactions, event subscriptions.
//! - The families, independent of each other:
//!   - [`rtnl`]: links, addresses, routes, neighbours and rules
//!     (`NETLINK_ROUTE`), and the [`Rtnl`] handle that hands them out
//!     (also at [`link`], [`addr`], [`route`], [`neigh`], [`rule`]).
//!   - [`conntrack`]: the connection tracking table, as `conntrack` sees it.
//!   - [`nft`]: nftables: tables, chains, rules from typed expressions, sets
//!     and maps, named objects, atomic transactions, listing and rendering
//!     in `nft` syntax.
//!
//! ## Quick start
//!
//! ```no_run
//! use netplumb::{conn::Connection, netns::Netns, wire::names::Protocol};
//!
//! # async fn demo() -> netplumb::Result<()> {
//! // A named namespace, visible to `ip netns list`.
//! let ns = Netns::create_named("demo").await?;
//! // A connection whose socket lives inside it.
//! let conn = Connection::new_in(Protocol::Route, &ns).await?;
//! # let _ = conn;
//! // Sysctls are per namespace too.
//! ns.sysctl_set("net.ipv4.ip_forward", "1").await?;
//! Netns::remove_named("demo")?;
//! # Ok(()) }
//! ```
//!
//! ## Links, addresses, routes, neighbours (rtnetlink)
//!
//! [`Rtnl`] is the handle: [`Rtnl::links`] ([`link`]),
//! [`Rtnl::addresses`] ([`addr`]), [`Rtnl::routes`] ([`route`]),
//! [`Rtnl::neighbours`] and [`Rtnl::fdb`] ([`neigh`]), [`Rtnl::rules`]
//! ([`rule`]). The verbs match across them: `add`, `replace`, `set`,
//! `delete`, `get` (one object or [`Error::NotFound`]), `list` (a
//! constant-memory stream, with kernel-side filters), `flush`, `events`
//! and `list_and_follow` (subscribe, list, follow: no gap). Bulk variants
//! (`add_many`, [`link::Links::delete_group`]) pack many requests per
//! datagram. Input is checked before anything is sent, and errors name the
//! field (`invalid peer.name: ...`). IPv4 and IPv6 routes are distinct
//! types ([`route::RouteV4`], [`route::RouteV6`]).
//!
//! A pod network, as a CNI bridge plugin builds it:
//!
//! ```no_run
//! use netplumb::link::{Bridge, BridgePort, LinkChange, NewLink, Veth, VethPeer};
//! use netplumb::{addr::Address, netns::Netns, route::RouteV4, Rtnl};
//!
//! # async fn demo() -> netplumb::Result<()> {
//! let pod = Netns::open_named("pod1")?;
//! let (host, inside) = (Rtnl::new().await?, Rtnl::new_in(&pod).await?);
//! host.links().add(&NewLink::new("cni0", Bridge::new().stp(false)).up()).await?;
//! let br = host.links().get("cni0").await?;
//! // One request: the host end, and its peer created as eth0 inside the pod.
//! host.links().add(&NewLink::new("veth1a2b", Veth::new(VethPeer::new("eth0").netns(&pod))).master(br.index).up()).await?;
//! host.links().set("veth1a2b", &LinkChange::new().bridge_port(BridgePort::new().hairpin(true))).await?;
//! let eth0 = inside.links().get("eth0").await?;
//! inside.links().set(eth0.index, &LinkChange::new().up()).await?;
//! inside.addresses().add(&Address::new(eth0.index, "10.244.1.5/24".parse().unwrap())).await?;
//! inside.routes().add(&RouteV4::new("0.0.0.0/0".parse().unwrap()).gateway("10.244.1.1".parse().unwrap())).await?;
//! # Ok(()) }
//! ```
//!
//! ## Conntrack
//!
//! [`conntrack::Conntrack`] lists, gets, creates, updates and deletes flows
//! of a namespace, flushes, counts and follows events. Listings are streams
//! with constant memory; a [`conntrack::Filter`] is applied by the kernel
//! where it can and always rechecked, so results do not depend on the
//! kernel version. Bulk creation and filtered deletion pack many requests
//! per datagram. [`conntrack::Flow::to_conntrack_line`] prints a flow as
//! `conntrack -L` does; [`conntrack::Flow::nat`] tells where a flow was
//! translated to.
//!
//! ```no_run
//! use netplumb::conntrack::{Conntrack, Filter, IpProto};
//!
//! # async fn demo(ns: &netplumb::netns::Netns) -> netplumb::Result<()> {
//! let ct = Conntrack::open_in(ns).await?;
//! // conntrack -D -p udp -d 10.96.0.10 --dport 53
//! let svc = Filter::new().proto(IpProto::UDP).orig_dst("10.96.0.10".parse().unwrap()).orig_dst_port(53);
//! let deleted = ct.delete_many(&svc).await?;
//! # let _ = deleted;
//! # Ok(()) }
//! ```
//!
//! ## nftables
//!
//! Changes are collected in an [`nft::Transaction`] and applied by
//! [`nft::Nft::commit`] as one nfnetlink batch in one datagram, as
//! `nft -f` does: all or nothing. A rejected operation is named in the
//! error (`operation 3: add rule to ip kube-proxy/nat-prerouting failed: ...
//! kernel says "..."`), rule handles come back per operation, and an
//! optional generation guard refuses a transaction if the ruleset changed
//! since it was read. Rules are built with [`nft::RuleBuilder`], which
//! emits the same expressions `nft` would; anything listed prints in `nft`
//! syntax.
//!
//! ```no_run
//! use netplumb::nft::{expr::NatFlags, Chain, ChainType, Family, Field, Hook, Nft};
//! use netplumb::nft::{Policy, RuleBuilder, Table, Transaction};
//!
//! # async fn demo() -> netplumb::Result<()> {
//! let nft = Nft::new().await?;
//! let mut tx = Transaction::new();
//! tx.add_table(&Table::new(Family::Ip, "cni-masq"))?;
//! tx.add_chain(&Chain::new(Family::Ip, "cni-masq", "postrouting")
//!     .base(ChainType::Nat, Hook::Postrouting, 100)
//!     .policy(Policy::Accept))?;
//! let masq = RuleBuilder::new(Family::Ip, "cni-masq", "postrouting")
//!     .prefix(Field::IP_SADDR, "10.88.0.0/16".parse().unwrap(), false)
//!     .prefix(Field::IP_DADDR, "10.88.0.0/16".parse().unwrap(), true)
//!     .masquerade(NatFlags::FULLY_RANDOM)
//!     .build()?;
//! tx.add_rule(&masq)?;
//! nft.commit(&tx).await?;
//! print!("{}", nft.ruleset().await?); // as `nft list ruleset` prints it
//! # Ok(()) }
//! ```
//!
//! ## Privileges
//!
//! Reading is mostly unprivileged; changing anything, creating namespaces
//! and raising socket buffers past `rmem_max` need `CAP_NET_ADMIN` (run as
//! root). An `EPERM` from the kernel says so in its message.
//!
//! ## Debugging
//!
//! Every [`Error::Kernel`] names the request (`RTM_NEWLINK`), its sequence
//! number, the errno and the kernel's extended-ack message, e.g.
//! `RTM_NEWLINK (seq 7) failed: Invalid argument (EINVAL): kernel says
//! "Attribute failed policy validation"`. [`conn::Connection::stats`]
//! counts messages that were rejected (not from the kernel) or unmatched.

#![warn(missing_docs)]
// Every unsafe operation sits in its own block with a `// SAFETY:` comment
// saying why it holds, even inside an `unsafe fn`.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod conn;
pub mod conntrack;
pub mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod names;
pub mod netns;
pub mod nft;
pub mod rtnl;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod wire;

pub use error::{Errno, Error, KernelError, Result};
/// Shortcuts: `netplumb::link` is [`rtnl::link`], `netplumb::tc` is
/// [`rtnl::tc`], and so on.
pub use rtnl::{addr, link, neigh, route, rule, tc};
pub use rtnl::{IfIndex, MacAddr, Rtnl};
