//! Neighbours, FDB entries and a VXLAN overlay carrying real traffic
//! between two namespaces, built the way flannel's vxlan backend does:
//! a vxlan device per node, an onlink route per remote subnet, a
//! permanent neighbour entry and an FDB entry per remote VTEP.

mod common;

use std::net::IpAddr;

use common::{bridgej, ipj, one, rtnl};
use netplumb::addr::Address;
use netplumb::link::{Bridge, LinkChange, NewLink, Veth, VethPeer, Vxlan};
use netplumb::neigh::{FdbEntry, NeighFilter, NeighFlags, NeighState, Neighbour};
use netplumb::route::{Route, RouteFilter, RouteFlags, RouteTable, RouteV4};
use netplumb::testing::TestNs;
use netplumb::{IfIndex, MacAddr};

fn mac(s: &str) -> MacAddr {
    s.parse().unwrap()
}

#[tokio::test]
async fn arp_and_ndp_entries() {
    let ns = TestNs::new("neigh").await;
    let rt = rtnl(&ns).await;
    rt.links().add(&NewLink::new("n0", Veth::new(VethPeer::new("n1"))).up()).await.unwrap();
    let idx = rt.links().get("n0").await.unwrap().index;
    // With the peer down n0 has no carrier, and once the kernel notices
    // (asynchronously, up to a second later) it flushes n0's IPv6
    // neighbours that are not permanent: so the peer goes up, and the
    // entries are added once n0 is operationally up (5 s at most).
    rt.links().set("n1", &LinkChange::new().up()).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while rt.links().get(idx).await.unwrap().oper_state != netplumb::link::OperState::Up {
        assert!(std::time::Instant::now() < deadline, "n0 not operationally up after 5 s");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let nb = rt.neighbours();
    let a = Neighbour::new(idx, "10.1.2.9".parse().unwrap(), mac("02:00:00:00:00:09"));
    let b = Neighbour::new(idx, "fd00::9".parse().unwrap(), mac("02:00:00:00:00:0a"))
        .state(NeighState::REACHABLE)
        .router();
    nb.add(&a).await.unwrap();
    nb.add(&b).await.unwrap();
    assert!(nb.add(&a).await.unwrap_err().is_exists());

    let got = nb.list_filtered(&NeighFilter::new().index(idx)).try_collect().await.unwrap();
    let find =
        |ip: &str| got.iter().find(|n| n.dst.to_string() == ip).unwrap_or_else(|| panic!("{ip} in {got:?}"));
    let ga = find("10.1.2.9");
    assert_eq!((ga.mac(), ga.state), (Some(mac("02:00:00:00:00:09")), NeighState::PERMANENT));
    let gb = find("fd00::9");
    assert_eq!(gb.mac(), Some(mac("02:00:00:00:00:0a")));
    assert!(gb.flags.contains(NeighFlags::ROUTER));
    let ipn = ipj(&ns, &["neigh", "show", "dev", "n0"]);
    let arr = ipn.as_array().unwrap();
    let ia = arr.iter().find(|n| n["dst"] == "10.1.2.9").unwrap();
    assert_eq!(ia["lladdr"], "02:00:00:00:00:09");
    assert_eq!(ia["state"][0], "PERMANENT");
    let ib = arr.iter().find(|n| n["dst"] == "fd00::9").unwrap();
    // ip -j prints flags such as router as keys with a null value.
    assert!(ib.as_object().unwrap().contains_key("router"), "{ib}");
    // ip hides NOARP entries (the ones the kernel makes for multicast
    // addresses once the link carries traffic); netplumb lists them.
    assert_eq!(arr.len(), got.iter().filter(|n| !n.state.contains(NeighState::NOARP)).count(), "{got:?}");

    // replace: a new MAC, same entry.
    nb.replace(&Neighbour::new(idx, "10.1.2.9".parse().unwrap(), mac("02:00:00:00:00:99"))).await.unwrap();
    let ipn = ipj(&ns, &["neigh", "show", "10.1.2.9", "dev", "n0"]);
    assert_eq!(one(&ipn)["lladdr"], "02:00:00:00:00:99");

    // What ip adds, netplumb decodes.
    ns.ip(&["neigh", "add", "10.1.2.10", "lladdr", "02:00:00:00:00:10", "dev", "n0", "nud", "stale"]);
    let got = nb.list().try_collect().await.unwrap();
    let c = got.iter().find(|n| n.dst.to_string() == "10.1.2.10").unwrap();
    assert_eq!((c.index, c.state, c.mac()), (idx, NeighState::STALE, Some(mac("02:00:00:00:00:10"))));

    nb.delete(&a).await.unwrap();
    assert!(nb.delete(&a).await.unwrap_err().is_not_found());
    assert!(ipj(&ns, &["neigh", "show", "10.1.2.9", "dev", "n0"]).as_array().unwrap().is_empty());
}

#[tokio::test]
async fn bridge_fdb_entries_master_and_self() {
    let ns = TestNs::new("fdb").await;
    let rt = rtnl(&ns).await;
    let links = rt.links();
    links.add(&NewLink::new("br0", Bridge::new()).up()).await.unwrap();
    let br = links.get("br0").await.unwrap().index;
    links.add(&NewLink::new("p0", Veth::new(VethPeer::new("p1"))).master(br).up()).await.unwrap();
    let p0 = links.get("p0").await.unwrap().index;
    let fdb = rt.fdb();
    let m = mac("02:00:00:00:aa:01");
    fdb.add(&FdbEntry::new(p0, m).master()).await.unwrap();
    let got = fdb.list_filtered(&NeighFilter::new().master(br)).try_collect().await.unwrap();
    let e = got.iter().find(|e| e.mac == m).unwrap_or_else(|| panic!("{got:?}"));
    assert_eq!(e.index, p0);
    assert_eq!(e.master, Some(br));
    assert!(e.state.contains(NeighState::PERMANENT));
    let b = bridgej(&ns, &["fdb", "show", "br", "br0"]);
    let be = b.as_array().unwrap().iter().find(|x| x["mac"] == "02:00:00:00:aa:01").unwrap().clone();
    assert_eq!(be["ifname"], "p0");
    assert_eq!(be["state"], "permanent");
    // Filter by port.
    let by_port = fdb.list_filtered(&NeighFilter::new().index(p0)).try_collect().await.unwrap();
    assert!(!by_port.is_empty() && by_port.iter().all(|e| e.index == p0), "{by_port:?}");
    fdb.delete(&FdbEntry::new(p0, m).master()).await.unwrap();
    let b = bridgej(&ns, &["fdb", "show", "br", "br0"]);
    assert!(b.as_array().unwrap().iter().all(|x| x["mac"] != "02:00:00:00:aa:01"));
}

struct Node {
    ns: TestNs,
    rt: netplumb::Rtnl,
    vx: IfIndex,
    vx_mac: MacAddr,
    underlay: IpAddr,
}

/// Two namespaces joined by a veth underlay 192.168.50.0/24, each with a
/// vxlan device (VNI 1, port 4789, learning off) and a /32 overlay address
/// 10.244.N.0, as flannel sets up a node.
async fn nodes() -> (Node, Node) {
    let a = TestNs::new("vxa").await;
    let b = TestNs::new("vxb").await;
    let rta = rtnl(&a).await;
    let rtb = rtnl(&b).await;
    rta.links().add(&NewLink::new("ul0", Veth::new(VethPeer::new("ul0").netns(b.netns())))).await.unwrap();
    let mut out = Vec::new();
    for (i, (ns, rt)) in [(a, rta), (b, rtb)].into_iter().enumerate() {
        let n = i + 1;
        let links = rt.links();
        let ul = links.get("ul0").await.unwrap().index;
        links.set(ul, &LinkChange::new().up()).await.unwrap();
        let underlay: IpAddr = format!("192.168.50.{n}").parse().unwrap();
        rt.addresses().add(&Address::new(ul, format!("{underlay}/24").parse().unwrap())).await.unwrap();
        let vx_mac = mac(&format!("02:00:0a:f4:0{n}:00"));
        let vxlan = Vxlan::new(1).local(underlay).port(4789).learning(false).link(ul);
        links.add(&NewLink::new("flannel.1", vxlan).mac(vx_mac).mtu(1450).up()).await.unwrap();
        let vx = links.get("flannel.1").await.unwrap().index;
        rt.addresses().add(&Address::new(vx, format!("10.244.{n}.0/32").parse().unwrap())).await.unwrap();
        out.push(Node { ns, rt, vx, vx_mac, underlay });
    }
    let b = out.pop().unwrap();
    let a = out.pop().unwrap();
    (a, b)
}

/// What flannel adds on `local` for `remote`: route, neighbour, FDB entry.
async fn join(local: &Node, remote: &Node, n: u8) {
    let gw = format!("10.244.{n}.0").parse().unwrap();
    let route: RouteV4 =
        Route::new(format!("10.244.{n}.0/24").parse().unwrap()).gateway(gw).oif(local.vx).onlink();
    local.rt.routes().add(&route).await.unwrap();
    local.rt.neighbours().add(&Neighbour::new(local.vx, IpAddr::V4(gw), remote.vx_mac)).await.unwrap();
    local.rt.fdb().append(&FdbEntry::new(local.vx, remote.vx_mac).dst(remote.underlay)).await.unwrap();
}

#[tokio::test]
async fn vxlan_overlay_carries_traffic_between_namespaces() {
    let (a, b) = nodes().await;
    join(&a, &b, 2).await;
    join(&b, &a, 1).await;

    // netplumb reads back what it wrote.
    let fdb = a.rt.fdb().list_filtered(&NeighFilter::new().index(a.vx)).try_collect().await.unwrap();
    let e = fdb.iter().find(|e| e.mac == b.vx_mac).unwrap_or_else(|| panic!("{fdb:?}"));
    assert_eq!(e.dst, Some(b.underlay));
    assert!(e.flags.contains(NeighFlags::SELF));
    let r: Vec<RouteV4> =
        a.rt.routes()
            .list(&RouteFilter::all().table(RouteTable::MAIN).oif(a.vx))
            .try_collect()
            .await
            .unwrap();
    let r = r.iter().find(|r| r.dst.to_string() == "10.244.2.0/24").unwrap();
    assert!(r.flags.contains(RouteFlags::ONLINK));
    let vx = a.rt.links().get(a.vx).await.unwrap();
    let Some(netplumb::link::LinkKind::Vxlan(v)) = vx.kind else { panic!("{vx:?}") };
    assert_eq!((v.vni, v.port, v.learning, v.local), (1, Some(4789), Some(false), Some(a.underlay)));

    // ip and bridge agree.
    let bf = bridgej(&a.ns, &["fdb", "show", "dev", "flannel.1"]);
    let be = bf.as_array().unwrap().iter().find(|x| x["mac"] == "02:00:0a:f4:02:00").unwrap().clone();
    assert_eq!(be["dst"], "192.168.50.2");
    assert!(be["flags"].as_array().unwrap().iter().any(|f| f == "self"), "{be}");
    assert_eq!(be["state"], "permanent");
    let nv = ipj(&a.ns, &["neigh", "show", "dev", "flannel.1"]);
    assert_eq!(one(&nv)["lladdr"], "02:00:0a:f4:02:00");
    assert_eq!(one(&nv)["dst"], "10.244.2.0");
    let dv = ipj(&a.ns, &["-d", "link", "show", "flannel.1"]);
    let d = &one(&dv)["linkinfo"]["info_data"];
    assert_eq!(
        (d["id"].as_u64(), d["port"].as_u64(), d["learning"].as_bool()),
        (Some(1), Some(4789), Some(false))
    );

    // Real traffic through the tunnel, both ways (bounded retries).
    for (from, to) in [(&a, "10.244.2.0"), (&b, "10.244.1.0")] {
        let mut ok = false;
        let mut last = String::new();
        for _ in 0..3 {
            let (s, out, err) = from.ns.try_exec("ping", &["-c1", "-W1", to]);
            if s {
                ok = true;
                break;
            }
            last = format!("{out}{err}");
        }
        assert!(ok, "ping {to} from {} failed: {last}", from.ns.name());
    }
    // The packets went through the vxlan device.
    let st = a.rt.links().get(a.vx).await.unwrap().stats.unwrap();
    assert!(st.tx_packets >= 1 && st.rx_packets >= 1, "{st:?}");

    // Without the FDB entry nothing gets through.
    a.rt.fdb().delete(&FdbEntry::new(a.vx, b.vx_mac).dst(b.underlay)).await.unwrap();
    let (s, _, _) = a.ns.try_exec("ping", &["-c1", "-W1", "10.244.2.0"]);
    assert!(!s, "ping must fail without the FDB entry");
}

/// Proxy entries (created without a MAC, dumped with `ip neigh show
/// proxy`), FDB `src_vni`, and states/flags named as ip and bridge name
/// them — compared field by field with `ip -j` and `bridge -j`.
#[tokio::test]
async fn proxy_entries_src_vni_and_state_names() {
    let ns = TestNs::new("neighproxy").await;
    let rt = rtnl(&ns).await;
    rt.links().add(&NewLink::new("p0", Veth::new(VethPeer::new("p1"))).up()).await.unwrap();
    let idx = rt.links().get("p0").await.unwrap().index;
    let nb = rt.neighbours();
    // ip creates a proxy entry, netplumb lists it; netplumb creates one,
    // ip lists it.
    ns.ip(&["neigh", "add", "proxy", "10.7.0.1", "dev", "p0"]);
    nb.add(&Neighbour::proxy(idx, "10.7.0.2".parse().unwrap())).await.unwrap();
    nb.add(&Neighbour::proxy(idx, "fd00:7::2".parse().unwrap())).await.unwrap();
    let ours = nb.list_proxy().try_collect().await.unwrap();
    let theirs = ipj(&ns, &["neigh", "show", "proxy"]);
    let theirs = theirs.as_array().unwrap();
    assert_eq!(ours.len(), 3, "{ours:?}");
    assert_eq!(ours.len(), theirs.len());
    for t in theirs {
        let o = ours
            .iter()
            .find(|o| o.dst.to_string() == t["dst"].as_str().unwrap())
            .unwrap_or_else(|| panic!("{t} in {ours:?}"));
        assert!(o.is_proxy() && o.lladdr.is_none(), "{o:?}");
        assert_eq!(o.index, idx);
        assert!(t.as_object().unwrap().contains_key("proxy"));
        assert_eq!(o.flags.names(), vec!["proxy"]);
    }
    // Proxy entries are not in the ordinary list, as with `ip neigh show`.
    assert!(nb.list().try_collect().await.unwrap().iter().all(|n| !n.is_proxy()));
    nb.delete(&Neighbour::proxy(idx, "10.7.0.2".parse().unwrap())).await.unwrap();
    assert_eq!(ipj(&ns, &["neigh", "show", "proxy"]).as_array().unwrap().len(), 2);
    let e =
        nb.add(&Neighbour::proxy(idx, "10.7.0.3".parse().unwrap()).lladdr(mac("02:00:00:00:00:01"))).await;
    assert!(e.unwrap_err().to_string().starts_with("invalid lladdr: "));

    // States as ip names them.
    nb.add(&Neighbour::new(idx, "10.7.0.9".parse().unwrap(), mac("02:00:00:00:00:09"))).await.unwrap();
    nb.add(
        &Neighbour::new(idx, "10.7.0.10".parse().unwrap(), mac("02:00:00:00:00:0a")).state(NeighState::STALE),
    )
    .await
    .unwrap();
    let all = nb.list().try_collect().await.unwrap();
    let ipn = ipj(&ns, &["neigh", "show"]);
    for t in ipn.as_array().unwrap() {
        let o = all.iter().find(|o| o.dst.to_string() == t["dst"].as_str().unwrap()).unwrap();
        let names: Vec<String> =
            t["state"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect();
        assert_eq!(o.state.names(), names, "{t}");
        assert_eq!(o.mac().map(|m| m.to_string()).as_deref(), t["lladdr"].as_str());
    }

    // FDB: src_vni on an external (collect-metadata) VXLAN, and bridge's
    // names for states and flags.
    ns.ip(&["link", "add", "vxe", "type", "vxlan", "external", "dstport", "4789"]);
    ns.ip(&["link", "add", "vxb", "type", "vxlan", "id", "42", "dstport", "4789"]);
    ns.ip(&["link", "add", "brx", "type", "bridge"]);
    ns.ip(&["link", "set", "vxb", "master", "brx"]);
    let vxe = rt.links().get("vxe").await.unwrap().index;
    let vxb = rt.links().get("vxb").await.unwrap().index;
    ns.exec(
        "bridge",
        &[
            "fdb",
            "add",
            "02:00:00:00:00:09",
            "dev",
            "vxe",
            "dst",
            "10.9.0.9",
            "src_vni",
            "900",
            "vni",
            "900",
            "self",
            "permanent",
        ],
    );
    let fdb = rt.fdb();
    fdb.add(
        &FdbEntry::new(vxe, mac("02:00:00:00:00:0b")).dst("10.9.0.11".parse().unwrap()).vni(901).src_vni(901),
    )
    .await
    .unwrap();
    fdb.add(&FdbEntry::new(vxb, mac("02:00:00:00:00:0c")).master().static_entry()).await.unwrap();
    let ours = fdb.list().try_collect().await.unwrap();
    let theirs = bridgej(&ns, &["fdb", "show"]);
    let theirs = theirs.as_array().unwrap();
    assert_eq!(ours.len(), theirs.len());
    let mut compared = 0;
    for t in theirs {
        let ifindex = rt.links().get(t["ifname"].as_str().unwrap()).await.unwrap().index;
        let o = ours
            .iter()
            .find(|o| o.mac.to_string() == t["mac"].as_str().unwrap() && o.index == ifindex)
            .unwrap_or_else(|| panic!("{t} in {ours:?}"));
        assert_eq!(o.state.bridge_name(), t["state"].as_str().unwrap_or(""), "{t}");
        let flags: Vec<&str> = t["flags"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
        assert_eq!(o.flags.bridge_names(), flags, "{t}");
        assert_eq!(o.src_vni.map(u64::from), t["src_vni"].as_u64(), "{t}");
        assert_eq!(o.vni.map(u64::from), t["vni"].as_u64(), "{t}");
        assert_eq!(o.dst.map(|d| d.to_string()).as_deref(), t["dst"].as_str(), "{t}");
        compared += 6;
    }
    assert!(compared >= 18);
    let src: Vec<_> = ours.iter().filter_map(|o| o.src_vni).collect();
    assert_eq!(src.len(), 2, "{ours:?}");
    let e = fdb.add(&FdbEntry::new(vxe, mac("02:00:00:00:00:0d")).src_vni(1 << 24)).await.unwrap_err();
    assert!(e.to_string().starts_with("invalid src_vni: "), "{e}");
}
