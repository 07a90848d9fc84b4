//! Round trips of every expression through encode and decode (no root).

use super::*;
use crate::wire::AttrIter;

fn round_trip(e: Expr) {
    let mut buf = Vec::new();
    e.encode(&mut AttrWriter::new(&mut buf));
    let a = AttrIter::new(&buf).next().unwrap().unwrap();
    let back = Expr::decode(&a).unwrap();
    assert_eq!(back, e, "{} did not survive a round trip", e.name());
    // And re-encoding gives the same bytes.
    let mut again = Vec::new();
    back.encode(&mut AttrWriter::new(&mut again));
    assert_eq!(again, buf);
}

#[test]
fn every_expression_round_trips() {
    let all: Vec<Expr> = vec![
        Payload::load(PayloadBase::Network, 16, 4, Reg::R1).into(),
        Payload {
            dreg: None,
            sreg: Some(Reg::R1),
            base: PayloadBase::Network,
            offset: 8,
            len: 1,
            csum_type: Some(1),
            csum_offset: Some(10),
            csum_flags: Some(0),
        }
        .into(),
        Meta::load(MetaKey::L4Proto, Reg::r32(1)).into(),
        Meta::set(MetaKey::Mark, Reg::R1).into(),
        Cmp::new(Reg::R1, CmpOp::Ne, vec![10, 244]).into(),
        Bitwise::mask_xor(Reg::R1, Reg::R1, vec![0xff, 0xff, 0xbf, 0xff], vec![0, 0, 0x40, 0]).into(),
        Bitwise { sreg: Reg::R1, dreg: Reg::R2, len: 4, op: BitwiseOp::Lshift(3), explicit_op: true }.into(),
        Immediate::verdict(Verdict::Goto("svc".into())).into(),
        Immediate::verdict(Verdict::Accept).into(),
        Immediate::value(Reg::R2, vec![0x19, 0x2b]).into(),
        Lookup::map(Reg::R1, "service-ips", Reg::VERDICT).into(),
        Lookup { invert: true, set_id: Some(3), ..Lookup::set(Reg::R1, "__set%d") }.into(),
        Range { sreg: Reg::R1, negate: false, from: vec![0, 80], to: vec![0, 90] }.into(),
        Ct::load(CtKey::State, Reg::R1).into(),
        Ct { key: CtKey::SrcIp, dir: Some(CtDir::Original), dreg: Some(Reg::R1), sreg: None }.into(),
        Ct::set(CtKey::Mark, Reg::R1).into(),
        Nat {
            kind: NatType::Dnat,
            family: 2,
            addr_min: Some(Reg::R1),
            addr_max: None,
            proto_min: Some(Reg::R2),
            proto_max: None,
            flags: Some(NatFlags::MAP_IPS | NatFlags::PROTO_SPECIFIED | NatFlags::PERSISTENT),
        }
        .into(),
        Masq { flags: Some(NatFlags::FULLY_RANDOM), proto_min: None, proto_max: None }.into(),
        Redir { proto_min: Some(Reg::R1), proto_max: None, flags: Some(NatFlags::PROTO_SPECIFIED) }.into(),
        Counter { bytes: 1500, packets: 1 }.into(),
        Numgen { dreg: Reg::R1, kind: NumgenType::Random, modulus: 3, offset: 0 }.into(),
        Hash {
            kind: HashType::Jenkins,
            sreg: Some(Reg::R1),
            dreg: Reg::R1,
            len: Some(4),
            modulus: 2,
            seed: Some(0xdead),
            offset: 0,
        }
        .into(),
        Hash {
            kind: HashType::Sym,
            sreg: None,
            dreg: Reg::R1,
            len: None,
            modulus: 2,
            seed: None,
            offset: 100,
        }
        .into(),
        Dynset {
            set: "affinity".into(),
            set_id: None,
            op: DynsetOp::Update,
            sreg_key: Reg::R1,
            sreg_data: None,
            timeout_ms: Some(10_800_000),
            exprs: vec![],
            invert: false,
        }
        .into(),
        Objref::Named { kind: 1, name: "cnt".into() }.into(),
        Objref::Map { sreg: Reg::R1, set: "m".into(), set_id: None }.into(),
        Reject { kind: RejectType::TcpRst, code: 0 }.into(),
        Reject { kind: RejectType::IcmpxUnreach, code: 3 }.into(),
        Limit { rate: 10, unit: LimitUnit::SECOND, burst: 5, kind: LimitType::Packets, over: true }.into(),
        Log { prefix: Some("dropped: ".into()), level: Some(4), group: Some(2), ..Default::default() }.into(),
        Fib { dreg: Reg::R1, result: FibResult::AddrType, flags: FibFlags::DADDR }.into(),
        Notrack.into(),
        Quota { bytes: 25 << 20, consumed: 0, over: true }.into(),
        Byteorder { sreg: Reg::R1, dreg: Reg::R1, op: ByteorderOp::Ntoh, len: 2, size: 2 }.into(),
        Exthdr::tcp_option(Reg::R1, 2, 2, 2).into(),
        Exthdr::ipv6(Reg::R1, 44, 4, 4).into(),
        Exthdr::present(Reg::R1, ExthdrOp::TcpOpt, 4).into(),
        Exthdr { dreg: None, sreg: Some(Reg::R1), flags: None, ..Exthdr::tcp_option(Reg::R1, 2, 2, 2) }
            .into(),
        Exthdr {
            dreg: None,
            sreg: None,
            offset: None,
            len: None,
            flags: None,
            ..Exthdr::tcp_option(Reg::R1, 4, 0, 0)
        }
        .into(),
        Connlimit::new(3, true).into(),
        Connlimit::new(3, false).into(),
        Rt { dreg: Reg::R1, key: 1 }.into(),
        Socket { key: 3, dreg: Reg::R1, level: Some(2) }.into(),
        Synproxy { mss: Some(1460), wscale: Some(7), flags: Some(0xf) }.into(),
    ];
    for e in all {
        round_trip(e);
    }
}

#[test]
fn unknown_expressions_reencode_byte_for_byte() {
    // A tproxy expression (not modelled), and a cmp with an attribute
    // from the future (type 9): both must come back unchanged.
    for data in [&[8u8, 0, 1, 0, 0, 0, 0, 1, 5, 0, 2, 0, 0x2c, 0, 0, 0][..], &[8, 0, 9, 0, 1, 2, 3, 4]] {
        for name in ["tproxy", "cmp"] {
            let mut buf = Vec::new();
            let mut w = AttrWriter::new(&mut buf);
            w.nest(NFTA_LIST_ELEM, |w| {
                w.str(NFTA_EXPR_NAME, name);
                w.nest(NFTA_EXPR_DATA, |w| {
                    w.raw(data);
                });
            });
            let a = AttrIter::new(&buf).next().unwrap().unwrap();
            let e = Expr::decode(&a).unwrap();
            if name == "tproxy" || data.len() == 8 {
                assert!(matches!(e, Expr::Unknown(_)), "{name}: {e:?}");
            }
            let mut again = Vec::new();
            e.encode(&mut AttrWriter::new(&mut again));
            if matches!(e, Expr::Unknown(_)) {
                assert_eq!(again, buf);
            }
        }
    }
}

#[test]
fn truncated_input_is_an_error_not_a_panic() {
    let whole = Expr::from(Cmp::new(Reg::R1, CmpOp::Eq, vec![1, 2, 3, 4]));
    let mut buf = Vec::new();
    whole.encode(&mut AttrWriter::new(&mut buf));
    let mut errors = 0;
    for cut in 0..buf.len() {
        let mut b = buf[..cut].to_vec();
        if b.len() >= 2 {
            // Keep the outer length consistent so the inner parse is tried.
            let l = b.len() as u16;
            b[0..2].copy_from_slice(&l.to_ne_bytes());
        }
        if let Some(Ok(a)) = AttrIter::new(&b).next() {
            // A cut between two inner attributes leaves a shorter but
            // well-formed expression; any other cut splits an attribute.
            let on_boundary = AttrIter::new(&b[4..]).all(|r| r.is_ok()) && cut > 4;
            match Expr::decode(&a) {
                Err(_) => errors += 1,
                Ok(e) => {
                    assert!(on_boundary, "cut {cut} splits an attribute yet decodes: {e:?}");
                    assert_ne!(e, whole, "cut {cut} decodes as the whole expression");
                }
            }
        }
    }
    assert!(errors > 0);
}
