//! The API forms a dependent crate writes, against the real kernel in a
//! fresh namespace (needs root): concurrent requests through the accessors
//! without binding them first, futures that can be spawned, every nft
//! listing as a stream, and deleting an object by its type.

use netplumb::link::{NewLink, Veth, VethPeer};
use netplumb::nft::expr::Counter;
use netplumb::nft::{Chain, DataType, Family, KeyType, Nft, Object, ObjectKind, Set, Table, Transaction};
use netplumb::testing::TestNs;
use netplumb::Rtnl;

#[tokio::test]
async fn accessors_can_be_awaited_together_and_spawned() {
    let ns = TestNs::new("apijoin").await;
    let rt = Rtnl::new_in(ns.netns()).await.unwrap();
    rt.links().add(&NewLink::new("ap0", Veth::new(VethPeer::new("ap1")))).await.unwrap();

    let a = String::from("ap0");
    let (a, lo) = tokio::join!(rt.links().get(a.as_str()), rt.links().get("lo"));
    assert_eq!(a.unwrap().name, "ap0");
    assert_eq!(lo.unwrap().index.get(), 1);

    let got = tokio::select! {
        l = rt.links().get("ap1") => l.unwrap().name,
        _ = tokio::time::sleep(std::time::Duration::from_secs(10)) => panic!("no answer in 10 s"),
    };
    assert_eq!(got, "ap1");

    // Request futures are Send: spawn them on the multi-threaded runtime.
    let rt2 = rt.clone();
    let n = tokio::spawn(async move { rt2.links().list().try_collect().await.unwrap().len() }).await.unwrap();
    assert_eq!(n, 3);
}

#[tokio::test]
async fn every_nft_listing_is_a_stream_too() {
    let ns = TestNs::new("apistrm").await;
    let nft = Nft::new_in(ns.netns()).await.unwrap();
    let mut tx = Transaction::new();
    tx.add_table(&Table::new(Family::Inet, "t")).unwrap();
    tx.add_chain(&Chain::new(Family::Inet, "t", "c")).unwrap();
    tx.add_set(&Set::new(Family::Inet, "t", "s", KeyType::single(DataType::IPV4_ADDR))).unwrap();
    tx.add_object(&Object::new(Family::Inet, "t", "hits", ObjectKind::Counter(Counter::default()))).unwrap();
    nft.commit(&tx).await.unwrap();

    let chains: Vec<Chain> = nft.chains(None).try_collect().await.unwrap();
    assert_eq!(chains, nft.list_chains(None).await.unwrap());
    assert_eq!(chains.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["c"]);
    let sets: Vec<Set> = nft.sets(Some(Family::Inet)).try_collect().await.unwrap();
    assert_eq!(sets.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["s"]);
    let objects: Vec<Object> = nft.objects(None).try_collect().await.unwrap();
    assert_eq!(objects.len(), 1);
    assert!(ns.exec("nft", &["list", "counters"]).contains("counter hits"));

    // Delete the object by the type its listing reports.
    let mut tx = Transaction::new();
    tx.delete_object(Family::Inet, "t", "hits", objects[0].kind.object_type()).unwrap();
    nft.commit(&tx).await.unwrap();
    assert!(nft.list_objects(None).await.unwrap().is_empty());
    assert!(!ns.exec("nft", &["list", "counters"]).contains("hits"));
}
