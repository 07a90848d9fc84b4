//! The three traffic-control objects as messages: [`Qdisc`], [`Class`] and
//! [`Filter`] (`struct tcmsg` plus `TCA_*` attributes), their handles and
//! statistics. Pure encode/decode, no I/O.

use crate::error::{DecodeError, Error, Result};
use crate::rtnl::{IfIndex, RawAttr};
use crate::wire::{attrs_after, AttrWriter, Msg};

use super::filter::FilterKind;
use super::qdisc::{ClassKind, QdiscKind};
pub use super::types::{tca, Stats, TcHandle, TcHeader, TCMSG_LEN};

/// What the kernel reports about an object and never takes back: its
/// statistics and the kind's extra statistics. Not encoded in requests.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct KernelInfo {
    /// `TCA_STATS2` (or the old `TCA_STATS`), as `tc -s` shows.
    pub stats: Option<Stats>,
    /// `TCA_XSTATS`: the kind's own statistics, raw.
    pub xstats: Option<Vec<u8>>,
    /// `TCA_HW_OFFLOAD`: whether hardware runs it.
    pub hw_offload: Option<bool>,
    /// Other read-only attributes (`TCA_DUMP_INVISIBLE`, `TCA_EXT_WARN_MSG`, `TCA_PAD`).
    pub other: Vec<RawAttr>,
}

/// The parts shared by the three objects, as decoded.
pub(crate) struct Common<'a> {
    pub header: TcHeader,
    pub kind: &'a str,
    pub options: Option<&'a [u8]>,
    pub chain: Option<u32>,
    pub info: KernelInfo,
    pub unknown: Vec<RawAttr>,
}

pub(crate) fn parse_common<'a>(p: &'a [u8]) -> Result<Common<'a>, DecodeError> {
    let header = TcHeader::parse(p)?;
    let mut c = Common {
        header,
        kind: "",
        options: None,
        chain: None,
        info: KernelInfo::default(),
        unknown: Vec::new(),
    };
    let mut stats1 = None;
    let mut kind = None;
    for a in attrs_after(p, TCMSG_LEN) {
        let a = a?;
        match a.kind() {
            tca::KIND => kind = Some(a.str().map_err(|e| DecodeError::new("TCA_KIND", e.to_string()))?),
            tca::OPTIONS => c.options = Some(a.payload),
            tca::CHAIN => c.chain = Some(a.u32()?),
            tca::STATS2 => c.info.stats = Some(Stats::parse_stats2(a.payload)?),
            tca::STATS => stats1 = Some(Stats::parse_stats(a.payload)?),
            tca::XSTATS => c.info.xstats = Some(a.payload.to_vec()),
            tca::HW_OFFLOAD => c.info.hw_offload = Some(a.u8()? != 0),
            tca::DUMP_INVISIBLE | tca::EXT_WARN_MSG | tca::PAD => c.info.other.push(RawAttr::from(a)),
            _ => c.unknown.push(RawAttr::from(a)),
        }
    }
    if c.info.stats.is_none() {
        c.info.stats = stats1;
    }
    c.kind = kind.ok_or_else(|| DecodeError::new("tcmsg", "no TCA_KIND"))?;
    Ok(c)
}

/// The `struct tcmsg` of a qdisc or class: device, parent, handle, info.
fn object_header(ifindex: IfIndex, parent: TcHandle, handle: TcHandle, info: u32) -> [u8; TCMSG_LEN] {
    TcHeader { family: 0, ifindex: ifindex.0 as i32, handle: handle.0, parent: parent.0, info }.to_bytes()
}

impl Common<'_> {
    /// The undecoded attributes of a qdisc or class, with `TCA_CHAIN` among
    /// them (only filters model a chain).
    fn unknown_with_chain(&mut self) -> Vec<RawAttr> {
        let mut unknown = std::mem::take(&mut self.unknown);
        if let Some(ch) = self.chain {
            unknown.push(RawAttr { kind: tca::CHAIN, payload: ch.to_ne_bytes().to_vec() });
        }
        unknown
    }
}

fn ifindex_of(h: &TcHeader) -> Result<IfIndex, DecodeError> {
    u32::try_from(h.ifindex)
        .map(IfIndex)
        .map_err(|_| DecodeError::new("tcmsg", format!("ifindex {}", h.ifindex)))
}

/// A queueing discipline on a device: `tc qdisc`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Qdisc {
    /// The device.
    pub ifindex: IfIndex,
    /// Its handle (`handle 1:`); [`TcHandle::UNSPEC`] lets the kernel pick.
    pub handle: TcHandle,
    /// Where it hangs: [`TcHandle::ROOT`], [`TcHandle::INGRESS`], or a
    /// class (`parent 1:10`).
    pub parent: TcHandle,
    /// `tcm_info` (the kernel's reference count in replies; 0 in requests).
    pub info: u32,
    /// The kind and its settings.
    pub kind: QdiscKind,
    /// Statistics and other read-only attributes.
    pub kernel: KernelInfo,
    /// Attributes netplumb does not model (`TCA_STAB`, blocks ...), sent
    /// back as they came.
    pub unknown: Vec<RawAttr>,
}

impl Qdisc {
    /// A qdisc of `kind` on `ifindex` with `handle` under `parent`.
    pub fn new(ifindex: IfIndex, parent: TcHandle, handle: TcHandle, kind: impl Into<QdiscKind>) -> Qdisc {
        Qdisc {
            ifindex,
            handle,
            parent,
            info: 0,
            kind: kind.into(),
            kernel: KernelInfo::default(),
            unknown: Vec::new(),
        }
    }

    /// The root qdisc of a device: `tc qdisc add dev X root handle H KIND`.
    pub fn root(ifindex: IfIndex, handle: TcHandle, kind: impl Into<QdiscKind>) -> Qdisc {
        Qdisc::new(ifindex, TcHandle::ROOT, handle, kind)
    }

    /// `tc qdisc add dev X ingress` (handle `ffff:`).
    pub fn ingress(ifindex: IfIndex) -> Qdisc {
        Qdisc::new(ifindex, TcHandle::INGRESS, TcHandle::INGRESS_QDISC, QdiscKind::Ingress)
    }

    /// `tc qdisc add dev X clsact` (handle `ffff:`).
    pub fn clsact(ifindex: IfIndex) -> Qdisc {
        Qdisc::new(ifindex, TcHandle::INGRESS, TcHandle::INGRESS_QDISC, QdiscKind::Clsact)
    }

    /// Statistics, if the kernel sent them.
    pub fn stats(&self) -> Option<&Stats> {
        self.kernel.stats.as_ref()
    }

    /// Check before anything is sent.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the field.
    pub fn validate(&self) -> Result<()> {
        if self.ifindex.0 == 0 || self.ifindex.0 > i32::MAX as u32 {
            return Err(Error::invalid("qdisc.ifindex", format!("{} is not a device index", self.ifindex.0)));
        }
        if self.parent == TcHandle::UNSPEC {
            return Err(Error::invalid("qdisc.parent", "a qdisc needs a parent (root, ingress or a class)"));
        }
        if matches!(self.kind, QdiscKind::Ingress | QdiscKind::Clsact) && self.parent != TcHandle::INGRESS {
            return Err(Error::invalid(
                "qdisc.parent",
                format!("{} must hang from ffff:fff1", self.kind.name()),
            ));
        }
        if self.handle.minor() != 0 {
            return Err(Error::invalid(
                "qdisc.handle",
                format!("{} has a minor number; qdisc handles are MAJ:", self.handle),
            ));
        }
        self.kind.validate()
    }

    /// Encode an `RTM_NEWQDISC` payload (pure; no validation).
    pub fn write(&self, w: &mut AttrWriter<'_>) {
        w.raw(&object_header(self.ifindex, self.parent, self.handle, self.info));
        w.str(tca::KIND, self.kind.name());
        self.kind.write_options(w);
        RawAttr::write_all(w, &self.unknown);
    }

    /// Encode an `RTM_DELQDISC` payload: device, parent and handle.
    pub fn write_delete(&self, w: &mut AttrWriter<'_>) {
        w.raw(&object_header(self.ifindex, self.parent, self.handle, 0));
    }

    /// Decode an `RTM_NEWQDISC`/`RTM_DELQDISC` message.
    pub fn parse(m: &Msg<'_>) -> Result<Qdisc, DecodeError> {
        Qdisc::parse_payload(m.payload)
    }

    /// Decode a payload (after `struct nlmsghdr`).
    pub fn parse_payload(p: &[u8]) -> Result<Qdisc, DecodeError> {
        let mut c = parse_common(p)?;
        let unknown = c.unknown_with_chain();
        Ok(Qdisc {
            ifindex: ifindex_of(&c.header)?,
            handle: TcHandle(c.header.handle),
            parent: TcHandle(c.header.parent),
            info: c.header.info,
            kind: QdiscKind::decode(c.kind, c.options)?,
            kernel: c.info,
            unknown,
        })
    }
}

/// A class of a classful qdisc (HTB): `tc class`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Class {
    /// The device.
    pub ifindex: IfIndex,
    /// Its id (`classid 1:10`).
    pub handle: TcHandle,
    /// Its parent: the qdisc (`1:`) or another class (`1:1`).
    pub parent: TcHandle,
    /// `tcm_info` (the leaf qdisc's handle in replies).
    pub info: u32,
    /// The kind and its settings.
    pub kind: ClassKind,
    /// Statistics and other read-only attributes.
    pub kernel: KernelInfo,
    /// Attributes netplumb does not model.
    pub unknown: Vec<RawAttr>,
}

impl Class {
    /// A class `handle` under `parent` on `ifindex`.
    pub fn new(ifindex: IfIndex, parent: TcHandle, handle: TcHandle, kind: impl Into<ClassKind>) -> Class {
        Class {
            ifindex,
            handle,
            parent,
            info: 0,
            kind: kind.into(),
            kernel: KernelInfo::default(),
            unknown: Vec::new(),
        }
    }

    /// Statistics, if the kernel sent them.
    pub fn stats(&self) -> Option<&Stats> {
        self.kernel.stats.as_ref()
    }

    /// Check before anything is sent.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the field.
    pub fn validate(&self) -> Result<()> {
        if self.ifindex.0 == 0 || self.ifindex.0 > i32::MAX as u32 {
            return Err(Error::invalid("class.ifindex", format!("{} is not a device index", self.ifindex.0)));
        }
        if self.handle.minor() == 0 {
            return Err(Error::invalid(
                "class.handle",
                format!("{} has no minor number; class ids are MAJ:MIN", self.handle),
            ));
        }
        if self.parent.major() != self.handle.major() {
            return Err(Error::invalid(
                "class.parent",
                format!(
                    "{} is not in qdisc {:x}: of class {}",
                    self.parent,
                    self.handle.major(),
                    self.handle
                ),
            ));
        }
        self.kind.validate()
    }

    /// Encode an `RTM_NEWTCLASS` payload.
    pub fn write(&self, w: &mut AttrWriter<'_>) {
        w.raw(&object_header(self.ifindex, self.parent, self.handle, self.info));
        w.str(tca::KIND, self.kind.name());
        self.kind.write_options(w);
        RawAttr::write_all(w, &self.unknown);
    }

    /// Encode an `RTM_DELTCLASS` payload.
    pub fn write_delete(&self, w: &mut AttrWriter<'_>) {
        w.raw(&object_header(self.ifindex, self.parent, self.handle, 0));
    }

    /// Decode an `RTM_NEWTCLASS` message.
    pub fn parse(m: &Msg<'_>) -> Result<Class, DecodeError> {
        Class::parse_payload(m.payload)
    }

    /// Decode a payload.
    pub fn parse_payload(p: &[u8]) -> Result<Class, DecodeError> {
        let mut c = parse_common(p)?;
        let unknown = c.unknown_with_chain();
        Ok(Class {
            ifindex: ifindex_of(&c.header)?,
            handle: TcHandle(c.header.handle),
            parent: TcHandle(c.header.parent),
            info: c.header.info,
            kind: ClassKind::decode(c.kind, c.options)?,
            kernel: c.info,
            unknown,
        })
    }
}

/// Ethernet protocol numbers for [`Filter::protocol`] (`tc filter ...
/// protocol P`).
pub mod eth_p {
    /// `all` (`ETH_P_ALL`).
    pub const ALL: u16 = 0x0003;
    /// `ip` (`ETH_P_IP`).
    pub const IP: u16 = 0x0800;
    /// `arp`.
    pub const ARP: u16 = 0x0806;
    /// `ipv6`.
    pub const IPV6: u16 = 0x86dd;
    /// `802.1Q`.
    pub const VLAN: u16 = 0x8100;
}

/// A classifier attached to a qdisc or class: `tc filter`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    /// The device.
    pub ifindex: IfIndex,
    /// Where it is attached: a qdisc (`parent 1:`, `ffff:`) or a clsact
    /// hook ([`TcHandle::CLSACT_INGRESS`], [`TcHandle::CLSACT_EGRESS`]).
    pub parent: TcHandle,
    /// The filter's handle (`handle`/`fh`; for u32 `800::800`); 0 lets the
    /// kernel choose.
    pub handle: u32,
    /// `pref`/`prio`: lower runs first; 0 lets the kernel choose.
    pub priority: u16,
    /// `protocol`: an Ethernet type in host order ([`eth_p`]).
    pub protocol: u16,
    /// `chain` (`TCA_CHAIN`), when not chain 0 or when the kernel says so.
    pub chain: Option<u32>,
    /// The classifier and its settings.
    pub kind: FilterKind,
    /// Statistics and other read-only attributes.
    pub kernel: KernelInfo,
    /// Attributes netplumb does not model.
    pub unknown: Vec<RawAttr>,
}

impl Filter {
    /// A filter on `ifindex` attached to `parent`.
    pub fn new(
        ifindex: IfIndex,
        parent: TcHandle,
        priority: u16,
        protocol: u16,
        kind: impl Into<FilterKind>,
    ) -> Filter {
        Filter {
            ifindex,
            parent,
            handle: 0,
            priority,
            protocol,
            chain: None,
            kind: kind.into(),
            kernel: KernelInfo::default(),
            unknown: Vec::new(),
        }
    }

    /// Set the handle.
    pub fn handle(mut self, h: u32) -> Self {
        self.handle = h;
        self
    }

    /// Set the chain.
    pub fn chain(mut self, c: u32) -> Self {
        self.chain = Some(c);
        self
    }

    /// `tcm_info` for this filter: `prio << 16 | htons(protocol)`.
    pub fn info(&self) -> u32 {
        ((self.priority as u32) << 16) | u16::from_ne_bytes(self.protocol.to_be_bytes()) as u32
    }

    /// Check before anything is sent.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the field.
    pub fn validate(&self) -> Result<()> {
        if self.ifindex.0 == 0 || self.ifindex.0 > i32::MAX as u32 {
            return Err(Error::invalid(
                "filter.ifindex",
                format!("{} is not a device index", self.ifindex.0),
            ));
        }
        if self.parent == TcHandle::UNSPEC {
            return Err(Error::invalid("filter.parent", "a filter needs a parent qdisc or class"));
        }
        if self.protocol == 0 {
            return Err(Error::invalid(
                "filter.protocol",
                "0 matches nothing; use eth_p::ALL for every protocol",
            ));
        }
        self.kind.validate()
    }

    fn tc_header(&self) -> TcHeader {
        TcHeader {
            family: 0,
            ifindex: self.ifindex.0 as i32,
            handle: self.handle,
            parent: self.parent.0,
            info: self.info(),
        }
    }

    /// Encode an `RTM_NEWTFILTER` payload.
    pub fn write(&self, w: &mut AttrWriter<'_>) {
        w.raw(&self.tc_header().to_bytes());
        w.str(tca::KIND, self.kind.name());
        if let Some(c) = self.chain {
            w.u32(tca::CHAIN, c);
        }
        self.kind.write_options(w);
        RawAttr::write_all(w, &self.unknown);
    }

    /// Encode an `RTM_DELTFILTER` payload: device, parent, priority,
    /// protocol, handle, chain and kind (as `tc filter del ... pref P
    /// [handle H] KIND`).
    pub fn write_delete(&self, w: &mut AttrWriter<'_>) {
        w.raw(&self.tc_header().to_bytes());
        w.str(tca::KIND, self.kind.name());
        if let Some(c) = self.chain {
            w.u32(tca::CHAIN, c);
        }
    }

    /// Decode an `RTM_NEWTFILTER` message.
    pub fn parse(m: &Msg<'_>) -> Result<Filter, DecodeError> {
        Filter::parse_payload(m.payload)
    }

    /// Decode a payload.
    pub fn parse_payload(p: &[u8]) -> Result<Filter, DecodeError> {
        let c = parse_common(p)?;
        let info = c.header.info;
        Ok(Filter {
            ifindex: ifindex_of(&c.header)?,
            parent: TcHandle(c.header.parent),
            handle: c.header.handle,
            priority: (info >> 16) as u16,
            protocol: u16::from_be_bytes((info as u16).to_ne_bytes()),
            chain: c.chain,
            kind: FilterKind::decode(c.kind, c.options)?,
            kernel: c.info,
            unknown: c.unknown,
        })
    }
}

/// Format a u32 filter handle as `tc` prints it: `800:` (a hash table),
/// `800::800` (a node), `800:1:800`.
pub fn u32_handle_string(h: u32) -> String {
    let (ht, bkt, node) = (h >> 20, (h >> 12) & 0xff, h & 0xfff);
    let mut s = String::new();
    if ht != 0 {
        s += &format!("{ht:x}");
    }
    s.push(':');
    if bkt != 0 {
        s += &format!("{bkt:x}");
    }
    if node != 0 {
        s += &format!(":{node:x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_print_and_parse_as_tc() {
        assert_eq!(TcHandle::new(1, 0).to_string(), "1:");
        assert_eq!(TcHandle::new(1, 0x10).to_string(), "1:10");
        assert_eq!("ffff:".parse::<TcHandle>().unwrap(), TcHandle::INGRESS_QDISC);
        assert_eq!("1:10".parse::<TcHandle>().unwrap(), TcHandle::new(1, 0x10));
        assert_eq!("root".parse::<TcHandle>().unwrap(), TcHandle::ROOT);
        assert!("1".parse::<TcHandle>().is_err());
        assert_eq!(u32_handle_string(0x8000_0800), "800::800");
        assert_eq!(u32_handle_string(0x8000_0000), "800:");
    }

    #[test]
    fn filter_info_is_prio_and_network_order_protocol() {
        let f = Filter::new(
            IfIndex(1),
            TcHandle::INGRESS_QDISC,
            1,
            eth_p::ALL,
            super::super::filter::U32::default(),
        );
        assert_eq!(f.info().to_ne_bytes()[..2], 0x0003u16.to_be_bytes());
        assert_eq!(f.info() >> 16, 1);
    }
}
