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

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use netplumb::testing::TestNs;
use serde_json::{json, Value};

use super::tests::{host_veth, normalized, tc_state};

/// The directory the example's test binary was built in (`target/debug`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.parent().and_then(Path::parent).expect("target/<profile>/examples/<exe>").to_path_buf()
}

/// A prebuilt binary named by `var`, which must exist when set: the Linux
/// 6.1 guest of CI (`.ci/kernel-6.1.sh`) cannot run cargo (its cargo home
/// is read-only) and should not compile under software emulation, so the
/// host builds the plugins and the client with the same commands as below
/// and names them in `NETPLUMB_LIBCNI_CLIENT`, `NETPLUMB_CNI_BRIDGE_BIN`
/// and `NETPLUMB_CNI_BANDWIDTH_BIN`.
fn prebuilt(var: &str) -> Option<PathBuf> {
    let p = PathBuf::from(std::env::var_os(var)?);
    assert!(p.is_file(), "{var}={} is not a file", p.display());
    Some(p)
}

/// Build the Go client once; panics with what to install when it cannot.
fn client() -> &'static Path {
    static CLIENT: OnceLock<PathBuf> = OnceLock::new();
    CLIENT.get_or_init(|| {
        if let Some(p) = prebuilt("NETPLUMB_LIBCNI_CLIENT") {
            return p;
        }
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cni_bridge/cnirun/main.go");
        let gopath = "/usr/share/gocode";
        assert!(
            Path::new(gopath).join("src/github.com/containernetworking/cni/libcni").is_dir(),
            "libcni sources missing: apt-get install golang-github-appc-cni-dev"
        );
        let out_dir = profile_dir().join("cni-libcni-bw");
        std::fs::create_dir_all(&out_dir).unwrap();
        let out = out_dir.join("cnirun");
        let st = Command::new("go")
            .args(["build", "-o"])
            .arg(&out)
            .arg(&src)
            .env("GO111MODULE", "off")
            .env("GOPATH", gopath)
            .env("GOCACHE", out_dir.join("gocache"))
            .env("CGO_ENABLED", "0")
            .env("GOFLAGS", "")
            .env("GOPROXY", "off")
            .status()
            .expect("run `go` (apt-get install golang-go golang-github-appc-cni-dev)");
        assert!(st.success(), "go build of {} failed", src.display());
        out
    })
}

/// Both plugins as a runtime installs them: the examples' binaries (built
/// here with cargo, as a user would) named `bridge` and `bandwidth` in a
/// directory searched before /usr/lib/cni.
fn our_bin_dirs() -> &'static str {
    static DIR: OnceLock<String> = OnceLock::new();
    DIR.get_or_init(|| {
        let profile = profile_dir();
        let bins = [
            ("bridge", prebuilt("NETPLUMB_CNI_BRIDGE_BIN")),
            ("bandwidth", prebuilt("NETPLUMB_CNI_BANDWIDTH_BIN")),
        ];
        if bins.iter().any(|(_, p)| p.is_none()) {
            let target = profile.parent().expect("target dir");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut cmd = Command::new(cargo);
            cmd.args([
                "build",
                "--quiet",
                "--all-features",
                "--example",
                "cni_bridge",
                "--example",
                "cni_bandwidth",
            ])
            .arg("--manifest-path")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .arg("--target-dir")
            .arg(target);
            if profile.file_name().and_then(|n| n.to_str()) == Some("release") {
                cmd.arg("--release");
            }
            let st = cmd.status().expect("run cargo");
            assert!(st.success(), "cargo build --example cni_bridge --example cni_bandwidth failed");
        }
        let dir = profile.join("cni-libcni-bw/bin");
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bin) in bins {
            let bin = bin.unwrap_or_else(|| profile.join("examples").join(format!("cni_{name}")));
            let link = dir.join(name);
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(bin, &link).unwrap();
        }
        format!("{}:/usr/lib/cni", dir.display())
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
