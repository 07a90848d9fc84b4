//! A whole ruleset as listed: tables with their chains, rules, sets and
//! objects, printable in `nft` syntax.

use super::{Chain, Element, Family, Object, Rule, Set, Table};

/// A set with its elements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetWithElements {
    /// The set.
    pub set: Set,
    /// Its elements as the kernel lists them.
    pub elements: Vec<Element>,
}

/// Everything listed from one namespace: what `nft list ruleset` shows.
/// `Display` prints it in `nft` syntax that `nft -f` accepts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ruleset {
    /// Tables, in kernel order.
    pub tables: Vec<Table>,
    /// Chains, in kernel order.
    pub chains: Vec<Chain>,
    /// Rules, in kernel order (chain by chain).
    pub rules: Vec<Rule>,
    /// Sets (anonymous ones included) with their elements.
    pub sets: Vec<SetWithElements>,
    /// Named objects.
    pub objects: Vec<Object>,
    /// Interface names by index in the listed namespace, for printing
    /// `iif "lo"` as nft does (nft resolves them when it lists). Empty
    /// unless filled (see [`Ruleset::set_ifnames`]); an index without a
    /// name prints as a number.
    pub ifnames: std::collections::BTreeMap<u32, String>,
}

impl Ruleset {
    /// Assemble a ruleset from listed parts.
    pub fn new(
        tables: Vec<Table>,
        chains: Vec<Chain>,
        rules: Vec<Rule>,
        sets: Vec<SetWithElements>,
        objects: Vec<Object>,
    ) -> Ruleset {
        Ruleset { tables, chains, rules, sets, objects, ifnames: Default::default() }
    }

    /// The table `family`/`name`.
    pub fn table(&self, family: Family, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.family == family && t.name == name)
    }

    /// The chains of a table.
    pub fn chains_of<'a>(&'a self, family: Family, table: &'a str) -> impl Iterator<Item = &'a Chain> + 'a {
        self.chains.iter().filter(move |c| c.family == family && c.table == table)
    }

    /// The rules of a chain, in order.
    pub fn rules_of<'a>(
        &'a self,
        family: Family,
        table: &'a str,
        chain: &'a str,
    ) -> impl Iterator<Item = &'a Rule> + 'a {
        self.rules.iter().filter(move |r| r.family == family && r.table == table && r.chain == chain)
    }

    /// Record the interface names of the namespace the ruleset was listed
    /// from (index, name), so that `iif`/`oif` matches print names as
    /// `nft list ruleset` does: `iif "lo"` rather than `iif 1`.
    pub fn set_ifnames(&mut self, names: impl IntoIterator<Item = (u32, String)>) {
        self.ifnames = names.into_iter().collect();
    }

    /// A set (or map) by name.
    pub fn set(&self, family: Family, table: &str, name: &str) -> Option<&SetWithElements> {
        self.sets.iter().find(|s| s.set.family == family && s.set.table == table && s.set.name == name)
    }
}

impl std::fmt::Display for Ruleset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&super::render::ruleset(self))
    }
}

impl Ruleset {
    /// Add everything in this ruleset to `tx`, in an order the kernel
    /// accepts (tables, chains, objects, sets and their elements, then
    /// rules with their anonymous sets): copying a listed ruleset into
    /// another namespace is `ruleset.write_to(&mut tx)` and a commit.
    pub fn write_to(&self, tx: &mut super::Transaction) -> crate::error::Result<()> {
        use super::expr::{Expr, Objref};
        use super::set::SetFlags;
        use std::collections::HashMap;

        for t in &self.tables {
            let mut t = t.clone();
            t.handle = None;
            tx.add_table(&t)?;
        }
        for c in &self.chains {
            tx.add_chain(c)?;
        }
        for o in &self.objects {
            tx.add_object(o)?;
        }
        let mut anon: HashMap<(Family, &str, &str), &SetWithElements> = HashMap::new();
        for s in &self.sets {
            if s.set.flags.contains(SetFlags::ANONYMOUS) {
                anon.insert((s.set.family, &s.set.table, &s.set.name), s);
                continue;
            }
            tx.add_set(&s.set)?;
            let elems = writable_elements(s);
            if !elems.is_empty() {
                tx.add_elements(&s.set, &elems)?;
            }
        }
        for r in &self.rules {
            let mut r = r.clone();
            r.handle = None;
            r.position = None;
            let mut local: HashMap<String, u32> = HashMap::new();
            let mut sets = Vec::new();
            let mut resolve = |name: &mut String, id: &mut Option<u32>| {
                let Some(s) = anon.get(&(r.family, r.table.as_str(), name.as_str())) else { return };
                let idx = *local.entry(name.clone()).or_insert_with(|| {
                    let mut set = s.set.clone();
                    set.name = if set.data.is_some() { "__map%d".into() } else { "__set%d".into() };
                    set.handle = None;
                    sets.push(super::AnonSet { set, elements: writable_elements(s) });
                    (sets.len() - 1) as u32
                });
                *name = sets[idx as usize].set.name.clone();
                *id = Some(idx);
            };
            for e in &mut r.exprs {
                match e {
                    Expr::Lookup(l) => resolve(&mut l.set, &mut l.set_id),
                    Expr::Dynset(d) => resolve(&mut d.set, &mut d.set_id),
                    Expr::Objref(Objref::Map { set, set_id, .. }) => resolve(set, set_id),
                    _ => {}
                }
            }
            r.anon_sets = sets;
            tx.add_rule(&r)?;
        }
        Ok(())
    }
}

/// Listed elements as elements to add: interval markers merged into
/// ranges, remaining time dropped.
fn writable_elements(s: &SetWithElements) -> Vec<Element> {
    use super::set::SetFlags;
    let mut v = if s.set.flags.contains(SetFlags::INTERVAL) && !s.set.key.is_concat() {
        super::merge_intervals(s.elements.clone())
    } else {
        s.elements.clone()
    };
    for e in &mut v {
        e.expiration = None;
        e.flags = 0;
        if e.timeout.is_some() && e.timeout == s.set.timeout {
            e.timeout = None;
        }
    }
    v
}
