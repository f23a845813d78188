//! Limits: frame size (1009), history page sizes (default 50, clamped to
//! 1..=500), the per-session rate limit, the slow-reader policy (1008 while
//! the room goes on) and `--max-connections`.

use std::collections::BTreeMap;
use std::time::Duration;

use chat_e2e::{Ending, ServerOptions, TestClient, ids, start_server, start_server_with};
use chat_proto::limits::MAX_FRAME_BYTES;
use chat_proto::{ClientFrame, ErrorCode, Message, ServerFrame, encode};
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
async fn a_flooding_session_is_rate_limited_and_dropped_frames_are_not_stored() {
    // 5 tokens a second, at most 4 banked: a burst of 8 must hit the limit.
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
    alice.send_all(&frames).await;
    // Acks leave only after storage, so a quick rate_limited answer may
    // overtake them: pair answers with frames by ref.
    let mut answers: BTreeMap<String, Option<Message>> = BTreeMap::new();
    for _ in 0..8 {
        match alice.recv().await {
            ServerFrame::Message(m) => {
                let reference = m.reference.clone().expect("the sender's copy has its ref");
                assert!(
                    answers.insert(reference, Some(m)).is_none(),
                    "answered twice"
                );
            }
            ServerFrame::Error {
                code: ErrorCode::RateLimited,
                reference,
                ..
            } => {
                let reference = reference.expect("rate_limited echoes the ref");
                assert!(answers.insert(reference, None).is_none(), "answered twice");
            }
            other => panic!("expected an ack or rate_limited, got {other:?}"),
        }
    }
    let mut accepted = Vec::new();
    let mut limited = Vec::new();
    for n in 0..8 {
        match answers.remove(&format!("f{n}")) {
            Some(Some(ack)) => accepted.push(ack),
            Some(None) => limited.push(n),
            None => panic!("f{n} got no answer: {answers:?}"),
        }
    }
    assert!(
        accepted.windows(2).all(|w| w[0].id < w[1].id),
        "accepted in order: {accepted:?}"
    );
    assert!(
        (2..=5).contains(&accepted.len()),
        "4 tokens, of which the join took one (which frames take tokens is \
         only_work_frames_take_rate_limit_tokens' concern): {accepted:?}"
    );
    assert!(
        limited.len() >= 3,
        "a burst of 8 against 4 tokens must be limited: {limited:?}"
    );

    // The other member got exactly the accepted messages.
    for m in &accepted {
        assert_eq!(bob.expect_message().await.id, m.id);
    }
    bob.barrier().await;
    let (history, _) = bob.history("lobby", None, None, None).await;
    assert_eq!(
        ids(&history),
        ids(&accepted),
        "dropped frames are not stored"
    );

    // Tokens come back with time (one per 200 ms): waiting out the refill
    // period is the behaviour under test, not a guess at an event.
    tokio::time::sleep(Duration::from_millis(450)).await;
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
    // The three banked tokens are all still there for real work.
    alice.join("lobby").await;
    alice.say("lobby", "one").await;
    alice.rooms().await;
    alice.send(&ClientFrame::rooms()).await;
    alice.expect_error(ErrorCode::RateLimited).await;
}

#[tokio::test]
async fn a_session_that_keeps_flooding_is_closed_with_1008() {
    // Project choice (docs/protocol.md): a long run of frames into an
    // empty bucket is a flood, not a burst.
    const FLOOD: usize = 1000;
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

    let frames: Vec<ClientFrame> = (0..FLOOD)
        .map(|n| ClientFrame::Message {
            room: "lobby".into(),
            text: format!("spam {n}"),
            reference: None,
            reply_to: None,
            action: false,
        })
        .collect();
    // The server may close before reading all of it; a failed send is fine.
    for frame in &frames {
        if alice.try_send_raw(&encode(frame)).await.is_err() {
            break;
        }
    }
    let skipped = alice.expect_close_after(1008, FLOOD + 10).await;
    assert!(
        skipped < FLOOD,
        "every frame was answered: no flood protection"
    );
    // The token left after alice's join (and any refilled during the
    // flood) let a few messages through before she is closed; then bob
    // hears her leave.
    let mut delivered = 0;
    loop {
        match bob
            .recv_within(Duration::from_secs(5), "alice's leave")
            .await
        {
            ServerFrame::Message(message) => {
                assert_eq!(message.text, format!("spam {delivered}"));
                delivered += 1;
                assert!(delivered <= 5, "{delivered} flood messages got through");
            }
            ServerFrame::Leave { room, user, .. } => {
                assert_eq!((room.as_str(), user.as_str()), ("lobby", "alice"));
                break;
            }
            other => panic!("bob: expected alice's leave, got {other:?}"),
        }
    }
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
