//! Bulk requests at scale: 100,000 requests through `Connection::bulk`
//! complete without ENOBUFS or EMSGSIZE, also when every one of them fails.
//! Privileged: run as root. Uses raw route messages so it depends only on
//! the connection layer.

use std::net::Ipv4Addr;

use netplumb::conn::{Batch, Request};
use netplumb::testing::TestNs;
use netplumb::wire::{AttrIter, Msg, NLM_F_CREATE, NLM_F_EXCL};

const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;
const RTA_DST: u16 = 1;
const RTA_TABLE: u16 = 15;
const TABLE: u32 = 100;

fn rtmsg(dst_len: u8, table: u8, protocol: u8, scope: u8, ty: u8) -> [u8; 12] {
    [2 /* AF_INET */, dst_len, 0, 0, table, protocol, scope, ty, 0, 0, 0, 0]
}

fn blackhole(batch: &mut Batch, i: u32) {
    let dst = Ipv4Addr::from(0x0a00_0000 + i);
    batch.push(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, |w| {
        w.raw(&rtmsg(32, TABLE as u8, 4 /* static */, 0, 6 /* blackhole */));
        w.bytes(RTA_DST, &dst.octets());
        w.u32(RTA_TABLE, TABLE);
    });
}

fn count_in_table(m: &Msg<'_>) -> netplumb::Result<Option<()>> {
    let table =
        AttrIter::new(&m.payload[12..]).flatten().find(|a| a.kind() == RTA_TABLE).and_then(|a| a.u32().ok());
    Ok((table == Some(TABLE)).then_some(()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_requests_in_one_bulk() {
    const N: u32 = 100_000;
    let ns = TestNs::new("bulk").await;
    let conn = ns.route().await;
    let mut batch = Batch::new();
    for i in 0..N {
        blackhole(&mut batch, i);
    }
    conn.bulk(&batch).await.expect("100,000 routes in one bulk");
    assert_eq!(conn.stats().overruns, 0);

    // Count them with a kernel-filtered dump (strict checking honours the
    // table in the request).
    let dump_req = Request::new(RTM_GETROUTE, 0, |w| {
        w.raw(&rtmsg(0, TABLE as u8, 0, 0, 0));
        w.u32(RTA_TABLE, TABLE);
    });
    let n = conn.dump(&dump_req, count_in_table).try_collect().await.unwrap().len();
    assert_eq!(n, N as usize);
    // iproute2 agrees.
    let ip_count = ns.ip(&["route", "show", "table", "100"]).lines().count();
    assert_eq!(ip_count, N as usize);

    // The same 100,000 again with NLM_F_EXCL: every one fails with EEXIST,
    // and every error comes back, none lost to a full receive buffer.
    let err = conn.bulk_described(&batch, |i| format!("route {i}")).await.unwrap_err();
    let netplumb::Error::Batch(b) = err else { panic!("expected a batch error, got {err}") };
    assert_eq!(b.total, N as usize);
    assert_eq!(b.failures.len(), N as usize);
    assert!(b.failures.iter().all(|f| f.is_exists()));
    let idx: Vec<usize> = b.failures.iter().map(|f| f.operation.as_ref().unwrap().index).collect();
    assert!(idx.windows(2).all(|w| w[0] + 1 == w[1]), "errors map back to indices in order");
    assert_eq!(b.failures[41].operation.as_ref().unwrap().description, "route 41");
    assert_eq!(conn.stats().overruns, 0);
}
