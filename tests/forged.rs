//! Forged netlink messages against the real kernel (issue 18): another
//! socket in the test's own namespace sends forged acks, errors, objects
//! and `NLMSG_DONE` to every netlink port of netplumb's (found in
//! `/proc/thread-self/net/netlink`, as any process in the namespace could)
//! while real requests, dumps, transactions and subscriptions run. Every
//! real operation must return the kernel's true answer, the drops must be
//! counted in `Stats::foreign`, and nothing may hang. Needs root.

mod common;

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{ipj, netlink_sockets, rtnl};
use netplumb::conn::Event;
use netplumb::conntrack::{Conntrack, Filter, Flow, TcpState, Tuple};
use netplumb::link::{NewLink, Veth, VethPeer};
use netplumb::nft::{Chain, Family, Nft, Table, Transaction};
use netplumb::route::{Route, RouteFilter, RouteTable, RouteV4};
use netplumb::rtnl::Change;
use netplumb::testing::TestNs;

/// Every awaited operation is bounded by this.
const BOUND: Duration = Duration::from_secs(120);

/// Sequence numbers the forger guesses (netplumb's start at 1; each test
/// sends fewer requests than this).
const SEQS: std::ops::RangeInclusive<u32> = 1..=4000;
/// Requests of the concurrent single-request tests.
const REQUESTS: u32 = 3000;
/// Forged messages of one kind per datagram.
const PER_DATAGRAM: u32 = 50;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_MULTI: u16 = 2;
const RTM_NEWLINK: u16 = 16;
const RTNLGRP_LINK: u32 = 1;

/// What the forger sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Forgery {
    /// `NLMSG_ERROR` with errno 0: "your request succeeded".
    Ack,
    /// `NLMSG_ERROR` with -EPERM.
    Eperm,
    /// `RTM_NEWLINK` for a link "forged0" (index 4242), then an ack.
    NewLink,
    /// `NLMSG_DONE`: "your dump is complete".
    Done,
}

fn header(len: usize, ty: u16, flags: u16, seq: u32, port: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(&(len as u32).to_ne_bytes());
    v.extend_from_slice(&ty.to_ne_bytes());
    v.extend_from_slice(&flags.to_ne_bytes());
    v.extend_from_slice(&seq.to_ne_bytes());
    v.extend_from_slice(&port.to_ne_bytes());
    v
}

/// The forged messages of `kind` for sequence `seq`, addressed to `port`.
fn forged(kind: Forgery, seq: u32, port: u32, out: &mut Vec<u8>) {
    let error = |errno: i32, out: &mut Vec<u8>| {
        out.extend(header(36, NLMSG_ERROR, 0x100 /* NLM_F_CAPPED */, seq, port));
        out.extend_from_slice(&(-errno).to_ne_bytes());
        out.extend(header(16, RTM_NEWLINK, 5, seq, port));
    };
    match kind {
        Forgery::Ack => error(0, out),
        Forgery::Eperm => error(libc::EPERM, out),
        Forgery::Done => {
            out.extend(header(20, NLMSG_DONE, NLM_F_MULTI, seq, port));
            out.extend_from_slice(&0i32.to_ne_bytes());
        }
        Forgery::NewLink => {
            // ifinfomsg (16 bytes) + IFLA_IFNAME "forged0\0" (12 bytes).
            out.extend(header(44, RTM_NEWLINK, 0, seq, port));
            let mut ifi = [0u8; 16];
            ifi[4..8].copy_from_slice(&4242i32.to_ne_bytes());
            out.extend_from_slice(&ifi);
            out.extend_from_slice(&12u16.to_ne_bytes());
            out.extend_from_slice(&3u16.to_ne_bytes());
            out.extend_from_slice(b"forged0\0");
            error(0, out);
        }
    }
}

/// The netlink ports of `protocol` in the calling thread's namespace,
/// except the kernel's and `own`.
fn ports(protocol: isize, own: u32) -> Vec<u32> {
    let table =
        std::fs::read_to_string("/proc/thread-self/net/netlink").expect("read /proc/thread-self/net/netlink");
    netlink_sockets(&table)
        .into_iter()
        .filter(|s| s.protocol == protocol && s.port != 0 && s.port != own)
        .map(|s| s.port)
        .collect()
}

/// A forging socket running on a thread in a namespace.
struct Forger {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

/// Rounds (every kind, every sequence, every port) forged so far.
type Rounds = Arc<std::sync::atomic::AtomicU64>;

impl Forger {
    /// Start forging `kinds` for every sequence of [`SEQS`] to every port
    /// of `protocol` in `ns` (and, with `group`, to that multicast group),
    /// round after round, for at most `BOUND`. Returns once the first
    /// round is out, so the real work that follows runs under fire from
    /// its first request.
    fn start(ns: &TestNs, protocol: isize, kinds: &[Forgery], group: Option<u32>) -> Forger {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let rounds = Rounds::default();
        let counted = rounds.clone();
        let netns = ns.netns().clone();
        let kinds = kinds.to_vec();
        let thread = std::thread::spawn(move || {
            netns
                .run_blocking(move || forge(protocol, &kinds, group, &flag, &counted))
                .expect("enter the test namespace")
        });
        let started = Instant::now();
        while rounds.load(Ordering::Relaxed) == 0 {
            assert!(started.elapsed() < Duration::from_secs(30), "the forger did not get going");
            std::thread::sleep(Duration::from_millis(1));
        }
        Forger { stop, thread: Some(thread) }
    }

    /// Stop; returns how many datagrams were delivered.
    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().expect("running").join().expect("forger thread")
    }
}

impl Drop for Forger {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn forge(protocol: isize, kinds: &[Forgery], group: Option<u32>, stop: &AtomicBool, rounds: &Rounds) -> u64 {
    let mut s = netlink_sys::Socket::new(protocol).expect("forger socket");
    let own = s.bind_auto().expect("bind forger").port_number();
    s.set_non_blocking(true).expect("non-blocking forger");
    let mut sink = vec![0u8; 64 << 10];
    let started = Instant::now();
    let mut delivered = 0u64;
    let mut dgram = Vec::with_capacity(64 << 10);
    while !stop.load(Ordering::Relaxed) && started.elapsed() < BOUND {
        // Sockets come and go (a subscription opens later): look again
        // every round.
        let mut targets: Vec<(u32, u32)> = ports(protocol, own).into_iter().map(|p| (p, 0)).collect();
        if let Some(g) = group {
            // To the group. The kernel also unicasts a group send to the
            // address's port: our own, so nothing reaches the kernel itself
            // (drained below).
            targets.push((own, 1 << (g - 1)));
        }
        let mut seq = *SEQS.start();
        while seq <= *SEQS.end() && !stop.load(Ordering::Relaxed) {
            let hi = (seq + PER_DATAGRAM - 1).min(*SEQS.end());
            for &kind in kinds {
                for &(port, groups) in &targets {
                    dgram.clear();
                    for q in seq..=hi {
                        forged(kind, q, port, &mut dgram);
                    }
                    let to = netlink_sys::SocketAddr::new(port, groups);
                    // A full receive buffer refuses the datagram
                    // (EAGAIN): that is the forger's loss, not a flood.
                    if s.send_to(&dgram, &to, libc::MSG_DONTWAIT).is_ok() {
                        delivered += 1;
                    }
                }
            }
            seq = hi + 1;
            let drain = nix::sys::socket::MsgFlags::MSG_DONTWAIT;
            while nix::sys::socket::recv(s.as_raw_fd(), &mut sink, drain).is_ok() {}
            // Forge steadily rather than fill the receive buffers: a
            // flood is a different attack (an overrun, reported as such).
            std::thread::sleep(Duration::from_micros(50));
        }
        rounds.fetch_add(1, Ordering::Relaxed);
    }
    delivered
}

async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, f).await.unwrap_or_else(|_| panic!("{what}: still waiting after {BOUND:?}"))
}

/// A namespace with a veth `m0` up; its index.
async fn with_link(tag: &str) -> (TestNs, netplumb::Rtnl, netplumb::IfIndex) {
    let ns = TestNs::new(tag).await;
    let rt = rtnl(&ns).await;
    rt.links().add(&NewLink::new("m0", Veth::new(VethPeer::new("m1"))).up()).await.unwrap();
    let idx = rt.links().get("m0").await.unwrap().index;
    (ns, rt, idx)
}

/// Route `i`'s destination, as `ip` prints it.
fn dst(i: u32) -> String {
    format!("100.{}.{}.0/24", 64 + i / 256, i % 256)
}

fn route(i: u32, idx: netplumb::IfIndex) -> RouteV4 {
    Route::new(dst(i).parse().unwrap()).oif(idx)
}

/// The IPv4 destinations of the main table, as `ip -j route` lists them.
fn ip_routes(ns: &TestNs) -> BTreeSet<String> {
    ipj(ns, &["-4", "route", "show", "table", "main"])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["dst"].as_str().unwrap().to_string())
        .collect()
}

/// [`REQUESTS`] concurrent single route adds from 20 tasks, every 10th of
/// them a duplicate the kernel must refuse with EEXIST, while `kinds` are
/// forged: each add returns what the kernel said.
async fn single_route_adds_under(tag: &str, kinds: &[Forgery]) {
    let (ns, rt, idx) = with_link(tag).await;
    // The duplicates' originals: 100 routes in place before.
    let originals: Vec<RouteV4> = (0..REQUESTS).step_by(10).map(|i| route(i, idx)).collect();
    rt.routes().add_many(&originals).await.unwrap();
    let before = rt.connection().stats();
    let forger = Forger::start(&ns, netlink_sys::protocols::NETLINK_ROUTE, kinds, None);
    let mut tasks = Vec::new();
    for t in 0..20u32 {
        let routes = rt.routes().clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for i in (t..REQUESTS).step_by(20) {
                out.push((i, routes.add(&route(i, idx)).await));
            }
            out
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.extend(bounded("route adds", t).await.unwrap());
    }
    let delivered = forger.stop();
    assert_eq!(results.len(), REQUESTS as usize);
    for (i, r) in &results {
        if i % 10 == 0 {
            let e = r.as_ref().expect_err("a duplicate route must fail");
            assert!(e.is_exists(), "route {i}: {e}");
        } else if let Err(e) = r {
            panic!("route {i}: the kernel applied it but the caller was told: {e}");
        }
    }
    let got = ip_routes(&ns);
    let missing: Vec<String> = (0..REQUESTS).map(dst).filter(|d| !got.contains(d)).collect();
    assert!(missing.is_empty(), "ip route misses {missing:?}");
    let s = rt.connection().stats();
    println!("{tag}: {delivered} forged datagrams delivered; stats before {before:?}, after {s:?}");
    assert!(delivered > 0);
    assert!(s.foreign > before.foreign, "forgeries were not counted: {s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_acks_do_not_decide_single_route_adds() {
    single_route_adds_under("fgack", &[Forgery::Ack]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_errors_do_not_fail_single_route_adds() {
    single_route_adds_under("fgerr", &[Forgery::Eperm]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_errors_and_acks_do_not_decide_bulk_adds() {
    let (ns, rt, idx) = with_link("fgbulk").await;
    let forger =
        Forger::start(&ns, netlink_sys::protocols::NETLINK_ROUTE, &[Forgery::Eperm, Forgery::Ack], None);
    // 1,000 new routes, then the same again: all fail with EEXIST.
    let routes: Vec<RouteV4> = (0..1000).map(|i| route(i, idx)).collect();
    for round in 0..5 {
        let r = bounded("bulk add", rt.routes().add_many(&routes[round * 200..(round + 1) * 200])).await;
        r.unwrap_or_else(|e| panic!("round {round}: {e}"));
    }
    let err = bounded("bulk add again", rt.routes().add_many(&routes)).await.unwrap_err();
    let delivered = forger.stop();
    match &err {
        netplumb::Error::Batch(b) => {
            assert_eq!(b.failures.len(), 1000, "{err}");
            assert!(b.failures.iter().all(|k| k.is_exists()), "{err}");
        }
        other => panic!("not a batch error: {other}"),
    }
    assert_eq!(ip_routes(&ns).len(), 1000);
    let s = rt.connection().stats();
    println!("{delivered} forged datagrams delivered; {s:?}");
    assert!(s.foreign > 0, "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_link_does_not_abort_or_answer_gets() {
    let ns = TestNs::new("fgget").await;
    let rt = rtnl(&ns).await;
    let new: Vec<NewLink> =
        (0..20).map(|i| NewLink::new(format!("g{i}"), Veth::new(VethPeer::new(format!("h{i}"))))).collect();
    rt.links().add_many(&new).await.unwrap();
    let all: Vec<(netplumb::IfIndex, String)> =
        rt.links().list().try_collect().await.unwrap().into_iter().map(|l| (l.index, l.name)).collect();
    let all = Arc::new(all);
    let forger = Forger::start(&ns, netlink_sys::protocols::NETLINK_ROUTE, &[Forgery::NewLink], None);
    let mut tasks = Vec::new();
    for t in 0..20usize {
        let links = rt.links().clone();
        let all = all.clone();
        tasks.push(tokio::spawn(async move {
            for j in (t..REQUESTS as usize).step_by(20) {
                let (idx, name) = &all[(j * 7) % all.len()];
                let l = links.get(*idx).await.unwrap_or_else(|e| panic!("get {idx}: {e}"));
                assert_eq!(&l.name, name, "the reply for {idx} is not the kernel's");
            }
        }));
    }
    for t in tasks {
        bounded("link gets", t).await.unwrap();
    }
    let delivered = forger.stop();
    let s = rt.connection().stats();
    println!("{delivered} forged datagrams delivered; {s:?}");
    assert!(s.foreign > 0, "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_done_neither_cuts_a_dump_nor_ends_the_next_one() {
    let (ns, rt, idx) = with_link("fgdump").await;
    const N: u32 = 10_000;
    let routes: Vec<RouteV4> = (0..N).map(|i| route(i, idx)).collect();
    rt.routes().add_many(&routes).await.unwrap();
    let want = ip_routes(&ns).len();
    assert!(want >= N as usize, "{want}");
    let filter = RouteFilter::all().table(RouteTable::MAIN);

    // While the dump runs.
    let forger =
        Forger::start(&ns, netlink_sys::protocols::NETLINK_ROUTE, &[Forgery::Done, Forgery::Eperm], None);
    for round in 0..3 {
        let got = bounded("route dump", rt.routes().list::<Ipv4Addr>(&filter).try_collect()).await;
        let got = got.unwrap_or_else(|e| panic!("dump {round}: {e}"));
        assert_eq!(got.len(), want, "dump {round}");
    }
    let during = forger.stop();
    let after_during = rt.connection().stats();
    assert!(after_during.foreign > 0, "{after_during:?}");

    // Sent to the idle dump socket between dumps: queued, then read first
    // by the next dump.
    let forger = Forger::start(&ns, netlink_sys::protocols::NETLINK_ROUTE, &[Forgery::Done], None);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = forger.stop();
    let got = bounded("route dump after", rt.routes().list::<Ipv4Addr>(&filter).try_collect()).await.unwrap();
    assert_eq!(got.len(), want);
    let s = rt.connection().stats();
    println!("{during} + {idle} forged datagrams delivered; {s:?}");
    assert!(s.foreign > after_during.foreign, "the idle socket's forgeries were not counted: {s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_events_are_not_items_of_the_stream() {
    let ns = TestNs::new("fgev").await;
    let rt = rtnl(&ns).await;
    let links = rt.links();
    let mut ev = links.events().await.unwrap();
    // To the subscription's port and to the link group itself.
    let forger = Forger::start(
        &ns,
        netlink_sys::protocols::NETLINK_ROUTE,
        &[Forgery::NewLink, Forgery::Done, Forgery::Eperm],
        Some(RTNLGRP_LINK),
    );
    let names: BTreeSet<String> = (0..20).map(|i| format!("v{i}")).collect();
    for i in 0..20 {
        links.add(&NewLink::new(format!("v{i}"), Veth::new(VethPeer::new(format!("w{i}"))))).await.unwrap();
    }
    let mut seen = BTreeSet::new();
    while !names.is_subset(&seen) {
        // `?`-style consumption: any error item fails the test.
        let item = bounded("link events", ev.try_next()).await;
        match item.unwrap_or_else(|e| panic!("the stream yielded an error: {e}")) {
            Some(Event::Message(Change::New(l))) => {
                assert_ne!(l.name, "forged0", "a forged event was yielded");
                seen.insert(l.name);
            }
            Some(Event::Message(Change::Deleted(l))) => assert_ne!(l.name, "forged0"),
            Some(Event::Overrun) => panic!("overrun: the forger flooded the socket"),
            None => panic!("the stream ended"),
        }
    }
    let delivered = forger.stop();
    let s = rt.connection().stats();
    println!("{delivered} forged datagrams delivered; {s:?}");
    assert!(s.foreign > 0, "{s:?}");
}

fn flow(i: usize) -> Flow {
    Flow::new(Tuple::tcp(
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, 1, (i >> 8) as u8, i as u8), 10000)),
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, 255, 0, 1), 80)),
    ))
    .with_timeout(600)
    .with_tcp_state(TcpState::ESTABLISHED)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conntrack_dump_survives_forged_ends_and_errors() {
    let ns = TestNs::new("fgct").await;
    let ct = Conntrack::new_in(ns.netns()).await.unwrap();
    const FLOWS: usize = 5_000;
    let flows: Vec<Flow> = (0..FLOWS).map(flow).collect();
    ct.add_many(&flows).await.unwrap();
    let forger =
        Forger::start(&ns, netlink_sys::protocols::NETLINK_NETFILTER, &[Forgery::Done, Forgery::Eperm], None);
    for round in 0..3 {
        let got = bounded("conntrack dump", ct.list(&Filter::new()).try_collect()).await;
        let got = got.unwrap_or_else(|e| panic!("dump {round}: {e}"));
        assert_eq!(got.len(), FLOWS, "dump {round}");
    }
    let delivered = forger.stop();
    let listed = ns.exec("conntrack", &["-C"]);
    assert_eq!(listed.trim(), FLOWS.to_string());
    let s = ct.connection().stats();
    println!("{delivered} forged datagrams delivered; {s:?}");
    assert!(s.foreign > 0, "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nft_transactions_get_the_kernels_answer_under_forged_acks_and_errors() {
    let ns = TestNs::new("fgnft").await;
    let nft = Nft::from_connection(ns.netfilter().await).unwrap();
    let forger =
        Forger::start(&ns, netlink_sys::protocols::NETLINK_NETFILTER, &[Forgery::Eperm, Forgery::Ack], None);
    for i in 0..100 {
        let mut tx = Transaction::new();
        tx.add_table(&Table::new(Family::Inet, format!("t{i}"))).unwrap();
        tx.add_chain(&Chain::new(Family::Inet, format!("t{i}"), "c")).unwrap();
        bounded("commit", nft.commit(&tx)).await.unwrap_or_else(|e| panic!("commit {i}: {e}"));
        // A commit the kernel refuses (a chain in a table that does not
        // exist) must come back refused, not acknowledged by a forgery.
        let mut bad = Transaction::new();
        bad.add_chain(&Chain::new(Family::Inet, format!("none{i}"), "c")).unwrap();
        let err = bounded("bad commit", nft.commit(&bad)).await.expect_err("the kernel refuses it");
        assert!(err.is_not_found(), "commit {i}: {err}");
    }
    let delivered = forger.stop();
    let tables = ns.exec("nft", &["list", "tables"]);
    assert_eq!(tables.lines().filter(|l| l.starts_with("table inet t")).count(), 100, "{tables}");
    let s = nft.connection().stats();
    println!("{delivered} forged datagrams delivered; {s:?}");
    assert!(s.foreign > 0, "{s:?}");
}
