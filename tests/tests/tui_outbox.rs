//! End to end: nothing typed is lost when the client dies. Lines typed
//! into a real `chat-tui` on a pseudo-terminal while the server is down
//! are on disk once they show; the client is killed with SIGKILL, started
//! again, and when the server comes up every line reaches another client
//! once, in the order typed.

use std::time::Duration;

use chat_e2e::tui::{Relay, TuiOptions, TuiProcess};
use chat_e2e::{ServerOptions, ServerProcess, TestClient};
use chat_proto::ServerFrame;

const TYPED: [&str; 3] = [
    "first line typed offline",
    "second line typed offline",
    "third line typed offline",
];
/// Typed once the client is back online: every resend of the three lines
/// goes out on the socket before it, so nothing may follow it.
const MARKER: &str = "typed after the server came up";
/// Frames `bob` may see before the marker (presence and the lines).
const MAX_FRAMES: usize = 40;

/// Texts of every message `client` gets in `room` up to and including the
/// one with `last`, passing over presence frames.
async fn messages_until(client: &mut TestClient, room: &str, last: &str) -> Vec<String> {
    let mut texts = Vec::new();
    for _ in 0..MAX_FRAMES {
        match client.recv().await {
            ServerFrame::Message(m) if m.room == room => {
                let done = m.text == last;
                texts.push(m.text);
                if done {
                    return texts;
                }
            }
            ServerFrame::Join { .. } | ServerFrame::Leave { .. } => {}
            other => panic!("expected a message in #{room}, got {other:?}"),
        }
    }
    panic!("no {last:?} among {MAX_FRAMES} frames; got {texts:?}")
}

/// Screen rows that show `text`.
fn rows_with(client: &TuiProcess, text: &str) -> usize {
    client
        .rows()
        .iter()
        .filter(|row| row.contains(text))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_typed_offline_survive_sigkill_and_arrive_once_in_order() {
    // A port nobody listens on: the relay refuses every connection until
    // it is pointed at the server.
    let nowhere = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free local port");
    let relay = Relay::start(nowhere).await;
    let state = tempfile::tempdir().unwrap();
    let options = TuiOptions::new("alice", &relay.ws_url(), &["lobby"], state.path());

    let mut alice = TuiProcess::spawn(&options);
    alice.wait_for_text("reconnecting in").await;
    for text in TYPED {
        alice.type_line(text);
        // Drawn in the history only after the effects of Enter, the
        // durable save among them (the input line shows it before).
        alice.wait_for_message("alice", text).await;
    }
    alice.sigkill();
    let status = alice.wait_exit(Duration::from_secs(10)).await;
    assert!(!status.success(), "killed, not exited: {status:?}");

    // Started again on the same state: the three lines are pending again.
    let mut alice = TuiProcess::spawn(&options);
    for text in TYPED {
        alice.wait_for_message("alice", text).await;
    }

    let server = ServerProcess::start(ServerOptions::default()).await;
    let mut bob = server.guest("bob").await;
    bob.join("lobby").await;
    relay.point_to(server.addr());
    alice.wait_for_text("#lobby: 2 members").await;
    alice.type_line(MARKER);

    let mut expected: Vec<String> = TYPED.iter().map(|t| (*t).to_owned()).collect();
    expected.push(MARKER.to_owned());
    assert_eq!(
        messages_until(&mut bob, "lobby", MARKER).await,
        expected,
        "each once, in the order typed"
    );
    let (history, _) = bob.history("lobby", None, None, Some(50)).await;
    let stored: Vec<&str> = history.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(stored, expected, "stored once each");

    alice.wait_for_message("alice", MARKER).await;
    for text in TYPED.iter().chain([&MARKER]) {
        assert_eq!(
            rows_with(&alice, text),
            1,
            "{text:?} once on alice's screen:\n{}",
            alice.screen()
        );
    }
    alice.ctrl_c();
    assert!(alice.wait_exit(Duration::from_secs(10)).await.success());
}
