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
//! cargo run --example pod_network -- --bandwidth 10mbit  # shape a pod with tc, measure it
//! cargo run --example pod_network -- --keep          # leave it up to explore:
//! ip netns exec pn-n1-pod0 ping 10.244.2.2
//! cargo run --example pod_network -- --cleanup       # remove what --keep left
//! ```

#[path = "../common/cni/mod.rs"]
pub mod cni;

mod bandwidth;
pub mod cluster;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cluster::*;
use netplumb::neigh::NeighState;
use netplumb::IfIndex;

#[derive(Clone, Debug)]
struct Opts {
    pods: usize,
    overlay: Overlay,
    keep: bool,
    cleanup: bool,
    prefix: String,
    quiet: bool,
    bandwidth: Option<netplumb::tc::Rate>,
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
            bandwidth: None,
        }
    }
}

const USAGE: &str =
    "usage: pod_network [--pods N] [--overlay routes|vxlan] [--bandwidth RATE] [--keep | --cleanup] [--prefix P]";

/// Anything not understood: the usage on stderr, exit code 2, nothing done.
fn usage() -> ! {
    eprintln!("{USAGE}");
    std::process::exit(2);
}

/// `--help`: the usage on stdout, exit code 0, nothing done.
fn help() -> ! {
    println!("{USAGE}");
    std::process::exit(0);
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
            "--bandwidth" => {
                o.bandwidth = Some(args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
                    eprintln!("--bandwidth takes a rate as tc writes it, like 10mbit");
                    usage()
                }))
            }
            "--keep" => o.keep = true,
            "--cleanup" => o.cleanup = true,
            "--prefix" => {
                o.prefix = args
                    .next()
                    .filter(|p| !p.is_empty() && p.len() <= 6 && !p.contains('/'))
                    .unwrap_or_else(|| usage())
            }
            "-h" | "--help" => help(),
            _ => usage(),
        }
    }
    o
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
impl Opts {
    fn spec(&self) -> Spec {
        Spec { prefix: self.prefix.clone(), pods: self.pods, overlay: self.overlay, underlay: Underlay::Pair }
    }
}

async fn run(o: &Opts, track: Arc<Mutex<Vec<String>>>) -> Fallible<bool> {
    let t0 = Instant::now();
    let sp = o.spec();
    let (nodes, _) = build_nodes(&sp, &track).await?;
    let pods = attach_pods(&sp, &nodes, &track).await?;
    cross_node(&sp, &nodes).await?;
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
    let shaped_ok = match o.bandwidth {
        Some(rate) => bandwidth::demo(&nodes, &pods, rate).await?,
        None => true,
    };
    Ok(report.ok && shaped_ok)
}

/// The whole example: returns the process exit code.
async fn main_with(o: Opts) -> i32 {
    if o.cleanup {
        cleanup_kept(&o.prefix);
        return 0;
    }
    let mut guard = match Cleanup::start(&o.prefix) {
        Ok(g) => g,
        Err(msg) => {
            eprintln!("{msg}");
            return 1;
        }
    };
    let outcome = until_interrupted(run(&o, guard.names.clone())).await;
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
        let names = guard.names.lock().expect("lock").clone();
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

// The end-to-end tests need the harness (feature test-support).
#[cfg(all(test, feature = "test-support"))]
mod tests {
    use super::*;

    /// The tests of this binary run one at a time: the bandwidth proof
    /// measures rates, which the other tests' traffic and CPU would skew on
    /// a slow machine (0.42 of the rate in the emulated 6.1 guest).
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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
        let _one_at_a_time = SERIAL.lock().await;
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

    /// `--bandwidth`: the shaped pod's transfers run within 20% of the
    /// rate each way (the run fails otherwise), and nothing is left.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bandwidth_shapes_a_pod() {
        netplumb::testing::require_root();
        let _one_at_a_time = SERIAL.lock().await;
        let prefix = format!("t{}b", std::process::id() % 10000);
        let o = Opts {
            pods: 2,
            prefix: prefix.clone(),
            bandwidth: Some(netplumb::tc::Rate::mbit(8)),
            ..Opts::default()
        };
        assert_eq!(main_with(o).await, 0);
        assert!(leftovers(&prefix).is_empty(), "namespaces left behind: {:?}", leftovers(&prefix));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn keep_then_cleanup() {
        netplumb::testing::require_root();
        let _one_at_a_time = SERIAL.lock().await;
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
