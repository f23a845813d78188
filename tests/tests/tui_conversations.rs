//! End to end, protocol 2's conversations, typing and read markers as the
//! real `chat-tui` shows them on a pseudo-terminal: a conversation message
//! rings the bell and puts the conversation in the room list; "is typing"
//! shows, goes when the message comes, and runs out; two clients of one
//! user share where the user stopped reading.
//!
//! The typing test needs only what the server serves today. The
//! conversation test needs the server's conversations (branch `convos`),
//! the read-marker test its remembered rooms and `read` (branches
//! `yourrooms` and `convos`).

use std::time::{Duration, Instant};

use chat_e2e::tui::{TuiOptions, TuiProcess};
use chat_e2e::{ServerOptions, ServerProcess, TestClient};
use chat_proto::{ClientFrame, ServerFrame};

const ALT_2: &[u8] = b"\x1b2";

/// A client for `user`, logged in with `password` (registered on first
/// use), in `rooms`, with `config` as its config file's text.
fn tui(
    server: &ServerProcess,
    user: &str,
    password: &str,
    rooms: &[&str],
    state: &std::path::Path,
    config: &str,
) -> TuiProcess {
    std::fs::create_dir_all(state).expect("the state directory can be made");
    let config_path = state.join("config.toml");
    std::fs::write(&config_path, config).expect("the config file can be written");
    let mut options = TuiOptions::new(user, &server.ws_url(), rooms, state);
    options.env.push(("CHAT_PASSWORD".into(), password.into()));
    options.extra_args = vec!["--config".into(), config_path.display().to_string()];
    TuiProcess::spawn(&options)
}

/// The sidebar row of the room or conversation `label`, trimmed.
fn sidebar_row(client: &TuiProcess, label: &str) -> String {
    client
        .rows()
        .iter()
        .map(|row| row.chars().take(19).collect::<String>())
        .find(|row| row.split_whitespace().nth(1) == Some(label))
        .map(|row| row.trim_end().to_owned())
        .unwrap_or_default()
}

/// Waits for `user`'s `typing` in `room`, passing over presence.
async fn expect_typing_from(client: &mut TestClient, room: &str, user: &str) {
    for _ in 0..20 {
        match client.recv().await {
            ServerFrame::Typing {
                room: got_room,
                user: got_user,
            } if got_room == room && got_user == user => return,
            ServerFrame::Join { .. } | ServerFrame::Leave { .. } => {}
            other => panic!("expected {user} typing in {room}, got {other:?}"),
        }
    }
    panic!("no typing among 20 frames");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_message_rings_the_bell_and_joins_the_list() {
    let server = ServerProcess::start(ServerOptions::default()).await;
    let state = tempfile::tempdir().unwrap();
    let mut bob = server.account("bob", "pw-bob").await;
    let mut alice = tui(
        &server,
        "alice",
        "pw-alice",
        &["lobby"],
        &state.path().join("alice"),
        "",
    );
    alice.wait_for_text("#lobby: 1 member").await;
    let bells = alice.bells();

    // bob writes to his conversation with alice without joining anything.
    bob.send(&ClientFrame::message(
        "@alice",
        "are you around?",
        Some("c1".into()),
    ))
    .await;
    alice.wait_for_bell(bells).await;
    alice
        .wait_for(
            "the conversation in the list",
            Duration::from_secs(30),
            |s| s.contains("Direct") && s.contains("@bob"),
        )
        .await;
    assert_eq!(sidebar_row(&alice, "@bob"), "1 @bob          @1");
    // The room on screen stays; Alt-1 opens the conversation.
    alice.send_bytes(b"\x1b1");
    alice.wait_for_message("bob", "are you around?").await;
    alice.type_line("yes, here");
    let reply = loop {
        match bob.recv().await {
            ServerFrame::Message(m) if m.text == "yes, here" => break m,
            ServerFrame::Message(_) | ServerFrame::Join { .. } | ServerFrame::Leave { .. } => {}
            other => panic!("expected alice's reply, got {other:?}"),
        }
    };
    assert_eq!(
        (reply.room.as_str(), reply.user.as_str()),
        ("@alice+bob", "alice")
    );

    alice.ctrl_c();
    assert!(alice.wait_exit(Duration::from_secs(10)).await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_shows_goes_with_the_message_and_runs_out() {
    let server = ServerProcess::start(ServerOptions::default()).await;
    let state = tempfile::tempdir().unwrap();
    let mut bob = server.account("bob", "pw-bob").await;
    bob.join("lobby").await;
    let mut alice = tui(
        &server,
        "alice",
        "pw-alice",
        &["lobby"],
        &state.path().join("alice"),
        "send_typing = true\n",
    );
    alice.wait_for_text("#lobby: 2 members").await;
    bob.expect_join("lobby", "alice").await;

    // bob types, then says it: the line goes as the message comes.
    bob.send(&ClientFrame::Typing {
        room: "lobby".into(),
        reference: None,
    })
    .await;
    alice.wait_for_text("bob is typing…").await;
    bob.say("lobby", "here it is").await;
    alice
        .wait_for(
            "the message without the typing line",
            Duration::from_secs(30),
            |s| s.contains("bob │ here it is") && !s.contains("is typing"),
        )
        .await;

    // bob types again (past the server's 2 s between two) and stops: the
    // line runs out after about 6 s.
    let mut shown_at = None;
    for _ in 0..10 {
        bob.send(&ClientFrame::Typing {
            room: "lobby".into(),
            reference: None,
        })
        .await;
        if tokio::time::timeout(
            Duration::from_secs(3),
            alice.wait_for_text("bob is typing…"),
        )
        .await
        .is_ok()
        {
            shown_at = Some(Instant::now());
            break;
        }
    }
    let shown_at = shown_at.expect("bob's typing shows once relayed");
    alice
        .wait_for(
            "the typing line running out",
            Duration::from_secs(15),
            |s| !s.contains("is typing"),
        )
        .await;
    let shown_for = shown_at.elapsed();
    assert!(
        shown_for >= Duration::from_secs(4),
        "gone after {shown_for:?}"
    );

    // alice's own typing reaches bob (send_typing is on in her config).
    alice.send_bytes(b"hel");
    expect_typing_from(&mut bob, "lobby", "alice").await;

    alice.ctrl_c();
    assert!(alice.wait_exit(Duration::from_secs(10)).await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_on_one_device_clears_the_count_on_the_other() {
    let server = ServerProcess::start(ServerOptions::default()).await;
    let state = tempfile::tempdir().unwrap();
    let mut bob = server.account("bob", "pw-bob").await;
    bob.join("rust").await;
    let rooms = ["lobby", "rust"];
    let mut laptop = tui(
        &server,
        "alice",
        "pw-alice",
        &rooms,
        &state.path().join("laptop"),
        "",
    );
    laptop.wait_for_text("#lobby: 1 member").await;
    bob.expect_join("rust", "alice").await;
    let mut phone = tui(
        &server,
        "alice",
        "pw-alice",
        &rooms,
        &state.path().join("phone"),
        "",
    );
    phone.wait_for_text("#lobby: 1 member").await;

    // The sidebar row `2 rust` with the count at its right edge.
    let three_unread = format!("2 rust{}3", " ".repeat(11));
    for text in ["one", "two", "three"] {
        bob.say("rust", text).await;
    }
    for client in [&mut laptop, &mut phone] {
        client
            .wait_for("three unread in rust", Duration::from_secs(30), |s| {
                s.contains(&three_unread)
            })
            .await;
    }

    // The laptop opens rust: it is read there, and the phone's count goes.
    laptop.send_bytes(ALT_2);
    laptop.wait_for_message("bob", "three").await;
    phone
        .wait_for("rust read elsewhere", Duration::from_secs(30), |s| {
            s.contains("2 rust ") && !s.contains(&three_unread)
        })
        .await;
    assert_eq!(sidebar_row(&phone, "rust"), "2 rust");

    for client in [&laptop, &phone] {
        client.ctrl_c();
    }
    for client in [&mut laptop, &mut phone] {
        assert!(client.wait_exit(Duration::from_secs(10)).await.success());
    }
}
