//! Interoperability with the rust-netlink packet crates (feature
//! `packet-crates`): [`netlink_packet_route`] and
//! [`netlink_packet_netfilter`].
//!
//! netplumb encodes and decodes every message itself (see the README's
//! design notes for why); these crates are its bridge to the projects
//! built on them (`rtnetlink`, ...), which can adopt netplumb piece by
//! piece:
//!
//! - **Conversions** between netplumb's typed objects and their message
//!   types ([`link_to_message`], [`link_from_message`], and the same for
//!   addresses and routes; [`flow_to_message`] and [`flow_from_message`]
//!   for conntrack flows as netlink-packet-netfilter's `NetfilterMessage`;
//!   also as `TryFrom` impls). They go through the
//!   wire format both codecs speak, so nothing either side models is lost
//!   on the way.
//! - **An escape hatch** for whatever netplumb's typed model lacks:
//!   [`Rtnl::packet_request`] and [`Rtnl::packet_dump`] send any
//!   [`RouteNetlinkMessage`], and [`Conntrack::packet_request`],
//!   [`Conntrack::packet_dump`], [`Nft::packet_request`] and
//!   [`Nft::packet_dump`] any netlink-packet-netfilter `NetfilterMessage`,
//!   through netplumb's connection, with its guarantees: the socket lives in the handle's namespace, only replies
//!   from the kernel with the request's sequence number are accepted,
//!   errors carry the kernel's extended-ack message, and an interrupted
//!   dump is retried or reported, never returned as complete.
//!
//! ```no_run
//! use netplumb::packet::netlink_packet_route::link::{LinkAttribute, LinkMessage};
//! use netplumb::packet::netlink_packet_route::RouteNetlinkMessage;
//! use netplumb::Rtnl;
//!
//! # async fn demo() -> netplumb::Result<()> {
//! let rt = Rtnl::new().await?;
//! // `ip link show`, decoded by netlink-packet-route: every attribute it
//! // models, including those netplumb's `Link` does not.
//! let links = rt.packet_dump(RouteNetlinkMessage::GetLink(LinkMessage::default()))?.try_collect().await?;
//! for m in links {
//!     if let RouteNetlinkMessage::NewLink(l) = m {
//!         let qdisc = l.attributes.iter().find_map(|a| match a {
//!             LinkAttribute::Qdisc(q) => Some(q.clone()),
//!             _ => None,
//!         });
//!         println!("{} qdisc {qdisc:?}", l.header.index);
//!     }
//! }
//! # Ok(()) }
//! ```

use netlink_packet_core::{Emitable, NetlinkDeserializable, NetlinkHeader, NetlinkSerializable, Parseable};
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::LinkMessage;
use netlink_packet_route::route::RouteMessage;
use netlink_packet_route::RouteNetlinkMessage;

use crate::addr::Address;
use crate::conn::{Dump, OwnedMsg, Request};
use crate::error::{DecodeError, Error, Result};
use crate::link::Link;
use crate::route::{AnyRoute, RouteV4, RouteV6};
use crate::wire::{AttrWriter, Header, Msg, NLMSG_HDRLEN};
use crate::Rtnl;
#[cfg(doc)]
use crate::{conntrack::Conntrack, nft::Nft};

#[cfg(feature = "fuzzing")]
#[cfg_attr(docsrs, doc(cfg(all(feature = "packet-crates", feature = "fuzzing"))))]
pub mod differential;
mod netfilter;

pub use netfilter::{flow_from_message, flow_to_message};

pub use netlink_packet_core;
pub use netlink_packet_netfilter;
pub use netlink_packet_route;

/// What a netlink-packet-route decode error names.
const ROUTE_MSG: &str = "RouteNetlinkMessage (netlink-packet-route)";

const RTM_NEWADDR: u16 = libc::RTM_NEWADDR;
const RTM_NEWROUTE: u16 = libc::RTM_NEWROUTE;

/// Encode a payload with one of netplumb's writers.
fn payload(f: impl FnOnce(&mut AttrWriter<'_>)) -> Vec<u8> {
    let mut buf = Vec::with_capacity(256);
    f(&mut AttrWriter::new(&mut buf));
    buf
}

/// Emit a packet-crate message's payload.
fn emit(m: &impl Emitable) -> Vec<u8> {
    let mut buf = vec![0u8; m.buffer_len()];
    m.emit(&mut buf);
    buf
}

/// A message view of `payload` for netplumb's decoders.
fn as_msg(ty: u16, payload: &[u8]) -> Msg<'_> {
    Msg {
        header: Header { len: (NLMSG_HDRLEN + payload.len()) as u32, ty, flags: 0, seq: 0, port: 0 },
        payload,
    }
}

fn foreign(what: &'static str, e: impl std::fmt::Display) -> DecodeError {
    DecodeError::new(what, format!("netlink-packet-route: {e}"))
}

/// A netplumb [`Link`] as a [`LinkMessage`] (the `RTM_NEWLINK` payload
/// netplumb would send for it, decoded by netlink-packet-route).
///
/// # Errors
/// [`DecodeError`] if netlink-packet-route rejects the bytes.
pub fn link_to_message(link: &Link) -> std::result::Result<LinkMessage, DecodeError> {
    let b = payload(|w| crate::link::message::write_link(link, w));
    LinkMessage::parse(&b).map_err(|e| foreign("LinkMessage", e))
}

/// A [`LinkMessage`] as a netplumb [`Link`].
///
/// # Errors
/// [`DecodeError`] if netplumb rejects the bytes the message emits.
pub fn link_from_message(m: &LinkMessage) -> std::result::Result<Link, DecodeError> {
    crate::link::message::parse_link_payload(&emit(m))
}

/// A netplumb [`Address`] as an [`AddressMessage`] (its `RTM_NEWADDR`
/// payload).
///
/// # Errors
/// [`DecodeError`] if netlink-packet-route rejects the bytes.
pub fn address_to_message(a: &Address) -> std::result::Result<AddressMessage, DecodeError> {
    let b = payload(|w| a.write(w));
    AddressMessage::parse(&b).map_err(|e| foreign("AddressMessage", e))
}

/// An [`AddressMessage`] as a netplumb [`Address`].
///
/// # Errors
/// [`DecodeError`] if netplumb rejects the bytes the message emits.
pub fn address_from_message(m: &AddressMessage) -> std::result::Result<Address, DecodeError> {
    Address::parse(&as_msg(RTM_NEWADDR, &emit(m)))
}

/// A netplumb route of either family as a [`RouteMessage`] (its
/// `RTM_NEWROUTE` payload).
///
/// # Errors
/// [`DecodeError`] if netlink-packet-route rejects the bytes.
pub fn route_to_message(r: &AnyRoute) -> std::result::Result<RouteMessage, DecodeError> {
    let b = payload(|w| match r {
        AnyRoute::V4(r) => r.write(w),
        AnyRoute::V6(r) => r.write(w),
    });
    RouteMessage::parse(&b).map_err(|e| foreign("RouteMessage", e))
}

/// A [`RouteMessage`] as a netplumb route of its family.
///
/// # Errors
/// [`DecodeError`] if netplumb rejects the bytes the message emits (for
/// instance a family other than IPv4 or IPv6).
pub fn route_from_message(m: &RouteMessage) -> std::result::Result<AnyRoute, DecodeError> {
    AnyRoute::parse(&as_msg(RTM_NEWROUTE, &emit(m)))
}

macro_rules! try_from_both_ways {
    ($ours:ty, $theirs:ty, $to:ident, $from:ident) => {
        impl TryFrom<&$ours> for $theirs {
            type Error = DecodeError;
            fn try_from(v: &$ours) -> std::result::Result<Self, DecodeError> {
                $to(v)
            }
        }
        impl TryFrom<&$theirs> for $ours {
            type Error = DecodeError;
            fn try_from(v: &$theirs) -> std::result::Result<Self, DecodeError> {
                $from(v)
            }
        }
    };
}

try_from_both_ways!(Link, LinkMessage, link_to_message, link_from_message);
try_from_both_ways!(Address, AddressMessage, address_to_message, address_from_message);
try_from_both_ways!(AnyRoute, RouteMessage, route_to_message, route_from_message);

impl TryFrom<&RouteV4> for RouteMessage {
    type Error = DecodeError;
    fn try_from(r: &RouteV4) -> std::result::Result<Self, DecodeError> {
        RouteMessage::parse(&payload(|w| r.write(w))).map_err(|e| foreign("RouteMessage", e))
    }
}

impl TryFrom<&RouteV6> for RouteMessage {
    type Error = DecodeError;
    fn try_from(r: &RouteV6) -> std::result::Result<Self, DecodeError> {
        RouteMessage::parse(&payload(|w| r.write(w))).map_err(|e| foreign("RouteMessage", e))
    }
}

/// A request carrying `msg` (sequence number and `NLM_F_REQUEST` are set
/// by the connection when it sends).
fn request_of<M: NetlinkSerializable>(msg: &M, flags: u16) -> Result<Request> {
    let len = NLMSG_HDRLEN + NetlinkSerializable::buffer_len(msg);
    let ty = NetlinkSerializable::message_type(msg);
    let mut bytes = Header { len: len as u32, ty, flags, seq: 0, port: 0 }.to_bytes().to_vec();
    bytes.resize(len, 0);
    NetlinkSerializable::serialize(msg, &mut bytes[NLMSG_HDRLEN..]);
    Request::from_bytes(bytes)
}

/// Decode one reply with a packet crate (`what` names the message type
/// and crate in the error).
fn decode_reply<M>(m: &Msg<'_>, what: &'static str) -> Result<M>
where
    M: NetlinkDeserializable,
    M::Error: std::fmt::Display,
{
    let mut h = NetlinkHeader::default();
    h.length = m.header.len;
    h.message_type = m.header.ty;
    h.flags = m.header.flags;
    h.sequence_number = m.header.seq;
    h.port_number = m.header.port;
    M::deserialize(&h, m.payload).map_err(|e| Error::Decode(DecodeError::new(what, e.to_string())))
}

#[cfg_attr(docsrs, doc(cfg(feature = "packet-crates")))]
impl Rtnl {
    /// Send any rtnetlink message netlink-packet-route models, with extra
    /// header `flags` (`NLM_F_CREATE`, `NLM_F_EXCL`, ... from
    /// [`crate::wire`]), and return the kernel's replies (before its ack)
    /// decoded by netlink-packet-route. For what netplumb's typed model
    /// lacks; the connection's guarantees hold (namespace, replies only
    /// from the kernel with this request's sequence number, extended-ack
    /// errors, timeouts).
    ///
    /// # Errors
    /// [`Error::Kernel`] with the kernel's errno and message; [`Error::Decode`]
    /// if netlink-packet-route cannot decode a reply; as
    /// [`crate::conn::Connection::request`].
    ///
    /// # Cancel safety
    /// As [`crate::conn::Connection::request`]: the request may have taken
    /// effect.
    pub async fn packet_request(
        &self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        let req = request_of(&msg, flags)?;
        let replies: Vec<OwnedMsg> = self.connection().request(&req).await?;
        replies.iter().map(|r| decode_reply(&r.as_msg(), ROUTE_MSG)).collect()
    }

    /// Dump with any rtnetlink get message netlink-packet-route models
    /// (`NLM_F_DUMP` is added), as a stream of replies decoded by
    /// netlink-packet-route. An interrupted dump is retried under the
    /// connection's [`crate::conn::DumpPolicy`] or ends with
    /// [`Error::DumpInterrupted`].
    ///
    /// # Errors
    /// [`Error::Invalid`] if the message cannot be framed; the stream
    /// yields the errors of [`crate::conn::Connection::dump`] and
    /// [`Error::Decode`] for a reply netlink-packet-route cannot decode.
    pub fn packet_dump(&self, msg: RouteNetlinkMessage) -> Result<Dump<RouteNetlinkMessage>> {
        let req = request_of(&msg, 0)?;
        Ok(self.connection().dump(&req, |m| decode_reply(m, ROUTE_MSG).map(Some)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::LinkFlags;
    use netlink_packet_route::address::AddressAttribute;
    use netlink_packet_route::link::LinkAttribute;
    use netlink_packet_route::route::{RouteAddress, RouteAttribute};

    #[test]
    fn link_round_trips_through_link_message() {
        let l = Link {
            index: crate::IfIndex(7),
            name: "veth0".into(),
            mtu: Some(1400),
            flags: LinkFlags::UP,
            address: Some(vec![2, 0, 0, 0, 0, 1]),
            ..Default::default()
        };
        let m = LinkMessage::try_from(&l).unwrap();
        assert_eq!(m.header.index, 7);
        assert!(m.attributes.contains(&LinkAttribute::IfName("veth0".into())));
        assert!(m.attributes.contains(&LinkAttribute::Mtu(1400)));
        assert!(m.attributes.contains(&LinkAttribute::Address(vec![2, 0, 0, 0, 0, 1])));
        let back = Link::try_from(&m).unwrap();
        assert_eq!(back.name, "veth0");
        assert_eq!(back.mtu, Some(1400));
        assert_eq!(back.index, crate::IfIndex(7));
        assert_eq!(back.address, l.address);
    }

    #[test]
    fn address_and_route_convert_both_ways() {
        let mut a = Address::new(crate::IfIndex(3), "10.1.2.3/24".parse().unwrap());
        a.label = Some("eth0".into());
        let m = AddressMessage::try_from(&a).unwrap();
        assert_eq!((m.header.index, m.header.prefix_len), (3, 24));
        assert!(m.attributes.contains(&AddressAttribute::Local("10.1.2.3".parse().unwrap())));
        assert!(m.attributes.contains(&AddressAttribute::Label("eth0".into())));
        let back = Address::try_from(&m).unwrap();
        assert_eq!(back.address, a.address);
        assert_eq!(back.label.as_deref(), Some("eth0"));

        let r = RouteV4::new("10.9.0.0/16".parse().unwrap()).gateway("10.1.2.1".parse().unwrap());
        let m = RouteMessage::try_from(&r).unwrap();
        assert_eq!(m.header.destination_prefix_length, 16);
        assert!(m
            .attributes
            .contains(&RouteAttribute::Destination(RouteAddress::Inet("10.9.0.0".parse().unwrap()))));
        assert!(m
            .attributes
            .contains(&RouteAttribute::Gateway(RouteAddress::Inet("10.1.2.1".parse().unwrap()))));
        match route_from_message(&m).unwrap() {
            // The encoder writes the effective scope (universe) for an
            // unset one; everything else comes back as it was.
            AnyRoute::V4(mut back) => {
                assert_eq!(back.scope, Some(crate::rtnl::Scope::Universe));
                back.scope = None;
                assert_eq!(back, r);
            }
            other => panic!("wrong family: {other:?}"),
        }
    }

    #[test]
    fn requests_are_framed_with_the_message_type() {
        let req = request_of(&RouteNetlinkMessage::GetLink(LinkMessage::default()), 0).unwrap();
        assert_eq!(req.msg_type(), libc::RTM_GETLINK);
        assert_eq!(req.as_bytes().len(), NLMSG_HDRLEN + 16);
    }
}
