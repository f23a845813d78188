//! `typing` (protocol 2, "Your rooms, read markers, typing"): relayed to
//! the room's other members, never to the typist's own connections, never
//! stored or acknowledged, at most one per user and room every 2 s; on a
//! cluster it reaches members on every node.

use std::time::Duration;

use chat_e2e::cluster::Cluster;
use chat_e2e::{ServerOptions, ServerProcess, TestClient};
use chat_proto::{ClientFrame, ErrorCode, ServerFrame};
use tokio::time::Instant;

/// The protocol's interval between two relayed `typing` of one user.
const INTERVAL: Duration = Duration::from_secs(2);

fn typing(room: &str) -> ClientFrame {
    ClientFrame::Typing {
        room: room.into(),
        reference: None,
    }
}

/// The next frame must be `user` typing in `room`; presence frames from
/// another node may come first.
async fn expect_typing(client: &mut TestClient, room: &str, user: &str) {
    for _ in 0..10 {
        match client.recv().await {
            ServerFrame::Join { .. } | ServerFrame::Leave { .. } => continue,
            ServerFrame::Typing {
                room: got_room,
                user: got_user,
            } => {
                assert_eq!((got_room.as_str(), got_user.as_str()), (room, user));
                return;
            }
            other => panic!("{}: expected typing, got {other:?}", client.label()),
        }
    }
    panic!("{}: no typing after 10 presence frames", client.label());
}

#[tokio::test]
async fn typing_reaches_the_others_once_per_interval_and_is_never_stored() {
    let server = ServerProcess::start(ServerOptions::unthrottled()).await;
    let mut alice = server.account("alice", "pw-alice").await;
    let mut alice_phone = server.account("alice", "pw-alice").await;
    let mut bob = server.guest("bob").await;
    alice.join("r").await;
    alice_phone.join("r").await;
    bob.join("r").await;
    alice.expect_join("r", "bob").await;
    alice_phone.expect_join("r", "bob").await;

    // Timed from before the first was sent: it may reach bob up to a
    // presence flush later than the server relayed it, the next one not.
    let first_sent = Instant::now();
    alice.send(&typing("r")).await;
    expect_typing(&mut bob, "r", "alice").await;
    // Never echoed to the typist, on any of its connections.
    alice.barrier().await;
    alice_phone.barrier().await;

    // Another one at once is dropped: alice's barrier proves the server
    // took it before bob's proves nothing reached him.
    alice.send(&typing("r")).await;
    alice.barrier().await;
    bob.barrier().await;

    // Kept typing, at a typist's pace: the next one relayed comes an
    // interval after the first.
    let deadline = Instant::now() + 4 * INTERVAL;
    loop {
        assert!(Instant::now() < deadline, "no second typing relayed");
        alice.send(&typing("r")).await;
        alice.barrier().await;
        bob.send(&ClientFrame::rooms()).await;
        match bob.recv().await {
            ServerFrame::Rooms { .. } => {}
            ServerFrame::Typing { user, .. } if user == "alice" => break,
            other => panic!("bob: expected typing or rooms, got {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        first_sent.elapsed() >= INTERVAL,
        "the second typing came {:?} after the first was sent",
        first_sent.elapsed()
    );
    // Bob's last barrier reply is still to read after the typing.
    assert!(matches!(bob.recv().await, ServerFrame::Rooms { .. }));

    // Not stored: a newcomer's page and the history hold no entry.
    let mut carol = server.guest("carol").await;
    let joined = carol.join("r").await;
    assert!(joined.entries.is_empty(), "stored: {:?}", joined.entries);
    let (page, _) = carol.history("r", None, None, None).await;
    assert!(page.is_empty());

    // A room the session is not in is refused.
    carol.send(&typing("elsewhere")).await;
    carol.expect_error(ErrorCode::NotInRoom).await;
}

#[tokio::test]
async fn typing_on_one_node_reaches_members_on_the_other() {
    let cluster = Cluster::start(2).await;
    let mut alice = cluster.account(0, "alice", "pw-alice").await;
    let mut alice_there = cluster.account(1, "alice", "pw-alice").await;
    let mut bob = cluster.account(1, "bob", "pw-bob").await;
    alice.join("r").await;
    alice_there.join("r").await;
    bob.join("r").await;
    alice.send(&typing("r")).await;
    expect_typing(&mut bob, "r", "alice").await;
    // alice's connection on the other node hears nothing of its own typing
    // (presence from the joins aside).
    alice_there.send(&ClientFrame::rooms()).await;
    for _ in 0..10 {
        match alice_there.recv().await {
            ServerFrame::Join { .. } | ServerFrame::Leave { .. } => continue,
            ServerFrame::Rooms { .. } => return,
            other => panic!("alice on node 1: expected nothing, got {other:?}"),
        }
    }
    panic!("alice on node 1: no rooms reply after 10 presence frames");
}
