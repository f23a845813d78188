//! One WebSocket connection: its session (hello, rooms, messages), its
//! bounded [`Outbox`], rate limit and keep-alive, and how it ends.
//!
//! A single task serves the connection, `select!`ing over the socket, the
//! outbox, commit receipts, the keep-alive timer and shutdown. Everything
//! the connection is sent goes through its outbox, so replies and room
//! traffic reach the client in the order they were queued. Writes drain
//! whatever has piled up into one flush, which saves a syscall (and a
//! packet) per frame when a room is busy.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chat_proto::limits::{PROTOCOL_VERSION, clamp_history_limit};
use chat_proto::{
    ClientFrame, DecodeError, Entry, ErrorCode, RoomInfo, RoomName, ServerFrame, UserName,
    decode_client_for, reference_of, validate_ref, validate_text,
};
use futures_util::stream::FuturesUnordered;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};

use crate::accounts::{Admission, GuestClaim, HelloError};
use crate::clock::now_ms;
use crate::limits::{FLOOD_STRIKES, MAX_FRAMES_PER_FLUSH, PRESENCE_FLUSH_DELAY, TokenBucket};
use crate::metrics::SessionKind;
use crate::registry::{Outbox, Outgoing, Room, SlowConsumerSignal, frame};
use crate::server::Shared;
use crate::shutdown::{Shutdown, TaskGuard};
use crate::store::{ConnId, NewMessage, Page, StoreError, StoreFuture};

/// Messages one connection may have queued for storage but not yet
/// committed; past this it stops reading until commits catch up.
const MAX_APPENDS_IN_FLIGHT: usize = 256;
/// How long a closing handshake (and the frames still queued before it)
/// may take before the connection is simply dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Why a connection's session ended; decides the close frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// The client closed, or the socket failed: nothing more to send.
    Gone,
    /// The server is shutting down: 1001.
    Shutdown,
    /// The outbox filled up: 1008.
    SlowConsumer,
    /// A frame over the size limit: 1009.
    TooBig,
    /// An auth failure whose error frame is queued: 1008.
    Refused,
    /// Kept sending into an empty rate-limit bucket: 1008.
    Flooding,
    /// No hello within the handshake timeout: 1008.
    HelloTimeout,
    /// Stopped answering pings.
    Unresponsive,
}

/// A logged-in session.
struct Session {
    user: UserName,
    kind: SessionKind,
    /// Keeps a guest's name reserved while the session lives.
    _guest: Option<GuestClaim>,
}

/// A queued message waiting for its commit: its `ref`, and the receipt.
type PendingAppend =
    std::pin::Pin<Box<dyn Future<Output = (Option<String>, Result<u64, StoreError>)> + Send>>;

pub struct Handler {
    ws: WebSocketStream<TcpStream>,
    conn: ConnId,
    peer: SocketAddr,
    shared: Arc<Shared>,
    outbox: Outbox,
    frames_rx: mpsc::Receiver<Outgoing>,
    /// Presence frames are buffered in the socket writer but not yet sent.
    unflushed: bool,
    signal: Arc<SlowConsumerSignal>,
    session: Option<Session>,
    /// The `ref` of the frame being handled: every error about it echoes it.
    replying_to: Option<String>,
    rooms: HashMap<RoomName, Arc<Room>>,
    bucket: TokenBucket,
    /// Frames refused in a row by the rate limit.
    strikes: u32,
    appends: FuturesUnordered<PendingAppend>,
    last_heard: Instant,
    /// When the unanswered ping went out; any frame from the client
    /// answers it.
    ping_sent: Option<Instant>,
    shutdown: Shutdown,
    _guard: TaskGuard,
    _permit: OwnedSemaphorePermit,
}

impl Handler {
    pub fn new(
        ws: WebSocketStream<TcpStream>,
        peer: SocketAddr,
        shared: Arc<Shared>,
        shutdown: Shutdown,
        guard: TaskGuard,
        permit: OwnedSemaphorePermit,
    ) -> Self {
        let (outbox, frames_rx, signal) = Outbox::new(shared.config.outbox);
        let now = Instant::now();
        Self {
            ws,
            conn: shared.next_conn_id(),
            peer,
            outbox,
            frames_rx,
            unflushed: false,
            signal,
            session: None,
            replying_to: None,
            rooms: HashMap::new(),
            bucket: TokenBucket::new(
                shared.config.rate_limit,
                shared.config.rate_burst,
                now.into_std(),
            ),
            strikes: 0,
            appends: FuturesUnordered::new(),
            last_heard: now,
            ping_sent: None,
            shared,
            shutdown,
            _guard: guard,
            _permit: permit,
        }
    }

    /// Serves the connection until it ends, then closes it and leaves
    /// every room.
    pub async fn run(mut self) {
        self.shared
            .metrics
            .connections_open
            .fetch_add(1, Ordering::Relaxed);
        let ending = self.serve().await;
        let user = self.session.as_ref().map(|s| s.user.to_string());
        tracing::debug!(peer = %self.peer, user = user.as_deref().unwrap_or(""), ?ending, "connection ending");
        if ending == Ending::HelloTimeout {
            self.shared
                .metrics
                .handshake_timeouts
                .fetch_add(1, Ordering::Relaxed);
        }
        if ending == Ending::SlowConsumer {
            self.shared
                .metrics
                .slow_consumers_dropped
                .fetch_add(1, Ordering::Relaxed);
            tracing::info!(peer = %self.peer, user = user.as_deref().unwrap_or(""), "closing a slow consumer");
        }
        // Leave first, so the room stops queueing frames for a connection
        // that is going away.
        for (_, room) in self.rooms.drain() {
            self.shared.registry.leave(&room, self.conn);
        }
        self.close(ending).await;
        if let Some(session) = self.session.take() {
            self.shared.metrics.session_ended(session.kind);
        }
        self.shared
            .metrics
            .connections_open
            .fetch_sub(1, Ordering::Relaxed);
    }

    async fn serve(&mut self) -> Ending {
        let ping_interval = self.shared.config.ping_interval;
        // Ticking at half the interval lets a ping go out, and an
        // unanswered one be noticed, within 1.5 intervals.
        let tick = ping_interval / 2;
        let mut keepalive = tokio::time::interval_at(Instant::now() + tick, tick);
        keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let hello_deadline = tokio::time::sleep(self.shared.config.handshake_timeout);
        tokio::pin!(hello_deadline);
        let presence_flush = tokio::time::sleep(PRESENCE_FLUSH_DELAY);
        tokio::pin!(presence_flush);

        loop {
            tokio::select! {
                biased;
                _ = self.shutdown.recv() => return Ending::Shutdown,
                _ = self.signal.kicked() => return Ending::SlowConsumer,
                Some(first) = self.frames_rx.recv() => {
                    let was_unflushed = self.unflushed;
                    if let Err(ending) = self.write_queued(first).await {
                        return ending;
                    }
                    if self.unflushed && !was_unflushed {
                        presence_flush.as_mut().reset(Instant::now() + PRESENCE_FLUSH_DELAY);
                    }
                }
                _ = &mut presence_flush, if self.unflushed => {
                    if let Err(ending) = self.flush().await {
                        return ending;
                    }
                }
                Some((reference, result)) = self.appends.next(), if !self.appends.is_empty() => {
                    if let Err(e) = result {
                        tracing::warn!(peer = %self.peer, error = %e, "storing a message failed");
                        self.reply(&ServerFrame::error(ErrorCode::Internal, "the message could not be stored; retry", reference));
                    }
                }
                incoming = self.ws.next(), if self.appends.len() < MAX_APPENDS_IN_FLIGHT => {
                    self.last_heard = Instant::now();
                    self.ping_sent = None;
                    let ending = match incoming {
                        None => Some(Ending::Gone),
                        Some(Err(WsError::Capacity(_))) => Some(Ending::TooBig),
                        Some(Err(e)) => {
                            tracing::debug!(peer = %self.peer, error = %e, "socket error");
                            Some(Ending::Gone)
                        }
                        Some(Ok(WsMessage::Text(text))) => self.on_text(text.as_str()).await,
                        Some(Ok(WsMessage::Binary(_))) => self.on_binary(),
                        Some(Ok(WsMessage::Ping(_))) => self.on_ping(),
                        Some(Ok(WsMessage::Close(_))) => Some(Ending::Gone),
                        Some(Ok(WsMessage::Pong(_) | WsMessage::Frame(_))) => None,
                    };
                    if let Some(ending) = ending {
                        return ending;
                    }
                }
                _ = &mut hello_deadline, if self.session.is_none() => return Ending::HelloTimeout,
                _ = keepalive.tick() => {
                    match self.ping_sent {
                        Some(sent) if sent.elapsed() >= ping_interval => return Ending::Unresponsive,
                        Some(_) => {}
                        None if self.last_heard.elapsed() >= ping_interval => {
                            if self.ws.send(WsMessage::Ping(Default::default())).await.is_err() {
                                return Ending::Gone;
                            }
                            self.ping_sent = Some(Instant::now());
                        }
                        None => {}
                    }
                }
            }
        }
    }

    /// Writes `first` and everything else already queued, in one flush,
    /// unless all of it is presence: that waits for the presence timer or
    /// the next urgent frame. Gives up when the connection is kicked or the
    /// server shuts down while the client is not reading.
    async fn write_queued(&mut self, first: Outgoing) -> Result<(), Ending> {
        let ws = &mut self.ws;
        let frames_rx = &mut self.frames_rx;
        let write = async move {
            let mut urgent = first.urgent;
            ws.feed(WsMessage::Text(first.frame)).await?;
            let mut written = 1u64;
            while written < MAX_FRAMES_PER_FLUSH as u64 {
                match frames_rx.try_recv() {
                    Ok(next) => {
                        urgent |= next.urgent;
                        ws.feed(WsMessage::Text(next.frame)).await?;
                    }
                    Err(_) => break,
                }
                written += 1;
            }
            if urgent {
                ws.flush().await?;
            }
            Ok::<(u64, bool), WsError>((written, urgent))
        };
        let (written, flushed) = tokio::select! {
            result = write => result.map_err(|_| Ending::Gone)?,
            _ = self.signal.kicked() => return Err(Ending::SlowConsumer),
            _ = self.shutdown.recv() => return Err(Ending::Shutdown),
        };
        // An urgent frame flushes everything before it, presence included.
        self.unflushed = !flushed;
        self.shared
            .metrics
            .frames_out
            .fetch_add(written, Ordering::Relaxed);
        Ok(())
    }

    /// Writes out presence frames that were waiting to share a write.
    async fn flush(&mut self) -> Result<(), Ending> {
        let flushed = tokio::select! {
            result = self.ws.flush() => result.map_err(|_| Ending::Gone),
            _ = self.signal.kicked() => Err(Ending::SlowConsumer),
            _ = self.shutdown.recv() => Err(Ending::Shutdown),
        };
        self.unflushed = false;
        flushed
    }

    /// Sends the close frame that fits the ending, after what is queued
    /// when the ending allows it, all within [`CLOSE_GRACE`].
    async fn close(&mut self, ending: Ending) {
        let (code, reason) = match ending {
            Ending::Gone => {
                // Flushes the reply to a client's own close, if any.
                let _ = tokio::time::timeout(CLOSE_GRACE, self.ws.close(None)).await;
                return;
            }
            Ending::Shutdown => (CloseCode::Away, "server shutting down"),
            Ending::SlowConsumer => (CloseCode::Policy, "too slow: frames were not read in time"),
            Ending::TooBig => (CloseCode::Size, "frame larger than 16 KiB"),
            Ending::Refused => (CloseCode::Policy, "session refused"),
            Ending::Flooding => (CloseCode::Policy, "sending too fast"),
            Ending::HelloTimeout => (CloseCode::Policy, "no hello in time"),
            Ending::Unresponsive => (CloseCode::Policy, "no answer to ping"),
        };
        let appends = &mut self.appends;
        let frames_rx = &mut self.frames_rx;
        let ws = &mut self.ws;
        let flush_queued = !matches!(ending, Ending::SlowConsumer | Ending::Unresponsive);
        let closing = async move {
            if flush_queued {
                // Acknowledge what was already stored (its echo is queued
                // once the receipt resolves), then send what is queued.
                while appends.next().await.is_some() {}
                while let Ok(queued) = frames_rx.try_recv() {
                    ws.feed(WsMessage::Text(queued.frame)).await?;
                }
            }
            ws.close(Some(CloseFrame {
                code,
                reason: reason.into(),
            }))
            .await?;
            // Wait for the client's own close frame: dropping the socket
            // with its reply still unread would make the kernel answer
            // with a reset, which can destroy our close frame in flight.
            while let Some(Ok(_)) = ws.next().await {}
            Ok::<(), WsError>(())
        };
        let _ = tokio::time::timeout(CLOSE_GRACE, closing).await;
    }

    fn reply(&self, server_frame: &ServerFrame) {
        self.outbox.push(frame(server_frame));
    }

    /// An error about the frame being handled.
    fn reply_error(&self, code: ErrorCode, message: impl Into<String>) {
        self.reply(&ServerFrame::error(code, message, self.replying_to.clone()));
    }

    /// Takes a rate-limit token; false when the frame must be dropped,
    /// an error when the session is flooding.
    fn take_token(&mut self) -> Result<bool, Ending> {
        if self.bucket.try_take(Instant::now().into_std()) {
            self.strikes = 0;
            return Ok(true);
        }
        self.shared
            .metrics
            .rate_limited_frames
            .fetch_add(1, Ordering::Relaxed);
        self.strikes += 1;
        if self.strikes >= FLOOD_STRIKES {
            return Err(Ending::Flooding);
        }
        Ok(false)
    }

    fn on_ping(&mut self) -> Option<Ending> {
        // The library answers pings itself; they take tokens so that a
        // ping flood ends like any other flood.
        self.shared
            .metrics
            .frames_in
            .fetch_add(1, Ordering::Relaxed);
        self.take_token().err()
    }

    fn on_binary(&mut self) -> Option<Ending> {
        self.replying_to = None;
        self.shared
            .metrics
            .frames_in
            .fetch_add(1, Ordering::Relaxed);
        self.reply_error(
            ErrorCode::BadFrame,
            "binary frames are not supported: send JSON text",
        );
        None
    }

    async fn on_text(&mut self, text: &str) -> Option<Ending> {
        self.shared
            .metrics
            .frames_in
            .fetch_add(1, Ordering::Relaxed);
        let client_frame = match decode_client_for(text, PROTOCOL_VERSION) {
            Ok(client_frame) => client_frame,
            Err(e) => {
                self.replying_to = e.reference.clone();
                self.reply(&e.to_frame());
                return None;
            }
        };
        self.replying_to = match &client_frame {
            ClientFrame::Message { reference, .. } => reference.clone().filter(|r| validate_ref(r)),
            _ => reference_of(text),
        };
        let Some(user) = self.session.as_ref().map(|s| s.user.clone()) else {
            return match client_frame {
                ClientFrame::Hello { user, password } => self.hello(&user, password).await,
                _ => {
                    self.reply_error(ErrorCode::NotAuthenticated, "send hello first");
                    None
                }
            };
        };
        if let ClientFrame::Hello { .. } = client_frame {
            self.reply_error(
                ErrorCode::AlreadyAuthenticated,
                "this connection is already logged in",
            );
            return None;
        }
        // Only frames that make the server work take a token: refusals
        // cost next to nothing, and a client that does not read them is
        // closed as a slow consumer anyway.
        match self.take_token() {
            Err(ending) => return Some(ending),
            Ok(true) => {}
            Ok(false) => {
                self.reply_error(ErrorCode::RateLimited, "slow down: frame dropped");
                return None;
            }
        }
        match client_frame {
            ClientFrame::Hello { .. } => {}
            ClientFrame::Join { room, since, limit } => self.join(&user, &room, since, limit).await,
            ClientFrame::Message {
                room,
                text,
                reference,
                ..
            } => self.message(&user, &room, text, reference).await,
            ClientFrame::Leave { room } => self.leave(&user, &room),
            ClientFrame::History {
                room,
                before,
                after,
                limit,
            } => self.history(&room, before, after, limit).await,
            ClientFrame::Rooms { .. } => self.list_rooms().await,
            // Protocol 2 is not served yet: `decode_client_for` already
            // refuses these types as unknown, and so would this.
            newer => self.reply(
                &DecodeError::unknown_type(newer.kind(), self.replying_to.clone()).to_frame(),
            ),
        }
        None
    }

    async fn hello(&mut self, user: &str, password: Option<String>) -> Option<Ending> {
        let user = match UserName::parse(user) {
            Ok(user) => user,
            Err(e) => {
                self.reply_error(ErrorCode::InvalidName, format!("user name: {e}"));
                return None;
            }
        };
        let (code, message) = match self.shared.accounts.admit(&user, password).await {
            Ok(admission) => {
                let (kind, guest, registered) = match admission {
                    Admission::Guest(claim) => (SessionKind::Guest, Some(claim), false),
                    Admission::Account { registered } => (SessionKind::Account, None, registered),
                };
                self.shared.metrics.session_started(kind);
                self.reply(&ServerFrame::Welcome {
                    user: user.to_string(),
                    guest: guest.is_some(),
                    registered,
                    protocol: chat_proto::limits::PROTOCOL_VERSION,
                    server: crate::SERVER_NAME.to_owned(),
                    admin: false,
                });
                tracing::debug!(peer = %self.peer, user = %user, ?kind, "session started");
                self.session = Some(Session {
                    user,
                    kind,
                    _guest: guest,
                });
                return None;
            }
            Err(
                e @ (HelloError::AuthFailed
                | HelloError::PasswordRequired
                | HelloError::EmptyPassword),
            ) => (ErrorCode::AuthFailed, e.to_string()),
            Err(e @ HelloError::AuthRequired) => (ErrorCode::AuthRequired, e.to_string()),
            Err(e @ HelloError::NameTaken) => (ErrorCode::NameTaken, e.to_string()),
            Err(e @ (HelloError::Store(_) | HelloError::Broker(_) | HelloError::Hashing(_))) => {
                tracing::error!(peer = %self.peer, error = %e, "hello failed");
                self.reply_error(
                    ErrorCode::Internal,
                    "the server could not check this hello; retry",
                );
                return None;
            }
        };
        self.reply_error(code, message);
        Some(Ending::Refused)
    }

    fn room_name(&self, raw: &str) -> Option<RoomName> {
        match RoomName::parse(raw) {
            Ok(room) => Some(room),
            Err(e) => {
                self.reply_error(ErrorCode::InvalidName, format!("room name: {e}"));
                None
            }
        }
    }

    /// The joined room, or a `not_in_room` error.
    fn joined_room(&self, room: &RoomName) -> Option<Arc<Room>> {
        let joined = self.rooms.get(room).cloned();
        if joined.is_none() {
            self.reply_error(ErrorCode::NotInRoom, format!("join {room} first"));
        }
        joined
    }

    async fn join(
        &mut self,
        user: &UserName,
        raw_room: &str,
        since: Option<u64>,
        limit: Option<u32>,
    ) {
        let Some(name) = self.room_name(raw_room) else {
            return;
        };
        let limit = clamp_history_limit(limit);
        let page = match since {
            Some(id) => Page::After { id, limit },
            None => Page::Newest { limit },
        };
        let rejoin = self.rooms.contains_key(&name);
        let room = self
            .shared
            .registry
            .subscribe(&name, self.conn, user, &self.outbox);
        let snapshot = self.shared.store.join(&name, page).await;
        let members = self.shared.broker.members(&name).await;
        match (snapshot, members) {
            (Ok(snapshot), Ok(members)) => {
                let joined = ServerFrame::Joined {
                    room: name.to_string(),
                    members,
                    history: snapshot
                        .page
                        .messages
                        .into_iter()
                        .map(Entry::from)
                        .collect(),
                    more: snapshot.page.more,
                    last_id: snapshot.last_id,
                    details: None,
                };
                self.shared
                    .registry
                    .activate(&room, self.conn, snapshot.last_id, &joined);
                self.rooms.insert(name, room);
            }
            (snapshot, members) => {
                let error = snapshot
                    .err()
                    .map(|e| e.to_string())
                    .or(members.err().map(|e| e.to_string()));
                tracing::error!(peer = %self.peer, room = %name, error = error.as_deref().unwrap_or(""), "join failed");
                let refusal = ServerFrame::error(
                    ErrorCode::Internal,
                    "could not join the room; retry",
                    self.replying_to.clone(),
                );
                if rejoin {
                    // Still a member: release what was held, after the error.
                    self.shared.registry.activate(&room, self.conn, 0, &refusal);
                } else {
                    self.shared.registry.leave(&room, self.conn);
                    self.reply(&refusal);
                }
            }
        }
    }

    async fn message(
        &mut self,
        user: &UserName,
        raw_room: &str,
        text: String,
        reference: Option<String>,
    ) {
        if let Some(r) = &reference
            && !validate_ref(r)
        {
            self.reply_error(ErrorCode::BadFrame, "ref is longer than 64 characters");
            return;
        }
        let Some(room) = self.room_name(raw_room) else {
            return;
        };
        if let Err(e) = validate_text(&text) {
            self.reply_error(ErrorCode::InvalidText, e.to_string());
            return;
        }
        if self.joined_room(&room).is_none() {
            return;
        }
        let new_message = NewMessage {
            room,
            user: user.clone(),
            text,
            reference: reference.clone(),
            origin: self.conn,
        };
        match self.shared.store.queue_append(new_message).await {
            Ok(receipt) => self
                .appends
                .push(Box::pin(async move { (reference, receipt.await) })),
            Err(e) => {
                tracing::error!(peer = %self.peer, error = %e, "queueing a message failed");
                self.reply_error(
                    ErrorCode::Internal,
                    "the message could not be stored; retry",
                );
            }
        }
    }

    fn leave(&mut self, user: &UserName, raw_room: &str) {
        let Some(name) = self.room_name(raw_room) else {
            return;
        };
        let Some(room) = self.joined_room(&name) else {
            return;
        };
        self.rooms.remove(&name);
        self.shared.registry.leave(&room, self.conn);
        // The leaver always hears its own leave, as confirmation.
        self.reply(&ServerFrame::Leave {
            room: name.to_string(),
            user: user.to_string(),
            ts: now_ms(),
        });
    }

    async fn history(
        &mut self,
        raw_room: &str,
        before: Option<u64>,
        after: Option<u64>,
        limit: Option<u32>,
    ) {
        let Some(name) = self.room_name(raw_room) else {
            return;
        };
        let limit = clamp_history_limit(limit);
        let page = match (before, after) {
            (Some(_), Some(_)) => {
                self.reply_error(
                    ErrorCode::BadFrame,
                    "history takes `before` or `after`, not both",
                );
                return;
            }
            (Some(id), None) => Page::Before { id, limit },
            (None, Some(id)) => Page::After { id, limit },
            (None, None) => Page::Newest { limit },
        };
        if self.joined_room(&name).is_none() {
            return;
        }
        self.answer(
            self.shared.store.history(&name, page),
            "read history",
            |page| ServerFrame::History {
                room: name.to_string(),
                messages: page.messages.into_iter().map(Entry::from).collect(),
                more: page.more,
            },
        )
        .await;
    }

    async fn list_rooms(&mut self) {
        let rooms = match self.shared.store.rooms().await {
            Ok(rooms) => rooms,
            Err(e) => {
                tracing::error!(peer = %self.peer, error = %e, "could not list rooms");
                self.reply_error(ErrorCode::Internal, "could not list rooms; retry");
                return;
            }
        };
        let names = rooms.iter().map(|room| room.name.clone()).collect();
        match self.shared.broker.member_counts(names).await {
            Ok(counts) => self.reply(&ServerFrame::Rooms {
                mine: false,
                rooms: rooms
                    .into_iter()
                    .zip(counts)
                    .map(|(room, members)| RoomInfo::new(room.name, members, room.last_id))
                    .collect(),
                more: false,
            }),
            Err(e) => {
                tracing::error!(peer = %self.peer, error = %e, "could not count members");
                self.reply_error(ErrorCode::Internal, "could not list rooms; retry");
            }
        }
    }

    /// Awaits a store read and replies with its frame, or with `internal`.
    async fn answer<T>(
        &mut self,
        read: StoreFuture<T>,
        what: &str,
        reply: impl FnOnce(T) -> ServerFrame,
    ) {
        match read.await {
            Ok(value) => self.reply(&reply(value)),
            Err(e) => {
                tracing::error!(peer = %self.peer, error = %e, "could not {what}");
                self.reply_error(ErrorCode::Internal, format!("could not {what}; retry"));
            }
        }
    }
}
