//! Waiting for a quiet machine before a measurement (shared by the
//! harness and the profiling examples, which include this file with
//! `#[path]`).

use std::time::{Duration, Instant};

/// CPU time counters of the whole machine from `/proc/stat`: (idle, total)
/// in clock ticks, idle including I/O wait.
fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line.split_whitespace().take(8).map(|x| x.parse().ok()).collect::<Option<_>>()?;
    let [user, nice, system, idle, iowait, irq, softirq, steal] = v[..] else {
        return None;
    };
    Some((idle + iowait, user + nice + system + idle + iowait + irq + softirq + steal))
}

/// Wait until the machine is quiet, at most `max`: the CPUs together at
/// least 90% idle over a 200 ms window. The kernel finishes removing a
/// namespace in the background (a table of 100,000 flows, 10,000 routes
/// or 2,000 links takes it up to a second), and that work would otherwise
/// run during the next measurement, on one of the same CPUs. Returns
/// whether it got quiet in time.
pub fn quiesce(max: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < max {
        let Some(a) = cpu_ticks() else { return false };
        std::thread::sleep(Duration::from_millis(200));
        let Some(b) = cpu_ticks() else { return false };
        let (idle, total) = (b.0.saturating_sub(a.0), b.1.saturating_sub(a.1));
        if total > 0 && idle * 10 >= total * 9 {
            return true;
        }
    }
    false
}
