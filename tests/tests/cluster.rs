//! A cluster: `chat-server` nodes on their own ports sharing one private
//! PostgreSQL and one private Redis behave as one server. Messages cross
//! nodes in id order exactly once, presence and guest names are
//! cluster-wide, a killed node's users leave their rooms within seconds, a
//! client that reconnects through another node misses nothing, and the
//! cluster heals by itself when Redis or PostgreSQL comes back.

use std::collections::BTreeSet;
use std::time::Duration;

use chat_e2e::cluster::Cluster;
use chat_e2e::{
    ServerProcess, Signal, TestClient, ids, join_in_order, room_info, run_server_to_exit,
};
use chat_proto::{ClientFrame, ErrorCode, Message, ServerFrame};
use tokio::time::Instant;

/// How long a cross-node effect that waits on a heartbeat, a reconnection
/// or the janitor may take. The design's figures are 2 s heartbeats, a 6 s
/// node expiry and 2 s reconnection backoff at most.
const CLUSTER_WAIT: Duration = Duration::from_secs(20);
/// Pause between two tries of something that is expected to start working.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

fn message(room: &str, text: String, reference: String) -> ClientFrame {
    ClientFrame::Message {
        room: room.to_owned(),
        text,
        reference: Some(reference),
        reply_to: None,
        action: false,
    }
}

/// Says `hello` as a guest on a fresh connection until it is welcomed
/// (the name is released, or Redis is back), within [`CLUSTER_WAIT`].
async fn guest_when_free(node: &ServerProcess, user: &str) -> TestClient {
    let deadline = Instant::now() + CLUSTER_WAIT;
    loop {
        let mut client = node.connect().await;
        client.label_as(user);
        client
            .send(&ClientFrame::Hello {
                user: user.to_owned(),
                password: None,
            })
            .await;
        match client.recv().await {
            ServerFrame::Welcome { user: got, .. } => {
                assert_eq!(got, user);
                return client;
            }
            ServerFrame::Error { code, .. }
                if matches!(code, ErrorCode::NameTaken | ErrorCode::Internal)
                    && Instant::now() < deadline =>
            {
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            other => panic!("{user}: hello was not welcomed within {CLUSTER_WAIT:?}: {other:?}"),
        }
    }
}

/// Guests alice on node 0 and bob on node 1, both in `lobby` (joined in
/// that order, with the checks of [`join_in_order`]).
async fn alice_and_bob_in_lobby(cluster: &Cluster) -> (TestClient, TestClient) {
    let mut alice = cluster.guest(0, "alice").await;
    let mut bob = cluster.guest(1, "bob").await;
    join_in_order(&mut [&mut alice, &mut bob], "lobby").await;
    (alice, bob)
}

#[tokio::test]
async fn messages_cross_nodes_in_id_order_exactly_once() {
    const EACH: usize = 25;
    let cluster = Cluster::start(3).await;
    let mut alice = cluster.guest(0, "alice").await;
    let mut bob = cluster.guest(1, "bob").await;
    let mut carol = cluster.guest(2, "carol").await;
    // Also checks that each joiner's `joined` lists the members on other
    // nodes, and that they hear its `join`.
    join_in_order(&mut [&mut alice, &mut bob, &mut carol], "lobby").await;

    // Everyone talks at once through three nodes, without waiting for
    // acknowledgements, so commits from different nodes interleave.
    let burst = |who: &str| -> Vec<ClientFrame> {
        (0..EACH)
            .map(|i| message("lobby", format!("{who} {i}"), format!("{who}-{i}")))
            .collect()
    };
    let (alice_burst, bob_burst, carol_burst) = (burst("alice"), burst("bob"), burst("carol"));
    tokio::join!(
        alice.send_all(&alice_burst),
        bob.send_all(&bob_burst),
        carol.send_all(&carol_burst)
    );
    let (seen_by_alice, seen_by_bob, seen_by_carol) = tokio::join!(
        alice.messages(3 * EACH),
        bob.messages(3 * EACH),
        carol.messages(3 * EACH)
    );

    let all: Vec<u64> = (1..=(3 * EACH) as u64).collect();
    let without_ref = |seen: &[Message]| -> Vec<Message> {
        seen.iter()
            .map(|m| Message {
                reference: None,
                ..m.clone()
            })
            .collect()
    };
    for (name, seen) in [
        ("alice", &seen_by_alice),
        ("bob", &seen_by_bob),
        ("carol", &seen_by_carol),
    ] {
        assert_eq!(ids(seen), all, "{name}: every message once, in id order");
        for m in seen.iter() {
            assert_eq!(
                m.reference.is_some(),
                m.user == name,
                "{name}: a ref belongs on the sender's own copy only: {m:?}"
            );
        }
        for sender in ["alice", "bob", "carol"] {
            let texts: Vec<&str> = seen
                .iter()
                .filter(|m| m.user == sender)
                .map(|m| m.text.as_str())
                .collect();
            let sent: Vec<String> = (0..EACH).map(|i| format!("{sender} {i}")).collect();
            assert_eq!(texts, sent, "{name}: {sender}'s messages in the order sent");
        }
        assert_eq!(
            without_ref(seen),
            without_ref(&seen_by_alice),
            "{name}: the same room history on every node"
        );
    }
    // Nothing else is on its way: no late duplicate from another path.
    for client in [&mut alice, &mut bob, &mut carol] {
        client.barrier().await;
    }
    let (history, more) = carol.history("lobby", None, None, Some(500)).await;
    assert!(!more);
    assert_eq!(without_ref(&history), without_ref(&seen_by_alice));
}

#[tokio::test]
async fn presence_and_member_lists_span_the_cluster() {
    let cluster = Cluster::start(3).await;
    let (mut alice, mut bob) = alice_and_bob_in_lobby(&cluster).await;

    // A registered user connected through two nodes counts once.
    let mut carol_here = cluster.account(1, "carol", "pw-carol").await;
    let mut carol_there = cluster.account(2, "carol", "pw-carol").await;
    let joined = carol_here.join("lobby").await;
    assert_eq!(joined.members, ["alice", "bob", "carol"]);
    alice.expect_join("lobby", "carol").await;
    bob.expect_join("lobby", "carol").await;
    let joined = carol_there.join("lobby").await;
    assert_eq!(joined.members, ["alice", "bob", "carol"]);
    // Presence events reach a node in the order Redis published them, so
    // if carol's second connection had caused a `join`, alice would see it
    // before dave's.
    let mut dave = cluster.guest(2, "dave").await;
    dave.join("lobby").await;
    alice.expect_next_join("lobby", "dave").await;
    bob.expect_next_join("lobby", "dave").await;
    carol_here.expect_join("lobby", "dave").await;
    carol_there.expect_join("lobby", "dave").await;

    let rooms = bob.rooms().await;
    assert_eq!(room_info(&rooms, "lobby").map(|r| r.members), Some(4));

    // carol leaving through one node is not carol leaving the room.
    carol_here
        .send(&ClientFrame::Leave {
            room: "lobby".into(),
        })
        .await;
    carol_here.expect_leave("lobby", "carol").await;
    dave.send(&ClientFrame::Leave {
        room: "lobby".into(),
    })
    .await;
    dave.expect_leave("lobby", "dave").await;
    alice.expect_leave("lobby", "dave").await;
    bob.expect_leave("lobby", "dave").await;
    carol_there.expect_leave("lobby", "dave").await;

    // Her last connection going away is.
    carol_there.close().await;
    alice.expect_leave("lobby", "carol").await;
    bob.expect_leave("lobby", "carol").await;
    bob.close().await;
    alice.expect_leave("lobby", "bob").await;
    let rooms = alice.rooms().await;
    assert_eq!(room_info(&rooms, "lobby").map(|r| r.members), Some(1));
    assert_eq!(alice.join("lobby").await.members, ["alice"]);
}

#[tokio::test]
async fn a_guest_name_is_taken_across_the_cluster_until_released() {
    let cluster = Cluster::start(2).await;
    let dana = cluster.node(0).guest("dana").await;
    let mut impostor = cluster.node(1).connect().await;
    impostor
        .send(&ClientFrame::Hello {
            user: "dana".into(),
            password: None,
        })
        .await;
    impostor.expect_error(ErrorCode::NameTaken).await;
    impostor.expect_close(1008).await;

    // Registering a name another node's guest holds is refused too.
    let mut registrant = cluster.node(1).connect().await;
    registrant
        .send(&ClientFrame::Hello {
            user: "dana".into(),
            password: Some("pw".into()),
        })
        .await;
    registrant.expect_error(ErrorCode::NameTaken).await;

    dana.close().await;
    let mut dana_again = guest_when_free(cluster.node(1), "dana").await;
    dana_again.join("lobby").await;
    // And now node 0 refuses it.
    let mut late = cluster.node(0).connect().await;
    late.send(&ClientFrame::Hello {
        user: "dana".into(),
        password: None,
    })
    .await;
    late.expect_error(ErrorCode::NameTaken).await;
}

#[tokio::test]
async fn users_of_a_killed_node_leave_their_rooms_within_seconds() {
    let cluster = Cluster::start(2).await;
    let mut alice = cluster.guest(0, "alice").await;
    let mut bob = cluster.guest(1, "bob").await;
    let mut erin = cluster.guest(1, "erin").await;
    join_in_order(&mut [&mut alice, &mut bob, &mut erin], "lobby").await;
    alice.join("side").await;
    erin.join("side").await;
    alice.expect_join("side", "erin").await;

    // The dying node committed one last message of bob's and died before
    // publishing it: written here as its writer would have.
    cluster
        .postgres
        .query(
            "WITH r AS (UPDATE rooms SET last_id = last_id + 1 WHERE name = 'lobby' \
             RETURNING id, last_id) INSERT INTO entries (room_id, id, user_name, text, ts) \
             SELECT id, last_id, 'bob', convert_to('committed, never published', 'UTF8'), \
             (extract(epoch FROM now()) * 1000)::bigint FROM r",
        )
        .await;
    let killed = Instant::now();
    cluster.node(1).sigkill();
    // Leaves come in any order across users and rooms.
    let mut leaves = BTreeSet::new();
    for _ in 0..3 {
        match alice.presence_within(CLUSTER_WAIT).await {
            (room, user, false) => {
                leaves.insert((room, user));
            }
            other => panic!("expected a leave, got {other:?}"),
        }
    }
    let took = killed.elapsed();
    let expected: BTreeSet<(String, String)> =
        [("lobby", "bob"), ("lobby", "erin"), ("side", "erin")]
            .into_iter()
            .map(|(room, user)| (room.to_owned(), user.to_owned()))
            .collect();
    assert_eq!(leaves, expected);
    assert!(
        took < Duration::from_secs(12),
        "the leaves took {took:?} after the kill"
    );
    eprintln!("the killed node's users left within {took:?}");
    // The node's death makes the others read what it may not have
    // published: alice gets bob's last message, once.
    let orphan = alice.message_within(CLUSTER_WAIT).await;
    assert_eq!(
        (orphan.id, orphan.user.as_str(), orphan.text.as_str()),
        (1, "bob", "committed, never published")
    );

    // The dead node's guest name is free at once, and the rooms list only
    // who is really there.
    let mut bob = cluster.guest(0, "bob").await;
    let rooms = bob.rooms().await;
    assert_eq!(room_info(&rooms, "lobby").map(|r| r.members), Some(1));
    assert_eq!(bob.join("lobby").await.members, ["alice", "bob"]);
    alice.expect_join("lobby", "bob").await;
    let said = bob.say("lobby", "back, through another node").await;
    assert_eq!(alice.expect_message().await.id, said.id);
}

#[tokio::test]
async fn a_node_declared_dead_while_frozen_announces_its_users_again() {
    let cluster = Cluster::start(2).await;
    let (mut alice, mut bob) = alice_and_bob_in_lobby(&cluster).await;

    // Frozen past its expiry, node 1 looks dead to the cluster: its users
    // leave the rooms and its guest names are freed.
    cluster.node(1).signal(Signal::Stop);
    alice
        .expect_leave_within(CLUSTER_WAIT, "lobby", "bob")
        .await;
    let said = alice.say("lobby", "while bob's node was frozen").await;

    // Back, it finds the janitor's mark and announces its users again; its
    // connections never noticed and get what they missed.
    cluster.node(1).signal(Signal::Cont);
    alice.expect_join_within(CLUSTER_WAIT, "lobby", "bob").await;
    let got = bob.message_within(CLUSTER_WAIT).await;
    assert_eq!((got.id, got.text.as_str()), (said.id, said.text.as_str()));
    // bob's guest name is his again, across the cluster.
    let mut impostor = cluster.node(0).connect().await;
    impostor
        .send(&ClientFrame::Hello {
            user: "bob".into(),
            password: None,
        })
        .await;
    impostor.expect_error(ErrorCode::NameTaken).await;
    let reply = bob.say("lobby", "I'm back").await;
    assert_eq!(alice.expect_message().await.id, reply.id);
    for peer in [&mut alice, &mut bob] {
        peer.barrier().await;
    }
}

#[tokio::test]
async fn a_node_stopped_gracefully_hands_its_users_over_at_once() {
    let mut cluster = Cluster::start(2).await;
    let (mut alice, mut bob) = alice_and_bob_in_lobby(&cluster).await;

    let stopped = Instant::now();
    cluster.node(1).sigterm();
    bob.expect_close(1001).await;
    // Announced by the stopping node itself, not found later by a janitor.
    alice
        .expect_leave_within(Duration::from_secs(4), "lobby", "bob")
        .await;
    let status = cluster.node_mut(1).wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "a graceful stop exits 0: {status}");
    assert!(
        stopped.elapsed() < Duration::from_secs(5),
        "the hand-over took {:?}",
        stopped.elapsed()
    );
    // Its guest name is free at once too.
    let mut bob = cluster.guest(0, "bob").await;
    bob.join("lobby").await;
    alice.expect_join("lobby", "bob").await;
}

#[tokio::test]
async fn reconnecting_through_another_node_with_since_misses_nothing() {
    let cluster = Cluster::start(3).await;
    let mut alice = cluster.guest(0, "alice").await;
    let mut bob = cluster.account(1, "bob", "pw-bob").await;
    join_in_order(&mut [&mut alice, &mut bob], "lobby").await;
    let mut last_seen = 0;
    for i in 0..3 {
        let said = alice.say("lobby", &format!("before {i}")).await;
        last_seen = bob.expect_message().await.id;
        assert_eq!(last_seen, said.id);
    }
    bob.close().await;
    alice.expect_leave("lobby", "bob").await;
    let mut missed = Vec::new();
    for i in 0..7 {
        missed.push(alice.say("lobby", &format!("missed {i}")).await.id);
    }

    // bob comes back through node 2 while alice keeps talking, so his
    // `join` races with messages committing on node 0.
    const DURING: usize = 30;
    let during: Vec<ClientFrame> = (0..DURING)
        .map(|i| message("lobby", format!("during {i}"), format!("d{i}")))
        .collect();
    let mut bob = cluster.account(2, "bob", "pw-bob").await;
    let (joined, acks) = tokio::join!(bob.join_with("lobby", Some(last_seen), None), async {
        alice.send_all(&during).await;
        let mut acks = Vec::new();
        while acks.len() < DURING {
            match alice.recv_within(Duration::from_secs(5), "acks").await {
                ServerFrame::Message(m) if m.user == "alice" => acks.push(m.id),
                ServerFrame::Join { user, .. } if user == "bob" => {}
                other => panic!("alice: unexpected {other:?}"),
            }
        }
        acks
    });
    assert!(!joined.more, "everything missed fits in one page");
    let caught_up = ids(&joined.history);
    assert!(
        caught_up.starts_with(&missed),
        "the missed messages come first: {caught_up:?}"
    );
    assert_eq!(
        caught_up,
        (last_seen + 1..=joined.last_id).collect::<Vec<_>>(),
        "history holds every id after `since`, up to last_id, once"
    );
    let newest = *acks.last().expect("alice sent messages");
    let live = (newest - joined.last_id) as usize;
    let live_ids = ids(&bob.messages(live).await);
    assert_eq!(
        live_ids,
        (joined.last_id + 1..=newest).collect::<Vec<_>>(),
        "and the live messages carry on right after it"
    );
    bob.barrier().await;
}

#[tokio::test]
async fn the_cluster_recovers_when_redis_restarts() {
    let mut cluster = Cluster::start(2).await;
    let (mut alice, mut bob) = alice_and_bob_in_lobby(&cluster).await;
    let before = alice.say("lobby", "before the outage").await;
    assert_eq!(bob.expect_message().await.id, before.id);

    cluster.redis.kill();
    // Storing does not need Redis: alice's messages are acknowledged.
    let mut during = Vec::new();
    for i in 0..5 {
        during.push(alice.say("lobby", &format!("during the outage {i}")).await);
    }
    // A guest name cannot be checked across the cluster now: `internal`,
    // and the connection stays open to try again.
    let mut frank = cluster.node(1).connect().await;
    frank.label_as("frank");
    frank
        .send(&ClientFrame::Hello {
            user: "frank".into(),
            password: None,
        })
        .await;
    frank.expect_error(ErrorCode::Internal).await;

    cluster.redis.restart().await;
    // bob gets what was said meanwhile, in order, once.
    for sent in &during {
        let got = bob.message_within(CLUSTER_WAIT).await;
        assert_eq!((got.id, &got.text), (sent.id, &sent.text));
    }
    // Messages flow between the nodes again, both ways.
    let reply = bob.say("lobby", "after the outage").await;
    assert_eq!(alice.message_within(CLUSTER_WAIT).await.id, reply.id);
    let again = alice.say("lobby", "and back").await;
    assert_eq!(bob.message_within(CLUSTER_WAIT).await.id, again.id);

    // The same connection gets its session once Redis is back.
    let deadline = Instant::now() + CLUSTER_WAIT;
    loop {
        frank
            .send(&ClientFrame::Hello {
                user: "frank".into(),
                password: None,
            })
            .await;
        match frank.recv().await {
            ServerFrame::Welcome { .. } => break,
            ServerFrame::Error {
                code: ErrorCode::Internal,
                ..
            } if Instant::now() < deadline => tokio::time::sleep(RETRY_PAUSE).await,
            other => panic!("frank: no welcome after Redis came back: {other:?}"),
        }
    }
    // Each node put its users back into the emptied Redis, without
    // announcing them again.
    let deadline = Instant::now() + CLUSTER_WAIT;
    loop {
        let rooms = frank.rooms().await;
        if room_info(&rooms, "lobby").map(|r| r.members) == Some(2) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the room's members were not restored: {rooms:?}"
        );
        tokio::time::sleep(RETRY_PAUSE).await;
    }
    assert_eq!(frank.join("lobby").await.members, ["alice", "bob", "frank"]);
    alice.expect_join("lobby", "frank").await;
    bob.expect_join("lobby", "frank").await;
    for client in [&mut alice, &mut bob] {
        client.barrier().await;
    }

    // Nothing acknowledged was lost, nothing was stored twice.
    let stored = cluster
        .postgres
        .query("SELECT string_agg(id::text, ',' ORDER BY id) FROM entries")
        .await;
    let acknowledged: Vec<String> = std::iter::once(before.id)
        .chain(during.iter().map(|m| m.id))
        .chain([reply.id, again.id])
        .map(|id| id.to_string())
        .collect();
    assert_eq!(stored, acknowledged.join(","));
}

#[tokio::test]
async fn a_postgres_outage_answers_internal_and_heals() {
    let mut cluster = Cluster::start(2).await;
    let (mut alice, mut bob) = alice_and_bob_in_lobby(&cluster).await;
    let before = alice.say("lobby", "before the outage").await;
    assert_eq!(bob.expect_message().await.id, before.id);

    cluster.postgres.stop();
    alice
        .send(&message("lobby", "into the void".into(), "void".into()))
        .await;
    let reference = alice.expect_error(ErrorCode::Internal).await.reference;
    assert_eq!(reference.as_deref(), Some("void"));
    alice.send(&ClientFrame::rooms()).await;
    alice.expect_error(ErrorCode::Internal).await;

    cluster.postgres.restart().await;
    // The same connections work again once the pool reconnects.
    let deadline = Instant::now() + CLUSTER_WAIT;
    let after = loop {
        alice
            .send(&message("lobby", "after the outage".into(), "after".into()))
            .await;
        match alice
            .recv_within(Duration::from_secs(5), "an acknowledgement")
            .await
        {
            ServerFrame::Message(m) if m.reference.as_deref() == Some("after") => break m,
            ServerFrame::Error {
                code: ErrorCode::Internal,
                ..
            } if Instant::now() < deadline => tokio::time::sleep(RETRY_PAUSE).await,
            other => panic!("alice: no acknowledgement after PostgreSQL came back: {other:?}"),
        }
    };
    assert_eq!(after.id, before.id + 1, "the refused message took no id");
    assert_eq!(bob.expect_message().await.id, after.id);
    for client in [&mut alice, &mut bob] {
        client.barrier().await;
    }
}

#[tokio::test]
async fn migrate_creates_the_schema_and_a_node_needs_both_engines() {
    let postgres = chat_e2e::cluster::Postgres::start().await;
    let url = postgres.url();
    let limit = Duration::from_secs(30);

    let first = run_server_to_exit(&["migrate", "--database", &url], limit).await;
    assert!(first.status.success(), "{}", first.describe());
    assert!(
        first.stderr.contains("from schema version 0 to 7"),
        "{}",
        first.describe()
    );
    assert_eq!(
        postgres.query("SELECT version FROM schema_version").await,
        "7"
    );
    assert_eq!(
        postgres
            .query("SELECT count(*) FROM information_schema.tables WHERE table_name IN ('rooms', 'entries', 'accounts')")
            .await,
        "3"
    );
    let again = run_server_to_exit(&["migrate", "--database", &url], limit).await;
    assert!(again.status.success(), "{}", again.describe());
    assert!(
        again.stderr.contains("nothing to do"),
        "{}",
        again.describe()
    );

    // One engine without the other is a usage error.
    let half = run_server_to_exit(&["--port", "0", "--database", &url], limit).await;
    assert_eq!(half.status.code(), Some(2), "{}", half.describe());
    assert_eq!(half.stderr_lines().len(), 1, "{}", half.describe());
    assert!(half.stderr.contains("--redis"), "{}", half.describe());
    let half = run_server_to_exit(&["--port", "0", "--redis", "redis://127.0.0.1:1"], limit).await;
    assert_eq!(half.status.code(), Some(2), "{}", half.describe());
    assert!(half.stderr.contains("--database"), "{}", half.describe());

    // An engine that cannot be reached at start is a setup error too.
    let unreachable = format!("redis://127.0.0.1:{}", chat_e2e::cluster::free_port());
    let down = run_server_to_exit(
        &["--port", "0", "--database", &url, "--redis", &unreachable],
        limit,
    )
    .await;
    assert_eq!(down.status.code(), Some(2), "{}", down.describe());
    assert_eq!(down.stderr_lines().len(), 1, "{}", down.describe());
    assert!(down.stderr.contains("Redis"), "{}", down.describe());
}

#[tokio::test]
async fn a_node_serves_as_soon_as_it_joins_a_running_cluster() {
    // Accounts, rooms and history live in PostgreSQL: a node started later
    // knows them all.
    let cluster = Cluster::start(1).await;
    let mut alice = cluster.account(0, "alice", "pw-alice").await;
    alice.join("lobby").await;
    let said = alice.say("lobby", "from the first node").await;
    let late = ServerProcess::start(cluster.node_options()).await;
    let mut alice_there = late.account("alice", "pw-alice").await;
    let joined = alice_there.join("lobby").await;
    assert_eq!(joined.last_id, said.id);
    assert_eq!(ids(&joined.history), [said.id]);
    let mut wrong = late.connect().await;
    wrong
        .send(&ClientFrame::Hello {
            user: "alice".into(),
            password: Some("not her password".into()),
        })
        .await;
    wrong.expect_error(ErrorCode::AuthFailed).await;
    let rooms = alice_there.rooms().await;
    assert_eq!(room_info(&rooms, "lobby").map(|r| r.last_id), Some(said.id));
    let reply = alice_there.say("lobby", "from the late node").await;
    assert_eq!(alice.expect_message().await.id, reply.id);
}
