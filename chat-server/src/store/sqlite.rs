//! The SQLite [`MessageStore`]: its SQL and the two threads that run it.
//!
//! One writer thread owns the read-write connection and serves the
//! `store/batch.rs` queue: commands that arrive together run in one transaction
//! (group commit), and each committed batch goes to the store's fan-out
//! task (`store/commits.rs`), which delivers and then acknowledges. One reader
//! thread owns a second, query-only connection for joins, history pages,
//! room lists and password lookups, so reads never wait behind appends
//! (only the first join of a room this process has not seen passes through
//! the writer, to create it): WAL mode lets it read while the writer
//! writes, and each read sees every transaction that committed before it
//! began, which is what a join needs (see [`crate::registry`]). The writer
//! also feeds the search index, after the commits it indexes, a chunk at a
//! time (`store/sqlite_search.rs`); a search has it index what is waiting
//! before it reads. The schema is versioned with `PRAGMA user_version`.
//!
//! Faults: the store holds `<database>.lock` while open, so a second
//! server on the same file refuses to start; the writer checks before and
//! after each transaction that the path still names the file it opened,
//! and a watch checks it every second, so a deleted or replaced file stops
//! acknowledgements (see `store/db_file.rs`); a transaction that fails for
//! the disk (full, or a write error) is answered with that error, nothing
//! of it is acknowledged, and the next batch tries again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chat_proto::{Entry, RoomName, UserName};
use rusqlite::config::DbConfig;
use rusqlite::{
    Connection, ErrorCode, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};
use tokio::sync::{Notify, mpsc, oneshot};

use super::JoinState;
use super::batch::{self, Batch, COMMAND_QUEUE, Command, Pending, Reply, Settle, answer};
use super::commits::{Commit, FanOut};
use super::crash_hook;
use super::db_file::{self, DbFile, DbLock, Watch};
use super::fingerprint::ResendKey;
use super::health::{StorageFault, StoreHealth};
use super::listing::log_retired;
use super::page::{Direction, KnownRooms, pending_migrations};
use super::rows::{EntryRow, attach_reactions};
use super::rules::{Facts, decide};
use super::search::{SearchPage, SearchQuery};
use super::sqlite_fixable::page_reactions;
use super::sqlite_mine::{self, MineWrite};
use super::sqlite_rooms::{
    PlainRules, STREAM_SCHEMA, apply, folded, join_state, load_facts, revive,
};
use super::sqlite_search::{self, SearchBacklog, Unindexed};
use super::{
    Actor, Change, CommitListener, HistoryPage, JoinOutcome, MessageStore, MyRoom, NewEntry,
    Outcome, Page, Receipt, Refusal, RoomPage, RoomQuery, RoomSnapshot, StoreError, StoreFuture,
    StoredAccount, StoredRoom,
};
use crate::clock::now_ms;
use crate::metrics::Metrics;
use crate::sync::lock;

/// Reads waiting for the reader thread.
const READ_QUEUE: usize = 1024;
/// How long a connection waits for another's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the writer waits for readers to let go of the WAL when it
/// truncates it after an erasure; short, since appends wait meanwhile.
const ERASE_CHECKPOINT_WAIT: Duration = Duration::from_millis(100);

/// How hard a commit works to survive a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SyncMode {
    /// `synchronous=NORMAL` in WAL mode: a committed message survives the
    /// process being killed; a power cut may lose the last commits.
    #[default]
    Normal,
    /// `synchronous=FULL`: every commit is on disk before it is acknowledged.
    Full,
}

/// The schema, one entry per version; `PRAGMA user_version` records how many
/// have run, so an older file is upgraded in place at start.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: rooms, messages with per-room ids, accounts.
    "CREATE TABLE rooms (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        last_id INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE messages (
        room_id INTEGER NOT NULL REFERENCES rooms(id),
        id INTEGER NOT NULL,
        user TEXT NOT NULL,
        text TEXT NOT NULL,
        ts INTEGER NOT NULL,
        PRIMARY KEY (room_id, id)
    ) WITHOUT ROWID;
    CREATE TABLE accounts (
        name TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );",
    // 2: user names unique regardless of case; case variants retired.
    include_str!("schema/sqlite_02_names.sql"),
    // 3: the room stream and rooms people own.
    STREAM_SCHEMA,
    // 4: fixable messages: page state on the message's row, reactions.
    include_str!("schema/sqlite_04_fixable.sql"),
    // 5: exactly once: an entry keeps its request's ref and fingerprint.
    include_str!("schema/sqlite_05_exactly_once.sql"),
    // 6: your rooms and read markers.
    include_str!("schema/sqlite_06_your_rooms.sql"),
    // 7: search: an FTS5 index of message text.
    include_str!("schema/sqlite_07_search.sql"),
    // 8: search indexed in batches, off the commit path.
    include_str!("schema/sqlite_08_search_backlog.sql"),
    // 9: the search index without column sizes (no ranking reads them).
    include_str!("schema/sqlite_09_search_columnsize.sql"),
];

/// Writes besides appends, run in a batch's transaction and answered
/// after it commits.
enum Write {
    /// Makes the room, or makes a deleted one again, owned by the
    /// registered joiner named.
    CreateRoom(RoomName, Option<String>, Reply<()>),
    CreateAccount(UserName, String, Reply<bool>),
    SetPassword(UserName, String, Reply<bool>),
    RemoveAccount(UserName, Reply<bool>),
    /// Deletes a room that never held a message; true when it did.
    SweepRoom(RoomName, Reply<bool>),
    /// Remembered rooms and read markers.
    Mine(MineWrite),
    /// Index the messages not in the search index yet, after the batch;
    /// answered once they are (a search waits for it; the backlog's timer
    /// does not).
    IndexSearch(Reply<()>),
}

impl Write {
    /// Whether it makes or removes a room row, so that a room id may now
    /// name a room whose rules read differently.
    fn remakes_rooms(&self) -> bool {
        matches!(self, Self::CreateRoom(..) | Self::SweepRoom(..))
    }

    /// Answers with `error` without running.
    fn refuse(self, error: &StoreError) {
        // A caller that gave up waiting has dropped its receiver.
        match self {
            Self::CreateRoom(_, _, reply) => drop(reply.send(Err(error.clone()))),
            Self::CreateAccount(_, _, reply) | Self::SetPassword(_, _, reply) => {
                drop(reply.send(Err(error.clone())));
            }
            Self::RemoveAccount(_, reply) | Self::SweepRoom(_, reply) => {
                drop(reply.send(Err(error.clone())));
            }
            Self::Mine(write) => write.refuse(error),
            Self::IndexSearch(reply) => drop(reply.send(Err(error.clone()))),
        }
    }
}

/// Work for the reader thread.
enum Read {
    /// A query that answers its caller itself.
    Query(Box<dyn FnOnce(&Connection) + Send>),
    /// Close the connection and stop; reads queued after it are refused.
    Stop,
}

/// Handle to the SQLite threads and the fan-out task. Cheap to share
/// behind an `Arc`.
pub struct SqliteStore {
    writer_tx: mpsc::Sender<Command<Write>>,
    reader_tx: mpsc::Sender<Read>,
    known_rooms: Arc<KnownRooms>,
    fan_out: FanOut,
    path: PathBuf,
    /// The reader's and the writer's threads, joined at close.
    threads: Mutex<Vec<JoinHandle<()>>>,
    health: Arc<StoreHealth>,
    /// Looks at the database file while the store is open.
    _watch: Watch,
    /// Released at close, once both connections are closed.
    lock: Mutex<Option<DbLock>>,
}

/// What opening the database gives: both connections, the rooms, and the
/// file they opened.
struct Opened {
    writer: Connection,
    reader: Connection,
    rooms: HashMap<String, RoomRow>,
    file: DbFile,
}

/// Opens, prepares and migrates the database at `path` (holding its lock).
fn open_connections(path: &Path, sync: SyncMode) -> Result<Opened, String> {
    let text = |e: rusqlite::Error| e.to_string();
    let writer = connect(path, OpenFlags::SQLITE_OPEN_CREATE).map_err(text)?;
    prepare(&writer, sync).map_err(text)?;
    sweep_unused_rooms(&writer).map_err(text)?;
    let rooms = load_rooms(&writer).map_err(text)?;
    let reader = connect(path, OpenFlags::empty())
        .and_then(|reader| {
            reader
                .pragma_update(None, "query_only", "ON")
                .map(|()| reader)
        })
        .map_err(text)?;
    let file = DbFile::identify(path).map_err(|e| e.to_string())?;
    Ok(Opened {
        writer,
        reader,
        rooms,
        file,
    })
}

impl SqliteStore {
    /// Opens (creating it and its folders if missing) and migrates the
    /// database, then starts the writer and reader threads and the fan-out
    /// task, which tells `listener` of every commit. Needs a tokio runtime.
    pub fn open(
        path: &Path,
        sync: SyncMode,
        listener: Arc<dyn CommitListener>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, StoreError> {
        let open_error = |reason: String| StoreError::Open {
            path: path.display().to_string(),
            reason,
        };
        if path.is_dir() {
            return Err(open_error("it is a directory".into()));
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| open_error(e.to_string()))?;
        }
        // Before the first byte is read or written.
        let lock = DbLock::acquire(path)?;
        let Opened {
            writer: conn,
            reader,
            rooms,
            file,
        } = open_connections(path, sync).map_err(open_error)?;
        let health = Arc::new(StoreHealth::new(metrics.clone()));
        let known_rooms = Arc::new(KnownRooms::new(
            rooms.keys().filter_map(|name| RoomName::parse(name).ok()),
        ));
        let (fan_out, commits_tx) =
            FanOut::start(listener).map_err(|e| open_error(e.to_string()))?;
        let (writer_tx, writer_rx) = mpsc::channel(COMMAND_QUEUE);
        let (reader_tx, reader_rx) = mpsc::channel(READ_QUEUE);
        let backlog = search_backlog(&rooms, &writer_tx);
        let writer = Writer {
            conn,
            rooms,
            rooms_stale: false,
            rules: PlainRules::default(),
            commits_tx,
            metrics,
            health: health.clone(),
            file: file.clone(),
            erased: false,
            backlog,
        };
        let threads = vec![
            spawn("sqlite-reader", move || read_loop(&reader, reader_rx))
                .map_err(|e| open_error(e.to_string()))?,
            spawn("sqlite-writer", move || writer.run(writer_rx))
                .map_err(|e| open_error(e.to_string()))?,
        ];
        Ok(Self {
            writer_tx,
            reader_tx,
            known_rooms,
            fan_out,
            path: path.to_owned(),
            threads: Mutex::new(threads),
            _watch: db_file::watch(file, &health),
            health,
            lock: Mutex::new(Some(lock)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `query` on the reader thread.
    fn read<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> StoreFuture<T> {
        read_on(&self.reader_tx, query)
    }

    fn write<T: Send + 'static>(&self, make: impl FnOnce(Reply<T>) -> Write) -> StoreFuture<T> {
        batch::request(&self.writer_tx, |reply| Command::Write(make(reply)))
    }
}

/// The writer's search backlog, holding the rooms whose newest messages
/// the index lacks, and the timer that has it indexed (on the runtime
/// `open` runs on).
fn search_backlog(
    rooms: &HashMap<String, RoomRow>,
    writer_tx: &mpsc::Sender<Command<Write>>,
) -> SearchBacklog {
    let wake = Arc::new(Notify::new());
    let ask = || Command::Write(Write::IndexSearch(oneshot::channel().0));
    tokio::spawn(sqlite_search::index_later(
        writer_tx.downgrade(),
        wake.clone(),
        ask,
    ));
    let behind = rooms
        .iter()
        .filter(|(_, row)| row.last_id > row.indexed_through)
        .map(|(name, _)| name.as_str());
    SearchBacklog::new(behind, wake)
}

fn read_on<T: Send + 'static>(
    reader_tx: &mpsc::Sender<Read>,
    query: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
) -> StoreFuture<T> {
    batch::request(reader_tx, |reply: Reply<T>| {
        Read::Query(Box::new(move |conn| {
            let _ = reply.send(query(conn).map_err(db_error));
        }))
    })
}

fn spawn(name: &str, run: impl FnOnce() + Send + 'static) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name(name.into()).spawn(run)
}

impl MessageStore for SqliteStore {
    fn queue_entry(&self, entry: NewEntry) -> StoreFuture<Receipt> {
        batch::queue_entry(&self.writer_tx, entry)
    }

    fn join(&self, room: &RoomName, viewer: &Actor, page: Page) -> StoreFuture<JoinOutcome> {
        let room = room.clone();
        let viewer = viewer.clone();
        // A conversation has no owner.
        let owner = (viewer.registered && !room.is_conversation()).then(|| viewer.name.to_string());
        let known = self.known_rooms.contains(&room);
        let known_rooms = self.known_rooms.clone();
        let reader_tx = self.reader_tx.clone();
        let writer_tx = self.writer_tx.clone();
        Box::pin(async move {
            let read = |room: RoomName, viewer: Actor| {
                read_on(&reader_tx, move |conn| {
                    read_join(conn, &room, &viewer, page)
                })
            };
            if known && let Some(outcome) = read(room.clone(), viewer.clone()).await? {
                return Ok(outcome);
            }
            // New, or deleted: made (again) through the writer, then read.
            batch::request(&writer_tx, |reply| {
                Command::Write(Write::CreateRoom(room.clone(), owner, reply))
            })
            .await?;
            known_rooms.insert(room.clone());
            read(room, viewer)
                .await?
                .ok_or_else(|| StoreError::Database("the room was deleted again".into()))
        })
    }

    fn history(&self, room: &RoomName, page: Page) -> StoreFuture<HistoryPage> {
        let room = room.clone();
        self.read(move |conn| read_history(conn, &room, page))
    }

    fn rooms(&self) -> StoreFuture<Vec<StoredRoom>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT name, last_id, topic, private FROM rooms WHERE deleted_at IS NULL
                 ORDER BY name",
            )?;
            let rows = stmt.query_map([], |row| {
                Ok(StoredRoom {
                    name: row.get(0)?,
                    last_id: row.get(1)?,
                    topic: row.get(2)?,
                    private: row.get(3)?,
                })
            })?;
            rows.collect()
        })
    }

    fn readable_private(&self, viewer: &Actor) -> StoreFuture<Vec<String>> {
        let me = folded(viewer.name.as_str());
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT name FROM rooms r WHERE private = 1 AND deleted_at IS NULL
                 AND (lower(owner) = ?1
                   OR EXISTS (SELECT 1 FROM ops WHERE room_id = r.id AND name_folded = ?1)
                   OR EXISTS (SELECT 1 FROM access WHERE room_id = r.id AND name_folded = ?1))
                 ORDER BY name",
            )?;
            let rows = stmt.query_map([me], |row| row.get(0))?;
            rows.collect()
        })
    }

    fn search(
        &self,
        viewer: &Actor,
        query: SearchQuery,
    ) -> StoreFuture<Result<SearchPage, Refusal>> {
        // Every message acknowledged before the search is indexed first. A
        // failure to index (a full disk) still searches what is indexed.
        let indexed = self.write(Write::IndexSearch);
        let reader_tx = self.reader_tx.clone();
        let viewer = viewer.clone();
        Box::pin(async move {
            if let Err(e) = indexed.await {
                tracing::debug!(error = %e, "searching without the newest messages");
            }
            read_on(&reader_tx, move |conn| {
                sqlite_search::search(conn, &viewer, &query)
            })
            .await
        })
    }

    fn list_rooms(&self, query: RoomQuery) -> StoreFuture<RoomPage> {
        let bounds = query.bounds();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT name, last_id, topic, private FROM rooms
                 WHERE name > ?1 AND instr(name, ?2) > 0 AND deleted_at IS NULL
                   AND name NOT LIKE '@%'
                 ORDER BY name LIMIT ?3",
            )?;
            let rows = stmt.query_map(
                params![bounds.after, bounds.contains, bounds.fetch],
                |row| {
                    Ok(StoredRoom {
                        name: row.get(0)?,
                        last_id: row.get(1)?,
                        topic: row.get(2)?,
                        private: row.get(3)?,
                    })
                },
            )?;
            Ok(bounds.finish(rows.collect::<rusqlite::Result<_>>()?))
        })
    }

    fn sweep_room(&self, room: &RoomName) -> StoreFuture<bool> {
        let room = room.clone();
        let known_rooms = self.known_rooms.clone();
        let swept = self.write(|reply| Write::SweepRoom(room.clone(), reply));
        Box::pin(async move {
            let swept = swept.await?;
            if swept {
                // The next join creates it again through the writer.
                known_rooms.remove(&room);
            }
            Ok(swept)
        })
    }

    fn unused_rooms(&self) -> StoreFuture<Vec<RoomName>> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT name FROM rooms WHERE last_id = 0 ORDER BY name")?;
            let names = stmt.query_map([], |row| row.get::<_, String>(0))?;
            Ok(names
                .filter_map(|name| name.ok().and_then(|name| RoomName::parse(&name).ok()))
                .collect())
        })
    }

    fn account(&self, user: &UserName) -> StoreFuture<Option<StoredAccount>> {
        let folded = user.folded();
        self.read(move |conn| {
            let row = conn
                .prepare_cached("SELECT name, password_hash FROM accounts WHERE name_folded = ?1")?
                .query_row([folded.as_str()], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                })
                .optional()?;
            Ok(row.and_then(|(name, password_hash)| {
                let name = UserName::parse(&name).ok()?;
                Some(StoredAccount {
                    name,
                    password_hash,
                })
            }))
        })
    }

    fn create_account(&self, user: &UserName, password_hash: String) -> StoreFuture<bool> {
        let user = user.clone();
        self.write(|reply| Write::CreateAccount(user, password_hash, reply))
    }

    fn account_names(&self) -> StoreFuture<Vec<String>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached("SELECT name FROM accounts ORDER BY name")?;
            let rows = stmt.query_map([], |row| row.get(0))?;
            rows.collect()
        })
    }

    fn set_password(&self, user: &UserName, password_hash: String) -> StoreFuture<bool> {
        let user = user.clone();
        self.write(|reply| Write::SetPassword(user, password_hash, reply))
    }

    fn remove_account(&self, user: &UserName) -> StoreFuture<bool> {
        let user = user.clone();
        self.write(|reply| Write::RemoveAccount(user, reply))
    }

    fn remember_room(&self, user: &UserName, room: &RoomName) -> StoreFuture<()> {
        let (user, room) = (user.clone(), room.clone());
        self.write(|reply| Write::Mine(MineWrite::Remember(user, room, reply)))
    }

    fn forget_room(&self, user: &UserName, room: &RoomName) -> StoreFuture<()> {
        let (user, room) = (user.clone(), room.clone());
        self.write(|reply| Write::Mine(MineWrite::Forget(user, room, reply)))
    }

    fn my_rooms(&self, user: &UserName) -> StoreFuture<Vec<MyRoom>> {
        let user = user.clone();
        self.read(move |conn| sqlite_mine::my_rooms(conn, &user))
    }

    fn mark_read(&self, user: &UserName, room: &RoomName, id: u64) -> StoreFuture<Option<u64>> {
        let (user, room) = (user.clone(), room.clone());
        self.write(|reply| Write::Mine(MineWrite::MarkRead(user, room, id, reply)))
    }

    fn fault(&self) -> Option<StorageFault> {
        self.health.fault()
    }

    fn close(&self) -> StoreFuture<()> {
        let reader_tx = self.reader_tx.clone();
        let closed = batch::request(&self.writer_tx, Command::Close);
        let threads = std::mem::take(&mut *lock(&self.threads));
        let db_lock = lock(&self.lock).take();
        let finished = self.fan_out.finished();
        Box::pin(async move {
            // The reader first, so no read holds the WAL while the writer
            // checkpoints it.
            let _ = reader_tx.send(Read::Stop).await;
            let result = closed.await;
            // The threads have answered and are returning; joining them is
            // quick but still blocking, so keep it off the runtime.
            let _ = tokio::task::spawn_blocking(move || {
                threads.into_iter().for_each(|t| drop(t.join()));
                // Both connections are closed: another server may open it.
                drop(db_lock);
            })
            .await;
            // Every receipt is answered before close returns.
            finished.await;
            result
        })
    }
}

fn connect(path: &Path, extra: OpenFlags) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | extra,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Plans never depend on bound values: without this, a statement whose
    // plan could (`LIMIT ?`, as every page read has) is compiled again on
    // every use, since the statement cache clears its bindings.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(conn)
}

fn prepare(conn: &Connection, sync: SyncMode) -> rusqlite::Result<()> {
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "the database refused WAL mode (it is in {mode} mode)"
        )));
    }
    conn.pragma_update(
        None,
        "synchronous",
        match sync {
            SyncMode::Normal => "NORMAL",
            SyncMode::Full => "FULL",
        },
    )?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Per connection, so set at every open: a deleted message's text is
    // zeroed in the pages it leaves, not just unlinked (the WAL is
    // truncated after such a commit, see `Writer::erased`).
    conn.pragma_update(None, "secure_delete", "ON")?;
    let version: usize = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let pending = pending_migrations(version, MIGRATIONS)
        .map_err(|e| rusqlite::Error::InvalidParameterName(e.to_string()))?;
    for (index, migration) in (version..).zip(pending) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(migration)?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
    }
    if version < 2 && !pending.is_empty() {
        log_retired(&retired_accounts(conn)?);
    }
    Ok(())
}

/// Each retired account with the spelling that kept its name.
fn retired_accounts(conn: &Connection) -> rusqlite::Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare(
        "SELECT r.name, a.name FROM retired_accounts r
         JOIN accounts a ON a.name_folded = r.name_folded ORDER BY r.name",
    )?;
    let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    rows.collect()
}

/// Deletes the rooms that never held a message. At start nobody is in
/// any room, so every such room is one nobody needs.
fn sweep_unused_rooms(conn: &Connection) -> rusqlite::Result<()> {
    let swept = conn.execute("DELETE FROM rooms WHERE last_id = 0", [])?;
    if swept > 0 {
        tracing::info!(rooms = swept, "forgot rooms that never held a message");
    }
    Ok(())
}

/// Rooms by name with their row id and newest message id.
#[derive(Debug, Clone, Copy)]
struct RoomRow {
    id: i64,
    last_id: u64,
    /// The newest id whose messages the search index holds.
    indexed_through: u64,
}

fn load_rooms(conn: &Connection) -> rusqlite::Result<HashMap<String, RoomRow>> {
    let mut stmt = conn.prepare("SELECT name, id, last_id, indexed_through FROM rooms")?;
    let rows = stmt.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            RoomRow {
                id: row.get(1)?,
                last_id: row.get(2)?,
                indexed_through: row.get(3)?,
            },
        ))
    })?;
    rows.collect()
}

fn db_error(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

fn read_loop(conn: &Connection, mut reader_rx: mpsc::Receiver<Read>) {
    while let Some(Read::Query(query)) = reader_rx.blocking_recv() {
        query(conn);
    }
}

struct Writer {
    conn: Connection,
    /// Mirrors the `rooms` table so appends need no lookup query. Changed
    /// only inside a transaction, and read back from the table before the
    /// next one when that transaction failed.
    rooms: HashMap<String, RoomRow>,
    /// Set when a transaction failed: `rooms` may be ahead of the table.
    rooms_stale: bool,
    /// What plain messages' rules read of their rooms.
    rules: PlainRules,
    commits_tx: mpsc::Sender<Commit>,
    metrics: Arc<Metrics>,
    health: Arc<StoreHealth>,
    /// The file opened, checked around each transaction.
    file: DbFile,
    /// A committed transaction erased a message's text, and the WAL may
    /// still hold the old pages: truncated after the next commit (and at
    /// close) until a checkpoint gets through.
    erased: bool,
    /// Rooms with messages not in the search index yet.
    backlog: SearchBacklog,
}

impl Writer {
    fn run(mut self, mut commands_rx: mpsc::Receiver<Command<Write>>) {
        while let Some(Batch {
            appends,
            writes,
            close,
        }) = Batch::next_blocking(&mut commands_rx)
        {
            let (asked, writes) = index_requests(writes);
            self.commit(appends, writes);
            if asked.is_some() || self.backlog.is_due() || close.is_some() {
                let closing = close.is_some();
                self.index_backlog(asked.unwrap_or_default(), &commands_rx, closing);
            }
            if let Some(reply) = close {
                let _ = reply.send(self.flush());
                break;
            }
        }
        batch::refuse_queued(&mut commands_rx);
        self.backlog.wake();
    }

    /// Indexes the rooms' new messages, off the commit path, a chunk per
    /// transaction, and answers the searches waiting for it. Chunks go on
    /// while the queue is empty; once commands wait, the rest is left for
    /// later, unless a search waits for it or the writer closes. A
    /// failure leaves the backlog for the next try; what is indexed
    /// meanwhile stays searchable.
    fn index_backlog(
        &mut self,
        asked: Vec<Reply<()>>,
        queue: &mpsc::Receiver<Command<Write>>,
        closing: bool,
    ) {
        // The timer's request has no one waiting on it.
        let everything = closing || asked.iter().any(|reply| !reply.is_closed());
        let indexed = loop {
            match self.index_chunk() {
                Ok(true) if !self.backlog.is_empty() && (everything || queue.is_empty()) => {}
                Ok(_) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        match &indexed {
            // Once per run of failures: the timer retries every 250 ms.
            Err(e) if self.backlog.failed() => {
                tracing::warn!(error = %e, "indexing new messages for search failed; will retry");
            }
            Err(_) => {}
            Ok(()) => self.backlog.recovered(),
        }
        if !self.backlog.is_empty() {
            self.backlog.wake();
        }
        let answer = indexed.map_err(db_error);
        for reply in asked {
            let _ = reply.send(answer.clone());
        }
    }

    /// Indexes one chunk of the backlog in one transaction; false when
    /// there was nothing it could do.
    fn index_chunk(&mut self) -> rusqlite::Result<bool> {
        if self.backlog.is_empty() || self.health.permanent_fault().is_some() {
            return Ok(false);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        read_back_if_stale(&tx, &mut self.rooms, &mut self.rules, &mut self.rooms_stale)?;
        let chunk = self.backlog.chunk(|name| {
            let row = self.rooms.get(name)?;
            Some(Unindexed {
                room_id: row.id,
                after: row.indexed_through,
                through: row.last_id,
            })
        });
        sqlite_search::index_ranges(&tx, &chunk.ranges)?;
        tx.commit()?;
        for (name, range) in chunk.rooms.iter().zip(&chunk.ranges) {
            if let Some(row) = self.rooms.get_mut(name) {
                row.indexed_through = range.through;
            }
        }
        self.backlog.done(&chunk);
        Ok(true)
    }

    /// Checkpoints the WAL at shutdown; an error unless everything
    /// acknowledged is in the file the path names. A file that was
    /// deleted or replaced is not written to.
    fn flush(&self) -> Result<(), StoreError> {
        if let Some(fault) = self.health.permanent_fault() {
            return Err(StoreError::Unavailable(fault));
        }
        self.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(|e| {
                tracing::warn!(error = %e, "checkpoint at shutdown failed");
                db_error(e)
            })?;
        match self.health.fault() {
            Some(fault) => Err(StoreError::Unavailable(fault)),
            None => Ok(()),
        }
    }

    /// Runs one batch in one transaction, answers its writes, and hands
    /// its appends to fan-out; with a storage fault, answers them all
    /// with it instead.
    fn commit(&mut self, appends: Vec<Pending>, writes: Vec<Write>) {
        if appends.is_empty() && writes.is_empty() {
            return;
        }
        let started = Instant::now();
        let ts = now_ms();
        let before = match self.health.permanent_fault() {
            Some(fault) => Err(fault),
            None => self.file.check(),
        };
        let stored = match before {
            Ok(()) => self.store(&appends, writes, ts),
            Err(fault) => {
                self.health
                    .failed(fault.clone(), appends.len() + writes.len());
                let error = StoreError::Unavailable(fault);
                writes.into_iter().for_each(|w| w.refuse(&error));
                Err(error)
            }
        };
        let committed = stored.is_ok();
        let commit = Commit::new(appends, stored, ts);
        if committed {
            self.metrics.record_commit(started.elapsed(), commit.len());
        }
        if self.commits_tx.blocking_send(commit).is_err() {
            // Only when the runtime is gone: the receipts read as Closed.
            tracing::warn!("the fan-out task has stopped");
        }
    }

    /// Runs the transaction, then checks that it went into the file the
    /// path still names; answers the writes with the outcome.
    fn store(
        &mut self,
        appends: &[Pending],
        writes: Vec<Write>,
        ts: i64,
    ) -> Result<Vec<Result<Outcome, StoreError>>, StoreError> {
        let count = appends.len() + writes.len();
        let mut answers = Vec::with_capacity(writes.len());
        let outcome = self.transaction(appends, writes, ts, &mut answers);
        if outcome.is_ok() && self.erased {
            self.truncate_wal();
        }
        let stored = match outcome {
            Err(e) => Err(self.failed(e, count)),
            Ok(ids) => match self.file.check() {
                Ok(()) => {
                    self.health.stored();
                    Ok(ids)
                }
                // Committed, but into a file nobody will open again.
                Err(fault) => {
                    self.health.failed(fault.clone(), count);
                    Err(StoreError::Unavailable(fault))
                }
            },
        };
        let failure = stored.as_ref().err();
        answers.into_iter().for_each(|a| a.settle(failure));
        stored
    }

    /// Copies the WAL into the database and truncates it to nothing, so
    /// the page images holding an erased text are gone from both files
    /// before the delete is acknowledged. Deletes are rare, and the batch
    /// they commit in shares one checkpoint. A reader in the middle of a
    /// read keeps the WAL from being reset: the writer waits for it only
    /// briefly ([`ERASE_CHECKPOINT_WAIT`], not the usual busy timeout, so
    /// appends never stall behind a busy reader), and otherwise the next
    /// commit (or close) tries again.
    fn truncate_wal(&mut self) {
        let checkpoint = |conn: &Connection| {
            conn.busy_timeout(ERASE_CHECKPOINT_WAIT)?;
            let done = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                row.get::<_, i64>(0)
            });
            conn.busy_timeout(BUSY_TIMEOUT)?;
            done
        };
        let done = checkpoint(&self.conn);
        match done {
            Ok(0) => self.erased = false,
            Ok(_) => tracing::debug!("a reader kept the WAL from being truncated; retrying later"),
            Err(e) => tracing::warn!(error = %e, "truncating the WAL after an erasure failed"),
        }
    }

    /// A transaction that failed: a storage fault goes to the health
    /// (logged there, once), anything else is logged here.
    fn failed(&mut self, e: rusqlite::Error, count: usize) -> StoreError {
        // The in-memory room ids may be ahead of the rolled-back table.
        self.rooms_stale = true;
        match storage_fault(&e) {
            Some(fault) => {
                self.health.failed(fault.clone(), count);
                StoreError::Unavailable(fault)
            }
            None => {
                tracing::error!(error = %e, "store transaction failed");
                db_error(e)
            }
        }
    }

    /// Stores the appends and runs the writes; one id (or error) per
    /// append. A write's answer is pushed to `answers` as it runs.
    fn transaction(
        &mut self,
        appends: &[Pending],
        writes: Vec<Write>,
        ts: i64,
        answers: &mut Vec<Box<dyn Settle>>,
    ) -> rusqlite::Result<Vec<Result<Outcome, StoreError>>> {
        // Immediate: the rules read before the writes, and a read lock
        // could not wait to become a write lock.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        read_back_if_stale(&tx, &mut self.rooms, &mut self.rules, &mut self.rooms_stale)?;
        let mut ids = Vec::with_capacity(appends.len());
        // Room row id -> newest id appended in this batch.
        let mut touched: HashMap<i64, u64> = HashMap::new();
        for pending in appends {
            match append(&tx, &mut self.rooms, &mut self.rules, &pending.entry, ts) {
                Ok((room_id, Outcome::Stored(id))) => {
                    touched.insert(room_id, id);
                    self.backlog.note(pending.entry.room.as_str());
                    let erases = matches!(
                        pending.entry.change,
                        Change::Delete { .. } | Change::DeleteRoom
                    );
                    self.erased |= erases;
                    ids.push(Ok(Outcome::Stored(id)));
                }
                Ok((_, refused)) => ids.push(Ok(refused)),
                // The disk failing sinks the batch (SQLite may already
                // have rolled it back)...
                Err(e) if storage_fault(&e).is_some() => return Err(e),
                // ...but one bad row must not sink the others.
                Err(e) => ids.push(Err(db_error(e))),
            }
        }
        for write in writes {
            if write.remakes_rooms() {
                self.rules.forget_all();
            }
            answers.push(run_write(&tx, &mut self.rooms, write)?);
        }
        for (room_id, last_id) in &touched {
            tx.prepare_cached("UPDATE rooms SET last_id = ?1 WHERE id = ?2")?
                .execute(params![last_id, room_id])?;
        }
        tx.commit()?;
        crash_hook::committed(!touched.is_empty());
        Ok(ids)
    }
}

/// After a failed transaction, reads the rooms back (so ids stay gapless
/// and unique) and forgets what plain messages' rules remembered (it may
/// have been read from what was rolled back). Fields, not the writer: the
/// caller's transaction borrows its connection.
fn read_back_if_stale(
    tx: &Transaction<'_>,
    rooms: &mut HashMap<String, RoomRow>,
    rules: &mut PlainRules,
    stale: &mut bool,
) -> rusqlite::Result<()> {
    if *stale {
        *rooms = load_rooms(tx)?;
        rules.forget_all();
        *stale = false;
    }
    Ok(())
}

/// Takes the requests to index the search backlog out of a batch's
/// writes: `None` when there were none, else the replies they wait on.
fn index_requests(writes: Vec<Write>) -> (Option<Vec<Reply<()>>>, Vec<Write>) {
    if !writes.iter().any(|w| matches!(w, Write::IndexSearch(_))) {
        // The usual batch: nothing to take, nothing to copy.
        return (None, writes);
    }
    let mut asked = None;
    let mut rest = Vec::with_capacity(writes.len());
    for write in writes {
        match write {
            Write::IndexSearch(reply) => asked.get_or_insert_with(Vec::new).push(reply),
            other => rest.push(other),
        }
    }
    (asked, rest)
}

/// The storage fault behind a SQLite error: the disk, not the data.
fn storage_fault(e: &rusqlite::Error) -> Option<StorageFault> {
    match e.sqlite_error_code()? {
        ErrorCode::DiskFull => Some(StorageFault::NoSpace(e.to_string())),
        ErrorCode::SystemIoFailure => Some(StorageFault::Io(e.to_string())),
        _ => None,
    }
}

/// Runs one write; its answer waits for the commit. When the write itself
/// fails, its caller hears why at once and the transaction is abandoned.
fn run_write(
    tx: &Transaction<'_>,
    rooms: &mut HashMap<String, RoomRow>,
    write: Write,
) -> rusqlite::Result<Box<dyn Settle>> {
    fn held<T: Send + 'static>(
        reply: Reply<T>,
        result: rusqlite::Result<T>,
    ) -> rusqlite::Result<Box<dyn Settle>> {
        match result {
            Ok(value) => Ok(answer(reply, value)),
            Err(e) => {
                let _ = reply.send(Err(StoreError::Database(e.to_string())));
                Err(e)
            }
        }
    }
    match write {
        Write::CreateRoom(room, owner, reply) => {
            held(reply, make_room(tx, rooms, &room, owner.as_deref()))
        }
        Write::CreateAccount(user, hash, reply) => {
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO accounts (name, name_folded, password_hash, created_at)
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                )
                .and_then(|mut stmt| {
                    let folded = user.folded();
                    stmt.execute(params![user.as_str(), folded.as_str(), hash, now_ms()])
                });
            held(reply, inserted.map(|rows| rows == 1))
        }
        Write::SetPassword(user, hash, reply) => {
            let updated = tx
                .prepare_cached("UPDATE accounts SET password_hash = ?1 WHERE name_folded = ?2")
                .and_then(|mut stmt| stmt.execute(params![hash, user.folded().as_str()]));
            held(reply, updated.map(|rows| rows == 1))
        }
        Write::RemoveAccount(user, reply) => {
            let removed = tx
                .prepare_cached("DELETE FROM accounts WHERE name_folded = ?1")
                .and_then(|mut stmt| stmt.execute([user.folded().as_str()]));
            held(reply, removed.map(|rows| rows == 1))
        }
        Write::SweepRoom(room, reply) => held(reply, sweep_room(tx, rooms, &room)),
        Write::Mine(write) => write.run(tx),
        // Taken out of the batch before its transaction (`index_requests`).
        Write::IndexSearch(reply) => Ok(answer(reply, ())),
    }
}

/// A join's creation of a room: a new one owned by `owner`, or a deleted
/// one made again (a new room whose ids continue above the old ones).
fn make_room(
    tx: &Transaction<'_>,
    rooms: &mut HashMap<String, RoomRow>,
    room: &RoomName,
    owner: Option<&str>,
) -> rusqlite::Result<()> {
    let row = ensure_room(tx, rooms, room, owner)?;
    revive(tx, row.id, owner).map(drop)
}

fn ensure_room(
    tx: &Transaction<'_>,
    rooms: &mut HashMap<String, RoomRow>,
    room: &RoomName,
    owner: Option<&str>,
) -> rusqlite::Result<RoomRow> {
    if let Some(row) = rooms.get(room.as_str()) {
        return Ok(*row);
    }
    tx.prepare_cached(
        "INSERT INTO rooms (name, last_id, created_at, owner) VALUES (?1, 0, ?2, ?3)",
    )?
    .execute(params![room.as_str(), now_ms(), owner])?;
    let row = RoomRow {
        id: tx.last_insert_rowid(),
        last_id: 0,
        indexed_through: 0,
    };
    rooms.insert(room.as_str().to_owned(), row);
    Ok(row)
}

/// Deletes `room` if it never held an entry (no id was ever used), judged by the writer's map,
/// which already counts this transaction's appends.
fn sweep_room(
    tx: &Transaction<'_>,
    rooms: &mut HashMap<String, RoomRow>,
    room: &RoomName,
) -> rusqlite::Result<bool> {
    if rooms.get(room.as_str()).is_none_or(|row| row.last_id > 0) {
        return Ok(false);
    }
    tx.prepare_cached("DELETE FROM rooms WHERE name = ?1 AND last_id = 0")?
        .execute([room.as_str()])?;
    rooms.remove(room.as_str());
    Ok(true)
}

/// Checks one entry against the room's rules and, when allowed, stores
/// it with its effects; returns its room's row id and its outcome.
fn append(
    tx: &Transaction<'_>,
    rooms: &mut HashMap<String, RoomRow>,
    rules: &mut PlainRules,
    entry: &NewEntry,
    ts: i64,
) -> rusqlite::Result<(i64, Outcome)> {
    let row = ensure_room(tx, rooms, &entry.room, None)?;
    // Hashed once: the probe (or the insert) and the stored row share it.
    let key = ResendKey::of(entry);
    let facts = match resent_or_facts(tx, rules, row.id, entry, key.as_ref())? {
        Ok(facts) => facts,
        Err(stored) => return Ok((row.id, Outcome::Duplicate(stored))),
    };
    let effects = match decide(entry, &facts) {
        Ok(effects) => effects,
        Err(refusal) => {
            // A plain message is not probed first: one refused now may
            // have been stored before (its author banned since).
            let resent = resent(tx, row.id, entry, key.as_ref())?;
            return Ok((
                row.id,
                resent.map_or(Outcome::Refused(refusal), Outcome::Duplicate),
            ));
        }
    };
    rules.applying(row.id, &effects);
    let id = row.last_id + 1;
    for effect in effects {
        if !apply(tx, row.id, id, entry, key.as_ref(), ts, effect)? {
            // The insert met the same request, stored before. Only a
            // plain message gets here (any other entry was probed first),
            // and its append is its first effect: nothing else was applied.
            let stored = resent(tx, row.id, entry, key.as_ref())?;
            let stored = stored.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
            return Ok((row.id, Outcome::Duplicate(stored)));
        }
    }
    if let Some(row) = rooms.get_mut(entry.room.as_str()) {
        row.last_id = id;
    }
    Ok((row.id, Outcome::Stored(id)))
}

/// The entry the same request stored before (same user, room, `ref` and
/// content), or else the facts the entry's rules need. Inside the
/// writer's transaction, so it also sees this batch's earlier entries. A
/// plain message, which every message but a reply is, reads neither: its
/// facts are remembered, and its insert finds the request stored before.
fn resent_or_facts(
    tx: &Transaction<'_>,
    rules: &mut PlainRules,
    room_id: i64,
    entry: &NewEntry,
    key: Option<&ResendKey>,
) -> rusqlite::Result<Result<Facts, Entry>> {
    if let Some(facts) = rules.facts(tx, room_id, entry)? {
        return Ok(Ok(facts));
    }
    match resent(tx, room_id, entry, key)? {
        Some(stored) => Ok(Err(stored)),
        None => load_facts(tx, room_id, entry).map(Ok),
    }
}

/// The entry the same request stored before, when it carried a `ref`.
fn resent(
    tx: &Transaction<'_>,
    room_id: i64,
    entry: &NewEntry,
    key: Option<&ResendKey>,
) -> rusqlite::Result<Option<Entry>> {
    match key {
        Some(key) => find_resent(tx, room_id, entry, key),
        None => Ok(None),
    }
}

/// A request stored before, by the key of the `entries_ref` index.
const FIND_RESENT: &str = "SELECT id, user, text, ts, kind, subject, arg, flags,
            target, edited_ts, deleted FROM entries
     WHERE room_id = ?1 AND ref_user = ?2 AND client_ref = ?3 AND fingerprint = ?4";

/// The entry the same request stored before: one probe of the
/// `entries_ref` index.
fn find_resent(
    tx: &Transaction<'_>,
    room_id: i64,
    entry: &NewEntry,
    key: &ResendKey,
) -> rusqlite::Result<Option<Entry>> {
    let found = tx
        .prepare_cached(FIND_RESENT)?
        .query_row(
            params![room_id, key.user, key.reference, &key.fingerprint[..]],
            |row| stored_entry(row, entry.room.as_str()),
        )
        .optional()?;
    Ok(found
        .flatten()
        .map(|e| e.with_reference(Some(key.reference.clone()))))
}

/// The entry in a row of `id, user, text, ts, kind, subject, arg, flags,
/// target, edited_ts, deleted`, as pages show it (reactions aside); `None`
/// for a kind this version does not know.
pub(super) fn stored_entry(row: &rusqlite::Row<'_>, room: &str) -> rusqlite::Result<Option<Entry>> {
    let entry = EntryRow {
        text: row.get(2)?,
        kind: row.get(4)?,
        subject: row.get(5)?,
        arg: row.get(6)?,
        flags: row.get(7)?,
        target: row.get(8)?,
        edited: row.get(9)?,
        deleted: row.get(10)?,
    };
    Ok(entry.entry(room, row.get(0)?, row.get(1)?, row.get(3)?))
}

/// What one read transaction gives a join: the snapshot or a refusal,
/// or `None` when the room does not exist or was deleted (it must be
/// made first).
fn read_join(
    conn: &Connection,
    room: &RoomName,
    viewer: &Actor,
    page: Page,
) -> rusqlite::Result<Option<JoinOutcome>> {
    // Deferred: the snapshot is taken at the first SELECT and holds for all.
    let tx = conn.unchecked_transaction()?;
    let Some(JoinState {
        room_id,
        last_id,
        state,
    }) = join_state(&tx, room, viewer)?
    else {
        return Ok(None);
    };
    let outcome = match state {
        Err(refusal) => JoinOutcome::Refused(refusal),
        Ok(state) => JoinOutcome::Joined(RoomSnapshot {
            page: read_page(&tx, room_id, room.as_str(), page)?,
            last_id,
            state,
        }),
    };
    tx.commit()?;
    Ok(Some(outcome))
}

fn room_row(conn: &Connection, room: &RoomName) -> rusqlite::Result<Option<(i64, u64)>> {
    conn.prepare_cached("SELECT id, last_id FROM rooms WHERE name = ?1")?
        .query_row([room.as_str()], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, u64>(1)?))
        })
        .optional()
}

/// A page of `room`; a room that does not exist reads as empty.
fn read_history(conn: &Connection, room: &RoomName, page: Page) -> rusqlite::Result<HistoryPage> {
    let tx = conn.unchecked_transaction()?;
    let Some((room_id, _)) = room_row(&tx, room)? else {
        return Ok(HistoryPage::default());
    };
    let page = read_page(&tx, room_id, room.as_str(), page)?;
    tx.commit()?;
    Ok(page)
}

fn read_page(
    tx: &Transaction<'_>,
    room_id: i64,
    room: &str,
    page: Page,
) -> rusqlite::Result<HistoryPage> {
    let bounds = page.bounds();
    let sql = match bounds.direction {
        Direction::Older => {
            "SELECT id, user, text, ts, kind, subject, arg, flags, target, edited_ts, deleted
             FROM entries WHERE room_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3"
        }
        Direction::Newer => {
            "SELECT id, user, text, ts, kind, subject, arg, flags, target, edited_ts, deleted
             FROM entries WHERE room_id = ?1 AND id > ?2 ORDER BY id ASC LIMIT ?3"
        }
    };
    let mut stmt = tx.prepare_cached(sql)?;
    let rows = stmt.query_map(params![room_id, bounds.bound, bounds.fetch], |row| {
        stored_entry(row, room)
    })?;
    let entries = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    let mut page = bounds.finish(entries.into_iter().flatten().collect());
    // One range read of the page's reactions, in the same snapshot.
    if let (Some(first), Some(last)) = (page.entries.first(), page.entries.last()) {
        let (low, high) = (first.id(), last.id());
        attach_reactions(&mut page.entries, page_reactions(tx, room_id, low, high)?);
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use chat_proto::Entry;

    use crate::store::{Actor, Committed, ConnId, NewMessage};

    impl SqliteStore {
        /// A guest's join, which these tests expect to succeed.
        async fn snapshot(&self, room: &RoomName, page: Page) -> Result<RoomSnapshot, StoreError> {
            let guest = Actor::member(UserName::parse("reader").unwrap());
            match self.join(room, &guest, page).await? {
                JoinOutcome::Joined(snapshot) => Ok(snapshot),
                JoinOutcome::Refused(refusal) => panic!("refused: {refusal:?}"),
            }
        }
    }

    #[derive(Default)]
    struct Recorder(Mutex<Vec<u64>>);

    impl CommitListener for Recorder {
        fn committed(&self, batch: &[Committed]) {
            self.0.lock().unwrap().extend(batch.iter().map(|c| c.id));
        }
    }

    fn new_message(room: &str, text: &str) -> NewMessage {
        NewMessage {
            room: RoomName::parse(room).unwrap(),
            user: UserName::parse("alice").unwrap(),
            text: text.into(),
            reference: Some("r".into()),
            origin: ConnId(1),
        }
    }

    async fn append(store: &SqliteStore, message: NewMessage) -> u64 {
        store.queue_append(message).await.unwrap().await.unwrap()
    }

    fn open(path: &Path, recorder: Arc<Recorder>) -> SqliteStore {
        SqliteStore::open(
            path,
            SyncMode::Normal,
            recorder,
            Arc::new(Metrics::default()),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn ids_increase_per_room_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/chat.sqlite3");
        let recorder = Arc::new(Recorder::default());
        let store = open(&path, recorder.clone());
        let lobby = RoomName::parse("lobby").unwrap();
        store
            .snapshot(&lobby, Page::Newest { limit: 50 })
            .await
            .unwrap();
        let mut receipts = Vec::new();
        for i in 0..10 {
            receipts.push(
                store
                    .queue_append(new_message("lobby", &format!("m{i}")))
                    .await
                    .unwrap(),
            );
        }
        let mut ids = Vec::new();
        for receipt in receipts {
            ids.push(receipt.await.unwrap());
        }
        assert_eq!(ids, (1..=10).collect::<Vec<_>>());
        assert_eq!(append(&store, new_message("other", "x")).await, 1);
        assert_eq!(
            *recorder.0.lock().unwrap(),
            [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1]
        );
        store.close().await.unwrap();

        let store = open(&path, Arc::new(Recorder::default()));
        assert_eq!(
            append(&store, new_message("lobby", "after restart")).await,
            11
        );
        let snapshot = store
            .snapshot(&lobby, Page::Newest { limit: 3 })
            .await
            .unwrap();
        assert_eq!(snapshot.last_id, 11);
        assert!(snapshot.page.more);
        let ids: Vec<u64> = snapshot.page.entries.iter().map(Entry::id).collect();
        assert_eq!(ids, [9, 10, 11]);
        assert!(
            snapshot
                .page
                .entries
                .iter()
                .all(|m| m.reference().is_none())
        );
        store.close().await.unwrap();
    }

    #[tokio::test]
    async fn pages_backwards_and_forwards() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir.path().join("c.sqlite3"), Arc::new(Recorder::default()));
        let room = RoomName::parse("r").unwrap();
        for i in 0..7 {
            append(&store, new_message("r", &i.to_string())).await;
        }
        let ids = |p: HistoryPage| (p.entries.iter().map(Entry::id).collect::<Vec<_>>(), p.more);
        assert_eq!(
            ids(store
                .history(&room, Page::Before { id: 6, limit: 2 })
                .await
                .unwrap()),
            (vec![4, 5], true)
        );
        assert_eq!(
            ids(store
                .history(&room, Page::Before { id: 3, limit: 5 })
                .await
                .unwrap()),
            (vec![1, 2], false)
        );
        assert_eq!(
            ids(store
                .history(&room, Page::After { id: 2, limit: 3 })
                .await
                .unwrap()),
            (vec![3, 4, 5], true)
        );
        assert_eq!(
            ids(store
                .history(&room, Page::After { id: 5, limit: 3 })
                .await
                .unwrap()),
            (vec![6, 7], false)
        );
        assert_eq!(
            ids(store
                .history(&room, Page::Newest { limit: 7 })
                .await
                .unwrap()),
            (vec![1, 2, 3, 4, 5, 6, 7], false)
        );
        let unknown = RoomName::parse("nowhere").unwrap();
        assert_eq!(
            ids(store
                .history(&unknown, Page::Newest { limit: 7 })
                .await
                .unwrap()),
            (vec![], false)
        );
    }

    #[tokio::test]
    async fn accounts_are_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir.path().join("c.sqlite3"), Arc::new(Recorder::default()));
        let bob = UserName::parse("bob").unwrap();
        assert_eq!(store.password_hash(&bob).await.unwrap(), None);
        assert!(store.create_account(&bob, "h1".into()).await.unwrap());
        assert!(!store.create_account(&bob, "h2".into()).await.unwrap());
        assert_eq!(
            store.password_hash(&bob).await.unwrap().as_deref(),
            Some("h1")
        );
    }

    #[tokio::test]
    async fn reads_answer_while_an_append_waits_for_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sqlite3");
        let store = open(&path, Arc::new(Recorder::default()));
        let lobby = RoomName::parse("lobby").unwrap();
        store
            .snapshot(&lobby, Page::Newest { limit: 5 })
            .await
            .unwrap();
        assert_eq!(append(&store, new_message("lobby", "first")).await, 1);
        // Another process holds the write lock: the writer's next
        // transaction waits for it.
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let receipt = store
            .queue_append(new_message("lobby", "second"))
            .await
            .unwrap();
        let answer = Duration::from_secs(3);
        let page = tokio::time::timeout(answer, store.history(&lobby, Page::Newest { limit: 5 }))
            .await
            .expect("history does not wait behind the append")
            .unwrap();
        assert_eq!(page.entries.len(), 1);
        let snapshot =
            tokio::time::timeout(answer, store.snapshot(&lobby, Page::Newest { limit: 5 }))
                .await
                .expect("a join of a known room does not wait behind the append")
                .unwrap();
        assert_eq!(snapshot.last_id, 1);
        let rooms = tokio::time::timeout(answer, store.rooms())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rooms[0].last_id, 1);
        other.execute_batch("ROLLBACK").unwrap();
        assert_eq!(
            tokio::time::timeout(answer, receipt)
                .await
                .unwrap()
                .unwrap(),
            2
        );
        let snapshot = store
            .snapshot(&lobby, Page::Newest { limit: 5 })
            .await
            .unwrap();
        assert_eq!((snapshot.last_id, snapshot.page.entries.len()), (2, 2));
        store.close().await.unwrap();
    }

    #[tokio::test]
    async fn after_close_everything_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir.path().join("c.sqlite3"), Arc::new(Recorder::default()));
        store.close().await.unwrap();
        let lobby = RoomName::parse("lobby").unwrap();
        assert!(matches!(
            store.queue_append(new_message("lobby", "late")).await,
            Err(StoreError::Closed)
        ));
        assert!(matches!(
            store.history(&lobby, Page::Newest { limit: 1 }).await,
            Err(StoreError::Closed)
        ));
        assert!(matches!(store.rooms().await, Err(StoreError::Closed)));
    }

    #[tokio::test]
    async fn a_deleted_file_stops_appends_and_close_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sqlite3");
        let store = open(&path, Arc::new(Recorder::default()));
        assert!(matches!(
            SqliteStore::open(
                &path,
                SyncMode::Normal,
                Arc::new(Recorder::default()),
                Arc::new(Metrics::default()),
            ),
            Err(StoreError::InUse { .. })
        ));
        assert_eq!(append(&store, new_message("lobby", "kept")).await, 1);
        std::fs::remove_file(&path).unwrap();
        let refused = store
            .queue_append(new_message("lobby", "lost"))
            .await
            .unwrap()
            .await;
        assert!(
            matches!(
                refused,
                Err(StoreError::Unavailable(StorageFault::FileDeleted { .. }))
            ),
            "{refused:?}"
        );
        assert!(store.fault().is_some_and(|f| f.is_permanent()));
        assert!(matches!(
            store.close().await,
            Err(StoreError::Unavailable(_))
        ));
        // Closed: the lock is free for the next server.
        let next = open(&path, Arc::new(Recorder::default()));
        assert_eq!(next.fault(), None);
        next.close().await.unwrap();
    }

    fn actor(name: &str, admin: bool) -> Actor {
        Actor {
            name: UserName::parse(name).unwrap(),
            registered: true,
            admin,
        }
    }

    /// `actor`'s `change` in room `r`, with `reference`.
    async fn outcome(
        store: &SqliteStore,
        actor: &Actor,
        change: Change,
        reference: &str,
    ) -> Outcome {
        let entry = NewEntry {
            room: RoomName::parse("r").unwrap(),
            actor: actor.clone(),
            change,
            reference: Some(reference.into()),
            origin: ConnId(1),
            seen: Default::default(),
        };
        store.queue_entry(entry).await.unwrap().await.unwrap()
    }

    /// The writer remembers what plain messages' rules read of a room
    /// (deleted, banned); a ban, an unban and the room's deletion and
    /// making again must each be seen by the next message, and a resend
    /// refused by a ban is still answered with the entry stored before.
    #[tokio::test]
    async fn messages_follow_bans_and_deletion_and_resends_stay_answered() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir.path().join("r.sqlite3"), Arc::new(Recorder::default()));
        let (bob, admin) = (actor("bob", false), actor("root", true));
        let message = |text: &str| Change::Message {
            text: text.into(),
            reply_to: None,
            action: false,
        };
        let bob_name = UserName::parse("bob").unwrap();
        let ban = Change::Ban {
            subject: bob_name.clone(),
            reason: None,
        };
        assert_eq!(
            outcome(&store, &bob, message("hi"), "m1").await,
            Outcome::Stored(1)
        );
        assert_eq!(outcome(&store, &admin, ban, "b1").await, Outcome::Stored(2));
        let refused = outcome(&store, &bob, message("again"), "m2").await;
        assert!(matches!(refused, Outcome::Refused(_)), "{refused:?}");
        match outcome(&store, &bob, message("hi"), "m1").await {
            Outcome::Duplicate(entry) => assert_eq!(entry.id(), 1),
            other => panic!("a resend after the ban: {other:?}"),
        }
        let unban = Change::Unban { subject: bob_name };
        assert_eq!(
            outcome(&store, &admin, unban, "u1").await,
            Outcome::Stored(3)
        );
        assert_eq!(
            outcome(&store, &bob, message("again"), "m2").await,
            Outcome::Stored(4)
        );
        assert_eq!(
            outcome(&store, &admin, Change::DeleteRoom, "d1").await,
            Outcome::Stored(5)
        );
        let refused = outcome(&store, &bob, message("gone"), "m3").await;
        assert!(matches!(refused, Outcome::Refused(_)), "{refused:?}");
        // Joining makes the room again: messages are stored above its old ids.
        let room = RoomName::parse("r").unwrap();
        store
            .join(&room, &bob, Page::Newest { limit: 1 })
            .await
            .unwrap();
        assert_eq!(
            outcome(&store, &bob, message("back"), "m4").await,
            Outcome::Stored(6)
        );
        store.close().await.unwrap();
    }

    #[tokio::test]
    async fn a_resent_request_is_found_by_the_index_not_a_scan() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sqlite3");
        let store = open(&path, Arc::new(Recorder::default()));
        assert_eq!(append(&store, new_message("lobby", "kept")).await, 1);
        store.close().await.unwrap();
        let conn = Connection::open(&path).unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {FIND_RESENT}"))
            .unwrap()
            .query_map(params![1, "alice", "r", &[0_u8; 16][..]], |row| {
                row.get::<_, String>(3)
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(plan.len(), 1, "{plan:?}");
        assert!(plan[0].contains("USING INDEX entries_ref"), "{plan:?}");
        // A plain message's rules read the room by key, once per room.
        let rules = crate::store::sqlite_rooms::ROOM_RULES;
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {rules}"))
            .unwrap()
            .query_map(params![1], |row| row.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(
            !plan.iter().any(|step| step.starts_with("SCAN")),
            "{plan:?}"
        );
        // The row keeps its ref, its author folded and a 16-byte fingerprint.
        let (reference, user, fingerprint): (String, String, Vec<u8>) = conn
            .query_row(
                "SELECT client_ref, ref_user, fingerprint FROM entries",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .unwrap();
        assert_eq!((reference.as_str(), user.as_str()), ("r", "alice"));
        assert_eq!(fingerprint.len(), 16);
    }

    #[test]
    fn a_directory_is_not_a_database() {
        let dir = tempfile::tempdir().unwrap();
        let err = SqliteStore::open(
            dir.path(),
            SyncMode::Normal,
            Arc::new(Recorder::default()),
            Arc::new(Metrics::default()),
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("directory"), "{err}");
    }
}
