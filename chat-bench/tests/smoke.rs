//! Smoke run of every chat-bench scenario at small sizes against the real
//! chat-server binary: each finishes in about a second, reports deliveries
//! and no errors in its JSON line.

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
            .args(["--rate-limit", "0"])
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
