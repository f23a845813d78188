//! The `chat-tui` binary's command line: help, bad flags on one line with
//! a non-zero exit, and a clear refusal without a terminal. (Building this
//! test also makes `cargo test --workspace` build the binary the
//! end-to-end tests drive.)

use std::process::{Command, Output};

fn chat_tui(args: &[&str]) -> Output {
    let home = tempfile::tempdir().expect("a temporary directory");
    Command::new(env!("CARGO_BIN_EXE_chat-tui"))
        .args(args)
        // Never read the developer's own config or state.
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("HOME", home.path())
        .env_remove("CHAT_PASSWORD")
        .output()
        .expect("chat-tui runs")
}

fn stderr_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn help_lists_the_flags_and_exits_zero() {
    let output = chat_tui(&["--help"]);
    assert!(output.status.success(), "{output:?}");
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--user",
        "--room",
        "--server",
        "--password-file",
        "--state-dir",
        "--config",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
    assert!(help.contains("CHAT_PASSWORD"), "{help}");
}

#[test]
fn a_bad_flag_is_one_line_and_exit_2() {
    let output = chat_tui(&["--user", "alice", "--colour", "blue"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let lines = stderr_lines(&output);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("--colour"), "{lines:?}");
}

#[test]
fn bad_values_are_refused_before_touching_the_terminal() {
    for (args, needle) in [
        (&["--room", "lobby"][..], "--user"),
        (&["--user", "not a name"][..], "not a name"),
        (&["--user", "alice", "--room", "#lobby"][..], "#lobby"),
        (&["--user", "alice", "--server", "http://x"][..], "ws://"),
        (
            &["--user", "alice", "--password-file", "/nonexistent/pw"][..],
            "/nonexistent/pw",
        ),
        (
            &["--user", "alice", "--config", "/nonexistent/c.toml"][..],
            "/nonexistent/c.toml",
        ),
    ] {
        let output = chat_tui(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        let lines = stderr_lines(&output);
        assert_eq!(lines.len(), 1, "{args:?}: {lines:?}");
        assert!(lines[0].contains(needle), "{args:?}: {lines:?}");
    }
}

#[test]
fn without_a_terminal_it_says_so_instead_of_garbling_output() {
    let output = chat_tui(&["--user", "alice", "--server", "ws://127.0.0.1:9/ws"]);
    assert!(!output.status.success());
    assert!(
        stderr_lines(&output)[0].contains("needs a terminal"),
        "{output:?}"
    );
    assert!(output.stdout.is_empty(), "nothing drawn: {output:?}");
}
