//! Direct conversations through two cluster nodes (PostgreSQL + Redis):
//! alice on node 0 writes to bob, whose connections on node 1 get every
//! entry without joining, and his answer from node 1 reaches her; the
//! first message remembers the conversation for both, in PostgreSQL; and
//! typing reaches the partner's connections on the other node.

use chat_e2e::TestClient;
use chat_e2e::cluster::Cluster;
use chat_proto::{Message, ServerFrame};
use serde_json::json;

const ROOM: &str = "@alice+bob";

/// The next frame must be the conversation's message `text` by `user`.
async fn message_of(client: &mut TestClient, user: &str, text: &str) -> Message {
    match client.recv().await {
        ServerFrame::Message(message) => {
            assert_eq!(
                (
                    message.room.as_str(),
                    message.user.as_str(),
                    message.text.as_str()
                ),
                (ROOM, user, text)
            );
            message
        }
        other => panic!("expected {user}'s message {text:?} in {ROOM}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_conversation_reaches_the_partner_on_another_node_without_a_join() {
    let cluster = Cluster::start(2).await;
    let mut alice = cluster.account(0, "alice", "pw-alice").await;
    let mut bob = cluster.account(1, "bob", "pw-bob").await;
    let mut bob_joined = cluster.account(1, "bob", "pw-bob").await;
    let joined = bob_joined.join_as("@alice", ROOM).await;
    assert_eq!(joined.last_id, 0);

    alice
        .send_json(json!({"type":"message","room":"@bob","text":"across nodes","ref":"a1"}))
        .await;
    let ack = message_of(&mut alice, "alice", "across nodes").await;
    assert_eq!(ack.reference.as_deref(), Some("a1"));
    for client in [&mut bob, &mut bob_joined] {
        let seen = message_of(client, "alice", "across nodes").await;
        assert_eq!((seen.id, seen.reference), (ack.id, None));
    }

    // Bob answers from node 1, outside the room; alice, on node 0 and not
    // in it either, gets it.
    bob.send_json(json!({"type":"message","room":"@alice","text":"got it","ref":"b1"}))
        .await;
    let answer = message_of(&mut bob, "bob", "got it").await;
    assert_eq!(
        (answer.id, answer.reference.as_deref()),
        (ack.id + 1, Some("b1"))
    );
    message_of(&mut alice, "bob", "got it").await;
    message_of(&mut bob_joined, "bob", "got it").await;

    let remembering = cluster
        .postgres
        .query(
            "SELECT string_agg(a.name_folded, ',' ORDER BY a.name_folded)
             FROM memberships m JOIN rooms r ON r.id = m.room_id
             JOIN accounts a ON a.id = m.account_id
             WHERE r.name = '@alice+bob' AND m.listed",
        )
        .await;
    assert_eq!(remembering, "alice,bob");

    // Typing crosses nodes too, to the partner's connections only.
    alice
        .send_json(json!({"type":"typing","room":"@bob"}))
        .await;
    for client in [&mut bob, &mut bob_joined] {
        match client.recv().await {
            ServerFrame::Typing { room, user } => {
                assert_eq!((room.as_str(), user.as_str()), (ROOM, "alice"));
            }
            other => panic!("expected alice typing, got {other:?}"),
        }
    }
    // No presence frames, nothing twice.
    for client in [&mut alice, &mut bob, &mut bob_joined] {
        client.barrier().await;
    }
}
