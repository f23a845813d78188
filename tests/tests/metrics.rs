//! `GET /metrics`: valid Prometheus text with every family the issue asks
//! for, and values that follow what clients did: open connections, active
//! rooms, sessions by kind, frames in and out, messages stored, the store
//! commit latency histogram, slow consumers dropped, rate-limited frames
//! and handshake timeouts.

use std::time::Duration;

use chat_e2e::metrics::{Scrape, scrape, wait_for_metrics};
use chat_e2e::{
    Ending, ServerOptions, TestClient, bulky_text, message_burst, start_server, start_server_with,
};
use chat_proto::{ClientFrame, ServerFrame};

/// How long a gauge may take to follow a connection that went away.
const SETTLE: Duration = Duration::from_secs(5);

/// The families the issue names, with their Prometheus types.
const FAMILIES: [(&str, &str); 9] = [
    ("chat_connections_open", "gauge"),
    ("chat_rooms_active", "gauge"),
    ("chat_sessions", "gauge"),
    ("chat_frames_in_total", "counter"),
    ("chat_frames_out_total", "counter"),
    ("chat_messages_stored_total", "counter"),
    ("chat_store_commit_seconds", "histogram"),
    ("chat_slow_consumers_dropped_total", "counter"),
    ("chat_rate_limited_frames_total", "counter"),
];

fn guests(m: &Scrape) -> f64 {
    m.get_labelled("chat_sessions", &[("kind", "guest")])
}

fn accounts(m: &Scrape) -> f64 {
    m.get_labelled("chat_sessions", &[("kind", "account")])
}

#[tokio::test]
async fn metrics_follow_connections_rooms_sessions_frames_messages_and_commits() {
    let server = start_server().await;
    let idle = scrape(server.addr()).await;
    for (family, kind) in FAMILIES {
        assert_eq!(idle.kind(family), Some(kind), "# TYPE of {family}");
        assert!(
            idle.help.get(family).is_some_and(|h| !h.trim().is_empty()),
            "{family} has no # HELP"
        );
    }
    for counter in [
        "chat_connections_open",
        "chat_rooms_active",
        "chat_frames_in_total",
        "chat_frames_out_total",
        "chat_messages_stored_total",
        "chat_slow_consumers_dropped_total",
        "chat_rate_limited_frames_total",
    ] {
        assert_eq!(idle.get(counter), 0.0, "{counter} on an idle server");
    }
    assert_eq!((guests(&idle), accounts(&idle)), (0.0, 0.0));
    let idle_commits = idle.histogram("chat_store_commit_seconds");

    // alice (an account) and bob (a guest) talk in `one`, carol (a guest)
    // alone in `two`.
    let mut alice = server.account("alice", "a long password").await;
    let mut bob = server.guest("bob").await;
    let mut carol = server.guest("carol").await;
    alice.join("one").await;
    bob.join("one").await;
    alice.expect_join("one", "bob").await;
    carol.join("two").await;
    for text in ["m1", "m2"] {
        alice.say("one", text).await;
        bob.expect_message().await;
    }
    carol.say("two", "m3").await;
    for client in [&mut alice, &mut bob, &mut carol] {
        client.barrier().await;
    }
    // In: 3 hellos, 3 joins, 3 messages, 3 barrier `rooms`.
    // Out: 3 welcomes, 3 joined, bob's presence join to alice, 2 copies
    // each of m1 and m2, carol's own m3, 3 `rooms` replies.
    const FRAMES_IN: f64 = 12.0;
    const FRAMES_OUT: f64 = 15.0;
    let busy = wait_for_metrics(
        server.addr(),
        SETTLE,
        "the frames of the conversation",
        |m| {
            m.get("chat_frames_in_total") >= FRAMES_IN
                && m.get("chat_frames_out_total") >= FRAMES_OUT
        },
    )
    .await;
    assert_eq!(busy.get("chat_frames_in_total"), FRAMES_IN);
    assert_eq!(busy.get("chat_frames_out_total"), FRAMES_OUT);
    assert_eq!(busy.get("chat_connections_open"), 3.0);
    assert_eq!(busy.get("chat_rooms_active"), 2.0);
    assert_eq!((guests(&busy), accounts(&busy)), (2.0, 1.0));
    assert_eq!(busy.get("chat_messages_stored_total"), 3.0);
    // Each message was acknowledged before the next was sent, so each
    // had a commit of its own (joins and reads may add more).
    let commits = busy.histogram("chat_store_commit_seconds");
    assert!(
        commits.count >= idle_commits.count + 3.0,
        "{commits:?} after {idle_commits:?}"
    );
    assert!(
        commits.sum > idle_commits.sum,
        "commits take time: {commits:?}"
    );
    for (now, then) in commits.buckets.iter().zip(&idle_commits.buckets) {
        assert_eq!(now.0, then.0, "the bucket bounds stay put");
        assert!(
            now.1 >= then.1,
            "a bucket count went down: {now:?} < {then:?}"
        );
    }
    assert!(
        commits
            .buckets
            .iter()
            .any(|(le, n)| le.is_finite() && *n > 0.0),
        "no commit fell in a finite bucket: {commits:?}"
    );

    // carol goes: her room empties; bob leaves `one`, which alice keeps.
    carol.close().await;
    bob.send(&ClientFrame::Leave { room: "one".into() }).await;
    bob.expect_leave("one", "bob").await;
    alice.expect_leave("one", "bob").await;
    let fewer = wait_for_metrics(server.addr(), SETTLE, "carol gone", |m| {
        m.get("chat_connections_open") == 2.0
    })
    .await;
    assert_eq!(fewer.get("chat_rooms_active"), 1.0);
    assert_eq!((guests(&fewer), accounts(&fewer)), (1.0, 1.0));

    alice.close().await;
    bob.close().await;
    let after = wait_for_metrics(server.addr(), SETTLE, "nobody connected", |m| {
        m.get("chat_connections_open") == 0.0
    })
    .await;
    assert_eq!(after.get("chat_rooms_active"), 0.0);
    assert_eq!((guests(&after), accounts(&after)), (0.0, 0.0));
    // Counters never go down.
    assert_eq!(after.get("chat_messages_stored_total"), 3.0);
    assert!(
        after.get("chat_frames_in_total") >= FRAMES_IN + 1.0,
        "bob's leave"
    );
    assert!(after.get("chat_frames_out_total") >= FRAMES_OUT + 2.0);
}

#[tokio::test]
async fn slow_consumers_dropped_counts_a_connection_closed_for_not_reading() {
    const BATCH: usize = 4;
    const MAX_BATCHES: usize = 400;
    let server = start_server_with(ServerOptions {
        outbox: Some(8),
        ..ServerOptions::unthrottled()
    })
    .await;
    let mut wally = server.guest("wally").await;
    wally.join("big").await;
    let mut sloth = TestClient::connect_with_small_receive_buffer(server.addr()).await;
    sloth.hello("sloth", None).await;
    sloth.join("big").await;
    wally.expect_join("big", "sloth").await;
    // From here on sloth reads nothing; a few hundred frames of nearly
    // 16 KiB fill the kernel's buffers between it and the server.
    let text = bulky_text();
    let batch = message_burst("big", BATCH, |_| text.clone());
    let mut sent = 0;
    let mut acked = 0;
    let mut sloth_left = false;
    while !sloth_left && sent < BATCH * MAX_BATCHES {
        wally.send_all(&batch).await;
        sent += BATCH;
        while acked < sent {
            match wally.recv().await {
                ServerFrame::Message(_) => acked += 1,
                ServerFrame::Leave { user, .. } if user == "sloth" => sloth_left = true,
                other => panic!("wally: unexpected {other:?}"),
            }
        }
    }
    if !sloth_left {
        wally.expect_leave("big", "sloth").await;
    }
    let metrics = wait_for_metrics(server.addr(), SETTLE, "sloth dropped", |m| {
        m.get("chat_connections_open") == 1.0
    })
    .await;
    assert_eq!(metrics.get("chat_slow_consumers_dropped_total"), 1.0);
    let (ending, read) = sloth.read_until_end(Duration::from_secs(10), sent).await;
    assert!(read < sent, "sloth got all {sent} messages");
    assert!(
        matches!(
            ending,
            Ending::Closed { code: 1008, .. } | Ending::Dropped(_)
        ),
        "{ending:?}"
    );
    // wally, who reads, was never counted.
    wally.barrier().await;
    assert_eq!(
        scrape(server.addr())
            .await
            .get("chat_slow_consumers_dropped_total"),
        1.0
    );
}

#[tokio::test]
async fn rate_limited_frames_counts_every_frame_held_back() {
    // One token a second, two banked: after the join, one `rooms` is served
    // at once and each further one waits for its token (issue 9: held, not
    // refused), a second apart, so no refill can make one skip the wait.
    let server = start_server_with(ServerOptions {
        rate_limit: Some(1),
        rate_burst: Some(2),
        ..ServerOptions::default()
    })
    .await;
    let mut alice = server.guest("alice").await;
    alice.join("lobby").await;
    let frames = vec![ClientFrame::rooms(); 3];
    alice.send_all(&frames).await;
    for _ in 0..frames.len() {
        match alice.recv().await {
            ServerFrame::Rooms { .. } => {}
            other => panic!("expected rooms, got {other:?}"),
        }
    }
    let metrics = scrape(server.addr()).await;
    assert_eq!(metrics.get("chat_rate_limited_frames_total"), 2.0);
    assert_eq!(metrics.get("chat_sessions_throttled_total"), 1.0);
}

#[tokio::test]
async fn a_websocket_closed_for_not_saying_hello_counts_as_a_handshake_timeout() {
    // The family's own help says it counts "connections closed for not
    // finishing the handshake or hello in time".
    let server = start_server_with(ServerOptions {
        handshake_timeout: Some(1),
        ..ServerOptions::default()
    })
    .await;
    let help = scrape(server.addr()).await;
    assert!(
        help.help
            .get("chat_handshake_timeouts_total")
            .is_some_and(|h| h.contains("hello")),
        "{:?}",
        help.help
    );
    let mut silent = server.connect().await;
    let (ending, _) = silent.read_until_end(Duration::from_secs(5), 0).await;
    assert!(
        matches!(ending, Ending::Closed { code: 1008, .. }),
        "{ending:?}"
    );
    let metrics = wait_for_metrics(server.addr(), SETTLE, "the silent socket gone", |m| {
        m.get("chat_connections_open") == 0.0
    })
    .await;
    assert_eq!(
        metrics.get("chat_handshake_timeouts_total"),
        1.0,
        "a WebSocket closed for sending no hello within --handshake-timeout is not counted"
    );
}
