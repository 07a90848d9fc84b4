//! Addresses against the real kernel, checked with netplumb's read-back
//! and `ip -j address`.

mod common;

use common::{ipj, one, rtnl};
use netplumb::addr::{AddrFlags, Address, AddressFilter};
use netplumb::link::{NewLink, Veth, VethPeer};
use netplumb::rtnl::Scope;
use netplumb::testing::TestNs;
use netplumb::IfIndex;

async fn setup(ns: &TestNs) -> (netplumb::Rtnl, IfIndex) {
    let rt = rtnl(ns).await;
    rt.links().add(&NewLink::new("a0", Veth::new(VethPeer::new("a1"))).up()).await.unwrap();
    let idx = rt.links().get("a0").await.unwrap().index;
    (rt, idx)
}

fn ip_addrs(ns: &TestNs, dev: &str) -> Vec<serde_json::Value> {
    let v = ipj(ns, &["address", "show", "dev", dev]);
    one(&v)["addr_info"].as_array().unwrap().clone()
}

#[tokio::test]
async fn ipv4_and_ipv6_addresses_with_every_field() {
    let ns = TestNs::new("addr").await;
    let (rt, idx) = setup(&ns).await;
    let addrs = rt.addresses();
    let v4 = Address::new(idx, "10.1.2.3/24".parse().unwrap())
        .broadcast("10.1.2.255".parse().unwrap())
        .label("a0:web")
        .lifetimes(3600, 1800);
    let v4b = Address::new(idx, "10.9.0.1/32".parse().unwrap())
        .peer("10.9.0.2".parse().unwrap())
        .scope(Scope::Link);
    let v6 = Address::new(idx, "fd00::3/64".parse().unwrap()).nodad().noprefixroute();
    addrs.add(&v4).await.unwrap();
    addrs.add(&v4b).await.unwrap();
    addrs.add(&v6).await.unwrap();
    assert!(addrs.add(&v4).await.unwrap_err().is_exists());

    let got = addrs.list_filtered(&AddressFilter::new().index(idx)).try_collect().await.unwrap();
    let find = |net: &str| {
        got.iter().find(|a| a.address.to_string() == net).unwrap_or_else(|| panic!("{net} in {got:?}"))
    };
    let a = find("10.1.2.3/24");
    assert_eq!(a.broadcast, Some("10.1.2.255".parse().unwrap()));
    assert_eq!(a.label.as_deref(), Some("a0:web"));
    assert_eq!(a.scope, Scope::Universe);
    assert_eq!(a.valid_lft.map(|v| v > 3500 && v <= 3600), Some(true));
    assert_eq!(a.preferred_lft.map(|v| v > 1700 && v <= 1800), Some(true));
    let b = find("10.9.0.1/32");
    assert_eq!(b.peer, Some("10.9.0.2".parse().unwrap()));
    assert_eq!(b.scope, Scope::Link);
    let c = find("fd00::3/64");
    assert!(
        c.flags.contains(AddrFlags::NODAD | AddrFlags::NOPREFIXROUTE | AddrFlags::PERMANENT),
        "{:?}",
        c.flags
    );
    assert!(!c.flags.contains(AddrFlags::TENTATIVE));
    assert_eq!(c.valid_lft, None);

    // ip sees the same.
    let ipa = ip_addrs(&ns, "a0");
    let ipf = |local: &str| {
        ipa.iter().find(|x| x["local"] == local).unwrap_or_else(|| panic!("{local}: {ipa:?}")).clone()
    };
    let x = ipf("10.1.2.3");
    assert_eq!(x["prefixlen"], 24);
    assert_eq!(x["broadcast"], "10.1.2.255");
    assert_eq!(x["label"], "a0:web");
    assert_eq!(x["scope"], "global");
    assert!(x["valid_life_time"].as_u64().unwrap() <= 3600);
    let y = ipf("10.9.0.1");
    assert_eq!(y["address"], "10.9.0.2");
    assert_eq!(y["scope"], "link");
    let z = ipf("fd00::3");
    assert_eq!(z["prefixlen"], 64);
    assert_eq!(z["nodad"], true);
    assert_eq!(z["noprefixroute"], true);
    // Every address ip lists, netplumb lists (link-local IPv6 included).
    assert_eq!(ipa.len(), got.len(), "{ipa:?} vs {got:?}");

    // replace: new lifetimes, same address.
    addrs.replace(&v4.clone().lifetimes(600, 300)).await.unwrap();
    let again = addrs.list_filtered(&AddressFilter::new().v4().index(idx)).try_collect().await.unwrap();
    let a = again.iter().find(|a| a.address.to_string() == "10.1.2.3/24").unwrap();
    assert!(a.valid_lft.unwrap() <= 600);
    assert!(again.iter().all(|a| a.address.addr().is_ipv4()));

    // delete, and delete again.
    addrs.delete(&v4).await.unwrap();
    assert!(ip_addrs(&ns, "a0").iter().all(|x| x["local"] != "10.1.2.3"));
    assert!(addrs.delete(&v4).await.is_err());

    // What ip adds, netplumb decodes.
    ns.ip(&["address", "add", "192.168.7.9/20", "brd", "+", "dev", "a0", "label", "a0:ip", "scope", "site"]);
    let got = addrs.list_filtered(&AddressFilter::new().v4()).try_collect().await.unwrap();
    let d = got.iter().find(|a| a.address.to_string() == "192.168.7.9/20").unwrap();
    assert_eq!(d.broadcast, Some("192.168.15.255".parse().unwrap()));
    assert_eq!(d.label.as_deref(), Some("a0:ip"));
    assert_eq!(d.scope, Scope::Site);
    assert_eq!(d.index, idx);

    // flush IPv4 on a0: only IPv6 stays.
    let n = addrs.flush(idx, Some(false)).await.unwrap();
    assert_eq!(n, 2);
    assert!(ip_addrs(&ns, "a0").iter().all(|x| x["family"] == "inet6"));
}

#[tokio::test]
async fn many_addresses_in_bulk_and_bad_input() {
    let ns = TestNs::new("addrbulk").await;
    let (rt, idx) = setup(&ns).await;
    let many: Vec<Address> = (0..500u32)
        .map(|i| Address::new(idx, format!("10.{}.{}.1/32", 20 + i / 250, i % 250).parse().unwrap()))
        .collect();
    rt.addresses().add_many(&many).await.unwrap();
    let n = rt
        .addresses()
        .list_filtered(&AddressFilter::new().v4().index(idx))
        .try_collect()
        .await
        .unwrap()
        .len();
    assert_eq!(n, 500);
    assert_eq!(ip_addrs(&ns, "a0").iter().filter(|x| x["family"] == "inet").count(), 500);
    // Bad input names the field and sends nothing.
    let bad = Address::new(idx, "fd00::1/64".parse().unwrap()).label("x");
    assert!(rt.addresses().add(&bad).await.unwrap_err().to_string().starts_with("invalid label: "));
    let bad = Address::new(IfIndex(0), "10.0.0.1/8".parse().unwrap());
    assert!(rt.addresses().add(&bad).await.unwrap_err().to_string().starts_with("invalid index: "));
    let bad = Address::new(idx, "10.0.0.1/8".parse().unwrap()).lifetimes(10, 20);
    assert!(rt.addresses().add(&bad).await.unwrap_err().to_string().starts_with("invalid preferred_lft: "));
    let mut with_bad = many[..2].to_vec();
    with_bad.push(Address::new(idx, "10.0.0.1/8".parse().unwrap()).peer("fd00::1".parse().unwrap()));
    let e = rt.addresses().add_many(&with_bad).await.unwrap_err();
    assert!(e.to_string().starts_with("invalid [2].peer: "), "{e}");
}
