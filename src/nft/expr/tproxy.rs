//! `tproxy`: divert a packet to a local socket without changing its
//! destination (`tproxy to :8080`, `tproxy ip to 192.0.2.1:50080`).

use super::{collect, opt, reg, Reg};
use crate::error::DecodeError;
use crate::wire::{AttrIter, AttrWriter};

const FAMILY: u16 = 1;
const REG_ADDR: u16 = 2;
const REG_PORT: u16 = 3;

/// `[ tproxy ip addr reg 1 port reg 2 ]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tproxy {
    /// `NFPROTO_*` of the address: 2 ip, 10 ip6, 0 (unspecified: only a
    /// port, in an inet table). nft always sends it.
    pub family: Option<u32>,
    /// Register holding the address (4 or 16 bytes, network order).
    pub addr: Option<Reg>,
    /// Register holding the port (2 bytes, network order).
    pub port: Option<Reg>,
}

impl Tproxy {
    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        if let Some(f) = self.family {
            w.u32_be(FAMILY, f);
        }
        if let Some(r) = self.addr {
            w.u32_be(REG_ADDR, r.0);
        }
        if let Some(r) = self.port {
            w.u32_be(REG_PORT, r.0);
        }
    }

    pub(crate) fn decode(it: AttrIter<'_>) -> Result<Option<Tproxy>, DecodeError> {
        let Some(a) = collect::<4>(it)? else { return Ok(None) };
        Ok(Some(Tproxy {
            family: opt(&a[FAMILY as usize], |a| a.u32_be())?,
            addr: opt(&a[REG_ADDR as usize], reg)?,
            port: opt(&a[REG_PORT as usize], reg)?,
        }))
    }
}
