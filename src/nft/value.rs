//! Values as they sit in registers and set keys: addresses and ports in
//! network order, marks in host order, concatenations padded to 4 bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Result};

/// Bytes of a key, a value to compare with, or a map's data.
///
/// Up to [`Value::INLINE`] bytes (an address of either family, a port, a
/// mark, an interface name, `ipv4_addr . inet_service`, `ipv6_addr .
/// inet_service`) are held inline, without a heap allocation; longer
/// values (up to the kernel's 64) on the heap. Compares, orders and hashes
/// as its bytes; reads as `&[u8]` through `Deref`.
#[derive(Clone)]
pub struct Value(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; Value::INLINE] },
    Heap(Box<[u8]>),
}

impl Value {
    /// The longest value held inline (without a heap allocation).
    pub const INLINE: usize = 22;

    /// A value of these bytes.
    pub fn from_bytes(b: &[u8]) -> Value {
        if b.len() <= Value::INLINE {
            let mut bytes = [0; Value::INLINE];
            bytes[..b.len()].copy_from_slice(b);
            Value(Repr::Inline { len: b.len() as u8, bytes })
        } else {
            Value(Repr::Heap(b.into()))
        }
    }

    /// An IPv4 address (`ipv4_addr`).
    pub fn ipv4(a: Ipv4Addr) -> Value {
        Value::from_bytes(&a.octets())
    }

    /// An IPv6 address (`ipv6_addr`).
    pub fn ipv6(a: Ipv6Addr) -> Value {
        Value::from_bytes(&a.octets())
    }

    /// An address of either family.
    pub fn ip(a: IpAddr) -> Value {
        match a {
            IpAddr::V4(a) => Value::ipv4(a),
            IpAddr::V6(a) => Value::ipv6(a),
        }
    }

    /// A port (`inet_service`, network order).
    pub fn port(p: u16) -> Value {
        Value::from_bytes(&p.to_be_bytes())
    }

    /// An IP protocol number (`inet_proto`: 6 tcp, 17 udp, 1 icmp).
    pub fn proto(p: u8) -> Value {
        Value::from_bytes(&[p])
    }

    /// `tcp` as an `inet_proto`.
    pub const TCP: u8 = 6;
    /// `udp` as an `inet_proto`.
    pub const UDP: u8 = 17;
    /// `sctp` as an `inet_proto`.
    pub const SCTP: u8 = 132;

    /// A host-order 32-bit value (`mark`, `ct_state`, `integer` of 4 bytes).
    pub fn u32(v: u32) -> Value {
        Value::from_bytes(&v.to_ne_bytes())
    }

    /// A network-order 32-bit value.
    pub fn u32_be(v: u32) -> Value {
        Value::from_bytes(&v.to_be_bytes())
    }

    /// An interface name (`ifname`): 16 bytes, NUL padded.
    pub fn ifname(name: &str) -> Result<Value> {
        if name.is_empty() || name.len() > 15 {
            return Err(Error::invalid("interface name", format!("{name:?} must be 1 to 15 bytes")));
        }
        let mut v = [0u8; 16];
        v[..name.len()].copy_from_slice(name.as_bytes());
        Ok(Value::from_bytes(&v))
    }

    /// A concatenation (`a . b . c`): each part padded to 4 bytes.
    pub fn concat(parts: &[Value]) -> Value {
        let mut v = Vec::new();
        for p in parts {
            v.extend_from_slice(p.as_bytes());
            v.resize(v.len().div_ceil(4) * 4, 0);
        }
        Value::from(v)
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..*len as usize],
            Repr::Heap(b) => b,
        }
    }

    /// The bytes, owned.
    pub fn into_vec(self) -> Vec<u8> {
        match self.0 {
            Repr::Inline { .. } => self.as_bytes().to_vec(),
            Repr::Heap(b) => b.into_vec(),
        }
    }

    /// The first and last address of a prefix.
    pub fn prefix_bounds(net: ipnet::IpNet) -> (Value, Value) {
        (Value::ip(net.network()), Value::ip(net.broadcast()))
    }
}

impl Default for Value {
    /// No bytes.
    fn default() -> Value {
        Value(Repr::Inline { len: 0, bytes: [0; Value::INLINE] })
    }
}

impl std::ops::Deref for Value {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for Value {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::fmt::Debug for Value {
    /// `Value([10, 0, 0, 1])`, as the bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Value").field(&self.as_bytes()).finish()
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Value {}

impl PartialEq<[u8]> for Value {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_bytes() == other
    }
}

impl PartialEq<Vec<u8>> for Value {
    fn eq(&self, other: &Vec<u8>) -> bool {
        self.as_bytes() == other.as_slice()
    }
}

impl std::hash::Hash for Value {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state)
    }
}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Value) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Value {
    /// As the bytes (lexicographic: big-endian numbers of one length in
    /// numeric order).
    fn cmp(&self, other: &Value) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl From<Ipv4Addr> for Value {
    fn from(a: Ipv4Addr) -> Value {
        Value::ipv4(a)
    }
}

impl From<Ipv6Addr> for Value {
    fn from(a: Ipv6Addr) -> Value {
        Value::ipv6(a)
    }
}

impl From<IpAddr> for Value {
    fn from(a: IpAddr) -> Value {
        Value::ip(a)
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        if v.len() <= Value::INLINE {
            Value::from_bytes(&v)
        } else {
            Value(Repr::Heap(v.into_boxed_slice()))
        }
    }
}

impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Value {
        Value::from_bytes(v)
    }
}

impl From<Value> for Vec<u8> {
    fn from(v: Value) -> Vec<u8> {
        v.into_vec()
    }
}

/// `v + 1` as a big-endian number; `None` on overflow.
pub(crate) fn be_increment(v: &[u8]) -> Option<Vec<u8>> {
    let mut out = v.to_vec();
    for b in out.iter_mut().rev() {
        if *b == 0xff {
            *b = 0;
        } else {
            *b += 1;
            return Some(out);
        }
    }
    None
}

/// `v - 1` as a big-endian number; `None` on underflow.
pub(crate) fn be_decrement(v: &[u8]) -> Option<Vec<u8>> {
    let mut out = v.to_vec();
    for b in out.iter_mut().rev() {
        if *b == 0 {
            *b = 0xff;
        } else {
            *b -= 1;
            return Some(out);
        }
    }
    None
}
