//! The server library run inside the test process, as the binary runs it:
//! `server::run` on a listener bound to 127.0.0.1:0 with a SQLite backend
//! in a temporary directory. For tests that need no signals, restarts, log
//! lines or process memory; it starts without building or spawning the
//! binary.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chat_server::config::{Cli, Config};
use chat_server::server::{self, Backend};
use chat_server::store::SyncMode;
use clap::Parser;
use tokio::sync::oneshot;
use tokio::time::timeout;

use crate::client::TestClient;
use crate::server::ServerOptions;

/// How long opening the database and binding may take.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A server running on its own runtime thread inside the test process.
/// Dropping it starts the server's graceful shutdown.
pub struct InProcessServer {
    addr: SocketAddr,
    db_path: PathBuf,
    /// Dropping it resolves the server's shutdown future.
    _shutdown_tx: oneshot::Sender<()>,
    /// Holds the database; removed when the fixture is dropped.
    _dir: tempfile::TempDir,
}

/// Starts a server with every default.
pub async fn start_server() -> InProcessServer {
    start_server_with(ServerOptions::default()).await
}

/// Starts a server configured as the binary would be with `options`' flags.
/// The server runs on a runtime of its own, on its own thread, as in the
/// binary: what the test does on its runtime never stalls the server.
pub async fn start_server_with(options: ServerOptions) -> InProcessServer {
    let config = config_for(&options);
    let dir = tempfile::Builder::new()
        .prefix("chat-e2e-")
        .tempdir()
        .expect("a temporary directory can be created");
    let db_path = dir.path().join("chat.sqlite3");
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").expect("the server can listen on a free port");
    let addr = listener.local_addr().expect("the listener has an address");
    listener
        .set_nonblocking(true)
        .expect("the listener can be made non-blocking for tokio");
    let (started_tx, started_rx) = oneshot::channel();
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let path = db_path.clone();
    std::thread::Builder::new()
        .name(format!("chat-server {addr}"))
        .spawn(move || serve(listener, config, &path, started_tx, shutdown_rx))
        .expect("the server thread can be started");
    match timeout(START_TIMEOUT, started_rx).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => panic!("the in-process server did not start: {e}"),
        Ok(Err(_)) => panic!("the in-process server thread ended before it started"),
        Err(_) => panic!("the in-process server did not start within {START_TIMEOUT:?}"),
    }
    InProcessServer {
        addr,
        db_path,
        _shutdown_tx: shutdown_tx,
        _dir: dir,
    }
}

/// The server thread: a runtime like the binary's, the SQLite backend,
/// then `server::run` until the fixture is dropped.
fn serve(
    listener: std::net::TcpListener,
    config: Config,
    db_path: &Path,
    started_tx: oneshot::Sender<Result<(), String>>,
    shutdown_rx: oneshot::Receiver<()>,
) {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = started_tx.send(Err(format!("cannot start the runtime: {e}")));
            return;
        }
    };
    runtime.block_on(async move {
        let backend = match Backend::sqlite(db_path, SyncMode::default()) {
            Ok(backend) => backend,
            Err(e) => {
                let _ = started_tx.send(Err(format!("cannot open {}: {e}", db_path.display())));
                return;
            }
        };
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(e) => {
                let _ = started_tx.send(Err(format!("cannot use the listener: {e}")));
                return;
            }
        };
        let _ = started_tx.send(Ok(()));
        // A dropped sender counts as the signal, as a closed terminal would.
        server::run(listener, config, backend, shutdown_rx).await;
    });
}

/// The runtime settings the binary derives from `options`' flags; the
/// cluster and free-form flags need the binary ([`crate::ServerProcess`]).
fn config_for(options: &ServerOptions) -> Config {
    assert!(
        options.database_url.is_none() && options.redis_url.is_none(),
        "a cluster node needs the binary: use ServerProcess"
    );
    assert!(
        options.extra_args.is_empty(),
        "free-form flags {:?} need the binary: use ServerProcess",
        options.extra_args
    );
    // The same parse the binary makes, so every flag means here what it
    // means there and a new flag needs no second mapping.
    let argv = std::iter::once("chat-server".to_owned()).chain(options.args());
    let cli = Cli::try_parse_from(argv).expect("the options make valid flags");
    Config::from(&cli)
}

impl InProcessServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    pub fn db_path(&self) -> &Path {
        &self.db_path
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_become_the_binarys_settings() {
        let config = config_for(&ServerOptions {
            require_accounts: true,
            max_connections: Some(3),
            outbox: Some(16),
            ping_interval: Some(2),
            ..ServerOptions::unthrottled()
        });
        assert!(config.require_accounts);
        assert_eq!((config.max_connections, config.outbox), (3, 16), "sizes");
        assert_eq!(
            (config.rate_limit, config.rate_burst),
            (1_000_000, 1_000_000)
        );
        assert_eq!(config.ping_interval, Duration::from_secs(2));
        assert_eq!(
            config.handshake_timeout,
            Config::default().handshake_timeout
        );
    }

    #[tokio::test]
    async fn a_guest_is_welcomed_and_a_message_is_stored_in_the_servers_file() {
        let server = start_server().await;
        let mut alice = server.guest("alice").await;
        alice.join("lobby").await;
        let said = alice.say("lobby", "in process").await;
        let stored = crate::db::stored_messages(server.db_path(), "lobby")
            .await
            .expect("the server's database can be read");
        assert_eq!(
            stored
                .last()
                .map(|m| (m.id, m.user.as_str(), m.text.as_str())),
            Some((i64::try_from(said.id).unwrap(), "alice", "in process"))
        );
    }
}
