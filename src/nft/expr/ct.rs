//! `ct`: connection tracking state, load or set.

use super::{collect, opt, reg, req, Reg};
use crate::error::DecodeError;
use crate::wire::{AttrIter, AttrWriter};

const DREG: u16 = 1;
const KEY: u16 = 2;
const DIRECTION: u16 = 3;
const SREG: u16 = 4;

macro_rules! ct_keys {
    ($($v:ident = $n:literal, $s:literal;)*) => {
        /// A conntrack key (`NFT_CT_*`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum CtKey {
            $(
                #[doc = concat!("`ct ", $s, "`")]
                $v,
            )*
            /// A key netplumb does not name.
            Other(u32),
        }

        impl CtKey {
            /// The kernel's number.
            pub fn code(self) -> u32 {
                match self {
                    $(CtKey::$v => $n,)*
                    CtKey::Other(c) => c,
                }
            }

            /// From the kernel's number.
            pub fn from_code(c: u32) -> CtKey {
                match c {
                    $($n => CtKey::$v,)*
                    c => CtKey::Other(c),
                }
            }

            /// The name `nft` uses.
            pub fn nft_name(self) -> Option<&'static str> {
                match self {
                    $(CtKey::$v => Some($s),)*
                    CtKey::Other(_) => None,
                }
            }
        }
    };
}

ct_keys! {
    State = 0, "state";
    Direction = 1, "direction";
    Status = 2, "status";
    Mark = 3, "mark";
    Secmark = 4, "secmark";
    Expiration = 5, "expiration";
    Helper = 6, "helper";
    L3Protocol = 7, "l3proto";
    Src = 8, "saddr";
    Dst = 9, "daddr";
    Protocol = 10, "protocol";
    ProtoSrc = 11, "proto-src";
    ProtoDst = 12, "proto-dst";
    Labels = 13, "label";
    Pkts = 14, "packets";
    Bytes = 15, "bytes";
    AvgPkt = 16, "avgpkt";
    Zone = 17, "zone";
    EventMask = 18, "event";
    SrcIp = 19, "ip saddr";
    DstIp = 20, "ip daddr";
    SrcIp6 = 21, "ip6 saddr";
    DstIp6 = 22, "ip6 daddr";
    Id = 23, "id";
}

/// A conntrack direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CtDir {
    /// `original` (`IP_CT_DIR_ORIGINAL`).
    Original,
    /// `reply`.
    Reply,
}

/// `[ ct load KEY => reg DREG ]` (optionally `, dir original|reply`), or
/// with `sreg`, `[ ct set KEY with reg SREG ]` (`ct mark set ...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ct {
    /// The key.
    pub key: CtKey,
    /// Direction, for keys that have one (addresses, ports, bytes).
    pub dir: Option<CtDir>,
    /// Destination register (load).
    pub dreg: Option<Reg>,
    /// Source register (set).
    pub sreg: Option<Reg>,
}

impl Ct {
    /// Load `key` into `dreg`.
    pub fn load(key: CtKey, dreg: Reg) -> Ct {
        Ct { key, dir: None, dreg: Some(dreg), sreg: None }
    }

    /// Set `key` from `sreg`.
    pub fn set(key: CtKey, sreg: Reg) -> Ct {
        Ct { key, dir: None, dreg: None, sreg: Some(sreg) }
    }

    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        w.u32_be(KEY, self.key.code());
        if let Some(r) = self.dreg {
            w.u32_be(DREG, r.0);
        }
        if let Some(d) = self.dir {
            w.u8(DIRECTION, d as u8);
        }
        if let Some(r) = self.sreg {
            w.u32_be(SREG, r.0);
        }
    }

    pub(crate) fn decode(it: AttrIter<'_>) -> Result<Option<Ct>, DecodeError> {
        let Some(a) = collect::<5>(it)? else { return Ok(None) };
        let dir = match opt(&a[DIRECTION as usize], |a| a.u8())? {
            None => None,
            Some(0) => Some(CtDir::Original),
            Some(1) => Some(CtDir::Reply),
            Some(_) => return Ok(None),
        };
        Ok(Some(Ct {
            key: CtKey::from_code(req(&a[KEY as usize], "ct key", |a| a.u32_be())?),
            dir,
            dreg: opt(&a[DREG as usize], reg)?,
            sreg: opt(&a[SREG as usize], reg)?,
        }))
    }
}
