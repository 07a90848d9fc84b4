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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ipnet::{IpNet, Ipv4Net};
use netplumb::nft::expr::{
    Cmp, CmpOp, Fib, FibFlags, FibResult, Lookup, Nat, NatFlags, NatType, Numgen, NumgenType, Reg, Verdict,
};
use netplumb::nft::{
    priority, Chain, ChainType, CtState, DataType, Element, Family, Field, Hook, KeyType, Nft, OpId, Policy,
    RuleBuilder, Set, Table, Transaction, Value,
};

/// The table.
pub const TABLE: &str = "kube-proxy";
/// The compact shape's maps from slot to `endpoint . port` are
/// `endpoints-0` .. `endpoints-63`; a service's slots are all in one of them.
pub const ENDPOINTS: &str = "endpoints";
/// How many endpoint maps the compact shape spreads services over. The
/// kernel checks every element added to a map against every rule using
/// the map, and walks every element of a map when a rule starts using it
/// (`nft_add_set_elem`, `nf_tables_bind_set`): with one map for all
/// services a cold sync would cost elements × services; with 64 it costs a
/// 64th of that, and adding a service walks a 64th of the endpoints.
pub const SHARDS: u32 = 64;
/// The compact shape's set of `endpoint . endpoint` pairs to masquerade.
pub const HAIRPIN: &str = "hairpin";

/// How services are laid out in the table.
///
/// - [`Shape::KubeProxy`] (the default): kube-proxy's nftables mode, a
///   chain per endpoint and a `numgen` verdict map per service (module
///   docs).
/// - [`Shape::Compact`]: no chain per endpoint and no map per service.
///   Shared maps from slot to endpoint and port ([`SHARDS`] of them), each
///   service owning the slots `K .. K+N-1` of one; its chain holds the
///   masquerade-mark rule and one `meta l4proto tcp dnat ip to numgen
///   random mod N offset K map @endpoints-S`; hairpin traffic is masqueraded in `nat-postrouting` by
///   `ip saddr . ip daddr @hairpin masquerade`, one `ep . ep` element per
///   endpoint address. The kernel re-validates 2 rules per service on a
///   commit instead of 22 rules in 11 chains and 10 map elements, and
///   creates no named set per service (README, "Scale of service_vip").
///
/// ```text
/// map endpoints-S { typeof numgen random mod 1 : ip daddr . th dport } 0 : 10.244.1.3 . 8080, ...
/// set hairpin { type ipv4_addr . ipv4_addr }                            10.244.1.3 . 10.244.1.3, ...
/// chain nat-postrouting { ...; ip saddr . ip daddr @hairpin masquerade; jump masquerading }
/// chain svc-web-tcp80 { ip daddr VIP ... ip saddr != CLUSTER jump mark-for-masquerade
///                       meta l4proto tcp dnat ip to numgen random mod 4 offset 0 map @endpoints-S }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Shape {
    /// A chain per endpoint, a verdict map per service.
    #[default]
    KubeProxy,
    /// One shared endpoint map, one dispatch rule per service.
    Compact,
}

impl std::str::FromStr for Shape {
    type Err = String;
    fn from_str(s: &str) -> Result<Shape, String> {
        match s {
            "kube-proxy" => Ok(Shape::KubeProxy),
            "compact" => Ok(Shape::Compact),
            _ => Err(format!("shape: {s:?} is neither kube-proxy nor compact")),
        }
    }
}

impl Shape {
    /// `kube-proxy` / `compact`.
    pub fn name(self) -> &'static str {
        match self {
            Shape::KubeProxy => "kube-proxy",
            Shape::Compact => "compact",
        }
    }
}
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
    pub fn key(&self) -> String {
        let mut k = String::new();
        self.key_into(&mut k);
        k
    }
    /// [`Service::key`] written into `buf` (cleared first), so a sync over
    /// many services reuses one buffer instead of allocating a key each.
    fn key_into(&self, buf: &mut String) {
        buf.clear();
        let _ = write!(buf, "{}/{}/{}", self.name, self.proto.name(), self.port);
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
    /// Of which the commit: sending the transaction and reading the
    /// kernel's answer. The rest is the proxy's own diff and encoding.
    pub commit: Duration,
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

/// One change for [`Proxy::apply`].
#[derive(Clone, Copy, Debug)]
pub enum Change<'a> {
    /// Install this service, or bring it to this state (keyed by
    /// [`Service::key`]).
    Upsert(&'a Service),
    /// Remove the service with this [`Service::key`].
    Remove(&'a str),
}

/// What the proxy installed for one service.
#[derive(Clone, Debug)]
struct Installed {
    svc: Service,
    /// Handle of the `numgen ...` rule in the service chain.
    dispatch: Option<u64>,
    /// Compact shape: its block of slots in the endpoint map.
    block: Option<Block>,
    /// The last sync whose desired state held this service.
    seen: u64,
}

/// Compact shape: the slots `offset .. offset + cap` of endpoint map
/// `shard`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Block {
    shard: u32,
    offset: u32,
    cap: u32,
}

/// Compact shape: blocks of slots per endpoint map, by capacity (powers of
/// two).
#[derive(Clone, Debug, Default)]
struct Slots {
    /// Per shard: free blocks by capacity, and the next unused slot.
    shards: BTreeMap<u32, (BTreeMap<u32, Vec<u32>>, u32)>,
}

impl Slots {
    fn alloc(&mut self, shard: u32, n: usize) -> Block {
        let cap = (n.max(1) as u32).next_power_of_two();
        let (free, next) = self.shards.entry(shard).or_default();
        let offset = match free.get_mut(&cap).and_then(Vec::pop) {
            Some(o) => o,
            None => {
                *next += cap;
                *next - cap
            }
        };
        Block { shard, offset, cap }
    }
    fn free(&mut self, b: Block) {
        self.shards.entry(b.shard).or_default().0.entry(b.cap).or_default().push(b.offset);
    }
}

/// The endpoint map a service's slots live in (FNV-1a of its key).
fn shard_of(svc: &Service) -> u32 {
    let h = svc.key().bytes().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    h % SHARDS
}

/// The proxy: an nftables handle and what it installed.
pub struct Proxy {
    nft: Nft,
    cluster_cidr: Ipv4Net,
    shape: Shape,
    /// By [`Service::key`]. A hash map: a sync looks every desired
    /// service up in it, and at 10,000 services the ordered map's string
    /// comparisons and the per-sync key allocations were as much CPU as the
    /// kernel's whole commit of an added service (README, "Scale of
    /// service_vip").
    installed: HashMap<String, Installed>,
    /// Counts syncs; marks the installed services a sync still wants.
    epoch: u64,
    base: bool,
    /// Compact shape: how many installed services have each endpoint
    /// address (its `hairpin` element exists while this is > 0).
    hairpin: BTreeMap<Ipv4Addr, usize>,
    slots: Slots,
}

/// Changes to the compact shape's shared state during one sync, applied
/// when the commit succeeds.
#[derive(Default)]
struct Pending {
    slots: Slots,
    /// Blocks freed by this sync: reusable only after its commit.
    freed: Vec<Block>,
    hairpin: BTreeMap<Ipv4Addr, isize>,
    hairpin_add: BTreeSet<Ipv4Addr>,
    hairpin_del: BTreeSet<Ipv4Addr>,
    /// Endpoint map slots to add, sent after every rule of the
    /// transaction: a rule that starts using the map makes the kernel walk
    /// every element it holds at that point (`nf_tables_bind_set`), so
    /// elements added before the rules would make a cold sync quadratic.
    slots_add: BTreeMap<u32, Vec<Element>>,
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
    /// A proxy for the table in `nft`'s namespace, laying services out in
    /// `shape`.
    pub fn with_shape(nft: Nft, cluster_cidr: Ipv4Net, shape: Shape) -> Proxy {
        Proxy {
            nft,
            cluster_cidr,
            shape,
            installed: HashMap::new(),
            epoch: 0,
            base: false,
            hairpin: BTreeMap::new(),
            slots: Slots::default(),
        }
    }

    /// The shape it lays services out in.
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// The compact shape's endpoint map `shard` (`endpoints-N`).
    pub fn endpoint_map(shard: u32) -> R<Set> {
        let name = format!("{ENDPOINTS}-{shard}");
        Set::numgen_map(F, TABLE, name, NumgenType::Random, 1, &[Field::IP_DADDR, Field::TH_DPORT])
    }

    fn hairpin_set() -> Set {
        Set::new(F, TABLE, HAIRPIN, KeyType::concat(&[DataType::IPV4_ADDR, DataType::IPV4_ADDR]))
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
        if self.shape == Shape::Compact {
            for shard in 0..SHARDS {
                tx.add_set(&Self::endpoint_map(shard)?)?;
            }
            tx.add_set(&Self::hairpin_set())?;
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
        let mut rules = vec![
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
        if self.shape == Shape::Compact {
            // Hairpin: a pod reaching itself through a service.
            rules.insert(
                2,
                Self::rb("nat-postrouting")
                    .in_set(&[Field::IP_SADDR, Field::IP_DADDR], HAIRPIN)
                    .masquerade(NatFlags::empty()),
            );
        }
        for r in rules {
            tx.add_rule(&r.build()?)?;
        }
        Ok(())
    }

    /// Compact shape: `meta l4proto P dnat ip to numgen random mod N
    /// offset K map @endpoints`.
    fn compact_dispatch_rule(svc: &Service, block: Block) -> R<netplumb::nft::Rule> {
        let n = svc.endpoints.len() as u32;
        Self::rb(&svc.chain())
            .eq(Field::META_L4PROTO, Value::proto(svc.proto.number()))
            .expr(Numgen { dreg: Reg::R1, kind: NumgenType::Random, modulus: n, offset: block.offset })
            .expr(Lookup::map(Reg::R1, format!("{ENDPOINTS}-{}", block.shard), Reg::R1))
            // The address in the first 32-bit register of R1, the port in
            // the next (register 9), as nft loads `ip daddr . th dport`.
            .expr(Nat {
                kind: NatType::Dnat,
                family: 2,
                addr_min: Some(Reg::R1),
                addr_max: None,
                proto_min: Some(Reg(9)),
                proto_max: None,
                flags: None,
            })
            .build()
    }

    /// Compact shape: the endpoint map's elements for slots `slots`.
    fn compact_slots(svc: &Service, block: Block, slots: impl Iterator<Item = usize>) -> Vec<Element> {
        slots
            .map(|i| {
                Element::new(Value::u32(block.offset + i as u32))
                    .to(Value::concat(&[Value::ipv4(svc.endpoints[i]), Value::port(svc.target_port)]))
            })
            .collect()
    }

    /// Compact shape: count `ep` in (`+1`) or out (`-1`) of the hairpin
    /// set, adding or deleting its element when the count leaves or
    /// reaches zero.
    fn hairpin_ref(&self, p: &mut Pending, ep: Ipv4Addr, by: isize) {
        let base = self.hairpin.get(&ep).copied().unwrap_or(0) as isize;
        let d = p.hairpin.entry(ep).or_default();
        let before = base + *d;
        *d += by;
        let after = base + *d;
        if before == 0 && after > 0 {
            if !p.hairpin_del.remove(&ep) {
                p.hairpin_add.insert(ep);
            }
        } else if before > 0 && after == 0 && !p.hairpin_add.remove(&ep) {
            p.hairpin_del.insert(ep);
        }
    }

    fn hairpin_elements(eps: &BTreeSet<Ipv4Addr>) -> Vec<Element> {
        eps.iter().map(|e| Element::new(Value::concat(&[Value::ipv4(*e), Value::ipv4(*e)]))).collect()
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
    /// the op of its dispatch rule and (compact shape) its block of slots.
    fn add_service(
        &self,
        tx: &mut Transaction,
        svc: &Service,
        p: &mut Pending,
    ) -> R<(Option<OpId>, Option<Block>)> {
        if svc.endpoints.is_empty() {
            let e = Element::new(svc.vip_key()).verdict(Verdict::Goto("reject-chain".into()));
            tx.add_elements(&set("no-endpoint-services"), &[e])?;
            if let Some(np) = svc.node_port {
                let e = Element::new(svc.nodeport_key(np)).verdict(Verdict::Goto("reject-chain".into()));
                tx.add_elements(&set("no-endpoint-nodeports"), &[e])?;
            }
            return Ok((None, None));
        }
        let chain = svc.chain();
        tx.add_chain(&Chain::new(F, TABLE, &chain))?;
        if self.shape == Shape::KubeProxy {
            for ep in &svc.endpoints {
                Self::add_endpoint(tx, svc, *ep)?;
            }
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
        let (op, block) = match self.shape {
            Shape::KubeProxy => {
                let map = svc.ep_map_set();
                tx.add_set(&map)?;
                tx.add_elements(&map, &svc.ep_elements(0..svc.endpoints.len()))?;
                (Self::put_dispatch(tx, svc, None)?, None)
            }
            Shape::Compact => {
                let block = p.slots.alloc(shard_of(svc), svc.endpoints.len());
                p.slots_add.entry(block.shard).or_default().extend(Self::compact_slots(
                    svc,
                    block,
                    0..svc.endpoints.len(),
                ));
                for ep in &svc.endpoints {
                    self.hairpin_ref(p, *ep, 1);
                }
                tx.with_echo();
                let op = tx.add_rule(&Self::compact_dispatch_rule(svc, block)?);
                tx.without_echo();
                (op?, Some(block))
            }
        };
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
        Ok((Some(op), block))
    }

    /// Remove everything of an installed service.
    fn remove_service(&self, tx: &mut Transaction, inst: &Installed, p: &mut Pending) -> R<()> {
        let svc = &inst.svc;
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
        if let Some(block) = inst.block {
            Self::remove_chain(tx, &svc.chain())?;
            let slots: Vec<Element> =
                (0..svc.endpoints.len()).map(|i| Element::new(Value::u32(block.offset + i as u32))).collect();
            tx.delete_elements(&Self::endpoint_map(block.shard)?, &slots)?;
            for ep in &svc.endpoints {
                self.hairpin_ref(p, *ep, -1);
            }
            p.freed.push(block);
            return Ok(());
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

    /// Compact shape: the partial update of a service whose endpoints
    /// changed. Within its block: the changed slots rewritten, the dispatch
    /// rule replaced (by handle) only if the modulus changes. Past its
    /// block's capacity: a new block, all slots written there, the rule
    /// replaced, the old slots deleted. Returns the dispatch op if replaced.
    fn compact_update(
        &self,
        tx: &mut Transaction,
        old: &Service,
        w: &Service,
        block: Block,
        handle: u64,
        p: &mut Pending,
    ) -> R<(Option<OpId>, Block)> {
        let (n_old, n_new) = (old.endpoints.len(), w.endpoints.len());
        let map = Self::endpoint_map(block.shard)?;
        let slot = |b: Block, i: usize| Element::new(Value::u32(b.offset + i as u32));
        for ep in &w.endpoints {
            self.hairpin_ref(p, *ep, 1);
        }
        for ep in &old.endpoints {
            self.hairpin_ref(p, *ep, -1);
        }
        let replace = |tx: &mut Transaction, b: Block| -> R<OpId> {
            tx.with_echo();
            let op = tx.replace_rule(&Self::compact_dispatch_rule(w, b)?, handle);
            tx.without_echo();
            op
        };
        if n_new as u32 > block.cap {
            let nb = p.slots.alloc(block.shard, n_new);
            p.slots_add.entry(nb.shard).or_default().extend(Self::compact_slots(w, nb, 0..n_new));
            let op = replace(tx, nb)?;
            tx.delete_elements(&map, &(0..n_old).map(|i| slot(block, i)).collect::<Vec<_>>())?;
            p.freed.push(block);
            return Ok((Some(op), nb));
        }
        let same = |i: usize| i < n_old && i < n_new && old.endpoints[i] == w.endpoints[i];
        let gone: Vec<Element> = (0..n_old).filter(|&i| !same(i)).map(|i| slot(block, i)).collect();
        if !gone.is_empty() {
            tx.delete_elements(&map, &gone)?;
        }
        let changed: Vec<usize> = (0..n_new).filter(|&i| !same(i)).collect();
        p.slots_add.entry(block.shard).or_default().extend(Self::compact_slots(
            w,
            block,
            changed.into_iter(),
        ));
        let op = if n_old != n_new { Some(replace(tx, block)?) } else { None };
        Ok((op, block))
    }

    /// Bring the kernel to `desired`, sending only the difference as one
    /// atomic transaction. Sends nothing when nothing changed.
    ///
    /// This compares every desired service with what is installed (a full
    /// sync); a caller that knows which services changed can send just
    /// those with [`Proxy::apply`].
    pub async fn sync(&mut self, desired: &[Service]) -> R<SyncReport> {
        let t0 = Instant::now();
        // The difference, without a map of the desired state: each desired
        // service is looked up (one reused key buffer) and the installed
        // ones it finds are marked with this sync's epoch; only changed,
        // added and (if fewer were marked than are installed) removed
        // services are collected, in key order, as before. Desired is read
        // from the end so that of two services with one key the last wins.
        self.epoch += 1;
        let epoch = self.epoch;
        let mut key = String::new();
        let mut changed: BTreeMap<String, Option<&Service>> = BTreeMap::new();
        let mut added: BTreeMap<String, &Service> = BTreeMap::new();
        let mut marked = 0usize;
        for s in desired.iter().rev() {
            s.key_into(&mut key);
            match self.installed.get_mut(key.as_str()) {
                Some(inst) if inst.seen == epoch => {}
                Some(inst) => {
                    inst.seen = epoch;
                    marked += 1;
                    if inst.svc != *s {
                        changed.insert(key.clone(), Some(s));
                    }
                }
                None => {
                    added.entry(key.clone()).or_insert(s);
                }
            }
        }
        if marked < self.installed.len() {
            for (k, inst) in &self.installed {
                if inst.seen != epoch {
                    changed.insert(k.clone(), None);
                }
            }
        }
        self.send(changed, added, t0).await
    }

    /// Bring only the services in `changes` to their new state (a partial
    /// sync, as kube-proxy does for the services its change tracker
    /// marked): the same operations a full [`Proxy::sync`] would send for
    /// them, in one atomic transaction, without comparing every other
    /// installed service. Of two changes to one service the last wins; a
    /// change to what is already installed sends nothing.
    pub async fn apply(&mut self, changes: &[Change<'_>]) -> R<SyncReport> {
        let t0 = Instant::now();
        let mut key = String::new();
        let mut changed: BTreeMap<String, Option<&Service>> = BTreeMap::new();
        let mut added: BTreeMap<String, &Service> = BTreeMap::new();
        for c in changes {
            match *c {
                Change::Upsert(s) => {
                    s.key_into(&mut key);
                    changed.remove(key.as_str());
                    added.remove(key.as_str());
                    match self.installed.get(key.as_str()) {
                        Some(inst) if inst.svc == *s => {}
                        Some(_) => {
                            changed.insert(key.clone(), Some(s));
                        }
                        None => {
                            added.insert(key.clone(), s);
                        }
                    }
                }
                Change::Remove(k) => {
                    added.remove(k);
                    changed.remove(k);
                    if self.installed.contains_key(k) {
                        changed.insert(k.to_string(), None);
                    }
                }
            }
        }
        self.send(changed, added, t0).await
    }

    /// Send `changed` (`None`: remove) and `added` as one transaction and
    /// record the result as installed.
    async fn send(
        &mut self,
        changed: BTreeMap<String, Option<&Service>>,
        added: BTreeMap<String, &Service>,
        t0: Instant,
    ) -> R<SyncReport> {
        let epoch = self.epoch;
        let mut tx = Transaction::new();
        // Only dispatch rules are echoed (put_dispatch): their handles are
        // the only ones the proxy keeps.
        tx.without_echo();
        if !self.base {
            self.add_base(&mut tx)?;
        }
        let mut p = Pending { slots: self.slots.clone(), ..Pending::default() };
        // Gone or changed in a way that needs a rebuild.
        let mut pending: Vec<(String, Service, Dispatch, Option<Block>)> = Vec::new();
        let mut removed = Vec::new();
        for (key, want) in &changed {
            let inst = &self.installed[key];
            match want {
                None => {
                    self.remove_service(&mut tx, inst, &mut p)?;
                    removed.push(key.clone());
                }
                Some(w) => {
                    let old = &inst.svc;
                    let same_shape =
                        old.vip == w.vip && old.node_port == w.node_port && old.target_port == w.target_port;
                    let partial = same_shape && !old.endpoints.is_empty() && !w.endpoints.is_empty();
                    if let (true, Some(block)) = (partial, inst.block) {
                        let handle = inst.dispatch.ok_or_else(|| {
                            netplumb::Error::invalid("proxy state", format!("no dispatch handle for {key}"))
                        })?;
                        let (op, block) = self.compact_update(&mut tx, old, w, block, handle, &mut p)?;
                        pending.push((
                            key.clone(),
                            (*w).clone(),
                            op.map_or(Dispatch::Kept(handle), Dispatch::Put),
                            Some(block),
                        ));
                    } else if partial {
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
                            None,
                        ));
                    } else {
                        self.remove_service(&mut tx, inst, &mut p)?;
                        let (op, block) = self.add_service(&mut tx, w, &mut p)?;
                        pending.push((key.clone(), (*w).clone(), Dispatch::from(op), block));
                    }
                }
            }
        }
        for (key, w) in &added {
            let (op, block) = self.add_service(&mut tx, w, &mut p)?;
            pending.push((key.clone(), (*w).clone(), Dispatch::from(op), block));
        }
        if !p.hairpin_del.is_empty() {
            tx.delete_elements(&Self::hairpin_set(), &Self::hairpin_elements(&p.hairpin_del))?;
        }
        if !p.hairpin_add.is_empty() {
            tx.add_elements(&Self::hairpin_set(), &Self::hairpin_elements(&p.hairpin_add))?;
        }
        for (shard, elems) in std::mem::take(&mut p.slots_add) {
            if !elems.is_empty() {
                tx.add_elements(&Self::endpoint_map(shard)?, &elems)?;
            }
        }
        let report = SyncReport {
            ops: tx.len(),
            bytes: tx.byte_len(),
            elapsed: Duration::ZERO,
            commit: Duration::ZERO,
        };
        if tx.is_empty() {
            return Ok(SyncReport { elapsed: t0.elapsed(), ..report });
        }
        let t_commit = Instant::now();
        let done = self.nft.commit(&tx).await?;
        let commit = t_commit.elapsed();
        self.base = true;
        self.slots = p.slots;
        for b in p.freed {
            self.slots.free(b);
        }
        for (ep, d) in p.hairpin {
            let n = self.hairpin.get(&ep).copied().unwrap_or(0) as isize + d;
            if n > 0 {
                self.hairpin.insert(ep, n as usize);
            } else {
                self.hairpin.remove(&ep);
            }
        }
        for k in removed {
            self.installed.remove(&k);
        }
        for (key, svc, op, block) in pending {
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
            self.installed.insert(key, Installed { svc, dispatch, block, seen: epoch });
        }
        Ok(SyncReport { elapsed: t0.elapsed(), commit, ..report })
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
            } else if self.shape == Shape::Compact {
                1 + usize::from(s.node_port.is_some())
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
