//! The network configuration a bridge plugin reads on stdin: every key of
//! the reference `bridge` plugin (containernetworking-plugins 1.1.1 and the
//! keys later releases added) and of the `host-local` IPAM plugin, each
//! either understood or refused with a CNI error that names it. Errors use
//! the codes the reference plugins use for the same situation.

use std::net::IpAddr;

use ipnet::IpNet;
use netplumb::MacAddr;
use serde_json::Value;

/// CNI versions this plugin speaks.
pub const SUPPORTED_VERSIONS: &[&str] = &["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/// Spec error code 1: incompatible CNI version.
pub const ERR_INCOMPATIBLE_VERSION: u32 = 1;
/// Spec error code 3: unknown container.
pub const ERR_UNKNOWN_CONTAINER: u32 = 3;
/// Spec error code 4: invalid necessary environment variables.
pub const ERR_INVALID_ENV: u32 = 4;
/// Spec error code 6: failed to decode content.
pub const ERR_DECODING: u32 = 6;
/// Spec error code 7: invalid network config.
pub const ERR_INVALID_CONFIG: u32 = 7;
/// Spec error code 11: try again later.
pub const ERR_TRY_AGAIN: u32 = 11;
/// Spec error code 999: internal error. The reference `bridge` plugin
/// reports every error of its own (bad values in the config included) with
/// this code; only the checks its `skel` library makes first have others.
pub const ERR_INTERNAL: u32 = 999;

/// A CNI error: the spec's code and message (and optional details).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CniError {
    /// Spec error code (see the `ERR_*` constants).
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
        CniError::new(ERR_INTERNAL, e.to_string())
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
    /// Addresses asked for (`CNI_ARGS` `IP=`, `args.cni.ips`, and the `ips`
    /// capability through `runtimeConfig.ips`), in that order.
    pub requested: Vec<IpAddr>,
    /// `resolvConf`: a resolv.conf file host-local reads at ADD.
    pub resolv_conf: Option<String>,
}

impl IpamConfig {
    /// The DNS settings of `resolvConf`, read now (ADD fails when the file
    /// cannot be read, as in host-local; other commands do not read it).
    pub fn resolv_conf_dns(&self) -> Result<Option<Value>, CniError> {
        self.resolv_conf.as_deref().map(parse_resolv_conf).transpose()
    }
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
    /// `forceAddress`: replace a different address already on the bridge.
    pub force_address: bool,
    /// Masquerade traffic leaving the subnet.
    pub ip_masq: bool,
    /// Hairpin mode on the host veth port.
    pub hairpin_mode: bool,
    /// `promiscMode`: the bridge in promiscuous mode.
    pub promisc_mode: bool,
    /// `portIsolation`: the host veth port isolated.
    pub port_isolation: bool,
    /// `enabledad`: keep duplicate address detection on in the container.
    pub enable_dad: bool,
    /// `disableContainerInterface`: leave the container interface down
    /// (layer 2 only).
    pub disable_container_interface: bool,
    /// `vlan` (0: none).
    pub vlan: u16,
    /// `vlanTrunk`: the VLAN ids it names, sorted, each once (as the
    /// reference collects them).
    pub vlan_trunk: Vec<u16>,
    /// Whether the bridge gets VLAN filtering: `vlan` is not 0 or
    /// `vlanTrunk` is present (even empty), as in the reference.
    pub vlan_filtering: bool,
    /// `preserveDefaultVlan`: keep the port's default VLAN (1) next to the
    /// configured ones.
    pub preserve_default_vlan: bool,
    /// `macspoofchk`.
    pub mac_spoof_check: bool,
    /// `ipMasqBackend` (`"iptables"` or `"nftables"`), if given.
    pub ip_masq_backend: Option<String>,
    /// MTU of the bridge and veth pair.
    pub mtu: Option<u32>,
    /// Pinned bridge MAC (`mac` at the top level: this plugin's own key).
    pub bridge_mac: Option<MacAddr>,
    /// The container interface's MAC: `CNI_ARGS` `MAC=`, `args.cni.mac`,
    /// or the `mac` capability through `runtimeConfig.mac` (the last one
    /// given wins, as in the reference plugin).
    pub container_mac: Option<MacAddr>,
    /// IPAM; `None` for a layer-2 only network (no `ipam.type`).
    pub ipam: Option<IpamConfig>,
    /// `dns`, passed through to the result.
    pub dns: Option<Value>,
    /// `prevResult` (CHECK, DEL).
    pub prev_result: Option<Value>,
}

fn bad(field: &str, why: impl std::fmt::Display) -> CniError {
    CniError::new(ERR_INTERNAL, format!("invalid network config: {field}: {why}"))
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

fn get_int(v: &Value, field: &str) -> Result<Option<i64>, CniError> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            n.as_i64().map(Some).ok_or_else(|| bad(field, format!("{n} is not an integer")))
        }
        Some(other) => Err(bad(field, format!("expected a number, got {other}"))),
    }
}

fn parse_ip(field: &str, s: &str) -> Result<IpAddr, CniError> {
    s.parse().map_err(|_| bad(field, format!("{s:?} is not an IP address")))
}

fn parse_net(field: &str, s: &str) -> Result<IpNet, CniError> {
    s.parse::<IpNet>().map(|n| n.trunc()).map_err(|_| bad(field, format!("{s:?} is not a CIDR prefix")))
}

/// Parse a MAC address `aa:bb:cc:dd:ee:ff`; the error names `field`.
pub fn parse_mac(field: &str, s: &str) -> Result<MacAddr, CniError> {
    let parts: Vec<_> = s.split(':').collect();
    let mut m = [0u8; 6];
    let ok = parts.len() == 6
        && parts
            .iter()
            .enumerate()
            .all(|(i, p)| p.len() == 2 && u8::from_str_radix(p, 16).map(|b| m[i] = b).is_ok());
    if !ok {
        return Err(bad(field, format!("{s:?} is not a MAC address")));
    }
    let mac = MacAddr(m);
    if mac.is_multicast() || m == [0; 6] {
        return Err(bad(field, format!("{s} is not a unicast MAC address")));
    }
    Ok(mac)
}

/// An address as host-local accepts it: plain, or with a prefix length.
fn parse_requested_ip(field: &str, s: &str) -> Result<IpAddr, CniError> {
    let plain = s.split('/').next().unwrap_or(s);
    parse_ip(field, plain)
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

fn parse_range_sets(field: &str, rs: &Value) -> Result<Vec<Vec<Range>>, CniError> {
    let sets = rs.as_array().ok_or_else(|| bad(field, "expected an array of range sets"))?;
    let mut ranges = Vec::new();
    for (i, set) in sets.iter().enumerate() {
        let set = set.as_array().ok_or_else(|| bad(&format!("{field}[{i}]"), "expected an array"))?;
        let mut out = Vec::new();
        for (j, r) in set.iter().enumerate() {
            out.push(parse_range(&format!("{field}[{i}][{j}]"), r)?);
        }
        if out.is_empty() {
            return Err(bad(&format!("{field}[{i}]"), "empty range set"));
        }
        if out.iter().any(|r| r.subnet.addr().is_ipv4() != out[0].subnet.addr().is_ipv4()) {
            return Err(bad(&format!("{field}[{i}]"), "mixes IPv4 and IPv6 ranges"));
        }
        ranges.push(out);
    }
    Ok(ranges)
}

/// `CNI_ARGS` (`K=V;K2=V2`): the keys the reference bridge and host-local
/// plugins read (`MAC`, `IP`, `IgnoreUnknown`); any other key is an error
/// unless `IgnoreUnknown` is true, as in the reference.
fn parse_cni_args(args: &str) -> Result<(Option<MacAddr>, Option<IpAddr>), CniError> {
    let (mut mac, mut ip, mut ignore, mut unknown) = (None, None, false, Vec::new());
    if args.is_empty() {
        return Ok((None, None));
    }
    for pair in args.split(';') {
        let kv: Vec<&str> = pair.split('=').collect();
        if kv.len() != 2 {
            return Err(CniError::new(ERR_INTERNAL, format!("ARGS: invalid pair {pair:?}")));
        }
        match kv[0] {
            "MAC" => mac = Some(parse_mac("CNI_ARGS MAC", kv[1])?),
            "IP" => ip = Some(parse_requested_ip("CNI_ARGS IP", kv[1])?),
            "IgnoreUnknown" => ignore = matches!(kv[1].to_ascii_lowercase().as_str(), "1" | "true"),
            _ => unknown.push(pair.to_string()),
        }
    }
    if !unknown.is_empty() && !ignore {
        return Err(CniError::new(ERR_INTERNAL, format!("ARGS: unknown args {unknown:?}")));
    }
    Ok((mac, ip))
}

/// The `nameserver`, `domain`, `search` and `options` lines of a
/// resolv.conf file, as host-local's `resolvConf` turns them into DNS.
fn parse_resolv_conf(path: &str) -> Result<Value, CniError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CniError::new(ERR_INTERNAL, format!("ipam.resolvConf {path}: {e}")))?;
    let mut dns = serde_json::Map::new();
    let mut push = |k: &str, v: &str| {
        dns.entry(k)
            .or_insert_with(|| Value::Array(Vec::new()))
            .as_array_mut()
            .expect("array")
            .push(Value::String(v.to_string()))
    };
    let mut domain = None;
    for line in text.lines() {
        let mut w = line.split_whitespace();
        match w.next() {
            Some("nameserver") => w.for_each(|x| push("nameservers", x)),
            Some("search") => w.for_each(|x| push("search", x)),
            Some("options") => w.for_each(|x| push("options", x)),
            Some("domain") => domain = w.next().map(str::to_string),
            _ => {}
        }
    }
    if let Some(d) = domain {
        dns.insert("domain".into(), Value::String(d));
    }
    Ok(Value::Object(dns))
}

fn parse_ipam(
    v: &Value,
    ipam_v: &Value,
    env_ip: Option<IpAddr>,
    runtime: Option<&Value>,
) -> Result<IpamConfig, CniError> {
    let ty = get_str(ipam_v, "type")?.unwrap_or("");
    if ty != "host-local" {
        return Err(bad("ipam.type", format!("{ty:?}: only host-local is built in")));
    }
    let mut ranges = Vec::new();
    // Ranges given by the runtime (the `ipRanges` capability) come first.
    if let Some(rs) = runtime.and_then(|r| r.get("ipRanges")).filter(|r| !r.is_null()) {
        ranges.extend(parse_range_sets("runtimeConfig.ipRanges", rs)?);
    }
    if ipam_v.get("subnet").is_some_and(|s| !s.is_null()) {
        ranges.push(vec![parse_range("ipam", ipam_v)?]);
    }
    if let Some(rs) = ipam_v.get("ranges").filter(|r| !r.is_null()) {
        ranges.extend(parse_range_sets("ipam.ranges", rs)?);
    }
    if ranges.is_empty() {
        return Err(bad("ipam", "no IP ranges specified"));
    }
    for (i, a) in ranges.iter().enumerate() {
        for b in &ranges[i + 1..] {
            if a.iter().any(|x| {
                b.iter()
                    .any(|y| x.subnet.contains(&y.subnet.network()) || y.subnet.contains(&x.subnet.network()))
            }) {
                return Err(bad(
                    "ipam.ranges",
                    format!("range sets {} and {} overlap", a[0].subnet, b[0].subnet),
                ));
            }
        }
    }
    let mut routes = Vec::new();
    if let Some(rs) = ipam_v.get("routes").filter(|r| !r.is_null()) {
        let arr = rs.as_array().ok_or_else(|| bad("ipam.routes", "expected an array"))?;
        for (i, r) in arr.iter().enumerate() {
            let f = format!("ipam.routes[{i}]");
            let dst =
                parse_net(&format!("{f}.dst"), get_str(r, "dst")?.ok_or_else(|| bad(&f, "dst missing"))?)?;
            let gw = get_str(r, "gw")?.map(|s| parse_ip(&format!("{f}.gw"), s)).transpose()?;
            if let Some(g) = gw {
                if g.is_ipv4() != dst.addr().is_ipv4() {
                    return Err(bad(&format!("{f}.gw"), format!("{g} is not of the family of {dst}")));
                }
            }
            routes.push(RouteConf { dst, gw });
        }
    }
    let mut requested: Vec<IpAddr> = env_ip.into_iter().collect();
    let ip_list = |field: &str, list: Option<&Value>| -> Result<Vec<IpAddr>, CniError> {
        let Some(list) = list.filter(|l| !l.is_null()) else { return Ok(Vec::new()) };
        let arr = list.as_array().ok_or_else(|| bad(field, "expected an array of addresses"))?;
        arr.iter()
            .enumerate()
            .map(|(i, x)| {
                let f = format!("{field}[{i}]");
                parse_requested_ip(&f, x.as_str().ok_or_else(|| bad(&f, "expected a string"))?)
            })
            .collect()
    };
    requested.extend(ip_list(
        "args.cni.ips",
        v.get("args").and_then(|a| a.get("cni")).and_then(|c| c.get("ips")),
    )?);
    requested.extend(ip_list("runtimeConfig.ips", runtime.and_then(|r| r.get("ips")))?);
    let resolv_conf = get_str(ipam_v, "resolvConf")?.map(str::to_string);
    let data_dir = get_str(ipam_v, "dataDir")?.unwrap_or("/var/lib/cni/networks").to_string();
    Ok(IpamConfig { ranges, routes, data_dir, requested, resolv_conf })
}

/// The network name rules of the CNI library: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn valid_name(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

impl NetConf {
    /// Parse and check a configuration, without `CNI_ARGS`.
    pub fn parse(text: &[u8]) -> Result<NetConf, CniError> {
        NetConf::parse_with_args(text, "")
    }

    /// Parse and check a configuration and the `CNI_ARGS` string.
    pub fn parse_with_args(text: &[u8], cni_args: &str) -> Result<NetConf, CniError> {
        let v: Value = serde_json::from_slice(text)
            .map_err(|e| CniError::new(ERR_DECODING, format!("error unmarshall network config: {e}")))?;
        if !v.is_object() {
            return Err(CniError::new(ERR_DECODING, "error unmarshall network config: not a JSON object"));
        }
        let name = match v.get("name") {
            None | Some(Value::Null) => "",
            Some(Value::String(s)) => s.as_str(),
            Some(o) => {
                return Err(CniError::new(
                    ERR_DECODING,
                    format!("error unmarshall network config: name: {o}"),
                ))
            }
        }
        .to_string();
        if name.is_empty() {
            return Err(CniError::new(ERR_INVALID_CONFIG, "missing network name"));
        }
        if !valid_name(&name) {
            return Err(
                CniError::new(ERR_INVALID_CONFIG, "invalid characters found in network name").details(name)
            );
        }
        let cni_version = match v.get("cniVersion") {
            None | Some(Value::Null) => "0.1.0",
            Some(Value::String(s)) => s.as_str(),
            Some(o) => return Err(CniError::new(ERR_DECODING, format!("cniVersion: {o} is not a string"))),
        }
        .to_string();
        if !SUPPORTED_VERSIONS.contains(&cni_version.as_str()) {
            return Err(CniError::new(ERR_INCOMPATIBLE_VERSION, "incompatible CNI versions")
                .details(format!("config is {cni_version:?}, plugin supports {:?}", SUPPORTED_VERSIONS)));
        }
        let bridge = get_str(&v, "bridge")?.unwrap_or("cni0").to_string();
        netplumb::rtnl::validate_ifname("bridge", &bridge).map_err(|e| bad("bridge", e))?;
        let is_default_gateway = get_bool(&v, "isDefaultGateway")?;
        let is_gateway = get_bool(&v, "isGateway")? || is_default_gateway;
        let mtu = match get_int(&v, "mtu")? {
            None | Some(0) => None,
            Some(m) if (68..=65535).contains(&m) => Some(m as u32),
            Some(m) => return Err(bad("mtu", format!("{m} is outside 68..=65535"))),
        };
        let vlan = match get_int(&v, "vlan")? {
            None => 0,
            Some(n) if (0..=4094).contains(&n) => n as u16,
            Some(n) => {
                return Err(CniError::new(
                    ERR_INTERNAL,
                    format!("invalid VLAN ID {n} (must be between 0 and 4094)"),
                ))
            }
        };
        // As the reference's collectVlanTrunk: each item a minID..maxID
        // range (both or neither) and/or one id, all in 1..=4094.
        let (vlan_trunk, trunk_given) = match v.get("vlanTrunk") {
            None | Some(Value::Null) => (Vec::new(), false),
            Some(Value::Array(a)) => {
                let mut ids = std::collections::BTreeSet::new();
                for (i, t) in a.iter().enumerate() {
                    let get = |k: &str| -> Result<Option<u16>, CniError> {
                        match get_int(t, k)? {
                            None => Ok(None),
                            Some(n) if (1..=4094).contains(&n) => Ok(Some(n as u16)),
                            Some(n) => Err(bad(
                                &format!("vlanTrunk[{i}].{k}"),
                                format!("incorrect trunk {k} parameter: {n} is outside 1..=4094"),
                            )),
                        }
                    };
                    match (get("minID")?, get("maxID")?) {
                        (Some(lo), Some(hi)) if hi < lo => {
                            return Err(bad(
                                &format!("vlanTrunk[{i}]"),
                                format!("minID is greater than maxID in trunk parameter ({lo} > {hi})"),
                            ))
                        }
                        (Some(lo), Some(hi)) => ids.extend(lo..=hi),
                        (None, Some(_)) => {
                            return Err(bad(
                                &format!("vlanTrunk[{i}]"),
                                "minID and maxID should be configured simultaneously, minID is missing",
                            ))
                        }
                        (Some(_), None) => {
                            return Err(bad(
                                &format!("vlanTrunk[{i}]"),
                                "minID and maxID should be configured simultaneously, maxID is missing",
                            ))
                        }
                        (None, None) => {}
                    }
                    if let Some(id) = get("id")? {
                        ids.insert(id);
                    }
                }
                (ids.into_iter().collect(), true)
            }
            Some(o) => return Err(bad("vlanTrunk", format!("expected an array, got {o}"))),
        };
        let preserve_default_vlan = get_bool(&v, "preserveDefaultVlan")?;
        let ip_masq_backend = match get_str(&v, "ipMasqBackend")? {
            None => None,
            Some(b @ ("iptables" | "nftables")) => Some(b.to_string()),
            Some(o) => {
                return Err(bad("ipMasqBackend", format!("{o:?} is neither \"iptables\" nor \"nftables\"")))
            }
        };
        let bridge_mac = get_str(&v, "mac")?.map(|s| parse_mac("mac", s)).transpose()?;

        // The container MAC and requested addresses, in the reference's
        // order of precedence: CNI_ARGS, then args.cni, then runtimeConfig.
        let (env_mac, env_ip) = parse_cni_args(cni_args)?;
        let runtime = v.get("runtimeConfig").filter(|r| !r.is_null());
        if let Some(r) = runtime {
            if !r.is_object() {
                return Err(bad("runtimeConfig", "expected an object"));
            }
        }
        let args_cni = v.get("args").and_then(|a| a.get("cni")).filter(|c| !c.is_null());
        let mut container_mac = env_mac;
        if let Some(m) = args_cni.map(|c| get_str(c, "mac")).transpose()?.flatten().filter(|m| !m.is_empty())
        {
            container_mac = Some(parse_mac("args.cni.mac", m)?);
        }
        if let Some(m) = runtime.map(|r| get_str(r, "mac")).transpose()?.flatten().filter(|m| !m.is_empty()) {
            container_mac = Some(parse_mac("runtimeConfig.mac", m)?);
        }

        let ipam = match v.get("ipam").filter(|i| !i.is_null()) {
            Some(i) if !i.is_object() => return Err(bad("ipam", "expected an object")),
            Some(i) if get_str(i, "type")?.is_some_and(|t| !t.is_empty()) => {
                Some(parse_ipam(&v, i, env_ip, runtime)?)
            }
            _ => None,
        };
        let dns = match v.get("dns") {
            None | Some(Value::Null) => None,
            Some(d @ Value::Object(_)) => Some(d.clone()),
            Some(o) => return Err(bad("dns", format!("expected an object, got {o}"))),
        };
        Ok(NetConf {
            cni_version,
            name,
            bridge,
            is_gateway,
            is_default_gateway,
            force_address: get_bool(&v, "forceAddress")?,
            ip_masq: get_bool(&v, "ipMasq")?,
            hairpin_mode: get_bool(&v, "hairpinMode")?,
            promisc_mode: get_bool(&v, "promiscMode")?,
            port_isolation: get_bool(&v, "portIsolation")?,
            enable_dad: get_bool(&v, "enabledad")?,
            disable_container_interface: get_bool(&v, "disableContainerInterface")?,
            vlan,
            vlan_filtering: vlan != 0 || trunk_given,
            vlan_trunk,
            preserve_default_vlan,
            mac_spoof_check: get_bool(&v, "macspoofchk")?,
            ip_masq_backend,
            mtu,
            bridge_mac,
            container_mac,
            ipam,
            dns,
            prev_result: v.get("prevResult").filter(|p| !p.is_null()).cloned(),
        })
    }

    /// Whether the spec version is below 1.0.0 (results carry
    /// `ips[].version`, CHECK exists only from 0.4.0).
    pub fn is_pre_1_0(&self) -> bool {
        self.cni_version.starts_with("0.")
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
        assert_eq!(c.ipam.as_ref().unwrap().ranges[0][0].subnet.to_string(), "10.1.0.0/24");
        let e = NetConf::parse(br#"{"cniVersion":"1.0.0","name":"n","mtu":10,"ipam":{"type":"host-local","subnet":"10.0.0.0/8"}}"#)
            .unwrap_err();
        assert_eq!(e.code, ERR_INTERNAL);
        assert!(e.msg.contains("mtu"), "{e:?}");
        let e = NetConf::parse(br#"{"cniVersion":"9.9.9","name":"n"}"#).unwrap_err();
        assert_eq!(e.code, ERR_INCOMPATIBLE_VERSION);
        let e = NetConf::parse(br#"{"cniVersion":"1.0.0"}"#).unwrap_err();
        assert_eq!(e.code, ERR_INVALID_CONFIG);
        let e = NetConf::parse(b"{nope").unwrap_err();
        assert_eq!(e.code, ERR_DECODING);
        let e = NetConf::parse(
            br#"{"cniVersion":"1.0.0","name":"n","ipam":{"type":"host-local","ranges":[[{"subnet":"10.1.0.0/24","gateway":"10.2.0.1"}]]}}"#,
        )
        .unwrap_err();
        assert!(e.msg.contains("ipam.ranges[0][0].gateway"), "{e:?}");
        let e = NetConf::parse(br#"{"cniVersion":"1.0.0","name":"n","vlan":5000}"#).unwrap_err();
        assert_eq!(
            (e.code, e.msg.as_str()),
            (ERR_INTERNAL, "invalid VLAN ID 5000 (must be between 0 and 4094)")
        );
        // No ipam type: a layer-2 network, as in the reference.
        assert!(NetConf::parse(br#"{"cniVersion":"0.3.1","name":"n","ipam":{}}"#).unwrap().ipam.is_none());
    }

    #[test]
    fn container_mac_and_requested_ips_follow_the_reference_precedence() {
        let text = br#"{"cniVersion":"1.0.0","name":"n",
            "args":{"cni":{"mac":"02:00:00:00:00:02","ips":["10.1.0.7"]}},
            "runtimeConfig":{"mac":"02:00:00:00:00:03","ips":["10.1.0.8/24"]},
            "ipam":{"type":"host-local","subnet":"10.1.0.0/24"}}"#;
        let c = NetConf::parse_with_args(
            text,
            "IgnoreUnknown=1;K8S_POD_NAME=x;MAC=02:00:00:00:00:01;IP=10.1.0.6",
        )
        .unwrap();
        assert_eq!(c.container_mac, Some(MacAddr([2, 0, 0, 0, 0, 3])));
        let want: Vec<IpAddr> =
            ["10.1.0.6", "10.1.0.7", "10.1.0.8"].iter().map(|s| s.parse().unwrap()).collect();
        assert_eq!(c.ipam.unwrap().requested, want);
        let e = NetConf::parse_with_args(text, "K8S_POD_NAME=x").unwrap_err();
        assert!(e.msg.contains("unknown args"), "{e:?}");
        let e = NetConf::parse(
            br#"{"cniVersion":"1.0.0","name":"n","runtimeConfig":{"mac":"01:00:00:00:00:01"}}"#,
        )
        .unwrap_err();
        assert!(e.msg.contains("runtimeConfig.mac"), "{e:?}");
    }

    #[test]
    fn resolv_conf_is_read_as_host_local_reads_it() {
        let path = std::env::temp_dir().join(format!("npcni-resolv-{}", std::process::id()));
        let text = "# x\nnameserver 10.0.0.53\nnameserver fd00::53\ndomain example.org\nsearch a.org b.org\noptions ndots:5\n";
        std::fs::write(&path, text).unwrap();
        let conf = format!(
            r#"{{"cniVersion":"1.0.0","name":"n","ipam":{{"type":"host-local","subnet":"10.1.0.0/24","resolvConf":"{}"}}}}"#,
            path.display()
        );
        let c = NetConf::parse(conf.as_bytes()).unwrap();
        let dns = c.ipam.as_ref().unwrap().resolv_conf_dns().unwrap().unwrap();
        let want = serde_json::json!({"nameservers": ["10.0.0.53", "fd00::53"], "domain": "example.org",
                                      "search": ["a.org", "b.org"], "options": ["ndots:5"]});
        assert_eq!(dns, want);
        std::fs::remove_file(&path).unwrap();
        // Missing file: only ADD reads it, and fails naming it.
        let e = c.ipam.unwrap().resolv_conf_dns().unwrap_err();
        assert!(e.msg.contains("ipam.resolvConf"), "{e:?}");
    }
}
