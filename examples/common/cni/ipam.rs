//! A host-local style IP allocator, compatible with the reference
//! `host-local` plugin's on-disk layout: `DATADIR/NETWORK/IP` files holding
//! `CONTAINERID\nIFNAME`, `last_reserved_ip.N` per range set, and a `lock`
//! file taken with `flock` so parallel ADDs never hand out one address twice.

use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use ipnet::IpNet;

use super::config::{IpamConfig, Range};

/// One allocated address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allocation {
    /// Address with the subnet's prefix length.
    pub address: IpNet,
    /// The range's gateway.
    pub gateway: IpAddr,
}

/// Errors in CNI terms: (code, message). Code 11 is "try again later"
/// (all addresses taken would otherwise be a generic 999).
pub type IpamError = (u32, String);

fn to_u128(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => u32::from(v) as u128,
        IpAddr::V6(v) => u128::from(v),
    }
}

fn from_u128(v: u128, like: IpAddr) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4((v as u32).into()),
        IpAddr::V6(_) => IpAddr::V6(v.into()),
    }
}

impl Range {
    /// First and last allocatable address (inclusive).
    pub fn bounds(&self) -> (IpAddr, IpAddr) {
        let net = self.subnet;
        let first = self.range_start.unwrap_or_else(|| from_u128(to_u128(net.network()) + 1, net.network()));
        let last = self.range_end.unwrap_or_else(|| match net {
            IpNet::V4(_) => from_u128(to_u128(net.broadcast()) - 1, net.network()),
            IpNet::V6(_) => net.broadcast(),
        });
        (first, last)
    }

    /// Whether `ip` is one of the range's allocatable addresses.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (a, b) = self.bounds();
        self.subnet.contains(&ip) && (to_u128(a)..=to_u128(b)).contains(&to_u128(ip))
    }

    /// The gateway: as configured, else the subnet's first address.
    pub fn gateway(&self) -> IpAddr {
        self.gateway.unwrap_or_else(|| from_u128(to_u128(self.subnet.network()) + 1, self.subnet.network()))
    }
}

/// The allocator's store for one network.
pub struct Store {
    dir: PathBuf,
    lock: fs::File,
}

impl Store {
    /// Open (creating) `DATADIR/NETWORK` and take its lock.
    pub fn open(ipam: &IpamConfig, network: &str) -> Result<Store, IpamError> {
        let dir = Path::new(&ipam.data_dir).join(network);
        fs::create_dir_all(&dir).map_err(|e| (999, format!("create {}: {e}", dir.display())))?;
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("lock"))
            .map_err(|e| (999, format!("open lock: {e}")))?;
        // SAFETY: flock on a valid, owned descriptor.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err((999, format!("lock {}: {}", dir.display(), std::io::Error::last_os_error())));
        }
        Ok(Store { dir, lock })
    }

    fn owner_text(container: &str, ifname: &str) -> String {
        format!("{container}\r\n{ifname}")
    }

    /// Whether a record's text names (container, ifname); records written
    /// by older plugins hold only the container ID.
    fn owned_by(text: &str, container: &str, ifname: &str) -> bool {
        let mut lines = text.lines().map(str::trim);
        let id = lines.next().unwrap_or("");
        let ifn = lines.next();
        id == container && ifn.is_none_or(|i| i == ifname)
    }

    /// Addresses already held by (container, ifname).
    pub fn held_by(&self, container: &str, ifname: &str) -> Vec<IpAddr> {
        let mut out = Vec::new();
        if let Ok(rd) = fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let Ok(ip) = name.parse::<IpAddr>() else { continue };
                if fs::read_to_string(e.path())
                    .map(|s| Self::owned_by(&s, container, ifname))
                    .unwrap_or(false)
                {
                    out.push(ip);
                }
            }
        }
        out
    }

    /// Allocate one address per range set: the requested address that
    /// falls in the set if there is one (`ipam.requested`), else the next
    /// free one. Every requested address must be used, as in host-local.
    pub fn allocate(
        &self,
        ipam: &IpamConfig,
        container: &str,
        ifname: &str,
    ) -> Result<Vec<Allocation>, IpamError> {
        let mut out = Vec::new();
        let mut requested = ipam.requested.clone();
        let undo = |out: &[Allocation]| {
            for a in out {
                let _ = fs::remove_file(self.dir.join(a.address.addr().to_string()));
            }
        };
        for (idx, set) in ipam.ranges.iter().enumerate() {
            let want = requested.iter().position(|ip| set.iter().any(|r| r.contains(*ip)));
            let want = want.map(|i| requested.remove(i));
            let got = match want {
                Some(ip) => self.reserve_exact(idx, set, ip, container, ifname),
                None => self.allocate_in_set(idx, set, container, ifname),
            };
            match got {
                Ok(a) => out.push(a),
                Err((code, msg)) => {
                    undo(&out);
                    return Err((code, format!("failed to allocate for range {idx}: {msg}")));
                }
            }
        }
        if !requested.is_empty() {
            undo(&out);
            let list: Vec<String> = requested.iter().map(ToString::to_string).collect();
            return Err((999, format!("failed to allocate all requested IPs: {}", list.join(" "))));
        }
        Ok(out)
    }

    fn reserve_exact(
        &self,
        idx: usize,
        set: &[Range],
        ip: IpAddr,
        container: &str,
        ifname: &str,
    ) -> Result<Allocation, IpamError> {
        let r = set.iter().find(|r| r.contains(ip)).expect("caller checked");
        if ip == r.gateway() {
            return Err((999, format!("requested ip {ip} is subnet's gateway")));
        }
        let path = self.dir.join(ip.to_string());
        match fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                f.write_all(Self::owner_text(container, ifname).as_bytes())
                    .map_err(|e| (999, format!("write {}: {e}", path.display())))?;
                // host-local records the last address of the set either way.
                fs::write(self.dir.join(format!("last_reserved_ip.{idx}")), ip.to_string())
                    .map_err(|e| (999, format!("write last reserved: {e}")))?;
                let address = IpNet::new(ip, r.subnet.prefix_len()).expect("prefix from a valid subnet");
                Ok(Allocation { address, gateway: r.gateway() })
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err((999, format!("requested IP address {ip} is not available in range set {}", r.subnet)))
            }
            Err(e) => Err((999, format!("reserve {}: {e}", path.display()))),
        }
    }

    fn allocate_in_set(
        &self,
        idx: usize,
        set: &[Range],
        container: &str,
        ifname: &str,
    ) -> Result<Allocation, IpamError> {
        let last_file = self.dir.join(format!("last_reserved_ip.{idx}"));
        let last: Option<IpAddr> = fs::read_to_string(&last_file).ok().and_then(|s| s.trim().parse().ok());
        // Candidates in order: after the last reserved address, wrapping.
        let mut candidates: Vec<(usize, u128, u128)> = Vec::new();
        for (ri, r) in set.iter().enumerate() {
            let (a, b) = r.bounds();
            candidates.push((ri, to_u128(a), to_u128(b)));
        }
        let total: u128 = candidates.iter().map(|(_, a, b)| b - a + 1).sum();
        let limit = total.min(1 << 20); // bound the scan
                                        // Flatten position of `last` to start right after it.
        let mut start_pos: u128 = 0;
        if let Some(l) = last {
            let lv = to_u128(l);
            let mut acc = 0u128;
            for (_, a, b) in &candidates {
                if lv >= *a && lv <= *b {
                    start_pos = acc + (lv - a) + 1;
                    break;
                }
                acc += b - a + 1;
            }
        }
        for step in 0..limit {
            let mut pos = (start_pos + step) % total;
            let mut hit = None;
            for (ri, a, b) in &candidates {
                let len = b - a + 1;
                if pos < len {
                    hit = Some((*ri, a + pos));
                    break;
                }
                pos -= len;
            }
            let Some((ri, v)) = hit else { continue };
            let r = &set[ri];
            let ip = from_u128(v, r.subnet.network());
            if ip == r.gateway() {
                continue;
            }
            let path = self.dir.join(ip.to_string());
            match fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    f.write_all(Self::owner_text(container, ifname).as_bytes())
                        .map_err(|e| (999, format!("write {}: {e}", path.display())))?;
                    fs::write(&last_file, ip.to_string())
                        .map_err(|e| (999, format!("write last reserved: {e}")))?;
                    let address = IpNet::new(ip, r.subnet.prefix_len()).expect("prefix from a valid subnet");
                    return Ok(Allocation { address, gateway: r.gateway() });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err((999, format!("reserve {}: {e}", path.display()))),
            }
        }
        let (a, b) = set[0].bounds();
        Err((999, format!("no IP addresses available in range set: {a}-{b}")))
    }

    /// Release every address held by (container, ifname). Idempotent.
    pub fn release(&self, container: &str, ifname: &str) -> usize {
        let held = self.held_by(container, ifname);
        for ip in &held {
            let _ = fs::remove_file(self.dir.join(ip.to_string()));
        }
        held.len()
    }

    /// Every address recorded, with its owner text (for GC).
    pub fn all(&self) -> Vec<(IpAddr, String)> {
        let mut out = Vec::new();
        if let Ok(rd) = fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Ok(ip) = name.parse::<IpAddr>() {
                    out.push((ip, fs::read_to_string(e.path()).unwrap_or_default()));
                }
            }
        }
        out
    }

    /// Remove the record of one address.
    pub fn remove(&self, ip: IpAddr) {
        let _ = fs::remove_file(self.dir.join(ip.to_string()));
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // SAFETY: unlock our own descriptor.
        unsafe { libc::flock(self.lock.as_raw_fd(), libc::LOCK_UN) };
    }
}
