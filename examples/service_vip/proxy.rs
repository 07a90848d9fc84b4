//! A kube-proxy-style service proxy on netplumb: desired services in,
//! nftables transactions out, shaped like kube-proxy's nftables mode.
//!
//! ```text
//! table ip kube-proxy {
//!   map service-ips { type ipv4_addr . inet_proto . inet_service : verdict }   VIP . tcp . 80 : goto svc-web-tcp80
//!   map service-nodeports { type inet_proto . inet_service : verdict }        tcp . 30080 : goto ext-web-tcp80
//!   map no-endpoint-services / no-endpoint-nodeports                           ... : goto reject-chain
//!   map svc-web-tcp80-endpoints { typeof numgen random mod 4 : verdict }      0 : goto ep-web-tcp80-10.244.1.3, 1 : ...
//!   chain nat-prerouting  { type nat hook prerouting priority dstnat; jump services }
//!   chain nat-output      { type nat hook output priority dstnat; jump services }
//!   chain nat-postrouting { type nat hook postrouting priority srcnat; jump masquerading }
//!   chain filter-{input,forward,output} { type filter hook ... priority -110; ct state new jump ...-endpoints-check }
//!   chain services { ip daddr . meta l4proto . th dport vmap @service-ips
//!                    fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports }
//!   chain masquerading { meta mark & 0x4000 == 0 return; meta mark set meta mark ^ 0x4000; masquerade fully-random }
//!   chain mark-for-masquerade { meta mark set meta mark | 0x4000 }
//!   chain svc-web-tcp80 { ip daddr VIP meta l4proto tcp th dport 80 ip saddr != CLUSTER jump mark-for-masquerade
//!                         numgen random mod 4 vmap @svc-web-tcp80-endpoints }
//!   chain ext-web-tcp80 { jump mark-for-masquerade; goto svc-web-tcp80 }
//!   chain ep-web-tcp80-10.244.1.3 { ip saddr 10.244.1.3 jump mark-for-masquerade; meta l4proto tcp dnat to 10.244.1.3:8080 }
//!   chain reject-chain { meta l4proto tcp reject with tcp reset; reject }
//! }
//! ```
//!
//! The proxy remembers what it installed, so a sync sends only the
//! difference: a new service is a handful of operations however many
//! services exist; re-applying the same state sends nothing. An endpoint
//! change rewrites only that service's verdict state — the elements of its
//! endpoint map that changed and, when the number of endpoints changes, its
//! dispatch rule (replaced by handle, for the new modulus) — and
//! adds/deletes endpoint chains.
//!
//! Each service picks its endpoint through a *named* map
//! (`numgen random mod N vmap @svc-...-endpoints`) rather than kube-proxy's
//! inline `vmap { ... }`: the kernel handles both the same way on the
//! packet path, but binding an anonymous map walks the whole transaction
//! (`__nft_set_trans_bind`), which makes the first sync of 10,000 services
//! (340,000 operations) take minutes instead of seconds.
//!
//! What a commit costs is the kernel's (Linux 6.18; see the README's
//! "Scale of service_vip"): every commit walks every chain of every table
//! in the namespace (`nf_tables_commit`), and one that adds a rule or a jump re-validates
//! every chain reachable from the base chains, through every map element
//! (`nft_table_validate`). Both grow with the number of services, so adding
//! one service to 10,000 takes hundreds of milliseconds whatever the
//! transaction holds; netplumb's own share is a fraction of a millisecond.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ipnet::{IpNet, Ipv4Net};
use netplumb::nft::expr::{Cmp, CmpOp, Fib, FibFlags, FibResult, NatFlags, NumgenType, Reg, Verdict};
use netplumb::nft::{
    priority, Chain, ChainType, CtState, DataType, Element, Family, Field, Hook, KeyType, Nft, OpId, Policy,
    RuleBuilder, Set, Table, Transaction, Value,
};

/// The table.
pub const TABLE: &str = "kube-proxy";
/// The mark that asks for masquerading.
pub const MASQ_MARK: u32 = 0x4000;
const F: Family = Family::Ip;

/// Transport protocol of a service port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    fn number(self) -> u8 {
        match self {
            Proto::Tcp => Value::TCP,
            Proto::Udp => Value::UDP,
        }
    }
    /// `tcp` / `udp`.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One service port, as the proxy is asked to serve it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    /// `namespace/name`-like identifier (letters, digits, '-').
    pub name: String,
    /// The virtual IP.
    pub vip: Ipv4Addr,
    /// Protocol.
    pub proto: Proto,
    /// Service port.
    pub port: u16,
    /// Port on the endpoints.
    pub target_port: u16,
    /// NodePort, if any.
    pub node_port: Option<u16>,
    /// Endpoint addresses.
    pub endpoints: Vec<Ipv4Addr>,
}

impl Service {
    fn key(&self) -> String {
        format!("{}/{}/{}", self.name, self.proto.name(), self.port)
    }
    /// The service chain's name.
    pub fn chain(&self) -> String {
        format!("svc-{}-{}{}", self.name, self.proto.name(), self.port)
    }
    fn ext_chain(&self) -> String {
        format!("ext-{}-{}{}", self.name, self.proto.name(), self.port)
    }
    /// An endpoint chain's name.
    pub fn ep_chain(&self, ep: Ipv4Addr) -> String {
        format!("ep-{}-{}{}-{ep}", self.name, self.proto.name(), self.port)
    }
    /// The name of the map from `numgen random mod N` to endpoint chains.
    pub fn ep_map(&self) -> String {
        format!("{}-endpoints", self.chain())
    }
    fn ep_map_set(&self) -> Set {
        Set::numgen_vmap(F, TABLE, self.ep_map(), NumgenType::Random, self.endpoints.len() as u32)
    }
    /// Elements `slot : goto ep-...` for the given slots.
    fn ep_elements(&self, slots: impl Iterator<Item = usize>) -> Vec<Element> {
        slots
            .map(|i| {
                Element::new(Value::u32(i as u32)).verdict(Verdict::Goto(self.ep_chain(self.endpoints[i])))
            })
            .collect()
    }
    fn vip_key(&self) -> Value {
        Value::concat(&[Value::ipv4(self.vip), Value::proto(self.proto.number()), Value::port(self.port)])
    }
    fn nodeport_key(&self, port: u16) -> Value {
        Value::concat(&[Value::proto(self.proto.number()), Value::port(port)])
    }
}

/// What one sync did.
#[derive(Clone, Debug, Default)]
pub struct SyncReport {
    /// Operations in the transaction (0: nothing was sent).
    pub ops: usize,
    /// Bytes in the transaction.
    pub bytes: usize,
    /// Wall time of building and committing.
    pub elapsed: Duration,
}

/// What the kernel charges a commit, whatever it holds: see
/// [`Proxy::commit_floor`].
#[derive(Clone, Copy, Debug)]
pub struct CommitFloor {
    /// A commit that adds one empty chain: the kernel's walk over every
    /// chain of the table (`nf_tables_commit`).
    pub empty_chain: Duration,
    /// A commit that adds one `accept` rule to an unreferenced chain: that
    /// walk plus the re-validation of every chain reachable from the base
    /// chains (`nft_table_validate`), which any commit adding a rule with a
    /// verdict, NAT or lookup, or a jump/goto map element, pays.
    pub validate: Duration,
}

/// A changed service's dispatch rule in a sync.
enum Dispatch {
    /// Added or replaced by this operation: its handle comes with the commit.
    Put(OpId),
    /// Unchanged, with this handle.
    Kept(u64),
    /// None (a service without endpoints).
    None,
}

impl From<Option<OpId>> for Dispatch {
    fn from(op: Option<OpId>) -> Dispatch {
        op.map_or(Dispatch::None, Dispatch::Put)
    }
}

/// What the proxy installed for one service.
#[derive(Clone, Debug)]
struct Installed {
    svc: Service,
    /// Handle of the `numgen ... vmap` rule in the service chain.
    dispatch: Option<u64>,
}

/// The proxy: an nftables handle and what it installed.
pub struct Proxy {
    nft: Nft,
    cluster_cidr: Ipv4Net,
    installed: BTreeMap<String, Installed>,
    base: bool,
}

/// The table's verdict maps: VIP maps keyed by
/// `ip daddr . meta l4proto . th dport`, NodePort maps by
/// `meta l4proto . th dport`.
const MAPS: [&str; 4] = ["service-ips", "service-nodeports", "no-endpoint-services", "no-endpoint-nodeports"];

/// The verdict map `name` (one of [`MAPS`]), as declared.
fn set(name: &str) -> Set {
    debug_assert!(MAPS.contains(&name), "unknown map {name}");
    let key = if name.ends_with("nodeports") {
        KeyType::concat(&[DataType::INET_PROTO, DataType::INET_SERVICE])
    } else {
        KeyType::concat(&[DataType::IPV4_ADDR, DataType::INET_PROTO, DataType::INET_SERVICE])
    };
    Set::map(F, TABLE, name, key, KeyType::single(DataType::VERDICT))
}

type R<T> = netplumb::Result<T>;

impl Proxy {
    /// A proxy for the table in `nft`'s namespace.
    pub fn new(nft: Nft, cluster_cidr: Ipv4Net) -> Proxy {
        Proxy { nft, cluster_cidr, installed: BTreeMap::new(), base: false }
    }

    fn rb(chain: &str) -> RuleBuilder {
        RuleBuilder::new(F, TABLE, chain)
    }

    /// The table, maps and fixed chains (first sync only).
    fn add_base(&self, tx: &mut Transaction) -> R<()> {
        tx.add_table(&Table::new(F, TABLE))?;
        for name in MAPS {
            tx.add_set(&set(name))?;
        }
        let base = [
            ("nat-prerouting", ChainType::Nat, Hook::Prerouting, priority::DSTNAT),
            ("nat-output", ChainType::Nat, Hook::Output, priority::DSTNAT),
            ("nat-postrouting", ChainType::Nat, Hook::Postrouting, priority::SRCNAT),
            ("filter-input", ChainType::Filter, Hook::Input, priority::FILTER - 110),
            ("filter-forward", ChainType::Filter, Hook::Forward, priority::FILTER - 110),
            ("filter-output", ChainType::Filter, Hook::Output, priority::FILTER - 110),
        ];
        for (name, ty, hook, prio) in base {
            tx.add_chain(&Chain::new(F, TABLE, name).base(ty, hook, prio).policy(Policy::Accept))?;
        }
        for name in [
            "services",
            "masquerading",
            "mark-for-masquerade",
            "service-endpoints-check",
            "nodeport-endpoints-check",
            "reject-chain",
        ] {
            tx.add_chain(&Chain::new(F, TABLE, name))?;
        }
        let fib_local =
            |b: RuleBuilder| {
                b.expr(Fib { dreg: Reg::R1, result: FibResult::AddrType, flags: FibFlags::DADDR })
                    .expr(Cmp::new(Reg::R1, CmpOp::Eq, 2u32.to_ne_bytes().to_vec()))
                // RTN_LOCAL
            };
        let rules = vec![
            Self::rb("nat-prerouting").jump("services"),
            Self::rb("nat-output").jump("services"),
            Self::rb("nat-postrouting").jump("masquerading"),
            Self::rb("filter-input").ct_state(CtState::NEW).jump("nodeport-endpoints-check"),
            Self::rb("filter-input").ct_state(CtState::NEW).jump("service-endpoints-check"),
            Self::rb("filter-forward").ct_state(CtState::NEW).jump("service-endpoints-check"),
            Self::rb("filter-output").ct_state(CtState::NEW).jump("service-endpoints-check"),
            Self::rb("services")
                .vmap(&[Field::IP_DADDR, Field::META_L4PROTO, Field::TH_DPORT], "service-ips"),
            fib_local(Self::rb("services"))
                .prefix(Field::IP_DADDR, "127.0.0.0/8".parse().expect("valid"), true)
                .vmap(&[Field::META_L4PROTO, Field::TH_DPORT], "service-nodeports"),
            Self::rb("masquerading").mark_masked(MASQ_MARK, 0, false).ret(),
            Self::rb("masquerading").mark_xor(MASQ_MARK),
            Self::rb("masquerading").masquerade(NatFlags::FULLY_RANDOM),
            Self::rb("mark-for-masquerade").mark_or(MASQ_MARK),
            Self::rb("service-endpoints-check")
                .vmap(&[Field::IP_DADDR, Field::META_L4PROTO, Field::TH_DPORT], "no-endpoint-services"),
            fib_local(Self::rb("nodeport-endpoints-check"))
                .vmap(&[Field::META_L4PROTO, Field::TH_DPORT], "no-endpoint-nodeports"),
            Self::rb("reject-chain").eq(Field::META_L4PROTO, Value::proto(Value::TCP)).reject_tcp_reset(),
            Self::rb("reject-chain").reject(),
        ];
        for r in rules {
            tx.add_rule(&r.build()?)?;
        }
        Ok(())
    }

    fn dispatch_rule(svc: &Service) -> R<netplumb::nft::Rule> {
        let n = svc.endpoints.len() as u32;
        Self::rb(&svc.chain()).numgen_vmap_named(NumgenType::Random, n, &svc.ep_map()).build()
    }

    /// Add the dispatch rule (or replace the one with `handle`), asking
    /// for its echo: its handle is all the proxy needs back.
    fn put_dispatch(tx: &mut Transaction, svc: &Service, handle: Option<u64>) -> R<OpId> {
        tx.with_echo();
        let r = Self::dispatch_rule(svc)?;
        let op = match handle {
            Some(h) => tx.replace_rule(&r, h),
            None => tx.add_rule(&r),
        };
        tx.without_echo();
        op
    }

    fn add_endpoint(tx: &mut Transaction, svc: &Service, ep: Ipv4Addr) -> R<()> {
        let chain = svc.ep_chain(ep);
        tx.add_chain(&Chain::new(F, TABLE, &chain))?;
        tx.add_rule(&Self::rb(&chain).eq(Field::IP_SADDR, ep).jump("mark-for-masquerade").build()?)?;
        tx.add_rule(
            &Self::rb(&chain)
                .eq(Field::META_L4PROTO, Value::proto(svc.proto.number()))
                .dnat(Some(ep.into()), Some(svc.target_port))
                .build()?,
        )?;
        Ok(())
    }

    fn remove_chain(tx: &mut Transaction, chain: &str) -> R<()> {
        tx.flush_chain(F, TABLE, chain)?;
        tx.delete_chain(F, TABLE, chain)?;
        Ok(())
    }

    /// Add a service with endpoints: chains, rules, map elements. Returns
    /// the op of its dispatch rule.
    fn add_service(&self, tx: &mut Transaction, svc: &Service) -> R<Option<OpId>> {
        if svc.endpoints.is_empty() {
            let e = Element::new(svc.vip_key()).verdict(Verdict::Goto("reject-chain".into()));
            tx.add_elements(&set("no-endpoint-services"), &[e])?;
            if let Some(np) = svc.node_port {
                let e = Element::new(svc.nodeport_key(np)).verdict(Verdict::Goto("reject-chain".into()));
                tx.add_elements(&set("no-endpoint-nodeports"), &[e])?;
            }
            return Ok(None);
        }
        let chain = svc.chain();
        tx.add_chain(&Chain::new(F, TABLE, &chain))?;
        for ep in &svc.endpoints {
            Self::add_endpoint(tx, svc, *ep)?;
        }
        let cidr: IpNet = self.cluster_cidr.into();
        tx.add_rule(
            &Self::rb(&chain)
                .eq(Field::IP_DADDR, svc.vip)
                .eq(Field::META_L4PROTO, Value::proto(svc.proto.number()))
                .eq(Field::TH_DPORT, Value::port(svc.port))
                .prefix(Field::IP_SADDR, cidr, true)
                .jump("mark-for-masquerade")
                .build()?,
        )?;
        let map = svc.ep_map_set();
        tx.add_set(&map)?;
        tx.add_elements(&map, &svc.ep_elements(0..svc.endpoints.len()))?;
        let op = Self::put_dispatch(tx, svc, None)?;
        tx.add_elements(
            &set("service-ips"),
            &[Element::new(svc.vip_key()).verdict(Verdict::Goto(chain.clone()))],
        )?;
        if let Some(np) = svc.node_port {
            let ext = svc.ext_chain();
            tx.add_chain(&Chain::new(F, TABLE, &ext))?;
            tx.add_rule(&Self::rb(&ext).jump("mark-for-masquerade").build()?)?;
            tx.add_rule(&Self::rb(&ext).goto(&chain).build()?)?;
            tx.add_elements(
                &set("service-nodeports"),
                &[Element::new(svc.nodeport_key(np)).verdict(Verdict::Goto(ext))],
            )?;
        }
        Ok(Some(op))
    }

    /// Remove everything of an installed service.
    fn remove_service(tx: &mut Transaction, svc: &Service) -> R<()> {
        if svc.endpoints.is_empty() {
            tx.delete_elements(&set("no-endpoint-services"), &[Element::new(svc.vip_key())])?;
            if let Some(np) = svc.node_port {
                tx.delete_elements(&set("no-endpoint-nodeports"), &[Element::new(svc.nodeport_key(np))])?;
            }
            return Ok(());
        }
        tx.delete_elements(&set("service-ips"), &[Element::new(svc.vip_key())])?;
        if let Some(np) = svc.node_port {
            tx.delete_elements(&set("service-nodeports"), &[Element::new(svc.nodeport_key(np))])?;
            Self::remove_chain(tx, &svc.ext_chain())?;
        }
        // The dispatch rule goes with the flush, then its map can go.
        tx.flush_chain(F, TABLE, &svc.chain())?;
        tx.delete_set(F, TABLE, &svc.ep_map())?;
        tx.delete_chain(F, TABLE, &svc.chain())?;
        for ep in &svc.endpoints {
            Self::remove_chain(tx, &svc.ep_chain(*ep))?;
        }
        Ok(())
    }

    /// Bring the kernel to `desired`, sending only the difference as one
    /// atomic transaction. Sends nothing when nothing changed.
    pub async fn sync(&mut self, desired: &[Service]) -> R<SyncReport> {
        let t0 = Instant::now();
        let mut tx = Transaction::new();
        // Only dispatch rules are echoed (put_dispatch): their handles are
        // the only ones the proxy keeps.
        tx.without_echo();
        if !self.base {
            self.add_base(&mut tx)?;
        }
        let want: BTreeMap<String, &Service> = desired.iter().map(|s| (s.key(), s)).collect();
        // Gone or changed in a way that needs a rebuild.
        let mut pending: Vec<(String, Service, Dispatch)> = Vec::new();
        let mut removed = Vec::new();
        for (key, inst) in &self.installed {
            match want.get(key) {
                None => {
                    Self::remove_service(&mut tx, &inst.svc)?;
                    removed.push(key.clone());
                }
                Some(w) if **w == inst.svc => {}
                Some(w) => {
                    let old = &inst.svc;
                    let same_shape =
                        old.vip == w.vip && old.node_port == w.node_port && old.target_port == w.target_port;
                    if same_shape && !old.endpoints.is_empty() && !w.endpoints.is_empty() {
                        // The partial update: new endpoint chains, the
                        // service's verdict state rewritten (the endpoint
                        // map's changed slots; the dispatch rule, replaced
                        // by handle, only if the modulus changes), old
                        // endpoint chains deleted. Nothing else is touched.
                        for ep in w.endpoints.iter().filter(|e| !old.endpoints.contains(e)) {
                            Self::add_endpoint(&mut tx, w, *ep)?;
                        }
                        let handle = inst.dispatch.ok_or_else(|| {
                            netplumb::Error::invalid("proxy state", format!("no dispatch handle for {key}"))
                        })?;
                        let (n_old, n_new) = (old.endpoints.len(), w.endpoints.len());
                        let same = |i: usize| i < n_old && i < n_new && old.endpoints[i] == w.endpoints[i];
                        let gone: Vec<Element> = (0..n_old)
                            .filter(|&i| !same(i))
                            .map(|i| Element::new(Value::u32(i as u32)))
                            .collect();
                        let map = w.ep_map_set();
                        if !gone.is_empty() {
                            tx.delete_elements(&map, &gone)?;
                        }
                        let changed: Vec<usize> = (0..n_new).filter(|&i| !same(i)).collect();
                        if !changed.is_empty() {
                            tx.add_elements(&map, &w.ep_elements(changed.into_iter()))?;
                        }
                        let op = if n_old != n_new {
                            Some(Self::put_dispatch(&mut tx, w, Some(handle))?)
                        } else {
                            None
                        };
                        for ep in old.endpoints.iter().filter(|e| !w.endpoints.contains(e)) {
                            Self::remove_chain(&mut tx, &old.ep_chain(*ep))?;
                        }
                        pending.push((
                            key.clone(),
                            (*w).clone(),
                            op.map_or(Dispatch::Kept(handle), Dispatch::Put),
                        ));
                    } else {
                        Self::remove_service(&mut tx, old)?;
                        let op = self.add_service(&mut tx, w)?;
                        pending.push((key.clone(), (*w).clone(), Dispatch::from(op)));
                    }
                }
            }
        }
        for (key, w) in &want {
            if !self.installed.contains_key(key) {
                let op = self.add_service(&mut tx, w)?;
                pending.push((key.clone(), (*w).clone(), Dispatch::from(op)));
            }
        }
        let report = SyncReport { ops: tx.len(), bytes: tx.byte_len(), elapsed: Duration::ZERO };
        if tx.is_empty() {
            return Ok(SyncReport { elapsed: t0.elapsed(), ..report });
        }
        let done = self.nft.commit(&tx).await?;
        self.base = true;
        for k in removed {
            self.installed.remove(&k);
        }
        for (key, svc, op) in pending {
            let dispatch = match op {
                Dispatch::Put(op) => Some(done.handle(op).ok_or_else(|| {
                    netplumb::Error::invalid(
                        "commit",
                        format!("no handle returned for the dispatch rule of {key}"),
                    )
                })?),
                Dispatch::Kept(handle) => Some(handle),
                Dispatch::None => None,
            };
            self.installed.insert(key, Installed { svc, dispatch });
        }
        Ok(SyncReport { elapsed: t0.elapsed(), ..report })
    }

    /// Every rule of the table as (chain, handle), for checking what a
    /// partial update left alone.
    pub async fn rule_handles(&self) -> R<Vec<(String, u64)>> {
        let mut v: Vec<(String, u64)> = self
            .nft
            .list_rules(Some(F), Some(TABLE), None)
            .await?
            .into_iter()
            .filter_map(|r| r.handle.map(|h| (r.chain, h)))
            .collect();
        v.sort();
        Ok(v)
    }

    /// Chains in the table: the fixed ones and, per service with
    /// endpoints, its service chain, endpoint chains and NodePort chain.
    pub fn chain_count(&self) -> usize {
        let per_service = |s: &Service| {
            if s.endpoints.is_empty() {
                0
            } else {
                1 + s.endpoints.len() + usize::from(s.node_port.is_some())
            }
        };
        12 + self.installed.values().map(|i| per_service(&i.svc)).sum::<usize>()
    }

    /// What the kernel charges any commit at the table's current size,
    /// measured with a scratch chain that is removed again (medians of
    /// `reps`): a commit adding one empty chain (nothing to validate), and
    /// one adding an `accept` rule to that unreferenced chain (which makes
    /// the kernel re-validate the table).
    pub async fn commit_floor(&self, reps: usize) -> R<CommitFloor> {
        const PROBE: &str = "commit-probe";
        let (mut chain, mut rule) = (Vec::new(), Vec::new());
        for _ in 0..reps.max(1) {
            let mut tx = Transaction::new();
            tx.add_chain(&Chain::new(F, TABLE, PROBE))?;
            let t = Instant::now();
            self.nft.commit(&tx).await?;
            chain.push(t.elapsed());
            let mut tx = Transaction::new();
            tx.without_echo();
            tx.add_rule(&Self::rb(PROBE).accept().build()?)?;
            let t = Instant::now();
            let r = self.nft.commit(&tx).await;
            rule.push(t.elapsed());
            let mut tx = Transaction::new();
            Self::remove_chain(&mut tx, PROBE)?;
            self.nft.commit(&tx).await?;
            r?;
        }
        let median = |mut v: Vec<Duration>| {
            v.sort();
            v[v.len() / 2]
        };
        Ok(CommitFloor { empty_chain: median(chain), validate: median(rule) })
    }

    /// The handle of a service's dispatch rule.
    pub fn dispatch_handle(&self, svc: &Service) -> Option<u64> {
        self.installed.get(&svc.key()).and_then(|i| i.dispatch)
    }
}
