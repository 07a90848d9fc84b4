//! Tables: the top-level containers of chains, sets and objects.

use super::consts::*;
use super::types::{check_name, comment_udata, msg_family, udata_comment, Family};
use crate::error::{DecodeError, Result};
use crate::wire::{attrs_after, AttrWriter, Msg};

bitflags::bitflags! {
    /// `NFT_TABLE_F_*`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct TableFlags: u32 {
        /// `flags dormant`: the table's base chains are not attached.
        const DORMANT = 1;
        /// `flags owner`: the table belongs to the socket that created it
        /// and disappears with it.
        const OWNER = 2;
        /// `flags persist` (with owner: survives its owner, kernel ≥ 6.9).
        const PERSIST = 4;
        const _ = !0;
    }
}

/// A table (`table ip kube-proxy { ... }`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// Family.
    pub family: Family,
    /// Name.
    pub name: String,
    /// Flags.
    pub flags: TableFlags,
    /// `comment "..."`.
    pub comment: Option<String>,
    /// Kernel handle (listing only).
    pub handle: Option<u64>,
    /// Number of chains, sets and objects using it (listing only).
    pub use_count: Option<u32>,
    /// Port id of the owner (`flags owner`, listing only).
    pub owner: Option<u32>,
    /// Userdata netplumb does not interpret, kept as received.
    pub userdata: Option<Vec<u8>>,
}

impl Table {
    /// A table named `name` in `family`.
    pub fn new(family: Family, name: impl Into<String>) -> Table {
        Table {
            family,
            name: name.into(),
            flags: TableFlags::empty(),
            comment: None,
            handle: None,
            use_count: None,
            owner: None,
            userdata: None,
        }
    }

    /// With a comment.
    pub fn comment(mut self, c: impl Into<String>) -> Table {
        self.comment = Some(c.into());
        self
    }

    /// With flags.
    pub fn flags(mut self, f: TableFlags) -> Table {
        self.flags = f;
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        check_name("table name", &self.name)
    }

    /// Payload of `NFT_MSG_NEWTABLE` (what `nft add table` sends).
    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        super::types::nfgen(w, self.family.code());
        w.str(NFTA_TABLE_NAME, &self.name);
        w.u32_be(NFTA_TABLE_FLAGS, self.flags.bits());
        if let Some(u) = self.userdata_bytes() {
            w.bytes(NFTA_TABLE_USERDATA, &u);
        }
    }

    fn userdata_bytes(&self) -> Option<Vec<u8>> {
        if let Some(u) = &self.userdata {
            return Some(u.clone());
        }
        let c = self.comment.as_ref()?;
        let mut v = Vec::new();
        udata_comment(&mut v, UDATA_TABLE_COMMENT, c);
        Some(v)
    }

    /// Decode an `NFT_MSG_NEWTABLE` message.
    pub fn decode(m: &Msg<'_>) -> Result<Table, DecodeError> {
        let family = msg_family(m.payload)?.ok_or_else(|| DecodeError::new("table", "unknown family"))?;
        let mut t = Table::new(family, "");
        for a in attrs_after(m.payload, 4) {
            let a = a?;
            match a.kind() {
                NFTA_TABLE_NAME => t.name = a.str()?.to_string(),
                NFTA_TABLE_FLAGS => t.flags = TableFlags::from_bits_retain(a.u32_be()?),
                NFTA_TABLE_HANDLE => t.handle = Some(a.u64_be()?),
                NFTA_TABLE_USE => t.use_count = Some(a.u32_be()?),
                NFTA_TABLE_OWNER => t.owner = Some(a.u32_be()?),
                NFTA_TABLE_USERDATA => {
                    let (c, raw) = comment_udata(a.payload, UDATA_TABLE_COMMENT);
                    t.comment = c;
                    t.userdata = raw;
                }
                _ => {}
            }
        }
        Ok(t)
    }
}

/// Write the identifying attributes of a table (for delete/flush).
pub(crate) fn encode_ref(w: &mut AttrWriter<'_>, family: Family, name: &str) {
    super::types::nfgen(w, family.code());
    w.str(NFTA_TABLE_NAME, name);
}
