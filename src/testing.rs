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
