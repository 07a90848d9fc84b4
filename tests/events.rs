//! Change streams: order, and list-then-follow without a gap.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::rtnl;
use netplumb::addr::Address;
use netplumb::conn::Event;
use netplumb::link::{Link, LinkChange, NewLink, Veth, VethPeer};
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
