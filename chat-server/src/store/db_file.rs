//! The SQLite database file as the operating system sees it: the lock
//! that keeps a second server off it ([`DbLock`]), and the file's identity
//! ([`DbFile`]), checked so that a file deleted or replaced under a running
//! server is noticed instead of written to unseen ([`watch`]).
//!
//! SQLite keeps writing to the file it opened even after its name is gone
//! (or names another file), and in WAL mode it notices nothing: whatever
//! it commits then is lost at the next start. Two servers on one file both
//! run, each with its own idea of the rooms' newest ids, and their appends
//! collide. Neither is SQLite's to prevent, so the store does it here.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::task::JoinHandle;

use super::StoreError;
use super::health::{StorageFault, StoreHealth};

/// How often the watch looks at the database file when no write does.
const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// An exclusive lock on `<database>.lock`, beside the database, held
/// while the store is open. An advisory `flock`: it keeps chat-servers
/// apart, not other programs, and it ends with the process however that
/// ends, so a crash leaves nothing to clean up.
#[derive(Debug)]
pub(crate) struct DbLock {
    /// Holding the open file holds the lock.
    _file: File,
}

impl DbLock {
    /// Takes the lock for the database at `db_path`, or says which
    /// process holds it.
    pub(crate) fn acquire(db_path: &Path) -> Result<Self, StoreError> {
        let lock_path = lock_path(db_path);
        let open_error = |e: std::io::Error| StoreError::Open {
            path: db_path.display().to_string(),
            reason: format!("cannot open its lock file {}: {e}", lock_path.display()),
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(open_error)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(StoreError::InUse {
                    path: db_path.display().to_string(),
                    lock: lock_path.display().to_string(),
                    holder: holder.trim().parse().ok(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(open_error(e)),
        }
        // Who holds it, for the refusal a second server prints.
        file.set_len(0)
            .and_then(|()| write!(file, "{}", std::process::id()))
            .map_err(open_error)?;
        Ok(Self { _file: file })
    }
}

/// `<dir>/<name>.lock` for the database at `<dir>/<name>`, with the folder
/// (and the file, when it exists) resolved, so two spellings of one path
/// share one lock.
fn lock_path(db_path: &Path) -> PathBuf {
    let resolved = std::fs::canonicalize(db_path).unwrap_or_else(|_| {
        let parent = db_path.parent().filter(|p| !p.as_os_str().is_empty());
        let dir = parent.map_or_else(|| PathBuf::from("."), Path::to_owned);
        let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
        dir.join(db_path.file_name().unwrap_or_default())
    });
    let mut name = resolved.file_name().unwrap_or_default().to_owned();
    name.push(".lock");
    resolved.with_file_name(name)
}

/// The database file the store opened: its path and what it was when
/// opened, to compare with what the path names now.
#[derive(Debug, Clone)]
pub(crate) struct DbFile {
    path: PathBuf,
    identity: Identity,
}

/// Device and inode: what stays the same for one file whatever its name.
#[cfg(unix)]
type Identity = (u64, u64);
/// Elsewhere only a deleted file is noticed.
#[cfg(not(unix))]
type Identity = ();

#[cfg(unix)]
fn identity(metadata: &std::fs::Metadata) -> Identity {
    use std::os::unix::fs::MetadataExt;
    (metadata.dev(), metadata.ino())
}

#[cfg(not(unix))]
fn identity(_: &std::fs::Metadata) -> Identity {}

impl DbFile {
    /// The file `path` names now; call it right after opening it.
    pub(crate) fn identify(path: &Path) -> std::io::Result<Self> {
        Ok(Self {
            path: path.to_owned(),
            identity: identity(&std::fs::metadata(path)?),
        })
    }

    /// Whether `path` still names the file that was opened. A look that
    /// fails for another reason (permissions, say) proves nothing, so it
    /// passes: the writes themselves will fail if the disk is at fault.
    pub(crate) fn check(&self) -> Result<(), StorageFault> {
        let path = || self.path.display().to_string();
        match std::fs::metadata(&self.path) {
            Ok(metadata) if identity(&metadata) == self.identity => Ok(()),
            Ok(_) => Err(StorageFault::FileReplaced { path: path() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StorageFault::FileDeleted { path: path() })
            }
            Err(e) => {
                tracing::debug!(error = %e, "cannot look at the database file");
                Ok(())
            }
        }
    }
}

/// A task that stops when its handle is dropped.
#[derive(Debug)]
pub(crate) struct Watch(JoinHandle<()>);

impl Drop for Watch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Looks at the database file every [`WATCH_INTERVAL`], so a deleted or
/// replaced file fails `/healthz` even while nobody writes. Runs on the
/// current tokio runtime (the look itself on a blocking thread) until the
/// returned [`Watch`] or the store's health is dropped.
pub(crate) fn watch(file: DbFile, health: &Arc<StoreHealth>) -> Watch {
    let health: Weak<StoreHealth> = Arc::downgrade(health);
    Watch(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(WATCH_INTERVAL);
        loop {
            ticks.tick().await;
            let Some(health) = health.upgrade() else {
                return;
            };
            if health.permanent_fault().is_some() {
                return;
            }
            let file = file.clone();
            if let Ok(Err(fault)) = tokio::task::spawn_blocking(move || file.check()).await {
                health.failed(fault, 0);
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_keeps_a_second_opener_off_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("chat.sqlite3");
        let first = DbLock::acquire(&db).unwrap();
        let err = DbLock::acquire(&db).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("in use by another chat-server"), "{text}");
        assert!(text.contains(&std::process::id().to_string()), "{text}");
        assert!(text.contains("chat.sqlite3.lock"), "{text}");
        let other_spelling = dir.path().join(".").join("chat.sqlite3");
        assert!(DbLock::acquire(&other_spelling).is_err());
        drop(first);
        DbLock::acquire(&db).unwrap();
    }

    #[test]
    fn a_deleted_or_replaced_file_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("chat.sqlite3");
        std::fs::write(&db, "a").unwrap();
        let file = DbFile::identify(&db).unwrap();
        assert_eq!(file.check(), Ok(()));
        std::fs::write(&db, "rewritten in place is the same file").unwrap();
        assert_eq!(file.check(), Ok(()));
        let other = dir.path().join("other");
        std::fs::write(&other, "b").unwrap();
        std::fs::rename(&other, &db).unwrap();
        assert!(matches!(
            file.check(),
            Err(StorageFault::FileReplaced { .. })
        ));
        std::fs::remove_file(&db).unwrap();
        assert!(matches!(
            file.check(),
            Err(StorageFault::FileDeleted { .. })
        ));
    }
}
