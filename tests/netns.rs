//! Namespaces: create, list, enter, run code and servers inside, sysctls,
//! remove. Privileged: run as root.

use std::io::{Read, Write};
use std::time::Duration;

use netplumb::netns::Netns;
use netplumb::testing::{self, TestNs};

fn unique(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("npt-{tag}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_namespace_is_visible_to_ip_and_removal_is_idempotent() {
    testing::require_root();
    let name = unique("named");
    let ns = Netns::create_named(&name).await.unwrap();
    assert_eq!(ns.name(), Some(name.as_str()));
    let listed = testing::run("ip", &["netns", "list"]);
    assert!(listed.lines().any(|l| l.split_whitespace().next() == Some(name.as_str())), "{listed}");
    // `ip netns exec` enters the same namespace netplumb created.
    let out = testing::run("ip", &["netns", "exec", &name, "readlink", "/proc/self/ns/net"]);
    assert_eq!(out.trim(), format!("net:[{}]", ns.inode().unwrap()));
    // Creating it again is EEXIST.
    let e = Netns::create_named(&name).await.unwrap_err();
    assert!(e.is_exists(), "{e}");
    // It is not the host's namespace.
    assert!(!ns.same_as(&Netns::current().unwrap()).unwrap());
    Netns::remove_named(&name).unwrap();
    Netns::remove_named(&name).unwrap();
    assert!(!Netns::list_named().unwrap().contains(&name));
    let e = Netns::open_named(&name).unwrap_err();
    assert!(e.is_not_found(), "{e}");
}

#[tokio::test]
async fn bad_names_are_refused_before_anything_happens() {
    for bad in ["", "a/b", "..", "."] {
        let e = Netns::create_named(bad).await.unwrap_err();
        assert!(e.to_string().contains("netns name"), "{bad:?}: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_namespace_and_run_inside() {
    testing::require_root();
    let ns = Netns::create_anonymous().await.unwrap();
    let host = Netns::current().unwrap();
    assert!(!ns.same_as(&host).unwrap());
    // The closure runs inside: its view of /proc/thread-self/ns/net is ns.
    let inside = ns.run(|| Netns::current().unwrap().inode().unwrap()).await.unwrap();
    assert_eq!(inside, ns.inode().unwrap());
    // And the calling (runtime) thread never moved.
    assert!(Netns::current().unwrap().same_as(&host).unwrap());
    // Only lo exists inside a fresh namespace (/proc/thread-self/net
    // follows the namespace of the thread reading it).
    let thread_names = ns
        .run(|| {
            let s = std::fs::read_to_string("/proc/thread-self/net/dev").unwrap();
            s.lines().skip(2).map(|l| l.split(':').next().unwrap().trim().to_string()).collect::<Vec<_>>()
        })
        .await
        .unwrap();
    assert_eq!(thread_names, vec!["lo".to_string()], "fresh namespace holds only lo");
}

#[tokio::test]
async fn sysctls_are_per_namespace_and_host_keys_are_refused() {
    let t = TestNs::new("sysctl").await;
    let ns = t.netns();
    let host_before = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    assert_eq!(ns.sysctl_get("net.ipv4.ip_forward").await.unwrap(), "0");
    ns.sysctl_set("net.ipv4.ip_forward", "1").await.unwrap();
    assert_eq!(ns.sysctl_get("net.ipv4.ip_forward").await.unwrap(), "1");
    assert_eq!(t.exec("sysctl", &["-n", "net.ipv4.ip_forward"]).trim(), "1");
    // The host's value did not move.
    assert_eq!(std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(), host_before);
    // Slash form for interface names with dots.
    assert_eq!(ns.sysctl_get("net/ipv4/conf/lo/forwarding").await.unwrap(), "1");
    // Non-net keys would change the host: refused, naming the field.
    let e = ns.sysctl_set("kernel.hostname", "x").await.unwrap_err();
    assert!(e.to_string().starts_with("invalid sysctl key"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_kept_running_inside_a_namespace() {
    let t = TestNs::new("server").await;
    // A TCP echo server bound to 127.0.0.1 *inside* the namespace.
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let task = t
        .netns()
        .spawn(move || async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            port_tx.send(l.local_addr().unwrap().port()).unwrap();
            for _ in 0..2 {
                let (mut s, peer) = l.accept().await.unwrap();
                use tokio::io::AsyncWriteExt;
                s.write_all(format!("hello {}\n", peer.ip()).as_bytes()).await.unwrap();
            }
            "served"
        })
        .unwrap();
    let port = port_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    // From inside the namespace, a blocking client reaches it.
    for _ in 0..2 {
        let reply = t
            .netns()
            .run(move || {
                let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut r = String::new();
                s.read_to_string(&mut r).unwrap();
                s.write_all(b"").unwrap();
                r
            })
            .await
            .unwrap();
        assert_eq!(reply, "hello 127.0.0.1\n");
    }
    assert_eq!(task.join().await.unwrap(), "served");
    // From the host the port is not there (a different loopback).
    assert!(std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200)
    )
    .is_err());
}

#[tokio::test]
async fn stopping_a_namespace_task_cancels_it() {
    let t = TestNs::new("stop").await;
    let task = t
        .netns()
        .spawn(|| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            1
        })
        .unwrap();
    let r = tokio::time::timeout(Duration::from_secs(5), task.stop()).await.unwrap();
    assert_eq!(r, None);
}
