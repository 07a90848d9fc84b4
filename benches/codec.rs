//! Encode and decode throughput of whole dumps and batches: links, routes,
//! nftables rule batches and conntrack dumps, at 1, 64 and 4,096 messages. No root needed: the messages are built with netplumb's
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

/// nftables batches: N `add rule` messages (`ip saddr A tcp dport 22
/// counter accept`) built into a transaction, and each decoded back.
fn bench_nft(c: &mut Criterion) {
    use netplumb::nft::{Family, Field, Rule, RuleBuilder, Transaction, Value};
    let rules = |n: usize| -> Vec<Rule> {
        (0..n)
            .map(|i| {
                RuleBuilder::new(Family::Ip, "bench", "input")
                    .eq(Field::IP_SADDR, Value::ipv4(Ipv4Addr::new(192, 168, (i >> 8) as u8, i as u8)))
                    .eq(Field::TCP_DPORT, Value::port(22))
                    .counter()
                    .accept()
                    .build()
                    .unwrap()
            })
            .collect()
    };
    let mut g = c.benchmark_group("nft-rules");
    for n in SIZES {
        let items = rules(n);
        let mut tx = Transaction::new();
        for r in &items {
            tx.add_rule(r).unwrap();
        }
        let batch: Vec<u8> = tx.messages().flat_map(|m| m.iter().copied()).collect();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("encode", n), &items, |b, items| {
            b.iter(|| {
                let mut tx = Transaction::new();
                for r in items {
                    tx.add_rule(r).unwrap();
                }
                black_box(tx.byte_len())
            })
        });
        g.bench_with_input(BenchmarkId::new("decode", n), &batch, |b, batch| {
            b.iter(|| {
                let mut k = 0;
                for m in MsgIter::new(batch) {
                    let r = Rule::decode(&m.unwrap()).unwrap();
                    k += black_box(&r).exprs.len();
                }
                k
            })
        });
    }
    g.finish();
}

/// conntrack dumps: N established TCP flows as the kernel reports them
/// (`Flow::encode`, the reply layout), and decoded.
fn bench_conntrack(c: &mut Criterion) {
    use netplumb::conntrack::{Flow, TcpState, Tuple};
    let flows = |n: usize| -> Vec<Flow> {
        (0..n)
            .map(|i| {
                let src = std::net::SocketAddr::from((
                    Ipv4Addr::new(10, 1 + (i >> 16) as u8, (i >> 8) as u8, i as u8),
                    10000,
                ));
                let dst = std::net::SocketAddr::from((Ipv4Addr::new(10, 255, 0, 1), 80));
                let mut f = Flow::new(Tuple::tcp(src, dst))
                    .with_timeout(600)
                    .with_tcp_state(TcpState::ESTABLISHED)
                    .with_mark(1);
                f.id = Some(i as u32);
                f.use_count = Some(1);
                f
            })
            .collect()
    };
    const CT_NEW: u16 = 1 << 8; // NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_NEW
    let mut g = c.benchmark_group("conntrack");
    for n in SIZES {
        let items = flows(n);
        let mut buf = Vec::new();
        encode_dump(&mut buf, CT_NEW, &items, |f, w| {
            w.raw(&f.encode());
        });
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("encode", n), &items, |b, items| {
            let mut out = Vec::with_capacity(buf.len());
            b.iter(|| {
                encode_dump(&mut out, CT_NEW, items, |f, w| {
                    w.raw(&f.encode());
                });
                black_box(out.len())
            })
        });
        g.bench_with_input(BenchmarkId::new("decode", n), &buf, |b, buf| {
            b.iter(|| {
                let mut k = 0u32;
                for m in MsgIter::new(buf) {
                    let f = Flow::decode(m.unwrap().payload).unwrap();
                    k = k.wrapping_add(black_box(&f).mark.unwrap_or(0));
                }
                k
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_links, bench_routes, bench_nft, bench_conntrack);
criterion_main!(benches);
