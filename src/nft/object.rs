//! Named (stateful) objects: counters, quotas, limits, ct helpers and
//! timeouts.

use super::consts::*;
use super::expr::{Counter, CtExpect, Limit, Quota};
use super::types::{check_name, comment_udata, msg_family, udata_comment, Family};
use crate::error::{DecodeError, Result};
use crate::wire::{attrs_after, AttrIter, AttrWriter, Msg, NLA_F_NESTED};

/// What a named object is.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ObjectKind {
    /// `counter NAME { packets P bytes B }`.
    Counter(Counter),
    /// `quota NAME { [over] N bytes }`.
    Quota(Quota),
    /// `limit NAME { rate ... }`.
    Limit(Limit),
    /// `ct helper NAME { type "ftp" protocol tcp; l3proto ip; }`.
    CtHelper {
        /// Helper name (`"ftp"`).
        name: String,
        /// `NFPROTO_*` (2 ip, 10 ip6, 1 inet).
        l3proto: u16,
        /// IP protocol (6 tcp, 17 udp).
        l4proto: u8,
    },
    /// `ct timeout NAME { protocol tcp; l3proto ip; policy = { ... } }`.
    CtTimeout {
        /// `NFPROTO_*`.
        l3proto: u16,
        /// IP protocol.
        l4proto: u8,
        /// Timeouts in seconds, indexed by the protocol's state number.
        policy: Vec<(u16, u32)>,
    },
    /// `ct expectation NAME { protocol tcp; dport 1234; timeout 2m; size
    /// 12; l3proto ip; }`.
    CtExpect(CtExpect),
    /// Another object type, its data kept as received.
    Other {
        /// `NFT_OBJECT_*`.
        kind: u32,
        /// Payload of `NFTA_OBJ_DATA`.
        raw: Vec<u8>,
    },
}

impl ObjectKind {
    /// `NFT_OBJECT_*`.
    pub fn code(&self) -> u32 {
        match self {
            ObjectKind::Counter(_) => NFT_OBJECT_COUNTER,
            ObjectKind::Quota(_) => NFT_OBJECT_QUOTA,
            ObjectKind::Limit(_) => NFT_OBJECT_LIMIT,
            ObjectKind::CtHelper { .. } => NFT_OBJECT_CT_HELPER,
            ObjectKind::CtTimeout { .. } => NFT_OBJECT_CT_TIMEOUT,
            ObjectKind::CtExpect(_) => NFT_OBJECT_CT_EXPECT,
            ObjectKind::Other { kind, .. } => *kind,
        }
    }
}

/// A named object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    /// Family of its table.
    pub family: Family,
    /// Its table.
    pub table: String,
    /// Name.
    pub name: String,
    /// What it is.
    pub kind: ObjectKind,
    /// `comment "..."`.
    pub comment: Option<String>,
    /// Kernel handle (listing only).
    pub handle: Option<u64>,
}

impl Object {
    /// A named object.
    pub fn new(
        family: Family,
        table: impl Into<String>,
        name: impl Into<String>,
        kind: ObjectKind,
    ) -> Object {
        Object { family, table: table.into(), name: name.into(), kind, comment: None, handle: None }
    }

    /// With a comment.
    pub fn comment(mut self, c: impl Into<String>) -> Object {
        self.comment = Some(c.into());
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        check_name("table name", &self.table)?;
        check_name("object name", &self.name)
    }

    /// Payload of `NFT_MSG_NEWOBJ`.
    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        super::types::nfgen(w, self.family.code());
        w.str(NFTA_OBJ_TABLE, &self.table);
        w.str(NFTA_OBJ_NAME, &self.name);
        w.u32_be(NFTA_OBJ_TYPE, self.kind.code());
        match &self.kind {
            // As received, to the byte: the nest's length is the data's,
            // padding outside it.
            ObjectKind::Other { raw, .. } => {
                w.bytes(NFTA_OBJ_DATA | NLA_F_NESTED, raw);
            }
            kind => w.nest(NFTA_OBJ_DATA | NLA_F_NESTED, |w| match kind {
                ObjectKind::Counter(c) => c.encode(w),
                ObjectKind::Quota(q) => q.encode(w),
                ObjectKind::Limit(l) => l.encode(w),
                ObjectKind::CtHelper { name, l3proto, l4proto } => {
                    w.str(1, name);
                    w.u16_be(2, *l3proto);
                    w.u8(3, *l4proto);
                }
                ObjectKind::CtTimeout { l3proto, l4proto, policy } => {
                    w.u16_be(1, *l3proto);
                    w.u8(2, *l4proto);
                    w.nest(3 | NLA_F_NESTED, |w| {
                        for (k, v) in policy {
                            w.u32_be(*k, *v);
                        }
                    });
                }
                ObjectKind::CtExpect(e) => e.encode(w),
                ObjectKind::Other { .. } => unreachable!("written above"),
            }),
        }
        if let Some(c) = &self.comment {
            let mut u = Vec::new();
            udata_comment(&mut u, UDATA_OBJ_COMMENT, c);
            w.bytes(NFTA_OBJ_USERDATA, &u);
        }
    }

    /// Decode an `NFT_MSG_NEWOBJ` message.
    pub fn decode(m: &Msg<'_>) -> Result<Object, DecodeError> {
        let family = msg_family(m.payload)?.ok_or_else(|| DecodeError::new("object", "unknown family"))?;
        let mut o = Object::new(family, "", "", ObjectKind::Other { kind: 0, raw: Vec::new() });
        let mut kind = 0;
        let mut data: &[u8] = &[];
        for a in attrs_after(m.payload, 4) {
            let a = a?;
            match a.kind() {
                NFTA_OBJ_TABLE => o.table = a.str()?.to_string(),
                NFTA_OBJ_NAME => o.name = a.str()?.to_string(),
                NFTA_OBJ_TYPE => kind = a.u32_be()?,
                NFTA_OBJ_DATA => data = a.payload,
                NFTA_OBJ_HANDLE => o.handle = Some(a.u64_be()?),
                NFTA_OBJ_USERDATA => o.comment = comment_udata(a.payload, UDATA_OBJ_COMMENT).0,
                _ => {}
            }
        }
        let it = AttrIter::new(data);
        let other = || ObjectKind::Other { kind, raw: data.to_vec() };
        o.kind = match kind {
            NFT_OBJECT_COUNTER => Counter::decode(it)?.map(ObjectKind::Counter).unwrap_or_else(other),
            NFT_OBJECT_QUOTA => Quota::decode(it)?.map(ObjectKind::Quota).unwrap_or_else(other),
            NFT_OBJECT_LIMIT => Limit::decode(it)?.map(ObjectKind::Limit).unwrap_or_else(other),
            NFT_OBJECT_CT_HELPER => {
                let (mut name, mut l3, mut l4) = (String::new(), 0, 0);
                for a in it {
                    let a = a?;
                    match a.kind() {
                        1 => name = a.str()?.to_string(),
                        2 => l3 = a.u16_be()?,
                        3 => l4 = a.u8()?,
                        _ => {}
                    }
                }
                ObjectKind::CtHelper { name, l3proto: l3, l4proto: l4 }
            }
            NFT_OBJECT_CT_TIMEOUT => {
                let (mut l3, mut l4, mut policy) = (0, 0, Vec::new());
                for a in it {
                    let a = a?;
                    match a.kind() {
                        1 => l3 = a.u16_be()?,
                        2 => l4 = a.u8()?,
                        3 => {
                            for p in a.nested() {
                                let p = p?;
                                policy.push((p.kind(), p.u32_be()?));
                            }
                        }
                        _ => {}
                    }
                }
                ObjectKind::CtTimeout { l3proto: l3, l4proto: l4, policy }
            }
            NFT_OBJECT_CT_EXPECT => CtExpect::decode(it)?.map(ObjectKind::CtExpect).unwrap_or_else(other),
            _ => other(),
        };
        Ok(o)
    }
}

/// The type of a named object, to name one to delete
/// ([`crate::nft::Transaction::delete_object`]): `counter`, `quota`, ...
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ObjectType {
    /// `counter`.
    Counter,
    /// `quota`.
    Quota,
    /// `limit`.
    Limit,
    /// `ct helper`.
    CtHelper,
    /// `ct timeout`.
    CtTimeout,
    /// `ct expectation`.
    CtExpect,
    /// Another type, by its `NFT_OBJECT_*` code.
    Other(u32),
}

impl ObjectType {
    /// `NFT_OBJECT_*`.
    pub fn code(self) -> u32 {
        match self {
            ObjectType::Counter => NFT_OBJECT_COUNTER,
            ObjectType::Quota => NFT_OBJECT_QUOTA,
            ObjectType::Limit => NFT_OBJECT_LIMIT,
            ObjectType::CtHelper => NFT_OBJECT_CT_HELPER,
            ObjectType::CtTimeout => NFT_OBJECT_CT_TIMEOUT,
            ObjectType::CtExpect => NFT_OBJECT_CT_EXPECT,
            ObjectType::Other(c) => c,
        }
    }
}

impl ObjectKind {
    /// The type of this object, to name it in a delete.
    pub fn object_type(&self) -> ObjectType {
        match self {
            ObjectKind::Counter(_) => ObjectType::Counter,
            ObjectKind::Quota(_) => ObjectType::Quota,
            ObjectKind::Limit(_) => ObjectType::Limit,
            ObjectKind::CtHelper { .. } => ObjectType::CtHelper,
            ObjectKind::CtTimeout { .. } => ObjectType::CtTimeout,
            ObjectKind::CtExpect(_) => ObjectType::CtExpect,
            ObjectKind::Other { kind, .. } => ObjectType::Other(*kind),
        }
    }
}
