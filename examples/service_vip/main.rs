//! A Kubernetes Service in the kernel, kube-proxy style, on netplumb: a
//! stable virtual IP DNATed to backend pods by nftables, replies un-NATed by
//! conntrack, stale UDP flows cleaned up through ctnetlink — proved step by
//! step with real traffic on the pod network of `examples/pod_network`.
//!
//! The cluster: two nodes on an underlay switch with a client host, three
//! pods per node (a TCP :8080 and UDP :5353 echo server in each, answering
//! `POD sees CLIENT_IP`). Services: `10.96.0.10` tcp/80 -> 8080 (NodePort
//! 30080) and udp/53 -> 5353 on four pods across both nodes; `10.96.0.11`
//! with no endpoints; `10.96.0.12` whose only endpoint is the pod that
//! calls it (hairpin). One `ip kube-proxy` table per node, installed and
//! changed by `proxy.rs` as atomic transactions.
//!
//! Same-bridge service traffic needs two kernel settings, which the example
//! sets on every node: `net.bridge.bridge-nf-call-iptables=1` (bridge
//! netfilter: a reply from a backend to a client on the same bridge is
//! bridged, not routed, and must still pass conntrack to have its source
//! turned back into the VIP) and hairpin mode on the bridge ports (a pod
//! that reaches itself through the VIP gets its own packet back out of the
//! port it came in on; the CNI plugin sets it).
//!
//! Needs root. Never touches the host's network; removes everything at the
//! end, also on failure or Ctrl-C.
//!
//! ```sh
//! cargo run --example service_vip                    # the eight proofs
//! cargo run --example service_vip -- --services 10000  # plus 10,000 services of 10 endpoints
//! cargo run --example service_vip -- --shape compact   # the same proofs with the compact ruleset
//! cargo run --example service_vip -- --keep          # leave it running:
//! ip netns exec sv-n1-pod0 bash -c 'exec 3<>/dev/tcp/10.96.0.10/80; cat <&3'
//! cargo run --example service_vip -- --cleanup
//! ```

#[path = "../common/cni/mod.rs"]
pub mod cni;

#[path = "../pod_network/cluster.rs"]
pub mod cluster;
mod proxy;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cluster::*;
use netplumb::conntrack::{Conntrack, Filter, IpProto};
use netplumb::netns::Netns;
use netplumb::nft::expr::Verdict;
use netplumb::nft::{Element, Nft, Transaction};
use proxy::{Change, Proto, Proxy, Service, Shape};

const VIP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);
const EMPTY_VIP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 11);
const HAIRPIN_VIP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 12);
const NODE_PORT: u16 = 30080;
const CONNECTIONS: usize = 200;

#[derive(Clone, Debug)]
struct Opts {
    services: usize,
    shape: Shape,
    keep: bool,
    cleanup: bool,
    prefix: String,
}

impl Default for Opts {
    fn default() -> Self {
        Opts { services: 1, shape: Shape::KubeProxy, keep: false, cleanup: false, prefix: "sv".into() }
    }
}

const USAGE: &str =
    "usage: service_vip [--services N] [--shape kube-proxy|compact] [--keep | --cleanup] [--prefix P]";

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

/// The proxy's view of one step's results.
struct Ctx {
    nodes: Vec<Node>,
    pods: Vec<Pod>,
    clients: Vec<Client>,
    proxies: Vec<Proxy>,
    desired: Vec<Service>,
    ok: bool,
}

impl Ctx {
    fn pod(&self, name_suffix: &str) -> &Pod {
        self.pods.iter().find(|p| p.name.ends_with(name_suffix)).expect("pod")
    }
    fn pod_by_ip(&self, ip: &str) -> Option<&Pod> {
        self.pods.iter().find(|p| p.ip.to_string() == ip)
    }
    fn check(&mut self, what: &str, ok: bool, detail: String) {
        println!(
            "  [{}] {what}{}",
            if ok { "ok" } else { "FAIL" },
            if detail.is_empty() { String::new() } else { format!(": {detail}") }
        );
        self.ok &= ok;
    }
    async fn sync(&mut self) -> Fallible<Vec<proxy::SyncReport>> {
        let mut out = Vec::new();
        for p in &mut self.proxies {
            out.push(p.sync(&self.desired).await.map_err(e("sync"))?);
        }
        Ok(out)
    }
    fn svc_mut(&mut self, vip: Ipv4Addr, proto: Proto) -> &mut Service {
        self.desired.iter_mut().find(|s| s.vip == vip && s.proto == proto).expect("service")
    }
}

fn step(n: u32, title: &str) {
    println!("\n== {n}. {title}");
}

fn backend_of(line: &str) -> (String, String) {
    // "POD sees IP"
    let mut it = line.split(" sees ");
    (it.next().unwrap_or("").to_string(), it.next().unwrap_or("").to_string())
}

fn filler_services(n: usize) -> Vec<Service> {
    (0..n).map(filler_service).collect()
}

/// The `i`th service of [`filler_services`].
fn filler_service(i: usize) -> Service {
    let i = i as u32;
    Service {
        name: format!("fill{i}"),
        vip: Ipv4Addr::from(0x0a64_0000 + i), // 10.100.x.y
        proto: Proto::Tcp,
        port: 80,
        target_port: 8080,
        node_port: None,
        endpoints: (0..10u32).map(|k| Ipv4Addr::from(0x0ac8_0000 + i * 10 + k)).collect(), // 10.200.x.y
    }
}

/// CPU time this thread has used, user and system: the kernel's work on a
/// commit runs in the sending thread, so this counts the proxy and the
/// kernel alike, and unlike wall time it does not grow with other load on
/// the machine.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if r != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

async fn scale(c: &mut Ctx, n: usize) -> Fallible<()> {
    let fill = filler_services(n);
    c.desired.extend(fill);
    // The proofs' services count too: `--services 10000` installs 10,000+.
    let installed = c.desired.len();
    let shape = c.proxies[0].shape();
    step(
        0,
        &format!(
            "Scale: {n} services of 10 endpoints each, {installed} services in all, {} shape",
            shape.name()
        ),
    );
    let t = Instant::now();
    let r = c.proxies[0].sync(&c.desired).await.map_err(e("cold sync"))?;
    let cold = t.elapsed();
    // The kernel frees a large transaction after an RCU grace period, in
    // the background: let it, so the timed commits below meet the table in
    // its steady state (in both shapes).
    tokio::time::sleep(Duration::from_secs(1)).await;
    println!(
        "  cold sync on {}: {} operations, {:.1} MB, {:.0} ms",
        c.nodes[0].name,
        r.ops,
        r.bytes as f64 / 1e6,
        cold.as_secs_f64() * 1000.0
    );
    // The timed steps run on this thread under their own thread names, so
    // `perf report --comm sv-add` (or `sv-remove`) shows just that step,
    // the kernel's commit work included (it runs in the sending thread).
    let name_thread = |name: &str| {
        let _ = std::fs::write("/proc/thread-self/comm", name);
    };
    name_thread("sv-add");
    let mut times = Vec::new();
    let mut cpu = Vec::new();
    // Each added service is sent as a partial sync (`Proxy::apply`), as a
    // proxy that tracks which services changed does; the sync without
    // changes below then checks that it left the kernel where a full sync
    // would have.
    for k in 0..5usize {
        let mut extra = filler_service(n + k);
        extra.name = format!("extra{k}");
        let c0 = thread_cpu();
        let r = c.proxies[0].apply(&[Change::Upsert(&extra)]).await.map_err(e("add one service"))?;
        cpu.push(thread_cpu().saturating_sub(c0));
        times.push((r.elapsed, r.ops, r.elapsed.saturating_sub(r.commit)));
        c.desired.push(extra);
    }
    times.sort();
    cpu.sort();
    let (median, ops, own) = times[times.len() / 2];
    let add_cpu = cpu[cpu.len() / 2];
    // A sync with nothing to change sends nothing: its time is the
    // proxy's own diff of every service against what it installed.
    name_thread("sv-noop");
    let mut noop = Vec::new();
    for _ in 0..5 {
        let c0 = thread_cpu();
        let r = c.proxies[0].sync(&c.desired).await.map_err(e("sync without changes"))?;
        if r.ops != 0 {
            return Err(format!("a sync without changes sent {} operations", r.ops));
        }
        noop.push(thread_cpu().saturating_sub(c0));
    }
    noop.sort();
    let noop_cpu = noop[noop.len() / 2];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let what = match shape {
        Shape::KubeProxy => {
            "a chain, 10 endpoint chains, 2+20 rules, a 10-slot endpoint map, 1 service-ips element"
        }
        Shape::Compact => {
            "a chain, 2 rules, 10 endpoint map slots, 10 hairpin elements, 1 service-ips element"
        }
    };
    println!(
        "  adding one more service (a partial sync: {what}; {ops} operations): median {:.2} ms of 5 ({:.2} ms of it building and encoding before the commit; CPU time of the thread, kernel included: {:.2} ms)",
        ms(median),
        ms(own),
        ms(add_cpu)
    );
    println!(
        "  a sync with nothing to change (the proxy's diff of {installed} services): {:.2} ms of CPU",
        ms(noop_cpu)
    );
    // Removing one endpoint from a service (5 different services).
    name_thread("sv-remove");
    let mut times = Vec::new();
    for k in 0..5usize {
        let s = &mut c.desired[5 + k * (n / 5).max(1)];
        s.endpoints.pop();
        let s = s.clone();
        let r = c.proxies[0].apply(&[Change::Upsert(&s)]).await.map_err(e("remove one endpoint"))?;
        times.push((r.elapsed, r.ops));
    }
    times.sort();
    name_thread("service_vip");
    let (rm, rm_ops) = times[times.len() / 2];
    println!(
        "  removing one endpoint from a service (a partial sync, {rm_ops} operations): median {:.2} ms of 5",
        ms(rm)
    );
    // Removing one whole service (the last one added).
    let gone = c.desired.pop().ok_or("no service to remove")?;
    let r = c.proxies[0].apply(&[Change::Remove(&gone.key())]).await.map_err(e("remove one service"))?;
    println!("  removing one service (a partial sync, {} operations): {:.2} ms", r.ops, ms(r.elapsed));
    // The partial syncs left the kernel where a full sync would have.
    let r = c.proxies[0].sync(&c.desired).await.map_err(e("full sync after partial ones"))?;
    if r.ops != 0 {
        return Err(format!("a full sync after the partial ones sent {} operations", r.ops));
    }
    // Where that time goes: what the kernel charges any commit at this size.
    let floor = c.proxies[0].commit_floor(3).await.map_err(e("commit floor"))?;
    let chains = c.proxies[0].chain_count();
    println!(
        "  any commit at this size ({chains} chains): {:.2} ms for one empty chain (nf_tables_commit walks every chain), {:.2} ms for one `accept` rule in an unreferenced chain (nft_table_validate re-walks every chain reachable from the base chains)",
        ms(floor.empty_chain),
        ms(floor.validate)
    );
    println!(
        "  FIGURES shape={} services={installed} chains={chains} cold_ms={:.1} add_ms={:.2} add_own_ms={:.2} add_cpu_ms={:.2} noop_cpu_ms={:.2} remove_ep_ms={:.2} empty_chain_ms={:.2} accept_rule_ms={:.2}",
        shape.name(),
        ms(cold),
        ms(median),
        ms(own),
        ms(add_cpu),
        ms(noop_cpu),
        ms(rm),
        ms(floor.empty_chain),
        ms(floor.validate)
    );
    if installed >= 10_000 && shape == Shape::KubeProxy {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        c.check(
            "one service added in under 5 ms with 10,000 installed",
            median < Duration::from_millis(5),
            format!(
                "{:.1} ms; out of reach with this ruleset on Linux {}: a commit that adds rules or jump/goto elements makes the kernel re-validate every chain reachable from nat-prerouting and nat-output ({:.1} ms for a lone `accept` rule), and any commit walks all {chains} chains ({:.1} ms); a full sync also compares every service ({:.1} ms of CPU), which the partial sync timed here skips",
                ms(median),
                release.trim(),
                ms(floor.validate),
                ms(floor.empty_chain),
                ms(noop_cpu)
            ),
        );
    }
    // The second node gets the same state (not timed).
    let rest = c.desired.clone();
    c.proxies[1].sync(&rest).await.map_err(e("sync node 2"))?;
    Ok(())
}

async fn proofs(c: &mut Ctx) -> Fallible<()> {
    let client = c.pod("n1-pod0").ns.clone();
    let client_ip = c.pod("n1-pod0").ip;
    let backends: Vec<Ipv4Addr> =
        ["n1-pod1", "n1-pod2", "n2-pod1", "n2-pod2"].iter().map(|n| c.pod(n).ip).collect();

    // 1. Fair share over 200 connections, client sees the VIP, backends see the client.
    step(1, &format!("{CONNECTIONS} connections from n1-pod0 to {VIP}:80"));
    let results = client
        .run(move || {
            (0..CONNECTIONS)
                .map(|_| {
                    let s = TcpStream::connect_timeout(&SocketAddr::from((VIP, 80)), Duration::from_secs(3))
                        .map_err(|err| err.to_string())?;
                    let peer = s.peer_addr().map_err(|err| err.to_string())?;
                    let local = s.local_addr().map_err(|err| err.to_string())?.port();
                    s.set_read_timeout(Some(Duration::from_secs(3))).map_err(|err| err.to_string())?;
                    let mut line = String::new();
                    std::io::BufRead::read_line(&mut std::io::BufReader::new(s), &mut line)
                        .map_err(|err| err.to_string())?;
                    Ok::<_, String>((peer, local, line.trim_end().to_string()))
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(e("client"))?;
    let mut per_backend: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_port = BTreeMap::new();
    let (mut peer_ok, mut src_ok, mut errors) = (0, 0, 0);
    for r in &results {
        match r {
            Ok((peer, port, line)) => {
                let (pod, seen) = backend_of(line);
                *per_backend.entry(pod.clone()).or_default() += 1;
                peer_ok += usize::from(*peer == SocketAddr::from((VIP, 80)));
                src_ok += usize::from(seen == client_ip.to_string());
                by_port.insert(*port, pod);
            }
            Err(_) => errors += 1,
        }
    }
    println!("  {:<14} {:>11}", "BACKEND", "CONNECTIONS");
    for (b, n) in &per_backend {
        println!("  {b:<14} {n:>11}");
    }
    // Binomial(200, 1/4): mean 50, sd 6.1; 26..=74 is mean +- 4 sd, which
    // a fair random choice misses with probability < 3e-4 per run.
    let fair = per_backend.len() == 4 && per_backend.values().all(|&n| (26..=74).contains(&n));
    c.check("every backend within 26..=74 of 200 (mean 50 +- 4 sd)", fair, format!("{per_backend:?}"));
    c.check("no failed connection", errors == 0, format!("{errors} failed"));
    c.check(
        "the client sees the VIP as its peer",
        peer_ok == CONNECTIONS,
        format!("{peer_ok}/{CONNECTIONS}"),
    );
    c.check(
        "the backends see the client pod's own IP",
        src_ok == CONNECTIONS,
        format!("{src_ok}/{CONNECTIONS}"),
    );

    // 2. Conntrack through netplumb: one flow per connection.
    step(2, "conntrack on node 1: the flows of those connections");
    let ct = Conntrack::new_in(&c.nodes[0].ns).await.map_err(e("conntrack"))?;
    let filter =
        Filter::new().proto(IpProto::TCP).orig_dst(VIP.into()).orig_dst_port(80).orig_src(client_ip.into());
    let flows = ct.list(&filter).try_collect().await.map_err(e("list flows"))?;
    let mut matched = 0;
    for f in &flows {
        let port = f.orig.src_port.unwrap_or(0);
        let backend = c.pod_by_ip(&f.reply.src.to_string()).map(|p| p.name.clone());
        if by_port.get(&port).is_some_and(|b| Some(b) == backend.as_ref()) {
            matched += 1;
        }
    }
    if let Some(f) = flows.first() {
        println!("  e.g. {}", f.to_conntrack_line());
    }
    c.check(
        "one flow per connection, original destination the VIP",
        flows.len() == CONNECTIONS,
        format!("{} flows", flows.len()),
    );
    c.check(
        "each flow's reply source is the backend that answered",
        matched == CONNECTIONS,
        format!("{matched}/{CONNECTIONS}"),
    );

    // 3. Hairpin: a pod reaching itself through a VIP.
    step(3, &format!("hairpin: n1-pod1 -> {HAIRPIN_VIP}:80, whose only endpoint is n1-pod1"));
    let me = c.pod("n1-pod1");
    let gw = me.gateway;
    let line = me.ns.run(move || tcp_probe_port(HAIRPIN_VIP, 80)).await.map_err(e("hairpin"))?;
    let (pod, seen) = line.as_ref().map(|l| backend_of(l)).unwrap_or_default();
    c.check(
        "it answers itself, masqueraded to the bridge address",
        pod.ends_with("n1-pod1") && seen == gw.to_string(),
        format!("{line:?}"),
    );

    // 4. NodePort from outside the cluster.
    step(4, &format!("NodePort {NODE_PORT} from {} on the underlay", c.clients[0].name));
    let outside = c.clients[0].ns.clone();
    let node_ips: Vec<Ipv4Addr> = c.nodes.iter().map(|n| n.underlay_ip).collect();
    for ip in node_ips {
        let r = outside.run(move || tcp_probe_port(ip, NODE_PORT)).await.map_err(e("nodeport"))?;
        let ok = r.as_ref().map(|l| backends.iter().any(|_| l.contains(" sees "))).unwrap_or(false);
        c.check(&format!("{ip}:{NODE_PORT} answers"), ok, format!("{r:?}"));
    }

    // 5. Partial update: remove one endpoint.
    let removed = c.pod("n2-pod2").ip;
    step(5, &format!("remove endpoint {removed} (n2-pod2) from {VIP} tcp/80"));
    let before = c.proxies[0].rule_handles().await.map_err(e("list handles"))?;
    let web_tcp = c.desired.iter().find(|s| s.vip == VIP && s.proto == Proto::Tcp).expect("svc").clone();
    let old_dispatch = c.proxies[0].dispatch_handle(&web_tcp).unwrap_or(0);
    c.svc_mut(VIP, Proto::Tcp).endpoints.retain(|e| *e != removed);
    let reports = c.sync().await?;
    let after = c.proxies[0].rule_handles().await.map_err(e("list handles"))?;
    let svc_chain = c.desired.iter().find(|s| s.vip == VIP && s.proto == Proto::Tcp).expect("svc").chain();
    let ep_chain =
        c.desired.iter().find(|s| s.vip == VIP && s.proto == Proto::Tcp).expect("svc").ep_chain(removed);
    // The kernel keeps a replaced rule's handle: everything but the
    // deleted chain's rules must be exactly as before.
    let expected: Vec<_> = before.iter().filter(|(ch, _)| *ch != ep_chain).cloned().collect();
    let new_dispatch = c.proxies[0].dispatch_handle(&web_tcp).unwrap_or(0);
    println!(
        "  transaction: {} operations, {} bytes, {:.2} ms; dispatch rule handle {old_dispatch} -> {new_dispatch}",
        reports[0].ops,
        reports[0].bytes,
        reports[0].elapsed.as_secs_f64() * 1000.0
    );
    // The service's verdict state is its endpoint map and dispatch rule:
    // the removed endpoint's slot (the last one) is deleted from the map,
    // the rule is replaced for the new modulus (4 -> 3).
    // Compact: the slot deleted and the rule replaced; the address stays
    // in the hairpin set (it is an endpoint of the UDP service too).
    let (what, want_ops) = match c.proxies[0].shape() {
        Shape::KubeProxy => (
            "one transaction: the map slot deleted, the dispatch rule replaced, the endpoint chain flushed and deleted",
            4,
        ),
        Shape::Compact => ("one transaction: the endpoint map slot deleted, the dispatch rule replaced", 2),
    };
    c.check(what, reports[0].ops == want_ops, format!("{} operations", reports[0].ops));
    c.check(
        "every other rule keeps its handle",
        after == expected && after.contains(&(svc_chain.clone(), new_dispatch)),
        format!("{} rules before, {} after", before.len(), after.len()),
    );
    let removed_name = c.pod("n2-pod2").name.clone();
    let lines = client
        .run(move || (0..100).map(|_| tcp_probe_port(VIP, 80)).collect::<Vec<_>>())
        .await
        .map_err(e("client"))?;
    let hits = lines.iter().filter(|l| l.as_ref().is_ok_and(|l| l.starts_with(&removed_name))).count();
    let fails = lines.iter().filter(|l| l.is_err()).count();
    c.check(
        "100 new connections: none reach the removed backend",
        hits == 0 && fails == 0,
        format!("{hits} reached it, {fails} failed"),
    );

    // 6. UDP stale flows.
    udp_stale(c).await?;

    // 7. No endpoints: rejected at once.
    step(7, &format!("{EMPTY_VIP}: a service without endpoints"));
    let (tcp, udp) = client
        .run(|| {
            let t = Instant::now();
            let tcp = TcpStream::connect_timeout(&SocketAddr::from((EMPTY_VIP, 80)), Duration::from_secs(3));
            let tcp = (tcp.err().map(|e| e.kind()), t.elapsed());
            let t = Instant::now();
            let udp = udp_probe(EMPTY_VIP, 53, 0, Duration::from_secs(3));
            (tcp, (udp, t.elapsed()))
        })
        .await
        .map_err(e("client"))?;
    c.check(
        "TCP is refused at once (reset)",
        tcp.0 == Some(std::io::ErrorKind::ConnectionRefused) && tcp.1 < Duration::from_millis(500),
        format!("{:?} after {:.1} ms", tcp.0, tcp.1.as_secs_f64() * 1000.0),
    );
    c.check(
        "UDP is refused at once (ICMP unreachable)",
        udp.0.as_ref().is_err_and(|e| e.contains("refused")) && udp.1 < Duration::from_millis(500),
        format!("{:?} after {:.1} ms", udp.0, udp.1.as_secs_f64() * 1000.0),
    );

    // 8. Idempotence and atomicity.
    step(8, "re-apply the same state; a failing transaction");
    let nft = Nft::new_in(&c.nodes[0].ns).await.map_err(e("nft"))?;
    let text_before = nft.ruleset().await.map_err(e("ruleset"))?.to_string();
    let again = c.sync().await?;
    c.check(
        "re-applying the same desired state sends nothing",
        again.iter().all(|r| r.ops == 0),
        format!("{:?} operations", again.iter().map(|r| r.ops).collect::<Vec<_>>()),
    );
    let mut tx = Transaction::new();
    let svc_ips = netplumb::nft::Set::map(
        netplumb::nft::Family::Ip,
        proxy::TABLE,
        "service-ips",
        netplumb::nft::KeyType::concat(&[
            netplumb::nft::DataType::IPV4_ADDR,
            netplumb::nft::DataType::INET_PROTO,
            netplumb::nft::DataType::INET_SERVICE,
        ]),
        netplumb::nft::KeyType::single(netplumb::nft::DataType::VERDICT),
    );
    let key = |last: u8| {
        netplumb::nft::Value::concat(&[
            netplumb::nft::Value::ipv4(Ipv4Addr::new(10, 96, 9, last)),
            netplumb::nft::Value::proto(netplumb::nft::Value::TCP),
            netplumb::nft::Value::port(80),
        ])
    };
    // Operations 0 and 1 are fine on their own; operation 2 jumps to a
    // chain that does not exist.
    tx.add_chain(&netplumb::nft::Chain::new(netplumb::nft::Family::Ip, proxy::TABLE, "svc-present"))
        .map_err(e("tx"))?;
    tx.add_elements(&svc_ips, &[Element::new(key(9)).verdict(Verdict::Goto("svc-present".into()))])
        .map_err(e("tx"))?;
    tx.add_elements(&svc_ips, &[Element::new(key(10)).verdict(Verdict::Goto("svc-missing".into()))])
        .map_err(e("tx"))?;
    let err = nft.commit(&tx).await;
    let text_after = nft.ruleset().await.map_err(e("ruleset"))?.to_string();
    match err {
        Ok(_) => c.check("a goto to a missing chain is refused", false, "it was accepted".into()),
        Err(err) => {
            println!("  error: {err}");
            c.check(
                "a goto to a missing chain is refused, naming the operation",
                err.to_string().contains("operation 2"),
                String::new(),
            );
        }
    }
    c.check(
        "the ruleset is exactly as before",
        text_before == text_after,
        format!("{} vs {} bytes", text_before.len(), text_after.len()),
    );

    // netplumb's rendering is valid nft input that lists back identically.
    let scratch = format!("{}-nftcheck", c.nodes[0].name.trim_end_matches("-node1"));
    let ns = Netns::create_named(&scratch).await.map_err(e("scratch namespace"))?;
    let loaded = {
        use std::io::Write as _;
        let mut child = std::process::Command::new("ip")
            .args(["netns", "exec", &scratch, "nft", "-f", "-"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(e("nft -f"))?;
        child.stdin.take().expect("stdin").write_all(text_before.as_bytes()).map_err(e("nft -f"))?;
        child.wait_with_output().map_err(e("nft -f"))?
    };
    let listed = std::process::Command::new("ip")
        .args(["netns", "exec", &scratch, "nft", "list", "ruleset"])
        .output()
        .map_err(e("nft list"))?;
    drop(ns);
    let _ = Netns::remove_named(&scratch);
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    c.check(
        "`nft -f` loads netplumb's rendering and `nft list ruleset` prints it back identically",
        loaded.status.success() && listed == text_before,
        if listed == text_before {
            String::from_utf8_lossy(&loaded.stderr).trim().to_string()
        } else {
            let first = listed.lines().zip(text_before.lines()).find(|(a, b)| a != b);
            format!("first difference: {first:?}; {}", String::from_utf8_lossy(&loaded.stderr).trim())
        },
    );
    Ok(())
}

/// One datagram of step 6's client: when it was sent, and its own answer
/// (the reply line, or why there was none).
type Datagram = (Instant, Answer);

/// Step 6's client sends a datagram at most every 50 ms, each after the
/// previous one's answer or after this long without one.
const UDP_WAIT: Duration = Duration::from_secs(1);
/// How long step 6 waits for the datagrams a check needs (bounded, and
/// generous: the answers come in milliseconds on a real machine; under
/// software emulation replies can take hundreds).
const UDP_DEADLINE: Duration = Duration::from_secs(20);

/// The answer to one datagram: the reply line, or why there was none.
type Answer = Result<String, String>;

/// The answers to the datagrams sent at or after `t`, in order, once they
/// satisfy `enough` or after at most `UDP_DEADLINE`.
async fn answers_since(log: &Mutex<Vec<Datagram>>, t: Instant, enough: fn(&[Answer]) -> bool) -> Vec<Answer> {
    let deadline = Instant::now() + UDP_DEADLINE;
    loop {
        let got: Vec<Answer> =
            log.lock().expect("log").iter().filter(|(at, _)| *at >= t).map(|(_, r)| r.clone()).collect();
        if enough(&got) || Instant::now() >= deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Step 6: a UDP client pinned to one backend by conntrack.
///
/// Every check looks at the datagrams sent after the change it is about
/// has returned (the sync, the cleanup), by the time each was sent, and
/// waits for as many of them as it needs, up to `UDP_DEADLINE`: the same
/// claims on a fast machine and on a slow one.
async fn udp_stale(c: &mut Ctx) -> Fallible<()> {
    step(6, &format!("UDP: a client sends to {VIP}:53 from port 40053 every 50 ms"));
    let log: Arc<Mutex<Vec<Datagram>>> = Arc::new(Mutex::new(Vec::new()));
    let l2 = log.clone();
    let sender = c
        .pod("n1-pod0")
        .ns
        .spawn(move || async move {
            let s = tokio::net::UdpSocket::bind("0.0.0.0:40053").await.expect("bind 40053");
            s.connect((VIP, 53)).await.expect("connect");
            let mut buf = [0u8; 256];
            // Bounded: at least 50 ms each, stopped long before the end.
            for i in 0..4000u32 {
                let sent = Instant::now();
                let next = tokio::time::Instant::now() + Duration::from_millis(50);
                let _ = s.send(format!("seq={i}").as_bytes()).await;
                // Only this datagram's own answer counts: a late answer to
                // an earlier one is skipped.
                let tag = format!(" seq={i}");
                let deadline = tokio::time::Instant::now() + UDP_WAIT;
                let r = loop {
                    match tokio::time::timeout_at(deadline, s.recv(&mut buf)).await {
                        Ok(Ok(n)) => {
                            let line = String::from_utf8_lossy(&buf[..n]).trim_end().to_string();
                            if let Some(l) = line.strip_suffix(&tag) {
                                break Ok(l.to_string());
                            }
                        }
                        Ok(Err(err)) => break Err(err.to_string()),
                        Err(_) => break Err("no reply".to_string()),
                    }
                };
                l2.lock().expect("log").push((sent, r));
                tokio::time::sleep_until(next).await;
            }
        })
        .map_err(e("udp client"))?;
    let wait_since = |t: Instant, enough: fn(&[Answer]) -> bool| answers_since(&log, t, enough);
    fn replies(v: &[Answer]) -> usize {
        v.iter().filter(|r| r.is_ok()).count()
    }
    let from = |r: &Answer, pod: &str| r.as_ref().is_ok_and(|l| backend_of(l).0 == pod);

    let start = Instant::now();
    let first = wait_since(start, |v| replies(v) >= 1).await;
    let pinned = first
        .iter()
        .find_map(|r| r.as_ref().ok())
        .map(|l| backend_of(l).0)
        .ok_or("the UDP client got no reply")?;
    let pinned_ip = c.pods.iter().find(|p| p.name == pinned).map(|p| p.ip).ok_or("unknown backend")?;
    println!("  pinned to {pinned} ({pinned_ip}) by its conntrack entry");

    // Remove that endpoint from the rules, but do not clean conntrack yet.
    c.svc_mut(VIP, Proto::Udp).endpoints.retain(|e| *e != pinned_ip);
    c.sync().await?;
    let t_removed = Instant::now();
    let after = wait_since(t_removed, |v| replies(v) >= 5).await;
    let answered: Vec<_> = after.iter().filter(|r| r.is_ok()).take(5).collect();
    let stale = answered.iter().filter(|r| from(r, &pinned)).count();
    c.check(
        "without conntrack cleanup, traffic still goes to the removed endpoint",
        answered.len() == 5 && stale == 5,
        format!("{stale} of the first {} replies after the removal from {pinned}", answered.len()),
    );

    // netplumb's cleanup: delete the UDP flows to the VIP whose reply
    // source is not a live endpoint.
    let live: Vec<SocketAddr> = c
        .desired
        .iter()
        .find(|s| s.vip == VIP && s.proto == Proto::Udp)
        .expect("svc")
        .endpoints
        .iter()
        .map(|e| SocketAddr::from((*e, 5353)))
        .collect();
    let node_ns: Vec<Netns> = c.nodes.iter().map(|n| n.ns.clone()).collect();
    let cleanup = |live: Vec<SocketAddr>| {
        let nodes = node_ns.clone();
        async move {
            let mut n = 0;
            for ns in nodes {
                let ct = Conntrack::new_in(&ns).await.map_err(e("conntrack"))?;
                n += ct.delete_stale_udp(SocketAddr::from((VIP, 53)), &live).await.map_err(e("cleanup"))?;
            }
            Ok::<u64, String>(n)
        }
    };
    let t_clean = Instant::now();
    let deleted = cleanup(live.clone()).await?;
    let t_cleaned = Instant::now();
    // The next datagram (or, if one is lost on the way, one of the next
    // three) reaches another backend, and none reaches the removed one.
    let after = wait_since(t_cleaned, |v| replies(v) >= 3).await;
    let first_answered = after.iter().position(|r| r.is_ok());
    let to_pinned = after.iter().filter(|r| from(r, &pinned)).count();
    c.check(
        "with netplumb's cleanup, the next datagram reaches another backend",
        deleted >= 1 && first_answered.is_some_and(|i| i < 3) && to_pinned == 0 && replies(&after) >= 3,
        format!(
            "{deleted} flow(s) deleted in {:.2} ms; after it, datagram {} was the first answered, {} replies, {to_pinned} from {pinned}",
            (t_cleaned - t_clean).as_secs_f64() * 1000.0,
            first_answered.map_or("none".to_string(), |i| (i + 1).to_string()),
            replies(&after)
        ),
    );

    // N -> 0: refused; 0 -> 1: reaches the new endpoint within one sync.
    c.svc_mut(VIP, Proto::Udp).endpoints.clear();
    c.sync().await?;
    // Flows pinned to the old endpoints answer until the cleanup has
    // deleted them: count from its end.
    cleanup(Vec::new()).await?;
    let t0 = Instant::now();
    let after = wait_since(t0, |v| v.len() >= 5).await;
    c.check(
        "0 endpoints: the traffic is refused, not answered",
        after.len() >= 5 && replies(&after) == 0,
        format!("{} replies to {} datagrams", replies(&after), after.len()),
    );
    let newcomer = c.pod("n1-pod2").ip;
    let newcomer_name = c.pod("n1-pod2").name.clone();
    c.svc_mut(VIP, Proto::Udp).endpoints = vec![newcomer];
    let t1 = Instant::now();
    c.sync().await?;
    cleanup(vec![SocketAddr::from((newcomer, 5353))]).await?;
    let t1_done = Instant::now();
    let after = wait_since(t1_done, |v| replies(v) >= 1).await;
    let first_answered = after.iter().position(|r| r.is_ok());
    c.check(
        "0 -> 1 endpoint: the traffic reaches it within one sync",
        first_answered.is_some_and(|i| i < 3 && from(&after[i], &newcomer_name)),
        format!(
            "sync and cleanup took {:.0} ms; after them, datagram {} was the first answered: {:?}",
            (t1_done - t1).as_secs_f64() * 1000.0,
            first_answered.map_or("none".to_string(), |i| (i + 1).to_string()),
            first_answered.map(|i| &after[i])
        ),
    );
    sender.stop().await;
    let log = log.lock().expect("log");
    println!("  timeline (one character per datagram: backend pod number, '.' no reply, 'x' refused):");
    let line: String = log
        .iter()
        .map(|(_, r)| match r {
            Ok(l) => {
                let p = backend_of(l).0;
                if p.contains("n1-pod1") {
                    '1'
                } else if p.contains("n1-pod2") {
                    '2'
                } else if p.contains("n2-pod1") {
                    '3'
                } else {
                    '4'
                }
            }
            Err(err) if err.contains("refused") => 'x',
            Err(_) => '.',
        })
        .collect();
    println!("  {line}");
    println!("  (1 = n1-pod1, 2 = n1-pod2, 3 = n2-pod1, 4 = n2-pod2)");
    Ok(())
}

fn desired(c: &Ctx) -> Vec<Service> {
    let backends: Vec<Ipv4Addr> =
        ["n1-pod1", "n1-pod2", "n2-pod1", "n2-pod2"].iter().map(|n| c.pod(n).ip).collect();
    let mk = |name: &str, vip, proto, port, target_port, node_port, endpoints: Vec<Ipv4Addr>| Service {
        name: name.into(),
        vip,
        proto,
        port,
        target_port,
        node_port,
        endpoints,
    };
    vec![
        mk("web", VIP, Proto::Tcp, 80, SERVER_PORT, Some(NODE_PORT), backends.clone()),
        mk("web", VIP, Proto::Udp, 53, UDP_PORT, None, backends),
        mk("empty", EMPTY_VIP, Proto::Tcp, 80, SERVER_PORT, None, vec![]),
        mk("empty", EMPTY_VIP, Proto::Udp, 53, UDP_PORT, None, vec![]),
        mk("hairpin", HAIRPIN_VIP, Proto::Tcp, 80, SERVER_PORT, None, vec![c.pod("n1-pod1").ip]),
    ]
}

async fn run(
    o: &Opts,
    track: Arc<Mutex<Vec<String>>>,
    keep_servers: &mut Vec<(String, Netns)>,
) -> Fallible<bool> {
    let sp = Spec {
        prefix: o.prefix.clone(),
        pods: 3,
        overlay: Overlay::Routes,
        underlay: Underlay::Switch { clients: 1 },
    };
    let t0 = Instant::now();
    let (nodes, clients) = build_nodes(&sp, &track).await?;
    let pods = attach_pods(&sp, &nodes, &track).await?;
    cross_node(&sp, &nodes).await?;
    for n in &nodes {
        // See the module docs: bridged replies must pass conntrack.
        n.ns.sysctl_set("net.bridge.bridge-nf-call-iptables", "1").await.map_err(e("bridge netfilter"))?;
        // Every rejected datagram gets its ICMP error (the default limits
        // them to a burst of 6, then one a second per client).
        n.ns.sysctl_set("net.ipv4.icmp_ratelimit", "0").await.map_err(e("icmp rate limit"))?;
        // Service VIPs are routed like any off-node address (a real node
        // has a default route): without a route the kernel drops packets to
        // a VIP without endpoints before the filter hooks can reject them.
        let eth0 = n.rt.links().get("eth0").await.map_err(e("eth0"))?.index;
        n.rt.routes()
            .add(&netplumb::route::RouteV4::new("10.96.0.0/12".parse().expect("valid")).oif(eth0))
            .await
            .map_err(e("service CIDR route"))?;
    }
    println!(
        "cluster: 2 nodes, {} pods, 1 client host, built in {:.0} ms",
        pods.len(),
        t0.elapsed().as_secs_f64() * 1000.0
    );
    let servers = start_servers(&pods)?;
    let mut proxies = Vec::new();
    for n in &nodes {
        let nft = Nft::new_in(&n.ns).await.map_err(e("nft"))?;
        proxies.push(Proxy::with_shape(nft, "10.244.0.0/16".parse().expect("valid"), o.shape));
    }
    let mut c = Ctx { nodes, pods, clients, proxies, desired: Vec::new(), ok: true };
    c.desired = desired(&c);
    if o.services > 1 {
        scale(&mut c, o.services - 1).await?;
    } else {
        step(0, "install the ruleset");
        let reports = c.sync().await?;
        for (n, r) in c.nodes.iter().zip(&reports) {
            println!(
                "  {}: one transaction, {} operations, {} bytes, {:.1} ms",
                n.name,
                r.ops,
                r.bytes,
                r.elapsed.as_secs_f64() * 1000.0
            );
        }
    }
    let r = proofs(&mut c).await;
    for s in servers {
        s.stop().await;
    }
    r?;
    if o.keep {
        for p in &c.pods {
            keep_servers.push((p.name.clone(), p.ns.clone()));
        }
    }
    Ok(c.ok)
}

fn state_dir(prefix: &str) -> String {
    format!("/run/netplumb-service-vip/{prefix}")
}

/// Kept runs: detached server processes (this binary with --serve), one
/// per pod, recorded so --cleanup can stop them.
fn detach_servers(prefix: &str, pods: &[(String, Netns)]) -> Fallible<()> {
    let exe = std::env::current_exe().map_err(e("current exe"))?;
    std::fs::create_dir_all(state_dir(prefix)).map_err(e("state dir"))?;
    let mut pids = String::new();
    for (name, _) in pods {
        let mut cmd = std::process::Command::new("ip");
        cmd.args(["netns", "exec", name]).arg(&exe);
        // Under `cargo test` this binary is the test harness: its
        // `kept_server` helper serves instead of `--serve`.
        if cfg!(test) {
            cmd.args(["--ignored", "--exact", "tests::kept_server"]).env("NETPLUMB_SERVE", name);
        } else {
            cmd.args(["--serve", name]);
        }
        let child = cmd
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(e("start a kept server"))?;
        pids.push_str(&format!("{}\n", child.id()));
    }
    std::fs::write(format!("{}/pids", state_dir(prefix)), pids).map_err(e("record pids"))?;
    Ok(())
}

fn stop_kept_servers(prefix: &str) {
    if let Ok(s) = std::fs::read_to_string(format!("{}/pids", state_dir(prefix))) {
        for pid in s.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            // SAFETY: kill(2) with a pid this example recorded.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
    }
    let _ = std::fs::remove_dir_all(state_dir(prefix));
}

/// `--serve NAME`: a TCP :8080 and UDP :5353 echo server, in the calling
/// namespace, until killed.
fn serve(name: &str) -> ! {
    let udp = std::net::UdpSocket::bind(("0.0.0.0", UDP_PORT)).expect("bind udp");
    let n2 = name.to_string();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, peer)) = udp.recv_from(&mut buf) {
            let _ = udp.send_to(udp_reply(&n2, peer.ip(), &buf[..n]).as_bytes(), peer);
        }
    });
    let tcp = std::net::TcpListener::bind(("0.0.0.0", SERVER_PORT)).expect("bind tcp");
    for s in tcp.incoming().flatten() {
        let peer = s.peer_addr().map(|p| p.ip().to_string()).unwrap_or_default();
        let mut s = s;
        let _ = s.write_all(format!("{name} sees {peer}\n").as_bytes());
    }
    std::process::exit(0)
}

async fn main_with(o: Opts) -> i32 {
    if o.cleanup {
        stop_kept_servers(&o.prefix);
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
    let mut keep_servers = Vec::new();
    let outcome = until_interrupted(run(&o, guard.names.clone(), &mut keep_servers)).await;
    let code = match outcome {
        Ok(true) => {
            println!("\nall checks passed");
            0
        }
        Ok(false) => {
            eprintln!("\nsome checks failed");
            1
        }
        Err(err) => {
            eprintln!("error: {err}");
            1
        }
    };
    // Kept even when a check failed: that is when one wants to look.
    if o.keep {
        if let Err(err) = detach_servers(&o.prefix, &keep_servers) {
            eprintln!("error: {err}");
            return 1;
        }
        guard.armed = false;
        println!("\nKept: {}", guard.names.lock().expect("lock").join(" "));
        println!(
            "The VIP keeps answering, e.g.: ip netns exec {}-n1-pod0 bash -c 'cat </dev/tcp/{VIP}/80'",
            o.prefix
        );
        println!("Remove with --cleanup.");
    } else {
        println!("removed everything it created");
    }
    let _ = std::io::stdout().flush();
    code
}

#[tokio::main]
async fn main() {
    let mut o = Opts::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--serve" => serve(&args.next().unwrap_or_else(|| usage())),
            "--services" => {
                o.services = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|n| (1..=50_000).contains(n))
                    .unwrap_or_else(|| usage())
            }
            "--shape" => o.shape = args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| usage()),
            "--keep" => o.keep = true,
            "--cleanup" => o.cleanup = true,
            "--prefix" => {
                o.prefix = args.next().filter(|p| !p.is_empty() && p.len() <= 6).unwrap_or_else(|| usage())
            }
            "-h" | "--help" => help(),
            _ => usage(),
        }
    }
    std::process::exit(main_with(o).await);
}

// The end-to-end tests need the harness (feature test-support).
#[cfg(all(test, feature = "test-support"))]
mod tests {
    use super::*;

    fn host_state() -> (String, String) {
        (
            netplumb::testing::run("ip", &["-j", "link", "show"]),
            netplumb::testing::run("nft", &["list", "tables"]),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_proof_passes_and_nothing_is_left_behind() {
        netplumb::testing::require_root();
        let before = host_state();
        let prefix = format!("t{}d", std::process::id() % 10000);
        assert_eq!(main_with(Opts { prefix: prefix.clone(), ..Opts::default() }).await, 0);
        assert!(leftovers(&prefix).is_empty(), "{:?}", leftovers(&prefix));
        assert_eq!(host_state(), before, "the host's links or tables changed");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_proof_passes_in_the_compact_shape() {
        netplumb::testing::require_root();
        let before = host_state();
        let prefix = format!("t{}c", std::process::id() % 10000);
        let o = Opts { prefix: prefix.clone(), shape: Shape::Compact, ..Opts::default() };
        assert_eq!(main_with(o).await, 0);
        assert!(leftovers(&prefix).is_empty(), "{:?}", leftovers(&prefix));
        assert_eq!(host_state(), before, "the host's links or tables changed");
    }

    /// Started by `--keep` runs inside the tests (see `detach_servers`):
    /// serves until killed. Does nothing when run on its own.
    #[test]
    #[ignore = "a helper process for keep_leaves_a_working_vip_and_cleanup_removes_it, not a test"]
    fn kept_server() {
        if let Ok(name) = std::env::var("NETPLUMB_SERVE") {
            serve(&name);
        }
    }

    /// `--keep`: the VIP keeps answering after the run (its servers are
    /// detached processes), and `--cleanup` stops them and removes
    /// everything.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn keep_leaves_a_working_vip_and_cleanup_removes_it() {
        netplumb::testing::require_root();
        let prefix = format!("t{}k", std::process::id() % 10000);
        assert_eq!(main_with(Opts { keep: true, prefix: prefix.clone(), ..Opts::default() }).await, 0);
        assert_eq!(leftovers(&prefix).len(), 10, "{:?}", leftovers(&prefix));
        let client = format!("{prefix}-n1-pod0");
        let mut answered = String::new();
        for _ in 0..50 {
            let out = std::process::Command::new("ip")
                .args(["netns", "exec", &client, "timeout", "3", "bash", "-c"])
                .arg("exec 3<>/dev/tcp/10.96.0.10/80 && read -r line <&3 && echo \"$line\"")
                .output()
                .unwrap();
            answered = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if answered.contains(" sees ") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let pids = std::fs::read_to_string(format!("{}/pids", state_dir(&prefix))).unwrap_or_default();
        assert_eq!(main_with(Opts { cleanup: true, prefix: prefix.clone(), ..Opts::default() }).await, 0);
        assert!(answered.contains(&format!(" sees {}", "10.244.1.2")), "the kept VIP answers: {answered:?}");
        assert!(leftovers(&prefix).is_empty());
        assert!(!std::path::Path::new(&state_dir(&prefix)).exists());
        // The kept servers are gone (give SIGTERM a moment).
        for pid in pids.lines() {
            let mut gone = false;
            for _ in 0..50 {
                // Gone, or a zombie waiting for this (its parent) process.
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                if stat.is_empty() || stat.rsplit(')').next().is_some_and(|r| r.trim_start().starts_with('Z'))
                {
                    gone = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(gone, "kept server {pid} still running");
        }
    }

    /// Endpoint changes rewrite only the service's verdict state: the map
    /// slots that changed, and the dispatch rule (same handle) only when
    /// the number of endpoints changes. No traffic: one namespace, one
    /// proxy.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn endpoint_changes_rewrite_only_the_service_verdict_state() {
        netplumb::testing::require_root();
        let ns = netplumb::testing::TestNs::new("svcvip").await;
        let nft = Nft::from_connection(ns.netfilter().await).unwrap();
        let mut proxy = Proxy::with_shape(nft.clone(), "10.244.0.0/16".parse().unwrap(), Shape::KubeProxy);
        let ep = |i: u8| Ipv4Addr::new(10, 244, 1, i);
        let mut svc = Service {
            name: "web".into(),
            vip: VIP,
            proto: Proto::Tcp,
            port: 80,
            target_port: 8080,
            node_port: None,
            endpoints: vec![ep(1), ep(2), ep(3)],
        };
        let other = Service { name: "other".into(), vip: EMPTY_VIP, ..svc.clone() };
        proxy.sync(&[svc.clone(), other.clone()]).await.unwrap();
        let slots = |nft: Nft, svc: Service| async move {
            let mut v: Vec<(u32, String)> = nft
                .list_elements(netplumb::nft::Family::Ip, proxy::TABLE, &svc.ep_map())
                .await
                .unwrap()
                .into_iter()
                .map(|e| {
                    let k = u32::from_ne_bytes(e.key.as_bytes().try_into().unwrap());
                    match e.data {
                        Some(netplumb::nft::expr::Data::Verdict(Verdict::Goto(c))) => (k, c),
                        d => panic!("slot {k}: {d:?}"),
                    }
                })
                .collect();
            v.sort();
            v
        };
        let want = |svc: &Service| -> Vec<(u32, String)> {
            svc.endpoints.iter().enumerate().map(|(i, e)| (i as u32, svc.ep_chain(*e))).collect()
        };
        let handle = proxy.dispatch_handle(&svc).unwrap();
        let rules = proxy.rule_handles().await.unwrap();

        // Same count, one endpoint swapped: one slot deleted and re-added,
        // the new endpoint chain added, the old one deleted; the rule stays.
        let swapped = svc.ep_chain(ep(2));
        svc.endpoints[1] = ep(9);
        let r = proxy.sync(&[svc.clone(), other.clone()]).await.unwrap();
        assert_eq!(
            r.ops,
            3 + 2 + 2,
            "new chain and its 2 rules, slot delete and add, old chain flush and delete"
        );
        assert_eq!(slots(nft.clone(), svc.clone()).await, want(&svc));
        assert_eq!(proxy.dispatch_handle(&svc), Some(handle));
        let now = proxy.rule_handles().await.unwrap();
        let kept: Vec<_> = rules.iter().filter(|(c, _)| *c != swapped).cloned().collect();
        assert!(kept.iter().all(|r| now.contains(r)), "every other rule keeps its handle");

        // One fewer: the last slot goes, the rule is replaced in place.
        svc.endpoints.remove(0);
        let r = proxy.sync(&[svc.clone(), other.clone()]).await.unwrap();
        assert_eq!(
            r.ops,
            1 + 1 + 1 + 2,
            "slots deleted, slots re-added, rule replaced, chain flushed and deleted"
        );
        assert_eq!(slots(nft.clone(), svc.clone()).await, want(&svc));
        assert_eq!(proxy.dispatch_handle(&svc), Some(handle));

        // One more at the end: one slot added, the rule replaced in place.
        svc.endpoints.push(ep(7));
        let r = proxy.sync(&[svc.clone(), other.clone()]).await.unwrap();
        assert_eq!(r.ops, 3 + 1 + 1, "new chain and rules, slot added, rule replaced");
        assert_eq!(slots(nft.clone(), svc.clone()).await, want(&svc));
        assert_eq!(proxy.dispatch_handle(&svc), Some(handle));
        let rendered = nft.ruleset().await.unwrap().to_string();
        assert!(rendered.contains(&format!("numgen random mod 3 vmap @{}", svc.ep_map())), "{rendered}");

        // The other service was never touched; removing everything leaves
        // no endpoint map behind.
        assert_eq!(slots(nft.clone(), other.clone()).await, want(&other));
        proxy.sync(&[]).await.unwrap();
        let sets = nft.list_sets(None).await.unwrap();
        assert!(sets.iter().all(|s| !s.name.ends_with("-endpoints")), "{sets:?}");
    }

    /// Partial syncs (`Proxy::apply`) leave the kernel exactly where full
    /// syncs of the same states do, in both shapes: one namespace is
    /// driven by changes, another by whole desired states, and their
    /// rulesets are compared after every step; a full sync after the
    /// partial ones sends nothing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn partial_syncs_match_full_syncs() {
        netplumb::testing::require_root();
        for shape in [Shape::KubeProxy, Shape::Compact] {
            let a = netplumb::testing::TestNs::new("svcpart").await;
            let b = netplumb::testing::TestNs::new("svcfull").await;
            let na = Nft::from_connection(a.netfilter().await).unwrap();
            let nb = Nft::from_connection(b.netfilter().await).unwrap();
            let cidr: ipnet::Ipv4Net = "10.244.0.0/16".parse().unwrap();
            let mut pa = Proxy::with_shape(na.clone(), cidr, shape);
            let mut pb = Proxy::with_shape(nb.clone(), cidr, shape);
            let ep = |i: u8| Ipv4Addr::new(10, 244, 1, i);
            let svc = |name: &str, vip: u8, eps: &[u8]| Service {
                name: name.into(),
                vip: Ipv4Addr::new(10, 96, 0, vip),
                proto: Proto::Tcp,
                port: 80,
                target_port: 8080,
                node_port: None,
                endpoints: eps.iter().map(|&i| ep(i)).collect(),
            };
            let mut desired = vec![svc("web", 10, &[1, 2, 3]), svc("db", 11, &[4, 5])];
            pa.sync(&desired).await.unwrap();
            pb.sync(&desired).await.unwrap();
            let same = |step: &'static str| {
                let (na, nb) = (na.clone(), nb.clone());
                async move {
                    let (ra, rb) = (na.ruleset().await.unwrap(), nb.ruleset().await.unwrap());
                    assert_eq!(ra.to_string(), rb.to_string(), "{shape:?} after {step}");
                }
            };
            same("the first sync").await;
            // A new service, with an endpoint shared with another one.
            let new = svc("api", 12, &[3, 6]);
            let r = pa.apply(&[Change::Upsert(&new)]).await.unwrap();
            assert!(r.ops > 0);
            desired.push(new);
            pb.sync(&desired).await.unwrap();
            same("adding a service").await;
            // One endpoint fewer, one swapped, and the same state again
            // (which sends nothing).
            desired[0].endpoints.pop();
            desired[1].endpoints[0] = ep(9);
            let (w, d) = (desired[0].clone(), desired[1].clone());
            pa.apply(&[Change::Upsert(&w), Change::Upsert(&d)]).await.unwrap();
            pb.sync(&desired).await.unwrap();
            same("changing endpoints").await;
            assert_eq!(pa.apply(&[Change::Upsert(&w)]).await.unwrap().ops, 0);
            // No endpoints, then removed; of two changes the last wins.
            desired[2].endpoints.clear();
            let api = desired[2].clone();
            let key = desired[1].key();
            pa.apply(&[Change::Upsert(&api), Change::Remove(&key)]).await.unwrap();
            desired.remove(1);
            pb.sync(&desired).await.unwrap();
            same("emptying and removing").await;
            assert_eq!(pa.sync(&desired).await.unwrap().ops, 0, "{shape:?}: full sync after partial ones");
            pa.apply(&[Change::Remove(&desired[0].key()), Change::Remove(&desired[1].key())]).await.unwrap();
            pb.sync(&[]).await.unwrap();
            same("removing everything").await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_thousand_services() {
        netplumb::testing::require_root();
        let prefix = format!("t{}s", std::process::id() % 10000);
        assert_eq!(main_with(Opts { prefix: prefix.clone(), services: 1000, ..Opts::default() }).await, 0);
        assert!(leftovers(&prefix).is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_thousand_services_in_the_compact_shape() {
        netplumb::testing::require_root();
        let prefix = format!("t{}a", std::process::id() % 10000);
        let o = Opts { prefix: prefix.clone(), services: 1000, shape: Shape::Compact, ..Opts::default() };
        assert_eq!(main_with(o).await, 0);
        assert!(leftovers(&prefix).is_empty());
    }
}
