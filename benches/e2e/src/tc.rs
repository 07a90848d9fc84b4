//! Traffic control: 1,000 u32 filters added by netplumb in one call vs
//! `tc -batch`, in the same run, each in a fresh namespace.

use std::process::Command;
use std::time::Instant;

use netplumb::tc::{eth_p, Filter, Qdisc, TcHandle, U32};
use netplumb::testing::TestNs;
use netplumb::{IfIndex, Rtnl};

use crate::harness::*;

pub const FILTERS: usize = 1_000;

fn e(x: impl std::fmt::Display) -> String {
    x.to_string()
}

/// A namespace with veth `v0`/`v1` up and an ingress qdisc on `v0`.
fn with_ingress(tag: &str) -> (TestNs, u32) {
    let ns = fresh(tag);
    ns.ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
    ns.ip(&["link", "set", "v1", "up"]);
    ns.ip(&["link", "set", "v0", "up"]);
    let v0 = inside_async(&ns, || async {
        let rt = Rtnl::new().await.unwrap();
        let v0 = rt.links().get("v0").await.unwrap().index;
        rt.tc().qdiscs().add(&Qdisc::ingress(v0)).await.unwrap();
        v0.0
    });
    (ns, v0)
}

/// Filter `i` on `v0`'s ingress (see [`dst`]).
fn filter(v0: u32, i: usize) -> Filter {
    let u = U32::new()
        .match_ip_dst(ipnet::Ipv4Net::new(dst(i), 32).unwrap())
        .unwrap()
        .flowid(TcHandle::new(1, 1));
    Filter::new(IfIndex(v0), TcHandle::INGRESS_QDISC, 1, eth_p::IP, u)
}

/// `RTM_NEWTFILTER`, `NLM_F_CREATE | NLM_F_EXCL` (as `add_many` sends them).
const RTM_NEWTFILTER: u16 = 44;
const CREATE_EXCL: u16 = 0x400 | 0x200;

/// Filter `i` matches IPv4 destination 10.(i/256).(i%256).1/32, class 1:1.
fn dst(i: usize) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::new(10, (i >> 8) as u8, i as u8, 1)
}

/// The u32 filters on v0's ingress (the kernel also lists the priority's
/// instance and its 800: hash table).
fn count(ns: &TestNs, v0: u32) -> Result<(), String> {
    let n = inside_async(ns, move || async move {
        let rt = Rtnl::new().await.unwrap();
        let all = rt.tc().filters().list(IfIndex(v0), TcHandle::INGRESS_QDISC).try_collect().await.unwrap();
        all.iter().filter(|f| f.handle & 0xfff != 0).count()
    });
    expect_count("u32 filters on v0 ingress", n, FILTERS)
}

fn u32_add() -> Case {
    Case {
        name: "tc-u32-add",
        what: "add 1,000 u32 filters (match ip dst /32, flowid) to an ingress qdisc",
        reference: "tc -batch",
        target: None,
        mem_target_mib: None,
        tools: vec![
            tool("netplumb", || {
                let (ns, v0) = with_ingress("tcu32");
                let d = inside_async(&ns, move || async move {
                    let rt = Rtnl::new().await.map_err(e)?;
                    let t = Instant::now();
                    let filters: Vec<Filter> = (0..FILTERS).map(|i| filter(v0, i)).collect();
                    rt.tc().filters().add_many(&filters).await.map_err(e)?;
                    Ok::<_, String>(t.elapsed())
                })?;
                count(&ns, v0)?;
                Ok(Measure::time(d))
            }),
            tool("kernel floor", || {
                // The same requests, encoded before the clock starts.
                let (ns, v0) = with_ingress("tcu32");
                let mut b = netplumb::conn::Batch::new();
                for i in 0..FILTERS {
                    let f = filter(v0, i);
                    b.push(RTM_NEWTFILTER, CREATE_EXCL, |w| f.write(w));
                }
                let d = floor_bulk_inside(&ns, netplumb::wire::names::Protocol::Route, b)?;
                count(&ns, v0)?;
                Ok(Measure::time(d))
            }),
            tool("tc -batch", || {
                let (ns, v0) = with_ingress("tcu32");
                let script: String = (0..FILTERS)
                    .map(|i| {
                        format!(
                            "filter add dev v0 parent ffff: protocol ip prio 1 u32 match ip dst {}/32 flowid 1:1\n",
                            dst(i)
                        )
                    })
                    .collect();
                let f = Scratch::new("tc-batch", &script);
                let (d, _) = timed(Command::new("tc").args(["-n", ns.name(), "-batch", f.path()]), None)?;
                count(&ns, v0)?;
                Ok(Measure::time(d))
            }),
        ],
    }
}

pub fn cases() -> Vec<Case> {
    vec![u32_add()]
}
