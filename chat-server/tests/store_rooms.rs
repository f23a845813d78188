//! The rules of rooms people own at the storage seam (SQLite): checked in
//! the writer's transaction against what earlier entries of the same
//! batch did, refusals answered through the receipt with no id used.

use std::sync::Arc;

use chat_proto::{ErrorCode, RoomName, UserName};
use chat_server::metrics::Metrics;
use chat_server::store::{
    Actor, Change, CommitListener, Committed, ConnId, JoinOutcome, MessageStore, NewEntry, Outcome,
    Page, Seen, SqliteStore, SyncMode,
};

struct Quiet;

impl CommitListener for Quiet {
    fn committed(&self, _batch: &[Committed]) {}
}

fn name(raw: &str) -> UserName {
    UserName::parse(raw).expect("a valid test name")
}

fn registered(raw: &str) -> Actor {
    Actor {
        name: name(raw),
        registered: true,
        admin: false,
    }
}

fn entry(actor: &Actor, change: Change) -> NewEntry {
    NewEntry {
        room: RoomName::parse("r").expect("a valid room"),
        actor: actor.clone(),
        change,
        reference: None,
        origin: ConnId(1),
        seen: Seen::default(),
    }
}

fn text(raw: &str) -> Change {
    Change::message(raw)
}

#[tokio::test]
async fn a_ban_queued_before_a_message_refuses_it_in_the_same_batch_and_uses_no_id() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SqliteStore::open(
        &dir.path().join("c.sqlite3"),
        SyncMode::Normal,
        Arc::new(Quiet),
        Arc::new(Metrics::default()),
    )
    .expect("the store opens");
    let (alice, bob) = (registered("alice"), registered("bob"));
    let room = RoomName::parse("r").expect("a valid room");
    let joined = store.join(&room, &alice, Page::Newest { limit: 10 }).await;
    assert!(
        matches!(joined, Ok(JoinOutcome::Joined(ref s)) if s.state.owner.as_deref() == Some("alice"))
    );

    // Queued together: one batch, one transaction, in queue order.
    let mut receipts = Vec::new();
    for queued in [
        entry(&bob, text("before")),
        entry(
            &alice,
            Change::Ban {
                subject: name("bob"),
                reason: None,
            },
        ),
        entry(&bob, text("after the ban")),
        entry(
            &bob,
            Change::Topic {
                topic: "mine".into(),
            },
        ),
        entry(&alice, text("still mine")),
    ] {
        receipts.push(store.queue_entry(queued).await.expect("queued"));
    }
    let mut outcomes = Vec::new();
    for receipt in receipts {
        outcomes.push(receipt.await.expect("answered"));
    }
    let codes: Vec<Result<u64, ErrorCode>> = outcomes
        .into_iter()
        .map(|outcome| match outcome {
            Outcome::Stored(id) => Ok(id),
            Outcome::Refused(refusal) => Err(refusal.code),
            Outcome::Duplicate(entry) => panic!("nothing here is sent twice: {entry:?}"),
        })
        .collect();
    assert_eq!(
        codes,
        [
            Ok(1),
            Ok(2),
            Err(ErrorCode::Forbidden),
            Err(ErrorCode::Forbidden),
            Ok(3)
        ]
    );
    match store.join(&room, &bob, Page::Newest { limit: 10 }).await {
        Ok(JoinOutcome::Refused(refusal)) => assert_eq!(refusal.code, ErrorCode::Forbidden),
        other => panic!("a banned join is refused: {other:?}"),
    }
    let page = store
        .history(&room, Page::Newest { limit: 10 })
        .await
        .expect("a page");
    let kinds: Vec<(u64, &str)> = page.entries.iter().map(|e| (e.id(), e.kind())).collect();
    assert_eq!(kinds, [(1, "message"), (2, "ban"), (3, "message")]);
    store.close().await.expect("closes");
}
