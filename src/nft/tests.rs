//! Commit over a scripted kernel (no root): batch framing, generation
//! guard, handles from echoes, errors mapped back to operations.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use super::consts::*;
use super::*;
use crate::conn::Options;
use crate::names::{Protocol, NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END};
use crate::wire::{AttrWriter, ErrorMsg, Header, MsgIter, NLMSG_ERROR, NLM_F_ECHO};

fn msg_bytes(ty: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = Header { len: (16 + payload.len()) as u32, ty, flags: 0, seq, port: 0 }.to_bytes().to_vec();
    v.extend_from_slice(payload);
    while v.len() % 4 != 0 {
        v.push(0);
    }
    v
}

fn ack(seq: u32, ty: u16, error: i32, text: Option<&str>) -> Vec<u8> {
    let e = ErrorMsg {
        error,
        request: Header { len: 20, ty, flags: 0, seq, port: 0 },
        message: text.map(str::to_string),
        ..Default::default()
    };
    let (payload, flags) = e.encode();
    let mut m = msg_bytes(NLMSG_ERROR, seq, &payload);
    m[6..8].copy_from_slice(&flags.to_ne_bytes());
    m
}

fn send(peer: &UnixDatagram, msgs: &[Vec<u8>]) {
    let mut frame = 0u32.to_ne_bytes().to_vec();
    for m in msgs {
        frame.extend_from_slice(m);
    }
    peer.send(&frame).unwrap();
}

/// Headers and payloads of one datagram the connection sent.
fn read(peer: &UnixDatagram) -> Vec<(Header, Vec<u8>)> {
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let n = peer.recv(&mut buf).unwrap();
    MsgIter::new(&buf[..n]).map(|m| m.unwrap()).map(|m| (m.header, m.payload.to_vec())).collect()
}

fn gen_reply(seq: u32, genid: u32) -> Vec<u8> {
    let mut p = vec![0, 0, 0, 0];
    AttrWriter::new(&mut p).u32_be(NFTA_GEN_ID, genid);
    msg_bytes(msg(NFT_MSG_NEWGEN), seq, &p)
}

fn sample() -> (Transaction, OpId, OpId) {
    let mut tx = Transaction::new();
    tx.add_table(&Table::new(Family::Ip, "t")).unwrap();
    let chain = tx.add_chain(&Chain::new(Family::Ip, "t", "c")).unwrap();
    let rule = tx.add_rule(&RuleBuilder::new(Family::Ip, "t", "c").accept().build().unwrap()).unwrap();
    tx.guard_generation(7);
    (tx, chain, rule)
}

#[tokio::test]
async fn commit_frames_the_batch_and_returns_handles_and_generation() {
    let (conn, peer, _dump) = Connection::scripted(Protocol::Netfilter, Options::default()).unwrap();
    let nft = Nft::from_connection(conn).unwrap();
    let (tx, _, rule) = sample();
    let script = tokio::task::spawn_blocking(move || {
        let batch = read(&peer);
        let types: Vec<u16> = batch.iter().map(|(h, _)| h.ty).collect();
        assert_eq!(
            types,
            vec![
                NFNL_MSG_BATCH_BEGIN,
                msg(NFT_MSG_NEWTABLE),
                msg(NFT_MSG_NEWCHAIN),
                msg(NFT_MSG_NEWRULE),
                NFNL_MSG_BATCH_END
            ]
        );
        // res_id NFNL_SUBSYS_NFTABLES, then the generation guard.
        assert_eq!(&batch[0].1[..4], &[0, 0, 0, 10]);
        assert_eq!(&batch[0].1[4..], &[8, 0, 1, 0, 0, 0, 0, 7]);
        assert!(batch[3].0.flags & NLM_F_ECHO != 0);
        let barrier = read(&peer);
        assert_eq!(barrier[0].0.ty, msg(NFT_MSG_GETGEN));
        // The kernel echoes the rule with its handle, then answers the barrier.
        let mut echo = vec![2, 0, 0, 0];
        AttrWriter::new(&mut echo)
            .str(NFTA_RULE_TABLE, "t")
            .str(NFTA_RULE_CHAIN, "c")
            .u64_be(NFTA_RULE_HANDLE, 42);
        let seq = barrier[0].0.seq;
        send(&peer, &[msg_bytes(msg(NFT_MSG_NEWRULE), batch[3].0.seq, &echo)]);
        send(&peer, &[gen_reply(seq, 8), ack(seq, msg(NFT_MSG_GETGEN), 0, None)]);
    });
    let done = nft.commit(&tx).await.unwrap();
    script.await.unwrap();
    assert_eq!(done.generation, 8);
    assert_eq!(done.handle(rule), Some(42));
}

#[tokio::test]
async fn a_kernel_error_names_the_operation() {
    let (conn, peer, _dump) = Connection::scripted(Protocol::Netfilter, Options::default()).unwrap();
    let nft = Nft::from_connection(conn).unwrap();
    let (tx, chain, _) = sample();
    let script = tokio::task::spawn_blocking(move || {
        let batch = read(&peer);
        let barrier = read(&peer);
        let seq = barrier[0].0.seq;
        send(
            &peer,
            &[
                ack(batch[2].0.seq, msg(NFT_MSG_NEWCHAIN), -libc::ENOENT, Some("No such table")),
                gen_reply(seq, 7),
                ack(seq, msg(NFT_MSG_GETGEN), 0, None),
            ],
        );
    });
    let err = nft.commit(&tx).await.unwrap_err();
    script.await.unwrap();
    let k = err.kernel().unwrap();
    let op = k.operation.as_ref().unwrap();
    assert_eq!(op.index, chain.0);
    assert_eq!(op.description, "add chain ip t/c");
    assert_eq!(k.message.as_deref(), Some("No such table"));
    assert!(err.is_not_found());
}

#[tokio::test]
async fn errors_name_operations_by_opid_and_the_batch_header_as_no_operation() {
    let (conn, peer, _dump) = Connection::scripted(Protocol::Netfilter, Options::default()).unwrap();
    let nft = Nft::from_connection(conn).unwrap();
    let (tx, _, rule) = sample();
    let script = tokio::task::spawn_blocking(move || {
        let batch = read(&peer);
        let barrier = read(&peer);
        let seq = barrier[0].0.seq;
        // Sent out of order: the error lists them in the batch's order.
        send(
            &peer,
            &[
                ack(batch[3].0.seq, msg(NFT_MSG_NEWRULE), -libc::ENOENT, None),
                ack(batch[0].0.seq, NFNL_MSG_BATCH_BEGIN, -libc::ERESTART, None),
                gen_reply(seq, 7),
                ack(seq, msg(NFT_MSG_GETGEN), 0, None),
            ],
        );
    });
    let err = nft.commit(&tx).await.unwrap_err();
    script.await.unwrap();
    let Error::Batch(b) = &err else { panic!("not a batch error: {err}") };
    assert_eq!(b.total, 3);
    let header = &b.failures[0];
    assert_eq!(header.operation, None);
    assert_eq!(header.request.to_string(), "NFNL_MSG_BATCH_BEGIN");
    assert!(header.to_string().contains("generation guard failed"), "{header}");
    let op = b.failures[1].operation.as_ref().unwrap();
    assert_eq!((op.index, op.description.as_str()), (rule.0, "add rule to ip t/c"));
    assert_eq!(tx.describe(OpId(op.index)), Some("add rule to ip t/c"));
}

#[test]
fn large_element_lists_split_under_the_attribute_limit() {
    let set = Set::new(Family::Ip, "t", "s", KeyType::single(DataType::IPV4_ADDR));
    let elems: Vec<Element> =
        (0..50_000u32).map(|i| Element::new(Value::ipv4(std::net::Ipv4Addr::from(i)))).collect();
    let mut tx = Transaction::new();
    let op = tx.add_elements(&set, &elems).unwrap();
    assert!(tx.message_count() > 1);
    let mut total = 0;
    for m in tx.messages() {
        let msg_ = crate::wire::MsgIter::new(m).next().unwrap().unwrap();
        let (_, _, e) = decode_elements(&msg_).unwrap();
        total += e.len();
        // Every nest length fits in its u16.
        for a in crate::wire::attrs_after(msg_.payload, 4) {
            assert!(a.unwrap().payload.len() < 65_535);
        }
    }
    assert_eq!(total, 50_000);
    assert_eq!(tx.describe(op), Some("add 50000 elements to set ip t/s"));
}

/// A dump part `NFT_MSG_NEWSETELEM` of set ip t/s holding IPv4 `keys`.
fn setelem_part(seq: u32, keys: &[[u8; 4]]) -> Vec<u8> {
    let mut p = vec![2, 0, 0, 0];
    let mut w = AttrWriter::new(&mut p);
    w.str(NFTA_SET_ELEM_LIST_TABLE, "t").str(NFTA_SET_ELEM_LIST_SET, "s");
    w.nest(NFTA_SET_ELEM_LIST_ELEMENTS | crate::wire::NLA_F_NESTED, |w| {
        for k in keys {
            w.nest(NFTA_LIST_ELEM | crate::wire::NLA_F_NESTED, |w| {
                super::expr::put_value(w, NFTA_SET_ELEM_KEY, k);
            });
        }
    });
    let mut m = msg_bytes(msg(NFT_MSG_NEWSETELEM), seq, &p);
    m[6..8].copy_from_slice(&crate::wire::NLM_F_MULTIPART.to_ne_bytes());
    m
}

fn dump_done(seq: u32, flags: u16) -> Vec<u8> {
    let mut m = msg_bytes(crate::wire::NLMSG_DONE, seq, &[0; 4]);
    m[6..8].copy_from_slice(&(crate::wire::NLM_F_MULTIPART | flags).to_ne_bytes());
    m
}

#[tokio::test]
async fn listed_elements_come_from_the_last_attempt_of_an_interrupted_dump() {
    // list_elements decodes every message into one vector as it arrives:
    // what an interrupted attempt decoded must not stay in the result.
    let (conn, _peer, dump) = Connection::scripted(Protocol::Netfilter, Options::default()).unwrap();
    let nft = Nft::from_connection(conn).unwrap();
    let script = tokio::task::spawn_blocking(move || {
        // 1st attempt: two messages of elements, then DONE flagged as
        // interrupted (after objects were yielded: `try_collect` dumps again).
        let h = read(&dump);
        assert_eq!(h[0].0.ty, msg(NFT_MSG_GETSETELEM));
        let seq = h[0].0.seq;
        send(&dump, &[setelem_part(seq, &[[10, 0, 0, 1], [10, 0, 0, 2]])]);
        send(&dump, &[setelem_part(seq, &[[10, 0, 0, 3]]), dump_done(seq, crate::wire::NLM_F_DUMP_INTR)]);
        // 2nd attempt: a clean dump of other elements, in two messages.
        let h = read(&dump);
        let seq2 = h[0].0.seq;
        assert_ne!(seq2, seq);
        send(&dump, &[setelem_part(seq2, &[[192, 0, 2, 1]])]);
        send(&dump, &[setelem_part(seq2, &[[192, 0, 2, 2]]), dump_done(seq2, 0)]);
    });
    let got = nft.list_elements(Family::Ip, "t", "s").await.unwrap();
    script.await.unwrap();
    let keys: Vec<&[u8]> = got.iter().map(|e| e.key.as_bytes()).collect();
    assert_eq!(keys, vec![&[192, 0, 2, 1][..], &[192, 0, 2, 2][..]]);
}

#[test]
fn values_inline_and_on_the_heap_behave_as_their_bytes() {
    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};
    let hash = |v: &dyn Fn(&mut DefaultHasher)| {
        let mut h = DefaultHasher::new();
        v(&mut h);
        h.finish()
    };
    for n in [0usize, 1, 4, 16, Value::INLINE, Value::INLINE + 1, 40, 64] {
        let bytes: Vec<u8> = (0..n as u8).collect();
        let a = Value::from_bytes(&bytes);
        let b = Value::from(bytes.clone());
        assert_eq!(a, b);
        assert_eq!(a.as_bytes(), &bytes[..]);
        assert_eq!(&*a, &bytes[..]);
        assert_eq!(a, bytes);
        assert_eq!(a.clone().into_vec(), bytes);
        assert_eq!(Vec::from(b.clone()), bytes);
        assert_eq!(format!("{a:?}"), format!("Value({bytes:?})"));
        // Hashes and orders as the bytes (as the former Vec<u8> did).
        assert_eq!(hash(&|h| a.hash(h)), hash(&|h| bytes.hash(h)));
        let mut longer = bytes.clone();
        longer.push(0);
        let longer = Value::from(longer);
        assert!(a < longer);
    }
    // Order across the two representations is the bytes' order.
    let short = Value::from_bytes(&[1; 22]);
    let long = Value::from_bytes(&[0; 23]);
    assert!(long < short);
    assert_eq!(Value::default().as_bytes(), &[] as &[u8]);
    assert_eq!(Value::ipv4("10.0.0.1".parse().unwrap()), vec![10, 0, 0, 1]);
    assert_eq!(Value::port(80), vec![0, 80]);
    assert_eq!(Value::ifname("eth0").unwrap(), b"eth0\0\0\0\0\0\0\0\0\0\0\0\0".to_vec());
    let c = Value::concat(&[Value::ipv6("2001:db8::1".parse().unwrap()), Value::port(443)]);
    assert_eq!(c.len(), 20);
    assert_eq!(&c[16..18], &[1, 187]);
    // A key held inline takes no more room than the Vec<u8> it replaced.
    assert!(std::mem::size_of::<Value>() <= std::mem::size_of::<Vec<u8>>());
    assert!(std::mem::size_of::<Option<Value>>() <= std::mem::size_of::<Vec<u8>>());
}
