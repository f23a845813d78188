//! The rules of fixable messages at the storage seam, the same on SQLite
//! and PostgreSQL: checked in the writer's transaction against what
//! earlier entries of the same batch did (a second delete of one message
//! is `not_found`, a react then an unreact are both stored), refusals
//! answered through the receipt with no id used, and pages that show each
//! message as it is now (text, edited, deleted, reactions); and two
//! PostgreSQL nodes racing on one message store each fix once.

use std::sync::Arc;

use chat_e2e::cluster::Postgres;
use chat_proto::{Entry, ErrorCode, Message, RoomName, UserName};
use chat_server::metrics::Metrics;
use chat_server::store::{
    Actor, Change, CommitListener, Committed, ConnId, JoinOutcome, MessageStore, NewEntry, Outcome,
    Page, PostgresStore, Seen, SqliteStore, SyncMode,
};

struct Quiet;

impl CommitListener for Quiet {
    fn committed(&self, _batch: &[Committed]) {}
}

fn actor(raw: &str, admin: bool) -> Actor {
    Actor {
        name: UserName::parse(raw).expect("a valid test name"),
        registered: true,
        admin,
    }
}

fn room() -> RoomName {
    RoomName::parse("r").expect("a valid room")
}

fn entry(actor: &Actor, change: Change) -> NewEntry {
    NewEntry {
        room: room(),
        actor: actor.clone(),
        change,
        reference: None,
        origin: ConnId(1),
        seen: Seen {
            admins: vec!["root".into()],
            ..Seen::default()
        },
    }
}

fn react(target: u64, emoji: &str) -> Change {
    Change::React {
        target,
        emoji: emoji.into(),
    }
}

fn unreact(target: u64, emoji: &str) -> Change {
    Change::Unreact {
        target,
        emoji: emoji.into(),
    }
}

/// Queues every entry before awaiting any receipt, so that they share a
/// batch when the writer is quick, and returns their outcomes in order.
async fn queue_all(store: &dyn MessageStore, entries: Vec<NewEntry>) -> Vec<Outcome> {
    let mut receipts = Vec::new();
    for queued in entries {
        receipts.push(store.queue_entry(queued).await.expect("queued"));
    }
    let mut outcomes = Vec::new();
    for receipt in receipts {
        outcomes.push(receipt.await.expect("stored or refused"));
    }
    outcomes
}

fn refused(code: ErrorCode) -> impl Fn(&Outcome) -> bool {
    move |outcome| matches!(outcome, Outcome::Refused(r) if r.code == code)
}

async fn page(store: &dyn MessageStore) -> Vec<Entry> {
    store
        .history(&room(), Page::Newest { limit: 100 })
        .await
        .expect("a page")
        .entries
}

fn message(entries: &[Entry], id: u64) -> Message {
    entries
        .iter()
        .find_map(|e| e.as_message().filter(|m| m.id == id).cloned())
        .unwrap_or_else(|| panic!("message {id} is on the page: {entries:?}"))
}

async fn fixable_rules_hold(store: Arc<dyn MessageStore>) {
    let (alice, bob, root) = (
        actor("alice", false),
        actor("bob", false),
        actor("root", true),
    );
    let joined = store.join(&room(), &alice, Page::Newest { limit: 1 }).await;
    assert!(matches!(joined, Ok(JoinOutcome::Joined(_))), "{joined:?}");
    let said = queue_all(
        &*store,
        vec![
            entry(&bob, Change::message("bob's")),
            entry(&root, Change::message("root's")),
            entry(&alice, Change::message("alice's")),
        ],
    )
    .await;
    assert_eq!(said, [1, 2, 3].map(Outcome::Stored));

    let outcomes = queue_all(
        &*store,
        vec![
            entry(
                &bob,
                Change::Edit {
                    target: 1,
                    text: "bob's, fixed".into(),
                },
            ),
            entry(&alice, Change::Delete { target: 1 }),
            entry(&alice, Change::Delete { target: 1 }),
            entry(&bob, react(3, "👍")),
            entry(&bob, unreact(3, "👍")),
            entry(&bob, unreact(3, "👍")),
            entry(&alice, Change::Delete { target: 2 }),
            entry(&root, Change::Delete { target: 2 }),
            entry(&bob, Change::Delete { target: 3 }),
            entry(
                &alice,
                Change::Edit {
                    target: 3,
                    text: "alice's".into(),
                },
            ),
        ],
    )
    .await;
    assert_eq!(outcomes[..2], [Outcome::Stored(4), Outcome::Stored(5)]);
    assert!(
        refused(ErrorCode::NotFound)(&outcomes[2]),
        "deleted already"
    );
    assert_eq!(outcomes[3..5], [Outcome::Stored(6), Outcome::Stored(7)]);
    assert!(
        refused(ErrorCode::Unchanged)(&outcomes[5]),
        "nothing to take back"
    );
    assert!(
        refused(ErrorCode::Forbidden)(&outcomes[6]),
        "the owner does not outrank an admin"
    );
    assert_eq!(outcomes[7], Outcome::Stored(8), "an admin deletes anyone's");
    assert!(
        refused(ErrorCode::Forbidden)(&outcomes[8]),
        "a member, not the author"
    );
    assert!(refused(ErrorCode::Unchanged)(&outcomes[9]), "the same text");

    let reactions = queue_all(
        &*store,
        vec![entry(&alice, react(3, "👍")), entry(&bob, react(3, "👍"))],
    )
    .await;
    assert_eq!(reactions, [9, 10].map(Outcome::Stored));
    let entries = page(&*store).await;
    let ids: Vec<u64> = entries.iter().map(Entry::id).collect();
    assert_eq!(
        ids,
        (1..=10).collect::<Vec<_>>(),
        "gapless: refusals took no id"
    );
    let (first, second, third) = (
        message(&entries, 1),
        message(&entries, 2),
        message(&entries, 3),
    );
    assert!(first.deleted && first.text.is_empty(), "{first:?}");
    assert!(second.deleted && second.text.is_empty(), "{second:?}");
    assert_eq!((third.text.as_str(), third.deleted), ("alice's", false));
    assert_eq!(third.reactions["👍"], ["alice", "bob"]);
    let Entry::Edit(edit) = &entries[3] else {
        panic!("entry 4 is the edit: {:?}", entries[3])
    };
    assert_eq!(
        (edit.target, edit.text.as_str()),
        (1, ""),
        "erased with its message"
    );

    let edited = queue_all(
        &*store,
        vec![
            entry(
                &alice,
                Change::Edit {
                    target: 3,
                    text: "alice's, fixed".into(),
                },
            ),
            entry(
                &bob,
                Change::Message {
                    text: "re".into(),
                    reply_to: Some(3),
                    action: true,
                },
            ),
            entry(
                &bob,
                Change::Message {
                    text: "re".into(),
                    reply_to: Some(1),
                    action: false,
                },
            ),
        ],
    )
    .await;
    assert_eq!(edited[..2], [Outcome::Stored(11), Outcome::Stored(12)]);
    assert!(
        refused(ErrorCode::NotFound)(&edited[2]),
        "a reply to a deleted message"
    );
    let entries = page(&*store).await;
    let third = message(&entries, 3);
    assert_eq!(third.text, "alice's, fixed");
    assert_eq!(third.edited, Some(entries[10].ts()));
    let reply = message(&entries, 12);
    assert_eq!((reply.reply_to, reply.action), (Some(3), true));
}

#[tokio::test]
async fn sqlite_keeps_the_rules_of_fixable_messages() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SqliteStore::open(
        &dir.path().join("c.sqlite3"),
        SyncMode::Normal,
        Arc::new(Quiet),
        Arc::new(Metrics::default()),
    )
    .expect("the store opens");
    let store: Arc<dyn MessageStore> = Arc::new(store);
    fixable_rules_hold(store.clone()).await;
    store.close().await.expect("closed");
}

#[tokio::test]
async fn postgres_keeps_the_rules_of_fixable_messages() {
    let postgres = Postgres::start().await;
    let store = PostgresStore::open(
        &postgres.url(),
        Arc::new(Quiet),
        Arc::new(Metrics::default()),
    )
    .await
    .expect("the store opens");
    let store: Arc<dyn MessageStore> = Arc::new(store);
    fixable_rules_hold(store.clone()).await;
    store.close().await.expect("closed");
    assert_eq!(
        postgres
            .query("SELECT count(*) FROM entries WHERE deleted AND text <> ''::BYTEA")
            .await,
        "0",
        "a deleted message keeps no text"
    );
}

#[tokio::test]
async fn two_nodes_racing_on_one_message_store_each_fix_once() {
    let postgres = Postgres::start().await;
    let open = || async {
        let store = PostgresStore::open(
            &postgres.url(),
            Arc::new(Quiet),
            Arc::new(Metrics::default()),
        )
        .await
        .expect("the store opens");
        Arc::new(store) as Arc<dyn MessageStore>
    };
    let (one, two) = (open().await, open().await);
    let alice = actor("alice", false);
    let joined = one.join(&room(), &alice, Page::Newest { limit: 1 }).await;
    assert!(matches!(joined, Ok(JoinOutcome::Joined(_))), "{joined:?}");
    let said = queue_all(&*one, vec![entry(&alice, Change::message("once"))]).await;
    assert_eq!(said, [Outcome::Stored(1)]);

    // The same reaction, then the same delete, from both nodes at once: the
    // room's row lock orders them, and the second sees the first's effect.
    for change in [react(1, "👍"), Change::Delete { target: 1 }] {
        let (a, b) = tokio::join!(
            queue_all(&*one, vec![entry(&alice, change.clone())]),
            queue_all(&*two, vec![entry(&alice, change.clone())]),
        );
        let outcomes = [a[0].clone(), b[0].clone()];
        let stored = outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Stored(_)))
            .count();
        let code = match change {
            Change::Delete { .. } => ErrorCode::NotFound,
            _ => ErrorCode::Unchanged,
        };
        assert_eq!(stored, 1, "{change:?}: {outcomes:?}");
        assert!(
            outcomes.iter().any(refused(code)),
            "{change:?}: {outcomes:?}"
        );
    }
    let entries = page(&*two).await;
    let ids: Vec<u64> = entries.iter().map(Entry::id).collect();
    assert_eq!(ids, [1, 2, 3], "gapless across nodes");
    assert!(message(&entries, 1).deleted);
    one.close().await.expect("closed");
    two.close().await.expect("closed");
}
