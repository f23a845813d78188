//! Command-line flags and the runtime settings derived from them.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::address_limits::Shares;
use crate::store::SyncMode;
use crate::tls::{ServerTls, TlsError};

/// `--outbox-bytes`' default: room for a 2 MB `history` page and then
/// some, a small fraction of a small server's memory.
pub const DEFAULT_OUTBOX_BYTES: usize = 4 * 1024 * 1024;
/// Rooms one session may be in at once, unless `--rooms-per-session` says
/// otherwise: enough for anyone reading, few enough that one session
/// cannot hold thousands of rooms in memory.
pub const DEFAULT_ROOMS_PER_SESSION: usize = 200;

/// Real-time chat server: WebSocket rooms at /ws, stored in SQLite, or as
/// one node of a cluster sharing PostgreSQL and Redis.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "chat-server",
    version,
    about,
    long_about = None,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// SQLite database file, created with its folders if missing
    /// [default: chat.sqlite3 in the platform data directory].
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Refuse guest sessions: every hello needs a password.
    #[arg(long)]
    pub require_accounts: bool,
    /// A server admin's account name (repeatable): admins may do anything
    /// an owner may, in every room. No guest may use the name, and its
    /// account is made only with `chat-server user add NAME`.
    #[arg(long = "admin", value_name = "NAME", value_parser = parse_user_name)]
    pub admins: Vec<chat_proto::UserName>,
    /// Most WebSocket sessions at once; further upgrades get HTTP 503.
    #[arg(long, value_name = "N", default_value_t = 50_000)]
    pub max_connections: usize,
    /// Frames a session may send per second (0: unlimited).
    #[arg(long, value_name = "PER_SEC", default_value_t = 20)]
    pub rate_limit: u32,
    /// Frames a session may send in a burst above the rate.
    #[arg(long, value_name = "N", default_value_t = 40)]
    pub rate_burst: u32,
    /// Frames queued per connection before it counts as too slow and is
    /// closed with 1008.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub outbox: usize,
    /// Bytes of frames queued per connection (its outbox) before it counts
    /// as too slow and is closed with 1008; a single larger reply still
    /// goes out when the outbox is below it.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_OUTBOX_BYTES)]
    pub outbox_bytes: usize,
    /// Connections that may be in their HTTP handshake at once; more are
    /// dropped at accept.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub max_pending_handshakes: usize,
    /// Percent of each pool (pending handshakes, sessions, half-finished
    /// frames) that one address (IPv4, or IPv6 /64) may hold, never fewer
    /// than 8 places of each (0: no per-address shares, e.g. for load
    /// tests from one host).
    #[arg(long, value_name = "PERCENT", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(0..=100))]
    pub address_share: u32,
    /// Seconds a frame may take from its first byte to its last; a slower
    /// one closes the connection with 1008.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_seconds)]
    pub frame_timeout: Duration,
    /// Seconds of silence before the server pings a connection; one more
    /// interval without an answer drops it.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse_seconds)]
    pub ping_interval: Duration,
    /// Seconds a new connection has to finish the HTTP handshake, and then
    /// to send its hello.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_seconds)]
    pub handshake_timeout: Duration,
    /// Failed passwords a name may have (an address four times as many)
    /// before each further one makes the next guess wait: 1 s, doubling up
    /// to 5 min; forgotten after an hour without failures (0: off).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub login_failures: u32,
    /// New accounts one address may register per hour (0: unlimited).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub accounts_per_hour: u32,
    /// Password checks one address may have queued or running at once;
    /// more are refused with `rate_limited` (0: unlimited).
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub hashes_per_address: u32,
    /// Sessions one account may have open at once on this server (0:
    /// unlimited).
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub sessions_per_account: u32,
    /// Rooms one session may be in at once; a further join is refused with
    /// `rate_limited` until it leaves one (0: unlimited).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_ROOMS_PER_SESSION)]
    pub rooms_per_session: usize,
    /// Commit durability: `normal` survives a crash of the process, `full`
    /// also a power cut (slower).
    #[arg(long, value_enum, default_value_t = SyncMode::Normal)]
    pub sync: SyncMode,
    /// Run as a cluster node: PostgreSQL database shared by every node
    /// (postgres://USER:PASSWORD@HOST:PORT/DB). Needs --redis.
    #[arg(
        long,
        value_name = "URL",
        env = "CHAT_DATABASE_URL",
        conflicts_with = "db"
    )]
    pub database: Option<String>,
    /// Run as a cluster node: Redis server shared by every node
    /// (redis://HOST:PORT). Needs --database.
    #[arg(long, value_name = "URL", env = "CHAT_REDIS_URL")]
    pub redis: Option<String>,
    /// Serve https:// and wss:// with this PEM certificate chain (leaf
    /// first); re-read on SIGHUP. Needs --tls-key.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert; re-read on SIGHUP.
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// A web origin (scheme://host[:port]) besides the server's own whose
    /// pages may open the WebSocket; repeat for several. Upgrades from any
    /// other origin get HTTP 403.
    #[arg(long = "allow-origin", value_name = "ORIGIN", value_parser = crate::web::parse_origin)]
    pub allow_origins: Vec<String>,
    /// Test hook, hidden from --help: abort the process right after the
    /// Nth commit that stored an entry, before anything of it is
    /// acknowledged (`store/crash_hook.rs`). For the exactly-once tests.
    #[arg(long, value_name = "N", hide = true)]
    pub abort_after_commits: Option<u64>,
}

/// What the binary does besides serving.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Manage accounts (the only way to make a server admin's account).
    User {
        #[command(subcommand)]
        action: UserAction,
        /// The SQLite database file [default: as for the server].
        #[arg(long, value_name = "PATH", global = true)]
        db: Option<PathBuf>,
        /// A cluster's PostgreSQL database instead of a SQLite file.
        #[arg(long, value_name = "URL", env = "CHAT_DATABASE_URL", global = true)]
        database: Option<String>,
    },
    /// Create or upgrade the cluster's PostgreSQL schema, then exit.
    Migrate {
        /// The PostgreSQL database (postgres://USER:PASSWORD@HOST:PORT/DB).
        #[arg(long, value_name = "URL", env = "CHAT_DATABASE_URL")]
        database: String,
    },
}

/// What `chat-server user` does. Passwords are read from standard input
/// (one line), or from a prompt that shows no characters on a terminal.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum UserAction {
    /// Create an account.
    Add {
        #[arg(value_parser = parse_user_name)]
        name: chat_proto::UserName,
    },
    /// Set an account's password.
    Passwd {
        #[arg(value_parser = parse_user_name)]
        name: chat_proto::UserName,
    },
    /// List every account's name.
    List,
    /// Remove an account (its messages stay).
    Remove {
        #[arg(value_parser = parse_user_name)]
        name: chat_proto::UserName,
    },
}

/// The engines a cluster node shares with the other nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterUrls {
    pub database: String,
    pub redis: String,
}

fn parse_seconds(raw: &str) -> Result<Duration, String> {
    let seconds: f64 = raw
        .parse()
        .map_err(|_| format!("{raw:?} is not a number of seconds"))?;
    if !(seconds > 0.0 && seconds <= 86_400.0) {
        return Err(format!("{raw} is outside 0 < seconds <= 86400"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// The names given to `--admin`, compared regardless of case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Admins(std::collections::HashSet<chat_proto::FoldedName>);

impl Admins {
    pub fn new(names: impl IntoIterator<Item = chat_proto::UserName>) -> Self {
        Self(names.into_iter().map(|n| n.folded()).collect())
    }

    pub fn contains(&self, name: &chat_proto::UserName) -> bool {
        self.0.contains(&name.folded())
    }

    /// The admins' names, folded to lower case.
    pub fn folded_names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(chat_proto::FoldedName::as_str)
    }
}

fn parse_user_name(raw: &str) -> Result<chat_proto::UserName, String> {
    chat_proto::UserName::parse(raw).map_err(|e| e.to_string())
}

/// What a running server needs to know, independent of how it was started.
#[derive(Debug, Clone)]
pub struct Config {
    pub require_accounts: bool,
    /// `--admin`: the server admins' names.
    pub admins: Admins,
    pub max_connections: usize,
    pub rate_limit: u32,
    pub rate_burst: u32,
    pub outbox: usize,
    pub outbox_bytes: usize,
    pub max_pending_handshakes: usize,
    /// `--address-share`: 0 turns the per-address shares off.
    pub address_share: u32,
    pub frame_timeout: Duration,
    pub ping_interval: Duration,
    pub handshake_timeout: Duration,
    pub logins: LoginLimits,
    /// `--rooms-per-session`: 0 means unlimited.
    pub rooms_per_session: usize,
    /// `--tls-cert`/`--tls-key`: every connection speaks TLS first.
    pub tls: Option<ServerTls>,
    /// Origins besides the server's own allowed to open the WebSocket, as
    /// [`crate::web::parse_origin`] spells them.
    pub allow_origins: Vec<String>,
}

/// The limits on logging in and registering (`crate::login_limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// `--login-failures`: free failed passwords per name; 0 turns the
    /// throttle off.
    pub failures_before_delay: u32,
    /// `--accounts-per-hour`: 0 means unlimited.
    pub accounts_per_hour: u32,
    /// `--hashes-per-address`: 0 means unlimited.
    pub hashes_per_address: u32,
    /// `--sessions-per-account`: 0 means unlimited.
    pub sessions_per_account: u32,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            failures_before_delay: 5,
            accounts_per_hour: 20,
            hashes_per_address: 4,
            sessions_per_account: 32,
        }
    }
}

impl From<&Cli> for LoginLimits {
    fn from(cli: &Cli) -> Self {
        Self {
            failures_before_delay: cli.login_failures,
            accounts_per_hour: cli.accounts_per_hour,
            hashes_per_address: cli.hashes_per_address,
            sessions_per_account: cli.sessions_per_account,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            require_accounts: false,
            admins: Admins::default(),
            max_connections: 50_000,
            rate_limit: 20,
            rate_burst: 40,
            outbox: 1024,
            outbox_bytes: DEFAULT_OUTBOX_BYTES,
            max_pending_handshakes: 4096,
            address_share: 10,
            frame_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            logins: LoginLimits::default(),
            rooms_per_session: DEFAULT_ROOMS_PER_SESSION,
            tls: None,
            allow_origins: Vec::new(),
        }
    }
}

impl From<&Cli> for Config {
    fn from(cli: &Cli) -> Self {
        Self {
            require_accounts: cli.require_accounts,
            admins: Admins::new(cli.admins.iter().cloned()),
            max_connections: cli.max_connections,
            rate_limit: cli.rate_limit,
            rate_burst: cli.rate_burst,
            outbox: cli.outbox,
            outbox_bytes: cli.outbox_bytes,
            max_pending_handshakes: cli.max_pending_handshakes,
            address_share: cli.address_share,
            frame_timeout: cli.frame_timeout,
            ping_interval: cli.ping_interval,
            handshake_timeout: cli.handshake_timeout,
            logins: LoginLimits::from(cli),
            rooms_per_session: cli.rooms_per_session,
            // Loading can fail: the binary does it with [`Cli::tls`].
            tls: None,
            allow_origins: cli.allow_origins.clone(),
        }
    }
}

impl Config {
    /// Each pool's share per address, `None` when `--address-share` is 0.
    pub fn address_shares(&self) -> Option<Shares> {
        (self.address_share > 0).then(|| {
            Shares::of(
                self.address_share,
                self.max_pending_handshakes,
                self.max_connections,
            )
        })
    }
}

impl Cli {
    /// The cluster engines when both `--database` and `--redis` are given,
    /// `None` for a single node; an error names the missing half.
    pub fn cluster(&self) -> Result<Option<ClusterUrls>, String> {
        match (&self.database, &self.redis) {
            (Some(database), Some(redis)) => Ok(Some(ClusterUrls {
                database: database.clone(),
                redis: redis.clone(),
            })),
            (None, None) => Ok(None),
            (Some(_), None) => Err("--database needs --redis: a cluster node uses both \
                 (or neither, for one node on SQLite)"
                .into()),
            (None, Some(_)) => Err("--redis needs --database: a cluster node uses both \
                 (or neither, for one node on SQLite)"
                .into()),
        }
    }

    /// The certificate and key of `--tls-cert` and `--tls-key`, read now
    /// (blocking), or `None` when TLS is off.
    pub fn tls(&self) -> Result<Option<ServerTls>, TlsError> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => ServerTls::load(cert, key).map(Some),
            (Some(_), None) => Err(TlsError::HalfGiven("--tls-cert needs --tls-key")),
            (None, Some(_)) => Err(TlsError::HalfGiven("--tls-key needs --tls-cert")),
            (None, None) => Ok(None),
        }
    }

    /// The database path: `--db`, or the platform default.
    pub fn db_path(&self) -> Option<PathBuf> {
        self.db.clone().or_else(|| {
            directories::ProjectDirs::from("", "", "chat-server")
                .map(|dirs| dirs.data_dir().join("chat.sqlite3"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_accept_fractions_and_refuse_nonsense() {
        assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
        assert!(parse_seconds("0").is_err());
        assert!(parse_seconds("-3").is_err());
        assert!(parse_seconds("soon").is_err());
    }

    #[test]
    fn cluster_needs_both_engines_and_no_sqlite_file() {
        let parse = |args: &[&str]| Cli::try_parse_from([&["chat-server"], args].concat());
        let both = parse(&["--database", "postgres://db/chat", "--redis", "redis://r"]).unwrap();
        assert_eq!(
            both.cluster(),
            Ok(Some(ClusterUrls {
                database: "postgres://db/chat".into(),
                redis: "redis://r".into()
            }))
        );
        let single = parse(&["--port", "0"]).unwrap();
        assert_eq!(single.cluster(), Ok(None));
        assert!(single.command.is_none());
        let half = parse(&["--database", "postgres://db/chat"]).unwrap();
        assert!(half.cluster().unwrap_err().contains("--redis"));
        let half = parse(&["--redis", "redis://r"]).unwrap();
        assert!(half.cluster().unwrap_err().contains("--database"));
        assert!(parse(&["--db", "x.sqlite3", "--database", "postgres://db/chat"]).is_err());
    }

    #[test]
    fn migrate_is_a_subcommand_with_its_own_database() {
        let cli = Cli::try_parse_from(["chat-server", "migrate", "--database", "postgres://db/c"])
            .unwrap();
        match cli.command {
            Some(Command::Migrate { database }) => assert_eq!(database, "postgres://db/c"),
            other => panic!("migrate was not parsed: {other:?}"),
        }
        assert!(Cli::try_parse_from(["chat-server", "--port", "1", "migrate"]).is_err());
    }

    #[test]
    fn user_is_a_subcommand_and_admin_repeats() {
        let cli =
            Cli::try_parse_from(["chat-server", "user", "add", "root", "--db", "x.db"]).unwrap();
        match cli.command {
            Some(Command::User { action, db, .. }) => {
                let name = chat_proto::UserName::parse("root").unwrap();
                assert_eq!(action, UserAction::Add { name });
                assert_eq!(db.as_deref(), Some(std::path::Path::new("x.db")));
            }
            other => panic!("user was not parsed: {other:?}"),
        }
        assert!(Cli::try_parse_from(["chat-server", "user", "add", "b b"]).is_err());
        let cli =
            Cli::try_parse_from(["chat-server", "--admin", "root", "--admin", "Ops"]).unwrap();
        let admins = Config::from(&cli).admins;
        assert!(admins.contains(&chat_proto::UserName::parse("ops").unwrap()));
        assert!(admins.contains(&chat_proto::UserName::parse("root").unwrap()));
        assert!(!admins.contains(&chat_proto::UserName::parse("alice").unwrap()));
    }

    #[test]
    fn allow_origin_repeats_and_refuses_what_is_not_an_origin() {
        let cli = Cli::try_parse_from([
            "chat-server",
            "--allow-origin",
            "https://App.example.org/",
            "--allow-origin",
            "http://127.0.0.1:9000",
        ])
        .unwrap();
        assert_eq!(
            Config::from(&cli).allow_origins,
            ["https://app.example.org", "http://127.0.0.1:9000"]
        );
        assert!(Cli::try_parse_from(["chat-server", "--allow-origin", "app.example.org"]).is_err());
        assert!(Config::default().allow_origins.is_empty());
    }

    #[test]
    fn defaults_match_the_config_defaults() {
        let cli = Cli::parse_from(["chat-server"]);
        let config = Config::from(&cli);
        let default = Config::default();
        assert_eq!(config.max_connections, default.max_connections);
        assert_eq!(config.rate_limit, default.rate_limit);
        assert_eq!(config.outbox, default.outbox);
        assert_eq!(config.outbox_bytes, default.outbox_bytes);
        assert_eq!(
            config.max_pending_handshakes,
            default.max_pending_handshakes
        );
        assert_eq!(config.address_share, default.address_share);
        assert_eq!(config.frame_timeout, default.frame_timeout);
        assert_eq!(config.ping_interval, default.ping_interval);
        assert_eq!(config.logins, default.logins);
    }

    #[test]
    fn tls_needs_both_files() {
        let parse = |args: &[&str]| Cli::try_parse_from([&["chat-server"], args].concat());
        let half = parse(&["--tls-cert", "c.pem"]).unwrap().tls().unwrap_err();
        assert_eq!(half.to_string(), "--tls-cert needs --tls-key");
        let half = parse(&["--tls-key", "k.pem"]).unwrap().tls().unwrap_err();
        assert_eq!(half.to_string(), "--tls-key needs --tls-cert");
        let both = parse(&["--tls-cert", "c.pem", "--tls-key", "k.pem"]).unwrap();
        assert_eq!(both.tls_cert, Some(PathBuf::from("c.pem")));
        assert!(parse(&[]).unwrap().tls().unwrap().is_none());
        assert!(Config::from(&both).tls.is_none());
    }

    #[test]
    fn address_shares_are_off_at_0_and_at_most_100_percent() {
        let parse = |share: &str| Cli::try_parse_from(["chat-server", "--address-share", share]);
        let off = Config::from(&parse("0").unwrap());
        assert_eq!(off.address_shares(), None);
        let half = Config::from(&parse("50").unwrap());
        assert_eq!(half.address_shares().map(|s| s.handshakes), Some(2048));
        assert!(parse("101").is_err());
    }

    #[test]
    fn login_limits_can_each_be_turned_off() {
        let cli = Cli::parse_from([
            "chat-server",
            "--login-failures",
            "0",
            "--accounts-per-hour",
            "0",
            "--hashes-per-address",
            "0",
            "--sessions-per-account",
            "0",
        ]);
        assert_eq!(
            Config::from(&cli).logins,
            LoginLimits {
                failures_before_delay: 0,
                accounts_per_hour: 0,
                hashes_per_address: 0,
                sessions_per_account: 0,
            }
        );
    }
}
