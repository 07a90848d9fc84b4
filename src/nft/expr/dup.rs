//! `dup`: send a copy of the packet to another address or device (`dup
//! to 192.0.2.1 device "eth0"`, `dup to "eth0"` in netdev tables).

use super::{collect, opt, reg, Reg};
use crate::error::DecodeError;
use crate::wire::{AttrIter, AttrWriter};

const SREG_ADDR: u16 = 1;
const SREG_DEV: u16 = 2;

/// `[ dup sreg_addr 1 sreg_dev 2 ]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dup {
    /// Register holding the gateway address (ip and ip6 tables).
    pub addr: Option<Reg>,
    /// Register holding the output interface index (host order).
    pub dev: Option<Reg>,
}

impl Dup {
    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        if let Some(r) = self.addr {
            w.u32_be(SREG_ADDR, r.0);
        }
        if let Some(r) = self.dev {
            w.u32_be(SREG_DEV, r.0);
        }
    }

    pub(crate) fn decode(it: AttrIter<'_>) -> Result<Option<Dup>, DecodeError> {
        let Some(a) = collect::<3>(it)? else { return Ok(None) };
        Ok(Some(Dup { addr: opt(&a[SREG_ADDR as usize], reg)?, dev: opt(&a[SREG_DEV as usize], reg)? }))
    }
}
