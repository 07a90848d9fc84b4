//! The packet-crate escape hatch against the real kernel (feature
//! `packet-crates`; needs root): netlink-packet-route messages sent through
//! netplumb's connection inside a fresh namespace, checked against `ip -j`.

use netplumb::link::{LinkChange, NewLink, Veth, VethPeer};
use netplumb::packet::netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netplumb::packet::netlink_packet_route::RouteNetlinkMessage;
use netplumb::testing::TestNs;
use netplumb::{Errno, Rtnl};

fn gso_max_size(m: &LinkMessage) -> Option<u32> {
    m.attributes.iter().find_map(|a| if let LinkAttribute::GsoMaxSize(v) = a { Some(*v) } else { None })
}

#[tokio::test]
async fn dump_reaches_an_attribute_netplumb_does_not_model() {
    let ns = TestNs::new("pktdump").await;
    let rt = Rtnl::new_in(ns.netns()).await.unwrap();
    rt.links().add(&NewLink::new("pk0", Veth::new(VethPeer::new("pk1")))).await.unwrap();
    rt.links().set("pk0", &LinkChange::new().up()).await.unwrap();

    let replies = rt
        .packet_dump(RouteNetlinkMessage::GetLink(LinkMessage::default()))
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let links: Vec<LinkMessage> = replies
        .into_iter()
        .map(|m| match m {
            RouteNetlinkMessage::NewLink(l) => l,
            other => panic!("unexpected reply {other:?}"),
        })
        .collect();
    // Only this namespace's links: lo and the pair.
    let mut names: Vec<String> = links
        .iter()
        .filter_map(|l| {
            l.attributes.iter().find_map(|a| {
                if let LinkAttribute::IfName(n) = a {
                    Some(n.clone())
                } else {
                    None
                }
            })
        })
        .collect();
    names.sort();
    assert_eq!(names, ["lo", "pk0", "pk1"]);

    // The same attribute as `ip -j -d link show` reports it.
    let ip: serde_json::Value = serde_json::from_str(&ns.ip(&["-j", "-d", "link", "show", "pk0"])).unwrap();
    let want = ip[0]["gso_max_size"].as_u64().expect("ip reports gso_max_size") as u32;
    let pk0 = links
        .iter()
        .find(|l| l.attributes.contains(&LinkAttribute::IfName("pk0".into())))
        .expect("pk0 in the dump");
    assert_eq!(gso_max_size(pk0), Some(want));

    // And the typed conversion agrees with netplumb's own listing.
    let ours = rt.links().get("pk0").await.unwrap();
    let converted = netplumb::link::Link::try_from(pk0).unwrap();
    assert_eq!(converted.index, ours.index);
    assert_eq!(converted.mtu, ours.mtu);
    assert_eq!(converted.mac(), ours.mac());
}

#[tokio::test]
async fn request_changes_the_kernel_and_errors_carry_its_words() {
    let ns = TestNs::new("pktreq").await;
    let rt = Rtnl::new_in(ns.netns()).await.unwrap();
    rt.links().add(&NewLink::new("pq0", Veth::new(VethPeer::new("pq1")))).await.unwrap();
    let idx = rt.links().get("pq0").await.unwrap().index;

    // RTM_SETLINK with IFLA_GSO_MAX_SIZE, which netplumb's LinkChange lacks.
    let mut m = LinkMessage::default();
    m.header.index = idx.0;
    m.attributes.push(LinkAttribute::GsoMaxSize(32768));
    let replies = rt.packet_request(RouteNetlinkMessage::SetLink(m), 0).await.unwrap();
    assert!(replies.is_empty(), "{replies:?}");
    let ip: serde_json::Value = serde_json::from_str(&ns.ip(&["-j", "-d", "link", "show", "pq0"])).unwrap();
    assert_eq!(ip[0]["gso_max_size"].as_u64(), Some(32768));

    // A link that does not exist: the kernel's errno reaches the caller.
    let mut m = LinkMessage::default();
    m.header.index = 999_999;
    m.attributes.push(LinkAttribute::Mtu(1400));
    let err = rt.packet_request(RouteNetlinkMessage::SetLink(m), 0).await.unwrap_err();
    assert_eq!(err.errno(), Some(Errno::ENODEV), "{err}");
    assert!(err.to_string().contains("RTM_SETLINK"), "{err}");
}
