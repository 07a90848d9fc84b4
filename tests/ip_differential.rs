//! The differential test of issue 15: a namespace filled with `ip` and
//! `bridge` commands (links of every kind this kernel has, with their
//! options; addresses; routes in several tables with metrics, multipath,
//! via inet6, realms, expiry, nexthop objects; neighbours and proxy
//! entries; FDB entries with VXLAN destinations and src_vni; policy rules
//! with every selector), then dumped by netplumb and compared field by
//! field with `ip -j -d` / `bridge -j`. And the reverse: netplumb builds
//! the same kinds of objects in a second namespace and `ip -j -d` must show
//! what was intended, compared by the same code. Finally conntrack flows
//! of several protocols and zones are listed by netplumb and compared
//! token by token with `conntrack -L` and `conntrack -L -w N`.
//!
//! Prints `ip_differential: N fields compared, M mismatches` and fails on
//! any mismatch. Needs root.

mod common;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use common::{bridgej, ipj};
use netplumb::addr::Address;
use netplumb::link::{
    Bridge, BridgePort, Link, LinkChange, LinkKind, Macvlan, MacvlanMode, NewLink, Veth, VethPeer, Vxlan,
    VxlanDf,
};
use netplumb::neigh::{FdbEntry, NeighState, Neighbour};
use netplumb::route::{Metric, NextHop, Route, RouteAddr, RouteFilter, RouteTable, RouteType};
use netplumb::rtnl::nexthop::Nexthop;
use netplumb::rule::{Rule, RuleAction};
use netplumb::testing::TestNs;
use netplumb::{IfIndex, Rtnl};
use serde_json::{json, Value};

/// Counts compared fields and collects mismatches.
#[derive(Default)]
struct Diff {
    compared: usize,
    mismatches: Vec<String>,
    /// Whole seconds that passed between netplumb's listing and ip's (the
    /// countdowns below may differ by that much, plus rounding).
    elapsed: u64,
}

impl Diff {
    /// Compare one field; both absent is not a comparison.
    fn eq(&mut self, what: &str, ours: Value, theirs: &Value) {
        if ours.is_null() && theirs.is_null() {
            return;
        }
        self.compared += 1;
        if &ours != theirs {
            self.mismatches.push(format!("{what}: netplumb {ours} ip {theirs}"));
        }
    }

    /// Compare a lifetime that counts down: ip listed after netplumb, so
    /// its figure may be lower by the seconds in between (plus rounding),
    /// never higher.
    fn close(&mut self, what: &str, ours: Option<u64>, theirs: &Value) {
        self.compared += 1;
        let ok = match (ours, theirs.as_u64()) {
            (Some(a), Some(b)) => b <= a + 1 && a.saturating_sub(b) <= self.elapsed + 2,
            (None, None) => true,
            _ => false,
        };
        if !ok {
            self.mismatches.push(format!("{what}: netplumb {ours:?} ip {theirs}"));
        }
    }
}

fn opt<T: Into<Value>>(v: Option<T>) -> Value {
    v.map_or(Value::Null, Into::into)
}

fn set(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .map_or(vec![], |a| a.iter().map(|x| x.as_str().unwrap_or_default().to_string()).collect());
    out.sort();
    out
}

const LINK_FLAGS: [(u32, &str); 11] = [
    (0x8, "LOOPBACK"),
    (0x2, "BROADCAST"),
    (0x10, "POINTOPOINT"),
    (0x1000, "MULTICAST"),
    (0x80, "NOARP"),
    (0x200, "ALLMULTI"),
    (0x100, "PROMISC"),
    (0x400, "MASTER"),
    (0x800, "SLAVE"),
    (0x1, "UP"),
    (0x10000, "LOWER_UP"),
];

fn compare_links(d: &mut Diff, links: &[Link], ip: &Value) {
    let names: BTreeMap<u32, &str> = links.iter().map(|l| (l.index.0, l.name.as_str())).collect();
    let ip = ip.as_array().unwrap();
    d.eq("link count", json!(links.len()), &json!(ip.len()));
    for j in ip {
        let name = j["ifname"].as_str().unwrap();
        let Some(l) = links.iter().find(|l| l.name == name) else {
            d.mismatches.push(format!("link {name} not listed by netplumb"));
            continue;
        };
        let w = |k: &str| format!("link {name} {k}");
        d.eq(&w("ifindex"), json!(l.index.0), &j["ifindex"]);
        d.eq(&w("mtu"), opt(l.mtu), &j["mtu"]);
        d.eq(&w("operstate"), json!(l.oper_state.name()), &j["operstate"]);
        d.eq(&w("txqlen"), opt(l.txqlen), &j["txqlen"]);
        d.eq(&w("address"), opt(l.mac().map(|m| m.to_string())), &j["address"]);
        d.eq(&w("min_mtu"), opt(l.min_mtu), &j["min_mtu"]);
        d.eq(&w("max_mtu"), opt(l.max_mtu), &j["max_mtu"]);
        d.eq(&w("promiscuity"), opt(l.promiscuity), &j["promiscuity"]);
        d.eq(&w("allmulti"), opt(l.allmulti), &j["allmulti"]);
        d.eq(&w("num_tx_queues"), opt(l.num_tx_queues), &j["num_tx_queues"]);
        d.eq(&w("num_rx_queues"), opt(l.num_rx_queues), &j["num_rx_queues"]);
        d.eq(&w("gso_max_size"), opt(l.gso_max_size), &j["gso_max_size"]);
        d.eq(&w("gso_max_segs"), opt(l.gso_max_segs), &j["gso_max_segs"]);
        d.eq(&w("gro_max_size"), opt(l.gro_max_size), &j["gro_max_size"]);
        d.eq(&w("tso_max_size"), opt(l.tso_max_size), &j["tso_max_size"]);
        d.eq(&w("tso_max_segs"), opt(l.tso_max_segs), &j["tso_max_segs"]);
        let alt = if l.altnames.is_empty() { Value::Null } else { json!(l.altnames) };
        d.eq(&w("altnames"), alt, &j["altnames"]);
        d.eq(
            &w("group"),
            json!(if l.group == 0 { "default".to_string() } else { l.group.to_string() }),
            &j["group"],
        );
        d.eq(&w("master"), opt(l.master.and_then(|m| names.get(&m.0)).map(|s| s.to_string())), &j["master"]);
        let af = l.af_spec().map(|a| a.unwrap().addr_gen_mode_name());
        d.eq(&w("inet6_addr_gen_mode"), opt(af.flatten()), &j["inet6_addr_gen_mode"]);
        let mut ours: Vec<String> =
            LINK_FLAGS.iter().filter(|(b, _)| l.flags.bits() & b != 0).map(|(_, n)| n.to_string()).collect();
        // ip adds M-DOWN for a link that is up without carrier... and
        // prints LOWER_UP only when up.
        // M-DOWN and NO-CARRIER are ip's words for UP without LOWER_UP,
        // not flags of their own.
        let theirs: Vec<String> =
            set(&j["flags"]).into_iter().filter(|f| f != "M-DOWN" && f != "NO-CARRIER").collect();
        if !l.flags.contains(netplumb::link::LinkFlags::UP) {
            ours.retain(|f| f != "LOWER_UP");
        }
        ours.sort();
        d.eq(&w("flags"), json!(ours), &json!(theirs));
        let info = &j["linkinfo"];
        d.eq(&w("kind"), opt(l.kind_name().map(str::to_string)), &info["info_kind"]);
        let data = &info["info_data"];
        match &l.kind {
            Some(LinkKind::Vxlan(x)) => {
                d.eq(&w("vxlan.id"), json!(x.vni), &data["id"]);
                let remote_key = if x.is_group() { "group" } else { "remote" };
                d.eq(&w("vxlan.remote"), opt(x.remote.map(|r| r.to_string())), &data[remote_key]);
                d.eq(&w("vxlan.local"), opt(x.local.map(|r| r.to_string())), &data["local"]);
                d.eq(&w("vxlan.port"), opt(x.port), &data["port"]);
                d.eq(&w("vxlan.learning"), opt(x.learning), &data["learning"]);
                d.eq(&w("vxlan.ttl"), opt(x.ttl), &data["ttl"]);
                d.eq(&w("vxlan.tos"), opt(x.tos_name()), &data["tos"]);
                d.eq(&w("vxlan.ageing"), opt(x.ageing), &data["ageing"]);
                d.eq(&w("vxlan.df"), opt(x.df.map(|f| f.name())), &data["df"]);
                d.eq(&w("vxlan.udp_csum"), opt(x.udp_csum), &data["udp_csum"]);
                d.eq(&w("vxlan.udp_zero_csum6_tx"), opt(x.udp6_zero_csum_tx), &data["udp_zero_csum6_tx"]);
                d.eq(&w("vxlan.udp_zero_csum6_rx"), opt(x.udp6_zero_csum_rx), &data["udp_zero_csum6_rx"]);
                d.eq(&w("vxlan.external"), opt(x.external.filter(|e| *e)), &data["external"]);
                let pr = x.port_range.map(|(a, b)| json!({"low": a, "high": b}));
                d.eq(&w("vxlan.port_range"), opt(pr), &data["port_range"]);
                d.eq(
                    &w("vxlan.link"),
                    opt(x.link.and_then(|m| names.get(&m.0)).map(|s| s.to_string())),
                    &data["link"],
                );
            }
            Some(LinkKind::Bridge(b)) => {
                let cs = |v: Option<Duration>| opt(v.map(|d| d.as_millis() as u64 / 10));
                d.eq(&w("bridge.forward_delay"), cs(b.forward_delay), &data["forward_delay"]);
                d.eq(&w("bridge.hello_time"), cs(b.hello_time), &data["hello_time"]);
                d.eq(&w("bridge.max_age"), cs(b.max_age), &data["max_age"]);
                d.eq(&w("bridge.ageing_time"), cs(b.ageing_time), &data["ageing_time"]);
                d.eq(&w("bridge.stp_state"), opt(b.stp.map(u8::from)), &data["stp_state"]);
                d.eq(&w("bridge.priority"), opt(b.priority), &data["priority"]);
                d.eq(
                    &w("bridge.vlan_filtering"),
                    opt(b.vlan_filtering.map(u8::from)),
                    &data["vlan_filtering"],
                );
            }
            Some(LinkKind::Macvlan(m)) | Some(LinkKind::Macvtap(m)) => {
                d.eq(&w("macvlan.mode"), opt(m.mode.map(|m| m.name())), &data["mode"]);
            }
            _ => {}
        }
        if let Some(p) = l.bridge_port() {
            let s = &info["info_slave_data"];
            d.eq(&w("port.kind"), json!("bridge"), &info["info_slave_kind"]);
            d.eq(&w("port.state"), opt(p.state.map(|s| s.name())), &s["state"]);
            d.eq(&w("port.priority"), opt(p.priority), &s["priority"]);
            d.eq(&w("port.cost"), opt(p.cost), &s["cost"]);
            for (k, v) in [
                ("hairpin", p.hairpin),
                ("guard", p.guard),
                ("learning", p.learning),
                ("flood", p.unicast_flood),
                ("mcast_flood", p.mcast_flood),
                ("bcast_flood", p.bcast_flood),
                ("proxy_arp", p.proxy_arp),
                ("neigh_suppress", p.neigh_suppress),
                ("isolated", p.isolated),
            ] {
                d.eq(&w(&format!("port.{k}")), opt(v), &s[k]);
            }
        }
    }
}

fn compare_addresses(d: &mut Diff, addrs: &[Address], names: &BTreeMap<u32, String>, ip: &Value) {
    let mut n = 0;
    for link in ip.as_array().unwrap() {
        let dev = link["ifname"].as_str().unwrap();
        for j in link["addr_info"].as_array().unwrap() {
            n += 1;
            let local = j["local"].as_str().unwrap();
            let Some(a) = addrs.iter().find(|a| {
                a.address.addr().to_string() == local
                    && names.get(&a.index.0).map(String::as_str) == Some(dev)
            }) else {
                d.mismatches.push(format!("address {local} on {dev} not listed by netplumb"));
                continue;
            };
            let w = |k: &str| format!("address {local} {k}");
            d.eq(&w("prefixlen"), json!(a.address.prefix_len()), &j["prefixlen"]);
            d.eq(&w("scope"), json!(a.scope.name()), &j["scope"]);
            d.eq(&w("label"), opt(a.label.clone()), &j["label"]);
            d.eq(&w("broadcast"), opt(a.broadcast.map(|b| b.to_string())), &j["broadcast"]);
            use netplumb::addr::AddrFlags as F;
            for (flag, key) in
                [(F::NODAD, "nodad"), (F::NOPREFIXROUTE, "noprefixroute"), (F::SECONDARY, "secondary")]
            {
                d.eq(&w(key), opt(a.flags.contains(flag).then_some(true)), &j[key]);
            }
            d.eq(&w("dynamic"), opt((!a.flags.contains(F::PERMANENT)).then_some(true)), &j["dynamic"]);
            d.close(
                &w("valid_life_time"),
                Some(a.valid_lft.unwrap_or(u32::MAX) as u64),
                &j["valid_life_time"],
            );
            d.close(
                &w("preferred_life_time"),
                Some(a.preferred_lft.unwrap_or(u32::MAX) as u64),
                &j["preferred_life_time"],
            );
        }
    }
    d.eq("address count", json!(addrs.len()), &json!(n));
}

fn dst_text<A: RouteAddr>(r: &Route<A>) -> String
where
    A::Net: std::fmt::Display,
{
    let s = r.dst.to_string();
    let (addr, len) = s.split_once('/').unwrap();
    let max = if addr.contains(':') { "128" } else { "32" };
    if len == "0" {
        "default".into()
    } else if len == max {
        addr.into()
    } else {
        s
    }
}

fn table_name(t: RouteTable) -> String {
    match t.0 {
        253 => "default".into(),
        254 => "main".into(),
        255 => "local".into(),
        n => n.to_string(),
    }
}

fn compare_routes<A: RouteAddr>(d: &mut Diff, routes: &[Route<A>], names: &BTreeMap<u32, String>, ip: &Value)
where
    A::Net: std::fmt::Display,
{
    let name = |i: Option<IfIndex>| opt(i.and_then(|i| names.get(&i.0)).cloned());
    let ip = ip.as_array().unwrap();
    d.eq("route count", json!(routes.len()), &json!(ip.len()));
    for j in ip {
        let table = j["table"].as_str().unwrap_or("main");
        let dst = j["dst"].as_str().unwrap();
        let metric = j["metric"].as_u64();
        let Some(r) = routes.iter().find(|r| {
            dst_text(r) == dst
                && table_name(r.table) == table
                && r.metric.map(u64::from) == metric
                && r.kind.name() == j["type"].as_str().unwrap_or("unicast")
                && (j["dev"].is_null() || name(r.oif) == j["dev"])
        }) else {
            d.mismatches.push(format!("route {dst} table {table} not listed by netplumb: {j}"));
            continue;
        };
        let w = |k: &str| format!("route {dst} table {table} {k}");
        d.eq(&w("gateway"), opt(r.gateway.map(|g| g.ip().to_string())), &j["gateway"]);
        let via = r
            .via
            .map(|v| json!({"family": if v.is_ipv6() { "inet6" } else { "inet" }, "host": v.to_string()}));
        d.eq(&w("via"), opt(via), &j["via"]);
        d.eq(&w("dev"), name(r.oif), &j["dev"]);
        d.eq(&w("protocol"), json!(r.protocol.name()), &j["protocol"]);
        d.eq(&w("scope"), opt(r.scope.map(|s| s.name())), &j["scope"]);
        d.eq(&w("prefsrc"), opt(r.prefsrc.map(|g| g.ip().to_string())), &j["prefsrc"]);
        d.eq(&w("nhid"), opt(r.nh_id), &j["nhid"]);
        let pref = r.pref.map(|p| match p {
            0 => "medium".to_string(),
            1 => "high".into(),
            3 => "low".into(),
            n => n.to_string(),
        });
        d.eq(&w("pref"), opt(pref), &j["pref"]);
        let flow = r.realms.map(|(f, t)| {
            if f == 0 {
                json!({"to": t.to_string()})
            } else {
                json!({"from": f.to_string(), "to": t.to_string()})
            }
        });
        d.eq(&w("flow"), opt(flow), &j["flow"]);
        if !j["expires"].is_null() || r.expires.is_some() {
            d.close(&w("expires"), r.expires.map(|e| e.as_secs()), &j["expires"]);
        }
        let m = &j["metrics"][0];
        d.eq(&w("mtu"), opt(r.mtu), &m["mtu"]);
        d.eq(&w("advmss"), opt(r.advmss), &m["advmss"]);
        d.eq(&w("congctl"), opt(r.congctl.clone()), &m["congestion"]);
        for (metric, scale) in [
            (Metric::Window, 1),
            (Metric::Rtt, 8),
            (Metric::Rttvar, 4),
            (Metric::Ssthresh, 1),
            (Metric::Cwnd, 1),
            (Metric::Reordering, 1),
            (Metric::Hoplimit, 1),
            (Metric::Initcwnd, 1),
            (Metric::RtoMin, 1),
            (Metric::Initrwnd, 1),
            (Metric::Quickack, 1),
            (Metric::FastopenNoCookie, 1),
        ] {
            d.eq(
                &w(&metric.name()),
                opt(r.metric_value(metric).map(|v| v / scale)),
                &m[metric.name().as_str()],
            );
        }
        let hops = j["nexthops"].as_array().cloned().unwrap_or_default();
        d.eq(&w("nexthop count"), json!(r.nexthops.len()), &json!(hops.len()));
        for (i, (h, jh)) in r.nexthops.iter().zip(&hops).enumerate() {
            let w = |k: &str| format!("route {dst} nexthop {i} {k}");
            d.eq(&w("gateway"), opt(h.gateway.map(|g| g.ip().to_string())), &jh["gateway"]);
            let via = h.via.map(
                |v| json!({"family": if v.is_ipv6() { "inet6" } else { "inet" }, "host": v.to_string()}),
            );
            d.eq(&w("via"), opt(via), &jh["via"]);
            d.eq(&w("dev"), name(h.oif), &jh["dev"]);
            d.eq(&w("weight"), json!(h.weight), &jh["weight"]);
        }
    }
}

fn compare_neighbours(d: &mut Diff, ours: &[Neighbour], names: &BTreeMap<u32, String>, ip: &Value) {
    let ip = ip.as_array().unwrap();
    d.eq("neighbour count", json!(ours.len()), &json!(ip.len()));
    for j in ip {
        let dst = j["dst"].as_str().unwrap();
        let Some(n) = ours.iter().find(|n| {
            n.dst.to_string() == dst && names.get(&n.index.0).map(String::as_str) == j["dev"].as_str()
        }) else {
            d.mismatches.push(format!("neighbour {dst} not listed by netplumb"));
            continue;
        };
        let w = |k: &str| format!("neighbour {dst} {k}");
        d.eq(&w("dev"), opt(names.get(&n.index.0).cloned()), &j["dev"]);
        d.eq(&w("lladdr"), opt(n.mac().map(|m| m.to_string())), &j["lladdr"]);
        if n.is_proxy() {
            d.eq(&w("proxy"), json!(true), &json!(j.as_object().unwrap().contains_key("proxy")));
        } else {
            d.eq(&w("state"), json!(n.state.names()), &j["state"]);
            d.eq(&w("router"), json!(n.flags.names().contains(&"router")), &json!(j.get("router").is_some()));
        }
    }
}

fn compare_fdb(d: &mut Diff, ours: &[FdbEntry], names: &BTreeMap<u32, String>, br: &Value) {
    let br = br.as_array().unwrap();
    d.eq("fdb count", json!(ours.len()), &json!(br.len()));
    for j in br {
        let mac = j["mac"].as_str().unwrap();
        let dev = j["ifname"].as_str().unwrap();
        let cands: Vec<&FdbEntry> = ours
            .iter()
            .filter(|e| {
                e.mac.to_string() == mac
                    && names.get(&e.index.0).map(String::as_str) == Some(dev)
                    && e.dst.map(|d| d.to_string()).as_deref() == j["dst"].as_str()
                    && e.vlan.map(u64::from) == j["vlan"].as_u64()
            })
            .collect();
        let Some(e) = cands.first() else {
            d.mismatches.push(format!("fdb {mac} dev {dev} not listed by netplumb: {j}"));
            continue;
        };
        let w = |k: &str| format!("fdb {mac} dev {dev} {k}");
        d.eq(&w("vni"), opt(e.vni), &j["vni"]);
        d.eq(&w("src_vni"), opt(e.src_vni), &j["src_vni"]);
        d.eq(&w("port"), opt(e.port), &j["port"]);
        d.eq(&w("flags"), json!(e.flags.bridge_names()), &j["flags"]);
        d.eq(&w("master"), opt(e.master.and_then(|m| names.get(&m.0)).cloned()), &j["master"]);
        let st = e.state.bridge_name();
        d.eq(&w("state"), if st.is_empty() { Value::Null } else { json!(st) }, &j["state"]);
    }
}

fn compare_rules(d: &mut Diff, ours: &[Rule], ip_text: &str, ip: &Value) {
    let lines: Vec<String> = ours.iter().map(|r| r.to_string()).collect();
    let theirs: Vec<&str> = ip_text.lines().collect();
    d.eq("rule count", json!(lines.len()), &json!(theirs.len()));
    for (o, t) in lines.iter().zip(&theirs) {
        d.eq("rule line", json!(o), &json!(t));
    }
    for (r, j) in ours.iter().zip(ip.as_array().unwrap()) {
        let w = |k: &str| format!("rule {} {k}", r.priority.unwrap_or(0));
        d.eq(&w("priority"), json!(r.priority.unwrap_or(0)), &j["priority"]);
        d.eq(&w("uid_start"), opt(r.uid_range.map(|u| u.0)), &j["uid_start"]);
        d.eq(&w("uid_end"), opt(r.uid_range.map(|u| u.1)), &j["uid_end"]);
        d.eq(&w("suppress_prefixlen"), opt(r.suppress_prefixlen), &j["suppress_prefixlen"]);
        d.eq(&w("suppress_ifgroup"), opt(r.suppress_ifgroup.map(|g| g.to_string())), &j["suppress_ifgroup"]);
        d.eq(&w("goto"), opt(r.goto), &j["goto"]);
        d.eq(&w("l3mdev"), json!(r.l3mdev), &json!(j.as_object().unwrap().contains_key("l3mdev")));
        let act = match r.action {
            RuleAction::ToTable | RuleAction::Goto => Value::Null,
            a => json!(a.name()),
        };
        d.eq(&w("action"), act, &j["action"]);
        let fwmark = r.fwmark.map(|m| format!("{m:#x}"));
        d.eq(&w("fwmark"), opt(fwmark), &j["fwmark"]);
    }
}

fn compare_nexthops(d: &mut Diff, ours: &[Nexthop], names: &BTreeMap<u32, String>, ip: &Value) {
    let ip = ip.as_array().unwrap();
    d.eq("nexthop count", json!(ours.len()), &json!(ip.len()));
    for j in ip {
        let id = j["id"].as_u64().unwrap();
        let Some(n) = ours.iter().find(|n| n.id as u64 == id) else {
            d.mismatches.push(format!("nexthop {id} not listed by netplumb"));
            continue;
        };
        let w = |k: &str| format!("nexthop {id} {k}");
        d.eq(&w("gateway"), opt(n.gateway.map(|g| g.to_string())), &j["gateway"]);
        d.eq(&w("dev"), opt(n.oif.and_then(|o| names.get(&o.0)).cloned()), &j["dev"]);
        d.eq(&w("blackhole"), json!(n.blackhole), &json!(j.get("blackhole").is_some()));
        d.eq(&w("scope"), json!(n.scope.name()), &j["scope"]);
        d.eq(&w("protocol"), json!(n.protocol.name()), &j["protocol"]);
        let group: Vec<Value> = n
            .group
            .iter()
            .map(
                |m| if m.weight == 1 { json!({"id": m.id}) } else { json!({"id": m.id, "weight": m.weight}) },
            )
            .collect();
        d.eq(&w("group"), if group.is_empty() { Value::Null } else { json!(group) }, &j["group"]);
    }
}

/// Dump everything with netplumb and compare it with ip/bridge.
async fn compare_all(d: &mut Diff, ns: &TestNs, rt: &Rtnl) {
    let links = rt.links().list().try_collect().await.unwrap();
    let names: BTreeMap<u32, String> = links.iter().map(|l| (l.index.0, l.name.clone())).collect();
    compare_links(d, &links, &ipj(ns, &["-d", "link", "show"]));
    let start = std::time::Instant::now();
    let addrs = rt.addresses().list().try_collect().await.unwrap();
    let ip_addrs = ipj(ns, &["addr", "show"]);
    d.elapsed = start.elapsed().as_secs();
    compare_addresses(d, &addrs, &names, &ip_addrs);
    let v4 = rt.routes().list::<Ipv4Addr>(&RouteFilter::all()).try_collect().await.unwrap();
    compare_routes(d, &v4, &names, &ipj(ns, &["-4", "-d", "route", "show", "table", "all"]));
    let start = std::time::Instant::now();
    let v6 = rt.routes().list::<Ipv6Addr>(&RouteFilter::all()).try_collect().await.unwrap();
    let ip_v6 = ipj(ns, &["-d", "-6", "route", "show", "table", "all"]);
    d.elapsed = start.elapsed().as_secs();
    compare_routes(d, &v6, &names, &ip_v6);
    // `ip neigh show` hides NOARP entries unless asked for every state.
    // The kernel adds multicast NOARP entries (224.0.0.22, ff02::16) on its
    // own when an interface sends its first IGMP/MLD report, so a listing
    // taken between ours and ip's may differ: compare a pair of listings
    // taken with no change in between (netplumb, ip, netplumb again), waiting
    // a bounded time for the kernel to settle.
    let mut tries = 0;
    let (neigh, ip_neigh) = loop {
        let before = rt.neighbours().list().try_collect().await.unwrap();
        let ip_neigh = ipj(ns, &["neigh", "show", "nud", "all"]);
        let after: Vec<Neighbour> = rt.neighbours().list().try_collect().await.unwrap();
        let key = |v: &[Neighbour]| v.iter().map(|n| (n.dst.to_string(), n.index.0)).collect::<Vec<_>>();
        let stable = key(&before) == key(&after) && ip_neigh.as_array().map(Vec::len) == Some(after.len());
        tries += 1;
        if stable || tries == 25 {
            break (after, ip_neigh);
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    compare_neighbours(d, &neigh, &names, &ip_neigh);
    let proxy = rt.neighbours().list_proxy().try_collect().await.unwrap();
    compare_neighbours(d, &proxy, &names, &ipj(ns, &["neigh", "show", "proxy"]));
    let fdb = rt.fdb().list().try_collect().await.unwrap();
    compare_fdb(d, &fdb, &names, &bridgej(ns, &["fdb", "show"]));
    for v6 in [false, true] {
        let fam = if v6 { "-6" } else { "-4" };
        let rules = rt.rules().list(Some(v6)).try_collect().await.unwrap();
        compare_rules(d, &rules, &ns.ip(&[fam, "rule", "show"]), &ipj(ns, &[fam, "-d", "rule", "show"]));
    }
    let nhs = rt.nexthops().list().try_collect().await.unwrap();
    compare_nexthops(d, &nhs, &names, &ipj(ns, &["-d", "nexthop", "show"]));
}

fn ip_build(ns: &TestNs) {
    let cmds: &[&str] = &[
        "link set lo up",
        "link add d0 type veth peer name d1",
        "link set d0 up",
        "link set d1 up",
        "link property add dev d0 altname d0-alternative-name-for-the-test",
        "link set d1 promisc on allmulticast on",
        "link add br0 type bridge forward_delay 700 priority 100 hello_time 300 max_age 1200 ageing_time 6000",
        "link add p0 type veth peer name p1",
        "link set p0 master br0",
        "link set dev p0 type bridge_slave hairpin on cost 7 learning off",
        "link set br0 up",
        "link add vx0 type vxlan id 42 dstport 4789 local 10.20.0.1 tos 0x10 noudpcsum udp6zerocsumtx udp6zerocsumrx df set srcport 1000 2000 ttl 9 nolearning ageing 200",
        "link add vxe type vxlan external dstport 4790",
        "link set vxe up",
        "link add link d0 name mv0 type macvlan mode private",
        "link add link d0 name mt0 type macvtap mode bridge",
        "addr add 10.20.0.1/24 dev d0",
        "addr add 10.20.0.9/24 dev d0 valid_lft 1000 preferred_lft 500 noprefixroute",
        "addr add 10.21.0.1/24 broadcast 10.21.0.255 dev d0 label d0:x",
        "-6 addr add fd00:20::1/64 dev d0 nodad",
        "route add 10.30.0.0/16 via 10.20.0.2 table 100 metric 5 mtu lock 1400 window 1000 initcwnd 10 rtt 30ms advmss 1300 congctl reno",
        "route add 10.31.0.0/16 via inet6 fd00:20::fa dev d0",
        "route add 10.32.0.0/16 nexthop via inet6 fd00:20::fb dev d0 weight 2 nexthop via 10.20.0.7 dev d0",
        "route add 10.33.0.0/16 via 10.20.0.2 realms 3/4",
        "route add blackhole 10.34.0.0/16",
        "route add unreachable 10.35.0.0/16 table 200",
        "route add prohibit 10.36.0.0/16 metric 7",
        "-6 route add fd00:30::/64 via fd00:20::5 dev d0 expires 300",
        "-6 route add fd00:31::/64 via fd00:20::6 dev d0 pref high metric 20",
        "nexthop add id 1 via 10.20.0.2 dev d0",
        "nexthop add id 2 via 10.20.0.3 dev d0 onlink",
        "nexthop add id 3 blackhole",
        "nexthop add id 4 via fd00:20::9 dev d0",
        "nexthop add id 10 group 1,2/2,4",
        "route add 10.37.0.0/16 nhid 10",
        "neigh add 10.20.0.50 lladdr 02:00:00:00:00:50 dev d0",
        "neigh add 10.20.0.51 lladdr 02:00:00:00:00:51 dev d0 nud stale",
        "-6 neigh add fd00:20::50 lladdr 02:00:00:00:00:52 dev d0 router",
        "neigh add proxy 10.20.0.60 dev d0",
        "-6 neigh add proxy fd00:20::60 dev d0",
        "rule add priority 10 uidrange 1000-2000 ipproto tcp sport 1000-2000 dport 80 suppress_ifgroup 5 suppress_prefixlength 8 realms 3/4 lookup 100",
        "rule add priority 11 l3mdev",
        "rule add priority 12 goto 32766",
        "rule add priority 13 blackhole",
        "rule add priority 14 not from 10.0.0.0/8 to 10.1.0.0/16 fwmark 0x10/0xff iif d0 oif d1 table 200",
        "-6 rule add priority 15 from fd00::/16 tos 0x10 prohibit",
    ];
    for c in cmds {
        ns.ip(&c.split(' ').collect::<Vec<_>>());
    }
    for c in [
        "fdb add 02:00:00:00:00:09 dev vxe dst 10.20.0.9 src_vni 900 vni 900 self permanent",
        "fdb append 00:00:00:00:00:00 dev vx0 dst 10.20.0.10 self permanent",
        "fdb append 00:00:00:00:00:00 dev vx0 dst 10.20.0.11 port 4800 vni 43 self permanent",
        "fdb add 02:00:00:00:00:0a dev p0 master static",
    ] {
        ns.exec("bridge", &c.split(' ').collect::<Vec<_>>());
    }
}

async fn netplumb_build(ns: &TestNs, rt: &Rtnl) {
    let links = rt.links();
    links.set("lo", &LinkChange::new().up()).await.unwrap();
    links.add(&NewLink::new("d0", Veth::new(VethPeer::new("d1"))).up()).await.unwrap();
    links.set("d1", &LinkChange::new().up().promisc(true).allmulticast(true)).await.unwrap();
    links.add_altname("d0", "d0-alternative-name-for-the-test").await.unwrap();
    let d0 = links.get("d0").await.unwrap().index;
    let d1 = links.get("d1").await.unwrap().index;
    links
        .add(&NewLink::new(
            "br0",
            Bridge::new()
                .forward_delay(Duration::from_secs(7))
                .priority(100)
                .hello_time(Duration::from_secs(3))
                .max_age(Duration::from_secs(12))
                .ageing_time(Duration::from_secs(60)),
        ))
        .await
        .unwrap();
    let br0 = links.get("br0").await.unwrap().index;
    links.add(&NewLink::new("p0", Veth::new(VethPeer::new("p1"))).master(br0)).await.unwrap();
    links
        .set("p0", &LinkChange::new().bridge_port(BridgePort::new().hairpin(true).cost(7).learning(false)))
        .await
        .unwrap();
    links.set("br0", &LinkChange::new().up()).await.unwrap();
    links
        .add(&NewLink::new(
            "vx0",
            Vxlan::new(42)
                .port(4789)
                .local("10.20.0.1".parse().unwrap())
                .tos(0x10)
                .udp_csum(false)
                .udp6_zero_csum_tx(true)
                .udp6_zero_csum_rx(true)
                .df(VxlanDf::Set)
                .port_range(1000, 2000)
                .ttl(9)
                .learning(false)
                .ageing(200),
        ))
        .await
        .unwrap();
    links.add(&NewLink::new("vxe", Vxlan::new(0).external().port(4790)).up()).await.unwrap();
    links.add(&NewLink::new("mv0", Macvlan::new(d0, MacvlanMode::Private))).await.unwrap();
    links.add(&NewLink::new("mt0", Macvlan::new(d0, MacvlanMode::Bridge).tap())).await.unwrap();
    let ad = rt.addresses();
    ad.add(&Address::new(d0, "10.20.0.1/24".parse().unwrap())).await.unwrap();
    ad.add(&Address::new(d0, "fd00:20::1/64".parse().unwrap()).nodad()).await.unwrap();
    let r = rt.routes();
    let gw = |s: &str| s.parse::<Ipv4Addr>().unwrap();
    r.add(
        &Route::new("10.30.0.0/16".parse().unwrap())
            .gateway(gw("10.20.0.2"))
            .table(RouteTable(100))
            .metric(5)
            .mtu(1400)
            .with_metric(Metric::Lock, 1 << 2)
            .with_metric(Metric::Window, 1000)
            .with_metric(Metric::Initcwnd, 10)
            .with_metric(Metric::Rtt, 240)
            .advmss(1300)
            .congctl("reno"),
    )
    .await
    .unwrap();
    r.add(
        &Route::<Ipv4Addr>::new("10.31.0.0/16".parse().unwrap()).via("fd00:20::fa".parse().unwrap()).oif(d0),
    )
    .await
    .unwrap();
    r.add(
        &Route::<Ipv4Addr>::new("10.32.0.0/16".parse().unwrap())
            .nexthop(NextHop::via("fd00:20::fb".parse().unwrap(), d0).weight(2))
            .nexthop(NextHop::new(Some(gw("10.20.0.7")), Some(d0))),
    )
    .await
    .unwrap();
    r.add(&Route::new("10.33.0.0/16".parse().unwrap()).gateway(gw("10.20.0.2")).realms(3, 4)).await.unwrap();
    r.add(&Route::<Ipv4Addr>::new("10.34.0.0/16".parse().unwrap()).kind(RouteType::Blackhole)).await.unwrap();
    r.add(
        &Route::<Ipv4Addr>::new("10.35.0.0/16".parse().unwrap())
            .kind(RouteType::Unreachable)
            .table(RouteTable(200)),
    )
    .await
    .unwrap();
    r.add(
        &Route::<Ipv6Addr>::new("fd00:30::/64".parse().unwrap())
            .gateway("fd00:20::5".parse().unwrap())
            .oif(d0)
            .expires(Duration::from_secs(300)),
    )
    .await
    .unwrap();
    let nh = rt.nexthops();
    nh.add(&Nexthop::via(1, IpAddr::V4(gw("10.20.0.2")), d0)).await.unwrap();
    nh.add(&Nexthop::via(2, IpAddr::V4(gw("10.20.0.3")), d0).onlink()).await.unwrap();
    nh.add(&Nexthop::blackhole(3)).await.unwrap();
    nh.add(&Nexthop::group(10, &[(1, 2), (2, 4)])).await.unwrap();
    r.add(&Route::<Ipv4Addr>::new("10.37.0.0/16".parse().unwrap()).nh_id(10)).await.unwrap();
    let n = rt.neighbours();
    n.add(&Neighbour::new(d0, "10.20.0.50".parse().unwrap(), "02:00:00:00:00:50".parse().unwrap()))
        .await
        .unwrap();
    n.add(
        &Neighbour::new(d0, "10.20.0.51".parse().unwrap(), "02:00:00:00:00:51".parse().unwrap())
            .state(NeighState::STALE),
    )
    .await
    .unwrap();
    n.add(&Neighbour::proxy(d0, "10.20.0.60".parse().unwrap())).await.unwrap();
    let ru = rt.rules();
    ru.add(
        &Rule::v4()
            .priority(10)
            .uid_range(1000, 2000)
            .ip_proto(6)
            .sport(1000, 2000)
            .dport(80, 80)
            .suppress_ifgroup(5)
            .suppress_prefixlen(8)
            .realms(3, 4)
            .table(RouteTable(100)),
    )
    .await
    .unwrap();
    ru.add(&Rule::v4().priority(11).l3mdev()).await.unwrap();
    ru.add(&Rule::v4().priority(12).goto(32766)).await.unwrap();
    ru.add(&Rule::v4().priority(13).action(RuleAction::Blackhole)).await.unwrap();
    ru.add(
        &Rule::v4()
            .priority(14)
            .invert()
            .from("10.0.0.0/8".parse().unwrap())
            .to("10.1.0.0/16".parse().unwrap())
            .fwmark(0x10, 0xff)
            .iif("d0")
            .oif("d1")
            .table(RouteTable(200)),
    )
    .await
    .unwrap();
    ru.add(
        &Rule::v6().priority(15).from("fd00::/16".parse().unwrap()).tos(0x10).action(RuleAction::Prohibit),
    )
    .await
    .unwrap();
    let vxe = links.get("vxe").await.unwrap().index;
    let vx0 = links.get("vx0").await.unwrap().index;
    let p0 = links.get("p0").await.unwrap().index;
    let fdb = rt.fdb();
    fdb.add(
        &FdbEntry::new(vxe, "02:00:00:00:00:09".parse().unwrap())
            .dst("10.20.0.9".parse().unwrap())
            .vni(900)
            .src_vni(900),
    )
    .await
    .unwrap();
    fdb.append(&FdbEntry::new(vx0, netplumb::MacAddr::ZERO).dst("10.20.0.10".parse().unwrap()))
        .await
        .unwrap();
    fdb.append(
        &FdbEntry::new(vx0, netplumb::MacAddr::ZERO).dst("10.20.0.11".parse().unwrap()).port(4800).vni(43),
    )
    .await
    .unwrap();
    fdb.add(&FdbEntry::new(p0, "02:00:00:00:00:0a".parse().unwrap()).master().static_entry()).await.unwrap();
    let _ = (ns, d1);
}

#[tokio::test]
async fn netplumb_decodes_what_ip_shows_and_ip_shows_what_netplumb_builds() {
    let mut report = Vec::new();
    let mut total = Diff::default();
    // ip builds, netplumb decodes.
    {
        let ns = TestNs::new("ipdiff").await;
        ip_build(&ns);
        let rt = common::rtnl(&ns).await;
        let mut d = Diff::default();
        compare_all(&mut d, &ns, &rt).await;
        report.push(format!("ip -> netplumb: {} fields, {} mismatches", d.compared, d.mismatches.len()));
        total.compared += d.compared;
        total.mismatches.extend(d.mismatches);
    }
    // netplumb builds, ip shows.
    {
        let ns = TestNs::new("npdiff").await;
        let rt = common::rtnl(&ns).await;
        netplumb_build(&ns, &rt).await;
        let mut d = Diff::default();
        compare_all(&mut d, &ns, &rt).await;
        // What was intended is what ip shows.
        let v = ipj(&ns, &["-d", "link", "show", "vx0"]);
        let x = &v[0]["linkinfo"]["info_data"];
        d.eq("intended vx0 tos", json!("0x10"), &x["tos"]);
        d.eq("intended vx0 df", json!("set"), &x["df"]);
        d.eq("intended vx0 port_range", json!({"low": 1000, "high": 2000}), &x["port_range"]);
        let r = ipj(&ns, &["-d", "route", "show", "10.31.0.0/16"]);
        d.eq("intended via", json!({"family": "inet6", "host": "fd00:20::fa"}), &r[0]["via"]);
        let rl = ipj(&ns, &["rule", "show", "pref", "13"]);
        d.eq("intended blackhole rule without table", Value::Null, &rl[0]["table"]);
        report.push(format!("netplumb -> ip: {} fields, {} mismatches", d.compared, d.mismatches.len()));
        total.compared += d.compared;
        total.mismatches.extend(d.mismatches);
    }
    // conntrack: flows of several protocols and zones inserted by
    // conntrack-tools, listed by netplumb, compared with `conntrack -L`
    // (whole-table and `-w N`) token by token.
    {
        use netplumb::conntrack::{Conntrack, Filter};
        let ns = TestNs::new("ctdiff").await;
        for args in [
            "-p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1000 --dport 80 --state ESTABLISHED -u SEEN_REPLY,ASSURED -m 7",
            "-p udp -s 10.0.0.1 -d 10.0.0.3 --sport 53 --dport 53 --zone 5",
            "-p udp -s 10.0.0.1 -d 10.0.0.3 --sport 54 --dport 53 --orig-zone 5",
            "-p udp -s 10.0.0.1 -d 10.0.0.3 --sport 55 --dport 53 --reply-zone 5",
            "-p icmp -s 10.0.0.1 -d 10.0.0.2 --icmp-type 8 --icmp-code 0 --icmp-id 77",
            "-p udp -s fd00::1 -d fd00::2 --sport 5 --dport 6 -m 4",
            "-p sctp -s 10.0.0.5 -d 10.0.0.6 --sport 7 --dport 8 --state ESTABLISHED --orig-vtag 1 --reply-vtag 2",
        ] {
            let mut a = vec!["-I", "-t", "600"];
            a.extend(args.split(' '));
            ns.exec("conntrack", &a);
        }
        let ct = Conntrack::new_in(ns.netns()).await.unwrap();
        let mut d = Diff::default();
        // Timeouts count down between the two listings; the use count is
        // the kernel's reference count at dump time.
        let norm = |l: &str| -> Vec<String> {
            l.split_whitespace()
                .enumerate()
                .filter(|(i, w)| *i != 2 && !w.starts_with("use="))
                .map(|(_, w)| w.to_string())
                .collect()
        };
        for (label, filter, args) in [
            ("all", Filter::new(), vec!["-L"]),
            ("zone 0", Filter::new().zone(0), vec!["-L", "-w", "0"]),
            ("zone 5", Filter::new().zone(5), vec!["-L", "-w", "5"]),
        ] {
            let mut ours: Vec<Vec<String>> = ct
                .list(&filter)
                .try_collect()
                .await
                .unwrap()
                .iter()
                .map(|f| norm(&f.to_conntrack_line()))
                .collect();
            let mut theirs: Vec<Vec<String>> = ns.exec("conntrack", &args).lines().map(norm).collect();
            ours.sort();
            theirs.sort();
            d.eq(&format!("conntrack {label} count"), json!(ours.len()), &json!(theirs.len()));
            for (o, t) in ours.iter().zip(&theirs) {
                for (i, (a, b)) in o.iter().zip(t).enumerate() {
                    d.eq(&format!("conntrack {label} {} token {i}", t.join(" ")), json!(a), &json!(b));
                }
                d.eq(&format!("conntrack {label} tokens"), json!(o.len()), &json!(t.len()));
            }
        }
        report.push(format!("conntrack -L: {} fields, {} mismatches", d.compared, d.mismatches.len()));
        total.compared += d.compared;
        total.mismatches.extend(d.mismatches);
    }
    println!("ip_differential: {} fields compared, {} mismatches", total.compared, total.mismatches.len());
    for r in &report {
        println!("  {r}");
    }
    for m in &total.mismatches {
        println!("  MISMATCH {m}");
    }
    assert!(total.compared > 500, "only {} fields compared", total.compared);
    assert!(
        total.mismatches.is_empty(),
        "{} mismatches:\n{}",
        total.mismatches.len(),
        total.mismatches.join("\n")
    );
}
