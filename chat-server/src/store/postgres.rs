//! The PostgreSQL [`MessageStore`], shared by every node of a cluster.
//!
//! Appends go through one writer task per node that batches whatever is
//! queued into one transaction (group commit, `store/batch.rs`) and hands
//! each committed batch to the store's fan-out task
//! (`store/commits.rs`), which tells the [`CommitListener`] and then
//! answers the appenders. Per-room ids are taken in
//! that transaction with `UPDATE rooms SET last_id = last_id + n ...
//! RETURNING`: the row lock it takes is held until commit, so two nodes
//! appending to one room serialize there and a room's ids become visible in
//! order, a gapless prefix, to any reader. Reads run on a connection pool
//! beside the writer. The schema is versioned in a `schema_version` table
//! and migrated under an advisory lock, so nodes starting together agree.

use std::convert::Infallible;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chat_proto::{RoomName, UserName};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_postgres::NoTls;

use super::JoinState;
use super::batch::{self, Batch, COMMAND_QUEUE, Command, Pending};
use super::commits::{Commit, FanOut};
use super::crash_hook;
use super::listing::log_retired;
use super::page::{Direction, KnownRooms, from_sql_id, pending_migrations};
use super::postgres_mine::{self, FORGET, REMEMBER};
use super::postgres_rooms::{JOIN_STATE, STREAM_SCHEMA, join_state, revive, store_batch};
use super::postgres_search;
use super::rows::{EntryRow, attach_reactions};
use super::search::{SearchPage, SearchQuery};
use super::{
    Actor, CommitListener, HistoryPage, JoinOutcome, MessageStore, MyRoom, NewEntry, Outcome, Page,
    Receipt, Refusal, RoomPage, RoomQuery, RoomSnapshot, StorageFault, StoreError, StoreFuture,
    StoredAccount, StoredRoom,
};
use crate::clock::now_ms;
use crate::metrics::Metrics;
use crate::sync::lock;
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
    // 2: user names unique regardless of case; case variants retired.
    include_str!("schema/postgres_02_names.sql"),
    // 3: the room stream and rooms people own.
    STREAM_SCHEMA,
    // 4: fixable messages: page state on the message's row, reactions.
    include_str!("schema/postgres_04_fixable.sql"),
    // 5: exactly once: an entry keeps its request's ref and fingerprint.
    include_str!("schema/postgres_05_exactly_once.sql"),
    // 6: your rooms and read markers.
    include_str!("schema/postgres_06_your_rooms.sql"),
    // 7: search: a GIN index of each live message's words.
    include_str!("schema/postgres_07_search.sql"),
];

const CREATE_ROOM: &str = "INSERT INTO rooms (name, last_id, created_at, owner)
     VALUES ($1, 0, $2, $3) ON CONFLICT (name) DO NOTHING";
// A page and the room's newest id in one statement, so in one snapshot:
// messages committed after it are exactly those with a larger id. The
// query asks for one row beyond the limit to tell whether it was cut.
// Each message carries its page state from its own row, and its
// reactions as two parallel arrays (emoji, user) from the reactions
// primary key: a page costs one range read plus one index probe per row.
const PAGE_BEFORE: &str = "SELECT r.last_id, m.id, m.user_name, m.text, m.ts, m.kind, m.subject,
     m.arg, m.flags, r.id, m.target, m.edited_ts, m.deleted, x.emoji, x.users FROM rooms r
     LEFT JOIN LATERAL (SELECT id, user_name, text, ts, kind, subject, arg, flags, target,
         edited_ts, deleted FROM entries
         WHERE room_id = r.id AND id < $2 ORDER BY id DESC LIMIT $3) m ON TRUE
     LEFT JOIN LATERAL (SELECT array_agg(emoji ORDER BY emoji, id) AS emoji,
         array_agg(user_name ORDER BY emoji, id) AS users FROM reactions
         WHERE room_id = r.id AND target = m.id AND m.kind = 0) x ON TRUE
     WHERE r.name = $1 ORDER BY m.id DESC";
const PAGE_AFTER: &str = "SELECT r.last_id, m.id, m.user_name, m.text, m.ts, m.kind, m.subject,
     m.arg, m.flags, r.id, m.target, m.edited_ts, m.deleted, x.emoji, x.users FROM rooms r
     LEFT JOIN LATERAL (SELECT id, user_name, text, ts, kind, subject, arg, flags, target,
         edited_ts, deleted FROM entries
         WHERE room_id = r.id AND id > $2 ORDER BY id ASC LIMIT $3) m ON TRUE
     LEFT JOIN LATERAL (SELECT array_agg(emoji ORDER BY emoji, id) AS emoji,
         array_agg(user_name ORDER BY emoji, id) AS users FROM reactions
         WHERE room_id = r.id AND target = m.id AND m.kind = 0) x ON TRUE
     WHERE r.name = $1 ORDER BY m.id ASC";
const LIST_ROOMS: &str = "SELECT name, last_id, topic, private FROM rooms
     WHERE deleted_at IS NULL ORDER BY name";
// Byte order, as SQLite's, along the `rooms_name_c` index.
const ROOM_PAGE: &str = r#"SELECT name, last_id, topic, private FROM rooms
     WHERE name COLLATE "C" > $1 AND strpos(name, $2) > 0 AND deleted_at IS NULL
       AND name NOT LIKE '@%'
     ORDER BY name COLLATE "C" LIMIT $3"#;
// Under the row lock an append takes: a room that got messages meanwhile
// is kept.
const SWEEP_ROOM: &str = "DELETE FROM rooms WHERE name = $1 AND last_id = 0";
const UNUSED_ROOMS: &str = "SELECT name FROM rooms WHERE last_id = 0 ORDER BY name";
const READABLE_PRIVATE: &str = "SELECT name FROM rooms r WHERE private AND deleted_at IS NULL
     AND (lower(owner) = $1
       OR EXISTS (SELECT 1 FROM ops WHERE room_id = r.id AND name_folded = $1)
       OR EXISTS (SELECT 1 FROM access WHERE room_id = r.id AND name_folded = $1))
     ORDER BY name";
const ACCOUNT: &str = "SELECT name, password_hash FROM accounts WHERE name_folded = $1";
const CREATE_ACCOUNT: &str = "INSERT INTO accounts (name, name_folded, password_hash, created_at)
     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";
const RETIRED_ACCOUNTS: &str = "SELECT r.name, a.name FROM retired_accounts r
     JOIN accounts a ON a.name_folded = r.name_folded ORDER BY r.name";

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

/// The writer takes appends only: rooms and accounts are written on the
/// pool, where PostgreSQL's own locks order them.
type WriterCommand = Command<Infallible>;

/// Handle to a cluster's PostgreSQL database, this node's writer task and
/// its fan-out task.
pub struct PostgresStore {
    pool: Pool,
    appends: mpsc::Sender<WriterCommand>,
    known_rooms: Arc<KnownRooms>,
    writer: Mutex<Option<JoinHandle<()>>>,
    fan_out: FanOut,
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
        let (fan_out, commits_tx) = FanOut::start(listener)?;
        let (appends, appends_rx) = mpsc::channel(COMMAND_QUEUE);
        let writer = Writer {
            pool: pool.clone(),
            commits_tx,
            metrics,
        };
        let writer = tokio::spawn(writer.run(appends_rx));
        Ok(Self {
            pool,
            appends,
            known_rooms: Arc::new(KnownRooms::default()),
            writer: Mutex::new(Some(writer)),
            fan_out,
        })
    }
}

impl MessageStore for PostgresStore {
    fn queue_entry(&self, entry: NewEntry) -> StoreFuture<Receipt> {
        batch::queue_entry(&self.appends, entry)
    }

    fn join(&self, room: &RoomName, viewer: &Actor, page: Page) -> StoreFuture<JoinOutcome> {
        let pool = self.pool.clone();
        let (room, viewer) = (room.clone(), viewer.clone());
        let known = self.known_rooms.contains(&room);
        let known_rooms = self.known_rooms.clone();
        Box::pin(bounded(async move {
            let mut client = pool.get().await.map_err(pool_error)?;
            // A conversation has no owner.
            let owner =
                (viewer.registered && !room.is_conversation()).then(|| viewer.name.to_string());
            if !known {
                create_room(&client, &room, owner.as_deref()).await?;
                known_rooms.insert(room.clone());
            }
            if let Some(outcome) = join_snapshot(&mut client, &room, &viewer, page).await? {
                return Ok(outcome);
            }
            // Deleted, or swept (it never held an entry) since, maybe by
            // another node: made again, owned by a registered joiner, then
            // read, so a room someone is in is listed.
            revive(&**client, room.as_str(), owner.as_deref()).await?;
            create_room(&client, &room, owner.as_deref()).await?;
            join_snapshot(&mut client, &room, &viewer, page)
                .await?
                .ok_or_else(|| StoreError::Database("the room was deleted again".into()))
        }))
    }

    fn history(&self, room: &RoomName, page: Page) -> StoreFuture<HistoryPage> {
        let pool = self.pool.clone();
        let room = room.clone();
        Box::pin(bounded(async move {
            let client = pool.get().await.map_err(pool_error)?;
            let statement = client
                .prepare_cached(page_sql(page))
                .await
                .map_err(db_error)?;
            Ok(read_page(&**client, &statement, &room, page).await?.2)
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
                        last_id: from_sql_id(row.try_get(1).map_err(db_error)?),
                        topic: String::from_utf8_lossy(
                            &row.try_get::<_, Vec<u8>>(2).map_err(db_error)?,
                        )
                        .into_owned(),
                        private: row.try_get(3).map_err(db_error)?,
                    })
                })
                .collect()
        }))
    }

    fn search(
        &self,
        viewer: &Actor,
        query: SearchQuery,
    ) -> StoreFuture<Result<SearchPage, Refusal>> {
        let pool = self.pool.clone();
        let viewer = viewer.clone();
        Box::pin(bounded(async move {
            let client = pool.get().await.map_err(pool_error)?;
            let state = client.prepare_cached(JOIN_STATE).await.map_err(db_error)?;
            postgres_search::search(&**client, &state, &viewer, &query).await
        }))
    }

    fn readable_private(&self, viewer: &Actor) -> StoreFuture<Vec<String>> {
        let pool = self.pool.clone();
        let me = viewer.name.folded().as_str().to_owned();
        Box::pin(bounded(async move {
            let client = pool.get().await.map_err(pool_error)?;
            let rows = client
                .query(READABLE_PRIVATE, &[&me])
                .await
                .map_err(db_error)?;
            rows.iter()
                .map(|row| row.try_get(0).map_err(db_error))
                .collect()
        }))
    }

    fn list_rooms(&self, query: RoomQuery) -> StoreFuture<RoomPage> {
        let pool = self.pool.clone();
        let bounds = query.bounds();
        Box::pin(bounded(async move {
            let client = pool.get().await.map_err(pool_error)?;
            let statement = client.prepare_cached(ROOM_PAGE).await.map_err(db_error)?;
            let rows = client
                .query(
                    &statement,
                    &[&bounds.after, &bounds.contains, &bounds.fetch],
                )
                .await
                .map_err(db_error)?;
            let rooms = rows
                .iter()
                .map(|row| {
                    Ok(StoredRoom {
                        name: row.try_get(0).map_err(db_error)?,
                        last_id: from_sql_id(row.try_get(1).map_err(db_error)?),
                        topic: String::from_utf8_lossy(
                            &row.try_get::<_, Vec<u8>>(2).map_err(db_error)?,
                        )
                        .into_owned(),
                        private: row.try_get(3).map_err(db_error)?,
                    })
                })
                .collect::<Result<_, StoreError>>()?;
            Ok(bounds.finish(rooms))
        }))
    }

    fn sweep_room(&self, room: &RoomName) -> StoreFuture<bool> {
        let pool = self.pool.clone();
        let room = room.clone();
        let known_rooms = self.known_rooms.clone();
        Box::pin(bounded(async move {
            let client = pool.get().await.map_err(pool_error)?;
            let statement = client.prepare_cached(SWEEP_ROOM).await.map_err(db_error)?;
            let deleted = client
                .execute(&statement, &[&room.as_str()])
                .await
                .map_err(db_error)?;
            if deleted > 0 {
                known_rooms.remove(&room);
            }
            Ok(deleted > 0)
        }))
    }

    fn unused_rooms(&self) -> StoreFuture<Vec<RoomName>> {
        let pool = self.pool.clone();
        Box::pin(bounded(async move {
            let client = pool.get().await.map_err(pool_error)?;
            let statement = client
                .prepare_cached(UNUSED_ROOMS)
                .await
                .map_err(db_error)?;
            let rows = client.query(&statement, &[]).await.map_err(db_error)?;
            Ok(rows
                .iter()
                .filter_map(|row| row.try_get::<_, &str>(0).ok())
                .filter_map(|name| RoomName::parse(name).ok())
                .collect())
        }))
    }

    fn account(&self, user: &UserName) -> StoreFuture<Option<StoredAccount>> {
        let pool = self.pool.clone();
        let folded = user.folded();
        Box::pin(bounded(async move {
            let client = pool.get().await.map_err(pool_error)?;
            let statement = client.prepare_cached(ACCOUNT).await.map_err(db_error)?;
            let row = client
                .query_opt(&statement, &[&folded.as_str()])
                .await
                .map_err(db_error)?;
            let Some(row) = row else {
                return Ok(None);
            };
            let name: &str = row.try_get(0).map_err(db_error)?;
            let name = UserName::parse(name)
                .map_err(|e| StoreError::Database(format!("stored account name {name:?}: {e}")))?;
            Ok(Some(StoredAccount {
                name,
                password_hash: row.try_get(1).map_err(db_error)?,
            }))
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
            let folded = user.folded();
            let inserted = client
                .execute(
                    &statement,
                    &[&user.as_str(), &folded.as_str(), &password_hash, &now_ms()],
                )
                .await
                .map_err(db_error)?;
            Ok(inserted == 1)
        }))
    }

    fn account_names(&self) -> StoreFuture<Vec<String>> {
        let pool = self.pool.clone();
        Box::pin(bounded(async move {
            let client = pool.get().await.map_err(pool_error)?;
            let rows = client
                .query("SELECT name FROM accounts ORDER BY name", &[])
                .await
                .map_err(db_error)?;
            rows.iter()
                .map(|row| row.try_get(0).map_err(db_error))
                .collect()
        }))
    }

    fn set_password(&self, user: &UserName, password_hash: String) -> StoreFuture<bool> {
        let pool = self.pool.clone();
        let folded = user.folded();
        Box::pin(bounded(async move {
            let client = pool.get().await.map_err(pool_error)?;
            let updated = client
                .execute(
                    "UPDATE accounts SET password_hash = $1 WHERE name_folded = $2",
                    &[&password_hash, &folded.as_str()],
                )
                .await
                .map_err(db_error)?;
            Ok(updated == 1)
        }))
    }

    fn remove_account(&self, user: &UserName) -> StoreFuture<bool> {
        let pool = self.pool.clone();
        let folded = user.folded();
        Box::pin(bounded(async move {
            let client = pool.get().await.map_err(pool_error)?;
            let removed = client
                .execute(
                    "DELETE FROM accounts WHERE name_folded = $1",
                    &[&folded.as_str()],
                )
                .await
                .map_err(db_error)?;
            Ok(removed == 1)
        }))
    }

    fn remember_room(&self, user: &UserName, room: &RoomName) -> StoreFuture<()> {
        let pool = self.pool.clone();
        let (user, room) = (user.clone(), room.clone());
        Box::pin(bounded(async move {
            let client = pool.get().await.map_err(pool_error)?;
            postgres_mine::by_name(&**client, REMEMBER, &user, &room).await
        }))
    }

    fn forget_room(&self, user: &UserName, room: &RoomName) -> StoreFuture<()> {
        let pool = self.pool.clone();
        let (user, room) = (user.clone(), room.clone());
        Box::pin(bounded(async move {
            let client = pool.get().await.map_err(pool_error)?;
            postgres_mine::by_name(&**client, FORGET, &user, &room).await
        }))
    }

    fn my_rooms(&self, user: &UserName) -> StoreFuture<Vec<MyRoom>> {
        let pool = self.pool.clone();
        let user = user.clone();
        Box::pin(bounded(async move {
            let client = pool.get().await.map_err(pool_error)?;
            postgres_mine::my_rooms(&**client, &user).await
        }))
    }

    fn mark_read(&self, user: &UserName, room: &RoomName, id: u64) -> StoreFuture<Option<u64>> {
        let pool = self.pool.clone();
        let (user, room) = (user.clone(), room.clone());
        Box::pin(bounded(async move {
            let client = pool.get().await.map_err(pool_error)?;
            postgres_mine::mark_read(&**client, &user, &room, id).await
        }))
    }

    /// PostgreSQL keeps its own files and its own health; what the cluster
    /// store sees of it (a refused or lost connection) is each write's
    /// error, retried by the client.
    fn fault(&self) -> Option<StorageFault> {
        None
    }

    fn close(&self) -> StoreFuture<()> {
        let closed = batch::request(&self.appends, Command::Close);
        let writer = lock(&self.writer).take();
        let finished = self.fan_out.finished();
        let pool = self.pool.clone();
        Box::pin(async move {
            let _ = closed.await;
            if let Some(writer) = writer {
                let _ = writer.await;
            }
            // Every receipt is answered before close returns.
            finished.await;
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
        for migration in pending_migrations(from, MIGRATIONS)? {
            tx.batch_execute(migration).await.map_err(db_error)?;
        }
        if from < 2 && MIGRATIONS.len() >= 2 {
            let rows = tx.query(RETIRED_ACCOUNTS, &[]).await.map_err(db_error)?;
            let retired = rows
                .iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                .collect::<Result<Vec<(String, String)>, tokio_postgres::Error>>()
                .map_err(db_error)?;
            log_retired(&retired);
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

/// Creates `room` unless it exists, owned by `owner` when new.
async fn create_room(
    client: &deadpool_postgres::Client,
    room: &RoomName,
    owner: Option<&str>,
) -> Result<(), StoreError> {
    let create = client.prepare_cached(CREATE_ROOM).await.map_err(db_error)?;
    client
        .execute(&create, &[&room.as_str(), &now_ms(), &owner])
        .await
        .map_err(db_error)?;
    Ok(())
}

/// A join's page, newest id and room state from one snapshot (a
/// read-only repeatable-read transaction); `None` when the room is
/// deleted or missing. Three round trips: the statements come from the
/// connection's cache, and the page and the state are pipelined.
async fn join_snapshot(
    client: &mut deadpool_postgres::Client,
    room: &RoomName,
    viewer: &Actor,
    page: Page,
) -> Result<Option<JoinOutcome>, StoreError> {
    let page_statement = client
        .prepare_cached(page_sql(page))
        .await
        .map_err(db_error)?;
    let state_statement = client.prepare_cached(JOIN_STATE).await.map_err(db_error)?;
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(db_error)?;
    let (paged, found) = tokio::try_join!(
        read_page(&*tx, &page_statement, room, page),
        join_state(&*tx, &state_statement, room, viewer),
    )?;
    let Some(JoinState { last_id, state, .. }) = found else {
        return Ok(None);
    };
    let outcome = match state {
        Err(refusal) => JoinOutcome::Refused(refusal),
        Ok(state) => JoinOutcome::Joined(RoomSnapshot {
            page: paged.2,
            last_id,
            state,
        }),
    };
    tx.commit().await.map_err(db_error)?;
    Ok(Some(outcome))
}

/// The page statement for `page`'s direction.
fn page_sql(page: Page) -> &'static str {
    match page.bounds().direction {
        Direction::Older => PAGE_BEFORE,
        Direction::Newer => PAGE_AFTER,
    }
}

/// Reads a page of `room` and, from the same statement, its newest id and
/// row id (`None` when the room does not exist).
async fn read_page(
    client: &impl tokio_postgres::GenericClient,
    statement: &tokio_postgres::Statement,
    room: &RoomName,
    page: Page,
) -> Result<(Option<u64>, Option<i64>, HistoryPage), StoreError> {
    let bounds = page.bounds();
    let rows = client
        .query(statement, &[&room.as_str(), &bounds.bound, &bounds.fetch])
        .await
        .map_err(db_error)?;
    let (mut last_id, mut room_id) = (None, None);
    let mut entries = Vec::with_capacity(rows.len());
    let mut reactions = Vec::new();
    for row in &rows {
        last_id = Some(from_sql_id(row.try_get(0).map_err(db_error)?));
        room_id = Some(row.try_get(9).map_err(db_error)?);
        // The LEFT JOIN gives one row of NULLs for a room without entries.
        let Some(id) = row.try_get::<_, Option<i64>>(1).map_err(db_error)? else {
            continue;
        };
        let text: Vec<u8> = row.try_get(3).map_err(db_error)?;
        let stored = EntryRow {
            text: String::from_utf8(text)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            kind: row.try_get(5).map_err(db_error)?,
            subject: row.try_get(6).map_err(db_error)?,
            arg: row.try_get(7).map_err(db_error)?,
            flags: row.try_get(8).map_err(db_error)?,
            target: row
                .try_get::<_, Option<i64>>(10)
                .map_err(db_error)?
                .map(from_sql_id),
            edited: row.try_get(11).map_err(db_error)?,
            deleted: row.try_get(12).map_err(db_error)?,
        };
        let emoji: Option<Vec<String>> = row.try_get(13).map_err(db_error)?;
        let users: Option<Vec<String>> = row.try_get(14).map_err(db_error)?;
        let id = from_sql_id(id);
        let on_it = emoji.unwrap_or_default().into_iter();
        reactions.extend(
            on_it
                .zip(users.unwrap_or_default())
                .map(|(e, u)| (id, e, u)),
        );
        let user = row.try_get(2).map_err(db_error)?;
        let ts = row.try_get(4).map_err(db_error)?;
        entries.extend(stored.entry(room.as_str(), id, user, ts));
    }
    let mut page = bounds.finish(entries);
    attach_reactions(&mut page.entries, reactions);
    Ok((last_id, room_id, page))
}

struct Writer {
    pool: Pool,
    commits_tx: mpsc::Sender<Commit>,
    metrics: Arc<Metrics>,
}

impl Writer {
    async fn run(self, mut commands_rx: mpsc::Receiver<WriterCommand>) {
        while let Some(Batch { appends, close, .. }) = Batch::next(&mut commands_rx).await {
            if !appends.is_empty() {
                self.commit(appends).await;
            }
            if let Some(reply) = close {
                let _ = reply.send(Ok(()));
                break;
            }
        }
        batch::refuse_queued(&mut commands_rx);
    }

    /// Stores a batch in one transaction and hands it to fan-out.
    async fn commit(&self, appends: Vec<Pending>) {
        let started = Instant::now();
        let ts = now_ms();
        let stored = bounded(self.store(&appends, ts)).await;
        match &stored {
            Ok(outcomes) => {
                let stored = outcomes
                    .iter()
                    .filter(|o| matches!(o, Outcome::Stored(_)))
                    .count();
                self.metrics.record_commit(started.elapsed(), stored);
            }
            Err(e) => {
                tracing::error!(error = %e, messages = appends.len(), "storing a batch failed");
            }
        }
        let stored = stored.map(|outcomes| outcomes.into_iter().map(Ok).collect());
        if self
            .commits_tx
            .send(Commit::new(appends, stored, ts))
            .await
            .is_err()
        {
            // Only when the runtime is going away: the receipts read as Closed.
            tracing::warn!("the fan-out task has stopped");
        }
    }

    /// Runs the batch's transaction: each entry checked against the
    /// room's rules and stored, or refused, in batch order.
    async fn store(&self, batch: &[Pending], ts: i64) -> Result<Vec<Outcome>, StoreError> {
        let mut client = self.pool.get().await.map_err(pool_error)?;
        let tx = client.transaction().await.map_err(db_error)?;
        let outcomes = store_batch(&*tx, batch, ts).await?;
        tx.commit().await.map_err(db_error)?;
        crash_hook::committed(outcomes.iter().any(|o| matches!(o, Outcome::Stored(_))));
        Ok(outcomes)
    }
}

/// An error with its causes: tokio-postgres's own text is only the kind
/// ("db error"), the server's message is in the source.
pub(super) fn describe(error: &(dyn std::error::Error + 'static)) -> String {
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
