//! nftables expressions: the instructions a rule is made of.
//!
//! One file per expression, its encoder and decoder side by side. An
//! expression netplumb does not model (or one carrying attributes it does
//! not know) decodes to [`Unknown`], which re-encodes byte for byte, so a
//! rule read from the kernel can always be written back unchanged.
//!
//! Most users build rules with [`crate::nft::RuleBuilder`], which lowers
//! what they mean (`ip daddr 10.0.0.1`) to these expressions and registers.

mod bitwise;
mod byteorder;
mod cmp;
mod connlimit;
mod counter;
mod ct;
mod ct_expect;
mod dup;
mod dynset;
mod exthdr;
mod fib;
mod fwd;
mod hash;
mod immediate;
mod limit;
mod log;
mod lookup;
mod masq;
mod meta;
mod nat;
mod notrack;
mod numgen;
mod objref;
mod osf;
mod payload;
mod queue;
mod quota;
mod range;
mod redir;
mod reject;
mod rt;
mod socket;
mod synproxy;
mod tproxy;
mod unknown;
mod xfrm;

pub use bitwise::{Bitwise, BitwiseOp};
pub use byteorder::{Byteorder, ByteorderOp};
pub use cmp::{Cmp, CmpOp};
pub use connlimit::{Connlimit, CONNLIMIT_F_INV};
pub use counter::Counter;
pub use ct::{Ct, CtDir, CtKey};
pub use ct_expect::CtExpect;
pub use dup::Dup;
pub use dynset::{Dynset, DynsetOp};
pub use exthdr::{Exthdr, ExthdrOp, EXTHDR_F_PRESENT};
pub use fib::{Fib, FibFlags, FibResult};
pub use fwd::Fwd;
pub use hash::{Hash, HashType};
pub use immediate::Immediate;
pub use limit::{Limit, LimitType, LimitUnit};
pub use log::Log;
pub use lookup::Lookup;
pub use masq::Masq;
pub use meta::{Meta, MetaKey};
pub use nat::{Nat, NatFlags, NatType};
pub use notrack::Notrack;
pub use numgen::{Numgen, NumgenType};
pub use objref::Objref;
pub use osf::{Osf, OSF_F_VERSION};
pub use payload::{Payload, PayloadBase};
pub use queue::{Queue, QUEUE_FLAG_BYPASS, QUEUE_FLAG_CPU_FANOUT};
pub use quota::Quota;
pub use range::Range;
pub use redir::Redir;
pub use reject::{Reject, RejectType};
pub use rt::Rt;
pub use socket::Socket;
pub use synproxy::{Synproxy, SYNPROXY_SACK_PERM, SYNPROXY_TIMESTAMP};
pub use tproxy::Tproxy;
pub use unknown::Unknown;
pub use xfrm::Xfrm;

use crate::error::DecodeError;
use crate::nft::consts::*;
use crate::wire::{Attr, AttrIter, AttrWriter, NLA_F_NESTED};

/// A register. `0` holds the verdict; `1`..`4` are the 128-bit data
/// registers; `8`..`23` are the 32-bit views (`NFT_REG32_00`..`15`) that
/// `nft` uses for concatenations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reg(pub u32);

impl Reg {
    /// `NFT_REG_VERDICT`.
    pub const VERDICT: Reg = Reg(0);
    /// `NFT_REG_1`.
    pub const R1: Reg = Reg(1);
    /// `NFT_REG_2`.
    pub const R2: Reg = Reg(2);
    /// `NFT_REG_3`.
    pub const R3: Reg = Reg(3);
    /// `NFT_REG_4`.
    pub const R4: Reg = Reg(4);

    /// `NFT_REG32_00 + n`.
    pub const fn r32(n: u32) -> Reg {
        Reg(8 + n)
    }

    /// The 32-bit slot this register starts at (`NFT_REG_1` is slot 0,
    /// `NFT_REG32_01` slot 1, ...).
    pub fn slot(self) -> u32 {
        if (1..=4).contains(&self.0) {
            (self.0 - 1) * 4
        } else {
            self.0.saturating_sub(8)
        }
    }

    /// The register that starts at 32-bit slot `slot`, as `nft` names it
    /// (`NFT_REG_n` on 128-bit boundaries, else `NFT_REG32_nn`).
    pub fn from_slot(slot: u32) -> Reg {
        if slot % 4 == 0 {
            Reg(slot / 4 + 1)
        } else {
            Reg(8 + slot)
        }
    }
}

/// A verdict: what happens to the packet.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// `accept` (`NF_ACCEPT`).
    Accept,
    /// `drop` (`NF_DROP`).
    Drop,
    /// `continue` (`NFT_CONTINUE`).
    Continue,
    /// `return` (`NFT_RETURN`).
    Return,
    /// `jump CHAIN` (`NFT_JUMP`).
    Jump(String),
    /// `goto CHAIN` (`NFT_GOTO`).
    Goto(String),
    /// `queue` (`NF_QUEUE`).
    Queue,
    /// `NFT_BREAK` (internal: stop evaluating this rule).
    Break,
    /// Any other code, with the chain name if one was given.
    Other(i32, Option<String>),
}

impl Verdict {
    fn code(&self) -> i32 {
        match self {
            Verdict::Accept => 1,
            Verdict::Drop => 0,
            Verdict::Queue => 3,
            Verdict::Continue => -1,
            Verdict::Break => -2,
            Verdict::Jump(_) => -3,
            Verdict::Goto(_) => -4,
            Verdict::Return => -5,
            Verdict::Other(c, _) => *c,
        }
    }

    fn chain(&self) -> Option<&str> {
        match self {
            Verdict::Jump(c) | Verdict::Goto(c) => Some(c),
            Verdict::Other(_, c) => c.as_deref(),
            _ => None,
        }
    }

    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        w.nest(NFTA_DATA_VERDICT | NLA_F_NESTED, |w| {
            w.u32_be(NFTA_VERDICT_CODE, self.code() as u32);
            if let Some(c) = self.chain() {
                w.str(NFTA_VERDICT_CHAIN, c);
            }
        });
    }

    fn decode(a: &Attr<'_>) -> Result<Verdict, DecodeError> {
        let mut code = None;
        let mut chain = None;
        for x in a.nested() {
            let x = x?;
            match x.kind() {
                NFTA_VERDICT_CODE => code = Some(x.u32_be()? as i32),
                NFTA_VERDICT_CHAIN => chain = Some(x.str()?.to_string()),
                _ => {}
            }
        }
        let code = code.ok_or_else(|| DecodeError::new("verdict", "no code"))?;
        Ok(match (code, chain) {
            (1, None) => Verdict::Accept,
            (0, None) => Verdict::Drop,
            (3, None) => Verdict::Queue,
            (-1, None) => Verdict::Continue,
            (-2, None) => Verdict::Break,
            (-5, None) => Verdict::Return,
            (-3, Some(c)) => Verdict::Jump(c),
            (-4, Some(c)) => Verdict::Goto(c),
            (c, ch) => Verdict::Other(c, ch),
        })
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Accept => f.write_str("accept"),
            Verdict::Drop => f.write_str("drop"),
            Verdict::Continue => f.write_str("continue"),
            Verdict::Return => f.write_str("return"),
            Verdict::Queue => f.write_str("queue"),
            Verdict::Break => f.write_str("break"),
            // Chain names print bare, as nft 1.0.6 prints them.
            Verdict::Jump(c) => write!(f, "jump {c}"),
            Verdict::Goto(c) => write!(f, "goto {c}"),
            Verdict::Other(c, _) => write!(f, "verdict {c}"),
        }
    }
}

/// The data an immediate loads or a map element maps to: a value or a
/// verdict (`NFTA_DATA_VALUE` / `NFTA_DATA_VERDICT`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Data {
    /// Raw bytes, as they sit in a register.
    Value(Vec<u8>),
    /// A verdict.
    Verdict(Verdict),
}

impl Data {
    /// Encode as a nest of type `ty`.
    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>, ty: u16) {
        w.nest(ty | NLA_F_NESTED, |w| match self {
            Data::Value(v) => {
                w.bytes(NFTA_DATA_VALUE, v);
            }
            Data::Verdict(v) => v.encode(w),
        });
    }

    /// Decode an `NFTA_DATA_*` nest.
    pub(crate) fn decode(a: &Attr<'_>) -> Result<Data, DecodeError> {
        for x in a.nested() {
            let x = x?;
            match x.kind() {
                NFTA_DATA_VALUE => return Ok(Data::Value(x.payload.to_vec())),
                NFTA_DATA_VERDICT => return Ok(Data::Verdict(Verdict::decode(&x)?)),
                _ => {}
            }
        }
        Err(DecodeError::new("nftables data", "neither value nor verdict"))
    }
}

/// Write a value nest (`NFTA_DATA_VALUE` inside `ty`).
pub(crate) fn put_value(w: &mut AttrWriter<'_>, ty: u16, v: &[u8]) {
    w.nest(ty | NLA_F_NESTED, |w| {
        w.bytes(NFTA_DATA_VALUE, v);
    });
}

/// The bytes of a value nest, borrowed: what [`get_value`] copies, found
/// the same way (the first `NFTA_DATA_VALUE` or `NFTA_DATA_VERDICT`
/// decides), without building a [`Data`] on the way.
#[inline]
pub(crate) fn get_value_bytes<'a>(a: &Attr<'a>) -> Result<&'a [u8], DecodeError> {
    for x in a.nested() {
        let x = x?;
        match x.kind() {
            NFTA_DATA_VALUE => return Ok(x.payload),
            NFTA_DATA_VERDICT => {
                // As `Data::decode` then `get_value`: a malformed verdict
                // is reported as such, a well-formed one is the wrong kind.
                Verdict::decode(&x)?;
                return Err(DecodeError::new("nftables data", "verdict where a value was expected"));
            }
            _ => {}
        }
    }
    Err(DecodeError::new("nftables data", "neither value nor verdict"))
}

/// Read a value nest.
pub(crate) fn get_value(a: &Attr<'_>) -> Result<Vec<u8>, DecodeError> {
    match Data::decode(a)? {
        Data::Value(v) => Ok(v),
        Data::Verdict(_) => Err(DecodeError::new("nftables data", "verdict where a value was expected")),
    }
}

pub(crate) fn reg(a: &Attr<'_>) -> Result<Reg, DecodeError> {
    Ok(Reg(a.u32_be()?))
}

/// The attributes of one expression, indexed by kind. `None` from
/// [`collect`] means an attribute netplumb does not know: the expression
/// is then kept opaque.
pub(crate) type Attrs<'a, const N: usize> = [Option<Attr<'a>>; N];

pub(crate) fn collect<'a, const N: usize>(it: AttrIter<'a>) -> Result<Option<Attrs<'a, N>>, DecodeError> {
    let mut out: Attrs<'a, N> = [None; N];
    for a in it {
        let a = a?;
        let k = a.kind() as usize;
        if k == 0 || k >= N || out[k].is_some() {
            return Ok(None);
        }
        out[k] = Some(a);
    }
    Ok(Some(out))
}

/// Decode an optional attribute with `f`.
pub(crate) fn opt<'a, T>(
    a: &Option<Attr<'a>>,
    f: impl FnOnce(&Attr<'a>) -> Result<T, DecodeError>,
) -> Result<Option<T>, DecodeError> {
    a.as_ref().map(f).transpose()
}

/// Decode a required attribute with `f`.
pub(crate) fn req<'a, T>(
    a: &Option<Attr<'a>>,
    what: &'static str,
    f: impl FnOnce(&Attr<'a>) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    match a {
        Some(a) => f(a),
        None => Err(DecodeError::new(what, "missing attribute")),
    }
}

macro_rules! exprs {
    ($($variant:ident($ty:ident) = $name:literal,)*) => {
        /// One expression of a rule.
        #[derive(Clone, Debug, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum Expr {
            $(
                #[doc = concat!("The `", $name, "` expression.")]
                $variant($ty),
            )*
            /// An expression netplumb does not model, kept byte for byte.
            Unknown(Unknown),
        }

        $(
            impl From<$ty> for Expr {
                fn from(e: $ty) -> Expr {
                    Expr::$variant(e)
                }
            }
        )*

        impl Expr {
            /// The kernel's name for this expression (`"payload"`, ...).
            pub fn name(&self) -> &str {
                match self {
                    $(Expr::$variant(_) => $name,)*
                    Expr::Unknown(u) => &u.name,
                }
            }

            /// Encode as one `NFTA_LIST_ELEM` of a rule's expression list.
            pub fn encode(&self, w: &mut AttrWriter<'_>) {
                if let Expr::Unknown(u) = self {
                    return u.encode(w);
                }
                w.nest(NFTA_LIST_ELEM | NLA_F_NESTED, |w| {
                    w.str(NFTA_EXPR_NAME, self.name());
                    // notrack has no attributes: neither nft nor the kernel
                    // writes an empty data nest for it.
                    if matches!(self, Expr::Notrack(_)) {
                        return;
                    }
                    w.nest(NFTA_EXPR_DATA | NLA_F_NESTED, |w| match self {
                        $(Expr::$variant(e) => e.encode(w),)*
                        Expr::Unknown(_) => unreachable!("handled above"),
                    });
                });
            }

            /// Decode one `NFTA_LIST_ELEM`.
            pub fn decode(elem: &Attr<'_>) -> Result<Expr, DecodeError> {
                let mut name = None;
                let mut data = None;
                for a in elem.nested() {
                    let a = a?;
                    match a.kind() {
                        NFTA_EXPR_NAME => name = Some(a.str()?),
                        NFTA_EXPR_DATA => data = Some(a),
                        _ => return Ok(Expr::Unknown(Unknown::from_elem(elem)?)),
                    }
                }
                let name = name.ok_or_else(|| DecodeError::new("expression", "no name"))?;
                let inner = data.map(|d| d.nested()).unwrap_or_else(|| AttrIter::new(&[]));
                                // A known expression whose attributes do not parse as
                // expected is kept opaque rather than failing the listing.
                let known: Option<Expr> = match name {
                    $($name => $ty::decode(inner).ok().flatten().map(Expr::$variant),)*
                    _ => None,
                };
                match known {
                    Some(e) => Ok(e),
                    None => Ok(Expr::Unknown(Unknown::from_elem(elem)?)),
                }
            }
        }
    };
}

exprs! {
    Payload(Payload) = "payload",
    Meta(Meta) = "meta",
    Cmp(Cmp) = "cmp",
    Bitwise(Bitwise) = "bitwise",
    Immediate(Immediate) = "immediate",
    Lookup(Lookup) = "lookup",
    Range(Range) = "range",
    Ct(Ct) = "ct",
    Nat(Nat) = "nat",
    Masq(Masq) = "masq",
    Redir(Redir) = "redir",
    Counter(Counter) = "counter",
    Numgen(Numgen) = "numgen",
    Hash(Hash) = "hash",
    Dynset(Dynset) = "dynset",
    Objref(Objref) = "objref",
    Reject(Reject) = "reject",
    Limit(Limit) = "limit",
    Log(Log) = "log",
    Fib(Fib) = "fib",
    Notrack(Notrack) = "notrack",
    Quota(Quota) = "quota",
    Byteorder(Byteorder) = "byteorder",
    Exthdr(Exthdr) = "exthdr",
    Connlimit(Connlimit) = "connlimit",
    Rt(Rt) = "rt",
    Socket(Socket) = "socket",
    Synproxy(Synproxy) = "synproxy",
    Tproxy(Tproxy) = "tproxy",
    Dup(Dup) = "dup",
    Fwd(Fwd) = "fwd",
    Queue(Queue) = "queue",
    Xfrm(Xfrm) = "xfrm",
    Osf(Osf) = "osf",
}

/// Encode a list of expressions as `NFTA_RULE_EXPRESSIONS` (or any list
/// attribute of type `ty`).
pub fn encode_list(w: &mut AttrWriter<'_>, ty: u16, exprs: &[Expr]) {
    w.nest(ty | NLA_F_NESTED, |w| {
        for e in exprs {
            e.encode(w);
        }
    });
}

/// Decode an expression list attribute.
pub fn decode_list(a: &Attr<'_>) -> Result<Vec<Expr>, DecodeError> {
    let mut out = Vec::new();
    for e in a.nested() {
        let e = e?;
        if e.kind() == NFTA_LIST_ELEM {
            out.push(Expr::decode(&e)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
