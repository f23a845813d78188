//! Limits: frame size (1009), history page sizes (default 50, clamped to
//! 1..=500), the per-session rate limit (which slows a session down rather
//! than refusing its frames), the slow-reader policy (1008 while the room
//! goes on) and `--max-connections`.

use std::time::Duration;

use chat_e2e::metrics::scrape;
use chat_e2e::{
    Ending, ServerOptions, TestClient, bulky_text, ids, start_server, start_server_with,
};
use chat_proto::limits::MAX_FRAME_BYTES;
use chat_proto::{ClientFrame, ErrorCode, Message, ServerFrame, encode};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite;

#[tokio::test]
async fn a_frame_over_16_kib_is_closed_with_1009() {
    let server = start_server().await;
    let mut alice = server.guest("alice").await;
    alice.join("lobby").await;
    let mut bob = server.guest("bob").await;
    bob.join("lobby").await;
    alice.expect_join("lobby", "bob").await;

    let padding = "p".repeat(17 * 1024);
    alice
        .send_raw(&format!(
            r#"{{"type":"message","room":"lobby","text":"hi","pad":"{padding}"}}"#
        ))
        .await;
    alice.expect_close(1009).await;

    // Nothing of it reached the room, and alice is gone from it.
    bob.expect_leave("lobby", "alice").await;
    bob.barrier().await;
}

#[tokio::test]
async fn a_frame_just_under_16_kib_is_accepted() {
    let server = start_server().await;
    let mut alice = server.guest("alice").await;
    alice.join("lobby").await;
    let frame_without_pad = r#"{"type":"message","room":"lobby","text":"big","ref":"b1","pad":""}"#;
    let padding = "p".repeat(MAX_FRAME_BYTES - frame_without_pad.len() - 16);
    let frame =
        format!(r#"{{"type":"message","room":"lobby","text":"big","ref":"b1","pad":"{padding}"}}"#);
    assert!(frame.len() < MAX_FRAME_BYTES);
    alice.send_raw(&frame).await;
    let ack = alice.expect_message().await;
    assert_eq!(
        (ack.text.as_str(), ack.reference.as_deref()),
        ("big", Some("b1"))
    );
}

#[tokio::test]
async fn history_limits_default_to_50_and_clamp_to_1_and_500() {
    const SENT: usize = 501;
    let server = start_server_with(ServerOptions::unthrottled()).await;
    let mut alice = server.guest("alice").await;
    alice.join("archive").await;
    let frames: Vec<ClientFrame> = (1..=SENT)
        .map(|n| ClientFrame::Message {
            room: "archive".into(),
            text: format!("entry {n}"),
            reference: None,
            reply_to: None,
            action: false,
        })
        .collect();
    alice.send_all(&frames).await;
    let mut all = Vec::with_capacity(SENT);
    for _ in 0..SENT {
        all.push(alice.expect_message().await.id);
    }
    assert!(all.windows(2).all(|w| w[0] < w[1]));

    let (page, more) = alice.history("archive", None, None, None).await;
    assert_eq!(
        (ids(&page), more),
        (all[SENT - 50..].to_vec(), true),
        "default 50"
    );
    let (page, more) = alice.history("archive", None, None, Some(0)).await;
    assert_eq!(
        (ids(&page), more),
        (all[SENT - 1..].to_vec(), true),
        "0 clamps to 1"
    );
    let (page, more) = alice.history("archive", None, None, Some(10_000)).await;
    assert_eq!(
        (ids(&page), more),
        (all[SENT - 500..].to_vec(), true),
        "clamped to 500"
    );
    let (page, more) = alice
        .history("archive", None, Some(0), Some(u32::MAX))
        .await;
    assert_eq!(
        (ids(&page), more),
        (all[..500].to_vec(), true),
        "after, clamped to 500"
    );

    let mut bob = server.guest("bob").await;
    let joined = bob.join("archive").await;
    assert_eq!(ids(&joined.history), all[SENT - 50..], "joined default 50");
    assert!(joined.more);
    assert_eq!(joined.last_id, all[SENT - 1]);
    let joined = bob.join_with("archive", None, Some(0)).await;
    assert_eq!(
        ids(&joined.history),
        all[SENT - 1..],
        "joined limit 0 clamps to 1"
    );
    let joined = bob.join_with("archive", None, Some(100_000)).await;
    assert_eq!(
        ids(&joined.history),
        all[SENT - 500..],
        "joined limit clamps to 500"
    );
    assert!(joined.more);
    let joined = bob.join_with("archive", Some(0), Some(600)).await;
    assert_eq!(ids(&joined.history), all[..500], "since 0: the oldest 500");
    assert!(joined.more);
}

#[tokio::test]
async fn a_session_over_its_rate_is_slowed_and_every_frame_is_stored_in_order() {
    // 5 tokens a second, at most 4 banked: a burst of 8 goes over the rate.
    // Issue 9: such a session is slowed down (read no faster than its
    // rate), not refused, so the whole burst is served in order.
    let server = start_server_with(ServerOptions {
        rate_limit: Some(5),
        rate_burst: Some(4),
        ..ServerOptions::default()
    })
    .await;
    let mut bob = server.guest("bob").await;
    bob.join("lobby").await;
    let mut alice = server.guest("alice").await;
    alice.join("lobby").await; // one token spent on the join
    bob.expect_join("lobby", "alice").await;

    let frames: Vec<ClientFrame> = (0..8)
        .map(|n| ClientFrame::Message {
            room: "lobby".into(),
            text: format!("flood {n}"),
            reference: Some(format!("f{n}")),
            reply_to: None,
            action: false,
        })
        .collect();
    let started = Instant::now();
    alice.send_all(&frames).await;
    let mut accepted = Vec::new();
    for n in 0..8 {
        match alice.recv().await {
            ServerFrame::Message(m) => {
                assert_eq!(m.reference.as_deref(), Some(format!("f{n}").as_str()));
                accepted.push(m);
            }
            other => panic!("f{n}: expected its ack, got {other:?}"),
        }
    }
    // Three tokens were left: the other five came at 5 a second.
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(600), "not slowed: {took:?}");
    assert!(
        accepted.windows(2).all(|w| w[0].id < w[1].id),
        "accepted in order: {accepted:?}"
    );

    // The other member got every message, and every one was stored.
    for m in &accepted {
        assert_eq!(bob.expect_message().await.id, m.id);
    }
    bob.barrier().await;
    let (history, _) = bob.history("lobby", None, None, None).await;
    assert_eq!(ids(&history), ids(&accepted), "every frame is stored");
    let metrics = scrape(server.addr()).await;
    assert!(metrics.get("chat_rate_limited_frames_total") >= 4.0);
    assert_eq!(metrics.get("chat_sessions_throttled_total"), 1.0);
    let ack = alice.say("lobby", "calm again").await;
    assert_eq!(bob.expect_message().await.id, ack.id);
}

#[tokio::test]
async fn a_slow_reader_is_closed_with_1008_and_the_room_gets_everything() {
    // A batch never exceeds half the outbox, so a client that reads
    // promptly can never be mistaken for a slow one.
    const BATCH: usize = 8;
    const MAX_BATCHES: usize = 400;
    let server = start_server_with(ServerOptions {
        outbox: Some(16),
        ..ServerOptions::unthrottled()
    })
    .await;
    let mut olga = server.guest("olga").await;
    olga.join("flood").await;

    // sam joins, then never reads again.
    let mut sam = TestClient::connect_with_small_receive_buffer(server.addr()).await;
    sam.hello("sam", None).await;
    sam.join("flood").await;
    olga.expect_join("flood", "sam").await;

    let mut fred = server.guest("fred").await;
    fred.join("flood").await;
    olga.expect_join("flood", "fred").await;

    let text = "x".repeat(3500);
    let mut olga_got: Vec<Message> = Vec::new();
    let mut fred_acks: Vec<Message> = Vec::new();
    let mut olga_saw_leave = false;
    let mut fred_saw_leave = false;
    let mut batches = 0;
    while !olga_saw_leave && batches < MAX_BATCHES {
        batches += 1;
        let frames: Vec<ClientFrame> = (0..BATCH)
            .map(|_| ClientFrame::Message {
                room: "flood".into(),
                text: text.clone(),
                reference: None,
                reply_to: None,
                action: false,
            })
            .collect();
        fred.send_all(&frames).await;
        let target = batches * BATCH;
        while fred_acks.len() < target {
            match fred.recv().await {
                ServerFrame::Message(m) => fred_acks.push(m),
                ServerFrame::Leave { user, .. } if user == "sam" && !fred_saw_leave => {
                    fred_saw_leave = true;
                }
                other => panic!("fred: unexpected {other:?}"),
            }
        }
        while olga_got.len() < target {
            match olga.recv().await {
                ServerFrame::Message(m) => olga_got.push(m),
                ServerFrame::Leave { user, .. } if user == "sam" && !olga_saw_leave => {
                    olga_saw_leave = true;
                }
                other => panic!("olga: unexpected {other:?}"),
            }
        }
    }
    let sent = batches * BATCH;

    // Now read sam's socket: after what fitted in the buffers, the server
    // must have closed it with 1008.
    let (ending, frames_read) = sam.read_until_end(Duration::from_secs(10), sent + 10).await;
    assert!(
        frames_read < sent,
        "sam was sent every one of the {sent} messages: never treated as slow"
    );
    match ending {
        Ending::Closed { code, .. } => assert_eq!(code, 1008, "slow reader close code"),
        Ending::Dropped(why) => panic!(
            "the slow reader was dropped without a 1008 close frame ({why}) after {frames_read} frames"
        ),
    }
    eprintln!(
        "slow reader: closed after reading {frames_read} of {sent} messages (leave seen during the flood: {olga_saw_leave})"
    );
    if !olga_saw_leave {
        olga.expect_leave("flood", "sam").await;
    }
    if !fred_saw_leave {
        fred.expect_leave("flood", "sam").await;
    }

    // The readers got every message, in order, once.
    assert_eq!(
        ids(&olga_got),
        ids(&fred_acks),
        "olga got everything fred sent"
    );
    assert_eq!(olga_got.len(), sent);
    assert!(olga_got.windows(2).all(|w| w[0].id < w[1].id));
    let rooms = olga.barrier().await;
    let flood = rooms
        .iter()
        .find(|r| r.name == "flood")
        .expect("flood listed");
    assert_eq!(flood.members, 2, "sam is no longer a member");
    assert_eq!(flood.last_id, fred_acks.last().map_or(0, |m| m.id));
}

/// How a connection attempt beyond the limit was refused.
fn describe_refusal(result: Result<TestClient, tungstenite::Error>) -> Result<TestClient, String> {
    match result {
        Ok(client) => Ok(client),
        Err(tungstenite::Error::Http(response)) => Err(format!("HTTP {}", response.status())),
        Err(e) => panic!("the extra connection was not refused cleanly: {e}"),
    }
}

#[tokio::test]
async fn connections_beyond_max_connections_are_refused_cleanly() {
    let server = start_server_with(ServerOptions {
        max_connections: Some(2),
        ..ServerOptions::default()
    })
    .await;
    let alice = server.guest("alice").await;
    let mut bob = server.guest("bob").await;

    let attempt = tokio::time::timeout(
        Duration::from_secs(5),
        TestClient::try_connect(&server.ws_url()),
    )
    .await
    .expect("a refused connection is answered, not left hanging");
    // The server answers the upgrade with HTTP 503 (README: "more get HTTP
    // 503") instead of accepting and then closing.
    match describe_refusal(attempt) {
        Err(status) => assert!(
            status.starts_with("HTTP 503"),
            "refused with {status}, not 503"
        ),
        Ok(_) => panic!("a connection beyond --max-connections was upgraded"),
    }
    // The refusal disturbed nobody.
    bob.join("lobby").await;

    // A freed slot can be used again. The server frees it once it has
    // finished with the old socket, so try a bounded number of times.
    alice.close().await;
    let mut admitted = None;
    for _ in 0..200 {
        let Ok(mut client) = describe_refusal(TestClient::try_connect(&server.ws_url()).await)
        else {
            continue;
        };
        let hello = encode(&ClientFrame::Hello {
            user: "carol".into(),
            password: None,
        });
        if client.try_send_raw(&hello).await.is_err() {
            continue;
        }
        match client.recv_or_end(Duration::from_secs(5)).await {
            Ok(ServerFrame::Welcome { .. }) => {
                admitted = Some(client);
                break;
            }
            Ok(other) => panic!("expected welcome or a refusal, got {other:?}"),
            Err(_) => continue,
        }
    }
    let mut carol = admitted.expect("a slot frees up after a client leaves");
    carol.label_as("carol");
    carol.join("lobby").await;
    bob.expect_join("lobby", "carol").await;
}

#[tokio::test]
async fn only_work_frames_take_rate_limit_tokens() {
    // One token a second and 3 banked: the test finishes long before a
    // refill could matter.
    let server = start_server_with(ServerOptions {
        rate_limit: Some(1),
        rate_burst: Some(3),
        ..ServerOptions::default()
    })
    .await;
    let mut alice = server.connect().await;
    // Neither hello nor frames refused before any work take a token.
    alice.hello("alice", None).await;
    for _ in 0..4 {
        alice.send_raw("not json").await;
        alice.expect_error(ErrorCode::BadFrame).await;
    }
    alice
        .send(&ClientFrame::Hello {
            user: "alice".into(),
            password: None,
        })
        .await;
    alice.expect_error(ErrorCode::AlreadyAuthenticated).await;
    // The three banked tokens are all still there for real work: nothing
    // was held back for lack of one.
    alice.join("lobby").await;
    alice.say("lobby", "one").await;
    alice.rooms().await;
    let held = |m: &chat_e2e::metrics::Scrape| m.get("chat_rate_limited_frames_total");
    assert_eq!(held(&scrape(server.addr()).await), 0.0);
    // The fourth waits for its token (issue 9: slowed, not refused).
    alice.send(&ClientFrame::rooms()).await;
    alice.expect_rooms().await;
    assert_eq!(held(&scrape(server.addr()).await), 1.0);
}

#[tokio::test]
async fn a_session_that_keeps_flooding_is_read_at_its_rate_and_pushed_back() {
    // Issue 9: a flood is slowed like any burst, and stays harmless: the
    // server holds one frame and reads no faster than the rate, so the
    // kernel's buffers fill and TCP stops the sender.
    const FLOOD: usize = 2_000;
    let server = start_server_with(ServerOptions {
        rate_limit: Some(1),
        rate_burst: Some(2),
        ..ServerOptions::default()
    })
    .await;
    let mut bob = server.guest("bob").await;
    bob.join("lobby").await;
    let mut alice = server.guest("alice").await;
    alice.join("lobby").await;
    bob.expect_join("lobby", "alice").await;

    let text = bulky_text();
    let started = Instant::now();
    let mut sent = 0;
    for n in 0..FLOOD {
        let frame = encode(&ClientFrame::message(
            "lobby",
            &format!("spam {n} {text}"),
            None,
        ));
        match tokio::time::timeout(Duration::from_secs(1), alice.try_send_raw(&frame)).await {
            Ok(Ok(())) => sent += 1,
            Ok(Err(e)) => panic!("the flooding session was closed: {e}"),
            Err(_) => break,
        }
    }
    assert!(sent < FLOOD, "{sent} frames of 16 KiB went out unhindered");
    // bob got the flood at no more than the rate, in order.
    let window = started.elapsed();
    let mut delivered = 0;
    loop {
        match bob.recv_or_end(Duration::from_millis(2500)).await {
            Ok(ServerFrame::Message(message)) => {
                assert!(message.text.starts_with(&format!("spam {delivered} ")));
                delivered += 1;
            }
            Ok(other) => panic!("bob: unexpected {other:?}"),
            Err(ending) => panic!("bob's connection ended: {ending:?}"),
        }
        let allowed = 3.0 + started.elapsed().as_secs_f64();
        assert!(
            f64::from(delivered) <= allowed,
            "{delivered} flood messages within {:?} at one a second",
            started.elapsed()
        );
        if started.elapsed() > window + Duration::from_secs(2) {
            break;
        }
    }
    eprintln!("flood: {sent} frames sent before TCP pushed back; {delivered} served");
    let metrics = scrape(server.addr()).await;
    assert_eq!(
        metrics.get_labelled("chat_sessions", &[("kind", "guest")]),
        2.0,
        "the flooding session is slowed, not closed"
    );
}

#[tokio::test]
async fn a_fragmented_message_counts_as_one_frame_for_the_size_limit() {
    let server = start_server().await;
    let mut alice = server.guest("alice").await;
    alice.join("lobby").await;

    // Small fragments of a normal frame are reassembled.
    alice
        .send_fragmented(&[
            r#"{"type":"message","#,
            r#""room":"lobby","#,
            r#""text":"in parts","ref":"p1"}"#,
        ])
        .await;
    let ack = alice.expect_message().await;
    assert_eq!(
        (ack.text.as_str(), ack.reference.as_deref()),
        ("in parts", Some("p1"))
    );

    // Two fragments under 16 KiB each, over it together.
    let head = format!(
        r#"{{"type":"message","room":"lobby","text":"hi","pad":"{}"#,
        "p".repeat(9 * 1024)
    );
    let tail = format!(r#"{}"}}"#, "p".repeat(9 * 1024));
    alice.send_fragmented(&[&head, &tail]).await;
    alice.expect_close(1009).await;
}
