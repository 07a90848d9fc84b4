//! Bridge VLAN tables (`bridge vlan`): which VLANs a bridge port — or the
//! bridge device itself — carries, which one is its PVID (untagged frames
//! coming in are put in it) and which leave untagged.
//!
//! The kernel filters by these tables only on a bridge with VLAN filtering
//! on ([`crate::link::Bridge::vlan_filtering`], `ip link add BR type bridge
//! vlan_filtering 1`), and only when it is built with
//! `CONFIG_BRIDGE_VLAN_FILTERING`; without it every request here fails with
//! the kernel's `EOPNOTSUPP`.
//!
//! | netplumb | `bridge` |
//! |---|---|
//! | [`BridgeVlans::add`] with [`VlanTarget::Master`] | `bridge vlan add dev PORT vid N [pvid] [untagged] master` |
//! | [`BridgeVlans::add`] with [`VlanTarget::Itself`] | `bridge vlan add dev BR vid N self` |
//! | [`BridgeVlans::add`] with a [`VlanEntry::range`] | `bridge vlan add dev PORT vid N-M` |
//! | [`BridgeVlans::delete`] | `bridge vlan del dev PORT vid N [master\|self]` |
//! | [`BridgeVlans::list`] | `bridge vlan show` |
//!
//! The requests are `RTM_SETLINK` (add) and `RTM_DELLINK` (delete) with
//! `ifi_family = AF_BRIDGE` and an `IFLA_AF_SPEC` nest holding
//! `IFLA_BRIDGE_FLAGS` (when a target is named) and one
//! `IFLA_BRIDGE_VLAN_INFO` (`struct bridge_vlan_info { u16 flags; u16 vid
//! }`) per VLAN, or a `RANGE_BEGIN`/`RANGE_END` pair per range. The
//! listing is an `AF_BRIDGE` `RTM_GETLINK` dump with `IFLA_EXT_MASK =
//! RTEXT_FILTER_BRVLAN`, as `bridge vlan show` sends it.
//!
//! ```no_run
//! # async fn demo(rt: &netplumb::Rtnl, port: netplumb::IfIndex) -> netplumb::Result<()> {
//! use netplumb::rtnl::bridge_vlan::{VlanEntry, VlanTarget};
//! let vl = rt.bridge_vlans();
//! // bridge vlan del dev PORT vid 1 master
//! vl.delete(port, VlanTarget::Master, &[VlanEntry::new(1)]).await?;
//! // bridge vlan add dev PORT vid 100 pvid untagged master
//! vl.add(port, VlanTarget::Master, &[VlanEntry::new(100).pvid().untagged()]).await?;
//! // bridge vlan show
//! for p in vl.list().try_collect().await? {
//!     println!("{} {:?}", p.index, p.vlans);
//! }
//! # Ok(()) }
//! ```

use crate::conn::{Connection, Dump, Request};
use crate::error::{DecodeError, Error, Result};
use crate::rtnl::link::message::IfInfoMsg;
use crate::rtnl::{self, rtm, IfIndex, AF_BRIDGE};
use crate::wire::{AttrIter, AttrWriter, Msg};

/// `IFLA_*` numbers used here.
const IFLA_IFNAME: u16 = libc::IFLA_IFNAME;
const IFLA_MASTER: u16 = libc::IFLA_MASTER;
const IFLA_AF_SPEC: u16 = libc::IFLA_AF_SPEC;
const IFLA_EXT_MASK: u16 = libc::IFLA_EXT_MASK;
/// `RTEXT_FILTER_BRVLAN`: one `IFLA_BRIDGE_VLAN_INFO` per VLAN.
const RTEXT_FILTER_BRVLAN: u32 = libc::RTEXT_FILTER_BRVLAN as u32;
/// `RTM_SETLINK`.
const RTM_SETLINK: u16 = libc::RTM_SETLINK;

/// `IFLA_BRIDGE_*` inside `IFLA_AF_SPEC`.
const IFLA_BRIDGE_FLAGS: u16 = 0;
const IFLA_BRIDGE_VLAN_INFO: u16 = 2;

/// `BRIDGE_FLAGS_*`.
const BRIDGE_FLAGS_MASTER: u16 = 1;
const BRIDGE_FLAGS_SELF: u16 = 2;

/// `BRIDGE_VLAN_INFO_*` flags.
pub mod vlan_flags {
    /// `BRIDGE_VLAN_INFO_MASTER`: operate on the bridge device's own entry.
    pub const MASTER: u16 = 1 << 0;
    /// `BRIDGE_VLAN_INFO_PVID`: the port's PVID.
    pub const PVID: u16 = 1 << 1;
    /// `BRIDGE_VLAN_INFO_UNTAGGED`: frames leave untagged.
    pub const UNTAGGED: u16 = 1 << 2;
    /// `BRIDGE_VLAN_INFO_RANGE_BEGIN`.
    pub const RANGE_BEGIN: u16 = 1 << 3;
    /// `BRIDGE_VLAN_INFO_RANGE_END`.
    pub const RANGE_END: u16 = 1 << 4;
    /// `BRIDGE_VLAN_INFO_BRENTRY`: a global bridge entry (the bridge
    /// device's own VLANs are reported with it).
    pub const BRENTRY: u16 = 1 << 5;
    /// `BRIDGE_VLAN_INFO_ONLINK`.
    pub const ONLINK: u16 = 1 << 6;
}

/// Which VLAN table a request is about (`IFLA_BRIDGE_FLAGS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum VlanTarget {
    /// No `IFLA_BRIDGE_FLAGS`: the kernel takes the port's entry in its
    /// master bridge (what `bridge vlan add dev X vid N` sends).
    #[default]
    Default,
    /// `master` (`BRIDGE_FLAGS_MASTER`): the port's entry in its bridge.
    Master,
    /// `self` (`BRIDGE_FLAGS_SELF`): the device's own table — on a bridge,
    /// the bridge device's VLANs (what it sends and receives itself).
    Itself,
    /// `master self`: both.
    Both,
}

impl VlanTarget {
    fn flags(self) -> Option<u16> {
        match self {
            VlanTarget::Default => None,
            VlanTarget::Master => Some(BRIDGE_FLAGS_MASTER),
            VlanTarget::Itself => Some(BRIDGE_FLAGS_SELF),
            VlanTarget::Both => Some(BRIDGE_FLAGS_MASTER | BRIDGE_FLAGS_SELF),
        }
    }
}

/// One VLAN, or a range of VLANs with the same flags, of a port's table
/// (`vid N[-M] [pvid] [untagged]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VlanEntry {
    /// The (first) VLAN id, 1 to 4094.
    pub vid: u16,
    /// The last VLAN id of a range (`vid N-M`); equal to `vid` for one.
    pub last: u16,
    /// `pvid`: untagged frames coming in are put in this VLAN.
    pub pvid: bool,
    /// `untagged`: frames of this VLAN leave untagged.
    pub untagged: bool,
    /// Other `BRIDGE_VLAN_INFO_*` flags, as the kernel reported them
    /// ([`vlan_flags::BRENTRY`], [`vlan_flags::MASTER`]...); ignored when
    /// sending except `MASTER`.
    pub other_flags: u16,
}

impl VlanEntry {
    /// VLAN `vid` (tagged, not the PVID).
    pub fn new(vid: u16) -> VlanEntry {
        VlanEntry { vid, last: vid, pvid: false, untagged: false, other_flags: 0 }
    }
    /// VLANs `first` to `last` (`vid FIRST-LAST`).
    pub fn range(first: u16, last: u16) -> VlanEntry {
        VlanEntry { last, ..VlanEntry::new(first) }
    }
    /// Make it the PVID (`pvid`); only for a single VLAN.
    pub fn pvid(mut self) -> Self {
        self.pvid = true;
        self
    }
    /// Frames leave untagged (`untagged`).
    pub fn untagged(mut self) -> Self {
        self.untagged = true;
        self
    }

    /// Check the ids, as `bridge` does before sending.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming `vlan.vid`/`vlan.last`.
    pub fn validate(&self) -> Result<()> {
        for (field, v) in [("vlan.vid", self.vid), ("vlan.last", self.last)] {
            if !(1..=4094).contains(&v) {
                return Err(Error::invalid(field, format!("{v} is not a VLAN id in 1..=4094")));
            }
        }
        if self.last < self.vid {
            return Err(Error::invalid("vlan.last", format!("{} is below vid {}", self.last, self.vid)));
        }
        if self.pvid && self.last != self.vid {
            return Err(Error::invalid("vlan.pvid", "a range cannot be the PVID"));
        }
        Ok(())
    }

    fn base_flags(&self) -> u16 {
        let mut f = self.other_flags & vlan_flags::MASTER;
        if self.pvid {
            f |= vlan_flags::PVID;
        }
        if self.untagged {
            f |= vlan_flags::UNTAGGED;
        }
        f
    }

    /// Write the `IFLA_BRIDGE_VLAN_INFO` attribute(s): one, or a
    /// `RANGE_BEGIN`/`RANGE_END` pair.
    pub fn write(&self, w: &mut AttrWriter<'_>) {
        let info = |w: &mut AttrWriter<'_>, flags: u16, vid: u16| {
            let mut b = [0u8; 4];
            b[..2].copy_from_slice(&flags.to_ne_bytes());
            b[2..].copy_from_slice(&vid.to_ne_bytes());
            w.bytes(IFLA_BRIDGE_VLAN_INFO, &b);
        };
        let f = self.base_flags();
        if self.last == self.vid {
            info(w, f, self.vid);
        } else {
            info(w, f | vlan_flags::RANGE_BEGIN, self.vid);
            info(w, f | vlan_flags::RANGE_END, self.last);
        }
    }
}

/// The VLANs of one port (or bridge device), as one entry of `bridge vlan
/// show` (`bridge -j vlan show`: `{"ifname": .., "vlans": [..]}`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PortVlans {
    /// The port's (or bridge's) index.
    pub index: IfIndex,
    /// Its name.
    pub name: String,
    /// Its bridge (`IFLA_MASTER`; the bridge device names itself).
    pub master: Option<IfIndex>,
    /// Its VLANs in the kernel's order, each one entry (the dump is not
    /// compressed; a range the kernel sends anyway is kept as one entry).
    pub vlans: Vec<VlanEntry>,
}

impl PortVlans {
    /// The PVID, if any.
    pub fn pvid(&self) -> Option<u16> {
        self.vlans.iter().find(|v| v.pvid).map(|v| v.vid)
    }

    /// Decode one `AF_BRIDGE` `RTM_NEWLINK` message of the VLAN dump.
    ///
    /// # Errors
    /// [`DecodeError`] naming the malformed part.
    pub fn parse(m: &Msg<'_>) -> Result<PortVlans, DecodeError> {
        PortVlans::parse_payload(m.payload)
    }

    /// Decode the payload (`ifinfomsg` and attributes) of one message.
    ///
    /// # Errors
    /// [`DecodeError`] naming the malformed part.
    pub fn parse_payload(payload: &[u8]) -> Result<PortVlans, DecodeError> {
        let ifi = IfInfoMsg::parse(payload)?;
        let mut p = PortVlans { index: IfIndex(ifi.index as u32), ..PortVlans::default() };
        for a in AttrIter::new(&payload[16..]) {
            let a = a?;
            match a.kind() {
                IFLA_IFNAME => p.name = a.str()?.to_string(),
                IFLA_MASTER => p.master = Some(IfIndex(a.u32()?)),
                IFLA_AF_SPEC => p.vlans = parse_vlan_infos(a.payload)?,
                _ => {}
            }
        }
        Ok(p)
    }
}

/// Decode the `IFLA_BRIDGE_VLAN_INFO` members of an `AF_BRIDGE`
/// `IFLA_AF_SPEC`, joining `RANGE_BEGIN`/`RANGE_END` pairs.
///
/// # Errors
/// [`DecodeError`] for a short `bridge_vlan_info` or a range end without
/// its beginning.
pub fn parse_vlan_infos(b: &[u8]) -> Result<Vec<VlanEntry>, DecodeError> {
    let mut out = Vec::new();
    let mut begin: Option<(u16, u16)> = None;
    for a in AttrIter::new(b) {
        let a = a?;
        if a.kind() != IFLA_BRIDGE_VLAN_INFO {
            continue;
        }
        let raw: [u8; 4] = crate::wire::fixed(a.payload, "IFLA_BRIDGE_VLAN_INFO")?;
        let flags = u16::from_ne_bytes([raw[0], raw[1]]);
        let vid = u16::from_ne_bytes([raw[2], raw[3]]);
        let entry = |first: u16, last: u16, flags: u16| VlanEntry {
            vid: first,
            last,
            pvid: flags & vlan_flags::PVID != 0,
            untagged: flags & vlan_flags::UNTAGGED != 0,
            other_flags: flags
                & !(vlan_flags::PVID
                    | vlan_flags::UNTAGGED
                    | vlan_flags::RANGE_BEGIN
                    | vlan_flags::RANGE_END),
        };
        if flags & vlan_flags::RANGE_BEGIN != 0 {
            begin = Some((vid, flags));
        } else if flags & vlan_flags::RANGE_END != 0 {
            let (first, f) = begin
                .take()
                .ok_or_else(|| DecodeError::new("IFLA_BRIDGE_VLAN_INFO", "range end without a beginning"))?;
            out.push(entry(first, vid, f));
        } else {
            out.push(entry(vid, vid, flags));
        }
    }
    Ok(out)
}

/// The request `bridge vlan add` (`RTM_SETLINK`) or `bridge vlan del`
/// (`RTM_DELLINK`) sends for `entries` of `link`.
///
/// # Errors
/// [`Error::Invalid`] for an index 0, no entries, or a bad entry.
pub fn vlan_request(
    delete: bool,
    link: IfIndex,
    target: VlanTarget,
    entries: &[VlanEntry],
) -> Result<Request> {
    if link.0 == 0 || link.0 > i32::MAX as u32 {
        return Err(Error::invalid("link", format!("{} is not an interface index", link.0)));
    }
    if entries.is_empty() {
        return Err(Error::invalid("vlans", "no VLAN given"));
    }
    for e in entries {
        e.validate()?;
    }
    let ty = if delete { rtm::DELLINK } else { RTM_SETLINK };
    Ok(Request::new(ty, 0, |w| {
        w.raw(&IfInfoMsg { family: AF_BRIDGE, index: link.0 as i32, ..IfInfoMsg::default() }.to_bytes());
        w.nest(IFLA_AF_SPEC, |w| {
            if let Some(f) = target.flags() {
                w.u16(IFLA_BRIDGE_FLAGS, f);
            }
            for e in entries {
                e.write(w);
            }
        });
    }))
}

/// The dump request of `bridge vlan show`.
pub fn list_request() -> Request {
    Request::new(rtm::GETLINK, 0, |w| {
        w.raw(&IfInfoMsg { family: AF_BRIDGE, ..IfInfoMsg::default() }.to_bytes());
        w.u32(IFLA_EXT_MASK, RTEXT_FILTER_BRVLAN);
    })
}

/// Bridge VLAN tables (see the [module docs](self)). Get one from
/// [`crate::Rtnl::bridge_vlans`]; cheap to clone.
#[derive(Clone, Debug)]
pub struct BridgeVlans {
    conn: Connection,
}

impl BridgeVlans {
    /// Operations over `conn`.
    pub fn new(conn: Connection) -> BridgeVlans {
        BridgeVlans { conn }
    }

    /// Add VLANs to `link`'s table: `bridge vlan add dev LINK vid N[-M]
    /// [pvid] [untagged] [master|self]`. Adding an existing VLAN changes
    /// its flags; a new PVID replaces the old one.
    ///
    /// # Errors
    /// [`Error::Invalid`] (nothing sent); `EOPNOTSUPP` from a kernel
    /// without bridge VLAN filtering or for a link that is neither a
    /// bridge nor a bridge port; `EINVAL` for `self` on a port.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// Once sent the request takes effect even if the future is dropped.
    #[doc(alias = "RTM_SETLINK")]
    pub async fn add(&self, link: IfIndex, target: VlanTarget, entries: &[VlanEntry]) -> Result<()> {
        self.conn.ack(&vlan_request(false, link, target, entries)?).await
    }

    /// Remove VLANs from `link`'s table: `bridge vlan del dev LINK vid
    /// N[-M] [master|self]`. Only the ids count (`pvid`/`untagged` are
    /// ignored by the kernel).
    ///
    /// # Errors
    /// As [`BridgeVlans::add`]; `ENOENT` if a VLAN is not in the table.
    ///
    /// # Privileges
    /// `CAP_NET_ADMIN` in the connection's namespace (root).
    ///
    /// # Cancel safety
    /// Once sent the request takes effect even if the future is dropped.
    #[doc(alias = "RTM_DELLINK")]
    pub async fn delete(&self, link: IfIndex, target: VlanTarget, entries: &[VlanEntry]) -> Result<()> {
        self.conn.ack(&vlan_request(true, link, target, entries)?).await
    }

    /// Every bridge port and bridge with its VLANs: `bridge vlan show`.
    /// Links without VLANs come with an empty [`PortVlans::vlans`]
    /// (`bridge vlan show` leaves those out).
    ///
    /// # Privileges
    /// None: reading needs no privilege.
    ///
    /// # Cancel safety
    /// Dropping the stream abandons the dump; the connection drains the
    /// rest before its next dump.
    #[doc(alias = "RTM_GETLINK")]
    pub fn list(&self) -> Dump<PortVlans> {
        rtnl::typed_dump(&self.conn, &list_request(), rtm::NEWLINK, PortVlans::parse)
    }

    /// The VLANs of one link (empty if it has none or is not a bridge
    /// port).
    ///
    /// # Errors
    /// As [`BridgeVlans::list`].
    pub async fn of(&self, link: IfIndex) -> Result<Vec<VlanEntry>> {
        let all = self.list().try_collect().await?;
        Ok(all.into_iter().find(|p| p.index == link).map(|p| p.vlans).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_round_trips_through_the_decoder() {
        let req =
            vlan_request(false, IfIndex(4), VlanTarget::Default, &[VlanEntry::range(200, 210)]).unwrap();
        let p = PortVlans::parse_payload(&req.as_bytes()[16..]).unwrap();
        assert_eq!(p.index, IfIndex(4));
        assert_eq!(p.vlans, vec![VlanEntry::range(200, 210)]);
    }

    #[test]
    fn bad_entries_name_the_field() {
        let e =
            |v: VlanEntry| vlan_request(false, IfIndex(4), VlanTarget::Master, &[v]).unwrap_err().to_string();
        assert!(e(VlanEntry::new(0)).contains("vlan.vid"));
        assert!(e(VlanEntry::new(4095)).contains("vlan.vid"));
        assert!(e(VlanEntry::range(10, 5)).contains("vlan.last"));
        assert!(e(VlanEntry::range(10, 20).pvid()).contains("vlan.pvid"));
        assert!(vlan_request(false, IfIndex(0), VlanTarget::Master, &[VlanEntry::new(1)]).is_err());
        assert!(vlan_request(false, IfIndex(1), VlanTarget::Master, &[]).is_err());
    }

    #[test]
    fn range_end_without_begin_is_an_error() {
        let mut b = Vec::new();
        let mut raw = [0u8; 4];
        raw[..2].copy_from_slice(&vlan_flags::RANGE_END.to_ne_bytes());
        raw[2..].copy_from_slice(&5u16.to_ne_bytes());
        AttrWriter::new(&mut b).bytes(IFLA_BRIDGE_VLAN_INFO, &raw);
        assert!(parse_vlan_infos(&b).is_err());
    }
}
