//! Rates, sizes and the kernel's rate tables, computed as `tc` (iproute2
//! 6.1, `tc/tc_core.c`) computes them.
//!
//! The packet scheduler counts time in "ticks" of 64 ns
//! (`/proc/net/psched`: `000003e8 00000040 000f4240 3b9aca00`, the same on
//! every kernel since 2.6.31), so `tc` converts a microsecond to
//! 1000 / 64 = 15.625 ticks. A rate table (`TCA_TBF_RTAB`,
//! `TCA_HTB_RTAB`/`CTAB`, `TCA_POLICE_RATE`) gives, for 256 packet sizes
//! `(i + 1) << cell_log`, the ticks one packet of that size takes at the
//! rate.

use std::fmt;
use std::str::FromStr;

use crate::error::{DecodeError, Error, Result};

/// Microseconds per second (`TIME_UNITS_PER_SEC`).
pub const TIME_UNITS_PER_SEC: f64 = 1_000_000.0;

/// Scheduler ticks per microsecond (`tick_in_usec` in `tc`): 1000 ns / 64
/// ns.
pub const TICKS_PER_USEC: f64 = 1000.0 / 64.0;

/// The clock rate `tc`'s `get_hz()` reads from `/proc/net/psched` on
/// high-resolution kernels (its fourth field, 10^9); HTB's default burst is
/// `rate / hz + mtu`.
pub const PSCHED_HZ: u64 = 1_000_000_000;

/// A rate in bytes per second, written in the units `tc` takes.
///
/// `tc` reads `10mbit` as 10,000,000 bits/s, that is 1,250,000 bytes/s;
/// `Rate::mbit(10)` is the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Rate(pub u64);

impl Rate {
    /// Bytes per second.
    pub const fn bytes_per_sec(b: u64) -> Rate {
        Rate(b)
    }
    /// Bits per second (rounded down to whole bytes, as `tc` does).
    pub const fn bits_per_sec(b: u64) -> Rate {
        Rate(b / 8)
    }
    /// `N kbit` (1000 bits/s).
    pub const fn kbit(n: u64) -> Rate {
        Rate::bits_per_sec(n * 1000)
    }
    /// `N mbit` (10^6 bits/s).
    pub const fn mbit(n: u64) -> Rate {
        Rate::bits_per_sec(n * 1_000_000)
    }
    /// `N gbit` (10^9 bits/s).
    pub const fn gbit(n: u64) -> Rate {
        Rate::bits_per_sec(n * 1_000_000_000)
    }
    /// The rate in bytes per second.
    pub const fn as_bytes(self) -> u64 {
        self.0
    }
    /// The rate in bits per second.
    pub const fn as_bits(self) -> u64 {
        self.0.saturating_mul(8)
    }
}

impl fmt::Display for Rate {
    /// As `tc` prints it: `10Mbit`, `800Kbit`, `1Gbit`, `123bit`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bits = self.as_bits() as f64;
        for (div, unit) in [(1e12, "Tbit"), (1e9, "Gbit"), (1e6, "Mbit"), (1e3, "Kbit")] {
            if bits >= div {
                let v = bits / div;
                return if v.fract() == 0.0 { write!(f, "{v}{unit}") } else { write!(f, "{v:.3}{unit}") };
            }
        }
        write!(f, "{}bit", self.as_bits())
    }
}

impl FromStr for Rate {
    type Err = Error;
    /// `tc`'s units: `bit`, `kbit`, `mbit`, `gbit`, `tbit` (bits/s, powers
    /// of 1000), `bps`, `kbps`, `mbps`, `gbps` (bytes/s), and the IEC
    /// `kibit`/`mibit`/`gibit`/`kibps`/`mibps`/`gibps`; a bare number is
    /// bits/s.
    fn from_str(s: &str) -> Result<Rate> {
        let bad = |why: &str| Error::invalid("rate", format!("{s:?}: {why} (like 10mbit or 1250000bps)"));
        let t = s.trim().to_ascii_lowercase();
        let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: f64 = num.parse().map_err(|_| bad("no number"))?;
        let (mult, bytes) = match unit {
            "" | "bit" => (1.0, false),
            "kbit" => (1e3, false),
            "mbit" => (1e6, false),
            "gbit" => (1e9, false),
            "tbit" => (1e12, false),
            "kibit" => (1024.0, false),
            "mibit" => (1024.0 * 1024.0, false),
            "gibit" => (1024.0 * 1024.0 * 1024.0, false),
            "bps" => (1.0, true),
            "kbps" => (1e3, true),
            "mbps" => (1e6, true),
            "gbps" => (1e9, true),
            "kibps" => (1024.0, true),
            "mibps" => (1024.0 * 1024.0, true),
            "gibps" => (1024.0 * 1024.0 * 1024.0, true),
            _ => return Err(bad("unknown unit")),
        };
        let v = n * mult;
        if !v.is_finite() || v < 0.0 || v > u64::MAX as f64 / 8.0 {
            return Err(bad("out of range"));
        }
        Ok(if bytes { Rate(v as u64) } else { Rate((v / 8.0) as u64) })
    }
}

/// Link layer for rate tables (`tc ... linklayer`).
pub const LINKLAYER_ETHERNET: u8 = 1;
/// `linklayer atm`: sizes rounded up to 48-byte cells of 53 bytes.
pub const LINKLAYER_ATM: u8 = 2;

/// `struct tc_ratespec`: a rate and how its table was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RateSpec {
    /// Table cell size is `1 << cell_log` bytes.
    pub cell_log: u8,
    /// `TC_LINKLAYER_*` (1 Ethernet, 2 ATM; 0 "unaware", old tools).
    pub linklayer: u8,
    /// Per-packet overhead added before the lookup.
    pub overhead: u16,
    /// Cell alignment (`tc` writes -1).
    pub cell_align: i16,
    /// Minimum packet unit.
    pub mpu: u16,
    /// Bytes per second, capped at `u32::MAX` (the full rate goes in a
    /// `*_RATE64` attribute).
    pub rate: u32,
}

/// Size of `struct tc_ratespec`.
pub const RATESPEC_LEN: usize = 12;

impl RateSpec {
    /// Encode.
    pub fn to_bytes(self) -> [u8; RATESPEC_LEN] {
        let mut b = [0u8; RATESPEC_LEN];
        b[0] = self.cell_log;
        b[1] = self.linklayer;
        b[2..4].copy_from_slice(&self.overhead.to_ne_bytes());
        b[4..6].copy_from_slice(&self.cell_align.to_ne_bytes());
        b[6..8].copy_from_slice(&self.mpu.to_ne_bytes());
        b[8..12].copy_from_slice(&self.rate.to_ne_bytes());
        b
    }

    /// Decode from exactly 12 bytes.
    pub fn from_bytes(b: &[u8]) -> Result<RateSpec, DecodeError> {
        if b.len() < RATESPEC_LEN {
            return Err(DecodeError::new("tc_ratespec", format!("{} bytes, need 12", b.len())));
        }
        Ok(RateSpec {
            cell_log: b[0],
            linklayer: b[1],
            overhead: u16::from_ne_bytes([b[2], b[3]]),
            cell_align: i16::from_ne_bytes([b[4], b[5]]),
            mpu: u16::from_ne_bytes([b[6], b[7]]),
            rate: u32::from_ne_bytes([b[8], b[9], b[10], b[11]]),
        })
    }

    /// The spec `tc` sends for `rate` (capped to 32 bits), before its table
    /// is computed.
    pub fn for_rate(rate: Rate) -> RateSpec {
        RateSpec { rate: rate.0.min(u32::MAX as u64) as u32, ..RateSpec::default() }
    }
}

/// Microseconds to ticks, as `tc_core_time2tick` (iproute2 6.1): both
/// truncated to 32 bits.
pub fn time_to_ticks(usec: u32) -> u32 {
    (usec as f64 * TICKS_PER_USEC) as u32
}

/// Ticks to microseconds, as `tc_core_tick2time`.
pub fn ticks_to_time(ticks: u32) -> u32 {
    (ticks as f64 / TICKS_PER_USEC) as u32
}

/// Ticks to send `size` bytes at `rate` bytes/s, as `tc_calc_xmittime`.
pub fn xmit_ticks(rate: u64, size: u32) -> u32 {
    if rate == 0 {
        return u32::MAX;
    }
    time_to_ticks((TIME_UNITS_PER_SEC * (size as f64 / rate as f64)) as u32)
}

/// Bytes sent at `rate` in `ticks`, as `tc_calc_xmitsize` (how `tc` prints
/// a burst from a buffer time).
pub fn xmit_size(rate: u64, ticks: u32) -> u64 {
    ((rate as f64 * ticks_to_time(ticks) as f64) / TIME_UNITS_PER_SEC) as u64
}

fn adjust_size(sz: u32, mpu: u32, linklayer: u8) -> u32 {
    let sz = sz.max(mpu);
    if linklayer == LINKLAYER_ATM {
        let cells = sz.div_ceil(48);
        cells * 53
    } else {
        sz
    }
}

/// Compute a rate table as `tc_calc_rtable`: fills `spec.cell_log` (from
/// `mtu`, 2047 when 0, unless `cell_log` is given), `cell_align` (-1) and
/// `linklayer`, and returns the 256 entries. The table uses `spec.rate`
/// (the 32-bit rate), as `tc` does.
pub fn rate_table(spec: &mut RateSpec, cell_log: Option<u8>, mtu: u32, linklayer: u8) -> [u32; 256] {
    let mtu = if mtu == 0 { 2047 } else { mtu };
    let cell_log = cell_log.unwrap_or_else(|| {
        let mut c = 0u8;
        while (mtu >> c) > 255 {
            c += 1;
        }
        c
    });
    let mut t = [0u32; 256];
    for (i, e) in t.iter_mut().enumerate() {
        let sz = adjust_size(((i as u32) + 1) << cell_log, spec.mpu as u32, linklayer);
        *e = xmit_ticks(spec.rate as u64, sz);
    }
    spec.cell_align = -1;
    spec.cell_log = cell_log;
    spec.linklayer = linklayer & 0x0f;
    t
}

/// The table as the 1,024 bytes of its attribute.
pub fn table_bytes(t: &[u32; 256]) -> Vec<u8> {
    t.iter().flat_map(|v| v.to_ne_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_parse_as_tc() {
        assert_eq!("10mbit".parse::<Rate>().unwrap(), Rate::mbit(10));
        assert_eq!(Rate::mbit(10).as_bytes(), 1_250_000);
        assert_eq!("1250000bps".parse::<Rate>().unwrap(), Rate::mbit(10));
        assert_eq!("800kbit".parse::<Rate>().unwrap(), Rate::kbit(800));
        assert_eq!("1gbit".parse::<Rate>().unwrap(), Rate::gbit(1));
        assert!("10 furlongs".parse::<Rate>().unwrap_err().to_string().contains("rate"));
        assert_eq!(Rate::mbit(10).to_string(), "10Mbit");
        assert_eq!(Rate::kbit(800).to_string(), "800Kbit");
    }

    #[test]
    fn ticks_match_tc() {
        // tc qdisc add ... tbf rate 10mbit burst 10kb: buffer 8192 us * 15.625.
        assert_eq!(xmit_ticks(1_250_000, 10 * 1024), 128_000);
        assert_eq!(xmit_size(1_250_000, 128_000), 10_240);
        let mut spec = RateSpec::for_rate(Rate::mbit(10));
        let t = rate_table(&mut spec, None, 0, LINKLAYER_ETHERNET);
        assert_eq!(spec.cell_log, 3);
        assert_eq!(spec.cell_align, -1);
        // 8 bytes at 1.25 MB/s: 6.4 us -> 6 us -> 93 ticks.
        assert_eq!(t[0], 93);
        assert_eq!(t[255], xmit_ticks(1_250_000, 2048));
    }
}
