//! End to end over TLS: `chat-server --tls-cert --tls-key` with a
//! self-signed certificate made here. Clients chat over `wss://` and
//! `/healthz` answers over `https://` on the same port; `chat-tui` chats
//! over `wss://` trusting a CA file or the system's store, and refuses a
//! certificate its CA did not sign with one clear line; SIGHUP makes new
//! connections see a renewed certificate while a bad renewal keeps the old
//! one; unusable files stop the start with one line and exit code 2; the
//! handshake timeout covers the TLS handshake.

use std::path::Path;
use std::time::Duration;

use chat_e2e::server::FinishedRun;
use chat_e2e::tls::{TestCertificate, client_config, https_get};
use chat_e2e::tui::{TuiOptions, TuiProcess};
use chat_e2e::{ServerOptions, ServerProcess, Signal, TestClient, run_server_to_exit};
use chat_proto::ServerFrame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a SIGHUP may take to show in the log.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// A server serving `cert` from files in `dir` named `name`.
async fn tls_server(cert: &TestCertificate, dir: &Path, name: &str) -> ServerProcess {
    ServerProcess::start(ServerOptions {
        extra_args: cert.server_args(dir, name),
        ..ServerOptions::default()
    })
    .await
}

#[tokio::test]
async fn wss_sessions_chat_and_https_health_answers_on_the_same_port() {
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCertificate::new();
    let server = tls_server(&cert, dir.path(), "server").await;
    assert!(
        server.log().contains("listening on wss://"),
        "{}",
        server.log()
    );
    let trust = client_config(&[&cert]);

    let mut alice = TestClient::connect_tls(&server.wss_url(), trust.clone()).await;
    assert_eq!(alice.peer_certificate(), Some(cert.der.clone()));
    alice.hello("alice", None).await;
    alice.join("lobby").await;
    let mut bob = TestClient::connect_tls(&server.wss_url(), trust.clone()).await;
    bob.hello("bob", None).await;
    bob.join("lobby").await;
    alice.expect_join("lobby", "bob").await;
    let sent = alice.say("lobby", "hello over TLS").await;
    let received = bob.expect_message().await;
    assert_eq!(
        (received.id, received.user.as_str(), received.text.as_str()),
        (sent.id, "alice", "hello over TLS")
    );

    let health = https_get(server.addr(), "/healthz", trust, HTTP_TIMEOUT).await;
    assert_eq!(
        (health.status, health.body()),
        (200, "ok\n"),
        "{}",
        health.raw
    );

    // The port speaks TLS only: a plain ws:// upgrade gets no session.
    assert!(TestClient::try_connect(&server.ws_url()).await.is_err());
    // And a client that does not trust the certificate is refused.
    let stranger = client_config(&[&TestCertificate::new()]);
    assert!(
        TestClient::try_connect_tls(&server.wss_url(), stranger)
            .await
            .is_err()
    );
    alice.close().await;
    bob.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_tui_chats_over_wss_with_a_ca_file_or_the_system_store() {
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCertificate::new();
    let server = tls_server(&cert, dir.path(), "server").await;
    let (ca_file, _) = cert.write(dir.path(), "ca");
    let ca_file = ca_file.display().to_string();

    let mut options = TuiOptions::new(
        "alice",
        &server.wss_url(),
        &["lobby"],
        &dir.path().join("alice"),
    );
    options.extra_args = vec!["--ca-file".to_owned(), ca_file.clone()];
    let mut alice = TuiProcess::spawn(&options);
    alice.wait_for_text("#lobby: 1 member").await;

    // Without --ca-file, chat-tui trusts the system's store, which
    // SSL_CERT_FILE points at here.
    let mut options = TuiOptions::new(
        "carol",
        &server.wss_url(),
        &["lobby"],
        &dir.path().join("carol"),
    );
    options.env = vec![("SSL_CERT_FILE".to_owned(), ca_file)];
    let mut carol = TuiProcess::spawn(&options);
    carol.wait_for_text("#lobby: 2 members").await;

    let mut bob = TestClient::connect_tls(&server.wss_url(), client_config(&[&cert])).await;
    bob.hello("bob", None).await;
    bob.join("lobby").await;
    bob.say("lobby", "bob says hi over wss").await;
    alice.wait_for_text("bob says hi over wss").await;
    carol.wait_for_text("bob says hi over wss").await;

    alice.type_line("alice answers over wss");
    for _ in 0..10 {
        match bob.recv().await {
            ServerFrame::Message(message) => {
                assert_eq!(
                    (message.user.as_str(), message.text.as_str()),
                    ("alice", "alice answers over wss")
                );
                break;
            }
            ServerFrame::Join { .. } | ServerFrame::Leave { .. } => {}
            other => panic!("expected alice's message, got {other:?}"),
        }
    }
    carol.wait_for_text("alice answers over wss").await;
    alice.ctrl_c();
    carol.ctrl_c();
    alice.wait_exit(Duration::from_secs(10)).await;
    carol.wait_exit(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_tui_refuses_a_certificate_its_ca_did_not_sign_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCertificate::new();
    let server = tls_server(&cert, dir.path(), "server").await;
    let (wrong_ca, _) = TestCertificate::new().write(dir.path(), "wrong");

    let mut options = TuiOptions::new(
        "alice",
        &server.wss_url(),
        &["lobby"],
        &dir.path().join("alice"),
    );
    options.cols = 200;
    options.extra_args = vec!["--ca-file".to_owned(), wrong_ca.display().to_string()];
    let mut alice = TuiProcess::spawn(&options);
    let refusal = format!(
        "the server's certificate is not signed by the CA in {}",
        wrong_ca.display()
    );
    alice.wait_for_text(&refusal).await;
    let rows = alice.rows();
    let refusal_rows: Vec<&String> = rows.iter().filter(|row| row.contains(&refusal)).collect();
    assert!(!refusal_rows.is_empty(), "{rows:#?}");
    let screen = alice.screen();
    for raw in [
        "invalid peer certificate",
        "UnknownIssuer",
        "Custom {",
        "kind:",
    ] {
        assert!(
            !screen.contains(raw),
            "raw error {raw:?} on screen:\n{screen}"
        );
    }
    assert!(!screen.contains("#lobby: 1 member"), "{screen}");
    alice.ctrl_c();
    alice.wait_exit(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn sighup_serves_a_renewed_certificate_and_a_bad_renewal_keeps_the_old() {
    let dir = tempfile::tempdir().unwrap();
    let first = TestCertificate::new();
    let renewed = TestCertificate::new();
    let server = tls_server(&first, dir.path(), "live").await;
    let trust = client_config(&[&first, &renewed]);

    let mut before = TestClient::connect_tls(&server.wss_url(), trust.clone()).await;
    assert_eq!(before.peer_certificate(), Some(first.der.clone()));
    before.hello("early", None).await;
    before.join("lobby").await;

    renewed.write(dir.path(), "live");
    let mark = server.log_mark();
    server.signal(Signal::Hup);
    server
        .wait_for_log("reloaded the TLS certificate", mark, RELOAD_TIMEOUT)
        .await;
    let mut after = TestClient::connect_tls(&server.wss_url(), trust.clone()).await;
    assert_eq!(after.peer_certificate(), Some(renewed.der.clone()));
    // The connection opened before the reload carries on.
    after.hello("late", None).await;
    after.join("lobby").await;
    before.expect_join("lobby", "late").await;
    before.say("lobby", "still here after the reload").await;

    // A broken renewal: one error line, and the renewed certificate stays.
    std::fs::write(dir.path().join("live.crt"), "not a certificate\n").unwrap();
    let mark = server.log_mark();
    server.signal(Signal::Hup);
    server
        .wait_for_log("keeping the current certificate", mark, RELOAD_TIMEOUT)
        .await;
    let log = server.log();
    let errors: Vec<&str> = log[mark..]
        .lines()
        .filter(|line| line.contains("ERROR"))
        .collect();
    assert_eq!(errors.len(), 1, "{log}");
    assert!(errors[0].contains("live.crt"), "{log}");
    let kept = TestClient::connect_tls(&server.wss_url(), trust).await;
    assert_eq!(kept.peer_certificate(), Some(renewed.der.clone()));
}

fn assert_one_line_exit_2(what: &str, run: &FinishedRun, says: &str) {
    assert_eq!(run.status.code(), Some(2), "{what}: {}", run.describe());
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 1, "{what}: {}", run.describe());
    assert!(lines[0].contains(says), "{what}: {}", run.describe());
    assert!(
        !run.stderr.contains("panicked"),
        "{what}: {}",
        run.describe()
    );
}

#[tokio::test]
async fn unusable_certificate_files_stop_the_start_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.sqlite3").display().to_string();
    let (cert, key) = TestCertificate::new().write(dir.path(), "good");
    let (_, other_key) = TestCertificate::new().write(dir.path(), "other");
    let missing = dir.path().join("missing.crt");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "hello\n").unwrap();
    let path = |p: &Path| p.display().to_string();
    let cases = [
        (
            "a missing certificate",
            path(&missing),
            path(&key),
            "cannot read the TLS certificate",
        ),
        (
            "a file without a certificate",
            path(&garbage),
            path(&key),
            "no certificate in it",
        ),
        (
            "a file without a key",
            path(&cert),
            path(&garbage),
            "cannot read the TLS key",
        ),
        (
            "a key of another certificate",
            path(&cert),
            path(&other_key),
            "does not fit",
        ),
    ];
    for (what, cert, key, says) in cases {
        let args = [
            "--port",
            "0",
            "--db",
            &db,
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
        ];
        let run = run_server_to_exit(&args, Duration::from_secs(10)).await;
        assert_one_line_exit_2(what, &run, says);
    }
    let run = run_server_to_exit(
        &["--port", "0", "--db", &db, "--tls-cert", &path(&cert)],
        Duration::from_secs(10),
    )
    .await;
    assert_one_line_exit_2("--tls-cert alone", &run, "--tls-cert needs --tls-key");
    assert!(
        !Path::new(&db).exists(),
        "a refused start created the database"
    );
}

#[tokio::test]
async fn a_silent_connection_is_dropped_at_the_handshake_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCertificate::new();
    let server = ServerProcess::start(ServerOptions {
        handshake_timeout: Some(1),
        extra_args: cert.server_args(dir.path(), "server"),
        ..ServerOptions::default()
    })
    .await;
    // One connection says nothing; another starts a TLS record (a
    // handshake record of 0x50 bytes) and stalls inside it. The server
    // closes both once the handshake timeout has passed.
    let started = tokio::time::Instant::now();
    let silent = TcpStream::connect(server.addr()).await.unwrap();
    let mut stalled = TcpStream::connect(server.addr()).await.unwrap();
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x00, 0x50, 0x01])
        .await
        .unwrap();
    for (what, mut stream) in [("silent", silent), ("stalled", stalled)] {
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(8), stream.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("the server kept a {what} handshake past its timeout"));
        assert!(matches!(read, Ok(0) | Err(_)), "{what}: {read:?}");
    }
    // Closed by the timeout (1 s), not refused on sight.
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    // The server still serves everyone else.
    let trust = client_config(&[&cert]);
    let health = https_get(server.addr(), "/healthz", trust, HTTP_TIMEOUT).await;
    assert_eq!(health.status, 200, "{}", health.raw);
}
