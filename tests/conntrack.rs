//! Conntrack against the real kernel, each test in namespaces of its own,
//! cross-checked with conntrack-tools (1.4.7). Needs root.

use std::collections::{BTreeSet, HashSet};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use netplumb::conn::Event;
use netplumb::conntrack::*;
use netplumb::testing::{run_with_input, TestNs};

/// `conntrack ARGS` inside `ns`: its stdout lines.
fn conntrack(ns: &TestNs, args: &[&str]) -> Vec<String> {
    ns.exec("conntrack", args).lines().map(str::to_string).collect()
}

/// The `key=value` fields of a `conntrack -L` line, in order, and its bare
/// words (protocol, state, `[ASSURED]`, ...).
fn fields(line: &str) -> (Vec<(String, String)>, Vec<String>) {
    let mut kv = Vec::new();
    let mut words = Vec::new();
    for tok in line.split_whitespace() {
        match tok.split_once('=') {
            Some((k, v)) => kv.push((k.to_string(), v.to_string())),
            None => words.push(tok.to_string()),
        }
    }
    (kv, words)
}

fn field<'a>(kv: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    kv.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
}

fn tcp(src: &str, dst: &str) -> Tuple {
    Tuple::tcp(src.parse().unwrap(), dst.parse().unwrap())
}

fn udp(src: &str, dst: &str) -> Tuple {
    Tuple::udp(src.parse().unwrap(), dst.parse().unwrap())
}

/// A flow's timeout counts down from the value set, once a second: `got`
/// must be `set` less at most the seconds elapsed since `since` (plus one
/// for rounding); slow machines (an emulated test kernel) take seconds.
fn assert_timeout(got: u32, set: u32, since: std::time::Instant, what: &str) {
    let elapsed = since.elapsed().as_secs() as u32 + 1;
    assert!(got <= set && got + elapsed >= set, "timeout {got}, set {set} {elapsed} s ago or less: {what}");
}

async fn all(ct: &Conntrack) -> Vec<Flow> {
    ct.list(&Filter::new()).try_collect().await.expect("list")
}

#[tokio::test]
async fn flows_created_with_netplumb_show_in_conntrack_extended() {
    let ns = TestNs::new("ctadd").await;
    let ct = Conntrack::new_in(ns.netns()).await.unwrap();
    let start = std::time::Instant::now();
    let flows = [
        Flow::new(tcp("10.0.0.1:1000", "10.0.0.2:80"))
            .with_timeout(300)
            .with_tcp_state(TcpState::ESTABLISHED)
            .with_status(Status::SEEN_REPLY | Status::ASSURED)
            .with_mark(7),
        Flow::new(udp("10.0.0.1:53", "10.0.0.3:53")).with_timeout(120).with_zone(5).with_mark(0x40),
        Flow::new(Tuple::icmp(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2), 77, 8, 0))
            .with_timeout(30),
        Flow::new(udp("[fd00::1]:5", "[fd00::2]:6").with_zone(3)).with_timeout(200),
    ];
    for f in &flows {
        ct.add(f).await.unwrap();
    }
    let lines = conntrack(&ns, &["-L", "-o", "extended,id"]);
    assert_eq!(lines.len(), flows.len(), "{lines:#?}");
    let listed = all(&ct).await;
    for f in &flows {
        let (o, r) = (&f.orig, &f.reply);
        let line = lines
            .iter()
            .find(|l| {
                let (kv, words) = fields(l);
                field(&kv, "src") == [o.src.to_string(), r.src.to_string()]
                    && field(&kv, "dst") == [o.dst.to_string(), r.dst.to_string()]
                    && words.contains(&o.proto.to_string())
            })
            .unwrap_or_else(|| panic!("{} not in {lines:#?}", o));
        let (kv, words) = fields(line);
        assert_eq!(words[0], if o.src.is_ipv4() { "ipv4" } else { "ipv6" });
        if let (Some(sp), Some(dp)) = (o.src_port, o.dst_port) {
            assert_eq!(field(&kv, "sport"), [sp.to_string(), dp.to_string()]);
            assert_eq!(field(&kv, "dport"), [dp.to_string(), sp.to_string()]);
        }
        if let Some(i) = o.icmp {
            assert_eq!(field(&kv, "type"), ["8", "0"]);
            // The ICMP id of both tuples, then (with -o id) the flow id.
            assert_eq!(field(&kv, "id")[..2], [i.id.to_string(), i.id.to_string()]);
        }
        assert_eq!(field(&kv, "mark"), [f.mark.unwrap_or(0).to_string()]);
        match f.zone {
            Some(z) => assert_eq!(field(&kv, "zone"), [z.to_string()]),
            None => assert!(field(&kv, "zone").is_empty()),
        }
        match o.zone {
            Some(z) => assert_eq!(field(&kv, "zone-orig"), [z.to_string()]),
            None => assert!(field(&kv, "zone-orig").is_empty()),
        }
        // Timeout: what we set, minus the seconds elapsed since.
        let timeout: u32 = words[4].parse().unwrap_or_else(|_| panic!("timeout in {line}"));
        assert_timeout(timeout, f.timeout.unwrap(), start, line);
        assert_eq!(words.contains(&"ESTABLISHED".to_string()), f.tcp_state() == Some(TcpState::ESTABLISHED));
        assert_eq!(words.contains(&"[ASSURED]".to_string()), f.status_bits().contains(Status::ASSURED));
        assert_eq!(words.contains(&"[UNREPLIED]".to_string()), !f.status_bits().contains(Status::SEEN_REPLY));
        // The id conntrack prints is the one netplumb decodes.
        let ours = listed.iter().find(|l| l.orig == *o).expect("listed by netplumb");
        assert_eq!(field(&kv, "id").last().copied(), ours.id.map(|i| i.to_string()).as_deref());
    }
}

#[tokio::test]
async fn flows_inserted_by_conntrack_decode_to_the_same_values() {
    let ns = TestNs::new("ctins").await;
    let ct = Conntrack::new_in(ns.netns()).await.unwrap();
    let start = std::time::Instant::now();
    for args in [
        "-p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1000 --dport 80 --state ESTABLISHED -u SEEN_REPLY,ASSURED -m 7 -t 300",
        "-p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1001 --dport 80 --state SYN_SENT -t 60",
        "-p udp -s 10.0.0.1 -d 10.0.0.3 --sport 53 --dport 5353 -w 5 -m 0xff00 -t 120",
        "-p icmp -s 10.0.0.1 -d 10.0.0.2 --icmp-type 8 --icmp-code 0 --icmp-id 77 -t 30",
        "-p udp -s fd00::1 -d fd00::2 --sport 5 --dport 6 --orig-zone 3 -t 200",
        "-p udp -s fd00::1 -d fd00::2 --sport 7 --dport 8 --reply-zone 4 -t 200",
    ] {
        let mut a = vec!["-I"];
        a.extend(args.split_whitespace());
        ns.exec("conntrack", &a);
    }
    let flows = all(&ct).await;
    assert_eq!(flows.len(), 6);
    let find = |t: &Tuple| flows.iter().find(|f| f.orig == *t).unwrap_or_else(|| panic!("{t} not listed"));

    let t = find(&tcp("10.0.0.1:1000", "10.0.0.2:80"));
    assert_eq!(t.reply, tcp("10.0.0.2:80", "10.0.0.1:1000"));
    assert_eq!(t.tcp_state(), Some(TcpState::ESTABLISHED));
    assert!(t.status_bits().contains(Status::SEEN_REPLY | Status::ASSURED | Status::CONFIRMED));
    assert_eq!(t.mark, Some(7));
    assert_timeout(t.timeout.unwrap(), 300, start, "t");
    assert_eq!((t.zone, t.use_count), (None, Some(1)));
    assert_eq!(t.nat(), Nat::default());

    let s = find(&tcp("10.0.0.1:1001", "10.0.0.2:80"));
    assert_eq!(s.tcp_state(), Some(TcpState::SYN_SENT));
    assert!(!s.status_bits().contains(Status::SEEN_REPLY));

    let u = find(&udp("10.0.0.1:53", "10.0.0.3:5353"));
    assert_eq!((u.zone, u.zone_id(), u.mark), (Some(5), 5, Some(0xff00)));
    assert_timeout(u.timeout.unwrap(), 120, start, "u");

    let i = find(&Tuple::icmp(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2), 77, 8, 0));
    assert_eq!(i.reply.icmp, Some(Icmp { id: 77, kind: 0, code: 0 }));

    let z = find(&udp("[fd00::1]:5", "[fd00::2]:6").with_zone(3));
    assert_eq!((z.zone, z.zone_id(), z.family), (None, 3, libc::AF_INET6 as u8));
    let r = flows.iter().find(|f| f.orig.src_port == Some(7)).unwrap();
    assert_eq!((r.reply.zone, r.zone_id()), (Some(4), 4));

    // get finds each of them the way `conntrack -G` does.
    for f in &flows {
        let got = ct.get(&f.orig, f.zone.unwrap_or(0)).await.unwrap();
        assert_eq!((&got.orig, &got.reply, got.id, got.mark), (&f.orig, &f.reply, f.id, f.mark));
    }
    // And the ids are conntrack's.
    let ids: BTreeSet<String> = conntrack(&ns, &["-L", "-o", "id"])
        .iter()
        .map(|l| field(&fields(l).0, "id").last().unwrap().to_string())
        .collect();
    let ours: BTreeSet<String> = flows.iter().map(|f| f.id.unwrap().to_string()).collect();
    assert_eq!(ids, ours);
}

#[tokio::test]
async fn get_update_delete_and_typed_errors() {
    let ns = TestNs::new("ctupd").await;
    let ct = Conntrack::new_in(ns.netns()).await.unwrap();
    let t = tcp("10.0.0.1:4000", "10.0.0.2:443");
    let f = Flow::new(t.clone()).with_timeout(100).with_tcp_state(TcpState::ESTABLISHED);
    ct.add(&f).await.unwrap();
    let e = ct.add(&f).await.unwrap_err();
    assert!(e.is_exists(), "{e}");

    let start = std::time::Instant::now();
    ct.update(&t, 0, &Update::new().mark(0x1234).timeout(500).status(Status::ASSURED | Status::SEEN_REPLY))
        .await
        .unwrap();
    let got = ct.get(&t, 0).await.unwrap();
    assert_eq!(got.mark, Some(0x1234));
    assert_timeout(got.timeout.unwrap(), 500, start, "after update");
    assert!(got.status_bits().contains(Status::ASSURED));
    let line = conntrack(&ns, &["-L", "-p", "tcp", "--dport", "443"]).remove(0);
    assert!(line.contains("mark=4660") && line.contains("[ASSURED]"), "{line}");

    // Masked mark: only the low byte changes.
    ct.update(&t, 0, &Update::new().mark_masked(0xff, 0x00ff)).await.unwrap();
    assert_eq!(ct.get(&t, 0).await.unwrap().mark, Some(0x12ff));
    // The kernel refuses to un-assure a flow.
    let e = ct.update(&t, 0, &Update::new().status(Status::empty())).await.unwrap_err();
    assert!(e.is_busy(), "{e}");

    ct.delete(&t, 0).await.unwrap();
    assert!(conntrack(&ns, &["-L"]).is_empty());
    for e in [
        ct.get(&t, 0).await.unwrap_err(),
        ct.delete(&t, 0).await.unwrap_err(),
        ct.update(&t, 0, &Update::new().mark(1)).await.unwrap_err(),
    ] {
        assert!(matches!(e, netplumb::Error::NotFound { .. }), "{e}");
        assert!(e.to_string().contains("10.0.0.1:4000"), "{e}");
    }
    // Nothing invalid reaches the kernel.
    let e = ct.add(&Flow::new(t.clone())).await.unwrap_err();
    assert!(e.to_string().contains("timeout"), "{e}");

    // delete_flow checks the id: a flow with the same tuple but another id
    // stays; with its own id it goes.
    ct.add(&f).await.unwrap();
    let mut listed = ct.get(&t, 0).await.unwrap();
    let real_id = listed.id.expect("the kernel sends ids");
    listed.id = Some(real_id ^ 1);
    let e = ct.delete_flow(&listed).await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert_eq!(all(&ct).await.len(), 1);
    listed.id = Some(real_id);
    ct.delete_flow(&listed).await.unwrap();
    assert!(all(&ct).await.is_empty());
}

#[tokio::test]
async fn labels_set_and_read_back() {
    let ns = TestNs::new("ctlbl").await;
    // The kernel stores labels only in a namespace where a rule uses
    // them, and a `ct label` match is not enough on every kernel (on 6.1
    // only `ct label set` turns storage on; flows then come back without
    // their labels, silently): so a rule that sets one (no packet ever
    // reaches it here).
    run_with_input(
        "ip",
        &["netns", "exec", ns.name(), "nft", "-f", "-"],
        "table ip lbl {\n chain c {\n  type filter hook prerouting priority 0;\n  ct label set 5 counter\n }\n}\n",
    );
    let ct = Conntrack::new_in(ns.netns()).await.unwrap();
    let t = udp("10.0.0.1:9", "10.0.0.2:9");
    ct.add(&Flow::new(t.clone()).with_timeout(60).with_labels(Labels(0).with(1).with(70))).await.unwrap();
    assert_eq!(ct.get(&t, 0).await.unwrap().extra.labels, Some(Labels(0).with(1).with(70)));
    ct.update(&t, 0, &Update::new().labels_masked(Labels(0).with(2), Labels(0).with(1).with(2)))
        .await
        .unwrap();
    assert_eq!(ct.get(&t, 0).await.unwrap().extra.labels, Some(Labels(0).with(2).with(70)));
}

#[tokio::test]
async fn add_many_count_and_stats_agree_with_conntrack() {
    let ns = TestNs::new("ctmany").await;
    let ct = Conntrack::new_in(ns.netns()).await.unwrap();
    let flows: Vec<Flow> = (0..3000u32)
        .map(|i| {
            let src = SocketAddr::from((Ipv4Addr::from(0x0a00_0000 + i / 1000), 10000 + (i % 1000) as u16));
            Flow::new(Tuple::udp(src, "10.9.9.9:53".parse().unwrap())).with_timeout(300).with_mark(i % 3)
        })
        .collect();
    assert_eq!(ct.add_many(&flows).await.unwrap(), 3000);
    let count = ct.count().await.unwrap();
    assert_eq!(count.entries, 3000);
    assert_eq!(conntrack(&ns, &["-C"]), vec!["3000".to_string()]);
    assert_eq!(conntrack(&ns, &["-L"]).len(), 3000);
    let stats = ct.stats().await.unwrap();
    assert_eq!(stats.count, count);
    let s_lines = conntrack(&ns, &["-S"]);
    assert_eq!(stats.per_cpu.len(), s_lines.len(), "{s_lines:#?}");
    for (ours, line) in stats.per_cpu.iter().zip(&s_lines) {
        let (kv, _) = fields(line);
        assert_eq!(field(&kv, "cpu"), [ours.cpu.to_string()]);
        assert_eq!(field(&kv, "insert_failed"), [ours.insert_failed.to_string()]);
    }
    // Adding them again fails for each, with the index of each.
    let again = ct.add_many(&flows[..10]).await.unwrap_err();
    match again {
        netplumb::Error::Batch(b) => {
            assert_eq!(b.failures.len(), 10);
            assert!(b.failures.iter().all(|f| f.is_exists()));
            let idx: Vec<usize> = b.failures.iter().map(|f| f.operation.as_ref().unwrap().index).collect();
            assert_eq!(idx, (0..10).collect::<Vec<_>>());
        }
        other => panic!("expected a batch error, got {other}"),
    }
    // 3,000 more, five of them already there: spread over several
    // datagrams, each failure keeps its own index and every other flow
    // is created exactly once.
    let mixed: Vec<Flow> = (0..3000u32)
        .map(|i| {
            if i % 601 == 0 {
                flows[i as usize].clone()
            } else {
                let src =
                    SocketAddr::from((Ipv4Addr::from(0x0a01_0000 + i / 1000), 20000 + (i % 1000) as u16));
                Flow::new(Tuple::udp(src, "10.9.9.9:53".parse().unwrap())).with_timeout(300)
            }
        })
        .collect();
    match ct.add_many(&mixed).await.unwrap_err() {
        netplumb::Error::Batch(b) => {
            assert_eq!(b.total, 3000);
            assert!(b.failures.iter().all(|f| f.is_exists()), "{b:?}");
            let idx: Vec<usize> = b.failures.iter().map(|f| f.operation.as_ref().unwrap().index).collect();
            assert_eq!(idx, [0, 601, 1202, 1803, 2404]);
            let d = &b.failures[1].operation.as_ref().unwrap().description;
            assert!(d.contains(&flows[601].orig.to_string()), "{d}");
        }
        other => panic!("expected a batch error, got {other}"),
    }
    assert_eq!(ct.count().await.unwrap().entries, 3000 + 2995);
}

#[tokio::test]
async fn filtered_list_and_delete_select_exactly_the_matching_flows() {
    let ns = TestNs::new("ctdel").await;
    let ct = Conntrack::new_in(ns.netns()).await.unwrap();
    let mut flows = Vec::new();
    for i in 0..400u16 {
        let proto = if i % 2 == 0 { IpProto::UDP } else { IpProto::TCP };
        let src = SocketAddr::from(([10, 0, (i / 100) as u8, 1], 20000 + i));
        let dst = SocketAddr::from(([10, 1, 0, 1], 80 + i % 5));
        let t = if proto == IpProto::UDP { Tuple::udp(src, dst) } else { Tuple::tcp(src, dst) };
        let mut f = Flow::new(t).with_timeout(300).with_mark((i % 4) as u32);
        if proto == IpProto::TCP {
            f = f.with_tcp_state(TcpState::ESTABLISHED);
        }
        if i % 10 == 0 {
            f = f.with_zone(9);
        }
        flows.push(f);
    }
    for i in 0..20u16 {
        let dst = if i % 2 == 0 { "fd00::2" } else { "fd00::3" };
        flows.push(
            Flow::new(Tuple::udp(
                format!("[fd00::1]:{}", 30000 + i).parse().unwrap(),
                SocketAddr::new(dst.parse().unwrap(), 53),
            ))
            .with_timeout(300),
        );
    }
    ct.add_many(&flows).await.unwrap();

    let filters = [
        Filter::new().mark(1, u32::MAX),
        Filter::new().proto(IpProto::UDP).orig_dst_port(82),
        Filter::new().family(IpFamily::Ipv4).proto(IpProto::TCP).orig_src("10.0.2.1".parse().unwrap()),
        Filter::new().zone(9),
        Filter::new().orig_dst("fd00::2".parse().unwrap()),
        Filter::new().reply_src("fd00::3".parse().unwrap()).proto(IpProto::UDP),
        Filter::new().mark(2, 2).status(Status::empty(), Status::ASSURED),
    ];
    // Listing with each filter yields exactly what the user-space test selects.
    for f in &filters {
        let want: HashSet<Tuple> = flows.iter().filter(|x| f.matches(x)).map(|x| x.orig.clone()).collect();
        assert!(!want.is_empty(), "{f:?} selects nothing");
        let got: HashSet<Tuple> =
            ct.list(f).try_collect().await.unwrap().into_iter().map(|x: Flow| x.orig).collect();
        assert_eq!(got, want, "{f:?}");
    }
    // `conntrack -L --mark 1` agrees.
    assert_eq!(
        conntrack(&ns, &["-L", "--mark", "1"]).len(),
        flows.iter().filter(|x| x.mark == Some(1)).count()
    );

    // Deleting with a filter removes exactly those and counts them.
    let mut left: Vec<Flow> = flows.clone();
    for f in &filters {
        let n = left.iter().filter(|x| f.matches(x)).count() as u64;
        assert_eq!(ct.delete_many(f).await.unwrap(), n, "{f:?}");
        left.retain(|x| !f.matches(x));
        let now: HashSet<Tuple> = all(&ct).await.into_iter().map(|x| x.orig).collect();
        let want: HashSet<Tuple> = left.iter().map(|x| x.orig.clone()).collect();
        assert_eq!(now, want, "after deleting {f:?}");
        assert_eq!(conntrack(&ns, &["-L"]).len(), left.len());
    }
    // Nothing left to match: zero, not an error.
    assert_eq!(ct.delete_many(&filters[0]).await.unwrap(), 0);
}

#[tokio::test]
async fn flush_all_by_mark_and_by_zone() {
    let ns = TestNs::new("ctflush").await;
    let ct = Conntrack::new_in(ns.netns()).await.unwrap();
    let flows: Vec<Flow> = (0..60u16)
        .map(|i| {
            let f = Flow::new(udp(&format!("10.0.0.1:{}", 1000 + i), "10.0.0.2:53")).with_timeout(300);
            match i % 3 {
                0 => f.with_mark(0x10),
                1 => f.with_zone(7),
                _ => f,
            }
        })
        .collect();
    ct.add_many(&flows).await.unwrap();
    ct.flush_filtered(&Filter::new().mark(0x10, u32::MAX)).await.unwrap();
    let now = all(&ct).await;
    assert_eq!(now.len(), 40);
    assert!(now.iter().all(|f| f.mark != Some(0x10)));
    ct.flush_filtered(&Filter::new().zone(7)).await.unwrap();
    let now = all(&ct).await;
    assert_eq!(now.len(), 20);
    assert!(now.iter().all(|f| f.zone.is_none()));
    // A filter the kernel cannot apply alone still deletes exactly.
    ct.flush_filtered(&Filter::new().proto(IpProto::UDP).orig_src_port(1002)).await.unwrap();
    assert_eq!(all(&ct).await.len(), 19);
    // Address, protocol and port: a kernel-side flush with CTA_FILTER here.
    let one = Filter::new().orig_src("10.0.0.1".parse().unwrap()).proto(IpProto::UDP).orig_src_port(1005);
    ct.flush_filtered(&one).await.unwrap();
    let now = all(&ct).await;
    assert_eq!(now.len(), 18);
    assert!(now.iter().all(|f| f.orig.src_port != Some(1005)));
    ct.flush().await.unwrap();
    assert!(all(&ct).await.is_empty());
    assert_eq!(conntrack(&ns, &["-C"]), vec!["0".to_string()]);
}

/// client (10.1.0.2) -- router (10.1.0.1 | 10.2.0.1) -- server (10.2.0.2, 10.2.0.3)
/// with a service address 10.96.0.10 translated by the router.
struct Topology {
    client: TestNs,
    router: TestNs,
    server: TestNs,
}

const VIP: &str = "10.96.0.10";

impl Topology {
    async fn new(tag: &str) -> Topology {
        let client = TestNs::new(&format!("{tag}c")).await;
        let router = TestNs::new(&format!("{tag}r")).await;
        let server = TestNs::new(&format!("{tag}s")).await;
        router.ip(&["link", "add", "rc0", "type", "veth", "peer", "name", "cr0", "netns", client.name()]);
        router.ip(&["link", "add", "rs0", "type", "veth", "peer", "name", "sr0", "netns", server.name()]);
        router.ip(&["addr", "add", "10.1.0.1/24", "dev", "rc0"]);
        router.ip(&["addr", "add", "10.2.0.1/24", "dev", "rs0"]);
        router.ip(&["link", "set", "rc0", "up"]);
        router.ip(&["link", "set", "rs0", "up"]);
        client.ip(&["addr", "add", "10.1.0.2/24", "dev", "cr0"]);
        client.ip(&["link", "set", "cr0", "up"]);
        client.ip(&["route", "add", "default", "via", "10.1.0.1"]);
        server.ip(&["addr", "add", "10.2.0.2/24", "dev", "sr0"]);
        server.ip(&["addr", "add", "10.2.0.3/24", "dev", "sr0"]);
        server.ip(&["link", "set", "sr0", "up"]);
        server.ip(&["route", "add", "default", "via", "10.2.0.1"]);
        router.netns().sysctl_set("net.ipv4.ip_forward", "1").await.unwrap();
        Topology { client, router, server }
    }

    /// Load `rules` into the router's `svc` table (replacing it).
    fn nat(&self, rules: &str) {
        let ruleset = format!(
            "table ip svc {{}}\ndelete table ip svc\ntable ip svc {{\n chain pre {{\n  type nat hook prerouting priority dstnat;\n{rules}\n }}\n}}\n"
        );
        run_with_input("ip", &["netns", "exec", self.router.name(), "nft", "-f", "-"], &ruleset);
    }

    /// UDP echo servers on both server addresses and a TCP echo server on
    /// the first, running until the task is dropped.
    fn servers(&self) -> netplumb::netns::NsTask<()> {
        self.server
            .netns()
            .spawn(|| async {
                let mut tasks = Vec::new();
                for addr in ["10.2.0.2:5353", "10.2.0.3:5353"] {
                    let s = tokio::net::UdpSocket::bind(addr).await.expect("bind udp");
                    tasks.push(tokio::spawn(async move {
                        let mut buf = [0u8; 1500];
                        loop {
                            let Ok((n, peer)) = s.recv_from(&mut buf).await else { break };
                            let _ = s.send_to(&buf[..n], peer).await;
                        }
                    }));
                }
                let l = tokio::net::TcpListener::bind("10.2.0.2:8080").await.expect("bind tcp");
                loop {
                    let Ok((mut c, _)) = l.accept().await else { break };
                    tokio::spawn(async move {
                        let (mut r, mut w) = c.split();
                        let _ = tokio::io::copy(&mut r, &mut w).await;
                    });
                }
            })
            .unwrap()
    }

    /// Send one UDP datagram from the client's `sport` to `dst` and wait
    /// for the echo; retried while the servers start.
    async fn udp_exchange(&self, sport: u16, dst: SocketAddr) {
        self.client
            .netns()
            .run(move || {
                let s = UdpSocket::bind(("10.1.0.2", sport)).unwrap();
                s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
                s.connect(dst).unwrap();
                let mut buf = [0u8; 64];
                for _ in 0..20 {
                    s.send(b"ping").unwrap();
                    if let Ok(n) = s.recv(&mut buf) {
                        assert_eq!(&buf[..n], b"ping");
                        return;
                    }
                }
                panic!("no UDP echo from {dst} to port {sport}");
            })
            .await
            .unwrap();
    }

    /// One TCP exchange from the client to `dst`, connection left open
    /// until the returned stream is dropped.
    async fn tcp_exchange(&self, dst: SocketAddr) -> TcpStream {
        self.client
            .netns()
            .run(move || {
                use std::io::{Read, Write};
                for _ in 0..20 {
                    let Ok(mut c) = TcpStream::connect_timeout(&dst, Duration::from_millis(300)) else {
                        std::thread::sleep(Duration::from_millis(100));
                        continue;
                    };
                    c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                    c.write_all(b"hello").unwrap();
                    let mut buf = [0u8; 5];
                    c.read_exact(&mut buf).unwrap();
                    assert_eq!(&buf, b"hello");
                    return c;
                }
                panic!("no TCP connection to {dst}");
            })
            .await
            .unwrap()
    }
}

fn sa(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), port)
}

#[tokio::test]
async fn real_traffic_through_dnat_names_the_backend() {
    let topo = Topology::new("ctnat").await;
    topo.nat(&format!(
        "  ip daddr {VIP} udp dport 53 dnat to 10.2.0.2:5353\n  ip daddr {VIP} tcp dport 80 dnat to 10.2.0.2:8080"
    ));
    let _servers = topo.servers();
    topo.udp_exchange(40001, sa(VIP, 53)).await;
    let _conn = topo.tcp_exchange(sa(VIP, 80)).await;

    let ct = Conntrack::new_in(topo.router.netns()).await.unwrap();
    let flows: Vec<Flow> =
        ct.list(&Filter::new().orig_dst(VIP.parse().unwrap())).try_collect().await.unwrap();
    let u = flows.iter().find(|f| f.orig.proto == IpProto::UDP).expect("udp flow");
    assert_eq!(u.orig.src_socket(), Some(sa("10.1.0.2", 40001)));
    assert_eq!(u.nat().destination.and_then(|d| d.socket()), Some(sa("10.2.0.2", 5353)));
    assert_eq!(u.nat().source, None);
    assert!(u.status_bits().contains(Status::DST_NAT | Status::SEEN_REPLY));
    let t = flows.iter().find(|f| f.orig.proto == IpProto::TCP).expect("tcp flow");
    assert_eq!(t.nat().destination.and_then(|d| d.socket()), Some(sa("10.2.0.2", 8080)));
    assert_eq!(t.tcp_state(), Some(TcpState::ESTABLISHED));
    // conntrack sees the same reply tuples.
    let lines = conntrack(&topo.router, &["-L", "-d", VIP]);
    assert_eq!(lines.len(), flows.len());
    for f in &flows {
        let line = lines.iter().find(|l| l.starts_with(f.orig.proto.name().unwrap())).unwrap();
        let (kv, _) = fields(line);
        assert_eq!(field(&kv, "src")[1], f.reply.src.to_string());
        assert_eq!(field(&kv, "sport")[1], f.reply.src_port.unwrap().to_string());
    }
    // The server saw the client itself (no source NAT).
    let server_side =
        Filter::new().reply_src("10.2.0.2".parse().unwrap()).reply_dst("10.1.0.2".parse().unwrap());
    assert_eq!(ct.list(&server_side).try_collect().await.unwrap().len(), 2);
}

/// The next event, or panic after `secs`.
async fn next_event(events: &mut netplumb::conn::Subscription<FlowEvent>, secs: u64) -> Event<FlowEvent> {
    tokio::time::timeout(Duration::from_secs(secs), events.try_next())
        .await
        .expect("an event within the time limit")
        .expect("event stream")
        .expect("a live stream does not end")
}

#[tokio::test]
async fn events_follow_real_traffic_and_deletes() {
    let topo = Topology::new("ctev").await;
    topo.nat(&format!("  ip daddr {VIP} udp dport 53 dnat to 10.2.0.3:5353"));
    let _servers = topo.servers();
    let ct = Conntrack::new_in(topo.router.netns()).await.unwrap();
    let filter = Filter::new().proto(IpProto::UDP).orig_dst(VIP.parse().unwrap());
    let mut events = ct.events(EventGroups::all(), &filter).await.unwrap();
    topo.udp_exchange(41000, sa(VIP, 53)).await;

    let mut seen = Vec::new();
    while !(seen.contains(&EventKind::New) && seen.contains(&EventKind::Update)) {
        assert!(seen.len() < 50, "no NEW and UPDATE among {seen:?}");
        match next_event(&mut events, 10).await {
            Event::Message(e) => {
                assert_eq!(e.flow.orig.src_socket(), Some(sa("10.1.0.2", 41000)));
                assert_eq!(e.flow.nat().destination.and_then(|d| d.socket()), Some(sa("10.2.0.3", 5353)));
                if e.kind == EventKind::Update {
                    assert!(e.flow.status_bits().contains(Status::SEEN_REPLY));
                }
                seen.push(e.kind);
            }
            Event::Overrun => panic!("overrun with a 4 MiB buffer"),
        }
    }
    assert_eq!(seen[0], EventKind::New);
    // Deleting the flow announces its end.
    assert_eq!(ct.delete_many(&Filter::new().proto(IpProto::UDP)).await.unwrap(), 1);
    loop {
        match next_event(&mut events, 10).await {
            Event::Message(e) if e.kind == EventKind::Destroy => {
                assert_eq!(e.flow.orig.src_socket(), Some(sa("10.1.0.2", 41000)));
                break;
            }
            Event::Message(_) => {}
            Event::Overrun => panic!("overrun with a 4 MiB buffer"),
        }
    }
}

#[tokio::test]
async fn events_report_an_overrun_when_the_socket_overflows() {
    let ns = TestNs::new("ctovr").await;
    let ct = Conntrack::new_in(ns.netns()).await.unwrap();
    let mut events = ct.events_with_buffer(EventGroups::NEW, &Filter::new(), 4096).await.unwrap();
    let flows: Vec<Flow> = (0..2000u16)
        .map(|i| Flow::new(udp(&format!("10.0.0.1:{}", 1024 + i), "10.0.0.2:53")).with_timeout(60))
        .collect();
    ct.add_many(&flows).await.unwrap();
    let mut messages = 0;
    loop {
        match next_event(&mut events, 5).await {
            Event::Overrun => break,
            Event::Message(e) => {
                assert_eq!(e.kind, EventKind::New);
                messages += 1;
                assert!(messages < 2000, "2000 events fit a 4 KiB buffer: no overrun reported");
            }
        }
    }
    // The stream goes on after an overrun. The kernel drops events while
    // the socket is congested, until what is queued has been read: drain
    // it, then a new flow is announced again.
    for drained in 0.. {
        assert!(drained < 2000, "the queue does not drain");
        match tokio::time::timeout(Duration::from_millis(500), events.try_next()).await {
            Err(_elapsed) => break,
            Ok(item) => assert!(matches!(item, Ok(Some(Event::Message(_)))), "{item:?}"),
        }
    }
    ct.add(&Flow::new(udp("10.0.0.9:1", "10.0.0.2:53")).with_timeout(60)).await.unwrap();
    match next_event(&mut events, 5).await {
        Event::Message(e) => assert_eq!(e.flow.orig, udp("10.0.0.9:1", "10.0.0.2:53")),
        Event::Overrun => panic!("a second overrun for one event"),
    }
}

#[tokio::test]
async fn stale_udp_flows_of_a_service_are_removed_exactly() {
    let topo = Topology::new("ctstale").await;
    let _servers = topo.servers();
    // The service first sends to backend A, and port 54 of the VIP too.
    topo.nat(&format!(
        "  ip daddr {VIP} udp dport 53 dnat to 10.2.0.2:5353\n  ip daddr {VIP} udp dport 54 dnat to 10.2.0.2:5353"
    ));
    for p in [40001, 40002, 40003] {
        topo.udp_exchange(p, sa(VIP, 53)).await;
    }
    topo.udp_exchange(40021, sa(VIP, 54)).await;
    // Backend A goes away; B takes over.
    topo.nat(&format!(
        "  ip daddr {VIP} udp dport 53 dnat to 10.2.0.3:5353\n  ip daddr {VIP} udp dport 54 dnat to 10.2.0.2:5353"
    ));
    for p in [40011, 40012] {
        topo.udp_exchange(p, sa(VIP, 53)).await;
    }
    // The old flows keep the old backend: traffic from 40001 still goes to A.
    topo.udp_exchange(40001, sa(VIP, 53)).await;
    let ct = Conntrack::new_in(topo.router.netns()).await.unwrap();
    let backend_of = |f: &Flow| f.nat().destination.and_then(|d| d.socket());
    let before = all(&ct).await;
    assert_eq!(before.len(), 6, "{before:#?}");
    let a = sa("10.2.0.2", 5353);
    let b = sa("10.2.0.3", 5353);
    assert_eq!(before.iter().filter(|f| backend_of(f) == Some(a)).count(), 4);

    let removed = ct.delete_stale_udp(sa(VIP, 53), &[b]).await.unwrap();
    assert_eq!(removed, 3);
    let after = all(&ct).await;
    let kept: BTreeSet<(u16, SocketAddr)> =
        after.iter().map(|f| (f.orig.src_port.unwrap(), backend_of(f).unwrap())).collect();
    let want: BTreeSet<(u16, SocketAddr)> = [(40011, b), (40012, b), (40021, a)].into_iter().collect();
    assert_eq!(kept, want);
    assert_eq!(conntrack(&topo.router, &["-L", "-p", "udp", "--dport", "53"]).len(), 2);
    // Live traffic from the same client port now reaches the new backend.
    topo.udp_exchange(40001, sa(VIP, 53)).await;
    let again = ct.get(&Tuple::udp(sa("10.1.0.2", 40001), sa(VIP, 53)), 0).await.unwrap();
    assert_eq!(backend_of(&again), Some(b));
    // Nothing stale is left: a second pass deletes nothing.
    assert_eq!(ct.delete_stale_udp(sa(VIP, 53), &[b]).await.unwrap(), 0);
}

/// `-w`/`--zone` selects by the flow's zone as conntrack does, and the
/// direction zones have filters of their own; compared with `conntrack -L
/// -w N` line by line.
#[tokio::test]
async fn zone_filters_mean_what_conntrack_means() {
    let ns = TestNs::new("ctzone").await;
    let ct = Conntrack::new_in(ns.netns()).await.unwrap();
    for args in [
        "-p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 200 --zone 5",
        "-p udp -s 10.0.0.1 -d 10.0.0.2 --sport 3 --dport 4 -t 200 --orig-zone 5",
        "-p udp -s 10.0.0.1 -d 10.0.0.2 --sport 5 --dport 6 -t 200 --reply-zone 5",
        "-p udp -s 10.0.0.1 -d 10.0.0.2 --sport 7 --dport 8 -t 200",
    ] {
        let mut a = vec!["-I"];
        a.extend(args.split(' '));
        conntrack(&ns, &a);
    }
    let mut compared = 0;
    for z in [0u16, 5] {
        let ours: BTreeSet<String> = ct
            .list(&Filter::new().zone(z))
            .try_collect()
            .await
            .unwrap()
            .iter()
            .map(|f| f.to_conntrack_line())
            .collect();
        let theirs: BTreeSet<String> = conntrack(&ns, &["-L", "-w", &z.to_string()])
            .into_iter()
            .map(|l| l.replace("use=2", "use=1"))
            .collect();
        let strip = |s: &BTreeSet<String>| -> BTreeSet<String> {
            s.iter().map(|l| l.split_whitespace().skip(3).collect::<Vec<_>>().join(" ")).collect()
        };
        assert_eq!(strip(&ours), strip(&theirs), "zone {z}");
        compared += ours.len();
    }
    assert!(compared == 4, "{compared}");
    let sports = |v: Vec<Flow>| -> BTreeSet<u16> { v.iter().map(|f| f.orig.src_port.unwrap()).collect() };
    let o = sports(ct.list(&Filter::new().orig_zone(5)).try_collect().await.unwrap());
    let r = sports(ct.list(&Filter::new().reply_zone(5)).try_collect().await.unwrap());
    assert_eq!((o, r), ([1, 3].into(), [1, 5].into()));
    // A flush by zone deletes exactly the flow's-zone flows.
    ct.flush_filtered(&Filter::new().zone(5)).await.unwrap();
    assert_eq!(sports(all(&ct).await), [3, 5, 7].into());
}

/// Events printed as `conntrack -E` prints them, `[USERSPACE] portid=N`
/// included; labels by name through a connlabel.conf, compared with
/// `conntrack -L -o labels` reading the same file.
#[tokio::test]
async fn events_and_labels_as_conntrack_prints_them() {
    use std::process::{Command, Stdio};
    let ns = TestNs::new("ctevlab").await;
    let ct = Conntrack::new_in(ns.netns()).await.unwrap();
    let mut events = ct.events(EventGroups::all(), &Filter::new()).await.unwrap();
    // conntrack -E in the background, bounded by `timeout` (and stopped
    // once our events are in). It takes a while to start on a slow
    // machine: wait (10 s at most) until the namespace holds a second
    // netfilter socket subscribed to groups, beside ours.
    let child = Command::new("timeout")
        .args(["30", "ip", "netns", "exec", ns.name(), "conntrack", "-E"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let table = ns.exec("cat", &["/proc/net/netlink"]);
        // Columns: sk, protocol, port id, groups (hex), ...
        let listeners = table
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .filter(|c| c.len() > 3 && c[1] == "12" && !c[3].trim_start_matches('0').is_empty())
            .count();
        if listeners >= 2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "conntrack -E not listening after 10 s:\n{table}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let t = udp("10.0.0.1:5", "10.0.0.2:6");
    ct.add(&Flow::new(t.clone()).with_timeout(100)).await.unwrap();
    conntrack(
        &ns,
        &["-I", "-p", "udp", "-s", "10.0.0.3", "-d", "10.0.0.4", "--sport", "7", "--dport", "8", "-t", "100"],
    );
    ct.update(&t, 0, &Update::new().mark(5)).await.unwrap();
    ct.delete(&t, 0).await.unwrap();
    let mut ours = Vec::new();
    while ours.len() < 4 {
        let e = tokio::time::timeout(Duration::from_secs(5), events.try_next()).await.expect("event in 5 s");
        if let Some(Event::Message(e)) = e.unwrap() {
            ours.push(e);
        }
    }
    // Let conntrack print the last event, then stop it (timeout passes the
    // signal on).
    tokio::time::sleep(Duration::from_millis(500)).await;
    netplumb::testing::run("kill", &["-TERM", &child.id().to_string()]);
    let out = child.wait_with_output().unwrap();
    let theirs: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect();
    let ours_text: Vec<String> = ours.iter().map(FlowEvent::to_conntrack_line).collect();
    assert_eq!(ours_text.len(), theirs.len(), "{theirs:?}");
    for (o, t) in ours_text.iter().zip(&theirs) {
        // conntrack names the program while it runs; the short-lived
        // `conntrack -I` has exited by the time this test renders.
        assert!(o == t || (t.starts_with(o.as_str()) && t[o.len()..].starts_with(" progname=")), "{o}\n{t}");
    }
    assert_eq!(ours_text[0], theirs[0]);
    assert!(ours.iter().all(|e| e.portid != 0), "{ours:?}");
    assert!(ours_text[0].contains(&format!(" [USERSPACE] portid={} progname=", ours[0].portid)));

    // Labels by name: a connlabel.conf of our own, and conntrack reading
    // the same file through a private overlay of /etc (the host's /etc is
    // not touched).
    let dir = std::env::temp_dir().join(format!("netplumb-connlabel-{}", std::process::id()));
    let up = dir.join("up/xtables");
    std::fs::create_dir_all(&up).unwrap();
    std::fs::create_dir_all(dir.join("mnt")).unwrap();
    let conf = up.join("connlabel.conf");
    std::fs::write(&conf, "# netplumb test labels\n1 web\n2 db\n70 far\n").unwrap();
    let map = LabelMap::from_file(&conf).unwrap();
    assert!(map.labels(&["web", "nope"]).unwrap_err().to_string().contains("nope"));
    ns.exec("nft", &["add", "table", "ip", "lbl"]);
    ns.exec("nft", &["add", "chain", "ip", "lbl", "c", "{ type filter hook prerouting priority 0; }"]);
    // `ct label set`: on 6.1 a `ct label` match does not enable labels.
    ns.exec("nft", &["add", "rule", "ip", "lbl", "c", "ct", "label", "set", "5", "counter"]);
    ct.add(&Flow::new(t.clone()).with_timeout(100).with_labels(map.labels(&["web", "far"]).unwrap()))
        .await
        .unwrap();
    // The overlay's upper and work directories on a tmpfs of the private
    // mount namespace: an overlay cannot have them on another overlay
    // (the temporary directory is one in the 6.1 guest of CI).
    let script = format!(
        "mount -t tmpfs tmpfs {m} && mkdir -p {m}/up/xtables {m}/work && cp {conf} {m}/up/xtables/ && \
         mount -t overlay overlay -o lowerdir=/etc,upperdir={m}/up,workdir={m}/work /etc && \
         ip netns exec {ns} conntrack -L -o labels",
        m = dir.join("mnt").display(),
        conf = conf.display(),
        ns = ns.name()
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let theirs = String::from_utf8(out.stdout).unwrap();
    let f = ct.get(&t, 0).await.unwrap();
    let ours = f.to_conntrack_line_with_labels(&map);
    assert!(ours.ends_with(" labels=web,far"), "{ours}");
    // The use count is the kernel's reference count at dump time; the
    // timeout (third word) counts down between the two reads, which are
    // seconds apart on a slow machine: compared apart.
    let norm = |l: &str| {
        l.split_whitespace()
            .enumerate()
            .filter(|(i, w)| *i != 2 && !w.starts_with("use="))
            .map(|(_, w)| w)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let timeout = |l: &str| l.split_whitespace().nth(2).and_then(|w| w.parse::<i64>().ok()).unwrap_or(-100);
    let line = theirs.lines().find(|l| l.contains("sport=5 ")).unwrap_or_else(|| panic!("{theirs}"));
    assert_eq!(norm(line), norm(&ours));
    assert!((timeout(line) - timeout(&ours)).abs() <= 3, "{line} vs {ours}");
    let sel = ct.list(&Filter::new().labels(map.labels(&["far"]).unwrap())).try_collect().await.unwrap();
    assert_eq!(sel.len(), 1);
    assert!(ct
        .list(&Filter::new().labels(map.labels(&["db"]).unwrap()))
        .try_collect()
        .await
        .unwrap()
        .is_empty());
    std::fs::remove_dir_all(&dir).ok();
}
