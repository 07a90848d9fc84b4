//! Atomic transactions: one nfnetlink batch, applied all or nothing.

use std::collections::HashMap;

use super::chain::Chain;
use super::consts::*;
use super::expr::Expr;
use super::object::Object;
use super::rule::Rule;
use super::set::{encode_elements, group_elements, Element, Set};
use super::table::Table;
use super::types::{nfgen, Family};
use crate::conn::Batch;
use crate::error::{Error, Result};
use crate::wire::{NLM_F_APPEND, NLM_F_CREATE, NLM_F_ECHO, NLM_F_EXCL, NLM_F_REPLACE};

/// Identifies one operation of a [`Transaction`], to ask for the handle
/// the kernel assigned ([`Committed::handle`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(pub usize);

/// One atomic batch of changes, across any tables.
///
/// Build it with the methods below (each names its `nft` equivalent), then
/// apply it with [`crate::nft::Nft::commit`]: the kernel applies every
/// operation or none. Operations are encoded as they are added, so a
/// transaction is cheap to build even with 100,000 set elements.
#[derive(Clone, Debug, Default)]
pub struct Transaction {
    pub(crate) batch: Batch,
    /// Message index in `batch` -> operation index.
    pub(crate) msg_op: Vec<u32>,
    /// Description of each operation.
    pub(crate) ops: Vec<String>,
    /// Operations whose echo carries a rule handle.
    pub(crate) rule_ops: Vec<bool>,
    pub(crate) genid: Option<u32>,
    next_set_id: u32,
    /// Sets created in this transaction, by (family, table, name): nft
    /// refers to them by id as well as by name.
    set_ids: HashMap<(Family, String, String), u32>,
    kernel_anon_names: bool,
    no_echo: bool,
}

fn obj_path(family: Family, table: &str, name: &str) -> String {
    format!("{family} {table}/{name}")
}

impl Transaction {
    /// An empty transaction.
    pub fn new() -> Transaction {
        Transaction::default()
    }

    /// Fail the whole transaction with `ERESTART` if the ruleset's
    /// generation is no longer `genid` (read it with
    /// [`crate::nft::Nft::generation`] before reading the ruleset):
    /// optimistic concurrency against other writers. Sent as
    /// `NFNL_BATCH_GENID` in the batch header.
    pub fn guard_generation(&mut self, genid: u32) -> &mut Self {
        self.genid = Some(genid);
        self
    }

    /// Let the kernel number anonymous sets (`__map%d` becomes `__map0`,
    /// `__map1`, ...), exactly as `nft` does. By default netplumb names
    /// each one itself (`__map` and a unique suffix): the kernel's
    /// numbering scans every set of the table, which makes adding a rule
    /// with `vmap { ... }` to a table holding 10,000 of them cost ~10 ms
    /// instead of ~0.1 ms. Listings and `nft list` are the same either way.
    pub fn kernel_anon_names(&mut self) -> &mut Self {
        self.kernel_anon_names = true;
        self
    }

    /// Do not ask the kernel to echo the rules added from now on (their
    /// handles are then not returned); this is what `nft -f` does. Each
    /// echo is a message the kernel builds and netplumb decodes: worth
    /// leaving out for rules whose handle is never needed.
    pub fn without_echo(&mut self) -> &mut Self {
        self.no_echo = true;
        self
    }

    /// Ask again for the echo (and so the handle) of the rules added from
    /// now on, after [`Transaction::without_echo`]. The default.
    pub fn with_echo(&mut self) -> &mut Self {
        self.no_echo = false;
        self
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether there are no operations.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Number of netlink messages (a large element list takes several).
    pub fn message_count(&self) -> usize {
        self.batch.len()
    }

    /// Encoded size in bytes.
    pub fn byte_len(&self) -> usize {
        self.batch.byte_len()
    }

    /// The description of operation `op`, as errors name it.
    pub fn describe(&self, op: OpId) -> Option<&str> {
        self.ops.get(op.0).map(String::as_str)
    }

    /// The encoded messages (without the batch begin/end), e.g. to compare
    /// with what `nft --debug=netlink` sends.
    pub fn messages(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.batch.len()).map(|i| self.batch.message(i))
    }

    fn op(&mut self, desc: String, is_rule: bool) -> OpId {
        self.ops.push(desc);
        self.rule_ops.push(is_rule);
        OpId(self.ops.len() - 1)
    }

    fn push(&mut self, op: OpId, m: u8, flags: u16, f: impl FnOnce(&mut crate::wire::AttrWriter<'_>)) {
        self.batch.push(msg(m), flags, f);
        self.msg_op.push(op.0 as u32);
    }

    // ----- tables -----

    /// `nft add table FAMILY NAME { flags ...; comment "..."; }`: create, or
    /// update the flags of an existing table.
    #[doc(alias = "NFT_MSG_NEWTABLE")]
    pub fn add_table(&mut self, t: &Table) -> Result<OpId> {
        t.validate()?;
        let op = self.op(format!("add table {} {}", t.family, t.name), false);
        self.push(op, NFT_MSG_NEWTABLE, 0, |w| t.encode(w));
        Ok(op)
    }

    /// `nft create table ...`: fails with `EEXIST` if it exists.
    #[doc(alias = "NFT_MSG_NEWTABLE")]
    pub fn create_table(&mut self, t: &Table) -> Result<OpId> {
        t.validate()?;
        let op = self.op(format!("create table {} {}", t.family, t.name), false);
        self.push(op, NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL, |w| t.encode(w));
        Ok(op)
    }

    /// `nft delete table FAMILY NAME` (with everything in it; `ENOENT` if
    /// absent).
    #[doc(alias = "NFT_MSG_DELTABLE")]
    pub fn delete_table(&mut self, family: Family, name: &str) -> OpId {
        let op = self.op(format!("delete table {family} {name}"), false);
        self.push(op, NFT_MSG_DELTABLE, 0, |w| super::table::encode_ref(w, family, name));
        op
    }

    /// `nft destroy table FAMILY NAME`: delete if it exists (kernel ≥ 6.3; emulated before: [`crate::nft::Nft::commit`]).
    #[doc(alias = "NFT_MSG_DESTROYTABLE")]
    pub fn destroy_table(&mut self, family: Family, name: &str) -> OpId {
        let op = self.op(format!("destroy table {family} {name}"), false);
        self.push(op, NFT_MSG_DESTROYTABLE, 0, |w| super::table::encode_ref(w, family, name));
        op
    }

    /// `nft flush table FAMILY NAME`: delete every rule of every chain.
    #[doc(alias = "NFT_MSG_DELRULE")]
    pub fn flush_table(&mut self, family: Family, name: &str) -> OpId {
        let op = self.op(format!("flush table {family} {name}"), false);
        self.push(op, NFT_MSG_DELRULE, 0, |w| {
            nfgen(w, family.code());
            w.str(NFTA_RULE_TABLE, name);
        });
        op
    }

    /// `nft flush ruleset`: delete every table of every family.
    #[doc(alias = "NFT_MSG_DELTABLE")]
    pub fn flush_ruleset(&mut self) -> OpId {
        let op = self.op("flush ruleset".into(), false);
        self.push(op, NFT_MSG_DELTABLE, 0, |w| nfgen(w, 0));
        op
    }

    // ----- chains -----

    /// `nft add chain FAMILY TABLE NAME { type ... hook ... priority ...;
    /// policy ...; }`: create, or update the policy of an existing chain.
    #[doc(alias = "NFT_MSG_NEWCHAIN")]
    pub fn add_chain(&mut self, c: &Chain) -> Result<OpId> {
        c.validate()?;
        let op = self.op(format!("add chain {}", obj_path(c.family, &c.table, &c.name)), false);
        self.push(op, NFT_MSG_NEWCHAIN, NLM_F_CREATE, |w| c.encode(w));
        Ok(op)
    }

    /// `nft create chain ...`: fails with `EEXIST` if it exists.
    #[doc(alias = "NFT_MSG_NEWCHAIN")]
    pub fn create_chain(&mut self, c: &Chain) -> Result<OpId> {
        c.validate()?;
        let op = self.op(format!("create chain {}", obj_path(c.family, &c.table, &c.name)), false);
        self.push(op, NFT_MSG_NEWCHAIN, NLM_F_CREATE | NLM_F_EXCL, |w| c.encode(w));
        Ok(op)
    }

    /// `nft delete chain FAMILY TABLE NAME` (`EBUSY` if it has rules or is
    /// jumped to; flush it first in the same transaction).
    #[doc(alias = "NFT_MSG_DELCHAIN")]
    pub fn delete_chain(&mut self, family: Family, table: &str, name: &str) -> OpId {
        let op = self.op(format!("delete chain {}", obj_path(family, table, name)), false);
        self.push(op, NFT_MSG_DELCHAIN, 0, |w| super::chain::encode_ref(w, family, table, name));
        op
    }

    /// `nft destroy chain ...`: delete if it exists (kernel ≥ 6.3; emulated before: [`crate::nft::Nft::commit`]).
    #[doc(alias = "NFT_MSG_DESTROYCHAIN")]
    pub fn destroy_chain(&mut self, family: Family, table: &str, name: &str) -> OpId {
        let op = self.op(format!("destroy chain {}", obj_path(family, table, name)), false);
        self.push(op, NFT_MSG_DESTROYCHAIN, 0, |w| super::chain::encode_ref(w, family, table, name));
        op
    }

    /// `nft flush chain FAMILY TABLE NAME`: delete its rules.
    #[doc(alias = "NFT_MSG_DELRULE")]
    pub fn flush_chain(&mut self, family: Family, table: &str, name: &str) -> OpId {
        let op = self.op(format!("flush chain {}", obj_path(family, table, name)), false);
        self.push(op, NFT_MSG_DELRULE, 0, |w| {
            nfgen(w, family.code());
            w.str(NFTA_RULE_TABLE, table);
            w.str(NFTA_RULE_CHAIN, name);
        });
        op
    }

    // ----- rules -----

    fn rule_op(
        &mut self,
        verb: &str,
        r: &Rule,
        flags: u16,
        handle: Option<u64>,
        position: Option<u64>,
    ) -> Result<OpId> {
        r.validate()?;
        let prep = match verb {
            "insert" => "into",
            "replace" => "in",
            _ => "to",
        };
        let mut desc = format!("{verb} rule {prep} {} {}/{}", r.family, r.table, r.chain);
        if let Some(h) = handle.or(position) {
            let _ = std::fmt::Write::write_fmt(
                &mut desc,
                format_args!(" {} {h}", if handle.is_some() { "handle" } else { "position" }),
            );
        }
        let op = self.op(desc, true);
        let exprs = self.add_anon_sets(op, r)?;
        let echo = if self.no_echo { 0 } else { NLM_F_ECHO };
        let fam = r.family.code();
        let ud = r.userdata_bytes();
        self.push(op, NFT_MSG_NEWRULE, flags | echo, |w| {
            nfgen(w, fam);
            w.str(NFTA_RULE_TABLE, &r.table);
            w.str(NFTA_RULE_CHAIN, &r.chain);
            if let Some(h) = handle {
                w.u64_be(NFTA_RULE_HANDLE, h);
            }
            if let Some(p) = position {
                w.u64_be(NFTA_RULE_POSITION, p);
            }
            super::expr::encode_list(w, NFTA_RULE_EXPRESSIONS, exprs.as_deref().unwrap_or(&r.exprs));
            if let Some(u) = ud {
                w.bytes(NFTA_RULE_USERDATA, &u);
            }
        });
        Ok(op)
    }

    /// Create the rule's anonymous sets (as `nft` does: a set with an id,
    /// its elements, then the rule referring to the id) and return the
    /// expressions with set ids resolved.
    fn add_anon_sets(&mut self, op: OpId, r: &Rule) -> Result<Option<Vec<Expr>>> {
        if r.anon_sets.is_empty() {
            return Ok(self.named_set_ids(r));
        }
        let mut ids = Vec::new();
        for a in &r.anon_sets {
            self.next_set_id += 1;
            let id = self.next_set_id;
            let mut s = a.set.clone();
            s.family = r.family;
            s.table = r.table.clone();
            if !self.kernel_anon_names && s.name.contains('%') {
                s.name = unique_anon_name(&s.name);
            }
            ids.push((id, s.name.clone()));
            s.validate()?;
            if s.size.is_none() {
                s.size = Some(a.elements.len() as u32);
            }
            self.push(op, NFT_MSG_NEWSET, NLM_F_CREATE, |w| s.encode(w, id));
            self.push_elements(op, &s, Some(id), &a.elements, NFT_MSG_NEWSETELEM, NLM_F_CREATE, false);
        }
        let fix = |name: &mut String, set_id: &mut Option<u32>| {
            if let Some(i) = set_id {
                if let Some((id, n)) = ids.get(*i as usize) {
                    *set_id = Some(*id);
                    *name = n.clone();
                }
            }
        };
        let mut exprs = r.exprs.clone();
        for e in &mut exprs {
            match e {
                Expr::Lookup(l) => fix(&mut l.set, &mut l.set_id),
                Expr::Dynset(d) => fix(&mut d.set, &mut d.set_id),
                Expr::Objref(super::expr::Objref::Map { set, set_id, .. }) => fix(set, set_id),
                _ => {}
            }
        }
        let mut tmp = r.clone();
        tmp.exprs = exprs;
        Ok(Some(self.named_set_ids(&tmp).unwrap_or(tmp.exprs)))
    }

    /// Expressions referring by name to sets created in this transaction
    /// also carry their id, as nft sends them.
    fn named_set_ids(&self, r: &Rule) -> Option<Vec<Expr>> {
        if self.set_ids.is_empty() {
            return None;
        }
        let id_of = |name: &str| self.set_ids.get(&(r.family, r.table.clone(), name.to_string())).copied();
        let mut exprs = r.exprs.clone();
        let mut changed = false;
        for e in &mut exprs {
            let (name, id) = match e {
                Expr::Lookup(l) => (&l.set, &mut l.set_id),
                Expr::Dynset(d) => (&d.set, &mut d.set_id),
                Expr::Objref(super::expr::Objref::Map { set, set_id, .. }) => (&*set, set_id),
                _ => continue,
            };
            if id.is_none() {
                if let Some(x) = id_of(name) {
                    *id = Some(x);
                    changed = true;
                }
            }
        }
        changed.then_some(exprs)
    }

    /// `nft add rule FAMILY TABLE CHAIN ...`: append at the end. The
    /// kernel's handle for it is in [`Committed::handle`].
    #[doc(alias = "NFT_MSG_NEWRULE")]
    pub fn add_rule(&mut self, r: &Rule) -> Result<OpId> {
        self.rule_op("add", r, NLM_F_CREATE | NLM_F_APPEND, None, None)
    }

    /// `nft add rule ... position HANDLE ...`: insert after rule `handle`.
    #[doc(alias = "NFT_MSG_NEWRULE")]
    pub fn add_rule_after(&mut self, r: &Rule, handle: u64) -> Result<OpId> {
        self.rule_op("add", r, NLM_F_CREATE | NLM_F_APPEND, None, Some(handle))
    }

    /// `nft insert rule FAMILY TABLE CHAIN ...`: insert at the beginning.
    #[doc(alias = "NFT_MSG_NEWRULE")]
    pub fn insert_rule(&mut self, r: &Rule) -> Result<OpId> {
        self.rule_op("insert", r, NLM_F_CREATE, None, None)
    }

    /// `nft insert rule ... position HANDLE ...`: insert before rule `handle`.
    #[doc(alias = "NFT_MSG_NEWRULE")]
    pub fn insert_rule_before(&mut self, r: &Rule, handle: u64) -> Result<OpId> {
        self.rule_op("insert", r, NLM_F_CREATE, None, Some(handle))
    }

    /// `nft replace rule FAMILY TABLE CHAIN handle HANDLE ...`.
    #[doc(alias = "NFT_MSG_NEWRULE")]
    pub fn replace_rule(&mut self, r: &Rule, handle: u64) -> Result<OpId> {
        self.rule_op("replace", r, NLM_F_REPLACE, Some(handle), None)
    }

    /// `nft delete rule FAMILY TABLE CHAIN handle HANDLE`.
    #[doc(alias = "NFT_MSG_DELRULE")]
    pub fn delete_rule(&mut self, family: Family, table: &str, chain: &str, handle: u64) -> OpId {
        let op = self.op(format!("delete rule from {family} {table}/{chain} handle {handle}"), false);
        self.push(op, NFT_MSG_DELRULE, 0, |w| {
            nfgen(w, family.code());
            w.str(NFTA_RULE_TABLE, table);
            w.str(NFTA_RULE_CHAIN, chain);
            w.u64_be(NFTA_RULE_HANDLE, handle);
        });
        op
    }

    /// `nft destroy rule ... handle HANDLE` (kernel ≥ 6.3; emulated before: [`crate::nft::Nft::commit`]).
    #[doc(alias = "NFT_MSG_DESTROYRULE")]
    pub fn destroy_rule(&mut self, family: Family, table: &str, chain: &str, handle: u64) -> OpId {
        let op = self.op(format!("destroy rule from {family} {table}/{chain} handle {handle}"), false);
        self.push(op, NFT_MSG_DESTROYRULE, 0, |w| {
            nfgen(w, family.code());
            w.str(NFTA_RULE_TABLE, table);
            w.str(NFTA_RULE_CHAIN, chain);
            w.u64_be(NFTA_RULE_HANDLE, handle);
        });
        op
    }

    // ----- sets -----

    /// `nft add set|map FAMILY TABLE NAME { type ...; flags ...; }`.
    #[doc(alias = "NFT_MSG_NEWSET")]
    pub fn add_set(&mut self, s: &Set) -> Result<OpId> {
        self.set_op("add", s, NLM_F_CREATE)
    }

    /// `nft create set|map ...`: fails with `EEXIST` if it exists.
    #[doc(alias = "NFT_MSG_NEWSET")]
    pub fn create_set(&mut self, s: &Set) -> Result<OpId> {
        self.set_op("create", s, NLM_F_CREATE | NLM_F_EXCL)
    }

    fn set_op(&mut self, verb: &str, s: &Set, flags: u16) -> Result<OpId> {
        s.validate()?;
        let kind = if s.data.is_some() { "map" } else { "set" };
        let op = self.op(format!("{verb} {kind} {}", obj_path(s.family, &s.table, &s.name)), false);
        self.next_set_id += 1;
        let id = self.next_set_id;
        self.set_ids.insert((s.family, s.table.clone(), s.name.clone()), id);
        self.push(op, NFT_MSG_NEWSET, flags, |w| s.encode(w, id));
        Ok(op)
    }

    fn set_ref(&mut self, m: u8, verb: &str, family: Family, table: &str, name: &str) -> OpId {
        let op = self.op(format!("{verb} set {}", obj_path(family, table, name)), false);
        self.push(op, m, 0, |w| {
            nfgen(w, family.code());
            w.str(NFTA_SET_TABLE, table);
            w.str(NFTA_SET_NAME, name);
        });
        op
    }

    /// `nft delete set|map FAMILY TABLE NAME`.
    #[doc(alias = "NFT_MSG_DELSET")]
    pub fn delete_set(&mut self, family: Family, table: &str, name: &str) -> OpId {
        self.set_ref(NFT_MSG_DELSET, "delete", family, table, name)
    }

    /// `nft destroy set|map ...` (kernel ≥ 6.3; emulated before: [`crate::nft::Nft::commit`]).
    #[doc(alias = "NFT_MSG_DESTROYSET")]
    pub fn destroy_set(&mut self, family: Family, table: &str, name: &str) -> OpId {
        self.set_ref(NFT_MSG_DESTROYSET, "destroy", family, table, name)
    }

    /// `nft flush set|map FAMILY TABLE NAME`: delete every element.
    #[doc(alias = "NFT_MSG_DELSETELEM")]
    pub fn flush_set(&mut self, family: Family, table: &str, name: &str) -> OpId {
        let op = self.op(format!("flush set {}", obj_path(family, table, name)), false);
        self.push(op, NFT_MSG_DELSETELEM, 0, |w| {
            nfgen(w, family.code());
            w.str(NFTA_SET_ELEM_LIST_TABLE, table);
            w.str(NFTA_SET_ELEM_LIST_SET, name);
        });
        op
    }

    #[allow(clippy::too_many_arguments)] // private helper with one caller per verb
    fn push_elements(
        &mut self,
        op: OpId,
        s: &Set,
        set_id: Option<u32>,
        elems: &[Element],
        m: u8,
        flags: u16,
        deleting: bool,
    ) {
        let set_id =
            set_id.or_else(|| self.set_ids.get(&(s.family, s.table.clone(), s.name.clone())).copied());
        let (mut buf, starts) = encode_elements(s, elems, deleting, set_id.is_some());
        let groups = group_elements(&mut buf, &starts);
        for (a, b) in groups {
            let chunk = &buf[a..b];
            self.push(op, m, flags, |w| {
                nfgen(w, s.family.code());
                w.str(NFTA_SET_ELEM_LIST_TABLE, &s.table);
                w.str(NFTA_SET_ELEM_LIST_SET, &s.name);
                if let Some(id) = set_id {
                    w.u32_be(NFTA_SET_ELEM_LIST_SET_ID, id);
                }
                w.nest(NFTA_SET_ELEM_LIST_ELEMENTS | crate::wire::NLA_F_NESTED, |w| {
                    w.raw(chunk);
                });
            });
        }
    }

    fn elem_op(&mut self, verb: &str, s: &Set, elems: &[Element], m: u8, flags: u16) -> Result<OpId> {
        s.validate()?;
        for (i, e) in elems.iter().enumerate() {
            let want = s.key_len as usize;
            if e.key.len() != want || e.key_end.as_ref().is_some_and(|k| k.len() != want) {
                return Err(Error::invalid(
                    format!("elements[{i}].key"),
                    format!("{} bytes, set {} has {want}-byte keys", e.key.len(), s.name),
                ));
            }
        }
        let n = elems.len();
        let op = self.op(
            format!(
                "{verb} {n} element{} {} set {}",
                if n == 1 { "" } else { "s" },
                if verb == "delete" || verb == "destroy" { "from" } else { "to" },
                obj_path(s.family, &s.table, &s.name)
            ),
            false,
        );
        let deleting = m != NFT_MSG_NEWSETELEM;
        self.push_elements(op, s, None, elems, m, flags, deleting);
        Ok(op)
    }

    /// `nft add element FAMILY TABLE SET { ... }`. Ranges in interval sets
    /// are expanded as the kernel expects. A large list is split across
    /// messages of the same batch.
    #[doc(alias = "NFT_MSG_NEWSETELEM")]
    pub fn add_elements(&mut self, s: &Set, elems: &[Element]) -> Result<OpId> {
        self.elem_op("add", s, elems, NFT_MSG_NEWSETELEM, NLM_F_CREATE)
    }

    /// `nft create element ...`: fails with `EEXIST` if one exists.
    #[doc(alias = "NFT_MSG_NEWSETELEM")]
    pub fn create_elements(&mut self, s: &Set, elems: &[Element]) -> Result<OpId> {
        self.elem_op("create", s, elems, NFT_MSG_NEWSETELEM, NLM_F_CREATE | NLM_F_EXCL)
    }

    /// `nft delete element FAMILY TABLE SET { ... }`.
    #[doc(alias = "NFT_MSG_DELSETELEM")]
    pub fn delete_elements(&mut self, s: &Set, elems: &[Element]) -> Result<OpId> {
        self.elem_op("delete", s, elems, NFT_MSG_DELSETELEM, 0)
    }

    /// `nft destroy element ...`: delete those that exist (kernel ≥ 6.3; emulated before: [`crate::nft::Nft::commit`]).
    #[doc(alias = "NFT_MSG_DESTROYSETELEM")]
    pub fn destroy_elements(&mut self, s: &Set, elems: &[Element]) -> Result<OpId> {
        self.elem_op("destroy", s, elems, NFT_MSG_DESTROYSETELEM, 0)
    }

    // ----- objects -----

    /// `nft add counter|quota|limit|ct helper ... FAMILY TABLE NAME { ... }`.
    #[doc(alias = "NFT_MSG_NEWOBJ")]
    pub fn add_object(&mut self, o: &Object) -> Result<OpId> {
        o.validate()?;
        let op = self.op(format!("add object {}", obj_path(o.family, &o.table, &o.name)), false);
        self.push(op, NFT_MSG_NEWOBJ, NLM_F_CREATE, |w| o.encode(w));
        Ok(op)
    }

    /// `nft create ...` for an object: fails with `EEXIST` if it exists.
    #[doc(alias = "NFT_MSG_NEWOBJ")]
    pub fn create_object(&mut self, o: &Object) -> Result<OpId> {
        o.validate()?;
        let op = self.op(format!("create object {}", obj_path(o.family, &o.table, &o.name)), false);
        self.push(op, NFT_MSG_NEWOBJ, NLM_F_CREATE | NLM_F_EXCL, |w| o.encode(w));
        Ok(op)
    }

    fn obj_ref(&mut self, m: u8, verb: &str, family: Family, table: &str, name: &str, kind: u32) -> OpId {
        let op = self.op(format!("{verb} object {}", obj_path(family, table, name)), false);
        self.push(op, m, 0, |w| {
            nfgen(w, family.code());
            w.str(NFTA_OBJ_TABLE, table);
            w.str(NFTA_OBJ_NAME, name);
            w.u32_be(NFTA_OBJ_TYPE, kind);
        });
        op
    }

    /// `nft delete counter|quota|... FAMILY TABLE NAME`; `kind` is
    /// `NFT_OBJECT_*` ([`crate::nft::ObjectKind::code`]).
    #[doc(alias = "NFT_MSG_DELOBJ")]
    pub fn delete_object(&mut self, family: Family, table: &str, name: &str, kind: u32) -> OpId {
        self.obj_ref(NFT_MSG_DELOBJ, "delete", family, table, name, kind)
    }

    /// `nft destroy ...` for an object (kernel ≥ 6.3; emulated before: [`crate::nft::Nft::commit`]).
    #[doc(alias = "NFT_MSG_DESTROYOBJ")]
    pub fn destroy_object(&mut self, family: Family, table: &str, name: &str, kind: u32) -> OpId {
        self.obj_ref(NFT_MSG_DESTROYOBJ, "destroy", family, table, name, kind)
    }
}

/// What a committed transaction returned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Committed {
    /// The ruleset generation after the transaction.
    pub generation: u32,
    /// Handles the kernel assigned to new rules, by operation.
    pub handles: HashMap<OpId, u64>,
}

impl Committed {
    /// The handle of the rule added by `op`.
    pub fn handle(&self, op: OpId) -> Option<u64> {
        self.handles.get(&op).copied()
    }
}

/// A name for an anonymous set that no other set in the table has:
/// `__map` or `__set`, then a per-process counter and a per-process random
/// part (the kernel's own anonymous names are `__map` + a number).
fn unique_anon_name(template: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static SALT: OnceLock<u64> = OnceLock::new();
    let salt = *SALT.get_or_init(|| {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        (t.as_nanos() as u64) ^ ((std::process::id() as u64) << 32)
    });
    let prefix = template.split('%').next().unwrap_or("__set");
    format!("{prefix}np{salt:x}.{}", NEXT.fetch_add(1, Ordering::Relaxed))
}
