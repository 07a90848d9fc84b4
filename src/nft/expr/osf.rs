//! `osf`: passive operating system fingerprinting of TCP SYNs (`osf name
//! "Linux"`, `osf ttl skip version "Linux:3.0"`).

use super::{collect, opt, reg, req, Reg};
use crate::error::DecodeError;
use crate::wire::{AttrIter, AttrWriter};

const DREG: u16 = 1;
const TTL: u16 = 2;
const FLAGS: u16 = 3;

/// `NFT_OSF_F_VERSION`: load `name:version` rather than the name.
pub const OSF_F_VERSION: u32 = 1;

/// `[ osf dreg 1 ]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Osf {
    /// Destination register (16 bytes, a NUL-padded string).
    pub dreg: Reg,
    /// TTL check: 0 exact (default), 1 `ttl loose`, 2 `ttl skip`.
    pub ttl: Option<u8>,
    /// [`OSF_F_VERSION`] or 0. The kernel lists 0 but refuses it in a new
    /// rule (EINVAL), so 0 is not sent, as nft does not send it.
    pub flags: u32,
}

impl Osf {
    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        w.u32_be(DREG, self.dreg.0);
        if let Some(t) = self.ttl {
            w.u8(TTL, t);
        }
        if self.flags != 0 {
            w.u32_be(FLAGS, self.flags);
        }
    }

    pub(crate) fn decode(it: AttrIter<'_>) -> Result<Option<Osf>, DecodeError> {
        let Some(a) = collect::<4>(it)? else { return Ok(None) };
        Ok(Some(Osf {
            dreg: req(&a[DREG as usize], "osf dreg", reg)?,
            ttl: opt(&a[TTL as usize], |a| a.u8())?,
            flags: opt(&a[FLAGS as usize], |a| a.u32_be())?.unwrap_or(0),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel lists `osf name "Linux"` with NFTA_OSF_FLAGS 0 (TTL,
    /// FLAGS, DREG, in that order) but refuses FLAGS other than
    /// NFT_OSF_F_VERSION in a new rule (EINVAL): re-encoding leaves 0 out,
    /// as nft does (nft sends DREG then TTL).
    #[test]
    fn flags_zero_listed_by_the_kernel_is_not_sent_back() {
        let kernel: &[u8] = &[5, 0, 2, 0, 0, 0, 0, 0, 8, 0, 3, 0, 0, 0, 0, 0, 8, 0, 1, 0, 0, 0, 0, 1];
        let o = Osf::decode(AttrIter::new(kernel)).unwrap().unwrap();
        assert_eq!(o, Osf { dreg: Reg(1), ttl: Some(0), flags: 0 });
        let mut buf = Vec::new();
        o.encode(&mut AttrWriter::new(&mut buf));
        assert_eq!(buf, [8, 0, 1, 0, 0, 0, 0, 1, 5, 0, 2, 0, 0, 0, 0, 0]);
        let v = Osf { flags: OSF_F_VERSION, ..o };
        let mut buf = Vec::new();
        v.encode(&mut AttrWriter::new(&mut buf));
        assert_eq!(&buf[16..], [8, 0, 3, 0, 0, 0, 0, 1]);
    }
}
