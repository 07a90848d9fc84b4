//! The vocabulary every traffic-control file shares: `TCA_*` numbers, the
//! [`TcHandle`], the `struct tcmsg` header and [`Stats`]. It imports no other
//! file of `tc/`, so qdiscs, filters, actions and the message types can all
//! use it. Pure encode/decode, no I/O.

use std::fmt;
use std::str::FromStr;

use crate::error::{DecodeError, Error, Result};
use crate::rtnl::header;
use crate::wire::{AttrIter, AttrWriter};
/// `TCA_*` attribute numbers (`include/uapi/linux/rtnetlink.h`).
#[allow(missing_docs)]
pub mod tca {
    pub const KIND: u16 = 1;
    pub const OPTIONS: u16 = 2;
    pub const STATS: u16 = 3;
    pub const XSTATS: u16 = 4;
    pub const RATE: u16 = 5;
    pub const FCNT: u16 = 6;
    pub const STATS2: u16 = 7;
    pub const STAB: u16 = 8;
    pub const PAD: u16 = 9;
    pub const DUMP_INVISIBLE: u16 = 10;
    pub const CHAIN: u16 = 11;
    pub const HW_OFFLOAD: u16 = 12;
    pub const INGRESS_BLOCK: u16 = 13;
    pub const EGRESS_BLOCK: u16 = 14;
    pub const DUMP_FLAGS: u16 = 15;
    pub const EXT_WARN_MSG: u16 = 16;
}

/// Size of `struct tcmsg`.
pub const TCMSG_LEN: usize = 20;

/// A qdisc or class handle, `major:minor` (`tc` writes both in hex:
/// `1:`, `1:10`, `ffff:`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TcHandle(pub u32);

impl TcHandle {
    /// `TC_H_UNSPEC` (0): "let the kernel choose" / "any".
    pub const UNSPEC: TcHandle = TcHandle(0);
    /// `TC_H_ROOT`: the parent of a device's root qdisc (`tc ... root`).
    pub const ROOT: TcHandle = TcHandle(0xffff_ffff);
    /// `TC_H_INGRESS` (= `TC_H_CLSACT`): the parent of the `ingress` and
    /// `clsact` qdiscs.
    pub const INGRESS: TcHandle = TcHandle(0xffff_fff1);
    /// `ffff:`, the handle of the `ingress` and `clsact` qdiscs and the
    /// parent of filters attached to `ingress`.
    pub const INGRESS_QDISC: TcHandle = TcHandle(0xffff_0000);
    /// `ffff:fff2`: where `tc filter add dev X ingress` attaches (clsact).
    pub const CLSACT_INGRESS: TcHandle = TcHandle(0xffff_fff2);
    /// `ffff:fff3`: where `tc filter add dev X egress` attaches (clsact).
    pub const CLSACT_EGRESS: TcHandle = TcHandle(0xffff_fff3);

    /// `major:minor`.
    pub const fn new(major: u16, minor: u16) -> TcHandle {
        TcHandle(((major as u32) << 16) | minor as u32)
    }
    /// The major number (the qdisc).
    pub const fn major(self) -> u16 {
        (self.0 >> 16) as u16
    }
    /// The minor number (the class within the qdisc).
    pub const fn minor(self) -> u16 {
        self.0 as u16
    }
}

impl fmt::Display for TcHandle {
    /// As `tc` prints handles: `root`, `1:`, `1:10`, `ffff:fff1`, `none`
    /// for 0.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TcHandle::ROOT => f.write_str("root"),
            TcHandle::UNSPEC => f.write_str("none"),
            h if h.minor() == 0 => write!(f, "{:x}:", h.major()),
            h => write!(f, "{:x}:{:x}", h.major(), h.minor()),
        }
    }
}

impl fmt::Debug for TcHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TcHandle({self})")
    }
}

impl FromStr for TcHandle {
    type Err = Error;
    /// `root`, `none`, `1:`, `1:10`, `:10` (hex, as `tc`'s `get_tc_classid`).
    fn from_str(s: &str) -> Result<TcHandle> {
        let bad = || Error::invalid("handle", format!("{s:?} is not a tc handle like 1:, 1:10 or root"));
        match s {
            "root" => return Ok(TcHandle::ROOT),
            "none" => return Ok(TcHandle::UNSPEC),
            "ingress" | "clsact" => return Ok(TcHandle::INGRESS),
            _ => {}
        }
        let (maj, min) = s.split_once(':').ok_or_else(bad)?;
        let p = |x: &str| if x.is_empty() { Ok(0) } else { u16::from_str_radix(x, 16).map_err(|_| bad()) };
        Ok(TcHandle::new(p(maj)?, p(min)?))
    }
}

impl From<u32> for TcHandle {
    fn from(v: u32) -> TcHandle {
        TcHandle(v)
    }
}

/// `struct tcmsg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TcHeader {
    /// `tcm_family` (0).
    pub family: u8,
    /// The device.
    pub ifindex: i32,
    /// `tcm_handle`.
    pub handle: u32,
    /// `tcm_parent`.
    pub parent: u32,
    /// `tcm_info`: the reference count for qdiscs; `prio << 16 |
    /// htons(protocol)` for filters.
    pub info: u32,
}

impl TcHeader {
    /// Encode.
    pub fn to_bytes(self) -> [u8; TCMSG_LEN] {
        let mut b = [0u8; TCMSG_LEN];
        b[0] = self.family;
        b[4..8].copy_from_slice(&self.ifindex.to_ne_bytes());
        b[8..12].copy_from_slice(&self.handle.to_ne_bytes());
        b[12..16].copy_from_slice(&self.parent.to_ne_bytes());
        b[16..20].copy_from_slice(&self.info.to_ne_bytes());
        b
    }

    /// Decode the header at the start of a payload.
    pub fn parse(p: &[u8]) -> Result<TcHeader, DecodeError> {
        let h = header::<TCMSG_LEN>(p, "tcmsg")?;
        let u = |i: usize| u32::from_ne_bytes(h[i..i + 4].try_into().expect("4"));
        Ok(TcHeader { family: h[0], ifindex: u(4) as i32, handle: u(8), parent: u(12), info: u(16) })
    }
}

/// Counters of a qdisc, class, filter or action, as `tc -s` shows them:
/// `Sent BYTES bytes PACKETS pkt (dropped D, overlimits O requeues R)
/// backlog Bb Qp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Stats {
    /// Bytes sent.
    pub bytes: u64,
    /// Packets sent.
    pub packets: u64,
    /// Packets dropped.
    pub drops: u32,
    /// Times the object was over its limit (throttled).
    pub overlimits: u32,
    /// Packets requeued.
    pub requeues: u32,
    /// Bytes queued now.
    pub backlog: u32,
    /// Packets queued now.
    pub qlen: u32,
    /// Estimated rate in bytes/s (when a rate estimator runs).
    pub rate_bps: u64,
    /// Estimated rate in packets/s.
    pub rate_pps: u64,
}

/// `TCA_STATS_*` inside `TCA_STATS2` (`include/uapi/linux/gen_stats.h`).
mod stats2 {
    pub const BASIC: u16 = 1;
    pub const RATE_EST: u16 = 2;
    pub const QUEUE: u16 = 3;
    pub const RATE_EST64: u16 = 5;
    pub const PKT64: u16 = 8;
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_ne_bytes(b[i..i + 4].try_into().expect("4"))
}
fn u64_at(b: &[u8], i: usize) -> u64 {
    u64::from_ne_bytes(b[i..i + 8].try_into().expect("8"))
}

impl Stats {
    /// Decode `TCA_STATS2` (nested `gnet_stats_*`).
    pub fn parse_stats2(p: &[u8]) -> Result<Stats, DecodeError> {
        let mut s = Stats::default();
        let mut pkt64 = None;
        for a in AttrIter::new(p) {
            let a = a?;
            let b = a.payload;
            match a.kind() {
                stats2::BASIC if b.len() >= 12 => {
                    s.bytes = u64_at(b, 0);
                    s.packets = u32_at(b, 8) as u64;
                }
                stats2::RATE_EST if b.len() >= 8 => {
                    s.rate_bps = u32_at(b, 0) as u64;
                    s.rate_pps = u32_at(b, 4) as u64;
                }
                stats2::RATE_EST64 if b.len() >= 16 => {
                    s.rate_bps = u64_at(b, 0);
                    s.rate_pps = u64_at(b, 8);
                }
                stats2::QUEUE if b.len() >= 20 => {
                    s.qlen = u32_at(b, 0);
                    s.backlog = u32_at(b, 4);
                    s.drops = u32_at(b, 8);
                    s.requeues = u32_at(b, 12);
                    s.overlimits = u32_at(b, 16);
                }
                stats2::PKT64 if b.len() >= 8 => pkt64 = Some(u64_at(b, 0)),
                stats2::BASIC | stats2::RATE_EST | stats2::RATE_EST64 | stats2::QUEUE | stats2::PKT64 => {
                    return Err(DecodeError::new(
                        "TCA_STATS2",
                        format!("{} bytes for type {}", b.len(), a.kind()),
                    ))
                }
                _ => {}
            }
        }
        if let Some(p) = pkt64 {
            s.packets = p;
        }
        Ok(s)
    }

    /// Decode the old `TCA_STATS` (`struct tc_stats`).
    pub fn parse_stats(b: &[u8]) -> Result<Stats, DecodeError> {
        if b.len() < 36 {
            return Err(DecodeError::new("TCA_STATS", format!("{} bytes, need 36", b.len())));
        }
        Ok(Stats {
            bytes: u64_at(b, 0),
            packets: u32_at(b, 8) as u64,
            drops: u32_at(b, 12),
            overlimits: u32_at(b, 16),
            rate_bps: u32_at(b, 20) as u64,
            rate_pps: u32_at(b, 24) as u64,
            qlen: u32_at(b, 28),
            backlog: u32_at(b, 32),
            requeues: 0,
        })
    }

    /// Encode as `TCA_STATS2` (for tests and fakes; the kernel never takes
    /// statistics).
    pub fn write_stats2(&self, w: &mut AttrWriter<'_>, ty: u16) {
        w.nest(ty, |w| {
            let mut basic = [0u8; 16];
            basic[..8].copy_from_slice(&self.bytes.to_ne_bytes());
            basic[8..12].copy_from_slice(&(self.packets.min(u32::MAX as u64) as u32).to_ne_bytes());
            w.bytes(stats2::BASIC, &basic);
            if self.rate_bps != 0 || self.rate_pps != 0 {
                let mut r = [0u8; 16];
                r[..8].copy_from_slice(&self.rate_bps.to_ne_bytes());
                r[8..].copy_from_slice(&self.rate_pps.to_ne_bytes());
                w.bytes(stats2::RATE_EST64, &r);
            }
            let mut q = [0u8; 20];
            for (i, v) in
                [self.qlen, self.backlog, self.drops, self.requeues, self.overlimits].iter().enumerate()
            {
                q[i * 4..i * 4 + 4].copy_from_slice(&v.to_ne_bytes());
            }
            w.bytes(stats2::QUEUE, &q);
            w.u64(stats2::PKT64, self.packets);
        });
    }
}
