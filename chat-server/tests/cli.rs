//! The binary names itself as `welcome` does. (Flags, exit codes and start-up
//! errors are covered end to end in `tests/tests/lifecycle.rs`; a test here,
//! through `CARGO_BIN_EXE_chat-server`, is also what makes `cargo test`
//! build the binary those tests run.)

use std::process::Command;

#[test]
fn version_matches_the_welcome_server_name() {
    let output = Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .arg("--version")
        .output()
        .expect("run chat-server --version");
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        chat_server::SERVER_NAME
    );
}
