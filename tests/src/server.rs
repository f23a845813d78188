//! The `chat-server` binary as a child process: started on port 0 with its
//! own database in a temporary directory, its log kept for failure reports,
//! stopped by signal or killed when the fixture is dropped.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::time::timeout;

use crate::client::TestClient;

/// How long a server may take to print its `listening on` line. Generous
/// because a debug build on a loaded two-core machine starts slowly.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// The line the server prints once it accepts connections.
const LISTENING_MARKER: &str = "listening on ws://";

/// Command-line options for one server run; `None` keeps the server's default.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    pub require_accounts: bool,
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

    fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if self.require_accounts {
            args.push("--require-accounts".to_owned());
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

/// The path of a workspace binary built beside the running test executable
/// (`target/<profile>/deps/test-xyz` -> `target/<profile>/<name>`).
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own executable");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executables live in target/<profile>/deps");
    let path = profile_dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build it first (`cargo build -p {name}`, or run `cargo test --workspace`)",
        path.display()
    );
    path
}

/// Everything the server wrote to stderr and stdout, shared with the
/// threads that drain its pipes.
#[derive(Debug, Clone, Default)]
pub struct ServerLog(Arc<Mutex<String>>);

impl ServerLog {
    fn push_line(&self, line: &str) {
        let mut log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        log.push_str(line);
        log.push('\n');
    }

    /// The whole log so far.
    pub fn text(&self) -> String {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
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

/// Finds the address in a `listening on ws://HOST:PORT/ws` line.
pub fn parse_listening_line(line: &str) -> Option<SocketAddr> {
    let clean = strip_ansi(line);
    let start = clean.find(LISTENING_MARKER)? + LISTENING_MARKER.len();
    let rest = &clean[start..];
    let end = rest.find("/ws")?;
    rest[..end].parse().ok()
}

/// A running `chat-server` child process.
pub struct ServerProcess {
    child: Option<Child>,
    addr: SocketAddr,
    options: ServerOptions,
    log: ServerLog,
    /// Holds the database; removed when the fixture is dropped.
    dir: tempfile::TempDir,
    db_path: PathBuf,
}

impl ServerProcess {
    /// Starts a server with its own fresh database.
    pub async fn start(options: ServerOptions) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("chat-e2e-")
            .tempdir()
            .expect("a temporary directory can be created");
        let db_path = dir.path().join("chat.sqlite3");
        let log = ServerLog::default();
        let (child, addr) = spawn(&options, &db_path, &log).await;
        Self {
            child: Some(child),
            addr,
            options,
            log,
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

    pub fn db_path(&self) -> &Path {
        &self.db_path
    }

    /// The directory holding the database (for tests that need other files).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log(&self) -> String {
        self.log.text()
    }

    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .and_then(Child::id)
            .expect("the server process is running")
    }

    /// Asks the server to shut down gracefully.
    pub fn sigterm(&self) {
        self.signal("-TERM");
    }

    /// Interrupts the server as Ctrl-C in its terminal would.
    pub fn sigint(&self) {
        self.signal("-INT");
    }

    /// Kills the server without letting it clean up.
    pub fn sigkill(&self) {
        self.signal("-KILL");
    }

    fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .expect("`kill` can be run");
        assert!(status.success(), "kill {signal} failed: {status}");
    }

    /// Waits for the server to exit, failing the test (with the server's
    /// log) when it is still running after `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let child = self
            .child
            .as_mut()
            .expect("the server has not been reaped yet");
        match timeout(limit, child.wait()).await {
            Ok(Ok(status)) => {
                self.child = None;
                status
            }
            Ok(Err(e)) => panic!("waiting for the server failed: {e}"),
            Err(_) => panic!(
                "the server did not exit within {limit:?}\n--- server log ---\n{}",
                self.log()
            ),
        }
    }

    /// Stops the server gracefully (SIGTERM, expecting exit code 0) and
    /// starts it again on the same database and a new port.
    pub async fn restart(&mut self) {
        if self.child.is_some() {
            self.sigterm();
            let status = self.wait_exit(Duration::from_secs(10)).await;
            assert!(status.success(), "graceful stop before restart: {status}");
        }
        self.log
            .push_line("--- chat-e2e: restarting the server ---");
        let (child, addr) = spawn(&self.options, &self.db_path, &self.log).await;
        self.child = Some(child);
        self.addr = addr;
    }

    /// A new connection that has not said `hello` yet.
    pub async fn connect(&self) -> TestClient {
        TestClient::connect(&self.ws_url()).await
    }

    /// A connection with a guest session for `user`.
    pub async fn guest(&self, user: &str) -> TestClient {
        let mut client = self.connect().await;
        client.hello(user, None).await;
        client
    }

    /// A connection logged in (or registering) as `user` with `password`.
    pub async fn account(&self, user: &str, password: &str) -> TestClient {
        let mut client = self.connect().await;
        client.hello(user, Some(password)).await;
        client
    }

    /// Proves the server still serves people normally (after an abuse
    /// test, say): a new guest `user` connects, says hello, joins `room`
    /// and gets a message acknowledged, all within [`FRESH_CLIENT_LIMIT`].
    pub async fn serve_fresh_client(&self, user: &str, room: &str) -> TestClient {
        let started = tokio::time::Instant::now();
        let served = async {
            let mut client = self.guest(user).await;
            client.join(room).await;
            client.say(room, "a fresh client is served").await;
            client
        };
        match timeout(FRESH_CLIENT_LIMIT, served).await {
            Ok(client) => client,
            Err(_) => panic!(
                "a fresh client ({user}) was not served within {FRESH_CLIENT_LIMIT:?} (started {:?} ago)",
                started.elapsed()
            ),
        }
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

/// How long [`ServerProcess::serve_fresh_client`] may take in all.
pub const FRESH_CLIENT_LIMIT: Duration = Duration::from_secs(5);

/// A process's resident memory, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessMemory {
    /// Resident now (`VmRSS`).
    pub rss_kib: u64,
    /// The most it has ever been resident (`VmHWM`), so a peak between two
    /// looks is not missed.
    pub peak_rss_kib: u64,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            // kill_on_drop would do this too; doing it here makes it happen
            // before the temporary directory is removed.
            let _ = child.start_kill();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- chat-server log ({}) ---\n{}--- end of chat-server log ---",
                self.addr,
                self.log.text()
            );
        }
    }
}

async fn spawn(options: &ServerOptions, db_path: &Path, log: &ServerLog) -> (Child, SocketAddr) {
    let binary = workspace_binary("chat-server");
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
    log.push_line(&format!("--- chat-e2e: chat-server {} ---", args.join(" ")));
    let mut child = Command::new(&binary)
        .args(&args)
        .env(
            "RUST_LOG",
            std::env::var("CHAT_E2E_SERVER_LOG").unwrap_or_else(|_| "info".to_owned()),
        )
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));

    let stderr = child
        .stderr
        .take()
        .expect("stderr was piped")
        .into_owned_fd()
        .expect("the stderr pipe converts to a blocking file");
    let stdout = child
        .stdout
        .take()
        .expect("stdout was piped")
        .into_owned_fd()
        .expect("the stdout pipe converts to a blocking file");

    let (addr_tx, addr_rx) = oneshot::channel();
    drain_lines(std::fs::File::from(stderr), log.clone(), Some(addr_tx));
    drain_lines(std::fs::File::from(stdout), log.clone(), None);

    match timeout(STARTUP_TIMEOUT, addr_rx).await {
        Ok(Ok(addr)) => (child, addr),
        Ok(Err(_)) => {
            // The pipe closed without the line: the server exited. Reap it
            // so the failure shows the exit status.
            let status = timeout(Duration::from_secs(5), child.wait()).await;
            panic!(
                "chat-server exited before listening ({status:?})\n--- server log ---\n{}",
                log.text()
            )
        }
        Err(_) => panic!(
            "chat-server printed no `{LISTENING_MARKER}` line within {STARTUP_TIMEOUT:?}\n--- server log ---\n{}",
            log.text()
        ),
    }
}

/// Copies a pipe into the log line by line on its own thread (so the
/// server never blocks on a full pipe, whatever the test is doing), and
/// reports the listening address once it appears.
fn drain_lines(
    pipe: impl Read + Send + 'static,
    log: ServerLog,
    mut addr_tx: Option<oneshot::Sender<SocketAddr>>,
) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let line = String::from_utf8_lossy(&buf);
            let line = line.trim_end_matches(['\n', '\r']);
            log.push_line(line);
            if let Some(addr) = parse_listening_line(line)
                && let Some(tx) = addr_tx.take()
            {
                let _ = tx.send(addr);
            }
        }
    });
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
    let binary = workspace_binary("chat-server");
    let child = Command::new(&binary)
        .args(args)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
    match timeout(limit, child.wait_with_output()).await {
        Ok(Ok(output)) => FinishedRun {
            status: output.status,
            stderr: strip_ansi(&String::from_utf8_lossy(&output.stderr)),
            stdout: strip_ansi(&String::from_utf8_lossy(&output.stdout)),
        },
        Ok(Err(e)) => panic!("waiting for chat-server {args:?} failed: {e}"),
        Err(_) => panic!("chat-server {args:?} was expected to exit but still ran after {limit:?}"),
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
