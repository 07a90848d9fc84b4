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
    let nft = Nft::from_connection(conn);
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
    let nft = Nft::from_connection(conn);
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
    let nft = Nft::from_connection(conn);
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
