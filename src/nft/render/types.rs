//! Values by data type, as nft prints them: byte order, width and
//! symbol tables (protocols, icmp types, conntrack state/status, flags).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::*;

pub(super) fn le_uint(b: &[u8]) -> u64 {
    let mut v = 0u64;
    for (i, x) in b.iter().take(8).enumerate() {
        v |= (*x as u64) << (8 * i);
    }
    v
}

pub(super) fn be_uint(b: &[u8]) -> u64 {
    b.iter().take(8).fold(0u64, |acc, x| (acc << 8) | *x as u64)
}

pub(super) fn proto_name(p: u8) -> Option<&'static str> {
    // nft names protocols through the system's protocol database
    // (getprotobynumber, /etc/protocols); the same here, with the common
    // ones built in for a system without it.
    static DB: std::sync::OnceLock<HashMap<u8, &'static str>> = std::sync::OnceLock::new();
    let db = DB.get_or_init(|| {
        let mut m = HashMap::new();
        if let Ok(text) = std::fs::read_to_string("/etc/protocols") {
            for line in text.lines() {
                let line = line.split('#').next().unwrap_or("");
                let mut f = line.split_whitespace();
                if let (Some(name), Some(num)) = (f.next(), f.next()) {
                    if let Ok(n) = num.parse::<u8>() {
                        m.entry(n).or_insert(&*Box::leak(name.to_string().into_boxed_str()));
                    }
                }
            }
        }
        m
    });
    if let Some(n) = db.get(&p) {
        return Some(n);
    }
    Some(match p {
        1 => "icmp",
        2 => "igmp",
        6 => "tcp",
        17 => "udp",
        33 => "dccp",
        41 => "ipv6",
        47 => "gre",
        50 => "esp",
        51 => "ah",
        58 => "ipv6-icmp",
        108 => "ipcomp",
        132 => "sctp",
        136 => "udplite",
        _ => return None,
    })
}

/// `meta iiftype` names (`ARPHRD_*`), as nft prints them.
fn arphrd_name(v: u16) -> Option<&'static str> {
    Some(match v {
        1 => "ether",
        512 => "ppp",
        768 => "ipip",
        769 => "ipip6",
        772 => "loopback",
        776 => "sit",
        778 => "ipgre",
        _ => return None,
    })
}

thread_local! {
    /// Interface names of the ruleset being rendered (index to name), for
    /// `iif`/`oif` values inside sets and concatenations.
    pub(super) static IFNAMES: std::cell::RefCell<std::collections::BTreeMap<u32, String>> =
        Default::default();
}

thread_local! {
    /// Byte order of each field of the concatenation being printed, when
    /// it differs from the fields' types (host-order fields converted to
    /// network order for an interval lookup).
    pub(super) static CONCAT_BE: std::cell::RefCell<Option<Vec<bool>>> = const { std::cell::RefCell::new(None) };
}

thread_local! {
    /// The fields of the key of the anonymous set being printed for a
    /// lookup, as the rule loads them: each one's length in bytes and
    /// whether it is a raw payload load (whose values nft prints in hex).
    pub(super) static LOOKUP_FIELDS: std::cell::RefCell<Option<Vec<(usize, bool)>>> =
        const { std::cell::RefCell::new(None) };
}

/// Where each field of a key of `kt` lies: as the rule loading it says
/// for the anonymous set of a lookup (an `integer` field is as wide as its
/// load), else as the key type says.
pub(super) fn key_spans(kt: &KeyType, key_len: usize) -> Vec<(usize, usize)> {
    let own = kt.field_spans();
    if !kt.is_concat() {
        return own;
    }
    LOOKUP_FIELDS
        .with(|f| {
            let f = f.borrow();
            let f = f.as_ref()?;
            if f.len() != own.len() {
                return None;
            }
            let mut off = 0;
            let spans: Vec<(usize, usize)> = f
                .iter()
                .map(|(l, _)| {
                    let s = (off, *l);
                    off += l.div_ceil(4) * 4;
                    s
                })
                .collect();
            (off == key_len).then_some(spans)
        })
        .unwrap_or(own)
}

/// Whether field `i` of the key being printed is a raw payload load.
pub(super) fn raw_field(i: usize) -> bool {
    LOOKUP_FIELDS.with(|f| f.borrow().as_ref().and_then(|v| v.get(i).map(|x| x.1))).unwrap_or(false)
}

/// A value of a raw payload load as nft prints it: in hex.
pub(super) fn raw_hex(b: &[u8]) -> String {
    format!("{:#x}", be_uint(b))
}

/// The byte order of field `i` of a concatenation of type `t`.
pub(super) fn concat_be(i: usize, t: DataType) -> bool {
    CONCAT_BE.with(|c| c.borrow().as_ref().and_then(|v| v.get(i).copied())).unwrap_or(t.big_endian())
}

/// The local time zone's offset from UTC in seconds at `t` (seconds
/// since the epoch), from the C library as nft gets it (`TZ`,
/// `/etc/localtime`); 0 when it has none.
fn local_offset(t: i64) -> i64 {
    let t: libc::time_t = t;
    // SAFETY: an all-zero `tm` is a valid value of this plain C struct
    // (its pointer field `tm_zone` null).
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: localtime_r reads `t` and writes only `tm`, both valid and
    // exclusively borrowed for the call; it is thread-safe.
    let r = unsafe { libc::localtime_r(&t, &mut tm) };
    if r.is_null() {
        0
    } else {
        // `c_long` is i32 on 32-bit targets: the conversion is not useless there.
        #[allow(clippy::useless_conversion)]
        i64::from(tm.tm_gmtoff)
    }
}

/// Days since 1970-01-01 to (year, month, day) (proleptic Gregorian).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

pub(super) fn flag_names(v: u64, names: &[(u64, &str)]) -> String {
    let mut parts = Vec::new();
    let mut rest = v;
    for (bit, n) in names {
        if v & bit != 0 {
            parts.push(n.to_string());
            rest &= !bit;
        }
    }
    if rest != 0 || parts.is_empty() {
        parts.push(format!("{rest:#x}"));
    }
    parts.join(",")
}

pub(super) const CT_STATES: &[(u64, &str)] =
    &[(1, "invalid"), (2, "established"), (4, "related"), (8, "new"), (64, "untracked")];
pub(super) const CT_STATUS: &[(u64, &str)] = &[
    (1, "expected"),
    (2, "seen-reply"),
    (4, "assured"),
    (8, "confirmed"),
    (0x10, "snat"),
    (0x20, "dnat"),
    (0x200, "dying"),
];
pub(super) const CT_EVENTS: &[(u64, &str)] = &[
    (1, "new"),
    (2, "related"),
    (4, "destroy"),
    (8, "reply"),
    (0x10, "assured"),
    (0x20, "protoinfo"),
    (0x40, "helper"),
    (0x80, "mark"),
    (0x100, "seqadj"),
    (0x200, "secmark"),
    (0x400, "label"),
];
const TCP_FLAGS: &[(u64, &str)] = &[
    (1, "fin"),
    (2, "syn"),
    (4, "rst"),
    (8, "psh"),
    (0x10, "ack"),
    (0x20, "urg"),
    (0x40, "ecn"),
    (0x80, "cwr"),
];

pub(super) fn icmp_type(t: u8) -> Option<&'static str> {
    Some(match t {
        0 => "echo-reply",
        3 => "destination-unreachable",
        4 => "source-quench",
        5 => "redirect",
        8 => "echo-request",
        9 => "router-advertisement",
        10 => "router-solicitation",
        11 => "time-exceeded",
        12 => "parameter-problem",
        13 => "timestamp-request",
        14 => "timestamp-reply",
        15 => "info-request",
        16 => "info-reply",
        17 => "address-mask-request",
        18 => "address-mask-reply",
        _ => return None,
    })
}

pub(super) fn icmp6_type(t: u8) -> Option<&'static str> {
    Some(match t {
        1 => "destination-unreachable",
        2 => "packet-too-big",
        3 => "time-exceeded",
        4 => "parameter-problem",
        128 => "echo-request",
        129 => "echo-reply",
        130 => "mld-listener-query",
        131 => "mld-listener-report",
        132 => "mld-listener-done",
        133 => "nd-router-solicit",
        134 => "nd-router-advert",
        135 => "nd-neighbor-solicit",
        136 => "nd-neighbor-advert",
        137 => "nd-redirect",
        138 => "router-renumbering",
        141 => "ind-neighbor-solicit",
        142 => "ind-neighbor-advert",
        143 => "mld2-listener-report",
        _ => return None,
    })
}

/// Format one value of type `t` (bytes as in a register); `be` says the
/// byte order for plain integers.
pub fn value(t: DataType, b: &[u8], be: bool) -> String {
    let int = |b: &[u8]| if be { be_uint(b) } else { le_uint(b) };
    match t {
        DataType::IPV4_ADDR if b.len() == 4 => Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string(),
        DataType::IPV6_ADDR if b.len() == 16 => {
            // As the C library's inet_ntop prints it, which nft uses: an
            // IPv4-compatible address with its last 32 bits dotted
            // (`::18.52.18.52`), which Rust prints as `::1234:1234`.
            if b[..12].iter().all(|&x| x == 0) && (b[12] != 0 || b[13] != 0) {
                format!("::{}", Ipv4Addr::new(b[12], b[13], b[14], b[15]))
            } else {
                Ipv6Addr::from(<[u8; 16]>::try_from(b).expect("16 bytes")).to_string()
            }
        }
        DataType::ETHER_ADDR | DataType::LLADDR => {
            b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(":")
        }
        DataType::INET_PROTO if b.len() == 1 => {
            proto_name(b[0]).map(str::to_string).unwrap_or_else(|| b[0].to_string())
        }
        DataType::INET_SERVICE if b.len() == 2 => u16::from_be_bytes([b[0], b[1]]).to_string(),
        DataType::MARK => format!("0x{:08x}", int(b)),
        DataType::CT_STATE => flag_names(int(b), CT_STATES),
        DataType::CT_STATUS => flag_names(int(b), CT_STATUS),
        DataType::CT_DIR => match b.first() {
            Some(0) => "original".into(),
            Some(1) => "reply".into(),
            _ => int(b).to_string(),
        },
        DataType::NFPROTO => match b.first() {
            Some(2) => "ipv4".into(),
            Some(10) => "ipv6".into(),
            _ => int(b).to_string(),
        },
        DataType::ETHER_TYPE if b.len() == 2 => match u16::from_be_bytes([b[0], b[1]]) {
            0x0800 => "ip".into(),
            0x0806 => "arp".into(),
            0x86dd => "ip6".into(),
            0x8100 => "8021q".into(),
            0x88a8 => "8021ad".into(),
            v => format!("0x{v:04x}"),
        },
        DataType::ARP_OP if b.len() == 2 => match u16::from_be_bytes([b[0], b[1]]) {
            1 => "request".into(),
            2 => "reply".into(),
            3 => "rrequest".into(),
            4 => "rreply".into(),
            8 => "inrequest".into(),
            9 => "inreply".into(),
            10 => "nak".into(),
            v => v.to_string(),
        },
        DataType::ARPHRD if b.len() == 2 => {
            let v = int(b) as u16;
            arphrd_name(v).map(str::to_string).unwrap_or_else(|| v.to_string())
        }
        // `meta priority`: a tc class id, `major:minor` in hex.
        DataType::CLASSID if b.len() == 4 => match int(b) {
            0xffff_ffff => "root".into(),
            0 => "none".into(),
            v => format!("{:x}:{:x}", v >> 16, v & 0xffff),
        },
        DataType::TIME_DAY if b.len() == 1 => {
            ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
                .get(b[0] as usize)
                .map(|d| format!("\"{d}\""))
                .unwrap_or_else(|| b[0].to_string())
        }
        // Seconds since midnight UTC, printed in local time as nft does
        // (shifted by the local time zone's current offset).
        DataType::TIME_HOUR if b.len() == 4 => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            let v = (int(b) as i64 + local_offset(now)).rem_euclid(86_400);
            let (h, m, s) = (v / 3600, v / 60 % 60, v % 60);
            if s == 0 {
                format!("\"{h:02}:{m:02}\"")
            } else {
                format!("\"{h:02}:{m:02}:{s:02}\"")
            }
        }
        // Nanoseconds since the epoch, as a local date and time as nft
        // prints it (shifted by the local time zone's offset at that time).
        DataType::TIME_DATE if b.len() == 8 => {
            let secs = (int(b) / 1_000_000_000) as i64;
            let secs = secs + local_offset(secs);
            let (y, mo, d) = civil(secs.div_euclid(86_400));
            let t = secs.rem_euclid(86_400);
            format!("\"{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}\"", t / 3600, t / 60 % 60, t % 60)
        }
        DataType::PKTTYPE => match b.first() {
            Some(0) => "host".into(),
            Some(1) => "broadcast".into(),
            Some(2) => "multicast".into(),
            Some(3) => "other".into(),
            _ => int(b).to_string(),
        },
        DataType::IFNAME | DataType::STRING => {
            match b.iter().position(|&x| x == 0) {
                // A literal `*` in a whole name is escaped (`"eth\*"`): a
                // bare one would mean a prefix.
                Some(end) => quote_str(&String::from_utf8_lossy(&b[..end]).replace('*', "\\*")),
                // No terminating NUL: a prefix match (`"eth*"`).
                None => quote_str(&format!("{}*", String::from_utf8_lossy(b))),
            }
        }
        DataType::ICMP_TYPE if b.len() == 1 => {
            icmp_type(b[0]).map(str::to_string).unwrap_or_else(|| b[0].to_string())
        }
        DataType::ICMP6_TYPE if b.len() == 1 => {
            icmp6_type(b[0]).map(str::to_string).unwrap_or_else(|| b[0].to_string())
        }
        DataType::TCP_FLAG => flag_names(int(b), TCP_FLAGS),
        DataType::BITMASK if b.len() <= 8 => format!("{:#x}", int(b)),
        DataType::DCCP_PKTTYPE if b.len() == 1 => {
            ["request", "response", "data", "ack", "dataack", "closereq", "close", "reset", "sync", "syncack"]
                .get(b[0] as usize)
                .map(|s| s.to_string())
                .unwrap_or_else(|| b[0].to_string())
        }
        // Realms: nft names realm 0 from /etc/iproute2/rt_realms.
        DataType::REALM if b.len() == 4 => match int(b) {
            0 => "\"cosmos\"".into(),
            v => v.to_string(),
        },
        DataType::IFINDEX if b.len() == 4 => {
            let i = int(b) as u32;
            IFNAMES.with(|n| n.borrow().get(&i).map(|s| quote_str(s))).unwrap_or_else(|| i.to_string())
        }
        // Device groups: nft names group 0 from /etc/iproute2/group.
        DataType::DEVGROUP if b.len() == 4 => match int(b) {
            0 => "\"default\"".into(),
            v => v.to_string(),
        },
        DataType::DSCP if b.len() == 1 => match b[0] {
            v @ (0 | 8 | 16 | 24 | 32 | 40 | 48 | 56) => format!("cs{}", v / 8),
            10 => "af11".into(),
            12 => "af12".into(),
            14 => "af13".into(),
            18 => "af21".into(),
            20 => "af22".into(),
            22 => "af23".into(),
            26 => "af31".into(),
            28 => "af32".into(),
            30 => "af33".into(),
            34 => "af41".into(),
            36 => "af42".into(),
            38 => "af43".into(),
            46 => "ef".into(),
            v => format!("{v:#04x}"),
        },
        DataType::MH_TYPE if b.len() == 1 => match b[0] {
            0 => "binding-refresh-request".into(),
            1 => "home-test-init".into(),
            2 => "careof-test-init".into(),
            3 => "home-test".into(),
            4 => "careof-test".into(),
            5 => "binding-update".into(),
            6 => "binding-acknowledgement".into(),
            7 => "binding-error".into(),
            8 => "fast-binding-update".into(),
            9 => "fast-binding-acknowledgement".into(),
            10 => "fast-binding-advertisement".into(),
            11 => "experimental-mobility-header".into(),
            12 => "home-agent-switch-message".into(),
            v => v.to_string(),
        },
        DataType::ECN if b.len() == 1 => match b[0] {
            0 => "not-ect".into(),
            1 => "ect1".into(),
            2 => "ect0".into(),
            3 => "ce".into(),
            v => v.to_string(),
        },
        DataType::CT_EVENT => flag_names(int(b), CT_EVENTS),
        // Conntrack labels print as their bit numbers (`ct label 127`).
        DataType::CT_LABEL => {
            let bits: Vec<String> =
                (0..b.len() * 8).filter(|i| b[i / 8] >> (i % 8) & 1 == 1).map(|i| i.to_string()).collect();
            if bits.is_empty() {
                "0".into()
            } else {
                bits.join(",")
            }
        }
        DataType::IGMP_TYPE if b.len() == 1 => match b[0] {
            0x11 => "membership-query".into(),
            0x12 => "membership-report-v1".into(),
            0x16 => "membership-report-v2".into(),
            0x22 => "membership-report-v3".into(),
            0x17 => "leave-group".into(),
            v => v.to_string(),
        },
        DataType::ICMP_CODE if b.len() == 1 => match b[0] {
            0 => "net-unreachable".into(),
            1 => "host-unreachable".into(),
            2 => "prot-unreachable".into(),
            3 => "port-unreachable".into(),
            4 => "frag-needed".into(),
            9 => "net-prohibited".into(),
            10 => "host-prohibited".into(),
            13 => "admin-prohibited".into(),
            v => v.to_string(),
        },
        DataType::ICMPV6_CODE if b.len() == 1 => match b[0] {
            0 => "no-route".into(),
            1 => "admin-prohibited".into(),
            3 => "addr-unreachable".into(),
            4 => "port-unreachable".into(),
            5 => "policy-fail".into(),
            6 => "reject-route".into(),
            v => v.to_string(),
        },
        DataType::ICMPX_CODE if b.len() == 1 => match b[0] {
            0 => "no-route".into(),
            1 => "port-unreachable".into(),
            2 => "host-unreachable".into(),
            3 => "admin-prohibited".into(),
            v => v.to_string(),
        },
        DataType::BOOLEAN => {
            if int(b) != 0 {
                "exists".into()
            } else {
                "missing".into()
            }
        }
        DataType::FIB_ADDR => match int(b) {
            0 => "unspec".into(),
            1 => "unicast".into(),
            2 => "local".into(),
            3 => "broadcast".into(),
            4 => "anycast".into(),
            5 => "multicast".into(),
            6 => "blackhole".into(),
            7 => "unreachable".into(),
            8 => "prohibit".into(),
            v => v.to_string(),
        },
        DataType::TIME => duration(Duration::from_millis(int(b))),
        _ => {
            if b.len() <= 8 {
                int(b).to_string()
            } else {
                format!("0x{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>())
            }
        }
    }
}

/// Format a key of `kt` (a concatenation prints as `a . b . c`).
pub fn key(kt: &KeyType, b: &[u8]) -> String {
    key_be(kt, b, None)
}

/// A key of `kt`; `be` overrides the byte order of a plain (not
/// concatenated) key, as a set's userdata records it (`integer` keys of
/// big-endian header fields).
pub(super) fn key_be(kt: &KeyType, b: &[u8], be: Option<bool>) -> String {
    if !kt.is_concat() && raw_field(0) && b.len() <= 8 {
        return raw_hex(b);
    }
    if let (false, Some(be), Some(t)) = (kt.is_concat(), be, kt.fields.first()) {
        return value(*t, b, be);
    }
    kt.fields
        .iter()
        .zip(key_spans(kt, b.len()))
        .enumerate()
        .map(|(i, (t, (off, len)))| {
            let part = b.get(off..(off + len).min(b.len())).unwrap_or(&[]);
            if raw_field(i) && part.len() <= 8 {
                return raw_hex(part);
            }
            value(*t, part, if kt.is_concat() { concat_be(i, *t) } else { t.big_endian() })
        })
        .collect::<Vec<_>>()
        .join(" . ")
}

/// A range as a match prints it (`ip daddr 10.0.0.0-10.255.255.255`):
/// never as a prefix, which nft prints only for a mask.
pub(super) fn range_plain(t: DataType, be: bool, lo: &[u8], hi: &[u8]) -> String {
    if matches!(t, DataType::IPV4_ADDR | DataType::IPV6_ADDR) && lo != hi {
        return format!("{}-{}", value(t, lo, be), value(t, hi, be));
    }
    range_str_be(t, be, lo, hi)
}

/// A range of `t` whose values are in byte order `be`.
pub(super) fn range_str_be(t: DataType, be: bool, lo: &[u8], hi: &[u8]) -> String {
    // nft prints protocol ranges as numbers (`33-45`: `dccp-45` would
    // not parse back).
    let symbolic = matches!(
        t,
        DataType::INET_PROTO
            | DataType::ARP_OP
            | DataType::ICMP_TYPE
            | DataType::ICMP6_TYPE
            | DataType::ICMP_CODE
            | DataType::ICMPV6_CODE
            | DataType::IGMP_TYPE
            | DataType::MH_TYPE
    );
    let t = if symbolic && lo != hi { DataType::INTEGER } else { t };
    // nft prints both ends of a time range in seconds (`60s-3600s`).
    if t == DataType::TIME && lo != hi {
        let int = |b: &[u8]| if be { be_uint(b) } else { le_uint(b) };
        let secs = |ms: u64| if ms % 1000 == 0 { format!("{}s", ms / 1000) } else { format!("{ms}ms") };
        return format!("{}-{}", secs(int(lo)), secs(int(hi)));
    }
    if lo == hi {
        return value(t, lo, be);
    }
    if matches!(t, DataType::IPV4_ADDR | DataType::IPV6_ADDR) {
        if let Some(p) = prefix_len(lo, hi) {
            return format!("{}/{}", value(t, lo, true), p);
        }
    }
    format!("{}-{}", value(t, lo, be), value(t, hi, be))
}

/// The prefix length if `lo`..`hi` is exactly one prefix.
pub(super) fn prefix_len(lo: &[u8], hi: &[u8]) -> Option<usize> {
    let bits = lo.len() * 8;
    let mut p = bits;
    for i in (0..bits).rev() {
        let (byte, bit) = (i / 8, 7 - i % 8);
        let l = lo[byte] >> bit & 1;
        let h = hi[byte] >> bit & 1;
        if l == 0 && h == 1 {
            p = i;
        } else {
            break;
        }
    }
    let host = bits - p;
    let _ = host;
    // Everything above p must match.
    for i in 0..p {
        let (byte, bit) = (i / 8, 7 - i % 8);
        if (lo[byte] >> bit & 1) != (hi[byte] >> bit & 1) {
            return None;
        }
    }
    Some(p)
}
