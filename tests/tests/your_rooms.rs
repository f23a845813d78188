//! Your rooms and read markers (protocol 2, "Your rooms, read markers,
//! typing") on one node: a registered user's rooms are remembered across
//! reconnects and restarts, `leave`, kick and ban take a room out, guests
//! remember none; `read` only moves forward, stops at the newest entry,
//! reaches only the same user's other connections, and comes back in
//! `rooms mine` and `joined`.

use chat_e2e::{ServerOptions, ServerProcess, TestClient};
use chat_proto::{Entry, ErrorCode, RoomInfo, ServerFrame};
use serde_json::json;

/// The most presence frames skipped while waiting for another frame.
const MAX_PRESENCE: usize = 20;

fn options() -> ServerOptions {
    ServerOptions::unthrottled()
}

/// The next frame that is not presence.
async fn next_not_presence(client: &mut TestClient) -> ServerFrame {
    for _ in 0..MAX_PRESENCE {
        match client.recv().await {
            ServerFrame::Join { .. } | ServerFrame::Leave { .. } => continue,
            frame => return frame,
        }
    }
    panic!("{}: only presence frames", client.label());
}

/// `rooms mine`: the answer, which must be the next frame but presence.
async fn mine(client: &mut TestClient) -> Vec<RoomInfo> {
    client.send_json(json!({"type":"rooms","mine":true})).await;
    match next_not_presence(client).await {
        ServerFrame::Rooms {
            mine: true,
            rooms,
            more: false,
        } => rooms,
        other => panic!("{}: expected rooms mine, got {other:?}", client.label()),
    }
}

/// Names, members, newest id and read marker of each listed room.
fn summary(rooms: &[RoomInfo]) -> Vec<(String, u32, u64, Option<u64>)> {
    rooms
        .iter()
        .map(|room| (room.name.clone(), room.members, room.last_id, room.read_id))
        .collect()
}

fn row(name: &str, members: u32, last_id: u64, read_id: u64) -> (String, u32, u64, Option<u64>) {
    (name.to_owned(), members, last_id, Some(read_id))
}

async fn read(client: &mut TestClient, room: &str, id: u64) {
    client
        .send_json(json!({"type":"read","room":room,"id":id}))
        .await;
}

/// The next frame but presence must be `read` of `room` at `id`.
async fn expect_read(client: &mut TestClient, room: &str, id: u64) {
    match next_not_presence(client).await {
        ServerFrame::Read { room: got, id: at } => {
            assert_eq!((got.as_str(), at), (room, id), "{}", client.label());
        }
        other => panic!(
            "{}: expected read {room} {id}, got {other:?}",
            client.label()
        ),
    }
}

/// The next entry of `kind`, skipping presence.
async fn entry_of(client: &mut TestClient, kind: &str) -> Entry {
    let frame = next_not_presence(client).await;
    match Entry::try_from(frame) {
        Ok(entry) if entry.kind() == kind => entry,
        other => panic!("{}: expected a {kind} entry, got {other:?}", client.label()),
    }
}

#[tokio::test]
async fn remembered_rooms_outlive_the_connection_and_a_restart_until_leave() {
    let mut server = ServerProcess::start(options()).await;
    let mut alice = server.account("alice", "pw-alice").await;
    for room in ["beta", "alpha"] {
        alice.join(room).await;
        alice.say(room, "hello").await;
    }
    alice.say("alpha", "again").await;
    read(&mut alice, "alpha", 1).await;
    assert_eq!(
        summary(&mine(&mut alice).await),
        [row("alpha", 1, 2, 1), row("beta", 1, 1, 0)]
    );
    let listed = mine(&mut alice).await;
    assert_eq!(listed[0].topic.as_deref(), Some(""));
    assert_eq!(listed[0].private, Some(false));

    // A disconnect forgets nothing; nobody is in the rooms now.
    alice.close().await;
    let mut alice = server.account("alice", "pw-alice").await;
    assert_eq!(
        summary(&mine(&mut alice).await),
        [row("alpha", 0, 2, 1), row("beta", 0, 1, 0)]
    );
    alice.close().await;

    server.restart().await;
    let mut alice = server.account("alice", "pw-alice").await;
    assert_eq!(
        summary(&mine(&mut alice).await),
        [row("alpha", 0, 2, 1), row("beta", 0, 1, 0)]
    );
    let joined = alice.join("alpha").await;
    assert_eq!(joined.details.expect("details").read_id, 1);
    alice.join("beta").await;
    alice.send_json(json!({"type":"leave","room":"beta"})).await;
    alice.expect_leave("beta", "alice").await;
    assert_eq!(summary(&mine(&mut alice).await), [row("alpha", 1, 2, 1)]);
    // Joined again: listed again, its marker kept.
    alice.join("beta").await;
    assert_eq!(
        summary(&mine(&mut alice).await),
        [row("alpha", 1, 2, 1), row("beta", 1, 1, 0)]
    );
}

#[tokio::test]
async fn a_kick_or_a_ban_takes_the_room_out_of_the_subjects_rooms() {
    let server = ServerProcess::start(options()).await;
    let mut alice = server.account("alice", "pw-alice").await;
    let mut bob = server.account("bob", "pw-bob").await;
    for room in ["kicked", "banned"] {
        alice.join(room).await;
        alice.say(room, "mine").await;
        bob.join(room).await;
        alice.expect_join(room, "bob").await;
    }
    bob.join("own").await;
    bob.say("own", "kept").await;
    assert_eq!(mine(&mut bob).await.len(), 3);

    alice
        .send_json(json!({"type":"kick","room":"kicked","subject":"bob"}))
        .await;
    entry_of(&mut alice, "kick").await;
    entry_of(&mut bob, "kick").await;
    let names: Vec<String> = mine(&mut bob).await.into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["banned", "own"]);

    alice
        .send_json(json!({"type":"ban","room":"banned","subject":"bob"}))
        .await;
    entry_of(&mut alice, "ban").await;
    entry_of(&mut bob, "ban").await;
    assert_eq!(summary(&mine(&mut bob).await), [row("own", 1, 1, 0)]);
    // The owner's list is untouched.
    assert_eq!(mine(&mut alice).await.len(), 2);
}

#[tokio::test]
async fn guests_remember_no_rooms_and_their_marker_is_the_connections() {
    let server = ServerProcess::start(options()).await;
    let mut dan = server.guest("dan").await;
    dan.join("r").await;
    for text in ["one", "two", "three"] {
        dan.say("r", text).await;
    }
    assert!(mine(&mut dan).await.is_empty());
    read(&mut dan, "r", 2).await;
    read(&mut dan, "r", 1).await;
    dan.barrier().await;
    dan.send_json(json!({"type":"leave","room":"r"})).await;
    dan.expect_leave("r", "dan").await;
    assert_eq!(dan.join("r").await.details.expect("details").read_id, 2);
    // Past the newest entry, it stops there.
    read(&mut dan, "r", 50).await;
    dan.send_json(json!({"type":"leave","room":"r"})).await;
    dan.expect_leave("r", "dan").await;
    assert_eq!(dan.join("r").await.details.expect("details").read_id, 3);
    dan.close().await;
    // A new connection starts with no marker.
    let mut dan = server.guest("dan").await;
    assert_eq!(dan.join("r").await.details.expect("details").read_id, 0);
    assert!(mine(&mut dan).await.is_empty());
}

#[tokio::test]
async fn read_moves_forward_and_reaches_only_the_users_other_connections() {
    let server = ServerProcess::start(options()).await;
    let mut alice = server.account("alice", "pw-alice").await;
    let mut phone = server.account("alice", "pw-alice").await;
    let mut bob = server.account("bob", "pw-bob").await;
    alice.join("r").await;
    bob.join("r").await;
    alice.expect_join("r", "bob").await;
    for text in ["one", "two", "three"] {
        alice.say("r", text).await;
    }
    bob.messages(3).await;

    // Not joined here: not_in_room.
    read(&mut phone, "r", 1).await;
    phone.expect_error(ErrorCode::NotInRoom).await;

    alice
        .send_json(json!({"type":"read","room":"r","id":2,"ref":"m1"}))
        .await;
    expect_read(&mut phone, "r", 2).await;
    // No answer to the reader, nothing to anybody else.
    alice.barrier().await;
    bob.barrier().await;

    // Backwards, or the same again: nothing moves, nothing is sent.
    read(&mut alice, "r", 1).await;
    read(&mut alice, "r", 2).await;
    alice.barrier().await;
    phone.barrier().await;

    // Past the newest entry: it stops there.
    read(&mut alice, "r", 99).await;
    expect_read(&mut phone, "r", 3).await;
    alice.barrier().await;
    bob.barrier().await;

    // The second connection sees the same rooms, counted, with the marker.
    assert_eq!(summary(&mine(&mut phone).await), [row("r", 2, 3, 3)]);
    assert_eq!(summary(&mine(&mut bob).await), [row("r", 2, 3, 0)]);
    assert_eq!(phone.join("r").await.details.expect("details").read_id, 3);
    assert_eq!(summary(&mine(&mut alice).await), [row("r", 2, 3, 3)]);

    // Another connection's read moving it further reaches the first.
    alice.say("r", "four").await;
    phone.expect_message().await;
    bob.expect_message().await;
    read(&mut phone, "r", 4).await;
    expect_read(&mut alice, "r", 4).await;
    phone.barrier().await;
    bob.barrier().await;

    // The connection that once asked past the newest entry still moves it
    // on when a newer one arrives.
    alice.say("r", "five").await;
    phone.expect_message().await;
    bob.expect_message().await;
    read(&mut alice, "r", 5).await;
    expect_read(&mut phone, "r", 5).await;
    alice.barrier().await;
}
