//! `ipMasq`: masquerade what a container sends outside its subnet, in the
//! plugin's own nftables table, through netplumb transactions.
//!
//! ```text
//! table inet netplumb_cni_masq {
//!     chain postrouting {
//!         type nat hook postrouting priority srcnat; policy accept;
//!         ip saddr 10.77.0.2 ip daddr != 10.77.0.0/24 ip daddr != 224.0.0.0/4 masquerade comment "NETWORK CONTAINERID IFNAME"
//!     }
//! }
//! ```
//!
//! One rule per container address, found again by its comment on DEL and
//! CHECK. Each change is one atomic transaction.

use std::net::IpAddr;

use ipnet::IpNet;
use netplumb::netns::Netns;
use netplumb::nft::expr::NatFlags;
use netplumb::nft::{
    priority, Chain, ChainType, Family, Field, Hook, Nft, Policy, RuleBuilder, Table, Transaction,
};

use crate::cni::config::{CniError, NetConf};
use crate::cni::ipam::Allocation;

/// The plugin's table.
pub const TABLE: &str = "netplumb_cni_masq";
/// Its chain.
pub const CHAIN: &str = "postrouting";

fn comment(conf: &NetConf, id: &str, ifname: &str) -> String {
    format!("{} {id} {ifname}", conf.name)
}

fn err(what: &str, e: netplumb::Error) -> CniError {
    CniError::new(999, format!("ipMasq: {what}: {e}"))
}

/// Add the masquerade rules for a container's addresses.
pub async fn add(
    host: &Netns,
    conf: &NetConf,
    id: &str,
    ifname: &str,
    ips: &[Allocation],
) -> Result<(), CniError> {
    let nft = Nft::new_in(host).await.map_err(|e| err("netfilter connection", e))?;
    let mut tx = Transaction::new();
    // `add` (not `create`): an existing table or chain is kept as it is.
    tx.add_table(&Table::new(Family::Inet, TABLE)).map_err(|e| err("table", e))?;
    tx.add_chain(
        &Chain::new(Family::Inet, TABLE, CHAIN)
            .base(ChainType::Nat, Hook::Postrouting, priority::SRCNAT)
            .policy(Policy::Accept),
    )
    .map_err(|e| err("chain", e))?;
    for a in ips {
        let subnet = a.address.trunc();
        let (saddr, daddr, mcast): (Field, Field, IpNet) = match a.address.addr() {
            IpAddr::V4(_) => (Field::IP_SADDR, Field::IP_DADDR, "224.0.0.0/4".parse().expect("valid")),
            IpAddr::V6(_) => (Field::IP6_SADDR, Field::IP6_DADDR, "ff00::/8".parse().expect("valid")),
        };
        let rule = RuleBuilder::new(Family::Inet, TABLE, CHAIN)
            .eq(saddr, a.address.addr())
            .prefix(daddr, subnet, true)
            .prefix(daddr, mcast, true)
            .masquerade(NatFlags::empty())
            .comment(comment(conf, id, ifname))
            .build()
            .map_err(|e| err("rule", e))?;
        tx.add_rule(&rule).map_err(|e| err("rule", e))?;
    }
    nft.commit(&tx).await.map_err(|e| err("install rules", e))?;
    Ok(())
}

/// Handles of this container's rules.
async fn handles(nft: &Nft, conf: &NetConf, id: &str, ifname: &str) -> Result<Vec<u64>, CniError> {
    let want = comment(conf, id, ifname);
    let rules = match nft.list_rules(Some(Family::Inet), Some(TABLE), Some(CHAIN)).await {
        Ok(r) => r,
        // No table yet: nothing of ours.
        Err(e) if e.is_not_found() => return Ok(Vec::new()),
        Err(e) => return Err(err("list rules", e)),
    };
    Ok(rules
        .into_iter()
        .filter(|r| r.comment.as_deref() == Some(want.as_str()))
        .filter_map(|r| r.handle)
        .collect())
}

/// Remove this container's rules (none is fine: DEL is idempotent).
pub async fn del(host: &Netns, conf: &NetConf, id: &str, ifname: &str) -> Result<(), CniError> {
    let nft = Nft::new_in(host).await.map_err(|e| err("netfilter connection", e))?;
    let hs = handles(&nft, conf, id, ifname).await?;
    if hs.is_empty() {
        return Ok(());
    }
    let mut tx = Transaction::new();
    for h in hs {
        tx.delete_rule(Family::Inet, TABLE, CHAIN, h).map_err(|e| err("delete rules", e))?;
    }
    nft.commit(&tx).await.map_err(|e| err("delete rules", e))?;
    Ok(())
}

/// CHECK: the container's masquerade rule must be there.
pub async fn check(host: &Netns, conf: &NetConf, id: &str, ifname: &str) -> Result<(), CniError> {
    let nft = Nft::new_in(host).await.map_err(|e| err("netfilter connection", e))?;
    if handles(&nft, conf, id, ifname).await?.is_empty() {
        return Err(CniError::new(
            999,
            format!("ipMasq rule for container {id} ({ifname}) is missing from inet {TABLE}"),
        ));
    }
    Ok(())
}
