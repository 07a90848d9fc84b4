//! Links against the real kernel, each test in fresh namespaces, checked
//! twice: netplumb's own read-back and `ip -j -d link`.

mod common;

use std::time::Duration;

use common::{has_flag, ipj, one, rtnl};
use netplumb::link::{
    Bridge, BridgePort, Dummy, Ipvlan, IpvlanMode, LinkChange, LinkFilter, LinkKind, Macvlan, MacvlanMode,
    NewLink, OperState, Veth, VethPeer, Vlan, Vxlan,
};
use netplumb::testing::TestNs;
use netplumb::{Error, IfIndex, MacAddr};

fn mac(s: &str) -> MacAddr {
    s.parse().unwrap()
}

#[tokio::test]
async fn veth_peer_created_in_another_namespace_then_moved_and_renamed() {
    let host = TestNs::new("vethhost").await;
    let pod = TestNs::new("vethpod").await;
    let other = TestNs::new("vethmv").await;
    let rt = rtnl(&host).await;
    let links = rt.links();
    let peer = VethPeer::new("eth0").netns(pod.netns()).mtu(1400).mac(mac("02:00:00:00:0a:01"));
    links
        .add(
            &NewLink::new("vh0", Veth::new(peer))
                .mtu(1400)
                .mac(mac("02:00:00:00:0b:01"))
                .group(5)
                .txqlen(500),
        )
        .await
        .unwrap();

    // netplumb, host side.
    let h = links.get("vh0").await.unwrap();
    assert_eq!(h.kind_name(), Some("veth"));
    assert_eq!(h.mtu, Some(1400));
    assert_eq!(h.mac(), Some(mac("02:00:00:00:0b:01")));
    assert_eq!(h.group, 5);
    assert_eq!(h.txqlen, Some(500));
    assert!(h.peer_index().is_some(), "{h:?}");
    assert!(h.link_netnsid.is_some(), "peer is in another namespace: {h:?}");
    assert!(h.stats.is_some());
    assert_eq!(links.get(h.index).await.unwrap().name, "vh0");
    // No eth0 on the host side.
    assert!(matches!(links.get("eth0").await, Err(Error::NotFound { .. })));

    // netplumb, pod side: the peer index matches.
    let prt = rtnl(&pod).await;
    let p = prt.links().get("eth0").await.unwrap();
    assert_eq!(Some(p.index), h.peer_index());
    assert_eq!(p.mtu, Some(1400));
    assert_eq!(p.mac(), Some(mac("02:00:00:00:0a:01")));
    assert!(!p.is_up());
    prt.links().set(p.index, &LinkChange::new().up()).await.unwrap();
    assert!(prt.links().get(p.index).await.unwrap().is_up());

    // ip, both sides.
    let v = ipj(&host, &["-d", "link", "show", "vh0"]);
    let o = one(&v);
    assert_eq!(o["linkinfo"]["info_kind"], "veth");
    assert_eq!(o["mtu"], 1400);
    assert_eq!(o["address"], "02:00:00:00:0b:01");
    assert_eq!(o["txqlen"], 500);
    assert_eq!(o["ifindex"], h.index.0);
    let v = ipj(&pod, &["-d", "link", "show", "eth0"]);
    let o = one(&v);
    assert_eq!(o["address"], "02:00:00:00:0a:01");
    assert!(has_flag(o, "UP"), "{o}");
    assert_eq!(o["ifindex"], p.index.0);

    // Move eth0 from the pod namespace into another one, renamed, in one
    // request (it must be down to be renamed? No: moving takes it down).
    prt.links().set("eth0", &LinkChange::new().netns(other.netns()).name("pod0")).await.unwrap();
    assert!(prt.links().get("eth0").await.unwrap_err().is_not_found());
    let ort = rtnl(&other).await;
    let moved = ort.links().get("pod0").await.unwrap();
    assert_eq!(moved.mac(), Some(mac("02:00:00:00:0a:01")));
    let v = ipj(&other, &["link", "show", "pod0"]);
    assert_eq!(one(&v)["address"], "02:00:00:00:0a:01");
    assert!(ipj(&pod, &["link", "show"]).as_array().unwrap().iter().all(|l| l["ifname"] != "eth0"));

    // Deleting one end deletes both.
    links.delete("vh0").await.unwrap();
    assert!(ort.links().get("pod0").await.unwrap_err().is_not_found());
    assert!(links.delete("vh0").await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn bridge_settings_ports_and_a_mac_that_stays_put() {
    let ns = TestNs::new("bridge").await;
    let rt = rtnl(&ns).await;
    let links = rt.links();
    let br_mac = mac("02:aa:00:00:00:01");
    let bridge = Bridge::new().stp(false).forward_delay(Duration::from_secs(4));
    // VLAN filtering at creation, where the kernel has it.
    let vlan_filtering =
        match links.add(&NewLink::new("br0", bridge.clone().vlan_filtering(true)).mac(br_mac).up()).await {
            Ok(()) => {
                println!("bridge vlan_filtering: available in this kernel");
                true
            }
            Err(e) => {
                println!("bridge vlan_filtering: not in this kernel ({e}); bridge created without it");
                assert_eq!(e.errno(), Some(netplumb::Errno::EOPNOTSUPP), "{e}");
                let out = std::process::Command::new("ip")
                    .args(["-n", ns.name(), "link", "add", "brx", "type", "bridge", "vlan_filtering", "1"])
                    .output()
                    .unwrap();
                assert!(!out.status.success(), "ip could create what netplumb could not");
                links.add(&NewLink::new("br0", bridge).mac(br_mac).up()).await.unwrap();
                false
            }
        };
    let br = links.get("br0").await.unwrap();
    let Some(LinkKind::Bridge(b)) = &br.kind else { panic!("{br:?}") };
    assert_eq!(b.stp, Some(false));
    assert_eq!(b.forward_delay, Some(Duration::from_secs(4)));
    assert_eq!(br.mac(), Some(br_mac));
    let v = ipj(&ns, &["-d", "link", "show", "br0"]);
    let d = &one(&v)["linkinfo"]["info_data"];
    assert_eq!(d["stp_state"], 0);
    assert_eq!(d["forward_delay"], 400);
    if vlan_filtering {
        assert_eq!(b.vlan_filtering, Some(true));
        assert_eq!(d["vlan_filtering"], 1);
    }

    // Ports with MACs lower than the bridge's come and go: the MAC stays.
    for (i, m) in ["02:00:00:00:00:01", "00:00:00:00:00:02"].iter().enumerate() {
        let name = format!("p{i}");
        links
            .add(
                &NewLink::new(&name, Veth::new(VethPeer::new(format!("q{i}"))))
                    .mac(mac(m))
                    .master(br.index)
                    .up(),
            )
            .await
            .unwrap();
        assert_eq!(links.get("br0").await.unwrap().mac(), Some(br_mac));
    }
    // Port settings: hairpin and isolated on, learning and flooding off.
    let port = BridgePort::new().hairpin(true).isolated(true).learning(false).unicast_flood(false);
    links.set("p0", &LinkChange::new().bridge_port(port)).await.unwrap();
    let p0 = links.get("p0").await.unwrap();
    assert_eq!(p0.master, Some(br.index));
    let bp = p0.bridge_port().expect("bridge port info");
    assert_eq!(
        (bp.hairpin, bp.isolated, bp.learning, bp.unicast_flood),
        (Some(true), Some(true), Some(false), Some(false))
    );
    let v = ipj(&ns, &["-d", "link", "show", "p0"]);
    let s = &one(&v)["linkinfo"]["info_slave_data"];
    assert_eq!(s["hairpin"], true);
    assert_eq!(s["isolated"], true);
    assert_eq!(s["learning"], false);
    assert_eq!(s["flood"], false);
    // The other port keeps the defaults.
    let bp1 = links.get("p1").await.unwrap().bridge_port().cloned().unwrap();
    assert_eq!((bp1.hairpin, bp1.learning), (Some(false), Some(true)));

    // Kernel-side filters.
    let ports = links.list_filtered(&LinkFilter::new().master(br.index)).try_collect().await.unwrap();
    let mut names: Vec<_> = ports.iter().map(|l| l.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["p0", "p1"]);
    let bridges = links.list_filtered(&LinkFilter::new().kind("bridge")).try_collect().await.unwrap();
    assert_eq!(bridges.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["br0"]);
    let veths = links.list_filtered(&LinkFilter::new().kind("veth")).try_collect().await.unwrap();
    assert_eq!(veths.len(), 4);

    // nomaster, and ports leaving: the MAC still stays.
    links.set("p1", &LinkChange::new().nomaster()).await.unwrap();
    assert_eq!(links.get("p1").await.unwrap().master, None);
    assert!(one(&ipj(&ns, &["link", "show", "p1"])).get("master").is_none());
    links.delete("p0").await.unwrap();
    assert_eq!(links.get("br0").await.unwrap().mac(), Some(br_mac));
    assert_eq!(one(&ipj(&ns, &["link", "show", "br0"]))["address"], "02:aa:00:00:00:01");
}

#[tokio::test]
async fn set_changes_every_attribute_and_ip_agrees() {
    let ns = TestNs::new("linkset").await;
    let links = rtnl(&ns).await.links().clone();
    links.add(&NewLink::new("a0", Veth::new(VethPeer::new("b0")))).await.unwrap();
    let idx = links.get("a0").await.unwrap().index;
    links
        .set(
            idx,
            &LinkChange::new()
                .mtu(1300)
                .mac(mac("02:12:34:56:78:9a"))
                .alias("uplink")
                .group(9)
                .txqlen(77)
                .up(),
        )
        .await
        .unwrap();
    let l = links.get(idx).await.unwrap();
    assert_eq!(
        (l.mtu, l.mac(), l.alias.as_deref(), l.group, l.txqlen, l.is_up()),
        (Some(1300), Some(mac("02:12:34:56:78:9a")), Some("uplink"), 9, Some(77), true)
    );
    let v = ipj(&ns, &["link", "show", "a0"]);
    let o = one(&v);
    assert_eq!(o["mtu"], 1300);
    assert_eq!(o["address"], "02:12:34:56:78:9a");
    assert_eq!(o["ifalias"], "uplink");
    assert_eq!(o["group"], "9");
    assert_eq!(o["txqlen"], 77);
    assert!(has_flag(o, "UP"));
    // The peer is down, so the link is not operationally up.
    assert_eq!(l.oper_state, OperState::LowerLayerDown);

    // Down, rename by name (resolved to the index first), back up.
    links.set(idx, &LinkChange::new().down()).await.unwrap();
    assert!(!links.get(idx).await.unwrap().is_up());
    assert!(!has_flag(one(&ipj(&ns, &["link", "show", "a0"])), "UP"));
    links.set("a0", &LinkChange::new().name("renamed0")).await.unwrap();
    assert_eq!(links.get(idx).await.unwrap().name, "renamed0");
    assert_eq!(one(&ipj(&ns, &["link", "show", "renamed0"]))["ifindex"], idx.0);
    links.set("b0", &LinkChange::new().up()).await.unwrap();
    links.set(idx, &LinkChange::new().up()).await.unwrap();
    // Carrier takes a moment: bounded wait for operational UP.
    let mut state = OperState::Unknown;
    for _ in 0..50 {
        state = links.get(idx).await.unwrap().oper_state;
        if state == OperState::Up {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(state, OperState::Up);
    assert_eq!(one(&ipj(&ns, &["link", "show", "renamed0"]))["operstate"], "UP");

    // Errors: typed not-found, exists, bad input with nothing sent.
    assert!(matches!(links.get("nope0").await, Err(Error::NotFound { .. })));
    assert!(links.get(IfIndex(999_999)).await.unwrap_err().is_not_found());
    assert!(links.set("nope0", &LinkChange::new().up()).await.unwrap_err().is_not_found());
    let e = links.add(&NewLink::new("renamed0", Veth::new(VethPeer::new("zz0")))).await.unwrap_err();
    assert!(e.is_exists(), "{e}");
    let e = links.set(idx, &LinkChange::new().name("bad name")).await.unwrap_err();
    assert!(e.to_string().starts_with("invalid name: "), "{e}");
    let e = links.add(&NewLink::new("ok1", Veth::new(VethPeer::new("x".repeat(16))))).await.unwrap_err();
    assert!(e.to_string().starts_with("invalid peer.name: "), "{e}");
    // Nothing of the refused requests exists.
    assert!(links.get("ok1").await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn what_ip_creates_netplumb_decodes() {
    let ns = TestNs::new("ipdecode").await;
    let links = rtnl(&ns).await.links().clone();
    ns.ip(&["link", "add", "u0", "type", "veth", "peer", "name", "u1"]);
    ns.ip(&[
        "link",
        "add",
        "vx9",
        "type",
        "vxlan",
        "id",
        "99",
        "local",
        "10.0.0.1",
        "remote",
        "10.0.0.2",
        "dstport",
        "4789",
        "ttl",
        "10",
        "nolearning",
        "dev",
        "u0",
    ]);
    ns.ip(&[
        "link",
        "add",
        "br9",
        "type",
        "bridge",
        "stp_state",
        "1",
        "forward_delay",
        "700",
        "priority",
        "100",
    ]);
    ns.ip(&["link", "add", "link", "u0", "name", "mv9", "type", "macvlan", "mode", "private"]);
    ns.ip(&["link", "set", "u1", "master", "br9"]);
    ns.ip(&["link", "set", "dev", "u1", "type", "bridge_slave", "hairpin", "on", "learning", "off"]);

    let u0 = links.get("u0").await.unwrap();
    let vx = links.get("vx9").await.unwrap();
    assert_eq!(
        vx.kind,
        Some(LinkKind::Vxlan(Vxlan {
            vni: 99,
            remote: Some("10.0.0.2".parse().unwrap()),
            local: Some("10.0.0.1".parse().unwrap()),
            port: Some(4789),
            learning: Some(false),
            ttl: Some(10),
            link: Some(u0.index),
            ageing: Some(300),
        }))
    );
    let br = links.get("br9").await.unwrap();
    let Some(LinkKind::Bridge(b)) = &br.kind else { panic!("{br:?}") };
    assert_eq!((b.stp, b.forward_delay, b.priority), (Some(true), Some(Duration::from_secs(7)), Some(100)));
    let mv = links.get("mv9").await.unwrap();
    assert_eq!(
        mv.kind,
        Some(LinkKind::Macvlan(Macvlan { link: u0.index, mode: Some(MacvlanMode::Private) }))
    );
    let u1 = links.get("u1").await.unwrap();
    assert_eq!(u1.master, Some(br.index));
    let p = u1.bridge_port().unwrap();
    assert_eq!((p.hairpin, p.learning), (Some(true), Some(false)));

    // The whole list agrees with ip -j link on names, indices, MACs, MTUs.
    let all = links.list().try_collect().await.unwrap();
    let v = ipj(&ns, &["link", "show"]);
    let ipl = v.as_array().unwrap();
    assert_eq!(all.len(), ipl.len());
    for o in ipl {
        let l = all.iter().find(|l| l.index.0 == o["ifindex"].as_u64().unwrap() as u32).unwrap();
        assert_eq!(o["ifname"], l.name.as_str());
        assert_eq!(o["mtu"], l.mtu.unwrap());
        assert_eq!(o["address"].as_str().unwrap(), l.mac().unwrap().to_string());
        assert_eq!(o["operstate"].as_str().unwrap(), l.oper_state.name());
    }
}

#[tokio::test]
async fn macvlan_created_and_read_back() {
    let ns = TestNs::new("macvlan").await;
    let links = rtnl(&ns).await.links().clone();
    links.add(&NewLink::new("low0", Veth::new(VethPeer::new("low1")))).await.unwrap();
    let low = links.get("low0").await.unwrap().index;
    links.add(&NewLink::new("mv0", Macvlan::new(low, MacvlanMode::Bridge)).mtu(1400)).await.unwrap();
    let mv = links.get("mv0").await.unwrap();
    assert_eq!(mv.kind, Some(LinkKind::Macvlan(Macvlan { link: low, mode: Some(MacvlanMode::Bridge) })));
    let v = ipj(&ns, &["-d", "link", "show", "mv0"]);
    let o = one(&v);
    assert_eq!(o["linkinfo"]["info_data"]["mode"], "bridge");
    assert_eq!(o["link"], "low0");
    assert_eq!(o["mtu"], 1400);
}

/// dummy, vlan and ipvlan: some kernels lack them. Create each; where the
/// kernel has the kind, check it; where it does not, check the kernel said
/// so (and the request bytes are checked in tests/rtnl_bytes.rs).
#[tokio::test]
async fn kinds_this_kernel_may_lack() {
    let ns = TestNs::new("kinds").await;
    let links = rtnl(&ns).await.links().clone();
    links.add(&NewLink::new("low0", Veth::new(VethPeer::new("low1")))).await.unwrap();
    let low = links.get("low0").await.unwrap().index;
    let cases = [
        NewLink::new("dum0", Dummy),
        NewLink::new("low0.5", Vlan::new(low, 5)),
        NewLink::new("ipv0", Ipvlan::new(low, IpvlanMode::L3)),
    ];
    for want in cases {
        let kind = want.kind.name().to_string();
        match links.add(&want).await {
            Ok(()) => {
                println!("kind {kind}: available in this kernel, checked against the kernel");
                let got = links.get(want.name.as_str()).await.unwrap();
                assert_eq!(got.kind.as_ref(), Some(&want.kind));
                let v = ipj(&ns, &["-d", "link", "show", &want.name]);
                assert_eq!(one(&v)["linkinfo"]["info_kind"], kind.as_str());
            }
            Err(e) => {
                println!("kind {kind}: not in this kernel ({e}); checked at the byte level only");
                let k = e.kernel().unwrap_or_else(|| panic!("{kind}: not a kernel error: {e}"));
                let unknown = k.message.as_deref() == Some("Unknown device type")
                    || k.errno == netplumb::Errno::EOPNOTSUPP;
                assert!(unknown, "{kind}: unexpected error {e}");
                // ip gets the same answer.
                let out = std::process::Command::new("ip")
                    .args(["-n", ns.name(), "link", "add", "x9", "type", &kind])
                    .output()
                    .unwrap();
                assert!(!out.status.success());
            }
        }
    }
}

#[tokio::test]
async fn many_veths_torn_down_by_group() {
    let ns = TestNs::new("group").await;
    let links = rtnl(&ns).await.links().clone();
    let new: Vec<NewLink> = (0..100)
        .map(|i| NewLink::new(format!("g{i}"), Veth::new(VethPeer::new(format!("h{i}")))).group(7))
        .collect();
    links.add_many(&new).await.unwrap();
    links.add(&NewLink::new("keep0", Veth::new(VethPeer::new("keep1")))).await.unwrap();
    let veths = links.list_filtered(&LinkFilter::new().kind("veth")).try_collect().await.unwrap();
    // Both ends of the 100 pairs: the peers are in group 0, though.
    assert_eq!(veths.len(), 202);
    assert_eq!(veths.iter().filter(|l| l.group == 7).count(), 100);
    let t = std::time::Instant::now();
    links.delete_group(7).await.unwrap();
    println!("deleted 100 veth pairs by group in {:?}", t.elapsed());
    let left: Vec<String> = links
        .list_filtered(&LinkFilter::new().kind("veth"))
        .try_collect()
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.contains(&"keep0".to_string()));
    assert_eq!(ipj(&ns, &["link", "show", "type", "veth"]).as_array().unwrap().len(), 2);
    // Group 0 is refused before anything is sent.
    assert!(links.delete_group(0).await.unwrap_err().to_string().starts_with("invalid group: "));
    // A batch with failures says which.
    let dup = [
        NewLink::new("keep0", Veth::new(VethPeer::new("k2"))),
        NewLink::new("fresh0", Veth::new(VethPeer::new("fresh1"))),
    ];
    match links.add_many(&dup).await {
        Err(Error::Batch(b)) => {
            assert_eq!(b.failures.len(), 1);
            assert_eq!(b.failures[0].operation.as_ref().unwrap().index, 0);
            assert!(b.failures[0].is_exists());
        }
        other => panic!("{other:?}"),
    }
    assert!(links.get("fresh0").await.is_ok());
}

#[tokio::test]
async fn vxlan_with_remote_or_group_as_ip_shows_it() {
    let ns = TestNs::new("vxlan").await;
    let links = rtnl(&ns).await.links().clone();
    links.add(&NewLink::new("u0", Veth::new(VethPeer::new("u1")))).await.unwrap();
    let u0 = links.get("u0").await.unwrap().index;
    let remote = Vxlan::new(100)
        .remote("192.0.2.2".parse().unwrap())
        .local("192.0.2.1".parse().unwrap())
        .port(4789)
        .ttl(5)
        .learning(true);
    links.add(&NewLink::new("vxr", remote.clone())).await.unwrap();
    let group = Vxlan::new(200).group("239.1.1.1".parse().unwrap()).link(u0).port(8472);
    links.add(&NewLink::new("vxg", group.clone())).await.unwrap();
    let v6 = Vxlan::new(300).remote("fd00::2".parse().unwrap()).local("fd00::1".parse().unwrap()).port(4789);
    links.add(&NewLink::new("vx6", v6.clone())).await.unwrap();

    let Some(LinkKind::Vxlan(r)) = links.get("vxr").await.unwrap().kind else { panic!() };
    assert_eq!(
        (r.vni, r.remote, r.local, r.port, r.ttl, r.learning),
        (100, remote.remote, remote.local, Some(4789), Some(5), Some(true))
    );
    let Some(LinkKind::Vxlan(g)) = links.get("vxg").await.unwrap().kind else { panic!() };
    assert!(g.is_group());
    assert_eq!((g.vni, g.remote, g.link, g.port), (200, group.remote, Some(u0), Some(8472)));
    let Some(LinkKind::Vxlan(s)) = links.get("vx6").await.unwrap().kind else { panic!() };
    assert_eq!((s.remote, s.local), (v6.remote, v6.local));

    let d = |n: &str| one(&ipj(&ns, &["-d", "link", "show", n]))["linkinfo"]["info_data"].clone();
    let dr = d("vxr");
    assert_eq!(
        (dr["id"].as_u64(), dr["remote"].as_str(), dr["local"].as_str()),
        (Some(100), Some("192.0.2.2"), Some("192.0.2.1"))
    );
    assert_eq!(
        (dr["ttl"].as_u64(), dr["learning"].as_bool(), dr["port"].as_u64()),
        (Some(5), Some(true), Some(4789))
    );
    let dg = d("vxg");
    assert_eq!(
        (dg["group"].as_str(), dg["link"].as_str(), dg["port"].as_u64()),
        (Some("239.1.1.1"), Some("u0"), Some(8472))
    );
    let d6 = d("vx6");
    assert_eq!((d6["remote6"].as_str(), d6["local6"].as_str()), (Some("fd00::2"), Some("fd00::1")));
    // A group without a device is refused before sending.
    let e = links
        .add(&NewLink::new("vxbad", Vxlan::new(1).group("239.1.1.2".parse().unwrap())))
        .await
        .unwrap_err();
    assert!(e.to_string().starts_with("invalid vxlan.link: "), "{e}");
}
