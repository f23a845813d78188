//! Cluster fixtures: a private PostgreSQL and a private Redis per test,
//! started from the machine's own binaries on free loopback ports (bounded
//! waits for readiness, killed when dropped), and `chat-server` nodes that
//! share them.
//!
//! Missing binaries fail the test with the Debian package to install:
//! these tests are part of the suite, never silently skipped. A cluster's
//! clients ignore stale presence
//! ([`TestClient::ignoring_stale_presence`]).

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::process::Command;

use crate::client::TestClient;
use crate::process::{ChildProcess, Signal, run_to_exit};
use crate::server::{ServerOptions, ServerProcess};

/// How long initdb may take (a loaded two-core machine is slow).
const INITDB_TIMEOUT: Duration = Duration::from_secs(60);
/// How long an engine may take to say it accepts connections.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts at a free port, in case another process takes the one picked.
const PORT_ATTEMPTS: usize = 5;

/// Ports the fixtures pick from: below Linux's ephemeral range (32768 and
/// up), so that no outgoing connection can be holding the port when an
/// engine is restarted on it.
const FIXTURE_PORTS: std::ops::Range<u16> = 20_000..32_000;

/// A port that was free a moment ago on 127.0.0.1, outside the ephemeral
/// range.
pub fn free_port() -> u16 {
    static PICKS: AtomicU64 = AtomicU64::new(0);
    let seed = u64::from(std::process::id())
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::from(d.subsec_nanos()));
    let span = u64::from(FIXTURE_PORTS.end - FIXTURE_PORTS.start);
    for _ in 0..200 {
        // A multiplicative hash of seed and pick number spreads the picks.
        let pick = PICKS.fetch_add(1, Ordering::Relaxed);
        let mixed =
            (seed ^ pick.wrapping_mul(0x9e37_79b9_7f4a_7c15)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        let port = FIXTURE_PORTS.start + u16::try_from((mixed >> 33) % span).unwrap_or(0);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {FIXTURE_PORTS:?} after 200 tries")
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

/// `program`, run as the `postgres` user when `as_postgres` (initdb and
/// postgres refuse to run as root).
fn engine_command(program: &Path, as_postgres: bool) -> Command {
    if as_postgres {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// Launches `command` in `process` and waits for a line containing
/// `ready_marker`: `false` when the engine exited first (its port was
/// taken, say).
async fn launch_engine(
    process: &mut ChildProcess,
    command: Command,
    ready_marker: &'static str,
) -> bool {
    let ready = move |line: &str| line.contains(ready_marker).then_some(());
    process.launch(command, ready, READY_TIMEOUT).await.is_ok()
}

/// The directory holding PostgreSQL's server programs: the one `initdb`
/// on PATH resolves into, else the newest /usr/lib/postgresql/*/bin.
pub fn postgres_bin_dir() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join("initdb"))
        .find(|initdb| initdb.is_file())
        .and_then(|initdb| std::fs::canonicalize(initdb).ok())
        .and_then(|initdb| initdb.parent().map(Path::to_path_buf))
        .filter(|dir| dir.join("postgres").is_file());
    if let Some(dir) = on_path {
        return dir;
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| {
                    let version = entry.file_name().to_str()?.parse().ok()?;
                    let bin = entry.path().join("bin");
                    (bin.join("initdb").is_file() && bin.join("postgres").is_file())
                        .then_some((version, bin))
                })
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "PostgreSQL's server programs (initdb, postgres) were not found on PATH or in \
             /usr/lib/postgresql/*/bin: install Debian's `postgresql` package \
             (apt-get install -y postgresql) to run the cluster tests"
        ),
    }
}

/// The `redis-server` program.
pub fn redis_server_path() -> PathBuf {
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/local/bin")])
        .map(|dir| dir.join("redis-server"))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "redis-server was not found on PATH: install Debian's `redis-server` package \
                 (apt-get install -y redis-server) to run the cluster tests"
            )
        })
}

/// A private PostgreSQL server in a temporary directory.
pub struct Postgres {
    // Before `dir`: the server goes before its data directory.
    process: ChildProcess,
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl Postgres {
    /// Creates a cluster with initdb and starts the server on a free port.
    pub async fn start() -> Self {
        let bin = postgres_bin_dir();
        let as_postgres = running_as_root();
        let dir = tempfile::Builder::new()
            .prefix("chat-e2e-pg-")
            .tempdir()
            .expect("a temporary directory can be created");
        if as_postgres {
            // initdb and postgres refuse to run as root; the postgres user
            // (made by Debian's package) must own their directory.
            let (uid, gid) = postgres_ids();
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .expect("the temporary directory can be given to the postgres user");
        }
        let mut initdb = engine_command(&bin.join("initdb"), as_postgres);
        initdb.arg("-D").arg(dir.path().join("data")).args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        let output = run_to_exit(initdb, INITDB_TIMEOUT).await;
        assert!(
            output.status.success(),
            "initdb failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let mut postgres = Self {
            process: ChildProcess::new("PostgreSQL"),
            bin,
            dir,
            port: 0,
            as_postgres,
        };
        for _ in 0..PORT_ATTEMPTS {
            postgres.port = free_port();
            if postgres.launch().await {
                return postgres;
            }
        }
        panic!(
            "PostgreSQL did not start in {PORT_ATTEMPTS} attempts\n--- its log ---\n{}",
            postgres.log()
        );
    }

    async fn launch(&mut self) -> bool {
        let mut command = engine_command(&self.bin.join("postgres"), self.as_postgres);
        command.args([
            "-D",
            &self.dir.path().join("data").display().to_string(),
            "-k",
            &self.dir.path().display().to_string(),
            "-p",
            &self.port.to_string(),
            "-c",
            "listen_addresses=127.0.0.1",
            // A test database need not survive a power cut.
            "-c",
            "fsync=off",
            "-c",
            "full_page_writes=off",
        ]);
        launch_engine(&mut self.process, command, "ready to accept connections").await
    }

    /// `postgres://` URL of the `postgres` database as the `postgres` user.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn log(&self) -> String {
        self.process.log().text()
    }

    fn postmaster_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.path().join("data/postmaster.pid"))
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }

    /// Stops the server at once (SIGQUIT: no clean shutdown), as a crash
    /// or a failover would, and waits for it to exit.
    pub fn stop(&mut self) {
        // The child may be `runuser`: the signal goes to the postmaster.
        match self.postmaster_pid() {
            Some(pid) => self.process.stop(Signal::Quit, Some(pid)),
            None => self.process.stop(Signal::Kill, None),
        }
    }

    /// Starts the server again on the same port and data.
    pub async fn restart(&mut self) {
        self.stop();
        self.process
            .log()
            .push_line("--- chat-e2e: restarting PostgreSQL ---");
        assert!(
            self.launch().await,
            "PostgreSQL did not restart on port {}\n--- its log ---\n{}",
            self.port,
            self.log()
        );
    }

    /// Runs one SQL statement with psql and returns its unaligned output.
    pub async fn query(&self, sql: &str) -> String {
        let psql = self.bin.join("psql");
        let psql = if psql.is_file() {
            psql
        } else {
            PathBuf::from("psql")
        };
        let mut command = Command::new(&psql);
        command.args([
            "-X",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            &self.url(),
            "-c",
            sql,
        ]);
        let output = run_to_exit(command, READY_TIMEOUT).await;
        assert!(
            output.status.success(),
            "psql {sql:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Killing `runuser` would leave the postmaster running.
        self.stop();
    }
}

fn postgres_ids() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let output = std::process::Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("`id` can be run");
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .unwrap_or_else(|_| {
                panic!(
                    "there is no `postgres` user to run PostgreSQL as (tests run as root): \
                     install Debian's `postgresql` package (apt-get install -y postgresql)"
                )
            })
    };
    (id("-u"), id("-g"))
}

/// A private Redis server without persistence: a restart loses every key,
/// as a crashed cache would.
pub struct Redis {
    // Before `dir`: the server goes before its directory.
    process: ChildProcess,
    program: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl Redis {
    pub async fn start() -> Self {
        let program = redis_server_path();
        let dir = tempfile::Builder::new()
            .prefix("chat-e2e-redis-")
            .tempdir()
            .expect("a temporary directory can be created");
        let mut redis = Self {
            process: ChildProcess::new("Redis"),
            program,
            dir,
            port: 0,
        };
        for _ in 0..PORT_ATTEMPTS {
            redis.port = free_port();
            if redis.launch().await {
                return redis;
            }
        }
        panic!(
            "redis-server did not start in {PORT_ATTEMPTS} attempts\n--- its log ---\n{}",
            redis.log()
        );
    }

    async fn launch(&mut self) -> bool {
        let mut command = Command::new(&self.program);
        command.args([
            "--port",
            &self.port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            &self.dir.path().display().to_string(),
        ]);
        launch_engine(&mut self.process, command, "Ready to accept connections").await
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        self.process.log().text()
    }

    /// Kills the server (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self) {
        self.process.stop(Signal::Kill, None);
    }

    /// Starts an empty server again on the same port.
    pub async fn restart(&mut self) {
        self.kill();
        self.process
            .log()
            .push_line("--- chat-e2e: restarting Redis ---");
        assert!(
            self.launch().await,
            "redis-server did not restart on port {}\n--- its log ---\n{}",
            self.port,
            self.log()
        );
    }
}

/// Several `chat-server` nodes sharing one PostgreSQL and one Redis.
pub struct Cluster {
    // Nodes first: fields drop in order, and nodes should go before the
    // engines they use.
    nodes: Vec<ServerProcess>,
    pub postgres: Postgres,
    pub redis: Redis,
}

impl Cluster {
    /// Starts the engines, then `nodes` nodes at once (so they also race
    /// to migrate the schema).
    pub async fn start(nodes: usize) -> Self {
        let (postgres, redis) = tokio::join!(Postgres::start(), Redis::start());
        let options = node_options(&postgres, &redis);
        let nodes = futures_util::future::join_all(
            (0..nodes).map(|_| ServerProcess::start(options.clone())),
        )
        .await;
        Self {
            nodes,
            postgres,
            redis,
        }
    }

    /// Options that make a node of this cluster.
    pub fn node_options(&self) -> ServerOptions {
        node_options(&self.postgres, &self.redis)
    }

    pub fn node(&self, index: usize) -> &ServerProcess {
        &self.nodes[index]
    }

    pub fn node_mut(&mut self, index: usize) -> &mut ServerProcess {
        &mut self.nodes[index]
    }

    /// A guest session for `user` on node `index`, ignoring stale presence.
    pub async fn guest(&self, index: usize, user: &str) -> TestClient {
        self.node(index).guest(user).await.ignoring_stale_presence()
    }

    /// A session of the account `user` on node `index` (registering it if
    /// new), ignoring stale presence.
    pub async fn account(&self, index: usize, user: &str, password: &str) -> TestClient {
        self.node(index)
            .account(user, password)
            .await
            .ignoring_stale_presence()
    }

    /// Every node's log, for failure messages.
    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, node)| format!("--- node {i} ({}) ---\n{}", node.addr(), node.log()))
            .collect()
    }
}

fn node_options(postgres: &Postgres, redis: &Redis) -> ServerOptions {
    ServerOptions {
        database_url: Some(postgres.url()),
        redis_url: Some(redis.url()),
        ..ServerOptions::unthrottled()
    }
}
