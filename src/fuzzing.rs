//! Round-trip properties checked by the fuzz targets in `fuzz/` and replayed
//! over the saved corpora by `tests/fuzz_corpus.rs` (feature `fuzzing`).
//!
//! Each function takes arbitrary bytes, decodes them, and if that succeeds
//! re-encodes the result, decodes it again and asserts equality. They panic
//! only when a property fails — never on malformed input.

use crate::wire::{AttrIter, AttrWriter, ErrorMsg, Header, MsgIter, NLMSG_ERROR, NLMSG_HDRLEN};

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

/// A conntrack flow message payload (`struct nfgenmsg` and attributes):
/// whatever decodes re-encodes to bytes that decode to the same flow, and
/// encoding is stable from then on.
pub fn conntrack_flow(data: &[u8]) {
    use crate::conntrack::Flow;
    let Ok(first) = Flow::decode(data) else { return };
    let bytes = first.encode();
    let second = Flow::decode(&bytes).expect("a re-encoded flow decodes");
    // Unknown attributes come back grouped by the nest they belong in, so
    // compare them as sets.
    assert_eq!(normalized(&first), normalized(&second), "flow round trip");
    assert_eq!(second.encode(), bytes, "flow encoding is stable");
    // Rendering never panics.
    let _ = second.to_conntrack_line();
    let _ = second.nat();
}

fn normalized(f: &crate::conntrack::Flow) -> crate::conntrack::Flow {
    let mut f = f.clone();
    f.unknown.sort_by(|a, b| (a.parent, a.raw_type, &a.payload).cmp(&(b.parent, b.raw_type, &b.payload)));
    for t in [&mut f.orig, &mut f.reply].into_iter().chain(f.master.as_mut()) {
        t.unknown.sort_by(|a, b| (a.parent, a.raw_type, &a.payload).cmp(&(b.parent, b.raw_type, &b.payload)));
    }
    f
}

/// nftables messages: the payload of a rule, set, chain, table, object or
/// element message (nfgenmsg + attributes). Whatever decodes re-encodes to
/// bytes that decode to the same value; expressions netplumb does not
/// model come back byte for byte.
pub fn nft(data: &[u8]) {
    use crate::nft::expr::{decode_list, encode_list};
    use crate::nft::{Chain, Object, Rule, Set, Table};
    use crate::wire::{Msg, NLA_F_NESTED};

    let header = Header { len: (NLMSG_HDRLEN + data.len()) as u32, ty: 0, flags: 0, seq: 0, port: 0 };
    let m = Msg { header, payload: data };
    if let Ok(r) = Rule::decode(&m) {
        let mut buf = Vec::new();
        encode_list(&mut AttrWriter::new(&mut buf), 4, &r.exprs);
        let a = AttrIter::new(&buf).next().expect("one attribute").expect("re-encoded list parses");
        assert_eq!(a.raw_type, 4 | NLA_F_NESTED);
        assert_eq!(decode_list(&a).expect("re-encoded expressions decode"), r.exprs, "expression round trip");
    }
    // The other decoders never panic.
    let _ = (Set::decode(&m), Chain::decode(&m), Table::decode(&m), Object::decode(&m));
    let _ = crate::nft::decode_elements(&m);
}
