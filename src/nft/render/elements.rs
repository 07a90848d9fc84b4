//! Set elements as nft prints them: ranges and prefixes, sort order, line
//! breaking, timeouts, counters and map data.

use std::fmt::Write as _;

use super::*;

/// The byte order nft recorded for a set's plain key (`data`: its map
/// data) in the set's userdata: `Some(true)` big endian, `Some(false)`
/// host order; `None` when not recorded (concatenations).
pub(super) fn set_be(set: &Set, data: bool) -> Option<bool> {
    let want = if data {
        crate::nft::consts::UDATA_SET_DATABYTEORDER
    } else {
        crate::nft::consts::UDATA_SET_KEYBYTEORDER
    };
    let u = set.userdata_bytes();
    let v = crate::nft::types::udata_iter(&u).find(|(t, _)| *t == want)?.1;
    match u32::from_ne_bytes(v.try_into().ok()?) {
        1 => Some(false),
        2 => Some(true),
        _ => None,
    }
}

pub(super) fn element_key(set: &Set, e: &Element) -> String {
    match &e.key_end {
        Some(end) if set.flags.contains(SetFlags::INTERVAL) => {
            let raw_range = |lo: &[u8], hi: &[u8]| {
                if lo == hi {
                    raw_hex(lo)
                } else {
                    format!("{}-{}", raw_hex(lo), raw_hex(hi))
                }
            };
            if set.key.is_concat() {
                set.key
                    .fields
                    .iter()
                    .zip(key_spans(&set.key, e.key.len()))
                    .enumerate()
                    .map(|(i, (t, (off, len)))| {
                        let lo = e.key.get(off..off + len).unwrap_or(&[]);
                        let hi = end.get(off..off + len).unwrap_or(&[]);
                        if raw_field(i) && len <= 8 {
                            return raw_range(lo, hi);
                        }
                        range_str_be(*t, concat_be(i, *t), lo, hi)
                    })
                    .collect::<Vec<_>>()
                    .join(" . ")
            } else if raw_field(0) && e.key.len() <= 8 {
                raw_range(&e.key, end)
            } else {
                let t = set.key.fields[0];
                range_str_be(t, set_be(set, false).unwrap_or(t.big_endian()), &e.key, end)
            }
        }
        _ => key_be(&set.key, &e.key, set_be(set, false)),
    }
}

pub(super) fn element_str(set: &Set, e: &Element, with_expires: bool) -> String {
    // The catch-all element (`NFT_SET_ELEM_CATCHALL`).
    let mut s = if e.flags & 2 != 0 { "*".to_string() } else { element_key(set, e) };
    // Several flags in one element are `syn | ack` (a comma would
    // separate two elements).
    if !set.key.is_concat()
        && matches!(
            set.key.fields[0],
            DataType::TCP_FLAG | DataType::CT_STATE | DataType::CT_STATUS | DataType::CT_EVENT
        )
    {
        s = s.replace(',', " | ");
    }
    if let Some(t) = e.timeout {
        if set.timeout != Some(t) {
            let _ = write!(s, " timeout {}", duration(t));
        }
    }
    if with_expires {
        if let Some(x) = e.expiration {
            let _ = write!(s, " expires {}", duration(x));
        }
    }
    for x in &e.exprs {
        if let Expr::Counter(c) = x {
            let _ = write!(s, " counter packets {} bytes {}", c.packets, c.bytes);
        }
    }
    if let Some(c) = &e.comment {
        let _ = write!(s, " comment {}", quote_str(c));
    }
    match (&e.data, &e.objref) {
        (Some(Data::Verdict(v)), _) => {
            let _ = write!(s, " : {v}");
        }
        (Some(Data::Value(v)), _) => {
            let dt = set.data.clone().unwrap_or(KeyType::single(DataType::INTEGER));
            if let Some(text) = interval_data(set, &dt, v) {
                let _ = write!(s, " : {text}");
                return s;
            }
            // `integer` data has the width the set says (`ct zone set
            // meta mark map { 0x1 : 1 }`: two bytes).
            let any_width = !dt.is_concat() && dt.fields[0] == DataType::INTEGER && v.len() <= 8;
            if dt.len() as usize != v.len() && !any_width {
                // Data netplumb cannot split into its fields (NAT ranges
                // or prefixes as map data): marked, never printed wrong.
                let _ = write!(
                    s,
                    " : {MARK_OPEN}map data of {} bytes for {}{MARK_CLOSE}",
                    v.len(),
                    dt.nft_name()
                );
                return s;
            }
            let _ = write!(s, " : {}", key_be(&dt, v, set_be(set, true)));
        }
        (None, Some(o)) => {
            let _ = write!(s, " : {}", quote_str(o));
        }
        _ => {}
    }
    s
}

/// Elements in the order `nft` prints them (sorted as nft sorts, ranges
/// of plain interval sets merged).
pub(super) fn printable_elements(sw: &SetWithElements) -> Vec<Element> {
    let set = &sw.set;
    let mut elems: Vec<Element> = if set.flags.contains(SetFlags::INTERVAL) && !set.key.is_concat() {
        merge_intervals(sw.elements.clone())
    } else {
        sw.elements.clone()
    };
    // nft sorts by the key's numeric value: a plain key in its own byte
    // order; a concatenation as its unpadded bytes read little-endian.
    let sort_key = |e: &Element| -> Vec<u8> {
        if set.key.is_concat() {
            let mut v = Vec::new();
            for (off, len) in set.key.field_spans() {
                let lo = e.key.get(off..off + len).unwrap_or(&[]);
                let hi = e.key_end.as_ref().and_then(|k| k.get(off..off + len)).unwrap_or(lo);
                // A range or prefix has no single value: nft sorts it as 0.
                if lo == hi {
                    v.extend_from_slice(lo);
                } else {
                    v.resize(v.len() + len, 0);
                }
            }
            v.reverse();
            v
        } else if set_be(set, false).unwrap_or(set.key.fields[0].big_endian()) {
            e.key.to_vec()
        } else {
            e.key.iter().rev().copied().collect()
        }
    };
    let flags = !set.key.is_concat()
        && matches!(
            set.key.fields[0],
            DataType::TCP_FLAG | DataType::CT_STATE | DataType::CT_STATUS | DataType::CT_EVENT
        );
    if flags && !set.flags.contains(SetFlags::INTERVAL) {
        // nft prints an element of several flags as `syn | ack` and sorts
        // it by its lowest flag. Elements with the same lowest flag nft
        // lists in the reverse of the kernel's order, and loads in the
        // order written: netplumb keeps the kernel's order, so that its
        // listing loaded back rebuilds the same set (in that one case the
        // text differs from nft's).
        let be = set_be(set, false).unwrap_or(set.key.fields[0].big_endian());
        let low = |e: &Element| {
            let v = if be { be_uint(&e.key) } else { le_uint(&e.key) };
            if v == 0 {
                0
            } else {
                1u64 << v.trailing_zeros()
            }
        };
        elems.sort_by_key(low);
        return elems;
    }
    if set.flags.contains(SetFlags::INTERVAL) && set.key.is_concat() {
        // nft lists concatenated ranges in the kernel's order (the order
        // they were added), unsorted.
        return elems;
    }
    elems.sort_by_cached_key(sort_key);
    elems
}

/// Elements `{ a, b, ... }` with nft's line breaking for named sets.
pub(super) fn elements_block(sw: &SetWithElements, anonymous: bool, with_expires: bool) -> String {
    let set = &sw.set;
    let mut elems = printable_elements(sw);
    // nft sorts the catch-all element `*` last (as the largest key).
    if !(set.flags.contains(SetFlags::INTERVAL) && set.key.is_concat()) {
        let (mut rest, catch_all): (Vec<Element>, Vec<Element>) =
            elems.into_iter().partition(|e| e.flags & 2 == 0);
        rest.extend(catch_all);
        elems = rest;
    }
    let per_line = if anonymous {
        usize::MAX
    } else if set.key.is_concat() {
        1
    } else {
        match set.key.fields[0] {
            DataType::NFPROTO
            | DataType::INTEGER
            | DataType::ARP_OP
            | DataType::INET_PROTO
            | DataType::INET_SERVICE
            | DataType::TCP_FLAG
            | DataType::MARK
            | DataType::IFINDEX
            | DataType::CLASSID
            | DataType::UID
            | DataType::GID
            | DataType::CT_DIR => 5,
            DataType::IPV4_ADDR | DataType::CT_STATE | DataType::CT_STATUS | DataType::PKTTYPE => 2,
            _ => 1,
        }
    };
    let mut out = String::from("{ ");
    let mut count = 0;
    for (i, e) in elems.iter().enumerate() {
        if i > 0 {
            if count < per_line {
                out.push_str(", ");
            } else {
                out.push_str(",\n\t\t\t     ");
                count = 0;
            }
        }
        out.push_str(&element_str(set, e, with_expires));
        count += 1;
    }
    out.push_str(" }");
    out
}
