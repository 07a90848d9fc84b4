//! Nexthop objects (`RTM_NEWNEXTHOP`, Linux 5.3+): next hops that live on
//! their own, with an id, and that routes reference (`ip route add DST
//! nhid ID`) — what `ip nexthop` does and what modern routing daemons
//! (FRR, bird) use. A group of nexthops with weights is itself a nexthop;
//! changing a group moves every route that uses it at once.
//!
//! | netplumb | `ip` |
//! |---|---|
//! | [`Nexthops::add`] | `ip nexthop add id N via GW dev LINK` / `blackhole` / `group A,W/B` |
//! | [`Nexthops::replace`] | `ip nexthop replace id N ...` |
//! | [`Nexthops::delete`] | `ip nexthop del id N` |
//! | [`Nexthops::get`] | `ip nexthop get id N` |
//! | [`Nexthops::list`] | `ip nexthop show` |
//! | [`Nexthops::flush`] | `ip nexthop flush` |
//! | [`Nexthops::events`], [`Nexthops::list_and_follow`] | `ip monitor nexthop` |
//! | [`crate::route::Route::nh_id`] | `ip route add DST nhid N` |
//!
//! ```no_run
//! # async fn demo(rt: &netplumb::Rtnl, eth0: netplumb::IfIndex) -> netplumb::Result<()> {
//! use netplumb::rtnl::nexthop::Nexthop;
//! let nh = rt.nexthops();
//! // ip nexthop add id 1 via 10.0.0.2 dev eth0
//! nh.add(&Nexthop::via(1, "10.0.0.2".parse().unwrap(), eth0)).await?;
//! nh.add(&Nexthop::via(2, "10.0.0.3".parse().unwrap(), eth0)).await?;
//! // ip nexthop add id 10 group 1,3/2
//! nh.add(&Nexthop::group(10, &[(1, 3), (2, 1)])).await?;
//! # Ok(()) }
//! ```

use std::net::IpAddr;

use crate::conn::{Connection, Dump, Request, Subscription};
use crate::error::{DecodeError, Error, Result};
use crate::rtnl::route::{RouteFlags, RouteProtocol};
use crate::rtnl::{
    self, groups, header, ip_from, put_ip, rtm, Change, IfIndex, RawAttr, Scope, Snapshot, AF_INET, AF_INET6,
    AF_UNSPEC,
};
use crate::wire::{attrs_after, AttrWriter, Msg, NLA_F_NESTED, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};

/// `NHA_*` attribute numbers (`include/uapi/linux/nexthop.h`).
#[allow(missing_docs)]
pub(crate) mod nha {
    pub const ID: u16 = 1;
    pub const GROUP: u16 = 2;
    pub const GROUP_TYPE: u16 = 3;
    pub const BLACKHOLE: u16 = 4;
    pub const OIF: u16 = 5;
    pub const GATEWAY: u16 = 6;
    pub const FDB: u16 = 11;
    pub const RES_GROUP: u16 = 12;
}

/// `NHA_RES_GROUP_BUCKETS` inside `NHA_RES_GROUP`.
const NHA_RES_GROUP_BUCKETS: u16 = 1;

/// Size of `struct nhmsg`.
pub const NHMSG_LEN: usize = 8;

/// One member of a nexthop group (`group ID,WEIGHT/...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GroupMember {
    /// The member nexthop's id.
    pub id: u32,
    /// Its weight, 1 to 256 (`ip` prints weights other than 1).
    pub weight: u16,
}

/// How a group spreads flows (`type mpath|resilient`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum GroupType {
    /// `mpath` (0): hash-threshold multipath, the default.
    #[default]
    Mpath,
    /// `resilient` (1): hash buckets that move as little as possible.
    Resilient,
    /// Any other value.
    Unknown(u16),
}

impl GroupType {
    /// From the raw value.
    pub fn from_raw(v: u16) -> GroupType {
        match v {
            0 => GroupType::Mpath,
            1 => GroupType::Resilient,
            v => GroupType::Unknown(v),
        }
    }
    /// The raw value.
    pub fn to_raw(self) -> u16 {
        match self {
            GroupType::Mpath => 0,
            GroupType::Resilient => 1,
            GroupType::Unknown(v) => v,
        }
    }
}

/// A nexthop object: a gateway and/or link, a blackhole, or a group of
/// other nexthops with weights.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Nexthop {
    /// Id (`id N`), 1 or more; routes reference it with `nhid N`.
    pub id: u32,
    /// Address family: `AF_INET`/`AF_INET6` for a gateway nexthop,
    /// `AF_UNSPEC` for a group.
    pub family: u8,
    /// Gateway (`via`).
    pub gateway: Option<IpAddr>,
    /// Output link (`dev`).
    pub oif: Option<IfIndex>,
    /// Drop what uses it (`blackhole`).
    pub blackhole: bool,
    /// Members of a group (`group 1,2/3`); empty for a single nexthop.
    pub group: Vec<GroupMember>,
    /// Group type (`type resilient`); `None` for the default (`mpath`).
    pub group_type: Option<GroupType>,
    /// Hash buckets of a resilient group (`buckets N`).
    pub buckets: Option<u16>,
    /// For VXLAN FDB entries (`fdb`).
    pub fdb: bool,
    /// Who installed it (`proto`); `unspec` by default, as with `ip`.
    pub protocol: RouteProtocol,
    /// Scope, as the kernel reports it (`link` with a gateway, `host`
    /// for a link alone).
    pub scope: Scope,
    /// Flags (`onlink`; `dead`/`linkdown` as reported).
    pub flags: RouteFlags,
    /// Attributes netplumb does not model, as sent.
    pub unknown: Vec<RawAttr>,
}

impl Nexthop {
    fn bare(id: u32, family: u8) -> Nexthop {
        Nexthop {
            id,
            family,
            gateway: None,
            oif: None,
            blackhole: false,
            group: Vec::new(),
            group_type: None,
            buckets: None,
            fdb: false,
            protocol: RouteProtocol::UNSPEC,
            scope: Scope::Universe,
            flags: RouteFlags::empty(),
            unknown: Vec::new(),
        }
    }
    /// `ip nexthop add id ID via GATEWAY dev LINK`.
    pub fn via(id: u32, gateway: IpAddr, oif: IfIndex) -> Nexthop {
        Nexthop { gateway: Some(gateway), oif: Some(oif), ..Nexthop::bare(id, rtnl::family_of(gateway)) }
    }
    /// `ip nexthop add id ID dev LINK` (a directly connected link).
    pub fn dev(id: u32, oif: IfIndex) -> Nexthop {
        Nexthop { oif: Some(oif), ..Nexthop::bare(id, AF_INET) }
    }
    /// `ip nexthop add id ID blackhole`.
    pub fn blackhole(id: u32) -> Nexthop {
        Nexthop { blackhole: true, ..Nexthop::bare(id, AF_INET) }
    }
    /// `ip nexthop add id ID group A,WA/B,WB...`: members as `(id,
    /// weight)`.
    pub fn group(id: u32, members: &[(u32, u16)]) -> Nexthop {
        Nexthop {
            group: members.iter().map(|&(id, weight)| GroupMember { id, weight }).collect(),
            ..Nexthop::bare(id, AF_UNSPEC)
        }
    }
    /// Make it an IPv6 nexthop (for `dev` and `blackhole` nexthops, which
    /// have no gateway to tell).
    pub fn v6(mut self) -> Self {
        self.family = AF_INET6;
        self
    }
    /// Set the group type (`type mpath`).
    pub fn group_type(mut self, t: GroupType) -> Self {
        self.group_type = Some(t);
        self
    }
    /// Make the group resilient with `buckets` hash buckets (`type
    /// resilient buckets N`).
    pub fn resilient(mut self, buckets: u16) -> Self {
        self.group_type = Some(GroupType::Resilient);
        self.buckets = Some(buckets);
        self
    }
    /// Mark the gateway as on-link (`onlink`).
    pub fn onlink(mut self) -> Self {
        self.flags |= RouteFlags::ONLINK;
        self
    }
    /// Use it for VXLAN FDB entries (`fdb`).
    pub fn fdb(mut self) -> Self {
        self.fdb = true;
        self
    }
    /// Record who installed it (`proto P`).
    pub fn protocol(mut self, p: RouteProtocol) -> Self {
        self.protocol = p;
        self
    }

    /// Check every field; nothing is sent when this fails.
    pub fn validate(&self) -> Result<()> {
        if self.id == 0 {
            return Err(Error::invalid("id", "nexthop ids start at 1"));
        }
        let kinds = [self.gateway.is_some() || self.oif.is_some(), self.blackhole, !self.group.is_empty()];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err(Error::invalid("nexthop", "exactly one of a gateway/link, blackhole or group"));
        }
        if let Some(g) = self.gateway {
            if rtnl::family_of(g) != self.family {
                return Err(Error::invalid("gateway", format!("{g} is not of the nexthop's family")));
            }
            if self.oif.is_none() && !self.fdb {
                return Err(Error::invalid("oif", "a gateway needs an output link"));
            }
        }
        if let Some(o) = self.oif {
            crate::rtnl::validate_lower("oif", o)?;
        }
        for (i, m) in self.group.iter().enumerate() {
            if m.id == 0 || m.id == self.id {
                return Err(Error::invalid(format!("group[{i}].id"), format!("{} cannot be a member", m.id)));
            }
            if !(1..=256).contains(&m.weight) {
                return Err(Error::invalid(
                    format!("group[{i}].weight"),
                    format!("{} is not in 1..=256", m.weight),
                ));
            }
            if self.group[..i].iter().any(|o| o.id == m.id) {
                return Err(Error::invalid(format!("group[{i}].id"), format!("{} is given twice", m.id)));
            }
        }
        if self.group_type.is_some() && self.group.is_empty() {
            return Err(Error::invalid("group_type", "only a group has a type"));
        }
        if self.group_type == Some(GroupType::Resilient) && self.buckets.unwrap_or(0) == 0 {
            return Err(Error::invalid("buckets", "a resilient group needs its number of buckets"));
        }
        Ok(())
    }

    /// Encode the `RTM_NEWNEXTHOP` payload (pure).
    pub fn write(&self, w: &mut AttrWriter<'_>) {
        let mut h = [0u8; NHMSG_LEN];
        h[0] = self.family;
        h[2] = self.protocol.0;
        h[4..8].copy_from_slice(&(self.flags.bits() & 0xff).to_ne_bytes());
        w.raw(&h);
        w.u32(nha::ID, self.id);
        if !self.group.is_empty() {
            let mut b = Vec::with_capacity(8 * self.group.len());
            for m in &self.group {
                b.extend_from_slice(&m.id.to_ne_bytes());
                b.push((m.weight.clamp(1, 256) - 1) as u8);
                b.extend_from_slice(&[0, 0, 0]);
            }
            w.bytes(nha::GROUP, &b);
        }
        if let Some(b) = self.buckets {
            w.nest(nha::RES_GROUP | NLA_F_NESTED, |w| {
                w.u16(NHA_RES_GROUP_BUCKETS, b);
            });
        }
        if let Some(t) = self.group_type {
            w.u16(nha::GROUP_TYPE, t.to_raw());
        }
        if self.blackhole {
            w.flag(nha::BLACKHOLE);
        }
        if let Some(o) = self.oif {
            w.u32(nha::OIF, o.0);
        }
        if let Some(g) = self.gateway {
            put_ip(w, nha::GATEWAY, g);
        }
        if self.fdb {
            w.flag(nha::FDB);
        }
    }

    /// Decode an `RTM_NEWNEXTHOP`/`RTM_DELNEXTHOP` message.
    pub fn parse(m: &Msg<'_>) -> Result<Nexthop, DecodeError> {
        let h = header::<NHMSG_LEN>(m.payload, "nhmsg")?;
        let mut n = Nexthop::bare(0, h[0]);
        n.scope = Scope::from_raw(h[1]);
        n.protocol = RouteProtocol(h[2]);
        n.flags = RouteFlags::from_bits_retain(u32::from_ne_bytes(h[4..8].try_into().expect("4")));
        let mut id = None;
        for a in attrs_after(m.payload, NHMSG_LEN) {
            let a = a?;
            match a.kind() {
                nha::ID => id = Some(a.u32()?),
                nha::GROUP => {
                    if a.payload.len() % 8 != 0 {
                        return Err(DecodeError::new("NHA_GROUP", format!("{} bytes", a.payload.len())));
                    }
                    n.group = a
                        .payload
                        .chunks_exact(8)
                        .map(|c| GroupMember {
                            id: u32::from_ne_bytes(c[..4].try_into().expect("4")),
                            // weight - 1 in the low byte, weight_high (6.12+)
                            // in the next one.
                            weight: u16::from_ne_bytes([c[4], c[5]]) + 1,
                        })
                        .collect();
                }
                nha::GROUP_TYPE => n.group_type = Some(GroupType::from_raw(a.u16()?)),
                nha::RES_GROUP => {
                    for r in a.nested() {
                        let r = r?;
                        if r.kind() == NHA_RES_GROUP_BUCKETS {
                            n.buckets = Some(r.u16()?);
                        }
                    }
                }
                nha::BLACKHOLE => n.blackhole = true,
                nha::OIF => n.oif = Some(IfIndex(a.u32()?)),
                nha::GATEWAY => n.gateway = Some(ip_from(a.payload, "NHA_GATEWAY")?),
                nha::FDB => n.fdb = true,
                _ => n.unknown.push(RawAttr::from(a)),
            }
        }
        n.id = id.ok_or_else(|| DecodeError::new("nexthop", "no NHA_ID"))?;
        Ok(n)
    }
}

fn decode(m: &Msg<'_>) -> Result<Nexthop, DecodeError> {
    Nexthop::parse(m)
}

fn id_request(ty: u16, flags: u16, id: u32) -> Request {
    Request::new(ty, flags, |w| {
        w.raw(&[0u8; NHMSG_LEN]);
        w.u32(nha::ID, id);
    })
}

/// Operations on nexthop objects (see the [module docs](self)). Get one
/// from [`crate::Rtnl::nexthops`].
#[derive(Clone, Debug)]
pub struct Nexthops {
    conn: Connection,
}

impl Nexthops {
    /// Nexthops on `conn` (a `NETLINK_ROUTE` connection).
    pub fn new(conn: Connection) -> Nexthops {
        Nexthops { conn }
    }

    /// Add a nexthop: `ip nexthop add id N ...`.
    ///
    /// # Errors
    /// [`Error::Invalid`] (nothing sent); `EEXIST` if the id is taken;
    /// `EINVAL` for a group naming a missing member; `ENETDOWN` ("Device
    /// for nexthop is not up") when the link, or `lo` for a blackhole, is
    /// down; `EPERM` without `CAP_NET_ADMIN`.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// Once sent the request takes effect even if the future is dropped.
    #[doc(alias = "RTM_NEWNEXTHOP")]
    pub async fn add(&self, n: &Nexthop) -> Result<()> {
        n.validate()?;
        self.conn.ack(&Request::new(rtm::NEWNEXTHOP, NLM_F_CREATE | NLM_F_EXCL, |w| n.write(w))).await
    }

    /// Add or replace a nexthop: `ip nexthop replace id N ...`. Routes
    /// using it follow at once.
    ///
    /// # Errors
    /// As [`Nexthops::add`], without `EEXIST`.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// As [`Nexthops::add`].
    #[doc(alias = "RTM_NEWNEXTHOP")]
    pub async fn replace(&self, n: &Nexthop) -> Result<()> {
        n.validate()?;
        self.conn.ack(&Request::new(rtm::NEWNEXTHOP, NLM_F_CREATE | NLM_F_REPLACE, |w| n.write(w))).await
    }

    /// Delete nexthop `id`: `ip nexthop del id N`. Routes using it are
    /// deleted with it by the kernel.
    ///
    /// # Errors
    /// `ENOENT` ([`Error::is_not_found`]) if there is none.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// Once sent the request takes effect even if the future is dropped.
    #[doc(alias = "RTM_DELNEXTHOP")]
    pub async fn delete(&self, id: u32) -> Result<()> {
        if id == 0 {
            return Err(Error::invalid("id", "nexthop ids start at 1"));
        }
        self.conn.ack(&id_request(rtm::DELNEXTHOP, 0, id)).await
    }

    /// Nexthop `id`: `ip nexthop get id N`.
    ///
    /// # Errors
    /// [`Error::NotFound`] ([`Error::is_not_found`]) if there is none.
    ///
    /// # Privileges
    /// None: reading needs no privilege.
    ///
    /// # Cancel safety
    /// Cancel safe: nothing changes.
    #[doc(alias = "RTM_GETNEXTHOP")]
    pub async fn get(&self, id: u32) -> Result<Nexthop> {
        if id == 0 {
            return Err(Error::invalid("id", "nexthop ids start at 1"));
        }
        let what = || format!("nexthop {id}");
        let replies = match self.conn.request(&id_request(rtm::GETNEXTHOP, 0, id)).await {
            Ok(r) => r,
            Err(e) if e.is_not_found() => return Err(Error::NotFound { what: what() }),
            Err(e) => return Err(e),
        };
        let m = replies
            .iter()
            .find(|m| m.header.ty == rtm::NEWNEXTHOP)
            .ok_or_else(|| Error::NotFound { what: what() })?;
        Ok(Nexthop::parse(&m.as_msg())?)
    }

    /// Every nexthop: `ip nexthop show`. A stream (see [`Dump`]).
    ///
    /// # Privileges
    /// None: reading needs no privilege.
    ///
    /// # Cancel safety
    /// Dropping the stream abandons the dump.
    #[doc(alias = "RTM_GETNEXTHOP")]
    pub fn list(&self) -> Dump<Nexthop> {
        let req = Request::new(rtm::GETNEXTHOP, 0, |w| {
            w.raw(&[0u8; NHMSG_LEN]);
        });
        rtnl::typed_dump(&self.conn, &req, rtm::NEWNEXTHOP, decode)
    }

    /// Delete every nexthop, groups first (`ip nexthop flush`); routes
    /// using them go too. Returns how many were deleted.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// Nexthops deleted before the future is dropped stay deleted.
    pub async fn flush(&self) -> Result<usize> {
        let mut all: Vec<Nexthop> = self.list().try_collect().await?;
        all.sort_by_key(|n| n.group.is_empty());
        let mut n = 0;
        for nh in &all {
            match self.delete(nh.id).await {
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
                Ok(()) => n += 1,
            }
        }
        Ok(n)
    }

    /// Follow nexthop changes (`ip monitor nexthop`).
    ///
    /// # Privileges
    /// None: reading needs no privilege.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn events(&self) -> Result<Subscription<Change<Nexthop>>> {
        self.conn
            .subscribe(
                &[groups::NEXTHOP],
                None,
                rtnl::change_decoder(rtm::NEWNEXTHOP, rtm::DELNEXTHOP, decode),
            )
            .await
    }

    /// Subscribe, then list (see [`Snapshot`]).
    ///
    /// # Privileges
    /// None: reading needs no privilege.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn list_and_follow(&self) -> Result<Snapshot<Nexthop>> {
        let events = self.events().await?;
        let existing = self.list().try_collect().await?;
        Ok(Snapshot { existing, events })
    }
}
