//! Foundation guarantees checked against the real kernel with links,
//! addresses and routes: concurrency, extended acks, constant-memory
//! dumps, interrupted dumps, event overruns, namespaces.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::Ipv4Addr;
use std::time::Duration;

use common::{ipj, netlink_sockets, rtnl};
use netplumb::conn::{DumpPolicy, Event, Request};
use netplumb::link::{LinkChange, NewLink, Veth, VethPeer};
use netplumb::netns::Netns;
use netplumb::route::{Route, RouteFilter, RouteTable, RouteV4};
use netplumb::testing::TestNs;
use netplumb::Error;

/// Counts the bytes allocated and not yet freed by the current thread, so
/// a test on a current-thread runtime can see what a dump holds.
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    /// High-water mark of LIVE since the last reset.
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn grow(by: isize) {
    let _ = LIVE.try_with(|c| {
        let now = c.get() + by;
        c.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        grow(l.size() as isize);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        grow(-(l.size() as isize));
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        grow(new as isize - l.size() as isize);
        System.realloc(p, l, new)
    }
}

#[global_allocator]
static A: Counting = Counting;

fn live() -> isize {
    LIVE.with(|c| c.get())
}

/// Start a new high-water mark; returns the current live bytes.
fn reset_peak() -> isize {
    let now = live();
    PEAK.with(|p| p.set(now));
    now
}

fn high_water() -> isize {
    PEAK.with(|p| p.get())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_requests_from_32_tasks_each_get_their_own_reply() {
    let ns = TestNs::new("conc").await;
    let rt = rtnl(&ns).await;
    let new: Vec<NewLink> =
        (0..60).map(|i| NewLink::new(format!("c{i}"), Veth::new(VethPeer::new(format!("d{i}"))))).collect();
    rt.links().add_many(&new).await.unwrap();
    let all: Vec<(netplumb::IfIndex, String)> =
        rt.links().list().try_collect().await.unwrap().into_iter().map(|l| (l.index, l.name)).collect();
    assert_eq!(all.len(), 121);
    let all = std::sync::Arc::new(all);
    let mut tasks = Vec::new();
    for t in 0..32usize {
        let links = rt.links().clone();
        let all = all.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            for j in (t..1000).step_by(32) {
                let (idx, name) = &all[(j * 7) % all.len()];
                let l = links.get(*idx).await.unwrap();
                assert_eq!(&l.name, name, "reply for {idx} went elsewhere");
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += tokio::time::timeout(Duration::from_secs(60), t).await.unwrap().unwrap();
    }
    assert_eq!(total, 1000);
    let s = rt.connection().stats();
    assert_eq!((s.unmatched, s.foreign), (0, 0), "{s:?}");
}

#[tokio::test]
async fn an_invalid_request_returns_the_kernels_extended_ack() {
    let ns = TestNs::new("extack").await;
    let rt = rtnl(&ns).await;
    // An over-long interface name, sent raw, bypassing validation.
    let req = Request::new(16, netplumb::wire::NLM_F_CREATE | netplumb::wire::NLM_F_EXCL, |w| {
        w.raw(&[0u8; 16]);
        w.str(3, "this-name-is-far-too-long");
        w.nest(18, |w| {
            w.bytes(1, b"veth");
        });
    });
    let e = rt.connection().ack(&req).await.unwrap_err();
    let k = e.kernel().unwrap_or_else(|| panic!("not a kernel error: {e}"));
    // NLA_STRING longer than its policy allows: ERANGE (EINVAL on older
    // kernels).
    assert!(k.errno == netplumb::Errno::ERANGE || k.errno == netplumb::Errno::EINVAL, "{e}");
    let msg = k.message.as_deref().expect("the kernel's extended-ack message");
    assert!(msg.contains("policy") || msg.contains("name"), "{msg}");
    // The offset points at IFLA_IFNAME, right after the 16-byte header and
    // the 16-byte ifinfomsg.
    assert_eq!(k.offset, Some(32), "{e}");
    assert!(e.to_string().contains(msg), "{e}");
    println!("kernel said: {e}");
    // Nothing was created.
    assert_eq!(ipj(&ns, &["link", "show"]).as_array().unwrap().len(), 1);
}

/// Routes in `with_routes`' namespace: `100.64.0.0/24` onwards.
const N: u32 = 10_000;

/// A fresh namespace with a veth `m0` up and `N` /24 routes through it.
async fn with_routes(tag: &str) -> (TestNs, netplumb::Rtnl) {
    let ns = TestNs::new(tag).await;
    let rt = rtnl(&ns).await;
    rt.links().add(&NewLink::new("m0", Veth::new(VethPeer::new("m1"))).up()).await.unwrap();
    let idx = rt.links().get("m0").await.unwrap().index;
    let routes: Vec<RouteV4> = (0..N)
        .map(|i| Route::new(format!("100.{}.{}.0/24", 64 + i / 256, i % 256).parse().unwrap()).oif(idx))
        .collect();
    rt.routes().add_many(&routes).await.unwrap();
    (ns, rt)
}

#[tokio::test]
async fn a_dump_of_ten_thousand_routes_streams_in_constant_memory() {
    // The namespace lives until the end of the test.
    let (_ns, rt) = with_routes("dumpmem").await;

    let filter = RouteFilter::all().table(RouteTable::MAIN);
    let base = reset_peak();
    let mut dump = rt.routes().list::<Ipv4Addr>(&filter);
    let mut n = 0u32;
    while let Some(r) = dump.try_next().await.unwrap() {
        n += 1;
        drop(r);
    }
    drop(dump);
    // Everything allocated on this thread while streaming, at its highest.
    let peak = high_water() - base;
    assert!(n >= N, "{n}");
    // Collecting the same dump holds every route at once.
    let base2 = reset_peak();
    let all: Vec<RouteV4> = rt.routes().list::<Ipv4Addr>(&filter).try_collect().await.unwrap();
    let held = live() - base2;
    assert!(high_water() - base2 >= held);
    assert_eq!(all.len(), n as usize);
    println!("streaming {n} routes held at most {peak} bytes; collecting them holds {held} bytes");
    // Streaming holds one datagram buffer (64 KiB) and one route; the
    // collected Vec holds all of them.
    assert!(peak < 256 << 10, "streaming held {peak} bytes");
    assert!(
        held > 8 * peak,
        "collect held {held} bytes, streaming {peak}: the check would not tell them apart"
    );
}

/// What the kernel holds queued for the `NETLINK_ROUTE` sockets of `ns`
/// that have a dump running: `(port, Rmem)` from `/proc/net/netlink`.
async fn running_dumps(ns: &TestNs) -> Vec<(u32, u64)> {
    let table =
        ns.netns().run(|| std::fs::read_to_string("/proc/thread-self/net/netlink")).await.unwrap().unwrap();
    netlink_sockets(&table)
        .into_iter()
        .filter(|s| s.protocol == 0 && s.dumping)
        .map(|s| (s.port, s.rmem))
        .collect()
}

#[tokio::test]
async fn a_route_dump_keeps_the_kernel_one_datagram_ahead_not_two() {
    // The kernel builds the next datagram of a dump inside every receive
    // call on the socket, a peek at the next datagram's size included.
    // netplumb receives a route dump's datagrams without peeking (the
    // kernel bounds them at 32 KiB), so after the first route is handed
    // out exactly one datagram (~33 KB of socket memory) waits; with a
    // peek before each receive, two would.
    let (ns, rt) = with_routes("dumpstep").await;
    let filter = RouteFilter::all().table(RouteTable::MAIN);
    // The first dump on a socket starts with a small datagram (the kernel
    // sizes datagrams by the receive buffers it has seen): the second
    // dump is the one to look at. The first must be whole.
    let all = rt.routes().list::<Ipv4Addr>(&filter).try_collect().await.unwrap();
    assert!(all.len() >= N as usize, "{}", all.len());
    let mut dump = rt.routes().list::<Ipv4Addr>(&filter);
    let first = dump.try_next().await.unwrap().expect("a route");
    assert_eq!(first, all[0]);
    let running = running_dumps(&ns).await;
    assert_eq!(running.len(), 1, "{running:?}");
    let (_, queued) = running[0];
    println!("after the first route, {queued} bytes queued");
    assert!(queued > 24 << 10, "no full datagram waits: {queued} bytes");
    assert!(queued < 48 << 10, "more than one datagram waits: {queued} bytes");
    // And the rest of the dump is whole.
    let mut n = 1usize;
    while let Some(r) = dump.try_next().await.unwrap() {
        assert_eq!(r, all[n]);
        n += 1;
    }
    assert_eq!(n, all.len());
    assert!(running_dumps(&ns).await.is_empty());
}

#[tokio::test]
async fn an_interrupted_dump_is_reported_or_retried_never_silently_partial() {
    let ns = TestNs::new("dumpintr").await;
    let rt = rtnl(&ns).await;
    // Enough links that a link dump takes many datagrams.
    let new: Vec<NewLink> =
        (0..150).map(|i| NewLink::new(format!("i{i}"), Veth::new(VethPeer::new(format!("j{i}"))))).collect();
    rt.links().add_many(&new).await.unwrap();
    // Churn from another connection in another task: links come and go
    // (which bumps the namespace's device sequence the link dump checks).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let other = rtnl(&ns).await;
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && n < 20_000 {
                other.links().add(&NewLink::new("churn0", Veth::new(VethPeer::new("churn1")))).await.unwrap();
                other.links().delete("churn0").await.unwrap();
                n += 1;
                tokio::task::yield_now().await;
            }
            n
        })
    };
    // Slow consumers: stream without retry, sleeping after every link so
    // the churn runs between datagrams, until the kernel flags an
    // interruption (bounded).
    let mut observed = 0;
    let mut attempts = 0;
    while observed == 0 && attempts < 10 {
        attempts += 1;
        let mut d = rt.links().list().policy(DumpPolicy { retries: 0 });
        loop {
            match d.try_next().await {
                Ok(Some(_)) => tokio::time::sleep(Duration::from_micros(200)).await,
                Ok(None) => break,
                Err(Error::DumpInterrupted { .. }) => {
                    observed += 1;
                    break;
                }
                Err(e) => panic!("{e}"),
            }
        }
    }
    // try_collect under churn: a complete dump or a typed error, never a
    // partial result.
    let r = rt.links().list().try_collect().await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let churned = churn.await.unwrap();
    println!("interrupted dumps observed: {observed} in {attempts} attempts; churn ran {churned} rounds");
    assert!(observed >= 1, "no interrupted dump in {attempts} attempts");
    match r {
        Ok(v) => assert!(v.len() == 301 || v.len() == 303, "{}", v.len()),
        Err(Error::DumpInterrupted { attempts, .. }) => assert!(attempts >= 1),
        Err(e) => panic!("{e}"),
    }
    // Without churn, the same dump completes.
    let v = rt.links().list().try_collect().await.unwrap();
    assert_eq!(v.len(), 301);
}

#[tokio::test]
async fn a_tiny_receive_buffer_and_a_burst_yield_an_overrun() {
    let ns = TestNs::new("overrun").await;
    let rt = rtnl(&ns).await;
    rt.links().add(&NewLink::new("o0", Veth::new(VethPeer::new("o1")))).await.unwrap();
    let idx = rt.links().get("o0").await.unwrap().index;
    let mut ev = rt.links().events_with_buffer(Some(4096)).await.unwrap();
    for mtu in 1000..1200 {
        rt.links().set(idx, &LinkChange::new().mtu(mtu)).await.unwrap();
    }
    let mut overruns = 0;
    let mut messages = 0;
    // Read what is queued (bounded): an overrun must be among it.
    while let Ok(r) = tokio::time::timeout(Duration::from_millis(500), ev.try_next()).await {
        match r.unwrap().unwrap() {
            Event::Overrun => overruns += 1,
            Event::Message(_) => messages += 1,
        }
        if messages + overruns > 400 {
            break;
        }
    }
    println!("{messages} messages, {overruns} overruns");
    assert!(overruns >= 1);
    assert!(messages < 200, "every change arrived despite the tiny buffer: {messages}");
    // The stream goes on after the overrun.
    rt.links().set(idx, &LinkChange::new().mtu(1500)).await.unwrap();
    let e = tokio::time::timeout(Duration::from_secs(5), ev.try_next()).await.unwrap().unwrap().unwrap();
    assert!(matches!(e, Event::Message(_)), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_inside_a_namespace_sees_only_that_namespace() {
    netplumb::testing::require_root();
    let name = format!("{}-nsconn-{}-0", netplumb::testing::PREFIX, std::process::id());
    let ns = Netns::create_named(&name).await.unwrap();
    let list = netplumb::testing::run("ip", &["netns", "list"]);
    assert!(list.lines().any(|l| l.split_whitespace().next() == Some(name.as_str())), "{list}");
    let rt = netplumb::Rtnl::new_in(&ns).await.unwrap();
    rt.links().add(&NewLink::new("only0", Veth::new(VethPeer::new("only1")))).await.unwrap();
    // From many tasks on both worker threads: always this namespace.
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let rt = rt.clone();
        tasks.push(tokio::spawn(async move {
            let mut names: Vec<String> =
                rt.links().list().try_collect().await.unwrap().into_iter().map(|l| l.name).collect();
            names.sort();
            names
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), ["lo", "only0", "only1"]);
    }
    let ipv = netplumb::testing::run("ip", &["-n", &name, "-j", "link", "show"]);
    let v: serde_json::Value = serde_json::from_str(&ipv).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 3);
    drop(rt);
    Netns::remove_named(&name).unwrap();
    Netns::remove_named(&name).unwrap();
    let list = netplumb::testing::run("ip", &["netns", "list"]);
    assert!(!list.lines().any(|l| l.split_whitespace().next() == Some(name.as_str())), "{list}");
}

#[tokio::test]
async fn a_long_dump_abandoned_half_way_leaves_the_next_dump_whole() {
    // 10,000 routes are ~80 datagrams: past the first few, a thread reads
    // the dump ahead. Drop the stream there; the next dump on the same
    // connection must still see every route, once, as `ip` does.
    let (ns, rt) = with_routes("dumpdrop").await;
    let filter = RouteFilter::all().table(RouteTable::MAIN);
    for round in 0..3 {
        let mut half = rt.routes().list::<Ipv4Addr>(&filter);
        for _ in 0..N / 2 {
            half.try_next().await.unwrap().expect("a route");
        }
        drop(half);
        let all: Vec<RouteV4> = tokio::time::timeout(
            Duration::from_secs(30),
            rt.routes().list::<Ipv4Addr>(&filter).try_collect(),
        )
        .await
        .expect("the next dump is not stuck behind the abandoned one")
        .unwrap();
        let mut ours: Vec<String> =
            all.iter().filter(|r| r.dst.addr().octets()[0] == 100).map(|r| r.dst.to_string()).collect();
        let n = ours.len();
        ours.sort();
        ours.dedup();
        assert_eq!((n, ours.len()), (N as usize, N as usize), "round {round}: every route exactly once");
    }
    let shown = ipj(&ns, &["route", "show", "table", "main"]);
    let by_ip = shown
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["dst"].as_str().unwrap_or("").starts_with("100."))
        .count();
    assert_eq!(by_ip, N as usize);
}
