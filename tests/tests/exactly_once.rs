//! End to end: exactly once, both ways (protocol 2, issue 11), on one
//! SQLite node. A request resent with the same `ref` and the same content
//! is answered with the entry stored the first time (same id, with the
//! `ref`) and nobody else hears of it again, whether the first answer was
//! lost with the connection or with the server itself, killed between the
//! commit and the acknowledgement (the hidden `--abort-after-commits`
//! test hook of chat-server); the same `ref` with other content is a new
//! entry. The rows in the database say the same: one row for the `ref`.
//! And with the real client: a line `chat-tui` sent, stored by a server
//! that died before acknowledging it, shows once on another `chat-tui`'s
//! screen after the client resent it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chat_e2e::client::Ending;
use chat_e2e::db::stored_messages;
use chat_e2e::tui::{Relay, TuiOptions, TuiProcess};
use chat_e2e::{ServerOptions, ServerProcess, TestClient};
use chat_proto::{ClientFrame, Message};
use rusqlite::{Connection, OpenFlags};

/// The most presence frames passed over while waiting for a message.
const MAX_PRESENCE: usize = 10;

fn message(room: &str, text: &str, reference: &str) -> ClientFrame {
    ClientFrame::Message {
        room: room.to_owned(),
        text: text.to_owned(),
        reference: Some(reference.to_owned()),
        reply_to: None,
        action: false,
    }
}

/// The sender's acknowledgement of `frame`: the next frame, a message
/// carrying the frame's `ref`.
async fn ack(client: &mut TestClient, reference: &str) -> Message {
    let ack = client.expect_message().await;
    assert_eq!(
        ack.reference.as_deref(),
        Some(reference),
        "the acknowledgement carries the ref: {ack:?}"
    );
    ack
}

/// How many rows of the database hold `reference` as their `ref`.
async fn rows_with_ref(db: &Path, reference: &str) -> i64 {
    let db: PathBuf = db.to_owned();
    let reference = reference.to_owned();
    tokio::task::spawn_blocking(move || {
        let conn = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("the database opens");
        conn.query_row(
            "SELECT count(*) FROM entries WHERE client_ref = ?1",
            [&reference],
            |row| row.get(0),
        )
        .expect("the entries table has a client_ref column")
    })
    .await
    .expect("the reader thread does not panic")
}

#[tokio::test]
async fn a_request_resent_on_a_new_connection_is_answered_with_the_stored_entry_once() {
    let server = ServerProcess::start_default().await;
    let mut bob = server.guest("bob").await;
    bob.join("lobby").await;
    let mut alice = server.account("alice", "pw-alice").await;
    alice.join("lobby").await;

    let sent = message("lobby", "said exactly once", "tui-7f3a-1");
    alice.send(&sent).await;
    let first = ack(&mut alice, "tui-7f3a-1").await;
    let seen = bob.message_after_presence(MAX_PRESENCE).await;
    assert_eq!(
        (seen.id, seen.text.as_str()),
        (first.id, "said exactly once")
    );
    // The acknowledgement is lost with the connection; the client cannot
    // know whether the message was stored, so it sends it again.
    alice.abort();
    let mut alice = server.account("alice", "pw-alice").await;
    alice.join("lobby").await;
    alice.send(&sent).await;
    let again = ack(&mut alice, "tui-7f3a-1").await;
    assert_eq!(again, first, "the stored entry: same id, text, ts and ref");

    // Nobody else hears of it again: the next message bob gets is the
    // one sent after the resend, under the very next id.
    let after = alice.say("lobby", "sent after the resend").await;
    assert_eq!(after.id, first.id + 1, "the resend took no id");
    let next = bob.message_after_presence(MAX_PRESENCE).await;
    assert_eq!(
        (next.id, next.text.as_str()),
        (after.id, "sent after the resend")
    );

    let stored = stored_messages(server.db_path(), "lobby").await.unwrap();
    let texts: Vec<&str> = stored.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["said exactly once", "sent after the resend"]);
    assert_eq!(rows_with_ref(server.db_path(), "tui-7f3a-1").await, 1);
}

#[tokio::test]
async fn the_same_ref_with_other_content_is_a_new_entry() {
    let server = ServerProcess::start_default().await;
    let mut bob = server.guest("bob").await;
    bob.join("lobby").await;
    let mut alice = server.guest("alice").await;
    alice.join("lobby").await;

    alice
        .send(&message("lobby", "first words", "same-ref"))
        .await;
    let first = ack(&mut alice, "same-ref").await;
    alice
        .send(&message("lobby", "other words", "same-ref"))
        .await;
    let second = ack(&mut alice, "same-ref").await;
    assert_eq!(second.id, first.id + 1, "a new entry with a new id");
    assert_eq!(second.text, "other words");
    // The same content again is the second request, not a third entry.
    alice
        .send(&message("lobby", "other words", "same-ref"))
        .await;
    assert_eq!(ack(&mut alice, "same-ref").await, second);

    let seen = [
        bob.message_after_presence(MAX_PRESENCE).await,
        bob.message_after_presence(MAX_PRESENCE).await,
    ];
    let seen: Vec<(u64, &str)> = seen.iter().map(|m| (m.id, m.text.as_str())).collect();
    assert_eq!(
        seen,
        [(first.id, "first words"), (second.id, "other words")]
    );
    bob.barrier().await;
    assert_eq!(rows_with_ref(server.db_path(), "same-ref").await, 2);
}

#[tokio::test]
async fn a_server_killed_between_commit_and_acknowledgement_stores_a_resend_once() {
    // The hook aborts the server right after the first commit that stores
    // an entry, before fan-out and the acknowledgement.
    let mut server = ServerProcess::start(ServerOptions {
        extra_args: vec!["--abort-after-commits".into(), "1".into()],
        ..ServerOptions::default()
    })
    .await;
    let mut alice = server.account("alice", "pw-alice").await;
    alice.join("lobby").await;
    let sent = message("lobby", "stored, never acknowledged", "crash-1");
    alice.send(&sent).await;
    match alice.recv_or_end(Duration::from_secs(10)).await {
        Err(Ending::Dropped(_) | Ending::Closed { .. }) => {}
        Ok(frame) => panic!("the server answered before it died: {frame:?}"),
    }
    let status = server.wait_exit(Duration::from_secs(10)).await;
    assert!(!status.success(), "aborted, not exited: {status}");
    // It was committed: the row is there before anyone resent anything.
    let stored = stored_messages(server.db_path(), "lobby").await.unwrap();
    assert_eq!(stored.len(), 1, "{stored:?}");

    server.set_extra_args_on_restart(Vec::new());
    server.restart().await;
    let mut bob = server.guest("bob").await;
    let joined = bob.join("lobby").await;
    let history: Vec<&str> = joined.history.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(history, ["stored, never acknowledged"]);
    let mut alice = server.account("alice", "pw-alice").await;
    alice.join("lobby").await;
    alice.send(&sent).await;
    let again = ack(&mut alice, "crash-1").await;
    assert_eq!(
        (again.id, again.text.as_str(), again.ts),
        (
            stored[0].id as u64,
            "stored, never acknowledged",
            stored[0].ts
        )
    );
    let after = alice.say("lobby", "after the restart").await;
    let next = bob.message_after_presence(MAX_PRESENCE).await;
    assert_eq!(
        (next.id, next.text.as_str()),
        (after.id, "after the restart")
    );
    assert_eq!(after.id, again.id + 1);
    assert_eq!(rows_with_ref(server.db_path(), "crash-1").await, 1);
    assert_eq!(
        stored_messages(server.db_path(), "lobby")
            .await
            .unwrap()
            .len(),
        2
    );
}

/// Screen rows of `client` that show `text`.
fn rows_with(client: &TuiProcess, text: &str) -> usize {
    client
        .rows()
        .iter()
        .filter(|row| row.contains(text))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_stored_by_a_server_that_died_before_acknowledging_shows_once() {
    const LINE: &str = "typed just before the crash";
    const MARKER: &str = "typed once the server was back";
    let mut server = ServerProcess::start(ServerOptions {
        extra_args: vec!["--abort-after-commits".into(), "1".into()],
        ..ServerOptions::default()
    })
    .await;
    // Both clients know one address; the relay follows the server to the
    // new port it gets after the restart.
    let relay = Relay::start(server.addr()).await;
    let (alice_state, bob_state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut bob = TuiProcess::spawn(&TuiOptions::new(
        "bob",
        &relay.ws_url(),
        &["lobby"],
        bob_state.path(),
    ));
    bob.wait_for_text("#lobby").await;
    let mut alice = TuiProcess::spawn(&TuiOptions::new(
        "alice",
        &relay.ws_url(),
        &["lobby"],
        alice_state.path(),
    ));
    alice.wait_for_text("#lobby: 2 members").await;

    alice.type_line(LINE);
    let status = server.wait_exit(Duration::from_secs(20)).await;
    assert!(!status.success(), "aborted by the hook: {status}");
    let stored = stored_messages(server.db_path(), "lobby").await.unwrap();
    assert_eq!(stored.len(), 1, "stored before the crash: {stored:?}");

    server.set_extra_args_on_restart(Vec::new());
    server.restart().await;
    relay.point_to(server.addr());
    // Alice's client resends the line it never saw acknowledged; bob's
    // catches up on what he missed. Then one more line, after all that.
    alice.wait_for_text("#lobby: 2 members").await;
    alice.type_line(MARKER);
    bob.wait_for_text(MARKER).await;
    alice.wait_for_message("alice", MARKER).await;
    assert_eq!(
        rows_with(&bob, LINE),
        1,
        "once on bob's screen:\n{}",
        bob.screen()
    );
    assert_eq!(
        rows_with(&alice, LINE),
        1,
        "once on alice's screen:\n{}",
        alice.screen()
    );
    let texts: Vec<String> = stored_messages(server.db_path(), "lobby")
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(texts, [LINE, MARKER], "stored once each");
    alice.ctrl_c();
    bob.ctrl_c();
    assert!(alice.wait_exit(Duration::from_secs(10)).await.success());
    assert!(bob.wait_exit(Duration::from_secs(10)).await.success());
}
