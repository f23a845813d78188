//! Messages: fan-out to every member (the sender's copy with its `ref`,
//! nobody else's), the server-stamped `user`, ids, text relayed as sent,
//! `history` paging both ways, and `join` `since` catch-up with no gap and
//! no duplicate while the room keeps talking.

use std::collections::BTreeMap;

use chat_e2e::{
    InProcessServer, ServerOptions, TestClient, ids, join_in_order, messages_only, start_server,
    start_server_with,
};
use chat_proto::{ClientFrame, Message, ServerFrame};

fn now_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(since_epoch.as_millis()).expect("milliseconds fit in i64")
}

#[tokio::test]
async fn a_message_reaches_every_member_with_the_ref_only_on_the_senders_copy() {
    let server = start_server().await;
    let mut alice = server.guest("alice").await;
    let mut bob = server.guest("bob").await;
    let mut carol = server.guest("carol").await;
    let mut outsider = server.guest("dave").await;
    join_in_order(&mut [&mut alice, &mut bob, &mut carol], "lobby").await;
    outsider.join("elsewhere").await;

    let before = now_ms();
    let ack = alice.say("lobby", "hello, room").await;
    let after = now_ms();
    assert!(ack.id > 0, "{ack:?}");
    // The server's clock and the test's are the same machine's.
    assert!(
        (before - 1_000..=after + 1_000).contains(&ack.ts),
        "ts {} is not milliseconds since the epoch around {before}..{after}",
        ack.ts
    );
    for member in [&mut bob, &mut carol] {
        let copy = member.expect_message().await;
        assert_eq!(copy.reference, None, "{}: ref leaked", member.label());
        assert_eq!(
            Message {
                reference: ack.reference.clone(),
                ..copy
            },
            ack,
            "{}: same message as the sender's copy",
            member.label()
        );
    }
    for client in [&mut alice, &mut bob, &mut carol, &mut outsider] {
        client.barrier().await;
    }
}

#[tokio::test]
async fn each_connection_of_a_member_gets_the_message_and_only_the_sending_one_the_ref() {
    let server = start_server().await;
    let mut alice1 = server.account("alice", "pw-alice").await;
    let mut alice2 = server.account("alice", "pw-alice").await;
    let mut bob = server.guest("bob").await;
    alice1.join("lobby").await;
    alice2.join("lobby").await;
    bob.join("lobby").await;
    alice1.expect_join("lobby", "bob").await;
    alice2.expect_join("lobby", "bob").await;

    let from_bob = bob.say("lobby", "to both of you").await;
    for alice in [&mut alice1, &mut alice2] {
        let copy = alice.expect_message().await;
        assert_eq!((copy.id, copy.reference), (from_bob.id, None));
    }

    let ack = alice1.say("lobby", "from my laptop").await;
    let other_device = alice2.expect_message().await;
    assert_eq!(other_device.id, ack.id);
    assert_eq!(
        other_device.reference, None,
        "the ref belongs to the connection that sent it"
    );
    assert_eq!(bob.expect_message().await.reference, None);
    for client in [&mut alice1, &mut alice2, &mut bob] {
        client.barrier().await;
    }
}

#[tokio::test]
async fn the_user_of_a_message_is_never_the_clients_claim() {
    let server = start_server().await;
    let mut alice = server.guest("alice").await;
    let mut bob = server.guest("bob").await;
    join_in_order(&mut [&mut alice, &mut bob], "lobby").await;

    alice
        .send_raw(r#"{"type":"message","room":"lobby","text":"trust me","user":"mallory","ref":"s1","id":999,"ts":1}"#)
        .await;
    let ack = alice.expect_message().await;
    let copy = bob.expect_message().await;
    for m in [&ack, &copy] {
        assert_eq!(m.user, "alice", "spoofed user in {m:?}");
        assert_ne!(m.id, 999, "client-chosen id in {m:?}");
        assert_ne!(m.ts, 1, "client-chosen ts in {m:?}");
    }
    assert_eq!(ack.reference.as_deref(), Some("s1"));
    let (history, _) = bob.history("lobby", None, None, None).await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].user, "alice");
}

#[tokio::test]
async fn ids_increase_strictly_within_each_room() {
    let server = start_server_with(ServerOptions::unthrottled()).await;
    let mut alice = server.guest("alice").await;
    alice.join("red").await;
    alice.join("blue").await;
    let mut red = Vec::new();
    let mut blue = Vec::new();
    for n in 0..6 {
        red.push(alice.say("red", &format!("r{n}")).await.id);
        if n % 2 == 0 {
            blue.push(alice.say("blue", &format!("b{n}")).await.id);
        }
    }
    for ids in [&red, &blue] {
        assert!(ids[0] > 0, "{ids:?}");
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    }
}

#[tokio::test]
async fn text_is_stored_and_relayed_exactly_as_sent() {
    let server = start_server().await;
    let mut alice = server.guest("alice").await;
    let mut bob = server.guest("bob").await;
    join_in_order(&mut [&mut alice, &mut bob], "lobby").await;

    let texts = [
        "  padded  ".to_owned(),
        "line one\nline two\r\n".to_owned(),
        "\u{1b}[31mred\u{1b}[0m \u{7}bell".to_owned(),
        "ünïcödé 🎉 مرحبا".to_owned(),
        r#"{"type":"welcome","user":"root"}"#.to_owned(),
        "é".repeat(2000), // exactly 4000 bytes
    ];
    for text in &texts {
        alice.say("lobby", text).await;
        assert_eq!(&bob.expect_message().await.text, text);
    }
    let (history, more) = bob.history("lobby", None, None, None).await;
    assert!(!more);
    let stored: Vec<&String> = history.iter().map(|m| &m.text).collect();
    assert_eq!(stored, texts.iter().collect::<Vec<_>>());
}

/// Sends `count` messages from `client` to `room`, returning the acks.
async fn say_many(client: &mut TestClient, room: &str, count: usize) -> Vec<Message> {
    let mut acks = Vec::with_capacity(count);
    for n in 1..=count {
        acks.push(client.say(room, &format!("m{n}")).await);
    }
    acks
}

#[tokio::test]
async fn history_pages_backwards_with_before_limit_and_more() {
    let server = start_server_with(ServerOptions::unthrottled()).await;
    let mut alice = server.guest("alice").await;
    alice.join("book").await;
    let sent = say_many(&mut alice, "book", 12).await;
    let all = ids(&sent);

    let mut bob = server.guest("bob").await;
    bob.join("book").await;
    alice.expect_join("book", "bob").await;

    let (page, more) = bob.history("book", None, None, Some(5)).await;
    assert_eq!((ids(&page), more), (all[7..].to_vec(), true), "newest 5");
    let (page, more) = bob.history("book", Some(all[7]), None, Some(5)).await;
    assert_eq!((ids(&page), more), (all[2..7].to_vec(), true));
    let (page, more) = bob.history("book", Some(all[2]), None, Some(5)).await;
    assert_eq!((ids(&page), more), (all[..2].to_vec(), false), "the start");
    let (page, more) = bob.history("book", Some(all[2]), None, Some(2)).await;
    assert_eq!(
        (ids(&page), more),
        (all[..2].to_vec(), false),
        "exactly the rest: not cut"
    );
    let (page, more) = bob.history("book", Some(all[0]), None, None).await;
    assert_eq!(
        (ids(&page), more),
        (vec![], false),
        "nothing before the first"
    );
    let (page, more) = bob.history("book", None, None, None).await;
    assert_eq!((ids(&page), more), (all.clone(), false), "default limit 50");

    // Pages carry the stored messages themselves, without refs.
    for (got, want) in page.iter().zip(&sent) {
        assert_eq!(
            (&got.room, &got.user, &got.text, got.ts),
            (&want.room, &want.user, &want.text, want.ts)
        );
        assert_eq!(got.reference, None);
    }
    alice.barrier().await;
}

#[tokio::test]
async fn history_pages_forwards_with_after() {
    let server = start_server_with(ServerOptions::unthrottled()).await;
    let mut alice = server.guest("alice").await;
    alice.join("book").await;
    let all = ids(&say_many(&mut alice, "book", 12).await);

    let (page, more) = alice.history("book", None, Some(0), Some(5)).await;
    assert_eq!((ids(&page), more), (all[..5].to_vec(), true), "oldest 5");
    let (page, more) = alice.history("book", None, Some(all[4]), Some(5)).await;
    assert_eq!((ids(&page), more), (all[5..10].to_vec(), true));
    let (page, more) = alice.history("book", None, Some(all[9]), Some(5)).await;
    assert_eq!((ids(&page), more), (all[10..].to_vec(), false));
    let (page, more) = alice.history("book", None, Some(all[11]), None).await;
    assert_eq!(
        (ids(&page), more),
        (vec![], false),
        "nothing after the last"
    );
}

#[tokio::test]
async fn join_since_returns_the_oldest_missed_messages_and_paging_finishes_the_gap() {
    let server = start_server_with(ServerOptions::unthrottled()).await;
    let mut alice = server.guest("alice").await;
    alice.join("news").await;
    let all = ids(&say_many(&mut alice, "news", 10).await);

    let mut bob = server.guest("bob").await;
    let joined = bob.join_with("news", Some(all[2]), Some(4)).await;
    assert_eq!(ids(&joined.history), all[3..7], "the oldest 4 after since");
    assert!(joined.more);
    assert_eq!(joined.last_id, all[9]);
    let (page, more) = bob.history("news", None, Some(all[6]), Some(4)).await;
    assert_eq!((ids(&page), more), (all[7..].to_vec(), false));

    // `since` at the newest id: nothing missed.
    let joined = bob.join_with("news", Some(all[9]), None).await;
    assert!(joined.history.is_empty() && !joined.more, "{joined:?}");
    alice.expect_join("news", "bob").await;
    alice.barrier().await;
}

/// What bob saw while catching up: `joined`, the history pages and the
/// live messages, each kept apart.
#[derive(Default)]
struct CatchUp {
    live: Vec<Message>,
    pages: Vec<Message>,
}

#[tokio::test]
async fn join_since_while_the_room_talks_has_no_gap_and_no_duplicate() {
    let server = start_server_with(ServerOptions::unthrottled()).await;
    // Small pages (much paging), one-message pages, and a page large
    // enough that no paging is needed: the race lands differently each time.
    for (round, page) in [3u32, 1, 100].into_iter().enumerate() {
        catch_up_while_the_room_talks(&server, &format!("race{round}"), page).await;
    }
}

/// alice talks in `room` while bob joins with `since` and pages forwards
/// `page` messages at a time; bob must end up with every message once.
async fn catch_up_while_the_room_talks(server: &InProcessServer, room: &str, page: u32) {
    // Names of their own per round: the previous round's guests may still
    // be on their way out.
    let (alice_name, bob_name) = (format!("alice-{room}"), format!("bob-{room}"));
    const BEFORE: usize = 5;
    const DURING: usize = 40;
    let mut alice = server.guest(&alice_name).await;
    alice.join(room).await;
    let early = say_many(&mut alice, room, BEFORE).await;
    let since = early[1].id;

    // alice keeps talking (all her frames in flight at once) while bob
    // reconnects with `since`.
    let mut bob = server.guest(&bob_name).await;
    let burst: Vec<ClientFrame> = (1..=DURING)
        .map(|n| ClientFrame::Message {
            room: room.into(),
            text: format!("live {n}"),
            reference: Some(format!("live-{n}")),
            reply_to: None,
            action: false,
        })
        .collect();
    alice.send_all(&burst).await;
    bob.send(&ClientFrame::Join {
        room: room.into(),
        since: Some(since),
        limit: Some(page),
    })
    .await;

    // alice's acks: her burst in order, with bob's presence join somewhere.
    let mut acks = Vec::new();
    let mut saw_bob = false;
    while acks.len() < DURING {
        match alice.recv().await {
            ServerFrame::Message(m) => acks.push(m),
            ServerFrame::Join { user, .. } if user == bob_name && !saw_bob => saw_bob = true,
            other => panic!("alice: unexpected {other:?}"),
        }
    }
    if !saw_bob {
        alice.expect_join(room, &bob_name).await;
    }
    let final_id = acks.last().map(|m| m.id).expect("40 acks");

    // bob: live messages may come before or after his history pages, but
    // `joined` is his first frame about the room.
    let mut seen = CatchUp::default();
    let joined = loop {
        match bob.recv().await {
            ServerFrame::Joined {
                room: joined_room,
                history,
                more,
                last_id,
                ..
            } => {
                assert_eq!(joined_room, room);
                break (messages_only(history), more, last_id);
            }
            ServerFrame::Message(m) => seen.live.push(m),
            other => panic!("bob: unexpected {other:?} before joined"),
        }
    };
    let (history, mut more, last_id) = joined;
    assert!(history.len() <= page as usize);
    assert_eq!(
        history.first().map(|m| m.id),
        Some(early[2].id),
        "joined starts right after since"
    );
    let mut caught_up: Vec<Message> = history;
    let mut cursor = caught_up.last().map_or(since, |m| m.id);
    // Page forwards until the snapshot's last_id is covered; everything
    // newer than last_id comes live.
    let mut requests = 0;
    while more && cursor < last_id {
        requests += 1;
        assert!(requests <= 100, "paging does not end");
        bob.send(&ClientFrame::History {
            room: room.into(),
            before: None,
            after: Some(cursor),
            limit: Some(page),
        })
        .await;
        let (page, page_more) = loop {
            match bob.recv().await {
                ServerFrame::History { messages, more, .. } => {
                    break (messages_only(messages), more);
                }
                ServerFrame::Message(m) => seen.live.push(m),
                other => panic!("bob: unexpected {other:?} while paging"),
            }
        };
        assert!(
            !page.is_empty(),
            "a page after {cursor} below last_id {last_id} is empty"
        );
        cursor = page.last().map_or(cursor, |m| m.id);
        more = page_more;
        seen.pages.extend(page.iter().cloned());
        caught_up.extend(page.into_iter().filter(|m| m.id <= last_id));
    }
    while seen.live.last().map_or(last_id, |m| m.id) < final_id {
        match bob.recv().await {
            ServerFrame::Message(m) => seen.live.push(m),
            other => panic!("bob: unexpected {other:?} while waiting for live messages"),
        }
    }
    bob.barrier().await;

    // The server's guarantee: live messages are exactly those after the
    // snapshot, in order.
    let live_ids = ids(&seen.live);
    let expected_live: Vec<u64> = acks
        .iter()
        .map(|m| m.id)
        .filter(|id| *id > last_id)
        .collect();
    assert_eq!(
        live_ids, expected_live,
        "live = everything after joined's last_id"
    );
    assert!(seen.live.iter().all(|m| m.reference.is_none()));

    // Together: every message after `since`, once, in order, same content.
    let mut everything: Vec<Message> = caught_up;
    everything.extend(seen.live);
    let got: Vec<u64> = ids(&everything);
    let mut expected: Vec<Message> = early[2..].to_vec();
    expected.extend(acks);
    assert_eq!(got, ids(&expected), "no gap, no duplicate, in order");
    let texts: BTreeMap<u64, &str> = expected.iter().map(|m| (m.id, m.text.as_str())).collect();
    for m in everything.iter().chain(&seen.pages) {
        assert_eq!(
            Some(&m.text.as_str()),
            texts.get(&m.id),
            "content of id {}",
            m.id
        );
    }
}

#[tokio::test]
async fn concurrent_senders_are_seen_by_everyone_in_the_same_id_order() {
    const EACH: usize = 30;
    let server = start_server_with(ServerOptions::unthrottled()).await;
    let mut senders = Vec::new();
    for name in ["ann", "ben", "cat"] {
        let mut client = server.guest(name).await;
        client.join("busy").await;
        senders.push(client);
    }
    // Consume the presence joins: ann saw ben and cat, ben saw cat.
    senders[0].expect_join("busy", "ben").await;
    senders[0].expect_join("busy", "cat").await;
    senders[1].expect_join("busy", "cat").await;
    let mut watcher = server.guest("watcher").await;
    watcher.join("busy").await;
    for sender in &mut senders {
        sender.expect_join("busy", "watcher").await;
    }

    // Everyone's frames are in flight at the same time.
    for sender in &mut senders {
        let label = sender.label().to_owned();
        let frames: Vec<ClientFrame> = (0..EACH)
            .map(|n| ClientFrame::Message {
                room: "busy".into(),
                text: format!("{label} {n}"),
                reference: None,
                reply_to: None,
                action: false,
            })
            .collect();
        sender.send_all(&frames).await;
    }
    let total = EACH * senders.len();
    let mut seen_by_watcher = Vec::with_capacity(total);
    for _ in 0..total {
        seen_by_watcher.push(watcher.expect_message().await);
    }
    let order = ids(&seen_by_watcher);
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "the watcher got ids out of order: {order:?}"
    );
    for sender in &mut senders {
        let mut seen = Vec::with_capacity(total);
        for _ in 0..total {
            seen.push(sender.expect_message().await.id);
        }
        assert_eq!(seen, order, "{} saw another order", sender.label());
    }
    // Each sender's own messages kept their sending order.
    for sender in &senders {
        let own: Vec<&str> = seen_by_watcher
            .iter()
            .filter(|m| m.user == sender.label())
            .map(|m| m.text.as_str())
            .collect();
        let sent: Vec<String> = (0..EACH)
            .map(|n| format!("{} {n}", sender.label()))
            .collect();
        assert_eq!(own, sent, "{}'s messages reordered", sender.label());
    }
    watcher.barrier().await;
}
