//! The SQLite [`MessageStore`]: one dedicated thread owns the connection and
//! serves a bounded channel of commands. Commands that arrive together run
//! in one transaction (group commit); only after it commits does the
//! [`CommitListener`] hear of the new messages and do the callers get their
//! answers. The database is in WAL mode and its schema is versioned with
//! `PRAGMA user_version`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chat_proto::{Message, RoomName, UserName};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, params};
use tokio::sync::{mpsc, oneshot};

use super::{
    CommitListener, CommittedMessage, HistoryPage, MessageStore, NewMessage, Page, Receipt,
    RoomSnapshot, StoreError, StoreFuture, StoredRoom, queue_with_receipt,
};
use crate::clock::now_ms;
use crate::metrics::Metrics;

/// Commands waiting for the writer thread. Bounded so a burst of senders
/// waits (asynchronously) instead of growing memory without limit.
const COMMAND_QUEUE: usize = 8192;
/// The most commands one transaction takes, so one commit's latency stays
/// bounded under heavy load.
const MAX_BATCH: usize = 1024;

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
const MIGRATIONS: &[&str] = &[
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
];

enum Command {
    Append(NewMessage, oneshot::Sender<Result<u64, StoreError>>),
    Join(
        RoomName,
        Page,
        oneshot::Sender<Result<RoomSnapshot, StoreError>>,
    ),
    History(
        RoomName,
        Page,
        oneshot::Sender<Result<HistoryPage, StoreError>>,
    ),
    Rooms(oneshot::Sender<Result<Vec<StoredRoom>, StoreError>>),
    PasswordHash(
        UserName,
        oneshot::Sender<Result<Option<String>, StoreError>>,
    ),
    CreateAccount(UserName, String, oneshot::Sender<Result<bool, StoreError>>),
    Close(oneshot::Sender<Result<(), StoreError>>),
}

/// Handle to the SQLite writer thread. Cheap to share behind an `Arc`.
pub struct SqliteStore {
    commands: mpsc::Sender<Command>,
    path: PathBuf,
    thread: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl SqliteStore {
    /// Opens (creating it and its folders if missing) and migrates the
    /// database, then starts the writer thread.
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
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| open_error(e.to_string()))?;
        prepare(&conn, sync).map_err(|e| open_error(e.to_string()))?;
        let rooms = load_rooms(&conn).map_err(|e| open_error(e.to_string()))?;

        let (commands, receiver) = mpsc::channel(COMMAND_QUEUE);
        let writer = Writer {
            conn,
            rooms,
            listener,
            metrics,
        };
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer.run(receiver))
            .map_err(|e| open_error(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            commands,
            path: path.to_owned(),
            thread: std::sync::Mutex::new(Some(thread)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn request<T: Send + 'static>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Command,
    ) -> StoreFuture<T> {
        let (reply_tx, reply_rx) = oneshot::channel();
        let command = make(reply_tx);
        let commands = self.commands.clone();
        Box::pin(async move {
            commands
                .send(command)
                .await
                .map_err(|_| StoreError::Closed)?;
            reply_rx.await.map_err(|_| StoreError::Closed)?
        })
    }
}

impl MessageStore for SqliteStore {
    fn queue_append(&self, message: NewMessage) -> StoreFuture<Receipt> {
        queue_with_receipt(self.commands.clone(), |reply| {
            Command::Append(message, reply)
        })
    }

    fn join(&self, room: &RoomName, page: Page) -> StoreFuture<RoomSnapshot> {
        let room = room.clone();
        self.request(|reply| Command::Join(room, page, reply))
    }

    fn history(&self, room: &RoomName, page: Page) -> StoreFuture<HistoryPage> {
        let room = room.clone();
        self.request(|reply| Command::History(room, page, reply))
    }

    fn rooms(&self) -> StoreFuture<Vec<StoredRoom>> {
        self.request(Command::Rooms)
    }

    fn password_hash(&self, user: &UserName) -> StoreFuture<Option<String>> {
        let user = user.clone();
        self.request(|reply| Command::PasswordHash(user, reply))
    }

    fn create_account(&self, user: &UserName, password_hash: String) -> StoreFuture<bool> {
        let user = user.clone();
        self.request(|reply| Command::CreateAccount(user, password_hash, reply))
    }

    fn close(&self) -> StoreFuture<()> {
        let closed = self.request(Command::Close);
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        Box::pin(async move {
            let result = closed.await;
            if let Some(thread) = thread {
                // The thread has answered Close and is returning; joining it
                // is quick but still blocking, so keep it off the runtime.
                let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            }
            result
        })
    }
}

fn prepare(conn: &Connection, sync: SyncMode) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(5))?;
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
    let version: usize = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version > MIGRATIONS.len() {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "the database has schema version {version}, newer than this server's {}",
            MIGRATIONS.len()
        )));
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(migration)?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// Rooms by name with their row id and newest message id.
#[derive(Debug, Clone, Copy)]
struct RoomRow {
    id: i64,
    last_id: u64,
}

fn load_rooms(conn: &Connection) -> rusqlite::Result<HashMap<String, RoomRow>> {
    let mut stmt = conn.prepare("SELECT name, id, last_id FROM rooms")?;
    let rows = stmt.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            RoomRow {
                id: row.get(1)?,
                last_id: row.get(2)?,
            },
        ))
    })?;
    rows.collect()
}

fn db_error(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

/// A command's answer, held until the transaction it ran in has committed.
enum Reply {
    Append(oneshot::Sender<Result<u64, StoreError>>, u64),
    Join(
        oneshot::Sender<Result<RoomSnapshot, StoreError>>,
        RoomSnapshot,
    ),
    History(
        oneshot::Sender<Result<HistoryPage, StoreError>>,
        HistoryPage,
    ),
    Rooms(
        oneshot::Sender<Result<Vec<StoredRoom>, StoreError>>,
        Vec<StoredRoom>,
    ),
    PasswordHash(
        oneshot::Sender<Result<Option<String>, StoreError>>,
        Option<String>,
    ),
    CreateAccount(oneshot::Sender<Result<bool, StoreError>>, bool),
}

impl Reply {
    fn send(self) {
        // A caller that gave up waiting has dropped its receiver; the work
        // is done either way, so a failed send needs no handling.
        match self {
            Reply::Append(tx, v) => drop(tx.send(Ok(v))),
            Reply::Join(tx, v) => drop(tx.send(Ok(v))),
            Reply::History(tx, v) => drop(tx.send(Ok(v))),
            Reply::Rooms(tx, v) => drop(tx.send(Ok(v))),
            Reply::PasswordHash(tx, v) => drop(tx.send(Ok(v))),
            Reply::CreateAccount(tx, v) => drop(tx.send(Ok(v))),
        }
    }

    fn fail(self, error: StoreError) {
        match self {
            Reply::Append(tx, _) => drop(tx.send(Err(error))),
            Reply::Join(tx, _) => drop(tx.send(Err(error))),
            Reply::History(tx, _) => drop(tx.send(Err(error))),
            Reply::Rooms(tx, _) => drop(tx.send(Err(error))),
            Reply::PasswordHash(tx, _) => drop(tx.send(Err(error))),
            Reply::CreateAccount(tx, _) => drop(tx.send(Err(error))),
        }
    }
}

struct Writer {
    conn: Connection,
    /// Mirrors the `rooms` table so appends need no lookup query. Changed
    /// only inside a transaction and reloaded if that transaction fails.
    rooms: HashMap<String, RoomRow>,
    listener: Arc<dyn CommitListener>,
    metrics: Arc<Metrics>,
}

impl Writer {
    fn run(mut self, mut receiver: mpsc::Receiver<Command>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while let Some(first) = receiver.blocking_recv() {
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(command) => batch.push(command),
                    Err(_) => break,
                }
            }
            let close = self.run_batch(&mut batch);
            if let Some(reply) = close {
                let result = self
                    .conn
                    .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
                    .map_err(db_error);
                if let Err(e) = &result {
                    tracing::warn!(error = %e, "checkpoint at shutdown failed");
                }
                let _ = reply.send(result);
                break;
            }
        }
    }

    /// Runs one batch in one transaction. Returns the reply for a `Close`
    /// command when the batch held one; commands after it are refused.
    fn run_batch(
        &mut self,
        batch: &mut Vec<Command>,
    ) -> Option<oneshot::Sender<Result<(), StoreError>>> {
        let started = Instant::now();
        let mut replies = Vec::with_capacity(batch.len());
        let mut committed = Vec::new();
        let mut close = None;
        // Room row id -> newest id appended in this batch.
        let mut touched: HashMap<i64, u64> = HashMap::new();
        let outcome = (|| -> rusqlite::Result<()> {
            let tx = self.conn.transaction()?;
            for command in batch.drain(..) {
                if close.is_some() {
                    refuse(command);
                    continue;
                }
                match command {
                    Command::Close(reply) => close = Some(reply),
                    Command::Append(message, reply) => {
                        match append(&tx, &mut self.rooms, message) {
                            Ok((room_id, stored)) => {
                                touched.insert(room_id, stored.message.id);
                                replies.push(Reply::Append(reply, stored.message.id));
                                committed.push(stored);
                            }
                            // One bad row must not sink the others in the batch.
                            Err(e) => drop(reply.send(Err(db_error(e)))),
                        }
                    }
                    Command::Join(room, page, reply) => {
                        let row = ensure_room(&tx, &mut self.rooms, &room)?;
                        let page = read_page(&tx, row.id, room.as_str(), page)?;
                        replies.push(Reply::Join(
                            reply,
                            RoomSnapshot {
                                page,
                                last_id: row.last_id,
                            },
                        ));
                    }
                    Command::History(room, page, reply) => {
                        let page = match self.rooms.get(room.as_str()) {
                            Some(row) => read_page(&tx, row.id, room.as_str(), page)?,
                            None => HistoryPage::default(),
                        };
                        replies.push(Reply::History(reply, page));
                    }
                    Command::Rooms(reply) => {
                        let mut rooms: Vec<StoredRoom> = self
                            .rooms
                            .iter()
                            .map(|(name, row)| StoredRoom {
                                name: name.clone(),
                                last_id: row.last_id,
                            })
                            .collect();
                        rooms.sort_by(|a, b| a.name.cmp(&b.name));
                        replies.push(Reply::Rooms(reply, rooms));
                    }
                    Command::PasswordHash(user, reply) => {
                        let hash = tx
                            .prepare_cached("SELECT password_hash FROM accounts WHERE name = ?1")?
                            .query_row([user.as_str()], |row| row.get(0))
                            .optional()?;
                        replies.push(Reply::PasswordHash(reply, hash));
                    }
                    Command::CreateAccount(user, hash, reply) => {
                        let inserted = tx
                            .prepare_cached(
                                "INSERT INTO accounts (name, password_hash, created_at)
                                 VALUES (?1, ?2, ?3) ON CONFLICT (name) DO NOTHING",
                            )?
                            .execute(params![user.as_str(), hash, now_ms()])?;
                        replies.push(Reply::CreateAccount(reply, inserted == 1));
                    }
                }
            }
            for (room_id, last_id) in &touched {
                tx.prepare_cached("UPDATE rooms SET last_id = ?1 WHERE id = ?2")?
                    .execute(params![last_id, room_id])?;
            }
            tx.commit()
        })();

        match outcome {
            Ok(()) => {
                self.metrics
                    .record_commit(started.elapsed(), committed.len());
                if !committed.is_empty() {
                    self.listener.committed(&committed);
                }
                replies.into_iter().for_each(Reply::send);
            }
            Err(e) => {
                tracing::error!(error = %e, "store transaction failed");
                let error = db_error(e);
                // The in-memory room ids may be ahead of the rolled-back
                // table; read them back so ids stay gapless and unique.
                match load_rooms(&self.conn) {
                    Ok(rooms) => self.rooms = rooms,
                    Err(e) => tracing::error!(error = %e, "reloading rooms failed"),
                }
                replies.into_iter().for_each(|r| r.fail(error.clone()));
            }
        }
        close
    }
}

fn refuse(command: Command) {
    let closed = || StoreError::Closed;
    match command {
        Command::Append(_, r) => drop(r.send(Err(closed()))),
        Command::Join(_, _, r) => drop(r.send(Err(closed()))),
        Command::History(_, _, r) => drop(r.send(Err(closed()))),
        Command::Rooms(r) => drop(r.send(Err(closed()))),
        Command::PasswordHash(_, r) => drop(r.send(Err(closed()))),
        Command::CreateAccount(_, _, r) => drop(r.send(Err(closed()))),
        Command::Close(r) => drop(r.send(Ok(()))),
    }
}

fn ensure_room(
    tx: &Transaction<'_>,
    rooms: &mut HashMap<String, RoomRow>,
    room: &RoomName,
) -> rusqlite::Result<RoomRow> {
    if let Some(row) = rooms.get(room.as_str()) {
        return Ok(*row);
    }
    tx.prepare_cached("INSERT INTO rooms (name, last_id, created_at) VALUES (?1, 0, ?2)")?
        .execute(params![room.as_str(), now_ms()])?;
    let row = RoomRow {
        id: tx.last_insert_rowid(),
        last_id: 0,
    };
    rooms.insert(room.as_str().to_owned(), row);
    Ok(row)
}

fn append(
    tx: &Transaction<'_>,
    rooms: &mut HashMap<String, RoomRow>,
    message: NewMessage,
) -> rusqlite::Result<(i64, CommittedMessage)> {
    let row = ensure_room(tx, rooms, &message.room)?;
    let id = row.last_id + 1;
    let ts = now_ms();
    tx.prepare_cached(
        "INSERT INTO messages (room_id, id, user, text, ts) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![row.id, id, message.user.as_str(), message.text, ts])?;
    if let Some(row) = rooms.get_mut(message.room.as_str()) {
        row.last_id = id;
    }
    Ok((
        row.id,
        CommittedMessage {
            message: Message {
                room: message.room.into_string(),
                id,
                user: message.user.into_string(),
                text: message.text,
                ts,
                reference: message.reference,
                ..Message::default()
            },
            origin: message.origin,
        },
    ))
}

fn read_page(
    tx: &Transaction<'_>,
    room_id: i64,
    room: &str,
    page: Page,
) -> rusqlite::Result<HistoryPage> {
    // One row beyond the limit tells whether the page was cut.
    let (sql, bound, limit, newest_first) = match page {
        Page::Newest { limit } => (
            "SELECT id, user, text, ts FROM messages WHERE room_id = ?1 AND id < ?2
             ORDER BY id DESC LIMIT ?3",
            i64::MAX,
            limit,
            true,
        ),
        Page::Before { id, limit } => (
            "SELECT id, user, text, ts FROM messages WHERE room_id = ?1 AND id < ?2
             ORDER BY id DESC LIMIT ?3",
            i64::try_from(id).unwrap_or(i64::MAX),
            limit,
            true,
        ),
        Page::After { id, limit } => (
            "SELECT id, user, text, ts FROM messages WHERE room_id = ?1 AND id > ?2
             ORDER BY id ASC LIMIT ?3",
            i64::try_from(id).unwrap_or(i64::MAX),
            limit,
            false,
        ),
    };
    let mut stmt = tx.prepare_cached(sql)?;
    let rows = stmt.query_map(params![room_id, bound, i64::from(limit) + 1], |row| {
        Ok(Message {
            room: room.to_owned(),
            id: row.get(0)?,
            user: row.get(1)?,
            text: row.get(2)?,
            ts: row.get(3)?,
            reference: None,
            ..Message::default()
        })
    })?;
    let mut messages = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    let more = messages.len() > limit as usize;
    messages.truncate(limit as usize);
    if newest_first {
        messages.reverse();
    }
    Ok(HistoryPage { messages, more })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::store::ConnId;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<u64>>);

    impl CommitListener for Recorder {
        fn committed(&self, batch: &[CommittedMessage]) {
            self.0
                .lock()
                .unwrap()
                .extend(batch.iter().map(|c| c.message.id));
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
            .join(&lobby, Page::Newest { limit: 50 })
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
        let snapshot = store.join(&lobby, Page::Newest { limit: 3 }).await.unwrap();
        assert_eq!(snapshot.last_id, 11);
        assert!(snapshot.page.more);
        let ids: Vec<u64> = snapshot.page.messages.iter().map(|m| m.id).collect();
        assert_eq!(ids, [9, 10, 11]);
        assert!(snapshot.page.messages.iter().all(|m| m.reference.is_none()));
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
        let ids = |p: HistoryPage| (p.messages.iter().map(|m| m.id).collect::<Vec<_>>(), p.more);
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
