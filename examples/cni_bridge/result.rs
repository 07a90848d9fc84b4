//! The success result of ADD, in the format of the configuration's spec
//! version: 0.3.0, 0.3.1 and 0.4.0 results carry `ips[].version`; 1.0.0 and
//! 1.1.0 results do not. Empty `ips` and `routes` are left out and `dns`
//! holds only the spec's four keys, as the reference plugin prints them.

use serde_json::{json, Map, Value};

use crate::cni::attach::Attachment;
use crate::cni::config::NetConf;

/// The spec's DNS object from the configuration's `dns` (only the spec's
/// keys, empty ones left out; `{}` when there is none).
pub fn dns(conf: &NetConf) -> Value {
    let mut out = Map::new();
    if let Some(Value::Object(d)) = &conf.dns {
        for k in ["nameservers", "domain", "search", "options"] {
            match d.get(k) {
                Some(Value::String(s)) if !s.is_empty() => {
                    out.insert(k.into(), Value::String(s.clone()));
                }
                Some(Value::Array(a)) if !a.is_empty() => {
                    out.insert(k.into(), Value::Array(a.clone()));
                }
                _ => {}
            }
        }
    }
    Value::Object(out)
}

/// The result JSON for an attachment.
pub fn result_json(conf: &NetConf, netns_path: &str, a: &Attachment) -> Value {
    let ips: Vec<Value> = a
        .ips
        .iter()
        .map(|ip| {
            let mut v =
                json!({"interface": 2, "address": ip.address.to_string(), "gateway": ip.gateway.to_string()});
            if conf.is_pre_1_0() {
                v["version"] = json!(if ip.address.addr().is_ipv4() { "4" } else { "6" });
            }
            v
        })
        .collect();
    let routes: Vec<Value> = a
        .routes
        .iter()
        .map(|(d, g, _)| match g {
            Some(g) => json!({"dst": d.to_string(), "gw": g.to_string()}),
            None => json!({"dst": d.to_string()}),
        })
        .collect();
    let mut r = json!({
        "cniVersion": conf.cni_version,
        "interfaces": [
            {"name": a.bridge.0, "mac": a.bridge.2.to_string()},
            {"name": a.host_veth.0, "mac": a.host_veth.2.to_string()},
            {"name": a.container_if.0, "mac": a.container_if.2.to_string(), "sandbox": netns_path},
        ],
        "dns": dns(conf),
    });
    if let Some((name, mac)) = &a.vlan_if {
        // After the container's, as the reference appends it.
        r["interfaces"].as_array_mut().expect("array").push(json!({"name": name, "mac": mac.to_string()}));
    }
    if !ips.is_empty() {
        r["ips"] = Value::Array(ips);
    }
    if !routes.is_empty() {
        r["routes"] = Value::Array(routes);
    }
    r
}
