//! The `chat-server` binary: flags, logging, signals; the library does the rest.

use std::future::Future;
use std::io::IsTerminal;
use std::pin::Pin;
use std::process::ExitCode;

use chat_server::config::{Cli, Command, Config};
use chat_server::server::{self, Backend};
use chat_server::store::postgres::{self, redact_url};
use chat_server::tls::ServerTls;
use clap::Parser;
use clap::error::ErrorKind;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

// Fan-out allocates on one thread and frees on others; mimalloc's
// per-thread heaps avoid the system allocator's lock contention there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code for a usage or setup error, the same as clap's for bad flags.
const SETUP_FAILED: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // clap's first line says what was wrong; its usage block is
            // one `--help` away.
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            return fail(format!(
                "{} (see --help)",
                first.trim_start_matches("error: ")
            ));
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(format!("cannot start the runtime: {e}")),
    };
    if let Some(Command::Migrate { database }) = &cli.command {
        return runtime.block_on(migrate(database));
    }
    if let Some(Command::User {
        action,
        db,
        database,
    }) = cli.command.clone()
    {
        return runtime.block_on(user(action, db.or_else(|| cli.db_path()), database));
    }
    runtime.block_on(serve(cli))
}

async fn migrate(database: &str) -> ExitCode {
    match postgres::migrate(database).await {
        Ok(migration) if migration.from == migration.to => {
            tracing::info!(
                "schema of {} is at version {}; nothing to do",
                redact_url(database),
                migration.to
            );
            ExitCode::SUCCESS
        }
        Ok(migration) => {
            tracing::info!(
                "migrated {} from schema version {} to {}",
                redact_url(database),
                migration.from,
                migration.to
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(format!("migrating {}: {e}", redact_url(database))),
    }
}

/// `chat-server user ...`: prints what was done, or fails.
async fn user(
    action: chat_server::config::UserAction,
    db: Option<std::path::PathBuf>,
    database: Option<String>,
) -> ExitCode {
    let Some(db) = db else {
        return fail("cannot find a data directory for the database; pass --db PATH".into());
    };
    match chat_server::operator::run(action, &db, database.as_deref()).await {
        Ok(done) => {
            if !done.is_empty() {
                println!("{done}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(e.to_string()),
    }
}

async fn serve(cli: Cli) -> ExitCode {
    survive_file_size_limit();
    if let Some(commits) = cli.abort_after_commits {
        chat_server::store::crash_hook::abort_after_commits(commits);
    }
    let mut config = Config::from(&cli);
    // Before the database: a bad certificate path is the cheaper mistake.
    config.tls = match cli.tls() {
        Ok(tls) => tls,
        Err(e) => return fail(e.to_string()),
    };
    let cluster = match cli.cluster() {
        Ok(cluster) => cluster,
        Err(e) => return fail(e),
    };
    let (backend, storage) = match cluster {
        Some(urls) => match Backend::cluster(&urls).await {
            Ok(backend) => (
                backend,
                format!(
                    "cluster database {}, redis {}",
                    redact_url(&urls.database),
                    redact_url(&urls.redis)
                ),
            ),
            Err(e) => return fail(e.to_string()),
        },
        None => {
            let Some(db_path) = cli.db_path() else {
                return fail(
                    "cannot find a data directory for the database; pass --db PATH".into(),
                );
            };
            match Backend::sqlite(&db_path, cli.sync) {
                Ok(backend) => (backend, format!("database {}", db_path.display())),
                Err(e) => return fail(e.to_string()),
            }
        }
    };
    let listener = match TcpListener::bind((cli.host.as_str(), cli.port)).await {
        Ok(listener) => listener,
        Err(e) => return fail(format!("cannot listen on {}:{}: {e}", cli.host, cli.port)),
    };
    let shutdown = shutdown_signal();
    let scheme = if config.tls.is_some() { "wss" } else { "ws" };
    match listener.local_addr() {
        Ok(addr) => tracing::info!("listening on {scheme}://{addr}/ws, {storage}"),
        Err(e) => return fail(format!("cannot read the listening address: {e}")),
    }
    if let Some(tls) = config.tls.clone() {
        tokio::spawn(reload_tls_on_hangup(tls));
    }
    server::run(listener, config, backend, shutdown).await;
    ExitCode::SUCCESS
}

/// Re-reads the certificate files on each SIGHUP (what a renewal hook
/// sends); a failed reload keeps the certificate in use.
async fn reload_tls_on_hangup(tls: ServerTls) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangup = match signal(SignalKind::hangup()) {
            Ok(hangup) => hangup,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; certificates reload only on restart");
                return;
            }
        };
        while hangup.recv().await.is_some() {
            let reloading = tls.clone();
            // File reads: off the runtime's worker threads.
            match tokio::task::spawn_blocking(move || reloading.reload()).await {
                Ok(Ok(())) => {
                    tracing::info!("reloaded the TLS certificate {}", tls.cert_path().display())
                }
                Ok(Err(e)) => tracing::error!("{e}; keeping the current certificate"),
                Err(e) => tracing::error!(
                    "reloading the TLS certificate failed: {e}; keeping the current one"
                ),
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tls;
    }
}

fn fail(message: String) -> ExitCode {
    eprintln!("chat-server: {message}");
    ExitCode::from(SETUP_FAILED)
}

/// A write past `RLIMIT_FSIZE` raises SIGXFSZ, whose default action kills
/// the process and so every session. With a handler installed the write
/// fails with `EFBIG` instead, which the store answers like a full disk.
/// Tokio's handler stays installed for the life of the process even once
/// the `Signal` is dropped (it never restores the default action), and
/// the signals it records need no reader.
fn survive_file_size_limit() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Err(e) = signal(SignalKind::from_raw(libc::SIGXFSZ)) {
            tracing::warn!(error = %e, "cannot handle SIGXFSZ; a file size limit will kill the server");
        }
    }
}

/// Registers for SIGINT and SIGTERM at once, before the server says where
/// it listens, so a signal sent right after that line is never met by the
/// default action (death without flushing storage); resolves on either.
fn shutdown_signal() -> Pin<Box<dyn Future<Output = ()> + Send>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut interrupt), Ok(mut terminate)) => Box::pin(async move {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            }),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "cannot listen for SIGINT or SIGTERM; stop the server with SIGKILL");
                Box::pin(std::future::pending())
            }
        }
    }
    #[cfg(not(unix))]
    {
        Box::pin(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
