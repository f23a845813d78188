//! Crash safety under load: senders keep a window of messages in flight in
//! several rooms, the server is killed with SIGKILL mid-run and restarted
//! on the same database; every acknowledged message is then stored exactly
//! once (read through the protocol, paging both ways, and from the SQLite
//! file itself), ids still rise strictly, and new messages follow the old
//! ids. Run once with the default durability and once with `--sync full`.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;
use std::time::Duration;

use chat_e2e::db::{StoredMessage, stored_messages, stored_room_last_id};
use chat_e2e::{ServerOptions, ServerProcess, TestClient, ids, message_burst, room_info};
use chat_proto::{ClientFrame, Message, ServerFrame, encode};
use tokio::sync::watch;
use tokio::time::{Instant, timeout};

/// The most messages one sender sends: a bound in case the kill never comes.
const MAX_SENT_PER_SENDER: usize = 5_000;
/// How long a sender may wait for its next frame before the test fails.
const SENDER_RECV_LIMIT: Duration = Duration::from_secs(10);
/// How long the senders may take to reach the kill point.
const LOAD_LIMIT: Duration = Duration::from_secs(30);

/// The shape of one crash run.
struct CrashRun {
    rooms: usize,
    senders_per_room: usize,
    /// Messages each sender keeps unacknowledged at once.
    window: usize,
    /// Kill once this many acknowledgements have arrived in all.
    kill_after_acks: usize,
    sync_full: bool,
}

/// What one sender saw before the server died.
#[derive(Debug, Default)]
struct SenderReport {
    user: String,
    room: String,
    /// Its own messages, acknowledged (the sender's copy, with its ref).
    acked: Vec<Message>,
    /// Texts sent whose acknowledgement never came: they may or may not
    /// have been committed before the kill.
    unacked: BTreeSet<String>,
    /// Every message frame it received, its own and the other senders'.
    seen: Vec<Message>,
}

/// Sends messages to `room` as fast as acknowledgements allow with
/// `window` in flight, until the connection dies (or the bound is hit).
async fn send_until_the_server_dies(
    mut client: TestClient,
    room: String,
    window: usize,
    acks: Arc<watch::Sender<usize>>,
) -> SenderReport {
    let user = client.label().to_owned();
    let mut report = SenderReport {
        user: user.clone(),
        room: room.clone(),
        ..SenderReport::default()
    };
    let mut in_flight: BTreeMap<String, String> = BTreeMap::new();
    let mut sent = 0;
    let mut can_send = true;
    loop {
        while can_send && in_flight.len() < window && sent < MAX_SENT_PER_SENDER {
            let reference = format!("r{sent}");
            let text = format!("{user} says #{sent}");
            let frame = ClientFrame::Message {
                room: room.clone(),
                text: text.clone(),
                reference: Some(reference.clone()),
                reply_to: None,
                action: false,
            };
            if client.try_send_raw(&encode(&frame)).await.is_err() {
                can_send = false;
                break;
            }
            in_flight.insert(reference, text);
            sent += 1;
        }
        if in_flight.is_empty() && sent == MAX_SENT_PER_SENDER {
            break; // the server outlived the bound: the caller's wait fails
        }
        match client.recv_or_end(SENDER_RECV_LIMIT).await {
            Ok(ServerFrame::Message(message)) => {
                assert_eq!(message.room, room, "{user}: a message from another room");
                report.seen.push(message.clone());
                let Some(reference) = &message.reference else {
                    continue; // another sender's message
                };
                assert_eq!(message.user, user, "{user}: a ref on someone else's copy");
                let text = in_flight
                    .remove(reference)
                    .unwrap_or_else(|| panic!("{user}: an ack for {reference}, not in flight"));
                assert_eq!(message.text, text, "{user}: the ack of {reference}");
                report.acked.push(message);
                acks.send_modify(|n| *n += 1);
            }
            Ok(ServerFrame::Join { .. } | ServerFrame::Leave { .. }) => {}
            Ok(other) => panic!("{user}: unexpected {other:?} under load"),
            Err(_ending) => break,
        }
    }
    report.unacked = in_flight.into_values().collect();
    report
}

/// Compares what a client read through the protocol with the rows.
fn assert_same_messages(what: &str, got: &[Message], rows: &[StoredMessage]) {
    let got: Vec<(u64, &str, &str, i64)> = got
        .iter()
        .map(|m| (m.id, m.user.as_str(), m.text.as_str(), m.ts))
        .collect();
    let want: Vec<(u64, &str, &str, i64)> = rows
        .iter()
        .map(|r| (r.id as u64, r.user.as_str(), r.text.as_str(), r.ts))
        .collect();
    assert_eq!(got, want, "{what} differs from the database rows");
}

async fn crash_under_load(run: CrashRun) {
    let options = ServerOptions {
        extra_args: if run.sync_full {
            vec!["--sync".into(), "full".into()]
        } else {
            Vec::new()
        },
        ..ServerOptions::unthrottled()
    };
    let mut server = ServerProcess::start(options).await;
    let rooms: Vec<String> = (0..run.rooms).map(|r| format!("crash{r}")).collect();

    let acks = Arc::new(watch::channel(0usize).0);
    let mut progress = acks.subscribe();
    let mut senders = Vec::new();
    for room in &rooms {
        for s in 0..run.senders_per_room {
            let mut client = server.guest(&format!("{room}-s{s}")).await;
            client.join(room).await;
            senders.push((client, room.clone()));
        }
    }
    // Everyone is in before the load starts, so no presence frame is
    // missing and every sender sees every message of its room live.
    let tasks: Vec<_> = senders
        .into_iter()
        .map(|(client, room)| {
            tokio::spawn(send_until_the_server_dies(
                client,
                room,
                run.window,
                acks.clone(),
            ))
        })
        .collect();

    let started = Instant::now();
    timeout(LOAD_LIMIT, progress.wait_for(|n| *n >= run.kill_after_acks))
        .await
        .expect("the senders reached the kill point in time")
        .expect("the progress channel lives");
    server.sigkill();
    let status = server.wait_exit(Duration::from_secs(5)).await;
    assert_eq!(
        status.signal(),
        Some(9),
        "the server died of SIGKILL: {status}"
    );
    let mut reports = Vec::new();
    for task in tasks {
        let report = timeout(Duration::from_secs(15), task)
            .await
            .expect("a sender noticed the dead server")
            .expect("a sender task panicked");
        reports.push(report);
    }
    let load_time = started.elapsed();

    server.restart().await;

    let mut reader = server.guest("reader").await;
    let mut acked_total = 0;
    let mut recovered_unacked = 0;
    let mut lost_unacked = 0;
    for room in &rooms {
        let rows = stored_messages(server.db_path(), room)
            .await
            .expect("the database can be read after the restart");
        assert!(
            rows.windows(2).all(|w| w[0].id < w[1].id),
            "{room}: ids rise strictly"
        );
        let mut by_text: BTreeMap<&str, &StoredMessage> = BTreeMap::new();
        for row in &rows {
            assert!(
                by_text.insert(row.text.as_str(), row).is_none(),
                "{room}: {:?} is stored twice",
                row.text
            );
        }
        let by_id: BTreeMap<u64, &StoredMessage> = rows.iter().map(|r| (r.id as u64, r)).collect();
        let room_reports: Vec<&SenderReport> = reports.iter().filter(|r| &r.room == room).collect();

        // Every acknowledged message, and every message any member saw
        // live, is a row with the same id, author, text and time.
        for report in &room_reports {
            acked_total += report.acked.len();
            for message in report.acked.iter().chain(&report.seen) {
                let row = by_id.get(&message.id).unwrap_or_else(|| {
                    panic!(
                        "{room}: message {} ({:?}) was delivered but is not stored",
                        message.id, message.text
                    )
                });
                assert_eq!(
                    (row.user.as_str(), row.text.as_str(), row.ts),
                    (message.user.as_str(), message.text.as_str(), message.ts),
                    "{room}: row {} is not the message delivered",
                    message.id
                );
            }
        }
        // Rows nobody acknowledged must be messages that were in flight
        // when the server died; nothing else may appear.
        let acked: BTreeSet<u64> = room_reports
            .iter()
            .flat_map(|r| r.acked.iter().map(|m| m.id))
            .collect();
        for row in rows.iter().filter(|r| !acked.contains(&(r.id as u64))) {
            let sender = room_reports
                .iter()
                .find(|r| r.user == row.user)
                .unwrap_or_else(|| panic!("{room}: row {} by an unknown {}", row.id, row.user));
            assert!(
                sender.unacked.contains(&row.text),
                "{room}: row {} ({:?}) was neither acknowledged nor in flight",
                row.id,
                row.text
            );
            recovered_unacked += 1;
        }
        lost_unacked += room_reports.iter().map(|r| r.unacked.len()).sum::<usize>();

        let newest = rows.last().map_or(0, |r| r.id as u64);
        assert_eq!(
            stored_room_last_id(server.db_path(), room)
                .await
                .expect("rooms table"),
            Some(newest as i64),
            "{room}: the rooms row's last_id"
        );

        // The same rows through the protocol: forwards as a reconnecting
        // client pages (odd page size, so pages do not line up with
        // batches), and backwards as a scrolling one does.
        let (joined, forward) = reader.read_room_forward(room, 37).await;
        assert_eq!(joined.last_id, newest, "{room}: joined last_id");
        assert_same_messages(&format!("{room}, paged forwards"), &forward, &rows);
        let backward = reader.read_room_backward(room, 45).await;
        assert_same_messages(&format!("{room}, paged backwards"), &backward, &rows);

        // New messages continue after the old ids.
        let fresh = reader.say(room, "after the crash").await;
        assert!(
            fresh.id > newest,
            "{room}: a new id {} after the stored {newest}",
            fresh.id
        );
    }
    let listed = reader.barrier().await;
    for room in &rooms {
        let info = room_info(&listed, room).expect("every room is listed");
        let rows = stored_messages(server.db_path(), room).await.expect("rows");
        assert_eq!(
            info.last_id,
            rows.last().map_or(0, |r| r.id as u64),
            "{room}: listed last_id"
        );
    }
    assert!(
        lost_unacked > 0,
        "no message was in flight when the server died: the kill was not mid-run"
    );
    lost_unacked -= recovered_unacked;
    eprintln!(
        "crash run (sync full: {}): killed after {acked_total} acks in {load_time:?}; \
         {recovered_unacked} in-flight messages were committed without their ack, \
         {lost_unacked} were lost before commit",
        run.sync_full
    );
    assert!(acked_total >= run.kill_after_acks);
}

fn ids_of_rows(rows: &[StoredMessage]) -> Vec<u64> {
    rows.iter().map(|r| r.id as u64).collect()
}

#[tokio::test]
async fn acknowledged_messages_survive_sigkill_under_load_exactly_once() {
    crash_under_load(CrashRun {
        rooms: 2,
        senders_per_room: 3,
        window: 4,
        kill_after_acks: 2_000,
        sync_full: false,
    })
    .await;
}

#[tokio::test]
async fn sync_full_starts_serves_and_survives_sigkill_under_load() {
    crash_under_load(CrashRun {
        rooms: 1,
        senders_per_room: 2,
        window: 3,
        kill_after_acks: 150,
        sync_full: true,
    })
    .await;
}

#[tokio::test]
async fn a_second_crash_keeps_ids_rising_after_the_first() {
    // Two kills in a row: the ids a restarted server hands out are stored
    // as durably as the first run's, so a second crash loses nothing
    // acknowledged and ids never go back.
    let mut server = ServerProcess::start(ServerOptions::unthrottled()).await;
    let mut all_acked: Vec<Message> = Vec::new();
    for round in 0..2 {
        let mut writer = server.guest(&format!("writer{round}")).await;
        writer.join("twice").await;
        let burst = message_burst("twice", 40, |n| format!("round {round} #{n}"));
        all_acked.extend(writer.say_all(&burst).await);
        server.sigkill();
        server.wait_exit(Duration::from_secs(5)).await;
        server.restart().await;
    }
    let rows = stored_messages(server.db_path(), "twice")
        .await
        .expect("rows");
    assert_eq!(
        ids_of_rows(&rows),
        ids(&all_acked),
        "both runs' acks, in order"
    );
    assert!(
        all_acked.windows(2).all(|w| w[0].id < w[1].id),
        "the second run's ids follow the first's"
    );
}
