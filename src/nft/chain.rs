//! Chains: base chains attached to a hook, and regular chains.

use super::consts::*;
use super::types::{check_name, comment_udata, msg_family, udata_comment, Family};
use crate::error::{DecodeError, Error, Result};
use crate::wire::{attrs_after, AttrWriter, Msg, NLA_F_NESTED};

/// The type of a base chain.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ChainType {
    /// `type filter`.
    Filter,
    /// `type nat`.
    Nat,
    /// `type route`.
    Route,
    /// Another type name.
    Other(String),
}

impl ChainType {
    /// The name `nft` uses.
    pub fn name(&self) -> &str {
        match self {
            ChainType::Filter => "filter",
            ChainType::Nat => "nat",
            ChainType::Route => "route",
            ChainType::Other(s) => s,
        }
    }

    fn from_name(s: &str) -> ChainType {
        match s {
            "filter" => ChainType::Filter,
            "nat" => ChainType::Nat,
            "route" => ChainType::Route,
            s => ChainType::Other(s.to_string()),
        }
    }
}

/// A netfilter hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hook {
    /// `prerouting`.
    Prerouting,
    /// `input`.
    Input,
    /// `forward`.
    Forward,
    /// `output`.
    Output,
    /// `postrouting`.
    Postrouting,
    /// `ingress` (netdev, or inet with a device).
    Ingress,
    /// `egress` (netdev).
    Egress,
    /// A hook number netplumb does not name.
    Other(u32),
}

impl Hook {
    /// The hook number in `family`.
    pub fn code(self, family: Family) -> u32 {
        match (family, self) {
            (Family::Netdev, Hook::Ingress) => 0,
            (Family::Netdev, Hook::Egress) => 1,
            (Family::Arp, Hook::Input) => 0,
            (Family::Arp, Hook::Output) => 1,
            (Family::Arp, Hook::Forward) => 2,
            (_, Hook::Prerouting) => 0,
            (_, Hook::Input) => 1,
            (_, Hook::Forward) => 2,
            (_, Hook::Output) => 3,
            (_, Hook::Postrouting) => 4,
            (_, Hook::Ingress) => 5,
            (_, Hook::Egress) => 6,
            (_, Hook::Other(c)) => c,
        }
    }

    /// The hook with number `c` in `family`.
    pub fn from_code(family: Family, c: u32) -> Hook {
        match (family, c) {
            (Family::Netdev, 0) => Hook::Ingress,
            (Family::Netdev, 1) => Hook::Egress,
            (Family::Arp, 0) => Hook::Input,
            (Family::Arp, 1) => Hook::Output,
            (Family::Arp, 2) => Hook::Forward,
            (Family::Netdev | Family::Arp, c) => Hook::Other(c),
            (_, 0) => Hook::Prerouting,
            (_, 1) => Hook::Input,
            (_, 2) => Hook::Forward,
            (_, 3) => Hook::Output,
            (_, 4) => Hook::Postrouting,
            (_, 5) => Hook::Ingress,
            (_, c) => Hook::Other(c),
        }
    }

    /// The name `nft` uses.
    pub fn name(self) -> String {
        match self {
            Hook::Prerouting => "prerouting".into(),
            Hook::Input => "input".into(),
            Hook::Forward => "forward".into(),
            Hook::Output => "output".into(),
            Hook::Postrouting => "postrouting".into(),
            Hook::Ingress => "ingress".into(),
            Hook::Egress => "egress".into(),
            Hook::Other(c) => format!("{c}"),
        }
    }
}

/// A chain's default verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Policy {
    /// `policy accept`.
    Accept,
    /// `policy drop`.
    Drop,
}

/// Standard priorities, as `nft` names them.
pub mod priority {
    /// `raw` (-300).
    pub const RAW: i32 = -300;
    /// `mangle` (-150).
    pub const MANGLE: i32 = -150;
    /// `dstnat` (-100; -300 in bridge).
    pub const DSTNAT: i32 = -100;
    /// `filter` (0; -200 in bridge).
    pub const FILTER: i32 = 0;
    /// `security` (50).
    pub const SECURITY: i32 = 50;
    /// `srcnat` (100; 300 in bridge).
    pub const SRCNAT: i32 = 100;
}

/// What makes a chain a base chain: where it is attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseChain {
    /// `type filter|nat|route`.
    pub kind: ChainType,
    /// `hook ...`.
    pub hook: Hook,
    /// `priority N` (signed; lower runs first).
    pub priority: i32,
    /// `policy accept|drop` (`None`: the kernel's default, accept).
    pub policy: Option<Policy>,
    /// `device "eth0"` (netdev, or inet ingress).
    pub devices: Vec<String>,
}

/// A chain (`chain NAME { ... }`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    /// Family of its table.
    pub family: Family,
    /// Its table.
    pub table: String,
    /// Name.
    pub name: String,
    /// Set for base chains.
    pub base: Option<BaseChain>,
    /// `comment "..."`.
    pub comment: Option<String>,
    /// `NFT_CHAIN_*` flags as listed (base 1, hw offload 2, binding 4).
    pub flags: Option<u32>,
    /// Kernel handle (listing only).
    pub handle: Option<u64>,
    /// How many rules jump here (listing only).
    pub use_count: Option<u32>,
    /// Userdata netplumb does not interpret, kept as received.
    pub userdata: Option<Vec<u8>>,
}

impl Chain {
    /// A regular chain (a jump target).
    pub fn new(family: Family, table: impl Into<String>, name: impl Into<String>) -> Chain {
        Chain {
            family,
            table: table.into(),
            name: name.into(),
            base: None,
            comment: None,
            flags: None,
            handle: None,
            use_count: None,
            userdata: None,
        }
    }

    /// Make it a base chain: `type KIND hook HOOK priority PRIORITY;`.
    pub fn base(mut self, kind: ChainType, hook: Hook, priority: i32) -> Chain {
        self.base = Some(BaseChain { kind, hook, priority, policy: None, devices: Vec::new() });
        self
    }

    /// `policy accept|drop;` (base chains).
    pub fn policy(mut self, p: Policy) -> Chain {
        if let Some(b) = &mut self.base {
            b.policy = Some(p);
        }
        self
    }

    /// `device "NAME"` (base chains of netdev, or inet ingress).
    pub fn device(mut self, d: impl Into<String>) -> Chain {
        if let Some(b) = &mut self.base {
            b.devices.push(d.into());
        }
        self
    }

    /// With a comment.
    pub fn comment(mut self, c: impl Into<String>) -> Chain {
        self.comment = Some(c.into());
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        check_name("table name", &self.table)?;
        check_name("chain name", &self.name)?;
        if let Some(b) = &self.base {
            for d in &b.devices {
                if d.is_empty() || d.len() > 15 {
                    return Err(Error::invalid("chain device", format!("{d:?} must be 1 to 15 bytes")));
                }
            }
        }
        Ok(())
    }

    /// Payload of `NFT_MSG_NEWCHAIN`, attributes in the order `nft` writes.
    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        super::types::nfgen(w, self.family.code());
        w.str(NFTA_CHAIN_TABLE, &self.table);
        w.str(NFTA_CHAIN_NAME, &self.name);
        if let Some(b) = &self.base {
            w.str(NFTA_CHAIN_TYPE, b.kind.name());
            if let Some(p) = b.policy {
                w.u32_be(NFTA_CHAIN_POLICY, (p == Policy::Accept) as u32);
            }
            w.nest(NFTA_CHAIN_HOOK | NLA_F_NESTED, |w| {
                w.u32_be(NFTA_HOOK_HOOKNUM, b.hook.code(self.family));
                w.u32_be(NFTA_HOOK_PRIORITY, b.priority as u32);
                match b.devices.as_slice() {
                    [] => {}
                    [d] => {
                        w.str(NFTA_HOOK_DEV, d);
                    }
                    ds => w.nest(NFTA_HOOK_DEVS | NLA_F_NESTED, |w| {
                        for d in ds {
                            w.str(NFTA_DEVICE_NAME, d);
                        }
                    }),
                }
            });
        }
        if let Some(u) = self.userdata_bytes() {
            w.bytes(NFTA_CHAIN_USERDATA, &u);
        }
    }

    fn userdata_bytes(&self) -> Option<Vec<u8>> {
        if let Some(u) = &self.userdata {
            return Some(u.clone());
        }
        let c = self.comment.as_ref()?;
        let mut v = Vec::new();
        udata_comment(&mut v, UDATA_CHAIN_COMMENT, c);
        Some(v)
    }

    /// Decode an `NFT_MSG_NEWCHAIN` message.
    pub fn decode(m: &Msg<'_>) -> Result<Chain, DecodeError> {
        let family = msg_family(m.payload)?.ok_or_else(|| DecodeError::new("chain", "unknown family"))?;
        let mut c = Chain::new(family, "", "");
        let mut kind = None;
        let mut policy = None;
        let mut hook = None;
        for a in attrs_after(m.payload, 4) {
            let a = a?;
            match a.kind() {
                NFTA_CHAIN_TABLE => c.table = a.str()?.to_string(),
                NFTA_CHAIN_NAME => c.name = a.str()?.to_string(),
                NFTA_CHAIN_HANDLE => c.handle = Some(a.u64_be()?),
                NFTA_CHAIN_USE => c.use_count = Some(a.u32_be()?),
                NFTA_CHAIN_FLAGS => c.flags = Some(a.u32_be()?),
                NFTA_CHAIN_TYPE => kind = Some(ChainType::from_name(a.str()?)),
                NFTA_CHAIN_POLICY => {
                    policy = Some(if a.u32_be()? == 1 { Policy::Accept } else { Policy::Drop })
                }
                NFTA_CHAIN_HOOK => {
                    let mut num = 0;
                    let mut prio = 0;
                    let mut dev = None;
                    let mut devs = Vec::new();
                    for h in a.nested() {
                        let h = h?;
                        match h.kind() {
                            NFTA_HOOK_HOOKNUM => num = h.u32_be()?,
                            NFTA_HOOK_PRIORITY => prio = h.u32_be()? as i32,
                            NFTA_HOOK_DEV => dev = Some(h.str()?.to_string()),
                            NFTA_HOOK_DEVS => {
                                for d in h.nested() {
                                    devs.push(d?.str()?.to_string());
                                }
                            }
                            _ => {}
                        }
                    }
                    // The kernel lists a single device both ways.
                    if devs.is_empty() {
                        devs.extend(dev);
                    }
                    hook = Some((num, prio, devs));
                }
                NFTA_CHAIN_USERDATA => {
                    let (cm, raw) = comment_udata(a.payload, UDATA_CHAIN_COMMENT);
                    c.comment = cm;
                    c.userdata = raw;
                }
                _ => {}
            }
        }
        if let Some((num, priority, devices)) = hook {
            c.base = Some(BaseChain {
                kind: kind.unwrap_or(ChainType::Filter),
                hook: Hook::from_code(family, num),
                priority,
                policy,
                devices,
            });
        }
        Ok(c)
    }
}

/// Identifying attributes of a chain (delete/flush).
pub(crate) fn encode_ref(w: &mut AttrWriter<'_>, family: Family, table: &str, name: &str) {
    super::types::nfgen(w, family.code());
    w.str(NFTA_CHAIN_TABLE, table);
    w.str(NFTA_CHAIN_NAME, name);
}
