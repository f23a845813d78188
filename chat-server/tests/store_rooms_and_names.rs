//! Issue 9 behind the store seam, the same on SQLite and PostgreSQL:
//! accounts are one regardless of case and keep their first spelling,
//! `list_rooms` pages by name with `contains`/`after`/`limit`, rooms that
//! never held a message can be swept (and only those), and a version-1
//! database with case-variant accounts is migrated as documented.

use std::sync::Arc;

use chat_e2e::cluster::Postgres;
use chat_proto::{RoomName, UserName};
use chat_server::metrics::Metrics;
use chat_server::store::{
    Actor, CommitListener, Committed, ConnId, JoinOutcome, MessageStore, NewMessage, Page,
    PostgresStore, RoomQuery, RoomSnapshot, SqliteStore, SyncMode,
};

struct Deaf;

impl CommitListener for Deaf {
    fn committed(&self, _batch: &[Committed]) {}
}

fn room(name: &str) -> RoomName {
    RoomName::parse(name).expect("test room names are valid")
}

fn user(name: &str) -> UserName {
    UserName::parse(name).expect("test user names are valid")
}

/// Joins `room_name` as a guest and returns what it read.
async fn join(store: &dyn MessageStore, room_name: &str) -> RoomSnapshot {
    let guest = Actor::member(user("reader"));
    match store
        .join(&room(room_name), &guest, Page::Newest { limit: 1 })
        .await
        .expect("the store answers")
    {
        JoinOutcome::Joined(snapshot) => snapshot,
        JoinOutcome::Refused(refusal) => panic!("a guest is refused: {}", refusal.reason),
    }
}

async fn say(store: &dyn MessageStore, room_name: &str) {
    let message = NewMessage {
        room: room(room_name),
        user: user("alice"),
        text: "hi".into(),
        reference: None,
        origin: ConnId(1),
    };
    store
        .queue_append(message)
        .await
        .expect("queued")
        .await
        .expect("stored");
}

async fn page(
    store: &dyn MessageStore,
    contains: Option<&str>,
    after: Option<&str>,
    limit: u32,
) -> (Vec<String>, bool) {
    let page = store
        .list_rooms(RoomQuery {
            contains: contains.map(str::to_owned),
            after: after.map(str::to_owned),
            limit,
        })
        .await
        .expect("the store answers");
    (page.rooms.into_iter().map(|r| r.name).collect(), page.more)
}

async fn behaves(store: Arc<dyn MessageStore>) {
    let store = store.as_ref();
    // Accounts: one per folded name, the first spelling kept.
    assert!(
        store
            .create_account(&user("Carol"), "h1".into())
            .await
            .expect("the store answers")
    );
    assert!(
        !store
            .create_account(&user("carol"), "h2".into())
            .await
            .expect("the store answers")
    );
    let account = store
        .account(&user("CAROL"))
        .await
        .expect("the store answers")
        .expect("the account exists");
    assert_eq!(
        (account.name.as_str(), account.password_hash.as_str()),
        ("Carol", "h1")
    );
    assert_eq!(
        store
            .password_hash(&user("cArOl"))
            .await
            .expect("the store answers")
            .as_deref(),
        Some("h1")
    );
    assert_eq!(
        store
            .account(&user("dave"))
            .await
            .expect("the store answers"),
        None
    );

    // Listing: name order, `contains`, `after`, `limit` and `more`.
    for name in ["b-two", "a-one", "c-three", "b-four"] {
        say(store, name).await;
    }
    join(store, "empty").await;
    let all = page(store, None, None, 100).await;
    assert_eq!(all.0, ["a-one", "b-four", "b-two", "c-three", "empty"]);
    assert!(!all.1);
    assert_eq!(
        page(store, None, None, 2).await,
        (vec!["a-one".into(), "b-four".into()], true)
    );
    assert_eq!(
        page(store, Some("-t"), Some("b-four"), 1).await,
        (vec!["b-two".into()], true)
    );
    assert_eq!(
        page(store, Some("-t"), Some("b-two"), 5).await,
        (vec!["c-three".into()], false)
    );

    // Sweeping: only a room that never held a message goes.
    assert_eq!(
        store.unused_rooms().await.expect("the store answers"),
        [room("empty")]
    );
    assert!(
        !store
            .sweep_room(&room("a-one"))
            .await
            .expect("the store answers")
    );
    assert!(
        store
            .sweep_room(&room("empty"))
            .await
            .expect("the store answers")
    );
    assert!(
        !store
            .sweep_room(&room("empty"))
            .await
            .expect("the store answers")
    );
    assert_eq!(
        page(store, Some("empty"), None, 5).await.0,
        Vec::<String>::new()
    );
    // A swept room comes back with its next join or message.
    say(store, "empty").await;
    assert_eq!(page(store, Some("empty"), None, 5).await.0, ["empty"]);
    let joined = join(store, "again").await;
    assert_eq!(joined.last_id, 0);
    assert!(
        store
            .sweep_room(&room("again"))
            .await
            .expect("the store answers")
    );
    join(store, "again").await;
    assert_eq!(page(store, Some("again"), None, 5).await.0, ["again"]);
    store.close().await.expect("the store answers");
}

#[tokio::test]
async fn sqlite_rooms_and_names() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(
        &dir.path().join("chat.sqlite3"),
        SyncMode::Normal,
        Arc::new(Deaf),
        Arc::new(Metrics::default()),
    )
    .unwrap();
    behaves(Arc::new(store)).await;
}

#[tokio::test]
async fn postgres_rooms_and_names() {
    let postgres = Postgres::start().await;
    let store = PostgresStore::open(
        &postgres.url(),
        Arc::new(Deaf),
        Arc::new(Metrics::default()),
    )
    .await
    .unwrap();
    behaves(Arc::new(store)).await;
}

/// Version 1 of the PostgreSQL schema as that release made it, with two
/// case variants of each of two names.
const POSTGRES_V1: &str = "
    CREATE TABLE schema_version (version INTEGER NOT NULL);
    INSERT INTO schema_version (version) VALUES (1);
    CREATE TABLE rooms (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE,
        last_id BIGINT NOT NULL DEFAULT 0, created_at BIGINT NOT NULL);
    CREATE TABLE messages (room_id BIGINT NOT NULL REFERENCES rooms (id), id BIGINT NOT NULL,
        user_name TEXT NOT NULL, text BYTEA NOT NULL, ts BIGINT NOT NULL,
        PRIMARY KEY (room_id, id));
    CREATE TABLE accounts (name TEXT PRIMARY KEY, password_hash TEXT NOT NULL,
        created_at BIGINT NOT NULL);
    INSERT INTO accounts VALUES ('alice', 'h-later', 20), ('Alice', 'h-first', 10),
        ('dav', 'h-dav', 5), ('DAV', 'h-DAV', 5);";

#[tokio::test]
async fn a_postgres_v1_database_with_case_variants_is_migrated() {
    let postgres = Postgres::start().await;
    postgres.query(POSTGRES_V1).await;
    let store = PostgresStore::open(
        &postgres.url(),
        Arc::new(Deaf),
        Arc::new(Metrics::default()),
    )
    .await
    .unwrap();
    // The earliest registered keeps the name; on a tie, the lower bytes.
    let alice = store.account(&user("ALICE")).await.unwrap().unwrap();
    assert_eq!(
        (alice.name.as_str(), alice.password_hash.as_str()),
        ("Alice", "h-first")
    );
    let dav = store.account(&user("Dav")).await.unwrap().unwrap();
    assert_eq!(
        (dav.name.as_str(), dav.password_hash.as_str()),
        ("DAV", "h-DAV")
    );
    store.close().await.unwrap();
    assert_eq!(
        postgres
            .query("SELECT string_agg(name, ',' ORDER BY name COLLATE \"C\") FROM retired_accounts")
            .await,
        "alice,dav"
    );
    assert_eq!(
        postgres.query("SELECT version FROM schema_version").await,
        "7"
    );
}

#[tokio::test]
async fn a_sqlite_v1_database_with_case_variants_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.sqlite3");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE rooms (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
                last_id INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);
            CREATE TABLE messages (room_id INTEGER NOT NULL REFERENCES rooms(id),
                id INTEGER NOT NULL, user TEXT NOT NULL, text TEXT NOT NULL, ts INTEGER NOT NULL,
                PRIMARY KEY (room_id, id)) WITHOUT ROWID;
            CREATE TABLE accounts (name TEXT PRIMARY KEY, password_hash TEXT NOT NULL,
                created_at INTEGER NOT NULL);
            INSERT INTO accounts VALUES ('alice', 'h-later', 20), ('Alice', 'h-first', 10),
                ('dav', 'h-dav', 5), ('DAV', 'h-DAV', 5);
            PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let store = SqliteStore::open(
        &path,
        SyncMode::Normal,
        Arc::new(Deaf),
        Arc::new(Metrics::default()),
    )
    .unwrap();
    let alice = store.account(&user("ALICE")).await.unwrap().unwrap();
    assert_eq!(
        (alice.name.as_str(), alice.password_hash.as_str()),
        ("Alice", "h-first")
    );
    let dav = store.account(&user("Dav")).await.unwrap().unwrap();
    assert_eq!(
        (dav.name.as_str(), dav.password_hash.as_str()),
        ("DAV", "h-DAV")
    );
    store.close().await.unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let retired: Vec<String> = conn
        .prepare("SELECT name FROM retired_accounts ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(retired, ["alice", "dav"]);
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, 9);
}
