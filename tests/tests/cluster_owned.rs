//! Rooms people own through two cluster nodes (PostgreSQL + Redis): a
//! kick or ban made on one node acts on the subject's connection on the
//! other, a ban holds on every node, and an invitation reaches the
//! invitee on another node outside the room.

use chat_e2e::TestClient;
use chat_e2e::cluster::Cluster;
use chat_proto::{ClientFrame, Entry, ErrorCode, ServerFrame};
use serde_json::json;

/// The most presence frames skipped while waiting for an entry.
const MAX_PRESENCE: usize = 20;

/// The next entry of `kind`, skipping presence (which travels between
/// nodes on its own path and may come before or after).
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

/// The next error, skipping presence.
async fn error_of(client: &mut TestClient, code: ErrorCode) {
    for _ in 0..MAX_PRESENCE {
        match client.recv().await {
            ServerFrame::Join { .. } | ServerFrame::Leave { .. } => continue,
            ServerFrame::Error { code: got, .. } if got == code => return,
            other => panic!("expected error {}, got {other:?}", code.as_str()),
        }
    }
    panic!("no error after {MAX_PRESENCE} presence frames")
}

#[tokio::test]
async fn kick_ban_and_invite_on_one_node_act_on_the_other() {
    let cluster = Cluster::start(2).await;
    let mut alice = cluster.account(0, "alice", "pw-alice").await;
    let owner = alice.join("r").await.details.expect("details").owner;
    assert_eq!(owner.as_deref(), Some("alice"));
    let mut bob = cluster.account(1, "bob", "pw-bob").await;
    bob.join("r").await;
    let mut bob_here = cluster.account(0, "bob", "pw-bob").await;
    bob_here.join("r").await;
    let mut carol = cluster.account(1, "carol", "pw-carol").await;
    carol.join("lobby").await;

    alice
        .send_json(json!({"type":"kick","room":"r","subject":"bob","reason":"spam"}))
        .await;
    let Entry::Kick(kick) = entry_of(&mut alice, "kick").await else {
        unreachable!()
    };
    assert_eq!(kick.reason.as_deref(), Some("spam"));
    for b in [&mut bob, &mut bob_here] {
        let Entry::Kick(seen) = entry_of(b, "kick").await else {
            unreachable!()
        };
        assert_eq!((seen.id, seen.subject.as_str()), (kick.id, "bob"));
        b.send(&ClientFrame::message("r", "still in?", None)).await;
        error_of(b, ErrorCode::NotInRoom).await;
    }

    bob.join("r").await;
    alice
        .send_json(json!({"type":"ban","room":"r","subject":"bob"}))
        .await;
    entry_of(&mut alice, "ban").await;
    entry_of(&mut bob, "ban").await;
    bob.send(&ClientFrame::message("r", "still in?", None))
        .await;
    error_of(&mut bob, ErrorCode::NotInRoom).await;
    for b in [&mut bob, &mut bob_here] {
        b.send_json(json!({"type":"join","room":"r"})).await;
        error_of(b, ErrorCode::Forbidden).await;
    }

    alice
        .send_json(json!({"type":"invite","room":"r","subject":"carol"}))
        .await;
    let Entry::Invite(invite) = entry_of(&mut alice, "invite").await else {
        unreachable!()
    };
    let Entry::Invite(seen) = entry_of(&mut carol, "invite").await else {
        unreachable!()
    };
    assert_eq!((seen.id, seen.subject.as_str()), (invite.id, "carol"));
    let bans = cluster
        .postgres
        .query("SELECT string_agg(name_folded, ',') FROM bans")
        .await;
    assert_eq!(bans, "bob");
}
