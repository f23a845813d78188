//! End to end: fixing messages as two people see it in real `chat-tui`
//! processes on pseudo-terminals. bob says a line with a typo, edits it
//! (Up on an empty input) and alice's screen changes it in place, on the
//! same row, marked `(edited)`; alice picks it (Alt-P) and reacts with the
//! first quick emoji, and bob's screen shows the reaction under his line;
//! bob's `/me` shows as an action, and once he deletes it alice's screen
//! says `(deleted)` on its row. Needs a server that speaks protocol 2's
//! fixable messages.

use chat_e2e::tui::{SCREEN_TIMEOUT, TuiOptions, TuiProcess};
use chat_e2e::{ServerOptions, ServerProcess};

/// Up, as a terminal sends it.
const UP: &[u8] = b"\x1b[A";
/// Alt-P (pick a message), as a terminal sends it: ESC, then the key.
const ALT_P: &[u8] = b"\x1bp";
/// Ctrl-U: the input emptied.
const CTRL_U: &[u8] = &[0x15];

/// The index of the only screen row holding `text`.
fn row_of(client: &TuiProcess, text: &str) -> usize {
    let rows = client.rows();
    let found: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].contains(text))
        .collect();
    assert_eq!(found.len(), 1, "{text:?} on rows {found:?}:\n{rows:#?}");
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bob_edits_a_line_and_alices_screen_changes_it_in_place() {
    let server = ServerProcess::start(ServerOptions::default()).await;
    let state = tempfile::tempdir().expect("a temporary directory");
    let mut alice = TuiProcess::spawn(&TuiOptions::new(
        "alice",
        &server.ws_url(),
        &["fixes"],
        &state.path().join("alice"),
    ));
    alice.wait_for_text("#fixes: 1 member").await;
    let mut bob = TuiProcess::spawn(&TuiOptions::new(
        "bob",
        &server.ws_url(),
        &["fixes"],
        &state.path().join("bob"),
    ));
    bob.wait_for_text("#fixes: 2 members").await;
    alice.wait_for_text("bob joined").await;

    bob.type_line("teh release is today");
    alice.wait_for_text("teh release is today").await;
    // alice's answer reaches bob after the server's copy of his own line
    // (one room, one order), so once he sees it his line is stored and
    // acknowledged: Up can edit it.
    alice.type_line("great news");
    bob.wait_for_text("great news").await;
    alice.wait_for_text("great news").await;
    let row = row_of(&alice, "teh release is today");

    bob.send_bytes(UP);
    bob.wait_for_text("editing your message").await;
    bob.send_bytes(CTRL_U);
    bob.type_line("the release is today");
    alice.wait_for_text("the release is today (edited)").await;
    assert_eq!(
        row_of(&alice, "the release is today (edited)"),
        row,
        "the edit moved the line"
    );
    assert_eq!(alice.count("teh release"), 0, "the old text is still shown");
    assert_eq!(alice.count("great news"), 1);
    bob.wait_for_text("the release is today (edited)").await;
    assert_eq!(
        bob.count("the release is today"),
        1,
        "the edit showed twice"
    );

    // alice picks bob's line (the newest is hers; Up moves to his) and
    // reacts with the first quick emoji.
    alice.send_bytes(ALT_P);
    alice.wait_for_text("picked alice: great news").await;
    alice.send_bytes(UP);
    alice
        .wait_for_text("picked bob: the release is today")
        .await;
    alice.send_bytes(b"+");
    alice.wait_for_text("react with:").await;
    alice.send_bytes(b"1");
    for client in [&mut bob, &mut alice] {
        client
            .wait_for("bob's line with 👍 1 under it", SCREEN_TIMEOUT, |s| {
                s.lines()
                    .any(|l| l.contains('👍') && l.trim_end().ends_with(" 1"))
            })
            .await;
    }
    assert_eq!(
        alice.count("picked"),
        0,
        "alice's screen is still picking after the reaction was sent"
    );

    // An action, then deleted by its author (asked first).
    bob.type_line("/me waves");
    alice.wait_for_text("* bob waves").await;
    bob.wait_for_text("* bob waves").await;
    let row = row_of(&alice, "* bob waves");
    bob.send_bytes(ALT_P);
    bob.wait_for_text("picked bob: waves").await;
    bob.send_bytes(b"d");
    bob.wait_for_text("Delete your message, for everyone?")
        .await;
    bob.send_bytes(b"y");
    alice
        .wait_for("bob's action deleted in place", SCREEN_TIMEOUT, |s| {
            !s.contains("* bob waves")
        })
        .await;
    assert!(
        alice.rows()[row].contains("(deleted)"),
        "{:#?}",
        alice.rows()
    );
    assert_eq!(alice.count("waves"), 0, "the deleted text is still shown");
}
