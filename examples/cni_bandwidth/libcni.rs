//! The plugin chained after the bridge plugin under a real CNI client:
//! `examples/cni_bridge/cnirun/main.go` (a small runtime on libcni, built
//! with Debian's golang-go and golang-github-appc-cni-dev, offline) runs the
//! configuration list `[bridge, bandwidth]`, the bandwidth plugin declaring
//! `capabilities: {bandwidth: true}` and the runtime passing the pod's
//! limits as `CapabilityArgs` (which libcni hands on as
//! `runtimeConfig.bandwidth`), through ADD, CHECK and DEL with libcni's
//! cache and prevResult. Once with the reference `bridge` and `bandwidth`
//! plugins, once with `cni_bridge` and `cni_bandwidth` installed under those
//! names, each in its own node namespace, with the same configuration:
//! results and `tc` state must come out the same. Privileged; fails loudly
//! when `go` or the libcni sources are missing.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use netplumb::testing::TestNs;
use serde_json::{json, Value};

use super::tests::{host_veth, normalized, tc_state};

#[path = "../common/libcni_harness.rs"]
mod harness;

/// The Go client (built under `target/<profile>/cni-libcni-bw`).
fn client() -> &'static Path {
    harness::client("cni-libcni-bw")
}

/// Both plugins as a runtime installs them: `cni_bridge` and
/// `cni_bandwidth` named `bridge` and `bandwidth`, searched first.
fn our_bin_dirs() -> &'static str {
    static DIR: OnceLock<String> = OnceLock::new();
    DIR.get_or_init(|| {
        harness::plugin_dirs(
            "cni-libcni-bw",
            &[
                ("bridge", "cni_bridge", "NETPLUMB_CNI_BRIDGE_BIN"),
                ("bandwidth", "cni_bandwidth", "NETPLUMB_CNI_BANDWIDTH_BIN"),
            ],
        )
    })
}

/// The limits a runtime passes for a pod (bits/s and bits).
fn limits() -> Value {
    json!({"ingressRate": 8_000_000, "ingressBurst": 800_000, "egressRate": 16_000_000, "egressBurst": 1_600_000})
}

/// What one side produced: results and state, normalised.
#[derive(Debug, PartialEq)]
struct Outcome {
    add: Value,
    check: Value,
    state: Value,
    del: Value,
    after_del: Value,
}

/// ADD, CHECK, DEL of one pod through libcni with the list
/// `[bridge, bandwidth]`, `caps` as the runtime's capability arguments.
async fn run_side(ours: bool, tag: &str, caps: &Value) -> Outcome {
    let node = TestNs::new(&format!("lb{tag}n")).await;
    let pod = TestNs::new(&format!("lb{tag}p")).await;
    let dir = format!("/tmp/npbw-libcni-{}-{}", node.name(), std::process::id());
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let list = format!("{dir}/net.conflist");
    let conflist = json!({
        "cniVersion": "1.0.0",
        "name": "bwchain",
        "plugins": [
            {"type": "bridge", "bridge": "cni0", "isGateway": true,
             "ipam": {"type": "host-local", "subnet": "10.68.0.0/24", "dataDir": format!("{dir}/ipam")}},
            {"type": "bandwidth", "capabilities": {"bandwidth": true}},
        ],
    });
    std::fs::write(&list, conflist.to_string()).unwrap();
    let bin_dirs = if ours { our_bin_dirs().to_string() } else { "/usr/lib/cni".to_string() };
    let cni = |cmd: &str| -> Value {
        let out = Command::new("ip")
            .args(["netns", "exec", node.name()])
            .arg(client())
            .args(["-cmd", cmd, "-conflist", &list, "-id", "ctr1"])
            .args(["-netns", &format!("/run/netns/{}", pod.name())])
            .args(["-bindirs", &bin_dirs, "-cachedir", &format!("{dir}/cache")])
            .args(["-caps", &caps.to_string()])
            .output()
            .expect("run cnirun");
        let text = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str(text.trim()).unwrap_or_else(|_| {
            panic!("cnirun {cmd}: no JSON: {text} {}", String::from_utf8_lossy(&out.stderr))
        })
    };
    let add = cni("ADD");
    assert_eq!(add["ok"], true, "ADD ({}): {add}", if ours { "ours" } else { "reference" });
    let result = &add["result"];
    let veth = host_veth(result);
    let ifb = result["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["name"].as_str())
        .find(|n| n.starts_with("bwp"))
        .map(str::to_string);
    let state = match &ifb {
        Some(ifb) => tc_state(&node, &veth, ifb),
        None => json!({"veth_qdiscs": super::tests::tcj(&node, &["qdisc", "show", "dev", &veth])}),
    };
    let check = cni("CHECK");
    let check = json!({"ok": check["ok"], "code": check["code"], "msg": check["msg"]});
    let del = cni("DEL");
    let del = json!({"ok": del["ok"], "code": del["code"], "msg": del["msg"]});
    let links: Vec<Value> = serde_json::from_str::<Value>(&node.ip(&["-j", "link", "show"]))
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["ifname"].clone())
        .filter(|n| n != "cni0")
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    Outcome { add: normalized(result), check, state, del, after_del: json!(links) }
}

/// Chained after the bridge plugin, with the bandwidth capability: the same
/// result (the ifb device added to the interfaces), the same tbf qdiscs,
/// ifb device and redirect filter, CHECK passes, DEL removes the ifb; and
/// without the capability argument, nothing shaped on either side (where
/// CHECK differs: the reference crashes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libcni_bridge_then_bandwidth() {
    let _serial = super::tests::SERIAL.lock().await;
    client();
    our_bin_dirs();
    let caps = json!({"bandwidth": limits()});
    let r = run_side(false, "rc", &caps).await;
    let o = run_side(true, "oc", &caps).await;
    assert_eq!(o.add, r.add, "ADD results (ours, then reference)");
    let ifs: Vec<&str> =
        o.add["interfaces"].as_array().unwrap().iter().filter_map(|i| i["name"].as_str()).collect();
    assert!(ifs.iter().any(|n| n.starts_with("bwp")), "no ifb in the result: {ifs:?}");
    assert_eq!(o.state, r.state, "tc state\nours {:#}\nreference {:#}", o.state, r.state);
    let tbf = &o.state["veth_qdiscs"][0];
    assert_eq!(
        (tbf["kind"].as_str(), tbf["options"]["rate"].as_u64()),
        (Some("tbf"), Some(1_000_000)),
        "{tbf}"
    );
    let tbf = &o.state["ifb_qdiscs"][0];
    assert_eq!(
        (tbf["kind"].as_str(), tbf["options"]["rate"].as_u64()),
        (Some("tbf"), Some(2_000_000)),
        "{tbf}"
    );
    assert_eq!(o.check, r.check, "CHECK");
    assert_eq!(o.check["ok"], true);
    assert_eq!(o.del, r.del, "DEL");
    assert_eq!(o.after_del, r.after_del, "links left after DEL");
    assert_eq!(o.after_del, json!(["lo"]), "DEL left {}", o.after_del);

    // No capability argument: the bandwidth plugin passes the result on.
    let r = run_side(false, "rn", &json!({})).await;
    let o = run_side(true, "on", &json!({})).await;
    assert_eq!(o.add, r.add, "ADD results without bandwidth");
    assert_eq!(o.state, r.state, "tc state without bandwidth");
    assert_eq!(o.state["veth_qdiscs"][0]["kind"], "noqueue", "{:#}", o.state);
    // CHECK without limits: the reference 1.1.1 crashes (a nil pointer in
    // its cmdCheck, which reads the missing bandwidth settings); this
    // plugin has nothing to check and passes.
    assert_eq!(o.check["ok"], true, "{}", o.check);
    let crash = r.check["msg"].as_str().unwrap_or("");
    assert!(
        r.check["ok"] == false && crash.contains("nil pointer dereference"),
        "reference CHECK: {}",
        r.check
    );
    assert_eq!(o.del, r.del, "DEL without bandwidth");
}
