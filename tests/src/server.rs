//! The `chat-server` binary as a child process: started on port 0 with its
//! own database in a temporary directory, its log kept for failure reports,
//! stopped by signal or killed when the fixture is dropped.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use tokio::process::Command;

use crate::client::TestClient;
pub use crate::process::workspace_binary;
use crate::process::{ChildProcess, Signal, run_to_exit};

/// How long a server may take to print its `listening on` line. Generous
/// because a debug build on a loaded two-core machine starts slowly.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// The line the server prints once it accepts connections, followed by
/// `ws://` or (with TLS) `wss://`.
const LISTENING_MARKER: &str = "listening on ";

/// Command-line options for one server run; `None` keeps the server's
/// default. [`crate::start_server_with`] applies the same settings to a
/// server in the test process.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    pub require_accounts: bool,
    /// `--admin NAME`, once per name.
    pub admins: Vec<String>,
    pub max_connections: Option<u32>,
    pub rate_limit: Option<u32>,
    pub rate_burst: Option<u32>,
    pub outbox: Option<u32>,
    pub ping_interval: Option<u64>,
    pub handshake_timeout: Option<u64>,
    /// Cluster node: `--database URL` instead of a SQLite file (with
    /// `redis_url`).
    pub database_url: Option<String>,
    /// Cluster node: `--redis URL`.
    pub redis_url: Option<String>,
    /// Appended after every other flag.
    pub extra_args: Vec<String>,
}

impl ServerOptions {
    /// A rate limit high enough that a test flooding a room never meets it.
    pub fn unthrottled() -> Self {
        Self {
            rate_limit: Some(1_000_000),
            rate_burst: Some(1_000_000),
            ..Self::default()
        }
    }

    pub(crate) fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if self.require_accounts {
            args.push("--require-accounts".to_owned());
        }
        for admin in &self.admins {
            args.push("--admin".to_owned());
            args.push(admin.clone());
        }
        let numeric = [
            ("--max-connections", self.max_connections.map(u64::from)),
            ("--rate-limit", self.rate_limit.map(u64::from)),
            ("--rate-burst", self.rate_burst.map(u64::from)),
            ("--outbox", self.outbox.map(u64::from)),
            ("--ping-interval", self.ping_interval),
            ("--handshake-timeout", self.handshake_timeout),
        ];
        for (flag, value) in numeric {
            if let Some(value) = value {
                args.push(flag.to_owned());
                args.push(value.to_string());
            }
        }
        let urls = [
            ("--database", &self.database_url),
            ("--redis", &self.redis_url),
        ];
        for (flag, url) in urls {
            if let Some(url) = url {
                args.push(flag.to_owned());
                args.push(url.clone());
            }
        }
        args.extend(self.extra_args.iter().cloned());
        args
    }
}

/// Removes ANSI colour sequences (`ESC [ ... letter`) so a coloured log
/// line still matches plain text.
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Finds the address in a `listening on ws://HOST:PORT/ws` (or `wss://`)
/// line.
pub fn parse_listening_line(line: &str) -> Option<SocketAddr> {
    let clean = strip_ansi(line);
    let start = clean.find(LISTENING_MARKER)? + LISTENING_MARKER.len();
    let rest = &clean[start..];
    let rest = rest
        .strip_prefix("ws://")
        .or_else(|| rest.strip_prefix("wss://"))?;
    let end = rest.find("/ws")?;
    rest[..end].parse().ok()
}

/// A new temporary directory and the database path inside it.
fn database_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("chat-e2e-")
        .tempdir()
        .expect("a temporary directory can be created");
    let db_path = dir.path().join("chat.sqlite3");
    (dir, db_path)
}

/// A running `chat-server` child process.
pub struct ServerProcess {
    // Before `dir`: fields drop in order, and the process should be gone
    // before its database is removed.
    process: ChildProcess,
    addr: SocketAddr,
    options: ServerOptions,
    /// Holds the database; removed when the fixture is dropped.
    dir: tempfile::TempDir,
    db_path: PathBuf,
}

impl ServerProcess {
    /// Starts a server with its own fresh database.
    pub async fn start(options: ServerOptions) -> Self {
        let (dir, db_path) = database_dir();
        Self::spawn_on(options, dir, db_path).await
    }

    /// Starts a server on a copy of the database file `source` (one an
    /// older release left, say).
    pub async fn start_on_copy(options: ServerOptions, source: &Path) -> Self {
        let (dir, db_path) = database_dir();
        std::fs::copy(source, &db_path).expect("the database file can be copied");
        Self::spawn_on(options, dir, db_path).await
    }

    async fn spawn_on(options: ServerOptions, dir: tempfile::TempDir, db_path: PathBuf) -> Self {
        let mut process = ChildProcess::new("chat-server");
        let addr = spawn(&mut process, &options, &db_path).await;
        Self {
            process,
            addr,
            options,
            dir,
            db_path,
        }
    }

    /// Starts a server with every default.
    pub async fn start_default() -> Self {
        Self::start(ServerOptions::default()).await
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// The URL of a server started with `--tls-cert` and `--tls-key`.
    pub fn wss_url(&self) -> String {
        format!("wss://{}/ws", self.addr)
    }

    pub fn db_path(&self) -> &Path {
        &self.db_path
    }

    /// The directory holding the database (for tests that need other files).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log(&self) -> String {
        self.process.log().text()
    }

    /// How long the log is now, for [`ServerProcess::wait_for_log`].
    pub fn log_mark(&self) -> usize {
        self.process.log().mark()
    }

    /// Waits until the server logs `needle` after `mark`; fails the test
    /// with the log after `limit`.
    pub async fn wait_for_log(&self, needle: &str, mark: usize, limit: Duration) {
        if !self.process.log().wait_for(needle, mark, limit).await {
            panic!(
                "the server did not log {needle:?} within {limit:?}\n--- its log ---\n{}",
                self.log()
            );
        }
    }

    pub fn pid(&self) -> u32 {
        self.process.pid().expect("the server process is running")
    }

    /// Asks the server to shut down gracefully.
    pub fn sigterm(&self) {
        self.signal(Signal::Term);
    }

    /// Interrupts the server as Ctrl-C in its terminal would.
    pub fn sigint(&self) {
        self.signal(Signal::Int);
    }

    /// Kills the server without letting it clean up.
    pub fn sigkill(&self) {
        self.signal(Signal::Kill);
    }

    /// Sends any `signal` to the server (`Stop` freezes it, say).
    pub fn signal(&self, signal: Signal) {
        self.process.signal(signal);
    }

    /// Waits for the server to exit, failing the test (with the server's
    /// log) when it is still running after `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        self.process.wait_exit(limit).await
    }

    /// Replaces [`ServerOptions::extra_args`] from the next
    /// [`ServerProcess::restart`] on (to leave a test hook off, say).
    pub fn set_extra_args_on_restart(&mut self, args: Vec<String>) {
        self.options.extra_args = args;
    }

    /// Stops the server gracefully (SIGTERM, expecting exit code 0) and
    /// starts it again on the same database and a new port.
    pub async fn restart(&mut self) {
        if self.process.pid().is_some() {
            self.sigterm();
            let status = self.wait_exit(Duration::from_secs(10)).await;
            assert!(status.success(), "graceful stop before restart: {status}");
        }
        self.process
            .log()
            .push_line("--- chat-e2e: restarting the server ---");
        self.addr = spawn(&mut self.process, &self.options, &self.db_path).await;
    }

    /// A new connection that has not said `hello` yet.
    pub async fn connect(&self) -> TestClient {
        TestClient::connect(&self.ws_url()).await
    }

    /// A connection with a guest session for `user`.
    pub async fn guest(&self, user: &str) -> TestClient {
        TestClient::guest(&self.ws_url(), user).await
    }

    /// A connection logged in (or registering) as `user` with `password`.
    pub async fn account(&self, user: &str, password: &str) -> TestClient {
        TestClient::account(&self.ws_url(), user, password).await
    }

    /// Proves the server still serves people normally: see
    /// [`TestClient::fresh_and_served`].
    pub async fn serve_fresh_client(&self, user: &str, room: &str) -> TestClient {
        TestClient::fresh_and_served(&self.ws_url(), user, room).await
    }

    /// The server process's memory, from `/proc/PID/status`.
    pub fn memory(&self) -> ProcessMemory {
        let path = format!("/proc/{}/status", self.pid());
        let status =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or_else(|| panic!("{path} has no {name} line in kB:\n{status}"))
        };
        ProcessMemory {
            rss_kib: field("VmRSS:"),
            peak_rss_kib: field("VmHWM:"),
        }
    }
}

/// A process's resident memory, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessMemory {
    /// Resident now (`VmRSS`).
    pub rss_kib: u64,
    /// The most it has ever been resident (`VmHWM`), so a peak between two
    /// looks is not missed.
    pub peak_rss_kib: u64,
}

/// Launches the binary on port 0 for `options` and returns the address
/// of its `listening on` line; a server that exits first fails the test.
async fn spawn(process: &mut ChildProcess, options: &ServerOptions, db_path: &Path) -> SocketAddr {
    let mut args = vec![
        "--host".to_owned(),
        "127.0.0.1".to_owned(),
        "--port".to_owned(),
        "0".to_owned(),
    ];
    // A cluster node keeps its data in PostgreSQL, not in a SQLite file.
    if options.database_url.is_none() {
        args.push("--db".to_owned());
        args.push(db_path.display().to_string());
    }
    args.extend(options.args());
    let log_filter = std::env::var("CHAT_E2E_SERVER_LOG").unwrap_or_else(|_| "info".to_owned());
    let command = server_command(&args, &log_filter);
    match process
        .launch(command, parse_listening_line, STARTUP_TIMEOUT)
        .await
    {
        Ok(addr) => {
            process.set_label(format!("chat-server ({addr})"));
            addr
        }
        Err(early) => panic!(
            "chat-server exited before listening ({:?})\n--- server log ---\n{}",
            early.status,
            process.log().text()
        ),
    }
}

/// The binary with `args`, logging at `log_filter` without colours.
fn server_command(args: &[impl AsRef<std::ffi::OsStr>], log_filter: &str) -> Command {
    // `CHAT_E2E_SERVER_BIN` runs the tests against another build (say,
    // the previous release, to see a test fail there).
    let binary = std::env::var_os("CHAT_E2E_SERVER_BIN")
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_binary("chat-server"));
    let mut command = Command::new(binary);
    command
        .args(args)
        .env("RUST_LOG", log_filter)
        .env("NO_COLOR", "1");
    command
}

/// The result of running the server to completion: for start-up failures.
#[derive(Debug)]
pub struct FinishedRun {
    pub status: ExitStatus,
    pub stderr: String,
    pub stdout: String,
}

impl FinishedRun {
    /// The non-empty lines of stderr.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|line| !line.trim().is_empty())
            .collect()
    }

    /// A description for assertion messages.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            "status {}\n--- stderr ---\n{}--- stdout ---\n{}",
            self.status, self.stderr, self.stdout
        );
        out
    }
}

/// Runs `chat-server` with exactly `args` and waits (at most `limit`) for it
/// to exit on its own, as it should when the flags or the database are bad.
pub async fn run_server_to_exit(args: &[&str], limit: Duration) -> FinishedRun {
    let output = run_to_exit(server_command(args, "info"), limit).await;
    FinishedRun {
        status: output.status,
        stderr: strip_ansi(&String::from_utf8_lossy(&output.stderr)),
        stdout: strip_ansi(&String::from_utf8_lossy(&output.stdout)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_address_in_a_plain_or_coloured_line() {
        let plain = "2025-11-21T08:00:00Z  INFO chat_server: listening on ws://127.0.0.1:40123/ws db=/tmp/x";
        assert_eq!(
            parse_listening_line(plain),
            Some("127.0.0.1:40123".parse().unwrap())
        );
        let coloured =
            "\u{1b}[2m2025\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m listening on ws://127.0.0.1:8000/ws";
        assert_eq!(
            parse_listening_line(coloured),
            Some("127.0.0.1:8000".parse().unwrap())
        );
        assert_eq!(parse_listening_line("starting chat-server"), None);
        assert_eq!(
            parse_listening_line("INFO chat_server: listening on wss://127.0.0.1:9/ws, x"),
            Some("127.0.0.1:9".parse().unwrap())
        );
        assert_eq!(
            parse_listening_line("listening on http://127.0.0.1:9/ws"),
            None
        );
    }

    #[test]
    fn options_become_flags() {
        let options = ServerOptions {
            require_accounts: true,
            outbox: Some(16),
            extra_args: vec!["--sync".into(), "full".into()],
            ..ServerOptions::default()
        };
        assert_eq!(
            options.args(),
            ["--require-accounts", "--outbox", "16", "--sync", "full"]
        );
    }
}
