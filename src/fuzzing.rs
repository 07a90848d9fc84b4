//! Round-trip properties checked by the fuzz targets in `fuzz/` and replayed
//! over the saved corpora by `tests/fuzz_corpus.rs` (feature `fuzzing`).
//!
//! Each function takes arbitrary bytes, decodes them, and if that succeeds
//! re-encodes the result, decodes it again and asserts equality. They panic
//! only when a property fails — never on malformed input.

use crate::wire::{AttrIter, AttrWriter, ErrorMsg, Header, Msg, MsgIter, NLMSG_ERROR, NLMSG_HDRLEN};

/// Attributes: whatever parses re-encodes to something that parses to the
/// same attributes.
pub fn attributes(data: &[u8]) {
    let parsed: Vec<_> = AttrIter::new(data).take_while(|a| a.is_ok()).map(|a| a.expect("ok")).collect();
    let mut buf = Vec::new();
    {
        let mut w = AttrWriter::new(&mut buf);
        for a in &parsed {
            if a.payload.len() + 4 <= u16::MAX as usize {
                w.bytes(a.raw_type, a.payload);
            }
        }
    }
    let again: Vec<_> = AttrIter::new(&buf).map(|a| a.expect("re-encoded attributes parse")).collect();
    assert_eq!(parsed, again, "attribute round trip");
    for a in &parsed {
        // Typed accessors never panic.
        let _ = (a.u8(), a.u16(), a.u32(), a.u64(), a.u16_be(), a.u32_be(), a.str(), a.nested().count());
    }
}

/// The netlink envelope: messages of a datagram and `NLMSG_ERROR` payloads
/// with extended-ack TLVs.
pub fn envelope(data: &[u8]) {
    for m in MsgIter::new(data) {
        let Ok(m) = m else { break };
        // Header + payload re-encode to the same message.
        let bytes = m.to_vec();
        let again = MsgIter::new(&bytes).next().expect("one message").expect("re-encoded message parses");
        assert_eq!(again.header, m.header);
        assert_eq!(again.payload, m.payload);
        assert_eq!(Header::parse(&bytes).expect("header"), m.header);
        if m.header.ty == NLMSG_ERROR {
            if let Ok(e) = ErrorMsg::parse(m.payload, m.header.flags) {
                let (payload, flags) = e.encode();
                let e2 = ErrorMsg::parse(&payload, flags).expect("re-encoded error parses");
                assert_eq!(e, e2, "NLMSG_ERROR round trip");
            }
        }
        if m.payload.len() > NLMSG_HDRLEN {
            attributes(&m.payload[NLMSG_HDRLEN.min(m.payload.len())..]);
        }
    }
}

// ---------------------------------------------------------------------
// rtnetlink messages. Each target's input is one message payload (what
// follows `struct nlmsghdr`); seeds are payloads of real kernel replies.
// ---------------------------------------------------------------------

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::addr::Address;
use crate::link::message::{parse_link_payload, write_link};
use crate::link::Link;
use crate::neigh::{FdbEntry, Neighbour};
use crate::route::{AnyRoute, Family, Route, RouteFlags};
use crate::rule::Rule;

/// Inputs past this size are skipped by the properties whose encoders
/// gather repeated attributes into one nest: netlink caps a nest at 64 KiB,
/// and the encoders document that they panic past it.
const MAX_INPUT: usize = 60_000;

fn encode(f: impl FnOnce(&mut AttrWriter<'_>)) -> Vec<u8> {
    let mut buf = Vec::new();
    f(&mut AttrWriter::new(&mut buf));
    buf
}

fn as_msg(ty: u16, payload: &[u8]) -> Msg<'_> {
    Msg { header: Header { len: (NLMSG_HDRLEN + payload.len()) as u32, ty, ..Header::default() }, payload }
}

/// Decode, encode, decode again: equal; and encoding again gives the same
/// bytes. `view` drops what the encoder does not carry by design.
fn round_trip<T: PartialEq + std::fmt::Debug>(
    what: &str,
    data: &[u8],
    decode: impl Fn(&[u8]) -> Option<T>,
    write: impl Fn(&T, &mut AttrWriter<'_>),
    view: impl Fn(T) -> T,
) -> bool {
    if data.len() > MAX_INPUT {
        return false;
    }
    let Some(first) = decode(data) else { return false };
    let first = view(first);
    let bytes = encode(|w| write(&first, w));
    let second = decode(&bytes).unwrap_or_else(|| panic!("{what}: re-encoded message does not decode"));
    let second = view(second);
    assert_eq!(first, second, "{what}: decode(encode(decode(x))) != decode(x)");
    let again = encode(|w| write(&second, w));
    assert_eq!(bytes, again, "{what}: encoding is not stable");
    true
}

/// `RTM_NEWLINK` payloads: [`parse_link_payload`] and [`write_link`], which
/// carries every field (unknown attributes too).
pub fn link(data: &[u8]) -> bool {
    round_trip("link", data, |b| parse_link_payload(b).ok(), write_link, |l| l)
}

/// `RTM_NEWADDR` payloads: [`Address::parse`] and [`Address::write`]. The
/// request encoder does not send attributes netplumb does not model.
pub fn address(data: &[u8]) -> bool {
    round_trip(
        "address",
        data,
        |b| Address::parse(&as_msg(20, b)).ok(),
        |a, w| a.write(w),
        |mut a| {
            a.unknown.clear();
            a
        },
    )
}

/// What [`Route::write`] carries: reply-only fields (input link, mark,
/// `RTM_F_*` flags, unmodelled attributes) are not part of a request.
fn route_view<A: Family>(mut r: Route<A>) -> Route<A> {
    r.iif = None;
    r.mark = None;
    r.unknown.clear();
    r.flags = RouteFlags::from_bits_retain(r.flags.bits() & 0xff);
    r
}

/// `RTM_NEWROUTE` payloads of either family: [`AnyRoute::parse`] and
/// [`Route::write`].
pub fn route(data: &[u8]) -> bool {
    round_trip(
        "route",
        data,
        |b| AnyRoute::parse(&as_msg(24, b)).ok(),
        |r, w| match r {
            AnyRoute::V4(r) => r.write(w),
            AnyRoute::V6(r) => r.write(w),
        },
        |r| match r {
            AnyRoute::V4(r) => AnyRoute::V4(route_view(r)),
            AnyRoute::V6(r) => AnyRoute::V6(route_view(r)),
        },
    )
}

/// `RTM_NEWNEIGH` payloads: ARP/NDP entries ([`Neighbour`]) and, for
/// `AF_BRIDGE`, FDB entries ([`FdbEntry`]). Reply-only fields (probes,
/// the bridge an FDB entry is reported under) are not part of a request.
pub fn neighbour(data: &[u8]) -> bool {
    if data.first() == Some(&crate::rtnl::AF_BRIDGE) {
        round_trip(
            "fdb entry",
            data,
            |b| FdbEntry::parse(&as_msg(28, b)).ok(),
            |e, w| e.write(w),
            |mut e| {
                e.master = None;
                e.unknown.clear();
                e
            },
        )
    } else {
        round_trip(
            "neighbour",
            data,
            |b| Neighbour::parse(&as_msg(28, b)).ok(),
            |n, w| n.write(w),
            |mut n| {
                n.probes = None;
                n.unknown.clear();
                n
            },
        )
    }
}

/// `RTM_NEWRULE` payloads: [`Rule::parse`] and [`Rule::write`].
pub fn rule(data: &[u8]) -> bool {
    round_trip(
        "rule",
        data,
        |b| Rule::parse(&as_msg(32, b)).ok(),
        |r, w| r.write(w),
        |mut r| {
            r.unknown.clear();
            r
        },
    )
}
