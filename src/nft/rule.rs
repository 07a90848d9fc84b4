//! Rules: an ordered list of expressions in a chain.

use super::consts::*;
use super::expr::{decode_list, Expr};
use super::types::{check_name, comment_udata, msg_family, udata_comment, Family};
use crate::error::{DecodeError, Result};
use crate::wire::{attrs_after, Msg};

/// A rule. Build one with [`crate::nft::RuleBuilder`] or from expressions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Family of its table.
    pub family: Family,
    /// Its table.
    pub table: String,
    /// Its chain.
    pub chain: String,
    /// The expressions.
    pub exprs: Vec<Expr>,
    /// `comment "..."`, stored as `nft` stores it (a userdata TLV).
    pub comment: Option<String>,
    /// Kernel handle (listing; or the rule to replace).
    pub handle: Option<u64>,
    /// Handle of the rule before it (listing).
    pub position: Option<u64>,
    /// Userdata netplumb does not interpret, kept as received.
    pub userdata: Option<Vec<u8>>,
    /// Anonymous sets the rule's lookups use (`{ 0 : goto a, ... }`),
    /// created in the same transaction as the rule.
    pub anon_sets: Vec<super::set::AnonSet>,
}

impl Rule {
    /// A rule with `exprs` for `table`/`chain`.
    pub fn new(family: Family, table: impl Into<String>, chain: impl Into<String>, exprs: Vec<Expr>) -> Rule {
        Rule {
            family,
            table: table.into(),
            chain: chain.into(),
            exprs,
            comment: None,
            handle: None,
            position: None,
            userdata: None,
            anon_sets: Vec::new(),
        }
    }

    /// With a comment.
    pub fn comment(mut self, c: impl Into<String>) -> Rule {
        self.comment = Some(c.into());
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        check_name("table name", &self.table)?;
        check_name("chain name", &self.chain)
    }

    pub(crate) fn userdata_bytes(&self) -> Option<Vec<u8>> {
        if let Some(u) = &self.userdata {
            return Some(u.clone());
        }
        let c = self.comment.as_ref()?;
        let mut v = Vec::new();
        udata_comment(&mut v, UDATA_RULE_COMMENT, c);
        Some(v)
    }

    /// Decode an `NFT_MSG_NEWRULE` message.
    pub fn decode(m: &Msg<'_>) -> Result<Rule, DecodeError> {
        let family = msg_family(m.payload)?.ok_or_else(|| DecodeError::new("rule", "unknown family"))?;
        let mut r = Rule::new(family, "", "", Vec::new());
        for a in attrs_after(m.payload, 4) {
            let a = a?;
            match a.kind() {
                NFTA_RULE_TABLE => r.table = a.str()?.to_string(),
                NFTA_RULE_CHAIN => r.chain = a.str()?.to_string(),
                NFTA_RULE_HANDLE => r.handle = Some(a.u64_be()?),
                NFTA_RULE_POSITION => r.position = Some(a.u64_be()?),
                NFTA_RULE_EXPRESSIONS => r.exprs = decode_list(&a)?,
                NFTA_RULE_USERDATA => {
                    let (c, raw) = comment_udata(a.payload, UDATA_RULE_COMMENT);
                    r.comment = c;
                    r.userdata = raw;
                }
                _ => {}
            }
        }
        Ok(r)
    }
}
