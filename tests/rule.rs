//! Policy rules against the real kernel, checked with `ip -j rule`.

mod common;

use common::{ipj, rtnl};
use netplumb::route::RouteTable;
use netplumb::rule::{Rule, RuleAction, RuleFilter, RuleFlags};
use netplumb::testing::TestNs;

#[tokio::test]
async fn rules_add_list_delete_and_ip_agrees() {
    let ns = TestNs::new("rule").await;
    let rt = rtnl(&ns).await;
    let rules = rt.rules();
    let r1 = Rule::v4().priority(1000).fwmark(0x10, 0xff).table(RouteTable(100));
    let r2 = Rule::v4()
        .priority(1001)
        .from("10.1.0.0/16".parse().unwrap())
        .to("10.2.0.0/16".parse().unwrap())
        .iif("lo")
        .table(RouteTable(2000));
    let r3 = Rule::v4().priority(1002).oif("eth9").action(RuleAction::Blackhole).invert();
    let r4 = Rule::v6().priority(1003).from("fd00::/64".parse().unwrap()).table(RouteTable(100));
    for r in [&r1, &r2, &r3, &r4] {
        rules.add(r).await.unwrap_or_else(|e| panic!("{r:?}: {e}"));
    }
    assert!(rules.add(&r1).await.unwrap_err().is_exists());

    let got = rules.list(None).try_collect().await.unwrap();
    let find = |p: u32, v6: bool| {
        got.iter().find(|r| r.priority == Some(p) && r.v6 == v6).unwrap_or_else(|| panic!("{p} in {got:?}"))
    };
    let g1 = find(1000, false);
    assert_eq!((g1.fwmark, g1.fwmask, g1.table), (Some(0x10), Some(0xff), RouteTable(100)));
    let g2 = find(1001, false);
    assert_eq!((g2.src, g2.dst, g2.iif.as_deref(), g2.table), (r2.src, r2.dst, Some("lo"), RouteTable(2000)));
    let g3 = find(1002, false);
    assert_eq!((g3.action, g3.oif.as_deref()), (RuleAction::Blackhole, Some("eth9")));
    assert!(g3.flags.contains(RuleFlags::INVERT | RuleFlags::OIF_DETACHED), "{:?}", g3.flags);
    assert_eq!(find(1003, true).src, r4.src);
    // The default rules are there too: 0 local, 32766 main, 32767 default.
    assert!(got.iter().any(|r| r.priority == Some(32766) && r.table == RouteTable::MAIN && !r.v6));
    assert!(got.iter().any(|r| r.priority.is_none() || r.priority == Some(0)));

    let v = ipj(&ns, &["rule", "show"]);
    let ipr = v.as_array().unwrap();
    assert_eq!(ipr.len(), rules.list(Some(false)).try_collect().await.unwrap().len());
    let p = |n: u64| ipr.iter().find(|r| r["priority"] == n).unwrap().clone();
    assert_eq!(p(1000)["fwmark"], "0x10");
    assert_eq!(p(1000)["fwmask"], "0xff");
    assert_eq!(p(1000)["table"], "100");
    assert_eq!(
        (
            p(1001)["src"].as_str(),
            p(1001)["srclen"].as_u64(),
            p(1001)["dst"].as_str(),
            p(1001)["iif"].as_str()
        ),
        (Some("10.1.0.0"), Some(16), Some("10.2.0.0"), Some("lo"))
    );
    assert_eq!(p(1002)["action"], "blackhole");
    assert!(p(1002).as_object().unwrap().contains_key("not"));
    let v6 = ipj(&ns, &["-6", "rule", "show"]);
    assert!(v6.as_array().unwrap().iter().any(|r| r["priority"] == 1003 && r["src"] == "fd00::"));

    // What ip adds, netplumb decodes.
    ns.ip(&[
        "rule",
        "add",
        "priority",
        "1500",
        "from",
        "192.168.0.0/24",
        "fwmark",
        "0x4/0x4",
        "lookup",
        "300",
    ]);
    let g = rules.list(Some(false)).try_collect().await.unwrap();
    let g = g.iter().find(|r| r.priority == Some(1500)).unwrap();
    assert_eq!(
        (g.src.map(|s| s.to_string()), g.fwmark, g.fwmask, g.table),
        (Some("192.168.0.0/24".into()), Some(4), Some(4), RouteTable(300))
    );

    rules.delete(&r1).await.unwrap();
    assert!(rules.delete(&r1).await.unwrap_err().is_not_found());
    assert!(ipj(&ns, &["rule", "show"]).as_array().unwrap().iter().all(|r| r["priority"] != 1000));
    // Bad input.
    let e = rules.add(&Rule::v4().from("fd00::/8".parse().unwrap())).await.unwrap_err();
    assert!(e.to_string().starts_with("invalid from: "), "{e}");
    let e = rules.add(&Rule::v4().iif("a/b")).await.unwrap_err();
    assert!(e.to_string().starts_with("invalid iif: "), "{e}");
}

/// Every selector `ip rule` shows: what ip adds netplumb decodes, what
/// netplumb adds ip shows, and `Display` prints what `ip rule show` prints.
#[tokio::test]
async fn every_selector_both_ways() {
    let ns = TestNs::new("rulesel").await;
    let rt = rtnl(&ns).await;
    let rules = rt.rules();
    // What ip adds.
    ns.ip(&[
        "rule",
        "add",
        "priority",
        "10",
        "uidrange",
        "1000-2000",
        "ipproto",
        "tcp",
        "sport",
        "1000-2000",
        "dport",
        "80",
        "suppress_ifgroup",
        "5",
        "suppress_prefixlength",
        "8",
        "realms",
        "3/4",
        "lookup",
        "100",
    ]);
    ns.ip(&["rule", "add", "priority", "11", "l3mdev"]);
    ns.ip(&["rule", "add", "priority", "12", "goto", "32766"]);
    ns.ip(&["rule", "add", "priority", "13", "blackhole"]);
    let got = rules.list(Some(false)).try_collect().await.unwrap();
    let find =
        |p: u32| got.iter().find(|r| r.priority == Some(p)).unwrap_or_else(|| panic!("{p} in {got:?}"));
    let r10 = find(10);
    assert_eq!(r10.uid_range, Some((1000, 2000)));
    assert_eq!(r10.ip_proto, Some(6));
    assert_eq!((r10.sport, r10.dport), (Some((1000, 2000)), Some((80, 80))));
    assert_eq!((r10.suppress_ifgroup, r10.suppress_prefixlen), (Some(5), Some(8)));
    assert_eq!((r10.realms, r10.table), (Some((3, 4)), RouteTable(100)));
    assert!(find(11).l3mdev);
    assert_eq!((find(12).action, find(12).goto), (RuleAction::Goto, Some(32766)));
    assert_eq!((find(13).action, find(13).table), (RuleAction::Blackhole, RouteTable::UNSPEC));
    // Unset suppress_prefixlength (the kernel sends 0xffffffff) is None.
    assert!(got.iter().filter(|r| r.priority != Some(10)).all(|r| r.suppress_prefixlen.is_none()), "{got:?}");
    // Display is `ip rule show`, line by line.
    let text = ns.ip(&["rule", "show"]);
    let ours: Vec<String> = got.iter().map(|r| r.to_string()).collect();
    let theirs: Vec<&str> = text.lines().collect();
    assert_eq!(ours, theirs);

    // What netplumb adds (on fresh priorities), ip shows.
    let mine = [
        Rule::v4()
            .priority(20)
            .uid_range(5, 6)
            .ip_proto(17)
            .sport(53, 53)
            .dport(1000, 1100)
            .suppress_prefixlen(0)
            .suppress_ifgroup(7)
            .realms(0, 9)
            .table(RouteTable(300)),
        Rule::v4().priority(21).l3mdev(),
        Rule::v4().priority(22).goto(32766),
        Rule::v4().priority(23).action(RuleAction::Blackhole),
        Rule::v4().priority(24).action(RuleAction::Unreachable),
    ];
    for r in &mine {
        rules.add(r).await.unwrap_or_else(|e| panic!("{r:?}: {e}"));
    }
    let v = ipj(&ns, &["-d", "rule", "show"]);
    let ipr = v.as_array().unwrap();
    let p = |n: u64| ipr.iter().find(|r| r["priority"] == n).unwrap().clone();
    let r20 = p(20);
    assert_eq!((r20["uid_start"].as_u64(), r20["uid_end"].as_u64()), (Some(5), Some(6)));
    assert_eq!(r20["ipproto"], "udp");
    assert_eq!(r20["sport"], 53);
    assert_eq!((r20["dport_start"].as_u64(), r20["dport_end"].as_u64()), (Some(1000), Some(1100)));
    assert_eq!(r20["suppress_prefixlen"], 0);
    assert_eq!(r20["suppress_ifgroup"], "7");
    assert_eq!(r20["flow_to"], "9");
    assert!(r20.get("flow_from").is_none());
    assert_eq!(r20["table"], "300");
    assert!(p(21).as_object().unwrap().contains_key("l3mdev"));
    assert_eq!(p(22)["goto"], 32766);
    // A blackhole rule has no table, as ip's own.
    assert_eq!(p(23)["action"], "blackhole");
    assert!(p(23).get("table").is_none(), "{}", p(23));
    assert_eq!(
        p(23),
        p(13)
            .as_object()
            .map(|o| {
                let mut o = o.clone();
                o.insert("priority".into(), 23.into());
                serde_json::Value::Object(o)
            })
            .unwrap()
    );
    assert_eq!(p(24)["action"], "unreachable");
    let got = rules.list(Some(false)).try_collect().await.unwrap();
    let text = ns.ip(&["rule", "show"]);
    assert_eq!(got.iter().map(|r| r.to_string()).collect::<Vec<_>>(), text.lines().collect::<Vec<_>>());

    // Bad input never reaches the kernel.
    let e = rules.add(&Rule::v4().priority(30).sport(9, 1)).await.unwrap_err();
    assert!(e.to_string().starts_with("invalid sport: "), "{e}");
    let e = rules.add(&Rule::v4().priority(30).suppress_prefixlen(33)).await.unwrap_err();
    assert!(e.to_string().starts_with("invalid suppress_prefixlen: "), "{e}");
}

/// replace, get, flush, events and list_and_follow.
#[tokio::test]
async fn rule_verbs() {
    use netplumb::conn::Event;
    use netplumb::rtnl::Change;
    let ns = TestNs::new("ruleverb").await;
    let rt = rtnl(&ns).await;
    let rules = rt.rules();
    let mut snap = rules.list_and_follow().await.unwrap();
    assert_eq!(snap.existing.len(), 5, "{:?}", snap.existing);
    let r = Rule::v4().priority(100).fwmark(1, 1).table(RouteTable(10));
    rules.add(&r).await.unwrap();
    let ev = tokio::time::timeout(std::time::Duration::from_secs(5), snap.events.try_next())
        .await
        .expect("an event within 5 s")
        .unwrap()
        .unwrap();
    let Event::Message(Change::New(n)) = ev else { panic!("{ev:?}") };
    assert_eq!((n.priority, n.fwmark, n.table), (Some(100), Some(1), RouteTable(10)));

    rules.replace(&Rule::v4().priority(100).fwmark(2, 2).table(RouteTable(20))).await.unwrap();
    let g = rules.get(false, 100).await.unwrap();
    assert_eq!((g.fwmark, g.table), (Some(2), RouteTable(20)));
    let v = ipj(&ns, &["rule", "show", "pref", "100"]);
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v[0]["table"], "20");
    let ev = tokio::time::timeout(std::time::Duration::from_secs(5), snap.events.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(ev, Event::Message(Change::Deleted(ref d)) if d.fwmark == Some(1)), "{ev:?}");
    assert!(rules.get(false, 4242).await.unwrap_err().is_not_found());
    assert!(rules.replace(&Rule::v4()).await.unwrap_err().to_string().starts_with("invalid priority"));

    rules.add(&Rule::v4().priority(101).table(RouteTable(30))).await.unwrap();
    rules.add(&Rule::v6().priority(101).table(RouteTable(30))).await.unwrap();
    // Flush only table 30 of IPv4.
    let filter = RuleFilter::all().v6(false).table(RouteTable(30));
    assert_eq!(rules.flush(&filter).await.unwrap(), 1);
    assert!(ipj(&ns, &["rule", "show", "table", "30"]).as_array().unwrap().is_empty());
    assert_eq!(ipj(&ns, &["-6", "rule", "show", "table", "30"]).as_array().unwrap().len(), 1);
    // `ip -6 rule flush`: everything but priority 0, the main rule too.
    assert_eq!(rules.flush(&RuleFilter::all().v6(true)).await.unwrap(), 2);
    let left = ipj(&ns, &["-6", "rule", "show"]);
    assert_eq!(left.as_array().unwrap().len(), 1, "{left}");
    assert_eq!(left[0]["priority"], 0);
}
