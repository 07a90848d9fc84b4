//! Test support (feature `test-support`): a fresh, named network namespace
//! per test, with `lo` up, removed when the guard drops — also when the
//! test panics.
//!
//! ```no_run
//! # async fn t() {
//! let ns = netplumb::testing::TestNs::new("links").await;
//! let out = ns.ip(&["-j", "link", "show"]); // runs `ip -n NAME -j link show`
//! assert!(out.contains("\"lo\""));
//! # }
//! ```
//!
//! Privileged tests need root. Without it [`TestNs::new`] panics with one
//! line saying so: such a test fails, it never passes vacuously.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::conn::{Connection, Request};
use crate::names::Protocol;
use crate::netns::Netns;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Prefix of every namespace the harness creates.
pub const PREFIX: &str = "npt";

/// Panic with one clear line unless running as root.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        panic!("netplumb: this privileged test needs root (CAP_NET_ADMIN in a fresh network namespace); run the tests as root");
    }
}

/// Remove namespaces left behind by test processes that no longer exist
/// (a run killed with SIGKILL cannot clean up after itself).
pub fn sweep_stale() {
    let Ok(names) = Netns::list_named() else { return };
    for n in names {
        let Some(rest) = n.strip_prefix(&format!("{PREFIX}-")) else { continue };
        let Some(pid) = rest.split('-').nth(1).and_then(|p| p.parse::<u32>().ok()) else { continue };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Netns::remove_named(&n);
        }
    }
}

/// A fresh named network namespace for one test.
#[derive(Debug)]
pub struct TestNs {
    name: String,
    netns: Netns,
}

impl TestNs {
    /// Create `npt-TAG-PID-N` with `lo` up. `tag` (at most 8 characters
    /// are used) makes leftovers recognisable.
    ///
    /// # Panics
    /// Without root, or if the namespace cannot be created.
    ///
    /// # Cancel safety
    /// Not cancel safe: a namespace created before cancellation is removed only when the guard is returned and dropped; `sweep_stale` removes it after the process exits.
    pub async fn new(tag: &str) -> TestNs {
        require_root();
        sweep_stale();
        let tag: String = tag.chars().filter(|c| c.is_ascii_alphanumeric()).take(8).collect();
        let name =
            format!("{PREFIX}-{tag}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let netns = Netns::create_named(&name)
            .await
            .unwrap_or_else(|e| panic!("netplumb test harness: cannot create namespace {name}: {e}"));
        let ns = TestNs { name, netns };
        ns.set_lo_up().await;
        ns
    }

    async fn set_lo_up(&self) {
        let conn = self.route().await;
        // RTM_NEWLINK on ifindex 1 (lo in a new namespace) with IFF_UP set.
        let req = Request::new(16 /* RTM_NEWLINK */, 0, |w| {
            let mut ifi = [0u8; 16];
            ifi[4..8].copy_from_slice(&1i32.to_ne_bytes());
            ifi[8..12].copy_from_slice(&(libc::IFF_UP as u32).to_ne_bytes());
            ifi[12..16].copy_from_slice(&(libc::IFF_UP as u32).to_ne_bytes());
            w.raw(&ifi);
        });
        conn.ack(&req)
            .await
            .unwrap_or_else(|e| panic!("netplumb test harness: set lo up in {}: {e}", self.name));
    }

    /// The namespace's name (as `ip netns list` shows it).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace.
    pub fn netns(&self) -> &Netns {
        &self.netns
    }

    /// A route (rtnetlink) connection inside the namespace.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn route(&self) -> Connection {
        Connection::new_in(Protocol::Route, &self.netns).await.expect("route connection in test namespace")
    }

    /// A netfilter connection inside the namespace.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn netfilter(&self) -> Connection {
        Connection::new_in(Protocol::Netfilter, &self.netns)
            .await
            .expect("netfilter connection in test namespace")
    }

    /// Run `ip -n NAME ARGS...`; panics with its stderr if it fails.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    /// Run `ip netns exec NAME PROGRAM ARGS...`; panics with its stderr if
    /// it fails.
    pub fn exec(&self, program: &str, args: &[&str]) -> String {
        let mut full = vec!["netns", "exec", self.name.as_str(), program];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    /// Like [`TestNs::exec`] but returns the exit status and both outputs
    /// instead of panicking.
    pub fn try_exec(&self, program: &str, args: &[&str]) -> (bool, String, String) {
        let out = Command::new("ip")
            .args(["netns", "exec", self.name.as_str(), program])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run ip netns exec {program}: {e}"));
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for TestNs {
    fn drop(&mut self) {
        if let Err(e) = Netns::remove_named(&self.name) {
            eprintln!("netplumb test harness: could not remove namespace {}: {e}", self.name);
        }
    }
}

/// Run a command; panic with its stderr if it fails. Returns stdout.
pub fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (is it installed? .ci/run installs it): {e}"));
    stdout_or_panic(program, args, out)
}

fn stdout_or_panic(program: &str, args: &[&str], out: std::process::Output) -> String {
    if !out.status.success() {
        panic!(
            "{program} {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run a command with `input` on stdin; panic with its stderr if it fails.
pub fn run_with_input(program: &str, args: &[&str], input: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    stdout_or_panic(program, args, out)
}

// ---------------------------------------------------------------------
// A fake kernel for unit tests without root.
// ---------------------------------------------------------------------

use std::os::unix::net::UnixDatagram;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::conn::{Options, OwnedMsg};
use crate::error::{Errno, Result};
use crate::wire::{ErrorMsg, Header, Msg, MsgIter, NLMSG_DONE, NLMSG_ERROR, NLM_F_DUMP, NLM_F_MULTIPART};

/// One message the fake kernel sends back; the sequence number of the
/// request it answers and port id 0 (the kernel's) are filled in for you.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    ty: u16,
    flags: u16,
    payload: Vec<u8>,
    error: Option<(i32, Option<String>)>,
}

impl Reply {
    /// A data message of type `ty` (`RTM_NEWLINK`, ...) with `payload`
    /// (fixed header first, then attributes). In the answer to a dump
    /// request it is marked `NLM_F_MULTI` automatically.
    pub fn message(ty: u16, payload: impl Into<Vec<u8>>) -> Reply {
        Reply { ty, flags: 0, payload: payload.into(), error: None }
    }

    /// The acknowledgement the kernel sends when a request succeeded
    /// (`NLMSG_ERROR` with errno 0).
    pub fn ack() -> Reply {
        Reply { ty: NLMSG_ERROR, flags: 0, payload: Vec::new(), error: Some((0, None)) }
    }

    /// The kernel refusing the request with `errno` and, as extended acks
    /// carry it, an optional `message` ("Attribute failed policy
    /// validation", ...).
    pub fn error(errno: Errno, message: Option<&str>) -> Reply {
        Reply {
            ty: NLMSG_ERROR,
            flags: 0,
            payload: Vec::new(),
            error: Some((-errno.0, message.map(str::to_string))),
        }
    }

    /// The end of a dump (`NLMSG_DONE`).
    pub fn done() -> Reply {
        Reply { ty: NLMSG_DONE, flags: NLM_F_MULTIPART, payload: 0i32.to_ne_bytes().to_vec(), error: None }
    }

    /// Extra header flags, e.g. `NLM_F_DUMP_INTR` on a [`Reply::done`] to
    /// say the dump was interrupted.
    pub fn flags(mut self, flags: u16) -> Reply {
        self.flags |= flags;
        self
    }

    /// A whole dump answer: every payload as a message of type `ty`, then
    /// [`Reply::done`].
    pub fn dump<P: Into<Vec<u8>>>(ty: u16, payloads: impl IntoIterator<Item = P>) -> Vec<Reply> {
        let mut v: Vec<Reply> = payloads.into_iter().map(|p| Reply::message(ty, p)).collect();
        v.push(Reply::done());
        v
    }

    fn encode(&self, request: &Header, dump: bool, out: &mut Vec<u8>) {
        let (payload, mut flags) = match &self.error {
            Some((error, message)) => {
                let e = ErrorMsg {
                    error: *error,
                    request: *request,
                    message: message.clone(),
                    ..Default::default()
                };
                e.encode()
            }
            None => (self.payload.clone(), 0),
        };
        flags |= self.flags;
        if dump && self.ty != NLMSG_ERROR {
            flags |= NLM_F_MULTIPART;
        }
        let len = crate::wire::NLMSG_HDRLEN + payload.len();
        out.extend_from_slice(
            &Header { len: len as u32, ty: self.ty, flags, seq: request.seq, port: 0 }.to_bytes(),
        );
        out.extend_from_slice(&payload);
        while out.len() % 4 != 0 {
            out.push(0);
        }
    }
}

type Handler = dyn FnMut(&Msg<'_>) -> Vec<Reply> + Send;

/// A fake kernel behind a real [`Connection`], for unit tests of code built
/// on netplumb that need no root and no namespace — as mdlayher/netlink's
/// `nltest` does for Go.
///
/// The connection is netplumb's own (the same request, ack, dump, batch and
/// reply-authentication code); only its sockets are replaced by a script:
/// every message netplumb sends is recorded (see [`FakeKernel::requests`])
/// and handed to your handler, whose [`Reply`]s go back as the kernel's.
/// Wrap the connection in the handle your code takes
/// ([`crate::Rtnl::from_connection`], [`crate::nft::Nft::from_connection`],
/// [`crate::conntrack::Conntrack::from_connection`]).
///
/// Event subscriptions are not scripted (they open their own sockets).
///
/// ```
/// use netplumb::testing::{FakeKernel, Reply};
/// use netplumb::wire::names::Protocol;
/// use netplumb::{Errno, Rtnl};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// const RTM_NEWLINK: u16 = 16;
/// // A kernel that knows no link called "eth9".
/// let kernel = FakeKernel::new(Protocol::Route, |req| match req.header.ty {
///     RTM_NEWLINK => vec![Reply::error(Errno::ENODEV, Some("Device not found"))],
///     _ => vec![Reply::ack()],
/// })
/// .unwrap();
/// let rt = Rtnl::from_connection(kernel.connection()).unwrap();
/// let err = rt.links().set("eth9", &netplumb::link::LinkChange::new().up()).await.unwrap_err();
/// assert!(err.is_not_found(), "{err}");
/// // What netplumb sent: one RTM_NEWLINK naming eth9.
/// let sent = kernel.requests();
/// assert_eq!(sent.len(), 1);
/// assert_eq!(sent[0].header.ty, RTM_NEWLINK);
/// # }
/// ```
pub struct FakeKernel {
    conn: Connection,
    requests: Arc<Mutex<Vec<OwnedMsg>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for FakeKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeKernel").field("conn", &self.conn).finish_non_exhaustive()
    }
}

impl FakeKernel {
    /// A fake kernel speaking `protocol`, answering each message netplumb
    /// sends with what `handler` returns for it (an empty `Vec`: no answer,
    /// as the kernel does for a message without `NLM_F_ACK` that succeeded).
    /// Must be called within a tokio runtime.
    ///
    /// # Errors
    /// [`crate::Error::NoRuntime`] outside a tokio runtime;
    /// [`crate::Error::Io`] if the socket pairs cannot be created.
    pub fn new(
        protocol: Protocol,
        handler: impl FnMut(&Msg<'_>) -> Vec<Reply> + Send + 'static,
    ) -> Result<FakeKernel> {
        Self::with_options(protocol, Options::default(), handler)
    }

    /// [`FakeKernel::new`] with connection options (timeouts, dump policy).
    ///
    /// # Errors
    /// As [`FakeKernel::new`].
    pub fn with_options(
        protocol: Protocol,
        opts: Options,
        handler: impl FnMut(&Msg<'_>) -> Vec<Reply> + Send + 'static,
    ) -> Result<FakeKernel> {
        let (conn, req_peer, dump_peer) = Connection::scripted(protocol, opts)?;
        let handler: Arc<Mutex<Box<Handler>>> = Arc::new(Mutex::new(Box::new(handler)));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for peer in [req_peer, dump_peer] {
            let (handler, requests, stop) = (handler.clone(), requests.clone(), stop.clone());
            let t = std::thread::Builder::new()
                .name("netplumb-fake-kernel".into())
                .spawn(move || serve(peer, handler, requests, stop))
                .map_err(|e| crate::Error::io("spawn fake kernel thread", e))?;
            threads.push(t);
        }
        Ok(FakeKernel { conn, requests, stop, threads })
    }

    /// The connection whose kernel this is (a cheap clone).
    pub fn connection(&self) -> Connection {
        self.conn.clone()
    }

    /// Every message netplumb has sent so far, in order, with the sequence
    /// numbers and flags it set.
    pub fn requests(&self) -> Vec<OwnedMsg> {
        self.requests.lock().expect("requests lock").clone()
    }
}

impl Drop for FakeKernel {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn serve(
    peer: UnixDatagram,
    handler: Arc<Mutex<Box<Handler>>>,
    requests: Arc<Mutex<Vec<OwnedMsg>>>,
    stop: Arc<AtomicBool>,
) {
    // Bounded waits so the thread notices the fake being dropped.
    let _ = peer.set_read_timeout(Some(Duration::from_millis(20)));
    let mut buf = vec![0u8; 1 << 20];
    while !stop.load(Ordering::Relaxed) {
        let n = match peer.recv(&mut buf) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                continue
            }
            Err(_) => return,
        };
        let mut out = Vec::new();
        for m in MsgIter::new(&buf[..n]) {
            let Ok(m) = m else { break };
            requests.lock().expect("requests lock").push(OwnedMsg::from(m));
            let replies = (handler.lock().expect("handler lock"))(&m);
            let dump = m.header.flags & NLM_F_DUMP == NLM_F_DUMP;
            for r in &replies {
                r.encode(&m.header, dump, &mut out);
            }
        }
        // One datagram per 32 KiB of replies, split between messages.
        let mut rest = &out[..];
        while !rest.is_empty() {
            let mut cut = 0;
            for m in MsgIter::new(rest) {
                let Ok(m) = m else { break };
                let next = cut + crate::wire::align(m.header.len as usize);
                if cut > 0 && next > 32 << 10 {
                    break;
                }
                cut = next.min(rest.len());
            }
            let mut frame = 0u32.to_ne_bytes().to_vec();
            frame.extend_from_slice(&rest[..cut]);
            if peer.send(&frame).is_err() {
                return;
            }
            rest = &rest[cut..];
        }
    }
}
