//! Attach a container to a bridge and detach it again — the bridge plugin's
//! ADD and DEL, built only from netplumb's building blocks, in the order and
//! with the kernel settings of the reference `bridge` plugin.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use netplumb::addr::{AddrFlags, Address, AddressFilter};
use netplumb::link::kind::{Bridge, Veth, VethPeer};
use netplumb::link::{BridgePort, LinkChange, NewLink, OperState};
use netplumb::netns::Netns;
use netplumb::route::Route;
use netplumb::rtnl::bridge_vlan::{VlanEntry, VlanTarget};
use netplumb::{IfIndex, MacAddr, Rtnl};

use super::config::{CniError, NetConf, ERR_INTERNAL, ERR_TRY_AGAIN};
use super::ipam::{Allocation, Store};
use super::spoofcheck;

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
    /// Bridge name, index and MAC (read back at the end of ADD).
    pub bridge: (String, IfIndex, MacAddr),
    /// Host-side veth name, index and MAC.
    pub host_veth: (String, IfIndex, MacAddr),
    /// Container interface name, index and MAC.
    pub container_if: (String, IfIndex, MacAddr),
    /// Allocated addresses (none on a layer-2 network).
    pub ips: Vec<Allocation>,
    /// Routes added in the container: (destination, gateway as configured
    /// (the result shows only that), gateway used).
    pub routes: Vec<(IpNet, Option<IpAddr>, IpAddr)>,
    /// With `vlan` and `isGateway`: the gateway interface `BRIDGE.VLAN`
    /// (name and MAC), the host end of a veth pair whose other end is an
    /// untagged port of the bridge in that VLAN, as the reference makes it.
    pub vlan_if: Option<(String, MacAddr)>,
}

const EOPNOTSUPP: i32 = 95;

/// The error for a VLAN request the kernel refused: a kernel built without
/// bridge VLAN filtering answers `EOPNOTSUPP` to all of them.
fn vlan_err(what: &str, e: netplumb::Error) -> CniError {
    if e.errno().map(|n| n.0) == Some(EOPNOTSUPP) {
        CniError::new(
            ERR_INTERNAL,
            format!(
                "{what}: vlan, vlanTrunk: this kernel has no bridge VLAN filtering \
                 (CONFIG_BRIDGE_VLAN_FILTERING): {e}"
            ),
        )
    } else {
        err999(what, e)
    }
}

/// The port's VLANs as the reference's setupVeth sets them: the default
/// VLAN(s) removed unless `preserveDefaultVlan`, `vlan` as the untagged
/// PVID, the trunk's VLANs tagged, and VLAN 1 as the untagged PVID of a
/// trunk without `vlan`.
async fn set_port_vlans(
    host: &Rtnl,
    port: IfIndex,
    vlan: u16,
    trunk: &[u16],
    preserve: bool,
) -> Result<(), CniError> {
    let vl = host.bridge_vlans();
    if (vlan != 0 || !trunk.is_empty()) && !preserve {
        let have = vl.of(port).await.map_err(|e| vlan_err("failed to remove default vlan", e))?;
        for v in have {
            vl.delete(port, VlanTarget::Master, &[VlanEntry::range(v.vid, v.last)])
                .await
                .map_err(|e| vlan_err("failed to remove default vlan", e))?;
        }
    }
    if vlan != 0 {
        vl.add(port, VlanTarget::Master, &[VlanEntry::new(vlan).pvid().untagged()])
            .await
            .map_err(|e| vlan_err("failed to setup vlan tag", e))?;
    }
    for &v in trunk {
        vl.add(port, VlanTarget::Master, &[VlanEntry::new(v)])
            .await
            .map_err(|e| vlan_err("failed to setup vlan tag", e))?;
    }
    if vlan == 0 && !trunk.is_empty() {
        vl.add(port, VlanTarget::Master, &[VlanEntry::new(1).pvid().untagged()])
            .await
            .map_err(|e| vlan_err("failed to setup default native vlan tag", e))?;
    }
    Ok(())
}

/// The reference's ensureVlanInterface: `BRIDGE.VLAN` if it exists, else a
/// veth pair made in the host namespace — `BRIDGE.VLAN` and a `vethXXXXXXXX`
/// port of the bridge (the bridge's MTU, the VLAN untagged as its PVID) —
/// both up.
async fn ensure_vlan_interface(
    host: &Rtnl,
    conf: &NetConf,
    br_index: IfIndex,
) -> Result<netplumb::link::Link, CniError> {
    let links = host.links();
    let name = format!("{}.{}", conf.bridge, conf.vlan);
    match links.get(name.as_str()).await {
        Ok(l) => return Ok(l),
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(err999(&format!("failed to find interface {name:?}"), e)),
    }
    let br = links.get(br_index).await.map_err(|e| err999("read bridge", e))?;
    let mut port_name = String::new();
    let mut made = false;
    for _ in 0..8 {
        port_name = format!("veth{}", random_suffix());
        let mut peer = VethPeer::new(name.clone());
        let mut nl_mtu = None;
        if let Some(m) = br.mtu {
            peer = peer.mtu(m);
            nl_mtu = Some(m);
        }
        let mut nl = NewLink::new(port_name.clone(), Veth::new(peer)).master(br_index).up();
        if let Some(m) = nl_mtu {
            nl = nl.mtu(m);
        }
        match links.add(&nl).await {
            Ok(()) => {
                made = true;
                break;
            }
            // A clash of the random name is retried; of BRIDGE.VLAN (made
            // meanwhile by another ADD) is an error.
            Err(e) if e.is_exists() => continue,
            Err(e) => return Err(err999(&format!("faild to create vlan gateway {name:?}"), e)),
        }
    }
    if !made {
        return Err(CniError::new(ERR_TRY_AGAIN, "could not find a free veth name for the vlan gateway"));
    }
    let port = links.get(port_name.as_str()).await.map_err(|e| err999("read vlan gateway port", e))?;
    if let Err(e) = set_port_vlans(host, port.index, conf.vlan, &[], conf.preserve_default_vlan).await {
        let _ = links.delete(port.index).await;
        return Err(CniError::new(e.code, format!("faild to create vlan gateway {name:?}: {}", e.msg)));
    }
    let l = links.get(name.as_str()).await.map_err(|e| err999(&format!("failed to lookup {name:?}"), e))?;
    links
        .set(l.index, &LinkChange::new().up())
        .await
        .map_err(|e| err999(&format!("failed to up {name:?}"), e))?;
    links.get(l.index).await.map_err(|e| err999(&format!("failed to lookup {name:?}"), e))
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
    CniError::new(ERR_INTERNAL, format!("{what}: {e}"))
}

/// Refuse, before anything changes, what the configuration asks for and
/// this plugin cannot do; and the combinations the reference refuses.
pub fn check_supported(conf: &NetConf) -> Result<(), CniError> {
    let no = |m: &str| Err(CniError::new(ERR_INTERNAL, m.to_string()));
    if conf.hairpin_mode && conf.promisc_mode {
        return no("cannot set hairpin mode and promiscuous mode at the same time");
    }
    if conf.disable_container_interface && conf.ipam.is_some() {
        return no("cannot use IPAM when DisableContainerInterface flag is set");
    }
    if conf.ip_masq && conf.ip_masq_backend.as_deref() == Some("iptables") {
        return no("ipMasqBackend: \"iptables\": this plugin masquerades with nftables only");
    }
    Ok(())
}

/// The bridge ADD attaches to, as [`ensure_bridge`] left it.
#[derive(Clone, Copy, Debug)]
pub struct BridgeState {
    /// Its index.
    pub index: IfIndex,
    /// The MAC it keeps (the configured `mac`, else the kernel's random one
    /// read back after creation).
    pub mac: MacAddr,
    /// `Some(mac)` when this ADD created the bridge: set that MAC by hand
    /// once the first port has joined (see [`ensure_bridge`]).
    pub pin_after_first_port: Option<MacAddr>,
}

/// Find or create the bridge, up, with the configured MTU and promiscuous
/// mode; router advertisements off on it (the plugin owns its routes), as
/// the reference does.
///
/// A bridge created here gets its MAC set by hand (the configured `mac`,
/// else the one the kernel gave it) only after its first port has joined,
/// in [`add`], as the reference sets it only after its veth: while a
/// bridge's MAC is not set by hand, its first port changes the bridge id,
/// which recomputes the port states with that port still disabled, so the
/// bridge's carrier goes off and on and the kernel's linkwatch computes its
/// operational state (`UP`). A bridge whose MAC is set before any port
/// joins, and whose first port joins already operational, never changes
/// carrier: Linux (6.1 as 6.18) then leaves its operstate `UNKNOWN` for
/// good (the state it had since registration), unless the port happens to
/// lose its carrier afterwards.
pub async fn ensure_bridge(host_ns: &Netns, host: &Rtnl, conf: &NetConf) -> Result<BridgeState, CniError> {
    let links = host.links();
    let mut pin_after_first_port = None;
    let link = match links.get(conf.bridge.as_str()).await {
        Ok(l) => l,
        Err(e) if e.is_not_found() => {
            // A kernel without bridge VLAN filtering refuses the attribute
            // (even 0): leave it out unless asked for.
            let kind = if conf.vlan_filtering { Bridge::new().vlan_filtering(true) } else { Bridge::new() };
            let mut nl = NewLink::new(conf.bridge.clone(), kind).up();
            if let Some(m) = conf.mtu {
                nl = nl.mtu(m);
            }
            let created = match links.add(&nl).await {
                Ok(()) => true,
                // Another ADD created it meanwhile (and pins its MAC).
                Err(e) if e.is_exists() => false,
                Err(e) if conf.vlan_filtering => {
                    return Err(vlan_err(&format!("failed to create bridge {:?}", conf.bridge), e))
                }
                Err(e) => return Err(err999(&format!("could not add {:?}", conf.bridge), e)),
            };
            let l = links.get(conf.bridge.as_str()).await.map_err(|e| err999("read bridge back", e))?;
            if created {
                // The MAC it keeps as ports come and go, set by hand once
                // its first port has joined.
                pin_after_first_port = conf.bridge_mac.or(l.mac());
            }
            l
        }
        Err(e) => return Err(err999("look up bridge", e)),
    };
    if link.kind_name() != Some("bridge") {
        return Err(CniError::new(
            ERR_INTERNAL,
            format!("{:?} already exists but is not a bridge", conf.bridge),
        ));
    }
    if conf.promisc_mode {
        links
            .set(link.index, &LinkChange::new().promisc(true))
            .await
            .map_err(|e| err999(&format!("could not set promiscuous mode on {:?}", conf.bridge), e))?;
    }
    let _ = host_ns.sysctl_set(&format!("net/ipv6/conf/{}/accept_ra", conf.bridge), "0").await;
    if !link.is_up() {
        links.set(link.index, &LinkChange::new().up()).await.map_err(|e| err999("set bridge up", e))?;
    }
    let mac = pin_after_first_port
        .or(link.mac())
        .ok_or_else(|| CniError::new(ERR_INTERNAL, "bridge has no MAC address"))?;
    Ok(BridgeState { index: link.index, mac, pin_after_first_port })
}

/// ADD: bridge, veth pair (container end created inside the container in
/// the same request), addresses, routes, gateway addresses and forwarding.
/// Undoes its own work on failure.
pub async fn add(host_ns: &Netns, conf: &NetConf, args: &AddArgs<'_>) -> Result<Attachment, CniError> {
    check_supported(conf)?;
    let host = Rtnl::new_in(host_ns).await.map_err(|e| err999("open netlink in the host namespace", e))?;
    let ctr = Rtnl::new_in(args.container).await.map_err(|e| err999("open netlink in the container", e))?;

    // With VLANs the bridge comes first, as in the reference: a kernel
    // without VLAN filtering refuses it before any address is reserved.
    let bridge = if conf.vlan_filtering { Some(ensure_bridge(host_ns, &host, conf).await?) } else { None };
    // 1. Addresses first: failing here changes nothing in the kernel.
    let ips = match &conf.ipam {
        None => Vec::new(),
        Some(ipam) => {
            ipam.resolv_conf_dns()?;
            let store = Store::open(ipam, &conf.name).map_err(|(c, m)| CniError::new(c, m))?;
            if !store.held_by(args.container_id, args.ifname).is_empty() {
                return Err(CniError::new(
                    ERR_INTERNAL,
                    format!("container {} already has addresses on {}", args.container_id, args.ifname),
                ));
            }
            store.allocate(ipam, args.container_id, args.ifname).map_err(|(c, m)| CniError::new(c, m))?
        }
    };
    let release = || {
        if let Some(ipam) = &conf.ipam {
            if let Ok(s) = Store::open(ipam, &conf.name) {
                s.release(args.container_id, args.ifname);
            }
        }
    };

    match attach(&host, &ctr, host_ns, conf, args, &ips, bridge).await {
        Ok(a) => Ok(a),
        Err((e, host_veth)) => {
            if let Some(name) = host_veth {
                // Deleting one end deletes the pair.
                let _ = host.links().delete(name.as_str()).await;
            }
            if conf.mac_spoof_check {
                let _ = spoofcheck::del(host_ns, args.container_id, args.ifname).await;
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
    bridge: Option<BridgeState>,
) -> Result<Attachment, AttachError> {
    let fail = |e: CniError| (e, None);
    let bridge = match bridge {
        Some(b) => b,
        None => ensure_bridge(host_ns, host, conf).await.map_err(fail)?,
    };
    let (br_index, br_mac) = (bridge.index, bridge.mac);

    // 2. The veth pair, in one request: the container end is created
    //    directly inside the container's namespace under its final name
    //    (with the requested MAC); the host end gets a random name (retried
    //    on a clash), is enslaved to the bridge and brought up.
    let links = host.links();
    let mut host_name = String::new();
    let mut created = false;
    for _ in 0..8 {
        host_name = format!("veth{}", random_suffix());
        let mut peer = VethPeer::new(args.ifname).netns(args.container);
        if let Some(m) = conf.mtu {
            peer = peer.mtu(m);
        }
        if let Some(mac) = conf.container_mac {
            peer = peer.mac(mac);
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
                        ERR_INTERNAL,
                        format!("container veth name provided ({}) already exists", args.ifname),
                    )));
                }
                continue;
            }
            Err(e) => return Err(fail(err999("create veth pair", e))),
        }
    }
    if !created {
        return Err(fail(CniError::new(ERR_TRY_AGAIN, "could not find a free host veth name")));
    }
    let undo = |e: CniError| (e, Some(host_name.clone()));
    if let Some(mac) = bridge.pin_after_first_port {
        // The bridge this ADD created has its first port: its MAC, set by
        // hand from now on, no longer follows its ports (see ensure_bridge).
        links
            .set(br_index, &LinkChange::new().mac(mac))
            .await
            .map_err(|e| undo(err999("pin bridge MAC", e)))?;
    }
    let hv = links.get(host_name.as_str()).await.map_err(|e| undo(err999("read host veth", e)))?;
    if conf.hairpin_mode || conf.port_isolation {
        let mut port = BridgePort::new();
        if conf.hairpin_mode {
            port = port.hairpin(true);
        }
        if conf.port_isolation {
            port = port.isolated(true);
        }
        links
            .set(hv.index, &LinkChange::new().bridge_port(port))
            .await
            .map_err(|e| undo(err999("set bridge port mode (hairpin, isolation)", e)))?;
    }

    if conf.vlan_filtering {
        set_port_vlans(host, hv.index, conf.vlan, &conf.vlan_trunk, conf.preserve_default_vlan)
            .await
            .map_err(|e| undo(CniError::new(e.code, format!("interface {host_name:?}: {}", e.msg))))?;
    }

    // 3. Inside the container.
    let cl = ctr.links();
    let cif = cl.get(args.ifname).await.map_err(|e| undo(err999("find the container interface", e)))?;
    if conf.mac_spoof_check {
        let mac =
            cif.mac().ok_or_else(|| undo(CniError::new(ERR_INTERNAL, "container interface has no MAC")))?;
        spoofcheck::add(host_ns, args.container_id, args.ifname, &host_name, mac).await.map_err(undo)?;
    }
    let mut routes = Vec::new();
    let mut vlan_if = None;
    if conf.ipam.is_none() {
        // Layer 2 only: the interface up, unless asked not to.
        if !conf.disable_container_interface {
            cl.set(cif.index, &LinkChange::new().up())
                .await
                .map_err(|e| undo(err999(&format!("failed to set {:?} up", args.ifname), e)))?;
        }
    } else {
        configure_container(args.container, ctr, conf, args.ifname, cif.index, ips, &mut routes)
            .await
            .map_err(undo)?;
        // The host end follows its peer up; the reference waits for it.
        wait_oper_up(host, hv.index).await.map_err(undo)?;
        if conf.is_gateway {
            vlan_if = set_gateways(host_ns, host, conf, (br_index, br_mac), ips).await.map_err(undo)?;
        }
    }

    // The bridge's MAC, read back: it may change as ports come and go.
    let br = links.get(br_index).await.map_err(|e| undo(err999("read bridge back", e)))?;
    Ok(Attachment {
        bridge: (conf.bridge.clone(), br_index, br.mac().unwrap_or_default()),
        host_veth: (host_name.clone(), hv.index, hv.mac().unwrap_or_default()),
        container_if: (args.ifname.to_string(), cif.index, cif.mac().unwrap_or_default()),
        ips: ips.to_vec(),
        routes,
        vlan_if,
    })
}

/// Sysctls, addresses, link up and routes in the container, as the
/// reference's IPAM helper does them.
async fn configure_container(
    container: &Netns,
    ctr: &Rtnl,
    conf: &NetConf,
    ifname: &str,
    index: IfIndex,
    ips: &[Allocation],
    routes: &mut Vec<(IpNet, Option<IpAddr>, IpAddr)>,
) -> Result<(), CniError> {
    // Duplicate address detection: off unless `enabledad`, so the
    // container's IPv6 address is usable the moment ADD returns.
    if conf.enable_dad {
        let _ = container.sysctl_set(&format!("net/ipv6/conf/{ifname}/enhanced_dad"), "1").await;
        let _ = container.sysctl_set(&format!("net/ipv6/conf/{ifname}/accept_dad"), "1").await;
    } else {
        let _ = container.sysctl_set(&format!("net/ipv6/conf/{ifname}/accept_dad"), "0").await;
    }
    let _ = container.sysctl_set(&format!("net/ipv4/conf/{ifname}/arp_notify"), "1").await;
    if ips.iter().any(|a| a.address.addr().is_ipv6()) {
        for dev in ["lo", ifname] {
            let key = format!("net/ipv6/conf/{dev}/disable_ipv6");
            if container.sysctl_get(&key).await.map(|v| v.trim() != "0").unwrap_or(false) {
                container
                    .sysctl_set(&key, "0")
                    .await
                    .map_err(|e| err999(&format!("failed to enable IPv6 for interface {dev:?}"), e))?;
            }
        }
    }
    for a in ips {
        ctr.addresses()
            .add(&with_broadcast(Address::new(index, a.address), a.address))
            .await
            .map_err(|e| err999(&format!("failed to add IP addr {} to {ifname:?}", a.address), e))?;
    }
    ctr.links()
        .set(index, &LinkChange::new().up())
        .await
        .map_err(|e| err999(&format!("failed to set {ifname:?} UP"), e))?;
    if ips.iter().any(|a| a.gateway.is_ipv6()) {
        settle_addresses(ctr, index).await;
    }

    for r in &conf.ipam.as_ref().map(|i| i.routes.clone()).unwrap_or_default() {
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
            if !routes.iter().any(|(d, g, _)| *d == dst && g.is_some()) {
                routes.push((dst, Some(a.gateway), a.gateway));
            }
        }
    }
    for (dst, _, gw) in routes.iter() {
        add_route(ctr, *dst, *gw, index)
            .await
            .map_err(|e| err999(&format!("failed to add route '{dst} via {gw} dev {ifname}'"), e))?;
    }
    Ok(())
}

/// Wait (at most 10 s) until no address of the interface is tentative, as
/// the reference does when it will add IPv6 routes: with DAD on
/// (`enabledad`) a route via a tentative address would fail.
async fn settle_addresses(ctr: &Rtnl, index: IfIndex) {
    for _ in 0..100 {
        let tentative =
            match ctr.addresses().list_filtered(&AddressFilter::new().index(index)).try_collect().await {
                Ok(list) => list.iter().any(|a| a.flags.contains(AddrFlags::TENTATIVE)),
                Err(_) => false,
            };
        if !tentative {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_oper_up(host: &Rtnl, index: IfIndex) -> Result<(), CniError> {
    let mut state = OperState::Unknown;
    for ms in [0u64, 50, 500, 1000, 1000] {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        let l = host.links().get(index).await.map_err(|e| err999("read host veth", e))?;
        state = l.oper_state;
        if state == OperState::Up {
            return Ok(());
        }
    }
    Err(CniError::new(ERR_INTERNAL, format!("bridge port in error state: {state:?}")))
}

/// The gateway addresses on the bridge (replacing a different one only
/// with `forceAddress`), and forwarding on for each family that has one.
/// The bridge's MAC is set to what it was before this ADD's port joined,
/// as the reference does: set by hand, it no longer follows its ports.
async fn set_gateways(
    host_ns: &Netns,
    host: &Rtnl,
    conf: &NetConf,
    (br_index, br_mac): (IfIndex, MacAddr),
    ips: &[Allocation],
) -> Result<Option<(String, MacAddr)>, CniError> {
    let mut vlan_if = None;
    for v4 in [true, false] {
        let gws: Vec<IpNet> = ips
            .iter()
            .filter(|a| a.gateway.is_ipv4() == v4)
            .map(|a| IpNet::new(a.gateway, a.address.prefix_len()).expect("prefix of an allocation"))
            .collect();
        for gw in &gws {
            if conf.vlan != 0 {
                // The gateway lives on BRIDGE.VLAN instead of the bridge.
                let l = ensure_vlan_interface(host, conf, br_index).await.map_err(|e| {
                    CniError::new(e.code, format!("failed to create vlan interface: {}", e.msg))
                })?;
                let mac = l.mac().unwrap_or_default();
                vlan_if.get_or_insert_with(|| (l.name.clone(), mac));
                ensure_addr(host, &l.name, conf.force_address, l.index, *gw).await.map_err(|e| {
                    CniError::new(
                        e.code,
                        format!("failed to set vlan interface for bridge with addr: {}", e.msg),
                    )
                })?;
                host.links()
                    .set(l.index, &LinkChange::new().mac(mac))
                    .await
                    .map_err(|e| err999("could not set bridge's mac", e))?;
                continue;
            }
            ensure_addr(host, &conf.bridge, conf.force_address, br_index, *gw).await?;
            host.links()
                .set(br_index, &LinkChange::new().mac(br_mac))
                .await
                .map_err(|e| err999("could not set bridge's mac", e))?;
        }
        if !gws.is_empty() {
            let key = if v4 { "net.ipv4.ip_forward" } else { "net.ipv6.conf.all.forwarding" };
            let on = host_ns.sysctl_get(key).await.map(|v| v.trim() == "1").unwrap_or(false);
            if !on {
                host_ns
                    .sysctl_set(key, "1")
                    .await
                    .map_err(|e| err999(&format!("failed to enable forwarding ({key})"), e))?;
            }
        }
    }
    Ok(vlan_if)
}

async fn ensure_addr(
    host: &Rtnl,
    dev: &str,
    force: bool,
    br_index: IfIndex,
    gw: IpNet,
) -> Result<(), CniError> {
    let filter = if gw.addr().is_ipv4() { AddressFilter::new().v4() } else { AddressFilter::new().v6() };
    let have = host
        .addresses()
        .list_filtered(&filter.index(br_index))
        .try_collect()
        .await
        .map_err(|e| err999("could not get list of IP addresses", e))?;
    for a in have.iter().filter(|a| a.index == br_index) {
        if a.address == gw {
            return Ok(());
        }
        // Several IPv6 addresses may share the bridge if their subnets do
        // not overlap; for IPv4 (or overlapping IPv6) the old one goes only
        // with forceAddress.
        let clash = gw.addr().is_ipv4() || a.address.contains(&gw.addr()) || gw.contains(&a.address.addr());
        if clash {
            if force {
                host.addresses()
                    .delete(a)
                    .await
                    .map_err(|e| err999(&format!("could not remove IP address from {dev:?}"), e))?;
            } else {
                return Err(CniError::new(
                    ERR_INTERNAL,
                    format!(
                        "failed to set bridge addr: {dev:?} already has an IP address different from {gw}"
                    ),
                ));
            }
        }
    }
    match host.addresses().add(&with_broadcast(Address::new(br_index, gw), gw)).await {
        Ok(()) => Ok(()),
        Err(e) if e.is_exists() => Ok(()),
        Err(e) => Err(err999(&format!("could not add IP address {gw} to {dev:?}"), e)),
    }
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

/// DEL: release the addresses, remove the MAC spoof check, and if the
/// namespace still exists delete the container interface (which deletes
/// the host end). Idempotent; succeeds when the namespace is already gone.
pub async fn del(
    host_ns: &Netns,
    conf: &NetConf,
    container_id: &str,
    netns_path: &str,
    ifname: &str,
) -> Result<(), CniError> {
    if conf.mac_spoof_check {
        spoofcheck::del(host_ns, container_id, ifname).await?;
    }
    if let Some(ipam) = &conf.ipam {
        if let Ok(store) = Store::open(ipam, &conf.name) {
            store.release(container_id, ifname);
        }
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
