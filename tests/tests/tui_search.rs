//! End to end: searching from a real `chat-tui` process on a
//! pseudo-terminal. carol fills a room alice is not in; alice presses
//! Ctrl-F, types two word beginnings and Enter, and the popup lists the one
//! match with its room and author; Enter closes it, joins the room, fetches
//! the older page that holds the message and shows it in the history.

use chat_e2e::tui::{SCREEN_TIMEOUT, TuiOptions, TuiProcess};
use chat_e2e::{ServerOptions, ServerProcess, message_burst};

/// Ctrl-F, as a terminal sends it.
const CTRL_F: &[u8] = &[0x06];
/// Enter.
const ENTER: &[u8] = b"\r";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_f_finds_a_message_of_another_room_and_enter_shows_it_there() {
    let server = ServerProcess::start(ServerOptions::unthrottled()).await;
    let mut carol = server.guest("carol").await;
    carol.join("archive").await;
    carol.say("archive", "the kiwi harvest report is in").await;
    // Enough later messages that joining shows a page without it.
    carol
        .say_all(&message_burst("archive", 80, |n| format!("filler {n}")))
        .await;

    let state = tempfile::tempdir().expect("a temporary directory");
    let mut alice = TuiProcess::spawn(&TuiOptions::new(
        "alice",
        &server.ws_url(),
        &["lobby"],
        &state.path().join("alice"),
    ));
    alice.wait_for_text("#lobby: 1 member").await;
    alice.send_bytes(CTRL_F);
    alice.wait_for_text("search:").await;
    alice.send_bytes(b"KIWI harv");
    alice.send_bytes(ENTER);
    alice.wait_for_text("search (1)").await;
    alice.wait_for_text("#archive carol").await;
    assert_eq!(alice.count("the kiwi harvest report is in"), 1);

    alice.send_bytes(ENTER);
    alice
        .wait_for("the message in #archive's history", SCREEN_TIMEOUT, |s| {
            !s.contains("search (1)") && s.contains("carol │ the kiwi harvest report is in")
        })
        .await;
    alice.wait_for_text("#archive").await;
}
