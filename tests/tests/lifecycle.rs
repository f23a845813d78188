//! The server as a process: plain HTTP (`/healthz`, 4xx), graceful
//! shutdown on SIGTERM (1001, exit 0), what the database holds, restarts
//! (accounts and history kept, even after SIGKILL), keep-alive pings, the
//! handshake timeout, and start-up failures (exit code 2, one line).

use std::time::{Duration, Instant};

use chat_e2e::db::{journal_mode, stored_account, stored_messages, stored_room_last_id};
use chat_e2e::http::{http_get, http_raw};
use chat_e2e::{ServerOptions, ServerProcess, Signal, ids, run_server_to_exit};
use chat_proto::{ClientFrame, ErrorCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// "Within a second or two" (issue 2), with room for a loaded machine.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(2);

#[tokio::test]
async fn healthz_is_200_and_other_plain_http_is_4xx() {
    let server = ServerProcess::start_default().await;
    let health = http_get(server.addr(), "/healthz", HTTP_TIMEOUT).await;
    assert_eq!(health.status, 200, "{}", health.raw);
    assert!(
        !health.body().trim().is_empty(),
        "a short body: {}",
        health.raw
    );

    // `/` is the web client (tests/tests/browser.rs); its neighbours are not.
    for path in ["/static/missing.js", "/index.html", "/ws", "/healthz/extra"] {
        let response = http_get(server.addr(), path, HTTP_TIMEOUT).await;
        assert!(
            (400..500).contains(&response.status),
            "GET {path} answered {}",
            response.raw
        );
    }
    let garbage = http_raw(
        server.addr(),
        b"POST /ws HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        HTTP_TIMEOUT,
    )
    .await;
    assert!((400..500).contains(&garbage.status), "{}", garbage.raw);

    // WebSocket clients are unaffected.
    let mut alice = server.guest("alice").await;
    alice.join("lobby").await;
}

#[tokio::test]
async fn sigterm_closes_every_session_with_1001_and_exits_0() {
    let mut server = ServerProcess::start_default().await;
    let mut alice = server.guest("alice").await;
    alice.join("lobby").await;
    let mut bob = server.guest("bob").await;
    bob.join("lobby").await;
    alice.expect_join("lobby", "bob").await;
    let mut carol = server.guest("carol").await;
    let mut anonymous = server.connect().await;
    // Make sure the server has fully accepted the anonymous connection.
    anonymous.send(&ClientFrame::rooms()).await;
    anonymous.expect_error(ErrorCode::NotAuthenticated).await;

    server.sigterm();
    let signalled = Instant::now();
    // Nobody is told that the others leave: everyone is going.
    alice.expect_close(1001).await;
    bob.expect_close(1001).await;
    carol.expect_close(1001).await;
    anonymous.expect_close(1001).await;
    assert!(
        signalled.elapsed() < SHUTDOWN_LIMIT,
        "closing the sessions took {:?}",
        signalled.elapsed()
    );
    let status = server.wait_exit(SHUTDOWN_LIMIT).await;
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM: {status}"
    );
}

#[tokio::test]
async fn a_signal_right_after_the_listening_line_still_shuts_down_cleanly() {
    // The handlers are in place before the server says where it listens, so
    // a supervisor that signals at once does not kill it with the default
    // action (exit by signal, storage not flushed). Before, they were set up
    // only once the accept loop first ran: a race lost on a busy machine,
    // which this test catches only sometimes; main.rs now closes it by order.
    for signal in [Signal::Term, Signal::Int] {
        let mut server = ServerProcess::start_default().await;
        server.signal(signal);
        let status = server.wait_exit(SHUTDOWN_LIMIT).await;
        assert_eq!(status.code(), Some(0), "{signal:?} at once: {status}");
    }
}

#[tokio::test]
async fn sigint_shuts_down_like_sigterm() {
    let mut server = ServerProcess::start_default().await;
    let mut alice = server.guest("alice").await;
    alice.join("lobby").await;
    server.sigint();
    let signalled = Instant::now();
    alice.expect_close(1001).await;
    assert!(
        signalled.elapsed() < SHUTDOWN_LIMIT,
        "closing the session took {:?}",
        signalled.elapsed()
    );
    let status = server.wait_exit(SHUTDOWN_LIMIT).await;
    assert_eq!(status.code(), Some(0), "exit status after SIGINT: {status}");
}

#[tokio::test]
async fn acknowledged_messages_and_accounts_are_in_the_database() {
    let server = ServerProcess::start_default().await;
    let password = "correct horse battery";
    let mut alice = server.account("alice", password).await;
    alice.join_as("Stored", "stored").await;
    let acks = [
        alice.say("stored", "first").await,
        alice.say("stored", "second, with 'quotes'").await,
        alice.say("stored", "third\nline").await,
    ];

    // Read the live database, as a second process would.
    assert_eq!(
        journal_mode(server.db_path()).await.expect("journal_mode"),
        "wal"
    );
    let rows = stored_messages(server.db_path(), "stored")
        .await
        .expect("messages can be read while the server runs");
    let got: Vec<(u64, &str, &str, i64)> = rows
        .iter()
        .map(|r| (r.id as u64, r.user.as_str(), r.text.as_str(), r.ts))
        .collect();
    let want: Vec<(u64, &str, &str, i64)> = acks
        .iter()
        .map(|m| (m.id, m.user.as_str(), m.text.as_str(), m.ts))
        .collect();
    assert_eq!(got, want, "an acknowledged message is a stored row");
    assert_eq!(
        stored_room_last_id(server.db_path(), "stored")
            .await
            .expect("rooms"),
        Some(acks[2].id as i64)
    );

    let account = stored_account(server.db_path(), "alice")
        .await
        .expect("accounts can be read")
        .expect("alice has an account row");
    assert_ne!(account.password_hash, password);
    assert!(
        !account.password_hash.contains(password),
        "the stored hash contains the password: {}",
        account.password_hash
    );
    assert!(
        account.password_hash.len() >= 32,
        "{}",
        account.password_hash
    );
    assert!(account.created_at > 0);
    // Guests leave no account behind.
    server.guest("gus").await.close().await;
    assert_eq!(
        stored_account(server.db_path(), "gus")
            .await
            .expect("accounts"),
        None
    );
}

#[tokio::test]
async fn a_restart_on_the_same_database_keeps_accounts_and_history() {
    let mut server = ServerProcess::start_default().await;
    let mut alice = server.account("alice", "old secret").await;
    alice.join("keep").await;
    let before = [
        alice.say("keep", "one").await,
        alice.say("keep", "two").await,
        alice.say("keep", "three").await,
    ];
    server.restart().await;
    alice.expect_close(1001).await;

    let mut wrong = server.connect().await;
    wrong
        .send(&ClientFrame::Hello {
            user: "alice".into(),
            password: Some("new secret".into()),
        })
        .await;
    wrong.expect_error(ErrorCode::AuthFailed).await;
    wrong.expect_close(1008).await;

    let mut alice = server.connect().await;
    let welcome = alice.hello("alice", Some("old secret")).await;
    assert!(!welcome.registered && !welcome.guest, "{welcome:?}");
    let joined = alice.join("keep").await;
    assert_eq!(ids(&joined.history), ids(&before));
    assert_eq!(joined.last_id, before[2].id);
    for (got, want) in joined.history.iter().zip(&before) {
        assert_eq!(
            (&got.user, &got.text, got.ts),
            (&want.user, &want.text, want.ts)
        );
    }
    let rooms = alice.barrier().await;
    let keep = rooms
        .iter()
        .find(|r| r.name == "keep")
        .expect("keep listed");
    assert_eq!(keep.last_id, before[2].id);

    let next = alice.say("keep", "four").await;
    assert!(
        next.id > before[2].id,
        "ids continue: {} after {}",
        next.id,
        before[2].id
    );
}

#[tokio::test]
async fn acknowledged_messages_survive_sigkill() {
    let mut server = ServerProcess::start(ServerOptions::unthrottled()).await;
    let mut alice = server.guest("alice").await;
    alice.join("durable").await;
    let frames: Vec<ClientFrame> = (1..=30)
        .map(|n| ClientFrame::Message {
            room: "durable".into(),
            text: format!("d{n}"),
            reference: None,
            reply_to: None,
            action: false,
        })
        .collect();
    alice.send_all(&frames).await;
    let mut acked = Vec::new();
    for _ in 0..frames.len() {
        acked.push(alice.expect_message().await.id);
    }
    server.sigkill();
    let status = server.wait_exit(Duration::from_secs(5)).await;
    assert!(!status.success());
    server.restart().await;

    let mut bob = server.guest("bob").await;
    let joined = bob.join("durable").await;
    assert_eq!(
        ids(&joined.history),
        acked,
        "every acknowledged message was committed"
    );
}

#[tokio::test]
async fn a_client_that_stops_answering_pings_is_dropped() {
    let server = ServerProcess::start(ServerOptions {
        ping_interval: Some(1),
        ..ServerOptions::default()
    })
    .await;
    let mut olga = server.guest("olga").await;
    olga.join("idle").await;
    // mute joins, then never reads again, so it never answers a ping.
    let mut mute = server.guest("mute").await;
    mute.join("idle").await;
    olga.expect_join("idle", "mute").await;

    // olga keeps reading (and so answering pings) while she waits.
    olga.expect_leave_within(Duration::from_secs(10), "idle", "mute")
        .await;
    let rooms = olga.barrier().await;
    assert_eq!(
        rooms.iter().find(|r| r.name == "idle").map(|r| r.members),
        Some(1)
    );
    drop(mute);
}

#[tokio::test]
async fn a_connection_that_never_upgrades_is_dropped_after_the_handshake_timeout() {
    let server = ServerProcess::start(ServerOptions {
        handshake_timeout: Some(1),
        ..ServerOptions::default()
    })
    .await;
    let mut silent = TcpStream::connect(server.addr())
        .await
        .expect("TCP connect");
    // A slow-loris request head that never ends.
    let mut dribbling = TcpStream::connect(server.addr())
        .await
        .expect("TCP connect");
    dribbling
        .write_all(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")
        .await
        .expect("partial request written");
    for (what, stream) in [("silent", &mut silent), ("dribbling", &mut dribbling)] {
        let mut received = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut received)).await;
        // Closed, maybe after an HTTP error answer, maybe with a reset.
        assert!(
            closed.is_ok(),
            "a {what} connection was still open 5 s after a 1 s handshake timeout"
        );
    }
    // The server still serves others.
    server.guest("alice").await.join("lobby").await;
}

fn assert_one_clean_line(what: &str, run: &chat_e2e::server::FinishedRun) {
    assert_eq!(run.status.code(), Some(2), "{what}: {}", run.describe());
    assert!(
        !run.stderr.contains("panicked") && !run.stderr.contains("RUST_BACKTRACE"),
        "{what}: the server panicked: {}",
        run.describe()
    );
    assert_eq!(
        run.stderr_lines().len(),
        1,
        "{what}: expected one line on stderr: {}",
        run.describe()
    );
}

#[tokio::test]
async fn an_unusable_database_path_exits_2_with_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let as_directory = dir.path().join("a-directory");
    std::fs::create_dir(&as_directory).expect("mkdir");
    let a_file = dir.path().join("a-file");
    std::fs::write(&a_file, b"not a directory").expect("write");
    let under_a_file = a_file.join("chat.sqlite3");
    let not_sqlite = dir.path().join("garbage.sqlite3");
    std::fs::write(&not_sqlite, vec![b'x'; 8192]).expect("write");

    for (what, path) in [
        ("a directory", &as_directory),
        ("a path under a file", &under_a_file),
        ("a file that is not SQLite", &not_sqlite),
    ] {
        let path = path.display().to_string();
        let run = run_server_to_exit(
            &["--host", "127.0.0.1", "--port", "0", "--db", &path],
            Duration::from_secs(10),
        )
        .await;
        assert_one_clean_line(what, &run);
    }
}

#[tokio::test]
async fn bad_flags_exit_2_with_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("chat.sqlite3").display().to_string();
    for args in [
        vec!["--bogus"],
        vec!["--port", "not-a-port"],
        vec!["--port", "70000"],
        vec!["--max-connections", "many"],
        vec!["--sync", "sometimes"],
    ] {
        let mut full = vec!["--db", db.as_str()];
        full.extend(args.iter().copied());
        let run = run_server_to_exit(&full, Duration::from_secs(10)).await;
        assert_one_clean_line(&format!("{args:?}"), &run);
    }
    assert!(
        !std::path::Path::new(&db).exists(),
        "a refused start created the database"
    );
}

#[tokio::test]
async fn help_describes_the_flags_and_exits_0() {
    let run = run_server_to_exit(&["--help"], Duration::from_secs(10)).await;
    assert_eq!(run.status.code(), Some(0), "{}", run.describe());
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
        assert!(
            run.stdout.contains(flag),
            "--help lacks {flag}: {}",
            run.describe()
        );
    }
}

#[tokio::test]
async fn a_websocket_that_never_says_hello_is_closed_after_the_handshake_timeout() {
    // Project choice (docs/protocol.md): the handshake timeout also bounds
    // the wait for `hello`.
    let server = ServerProcess::start(ServerOptions {
        handshake_timeout: Some(1),
        ..ServerOptions::default()
    })
    .await;
    let mut silent = server.connect().await;
    let (ending, skipped) = silent.read_until_end(Duration::from_secs(5), 0).await;
    assert_eq!(skipped, 0);
    assert!(
        matches!(ending, chat_e2e::Ending::Closed { code: 1008, .. }),
        "a connection without hello must be closed with 1008, got {ending:?}"
    );
}
