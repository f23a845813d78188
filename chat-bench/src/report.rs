//! A run's figures: one struct per kind of run ([`Report`] for the
//! scenarios against a server, [`FloorReport`] for the floor mode) that
//! prints as a human table and as the single JSON line scripts read.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::floor::{FloorPlan, ReaderFigures};

/// Everything a run measured. Rates are over the measured window; server
/// figures are present only when the run was given `--server-pid`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub scenario: String,
    pub run_id: String,
    pub url: String,
    /// Connections asked for.
    pub connections: u64,
    /// Connections that reached `joined`.
    pub connections_opened: u64,
    pub connections_failed: u64,
    pub rooms: u64,
    pub senders: u64,
    /// From the first connect to the last `joined`.
    pub setup_secs: f64,
    /// Per connection, from starting to connect to `joined`.
    pub setup_p50_us: u64,
    pub setup_p99_us: u64,
    pub setup_max_us: u64,
    /// Per connection, from sending `join` to `joined`.
    pub join_reply_p50_us: u64,
    pub join_reply_p99_us: u64,
    /// Server user+system CPU time while the connections were opened.
    pub server_setup_cpu_secs: Option<f64>,
    pub window_secs: f64,
    pub frames_sent: u64,
    /// `message` frames received (or `joined` replies, for `join`).
    pub deliveries: u64,
    pub deliveries_per_sec: f64,
    /// Senders' own copies: stored and acknowledged messages.
    pub acks: u64,
    pub acks_per_sec: f64,
    pub presence_frames: u64,
    /// Latency samples: send→receive for messages, send→`joined` for joins.
    pub latency_samples: u64,
    pub latency_p50_us: u64,
    pub latency_p90_us: u64,
    pub latency_p99_us: u64,
    pub latency_max_us: u64,
    pub errors: u64,
    pub error_kinds: BTreeMap<String, u64>,
    pub server_pid: Option<u32>,
    /// Server RSS before the bench opened its connections.
    pub server_rss_kib_before: Option<u64>,
    /// Server RSS at the end of the window.
    pub server_rss_kib: Option<u64>,
    pub server_peak_rss_kib: Option<u64>,
    /// (RSS at the end of the window − RSS before) / connections opened.
    pub server_rss_per_conn_bytes: Option<f64>,
    /// Server user+system CPU time over the window: from the moment the
    /// senders are told to send (every connection joined) to its end, so
    /// connection setup is left out.
    pub server_cpu_secs: Option<f64>,
    /// Server CPU cores busy on average over the window.
    pub server_cpu_cores: Option<f64>,
    /// [`Report::server_cpu_secs`] per delivery: the sending window only.
    pub server_cpu_us_per_delivery: Option<f64>,
    /// Server CPU time over the whole run: from before the first
    /// connection to after the last one closed.
    pub server_run_cpu_secs: Option<f64>,
    /// [`Report::server_run_cpu_secs`] per delivery, setup and close
    /// included.
    pub server_run_cpu_us_per_delivery: Option<f64>,
    pub bench_cpu_secs: f64,
    pub bench_cpu_cores: f64,
    /// Cores busy on the whole machine over the window: far above server
    /// plus bench means something else was running.
    pub machine_busy_cores: Option<f64>,
    /// The 1-minute load average when the run started.
    pub load_average_at_start: Option<f64>,
    pub bench_cpu_us_per_delivery: Option<f64>,
}

impl Report {
    /// The one JSON line.
    pub fn json_line(&self) -> String {
        serde_json::to_string(self).expect("a report has string keys and finite numbers")
    }

    /// The human table.
    pub fn table(&self) -> String {
        let mut rows: Vec<(&str, String)> = vec![
            (
                "scenario",
                format!("{} (run {})", self.scenario, self.run_id),
            ),
            ("server", self.url.clone()),
            (
                "connections",
                format!(
                    "{} opened / {} asked, {} failed, {} rooms, {} senders",
                    self.connections_opened,
                    self.connections,
                    self.connections_failed,
                    self.rooms,
                    self.senders
                ),
            ),
            ("all joined in", format!("{:.3} s", self.setup_secs)),
            (
                "per connection",
                format!(
                    "setup p50 {} p99 {} max {}; join→joined p50 {} p99 {}",
                    millis(self.setup_p50_us),
                    millis(self.setup_p99_us),
                    millis(self.setup_max_us),
                    millis(self.join_reply_p50_us),
                    millis(self.join_reply_p99_us)
                ),
            ),
            ("window", format!("{:.3} s", self.window_secs)),
            ("frames sent", count(self.frames_sent)),
            (
                "deliveries",
                format!(
                    "{} ({}/s)",
                    count(self.deliveries),
                    count(self.deliveries_per_sec.round() as u64)
                ),
            ),
            (
                "acknowledged",
                format!(
                    "{} ({}/s)",
                    count(self.acks),
                    count(self.acks_per_sec.round() as u64)
                ),
            ),
            ("presence frames", count(self.presence_frames)),
            (
                "latency",
                format!(
                    "p50 {} p90 {} p99 {} max {} ({} samples)",
                    millis(self.latency_p50_us),
                    millis(self.latency_p90_us),
                    millis(self.latency_p99_us),
                    millis(self.latency_max_us),
                    count(self.latency_samples)
                ),
            ),
            ("errors", errors(self.errors, &self.error_kinds)),
        ];
        if let Some(pid) = self.server_pid {
            let kib =
                |v: Option<u64>| v.map_or("?".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
            rows.push((
                "server memory",
                format!(
                    "pid {pid}: RSS {} (before {}, peak {})",
                    kib(self.server_rss_kib),
                    kib(self.server_rss_kib_before),
                    kib(self.server_peak_rss_kib)
                ),
            ));
            if let Some(per_conn) = self.server_rss_per_conn_bytes {
                rows.push((
                    "RSS per connection",
                    format!("{:.2} KiB", per_conn / 1024.0),
                ));
            }
            if let Some(cpu) = self.server_setup_cpu_secs {
                rows.push(("server CPU, setup", format!("{cpu:.2} s")));
            }
            if let (Some(cpu), Some(cores)) = (self.server_cpu_secs, self.server_cpu_cores) {
                let per = self
                    .server_cpu_us_per_delivery
                    .map_or(String::new(), |us| format!(", {us:.2} µs per delivery"));
                rows.push((
                    "server CPU, window",
                    format!("{cpu:.2} s ({cores:.2} cores){per}"),
                ));
            }
            if let Some(cpu) = self.server_run_cpu_secs {
                let per = self
                    .server_run_cpu_us_per_delivery
                    .map_or(String::new(), |us| format!(", {us:.2} µs per delivery"));
                rows.push(("server CPU, whole run", format!("{cpu:.2} s{per}")));
            }
        }
        let per = self
            .bench_cpu_us_per_delivery
            .map_or(String::new(), |us| format!(", {us:.2} µs per delivery"));
        rows.push((
            "bench CPU",
            format!(
                "{:.2} s ({:.2} cores){per}",
                self.bench_cpu_secs, self.bench_cpu_cores
            ),
        ));
        if let Some(cores) = self.machine_busy_cores {
            let load = self
                .load_average_at_start
                .map_or(String::new(), |l| format!(", load average {l:.2} at start"));
            rows.push(("machine busy", format!("{cores:.2} cores{load}")));
        }

        aligned(rows)
    }
}

/// Rows as `key  value` lines, the keys right-aligned.
fn aligned(rows: Vec<(&str, String)>) -> String {
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (key, value) in rows {
        let _ = writeln!(out, "{key:>width$}  {value}");
    }
    out
}

/// What the floor mode's writing thread measured.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WriterFigures {
    pub frames: u64,
    pub secs: f64,
    pub user_secs: f64,
    pub system_secs: f64,
}

/// A floor run's figures: the CPU time one writing thread and one reading
/// thread spent per frame delivered over loopback TCP, one `write()` per
/// frame (see [`crate::floor`]).
#[derive(Debug, Clone, Default, Serialize)]
pub struct FloorReport {
    /// Always `floor`.
    pub scenario: String,
    pub connections: u64,
    /// Frames per second asked for, in total; absent with `--max`.
    pub rate: Option<f64>,
    /// Bytes per frame and per `write()`.
    pub bytes: u64,
    /// Until all connections were open.
    pub setup_secs: f64,
    /// The writer's window.
    pub window_secs: f64,
    pub frames_written: u64,
    pub writes_per_sec: f64,
    /// Whole frames the reader received (its bytes over `bytes`).
    pub deliveries: u64,
    pub deliveries_per_sec: f64,
    pub writer_cpu_secs: f64,
    pub writer_user_secs: f64,
    pub writer_system_secs: f64,
    pub writer_cpu_cores: f64,
    /// The floor a server's CPU per delivery is held against.
    pub writer_cpu_us_per_delivery: Option<f64>,
    pub reader_cpu_secs: f64,
    pub reader_user_secs: f64,
    pub reader_system_secs: f64,
    pub reader_cpu_us_per_delivery: Option<f64>,
    /// From all connected to the reader's last byte.
    pub reader_secs: f64,
    pub errors: u64,
    pub error_kinds: BTreeMap<String, u64>,
    pub machine_busy_cores: Option<f64>,
    pub load_average_at_start: Option<f64>,
}

impl FloorReport {
    pub fn new(
        plan: &FloorPlan,
        setup: Duration,
        writer: &WriterFigures,
        reader: &ReaderFigures,
        machine_busy_cores: Option<f64>,
        load_average_at_start: Option<f64>,
    ) -> Self {
        let bytes = plan.bytes.max(1) as u64;
        let deliveries = reader.bytes / bytes;
        let per_delivery =
            |cpu_secs: f64| (deliveries > 0).then(|| cpu_secs * 1e6 / deliveries as f64);
        let per_sec = |n: u64| n as f64 / writer.secs.max(1e-9);
        let writer_cpu = writer.user_secs + writer.system_secs;
        let reader_cpu = reader.user_secs + reader.system_secs;
        let mut error_kinds = BTreeMap::new();
        let missing = writer.frames.saturating_sub(deliveries);
        if missing > 0 {
            error_kinds.insert("frames_missing".to_owned(), missing);
        }
        if reader.eof > 0 {
            error_kinds.insert("reader_eof".to_owned(), reader.eof);
        }
        Self {
            scenario: "floor".into(),
            connections: plan.connections as u64,
            rate: plan.rate,
            bytes,
            setup_secs: setup.as_secs_f64(),
            window_secs: writer.secs,
            frames_written: writer.frames,
            writes_per_sec: per_sec(writer.frames),
            deliveries,
            deliveries_per_sec: per_sec(deliveries),
            writer_cpu_secs: writer_cpu,
            writer_user_secs: writer.user_secs,
            writer_system_secs: writer.system_secs,
            writer_cpu_cores: writer_cpu / writer.secs.max(1e-9),
            writer_cpu_us_per_delivery: per_delivery(writer_cpu),
            reader_cpu_secs: reader_cpu,
            reader_user_secs: reader.user_secs,
            reader_system_secs: reader.system_secs,
            reader_cpu_us_per_delivery: per_delivery(reader_cpu),
            reader_secs: reader.secs,
            errors: error_kinds.values().sum(),
            error_kinds,
            machine_busy_cores,
            load_average_at_start,
        }
    }

    /// The one JSON line.
    pub fn json_line(&self) -> String {
        serde_json::to_string(self).expect("a report has string keys and finite numbers")
    }

    /// The human table.
    pub fn table(&self) -> String {
        let rate = self
            .rate
            .map_or("as fast as the sockets take them".to_owned(), |r| {
                format!("{}/s asked", count(r.round() as u64))
            });
        let per = |us: Option<f64>| us.map_or("—".to_owned(), |us| format!("{us:.2} µs"));
        let mut rows: Vec<(&str, String)> = vec![
            (
                "scenario",
                "floor (loopback TCP, one write per frame)".into(),
            ),
            (
                "connections",
                format!(
                    "{} pairs, opened in {:.3} s",
                    self.connections, self.setup_secs
                ),
            ),
            ("frame", format!("{} bytes, {rate}", self.bytes)),
            ("window", format!("{:.3} s", self.window_secs)),
            (
                "written",
                format!(
                    "{} frames ({}/s)",
                    count(self.frames_written),
                    count(self.writes_per_sec.round() as u64)
                ),
            ),
            (
                "deliveries",
                format!(
                    "{} ({}/s), all read {:.3} s after the start",
                    count(self.deliveries),
                    count(self.deliveries_per_sec.round() as u64),
                    self.reader_secs
                ),
            ),
            (
                "writer CPU",
                format!(
                    "{:.2} s (user {:.2}, system {:.2}; {:.2} cores), {} per delivery",
                    self.writer_cpu_secs,
                    self.writer_user_secs,
                    self.writer_system_secs,
                    self.writer_cpu_cores,
                    per(self.writer_cpu_us_per_delivery)
                ),
            ),
            (
                "reader CPU",
                format!(
                    "{:.2} s (user {:.2}, system {:.2}), {} per delivery",
                    self.reader_cpu_secs,
                    self.reader_user_secs,
                    self.reader_system_secs,
                    per(self.reader_cpu_us_per_delivery)
                ),
            ),
            ("errors", errors(self.errors, &self.error_kinds)),
        ];
        if let Some(cores) = self.machine_busy_cores {
            let load = self
                .load_average_at_start
                .map_or(String::new(), |l| format!(", load average {l:.2} at start"));
            rows.push(("machine busy", format!("{cores:.2} cores{load}")));
        }
        aligned(rows)
    }
}

fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn millis(us: u64) -> String {
    format!("{:.3} ms", us as f64 / 1000.0)
}

fn errors(total: u64, kinds: &BTreeMap<String, u64>) -> String {
    if kinds.is_empty() {
        return total.to_string();
    }
    let detail: Vec<String> = kinds.iter().map(|(k, n)| format!("{k}: {n}")).collect();
    format!("{total} ({})", detail.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_group_thousands() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
    }

    #[test]
    fn json_line_is_one_line_with_the_figures() {
        let mut report = Report {
            scenario: "fanout".into(),
            deliveries: 42,
            server_pid: Some(7),
            server_cpu_secs: Some(3.0),
            server_cpu_cores: Some(1.5),
            server_cpu_us_per_delivery: Some(1.5),
            ..Report::default()
        };
        report.error_kinds.insert("rate_limited".into(), 2);
        report.errors = 2;
        let line = report.json_line();
        assert!(!line.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["deliveries"], 42);
        assert_eq!(value["errors"], 2);
        assert_eq!(value["error_kinds"]["rate_limited"], 2);
        assert_eq!(value["server_cpu_us_per_delivery"], 1.5);
        assert!(value["server_rss_kib"].is_null());
        let table = report.table();
        assert!(table.contains("errors  2 (rate_limited: 2)"), "{table}");
        assert!(
            table.contains("3.00 s (1.50 cores), 1.50 µs per delivery"),
            "{table}"
        );
        assert!(!table.contains("whole run"), "{table}");
        report.server_run_cpu_secs = Some(4.2);
        report.server_run_cpu_us_per_delivery = Some(2.1);
        let value: serde_json::Value = serde_json::from_str(&report.json_line()).unwrap();
        assert_eq!(value["server_run_cpu_us_per_delivery"], 2.1);
        assert!(
            report
                .table()
                .contains("server CPU, whole run  4.20 s, 2.10 µs per delivery"),
            "{}",
            report.table()
        );
    }

    #[test]
    fn floor_report_divides_cpu_by_whole_frames_read() {
        let plan = FloorPlan {
            connections: 10,
            rate: Some(1000.0),
            bytes: 100,
            duration: Duration::from_secs(2),
            setup_timeout: Duration::from_secs(1),
        };
        let writer = WriterFigures {
            frames: 2000,
            secs: 2.0,
            user_secs: 0.002,
            system_secs: 0.008,
        };
        let reader = ReaderFigures {
            // Two frames short, the last one cut.
            bytes: 1998 * 100 - 40,
            user_secs: 0.001,
            system_secs: 0.003,
            secs: 2.1,
            eof: 0,
        };
        let report = FloorReport::new(
            &plan,
            Duration::from_millis(30),
            &writer,
            &reader,
            Some(0.5),
            None,
        );
        assert_eq!(report.deliveries, 1997);
        assert_eq!(report.error_kinds.get("frames_missing"), Some(&3));
        assert_eq!(report.errors, 3);
        let writer_us = report.writer_cpu_us_per_delivery.unwrap();
        assert!(
            (writer_us - 0.010 * 1e6 / 1997.0).abs() < 1e-9,
            "{writer_us}"
        );
        assert_eq!(report.writes_per_sec, 1000.0);
        let value: serde_json::Value = serde_json::from_str(&report.json_line()).unwrap();
        assert_eq!(value["scenario"], "floor");
        assert_eq!(value["frames_written"], 2000);
        assert_eq!(value["rate"], 1000.0);
        let table = report.table();
        assert!(table.contains("5.01 µs per delivery"), "{table}");
        assert!(table.contains("errors  3 (frames_missing: 3)"), "{table}");
    }
}
