//! `log`: log the packet.

use super::{collect, opt};
use crate::error::DecodeError;
use crate::wire::{AttrIter, AttrWriter};

const GROUP: u16 = 1;
const PREFIX: u16 = 2;
const SNAPLEN: u16 = 3;
const QTHRESHOLD: u16 = 4;
const LEVEL: u16 = 5;
const FLAGS: u16 = 6;

/// `[ log prefix "x" level 4 ]`; every field optional.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Log {
    /// `prefix "..."`.
    pub prefix: Option<String>,
    /// `group N` (nflog).
    pub group: Option<u16>,
    /// `snaplen N`.
    pub snaplen: Option<u32>,
    /// `queue-threshold N`.
    pub qthreshold: Option<u16>,
    /// syslog level (0 emerg .. 7 debug; 8 audit).
    pub level: Option<u32>,
    /// `NF_LOG_*` flags (tcp sequence 1, tcp options 2, ip options 4,
    /// uid 8, mac decode 0x20).
    pub flags: Option<u32>,
}

impl Log {
    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        if let Some(p) = &self.prefix {
            w.str(PREFIX, p);
        }
        if let Some(g) = self.group {
            w.u16_be(GROUP, g);
        }
        if let Some(s) = self.snaplen {
            w.u32_be(SNAPLEN, s);
        }
        if let Some(q) = self.qthreshold {
            w.u16_be(QTHRESHOLD, q);
        }
        if let Some(l) = self.level {
            w.u32_be(LEVEL, l);
        }
        if let Some(f) = self.flags {
            w.u32_be(FLAGS, f);
        }
    }

    pub(crate) fn decode(it: AttrIter<'_>) -> Result<Option<Log>, DecodeError> {
        let Some(a) = collect::<7>(it)? else { return Ok(None) };
        Ok(Some(Log {
            prefix: opt(&a[PREFIX as usize], |a| a.str())?.map(str::to_string),
            group: opt(&a[GROUP as usize], |a| a.u16_be())?,
            snaplen: opt(&a[SNAPLEN as usize], |a| a.u32_be())?,
            qthreshold: opt(&a[QTHRESHOLD as usize], |a| a.u16_be())?,
            level: opt(&a[LEVEL as usize], |a| a.u32_be())?,
            flags: opt(&a[FLAGS as usize], |a| a.u32_be())?,
        }))
    }
}
