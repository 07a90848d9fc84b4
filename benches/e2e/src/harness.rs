//! Fresh namespaces, timing, medians.

use std::future::Future;
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use netplumb::testing::TestNs;

/// One measurement of one tool on one case.
#[derive(Clone, Copy, Debug, Default)]
pub struct Measure {
    /// Wall time of the work, setup and checks excluded.
    pub secs: f64,
    /// Peak memory of the work in MiB, where the case measures it.
    pub peak_mib: Option<f64>,
}

impl Measure {
    pub fn time(d: Duration) -> Measure {
        Measure { secs: d.as_secs_f64(), peak_mib: None }
    }
}

pub type Run = Box<dyn Fn() -> Result<Measure, String>>;

/// One way of doing a case's work.
pub struct Tool {
    pub name: &'static str,
    pub run: Run,
}

/// What a case must achieve.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// netplumb's median at most this fraction of the reference's.
    Ratio(f64),
    /// netplumb's median below this many seconds.
    Below(f64),
}

/// The same work done by several tools.
pub struct Case {
    pub name: &'static str,
    pub what: &'static str,
    /// The tool ratios are taken against (the reference CLI).
    pub reference: &'static str,
    pub target: Option<Target>,
    /// A memory target for netplumb in MiB, where the case measures memory.
    pub mem_target_mib: Option<f64>,
    pub tools: Vec<Tool>,
}

pub fn tool(name: &'static str, run: impl Fn() -> Result<Measure, String> + 'static) -> Tool {
    Tool { name, run: Box::new(run) }
}

thread_local! {
    /// One current-thread runtime per thread, so handles opened in one
    /// `block` call keep working in the next.
    static RT: tokio::runtime::Runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
}

/// Drive a future to completion on this thread's runtime (on the calling
/// thread, so in the calling thread's namespace). Not reentrant.
pub fn block<F: Future>(f: F) -> F::Output {
    RT.with(|rt| rt.block_on(f))
}

/// A fresh named namespace with `lo` up, removed on drop (also when a
/// measurement fails half-way).
pub fn fresh(tag: &str) -> TestNs {
    block(TestNs::new(tag))
}

/// Run `f` on a thread inside `ns` (sockets it opens live there).
pub fn inside<R: Send + 'static>(ns: &TestNs, f: impl FnOnce() -> R + Send + 'static) -> R {
    ns.netns().run_blocking(f).expect("enter the benchmark namespace")
}

/// Run async work inside `ns` on its own current-thread runtime.
pub fn inside_async<R, Fut>(ns: &TestNs, make: impl FnOnce() -> Fut + Send + 'static) -> R
where
    R: Send + 'static,
    Fut: Future<Output = R>,
{
    inside(ns, move || block(make()))
}

/// Run a program to completion, timing it from spawn to exit with its
/// output read. Fails with its stderr.
pub fn timed(cmd: &mut Command, stdin: Option<&[u8]>) -> Result<(Duration, Output), String> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    } else {
        cmd.stdin(Stdio::null());
    }
    let t = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("spawn {cmd:?}: {e}"))?;
    if let Some(input) = stdin {
        let mut s = child.stdin.take().expect("stdin");
        s.write_all(input).map_err(|e| format!("write stdin: {e}"))?;
    }
    let out = child.wait_with_output().map_err(|e| format!("wait {cmd:?}: {e}"))?;
    let d = t.elapsed();
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok((d, out))
}

/// A scratch file for batch input, removed on drop.
pub struct Scratch(pub std::path::PathBuf);

impl Scratch {
    pub fn new(tag: &str, contents: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("netplumb-e2e-{}-{tag}", std::process::id()));
        std::fs::write(&p, contents).expect("write scratch file");
        Scratch(p)
    }
    pub fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `ip -n NS -batch FILE`, timed.
pub fn ip_batch(ns: &TestNs, lines: &str) -> Result<Duration, String> {
    let f = Scratch::new("ip-batch", lines);
    let (d, _) = timed(Command::new("ip").args(["-n", ns.name(), "-batch", f.path()]), None)?;
    Ok(d)
}

/// Check a count after the work, so no case measures a no-op.
pub fn expect_count(what: &str, got: usize, want: usize) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: expected {want}, found {got}"))
    }
}

pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `program` to be run inside `ns`: the child enters the namespace itself
/// (`setns` between fork and exec), as `ip netns exec` would, without the
/// extra process and mount setup that `ip netns exec` adds to the time.
pub fn in_ns_cmd(ns: &TestNs, program: &str) -> Command {
    use std::os::fd::{AsFd, AsRawFd};
    use std::os::unix::process::CommandExt;
    let fd = ns.netns().as_fd().as_raw_fd();
    let mut c = Command::new(program);
    // SAFETY: setns is async-signal-safe; fd stays open in the parent
    // (owned by `ns`) until the child has exec'd, since the caller waits.
    unsafe {
        c.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    c
}

/// A netplumb connection for a kernel-floor row, opened in `ns`.
pub async fn floor_conn(
    ns: &TestNs,
    protocol: netplumb::wire::names::Protocol,
) -> Result<netplumb::conn::Connection, String> {
    netplumb::conn::Connection::new_in(protocol, ns.netns()).await.map_err(|x| x.to_string())
}

/// A netplumb connection for a kernel-floor row, opened in the calling
/// thread's namespace (on a thread inside the case's namespace, where the
/// rtnetlink cases run netplumb and the peer crates).
pub async fn floor_conn_here(
    protocol: netplumb::wire::names::Protocol,
) -> Result<netplumb::conn::Connection, String> {
    netplumb::conn::Connection::new(protocol).await.map_err(|x| x.to_string())
}

/// Kernel floor of bulk work: `batch`, prepared before the clock starts,
/// sent with netplumb's connection (acks only on error), timed; on the
/// harness's thread, as the conntrack cases run netplumb.
pub fn floor_bulk(
    ns: &TestNs,
    protocol: netplumb::wire::names::Protocol,
    batch: netplumb::conn::Batch,
) -> Result<Duration, String> {
    block(async {
        let conn = floor_conn(ns, protocol).await?;
        floor_bulk_on(&conn, &batch).await
    })
}

/// [`floor_bulk`] as the rtnetlink cases run netplumb and the peer
/// crates: on a fresh thread inside `ns`, with its own runtime.
pub fn floor_bulk_inside(
    ns: &TestNs,
    protocol: netplumb::wire::names::Protocol,
    batch: netplumb::conn::Batch,
) -> Result<Duration, String> {
    inside_async(ns, move || async move {
        let conn = floor_conn_here(protocol).await?;
        floor_bulk_on(&conn, &batch).await
    })
}

/// Send `batch` on `conn`, timed.
async fn floor_bulk_on(
    conn: &netplumb::conn::Connection,
    batch: &netplumb::conn::Batch,
) -> Result<Duration, String> {
    let t = Instant::now();
    conn.bulk(batch).await.map_err(|x| x.to_string())?;
    Ok(t.elapsed())
}

/// Kernel floor of a dump: `req` prepared before the clock starts, the
/// replies read with netplumb's connection but not decoded. Returns the
/// time and the number of messages. Runs as the rtnetlink cases run
/// netplumb and the peer crates: on a fresh thread inside `ns`, with its
/// own runtime (the floor on a warm thread would not be the same work).
pub fn floor_dump_inside(
    ns: &TestNs,
    protocol: netplumb::wire::names::Protocol,
    req: netplumb::conn::Request,
) -> Result<(Duration, usize), String> {
    inside_async(ns, move || async move {
        let conn = floor_conn_here(protocol).await?;
        let t = Instant::now();
        let n = floor_dump_on(&conn, &req).await?;
        Ok((t.elapsed(), n))
    })
}

/// Read the dump of `req` on `conn` without decoding; count its messages.
pub async fn floor_dump_on(
    conn: &netplumb::conn::Connection,
    req: &netplumb::conn::Request,
) -> Result<usize, String> {
    let mut s = conn.dump(req, |m| Ok(Some(m.payload.len())));
    let mut n = 0usize;
    while let Some(len) = s.try_next().await.map_err(|x| x.to_string())? {
        n += (len > 0) as usize;
    }
    Ok(n)
}
