//! Change streams: order, and list-then-follow without a gap.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::rtnl;
use netplumb::addr::Address;
use netplumb::conn::Event;
use netplumb::link::{Link, LinkChange, NewLink, Veth, VethPeer};
use netplumb::neigh::NeighState;
use netplumb::route::{AnyRoute, Route, RouteV4};
use netplumb::rtnl::Change;
use netplumb::testing::TestNs;

const STEP: Duration = Duration::from_secs(5);

async fn next<T>(s: &mut netplumb::conn::Subscription<T>) -> Event<T> {
    tokio::time::timeout(STEP, s.try_next())
        .await
        .expect("no event within 5 s")
        .expect("event stream error")
        .expect("event stream ended")
}

#[tokio::test]
async fn a_burst_of_link_and_address_changes_arrives_in_order() {
    let ns = TestNs::new("evorder").await;
    let rt = rtnl(&ns).await;
    let links = rt.links();
    links.add(&NewLink::new("e0", Veth::new(VethPeer::new("e1")))).await.unwrap();
    let idx = links.get("e0").await.unwrap().index;
    let mut lev = links.events().await.unwrap();
    let mut aev = rt.addresses().events().await.unwrap();
    for mtu in 1000..1050 {
        links.set(idx, &LinkChange::new().mtu(mtu)).await.unwrap();
    }
    for i in 0..30u8 {
        rt.addresses()
            .add(&Address::new(idx, format!("10.7.0.{}/32", i + 1).parse().unwrap()))
            .await
            .unwrap();
    }
    let mut mtus = Vec::new();
    while mtus.len() < 50 {
        match next(&mut lev).await {
            Event::Message(Change::New(l)) if l.index == idx => {
                if mtus.last() != l.mtu.as_ref() {
                    mtus.push(l.mtu.unwrap());
                }
            }
            Event::Message(_) => {}
            Event::Overrun => panic!("overrun with the default buffer"),
        }
    }
    assert_eq!(mtus, (1000..1050).collect::<Vec<u32>>());
    let mut addrs = Vec::new();
    while addrs.len() < 30 {
        if let Event::Message(Change::New(a)) = next(&mut aev).await {
            addrs.push(a.address.addr().to_string());
        }
    }
    assert_eq!(addrs, (1..=30).map(|i| format!("10.7.0.{i}")).collect::<Vec<_>>());

    // Deletion is announced as Deleted.
    links.delete(idx).await.unwrap();
    loop {
        if let Event::Message(Change::Deleted(l)) = next(&mut lev).await {
            if l.index == idx {
                break;
            }
        }
    }
}

#[tokio::test]
async fn route_events_name_the_family() {
    let ns = TestNs::new("evroute").await;
    let rt = rtnl(&ns).await;
    rt.links().add(&NewLink::new("e0", Veth::new(VethPeer::new("e1"))).up()).await.unwrap();
    let idx = rt.links().get("e0").await.unwrap().index;
    let mut ev = rt.routes().events().await.unwrap();
    let r: RouteV4 = Route::new("10.99.0.0/16".parse().unwrap()).oif(idx);
    rt.routes().add(&r).await.unwrap();
    rt.routes().delete(&r).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        if let Event::Message(c) = next(&mut ev).await {
            if let AnyRoute::V4(v) = c.object() {
                if v.dst == r.dst {
                    seen.push(matches!(c, Change::New(_)));
                }
            }
        }
    }
    assert_eq!(seen, [true, false]);
}

#[tokio::test]
async fn list_then_follow_misses_nothing() {
    let ns = TestNs::new("evfollow").await;
    let rt = rtnl(&ns).await;
    // Some links before, more created from another connection while the
    // snapshot is being taken.
    let before: Vec<NewLink> =
        (0..20).map(|i| NewLink::new(format!("b{i}"), Veth::new(VethPeer::new(format!("c{i}"))))).collect();
    rt.links().add_many(&before).await.unwrap();
    let other = rtnl(&ns).await;
    let writer = tokio::spawn(async move {
        for i in 0..30 {
            other
                .links()
                .add(&NewLink::new(format!("d{i}"), Veth::new(VethPeer::new(format!("f{i}")))))
                .await
                .unwrap();
            if i % 3 == 0 && i < 20 {
                other.links().delete(format!("b{i}")).await.unwrap();
            }
            tokio::task::yield_now().await;
        }
        other.links().add(&NewLink::new("end0", Veth::new(VethPeer::new("end1")))).await.unwrap();
    });
    let snap = rt.links().list_and_follow().await.unwrap();
    let mut state: BTreeMap<u32, String> =
        snap.existing.iter().map(|l| (l.index.0, l.name.clone())).collect();
    let mut events = snap.events;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !state.values().any(|n| n == "end0") {
        assert!(tokio::time::Instant::now() < deadline, "end0 never arrived");
        match next(&mut events).await {
            Event::Message(Change::New(l)) => {
                state.insert(l.index.0, l.name);
            }
            Event::Message(Change::Deleted(l)) => {
                state.remove(&l.index.0);
            }
            Event::Overrun => panic!("overrun with the default buffer"),
        }
    }
    writer.await.unwrap();
    // What the follower built equals what exists now.
    let now: Vec<Link> = rt.links().list().try_collect().await.unwrap();
    let now: BTreeMap<u32, String> = now.into_iter().map(|l| (l.index.0, l.name)).collect();
    assert_eq!(state, now);
    let deleted = (0..20).step_by(3).count();
    assert_eq!(now.len(), 1 + 2 * (20 - deleted + 30 + 1));
}

#[tokio::test]
async fn neighbour_and_fdb_events_follow_ip_and_bridge_commands() {
    let ns = TestNs::new("evneigh").await;
    let rt = rtnl(&ns).await;
    ns.ip(&["link", "add", "br0", "type", "bridge"]);
    ns.ip(&["link", "add", "p0", "type", "veth", "peer", "name", "p1"]);
    ns.ip(&["link", "set", "p0", "master", "br0"]);
    ns.ip(&["link", "set", "br0", "up"]);
    ns.ip(&["link", "set", "p0", "up"]);
    let br = rt.links().get("br0").await.unwrap().index;
    let p0 = rt.links().get("p0").await.unwrap().index;
    let mut nev = rt.neighbours().events().await.unwrap();
    let mut fev = rt.fdb().events().await.unwrap();

    // ARP entry added and removed by `ip neigh`. The kernel announces the
    // removal of a permanent entry as a change to FAILED (without lladdr),
    // and the deletion itself once it is freed: either counts as "gone".
    ns.ip(&["neigh", "add", "10.9.0.7", "lladdr", "02:00:00:00:09:07", "dev", "br0", "nud", "permanent"]);
    ns.ip(&["neigh", "del", "10.9.0.7", "dev", "br0"]);
    let (mut added, mut gone) = (false, false);
    while !(added && gone) {
        if let Event::Message(c) = next(&mut nev).await {
            let n = c.object();
            if n.dst.to_string() != "10.9.0.7" {
                continue;
            }
            assert_eq!(n.index, br);
            match &c {
                Change::New(n) if n.state.contains(NeighState::PERMANENT) => {
                    assert!(!gone, "added after removal");
                    assert_eq!(n.mac().unwrap().to_string(), "02:00:00:00:09:07");
                    added = true;
                }
                Change::New(n) if n.state.contains(NeighState::FAILED) => {
                    assert!(added, "removed before added");
                    gone = true;
                }
                Change::Deleted(_) => {
                    assert!(added, "removed before added");
                    gone = true;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    // A static FDB entry on the port, added and removed by `bridge fdb`.
    // A kernel built with bridge VLAN filtering (Debian's) gives every port
    // the default PVID 1 even while filtering is off, and adds the entry
    // once without a VLAN and once for each VLAN of the port, with one
    // event each (and removes them alike); a kernel without it adds one.
    // Which entries exist is asked of `bridge fdb show`.
    const MAC: &str = "02:00:00:00:0a:0b";
    netplumb::testing::run("bridge", &["-n", ns.name(), "fdb", "add", MAC, "dev", "p0", "master", "static"]);
    let shown: serde_json::Value = serde_json::from_str(&netplumb::testing::run(
        "bridge",
        &["-n", ns.name(), "-j", "fdb", "show", "dev", "p0"],
    ))
    .unwrap();
    let want: BTreeSet<Option<u16>> = shown
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["mac"] == MAC)
        .map(|e| e["vlan"].as_u64().map(|v| v as u16))
        .collect();
    assert!(want.contains(&None), "bridge fdb show: {shown}");
    println!("static FDB entry: VLANs {want:?}");
    for adding in [true, false] {
        if !adding {
            netplumb::testing::run("bridge", &["-n", ns.name(), "fdb", "del", MAC, "dev", "p0", "master"]);
        }
        let mut seen = BTreeSet::new();
        while seen != want {
            if let Event::Message(c) = next(&mut fev).await {
                let f = c.object().clone();
                if f.mac.to_string() != MAC {
                    continue;
                }
                assert_eq!((f.index, f.master), (p0, Some(br)));
                assert_eq!(matches!(c, Change::New(_)), adding, "{c:?}");
                assert!(want.contains(&f.vlan), "an entry bridge did not show: {c:?}");
                assert!(seen.insert(f.vlan), "twice: {c:?}");
            }
        }
    }
}
