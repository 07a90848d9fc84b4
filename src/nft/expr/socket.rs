//! `socket`: the local socket a packet belongs to (`socket transparent
//! 1`, `socket mark`, `socket wildcard`, `socket cgroupv2 level 1`).

use super::{collect, opt, reg, req, Reg};
use crate::error::DecodeError;
use crate::wire::{AttrIter, AttrWriter};

const KEY: u16 = 1;
const DREG: u16 = 2;
const LEVEL: u16 = 3;

/// `[ socket load transparent => reg 1 ]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Socket {
    /// `NFT_SOCKET_*`: 0 transparent, 1 mark, 2 wildcard, 3 cgroupv2.
    pub key: u32,
    /// Destination register.
    pub dreg: Reg,
    /// The cgroup level (cgroupv2 only).
    pub level: Option<u32>,
}

impl Socket {
    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        w.u32_be(KEY, self.key);
        w.u32_be(DREG, self.dreg.0);
        if let Some(l) = self.level {
            w.u32_be(LEVEL, l);
        }
    }

    pub(crate) fn decode(it: AttrIter<'_>) -> Result<Option<Socket>, DecodeError> {
        let Some(a) = collect::<4>(it)? else { return Ok(None) };
        Ok(Some(Socket {
            key: req(&a[KEY as usize], "socket key", |a| a.u32_be())?,
            dreg: req(&a[DREG as usize], "socket dreg", reg)?,
            level: opt(&a[LEVEL as usize], |a| a.u32_be())?,
        }))
    }
}
