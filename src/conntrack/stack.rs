//! Requests about flows encoded in a buffer on the stack: the common flow
//! (no unknown attributes, no helper) has a bounded size, so its attributes
//! are written with fixed-size stores and appended to the request in one
//! copy, instead of one growing-vector append per header and payload.
//! Bytes are identical to the [`AttrWriter`] encoding (tested in `flow`).

use std::net::IpAddr;

use super::consts::*;
use super::flow::{ProtoInfo, TcpFlags};
use super::tuple::{IpProto, Tuple};
use crate::wire::{AttrWriter, NLA_F_NESTED};

/// Room for the largest request written here (320 bytes): two IPv6 tuples
/// with ports, ICMP fields and zones (2 x 108 bytes), `nfgenmsg`, zone,
/// timeout, status, mark, labels (20) and the largest protocol
/// information (TCP, 48).
const MAX: usize = 384;

/// Attributes appended to a zeroed stack buffer (so padding is already 0).
pub(crate) struct Stack {
    buf: [u8; MAX],
    n: usize,
}

impl Stack {
    #[inline]
    pub(crate) fn new() -> Stack {
        Stack { buf: [0; MAX], n: 0 }
    }

    /// Raw bytes (a fixed header), padded to 4.
    #[inline]
    pub(crate) fn raw<const N: usize>(&mut self, bytes: [u8; N]) {
        self.buf[self.n..self.n + N].copy_from_slice(&bytes);
        self.n += (N + 3) & !3;
    }

    /// One attribute with a fixed-size payload, padded to 4.
    #[inline]
    pub(crate) fn attr<const N: usize>(&mut self, ty: u16, payload: [u8; N]) {
        let n = self.n;
        // One bounds check; the stores below are at constant offsets.
        let b = &mut self.buf[n..n + 4 + N];
        b[..2].copy_from_slice(&((4 + N) as u16).to_ne_bytes());
        b[2..4].copy_from_slice(&ty.to_ne_bytes());
        b[4..].copy_from_slice(&payload);
        self.n = n + ((4 + N + 3) & !3);
    }

    /// Open a nest of type `ty` (`NLA_F_NESTED` added); close it with
    /// [`Stack::end`].
    #[inline]
    pub(crate) fn begin(&mut self, ty: u16) -> usize {
        let start = self.n;
        self.buf[start..start + 4][2..].copy_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        self.n += 4;
        start
    }

    #[inline]
    pub(crate) fn end(&mut self, start: usize) {
        let len = (self.n - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    }

    /// Append what was written to `w`, whose end must be 4-aligned (as it
    /// is at every attribute boundary of a message).
    #[inline]
    pub(crate) fn flush(&self, w: &mut AttrWriter<'_>) {
        debug_assert_eq!(w.len() % 4, 0, "attributes start 4-aligned");
        w.raw(&self.buf[..self.n]);
    }

    /// `tuple` as the nest `ty`, as [`Tuple::write`] writes it. Only for a
    /// tuple without unknown attributes.
    #[inline]
    pub(crate) fn tuple(&mut self, t: &Tuple, ty: u16) {
        debug_assert!(t.unknown.is_empty());
        let outer = self.begin(ty);
        let ip = self.begin(CTA_TUPLE_IP);
        self.addr(t.src, CTA_IP_V4_SRC, CTA_IP_V6_SRC);
        self.addr(t.dst, CTA_IP_V4_DST, CTA_IP_V6_DST);
        self.end(ip);
        let proto = self.begin(CTA_TUPLE_PROTO);
        self.attr(CTA_PROTO_NUM, [t.proto.0]);
        if let Some(p) = t.src_port {
            self.attr(CTA_PROTO_SRC_PORT, p.to_be_bytes());
        }
        if let Some(p) = t.dst_port {
            self.attr(CTA_PROTO_DST_PORT, p.to_be_bytes());
        }
        if let Some(i) = t.icmp {
            let (id, kind, code) = if t.proto == IpProto::ICMPV6 {
                (CTA_PROTO_ICMPV6_ID, CTA_PROTO_ICMPV6_TYPE, CTA_PROTO_ICMPV6_CODE)
            } else {
                (CTA_PROTO_ICMP_ID, CTA_PROTO_ICMP_TYPE, CTA_PROTO_ICMP_CODE)
            };
            self.attr(id, i.id.to_be_bytes());
            self.attr(kind, [i.kind]);
            self.attr(code, [i.code]);
        }
        self.end(proto);
        if let Some(z) = t.zone {
            self.attr(CTA_TUPLE_ZONE, z.to_be_bytes());
        }
        self.end(outer);
    }

    #[inline]
    fn addr(&mut self, a: IpAddr, v4: u16, v6: u16) {
        match a {
            IpAddr::V4(a) => self.attr(v4, a.octets()),
            IpAddr::V6(a) => self.attr(v6, a.octets()),
        }
    }

    /// Protocol information as `write_protoinfo` writes it; `false` (and
    /// nothing written) for what only the general writer handles
    /// (unknown attributes).
    #[inline]
    pub(crate) fn protoinfo(&mut self, p: &ProtoInfo) -> bool {
        let flags = |f: TcpFlags| [f.flags, f.mask];
        match p {
            ProtoInfo::Tcp(t) if t.unknown.is_empty() => {
                let outer = self.begin(CTA_PROTOINFO);
                let inner = self.begin(CTA_PROTOINFO_TCP);
                if let Some(s) = t.state {
                    self.attr(CTA_PROTOINFO_TCP_STATE, [s.0]);
                }
                if let Some(s) = t.wscale_orig {
                    self.attr(CTA_PROTOINFO_TCP_WSCALE_ORIGINAL, [s]);
                }
                if let Some(s) = t.wscale_reply {
                    self.attr(CTA_PROTOINFO_TCP_WSCALE_REPLY, [s]);
                }
                if let Some(f) = t.flags_orig {
                    self.attr(CTA_PROTOINFO_TCP_FLAGS_ORIGINAL, flags(f));
                }
                if let Some(f) = t.flags_reply {
                    self.attr(CTA_PROTOINFO_TCP_FLAGS_REPLY, flags(f));
                }
                self.end(inner);
                self.end(outer);
                true
            }
            ProtoInfo::Sctp(s) if s.unknown.is_empty() => {
                let outer = self.begin(CTA_PROTOINFO);
                let inner = self.begin(CTA_PROTOINFO_SCTP);
                if let Some(st) = s.state {
                    self.attr(CTA_PROTOINFO_SCTP_STATE, [st.0]);
                }
                if let Some(v) = s.vtag_orig {
                    self.attr(CTA_PROTOINFO_SCTP_VTAG_ORIGINAL, v.to_be_bytes());
                }
                if let Some(v) = s.vtag_reply {
                    self.attr(CTA_PROTOINFO_SCTP_VTAG_REPLY, v.to_be_bytes());
                }
                self.end(inner);
                self.end(outer);
                true
            }
            ProtoInfo::Dccp(d) if d.unknown.is_empty() => {
                let outer = self.begin(CTA_PROTOINFO);
                let inner = self.begin(CTA_PROTOINFO_DCCP);
                if let Some(st) = d.state {
                    self.attr(CTA_PROTOINFO_DCCP_STATE, [st.0]);
                }
                if let Some(r) = d.role {
                    self.attr(CTA_PROTOINFO_DCCP_ROLE, [r]);
                }
                if let Some(s) = d.handshake_seq {
                    self.attr(CTA_PROTOINFO_DCCP_HANDSHAKE_SEQ, s.to_be_bytes());
                }
                self.end(inner);
                self.end(outer);
                true
            }
            _ => false,
        }
    }
}
