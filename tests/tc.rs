//! Traffic control against the real kernel, each test in a fresh
//! namespace, checked both ways against `tc -j -s`: what netplumb creates,
//! `tc` reads as the intended object (the same JSON as `tc` gives for the
//! object `tc` itself created), and what `tc` creates, netplumb decodes as
//! it decodes its own.

mod common;

use std::time::Duration;

use common::rtnl;
use netplumb::conn::Event;
use netplumb::link::{Ifb, LinkKind, NewLink};
use netplumb::rtnl::Change;
use netplumb::tc::{
    eth_p, Action, ActionKind, Class, ClassKind, Filter, FilterKind, Htb, HtbClass, Mirred, MirredKind,
    Qdisc, QdiscKind, Rate, Tbf, TcEvent, TcHandle, Verdict, U32,
};
use netplumb::testing::TestNs;
use netplumb::{IfIndex, Rtnl};
use serde_json::Value;

/// `tc -j ARGS...` inside the namespace, parsed.
fn tcj(ns: &TestNs, args: &[&str]) -> Value {
    let mut full = vec!["-j"];
    full.extend_from_slice(args);
    let out = ns.exec("tc", &full);
    serde_json::from_str(if out.trim().is_empty() { "[]" } else { &out })
        .unwrap_or_else(|e| panic!("tc -j {args:?}: {e}: {out}"))
}

fn tc(ns: &TestNs, args: &[&str]) {
    ns.exec("tc", args);
}

/// fq_codel as `tc ... fq_codel limit 10240 flows 1024 target 5ms
/// interval 100ms ecn` makes it.
fn fq_codel_as_tc_args() -> netplumb::tc::FqCodel {
    netplumb::tc::FqCodel {
        limit: Some(10240),
        flows: Some(1024),
        target: Some(5000),
        interval: Some(100_000),
        ecn: Some(1),
        ..netplumb::tc::FqCodel::default()
    }
}

/// Two veth pairs, `a0`/`a1` and `b0`/`b1`, up: `a0` is configured by
/// netplumb, `b0` by `tc`.
async fn two_pairs(ns: &TestNs) -> (Rtnl, IfIndex, IfIndex) {
    for (x, y) in [("a0", "a1"), ("b0", "b1")] {
        ns.ip(&["link", "add", x, "type", "veth", "peer", "name", y]);
        ns.ip(&["link", "set", x, "up"]);
        ns.ip(&["link", "set", y, "up"]);
    }
    let rt = rtnl(ns).await;
    let a = rt.links().get("a0").await.unwrap().index;
    let b = rt.links().get("b0").await.unwrap().index;
    (rt, a, b)
}

/// Remove what depends on time and stray traffic rather than on the
/// configuration: counters, timestamps, global action indexes.
fn without_counters(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for k in
                ["index", "installed", "last_used", "first_used", "expires", "direct_packets_stat", "stats"]
            {
                m.remove(k);
            }
            m.values_mut().for_each(without_counters);
        }
        Value::Array(a) => a.iter_mut().for_each(without_counters),
        _ => {}
    }
}

/// The JSON of `tc -j qdisc show dev DEV` without counters (the two
/// devices see different stray packets).
fn qdisc_json(ns: &TestNs, dev: &str) -> Value {
    let mut v = tcj(ns, &["qdisc", "show", "dev", dev]);
    without_counters(&mut v);
    v
}

/// `tc -j filter show dev DEV parent P` with the device names replaced
/// and without counters and timestamps.
fn filter_json(ns: &TestNs, dev: &str, parent: &str, rename: &[(&str, &str)]) -> Value {
    let mut v = tcj(ns, &["filter", "show", "dev", dev, "parent", parent]);
    without_counters(&mut v);
    fn walk(v: &mut Value, rename: &[(&str, &str)]) {
        match v {
            Value::Object(m) => {
                for (_, x) in m.iter_mut() {
                    walk(x, rename);
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, rename)),
            Value::String(s) => {
                if let Some((_, to)) = rename.iter().find(|(from, _)| s == from) {
                    *s = to.to_string();
                }
            }
            _ => {}
        }
    }
    walk(&mut v, rename);
    v
}

/// What netplumb decodes, without what differs between two devices.
fn same_device<T: Clone>(mut q: T, f: impl FnOnce(&mut T)) -> T {
    f(&mut q);
    q
}

#[tokio::test]
async fn tbf_both_ways() {
    let ns = TestNs::new("tctbf").await;
    let (rt, a, b) = two_pairs(&ns).await;
    let qd = rt.tc().qdiscs();
    // tc qdisc add dev a0 root handle 1: tbf rate 10mbit burst 32kb latency 25ms
    let tbf = Tbf::with_latency(Rate::mbit(10), 32 * 1024, Duration::from_millis(25));
    qd.add(&Qdisc::root(a, TcHandle::new(1, 0), tbf.clone())).await.unwrap();
    tc(
        &ns,
        &[
            "qdisc", "add", "dev", "b0", "root", "handle", "1:", "tbf", "rate", "10mbit", "burst", "32kb",
            "latency", "25ms",
        ],
    );

    // tc reads netplumb's qdisc as it reads its own.
    let ja = qdisc_json(&ns, "a0");
    assert_eq!(ja, qdisc_json(&ns, "b0"));
    assert_eq!(ja[0]["kind"], "tbf");
    assert_eq!(ja[0]["options"]["rate"], 1_250_000);
    assert_eq!(ja[0]["options"]["lat"], 25_000);

    // netplumb decodes tc's qdisc as its own.
    let qa = qd.get(a, TcHandle::ROOT).await.unwrap();
    let qb = qd.get(b, TcHandle::ROOT).await.unwrap();
    assert_eq!(qb.ifindex, b);
    let strip = |q: &netplumb::tc::Qdisc| {
        same_device(q.clone(), |q| {
            q.ifindex = b;
            q.kernel = Default::default();
        })
    };
    assert_eq!(strip(&qa), strip(&qb));
    let QdiscKind::Tbf(t) = &qb.kind else { panic!("{qb:?}") };
    assert_eq!(t.rate(), Rate::mbit(10));
    assert_eq!(t.limit, tbf.limit);
    // The kernel keeps the bucket from TCA_TBF_BURST in ns and reports it
    // back in ticks: 32 KiB at 1.25 MB/s = 26.2144 ms = 409,600 ticks;
    // tc's (and netplumb's) request carried 26,214 us = 409,593 ticks.
    assert_eq!((tbf.buffer, t.buffer), (409_593, 409_600));
    assert_eq!(t.burst_bytes(), ja[0]["options"]["burst"].as_u64().unwrap());
    assert_eq!(qa.handle, TcHandle::new(1, 0));
    assert_eq!(qa.parent, TcHandle::ROOT);

    // list (stream) finds it among the device's qdiscs; and per device.
    let all = qd.list(None).try_collect().await.unwrap();
    assert!(all.iter().any(|q| q.ifindex == a && q.kind.name() == "tbf"), "{all:?}");
    let only_a = qd.list(Some(a)).try_collect().await.unwrap();
    assert!(only_a.iter().all(|q| q.ifindex == a) && only_a.len() == 1, "{only_a:?}");

    // change: a new rate, seen by tc.
    let tbf2 = Tbf::with_latency(Rate::mbit(20), 64 * 1024, Duration::from_millis(50));
    qd.change(&Qdisc::root(a, TcHandle::new(1, 0), tbf2)).await.unwrap();
    assert_eq!(qdisc_json(&ns, "a0")[0]["options"]["rate"], 2_500_000);
    // add again is EEXIST, replace is fine.
    let again = qd.add(&Qdisc::root(a, TcHandle::new(1, 0), tbf.clone())).await.unwrap_err();
    assert!(again.is_exists(), "{again}");
    qd.replace(&Qdisc::root(a, TcHandle::new(1, 0), tbf)).await.unwrap();
    assert_eq!(qdisc_json(&ns, "a0"), qdisc_json(&ns, "b0"));

    // delete: back to the default (noqueue on a veth).
    qd.delete(&qa).await.unwrap();
    let after = qdisc_json(&ns, "a0");
    assert_eq!(after[0]["kind"], "noqueue", "{after}");
    let q = qd.get(a, TcHandle::ROOT).await.unwrap();
    assert_eq!(q.kind.name(), "noqueue");
}

#[tokio::test]
async fn htb_and_classes_both_ways() {
    let ns = TestNs::new("tchtb").await;
    let (rt, a, b) = two_pairs(&ns).await;
    let t = rt.tc();
    // tc qdisc add dev a0 root handle 1: htb default 10
    t.qdiscs().add(&Qdisc::root(a, TcHandle::new(1, 0), Htb::new(0x10))).await.unwrap();
    // tc class add dev a0 parent 1: classid 1:10 htb rate 5mbit ceil 8mbit prio 1
    let class = Class::new(
        a,
        TcHandle::new(1, 0),
        TcHandle::new(1, 0x10),
        HtbClass::new(Rate::mbit(5), Some(Rate::mbit(8))).prio(1),
    );
    t.classes().add(&class).await.unwrap();
    // tc class add dev a0 parent 1: classid 1:20 htb rate 1mbit burst 15k
    let class2 = Class::new(
        a,
        TcHandle::new(1, 0),
        TcHandle::new(1, 0x20),
        HtbClass::new(Rate::mbit(1), None).burst(15 * 1024),
    );
    t.classes().add(&class2).await.unwrap();
    tc(&ns, &["qdisc", "add", "dev", "b0", "root", "handle", "1:", "htb", "default", "10"]);
    tc(
        &ns,
        &[
            "class", "add", "dev", "b0", "parent", "1:", "classid", "1:10", "htb", "rate", "5mbit", "ceil",
            "8mbit", "prio", "1",
        ],
    );
    tc(
        &ns,
        &[
            "class", "add", "dev", "b0", "parent", "1:", "classid", "1:20", "htb", "rate", "1mbit", "burst",
            "15k",
        ],
    );

    assert_eq!(qdisc_json(&ns, "a0"), qdisc_json(&ns, "b0"));
    // tc 6.1 prints HTB classes as text only, even with -j.
    let ca = ns.exec("tc", &["class", "show", "dev", "a0"]);
    assert_eq!(ca, ns.exec("tc", &["class", "show", "dev", "b0"]));
    assert_eq!(ca.lines().count(), 2, "{ca}");
    assert!(ca.contains("class htb 1:10 root prio 1 rate 5Mbit ceil 8Mbit burst 1600b cburst 1600b"), "{ca}");

    let la = t.classes().list(a).try_collect().await.unwrap();
    let lb = t.classes().list(b).try_collect().await.unwrap();
    assert_eq!(la.len(), 2);
    let strip = |mut c: Class| {
        c.ifindex = IfIndex(0);
        c.kernel = Default::default();
        c
    };
    assert_eq!(la.into_iter().map(strip).collect::<Vec<_>>(), lb.into_iter().map(strip).collect::<Vec<_>>());
    let c10 = t
        .classes()
        .list(b)
        .try_collect()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.handle == TcHandle::new(1, 0x10))
        .unwrap();
    let ClassKind::Htb(h) = &c10.kind else { panic!("{c10:?}") };
    assert_eq!((h.rate(), h.ceil(), h.prio), (Rate::mbit(5).0, Rate::mbit(8).0, 1));
    let HtbClass { buffer, cbuffer, .. } = match &class.kind {
        ClassKind::Htb(h) => h.clone(),
        _ => unreachable!(),
    };
    assert_eq!((h.buffer, h.cbuffer), (buffer, cbuffer), "bursts computed as tc computes them");
    assert!(c10.stats().is_some());

    // delete a class.
    t.classes().delete(&class2).await.unwrap();
    assert_eq!(ns.exec("tc", &["class", "show", "dev", "a0"]).lines().count(), 1);
}

/// The reference CNI bandwidth plugin's egress shaping: ingress qdisc,
/// u32 match-all redirect to an ifb, on `b0` by `tc` and on `a0` by
/// netplumb.
#[tokio::test]
async fn ingress_u32_mirred_to_ifb_both_ways() {
    let ns = TestNs::new("tcu32").await;
    let (rt, a, b) = two_pairs(&ns).await;
    for n in ["ifa", "ifbb"] {
        rt.links().add(&NewLink::new(n, Ifb).up()).await.unwrap();
    }
    let ifa = rt.links().get("ifa").await.unwrap();
    assert!(matches!(ifa.kind, Some(LinkKind::Ifb(_))), "{ifa:?}");
    let dj = common::ipj(&ns, &["-d", "link", "show", "ifa"]);
    assert_eq!(dj[0]["linkinfo"]["info_kind"], "ifb");

    let t = rt.tc();
    t.qdiscs().add(&Qdisc::ingress(a)).await.unwrap();
    let u = U32::match_all().flowid(TcHandle::new(1, 1)).action(Mirred::redirect(ifa.index));
    t.filters().add(&Filter::new(a, TcHandle::INGRESS_QDISC, 1, eth_p::ALL, u)).await.unwrap();
    tc(&ns, &["qdisc", "add", "dev", "b0", "ingress"]);
    tc(
        &ns,
        &[
            "filter", "add", "dev", "b0", "parent", "ffff:", "protocol", "all", "prio", "1", "u32", "match",
            "u32", "0", "0", "flowid", "1:1", "action", "mirred", "egress", "redirect", "dev", "ifbb",
        ],
    );

    assert_eq!(qdisc_json(&ns, "a0"), qdisc_json(&ns, "b0"));
    let fa = filter_json(&ns, "a0", "ffff:", &[("ifa", "IFB")]);
    let fb = filter_json(&ns, "b0", "ffff:", &[("ifbb", "IFB")]);
    assert_eq!(fa, fb);
    assert_eq!(fa[2]["options"]["fh"], "800::800", "{fa}");
    assert_eq!(fa[2]["options"]["actions"][0]["to_dev"], "IFB");

    // netplumb decodes both the same: the prio head, the 800: table, the filter.
    let la = t.filters().list(a, TcHandle::INGRESS_QDISC).try_collect().await.unwrap();
    let lb = t.filters().list(b, TcHandle::INGRESS_QDISC).try_collect().await.unwrap();
    assert_eq!(la.len(), 3, "{la:?}");
    let ifbb = rt.links().get("ifbb").await.unwrap().index;
    let norm = |mut f: Filter| {
        f.ifindex = IfIndex(0);
        if let FilterKind::U32(u) = &mut f.kind {
            // The hit counters are live: packets the kernel sends on its own
            // (IPv6 MLD/ND on a new link) reach one device and not the other.
            u.pcnt = None;
            for act in &mut u.actions {
                act.stats = None;
                act.index = None;
                act.kernel.clear();
                if let ActionKind::Mirred(m) = &mut act.kind {
                    m.gen.index = 0;
                    m.other.clear();
                    assert!(m.ifindex == ifa.index.0 || m.ifindex == ifbb.0);
                    m.ifindex = 0;
                }
            }
        }
        f.kernel = Default::default();
        f
    };
    assert_eq!(
        la.clone().into_iter().map(norm).collect::<Vec<_>>(),
        lb.into_iter().map(norm).collect::<Vec<_>>()
    );
    let node = &la[2];
    assert_eq!(netplumb::tc::u32_handle_string(node.handle), "800::800");
    assert_eq!((node.priority, node.protocol), (1, eth_p::ALL));
    let FilterKind::U32(u) = &node.kind else { panic!("{node:?}") };
    assert_eq!(u.classid, Some(TcHandle::new(1, 1)));
    let ActionKind::Mirred(m) = &u.actions[0].kind else { panic!("{u:?}") };
    assert_eq!(
        (m.eaction, m.ifindex, Verdict(m.gen.action)),
        (MirredKind::EGRESS_REDIRECT, ifa.index.0, Verdict::STOLEN)
    );
    let FilterKind::U32(ht) = &la[1].kind else { panic!() };
    assert_eq!((ht.divisor, netplumb::tc::u32_handle_string(la[1].handle).as_str()), (Some(1), "800:"));

    // get one filter, then delete it; then delete the whole prio.
    let got = t.filters().get(node).await.unwrap();
    assert_eq!(got.handle, node.handle);
    // The kernel removes the classifier instance with its last filter.
    t.filters().delete(node).await.unwrap();
    assert!(t.filters().list(a, TcHandle::INGRESS_QDISC).try_collect().await.unwrap().is_empty());
    let f2 =
        Filter::new(a, TcHandle::INGRESS_QDISC, 2, eth_p::IP, U32::match_all().flowid(TcHandle::new(1, 2)));
    t.filters().add(&f2).await.unwrap();
    t.filters().add(&f2).await.unwrap();
    assert_eq!(t.filters().list(a, TcHandle::INGRESS_QDISC).try_collect().await.unwrap().len(), 4);
    // Handle 0 deletes the whole priority.
    t.filters().delete(&Filter::new(a, TcHandle::INGRESS_QDISC, 2, eth_p::IP, U32::new())).await.unwrap();
    assert!(t.filters().list(a, TcHandle::INGRESS_QDISC).try_collect().await.unwrap().is_empty());
    // Deleting it again: the kernel's error, naming the refused request.
    let gone = t.filters().delete(node).await.unwrap_err();
    assert!(gone.kernel().is_some() && gone.to_string().contains("RTM_DELTFILTER"), "{gone}");
    t.qdiscs().delete(&Qdisc::ingress(a)).await.unwrap();
    assert!(t
        .qdiscs()
        .list(Some(a))
        .try_collect()
        .await
        .unwrap()
        .iter()
        .all(|q| q.kind != QdiscKind::Ingress));
}

/// clsact with u32 header matches (IPv4 destination, protocol, a 16-bit
/// port word) and an ingress mirror, both ways.
#[tokio::test]
async fn clsact_u32_header_matches_both_ways() {
    let ns = TestNs::new("tccls").await;
    let (rt, a, b) = two_pairs(&ns).await;
    let t = rt.tc();
    t.qdiscs().add(&Qdisc::clsact(a)).await.unwrap();
    tc(&ns, &["qdisc", "add", "dev", "b0", "clsact"]);
    let a1 = rt.links().get("a1").await.unwrap().index;
    let u = U32::new()
        .match_ip_dst("10.1.2.0/24".parse().unwrap())
        .unwrap()
        .match_ip_protocol(6)
        .unwrap()
        .match_u16(8080, 0xffff, 22)
        .unwrap()
        .action(Mirred::new(MirredKind::INGRESS_MIRROR, a1, Verdict::PIPE));
    t.filters().add(&Filter::new(a, TcHandle::CLSACT_EGRESS, 10, eth_p::IP, u)).await.unwrap();
    tc(
        &ns,
        &[
            "filter",
            "add",
            "dev",
            "b0",
            "egress",
            "protocol",
            "ip",
            "prio",
            "10",
            "u32",
            "match",
            "ip",
            "dst",
            "10.1.2.0/24",
            "match",
            "ip",
            "protocol",
            "6",
            "0xff",
            "match",
            "u16",
            "8080",
            "0xffff",
            "at",
            "22",
            "action",
            "mirred",
            "ingress",
            "mirror",
            "dev",
            "b1",
        ],
    );
    assert_eq!(qdisc_json(&ns, "a0"), qdisc_json(&ns, "b0"));
    let fa = filter_json(&ns, "a0", "ffff:fff3", &[("a1", "PEER")]);
    let fb = filter_json(&ns, "b0", "ffff:fff3", &[("b1", "PEER")]);
    assert_eq!(fa, fb);
    let lb = t.filters().list(b, TcHandle::CLSACT_EGRESS).try_collect().await.unwrap();
    let FilterKind::U32(u) = &lb[2].kind else { panic!("{lb:?}") };
    let keys = &u.sel.as_ref().unwrap().keys;
    // tc packed protocol (offset 8) and the port word (offset 20) as we do.
    let la = t.filters().list(a, TcHandle::CLSACT_EGRESS).try_collect().await.unwrap();
    let FilterKind::U32(ua) = &la[2].kind else { panic!() };
    assert_eq!(&ua.sel.as_ref().unwrap().keys, keys);
    assert_eq!(keys.len(), 3, "{keys:?}");
}

/// The counters netplumb reads are those `tc -s` prints, read while they
/// do not move (packets the kernel sends on its own, IPv6 MLD/RS on a new
/// link, may arrive between two reads, the more so on a slow machine).
#[tokio::test]
async fn statistics_match_tc_s() {
    let ns = TestNs::new("tcstat").await;
    let (rt, a, _b) = two_pairs(&ns).await;
    rt.tc()
        .qdiscs()
        .add(&Qdisc::root(a, TcHandle::new(1, 0), Tbf::new(Rate::kbit(100), 1600, 3000)))
        .await
        .unwrap();
    // a1 in the same namespace would answer locally: a static neighbour
    // that nothing answers, so the packets leave a0 and are counted.
    traffic_out_of(&ns, "a0", 0);
    let t = &rt.tc();
    stats_agree(
        "tbf",
        || async move { *t.qdiscs().get(a, TcHandle::ROOT).await.unwrap().stats().expect("stats") },
        || tcj(&ns, &["-s", "qdisc", "show", "dev", "a0"]),
        |s, j| {
            assert!(s.packets > 0, "{s:?}");
            assert_stats("tbf", s, &j[0]);
        },
    )
    .await;
}

/// Kinds netplumb does not model come back byte for byte.
#[tokio::test]
async fn unknown_kind_is_opaque_and_re_encodes() {
    let ns = TestNs::new("tcopq").await;
    let (rt, a, _b) = two_pairs(&ns).await;
    tc(&ns, &["qdisc", "add", "dev", "a0", "root", "handle", "5:", "bfifo", "limit", "12345"]);
    let q = rt.tc().qdiscs().get(a, TcHandle::ROOT).await.unwrap();
    let QdiscKind::Other { kind, options } = &q.kind else { panic!("{q:?}") };
    assert_eq!(kind, "bfifo");
    assert_eq!(options.as_deref(), Some(&12345u32.to_ne_bytes()[..]));
    let before = qdisc_json(&ns, "a0");
    rt.tc().qdiscs().delete(&q).await.unwrap();
    let mut again = q.clone();
    again.kernel = Default::default();
    again.info = 0;
    rt.tc().qdiscs().add(&again).await.unwrap();
    let q2 = rt.tc().qdiscs().get(a, TcHandle::ROOT).await.unwrap();
    assert_eq!(q2.kind, q.kind);
    assert_eq!(qdisc_json(&ns, "a0")[0]["options"], before[0]["options"]);
}

#[tokio::test]
async fn events_report_qdisc_and_filter_changes() {
    let ns = TestNs::new("tcevt").await;
    let (rt, a, _b) = two_pairs(&ns).await;
    let mut ev = rt.tc().events().await.unwrap();
    rt.tc().qdiscs().add(&Qdisc::ingress(a)).await.unwrap();
    rt.tc()
        .filters()
        .add(&Filter::new(
            a,
            TcHandle::INGRESS_QDISC,
            3,
            eth_p::IP,
            U32::match_all().flowid(TcHandle::new(1, 1)),
        ))
        .await
        .unwrap();
    rt.tc().qdiscs().delete(&Qdisc::ingress(a)).await.unwrap();
    let (mut new_q, mut new_f, mut del_q) = (false, false, false);
    for _ in 0..20 {
        let Ok(Ok(Some(e))) = tokio::time::timeout(Duration::from_secs(2), ev.try_next()).await else {
            break;
        };
        match e {
            Event::Message(TcEvent::Qdisc(Change::New(q))) if q.kind == QdiscKind::Ingress => new_q = true,
            Event::Message(TcEvent::Filter(Change::New(f))) if f.priority == 3 => new_f = true,
            Event::Message(TcEvent::Qdisc(Change::Deleted(q))) if q.kind == QdiscKind::Ingress => {
                del_q = true
            }
            _ => {}
        }
        if new_q && new_f && del_q {
            break;
        }
    }
    assert!(new_q && new_f && del_q, "{new_q} {new_f} {del_q}");
}

#[tokio::test]
async fn bad_input_is_refused_before_the_kernel() {
    let ns = TestNs::new("tcbad").await;
    let (rt, a, _b) = two_pairs(&ns).await;
    let t = rt.tc();
    let e = t
        .qdiscs()
        .add(&Qdisc::root(a, TcHandle::new(1, 0), Tbf::new(Rate(0), 1000, 1000)))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("tbf.rate"), "{e}");
    let e = t.qdiscs().add(&Qdisc::root(a, TcHandle::new(1, 5), Htb::new(1))).await.unwrap_err();
    assert!(e.to_string().contains("qdisc.handle"), "{e}");
    let e = t
        .classes()
        .add(&Class::new(a, TcHandle::new(1, 0), TcHandle::new(2, 1), HtbClass::new(Rate::mbit(1), None)))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("class.parent"), "{e}");
    let e = U32::new().match_u32(1, 0xff, 3).unwrap_err();
    assert!(e.to_string().contains("u32.match"), "{e}");
    let e = t
        .filters()
        .add(&Filter::new(
            a,
            TcHandle::INGRESS_QDISC,
            1,
            eth_p::ALL,
            U32::match_all().action(Action::from(Mirred::redirect(IfIndex(0)))),
        ))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("mirred.ifindex"), "{e}");
    // Nothing reached the kernel.
    assert!(tcj(&ns, &["qdisc", "show", "dev", "a0"])[0]["kind"] == "noqueue");
}

/// Every message the kernel sends for the objects above (and encodings of
/// the kinds this kernel lacks: fq_codel, netem, prio, matchall, flower,
/// gact, police) round-trips through netplumb's decoders and request
/// encoders (the fuzz target's property). With `NETPLUMB_WRITE_TC_SEEDS=1`
/// they are saved as the fuzz target's seeds.
#[tokio::test]
async fn kernel_replies_and_codec_only_kinds_round_trip() {
    use netplumb::tc::{Gact, MatchAll, Netem, Police, Prio};
    let ns = TestNs::new("tcseed").await;
    let (rt, a, b) = two_pairs(&ns).await;
    rt.links().add(&NewLink::new("ifs", Ifb).up()).await.unwrap();
    let ifs = rt.links().get("ifs").await.unwrap().index;
    let t = rt.tc();
    t.qdiscs().add(&Qdisc::root(a, TcHandle::new(1, 0), Htb::new(0x10))).await.unwrap();
    t.classes()
        .add(&Class::new(a, TcHandle::new(1, 0), TcHandle::new(1, 0x10), HtbClass::new(Rate::gbit(50), None)))
        .await
        .unwrap();
    t.qdiscs()
        .add(&Qdisc::new(
            a,
            TcHandle::new(1, 0x10),
            TcHandle::new(2, 0),
            Tbf::with_latency(Rate::gbit(40), 1 << 20, Duration::from_millis(5)),
        ))
        .await
        .unwrap();
    t.qdiscs().add(&Qdisc::ingress(a)).await.unwrap();
    t.filters()
        .add(&Filter::new(
            a,
            TcHandle::INGRESS_QDISC,
            1,
            eth_p::ALL,
            U32::match_all().flowid(TcHandle::new(1, 1)).action(Mirred::redirect(ifs)),
        ))
        .await
        .unwrap();
    tc(&ns, &["qdisc", "add", "dev", "b0", "clsact"]);
    tc(
        &ns,
        &[
            "filter",
            "add",
            "dev",
            "b0",
            "ingress",
            "protocol",
            "ip",
            "prio",
            "4",
            "u32",
            "match",
            "ip",
            "src",
            "10.0.0.0/8",
            "action",
            "mirred",
            "egress",
            "mirror",
            "dev",
            "ifs",
        ],
    );
    tc(&ns, &["qdisc", "add", "dev", "ifs", "root", "bfifo", "limit", "5000"]);

    let conn = ns.route().await;
    let mut payloads: Vec<(String, Vec<u8>)> = Vec::new();
    let dump = |ty: u16, ifindex: i32, parent: u32| {
        let req = netplumb::conn::Request::new(ty, 0, |w| {
            let mut h = [0u8; 20];
            h[4..8].copy_from_slice(&ifindex.to_ne_bytes());
            h[12..16].copy_from_slice(&parent.to_ne_bytes());
            w.raw(&h);
        });
        conn.dump(&req, |m| Ok(Some(m.payload.to_vec())))
    };
    for p in dump(38, 0, 0).try_collect().await.unwrap() {
        payloads.push(("qdisc".into(), p));
    }
    for p in dump(42, a.0 as i32, 0).try_collect().await.unwrap() {
        payloads.push(("class".into(), p));
    }
    for (dev, parent) in [(a, TcHandle::INGRESS_QDISC), (b, TcHandle::CLSACT_INGRESS)] {
        for p in dump(46, dev.0 as i32, parent.0).try_collect().await.unwrap() {
            payloads.push(("filter".into(), p));
        }
    }
    assert!(payloads.len() >= 10, "{}", payloads.len());
    for (what, p) in &payloads {
        assert!(netplumb::fuzzing::tc(p), "kernel {what} reply does not decode: {p:02x?}");
    }

    // Kinds this kernel lacks: encoded as tc would send them, decoded back.
    let enc = |f: &dyn Fn(&mut netplumb::wire::AttrWriter<'_>)| {
        let mut v = Vec::new();
        f(&mut netplumb::wire::AttrWriter::new(&mut v));
        v
    };
    let fq = fq_codel_as_tc_args();
    let synth = vec![
        ("fq_codel", enc(&|w| Qdisc::root(a, TcHandle::new(3, 0), fq.clone()).write(w))),
        (
            "netem",
            enc(&|w| {
                Qdisc::root(a, TcHandle::new(3, 0), Netem::delay(Duration::from_millis(10)).loss(1.0))
                    .write(w)
            }),
        ),
        ("prio", enc(&|w| Qdisc::root(a, TcHandle::new(3, 0), Prio::default()).write(w))),
        (
            "matchall",
            enc(&|w| {
                Filter::new(
                    a,
                    TcHandle::CLSACT_INGRESS,
                    1,
                    eth_p::ALL,
                    MatchAll::new(Gact::new(Verdict::SHOT)),
                )
                .write(w)
            }),
        ),
        (
            "police",
            enc(&|w| {
                Filter::new(
                    a,
                    TcHandle::CLSACT_EGRESS,
                    1,
                    eth_p::ALL,
                    MatchAll::new(Police::new(Rate::mbit(1), 10 * 1024, Verdict::SHOT)),
                )
                .write(w)
            }),
        ),
        (
            "flower",
            enc(&|w| {
                let fl = netplumb::tc::Flower {
                    eth_type: Some(eth_p::IP),
                    ip_proto: Some(6),
                    ipv4_dst: Some(("10.1.0.0".parse().unwrap(), "255.255.0.0".parse().unwrap())),
                    tcp_dst: Some(80),
                    actions: vec![Mirred::redirect(ifs).into()],
                    ..Default::default()
                };
                Filter::new(a, TcHandle::CLSACT_EGRESS, 2, eth_p::IP, fl).write(w)
            }),
        ),
    ];
    for (what, p) in &synth {
        assert!(netplumb::fuzzing::tc(p), "{what} does not round-trip");
    }
    let q = netplumb::tc::Qdisc::parse_payload(&synth[0].1).unwrap();
    assert_eq!(q.kind, QdiscKind::FqCodel(fq));
    let f = Filter::parse_payload(&synth[4].1).unwrap();
    let FilterKind::MatchAll(m) = &f.kind else { panic!("{f:?}") };
    let ActionKind::Police(p) = &m.actions[0].kind else { panic!("{m:?}") };
    assert_eq!(
        (p.rate.rate, p.burst, p.action),
        (125_000, netplumb::tc::rate::xmit_ticks(125_000, 10240), 2)
    );

    if std::env::var_os("NETPLUMB_WRITE_TC_SEEDS").is_some() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/tc");
        std::fs::create_dir_all(&dir).unwrap();
        for (i, (what, p)) in payloads.iter().enumerate() {
            std::fs::write(dir.join(format!("kernel-{what}-{i}")), p).unwrap();
        }
        for (what, p) in &synth {
            std::fs::write(dir.join(format!("encoded-{what}")), p).unwrap();
        }
    }
}

#[tokio::test]
async fn chains_both_ways() {
    let ns = TestNs::new("tcchain").await;
    let (rt, a, b) = two_pairs(&ns).await;
    let f = rt.tc().filters();
    rt.tc().qdiscs().add(&Qdisc::clsact(a)).await.unwrap();
    tc(&ns, &["qdisc", "add", "dev", "b0", "clsact"]);
    f.add_chain(a, TcHandle::CLSACT_INGRESS, 7).await.unwrap();
    tc(&ns, &["chain", "add", "dev", "b0", "ingress", "chain", "7"]);
    assert_eq!(
        tcj(&ns, &["chain", "show", "dev", "a0", "ingress"]),
        tcj(&ns, &["chain", "show", "dev", "b0", "ingress"])
    );
    assert_eq!(f.chains(b, TcHandle::CLSACT_INGRESS).try_collect().await.unwrap(), vec![7]);
    // A filter in chain 7, seen by tc in that chain.
    f.add(
        &Filter::new(a, TcHandle::CLSACT_INGRESS, 1, eth_p::IP, U32::match_all().flowid(TcHandle::new(1, 1)))
            .chain(7),
    )
    .await
    .unwrap();
    let j = tcj(&ns, &["filter", "show", "dev", "a0", "ingress", "chain", "7"]);
    assert_eq!(j.as_array().unwrap().len(), 3, "{j}");
    assert_eq!(j[2]["options"]["flowid"], "1:1");
    let mine = f.list(a, TcHandle::CLSACT_INGRESS).try_collect().await.unwrap();
    assert!(mine.len() == 3 && mine.iter().all(|x| x.chain == Some(7)), "{mine:?}");
    f.delete_chain(a, TcHandle::CLSACT_INGRESS, 7).await.unwrap();
    assert!(f.chains(a, TcHandle::CLSACT_INGRESS).try_collect().await.unwrap().is_empty());
}

/// What a kind needs: the module that provides it and how `tc` names it.
struct ModuleCase {
    /// `qdisc fq_codel`, `filter matchall`, `action gact` ...
    what: &'static str,
    /// The kernel module (`sch_fq_codel` ...).
    module: &'static str,
    /// The `tc` arguments after `dev DEV` that make the same object.
    tc_args: &'static [&'static str],
    /// netplumb's object on the device (the device to mirror to).
    make: fn(IfIndex, IfIndex) -> Made,
}

enum Made {
    Qdisc(Qdisc),
    Filter(Filter),
}

/// The actions of a filter of any modelled classifier.
fn actions_of(k: &mut FilterKind) -> Option<&mut Vec<Action>> {
    match k {
        FilterKind::U32(u) => Some(&mut u.actions),
        FilterKind::MatchAll(m) => Some(&mut m.actions),
        FilterKind::Flower(f) => Some(&mut f.actions),
        _ => None,
    }
}

/// A filter as the kernel reports it, without what differs between two
/// devices or two moments: device, counters, hit counts, the global action
/// index and the actions' timestamps (`TCA_{GACT,MIRRED}_TM` = 1,
/// `TCA_POLICE_TM` = 7, and their padding).
fn filter_config(mut f: Filter) -> Filter {
    f.ifindex = IfIndex(0);
    f.kernel = Default::default();
    match &mut f.kind {
        FilterKind::U32(u) => u.pcnt = None,
        FilterKind::MatchAll(m) => m.pcnt = None,
        _ => {}
    }
    for act in actions_of(&mut f.kind).into_iter().flatten() {
        act.stats = None;
        act.index = None;
        act.kernel.clear();
        match &mut act.kind {
            ActionKind::Gact(g) => {
                g.gen.index = 0;
                g.other.retain(|a| !matches!(a.kind, 1 | 4));
            }
            ActionKind::Mirred(m) => {
                m.gen.index = 0;
                m.other.retain(|a| !matches!(a.kind, 1 | 4));
            }
            ActionKind::Police(p) => {
                p.index = 0;
                p.other.retain(|a| !matches!(a.kind, 6 | 7));
            }
            _ => {}
        }
    }
    f
}

/// Send a few bounded pings out of `dev` (addressed `addr`/24, with a
/// static neighbour so that every packet leaves at once).
fn traffic_out_of(ns: &TestNs, dev: &str, net: u8) {
    ns.ip(&["addr", "add", &format!("10.9.{net}.1/24"), "dev", dev]);
    let peer = format!("10.9.{net}.2");
    ns.ip(&["neigh", "replace", &peer, "lladdr", "02:00:00:00:09:02", "dev", dev]);
    let _ = ns.try_exec("ping", &["-c", "5", "-i", "0.01", "-W", "1", "-s", "500", &peer]);
}

/// The statistics netplumb reads are those `tc -s` prints, read while they
/// do not move (a delayed or retransmitted packet may change them between
/// two reads; bounded: 50 tries, 100 ms apart).
async fn stats_agree<T: PartialEq, F: std::future::Future<Output = T>>(
    what: &str,
    read: impl Fn() -> F,
    tc_s: impl Fn() -> Value,
    check: impl Fn(&T, &Value),
) {
    for _ in 0..50 {
        let before = read().await;
        let j = tc_s();
        if read().await == before {
            check(&before, &j);
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: statistics kept moving for 5 s");
}

fn assert_stats(what: &str, s: &netplumb::tc::Stats, j: &Value) {
    for (k, v) in [
        ("bytes", s.bytes),
        ("packets", s.packets),
        ("drops", s.drops as u64),
        ("overlimits", s.overlimits as u64),
        ("requeues", s.requeues as u64),
        ("backlog", s.backlog as u64),
        ("qlen", s.qlen as u64),
    ] {
        assert_eq!(j[k].as_u64(), Some(v), "{what} {k}: {j}");
    }
}

/// The qdiscs, classifiers and actions some kernels build as modules and
/// this development kernel (6.18) lacks: fq_codel, netem, prio, matchall,
/// flower, gact and police. Each is made on `a0` by netplumb and on `b0` by
/// `tc` with the same settings: `tc -j` prints both the same, netplumb
/// decodes both the same, packets sent through them are counted, and the
/// counters netplumb reads are those `tc -j -s` prints. Each case needs one
/// module only (the actions ride on `u32`, the classifiers carry `mirred`,
/// both built in where tc is). Where the kernel lacks the module, the test
/// checks that the kernel said so (`ENOENT`), that `tc` gets the same
/// answer, and prints which kinds it could not test; with
/// `NETPLUMB_REQUIRE_KINDS=1` (set by the Linux 6.1 run of CI,
/// `.ci/kernel-6.1.sh`, whose kernel has them all as modules) a missing one
/// fails the test.
#[tokio::test]
async fn kinds_this_kernel_may_lack() {
    use netplumb::tc::{Gact, MatchAll, Netem, Police, Prio};
    let require = std::env::var("NETPLUMB_REQUIRE_KINDS").is_ok_and(|v| v == "1");
    let cases = [
        ModuleCase {
            what: "qdisc fq_codel",
            module: "sch_fq_codel",
            tc_args: &[
                "root", "handle", "1:", "fq_codel", "limit", "10240", "flows", "1024", "target", "5ms",
                "interval", "100ms", "ecn",
            ],
            make: |a, _| Made::Qdisc(Qdisc::root(a, TcHandle::new(1, 0), fq_codel_as_tc_args())),
        },
        ModuleCase {
            what: "qdisc netem",
            module: "sch_netem",
            tc_args: &["root", "handle", "1:", "netem", "delay", "10ms", "loss", "1%"],
            make: |a, _| {
                let n = Netem::delay(Duration::from_millis(10)).loss(1.0);
                Made::Qdisc(Qdisc::root(a, TcHandle::new(1, 0), n))
            },
        },
        ModuleCase {
            what: "qdisc prio",
            module: "sch_prio",
            tc_args: &["root", "handle", "1:", "prio", "bands", "4", "priomap", "0", "1", "2", "3"],
            make: |a, _| {
                let mut p = Prio { bands: 4, ..Prio::default() };
                p.priomap[..4].copy_from_slice(&[0, 1, 2, 3]);
                Made::Qdisc(Qdisc::root(a, TcHandle::new(1, 0), p))
            },
        },
        ModuleCase {
            what: "filter matchall",
            module: "cls_matchall",
            tc_args: &[
                "egress", "protocol", "all", "prio", "1", "matchall", "action", "mirred", "egress", "mirror",
                "dev", "m0",
            ],
            make: |a, ifs| {
                let m = MatchAll::new(Mirred::mirror(ifs));
                Made::Filter(Filter::new(a, TcHandle::CLSACT_EGRESS, 1, eth_p::ALL, m))
            },
        },
        ModuleCase {
            what: "filter flower",
            module: "cls_flower",
            tc_args: &[
                "egress",
                "protocol",
                "ip",
                "prio",
                "1",
                "flower",
                "ip_proto",
                "icmp",
                "dst_ip",
                "10.9.0.0/16",
                "action",
                "mirred",
                "egress",
                "mirror",
                "dev",
                "m0",
            ],
            make: |a, ifs| {
                let fl = netplumb::tc::Flower {
                    eth_type: Some(eth_p::IP),
                    ip_proto: Some(1),
                    ipv4_dst: Some(("10.9.0.0".parse().unwrap(), "255.255.0.0".parse().unwrap())),
                    actions: vec![Mirred::mirror(ifs).into()],
                    ..Default::default()
                };
                Made::Filter(Filter::new(a, TcHandle::CLSACT_EGRESS, 1, eth_p::IP, fl))
            },
        },
        ModuleCase {
            what: "action gact",
            module: "act_gact",
            tc_args: &[
                "egress", "protocol", "ip", "prio", "1", "u32", "match", "u32", "0", "0", "action", "drop",
            ],
            make: |a, _| {
                let u = U32::match_all().action(Gact::new(Verdict::SHOT));
                Made::Filter(Filter::new(a, TcHandle::CLSACT_EGRESS, 1, eth_p::IP, u))
            },
        },
        ModuleCase {
            what: "action police",
            module: "act_police",
            tc_args: &[
                "egress",
                "protocol",
                "ip",
                "prio",
                "1",
                "u32",
                "match",
                "u32",
                "0",
                "0",
                "action",
                "police",
                "rate",
                "8kbit",
                "burst",
                "1600",
                "conform-exceed",
                "drop",
            ],
            make: |a, _| {
                let u = U32::match_all().action(Police::new(Rate::kbit(8), 1600, Verdict::SHOT));
                Made::Filter(Filter::new(a, TcHandle::CLSACT_EGRESS, 1, eth_p::IP, u))
            },
        },
    ];
    let mut missing = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let ns = TestNs::new(&format!("tcmod{i}")).await;
        let (rt, a, b) = two_pairs(&ns).await;
        // Mirrored packets leave by m0 and die at m1 (not addressed to it).
        ns.ip(&["link", "add", "m0", "type", "veth", "peer", "name", "m1"]);
        ns.ip(&["link", "set", "m0", "up"]);
        ns.ip(&["link", "set", "m1", "up"]);
        let m0 = rt.links().get("m0").await.unwrap().index;
        let made = (case.make)(a, m0);
        if matches!(made, Made::Filter(_)) {
            rt.tc().qdiscs().add(&Qdisc::clsact(a)).await.unwrap();
            tc(&ns, &["qdisc", "add", "dev", "b0", "clsact"]);
        }
        let added = match &made {
            Made::Qdisc(q) => rt.tc().qdiscs().add(q).await,
            Made::Filter(f) => rt.tc().filters().add(f).await,
        };
        let cmd = match &made {
            Made::Qdisc(_) => "qdisc",
            Made::Filter(_) => "filter",
        };
        let mut tc_args = vec![cmd, "add", "dev", "b0"];
        tc_args.extend_from_slice(case.tc_args);
        if let Err(e) = added {
            println!(
                "{}: not in this kernel (module {}: {e}); not tested against the kernel",
                case.what, case.module
            );
            let k = e.kernel().unwrap_or_else(|| panic!("{}: not a kernel error: {e}", case.what));
            assert_eq!(k.errno, netplumb::Errno::ENOENT, "{}: unexpected error {e}", case.what);
            // The error names the request the kernel refused.
            let request = match &made {
                Made::Qdisc(_) => "RTM_NEWQDISC",
                Made::Filter(_) => "RTM_NEWTFILTER",
            };
            assert!(e.to_string().contains(request), "{}: {e} does not name {request}", case.what);
            let (ok, _, err) = ns.try_exec("tc", &tc_args);
            assert!(!ok, "{}: tc made what netplumb could not", case.what);
            println!("{}: tc gets the same answer: {}", case.what, err.trim());
            missing.push(case.module);
            continue;
        }
        println!("{}: available in this kernel, checked against the kernel and tc", case.what);
        tc(&ns, &tc_args);
        traffic_out_of(&ns, "a0", 0);
        traffic_out_of(&ns, "b0", 1);
        let t = &rt.tc();
        match made {
            Made::Qdisc(_) => {
                // tc reads netplumb's qdisc as its own.
                let ja = qdisc_json(&ns, "a0");
                assert_eq!(ja, qdisc_json(&ns, "b0"), "{}", case.what);
                // netplumb decodes tc's qdisc as its own.
                let qa = t.qdiscs().get(a, TcHandle::ROOT).await.unwrap();
                let qb = t.qdiscs().get(b, TcHandle::ROOT).await.unwrap();
                let strip = |q: &Qdisc| {
                    same_device(q.clone(), |q| {
                        q.ifindex = b;
                        q.kernel = Default::default();
                    })
                };
                assert_eq!(strip(&qa), strip(&qb), "{}", case.what);
                assert_eq!(qa.kind.name(), ja[0]["kind"].as_str().unwrap());
                match &qb.kind {
                    QdiscKind::FqCodel(f) => {
                        assert_eq!((f.limit, f.flows, f.ecn), (Some(10240), Some(1024), Some(1)), "{f:?}");
                        // 5 ms and 100 ms, kept in 1024 ns units by the kernel.
                        assert_eq!((f.target, f.interval), (Some(4999), Some(99999)), "{f:?}");
                    }
                    QdiscKind::Netem(n) => {
                        assert_eq!((n.loss, n.limit), (42_949_673, 1000), "{n:?}");
                        assert_eq!(n.latency64, Some(10_000_000), "{n:?}");
                    }
                    QdiscKind::Prio(p) => assert_eq!((p.bands, &p.priomap[..5]), (4, &[0, 1, 2, 3, 1][..])),
                    k => panic!("{}: decoded as {k:?}", case.what),
                }
                // Counters, both devices.
                for (dev, name) in [(a, "a0"), (b, "b0")] {
                    stats_agree(
                        case.what,
                        || async move { *t.qdiscs().get(dev, TcHandle::ROOT).await.unwrap().stats().unwrap() },
                        || tcj(&ns, &["-s", "qdisc", "show", "dev", name, "root"]),
                        |s, j| {
                            // netem's 1% loss drops at enqueue, counted as drops.
                            assert!(s.packets + s.drops as u64 >= 5, "{}: {s:?}", case.what);
                            assert_stats(case.what, s, &j[0]);
                        },
                    )
                    .await;
                }
            }
            Made::Filter(_) => {
                let fa = filter_json(&ns, "a0", "ffff:fff3", &[]);
                assert_eq!(fa, filter_json(&ns, "b0", "ffff:fff3", &[]), "{}", case.what);
                let la = t.filters().list(a, TcHandle::CLSACT_EGRESS).try_collect().await.unwrap();
                let lb = t.filters().list(b, TcHandle::CLSACT_EGRESS).try_collect().await.unwrap();
                assert!(!la.is_empty());
                let kind = case.what.split(' ').nth(1).unwrap();
                let names = |l: &[Filter]| l.iter().map(|f| f.kind.name().to_string()).collect::<Vec<_>>();
                assert!(
                    names(&la).iter().any(|n| n == kind)
                        || la.iter().any(|f| {
                            let mut k = f.kind.clone();
                            actions_of(&mut k).is_some_and(|x| x.iter().any(|x| x.kind.name() == kind))
                        }),
                    "{}: {la:?}",
                    case.what
                );
                assert_eq!(
                    la.into_iter().map(filter_config).collect::<Vec<_>>(),
                    lb.into_iter().map(filter_config).collect::<Vec<_>>(),
                    "{}",
                    case.what
                );
                // The actions' counters, both devices: netplumb's against tc -s.
                for (dev, name) in [(a, "a0"), (b, "b0")] {
                    stats_agree(
                        case.what,
                        || async move {
                            let l =
                                t.filters().list(dev, TcHandle::CLSACT_EGRESS).try_collect().await.unwrap();
                            l.into_iter()
                                .map(|mut f| {
                                    actions_of(&mut f.kind)
                                        .map(|x| x.iter().map(|x| x.stats).collect::<Vec<_>>())
                                        .unwrap_or_default()
                                })
                                .collect::<Vec<_>>()
                        },
                        || tcj(&ns, &["-s", "filter", "show", "dev", name, "egress"]),
                        |l, j| {
                            let j = j.as_array().unwrap();
                            assert_eq!(l.len(), j.len(), "{}: {j:?}", case.what);
                            let mut counted = 0;
                            for (stats, jf) in l.iter().zip(j) {
                                for (k, s) in stats.iter().enumerate() {
                                    let s = s.as_ref().expect("action statistics");
                                    let js = &jf["options"]["actions"][k]["stats"];
                                    for (key, v) in [
                                        ("bytes", s.bytes),
                                        ("packets", s.packets),
                                        ("drops", s.drops as u64),
                                        ("overlimits", s.overlimits as u64),
                                    ] {
                                        assert_eq!(js[key].as_u64(), Some(v), "{} {key}: {js}", case.what);
                                    }
                                    counted += s.packets;
                                }
                            }
                            assert!(counted >= 5, "{}: {l:?}", case.what);
                        },
                    )
                    .await;
                }
            }
        }
    }
    if !missing.is_empty() {
        println!("NOT TESTED against this kernel (modules missing): {missing:?}");
    }
    assert!(!require || missing.is_empty(), "NETPLUMB_REQUIRE_KINDS=1 but this kernel lacks {missing:?}");
}
