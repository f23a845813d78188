//! Search through two cluster nodes (PostgreSQL + Redis): what one node
//! stored, edited or deleted is found (or not) from the other, through the
//! PostgreSQL index, prefixes and every word included, paged by `before`
//! and `before_ts`, and a private room is found only by those on it.

use chat_e2e::TestClient;
use chat_e2e::cluster::Cluster;
use chat_proto::{Entry, ErrorCode, Message, ServerFrame};
use serde_json::json;

/// The most presence frames skipped while waiting for an entry.
const MAX_PRESENCE: usize = 20;

/// The next entry of `kind`, skipping presence.
async fn entry_of(client: &mut TestClient, kind: &str) -> Entry {
    for _ in 0..MAX_PRESENCE {
        match client.recv().await {
            ServerFrame::Join { .. } | ServerFrame::Leave { .. } => continue,
            frame => match Entry::try_from(frame) {
                Ok(entry) if entry.kind() == kind => return entry,
                other => panic!("expected a {kind} entry, got {other:?}"),
            },
        }
    }
    panic!("no {kind} entry after {MAX_PRESENCE} presence frames")
}

fn ids(messages: &[Message]) -> Vec<u64> {
    messages.iter().map(|m| m.id).collect()
}

#[tokio::test]
async fn what_one_node_stores_edits_and_deletes_is_searched_from_the_other() {
    let cluster = Cluster::start(2).await;
    let mut alice = cluster.account(0, "alice", "pw-alice").await;
    alice.join("r").await;
    let first = alice.say("r", "Quarterly report draft").await;
    let second = alice.say("r", "the REPORTING tool").await;
    let gone = alice.say("r", "report the leak").await;
    let edited = alice.say("r", "colour scheme").await;
    alice
        .send_json(
            json!({"type":"edit","room":"r","target":edited.id,"text":"color scheme report"}),
        )
        .await;
    entry_of(&mut alice, "edit").await;
    alice
        .send_json(json!({"type":"delete","room":"r","target":gone.id}))
        .await;
    entry_of(&mut alice, "delete").await;

    let mut bob = cluster.account(1, "bob", "pw-bob").await;
    let (found, more) = bob.search("report", Some("r"), None, None, None).await;
    assert_eq!(ids(&found), [edited.id, second.id, first.id], "{found:?}");
    assert!(!more);
    assert_eq!(found[0].text, "color scheme report");
    assert!(found[0].edited.is_some());
    let (found, _) = bob.search("colour", None, None, None, None).await;
    assert!(found.is_empty(), "the old text is not found: {found:?}");
    let (found, _) = bob.search("leak", None, None, None, None).await;
    assert!(
        found.is_empty(),
        "a deleted message is not found: {found:?}"
    );
    let (found, _) = bob.search("quart REP", Some("r"), None, None, None).await;
    assert_eq!(ids(&found), [first.id]);

    let (page, more) = bob.search("rep", Some("r"), Some(2), None, None).await;
    assert_eq!(ids(&page), [edited.id, second.id]);
    assert!(more);
    let (page, more) = bob
        .search("rep", Some("r"), Some(2), Some(second.id), None)
        .await;
    assert_eq!(ids(&page), [first.id]);
    assert!(!more);
    let (page, more) = bob.search("report", None, Some(1), None, None).await;
    assert_eq!(ids(&page), [edited.id]);
    assert!(more);
    let (page, _) = bob
        .search("report", None, Some(10), None, Some(page[0].ts))
        .await;
    assert!(page.iter().all(|m| m.ts < edited.ts && m.room == "r"));
    assert!(page.iter().any(|m| m.id == first.id), "{page:?}");
}

#[tokio::test]
async fn a_private_room_is_found_on_every_node_only_by_those_on_it() {
    let cluster = Cluster::start(2).await;
    let mut alice = cluster.account(0, "alice", "pw-alice").await;
    alice.join("den").await;
    alice
        .send_json(json!({"type":"settings","room":"den","private":true}))
        .await;
    entry_of(&mut alice, "settings").await;
    let hidden = alice.say("den", "hidden treasure").await;

    let mut bob = cluster.account(1, "bob", "pw-bob").await;
    let (found, _) = bob.search("treasure", None, None, None, None).await;
    assert!(found.is_empty(), "{found:?}");
    bob.send_json(json!({"type":"search","query":"treasure","room":"den","ref":"q"}))
        .await;
    let error = bob.expect_error(ErrorCode::Forbidden).await;
    assert_eq!(error.reference.as_deref(), Some("q"));

    let mut alice_there = cluster.account(1, "alice", "pw-alice").await;
    let (found, _) = alice_there.search("treas", None, None, None, None).await;
    assert_eq!(ids(&found), [hidden.id]);
    assert_eq!(found[0].room, "den");
}
