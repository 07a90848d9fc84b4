//! Values as they sit in registers and set keys: addresses and ports in
//! network order, marks in host order, concatenations padded to 4 bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Result};

/// Bytes of a key, a value to compare with, or a map's data.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Value(pub Vec<u8>);

impl Value {
    /// An IPv4 address (`ipv4_addr`).
    pub fn ipv4(a: Ipv4Addr) -> Value {
        Value(a.octets().to_vec())
    }

    /// An IPv6 address (`ipv6_addr`).
    pub fn ipv6(a: Ipv6Addr) -> Value {
        Value(a.octets().to_vec())
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
        Value(p.to_be_bytes().to_vec())
    }

    /// An IP protocol number (`inet_proto`: 6 tcp, 17 udp, 1 icmp).
    pub fn proto(p: u8) -> Value {
        Value(vec![p])
    }

    /// `tcp` as an `inet_proto`.
    pub const TCP: u8 = 6;
    /// `udp` as an `inet_proto`.
    pub const UDP: u8 = 17;
    /// `sctp` as an `inet_proto`.
    pub const SCTP: u8 = 132;

    /// A host-order 32-bit value (`mark`, `ct_state`, `integer` of 4 bytes).
    pub fn u32(v: u32) -> Value {
        Value(v.to_ne_bytes().to_vec())
    }

    /// A network-order 32-bit value.
    pub fn u32_be(v: u32) -> Value {
        Value(v.to_be_bytes().to_vec())
    }

    /// An interface name (`ifname`): 16 bytes, NUL padded.
    pub fn ifname(name: &str) -> Result<Value> {
        if name.is_empty() || name.len() > 15 {
            return Err(Error::invalid("interface name", format!("{name:?} must be 1 to 15 bytes")));
        }
        let mut v = name.as_bytes().to_vec();
        v.resize(16, 0);
        Ok(Value(v))
    }

    /// A concatenation (`a . b . c`): each part padded to 4 bytes.
    pub fn concat(parts: &[Value]) -> Value {
        let mut v = Vec::new();
        for p in parts {
            v.extend_from_slice(&p.0);
            v.resize(v.len().div_ceil(4) * 4, 0);
        }
        Value(v)
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The first and last address of a prefix.
    pub fn prefix_bounds(net: ipnet::IpNet) -> (Value, Value) {
        (Value::ip(net.network()), Value::ip(net.broadcast()))
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
        Value(v)
    }
}

impl From<Value> for Vec<u8> {
    fn from(v: Value) -> Vec<u8> {
        v.0
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
