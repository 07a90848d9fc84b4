//! nftables: tables, chains, rules, sets and maps, named objects, atomic
//! transactions, listing, and rendering in `nft` syntax.
//!
//! [`Nft`] is the handle (one netfilter [`Connection`] in a namespace).
//! Changes go through a [`Transaction`], applied atomically by
//! [`Nft::commit`]; listing decodes everything into typed values
//! ([`Table`], [`Chain`], [`Rule`], [`Set`], [`Element`], [`Object`]), and
//! [`Ruleset`] prints as `nft list ruleset` does.
//!
//! ```no_run
//! use netplumb::nft::{Chain, ChainType, Family, Hook, Nft, Policy, RuleBuilder, Table, Transaction};
//! # async fn demo() -> netplumb::Result<()> {
//! let nft = Nft::new().await?;
//! let mut tx = Transaction::new();
//! tx.add_table(&Table::new(Family::Inet, "fw"))?;
//! tx.add_chain(&Chain::new(Family::Inet, "fw", "input")
//!     .base(ChainType::Filter, Hook::Input, 0).policy(Policy::Drop))?;
//! let rule = RuleBuilder::new(Family::Inet, "fw", "input")
//!     .ct_state(netplumb::nft::CtState::ESTABLISHED | netplumb::nft::CtState::RELATED)
//!     .accept()
//!     .build()?;
//! let op = tx.add_rule(&rule)?;
//! let done = nft.commit(&tx).await?;
//! println!("rule handle {:?}, generation {}", done.handle(op), done.generation);
//! print!("{}", nft.ruleset().await?);
//! # Ok(()) }
//! ```

mod builder;
mod builder_stmts;
mod chain;
mod compat;
pub(crate) mod consts;
pub mod expr;
mod object;
pub mod render;
mod rule;
mod ruleset;
mod set;
mod table;
mod transaction;
mod types;
mod value;

#[cfg(test)]
mod tests;

pub use builder::{CtState, CtStatus, Field, RuleBuilder};
pub use builder_stmts::{IpsecKey, OsfTtl};
pub use chain::{priority, BaseChain, Chain, ChainType, Hook, Policy};
pub use object::{Object, ObjectKind, ObjectType};
pub use rule::Rule;
pub use ruleset::{Ruleset, SetWithElements};
pub use set::{decode_elements, merge_intervals, AnonSet, Element, Set, SetFlags};
pub use table::{Table, TableFlags};
pub use transaction::{Committed, OpId, Transaction};
pub use types::{DataType, Family, KeyType};
pub use value::Value;

use consts::*;

use std::sync::{Arc, Mutex, PoisonError};

use crate::conn::{Connection, Dump, Request};
use crate::error::{Error, Result};
use crate::names::Protocol;
use crate::netns::Netns;
use crate::wire::{attrs_after, Msg};

/// A handle for nftables in one network namespace.
///
/// Cheap to clone (`Clone + Send + Sync`); share it between tasks.
#[derive(Clone, Debug)]
pub struct Nft {
    conn: Connection,
}

fn family_code(f: Option<Family>) -> u8 {
    f.map(Family::code).unwrap_or(0)
}

fn dump_req(m: u8, family: Option<Family>, f: impl FnOnce(&mut crate::wire::AttrWriter<'_>)) -> Request {
    Request::new(msg(m), 0, |w| {
        types::nfgen(w, family_code(family));
        f(w);
    })
}

/// Whether `e` is the kernel refusing a transaction because the ruleset
/// changed since the generation given to
/// [`Transaction::guard_generation`] (`ERESTART`).
pub fn is_generation_conflict(e: &Error) -> bool {
    e.errno() == Some(crate::error::Errno(libc::ERESTART))
}

impl Nft {
    /// nftables in the calling thread's namespace.
    ///
    /// # Cancel safety
    /// Cancel safe: nothing is sent.
    pub async fn new() -> Result<Nft> {
        Ok(Nft { conn: Connection::new(Protocol::Netfilter).await? })
    }

    /// nftables inside `netns` (the socket is created there; no runtime
    /// thread changes namespace).
    ///
    /// # Cancel safety
    /// Cancel safe: nothing is sent.
    pub async fn new_in(netns: &Netns) -> Result<Nft> {
        Ok(Nft { conn: Connection::new_in(Protocol::Netfilter, netns).await? })
    }

    /// Use an existing netfilter connection.
    ///
    /// # Errors
    /// [`Error::Invalid`] if `conn` speaks another protocol.
    pub fn from_connection(conn: Connection) -> Result<Nft> {
        if conn.protocol() != Protocol::Netfilter {
            return Err(Error::invalid("connection", "nftables needs a Protocol::Netfilter connection"));
        }
        Ok(Nft { conn })
    }

    /// The underlying connection.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The ruleset generation id (changes with every committed
    /// transaction); the guard for [`Transaction::guard_generation`].
    /// No `nft` equivalent (`nft list ruleset` prints no generation;
    /// `nft monitor` shows new ones).
    ///
    /// # Cancel safety
    /// Cancel safe.
    #[doc(alias = "NFT_MSG_GETGEN")]
    pub async fn generation(&self) -> Result<u32> {
        let replies = self.conn.request(&gen_request()).await?;
        replies.iter().find_map(|m| parse_gen(&m.as_msg())).ok_or_else(|| {
            Error::Decode(crate::error::DecodeError::new("NFT_MSG_NEWGEN", "no generation id"))
        })
    }

    /// Apply `tx` atomically, as `nft -f` does: one batch in one datagram,
    /// all or nothing. Returns the new generation and the handles of added
    /// rules.
    ///
    /// # Errors
    /// When the kernel rejects an operation, [`Error::Kernel`] names it
    /// (index and description, e.g. `operation 3: add rule to ip
    /// kube-proxy/nat-prerouting failed`) with the kernel's message, and
    /// nothing was applied. [`is_generation_conflict`] tells a failed
    /// generation guard: it is reported against the batch header, which is
    /// no operation (`operation` is `None`, `request` is
    /// `NFNL_MSG_BATCH_BEGIN`). Needs `CAP_NET_ADMIN`.
    ///
    /// On kernels before 6.3, which have no `destroy`, a transaction with
    /// destroy operations is committed as
    /// [`Nft::commit_emulating_destroy`] does: each becomes a delete of
    /// what exists, in one guarded transaction (the README's "Kernel
    /// compatibility" says what differs).
    ///
    /// # Cancel safety
    /// Once sent, the transaction takes effect whether or not this future
    /// is polled to completion.
    pub async fn commit(&self, tx: &Transaction) -> Result<Committed> {
        if compat::has_destroy(tx) && !compat::destroy_supported(self).await? {
            return self.commit_emulating_destroy(tx).await;
        }
        self.commit_exact(tx).await
    }

    /// [`Nft::commit`] as the messages are, without the destroy fallback.
    async fn commit_exact(&self, tx: &Transaction) -> Result<Committed> {
        if tx.is_empty() {
            return Err(Error::invalid("transaction", "no operations"));
        }
        let (begin, end) = tx.frame();
        let parts = [&begin, &tx.batch, &end];
        let replies = self.conn.transaction(&parts, &gen_request(), tx.len(), |i| tx.locate(i)).await?;
        let mut out = Committed::default();
        for m in &replies.barrier {
            if let Some(g) = parse_gen(&m.as_msg()) {
                out.generation = g;
            }
        }
        for (idx, m) in &replies.echoes {
            let Some(op) = tx.op_of_message(*idx) else { continue };
            if m.header.ty == msg(NFT_MSG_NEWRULE) && tx.rule_ops[op.0] {
                if let Ok(r) = Rule::decode(&m.as_msg()) {
                    if let Some(h) = r.handle {
                        out.handles.insert(op, h);
                    }
                }
            }
        }
        Ok(out)
    }

    /// `nft list tables [FAMILY]`.
    ///
    /// # Cancel safety
    /// Cancel safe (dumps are read-only).
    #[doc(alias = "NFT_MSG_GETTABLE")]
    pub async fn list_tables(&self, family: Option<Family>) -> Result<Vec<Table>> {
        self.tables(family).try_collect().await
    }

    /// The tables as a stream.
    pub fn tables(&self, family: Option<Family>) -> Dump<Table> {
        self.conn
            .dump(&dump_req(NFT_MSG_GETTABLE, family, |_| {}), decode_as(NFT_MSG_NEWTABLE, Table::decode))
    }

    /// `nft list chains [FAMILY]`.
    ///
    /// # Cancel safety
    /// Cancel safe.
    #[doc(alias = "NFT_MSG_GETCHAIN")]
    pub async fn list_chains(&self, family: Option<Family>) -> Result<Vec<Chain>> {
        self.chains(family).try_collect().await
    }

    /// The chains as a stream.
    pub fn chains(&self, family: Option<Family>) -> Dump<Chain> {
        self.conn
            .dump(&dump_req(NFT_MSG_GETCHAIN, family, |_| {}), decode_as(NFT_MSG_NEWCHAIN, Chain::decode))
    }

    /// Rules (with handles), of every table, or of one table, or one
    /// chain: `nft -a list chain FAMILY TABLE CHAIN`.
    ///
    /// # Cancel safety
    /// Cancel safe.
    #[doc(alias = "NFT_MSG_GETRULE")]
    pub async fn list_rules(
        &self,
        family: Option<Family>,
        table: Option<&str>,
        chain: Option<&str>,
    ) -> Result<Vec<Rule>> {
        self.rules(family, table, chain).try_collect().await
    }

    /// The rules as a stream.
    pub fn rules(&self, family: Option<Family>, table: Option<&str>, chain: Option<&str>) -> Dump<Rule> {
        let req = dump_req(NFT_MSG_GETRULE, family, |w| {
            if let Some(t) = table {
                w.str(NFTA_RULE_TABLE, t);
            }
            if let Some(c) = chain {
                w.str(NFTA_RULE_CHAIN, c);
            }
        });
        self.conn.dump(&req, decode_as(NFT_MSG_NEWRULE, Rule::decode))
    }

    /// `nft list sets [FAMILY]` (without elements; anonymous sets
    /// included).
    ///
    /// # Cancel safety
    /// Cancel safe.
    #[doc(alias = "NFT_MSG_GETSET")]
    pub async fn list_sets(&self, family: Option<Family>) -> Result<Vec<Set>> {
        self.sets(family).try_collect().await
    }

    /// The sets as a stream.
    pub fn sets(&self, family: Option<Family>) -> Dump<Set> {
        self.conn.dump(&dump_req(NFT_MSG_GETSET, family, |_| {}), decode_as(NFT_MSG_NEWSET, Set::decode))
    }

    /// The elements of a set, as the kernel stores them (a plain interval
    /// set lists start and end markers: see [`merge_intervals`]).
    /// `nft list set FAMILY TABLE NAME`.
    ///
    /// # Cancel safety
    /// Cancel safe.
    #[doc(alias = "NFT_MSG_GETSETELEM")]
    pub async fn list_elements(&self, family: Family, table: &str, set: &str) -> Result<Vec<Element>> {
        let req = dump_req(NFT_MSG_GETSETELEM, Some(family), |w| {
            w.str(NFTA_SET_ELEM_LIST_TABLE, table);
            w.str(NFTA_SET_ELEM_LIST_SET, set);
        });
        // Every message's elements go straight into one vector: elements
        // are ~200 bytes, and collecting a vector per message then
        // concatenating copied the whole listing once more (21 MB for
        // 110,000 elements). A dump that is restarted (interrupted, see
        // `Dump::try_collect`) is sent again with a new sequence number:
        // its first message clears what the abandoned attempt decoded.
        let acc: Arc<Mutex<(Option<u32>, Vec<Element>)>> = Arc::default();
        let sink = Arc::clone(&acc);
        self.conn
            .dump(&req, move |m: &Msg<'_>| {
                if m.header.ty != msg(NFT_MSG_NEWSETELEM) {
                    return Ok(None);
                }
                let mut guard = sink.lock().unwrap_or_else(PoisonError::into_inner);
                let (seq, out) = &mut *guard;
                if *seq != Some(m.header.seq) {
                    out.clear();
                    *seq = Some(m.header.seq);
                }
                set::decode_elements_into(m, out)?;
                Ok(Some(()))
            })
            .try_collect()
            .await?;
        let mut guard = acc.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(std::mem::take(&mut guard.1))
    }

    /// `nft list counters|quotas|limits ...`: every named object.
    ///
    /// # Cancel safety
    /// Cancel safe.
    #[doc(alias = "NFT_MSG_GETOBJ")]
    pub async fn list_objects(&self, family: Option<Family>) -> Result<Vec<Object>> {
        self.objects(family).try_collect().await
    }

    /// The named objects as a stream.
    pub fn objects(&self, family: Option<Family>) -> Dump<Object> {
        self.conn.dump(&dump_req(NFT_MSG_GETOBJ, family, |_| {}), decode_as(NFT_MSG_NEWOBJ, Object::decode))
    }

    /// Everything: `nft list ruleset`. Print it with `{}` for nft syntax.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn ruleset(&self) -> Result<Ruleset> {
        self.ruleset_of(None).await
    }

    /// Everything in one family (`nft list ruleset FAMILY`), or all.
    ///
    /// The parts are listed one dump at a time; if the ruleset generation
    /// changed meanwhile (another writer committed), everything is listed
    /// again, so the result is one consistent generation.
    ///
    /// # Errors
    /// [`Error::DumpInterrupted`] if the ruleset kept changing over five
    /// attempts.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn ruleset_of(&self, family: Option<Family>) -> Result<Ruleset> {
        const ATTEMPTS: u32 = 5;
        for _ in 0..ATTEMPTS {
            let before = self.generation().await?;
            let rs = self.ruleset_once(family).await?;
            if self.generation().await? == before {
                return Ok(rs);
            }
        }
        Err(Error::DumpInterrupted {
            request: crate::names::MsgType { protocol: Protocol::Netfilter, raw: msg(NFT_MSG_GETRULE) },
            attempts: ATTEMPTS,
        })
    }

    async fn ruleset_once(&self, family: Option<Family>) -> Result<Ruleset> {
        let tables = self.list_tables(family).await?;
        let chains = self.list_chains(family).await?;
        let sets = self.list_sets(family).await?;
        let mut with = Vec::with_capacity(sets.len());
        for s in sets {
            let elements = self.list_elements(s.family, &s.table, &s.name).await?;
            with.push(SetWithElements { set: s, elements });
        }
        let objects = self.list_objects(family).await?;
        let rules = self.list_rules(family, None, None).await?;
        Ok(Ruleset::new(tables, chains, rules, with, objects))
    }
}

fn decode_as<T: Send + 'static>(
    m: u8,
    f: impl Fn(&Msg<'_>) -> std::result::Result<T, crate::error::DecodeError> + Send + 'static,
) -> impl FnMut(&Msg<'_>) -> Result<Option<T>> + Send + 'static {
    move |msg_: &Msg<'_>| {
        if msg_.header.ty != msg(m) {
            return Ok(None);
        }
        Ok(Some(f(msg_)?))
    }
}

fn gen_request() -> Request {
    Request::new(msg(NFT_MSG_GETGEN), 0, |w| types::nfgen(w, 0))
}

fn parse_gen(m: &Msg<'_>) -> Option<u32> {
    if m.header.ty != msg(NFT_MSG_NEWGEN) {
        return None;
    }
    attrs_after(m.payload, 4).flatten().find(|a| a.kind() == NFTA_GEN_ID).and_then(|a| a.u32_be().ok())
}
