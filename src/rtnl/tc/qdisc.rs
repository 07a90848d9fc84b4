//! Qdisc and class kinds: what `tc qdisc add ... KIND ...` and `tc class
//! add ... KIND ...` configure. Each typed kind decodes from and encodes to
//! `TCA_OPTIONS`; a kind netplumb does not model keeps its options as raw
//! bytes and sends them back unchanged.

use std::time::Duration;

use crate::error::{DecodeError, Error, Result};
use crate::rtnl::RawAttr;
use crate::wire::{AttrIter, AttrWriter};

use super::rate::{self, Rate, RateSpec, LINKLAYER_ETHERNET, PSCHED_HZ, RATESPEC_LEN};
use super::types::tca;

/// The kind of a qdisc and its settings.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum QdiscKind {
    /// `tbf`: token bucket filter.
    Tbf(Tbf),
    /// `htb`: hierarchical token bucket (its classes are [`HtbClass`]).
    Htb(Htb),
    /// `fq_codel`.
    FqCodel(FqCodel),
    /// `netem`: network emulator.
    Netem(Netem),
    /// `prio`.
    Prio(Prio),
    /// `ingress`.
    Ingress,
    /// `clsact`.
    Clsact,
    /// Any other kind, with its `TCA_OPTIONS` payload as the kernel sent it.
    Other {
        /// `TCA_KIND`, e.g. `"noqueue"`, `"pfifo_fast"`.
        kind: String,
        /// `TCA_OPTIONS` payload.
        options: Option<Vec<u8>>,
    },
}

impl QdiscKind {
    /// The kind as `tc` spells it.
    pub fn name(&self) -> &str {
        match self {
            QdiscKind::Tbf(_) => "tbf",
            QdiscKind::Htb(_) => "htb",
            QdiscKind::FqCodel(_) => "fq_codel",
            QdiscKind::Netem(_) => "netem",
            QdiscKind::Prio(_) => "prio",
            QdiscKind::Ingress => "ingress",
            QdiscKind::Clsact => "clsact",
            QdiscKind::Other { kind, .. } => kind,
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        match self {
            QdiscKind::Tbf(t) => t.validate(),
            QdiscKind::Prio(p) => p.validate(),
            QdiscKind::Other { kind, .. } if kind.is_empty() || kind.len() > 15 => {
                Err(Error::invalid("qdisc.kind", format!("{kind:?} is not a qdisc kind (1 to 15 bytes)")))
            }
            _ => Ok(()),
        }
    }

    /// Write `TCA_OPTIONS`.
    pub fn write_options(&self, w: &mut AttrWriter<'_>) {
        match self {
            QdiscKind::Tbf(t) => w.nest(tca::OPTIONS, |w| t.write(w)),
            QdiscKind::Htb(h) => w.nest(tca::OPTIONS, |w| h.write(w)),
            QdiscKind::FqCodel(f) => w.nest(tca::OPTIONS, |w| f.write(w)),
            QdiscKind::Netem(n) => w.nest(tca::OPTIONS, |w| n.write(w)),
            QdiscKind::Prio(p) => {
                w.bytes(tca::OPTIONS, &p.to_bytes());
            }
            QdiscKind::Ingress | QdiscKind::Clsact => {
                w.bytes(tca::OPTIONS, &[]);
            }
            QdiscKind::Other { options, .. } => {
                if let Some(o) = options {
                    w.bytes(tca::OPTIONS, o);
                }
            }
        }
    }

    /// Decode from `TCA_KIND` and `TCA_OPTIONS`.
    pub fn decode(kind: &str, options: Option<&[u8]>) -> Result<QdiscKind, DecodeError> {
        let o = options.unwrap_or(&[]);
        Ok(match kind {
            "tbf" => QdiscKind::Tbf(Tbf::decode(o)?),
            "htb" => QdiscKind::Htb(Htb::decode(o)?),
            "fq_codel" => QdiscKind::FqCodel(FqCodel::decode(o)?),
            "netem" => QdiscKind::Netem(Netem::decode(o)?),
            "prio" if options.is_some() => QdiscKind::Prio(Prio::decode(o)?),
            "ingress" if o.is_empty() => QdiscKind::Ingress,
            "clsact" if o.is_empty() => QdiscKind::Clsact,
            other => QdiscKind::Other { kind: other.to_string(), options: options.map(<[u8]>::to_vec) },
        })
    }
}

macro_rules! into_qdisc {
    ($($t:ident),*) => {$(
        impl From<$t> for QdiscKind {
            fn from(v: $t) -> QdiscKind {
                QdiscKind::$t(v)
            }
        }
    )*};
}
into_qdisc!(Tbf, Htb, FqCodel, Netem, Prio);

/// `TCA_TBF_*`.
#[allow(missing_docs)]
pub mod tbf_attr {
    pub const PARMS: u16 = 1;
    pub const RTAB: u16 = 2;
    pub const PTAB: u16 = 3;
    pub const RATE64: u16 = 4;
    pub const PRATE64: u16 = 5;
    pub const BURST: u16 = 6;
    pub const PBURST: u16 = 7;
}

/// A token bucket filter: `tc qdisc add dev X root tbf rate R burst B
/// (limit L | latency T) [peakrate P mtu M]`.
///
/// The fields are the kernel's (`struct tc_tbf_qopt` and the `TCA_TBF_*`
/// attributes); [`Tbf::new`] and [`Tbf::with_latency`] fill them as `tc`
/// does, rate table included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tbf {
    /// The rate (32-bit; see `rate64`).
    pub rate: RateSpec,
    /// The peak rate (rate 0: none).
    pub peakrate: RateSpec,
    /// Bytes that may queue.
    pub limit: u32,
    /// Bucket size as the time to send it at `rate`, in scheduler ticks.
    pub buffer: u32,
    /// Peak bucket as ticks at the peak rate.
    pub mtu: u32,
    /// `TCA_TBF_RATE64`: the rate when it does not fit 32 bits.
    pub rate64: Option<u64>,
    /// `TCA_TBF_PRATE64`.
    pub prate64: Option<u64>,
    /// `TCA_TBF_BURST`: the bucket in bytes (requests only).
    pub burst: Option<u32>,
    /// `TCA_TBF_PBURST`: the peak bucket in bytes (requests only).
    pub pburst: Option<u32>,
    /// `TCA_TBF_RTAB`: the rate table `tc` sends (1,024 bytes).
    pub rtab: Option<Vec<u8>>,
    /// `TCA_TBF_PTAB`: the peak-rate table.
    pub ptab: Option<Vec<u8>>,
    /// Attributes netplumb does not model.
    pub other: Vec<RawAttr>,
}

impl Tbf {
    /// `tbf rate RATE burst BURST limit LIMIT` (bytes), as `tc` encodes it.
    pub fn new(rate: Rate, burst: u32, limit: u32) -> Tbf {
        let mut spec = RateSpec::for_rate(rate);
        let table = rate::rate_table(&mut spec, None, 0, LINKLAYER_ETHERNET);
        Tbf {
            buffer: rate::xmit_ticks(spec.rate as u64, burst),
            rate: spec,
            peakrate: RateSpec::default(),
            limit,
            mtu: 0,
            rate64: (rate.0 > u32::MAX as u64).then_some(rate.0),
            prate64: None,
            burst: Some(burst),
            pburst: None,
            rtab: Some(rate::table_bytes(&table)),
            ptab: None,
            other: Vec::new(),
        }
    }

    /// `tbf rate RATE burst BURST latency LATENCY`: the limit is what
    /// `rate` sends in `latency`, plus the burst (`tc`'s formula).
    pub fn with_latency(rate: Rate, burst: u32, latency: Duration) -> Tbf {
        let lat = latency.as_micros().min(u32::MAX as u128) as f64;
        let lim = rate.0 as f64 * lat / rate::TIME_UNITS_PER_SEC + burst as f64;
        Tbf::new(rate, burst, lim.min(u32::MAX as f64) as u32)
    }

    /// Only `struct tc_tbf_qopt` with a bucket already in ticks, no rate
    /// table and no `TCA_TBF_BURST`: what Go's vishvananda/netlink (and so
    /// the reference CNI `bandwidth` plugin) sends. The kernel then keeps
    /// `buffer` as given.
    pub fn raw(rate: Rate, buffer: u32, limit: u32) -> Tbf {
        Tbf {
            rate: RateSpec::for_rate(rate),
            peakrate: RateSpec::default(),
            limit,
            buffer,
            mtu: 0,
            rate64: (rate.0 >= 1 << 32).then_some(rate.0),
            prate64: None,
            burst: None,
            pburst: None,
            rtab: None,
            ptab: None,
            other: Vec::new(),
        }
    }

    /// Add `peakrate PEAK mtu MTU`.
    pub fn peakrate(mut self, peak: Rate, mtu: u32) -> Tbf {
        let mut spec = RateSpec::for_rate(peak);
        let table = rate::rate_table(&mut spec, None, mtu, LINKLAYER_ETHERNET);
        self.mtu = rate::xmit_ticks(spec.rate as u64, mtu);
        self.peakrate = spec;
        self.prate64 = (peak.0 > u32::MAX as u64).then_some(peak.0);
        self.pburst = Some(mtu);
        self.ptab = Some(rate::table_bytes(&table));
        // tc computes the rate table with the same mtu.
        let mut r = self.rate;
        let t = rate::rate_table(&mut r, None, mtu, LINKLAYER_ETHERNET);
        self.rate = r;
        self.rtab = Some(rate::table_bytes(&t));
        self
    }

    /// The rate.
    pub fn rate(&self) -> Rate {
        Rate(self.rate64.unwrap_or(self.rate.rate as u64))
    }

    /// The bucket in bytes, as `tc` prints `burst` (from the buffer time).
    pub fn burst_bytes(&self) -> u64 {
        self.burst.map(u64::from).unwrap_or_else(|| rate::xmit_size(self.rate().0, self.buffer))
    }

    fn validate(&self) -> Result<()> {
        if self.rate.rate == 0 {
            return Err(Error::invalid("tbf.rate", "0; a token bucket needs a rate"));
        }
        if self.limit == 0 {
            return Err(Error::invalid("tbf.limit", "0 bytes; give a limit or a latency"));
        }
        if self.buffer == 0 {
            return Err(Error::invalid("tbf.burst", "0; the bucket must hold at least one packet"));
        }
        Ok(())
    }

    fn write(&self, w: &mut AttrWriter<'_>) {
        let mut p = Vec::with_capacity(36);
        p.extend_from_slice(&self.rate.to_bytes());
        p.extend_from_slice(&self.peakrate.to_bytes());
        for v in [self.limit, self.buffer, self.mtu] {
            p.extend_from_slice(&v.to_ne_bytes());
        }
        w.bytes(tbf_attr::PARMS, &p);
        if let Some(b) = self.burst {
            w.u32(tbf_attr::BURST, b);
        }
        if let Some(r) = self.rate64 {
            w.u64(tbf_attr::RATE64, r);
        }
        if let Some(t) = &self.rtab {
            w.bytes(tbf_attr::RTAB, t);
        }
        if let Some(r) = self.prate64 {
            w.u64(tbf_attr::PRATE64, r);
        }
        if let Some(b) = self.pburst {
            w.u32(tbf_attr::PBURST, b);
        }
        if let Some(t) = &self.ptab {
            w.bytes(tbf_attr::PTAB, t);
        }
        RawAttr::write_all(w, &self.other);
    }

    fn decode(o: &[u8]) -> Result<Tbf, DecodeError> {
        let mut t = Tbf {
            rate: RateSpec::default(),
            peakrate: RateSpec::default(),
            limit: 0,
            buffer: 0,
            mtu: 0,
            rate64: None,
            prate64: None,
            burst: None,
            pburst: None,
            rtab: None,
            ptab: None,
            other: Vec::new(),
        };
        let mut parms = false;
        for a in AttrIter::new(o) {
            let a = a?;
            match a.kind() {
                tbf_attr::PARMS => {
                    let b = a.payload;
                    if b.len() < 36 {
                        return Err(DecodeError::new("TCA_TBF_PARMS", format!("{} bytes, need 36", b.len())));
                    }
                    t.rate = RateSpec::from_bytes(&b[0..12])?;
                    t.peakrate = RateSpec::from_bytes(&b[12..24])?;
                    let u = |i: usize| u32::from_ne_bytes(b[i..i + 4].try_into().expect("4"));
                    (t.limit, t.buffer, t.mtu) = (u(24), u(28), u(32));
                    parms = true;
                }
                tbf_attr::RATE64 => t.rate64 = Some(a.u64()?),
                tbf_attr::PRATE64 => t.prate64 = Some(a.u64()?),
                tbf_attr::BURST => t.burst = Some(a.u32()?),
                tbf_attr::PBURST => t.pburst = Some(a.u32()?),
                tbf_attr::RTAB => t.rtab = Some(a.payload.to_vec()),
                tbf_attr::PTAB => t.ptab = Some(a.payload.to_vec()),
                _ => t.other.push(RawAttr::from(a)),
            }
        }
        if !parms {
            return Err(DecodeError::new("tbf options", "no TCA_TBF_PARMS"));
        }
        Ok(t)
    }
}

/// `TCA_HTB_*`.
#[allow(missing_docs)]
pub mod htb_attr {
    pub const PARMS: u16 = 1;
    pub const INIT: u16 = 2;
    pub const CTAB: u16 = 3;
    pub const RTAB: u16 = 4;
    pub const DIRECT_QLEN: u16 = 5;
    pub const RATE64: u16 = 6;
    pub const CEIL64: u16 = 7;
    pub const OFFLOAD: u16 = 9;
}

/// An HTB qdisc: `tc qdisc add dev X root handle 1: htb [default N]
/// [r2q Q] [direct_qlen P]` (`struct tc_htb_glob`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Htb {
    /// `version` (3).
    pub version: u32,
    /// `r2q`: rate to quantum divisor (10).
    pub rate2quantum: u32,
    /// `default`: the minor of the class unclassified traffic goes to (0:
    /// sent unshaped).
    pub default_class: u32,
    /// `debug`.
    pub debug: u32,
    /// Packets sent unclassified (read-only counter).
    pub direct_pkts: u32,
    /// `direct_qlen`.
    pub direct_qlen: Option<u32>,
    /// `offload`.
    pub offload: bool,
    /// Attributes netplumb does not model.
    pub other: Vec<RawAttr>,
}

impl Htb {
    /// `htb default DEFAULT` (hex minor, as `tc` reads it).
    pub fn new(default_class: u16) -> Htb {
        Htb {
            version: 3,
            rate2quantum: 10,
            default_class: default_class as u32,
            debug: 0,
            direct_pkts: 0,
            direct_qlen: None,
            offload: false,
            other: Vec::new(),
        }
    }

    fn write(&self, w: &mut AttrWriter<'_>) {
        let mut b = Vec::with_capacity(20);
        for v in [self.version, self.rate2quantum, self.default_class, self.debug, self.direct_pkts] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        w.bytes(htb_attr::INIT, &b);
        if let Some(q) = self.direct_qlen {
            w.u32(htb_attr::DIRECT_QLEN, q);
        }
        if self.offload {
            w.flag(htb_attr::OFFLOAD);
        }
        RawAttr::write_all(w, &self.other);
    }

    fn decode(o: &[u8]) -> Result<Htb, DecodeError> {
        let mut h = Htb::new(0);
        h.version = 0;
        h.rate2quantum = 0;
        let mut init = false;
        for a in AttrIter::new(o) {
            let a = a?;
            match a.kind() {
                htb_attr::INIT => {
                    let b = a.payload;
                    if b.len() < 20 {
                        return Err(DecodeError::new("TCA_HTB_INIT", format!("{} bytes, need 20", b.len())));
                    }
                    let u = |i: usize| u32::from_ne_bytes(b[i..i + 4].try_into().expect("4"));
                    (h.version, h.rate2quantum, h.default_class, h.debug, h.direct_pkts) =
                        (u(0), u(4), u(8), u(12), u(16));
                    init = true;
                }
                htb_attr::DIRECT_QLEN => h.direct_qlen = Some(a.u32()?),
                htb_attr::OFFLOAD if a.payload.is_empty() => h.offload = true,
                _ => h.other.push(RawAttr::from(a)),
            }
        }
        if !init {
            return Err(DecodeError::new("htb options", "no TCA_HTB_INIT"));
        }
        Ok(h)
    }
}

/// The kind of a class and its settings.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClassKind {
    /// An HTB class.
    Htb(HtbClass),
    /// Any other kind, raw.
    Other {
        /// `TCA_KIND`.
        kind: String,
        /// `TCA_OPTIONS` payload.
        options: Option<Vec<u8>>,
    },
}

impl ClassKind {
    /// The kind as `tc` spells it.
    pub fn name(&self) -> &str {
        match self {
            ClassKind::Htb(_) => "htb",
            ClassKind::Other { kind, .. } => kind,
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        match self {
            ClassKind::Htb(h) => h.validate(),
            ClassKind::Other { .. } => Ok(()),
        }
    }

    /// Write `TCA_OPTIONS`.
    pub fn write_options(&self, w: &mut AttrWriter<'_>) {
        match self {
            ClassKind::Htb(h) => w.nest(tca::OPTIONS, |w| h.write(w)),
            ClassKind::Other { options, .. } => {
                if let Some(o) = options {
                    w.bytes(tca::OPTIONS, o);
                }
            }
        }
    }

    /// Decode from `TCA_KIND` and `TCA_OPTIONS`.
    pub fn decode(kind: &str, options: Option<&[u8]>) -> Result<ClassKind, DecodeError> {
        Ok(match (kind, options) {
            ("htb", Some(o)) => ClassKind::Htb(HtbClass::decode(o)?),
            (other, _) => ClassKind::Other { kind: other.to_string(), options: options.map(<[u8]>::to_vec) },
        })
    }
}

impl From<HtbClass> for ClassKind {
    fn from(v: HtbClass) -> ClassKind {
        ClassKind::Htb(v)
    }
}

/// An HTB class: `tc class add dev X parent 1: classid 1:10 htb rate R
/// [ceil C] [burst B] [cburst CB] [prio P] [quantum Q]` (`struct
/// tc_htb_opt`). [`HtbClass::new`] computes bursts and rate tables as `tc`
/// does (mtu 1600, default burst `rate / hz + mtu`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HtbClass {
    /// Guaranteed rate (32-bit; see `rate64`).
    pub rate: RateSpec,
    /// Ceiling (32-bit; see `ceil64`).
    pub ceil: RateSpec,
    /// Burst at `rate`, in ticks.
    pub buffer: u32,
    /// Burst at `ceil`, in ticks.
    pub cbuffer: u32,
    /// `quantum` (0: from `r2q`).
    pub quantum: u32,
    /// Level in the hierarchy (read-only).
    pub level: u32,
    /// `prio`.
    pub prio: u32,
    /// `TCA_HTB_RATE64`.
    pub rate64: Option<u64>,
    /// `TCA_HTB_CEIL64`.
    pub ceil64: Option<u64>,
    /// `TCA_HTB_RTAB` (requests).
    pub rtab: Option<Vec<u8>>,
    /// `TCA_HTB_CTAB` (requests).
    pub ctab: Option<Vec<u8>>,
    /// Attributes netplumb does not model.
    pub other: Vec<RawAttr>,
}

/// The mtu `tc` assumes for HTB classes.
const HTB_MTU: u32 = 1600;

impl HtbClass {
    /// `htb rate RATE [ceil CEIL]` (ceil defaults to the rate).
    pub fn new(rate: Rate, ceil: Option<Rate>) -> HtbClass {
        let ceil = ceil.unwrap_or(rate);
        let mut c = HtbClass {
            rate: RateSpec::for_rate(rate),
            ceil: RateSpec::for_rate(ceil),
            buffer: 0,
            cbuffer: 0,
            quantum: 0,
            level: 0,
            prio: 0,
            rate64: (rate.0 >= 1 << 32).then_some(rate.0),
            ceil64: (ceil.0 >= 1 << 32).then_some(ceil.0),
            rtab: None,
            ctab: None,
            other: Vec::new(),
        };
        let rt = rate::rate_table(&mut c.rate, None, HTB_MTU, LINKLAYER_ETHERNET);
        let ct = rate::rate_table(&mut c.ceil, None, HTB_MTU, LINKLAYER_ETHERNET);
        c.rtab = Some(rate::table_bytes(&rt));
        c.ctab = Some(rate::table_bytes(&ct));
        c.buffer = rate::xmit_ticks(rate.0, (rate.0 / PSCHED_HZ) as u32 + HTB_MTU);
        c.cbuffer = rate::xmit_ticks(ceil.0, (ceil.0 / PSCHED_HZ) as u32 + HTB_MTU);
        c
    }

    /// `burst BYTES`.
    pub fn burst(mut self, bytes: u32) -> Self {
        self.buffer = rate::xmit_ticks(self.rate(), bytes);
        self
    }

    /// `cburst BYTES`.
    pub fn cburst(mut self, bytes: u32) -> Self {
        self.cbuffer = rate::xmit_ticks(self.ceil(), bytes);
        self
    }

    /// `prio P`.
    pub fn prio(mut self, p: u32) -> Self {
        self.prio = p;
        self
    }

    /// `quantum Q`.
    pub fn quantum(mut self, q: u32) -> Self {
        self.quantum = q;
        self
    }

    /// The rate in bytes/s.
    pub fn rate(&self) -> u64 {
        self.rate64.unwrap_or(self.rate.rate as u64)
    }

    /// The ceiling in bytes/s.
    pub fn ceil(&self) -> u64 {
        self.ceil64.unwrap_or(self.ceil.rate as u64)
    }

    fn validate(&self) -> Result<()> {
        if self.rate() == 0 {
            return Err(Error::invalid("htb.rate", "0; an HTB class needs a rate"));
        }
        if self.ceil() < self.rate() {
            return Err(Error::invalid(
                "htb.ceil",
                format!("{} B/s is below the rate {} B/s", self.ceil(), self.rate()),
            ));
        }
        Ok(())
    }

    fn write(&self, w: &mut AttrWriter<'_>) {
        if let Some(r) = self.rate64 {
            w.u64(htb_attr::RATE64, r);
        }
        if let Some(r) = self.ceil64 {
            w.u64(htb_attr::CEIL64, r);
        }
        let mut p = Vec::with_capacity(44);
        p.extend_from_slice(&self.rate.to_bytes());
        p.extend_from_slice(&self.ceil.to_bytes());
        for v in [self.buffer, self.cbuffer, self.quantum, self.level, self.prio] {
            p.extend_from_slice(&v.to_ne_bytes());
        }
        w.bytes(htb_attr::PARMS, &p);
        if let Some(t) = &self.rtab {
            w.bytes(htb_attr::RTAB, t);
        }
        if let Some(t) = &self.ctab {
            w.bytes(htb_attr::CTAB, t);
        }
        RawAttr::write_all(w, &self.other);
    }

    fn decode(o: &[u8]) -> Result<HtbClass, DecodeError> {
        let mut c = HtbClass {
            rate: RateSpec::default(),
            ceil: RateSpec::default(),
            buffer: 0,
            cbuffer: 0,
            quantum: 0,
            level: 0,
            prio: 0,
            rate64: None,
            ceil64: None,
            rtab: None,
            ctab: None,
            other: Vec::new(),
        };
        let mut parms = false;
        for a in AttrIter::new(o) {
            let a = a?;
            match a.kind() {
                htb_attr::PARMS => {
                    let b = a.payload;
                    if b.len() < 2 * RATESPEC_LEN + 20 {
                        return Err(DecodeError::new("TCA_HTB_PARMS", format!("{} bytes, need 44", b.len())));
                    }
                    c.rate = RateSpec::from_bytes(&b[0..12])?;
                    c.ceil = RateSpec::from_bytes(&b[12..24])?;
                    let u = |i: usize| u32::from_ne_bytes(b[i..i + 4].try_into().expect("4"));
                    (c.buffer, c.cbuffer, c.quantum, c.level, c.prio) = (u(24), u(28), u(32), u(36), u(40));
                    parms = true;
                }
                htb_attr::RATE64 => c.rate64 = Some(a.u64()?),
                htb_attr::CEIL64 => c.ceil64 = Some(a.u64()?),
                htb_attr::RTAB => c.rtab = Some(a.payload.to_vec()),
                htb_attr::CTAB => c.ctab = Some(a.payload.to_vec()),
                _ => c.other.push(RawAttr::from(a)),
            }
        }
        if !parms {
            return Err(DecodeError::new("htb class options", "no TCA_HTB_PARMS"));
        }
        Ok(c)
    }
}

/// `TCA_FQ_CODEL_*`.
#[allow(missing_docs)]
pub mod fq_codel_attr {
    pub const TARGET: u16 = 1;
    pub const LIMIT: u16 = 2;
    pub const INTERVAL: u16 = 3;
    pub const ECN: u16 = 4;
    pub const FLOWS: u16 = 5;
    pub const QUANTUM: u16 = 6;
    pub const CE_THRESHOLD: u16 = 7;
    pub const DROP_BATCH_SIZE: u16 = 8;
    pub const MEMORY_LIMIT: u16 = 9;
}

/// Fair queueing with CoDel: `tc qdisc add ... fq_codel [limit P] [flows
/// N] [target T] [interval T] [quantum B] [ecn|noecn] [ce_threshold T]
/// [memory_limit B] [drop_batch N]`. Unset fields keep the kernel's
/// defaults (`None`). Times are in microseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FqCodel {
    /// `target` (µs).
    pub target: Option<u32>,
    /// `limit` (packets).
    pub limit: Option<u32>,
    /// `interval` (µs).
    pub interval: Option<u32>,
    /// `ecn` (1) / `noecn` (0).
    pub ecn: Option<u32>,
    /// `flows`.
    pub flows: Option<u32>,
    /// `quantum` (bytes).
    pub quantum: Option<u32>,
    /// `ce_threshold` (µs).
    pub ce_threshold: Option<u32>,
    /// `drop_batch`.
    pub drop_batch_size: Option<u32>,
    /// `memory_limit` (bytes).
    pub memory_limit: Option<u32>,
    /// Attributes netplumb does not model.
    pub other: Vec<RawAttr>,
}

impl FqCodel {
    fn fields(&self) -> [(u16, Option<u32>); 9] {
        use fq_codel_attr::*;
        [
            (TARGET, self.target),
            (LIMIT, self.limit),
            (INTERVAL, self.interval),
            (ECN, self.ecn),
            (FLOWS, self.flows),
            (QUANTUM, self.quantum),
            (CE_THRESHOLD, self.ce_threshold),
            (DROP_BATCH_SIZE, self.drop_batch_size),
            (MEMORY_LIMIT, self.memory_limit),
        ]
    }

    fn write(&self, w: &mut AttrWriter<'_>) {
        for (ty, v) in self.fields() {
            if let Some(v) = v {
                w.u32(ty, v);
            }
        }
        RawAttr::write_all(w, &self.other);
    }

    fn decode(o: &[u8]) -> Result<FqCodel, DecodeError> {
        use fq_codel_attr::*;
        let mut f = FqCodel::default();
        for a in AttrIter::new(o) {
            let a = a?;
            let slot = match a.kind() {
                TARGET => &mut f.target,
                LIMIT => &mut f.limit,
                INTERVAL => &mut f.interval,
                ECN => &mut f.ecn,
                FLOWS => &mut f.flows,
                QUANTUM => &mut f.quantum,
                CE_THRESHOLD => &mut f.ce_threshold,
                DROP_BATCH_SIZE => &mut f.drop_batch_size,
                MEMORY_LIMIT => &mut f.memory_limit,
                _ => {
                    f.other.push(RawAttr::from(a));
                    continue;
                }
            };
            match a.u32() {
                Ok(v) => *slot = Some(v),
                Err(_) => f.other.push(RawAttr::from(a)),
            }
        }
        Ok(f)
    }
}

/// `TCA_NETEM_*` after `struct tc_netem_qopt`.
#[allow(missing_docs)]
pub mod netem_attr {
    pub const LATENCY64: u16 = 10;
    pub const JITTER64: u16 = 11;
}

/// The network emulator: `tc qdisc add ... netem [limit P] [delay T
/// [JITTER]] [loss P%] [duplicate P%] [gap N]`. The fixed part is `struct
/// tc_netem_qopt` (latency and jitter in ticks, probabilities scaled to
/// `u32::MAX`); the nanosecond delays go in `TCA_NETEM_LATENCY64`/
/// `JITTER64`; other attributes (correlation, reorder, rate, slot ...)
/// are kept raw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Netem {
    /// Delay in ticks (32-bit).
    pub latency: u32,
    /// `limit` (packets; `tc` default 1000).
    pub limit: u32,
    /// `loss` probability, `u32::MAX` = 100%.
    pub loss: u32,
    /// `gap`.
    pub gap: u32,
    /// `duplicate` probability.
    pub duplicate: u32,
    /// Jitter in ticks (32-bit).
    pub jitter: u32,
    /// `TCA_NETEM_LATENCY64` (ns).
    pub latency64: Option<i64>,
    /// `TCA_NETEM_JITTER64` (ns).
    pub jitter64: Option<i64>,
    /// Other `TCA_NETEM_*` attributes, raw.
    pub other: Vec<RawAttr>,
}

impl Netem {
    /// `netem delay DELAY [limit 1000]`, as `tc` (iproute2 6.1) encodes
    /// it: the delay in ticks in `struct tc_netem_qopt` only. A delay whose
    /// ticks do not fit 32 bits goes in `TCA_NETEM_LATENCY64` (ns), which
    /// the kernel then uses instead.
    pub fn delay(delay: Duration) -> Netem {
        let us = delay.as_micros().min(u32::MAX as u128) as u32;
        let ticks = us as f64 * rate::TICKS_PER_USEC;
        let fits = ticks < u32::MAX as f64;
        Netem {
            latency: if fits { rate::time_to_ticks(us) } else { u32::MAX },
            limit: 1000,
            loss: 0,
            gap: 0,
            duplicate: 0,
            jitter: 0,
            latency64: (!fits).then(|| delay.as_nanos().min(i64::MAX as u128) as i64),
            jitter64: None,
            other: Vec::new(),
        }
    }

    /// `loss PERCENT`, scaled to `u32::MAX` and rounded to the nearest
    /// integer as `tc` does (`loss 1%` is 42,949,673).
    pub fn loss(mut self, percent: f64) -> Netem {
        self.loss = (percent.clamp(0.0, 100.0) / 100.0 * u32::MAX as f64).round() as u32;
        self
    }

    fn write(&self, w: &mut AttrWriter<'_>) {
        let mut b = Vec::with_capacity(24);
        for v in [self.latency, self.limit, self.loss, self.gap, self.duplicate, self.jitter] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        w.raw(&b);
        if let Some(l) = self.latency64 {
            w.bytes(netem_attr::LATENCY64, &l.to_ne_bytes());
        }
        if let Some(j) = self.jitter64 {
            w.bytes(netem_attr::JITTER64, &j.to_ne_bytes());
        }
        RawAttr::write_all(w, &self.other);
    }

    fn decode(o: &[u8]) -> Result<Netem, DecodeError> {
        if o.len() < 24 {
            return Err(DecodeError::new("netem options", format!("{} bytes, need 24", o.len())));
        }
        let u = |i: usize| u32::from_ne_bytes(o[i..i + 4].try_into().expect("4"));
        let mut n = Netem {
            latency: u(0),
            limit: u(4),
            loss: u(8),
            gap: u(12),
            duplicate: u(16),
            jitter: u(20),
            latency64: None,
            jitter64: None,
            other: Vec::new(),
        };
        for a in AttrIter::new(&o[24..]) {
            let a = a?;
            match (a.kind(), a.payload.len()) {
                (netem_attr::LATENCY64, 8) => n.latency64 = Some(a.u64()? as i64),
                (netem_attr::JITTER64, 8) => n.jitter64 = Some(a.u64()? as i64),
                _ => n.other.push(RawAttr::from(a)),
            }
        }
        Ok(n)
    }
}

/// The `prio` qdisc: `tc qdisc add ... prio [bands N] [priomap P ...]`
/// (`struct tc_prio_qopt`, carried directly in `TCA_OPTIONS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prio {
    /// `bands` (2 to 16; `tc` default 3).
    pub bands: i32,
    /// Band of each of the 16 Linux priorities.
    pub priomap: [u8; 16],
}

impl Default for Prio {
    /// `tc`'s default: 3 bands, priomap `1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1`.
    fn default() -> Prio {
        Prio { bands: 3, priomap: [1, 2, 2, 2, 1, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1] }
    }
}

impl Prio {
    fn validate(&self) -> Result<()> {
        if !(2..=16).contains(&self.bands) {
            return Err(Error::invalid("prio.bands", format!("{} is outside 2..=16", self.bands)));
        }
        if let Some(b) = self.priomap.iter().find(|b| **b as i32 >= self.bands) {
            return Err(Error::invalid("prio.priomap", format!("band {b} of {} bands", self.bands)));
        }
        Ok(())
    }

    fn to_bytes(self) -> [u8; 20] {
        let mut b = [0u8; 20];
        b[..4].copy_from_slice(&self.bands.to_ne_bytes());
        b[4..].copy_from_slice(&self.priomap);
        b
    }

    fn decode(o: &[u8]) -> Result<Prio, DecodeError> {
        if o.len() != 20 {
            return Err(DecodeError::new("prio options", format!("{} bytes, need 20", o.len())));
        }
        Ok(Prio {
            bands: i32::from_ne_bytes(o[..4].try_into().expect("4")),
            priomap: o[4..20].try_into().expect("16"),
        })
    }
}
