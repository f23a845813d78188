//! The PostgreSQL [`MessageStore`], shared by every node of a cluster.
//!
//! Appends go through one writer task per node that batches whatever is
//! queued into one transaction (group commit) and answers only after the
//! commit, telling the [`CommitListener`] first. Per-room ids are taken in
//! that transaction with `UPDATE rooms SET last_id = last_id + n ...
//! RETURNING`: the row lock it takes is held until commit, so two nodes
//! appending to one room serialize there and a room's ids become visible in
//! order, a gapless prefix, to any reader. Reads run on a connection pool
//! beside the writer. The schema is versioned in a `schema_version` table
//! and migrated under an advisory lock, so nodes starting together agree.

use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chat_proto::{Message, RoomName, UserName};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use futures_util::future::try_join_all;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_postgres::NoTls;
use tokio_postgres::types::ToSql;

use super::{
    CommitListener, CommittedMessage, HistoryPage, MessageStore, NewMessage, Page, Receipt,
    RoomSnapshot, StoreError, StoreFuture, StoredRoom, queue_with_receipt,
};
use crate::clock::now_ms;
use crate::metrics::Metrics;

/// Appends waiting for the writer task. Bounded so a burst of senders
/// waits (asynchronously) instead of growing memory without limit.
const APPEND_QUEUE: usize = 8192;
/// The most appends one transaction takes, so one commit's latency stays
/// bounded under heavy load.
const MAX_BATCH: usize = 1024;
/// Pooled connections per node: the writer holds one at a time, the rest
/// serve joins, history pages, room lists and accounts.
const POOL_SIZE: usize = 16;
/// How long one database operation (including waiting for a pooled
/// connection) may take before the caller gets an error.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);
/// How long opening a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Serializes migrations across nodes: `pg_advisory_xact_lock` key
/// ("chatschm" in ASCII).
const MIGRATION_LOCK: i64 = 0x6368_6174_7363_686d;

/// The schema, one entry per version; `schema_version` records how many
/// have run. Message text is `BYTEA` because PostgreSQL's `TEXT` cannot
/// hold the NUL character, which the protocol allows in a message.
const MIGRATIONS: &[&str] = &[
    // 1: rooms with their id counter, messages with per-room ids, accounts.
    "CREATE TABLE rooms (
        id BIGSERIAL PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        last_id BIGINT NOT NULL DEFAULT 0,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE messages (
        room_id BIGINT NOT NULL REFERENCES rooms (id),
        id BIGINT NOT NULL,
        user_name TEXT NOT NULL,
        text BYTEA NOT NULL,
        ts BIGINT NOT NULL,
        PRIMARY KEY (room_id, id)
    );
    CREATE TABLE accounts (
        name TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );",
];

/// Reserves `n` ids in a room (creating it), returning the row id and the
/// newest reserved id. The row lock lasts until the transaction ends.
const RESERVE_IDS: &str = "INSERT INTO rooms (name, last_id, created_at) VALUES ($1, $2, $3)
     ON CONFLICT (name) DO UPDATE SET last_id = rooms.last_id + EXCLUDED.last_id
     RETURNING id, last_id";
const INSERT_MESSAGES: &str = "INSERT INTO messages (room_id, id, user_name, text, ts)
     SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::BYTEA[], $5::BIGINT[])";
const CREATE_ROOM: &str = "INSERT INTO rooms (name, last_id, created_at) VALUES ($1, 0, $2)
     ON CONFLICT (name) DO NOTHING";
// A page and the room's newest id in one statement, so in one snapshot:
// messages committed after it are exactly those with a larger id. The
// query asks for one row beyond the limit to tell whether it was cut.
const PAGE_BEFORE: &str = "SELECT r.last_id, m.id, m.user_name, m.text, m.ts FROM rooms r
     LEFT JOIN LATERAL (SELECT id, user_name, text, ts FROM messages
         WHERE room_id = r.id AND id < $2 ORDER BY id DESC LIMIT $3) m ON TRUE
     WHERE r.name = $1";
const PAGE_AFTER: &str = "SELECT r.last_id, m.id, m.user_name, m.text, m.ts FROM rooms r
     LEFT JOIN LATERAL (SELECT id, user_name, text, ts FROM messages
         WHERE room_id = r.id AND id > $2 ORDER BY id ASC LIMIT $3) m ON TRUE
     WHERE r.name = $1";
const LIST_ROOMS: &str = "SELECT name, last_id FROM rooms ORDER BY name";
const PASSWORD_HASH: &str = "SELECT password_hash FROM accounts WHERE name = $1";
const CREATE_ACCOUNT: &str = "INSERT INTO accounts (name, password_hash, created_at)
     VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING";

/// The schema versions before and after [`migrate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    pub from: usize,
    pub to: usize,
}

/// Creates or upgrades the schema of the database at `url` and returns the
/// versions before and after. Safe to run while nodes are up, and from
/// several places at once.
pub async fn migrate(url: &str) -> Result<Migration, StoreError> {
    let pool = connect_pool(url)?;
    let migration = run_migrations(&pool).await;
    pool.close();
    migration
}

enum WriterCommand {
    Append(NewMessage, oneshot::Sender<Result<u64, StoreError>>),
    Close(oneshot::Sender<()>),
}

/// Handle to a cluster's PostgreSQL database and this node's writer task.
pub struct PostgresStore {
    pool: Pool,
    appends: mpsc::Sender<WriterCommand>,
    /// Rooms known to exist, so a join skips the insert that creates one.
    /// Rooms are never deleted, so the set is only ever right or short.
    known_rooms: Arc<Mutex<HashSet<RoomName>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl PostgresStore {
    /// Connects, migrates the schema if it is older than this server's,
    /// and starts the writer task. Fails when the database cannot be
    /// reached now; once running, outages only fail the operations that
    /// meet them, and the pool reconnects by itself.
    pub async fn open(
        url: &str,
        listener: Arc<dyn CommitListener>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, StoreError> {
        let pool = connect_pool(url)?;
        run_migrations(&pool).await.map_err(|e| StoreError::Open {
            path: redact_url(url),
            reason: e.to_string(),
        })?;
        let (appends, appends_rx) = mpsc::channel(APPEND_QUEUE);
        let writer = Writer {
            pool: pool.clone(),
            listener,
            metrics,
        };
        let writer = tokio::spawn(writer.run(appends_rx));
        Ok(Self {
            pool,
            appends,
            known_rooms: Arc::new(Mutex::new(HashSet::new())),
            writer: Mutex::new(Some(writer)),
        })
    }

    fn is_known(&self, room: &RoomName) -> bool {
        self.known_rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .contains(room)
    }
}

impl MessageStore for PostgresStore {
    fn queue_append(&self, message: NewMessage) -> StoreFuture<Receipt> {
        queue_with_receipt(self.appends.clone(), |reply| {
            WriterCommand::Append(message, reply)
        })
    }

    fn join(&self, room: &RoomName, page: Page) -> StoreFuture<RoomSnapshot> {
        let pool = self.pool.clone();
        let room = room.clone();
        let known = self.is_known(&room);
        let known_rooms = self.known_rooms.clone();
        Box::pin(bounded(async move {
            let client = pool.get().await.map_err(pool_error)?;
            if !known {
                let create = client.prepare_cached(CREATE_ROOM).await.map_err(db_error)?;
                client
                    .execute(&create, &[&room.as_str(), &now_ms()])
                    .await
                    .map_err(db_error)?;
                known_rooms
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .insert(room.clone());
            }
            let (last_id, page) = read_page(&client, &room, page).await?;
            Ok(RoomSnapshot {
                page,
                last_id: last_id.unwrap_or(0),
            })
        }))
    }

    fn history(&self, room: &RoomName, page: Page) -> StoreFuture<HistoryPage> {
        let pool = self.pool.clone();
        let room = room.clone();
        Box::pin(bounded(async move {
            let client = pool.get().await.map_err(pool_error)?;
            Ok(read_page(&client, &room, page).await?.1)
        }))
    }

    fn rooms(&self) -> StoreFuture<Vec<StoredRoom>> {
        let pool = self.pool.clone();
        Box::pin(bounded(async move {
            let client = pool.get().await.map_err(pool_error)?;
            let statement = client.prepare_cached(LIST_ROOMS).await.map_err(db_error)?;
            let rows = client.query(&statement, &[]).await.map_err(db_error)?;
            rows.iter()
                .map(|row| {
                    Ok(StoredRoom {
                        name: row.try_get(0).map_err(db_error)?,
                        last_id: to_id(row.try_get(1).map_err(db_error)?),
                    })
                })
                .collect()
        }))
    }

    fn password_hash(&self, user: &UserName) -> StoreFuture<Option<String>> {
        let pool = self.pool.clone();
        let user = user.clone();
        Box::pin(bounded(async move {
            let client = pool.get().await.map_err(pool_error)?;
            let statement = client
                .prepare_cached(PASSWORD_HASH)
                .await
                .map_err(db_error)?;
            let row = client
                .query_opt(&statement, &[&user.as_str()])
                .await
                .map_err(db_error)?;
            row.map(|row| row.try_get(0).map_err(db_error)).transpose()
        }))
    }

    fn create_account(&self, user: &UserName, password_hash: String) -> StoreFuture<bool> {
        let pool = self.pool.clone();
        let user = user.clone();
        Box::pin(bounded(async move {
            let client = pool.get().await.map_err(pool_error)?;
            let statement = client
                .prepare_cached(CREATE_ACCOUNT)
                .await
                .map_err(db_error)?;
            let inserted = client
                .execute(&statement, &[&user.as_str(), &password_hash, &now_ms()])
                .await
                .map_err(db_error)?;
            Ok(inserted == 1)
        }))
    }

    fn close(&self) -> StoreFuture<()> {
        let appends = self.appends.clone();
        let writer = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        let pool = self.pool.clone();
        Box::pin(async move {
            let (done_tx, done_rx) = oneshot::channel();
            if appends.send(WriterCommand::Close(done_tx)).await.is_ok() {
                let _ = done_rx.await;
            }
            if let Some(writer) = writer {
                let _ = writer.await;
            }
            pool.close();
            Ok(())
        })
    }
}

/// Runs a store operation under [`OPERATION_TIMEOUT`].
async fn bounded<T>(
    operation: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(OPERATION_TIMEOUT, operation)
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::Database(format!(
                "no answer from PostgreSQL within {OPERATION_TIMEOUT:?}"
            )))
        })
}

fn connect_pool(url: &str) -> Result<Pool, StoreError> {
    let open_error = |reason: String| StoreError::Open {
        path: redact_url(url),
        reason,
    };
    let mut config = tokio_postgres::Config::from_str(url).map_err(|e| open_error(describe(&e)))?;
    config
        .application_name("chat-server")
        .connect_timeout(CONNECT_TIMEOUT)
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(30));
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            // A connection that died with its server is noticed as closed
            // and replaced; one that is merely idle is reused as it is.
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(POOL_SIZE)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(OPERATION_TIMEOUT))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .recycle_timeout(Some(CONNECT_TIMEOUT))
        .build()
        .map_err(|e| open_error(e.to_string()))
}

async fn run_migrations(pool: &Pool) -> Result<Migration, StoreError> {
    bounded(async {
        let mut client = pool.get().await.map_err(pool_error)?;
        let tx = client.transaction().await.map_err(db_error)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(db_error)?;
        // Checked rather than `CREATE TABLE IF NOT EXISTS`, which makes
        // the server log a notice at every start; the lock keeps the check
        // and the creation together.
        let exists: bool = tx
            .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
            .await
            .and_then(|row| row.try_get(0))
            .map_err(db_error)?;
        if !exists {
            tx.batch_execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
                .await
                .map_err(db_error)?;
        }
        let row = tx
            .query_opt("SELECT version FROM schema_version", &[])
            .await
            .map_err(db_error)?;
        let from = match row {
            Some(row) => {
                let version: i32 = row.try_get(0).map_err(db_error)?;
                usize::try_from(version)
                    .map_err(|_| StoreError::Database(format!("schema_version holds {version}")))?
            }
            None => {
                tx.execute("INSERT INTO schema_version (version) VALUES (0)", &[])
                    .await
                    .map_err(db_error)?;
                0
            }
        };
        if from > MIGRATIONS.len() {
            return Err(StoreError::Database(format!(
                "the database has schema version {from}, newer than this server's {}",
                MIGRATIONS.len()
            )));
        }
        for migration in &MIGRATIONS[from..] {
            tx.batch_execute(migration).await.map_err(db_error)?;
        }
        let to = MIGRATIONS.len();
        let version = i32::try_from(to).unwrap_or(i32::MAX);
        tx.execute("UPDATE schema_version SET version = $1", &[&version])
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(Migration { from, to })
    })
    .await
}

/// Reads a page of `room` and, from the same snapshot, its newest id
/// (`None` when the room does not exist).
async fn read_page(
    client: &deadpool_postgres::Client,
    room: &RoomName,
    page: Page,
) -> Result<(Option<u64>, HistoryPage), StoreError> {
    let (sql, bound, limit, newest_first) = match page {
        Page::Newest { limit } => (PAGE_BEFORE, i64::MAX, limit, true),
        Page::Before { id, limit } => (PAGE_BEFORE, to_sql_id(id), limit, true),
        Page::After { id, limit } => (PAGE_AFTER, to_sql_id(id), limit, false),
    };
    let statement = client.prepare_cached(sql).await.map_err(db_error)?;
    let rows = client
        .query(
            &statement,
            &[&room.as_str(), &bound, &(i64::from(limit) + 1)],
        )
        .await
        .map_err(db_error)?;
    let mut last_id = None;
    let mut messages = Vec::with_capacity(rows.len());
    for row in &rows {
        last_id = Some(to_id(row.try_get(0).map_err(db_error)?));
        // The LEFT JOIN gives one row of NULLs for a room without messages.
        let Some(id) = row.try_get::<_, Option<i64>>(1).map_err(db_error)? else {
            continue;
        };
        let text: Vec<u8> = row.try_get(3).map_err(db_error)?;
        messages.push(Message {
            room: room.to_string(),
            id: to_id(id),
            user: row.try_get(2).map_err(db_error)?,
            text: String::from_utf8(text)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            ts: row.try_get(4).map_err(db_error)?,
            reference: None,
            ..Message::default()
        });
    }
    let more = messages.len() > limit as usize;
    messages.truncate(limit as usize);
    if newest_first {
        messages.reverse();
    }
    Ok((last_id, HistoryPage { messages, more }))
}

struct Writer {
    pool: Pool,
    listener: Arc<dyn CommitListener>,
    metrics: Arc<Metrics>,
}

/// An append waiting in a batch for its transaction.
struct Pending {
    message: NewMessage,
    reply: oneshot::Sender<Result<u64, StoreError>>,
}

impl Writer {
    async fn run(self, mut appends: mpsc::Receiver<WriterCommand>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        let mut close = None;
        while close.is_none() {
            let Some(first) = appends.recv().await else {
                break;
            };
            let mut next = Some(first);
            while let Some(command) = next.take() {
                match command {
                    WriterCommand::Append(message, reply) => batch.push(Pending { message, reply }),
                    WriterCommand::Close(done) => {
                        close = Some(done);
                        break;
                    }
                }
                if batch.len() < MAX_BATCH {
                    next = appends.try_recv().ok();
                }
            }
            if !batch.is_empty() {
                self.commit(&mut batch).await;
            }
        }
        // Appends queued behind Close (or after every handle went away)
        // are refused rather than left hanging.
        appends.close();
        while let Ok(command) = appends.try_recv() {
            match command {
                WriterCommand::Append(_, reply) => drop(reply.send(Err(StoreError::Closed))),
                WriterCommand::Close(done) => drop(done.send(())),
            }
        }
        if let Some(done) = close {
            let _ = done.send(());
        }
    }

    /// Stores a batch in one transaction, then tells the listener and the
    /// appending sessions, in that order.
    async fn commit(&self, batch: &mut Vec<Pending>) {
        let started = Instant::now();
        let ts = now_ms();
        let outcome = bounded(self.store(batch, ts)).await;
        match outcome {
            Ok(ids) => {
                let committed: Vec<CommittedMessage> = batch
                    .iter()
                    .zip(&ids)
                    .map(|(pending, &id)| CommittedMessage {
                        message: Message {
                            room: pending.message.room.to_string(),
                            id,
                            user: pending.message.user.to_string(),
                            text: pending.message.text.clone(),
                            ts,
                            reference: pending.message.reference.clone(),
                            ..Message::default()
                        },
                        origin: pending.message.origin,
                    })
                    .collect();
                self.metrics
                    .record_commit(started.elapsed(), committed.len());
                self.listener.committed(&committed);
                for (pending, id) in batch.drain(..).zip(ids) {
                    let _ = pending.reply.send(Ok(id));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, messages = batch.len(), "storing a batch failed");
                for pending in batch.drain(..) {
                    let _ = pending.reply.send(Err(e.clone()));
                }
            }
        }
    }

    /// Runs the batch's transaction; returns each message's id, in batch
    /// order.
    async fn store(&self, batch: &[Pending], ts: i64) -> Result<Vec<u64>, StoreError> {
        // Rooms in name order, so two nodes' transactions lock shared rows
        // in the same order and cannot deadlock.
        let mut rooms: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (index, pending) in batch.iter().enumerate() {
            rooms
                .entry(pending.message.room.as_str())
                .or_default()
                .push(index);
        }
        let mut client = self.pool.get().await.map_err(pool_error)?;
        let tx = client.transaction().await.map_err(db_error)?;
        let reserve = tx.prepare_cached(RESERVE_IDS).await.map_err(db_error)?;
        let insert = tx.prepare_cached(INSERT_MESSAGES).await.map_err(db_error)?;
        let counts: Vec<i64> = rooms
            .values()
            .map(|indices| i64::try_from(indices.len()).unwrap_or(i64::MAX))
            .collect();
        let params: Vec<[&(dyn ToSql + Sync); 3]> = rooms
            .keys()
            .zip(&counts)
            .map(|(room, count)| [room as &(dyn ToSql + Sync), count, &ts])
            .collect();
        // Sent together (pipelined), executed in order.
        let reserved = try_join_all(params.iter().map(|p| tx.query_one(&reserve, p)))
            .await
            .map_err(db_error)?;

        let mut ids = vec![0u64; batch.len()];
        let mut room_ids = Vec::with_capacity(batch.len());
        let mut message_ids = Vec::with_capacity(batch.len());
        let mut users = Vec::with_capacity(batch.len());
        let mut texts = Vec::with_capacity(batch.len());
        for ((indices, row), count) in rooms.values().zip(&reserved).zip(&counts) {
            let room_id: i64 = row.try_get(0).map_err(db_error)?;
            let last_id: i64 = row.try_get(1).map_err(db_error)?;
            for (offset, &index) in (last_id - count + 1..).zip(indices) {
                ids[index] = to_id(offset);
                room_ids.push(room_id);
                message_ids.push(offset);
                users.push(batch[index].message.user.as_str());
                texts.push(batch[index].message.text.as_bytes());
            }
        }
        let stamps = vec![ts; batch.len()];
        tx.execute(&insert, &[&room_ids, &message_ids, &users, &texts, &stamps])
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(ids)
    }
}

fn to_id(id: i64) -> u64 {
    u64::try_from(id).unwrap_or(0)
}

fn to_sql_id(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

/// An error with its causes: tokio-postgres's own text is only the kind
/// ("db error"), the server's message is in the source.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn db_error(error: tokio_postgres::Error) -> StoreError {
    StoreError::Database(describe(&error))
}

fn pool_error(error: deadpool_postgres::PoolError) -> StoreError {
    StoreError::Database(format!("no database connection: {}", describe(&error)))
}

/// The URL (or `key=value` connection string) without its password, for
/// logs and error messages.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        // scheme://user:password@host/...
        return match rest.rsplit_once('@') {
            Some((credentials, host)) => match credentials.split_once(':') {
                Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
                None => url.to_owned(),
            },
            None => url.to_owned(),
        };
    }
    url.split_whitespace()
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_the_log() {
        assert_eq!(
            redact_url("postgres://chat:s3cret@db.example:5432/chat"),
            "postgres://chat:***@db.example:5432/chat"
        );
        assert_eq!(
            redact_url("redis://:pw@127.0.0.1:6379/0"),
            "redis://:***@127.0.0.1:6379/0"
        );
        assert_eq!(redact_url("postgres://db/chat"), "postgres://db/chat");
        assert_eq!(
            redact_url("host=db user=chat password=pw"),
            "host=db user=chat password=***"
        );
    }

    #[test]
    fn a_bad_url_is_an_open_error_naming_no_password() {
        let err = connect_pool("postgres://u:pw@host:notaport/db").err();
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("cannot open database"), "{text}");
        assert!(!text.contains("pw"), "{text}");
    }
}
