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
