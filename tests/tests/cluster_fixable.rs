//! Fixable messages through two cluster nodes (PostgreSQL + Redis): an
//! edit, reaction or delete made on one node reaches the other node's
//! members live, once, in id order; the rules hold across nodes; a page
//! built on either node shows each message as it is now; `join since`
//! on the other node catches up every entry about older messages; and a
//! deleted text is gone from every row PostgreSQL can be asked for.

use chat_e2e::TestClient;
use chat_e2e::cluster::Cluster;
use chat_proto::{Entry, ErrorCode, ServerFrame};
use serde_json::json;

/// The most presence frames skipped while waiting for an entry.
const MAX_PRESENCE: usize = 20;

/// The next entry, skipping presence (which travels between nodes on its
/// own path and may come before or after); it must be of `kind`.
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

/// The next error, skipping presence; it must be `code` about `reference`.
async fn error_of(client: &mut TestClient, code: ErrorCode, reference: &str) {
    for _ in 0..MAX_PRESENCE {
        match client.recv().await {
            ServerFrame::Join { .. } | ServerFrame::Leave { .. } => continue,
            ServerFrame::Error {
                code: got,
                reference: got_ref,
                ..
            } if got == code => {
                assert_eq!(got_ref.as_deref(), Some(reference));
                return;
            }
            other => panic!("expected error {}, got {other:?}", code.as_str()),
        }
    }
    panic!("no error after {MAX_PRESENCE} presence frames")
}

/// `frame` sent by `actor`: its ack (with the frame's `ref`) and the same
/// entry, without it, on `other`.
async fn acted(actor: &mut TestClient, other: &mut TestClient, frame: serde_json::Value) -> Entry {
    let kind = frame["type"].as_str().expect("a type").to_owned();
    let reference = frame["ref"].as_str().map(str::to_owned);
    actor.send_json(frame).await;
    let ack = entry_of(actor, &kind).await;
    assert_eq!(ack.reference(), reference.as_deref());
    assert_eq!(entry_of(other, &kind).await, ack.without_reference());
    ack
}

#[tokio::test]
async fn fixes_made_on_one_node_reach_the_other_and_its_pages() {
    let cluster = Cluster::start(2).await;
    let mut alice = cluster.account(0, "alice", "pw-alice").await;
    alice.join("r").await;
    let mut bob = cluster.account(1, "bob", "pw-bob").await;
    bob.join("r").await;

    let secret = "heron-secret-6620";
    let Entry::Message(first) = acted(
        &mut alice,
        &mut bob,
        json!({"type":"message","room":"r","text":secret,"ref":"a1"}),
    )
    .await
    else {
        unreachable!()
    };
    let Entry::Message(answer) = acted(
        &mut bob,
        &mut alice,
        json!({"type":"message","room":"r","text":"on it","reply_to":first.id,"ref":"b1"}),
    )
    .await
    else {
        unreachable!()
    };
    assert_eq!(answer.reply_to, Some(first.id));

    // The rules hold whichever node the request comes through.
    bob.send_json(json!({"type":"edit","room":"r","target":first.id,"text":"mine","ref":"b2"}))
        .await;
    error_of(&mut bob, ErrorCode::Forbidden, "b2").await;
    bob.send_json(json!({"type":"delete","room":"r","target":first.id,"ref":"b3"}))
        .await;
    error_of(&mut bob, ErrorCode::Forbidden, "b3").await;

    let edit = acted(
        &mut alice,
        &mut bob,
        json!({"type":"edit","room":"r","target":first.id,"text":"heron v2","ref":"a2"}),
    )
    .await;
    acted(
        &mut bob,
        &mut alice,
        json!({"type":"react","room":"r","target":first.id,"emoji":"🎉","ref":"b4"}),
    )
    .await;
    bob.send_json(json!({"type":"react","room":"r","target":first.id,"emoji":"🎉","ref":"b5"}))
        .await;
    error_of(&mut bob, ErrorCode::Unchanged, "b5").await;
    acted(
        &mut alice,
        &mut bob,
        json!({"type":"react","room":"r","target":answer.id,"emoji":"👍","ref":"a3"}),
    )
    .await;

    // A page built on the other node shows the state, and a joiner there
    // with `since` gets each later entry once, in order.
    let mut carol = cluster.account(1, "carol", "pw-carol").await;
    let joined = carol.join_with("r", Some(answer.id), None).await;
    let caught: Vec<(u64, &str)> = joined.entries.iter().map(|e| (e.id(), e.kind())).collect();
    assert_eq!(
        caught,
        [
            (edit.id(), "edit"),
            (edit.id() + 1, "react"),
            (edit.id() + 2, "react")
        ]
    );
    let page = carol.join("r").await;
    let shown = &page.history[0];
    assert_eq!(
        (shown.text.as_str(), shown.edited),
        ("heron v2", Some(edit.ts()))
    );
    assert_eq!(shown.reactions["🎉"], ["bob"]);
    assert_eq!(page.history[1].reactions["👍"], ["alice"]);

    let delete = acted(
        &mut alice,
        &mut bob,
        json!({"type":"delete","room":"r","target":first.id,"ref":"a4"}),
    )
    .await;
    assert_eq!(
        entry_of(&mut carol, "delete").await,
        delete.without_reference()
    );
    let page = bob.join("r").await;
    assert!(page.history[0].deleted && page.history[0].text.is_empty());
    assert!(page.history[0].reactions.is_empty());
    let Entry::Edit(erased) = &page.entries[2] else {
        panic!("the edit is the third entry: {:?}", page.entries)
    };
    assert_eq!(erased.text, "", "the edit's text went with its message");
    let left = cluster
        .postgres
        .query(&format!(
            "SELECT count(*) FROM entries WHERE position('heron'::BYTEA IN text) > 0 \
             OR position('{secret}'::BYTEA IN text) > 0"
        ))
        .await;
    assert_eq!(left, "0", "no row PostgreSQL answers with holds the text");
    assert_eq!(
        cluster
            .postgres
            .query(&format!(
                "SELECT count(*) FROM reactions WHERE target = {}",
                first.id
            ))
            .await,
        "0"
    );
}
