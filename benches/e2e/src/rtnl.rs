//! Links, addresses and routes: netplumb vs `ip -batch` / `ip -j`, and the
//! rtnetlink and nlink crates, each at its fastest (rtnetlink with many
//! requests in flight, nlink with its batch API).

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::time::Instant;

use futures::{StreamExt, TryStreamExt};
use netplumb::addr::Address;
use netplumb::link::{NewLink, Veth, VethPeer};
use netplumb::route::{Route, RouteFilter, RouteTable, RouteV4};
use netplumb::testing::TestNs;
use netplumb::{IfIndex, Rtnl};

use crate::harness::*;

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
                let v0 = index_of(&ns, "v0");
                let d = inside_async(&ns, move || async move {
                    let rt = Rtnl::new().await.map_err(e)?;
                    let t = Instant::now();
                    let routes: Vec<RouteV4> = (0..ROUTES)
                        .map(|i| {
                            Route::new(ipnet::Ipv4Net::new(route_dst(i), 24).unwrap())
                                .gateway(GW)
                                .oif(IfIndex(v0))
                        })
                        .collect();
                    rt.routes().add_many(&routes).await.map_err(e)?;
                    Ok::<_, String>(t.elapsed())
                })?;
                verify(&ns)?;
                Ok(Measure::time(d))
            }),
            tool("ip -batch", move || {
                let ns = with_link("radd");
                let mut s = String::new();
                for i in 0..ROUTES {
                    s.push_str(&format!("route add {}/24 via {GW} dev v0\n", route_dst(i)));
                }
                let d = ip_batch(&ns, &s)?;
                verify(&ns)?;
                Ok(Measure::time(d))
            }),
            tool("rtnetlink", move || {
                let ns = with_link("radd");
                let v0 = index_of(&ns, "v0");
                let d = inside_async(&ns, move || async move {
                    let (conn, handle, _) = rtnetlink::new_connection().map_err(e)?;
                    tokio::spawn(conn);
                    let t = Instant::now();
                    futures::stream::iter(0..ROUTES)
                        .map(|i| {
                            let m = rtnetlink::RouteMessageBuilder::<Ipv4Addr>::new()
                                .destination_prefix(route_dst(i), 24)
                                .gateway(GW)
                                .output_interface(v0)
                                .build();
                            handle.route().add(m).execute()
                        })
                        .buffer_unordered(INFLIGHT)
                        .try_collect::<Vec<()>>()
                        .await
                        .map_err(e)?;
                    Ok::<_, String>(t.elapsed())
                })?;
                verify(&ns)?;
                Ok(Measure::time(d))
            }),
            tool("nlink", move || {
                let ns = with_link("radd");
                let v0 = index_of(&ns, "v0");
                let d = inside_async(&ns, move || async move {
                    let conn = nlink_conn()?;
                    let t = Instant::now();
                    let mut b = conn.batch();
                    for i in 0..ROUTES {
                        b = b.add_route(nlink::Ipv4Route::new(route_dst(i), 24).gateway(GW).dev_index(v0));
                    }
                    b.execute_all().await.map_err(e)?;
                    Ok::<_, String>(t.elapsed())
                })?;
                verify(&ns)?;
                Ok(Measure::time(d))
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
                let v0 = index_of(&ns, "v0");
                let d = inside_async(&ns, move || async move {
                    let rt = Rtnl::new().await.map_err(e)?;
                    let t = Instant::now();
                    let addrs: Vec<Address> = (0..ADDRS)
                        .map(|i| Address::new(IfIndex(v0), ipnet::IpNet::new(addr_of(i).into(), 32).unwrap()))
                        .collect();
                    rt.addresses().add_many(&addrs).await.map_err(e)?;
                    Ok::<_, String>(t.elapsed())
                })?;
                verify(&ns)?;
                Ok(Measure::time(d))
            }),
            tool("ip -batch", move || {
                let ns = with_link("aadd");
                let mut s = String::new();
                for i in 0..ADDRS {
                    s.push_str(&format!("address add {}/32 dev v0\n", addr_of(i)));
                }
                let d = ip_batch(&ns, &s)?;
                verify(&ns)?;
                Ok(Measure::time(d))
            }),
            tool("rtnetlink", move || {
                let ns = with_link("aadd");
                let v0 = index_of(&ns, "v0");
                let d = inside_async(&ns, move || async move {
                    let (conn, handle, _) = rtnetlink::new_connection().map_err(e)?;
                    tokio::spawn(conn);
                    let t = Instant::now();
                    futures::stream::iter(0..ADDRS)
                        .map(|i| handle.address().add(v0, IpAddr::V4(addr_of(i)), 32).execute())
                        .buffer_unordered(INFLIGHT)
                        .try_collect::<Vec<()>>()
                        .await
                        .map_err(e)?;
                    Ok::<_, String>(t.elapsed())
                })?;
                verify(&ns)?;
                Ok(Measure::time(d))
            }),
            tool("nlink", move || {
                let ns = with_link("aadd");
                let v0 = index_of(&ns, "v0");
                let d = inside_async(&ns, move || async move {
                    let conn = nlink_conn()?;
                    let t = Instant::now();
                    let mut b = conn.batch();
                    for i in 0..ADDRS {
                        b = b.add_address(nlink::Ipv4Address::with_index(v0, addr_of(i), 32), v0);
                    }
                    b.execute_all().await.map_err(e)?;
                    Ok::<_, String>(t.elapsed())
                })?;
                verify(&ns)?;
                Ok(Measure::time(d))
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
                let ns = fresh("vadd");
                let d = inside_async(&ns, || async {
                    let rt = Rtnl::new().await.map_err(e)?;
                    let t = Instant::now();
                    let links: Vec<NewLink> = (0..VETHS)
                        .map(|i| {
                            NewLink::new(format!("ve{i}a"), Veth::new(VethPeer::new(format!("ve{i}b"))))
                                .group(GROUP)
                        })
                        .collect();
                    rt.links().add_many(&links).await.map_err(e)?;
                    Ok::<_, String>(t.elapsed())
                })?;
                verify(&ns)?;
                Ok(Measure::time(d))
            }),
            tool("ip -batch", move || {
                let ns = fresh("vadd");
                let mut s = String::new();
                for i in 0..VETHS {
                    s.push_str(&format!("link add ve{i}a group {GROUP} type veth peer name ve{i}b\n"));
                }
                let d = ip_batch(&ns, &s)?;
                verify(&ns)?;
                Ok(Measure::time(d))
            }),
            tool("rtnetlink", move || {
                let ns = fresh("vadd");
                let d = inside_async(&ns, || async {
                    let (conn, handle, _) = rtnetlink::new_connection().map_err(e)?;
                    tokio::spawn(conn);
                    let t = Instant::now();
                    futures::stream::iter(0..VETHS)
                        .map(|i| {
                            let m = rtnetlink::LinkVeth::new(&format!("ve{i}a"), &format!("ve{i}b"))
                                .link_group(GROUP)
                                .build();
                            handle.link().add(m).execute()
                        })
                        .buffer_unordered(INFLIGHT)
                        .try_collect::<Vec<()>>()
                        .await
                        .map_err(e)?;
                    Ok::<_, String>(t.elapsed())
                })?;
                verify(&ns)?;
                Ok(Measure::time(d))
            }),
            tool("nlink", move || {
                let ns = fresh("vadd");
                let d = inside_async(&ns, || async {
                    let conn = nlink_conn()?;
                    let t = Instant::now();
                    let mut b = conn.batch();
                    for i in 0..VETHS {
                        b = b.add_link(nlink::netlink::link::VethLink::new(
                            format!("ve{i}a"),
                            format!("ve{i}b"),
                        ));
                    }
                    b.execute_all().await.map_err(e)?;
                    Ok::<_, String>(t.elapsed())
                })?;
                verify(&ns)?;
                Ok(Measure::time(d))
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
                let ns = fresh("vdel");
                veths_in_group(&ns);
                let d = inside_async(&ns, || async {
                    let rt = Rtnl::new().await.map_err(e)?;
                    let t = Instant::now();
                    rt.links().delete_group(GROUP).await.map_err(e)?;
                    Ok::<_, String>(t.elapsed())
                })?;
                verify(&ns)?;
                Ok(Measure::time(d))
            }),
            tool("ip link del group", move || {
                // One `ip link del group`: a single request, all the
                // unregistering is the kernel's.
                let ns = fresh("vdel");
                veths_in_group(&ns);
                let (d, _) = timed(
                    Command::new("ip").args(["-n", ns.name(), "link", "del", "group", &GROUP.to_string()]),
                    None,
                )?;
                verify(&ns)?;
                Ok(Measure::time(d))
            }),
            tool("ip -batch", move || {
                let ns = fresh("vdel");
                veths_in_group(&ns);
                let mut s = String::new();
                for i in 0..VETHS {
                    s.push_str(&format!("link del ve{i}a\n"));
                }
                let d = ip_batch(&ns, &s)?;
                verify(&ns)?;
                Ok(Measure::time(d))
            }),
            tool("rtnetlink", move || {
                let ns = fresh("vdel");
                veths_in_group(&ns);
                let idx = indices_of_a_ends(&ns);
                expect_count("pairs to delete", idx.len(), VETHS)?;
                let d = inside_async(&ns, move || async move {
                    let (conn, handle, _) = rtnetlink::new_connection().map_err(e)?;
                    tokio::spawn(conn);
                    let t = Instant::now();
                    futures::stream::iter(idx)
                        .map(|i| handle.link().del(i).execute())
                        .buffer_unordered(INFLIGHT)
                        .try_collect::<Vec<()>>()
                        .await
                        .map_err(e)?;
                    Ok::<_, String>(t.elapsed())
                })?;
                verify(&ns)?;
                Ok(Measure::time(d))
            }),
            tool("nlink", move || {
                let ns = fresh("vdel");
                veths_in_group(&ns);
                let idx = indices_of_a_ends(&ns);
                expect_count("pairs to delete", idx.len(), VETHS)?;
                let d = inside_async(&ns, move || async move {
                    let conn = nlink_conn()?;
                    let t = Instant::now();
                    let mut b = conn.batch();
                    for i in idx {
                        b = b.del_link_by_index(i);
                    }
                    b.execute_all().await.map_err(e)?;
                    Ok::<_, String>(t.elapsed())
                })?;
                verify(&ns)?;
                Ok(Measure::time(d))
            }),
        ],
    }
}

pub fn cases() -> Vec<Case> {
    vec![routes_add(), routes_dump(), addresses_add(), veth_create(), veth_teardown()]
}
