//! Traffic control: qdiscs, classes, filters and their actions — what `tc`
//! does.
//!
//! Get the handles from [`crate::Rtnl::tc`]: [`Tc::qdiscs`],
//! [`Tc::classes`], [`Tc::filters`]. Each operation documents the `tc`
//! command it equals. Typed kinds: qdiscs [`Tbf`], [`Htb`] (classes
//! [`HtbClass`]), [`FqCodel`], [`Netem`], [`Prio`], `ingress`, `clsact`;
//! classifiers [`U32`], [`MatchAll`], [`Flower`]; actions [`Mirred`],
//! [`Gact`], [`Police`]. Anything else decodes to an `Other` value that
//! re-encodes its options byte for byte. Rates are [`Rate`]s in the units
//! `tc` takes, and the kernel's rate tables are computed as `tc` computes
//! them ([`rate`]).
//!
//! ```no_run
//! # async fn demo(rt: &netplumb::Rtnl, veth: netplumb::IfIndex, ifb: netplumb::IfIndex) -> netplumb::Result<()> {
//! use std::time::Duration;
//! use netplumb::tc::{Filter, Mirred, Qdisc, Rate, Tbf, TcHandle, U32, eth_p};
//! let tc = rt.tc();
//! // tc qdisc add dev veth root handle 1: tbf rate 10mbit burst 32kb latency 25ms
//! tc.qdiscs().add(&Qdisc::root(veth, TcHandle::new(1, 0), Tbf::with_latency(Rate::mbit(10), 32 * 1024, Duration::from_millis(25)))).await?;
//! // tc qdisc add dev veth ingress
//! tc.qdiscs().add(&Qdisc::ingress(veth)).await?;
//! // tc filter add dev veth parent ffff: protocol all prio 1 u32 match u32 0 0 action mirred egress redirect dev ifb
//! let f = Filter::new(veth, TcHandle::INGRESS_QDISC, 1, eth_p::ALL, U32::new().match_u32(0, 0, 0)?.action(Mirred::redirect(ifb)));
//! tc.filters().add(&f).await?;
//! for q in tc.qdiscs().list(Some(veth)).try_collect().await? {
//!     println!("{} {} sent {} bytes", q.kind.name(), q.handle, q.stats().map_or(0, |s| s.bytes));
//! }
//! # Ok(()) }
//! ```

pub mod action;
pub mod filter;
pub mod message;
pub mod qdisc;
pub mod rate;
pub mod types;

pub use action::{Action, ActionKind, Gact, Mirred, MirredKind, Police, TcGen, Verdict};
pub use filter::{FilterKind, Flower, MatchAll, U32Key, U32Sel, U32};
pub use message::{eth_p, u32_handle_string, Class, Filter, KernelInfo, Qdisc, Stats, TcHandle, TcHeader};
pub use qdisc::{ClassKind, FqCodel, Htb, HtbClass, Netem, Prio, QdiscKind, Tbf};
pub use rate::{Rate, RateSpec};

use crate::conn::{Batch, Connection, Dump, Request, Subscription};
use crate::error::{Error, Result};
use crate::rtnl::{self, Change, IfIndex};
use crate::wire::{AttrWriter, Msg, NLM_F_CREATE, NLM_F_ECHO, NLM_F_EXCL, NLM_F_REPLACE};

use message::TcHeader as Hdr;

/// `RTM_*` numbers of traffic control.
#[allow(missing_docs)]
pub mod rtm {
    pub const NEWQDISC: u16 = 36;
    pub const DELQDISC: u16 = 37;
    pub const GETQDISC: u16 = 38;
    pub const NEWTCLASS: u16 = 40;
    pub const DELTCLASS: u16 = 41;
    pub const GETTCLASS: u16 = 42;
    pub const NEWTFILTER: u16 = 44;
    pub const DELTFILTER: u16 = 45;
    pub const GETTFILTER: u16 = 46;
    pub const NEWCHAIN: u16 = 100;
    pub const DELCHAIN: u16 = 101;
    pub const GETCHAIN: u16 = 102;
}

/// `RTNLGRP_TC`: qdisc, class and filter changes.
pub const RTNLGRP_TC: u32 = 4;

/// A traffic-control change, as `tc monitor` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcEvent {
    /// A qdisc.
    Qdisc(Change<Qdisc>),
    /// A class.
    Class(Change<Class>),
    /// A filter.
    Filter(Change<Filter>),
}

/// Traffic control of one namespace. Get one from [`crate::Rtnl::tc`].
#[derive(Clone, Debug)]
pub struct Tc {
    conn: Connection,
}

impl Tc {
    /// Traffic control on `conn` (a `NETLINK_ROUTE` connection).
    pub fn new(conn: Connection) -> Tc {
        Tc { conn }
    }

    /// Qdiscs.
    pub fn qdiscs(&self) -> Qdiscs {
        Qdiscs { conn: self.conn.clone() }
    }

    /// Classes.
    pub fn classes(&self) -> Classes {
        Classes { conn: self.conn.clone() }
    }

    /// Filters.
    pub fn filters(&self) -> Filters {
        Filters { conn: self.conn.clone() }
    }

    /// Follow qdisc, class and filter changes: `tc monitor`.
    ///
    /// # Privileges
    /// None.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn events(&self) -> Result<Subscription<TcEvent>> {
        self.conn
            .subscribe(&[RTNLGRP_TC], None, |m: &Msg<'_>| {
                let ty = m.header.ty;
                let new = matches!(ty, rtm::NEWQDISC | rtm::NEWTCLASS | rtm::NEWTFILTER);
                Ok(match ty {
                    rtm::NEWQDISC | rtm::DELQDISC => Some(TcEvent::Qdisc(change(new, Qdisc::parse(m)?))),
                    rtm::NEWTCLASS | rtm::DELTCLASS => Some(TcEvent::Class(change(new, Class::parse(m)?))),
                    rtm::NEWTFILTER | rtm::DELTFILTER => {
                        Some(TcEvent::Filter(change(new, Filter::parse(m)?)))
                    }
                    _ => None,
                })
            })
            .await
    }
}

fn change<T>(new: bool, t: T) -> Change<T> {
    if new {
        Change::New(t)
    } else {
        Change::Deleted(t)
    }
}

fn header_request(ty: u16, flags: u16, h: Hdr) -> Request {
    Request::new(ty, flags, |w: &mut AttrWriter<'_>| {
        w.raw(&h.to_bytes());
    })
}

fn chain_request(ty: u16, flags: u16, ifindex: IfIndex, parent: TcHandle, chain: u32) -> Request {
    Request::new(ty, flags, |w: &mut AttrWriter<'_>| {
        w.raw(&Hdr { ifindex: ifindex.0 as i32, parent: parent.0, ..Hdr::default() }.to_bytes());
        w.u32(message::tca::CHAIN, chain);
    })
}

/// Operations on qdiscs: `tc qdisc`.
#[derive(Clone, Debug)]
pub struct Qdiscs {
    conn: Connection,
}

impl Qdiscs {
    /// Add a qdisc: `tc qdisc add dev DEV (root | ingress | clsact |
    /// parent P) [handle H] KIND ...`.
    ///
    /// # Errors
    /// [`Error::Invalid`] (nothing sent); `EEXIST` when one is there
    /// ("Exclusivity flag on, cannot modify"); `ENOENT` for an unknown kind
    /// or parent; `EINVAL` for bad settings (the kernel's message says
    /// which).
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// Once sent the request takes effect even if the future is dropped.
    #[doc(alias = "RTM_NEWQDISC")]
    pub async fn add(&self, q: &Qdisc) -> Result<()> {
        q.validate()?;
        self.conn.ack(&Request::new(rtm::NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, |w| q.write(w))).await
    }

    /// Add or replace: `tc qdisc replace dev DEV ...`.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` (root).
    ///
    /// # Cancel safety
    /// As [`Qdiscs::add`].
    #[doc(alias = "RTM_NEWQDISC")]
    pub async fn replace(&self, q: &Qdisc) -> Result<()> {
        q.validate()?;
        self.conn.ack(&Request::new(rtm::NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE, |w| q.write(w))).await
    }

    /// Change the settings of an existing qdisc of the same kind: `tc
    /// qdisc change dev DEV ...`.
    ///
    /// # Errors
    /// `ENOENT` when there is none.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` (root).
    ///
    /// # Cancel safety
    /// As [`Qdiscs::add`].
    #[doc(alias = "RTM_NEWQDISC")]
    pub async fn change(&self, q: &Qdisc) -> Result<()> {
        q.validate()?;
        self.conn.ack(&Request::new(rtm::NEWQDISC, 0, |w| q.write(w))).await
    }

    /// Delete: `tc qdisc del dev DEV (root | ingress | parent P) [handle
    /// H]`. Only device, parent and handle of `q` are used.
    ///
    /// # Errors
    /// `ENOENT`/`EINVAL` when there is none.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` (root).
    ///
    /// # Cancel safety
    /// As [`Qdiscs::add`].
    #[doc(alias = "RTM_DELQDISC")]
    pub async fn delete(&self, q: &Qdisc) -> Result<()> {
        if q.ifindex.0 == 0 {
            return Err(Error::invalid("qdisc.ifindex", "0 is not a device"));
        }
        self.conn.ack(&Request::new(rtm::DELQDISC, 0, |w| q.write_delete(w))).await
    }

    /// The qdisc of `ifindex` under `parent` (`root`, `ingress` or a
    /// class), with statistics: `tc -s qdisc show dev DEV parent P`.
    ///
    /// # Errors
    /// `ENOENT` when there is none.
    ///
    /// # Privileges
    /// None.
    ///
    /// # Cancel safety
    /// Cancel safe.
    #[doc(alias = "RTM_GETQDISC")]
    pub async fn get(&self, ifindex: IfIndex, parent: TcHandle) -> Result<Qdisc> {
        let h = Hdr { ifindex: ifindex.0 as i32, parent: parent.0, ..Hdr::default() };
        // The kernel answers a qdisc GET only to NLM_F_ECHO (qdisc_notify).
        let replies = self.conn.request(&header_request(rtm::GETQDISC, NLM_F_ECHO, h)).await?;
        let m = replies
            .iter()
            .find(|m| m.header.ty == rtm::NEWQDISC)
            .ok_or_else(|| Error::NotFound { what: format!("qdisc {parent} on {ifindex}") })?;
        Ok(Qdisc::parse(&m.as_msg())?)
    }

    /// Every qdisc, of one device or of all, with statistics: `tc -s qdisc
    /// show [dev DEV]`. A stream (see [`Dump`]).
    ///
    /// # Privileges
    /// None.
    ///
    /// # Cancel safety
    /// Dropping the stream abandons the dump.
    #[doc(alias = "RTM_GETQDISC")]
    pub fn list(&self, ifindex: Option<IfIndex>) -> Dump<Qdisc> {
        let h = Hdr { ifindex: ifindex.map_or(0, |i| i.0 as i32), ..Hdr::default() };
        let want = ifindex.map_or(0, |i| i.0);
        self.conn.dump(&header_request(rtm::GETQDISC, 0, h), move |m| {
            if m.header.ty != rtm::NEWQDISC {
                return Ok(None);
            }
            let q = Qdisc::parse(m).map_err(Error::Decode)?;
            // The kernel dumps every device's qdiscs whatever tcm_ifindex says.
            Ok((want == 0 || q.ifindex.0 == want).then_some(q))
        })
    }
}

/// Operations on classes: `tc class`.
#[derive(Clone, Debug)]
pub struct Classes {
    conn: Connection,
}

impl Classes {
    /// Add a class: `tc class add dev DEV parent P classid C KIND ...`.
    ///
    /// # Errors
    /// [`Error::Invalid`] (nothing sent); `EEXIST`; `ENOENT` when the
    /// parent does not exist.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` (root).
    ///
    /// # Cancel safety
    /// Once sent the request takes effect even if the future is dropped.
    #[doc(alias = "RTM_NEWTCLASS")]
    pub async fn add(&self, c: &Class) -> Result<()> {
        c.validate()?;
        self.conn.ack(&Request::new(rtm::NEWTCLASS, NLM_F_CREATE | NLM_F_EXCL, |w| c.write(w))).await
    }

    /// `tc class replace dev DEV ...`.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` (root).
    ///
    /// # Cancel safety
    /// As [`Classes::add`].
    #[doc(alias = "RTM_NEWTCLASS")]
    pub async fn replace(&self, c: &Class) -> Result<()> {
        c.validate()?;
        self.conn.ack(&Request::new(rtm::NEWTCLASS, NLM_F_CREATE | NLM_F_REPLACE, |w| c.write(w))).await
    }

    /// `tc class change dev DEV ...`.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` (root).
    ///
    /// # Cancel safety
    /// As [`Classes::add`].
    #[doc(alias = "RTM_NEWTCLASS")]
    pub async fn change(&self, c: &Class) -> Result<()> {
        c.validate()?;
        self.conn.ack(&Request::new(rtm::NEWTCLASS, 0, |w| c.write(w))).await
    }

    /// `tc class del dev DEV classid C` (device, parent and id of `c`).
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` (root).
    ///
    /// # Cancel safety
    /// As [`Classes::add`].
    #[doc(alias = "RTM_DELTCLASS")]
    pub async fn delete(&self, c: &Class) -> Result<()> {
        self.conn.ack(&Request::new(rtm::DELTCLASS, 0, |w| c.write_delete(w))).await
    }

    /// The classes of a device with statistics: `tc -s class show dev DEV`.
    ///
    /// # Privileges
    /// None.
    ///
    /// # Cancel safety
    /// Dropping the stream abandons the dump.
    #[doc(alias = "RTM_GETTCLASS")]
    pub fn list(&self, ifindex: IfIndex) -> Dump<Class> {
        let h = Hdr { ifindex: ifindex.0 as i32, ..Hdr::default() };
        rtnl::typed_dump(&self.conn, &header_request(rtm::GETTCLASS, 0, h), rtm::NEWTCLASS, Class::parse)
    }
}

/// Operations on filters: `tc filter`.
#[derive(Clone, Debug)]
pub struct Filters {
    conn: Connection,
}

impl Filters {
    /// Add a filter: `tc filter add dev DEV (parent P | ingress | egress)
    /// protocol PROTO prio N [handle H] KIND ...`.
    ///
    /// # Errors
    /// [`Error::Invalid`] (nothing sent); `EEXIST`; `ENOENT` for an
    /// unknown classifier or action ("TC classifier not found") or parent;
    /// `EINVAL` for bad settings.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` (root).
    ///
    /// # Cancel safety
    /// Once sent the request takes effect even if the future is dropped.
    #[doc(alias = "RTM_NEWTFILTER")]
    pub async fn add(&self, f: &Filter) -> Result<()> {
        f.validate()?;
        self.conn.ack(&Request::new(rtm::NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, |w| f.write(w))).await
    }

    /// `tc filter replace dev DEV ... handle H ...`.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` (root).
    ///
    /// # Cancel safety
    /// As [`Filters::add`].
    #[doc(alias = "RTM_NEWTFILTER")]
    pub async fn replace(&self, f: &Filter) -> Result<()> {
        f.validate()?;
        self.conn.ack(&Request::new(rtm::NEWTFILTER, NLM_F_CREATE | NLM_F_REPLACE, |w| f.write(w))).await
    }

    /// `tc filter change dev DEV ... handle H ...`.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` (root).
    ///
    /// # Cancel safety
    /// As [`Filters::add`].
    #[doc(alias = "RTM_NEWTFILTER")]
    pub async fn change(&self, f: &Filter) -> Result<()> {
        f.validate()?;
        self.conn.ack(&Request::new(rtm::NEWTFILTER, 0, |w| f.write(w))).await
    }

    /// Add many filters packed many per datagram (as `tc -batch` but
    /// without a reply per filter). All are attempted; failures come back
    /// together as [`Error::Batch`].
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` (root).
    ///
    /// # Cancel safety
    /// As [`Connection::bulk`].
    #[doc(alias = "RTM_NEWTFILTER")]
    pub async fn add_many<'a>(&self, filters: impl IntoIterator<Item = &'a Filter>) -> Result<()> {
        let mut batch = Batch::new();
        for f in filters {
            f.validate()?;
            batch.push(rtm::NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, |w| f.write(w));
        }
        self.conn.bulk(&batch).await
    }

    /// Delete: `tc filter del dev DEV parent P protocol PROTO prio N
    /// [handle H] KIND`. With handle 0, every filter of that priority.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` (root).
    ///
    /// # Cancel safety
    /// As [`Filters::add`].
    #[doc(alias = "RTM_DELTFILTER")]
    pub async fn delete(&self, f: &Filter) -> Result<()> {
        if f.ifindex.0 == 0 {
            return Err(Error::invalid("filter.ifindex", "0 is not a device"));
        }
        self.conn.ack(&Request::new(rtm::DELTFILTER, 0, |w| f.write_delete(w))).await
    }

    /// One filter, with statistics: `tc -s filter get dev DEV parent P
    /// protocol PROTO prio N handle H KIND`.
    ///
    /// # Errors
    /// `ENOENT` when there is none.
    ///
    /// # Privileges
    /// None.
    ///
    /// # Cancel safety
    /// Cancel safe.
    #[doc(alias = "RTM_GETTFILTER")]
    pub async fn get(&self, f: &Filter) -> Result<Filter> {
        let replies = self.conn.request(&Request::new(rtm::GETTFILTER, 0, |w| f.write_delete(w))).await?;
        let m = replies
            .iter()
            .find(|m| m.header.ty == rtm::NEWTFILTER)
            .ok_or_else(|| Error::NotFound { what: format!("filter {:#x} on {}", f.handle, f.ifindex) })?;
        Ok(Filter::parse(&m.as_msg())?)
    }

    /// Create an empty filter chain: `tc chain add dev DEV (parent P |
    /// ingress | egress) chain N`. Filters go into it with
    /// [`Filter::chain`]; `goto chain N` actions jump to it.
    ///
    /// # Errors
    /// `EEXIST` when it exists; `EINVAL` when the parent has no filter
    /// block.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` (root).
    ///
    /// # Cancel safety
    /// As [`Filters::add`].
    #[doc(alias = "RTM_NEWCHAIN")]
    pub async fn add_chain(&self, ifindex: IfIndex, parent: TcHandle, chain: u32) -> Result<()> {
        self.conn.ack(&chain_request(rtm::NEWCHAIN, NLM_F_CREATE | NLM_F_EXCL, ifindex, parent, chain)).await
    }

    /// Delete a chain and its filters: `tc chain del dev DEV (parent P |
    /// ingress | egress) chain N`.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` (root).
    ///
    /// # Cancel safety
    /// As [`Filters::add`].
    #[doc(alias = "RTM_DELCHAIN")]
    pub async fn delete_chain(&self, ifindex: IfIndex, parent: TcHandle, chain: u32) -> Result<()> {
        self.conn.ack(&chain_request(rtm::DELCHAIN, 0, ifindex, parent, chain)).await
    }

    /// The chains of a filter block: `tc chain show dev DEV (parent P |
    /// ingress | egress)`.
    ///
    /// # Privileges
    /// None.
    ///
    /// # Cancel safety
    /// Dropping the stream abandons the dump.
    #[doc(alias = "RTM_GETCHAIN")]
    pub fn chains(&self, ifindex: IfIndex, parent: TcHandle) -> Dump<u32> {
        let h = Hdr { ifindex: ifindex.0 as i32, parent: parent.0, ..Hdr::default() };
        self.conn.dump(&header_request(rtm::GETCHAIN, 0, h), |m| {
            if m.header.ty != rtm::NEWCHAIN {
                return Ok(None);
            }
            let mut chain = None;
            for a in crate::wire::attrs_after(m.payload, message::TCMSG_LEN) {
                let a = a.map_err(Error::Decode)?;
                if a.kind() == message::tca::CHAIN {
                    chain = Some(a.u32().map_err(Error::Decode)?);
                }
            }
            Ok(chain)
        })
    }

    /// The filters attached to `parent` on a device, with statistics: `tc
    /// -s filter show dev DEV parent P` (`ingress`/`egress` are
    /// [`TcHandle::CLSACT_INGRESS`]/[`TcHandle::CLSACT_EGRESS`]).
    ///
    /// # Privileges
    /// None.
    ///
    /// # Cancel safety
    /// Dropping the stream abandons the dump.
    #[doc(alias = "RTM_GETTFILTER")]
    pub fn list(&self, ifindex: IfIndex, parent: TcHandle) -> Dump<Filter> {
        let h = Hdr { ifindex: ifindex.0 as i32, parent: parent.0, ..Hdr::default() };
        rtnl::typed_dump(&self.conn, &header_request(rtm::GETTFILTER, 0, h), rtm::NEWTFILTER, Filter::parse)
    }
}
