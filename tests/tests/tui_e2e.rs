//! End to end: the real server and two real `chat-tui` processes on
//! pseudo-terminals. What one user types shows on the other's screen; the
//! server restarts and both clients come back on their own, showing what
//! was said meanwhile and what was typed offline, each exactly once; a
//! client closed and opened again remembers its rooms and unread counts.

use std::time::Duration;

use chat_e2e::tui::{Relay, TuiOptions, TuiProcess};
use chat_e2e::{ServerOptions, ServerProcess, TestClient};
use chat_proto::{Message, ServerFrame};

/// The next chat message to `client`, passing over presence frames
/// (the clients' joins arrive in no fixed order).
async fn next_message(client: &mut TestClient) -> Message {
    for _ in 0..20 {
        match client.recv().await {
            ServerFrame::Message(message) => return message,
            ServerFrame::Join { .. } | ServerFrame::Leave { .. } => {}
            other => panic!("expected a message, got {other:?}"),
        }
    }
    panic!("no message among 20 frames")
}

/// Rows of the history that show a message: `HH:MM  user │ text`.
fn message_rows(client: &TuiProcess, text: &str) -> usize {
    client
        .rows()
        .iter()
        .filter(|row| row.contains(text))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_chat_and_survive_a_server_restart() {
    let mut server = ServerProcess::start(ServerOptions::default()).await;
    let relay = Relay::start(server.addr()).await;
    let state = tempfile::tempdir().unwrap();

    let mut alice = TuiProcess::spawn(&TuiOptions::new(
        "alice",
        &relay.ws_url(),
        &["lobby"],
        &state.path().join("alice"),
    ));
    alice.wait_for_text("#lobby: 1 member").await;
    let mut bob = TuiProcess::spawn(&TuiOptions::new(
        "bob",
        &relay.ws_url(),
        &["lobby"],
        &state.path().join("bob"),
    ));
    bob.wait_for_text("#lobby: 2 members").await;
    alice.wait_for_text("bob joined").await;

    // alice types a line; bob's screen shows it.
    alice.type_line("hello from alice");
    bob.wait_for_text("hello from alice").await;
    alice.wait_for_text("hello from alice").await;
    bob.type_line("hi alice, bob here");
    alice.wait_for_text("hi alice, bob here").await;

    // The server restarts (new port behind the relay). While the clients
    // cannot reach it, carol talks and alice types a line.
    server.restart().await;
    alice.wait_for_text("reconnecting in").await;
    bob.wait_for_text("reconnecting in").await;
    let mut carol = server.guest("carol").await;
    carol.join("lobby").await;
    carol.say("lobby", "said while you were away 1").await;
    carol.say("lobby", "said while you were away 2").await;
    alice.type_line("typed while offline");
    alice.wait_for_text("typed while offline").await;
    assert_eq!(bob.count("typed while offline"), 0);

    // The server is reachable again at the same address.
    relay.point_to(server.addr());
    for client in [&mut alice, &mut bob] {
        client.wait_for_text("#lobby: 3 members").await;
        client.wait_for_text("said while you were away 2").await;
        client.wait_for_text("typed while offline").await;
    }
    let from_alice = next_message(&mut carol).await;
    assert_eq!(from_alice.text, "typed while offline");
    assert_eq!(from_alice.user, "alice");
    // bob's line after the restart reaches everyone live.
    bob.type_line("welcome back");
    alice.wait_for_text("welcome back").await;
    assert_eq!(next_message(&mut carol).await.text, "welcome back");

    // Nothing is shown twice, on either screen.
    for client in [&alice, &bob] {
        for text in [
            "hello from alice",
            "hi alice, bob here",
            "said while you were away 1",
            "said while you were away 2",
            "typed while offline",
            "welcome back",
        ] {
            assert_eq!(
                message_rows(client, text),
                1,
                "{text:?} on screen:\n{}",
                client.screen()
            );
        }
    }
    // And the server stored alice's offline line once.
    let (history, _) = carol.history("lobby", None, None, Some(50)).await;
    let stored = history
        .iter()
        .filter(|m| m.text == "typed while offline")
        .count();
    assert_eq!(stored, 1);

    alice.ctrl_c();
    bob.ctrl_c();
    assert!(alice.wait_exit(Duration::from_secs(10)).await.success());
    assert!(bob.wait_exit(Duration::from_secs(10)).await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reopened_client_remembers_rooms_and_unread_counts() {
    let server = ServerProcess::start(ServerOptions::default()).await;
    let state = tempfile::tempdir().unwrap();
    let alice_options = TuiOptions::new(
        "alice",
        &server.ws_url(),
        &["lobby", "rust"],
        &state.path().join("alice"),
    );
    let mut alice = TuiProcess::spawn(&alice_options);
    alice.wait_for_text("#lobby: 1 member").await;
    let mut bob = server.guest("bob").await;
    let joined = bob.join("rust").await;
    // Alice's client joins rust beside lobby: not in the list yet, she
    // is heard arriving.
    if !joined.members.iter().any(|member| member == "alice") {
        bob.expect_join("rust", "alice").await;
    }
    bob.say("rust", "seen before quitting").await;
    // Read it: switch to rust, then back to lobby.
    alice.send_bytes(b"\x1b2");
    alice.wait_for_text("seen before quitting").await;
    alice.send_bytes(b"\x1b1");
    alice.wait_for_text("#lobby: 1 member").await;
    // Stopped from outside: it still saves what was read and exits cleanly.
    alice.sigterm();
    assert!(alice.wait_exit(Duration::from_secs(10)).await.success());
    bob.expect_leave("rust", "alice").await;

    bob.say("rust", "first while alice was away").await;
    bob.say("rust", "alice: second, with a mention").await;

    // Opened again without --room: the saved rooms come back, rust shows
    // two unread messages with a mention.
    let mut reopened = TuiOptions::new("alice", &server.ws_url(), &[], &state.path().join("alice"));
    reopened.rooms.clear();
    let mut alice = TuiProcess::spawn(&reopened);
    alice
        .wait_for(
            "rust with 2 unread and a mention",
            Duration::from_secs(30),
            |screen| {
                screen
                    .lines()
                    .any(|row| row.starts_with("2 rust") && row.contains("@2"))
            },
        )
        .await;
    assert!(
        alice.screen().contains("#lobby: 1 member"),
        "lobby is current"
    );
    alice.send_bytes(b"\x1b2");
    alice.wait_for_text("alice: second, with a mention").await;
    alice.wait_for_text("new messages").await;
    // Older context is fetched above the unread ones.
    alice.wait_for_text("seen before quitting").await;
    assert_eq!(message_rows(&alice, "seen before quitting"), 1);
    assert_eq!(message_rows(&alice, "first while alice was away"), 1);
    alice.ctrl_c();
    assert!(alice.wait_exit(Duration::from_secs(10)).await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_login_asks_for_the_password_on_screen() {
    let server = ServerProcess::start(ServerOptions {
        require_accounts: true,
        ..ServerOptions::default()
    })
    .await;
    let state = tempfile::tempdir().unwrap();

    // No password: the server refuses, the client asks instead of exiting.
    let mut alice = TuiProcess::spawn(&TuiOptions::new(
        "alice",
        &server.ws_url(),
        &["lobby"],
        &state.path().join("alice"),
    ));
    alice.wait_for_text("password needed").await;
    alice.wait_for_text("password: ").await;
    alice.type_line("open sesame");
    alice.wait_for_text("(new account").await;
    alice.wait_for_text("#lobby: 1 member").await;
    assert!(
        !alice.screen().contains("open sesame"),
        "{}",
        alice.screen()
    );

    // A wrong password from the environment: asked again, then accepted.
    let mut options = TuiOptions::new(
        "alice",
        &server.ws_url(),
        &["lobby"],
        &state.path().join("alice-2"),
    );
    options.env.push(("CHAT_PASSWORD".into(), "guess".into()));
    let mut second = TuiProcess::spawn(&options);
    second.wait_for_text("Login refused for alice").await;
    second.type_line("open sesame");
    second.wait_for_text("#lobby: 1 member").await;
    second.type_line("logged in twice");
    alice.wait_for_text("logged in twice").await;
}
