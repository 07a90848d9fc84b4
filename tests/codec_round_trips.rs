//! Round trips through netplumb's encoders and decoders that the fuzz
//! targets once found broken (inputs kept in `fuzz/regressions/`), as
//! readable cases. No root needed.

use std::net::Ipv4Addr;

use netplumb::addr::Address;
use netplumb::link::message::{parse_link_payload, write_link};
use netplumb::link::{Link, LinkKind, Vxlan};
use netplumb::route::{AnyRoute, Route, RouteTable, RouteType, RouteV4};
use netplumb::rule::{Rule, RuleAction};
use netplumb::wire::{AttrWriter, Header, Msg};
use netplumb::IfIndex;

fn encode(f: impl FnOnce(&mut AttrWriter<'_>)) -> Vec<u8> {
    let mut buf = Vec::new();
    f(&mut AttrWriter::new(&mut buf));
    buf
}

fn msg(payload: &[u8]) -> Msg<'_> {
    Msg { header: Header::default(), payload }
}

#[test]
fn an_address_with_one_lifetime_keeps_it() {
    // Listed addresses may have a finite valid lifetime and an infinite
    // preferred one; the encoder used to drop both unless both were set.
    let mut a = Address::new(IfIndex(2), "10.0.0.1/24".parse().unwrap());
    a.valid_lft = Some(4_294_967_096);
    let b = encode(|w| a.write(w));
    let back = Address::parse(&msg(&b)).unwrap();
    assert_eq!((back.valid_lft, back.preferred_lft), (Some(4_294_967_096), None));
    assert_eq!(back, a);
}

#[test]
fn a_slash_0_destination_with_host_bits_is_not_sent_as_default() {
    // 10.3.0.0/0 used to be encoded without RTA_DST: a default route.
    let r: RouteV4 = Route::new("10.3.0.0/0".parse().unwrap()).kind(RouteType::Prohibit);
    let b = encode(|w| r.write(w));
    let AnyRoute::V4(back) = AnyRoute::parse(&msg(&b)).unwrap() else { panic!("IPv4") };
    assert_eq!(back.dst, r.dst);
    // A true default route still carries no RTA_DST, as `ip` sends it.
    let d: RouteV4 = Route::new("0.0.0.0/0".parse().unwrap()).gateway(Ipv4Addr::new(10, 0, 0, 1));
    let b = encode(|w| d.write(w));
    assert!(!b.windows(4).any(|x| x == [8, 0, 1, 0]), "no RTA_DST in {b:02x?}");
}

#[test]
fn a_rule_keeps_a_table_above_255_whatever_its_action() {
    let mut r = Rule::v4().priority(1002).action(RuleAction::Unknown(0)).table(RouteTable(1000));
    r.goto = None;
    let b = encode(|w| r.write(w));
    assert_eq!(Rule::parse(&msg(&b)).unwrap().table, RouteTable(1000));
}

#[test]
fn a_link_without_kind_settings_is_written_without_them() {
    // A vxlan reported without IFLA_INFO_DATA: the encoder must not
    // invent the settings of a default Vxlan.
    let mut l = Link::default();
    l.index = IfIndex(7);
    l.name = "vx6".into();
    l.kind = Some(LinkKind::Vxlan(Vxlan::default()));
    let back = parse_link_payload(&encode(|w| write_link(&l, w))).unwrap();
    assert_eq!(back, l);
    assert!(back.info_data.is_none());
}

#[test]
fn congctl_round_trips() {
    let r: RouteV4 =
        Route::new("10.6.0.0/16".parse().unwrap()).gateway(Ipv4Addr::new(10, 0, 0, 2)).congctl("reno");
    let b = encode(|w| r.write(w));
    let AnyRoute::V4(back) = AnyRoute::parse(&msg(&b)).unwrap() else { panic!("IPv4") };
    assert_eq!(back.congctl.as_deref(), Some("reno"));
}

/// nftables: what the nft fuzz target found, through the public API (a
/// transaction's batch, decoded back).
mod nft {
    use netplumb::nft::expr::{decode_list, encode_list, Expr, Unknown};
    use netplumb::nft::{Family, Object, ObjectKind, Transaction};
    use netplumb::wire::{AttrIter, AttrWriter, Header, Msg, MsgIter};

    fn batch_msgs(tx: &Transaction) -> Vec<u8> {
        tx.messages().flat_map(|b| b.iter().copied()).collect()
    }

    #[test]
    fn an_unknown_expression_re_encodes_byte_for_byte() {
        // An element ending in an attribute of 14 bytes (no padding): a nest
        // used to pad it to 16.
        let mut raw = vec![14, 0, 1, 0];
        raw.extend_from_slice(b"immediate\0");
        let e = Expr::Unknown(Unknown { name: "immediate".into(), raw_type: 1 | 0x8000, raw: raw.clone() });
        let mut buf = Vec::new();
        encode_list(&mut AttrWriter::new(&mut buf), 4, std::slice::from_ref(&e));
        let a = AttrIter::new(&buf).next().unwrap().unwrap();
        match &decode_list(&a).unwrap()[0] {
            Expr::Unknown(u) => assert_eq!(u.raw, raw),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_object_kept_raw_keeps_its_exact_data() {
        // 6 bytes of data that netplumb cannot type: back as 6 bytes.
        let o = Object::new(
            Family::Inet,
            "filter",
            "odd",
            ObjectKind::Other { kind: 99, raw: vec![6, 0, 1, 0, 7, 7] },
        );
        let mut tx = Transaction::new();
        tx.add_object(&o).unwrap();
        let b = batch_msgs(&tx);
        let m = MsgIter::new(&b).map(Result::unwrap).find(|m| m.header.ty == (10 << 8) | 18).unwrap();
        let back = Object::decode(&Msg { header: Header::default(), payload: m.payload }).unwrap();
        assert_eq!(back.kind, o.kind);
    }
}
