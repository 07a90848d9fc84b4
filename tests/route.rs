//! Routes against the real kernel, checked with netplumb's read-back and
//! `ip -j route show table all` / `ip -j route get`.

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};

use common::{ipj, one, rtnl};
use netplumb::addr::Address;
use netplumb::link::{NewLink, Veth, VethPeer};
use netplumb::route::{
    NextHop, Route, RouteFilter, RouteFlags, RouteProtocol, RouteQuery, RouteTable, RouteType, RouteV4,
    RouteV6,
};
use netplumb::rtnl::Scope;
use netplumb::testing::TestNs;
use netplumb::IfIndex;
use serde_json::Value;

async fn setup(ns: &TestNs) -> (netplumb::Rtnl, IfIndex, IfIndex) {
    let rt = rtnl(ns).await;
    let links = rt.links();
    links.add(&NewLink::new("r0", Veth::new(VethPeer::new("r1")))).await.unwrap();
    links.add(&NewLink::new("s0", Veth::new(VethPeer::new("s1")))).await.unwrap();
    for n in ["r1", "s1", "r0", "s0"] {
        links.set(n, &netplumb::link::LinkChange::new().up()).await.unwrap();
    }
    let r0 = links.get("r0").await.unwrap().index;
    let s0 = links.get("s0").await.unwrap().index;
    rt.addresses().add(&Address::new(r0, "10.0.0.1/24".parse().unwrap())).await.unwrap();
    rt.addresses().add(&Address::new(s0, "10.0.1.1/24".parse().unwrap())).await.unwrap();
    rt.addresses().add(&Address::new(r0, "fd00::1/64".parse().unwrap()).nodad()).await.unwrap();
    (rt, r0, s0)
}

fn ip_route<'a>(all: &'a [Value], dst: &str, table: &str) -> &'a Value {
    all.iter()
        .find(|r| r["dst"] == dst && r.get("table").map_or("main", |t| t.as_str().unwrap()) == table)
        .unwrap_or_else(|| panic!("route {dst} table {table} not in {all:?}"))
}

#[tokio::test]
async fn routes_of_every_shape_read_back_and_ip_agrees() {
    let ns = TestNs::new("route").await;
    let (rt, r0, s0) = setup(&ns).await;
    let routes = rt.routes();
    let gw: Ipv4Addr = "10.0.0.254".parse().unwrap();
    let v4 = |s: &str| -> RouteV4 { Route::new(s.parse().unwrap()) };
    let adds = vec![
        v4("0.0.0.0/0").gateway(gw).oif(r0).metric(100),
        v4("172.16.0.0/16").gateway("192.0.2.1".parse().unwrap()).oif(r0).onlink(),
        v4("172.17.0.0/16").oif(s0).prefsrc("10.0.1.1".parse().unwrap()).protocol(RouteProtocol::STATIC),
        v4("172.18.0.0/16").gateway(gw).table(RouteTable(100)).mtu(1400).advmss(1360),
        v4("172.19.0.0/16").kind(RouteType::Blackhole),
        v4("172.20.0.0/16").kind(RouteType::Unreachable).table(RouteTable(1000)),
        v4("172.21.0.0/16").kind(RouteType::Prohibit),
        v4("172.22.0.0/16")
            .nexthop(NextHop::new(Some(gw), Some(r0)).weight(3))
            .nexthop(NextHop::new(Some("10.0.1.254".parse().unwrap()), Some(s0)).weight(1)),
        v4("172.23.1.0/24").oif(s0).scope(Scope::Link).metric(7),
    ];
    for r in &adds {
        routes.add(r).await.unwrap_or_else(|e| panic!("{r:?}: {e}"));
    }
    let v6: RouteV6 =
        Route::new("fd01::/64".parse().unwrap()).gateway("fd00::fe".parse().unwrap()).oif(r0).metric(5);
    routes.add(&v6).await.unwrap();
    assert!(routes.add(&adds[0]).await.unwrap_err().is_exists());

    let got: Vec<RouteV4> = routes.list(&RouteFilter::all()).try_collect().await.unwrap();
    let find = |dst: &str, t: RouteTable| {
        got.iter()
            .find(|r| r.dst.to_string() == dst && r.table == t)
            .unwrap_or_else(|| panic!("{dst} in {got:#?}"))
    };
    for want in &adds {
        let g = find(&want.dst.to_string(), want.table);
        assert_eq!(g.gateway, want.gateway, "{g:?}");
        if want.oif.is_some() || want.gateway.is_none() {
            assert_eq!(g.oif, want.oif, "{g:?}");
        } else {
            // The kernel resolves the gateway to its link.
            assert_eq!(g.oif, Some(r0), "{g:?}");
        }
        assert_eq!(g.kind, want.kind);
        assert_eq!(g.scope, Some(want.effective_scope()));
        assert_eq!(g.protocol, want.protocol);
        assert_eq!(g.mtu, want.mtu);
        assert_eq!(g.advmss, want.advmss);
        assert_eq!(g.prefsrc, want.prefsrc);
        assert_eq!(g.nexthops.len(), want.nexthops.len());
        for (a, b) in g.nexthops.iter().zip(&want.nexthops) {
            assert_eq!((a.gateway, a.oif, a.weight), (b.gateway, b.oif, b.weight));
        }
        if let Some(m) = want.metric {
            assert_eq!(g.metric, Some(m));
        }
    }
    assert!(find("172.16.0.0/16", RouteTable::MAIN).flags.contains(RouteFlags::ONLINK));
    let got6: Vec<RouteV6> =
        routes.list(&RouteFilter::all().table(RouteTable::MAIN)).try_collect().await.unwrap();
    let g6 = got6.iter().find(|r| r.dst == v6.dst).unwrap();
    assert_eq!((g6.gateway, g6.oif, g6.metric), (v6.gateway, v6.oif, Some(5)));

    // ip -j route show table all agrees.
    let ipv = ipj(&ns, &["-4", "route", "show", "table", "all"]);
    let all = ipv.as_array().unwrap();
    assert_eq!(all.len(), got.len(), "ip: {all:#?}\nnetplumb: {got:#?}");
    let d = ip_route(all, "default", "main");
    assert_eq!(
        (d["gateway"].as_str(), d["dev"].as_str(), d["metric"].as_u64()),
        (Some("10.0.0.254"), Some("r0"), Some(100))
    );
    // ip prints no protocol for `boot`, the default.
    assert!(d.get("protocol").is_none(), "{d}");
    assert_eq!(find("0.0.0.0/0", RouteTable::MAIN).protocol, RouteProtocol::BOOT);
    let o = ip_route(all, "172.16.0.0/16", "main");
    assert!(o["flags"].as_array().unwrap().iter().any(|f| f == "onlink"), "{o}");
    let s = ip_route(all, "172.17.0.0/16", "main");
    assert_eq!(
        (s["prefsrc"].as_str(), s["protocol"].as_str(), s["scope"].as_str()),
        (Some("10.0.1.1"), Some("static"), Some("link"))
    );
    let t = ip_route(all, "172.18.0.0/16", "100");
    assert_eq!(t["metrics"][0]["mtu"], 1400);
    assert_eq!(t["metrics"][0]["advmss"], 1360);
    assert_eq!(ip_route(all, "172.19.0.0/16", "main")["type"], "blackhole");
    assert_eq!(ip_route(all, "172.20.0.0/16", "1000")["type"], "unreachable");
    assert_eq!(ip_route(all, "172.21.0.0/16", "main")["type"], "prohibit");
    let mp = ip_route(all, "172.22.0.0/16", "main");
    let nh = mp["nexthops"].as_array().unwrap();
    assert_eq!((nh[0]["gateway"].as_str(), nh[0]["weight"].as_u64()), (Some("10.0.0.254"), Some(3)));
    assert_eq!((nh[1]["dev"].as_str(), nh[1]["weight"].as_u64()), (Some("s0"), Some(1)));
    let ip6 = ipj(&ns, &["-6", "route", "show", "fd01::/64"]);
    assert_eq!(one(&ip6)["gateway"], "fd00::fe");

    // Kernel-side filters.
    let t100: Vec<RouteV4> =
        routes.list(&RouteFilter::all().table(RouteTable(100))).try_collect().await.unwrap();
    assert_eq!(t100.iter().map(|r| r.dst.to_string()).collect::<Vec<_>>(), ["172.18.0.0/16"]);
    let st: Vec<RouteV4> =
        routes.list(&RouteFilter::all().protocol(RouteProtocol::STATIC)).try_collect().await.unwrap();
    assert_eq!(st.iter().map(|r| r.dst.to_string()).collect::<Vec<_>>(), ["172.17.0.0/16"]);
    let via_s0: Vec<RouteV4> = routes.list(&RouteFilter::all().oif(s0)).try_collect().await.unwrap();
    // Multipath routes match when one of their paths uses the link.
    let uses_s0 = |r: &RouteV4| r.oif == Some(s0) || r.nexthops.iter().any(|n| n.oif == Some(s0));
    assert!(!via_s0.is_empty() && via_s0.iter().all(uses_s0), "{via_s0:?}");
    let ipd = ipj(&ns, &["-4", "route", "show", "table", "all", "dev", "s0"]);
    // ip filters `dev` itself and leaves multipath routes out.
    assert_eq!(via_s0.iter().filter(|r| r.nexthops.is_empty()).count(), ipd.as_array().unwrap().len());

    // replace: a new gateway for the default route.
    routes.replace(&adds[0].clone().gateway("10.0.0.253".parse().unwrap())).await.unwrap();
    let ipv = ipj(&ns, &["route", "show", "default"]);
    assert_eq!(one(&ipv)["gateway"], "10.0.0.253");

    // get: the kernel's lookup, as ip route get.
    let g = routes.get(&RouteQuery::new("172.16.5.5".parse::<Ipv4Addr>().unwrap())).await.unwrap();
    assert_eq!((g.gateway, g.oif), (Some("192.0.2.1".parse().unwrap()), Some(r0)));
    assert!(g.flags.contains(RouteFlags::CLONED));
    let ipg = ipj(&ns, &["route", "get", "172.16.5.5"]);
    assert_eq!(one(&ipg)["gateway"], "192.0.2.1");
    assert_eq!(one(&ipg)["prefsrc"].as_str(), g.prefsrc.map(|p| p.to_string()).as_deref());
    let g = routes.get(&RouteQuery::new("10.0.1.7".parse::<Ipv4Addr>().unwrap())).await.unwrap();
    assert_eq!((g.gateway, g.oif, g.prefsrc), (None, Some(s0), Some("10.0.1.1".parse().unwrap())));
    let e = routes.get(&RouteQuery::new("172.19.1.1".parse::<Ipv4Addr>().unwrap())).await.unwrap_err();
    assert!(e.errno().is_some(), "blackhole lookup fails: {e}");
    let g6 = routes.get(&RouteQuery::new("fd01::9".parse::<Ipv6Addr>().unwrap())).await.unwrap();
    assert_eq!(g6.gateway, Some("fd00::fe".parse().unwrap()));

    // delete, then not found.
    routes.delete(&adds[4]).await.unwrap();
    assert!(routes.delete(&adds[4]).await.unwrap_err().is_not_found());
    assert!(ipj(&ns, &["route", "show", "172.19.0.0/16"]).as_array().unwrap().is_empty());

    // What ip adds, netplumb decodes.
    ns.ip(&[
        "route",
        "add",
        "198.51.100.0/24",
        "via",
        "10.0.0.9",
        "dev",
        "r0",
        "proto",
        "static",
        "metric",
        "42",
        "table",
        "200",
        "mtu",
        "1300",
    ]);
    let t200: Vec<RouteV4> =
        routes.list(&RouteFilter::all().table(RouteTable(200))).try_collect().await.unwrap();
    let r = one_route(&t200);
    assert_eq!(
        (r.dst.to_string(), r.gateway, r.oif, r.protocol, r.metric, r.mtu),
        (
            "198.51.100.0/24".to_string(),
            Some("10.0.0.9".parse().unwrap()),
            Some(r0),
            RouteProtocol::STATIC,
            Some(42),
            Some(1300)
        )
    );

    // flush table 100 and 200.
    assert_eq!(routes.flush::<Ipv4Addr>(&RouteFilter::all().table(RouteTable(200))).await.unwrap(), 1);
    assert!(ipj(&ns, &["route", "show", "table", "200"]).as_array().unwrap().is_empty());
}

fn one_route(v: &[RouteV4]) -> &RouteV4 {
    assert_eq!(v.len(), 1, "{v:?}");
    &v[0]
}

#[tokio::test]
async fn thousands_of_routes_in_bulk() {
    let ns = TestNs::new("routebulk").await;
    let (rt, r0, _) = setup(&ns).await;
    let many: Vec<RouteV4> = (0..3000u32)
        .map(|i| {
            Route::new(format!("100.{}.{}.0/24", 64 + i / 256, i % 256).parse().unwrap())
                .gateway("10.0.0.2".parse().unwrap())
                .oif(r0)
        })
        .collect();
    let t = std::time::Instant::now();
    rt.routes().add_many(&many).await.unwrap();
    println!("added {} routes in {:?}", many.len(), t.elapsed());
    let listed: Vec<RouteV4> = rt
        .routes()
        .list(&RouteFilter::all().table(RouteTable::MAIN).protocol(RouteProtocol::BOOT))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed.len(), 3000);
    let ip = ipj(&ns, &["route", "show", "proto", "boot"]);
    assert_eq!(ip.as_array().unwrap().len(), 3000);
    // Again: every one fails with EEXIST, each reported with its index.
    match rt.routes().add_many(&many[..5]).await.unwrap_err() {
        netplumb::Error::Batch(b) => {
            assert_eq!(b.failures.len(), 5);
            for (i, f) in b.failures.iter().enumerate() {
                assert!(f.is_exists());
                assert_eq!(f.operation.as_ref().unwrap().index, i);
            }
        }
        e => panic!("{e}"),
    }
    // Bad input in a bulk call names the item.
    let mut bad = many[..3].to_vec();
    bad[1] = bad[1].clone().kind(RouteType::Blackhole);
    let e = rt.routes().add_many(&bad).await.unwrap_err();
    assert!(e.to_string().starts_with("invalid [1].kind: "), "{e}");
    assert_eq!(
        rt.routes().flush::<Ipv4Addr>(&RouteFilter::all().protocol(RouteProtocol::BOOT)).await.unwrap(),
        3000
    );
    assert!(ipj(&ns, &["route", "show", "proto", "boot"]).as_array().unwrap().is_empty());
}

/// A route with `congctl` carries the one string metric (RTAX_CC_ALGO):
/// once it made every route listing fail to decode (found by the route
/// fuzz target's seeds).
#[tokio::test]
async fn congctl_routes_list_and_round_trip() {
    let ns = TestNs::new("congctl").await;
    let (rt, r0, _) = setup(&ns).await;
    let routes = rt.routes();
    // Written by ip, read by netplumb.
    ns.ip(&["route", "add", "172.30.0.0/16", "via", "10.0.0.254", "congctl", "reno"]);
    // Written by netplumb, read by ip.
    let mine: RouteV4 = Route::new("172.31.0.0/16".parse().unwrap())
        .gateway("10.0.0.254".parse().unwrap())
        .oif(r0)
        .congctl("reno");
    routes.add(&mine).await.unwrap();
    let got: Vec<RouteV4> =
        routes.list(&RouteFilter::all().table(RouteTable::MAIN)).try_collect().await.unwrap();
    for dst in ["172.30.0.0/16", "172.31.0.0/16"] {
        let r = got.iter().find(|r| r.dst.to_string() == dst).unwrap_or_else(|| panic!("{dst} in {got:#?}"));
        assert_eq!(r.congctl.as_deref(), Some("reno"), "{r:?}");
    }
    let ipv = ipj(&ns, &["route", "show", "172.31.0.0/16"]);
    assert_eq!(one(&ipv)["metrics"][0]["congestion"], "reno", "{ipv}");
    assert!(Route::<Ipv4Addr>::new("172.32.0.0/16".parse().unwrap()).congctl("").validate().is_err());
}

/// Rows of issue 15: an IPv4 route via an IPv6 gateway (also inside
/// multipath), IPv6 expiry, realms and every named metric — created by
/// ip and read by netplumb, and created by netplumb and read by ip.
#[tokio::test]
async fn via_expires_realms_and_named_metrics_both_ways() {
    use std::time::Duration;

    use netplumb::route::Metric;
    let ns = TestNs::new("routevia").await;
    let (rt, r0, _s0) = setup(&ns).await;
    let routes = rt.routes();
    let v6gw: std::net::IpAddr = "fd00::fa".parse().unwrap();

    // ip creates, netplumb reads.
    ns.ip(&["route", "add", "10.50.0.0/16", "via", "inet6", "fd00::fa", "dev", "r0"]);
    ns.ip(&[
        "route",
        "add",
        "10.51.0.0/16",
        "nexthop",
        "via",
        "inet6",
        "fd00::fb",
        "dev",
        "r0",
        "weight",
        "2",
        "nexthop",
        "via",
        "inet",
        "10.0.0.7",
        "dev",
        "r0",
    ]);
    ns.ip(&[
        "route",
        "add",
        "10.52.0.0/16",
        "via",
        "10.0.0.2",
        "realm",
        "5",
        "window",
        "1000",
        "initcwnd",
        "10",
        "hoplimit",
        "5",
        "mtu",
        "lock",
        "1400",
        "rtt",
        "30ms",
        "rttvar",
        "10ms",
        "quickack",
        "1",
        "features",
        "ecn",
        "rto_min",
        "20ms",
        "ssthresh",
        "7",
        "cwnd",
        "9",
        "reordering",
        "4",
        "initrwnd",
        "11",
        "fastopen_no_cookie",
        "1",
    ]);
    ns.ip(&["route", "add", "10.53.0.0/16", "via", "10.0.0.2", "realms", "3/4"]);
    ns.ip(&["-6", "route", "add", "fd00:9::/64", "via", "fd00::5", "dev", "r0", "expires", "300"]);
    let v4 =
        routes.list::<Ipv4Addr>(&RouteFilter::all().table(RouteTable::MAIN)).try_collect().await.unwrap();
    let get = |d: &str| v4.iter().find(|r| r.dst.to_string() == d).unwrap_or_else(|| panic!("{d} in {v4:?}"));
    assert_eq!((get("10.50.0.0/16").via, get("10.50.0.0/16").gateway), (Some(v6gw), None));
    let mp = &get("10.51.0.0/16").nexthops;
    assert_eq!(mp.len(), 2, "{mp:?}");
    assert_eq!((mp[0].via, mp[0].weight), (Some("fd00::fb".parse().unwrap()), 2));
    assert_eq!((mp[1].gateway, mp[1].via), (Some(Ipv4Addr::new(10, 0, 0, 7)), None));
    let m = get("10.52.0.0/16");
    assert_eq!(m.realms, Some((0, 5)));
    assert_eq!(m.mtu, Some(1400));
    let ipv = ipj(&ns, &["-d", "route", "show"]);
    let ipm = &ip_route(ipv.as_array().unwrap(), "10.52.0.0/16", "main")["metrics"][0];
    let mut compared = 0;
    for (metric, key, scale) in [
        (Metric::Window, "window", 1),
        (Metric::Rtt, "rtt", 8),
        (Metric::Rttvar, "rttvar", 4),
        (Metric::Ssthresh, "ssthresh", 1),
        (Metric::Cwnd, "cwnd", 1),
        (Metric::Reordering, "reordering", 1),
        (Metric::Hoplimit, "hoplimit", 1),
        (Metric::Initcwnd, "initcwnd", 1),
        (Metric::RtoMin, "rto_min", 1),
        (Metric::Initrwnd, "initrwnd", 1),
        (Metric::Quickack, "quickack", 1),
        (Metric::FastopenNoCookie, "fastopen_no_cookie", 1),
    ] {
        let ours =
            m.metric_value(metric).unwrap_or_else(|| panic!("{} in {:?}", metric.name(), m.other_metrics));
        assert_eq!(Some((ours / scale) as u64), ipm[key].as_u64(), "{key}");
        assert_eq!(metric.name(), key);
        compared += 1;
    }
    assert!(ipm.as_object().unwrap().contains_key("ecn"));
    assert_eq!(m.metric_value(Metric::Features), Some(1));
    // `mtu lock`: bit RTAX_MTU of the lock metric.
    assert_eq!(m.metric_value(Metric::Lock).map(|l| l & (1 << 2)), Some(1 << 2));
    assert!(compared >= 12);
    assert_eq!(get("10.53.0.0/16").realms, Some((3, 4)));
    let v6 =
        routes.list::<Ipv6Addr>(&RouteFilter::all().table(RouteTable::MAIN)).try_collect().await.unwrap();
    let e = v6.iter().find(|r| r.dst.to_string() == "fd00:9::/64").unwrap();
    let left = e.expires.expect("expires decoded");
    assert!(left > Duration::from_secs(290) && left <= Duration::from_secs(300), "{left:?}");

    // netplumb creates, ip reads.
    routes.add(&RouteV4::new("10.60.0.0/16".parse().unwrap()).via(v6gw).oif(r0)).await.unwrap();
    routes
        .add(
            &RouteV4::new("10.61.0.0/16".parse().unwrap())
                .nexthop(NextHop::via("fd00::fb".parse().unwrap(), r0).weight(3))
                .nexthop(NextHop::new(Some(Ipv4Addr::new(10, 0, 0, 7)), Some(r0))),
        )
        .await
        .unwrap();
    routes
        .add(
            &RouteV4::new("10.62.0.0/16".parse().unwrap())
                .gateway(Ipv4Addr::new(10, 0, 0, 2))
                .realms(3, 4)
                .with_metric(Metric::Window, 1000)
                .with_metric(Metric::Initcwnd, 10)
                .with_metric(Metric::Hoplimit, 5)
                .with_metric(Metric::Rtt, 30 * 8)
                .with_metric(Metric::Quickack, 1),
        )
        .await
        .unwrap();
    routes
        .add(
            &RouteV6::new("fd00:8::/64".parse().unwrap())
                .gateway("fd00::5".parse().unwrap())
                .oif(r0)
                .expires(Duration::from_secs(300)),
        )
        .await
        .unwrap();
    let ipv = ipj(&ns, &["-d", "route", "show"]);
    let all = ipv.as_array().unwrap();
    let r60 = ip_route(all, "10.60.0.0/16", "main");
    assert_eq!(
        (r60["via"]["family"].as_str(), r60["via"]["host"].as_str()),
        (Some("inet6"), Some("fd00::fa"))
    );
    let r61 = &ip_route(all, "10.61.0.0/16", "main")["nexthops"];
    assert_eq!((r61[0]["via"]["host"].as_str(), r61[0]["weight"].as_u64()), (Some("fd00::fb"), Some(3)));
    assert_eq!(r61[1]["gateway"], "10.0.0.7");
    let r62 = ip_route(all, "10.62.0.0/16", "main");
    assert_eq!((r62["flow"]["from"].as_str(), r62["flow"]["to"].as_str()), (Some("3"), Some("4")));
    let m = &r62["metrics"][0];
    assert_eq!(
        (
            m["window"].as_u64(),
            m["initcwnd"].as_u64(),
            m["hoplimit"].as_u64(),
            m["rtt"].as_u64(),
            m["quickack"].as_u64()
        ),
        (Some(1000), Some(10), Some(5), Some(30), Some(1))
    );
    let ipv6 = ipj(&ns, &["-6", "route", "show"]);
    let e = ip_route(ipv6.as_array().unwrap(), "fd00:8::/64", "main");
    assert!((290..=300).contains(&e["expires"].as_u64().unwrap()), "{e}");

    // Bad input never reaches the kernel.
    let e = routes.add(&RouteV4::new("10.63.0.0/16".parse().unwrap()).via("10.0.0.2".parse().unwrap())).await;
    assert!(e.unwrap_err().to_string().starts_with("invalid via: "));
    let e = routes
        .add(
            &RouteV4::new("10.63.0.0/16".parse().unwrap())
                .gateway(Ipv4Addr::new(10, 0, 0, 2))
                .expires(Duration::from_secs(5)),
        )
        .await;
    assert!(e.unwrap_err().to_string().starts_with("invalid expires: "));
}

/// Nexthop objects: single, onlink, dev-only, IPv6, blackhole, groups with
/// weights and a resilient group, and a route using one by id — created
/// by netplumb and by ip, each read by the other (`ip -j nexthop show`).
#[tokio::test]
async fn nexthop_objects_both_ways() {
    use netplumb::rtnl::nexthop::{GroupType, Nexthop};
    use netplumb::rtnl::Change;
    let ns = TestNs::new("nexthop").await;
    let (rt, r0, _s0) = setup(&ns).await;
    ns.ip(&["link", "set", "lo", "up"]);
    let nh = rt.nexthops();
    let mut snap = nh.list_and_follow().await.unwrap();
    assert!(snap.existing.is_empty());
    nh.add(&Nexthop::via(1, "10.0.0.2".parse().unwrap(), r0)).await.unwrap();
    nh.add(&Nexthop::via(2, "10.0.0.3".parse().unwrap(), r0).onlink()).await.unwrap();
    nh.add(&Nexthop::dev(4, r0)).await.unwrap();
    nh.add(&Nexthop::via(6, "fd00::9".parse().unwrap(), r0)).await.unwrap();
    nh.add(&Nexthop::blackhole(7)).await.unwrap();
    nh.add(&Nexthop::group(10, &[(1, 2), (2, 4)])).await.unwrap();
    nh.add(&Nexthop::group(11, &[(1, 1), (2, 1)]).resilient(32)).await.unwrap();
    ns.ip(&["nexthop", "add", "id", "20", "via", "10.0.0.4", "dev", "r0"]);
    ns.ip(&["nexthop", "add", "id", "21", "group", "20,3/4"]);
    ns.ip(&["nexthop", "add", "id", "22", "blackhole"]);
    rt.routes().add(&RouteV4::new("10.70.0.0/16".parse().unwrap()).nh_id(10)).await.unwrap();
    ns.ip(&["route", "add", "10.71.0.0/16", "nhid", "21"]);

    let ours = nh.list().try_collect().await.unwrap();
    let theirs = ipj(&ns, &["-d", "nexthop", "show"]);
    let theirs = theirs.as_array().unwrap();
    assert_eq!(ours.len(), theirs.len(), "{ours:?}\n{theirs:?}");
    let mut compared = 0;
    for t in theirs {
        let o = ours.iter().find(|o| Some(o.id as u64) == t["id"].as_u64()).unwrap();
        assert_eq!(o.gateway.map(|g| g.to_string()).as_deref(), t["gateway"].as_str(), "{t}");
        let dev = t["dev"].as_str().map(|_| r0);
        assert_eq!(o.oif, dev, "{t}");
        assert_eq!(o.blackhole, t.get("blackhole").is_some(), "{t}");
        assert_eq!(o.scope.name(), t["scope"].as_str().unwrap(), "{t}");
        assert_eq!(o.protocol.name(), t["protocol"].as_str().unwrap(), "{t}");
        let flags: Vec<&str> =
            t["flags"].as_array().map_or(vec![], |f| f.iter().map(|x| x.as_str().unwrap()).collect());
        assert_eq!(o.flags.contains(RouteFlags::ONLINK), flags.contains(&"onlink"), "{t}");
        let group: Vec<(u64, u64)> = t["group"].as_array().map_or(vec![], |g| {
            g.iter().map(|m| (m["id"].as_u64().unwrap(), m["weight"].as_u64().unwrap_or(1))).collect()
        });
        assert_eq!(o.group.iter().map(|m| (m.id as u64, m.weight as u64)).collect::<Vec<_>>(), group, "{t}");
        compared += 7;
    }
    assert!(compared >= 70, "{compared}");
    let g11 = nh.get(11).await.unwrap();
    assert_eq!((g11.group_type, g11.buckets), (Some(GroupType::Resilient), Some(32)));
    assert_eq!(
        nh.get(21).await.unwrap().group.iter().map(|m| (m.id, m.weight)).collect::<Vec<_>>(),
        vec![(20, 3), (4, 1)]
    );

    // Routes by id, both ways.
    let v4 = rt
        .routes()
        .list::<Ipv4Addr>(&RouteFilter::all().table(RouteTable::MAIN))
        .try_collect()
        .await
        .unwrap();
    let r70 = v4.iter().find(|r| r.dst.to_string() == "10.70.0.0/16").unwrap();
    let r71 = v4.iter().find(|r| r.dst.to_string() == "10.71.0.0/16").unwrap();
    assert_eq!((r70.nh_id, r71.nh_id), (Some(10), Some(21)));
    let ipr = ipj(&ns, &["route", "show", "10.70.0.0/16"]);
    assert_eq!(one(&ipr)["nhid"], 10);

    // replace moves the group; events saw it all.
    nh.replace(&Nexthop::group(10, &[(1, 1)])).await.unwrap();
    assert_eq!(one(&ipj(&ns, &["nexthop", "show", "id", "10"]))["group"][0]["id"], 1);
    let mut seen = 0;
    while seen < 8 {
        let e =
            tokio::time::timeout(std::time::Duration::from_secs(5), snap.events.try_next()).await.unwrap();
        match e.unwrap() {
            Some(netplumb::conn::Event::Message(Change::New(_))) => seen += 1,
            Some(_) => {}
            None => break,
        }
    }
    assert_eq!(seen, 8);

    // Bad input never reaches the kernel.
    let e = nh.add(&Nexthop::group(30, &[(1, 300)])).await.unwrap_err();
    assert!(e.to_string().starts_with("invalid group[0].weight: "), "{e}");
    let e = nh.add(&Nexthop::blackhole(0)).await.unwrap_err();
    assert!(e.to_string().starts_with("invalid id: "), "{e}");
    assert!(nh.get(999).await.unwrap_err().is_not_found());

    nh.delete(22).await.unwrap();
    assert!(ns.ip(&["nexthop", "show"]).lines().all(|l| !l.starts_with("id 22 ")));
    let n = nh.flush().await.unwrap();
    assert_eq!(n, 9);
    assert!(ipj(&ns, &["nexthop", "show"]).as_array().unwrap().is_empty());
}
