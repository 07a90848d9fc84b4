//! Status bits of a flow (`enum ip_conntrack_status`) and protocol states.

use std::fmt;

bitflags::bitflags! {
    /// `CTA_STATUS`: the `IPS_*` bits of a flow. Bits netplumb does not
    /// name are kept (use [`Status::from_bits_retain`] and
    /// [`Status::bits`]).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct Status: u32 {
        /// `IPS_EXPECTED`: the flow was expected by a helper.
        const EXPECTED = 1 << 0;
        /// `IPS_SEEN_REPLY`: packets were seen in both directions
        /// (`conntrack` prints `[UNREPLIED]` while this is unset).
        const SEEN_REPLY = 1 << 1;
        /// `IPS_ASSURED`: the flow is not dropped early when the table is
        /// full (`[ASSURED]`).
        const ASSURED = 1 << 2;
        /// `IPS_CONFIRMED`: the flow is in the table.
        const CONFIRMED = 1 << 3;
        /// `IPS_SRC_NAT`: source NAT applies.
        const SRC_NAT = 1 << 4;
        /// `IPS_DST_NAT`: destination NAT applies.
        const DST_NAT = 1 << 5;
        /// `IPS_SEQ_ADJUST`: TCP sequence numbers are adjusted.
        const SEQ_ADJUST = 1 << 6;
        /// `IPS_SRC_NAT_DONE`.
        const SRC_NAT_DONE = 1 << 7;
        /// `IPS_DST_NAT_DONE`.
        const DST_NAT_DONE = 1 << 8;
        /// `IPS_DYING`: being removed.
        const DYING = 1 << 9;
        /// `IPS_FIXED_TIMEOUT`: the timeout is not refreshed by packets.
        const FIXED_TIMEOUT = 1 << 10;
        /// `IPS_TEMPLATE`.
        const TEMPLATE = 1 << 11;
        /// `IPS_NAT_CLASH` (formerly `IPS_UNTRACKED`).
        const NAT_CLASH = 1 << 12;
        /// `IPS_HELPER`: a helper was attached explicitly.
        const HELPER = 1 << 13;
        /// `IPS_OFFLOAD`: offloaded to a flowtable (`[OFFLOAD]`).
        const OFFLOAD = 1 << 14;
        /// `IPS_HW_OFFLOAD`: offloaded to hardware (`[HW_OFFLOAD]`).
        const HW_OFFLOAD = 1 << 15;
        /// Bits without a name yet.
        const _ = !0;
    }
}

macro_rules! state_type {
    ($(#[$doc:meta])* $name:ident { $($(#[$cdoc:meta])* $c:ident = $v:expr => $s:expr),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u8);

        impl $name {
            $( $(#[$cdoc])* pub const $c: $name = $name($v); )*

            /// The name `conntrack` prints, or `None` for a value it does
            /// not know (it prints those as `NONE`).
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $v => Some($s), )*
                    _ => None,
                }
            }

            /// Parse a name as `conntrack --state` takes it.
            pub fn parse(s: &str) -> Option<$name> {
                match s.to_ascii_uppercase().as_str() {
                    $( $s => Some($name($v)), )*
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}", self.0),
                }
            }
        }
    };
}

state_type!(
    /// A TCP connection state (`enum tcp_conntrack`).
    TcpState {
        /// `TCP_CONNTRACK_NONE`.
        NONE = 0 => "NONE",
        /// `TCP_CONNTRACK_SYN_SENT`.
        SYN_SENT = 1 => "SYN_SENT",
        /// `TCP_CONNTRACK_SYN_RECV`.
        SYN_RECV = 2 => "SYN_RECV",
        /// `TCP_CONNTRACK_ESTABLISHED`.
        ESTABLISHED = 3 => "ESTABLISHED",
        /// `TCP_CONNTRACK_FIN_WAIT`.
        FIN_WAIT = 4 => "FIN_WAIT",
        /// `TCP_CONNTRACK_CLOSE_WAIT`.
        CLOSE_WAIT = 5 => "CLOSE_WAIT",
        /// `TCP_CONNTRACK_LAST_ACK`.
        LAST_ACK = 6 => "LAST_ACK",
        /// `TCP_CONNTRACK_TIME_WAIT`.
        TIME_WAIT = 7 => "TIME_WAIT",
        /// `TCP_CONNTRACK_CLOSE`.
        CLOSE = 8 => "CLOSE",
        /// `TCP_CONNTRACK_SYN_SENT2` (a.k.a. `LISTEN`).
        SYN_SENT2 = 9 => "SYN_SENT2",
    }
);

state_type!(
    /// An SCTP association state (`enum sctp_conntrack`).
    SctpState {
        /// `SCTP_CONNTRACK_NONE`.
        NONE = 0 => "NONE",
        /// `SCTP_CONNTRACK_CLOSED`.
        CLOSED = 1 => "CLOSED",
        /// `SCTP_CONNTRACK_COOKIE_WAIT`.
        COOKIE_WAIT = 2 => "COOKIE_WAIT",
        /// `SCTP_CONNTRACK_COOKIE_ECHOED`.
        COOKIE_ECHOED = 3 => "COOKIE_ECHOED",
        /// `SCTP_CONNTRACK_ESTABLISHED`.
        ESTABLISHED = 4 => "ESTABLISHED",
        /// `SCTP_CONNTRACK_SHUTDOWN_SENT`.
        SHUTDOWN_SENT = 5 => "SHUTDOWN_SENT",
        /// `SCTP_CONNTRACK_SHUTDOWN_RECD`.
        SHUTDOWN_RECD = 6 => "SHUTDOWN_RECD",
        /// `SCTP_CONNTRACK_SHUTDOWN_ACK_SENT`.
        SHUTDOWN_ACK_SENT = 7 => "SHUTDOWN_ACK_SENT",
        /// `SCTP_CONNTRACK_HEARTBEAT_SENT`.
        HEARTBEAT_SENT = 8 => "HEARTBEAT_SENT",
        /// `SCTP_CONNTRACK_HEARTBEAT_ACKED` (older kernels).
        HEARTBEAT_ACKED = 9 => "HEARTBEAT_ACKED",
    }
);

state_type!(
    /// A DCCP connection state (`enum ct_dccp_states`).
    DccpState {
        /// `CT_DCCP_NONE`.
        NONE = 0 => "NONE",
        /// `CT_DCCP_REQUEST`.
        REQUEST = 1 => "REQUEST",
        /// `CT_DCCP_RESPOND`.
        RESPOND = 2 => "RESPOND",
        /// `CT_DCCP_PARTOPEN`.
        PARTOPEN = 3 => "PARTOPEN",
        /// `CT_DCCP_OPEN`.
        OPEN = 4 => "OPEN",
        /// `CT_DCCP_CLOSEREQ`.
        CLOSEREQ = 5 => "CLOSEREQ",
        /// `CT_DCCP_CLOSING`.
        CLOSING = 6 => "CLOSING",
        /// `CT_DCCP_TIMEWAIT`.
        TIMEWAIT = 7 => "TIMEWAIT",
        /// `CT_DCCP_IGNORE`.
        IGNORE = 8 => "IGNORE",
        /// `CT_DCCP_INVALID`.
        INVALID = 9 => "INVALID",
    }
);

impl Status {
    /// Parse a comma-separated list as `conntrack -u` takes it
    /// (`ASSURED,SEEN_REPLY`); `UNSET` is the empty set.
    pub fn parse_list(s: &str) -> Option<Status> {
        let mut out = Status::empty();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bit = match part.to_ascii_uppercase().as_str() {
                "UNSET" => Status::empty(),
                "EXPECTED" => Status::EXPECTED,
                "SEEN_REPLY" => Status::SEEN_REPLY,
                "ASSURED" => Status::ASSURED,
                "CONFIRMED" => Status::CONFIRMED,
                "SRC_NAT" | "SNAT" => Status::SRC_NAT,
                "DST_NAT" | "DNAT" => Status::DST_NAT,
                "SEQ_ADJUST" => Status::SEQ_ADJUST,
                "SRC_NAT_DONE" => Status::SRC_NAT_DONE,
                "DST_NAT_DONE" => Status::DST_NAT_DONE,
                "DYING" => Status::DYING,
                "FIXED_TIMEOUT" => Status::FIXED_TIMEOUT,
                "TEMPLATE" => Status::TEMPLATE,
                "NAT_CLASH" => Status::NAT_CLASH,
                "HELPER" => Status::HELPER,
                "OFFLOAD" => Status::OFFLOAD,
                "HW_OFFLOAD" => Status::HW_OFFLOAD,
                _ => return None,
            };
            out |= bit;
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_bits_and_values_are_kept() {
        let s = Status::from_bits_retain(0x8000_000e);
        assert_eq!(s.bits(), 0x8000_000e);
        assert!(s.contains(Status::SEEN_REPLY | Status::ASSURED | Status::CONFIRMED));
        assert_eq!(TcpState(42).name(), None);
        assert_eq!(TcpState(42).to_string(), "42");
        assert_eq!(TcpState::parse("established"), Some(TcpState::ESTABLISHED));
        assert_eq!(SctpState::ESTABLISHED.to_string(), "ESTABLISHED");
        assert_eq!(DccpState(9).to_string(), "INVALID");
        assert_eq!(Status::parse_list("ASSURED,SEEN_REPLY"), Some(Status::ASSURED | Status::SEEN_REPLY));
        assert_eq!(Status::parse_list("UNSET"), Some(Status::empty()));
        assert_eq!(Status::parse_list("BOGUS"), None);
    }
}
