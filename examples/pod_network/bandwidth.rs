//! `--bandwidth RATE`: shape the first pod of node 1 in both directions
//! with netplumb's `tc`, as the CNI bandwidth plugin does, and measure a
//! bounded TCP transfer into and out of it next to an unshaped one.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use netplumb::link::{Ifb, NewLink};
use netplumb::tc::{eth_p, Filter, Mirred, Qdisc, Rate, Tbf, TcHandle, U32};
use netplumb::Rtnl;

use crate::cluster::{e, Fallible, Node, Pod};

/// The ifb device that carries the shaped pod's egress.
const IFB: &str = "bw-ifb0";

/// Shape `pod` (on `node`) to `rate` each way; the bucket holds 20 ms at
/// the rate (at least 16 KiB) and the queue 25 ms more:
///
/// ```sh
/// tc qdisc add dev VETH root handle 1: tbf rate R burst B latency 25ms       # into the pod
/// ip link add bw-ifb0 up type ifb
/// tc qdisc add dev VETH ingress
/// tc filter add dev VETH parent ffff: protocol all prio 1 u32 match u32 0 0 \
///   action mirred egress redirect dev bw-ifb0
/// tc qdisc add dev bw-ifb0 root handle 1: tbf rate R burst B latency 25ms    # out of the pod
/// ```
pub async fn shape(node: &Node, pod: &Pod, rate: Rate) -> Fallible<()> {
    let rt: &Rtnl = &node.rt;
    let veth = rt.links().get(pod.host_veth.as_str()).await.map_err(e("host veth"))?.index;
    let burst = ((rate.as_bytes() / 50) as u32).max(16 * 1024);
    let tbf = Tbf::with_latency(rate, burst, Duration::from_millis(25));
    let tc = rt.tc();
    tc.qdiscs()
        .add(&Qdisc::root(veth, TcHandle::new(1, 0), tbf.clone()))
        .await
        .map_err(e("tbf on the veth"))?;
    rt.links().add(&NewLink::new(IFB, Ifb).up()).await.map_err(e("ifb"))?;
    let ifb = rt.links().get(IFB).await.map_err(e("ifb"))?.index;
    tc.qdiscs().add(&Qdisc::ingress(veth)).await.map_err(e("ingress qdisc"))?;
    let redirect = U32::match_all().action(Mirred::redirect(ifb));
    tc.filters()
        .add(&Filter::new(veth, TcHandle::INGRESS_QDISC, 1, eth_p::ALL, redirect))
        .await
        .map_err(e("redirect filter"))?;
    tc.qdiscs().add(&Qdisc::root(ifb, TcHandle::new(1, 0), tbf)).await.map_err(e("tbf on the ifb"))?;
    Ok(())
}

/// Bytes/s of a transfer of `total` bytes from `from` to `to` (port 5201),
/// measured at the receiver; 30 s at most.
pub async fn measure(from: &Pod, to: &Pod, total: usize) -> Fallible<f64> {
    let addr = SocketAddr::new(to.ip.into(), 5201);
    let listener =
        to.ns.run(move || TcpListener::bind(addr)).await.map_err(e("netns"))?.map_err(e("bind"))?;
    let server = std::thread::spawn(move || -> Result<(usize, f64), String> {
        let (mut s, _) = listener.accept().map_err(e("accept"))?;
        s.set_read_timeout(Some(Duration::from_secs(30))).map_err(e("timeout"))?;
        let mut buf = vec![0u8; 64 * 1024];
        let (mut got, mut first) = (0, None);
        while got < total {
            let n = s.read(&mut buf).map_err(e("read"))?;
            if n == 0 {
                break;
            }
            first.get_or_insert_with(Instant::now);
            got += n;
        }
        Ok((got, first.map_or(0.0, |f: Instant| f.elapsed().as_secs_f64())))
    });
    let dst: Ipv4Addr = to.ip;
    from.ns
        .run(move || -> Result<(), String> {
            let mut s =
                TcpStream::connect_timeout(&SocketAddr::new(dst.into(), 5201), Duration::from_secs(5))
                    .map_err(e("connect"))?;
            s.set_write_timeout(Some(Duration::from_secs(30))).map_err(e("timeout"))?;
            let chunk = vec![0u8; 64 * 1024];
            let mut sent = 0;
            while sent < total {
                let n = (total - sent).min(chunk.len());
                s.write_all(&chunk[..n]).map_err(e("write"))?;
                sent += n;
            }
            Ok(())
        })
        .await
        .map_err(e("netns"))??;
    let (got, secs) = server.join().map_err(|_| "receiver panicked".to_string())??;
    if got != total || secs <= 0.0 {
        return Err(format!("transfer ended after {got} of {total} bytes"));
    }
    Ok(got as f64 / secs)
}

/// Shape the first pod of node 1, measure into and out of it and between
/// two unshaped pods, print the figures; `Ok(false)` when a shaped
/// direction is off the rate by more than 20%.
pub async fn demo(nodes: &[Node], pods: &[Pod], rate: Rate) -> Fallible<bool> {
    let on1: Vec<&Pod> = pods.iter().filter(|p| p.node == nodes[0].id).collect();
    if on1.len() < 2 {
        return Err("--bandwidth needs at least 2 pods per node".into());
    }
    shape(&nodes[0], on1[0], rate).await?;
    // About 3 s of traffic at the rate, 256 KiB to 64 MiB.
    let total = (rate.as_bytes() * 3).clamp(256 * 1024, 64 << 20) as usize;
    let into = measure(on1[1], on1[0], total).await?;
    let out = measure(on1[0], on1[1], total).await?;
    let want = rate.as_bytes() as f64;
    println!("\nBandwidth: {} shaped to {rate} each way ({total} bytes per transfer):", on1[0].name);
    let mut ok = true;
    for (what, got) in [("into it", into), ("out of it", out)] {
        let ratio = got / want;
        ok &= (0.8..=1.2).contains(&ratio);
        println!("  {what:<10} {:>10.3} Mbit/s ({:.2} of the rate)", got * 8.0 / 1e6, ratio);
    }
    if let Some(other) = pods.iter().find(|p| p.node != nodes[0].id) {
        let free = measure(on1[1], other, total).await?;
        println!("  unshaped   {:>10.3} Mbit/s ({} -> {})", free * 8.0 / 1e6, on1[1].name, other.name);
    }
    Ok(ok)
}
