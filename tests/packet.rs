//! The packet-crate escape hatch against the real kernel (feature
//! `packet-crates`; needs root): netlink-packet-route and
//! netlink-packet-netfilter messages sent through netplumb's connection
//! inside a fresh namespace, checked against `ip -j`, `conntrack -L` and
//! netplumb's own typed calls.

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

use netplumb::conntrack::{Conntrack, Flow, TcpState, Tuple};
use netplumb::nft::{Family, Nft, Table, Transaction};
use netplumb::packet::netlink_packet_netfilter::conntrack::{
    ConntrackAttribute, ConntrackMessage, IPTuple, ProtoTuple, Protocol, Tuple as CtTuple,
};
use netplumb::packet::netlink_packet_netfilter::nftables::{
    GenAttribute, GenMessage, NfTablesMessage, TableAttribute, TableMessage,
};
use netplumb::packet::netlink_packet_netfilter::{
    NetfilterHeader, NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily,
};

fn nf(family: NetfilterProtoFamily, inner: impl Into<NetfilterMessageInner>) -> NetfilterMessage {
    NetfilterMessage::new(NetfilterHeader::new(family, 0, 0), inner)
}

/// A ctnetlink tuple as netlink-packet-netfilter builds it.
fn ct_tuple(src: &str, dst: &str, sport: u16, dport: u16) -> Vec<CtTuple> {
    vec![
        CtTuple::Ip(vec![
            IPTuple::SourceAddress(src.parse().unwrap()),
            IPTuple::DestinationAddress(dst.parse().unwrap()),
        ]),
        CtTuple::Proto(vec![
            ProtoTuple::Protocol(Protocol::Udp),
            ProtoTuple::SourcePort(sport),
            ProtoTuple::DestinationPort(dport),
        ]),
    ]
}

#[tokio::test]
async fn conntrack_dump_and_conversion_agree_with_netplumb_and_conntrack_tools() {
    let ns = TestNs::new("pktct").await;
    let ct = Conntrack::new_in(ns.netns()).await.unwrap();
    let t = Tuple::tcp("10.7.0.1:4000".parse().unwrap(), "10.7.0.2:443".parse().unwrap());
    let f = Flow::new(t.clone()).with_timeout(300).with_mark(42).with_tcp_state(TcpState::ESTABLISHED);
    ct.add(&f).await.unwrap();

    let dump = ct
        .packet_dump(nf(NetfilterProtoFamily::IPv4, ConntrackMessage::Get(vec![])))
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    // Only this namespace's flow.
    assert_eq!(dump.len(), 1, "{dump:?}");
    let NetfilterMessageInner::Conntrack(ConntrackMessage::New(attrs)) = &dump[0].inner else {
        panic!("unexpected reply {:?}", dump[0])
    };
    assert!(attrs.contains(&ConntrackAttribute::CtaMark(42)), "{attrs:?}");
    // The typed conversion gives what netplumb's own get gives (the
    // timeout counts down between the two reads, and a get reply counts
    // the get's own reference in CTA_USE: both compared apart).
    let mut converted = Flow::try_from(&dump[0]).unwrap();
    let mut ours = ct.get(&t, 0).await.unwrap();
    assert!(converted.timeout.unwrap() <= 300 && ours.timeout.unwrap() <= 300);
    assert!(converted.use_count.is_some() && ours.use_count.is_some());
    (converted.timeout, ours.timeout) = (None, None);
    (converted.use_count, ours.use_count) = (None, None);
    assert_eq!(converted, ours);
    // And conntrack-tools lists the same flow.
    let listed = ns.exec("conntrack", &["-L"]);
    let line = listed.lines().find(|l| l.contains("src=10.7.0.1")).expect("conntrack -L lists the flow");
    for want in ["tcp", "ESTABLISHED", "dst=10.7.0.2", "sport=4000", "dport=443", "mark=42"] {
        assert!(line.split_whitespace().any(|w| w == want), "{want} not in {line}");
    }
}

#[tokio::test]
async fn conntrack_request_creates_a_flow_and_errors_carry_the_kernels_words() {
    let ns = TestNs::new("pktctreq").await;
    let ct = Conntrack::new_in(ns.netns()).await.unwrap();
    let new = ConntrackMessage::New(vec![
        ConntrackAttribute::CtaTupleOrig(ct_tuple("10.8.0.1", "10.8.0.2", 5000, 53)),
        ConntrackAttribute::CtaTupleReply(ct_tuple("10.8.0.2", "10.8.0.1", 53, 5000)),
        ConntrackAttribute::CtaTimeout(120),
        ConntrackAttribute::CtaMark(7),
    ]);
    let replies = ct
        .packet_request(nf(NetfilterProtoFamily::IPv4, new.clone()), netplumb::wire::NLM_F_CREATE)
        .await
        .unwrap();
    assert!(replies.is_empty(), "{replies:?}");
    let t = Tuple::udp("10.8.0.1:5000".parse().unwrap(), "10.8.0.2:53".parse().unwrap());
    let got = ct.get(&t, 0).await.unwrap();
    assert_eq!((got.mark, got.reply.src_port), (Some(7), Some(53)));
    let listed = ns.exec("conntrack", &["-L"]);
    assert!(listed.lines().any(|l| l.contains("src=10.8.0.1") && l.contains("mark=7")), "{listed}");

    // The same flow again with NLM_F_EXCL: the kernel's EEXIST, named.
    let err = ct
        .packet_request(
            nf(NetfilterProtoFamily::IPv4, new),
            netplumb::wire::NLM_F_CREATE | netplumb::wire::NLM_F_EXCL,
        )
        .await
        .unwrap_err();
    assert_eq!(err.errno(), Some(Errno::EEXIST), "{err}");
    assert!(err.to_string().contains("IPCTNL_MSG_CT_NEW"), "{err}");

    // Deleting a flow that does not exist: ENOENT.
    let del = ConntrackMessage::Delete(vec![ConntrackAttribute::CtaTupleOrig(ct_tuple(
        "10.8.0.9", "10.8.0.2", 1, 2,
    ))]);
    let err = ct.packet_request(nf(NetfilterProtoFamily::IPv4, del), 0).await.unwrap_err();
    assert_eq!(err.errno(), Some(Errno::ENOENT), "{err}");
}

#[tokio::test]
async fn nft_dump_and_get_through_the_packet_crate() {
    let ns = TestNs::new("pktnft").await;
    let nft = Nft::new_in(ns.netns()).await.unwrap();
    let mut tx = Transaction::new();
    tx.add_table(&Table::new(Family::Inet, "pkt_a")).unwrap();
    tx.add_table(&Table::new(Family::Ip, "pkt_b")).unwrap();
    let done = nft.commit(&tx).await.unwrap();

    // NFT_MSG_GETGEN: the generation netplumb's commit returned.
    let gen = nft
        .packet_request(
            nf(NetfilterProtoFamily::Unspec, NfTablesMessage::GetGen(GenMessage { attributes: vec![] })),
            0,
        )
        .await
        .unwrap();
    let id = gen.iter().find_map(|m| match &m.inner {
        NetfilterMessageInner::NfTables(NfTablesMessage::NewGen(g)) => {
            g.attributes.iter().find_map(|a| if let GenAttribute::Id(i) = a { Some(*i) } else { None })
        }
        _ => None,
    });
    assert_eq!(id, Some(done.generation), "{gen:?}");

    // NFT_MSG_GETTABLE dump: the tables `nft list tables` shows.
    let tables = nft
        .packet_dump(nf(
            NetfilterProtoFamily::Unspec,
            NfTablesMessage::GetTable(TableMessage { attributes: vec![] }),
        ))
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let mut ours: Vec<String> = tables
        .iter()
        .filter_map(|m| {
            let NetfilterMessageInner::NfTables(NfTablesMessage::NewTable(t)) = &m.inner else { return None };
            let name = t.attributes.iter().find_map(|a| {
                if let TableAttribute::Name(n) = a {
                    Some(n.clone())
                } else {
                    None
                }
            })?;
            let family = match m.header.family {
                NetfilterProtoFamily::Inet => "inet",
                NetfilterProtoFamily::IPv4 => "ip",
                other => panic!("unexpected family {other:?}"),
            };
            Some(format!("table {family} {name}"))
        })
        .collect();
    ours.sort();
    let mut theirs: Vec<String> = ns.exec("nft", &["list", "tables"]).lines().map(str::to_string).collect();
    theirs.sort();
    assert_eq!(ours, theirs);
}
