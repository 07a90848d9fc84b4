//! Flow events: what `conntrack -E` shows.

use super::consts::*;
use super::flow::Flow;
use crate::error::DecodeError;
use crate::wire::{Msg, NLM_F_CREATE};

/// What happened to a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A new flow (`[NEW]`; group `NFNLGRP_CONNTRACK_NEW`).
    New,
    /// A flow changed: state, status, mark, ... (`[UPDATE]`).
    Update,
    /// A flow ended or was deleted (`[DESTROY]`).
    Destroy,
}

impl EventKind {
    /// The tag `conntrack -E` prints: `[NEW]`, `[UPDATE]`, `[DESTROY]`.
    pub fn tag(self) -> &'static str {
        match self {
            EventKind::New => "[NEW]",
            EventKind::Update => "[UPDATE]",
            EventKind::Destroy => "[DESTROY]",
        }
    }
}

/// One event: what happened and the flow as the kernel described it then.
///
/// Events carry fewer fields than a listing: the mark only when it is set
/// or changed, protocol information only when it changed, counters and
/// stop time only on destroy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowEvent {
    /// What happened.
    pub kind: EventKind,
    /// The flow.
    pub flow: Flow,
    /// The netlink port id of the program whose request caused the event
    /// (`nlmsg_pid`); 0 when the kernel itself did (traffic, timeouts).
    /// `conntrack -E` prints it as `[USERSPACE] portid=N`.
    pub portid: u32,
}

bitflags::bitflags! {
    /// Which events to receive (`conntrack -E -e NEW,UPDATE,DESTROY`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct EventGroups: u8 {
        /// New flows.
        const NEW = 1 << 0;
        /// Changed flows.
        const UPDATE = 1 << 1;
        /// Ended flows.
        const DESTROY = 1 << 2;
    }
}

impl EventGroups {
    /// The `NFNLGRP_CONNTRACK_*` multicast groups to join.
    pub(crate) fn groups(self) -> Vec<u32> {
        [
            (EventGroups::NEW, NFNLGRP_CONNTRACK_NEW),
            (EventGroups::UPDATE, NFNLGRP_CONNTRACK_UPDATE),
            (EventGroups::DESTROY, NFNLGRP_CONNTRACK_DESTROY),
        ]
        .into_iter()
        .filter(|(g, _)| self.contains(*g))
        .map(|(_, n)| n)
        .collect()
    }
}

impl FlowEvent {
    /// Decode an event message; `Ok(None)` for messages that are not flow
    /// events.
    pub fn decode(msg: &Msg<'_>) -> Result<Option<FlowEvent>, DecodeError> {
        let kind = match msg.header.ty {
            t if t == msg_type(IPCTNL_MSG_CT_NEW) => {
                if msg.header.flags & NLM_F_CREATE != 0 {
                    EventKind::New
                } else {
                    EventKind::Update
                }
            }
            t if t == msg_type(IPCTNL_MSG_CT_DELETE) => EventKind::Destroy,
            _ => return Ok(None),
        };
        Ok(Some(FlowEvent { kind, flow: Flow::decode(msg.payload)?, portid: msg.header.port }))
    }

    /// The line `conntrack -E` prints for this event (no newline): `
    /// [NEW] udp      17 30 src=... mark=0 [USERSPACE] portid=1234
    /// progname=NAME`. Like conntrack, the program name is that of the
    /// local process whose pid is the port id (`/proc/PID/comm`), when
    /// there is one.
    pub fn to_conntrack_line(&self) -> String {
        let prog = (self.portid != 0)
            .then(|| std::fs::read_to_string(format!("/proc/{}/comm", self.portid)).ok())
            .flatten();
        self.render(std::time::SystemTime::now(), None, prog.as_deref().map(str::trim_end))
    }

    /// [`FlowEvent::to_conntrack_line`] computing `delta-time` against
    /// `now`, with `labels=NAME,...` (as `conntrack -E -o labels`) when a
    /// label map is given and the flow carries named labels, and
    /// `progname=NAME` when `progname` is given.
    pub fn render(
        &self,
        now: std::time::SystemTime,
        labels: Option<&super::LabelMap>,
        progname: Option<&str>,
    ) -> String {
        let mut s = self.flow.render(super::LineFormat { event: Some(self.kind), ..Default::default() }, now);
        if let (Some(map), Some(l)) = (labels, self.flow.extra.labels) {
            let names = map.format(l);
            if !names.is_empty() {
                s.push_str(" labels=");
                s.push_str(&names);
            }
        }
        if self.portid != 0 {
            s.push_str(" [USERSPACE] portid=");
            s.push_str(&self.portid.to_string());
            if let Some(p) = progname {
                s.push_str(" progname=");
                s.push_str(p);
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conntrack::Tuple;
    use crate::wire::{Header, NLM_F_EXCL};

    #[test]
    fn kinds_follow_type_and_flags() {
        let f = Flow::new(Tuple::udp("10.0.0.1:1".parse().unwrap(), "10.0.0.2:2".parse().unwrap()));
        let payload = f.encode();
        let msg =
            |ty, flags| Msg { header: Header { len: 0, ty, flags, seq: 0, port: 0 }, payload: &payload };
        let new = FlowEvent::decode(&msg(msg_type(IPCTNL_MSG_CT_NEW), NLM_F_CREATE | NLM_F_EXCL)).unwrap();
        assert_eq!(new.unwrap().kind, EventKind::New);
        let upd = FlowEvent::decode(&msg(msg_type(IPCTNL_MSG_CT_NEW), 0)).unwrap().unwrap();
        assert_eq!((upd.kind, upd.flow), (EventKind::Update, f));
        let del = FlowEvent::decode(&msg(msg_type(IPCTNL_MSG_CT_DELETE), 0)).unwrap();
        assert_eq!(del.unwrap().kind, EventKind::Destroy);
        assert_eq!(FlowEvent::decode(&msg(msg_type(9), 0)).unwrap(), None);
        assert_eq!(EventGroups::all().groups(), vec![1, 2, 3]);
        assert_eq!(EventGroups::DESTROY.groups(), vec![3]);
    }
}
