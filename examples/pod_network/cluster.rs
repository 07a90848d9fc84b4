//! The cluster both `pod_network` and `service_vip` stand on: two nodes
//! (namespaces) on an underlay, a bridge `cni0` per node, pods attached by
//! the CNI bridge plugin's ADD code, cross-node routing by node routes or a
//! VXLAN overlay, and a TCP + UDP echo server in every pod. Built only from
//! netplumb's building blocks; everything is tracked for removal.
//!
//! Both examples declare it `pub mod cluster`, so its public items are
//! exported from each and need no dead-code allowance.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;
use netplumb::addr::Address;
use netplumb::link::kind::{Bridge, Veth, VethPeer, Vxlan};
use netplumb::link::{LinkChange, NewLink};
use netplumb::neigh::{FdbEntry, Neighbour};
use netplumb::netns::{Netns, NsTask};
use netplumb::route::Route;
use netplumb::{MacAddr, Rtnl};

use super::cni::{attach, config};

/// The TCP and UDP port every pod's echo server listens on.
pub const SERVER_PORT: u16 = 8080;
/// The UDP port of the echo server.
pub const UDP_PORT: u16 = 5353;
const VXLAN_VNI: u32 = 42;
const VXLAN_PORT: u16 = 4789;

/// How cross-node pod traffic travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overlay {
    /// `10.244.2.0/24 via 192.168.100.2` on node 1, and back.
    Routes,
    /// A VXLAN device per node with permanent neighbour and FDB entries
    /// and onlink routes (flannel's vxlan backend, by hand).
    Vxlan,
}

/// What to build.
#[derive(Clone, Debug)]
pub struct Spec {
    /// Prefix of every namespace name (`PREFIX-node1`, `PREFIX-n1-pod0`).
    pub prefix: String,
    /// Pods per node.
    pub pods: usize,
    /// Cross-node transport.
    pub overlay: Overlay,
    /// How the nodes are joined.
    pub underlay: Underlay,
}

/// How the nodes are joined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Underlay {
    /// One veth pair between the two nodes.
    Pair,
    /// A switch (a bridge in namespace `PREFIX-ul`) joining the nodes and
    /// `clients` extra hosts `PREFIX-client1..` at 192.168.100.101...
    Switch {
        /// How many client hosts.
        clients: u8,
    },
}

/// A host on the underlay that is not a node (a NodePort client).
pub struct Client {
    /// Namespace name.
    pub name: String,
    /// Its namespace.
    pub ns: Netns,
    /// Its underlay address.
    pub ip: Ipv4Addr,
}

/// Errors as text: the examples print them.
pub type Fallible<T> = Result<T, String>;

pub fn e<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |err| format!("{what}: {err}")
}

/// One node of the cluster.
pub struct Node {
    pub id: u8,
    pub name: String,
    pub ns: Netns,
    pub rt: Rtnl,
    pub underlay_ip: Ipv4Addr,
    pub pod_cidr: Ipv4Net,
    pub bridge_mac: MacAddr,
}

/// One pod.
pub struct Pod {
    pub node: u8,
    pub name: String,
    pub ns: Netns,
    pub ip: Ipv4Addr,
    pub gateway: Ipv4Addr,
    pub mac: MacAddr,
    pub host_veth: String,
}

/// Namespaces created so far: removed on drop (failure, panic) unless kept.
pub struct Cleanup {
    pub names: Arc<Mutex<Vec<String>>>,
    pub data_dir: String,
    pub armed: bool,
}

impl Cleanup {
    /// Start a run under `prefix` (refused while a kept run is still
    /// there): the guard removes every namespace the run records in
    /// `names`, unless disarmed.
    pub fn start(prefix: &str) -> Fallible<Cleanup> {
        refuse_over_kept_run(prefix)?;
        Ok(Cleanup { names: Arc::new(Mutex::new(Vec::new())), data_dir: data_dir(prefix), armed: true })
    }

    /// Remove these namespaces (last created first) and the IPAM data.
    pub fn remove_all(names: &[String], data_dir: &str) {
        for n in names.iter().rev() {
            if let Err(err) = Netns::remove_named(n) {
                eprintln!("warning: could not remove namespace {n}: {err}");
            }
        }
        let _ = std::fs::remove_dir_all(data_dir);
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if self.armed {
            let names = self.names.lock().map(|n| n.clone()).unwrap_or_default();
            Cleanup::remove_all(&names, &self.data_dir);
        }
    }
}

/// `work` to its end, or Ctrl-C, which ends it as an error (the cleanup
/// guards then run as on any failure).
pub async fn until_interrupted<T>(work: impl std::future::Future<Output = Fallible<T>>) -> Fallible<T> {
    tokio::select! {
        r = work => r,
        _ = tokio::signal::ctrl_c() => Err("interrupted".to_string()),
    }
}

pub fn data_dir(prefix: &str) -> String {
    format!("/run/netplumb-pod-network/{prefix}")
}

pub fn node_name(prefix: &str, id: u8) -> String {
    format!("{prefix}-node{id}")
}

pub fn pod_name(prefix: &str, node: u8, i: usize) -> String {
    format!("{prefix}-n{node}-pod{i}")
}

/// Everything a kept run may have left, by name.
pub fn leftovers(prefix: &str) -> Vec<String> {
    Netns::list_named()
        .unwrap_or_default()
        .into_iter()
        .filter(|n| ["node", "n", "ul", "client"].iter().any(|k| n.starts_with(&format!("{prefix}-{k}"))))
        .collect()
}

pub fn cni_conf(prefix: &str, node: &Node, mtu: u32) -> Fallible<config::NetConf> {
    let gw = Ipv4Addr::from(u32::from(node.pod_cidr.network()) + 1);
    let text = serde_json::json!({
        "cniVersion": "1.1.0",
        "name": format!("{prefix}-podnet"),
        "type": "bridge",
        "bridge": "cni0",
        "isGateway": true,
        "isDefaultGateway": true,
        "hairpinMode": true,
        "mtu": mtu,
        "mac": node.bridge_mac.to_string(),
        "ipam": {
            "type": "host-local",
            "ranges": [[{"subnet": node.pod_cidr.to_string(), "gateway": gw.to_string()}]],
            "dataDir": format!("{}/node{}", data_dir(prefix), node.id),
        }
    });
    config::NetConf::parse(text.to_string().as_bytes()).map_err(|err| format!("CNI config: {}", err.msg))
}

pub async fn create_ns(name: &str, track: &Mutex<Vec<String>>) -> Fallible<Netns> {
    let ns = Netns::create_named(name).await.map_err(e(&format!("create namespace {name}")))?;
    track.lock().expect("lock").push(name.to_string());
    let rt = Rtnl::new_in(&ns).await.map_err(e("netlink"))?;
    rt.links().set("lo", &LinkChange::new().up()).await.map_err(e("set lo up"))?;
    Ok(ns)
}

/// Create the nodes and their underlay; returns the nodes and the client
/// hosts (none for [`Underlay::Pair`]).
pub async fn build_nodes(sp: &Spec, track: &Mutex<Vec<String>>) -> Fallible<(Vec<Node>, Vec<Client>)> {
    let mut nodes = Vec::new();
    for id in 1..=2u8 {
        let name = node_name(&sp.prefix, id);
        let ns = create_ns(&name, track).await?;
        let rt = Rtnl::new_in(&ns).await.map_err(e("netlink"))?;
        nodes.push(Node {
            id,
            name,
            ns,
            rt,
            underlay_ip: Ipv4Addr::new(192, 168, 100, id),
            pod_cidr: Ipv4Net::new(Ipv4Addr::new(10, 244, id, 0), 24).expect("valid"),
            bridge_mac: MacAddr([0x02, 0x42, 0x0a, 0xf4, id, 0x01]),
        });
    }
    let mut clients = Vec::new();
    match sp.underlay {
        Underlay::Pair => {
            // One veth pair, `eth0` in each node, created from node 1 with
            // its peer placed straight into node 2.
            let (n1, n2) = (&nodes[0], &nodes[1]);
            n1.rt
                .links()
                .add(&NewLink::new("eth0", Veth::new(VethPeer::new("eth0").netns(&n2.ns))).up())
                .await
                .map_err(e("create underlay veth pair"))?;
        }
        Underlay::Switch { clients: n } => {
            // A switch namespace with a bridge; every host's eth0 is a veth
            // whose other end is a port of that bridge.
            let ul_name = format!("{}-ul", sp.prefix);
            let ul = create_ns(&ul_name, track).await?;
            let urt = Rtnl::new_in(&ul).await.map_err(e("netlink"))?;
            urt.links().add(&NewLink::new("br0", Bridge::new()).up()).await.map_err(e("underlay switch"))?;
            let br = urt.links().get("br0").await.map_err(e("find br0"))?.index;
            let mut hosts: Vec<Netns> = nodes.iter().map(|n| n.ns.clone()).collect();
            for k in 1..=n {
                let name = format!("{}-client{k}", sp.prefix);
                let ns = create_ns(&name, track).await?;
                clients.push(Client { name, ns: ns.clone(), ip: Ipv4Addr::new(192, 168, 100, 100 + k) });
                hosts.push(ns);
            }
            for (i, ns) in hosts.iter().enumerate() {
                urt.links()
                    .add(
                        &NewLink::new(format!("port{i}"), Veth::new(VethPeer::new("eth0").netns(ns)))
                            .master(br)
                            .up(),
                    )
                    .await
                    .map_err(e("underlay port"))?;
            }
            for c in &clients {
                let rt = Rtnl::new_in(&c.ns).await.map_err(e("netlink"))?;
                let eth0 = rt.links().get("eth0").await.map_err(e("find eth0"))?;
                rt.links().set(eth0.index, &LinkChange::new().up()).await.map_err(e("set eth0 up"))?;
                let net = Ipv4Net::new(c.ip, 24).expect("valid");
                rt.addresses()
                    .add(&Address::new(eth0.index, net.into()))
                    .await
                    .map_err(e("client address"))?;
            }
        }
    }
    for n in &nodes {
        let eth0 = n.rt.links().get("eth0").await.map_err(e("find eth0"))?;
        n.rt.links().set(eth0.index, &LinkChange::new().up()).await.map_err(e("set eth0 up"))?;
        let net = Ipv4Net::new(n.underlay_ip, 24).expect("valid");
        n.rt.addresses().add(&Address::new(eth0.index, net.into())).await.map_err(e("underlay address"))?;
    }
    Ok((nodes, clients))
}

/// Create every pod and attach it with the CNI plugin's ADD.
pub async fn attach_pods(o: &Spec, nodes: &[Node], track: &Mutex<Vec<String>>) -> Fallible<Vec<Pod>> {
    let mtu = if o.overlay == Overlay::Vxlan { 1450 } else { 1500 };
    let mut pods = Vec::new();
    for n in nodes {
        let conf = cni_conf(&o.prefix, n, mtu)?;
        for i in 0..o.pods {
            let name = pod_name(&o.prefix, n.id, i);
            let ns = create_ns(&name, track).await?;
            let args = attach::AddArgs { container_id: &name, container: &ns, ifname: "eth0" };
            let a = attach::add(&n.ns, &conf, &args)
                .await
                .map_err(|err| format!("CNI ADD for {name}: {}", err.msg))?;
            let ip = match a.ips[0].address.addr() {
                IpAddr::V4(v) => v,
                IpAddr::V6(_) => return Err("unexpected IPv6 allocation".into()),
            };
            let gateway = match a.ips[0].gateway {
                IpAddr::V4(v) => v,
                IpAddr::V6(_) => return Err("unexpected IPv6 gateway".into()),
            };
            pods.push(Pod {
                node: n.id,
                name,
                ns,
                ip,
                gateway,
                mac: a.container_if.2,
                host_veth: a.host_veth.0,
            });
        }
    }
    Ok(pods)
}

/// Connect the pod subnets across nodes.
pub async fn cross_node(o: &Spec, nodes: &[Node]) -> Fallible<()> {
    match o.overlay {
        Overlay::Routes => {
            for (me, other) in [(&nodes[0], &nodes[1]), (&nodes[1], &nodes[0])] {
                me.rt.routes().add(&Route::new(other.pod_cidr).gateway(other.underlay_ip)).await.map_err(
                    e(&format!("route {} via {} on {}", other.pod_cidr, other.underlay_ip, me.name)),
                )?;
            }
        }
        Overlay::Vxlan => {
            let vtep_mac = |id: u8| MacAddr([0x02, 0x00, 0x0a, 0xf4, id, 0x42]);
            let mut vx_index = BTreeMap::new();
            for n in nodes {
                let eth0 = n.rt.links().get("eth0").await.map_err(e("find eth0"))?;
                let vx = Vxlan::new(VXLAN_VNI)
                    .local(IpAddr::V4(n.underlay_ip))
                    .port(VXLAN_PORT)
                    .learning(false)
                    .link(eth0.index);
                n.rt.links()
                    .add(&NewLink::new("vxlan0", vx).mac(vtep_mac(n.id)).mtu(1450).up())
                    .await
                    .map_err(e(&format!("create vxlan0 on {}", n.name)))?;
                let idx = n.rt.links().get("vxlan0").await.map_err(e("find vxlan0"))?.index;
                // The node's VTEP address: the pod subnet's network address /32.
                let addr = Ipv4Net::new(n.pod_cidr.network(), 32).expect("valid");
                n.rt.addresses().add(&Address::new(idx, addr.into())).await.map_err(e("vxlan0 address"))?;
                vx_index.insert(n.id, idx);
            }
            for (me, other) in [(&nodes[0], &nodes[1]), (&nodes[1], &nodes[0])] {
                let idx = vx_index[&me.id];
                let remote_vtep = other.pod_cidr.network();
                // Permanent neighbour: the other node's VTEP address is at its VXLAN MAC.
                me.rt
                    .neighbours()
                    .add(&Neighbour::new(idx, IpAddr::V4(remote_vtep), vtep_mac(other.id)))
                    .await
                    .map_err(e("vxlan neighbour"))?;
                // FDB: that MAC lives behind the other node's underlay IP.
                me.rt
                    .fdb()
                    .add(&FdbEntry::new(idx, vtep_mac(other.id)).dst(IpAddr::V4(other.underlay_ip)))
                    .await
                    .map_err(e("vxlan fdb entry"))?;
                // Onlink route: the other pod subnet via its VTEP address on vxlan0.
                me.rt
                    .routes()
                    .add(&Route::new(other.pod_cidr).gateway(remote_vtep).oif(idx).onlink())
                    .await
                    .map_err(e("onlink route"))?;
            }
        }
    }
    Ok(())
}

/// Start a TCP (port [`SERVER_PORT`]) and UDP (port [`UDP_PORT`]) echo
/// server in every pod: each answers `POD sees CLIENT_IP`.
pub fn start_servers(pods: &[Pod]) -> Fallible<Vec<NsTask<()>>> {
    let mut tasks = Vec::new();
    for p in pods {
        let name = p.name.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let t =
            p.ns.spawn(move || async move {
                let bound = async {
                    let tcp = tokio::net::TcpListener::bind(("0.0.0.0", SERVER_PORT)).await?;
                    let udp = tokio::net::UdpSocket::bind(("0.0.0.0", UDP_PORT)).await?;
                    Ok::<_, std::io::Error>((tcp, udp))
                };
                let (tcp, udp) = match bound.await {
                    Ok(b) => b,
                    Err(err) => {
                        let _ = tx.send(Err(err.to_string()));
                        return;
                    }
                };
                let _ = tx.send(Ok(()));
                let udp_name = name.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 512];
                    while let Ok((n, peer)) = udp.recv_from(&mut buf).await {
                        let line = udp_reply(&udp_name, peer.ip(), &buf[..n]);
                        let _ = udp.send_to(line.as_bytes(), peer).await;
                    }
                });
                loop {
                    let Ok((mut s, peer)) = tcp.accept().await else { return };
                    let line = format!("{name} sees {}\n", peer.ip());
                    tokio::spawn(async move {
                        let _ = tokio::io::AsyncWriteExt::write_all(&mut s, line.as_bytes()).await;
                    });
                }
            })
            .map_err(e("start server"))?;
        rx.recv_timeout(Duration::from_secs(5))
            .map_err(e(&format!("server in {} did not start", p.name)))?
            .map_err(e(&format!("server in {}", p.name)))?;
        tasks.push(t);
    }
    Ok(tasks)
}

/// The UDP echo server's answer: `POD sees CLIENT_IP`, and ` seq=N` when
/// the datagram was `seq=N` (so a client can match replies to requests).
pub fn udp_reply(pod: &str, peer: std::net::IpAddr, datagram: &[u8]) -> String {
    match datagram.strip_prefix(b"seq=") {
        Some(seq) if seq.iter().all(u8::is_ascii_digit) => {
            format!("{pod} sees {peer} seq={}\n", String::from_utf8_lossy(seq))
        }
        _ => format!("{pod} sees {peer}\n"),
    }
}

/// From inside a namespace: one UDP datagram to `dst:port` from
/// `src_port` (0: any), and the server's reply line.
pub fn udp_probe(dst: Ipv4Addr, port: u16, src_port: u16, timeout: Duration) -> Result<String, String> {
    let s = UdpSocket::bind(("0.0.0.0", src_port)).map_err(|err| err.to_string())?;
    s.set_read_timeout(Some(timeout)).map_err(|err| err.to_string())?;
    s.connect((dst, port)).map_err(|err| err.to_string())?;
    s.send(b"hello").map_err(|err| err.to_string())?;
    let mut buf = [0u8; 512];
    let n = s.recv(&mut buf).map_err(|err| err.to_string())?;
    Ok(String::from_utf8_lossy(&buf[..n]).trim_end().to_string())
}

/// From inside a pod: connect to `dst`, read the server's line.
pub fn tcp_probe(dst: Ipv4Addr) -> Result<String, String> {
    tcp_probe_port(dst, SERVER_PORT)
}

/// From inside a namespace: connect to `dst:port`, read the server's line.
pub fn tcp_probe_port(dst: Ipv4Addr, port: u16) -> Result<String, String> {
    let addr = SocketAddr::from((dst, port));
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(3)).map_err(|err| err.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(3))).map_err(|err| err.to_string())?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).map_err(|err| err.to_string())?;
    Ok(line.trim_end().to_string())
}

/// ICMP echo from inside a pod (raw socket; root).
pub fn ping(dst: Ipv4Addr, ident: u16) -> Result<Duration, String> {
    fn checksum(b: &[u8]) -> u16 {
        let mut sum = 0u32;
        for c in b.chunks(2) {
            sum += u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32;
        }
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }
    // SAFETY: plain socket syscalls on a descriptor we own and close.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::IPPROTO_ICMP);
        if fd < 0 {
            return Err(std::io::Error::last_os_error().to_string());
        }
        let tv = libc::timeval { tv_sec: 2, tv_usec: 0 };
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as u32,
        );
        let mut pkt = [0u8; 16];
        pkt[0] = 8; // echo request
        pkt[4..6].copy_from_slice(&ident.to_be_bytes());
        pkt[6..8].copy_from_slice(&1u16.to_be_bytes());
        pkt[8..16].copy_from_slice(b"netplumb");
        let c = checksum(&pkt);
        pkt[2..4].copy_from_slice(&c.to_be_bytes());
        let sa = libc::sockaddr_in {
            sin_family: libc::AF_INET as u16,
            sin_port: 0,
            sin_addr: libc::in_addr { s_addr: u32::from(dst).to_be() },
            sin_zero: [0; 8],
        };
        let start = Instant::now();
        let r = libc::sendto(
            fd,
            pkt.as_ptr() as *const libc::c_void,
            pkt.len(),
            0,
            &sa as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as u32,
        );
        if r < 0 {
            let err = std::io::Error::last_os_error().to_string();
            libc::close(fd);
            return Err(err);
        }
        let mut buf = [0u8; 1500];
        let result = loop {
            if start.elapsed() > Duration::from_secs(2) {
                break Err("timeout".to_string());
            }
            let n = libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0);
            if n < 0 {
                break Err(std::io::Error::last_os_error().to_string());
            }
            let n = n as usize;
            let ihl = ((buf[0] & 0x0f) as usize) * 4;
            if n >= ihl + 8 && buf[ihl] == 0 && buf[ihl + 4..ihl + 6] == ident.to_be_bytes() {
                break Ok(start.elapsed());
            }
        };
        libc::close(fd);
        result
    }
}

/// `--cleanup`: remove what a kept run left (namespaces, IPAM data).
pub fn cleanup_kept(prefix: &str) {
    let left = leftovers(prefix);
    Cleanup::remove_all(&left, &data_dir(prefix));
    println!("removed {} namespaces: {}", left.len(), left.join(" "));
}

/// Refuse to start over a kept run: `Err` with the message to print.
pub fn refuse_over_kept_run(prefix: &str) -> Result<(), String> {
    let left = leftovers(prefix);
    if left.is_empty() {
        Ok(())
    } else {
        Err(format!("namespaces from a kept run exist ({}); run with --cleanup first", left.join(" ")))
    }
}
