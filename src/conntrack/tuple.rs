//! A flow's tuple: addresses, layer-4 protocol, ports or ICMP fields.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::consts::*;
use super::raw::{write_unknown, UnknownAttr, UnknownAttrs};
use super::stack::{write_in_place, Stack};
use crate::error::{DecodeError, Error, Result};
use crate::wire::{family_of, put_attr_header, Attr, AttrWriter, NLA_F_NESTED};

/// A layer-4 protocol number (`IPPROTO_*`), with names for the ones
/// conntrack knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpProto(pub u8);

impl IpProto {
    /// `IPPROTO_ICMP`.
    pub const ICMP: IpProto = IpProto(1);
    /// `IPPROTO_TCP`.
    pub const TCP: IpProto = IpProto(6);
    /// `IPPROTO_UDP`.
    pub const UDP: IpProto = IpProto(17);
    /// `IPPROTO_DCCP`.
    pub const DCCP: IpProto = IpProto(33);
    /// `IPPROTO_GRE`.
    pub const GRE: IpProto = IpProto(47);
    /// `IPPROTO_ICMPV6`.
    pub const ICMPV6: IpProto = IpProto(58);
    /// `IPPROTO_SCTP`.
    pub const SCTP: IpProto = IpProto(132);
    /// `IPPROTO_UDPLITE`.
    pub const UDPLITE: IpProto = IpProto(136);

    /// The name `conntrack` prints (`"tcp"`), or `None` for a protocol it
    /// prints as `unknown`.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            IpProto::ICMP => "icmp",
            IpProto::TCP => "tcp",
            IpProto::UDP => "udp",
            IpProto::DCCP => "dccp",
            IpProto::GRE => "gre",
            IpProto::ICMPV6 => "icmpv6",
            IpProto::SCTP => "sctp",
            IpProto::UDPLITE => "udplite",
            _ => return None,
        })
    }

    /// Parse a name as `conntrack -p` takes it (`tcp`, `udp`, ...) or a
    /// number.
    pub fn parse(s: &str) -> Option<IpProto> {
        if let Ok(n) = s.parse::<u8>() {
            return Some(IpProto(n));
        }
        let lower = s.to_ascii_lowercase();
        [
            IpProto::ICMP,
            IpProto::TCP,
            IpProto::UDP,
            IpProto::DCCP,
            IpProto::GRE,
            IpProto::ICMPV6,
            IpProto::SCTP,
            IpProto::UDPLITE,
        ]
        .into_iter()
        .find(|p| p.name() == Some(lower.as_str()))
    }

    /// Whether the protocol's tuples carry source and destination ports
    /// (TCP, UDP, UDP-Lite, SCTP, DCCP).
    pub fn has_ports(self) -> bool {
        matches!(self, IpProto::TCP | IpProto::UDP | IpProto::UDPLITE | IpProto::SCTP | IpProto::DCCP)
    }
}

impl fmt::Display for IpProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{}", self.0),
        }
    }
}

/// The ICMP or ICMPv6 part of a tuple.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Icmp {
    /// Identifier (echo requests and replies).
    pub id: u16,
    /// Message type (8: echo request, 0: echo reply, ...).
    pub kind: u8,
    /// Message code.
    pub code: u8,
}

/// One direction of a flow: what `conntrack` prints as
/// `src=... dst=... sport=... dport=...`.
///
/// Build one with [`Tuple::tcp`], [`Tuple::udp`], [`Tuple::icmp`],
/// [`Tuple::icmpv6`] or [`Tuple::new`]; [`Tuple::reversed`] gives the
/// tuple of the other direction when no NAT applies.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tuple {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Layer-4 protocol.
    pub proto: IpProto,
    /// Source port (`CTA_PROTO_SRC_PORT`; a key for GRE).
    pub src_port: Option<u16>,
    /// Destination port (`CTA_PROTO_DST_PORT`).
    pub dst_port: Option<u16>,
    /// ICMP or ICMPv6 identifier, type and code.
    pub icmp: Option<Icmp>,
    /// The zone of this direction only (`CTA_TUPLE_ZONE`, conntrack's
    /// `--orig-zone`/`--reply-zone`).
    pub zone: Option<u16>,
    /// Attributes inside the tuple netplumb does not model, kept as sent.
    pub unknown: UnknownAttrs,
}

impl Tuple {
    /// A tuple with addresses and protocol only; set ports or ICMP fields
    /// yourself.
    #[inline]
    pub fn new(src: IpAddr, dst: IpAddr, proto: IpProto) -> Tuple {
        Tuple {
            src,
            dst,
            proto,
            src_port: None,
            dst_port: None,
            icmp: None,
            zone: None,
            unknown: UnknownAttrs::new(),
        }
    }

    #[inline]
    fn with_ports(src: SocketAddr, dst: SocketAddr, proto: IpProto) -> Tuple {
        Tuple {
            src_port: Some(src.port()),
            dst_port: Some(dst.port()),
            ..Tuple::new(src.ip(), dst.ip(), proto)
        }
    }

    /// A TCP tuple.
    #[inline]
    pub fn tcp(src: SocketAddr, dst: SocketAddr) -> Tuple {
        Self::with_ports(src, dst, IpProto::TCP)
    }

    /// A UDP tuple.
    #[inline]
    pub fn udp(src: SocketAddr, dst: SocketAddr) -> Tuple {
        Self::with_ports(src, dst, IpProto::UDP)
    }

    /// An SCTP tuple.
    #[inline]
    pub fn sctp(src: SocketAddr, dst: SocketAddr) -> Tuple {
        Self::with_ports(src, dst, IpProto::SCTP)
    }

    /// An ICMP tuple (IPv4).
    #[inline]
    pub fn icmp(src: Ipv4Addr, dst: Ipv4Addr, id: u16, kind: u8, code: u8) -> Tuple {
        Tuple { icmp: Some(Icmp { id, kind, code }), ..Tuple::new(src.into(), dst.into(), IpProto::ICMP) }
    }

    /// An ICMPv6 tuple.
    #[inline]
    pub fn icmpv6(src: Ipv6Addr, dst: Ipv6Addr, id: u16, kind: u8, code: u8) -> Tuple {
        Tuple { icmp: Some(Icmp { id, kind, code }), ..Tuple::new(src.into(), dst.into(), IpProto::ICMPV6) }
    }

    /// The same tuple with a direction zone (`--orig-zone`/`--reply-zone`).
    #[inline]
    pub fn with_zone(mut self, zone: u16) -> Tuple {
        self.zone = Some(zone);
        self
    }

    /// The source as a socket address, when the tuple has ports.
    pub fn src_socket(&self) -> Option<SocketAddr> {
        self.src_port.map(|p| SocketAddr::new(self.src, p))
    }

    /// The destination as a socket address, when the tuple has ports.
    pub fn dst_socket(&self) -> Option<SocketAddr> {
        self.dst_port.map(|p| SocketAddr::new(self.dst, p))
    }

    /// The tuple of the other direction, as the kernel computes it for a
    /// flow without NAT: addresses and ports swapped, an ICMP request type
    /// turned into its reply type (echo 8 becomes echo reply 0). The zone
    /// and unknown attributes are not carried over.
    #[inline]
    pub fn reversed(&self) -> Tuple {
        Tuple {
            src: self.dst,
            dst: self.src,
            proto: self.proto,
            src_port: self.dst_port,
            dst_port: self.src_port,
            icmp: self.icmp.map(|i| Icmp {
                id: i.id,
                kind: reply_icmp_type(self.proto, i.kind),
                code: i.code,
            }),
            zone: None,
            unknown: UnknownAttrs::new(),
        }
    }

    /// The address family (`AF_INET` or `AF_INET6`) of the source address.
    #[inline]
    pub fn family(&self) -> u8 {
        family_of(self.src)
    }

    /// Check the tuple can be sent as a key (the kernel needs every field
    /// of it): both addresses of one family, ports for protocols with
    /// ports, ICMP fields for ICMP, and ICMP/ICMPv6 on the matching family.
    /// Errors name `field` (`orig`, `reply`) and the part at fault.
    #[inline]
    pub(crate) fn validate(&self, field: &str) -> Result<()> {
        // What every valid tuple satisfies, checked without building
        // anything; the rest finds the fault and names it.
        let v4 = self.src.is_ipv4();
        let ok = v4 == self.dst.is_ipv4()
            && match self.proto {
                p if p.has_ports() => self.src_port.is_some() && self.dst_port.is_some(),
                IpProto::ICMP => self.icmp.is_some() && v4,
                IpProto::ICMPV6 => self.icmp.is_some() && !v4,
                _ => true,
            };
        if ok {
            Ok(())
        } else {
            self.fault(field)
        }
    }

    /// [`Tuple::validate`]'s error.
    #[cold]
    #[inline(never)]
    fn fault(&self, field: &str) -> Result<()> {
        if self.src.is_ipv4() != self.dst.is_ipv4() {
            return Err(Error::invalid(
                field,
                format!("source {} and destination {} are of different families", self.src, self.dst),
            ));
        }
        if self.proto.has_ports() {
            for (name, port) in [("src_port", self.src_port), ("dst_port", self.dst_port)] {
                if port.is_none() {
                    return Err(Error::invalid(
                        format!("{field}.{name}"),
                        format!("{} needs ports", self.proto),
                    ));
                }
            }
        }
        let icmp_family = match self.proto {
            IpProto::ICMP => Some(true),
            IpProto::ICMPV6 => Some(false),
            _ => None,
        };
        if let Some(v4) = icmp_family {
            if self.icmp.is_none() {
                return Err(Error::invalid(
                    format!("{field}.icmp"),
                    format!("{} needs type, code and id", self.proto),
                ));
            }
            if self.src.is_ipv4() != v4 {
                return Err(Error::invalid(
                    format!("{field}.proto"),
                    format!("{} with {} addresses", self.proto, if v4 { "IPv6" } else { "IPv4" }),
                ));
            }
        }
        Ok(())
    }

    /// Write the tuple as the nest `ty` (`CTA_TUPLE_ORIG`, ...). Call
    /// [`Tuple::validate`] first.
    pub(crate) fn write(&self, w: &mut AttrWriter<'_>, ty: u16) {
        if self.unknown.is_empty() {
            write_in_place(w, |s| {
                self.write_stack(s, ty);
                true
            });
        } else {
            self.write_general(w, ty);
        }
    }

    /// The tuple as the nest `ty` on `s`, as [`Tuple::write_general`]
    /// writes it. Only for a tuple without unknown attributes.
    #[inline]
    pub(super) fn write_stack(&self, s: &mut Stack<'_>, ty: u16) {
        let t = self;
        debug_assert!(t.unknown.is_empty());
        // The common tuple (ports, no ICMP fields, no zone) as one
        // constant-offset layout.
        if let (Some(sp), Some(dp), None, None) = (t.src_port, t.dst_port, t.icmp, t.zone) {
            match (t.src, t.dst) {
                (IpAddr::V4(a), IpAddr::V4(b)) => {
                    let (a, b) = (a.octets(), b.octets());
                    ported::<4, 52>(s.take(), ty, a, b, CTA_IP_V4_SRC, CTA_IP_V4_DST, t.proto, sp, dp);
                    return;
                }
                (IpAddr::V6(a), IpAddr::V6(b)) => {
                    let (a, b) = (a.octets(), b.octets());
                    ported::<16, 76>(s.take(), ty, a, b, CTA_IP_V6_SRC, CTA_IP_V6_DST, t.proto, sp, dp);
                    return;
                }
                _ => {}
            }
        }
        let outer = s.begin(ty);
        let ip = s.begin(CTA_TUPLE_IP);
        stack_addr(s, t.src, CTA_IP_V4_SRC, CTA_IP_V6_SRC);
        stack_addr(s, t.dst, CTA_IP_V4_DST, CTA_IP_V6_DST);
        s.end(ip);
        let proto = s.begin(CTA_TUPLE_PROTO);
        s.attr(CTA_PROTO_NUM, [t.proto.0]);
        if let Some(p) = t.src_port {
            s.attr(CTA_PROTO_SRC_PORT, p.to_be_bytes());
        }
        if let Some(p) = t.dst_port {
            s.attr(CTA_PROTO_DST_PORT, p.to_be_bytes());
        }
        if let Some(i) = t.icmp {
            let (id, kind, code) = if t.proto == IpProto::ICMPV6 {
                (CTA_PROTO_ICMPV6_ID, CTA_PROTO_ICMPV6_TYPE, CTA_PROTO_ICMPV6_CODE)
            } else {
                (CTA_PROTO_ICMP_ID, CTA_PROTO_ICMP_TYPE, CTA_PROTO_ICMP_CODE)
            };
            s.attr(id, i.id.to_be_bytes());
            s.attr(kind, [i.kind]);
            s.attr(code, [i.code]);
        }
        s.end(proto);
        if let Some(z) = t.zone {
            s.attr(CTA_TUPLE_ZONE, z.to_be_bytes());
        }
        s.end(outer);
    }

    /// [`Tuple::write`] with the general attribute writer.
    pub(super) fn write_general(&self, w: &mut AttrWriter<'_>, ty: u16) {
        w.nest(ty | NLA_F_NESTED, |w| {
            w.nest(CTA_TUPLE_IP | NLA_F_NESTED, |w| {
                write_addr(w, self.src, CTA_IP_V4_SRC, CTA_IP_V6_SRC);
                write_addr(w, self.dst, CTA_IP_V4_DST, CTA_IP_V6_DST);
                write_unknown(w, &self.unknown, CTA_TUPLE_IP);
            });
            w.nest(CTA_TUPLE_PROTO | NLA_F_NESTED, |w| {
                w.u8(CTA_PROTO_NUM, self.proto.0);
                if let Some(p) = self.src_port {
                    w.u16_be(CTA_PROTO_SRC_PORT, p);
                }
                if let Some(p) = self.dst_port {
                    w.u16_be(CTA_PROTO_DST_PORT, p);
                }
                if let Some(i) = self.icmp {
                    let (id, ty, code) = if self.proto == IpProto::ICMPV6 {
                        (CTA_PROTO_ICMPV6_ID, CTA_PROTO_ICMPV6_TYPE, CTA_PROTO_ICMPV6_CODE)
                    } else {
                        (CTA_PROTO_ICMP_ID, CTA_PROTO_ICMP_TYPE, CTA_PROTO_ICMP_CODE)
                    };
                    w.u16_be(id, i.id).u8(ty, i.kind).u8(code, i.code);
                }
                write_unknown(w, &self.unknown, CTA_TUPLE_PROTO);
            });
            if let Some(z) = self.zone {
                w.u16_be(CTA_TUPLE_ZONE, z);
            }
            write_unknown(w, &self.unknown, 0);
        });
    }

    /// Decode a `CTA_TUPLE_*` nest.
    pub(crate) fn parse(a: &Attr<'_>) -> Result<Tuple, DecodeError> {
        let (mut src, mut dst) = (None, None);
        let mut proto = None;
        let mut t =
            Tuple::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), IpAddr::V4(Ipv4Addr::UNSPECIFIED), IpProto(0));
        let mut icmp = Icmp { id: 0, kind: 0, code: 0 };
        let mut have_icmp = false;
        for a in a.nested() {
            let a = a?;
            match a.kind() {
                CTA_TUPLE_IP => {
                    for a in a.nested() {
                        let a = a?;
                        match a.kind() {
                            CTA_IP_V4_SRC => src = Some(IpAddr::V4(v4(&a)?)),
                            CTA_IP_V4_DST => dst = Some(IpAddr::V4(v4(&a)?)),
                            CTA_IP_V6_SRC => src = Some(IpAddr::V6(v6(&a)?)),
                            CTA_IP_V6_DST => dst = Some(IpAddr::V6(v6(&a)?)),
                            _ => t.unknown.push(UnknownAttr::new(CTA_TUPLE_IP, &a)),
                        }
                    }
                }
                CTA_TUPLE_PROTO => {
                    for a in a.nested() {
                        let a = a?;
                        match a.kind() {
                            CTA_PROTO_NUM => proto = Some(IpProto(a.u8()?)),
                            CTA_PROTO_SRC_PORT => t.src_port = Some(a.u16_be()?),
                            CTA_PROTO_DST_PORT => t.dst_port = Some(a.u16_be()?),
                            CTA_PROTO_ICMP_ID | CTA_PROTO_ICMPV6_ID => {
                                icmp.id = a.u16_be()?;
                                have_icmp = true;
                            }
                            CTA_PROTO_ICMP_TYPE | CTA_PROTO_ICMPV6_TYPE => {
                                icmp.kind = a.u8()?;
                                have_icmp = true;
                            }
                            CTA_PROTO_ICMP_CODE | CTA_PROTO_ICMPV6_CODE => {
                                icmp.code = a.u8()?;
                                have_icmp = true;
                            }
                            _ => t.unknown.push(UnknownAttr::new(CTA_TUPLE_PROTO, &a)),
                        }
                    }
                }
                CTA_TUPLE_ZONE => t.zone = Some(a.u16_be()?),
                _ => t.unknown.push(UnknownAttr::new(0, &a)),
            }
        }
        t.src = src.ok_or_else(|| DecodeError::new("conntrack tuple", "no source address"))?;
        t.dst = dst.ok_or_else(|| DecodeError::new("conntrack tuple", "no destination address"))?;
        t.proto = proto.ok_or_else(|| DecodeError::new("conntrack tuple", "no protocol number"))?;
        if have_icmp {
            t.icmp = Some(icmp);
        }
        Ok(t)
    }
}

impl fmt::Display for Tuple {
    /// `tcp 10.0.0.1:1000 -> 10.0.0.2:80`, `icmp 10.0.0.1 -> 10.0.0.2 type 8 code 0 id 7`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.proto)?;
        match (self.src_socket(), self.dst_socket()) {
            (Some(s), Some(d)) => write!(f, "{s} -> {d}")?,
            _ => write!(f, "{} -> {}", self.src, self.dst)?,
        }
        if let Some(i) = self.icmp {
            write!(f, " type {} code {} id {}", i.kind, i.code, i.id)?;
        }
        if let Some(z) = self.zone {
            write!(f, " zone {z}")?;
        }
        Ok(())
    }
}

/// The nest `ty` of a tuple with ports, no ICMP fields and no zone, whose
/// addresses are `A` bytes long, written to `b` (`T` = 36 + 2 x (4 + `A`)
/// bytes, zeroed: padding is not written), laid out as
/// [`Tuple::write_general`] writes it: the IP nest (source, destination),
/// then the protocol nest (number, source port, destination port).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn ported<const A: usize, const T: usize>(
    b: &mut [u8; T],
    ty: u16,
    src: [u8; A],
    dst: [u8; A],
    src_ty: u16,
    dst_ty: u16,
    proto: IpProto,
    src_port: u16,
    dst_port: u16,
) {
    const { assert!(T == 36 + 2 * (4 + A)) };
    let ip = 4 + 2 * (4 + A);
    put_attr_header(b, 0, T, ty | NLA_F_NESTED);
    put_attr_header(b, 4, ip, CTA_TUPLE_IP | NLA_F_NESTED);
    put_attr_header(b, 8, 4 + A, src_ty);
    b[12..12 + A].copy_from_slice(&src);
    put_attr_header(b, 12 + A, 4 + A, dst_ty);
    b[16 + A..16 + 2 * A].copy_from_slice(&dst);
    let p = 4 + ip;
    put_attr_header(b, p, 28, CTA_TUPLE_PROTO | NLA_F_NESTED);
    put_attr_header(b, p + 4, 5, CTA_PROTO_NUM);
    b[p + 8] = proto.0;
    put_attr_header(b, p + 12, 6, CTA_PROTO_SRC_PORT);
    b[p + 16..p + 18].copy_from_slice(&src_port.to_be_bytes());
    put_attr_header(b, p + 20, 6, CTA_PROTO_DST_PORT);
    b[p + 24..p + 26].copy_from_slice(&dst_port.to_be_bytes());
}

/// [`ported`] for IPv4 addresses.
#[inline(always)]
pub(super) fn ported_v4(
    b: &mut [u8; 52],
    ty: u16,
    src: [u8; 4],
    dst: [u8; 4],
    proto: IpProto,
    sp: u16,
    dp: u16,
) {
    ported::<4, 52>(b, ty, src, dst, CTA_IP_V4_SRC, CTA_IP_V4_DST, proto, sp, dp)
}

#[inline]
fn stack_addr(s: &mut Stack<'_>, a: IpAddr, v4: u16, v6: u16) {
    match a {
        IpAddr::V4(a) => s.attr(v4, a.octets()),
        IpAddr::V6(a) => s.attr(v6, a.octets()),
    }
}

fn write_addr(w: &mut AttrWriter<'_>, a: IpAddr, v4: u16, v6: u16) {
    match a {
        IpAddr::V4(a) => w.bytes(v4, &a.octets()),
        IpAddr::V6(a) => w.bytes(v6, &a.octets()),
    };
}

/// Write the unknown attributes that belong in the nest `parent`.
fn v4(a: &Attr<'_>) -> Result<Ipv4Addr, DecodeError> {
    let b: [u8; 4] = a
        .payload
        .try_into()
        .map_err(|_| DecodeError::new("conntrack IPv4 address", format!("{} bytes", a.payload.len())))?;
    Ok(Ipv4Addr::from(b))
}

fn v6(a: &Attr<'_>) -> Result<Ipv6Addr, DecodeError> {
    let b: [u8; 16] = a
        .payload
        .try_into()
        .map_err(|_| DecodeError::new("conntrack IPv6 address", format!("{} bytes", a.payload.len())))?;
    Ok(Ipv6Addr::from(b))
}

/// The ICMP type of the reply to a request of type `t` (the kernel's
/// `invmap`); other types are kept.
fn reply_icmp_type(proto: IpProto, t: u8) -> u8 {
    if proto == IpProto::ICMPV6 {
        match t {
            128 => 129, // echo request -> echo reply
            129 => 128,
            139 => 140, // node information query -> reply
            140 => 139,
            _ => t,
        }
    } else {
        match t {
            8 => 0, // echo
            0 => 8,
            13 => 14, // timestamp
            14 => 13,
            15 => 16, // information
            16 => 15,
            17 => 18, // address mask
            18 => 17,
            _ => t,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::AttrIter;

    fn round_trip(t: &Tuple) -> Tuple {
        let mut buf = Vec::new();
        t.write(&mut AttrWriter::new(&mut buf), CTA_TUPLE_ORIG);
        let a = AttrIter::new(&buf).next().unwrap().unwrap();
        assert!(a.is_nested_flag());
        Tuple::parse(&a).unwrap()
    }

    #[test]
    fn tuples_round_trip() {
        let t = Tuple::tcp("10.0.0.1:1000".parse().unwrap(), "10.0.0.2:80".parse().unwrap());
        assert_eq!(round_trip(&t), t);
        let t = Tuple::udp("[fd00::1]:53".parse().unwrap(), "[fd00::2]:5353".parse().unwrap()).with_zone(7);
        assert_eq!(round_trip(&t), t);
        let t = Tuple::icmp("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap(), 77, 8, 0);
        assert_eq!(round_trip(&t), t);
        let t = Tuple::icmpv6("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap(), 9, 128, 0);
        assert_eq!(round_trip(&t), t);
        let mut t = Tuple::new("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap(), IpProto(99));
        t.unknown.push(UnknownAttr { parent: CTA_TUPLE_PROTO, raw_type: 42, payload: vec![1, 2, 3] });
        t.unknown.push(UnknownAttr { parent: 0, raw_type: 9, payload: vec![4] });
        assert_eq!(round_trip(&t), t);
    }

    #[test]
    fn reversal_swaps_and_maps_icmp() {
        let t = Tuple::tcp("10.0.0.1:1000".parse().unwrap(), "10.0.0.2:80".parse().unwrap());
        let r = t.reversed();
        assert_eq!(r.src_socket(), Some("10.0.0.2:80".parse().unwrap()));
        assert_eq!(r.dst_socket(), Some("10.0.0.1:1000".parse().unwrap()));
        assert_eq!(r.reversed(), t);
        let i = Tuple::icmp("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap(), 5, 8, 0);
        assert_eq!(i.reversed().icmp.unwrap().kind, 0);
        let i6 = Tuple::icmpv6("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap(), 5, 128, 0);
        assert_eq!(i6.reversed().icmp.unwrap().kind, 129);
    }

    #[test]
    fn mixed_families_are_refused_and_missing_fields_are_errors() {
        let t = Tuple::new("10.0.0.1".parse().unwrap(), "fd00::1".parse().unwrap(), IpProto::UDP);
        let e = t.validate("orig").unwrap_err();
        assert!(e.to_string().contains("orig"), "{e}");
        let mut no_port = Tuple::tcp("10.0.0.1:1".parse().unwrap(), "10.0.0.2:2".parse().unwrap());
        no_port.dst_port = None;
        assert!(no_port.validate("orig").unwrap_err().to_string().contains("orig.dst_port"));
        let bare_icmp = Tuple::new("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap(), IpProto::ICMP);
        assert!(bare_icmp.validate("reply").unwrap_err().to_string().contains("reply.icmp"));
        let mut v6_icmp = Tuple::icmpv6("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap(), 1, 128, 0);
        assert!(v6_icmp.validate("orig").is_ok());
        v6_icmp.proto = IpProto::ICMP;
        assert!(v6_icmp.validate("orig").unwrap_err().to_string().contains("orig.proto"));
        let gre = Tuple::new("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap(), IpProto::GRE);
        assert!(gre.validate("orig").is_ok());
        // A tuple nest without the IP nest.
        let mut buf = Vec::new();
        AttrWriter::new(&mut buf).nest(CTA_TUPLE_ORIG | NLA_F_NESTED, |w| {
            w.nest(CTA_TUPLE_PROTO | NLA_F_NESTED, |w| {
                w.u8(CTA_PROTO_NUM, 6);
            });
        });
        let a = AttrIter::new(&buf).next().unwrap().unwrap();
        assert!(Tuple::parse(&a).is_err());
    }

    #[test]
    fn protocol_names() {
        assert_eq!(IpProto::parse("TCP"), Some(IpProto::TCP));
        assert_eq!(IpProto::parse("132"), Some(IpProto::SCTP));
        assert_eq!(IpProto::parse("bogus"), None);
        assert_eq!(IpProto(250).to_string(), "250");
        assert_eq!(IpProto::ICMPV6.to_string(), "icmpv6");
    }
}
