//! What the kernel says about a process: resident memory from
//! `/proc/PID/status` and CPU time from `/proc/PID/stat`; and about the
//! calling thread alone, from `/proc/thread-self/stat`.

use std::fs;
use std::io;
use std::time::Duration;

/// `/proc/PID/stat` counts CPU time in clock ticks of `USER_HZ`, which the
/// kernel fixes at 100 for user space on every architecture Linux supports
/// (it converts from its internal `HZ`), so no `sysconf` call is needed.
const USER_HZ: u64 = 100;

/// One reading of a process's memory and CPU time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcSample {
    /// Resident set size now (`VmRSS`), in KiB.
    pub rss_kib: u64,
    /// Peak resident set size (`VmHWM`), in KiB.
    pub peak_rss_kib: u64,
    /// User plus system CPU time of all its threads, living and exited.
    pub cpu: Duration,
}

/// Which process to read: a pid, or this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Pid(u32),
    Myself,
}

impl Target {
    fn dir(self) -> String {
        match self {
            Target::Pid(pid) => format!("/proc/{pid}"),
            Target::Myself => "/proc/self".to_owned(),
        }
    }
}

/// Reads the process's memory and CPU time now.
pub fn sample(target: Target) -> io::Result<ProcSample> {
    let dir = target.dir();
    let status = fs::read_to_string(format!("{dir}/status"))?;
    let stat = fs::read_to_string(format!("{dir}/stat"))?;
    let malformed =
        |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("{dir}: {what}"));
    Ok(ProcSample {
        rss_kib: status_kib(&status, "VmRSS").ok_or_else(|| malformed("no VmRSS"))?,
        peak_rss_kib: status_kib(&status, "VmHWM").ok_or_else(|| malformed("no VmHWM"))?,
        cpu: stat_cpu(&stat).ok_or_else(|| malformed("unreadable stat"))?,
    })
}

/// User and system CPU time, kept apart: the floor mode reports how much
/// of a write or read is the kernel's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTimes {
    pub user: Duration,
    pub system: Duration,
}

impl CpuTimes {
    pub fn total(&self) -> Duration {
        self.user + self.system
    }

    /// What was spent between `earlier` and `self`.
    pub fn since(&self, earlier: &CpuTimes) -> CpuTimes {
        CpuTimes {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }
}

/// The CPU time of the calling thread so far (not its process's other
/// threads), in `USER_HZ` ticks like every `/proc` CPU figure.
pub fn thread_cpu() -> io::Result<CpuTimes> {
    let stat = fs::read_to_string("/proc/thread-self/stat")?;
    stat_times(&stat).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "/proc/thread-self/stat: unreadable",
        )
    })
}

/// A `Key:   1234 kB` line of `/proc/PID/status`.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix(':')?;
        value.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

/// utime + stime (fields 14 and 15) of `/proc/PID/stat`. The command name
/// (field 2) is in parentheses and may hold spaces or `)`, so fields are
/// counted from the last `)`.
fn stat_cpu(stat: &str) -> Option<Duration> {
    stat_times(stat).map(|times| times.total())
}

/// utime and stime of a `/proc/PID/stat` or `/proc/PID/task/TID/stat` line.
fn stat_times(stat: &str) -> Option<CpuTimes> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = |n: u64| Duration::from_micros(n * 1_000_000 / USER_HZ);
    Some(CpuTimes {
        user: ticks(utime),
        system: ticks(stime),
    })
}

/// Cumulative CPU time of the whole machine, from the `cpu` line of
/// `/proc/stat` (in `USER_HZ` ticks), to tell whether something besides the
/// server and the bench was using the cores during a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MachineSample {
    pub busy_ticks: u64,
    pub total_ticks: u64,
}

impl MachineSample {
    /// Cores busy on average between `earlier` and `self`.
    pub fn busy_cores_since(&self, earlier: &MachineSample, wall: Duration) -> f64 {
        let busy = self.busy_ticks.saturating_sub(earlier.busy_ticks);
        busy as f64 / USER_HZ as f64 / wall.as_secs_f64().max(1e-9)
    }
}

/// Reads the machine's CPU counters now.
pub fn machine() -> io::Result<MachineSample> {
    let stat = fs::read_to_string("/proc/stat")?;
    machine_from(&stat)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "/proc/stat: no cpu line"))
}

/// The 1-minute load average.
pub fn load_average() -> io::Result<f64> {
    let text = fs::read_to_string("/proc/loadavg")?;
    text.split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "/proc/loadavg"))
}

/// `cpu  user nice system idle iowait irq softirq steal ...`: idle and
/// iowait are not busy; guest time is already inside user.
fn machine_from(stat: &str) -> Option<MachineSample> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    let [user, nice, system, idle, iowait, irq, softirq, steal] = ticks[..] else {
        return None;
    };
    let busy = user + nice + system + irq + softirq + steal;
    Some(MachineSample {
        busy_ticks: busy,
        total_ticks: busy + idle + iowait,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_machine_cpu() {
        let stat = "cpu  100 5 50 800 20 3 2 0 0 0\ncpu0 50 2 25 400 10 1 1 0 0 0\n";
        let sample = machine_from(stat).unwrap();
        assert_eq!(sample.busy_ticks, 160);
        assert_eq!(sample.total_ticks, 980);
        let later = MachineSample {
            busy_ticks: 360,
            total_ticks: 1380,
        };
        assert_eq!(later.busy_cores_since(&sample, Duration::from_secs(2)), 1.0);
        assert!(machine().unwrap().total_ticks > 0);
        assert!(load_average().unwrap() >= 0.0);
    }

    #[test]
    fn reads_rss_lines() {
        let status = "Name:\tchat-server\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nThreads:\t3\n";
        assert_eq!(status_kib(status, "VmRSS"), Some(10240));
        assert_eq!(status_kib(status, "VmHWM"), Some(20480));
        assert_eq!(status_kib(status, "VmSwap"), None);
    }

    #[test]
    fn reads_cpu_ticks_after_an_awkward_name() {
        let stat = "4242 (chat) server) S 1 4242 4242 0 -1 4194560 1200 0 0 0 250 75 0 0 20 0 3 0";
        assert_eq!(stat_cpu(stat), Some(Duration::from_millis(3250)));
        assert_eq!(stat_cpu("4242 (x) S 1 2"), None);
        let times = stat_times(stat).unwrap();
        assert_eq!(times.user, Duration::from_millis(2500));
        assert_eq!(times.system, Duration::from_millis(750));
    }

    #[test]
    fn a_busy_thread_sees_its_own_cpu_time_grow() {
        let before = thread_cpu().unwrap();
        let started = std::time::Instant::now();
        let mut spins = 0u64;
        let mut after = before;
        // A few USER_HZ ticks of work, bounded in time.
        while after.total() <= before.total() && started.elapsed() < Duration::from_secs(5) {
            spins = std::hint::black_box(spins.wrapping_add(1));
            if spins.is_multiple_of(1_000_000) {
                after = thread_cpu().unwrap();
            }
        }
        assert!(after.total() > before.total(), "{before:?} -> {after:?}");
        assert_eq!(after.since(&before).total(), after.total() - before.total());
    }

    #[test]
    fn samples_this_process() {
        let me = sample(Target::Myself).unwrap();
        assert!(me.rss_kib > 0);
        assert!(me.peak_rss_kib >= me.rss_kib);
    }
}
