//! Read-only looks into a server's SQLite database while (or after) it runs,
//! to check what was really stored; [`seed_rooms`], which fills a stopped
//! server's database faster than clients could; and
//! [`write_version_1_database`], a file as the first release left it.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

/// One message row of the `entries` table (`messages` before schema 3),
/// joined with its room's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub room: String,
    pub id: i64,
    pub user: String,
    pub text: String,
    pub ts: i64,
}

/// One row of the `accounts` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAccount {
    pub name: String,
    pub password_hash: String,
    pub created_at: i64,
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
}

/// Every stored message of `room`, in id order. Runs on a blocking thread
/// so the test's runtime keeps serving its sockets.
pub async fn stored_messages(db: &Path, room: &str) -> rusqlite::Result<Vec<StoredMessage>> {
    let db: PathBuf = db.to_owned();
    let room = room.to_owned();
    tokio::task::spawn_blocking(move || {
        let conn = open(&db)?;
        let mut stmt = conn.prepare(
            "SELECT r.name, m.id, m.user, m.text, m.ts FROM entries m \
             JOIN rooms r ON r.id = m.room_id WHERE r.name = ?1 AND m.kind = 0 ORDER BY m.id",
        )?;
        let rows = stmt.query_map([&room], |row| {
            Ok(StoredMessage {
                room: row.get(0)?,
                id: row.get(1)?,
                user: row.get(2)?,
                text: row.get(3)?,
                ts: row.get(4)?,
            })
        })?;
        rows.collect()
    })
    .await
    .expect("the database reader thread does not panic")
}

/// The `last_id` column of `room`, if the room exists.
pub async fn stored_room_last_id(db: &Path, room: &str) -> rusqlite::Result<Option<i64>> {
    let db: PathBuf = db.to_owned();
    let room = room.to_owned();
    tokio::task::spawn_blocking(move || {
        let conn = open(&db)?;
        let mut stmt = conn.prepare("SELECT last_id FROM rooms WHERE name = ?1")?;
        let mut rows = stmt.query_map([&room], |row| row.get::<_, i64>(0))?;
        rows.next().transpose()
    })
    .await
    .expect("the database reader thread does not panic")
}

/// The `accounts` row of `name`, if any.
pub async fn stored_account(db: &Path, name: &str) -> rusqlite::Result<Option<StoredAccount>> {
    let db: PathBuf = db.to_owned();
    let name = name.to_owned();
    tokio::task::spawn_blocking(move || {
        let conn = open(&db)?;
        let mut stmt =
            conn.prepare("SELECT name, password_hash, created_at FROM accounts WHERE name = ?1")?;
        let mut rows = stmt.query_map([&name], |row| {
            Ok(StoredAccount {
                name: row.get(0)?,
                password_hash: row.get(1)?,
                created_at: row.get(2)?,
            })
        })?;
        rows.next().transpose()
    })
    .await
    .expect("the database reader thread does not panic")
}

/// The database's `PRAGMA journal_mode`.
pub async fn journal_mode(db: &Path) -> rusqlite::Result<String> {
    let db: PathBuf = db.to_owned();
    tokio::task::spawn_blocking(move || {
        let conn = open(&db)?;
        conn.query_row("PRAGMA journal_mode", [], |row| row.get(0))
    })
    .await
    .expect("the database reader thread does not panic")
}

/// The names in the `rooms` table, in name order.
pub async fn stored_room_names(db: &Path) -> rusqlite::Result<Vec<String>> {
    query_strings(db, "SELECT name FROM rooms ORDER BY name").await
}

/// The names in the `retired_accounts` table (schema version 2), in name
/// order.
pub async fn retired_account_names(db: &Path) -> rusqlite::Result<Vec<String>> {
    query_strings(db, "SELECT name FROM retired_accounts ORDER BY name").await
}

/// The names in the `accounts` table, in name order.
pub async fn stored_account_names(db: &Path) -> rusqlite::Result<Vec<String>> {
    query_strings(db, "SELECT name FROM accounts ORDER BY name").await
}

/// The database's `PRAGMA user_version`: its schema version.
pub async fn schema_version(db: &Path) -> rusqlite::Result<i64> {
    let db: PathBuf = db.to_owned();
    tokio::task::spawn_blocking(move || {
        let conn = open(&db)?;
        conn.query_row("PRAGMA user_version", [], |row| row.get(0))
    })
    .await
    .expect("the database reader thread does not panic")
}

/// Every row of `entries` in `room` as (id, kind), in id order.
pub async fn stored_entry_kinds(db: &Path, room: &str) -> rusqlite::Result<Vec<(i64, i64)>> {
    let db: PathBuf = db.to_owned();
    let room = room.to_owned();
    tokio::task::spawn_blocking(move || {
        let conn = open(&db)?;
        let mut stmt = conn.prepare(
            "SELECT e.id, e.kind FROM entries e JOIN rooms r ON r.id = e.room_id \
             WHERE r.name = ?1 ORDER BY e.id",
        )?;
        let rows = stmt.query_map([&room], |row| Ok((row.get(0)?, row.get(1)?)))?;
        rows.collect()
    })
    .await
    .expect("the database reader thread does not panic")
}

async fn query_strings(db: &Path, sql: &'static str) -> rusqlite::Result<Vec<String>> {
    let db: PathBuf = db.to_owned();
    tokio::task::spawn_blocking(move || {
        let conn = open(&db)?;
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt.query_map([], |row| row.get(0))?;
        rows.collect()
    })
    .await
    .expect("the database reader thread does not panic")
}

/// The folded names banned from `room`, in order.
pub async fn stored_bans(db: &Path, room: &str) -> rusqlite::Result<Vec<String>> {
    let db: PathBuf = db.to_owned();
    let room = room.to_owned();
    tokio::task::spawn_blocking(move || {
        let conn = open(&db)?;
        let mut stmt = conn.prepare(
            "SELECT b.name_folded FROM bans b JOIN rooms r ON r.id = b.room_id \
             WHERE r.name = ?1 ORDER BY b.name_folded",
        )?;
        let rows = stmt.query_map([&room], |row| row.get(0))?;
        rows.collect()
    })
    .await
    .expect("the database reader thread does not panic")
}

/// The folded account names that list `room` among their rooms (schema
/// 6's `memberships`), in order.
pub async fn stored_remembering(db: &Path, room: &str) -> rusqlite::Result<Vec<String>> {
    let db: PathBuf = db.to_owned();
    let room = room.to_owned();
    tokio::task::spawn_blocking(move || {
        let conn = open(&db)?;
        let mut stmt = conn.prepare(
            "SELECT a.name_folded FROM memberships m JOIN rooms r ON r.id = m.room_id \
             JOIN accounts a ON a.id = m.account_id \
             WHERE r.name = ?1 AND m.listed = 1 ORDER BY a.name_folded",
        )?;
        let rows = stmt.query_map([&room], |row| row.get(0))?;
        rows.collect()
    })
    .await
    .expect("the database reader thread does not panic")
}

/// Adds `count` rooms named `{prefix}NNNNN`, each holding one message, to
/// the database of a server that is **not running** and has migrated
/// to schema version 3 (where messages are rows of `entries`), in one
/// transaction.
pub async fn seed_rooms(db: &Path, prefix: &str, count: usize) -> rusqlite::Result<()> {
    let db: PathBuf = db.to_owned();
    let prefix = prefix.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut conn = Connection::open(&db)?;
        let tx = conn.transaction()?;
        {
            let mut room = tx.prepare(
                "INSERT INTO rooms (name, last_id, created_at) VALUES (?1, 1, 0) RETURNING id",
            )?;
            let mut message = tx.prepare(
                "INSERT INTO entries (room_id, id, user, text, ts) VALUES (?1, 1, 'seed', ?2, 0)",
            )?;
            for index in 0..count {
                let name = format!("{prefix}{index:05}");
                let id: i64 = room.query_row([&name], |row| row.get(0))?;
                message.execute(rusqlite::params![id, format!("the first word in {name}")])?;
            }
        }
        tx.commit()
    })
    .await
    .expect("the database writer thread does not panic")
}

/// Schema version 1 exactly as the first release created it (the server's
/// own copy is its first migration); kept here as a fixed historic format,
/// so an upgrade test does not need the old binary.
const VERSION_1_SCHEMA: &str = "
    CREATE TABLE rooms (
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
    );
    PRAGMA user_version = 1;";

/// Writes a new schema-version-1 database at `db`: `messages` in one room
/// (ids from 1, in order) and `accounts` as (name, password hash).
pub async fn write_version_1_database(
    db: &Path,
    messages: Vec<StoredMessage>,
    accounts: Vec<(String, String)>,
) -> rusqlite::Result<()> {
    let db: PathBuf = db.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut conn = Connection::open(&db)?;
        conn.execute_batch(VERSION_1_SCHEMA)?;
        let tx = conn.transaction()?;
        for message in &messages {
            tx.execute(
                "INSERT INTO rooms (name, last_id, created_at) VALUES (?1, ?2, 0) \
                 ON CONFLICT (name) DO UPDATE SET last_id = excluded.last_id",
                rusqlite::params![message.room, message.id],
            )?;
            tx.execute(
                "INSERT INTO messages (room_id, id, user, text, ts) \
                 SELECT id, ?2, ?3, ?4, ?5 FROM rooms WHERE name = ?1",
                rusqlite::params![
                    message.room,
                    message.id,
                    message.user,
                    message.text,
                    message.ts
                ],
            )?;
        }
        for (name, hash) in &accounts {
            tx.execute(
                "INSERT INTO accounts (name, password_hash, created_at) VALUES (?1, ?2, 0)",
                rusqlite::params![name, hash],
            )?;
        }
        tx.commit()
    })
    .await
    .expect("the database writer thread does not panic")
}

/// Whether `needle` is anywhere in the bytes of the database file or its
/// WAL (for checks that an erased text left the disk).
pub fn on_disk(db: &Path, needle: &str) -> bool {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    [db.to_owned(), wal.into()].iter().any(|path| {
        let bytes = std::fs::read(path).unwrap_or_default();
        bytes
            .windows(needle.len())
            .any(|window| window == needle.as_bytes())
    })
}
