//! Profiling aid for the routes-dump case: a namespace with 10,000 routes,
//! then dumps of its main table, either decoded by netplumb (`netplumb`),
//! read without decoding (`floor`), or not at all (`none`: the setup
//! alone).
//!
//! - `MODE N`: N dumps in a loop on one connection (warm). Run under
//!   `valgrind --tool=cachegrind --cache-sim=no` and subtract `none` for
//!   the instructions per dump.
//! - `MODE N fresh`: N times, as the e2e case does: a fresh namespace
//!   and table, a wait for a quiet machine, then one dump on a new
//!   connection on a new thread inside the namespace; prints the time,
//!   the page faults and the CPU time of each dump. With `QUIET_FIRST`
//!   set in the environment the wait comes before the setup instead, as
//!   in the e2e harness (the dump then follows the adding of the routes
//!   at once).
//!
//! Needs root; works only inside namespaces it creates and removes.
//!
//! `cargo run --release --manifest-path benches/e2e/Cargo.toml --example routes_dump_loop -- netplumb 20`

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use netplumb::netns::Netns;
use netplumb::route::{Route, RouteFilter, RouteTable, RouteV4};
use netplumb::testing::TestNs;
use netplumb::{IfIndex, Rtnl};

/// The harness's wait for a quiet machine.
#[path = "../src/quiet.rs"]
mod quiet;

#[inline(never)]
async fn dump_netplumb(rt: &Rtnl) -> usize {
    let mut s = rt.routes().list::<Ipv4Addr>(&RouteFilter::all().table(RouteTable::MAIN));
    let mut n = 0usize;
    while let Some(r) = s.try_next().await.unwrap() {
        n += (r.dst.prefix_len() == 24) as usize;
    }
    n
}

#[inline(never)]
async fn dump_floor(conn: &netplumb::conn::Connection, req: &netplumb::conn::Request) -> usize {
    let mut s = conn.dump(req, |m| Ok(Some(m.payload.len())));
    let mut n = 0usize;
    while let Some(len) = s.try_next().await.unwrap() {
        n += (len > 0) as usize;
    }
    n
}

/// CPU time of the calling thread (user, system).
fn thread_cpu() -> (Duration, Duration) {
    cpu(libc::RUSAGE_THREAD)
}

/// CPU time (user, system) of `who`: this thread or the whole process.
fn cpu(who: libc::c_int) -> (Duration, Duration) {
    let u = rusage(who);
    let d = |t: libc::timeval| Duration::from_micros(t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64);
    (d(u.ru_utime), d(u.ru_stime))
}

fn minflt() -> i64 {
    rusage(libc::RUSAGE_SELF).ru_minflt
}

/// `getrusage(who)`.
fn rusage(who: libc::c_int) -> libc::rusage {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct it is given.
    unsafe { libc::getrusage(who, &mut u) };
    u
}

/// A namespace with veth v0 (10.0.0.1/24) and 10,000 routes via 10.0.0.2.
fn setup(rt: &tokio::runtime::Runtime) -> TestNs {
    let ns = rt.block_on(TestNs::new("rloop"));
    ns.ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
    ns.ip(&["addr", "add", "10.0.0.1/24", "dev", "v0"]);
    ns.ip(&["link", "set", "v1", "up"]);
    ns.ip(&["link", "set", "v0", "up"]);
    let netns = ns.netns().clone();
    rt.block_on(async move {
        let h = Rtnl::new_in(&netns).await.unwrap();
        let v0 = h.links().get("v0").await.unwrap().index;
        let routes: Vec<RouteV4> = (0..10_000usize)
            .map(|i| {
                let dst = Ipv4Addr::new(100, 64 + (i >> 8) as u8, i as u8, 0);
                Route::new(ipnet::Ipv4Net::new(dst, 24).unwrap())
                    .gateway(Ipv4Addr::new(10, 0, 0, 2))
                    .oif(IfIndex(v0.0))
            })
            .collect();
        h.routes().add_many(&routes).await.unwrap();
    });
    ns
}

async fn timed(mode: &str, netns: &Netns, runs: usize) -> (usize, Duration, i64, (Duration, Duration)) {
    let h = Rtnl::new_in(netns).await.unwrap();
    let conn =
        netplumb::conn::Connection::new_in(netplumb::wire::names::Protocol::Route, netns).await.unwrap();
    let req = RouteFilter::all().table(RouteTable::MAIN).request(2);
    let f = minflt();
    let c = thread_cpu();
    let p = cpu(libc::RUSAGE_SELF);
    let t = Instant::now();
    let mut total = 0;
    for _ in 0..runs {
        total += match mode {
            "netplumb" => dump_netplumb(&h).await,
            "floor" => dump_floor(&conn, &req).await,
            "none" => 0,
            m => panic!("mode {m}: netplumb, floor or none"),
        };
    }
    let d = t.elapsed();
    let c2 = thread_cpu();
    let p2 = cpu(libc::RUSAGE_SELF);
    let others = (p2.0 + p2.1) - (p.0 + p.1) - ((c2.0 + c2.1) - (c.0 + c.1));
    eprintln!("other threads' CPU: {:.3} ms", others.as_secs_f64() * 1e3);
    (total, d, minflt() - f, (c2.0 - c.0, c2.1 - c.1))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "netplumb".into());
    let runs: usize = args.next().map_or(20, |s| s.parse().expect("a number of dumps"));
    let fresh = args.next().as_deref() == Some("fresh");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    if fresh {
        for _ in 0..runs {
            // QUIET_FIRST: wait before the setup instead (as the e2e
            // harness does between tools), so the dump runs right after
            // the routes were added.
            let quiet_first = std::env::var_os("QUIET_FIRST").is_some();
            if quiet_first {
                quiet::quiesce(Duration::from_secs(3));
            }
            let ns = setup(&rt);
            if !quiet_first {
                quiet::quiesce(Duration::from_secs(3));
            }
            let netns = ns.netns().clone();
            let m = mode.clone();
            // On a thread inside the namespace, as the e2e case runs
            // netplumb, its kernel floor and the peer crates.
            let (n, d, f, (u, sy)) = ns
                .netns()
                .run_blocking(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                    rt.block_on(timed(&m, &netns, 1))
                })
                .unwrap();
            println!(
                "{mode} fresh: {n} items, {:.3} ms, {f} page faults; this thread's CPU: user {:.3} ms, system {:.3} ms",
                d.as_secs_f64() * 1e3,
                u.as_secs_f64() * 1e3,
                sy.as_secs_f64() * 1e3
            );
        }
    } else {
        let ns = setup(&rt);
        let (n, d, f, (u, sy)) = rt.block_on(timed(&mode, ns.netns(), runs));
        let per = runs.max(1) as u32;
        println!(
            "{mode}: {runs} dumps, {n} items, {:?} per dump, {f} page faults; this thread's CPU per dump: user {:?}, system {:?}",
            d / per,
            u / per,
            sy / per
        );
    }
}
