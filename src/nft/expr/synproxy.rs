//! `synproxy`: answer a TCP handshake on the server's behalf (`synproxy
//! mss 1460 wscale 7 timestamp sack-perm`).

use super::{collect, opt};
use crate::error::DecodeError;
use crate::wire::{AttrIter, AttrWriter};

const MSS: u16 = 1;
const WSCALE: u16 = 2;
const FLAGS: u16 = 3;

/// `NF_SYNPROXY_OPT_SACK_PERM`.
pub const SYNPROXY_SACK_PERM: u32 = 0x04;
/// `NF_SYNPROXY_OPT_TIMESTAMP`.
pub const SYNPROXY_TIMESTAMP: u32 = 0x08;

/// `[ synproxy mss 1460 wscale 7 ]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Synproxy {
    /// Maximum segment size announced.
    pub mss: Option<u16>,
    /// Window scale announced.
    pub wscale: Option<u8>,
    /// `NF_SYNPROXY_OPT_*` (`timestamp`, `sack-perm`; the kernel also
    /// sets MSS and WSCALE bits itself).
    pub flags: Option<u32>,
}

impl Synproxy {
    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        if let Some(v) = self.mss {
            w.u16_be(MSS, v);
        }
        if let Some(v) = self.wscale {
            w.u8(WSCALE, v);
        }
        if let Some(v) = self.flags {
            w.u32_be(FLAGS, v);
        }
    }

    pub(crate) fn decode(it: AttrIter<'_>) -> Result<Option<Synproxy>, DecodeError> {
        let Some(a) = collect::<4>(it)? else { return Ok(None) };
        Ok(Some(Synproxy {
            mss: opt(&a[MSS as usize], |a| a.u16_be())?,
            wscale: opt(&a[WSCALE as usize], |a| a.u8())?,
            flags: opt(&a[FLAGS as usize], |a| a.u32_be())?,
        }))
    }
}
