//! The bridge plugin's ADD, DEL and CHECK, built only from netplumb's
//! building blocks. `examples/pod_network.rs` attaches its pods through this
//! same code.

use std::net::IpAddr;

use ipnet::IpNet;
use netplumb::addr::Address;
use netplumb::link::kind::{Bridge, Veth, VethPeer};
use netplumb::link::{BridgePort, LinkChange, NewLink};
use netplumb::netns::Netns;
use netplumb::route::{Route, RouteFilter};
use netplumb::{IfIndex, MacAddr, Rtnl};
use serde_json::{json, Value};

use super::config::{CniError, NetConf};
use super::ipam::{Allocation, Store};

/// What ADD was asked to do.
pub struct AddArgs<'a> {
    /// `CNI_CONTAINERID`.
    pub container_id: &'a str,
    /// The container's namespace.
    pub container: &'a Netns,
    /// `CNI_IFNAME`.
    pub ifname: &'a str,
}

/// What ADD did, for the result and for callers like pod_network.
#[derive(Clone, Debug)]
pub struct Attachment {
    /// Bridge name, index and MAC.
    pub bridge: (String, IfIndex, MacAddr),
    /// Host-side veth name, index and MAC.
    pub host_veth: (String, IfIndex, MacAddr),
    /// Container interface name, index and MAC.
    pub container_if: (String, IfIndex, MacAddr),
    /// Allocated addresses.
    pub ips: Vec<Allocation>,
    /// Routes added in the container: (destination, gateway as configured
    /// (the result shows only that), gateway used).
    pub routes: Vec<(IpNet, Option<IpAddr>, IpAddr)>,
}

fn random_suffix() -> String {
    let mut b = [0u8; 4];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut b);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn err999(what: &str, e: netplumb::Error) -> CniError {
    CniError::new(999, format!("{what}: {e}"))
}

/// Find or create the bridge, up, with the configured MTU and MAC.
pub async fn ensure_bridge(host: &Rtnl, conf: &NetConf) -> Result<(IfIndex, MacAddr), CniError> {
    let links = host.links();
    let link = match links.get(conf.bridge.as_str()).await {
        Ok(l) => l,
        Err(e) if e.is_not_found() => {
            let mut nl = NewLink::new(conf.bridge.clone(), Bridge::new()).up();
            if let Some(m) = conf.mtu {
                nl = nl.mtu(m);
            }
            if let Some(mac) = conf.bridge_mac {
                // A MAC set by hand stays put as ports come and go.
                nl = nl.mac(MacAddr(mac));
            }
            match links.add(&nl).await {
                Ok(()) => {}
                // Another ADD created it meanwhile.
                Err(e) if e.is_exists() => {}
                Err(e) => return Err(err999(&format!("create bridge {}", conf.bridge), e)),
            }
            let l = links.get(conf.bridge.as_str()).await.map_err(|e| err999("read bridge back", e))?;
            if conf.bridge_mac.is_none() {
                // Set the kernel's random MAC explicitly: a MAC set by hand
                // stays put, otherwise the bridge takes its lowest port's.
                if let Some(mac) = l.mac() {
                    links
                        .set(l.index, &LinkChange::new().mac(mac))
                        .await
                        .map_err(|e| err999("pin bridge MAC", e))?;
                }
            }
            l
        }
        Err(e) => return Err(err999("look up bridge", e)),
    };
    if link.kind_name() != Some("bridge") {
        return Err(CniError::new(
            999,
            format!("{:?} already exists and is not a bridge (kind {:?})", conf.bridge, link.kind_name()),
        ));
    }
    if !link.is_up() {
        links.set(link.index, &LinkChange::new().up()).await.map_err(|e| err999("set bridge up", e))?;
    }
    let mac = link.mac().ok_or_else(|| CniError::new(999, "bridge has no MAC address"))?;
    Ok((link.index, mac))
}

/// ADD: bridge, veth pair (container end created inside the container in
/// the same request), addresses, routes. Undoes its own work on failure.
pub async fn add(host_ns: &Netns, conf: &NetConf, args: &AddArgs<'_>) -> Result<Attachment, CniError> {
    let host = Rtnl::new_in(host_ns).await.map_err(|e| err999("open netlink in the host namespace", e))?;
    let ctr = Rtnl::new_in(args.container).await.map_err(|e| err999("open netlink in the container", e))?;

    // 1. Addresses first: failing here changes nothing in the kernel.
    let ips = {
        let store = Store::open(&conf.ipam, &conf.name).map_err(|(c, m)| CniError::new(c, m))?;
        if !store.held_by(args.container_id, args.ifname).is_empty() {
            return Err(CniError::new(
                999,
                format!("container {} already has addresses on {}", args.container_id, args.ifname),
            ));
        }
        store.allocate(&conf.ipam, args.container_id, args.ifname).map_err(|(c, m)| CniError::new(c, m))?
    };
    let release = || {
        if let Ok(s) = Store::open(&conf.ipam, &conf.name) {
            s.release(args.container_id, args.ifname);
        }
    };

    match attach(&host, &ctr, host_ns, conf, args, &ips).await {
        Ok(a) => Ok(a),
        Err((e, host_veth)) => {
            if let Some(name) = host_veth {
                // Deleting one end deletes the pair.
                let _ = host.links().delete(name.as_str()).await;
            }
            release();
            Err(e)
        }
    }
}

type AttachError = (CniError, Option<String>);

async fn attach(
    host: &Rtnl,
    ctr: &Rtnl,
    host_ns: &Netns,
    conf: &NetConf,
    args: &AddArgs<'_>,
    ips: &[Allocation],
) -> Result<Attachment, AttachError> {
    let fail = |e: CniError| (e, None);
    let (br_index, br_mac) = ensure_bridge(host, conf).await.map_err(fail)?;

    if conf.is_gateway {
        for a in ips {
            let gw = IpNet::new(a.gateway, a.address.prefix_len()).expect("prefix of an allocation");
            match host.addresses().add(&with_broadcast(Address::new(br_index, gw), gw)).await {
                Ok(()) => {}
                Err(e) if e.is_exists() => {}
                Err(e) => return Err(fail(err999("add gateway address to bridge", e))),
            }
        }
        host_ns
            .sysctl_set("net.ipv4.ip_forward", "1")
            .await
            .map_err(|e| fail(err999("enable net.ipv4.ip_forward", e)))?;
    }

    // 2. The veth pair, in one request: the container end is created
    //    directly inside the container's namespace under its final name;
    //    the host end gets a random name (retried on a clash), is enslaved
    //    to the bridge and brought up.
    let links = host.links();
    let mut host_name = String::new();
    let mut created = false;
    for _ in 0..8 {
        host_name = format!("veth{}", random_suffix());
        let mut peer = VethPeer::new(args.ifname).netns(args.container);
        if let Some(m) = conf.mtu {
            peer = peer.mtu(m);
        }
        let mut nl = NewLink::new(host_name.clone(), Veth::new(peer)).master(br_index).up();
        if let Some(m) = conf.mtu {
            nl = nl.mtu(m);
        }
        match links.add(&nl).await {
            Ok(()) => {
                created = true;
                break;
            }
            Err(e) if e.is_exists() => {
                // Either our random name clashed, or the container already
                // has an interface with that name.
                if ctr.links().get(args.ifname).await.is_ok() {
                    return Err(fail(CniError::new(
                        999,
                        format!("container already has an interface named {:?}", args.ifname),
                    )));
                }
                continue;
            }
            Err(e) => return Err(fail(err999("create veth pair", e))),
        }
    }
    if !created {
        return Err(fail(CniError::new(11, "could not find a free host veth name")));
    }
    let undo = |e: CniError| (e, Some(host_name.clone()));
    let hv = links.get(host_name.as_str()).await.map_err(|e| undo(err999("read host veth", e)))?;
    if conf.hairpin_mode {
        links
            .set(hv.index, &LinkChange::new().bridge_port(BridgePort::new().hairpin(true)))
            .await
            .map_err(|e| undo(err999("set hairpin mode", e)))?;
    }

    // 3. Inside the container: the interface up, addresses, routes.
    let cl = ctr.links();
    let cif = cl.get(args.ifname).await.map_err(|e| undo(err999("find the container interface", e)))?;
    for a in ips {
        ctr.addresses()
            .add(&with_broadcast(Address::new(cif.index, a.address), a.address))
            .await
            .map_err(|e| undo(err999(&format!("add {} in the container", a.address), e)))?;
    }
    cl.set(cif.index, &LinkChange::new().up())
        .await
        .map_err(|e| undo(err999("set container interface up", e)))?;
    let _ = args.container.sysctl_set(&format!("net/ipv4/conf/{}/arp_notify", args.ifname), "1").await;

    let mut routes = Vec::new();
    for r in &conf.ipam.routes {
        let gw = r.gw.or_else(|| {
            ips.iter().find(|a| a.address.addr().is_ipv4() == r.dst.addr().is_ipv4()).map(|a| a.gateway)
        });
        let Some(gw) = gw else { continue };
        routes.push((r.dst, r.gw, gw));
    }
    if conf.is_default_gateway {
        for a in ips {
            let dst: IpNet =
                if a.gateway.is_ipv4() { "0.0.0.0/0".parse().unwrap() } else { "::/0".parse().unwrap() };
            if !routes.iter().any(|(d, _, _)| *d == dst) {
                routes.push((dst, Some(a.gateway), a.gateway));
            }
        }
    }
    for (dst, _, gw) in &routes {
        add_route(ctr, *dst, *gw, cif.index)
            .await
            .map_err(|e| undo(err999(&format!("add route {dst} via {gw}"), e)))?;
    }

    Ok(Attachment {
        bridge: (conf.bridge.clone(), br_index, br_mac),
        host_veth: (host_name.clone(), hv.index, hv.mac().unwrap_or_default()),
        container_if: (args.ifname.to_string(), cif.index, cif.mac().unwrap_or_default()),
        ips: ips.to_vec(),
        routes,
    })
}

/// IPv4 addresses get the subnet's broadcast address, as the reference
/// plugin (and `ip addr add ... brd +`) sets it.
fn with_broadcast(a: Address, net: IpNet) -> Address {
    match net {
        IpNet::V4(n) if n.prefix_len() < 31 => a.broadcast(n.broadcast()),
        _ => a,
    }
}

async fn add_route(rt: &Rtnl, dst: IpNet, gw: IpAddr, oif: IfIndex) -> netplumb::Result<()> {
    match (dst, gw) {
        (IpNet::V4(d), IpAddr::V4(g)) => rt.routes().add(&Route::new(d).gateway(g).oif(oif)).await,
        (IpNet::V6(d), IpAddr::V6(g)) => rt.routes().add(&Route::new(d).gateway(g).oif(oif)).await,
        _ => Err(netplumb::Error::invalid("route.gw", format!("{gw} is not of the family of {dst}"))),
    }
}

/// The spec's success result for an attachment.
pub fn result_json(conf: &NetConf, netns_path: &str, a: &Attachment) -> Value {
    let ips: Vec<Value> = a
        .ips
        .iter()
        .map(|ip| json!({"interface": 2, "address": ip.address.to_string(), "gateway": ip.gateway.to_string()}))
        .collect();
    let routes: Vec<Value> = a
        .routes
        .iter()
        .map(|(d, g, _)| match g {
            Some(g) => json!({"dst": d.to_string(), "gw": g.to_string()}),
            None => json!({"dst": d.to_string()}),
        })
        .collect();
    json!({
        "cniVersion": conf.cni_version,
        "interfaces": [
            {"name": a.bridge.0, "mac": a.bridge.2.to_string()},
            {"name": a.host_veth.0, "mac": a.host_veth.2.to_string()},
            {"name": a.container_if.0, "mac": a.container_if.2.to_string(), "sandbox": netns_path},
        ],
        "ips": ips,
        "routes": routes,
        "dns": {},
    })
}

/// DEL: release the addresses, and if the namespace still exists delete the
/// container interface (which deletes the host end). Idempotent; succeeds
/// when the namespace is already gone.
pub async fn del(conf: &NetConf, container_id: &str, netns_path: &str, ifname: &str) -> Result<(), CniError> {
    if let Ok(store) = Store::open(&conf.ipam, &conf.name) {
        store.release(container_id, ifname);
    }
    if netns_path.is_empty() {
        return Ok(());
    }
    let ns = match Netns::open(netns_path) {
        Ok(ns) => ns,
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(err999("open the container namespace", e)),
    };
    let ctr = Rtnl::new_in(&ns).await.map_err(|e| err999("open netlink in the container", e))?;
    match ctr.links().delete(ifname).await {
        Ok(()) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(err999(&format!("delete {ifname}"), e)),
    }
}

/// CHECK: compare the kernel's state with `prevResult`; the error names the
/// first thing that differs.
pub async fn check(host_ns: &Netns, conf: &NetConf, netns_path: &str, ifname: &str) -> Result<(), CniError> {
    let prev = conf.prev_result.as_ref().ok_or_else(|| CniError::new(7, "CHECK needs prevResult"))?;
    let bad = |what: String| Err(CniError::new(999, what));
    let ns = Netns::open(netns_path).map_err(|e| CniError::new(3, format!("container namespace: {e}")))?;
    let host = Rtnl::new_in(host_ns).await.map_err(|e| err999("netlink (host)", e))?;
    let ctr = Rtnl::new_in(&ns).await.map_err(|e| err999("netlink (container)", e))?;
    let ifaces = prev["interfaces"].as_array().cloned().unwrap_or_default();
    let find = |sandboxed: bool| {
        ifaces
            .iter()
            .find(|i| i.get("sandbox").is_some() == sandboxed && (!sandboxed || i["name"] == ifname))
            .cloned()
    };
    let Some(cif_prev) = find(true) else { return bad(format!("prevResult has no interface {ifname:?}")) };
    let cif = match ctr.links().get(ifname).await {
        Ok(l) => l,
        Err(_) => return bad(format!("interface {ifname:?} is missing in the container")),
    };
    let want_mac = cif_prev["mac"].as_str().unwrap_or("");
    if cif.mac().map(|m| m.to_string()).as_deref() != Some(want_mac) {
        return bad(format!(
            "interface {ifname:?} MAC is {}, prevResult says {want_mac}",
            cif.mac().map(|m| m.to_string()).unwrap_or_default()
        ));
    }
    // Addresses.
    let have: Vec<IpNet> = ctr
        .addresses()
        .list()
        .try_collect()
        .await
        .map_err(|e| err999("list container addresses", e))?
        .into_iter()
        .filter(|a| a.index == cif.index)
        .map(|a| a.address)
        .collect();
    for ip in prev["ips"].as_array().cloned().unwrap_or_default() {
        let want: IpNet = ip["address"]
            .as_str()
            .unwrap_or("")
            .parse()
            .map_err(|_| CniError::new(7, "bad prevResult address"))?;
        if !have.contains(&want) {
            return bad(format!("address {want} is missing from {ifname:?} (has {have:?})"));
        }
    }
    // Routes.
    for r in prev["routes"].as_array().cloned().unwrap_or_default() {
        let dst: IpNet =
            r["dst"].as_str().unwrap_or("").parse().map_err(|_| CniError::new(7, "bad prevResult route"))?;
        let gw: Option<IpAddr> = r["gw"].as_str().and_then(|g| g.parse().ok());
        let found = match dst {
            IpNet::V4(d) => ctr
                .routes()
                .list::<std::net::Ipv4Addr>(&RouteFilter::all())
                .try_collect()
                .await
                .map_err(|e| err999("list routes", e))?
                .iter()
                .any(|x| x.dst == d && gw.is_none_or(|g| x.gateway.map(IpAddr::V4) == Some(g))),
            IpNet::V6(d) => ctr
                .routes()
                .list::<std::net::Ipv6Addr>(&RouteFilter::all())
                .try_collect()
                .await
                .map_err(|e| err999("list routes", e))?
                .iter()
                .any(|x| x.dst == d && gw.is_none_or(|g| x.gateway.map(IpAddr::V6) == Some(g))),
        };
        if !found {
            return bad(format!(
                "route {dst}{} is missing in the container",
                gw.map(|g| format!(" via {g}")).unwrap_or_default()
            ));
        }
    }
    // Host side: the veth is still a port of the bridge.
    let br = match host.links().get(conf.bridge.as_str()).await {
        Ok(b) => b,
        Err(_) => return bad(format!("bridge {:?} is missing", conf.bridge)),
    };
    let host_veth = ifaces.iter().find(|i| i.get("sandbox").is_none() && i["name"] != conf.bridge.as_str());
    if let Some(hv) = host_veth {
        let name = hv["name"].as_str().unwrap_or("");
        match host.links().get(name).await {
            Ok(l) if l.master == Some(br.index) => {}
            Ok(_) => {
                return bad(format!("host veth {name:?} is no longer attached to bridge {:?}", conf.bridge))
            }
            Err(_) => return bad(format!("host veth {name:?} is missing")),
        }
    }
    Ok(())
}
