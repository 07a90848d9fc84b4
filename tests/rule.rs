//! Policy rules against the real kernel, checked with `ip -j rule`.

mod common;

use common::{ipj, rtnl};
use netplumb::route::RouteTable;
use netplumb::rule::{Rule, RuleAction, RuleFlags};
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
