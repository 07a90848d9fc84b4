//! Requests about flows encoded in a buffer on the stack: the common flow
//! (no unknown attributes, no helper) has a bounded size, so its attributes
//! are written with fixed-size stores and appended to the request in one
//! copy, instead of one growing-vector append per header and payload.
//! Bytes are identical to the [`AttrWriter`] encoding (tested in `flow`).
//! The tuple and protocol-information writers using it live with their
//! types (`Tuple::write_stack`, `write_protoinfo_stack`).

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
}
