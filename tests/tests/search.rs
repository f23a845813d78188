//! Protocol 2's search on a single SQLite node over real sockets: whole
//! words and prefixes, case-insensitive, every word required, newest
//! first; `limit` and `before` pages in a room, `before_ts` pages across
//! rooms, each message with its room; an edit re-indexed, a deleted
//! message never found, a private room never found by someone not on it;
//! and the requests refused; a deleted message's words gone from the
//! database file's bytes (index included); messages stored before the
//! index existed found after the upgrade.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chat_e2e::db::{StoredMessage, on_disk, schema_version, write_version_1_database};
use chat_e2e::{InProcessServer, ServerOptions, ServerProcess, start_server_with};
use chat_proto::{ErrorCode, Message};
use serde_json::json;

async fn server() -> InProcessServer {
    start_server_with(ServerOptions::unthrottled()).await
}

/// A message as others see it: without its sender's `ref`.
fn seen(message: &Message) -> Message {
    Message {
        reference: None,
        ..message.clone()
    }
}

fn ids(messages: &[Message]) -> Vec<u64> {
    messages.iter().map(|m| m.id).collect()
}

/// Waits (bounded) until the clock has passed `ts`, so the next message
/// is stamped later and a `before_ts` page boundary never splits a tie.
async fn clock_past(ts: i64) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("a clock after 1970")
            .as_millis();
        if i64::try_from(now).expect("a millisecond count") > ts {
            return;
        }
        assert!(Instant::now() < deadline, "the clock did not pass {ts}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test]
async fn words_match_whole_or_as_prefixes_in_any_case_and_every_word_is_needed() {
    let server = server().await;
    let mut alice = server.guest("alice").await;
    alice.join("r").await;
    let notes = alice.say("r", "Release notes for v2").await;
    let released = alice.say("r", "the RELEASED build").await;
    let only = alice.say("r", "notes, only").await;
    alice.say("r", "unrelated chatter").await;

    let (found, more) = alice.search("release", Some("r"), None, None, None).await;
    assert_eq!(ids(&found), [released.id, notes.id], "newest first");
    assert!(!more);
    assert_eq!(found[1], seen(&notes), "each message as its page shows it");
    assert_eq!(found[1].room, "r");
    let (found, _) = alice.search("REL Notes", Some("r"), None, None, None).await;
    assert_eq!(ids(&found), [notes.id], "every word is needed");
    let (found, _) = alice.search("note", Some("r"), None, None, None).await;
    assert_eq!(ids(&found), [only.id, notes.id]);
    // A word's middle or end is not a prefix of it.
    let (found, _) = alice.search("lease", Some("r"), None, None, None).await;
    assert!(found.is_empty(), "{found:?}");
    let (found, _) = alice
        .search("notes zebra", Some("r"), None, None, None)
        .await;
    assert!(found.is_empty(), "{found:?}");
    // A room that does not exist has nothing to find.
    let (found, more) = alice
        .search("notes", Some("nowhere"), None, None, None)
        .await;
    assert!(found.is_empty() && !more);
}

#[tokio::test]
async fn a_room_is_paged_with_limit_and_before() {
    let server = server().await;
    let mut alice = server.guest("alice").await;
    alice.join("r").await;
    let mut pinged = Vec::new();
    for n in 0..5 {
        pinged.push(alice.say("r", &format!("ping {n}")).await.id);
        alice.say("r", &format!("pong {n}")).await;
    }
    let (page, more) = alice.search("ping", Some("r"), Some(2), None, None).await;
    assert_eq!(ids(&page), [pinged[4], pinged[3]]);
    assert!(more);
    let (page, more) = alice
        .search("ping", Some("r"), Some(2), Some(pinged[3]), None)
        .await;
    assert_eq!(ids(&page), [pinged[2], pinged[1]]);
    assert!(more);
    let (page, more) = alice
        .search("ping", Some("r"), Some(2), Some(pinged[1]), None)
        .await;
    assert_eq!(ids(&page), [pinged[0]]);
    assert!(!more);
}

#[tokio::test]
async fn every_readable_room_is_searched_newest_first_and_paged_by_ts() {
    let server = server().await;
    let mut alice = server.guest("alice").await;
    alice.join("a").await;
    alice.join("b").await;
    let mut said = Vec::new();
    for n in 0..5 {
        let room = if n % 2 == 0 { "a" } else { "b" };
        let message = alice.say(room, &format!("standup {n}")).await;
        clock_past(message.ts).await;
        said.push(seen(&message));
    }
    said.reverse();
    let mut found = Vec::new();
    let mut before_ts = None;
    for _ in 0..5 {
        let (page, more) = alice
            .search("standup", None, Some(2), None, before_ts)
            .await;
        assert!(page.len() <= 2);
        before_ts = page.last().map(|m| m.ts);
        found.extend(page);
        if !more {
            break;
        }
    }
    assert_eq!(found, said, "every match once, newest first, with its room");
    assert_eq!(found[0].room, "a");
    assert_eq!(found[1].room, "b");
}

#[tokio::test]
async fn an_edit_is_found_by_its_new_text_and_not_its_old() {
    let server = server().await;
    let mut alice = server.account("alice", "pw-alice").await;
    alice.join("r").await;
    let draft = alice.say("r", "colour draft").await;
    alice
        .send_json(
            json!({"type":"edit","room":"r","target":draft.id,"text":"color final","ref":"e1"}),
        )
        .await;
    alice
        .expect("the edit", |frame| {
            chat_proto::Entry::try_from(frame.clone()).is_ok_and(|e| e.kind() == "edit")
        })
        .await;
    let (found, _) = alice.search("colour", None, None, None, None).await;
    assert!(found.is_empty(), "the old text is not found: {found:?}");
    let (found, _) = alice.search("final col", Some("r"), None, None, None).await;
    assert_eq!(ids(&found), [draft.id]);
    assert_eq!(found[0].text, "color final");
    assert!(
        found[0].edited.is_some(),
        "in its page state: {:?}",
        found[0]
    );
}

#[tokio::test]
async fn a_deleted_message_is_never_found() {
    let server = server().await;
    let mut alice = server.account("alice", "pw-alice").await;
    alice.join("r").await;
    let secret = alice.say("r", "secret plan").await;
    let kept = alice.say("r", "public plan").await;
    alice
        .send_json(json!({"type":"delete","room":"r","target":secret.id,"ref":"d1"}))
        .await;
    alice
        .expect("the delete", |frame| {
            chat_proto::Entry::try_from(frame.clone()).is_ok_and(|e| e.kind() == "delete")
        })
        .await;
    let (found, _) = alice.search("secret", Some("r"), None, None, None).await;
    assert!(found.is_empty(), "{found:?}");
    let (found, _) = alice.search("plan", None, None, None, None).await;
    assert_eq!(ids(&found), [kept.id]);
}

#[tokio::test]
async fn a_private_room_is_found_only_by_those_on_it() {
    let server = server().await;
    let mut alice = server.account("alice", "pw-alice").await;
    alice.join("den").await;
    alice
        .send_json(json!({"type":"settings","room":"den","private":true,"ref":"s1"}))
        .await;
    alice
        .expect("the settings entry", |frame| {
            chat_proto::Entry::try_from(frame.clone()).is_ok_and(|e| e.kind() == "settings")
        })
        .await;
    let hidden = alice.say("den", "hidden treasure").await;
    alice.join("open").await;
    let open = alice.say("open", "treasure map").await;

    let mut bob = server.account("bob", "pw-bob").await;
    let (found, more) = bob.search("treasure", None, None, None, None).await;
    assert_eq!(ids(&found), [open.id], "{found:?}");
    assert!(!more);
    bob.send_json(json!({"type":"search","query":"treasure","room":"den","ref":"q1"}))
        .await;
    let error = bob.expect_error(ErrorCode::Forbidden).await;
    assert_eq!(error.reference.as_deref(), Some("q1"));
    let mut gus = server.guest("gus").await;
    let (found, _) = gus.search("hidden", None, None, None, None).await;
    assert!(found.is_empty(), "{found:?}");

    let (found, _) = alice.search("treasure", None, None, None, None).await;
    assert_eq!(ids(&found), [open.id, hidden.id]);
    assert_eq!(found[1].room, "den");
}

#[tokio::test]
async fn unbounded_or_contradictory_searches_are_refused() {
    let server = server().await;
    let mut alice = server.guest("alice").await;
    let long = "w ".repeat(200);
    for (frame, reference) in [
        (json!({"type":"search","query":long,"ref":"long"}), "long"),
        (
            json!({"type":"search","query":" ?! ","ref":"empty"}),
            "empty",
        ),
        (
            json!({"type":"search","query":"x","before":3,"ref":"b"}),
            "b",
        ),
        (
            json!({"type":"search","query":"x","room":"r","before_ts":3,"ref":"t"}),
            "t",
        ),
    ] {
        alice.send_json(frame).await;
        let error = alice.expect_error(ErrorCode::BadFrame).await;
        assert_eq!(error.reference.as_deref(), Some(reference), "{error:?}");
    }
    alice
        .send_json(json!({"type":"search","query":"x","room":"no room","ref":"n"}))
        .await;
    let error = alice.expect_error(ErrorCode::InvalidName).await;
    assert_eq!(error.reference.as_deref(), Some("n"));
}

#[tokio::test]
async fn a_deleted_message_leaves_no_word_in_the_index_on_disk() {
    let mut server = ServerProcess::start(ServerOptions::unthrottled()).await;
    let mut alice = server.account("alice", "pw-alice").await;
    alice.join("r").await;
    let word = "xylophonistqzv";
    let id = alice.say("r", word).await.id;
    let (found, _) = alice.search("xylophon", Some("r"), None, None, None).await;
    assert_eq!(ids(&found), [id]);
    let db = server.db_path().to_owned();
    assert!(
        on_disk(&db, word),
        "the index holds the word before the delete"
    );
    alice
        .send_json(json!({"type":"delete","room":"r","target":id,"ref":"d1"}))
        .await;
    alice
        .expect("the delete", |frame| {
            chat_proto::Entry::try_from(frame.clone()).is_ok_and(|e| e.kind() == "delete")
        })
        .await;
    assert!(!on_disk(&db, word), "the word is erased from the index too");
    alice.close().await;
    server.sigterm();
    assert!(server.wait_exit(Duration::from_secs(10)).await.success());
    assert!(!on_disk(&db, word));
}

#[tokio::test]
async fn messages_stored_before_the_index_existed_are_found_after_the_upgrade() {
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let v1 = scratch.path().join("v1.sqlite3");
    let before: Vec<StoredMessage> = ["old release notes", "older notes", "unrelated"]
        .iter()
        .zip(1..)
        .map(|(text, id)| StoredMessage {
            room: "old".into(),
            id,
            user: "alice".into(),
            text: (*text).into(),
            ts: 1_700_000_000_000 + id,
        })
        .collect();
    write_version_1_database(&v1, before, Vec::new())
        .await
        .expect("the version-1 file is written");
    let server = ServerProcess::start_on_copy(ServerOptions::unthrottled(), &v1).await;
    assert_eq!(schema_version(server.db_path()).await.unwrap(), 9);
    let mut bob = server.guest("bob").await;
    let (found, more) = bob.search("NOTES", Some("old"), None, None, None).await;
    assert_eq!(ids(&found), [2, 1]);
    assert!(!more);
    let (found, _) = bob.search("old rel", None, None, None, None).await;
    assert_eq!(ids(&found), [1]);
    assert_eq!(found[0].room, "old");
}
