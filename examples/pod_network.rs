//! A full Kubernetes-style pod network on one machine, assembled only from
//! netplumb's building blocks, and proved with real traffic.
//!
//! Two nodes (network namespaces) joined by an underlay veth pair; on each
//! node a bridge `cni0` holding the node's pod-subnet gateway address and a
//! pinned MAC; N pods per node, each a named namespace (`ip netns list`
//! shows them, like the namespace a pause container holds), attached by the
//! same ADD code as `examples/cni_bridge`. Cross-node traffic goes through
//! node routes (default) or a VXLAN overlay (`--overlay vxlan`). Every pod
//! runs a TCP echo server; every pod connects to every other pod and pings
//! its gateway; the servers check they see the client's own pod IP.
//!
//! Needs root (it creates namespaces). The host's own network is never
//! touched; everything is removed at the end, also on failure or Ctrl-C.
//!
//! ```sh
//! cargo run --example pod_network                    # 2 nodes x 3 pods, node routes
//! cargo run --example pod_network -- --overlay vxlan --pods 4
//! cargo run --example pod_network -- --keep          # leave it up to explore:
//! ip netns exec pn-n1-pod0 ping 10.244.2.2
//! cargo run --example pod_network -- --cleanup       # remove what --keep left
//! ```

#[path = "cni_bridge/config.rs"]
#[allow(dead_code)]
mod config;
#[path = "cni_bridge/ipam.rs"]
#[allow(dead_code)]
mod ipam;
#[path = "cni_bridge/plugin.rs"]
#[allow(dead_code)]
mod plugin;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;
use netplumb::addr::Address;
use netplumb::link::kind::{Veth, VethPeer, Vxlan};
use netplumb::link::{LinkChange, NewLink};
use netplumb::neigh::{FdbEntry, NeighState, Neighbour};
use netplumb::netns::{Netns, NsTask};
use netplumb::route::Route;
use netplumb::{IfIndex, MacAddr, Rtnl};

const SERVER_PORT: u16 = 8080;
const VXLAN_VNI: u32 = 42;
const VXLAN_PORT: u16 = 4789;

/// How cross-node pod traffic travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Overlay {
    /// `10.244.2.0/24 via 192.168.100.2` on node 1, and back.
    Routes,
    /// A VXLAN device per node with permanent neighbour and FDB entries
    /// and onlink routes (flannel's vxlan backend, by hand).
    Vxlan,
}

#[derive(Clone, Debug)]
struct Opts {
    pods: usize,
    overlay: Overlay,
    keep: bool,
    cleanup: bool,
    prefix: String,
    quiet: bool,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            pods: 3,
            overlay: Overlay::Routes,
            keep: false,
            cleanup: false,
            prefix: "pn".into(),
            quiet: false,
        }
    }
}

fn usage() -> ! {
    eprintln!("usage: pod_network [--pods N] [--overlay routes|vxlan] [--keep | --cleanup] [--prefix P]");
    std::process::exit(2);
}

fn parse_args() -> Opts {
    let mut o = Opts::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--pods" => {
                o.pods =
                    args.next().and_then(|v| v.parse().ok()).filter(|n| (1..=50).contains(n)).unwrap_or_else(
                        || {
                            eprintln!("--pods takes a number from 1 to 50");
                            usage()
                        },
                    )
            }
            "--overlay" => {
                o.overlay = match args.next().as_deref() {
                    Some("vxlan") => Overlay::Vxlan,
                    Some("routes") => Overlay::Routes,
                    _ => usage(),
                }
            }
            "--keep" => o.keep = true,
            "--cleanup" => o.cleanup = true,
            "--prefix" => {
                o.prefix = args
                    .next()
                    .filter(|p| !p.is_empty() && p.len() <= 6 && !p.contains('/'))
                    .unwrap_or_else(|| usage())
            }
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    o
}

type Fallible<T> = Result<T, String>;

fn e<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |err| format!("{what}: {err}")
}

/// One node of the cluster.
struct Node {
    id: u8,
    name: String,
    ns: Netns,
    rt: Rtnl,
    underlay_ip: Ipv4Addr,
    pod_cidr: Ipv4Net,
    bridge_mac: MacAddr,
}

/// One pod.
struct Pod {
    node: u8,
    name: String,
    ns: Netns,
    ip: Ipv4Addr,
    gateway: Ipv4Addr,
    mac: MacAddr,
    host_veth: String,
}

/// Namespaces created so far: removed on drop (failure, panic) unless kept.
struct Cleanup {
    names: Arc<Mutex<Vec<String>>>,
    data_dir: String,
    armed: bool,
}

impl Cleanup {
    fn remove_all(names: &[String], data_dir: &str) {
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

fn data_dir(prefix: &str) -> String {
    format!("/run/netplumb-pod-network/{prefix}")
}

fn node_name(prefix: &str, id: u8) -> String {
    format!("{prefix}-node{id}")
}

fn pod_name(prefix: &str, node: u8, i: usize) -> String {
    format!("{prefix}-n{node}-pod{i}")
}

/// Everything a kept run may have left, by name.
fn leftovers(prefix: &str) -> Vec<String> {
    Netns::list_named()
        .unwrap_or_default()
        .into_iter()
        .filter(|n| n.starts_with(&format!("{prefix}-node")) || n.starts_with(&format!("{prefix}-n")))
        .collect()
}

fn cni_conf(prefix: &str, node: &Node, mtu: u32) -> Fallible<config::NetConf> {
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

async fn create_ns(name: &str, track: &Mutex<Vec<String>>) -> Fallible<Netns> {
    let ns = Netns::create_named(name).await.map_err(e(&format!("create namespace {name}")))?;
    track.lock().expect("lock").push(name.to_string());
    let rt = Rtnl::new_in(&ns).await.map_err(e("netlink"))?;
    rt.links().set("lo", &LinkChange::new().up()).await.map_err(e("set lo up"))?;
    Ok(ns)
}

async fn build_nodes(o: &Opts, track: &Mutex<Vec<String>>) -> Fallible<Vec<Node>> {
    let mut nodes = Vec::new();
    for id in 1..=2u8 {
        let name = node_name(&o.prefix, id);
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
    // The underlay: one veth pair, `eth0` in each node, created from node 1
    // with its peer placed straight into node 2.
    let (n1, n2) = (&nodes[0], &nodes[1]);
    n1.rt
        .links()
        .add(&NewLink::new("eth0", Veth::new(VethPeer::new("eth0").netns(&n2.ns))).up())
        .await
        .map_err(e("create underlay veth pair"))?;
    for n in &nodes {
        let eth0 = n.rt.links().get("eth0").await.map_err(e("find eth0"))?;
        n.rt.links().set(eth0.index, &LinkChange::new().up()).await.map_err(e("set eth0 up"))?;
        let net = Ipv4Net::new(n.underlay_ip, 24).expect("valid");
        n.rt.addresses().add(&Address::new(eth0.index, net.into())).await.map_err(e("underlay address"))?;
    }
    Ok(nodes)
}

async fn attach_pods(o: &Opts, nodes: &[Node], track: &Mutex<Vec<String>>) -> Fallible<Vec<Pod>> {
    let mtu = if o.overlay == Overlay::Vxlan { 1450 } else { 1500 };
    let mut pods = Vec::new();
    for n in nodes {
        let conf = cni_conf(&o.prefix, n, mtu)?;
        for i in 0..o.pods {
            let name = pod_name(&o.prefix, n.id, i);
            let ns = create_ns(&name, track).await?;
            let args = plugin::AddArgs { container_id: &name, container: &ns, ifname: "eth0" };
            let a = plugin::add(&n.ns, &conf, &args)
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

async fn cross_node(o: &Opts, nodes: &[Node]) -> Fallible<()> {
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

fn start_servers(pods: &[Pod]) -> Fallible<Vec<NsTask<()>>> {
    let mut tasks = Vec::new();
    for p in pods {
        let name = p.name.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let t =
            p.ns.spawn(move || async move {
                let l = match tokio::net::TcpListener::bind(("0.0.0.0", SERVER_PORT)).await {
                    Ok(l) => l,
                    Err(err) => {
                        let _ = tx.send(Err(err.to_string()));
                        return;
                    }
                };
                let _ = tx.send(Ok(()));
                loop {
                    let Ok((mut s, peer)) = l.accept().await else { return };
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

/// From inside a pod: connect to `dst`, read the server's line.
fn tcp_probe(dst: Ipv4Addr) -> Result<String, String> {
    let addr = SocketAddr::from((dst, SERVER_PORT));
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(3)).map_err(|err| err.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(3))).map_err(|err| err.to_string())?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).map_err(|err| err.to_string())?;
    Ok(line.trim_end().to_string())
}

/// ICMP echo from inside a pod (raw socket; root).
fn ping(dst: Ipv4Addr, ident: u16) -> Result<Duration, String> {
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

struct Report {
    ok: bool,
    matrix: Vec<Vec<Result<(), String>>>,
    pings: Vec<Result<Duration, String>>,
}

async fn prove(pods: &[Pod]) -> Fallible<Report> {
    let mut matrix = Vec::new();
    let mut pings = Vec::new();
    let mut ok = true;
    // Each source pod probes every other pod from inside its namespace.
    let mut jobs = Vec::new();
    for (si, src) in pods.iter().enumerate() {
        let targets: Vec<(String, Ipv4Addr)> = pods.iter().map(|p| (p.name.clone(), p.ip)).collect();
        let me = src.ip;
        let gw = src.gateway;
        let job = src.ns.run(move || {
            let mut row = Vec::new();
            for (ti, (tname, tip)) in targets.iter().enumerate() {
                if ti == si {
                    row.push(Ok(()));
                    continue;
                }
                // The server must name itself and see our own pod IP: no
                // NAT inside the cluster.
                row.push(match tcp_probe(*tip) {
                    Ok(line) if line == format!("{tname} sees {me}") => Ok(()),
                    Ok(line) => Err(format!("unexpected reply {line:?}")),
                    Err(err) => Err(err),
                });
            }
            let p = ping(gw, 0x4e00 + si as u16);
            (row, p)
        });
        jobs.push(job);
    }
    for j in jobs {
        let (row, p) = j.await.map_err(e("probe"))?;
        ok &= row.iter().all(|r| r.is_ok()) && p.is_ok();
        matrix.push(row);
        pings.push(p);
    }
    Ok(Report { ok, matrix, pings })
}

fn print_topology(nodes: &[Node], pods: &[Pod], o: &Opts) {
    println!("\nTopology ({:?} overlay): underlay 192.168.100.0/24 between the nodes", o.overlay);
    println!(
        "{:<8} {:<14} {:<16} {:<6} {:<14} {:<18} {:<14}",
        "NODE", "POD", "NAMESPACE", "IFACE", "IP", "MAC", "HOST VETH"
    );
    for n in nodes {
        let gw = Ipv4Addr::from(u32::from(n.pod_cidr.network()) + 1);
        println!(
            "{:<8} {:<14} {:<16} {:<6} {:<14} {:<18} {:<14}",
            n.name,
            "(bridge)",
            n.name,
            "cni0",
            format!("{gw}/24"),
            n.bridge_mac.to_string(),
            "-"
        );
        for p in pods.iter().filter(|p| p.node == n.id) {
            let short = p.name.rsplit('-').next().unwrap_or(&p.name);
            println!(
                "{:<8} {:<14} {:<16} {:<6} {:<14} {:<18} {:<14}",
                n.name,
                short,
                p.name,
                "eth0",
                p.ip.to_string(),
                p.mac.to_string(),
                p.host_veth
            );
        }
    }
}

fn print_matrix(pods: &[Pod], r: &Report) {
    println!("\nReachability (TCP to :{SERVER_PORT}, server sees the client's pod IP; ICMP to the gateway):");
    let short = |p: &Pod| format!("n{}/{}", p.node, p.name.rsplit('-').next().unwrap_or(""));
    print!("{:<10}", "from\\to");
    for p in pods {
        print!(" {:>9}", short(p));
    }
    println!(" {:>10}", "gateway");
    for (i, p) in pods.iter().enumerate() {
        print!("{:<10}", short(p));
        for (j, cell) in r.matrix[i].iter().enumerate() {
            let s = if i == j {
                "-"
            } else if cell.is_ok() {
                "ok"
            } else {
                "FAIL"
            };
            print!(" {s:>9}");
        }
        match &r.pings[i] {
            Ok(d) => println!(" {:>8.2}ms", d.as_secs_f64() * 1000.0),
            Err(err) => println!(" FAIL ({err})"),
        }
    }
    for (i, row) in r.matrix.iter().enumerate() {
        for (j, cell) in row.iter().enumerate() {
            if let Err(err) = cell {
                println!("  {} -> {}: {err}", pods[i].name, pods[j].name);
            }
        }
    }
}

async fn print_learned(nodes: &[Node]) -> Fallible<()> {
    for n in nodes {
        let links = n.rt.links().list().try_collect().await.map_err(e("list links"))?;
        for l in links.iter().filter(|l| l.name == "vxlan0" || l.name == "eth0") {
            if let Some(st) = &l.stats {
                println!(
                    "\n{} {}: {} packets out, {} in ({} bytes out)",
                    n.name, l.name, st.tx_packets, st.rx_packets, st.tx_bytes
                );
            }
        }
        let names: BTreeMap<IfIndex, String> = links.into_iter().map(|l| (l.index, l.name)).collect();
        let dev = |i: IfIndex| names.get(&i).cloned().unwrap_or_else(|| i.to_string());
        println!("\nNeighbours on {} (what the traffic taught ARP):", n.name);
        for nb in n.rt.neighbours().list().try_collect().await.map_err(e("list neighbours"))? {
            if nb.dst.is_ipv6() || nb.dst.is_multicast() {
                continue;
            }
            let mac = nb.mac().map(|m| m.to_string()).unwrap_or_else(|| "(incomplete)".into());
            println!("  {:<15} lladdr {mac} dev {} {}", nb.dst, dev(nb.index), state_name(nb.state));
        }
        println!("Bridge FDB on {} (learned, dynamic):", n.name);
        for f in n.rt.fdb().list().try_collect().await.map_err(e("list fdb"))? {
            if f.state.contains(NeighState::PERMANENT) || f.state.contains(NeighState::NOARP) {
                continue;
            }
            println!(
                "  {} dev {} master {}",
                f.mac,
                dev(f.index),
                f.master.map(dev).unwrap_or_else(|| "-".into())
            );
        }
    }
    Ok(())
}

fn state_name(s: NeighState) -> &'static str {
    if s.contains(NeighState::PERMANENT) {
        "PERMANENT"
    } else if s.contains(NeighState::REACHABLE) {
        "REACHABLE"
    } else if s.contains(NeighState::STALE) {
        "STALE"
    } else if s.contains(NeighState::DELAY) {
        "DELAY"
    } else {
        "OTHER"
    }
}

/// Build, prove, report. Returns whether every check passed.
async fn run(o: &Opts, track: Arc<Mutex<Vec<String>>>) -> Fallible<bool> {
    let t0 = Instant::now();
    let nodes = build_nodes(o, &track).await?;
    let pods = attach_pods(o, &nodes, &track).await?;
    cross_node(o, &nodes).await?;
    let setup = t0.elapsed();
    let servers = start_servers(&pods)?;
    let report = prove(&pods).await?;
    for s in servers {
        s.stop().await;
    }
    if !o.quiet {
        print_topology(&nodes, &pods, o);
        print_matrix(&pods, &report);
        print_learned(&nodes).await?;
        println!(
            "\nBuilt 2 nodes and {} pods in {:.0} ms; {} of {} pod-to-pod connections and {} of {} gateway pings succeeded.",
            pods.len(),
            setup.as_secs_f64() * 1000.0,
            report.matrix.iter().flatten().filter(|c| c.is_ok()).count() - pods.len(),
            pods.len() * (pods.len() - 1),
            report.pings.iter().filter(|p| p.is_ok()).count(),
            pods.len()
        );
    }
    Ok(report.ok)
}

/// The whole example: returns the process exit code.
async fn main_with(o: Opts) -> i32 {
    if o.cleanup {
        let left = leftovers(&o.prefix);
        Cleanup::remove_all(&left, &data_dir(&o.prefix));
        println!("removed {} namespaces: {}", left.len(), left.join(" "));
        return 0;
    }
    if !leftovers(&o.prefix).is_empty() {
        eprintln!(
            "namespaces from a kept run exist ({}); run with --cleanup first",
            leftovers(&o.prefix).join(" ")
        );
        return 1;
    }
    let track = Arc::new(Mutex::new(Vec::new()));
    let mut guard = Cleanup { names: track.clone(), data_dir: data_dir(&o.prefix), armed: true };
    let outcome = tokio::select! {
        r = run(&o, track.clone()) => r,
        _ = tokio::signal::ctrl_c() => Err("interrupted".to_string()),
    };
    let code = match outcome {
        Ok(true) => 0,
        Ok(false) => {
            eprintln!("some checks failed");
            1
        }
        Err(err) => {
            eprintln!("error: {err}");
            1
        }
    };
    if o.keep && code == 0 {
        guard.armed = false;
        let names = track.lock().expect("lock").clone();
        println!("\nKept: {}", names.join(" "));
        println!(
            "Explore with e.g. `ip netns exec {} ip route`; remove with `--cleanup`.",
            names.last().cloned().unwrap_or_default()
        );
    } else if !o.quiet {
        println!("removed everything it created");
    }
    let _ = std::io::stdout().flush();
    code
}

#[tokio::main]
async fn main() {
    let o = parse_args();
    let code = main_with(o).await;
    std::process::exit(code);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_links() -> Vec<String> {
        let out = netplumb::testing::run("ip", &["-j", "link", "show"]);
        let v: serde_json::Value = serde_json::from_str(&out).expect("ip -j");
        let mut names: Vec<String> =
            v.as_array().unwrap().iter().map(|l| l["ifname"].as_str().unwrap().to_string()).collect();
        names.sort();
        names
    }

    fn host_tables() -> String {
        netplumb::testing::run("nft", &["list", "tables"])
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn both_modes_work_and_leave_nothing_behind() {
        netplumb::testing::require_root();
        let links_before = host_links();
        let tables_before = host_tables();
        for (overlay, prefix) in [
            (Overlay::Routes, format!("t{}r", std::process::id() % 10000)),
            (Overlay::Vxlan, format!("t{}v", std::process::id() % 10000)),
        ] {
            let o = Opts { pods: 2, overlay, prefix: prefix.clone(), quiet: false, ..Opts::default() };
            let code = main_with(o).await;
            assert_eq!(code, 0, "{overlay:?} run failed");
            assert!(leftovers(&prefix).is_empty(), "namespaces left behind: {:?}", leftovers(&prefix));
            assert!(!std::path::Path::new(&data_dir(&prefix)).exists(), "IPAM data left behind");
        }
        assert_eq!(host_links(), links_before, "the host's links changed");
        assert_eq!(host_tables(), tables_before, "the host's nftables changed");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn keep_then_cleanup() {
        netplumb::testing::require_root();
        let prefix = format!("t{}k", std::process::id() % 10000);
        let o = Opts { pods: 1, keep: true, quiet: true, prefix: prefix.clone(), ..Opts::default() };
        assert_eq!(main_with(o.clone()).await, 0);
        let kept = leftovers(&prefix);
        assert_eq!(kept.len(), 4, "2 nodes + 2 pods kept: {kept:?}");
        // A kept run answers from outside the example too.
        let out = netplumb::testing::run(
            "ip",
            &["netns", "exec", &pod_name(&prefix, 1, 0), "ping", "-c1", "-W2", "10.244.2.2"],
        );
        assert!(out.contains("1 received"), "{out}");
        // A second run refuses to trample it.
        assert_eq!(main_with(Opts { keep: false, ..o.clone() }).await, 1);
        assert_eq!(main_with(Opts { cleanup: true, ..o }).await, 0);
        assert!(leftovers(&prefix).is_empty());
    }
}
