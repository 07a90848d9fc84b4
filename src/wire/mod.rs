//! Pure encoding and decoding of netlink messages: no I/O, no tokio.
//!
//! Everything that parses bytes from the kernel lives below this module. It
//! never panics on any input (the fuzz targets in `fuzz/` check that) and it
//! is usable on its own, for instance to build requests for a socket you own
//! or to decode a capture.

pub mod attr;
mod family;
/// Names of protocols and message types ([`crate::names`], re-exported
/// here where the wire layer's users look for them).
pub use crate::names;

pub(crate) use attr::put_attr_header;
pub use attr::{align, Attr, AttrIter, AttrWriter, NLA_F_NESTED, NLA_F_NET_BYTEORDER};
pub(crate) use family::{family_of, AF_BRIDGE, AF_INET, AF_INET6, AF_UNSPEC};

use crate::error::{DecodeError, Errno, KernelError};
use crate::names::MsgType;

// Header flags and control message types: the kernel's values as `libc`
// defines them (`c_int` there, `u16` on the wire).
/// `NLM_F_REQUEST`: a request.
pub const NLM_F_REQUEST: u16 = libc::NLM_F_REQUEST as u16;
/// `NLM_F_MULTIPART`: part of a multipart reply (`NLM_F_MULTI`).
pub const NLM_F_MULTIPART: u16 = libc::NLM_F_MULTI as u16;
/// `NLM_F_ACK`: ask for an acknowledgement.
pub const NLM_F_ACK: u16 = libc::NLM_F_ACK as u16;
/// `NLM_F_ECHO`: echo this request to the sender.
pub const NLM_F_ECHO: u16 = libc::NLM_F_ECHO as u16;
/// `NLM_F_DUMP_INTR`: the dump was interrupted by a change: it may be inconsistent.
pub const NLM_F_DUMP_INTR: u16 = libc::NLM_F_DUMP_INTR as u16;
/// `NLM_F_DUMP_FILTERED`: the dump was filtered as requested.
pub const NLM_F_DUMP_FILTERED: u16 = libc::NLM_F_DUMP_FILTERED as u16;
/// `NLM_F_DUMP`: get requests: dump every object (`NLM_F_ROOT | NLM_F_MATCH`).
pub const NLM_F_DUMP: u16 = libc::NLM_F_DUMP as u16;
/// `NLM_F_REPLACE`: new requests: replace an existing object.
pub const NLM_F_REPLACE: u16 = libc::NLM_F_REPLACE as u16;
/// `NLM_F_EXCL`: new requests: fail if the object exists.
pub const NLM_F_EXCL: u16 = libc::NLM_F_EXCL as u16;
/// `NLM_F_CREATE`: new requests: create the object if it does not exist.
pub const NLM_F_CREATE: u16 = libc::NLM_F_CREATE as u16;
/// `NLM_F_APPEND`: new requests: add to the end of the list.
pub const NLM_F_APPEND: u16 = libc::NLM_F_APPEND as u16;
/// `NLM_F_NONREC`: delete requests: do not delete recursively.
pub const NLM_F_NONREC: u16 = libc::NLM_F_NONREC as u16;
/// `NLM_F_BULK`: delete requests (Linux 6.0+): delete every match.
pub const NLM_F_BULK: u16 = libc::NLM_F_BULK as u16;
/// `NLM_F_CAPPED`: error messages: the request was capped to its header.
pub const NLM_F_CAPPED: u16 = libc::NLM_F_CAPPED as u16;
/// `NLM_F_ACK_TLVS`: error messages: extended-ack attributes follow.
pub const NLM_F_ACK_TLVS: u16 = libc::NLM_F_ACK_TLVS as u16;
/// `NLMSG_NOOP`: nothing.
pub const NLMSG_NOOP: u16 = libc::NLMSG_NOOP as u16;
/// `NLMSG_ERROR`: an error or, with errno 0, an acknowledgement.
pub const NLMSG_ERROR: u16 = libc::NLMSG_ERROR as u16;
/// `NLMSG_DONE`: the end of a dump.
pub const NLMSG_DONE: u16 = libc::NLMSG_DONE as u16;
/// `NLMSG_OVERRUN`: data was lost.
pub const NLMSG_OVERRUN: u16 = libc::NLMSG_OVERRUN as u16;
/// Size of `struct nlmsghdr`.
pub const NLMSG_HDRLEN: usize = 16;

/// Extended-ack attribute: the kernel's message (`NLMSGERR_ATTR_MSG`).
pub const NLMSGERR_ATTR_MSG: u16 = 1;
/// Extended-ack attribute: offset of the offending attribute in the request.
pub const NLMSGERR_ATTR_OFFS: u16 = 2;
/// Extended-ack attribute: a cookie.
pub const NLMSGERR_ATTR_COOKIE: u16 = 3;
/// Extended-ack attribute: the policy of the offending attribute.
pub const NLMSGERR_ATTR_POLICY: u16 = 4;
/// Extended-ack attribute: type of a missing attribute.
pub const NLMSGERR_ATTR_MISS_TYPE: u16 = 5;
/// Extended-ack attribute: offset of the nest a missing attribute belongs in.
pub const NLMSGERR_ATTR_MISS_NEST: u16 = 6;

/// `struct nlmsghdr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Header {
    /// Length of the message including this header.
    pub len: u32,
    /// Message type (`RTM_NEWLINK`, `NLMSG_ERROR`, ...).
    pub ty: u16,
    /// `NLM_F_*` flags.
    pub flags: u16,
    /// Sequence number.
    pub seq: u32,
    /// Port id of the sender (0 for the kernel) or the destination.
    pub port: u32,
}

impl Header {
    /// Decode a header from the first 16 bytes of `b`.
    #[inline]
    pub fn parse(b: &[u8]) -> Result<Header, DecodeError> {
        let Some(b) = b.first_chunk::<NLMSG_HDRLEN>() else {
            return Err(short_header(b.len()));
        };
        Ok(Header {
            len: u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
            ty: u16::from_ne_bytes([b[4], b[5]]),
            flags: u16::from_ne_bytes([b[6], b[7]]),
            seq: u32::from_ne_bytes([b[8], b[9], b[10], b[11]]),
            port: u32::from_ne_bytes([b[12], b[13], b[14], b[15]]),
        })
    }

    /// Encode into 16 bytes.
    pub fn to_bytes(&self) -> [u8; NLMSG_HDRLEN] {
        let mut out = [0u8; NLMSG_HDRLEN];
        out[0..4].copy_from_slice(&self.len.to_ne_bytes());
        out[4..6].copy_from_slice(&self.ty.to_ne_bytes());
        out[6..8].copy_from_slice(&self.flags.to_ne_bytes());
        out[8..12].copy_from_slice(&self.seq.to_ne_bytes());
        out[12..16].copy_from_slice(&self.port.to_ne_bytes());
        out
    }
}

/// One message borrowed from a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Msg<'a> {
    /// The header.
    pub header: Header,
    /// Everything after the header, up to `header.len`.
    pub payload: &'a [u8],
}

impl<'a> Msg<'a> {
    /// The whole message, header included.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(NLMSG_HDRLEN + self.payload.len());
        v.extend_from_slice(&self.header.to_bytes());
        v.extend_from_slice(self.payload);
        v
    }
}

/// Iterates the messages in one datagram. A malformed length yields one
/// error and ends the iteration.
#[derive(Clone, Debug)]
pub struct MsgIter<'a> {
    buf: &'a [u8],
    failed: bool,
}

impl<'a> MsgIter<'a> {
    /// Iterate the messages in `datagram`.
    #[inline]
    pub fn new(datagram: &'a [u8]) -> Self {
        MsgIter { buf: datagram, failed: false }
    }
}

impl<'a> Iterator for MsgIter<'a> {
    type Item = Result<Msg<'a>, DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.buf.is_empty() {
            return None;
        }
        let header = match Header::parse(self.buf) {
            Ok(h) => h,
            Err(e) => {
                self.failed = true;
                return Some(Err(e));
            }
        };
        let len = header.len as usize;
        if len < NLMSG_HDRLEN || len > self.buf.len() {
            self.failed = true;
            return Some(Err(bad_msg_length(len, self.buf.len(), header.ty)));
        }
        let payload = &self.buf[NLMSG_HDRLEN..len];
        let next = align(len).min(self.buf.len());
        self.buf = &self.buf[next..];
        Some(Ok(Msg { header, payload }))
    }
}

#[cold]
#[inline(never)]
fn short_header(n: usize) -> DecodeError {
    DecodeError::new("netlink header", format!("{n} bytes, need 16"))
}

#[cold]
#[inline(never)]
fn bad_msg_length(len: usize, room: usize, ty: u16) -> DecodeError {
    DecodeError::new("netlink message", format!("length {len} outside 16..={room} (type {ty})"))
}

/// Builds one netlink message at the end of a buffer that may already hold
/// others (a batch). Dereferences to an [`AttrWriter`] for the payload.
///
/// The length is patched by [`MsgWriter::finish`] (or on drop).
#[derive(Debug)]
pub struct MsgWriter<'a> {
    start: usize,
    w: AttrWriter<'a>,
}

impl<'a> MsgWriter<'a> {
    /// Start a message of type `ty` with `flags` at the end of `buf`. The
    /// sequence number and port id are left 0; the connection fills in the
    /// sequence number when it sends.
    pub fn new(buf: &'a mut Vec<u8>, ty: u16, flags: u16) -> Self {
        let start = buf.len();
        let h = Header { len: 0, ty, flags, seq: 0, port: 0 };
        buf.extend_from_slice(&h.to_bytes());
        MsgWriter { start, w: AttrWriter::new(buf) }
    }

    /// Finish the message: patch its length. Returns the message's length.
    pub fn finish(self) -> usize {
        self.w.len() - self.start
    }
}

impl Drop for MsgWriter<'_> {
    fn drop(&mut self) {
        let start = self.start;
        let buf = self.w.vec_mut();
        let len = (buf.len() - start) as u32;
        buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
    }
}

impl<'a> std::ops::Deref for MsgWriter<'a> {
    type Target = AttrWriter<'a>;
    fn deref(&self) -> &AttrWriter<'a> {
        &self.w
    }
}

impl std::ops::DerefMut for MsgWriter<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.w
    }
}

/// Set the sequence number of the message that starts at `offset` in `buf`.
pub fn set_seq(buf: &mut [u8], offset: usize, seq: u32) {
    buf[offset + 8..offset + 12].copy_from_slice(&seq.to_ne_bytes());
}

/// Set the flags of the message that starts at `offset` in `buf`.
pub fn set_flags(buf: &mut [u8], offset: usize, flags: u16) {
    buf[offset + 6..offset + 8].copy_from_slice(&flags.to_ne_bytes());
}

/// What an `NLMSG_ERROR` message says.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ErrorMsg {
    /// Negative errno, or 0 for an acknowledgement.
    pub error: i32,
    /// Header of the request it answers.
    pub request: Header,
    /// `NLMSGERR_ATTR_MSG`: the kernel's explanation.
    pub message: Option<String>,
    /// `NLMSGERR_ATTR_OFFS`: byte offset, in the request, of the attribute
    /// the kernel objected to.
    pub offset: Option<u32>,
    /// `NLMSGERR_ATTR_MISS_TYPE`: type of an attribute the kernel missed.
    pub missing_type: Option<u32>,
    /// `NLMSGERR_ATTR_MISS_NEST`: offset of the nest it was missing from.
    pub missing_nest: Option<u32>,
    /// `NLMSGERR_ATTR_COOKIE`.
    pub cookie: Option<Vec<u8>>,
}

impl ErrorMsg {
    /// Decode the payload of an `NLMSG_ERROR` message; `flags` are the
    /// message's header flags (`NLM_F_CAPPED`, `NLM_F_ACK_TLVS`).
    pub fn parse(payload: &[u8], flags: u16) -> Result<ErrorMsg, DecodeError> {
        if payload.len() < 4 + NLMSG_HDRLEN {
            return Err(DecodeError::new("NLMSG_ERROR", format!("{} bytes, need 20", payload.len())));
        }
        let error = i32::from_ne_bytes(payload[0..4].try_into().expect("4 bytes"));
        let request = Header::parse(&payload[4..])?;
        let mut out = ErrorMsg { error, request, ..Default::default() };
        if flags & NLM_F_ACK_TLVS == 0 {
            return Ok(out);
        }
        // Without NLM_F_CAPPED the original request follows in full.
        let tlv_start =
            if flags & NLM_F_CAPPED != 0 { 4 + NLMSG_HDRLEN } else { 4 + align(request.len as usize) };
        let Some(tlvs) = payload.get(tlv_start..) else {
            return Err(DecodeError::new("NLMSG_ERROR", "extended ack beyond the message"));
        };
        out.read_ext_ack(tlvs)?;
        Ok(out)
    }

    /// Decode the payload of the `NLMSG_DONE` that ends a dump: its error
    /// code (0 when the dump ended well; a payload shorter than the code
    /// counts as 0) and, with `NLM_F_ACK_TLVS` in `flags`, the same
    /// extended-ack attributes as [`ErrorMsg::parse`], right after the code
    /// (`request` stays empty: a dump's end does not echo the request).
    pub fn parse_done(payload: &[u8], flags: u16) -> Result<ErrorMsg, DecodeError> {
        let Some(code) = payload.get(0..4) else {
            return Ok(ErrorMsg::default());
        };
        let mut out =
            ErrorMsg { error: i32::from_ne_bytes(code.try_into().expect("4 bytes")), ..Default::default() };
        if flags & NLM_F_ACK_TLVS != 0 {
            out.read_ext_ack(&payload[4..])?;
        }
        Ok(out)
    }

    /// Read extended-ack attributes into `self`.
    fn read_ext_ack(&mut self, tlvs: &[u8]) -> Result<(), DecodeError> {
        for a in AttrIter::new(tlvs) {
            let a = a?;
            match a.kind() {
                NLMSGERR_ATTR_MSG => self.message = Some(a.str()?.to_string()),
                NLMSGERR_ATTR_OFFS => self.offset = Some(a.u32()?),
                NLMSGERR_ATTR_MISS_TYPE => self.missing_type = Some(a.u32()?),
                NLMSGERR_ATTR_MISS_NEST => self.missing_nest = Some(a.u32()?),
                NLMSGERR_ATTR_COOKIE => self.cookie = Some(a.payload.to_vec()),
                _ => {}
            }
        }
        Ok(())
    }

    /// The error as the user sees it: the errno and the kernel's
    /// extended-ack fields, for `request` sent with sequence number `seq`.
    /// The one place a [`KernelError`] is made from a kernel error message
    /// (an `NLMSG_ERROR`, or an `NLMSG_DONE` that ends a dump with one); a
    /// batch or transaction fills in [`KernelError::operation`] afterwards.
    pub fn to_kernel_error(&self, request: MsgType, seq: u32) -> KernelError {
        KernelError {
            errno: Errno(-self.error),
            message: self.message.clone(),
            offset: self.offset,
            missing_attr: self.missing_type,
            request,
            seq,
            operation: None,
        }
    }

    /// Encode as the payload of an `NLMSG_ERROR` message (capped, with TLVs
    /// when any extended-ack field is set). Returns the payload and the
    /// header flags to use. Used by tests and fuzzing.
    pub fn encode(&self) -> (Vec<u8>, u16) {
        let mut out = Vec::new();
        out.extend_from_slice(&self.error.to_ne_bytes());
        out.extend_from_slice(&self.request.to_bytes());
        let mut flags = NLM_F_CAPPED;
        if self.message.is_some()
            || self.offset.is_some()
            || self.missing_type.is_some()
            || self.missing_nest.is_some()
            || self.cookie.is_some()
        {
            flags |= NLM_F_ACK_TLVS;
            let mut w = AttrWriter::new(&mut out);
            if let Some(m) = &self.message {
                w.str(NLMSGERR_ATTR_MSG, m);
            }
            if let Some(o) = self.offset {
                w.u32(NLMSGERR_ATTR_OFFS, o);
            }
            if let Some(c) = &self.cookie {
                w.bytes(NLMSGERR_ATTR_COOKIE, c);
            }
            if let Some(t) = self.missing_type {
                w.u32(NLMSGERR_ATTR_MISS_TYPE, t);
            }
            if let Some(n) = self.missing_nest {
                w.u32(NLMSGERR_ATTR_MISS_NEST, n);
            }
        }
        (out, flags)
    }
}

/// Read a fixed-size C struct header at the start of a payload.
#[inline]
pub fn fixed<const N: usize>(payload: &[u8], what: &'static str) -> Result<[u8; N], DecodeError> {
    match payload.first_chunk::<N>() {
        Some(b) => Ok(*b),
        None => Err(too_short(what, payload.len(), N)),
    }
}

#[cold]
#[inline(never)]
fn too_short(what: &'static str, got: usize, need: usize) -> DecodeError {
    DecodeError::new(what, format!("{got} bytes, need {need}"))
}

/// The attributes after a fixed header of `n` bytes (aligned).
#[inline]
pub fn attrs_after(payload: &[u8], n: usize) -> AttrIter<'_> {
    AttrIter::new(payload.get(align(n)..).unwrap_or(&[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_patches_length_and_iter_reads_back() {
        let mut buf = Vec::new();
        {
            let mut m = MsgWriter::new(&mut buf, 16, NLM_F_REQUEST | NLM_F_ACK);
            m.raw(&[1, 2, 3]);
            m.str(3, "lo");
            m.finish();
        }
        {
            let m = MsgWriter::new(&mut buf, 17, NLM_F_REQUEST);
            drop(m);
        }
        let msgs: Vec<_> = MsgIter::new(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].header.ty, 16);
        assert_eq!(msgs[0].header.len as usize, 16 + 4 + 8);
        assert_eq!(msgs[1].header.len, 16);
        assert_eq!(msgs[1].payload, &[] as &[u8]);
    }

    #[test]
    fn error_message_round_trip() {
        let e = ErrorMsg {
            error: -22,
            request: Header { len: 40, ty: 16, flags: 5, seq: 9, port: 0 },
            message: Some("Attribute failed policy validation".into()),
            offset: Some(36),
            ..Default::default()
        };
        let (payload, flags) = e.encode();
        assert_eq!(ErrorMsg::parse(&payload, flags).unwrap(), e);
    }

    #[test]
    fn uncapped_error_skips_the_echoed_request() {
        // error -17, echoed request of 20 bytes (len 20), then a MSG TLV.
        let mut p = Vec::new();
        p.extend_from_slice(&(-17i32).to_ne_bytes());
        let h = Header { len: 20, ty: 16, flags: 5, seq: 3, port: 0 };
        p.extend_from_slice(&h.to_bytes());
        p.extend_from_slice(&[0xaa; 4]);
        AttrWriter::new(&mut p).str(NLMSGERR_ATTR_MSG, "exists");
        let e = ErrorMsg::parse(&p, NLM_F_ACK_TLVS).unwrap();
        assert_eq!(e.error, -17);
        assert_eq!(e.message.as_deref(), Some("exists"));
    }

    #[test]
    fn truncated_inputs_are_errors() {
        assert!(MsgIter::new(&[1, 2, 3]).next().unwrap().is_err());
        let h = Header { len: 64, ty: 3, flags: 0, seq: 1, port: 0 }.to_bytes();
        assert!(MsgIter::new(&h).next().unwrap().is_err());
        assert!(ErrorMsg::parse(&[0; 8], 0).is_err());
    }
}
