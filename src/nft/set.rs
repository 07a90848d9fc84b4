//! Sets, maps and verdict maps, and their elements.

use std::time::Duration;

use super::consts::*;
use super::expr::{decode_list, Data, Expr, Numgen, NumgenType, Reg, Verdict};
use super::types::{
    check_name, msg_family, udata_comment, udata_iter, udata_put, udata_str, DataType, Family, KeyType,
};
use super::value::{be_increment, Value};
use crate::error::{DecodeError, Error, Result};
use crate::wire::{attrs_after, put_attr_header, AttrWriter, Msg, NLA_F_NESTED};

bitflags::bitflags! {
    /// `NFT_SET_*` flags.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct SetFlags: u32 {
        /// An anonymous set (`{ a, b }` inside a rule).
        const ANONYMOUS = 0x1;
        /// `flags constant`: elements cannot change.
        const CONSTANT = 0x2;
        /// `flags interval`: ranges and prefixes.
        const INTERVAL = 0x4;
        /// A map (has data).
        const MAP = 0x8;
        /// `flags timeout`: elements expire.
        const TIMEOUT = 0x10;
        /// `flags dynamic`: updated from the packet path.
        const EVAL = 0x20;
        /// An object map.
        const OBJECT = 0x40;
        /// A concatenation with intervals (set by netplumb as nft does).
        const CONCAT = 0x80;
        /// Elements carry expressions.
        const EXPR = 0x100;
        const _ = !0;
    }
}

/// A set or map (`set NAME { type ...; }`, `map NAME { type K : V; }`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Set {
    /// Family of its table.
    pub family: Family,
    /// Its table.
    pub table: String,
    /// Name (`__set%d`/`__map%d` for a new anonymous set).
    pub name: String,
    /// Flags.
    pub flags: SetFlags,
    /// Key type.
    pub key: KeyType,
    /// Key length in bytes (derived from `key` unless listed).
    pub key_len: u32,
    /// For maps: the data type (`verdict` for a verdict map).
    pub data: Option<KeyType>,
    /// Data length in bytes.
    pub data_len: u32,
    /// For object maps: `NFT_OBJECT_*`.
    pub obj_type: Option<u32>,
    /// `timeout` (default element timeout).
    pub timeout: Option<Duration>,
    /// `gc-interval`.
    pub gc_interval: Option<Duration>,
    /// `size`.
    pub size: Option<u32>,
    /// `policy memory` (true) / `performance`.
    pub policy_memory: Option<bool>,
    /// `comment "..."`.
    pub comment: Option<String>,
    /// Kernel handle (listing only).
    pub handle: Option<u64>,
    /// Per-element expressions (`counter` in the set declaration).
    pub exprs: Vec<Expr>,
    /// Userdata not produced by netplumb (e.g. `typeof` information),
    /// kept as received.
    pub userdata: Option<Vec<u8>>,
    /// nft's `typeof` record for the key (libnftnl userdata, opaque), as
    /// nft writes it for the anonymous set of `tcp dport { 80, 443 }`.
    pub key_typeof: Option<Vec<u8>>,
}

impl Set {
    /// A set of `key` in `table`.
    pub fn new(family: Family, table: impl Into<String>, name: impl Into<String>, key: KeyType) -> Set {
        let key_len = key.len();
        Set {
            family,
            table: table.into(),
            name: name.into(),
            flags: SetFlags::empty(),
            key,
            key_len,
            data: None,
            data_len: 0,
            obj_type: None,
            timeout: None,
            gc_interval: None,
            size: None,
            policy_memory: None,
            comment: None,
            handle: None,
            exprs: Vec::new(),
            userdata: None,
            key_typeof: None,
        }
    }

    /// A map from `key` to `data` (`DataType::VERDICT` for a verdict map).
    pub fn map(
        family: Family,
        table: impl Into<String>,
        name: impl Into<String>,
        key: KeyType,
        data: KeyType,
    ) -> Set {
        let mut s = Set::new(family, table, name, key);
        s.data_len = data.len();
        s.data = Some(data);
        s.flags |= SetFlags::MAP;
        s
    }

    /// A verdict map keyed by `numgen KIND mod MODULUS`, as nft declares it:
    /// `map NAME { typeof numgen random mod MODULUS : verdict; }` (the
    /// modulus is only recorded for `nft list`; the rule's own modulus is
    /// what counts). Use it with [`crate::nft::RuleBuilder::numgen_vmap_named`].
    pub fn numgen_vmap(
        family: Family,
        table: impl Into<String>,
        name: impl Into<String>,
        kind: NumgenType,
        modulus: u32,
    ) -> Set {
        let mut s = Set::map(
            family,
            table,
            name,
            KeyType::single(DataType::INTEGER),
            KeyType::single(DataType::VERDICT),
        );
        s.key_typeof = Some(Numgen { dreg: Reg::R1, kind, modulus, offset: 0 }.typeof_record());
        s
    }

    /// A data map keyed by `numgen KIND mod MODULUS` whose values are the
    /// concatenation of `data` (payload fields, at least two), as nft
    /// declares it: `map NAME { typeof numgen random mod 1 : ip daddr . tcp
    /// dport; }`. One such map serves any number of rules, each choosing
    /// among its own slots `K .. K+N-1` with `numgen random mod N offset K`
    /// (e.g. `dnat ip to numgen random mod N offset K map @NAME`); nft
    /// refuses a plain `type integer` key, so the `typeof` form is the one
    /// it can list and reload.
    ///
    /// Errors name `data` when it has fewer than two fields or one without
    /// a `typeof` form (meta and ct keys, Ethernet fields).
    pub fn numgen_map(
        family: Family,
        table: impl Into<String>,
        name: impl Into<String>,
        kind: NumgenType,
        modulus: u32,
        data: &[super::Field],
    ) -> Result<Set> {
        if data.len() < 2 {
            return Err(Error::invalid("data", "a concatenation of at least two fields".to_string()));
        }
        let mut nests = Vec::new();
        for (i, f) in data.iter().enumerate() {
            let rec = f.typeof_record().ok_or_else(|| {
                Error::invalid("data", format!("field {i} ({:?}) has no typeof form", f.ty.name()))
            })?;
            udata_put(&mut nests, i as u8, &rec);
        }
        let mut s = Set::map(
            family,
            table,
            name,
            KeyType::single(DataType::INTEGER),
            KeyType::concat(&data.iter().map(|f| f.ty).collect::<Vec<_>>()),
        );
        let numgen = Numgen { dreg: Reg::R1, kind, modulus, offset: 0 }.typeof_record();
        // What nft 1.0.6 writes: byte orders (host integer key,
        // concatenated data), the key's and the data's typeof records,
        // data interval 0.
        let mut typeof_data = Vec::new();
        udata_put(&mut typeof_data, 0, &13u32.to_ne_bytes());
        udata_put(&mut typeof_data, 1, &nests);
        let mut u = Vec::new();
        udata_put(&mut u, UDATA_SET_KEYBYTEORDER, &1u32.to_ne_bytes());
        udata_put(&mut u, UDATA_SET_DATABYTEORDER, &0u32.to_ne_bytes());
        udata_put(&mut u, UDATA_SET_KEY_TYPEOF, &numgen);
        udata_put(&mut u, UDATA_SET_DATA_TYPEOF, &typeof_data);
        udata_put(&mut u, UDATA_SET_DATA_INTERVAL, &0u32.to_ne_bytes());
        s.key_typeof = Some(numgen);
        s.userdata = Some(u);
        Ok(s)
    }

    /// The payload fields of data declared `typeof A . B ...`, from the
    /// userdata, as nft's (protocol description, field number) records;
    /// the builder's field table names them (`ip daddr`, `tcp dport`).
    pub(crate) fn data_typeof_payloads(&self) -> Option<Vec<(u32, u32)>> {
        let u = self.userdata.as_deref()?;
        let (_, rec) = udata_iter(u).find(|(t, _)| *t == UDATA_SET_DATA_TYPEOF)?;
        let mut it = udata_iter(rec);
        let (0, tag) = it.next()? else { return None };
        let (1, nests) = it.next()? else { return None };
        if tag != 13u32.to_ne_bytes() {
            return None;
        }
        let u32_of = |v: &[u8]| v.try_into().ok().map(u32::from_ne_bytes);
        udata_iter(nests)
            .map(|(_, sub)| {
                let mut it = udata_iter(sub);
                let (0, ty) = it.next()? else { return None };
                let (1, inner) = it.next()? else { return None };
                if u32_of(ty)? != 7 {
                    return None;
                }
                let mut f = udata_iter(inner);
                let (0, desc) = f.next()? else { return None };
                let (1, idx) = f.next()? else { return None };
                Some((u32_of(desc)?, u32_of(idx)?))
            })
            .collect()
    }

    /// The `numgen` expression of a key declared `typeof numgen ...` (by
    /// [`Set::numgen_vmap`] or by nft), from the typeof record netplumb
    /// built or the userdata the kernel listed.
    pub(crate) fn key_typeof_numgen(&self) -> Option<Numgen> {
        let record = match &self.key_typeof {
            Some(t) => t.clone(),
            None => udata_iter(self.userdata.as_deref()?)
                .find(|(t, _)| *t == UDATA_SET_KEY_TYPEOF)
                .map(|(_, v)| v.to_vec())?,
        };
        let u32_of = |v: &[u8]| v.try_into().ok().map(u32::from_ne_bytes);
        let mut fields = udata_iter(&record);
        let (0, ty) = fields.next()? else { return None };
        let (1, inner) = fields.next()? else { return None };
        if u32_of(ty)? != 23 {
            return None;
        }
        let (mut kind, mut modulus, mut offset) = (None, None, 0);
        for (t, v) in udata_iter(inner) {
            match t {
                0 => kind = u32_of(v),
                1 => modulus = u32_of(v),
                2 => offset = u32_of(v)?,
                _ => {}
            }
        }
        let kind = match kind? {
            0 => NumgenType::Inc,
            1 => NumgenType::Random,
            _ => return None,
        };
        Some(Numgen { dreg: Reg::R1, kind, modulus: modulus?, offset })
    }

    /// Whether this is a verdict map.
    pub fn is_vmap(&self) -> bool {
        self.data.as_ref().is_some_and(|d| d.fields == [DataType::VERDICT])
    }

    /// Add flags.
    pub fn flags(mut self, f: SetFlags) -> Set {
        self.flags |= f;
        self
    }

    /// `timeout` for elements (implies `flags timeout`).
    pub fn timeout(mut self, t: Duration) -> Set {
        self.timeout = Some(t);
        self.flags |= SetFlags::TIMEOUT;
        self
    }

    /// `gc-interval`.
    pub fn gc_interval(mut self, t: Duration) -> Set {
        self.gc_interval = Some(t);
        self
    }

    /// `size`.
    pub fn size(mut self, n: u32) -> Set {
        self.size = Some(n);
        self
    }

    /// With a comment.
    pub fn comment(mut self, c: impl Into<String>) -> Set {
        self.comment = Some(c.into());
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        check_name("table name", &self.table)?;
        check_name("set name", &self.name)?;
        if self.key_len == 0 || self.key_len > 64 {
            return Err(Error::invalid("set key", format!("length {} outside 1..=64 bytes", self.key_len)));
        }
        Ok(())
    }

    fn wire_flags(&self) -> SetFlags {
        let mut f = self.flags;
        if self.key.is_concat() && f.contains(SetFlags::INTERVAL) {
            f |= SetFlags::CONCAT;
        }
        if self.data.is_some() {
            f |= SetFlags::MAP;
        }
        f
    }

    /// The userdata nft writes for this set: byte orders, concatenation
    /// markers, comment.
    pub(crate) fn userdata_bytes(&self) -> Vec<u8> {
        if let Some(u) = &self.userdata {
            return u.clone();
        }
        let order = |k: &KeyType| -> u32 {
            if k.is_concat() || k.fields == [DataType::VERDICT] {
                0
            } else if k.fields[0].big_endian() {
                2
            } else {
                1
            }
        };
        let mut v = Vec::new();
        udata_put(&mut v, UDATA_SET_KEYBYTEORDER, &order(&self.key).to_ne_bytes());
        if let Some(d) = &self.data {
            udata_put(&mut v, UDATA_SET_DATABYTEORDER, &order(d).to_ne_bytes());
        }
        // nft marks a concatenation declared with `type` by a typeof
        // record holding only the concat tag.
        let concat_tag = |v: &mut Vec<u8>, ty: u8, tag: u32| {
            let mut inner = Vec::new();
            udata_put(&mut inner, 0, &tag.to_ne_bytes());
            udata_put(&mut inner, 1, &[]);
            udata_put(v, ty, &inner);
        };
        if let Some(t) = &self.key_typeof {
            udata_put(&mut v, UDATA_SET_KEY_TYPEOF, t);
        } else if self.key.is_concat() {
            concat_tag(&mut v, UDATA_SET_KEY_TYPEOF, 13);
        }
        if let Some(d) = &self.data {
            if d.is_concat() {
                concat_tag(&mut v, UDATA_SET_DATA_TYPEOF, 13);
            } else if self.is_vmap()
                && (self.flags.contains(SetFlags::ANONYMOUS) || self.key_typeof.is_some())
            {
                // The verdict expression of an inline `vmap { ... }`, or of
                // a map declared with `typeof ... : verdict`.
                concat_tag(&mut v, UDATA_SET_DATA_TYPEOF, 1);
            }
            udata_put(&mut v, UDATA_SET_DATA_INTERVAL, &0u32.to_ne_bytes());
        }
        if let Some(c) = &self.comment {
            udata_comment(&mut v, UDATA_SET_COMMENT, c);
        }
        v
    }

    /// Payload of `NFT_MSG_NEWSET`, attributes in the order `nft` writes.
    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>, id: u32) {
        super::types::nfgen(w, self.family.code());
        w.str(NFTA_SET_TABLE, &self.table);
        w.str(NFTA_SET_NAME, &self.name);
        w.u32_be(NFTA_SET_FLAGS, self.wire_flags().bits());
        w.u32_be(NFTA_SET_KEY_TYPE, self.key.type_id());
        w.u32_be(NFTA_SET_KEY_LEN, self.key_len);
        if let Some(d) = &self.data {
            let ty = if self.is_vmap() { NFT_DATA_VERDICT } else { d.type_id() };
            w.u32_be(NFTA_SET_DATA_TYPE, ty);
            w.u32_be(NFTA_SET_DATA_LEN, self.data_len);
        }
        if let Some(o) = self.obj_type {
            w.u32_be(NFTA_SET_OBJ_TYPE, o);
        }
        w.u32_be(NFTA_SET_ID, id);
        if let Some(p) = self.policy_memory {
            w.u32_be(NFTA_SET_POLICY, p as u32);
        }
        let concat_desc = self.key.is_concat() && self.flags.contains(SetFlags::INTERVAL);
        if self.size.is_some() || concat_desc {
            w.nest(NFTA_SET_DESC | NLA_F_NESTED, |w| {
                if let Some(s) = self.size {
                    w.u32_be(NFTA_SET_DESC_SIZE, s);
                }
                if concat_desc {
                    w.nest(NFTA_SET_DESC_CONCAT | NLA_F_NESTED, |w| {
                        for t in &self.key.fields {
                            w.nest(NFTA_LIST_ELEM | NLA_F_NESTED, |w| {
                                w.u32_be(NFTA_SET_FIELD_LEN, t.len());
                            });
                        }
                    });
                }
            });
        }
        if let Some(t) = self.timeout {
            w.u64_be(NFTA_SET_TIMEOUT, t.as_millis() as u64);
        }
        if let Some(t) = self.gc_interval {
            w.u32_be(NFTA_SET_GC_INTERVAL, t.as_millis() as u32);
        }
        w.bytes(NFTA_SET_USERDATA, &self.userdata_bytes());
        match self.exprs.len() {
            0 => {}
            1 => w.nest(NFTA_SET_EXPR | NLA_F_NESTED, |w| {
                let mut tmp = Vec::new();
                self.exprs[0].encode(&mut AttrWriter::new(&mut tmp));
                if let Some(Ok(a)) = crate::wire::AttrIter::new(&tmp).next() {
                    w.raw(a.payload);
                }
            }),
            _ => super::expr::encode_list(w, NFTA_SET_EXPRESSIONS, &self.exprs),
        }
    }

    /// Decode an `NFT_MSG_NEWSET` message.
    pub fn decode(m: &Msg<'_>) -> Result<Set, DecodeError> {
        let family = msg_family(m.payload)?.ok_or_else(|| DecodeError::new("set", "unknown family"))?;
        let mut s = Set::new(family, "", "", KeyType::single(DataType::INTEGER));
        let (mut key_type, mut key_len, mut data_type) = (0u32, 0u32, None);
        let mut udata = None;
        let mut concat_lens = Vec::new();
        for a in attrs_after(m.payload, 4) {
            let a = a?;
            match a.kind() {
                NFTA_SET_TABLE => s.table = a.str()?.to_string(),
                NFTA_SET_NAME => s.name = a.str()?.to_string(),
                NFTA_SET_HANDLE => s.handle = Some(a.u64_be()?),
                NFTA_SET_FLAGS => s.flags = SetFlags::from_bits_retain(a.u32_be()?),
                NFTA_SET_KEY_TYPE => key_type = a.u32_be()?,
                NFTA_SET_KEY_LEN => key_len = a.u32_be()?,
                NFTA_SET_DATA_TYPE => data_type = Some(a.u32_be()?),
                NFTA_SET_DATA_LEN => s.data_len = a.u32_be()?,
                NFTA_SET_OBJ_TYPE => s.obj_type = Some(a.u32_be()?),
                NFTA_SET_POLICY => s.policy_memory = Some(a.u32_be()? == 1),
                NFTA_SET_TIMEOUT => s.timeout = Some(Duration::from_millis(a.u64_be()?)),
                NFTA_SET_GC_INTERVAL => s.gc_interval = Some(Duration::from_millis(a.u32_be()? as u64)),
                NFTA_SET_USERDATA => udata = Some(a.payload.to_vec()),
                NFTA_SET_DESC => {
                    for d in a.nested() {
                        let d = d?;
                        match d.kind() {
                            NFTA_SET_DESC_SIZE => s.size = Some(d.u32_be()?),
                            NFTA_SET_DESC_CONCAT => {
                                for f in d.nested() {
                                    for l in f?.nested() {
                                        concat_lens.push(l?.u32_be()?);
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                }
                NFTA_SET_EXPR => s.exprs = vec![set_expr(Expr::decode(&a)?)],
                NFTA_SET_EXPRESSIONS => s.exprs = decode_list(&a)?.into_iter().map(set_expr).collect(),
                _ => {}
            }
        }
        s.key = KeyType::from_id(key_type, key_len);
        s.key_len = key_len;
        s.data = match data_type {
            Some(NFT_DATA_VERDICT) => Some(KeyType::single(DataType::VERDICT)),
            Some(t) => Some(data_key_type(t, s.data_len)),
            None => None,
        };
        s.flags.remove(SetFlags::CONCAT);
        // A set with a data type is a map, whatever its flags say (the
        // encoder sets MAP from the data type).
        if s.data.is_some() {
            s.flags.insert(SetFlags::MAP);
        } else {
            // A data length means nothing without a data type.
            s.data_len = 0;
        }
        if let Some(u) = udata {
            for (t, v) in udata_iter(&u) {
                if t == UDATA_SET_COMMENT {
                    s.comment = Some(udata_str(v));
                }
            }
            if s.userdata_bytes() != u {
                s.userdata = Some(u);
            }
        }
        let _ = concat_lens;
        Ok(s)
    }
}

/// An anonymous set or map a rule uses (`{ 0 : goto a, 1 : goto b }`),
/// created with the rule in the same transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnonSet {
    /// The set (name `__set%d` or `__map%d`; the kernel picks the number).
    pub set: Set,
    /// Its elements.
    pub elements: Vec<Element>,
}

/// One element of a set or map.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Element {
    /// The key (start of a range); short keys (addresses, ports, their
    /// concatenations) without a heap allocation.
    pub key: Value,
    /// Inclusive end of a range (interval sets), `None` for one value.
    pub key_end: Option<Value>,
    /// For maps: what the key maps to.
    pub data: Option<Data>,
    /// For object maps: the object's name.
    pub objref: Option<String>,
    /// `timeout`.
    pub timeout: Option<Duration>,
    /// Time left before it expires (listing only).
    pub expiration: Option<Duration>,
    /// `comment "..."`.
    pub comment: Option<String>,
    /// Per-element expressions (counters).
    pub exprs: Vec<Expr>,
    /// Raw `NFT_SET_ELEM_*` flags as listed (interval end 1, catch-all 2).
    pub flags: u32,
}

impl Element {
    /// An element with key `key`.
    pub fn new(key: impl Into<Value>) -> Element {
        Element { key: key.into(), ..Default::default() }
    }

    /// A range `lo`-`hi`, inclusive (interval sets).
    pub fn range(lo: impl Into<Value>, hi: impl Into<Value>) -> Element {
        Element { key: lo.into(), key_end: Some(hi.into()), ..Default::default() }
    }

    /// A prefix (`10.0.0.0/8`) as a range.
    pub fn prefix(net: ipnet::IpNet) -> Element {
        let (lo, hi) = Value::prefix_bounds(net.trunc());
        Element::range(lo, hi)
    }

    /// Map to `data`.
    pub fn to(mut self, data: impl Into<Value>) -> Element {
        self.data = Some(Data::Value(data.into().into_vec()));
        self
    }

    /// Map to a verdict (verdict maps).
    pub fn verdict(mut self, v: Verdict) -> Element {
        self.data = Some(Data::Verdict(v));
        self
    }

    /// `timeout`.
    pub fn timeout(mut self, t: Duration) -> Element {
        self.timeout = Some(t);
        self
    }

    /// `comment "..."`.
    pub fn comment(mut self, c: impl Into<String>) -> Element {
        self.comment = Some(c.into());
        self
    }

    /// Whether this is the end marker of an interval (listing).
    pub fn is_interval_end(&self) -> bool {
        self.flags & NFT_SET_ELEM_INTERVAL_END != 0
    }

    /// Encode one element nest (type patched by the caller), in the order
    /// libnftnl writes attributes.
    fn encode_one(
        &self,
        w: &mut AttrWriter<'_>,
        key: &[u8],
        key_end: Option<&[u8]>,
        flags: u32,
        with_data: bool,
    ) {
        let plain = flags == 0
            && key_end.is_none()
            && (!with_data
                || (self.timeout.is_none()
                    && self.data.is_none()
                    && self.objref.is_none()
                    && self.comment.is_none()));
        if plain && key.len() <= PLAIN_KEY_MAX {
            // The common element, a key and nothing else, in one write:
            // the three headers the nests below write, then the key
            // (padding included in the outer lengths, as they count it).
            let padded = key.len().div_ceil(4) * 4;
            let mut b = [0u8; 12 + PLAIN_KEY_MAX];
            put_attr_header(&mut b, 0, 12 + padded, NFTA_LIST_ELEM | NLA_F_NESTED);
            put_attr_header(&mut b, 4, 8 + padded, NFTA_SET_ELEM_KEY | NLA_F_NESTED);
            put_attr_header(&mut b, 8, 4 + key.len(), NFTA_DATA_VALUE);
            b[12..12 + key.len()].copy_from_slice(key);
            w.raw(&b[..12 + padded]);
            return;
        }
        w.nest(NFTA_LIST_ELEM | NLA_F_NESTED, |w| {
            if flags != 0 {
                w.u32_be(NFTA_SET_ELEM_FLAGS, flags);
            }
            if let Some(t) = self.timeout.filter(|_| with_data) {
                w.u64_be(NFTA_SET_ELEM_TIMEOUT, t.as_millis() as u64);
            }
            super::expr::put_value(w, NFTA_SET_ELEM_KEY, key);
            if let Some(e) = key_end {
                super::expr::put_value(w, NFTA_SET_ELEM_KEY_END, e);
            }
            if with_data {
                if let Some(d) = &self.data {
                    d.encode(w, NFTA_SET_ELEM_DATA);
                }
                if let Some(o) = &self.objref {
                    w.str(NFTA_SET_ELEM_OBJREF, o);
                }
                if let Some(c) = &self.comment {
                    let mut u = Vec::new();
                    udata_comment(&mut u, UDATA_SET_ELEM_COMMENT, c);
                    w.bytes(NFTA_SET_ELEM_USERDATA, &u);
                }
            }
        });
    }

    /// Decode one element nest.
    pub fn decode(a: &crate::wire::Attr<'_>) -> Result<Element, DecodeError> {
        let mut e = Element::default();
        e.decode_from(a)?;
        Ok(e)
    }

    /// Fill a default element from an element nest, in place (a listing
    /// decodes each element into its slot of the result: an element is
    /// ~200 bytes, and returning it by value copied it twice).
    fn decode_from(&mut self, a: &crate::wire::Attr<'_>) -> Result<(), DecodeError> {
        let e = self;
        for x in a.nested() {
            let x = x?;
            match x.kind() {
                NFTA_SET_ELEM_KEY => e.key = Value::from_bytes(super::expr::get_value_bytes(&x)?),
                NFTA_SET_ELEM_KEY_END => {
                    e.key_end = Some(Value::from_bytes(super::expr::get_value_bytes(&x)?))
                }
                NFTA_SET_ELEM_DATA => e.data = Some(Data::decode(&x)?),
                NFTA_SET_ELEM_FLAGS => e.flags = x.u32_be()?,
                NFTA_SET_ELEM_TIMEOUT => e.timeout = Some(Duration::from_millis(x.u64_be()?)),
                NFTA_SET_ELEM_EXPIRATION => e.expiration = Some(Duration::from_millis(x.u64_be()?)),
                NFTA_SET_ELEM_OBJREF => e.objref = Some(x.str()?.to_string()),
                NFTA_SET_ELEM_USERDATA => {
                    for (t, v) in udata_iter(x.payload) {
                        if t == UDATA_SET_ELEM_COMMENT {
                            e.comment = Some(udata_str(v));
                        }
                    }
                }
                NFTA_SET_ELEM_EXPR => e.exprs.push(set_expr(Expr::decode(&x)?)),
                NFTA_SET_ELEM_EXPRESSIONS => e.exprs.extend(decode_list(&x)?.into_iter().map(set_expr)),
                _ => {}
            }
        }
        Ok(())
    }
}

/// Longest key [`Element::encode_one`] writes in one piece (the kernel's
/// longest, `NFT_DATA_VALUE_MAXLEN`).
const PLAIN_KEY_MAX: usize = 64;

/// An expression of a set or element as netplumb keeps it: the encoder
/// chooses the container (`NFTA_SET_EXPR` for one, a list of
/// `NFTA_LIST_ELEM` for several), so an opaque expression's attribute type
/// as received (`NFTA_SET_EXPR`, with or without `NLA_F_NESTED`) says
/// nothing about it and is kept as the list element type the encoder
/// writes. Without this an unknown set expression received as type 0x11
/// came back from a transaction as 0x8011 (a fuzz finding).
fn set_expr(e: Expr) -> Expr {
    match e {
        Expr::Unknown(mut u) => {
            u.raw_type = NFTA_LIST_ELEM | NLA_F_NESTED;
            Expr::Unknown(u)
        }
        e => e,
    }
}

/// Largest payload of one `NFTA_SET_ELEM_LIST_ELEMENTS` nest (its length
/// is a u16), with room to spare.
const ELEMENTS_NEST_MAX: usize = 60_000;

/// Encode `elems` for `set` into element nests, expanded as the kernel
/// wants them (a range in a plain interval set is a start and an
/// end-marker one past it; in a concatenated interval set, a key and a
/// key end). Returns the encoded bytes and the start of each nest.
pub(crate) fn encode_elements(
    set: &Set,
    elems: &[Element],
    deleting: bool,
    new_set: bool,
) -> (Vec<u8>, Vec<usize>) {
    let mut buf = Vec::with_capacity(elems.len() * 48);
    let mut starts = Vec::with_capacity(elems.len() * 2);
    let interval = set.flags.contains(SetFlags::INTERVAL);
    let concat_interval = interval && set.key.is_concat();
    let mut sorted;
    let mut elems = elems;
    if interval && !concat_interval && !deleting && new_set && !elems.is_empty() {
        // As nft does for a new interval set: ranges in order, and an
        // end marker at 0 when the first range does not start there.
        sorted = elems.to_vec();
        sorted.sort_by(|a, b| a.key.cmp(&b.key));
        if sorted[0].key.iter().any(|&b| b != 0) {
            let zero = Element { key: vec![0; sorted[0].key.len()].into(), ..Default::default() };
            let mut w = AttrWriter::new(&mut buf);
            starts.push(w.len());
            zero.encode_one(&mut w, &zero.key, None, NFT_SET_ELEM_INTERVAL_END, false);
        }
        elems = &sorted;
    }
    for e in elems {
        let mut w = AttrWriter::new(&mut buf);
        if concat_interval {
            starts.push(w.len());
            let end = e.key_end.as_deref().unwrap_or(&e.key);
            e.encode_one(&mut w, &e.key, Some(end), e.flags, true);
        } else if interval {
            starts.push(w.len());
            e.encode_one(&mut w, &e.key, None, e.flags, true);
            let last = e.key_end.as_deref().unwrap_or(&e.key);
            if let Some(next) = be_increment(last) {
                starts.push(w.len());
                e.encode_one(&mut w, &next, None, NFT_SET_ELEM_INTERVAL_END, false);
            }
        } else {
            starts.push(w.len());
            e.encode_one(&mut w, &e.key, e.key_end.as_deref(), e.flags, !deleting || e.data.is_some());
        }
    }
    (buf, starts)
}

/// Group encoded element nests into runs that fit one message; returns
/// `(start, end)` byte ranges. Patches each nest's type to its 1-based
/// index within its message, as libnftnl numbers them.
pub(crate) fn group_elements(buf: &mut [u8], starts: &[usize]) -> Vec<(usize, usize)> {
    let mut groups = Vec::new();
    let mut g_start = 0usize;
    let mut idx = 0u16;
    for (i, &s) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(buf.len());
        if end - g_start > ELEMENTS_NEST_MAX && s > g_start {
            groups.push((g_start, s));
            g_start = s;
            idx = 0;
        }
        idx += 1;
        buf[s + 2..s + 4].copy_from_slice(&(idx | NLA_F_NESTED).to_ne_bytes());
    }
    if g_start < buf.len() {
        groups.push((g_start, buf.len()));
    }
    groups
}

/// Decode an `NFT_MSG_NEWSETELEM` message: `(table, set, elements)`.
pub fn decode_elements(m: &Msg<'_>) -> Result<(String, String, Vec<Element>), DecodeError> {
    let mut out = Vec::new();
    let (table, set) = decode_elements_into(m, &mut out)?;
    Ok((table.to_string(), set.to_string(), out))
}

/// [`decode_elements`] appending the elements to `out` (a listing
/// collects every message's elements in one vector, copied nowhere).
pub(crate) fn decode_elements_into<'a>(
    m: &Msg<'a>,
    out: &mut Vec<Element>,
) -> Result<(&'a str, &'a str), DecodeError> {
    let mut table = "";
    let mut set = "";
    for a in attrs_after(m.payload, 4) {
        let a = a?;
        match a.kind() {
            NFTA_SET_ELEM_LIST_TABLE => table = a.str()?,
            NFTA_SET_ELEM_LIST_SET => set = a.str()?,
            NFTA_SET_ELEM_LIST_ELEMENTS => {
                // Room for the whole message at once: a dump message
                // holds a thousand elements or more, of ~200 bytes each.
                out.reserve(a.nested().count());
                for e in a.nested() {
                    let e = e?;
                    out.push(Element::default());
                    let slot = out.last_mut().expect("just pushed");
                    if let Err(err) = slot.decode_from(&e) {
                        out.pop();
                        return Err(err);
                    }
                }
            }
            _ => {}
        }
    }
    Ok((table, set))
}

/// Merge listed elements of a plain interval set (start, end-marker
/// pairs) into ranges with inclusive ends, sorted by key.
pub fn merge_intervals(mut elems: Vec<Element>) -> Vec<Element> {
    elems.sort_by(|a, b| a.key.cmp(&b.key).then(b.is_interval_end().cmp(&a.is_interval_end())));
    let mut out: Vec<Element> = Vec::new();
    let mut open: Option<Element> = None;
    for e in elems {
        if e.is_interval_end() {
            if let Some(mut s) = open.take() {
                s.key_end = super::value::be_decrement(&e.key).map(Value::from);
                out.push(s);
            }
        } else {
            if let Some(mut s) = open.take() {
                // Start without an end: runs to the next start - 1.
                s.key_end = super::value::be_decrement(&e.key).map(Value::from);
                out.push(s);
            }
            open = Some(e);
        }
    }
    if let Some(mut s) = open {
        s.key_end = Some(vec![0xff; s.key.len()].into());
        out.push(s);
    }
    out
}

/// The data type of a map: NAT maps whose data are ranges or prefixes
/// (`10.0.0.0/24`, `10.0.0.0/24 . 80-90`) hold twice the type's length
/// (start, then end), so a type that does not fit the length is tried
/// against half of it.
fn data_key_type(id: u32, len: u32) -> KeyType {
    let kt = KeyType::from_id(id, len);
    if kt.len() == len || len % 2 != 0 {
        return kt;
    }
    let half = KeyType::from_id(id, len / 2);
    if half.len() * 2 == len {
        half
    } else {
        kt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-piece encoding of a plain element is byte for byte what the
    /// general path (nests) writes, for every key length, with and
    /// without data allowed.
    #[test]
    fn plain_elements_encode_as_the_nests_do() {
        for len in 1..=PLAIN_KEY_MAX {
            let key: Vec<u8> = (1..=len as u8).collect();
            let e = Element::new(Value::from_bytes(&key));
            for with_data in [false, true] {
                let mut fast = vec![0xaa; 4];
                e.encode_one(&mut AttrWriter::new(&mut fast), &key, None, 0, with_data);
                let mut nests = vec![0xaa; 4];
                AttrWriter::new(&mut nests).nest(NFTA_LIST_ELEM | NLA_F_NESTED, |w| {
                    super::super::expr::put_value(w, NFTA_SET_ELEM_KEY, &key);
                });
                assert_eq!(fast, nests, "key of {len} bytes, with_data {with_data}");
            }
        }
    }
}
