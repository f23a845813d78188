//! `chat-server user add|passwd|list|remove NAME`: the operator's account
//! commands, on a SQLite file or a cluster's PostgreSQL database. They are
//! the only way to make a server admin's account (a hello never may).
//! Passwords come from standard input, one line, or, on a terminal, from
//! a prompt that echoes `*` for each character.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher, SaltString};
use chat_proto::UserName;

use crate::config::UserAction;
use crate::metrics::Metrics;
use crate::store::{
    CommitListener, Committed, MessageStore, PostgresStore, SqliteStore, StoreError, SyncMode,
};

/// Why an account command failed.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("cannot read the password: {0}")]
    Input(#[from] std::io::Error),
    #[error("the password is empty")]
    EmptyPassword,
    #[error("cannot hash the password: {0}")]
    Hashing(String),
    #[error("{0} is registered already")]
    Exists(UserName),
    #[error("there is no account {0}")]
    Missing(UserName),
}

/// The account commands post no entries: nothing to fan out.
struct NoFanOut;

impl CommitListener for NoFanOut {
    fn committed(&self, _batch: &[Committed]) {}
}

/// Opens the store named, runs `action` and closes the store; returns
/// what to print.
pub async fn run(
    action: UserAction,
    db: &Path,
    database: Option<&str>,
) -> Result<String, OperatorError> {
    let metrics = Arc::new(Metrics::default());
    let store: Arc<dyn MessageStore> = match database {
        Some(url) => Arc::new(PostgresStore::open(url, Arc::new(NoFanOut), metrics).await?),
        None => Arc::new(SqliteStore::open(
            db,
            SyncMode::Full,
            Arc::new(NoFanOut),
            metrics,
        )?),
    };
    let done = act(action, store.as_ref()).await;
    store.close().await?;
    done
}

async fn act(action: UserAction, store: &dyn MessageStore) -> Result<String, OperatorError> {
    match action {
        UserAction::Add { name } => {
            let hash = hashed(read_password(&name).await?).await?;
            if !store.create_account(&name, hash).await? {
                return Err(OperatorError::Exists(name));
            }
            Ok(format!("created account {name}"))
        }
        UserAction::Passwd { name } => {
            if store.password_hash(&name).await?.is_none() {
                return Err(OperatorError::Missing(name));
            }
            let hash = hashed(read_password(&name).await?).await?;
            if !store.set_password(&name, hash).await? {
                return Err(OperatorError::Missing(name));
            }
            Ok(format!("changed the password of {name}"))
        }
        UserAction::List => Ok(store.account_names().await?.join("\n")),
        UserAction::Remove { name } => {
            if !store.remove_account(&name).await? {
                return Err(OperatorError::Missing(name));
            }
            Ok(format!("removed account {name}"))
        }
    }
}

/// Hashes off the runtime, as every password hash is.
async fn hashed(password: String) -> Result<String, OperatorError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| OperatorError::Hashing(e.to_string()))
    })
    .await
    .map_err(|e| OperatorError::Hashing(e.to_string()))?
}

/// Reads the password on a blocking thread: a masked prompt on a
/// terminal, else one line of standard input.
async fn read_password(name: &UserName) -> Result<String, OperatorError> {
    let name = name.to_string();
    let password = tokio::task::spawn_blocking(move || {
        if std::io::stdin().is_terminal() {
            prompt(&format!("password for {name}: "))
        } else {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            Ok(line.trim_end_matches(['\r', '\n']).to_owned())
        }
    })
    .await
    .map_err(|e| OperatorError::Input(std::io::Error::other(e.to_string())))??;
    if password.is_empty() {
        return Err(OperatorError::EmptyPassword);
    }
    Ok(password)
}

/// A prompt on the terminal that shows `*` for each character typed.
fn prompt(question: &str) -> std::io::Result<String> {
    use crossterm::event::{Event, KeyCode, KeyEventKind, KeyModifiers, read};
    let mut out = std::io::stderr();
    write!(out, "{question}")?;
    out.flush()?;
    crossterm::terminal::enable_raw_mode()?;
    let mut password = String::new();
    let typed = loop {
        let event = match read() {
            Ok(event) => event,
            Err(e) => break Err(e),
        };
        let Event::Key(key) = event else { continue };
        if key.kind != KeyEventKind::Press {
            continue;
        }
        match key.code {
            KeyCode::Enter => break Ok(()),
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                break Err(std::io::Error::other("interrupted"));
            }
            KeyCode::Backspace if password.pop().is_some() => write!(out, "\u{8} \u{8}")?,
            KeyCode::Char(c) => {
                password.push(c);
                write!(out, "*")?;
            }
            _ => {}
        }
        out.flush()?;
    };
    crossterm::terminal::disable_raw_mode()?;
    writeln!(out)?;
    typed.map(|()| password)
}
