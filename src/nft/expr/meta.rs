//! `meta`: packet metadata (mark, interfaces, protocols, ...), load or set.

use super::{collect, opt, reg, req, Reg};
use crate::error::DecodeError;
use crate::wire::{AttrIter, AttrWriter};

const DREG: u16 = 1;
const KEY: u16 = 2;
const SREG: u16 = 3;

macro_rules! meta_keys {
    ($($v:ident = $n:literal, $s:literal;)*) => {
        /// A meta key (`NFT_META_*`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum MetaKey {
            $(
                #[doc = concat!("`meta ", $s, "`")]
                $v,
            )*
            /// A key netplumb does not name.
            Other(u32),
        }

        impl MetaKey {
            /// The kernel's number.
            pub fn code(self) -> u32 {
                match self {
                    $(MetaKey::$v => $n,)*
                    MetaKey::Other(c) => c,
                }
            }

            /// From the kernel's number.
            pub fn from_code(c: u32) -> MetaKey {
                match c {
                    $($n => MetaKey::$v,)*
                    c => MetaKey::Other(c),
                }
            }

            /// The name `nft` uses (`"mark"`, `"l4proto"`).
            pub fn nft_name(self) -> Option<&'static str> {
                match self {
                    $(MetaKey::$v => Some($s),)*
                    MetaKey::Other(_) => None,
                }
            }
        }
    };
}

meta_keys! {
    Len = 0, "length";
    Protocol = 1, "protocol";
    Priority = 2, "priority";
    Mark = 3, "mark";
    Iif = 4, "iif";
    Oif = 5, "oif";
    IifName = 6, "iifname";
    OifName = 7, "oifname";
    IifType = 8, "iiftype";
    OifType = 9, "oiftype";
    SkUid = 10, "skuid";
    SkGid = 11, "skgid";
    NfTrace = 12, "nftrace";
    RtClassId = 13, "rtclassid";
    Secmark = 14, "secmark";
    NfProto = 15, "nfproto";
    L4Proto = 16, "l4proto";
    BriIifName = 17, "ibrname";
    BriOifName = 18, "obrname";
    PktType = 19, "pkttype";
    Cpu = 20, "cpu";
    IifGroup = 21, "iifgroup";
    OifGroup = 22, "oifgroup";
    Cgroup = 23, "cgroup";
    Prandom = 24, "random";
    Secpath = 25, "secpath";
    IifKind = 26, "iifkind";
    OifKind = 27, "oifkind";
    BriIifPvid = 28, "ibrpvid";
    BriIifVproto = 29, "ibrvproto";
    TimeNs = 30, "time";
    TimeDay = 31, "day";
    TimeHour = 32, "hour";
    Sdif = 33, "sdif";
    SdifName = 34, "sdifname";
}

/// `[ meta load KEY => reg DREG ]`, or with `sreg`, `[ meta set KEY with
/// reg SREG ]` (`meta mark set ...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    /// The key.
    pub key: MetaKey,
    /// Destination register (load).
    pub dreg: Option<Reg>,
    /// Source register (set).
    pub sreg: Option<Reg>,
}

impl Meta {
    /// Load `key` into `dreg`.
    pub fn load(key: MetaKey, dreg: Reg) -> Meta {
        Meta { key, dreg: Some(dreg), sreg: None }
    }

    /// Set `key` from `sreg`.
    pub fn set(key: MetaKey, sreg: Reg) -> Meta {
        Meta { key, dreg: None, sreg: Some(sreg) }
    }

    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        w.u32_be(KEY, self.key.code());
        if let Some(r) = self.dreg {
            w.u32_be(DREG, r.0);
        }
        if let Some(r) = self.sreg {
            w.u32_be(SREG, r.0);
        }
    }

    pub(crate) fn decode(it: AttrIter<'_>) -> Result<Option<Meta>, DecodeError> {
        let Some(a) = collect::<4>(it)? else { return Ok(None) };
        Ok(Some(Meta {
            key: MetaKey::from_code(req(&a[KEY as usize], "meta key", |a| a.u32_be())?),
            dreg: opt(&a[DREG as usize], reg)?,
            sreg: opt(&a[SREG as usize], reg)?,
        }))
    }
}
