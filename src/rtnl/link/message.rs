//! Pure encoding and decoding of link messages (`struct ifinfomsg` and
//! `IFLA_*` attributes): no I/O, usable on captured bytes, fuzzable.

use crate::error::DecodeError;
use crate::rtnl::{IfIndex, RawAttr};
use crate::wire::{attrs_after, AttrWriter, Msg};

pub(crate) use super::header::ifla;
pub use super::header::{IfInfoMsg, IFINFOMSG_LEN};
use super::kind::{BridgePort, LinkKind, PortInfo};
use super::{Link, LinkFlags, LinkStats, OperState};

/// Decode one `RTM_NEWLINK`/`RTM_DELLINK` message.
pub fn parse_link(m: &Msg<'_>) -> Result<Link, DecodeError> {
    parse_link_payload(m.payload)
}

/// Decode the payload of a link message (after the netlink header).
pub fn parse_link_payload(payload: &[u8]) -> Result<Link, DecodeError> {
    let ifi = IfInfoMsg::parse(payload)?;
    let mut l = Link {
        index: IfIndex(ifi.index as u32),
        link_type: ifi.link_type,
        flags: LinkFlags::from_bits_retain(ifi.flags),
        ..Link::default()
    };
    for a in attrs_after(payload, IFINFOMSG_LEN) {
        let a = a?;
        match a.kind() {
            ifla::IFNAME => l.name = a.str()?.to_string(),
            ifla::ADDRESS => l.address = Some(a.payload.to_vec()),
            ifla::BROADCAST => l.broadcast = Some(a.payload.to_vec()),
            ifla::PERM_ADDRESS => l.perm_address = Some(a.payload.to_vec()),
            ifla::MTU => l.mtu = Some(a.u32()?),
            ifla::MIN_MTU => l.min_mtu = Some(a.u32()?),
            ifla::MAX_MTU => l.max_mtu = Some(a.u32()?),
            ifla::LINK => l.link = Some(IfIndex(a.u32()?)),
            ifla::MASTER => l.master = Some(IfIndex(a.u32()?)),
            ifla::TXQLEN => l.txqlen = Some(a.u32()?),
            ifla::OPERSTATE => l.oper_state = OperState::from_raw(a.u8()?),
            ifla::GROUP => l.group = a.u32()?,
            ifla::IFALIAS => l.alias = Some(a.str()?.to_string()),
            ifla::LINK_NETNSID => l.link_netnsid = Some(a.i32()?),
            ifla::CARRIER => l.carrier = Some(a.u8()? != 0),
            ifla::PROMISCUITY => l.promiscuity = Some(a.u32()?),
            ifla::ALLMULTI => l.allmulti = Some(a.u32()?),
            ifla::NUM_TX_QUEUES => l.num_tx_queues = Some(a.u32()?),
            ifla::NUM_RX_QUEUES => l.num_rx_queues = Some(a.u32()?),
            ifla::GSO_MAX_SEGS => l.gso_max_segs = Some(a.u32()?),
            ifla::GSO_MAX_SIZE => l.gso_max_size = Some(a.u32()?),
            ifla::GRO_MAX_SIZE => l.gro_max_size = Some(a.u32()?),
            ifla::TSO_MAX_SIZE => l.tso_max_size = Some(a.u32()?),
            ifla::TSO_MAX_SEGS => l.tso_max_segs = Some(a.u32()?),
            ifla::PROTO_DOWN => l.proto_down = Some(a.u8()? != 0),
            ifla::CARRIER_CHANGES => l.carrier_changes = Some(a.u32()?),
            ifla::CARRIER_UP_COUNT => l.carrier_up_count = Some(a.u32()?),
            ifla::CARRIER_DOWN_COUNT => l.carrier_down_count = Some(a.u32()?),
            ifla::PROP_LIST => {
                for p in a.nested() {
                    let p = p?;
                    if p.kind() == ifla::ALT_IFNAME {
                        l.altnames.push(p.str()?.to_string());
                    } else {
                        l.prop_unknown.push(RawAttr::from(p));
                    }
                }
            }
            ifla::QDISC => l.qdisc = Some(a.str()?.to_string()),
            ifla::STATS64 => l.stats = Some(LinkStats::parse(a.payload)?),
            // The 32-bit copy of the statistics: STATS64 carries the same.
            ifla::STATS => {}
            ifla::LINKINFO => parse_linkinfo(&mut l, a.payload)?,
            _ => l.unknown.push(RawAttr::from(a)),
        }
    }
    if let Some(k) = &mut l.kind {
        set_lower(k, l.link);
    }
    Ok(l)
}

/// Lower devices travel in `IFLA_LINK`, outside the kind's data.
fn set_lower(kind: &mut LinkKind, link: Option<IfIndex>) {
    let lower = link.unwrap_or(IfIndex(0));
    match kind {
        LinkKind::Macvlan(m) | LinkKind::Macvtap(m) => m.link = lower,
        LinkKind::Ipvlan(i) => i.link = lower,
        LinkKind::Vlan(v) => v.link = lower,
        _ => {}
    }
}

/// Encode a link as the kernel reports it in `RTM_NEWLINK` (the inverse of
/// [`parse_link_payload`]): every field of [`Link`], unknown attributes
/// included, so that parsing the result gives the same [`Link`]. For
/// tests, fuzzing, benchmarks and programs that replay or emulate kernel
/// replies; to create or change a link use [`super::NewLink`] and
/// [`super::LinkChange`].
///
/// A kind's settings are written from [`Link::info_data`] when present
/// (the bytes as received), else from the typed [`Link::kind`].
///
/// # Panics
/// If one attribute would exceed 64 KiB (netlink's limit), which only
/// hand-built links with huge raw attributes reach.
pub fn write_link(l: &Link, w: &mut AttrWriter<'_>) {
    w.raw(
        &IfInfoMsg {
            family: 0,
            link_type: l.link_type,
            index: l.index.0 as i32,
            flags: l.flags.bits(),
            change: 0,
        }
        .to_bytes(),
    );
    w.str(ifla::IFNAME, &l.name);
    if let Some(q) = l.txqlen {
        w.u32(ifla::TXQLEN, q);
    }
    w.u8(ifla::OPERSTATE, l.oper_state.to_raw());
    if let Some(m) = l.mtu {
        w.u32(ifla::MTU, m);
    }
    if let Some(m) = l.min_mtu {
        w.u32(ifla::MIN_MTU, m);
    }
    if let Some(m) = l.max_mtu {
        w.u32(ifla::MAX_MTU, m);
    }
    w.u32(ifla::GROUP, l.group);
    if let Some(c) = l.carrier {
        w.u8(ifla::CARRIER, c as u8);
    }
    for (ty, v) in [
        (ifla::PROMISCUITY, l.promiscuity),
        (ifla::ALLMULTI, l.allmulti),
        (ifla::NUM_TX_QUEUES, l.num_tx_queues),
        (ifla::NUM_RX_QUEUES, l.num_rx_queues),
        (ifla::GSO_MAX_SEGS, l.gso_max_segs),
        (ifla::GSO_MAX_SIZE, l.gso_max_size),
        (ifla::GRO_MAX_SIZE, l.gro_max_size),
        (ifla::TSO_MAX_SIZE, l.tso_max_size),
        (ifla::TSO_MAX_SEGS, l.tso_max_segs),
        (ifla::CARRIER_CHANGES, l.carrier_changes),
        (ifla::CARRIER_UP_COUNT, l.carrier_up_count),
        (ifla::CARRIER_DOWN_COUNT, l.carrier_down_count),
    ] {
        if let Some(v) = v {
            w.u32(ty, v);
        }
    }
    if let Some(p) = l.proto_down {
        w.u8(ifla::PROTO_DOWN, p as u8);
    }
    if !l.altnames.is_empty() || !l.prop_unknown.is_empty() {
        w.nest(ifla::PROP_LIST, |w| {
            for n in &l.altnames {
                w.str(ifla::ALT_IFNAME, n);
            }
            RawAttr::write_all(w, &l.prop_unknown);
        });
    }
    if let Some(q) = &l.qdisc {
        w.str(ifla::QDISC, q);
    }
    if let Some(a) = &l.alias {
        w.str(ifla::IFALIAS, a);
    }
    if let Some(a) = &l.address {
        w.bytes(ifla::ADDRESS, a);
    }
    if let Some(b) = &l.broadcast {
        w.bytes(ifla::BROADCAST, b);
    }
    if let Some(p) = &l.perm_address {
        w.bytes(ifla::PERM_ADDRESS, p);
    }
    if let Some(s) = &l.stats {
        w.bytes(ifla::STATS64, &s.to_bytes());
    }
    if let Some(i) = l.link {
        w.u32(ifla::LINK, i.0);
    }
    if let Some(m) = l.master {
        w.u32(ifla::MASTER, m.0);
    }
    if let Some(n) = l.link_netnsid {
        w.i32(ifla::LINK_NETNSID, n);
    }
    if l.kind.is_some() || l.port.is_some() || !l.linkinfo_unknown.is_empty() {
        w.nest(ifla::LINKINFO, |w| {
            if let Some(k) = &l.kind {
                w.bytes(ifla::INFO_KIND, k.name().as_bytes());
                match &l.info_data {
                    Some(d) => {
                        w.bytes(ifla::INFO_DATA, d);
                    }
                    None => {
                        // Only settings beyond what "no INFO_DATA" decodes to.
                        let bare = LinkKind::decode(k.name(), None).map(|mut b| {
                            set_lower(&mut b, l.link);
                            b
                        });
                        if bare.as_ref() != Ok(k) {
                            k.write_data(w);
                        }
                    }
                }
            }
            match &l.port {
                Some(PortInfo::Bridge(p)) => {
                    w.bytes(ifla::INFO_SLAVE_KIND, b"bridge");
                    w.nest(ifla::INFO_SLAVE_DATA, |w| p.write_attrs(w));
                }
                Some(PortInfo::Other { kind, data }) => {
                    w.bytes(ifla::INFO_SLAVE_KIND, kind.as_bytes());
                    if let Some(d) = data {
                        w.bytes(ifla::INFO_SLAVE_DATA, d);
                    }
                }
                None => {}
            }
            RawAttr::write_all(w, &l.linkinfo_unknown);
        });
    }
    RawAttr::write_all(w, &l.unknown);
}

fn parse_linkinfo(l: &mut Link, payload: &[u8]) -> Result<(), DecodeError> {
    let mut kind: Option<&str> = None;
    let mut data: Option<&[u8]> = None;
    let mut slave_kind: Option<&str> = None;
    let mut slave_data: Option<&[u8]> = None;
    for a in crate::wire::AttrIter::new(payload) {
        let a = a?;
        match a.kind() {
            ifla::INFO_KIND => kind = Some(a.str()?),
            ifla::INFO_DATA => data = Some(a.payload),
            ifla::INFO_SLAVE_KIND => slave_kind = Some(a.str()?),
            ifla::INFO_SLAVE_DATA => slave_data = Some(a.payload),
            _ => l.linkinfo_unknown.push(RawAttr::from(a)),
        }
    }
    if let Some(k) = kind {
        l.kind = Some(LinkKind::decode(k, data)?);
        l.info_data = data.map(<[u8]>::to_vec);
    }
    if let Some(k) = slave_kind {
        l.port = Some(match k {
            "bridge" => PortInfo::Bridge(BridgePort::decode(slave_data.unwrap_or(&[]))?),
            other => PortInfo::Other { kind: other.to_string(), data: slave_data.map(<[u8]>::to_vec) },
        });
    }
    Ok(())
}

/// Write `IFLA_LINKINFO` for a kind: `INFO_KIND` (without a NUL, as `ip`
/// writes it) and, when the kind has settings, `INFO_DATA`.
pub(crate) fn write_linkinfo(w: &mut AttrWriter<'_>, kind: &LinkKind) {
    w.nest(ifla::LINKINFO, |w| {
        w.bytes(ifla::INFO_KIND, kind.name().as_bytes());
        kind.write_data(w);
    });
}
