//! Families, data types and userdata TLVs: the vocabulary shared by
//! tables, chains, sets and the renderer.

use crate::error::{DecodeError, Error, Result};

/// An nftables address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// `ip` (`NFPROTO_IPV4`).
    Ip,
    /// `ip6` (`NFPROTO_IPV6`).
    Ip6,
    /// `inet`: IPv4 and IPv6 (`NFPROTO_INET`).
    Inet,
    /// `arp`.
    Arp,
    /// `bridge`.
    Bridge,
    /// `netdev`: ingress/egress of one device.
    Netdev,
}

impl Family {
    /// Every family, in the order `nft list ruleset` prints them.
    pub const ALL: [Family; 6] =
        [Family::Ip, Family::Ip6, Family::Inet, Family::Arp, Family::Bridge, Family::Netdev];

    /// The `NFPROTO_*` number.
    pub fn code(self) -> u8 {
        match self {
            Family::Inet => 1,
            Family::Ip => 2,
            Family::Arp => 3,
            Family::Netdev => 5,
            Family::Bridge => 7,
            Family::Ip6 => 10,
        }
    }

    /// From an `NFPROTO_*` number.
    pub fn from_code(c: u8) -> Option<Family> {
        Some(match c {
            1 => Family::Inet,
            2 => Family::Ip,
            3 => Family::Arp,
            5 => Family::Netdev,
            7 => Family::Bridge,
            10 => Family::Ip6,
            _ => return None,
        })
    }

    /// The name `nft` uses.
    pub fn name(self) -> &'static str {
        match self {
            Family::Ip => "ip",
            Family::Ip6 => "ip6",
            Family::Inet => "inet",
            Family::Arp => "arp",
            Family::Bridge => "bridge",
            Family::Netdev => "netdev",
        }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Family {
    type Err = Error;
    fn from_str(s: &str) -> Result<Family> {
        Family::ALL.into_iter().find(|f| f.name() == s).ok_or_else(|| {
            Error::invalid("family", format!("{s:?} is not one of ip, ip6, inet, arp, bridge, netdev"))
        })
    }
}

/// An nft data type (the numbers `nft` stores in `NFTA_SET_KEY_TYPE`):
/// what a set key or map value means, and so how it prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DataType(pub u32);

macro_rules! datatypes {
    ($($c:ident = $n:literal, $name:literal, $bytes:literal, $be:literal;)*) => {
        impl DataType {
            $(
                #[doc = concat!("`", $name, "`")]
                pub const $c: DataType = DataType($n);
            )*

            fn info(self) -> Option<(&'static str, u32, bool)> {
                match self.0 {
                    $($n => Some(($name, $bytes, $be)),)*
                    _ => None,
                }
            }

            /// Look a type up by the name `nft` uses.
            pub fn from_name(s: &str) -> Option<DataType> {
                match s {
                    $($name => Some(DataType($n)),)*
                    _ => None,
                }
            }
        }
    };
}

datatypes! {
    VERDICT = 1, "verdict", 0, false;
    NFPROTO = 2, "nf_proto", 1, false;
    BITMASK = 3, "bitmask", 4, false;
    INTEGER = 4, "integer", 4, false;
    STRING = 5, "string", 16, false;
    LLADDR = 6, "ll_addr", 6, true;
    IPV4_ADDR = 7, "ipv4_addr", 4, true;
    IPV6_ADDR = 8, "ipv6_addr", 16, true;
    ETHER_ADDR = 9, "ether_addr", 6, true;
    ETHER_TYPE = 10, "ether_type", 2, true;
    ARP_OP = 11, "arp_op", 2, true;
    INET_PROTO = 12, "inet_proto", 1, true;
    INET_SERVICE = 13, "inet_service", 2, true;
    ICMP_TYPE = 14, "icmp_type", 1, true;
    TCP_FLAG = 15, "tcp_flag", 1, true;
    MARK = 19, "mark", 4, false;
    IFINDEX = 20, "iface_index", 4, false;
    ARPHRD = 21, "iface_type", 2, false;
    REALM = 22, "realm", 4, false;
    CLASSID = 23, "classid", 4, false;
    UID = 24, "uid", 4, false;
    GID = 25, "gid", 4, false;
    CT_STATE = 26, "ct_state", 4, false;
    CT_DIR = 27, "ct_dir", 1, false;
    CT_STATUS = 28, "ct_status", 4, false;
    ICMP6_TYPE = 29, "icmpv6_type", 1, true;
    CT_LABEL = 30, "ct_label", 16, false;
    PKTTYPE = 31, "pkt_type", 1, false;
    ICMP_CODE = 32, "icmp_code", 1, true;
    ICMPV6_CODE = 33, "icmpv6_code", 1, true;
    ICMPX_CODE = 34, "icmpx_code", 1, true;
    DEVGROUP = 35, "devgroup", 4, false;
    DSCP = 36, "dscp", 1, true;
    ECN = 37, "ecn", 1, true;
    FIB_ADDR = 38, "fib_addrtype", 4, false;
    BOOLEAN = 39, "boolean", 1, false;
    IFNAME = 41, "ifname", 16, false;
    IGMP_TYPE = 42, "igmp_type", 1, true;
    TIME = 18, "time", 8, false;
    CT_EVENT = 40, "ct_event", 4, false;
    DCCP_PKTTYPE = 16, "dccp_pkttype", 1, true;
    MH_TYPE = 17, "mh_type", 1, true;
    TIME_HOUR = 44, "hour", 4, false;
    TIME_DAY = 45, "day", 1, false;
}

impl DataType {
    /// `time` as in `meta time` (nanoseconds since the epoch; nft names it
    /// `time` like [`DataType::TIME`]).
    pub const TIME_DATE: DataType = DataType(43);

    /// The name `nft` prints (`"ipv4_addr"`), if known.
    pub fn name(self) -> Option<&'static str> {
        self.info().map(|i| i.0)
    }

    /// Size of a value in bytes (0 for a verdict; 4 when unknown).
    pub fn len(self) -> u32 {
        self.info().map(|i| i.1).unwrap_or(4)
    }

    /// Whether values of this type take no bytes (verdicts).
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// Whether values are in network byte order.
    pub fn big_endian(self) -> bool {
        self.info().map(|i| i.2).unwrap_or(false)
    }
}

/// Bits per type in a concatenation's type number.
const TYPE_BITS: u32 = 6;

/// The type of a set key or map value: one data type, or a
/// concatenation (`ipv4_addr . inet_proto . inet_service`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyType {
    /// The fields, in order (one for a plain type).
    pub fields: Vec<DataType>,
}

impl KeyType {
    /// One data type.
    pub fn single(t: DataType) -> KeyType {
        KeyType { fields: vec![t] }
    }

    /// A concatenation.
    pub fn concat(fields: &[DataType]) -> KeyType {
        KeyType { fields: fields.to_vec() }
    }

    /// Parse `"ipv4_addr . inet_proto . inet_service"`.
    pub fn parse(s: &str) -> Result<KeyType> {
        let fields = s
            .split('.')
            .map(|p| {
                let p = p.trim();
                DataType::from_name(p)
                    .ok_or_else(|| Error::invalid("set type", format!("unknown data type {p:?}")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(KeyType { fields })
    }

    /// Whether this is a concatenation.
    pub fn is_concat(&self) -> bool {
        self.fields.len() > 1
    }

    /// The number stored in `NFTA_SET_KEY_TYPE`.
    pub fn type_id(&self) -> u32 {
        self.fields.iter().fold(0, |acc, t| (acc << TYPE_BITS) | t.0)
    }

    /// Whether the type has no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Key length in bytes: the sum of the fields, each rounded up to 4
    /// for a concatenation.
    pub fn len(&self) -> u32 {
        if self.is_concat() {
            self.fields.iter().map(|t| t.len().div_ceil(4) * 4).sum()
        } else {
            self.fields.first().map(|t| t.len()).unwrap_or(0)
        }
    }

    /// Decode a type number of `len` bytes back into fields, using the
    /// known field sizes to tell a concatenation from a plain type.
    pub fn from_id(id: u32, len: u32) -> KeyType {
        let single = DataType(id);
        if single.name().is_some() && (single.len() == len || single == DataType::VERDICT) {
            return KeyType::single(single);
        }
        let mut fields = Vec::new();
        let mut rest = id;
        while rest != 0 {
            fields.push(DataType(rest & ((1 << TYPE_BITS) - 1)));
            rest >>= TYPE_BITS;
        }
        fields.reverse();
        let kt = KeyType { fields };
        if kt.fields.len() > 1 && kt.fields.iter().all(|t| t.name().is_some()) && kt.len() == len {
            kt
        } else {
            KeyType::single(single)
        }
    }

    /// How `nft` names it.
    pub fn nft_name(&self) -> String {
        self.fields
            .iter()
            .map(|t| t.name().map(str::to_string).unwrap_or_else(|| format!("type {}", t.0)))
            .collect::<Vec<_>>()
            .join(" . ")
    }

    /// The byte offsets and lengths of the fields in a key.
    pub fn field_spans(&self) -> Vec<(usize, usize)> {
        if !self.is_concat() {
            return vec![(0, self.len() as usize)];
        }
        let mut off = 0;
        self.fields
            .iter()
            .map(|t| {
                let l = t.len() as usize;
                let s = (off, l);
                off += l.div_ceil(4) * 4;
                s
            })
            .collect()
    }
}

/// Read libnftnl's userdata TLVs (`u8 type, u8 len, value`).
pub(crate) fn udata_iter(b: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    let mut rest = b;
    std::iter::from_fn(move || {
        if rest.len() < 2 {
            return None;
        }
        let (t, l) = (rest[0], rest[1] as usize);
        let v = rest.get(2..2 + l)?;
        rest = &rest[2 + l..];
        Some((t, v))
    })
}

/// Append one userdata TLV.
pub(crate) fn udata_put(out: &mut Vec<u8>, ty: u8, v: &[u8]) {
    out.push(ty);
    out.push(v.len() as u8);
    out.extend_from_slice(v);
}

/// A comment as a TLV value: the string and its NUL.
pub(crate) fn udata_comment(out: &mut Vec<u8>, ty: u8, s: &str) {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    udata_put(out, ty, &v);
}

/// A comment TLV value back to a string.
pub(crate) fn udata_str(v: &[u8]) -> String {
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

/// Parse a userdata blob that holds only a comment TLV of type `ty`:
/// `(Some(comment), None)`; anything else is kept raw:
/// `(comment if any, Some(raw))`.
pub(crate) fn comment_udata(b: &[u8], ty: u8) -> (Option<String>, Option<Vec<u8>>) {
    let mut comment = None;
    let mut other = false;
    let mut consumed = 0;
    for (t, v) in udata_iter(b) {
        consumed += 2 + v.len();
        if t == ty && comment.is_none() {
            comment = Some(udata_str(v));
        } else {
            other = true;
        }
    }
    if other || consumed != b.len() || comment.is_none() {
        (comment, Some(b.to_vec()))
    } else {
        (comment, None)
    }
}

/// Check an nftables object name: 1..=255 bytes, no NUL.
pub(crate) fn check_name(field: &str, name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 255 || name.contains('\0') {
        return Err(Error::invalid(field, format!("{name:?} must be 1 to 255 bytes without NUL")));
    }
    Ok(())
}

/// A `nfgenmsg` header: family, version 0, resource id 0.
pub(crate) fn nfgen(w: &mut crate::wire::AttrWriter<'_>, family: u8) {
    w.raw(&[family, 0, 0, 0]);
}

/// The family of a message from its `nfgenmsg`.
pub(crate) fn msg_family(payload: &[u8]) -> Result<Option<Family>, DecodeError> {
    let h = crate::wire::fixed::<4>(payload, "nfgenmsg")?;
    Ok(Family::from_code(h[0]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concat_type_numbers_match_nft() {
        // From `nft --debug=mnl`: ipv4_addr . inet_proto . inet_service is
        // 0x730d with key length 12; ipv4_addr . inet_service is 0x1cd / 8.
        let kp = KeyType::parse("ipv4_addr . inet_proto . inet_service").unwrap();
        assert_eq!((kp.type_id(), kp.len()), (0x730d, 12));
        let two = KeyType::parse("ipv4_addr . inet_service").unwrap();
        assert_eq!((two.type_id(), two.len()), (0x1cd, 8));
        assert_eq!(KeyType::from_id(0x730d, 12), kp);
        assert_eq!(KeyType::from_id(7, 4), KeyType::single(DataType::IPV4_ADDR));
        assert_eq!(KeyType::from_id(0x1cd, 8).nft_name(), "ipv4_addr . inet_service");
        assert_eq!(kp.field_spans(), vec![(0, 4), (4, 1), (8, 2)]);
    }

    #[test]
    fn comment_udata_round_trip() {
        let mut b = Vec::new();
        udata_comment(&mut b, 0, "hello world");
        assert_eq!(b[..2], [0, 12]);
        assert_eq!(comment_udata(&b, 0), (Some("hello world".into()), None));
        b.extend_from_slice(&[9, 1, 7]);
        let (c, raw) = comment_udata(&b, 0);
        assert_eq!(c.as_deref(), Some("hello world"));
        assert_eq!(raw.as_deref(), Some(&b[..]));
    }
}
