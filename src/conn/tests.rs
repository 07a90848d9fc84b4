//! Byte-level scripted replies (no root needed): the real connection code
//! talks to a scripted peer over a Unix datagram socket pair whose frames
//! carry the sender's port id, as `recvfrom` on a netlink socket would.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use super::*;
use crate::wire::{ErrorMsg, Header, MsgIter, NLMSG_DONE, NLMSG_ERROR, NLM_F_DUMP_INTR, NLM_F_MULTIPART};

const RTM_NEWLINK: u16 = libc::RTM_NEWLINK;
const RTM_GETLINK: u16 = libc::RTM_GETLINK;

fn msg(ty: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = Header { len: (16 + payload.len()) as u32, ty, flags, seq, port: 0 }.to_bytes().to_vec();
    v.extend_from_slice(payload);
    while v.len() % 4 != 0 {
        v.push(0);
    }
    v
}

/// One object of dump `seq` (payload: the byte `b`).
fn item(seq: u32, b: u8) -> Vec<u8> {
    msg(RTM_NEWLINK, NLM_F_MULTIPART, seq, &[b])
}

/// The `NLMSG_DONE` that ends dump `seq`, with extra `flags`.
fn done(seq: u32, flags: u16) -> Vec<u8> {
    msg(NLMSG_DONE, NLM_F_MULTIPART | flags, seq, &[0; 4])
}

fn ack(seq: u32, error: i32, message: Option<&str>) -> Vec<u8> {
    let e = ErrorMsg {
        error,
        request: Header { len: 32, ty: RTM_NEWLINK, flags: 5, seq, port: 0 },
        message: message.map(str::to_string),
        ..Default::default()
    };
    let (payload, flags) = e.encode();
    msg(NLMSG_ERROR, flags, seq, &payload)
}

fn send(peer: &UnixDatagram, port: u32, msgs: &[Vec<u8>]) {
    let mut frame = port.to_ne_bytes().to_vec();
    for m in msgs {
        frame.extend_from_slice(m);
    }
    peer.send(&frame).expect("script send");
}

/// Read one datagram the connection sent; return its messages' headers.
fn read_request(peer: &UnixDatagram) -> Vec<Header> {
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let n = peer.recv(&mut buf).expect("script recv");
    MsgIter::new(&buf[..n]).map(|m| m.unwrap().header).collect()
}

fn get_request() -> Request {
    Request::new(RTM_GETLINK, 0, |w| {
        w.raw(&[0u8; 16]);
    })
}

async fn script<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> tokio::task::JoinHandle<R> {
    tokio::task::spawn_blocking(f)
}

#[tokio::test]
async fn request_collects_replies_until_ack() {
    let (conn, peer, _dump) = Connection::scripted(Protocol::Route, Options::default()).unwrap();
    let s = script(move || {
        let h = read_request(&peer);
        assert_eq!(h.len(), 1);
        assert!(h[0].flags & NLM_F_ACK != 0 && h[0].flags & NLM_F_REQUEST != 0);
        send(&peer, 0, &[msg(RTM_NEWLINK, 0, h[0].seq, &[1, 2, 3, 4]), ack(h[0].seq, 0, None)]);
    })
    .await;
    let replies = conn.request(&get_request()).await.unwrap();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].payload, vec![1, 2, 3, 4]);
    s.await.unwrap();
}

#[tokio::test]
async fn extended_ack_message_reaches_the_caller() {
    let (conn, peer, _dump) = Connection::scripted(Protocol::Route, Options::default()).unwrap();
    let s = script(move || {
        let h = read_request(&peer);
        send(&peer, 0, &[ack(h[0].seq, -libc::EINVAL, Some("Attribute failed policy validation"))]);
    })
    .await;
    let err = conn.ack(&get_request()).await.unwrap_err();
    let k = err.kernel().expect("kernel error");
    assert_eq!(k.errno, crate::error::Errno::EINVAL);
    assert_eq!(k.message.as_deref(), Some("Attribute failed policy validation"));
    assert_eq!(k.request.to_string(), "RTM_GETLINK");
    assert!(err.to_string().contains("kernel says \"Attribute failed policy validation\""), "{err}");
    s.await.unwrap();
}

#[tokio::test]
async fn reply_from_a_foreign_port_is_dropped_and_the_kernels_reply_still_arrives() {
    let (conn, peer, _dump) = Connection::scripted(Protocol::Route, Options::default()).unwrap();
    let s = script(move || {
        let h = read_request(&peer);
        // A user-space process (port 4242) forges an ack, then an error,
        // for our request; then the kernel's real reply comes.
        send(&peer, 4242, &[ack(h[0].seq, 0, None)]);
        send(&peer, 4242, &[ack(h[0].seq, -libc::EPERM, None), msg(NLMSG_DONE, 0, h[0].seq, &[0; 4])]);
        send(&peer, 0, &[msg(RTM_NEWLINK, 0, h[0].seq, &[1]), ack(h[0].seq, 0, None)]);
    })
    .await;
    let replies = conn.request(&get_request()).await.unwrap();
    assert_eq!(replies.len(), 1, "the kernel's reply, not the forged ack");
    assert_eq!(replies[0].payload, vec![1]);
    assert_eq!(conn.stats().foreign, 3);
    assert_eq!(conn.stats().unmatched, 0);
    s.await.unwrap();
}

#[tokio::test]
async fn foreign_garbage_and_truncated_datagrams_are_dropped() {
    let opts = Options { max_datagram: 64, ..Options::default() };
    let (conn, peer, _dump) = Connection::scripted(Protocol::Route, opts).unwrap();
    let s = script(move || {
        let h = read_request(&peer);
        // Not from the kernel: a malformed datagram naming our sequence,
        // and one too large to read. Neither fails the request.
        let mut broken = msg(RTM_NEWLINK, 0, h[0].seq, &[1; 8]);
        broken[0..4].copy_from_slice(&1000u32.to_ne_bytes());
        send(&peer, 4242, &[broken]);
        send(&peer, 4242, &[msg(RTM_NEWLINK, 0, h[0].seq, &[7; 184])]);
        send(&peer, 0, &[ack(h[0].seq, 0, None)]);
    })
    .await;
    conn.ack(&get_request()).await.unwrap();
    assert_eq!(conn.stats().foreign, 2);
    s.await.unwrap();
}

#[tokio::test]
async fn malformed_datagram_from_the_kernel_fails_its_request() {
    let (conn, peer, _dump) = Connection::scripted(Protocol::Route, Options::default()).unwrap();
    let s = script(move || {
        let h = read_request(&peer);
        let mut broken = msg(RTM_NEWLINK, 0, h[0].seq, &[1; 8]);
        broken[0..4].copy_from_slice(&1000u32.to_ne_bytes());
        send(&peer, 0, &[broken]);
    })
    .await;
    let err = conn.with_timeout(Some(Duration::from_secs(10))).ack(&get_request()).await.unwrap_err();
    assert!(matches!(err, Error::Decode(_)), "{err:?}");
    s.await.unwrap();
}

#[tokio::test]
async fn forged_errors_do_not_touch_a_bulk_batch() {
    let (conn, peer, _dump) = Connection::scripted(Protocol::Route, Options::default()).unwrap();
    let s = script(move || {
        let h = read_request(&peer);
        assert_eq!(h.len(), 3);
        let forged: Vec<Vec<u8>> = h.iter().map(|h| ack(h.seq, -libc::EPERM, None)).collect();
        send(&peer, 4242, &forged);
        send(&peer, 0, &[ack(h[2].seq, 0, None)]);
    })
    .await;
    let mut b = Batch::new();
    for _ in 0..3 {
        b.push_request(&get_request());
    }
    conn.bulk(&b).await.unwrap();
    assert_eq!(conn.stats().foreign, 3);
    s.await.unwrap();
}

#[tokio::test]
async fn unknown_sequence_numbers_are_not_data() {
    let (conn, peer, _dump) = Connection::scripted(Protocol::Route, Options::default()).unwrap();
    let s = script(move || {
        let h = read_request(&peer);
        // A stray message with a sequence nobody asked for, then the real ack.
        send(&peer, 0, &[msg(RTM_NEWLINK, 0, h[0].seq.wrapping_add(1000), &[9; 4])]);
        send(&peer, 0, &[ack(h[0].seq, 0, None)]);
    })
    .await;
    let replies = conn.request(&get_request()).await.unwrap();
    assert!(replies.is_empty());
    assert_eq!(conn.stats().unmatched, 1);
    s.await.unwrap();
}

#[tokio::test]
async fn truncated_datagram_is_an_error_not_garbage() {
    let opts = Options { max_datagram: 64, ..Options::default() };
    let (conn, peer, _dump) = Connection::scripted(Protocol::Route, opts).unwrap();
    let s = script(move || {
        let h = read_request(&peer);
        // 200 bytes of reply into a 64-byte limit.
        send(&peer, 0, &[msg(RTM_NEWLINK, 0, h[0].seq, &[7; 184])]);
    })
    .await;
    let err = conn.request(&get_request()).await.unwrap_err();
    assert!(matches!(err, Error::Truncated { size, buffer: 64 } if size >= 204), "{err:?}");
    s.await.unwrap();
}

#[tokio::test]
async fn timeout_is_reported_and_late_reply_ignored() {
    let (conn, peer, _dump) = Connection::scripted(Protocol::Route, Options::default()).unwrap();
    let conn = conn.with_timeout(Some(Duration::from_millis(50)));
    let err = conn.ack(&get_request()).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    let h = read_request(&peer);
    send(&peer, 0, &[ack(h[0].seq, 0, None)]);
    // The connection still works, and counted the late ack as unmatched.
    let s = script(move || {
        let h = read_request(&peer);
        send(&peer, 0, &[ack(h[0].seq, 0, None)]);
    })
    .await;
    conn.with_timeout(None).ack(&get_request()).await.unwrap();
    s.await.unwrap();
    assert_eq!(conn.stats().unmatched, 1);
}

fn decode_first_byte(m: &Msg<'_>) -> Result<Option<u8>> {
    Ok(m.payload.first().copied())
}

#[tokio::test]
async fn multipart_dump_streams_every_message() {
    let (conn, _peer, dump) = Connection::scripted(Protocol::Route, Options::default()).unwrap();
    let s = script(move || {
        let h = read_request(&dump);
        assert!(h[0].flags & wire::NLM_F_DUMP == wire::NLM_F_DUMP);
        let seq = h[0].seq;
        send(&dump, 0, &[item(seq, 1), item(seq, 2)]);
        send(&dump, 0, &[item(seq, 3), done(seq, 0)]);
    })
    .await;
    let v = conn.dump(&get_request(), decode_first_byte).try_collect().await.unwrap();
    assert_eq!(v, vec![1, 2, 3]);
    s.await.unwrap();
}

#[tokio::test]
async fn error_inside_a_dump_ends_it_with_the_error() {
    let (conn, _peer, dump) = Connection::scripted(Protocol::Route, Options::default()).unwrap();
    let s = script(move || {
        let h = read_request(&dump);
        let seq = h[0].seq;
        send(&dump, 0, &[item(seq, 1), ack(seq, -libc::EBUSY, Some("dump busy"))]);
    })
    .await;
    let mut d = conn.dump(&get_request(), decode_first_byte);
    assert_eq!(d.try_next().await.unwrap(), Some(1));
    let e = d.try_next().await.unwrap_err();
    assert!(e.is_busy(), "{e}");
    assert_eq!(d.try_next().await.unwrap(), None);
    s.await.unwrap();
}

#[tokio::test]
async fn interrupted_dump_is_retried_then_reported() {
    let (conn, _peer, dump) = Connection::scripted(Protocol::Route, Options::default()).unwrap();
    let s = script(move || {
        // 1st attempt: flagged before anything was yielded: retried silently.
        let h = read_request(&dump);
        send(&dump, 0, &[done(h[0].seq, NLM_F_DUMP_INTR)]);
        // 2nd attempt: one object, then DONE flagged: the stream reports it.
        let h = read_request(&dump);
        send(&dump, 0, &[item(h[0].seq, 5), done(h[0].seq, NLM_F_DUMP_INTR)]);
        // try_collect dumps again: a clean, complete dump.
        let h = read_request(&dump);
        send(&dump, 0, &[item(h[0].seq, 6), done(h[0].seq, 0)]);
    })
    .await;
    let v = conn.dump(&get_request(), decode_first_byte).try_collect().await.unwrap();
    assert_eq!(v, vec![6]);
    s.await.unwrap();

    // With retries disabled, the caller gets the typed error.
    let (conn, _peer, dump) = Connection::scripted(Protocol::Route, Options::default()).unwrap();
    let s = script(move || {
        let h = read_request(&dump);
        send(&dump, 0, &[done(h[0].seq, NLM_F_DUMP_INTR)]);
    })
    .await;
    let err = conn
        .dump(&get_request(), decode_first_byte)
        .policy(DumpPolicy { retries: 0 })
        .try_collect()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DumpInterrupted { .. }), "{err:?}");
    s.await.unwrap();
}

#[tokio::test]
async fn abandoned_dump_is_drained_before_the_next() {
    let (conn, _peer, dump) = Connection::scripted(Protocol::Route, Options::default()).unwrap();
    let s = script(move || {
        let h1 = read_request(&dump);
        send(&dump, 0, &[item(h1[0].seq, 1)]);
        // The consumer drops the stream here; the rest of dump 1 arrives.
        send(&dump, 0, &[item(h1[0].seq, 2), done(h1[0].seq, 0)]);
        let h2 = read_request(&dump);
        assert_ne!(h1[0].seq, h2[0].seq);
        send(&dump, 0, &[item(h2[0].seq, 9), done(h2[0].seq, 0)]);
    })
    .await;
    let mut d = conn.dump(&get_request(), decode_first_byte);
    assert_eq!(d.try_next().await.unwrap(), Some(1));
    drop(d);
    let v = conn.dump(&get_request(), decode_first_byte).try_collect().await.unwrap();
    assert_eq!(v, vec![9]);
    s.await.unwrap();
}

#[tokio::test]
async fn bulk_acks_only_the_last_and_maps_errors_to_indices() {
    let (conn, peer, _dump) = Connection::scripted(Protocol::Route, Options::default()).unwrap();
    let mut batch = Batch::new();
    for i in 0..10u8 {
        batch.push(RTM_NEWLINK, wire::NLM_F_CREATE, |w| {
            w.raw(&[i; 16]);
        });
    }
    let s = script(move || {
        let h = read_request(&peer);
        assert_eq!(h.len(), 10, "all ten in one datagram");
        for (i, x) in h.iter().enumerate() {
            assert_eq!(x.flags & NLM_F_ACK != 0, i == 9, "only the last asks for an ack");
            assert_eq!(x.seq, h[0].seq + i as u32);
        }
        send(
            &peer,
            0,
            &[
                ack(h[3].seq, -libc::EEXIST, None),
                ack(h[7].seq, -libc::EINVAL, Some("bad")),
                ack(h[9].seq, 0, None),
            ],
        );
    })
    .await;
    let err = conn.bulk_described(&batch, |i| format!("link {i}")).await.unwrap_err();
    let Error::Batch(b) = err else { panic!("expected a batch error") };
    assert_eq!(b.total, 10);
    let idx: Vec<_> = b.failures.iter().map(|f| f.operation.as_ref().unwrap().index).collect();
    assert_eq!(idx, vec![3, 7]);
    assert!(b.failures[0].is_exists());
    assert_eq!(b.failures[1].operation.as_ref().unwrap().description, "link 7");
    s.await.unwrap();
}

#[tokio::test]
async fn concurrent_requests_each_get_their_own_reply() {
    let (conn, peer, _dump) = Connection::scripted(Protocol::Route, Options::default()).unwrap();
    const N: usize = 200;
    let s = script(move || {
        let mut seqs = Vec::new();
        for _ in 0..N {
            seqs.extend(read_request(&peer).into_iter().map(|h| h.seq));
        }
        // Answer in reverse order, echoing the sequence as payload.
        for &seq in seqs.iter().rev() {
            send(&peer, 0, &[msg(RTM_NEWLINK, 0, seq, &seq.to_ne_bytes()), ack(seq, 0, None)]);
        }
    })
    .await;
    let mut tasks = Vec::new();
    for _ in 0..N {
        let c = conn.clone();
        tasks.push(tokio::spawn(async move {
            let r = c.request(&get_request()).await.unwrap();
            u32::from_ne_bytes(r[0].payload[..4].try_into().unwrap())
        }));
    }
    let mut got: Vec<u32> = Vec::new();
    for t in tasks {
        got.push(t.await.unwrap());
    }
    got.sort();
    got.dedup();
    assert_eq!(got.len(), N, "every request got a distinct reply");
    s.await.unwrap();
}

#[tokio::test]
async fn events_decode_and_drop_foreign_senders() {
    let (mut sub, peer) = Subscription::scripted(Protocol::Route, Box::new(decode_first_byte));
    send(&peer, 0, &[msg(RTM_NEWLINK, 0, 0, &[4]), msg(RTM_NEWLINK, 0, 0, &[5])]);
    send(&peer, 77, &[msg(RTM_NEWLINK, 0, 0, &[6]), msg(NLMSG_DONE, 0, 0, &[0; 4])]);
    send(&peer, 77, &[vec![1, 2, 3]]);
    send(&peer, 0, &[msg(RTM_NEWLINK, 0, 0, &[7])]);
    assert_eq!(sub.try_next().await.unwrap(), Some(Event::Message(4)));
    assert_eq!(sub.try_next().await.unwrap(), Some(Event::Message(5)));
    // The forged event and the garbage are not items: the next one is the
    // kernel's.
    assert_eq!(sub.try_next().await.unwrap(), Some(Event::Message(7)));
    assert_eq!(sub.foreign(), 3);
}

#[tokio::test]
async fn dropping_the_last_handle_closes_the_sockets() {
    let (conn, req_peer, dump_peer) = Connection::scripted(Protocol::Route, Options::default()).unwrap();
    let clone = conn.clone();
    drop(conn);
    // A clone keeps the connection open.
    req_peer.send(&[0u8; 4]).expect("still open while a clone lives");
    drop(clone);
    // The reader task notices and drops the request socket; the dump
    // socket goes with the handle.
    let mut closed = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if req_peer.send(&[0u8; 4]).is_err() && dump_peer.send(&[0u8; 4]).is_err() {
            closed = true;
            break;
        }
    }
    assert!(closed, "sockets still open after the last handle was dropped");
}

/// Datagrams of a long dump `seq`: `n` datagrams of three messages each
/// (payload bytes 0, 1, 2, ... wrapping), the last one ending with
/// `NLMSG_DONE` (with `flags` on every message).
fn long_dump(seq: u32, n: usize, flags: u16) -> Vec<Vec<Vec<u8>>> {
    let mut k = 0u8;
    let mut out: Vec<Vec<Vec<u8>>> = (0..n)
        .map(|_| {
            (0..3)
                .map(|_| {
                    k = k.wrapping_add(1);
                    msg(RTM_NEWLINK, NLM_F_MULTIPART | flags, seq, &[k])
                })
                .collect()
        })
        .collect();
    out.last_mut().expect("n > 0").push(done(seq, flags));
    out
}

/// Send long dump `seq` of `n` datagrams ([`long_dump`]), with
/// `before(i)` (each a sender's port and the messages of one datagram)
/// sent ahead of datagram `i`.
fn send_long_dump(
    dump: &UnixDatagram,
    seq: u32,
    n: usize,
    before: impl Fn(usize) -> Vec<(u32, Vec<Vec<u8>>)>,
) {
    for (i, d) in long_dump(seq, n, 0).into_iter().enumerate() {
        for (port, msgs) in before(i) {
            send(dump, port, &msgs);
        }
        send(dump, 0, &d);
    }
}

#[tokio::test]
async fn long_dump_is_read_ahead_in_order_and_complete() {
    // More datagrams than READ_AHEAD_AFTER: a thread reads the rest.
    let n = super::dump::READ_AHEAD_AFTER as usize * 4;
    let (conn, _peer, dump) = Connection::scripted(Protocol::Route, Options::default()).unwrap();
    let s = script(move || {
        let h = read_request(&dump);
        for d in long_dump(h[0].seq, n, 0) {
            send(&dump, 0, &d);
        }
        // The connection dumps again afterwards on the same socket.
        let h2 = read_request(&dump);
        send(&dump, 0, &[item(h2[0].seq, 7)]);
        send(&dump, 0, &[done(h2[0].seq, 0)]);
    })
    .await;
    let v = conn.dump(&get_request(), decode_first_byte).try_collect().await.unwrap();
    let want: Vec<u8> = (1..=(3 * n) as u32).map(|k| k as u8).collect();
    assert_eq!(v, want);
    let v2 = conn.dump(&get_request(), decode_first_byte).try_collect().await.unwrap();
    assert_eq!(v2, vec![7]);
    s.await.unwrap();
}

#[tokio::test]
async fn long_dump_abandoned_while_read_ahead_is_drained_before_the_next() {
    let n = super::dump::READ_AHEAD_AFTER as usize * 4;
    let (conn, _peer, dump) = Connection::scripted(Protocol::Route, Options::default()).unwrap();
    let s = script(move || {
        let h1 = read_request(&dump);
        for d in long_dump(h1[0].seq, n, 0) {
            send(&dump, 0, &d);
        }
        let h2 = read_request(&dump);
        assert_ne!(h1[0].seq, h2[0].seq);
        send(&dump, 0, &[item(h2[0].seq, 9), done(h2[0].seq, 0)]);
    })
    .await;
    let mut d = conn.dump(&get_request(), decode_first_byte);
    // Past the point where the thread takes over, then drop the stream.
    let take = 3 * (super::dump::READ_AHEAD_AFTER as usize + 2);
    for k in 1..=take {
        assert_eq!(d.try_next().await.unwrap(), Some(k as u8));
    }
    drop(d);
    let v = tokio::time::timeout(
        Duration::from_secs(10),
        conn.dump(&get_request(), decode_first_byte).try_collect(),
    )
    .await
    .expect("the next dump is not stuck behind the abandoned one")
    .unwrap();
    assert_eq!(v, vec![9]);
    s.await.unwrap();
}

#[tokio::test]
async fn long_interrupted_dump_that_yielded_nothing_is_retried() {
    // The decoder keeps nothing, so an interrupted long dump (read ahead
    // by a thread) is dumped again on the socket the thread gave back.
    let n = super::dump::READ_AHEAD_AFTER as usize * 3;
    let (conn, _peer, dump) = Connection::scripted(Protocol::Route, Options::default()).unwrap();
    let s = script(move || {
        let h1 = read_request(&dump);
        for d in long_dump(h1[0].seq, n, NLM_F_DUMP_INTR) {
            send(&dump, 0, &d);
        }
        let h2 = read_request(&dump);
        for d in long_dump(h2[0].seq, n, 0) {
            send(&dump, 0, &d);
        }
    })
    .await;
    // `try_next`, not `try_collect` (which would also dump again on an
    // interrupted result): the dump itself must retry, on the socket the
    // reading thread gave back, and end cleanly.
    let mut d = conn.dump(&get_request(), |_m: &Msg<'_>| Ok(None::<u8>));
    assert_eq!(d.try_next().await.unwrap(), None);
    s.await.unwrap();
}

#[tokio::test]
async fn foreign_datagrams_during_a_dump_are_dropped() {
    let n = super::dump::READ_AHEAD_AFTER as usize + 4;
    let (conn, _peer, dump) = Connection::scripted(Protocol::Route, Options::default()).unwrap();
    let s = script(move || {
        let h = read_request(&dump);
        let seq = h[0].seq;
        // Forged before the dump reads anything, during the inline part,
        // and during read-ahead: ends, errors and objects of our dump.
        send(&dump, 4242, &[done(seq, 0)]);
        send_long_dump(&dump, seq, n, |i| {
            if i == 1 || i == n - 2 {
                vec![(4242, vec![item(seq, 200), done(seq, 0)]), (4242, vec![ack(seq, -libc::EPERM, None)])]
            } else {
                vec![]
            }
        });
    })
    .await;
    let v = conn.dump(&get_request(), decode_first_byte).try_collect().await.unwrap();
    let want: Vec<u8> = (1..=(n * 3) as u8).collect();
    assert_eq!(v, want, "every object of the kernel's, none of the forger's");
    assert_eq!(conn.stats().foreign, 1 + 2 * 3);
    s.await.unwrap();
}

#[tokio::test]
async fn a_forged_done_on_the_idle_dump_socket_does_not_end_the_next_dump() {
    let (conn, _peer, dump) = Connection::scripted(Protocol::Route, Options::default()).unwrap();
    // Queued before the dump request is even sent: guesses of its
    // sequence number.
    for seq in 0..8 {
        send(&dump, 4242, &[done(seq, 0)]);
    }
    let s = script(move || {
        let h = read_request(&dump);
        send(&dump, 0, &[item(h[0].seq, 1), item(h[0].seq, 2), done(h[0].seq, 0)]);
    })
    .await;
    let v = conn.dump(&get_request(), decode_first_byte).try_collect().await.unwrap();
    assert_eq!(v, vec![1, 2]);
    assert_eq!(conn.stats().foreign, 8);
    s.await.unwrap();
}

#[tokio::test]
async fn done_with_an_error_and_extended_ack_fails_the_dump() {
    let (conn, _peer, dump) = Connection::scripted(Protocol::Route, Options::default()).unwrap();
    let s = script(move || {
        let h = read_request(&dump);
        let mut payload = (-libc::EINVAL).to_ne_bytes().to_vec();
        let mut attrs = Vec::new();
        {
            let mut w = crate::wire::AttrWriter::new(&mut attrs);
            w.str(crate::wire::NLMSGERR_ATTR_MSG, "bad filter");
        }
        payload.extend_from_slice(&attrs);
        send(
            &dump,
            0,
            &[item(h[0].seq, 1), msg(NLMSG_DONE, NLM_F_MULTIPART | wire::NLM_F_ACK_TLVS, h[0].seq, &payload)],
        );
    })
    .await;
    let err = conn.dump(&get_request(), decode_first_byte).try_collect().await.unwrap_err();
    let k = err.kernel().unwrap_or_else(|| panic!("not a kernel error: {err:?}"));
    assert_eq!(k.errno, crate::Errno::EINVAL);
    assert_eq!(k.message.as_deref(), Some("bad filter"));
    s.await.unwrap();
}

#[tokio::test]
async fn a_read_ahead_thread_waiting_for_the_kernel_lets_go_when_the_dump_is_dropped() {
    // Enough datagrams that some are still to come when the consumer
    // has taken its items and drops the dump.
    let n = super::dump::READ_AHEAD_AFTER as usize * 4;
    let (conn, _peer, dump) = Connection::scripted(Protocol::Route, Options::default()).unwrap();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let s = script(move || {
        let h1 = read_request(&dump);
        let mut ds = long_dump(h1[0].seq, n, 0);
        let rest = ds.split_off(n / 2 + 2);
        for d in ds {
            send(&dump, 0, &d);
        }
        // Nothing more until the consumer is gone: the reading thread
        // sleeps in poll with nothing to read.
        go_rx.recv_timeout(Duration::from_secs(10)).expect("go");
        for d in rest {
            send(&dump, 0, &d);
        }
        let h2 = read_request(&dump);
        send(&dump, 0, &[item(h2[0].seq, 9), done(h2[0].seq, 0)]);
    })
    .await;
    let mut d = conn.dump(&get_request(), decode_first_byte);
    let take = 3 * (super::dump::READ_AHEAD_AFTER as usize + 2);
    for k in 1..=take {
        assert_eq!(d.try_next().await.unwrap(), Some(k as u8));
    }
    drop(d);
    // The thread wakes for the abandonment itself (not for data, none
    // comes) and gives the socket back.
    let started = std::time::Instant::now();
    while conn.inner.dump.try_lock().is_err() {
        assert!(started.elapsed() < Duration::from_secs(5), "the reading thread still holds the socket");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    go_tx.send(()).unwrap();
    let v = tokio::time::timeout(
        Duration::from_secs(10),
        conn.dump(&get_request(), decode_first_byte).try_collect(),
    )
    .await
    .expect("the next dump is not stuck behind the abandoned one")
    .unwrap();
    assert_eq!(v, vec![9]);
    s.await.unwrap();
}

/// A route dump request: the kernel sends its datagrams at most 32 KiB
/// long, so netplumb receives them without peeking at their size.
fn route_dump_request() -> Request {
    Request::new(libc::RTM_GETROUTE, 0, |w| {
        w.raw(&[0u8; 12]);
    })
}

/// A datagram of `seq` holding one object of `size` bytes (payload byte
/// `b`, then zeros).
fn big_item(seq: u32, b: u8, size: usize) -> Vec<u8> {
    let mut payload = vec![0u8; size - 16];
    payload[0] = b;
    msg(RTM_NEWLINK, NLM_F_MULTIPART, seq, &payload)
}

#[tokio::test]
async fn a_route_dump_read_without_peeking_is_whole_and_drops_forged_datagrams() {
    // Read inline, then by the reading thread, into 32 KiB buffers: every
    // object in order; the forger's datagrams, one of them longer than
    // any the kernel sends (so it is truncated, not read), dropped and
    // counted.
    let n = super::dump::READ_AHEAD_AFTER as usize + 4;
    let (conn, _peer, dump) = Connection::scripted(Protocol::Route, Options::default()).unwrap();
    let s = script(move || {
        let h = read_request(&dump);
        assert_eq!(h[0].ty, libc::RTM_GETROUTE);
        let seq = h[0].seq;
        send_long_dump(&dump, seq, n, |i| {
            if i == 1 || i == n - 2 {
                vec![(4242, vec![big_item(seq, 200, 40 << 10), done(seq, 0)])]
            } else {
                vec![]
            }
        });
    })
    .await;
    let v = conn.dump(&route_dump_request(), decode_first_byte).try_collect().await.unwrap();
    let want: Vec<u8> = (1..=(n * 3) as u8).collect();
    assert_eq!(v, want);
    assert_eq!(conn.stats().foreign, 2);
    s.await.unwrap();
}

#[tokio::test]
async fn a_route_dump_datagram_longer_than_the_kernel_sends_is_an_error_inline_and_read_ahead() {
    // Consumed and reported, never parsed in part: in the first datagram
    // (read inline) and in a later one (read by the thread).
    for at in [0, super::dump::READ_AHEAD_AFTER as usize + 2] {
        let n = super::dump::READ_AHEAD_AFTER as usize + 4;
        let (conn, _peer, dump) = Connection::scripted(Protocol::Route, Options::default()).unwrap();
        let s = script(move || {
            let h = read_request(&dump);
            let seq = h[0].seq;
            send_long_dump(&dump, seq, n, |i| {
                if i == at {
                    vec![(0, vec![big_item(seq, 1, (32 << 10) + 64)])]
                } else {
                    vec![]
                }
            });
        })
        .await;
        let err = conn.dump(&route_dump_request(), decode_first_byte).try_collect().await.unwrap_err();
        assert!(
            matches!(err, Error::Truncated { size, buffer } if size == (32 << 10) + 64 && buffer == 32 << 10),
            "datagram {at}: {err:?}"
        );
        s.await.unwrap();
    }
}

#[tokio::test]
async fn a_link_dump_still_peeks_and_takes_a_datagram_past_32_kib() {
    // The kernel sizes a link dump's datagrams by its largest link
    // (`min_dump_alloc`): they may pass 32 KiB, and are read whole.
    let n = super::dump::READ_AHEAD_AFTER as usize + 4;
    let (conn, _peer, dump) = Connection::scripted(Protocol::Route, Options::default()).unwrap();
    let s = script(move || {
        let h = read_request(&dump);
        assert_eq!(h[0].ty, RTM_GETLINK);
        let seq = h[0].seq;
        send_long_dump(&dump, seq, n, |i| {
            if i == 0 || i == n - 2 {
                vec![(0, vec![big_item(seq, 100 + i as u8, 100 << 10)])]
            } else {
                vec![]
            }
        });
    })
    .await;
    let v = conn.dump(&get_request(), decode_first_byte).try_collect().await.unwrap();
    let mut want: Vec<u8> = vec![100];
    want.extend(1..=((n - 2) * 3) as u8);
    want.push(100 + (n - 2) as u8);
    want.extend(((n - 2) * 3 + 1) as u8..=(n * 3) as u8);
    assert_eq!(v, want);
    s.await.unwrap();
}
