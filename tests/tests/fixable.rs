//! Protocol 2, fixable messages, on a single SQLite node over real
//! sockets: replies and actions, edit (the author only), delete (author,
//! owner, ops), react and unreact, every error of the contract
//! (`forbidden`, `not_found`, `unchanged`, `invalid_text`) and the limits;
//! pages that show each message as it is now; `join since` that crosses
//! edits of older messages, each entry once and in id order; and a deleted
//! text gone from the database file's bytes, not merely hidden.

use std::time::Duration;

use chat_e2e::db::on_disk;
use chat_e2e::{InProcessServer, ServerOptions, ServerProcess, TestClient, start_server_with};
use chat_proto::limits::{MAX_EDITS_PER_MESSAGE, MAX_EMOJI_PER_MESSAGE};
use chat_proto::{Entry, ErrorCode, Message, ServerFrame};
use serde_json::json;

async fn server() -> InProcessServer {
    start_server_with(ServerOptions::unthrottled()).await
}

/// Sends `frame` (which carries `"ref": reference`) and expects its entry
/// as the acknowledgement, with that `ref`, and then the same entry, with
/// no `ref`, on every client in `others`.
async fn acted(
    actor: &mut TestClient,
    others: &mut [&mut TestClient],
    frame: serde_json::Value,
) -> Entry {
    let kind = frame["type"].as_str().expect("a type").to_owned();
    let reference = frame["ref"].as_str().map(str::to_owned);
    let user = actor.label().to_owned();
    actor.send_json(frame).await;
    let ack = actor.expect_entry(&kind, &user).await;
    assert_eq!(
        ack.reference(),
        reference.as_deref(),
        "the ack carries the ref"
    );
    for other in others.iter_mut() {
        let seen = other.expect_entry(&kind, &user).await;
        assert_eq!(seen, ack.without_reference());
    }
    ack
}

/// The message `id` as a fresh join's page (of the largest size) shows it.
async fn page_message(client: &mut TestClient, room: &str, id: u64) -> Message {
    let joined = client.join_with(room, None, Some(500)).await;
    joined
        .history
        .into_iter()
        .find(|m| m.id == id)
        .unwrap_or_else(|| panic!("message {id} is on the page"))
}

/// Alice (registered) owns `r`; bob (registered) is a member.
async fn alice_and_bob_in_r(server: &InProcessServer) -> (TestClient, TestClient) {
    let mut alice = server.account("alice", "pw-alice").await;
    alice.join("r").await;
    let mut bob = server.account("bob", "pw-bob").await;
    bob.join("r").await;
    alice.expect_join("r", "bob").await;
    (alice, bob)
}

#[tokio::test]
async fn a_reply_names_a_live_message_of_the_room_and_an_action_keeps_its_flag() {
    let server = server().await;
    let (mut alice, mut bob) = alice_and_bob_in_r(&server).await;
    let question = alice.say("r", "ship it?").await;
    bob.expect_message().await;
    let reply = acted(
        &mut bob,
        &mut [&mut alice],
        json!({"type":"message","room":"r","text":"nods","reply_to":question.id,
               "action":true,"ref":"b1"}),
    )
    .await;
    let Entry::Message(reply) = reply else {
        unreachable!()
    };
    assert_eq!((reply.reply_to, reply.action), (Some(question.id), true));

    bob.send_json(json!({"type":"message","room":"r","text":"?","reply_to":999,"ref":"b2"}))
        .await;
    bob.expect_refused(ErrorCode::NotFound, "b2").await;
    // An entry that is not a message is no reply target either.
    let edit = acted(
        &mut alice,
        &mut [&mut bob],
        json!({"type":"edit","room":"r","target":question.id,"text":"ship it now?","ref":"a1"}),
    )
    .await;
    bob.send_json(json!({"type":"message","room":"r","text":"?","reply_to":edit.id(),"ref":"b3"}))
        .await;
    bob.expect_refused(ErrorCode::NotFound, "b3").await;

    let stored = page_message(&mut bob, "r", reply.id).await;
    assert_eq!((stored.reply_to, stored.action), (Some(question.id), true));
}

#[tokio::test]
async fn only_the_author_edits_and_pages_show_the_latest_text() {
    let server = server().await;
    let (mut alice, mut bob) = alice_and_bob_in_r(&server).await;
    let message = alice.say("r", "teh plan").await;
    bob.expect_message().await;
    let id = message.id;

    bob.send_json(json!({"type":"edit","room":"r","target":id,"text":"bob's plan","ref":"b1"}))
        .await;
    bob.expect_refused(ErrorCode::Forbidden, "b1").await;
    alice
        .send_json(json!({"type":"edit","room":"r","target":id,"text":"teh plan","ref":"a1"}))
        .await;
    alice.expect_refused(ErrorCode::Unchanged, "a1").await;
    alice
        .send_json(json!({"type":"edit","room":"r","target":id + 50,"text":"x","ref":"a2"}))
        .await;
    alice.expect_refused(ErrorCode::NotFound, "a2").await;
    alice
        .send_json(json!({"type":"edit","room":"r","target":id,"text":"  ","ref":"a3"}))
        .await;
    alice.expect_refused(ErrorCode::InvalidText, "a3").await;

    let Entry::Edit(first) = acted(
        &mut alice,
        &mut [&mut bob],
        json!({"type":"edit","room":"r","target":id,"text":"the plan","ref":"a4"}),
    )
    .await
    else {
        unreachable!()
    };
    assert_eq!((first.target, first.text.as_str()), (id, "the plan"));
    assert_eq!(first.id, id + 1, "an edit takes the room's next id");
    let Entry::Edit(second) = acted(
        &mut alice,
        &mut [&mut bob],
        json!({"type":"edit","room":"r","target":id,"text":"the final plan","ref":"a5"}),
    )
    .await
    else {
        unreachable!()
    };

    let shown = page_message(&mut bob, "r", id).await;
    assert_eq!(shown.text, "the final plan");
    assert_eq!(shown.edited, Some(second.ts));
    assert!(!shown.deleted);
    let joined = bob.join("r").await;
    let kinds: Vec<&str> = joined.entries.iter().map(Entry::kind).collect();
    assert_eq!(kinds, ["message", "edit", "edit"], "edits are entries too");
    assert_eq!(joined.last_id, second.id);
}

#[tokio::test]
async fn the_author_owner_and_ops_delete_and_members_may_not() {
    let server = server().await;
    let (mut alice, mut bob) = alice_and_bob_in_r(&server).await;
    let mut carol = server.account("carol", "pw-carol").await;
    carol.join("r").await;
    alice.expect_join("r", "carol").await;
    bob.expect_join("r", "carol").await;
    acted(
        &mut alice,
        &mut [&mut bob, &mut carol],
        json!({"type":"role","room":"r","subject":"carol","role":"op"}),
    )
    .await;
    let mut said = Vec::new();
    for (who, text) in [("alice", "owner's"), ("bob", "member's"), ("carol", "op's")] {
        let client = match who {
            "alice" => &mut alice,
            "bob" => &mut bob,
            _ => &mut carol,
        };
        said.push(client.say("r", text).await.id);
        for other in [&mut alice, &mut bob, &mut carol] {
            if other.label() != who {
                other.expect_message().await;
            }
        }
    }
    let [owners, members, ops] = said[..] else {
        unreachable!()
    };

    // A member may not delete others' messages; an op may not delete the
    // owner's (nobody acts on the owner) nor another op's.
    bob.send_json(json!({"type":"delete","room":"r","target":owners,"ref":"b1"}))
        .await;
    bob.expect_refused(ErrorCode::Forbidden, "b1").await;
    carol
        .send_json(json!({"type":"delete","room":"r","target":owners,"ref":"c1"}))
        .await;
    carol.expect_refused(ErrorCode::Forbidden, "c1").await;

    let Entry::Delete(by_op) = acted(
        &mut carol,
        &mut [&mut alice, &mut bob],
        json!({"type":"delete","room":"r","target":members,"ref":"c2"}),
    )
    .await
    else {
        unreachable!()
    };
    assert_eq!(by_op.target, members);
    acted(
        &mut alice,
        &mut [&mut bob, &mut carol],
        json!({"type":"delete","room":"r","target":ops,"ref":"a1"}),
    )
    .await;
    acted(
        &mut alice,
        &mut [&mut bob, &mut carol],
        json!({"type":"delete","room":"r","target":owners,"ref":"a2"}),
    )
    .await;

    // Deleted: not there to act on, for anyone.
    alice
        .send_json(json!({"type":"delete","room":"r","target":owners,"ref":"a3"}))
        .await;
    alice.expect_refused(ErrorCode::NotFound, "a3").await;
    alice
        .send_json(json!({"type":"edit","room":"r","target":owners,"text":"back","ref":"a4"}))
        .await;
    alice.expect_refused(ErrorCode::NotFound, "a4").await;
    bob.send_json(json!({"type":"react","room":"r","target":members,"emoji":"👍","ref":"b2"}))
        .await;
    bob.expect_refused(ErrorCode::NotFound, "b2").await;
    bob.send_json(json!({"type":"message","room":"r","text":"re","reply_to":members,"ref":"b3"}))
        .await;
    bob.expect_refused(ErrorCode::NotFound, "b3").await;

    for id in [owners, members, ops] {
        let shown = page_message(&mut bob, "r", id).await;
        assert!(shown.deleted, "{shown:?}");
        assert_eq!(shown.text, "");
    }
}

#[tokio::test]
async fn a_deleted_messages_edits_show_no_text_and_its_reactions_go() {
    let server = server().await;
    let (mut alice, mut bob) = alice_and_bob_in_r(&server).await;
    let id = alice.say("r", "draft").await.id;
    bob.expect_message().await;
    acted(
        &mut alice,
        &mut [&mut bob],
        json!({"type":"edit","room":"r","target":id,"text":"second draft","ref":"a1"}),
    )
    .await;
    acted(
        &mut bob,
        &mut [&mut alice],
        json!({"type":"react","room":"r","target":id,"emoji":"👍","ref":"b1"}),
    )
    .await;
    acted(
        &mut alice,
        &mut [&mut bob],
        json!({"type":"delete","room":"r","target":id,"ref":"a2"}),
    )
    .await;
    let joined = bob.join("r").await;
    let [
        Entry::Message(message),
        Entry::Edit(edit),
        Entry::React(_),
        Entry::Delete(_),
    ] = &joined.entries[..]
    else {
        panic!("message, edit, react, delete: {:?}", joined.entries)
    };
    assert_eq!((message.text.as_str(), message.deleted), ("", true));
    assert!(message.reactions.is_empty(), "{message:?}");
    assert_eq!(edit.text, "", "an erased message's edits have no text");
}

#[tokio::test]
async fn reactions_are_added_and_taken_back_once_and_pages_list_who() {
    let server = server().await;
    let (mut alice, mut bob) = alice_and_bob_in_r(&server).await;
    let id = alice.say("r", "lunch?").await.id;
    bob.expect_message().await;
    let Entry::React(react) = acted(
        &mut alice,
        &mut [&mut bob],
        json!({"type":"react","room":"r","target":id,"emoji":"👍","ref":"a1"}),
    )
    .await
    else {
        unreachable!()
    };
    assert_eq!((react.target, react.emoji.as_str()), (id, "👍"));
    alice
        .send_json(json!({"type":"react","room":"r","target":id,"emoji":"👍","ref":"a2"}))
        .await;
    alice.expect_refused(ErrorCode::Unchanged, "a2").await;
    acted(
        &mut bob,
        &mut [&mut alice],
        json!({"type":"react","room":"r","target":id,"emoji":"👍","ref":"b1"}),
    )
    .await;
    acted(
        &mut bob,
        &mut [&mut alice],
        json!({"type":"react","room":"r","target":id,"emoji":"🍕","ref":"b2"}),
    )
    .await;
    alice
        .send_json(json!({"type":"unreact","room":"r","target":id,"emoji":"🍕","ref":"a3"}))
        .await;
    alice.expect_refused(ErrorCode::Unchanged, "a3").await;
    for bad in ["", "a b", "\u{7}", &"x".repeat(33)] {
        alice
            .send_json(json!({"type":"react","room":"r","target":id,"emoji":bad,"ref":"a4"}))
            .await;
        alice.expect_refused(ErrorCode::InvalidText, "a4").await;
    }
    alice
        .send_json(json!({"type":"react","room":"r","target":id + 40,"emoji":"👍","ref":"a5"}))
        .await;
    alice.expect_refused(ErrorCode::NotFound, "a5").await;

    let shown = page_message(&mut bob, "r", id).await;
    let who = |emoji: &str| shown.reactions.get(emoji).cloned().unwrap_or_default();
    assert_eq!(who("👍"), ["alice", "bob"], "in the order they reacted");
    assert_eq!(who("🍕"), ["bob"]);

    let Entry::Unreact(unreact) = acted(
        &mut alice,
        &mut [&mut bob],
        json!({"type":"unreact","room":"r","target":id,"emoji":"👍","ref":"a6"}),
    )
    .await
    else {
        unreachable!()
    };
    assert_eq!(unreact.emoji, "👍");
    let shown = page_message(&mut bob, "r", id).await;
    assert_eq!(shown.reactions.len(), 2);
    assert_eq!(shown.reactions["👍"], ["bob"]);
}

#[tokio::test]
async fn edits_and_distinct_emoji_per_message_are_capped() {
    let server = server().await;
    let mut alice = server.account("alice", "pw-alice").await;
    alice.join("r").await;
    let id = alice.say("r", "v0").await.id;
    for n in 1..=MAX_EDITS_PER_MESSAGE {
        acted(
            &mut alice,
            &mut [],
            json!({"type":"edit","room":"r","target":id,"text":format!("v{n}"),"ref":"e"}),
        )
        .await;
    }
    alice
        .send_json(json!({"type":"edit","room":"r","target":id,"text":"one more","ref":"last"}))
        .await;
    alice.expect_refused(ErrorCode::Forbidden, "last").await;

    let emoji: Vec<String> = (0..MAX_EMOJI_PER_MESSAGE)
        .map(|n| char::from_u32(0x1F600 + n).expect("an emoji").to_string())
        .collect();
    for e in &emoji {
        acted(
            &mut alice,
            &mut [],
            json!({"type":"react","room":"r","target":id,"emoji":e,"ref":"r"}),
        )
        .await;
    }
    alice
        .send_json(json!({"type":"react","room":"r","target":id,"emoji":"🦀","ref":"over"}))
        .await;
    alice.expect_refused(ErrorCode::Forbidden, "over").await;
    // More people on an emoji already there is no new emoji.
    let mut bob = server.account("bob", "pw-bob").await;
    bob.join("r").await;
    acted(
        &mut bob,
        &mut [],
        json!({"type":"react","room":"r","target":id,"emoji":emoji[0],"ref":"b"}),
    )
    .await;
    let shown = page_message(&mut bob, "r", id).await;
    assert_eq!(shown.text, format!("v{MAX_EDITS_PER_MESSAGE}"));
    assert_eq!(shown.reactions.len(), emoji.len());
}

#[tokio::test]
async fn join_since_delivers_every_later_entry_once_in_order_even_about_older_messages() {
    let server = server().await;
    let (mut alice, mut bob) = alice_and_bob_in_r(&server).await;
    let first = alice.say("r", "one").await.id;
    let second = alice.say("r", "two").await.id;
    bob.expect_message().await;
    bob.expect_message().await;
    bob.send(&chat_proto::ClientFrame::Leave { room: "r".into() })
        .await;
    bob.expect_leave("r", "bob").await;
    alice.expect_leave("r", "bob").await;
    let since = second;

    // While bob is away: entries about messages from before `since`.
    let edit = acted(
        &mut alice,
        &mut [],
        json!({"type":"edit","room":"r","target":first,"text":"one!","ref":"a1"}),
    )
    .await;
    let react = acted(
        &mut alice,
        &mut [],
        json!({"type":"react","room":"r","target":second,"emoji":"✅","ref":"a2"}),
    )
    .await;
    let delete = acted(
        &mut alice,
        &mut [],
        json!({"type":"delete","room":"r","target":second,"ref":"a3"}),
    )
    .await;

    let joined = bob.join_with("r", Some(since), None).await;
    let caught: Vec<(u64, &str)> = joined.entries.iter().map(|e| (e.id(), e.kind())).collect();
    assert_eq!(
        caught,
        [
            (edit.id(), "edit"),
            (react.id(), "react"),
            (delete.id(), "delete")
        ]
    );
    assert_eq!(joined.last_id, delete.id());
    let Entry::Edit(seen) = &joined.entries[0] else {
        unreachable!()
    };
    assert_eq!(seen.text, "one!", "message {first} was not deleted");
    alice.expect_join("r", "bob").await;

    // And live from there on, once: nothing repeats the caught-up ids.
    let live = acted(
        &mut alice,
        &mut [&mut bob],
        json!({"type":"react","room":"r","target":first,"emoji":"✅","ref":"a4"}),
    )
    .await;
    assert_eq!(live.id(), delete.id() + 1);
    bob.send(&chat_proto::ClientFrame::History {
        room: "r".into(),
        before: None,
        after: Some(since),
        limit: None,
    })
    .await;
    match bob.recv().await {
        ServerFrame::History { messages, .. } => {
            let ids: Vec<u64> = messages.iter().map(Entry::id).collect();
            assert_eq!(ids, [edit.id(), react.id(), delete.id(), live.id()]);
        }
        other => panic!("expected history, got {other:?}"),
    }
}

#[tokio::test]
async fn a_deleted_text_is_gone_from_the_database_files_not_only_hidden() {
    let mut server = ServerProcess::start(ServerOptions::unthrottled()).await;
    let mut alice = server.account("alice", "pw-alice").await;
    alice.join("r").await;
    let (secret, edited) = ("zebra-secret-4412", "okapi-secret-9051");
    let keep = "kept-in-the-file-7730";
    let id = alice.say("r", secret).await.id;
    alice.say("r", keep).await;
    acted(
        &mut alice,
        &mut [],
        json!({"type":"edit","room":"r","target":id,"text":edited,"ref":"a1"}),
    )
    .await;
    let db = server.db_path().to_owned();
    assert!(on_disk(&db, secret), "the text is stored before the delete");
    assert!(on_disk(&db, edited));

    acted(
        &mut alice,
        &mut [],
        json!({"type":"delete","room":"r","target":id,"ref":"a2"}),
    )
    .await;
    // Acknowledged after the WAL was truncated: gone while running.
    assert!(!on_disk(&db, secret), "the first text is erased");
    assert!(!on_disk(&db, edited), "the edited text is erased");
    assert!(on_disk(&db, keep), "other messages stay");

    alice.close().await;
    server.sigterm();
    assert!(server.wait_exit(Duration::from_secs(10)).await.success());
    assert!(!on_disk(&db, secret) && !on_disk(&db, edited));
    assert!(on_disk(&db, keep));
}

#[tokio::test]
async fn the_browser_shows_edits_reactions_and_deletes_in_pages_and_live() {
    use chat_e2e::browser::Browser;
    let server = ServerProcess::start_default().await;
    let mut alice = server.account("alice", "pw-alice").await;
    alice.join("lobby").await;
    let fixed_id = alice.say("lobby", "teh release").await.id;
    acted(
        &mut alice,
        &mut [],
        json!({"type":"edit","room":"lobby","target":fixed_id,"text":"the release","ref":"a1"}),
    )
    .await;

    let mut browser = Browser::start().await;
    let bob = browser.page(1280, 800).await;
    bob.login(&format!("http://{}", server.addr()), "bob", None)
        .await;
    bob.join("lobby").await;
    alice.expect_join("lobby", "bob").await;
    // From the page: the latest text, marked edited.
    let shown = bob.wait_message("the release").await;
    assert_eq!(shown.len(), 1, "the edit is no line of its own: {shown:#?}");
    let edited = bob
        .eval(r#"return document.querySelector('[data-test="edited"]')?.textContent ?? null;"#)
        .await;
    assert_eq!(edited, json!("(edited)"));

    // Live: a reaction, then a message deleted.
    acted(
        &mut alice,
        &mut [],
        json!({"type":"react","room":"lobby","target":fixed_id,"emoji":"🚀","ref":"a2"}),
    )
    .await;
    let reactions = bob
        .wait_for(
            "the reaction under the message",
            r#"return document.querySelector('[data-test="reactions"]')?.textContent ?? false;"#,
        )
        .await;
    assert_eq!(reactions, json!("🚀 1"));
    let gone = alice.say("lobby", "oops, wrong room").await.id;
    bob.wait_message("oops, wrong room").await;
    acted(
        &mut alice,
        &mut [],
        json!({"type":"delete","room":"lobby","target":gone,"ref":"a3"}),
    )
    .await;
    let shown = bob.wait_message("message deleted").await;
    let texts: Vec<(u64, &str)> = shown.iter().map(|m| (m.id, m.text.as_str())).collect();
    assert_eq!(
        texts,
        [(fixed_id, "the release"), (gone, "message deleted")],
        "each message once, the deleted one without its text"
    );
    bob.close().await;
}
