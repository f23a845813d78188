//! The real `chat-tui` on a pseudo-terminal, as a user's keyboard and
//! terminal drive it: a burst of keys far over crossterm's 1 KiB read
//! arrives whole, and the screen at 50×20 stays readable.

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
