//! Protocol 2, direct conversations, on a single SQLite node over real
//! sockets: a message to `@bob` needs no join and reaches every connection
//! of both users, joined or not; only its two registered users may use it;
//! a partner without an account is `not_found`; it has no moderation, no
//! presence and no place in the plain room list; `join` gives its history
//! and catch-up; edits, reactions and typing work as in rooms; and its
//! first message remembers it for both users in the store.

use chat_e2e::db::{stored_messages, stored_remembering, stored_room_names};
use chat_e2e::{InProcessServer, ServerOptions, TestClient, start_server_with};
use chat_proto::{Entry, ErrorCode, Message, Role, ServerFrame};
use serde_json::json;

const ROOM: &str = "@alice+bob";

async fn server() -> InProcessServer {
    start_server_with(ServerOptions::unthrottled()).await
}

/// The next frame must be the live entry of `kind` from `user` in the
/// conversation; returns it.
async fn expect_entry(client: &mut TestClient, kind: &str, user: &str) -> Entry {
    let frame = client
        .expect(&format!("a {kind} entry by {user} in {ROOM}"), |frame| {
            Entry::try_from(frame.clone())
                .is_ok_and(|e| e.kind() == kind && e.user() == user && e.room() == ROOM)
        })
        .await;
    Entry::try_from(frame).expect("an entry")
}

/// The next frame must be the conversation's message `text` from `user`,
/// without a `ref`.
async fn expect_message(client: &mut TestClient, user: &str, text: &str) -> Message {
    let message = client.expect_message().await;
    assert_eq!(
        (
            message.room.as_str(),
            message.user.as_str(),
            message.text.as_str()
        ),
        (ROOM, user, text)
    );
    assert_eq!(
        message.reference, None,
        "only the sender's copy has the ref"
    );
    message
}

/// Sends `text` to `room` (as written) with `reference`; the next frame
/// must be its acknowledgement, named with the canonical name.
async fn post(client: &mut TestClient, room: &str, text: &str, reference: &str) -> Message {
    client
        .send_json(json!({"type":"message","room":room,"text":text,"ref":reference}))
        .await;
    let ack = client.expect_message().await;
    assert_eq!((ack.room.as_str(), ack.text.as_str()), (ROOM, text));
    assert_eq!(ack.reference.as_deref(), Some(reference));
    ack
}

/// Alice and bob hold accounts; bob has two connections.
async fn alice_and_two_bobs(server: &InProcessServer) -> (TestClient, TestClient, TestClient) {
    let alice = server.account("alice", "pw-alice").await;
    let bob_joined = server.account("bob", "pw-bob").await;
    let bob_elsewhere = server.account("bob", "pw-bob").await;
    (alice, bob_joined, bob_elsewhere)
}

#[tokio::test]
async fn a_message_needs_no_join_and_reaches_every_connection_of_both() {
    let server = server().await;
    let (mut alice, mut bob_joined, mut bob_elsewhere) = alice_and_two_bobs(&server).await;
    // One of bob's connections joins, by the shorthand, answered with the
    // full name: private, no owner, no ops.
    let joined = bob_joined.join_as("@Alice", ROOM).await;
    let details = joined.details.expect("a protocol-2 joined");
    assert_eq!(
        (details.owner, details.ops, details.private, details.role),
        (None, Vec::new(), true, Role::Member)
    );
    assert_eq!((joined.last_id, joined.history.len()), (0, 0));
    assert_eq!(joined.members, ["bob"]);

    // Alice never joins: `@bob` is her conversation with bob.
    let ack = post(&mut alice, "@bob", "hello bob", "a1").await;
    assert_eq!(ack.user, "alice");
    let seen = expect_message(&mut bob_joined, "alice", "hello bob").await;
    assert_eq!(seen.id, ack.id);
    expect_message(&mut bob_elsewhere, "alice", "hello bob").await;

    // Bob answers from the connection that did not join, by the full name
    // in another order and case.
    let reply = post(&mut bob_elsewhere, "@BOB+alice", "hi alice", "b1").await;
    assert_eq!(reply.id, ack.id + 1);
    expect_message(&mut alice, "bob", "hi alice").await;
    expect_message(&mut bob_joined, "bob", "hi alice").await;

    // Nothing else: no presence frames in a conversation, no copies twice.
    for client in [&mut alice, &mut bob_joined, &mut bob_elsewhere] {
        client.barrier().await;
    }
    let stored = stored_messages(server.db_path(), ROOM).await.unwrap();
    let texts: Vec<&str> = stored.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["hello bob", "hi alice"]);
}

#[tokio::test]
async fn the_first_message_remembers_the_conversation_for_both_users() {
    let server = server().await;
    let mut alice = server.account("Alice", "pw-alice").await;
    let mut bob = server.account("bob", "pw-bob").await;
    assert_eq!(
        stored_remembering(server.db_path(), ROOM).await.unwrap(),
        Vec::<String>::new()
    );
    alice
        .send_json(json!({"type":"message","room":"@bob","text":"first","ref":"a1"}))
        .await;
    let ack = alice.expect_message().await;
    assert_eq!((ack.room.as_str(), ack.user.as_str()), (ROOM, "Alice"));
    assert_eq!(
        stored_remembering(server.db_path(), ROOM).await.unwrap(),
        ["alice", "bob"]
    );
    // Both see it in `rooms mine`, with its newest id, before joining it.
    for client in [&mut alice, &mut bob] {
        client.send_json(json!({"type":"rooms","mine":true})).await;
        let rooms = loop {
            match client.recv().await {
                ServerFrame::Rooms {
                    mine: true, rooms, ..
                } => break rooms,
                ServerFrame::Message(_) => continue,
                other => panic!("{}: expected rooms mine, got {other:?}", client.label()),
            }
        };
        let listed: Vec<(&str, u64)> = rooms.iter().map(|r| (r.name.as_str(), r.last_id)).collect();
        assert_eq!(listed, [(ROOM, 1)], "{}", client.label());
    }
}

#[tokio::test]
async fn only_its_two_users_may_use_it_and_guests_never() {
    let server = server().await;
    let (mut alice, mut bob, _) = alice_and_two_bobs(&server).await;
    post(&mut alice, "@bob", "just us", "a1").await;
    bob.expect_message().await;

    let mut carol = server.account("carol", "pw-carol").await;
    let mut guest = server.guest("dave").await;
    for client in [&mut carol, &mut guest] {
        client
            .send_json(json!({"type":"message","room":ROOM,"text":"let me in","ref":"m"}))
            .await;
        client.expect_refused(ErrorCode::Forbidden, "m").await;
        client.send_json(json!({"type":"join","room":ROOM})).await;
        client.expect_error(ErrorCode::Forbidden).await;
        client
            .send_json(json!({"type":"history","room":ROOM}))
            .await;
        client.expect_error(ErrorCode::Forbidden).await;
        client
            .send_json(json!({"type":"react","room":ROOM,"target":1,"emoji":"👍","ref":"r"}))
            .await;
        client.expect_refused(ErrorCode::Forbidden, "r").await;
    }
    // A guest's own conversation is forbidden too: conversations are for
    // accounts.
    guest
        .send_json(json!({"type":"message","room":"@alice","text":"hi","ref":"g"}))
        .await;
    guest.expect_refused(ErrorCode::Forbidden, "g").await;
    // Nobody else got a thing.
    alice.barrier().await;
    bob.barrier().await;
    let stored = stored_messages(server.db_path(), ROOM).await.unwrap();
    assert_eq!(stored.len(), 1);
    // Refused before the store: others' requests make no room.
    let rooms = stored_room_names(server.db_path()).await.unwrap();
    assert!(!rooms.contains(&"@alice+dave".to_owned()), "{rooms:?}");
}

#[tokio::test]
async fn a_partner_without_an_account_is_not_found_and_oneself_is_forbidden() {
    let server = server().await;
    let mut alice = server.account("alice", "pw-alice").await;
    let _guest_zed = server.guest("zed").await;
    for partner in ["@nobody", "@zed"] {
        alice
            .send_json(json!({"type":"message","room":partner,"text":"anyone?","ref":"n"}))
            .await;
        alice.expect_refused(ErrorCode::NotFound, "n").await;
        alice.send_json(json!({"type":"join","room":partner})).await;
        alice.expect_error(ErrorCode::NotFound).await;
    }
    alice
        .send_json(json!({"type":"message","room":"@ALICE","text":"me","ref":"s"}))
        .await;
    alice.expect_refused(ErrorCode::Forbidden, "s").await;
    alice
        .send_json(json!({"type":"join","room":"@a+b+c"}))
        .await;
    alice.expect_error(ErrorCode::InvalidName).await;
    // Refused before the store: no room was made for them.
    let rooms = stored_room_names(server.db_path()).await.unwrap();
    assert!(rooms.iter().all(|room| !room.starts_with('@')), "{rooms:?}");
}

#[tokio::test]
async fn moderation_and_settings_are_forbidden_in_a_conversation() {
    let server = server().await;
    let (mut alice, mut bob, _) = alice_and_two_bobs(&server).await;
    post(&mut alice, "@bob", "no owners here", "a1").await;
    bob.expect_message().await;
    let requests = [
        json!({"type":"topic","room":ROOM,"topic":"ours","ref":"t"}),
        json!({"type":"role","room":ROOM,"subject":"bob","role":"op","ref":"t"}),
        json!({"type":"kick","room":ROOM,"subject":"bob","ref":"t"}),
        json!({"type":"ban","room":ROOM,"subject":"bob","ref":"t"}),
        json!({"type":"unban","room":ROOM,"subject":"bob","ref":"t"}),
        json!({"type":"invite","room":ROOM,"subject":"bob","ref":"t"}),
        json!({"type":"settings","room":ROOM,"private":false,"ref":"t"}),
        json!({"type":"delete_room","room":ROOM,"ref":"t"}),
    ];
    for request in requests {
        alice.send_json(request.clone()).await;
        let error = alice.expect_error(ErrorCode::Forbidden).await;
        assert_eq!(error.reference.as_deref(), Some("t"), "{request}");
    }
    bob.barrier().await;
    let stored = stored_messages(server.db_path(), ROOM).await.unwrap();
    assert_eq!(stored.len(), 1, "the conversation is still there");
}

#[tokio::test]
async fn a_conversation_is_never_in_the_plain_room_list() {
    let server = server().await;
    let (mut alice, mut bob, _) = alice_and_two_bobs(&server).await;
    alice.join("lobby").await;
    alice.say("lobby", "in the open").await;
    post(&mut alice, "@bob", "between us", "a1").await;
    bob.expect_message().await;
    bob.join("@alice+bob").await;
    for client in [&mut alice, &mut bob] {
        let names: Vec<String> = client.rooms().await.into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["lobby"]);
    }
    bob.send_json(json!({"type":"rooms","query":"alice"})).await;
    assert!(bob.expect_rooms().await.is_empty());
}

#[tokio::test]
async fn join_gives_the_history_and_since_catches_up() {
    let server = server().await;
    let (mut alice, mut bob, mut bob_elsewhere) = alice_and_two_bobs(&server).await;
    let mut ids = Vec::new();
    for (n, text) in ["one", "two", "three"].into_iter().enumerate() {
        ids.push(post(&mut alice, "@bob", text, &format!("a{n}")).await.id);
        bob.expect_message().await;
        bob_elsewhere.expect_message().await;
    }
    let joined = bob.join(ROOM).await;
    let texts: Vec<&str> = joined.history.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["one", "two", "three"]);
    assert_eq!(joined.last_id, ids[2]);

    // The other connection missed nothing but catches up from `since`, and
    // pages history without joining.
    post(&mut alice, "@bob", "four", "a4").await;
    bob.expect_message().await;
    bob_elsewhere.expect_message().await;
    let (page, more) = bob_elsewhere.history(ROOM, None, Some(ids[1]), None).await;
    let texts: Vec<&str> = page.iter().map(|m| m.text.as_str()).collect();
    assert_eq!((texts, more), (vec!["three", "four"], false));
    let caught_up = bob_elsewhere.join_with(ROOM, Some(ids[2]), None).await;
    let texts: Vec<&str> = caught_up.history.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["four"]);
    // Joined now, it still gets each message once.
    post(&mut alice, "@bob", "five", "a5").await;
    expect_message(&mut bob_elsewhere, "alice", "five").await;
    bob_elsewhere.barrier().await;
}

#[tokio::test]
async fn edits_deletes_and_reactions_work_without_joining() {
    let server = server().await;
    let (mut alice, mut bob, mut bob_elsewhere) = alice_and_two_bobs(&server).await;
    bob.join(ROOM).await;
    let id = post(&mut alice, "@bob", "helo", "a1").await.id;
    bob.expect_message().await;
    bob_elsewhere.expect_message().await;

    alice
        .send_json(json!({"type":"edit","room":"@bob","target":id,"text":"hello","ref":"e1"}))
        .await;
    let edit = expect_entry(&mut alice, "edit", "alice").await;
    assert_eq!(edit.reference(), Some("e1"));
    for client in [&mut bob, &mut bob_elsewhere] {
        expect_entry(client, "edit", "alice").await;
    }
    bob_elsewhere
        .send_json(json!({"type":"react","room":"@alice","target":id,"emoji":"👍","ref":"r1"}))
        .await;
    let react = expect_entry(&mut bob_elsewhere, "react", "bob").await;
    assert_eq!(react.reference(), Some("r1"));
    for client in [&mut alice, &mut bob] {
        expect_entry(client, "react", "bob").await;
    }
    // Bob may not edit alice's message, as in any room.
    bob.send_json(json!({"type":"edit","room":ROOM,"target":id,"text":"mine","ref":"e2"}))
        .await;
    bob.expect_refused(ErrorCode::Forbidden, "e2").await;

    let second = post(&mut bob_elsewhere, "@alice", "oops", "b2").await.id;
    alice.expect_message().await;
    bob.expect_message().await;
    bob_elsewhere
        .send_json(json!({"type":"delete","room":ROOM,"target":second,"ref":"d1"}))
        .await;
    expect_entry(&mut bob_elsewhere, "delete", "bob").await;
    expect_entry(&mut alice, "delete", "bob").await;
    expect_entry(&mut bob, "delete", "bob").await;

    let mut alice_later = server.account("alice", "pw-alice").await;
    let joined = alice_later.join(ROOM).await;
    let first = &joined.history[0];
    assert_eq!(first.text, "hello");
    assert!(first.edited.is_some());
    assert_eq!(first.reactions.get("👍"), Some(&vec!["bob".to_owned()]));
    let gone = joined
        .history
        .iter()
        .find(|m| m.id == second)
        .expect("the deleted message's place");
    assert!(gone.deleted && gone.text.is_empty());
    alice_later.barrier().await;
}

#[tokio::test]
async fn typing_reaches_the_partner_without_a_join_and_never_the_typist() {
    let server = server().await;
    let (mut alice, mut bob_joined, mut bob_elsewhere) = alice_and_two_bobs(&server).await;
    let mut alice_phone = server.account("alice", "pw-alice").await;
    bob_joined.join(ROOM).await;
    alice
        .send_json(json!({"type":"typing","room":"@bob"}))
        .await;
    for bob in [&mut bob_joined, &mut bob_elsewhere] {
        match bob.recv().await {
            ServerFrame::Typing { room, user } => {
                assert_eq!((room.as_str(), user.as_str()), (ROOM, "alice"));
            }
            other => panic!("expected alice typing, got {other:?}"),
        }
    }
    // At once again: within the interval, dropped. Never to alice's own
    // connections.
    alice.send_json(json!({"type":"typing","room":ROOM})).await;
    for client in [
        &mut alice,
        &mut alice_phone,
        &mut bob_joined,
        &mut bob_elsewhere,
    ] {
        client.barrier().await;
    }
    let mut carol = server.account("carol", "pw-carol").await;
    carol
        .send_json(json!({"type":"typing","room":ROOM,"ref":"t"}))
        .await;
    carol.expect_refused(ErrorCode::Forbidden, "t").await;
    bob_elsewhere.barrier().await;
}

#[tokio::test]
async fn search_finds_a_conversation_for_its_two_users_only() {
    let server = server().await;
    let (mut alice, mut bob, _) = alice_and_two_bobs(&server).await;
    post(&mut alice, "@bob", "secret plans", "a1").await;
    bob.expect_message().await;
    let mut carol = server.account("carol", "pw-carol").await;
    carol.join("lobby").await;
    carol.say("lobby", "public plans").await;

    let found = |messages: &[Message]| -> Vec<(String, String)> {
        messages
            .iter()
            .map(|m| (m.room.clone(), m.text.clone()))
            .collect()
    };
    let (mine, _) = bob.search("plans", None, None, None, None).await;
    assert_eq!(
        found(&mine),
        [
            ("lobby".to_owned(), "public plans".to_owned()),
            (ROOM.to_owned(), "secret plans".to_owned())
        ]
    );
    // Another user finds only the public room's, and is refused when
    // naming the conversation.
    let (theirs, _) = carol.search("plans", None, None, None, None).await;
    assert_eq!(
        found(&theirs),
        [("lobby".to_owned(), "public plans".to_owned())],
        "{}",
        carol.label()
    );
    carol
        .send(&chat_proto::ClientFrame::Search {
            query: "plans".into(),
            room: Some(ROOM.into()),
            limit: None,
            before: None,
            before_ts: None,
            reference: Some("s1".into()),
        })
        .await;
    carol.expect_refused(ErrorCode::Forbidden, "s1").await;
}
