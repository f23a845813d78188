//! Smoke run of every chat-bench scenario at small sizes against the real
//! chat-server binary: each finishes in about a second, reports deliveries
//! and no errors in its JSON line. The floor mode, which needs no server,
//! runs the same way at a rate and at `--max`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// A chat-server child process, killed on drop.
struct Server {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Self {
        let exe = std::env::current_exe().expect("test executable path");
        // target/<profile>/deps/smoke-<hash> -> target/<profile>/chat-server
        let bin: PathBuf = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("target directory")
            .join("chat-server");
        assert!(
            bin.exists(),
            "{} is missing: build it first (cargo build -p chat-server)",
            bin.display()
        );
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut child = Command::new(&bin)
            .args(["--port", "0", "--db"])
            .arg(dir.path().join("x.sqlite3"))
            // The bench measures the server, not its abuse limits.
            .args(["--rate-limit", "0", "--address-share", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let stderr = child.stderr.take().expect("stderr is piped");
        let (line_tx, line_rx) = mpsc::channel::<String>();
        // Keep draining stderr for the server's whole life, or it blocks.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let _ = line_tx.send(line);
            }
        });
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let url = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match line_rx.recv_timeout(left) {
                Ok(line) => line,
                Err(e) => {
                    let _ = child.kill();
                    panic!("no `listening on` line from chat-server: {e}");
                }
            };
            if let Some(at) = line.find("listening on ws://") {
                let rest = &line[at + "listening on ".len()..];
                let end = rest.find("/ws").expect("address ends in /ws") + "/ws".len();
                break rest[..end].to_owned();
            }
        };
        Self {
            child,
            url,
            _dir: dir,
        }
    }

    /// Runs chat-bench against this server and returns its JSON report.
    fn bench(&self, args: &[&str]) -> Value {
        let output = Command::new(env!("CARGO_BIN_EXE_chat-bench"))
            .args([
                "--url",
                &self.url,
                "--server-pid",
                &self.child.id().to_string(),
            ])
            .args(["--deadline", "30", "--step-timeout", "5"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("running chat-bench");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "chat-bench {args:?} failed: {}\n{stdout}\n{stderr}",
            output.status
        );
        let last = stdout.lines().last().unwrap_or_default();
        let report: Value = serde_json::from_str(last)
            .unwrap_or_else(|e| panic!("last line is not JSON ({e}):\n{stdout}\n{stderr}"));
        assert_eq!(report["errors"], 0, "{args:?}:\n{stdout}\n{stderr}");
        assert_eq!(
            report["connections_opened"], report["connections"],
            "{args:?}:\n{stdout}"
        );
        assert!(
            report["server_rss_kib"].as_u64().unwrap_or(0) > 0,
            "{stdout}"
        );
        report
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn num(report: &Value, key: &str) -> u64 {
    report[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing in {report}"))
}

#[test]
fn every_scenario_runs_against_the_real_server() {
    let server = Server::start();

    // Idle: every held connection receives its room's probe.
    let idle = server.bench(&[
        "idle",
        "--connections",
        "40",
        "--rooms",
        "4",
        "--duration",
        "0.5",
    ]);
    assert_eq!(num(&idle, "deliveries"), 40, "{idle}");
    assert!(idle["server_rss_per_conn_bytes"].is_number(), "{idle}");

    // Fan-out at a fixed rate: 3 rooms of 10, one sender each.
    let fanout = server.bench(&[
        "fanout",
        "--clients",
        "30",
        "--rooms",
        "3",
        "--senders",
        "3",
        "--rate",
        "60",
        "--duration",
        "1",
    ]);
    let acks = num(&fanout, "acks");
    assert!(acks >= 30, "{fanout}");
    // Each acknowledged message reaches all ten members of its room (a few
    // in flight at the window's end may not have).
    let deliveries = num(&fanout, "deliveries");
    assert!(deliveries >= acks * 10 * 8 / 10, "{fanout}");
    assert!(deliveries <= num(&fanout, "frames_sent") * 10, "{fanout}");
    assert!(num(&fanout, "latency_samples") > 0, "{fanout}");
    assert!(fanout["server_cpu_us_per_delivery"].is_number(), "{fanout}");
    // The whole run holds the sending window, and setup besides.
    let window_cpu = fanout["server_cpu_secs"].as_f64().unwrap_or(f64::NAN);
    let run_cpu = fanout["server_run_cpu_secs"].as_f64().unwrap_or(f64::NAN);
    assert!(run_cpu >= window_cpu, "{fanout}");
    assert!(
        fanout["server_run_cpu_us_per_delivery"].is_number(),
        "{fanout}"
    );

    // Fan-out at --max: one room, two senders with windows.
    let max = server.bench(&[
        "fanout",
        "--clients",
        "20",
        "--rooms",
        "1",
        "--senders",
        "2",
        "--max",
        "--window",
        "4",
        "--duration",
        "1",
    ]);
    assert!(num(&max, "deliveries") > num(&max, "acks"), "{max}");

    // Persist with a total: stops once that many are acknowledged, which
    // also fills the room the join scenario reads.
    let persist = server.bench(&[
        "--room-prefix",
        "smoke",
        "persist",
        "--senders",
        "2",
        "--rooms",
        "1",
        "--window",
        "8",
        "--total",
        "300",
        "--duration",
        "10",
    ]);
    assert_eq!(num(&persist, "acks"), 300, "{persist}");
    assert!(num(&persist, "deliveries") > 0, "{persist}");

    let join = server.bench(&[
        "join",
        "--connections",
        "3",
        "--room",
        "smoke-0",
        "--limit",
        "50",
        "--random-since",
        "--duration",
        "0.5",
    ]);
    assert!(num(&join, "deliveries") > 0, "{join}");
    assert_eq!(
        num(&join, "deliveries"),
        num(&join, "latency_samples"),
        "{join}"
    );
}

/// Runs `chat-bench floor` (no server) and returns its JSON report.
fn floor(args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_chat-bench"))
        .args(["--deadline", "30", "--step-timeout", "5", "floor"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running chat-bench floor");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "chat-bench floor {args:?} failed: {}\n{stdout}\n{stderr}",
        output.status
    );
    let last = stdout.lines().last().unwrap_or_default();
    let report: Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("last line is not JSON ({e}):\n{stdout}\n{stderr}"));
    assert_eq!(report["scenario"], "floor", "{report}");
    assert_eq!(report["errors"], 0, "{args:?}:\n{stdout}\n{stderr}");
    // Every frame written was read, whole.
    assert_eq!(report["deliveries"], report["frames_written"], "{report}");
    for key in ["writer_cpu_us_per_delivery", "reader_cpu_us_per_delivery"] {
        let us = report[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} missing in {report}"));
        assert!(us >= 0.0 && us.is_finite(), "{key}: {report}");
    }
    assert!(
        stdout.contains("writer CPU") && stdout.contains("per delivery"),
        "{stdout}"
    );
    report
}

#[test]
fn floor_mode_writes_reads_and_reports_cpu_per_delivery() {
    // At a rate: 2,000 frames/s over 8 pairs for half a second.
    let paced = floor(&["--connections", "8", "--rate", "2000", "--duration", "0.5"]);
    assert_eq!(num(&paced, "connections"), 8, "{paced}");
    let written = num(&paced, "frames_written");
    assert!((900..=1100).contains(&written), "{paced}");
    // The default frame is a fan-out delivery: a `message` frame of about
    // a hundred bytes behind a 2-byte WebSocket header.
    assert!((100..=126).contains(&num(&paced, "bytes")), "{paced}");
    assert_eq!(paced["rate"], 2000.0, "{paced}");
    let window = paced["window_secs"].as_f64().unwrap_or(0.0);
    assert!((0.5..2.0).contains(&window), "{paced}");

    // As fast as the sockets take them, with a size of its own.
    let max = floor(&[
        "--connections",
        "4",
        "--max",
        "--bytes",
        "300",
        "--duration",
        "0.3",
    ]);
    assert_eq!(num(&max, "bytes"), 300, "{max}");
    assert!(max["rate"].is_null(), "{max}");
    assert!(num(&max, "frames_written") > written, "{max}");
}
