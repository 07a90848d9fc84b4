//! Namespaces that cannot bite: create a named network namespace (visible
//! to `ip netns list`), open a netlink connection inside it, flip a sysctl
//! there, run a TCP server inside it and talk to it from inside, then
//! remove everything. The host's own network is never touched.
//!
//! Needs root (CAP_NET_ADMIN): `cargo run --example namespaces`.

use std::io::Read;
use std::time::Duration;

use netplumb::link::LinkChange;
use netplumb::netns::Netns;
use netplumb::Rtnl;

async fn tour(name: &str) -> netplumb::Result<()> {
    let ns = Netns::create_named(name).await?;
    println!("created namespace {name} (inode {})", ns.inode()?);

    // An rtnetlink handle whose sockets live in the namespace: bring lo up
    // there, as `ip -n NAME link set lo up` does.
    let rt = Rtnl::new_in(&ns).await?;
    rt.links().set("lo", &LinkChange::new().up()).await?;
    let lo = rt.links().get("lo").await?;
    println!(
        "lo (index {}) is up inside {name}: {}",
        lo.index,
        lo.flags.contains(netplumb::link::LinkFlags::UP)
    );

    ns.sysctl_set("net.ipv4.ip_forward", "1").await?;
    println!("net.ipv4.ip_forward = {} inside, host unchanged", ns.sysctl_get("net.ipv4.ip_forward").await?);

    let (tx, rx) = std::sync::mpsc::channel();
    let server = ns.spawn(move || async move {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        tx.send(l.local_addr().expect("addr").port()).expect("send port");
        let (mut s, _) = l.accept().await.expect("accept");
        tokio::io::AsyncWriteExt::write_all(&mut s, b"hello from inside the namespace\n")
            .await
            .expect("write");
    })?;
    let port = rx.recv_timeout(Duration::from_secs(5)).expect("server port");
    let reply = ns
        .run(move || -> std::io::Result<String> {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            let mut r = String::new();
            s.read_to_string(&mut r)?;
            Ok(r)
        })
        .await?
        .map_err(|e| netplumb::Error::io("talk to the server", e))?;
    print!("server said: {reply}");
    server.join().await?;
    Ok(())
}

#[tokio::main]
async fn main() {
    let name = format!("netplumb-tour-{}", std::process::id());
    let r = tour(&name).await;
    // Removed whatever happened above.
    Netns::remove_named(&name).expect("remove namespace");
    println!("removed {name}");
    if let Err(e) = r {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
