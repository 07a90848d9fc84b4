//! Bad input is refused, naming the field, before anything reaches the
//! kernel: every nftables transaction operation, map data, and conntrack
//! filters that could never match. No root needed (the conntrack checks run
//! against `testing::FakeKernel`, which records whatever is sent).

use std::net::Ipv4Addr;

use netplumb::conntrack::{Conntrack, Filter, IpFamily};
use netplumb::nft::{DataType, Element, Family, KeyType, ObjectType, Set, Transaction};
use netplumb::testing::{FakeKernel, Reply};
use netplumb::wire::names::Protocol;
use netplumb::Error;

fn field_of(e: Error) -> String {
    match e {
        Error::Invalid(i) => i.field,
        other => panic!("expected Error::Invalid, got {other:?}"),
    }
}

#[test]
fn every_transaction_operation_checks_its_names() {
    let long = "t".repeat(256);
    let mut tx = Transaction::new();
    let f = Family::Inet;
    assert_eq!(field_of(tx.delete_table(f, &long).unwrap_err()), "table name");
    assert_eq!(field_of(tx.destroy_table(f, "").unwrap_err()), "table name");
    assert_eq!(field_of(tx.flush_table(f, "a\0b").unwrap_err()), "table name");
    assert_eq!(field_of(tx.delete_chain(f, "t", &long).unwrap_err()), "chain name");
    assert_eq!(field_of(tx.destroy_chain(f, &long, "c").unwrap_err()), "table name");
    assert_eq!(field_of(tx.flush_chain(f, "t", "").unwrap_err()), "chain name");
    assert_eq!(field_of(tx.delete_rule(f, "t", &long, 1).unwrap_err()), "chain name");
    assert_eq!(field_of(tx.delete_rule(f, "t", "c", 0).unwrap_err()), "rule handle");
    assert_eq!(field_of(tx.destroy_rule(f, "t", "c", 0).unwrap_err()), "rule handle");
    assert_eq!(field_of(tx.delete_set(f, "t", &long).unwrap_err()), "set name");
    assert_eq!(field_of(tx.destroy_set(f, "", "s").unwrap_err()), "table name");
    assert_eq!(field_of(tx.flush_set(f, "t", "").unwrap_err()), "set name");
    assert_eq!(field_of(tx.delete_object(f, "t", &long, ObjectType::Counter).unwrap_err()), "object name");
    assert_eq!(field_of(tx.destroy_object(f, "", "o", ObjectType::Quota).unwrap_err()), "table name");
    // Nothing was added for any of them.
    assert!(tx.is_empty(), "rejected operations must not be queued");

    // Good names are accepted.
    tx.delete_table(f, "t").unwrap();
    tx.delete_rule(f, "t", "c", 7).unwrap();
    tx.delete_object(f, "t", "o", ObjectType::Counter).unwrap();
    assert!(!tx.is_empty());
}

#[test]
fn map_data_must_have_the_maps_length() {
    let map = Set::map(
        Family::Ip,
        "t",
        "m",
        KeyType::single(DataType::IPV4_ADDR),
        KeyType::single(DataType::IPV4_ADDR),
    );
    let mut tx = Transaction::new();
    let good = Element::new(Ipv4Addr::new(10, 0, 0, 1)).to(Ipv4Addr::new(10, 0, 0, 2));
    tx.add_elements(&map, std::slice::from_ref(&good)).unwrap();
    let short = Element::new(Ipv4Addr::new(10, 0, 0, 1)).to(vec![1u8, 2]);
    let e = tx.add_elements(&map, &[good, short]).unwrap_err();
    assert_eq!(field_of(e), "elements[1].data");

    let set = Set::new(Family::Ip, "t", "s", KeyType::single(DataType::IPV4_ADDR));
    let e = tx.add_elements(&set, &[Element::new(Ipv4Addr::new(10, 0, 0, 1)).to(Ipv4Addr::new(10, 0, 0, 2))]);
    assert_eq!(field_of(e.unwrap_err()), "elements[0].data");
}

#[test]
fn a_filter_mixing_families_is_an_error_naming_the_field() {
    let f = Filter::new().family(IpFamily::Ipv4).orig_src("fd00::1".parse().unwrap());
    assert_eq!(field_of(f.validate().unwrap_err()), "filter.orig_src");
    let f = Filter::new().orig_dst("10.0.0.1".parse().unwrap()).reply_src("fd00::1".parse().unwrap());
    let e = f.validate().unwrap_err();
    assert!(e.to_string().contains("orig_dst"), "{e}");
    assert_eq!(field_of(e), "filter.reply_src");
    Filter::new().family(IpFamily::Ipv6).orig_src("fd00::1".parse().unwrap()).validate().unwrap();
}

#[tokio::test]
async fn conntrack_refuses_such_a_filter_before_sending_anything() {
    let kernel = FakeKernel::new(Protocol::Netfilter, |_| vec![Reply::done()]).unwrap();
    let ct = Conntrack::from_connection(kernel.connection()).unwrap();
    let bad = Filter::new().family(IpFamily::Ipv4).orig_src("fd00::1".parse().unwrap());

    let e = ct.list(&bad).try_collect().await.unwrap_err();
    assert_eq!(field_of(e), "filter.orig_src");
    let e = ct.delete_many(&bad).await.unwrap_err();
    assert_eq!(field_of(e), "filter.orig_src");
    let e = ct.flush_filtered(&bad).await.unwrap_err();
    assert_eq!(field_of(e), "filter.orig_src");
    assert!(kernel.requests().is_empty(), "sent {:?}", kernel.requests());

    // A good filter does reach the (fake) kernel.
    let good = Filter::new().family(IpFamily::Ipv4).orig_src("10.0.0.1".parse().unwrap());
    assert!(ct.list(&good).try_collect().await.unwrap().is_empty());
    assert_eq!(kernel.requests().len(), 1);
}
