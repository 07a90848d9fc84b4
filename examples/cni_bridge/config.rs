//! The network configuration the plugin reads on stdin: the fields the
//! reference `bridge` + `host-local` plugins accept in common use.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;

/// CNI versions this plugin speaks.
pub const SUPPORTED_VERSIONS: &[&str] = &["0.4.0", "1.0.0", "1.1.0"];

/// A CNI error: the spec's code and message (and optional details).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CniError {
    /// Spec error code: 1 incompatible version, 3 unknown container,
    /// 4 invalid environment, 6 decode failure, 7 invalid network config,
    /// 11 try again later, 100+ plugin specific, 999 generic.
    pub code: u32,
    /// Short message.
    pub msg: String,
    /// Longer details.
    pub details: String,
}

impl CniError {
    /// An error with a code and message.
    pub fn new(code: u32, msg: impl Into<String>) -> CniError {
        CniError { code, msg: msg.into(), details: String::new() }
    }

    /// With details.
    pub fn details(mut self, d: impl Into<String>) -> CniError {
        self.details = d.into();
        self
    }

    /// The spec's error JSON.
    pub fn to_json(&self, version: &str) -> Value {
        let mut v = serde_json::json!({"cniVersion": version, "code": self.code, "msg": self.msg});
        if !self.details.is_empty() {
            v["details"] = Value::String(self.details.clone());
        }
        v
    }
}

impl From<netplumb::Error> for CniError {
    fn from(e: netplumb::Error) -> Self {
        let code = if matches!(e, netplumb::Error::Invalid(_)) { 7 } else { 999 };
        CniError::new(code, e.to_string())
    }
}

/// One address range of a range set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Range {
    /// The subnet.
    pub subnet: IpNet,
    /// First allocatable address.
    pub range_start: Option<IpAddr>,
    /// Last allocatable address.
    pub range_end: Option<IpAddr>,
    /// The gateway (default: the subnet's first address).
    pub gateway: Option<IpAddr>,
}

/// A route to add in the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteConf {
    /// Destination.
    pub dst: IpNet,
    /// Gateway (default: the range's gateway).
    pub gw: Option<IpAddr>,
}

/// The `ipam` section (type `host-local`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpamConfig {
    /// Range sets: one address is allocated from each.
    pub ranges: Vec<Vec<Range>>,
    /// Routes for the container.
    pub routes: Vec<RouteConf>,
    /// Where allocations are stored.
    pub data_dir: String,
}

/// The whole network configuration.
#[derive(Clone, Debug)]
pub struct NetConf {
    /// `cniVersion`.
    pub cni_version: String,
    /// Network name.
    pub name: String,
    /// Bridge name (default `cni0`).
    pub bridge: String,
    /// Give the bridge the gateway address.
    pub is_gateway: bool,
    /// Default route in the container via the gateway (implies isGateway).
    pub is_default_gateway: bool,
    /// Masquerade traffic leaving the subnet.
    pub ip_masq: bool,
    /// Hairpin mode on the host veth port.
    pub hairpin_mode: bool,
    /// MTU of the bridge and veth pair.
    pub mtu: Option<u32>,
    /// Pinned bridge MAC (`mac` in the config), if any.
    pub bridge_mac: Option<[u8; 6]>,
    /// IPAM.
    pub ipam: IpamConfig,
    /// `prevResult` (CHECK, DEL).
    pub prev_result: Option<Value>,
}

fn bad(field: &str, why: impl std::fmt::Display) -> CniError {
    CniError::new(7, format!("invalid network config: {field}: {why}"))
}

fn get_bool(v: &Value, field: &str) -> Result<bool, CniError> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(bad(field, format!("expected true or false, got {other}"))),
    }
}

fn get_str<'a>(v: &'a Value, field: &str) -> Result<Option<&'a str>, CniError> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(bad(field, format!("expected a string, got {other}"))),
    }
}

fn parse_ip(field: &str, s: &str) -> Result<IpAddr, CniError> {
    s.parse().map_err(|_| bad(field, format!("{s:?} is not an IP address")))
}

fn parse_net(field: &str, s: &str) -> Result<IpNet, CniError> {
    s.parse::<IpNet>().map(|n| n.trunc()).map_err(|_| bad(field, format!("{s:?} is not a CIDR prefix")))
}

fn parse_mac(field: &str, s: &str) -> Result<[u8; 6], CniError> {
    let parts: Vec<_> = s.split(':').collect();
    if parts.len() != 6 {
        return Err(bad(field, format!("{s:?} is not a MAC address")));
    }
    let mut m = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        m[i] = u8::from_str_radix(p, 16).map_err(|_| bad(field, format!("{s:?} is not a MAC address")))?;
    }
    Ok(m)
}

fn parse_range(field: &str, v: &Value) -> Result<Range, CniError> {
    let subnet = parse_net(
        &format!("{field}.subnet"),
        get_str(v, "subnet")?.ok_or_else(|| bad(field, "subnet missing"))?,
    )?;
    let opt_ip = |k: &str| -> Result<Option<IpAddr>, CniError> {
        get_str(v, k)?.map(|s| parse_ip(&format!("{field}.{k}"), s)).transpose()
    };
    let r = Range {
        subnet,
        range_start: opt_ip("rangeStart")?,
        range_end: opt_ip("rangeEnd")?,
        gateway: opt_ip("gateway")?,
    };
    for (k, ip) in [("rangeStart", r.range_start), ("rangeEnd", r.range_end), ("gateway", r.gateway)] {
        if let Some(ip) = ip {
            if !subnet.contains(&ip) {
                return Err(bad(&format!("{field}.{k}"), format!("{ip} is outside {subnet}")));
            }
        }
    }
    Ok(r)
}

impl NetConf {
    /// Parse and check a configuration.
    pub fn parse(text: &[u8]) -> Result<NetConf, CniError> {
        let v: Value = serde_json::from_slice(text)
            .map_err(|e| CniError::new(6, format!("decoding network config: {e}")))?;
        let cni_version = get_str(&v, "cniVersion")?.unwrap_or("0.1.0").to_string();
        if !SUPPORTED_VERSIONS.contains(&cni_version.as_str()) {
            return Err(CniError::new(1, format!("incompatible CNI version {cni_version}"))
                .details(format!("supported: {}", SUPPORTED_VERSIONS.join(", "))));
        }
        let name = get_str(&v, "name")?.ok_or_else(|| bad("name", "missing"))?.to_string();
        if name.is_empty() || name.contains('/') {
            return Err(bad("name", format!("{name:?} is not a usable network name")));
        }
        let bridge = get_str(&v, "bridge")?.unwrap_or("cni0").to_string();
        let is_default_gateway = get_bool(&v, "isDefaultGateway")?;
        let is_gateway = get_bool(&v, "isGateway")? || is_default_gateway;
        let mtu = match v.get("mtu") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => match n.as_u64() {
                Some(m) if (68..=65535).contains(&m) => Some(m as u32),
                _ => return Err(bad("mtu", format!("{n} is outside 68..=65535"))),
            },
            Some(o) => return Err(bad("mtu", format!("expected a number, got {o}"))),
        };
        let bridge_mac = get_str(&v, "mac")?.map(|s| parse_mac("mac", s)).transpose()?;
        let ipam_v = v.get("ipam").ok_or_else(|| bad("ipam", "missing"))?;
        let ty = get_str(ipam_v, "type")?.unwrap_or("");
        if ty != "host-local" {
            return Err(bad("ipam.type", format!("{ty:?}: only host-local is supported")));
        }
        let mut ranges = Vec::new();
        if let Some(rs) = ipam_v.get("ranges") {
            let sets = rs.as_array().ok_or_else(|| bad("ipam.ranges", "expected an array of range sets"))?;
            for (i, set) in sets.iter().enumerate() {
                let set =
                    set.as_array().ok_or_else(|| bad(&format!("ipam.ranges[{i}]"), "expected an array"))?;
                let mut out = Vec::new();
                for (j, r) in set.iter().enumerate() {
                    out.push(parse_range(&format!("ipam.ranges[{i}][{j}]"), r)?);
                }
                if out.is_empty() {
                    return Err(bad(&format!("ipam.ranges[{i}]"), "empty range set"));
                }
                ranges.push(out);
            }
        }
        if ipam_v.get("subnet").is_some() {
            ranges.insert(0, vec![parse_range("ipam", ipam_v)?]);
        }
        if ranges.is_empty() {
            return Err(bad("ipam", "no ranges and no subnet"));
        }
        let mut routes = Vec::new();
        if let Some(rs) = ipam_v.get("routes") {
            let arr = rs.as_array().ok_or_else(|| bad("ipam.routes", "expected an array"))?;
            for (i, r) in arr.iter().enumerate() {
                let f = format!("ipam.routes[{i}]");
                let dst = parse_net(
                    &format!("{f}.dst"),
                    get_str(r, "dst")?.ok_or_else(|| bad(&f, "dst missing"))?,
                )?;
                let gw = get_str(r, "gw")?.map(|s| parse_ip(&format!("{f}.gw"), s)).transpose()?;
                routes.push(RouteConf { dst, gw });
            }
        }
        let data_dir = get_str(ipam_v, "dataDir")?.unwrap_or("/var/lib/cni/networks").to_string();
        Ok(NetConf {
            cni_version,
            name,
            bridge,
            is_gateway,
            is_default_gateway,
            ip_masq: get_bool(&v, "ipMasq")?,
            hairpin_mode: get_bool(&v, "hairpinMode")?,
            mtu,
            bridge_mac,
            ipam: IpamConfig { ranges, routes, data_dir },
            prev_result: v.get("prevResult").cloned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_reference_style_config_and_names_bad_fields() {
        let c = NetConf::parse(
            br#"{"cniVersion":"1.0.0","name":"n","type":"bridge","bridge":"br9","isDefaultGateway":true,
            "ipMasq":true,"hairpinMode":true,"mtu":1400,
            "ipam":{"type":"host-local","ranges":[[{"subnet":"10.1.0.0/24","gateway":"10.1.0.1"}]],
            "routes":[{"dst":"0.0.0.0/0"}],"dataDir":"/tmp/x"}}"#,
        )
        .unwrap();
        assert!(c.is_gateway && c.is_default_gateway && c.ip_masq && c.hairpin_mode);
        assert_eq!(c.mtu, Some(1400));
        assert_eq!(c.ipam.ranges[0][0].subnet.to_string(), "10.1.0.0/24");
        let e = NetConf::parse(br#"{"cniVersion":"1.0.0","name":"n","mtu":10,"ipam":{"type":"host-local","subnet":"10.0.0.0/8"}}"#)
            .unwrap_err();
        assert_eq!(e.code, 7);
        assert!(e.msg.contains("mtu"), "{e:?}");
        let e = NetConf::parse(br#"{"cniVersion":"9.9.9","name":"n"}"#).unwrap_err();
        assert_eq!(e.code, 1);
        let e = NetConf::parse(
            br#"{"cniVersion":"1.0.0","name":"n","ipam":{"type":"host-local","ranges":[[{"subnet":"10.1.0.0/24","gateway":"10.2.0.1"}]]}}"#,
        )
        .unwrap_err();
        assert!(e.msg.contains("ipam.ranges[0][0].gateway"), "{e:?}");
    }
}
