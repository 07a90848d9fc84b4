//! netlink-packet-netfilter: conntrack flows converted both ways, and the
//! escape hatch on the netfilter handles ([`Conntrack`], [`Nft`]).
//!
//! What netlink-packet-netfilter 0.4 models and netplumb decodes too: the
//! `nfgenmsg` header and ctnetlink flow messages (tuples, status, timeout,
//! mark, TCP state). Its nftables messages model tables, chains, sets,
//! rules (five expressions) and elements as attribute lists; netplumb's
//! nftables types are reached through [`Nft`]'s own API, and those
//! messages through the escape hatch.

use netlink_packet_core::{Emitable, ParseableParametrized};
use netlink_packet_netfilter::conntrack::ConntrackMessage;
use netlink_packet_netfilter::{NetfilterMessage, NetfilterMessageInner};

use super::{decode_reply, request_of};
use crate::conn::{Dump, OwnedMsg};
use crate::conntrack::{Conntrack, Flow};
use crate::error::{DecodeError, Result};
use crate::nft::Nft;

/// `NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_NEW`: the type of a flow
/// message (dump replies and creations).
const CT_NEW: u16 = 1 << 8;

/// What a netlink-packet-netfilter decode error names.
const NETFILTER_MSG: &str = "NetfilterMessage (netlink-packet-netfilter)";

/// A netplumb [`Flow`] as a [`NetfilterMessage`]: the ctnetlink
/// `IPCTNL_MSG_CT_NEW` message carrying everything the flow holds
/// ([`Flow::encode`]), decoded by netlink-packet-netfilter (what it does
/// not model lands in its `Other` attributes).
///
/// # Errors
/// [`DecodeError`] if netlink-packet-netfilter rejects the bytes.
pub fn flow_to_message(flow: &Flow) -> std::result::Result<NetfilterMessage, DecodeError> {
    NetfilterMessage::parse_with_param(&flow.encode(), CT_NEW)
        .map_err(|e| DecodeError::new(NETFILTER_MSG, e.to_string()))
}

/// A ctnetlink flow message (new, get or delete) as a netplumb [`Flow`].
///
/// # Errors
/// [`DecodeError`] if the message is not a ctnetlink flow message, or if
/// netplumb rejects the bytes it emits (no original or reply tuple, ...).
pub fn flow_from_message(m: &NetfilterMessage) -> std::result::Result<Flow, DecodeError> {
    match &m.inner {
        NetfilterMessageInner::Conntrack(
            ConntrackMessage::New(_) | ConntrackMessage::Get(_) | ConntrackMessage::Delete(_),
        ) => {}
        other => {
            return Err(DecodeError::new(
                "conntrack flow",
                format!("not a ctnetlink flow message: {:?}", other_kind(other)),
            ))
        }
    }
    let mut buf = vec![0u8; m.buffer_len()];
    m.emit(&mut buf);
    Flow::decode(&buf)
}

/// A short name of a message's kind, for errors.
fn other_kind(m: &NetfilterMessageInner) -> String {
    match m {
        NetfilterMessageInner::None(_) => "nfnetlink control".into(),
        NetfilterMessageInner::ULog(_) => "nflog".into(),
        NetfilterMessageInner::Conntrack(c) => format!("ctnetlink {:?}", c.message_type()),
        NetfilterMessageInner::NfTables(_) => "nftables".into(),
        NetfilterMessageInner::Other { subsys, message_type, .. } => {
            format!("subsystem {subsys:?} type {message_type}")
        }
        _ => "unknown".into(),
    }
}

impl TryFrom<&Flow> for NetfilterMessage {
    type Error = DecodeError;
    fn try_from(f: &Flow) -> std::result::Result<Self, DecodeError> {
        flow_to_message(f)
    }
}

impl TryFrom<&NetfilterMessage> for Flow {
    type Error = DecodeError;
    fn try_from(m: &NetfilterMessage) -> std::result::Result<Self, DecodeError> {
        flow_from_message(m)
    }
}

async fn request(
    conn: &crate::conn::Connection,
    msg: &NetfilterMessage,
    flags: u16,
) -> Result<Vec<NetfilterMessage>> {
    let req = request_of(msg, flags)?;
    let replies: Vec<OwnedMsg> = conn.request(&req).await?;
    replies.iter().map(|r| decode_reply(&r.as_msg(), NETFILTER_MSG)).collect()
}

fn dump(conn: &crate::conn::Connection, msg: &NetfilterMessage) -> Result<Dump<NetfilterMessage>> {
    let req = request_of(msg, 0)?;
    Ok(conn.dump(&req, |m| decode_reply(m, NETFILTER_MSG).map(Some)))
}

#[cfg_attr(docsrs, doc(cfg(feature = "packet-crates")))]
impl Conntrack {
    /// Send any netfilter message netlink-packet-netfilter models (a
    /// ctnetlink flow, or another subsystem's message as its `Other`
    /// attributes), with extra header `flags` (`NLM_F_CREATE`, ... from
    /// [`crate::wire`]), and return the kernel's replies (before its ack)
    /// decoded by netlink-packet-netfilter. For what netplumb's typed
    /// model lacks; the connection's guarantees hold (namespace, replies
    /// only from the kernel with this request's sequence number,
    /// extended-ack errors, timeouts).
    ///
    /// # Errors
    /// [`crate::Error::Kernel`] with the kernel's errno and message;
    /// [`crate::Error::Decode`] if netlink-packet-netfilter cannot decode a
    /// reply; as [`crate::conn::Connection::request`].
    ///
    /// # Cancel safety
    /// As [`crate::conn::Connection::request`]: the request may have taken
    /// effect.
    pub async fn packet_request(&self, msg: NetfilterMessage, flags: u16) -> Result<Vec<NetfilterMessage>> {
        request(self.connection(), &msg, flags).await
    }

    /// Dump with any netfilter get message netlink-packet-netfilter
    /// models (`NLM_F_DUMP` is added), as a stream of replies it decodes.
    /// An interrupted dump is retried under the connection's
    /// [`crate::conn::DumpPolicy`] or ends with
    /// [`crate::Error::DumpInterrupted`].
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] if the message cannot be framed; the
    /// stream yields the errors of [`crate::conn::Connection::dump`] and
    /// [`crate::Error::Decode`] for a reply netlink-packet-netfilter cannot
    /// decode.
    pub fn packet_dump(&self, msg: NetfilterMessage) -> Result<Dump<NetfilterMessage>> {
        dump(self.connection(), &msg)
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "packet-crates")))]
impl Nft {
    /// Send one nftables message netlink-packet-netfilter models and
    /// return the kernel's replies (before its ack) decoded by it, with
    /// the guarantees of [`Conntrack::packet_request`]. The kernel takes
    /// nftables changes only inside a batch: use this for gets (`GetGen`,
    /// a `GetTable` with a name, ...) and make changes with a
    /// [`crate::nft::Transaction`].
    ///
    /// # Errors
    /// As [`Conntrack::packet_request`].
    ///
    /// # Cancel safety
    /// As [`crate::conn::Connection::request`].
    pub async fn packet_request(&self, msg: NetfilterMessage, flags: u16) -> Result<Vec<NetfilterMessage>> {
        request(self.connection(), &msg, flags).await
    }

    /// Dump with any nftables get message netlink-packet-netfilter models
    /// (`NLM_F_DUMP` is added): tables, chains, rules, sets, elements,
    /// objects and flowtables as it decodes them.
    ///
    /// # Errors
    /// As [`Conntrack::packet_dump`].
    pub fn packet_dump(&self, msg: NetfilterMessage) -> Result<Dump<NetfilterMessage>> {
        dump(self.connection(), &msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conntrack::{Status, TcpState, Tuple};
    use netlink_packet_netfilter::conntrack::{
        ConntrackAttribute, IPTuple, ProtoTuple, Protocol, Tuple as Their,
    };
    use netlink_packet_netfilter::NetfilterProtoFamily;

    fn sample() -> Flow {
        Flow::new(Tuple::tcp("10.0.0.1:40000".parse().unwrap(), "10.0.0.2:80".parse().unwrap()))
            .with_timeout(120)
            .with_mark(7)
            .with_status(Status::CONFIRMED | Status::ASSURED)
            .with_tcp_state(TcpState::ESTABLISHED)
    }

    #[test]
    fn flow_converts_both_ways() {
        let f = sample();
        let m = NetfilterMessage::try_from(&f).unwrap();
        assert_eq!(m.header.family, NetfilterProtoFamily::IPv4);
        let NetfilterMessageInner::Conntrack(ConntrackMessage::New(attrs)) = &m.inner else {
            panic!("{m:?}")
        };
        assert!(attrs.contains(&ConntrackAttribute::CtaTimeout(120)));
        assert!(attrs.contains(&ConntrackAttribute::CtaMark(7)));
        let orig = attrs
            .iter()
            .find_map(|a| if let ConntrackAttribute::CtaTupleOrig(t) = a { Some(t) } else { None })
            .unwrap();
        assert!(orig.contains(&Their::Ip(vec![
            IPTuple::SourceAddress("10.0.0.1".parse().unwrap()),
            IPTuple::DestinationAddress("10.0.0.2".parse().unwrap()),
        ])));
        assert!(orig.contains(&Their::Proto(vec![
            ProtoTuple::Protocol(Protocol::Tcp),
            ProtoTuple::SourcePort(40000),
            ProtoTuple::DestinationPort(80),
        ])));
        assert_eq!(Flow::try_from(&m).unwrap(), f);
    }

    #[test]
    fn a_message_of_another_kind_is_not_a_flow() {
        let m = NetfilterMessage::new(
            netlink_packet_netfilter::NetfilterHeader::new(NetfilterProtoFamily::IPv4, 0, 0),
            ConntrackMessage::Other { message_type: 4, attributes: vec![] },
        );
        let e = flow_from_message(&m).unwrap_err();
        assert!(e.to_string().contains("not a ctnetlink flow message"), "{e}");
    }

    #[test]
    fn requests_carry_the_subsystem_and_type() {
        let m = NetfilterMessage::new(
            netlink_packet_netfilter::NetfilterHeader::new(NetfilterProtoFamily::IPv4, 0, 0),
            ConntrackMessage::Get(vec![]),
        );
        let req = request_of(&m, 0).unwrap();
        assert_eq!(req.msg_type(), (1 << 8) | 1);
        assert_eq!(&req.as_bytes()[crate::wire::NLMSG_HDRLEN..], &[2, 0, 0, 0]);
    }
}
