//! Flows as `conntrack -L` prints them (conntrack-tools 1.4.7 with
//! libnetfilter_conntrack 1.0.9, default output), so scripts written for
//! its output keep working.

use std::fmt::Write;
use std::net::{IpAddr, Ipv6Addr};
use std::time::SystemTime;

use super::events::EventKind;
use super::flow::{Counters, Flow, ProtoInfo};
use super::status::Status;
use super::tuple::{IpProto, Tuple};

/// Which of `conntrack`'s output options to follow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LineFormat {
    /// Start with the layer-3 protocol (`-o extended`): `ipv4     2 `.
    pub layer3: bool,
    /// End with the flow id (`-o id`): `id=3096123`.
    pub id: bool,
    /// Start with the event tag, right-aligned in 9 columns, as
    /// `conntrack -E` does: `    [NEW] `.
    pub event: Option<EventKind>,
}

impl Flow {
    /// The line `conntrack -L` prints for this flow (no newline), with
    /// `delta-time` computed against the current time.
    pub fn to_conntrack_line(&self) -> String {
        self.render(LineFormat::default(), SystemTime::now())
    }

    /// The line `conntrack -L -o labels` prints: [`Flow::to_conntrack_line`]
    /// followed by `labels=NAME,...` when the flow carries labels named in
    /// `map`.
    pub fn to_conntrack_line_with_labels(&self, map: &super::LabelMap) -> String {
        let mut s = self.to_conntrack_line();
        if let Some(l) = self.extra.labels {
            let names = map.format(l);
            if !names.is_empty() {
                s.push_str(" labels=");
                s.push_str(&names);
            }
        }
        s
    }

    /// The line `conntrack` prints for this flow in `format`, computing
    /// `delta-time` (shown when timestamps are on) against `now`.
    pub fn render(&self, format: LineFormat, now: SystemTime) -> String {
        let mut s = String::with_capacity(200);
        self.render_into(&mut s, format, now);
        s
    }

    /// [`Flow::render`], appending to `out` (no newline): for printing many
    /// flows through one buffer.
    pub fn render_into(&self, out: &mut String, format: LineFormat, now: SystemTime) {
        let start = out.len();
        self.write_line(out, format, now);
        // conntrack drops the last blank.
        if out.len() > start && out.ends_with(' ') {
            out.pop();
        }
    }

    // Numbers and IPv4 addresses are formatted by hand: this runs once per
    // flow when printing whole tables, and `fmt` machinery would dominate.
    fn write_line(&self, s: &mut String, format: LineFormat, now: SystemTime) {
        if let Some(e) = format.event {
            let tag = e.tag();
            spaces(s, 9usize.saturating_sub(tag.len()));
            s.push_str(tag);
            s.push(' ');
        }
        if format.layer3 {
            let name = match self.family as i32 {
                libc::AF_INET => "ipv4",
                libc::AF_INET6 => "ipv6",
                _ => "unknown",
            };
            padded(s, name);
            num(s, self.family as u64);
            s.push(' ');
        }
        let p = self.orig.proto;
        padded(s, p.name().unwrap_or("unknown"));
        num(s, p.0 as u64);
        s.push(' ');
        if let Some(t) = self.timeout {
            num(s, t as u64);
            s.push(' ');
        }
        let state = match &self.protoinfo {
            Some(ProtoInfo::Tcp(t)) => t.state.map(|st| st.name()),
            Some(ProtoInfo::Sctp(t)) => t.state.map(|st| st.name()),
            Some(ProtoInfo::Dccp(t)) => t.state.map(|st| st.name()),
            _ => None,
        };
        if let Some(name) = state {
            s.push_str(name.unwrap_or("NONE"));
            s.push(' ');
        }
        write_tuple(s, &self.orig);
        if let Some(z) = self.orig.zone {
            kv(s, "zone-orig=", z as u64);
        }
        write_counters(s, self.extra.counters_orig);
        if let Some(st) = self.status {
            if !st.contains(Status::SEEN_REPLY) {
                s.push_str("[UNREPLIED] ");
            }
        }
        write_tuple(s, &self.reply);
        if let Some(z) = self.reply.zone {
            kv(s, "zone-reply=", z as u64);
        }
        write_counters(s, self.extra.counters_reply);
        if let Some(st) = self.status {
            if st.contains(Status::HW_OFFLOAD) {
                s.push_str("[HW_OFFLOAD] ");
            } else if st.contains(Status::OFFLOAD) {
                s.push_str("[OFFLOAD] ");
            } else if st.contains(Status::ASSURED) {
                s.push_str("[ASSURED] ");
            }
        }
        if let Some(m) = self.mark {
            kv(s, "mark=", m as u64);
        }
        if let Some(c) = &self.extra.secctx {
            s.push_str("secctx=");
            s.push_str(c);
            s.push(' ');
        }
        if let Some(z) = self.zone {
            kv(s, "zone=", z as u64);
        }
        if let Some(ts) = self.extra.timestamp {
            let secs = |ns: u64| (ns / 1_000_000_000) as i64;
            let stop = match ts.stop {
                Some(stop) if stop != 0 => secs(stop),
                _ => now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64),
            };
            // conntrack prints the difference as unsigned, wrapping if negative.
            kv(s, "delta-time=", stop.wrapping_sub(secs(ts.start)) as u64);
        }
        if let Some(h) = &self.extra.helper {
            s.push_str("helper=");
            s.push_str(&h.name);
            s.push(' ');
        }
        if let Some(u) = self.use_count {
            kv(s, "use=", u as u64);
        }
        if format.id {
            if let Some(id) = self.id {
                kv(s, "id=", id as u64);
            }
        }
    }
}

/// Append `n` in decimal.
fn num(s: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    s.push_str(std::str::from_utf8(&buf[i..]).expect("ASCII digits"));
}

/// Append `key`, `n` and a blank.
fn kv(s: &mut String, key: &str, n: u64) {
    s.push_str(key);
    num(s, n);
    s.push(' ');
}

/// Append `name` left-aligned in 8 columns and a blank (`%-8s `).
fn padded(s: &mut String, name: &str) {
    s.push_str(name);
    spaces(s, 8usize.saturating_sub(name.len()) + 1);
}

fn spaces(s: &mut String, n: usize) {
    for _ in 0..n {
        s.push(' ');
    }
}

fn write_tuple(s: &mut String, t: &Tuple) {
    s.push_str("src=");
    write_addr(s, t.src);
    s.push_str(" dst=");
    write_addr(s, t.dst);
    s.push(' ');
    match t.proto {
        IpProto::TCP | IpProto::UDP | IpProto::UDPLITE | IpProto::SCTP | IpProto::DCCP => {
            kv(s, "sport=", t.src_port.unwrap_or(0) as u64);
            kv(s, "dport=", t.dst_port.unwrap_or(0) as u64);
        }
        IpProto::GRE => {
            let _ =
                write!(s, "srckey=0x{:x} dstkey=0x{:x} ", t.src_port.unwrap_or(0), t.dst_port.unwrap_or(0));
        }
        IpProto::ICMP | IpProto::ICMPV6 => {
            let i = t.icmp.unwrap_or(super::tuple::Icmp { id: 0, kind: 0, code: 0 });
            kv(s, "type=", i.kind as u64);
            kv(s, "code=", i.code as u64);
            kv(s, "id=", i.id as u64);
        }
        _ => {}
    }
}

fn write_counters(s: &mut String, c: Option<Counters>) {
    if let Some(c) = c {
        kv(s, "packets=", c.packets);
        kv(s, "bytes=", c.bytes);
    }
}

/// An address as `inet_ntop` (glibc) prints it: like Rust, except that
/// IPv4-compatible IPv6 addresses (`::a.b.c.d`) keep their dotted tail.
fn write_addr(s: &mut String, a: IpAddr) {
    match a {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            for (i, b) in o.iter().enumerate() {
                if i > 0 {
                    s.push('.');
                }
                num(s, *b as u64);
            }
        }
        IpAddr::V6(v6) if is_v4_compatible(&v6) => {
            let o = v6.octets();
            let _ = write!(s, "::{}.{}.{}.{}", o[12], o[13], o[14], o[15]);
        }
        IpAddr::V6(v6) => {
            let _ = write!(s, "{v6}");
        }
    }
}

fn is_v4_compatible(a: &Ipv6Addr) -> bool {
    let seg = a.segments();
    seg[..6].iter().all(|&x| x == 0) && seg[6] != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conntrack::{Labels, Status, TcpState, Timestamps};
    use std::time::Duration;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    // Expected lines below are what conntrack v1.4.7 printed for the same
    // flows (inserted with `conntrack -I` into a fresh namespace on Linux
    // 6.18), except where a comment says how they were derived.

    #[test]
    fn tcp_assured_with_mark() {
        let mut f = Flow::new(Tuple::tcp("10.0.0.1:1000".parse().unwrap(), "10.0.0.2:80".parse().unwrap()))
            .with_timeout(99)
            .with_tcp_state(TcpState::ESTABLISHED)
            .with_status(Status::SEEN_REPLY | Status::ASSURED | Status::CONFIRMED)
            .with_mark(7);
        f.use_count = Some(1);
        f.id = Some(2447511621);
        assert_eq!(
            f.render(LineFormat::default(), at(0)),
            "tcp      6 99 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=1000 dport=80 \
             src=10.0.0.2 dst=10.0.0.1 sport=80 dport=1000 [ASSURED] mark=7 use=1"
        );
        assert_eq!(
            f.render(LineFormat { layer3: true, id: true, event: None }, at(0)),
            "ipv4     2 tcp      6 99 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=1000 dport=80 \
             src=10.0.0.2 dst=10.0.0.1 sport=80 dport=1000 [ASSURED] mark=7 use=1 id=2447511621"
        );
    }

    #[test]
    fn udp_unreplied_in_a_zone_and_icmp() {
        let mut f = Flow::new(Tuple::udp("10.0.0.1:53".parse().unwrap(), "10.0.0.2:53".parse().unwrap()))
            .with_timeout(29)
            .with_status(Status::CONFIRMED)
            .with_mark(0)
            .with_zone(5);
        f.use_count = Some(1);
        assert_eq!(
            f.to_conntrack_line(),
            "udp      17 29 src=10.0.0.1 dst=10.0.0.2 sport=53 dport=53 [UNREPLIED] \
             src=10.0.0.2 dst=10.0.0.1 sport=53 dport=53 mark=0 zone=5 use=1"
        );
        let mut i =
            Flow::new(Tuple::icmp("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap(), 77, 8, 0))
                .with_timeout(29)
                .with_status(Status::CONFIRMED)
                .with_mark(0);
        i.use_count = Some(1);
        assert_eq!(
            i.to_conntrack_line(),
            "icmp     1 29 src=10.0.0.1 dst=10.0.0.2 type=8 code=0 id=77 [UNREPLIED] \
             src=10.0.0.2 dst=10.0.0.1 type=0 code=0 id=77 mark=0 use=1"
        );
    }

    #[test]
    fn counters_timestamps_direction_zones_and_events() {
        // Layout per libnetfilter_conntrack 1.0.9 __snprintf_conntrack_default:
        // zone-orig and counters after each tuple, delta-time after zone.
        let mut f = Flow::new(
            Tuple::udp("[fd00::1]:5".parse().unwrap(), "[fd00::2]:6".parse().unwrap()).with_zone(3),
        )
        .with_timeout(50)
        .with_status(Status::SEEN_REPLY | Status::CONFIRMED)
        .with_mark(1)
        .with_labels(Labels(1));
        f.extra.counters_orig = Some(Counters { packets: 2, bytes: 120 });
        f.extra.counters_reply = Some(Counters { packets: 1, bytes: 60 });
        f.extra.timestamp = Some(Timestamps { start: 1_000_000_000_000, stop: None });
        f.use_count = Some(1);
        assert_eq!(
            f.render(LineFormat::default(), at(1_042)),
            "udp      17 50 src=fd00::1 dst=fd00::2 sport=5 dport=6 zone-orig=3 packets=2 bytes=120 \
             src=fd00::2 dst=fd00::1 sport=6 dport=5 packets=1 bytes=60 mark=1 delta-time=42 use=1"
        );
        f.extra.timestamp = Some(Timestamps { start: 1_000_000_000_000, stop: Some(1_010_500_000_000) });
        let line = f.render(LineFormat { event: Some(EventKind::Destroy), ..Default::default() }, at(0));
        assert!(line.starts_with("[DESTROY] udp      17 "), "{line}");
        assert!(line.contains(" delta-time=10 "), "{line}");
        let new = f.render(LineFormat { event: Some(EventKind::New), ..Default::default() }, at(0));
        assert!(new.starts_with("    [NEW] udp"), "{new}");
    }

    /// Real kernel messages: flow dump entries captured on Linux 6.18
    /// (`fuzz/seeds/conntrack_flow/kernel-6.18-msg*`) in a namespace with
    /// `nf_conntrack_acct=1` and `nf_conntrack_timestamp=1`, after
    /// `conntrack -I -p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1000 --dport 80
    /// --state ESTABLISHED -t 431999 -u SEEN_REPLY,ASSURED -m 7`, `... -p icmp
    /// --icmp-type 8 --icmp-code 0 --icmp-id 77 -t 30 -w 9` and `... -p udp
    /// -s fd00::1 -d fd00::2 --sport 5 --dport 6 -t 200 --orig-zone 3`. The
    /// expected lines are what `conntrack -L` printed in the same second.
    /// The captures live in fuzz/, which is not in the package: feature
    /// `fuzz-corpus` says they are there.
    #[cfg(feature = "fuzz-corpus")]
    #[test]
    fn captured_kernel_messages_render_as_conntrack_printed_them() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/conntrack_flow/");
        let cases = [
            (
                "kernel-6.18-msg0",
                "tcp      6 431998 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=1000 dport=80 packets=0 bytes=0 \
                 src=10.0.0.2 dst=10.0.0.1 sport=80 dport=1000 packets=0 bytes=0 [ASSURED] mark=7 delta-time=0 use=1",
            ),
            (
                "kernel-6.18-msg1",
                "icmp     1 29 src=10.0.0.1 dst=10.0.0.2 type=8 code=0 id=77 packets=0 bytes=0 [UNREPLIED] \
                 src=10.0.0.2 dst=10.0.0.1 type=0 code=0 id=77 packets=0 bytes=0 mark=0 zone=9 delta-time=0 use=1",
            ),
            (
                "kernel-6.18-msg2",
                "udp      17 199 src=fd00::1 dst=fd00::2 sport=5 dport=6 zone-orig=3 packets=0 bytes=0 [UNREPLIED] \
                 src=fd00::2 dst=fd00::1 sport=6 dport=5 packets=0 bytes=0 mark=0 delta-time=0 use=1",
            ),
        ];
        for (file, want) in cases {
            let bytes = std::fs::read(format!("{dir}{file}")).unwrap();
            let f = Flow::decode(&bytes).unwrap();
            let start = f.extra.timestamp.expect("timestamps were on").start;
            let now = SystemTime::UNIX_EPOCH + Duration::from_nanos(start);
            assert_eq!(f.render(LineFormat::default(), now), want, "{file}");
            assert!(f.unknown.is_empty(), "{file}: {:?}", f.unknown);
        }
        let tcp = Flow::decode(&std::fs::read(format!("{dir}kernel-6.18-msg0")).unwrap()).unwrap();
        assert_eq!(tcp.tcp_state(), Some(TcpState::ESTABLISHED));
        assert_eq!(tcp.status_bits(), Status::SEEN_REPLY | Status::ASSURED | Status::CONFIRMED);
        assert_eq!(tcp.extra.counters_orig, Some(Counters::default()));
        assert_eq!(tcp.synproxy, Some(crate::conntrack::Synproxy::default()));
    }

    #[test]
    fn unknown_protocol_and_addresses_like_inet_ntop() {
        let mut f = Flow::new(Tuple::new(
            "::1.2.3.4".parse().unwrap(),
            "::ffff:1.2.3.4".parse().unwrap(),
            IpProto(99),
        ))
        .with_timeout(1);
        f.status = Some(Status::SEEN_REPLY | Status::OFFLOAD | Status::ASSURED);
        assert_eq!(
            f.to_conntrack_line(),
            "unknown  99 1 src=::1.2.3.4 dst=::ffff:1.2.3.4 src=::ffff:1.2.3.4 dst=::1.2.3.4 [OFFLOAD]"
        );
        let mut g =
            Flow::new(Tuple::new("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap(), IpProto::GRE));
        g.orig.src_port = Some(0x10);
        g.orig.dst_port = Some(0x20);
        g.reply = g.orig.reversed();
        assert_eq!(
            g.to_conntrack_line(),
            "gre      47 src=10.0.0.1 dst=10.0.0.2 srckey=0x10 dstkey=0x20 src=10.0.0.2 dst=10.0.0.1 srckey=0x20 dstkey=0x10"
        );
    }
}
