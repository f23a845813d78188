//! One WebSocket session: the loop that serves a connection from upgrade to
//! close, and the gate every frame passes (hello first, then the rate
//! limit) on its way to its request's handler.
//!
//! # Layout
//! - `socket`: reading, batched writes of the outbox, keep-alive, the
//!   close handshake.
//! - `command`: a decoded frame made into a typed `Command` once.
//! - `reply`: the one place replies and errors go out, echoing the `ref`.
//! - one file per request kind: `hello`, `join`, `message`, `leave`,
//!   `history`, `rooms`, and `ping` for WebSocket pings.
//!
//! A single task serves the connection, `select!`ing over the outbox (and
//! what ends a session from outside), commit receipts, the socket, the
//! hello deadline and keep-alive. Everything the connection is sent goes
//! through its outbox, so replies and room traffic reach the client in the
//! order they were queued.

mod ban;
mod command;
mod delete_room;
mod entry;
mod hello;
mod history;
mod invite;
mod join;
mod kick;
mod leave;
mod message;
mod ping;
mod reply;
mod role;
mod rooms;
mod settings;
mod socket;
mod topic;
mod unban;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use chat_proto::limits::PROTOCOL_VERSION;
use chat_proto::{ClientFrame, ErrorCode, RoomName, decode_client_request};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;

use self::command::Command;
use self::entry::PendingAppend;
use self::hello::Login;
use self::reply::Replies;
use self::socket::{Ending, Incoming, KeepAlive, Outbound, Socket};
use crate::limits::{RateLimit, Verdict};
use crate::registry::{Outbox, Room};
use crate::shared::Shared;
use crate::shutdown::{Shutdown, TaskGuard};
use crate::store::ConnId;

/// Messages one connection may have queued for storage but not yet
/// committed; past this it stops reading until commits catch up.
const MAX_APPENDS_IN_FLIGHT: usize = 256;

/// What a request handler works with: the session without its socket.
/// Async handlers take it by `&mut` even to read: its pending appends are
/// `Send` but not `Sync`, so a `&Context` held across an await would make
/// the session's future unfit for `tokio::spawn`.
struct Context {
    conn: ConnId,
    peer: SocketAddr,
    shared: Arc<Shared>,
    replies: Replies,
    rooms: HashMap<RoomName, Arc<Room>>,
    appends: FuturesUnordered<PendingAppend>,
}

impl Context {
    /// The joined room, or `None` after a `not_in_room` error. A
    /// connection kicked, banned or deleted out of a room is no longer in
    /// it.
    fn joined(&self, room: &RoomName) -> Option<Arc<Room>> {
        let joined = self
            .rooms
            .get(room)
            .filter(|joined| joined.is_member(self.conn))
            .cloned();
        if joined.is_none() {
            self.replies
                .error(ErrorCode::NotInRoom, format!("join {room} first"));
        }
        joined
    }
}

/// One WebSocket connection's session.
pub struct Session {
    socket: Socket,
    outbound: Outbound,
    keepalive: KeepAlive,
    login: Option<Login>,
    rate_limit: RateLimit,
    cx: Context,
    _guard: TaskGuard,
    _permit: OwnedSemaphorePermit,
}

impl Session {
    pub fn new(
        ws: WebSocketStream<TcpStream>,
        peer: SocketAddr,
        shared: Arc<Shared>,
        shutdown: Shutdown,
        guard: TaskGuard,
        permit: OwnedSemaphorePermit,
    ) -> Self {
        let config = &shared.config;
        let (outbox, frames_rx, signal) = Outbox::new(config.outbox);
        Self {
            socket: Socket::new(ws, peer),
            outbound: Outbound::new(frames_rx, signal, shutdown, shared.metrics.clone()),
            keepalive: KeepAlive::new(config.ping_interval),
            login: None,
            rate_limit: RateLimit::new(
                config.rate_limit,
                config.rate_burst,
                Instant::now().into_std(),
            ),
            cx: Context {
                conn: shared.next_conn_id(),
                peer,
                replies: Replies::new(outbox),
                rooms: HashMap::new(),
                appends: FuturesUnordered::new(),
                shared,
            },
            _guard: guard,
            _permit: permit,
        }
    }

    /// Serves the connection until it ends, then closes it and leaves
    /// every room.
    pub async fn run(mut self) {
        let metrics = self.cx.shared.metrics.clone();
        metrics.connections_open.fetch_add(1, Ordering::Relaxed);
        let ending = self.serve().await;
        let peer = self.cx.peer;
        let user = self.login.as_ref().map(|login| login.user.to_string());
        let user = user.as_deref().unwrap_or("");
        tracing::debug!(%peer, user, ?ending, "connection ending");
        if ending == Ending::HelloTimeout {
            metrics.handshake_timeouts.fetch_add(1, Ordering::Relaxed);
        }
        if ending == Ending::SlowConsumer {
            metrics
                .slow_consumers_dropped
                .fetch_add(1, Ordering::Relaxed);
            tracing::info!(%peer, user, "closing a slow consumer");
        }
        // Leave first, so the room stops queueing frames for a connection
        // that is going away.
        for (_, room) in self.cx.rooms.drain() {
            self.cx.shared.registry.leave(&room, self.cx.conn);
        }
        let appends = &mut self.cx.appends;
        let settle = async { while appends.next().await.is_some() {} };
        self.socket.close(&mut self.outbound, ending, settle).await;
        if let Some(login) = self.login.take() {
            metrics.session_ended(login.kind);
        }
        metrics.connections_open.fetch_sub(1, Ordering::Relaxed);
    }

    async fn serve(&mut self) -> Ending {
        let hello_deadline = tokio::time::sleep(self.cx.shared.config.handshake_timeout);
        tokio::pin!(hello_deadline);
        loop {
            let served = tokio::select! {
                biased;
                wake = self.outbound.wake() => self.outbound.serve(&mut self.socket, wake).await,
                Some(receipt) = self.cx.appends.next(), if !self.cx.appends.is_empty() => {
                    entry::settled(&self.cx, receipt);
                    Ok(())
                }
                incoming = self.socket.read(), if self.cx.appends.len() < MAX_APPENDS_IN_FLIGHT => {
                    self.keepalive.heard();
                    self.on_incoming(incoming).await
                }
                () = &mut hello_deadline, if self.login.is_none() => Err(Ending::HelloTimeout),
                () = self.keepalive.tick() => self.keepalive.check(&mut self.socket).await,
            };
            if let Err(ending) = served {
                return ending;
            }
        }
    }

    async fn on_incoming(&mut self, incoming: Incoming) -> Result<(), Ending> {
        match incoming {
            Incoming::Text(text) => self.on_text(text.as_str()).await,
            Incoming::Binary => {
                self.count_frame_in();
                self.cx.replies.answering(None);
                self.cx.replies.error(
                    ErrorCode::BadFrame,
                    "binary frames are not supported: send JSON text",
                );
                Ok(())
            }
            Incoming::Ping => self.on_ping(),
            Incoming::Other => Ok(()),
            Incoming::Ended(ending) => Err(ending),
        }
    }

    async fn on_text(&mut self, text: &str) -> Result<(), Ending> {
        self.count_frame_in();
        let replies = &mut self.cx.replies;
        // Frame types of a later protocol than the one announced in
        // `welcome` are `unknown_type` here, before hello and the rate limit,
        // exactly as types no protocol has.
        let request = match decode_client_request(text, PROTOCOL_VERSION) {
            Ok(request) => request,
            Err(e) => {
                let e = command::not_served_text(text, e);
                replies.answering(e.reference.clone());
                replies.send(&e.to_frame());
                return Ok(());
            }
        };
        replies.answering(request.reference);
        if let Some(unknown) = command::not_served(&request.frame) {
            // Protocol-2 requests of later issues: unknown to this server
            // as any unknown type is, before hello and the rate limit.
            replies.send(&unknown.to_frame());
            return Ok(());
        }
        if !self.admit(matches!(request.frame, ClientFrame::Hello { .. }))? {
            return Ok(());
        }
        match Command::parse(request.frame, self.cx.replies.reference()) {
            Ok(command) => self.dispatch(command).await,
            Err(refusal) => {
                self.cx.replies.refuse(refusal);
                Ok(())
            }
        }
    }

    /// Whether a frame may be served: a `hello` only before login, anything
    /// else only after it and within the rate limit. Refusals are answered
    /// here.
    fn admit(&mut self, is_hello: bool) -> Result<bool, Ending> {
        let replies = &self.cx.replies;
        match (self.login.is_some(), is_hello) {
            (false, true) => Ok(true),
            (false, false) => {
                replies.error(ErrorCode::NotAuthenticated, "send hello first");
                Ok(false)
            }
            (true, true) => {
                replies.error(
                    ErrorCode::AlreadyAuthenticated,
                    "this connection is already logged in",
                );
                Ok(false)
            }
            // Only frames that make the server work take a token: refusals
            // cost next to nothing, and a client that does not read them is
            // closed as a slow consumer anyway.
            (true, false) => match self.take_token() {
                Verdict::Allowed => Ok(true),
                Verdict::Dropped => {
                    let replies = &self.cx.replies;
                    replies.error(ErrorCode::RateLimited, "slow down: frame dropped");
                    Ok(false)
                }
                Verdict::Flooding => Err(Ending::Flooding),
            },
        }
    }

    async fn dispatch(&mut self, command: Command) -> Result<(), Ending> {
        let Some(login) = &self.login else {
            // Before login, `admit` lets only a hello through.
            if let Command::Hello(hello) = command {
                self.login = hello.run(&mut self.cx).await?;
            }
            return Ok(());
        };
        let (cx, user, actor) = (&mut self.cx, &login.user, &login.actor);
        match command {
            // After login, `admit` refuses a hello.
            Command::Hello(_) => {}
            Command::Join(join) => join.run(cx, actor).await,
            Command::Post(post) => post.run(cx, actor).await,
            Command::Entry(request) => request.run(cx, actor).await,
            Command::Leave(leave) => leave.run(cx, user),
            Command::History(history) => history.run(cx).await,
            Command::Rooms(rooms) => rooms.run(cx, actor).await,
        }
        Ok(())
    }

    /// Takes a rate-limit token for one frame, counting refusals.
    fn take_token(&mut self) -> Verdict {
        let verdict = self.rate_limit.check(Instant::now().into_std());
        if verdict != Verdict::Allowed {
            self.cx
                .shared
                .metrics
                .rate_limited_frames
                .fetch_add(1, Ordering::Relaxed);
        }
        verdict
    }

    fn count_frame_in(&self) {
        self.cx
            .shared
            .metrics
            .frames_in
            .fetch_add(1, Ordering::Relaxed);
    }
}
