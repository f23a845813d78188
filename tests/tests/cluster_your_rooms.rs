//! Your rooms and read markers through two cluster nodes (PostgreSQL +
//! Redis): a `read` on one node reaches the user's connection on the
//! other (and nobody else), and `rooms mine` says the same on both nodes,
//! members counted across the cluster.

use chat_e2e::TestClient;
use chat_e2e::cluster::Cluster;
use chat_proto::{RoomInfo, ServerFrame};
use serde_json::json;

/// The most presence frames skipped while waiting for another frame.
const MAX_PRESENCE: usize = 20;

/// The next frame that is not presence (which travels between nodes on
/// its own path and may come before or after).
async fn next_not_presence(client: &mut TestClient) -> ServerFrame {
    for _ in 0..MAX_PRESENCE {
        match client.recv().await {
            ServerFrame::Join { .. } | ServerFrame::Leave { .. } => continue,
            frame => return frame,
        }
    }
    panic!("{}: only presence frames", client.label());
}

/// `rooms mine` as (name, members, newest id, read marker).
async fn mine(client: &mut TestClient) -> Vec<(String, u32, u64, Option<u64>)> {
    client.send_json(json!({"type":"rooms","mine":true})).await;
    match next_not_presence(client).await {
        ServerFrame::Rooms {
            mine: true, rooms, ..
        } => rooms
            .iter()
            .map(|room: &RoomInfo| (room.name.clone(), room.members, room.last_id, room.read_id))
            .collect(),
        other => panic!("{}: expected rooms mine, got {other:?}", client.label()),
    }
}

/// Nothing but presence before the answer to `rooms mine`.
async fn nothing_else(client: &mut TestClient) {
    mine(client).await;
}

#[tokio::test]
async fn a_read_on_one_node_reaches_the_users_connection_on_the_other() {
    let cluster = Cluster::start(2).await;
    let mut alice = cluster.account(0, "alice", "pw-alice").await;
    let mut alice_far = cluster.account(1, "alice", "pw-alice").await;
    let mut bob = cluster.account(1, "bob", "pw-bob").await;
    alice.join("r").await;
    bob.join("r").await;
    alice.expect_join("r", "bob").await;
    for text in ["one", "two", "three"] {
        alice.say("r", text).await;
    }
    for _ in 0..3 {
        bob.message_after_presence(MAX_PRESENCE).await;
    }

    alice
        .send_json(json!({"type":"read","room":"r","id":2}))
        .await;
    match next_not_presence(&mut alice_far).await {
        ServerFrame::Read { room, id } => assert_eq!((room.as_str(), id), ("r", 2)),
        other => panic!("alice on node 1: expected read, got {other:?}"),
    }
    nothing_else(&mut alice).await;
    nothing_else(&mut bob).await;

    // The same list on both nodes: alice and bob are in r.
    let expected = vec![("r".to_owned(), 2, 3, Some(2))];
    assert_eq!(mine(&mut alice).await, expected);
    assert_eq!(mine(&mut alice_far).await, expected);
    assert_eq!(mine(&mut bob).await, vec![("r".to_owned(), 2, 3, Some(0))]);
}
