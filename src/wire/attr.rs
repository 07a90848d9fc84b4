//! Netlink attributes (TLVs): a writer that appends to a buffer and an
//! iterator that borrows from one.
//!
//! Layout (`struct nlattr`): `u16 len` (header included, padding excluded),
//! `u16 type` (bit 15 `NLA_F_NESTED`, bit 14 `NLA_F_NET_BYTEORDER`), payload,
//! padding to 4 bytes.

use crate::error::DecodeError;

/// `NLA_F_NESTED`: the attribute holds attributes.
pub const NLA_F_NESTED: u16 = 1 << 15;
/// `NLA_F_NET_BYTEORDER`: the payload is in network byte order.
pub const NLA_F_NET_BYTEORDER: u16 = 1 << 14;
/// Mask that removes the two flag bits from an attribute type.
pub const NLA_TYPE_MASK: u16 = !(NLA_F_NESTED | NLA_F_NET_BYTEORDER);
/// Size of `struct nlattr`.
pub const NLA_HDRLEN: usize = 4;

/// Round `len` up to the 4-byte netlink alignment.
#[inline]
pub const fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// Appends attributes to a byte buffer.
///
/// Every method writes one complete, padded attribute. Nested attributes are
/// written with [`AttrWriter::nest`], which patches the length when the
/// closure returns.
#[derive(Debug)]
pub struct AttrWriter<'a> {
    buf: &'a mut Vec<u8>,
}

/// An attribute header (length, type) written at `at` in `b`: for
/// attributes laid out in place or at constant offsets.
#[inline(always)]
pub(crate) fn put_attr_header(b: &mut [u8], at: usize, len: usize, ty: u16) {
    b[at..at + 2].copy_from_slice(&(len as u16).to_ne_bytes());
    b[at + 2..at + 4].copy_from_slice(&ty.to_ne_bytes());
}

impl<'a> AttrWriter<'a> {
    /// A writer that appends to `buf`.
    pub fn new(buf: &'a mut Vec<u8>) -> Self {
        AttrWriter { buf }
    }

    /// The bytes written so far (of the whole underlying buffer).
    pub fn buffer(&self) -> &[u8] {
        self.buf
    }

    pub(crate) fn vec_mut(&mut self) -> &mut Vec<u8> {
        self.buf
    }

    /// Append raw bytes (for fixed headers such as `struct ifinfomsg`),
    /// padded to 4 bytes.
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self.pad();
        self
    }

    fn pad(&mut self) {
        let want = align(self.buf.len());
        self.buf.resize(want, 0);
    }

    /// An attribute with an arbitrary payload.
    ///
    /// # Panics
    /// If the payload is longer than an attribute can hold (65,531 bytes);
    /// callers that take user data check this when they build a request.
    pub fn bytes(&mut self, ty: u16, payload: &[u8]) -> &mut Self {
        let len = NLA_HDRLEN + payload.len();
        assert!(len <= u16::MAX as usize, "netlink attribute too long");
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.pad();
        self
    }

    /// An attribute with an `N`-byte payload (N <= 16), the same bytes as
    /// [`AttrWriter::bytes`] writes, appended with one copy of a known
    /// length (no per-field capacity checks or `memcpy` calls): the
    /// numbers and addresses of every request go through here.
    #[inline]
    pub(crate) fn fixed<const N: usize>(&mut self, ty: u16, payload: [u8; N]) -> &mut Self {
        const { assert!(N <= 16) };
        if self.buf.len() % 4 != 0 {
            return self.bytes(ty, &payload);
        }
        let mut a = [0u8; NLA_HDRLEN + 16];
        put_attr_header(&mut a, 0, NLA_HDRLEN + N, ty);
        a[NLA_HDRLEN..NLA_HDRLEN + N].copy_from_slice(&payload);
        self.buf.extend_from_slice(&a[..align(NLA_HDRLEN + N)]);
        self
    }

    /// An attribute with no payload (a flag).
    pub fn flag(&mut self, ty: u16) -> &mut Self {
        self.bytes(ty, &[])
    }

    /// A `u8` attribute.
    pub fn u8(&mut self, ty: u16, v: u8) -> &mut Self {
        self.fixed(ty, [v])
    }

    /// A `u16` attribute in host byte order.
    pub fn u16(&mut self, ty: u16, v: u16) -> &mut Self {
        self.fixed(ty, v.to_ne_bytes())
    }

    /// A `u16` attribute in network byte order.
    pub fn u16_be(&mut self, ty: u16, v: u16) -> &mut Self {
        self.fixed(ty, v.to_be_bytes())
    }

    /// A `u32` attribute in host byte order.
    pub fn u32(&mut self, ty: u16, v: u32) -> &mut Self {
        self.fixed(ty, v.to_ne_bytes())
    }

    /// A `u32` attribute in network byte order.
    pub fn u32_be(&mut self, ty: u16, v: u32) -> &mut Self {
        self.fixed(ty, v.to_be_bytes())
    }

    /// An `i32` attribute in host byte order.
    pub fn i32(&mut self, ty: u16, v: i32) -> &mut Self {
        self.fixed(ty, v.to_ne_bytes())
    }

    /// A `u64` attribute in host byte order.
    pub fn u64(&mut self, ty: u16, v: u64) -> &mut Self {
        self.fixed(ty, v.to_ne_bytes())
    }

    /// A `u64` attribute in network byte order.
    pub fn u64_be(&mut self, ty: u16, v: u64) -> &mut Self {
        self.fixed(ty, v.to_be_bytes())
    }

    /// A NUL-terminated string attribute.
    pub fn str(&mut self, ty: u16, s: &str) -> &mut Self {
        let len = NLA_HDRLEN + s.len() + 1;
        assert!(len <= u16::MAX as usize, "netlink attribute too long");
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
        self.pad();
        self
    }

    /// A nested attribute: `f` writes the inner attributes. `ty` is written
    /// as given; add [`NLA_F_NESTED`] where the receiver expects it
    /// (nftables does, rtnetlink does not care).
    pub fn nest<R>(&mut self, ty: u16, f: impl FnOnce(&mut AttrWriter<'_>) -> R) -> R {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        let r = f(&mut AttrWriter { buf: self.buf });
        let len = self.buf.len() - start;
        assert!(len <= u16::MAX as usize, "nested netlink attribute too long");
        self.buf[start..start + 2].copy_from_slice(&(len as u16).to_ne_bytes());
        r
    }

    /// Start a nested attribute by hand; finish it with
    /// [`AttrWriter::end_nest`]. Prefer [`AttrWriter::nest`].
    pub fn begin_nest(&mut self, ty: u16) -> NestMark {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        NestMark(start)
    }

    /// Finish a nested attribute started with [`AttrWriter::begin_nest`].
    pub fn end_nest(&mut self, mark: NestMark) {
        let len = self.buf.len() - mark.0;
        assert!(len <= u16::MAX as usize, "nested netlink attribute too long");
        self.buf[mark.0..mark.0 + 2].copy_from_slice(&(len as u16).to_ne_bytes());
    }

    /// Length of the underlying buffer.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether the underlying buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// Where a hand-started nested attribute begins.
#[derive(Debug)]
#[must_use = "finish the nest with AttrWriter::end_nest"]
pub struct NestMark(usize);

/// One attribute borrowed from a buffer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Attr<'a> {
    /// Raw type field including the flag bits.
    pub raw_type: u16,
    /// Payload, without header or padding.
    pub payload: &'a [u8],
}

impl std::fmt::Debug for Attr<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Attr({}, {:02x?})", self.raw_type, self.payload)
    }
}

impl<'a> Attr<'a> {
    /// The attribute type without the flag bits.
    #[inline]
    pub fn kind(&self) -> u16 {
        self.raw_type & NLA_TYPE_MASK
    }

    /// Whether `NLA_F_NESTED` is set.
    pub fn is_nested_flag(&self) -> bool {
        self.raw_type & NLA_F_NESTED != 0
    }

    #[inline]
    fn exact<const N: usize>(&self, what: &'static str) -> Result<[u8; N], DecodeError> {
        match <[u8; N]>::try_from(self.payload) {
            Ok(b) => Ok(b),
            Err(_) => Err(wrong_size(what, N, self.payload.len())),
        }
    }

    /// The payload as a `u8`.
    #[inline]
    pub fn u8(&self) -> Result<u8, DecodeError> {
        Ok(self.exact::<1>("u8 attribute")?[0])
    }

    /// The payload as a host-order `u16`.
    #[inline]
    pub fn u16(&self) -> Result<u16, DecodeError> {
        Ok(u16::from_ne_bytes(self.exact("u16 attribute")?))
    }

    /// The payload as a network-order `u16`.
    #[inline]
    pub fn u16_be(&self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.exact("u16 attribute")?))
    }

    /// The payload as a host-order `u32`.
    #[inline]
    pub fn u32(&self) -> Result<u32, DecodeError> {
        Ok(u32::from_ne_bytes(self.exact("u32 attribute")?))
    }

    /// The payload as a network-order `u32`.
    #[inline]
    pub fn u32_be(&self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.exact("u32 attribute")?))
    }

    /// The payload as a host-order `i32`.
    #[inline]
    pub fn i32(&self) -> Result<i32, DecodeError> {
        Ok(i32::from_ne_bytes(self.exact("i32 attribute")?))
    }

    /// The payload as a host-order `u64`.
    #[inline]
    pub fn u64(&self) -> Result<u64, DecodeError> {
        Ok(u64::from_ne_bytes(self.exact("u64 attribute")?))
    }

    /// The payload as a network-order `u64`.
    #[inline]
    pub fn u64_be(&self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.exact("u64 attribute")?))
    }

    /// The payload as a string: up to the first NUL, which must exist or the
    /// payload must be valid UTF-8 to its end.
    pub fn str(&self) -> Result<&'a str, DecodeError> {
        let p = self.payload;
        let end = p.iter().position(|&b| b == 0).unwrap_or(p.len());
        std::str::from_utf8(&p[..end]).map_err(|_| DecodeError::new("string attribute", "not UTF-8"))
    }

    /// The payload as nested attributes.
    pub fn nested(&self) -> AttrIter<'a> {
        AttrIter::new(self.payload)
    }
}

/// Iterates the attributes in a buffer. Yields an error (once, then stops)
/// when an attribute header is malformed; trailing bytes shorter than a
/// header are an error too.
#[derive(Clone, Debug)]
pub struct AttrIter<'a> {
    buf: &'a [u8],
    failed: bool,
}

impl<'a> AttrIter<'a> {
    /// Iterate the attributes in `buf`.
    #[inline]
    pub fn new(buf: &'a [u8]) -> Self {
        AttrIter { buf, failed: false }
    }
}

impl<'a> Iterator for AttrIter<'a> {
    type Item = Result<Attr<'a>, DecodeError>;

    // Inlined into the (generic, so compiled in the caller's crate)
    // decoders: the hot path is a few instructions, the errors are cold.
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.buf.is_empty() {
            return None;
        }
        match split_attr(self.buf) {
            Some((a, rest)) => {
                self.buf = rest;
                Some(Ok(a))
            }
            None => {
                self.failed = true;
                Some(Err(malformed_attr(self.buf)))
            }
        }
    }
}

/// The attribute at the start of the non-empty `buf`, and what follows it
/// (from its aligned end); `None` if its header is malformed
/// ([`malformed_attr`] says how). The framing step of [`AttrIter`],
/// shared with decoders that walk attributes by hand (the result stays in
/// registers, where the iterator's `Option<Result<Attr>>` goes through
/// the stack).
#[inline(always)]
pub(crate) fn split_attr(buf: &[u8]) -> Option<(Attr<'_>, &[u8])> {
    let &[l0, l1, t0, t1] = buf.first_chunk::<NLA_HDRLEN>()?;
    let len = u16::from_ne_bytes([l0, l1]) as usize;
    if len < NLA_HDRLEN || len > buf.len() {
        return None;
    }
    let a = Attr { raw_type: u16::from_ne_bytes([t0, t1]), payload: &buf[NLA_HDRLEN..len] };
    Some((a, &buf[align(len).min(buf.len())..]))
}

/// The error for the malformed attribute at the start of `buf`, on which
/// [`split_attr`] gave `None`: the one [`AttrIter`] yields.
#[cold]
#[inline(never)]
pub(crate) fn malformed_attr(buf: &[u8]) -> DecodeError {
    match buf.first_chunk::<NLA_HDRLEN>() {
        None => trailing(buf.len()),
        Some(&[l0, l1, t0, t1]) => {
            bad_length(u16::from_ne_bytes([l0, l1]) as usize, buf.len(), u16::from_ne_bytes([t0, t1]))
        }
    }
}

#[cold]
#[inline(never)]
fn wrong_size(what: &'static str, want: usize, got: usize) -> DecodeError {
    DecodeError::new(what, format!("expected {want} bytes, got {got}"))
}

#[cold]
#[inline(never)]
fn trailing(n: usize) -> DecodeError {
    DecodeError::new("attribute", format!("{n} trailing bytes"))
}

#[cold]
#[inline(never)]
fn bad_length(len: usize, room: usize, raw_type: u16) -> DecodeError {
    DecodeError::new("attribute", format!("length {len} outside 4..={room} (type {raw_type})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_scalars_and_nest() {
        let mut buf = Vec::new();
        let mut w = AttrWriter::new(&mut buf);
        w.u8(1, 7).u16(2, 0x1234).u32_be(3, 0xdeadbeef).str(4, "eth0");
        w.nest(5 | NLA_F_NESTED, |w| {
            w.u64(1, 42).flag(2);
        });
        assert_eq!(buf.len() % 4, 0);
        let attrs: Vec<_> = AttrIter::new(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(attrs.len(), 5);
        assert_eq!(attrs[0].u8().unwrap(), 7);
        assert_eq!(attrs[1].u16().unwrap(), 0x1234);
        assert_eq!(attrs[2].u32_be().unwrap(), 0xdeadbeef);
        assert_eq!(attrs[3].str().unwrap(), "eth0");
        assert_eq!(attrs[3].payload.len(), 5);
        assert_eq!(attrs[4].kind(), 5);
        assert!(attrs[4].is_nested_flag());
        let inner: Vec<_> = attrs[4].nested().collect::<Result<_, _>>().unwrap();
        assert_eq!(inner[0].u64().unwrap(), 42);
        assert!(inner[1].payload.is_empty());
    }

    #[test]
    fn malformed_lengths_are_errors() {
        // length 2 < header
        let bad = [2u8, 0, 1, 0];
        let mut it = AttrIter::new(&bad);
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
        // length beyond the buffer
        let bad = [16u8, 0, 1, 0, 0, 0];
        assert!(AttrIter::new(&bad).next().unwrap().is_err());
        // trailing garbage
        let bad = [8u8, 0, 1, 0, 1, 2, 3, 4, 9];
        let v: Vec<_> = AttrIter::new(&bad).collect();
        assert!(v[0].is_ok() && v[1].is_err());
        // wrong scalar size
        let mut buf = Vec::new();
        AttrWriter::new(&mut buf).u16(1, 3);
        let a = AttrIter::new(&buf).next().unwrap().unwrap();
        assert!(a.u32().is_err());
    }

    #[test]
    fn unaligned_last_attribute_without_padding_is_accepted() {
        // The kernel always pads, but a last attribute may legally end the
        // buffer without its padding.
        let buf = [5u8, 0, 1, 0, 9];
        let a = AttrIter::new(&buf).next().unwrap().unwrap();
        assert_eq!(a.u8().unwrap(), 9);
    }

    /// `fixed` writes what `bytes` writes, whatever the payload size and
    /// whether the buffer ends aligned or not.
    #[test]
    fn fixed_writes_what_bytes_writes() {
        fn both<const N: usize>(prefix: usize, v: [u8; N]) {
            let (mut a, mut b) = (vec![0xaa; prefix], vec![0xaa; prefix]);
            AttrWriter::new(&mut a).fixed(7, v);
            AttrWriter::new(&mut b).bytes(7, &v);
            assert_eq!(a, b, "N {N}, prefix {prefix}");
        }
        for prefix in 0..8 {
            both(prefix, [1]);
            both(prefix, [1, 2]);
            both(prefix, [1, 2, 3]);
            both(prefix, [1, 2, 3, 4]);
            both(prefix, [1, 2, 3, 4, 5, 6, 7, 8]);
            both(prefix, [9; 16]);
            both::<0>(prefix, []);
        }
        let mut w = Vec::new();
        AttrWriter::new(&mut w).u8(1, 2).u16(3, 4).u32(5, 6).u64(7, 8).i32(9, -1).u32_be(10, 11);
        let got: Vec<(u16, Vec<u8>)> = AttrIter::new(&w)
            .map(|a| a.map(|a| (a.kind(), a.payload.to_vec())))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            got,
            vec![
                (1, vec![2]),
                (3, 4u16.to_ne_bytes().to_vec()),
                (5, 6u32.to_ne_bytes().to_vec()),
                (7, 8u64.to_ne_bytes().to_vec()),
                (9, (-1i32).to_ne_bytes().to_vec()),
                (10, 11u32.to_be_bytes().to_vec()),
            ]
        );
    }
}
