//! One WebSocket session: the loop that serves a connection from upgrade to
//! close, and the gate every frame passes (hello first, then the rate
//! limit) on its way to its request's handler.
//!
//! # Layout
//! - `socket`: reading, batched writes of the outbox, keep-alive, the
//!   close handshake.
//! - `deadline`: the stream under the WebSocket, timing each frame.
//! - `command`: a decoded frame made into a typed `Command` once.
//! - `reply`: the one place replies and errors go out, echoing the `ref`.
//! - one file per request kind: `hello`, `join`, `message`, `leave`,
//!   `history`, `rooms`, `typing`, `read`, `search`, the protocol-2 entries (`edit`, `delete`,
//!   `react`, `topic`, `kick`, …), and `ping` for WebSocket pings.
//!
//! A single task serves the connection, `select!`ing over the outbox (and
//! what ends a session from outside), commit receipts, the socket, the
//! hello deadline and keep-alive. Everything the connection is sent goes
//! through its outbox, so replies and room traffic reach the client in the
//! order they were queued.
//!
//! A session over its rate limit is slowed, not refused: the frame that
//! found the bucket empty is held and the socket is not read again until
//! a token is back, so the client's burst is served whole and in order
//! while TCP pushes back on the rest (the kernel buffer fills; the server
//! buffers one frame).

mod ban;
mod command;
mod conversation;
mod deadline;
mod delete;
mod delete_room;
mod edit;
mod entry;
mod hello;
mod history;
mod invite;
mod join;
mod kick;
mod leave;
mod message;
mod ping;
mod react;
mod read;
mod reply;
mod role;
mod rooms;
mod search;
mod settings;
mod socket;
mod topic;
mod typing;
mod unban;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use std::pin::Pin;

use chat_proto::limits::PROTOCOL_VERSION;
use chat_proto::{ClientFrame, ClientRequest, ErrorCode, RoomName, decode_client_request};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};

pub use self::deadline::FrameDeadline;
pub use self::socket::WsStream;

use self::command::Command;
use self::entry::PendingAppend;
use self::hello::Login;
use self::reply::Replies;
use self::socket::{Ending, Incoming, KeepAlive, Outbound, Socket};
use crate::address_limits::{Offence, ShareSlot};
use crate::limits::{RateLimit, Verdict};
use crate::registry::Room;
use crate::shared::Shared;
use crate::shutdown::{Shutdown, TaskGuard};
use crate::store::{Actor, ConnId};

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
    /// The conversations this session has found it may use (its own, the
    /// partner's account there), so each costs one account read.
    conversations: HashSet<RoomName>,
    appends: FuturesUnordered<PendingAppend>,
    /// Per room, the read marker as this connection last knew it (for a
    /// guest: the marker itself), so a `read` that asks for nothing new
    /// costs no store write.
    read_marks: HashMap<RoomName, u64>,
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

    /// Whether the session may make entries in the room: it joined it, or
    /// it is a conversation of its user, which every connection of the
    /// two users is in without joining. Else the refusal has been
    /// answered: `not_in_room`, or as [`conversation::may_read`] answers.
    /// (The store's rules check a conversation again when they store the
    /// entry; checking here first keeps refused requests from making the
    /// room.) A conversation found open is not looked up again.
    async fn in_room(&mut self, room: &RoomName, actor: &Actor) -> bool {
        if !room.is_conversation() {
            return self.joined(room).is_some();
        }
        if self.conversations.contains(room) {
            return true;
        }
        let open = conversation::may_read(self, room, actor).await;
        if open {
            self.conversations.insert(room.clone());
        }
        open
    }
}

/// A frame the rate limit holds back (`None` for a ping, which the library
/// has answered already) until its token is due, and the timer for it.
/// Boxed in the session, and made only when a frame is held: most
/// sessions are never slowed, and inline (with its timer) it would be
/// resident in every one.
struct Held {
    request: Option<ClientRequest>,
    release: Pin<Box<Sleep>>,
}

/// Waits for `timer`; forever when there is none. Cancel-safe.
async fn expiry(timer: Option<&mut Pin<Box<Sleep>>>) {
    match timer {
        Some(timer) => timer.as_mut().await,
        None => std::future::pending().await,
    }
}

/// The session's slots: in the server's pool and in its address's share.
pub struct Slots {
    pub server: OwnedSemaphorePermit,
    pub address: ShareSlot,
}

/// One WebSocket connection's session.
pub struct Session {
    socket: Socket,
    outbound: Outbound,
    keepalive: KeepAlive,
    login: Option<Login>,
    rate_limit: RateLimit,
    /// `Some` while the session is slowed: nothing is read meanwhile.
    held: Option<Box<Held>>,
    /// Whether this session has been slowed before (counted once).
    throttled: bool,
    cx: Context,
    _guard: TaskGuard,
    _slots: Slots,
}

impl Session {
    pub fn new(
        ws: WsStream,
        peer: SocketAddr,
        shared: Arc<Shared>,
        shutdown: Shutdown,
        guard: TaskGuard,
        slots: Slots,
    ) -> Self {
        let config = &shared.config;
        let outbox = ws.get_ref().get_ref().outbox().clone();
        Self {
            socket: Socket::new(ws, peer),
            outbound: Outbound::new(outbox.clone(), shutdown),
            keepalive: KeepAlive::new(config.ping_interval),
            login: None,
            rate_limit: RateLimit::new(
                config.rate_limit,
                config.rate_burst,
                Instant::now().into_std(),
            ),
            held: None,
            throttled: false,
            cx: Context {
                conn: shared.next_conn_id(),
                peer,
                replies: Replies::new(outbox),
                rooms: HashMap::new(),
                conversations: HashSet::new(),
                appends: FuturesUnordered::new(),
                read_marks: HashMap::new(),
                shared,
            },
            _guard: guard,
            _slots: slots,
        }
    }

    /// Serves the connection until it ends, then closes it and leaves
    /// every room.
    ///
    /// Not an `async fn`: one taking `self` by value keeps the argument
    /// and the body's copy of it side by side in its future (rustc issue
    /// 62958), a second session's worth of bytes resident for every
    /// connection. The block's captured `self` is the only copy.
    #[expect(
        clippy::manual_async_fn,
        reason = "an async fn would hold the session twice"
    )]
    pub fn run(mut self) -> impl Future<Output = ()> + Send {
        async move {
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
            self.report_ending(ending, user);
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
    }

    async fn serve(&mut self) -> Ending {
        let hello_timeout = self.cx.shared.config.handshake_timeout;
        let mut hello_deadline = Some(Box::pin(tokio::time::sleep(hello_timeout)));
        let mut was_reading = true;
        loop {
            if self.login.is_some() {
                // Its timer is not kept for the session's life.
                hello_deadline = None;
            }
            let backlogged = self.cx.appends.len() >= MAX_APPENDS_IN_FLIGHT;
            let reading = self.held.is_none() && !backlogged;
            if reading && !was_reading {
                // Not reading was the server's choice: the frame under way
                // gets its whole time again.
                self.socket.stream().restart_clock();
            }
            was_reading = reading;
            let give_up_at = self.keepalive.give_up_at();
            // The handlers are boxed: they run only while a frame or a
            // wake is served, and inline their states would be laid out
            // in the session's future, resident for every idle connection.
            let served = tokio::select! {
                biased;
                wake = self.outbound.wake() => {
                    Box::pin(self.outbound.serve(wake, give_up_at)).await
                }
                Some(receipt) = self.cx.appends.next(), if !self.cx.appends.is_empty() => {
                    entry::settled(&self.cx, receipt);
                    Ok(())
                }
                () = expiry(self.held.as_mut().map(|held| &mut held.release)), if self.held.is_some() => {
                    Box::pin(self.release_held()).await
                }
                incoming = self.socket.read(), if reading => {
                    self.keepalive.heard();
                    Box::pin(self.on_incoming(incoming)).await
                }
                () = expiry(hello_deadline.as_mut()), if self.login.is_none() => Err(Ending::HelloTimeout),
                () = self.keepalive.tick() => {
                    Box::pin(self.keepalive.check(&mut self.socket, !reading)).await
                }
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
                replies.answering(e.reference.clone());
                replies.send(&e.to_frame());
                return Ok(());
            }
        };
        replies.answering(request.reference.clone());
        match self.admit(matches!(request.frame, ClientFrame::Hello { .. })) {
            Admission::Serve => self.serve_request(request).await,
            Admission::Refused => Ok(()),
            Admission::WaitUntil(until) => {
                self.hold(Some(request), until);
                Ok(())
            }
        }
    }

    async fn serve_request(&mut self, request: ClientRequest) -> Result<(), Ending> {
        let me = self.login.as_ref().map(|login| &login.user);
        match Command::parse(request.frame, self.cx.replies.reference(), me) {
            Ok(command) => self.dispatch(command).await,
            Err(refusal) => {
                self.cx.replies.refuse(refusal);
                Ok(())
            }
        }
    }

    /// Whether a frame may be served: a `hello` only before login, anything
    /// else only after it, and then once the rate limit has a token for
    /// it. Refusals are answered here.
    fn admit(&mut self, is_hello: bool) -> Admission {
        let replies = &self.cx.replies;
        match (self.login.is_some(), is_hello) {
            (false, true) => Admission::Serve,
            (false, false) => {
                replies.error(ErrorCode::NotAuthenticated, "send hello first");
                Admission::Refused
            }
            (true, true) => {
                replies.error(
                    ErrorCode::AlreadyAuthenticated,
                    "this connection is already logged in",
                );
                Admission::Refused
            }
            // Only frames that make the server work take a token: refusals
            // cost next to nothing, and a client that does not read them is
            // closed as a slow consumer anyway.
            (true, false) => match self.take_token() {
                Verdict::Allowed => Admission::Serve,
                Verdict::WaitUntil(until) => Admission::WaitUntil(until),
            },
        }
    }

    /// Slows the session down: `request` waits for its token, due at
    /// `until`, and nothing more is read meanwhile.
    fn hold(&mut self, request: Option<ClientRequest>, until: std::time::Instant) {
        let release = Box::pin(tokio::time::sleep_until(Instant::from_std(until)));
        self.held = Some(Box::new(Held { request, release }));
        if !self.throttled {
            self.throttled = true;
            self.cx
                .shared
                .metrics
                .net
                .sessions_throttled
                .fetch_add(1, Ordering::Relaxed);
            self.report(Offence::Throttled, "slowing a session down to --rate-limit");
        }
    }

    /// The held frame's token is due: serve it (or wait a little longer).
    async fn release_held(&mut self) -> Result<(), Ending> {
        match self.take_token() {
            Verdict::WaitUntil(until) => {
                if let Some(held) = &mut self.held {
                    held.release.as_mut().reset(Instant::from_std(until));
                }
                Ok(())
            }
            Verdict::Allowed => match self.held.take().and_then(|held| held.request) {
                Some(request) => {
                    self.cx.replies.answering(request.reference.clone());
                    self.serve_request(request).await
                }
                None => Ok(()),
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
        let (cx, actor) = (&mut self.cx, &login.actor);
        match command {
            // After login, `admit` refuses a hello.
            Command::Hello(_) => {}
            Command::Join(join) => join.run(cx, actor).await,
            Command::Post(post) => post.run(cx, actor).await,
            Command::Entry(request) => request.run(cx, actor).await,
            Command::Leave(leave) => leave.run(cx, actor).await,
            Command::History(history) => history.run(cx, actor).await,
            Command::Rooms(rooms) => rooms.run(cx, actor).await,
            Command::Typing(typing) => typing.run(cx, actor).await,
            Command::Read(read) => read.run(cx, actor).await,
            Command::Search(search) => search.run(cx, actor).await,
        }
        Ok(())
    }

    /// Takes a rate-limit token for one frame, counting the frames held.
    fn take_token(&mut self) -> Verdict {
        let verdict = self.rate_limit.check(Instant::now().into_std());
        if verdict != Verdict::Allowed && self.held.is_none() {
            self.cx
                .shared
                .metrics
                .rate_limited_frames
                .fetch_add(1, Ordering::Relaxed);
        }
        verdict
    }

    /// Counts an ending the operator should know of, and logs it once per
    /// address in a while.
    fn report_ending(&self, ending: Ending, user: &str) {
        let metrics = &self.cx.shared.metrics;
        let counter = match ending {
            Ending::SlowConsumer => &metrics.slow_consumers_dropped,
            Ending::Unresponsive => &metrics.net.unresponsive_dropped,
            Ending::FrameTimeout => &metrics.net.frame_timeouts,
            Ending::OverShare => &metrics.net.partial_frames_over_share,
            Ending::ProtocolError | Ending::InvalidUtf8 | Ending::TooBig => {
                &metrics.net.protocol_violations
            }
            Ending::Gone | Ending::Shutdown | Ending::Refused | Ending::HelloTimeout => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if let Some(why) = ending.offence() {
            self.log_offence(Offence::Dropped(why), user, "closing a session");
        }
    }

    /// Logs what a session did, unless its address was named for it lately.
    fn report(&self, offence: Offence, what: &str) {
        let user = self.login.as_ref().map(|login| login.user.to_string());
        self.log_offence(offence, user.as_deref().unwrap_or(""), what);
    }

    fn log_offence(&self, offence: Offence, user: &str, what: &str) {
        let ticket = self.socket.ticket();
        if ticket.limits().first_in_a_while(ticket.key(), offence) {
            let peer = self.cx.peer;
            tracing::info!(%peer, user, reason = %offence, "{what} (named once per address in a while)");
        }
    }

    fn count_frame_in(&self) {
        self.cx
            .shared
            .metrics
            .frames_in
            .fetch_add(1, Ordering::Relaxed);
    }
}

/// What the gate says about a frame.
enum Admission {
    Serve,
    /// Answered with an error already.
    Refused,
    /// Over the rate: held until then.
    WaitUntil(std::time::Instant),
}
