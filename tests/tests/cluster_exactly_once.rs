//! End to end: exactly once through a cluster (PostgreSQL + Redis, two
//! nodes). The database decides: a request whose commit happened but was
//! never confirmed, retried on the same node or another, finds the row it
//! stored and is answered with it; nobody sees it twice, and the database
//! holds one row for its `ref`.
//!
//! Two ways the answer gets lost: the connection to PostgreSQL is cut
//! right after it was sent `COMMIT` (a relay in front of PostgreSQL does
//! it, so the node answers `internal` and the client retries), and the
//! node itself dies between its commit and its acknowledgement (the hidden
//! `--abort-after-commits` test hook).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chat_e2e::client::Ending;
use chat_e2e::cluster::{Cluster, Postgres};
use chat_e2e::{ServerOptions, ServerProcess, TestClient};
use chat_proto::{ClientFrame, ErrorCode, Message, ServerFrame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The most frames passed over (presence) while waiting for a message.
const MAX_FRAMES: usize = 30;
/// How often, and how many times, the database is asked whether the cut
/// commit has landed.
const ROW_POLL: Duration = Duration::from_millis(100);
const ROW_POLLS: usize = 100;

/// The simple-query message tokio-postgres ends a transaction with:
/// `Q`, the length 11, `COMMIT` and its NUL.
const COMMIT: &[u8] = b"Q\0\0\0\x0bCOMMIT\0";

/// A TCP relay in front of PostgreSQL. Armed, it passes the next `COMMIT`
/// on, then cuts that connection before any answer comes back: the
/// transaction commits and its client never hears so.
struct CommitCutter {
    addr: SocketAddr,
    armed: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl CommitCutter {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the relay can listen on a free port");
        let addr = listener.local_addr().expect("the relay has an address");
        let armed = Arc::new(AtomicBool::new(false));
        let shared = armed.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, target, shared.clone()));
            }
        });
        Self { addr, armed, task }
    }

    /// The PostgreSQL URL through the relay.
    fn url(&self) -> String {
        format!("postgres://postgres@{}/postgres", self.addr)
    }

    fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    fn fired(&self) -> bool {
        !self.armed.load(Ordering::SeqCst)
    }
}

impl Drop for CommitCutter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Relays one connection both ways until either end closes, or until the
/// armed cut: the `COMMIT` goes on to PostgreSQL, nothing comes back.
async fn relay(client: TcpStream, target: SocketAddr, armed: Arc<AtomicBool>) {
    let Ok(server) = TcpStream::connect(target).await else {
        return;
    };
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    // Set before the COMMIT is passed on, so its answer is never relayed.
    let cut = Arc::new(AtomicBool::new(false));
    let cut_answers = cut.clone();
    let answers = tokio::spawn(async move {
        let mut buf = vec![0_u8; 64 * 1024];
        loop {
            let read = match server_rx.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(read) => read,
            };
            if cut_answers.load(Ordering::SeqCst)
                || client_tx.write_all(&buf[..read]).await.is_err()
            {
                return;
            }
        }
    });
    let mut buf = vec![0_u8; 64 * 1024];
    loop {
        let read = match client_rx.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        let chunk = &buf[..read];
        let cutting =
            chunk.windows(COMMIT.len()).any(|w| w == COMMIT) && armed.swap(false, Ordering::SeqCst);
        if cutting {
            cut.store(true, Ordering::SeqCst);
        }
        if server_tx.write_all(chunk).await.is_err() || cutting {
            break;
        }
    }
    // PostgreSQL reads the COMMIT, then the end of the connection; the
    // answers task ends once PostgreSQL has answered or gone.
    drop(server_tx);
    let _ = answers.await;
}

fn message(room: &str, text: &str, reference: &str) -> ClientFrame {
    ClientFrame::Message {
        room: room.to_owned(),
        text: text.to_owned(),
        reference: Some(reference.to_owned()),
        reply_to: None,
        action: false,
    }
}

/// The next message, passing over presence.
async fn next_message(client: &mut TestClient) -> Message {
    for _ in 0..MAX_FRAMES {
        match client.recv().await {
            ServerFrame::Message(message) => return message,
            ServerFrame::Join { .. } | ServerFrame::Leave { .. } => {}
            other => panic!("expected a message, got {other:?}"),
        }
    }
    panic!("no message among {MAX_FRAMES} frames")
}

/// `(id, text)` of every message `client` gets up to its own copy of
/// `last` (the one carrying `reference`), passing over presence.
async fn messages_until_ack(client: &mut TestClient, reference: &str) -> Vec<(u64, String)> {
    let mut seen = Vec::new();
    for _ in 0..MAX_FRAMES {
        let message = next_message(client).await;
        let done = message.reference.as_deref() == Some(reference);
        seen.push((message.id, message.text));
        if done {
            return seen;
        }
    }
    panic!("no acknowledgement of {reference} among {MAX_FRAMES} messages: {seen:?}")
}

/// Rows of `entries` holding `reference` as their `ref`.
async fn rows_with_ref(postgres: &Postgres, reference: &str) -> String {
    postgres
        .query(&format!(
            "SELECT count(*) FROM entries WHERE client_ref = convert_to('{reference}', 'UTF8')"
        ))
        .await
}

/// A second node of `cluster` with its own database URL and extra flags.
async fn node(cluster: &Cluster, database: String, extra_args: &[&str]) -> ServerProcess {
    ServerProcess::start(ServerOptions {
        database_url: Some(database),
        extra_args: extra_args.iter().map(|a| (*a).to_owned()).collect(),
        ..cluster.node_options()
    })
    .await
}

#[tokio::test]
async fn a_commit_whose_answer_was_cut_off_is_found_by_the_retry_and_seen_once() {
    let cluster = Cluster::start(1).await;
    let target: SocketAddr = ([127, 0, 0, 1], cluster.postgres.port()).into();
    let cutter = CommitCutter::start(target).await;
    let node_a = node(&cluster, cutter.url(), &[]).await;
    let mut bob = cluster.guest(0, "bob").await;
    bob.join("r").await;
    let mut alice = node_a.guest("alice").await.ignoring_stale_presence();
    alice.join("r").await;

    let sent = message("r", "committed, answer cut off", "cut-1");
    cutter.arm();
    alice.send(&sent).await;
    let error = alice.expect_error(ErrorCode::Internal).await;
    assert_eq!(error.reference.as_deref(), Some("cut-1"));
    assert!(cutter.fired(), "the COMMIT was cut, not something else");
    // PostgreSQL did commit it: the row lands although nobody was told.
    let mut landed = false;
    for _ in 0..ROW_POLLS {
        if rows_with_ref(&cluster.postgres, "cut-1").await == "1" {
            landed = true;
            break;
        }
        tokio::time::sleep(ROW_POLL).await;
    }
    assert!(landed, "the cut commit never showed in PostgreSQL");

    // The client retries as `internal` says: the same request, the stored
    // entry back, under the id the lost commit took.
    alice.send(&sent).await;
    let ack = next_message(&mut alice).await;
    assert_eq!(
        (ack.id, ack.text.as_str(), ack.reference.as_deref()),
        (1, "committed, answer cut off", Some("cut-1"))
    );
    // Through the other node bob sees it once, in order, before what
    // comes next (nobody fanned it out: node B reads it from the store
    // when it meets the gap).
    bob.send(&message("r", "after the cut", "bob-1")).await;
    assert_eq!(
        messages_until_ack(&mut bob, "bob-1").await,
        [
            (1, "committed, answer cut off".to_owned()),
            (2, "after the cut".to_owned())
        ]
    );
    assert_eq!(rows_with_ref(&cluster.postgres, "cut-1").await, "1");
    assert_eq!(
        cluster
            .postgres
            .query(
                "SELECT count(*) FROM entries e JOIN rooms r ON r.id = e.room_id WHERE r.name = 'r'"
            )
            .await,
        "2"
    );
}

#[tokio::test]
async fn a_node_killed_after_its_commit_leaves_a_retry_on_another_node_stored_once() {
    let cluster = Cluster::start(1).await;
    let mut node_a = node(
        &cluster,
        cluster.postgres.url(),
        &["--abort-after-commits", "1"],
    )
    .await;
    let mut bob = cluster.guest(0, "bob").await;
    bob.join("r").await;
    let mut alice = node_a.account("alice", "pw-alice").await;
    alice.join("r").await;

    let sent = message("r", "stored by a node that died", "died-1");
    alice.send(&sent).await;
    match alice.recv_or_end(Duration::from_secs(10)).await {
        Err(Ending::Dropped(_) | Ending::Closed { .. }) => {}
        Ok(frame) => panic!("the node answered before it died: {frame:?}"),
    }
    let status = node_a.wait_exit(Duration::from_secs(10)).await;
    assert!(!status.success(), "aborted, not exited: {status}");
    assert_eq!(rows_with_ref(&cluster.postgres, "died-1").await, "1");

    // The client reconnects to the other node and sends it again.
    let mut alice = cluster.account(0, "alice", "pw-alice").await;
    alice.join("r").await;
    alice.send(&sent).await;
    let ack = next_message(&mut alice).await;
    assert_eq!(
        (ack.id, ack.text.as_str(), ack.reference.as_deref()),
        (1, "stored by a node that died", Some("died-1"))
    );
    bob.send(&message("r", "after the crash", "bob-1")).await;
    assert_eq!(
        messages_until_ack(&mut bob, "bob-1").await,
        [
            (1, "stored by a node that died".to_owned()),
            (2, "after the crash".to_owned())
        ]
    );
    assert_eq!(rows_with_ref(&cluster.postgres, "died-1").await, "1");
}
