//! A chained CNI plugin (spec 0.3.0 to 1.1.0: ADD, DEL, CHECK, VERSION) that
//! shapes a pod's traffic as the reference `bandwidth` plugin
//! (containernetworking/plugins v1.1.1) does, built on netplumb's `tc`:
//!
//! - `runtimeConfig.bandwidth.ingressRate`/`ingressBurst` (bits/s, bits;
//!   traffic into the pod): a `tbf` root qdisc `1:` on the pod's host-side
//!   veth;
//! - `egressRate`/`egressBurst` (traffic out of the pod): an `ifb` device
//!   `bwp<sha512(name + containerID)>` (15 characters) with the host veth's
//!   MTU, an `ingress` qdisc on the host veth, a `u32` filter (prio 1,
//!   protocol all, match-all, flowid 1:1) redirecting everything to the ifb
//!   with `mirred`, and the same `tbf` on the ifb.
//!
//! The `tbf` is the reference plugin's: rate = rate/8 bytes/s, bucket
//! (`buffer`) = burst/8 bytes as scheduler ticks, limit = what the rate
//! sends in 25 ms plus the burst. The ifb device is added to the result's
//! interfaces. The same settings may also be given at the top level of
//! the configuration (`ingressRate` ...), which wins over
//! `runtimeConfig`, as in the reference.
//!
//! ```sh
//! cargo build --example cni_bandwidth
//! # chained after a main plugin, with its result as prevResult:
//! CNI_COMMAND=ADD CNI_CONTAINERID=c1 CNI_NETNS=/run/netns/pod1 CNI_IFNAME=eth0 \
//!   target/debug/examples/cni_bandwidth < bandwidth.conf
//! ```
//!
//! The `tc` equivalent of an ADD with both directions:
//!
//! ```sh
//! tc qdisc add dev VETH root handle 1: tbf rate R burst B limit L   # ingress
//! ip link add bwpXXXXXXXXXXXX mtu MTU up type ifb                   # egress
//! tc qdisc add dev VETH handle ffff: ingress
//! tc filter add dev VETH parent ffff: protocol all prio 1 u32 match u32 0 0 \
//!   flowid 1:1 action mirred egress redirect dev bwpXXXXXXXXXXXX \
//!   action mirred egress redirect dev bwpXXXXXXXXXXXX pass
//! tc qdisc add dev bwpXXXXXXXXXXXX root handle 1: tbf rate R burst B limit L
//! ```
//!
//! (The reference's filter carries two mirred actions — its netlink
//! library prepends one for the filter's redirect index to the one it is
//! given — and so does this plugin's, so the kernel state is the same.)
//!
//! One deliberate difference: CHECK fails when a configured direction has
//! no matching `tbf`; the reference stops at the first qdisc that is not a
//! `tbf` (a veth's `noqueue`) and passes.

#[path = "../common/cni/mod.rs"]
pub mod cni;
mod shaping;

use cni::config::{
    CniError, ERR_DECODING, ERR_INCOMPATIBLE_VERSION, ERR_INTERNAL, ERR_INVALID_ENV, SUPPORTED_VERSIONS,
};
use cni::skel::Call;
use netplumb::netns::Netns;
use serde_json::{json, Value};

/// A variable [`Call::require`] has checked.
fn need(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

/// The bandwidth settings (`BandwidthEntry`): rates in bits/s, bursts in
/// bits; 0 is "no limit".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Bandwidth {
    ingress_rate: u64,
    ingress_burst: u64,
    egress_rate: u64,
    egress_burst: u64,
}

impl Bandwidth {
    fn from_json(v: &Value) -> Result<Option<Bandwidth>, CniError> {
        let keys = ["ingressRate", "ingressBurst", "egressRate", "egressBurst"];
        if !v.is_object() || !keys.iter().any(|k| v.get(k).is_some()) {
            return Ok(None);
        }
        let get = |k: &str| -> Result<u64, CniError> {
            match v.get(k) {
                None | Some(Value::Null) => Ok(0),
                Some(x) => x.as_u64().ok_or_else(|| {
                    CniError::new(ERR_INTERNAL, format!("failed to parse network configuration: {k} must be a non-negative integer, got {x}"))
                }),
            }
        };
        Ok(Some(Bandwidth {
            ingress_rate: get(keys[0])?,
            ingress_burst: get(keys[1])?,
            egress_rate: get(keys[2])?,
            egress_burst: get(keys[3])?,
        }))
    }

    fn is_zero(&self) -> bool {
        *self == Bandwidth::default()
    }
}

/// The rate/burst rules of the reference plugin, its messages included.
fn validate_rate_and_burst(rate: u64, burst: u64) -> Result<(), CniError> {
    let e = |m: &str| Err(CniError::new(ERR_INTERNAL, m));
    match (rate, burst) {
        (r, 0) if r != 0 => e("if rate is set, burst must also be set"),
        (0, b) if b != 0 => e("if burst is set, rate must also be set"),
        (_, b) if b / 8 >= u32::MAX as u64 => e("burst cannot be more than 4GB"),
        _ => Ok(()),
    }
}

/// The parts of the configuration this plugin reads.
#[derive(Clone, Debug)]
struct Conf {
    version: String,
    name: String,
    bandwidth: Option<Bandwidth>,
    prev_result: Option<Value>,
}

impl Conf {
    fn parse(stdin: &[u8]) -> Result<Conf, CniError> {
        let v: Value = serde_json::from_slice(stdin)
            .map_err(|e| CniError::new(ERR_DECODING, format!("error unmarshall network config: {e}")))?;
        let version = v["cniVersion"].as_str().unwrap_or("0.1.0").to_string();
        if !SUPPORTED_VERSIONS.contains(&version.as_str()) {
            return Err(CniError::new(ERR_INCOMPATIBLE_VERSION, "incompatible CNI versions")
                .details(format!("config is {version:?}, plugin supports {SUPPORTED_VERSIONS:?}")));
        }
        let name = v["name"].as_str().unwrap_or("").to_string();
        // Top-level settings win over runtimeConfig, as in the reference.
        let bandwidth = match Bandwidth::from_json(&v)? {
            Some(b) => Some(b),
            None => Bandwidth::from_json(&v["runtimeConfig"]["bandwidth"])?,
        };
        if let Some(b) = bandwidth {
            validate_rate_and_burst(b.ingress_rate, b.ingress_burst)?;
            validate_rate_and_burst(b.egress_rate, b.egress_burst)?;
        }
        let prev_result = v.get("prevResult").filter(|p| !p.is_null()).cloned();
        Ok(Conf { version, name, bandwidth, prev_result })
    }
}

fn version_at_least(v: &str, min: &str) -> bool {
    let parse = |s: &str| s.split('.').map(|p| p.parse::<u32>().unwrap_or(0)).collect::<Vec<_>>();
    parse(v) >= parse(min)
}

/// Run one command with `host` as the node's namespace. The environment is
/// checked first, with the reference `skel`'s codes; the plugin's own
/// errors are code 999, as the reference plugin's are.
async fn run(host: &Netns, call: &Call, stdin: &[u8]) -> Result<Option<Value>, CniError> {
    call.require()?;
    if call.command == "VERSION" {
        return Ok(Some(json!({"cniVersion": "1.1.0", "supportedVersions": SUPPORTED_VERSIONS})));
    }
    if !matches!(call.command.as_str(), "ADD" | "DEL" | "CHECK") {
        return Err(CniError::new(ERR_INVALID_ENV, format!("unknown CNI_COMMAND: {}", call.command)));
    }
    call.validate()?;
    let conf = Conf::parse(stdin)?;
    match call.command.as_str() {
        "ADD" => {
            let id = need(&call.container_id);
            let netns = need(&call.netns);
            let ifname = need(&call.ifname);
            let bw = conf.bandwidth.filter(|b| !b.is_zero());
            let Some(bw) = bw else {
                return Ok(Some(pass_through(&conf)));
            };
            let mut result = conf
                .prev_result
                .clone()
                .ok_or_else(|| CniError::new(ERR_INTERNAL, "must be called as chained plugin"))?;
            let container = Netns::open(&netns)
                .map_err(|e| CniError::new(ERR_INTERNAL, format!("failed to open netns {netns:?}: {e}")))?;
            let host_if = shaping::host_interface(host, &container, &ifname, &result).await?;
            if let Some(ifb) = shaping::add(host, &host_if, &conf.name, &id, &bw).await? {
                if let Some(ifs) = result.get_mut("interfaces").and_then(Value::as_array_mut) {
                    ifs.push(json!({"name": ifb.0, "mac": ifb.1}));
                } else {
                    result["interfaces"] = json!([{"name": ifb.0, "mac": ifb.1}]);
                }
            }
            result["cniVersion"] = Value::String(conf.version.clone());
            Ok(Some(result))
        }
        "DEL" => {
            let id = need(&call.container_id);
            shaping::del(host, &conf.name, &id).await?;
            Ok(None)
        }
        "CHECK" => {
            if !version_at_least(&conf.version, "0.4.0") {
                return Err(CniError::new(ERR_INCOMPATIBLE_VERSION, "config version does not allow CHECK"));
            }
            let id = need(&call.container_id);
            let netns = need(&call.netns);
            let ifname = need(&call.ifname);
            let prev = conf
                .prev_result
                .clone()
                .ok_or_else(|| CniError::new(ERR_INTERNAL, "must be called as chained plugin"))?;
            let container = Netns::open(&netns)
                .map_err(|e| CniError::new(ERR_INTERNAL, format!("failed to open netns {netns:?}: {e}")))?;
            let host_if = shaping::host_interface(host, &container, &ifname, &prev).await?;
            let bw = conf.bandwidth.unwrap_or_default();
            shaping::check(host, &host_if, &conf.name, &id, &bw).await?;
            Ok(None)
        }
        _ => unreachable!("checked above"),
    }
}

/// No bandwidth to apply: the previous result, as the configured version.
fn pass_through(conf: &Conf) -> Value {
    match &conf.prev_result {
        Some(p) => {
            let mut p = p.clone();
            p["cniVersion"] = Value::String(conf.version.clone());
            p
        }
        None => json!({"cniVersion": conf.version, "dns": {}}),
    }
}

const USAGE: &str = "usage: CNI_COMMAND=ADD|DEL|CHECK|VERSION CNI_CONTAINERID=ID CNI_NETNS=PATH \
                     CNI_IFNAME=NAME CNI_PATH=DIRS cni_bandwidth < netconf.json
A chained CNI plugin (runtimeConfig.bandwidth): driven by the CNI_* environment and the network configuration on stdin, as the CNI spec says; it takes no options.";

#[tokio::main(flavor = "current_thread")]
async fn main() {
    cni::skel::main(
        "cni_bandwidth",
        USAGE,
        |host, call, stdin| async move { run(&host, &call, &stdin).await },
    )
    .await
}

#[cfg(all(test, feature = "test-support"))]
mod libcni;
#[cfg(all(test, feature = "test-support"))]
mod tests;
