//! The traffic control the plugin sets up, through netplumb's `tc`.

use netplumb::link::{Ifb, NewLink};
use netplumb::netns::Netns;
use netplumb::tc::{eth_p, Filter, Mirred, MirredKind, Qdisc, QdiscKind, Rate, Tbf, TcHandle, Verdict, U32};
use netplumb::{IfIndex, Rtnl};
use serde_json::Value;
use sha2::{Digest, Sha512};

use super::cni::config::ERR_INTERNAL;
use super::{Bandwidth, CniError};

/// The reference plugin's latency bound for the tbf limit, in ms.
const LATENCY_MS: f64 = 25.0;
/// `tick_in_usec` as Go's netlink reads it from `/proc/net/psched`.
const TICKS_PER_USEC: f64 = 1000.0 / 64.0;

/// The ifb device's name: `bwp` + hex(SHA-512(network name + container
/// ID)), cut to 15 characters (`utils.MustFormatHashWithPrefix`).
pub fn ifb_name(network: &str, container_id: &str) -> String {
    let digest = Sha512::digest(format!("{network}{container_id}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("bwp{hex}")[..15].to_string()
}

/// The reference plugin's tbf for `rate` bits/s and `burst` bits: rate and
/// burst in bytes, the bucket as ticks (`buffer()`), the limit as 25 ms at
/// the rate plus the burst (`limit()`), computed in the same float steps.
pub fn tbf_for(rate_bits: u64, burst_bits: u64) -> Tbf {
    let rate = rate_bits / 8;
    let burst = (burst_bits / 8) as u32;
    let usec = (burst as f64 * 1e6 / rate as f64) as u32;
    let buffer = (usec as f64 * TICKS_PER_USEC) as u32;
    let latency = 1e6 * (LATENCY_MS / 1000.0);
    let limit = ((rate as f64 * latency / 1e6) as u32).wrapping_add(burst);
    Tbf::raw(Rate::bytes_per_sec(rate), buffer, limit)
}

/// The pod's host-side veth: the peer of `ifname` in the container, which
/// must be an interface of the previous result without a sandbox. Returns
/// its name and index.
pub async fn host_interface(
    host: &Netns,
    container: &Netns,
    ifname: &str,
    prev: &Value,
) -> Result<(String, IfIndex), CniError> {
    let inner = Rtnl::new_in(container).await?;
    let peer = match inner.links().get(ifname).await {
        Ok(l) => l.peer_index(),
        Err(_) => None,
    };
    let Some(peer) = peer.filter(|p| p.0 > 0) else {
        return Err(CniError::new(ERR_INTERNAL, format!("container interface {ifname} has no veth peer")));
    };
    let rt = Rtnl::new_in(host).await?;
    let link = rt.links().get(peer).await.map_err(|_| {
        CniError::new(ERR_INTERNAL, format!("veth peer with index {} is not in host ns", peer.0))
    })?;
    let listed = prev["interfaces"].as_array().into_iter().flatten().any(|i| {
        i["name"].as_str() == Some(link.name.as_str()) && i["sandbox"].as_str().unwrap_or("").is_empty()
    });
    if !listed {
        return Err(CniError::new(ERR_INTERNAL, "no veth peer of container interface found in host ns"));
    }
    Ok((link.name, link.index))
}

/// Shape as configured. Returns the ifb device (name, MAC) when egress is
/// shaped.
pub async fn add(
    host: &Netns,
    host_if: &(String, IfIndex),
    network: &str,
    container_id: &str,
    bw: &Bandwidth,
) -> Result<Option<(String, String)>, CniError> {
    let rt = Rtnl::new_in(host).await?;
    let tc = rt.tc();
    let root = TcHandle::new(1, 0);
    if bw.ingress_rate > 0 && bw.ingress_burst > 0 {
        // tc qdisc add dev VETH root handle 1: tbf rate R burst B limit L
        tc.qdiscs()
            .add(&Qdisc::root(host_if.1, root, tbf_for(bw.ingress_rate, bw.ingress_burst)))
            .await
            .map_err(|e| CniError::new(ERR_INTERNAL, format!("create qdisc: {e}")))?;
    }
    if bw.egress_rate > 0 && bw.egress_burst > 0 {
        let mtu = rt.links().get(host_if.1).await?.mtu.unwrap_or(1500);
        let name = ifb_name(network, container_id);
        // ip link add NAME mtu MTU up type ifb
        rt.links()
            .add(&NewLink::new(name.as_str(), Ifb).mtu(mtu).up())
            .await
            .map_err(|e| CniError::new(ERR_INTERNAL, format!("adding link: {e}")))?;
        let ifb = rt.links().get(name.as_str()).await?;
        // tc qdisc add dev VETH handle ffff: ingress
        tc.qdiscs()
            .add(&Qdisc::ingress(host_if.1))
            .await
            .map_err(|e| CniError::new(ERR_INTERNAL, format!("create ingress qdisc: {e}")))?;
        // tc filter add dev VETH parent ffff: protocol all prio 1 u32 match u32 0 0 flowid 1:1
        //   action mirred egress redirect dev IFB action mirred egress redirect dev IFB pass
        let u32f = U32::match_all()
            .flowid(TcHandle::new(1, 1))
            .action(Mirred::redirect(ifb.index))
            .action(Mirred::new(MirredKind::EGRESS_REDIRECT, ifb.index, Verdict::OK));
        tc.filters()
            .add(&Filter::new(host_if.1, TcHandle::INGRESS_QDISC, 1, eth_p::ALL, u32f))
            .await
            .map_err(|e| CniError::new(ERR_INTERNAL, format!("add filter: {e}")))?;
        // tc qdisc add dev IFB root handle 1: tbf rate R burst B limit L
        tc.qdiscs()
            .add(&Qdisc::root(ifb.index, root, tbf_for(bw.egress_rate, bw.egress_burst)))
            .await
            .map_err(|e| CniError::new(ERR_INTERNAL, format!("create ifb qdisc: {e}")))?;
        let mac = ifb.mac().map(|m| m.to_string()).unwrap_or_default();
        return Ok(Some((name, mac)));
    }
    Ok(None)
}

/// Remove the ifb device (`ip link del bwp...`); its absence is fine. The
/// host veth's qdiscs go with the veth, which the main plugin deletes.
pub async fn del(host: &Netns, network: &str, container_id: &str) -> Result<(), CniError> {
    let rt = Rtnl::new_in(host).await?;
    let name = ifb_name(network, container_id);
    match rt.links().get(name.as_str()).await {
        Ok(l) => match rt.links().delete(l.index).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e.into()),
        },
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn check_tbf(
    rt: &Rtnl,
    dev: IfIndex,
    rate_bits: u64,
    burst_bits: u64,
    what: &str,
) -> Result<(), CniError> {
    let want = tbf_for(rate_bits, burst_bits);
    let q = rt
        .tc()
        .qdiscs()
        .get(dev, TcHandle::ROOT)
        .await
        .map_err(|e| CniError::new(ERR_INTERNAL, format!("Failed to find qdisc on {what}: {e}")))?;
    let QdiscKind::Tbf(t) = &q.kind else {
        return Err(CniError::new(
            ERR_INTERNAL,
            format!("Failed to find qdisc: {what} has {}, not tbf", q.kind.name()),
        ));
    };
    if t.rate() != want.rate() {
        return Err(CniError::new(ERR_INTERNAL, "Rate doesn't match"));
    }
    if t.limit != want.limit {
        return Err(CniError::new(ERR_INTERNAL, "Limit doesn't match"));
    }
    if t.buffer != want.buffer {
        return Err(CniError::new(ERR_INTERNAL, "Buffer doesn't match"));
    }
    Ok(())
}

/// CHECK: the configured tbfs are there with the configured settings.
pub async fn check(
    host: &Netns,
    host_if: &(String, IfIndex),
    network: &str,
    container_id: &str,
    bw: &Bandwidth,
) -> Result<(), CniError> {
    let rt = Rtnl::new_in(host).await?;
    if bw.ingress_rate > 0 && bw.ingress_burst > 0 {
        check_tbf(&rt, host_if.1, bw.ingress_rate, bw.ingress_burst, &host_if.0).await?;
    }
    if bw.egress_rate > 0 && bw.egress_burst > 0 {
        let name = ifb_name(network, container_id);
        let ifb = rt
            .links()
            .get(name.as_str())
            .await
            .map_err(|e| CniError::new(ERR_INTERNAL, format!("get ifb device: {e}")))?;
        check_tbf(&rt, ifb.index, bw.egress_rate, bw.egress_burst, &name).await?;
    }
    Ok(())
}
