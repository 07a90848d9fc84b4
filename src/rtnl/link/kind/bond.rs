//! `bond` links.

use crate::error::{DecodeError, Result};
use crate::rtnl::link::message::ifla;
use crate::wire::{AttrIter, AttrWriter};

/// `IFLA_BOND_MODE`.
const BOND_MODE: u16 = 1;
/// `IFLA_BOND_MIIMON`.
const BOND_MIIMON: u16 = 3;

/// How a bond spreads traffic over its ports (`mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BondMode {
    /// `balance-rr` (0), the kernel's default.
    BalanceRr,
    /// `active-backup` (1).
    ActiveBackup,
    /// `balance-xor` (2).
    BalanceXor,
    /// `broadcast` (3).
    Broadcast,
    /// `802.3ad` (4): LACP.
    Lacp,
    /// `balance-tlb` (5).
    BalanceTlb,
    /// `balance-alb` (6).
    BalanceAlb,
    /// Any other value.
    Unknown(u8),
}

impl BondMode {
    /// From the raw value.
    pub fn from_raw(v: u8) -> BondMode {
        match v {
            0 => BondMode::BalanceRr,
            1 => BondMode::ActiveBackup,
            2 => BondMode::BalanceXor,
            3 => BondMode::Broadcast,
            4 => BondMode::Lacp,
            5 => BondMode::BalanceTlb,
            6 => BondMode::BalanceAlb,
            v => BondMode::Unknown(v),
        }
    }
    /// The raw value.
    pub fn to_raw(self) -> u8 {
        match self {
            BondMode::BalanceRr => 0,
            BondMode::ActiveBackup => 1,
            BondMode::BalanceXor => 2,
            BondMode::Broadcast => 3,
            BondMode::Lacp => 4,
            BondMode::BalanceTlb => 5,
            BondMode::BalanceAlb => 6,
            BondMode::Unknown(v) => v,
        }
    }
    /// The name `ip -d link` prints (`802.3ad`, `active-backup`, ...).
    pub fn name(self) -> String {
        match self {
            BondMode::BalanceRr => "balance-rr".into(),
            BondMode::ActiveBackup => "active-backup".into(),
            BondMode::BalanceXor => "balance-xor".into(),
            BondMode::Broadcast => "broadcast".into(),
            BondMode::Lacp => "802.3ad".into(),
            BondMode::BalanceTlb => "balance-tlb".into(),
            BondMode::BalanceAlb => "balance-alb".into(),
            BondMode::Unknown(v) => v.to_string(),
        }
    }
}

/// A `bond` link (`ip link add NAME type bond [mode M] [miimon MS]`).
/// Further bond settings stay in [`crate::link::Link::info_data`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bond {
    /// The mode; `None` leaves the kernel's default (`balance-rr`).
    pub mode: Option<BondMode>,
    /// Link monitoring interval in milliseconds (`miimon`).
    pub miimon: Option<u32>,
}

impl Bond {
    /// A bond with the kernel's defaults.
    pub fn new() -> Bond {
        Bond::default()
    }
    /// Set the mode (`mode 802.3ad`).
    pub fn mode(mut self, m: BondMode) -> Self {
        self.mode = Some(m);
        self
    }
    /// Set the link monitoring interval (`miimon MS`).
    pub fn miimon(mut self, ms: u32) -> Self {
        self.miimon = Some(ms);
        self
    }

    pub(crate) fn write_data(&self, w: &mut AttrWriter<'_>) {
        if self.mode.is_none() && self.miimon.is_none() {
            return;
        }
        w.nest(ifla::INFO_DATA, |w| {
            if let Some(m) = self.mode {
                w.u8(BOND_MODE, m.to_raw());
            }
            if let Some(m) = self.miimon {
                w.u32(BOND_MIIMON, m);
            }
        });
    }

    pub(crate) fn decode(data: &[u8]) -> Result<Bond, DecodeError> {
        let mut b = Bond::default();
        for a in AttrIter::new(data) {
            let a = a?;
            match a.kind() {
                BOND_MODE => b.mode = Some(BondMode::from_raw(a.u8()?)),
                BOND_MIIMON => b.miimon = Some(a.u32()?),
                _ => {}
            }
        }
        Ok(b)
    }
}
