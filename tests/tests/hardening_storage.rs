//! Storage faults (issue 9, items 10 to 12), against the real binary: a
//! database file deleted or replaced under a running server stops its
//! acknowledgements (`internal`, one error line, `/healthz` 503, no
//! "storage flushed" at shutdown); a second server on the same file
//! refuses to start with one line and exit code 2; a file size limit
//! (`RLIMIT_FSIZE`, as a full disk) is answered with `internal` while the
//! server stays up, reads keep working and writes resume once the limit
//! is lifted, with nothing acknowledged lost.

use std::path::Path;
use std::time::Duration;

use chat_e2e::db::{StoredMessage, stored_messages};
use chat_e2e::http::http_get;
use chat_e2e::metrics::{scrape, wait_for_metrics};
use chat_e2e::{ServerOptions, ServerProcess, TestClient, ids, run_server_to_exit};
use chat_proto::{ClientFrame, ErrorCode, Message, ServerFrame};
use tokio::time::{Instant, timeout};

const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one message may wait for its answer.
const ANSWER_LIMIT: Duration = Duration::from_secs(10);
/// How long the server may take to notice a file replaced while nobody
/// writes (it looks every second).
const NOTICE_LIMIT: Duration = Duration::from_secs(10);
const EXIT_LIMIT: Duration = Duration::from_secs(10);
/// The server's one line when storage goes wrong, and its shutdown line.
const FAULT_LINE: &str = "storage fault:";
const FLUSHED_LINE: &str = "storage flushed";

/// How the server answered one `message`.
#[derive(Debug)]
enum Answer {
    Acked(Message),
    Refused(ErrorCode, String),
    /// The connection ended instead (the server died, say).
    Ended(String),
}

/// Sends `text` to `room` with a `ref` and reads the answer to it.
async fn send(client: &mut TestClient, room: &str, text: &str) -> Answer {
    let reference = format!("ref-{text}");
    client
        .send(&ClientFrame::message(room, text, Some(reference.clone())))
        .await;
    match client.recv_or_end(ANSWER_LIMIT).await {
        Ok(ServerFrame::Message(message)) => {
            assert_eq!(message.reference.as_deref(), Some(reference.as_str()));
            Answer::Acked(message)
        }
        Ok(ServerFrame::Error {
            code,
            message,
            reference: about,
            ..
        }) => {
            assert_eq!(about.as_deref(), Some(reference.as_str()), "{message}");
            Answer::Refused(code, message)
        }
        Ok(other) => panic!("unexpected answer to {text:?}: {other:?}"),
        Err(ending) => Answer::Ended(format!("{ending:?}")),
    }
}

/// `text` must be refused with `internal`, the server staying up.
async fn expect_refused(server: &ServerProcess, client: &mut TestClient, room: &str, text: &str) {
    match send(client, room, text).await {
        Answer::Refused(ErrorCode::Internal, message) => {
            assert!(!message.trim().is_empty(), "a human message");
        }
        Answer::Ended(why) => panic!(
            "the connection ended ({why}) instead of answering {text:?} with `internal`\n\
             --- server log ---\n{}",
            server.log()
        ),
        other => panic!(
            "{text:?} must be answered `internal`, got {other:?}\n--- server log ---\n{}",
            server.log()
        ),
    }
}

/// `text` must be acknowledged; returns its id.
async fn expect_acked(client: &mut TestClient, room: &str, text: &str) -> u64 {
    match send(client, room, text).await {
        Answer::Acked(message) => message.id,
        other => panic!("{text:?} must be acknowledged, got {other:?}"),
    }
}

async fn health_status(server: &ServerProcess) -> u16 {
    http_get(server.addr(), "/healthz", HTTP_TIMEOUT)
        .await
        .status
}

/// Polls `/healthz` until it answers `status`, at most `limit`.
async fn wait_for_health(server: &ServerProcess, status: u16, limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut ticks = tokio::time::interval(Duration::from_millis(50));
    loop {
        ticks.tick().await;
        let now = health_status(server).await;
        if now == status {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "/healthz still answers {now}, not {status}, after {limit:?}\n--- log ---\n{}",
            server.log()
        );
    }
}

/// The log lines that report a storage fault, once one was logged after
/// `mark`: the log reaches the test through a pipe, so it is waited for.
async fn fault_lines(server: &ServerProcess, mark: usize) -> Vec<String> {
    server.wait_for_log(FAULT_LINE, mark, NOTICE_LIMIT).await;
    server
        .log()
        .lines()
        .filter(|line| line.contains(FAULT_LINE))
        .map(str::to_owned)
        .collect()
}

/// Stops the server with SIGTERM and returns its log; it must exit 0.
async fn stop(server: &mut ServerProcess) -> String {
    server.sigterm();
    let status = server.wait_exit(EXIT_LIMIT).await;
    assert!(status.success(), "{status}\n{}", server.log());
    server.log()
}

fn texts(rows: &[StoredMessage]) -> Vec<(i64, &str)> {
    rows.iter().map(|row| (row.id, row.text.as_str())).collect()
}

/// Copies the live database (with what its WAL holds) into `copy`.
async fn copy_database(db: &Path, copy: &Path) {
    let (db, copy) = (db.to_owned(), copy.to_owned());
    tokio::task::spawn_blocking(move || {
        let conn = rusqlite::Connection::open(&db)?;
        conn.execute("VACUUM INTO ?1", [copy.display().to_string()])
            .map(drop)
    })
    .await
    .expect("the copying thread does not panic")
    .expect("the database can be copied");
}

#[tokio::test]
async fn a_deleted_database_file_stops_acknowledgements() {
    let mut server = ServerProcess::start(ServerOptions::unthrottled()).await;
    let mut alice = server.guest("alice").await;
    alice.join("lobby").await;
    assert_eq!(expect_acked(&mut alice, "lobby", "one").await, 1);
    assert_eq!(expect_acked(&mut alice, "lobby", "two").await, 2);
    assert_eq!(health_status(&server).await, 200);

    let mark = server.log_mark();
    std::fs::remove_file(server.db_path()).expect("the database file can be deleted");
    for text in ["three", "four", "five"] {
        expect_refused(&server, &mut alice, "lobby", text).await;
    }
    assert_eq!(health_status(&server).await, 503);
    let faults = fault_lines(&server, mark).await;
    assert_eq!(faults.len(), 1, "logged once: {faults:#?}");
    assert!(
        faults[0].contains("ERROR") && faults[0].contains("was deleted"),
        "{}",
        faults[0]
    );
    let metrics = scrape(server.addr()).await;
    assert_eq!(metrics.get("chat_store_faults_total"), 1.0);
    assert_eq!(metrics.get("chat_store_failing"), 1.0);
    assert!(metrics.get("chat_store_refused_writes_total") >= 3.0);

    let log = stop(&mut server).await;
    assert!(!log.contains(FLUSHED_LINE), "no flush to claim:\n{log}");
    assert!(log.contains("flushing storage failed"), "{log}");
}

#[tokio::test]
async fn a_replaced_database_file_is_noticed_and_keeps_what_was_acknowledged() {
    let mut server = ServerProcess::start(ServerOptions::unthrottled()).await;
    let mut alice = server.guest("alice").await;
    alice.join("lobby").await;
    for text in ["one", "two", "three"] {
        expect_acked(&mut alice, "lobby", text).await;
    }
    // An operator restores a copy over the live file.
    let copy = server.dir().join("restored.sqlite3");
    copy_database(server.db_path(), &copy).await;
    let mark = server.log_mark();
    std::fs::rename(&copy, server.db_path()).expect("the copy can replace the database");

    // Noticed with nobody writing.
    wait_for_health(&server, 503, NOTICE_LIMIT).await;
    let body = http_get(server.addr(), "/healthz", HTTP_TIMEOUT).await;
    assert!(body.body().contains("replaced"), "{}", body.raw);
    expect_refused(&server, &mut alice, "lobby", "four").await;
    assert_eq!(
        fault_lines(&server, mark).await.len(),
        1,
        "{}",
        server.log()
    );
    let log = stop(&mut server).await;
    assert!(!log.contains(FLUSHED_LINE), "{log}");

    // The file at the path holds every acknowledged message, and only
    // those; a restarted server carries on from it.
    let rows = stored_messages(server.db_path(), "lobby").await.unwrap();
    assert_eq!(texts(&rows), [(1, "one"), (2, "two"), (3, "three")]);
    server.restart().await;
    let mut bob = server.guest("bob").await;
    assert_eq!(bob.join("lobby").await.last_id, 3);
    assert_eq!(expect_acked(&mut bob, "lobby", "four").await, 4);
}

#[tokio::test]
async fn a_second_server_on_the_same_file_refuses_to_start() {
    let mut server = ServerProcess::start(ServerOptions::unthrottled()).await;
    let mut alice = server.guest("alice").await;
    alice.join("lobby").await;
    assert_eq!(expect_acked(&mut alice, "lobby", "one").await, 1);

    let db = server.db_path().display().to_string();
    let second = run_server_to_exit(
        &["--host", "127.0.0.1", "--port", "0", "--db", &db],
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(second.status.code(), Some(2), "{}", second.describe());
    let lines = second.stderr_lines();
    assert_eq!(lines.len(), 1, "one line: {}", second.describe());
    assert!(
        lines[0].contains("in use by another chat-server")
            && lines[0].contains(&db)
            && lines[0].contains(&server.pid().to_string()),
        "{}",
        lines[0]
    );

    // The first server is untouched by the attempt.
    assert_eq!(expect_acked(&mut alice, "lobby", "two").await, 2);
    let rows = stored_messages(server.db_path(), "lobby").await.unwrap();
    assert_eq!(texts(&rows), [(1, "one"), (2, "two")]);
    // Once it has stopped, the file is free again.
    stop(&mut server).await;
    server.restart().await;
    let mut bob = server.guest("bob").await;
    assert_eq!(bob.join("lobby").await.last_id, 2);
}

/// Sets the server's soft `RLIMIT_FSIZE` (bytes), the hard one unlimited.
fn limit_file_size(server: &ServerProcess, soft: u64) {
    let pid = i32::try_from(server.pid()).expect("a pid fits in pid_t");
    rlimit::prlimit(
        pid,
        rlimit::Resource::FSIZE,
        Some((soft, rlimit::INFINITY)),
        None,
    )
    .expect("the test may change the server's file size limit");
}

#[tokio::test]
async fn a_full_disk_is_answered_internal_and_writes_resume() {
    let mut server = ServerProcess::start(ServerOptions::unthrottled()).await;
    let mut bob = server.guest("bob").await;
    bob.join("lobby").await;
    let mut alice = server.guest("alice").await;
    alice.join("lobby").await;
    bob.expect_join("lobby", "alice").await;
    for text in ["one", "two"] {
        expect_acked(&mut alice, "lobby", text).await;
    }
    assert_eq!(ids(&bob.messages(2).await), [1, 2]);

    // Every write to a file now fails (EFBIG, with SIGXFSZ).
    let mark = server.log_mark();
    limit_file_size(&server, 0);
    for text in ["lost-1", "lost-2", "lost-3"] {
        expect_refused(&server, &mut alice, "lobby", text).await;
    }
    let faults = fault_lines(&server, mark).await;
    assert_eq!(faults.len(), 1, "logged once: {faults:#?}");
    assert_eq!(health_status(&server).await, 503);
    let metrics = scrape(server.addr()).await;
    assert_eq!(metrics.get("chat_store_failing"), 1.0);
    assert!(metrics.get("chat_store_refused_writes_total") >= 3.0);
    // Reads keep working meanwhile.
    let (history, _) = alice.history("lobby", None, None, Some(50)).await;
    assert_eq!(ids(&history), [1, 2]);
    assert!(bob.rooms().await.iter().any(|room| room.name == "lobby"));

    // Space returns: the next message is stored, with the next id.
    let mark = server.log_mark();
    limit_file_size(&server, rlimit::INFINITY);
    assert_eq!(expect_acked(&mut alice, "lobby", "three").await, 3);
    wait_for_health(&server, 200, HTTP_TIMEOUT).await;
    wait_for_metrics(server.addr(), HTTP_TIMEOUT, "storage healthy", |m| {
        m.get("chat_store_failing") == 0.0
    })
    .await;
    server
        .wait_for_log("storage writes resumed", mark, NOTICE_LIMIT)
        .await;
    // Bob saw what was stored and nothing that was not.
    let next = timeout(ANSWER_LIMIT, bob.expect_message())
        .await
        .expect("bob's next message");
    assert_eq!((next.id, next.text.as_str()), (3, "three"));

    let log = stop(&mut server).await;
    assert!(log.contains(FLUSHED_LINE), "{log}");
    let rows = stored_messages(server.db_path(), "lobby").await.unwrap();
    assert_eq!(texts(&rows), [(1, "one"), (2, "two"), (3, "three")]);
}
