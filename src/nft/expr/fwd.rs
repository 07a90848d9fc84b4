//! `fwd`: forward the packet out of another device from the netdev
//! ingress hook (`fwd to "eth0"`, `fwd ip to 192.0.2.1 device "eth0"`).

use super::{collect, opt, reg, Reg};
use crate::error::DecodeError;
use crate::wire::{AttrIter, AttrWriter};

const SREG_DEV: u16 = 1;
const SREG_ADDR: u16 = 2;
const NFPROTO: u16 = 3;

/// `[ fwd sreg_dev 1 sreg_addr 2 nfproto 2 ]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fwd {
    /// Register holding the output interface index (host order).
    pub dev: Option<Reg>,
    /// Register holding the next hop address (`fwd ip to ADDR ...`).
    pub addr: Option<Reg>,
    /// `NFPROTO_*` of the address (2 ip, 10 ip6).
    pub nfproto: Option<u32>,
}

impl Fwd {
    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        if let Some(r) = self.dev {
            w.u32_be(SREG_DEV, r.0);
        }
        if let Some(r) = self.addr {
            w.u32_be(SREG_ADDR, r.0);
        }
        if let Some(p) = self.nfproto {
            w.u32_be(NFPROTO, p);
        }
    }

    pub(crate) fn decode(it: AttrIter<'_>) -> Result<Option<Fwd>, DecodeError> {
        let Some(a) = collect::<4>(it)? else { return Ok(None) };
        Ok(Some(Fwd {
            dev: opt(&a[SREG_DEV as usize], reg)?,
            addr: opt(&a[SREG_ADDR as usize], reg)?,
            nfproto: opt(&a[NFPROTO as usize], |a| a.u32_be())?,
        }))
    }
}
