//! The binary's command line: help, bad flags and unusable database paths
//! end with one clear line and exit code 2, never a panic.

use std::process::{Command, Output};

fn chat_server(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args(args)
        .env("RUST_LOG", "error")
        .output()
        .expect("run chat-server")
}

fn assert_setup_error(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("backtrace"), "{stderr}");
}

#[test]
fn help_lists_every_flag() {
    let output = chat_server(&["--help"]);
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--host",
        "--port",
        "--db",
        "--require-accounts",
        "--max-connections",
        "--rate-limit",
        "--rate-burst",
        "--outbox",
        "--ping-interval",
        "--handshake-timeout",
        "--sync",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[test]
fn a_bad_flag_exits_2() {
    assert_setup_error(&chat_server(&["--port", "eighty"]), "invalid value");
    assert_setup_error(&chat_server(&["--no-such-flag"]), "unexpected argument");
    assert_setup_error(&chat_server(&["--ping-interval", "0"]), "seconds");
}

#[test]
fn a_directory_as_database_exits_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let output = chat_server(&["--port", "0", "--db", dir.path().to_str().unwrap()]);
    assert_setup_error(&output, "cannot open database");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr)
            .trim()
            .lines()
            .count(),
        1
    );
}

#[test]
fn a_database_under_a_file_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "not a folder").unwrap();
    let output = chat_server(&[
        "--port",
        "0",
        "--db",
        file.join("chat.sqlite3").to_str().unwrap(),
    ]);
    assert_setup_error(&output, "cannot open database");
}

#[test]
fn a_file_that_is_not_sqlite_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("garbage.sqlite3");
    std::fs::write(&file, vec![0x42u8; 8192]).unwrap();
    let output = chat_server(&["--port", "0", "--db", file.to_str().unwrap()]);
    assert_setup_error(&output, "cannot open database");
}
