//! Requests about flows encoded in place: the common flow (no unknown
//! attributes, no helper) has a bounded size, so its attributes are
//! written with fixed-size stores into a zeroed window at the end of the
//! request buffer, instead of one growing-vector append per header and
//! payload. Bytes are identical to the [`AttrWriter`] encoding (tested in
//! `flow`). The tuple and protocol-information writers using it live with
//! their types (`Tuple::write_stack`, `write_protoinfo_stack`).

use crate::wire::{put_attr_header, AttrWriter, NLA_F_NESTED};

/// Room for the largest request written here (320 bytes): two IPv6 tuples
/// with ports, ICMP fields and zones (2 x 108 bytes), `nfgenmsg`, zone,
/// timeout, status, mark, labels (20) and the largest protocol
/// information (TCP, 48).
const MAX: usize = 320;

/// Attributes appended to a zeroed window (so padding is already 0).
pub(crate) struct Stack<'a> {
    buf: &'a mut [u8],
    n: usize,
}

/// Write with `f` into a zeroed window of [`MAX`] bytes at the end of
/// `w`'s buffer (whose end must be 4-aligned, as it is at every attribute
/// boundary of a message), and keep what it wrote if it returns true;
/// otherwise the buffer is left as it was.
#[inline]
pub(crate) fn write_in_place(w: &mut AttrWriter<'_>, f: impl FnOnce(&mut Stack<'_>) -> bool) -> bool {
    let v = w.vec_mut();
    let start = v.len();
    debug_assert_eq!(start % 4, 0, "attributes start 4-aligned");
    v.resize(start + MAX, 0);
    let mut s = Stack { buf: &mut v[start..], n: 0 };
    let keep = f(&mut s);
    let n = if keep { s.n } else { 0 };
    v.truncate(start + n);
    keep
}

impl Stack<'_> {
    /// Raw bytes (a fixed header, or attributes laid out by the caller),
    /// padded to 4.
    #[inline]
    pub(crate) fn raw<const N: usize>(&mut self, bytes: [u8; N]) {
        self.buf[self.n..self.n + N].copy_from_slice(&bytes);
        self.n += (N + 3) & !3;
    }

    /// The next `N` bytes (zeroed) for the caller to lay out, padded to 4.
    #[inline]
    pub(crate) fn take<const N: usize>(&mut self) -> &mut [u8; N] {
        let n = self.n;
        self.n += (N + 3) & !3;
        (&mut self.buf[n..n + N]).try_into().expect("N bytes")
    }

    /// One attribute with a fixed-size payload, padded to 4.
    #[inline]
    pub(crate) fn attr<const N: usize>(&mut self, ty: u16, payload: [u8; N]) {
        let n = self.n;
        // One bounds check; the stores below are at constant offsets.
        let b = &mut self.buf[n..n + 4 + N];
        put_attr_header(b, 0, 4 + N, ty);
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
}
