//! End to end: room moderation as two people see it in real `chat-tui`
//! processes on pseudo-terminals. alice, a registered user, makes a room
//! (so she owns it), bob joins it as a guest, alice kicks him with
//! `/kick`, and bob's screen says who kicked him and why.

use chat_e2e::tui::{TuiOptions, TuiProcess};
use chat_e2e::{ServerOptions, ServerProcess};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alice_kicks_bob_and_bobs_screen_says_so() {
    let server = ServerProcess::start(ServerOptions::default()).await;
    let state = tempfile::tempdir().expect("a temporary directory");

    // Her first login with a password registers her; the room she makes
    // is then hers, and the title line says so.
    let mut alice_options = TuiOptions::new(
        "alice",
        &server.ws_url(),
        &["ops"],
        &state.path().join("alice"),
    );
    alice_options
        .env
        .push(("CHAT_PASSWORD".into(), "alice's own secret".into()));
    let mut alice = TuiProcess::spawn(&alice_options);
    alice.wait_for_text("you: owner").await;

    let mut bob = TuiProcess::spawn(&TuiOptions::new(
        "bob",
        &server.ws_url(),
        &["ops"],
        &state.path().join("bob"),
    ));
    bob.wait_for_text("#ops: 2 members").await;
    alice.wait_for_text("bob joined").await;

    alice.type_line("/kick bob spam");
    bob.wait_for_text("you were kicked by alice: spam").await;
    alice.wait_for_text("bob was kicked by you: spam").await;
    // bob is out of the room: what he types there is not sent.
    bob.type_line("still here?");
    bob.wait_for_text("not in #ops").await;
    assert_eq!(
        alice.count("still here?"),
        0,
        "a kicked user's line reached the room"
    );
}
