//! The cluster [`Broker`] on Redis: fan-out of committed messages between
//! nodes over pub/sub, cluster-wide presence with per-node entries that a
//! janitor removes when their node stops heartbeating, and guest names
//! held with `SET NX`-style claims that expire unless renewed.
//!
//! Four tasks run per node:
//! - the subscriber reads the `messages`, `presence` and `notices`
//!   channels on its own connection and reconnects (then repairs) when the
//!   subscription breaks or goes silent;
//! - the publisher sends this node's committed batches, in commit order,
//!   retrying while Redis is away;
//! - the control task ([`control`]) applies this node's presence changes
//!   (forwarded by the registry, in order), heartbeats, runs the janitor,
//!   releases guest names and re-asserts this node's entries after Redis
//!   comes back;
//! - the repairer fills gaps in the message stream from the store.
//!
//! Every message reaches this node's registry through one [`Sequencer`],
//! kept by [`ClusterFanOut`]: this node's own commits straight from the
//! store's fan-out task (so they do not wait on Redis, and their sender's
//! copy keeps its `ref`), other nodes' from the subscription, and missing
//! ones from the store. The sequencer drops what it already delivered and
//! holds what arrives early, so each member sees each message once, in id
//! order.
//!
//! The store hears of [`ClusterFanOut`] only, as its commit listener; the
//! broker holds the store, to read what this node missed. Nothing holds
//! the broker, so it is built in one step, after the store.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSub};
use ::redis::{Client, Msg, RedisError};
use chat_proto::{FoldedName, RoomName, ServerFrame, UserName};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::fan_out::{ClusterFanOut, Publish, PublishQueue, WireMessage, from_wire};
use super::scripts::{
    self, GUEST_CLAIM, MESSAGES_CHANNEL, NOTICES_CHANNEL, PREFIX, PRESENCE_CHANNEL, READ_CHANNEL,
    TYPING_CHANNEL,
};
use super::sequencer::Gap;
use super::{Broker, BrokerError, BrokerFuture};
use crate::registry::{PresenceChange, RoomRegistry};
use crate::store::postgres::redact_url;
use crate::store::{Committed, ConnId, MessageStore, Page, StoreError};
use crate::sync::lock;

mod control;

use control::ControlTask;

/// The longest wait for one Redis command (or pipeline).
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// No message at all on the subscription for this long, while every node
/// heartbeats into it, means the connection is dead even if no error says so.
const SILENCE_LIMIT: Duration = Duration::from_secs(6);
/// How often the repairer looks for gaps that waited long enough.
const REPAIR_TICK: Duration = Duration::from_millis(50);
/// Messages read from the store per repair query.
const REPAIR_PAGE: u32 = 500;
/// After a failed repair, the pause before the next try.
const REPAIR_RETRY: Duration = Duration::from_secs(1);
/// Reconnection backoff bounds for the subscription and the publisher.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How long a guest name outlives its node's last heartbeat at most.
const GUEST_TTL: Duration = Duration::from_secs(10);
/// Messages kept for publishing while Redis is away. Older ones are
/// dropped past this: every node reads what it missed from the store once
/// its own subscription comes back.
const MAX_UNPUBLISHED: usize = 50_000;
/// Messages per `PUBLISH`.
const MAX_PUBLISH_BATCH: usize = 512;
/// How long a closing node spends handing over its presence and messages.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

#[derive(Serialize)]
struct OutgoingBatch<'a> {
    node: &'a str,
    messages: &'a [WireMessage],
}

#[derive(Deserialize)]
struct IncomingBatch {
    node: String,
    messages: Vec<WireMessage>,
}

/// A cluster-wide `join` or `leave`, as the presence scripts publish it.
#[derive(Debug, Serialize, Deserialize)]
struct PresenceEvent {
    room: String,
    user: String,
    entered: bool,
    ts: i64,
}

/// A `typing` one node relayed to its members, for the others.
#[derive(Debug, Serialize, Deserialize)]
struct TypingEvent {
    node: String,
    room: String,
    user: String,
}

/// A read marker that moved on one node, for the user's connections on
/// the others.
#[derive(Debug, Serialize, Deserialize)]
struct ReadEvent {
    node: String,
    room: String,
    user: String,
    id: u64,
}

#[derive(Deserialize)]
struct Notice {
    node: String,
    kind: String,
}

/// Work for the control task.
enum Control {
    /// Apply every presence change forwarded so far, then answer.
    Flush(oneshot::Sender<Result<(), BrokerError>>),
    /// Release a guest claim (key, value) if it still holds the name.
    Release(String, String),
    /// Heartbeat now: the subscription just came back, Redis may have lost
    /// this node's entries.
    Heartbeat,
    /// Hand over presence, leave the cluster, stop.
    Close(oneshot::Sender<()>),
}

/// Work for the repairer task besides the gaps it finds itself.
enum Repair {
    /// Compare every room's newest id in the store with what was delivered.
    CatchUp,
}

/// Guest names this node's sessions hold, by claim number.
#[derive(Default)]
struct GuestBook {
    /// By folded name: `Dav` and `dav` are one guest name.
    held: HashMap<FoldedName, u64>,
    next_claim: u64,
}

struct Inner {
    node: String,
    client: Client,
    redis: ConnectionManager,
    fan_out: Arc<ClusterFanOut>,
    /// Read when this node missed messages (gaps, catch-ups).
    store: Arc<dyn MessageStore>,
    guests: Mutex<GuestBook>,
    control_tx: mpsc::UnboundedSender<Control>,
    repair_tx: mpsc::UnboundedSender<Repair>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Inner {
    fn registry(&self) -> &RoomRegistry {
        self.fan_out.registry()
    }
}

/// The Redis [`Broker`], started by [`RedisBroker::connect`].
pub struct RedisBroker {
    inner: Arc<Inner>,
}

fn unavailable(what: &str, error: impl std::fmt::Display) -> BrokerError {
    BrokerError::Unavailable(format!("{what}: {error}"))
}

/// Runs a Redis call under [`REDIS_TIMEOUT`].
async fn bounded<T>(call: impl Future<Output = Result<T, RedisError>>) -> Result<T, BrokerError> {
    match tokio::time::timeout(REDIS_TIMEOUT, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(unavailable("Redis", e)),
        Err(_) => Err(BrokerError::Unavailable(format!(
            "Redis did not answer within {REDIS_TIMEOUT:?}"
        ))),
    }
}

/// The receiving ends the broker's tasks start with.
struct Receivers {
    pubsub: PubSub,
    presence_rx: mpsc::UnboundedReceiver<PresenceChange>,
    publish_rx: mpsc::UnboundedReceiver<Publish>,
    control_rx: mpsc::UnboundedReceiver<Control>,
    repair_rx: mpsc::UnboundedReceiver<Repair>,
}

impl RedisBroker {
    /// Publishes on `channel` from a task of its own, bounded by the
    /// Redis timeout; a failure is logged and dropped (for events a later
    /// read makes good: typing, read markers).
    fn publish_detached(&self, channel: &'static str, payload: Vec<u8>) {
        let mut redis = self.inner.redis.clone();
        tokio::spawn(async move {
            let mut publish = ::redis::cmd("PUBLISH");
            publish.arg(channel).arg(payload);
            if let Err(e) = bounded(publish.query_async::<i64>(&mut redis)).await {
                tracing::debug!(error = %e, channel, "an event was not relayed to other nodes");
            }
        });
    }

    /// Connects to Redis, subscribes to the cluster's channels, registers
    /// this node and starts its tasks. Fails when Redis cannot be reached
    /// now; later outages are survived. `fan_out` and `publish` come from
    /// [`ClusterFanOut::new`] (the store's listener); `presence_rx` is the
    /// other end of the registry's
    /// [`crate::registry::PresenceRoute::Forward`].
    pub async fn connect(
        url: &str,
        store: Arc<dyn MessageStore>,
        fan_out: Arc<ClusterFanOut>,
        publish: PublishQueue,
        presence_rx: mpsc::UnboundedReceiver<PresenceChange>,
    ) -> Result<Arc<Self>, BrokerError> {
        let (client, redis, pubsub) = open_redis(url).await?;
        let node = format!("{:x}-{:08x}", std::process::id(), rand::random::<u32>());
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let (repair_tx, repair_rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            node,
            client,
            redis,
            fan_out,
            store,
            guests: Mutex::new(GuestBook::default()),
            control_tx,
            repair_tx,
            tasks: Mutex::new(Vec::new()),
        });
        let receivers = Receivers {
            pubsub,
            presence_rx,
            publish_rx: publish.0,
            control_rx,
            repair_rx,
        };
        start(&inner, receivers).await?;
        Ok(Arc::new(Self { inner }))
    }

    /// This node's id in the cluster (in logs and in Redis keys).
    pub fn node(&self) -> &str {
        &self.inner.node
    }
}

/// A client, a connection manager and a live subscription.
async fn open_redis(url: &str) -> Result<(Client, ConnectionManager, PubSub), BrokerError> {
    let shown = redact_url(url);
    let client =
        Client::open(url).map_err(|e| unavailable(&format!("bad Redis URL {shown}"), e))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(REDIS_TIMEOUT))
        .set_response_timeout(Some(REDIS_TIMEOUT))
        // Few quick retries: callers should hear "unavailable" soon;
        // the next command starts a new round of reconnecting.
        .set_number_of_retries(2)
        .set_max_delay(MAX_BACKOFF);
    let redis = bounded(client.get_connection_manager_with_config(config))
        .await
        .map_err(|e| unavailable(&format!("cannot connect to Redis at {shown}"), e))?;
    let pubsub = subscribe(&client)
        .await
        .map_err(|e| unavailable(&format!("cannot subscribe on Redis at {shown}"), e))?;
    Ok((client, redis, pubsub))
}

/// Registers the node and starts its tasks. Every room's newest id is read
/// from the store first: the subscription is already live, so what commits
/// from now on arrives through it, and what committed before predates this
/// node.
async fn start(inner: &Arc<Inner>, receivers: Receivers) -> Result<(), BrokerError> {
    let rooms = inner
        .store
        .rooms()
        .await
        .map_err(|e| unavailable("cannot read the rooms", e))?;
    inner.fan_out.sequenced(|sequencer, released| {
        for room in &rooms {
            sequencer.fast_forward(&room.name, room.last_id, released);
        }
    });
    let mut control = ControlTask::new(inner.clone());
    control.heartbeat().await?;
    let tasks = vec![
        tokio::spawn(control.run(receivers.presence_rx, receivers.control_rx)),
        tokio::spawn(subscriber(inner.clone(), receivers.pubsub)),
        tokio::spawn(publisher(inner.clone(), receivers.publish_rx)),
        tokio::spawn(repairer(inner.clone(), receivers.repair_rx)),
    ];
    *lock(&inner.tasks) = tasks;
    tracing::info!(node = %inner.node, rooms = rooms.len(), "joined the cluster");
    Ok(())
}

async fn subscribe(client: &Client) -> Result<PubSub, RedisError> {
    let subscribing = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub
            .subscribe(&[
                MESSAGES_CHANNEL,
                PRESENCE_CHANNEL,
                NOTICES_CHANNEL,
                TYPING_CHANNEL,
                READ_CHANNEL,
            ])
            .await?;
        Ok(pubsub)
    };
    match tokio::time::timeout(REDIS_TIMEOUT, subscribing).await {
        Ok(result) => result,
        Err(_) => Err(RedisError::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "subscribing took too long",
        ))),
    }
}

impl Inner {
    /// Another node's moved read marker, for the user's connections here
    /// (the origin node told its own).
    fn on_read(&self, payload: &[u8]) {
        match serde_json::from_slice::<ReadEvent>(payload) {
            Ok(event) if event.node == self.node => {}
            Ok(event) => match UserName::parse(&event.user) {
                Ok(user) => {
                    let read = ServerFrame::Read {
                        room: event.room,
                        id: event.id,
                    };
                    self.registry().send_to_user(&user, None, &read);
                }
                Err(_) => tracing::warn!("a read event with a bad name on Redis"),
            },
            Err(e) => tracing::warn!(error = %e, "undecodable read event on Redis"),
        }
    }

    /// Handles one message from the subscription.
    fn on_message(&self, message: &Msg) {
        let payload = message.get_payload_bytes();
        match message.get_channel_name() {
            MESSAGES_CHANNEL => match serde_json::from_slice::<IncomingBatch>(payload) {
                // This node's own commits were delivered when they committed.
                Ok(batch) if batch.node == self.node => {}
                Ok(batch) => {
                    let now = Instant::now();
                    self.fan_out.sequenced(|sequencer, released| {
                        for wire in batch.messages {
                            sequencer.offer(from_wire(wire), now, released);
                        }
                    });
                }
                Err(e) => tracing::warn!(error = %e, "undecodable message batch on Redis"),
            },
            PRESENCE_CHANNEL => match presence_change(payload) {
                Some(change) => self.registry().deliver_presence(&change),
                None => tracing::warn!("undecodable presence event on Redis"),
            },
            TYPING_CHANNEL => match serde_json::from_slice::<TypingEvent>(payload) {
                // This node's members heard it when it was relayed.
                Ok(event) if event.node == self.node => {}
                Ok(event) => match UserName::parse(&event.user) {
                    Ok(user) => self.registry().deliver_typing(&event.room, &user),
                    Err(_) => tracing::warn!("a typing event with a bad name on Redis"),
                },
                Err(e) => tracing::warn!(error = %e, "undecodable typing event on Redis"),
            },
            READ_CHANNEL => self.on_read(payload),
            NOTICES_CHANNEL => match serde_json::from_slice::<Notice>(payload) {
                Ok(notice) if notice.kind == "reaped" => {
                    if notice.node == self.node {
                        tracing::warn!("this node was declared dead by the cluster");
                    } else {
                        tracing::info!(node = %notice.node, "a dead node was removed from the cluster");
                    }
                    // A node that died may have committed messages it never
                    // published; they are in the store.
                    let _ = self.repair_tx.send(Repair::CatchUp);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "undecodable notice on Redis"),
            },
            other => tracing::debug!(channel = other, "message on an unexpected channel"),
        }
    }

    /// Reads `room` from the store after the delivered cursor until it
    /// reaches `until`, delivering in order.
    async fn read_forward(&self, room: &str, until: u64) -> Result<(), StoreError> {
        let name = RoomName::parse(room)
            .map_err(|e| StoreError::Database(format!("room name {room:?}: {e}")))?;
        loop {
            let after = self.fan_out.delivered(room);
            if after >= until {
                return Ok(());
            }
            let page = self
                .store
                .history(
                    &name,
                    Page::After {
                        id: after,
                        limit: REPAIR_PAGE,
                    },
                )
                .await?;
            let first = page.entries.first().map(chat_proto::Entry::id);
            let now = Instant::now();
            self.fan_out.sequenced(|sequencer, released| {
                for entry in page.entries {
                    sequencer.offer(Committed::entry(entry, ConnId(0)), now, released);
                }
                if sequencer.delivered(room) == after {
                    // Ids are never skipped, so this is a hole in the
                    // store itself: waiting for it would never end.
                    let skip_to = first.map_or(until, |id| id - 1);
                    tracing::warn!(
                        room,
                        after,
                        skip_to,
                        "the store lacks messages this node waits for; skipping them"
                    );
                    sequencer.fast_forward(room, skip_to, released);
                }
            });
        }
    }

    /// Fills one gap the sequencer reported.
    async fn repair(&self, gap: &Gap) -> Result<(), StoreError> {
        // The message after the gap is here, so every message in the gap
        // has committed. If nobody on this node is in the room, nobody
        // needs them: a member who joins from now on gets them in its
        // `joined` history.
        if self.registry().local_members(&gap.room).is_empty() {
            self.fan_out.sequenced(|sequencer, released| {
                sequencer.fast_forward(&gap.room, gap.until, released);
            });
            return Ok(());
        }
        tracing::debug!(room = %gap.room, after = gap.after, until = gap.until, "reading missed messages from the store");
        self.read_forward(&gap.room, gap.until).await
    }

    /// Brings every room up to the store's newest id: after the
    /// subscription was down, or a node died, messages may have been
    /// committed that this node never heard of.
    async fn catch_up(&self) -> Result<(), StoreError> {
        let rooms = self.store.rooms().await?;
        // Rooms are read before members are checked: a member who joins
        // after the check gets a `joined` snapshot newer than these ids.
        for room in rooms {
            if room.last_id <= self.fan_out.delivered(&room.name) {
                continue;
            }
            if self.registry().local_members(&room.name).is_empty() {
                self.fan_out.sequenced(|sequencer, released| {
                    sequencer.fast_forward(&room.name, room.last_id, released);
                });
            } else {
                self.read_forward(&room.name, room.last_id).await?;
            }
        }
        Ok(())
    }
}

fn presence_change(payload: &[u8]) -> Option<PresenceChange> {
    let event: PresenceEvent = serde_json::from_slice(payload).ok()?;
    Some(PresenceChange {
        room: RoomName::parse(&event.room).ok()?,
        user: UserName::parse(&event.user).ok()?,
        entered: event.entered,
        ts: event.ts,
    })
}

/// Reads the subscription until it fails or goes silent, then reconnects
/// with backoff and asks for a catch-up (messages published meanwhile
/// were lost to this node) and a heartbeat (Redis may have restarted
/// empty).
async fn subscriber(inner: Arc<Inner>, mut pubsub: PubSub) {
    loop {
        let why = listen(&inner, &mut pubsub).await;
        tracing::warn!(reason = why, "lost the Redis subscription; reconnecting");
        let mut backoff = MIN_BACKOFF;
        pubsub = loop {
            tokio::time::sleep(backoff).await;
            match subscribe(&inner.client).await {
                Ok(pubsub) => break pubsub,
                Err(e) => {
                    tracing::debug!(error = %e, "resubscribing failed");
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        };
        tracing::info!("resubscribed to Redis; catching up from the store");
        let _ = inner.repair_tx.send(Repair::CatchUp);
        let _ = inner.control_tx.send(Control::Heartbeat);
    }
}

async fn listen(inner: &Inner, pubsub: &mut PubSub) -> &'static str {
    let mut messages = pubsub.on_message();
    // A count checked once per period, rather than a timer armed for every
    // message: this loop carries the whole cluster's traffic.
    let mut watchdog =
        tokio::time::interval_at(tokio::time::Instant::now() + SILENCE_LIMIT, SILENCE_LIMIT);
    watchdog.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut heard: u64 = 0;
    let mut heard_at_last_check: u64 = 0;
    loop {
        tokio::select! {
            // Messages first: after a stall, those already buffered prove
            // the subscription alive before the watchdog looks.
            biased;
            message = messages.next() => match message {
                Some(message) => {
                    heard += 1;
                    inner.on_message(&message);
                }
                None => return "connection closed",
            },
            _ = watchdog.tick() => {
                if heard == heard_at_last_check {
                    return "no heartbeat heard";
                }
                heard_at_last_check = heard;
            }
        }
    }
}

/// Publishes this node's committed messages in commit order. While Redis
/// is away it keeps them (up to [`MAX_UNPUBLISHED`]) and retries.
async fn publisher(inner: Arc<Inner>, mut publish_rx: mpsc::UnboundedReceiver<Publish>) {
    let mut queue: VecDeque<WireMessage> = VecDeque::new();
    let mut flushes: Vec<oneshot::Sender<()>> = Vec::new();
    let mut backoff = MIN_BACKOFF;
    let mut failing = false;
    let mut redis = inner.redis.clone();
    loop {
        if queue.is_empty() {
            for flush in flushes.drain(..) {
                let _ = flush.send(());
            }
            match publish_rx.recv().await {
                Some(work) => take(work, &mut queue, &mut flushes),
                None => return,
            }
        }
        while let Ok(work) = publish_rx.try_recv() {
            take(work, &mut queue, &mut flushes);
        }
        if queue.len() > MAX_UNPUBLISHED {
            let dropped = queue.len() - MAX_UNPUBLISHED;
            queue.drain(..dropped);
            tracing::warn!(
                dropped,
                "Redis is away too long: dropping unpublished messages (other nodes will read them from the store)"
            );
        }
        let count = queue.len().min(MAX_PUBLISH_BATCH);
        let (front, _) = queue.as_slices();
        let chunk: Vec<WireMessage>;
        let messages: &[WireMessage] = if front.len() >= count {
            &front[..count]
        } else {
            chunk = queue.iter().take(count).cloned().collect();
            &chunk
        };
        let payload = match serde_json::to_vec(&OutgoingBatch {
            node: &inner.node,
            messages,
        }) {
            Ok(payload) => payload,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode a message batch");
                queue.drain(..count);
                continue;
            }
        };
        let published = bounded(
            ::redis::cmd("PUBLISH")
                .arg(MESSAGES_CHANNEL)
                .arg(payload)
                .query_async::<i64>(&mut redis),
        )
        .await;
        match published {
            Ok(_) => {
                queue.drain(..count);
                if failing {
                    tracing::info!("publishing to Redis again");
                }
                failing = false;
                backoff = MIN_BACKOFF;
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "cannot publish to Redis; keeping messages for later");
                }
                failing = true;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

fn take(work: Publish, queue: &mut VecDeque<WireMessage>, flushes: &mut Vec<oneshot::Sender<()>>) {
    match work {
        Publish::Batch(messages) => queue.extend(messages),
        Publish::Flush(done) => flushes.push(done),
    }
}

/// Finds gaps that waited long enough and fills them; runs catch-ups.
async fn repairer(inner: Arc<Inner>, mut repair_rx: mpsc::UnboundedReceiver<Repair>) {
    let mut tick = tokio::time::interval(REPAIR_TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut catch_up = false;
    let mut catch_up_after: Option<Instant> = None;
    loop {
        tokio::select! {
            job = repair_rx.recv() => match job {
                Some(Repair::CatchUp) => catch_up = true,
                None => return,
            },
            _ = tick.tick() => {}
        }
        let now = Instant::now();
        if catch_up && catch_up_after.is_none_or(|after| now >= after) {
            match inner.catch_up().await {
                Ok(()) => {
                    catch_up = false;
                    catch_up_after = None;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "catching up from the store failed; retrying");
                    catch_up_after = Some(Instant::now() + REPAIR_RETRY);
                }
            }
        }
        let gaps = inner.fan_out.due_gaps(Instant::now());
        for gap in gaps {
            let retry_at = match inner.repair(&gap).await {
                Ok(()) => None,
                Err(e) => {
                    tracing::warn!(room = %gap.room, error = %e, "reading missed messages failed; retrying");
                    Some(Instant::now() + REPAIR_RETRY)
                }
            };
            inner.fan_out.repair_finished(&gap.room, retry_at);
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl Broker for RedisBroker {
    fn members(&self, room: &RoomName) -> BrokerFuture<Vec<String>> {
        let inner = self.inner.clone();
        let room = room.clone();
        Box::pin(async move {
            // This node's own pending changes first: the joiner itself, and
            // anyone who joined here just before, must be in Redis before
            // other nodes' joiners read it.
            let (reply_tx, reply_rx) = oneshot::channel();
            inner
                .control_tx
                .send(Control::Flush(reply_tx))
                .map_err(|_| BrokerError::Unavailable("the broker has stopped".into()))?;
            match tokio::time::timeout(REDIS_TIMEOUT * 2, reply_rx).await {
                Ok(Ok(result)) => result?,
                Ok(Err(_)) => {
                    return Err(BrokerError::Unavailable("the broker has stopped".into()));
                }
                Err(_) => {
                    return Err(BrokerError::Unavailable(
                        "presence is not being applied".into(),
                    ));
                }
            }
            let mut redis = inner.redis.clone();
            let users: Vec<String> = bounded(
                ::redis::cmd("HKEYS")
                    .arg(scripts::room_users_key(room.as_str()))
                    .query_async(&mut redis),
            )
            .await?;
            let mut members: BTreeSet<String> = users.into_iter().collect();
            members.extend(inner.registry().local_members(room.as_str()));
            Ok(members.into_iter().collect())
        })
    }

    fn member_counts(&self, rooms: Vec<String>) -> BrokerFuture<Vec<u32>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            if rooms.is_empty() {
                return Ok(Vec::new());
            }
            let mut pipe = ::redis::pipe();
            for room in &rooms {
                pipe.cmd("HKEYS").arg(scripts::room_users_key(room));
            }
            let mut redis = inner.redis.clone();
            let users: Vec<Vec<String>> = bounded(pipe.query_async(&mut redis)).await?;
            Ok(rooms
                .iter()
                .zip(users)
                .map(|(room, users)| {
                    let mut members: HashSet<String> = users.into_iter().collect();
                    members.extend(inner.registry().local_members(room));
                    u32::try_from(members.len()).unwrap_or(u32::MAX)
                })
                .collect())
        })
    }

    fn claim_guest(&self, user: &UserName) -> BrokerFuture<bool> {
        let inner = self.inner.clone();
        let user = user.folded();
        Box::pin(async move {
            let claim = {
                let mut guests = lock(&inner.guests);
                if guests.held.contains_key(&user) {
                    return Ok(false);
                }
                guests.next_claim += 1;
                let claim = guests.next_claim;
                guests.held.insert(user.clone(), claim);
                claim
            };
            let mut invocation = GUEST_CLAIM.prepare_invoke();
            invocation
                .arg(PREFIX)
                .arg(&inner.node)
                .arg(scripts::guest_key(&user))
                .arg(scripts::guest_value(&inner.node, claim))
                .arg(millis(GUEST_TTL));
            let mut redis = inner.redis.clone();
            let result = bounded(invocation.invoke_async::<i64>(&mut redis)).await;
            if !matches!(result, Ok(1)) {
                let mut guests = lock(&inner.guests);
                if guests.held.get(&user) == Some(&claim) {
                    guests.held.remove(&user);
                }
            }
            result.map(|claimed| claimed == 1)
        })
    }

    fn release_guest(&self, user: &UserName) {
        let inner = &self.inner;
        let folded = user.folded();
        let claim = lock(&inner.guests).held.remove(&folded);
        if let Some(claim) = claim {
            let release = Control::Release(
                scripts::guest_key(&folded),
                scripts::guest_value(&inner.node, claim),
            );
            if inner.control_tx.send(release).is_err() {
                tracing::debug!(%user, "the broker has stopped; the guest name expires on its own");
            }
        }
    }

    fn relay_typing(&self, room: &RoomName, user: &UserName) {
        let event = TypingEvent {
            node: self.inner.node.clone(),
            room: room.to_string(),
            user: user.to_string(),
        };
        let payload = match serde_json::to_vec(&event) {
            Ok(payload) => payload,
            Err(e) => return tracing::error!(error = %e, "cannot encode a typing event"),
        };
        // Fire and forget: at most one per user and room every two
        // seconds, each bounded by the Redis timeout; one lost is harmless.
        self.publish_detached(TYPING_CHANNEL, payload);
    }

    fn relay_read(&self, room: &RoomName, user: &UserName, id: u64) {
        let event = ReadEvent {
            node: self.inner.node.clone(),
            room: room.to_string(),
            user: user.to_string(),
            id,
        };
        match serde_json::to_vec(&event) {
            // Only markers that moved in the store get here; one lost is
            // made good by the next `rooms mine` or `joined`.
            Ok(payload) => self.publish_detached(READ_CHANNEL, payload),
            Err(e) => tracing::error!(error = %e, "cannot encode a read event"),
        }
    }

    fn close(&self) -> BrokerFuture<()> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let (published_tx, published_rx) = oneshot::channel();
            if inner.fan_out.flush_published(published_tx)
                && tokio::time::timeout(CLOSE_GRACE, published_rx)
                    .await
                    .is_err()
            {
                tracing::warn!(
                    "some messages were not published before shutdown; other nodes will read them from the store"
                );
            }
            let (left_tx, left_rx) = oneshot::channel();
            if inner.control_tx.send(Control::Close(left_tx)).is_ok() {
                let _ = tokio::time::timeout(CLOSE_GRACE * 2, left_rx).await;
            }
            for task in lock(&inner.tasks).drain(..) {
                task.abort();
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_events_round_trip_and_refuse_bad_names() {
        let event = PresenceEvent {
            room: "lobby".into(),
            user: "alice".into(),
            entered: true,
            ts: 1_763_719_200_123,
        };
        let json = serde_json::to_vec(&event).unwrap();
        let change = presence_change(&json).unwrap();
        assert_eq!(change.room.as_str(), "lobby");
        assert_eq!(change.user.as_str(), "alice");
        assert!(change.entered);
        assert_eq!(change.ts, 1_763_719_200_123);
        // What the reaper script writes by hand must decode too.
        let reaped = br#"{"room":"lobby","user":"bob","entered":false,"ts":1763719200999}"#;
        assert!(!presence_change(reaped).unwrap().entered);
        assert!(
            presence_change(br#"{"room":"Bad Room","user":"x","entered":true,"ts":1}"#).is_none()
        );
        assert!(presence_change(b"not json").is_none());
    }
}
