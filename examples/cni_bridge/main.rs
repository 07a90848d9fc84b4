//! A CNI plugin (spec 1.0.0 and 1.1.0) for a bridge network with a
//! host-local style IP allocator, built on netplumb: what a CNI project
//! would write with it. It accepts the configuration the reference `bridge`
//! plugin accepts for the common fields (`bridge`, `isGateway`,
//! `isDefaultGateway`, `ipMasq`, `hairpinMode`, `mtu`, `mac`, and `ipam` of
//! type `host-local` with `ranges`/`subnet`, `gateway`, `routes`,
//! `dataDir`), and prints the spec's result or error JSON.
//!
//! Build it, then call it the way a runtime does (as root):
//!
//! ```sh
//! cargo build --example cni_bridge
//! CNI_COMMAND=ADD CNI_CONTAINERID=c1 CNI_NETNS=/run/netns/pod1 CNI_IFNAME=eth0 \
//!   CNI_PATH=/usr/lib/cni target/debug/examples/cni_bridge < net.conf
//! ```
//!
//! Commands: ADD, DEL, CHECK, VERSION, STATUS, GC. The plugin works in the
//! namespace it is started in (the node's); `ip netns exec NODE ...` runs
//! it for a node that is itself a namespace.

mod config;
mod ipam;
mod masq;
mod plugin;

use std::io::Read;

use config::{CniError, NetConf, SUPPORTED_VERSIONS};
use netplumb::netns::Netns;
use serde_json::{json, Value};

/// One invocation: the CNI_* environment, read once.
#[derive(Clone, Debug, Default)]
struct Call {
    command: String,
    container_id: Option<String>,
    netns: Option<String>,
    ifname: Option<String>,
}

impl Call {
    fn from_env() -> Call {
        Call {
            command: std::env::var("CNI_COMMAND").unwrap_or_default(),
            container_id: std::env::var("CNI_CONTAINERID").ok(),
            netns: std::env::var("CNI_NETNS").ok(),
            ifname: std::env::var("CNI_IFNAME").ok(),
        }
    }
}

fn need(v: &Option<String>, name: &str) -> Result<String, CniError> {
    v.clone()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| CniError::new(4, format!("missing environment variable {name}")))
}

fn validate_container_id(id: &str) -> Result<(), CniError> {
    let ok = !id.is_empty()
        && id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(CniError::new(4, format!("invalid CNI_CONTAINERID {id:?}")))
    }
}

/// Run one command with `host` as the node's namespace.
async fn run(host: &Netns, call: &Call, stdin: &[u8]) -> Result<Option<Value>, CniError> {
    let command = call.command.as_str();
    if command == "VERSION" {
        return Ok(Some(json!({"cniVersion": "1.1.0", "supportedVersions": SUPPORTED_VERSIONS})));
    }
    let conf = NetConf::parse(stdin)?;
    match command {
        "ADD" => {
            let id = need(&call.container_id, "CNI_CONTAINERID")?;
            validate_container_id(&id)?;
            let netns_path = need(&call.netns, "CNI_NETNS")?;
            let ifname = need(&call.ifname, "CNI_IFNAME")?;
            netplumb::rtnl::validate_ifname("CNI_IFNAME", &ifname)
                .map_err(|e| CniError::new(4, e.to_string()))?;
            let container = Netns::open(&netns_path)
                .map_err(|e| CniError::new(3, format!("CNI_NETNS {netns_path}: {e}")))?;
            let args = plugin::AddArgs { container_id: &id, container: &container, ifname: &ifname };
            let a = plugin::add(host, &conf, &args).await?;
            if conf.ip_masq {
                if let Err(e) = masq::add(host, &conf, &id, &ifname, &a.ips).await {
                    let _ = plugin::del(&conf, &id, &netns_path, &ifname).await;
                    return Err(e);
                }
            }
            Ok(Some(plugin::result_json(&conf, &netns_path, &a)))
        }
        "DEL" => {
            let id = need(&call.container_id, "CNI_CONTAINERID")?;
            let ifname = need(&call.ifname, "CNI_IFNAME")?;
            let netns_path = call.netns.clone().unwrap_or_default();
            if conf.ip_masq {
                masq::del(host, &conf, &id, &ifname).await?;
            }
            plugin::del(&conf, &id, &netns_path, &ifname).await?;
            Ok(None)
        }
        "CHECK" => {
            let id = need(&call.container_id, "CNI_CONTAINERID")?;
            let netns_path = need(&call.netns, "CNI_NETNS")?;
            let ifname = need(&call.ifname, "CNI_IFNAME")?;
            plugin::check(host, &conf, &netns_path, &ifname).await?;
            if conf.ip_masq {
                masq::check(host, &conf, &id, &ifname).await?;
            }
            Ok(None)
        }
        "STATUS" => {
            // Ready when the allocator's store is usable.
            ipam::Store::open(&conf.ipam, &conf.name).map_err(|(_, m)| CniError::new(50, m))?;
            Ok(None)
        }
        "GC" => {
            // Release every address whose (container, ifname) is not in
            // cni.dev/valid-attachments.
            let valid: Vec<(String, String)> = serde_json::from_slice::<Value>(stdin)
                .ok()
                .and_then(|v| v.get("cni.dev/valid-attachments").and_then(|a| a.as_array().cloned()))
                .unwrap_or_default()
                .iter()
                .map(|a| {
                    (
                        a["containerID"].as_str().unwrap_or("").to_string(),
                        a["ifname"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect();
            let store = ipam::Store::open(&conf.ipam, &conf.name).map_err(|(c, m)| CniError::new(c, m))?;
            for (ip, owner) in store.all() {
                let mut lines = owner.lines().map(str::trim);
                let id = lines.next().unwrap_or("").to_string();
                let ifn = lines.next().unwrap_or("").to_string();
                if !valid.iter().any(|(c, i)| *c == id && (i.is_empty() || *i == ifn)) {
                    store.remove(ip);
                }
            }
            Ok(None)
        }
        other => Err(CniError::new(4, format!("unknown CNI_COMMAND {other:?}"))),
    }
}

const USAGE: &str = "usage: CNI_COMMAND=ADD|DEL|CHECK|VERSION|STATUS|GC CNI_CONTAINERID=ID CNI_NETNS=PATH \
                     CNI_IFNAME=NAME CNI_PATH=DIRS cni_bridge < netconf.json
A CNI plugin: driven by the CNI_* environment and the network configuration on stdin, as the CNI spec says; it takes no options.";

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // A runtime passes no arguments: --help prints the usage, anything else
    // is refused before the environment or stdin is read.
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("-h" | "--help") => {
            println!("{USAGE}");
            return;
        }
        Some(other) => {
            eprintln!("cni_bridge: unknown option {other:?}\n{USAGE}");
            std::process::exit(2);
        }
    }
    let call = Call::from_env();
    let mut stdin = Vec::new();
    if call.command != "VERSION" {
        let _ = std::io::stdin().read_to_end(&mut stdin);
    }
    let version = serde_json::from_slice::<Value>(&stdin)
        .ok()
        .and_then(|v| v["cniVersion"].as_str().map(str::to_string))
        .unwrap_or_else(|| "1.1.0".to_string());
    let result = match Netns::current() {
        Ok(host) => run(&host, &call, &stdin).await,
        Err(e) => Err(CniError::new(999, e.to_string())),
    };
    match result {
        Ok(Some(v)) => println!("{}", serde_json::to_string_pretty(&v).expect("json")),
        Ok(None) => {}
        Err(e) => {
            println!("{}", serde_json::to_string_pretty(&e.to_json(&version)).expect("json"));
            std::process::exit(1);
        }
    }
}

// The end-to-end tests need the harness (feature test-support).
#[cfg(all(test, feature = "test-support"))]
mod tests;
