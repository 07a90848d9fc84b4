//! `macspoofchk`: frames entering the bridge from a container's port must
//! carry the container interface's MAC as source, in the nftables layout
//! the reference plugin uses:
//!
//! ```text
//! table bridge nat {
//!     chain PREROUTING {
//!         type filter hook prerouting priority dstnat; policy accept;
//!         iifname "veth0123abcd" jump cni-br-iface-ID-IFNAME comment "macspoofchk-ID-IFNAME"
//!     }
//!     chain cni-br-iface-ID-IFNAME {
//!         jump cni-br-iface-ID-IFNAME-mac comment "macspoofchk-ID-IFNAME"
//!     }
//!     chain cni-br-iface-ID-IFNAME-mac {
//!         ether saddr 02:42:0a:4d:00:09 return comment "macspoofchk-ID-IFNAME"
//!         drop comment "macspoofchk-ID-IFNAME"
//!     }
//! }
//! ```

use netplumb::netns::Netns;
use netplumb::nft::{Chain, ChainType, Family, Field, Hook, Nft, Policy, RuleBuilder, Table, Transaction};
use netplumb::MacAddr;

use super::config::{CniError, ERR_INTERNAL};

/// The table (family bridge).
pub const TABLE: &str = "nat";
/// Its base chain.
pub const BASE_CHAIN: &str = "PREROUTING";

fn err(what: &str, e: netplumb::Error) -> CniError {
    CniError::new(ERR_INTERNAL, format!("failed to setup spoof-check: {what}: {e}"))
}

fn names(container_id: &str, ifname: &str) -> (String, String, String) {
    let id = format!("{container_id}-{ifname}");
    let iface = format!("cni-br-iface-{id}");
    (format!("{iface}-mac"), iface, format!("macspoofchk-{id}"))
}

/// Install the check for the port `host_veth` and the container's `mac`.
pub async fn add(
    host: &Netns,
    container_id: &str,
    ifname: &str,
    host_veth: &str,
    mac: MacAddr,
) -> Result<(), CniError> {
    let (mac_chain, iface_chain, comment) = names(container_id, ifname);
    let nft = Nft::new_in(host).await.map_err(|e| err("netfilter connection", e))?;
    let mut tx = Transaction::new();
    tx.add_table(&Table::new(Family::Bridge, TABLE)).map_err(|e| err("table", e))?;
    tx.add_chain(
        &Chain::new(Family::Bridge, TABLE, BASE_CHAIN)
            .base(ChainType::Filter, Hook::Prerouting, -300)
            .policy(Policy::Accept),
    )
    .map_err(|e| err("base chain", e))?;
    for c in [&iface_chain, &mac_chain] {
        tx.add_chain(&Chain::new(Family::Bridge, TABLE, c)).map_err(|e| err("chain", e))?;
        tx.flush_chain(Family::Bridge, TABLE, c).map_err(|e| err("chain", e))?;
    }
    let rules = [
        RuleBuilder::new(Family::Bridge, TABLE, BASE_CHAIN)
            .ifname(Field::IIFNAME, host_veth)
            .jump(&iface_chain),
        RuleBuilder::new(Family::Bridge, TABLE, &iface_chain).jump(&mac_chain),
        RuleBuilder::new(Family::Bridge, TABLE, &mac_chain).eq(Field::ETHER_SADDR, mac.0.to_vec()).ret(),
        RuleBuilder::new(Family::Bridge, TABLE, &mac_chain).drop(),
    ];
    for r in rules {
        let r = r.comment(comment.clone()).build().map_err(|e| err("rule", e))?;
        tx.add_rule(&r).map_err(|e| err("rule", e))?;
    }
    nft.commit(&tx).await.map_err(|e| err("install rules", e))?;
    Ok(())
}

/// Remove the check (nothing there is fine: DEL is idempotent).
pub async fn del(host: &Netns, container_id: &str, ifname: &str) -> Result<(), CniError> {
    let (mac_chain, iface_chain, comment) = names(container_id, ifname);
    let fail = |what: &str, e: netplumb::Error| {
        CniError::new(ERR_INTERNAL, format!("failed to teardown spoof-check: {what}: {e}"))
    };
    let nft = Nft::new_in(host).await.map_err(|e| fail("netfilter connection", e))?;
    let mut tx = Transaction::new();
    match nft.list_rules(Some(Family::Bridge), Some(TABLE), Some(BASE_CHAIN)).await {
        Ok(rules) => {
            for h in rules
                .iter()
                .filter(|r| r.comment.as_deref() == Some(comment.as_str()))
                .filter_map(|r| r.handle)
            {
                tx.delete_rule(Family::Bridge, TABLE, BASE_CHAIN, h).map_err(|e| fail("delete rule", e))?;
            }
        }
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(fail("list rules", e)),
    }
    // The chains, emptied first (the jump into the -mac chain goes with
    // its chain's rules); each only if it is there.
    let chains = nft.list_chains(Some(Family::Bridge)).await.map_err(|e| fail("list chains", e))?;
    let present: Vec<&String> = [&iface_chain, &mac_chain]
        .into_iter()
        .filter(|c| chains.iter().any(|x| x.table == TABLE && x.name == **c))
        .collect();
    for c in &present {
        tx.flush_chain(Family::Bridge, TABLE, c).map_err(|e| fail("flush chain", e))?;
    }
    for c in &present {
        tx.delete_chain(Family::Bridge, TABLE, c).map_err(|e| fail("delete chain", e))?;
    }
    if !tx.is_empty() {
        nft.commit(&tx).await.map_err(|e| fail("delete rules and chains", e))?;
    }
    Ok(())
}
