//! netplumb's codec against netlink-packet-route on the same dump bytes
//! (feature `packet-crates`): 4,096 captured veth links (`RTM_NEWLINK`,
//! ~50 attributes each) and 4,096 routes, decoded message by message.
//! No root needed. The README's design notes quote the figures.
//!
//! Run: `cargo bench --features packet-crates --bench codec_vs_packet`.

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use netplumb::link::message::{parse_link_payload, write_link};
use netplumb::packet::netlink_packet_core::Parseable;
use netplumb::packet::netlink_packet_route::link::LinkMessage;
use netplumb::packet::netlink_packet_route::route::RouteMessage;
use netplumb::route::{AnyRoute, Route, RouteProtocol};
use netplumb::wire::{MsgIter, MsgWriter, NLM_F_MULTIPART};
use netplumb::IfIndex;

const N: usize = 4096;
const VETH_LINK: &[u8] = include_bytes!("data/veth-link.bin");

fn link_dump() -> Vec<u8> {
    let template = parse_link_payload(VETH_LINK).expect("captured veth decodes");
    let mut out = Vec::new();
    for i in 0..N {
        let mut l = template.clone();
        l.index = IfIndex(10 + i as u32);
        l.name = format!("veth{i:08x}");
        let mut m = MsgWriter::new(&mut out, libc::RTM_NEWLINK, NLM_F_MULTIPART);
        write_link(&l, &mut m);
    }
    out
}

fn route_dump() -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..N {
        let r = Route::new(format!("10.{}.{}.0/24", (i >> 8) & 0xff, i & 0xff).parse().unwrap())
            .gateway(Ipv4Addr::new(10, 0, 0, 1))
            .oif(IfIndex(2))
            .protocol(RouteProtocol::STATIC)
            .metric(100);
        let mut m = MsgWriter::new(&mut out, libc::RTM_NEWROUTE, NLM_F_MULTIPART);
        r.write(&mut m);
    }
    out
}

fn bench(c: &mut Criterion) {
    let links = link_dump();
    let mut g = c.benchmark_group("decode-4096-links");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("netplumb", |b| {
        b.iter(|| {
            let mut k = 0;
            for m in MsgIter::new(&links) {
                k += parse_link_payload(m.unwrap().payload).unwrap().index.0 as usize;
            }
            black_box(k)
        })
    });
    g.bench_function("netlink-packet-route", |b| {
        b.iter(|| {
            let mut k = 0;
            for m in MsgIter::new(&links) {
                k += LinkMessage::parse(m.unwrap().payload).unwrap().header.index as usize;
            }
            black_box(k)
        })
    });
    g.finish();

    let routes = route_dump();
    let mut g = c.benchmark_group("decode-4096-routes");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("netplumb", |b| {
        b.iter(|| {
            let mut k = 0;
            for m in MsgIter::new(&routes) {
                if let AnyRoute::V4(r) = AnyRoute::parse(&m.unwrap()).unwrap() {
                    k += r.metric.unwrap_or(0) as usize;
                }
            }
            black_box(k)
        })
    });
    g.bench_function("netlink-packet-route", |b| {
        b.iter(|| {
            let mut k = 0;
            for m in MsgIter::new(&routes) {
                k += RouteMessage::parse(m.unwrap().payload).unwrap().attributes.len();
            }
            black_box(k)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
