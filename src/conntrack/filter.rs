//! Which flows a list, delete, flush or event stream is about.
//!
//! A [`Filter`] is applied by the kernel wherever the running kernel can
//! (`CTA_MARK`/`CTA_MARK_MASK`, `CTA_ZONE`, `CTA_STATUS`/`CTA_STATUS_MASK`,
//! the family, and `CTA_FILTER` with IPv4 addresses, the protocol and TCP
//! or UDP ports), and always checked again in user space, so the result is
//! the same on every kernel: the kernel only saves the work of sending
//! flows nobody asked for. IPv6 addresses are checked in user space only:
//! the kernel's `CTA_FILTER` inverts that comparison (seen on Linux 6.18).

use std::net::IpAddr;

use super::consts::*;
use super::flow::{nfgenmsg, Flow, Labels};
use super::status::Status;
use super::tuple::IpProto;
use super::KernelVersion;
use crate::wire::{family_of, AttrWriter, NLA_F_NESTED};

/// An address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpFamily {
    /// IPv4 (`AF_INET`, conntrack's `-f ipv4`).
    Ipv4,
    /// IPv6 (`AF_INET6`, `-f ipv6`).
    Ipv6,
}

impl IpFamily {
    /// The `AF_*` number.
    pub fn af(self) -> u8 {
        match self {
            IpFamily::Ipv4 => libc::AF_INET as u8,
            IpFamily::Ipv6 => libc::AF_INET6 as u8,
        }
    }

    /// The family of an address.
    pub fn of(addr: &IpAddr) -> IpFamily {
        match addr {
            IpAddr::V4(_) => IpFamily::Ipv4,
            IpAddr::V6(_) => IpFamily::Ipv6,
        }
    }
}

/// Selects flows, like the selection options of `conntrack -L`/`-D`
/// (`-f`, `-p`, `-s`, `-d`, `-r`, `-q`, `--sport`, `--dport`,
/// `--reply-port-src`, `--reply-port-dst`, `-m VALUE/MASK`, `-w`, `-u`).
///
/// All given criteria must hold. The default filter selects every flow.
///
/// ```
/// use netplumb::conntrack::{Filter, IpProto};
/// let f = Filter::new()
///     .protocol(IpProto::UDP)
///     .orig_dst("10.96.0.10".parse().unwrap())
///     .orig_dst_port(53)
///     .mark(0x4000, 0x4000);
/// # let _ = f;
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    family: Option<IpFamily>,
    proto: Option<IpProto>,
    orig_src: Option<IpAddr>,
    orig_dst: Option<IpAddr>,
    reply_src: Option<IpAddr>,
    reply_dst: Option<IpAddr>,
    orig_src_port: Option<u16>,
    orig_dst_port: Option<u16>,
    reply_src_port: Option<u16>,
    reply_dst_port: Option<u16>,
    mark: Option<(u32, u32)>,
    zone: Option<u16>,
    orig_zone: Option<u16>,
    reply_zone: Option<u16>,
    labels: Option<Labels>,
    status: Option<(u32, u32)>,
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty) => {
        $(#[$doc])*
        #[must_use]
        pub fn $name(mut self, v: $ty) -> Filter {
            self.$name = Some(v);
            self
        }
    };
}

impl Filter {
    /// A filter that selects every flow.
    pub fn new() -> Filter {
        Filter::default()
    }

    /// Check that the filter can match something: every address given is
    /// of one family, the one [`Filter::family`] names if it is set. A
    /// filter mixing IPv4 and IPv6 (`family(Ipv4).orig_src(fd00::1)`) is an
    /// error naming the field, not a selection of nothing.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] naming the first field that disagrees.
    pub fn validate(&self) -> crate::error::Result<()> {
        let mut family: Option<(IpFamily, &str)> = self.family.map(|f| (f, "family"));
        for (field, a) in [
            ("orig_src", &self.orig_src),
            ("orig_dst", &self.orig_dst),
            ("reply_src", &self.reply_src),
            ("reply_dst", &self.reply_dst),
        ] {
            let Some(a) = a else { continue };
            let f = IpFamily::of(a);
            match family {
                None => family = Some((f, field)),
                Some((want, from)) if want != f => {
                    return Err(crate::error::Error::invalid(
                        format!("filter.{field}"),
                        format!("{a} is {f:?} but filter.{from} is {want:?}: no flow can match"),
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    setter!(
        /// Only flows of this family (`-f`).
        family: IpFamily
    );
    setter!(
        /// Only flows of this layer-4 protocol (`-p`).
        proto: IpProto
    );
    setter!(
        /// Original source address (`-s`).
        orig_src: IpAddr
    );
    setter!(
        /// Original destination address (`-d`).
        orig_dst: IpAddr
    );
    setter!(
        /// Reply source address (`-r`).
        reply_src: IpAddr
    );
    setter!(
        /// Reply destination address (`-q`).
        reply_dst: IpAddr
    );
    setter!(
        /// Original source port (`--sport`); flows without ports never
        /// match.
        orig_src_port: u16
    );
    setter!(
        /// Original destination port (`--dport`).
        orig_dst_port: u16
    );
    setter!(
        /// Reply source port (`--reply-port-src`).
        reply_src_port: u16
    );
    setter!(
        /// Reply destination port (`--reply-port-dst`).
        reply_dst_port: u16
    );
    setter!(
        /// Only flows in this zone (`-w`/`--zone`; 0 is the default zone),
        /// with conntrack's meaning: the flow's zone (`CTA_ZONE`, a zone of
        /// both directions). A flow zoned in one direction only
        /// (`--orig-zone`/`--reply-zone`) is in zone 0 here, as
        /// `conntrack -L -w` shows it; see [`Filter::orig_zone`].
        zone: u16
    );
    setter!(
        /// Only flows whose original direction is in this zone
        /// (`--orig-zone`): its `CTA_TUPLE_ZONE`, else the flow's zone.
        orig_zone: u16
    );
    setter!(
        /// Only flows whose reply direction is in this zone
        /// (`--reply-zone`): its `CTA_TUPLE_ZONE`, else the flow's zone.
        reply_zone: u16
    );
    setter!(
        /// Only flows that carry every label in the set (`-l NAME,...`; see
        /// [`super::LabelMap`] for names). Applied in user space.
        labels: Labels
    );

    /// Only flows of this layer-4 protocol (`-p`); the same as
    /// [`Filter::proto`].
    #[must_use]
    pub fn protocol(self, p: IpProto) -> Filter {
        self.proto(p)
    }

    /// Only flows whose mark, masked with `mask`, equals `value & mask`
    /// (`-m VALUE/MASK`; `u32::MAX` for an exact mark). A flow without a
    /// mark has mark 0.
    #[must_use]
    pub fn mark(mut self, value: u32, mask: u32) -> Filter {
        self.mark = Some((value & mask, mask));
        self
    }

    /// Only flows whose status bits in `mask` equal those in `value`
    /// (e.g. `status(Status::empty(), Status::ASSURED)` for flows that are
    /// not assured). An empty mask selects every flow.
    #[must_use]
    pub fn status(mut self, value: Status, mask: Status) -> Filter {
        self.status = Some((value.bits() & mask.bits(), mask.bits()));
        self
    }

    /// Whether `flow` is selected. The same test the kernel applies, done
    /// in user space.
    pub fn matches(&self, flow: &Flow) -> bool {
        fn eq<T: PartialEq>(want: Option<T>, have: T) -> bool {
            want.is_none_or(|w| w == have)
        }
        fn port(want: Option<u16>, have: Option<u16>) -> bool {
            want.is_none_or(|w| have == Some(w))
        }
        let (o, r) = (&flow.orig, &flow.reply);
        eq(self.family.map(IpFamily::af), flow.family)
            && eq(self.proto, o.proto)
            && eq(self.orig_src, o.src)
            && eq(self.orig_dst, o.dst)
            && eq(self.reply_src, r.src)
            && eq(self.reply_dst, r.dst)
            && port(self.orig_src_port, o.src_port)
            && port(self.orig_dst_port, o.dst_port)
            && port(self.reply_src_port, r.src_port)
            && port(self.reply_dst_port, r.dst_port)
            && self.mark.is_none_or(|(v, m)| flow.mark.unwrap_or(0) & m == v)
            && eq(self.zone, flow.zone.unwrap_or(0))
            && eq(self.orig_zone, o.zone.or(flow.zone).unwrap_or(0))
            && eq(self.reply_zone, r.zone.or(flow.zone).unwrap_or(0))
            && self.labels.is_none_or(|l| flow.extra.labels.unwrap_or_default().0 & l.0 == l.0)
            && self.status.is_none_or(|(v, m)| flow.status_bits().bits() & m == v)
    }

    /// The family the kernel can filter on: the one given, else the one
    /// of the addresses given.
    fn kernel_family(&self) -> Option<u8> {
        self.family.map(IpFamily::af).or_else(|| {
            [self.orig_src, self.orig_dst, self.reply_src, self.reply_dst]
                .into_iter()
                .flatten()
                .next()
                .map(family_of)
        })
    }

    /// The tuple-field flags (`CTA_FILTER_F_*`) the kernel applies for
    /// one direction, given the family it filters on.
    fn tuple_flags(&self, family: Option<u8>, orig: bool) -> u32 {
        let Some(fam) = family else { return 0 };
        let (src, dst, sport, dport) = if orig {
            (self.orig_src, self.orig_dst, self.orig_src_port, self.orig_dst_port)
        } else {
            (self.reply_src, self.reply_dst, self.reply_src_port, self.reply_dst_port)
        };
        // IPv4 only: ctnetlink_filter_match_tuple() inverts the IPv6
        // comparison (`!ipv6_addr_cmp()`, still so in Linux 6.18), so a
        // kernel-side IPv6 address filter would select every *other* flow.
        let same = |a: Option<IpAddr>| a.is_some_and(|a| a.is_ipv4() && family_of(a) == fam);
        let mut flags = 0;
        if same(src) {
            flags |= CTA_FILTER_F_CTA_IP_SRC;
        }
        if same(dst) {
            flags |= CTA_FILTER_F_CTA_IP_DST;
        }
        // The kernel compares ports for TCP and UDP only.
        let ports = matches!(self.proto, Some(IpProto::TCP | IpProto::UDP));
        if ports && sport.is_some() {
            flags |= CTA_FILTER_F_CTA_PROTO_SRC_PORT;
        }
        if ports && dport.is_some() {
            flags |= CTA_FILTER_F_CTA_PROTO_DST_PORT;
        }
        if self.proto.is_some() && (orig || flags != 0) {
            flags |= CTA_FILTER_F_CTA_PROTO_NUM;
        }
        flags
    }

    /// Whether the kernel `k` applies the whole filter by itself in a
    /// flush, deleting exactly the selected flows. Older kernels ignore
    /// some attributes on a flush and would delete more: the family before
    /// Linux 5.0, the status before 6.1 (support came in 5.15), the zone
    /// before 6.8, and tuple fields (`CTA_FILTER`) before 6.12 (support came
    /// in 2024; before it a flush with a tuple deletes that one flow
    /// whatever the other criteria).
    pub(crate) fn kernel_exact(&self, k: KernelVersion) -> bool {
        let fam = self.kernel_family();
        let tuple_fields = self.tuple_flags(fam, true) != 0 || self.tuple_flags(fam, false) != 0;
        if (fam.is_some() && !k.at_least(5, 0)) || (tuple_fields && !k.at_least(6, 12)) {
            return false;
        }
        let fam_ok = |a: Option<IpAddr>| a.is_none_or(|a| a.is_ipv4() && Some(family_of(a)) == fam);
        let ports_ok = matches!(self.proto, Some(IpProto::TCP | IpProto::UDP))
            || [self.orig_src_port, self.orig_dst_port, self.reply_src_port, self.reply_dst_port]
                .iter()
                .all(Option::is_none);
        (self.proto.is_none()
            || matches!(fam, Some(f) if f == libc::AF_INET as u8 || f == libc::AF_INET6 as u8))
            && [self.orig_src, self.orig_dst, self.reply_src, self.reply_dst].into_iter().all(fam_ok)
            && ports_ok
            // The kernel matches a zone id in any direction: it cannot
            // tell the flow's zone from a direction's.
            && self.zone.is_none()
            && self.orig_zone.is_none()
            && self.reply_zone.is_none()
            && self.labels.is_none()
            && (self.status.is_none_or(|(_, m)| m == 0) || k.at_least(6, 1))
    }

    /// Whether the filter selects every flow.
    pub(crate) fn is_empty(&self) -> bool {
        self == &Filter::default()
    }

    /// Write `struct nfgenmsg` (with `version`) and the kernel-side filter
    /// attributes of a dump or flush request.
    pub(crate) fn write_kernel(&self, w: &mut AttrWriter<'_>, version: u8) {
        let fam = self.kernel_family();
        w.raw(&nfgenmsg(fam.unwrap_or(0), version));
        if let Some((v, m)) = self.mark {
            w.u32_be(CTA_MARK, v).u32_be(CTA_MARK_MASK, m);
        }
        // The kernel (6.8+) selects flows whose zone id is this one in any
        // direction: a superset of each zone filter, trimmed in user space.
        // Zone 0 there means "no filter".
        let zones: Vec<u16> = [self.zone, self.orig_zone, self.reply_zone].into_iter().flatten().collect();
        if let Some(&z) = zones.first() {
            if z != 0 && zones.iter().all(|&x| x == z) {
                w.u16_be(CTA_ZONE, z);
            }
        }
        if let Some((v, m)) = self.status.filter(|(_, m)| *m != 0) {
            w.u32_be(CTA_STATUS, v).u32_be(CTA_STATUS_MASK, m);
        }
        let of = self.tuple_flags(fam, true);
        let rf = self.tuple_flags(fam, false);
        if of == 0 && rf == 0 {
            return;
        }
        for (ty, flags, src, dst, sport, dport) in [
            (CTA_TUPLE_ORIG, of, self.orig_src, self.orig_dst, self.orig_src_port, self.orig_dst_port),
            (CTA_TUPLE_REPLY, rf, self.reply_src, self.reply_dst, self.reply_src_port, self.reply_dst_port),
        ] {
            if flags == 0 {
                continue;
            }
            w.nest(ty | NLA_F_NESTED, |w| {
                if flags & (CTA_FILTER_F_CTA_IP_SRC | CTA_FILTER_F_CTA_IP_DST) != 0 {
                    w.nest(CTA_TUPLE_IP | NLA_F_NESTED, |w| {
                        for (flag, addr, v4, v6) in [
                            (CTA_FILTER_F_CTA_IP_SRC, src, CTA_IP_V4_SRC, CTA_IP_V6_SRC),
                            (CTA_FILTER_F_CTA_IP_DST, dst, CTA_IP_V4_DST, CTA_IP_V6_DST),
                        ] {
                            match addr.filter(|_| flags & flag != 0) {
                                Some(IpAddr::V4(a)) => w.bytes(v4, &a.octets()),
                                Some(IpAddr::V6(a)) => w.bytes(v6, &a.octets()),
                                None => continue,
                            };
                        }
                    });
                }
                if flags & CTA_FILTER_F_CTA_PROTO_NUM != 0 {
                    w.nest(CTA_TUPLE_PROTO | NLA_F_NESTED, |w| {
                        w.u8(CTA_PROTO_NUM, self.proto.map_or(0, |p| p.0));
                        if let Some(p) = sport.filter(|_| flags & CTA_FILTER_F_CTA_PROTO_SRC_PORT != 0) {
                            w.u16_be(CTA_PROTO_SRC_PORT, p);
                        }
                        if let Some(p) = dport.filter(|_| flags & CTA_FILTER_F_CTA_PROTO_DST_PORT != 0) {
                            w.u16_be(CTA_PROTO_DST_PORT, p);
                        }
                    });
                }
            });
        }
        w.nest(CTA_FILTER | NLA_F_NESTED, |w| {
            w.u32(CTA_FILTER_ORIG_FLAGS, of).u32(CTA_FILTER_REPLY_FLAGS, rf);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conntrack::{Status, Tuple};
    use crate::wire::{attrs_after, Attr};

    fn flow(src: &str, dst: &str, mark: u32) -> Flow {
        Flow::new(Tuple::udp(src.parse().unwrap(), dst.parse().unwrap())).with_mark(mark)
    }

    #[test]
    fn user_space_matching() {
        let f = flow("10.0.0.1:1000", "10.96.0.10:53", 0x4001);
        assert!(Filter::new().matches(&f));
        assert!(Filter::new().proto(IpProto::UDP).orig_dst_port(53).matches(&f));
        assert!(!Filter::new().proto(IpProto::TCP).matches(&f));
        assert!(Filter::new().mark(0x4000, 0x4000).matches(&f));
        assert!(!Filter::new().mark(0x4000, u32::MAX).matches(&f));
        assert!(Filter::new().reply_src("10.96.0.10".parse().unwrap()).reply_src_port(53).matches(&f));
        assert!(!Filter::new().reply_dst_port(53).matches(&f));
        assert!(Filter::new().zone(0).matches(&f));
        assert!(!Filter::new().zone(1).matches(&f));
        assert!(Filter::new().zone(1).matches(&f.clone().with_zone(1)));
        // conntrack's -w: the flow's zone, not a direction's.
        let mut oz = f.clone();
        oz.orig.zone = Some(4);
        assert!(Filter::new().zone(0).matches(&oz));
        assert!(!Filter::new().zone(4).matches(&oz));
        assert!(Filter::new().orig_zone(4).matches(&oz));
        assert!(Filter::new().reply_zone(0).matches(&oz));
        assert!(!Filter::new().reply_zone(4).matches(&oz));
        let both = f.clone().with_zone(6);
        assert!(Filter::new().orig_zone(6).reply_zone(6).zone(6).matches(&both));
        assert!(Filter::new().family(IpFamily::Ipv4).matches(&f));
        assert!(!Filter::new().family(IpFamily::Ipv6).matches(&f));
        let s = Filter::new().status(Status::empty(), Status::ASSURED);
        assert!(s.matches(&f));
        assert!(!s.matches(&f.clone().with_status(Status::ASSURED)));
        // Ports never match a flow without ports.
        let icmp = Flow::new(Tuple::icmp("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap(), 1, 8, 0));
        assert!(!Filter::new().orig_dst_port(0).matches(&icmp));
    }

    fn kernel_attrs(f: &Filter) -> (Vec<u8>, Vec<(u16, Vec<u8>)>) {
        let mut buf = Vec::new();
        f.write_kernel(&mut AttrWriter::new(&mut buf), 0);
        let attrs = attrs_after(&buf, 4)
            .map(|a: Result<Attr<'_>, _>| {
                let a = a.unwrap();
                (a.kind(), a.payload.to_vec())
            })
            .collect();
        (buf[..4].to_vec(), attrs)
    }

    #[test]
    fn kernel_side_encoding() {
        let k = KernelVersion(6, 18);
        // Nothing: family 0, no attributes.
        let (hdr, attrs) = kernel_attrs(&Filter::new());
        assert_eq!((hdr[0], attrs.len()), (0, 0));
        // Address and port: family inferred, tuple filter with flags.
        let f = Filter::new().proto(IpProto::UDP).orig_dst("10.96.0.10".parse().unwrap()).orig_dst_port(53);
        let (hdr, attrs) = kernel_attrs(&f);
        assert_eq!(hdr[0], libc::AF_INET as u8);
        let kinds: Vec<u16> = attrs.iter().map(|a| a.0).collect();
        assert_eq!(kinds, vec![CTA_TUPLE_ORIG, CTA_FILTER]);
        let filter = &attrs[1].1;
        let flags: Vec<u32> = crate::wire::AttrIter::new(filter).map(|a| a.unwrap().u32().unwrap()).collect();
        assert_eq!(
            flags,
            vec![CTA_FILTER_F_CTA_IP_DST | CTA_FILTER_F_CTA_PROTO_NUM | CTA_FILTER_F_CTA_PROTO_DST_PORT, 0]
        );
        assert!(f.kernel_exact(k));
        // Mark is sent pre-masked.
        let (_, attrs) = kernel_attrs(&Filter::new().mark(0xffff, 0xff00));
        assert_eq!(attrs[0], (CTA_MARK, 0xff00u32.to_be_bytes().to_vec()));
        assert_eq!(attrs[1], (CTA_MARK_MASK, 0xff00u32.to_be_bytes().to_vec()));
        // Protocol without a family cannot be filtered by the kernel.
        let p = Filter::new().proto(IpProto::UDP);
        assert_eq!(kernel_attrs(&p).1.len(), 0);
        assert!(!p.kernel_exact(k));
        // SCTP ports are checked in user space only.
        let s = Filter::new().family(IpFamily::Ipv4).proto(IpProto::SCTP).orig_dst_port(5);
        assert!(!s.kernel_exact(k));
        // Tuple fields need Linux 6.12 on a flush.
        assert!(!f.kernel_exact(KernelVersion(6, 6)));
        assert!(Filter::new().mark(1, 1).kernel_exact(KernelVersion(4, 19)));
        assert!(!Filter::new().family(IpFamily::Ipv4).kernel_exact(KernelVersion(4, 19)));
        // The kernel matches a zone id in any direction, so a zone filter
        // is never exact there: a flush lists and deletes one by one.
        assert!(!Filter::new().zone(3).kernel_exact(k));
        assert!(!Filter::new().orig_zone(3).kernel_exact(k));
        // It is still sent to narrow the dump, unless the zones differ.
        assert_eq!(kernel_attrs(&Filter::new().zone(3)).1, vec![(CTA_ZONE, 3u16.to_be_bytes().to_vec())]);
        assert!(kernel_attrs(&Filter::new().zone(3).reply_zone(4)).1.is_empty());
        assert!(kernel_attrs(&Filter::new().zone(0)).1.is_empty());
        // IPv6 addresses stay in user space (the kernel inverts that test),
        // though the family is still filtered by the kernel.
        let v6 = Filter::new().orig_dst("fd00::2".parse().unwrap());
        let (hdr, attrs) = kernel_attrs(&v6);
        assert_eq!((hdr[0], attrs.len()), (libc::AF_INET6 as u8, 0));
        assert!(!v6.kernel_exact(k));
        // Reply-only port filter carries the protocol in the reply tuple.
        let r = Filter::new().family(IpFamily::Ipv6).proto(IpProto::TCP).reply_src_port(80);
        let (_, attrs) = kernel_attrs(&r);
        assert_eq!(
            attrs.iter().map(|a| a.0).collect::<Vec<_>>(),
            vec![CTA_TUPLE_ORIG, CTA_TUPLE_REPLY, CTA_FILTER]
        );
    }
}
