//! Encode and decode throughput of whole dumps: links and routes (and, as
//! their modules land, nftables batches and conntrack dumps), at 1, 64 and
//! 4,096 messages. No root needed: the messages are built with netplumb's
//! own encoders, links from a captured kernel reply.
//!
//! Run: `cargo bench --bench codec` (add `-- route` to pick cases).

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use netplumb::link::message::{parse_link_payload, write_link};
use netplumb::link::Link;
use netplumb::route::{Route, RouteProtocol, RouteV4};
use netplumb::rtnl::Scope;
use netplumb::wire::{MsgIter, MsgWriter, NLM_F_MULTIPART};
use netplumb::IfIndex;

const SIZES: [usize; 3] = [1, 64, 4096];
const RTM_NEWLINK: u16 = 16;
const RTM_NEWROUTE: u16 = 24;

/// A veth as the kernel reports it in a link dump (`RTM_NEWLINK`, 1,480
/// bytes, ~50 attributes), captured from Linux 6.18: see
/// `fuzz/README.md` for how the rtnetlink seeds were captured.
const VETH_LINK: &[u8] = include_bytes!("data/veth-link.bin");

fn links(n: usize) -> Vec<Link> {
    let template = parse_link_payload(VETH_LINK).expect("captured veth decodes");
    (0..n)
        .map(|i| {
            let mut l = template.clone();
            l.index = IfIndex(10 + i as u32);
            l.name = format!("veth{i:08x}");
            l
        })
        .collect()
}

/// Routes shaped like a kernel route dump: `10.X.Y.0/24 via 10.0.0.1 dev
/// 2 proto static metric 100`.
fn routes(n: usize) -> Vec<RouteV4> {
    (0..n)
        .map(|i| {
            Route::new(format!("10.{}.{}.0/24", (i >> 8) & 0xff, i & 0xff).parse().unwrap())
                .gateway(Ipv4Addr::new(10, 0, 0, 1))
                .oif(IfIndex(2))
                .protocol(RouteProtocol::STATIC)
                .scope(Scope::Universe)
                .metric(100)
        })
        .collect()
}

fn encode_dump<T>(out: &mut Vec<u8>, ty: u16, items: &[T], write: impl Fn(&T, &mut MsgWriter<'_>)) {
    out.clear();
    for it in items {
        let mut m = MsgWriter::new(out, ty, NLM_F_MULTIPART);
        write(it, &mut m);
    }
}

fn bench_links(c: &mut Criterion) {
    let mut g = c.benchmark_group("link");
    for n in SIZES {
        let items = links(n);
        let mut buf = Vec::new();
        encode_dump(&mut buf, RTM_NEWLINK, &items, |l, w| write_link(l, w));
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("encode", n), &items, |b, items| {
            let mut out = Vec::with_capacity(buf.len());
            b.iter(|| {
                encode_dump(&mut out, RTM_NEWLINK, items, |l, w| write_link(l, w));
                black_box(out.len())
            })
        });
        g.bench_with_input(BenchmarkId::new("decode", n), &buf, |b, buf| {
            b.iter(|| {
                let mut k = 0;
                for m in MsgIter::new(buf) {
                    let l = parse_link_payload(m.unwrap().payload).unwrap();
                    k += black_box(&l).index.0 as usize;
                }
                k
            })
        });
    }
    g.finish();
}

fn bench_routes(c: &mut Criterion) {
    let mut g = c.benchmark_group("route");
    for n in SIZES {
        let items = routes(n);
        let mut buf = Vec::new();
        encode_dump(&mut buf, RTM_NEWROUTE, &items, |r, w| r.write(w));
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("encode", n), &items, |b, items| {
            let mut out = Vec::with_capacity(buf.len());
            b.iter(|| {
                encode_dump(&mut out, RTM_NEWROUTE, items, |r, w| r.write(w));
                black_box(out.len())
            })
        });
        g.bench_with_input(BenchmarkId::new("decode", n), &buf, |b, buf| {
            b.iter(|| {
                let mut k = 0u32;
                for m in MsgIter::new(buf) {
                    let r = RouteV4::parse(&m.unwrap()).unwrap();
                    k = k.wrapping_add(black_box(&r).metric.unwrap_or(0));
                }
                k
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_links, bench_routes);
criterion_main!(benches);
