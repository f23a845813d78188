//! Cluster fixtures: a private PostgreSQL and a private Redis per test,
//! started from the machine's own binaries on free loopback ports (bounded
//! waits for readiness, killed when dropped), and `chat-server` nodes that
//! share them.
//!
//! Missing binaries fail the test with the Debian package to install:
//! these tests are part of the suite, never silently skipped. [`Peer`] is
//! a client that tells real presence changes from stale ones.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::timeout;

use chat_proto::{ClientFrame, ErrorCode, Message, RoomInfo, ServerFrame};

use crate::client::{Joined, RECV_TIMEOUT, TestClient, messages_only};
use crate::server::{ServerOptions, ServerProcess};

/// How long initdb may take (a loaded two-core machine is slow).
const INITDB_TIMEOUT: Duration = Duration::from_secs(60);
/// How long an engine may take to say it accepts connections.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts at a free port, in case another process takes the one picked.
const PORT_ATTEMPTS: usize = 5;
/// How long a stopped engine may take to exit before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

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

/// A log shared with the thread that drains a child's pipe.
#[derive(Debug, Clone, Default)]
pub struct EngineLog(Arc<Mutex<String>>);

impl EngineLog {
    pub fn text(&self) -> String {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn push(&self, line: &str) {
        let mut log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        log.push_str(line);
        log.push('\n');
    }
}

/// Copies a pipe into `log` on its own thread and reports when a line
/// contains `ready_marker` (or when the pipe closes first: `false`).
fn drain(
    pipe: impl Read + Send + 'static,
    log: EngineLog,
    ready_marker: &'static str,
    ready_tx: Option<oneshot::Sender<bool>>,
) {
    std::thread::spawn(move || {
        let mut ready_tx = ready_tx;
        let mut reader = BufReader::new(pipe);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end();
            log.push(text);
            if text.contains(ready_marker)
                && let Some(tx) = ready_tx.take()
            {
                let _ = tx.send(true);
            }
        }
        if let Some(tx) = ready_tx.take() {
            let _ = tx.send(false);
        }
    });
}

/// Starts `program` (as the `postgres` user when `as_postgres`), with
/// stdout and stderr drained into `log`, and waits for `ready_marker`.
/// Returns the child when it became ready, `None` when it exited first.
async fn spawn_engine(
    program: &Path,
    args: &[String],
    as_postgres: bool,
    log: &EngineLog,
    ready_marker: &'static str,
) -> Option<Child> {
    let mut command = if as_postgres {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    };
    log.push(&format!(
        "--- chat-e2e: {} {} ---",
        program.display(),
        args.join(" ")
    ));
    let mut child = command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    let (ready_tx, ready_rx) = oneshot::channel();
    let (stdout_tx, stdout_rx) = oneshot::channel();
    if let Some(stdout) = child.stdout.take() {
        drain(stdout, log.clone(), ready_marker, Some(stdout_tx));
    }
    if let Some(stderr) = child.stderr.take() {
        drain(stderr, log.clone(), ready_marker, Some(ready_tx));
    }
    // The marker may come on either pipe.
    let ready = async {
        let (stderr, stdout) = (ready_rx, stdout_rx);
        tokio::pin!(stderr, stdout);
        let mut closed = 0;
        loop {
            tokio::select! {
                seen = &mut stderr, if closed & 1 == 0 => match seen {
                    Ok(true) => return true,
                    _ => closed |= 1,
                },
                seen = &mut stdout, if closed & 2 == 0 => match seen {
                    Ok(true) => return true,
                    _ => closed |= 2,
                },
            }
            if closed == 3 {
                return false;
            }
        }
    };
    match timeout(READY_TIMEOUT, ready).await {
        Ok(true) => Some(child),
        Ok(false) => {
            let _ = child.wait();
            None
        }
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} did not become ready within {READY_TIMEOUT:?}\n--- its log ---\n{}",
                program.display(),
                log.text()
            )
        }
    }
}

/// Sends `signal` to `pid` with kill(1).
fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// Waits (bounded) for a child to exit after it was asked to; kills it
/// when it does not.
fn reap(child: &mut Child, also_kill: Option<u32>) {
    let deadline = std::time::Instant::now() + STOP_TIMEOUT;
    while std::time::Instant::now() < deadline {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => return,
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    if let Some(pid) = also_kill {
        signal(pid, "-KILL");
    }
    let _ = child.kill();
    let _ = child.wait();
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
    child: Option<Child>,
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
    log: EngineLog,
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
        let log = EngineLog::default();
        let data = dir.path().join("data");
        let initdb = initdb_command(&bin, &data, as_postgres);
        let output = timeout(
            INITDB_TIMEOUT,
            tokio::process::Command::from(initdb).output(),
        )
        .await
        .unwrap_or_else(|_| panic!("initdb took over {INITDB_TIMEOUT:?}"))
        .expect("initdb can be run");
        assert!(
            output.status.success(),
            "initdb failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let mut postgres = Self {
            child: None,
            bin,
            dir,
            port: 0,
            as_postgres,
            log,
        };
        for _ in 0..PORT_ATTEMPTS {
            postgres.port = free_port();
            if postgres.launch().await {
                return postgres;
            }
        }
        panic!(
            "PostgreSQL did not start in {PORT_ATTEMPTS} attempts\n--- its log ---\n{}",
            postgres.log.text()
        );
    }

    async fn launch(&mut self) -> bool {
        let args: Vec<String> = [
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
        ]
        .iter()
        .map(|arg| (*arg).to_owned())
        .collect();
        self.child = spawn_engine(
            &self.bin.join("postgres"),
            &args,
            self.as_postgres,
            &self.log,
            "ready to accept connections",
        )
        .await;
        self.child.is_some()
    }

    /// `postgres://` URL of the `postgres` database as the `postgres` user.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn log(&self) -> String {
        self.log.text()
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
        if let Some(mut child) = self.child.take() {
            let pid = self.postmaster_pid();
            match pid {
                Some(pid) => signal(pid, "-QUIT"),
                None => {
                    let _ = child.kill();
                }
            }
            reap(&mut child, pid);
        }
    }

    /// Starts the server again on the same port and data.
    pub async fn restart(&mut self) {
        self.stop();
        self.log.push("--- chat-e2e: restarting PostgreSQL ---");
        assert!(
            self.launch().await,
            "PostgreSQL did not restart on port {}\n--- its log ---\n{}",
            self.port,
            self.log.text()
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
        let output = timeout(
            READY_TIMEOUT,
            tokio::process::Command::new(&psql)
                .args([
                    "-X",
                    "-A",
                    "-t",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-d",
                    &self.url(),
                    "-c",
                    sql,
                ])
                .output(),
        )
        .await
        .unwrap_or_else(|_| panic!("psql took over {READY_TIMEOUT:?} for {sql}"))
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", psql.display()));
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
        self.stop();
        if std::thread::panicking() {
            eprintln!(
                "--- PostgreSQL log ---\n{}--- end of PostgreSQL log ---",
                self.log.text()
            );
        }
    }
}

fn postgres_ids() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let output = Command::new("id")
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

fn initdb_command(bin: &Path, data: &Path, as_postgres: bool) -> Command {
    let mut command = if as_postgres {
        let mut command = Command::new("runuser");
        command
            .args(["-u", "postgres", "--"])
            .arg(bin.join("initdb"));
        command
    } else {
        Command::new(bin.join("initdb"))
    };
    command
        .arg("-D")
        .arg(data)
        .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])
        .stdin(Stdio::null());
    command
}

/// A private Redis server without persistence: a restart loses every key,
/// as a crashed cache would.
pub struct Redis {
    child: Option<Child>,
    program: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    log: EngineLog,
}

impl Redis {
    pub async fn start() -> Self {
        let program = redis_server_path();
        let dir = tempfile::Builder::new()
            .prefix("chat-e2e-redis-")
            .tempdir()
            .expect("a temporary directory can be created");
        let mut redis = Self {
            child: None,
            program,
            dir,
            port: 0,
            log: EngineLog::default(),
        };
        for _ in 0..PORT_ATTEMPTS {
            redis.port = free_port();
            if redis.launch().await {
                return redis;
            }
        }
        panic!(
            "redis-server did not start in {PORT_ATTEMPTS} attempts\n--- its log ---\n{}",
            redis.log.text()
        );
    }

    async fn launch(&mut self) -> bool {
        let args: Vec<String> = [
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
        ]
        .iter()
        .map(|arg| (*arg).to_owned())
        .collect();
        self.child = spawn_engine(
            &self.program,
            &args,
            false,
            &self.log,
            "Ready to accept connections",
        )
        .await;
        self.child.is_some()
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        self.log.text()
    }

    /// Kills the server (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts an empty server again on the same port.
    pub async fn restart(&mut self) {
        self.kill();
        self.log.push("--- chat-e2e: restarting Redis ---");
        assert!(
            self.launch().await,
            "redis-server did not restart on port {}\n--- its log ---\n{}",
            self.port,
            self.log.text()
        );
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "--- Redis log ---\n{}--- end of Redis log ---",
                self.log.text()
            );
        }
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

/// A client of a cluster that keeps, per room, who it believes is there:
/// its `joined` list, then each presence event. Through a cluster, a `join`
/// or `leave` that happened through another node just before this client
/// joined can arrive after a `joined` that already counts it (the event and
/// the list travel different paths). Such a stale event changes nothing
/// and is skipped; every real change must still arrive, in order.
pub struct Peer {
    pub client: TestClient,
    rosters: HashMap<String, BTreeSet<String>>,
    next_ref: u64,
}

impl Peer {
    pub fn new(client: TestClient) -> Self {
        Self {
            client,
            rosters: HashMap::new(),
            next_ref: 0,
        }
    }

    /// A guest session for `user` on `node`.
    pub async fn guest(node: &ServerProcess, user: &str) -> Self {
        Self::new(node.guest(user).await)
    }

    /// A session of the account `user` on `node` (registering it if new).
    pub async fn account(node: &ServerProcess, user: &str, password: &str) -> Self {
        Self::new(node.account(user, password).await)
    }

    pub fn label(&self) -> &str {
        self.client.label()
    }

    /// Who this client believes is in `room`, sorted.
    pub fn roster(&self, room: &str) -> Vec<String> {
        self.rosters
            .get(room)
            .map(|users| users.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The next frame that is not stale presence, within `limit`; presence
    /// it returns has been applied to the roster.
    pub async fn next_within(&mut self, limit: Duration, awaiting: &str) -> ServerFrame {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let frame = self.client.recv_within(left, awaiting).await;
            let stale = match &frame {
                ServerFrame::Join { room, user, .. } => !self
                    .rosters
                    .entry(room.clone())
                    .or_default()
                    .insert(user.clone()),
                ServerFrame::Leave { room, user, .. } => {
                    !self.rosters.entry(room.clone()).or_default().remove(user)
                }
                _ => false,
            };
            if stale {
                continue;
            }
            return frame;
        }
    }

    async fn next(&mut self, awaiting: &str) -> ServerFrame {
        self.next_within(RECV_TIMEOUT, awaiting).await
    }

    pub async fn send(&mut self, frame: &ClientFrame) {
        self.client.send(frame).await;
    }

    /// Joins `room` and expects `joined`, which becomes the room's roster.
    pub async fn join(&mut self, room: &str) -> Joined {
        self.join_with(room, None, None).await
    }

    pub async fn join_with(
        &mut self,
        room: &str,
        since: Option<u64>,
        limit: Option<u32>,
    ) -> Joined {
        self.send(&ClientFrame::Join {
            room: room.to_owned(),
            since,
            limit,
        })
        .await;
        match self.next("joined").await {
            ServerFrame::Joined {
                room: got,
                members,
                history,
                more,
                last_id,
                ..
            } => {
                assert_eq!(got, room, "{}: joined names the wrong room", self.label());
                self.rosters
                    .insert(room.to_owned(), members.iter().cloned().collect());
                Joined {
                    room: got,
                    members,
                    history: messages_only(history),
                    more,
                    last_id,
                }
            }
            other => panic!("{}: expected joined {room}, got {other:?}", self.label()),
        }
    }

    /// The next real presence change: (room, user, entered).
    pub async fn presence_within(&mut self, limit: Duration) -> (String, String, bool) {
        match self.next_within(limit, "a presence change").await {
            ServerFrame::Join { room, user, ts } => {
                assert!(ts > 0, "{}: join ts {ts}", self.label());
                (room, user, true)
            }
            ServerFrame::Leave { room, user, ts } => {
                assert!(ts > 0, "{}: leave ts {ts}", self.label());
                (room, user, false)
            }
            other => panic!("{}: expected join or leave, got {other:?}", self.label()),
        }
    }

    pub async fn expect_join(&mut self, room: &str, user: &str) {
        self.expect_join_within(RECV_TIMEOUT, room, user).await;
    }

    pub async fn expect_join_within(&mut self, limit: Duration, room: &str, user: &str) {
        let heard = self.presence_within(limit).await;
        assert_eq!(
            heard,
            (room.to_owned(), user.to_owned(), true),
            "{}: expected join {user} in {room}",
            self.label()
        );
    }

    /// The very next frame must be this `join`, with nothing skipped: for
    /// proving that no other event (stale-looking or not) came first.
    pub async fn expect_next_join(&mut self, room: &str, user: &str) {
        self.client.expect_join(room, user).await;
        self.rosters
            .entry(room.to_owned())
            .or_default()
            .insert(user.to_owned());
    }

    pub async fn expect_leave_within(&mut self, limit: Duration, room: &str, user: &str) {
        let heard = self.presence_within(limit).await;
        assert_eq!(
            heard,
            (room.to_owned(), user.to_owned(), false),
            "{}: expected leave {user} from {room}",
            self.label()
        );
    }

    pub async fn expect_leave(&mut self, room: &str, user: &str) {
        self.expect_leave_within(RECV_TIMEOUT, room, user).await;
    }

    pub async fn message_within(&mut self, limit: Duration) -> Message {
        match self.next_within(limit, "a message").await {
            ServerFrame::Message(message) => message,
            other => panic!("{}: expected a message, got {other:?}", self.label()),
        }
    }

    pub async fn expect_message(&mut self) -> Message {
        self.message_within(RECV_TIMEOUT).await
    }

    /// The next `count` frames, which must all be messages.
    pub async fn messages(&mut self, count: usize) -> Vec<Message> {
        let mut seen = Vec::with_capacity(count);
        for _ in 0..count {
            seen.push(self.expect_message().await);
        }
        seen
    }

    /// Sends a message with a fresh `ref`; its acknowledgement must be the
    /// next frame.
    pub async fn say(&mut self, room: &str, text: &str) -> Message {
        self.next_ref += 1;
        let reference = format!("{}-{}", self.label(), self.next_ref);
        self.send(&ClientFrame::Message {
            room: room.to_owned(),
            text: text.to_owned(),
            reference: Some(reference.clone()),
            reply_to: None,
            action: false,
        })
        .await;
        let ack = self.expect_message().await;
        assert_eq!(
            (ack.text.as_str(), ack.reference.as_deref()),
            (text, Some(reference.as_str())),
            "{}: the acknowledgement is not the message sent",
            self.label()
        );
        ack
    }

    /// The next frame must be an `error` with `code`: (message, ref).
    pub async fn expect_error(&mut self, code: ErrorCode) -> (String, Option<String>) {
        match self.next(&format!("error {}", code.as_str())).await {
            ServerFrame::Error {
                code: got,
                message,
                reference,
                ..
            } if got == code => (message, reference),
            other => panic!(
                "{}: expected error {}, got {other:?}",
                self.label(),
                code.as_str()
            ),
        }
    }

    pub async fn rooms(&mut self) -> Vec<RoomInfo> {
        self.send(&ClientFrame::rooms()).await;
        match self.next("rooms").await {
            ServerFrame::Rooms { rooms, .. } => rooms,
            other => panic!("{}: expected rooms, got {other:?}", self.label()),
        }
    }

    /// Proves nothing but stale presence is queued for this client.
    pub async fn barrier(&mut self) {
        self.rooms().await;
    }

    pub async fn history(
        &mut self,
        room: &str,
        before: Option<u64>,
        after: Option<u64>,
        limit: Option<u32>,
    ) -> (Vec<Message>, bool) {
        self.send(&ClientFrame::History {
            room: room.to_owned(),
            before,
            after,
            limit,
        })
        .await;
        match self.next("history").await {
            ServerFrame::History { messages, more, .. } => (messages_only(messages), more),
            other => panic!("{}: expected history, got {other:?}", self.label()),
        }
    }
}

/// Joins `room` with each peer in turn (each a different user): each
/// `joined` lists everyone so far, and every earlier peer hears the
/// newcomer's `join`.
pub async fn join_in_order(peers: &mut [&mut Peer], room: &str) {
    for i in 0..peers.len() {
        let newcomer = peers[i].label().to_owned();
        let joined = peers[i].join(room).await;
        let mut expected: Vec<String> = peers[..=i].iter().map(|p| p.label().to_owned()).collect();
        expected.sort();
        expected.dedup();
        assert_eq!(
            joined.members, expected,
            "{newcomer}: joined {room} lists the wrong members"
        );
        for earlier in peers[..i].iter_mut() {
            earlier.expect_join(room, &newcomer).await;
        }
    }
}
