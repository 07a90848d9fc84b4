//! Table statistics: what `conntrack -C` and `conntrack -S` show.

use super::consts::*;
use super::raw::RawAttr;
use crate::error::DecodeError;
use crate::wire;

/// The whole table's size (`IPCTNL_MSG_CT_GET_STATS`, `conntrack -C`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Count {
    /// Flows in this namespace's table.
    pub entries: u32,
    /// `nf_conntrack_max`, when the kernel reports it.
    pub max_entries: Option<u32>,
}

impl Count {
    /// Decode an `IPCTNL_MSG_CT_GET_STATS` reply payload.
    pub fn decode(payload: &[u8]) -> Result<Count, DecodeError> {
        let mut c = Count::default();
        let mut seen = false;
        for a in wire::attrs_after(payload, NFGENMSG_LEN) {
            let a = a?;
            match a.kind() {
                CTA_STATS_GLOBAL_ENTRIES => {
                    c.entries = a.u32_be()?;
                    seen = true;
                }
                CTA_STATS_GLOBAL_MAX_ENTRIES => c.max_entries = Some(a.u32_be()?),
                _ => {}
            }
        }
        if !seen {
            return Err(DecodeError::new("conntrack statistics", "no entry count"));
        }
        Ok(c)
    }
}

/// Counters of one CPU (`IPCTNL_MSG_CT_GET_STATS_CPU`, one line of
/// `conntrack -S`). Counters the kernel no longer maintains read 0.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CpuStats {
    /// The CPU number.
    pub cpu: u16,
    /// `searched` (unused since Linux 4.10).
    pub searched: u32,
    /// `found`: lookups that found a flow.
    pub found: u32,
    /// `new` (unused).
    pub new: u32,
    /// `invalid`: packets that could not be tracked.
    pub invalid: u32,
    /// `ignore` (unused).
    pub ignore: u32,
    /// `delete` (unused).
    pub delete: u32,
    /// `delete_list` (unused).
    pub delete_list: u32,
    /// `insert`: flows inserted.
    pub insert: u32,
    /// `insert_failed`: insertions that failed (e.g. a clash).
    pub insert_failed: u32,
    /// `drop`: packets dropped because a flow could not be created.
    pub drop: u32,
    /// `early_drop`: flows dropped to make room.
    pub early_drop: u32,
    /// `error`: ICMP errors that could not be matched, and more.
    pub error: u32,
    /// `search_restart`: lookups restarted by a concurrent change.
    pub search_restart: u32,
    /// `clash_resolve`: insertion clashes resolved.
    pub clash_resolve: u32,
    /// `chaintoolong`: hash chains found too long.
    pub chain_toolong: u32,
    /// Counters netplumb does not know yet.
    pub unknown: Vec<RawAttr>,
}

impl CpuStats {
    /// Decode one `IPCTNL_MSG_CT_GET_STATS_CPU` message payload (the CPU
    /// number is in `nfgenmsg.res_id`).
    pub fn decode(payload: &[u8]) -> Result<CpuStats, DecodeError> {
        let hdr: [u8; NFGENMSG_LEN] = wire::fixed(payload, "nfgenmsg")?;
        let mut s = CpuStats { cpu: u16::from_be_bytes([hdr[2], hdr[3]]), ..Default::default() };
        for a in wire::attrs_after(payload, NFGENMSG_LEN) {
            let a = a?;
            let slot = match a.kind() {
                CTA_STATS_SEARCHED => &mut s.searched,
                CTA_STATS_FOUND => &mut s.found,
                CTA_STATS_NEW => &mut s.new,
                CTA_STATS_INVALID => &mut s.invalid,
                CTA_STATS_IGNORE => &mut s.ignore,
                CTA_STATS_DELETE => &mut s.delete,
                CTA_STATS_DELETE_LIST => &mut s.delete_list,
                CTA_STATS_INSERT => &mut s.insert,
                CTA_STATS_INSERT_FAILED => &mut s.insert_failed,
                CTA_STATS_DROP => &mut s.drop,
                CTA_STATS_EARLY_DROP => &mut s.early_drop,
                CTA_STATS_ERROR => &mut s.error,
                CTA_STATS_SEARCH_RESTART => &mut s.search_restart,
                CTA_STATS_CLASH_RESOLVE => &mut s.clash_resolve,
                CTA_STATS_CHAIN_TOOLONG => &mut s.chain_toolong,
                _ => {
                    s.unknown.push(RawAttr::new(0, &a));
                    continue;
                }
            };
            *slot = a.u32_be()?;
        }
        Ok(s)
    }
}

/// Statistics of the table: its size and the per-CPU counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// The table's size (`conntrack -C`).
    pub count: Count,
    /// One entry per possible CPU (`conntrack -S`).
    pub per_cpu: Vec<CpuStats>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::AttrWriter;

    #[test]
    fn decode_stats() {
        let mut p = vec![0, 0, 0, 3];
        AttrWriter::new(&mut p).u32_be(CTA_STATS_FOUND, 7).u32_be(CTA_STATS_CHAIN_TOOLONG, 2).u32_be(99, 1);
        let s = CpuStats::decode(&p).unwrap();
        assert_eq!((s.cpu, s.found, s.chain_toolong, s.unknown.len()), (3, 7, 2, 1));
        let mut g = vec![0, 0, 0, 0];
        AttrWriter::new(&mut g)
            .u32_be(CTA_STATS_GLOBAL_ENTRIES, 12)
            .u32_be(CTA_STATS_GLOBAL_MAX_ENTRIES, 262144);
        assert_eq!(Count::decode(&g).unwrap(), Count { entries: 12, max_entries: Some(262144) });
        assert!(Count::decode(&[0, 0, 0, 0]).is_err());
        let mut bad = vec![0, 0, 0, 0];
        AttrWriter::new(&mut bad).u16(CTA_STATS_FOUND, 7);
        assert!(CpuStats::decode(&bad).is_err());
    }
}
