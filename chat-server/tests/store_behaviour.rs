//! One behaviour test for every [`MessageStore`]: SQLite and PostgreSQL
//! must be interchangeable behind the seam. PostgreSQL also gets the claim
//! a cluster rests on: several nodes appending to one room get gapless,
//! strictly increasing ids, each node hears its commits in id order, and
//! every reader sees a gapless prefix of the room.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chat_e2e::cluster::Postgres;
use chat_proto::{Entry, RoomName, UserName};
use chat_server::metrics::Metrics;
use chat_server::store::{
    Actor, CommitListener, Committed, ConnId, HistoryPage, JoinOutcome, MessageStore, NewMessage,
    Outcome, Page, PostgresStore, RoomSnapshot, SqliteStore, StoreError, StoreFuture, SyncMode,
};

/// Records the ids a store's listener hears, and checks each one was
/// heard before the appender's receipt resolved.
#[derive(Default)]
struct Heard(Mutex<Vec<(String, u64)>>);

impl CommitListener for Heard {
    fn committed(&self, batch: &[Committed]) {
        let mut heard = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for committed in batch {
            heard.push((committed.room.clone(), committed.id));
        }
    }
}

impl Heard {
    fn ids(&self, room: &str) -> Vec<u64> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .filter(|(r, _)| r == room)
            .map(|(_, id)| *id)
            .collect()
    }

    fn has(&self, room: &str, id: u64) -> bool {
        self.ids(room).contains(&id)
    }
}

fn room(name: &str) -> RoomName {
    RoomName::parse(name).expect("test room names are valid")
}

fn new_message(room_name: &str, user: &str, text: &str, origin: u64) -> NewMessage {
    NewMessage {
        room: room(room_name),
        user: UserName::parse(user).expect("test user names are valid"),
        text: text.to_owned(),
        reference: Some(format!("ref-{text}")),
        origin: ConnId(origin),
    }
}

/// Joins as a guest: the protocol-1 view of a store, for these tests.
trait Snapshot {
    fn snapshot(&self, room: &RoomName, page: Page) -> StoreFuture<RoomSnapshot>;
}

impl<S: MessageStore + ?Sized> Snapshot for S {
    fn snapshot(&self, room: &RoomName, page: Page) -> StoreFuture<RoomSnapshot> {
        let guest = Actor::member(UserName::parse("reader").expect("a valid name"));
        let joined = self.join(room, &guest, page);
        Box::pin(async move {
            match joined.await? {
                JoinOutcome::Joined(snapshot) => Ok(snapshot),
                JoinOutcome::Refused(refusal) => Err(StoreError::Refused(refusal.reason)),
            }
        })
    }
}

/// The messages of a page (these tests store nothing else).
trait Messages {
    fn messages(&self) -> Vec<chat_proto::Message>;
}

impl Messages for HistoryPage {
    fn messages(&self) -> Vec<chat_proto::Message> {
        self.entries
            .iter()
            .filter_map(|entry| entry.as_message().cloned())
            .collect()
    }
}

fn ids(messages: &[chat_proto::Message]) -> Vec<u64> {
    messages.iter().map(|m| m.id).collect()
}

/// A request to room `once` from `user` with this text and `ref`.
fn once(user: &str, text: &str, reference: Option<&str>) -> NewMessage {
    NewMessage {
        room: room("once"),
        user: UserName::parse(user).expect("test user names are valid"),
        text: text.to_owned(),
        reference: reference.map(str::to_owned),
        origin: ConnId(9),
    }
}

async fn outcome(store: &dyn MessageStore, message: NewMessage) -> Outcome {
    store
        .queue_entry(message.into())
        .await
        .expect("the store answers")
        .await
        .expect("the store answers")
}

/// The id and `ref` of the stored entry a duplicate was answered with.
fn duplicate_of(outcome: &Outcome) -> Option<(u64, String)> {
    match outcome {
        Outcome::Duplicate(entry) => Some((entry.id(), entry.reference()?.to_owned())),
        _ => None,
    }
}

/// Exactly once: the same request from the same user to the same room
/// with the same `ref` is answered with the stored entry (its id, its
/// `ref`, its text) and nobody hears of it; other content, another user
/// or no `ref` is a new entry.
async fn sent_again_is_stored_once(store: &dyn MessageStore, heard: &Heard) {
    let first = outcome(store, once("alice", "hello", Some("r1"))).await;
    assert_eq!(first, Outcome::Stored(1));
    let again = outcome(store, once("alice", "hello", Some("r1"))).await;
    assert_eq!(
        duplicate_of(&again),
        Some((1, "r1".to_owned())),
        "{again:?}"
    );
    let Outcome::Duplicate(Entry::Message(stored)) = &again else {
        panic!("a message is answered with the message: {again:?}");
    };
    assert_eq!(
        (stored.user.as_str(), stored.text.as_str()),
        ("alice", "hello")
    );
    assert_eq!(heard.ids("once"), [1], "a duplicate is not fanned out");
    // The same ref with other content, or from someone else, is new.
    assert_eq!(
        outcome(store, once("alice", "hello!", Some("r1"))).await,
        Outcome::Stored(2)
    );
    assert_eq!(
        outcome(store, once("bob", "hello", Some("r1"))).await,
        Outcome::Stored(3)
    );
    // The user regardless of case, as names are.
    let spelled = outcome(store, once("Alice", "hello", Some("r1"))).await;
    assert_eq!(duplicate_of(&spelled), Some((1, "r1".to_owned())));
    // Without a ref there is nothing to know it by: stored each time.
    assert_eq!(
        outcome(store, once("alice", "hello", None)).await,
        Outcome::Stored(4)
    );
    assert_eq!(
        outcome(store, once("alice", "hello", None)).await,
        Outcome::Stored(5)
    );
    // Queued back to back, as a batch may take them: still once.
    let first = store
        .queue_entry(once("alice", "twice", Some("r2")).into())
        .await
        .expect("the store answers");
    let second = store
        .queue_entry(once("alice", "twice", Some("r2")).into())
        .await
        .expect("the store answers");
    assert_eq!(first.await.expect("the store answers"), Outcome::Stored(6));
    let second = second.await.expect("the store answers");
    assert_eq!(duplicate_of(&second), Some((6, "r2".to_owned())));
    assert_eq!(
        store
            .queue_append(once("alice", "twice", Some("r2")))
            .await
            .expect("the store answers")
            .await
            .expect("the store answers"),
        6,
        "queue_append answers a duplicate with the stored id"
    );
    assert_eq!(heard.ids("once"), [1, 2, 3, 4, 5, 6]);
    let page = store
        .history(&room("once"), Page::Newest { limit: 50 })
        .await
        .expect("the store answers");
    assert_eq!(ids(&page.messages()), [1, 2, 3, 4, 5, 6]);
}

/// The behaviour every store shares. `store` is fresh and empty; `reopen`
/// opens the same data again after `store` was closed.
async fn behaves_like_a_message_store<F>(store: Arc<dyn MessageStore>, heard: Arc<Heard>, reopen: F)
where
    F: AsyncFnOnce() -> Arc<dyn MessageStore>,
{
    let lobby = room("lobby");
    let snapshot = store
        .snapshot(&lobby, Page::Newest { limit: 50 })
        .await
        .expect("the store answers");
    assert_eq!(snapshot.last_id, 0);
    assert!(snapshot.page.messages().is_empty() && !snapshot.page.more);

    // Queued one after another: ids in queue order, heard before answered.
    let mut receipts = Vec::new();
    for i in 0..10 {
        receipts.push(
            store
                .queue_append(new_message("lobby", "alice", &format!("m{i}"), 7))
                .await
                .expect("the store answers"),
        );
    }
    for (expected, receipt) in (1..).zip(receipts) {
        let id = receipt.await.expect("the store answers");
        assert_eq!(id, expected);
        assert!(heard.has("lobby", id), "the listener hears {id} first");
    }
    assert_eq!(heard.ids("lobby"), (1..=10).collect::<Vec<_>>());
    // Another room counts on its own; odd text survives the round trip.
    let odd = "nul \u{0} tab \t emoji 🎉 escape \u{1b}[31m";
    let other = store
        .queue_append(new_message("other", "bob", odd, 8))
        .await
        .expect("the store answers")
        .await
        .expect("the store answers");
    assert_eq!(other, 1);

    let page_ids = |page: chat_server::store::HistoryPage| (ids(&page.messages()), page.more);
    assert_eq!(
        page_ids(
            store
                .history(&lobby, Page::Before { id: 6, limit: 2 })
                .await
                .expect("the store answers")
        ),
        (vec![4, 5], true)
    );
    assert_eq!(
        page_ids(
            store
                .history(&lobby, Page::Before { id: 3, limit: 5 })
                .await
                .expect("the store answers")
        ),
        (vec![1, 2], false)
    );
    assert_eq!(
        page_ids(
            store
                .history(&lobby, Page::After { id: 7, limit: 2 })
                .await
                .expect("the store answers")
        ),
        (vec![8, 9], true)
    );
    assert_eq!(
        page_ids(
            store
                .history(&lobby, Page::After { id: 8, limit: 5 })
                .await
                .expect("the store answers")
        ),
        (vec![9, 10], false)
    );
    let nowhere = room("nowhere");
    assert_eq!(
        page_ids(
            store
                .history(&nowhere, Page::Newest { limit: 5 })
                .await
                .expect("the store answers")
        ),
        (vec![], false)
    );
    let snapshot = store
        .snapshot(&lobby, Page::Newest { limit: 3 })
        .await
        .expect("the store answers");
    assert_eq!(
        (ids(&snapshot.page.messages()), snapshot.last_id),
        (vec![8, 9, 10], 10)
    );
    assert!(snapshot.page.more);
    let messages = snapshot.page.messages();
    let first = messages.first().expect("the page has messages");
    assert_eq!((first.user.as_str(), first.text.as_str()), ("alice", "m7"));
    assert_eq!(first.reference, None, "history never carries a ref");
    let since = store
        .snapshot(&room("other"), Page::After { id: 0, limit: 5 })
        .await
        .expect("the store answers");
    assert_eq!(
        since
            .page
            .messages()
            .first()
            .expect("the page has messages")
            .text,
        odd
    );

    let rooms = store.rooms().await.expect("the store answers");
    let listed: Vec<(&str, u64)> = rooms.iter().map(|r| (r.name.as_str(), r.last_id)).collect();
    assert_eq!(listed, [("lobby", 10), ("other", 1)]);

    let carol = UserName::parse("carol").expect("a valid name");
    assert_eq!(
        store
            .password_hash(&carol)
            .await
            .expect("the store answers"),
        None
    );
    assert!(
        store
            .create_account(&carol, "h1".into())
            .await
            .expect("the store answers")
    );
    assert!(
        !store
            .create_account(&carol, "h2".into())
            .await
            .expect("the store answers")
    );
    assert_eq!(
        store
            .password_hash(&carol)
            .await
            .expect("the store answers")
            .as_deref(),
        Some("h1")
    );

    sent_again_is_stored_once(store.as_ref(), &heard).await;

    store.close().await.expect("the store answers");
    let store = reopen().await;
    let id = store
        .queue_append(new_message("lobby", "alice", "after reopening", 1))
        .await
        .expect("the store answers")
        .await
        .expect("the store answers");
    assert_eq!(id, 11, "ids continue after a restart, never reused");
    // No time window: a request stored before the restart is still found.
    let again = outcome(store.as_ref(), once("alice", "hello", Some("r1"))).await;
    assert_eq!(
        duplicate_of(&again),
        Some((1, "r1".to_owned())),
        "{again:?}"
    );
    assert_eq!(
        store
            .password_hash(&carol)
            .await
            .expect("the store answers")
            .as_deref(),
        Some("h1")
    );
    store.close().await.expect("the store answers");
}

#[tokio::test]
async fn sqlite_behaves_like_a_message_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.sqlite3");
    let heard = Arc::new(Heard::default());
    let open = |heard: Arc<Heard>| {
        Arc::new(
            SqliteStore::open(&path, SyncMode::Normal, heard, Arc::new(Metrics::default()))
                .unwrap(),
        ) as Arc<dyn MessageStore>
    };
    let store = open(heard.clone());
    behaves_like_a_message_store(store, heard, async || open(Arc::new(Heard::default()))).await;
}

#[tokio::test]
async fn postgres_behaves_like_a_message_store() {
    let postgres = Postgres::start().await;
    let url = postgres.url();
    let open = async |heard: Arc<Heard>| {
        Arc::new(
            PostgresStore::open(&url, heard, Arc::new(Metrics::default()))
                .await
                .unwrap(),
        ) as Arc<dyn MessageStore>
    };
    let heard = Arc::new(Heard::default());
    let store = open(heard.clone()).await;
    behaves_like_a_message_store(store, heard, async || {
        open(Arc::new(Heard::default())).await
    })
    .await;
    // A resend is found through the partial unique index, not a scan (the
    // planner is told off sequential scans: these tables are tiny).
    let plan = postgres
        .query(
            "SET enable_seqscan = off; EXPLAIN SELECT id, user_name, text, ts, kind, subject, arg,
             flags FROM entries WHERE room_id = 1 AND ref_user = 'alice'
             AND client_ref = convert_to('r1', 'UTF8') AND fingerprint = '\\x00'::bytea",
        )
        .await;
    assert!(plan.contains("entries_ref"), "{plan}");
    // A search reads the GIN index of live messages' words.
    let plan = postgres
        .query(
            "SET enable_seqscan = off; EXPLAIN SELECT id FROM entries
             WHERE kind = 0 AND NOT deleted
             AND search_vector(text) @@ to_tsquery('simple', 'rel:*')",
        )
        .await;
    assert!(plan.contains("entries_search"), "{plan}");
    // Schema 7: the room stream, rooms people own, fixable messages,
    // exactly once, your rooms, search.
    assert_eq!(
        postgres.query("SELECT version FROM schema_version").await,
        "7"
    );
}

#[tokio::test]
async fn nodes_appending_to_one_room_share_one_gapless_order() {
    const NODES: usize = 3;
    const EACH: usize = 300;
    let postgres = Postgres::start().await;
    let url = postgres.url();
    let mut nodes = Vec::new();
    for _ in 0..NODES {
        let heard = Arc::new(Heard::default());
        let store: Arc<dyn MessageStore> = Arc::new(
            PostgresStore::open(&url, heard.clone(), Arc::new(Metrics::default()))
                .await
                .unwrap(),
        );
        nodes.push((store, heard));
    }
    let lobby = room("lobby");
    nodes[0]
        .0
        .snapshot(&lobby, Page::Newest { limit: 1 })
        .await
        .unwrap();

    // Every node appends as fast as it can (many in flight, so batches
    // from different nodes interleave), while a reader keeps taking
    // snapshots.
    let writers = nodes.iter().enumerate().map(|(n, (store, _))| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut receipts = Vec::with_capacity(EACH);
            for i in 0..EACH {
                let message = new_message("lobby", &format!("node{n}"), &format!("{n}-{i}"), 1);
                receipts.push(store.queue_append(message).await.unwrap());
            }
            let mut ids = Vec::with_capacity(EACH);
            for receipt in receipts {
                ids.push(receipt.await.unwrap());
            }
            ids
        })
    });
    let writers: Vec<_> = writers.collect();
    let reader = {
        let store = nodes[1].0.clone();
        let lobby = lobby.clone();
        tokio::spawn(async move {
            let mut snapshots = 0;
            loop {
                let snapshot = store
                    .snapshot(&lobby, Page::After { id: 0, limit: 500 })
                    .await
                    .unwrap();
                // A prefix: every id up to last_id, none beyond it.
                let expected: Vec<u64> = (1..=snapshot.last_id.min(500)).collect();
                assert_eq!(
                    ids(&snapshot.page.messages()),
                    expected,
                    "snapshot {snapshots}"
                );
                snapshots += 1;
                if snapshot.last_id >= (NODES * EACH) as u64 {
                    return snapshots;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let mut all = Vec::new();
    for (n, writer) in writers.into_iter().enumerate() {
        let ids = writer.await.unwrap();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "node {n}'s messages got increasing ids in queue order"
        );
        let heard = nodes[n].1.ids("lobby");
        assert_eq!(
            heard, ids,
            "node {n}'s listener heard its commits in id order"
        );
        all.extend(ids);
    }
    all.sort_unstable();
    assert_eq!(
        all,
        (1..=(NODES * EACH) as u64).collect::<Vec<_>>(),
        "gapless and unique"
    );
    let snapshots = reader.await.unwrap();
    assert!(snapshots > 1, "the reader saw the room grow");
    // Each node's messages are in the room in the order that node sent them.
    let (page, _) = {
        let page = nodes[2]
            .0
            .history(&lobby, Page::After { id: 0, limit: 500 })
            .await
            .unwrap();
        (page.messages(), page.more)
    };
    for n in 0..NODES {
        let mine: Vec<&str> = page
            .iter()
            .filter(|m| m.user == format!("node{n}"))
            .map(|m| m.text.as_str())
            .collect();
        let sent: Vec<String> = (0..EACH).map(|i| format!("{n}-{i}")).collect();
        assert!(
            sent.iter().zip(&mine).all(|(a, b)| a == b),
            "node {n}'s messages keep their order"
        );
    }
    for (store, _) in nodes {
        store.close().await.unwrap();
    }
}
