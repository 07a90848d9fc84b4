//! conntrack: netplumb vs `conntrack -L`, `-D` with a filter, `-R`.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::process::Stdio;
use std::time::{Duration, Instant};

use netplumb::conntrack::{Conntrack, Filter, Flow, TcpState, Tuple};
use netplumb::testing::TestNs;

use crate::harness::*;

pub const FLOWS: usize = 100_000;

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
    block(async { Conntrack::open_in(ns.netns()).await.expect("conntrack handle") })
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

/// Run `conntrack ARGS` inside `ns`, timed, stdout drained; its own peak
/// RSS from wait4's rusage. Returns (time, stdout, max RSS in KiB).
fn conntrack_rusage(ns: &TestNs, args: &[&str]) -> Result<(Duration, Vec<u8>, i64), String> {
    let mut cmd = in_ns_cmd(ns, "conntrack");
    cmd.args(args);
    rusage_run(cmd)
}

/// Run `cmd` to completion, timed, stdout drained; the child's own peak
/// RSS from wait4's rusage. Returns (time, stdout, max RSS in KiB).
fn rusage_run(mut cmd: std::process::Command) -> Result<(Duration, Vec<u8>, i64), String> {
    use std::io::Read;
    let t = Instant::now();
    let mut child =
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(e)?;
    let mut out = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        out.read_to_end(&mut v).map(|_| v)
    });
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it in.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our child; status and ru are valid for writes.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let d = t.elapsed();
    let stdout = reader.join().expect("reader").map_err(e)?;
    if r != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        let mut err = String::new();
        let _ = child.stderr.take().map(|mut s| s.read_to_string(&mut err));
        return Err(format!("{cmd:?} failed: {}", err.trim()));
    }
    Ok((d, stdout, ru.ru_maxrss))
}

/// The argument that makes this benchmark binary a listing child: it lists
/// every flow of the namespace it was started in with netplumb, prints how
/// many have destination port 80, and exits. Its max RSS is netplumb's
/// peak memory for the listing, measured as `conntrack -L`'s is.
pub const CHILD_LIST: &str = "--child-ct-list";

/// Body of the listing child (see [`CHILD_LIST`]).
pub fn child_list() -> Result<usize, String> {
    block(async {
        let ct = Conntrack::open().await.map_err(e)?;
        let mut s = ct.list(&Filter::new());
        let mut n = 0usize;
        while let Some(f) = s.try_next().await.map_err(e)? {
            n += (f.orig.dst_port == Some(80)) as usize;
        }
        Ok(n)
    })
}

/// Max RSS (KiB) of this binary run as a listing child inside `ns`.
fn netplumb_list_rss(ns: &TestNs) -> Result<i64, String> {
    let exe = std::env::current_exe().map_err(e)?;
    let mut cmd = in_ns_cmd(ns, exe.to_str().ok_or("non-utf-8 executable path")?);
    cmd.arg(CHILD_LIST);
    let (_, out, rss) = rusage_run(cmd)?;
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
                let (d, out, maxrss_kib) = conntrack_rusage(&ns, &["-L"])?;
                let n = out.iter().filter(|&&b| b == b'\n').count();
                expect_count("flows printed", n, FLOWS)?;
                Ok(Measure { secs: d.as_secs_f64(), peak_mib: Some(maxrss_kib as f64 / 1024.0) })
            }),
        ],
    }
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
            tool("conntrack -D", || {
                let (ns, ct) = with_flows()?;
                let (d, _, _) = conntrack_rusage(&ns, &["-D", "-m", "1"])?;
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
            tool("conntrack -R", || {
                let ns = fresh("ctins");
                let ct = ct_in(&ns);
                let f = Scratch::new("ct-restore", &restore_text());
                let (d, _, _) = conntrack_rusage(&ns, &["-R", f.path()])?;
                expect_count("flows", count(&ct)?, FLOWS)?;
                Ok(Measure::time(d))
            }),
        ],
    }
}

pub fn cases() -> Vec<Case> {
    vec![ct_list(), ct_delete(), ct_insert()]
}
