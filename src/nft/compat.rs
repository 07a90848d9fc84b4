//! `destroy` on kernels before Linux 6.3.
//!
//! `NFT_MSG_DESTROY*` ("delete if it exists") arrived in Linux 6.3; older
//! kernels refuse the whole batch with `EINVAL`. When a transaction holds
//! destroy operations, [`Nft::commit`] asks the kernel once per process
//! whether it has them (a probe batch that the kernel always rolls back),
//! and on older kernels commits an equivalent transaction instead:
//!
//! 1. read the ruleset generation;
//! 2. list what the destroy operations name (tables, chains, sets, named
//!    objects of the families involved; the rules of the chains and the
//!    elements of the sets involved);
//! 3. replay the transaction's operations in order against that listing,
//!    so that an object created or deleted earlier in the same transaction
//!    counts as present or absent at that point; each destroy becomes the
//!    matching delete when its object exists then, and is left out when it
//!    does not (for elements: only the elements that exist are deleted);
//! 4. commit with a generation guard on the generation read in step 1, so
//!    that the kernel refuses the batch if anyone changed the ruleset since
//!    the listing; then list again and retry (at most five attempts).
//!
//! The result is as atomic as a native destroy: the deletes apply to the
//! ruleset that was listed, or nothing is applied. What differs: the
//! commit costs the listings; a transaction already guarded with
//! [`Transaction::guard_generation`] gets its `ERESTART` back instead of a
//! retry (it asked for exactly that); under constant concurrent writes the
//! commit can fail with `ERESTART` after five attempts where a native
//! destroy would not; and a destroy whose table (for a rule, its chain;
//! for elements, their set) does not exist is sent as a delete, so it
//! fails with `ENOENT` as the native destroy does on those kernels.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU8, Ordering};

use super::consts::*;
use super::set::Element;
use super::transaction::{Committed, Transaction};
use super::types::Family;
use super::value::Value;
use super::{is_generation_conflict, Nft};
use crate::conn::Batch;
use crate::error::{Error, Result};
use crate::wire::{attrs_after, Attr, AttrIter, NLA_F_NESTED, NLMSG_HDRLEN};

/// What this kernel answered to the probe: 0 not asked yet, 1 has destroy,
/// 2 has not. One kernel serves every namespace of the process.
static DESTROY: AtomicU8 = AtomicU8::new(0);

/// Guarded attempts before a conflicting writer wins.
const ATTEMPTS: u32 = 5;

/// The destroy message type `m` deletes with.
fn delete_of(m: u8) -> Option<u8> {
    Some(match m {
        NFT_MSG_DESTROYTABLE => NFT_MSG_DELTABLE,
        NFT_MSG_DESTROYCHAIN => NFT_MSG_DELCHAIN,
        NFT_MSG_DESTROYRULE => NFT_MSG_DELRULE,
        NFT_MSG_DESTROYSET => NFT_MSG_DELSET,
        NFT_MSG_DESTROYSETELEM => NFT_MSG_DELSETELEM,
        NFT_MSG_DESTROYOBJ => NFT_MSG_DELOBJ,
        _ => return None,
    })
}

/// The nf_tables message type (low byte) of message `i`, or `None` for
/// another subsystem's.
fn nft_type(b: &Batch, i: usize) -> Option<u8> {
    let t = b.msg_type(i);
    (t >> 8 == crate::wire::names::NFNL_SUBSYS_NFTABLES as u16).then_some(t as u8)
}

/// Whether `tx` holds a destroy operation.
pub(super) fn has_destroy(tx: &Transaction) -> bool {
    (0..tx.batch.len()).any(|i| nft_type(&tx.batch, i).and_then(delete_of).is_some())
}

/// Whether the kernel has `NFT_MSG_DESTROY*` (Linux 6.3 and later), asked
/// once per process: a batch of `destroy table` and `delete table` of a
/// table nobody has. A kernel with destroy fails only the second
/// (`ENOENT`), one without fails the first (`EINVAL`); either way the
/// kernel rolls the whole batch back, so the probe changes nothing.
pub(super) async fn destroy_supported(nft: &Nft) -> Result<bool> {
    match DESTROY.load(Ordering::Relaxed) {
        1 => return Ok(true),
        2 => return Ok(false),
        _ => {}
    }
    const PROBE: &str = "netplumb-destroy-probe";
    let mut probe = Transaction::new();
    probe.destroy_table(Family::Inet, PROBE)?;
    probe.delete_table(Family::Inet, PROBE)?;
    let failures = match nft.commit_exact(&probe).await {
        Ok(_) => Vec::new(),
        Err(Error::Kernel(k)) => vec![k],
        Err(Error::Batch(b)) => b.failures,
        Err(e) => return Err(e),
    };
    let mut supported = true;
    for k in &failures {
        match k.operation.as_ref().map(|o| o.index) {
            Some(0) if k.errno == crate::Errno::EINVAL => supported = false,
            Some(1) if k.is_not_found() => {}
            _ => return Err(Error::Kernel(k.clone())),
        }
    }
    DESTROY.store(if supported { 1 } else { 2 }, Ordering::Relaxed);
    Ok(supported)
}

impl Nft {
    /// Commit `tx` with its destroy operations replaced by deletes of what
    /// exists, as [`Nft::commit`] does on kernels before 6.3 (see the
    /// "Kernel compatibility" table of the README), whatever this kernel
    /// has. For comparing the two behaviours on a newer kernel; prefer
    /// [`Nft::commit`].
    ///
    /// # Errors
    /// As [`Nft::commit`]; errors name the user's operations.
    ///
    /// # Cancel safety
    /// Once the transaction is sent it takes effect whether or not this
    /// future is polled to completion; before that nothing is changed.
    pub async fn commit_emulating_destroy(&self, tx: &Transaction) -> Result<Committed> {
        if tx.is_empty() {
            return Err(Error::invalid("transaction", "no operations"));
        }
        let own_guard = tx.genid.is_none();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let generation = self.generation().await?;
            let state = State::list(self, tx).await?;
            let mut out = state.rewrite(tx);
            if own_guard {
                out.genid = Some(generation);
            }
            match self.commit_exact(&out).await {
                Err(e) if own_guard && attempt < ATTEMPTS && is_generation_conflict(&e) => continue,
                r => return r,
            }
        }
    }
}

/// `(family, table, name)`.
type Key = (u8, String, String);

/// An element as the kernel tells one from another.
type ElemId = (Value, Option<Value>, bool);

fn elem_id(e: &Element) -> ElemId {
    (e.key.clone(), e.key_end.clone(), e.is_interval_end())
}

/// What exists, as far as the destroys in the transaction care.
#[derive(Default)]
struct State {
    tables: HashSet<(u8, String)>,
    chains: HashSet<Key>,
    sets: HashSet<Key>,
    objects: HashSet<(u8, String, String, u32)>,
    /// Rules of the chains a destroy rule names: `(family, table, chain, handle)`.
    rules: HashSet<(u8, String, String, u64)>,
    /// Elements of the sets a destroy element names.
    elements: HashMap<Key, HashSet<ElemId>>,
}

/// The parsed identity of one nf_tables message.
struct Parsed<'a> {
    family: u8,
    table: Option<&'a str>,
    /// Chain, set or object name; the chain for rules.
    name: Option<&'a str>,
    /// Rule handle, object type.
    number: Option<u64>,
    elements: Option<Attr<'a>>,
}

fn parse(m: u8, msg: &[u8]) -> Parsed<'_> {
    let payload = &msg[NLMSG_HDRLEN.min(msg.len())..];
    let mut p = Parsed {
        family: payload.first().copied().unwrap_or(0),
        table: None,
        name: None,
        number: None,
        elements: None,
    };
    let name_attr = match m {
        NFT_MSG_NEWTABLE | NFT_MSG_DELTABLE | NFT_MSG_DESTROYTABLE => 0,
        NFT_MSG_NEWCHAIN | NFT_MSG_DELCHAIN | NFT_MSG_DESTROYCHAIN => NFTA_CHAIN_NAME,
        _ => 2, // rule chain, set name, element list set, object name
    };
    for a in attrs_after(payload, 4).flatten() {
        let k = a.kind();
        let table_msg = matches!(m, NFT_MSG_NEWTABLE | NFT_MSG_DELTABLE | NFT_MSG_DESTROYTABLE);
        if k == 1 {
            if table_msg {
                p.name = a.str().ok();
            } else {
                p.table = a.str().ok();
            }
        } else if k == name_attr {
            p.name = a.str().ok();
        } else if k == 3 {
            match m {
                NFT_MSG_DELRULE | NFT_MSG_DESTROYRULE => p.number = a.u64_be().ok(),
                NFT_MSG_NEWOBJ | NFT_MSG_DELOBJ | NFT_MSG_DESTROYOBJ => {
                    p.number = a.u32_be().ok().map(u64::from)
                }
                NFT_MSG_NEWSETELEM | NFT_MSG_DELSETELEM | NFT_MSG_DESTROYSETELEM => p.elements = Some(a),
                _ => {}
            }
        }
    }
    p
}

fn key(family: u8, table: &str, name: &str) -> Key {
    (family, table.to_string(), name.to_string())
}

impl State {
    /// List what the destroys of `tx` may name.
    async fn list(nft: &Nft, tx: &Transaction) -> Result<State> {
        let mut s = State::default();
        let mut families = HashSet::new();
        let (mut chains_of, mut sets_of) = (HashSet::new(), HashSet::new());
        for i in 0..tx.batch.len() {
            let Some(m) = nft_type(&tx.batch, i).filter(|&m| delete_of(m).is_some()) else { continue };
            let p = parse(m, tx.batch.message(i));
            families.insert(p.family);
            if let (Some(t), Some(n)) = (p.table, p.name) {
                match m {
                    NFT_MSG_DESTROYRULE => {
                        chains_of.insert(key(p.family, t, n));
                    }
                    NFT_MSG_DESTROYSETELEM => {
                        sets_of.insert(key(p.family, t, n));
                    }
                    _ => {}
                }
            }
        }
        for f in families {
            let fam = Family::from_code(f);
            for t in nft.list_tables(fam).await? {
                s.tables.insert((t.family.code(), t.name));
            }
            for c in nft.list_chains(fam).await? {
                s.chains.insert(key(c.family.code(), &c.table, &c.name));
            }
            for x in nft.list_sets(fam).await? {
                s.sets.insert(key(x.family.code(), &x.table, &x.name));
            }
            for o in nft.list_objects(fam).await? {
                s.objects.insert((o.family.code(), o.table, o.name, o.kind.code()));
            }
        }
        for (f, t, c) in chains_of {
            let Some(fam) = Family::from_code(f).filter(|_| s.chains.contains(&key(f, &t, &c))) else {
                continue;
            };
            for r in nft.list_rules(Some(fam), Some(&t), Some(&c)).await? {
                if let Some(h) = r.handle {
                    s.rules.insert((f, t.clone(), c.clone(), h));
                }
            }
        }
        for k in sets_of {
            let Some(fam) = Family::from_code(k.0).filter(|_| s.sets.contains(&k)) else { continue };
            let elems = nft.list_elements(fam, &k.1, &k.2).await?;
            s.elements.insert(k, elems.iter().map(elem_id).collect());
        }
        Ok(s)
    }

    fn drop_table(&mut self, family: u8, table: Option<&str>) {
        let hit = |f: u8, t: &str| (family == 0 || f == family) && table.is_none_or(|x| x == t);
        self.tables.retain(|(f, t)| !hit(*f, t));
        self.chains.retain(|(f, t, _)| !hit(*f, t));
        self.sets.retain(|(f, t, _)| !hit(*f, t));
        self.objects.retain(|(f, t, _, _)| !hit(*f, t));
        self.rules.retain(|(f, t, _, _)| !hit(*f, t));
        self.elements.retain(|(f, t, _), _| !hit(*f, t));
    }

    /// `tx` with each destroy replaced by a delete of what exists at that
    /// point of the transaction, or left out.
    fn rewrite(mut self, tx: &Transaction) -> Transaction {
        let mut out = tx.clone();
        out.batch = Batch::new();
        out.msg_op.clear();
        for i in 0..tx.batch.len() {
            let msg = tx.batch.message(i);
            let op = tx.msg_op[i];
            let Some(m) = nft_type(&tx.batch, i) else {
                copy(&mut out, op, msg, None);
                continue;
            };
            let p = parse(m, msg);
            let (f, t, n) = (p.family, p.table.unwrap_or(""), p.name.unwrap_or(""));
            // Whether a destroy's parent exists: if not, the delete is sent
            // and fails with ENOENT, as the native destroy does.
            let keep = match m {
                NFT_MSG_NEWTABLE => {
                    self.tables.insert((f, n.to_string()));
                    true
                }
                NFT_MSG_DELTABLE => {
                    self.drop_table(f, p.name);
                    true
                }
                NFT_MSG_DESTROYTABLE => {
                    let there = self.tables.contains(&(f, n.to_string()));
                    self.drop_table(f, Some(n));
                    there
                }
                NFT_MSG_NEWCHAIN => {
                    if p.name.is_some() {
                        self.chains.insert(key(f, t, n));
                    }
                    true
                }
                NFT_MSG_DELCHAIN | NFT_MSG_DESTROYCHAIN => {
                    let there = self.chains.remove(&key(f, t, n));
                    self.rules.retain(|(rf, rt, rc, _)| !(*rf == f && rt == t && rc == n));
                    m == NFT_MSG_DELCHAIN || there || !self.tables.contains(&(f, t.to_string()))
                }
                NFT_MSG_DELRULE | NFT_MSG_DESTROYRULE => {
                    let there = match p.number {
                        Some(h) => self.rules.remove(&(f, t.to_string(), n.to_string(), h)),
                        None => {
                            self.rules.retain(|(rf, rt, rc, _)| {
                                !(*rf == f && rt == t && (p.name.is_none() || rc == n))
                            });
                            true
                        }
                    };
                    m == NFT_MSG_DELRULE || there || !self.tables.contains(&(f, t.to_string()))
                }
                NFT_MSG_NEWSET => {
                    if self.sets.insert(key(f, t, n)) {
                        self.elements.insert(key(f, t, n), HashSet::new());
                    }
                    true
                }
                NFT_MSG_DELSET | NFT_MSG_DESTROYSET => {
                    let there = self.sets.remove(&key(f, t, n));
                    self.elements.remove(&key(f, t, n));
                    m == NFT_MSG_DELSET || there || !self.tables.contains(&(f, t.to_string()))
                }
                NFT_MSG_NEWSETELEM | NFT_MSG_DELSETELEM => {
                    if let Some(have) = self.elements.get_mut(&key(f, t, n)) {
                        match p.elements {
                            Some(list) => {
                                for e in list.nested().flatten().filter_map(|a| Element::decode(&a).ok()) {
                                    if m == NFT_MSG_NEWSETELEM {
                                        have.insert(elem_id(&e));
                                    } else {
                                        have.remove(&elem_id(&e));
                                    }
                                }
                            }
                            None if m == NFT_MSG_DELSETELEM => have.clear(),
                            None => {}
                        }
                    }
                    true
                }
                NFT_MSG_DESTROYSETELEM => {
                    let k = key(f, t, n);
                    match (self.elements.get_mut(&k), p.elements) {
                        (Some(have), Some(list)) if self.sets.contains(&k) => {
                            let mut present = Vec::new();
                            for a in list.nested().flatten() {
                                if let Ok(e) = Element::decode(&a) {
                                    if have.remove(&elem_id(&e)) {
                                        present.push(a);
                                    }
                                }
                            }
                            if !present.is_empty() {
                                push_elements(&mut out, op, msg, &present);
                            }
                            continue;
                        }
                        // No such set: the native destroy fails too.
                        _ => !self.sets.contains(&k),
                    }
                }
                NFT_MSG_NEWOBJ => {
                    if let Some(ty) = p.number {
                        self.objects.insert((f, t.to_string(), n.to_string(), ty as u32));
                    }
                    true
                }
                NFT_MSG_DELOBJ | NFT_MSG_DESTROYOBJ => {
                    let ty = p.number.unwrap_or(0) as u32;
                    let there = self.objects.remove(&(f, t.to_string(), n.to_string(), ty));
                    m == NFT_MSG_DELOBJ || there || !self.tables.contains(&(f, t.to_string()))
                }
                _ => true,
            };
            if keep {
                copy(&mut out, op, msg, delete_of(m));
            }
        }
        out
    }
}

/// Append `msg` to `out` for operation `op`, as message type `m` if given.
fn copy(out: &mut Transaction, op: u32, msg: &[u8], m: Option<u8>) {
    let Ok(h) = crate::wire::Header::parse(msg) else { return };
    let ty = m.map(msg_of).unwrap_or(h.ty);
    out.batch.push(ty, h.flags, |w| {
        w.raw(&msg[NLMSG_HDRLEN..]);
    });
    out.msg_op.push(op);
}

fn msg_of(m: u8) -> u16 {
    super::consts::msg(m)
}

/// Append a delete of `present` (element nests of the destroy `msg`).
fn push_elements(out: &mut Transaction, op: u32, msg: &[u8], present: &[Attr<'_>]) {
    let Ok(h) = crate::wire::Header::parse(msg) else { return };
    let payload = &msg[NLMSG_HDRLEN..];
    out.batch.push(msg_of(NFT_MSG_DELSETELEM), h.flags, |w| {
        w.raw(&payload[..4]);
        for a in AttrIter::new(&payload[4..]).flatten() {
            if a.kind() == NFTA_SET_ELEM_LIST_ELEMENTS {
                w.nest(NFTA_SET_ELEM_LIST_ELEMENTS | NLA_F_NESTED, |w| {
                    for (i, e) in present.iter().enumerate() {
                        w.bytes((i as u16 + 1) | NLA_F_NESTED, e.payload);
                    }
                });
            } else {
                w.bytes(a.raw_type, a.payload);
            }
        }
    });
    out.msg_op.push(op);
}
