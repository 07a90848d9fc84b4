//! conntrack: netplumb vs `conntrack -L`, `-D` with a filter, `-R`.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::process::Stdio;
use std::time::{Duration, Instant};

use netplumb::conntrack::{Conntrack, Filter, Flow, TcpState, Tuple};
use netplumb::testing::TestNs;

use crate::harness::*;

pub const FLOWS: usize = 100_000;
/// Deletes per batch, as `Conntrack::delete_many` sends them.
const DELETE_CHUNK: usize = 2048;

fn e(x: impl std::fmt::Display) -> String {
    x.to_string()
}

fn src(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 1 + (i >> 16) as u8, (i >> 8) as u8, i as u8)
}
const DST: Ipv4Addr = Ipv4Addr::new(10, 255, 0, 1);

/// Established TCP flows, marks 1 and 2 alternating.
fn flows() -> Vec<Flow> {
    (0..FLOWS)
        .map(|i| {
            Flow::new(Tuple::tcp(
                SocketAddr::V4(SocketAddrV4::new(src(i), 10000)),
                SocketAddr::V4(SocketAddrV4::new(DST, 80)),
            ))
            .with_timeout(600)
            .with_tcp_state(TcpState::ESTABLISHED)
            .with_mark(1 + (i % 2) as u32)
        })
        .collect()
}

/// The same flows in `conntrack -L -o save` format, for `conntrack -R`.
fn restore_text() -> String {
    let mut s = String::with_capacity(FLOWS * 110);
    for i in 0..FLOWS {
        s.push_str(&format!(
            "-A -t 600 -s {} -d {DST} -p tcp --sport 10000 --dport 80 --state ESTABLISHED -m {}\n",
            src(i),
            1 + i % 2
        ));
    }
    s
}

fn ct_in(ns: &TestNs) -> Conntrack {
    block(async { Conntrack::new_in(ns.netns()).await.expect("conntrack handle") })
}

fn count(ct: &Conntrack) -> Result<usize, String> {
    block(async { ct.count().await.map(|c| c.entries as usize).map_err(e) })
}

fn with_flows() -> Result<(TestNs, Conntrack), String> {
    let ns = fresh("ct");
    let ct = ct_in(&ns);
    let fl = flows();
    block(async { ct.add_many(&fl).await.map_err(e) })?;
    expect_count("flows set up", count(&ct)?, FLOWS)?;
    Ok((ns, ct))
}

/// Run `conntrack ARGS` inside `ns`, timed, stdout drained.
fn conntrack_timed(ns: &TestNs, args: &[&str]) -> Result<(Duration, Vec<u8>), String> {
    let mut cmd = in_ns_cmd(ns, "conntrack");
    cmd.args(args);
    timed(&mut cmd, None).map(|(d, out)| (d, out.stdout))
}

/// The argument that makes this benchmark binary a listing child: it lists
/// every flow of the namespace it was started in with netplumb, prints how
/// many have destination port 80, and exits. Its max RSS is netplumb's
/// peak memory for the listing, measured as `conntrack -L`'s is.
pub const CHILD_LIST: &str = "--child-ct-list";

/// Body of the listing child (see [`CHILD_LIST`]).
pub fn child_list() -> Result<usize, String> {
    block(async {
        let ct = Conntrack::new().await.map_err(e)?;
        let mut s = ct.list(&Filter::new());
        let mut n = 0usize;
        while let Some(f) = s.try_next().await.map_err(e)? {
            n += (f.orig.dst_port == Some(80)) as usize;
        }
        Ok(n)
    })
}

/// The argument that makes this benchmark binary a launcher: it runs the
/// program that follows (with its arguments) as its own child, stdout and
/// stderr passed through, waits, prints `maxrss KIB` on stderr and exits
/// with the child's status. The child is spawned from the launcher's small
/// image, so its max RSS is its own: a child forked straight from the
/// benchmark would be charged the benchmark's resident size, which the
/// kernel carries over as the high-water mark at exec.
pub const LAUNCH: &str = "--child-rss";

/// Body of the launcher (see [`LAUNCH`]); returns the exit code.
pub fn launch(argv: &[String]) -> i32 {
    let Some((prog, args)) = argv.split_first() else {
        eprintln!("{LAUNCH} PROGRAM [ARGS...]");
        return 2;
    };
    let child = match std::process::Command::new(prog).args(args).stdin(Stdio::null()).spawn() {
        Ok(c) => c,
        Err(err) => {
            eprintln!("spawn {prog}: {err}");
            return 2;
        }
    };
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it in.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pid is our child; status and ru are valid for writes.
    let r = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut ru) };
    if r < 0 || !libc::WIFEXITED(status) {
        eprintln!("wait for {prog}: {}", std::io::Error::last_os_error());
        return 2;
    }
    eprintln!("maxrss {}", ru.ru_maxrss);
    libc::WEXITSTATUS(status)
}

/// Peak memory (max RSS, KiB) of `program ARGS` run inside `ns` through
/// the launcher, with its stdout. Not timed.
fn peak_rss(ns: &TestNs, program: &str, args: &[&str]) -> Result<(Vec<u8>, i64), String> {
    let exe = std::env::current_exe().map_err(e)?;
    let mut cmd = in_ns_cmd(ns, exe.to_str().ok_or("non-utf-8 executable path")?);
    cmd.arg(LAUNCH).arg(program).args(args);
    let out = cmd.stdin(Stdio::null()).output().map_err(e)?;
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("{program} {args:?} failed: {}", err.trim()));
    }
    let kib = err
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("maxrss "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no maxrss from the launcher: {}", err.trim()))?;
    Ok((out.stdout, kib))
}

/// Max RSS (KiB) of this binary listing the flows of `ns` as a child.
fn netplumb_list_rss(ns: &TestNs) -> Result<i64, String> {
    let exe = std::env::current_exe().map_err(e)?;
    let (out, rss) = peak_rss(ns, exe.to_str().ok_or("non-utf-8 executable path")?, &[CHILD_LIST])?;
    let n: usize = String::from_utf8_lossy(&out).trim().parse().map_err(e)?;
    expect_count("flows listed by the child", n, FLOWS)?;
    Ok(rss)
}

fn ct_list() -> Case {
    Case {
        name: "ct-list",
        what: "list 100,000 flows (peak memory of the listing)",
        reference: "conntrack -L",
        target: Some(Target::Ratio(0.5)),
        mem_target_mib: Some(32.0),
        tools: vec![
            tool("netplumb", || {
                let (ns, ct) = with_flows()?;
                let (d, n) = block(async {
                    let t = Instant::now();
                    let mut s = ct.list(&Filter::new());
                    let mut n = 0usize;
                    while let Some(f) = s.try_next().await.map_err(e)? {
                        n += (f.orig.dst_port == Some(80)) as usize;
                    }
                    let d = t.elapsed();
                    Ok::<_, String>((d, n))
                })?;
                expect_count("flows listed", n, FLOWS)?;
                // Peak memory as for conntrack: the max RSS of a process
                // that does only the listing (run after the timed one).
                let rss = netplumb_list_rss(&ns)?;
                Ok(Measure { secs: d.as_secs_f64(), peak_mib: Some(rss as f64 / 1024.0) })
            }),
            tool("kernel floor", || {
                // The same dump read by netplumb's connection without
                // decoding the flows: what the kernel and the socket cost.
                let (ns, _ct) = with_flows()?;
                let (d, n) = block(async {
                    let conn = netplumb::conn::Connection::new_in(
                        netplumb::wire::names::Protocol::Netfilter,
                        ns.netns(),
                    )
                    .await
                    .map_err(e)?;
                    // IPCTNL_MSG_CT_GET (subsystem 1, message 1), AF_UNSPEC.
                    let req = netplumb::conn::Request::new((1 << 8) | 1, 0, |w| {
                        w.raw(&[0, 0, 0, 0]);
                    });
                    let t = Instant::now();
                    let mut s = conn.dump(&req, |m| Ok(Some(m.payload.len())));
                    let mut n = 0usize;
                    while let Some(len) = s.try_next().await.map_err(e)? {
                        n += (len > 0) as usize;
                    }
                    Ok::<_, String>((t.elapsed(), n))
                })?;
                expect_count("messages", n, FLOWS)?;
                Ok(Measure::time(d))
            }),
            tool("conntrack -L", || {
                let (ns, _ct) = with_flows()?;
                let (d, out) = conntrack_timed(&ns, &["-L"])?;
                let n = out.iter().filter(|&&b| b == b'\n').count();
                expect_count("flows printed", n, FLOWS)?;
                // Its peak memory from a second, untimed run (see `LAUNCH`).
                let (out, rss) = peak_rss(&ns, "conntrack", &["-L"])?;
                let n = out.iter().filter(|&&b| b == b'\n').count();
                expect_count("flows printed (memory run)", n, FLOWS)?;
                Ok(Measure { secs: d.as_secs_f64(), peak_mib: Some(rss as f64 / 1024.0) })
            }),
        ],
    }
}

/// The key of an encoded flow ([`Flow::encode`]): its `nfgenmsg` header and
/// the `CTA_TUPLE_ORIG`, `CTA_ZONE` and `CTA_ID` attributes, in that order,
/// which is what a delete by key carries.
fn flow_key(encoded: &[u8]) -> Vec<u8> {
    const CTA_TUPLE_ORIG: u16 = 1;
    const CTA_ID: u16 = 12;
    const CTA_ZONE: u16 = 18;
    let mut out = encoded[..4].to_vec();
    let mut pos = 4;
    while pos + 4 <= encoded.len() {
        let len = u16::from_ne_bytes([encoded[pos], encoded[pos + 1]]) as usize;
        let ty = u16::from_ne_bytes([encoded[pos + 2], encoded[pos + 3]]) & 0x3fff;
        let next = (pos + len + 3) & !3;
        if [CTA_TUPLE_ORIG, CTA_ZONE, CTA_ID].contains(&ty) {
            out.extend_from_slice(&encoded[pos..next.min(encoded.len())]);
        }
        if len < 4 {
            break;
        }
        pos = next;
    }
    out
}

fn ct_delete() -> Case {
    Case {
        name: "ct-delete",
        what: "delete 50,000 of 100,000 flows by a filter (mark 1)",
        reference: "conntrack -D",
        target: Some(Target::Ratio(0.5)),
        mem_target_mib: None,
        tools: vec![
            tool("netplumb", || {
                let (_ns, ct) = with_flows()?;
                let (d, n) = block(async {
                    let t = Instant::now();
                    let n = ct.delete_many(&Filter::new().mark(1, u32::MAX)).await.map_err(e)?;
                    Ok::<_, String>((t.elapsed(), n))
                })?;
                expect_count("deleted", n as usize, FLOWS / 2)?;
                expect_count("flows left", count(&ct)?, FLOWS / 2)?;
                Ok(Measure::time(d))
            }),
            tool("kernel floor", || {
                // netplumb's requests, encoded before the clock starts: the
                // dump filtered by mark in the kernel (CTA_MARK,
                // CTA_MARK_MASK), read without decoding, and the deletes of
                // the mark-1 flows by key (original tuple, zone, id: what
                // `delete_many` sends), in chunks of 2,048 (`delete_many`'s),
                // each sent by a second task once the dump has listed its
                // flows, as `delete_many` overlaps them. The keys come from
                // a listing before the clock; the timed dump lists the same
                // flows in the same order (the table does not change in
                // between), which the count below checks: a delete sent
                // before its flow was listed would make the dump shorter.
                let (ns, ct) = with_flows()?;
                let marked = block(async { ct.list(&Filter::new().mark(1, u32::MAX)).try_collect().await })
                    .map_err(e)?;
                let mut chunks = Vec::new();
                for part in marked.chunks(DELETE_CHUNK) {
                    let mut batch = netplumb::conn::Batch::new();
                    for f in part {
                        let key = flow_key(&f.encode());
                        // IPCTNL_MSG_CT_DELETE (subsystem 1, message 2).
                        batch.push((1 << 8) | 2, 0, |w| {
                            w.raw(&key);
                        });
                    }
                    chunks.push(batch);
                }
                // IPCTNL_MSG_CT_GET, AF_UNSPEC, CTA_MARK 1 / CTA_MARK_MASK ~0.
                let req = netplumb::conn::Request::new((1 << 8) | 1, 0, |w| {
                    w.raw(&[0, 0, 0, 0]);
                    w.u32_be(8, 1).u32_be(21, u32::MAX);
                });
                let d = block(async {
                    let conn = floor_conn(&ns, netplumb::wire::names::Protocol::Netfilter).await?;
                    let sender = conn.clone();
                    let (tx, mut rx) = tokio::sync::mpsc::channel::<netplumb::conn::Batch>(2);
                    let t = Instant::now();
                    let worker = tokio::spawn(async move {
                        while let Some(b) = rx.recv().await {
                            sender.bulk(&b).await.map_err(e)?;
                        }
                        Ok::<_, String>(())
                    });
                    let mut s = conn.dump(&req, |m| Ok(Some(m.payload.len())));
                    let (mut listed, mut chunks) = (0usize, chunks.into_iter());
                    while let Some(len) = s.try_next().await.map_err(e)? {
                        listed += (len > 0) as usize;
                        if listed % DELETE_CHUNK == 0 {
                            if let Some(b) = chunks.next() {
                                tx.send(b).await.map_err(e)?;
                            }
                        }
                    }
                    for b in chunks {
                        tx.send(b).await.map_err(e)?;
                    }
                    drop(tx);
                    worker.await.map_err(e)??;
                    expect_count("flows dumped (mark 1)", listed, FLOWS / 2)?;
                    Ok::<_, String>(t.elapsed())
                })?;
                expect_count("flows left", count(&ct)?, FLOWS / 2)?;
                Ok(Measure::time(d))
            }),
            tool("conntrack -D", || {
                let (ns, ct) = with_flows()?;
                let (d, _) = conntrack_timed(&ns, &["-D", "-m", "1"])?;
                expect_count("flows left", count(&ct)?, FLOWS / 2)?;
                Ok(Measure::time(d))
            }),
        ],
    }
}

fn ct_insert() -> Case {
    Case {
        name: "ct-insert",
        what: "insert 100,000 flows",
        reference: "conntrack -R",
        target: Some(Target::Ratio(0.5)),
        mem_target_mib: None,
        tools: vec![
            tool("netplumb", || {
                let ns = fresh("ctins");
                let ct = ct_in(&ns);
                let d = block(async {
                    let t = Instant::now();
                    let fl = flows();
                    ct.add_many(&fl).await.map_err(e)?;
                    Ok::<_, String>(t.elapsed())
                })?;
                expect_count("flows", count(&ct)?, FLOWS)?;
                Ok(Measure::time(d))
            }),
            tool("kernel floor", || {
                // The same flows as IPCTNL_MSG_CT_NEW (create, exclusive),
                // encoded before the clock starts (Flow::encode: both
                // tuples, timeout, state, mark).
                let ns = fresh("ctins");
                let ct = ct_in(&ns);
                let mut batch = netplumb::conn::Batch::new();
                for f in flows() {
                    batch.push(1 << 8, 0x400 | 0x200, |w| {
                        w.raw(&f.encode());
                    });
                }
                let d = floor_bulk(&ns, netplumb::wire::names::Protocol::Netfilter, batch)?;
                expect_count("flows", count(&ct)?, FLOWS)?;
                Ok(Measure::time(d))
            }),
            tool("conntrack -R", || {
                let ns = fresh("ctins");
                let ct = ct_in(&ns);
                let f = Scratch::new("ct-restore", &restore_text());
                let (d, _) = conntrack_timed(&ns, &["-R", f.path()])?;
                expect_count("flows", count(&ct)?, FLOWS)?;
                Ok(Measure::time(d))
            }),
        ],
    }
}

pub fn cases() -> Vec<Case> {
    vec![ct_list(), ct_delete(), ct_insert()]
}
