//! Network namespaces: create, pin, open, remove; run code inside one.
//!
//! Entering a namespace (`setns`) changes the calling *thread*. netplumb
//! never does it on your threads: every operation that needs to be inside a
//! namespace runs on a short-lived thread of its own, which enters the
//! namespace, does the work and exits. Nothing needs restoring, and an async
//! runtime's threads stay where they are.
//!
//! Named namespaces are pinned exactly as `ip netns add` pins them: a bind
//! mount of the namespace file on `/run/netns/NAME`, so `ip netns list`
//! shows them and `ip netns exec NAME ...` works.

use std::fs;
use std::future::Future;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use tokio::sync::oneshot;

use crate::error::{Error, Result};

/// Where `ip netns` keeps its bind mounts.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// An open network namespace. Cheap to clone (the file descriptor is
/// shared); the namespace lives at least as long as any handle to it.
#[derive(Clone)]
pub struct Netns {
    fd: Arc<OwnedFd>,
    name: Option<String>,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for Netns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Netns");
        if let Some(n) = &self.name {
            d.field("name", n);
        } else if let Some(p) = &self.path {
            d.field("path", p);
        }
        d.field("inode", &self.inode().unwrap_or(0)).finish()
    }
}

/// Check a namespace name the way `ip netns add` would accept it.
pub fn validate_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid("netns name", "empty"));
    }
    if name.len() > 255 {
        return Err(Error::invalid("netns name", format!("{} bytes, at most 255", name.len())));
    }
    if name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(Error::invalid(
            "netns name",
            format!("{name:?} must not be '.', '..' or contain '/' or NUL"),
        ));
    }
    Ok(())
}

fn io_err(op: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let op = op.into();
    move |e| Error::io(op, e)
}

fn nix_err(op: impl Into<String>) -> impl FnOnce(nix::Error) -> Error {
    let op = op.into();
    move |e| Error::io(op, std::io::Error::from_raw_os_error(e as i32))
}

/// Make `/run/netns` exist and be a shared mount point, as `ip netns add`
/// does, so namespace mounts propagate to other mount namespaces.
fn prepare_run_dir() -> Result<()> {
    fs::create_dir_all(NETNS_RUN_DIR).map_err(io_err(format!("create {NETNS_RUN_DIR}")))?;
    let mut bound = false;
    loop {
        match mount(
            None::<&str>,
            NETNS_RUN_DIR,
            Some("none"),
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        ) {
            Ok(()) => return Ok(()),
            Err(nix::Error::EINVAL) if !bound => {
                mount(
                    Some(NETNS_RUN_DIR),
                    NETNS_RUN_DIR,
                    Some("none"),
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                )
                .map_err(nix_err(format!("bind-mount {NETNS_RUN_DIR} on itself")))?;
                bound = true;
            }
            Err(e) => return Err(nix_err(format!("make {NETNS_RUN_DIR} a shared mount"))(e)),
        }
    }
}

fn spawn_named<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<std::thread::JoinHandle<T>> {
    std::thread::Builder::new().name(name.to_string()).spawn(f).map_err(io_err("spawn namespace thread"))
}

impl Netns {
    /// The namespace of the calling thread.
    pub fn current() -> Result<Netns> {
        Self::open("/proc/thread-self/ns/net")
    }

    /// Open a namespace by path (`/proc/PID/ns/net`, `/run/netns/NAME`, a
    /// CNI `CNI_NETNS` path, ...).
    pub fn open(path: impl AsRef<Path>) -> Result<Netns> {
        let path = path.as_ref();
        let f = fs::File::open(path).map_err(io_err(format!("open netns {}", path.display())))?;
        Ok(Netns { fd: Arc::new(OwnedFd::from(f)), name: None, path: Some(path.to_path_buf()) })
    }

    /// Open a named namespace (`/run/netns/NAME`), as `ip netns exec NAME`
    /// does. A missing one is [`Error::NotFound`].
    pub fn open_named(name: &str) -> Result<Netns> {
        validate_name(name)?;
        let path = Path::new(NETNS_RUN_DIR).join(name);
        match Self::open(&path) {
            Ok(mut ns) => {
                ns.name = Some(name.to_string());
                Ok(ns)
            }
            Err(e) if e.is_not_found() => {
                Err(Error::NotFound { what: format!("network namespace {name:?}") })
            }
            Err(e) => Err(e),
        }
    }

    /// Create a named namespace, pinned by a bind mount on
    /// `/run/netns/NAME` exactly as `ip netns add NAME` does (no `fork`: a
    /// short-lived thread unshares and is bind-mounted).
    ///
    /// # Errors
    /// [`Error::Invalid`] for a bad name; `EEXIST` (see
    /// [`Error::is_exists`]) if the name is taken; `EPERM` without root.
    ///
    /// # Cancel safety
    /// If the future is dropped, the namespace is still created (by its own thread) and stays pinned; remove it with [`Netns::remove_named`].
    pub async fn create_named(name: &str) -> Result<Netns> {
        let name = name.to_string();
        run_on_thread(move || Self::create_named_blocking(&name)).await?
    }

    /// [`Netns::create_named`] for synchronous code. Blocks briefly.
    pub fn create_named_blocking(name: &str) -> Result<Netns> {
        validate_name(name)?;
        prepare_run_dir()?;
        let path = Path::new(NETNS_RUN_DIR).join(name);
        fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_err(format!("create {}", path.display())))?;
        let target = path.clone();
        let joined = spawn_named("netplumb-netns", move || -> Result<()> {
            unshare(CloneFlags::CLONE_NEWNET).map_err(nix_err("unshare(CLONE_NEWNET)"))?;
            mount(Some("/proc/thread-self/ns/net"), &target, Some("none"), MsFlags::MS_BIND, None::<&str>)
                .map_err(nix_err(format!("bind-mount new namespace on {}", target.display())))
        })?
        .join();
        let res = match joined {
            Ok(r) => r,
            Err(_) => Err(Error::io("create namespace", std::io::Error::other("namespace thread panicked"))),
        };
        if let Err(e) = res {
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        let mut ns = Self::open(&path)?;
        ns.name = Some(name.to_string());
        Ok(ns)
    }

    /// Create an anonymous namespace, held only by this handle (and its
    /// clones): it disappears when the last handle and the last socket in it
    /// are gone.
    ///
    /// # Cancel safety
    /// Cancel safe: the namespace disappears with its handle.
    pub async fn create_anonymous() -> Result<Netns> {
        run_on_thread(|| -> Result<Netns> {
            unshare(CloneFlags::CLONE_NEWNET).map_err(nix_err("unshare(CLONE_NEWNET)"))?;
            let mut ns = Self::open("/proc/thread-self/ns/net")?;
            ns.path = None;
            Ok(ns)
        })
        .await?
    }

    /// Remove a named namespace as `ip netns delete` does: unmount and
    /// unlink `/run/netns/NAME`. Removing one that does not exist is not an
    /// error. The namespace itself lives on while processes, sockets or
    /// handles still hold it.
    pub fn remove_named(name: &str) -> Result<()> {
        validate_name(name)?;
        let path = Path::new(NETNS_RUN_DIR).join(name);
        match umount2(&path, MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
            Err(e) => return Err(nix_err(format!("unmount {}", path.display()))(e)),
        }
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(format!("remove {}", path.display()), e)),
        }
    }

    /// Names of the namespaces pinned under `/run/netns` (as `ip netns
    /// list` shows them).
    pub fn list_named() -> Result<Vec<String>> {
        let rd = match fs::read_dir(NETNS_RUN_DIR) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(format!("read {NETNS_RUN_DIR}"), e)),
        };
        let mut v: Vec<String> = rd.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect();
        v.sort();
        Ok(v)
    }

    /// The name, if opened or created by name.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The path it was opened from, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The namespace's inode number (what `ip netns identify` and
    /// `/proc/PID/ns/net` links show); equal inodes mean the same namespace.
    pub fn inode(&self) -> Result<u64> {
        let f = fs::File::from(self.fd.try_clone().map_err(io_err("dup netns fd"))?);
        Ok(f.metadata().map_err(io_err("stat netns"))?.ino())
    }

    /// Whether `self` and `other` are the same namespace.
    pub fn same_as(&self, other: &Netns) -> Result<bool> {
        Ok(self.inode()? == other.inode()?)
    }

    /// Run a blocking closure inside this namespace, on a thread of its own,
    /// and return its result. Use it for sysctls, or a short TCP exchange
    /// from "inside a pod". A panic in `f` is resumed in the caller.
    ///
    /// # Cancel safety
    /// If the future is dropped, `f` still runs to completion on its thread.
    pub async fn run<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let fd = self.fd.clone();
        run_on_thread(move || -> Result<R> {
            setns(fd.as_fd(), CloneFlags::CLONE_NEWNET).map_err(nix_err("setns(CLONE_NEWNET)"))?;
            Ok(f())
        })
        .await?
    }

    /// [`Netns::run`] for synchronous code: blocks until `f` returns.
    pub fn run_blocking<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let fd = self.fd.clone();
        let h = spawn_named("netplumb-netns", move || -> Result<R> {
            setns(fd.as_fd(), CloneFlags::CLONE_NEWNET).map_err(nix_err("setns(CLONE_NEWNET)"))?;
            Ok(f())
        })?;
        match h.join() {
            Ok(r) => r,
            Err(p) => std::panic::resume_unwind(p),
        }
    }

    /// Keep a future running inside this namespace: a dedicated thread
    /// enters the namespace and drives `make()`'s future on its own
    /// current-thread tokio runtime (so sockets it opens live in the
    /// namespace — a server "in a pod"). Dropping or [`NsTask::stop`]ping
    /// the handle cancels the future.
    pub fn spawn<F, Fut>(&self, make: F) -> Result<NsTask<Fut::Output>>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        let fd = self.fd.clone();
        let (cancel_tx, cancel_rx) = oneshot::channel::<()>();
        let (res_tx, res_rx) = oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<()>>();
        spawn_named("netplumb-ns-task", move || {
            if let Err(e) = setns(fd.as_fd(), CloneFlags::CLONE_NEWNET) {
                let _ = ready_tx.send(Err(nix_err("setns(CLONE_NEWNET)")(e)));
                return;
            }
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(Error::io("build namespace runtime", e)));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(()));
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                rt.block_on(async move {
                    let fut = make();
                    tokio::select! {
                        v = fut => Some(v),
                        _ = cancel_rx => None,
                    }
                })
            }));
            let _ = res_tx.send(out);
        })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(NsTask { cancel: Some(cancel_tx), result: res_rx }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::io("start namespace task", std::io::Error::other("thread exited early"))),
        }
    }

    /// Read a sysctl in this namespace, e.g. `net.ipv4.ip_forward` or
    /// `net/ipv4/conf/eth0/forwarding` (use the slash form when an
    /// interface name contains dots). Only `net.*` keys are accepted: other
    /// sysctls are not per-namespace. Returns the value without the
    /// trailing newline.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn sysctl_get(&self, key: &str) -> Result<String> {
        let path = sysctl_path(key)?;
        self.run(move || fs::read_to_string(&path).map_err(io_err(format!("read {}", path.display()))))
            .await?
            .map(|s| s.trim_end_matches('\n').to_string())
    }

    /// Write a sysctl in this namespace (see [`Netns::sysctl_get`]), as
    /// `ip netns exec NS sysctl -w KEY=VALUE` would.
    ///
    /// # Cancel safety
    /// If the future is dropped, the write still happens on its own thread.
    pub async fn sysctl_set(&self, key: &str, value: &str) -> Result<()> {
        let path = sysctl_path(key)?;
        let value = value.to_string();
        self.run(move || {
            fs::write(&path, value.as_bytes()).map_err(io_err(format!("write {}", path.display())))
        })
        .await?
    }
}

impl AsFd for Netns {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Map a sysctl key to its `/proc/sys` path, refusing keys outside `net.`.
pub fn sysctl_path(key: &str) -> Result<PathBuf> {
    let rel = if key.contains('/') { key.trim_start_matches('/').to_string() } else { key.replace('.', "/") };
    if !rel.starts_with("net/") {
        return Err(Error::invalid(
            "sysctl key",
            format!("{key:?}: only net.* sysctls are per network namespace; refusing to change the host"),
        ));
    }
    if rel.split('/').any(|c| c.is_empty() || c == "..") {
        return Err(Error::invalid("sysctl key", format!("{key:?} is not a sysctl name")));
    }
    Ok(Path::new("/proc/sys").join(rel))
}

/// Run `f` on a fresh thread and await its result; panics are resumed.
async fn run_on_thread<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Result<R> {
    let (tx, rx) = oneshot::channel();
    spawn_named("netplumb-netns", move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(r);
    })?;
    match rx.await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => Err(Error::io("namespace thread", std::io::Error::other("exited without a result"))),
    }
}

/// A future kept running inside a namespace by [`Netns::spawn`].
#[derive(Debug)]
pub struct NsTask<T> {
    cancel: Option<oneshot::Sender<()>>,
    result: oneshot::Receiver<std::thread::Result<Option<T>>>,
}

impl<T> NsTask<T> {
    /// Wait for the future to finish and return its output. A panic inside
    /// it is resumed here.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future leaves the task running; dropping the [`NsTask`] (consumed here) cancels it.
    pub async fn join(mut self) -> Result<T> {
        match (&mut self.result).await {
            Ok(Ok(Some(v))) => Ok(v),
            Ok(Ok(None)) => Err(Error::Closed),
            Ok(Err(p)) => std::panic::resume_unwind(p),
            Err(_) => Err(Error::Closed),
        }
    }

    /// Cancel the future and wait until its thread has dropped it (its
    /// sockets are closed when this returns). Returns its output if it had
    /// already finished.
    ///
    /// # Cancel safety
    /// If the future is dropped, the task is still cancelled; its thread finishes on its own.
    pub async fn stop(mut self) -> Option<T> {
        if let Some(c) = self.cancel.take() {
            let _ = c.send(());
        }
        match (&mut self.result).await {
            Ok(Ok(v)) => v,
            _ => None,
        }
    }

    /// Whether the future has finished (or been cancelled).
    pub fn is_finished(&mut self) -> bool {
        !matches!(self.result.try_recv(), Err(oneshot::error::TryRecvError::Empty))
    }
}

impl<T> Drop for NsTask<T> {
    fn drop(&mut self) {
        if let Some(c) = self.cancel.take() {
            let _ = c.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_sysctl_keys_are_checked() {
        assert!(validate_name("").is_err());
        assert!(validate_name("a/b").is_err());
        assert!(validate_name("..").is_err());
        assert!(validate_name("pod-1").is_ok());
        assert_eq!(sysctl_path("net.ipv4.ip_forward").unwrap(), Path::new("/proc/sys/net/ipv4/ip_forward"));
        assert_eq!(
            sysctl_path("net/ipv4/conf/eth0.100/forwarding").unwrap(),
            Path::new("/proc/sys/net/ipv4/conf/eth0.100/forwarding")
        );
        let e = sysctl_path("kernel.hostname").unwrap_err();
        assert!(e.to_string().contains("sysctl key"), "{e}");
        assert!(sysctl_path("net/../kernel/x").is_err());
    }
}
