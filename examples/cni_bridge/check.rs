//! CHECK: the kernel's state compared with `prevResult`, as the reference
//! plugin compares it; the error names the first thing that differs.

use std::net::IpAddr;

use ipnet::IpNet;
use netplumb::link::LinkFlags;
use netplumb::netns::Netns;
use netplumb::route::RouteFilter;
use netplumb::Rtnl;

use crate::cni::config::{CniError, NetConf, ERR_INTERNAL};
use crate::cni::ipam::Store;

fn err999(what: &str, e: netplumb::Error) -> CniError {
    CniError::new(ERR_INTERNAL, format!("{what}: {e}"))
}

/// CHECK: compare the kernel's state with `prevResult`; the error names the
/// first thing that differs.
pub async fn check(
    host_ns: &Netns,
    conf: &NetConf,
    container_id: &str,
    netns_path: &str,
    ifname: &str,
) -> Result<(), CniError> {
    let ns = Netns::open(netns_path)
        .map_err(|e| CniError::new(ERR_INTERNAL, format!("failed to open netns {netns_path:?}: {e}")))?;
    // The allocator's part first, as the reference runs its IPAM's CHECK.
    if let Some(ipam) = &conf.ipam {
        let store = Store::open(ipam, &conf.name).map_err(|(c, m)| CniError::new(c, m))?;
        if store.held_by(container_id, ifname).is_empty() {
            return Err(CniError::new(
                ERR_INTERNAL,
                format!("host-local: Failed to find address added by container {container_id}"),
            ));
        }
    }
    let prev = conf
        .prev_result
        .as_ref()
        .ok_or_else(|| CniError::new(ERR_INTERNAL, "Required prevResult missing"))?;
    let bad = |what: String| Err(CniError::new(ERR_INTERNAL, what));
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
    if cif_prev["sandbox"].as_str() != Some(netns_path) {
        return bad(format!(
            "Sandbox in prevResult {} doesn't match configured netns: {netns_path}",
            cif_prev["sandbox"].as_str().unwrap_or("")
        ));
    }
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
            .map_err(|_| CniError::new(ERR_INTERNAL, "bad prevResult address"))?;
        if !have.contains(&want) {
            return bad(format!("address {want} is missing from {ifname:?} (has {have:?})"));
        }
    }
    // Routes.
    for r in prev["routes"].as_array().cloned().unwrap_or_default() {
        let dst: IpNet = r["dst"]
            .as_str()
            .unwrap_or("")
            .parse()
            .map_err(|_| CniError::new(ERR_INTERNAL, "bad prevResult route"))?;
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
    if br.kind_name() != Some("bridge") {
        return bad(format!("Interface {} does not have link type of bridge", conf.bridge));
    }
    if let Some(want) =
        ifaces.iter().find(|i| i["name"] == conf.bridge.as_str()).and_then(|i| i["mac"].as_str())
    {
        let have = br.mac().map(|m| m.to_string()).unwrap_or_default();
        if have != want {
            return bad(format!("Bridge interface {} Mac doesn't match: {want} (is {have})", conf.bridge));
        }
    }
    let promisc = br.flags.contains(LinkFlags::PROMISC);
    if promisc != conf.promisc_mode {
        return bad(format!(
            "Bridge interface {} configured Promisc Mode {} doesn't match current state: {promisc}",
            conf.bridge, conf.promisc_mode
        ));
    }
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
