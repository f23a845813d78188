//! Rooms: creating by joining, name folding, `joined` (members, history,
//! `more`, `last_id`), re-joining, leaving, presence on first and last
//! connection and on disconnect, and the `rooms` listing.

use chat_e2e::{ServerOptions, ids, join_in_order, room_info, start_server, start_server_with};
use chat_proto::{ClientFrame, ErrorCode, ServerFrame};

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

#[tokio::test]
async fn joining_creates_a_room_that_rooms_then_lists() {
    let server = start_server().await;
    let mut alice = server.guest("alice").await;
    assert!(
        alice.rooms().await.is_empty(),
        "a fresh server has no rooms"
    );

    let joined = alice.join("lobby").await;
    assert_eq!(joined.members, ["alice"]);
    assert!(joined.history.is_empty());
    assert!(!joined.more);
    assert_eq!(joined.last_id, 0, "an empty room's last_id is 0");

    let rooms = alice.barrier().await;
    assert_eq!(rooms.len(), 1, "{rooms:?}");
    let lobby = room_info(&rooms, "lobby").expect("lobby is listed");
    assert_eq!((lobby.members, lobby.last_id), (1, 0));
}

#[tokio::test]
async fn room_names_are_folded_to_lower_case_in_every_answer() {
    let server = start_server().await;
    let mut alice = server.guest("alice").await;
    let mut bob = server.guest("bob").await;

    let joined = alice.join_as("Lobby", "lobby").await;
    assert_eq!(joined.members, ["alice"]);
    let joined = bob.join_as("LOBBY", "lobby").await;
    assert_eq!(
        sorted(joined.members),
        ["alice", "bob"],
        "one room, whatever the case"
    );
    alice.expect_join("lobby", "bob").await;

    alice
        .send(&ClientFrame::Message {
            room: "LoBbY".into(),
            text: "hi".into(),
            reference: Some("r1".into()),
            reply_to: None,
            action: false,
        })
        .await;
    let ack = alice.expect_message().await;
    assert_eq!(
        (ack.room.as_str(), ack.reference.as_deref()),
        ("lobby", Some("r1"))
    );
    assert_eq!(bob.expect_message().await.room, "lobby");

    bob.send(&ClientFrame::History {
        room: "LOBBY".into(),
        before: None,
        after: None,
        limit: None,
    })
    .await;
    let (messages, _) = bob.expect_history("lobby").await;
    assert_eq!(ids(&messages), [ack.id]);
    assert!(messages.iter().all(|m| m.room == "lobby"));

    let rooms = bob.barrier().await;
    let names: Vec<&str> = rooms.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["lobby"]);

    bob.send(&ClientFrame::Leave {
        room: "Lobby".into(),
    })
    .await;
    bob.expect_leave("lobby", "bob").await;
    alice.expect_leave("lobby", "bob").await;
}

#[tokio::test]
async fn joined_carries_the_newest_messages_ascending_with_more_and_last_id() {
    let server = start_server_with(ServerOptions::unthrottled()).await;
    let mut alice = server.guest("alice").await;
    alice.join("news").await;
    let mut sent = Vec::new();
    for n in 1..=7 {
        sent.push(alice.say("news", &format!("item {n}")).await);
    }
    let sent_ids = ids(&sent);
    assert!(
        sent_ids.windows(2).all(|w| w[0] < w[1]),
        "ids increase: {sent_ids:?}"
    );
    assert!(sent_ids[0] > 0, "ids are positive");

    let mut bob = server.guest("bob").await;
    bob.send(&ClientFrame::Join {
        room: "news".into(),
        since: None,
        limit: Some(3),
    })
    .await;
    let joined = bob.expect_joined("news").await;
    assert_eq!(
        ids(&joined.history),
        sent_ids[4..],
        "the newest 3, oldest first"
    );
    assert!(joined.more, "the page was cut at the limit");
    assert_eq!(joined.last_id, sent_ids[6]);
    assert_eq!(sorted(joined.members), ["alice", "bob"]);
    for (got, want) in joined.history.iter().zip(&sent[4..]) {
        assert_eq!(
            (&got.user, &got.text, got.ts),
            (&want.user, &want.text, want.ts)
        );
        assert_eq!(got.reference, None, "history never carries a ref");
    }
    alice.expect_join("news", "bob").await;

    // Re-joining answers `joined` again (a catch-up) and tells nobody.
    let again = bob.join("news").await;
    assert_eq!(
        ids(&again.history),
        sent_ids,
        "default limit 50 holds all 7"
    );
    assert!(!again.more);
    assert_eq!(again.last_id, sent_ids[6]);

    // A page that holds exactly what is left is not cut.
    bob.send(&ClientFrame::Join {
        room: "news".into(),
        since: None,
        limit: Some(7),
    })
    .await;
    let exact = bob.expect_joined("news").await;
    assert_eq!(ids(&exact.history), sent_ids);
    assert!(!exact.more, "7 of 7 messages: nothing was cut");

    alice.barrier().await;
    bob.barrier().await;
}

#[tokio::test]
async fn rejoining_tells_nobody_and_members_lists_each_user_once() {
    let server = start_server().await;
    let mut alice1 = server.account("alice", "pw-alice").await;
    let mut alice2 = server.account("alice", "pw-alice").await;
    let mut bob = server.guest("bob").await;

    bob.join("den").await;
    alice1.join("den").await;
    bob.expect_join("den", "alice").await;

    let joined = alice2.join("den").await;
    assert_eq!(
        sorted(joined.members),
        ["alice", "bob"],
        "two connections of alice are one member"
    );
    let rooms = bob.barrier().await;
    assert_eq!(room_info(&rooms, "den").map(|r| r.members), Some(2));
    alice1.barrier().await;

    let again = bob.join("den").await;
    assert_eq!(sorted(again.members), ["alice", "bob"]);
    alice1.barrier().await;
    alice2.barrier().await;
}

#[tokio::test]
async fn presence_goes_out_on_the_first_and_last_connection_of_a_user_only() {
    let server = start_server().await;
    let mut alice1 = server.account("alice", "pw-alice").await;
    let mut alice2 = server.account("alice", "pw-alice").await;
    let mut bob = server.guest("bob").await;
    bob.join("hall").await;

    // First connection in: bob hears it; the joiner hears no join of its own.
    alice1.join("hall").await;
    bob.expect_join("hall", "alice").await;
    alice1.barrier().await;

    // Second connection in: nobody hears anything.
    alice2.join("hall").await;
    bob.barrier().await;
    alice1.barrier().await;

    // The first connection leaves: it gets its own leave back, nobody else
    // hears it, and that connection is no longer in the room.
    alice1
        .send(&ClientFrame::Leave {
            room: "hall".into(),
        })
        .await;
    alice1.expect_leave("hall", "alice").await;
    bob.barrier().await;
    alice2.barrier().await;
    alice1
        .send(&ClientFrame::Message {
            room: "hall".into(),
            text: "am I in?".into(),
            reference: Some("a1".into()),
            reply_to: None,
            action: false,
        })
        .await;
    let error = alice1.expect_error(ErrorCode::NotInRoom).await;
    assert_eq!(error.reference.as_deref(), Some("a1"));

    // alice is still a member through her second connection.
    let rooms = bob.barrier().await;
    assert_eq!(room_info(&rooms, "hall").map(|r| r.members), Some(2));
    let ack = alice2.say("hall", "still here").await;
    assert_eq!(bob.expect_message().await.id, ack.id);
    alice1.barrier().await;

    // The last connection leaves: now bob hears it.
    alice2
        .send(&ClientFrame::Leave {
            room: "hall".into(),
        })
        .await;
    alice2.expect_leave("hall", "alice").await;
    bob.expect_leave("hall", "alice").await;
    let rooms = bob.barrier().await;
    assert_eq!(room_info(&rooms, "hall").map(|r| r.members), Some(1));
}

#[tokio::test]
async fn a_disconnect_is_a_leave_from_every_joined_room() {
    let server = start_server().await;
    let mut bob = server.guest("bob").await;
    bob.join("one").await;
    bob.join("two").await;

    // A clean close.
    let mut carol = server.guest("carol").await;
    carol.join("one").await;
    bob.expect_join("one", "carol").await;
    carol.close().await;
    bob.expect_leave("one", "carol").await;

    // A dropped socket, in two rooms.
    let mut dave = server.guest("dave").await;
    dave.join("one").await;
    bob.expect_join("one", "dave").await;
    dave.join("two").await;
    bob.expect_join("two", "dave").await;
    drop(dave);
    let mut left = Vec::new();
    for _ in 0..2 {
        match bob.recv().await {
            ServerFrame::Leave { room, user, .. } => {
                assert_eq!(user, "dave");
                left.push(room);
            }
            other => panic!("expected dave's leaves, got {other:?}"),
        }
    }
    assert_eq!(sorted(left), ["one", "two"]);

    let rooms = bob.barrier().await;
    assert_eq!(room_info(&rooms, "one").map(|r| r.members), Some(1));
    assert_eq!(room_info(&rooms, "two").map(|r| r.members), Some(1));
}

#[tokio::test]
async fn leaving_confirms_to_the_leaver_and_tells_the_others() {
    let server = start_server().await;
    let mut alice = server.guest("alice").await;
    let mut bob = server.guest("bob").await;
    let mut carol = server.guest("carol").await;
    join_in_order(&mut [&mut alice, &mut bob, &mut carol], "hall").await;

    bob.send(&ClientFrame::Leave {
        room: "hall".into(),
    })
    .await;
    bob.expect_leave("hall", "bob").await;
    alice.expect_leave("hall", "bob").await;
    carol.expect_leave("hall", "bob").await;

    // bob no longer gets the room's messages.
    let ack = alice.say("hall", "bob is gone").await;
    assert_eq!(carol.expect_message().await.id, ack.id);
    bob.barrier().await;

    // Rejoining after a leave is a first connection again.
    let joined = bob.join("hall").await;
    assert_eq!(ids(&joined.history), [ack.id], "the message bob missed");
    alice.expect_join("hall", "bob").await;
    carol.expect_join("hall", "bob").await;
}

#[tokio::test]
async fn rooms_lists_every_room_with_members_and_last_id() {
    let server = start_server().await;
    let mut alice = server.guest("alice").await;
    let mut bob = server.guest("bob").await;
    alice.join("apples").await;
    join_in_order(&mut [&mut alice, &mut bob], "pears").await;

    let a1 = alice.say("apples", "one").await;
    let a2 = alice.say("apples", "two").await;
    let p1 = bob.say("pears", "three").await;
    assert_eq!(alice.expect_message().await.id, p1.id);
    assert!(a2.id > a1.id);

    let rooms = alice.rooms().await;
    assert_eq!(rooms.len(), 2, "{rooms:?}");
    let apples = room_info(&rooms, "apples").expect("apples listed");
    assert_eq!((apples.members, apples.last_id), (1, a2.id));
    let pears = room_info(&rooms, "pears").expect("pears listed");
    assert_eq!((pears.members, pears.last_id), (2, p1.id));

    // A room everybody left is still a room of the server.
    alice
        .send(&ClientFrame::Leave {
            room: "apples".into(),
        })
        .await;
    alice.expect_leave("apples", "alice").await;
    let rooms = bob.rooms().await;
    let apples = room_info(&rooms, "apples").expect("apples still listed");
    assert_eq!((apples.members, apples.last_id), (0, a2.id));
    assert_eq!(room_info(&rooms, "pears").map(|r| r.members), Some(2));
}
