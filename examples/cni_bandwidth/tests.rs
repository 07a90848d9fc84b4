//! End-to-end tests against the reference `bandwidth` plugin (Debian's
//! containernetworking-plugins 1.1.1), each node and pod a fresh
//! namespace: the same stdin and environment to both plugins after the
//! reference `bridge` plugin set the pod up, then the same `tc -j` state
//! and the same result; and a traffic proof. Privileged.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use netplumb::testing::TestNs;
use serde_json::{json, Value};

use super::*;

/// Held by every test of this binary that sets up pods, so that they run
/// one at a time: the traffic proof measures rates, which other tests'
/// work on the same CPUs skews (under CI's software-emulated Linux 6.1 the
/// shaped transfers reached 54-64% of the rate while the libcni test ran
/// next to them).
pub(crate) static SERIAL: std::sync::LazyLock<tokio::sync::Mutex<()>> =
    std::sync::LazyLock::new(|| tokio::sync::Mutex::new(()));

const REFERENCE_BANDWIDTH: &str = "/usr/lib/cni/bandwidth";
const REFERENCE_BRIDGE: &str = "/usr/lib/cni/bridge";

fn tmpdir(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let d = format!("/tmp/npbw-{tag}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Run a reference plugin inside `node` as a runtime would.
fn reference(
    plugin: &str,
    node: &TestNs,
    command: &str,
    id: &str,
    pod: &TestNs,
    conf: &Value,
) -> (bool, Value) {
    let mut child = Command::new("ip")
        .args(["netns", "exec", node.name(), plugin])
        .env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", id)
        .env("CNI_NETNS", pod_path(pod))
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", "/usr/lib/cni")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run a reference plugin (package containernetworking-plugins)");
    child.stdin.take().unwrap().write_all(conf.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.success(), v)
}

/// Run our plugin in-process with `node` as its namespace.
async fn ours(node: &TestNs, command: &str, id: &str, pod: &TestNs, conf: &Value) -> Result<Value, CniError> {
    let call = Call {
        command: command.into(),
        container_id: Some(id.into()),
        netns: Some(pod_path(pod)),
        ifname: Some("eth0".into()),
        path: Some("/usr/lib/cni".into()),
        ..Call::default()
    };
    run(node.netns(), &call, conf.to_string().as_bytes()).await.map(|v| v.unwrap_or(Value::Null))
}

fn pod_path(pod: &TestNs) -> String {
    format!("/run/netns/{}", pod.name())
}

fn bridge_conf(version: &str, data_dir: &str) -> Value {
    json!({
        "cniVersion": version,
        "name": "bwnet",
        "type": "bridge",
        "bridge": "cni0",
        "isGateway": true,
        "ipam": {"type": "host-local", "subnet": "10.66.0.0/24", "dataDir": data_dir},
    })
}

fn bandwidth_conf(version: &str, prev: &Value, bw: Value) -> Value {
    json!({
        "cniVersion": version,
        "name": "bwnet",
        "type": "bandwidth",
        "capabilities": {"bandwidth": true},
        "runtimeConfig": {"bandwidth": bw},
        "prevResult": prev,
    })
}

/// The bridge plugin's ADD for a pod: its result.
fn bridge_add(node: &TestNs, pod: &TestNs, id: &str, version: &str, data_dir: &str) -> Value {
    let (ok, r) = reference(REFERENCE_BRIDGE, node, "ADD", id, pod, &bridge_conf(version, data_dir));
    assert!(ok, "reference bridge ADD: {r}");
    r
}

pub(crate) fn tcj(ns: &TestNs, args: &[&str]) -> Value {
    let mut full = vec!["-j"];
    full.extend_from_slice(args);
    let out = ns.exec("tc", &full);
    let mut v: Value = serde_json::from_str(if out.trim().is_empty() { "[]" } else { &out }).unwrap();
    fn walk(v: &mut Value) {
        match v {
            Value::Object(m) => {
                // Global counters, timestamps and counters of stray
                // packets differ between runs.
                for k in ["index", "installed", "last_used", "first_used", "expires", "stats"] {
                    m.remove(k);
                }
                m.values_mut().for_each(walk);
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}

pub(crate) fn host_veth(result: &Value) -> String {
    result["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| {
            i["sandbox"].as_str().unwrap_or("").is_empty() && i["name"].as_str().unwrap().starts_with("veth")
        })
        .map(|i| i["name"].as_str().unwrap().to_string())
        .expect("a host veth in the result")
}

/// A result without what differs between two nodes: MACs, host veth
/// names, sandbox paths.
pub(crate) fn normalized(r: &Value) -> Value {
    let mut r = r.clone();
    if let Some(ifs) = r["interfaces"].as_array_mut() {
        for i in ifs {
            for k in ["mac", "sandbox"] {
                if i.get(k).is_some() {
                    i[k] = json!("X");
                }
            }
            if i["name"].as_str().is_some_and(|n| n.starts_with("veth")) {
                i["name"] = json!("VETH");
            }
        }
    }
    r
}

/// The tc state a shaped pod leaves on its node: qdiscs of the host veth,
/// its ingress filters (device names replaced), the ifb's qdiscs and link.
pub(crate) fn tc_state(node: &TestNs, veth: &str, ifb: &str) -> Value {
    let ren = |mut v: Value| {
        let s = v.to_string().replace(veth, "VETH");
        v = serde_json::from_str(&s).unwrap();
        v
    };
    let ifb_link = node.ip(&["-j", "-d", "link", "show", "dev", ifb]);
    let l: Value = serde_json::from_str(&ifb_link).unwrap();
    json!({
        "veth_qdiscs": ren(tcj(node, &["qdisc", "show", "dev", veth])),
        "veth_filters": ren(tcj(node, &["filter", "show", "dev", veth, "parent", "ffff:"])),
        "ifb_qdiscs": tcj(node, &["qdisc", "show", "dev", ifb]),
        "ifb_link": [l[0]["mtu"].clone(), l[0]["flags"].clone(), l[0]["linkinfo"]["info_kind"].clone(), l[0]["operstate"].clone()],
    })
}

#[tokio::test]
async fn same_tc_state_and_result_as_the_reference_plugin() {
    let _serial = SERIAL.lock().await;
    for version in ["0.3.1", "0.4.0", "1.0.0"] {
        let (node_r, pod_r) = (TestNs::new("bwnoder").await, TestNs::new("bwpodr").await);
        let (node_o, pod_o) = (TestNs::new("bwnodeo").await, TestNs::new("bwpodo").await);
        let (dr, d_o) = (tmpdir("r"), tmpdir("o"));
        let id = "c0ffee01";
        let prev_r = bridge_add(&node_r, &pod_r, id, version, &dr);
        let prev_o = bridge_add(&node_o, &pod_o, id, version, &d_o);
        let bw = json!({"ingressRate": 8_000_000, "ingressBurst": 400_000, "egressRate": 4_000_000, "egressBurst": 200_000});

        let (ok, res_r) = reference(
            REFERENCE_BANDWIDTH,
            &node_r,
            "ADD",
            id,
            &pod_r,
            &bandwidth_conf(version, &prev_r, bw.clone()),
        );
        assert!(ok, "reference bandwidth ADD ({version}): {res_r}");
        let res_o =
            ours(&node_o, "ADD", id, &pod_o, &bandwidth_conf(version, &prev_o, bw.clone())).await.unwrap();
        assert_eq!(
            normalized(&res_o),
            normalized(&res_r),
            "{version}: results\nours {res_o:#}\nreference {res_r:#}"
        );

        let ifb = shaping::ifb_name("bwnet", id);
        assert!(res_r.to_string().contains(&ifb), "the reference names the ifb {ifb} too: {res_r}");
        let st_r = tc_state(&node_r, &host_veth(&res_r), &ifb);
        let st_o = tc_state(&node_o, &host_veth(&res_o), &ifb);
        assert_eq!(st_o, st_r, "{version}: tc state\nours {st_o:#}\nreference {st_r:#}");
        // It is the intended object: tbf 1 MB/s on the veth, 0.5 MB/s on the ifb.
        assert_eq!(st_o["veth_qdiscs"][0]["kind"], "tbf");
        assert_eq!(st_o["veth_qdiscs"][0]["options"]["rate"], 1_000_000);
        assert_eq!(st_o["ifb_qdiscs"][0]["options"]["rate"], 500_000);
        assert_eq!(st_o["veth_filters"][2]["options"]["actions"][0]["to_dev"], ifb.as_str());

        // CHECK: both pass (ours only from 0.4.0, as the spec says).
        let check_conf_r = bandwidth_conf(version, &res_r, bw.clone());
        let check_conf_o = bandwidth_conf(version, &res_o, bw.clone());
        let (ok_r, out_r) = reference(REFERENCE_BANDWIDTH, &node_r, "CHECK", id, &pod_r, &check_conf_r);
        let ours_check = ours(&node_o, "CHECK", id, &pod_o, &check_conf_o).await;
        assert_eq!(ours_check.is_ok(), ok_r, "{version}: CHECK ours {ours_check:?}, reference {out_r}");
        if version != "0.3.1" {
            // A tampered ifb qdisc fails our CHECK.
            node_o.exec(
                "tc",
                &[
                    "qdisc", "change", "dev", &ifb, "root", "handle", "1:", "tbf", "rate", "1mbit", "burst",
                    "10k", "latency", "25ms",
                ],
            );
            let e = ours(&node_o, "CHECK", id, &pod_o, &check_conf_o).await.unwrap_err();
            assert_eq!(e.msg, "Rate doesn't match");
        }

        // DEL: the ifb is gone on both; a second DEL is fine.
        let (ok, out) = reference(REFERENCE_BANDWIDTH, &node_r, "DEL", id, &pod_r, &check_conf_r);
        assert!(ok, "{out}");
        ours(&node_o, "DEL", id, &pod_o, &check_conf_o).await.unwrap();
        ours(&node_o, "DEL", id, &pod_o, &check_conf_o).await.unwrap();
        for n in [&node_r, &node_o] {
            let (exists, _, _) = n.try_exec("ip", &["link", "show", &ifb]);
            assert!(!exists, "{ifb} left on {}", n.name());
        }
        for d in [dr, d_o] {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

#[tokio::test]
async fn errors_and_pass_through_as_the_reference() {
    let _serial = SERIAL.lock().await;
    let (node, pod) = (TestNs::new("bwerrn").await, TestNs::new("bwerrp").await);
    let d = tmpdir("e");
    let prev = bridge_add(&node, &pod, "e1", "1.0.0", &d);
    for bw in [
        json!({"ingressRate": 1000}),
        json!({"egressBurst": 1000}),
        json!({"ingressRate": 8000, "ingressBurst": 8u64 * u32::MAX as u64}),
    ] {
        let conf = bandwidth_conf("1.0.0", &prev, bw.clone());
        let (ok, out) = reference(REFERENCE_BANDWIDTH, &node, "ADD", "e1", &pod, &conf);
        let e = ours(&node, "ADD", "e1", &pod, &conf).await.unwrap_err();
        assert!(!ok);
        assert_eq!(out["msg"], e.msg.as_str(), "{bw}");
        assert_eq!(out["code"], e.code, "{bw}");
    }
    // No bandwidth: the previous result comes back unchanged, nothing shaped.
    let conf = bandwidth_conf("1.0.0", &prev, json!({}));
    let (ok, out) = reference(REFERENCE_BANDWIDTH, &node, "ADD", "e1", &pod, &conf);
    assert!(ok);
    let o = ours(&node, "ADD", "e1", &pod, &conf).await.unwrap();
    assert_eq!(o, out);
    let veth = host_veth(&prev);
    assert_eq!(tcj(&node, &["qdisc", "show", "dev", &veth])[0]["kind"], "noqueue");
    // Not chained: an error.
    let mut c = bandwidth_conf("1.0.0", &prev, json!({"ingressRate": 8000, "ingressBurst": 80000}));
    c.as_object_mut().unwrap().remove("prevResult");
    let e = ours(&node, "ADD", "e1", &pod, &c).await.unwrap_err();
    let (ok, out) = reference(REFERENCE_BANDWIDTH, &node, "ADD", "e1", &pod, &c);
    assert!(!ok);
    assert_eq!((out["code"].clone(), out["msg"].clone()), (json!(e.code), json!(e.msg)));
    assert_eq!(e.msg, "must be called as chained plugin");
    // VERSION.
    let v = ours(&node, "VERSION", "e1", &pod, &json!({})).await.unwrap();
    assert_eq!(v["supportedVersions"], json!(SUPPORTED_VERSIONS));
    let _ = std::fs::remove_dir_all(d);
}

/// Bytes/s of a bounded TCP transfer of `total` bytes from `from` to a
/// listener in `to` at `addr`: measured at the receiver from the first to
/// the last byte.
async fn transfer(from: &TestNs, to: &TestNs, addr: SocketAddr, total: usize) -> f64 {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let server = to
        .netns()
        .spawn(move || async move {
            tokio::task::spawn_blocking(move || {
                let l = TcpListener::bind(addr).expect("bind in the receiving pod");
                ready_tx.send(()).unwrap();
                let (mut s, _) = l.accept().unwrap();
                s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                let mut buf = vec![0u8; 64 * 1024];
                let mut got = 0usize;
                let mut first = None;
                while got < total {
                    let n = s.read(&mut buf).expect("read within 30 s");
                    if n == 0 {
                        break;
                    }
                    first.get_or_insert_with(Instant::now);
                    got += n;
                }
                let secs = first.map_or(0.0, |f: Instant| f.elapsed().as_secs_f64());
                (got, secs)
            })
            .await
            .unwrap()
        })
        .unwrap();
    ready_rx.recv_timeout(Duration::from_secs(10)).expect("listener up");
    from.netns()
        .run(move || {
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
            s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
            let chunk = vec![0x5au8; 64 * 1024];
            let mut sent = 0;
            while sent < total {
                let n = (total - sent).min(chunk.len());
                s.write_all(&chunk[..n]).expect("write within 30 s");
                sent += n;
            }
        })
        .await
        .unwrap();
    let (got, secs) = server.join().await.unwrap();
    assert_eq!(got, total);
    got as f64 / secs
}

fn pod_ip(result: &Value) -> std::net::IpAddr {
    let a = result["ips"][0]["address"].as_str().unwrap();
    a.split('/').next().unwrap().parse().unwrap()
}

/// Shaped traffic runs at the configured rate (±20%) in each direction;
/// without the capability it does not.
#[tokio::test]
async fn traffic_is_shaped_to_the_configured_rate() {
    let _serial = SERIAL.lock().await;
    let node = TestNs::new("bwtnode").await;
    let (a, b, c) = (TestNs::new("bwta").await, TestNs::new("bwtb").await, TestNs::new("bwtc").await);
    let d = tmpdir("t");
    let ra = bridge_add(&node, &a, "ta", "1.0.0", &d);
    let rb = bridge_add(&node, &b, "tb", "1.0.0", &d);
    let rc = bridge_add(&node, &c, "tc", "1.0.0", &d);
    // 8 Mbit/s each way, a 64 KiB bucket: 1 MB/s.
    let rate_bits = 8_000_000u64;
    let bw = json!({"ingressRate": rate_bits, "ingressBurst": 524_288, "egressRate": rate_bits, "egressBurst": 524_288});
    ours(&node, "ADD", "ta", &a, &bandwidth_conf("1.0.0", &ra, bw)).await.unwrap();
    // c: chained without the capability (no runtimeConfig.bandwidth).
    let mut conf_c = bandwidth_conf("1.0.0", &rc, json!({}));
    conf_c.as_object_mut().unwrap().remove("runtimeConfig");
    ours(&node, "ADD", "tc", &c, &conf_c).await.unwrap();

    let want = (rate_bits / 8) as f64;
    let total = 3_000_000; // 3 s at the rate
    let into_a = transfer(&b, &a, SocketAddr::new(pod_ip(&ra), 5201), total).await;
    let out_of_a = transfer(&a, &b, SocketAddr::new(pod_ip(&rb), 5202), total).await;
    let unshaped = transfer(&b, &c, SocketAddr::new(pod_ip(&rc), 5203), 30_000_000).await;
    println!(
        "configured {:.0} B/s; into the shaped pod {into_a:.0} B/s, out of it {out_of_a:.0} B/s; unshaped pod {unshaped:.0} B/s",
        want
    );
    for (what, got) in [("ingress", into_a), ("egress", out_of_a)] {
        assert!((got - want).abs() <= 0.2 * want, "{what}: {got:.0} B/s is not within 20% of {want:.0} B/s");
    }
    assert!(unshaped > 3.0 * want, "without the capability the transfer is not shaped: {unshaped:.0} B/s");
    let _ = std::fs::remove_dir_all(d);
}

/// Bad input, the same to both plugins: the reference's error code for each
/// (the environment checks of its `skel` library, code 4; a configuration
/// that is not JSON, 6; an unsupported version or CHECK before 0.4.0, 1;
/// its own errors, 999), and where the message is the reference's own, the
/// same message.
#[tokio::test]
async fn error_codes_as_the_reference() {
    let _serial = SERIAL.lock().await;
    let node = TestNs::new("bwcoden").await;
    let good = json!({"cniVersion": "1.0.0", "name": "n", "type": "bandwidth",
        "runtimeConfig": {"bandwidth": {"ingressRate": 8000, "ingressBurst": 80000}}});
    let env = [
        ("CNI_COMMAND", "ADD"),
        ("CNI_CONTAINERID", "c1"),
        ("CNI_NETNS", "/run/netns/npbw-no-such-netns"),
        ("CNI_IFNAME", "eth0"),
        ("CNI_PATH", "/usr/lib/cni"),
    ];
    let with = |k: &str, v: Option<&str>| {
        env.iter()
            .filter_map(
                |(n, x)| if *n == k { v.map(|v| (*n, v.to_string())) } else { Some((*n, x.to_string())) },
            )
            .collect::<Vec<_>>()
    };
    let mut bad_version = good.clone();
    bad_version["cniVersion"] = json!("9.9.9");
    let mut check_old = good.clone();
    check_old["cniVersion"] = json!("0.3.1");
    let mut string_rate = good.clone();
    string_rate["runtimeConfig"]["bandwidth"]["ingressRate"] = json!("fast");
    // (what, environment, stdin, whether the message is the reference's own)
    type Case<'a> = (&'a str, Vec<(&'a str, String)>, String, bool);
    let cases: Vec<Case> = vec![
        ("no CNI_CONTAINERID", with("CNI_CONTAINERID", None), good.to_string(), true),
        ("no CNI_NETNS", with("CNI_NETNS", None), good.to_string(), true),
        ("no CNI_IFNAME", with("CNI_IFNAME", None), good.to_string(), true),
        ("no CNI_PATH", with("CNI_PATH", None), good.to_string(), true),
        ("bad container ID", with("CNI_CONTAINERID", Some("c/../x")), good.to_string(), true),
        ("unknown command", with("CNI_COMMAND", Some("FOO")), good.to_string(), true),
        ("not JSON", env.iter().map(|(n, v)| (*n, v.to_string())).collect(), "not json".into(), false),
        (
            "bad version",
            env.iter().map(|(n, v)| (*n, v.to_string())).collect(),
            bad_version.to_string(),
            true,
        ),
        ("CHECK at 0.3.1", with("CNI_COMMAND", Some("CHECK")), check_old.to_string(), true),
        (
            "rate not a number",
            env.iter().map(|(n, v)| (*n, v.to_string())).collect(),
            string_rate.to_string(),
            false,
        ),
        ("not chained", env.iter().map(|(n, v)| (*n, v.to_string())).collect(), good.to_string(), true),
    ];
    for (what, vars, stdin, same_msg) in cases {
        let mut child = Command::new("ip")
            .args(["netns", "exec", node.name(), REFERENCE_BANDWIDTH])
            .env_clear()
            .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let r: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{what}: {e}: {out:?}"));
        let var = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
        let call = Call {
            command: var("CNI_COMMAND").unwrap_or_default(),
            container_id: var("CNI_CONTAINERID"),
            netns: var("CNI_NETNS"),
            ifname: var("CNI_IFNAME"),
            path: var("CNI_PATH"),
            ..Call::default()
        };
        let e = run(node.netns(), &call, stdin.as_bytes()).await.unwrap_err();
        println!("{what}: reference {} {:?}, ours {} {:?}", r["code"], r["msg"], e.code, e.msg);
        assert!(!out.status.success(), "{what}");
        assert_eq!(r["code"], e.code, "{what}: reference {r}, ours {e:?}");
        if same_msg {
            assert_eq!(r["msg"], e.msg.as_str(), "{what}: reference {r}, ours {e:?}");
        }
    }
}
