//! A CNI plugin (spec 0.3.0 to 1.1.0) for a bridge network with a
//! host-local style IP allocator, built on netplumb: what a CNI project
//! would write with it. It reads the configuration the reference `bridge`
//! plugin reads — every key of it is either carried out or refused with a
//! CNI error naming the key (see README.md next to this file) — and prints
//! the spec's result or error JSON, with the reference's error codes.
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

#[path = "../common/cni/mod.rs"]
pub mod cni;

mod check;
mod masq;
mod result;

use cni::config::{
    CniError, NetConf, ERR_INCOMPATIBLE_VERSION, ERR_INTERNAL, ERR_INVALID_ENV, SUPPORTED_VERSIONS,
};
use cni::skel::Call;
use cni::{attach, ipam};
use netplumb::netns::Netns;
use serde_json::{json, Value};

fn get(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

/// Run one command with `host` as the node's namespace.
async fn run(host: &Netns, call: &Call, stdin: &[u8]) -> Result<Option<Value>, CniError> {
    call.require()?;
    let command = call.command.as_str();
    if command == "VERSION" {
        return Ok(Some(json!({"cniVersion": "1.1.0", "supportedVersions": SUPPORTED_VERSIONS})));
    }
    if !matches!(command, "ADD" | "DEL" | "CHECK" | "STATUS" | "GC") {
        return Err(CniError::new(ERR_INVALID_ENV, format!("unknown CNI_COMMAND: {command}")));
    }
    call.validate()?;
    let conf = NetConf::parse_with_args(stdin, call.args.as_deref().unwrap_or(""))?;
    let id = get(&call.container_id);
    let ifname = get(&call.ifname);
    let netns_path = get(&call.netns);
    match command {
        "ADD" => {
            let container = Netns::open(&netns_path).map_err(|e| {
                CniError::new(ERR_INTERNAL, format!("failed to open netns {netns_path:?}: {e}"))
            })?;
            let args = attach::AddArgs { container_id: &id, container: &container, ifname: &ifname };
            let a = attach::add(host, &conf, &args).await?;
            if conf.ip_masq && !a.ips.is_empty() {
                if let Err(e) = masq::add(host, &conf, &id, &ifname, &a.ips).await {
                    let _ = attach::del(host, &conf, &id, &netns_path, &ifname).await;
                    return Err(e);
                }
            }
            Ok(Some(result::result_json(&conf, &netns_path, &a)))
        }
        "DEL" => {
            if conf.ip_masq {
                masq::del(host, &conf, &id, &ifname).await?;
            }
            attach::del(host, &conf, &id, &netns_path, &ifname).await?;
            Ok(None)
        }
        "CHECK" => {
            if conf.is_pre_1_0() && conf.cni_version.as_str() < "0.4.0" {
                return Err(CniError::new(ERR_INCOMPATIBLE_VERSION, "config version does not allow CHECK"));
            }
            check::check(host, &conf, &id, &netns_path, &ifname).await?;
            if conf.ip_masq && conf.ipam.is_some() {
                masq::check(host, &conf, &id, &ifname).await?;
            }
            Ok(None)
        }
        "STATUS" => {
            // Ready when the allocator's store is usable.
            if let Some(i) = &conf.ipam {
                ipam::Store::open(i, &conf.name).map_err(|(_, m)| CniError::new(50, m))?;
            }
            Ok(None)
        }
        _ => {
            // GC: release every address whose (container, ifname) is not
            // in cni.dev/valid-attachments.
            let Some(i) = &conf.ipam else { return Ok(None) };
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
            let store = ipam::Store::open(i, &conf.name).map_err(|(c, m)| CniError::new(c, m))?;
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
    }
}

const USAGE: &str = "usage: CNI_COMMAND=ADD|DEL|CHECK|VERSION|STATUS|GC CNI_CONTAINERID=ID CNI_NETNS=PATH \
                     CNI_IFNAME=NAME CNI_PATH=DIRS cni_bridge < netconf.json
A CNI plugin: driven by the CNI_* environment and the network configuration on stdin, as the CNI spec says; it takes no options.";

#[tokio::main(flavor = "current_thread")]
async fn main() {
    cni::skel::main("cni_bridge", USAGE, |host, call, stdin| async move { run(&host, &call, &stdin).await })
        .await
}

// The end-to-end tests need the harness (feature test-support).
#[cfg(all(test, feature = "test-support"))]
mod libcni_client;
#[cfg(all(test, feature = "test-support"))]
mod tests;
