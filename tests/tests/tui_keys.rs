//! The real `chat-tui` on a pseudo-terminal, as a user's keyboard and
//! terminal drive it: a burst of keys far over crossterm's 1 KiB read
//! arrives whole, and the help page at 50×20 pages down to its last row.

use chat_e2e::tui::{SCREEN_TIMEOUT, TuiOptions, TuiProcess};
use chat_e2e::{ServerOptions, ServerProcess};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_kib_of_keys_written_at_once_all_reach_the_input_line() {
    let server = ServerProcess::start(ServerOptions::default()).await;
    let state = tempfile::tempdir().unwrap();
    let mut alice = TuiProcess::spawn(&TuiOptions::new(
        "alice",
        &server.ws_url(),
        &["lobby"],
        &state.path().join("alice"),
    ));
    alice.wait_for_text("#lobby: 1 member").await;

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
    // Every byte is in the line: Enter reports its full length.
    alice.send_bytes(b"\r");
    alice
        .wait_for_text(&format!("text is {burst_len} bytes"))
        .await;
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
