//! The real `chat-tui` on a pseudo-terminal, as a user's keyboard and
//! terminal drive it: a burst of keys far over crossterm's 1 KiB read
//! arrives whole (and, over the protocol's limit, goes as several
//! messages in order), the help page at 50×20 pages down to its last row,
//! a bracketed paste of several lines is one message with its lines, and
//! Ctrl-X Ctrl-E hands the terminal to `$EDITOR` and takes it back.

use chat_e2e::tui::{SCREEN_TIMEOUT, TuiOptions, TuiProcess};
use chat_e2e::{ServerOptions, ServerProcess, TestClient};

/// Bob, a plain WebSocket client in `#lobby`, to see what alice sends.
async fn bob_in_lobby(server: &ServerProcess) -> TestClient {
    let mut bob = TestClient::guest(&server.ws_url(), "bob").await;
    bob.join("lobby").await;
    bob
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_kib_of_keys_written_at_once_all_reach_the_input_line() {
    let server = ServerProcess::start(ServerOptions::default()).await;
    let mut bob = bob_in_lobby(&server).await;
    let state = tempfile::tempdir().unwrap();
    let mut alice = TuiProcess::spawn(&TuiOptions::new(
        "alice",
        &server.ws_url(),
        &["lobby"],
        &state.path().join("alice"),
    ));
    alice.wait_for_text("#lobby: 2 members").await;

    // 10 KiB in one write, as an unbracketed paste or `tmux send-keys -l`
    // delivers it: far more than one 1 KiB terminal read.
    let mut burst = String::new();
    let mut block = 0;
    while burst.len() < 10 * 1024 - 15 {
        burst.push_str(&format!("w{block:04} "));
        block += 1;
    }
    burst.push_str("burst-tail-mark");
    let burst_len = burst.len();
    assert!(burst_len >= 10 * 1024, "{burst_len}");
    alice.send_bytes(burst.as_bytes());
    // The line's end shows without another key being pressed.
    alice
        .wait_for(
            "the burst's last word in the input line",
            SCREEN_TIMEOUT,
            |screen| {
                screen
                    .lines()
                    .last()
                    .is_some_and(|row| row.starts_with("> ") && row.contains("burst-tail-mark"))
            },
        )
        .await;
    // Every byte is in the line, and Enter sends it: over the protocol's
    // 4000 bytes, as several messages cut at spaces, in order.
    alice.send_bytes(b"\r");
    let mut pieces = vec![bob.message_after_presence(2).await.text];
    while pieces.join(" ").len() < burst_len {
        pieces.push(bob.expect_message().await.text);
    }
    assert_eq!(pieces.len(), 3);
    assert!(pieces.iter().all(|p| p.len() <= 4000));
    assert_eq!(pieces.join(" "), burst);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bracketed_paste_of_several_lines_is_one_message_with_its_lines() {
    let server = ServerProcess::start(ServerOptions::default()).await;
    let mut bob = bob_in_lobby(&server).await;
    let state = tempfile::tempdir().unwrap();
    let mut alice = TuiProcess::spawn(&TuiOptions::new(
        "alice",
        &server.ws_url(),
        &["lobby"],
        &state.path().join("alice"),
    ));
    alice.wait_for_text("#lobby: 2 members").await;
    // What a terminal sends for a paste with bracketed paste on.
    alice.send_bytes(b"\x1b[200~fn main() {\r\n    println!(\"hi\");\r\n}\x1b[201~");
    alice
        .wait_for(
            "the paste's three lines in the input",
            SCREEN_TIMEOUT,
            |s| {
                let rows: Vec<&str> = s.lines().collect();
                rows.len() >= 3
                    && rows[rows.len() - 3].starts_with("> fn main() {")
                    && rows[rows.len() - 2].starts_with("      println!(\"hi\");")
                    && rows[rows.len() - 1].starts_with("  }")
            },
        )
        .await;
    alice.send_bytes(b"\r");
    let message = bob.message_after_presence(2).await;
    assert_eq!(message.text, "fn main() {\n    println!(\"hi\");\n}");
    assert_eq!(message.user, "alice");
    // Alice's own copy shows its lines as rows of one message.
    alice.wait_for_text("alice │ fn main() {").await;
    alice.wait_for_text("│     println!(\"hi\");").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_x_ctrl_e_composes_in_the_editor_and_takes_the_terminal_back() {
    let server = ServerProcess::start(ServerOptions::default()).await;
    let mut bob = bob_in_lobby(&server).await;
    let state = tempfile::tempdir().unwrap();
    let mut options = TuiOptions::new(
        "alice",
        &server.ws_url(),
        &["lobby"],
        &state.path().join("alice"),
    );
    // An "editor" that writes two lines over the file it is given.
    let editor = "printf 'from the editor\\nsecond line' >";
    options.env.push(("VISUAL".into(), editor.into()));
    options.env.push(("EDITOR".into(), editor.into()));
    let mut alice = TuiProcess::spawn(&options);
    alice.wait_for_text("#lobby: 2 members").await;
    alice.send_bytes(b"draft");
    alice.wait_for_text("> draft").await;
    alice.send_bytes(&[0x18, 0x05]);
    alice.wait_for_text("> from the editor").await;
    alice.wait_for_text("  second line").await;
    // The keyboard is the client's again.
    alice.send_bytes(b"!\r");
    let message = bob.message_after_presence(2).await;
    assert_eq!(message.text, "from the editor\nsecond line!");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_at_50_by_20_pages_down_to_its_last_row_and_closes() {
    let server = ServerProcess::start(ServerOptions::default()).await;
    let state = tempfile::tempdir().unwrap();
    let mut options = TuiOptions::new(
        "alice",
        &server.ws_url(),
        &["lobby"],
        &state.path().join("alice"),
    );
    options.cols = 50;
    options.rows = 20;
    let mut alice = TuiProcess::spawn(&options);
    alice.wait_for_text("#lobby: 1 member").await;
    alice.type_line("/help");
    alice.wait_for_text("chat-tui help").await;
    alice.wait_for_text("↓ more").await;
    // PgDn until the last row is on screen; each press shows a new page.
    for _ in 0..10 {
        if alice.screen().contains("send a line starting") {
            break;
        }
        let before = alice.screen();
        alice.send_bytes(b"\x1b[6~");
        alice
            .wait_for("the next page of help", SCREEN_TIMEOUT, move |s| {
                s != before
            })
            .await;
    }
    // At the end the footer no longer promises more.
    alice
        .wait_for("the help page's last row", SCREEN_TIMEOUT, |s| {
            s.contains("send a line starting") && !s.contains("↓ more")
        })
        .await;
    alice.send_bytes(b"\x1b");
    alice
        .wait_for("the help page closed", SCREEN_TIMEOUT, |s| {
            !s.contains("chat-tui help")
        })
        .await;
}
