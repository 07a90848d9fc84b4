//! Actions a filter runs on a match: `mirred` (redirect or mirror to a
//! device), `gact` (pass, drop ...), `police` (rate limit). Others are kept
//! raw and sent back unchanged.

use crate::error::{DecodeError, Error, Result};
use crate::rtnl::{IfIndex, RawAttr};
use crate::wire::{AttrIter, AttrWriter};

use super::rate::{self, Rate, RateSpec, LINKLAYER_ETHERNET};
use super::types::Stats;

/// `TCA_ACT_*` inside one action.
#[allow(missing_docs)]
pub mod act_attr {
    pub const KIND: u16 = 1;
    pub const OPTIONS: u16 = 2;
    pub const INDEX: u16 = 3;
    pub const STATS: u16 = 4;
    pub const PAD: u16 = 5;
    pub const COOKIE: u16 = 6;
    pub const USED_HW_STATS: u16 = 9;
    pub const IN_HW_COUNT: u16 = 10;
}

/// What happens to a packet after an action (`TC_ACT_*`), as `tc` names
/// it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Verdict(pub i32);

impl Verdict {
    /// `continue` (`TC_ACT_UNSPEC`, -1).
    pub const CONTINUE: Verdict = Verdict(-1);
    /// `pass`/`ok` (0).
    pub const OK: Verdict = Verdict(0);
    /// `reclassify` (1).
    pub const RECLASSIFY: Verdict = Verdict(1);
    /// `drop`/`shot` (2).
    pub const SHOT: Verdict = Verdict(2);
    /// `pipe` (3): on to the next action.
    pub const PIPE: Verdict = Verdict(3);
    /// `stolen` (4): consumed.
    pub const STOLEN: Verdict = Verdict(4);
    /// `trap` (8).
    pub const TRAP: Verdict = Verdict(8);

    /// The name `tc` prints.
    pub fn name(self) -> String {
        match self.0 {
            -1 => "continue".into(),
            0 => "pass".into(),
            1 => "reclassify".into(),
            2 => "drop".into(),
            3 => "pipe".into(),
            4 => "stolen".into(),
            5 => "queued".into(),
            6 => "repeat".into(),
            7 => "redirect".into(),
            8 => "trap".into(),
            v => v.to_string(),
        }
    }
}

/// `struct tc_gen`, the header every action's parameters start with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcGen {
    /// The action's index (0: the kernel picks).
    pub index: u32,
    /// `capab`.
    pub capab: u32,
    /// The verdict after the action ([`Verdict`]).
    pub action: i32,
    /// References (read-only).
    pub refcnt: i32,
    /// Bindings (read-only).
    pub bindcnt: i32,
}

const TC_GEN_LEN: usize = 20;

impl TcGen {
    fn to_bytes(self) -> [u8; TC_GEN_LEN] {
        let mut b = [0u8; TC_GEN_LEN];
        b[0..4].copy_from_slice(&self.index.to_ne_bytes());
        b[4..8].copy_from_slice(&self.capab.to_ne_bytes());
        b[8..12].copy_from_slice(&self.action.to_ne_bytes());
        b[12..16].copy_from_slice(&self.refcnt.to_ne_bytes());
        b[16..20].copy_from_slice(&self.bindcnt.to_ne_bytes());
        b
    }

    fn from_bytes(b: &[u8]) -> TcGen {
        let u = |i: usize| u32::from_ne_bytes(b[i..i + 4].try_into().expect("4"));
        TcGen { index: u(0), capab: u(4), action: u(8) as i32, refcnt: u(12) as i32, bindcnt: u(16) as i32 }
    }
}

/// One action of a filter, with what the kernel reports about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Action {
    /// The action and its settings.
    pub kind: ActionKind,
    /// `TCA_ACT_INDEX`, when the kernel reports it.
    pub index: Option<u32>,
    /// `TCA_ACT_COOKIE`.
    pub cookie: Option<Vec<u8>>,
    /// Statistics (`tc -s`), read-only.
    pub stats: Option<Stats>,
    /// Other read-only attributes (hardware counters), not sent.
    pub kernel: Vec<RawAttr>,
    /// Attributes netplumb does not model, sent back.
    pub other: Vec<RawAttr>,
}

impl From<ActionKind> for Action {
    fn from(kind: ActionKind) -> Action {
        Action { kind, index: None, cookie: None, stats: None, kernel: Vec::new(), other: Vec::new() }
    }
}

impl From<Mirred> for Action {
    fn from(m: Mirred) -> Action {
        ActionKind::Mirred(m).into()
    }
}

impl From<Gact> for Action {
    fn from(g: Gact) -> Action {
        ActionKind::Gact(g).into()
    }
}

impl From<Police> for Action {
    fn from(p: Police) -> Action {
        ActionKind::Police(p).into()
    }
}

/// The actions netplumb models.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ActionKind {
    /// `mirred`.
    Mirred(Mirred),
    /// `gact`.
    Gact(Gact),
    /// `police`.
    Police(Police),
    /// Another action, raw.
    Other {
        /// `TCA_ACT_KIND`.
        kind: String,
        /// `TCA_ACT_OPTIONS` payload.
        options: Option<Vec<u8>>,
    },
}

impl ActionKind {
    /// The kind as `tc` spells it.
    pub fn name(&self) -> &str {
        match self {
            ActionKind::Mirred(_) => "mirred",
            ActionKind::Gact(_) => "gact",
            ActionKind::Police(_) => "police",
            ActionKind::Other { kind, .. } => kind,
        }
    }
}

/// What `mirred` does (`TCA_{EGRESS,INGRESS}_{REDIR,MIRROR}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MirredKind(pub i32);

impl MirredKind {
    /// `egress redirect`.
    pub const EGRESS_REDIRECT: MirredKind = MirredKind(1);
    /// `egress mirror`.
    pub const EGRESS_MIRROR: MirredKind = MirredKind(2);
    /// `ingress redirect`.
    pub const INGRESS_REDIRECT: MirredKind = MirredKind(3);
    /// `ingress mirror`.
    pub const INGRESS_MIRROR: MirredKind = MirredKind(4);

    /// As `tc` prints it: `Egress Redirect`, ...
    pub fn name(self) -> String {
        match self.0 {
            1 => "Egress Redirect".into(),
            2 => "Egress Mirror".into(),
            3 => "Ingress Redirect".into(),
            4 => "Ingress Mirror".into(),
            v => format!("mirred {v}"),
        }
    }
}

/// `TCA_MIRRED_PARMS`.
const MIRRED_PARMS: u16 = 2;

/// Redirect or mirror packets to a device: `action mirred (egress|ingress)
/// (redirect|mirror) dev DEV` (`struct tc_mirred`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mirred {
    /// Index and verdict (`tc` uses `stolen` for redirect, `pipe` for
    /// mirror).
    pub gen: TcGen,
    /// Redirect or mirror, to egress or ingress.
    pub eaction: MirredKind,
    /// The target device.
    pub ifindex: u32,
    /// Other `TCA_MIRRED_*` attributes (the kernel's timestamps), raw.
    pub other: Vec<RawAttr>,
}

impl Mirred {
    /// `action mirred egress redirect dev DEV` (verdict `stolen`).
    pub fn redirect(dev: IfIndex) -> Mirred {
        Mirred::new(MirredKind::EGRESS_REDIRECT, dev, Verdict::STOLEN)
    }

    /// `action mirred egress mirror dev DEV` (verdict `pipe`).
    pub fn mirror(dev: IfIndex) -> Mirred {
        Mirred::new(MirredKind::EGRESS_MIRROR, dev, Verdict::PIPE)
    }

    /// Any direction and verdict.
    pub fn new(eaction: MirredKind, dev: IfIndex, verdict: Verdict) -> Mirred {
        Mirred {
            gen: TcGen { action: verdict.0, ..TcGen::default() },
            eaction,
            ifindex: dev.0,
            other: Vec::new(),
        }
    }
}

/// `TCA_GACT_PARMS`.
const GACT_PARMS: u16 = 2;

/// The generic action: `action (pass|drop|pipe|continue|reclassify)`
/// (`struct tc_gact`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gact {
    /// Index and verdict.
    pub gen: TcGen,
    /// Other `TCA_GACT_*` attributes (`random`, timestamps), raw.
    pub other: Vec<RawAttr>,
}

impl Gact {
    /// `action VERDICT`.
    pub fn new(v: Verdict) -> Gact {
        Gact { gen: TcGen { action: v.0, ..TcGen::default() }, other: Vec::new() }
    }
}

/// `TCA_POLICE_*`.
#[allow(missing_docs)]
pub mod police_attr {
    pub const TBF: u16 = 1;
    pub const RATE: u16 = 2;
    pub const PEAKRATE: u16 = 3;
    pub const AVRATE: u16 = 4;
    pub const RESULT: u16 = 5;
    pub const RATE64: u16 = 8;
}

/// A policer: `action police rate R burst B [mtu M] [conform-exceed
/// EXCEED[/CONFORM]]` (`struct tc_police` plus its rate table, as `tc`
/// computes it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Police {
    /// `index`.
    pub index: u32,
    /// Verdict when over the rate (`tc`'s default `reclassify`).
    pub action: i32,
    /// `limit`.
    pub limit: u32,
    /// Burst as ticks at the rate.
    pub burst: u32,
    /// `mtu`.
    pub mtu: u32,
    /// Rate.
    pub rate: RateSpec,
    /// Peak rate.
    pub peakrate: RateSpec,
    /// References (read-only).
    pub refcnt: i32,
    /// Bindings (read-only).
    pub bindcnt: i32,
    /// `capab`.
    pub capab: u32,
    /// `TCA_POLICE_RATE`: the rate table.
    pub rtab: Option<Vec<u8>>,
    /// `TCA_POLICE_RATE64`.
    pub rate64: Option<u64>,
    /// `TCA_POLICE_RESULT`: verdict when under the rate.
    pub result: Option<i32>,
    /// Other `TCA_POLICE_*` attributes, raw.
    pub other: Vec<RawAttr>,
}

const TC_POLICE_LEN: usize = 20 + 2 * rate::RATESPEC_LEN + 12;

impl Police {
    /// `police rate RATE burst BURST conform-exceed EXCEED` as `tc`
    /// computes it.
    pub fn new(rate: Rate, burst: u32, exceed: Verdict) -> Police {
        let mut spec = RateSpec::for_rate(rate);
        let t = rate::rate_table(&mut spec, None, 0, LINKLAYER_ETHERNET);
        Police {
            index: 0,
            action: exceed.0,
            limit: 0,
            burst: rate::xmit_ticks(rate.0, burst),
            mtu: 0,
            rate: spec,
            peakrate: RateSpec::default(),
            refcnt: 0,
            bindcnt: 0,
            capab: 0,
            rtab: Some(rate::table_bytes(&t)),
            rate64: (rate.0 >= 1 << 32).then_some(rate.0),
            result: None,
            other: Vec::new(),
        }
    }

    fn tbf_bytes(&self) -> [u8; TC_POLICE_LEN] {
        let mut b = [0u8; TC_POLICE_LEN];
        b[0..4].copy_from_slice(&self.index.to_ne_bytes());
        b[4..8].copy_from_slice(&self.action.to_ne_bytes());
        b[8..12].copy_from_slice(&self.limit.to_ne_bytes());
        b[12..16].copy_from_slice(&self.burst.to_ne_bytes());
        b[16..20].copy_from_slice(&self.mtu.to_ne_bytes());
        b[20..32].copy_from_slice(&self.rate.to_bytes());
        b[32..44].copy_from_slice(&self.peakrate.to_bytes());
        b[44..48].copy_from_slice(&self.refcnt.to_ne_bytes());
        b[48..52].copy_from_slice(&self.bindcnt.to_ne_bytes());
        b[52..56].copy_from_slice(&self.capab.to_ne_bytes());
        b
    }
}

/// Check actions before anything is sent.
pub(crate) fn validate(actions: &[Action], field: &str) -> Result<()> {
    if actions.len() > 32 {
        return Err(Error::invalid(field, format!("{} actions, the kernel takes at most 32", actions.len())));
    }
    for (i, a) in actions.iter().enumerate() {
        match &a.kind {
            ActionKind::Mirred(m) if m.ifindex == 0 => {
                return Err(Error::invalid(format!("{field}[{i}].mirred.ifindex"), "0 is not a device"))
            }
            ActionKind::Mirred(m) if !(1..=4).contains(&m.eaction.0) => {
                return Err(Error::invalid(
                    format!("{field}[{i}].mirred.eaction"),
                    format!("{} is not 1..=4", m.eaction.0),
                ))
            }
            ActionKind::Police(p) if p.rate.rate == 0 && p.rate64.is_none() => {
                return Err(Error::invalid(format!("{field}[{i}].police.rate"), "0"))
            }
            ActionKind::Other { kind, .. } if kind.is_empty() || kind.len() > 15 => {
                return Err(Error::invalid(
                    format!("{field}[{i}].kind"),
                    format!("{kind:?} is not an action kind"),
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Write a list of actions inside an action-list attribute (`TCA_*_ACT`):
/// one nest per action, numbered from 1 (`order`).
pub fn write_actions(w: &mut AttrWriter<'_>, ty: u16, actions: &[Action]) {
    w.nest(ty, |w| {
        for (i, a) in actions.iter().enumerate() {
            w.nest((i + 1) as u16, |w| a.write(w));
        }
    });
}

/// Decode an action list (the payload of `TCA_*_ACT`), in order.
pub fn parse_actions(p: &[u8]) -> Result<Vec<Action>, DecodeError> {
    let mut v: Vec<(u16, Action)> = Vec::new();
    for a in AttrIter::new(p) {
        let a = a?;
        v.push((a.kind(), Action::parse(a.payload)?));
    }
    v.sort_by_key(|(k, _)| *k);
    Ok(v.into_iter().map(|(_, a)| a).collect())
}

impl Action {
    /// Write the attributes of one action (inside its order nest).
    pub fn write(&self, w: &mut AttrWriter<'_>) {
        w.str(act_attr::KIND, self.kind.name());
        if let Some(i) = self.index {
            w.u32(act_attr::INDEX, i);
        }
        if let Some(c) = &self.cookie {
            w.bytes(act_attr::COOKIE, c);
        }
        match &self.kind {
            ActionKind::Mirred(m) => w.nest(act_attr::OPTIONS, |w| {
                let mut b = Vec::with_capacity(28);
                b.extend_from_slice(&m.gen.to_bytes());
                b.extend_from_slice(&m.eaction.0.to_ne_bytes());
                b.extend_from_slice(&m.ifindex.to_ne_bytes());
                w.bytes(MIRRED_PARMS, &b);
                RawAttr::write_all(w, &m.other);
            }),
            ActionKind::Gact(g) => w.nest(act_attr::OPTIONS, |w| {
                w.bytes(GACT_PARMS, &g.gen.to_bytes());
                RawAttr::write_all(w, &g.other);
            }),
            ActionKind::Police(p) => w.nest(act_attr::OPTIONS, |w| {
                w.bytes(police_attr::TBF, &p.tbf_bytes());
                if let Some(t) = &p.rtab {
                    w.bytes(police_attr::RATE, t);
                }
                if let Some(r) = p.rate64 {
                    w.u64(police_attr::RATE64, r);
                }
                if let Some(r) = p.result {
                    w.i32(police_attr::RESULT, r);
                }
                RawAttr::write_all(w, &p.other);
            }),
            ActionKind::Other { options, .. } => {
                if let Some(o) = options {
                    w.bytes(act_attr::OPTIONS, o);
                }
            }
        }
        RawAttr::write_all(w, &self.other);
    }

    /// Decode one action (the payload of its order nest).
    pub fn parse(p: &[u8]) -> Result<Action, DecodeError> {
        let mut kind = None;
        let mut options = None;
        let mut act = Action::from(ActionKind::Other { kind: String::new(), options: None });
        for a in AttrIter::new(p) {
            let a = a?;
            match a.kind() {
                act_attr::KIND => kind = Some(a.str()?.to_string()),
                act_attr::OPTIONS => options = Some(a.payload),
                act_attr::INDEX => act.index = Some(a.u32()?),
                act_attr::COOKIE => act.cookie = Some(a.payload.to_vec()),
                act_attr::STATS => act.stats = Some(Stats::parse_stats2(a.payload)?),
                act_attr::PAD | act_attr::USED_HW_STATS | act_attr::IN_HW_COUNT => {
                    act.kernel.push(RawAttr::from(a))
                }
                _ => act.other.push(RawAttr::from(a)),
            }
        }
        let kind = kind.ok_or_else(|| DecodeError::new("action", "no TCA_ACT_KIND"))?;
        act.kind = decode_kind(&kind, options)?;
        Ok(act)
    }
}

fn decode_kind(kind: &str, options: Option<&[u8]>) -> Result<ActionKind, DecodeError> {
    let other = || ActionKind::Other { kind: kind.to_string(), options: options.map(<[u8]>::to_vec) };
    let Some(o) = options else { return Ok(other()) };
    let mut parms: Option<&[u8]> = None;
    let mut rest = Vec::new();
    let mut police = (None, None, None);
    let parms_ty = match kind {
        "mirred" => MIRRED_PARMS,
        "gact" => GACT_PARMS,
        "police" => police_attr::TBF,
        _ => return Ok(other()),
    };
    for a in AttrIter::new(o) {
        let a = a?;
        match a.kind() {
            t if t == parms_ty && parms.is_none() => parms = Some(a.payload),
            police_attr::RATE if kind == "police" && police.0.is_none() => {
                police.0 = Some(a.payload.to_vec())
            }
            police_attr::RATE64 if kind == "police" && police.1.is_none() && a.payload.len() == 8 => {
                police.1 = Some(a.u64()?)
            }
            police_attr::RESULT if kind == "police" && police.2.is_none() && a.payload.len() == 4 => {
                police.2 = Some(a.i32()?)
            }
            _ => rest.push(RawAttr::from(a)),
        }
    }
    let Some(b) = parms else { return Ok(other()) };
    Ok(match kind {
        "mirred" if b.len() == TC_GEN_LEN + 8 => ActionKind::Mirred(Mirred {
            gen: TcGen::from_bytes(b),
            eaction: MirredKind(i32::from_ne_bytes(b[20..24].try_into().expect("4"))),
            ifindex: u32::from_ne_bytes(b[24..28].try_into().expect("4")),
            other: rest,
        }),
        "gact" if b.len() == TC_GEN_LEN => ActionKind::Gact(Gact { gen: TcGen::from_bytes(b), other: rest }),
        "police" if b.len() == TC_POLICE_LEN => {
            let u = |i: usize| u32::from_ne_bytes(b[i..i + 4].try_into().expect("4"));
            ActionKind::Police(Police {
                index: u(0),
                action: u(4) as i32,
                limit: u(8),
                burst: u(12),
                mtu: u(16),
                rate: RateSpec::from_bytes(&b[20..32])?,
                peakrate: RateSpec::from_bytes(&b[32..44])?,
                refcnt: u(44) as i32,
                bindcnt: u(48) as i32,
                capab: u(52),
                rtab: police.0,
                rate64: police.1,
                result: police.2,
                other: rest,
            })
        }
        _ => other(),
    })
}
