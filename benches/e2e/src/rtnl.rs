//! Links, addresses and routes: netplumb vs `ip -batch` / `ip -j`, and the
//! rtnetlink and nlink crates, each at its fastest (rtnetlink with many
//! requests in flight, nlink with its batch API).

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use netplumb::addr::Address;
use netplumb::link::{NewLink, Veth, VethPeer};
use netplumb::route::{Route, RouteFilter, RouteTable, RouteV4};
use netplumb::testing::TestNs;
use netplumb::{IfIndex, Rtnl};

use crate::harness::*;
use netplumb::conn::{Batch, Request};
use netplumb::wire::names::Protocol;

/// `RTM_*` and `NLM_F_*` numbers for the kernel-floor rows.
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;
const CREATE_EXCL: u16 = 0x400 | 0x200;
const IFLA_GROUP: u16 = 27;

pub const ROUTES: usize = 10_000;
pub const ADDRS: usize = 1_000;
pub const VETHS: usize = 1_000;
/// Requests rtnetlink keeps in flight (its fastest on this machine of
/// 16, 64, 256, 1024 tried; more overflow the socket with acks).
const INFLIGHT: usize = 256;
const GW: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const GROUP: u32 = 7;

fn e(x: impl std::fmt::Display) -> String {
    x.to_string()
}

/// An nlink connection with a 4 MiB receive buffer, as netplumb's sockets
/// have: with the default, nlink's batches (up to 200 KiB of requests, one
/// ack each) overflow it (ENOBUFS).
fn nlink_conn() -> Result<nlink::Connection<nlink::Route>, String> {
    let conn = nlink::Connection::<nlink::Route>::new().map_err(e)?;
    conn.socket().set_rcvbuf(4 << 20).map_err(e)?;
    Ok(conn)
}

/// `100.64.0.0/10` carved into /24s.
fn route_dst(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(100, 64 + (i >> 8) as u8, i as u8, 0)
}

fn addr_of(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 1, (i >> 8) as u8, i as u8)
}

/// A namespace with veth `v0` (10.0.0.1/24, up) and its peer `v1`.
fn with_link(tag: &str) -> TestNs {
    let ns = fresh(tag);
    ns.ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
    ns.ip(&["addr", "add", "10.0.0.1/24", "dev", "v0"]);
    ns.ip(&["link", "set", "v1", "up"]);
    ns.ip(&["link", "set", "v0", "up"]);
    ns
}

fn index_of(ns: &TestNs, name: &'static str) -> u32 {
    inside_async(
        ns,
        move || async move { Rtnl::new().await.unwrap().links().get(name).await.unwrap().index.0 },
    )
}

fn count_routes(ns: &TestNs) -> usize {
    inside_async(ns, || async {
        let rt = Rtnl::new().await.unwrap();
        let all: Vec<RouteV4> =
            rt.routes().list(&RouteFilter::all().table(RouteTable::MAIN)).try_collect().await.unwrap();
        all.iter().filter(|r| r.dst.prefix_len() == 24 && r.dst.addr().octets()[0] == 100).count()
    })
}

fn count_addrs(ns: &TestNs) -> usize {
    inside_async(ns, || async {
        let rt = Rtnl::new().await.unwrap();
        let all = rt.addresses().list().try_collect().await.unwrap();
        all.iter()
            .filter(|a| a.address.prefix_len() == 32 && a.address.to_string().starts_with("10.1."))
            .count()
    })
}

fn count_links(ns: &TestNs) -> usize {
    inside_async(ns, || async {
        Rtnl::new().await.unwrap().links().list().try_collect().await.unwrap().len()
    })
}

fn routes_with_10k(ns: &TestNs) {
    let v0 = index_of(ns, "v0");
    inside_async(ns, move || async move {
        let rt = Rtnl::new().await.unwrap();
        let routes: Vec<RouteV4> = (0..ROUTES)
            .map(|i| Route::new(ipnet::Ipv4Net::new(route_dst(i), 24).unwrap()).gateway(GW).oif(IfIndex(v0)))
            .collect();
        rt.routes().add_many(&routes).await.unwrap();
    });
}

fn veths_in_group(ns: &TestNs) {
    inside_async(ns, || async {
        let rt = Rtnl::new().await.unwrap();
        let links: Vec<NewLink> = (0..VETHS)
            .map(|i| {
                NewLink::new(format!("ve{i}a"), Veth::new(VethPeer::new(format!("ve{i}b")))).group(GROUP)
            })
            .collect();
        rt.links().add_many(&links).await.unwrap();
    });
}

// ---- how each tool does bulk work --------------------------------------

/// Time `work` inside `ns` (it returns its own elapsed time, so what it
/// prepares first is not counted), then check the result with `verify`.
fn measure_in<Fut>(
    ns: &TestNs,
    work: impl FnOnce() -> Fut + Send + 'static,
    verify: impl Fn(&TestNs) -> Result<(), String>,
) -> Result<Measure, String>
where
    Fut: Future<Output = Result<Duration, String>>,
{
    let d = inside_async(ns, work)?;
    verify(ns)?;
    Ok(Measure::time(d))
}

/// `ip -batch` of `n` commands made by `line`, timed, then `verify`.
fn ip_batch_lines(
    ns: &TestNs,
    n: usize,
    line: impl Fn(usize) -> String,
    verify: impl Fn(&TestNs) -> Result<(), String>,
) -> Result<Measure, String> {
    let script: String = (0..n).map(|i| line(i) + "\n").collect();
    let d = ip_batch(ns, &script)?;
    verify(ns)?;
    Ok(Measure::time(d))
}

/// rtnetlink at its fastest: `n` requests made by `request`, `INFLIGHT`
/// of them in flight. Returns the time from the first request to the last
/// reply.
async fn rtnetlink_pipelined<Fut>(
    n: usize,
    request: impl Fn(&rtnetlink::Handle, usize) -> Fut,
) -> Result<Duration, String>
where
    Fut: Future<Output = Result<(), rtnetlink::Error>>,
{
    let (conn, handle, _) = rtnetlink::new_connection().map_err(e)?;
    tokio::spawn(conn);
    let t = Instant::now();
    futures::stream::iter(0..n)
        .map(|i| request(&handle, i))
        .buffer_unordered(INFLIGHT)
        .try_collect::<Vec<()>>()
        .await
        .map_err(e)?;
    Ok(t.elapsed())
}

/// nlink at its fastest: one batch of `n` operations added by `add`.
async fn nlink_batched(
    n: usize,
    add: impl for<'a> Fn(nlink::netlink::Batch<'a>, usize) -> nlink::netlink::Batch<'a>,
) -> Result<Duration, String> {
    let conn = nlink_conn()?;
    let t = Instant::now();
    let mut b = conn.batch();
    for i in 0..n {
        b = add(b, i);
    }
    b.execute_all().await.map_err(e)?;
    Ok(t.elapsed())
}

/// netplumb: `make` the values and `add` them in one call, both on the
/// clock (the other tools build their requests on it too).
async fn netplumb_bulk<T, Fut>(
    make: impl FnOnce() -> T,
    add: impl FnOnce(Rtnl, T) -> Fut,
) -> Result<Duration, String>
where
    Fut: Future<Output = netplumb::Result<()>>,
{
    let rt = Rtnl::new().await.map_err(e)?;
    let t = Instant::now();
    let items = make();
    add(rt, items).await.map_err(e)?;
    Ok(t.elapsed())
}

// ---- routes: add 10,000 -------------------------------------------------

fn routes_add() -> Case {
    let verify = |ns: &TestNs| expect_count("routes in main", count_routes(ns), ROUTES);
    Case {
        name: "routes-add",
        what: "add 10,000 IPv4 routes via a gateway",
        reference: "ip -batch",
        target: Some(Target::Ratio(0.4)),
        mem_target_mib: None,
        tools: vec![
            tool("netplumb", move || {
                let ns = with_link("radd");
                let v0 = IfIndex(index_of(&ns, "v0"));
                let routes = move || -> Vec<RouteV4> {
                    (0..ROUTES)
                        .map(|i| {
                            Route::new(ipnet::Ipv4Net::new(route_dst(i), 24).unwrap()).gateway(GW).oif(v0)
                        })
                        .collect()
                };
                measure_in(
                    &ns,
                    move || netplumb_bulk(routes, |rt, r| async move { rt.routes().add_many(&r).await }),
                    verify,
                )
            }),
            tool("kernel floor", move || {
                // The same requests, encoded before the clock starts.
                let ns = with_link("radd");
                let v0 = IfIndex(index_of(&ns, "v0"));
                let mut b = Batch::new();
                for i in 0..ROUTES {
                    let r: RouteV4 =
                        Route::new(ipnet::Ipv4Net::new(route_dst(i), 24).unwrap()).gateway(GW).oif(v0);
                    b.push(RTM_NEWROUTE, CREATE_EXCL, |w| r.write(w));
                }
                let d = floor_bulk_inside(&ns, Protocol::Route, b)?;
                verify(&ns)?;
                Ok(Measure::time(d))
            }),
            tool("ip -batch", move || {
                let ns = with_link("radd");
                ip_batch_lines(
                    &ns,
                    ROUTES,
                    |i| format!("route add {}/24 via {GW} dev v0", route_dst(i)),
                    verify,
                )
            }),
            tool("rtnetlink", move || {
                let ns = with_link("radd");
                let v0 = index_of(&ns, "v0");
                let work = move || {
                    rtnetlink_pipelined(ROUTES, move |h, i| {
                        let m = rtnetlink::RouteMessageBuilder::<Ipv4Addr>::new()
                            .destination_prefix(route_dst(i), 24)
                            .gateway(GW)
                            .output_interface(v0)
                            .build();
                        h.route().add(m).execute()
                    })
                };
                measure_in(&ns, work, verify)
            }),
            tool("nlink", move || {
                let ns = with_link("radd");
                let v0 = index_of(&ns, "v0");
                let work = move || {
                    nlink_batched(ROUTES, move |b, i| {
                        b.add_route(nlink::Ipv4Route::new(route_dst(i), 24).gateway(GW).dev_index(v0))
                    })
                };
                measure_in(&ns, work, verify)
            }),
        ],
    }
}

// ---- routes: dump 10,000 ------------------------------------------------

fn routes_dump() -> Case {
    Case {
        name: "routes-dump",
        what: "list a main table of 10,000 routes",
        reference: "ip -j route show",
        target: Some(Target::Ratio(0.4)),
        mem_target_mib: None,
        tools: vec![
            tool("netplumb", || {
                let ns = with_link("rdump");
                routes_with_10k(&ns);
                let (d, n) = inside_async(&ns, || async {
                    let rt = Rtnl::new().await.map_err(e)?;
                    let t = Instant::now();
                    let mut s = rt.routes().list::<Ipv4Addr>(&RouteFilter::all().table(RouteTable::MAIN));
                    let mut n = 0usize;
                    while let Some(r) = s.try_next().await.map_err(e)? {
                        n += (r.dst.prefix_len() == 24) as usize;
                    }
                    Ok::<_, String>((t.elapsed(), n))
                })?;
                expect_count("routes listed", n, ROUTES + 1)?;
                Ok(Measure::time(d))
            }),
            tool("kernel floor", || {
                let ns = with_link("rdump");
                routes_with_10k(&ns);
                let req = RouteFilter::all().table(RouteTable::MAIN).request(2);
                let (d, n) = floor_dump_inside(&ns, Protocol::Route, req)?;
                // The main table's routes (the kernel filters by table
                // only for strict-checking sockets: count what came).
                if n < ROUTES + 1 {
                    return Err(format!("{n} route messages, expected at least {}", ROUTES + 1));
                }
                Ok(Measure::time(d))
            }),
            tool("ip -j route show", || {
                let ns = with_link("rdump");
                routes_with_10k(&ns);
                let (d, out) = timed(
                    std::process::Command::new("ip").args(["-n", ns.name(), "-j", "route", "show"]),
                    None,
                )?;
                let n = String::from_utf8_lossy(&out.stdout).matches("\"dst\":\"100.").count();
                expect_count("routes printed", n, ROUTES)?;
                Ok(Measure::time(d))
            }),
            tool("rtnetlink", || {
                let ns = with_link("rdump");
                routes_with_10k(&ns);
                let (d, n) = inside_async(&ns, || async {
                    let (conn, handle, _) = rtnetlink::new_connection().map_err(e)?;
                    tokio::spawn(conn);
                    let t = Instant::now();
                    let mut s = handle
                        .route()
                        .get(rtnetlink::RouteMessageBuilder::<Ipv4Addr>::new().build())
                        .execute();
                    let mut n = 0usize;
                    while let Some(r) = s.try_next().await.map_err(e)? {
                        n += (r.header.table == 254 && r.header.destination_prefix_length == 24) as usize;
                    }
                    Ok::<_, String>((t.elapsed(), n))
                })?;
                expect_count("routes listed", n, ROUTES + 1)?;
                Ok(Measure::time(d))
            }),
            tool("nlink", || {
                let ns = with_link("rdump");
                routes_with_10k(&ns);
                let (d, n) = inside_async(&ns, || async {
                    let conn = nlink_conn()?;
                    let t = Instant::now();
                    let routes = conn.get_routes_for_table(254).await.map_err(e)?;
                    let n = routes.iter().filter(|r| r.dst_len() == 24).count();
                    Ok::<_, String>((t.elapsed(), n))
                })?;
                expect_count("routes listed", n, ROUTES + 1)?;
                Ok(Measure::time(d))
            }),
        ],
    }
}

// ---- addresses: add 1,000 -----------------------------------------------

fn addresses_add() -> Case {
    let verify = |ns: &TestNs| expect_count("addresses", count_addrs(ns), ADDRS);
    Case {
        name: "addresses-add",
        what: "add 1,000 IPv4 addresses to a link",
        reference: "ip -batch",
        target: Some(Target::Ratio(0.5)),
        mem_target_mib: None,
        tools: vec![
            tool("netplumb", move || {
                let ns = with_link("aadd");
                let v0 = IfIndex(index_of(&ns, "v0"));
                let addrs = move || -> Vec<Address> {
                    (0..ADDRS)
                        .map(|i| Address::new(v0, ipnet::IpNet::new(addr_of(i).into(), 32).unwrap()))
                        .collect()
                };
                measure_in(
                    &ns,
                    move || netplumb_bulk(addrs, |rt, a| async move { rt.addresses().add_many(&a).await }),
                    verify,
                )
            }),
            tool("kernel floor", move || {
                let ns = with_link("aadd");
                let v0 = IfIndex(index_of(&ns, "v0"));
                let mut b = Batch::new();
                for i in 0..ADDRS {
                    let a = Address::new(v0, ipnet::IpNet::new(addr_of(i).into(), 32).unwrap());
                    b.push(RTM_NEWADDR, CREATE_EXCL, |w| a.write(w));
                }
                let d = floor_bulk_inside(&ns, Protocol::Route, b)?;
                verify(&ns)?;
                Ok(Measure::time(d))
            }),
            tool("ip -batch", move || {
                let ns = with_link("aadd");
                ip_batch_lines(&ns, ADDRS, |i| format!("address add {}/32 dev v0", addr_of(i)), verify)
            }),
            tool("rtnetlink", move || {
                let ns = with_link("aadd");
                let v0 = index_of(&ns, "v0");
                let work = move || {
                    rtnetlink_pipelined(ADDRS, move |h, i| {
                        h.address().add(v0, IpAddr::V4(addr_of(i)), 32).execute()
                    })
                };
                measure_in(&ns, work, verify)
            }),
            tool("nlink", move || {
                let ns = with_link("aadd");
                let v0 = index_of(&ns, "v0");
                let work = move || {
                    nlink_batched(ADDRS, move |b, i| {
                        b.add_address(nlink::Ipv4Address::with_index(v0, addr_of(i), 32), v0)
                    })
                };
                measure_in(&ns, work, verify)
            }),
        ],
    }
}

// ---- veth pairs: create 1,000 -------------------------------------------

/// Delete the pairs in one kernel operation before the namespace goes, so
/// that the kernel does not spend the next measurement destroying them in
/// the background (namespace cleanup is asynchronous). Untimed.
fn purge_veths(ns: &TestNs) -> Result<(), String> {
    let mut s = String::new();
    for i in 0..VETHS {
        s.push_str(&format!("link set ve{i}a group {GROUP}\n"));
    }
    s.push_str(&format!("link del group {GROUP}\n"));
    ip_batch(ns, &s).map(|_| ())
}

fn veth_create() -> Case {
    let verify = |ns: &TestNs| {
        expect_count("links (lo and the pairs)", count_links(ns), 1 + 2 * VETHS)?;
        purge_veths(ns)
    };
    Case {
        name: "veth-create",
        what: "create 1,000 veth pairs",
        reference: "ip -batch",
        target: None,
        mem_target_mib: None,
        tools: vec![
            tool("netplumb", move || {
                let links = || -> Vec<NewLink> {
                    (0..VETHS)
                        .map(|i| {
                            NewLink::new(format!("ve{i}a"), Veth::new(VethPeer::new(format!("ve{i}b"))))
                                .group(GROUP)
                        })
                        .collect()
                };
                measure_in(
                    &fresh("vadd"),
                    move || netplumb_bulk(links, |rt, l| async move { rt.links().add_many(&l).await }),
                    verify,
                )
            }),
            tool("kernel floor", move || {
                let ns = fresh("vadd");
                let mut b = Batch::new();
                for i in 0..VETHS {
                    let l = NewLink::new(format!("ve{i}a"), Veth::new(VethPeer::new(format!("ve{i}b"))))
                        .group(GROUP);
                    b.push(RTM_NEWLINK, CREATE_EXCL, |w| l.write(w));
                }
                let d = floor_bulk_inside(&ns, Protocol::Route, b)?;
                verify(&ns)?;
                Ok(Measure::time(d))
            }),
            tool("ip -batch", move || {
                let line = |i| format!("link add ve{i}a group {GROUP} type veth peer name ve{i}b");
                ip_batch_lines(&fresh("vadd"), VETHS, line, verify)
            }),
            tool("rtnetlink", move || {
                let work = || {
                    rtnetlink_pipelined(VETHS, |h, i| {
                        let m = rtnetlink::LinkVeth::new(&format!("ve{i}a"), &format!("ve{i}b"))
                            .link_group(GROUP)
                            .build();
                        h.link().add(m).execute()
                    })
                };
                measure_in(&fresh("vadd"), work, verify)
            }),
            tool("nlink", move || {
                let work = || {
                    nlink_batched(VETHS, |b, i| {
                        b.add_link(nlink::netlink::link::VethLink::new(format!("ve{i}a"), format!("ve{i}b")))
                    })
                };
                measure_in(&fresh("vadd"), work, verify)
            }),
        ],
    }
}

// ---- veth pairs: tear down 1,000 ----------------------------------------

fn indices_of_a_ends(ns: &TestNs) -> Vec<u32> {
    inside_async(ns, || async {
        let rt = Rtnl::new().await.unwrap();
        let all = rt.links().list().try_collect().await.unwrap();
        all.iter().filter(|l| l.name.starts_with("ve") && l.name.ends_with('a')).map(|l| l.index.0).collect()
    })
}

/// A namespace with the 1,000 pairs in group `GROUP`.
fn with_veths() -> TestNs {
    let ns = fresh("vdel");
    veths_in_group(&ns);
    ns
}

fn veth_teardown() -> Case {
    let verify = |ns: &TestNs| expect_count("links left (lo)", count_links(ns), 1);
    Case {
        name: "veth-teardown",
        what: "delete 1,000 veth pairs",
        reference: "ip -batch",
        target: Some(Target::Below(0.3)),
        mem_target_mib: None,
        tools: vec![
            tool("netplumb", move || {
                let work = || async {
                    let rt = Rtnl::new().await.map_err(e)?;
                    let t = Instant::now();
                    rt.links().delete_group(GROUP).await.map_err(e)?;
                    Ok::<_, String>(t.elapsed())
                };
                measure_in(&with_veths(), work, verify)
            }),
            tool("kernel floor", move || {
                // netplumb's one request (RTM_DELLINK by group), prepared
                // before the clock starts.
                let ns = with_veths();
                let req = Request::new(RTM_DELLINK, 0, |w| {
                    w.raw(&[0u8; 16]);
                    w.u32(IFLA_GROUP, GROUP);
                });
                let d = inside_async(&ns, move || async move {
                    let conn = floor_conn_here(Protocol::Route).await?;
                    let t = Instant::now();
                    conn.ack(&req).await.map_err(e)?;
                    Ok::<_, String>(t.elapsed())
                })?;
                verify(&ns)?;
                Ok(Measure::time(d))
            }),
            tool("ip link del group", move || {
                // One `ip link del group`: a single request, all the
                // unregistering is the kernel's.
                let ns = with_veths();
                let (d, _) = timed(
                    Command::new("ip").args(["-n", ns.name(), "link", "del", "group", &GROUP.to_string()]),
                    None,
                )?;
                verify(&ns)?;
                Ok(Measure::time(d))
            }),
            tool("ip -batch", move || {
                ip_batch_lines(&with_veths(), VETHS, |i| format!("link del ve{i}a"), verify)
            }),
            tool("rtnetlink", move || {
                let ns = with_veths();
                let idx = indices_of_a_ends(&ns);
                expect_count("pairs to delete", idx.len(), VETHS)?;
                let work = move || rtnetlink_pipelined(VETHS, move |h, i| h.link().del(idx[i]).execute());
                measure_in(&ns, work, verify)
            }),
            tool("nlink", move || {
                let ns = with_veths();
                let idx = indices_of_a_ends(&ns);
                expect_count("pairs to delete", idx.len(), VETHS)?;
                let work = move || nlink_batched(VETHS, move |b, i| b.del_link_by_index(idx[i]));
                measure_in(&ns, work, verify)
            }),
        ],
    }
}

pub fn cases() -> Vec<Case> {
    vec![routes_add(), routes_dump(), addresses_add(), veth_create(), veth_teardown()]
}
