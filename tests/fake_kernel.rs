//! Written as a crate that depends on netplumb would: unit tests of "my
//! CNI plugin's" code against `netplumb::testing::FakeKernel`, without root
//! and without a namespace.

use netplumb::link::message::write_link;
use netplumb::link::{Bridge, Link, NewLink};
use netplumb::testing::{FakeKernel, Reply};
use netplumb::wire::names::Protocol;
use netplumb::wire::{AttrIter, AttrWriter, NLM_F_CREATE, NLM_F_DUMP_INTR, NLM_F_EXCL};
use netplumb::{Errno, Error, IfIndex, Rtnl};

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const IFLA_IFNAME: u16 = 3;

/// The code under test: make sure bridge `name` exists, creating it if
/// needed; returns whether it created it.
async fn ensure_bridge(rt: &Rtnl, name: &str) -> netplumb::Result<bool> {
    match rt.links().get(name).await {
        Ok(_) => Ok(false),
        Err(e) if e.is_not_found() => {
            rt.links().add(&NewLink::new(name, Bridge::new())).await?;
            Ok(true)
        }
        Err(e) => Err(e),
    }
}

fn link_payload(index: u32, name: &str) -> Vec<u8> {
    let mut l = Link::default();
    l.index = IfIndex(index);
    l.name = name.to_string();
    let mut buf = Vec::new();
    write_link(&l, &mut AttrWriter::new(&mut buf));
    buf
}

fn ifname(payload: &[u8]) -> Option<String> {
    AttrIter::new(&payload[16..])
        .filter_map(Result::ok)
        .find(|a| a.kind() == IFLA_IFNAME)
        .and_then(|a| a.str().ok().map(str::to_string))
}

#[tokio::test]
async fn creates_the_bridge_when_the_kernel_has_none() {
    let kernel = FakeKernel::new(Protocol::Route, |req| match req.header.ty {
        RTM_GETLINK => vec![Reply::error(Errno::ENODEV, None)],
        RTM_NEWLINK => vec![Reply::ack()],
        other => panic!("unexpected request type {other}"),
    })
    .unwrap();
    let rt = Rtnl::from_connection(kernel.connection()).unwrap();
    assert!(ensure_bridge(&rt, "cni0").await.unwrap());

    let sent = kernel.requests();
    assert_eq!(sent.iter().map(|m| m.header.ty).collect::<Vec<_>>(), [RTM_GETLINK, RTM_NEWLINK]);
    let create = &sent[1];
    assert_eq!(create.header.flags & (NLM_F_CREATE | NLM_F_EXCL), NLM_F_CREATE | NLM_F_EXCL);
    assert_eq!(ifname(&create.payload).as_deref(), Some("cni0"));
    // Sequence numbers are the connection's, one per request.
    assert_ne!(sent[0].header.seq, sent[1].header.seq);
}

#[tokio::test]
async fn leaves_an_existing_bridge_alone() {
    let kernel = FakeKernel::new(Protocol::Route, |req| {
        let name = ifname(req.payload).unwrap_or_default();
        vec![Reply::message(RTM_NEWLINK, link_payload(4, &name)), Reply::ack()]
    })
    .unwrap();
    let rt = Rtnl::from_connection(kernel.connection()).unwrap();
    assert!(!ensure_bridge(&rt, "cni0").await.unwrap());
    assert_eq!(kernel.requests().len(), 1);
}

#[tokio::test]
async fn kernel_errors_reach_the_caller_with_their_message() {
    let kernel = FakeKernel::new(Protocol::Route, |req| match req.header.ty {
        RTM_GETLINK => vec![Reply::error(Errno::ENODEV, None)],
        _ => vec![Reply::error(Errno::EPERM, Some("Operation not permitted here"))],
    })
    .unwrap();
    let rt = Rtnl::from_connection(kernel.connection()).unwrap();
    let err = ensure_bridge(&rt, "cni0").await.unwrap_err();
    assert!(err.is_permission(), "{err}");
    assert!(err.to_string().contains("Operation not permitted here"), "{err}");
    assert!(matches!(err, Error::Kernel(_)), "{err:?}");
}

#[tokio::test]
async fn dumps_are_scripted_too_and_an_interrupted_one_is_retried() {
    let mut calls = 0;
    let kernel = FakeKernel::new(Protocol::Route, move |_req| {
        calls += 1;
        let links = [link_payload(1, "lo"), link_payload(7, "eth0")];
        let mut replies = Reply::dump(RTM_NEWLINK, links);
        if calls == 1 {
            // The first dump is interrupted by a change: netplumb must retry.
            let done = replies.pop().unwrap();
            replies.push(done.flags(NLM_F_DUMP_INTR));
        }
        replies
    })
    .unwrap();
    let rt = Rtnl::from_connection(kernel.connection()).unwrap();
    let links = rt.links().list().try_collect().await.unwrap();
    let names: Vec<&str> = links.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["lo", "eth0"]);
    assert_eq!(kernel.requests().len(), 2, "one retry after the interrupted dump");
}

/// An IPv4 route message: `dst/24 via gw dev oif`, main table.
fn route_payload(dst: [u8; 4], gw: [u8; 4], oif: u32) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut w = AttrWriter::new(&mut buf);
    // rtmsg: AF_INET, dst_len 24, src_len 0, tos 0, table 254, protocol
    // static (4), scope universe (0), type unicast (1), flags 0.
    w.raw(&[2, 24, 0, 0, 254, 4, 0, 1, 0, 0, 0, 0]);
    w.u32(15, 254).bytes(1, &dst).bytes(5, &gw).u32(4, oif);
    buf
}

#[tokio::test]
async fn a_route_dump_skips_other_messages_and_retries_when_only_they_came_before_an_interruption() {
    const RTM_NEWROUTE: u16 = 24;
    const RTM_NEWNEIGH: u16 = 28;
    let mut calls = 0;
    let kernel = FakeKernel::new(Protocol::Route, move |_req| {
        calls += 1;
        if calls == 1 {
            // Interrupted, and nothing of the dump's own type came: no
            // route was handed out, so netplumb may dump again.
            return vec![
                Reply::message(RTM_NEWLINK, link_payload(1, "lo")),
                Reply::done().flags(NLM_F_DUMP_INTR),
            ];
        }
        vec![
            Reply::message(RTM_NEWLINK, link_payload(1, "lo")),
            Reply::message(RTM_NEWROUTE, route_payload([10, 1, 0, 0], [10, 0, 0, 2], 7)),
            Reply::message(RTM_NEWNEIGH, vec![0u8; 12]),
            Reply::message(RTM_NEWROUTE, route_payload([10, 2, 0, 0], [10, 0, 0, 3], 7)),
            Reply::done(),
        ]
    })
    .unwrap();
    let rt = Rtnl::from_connection(kernel.connection()).unwrap();
    let routes = rt
        .routes()
        .list::<std::net::Ipv4Addr>(&netplumb::route::RouteFilter::all())
        .try_collect()
        .await
        .unwrap();
    let got: Vec<String> =
        routes.iter().map(|r| format!("{} via {:?} dev {:?}", r.dst, r.gateway, r.oif)).collect();
    assert_eq!(
        got,
        [
            "10.1.0.0/24 via Some(10.0.0.2) dev Some(IfIndex(7))",
            "10.2.0.0/24 via Some(10.0.0.3) dev Some(IfIndex(7))"
        ]
    );
    assert_eq!(kernel.requests().len(), 2, "one retry after the interrupted dump");
}

#[tokio::test]
async fn the_wrong_protocol_is_refused() {
    let kernel = FakeKernel::new(Protocol::Netfilter, |_| vec![Reply::ack()]).unwrap();
    let err = Rtnl::from_connection(kernel.connection()).unwrap_err();
    assert!(err.to_string().contains("connection"), "{err}");
}
