//! Remembered rooms and read markers at the storage seam, one behaviour
//! for SQLite and PostgreSQL: a join reads the joiner's marker and whether
//! the room is listed, `remember_room` and `forget_room` list and unlist
//! (the marker kept), a kick or ban unlists inside its entry's
//! transaction, and `mark_read` only moves forward and stops at the
//! room's newest id.

use std::sync::Arc;

use chat_e2e::cluster::Postgres;
use chat_proto::{RoomName, UserName};
use chat_server::metrics::Metrics;
use chat_server::store::{
    Actor, Change, CommitListener, Committed, ConnId, JoinOutcome, MessageStore, NewEntry, Page,
    PostgresStore, RoomState, Seen, SqliteStore, SyncMode,
};

struct Quiet;

impl CommitListener for Quiet {
    fn committed(&self, _batch: &[Committed]) {}
}

fn name(raw: &str) -> UserName {
    UserName::parse(raw).expect("a valid test name")
}

fn room(raw: &str) -> RoomName {
    RoomName::parse(raw).expect("a valid room")
}

fn registered(raw: &str) -> Actor {
    Actor {
        name: name(raw),
        registered: true,
        admin: false,
    }
}

async fn state(store: &dyn MessageStore, actor: &Actor, at: &str) -> RoomState {
    match store
        .join(&room(at), actor, Page::Newest { limit: 10 })
        .await
        .expect("the store answers")
    {
        JoinOutcome::Joined(snapshot) => snapshot.state,
        JoinOutcome::Refused(refusal) => panic!("refused: {refusal:?}"),
    }
}

async fn store_entry(store: &dyn MessageStore, actor: &Actor, at: &str, change: Change) {
    let entry = NewEntry {
        room: room(at),
        actor: actor.clone(),
        change,
        reference: None,
        origin: ConnId(1),
        seen: Seen {
            subject_present: true,
            ..Seen::default()
        },
    };
    let receipt = store.queue_entry(entry).await.expect("queued");
    receipt.await.expect("stored");
}

/// Each remembered room as (name, newest id, read marker).
async fn mine(store: &dyn MessageStore, user: &str) -> Vec<(String, u64, u64)> {
    store
        .my_rooms(&name(user))
        .await
        .expect("the store answers")
        .into_iter()
        .map(|mine| (mine.room.name, mine.room.last_id, mine.read_id))
        .collect()
}

fn row(room: &str, last_id: u64, read_id: u64) -> (String, u64, u64) {
    (room.to_owned(), last_id, read_id)
}

async fn remembers_rooms_and_read_markers(store: &dyn MessageStore) {
    for user in ["alice", "bob"] {
        assert!(
            store
                .create_account(&name(user), "h".into())
                .await
                .expect("the store answers")
        );
    }
    let (alice, bob) = (registered("alice"), registered("bob"));
    let first = state(store, &alice, "r").await;
    assert_eq!((first.read_id, first.listed), (0, false));
    store
        .remember_room(&alice.name, &room("r"))
        .await
        .expect("the store answers");
    for text in ["one", "two", "three"] {
        store_entry(store, &alice, "r", Change::message(text)).await;
    }
    assert_eq!(mine(store, "alice").await, [row("r", 3, 0)]);
    assert!(mine(store, "bob").await.is_empty());

    let read = |id| store.mark_read(&alice.name, &room("r"), id);
    assert_eq!(read(2).await.expect("the store answers"), Some(2));
    assert_eq!(read(1).await.expect("the store answers"), None, "backwards");
    assert_eq!(
        read(2).await.expect("the store answers"),
        None,
        "the same again"
    );
    assert_eq!(
        read(99).await.expect("the store answers"),
        Some(3),
        "stops at the newest"
    );
    assert_eq!(read(u64::MAX).await.expect("the store answers"), None);
    let again = state(store, &alice, "r").await;
    assert_eq!((again.read_id, again.listed), (3, true));

    // Unlisted, the marker kept; listed again.
    store
        .forget_room(&alice.name, &room("r"))
        .await
        .expect("the store answers");
    assert!(mine(store, "alice").await.is_empty());
    let left = state(store, &alice, "r").await;
    assert_eq!((left.read_id, left.listed), (3, false));
    store
        .remember_room(&alice.name, &room("r"))
        .await
        .expect("the store answers");
    assert_eq!(mine(store, "alice").await, [row("r", 3, 3)]);

    // A name without an account, or a room not there: nothing.
    let guest = name("guest");
    store
        .remember_room(&guest, &room("r"))
        .await
        .expect("the store answers");
    assert_eq!(
        store
            .mark_read(&guest, &room("r"), 2)
            .await
            .expect("the store answers"),
        None
    );
    assert!(mine(store, "guest").await.is_empty());
    store
        .remember_room(&bob.name, &room("nowhere"))
        .await
        .expect("the store answers");
    assert!(mine(store, "bob").await.is_empty());

    // A kick, then a ban, take the room out of the subject's list.
    for (at, change) in [
        (
            "r",
            Change::Kick {
                subject: name("bob"),
                reason: None,
            },
        ),
        (
            "r",
            Change::Ban {
                subject: name("bob"),
                reason: None,
            },
        ),
    ] {
        state(store, &bob, at).await;
        store
            .remember_room(&bob.name, &room(at))
            .await
            .expect("the store answers");
        assert_eq!(mine(store, "bob").await.len(), 1);
        store_entry(store, &alice, at, change).await;
        assert!(mine(store, "bob").await.is_empty());
    }
    assert_eq!(mine(store, "alice").await, [row("r", 5, 3)]);

    // Deleting the room forgets it for everyone.
    store_entry(store, &alice, "r", Change::DeleteRoom).await;
    assert!(mine(store, "alice").await.is_empty());
    store.close().await.expect("the store closes");
}

#[tokio::test]
async fn sqlite_remembers_rooms_and_read_markers() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SqliteStore::open(
        &dir.path().join("c.sqlite3"),
        SyncMode::Normal,
        Arc::new(Quiet),
        Arc::new(Metrics::default()),
    )
    .expect("the store opens");
    remembers_rooms_and_read_markers(&store).await;
}

#[tokio::test]
async fn postgres_remembers_rooms_and_read_markers() {
    let postgres = Postgres::start().await;
    let store = PostgresStore::open(
        &postgres.url(),
        Arc::new(Quiet),
        Arc::new(Metrics::default()),
    )
    .await
    .expect("the store opens");
    remembers_rooms_and_read_markers(&store).await;
}
