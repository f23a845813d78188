//! A scripted WebSocket client for the tests: sends frames (well-formed or
//! deliberately broken) and expects exact answers, every wait bounded by a
//! timeout that fails the test with a message saying what was awaited.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use chat_proto::{
    ClientFrame, Entry, ErrorCode, Message, RoomInfo, ServerFrame, decode_server, encode,
};
use futures_util::{SinkExt, StreamExt};
use rustls::ClientConfig;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a client waits for any one expected frame.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(5);
/// How long [`TestClient::fresh_and_served`] may take in all.
pub const FRESH_CLIENT_LIMIT: Duration = Duration::from_secs(5);
/// The most history pages a client reads through one room.
const MAX_PAGES: usize = 10_000;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A `joined` frame's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    pub room: String,
    pub members: Vec<String>,
    /// The page's messages (what a protocol-1 client reads).
    pub history: Vec<Message>,
    /// The page's every entry, messages and protocol-2 kinds, in id order.
    pub entries: Vec<chat_proto::Entry>,
    pub more: bool,
    pub last_id: u64,
    /// Protocol 2: topic, owner, ops, privacy, role, read marker.
    pub details: Option<chat_proto::RoomDetails>,
}

/// A `welcome` frame's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    pub user: String,
    pub guest: bool,
    pub registered: bool,
    pub protocol: u32,
    pub server: String,
}

/// An `error` frame's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReply {
    pub code: ErrorCode,
    pub message: String,
    pub reference: Option<String>,
}

/// What ended a connection that a test expected the server to close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// A close frame with this code (and reason).
    Closed { code: u16, reason: String },
    /// The TCP stream ended or was reset without a close frame.
    Dropped(String),
}

/// Who a client believes is in each room: its `joined` list, then each
/// presence event. Through a cluster, a `join` or `leave` that happened
/// through another node just before this client joined can arrive after a
/// `joined` that already counts it (the event and the list travel
/// different paths). Such a stale event changes nothing here.
#[derive(Debug, Default)]
struct Rosters(HashMap<String, BTreeSet<String>>);

impl Rosters {
    /// Applies `frame` to the rosters; `true` when it is presence that
    /// changes nothing (stale), which the client then skips.
    fn apply(&mut self, frame: &ServerFrame) -> bool {
        match frame {
            ServerFrame::Joined { room, members, .. } => {
                self.0
                    .insert(room.clone(), members.iter().cloned().collect());
                false
            }
            ServerFrame::Join { room, user, .. } => {
                !self.0.entry(room.clone()).or_default().insert(user.clone())
            }
            ServerFrame::Leave { room, user, .. } => {
                !self.0.entry(room.clone()).or_default().remove(user)
            }
            _ => false,
        }
    }
}

/// One test connection to the server.
pub struct TestClient {
    ws: Socket,
    /// Who this is in failure messages (the user name once known).
    label: String,
    /// Numbers the `ref`s that [`TestClient::say`] attaches.
    next_ref: u64,
    /// Set by [`TestClient::ignoring_stale_presence`]: the rosters that
    /// tell real presence changes from stale ones.
    rosters: Option<Rosters>,
}

impl TestClient {
    /// Opens a WebSocket connection, failing the test when that fails.
    pub async fn connect(url: &str) -> Self {
        match timeout(RECV_TIMEOUT, Self::try_connect(url)).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => panic!("cannot connect to {url}: {e}"),
            Err(_) => panic!("connecting to {url} took over {RECV_TIMEOUT:?}"),
        }
    }

    /// A connection to `url` with a guest session for `user`.
    pub async fn guest(url: &str, user: &str) -> Self {
        let mut client = Self::connect(url).await;
        client.hello(user, None).await;
        client
    }

    /// A connection to `url` logged in (or registering) as `user` with
    /// `password`.
    pub async fn account(url: &str, user: &str, password: &str) -> Self {
        let mut client = Self::connect(url).await;
        client.hello(user, Some(password)).await;
        client
    }

    /// Proves the server at `url` still serves people normally (after an
    /// abuse test, say): a new guest `user` connects, says hello, joins
    /// `room` and gets a message acknowledged, all within
    /// [`FRESH_CLIENT_LIMIT`].
    pub async fn fresh_and_served(url: &str, user: &str, room: &str) -> Self {
        let started = Instant::now();
        let served = async {
            let mut client = Self::guest(url, user).await;
            client.join(room).await;
            client.say(room, "a fresh client is served").await;
            client
        };
        match timeout(FRESH_CLIENT_LIMIT, served).await {
            Ok(client) => client,
            Err(_) => panic!(
                "a fresh client ({user}) was not served within {FRESH_CLIENT_LIMIT:?} (started {:?} ago)",
                started.elapsed()
            ),
        }
    }

    /// Opens a WebSocket connection, returning the handshake's failure.
    pub async fn try_connect(url: &str) -> Result<Self, tungstenite::Error> {
        let (ws, _response) = tokio_tungstenite::connect_async(url).await?;
        Ok(Self::from_socket(ws))
    }

    /// Opens a `wss://` connection that trusts what `tls` trusts, failing
    /// the test when that fails.
    pub async fn connect_tls(url: &str, tls: Arc<ClientConfig>) -> Self {
        match timeout(RECV_TIMEOUT, Self::try_connect_tls(url, tls)).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => panic!("cannot connect to {url}: {e}"),
            Err(_) => panic!("connecting to {url} took over {RECV_TIMEOUT:?}"),
        }
    }

    /// [`TestClient::connect_tls`], returning the handshake's failure (a
    /// refused certificate, say).
    pub async fn try_connect_tls(
        url: &str,
        tls: Arc<ClientConfig>,
    ) -> Result<Self, tungstenite::Error> {
        let connector = tokio_tungstenite::Connector::Rustls(tls);
        let (ws, _response) =
            tokio_tungstenite::connect_async_tls_with_config(url, None, false, Some(connector))
                .await?;
        Ok(Self::from_socket(ws))
    }

    /// The certificate the server presented, DER-encoded; `None` over
    /// plain TCP.
    pub fn peer_certificate(&self) -> Option<Vec<u8>> {
        match self.ws.get_ref() {
            MaybeTlsStream::Rustls(tls) => {
                let (_, connection) = tls.get_ref();
                let chain = connection.peer_certificates()?;
                chain.first().map(|cert| cert.to_vec())
            }
            _ => None,
        }
    }

    /// Opens a connection whose kernel receive buffer is tiny, so that a
    /// test that stops reading on it fills the server's side quickly.
    pub async fn connect_with_small_receive_buffer(addr: SocketAddr) -> Self {
        let socket = TcpSocket::new_v4().expect("a TCP socket can be created");
        socket
            .set_recv_buffer_size(4096)
            .expect("SO_RCVBUF can be set");
        let stream = timeout(RECV_TIMEOUT, socket.connect(addr))
            .await
            .expect("TCP connect timed out")
            .expect("TCP connect to the server");
        let url = format!("ws://{addr}/ws");
        let (ws, _response) = timeout(
            RECV_TIMEOUT,
            tokio_tungstenite::client_async(url.as_str(), MaybeTlsStream::Plain(stream)),
        )
        .await
        .expect("WebSocket handshake timed out")
        .expect("WebSocket handshake");
        Self::from_socket(ws)
    }

    /// Opens a WebSocket connection to `addr` from the loopback address
    /// `source` (any of 127.0.0.0/8 on Linux), so a test can be several
    /// peers at once without leaving the machine.
    pub async fn connect_from(addr: SocketAddr, source: IpAddr) -> Self {
        match Self::try_connect_from(addr, source).await {
            Ok(client) => client,
            Err(e) => panic!("cannot connect to {addr} from {source}: {e}"),
        }
    }

    /// [`TestClient::connect_from`], returning the failure (a refused
    /// connection, an HTTP 503) instead of failing the test.
    pub async fn try_connect_from(
        addr: SocketAddr,
        source: IpAddr,
    ) -> Result<Self, tungstenite::Error> {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(source, 0))?;
        let connected = timeout(RECV_TIMEOUT, async {
            let stream = socket.connect(addr).await?;
            let url = format!("ws://{addr}/ws");
            tokio_tungstenite::client_async(url.as_str(), MaybeTlsStream::Plain(stream)).await
        })
        .await
        .map_err(|_| {
            tungstenite::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("connecting from {source} took over {RECV_TIMEOUT:?}"),
            ))
        })?;
        let (ws, _response) = connected?;
        Ok(Self::from_socket(ws))
    }

    fn from_socket(ws: Socket) -> Self {
        Self {
            ws,
            label: "client".to_owned(),
            next_ref: 0,
            rosters: None,
        }
    }

    /// This client, from now on keeping who it believes is in each room
    /// (its `joined` lists, then each presence event) and skipping
    /// presence that changes nothing there: through a cluster, a `join` or
    /// `leave` from another node can arrive after a `joined` that already
    /// counts it. Every real change must still arrive, in order.
    pub fn ignoring_stale_presence(mut self) -> Self {
        self.rosters = Some(Rosters::default());
        self
    }

    /// Names this client in failure messages (and in [`TestClient::say`]
    /// checks) when it said `hello` by hand.
    pub fn label_as(&mut self, user: &str) {
        user.clone_into(&mut self.label);
    }

    /// Who this client is in failure messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    // ----- sending ---------------------------------------------------------

    /// Sends one frame, encoded by chat-proto.
    pub async fn send(&mut self, frame: &ClientFrame) {
        self.send_raw(&encode(frame)).await;
    }

    /// Sends any text as one text frame (for deliberately broken input).
    pub async fn send_raw(&mut self, text: &str) {
        self.send_ws(WsMessage::text(text.to_owned())).await;
    }

    /// Sends one binary frame.
    pub async fn send_binary(&mut self, bytes: &[u8]) {
        self.send_ws(WsMessage::binary(bytes.to_vec())).await;
    }

    /// Sends one text message split into WebSocket fragments (a first
    /// text frame and continuation frames), as a client may legally do.
    pub async fn send_fragmented(&mut self, parts: &[&str]) {
        use tokio_tungstenite::tungstenite::protocol::frame::Frame;
        use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
        let last = parts.len().saturating_sub(1);
        for (i, part) in parts.iter().enumerate() {
            let opcode = if i == 0 {
                OpCode::Data(Data::Text)
            } else {
                OpCode::Data(Data::Continue)
            };
            let frame = Frame::message(part.as_bytes().to_vec(), opcode, i == last);
            self.send_ws(WsMessage::Frame(frame)).await;
        }
    }

    /// Sends several frames back to back and flushes once, so they reach
    /// the server together.
    pub async fn send_all(&mut self, frames: &[ClientFrame]) {
        for frame in frames {
            let sent = timeout(RECV_TIMEOUT, self.ws.feed(WsMessage::text(encode(frame)))).await;
            match sent {
                Ok(Ok(())) => {}
                Ok(Err(e)) => panic!("{}: sending {frame:?} failed: {e}", self.label),
                Err(_) => panic!(
                    "{}: sending {frame:?} blocked over {RECV_TIMEOUT:?}",
                    self.label
                ),
            }
        }
        match timeout(RECV_TIMEOUT, self.ws.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("{}: flushing failed: {e}", self.label),
            Err(_) => panic!("{}: flushing blocked over {RECV_TIMEOUT:?}", self.label),
        }
    }

    async fn send_ws(&mut self, message: WsMessage) {
        match timeout(RECV_TIMEOUT, self.ws.send(message)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("{}: send failed: {e}", self.label),
            Err(_) => panic!("{}: send blocked over {RECV_TIMEOUT:?}", self.label),
        }
    }

    /// Tries to send; returns the error instead of failing (for sockets
    /// the server may already have closed).
    pub async fn try_send_raw(&mut self, text: &str) -> Result<(), tungstenite::Error> {
        match timeout(RECV_TIMEOUT, self.ws.send(WsMessage::text(text.to_owned()))).await {
            Ok(result) => result,
            Err(_) => panic!("{}: send blocked over {RECV_TIMEOUT:?}", self.label),
        }
    }

    /// Closes the connection cleanly (close frame 1000) and waits for the
    /// server's answering close.
    pub async fn close(mut self) {
        let frame = CloseFrame {
            code: 1000.into(),
            reason: "bye".into(),
        };
        let label = self.label.clone();
        match timeout(RECV_TIMEOUT, self.ws.close(Some(frame))).await {
            Ok(Ok(())) | Ok(Err(tungstenite::Error::ConnectionClosed)) => {}
            Ok(Err(e)) => panic!("{label}: closing failed: {e}"),
            Err(_) => panic!("{label}: closing blocked over {RECV_TIMEOUT:?}"),
        }
        let deadline = Instant::now() + RECV_TIMEOUT;
        // Read until the stream ends: the server answers the close frame.
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Ok(None) | Ok(Some(Err(_))) => break,
                Ok(Some(Ok(_))) => {}
                Err(_) => panic!("{label}: the server did not finish the close handshake"),
            }
        }
    }

    /// Sends `count` pings back to back with one flush, as fast as the
    /// socket takes them; returns the error once the server has gone.
    pub async fn try_send_pings(&mut self, count: usize) -> Result<(), tungstenite::Error> {
        let pings = async {
            for n in 0..count {
                self.ws
                    .feed(WsMessage::Ping((n as u64).to_be_bytes().to_vec().into()))
                    .await?;
            }
            self.ws.flush().await
        };
        match timeout(RECV_TIMEOUT, pings).await {
            Ok(result) => result,
            Err(_) => panic!(
                "{}: sending pings blocked over {RECV_TIMEOUT:?}",
                self.label
            ),
        }
    }

    /// Drops the connection without a close frame and with a TCP reset
    /// (zero linger), as a crashed or killed client does.
    pub fn abort(self) {
        if let MaybeTlsStream::Plain(tcp) = self.ws.get_ref() {
            tcp.set_zero_linger()
                .expect("SO_LINGER can be set on a TCP socket");
        }
        drop(self);
    }

    // ----- receiving -------------------------------------------------------

    /// The next WebSocket message that is not a ping or pong, or `None`
    /// when the time runs out. Errors and the end of the stream come back
    /// as [`Ending::Dropped`].
    async fn next_ws(&mut self, limit: Duration) -> Option<Result<WsMessage, Ending>> {
        let deadline = Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return None,
                Ok(None) => return Some(Err(Ending::Dropped("stream ended".to_owned()))),
                Ok(Some(Err(e))) => return Some(Err(Ending::Dropped(e.to_string()))),
                Ok(Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_)))) => continue,
                Ok(Some(Ok(message))) => return Some(Ok(message)),
            }
        }
    }

    /// The next frame from the server, within `limit`; a client
    /// [`ignoring_stale_presence`](TestClient::ignoring_stale_presence)
    /// skips stale presence on the way.
    pub async fn recv_within(&mut self, limit: Duration, awaiting: &str) -> ServerFrame {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = self.recv_any_within(left, awaiting).await;
            let stale = self
                .rosters
                .as_mut()
                .is_some_and(|rosters| rosters.apply(&frame));
            if !stale {
                return frame;
            }
        }
    }

    /// The very next frame, stale or not, within `limit`.
    async fn recv_any_within(&mut self, limit: Duration, awaiting: &str) -> ServerFrame {
        match self.next_ws(limit).await {
            None => panic!(
                "{}: no frame within {limit:?} while awaiting {awaiting}",
                self.label
            ),
            Some(Err(ending)) => panic!(
                "{}: connection ended ({ending:?}) while awaiting {awaiting}",
                self.label
            ),
            Some(Ok(WsMessage::Text(text))) => match decode_server(&text) {
                Ok(frame) => frame,
                Err(e) => panic!(
                    "{}: undecodable frame {text:?} ({e}) while awaiting {awaiting}",
                    self.label
                ),
            },
            Some(Ok(WsMessage::Close(frame))) => panic!(
                "{}: got close {frame:?} while awaiting {awaiting}",
                self.label
            ),
            Some(Ok(other)) => panic!(
                "{}: got non-text message {other:?} while awaiting {awaiting}",
                self.label
            ),
        }
    }

    /// Sends the close reply that the library queued on receiving the
    /// server's close frame, as a well-behaved client does. Errors mean
    /// the server already went; that is fine here.
    async fn finish_close_handshake(&mut self) {
        let _ = timeout(RECV_TIMEOUT, self.ws.flush()).await;
    }

    /// The next frame, or how the connection ended (close frame or drop),
    /// within `limit`; for connections the server may refuse.
    pub async fn recv_or_end(&mut self, limit: Duration) -> Result<ServerFrame, Ending> {
        match self.next_ws(limit).await {
            None => panic!("{}: nothing within {limit:?}", self.label),
            Some(Err(ending)) => Err(ending),
            Some(Ok(WsMessage::Close(frame))) => {
                self.finish_close_handshake().await;
                Err(Ending::Closed {
                    code: frame.as_ref().map_or(1005, |f| u16::from(f.code)),
                    reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                })
            }
            Some(Ok(WsMessage::Text(text))) => match decode_server(&text) {
                Ok(frame) => Ok(frame),
                Err(e) => panic!("{}: undecodable frame {text:?} ({e})", self.label),
            },
            Some(Ok(other)) => panic!("{}: got non-text message {other:?}", self.label),
        }
    }

    /// The next frame from the server (within [`RECV_TIMEOUT`]).
    pub async fn recv(&mut self) -> ServerFrame {
        self.recv_within(RECV_TIMEOUT, "any frame").await
    }

    /// The next frame, which must satisfy `pred`.
    pub async fn expect(
        &mut self,
        description: &str,
        pred: impl FnOnce(&ServerFrame) -> bool,
    ) -> ServerFrame {
        let frame = self.recv_within(RECV_TIMEOUT, description).await;
        assert!(
            pred(&frame),
            "{}: expected {description}, got {frame:?}",
            self.label
        );
        frame
    }

    /// The next frame must be a `welcome`.
    pub async fn expect_welcome(&mut self) -> Welcome {
        match self.recv_within(RECV_TIMEOUT, "welcome").await {
            ServerFrame::Welcome {
                user,
                guest,
                registered,
                protocol,
                server,
                ..
            } => Welcome {
                user,
                guest,
                registered,
                protocol,
                server,
            },
            other => panic!("{}: expected welcome, got {other:?}", self.label),
        }
    }

    /// Sends a frame written as JSON (protocol-2 requests, or fields the
    /// typed frames cannot express).
    pub async fn send_json(&mut self, frame: serde_json::Value) {
        self.send_raw(&frame.to_string()).await;
    }

    /// The next frame must be the live entry of `kind` from `user`.
    pub async fn expect_entry(&mut self, kind: &str, user: &str) -> Entry {
        let frame = self
            .expect(&format!("a {kind} entry by {user}"), |frame| {
                Entry::try_from(frame.clone()).is_ok_and(|e| e.kind() == kind && e.user() == user)
            })
            .await;
        Entry::try_from(frame).expect("an entry")
    }

    /// The next frame must be `error` `code` about `reference`.
    pub async fn expect_refused(&mut self, code: ErrorCode, reference: &str) {
        let error = self.expect_error(code).await;
        assert_eq!(error.reference.as_deref(), Some(reference), "{error:?}");
    }

    /// The next frame must be an `error` with `code`.
    pub async fn expect_error(&mut self, code: ErrorCode) -> ErrorReply {
        let awaiting = format!("error {}", code.as_str());
        match self.recv_within(RECV_TIMEOUT, &awaiting).await {
            ServerFrame::Error {
                code: got,
                message,
                reference,
                ..
            } => {
                assert_eq!(
                    got,
                    code,
                    "{}: expected error {}, got error {} ({message:?})",
                    self.label,
                    code.as_str(),
                    got.as_str()
                );
                assert!(
                    !message.trim().is_empty(),
                    "{}: error {} has an empty human message",
                    self.label,
                    code.as_str()
                );
                ErrorReply {
                    code,
                    message,
                    reference,
                }
            }
            other => panic!(
                "{}: expected error {}, got {other:?}",
                self.label,
                code.as_str()
            ),
        }
    }

    /// The next frame must be `joined` for `room` (already folded).
    pub async fn expect_joined(&mut self, room: &str) -> Joined {
        match self.recv_within(RECV_TIMEOUT, "joined").await {
            ServerFrame::Joined {
                room: got,
                members,
                history,
                more,
                last_id,
                details,
            } => {
                assert_eq!(got, room, "{}: joined names the wrong room", self.label);
                Joined {
                    room: got,
                    members,
                    history: history
                        .iter()
                        .filter_map(|entry| entry.as_message().cloned())
                        .collect(),
                    entries: history,
                    more,
                    last_id,
                    details,
                }
            }
            other => panic!("{}: expected joined {room}, got {other:?}", self.label),
        }
    }

    /// The next frame must be a `message`.
    pub async fn expect_message(&mut self) -> Message {
        self.message_within(RECV_TIMEOUT).await
    }

    /// The next frame, within `limit`, must be a `message`.
    pub async fn message_within(&mut self, limit: Duration) -> Message {
        match self.recv_within(limit, "message").await {
            ServerFrame::Message(message) => message,
            other => panic!("{}: expected message, got {other:?}", self.label),
        }
    }

    /// The next chat message, passing over presence frames on the way
    /// (at most `max_presence` of them).
    pub async fn message_after_presence(&mut self, max_presence: usize) -> Message {
        for _ in 0..=max_presence {
            match self.recv().await {
                ServerFrame::Message(message) => return message,
                ServerFrame::Join { .. } | ServerFrame::Leave { .. } => {}
                other => panic!("{}: expected a message, got {other:?}", self.label),
            }
        }
        panic!(
            "{}: no message among {max_presence} presence frames",
            self.label
        )
    }

    /// The next `count` frames, which must all be messages.
    pub async fn messages(&mut self, count: usize) -> Vec<Message> {
        let mut seen = Vec::with_capacity(count);
        for _ in 0..count {
            seen.push(self.expect_message().await);
        }
        seen
    }

    /// The next frame must be a presence `join` of `user` in `room`.
    pub async fn expect_join(&mut self, room: &str, user: &str) {
        self.expect_presence(RECV_TIMEOUT, true, room, user).await;
    }

    /// The next frame must be a presence `leave` of `user` in `room`.
    pub async fn expect_leave(&mut self, room: &str, user: &str) {
        self.expect_presence(RECV_TIMEOUT, false, room, user).await;
    }

    /// Like [`TestClient::expect_leave`] with a longer wait (for leaves
    /// caused by timeouts on the server).
    pub async fn expect_leave_within(&mut self, limit: Duration, room: &str, user: &str) {
        self.expect_presence(limit, false, room, user).await;
    }

    /// Like [`TestClient::expect_join`] with a longer wait (for joins that
    /// wait on a cluster's heartbeat).
    pub async fn expect_join_within(&mut self, limit: Duration, room: &str, user: &str) {
        self.expect_presence(limit, true, room, user).await;
    }

    /// The very next frame must be this `join`, with no stale presence
    /// skipped before it: for proving that no other event came first.
    pub async fn expect_next_join(&mut self, room: &str, user: &str) {
        let awaiting = format!("join {user} in {room}, next");
        let frame = self.recv_any_within(RECV_TIMEOUT, &awaiting).await;
        if let Some(rosters) = self.rosters.as_mut() {
            rosters.apply(&frame);
        }
        self.check_presence(frame, &awaiting, true, room, user);
    }

    /// The next presence change within `limit`: (room, user, entered).
    pub async fn presence_within(&mut self, limit: Duration) -> (String, String, bool) {
        match self.recv_within(limit, "a presence change").await {
            ServerFrame::Join { room, user, ts } => {
                assert!(ts > 0, "{}: join ts {ts}", self.label);
                (room, user, true)
            }
            ServerFrame::Leave { room, user, ts } => {
                assert!(ts > 0, "{}: leave ts {ts}", self.label);
                (room, user, false)
            }
            other => panic!("{}: expected join or leave, got {other:?}", self.label),
        }
    }

    /// The next frame must be presence (`join` when `entered`, else
    /// `leave`) of `user` in `room`, stamped with a time.
    async fn expect_presence(&mut self, limit: Duration, entered: bool, room: &str, user: &str) {
        let kind = if entered { "join" } else { "leave" };
        let awaiting = format!("{kind} {user} in {room}");
        let frame = self.recv_within(limit, &awaiting).await;
        self.check_presence(frame, &awaiting, entered, room, user);
    }

    fn check_presence(
        &self,
        frame: ServerFrame,
        awaiting: &str,
        entered: bool,
        room: &str,
        user: &str,
    ) {
        let (got_entered, got_room, got_user, ts) = match frame {
            ServerFrame::Join { room, user, ts } => (true, room, user, ts),
            ServerFrame::Leave { room, user, ts } => (false, room, user, ts),
            other => panic!("{}: expected {awaiting}, got {other:?}", self.label),
        };
        assert_eq!(
            (got_entered, got_room.as_str(), got_user.as_str()),
            (entered, room, user),
            "{}: wrong presence frame while awaiting {awaiting}",
            self.label
        );
        assert!(ts > 0, "{}: presence ts {ts} is not a time", self.label);
    }

    /// The next frame must be a `history` page for `room`: (messages, more).
    pub async fn expect_history(&mut self, room: &str) -> (Vec<Message>, bool) {
        match self.recv_within(RECV_TIMEOUT, "history").await {
            ServerFrame::History {
                room: got,
                messages,
                more,
            } => {
                assert_eq!(got, room, "{}: history names the wrong room", self.label);
                (messages_only(messages), more)
            }
            other => panic!("{}: expected history {room}, got {other:?}", self.label),
        }
    }

    /// The next frame must be a `search` answer for `query`: (messages,
    /// more).
    pub async fn expect_search(&mut self, query: &str) -> (Vec<Message>, bool) {
        match self.recv_within(RECV_TIMEOUT, "search").await {
            ServerFrame::Search {
                query: got,
                messages,
                more,
            } => {
                assert_eq!(got, query, "{}: search echoes another query", self.label);
                (messages, more)
            }
            other => panic!("{}: expected search {query:?}, got {other:?}", self.label),
        }
    }

    /// Sends a `search` and expects its answer: (messages, more).
    pub async fn search(
        &mut self,
        query: &str,
        room: Option<&str>,
        limit: Option<u32>,
        before: Option<u64>,
        before_ts: Option<i64>,
    ) -> (Vec<Message>, bool) {
        self.send(&ClientFrame::Search {
            query: query.to_owned(),
            room: room.map(str::to_owned),
            limit,
            before,
            before_ts,
            reference: None,
        })
        .await;
        self.expect_search(query).await
    }

    /// The next frame must be a `rooms` listing.
    pub async fn expect_rooms(&mut self) -> Vec<RoomInfo> {
        match self.recv_within(RECV_TIMEOUT, "rooms").await {
            ServerFrame::Rooms { rooms, .. } => rooms,
            other => panic!("{}: expected rooms, got {other:?}", self.label),
        }
    }

    /// Reads until the server closes the connection (within `limit`),
    /// skipping at most `max_skipped` data frames on the way, and reports
    /// how it ended and how many frames were skipped.
    pub async fn read_until_end(&mut self, limit: Duration, max_skipped: usize) -> (Ending, usize) {
        let deadline = Instant::now() + limit;
        let mut skipped = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_ws(left).await {
                None => panic!(
                    "{}: the server did not close the connection within {limit:?} ({skipped} frames read)",
                    self.label
                ),
                Some(Err(ending)) => return (ending, skipped),
                Some(Ok(WsMessage::Close(frame))) => {
                    let (code, reason) = frame
                        .map(|f| (u16::from(f.code), f.reason.to_string()))
                        .unwrap_or((1005, String::new()));
                    self.finish_close_handshake().await;
                    return (Ending::Closed { code, reason }, skipped);
                }
                Some(Ok(_)) => {
                    skipped += 1;
                    assert!(
                        skipped <= max_skipped,
                        "{}: over {max_skipped} frames and still no close",
                        self.label
                    );
                }
            }
        }
    }

    /// The next thing on the connection must be a close frame with `code`.
    pub async fn expect_close(&mut self, code: u16) {
        self.expect_close_after(code, 0).await;
    }

    /// Reads until a close frame (at most `max_skipped` data frames
    /// before it) and asserts its code.
    pub async fn expect_close_after(&mut self, code: u16, max_skipped: usize) -> usize {
        let (ending, skipped) = self.read_until_end(RECV_TIMEOUT, max_skipped).await;
        match ending {
            Ending::Closed { code: got, reason } => assert_eq!(
                got, code,
                "{}: expected close {code}, got close {got} ({reason:?})",
                self.label
            ),
            Ending::Dropped(why) => panic!(
                "{}: expected close {code}, but the connection ended without a close frame: {why}",
                self.label
            ),
        }
        skipped
    }

    // ----- conversations ---------------------------------------------------

    /// Says `hello` and asserts the `welcome` names `user`.
    pub async fn hello(&mut self, user: &str, password: Option<&str>) -> Welcome {
        self.label = user.to_owned();
        self.send(&ClientFrame::Hello {
            user: user.to_owned(),
            password: password.map(str::to_owned),
        })
        .await;
        let welcome = self.expect_welcome().await;
        assert_eq!(welcome.user, user, "welcome names another user");
        assert_eq!(welcome.protocol, chat_proto::limits::PROTOCOL_VERSION);
        welcome
    }

    /// Joins `room` (as typed) and expects `joined` for `folded`.
    pub async fn join_as(&mut self, room: &str, folded: &str) -> Joined {
        self.send(&ClientFrame::Join {
            room: room.to_owned(),
            since: None,
            limit: None,
        })
        .await;
        self.expect_joined(folded).await
    }

    /// Joins a room given in lower case and expects `joined`.
    pub async fn join(&mut self, room: &str) -> Joined {
        self.join_as(room, room).await
    }

    /// Joins with explicit `since` / `limit`.
    pub async fn join_with(
        &mut self,
        room: &str,
        since: Option<u64>,
        limit: Option<u32>,
    ) -> Joined {
        self.send(&ClientFrame::Join {
            room: room.to_owned(),
            since,
            limit,
        })
        .await;
        self.expect_joined(room).await
    }

    /// Sends a message with a fresh `ref` and expects its acknowledgement
    /// as the very next frame (the sender's copy, carrying the `ref`).
    pub async fn say(&mut self, room: &str, text: &str) -> Message {
        self.next_ref += 1;
        let reference = format!("{}-{}", self.label, self.next_ref);
        self.send(&ClientFrame::Message {
            room: room.to_owned(),
            text: text.to_owned(),
            reference: Some(reference.clone()),
            reply_to: None,
            action: false,
        })
        .await;
        let ack = self.expect_message().await;
        assert_eq!(
            (ack.room.as_str(), ack.user.as_str(), ack.text.as_str()),
            (room, self.label.as_str(), text),
            "{}: the acknowledgement is not the message sent",
            self.label
        );
        assert_eq!(
            ack.reference.as_deref(),
            Some(reference.as_str()),
            "{}: the sender's copy must carry its ref",
            self.label
        );
        ack
    }

    /// Sends a burst of `message` frames at once and expects their
    /// acknowledgements, and nothing else, as the next frames.
    pub async fn say_all(&mut self, frames: &[ClientFrame]) -> Vec<Message> {
        self.send_all(frames).await;
        let mut acks = Vec::with_capacity(frames.len());
        for _ in frames {
            acks.push(self.expect_message().await);
        }
        acks
    }

    /// Sends a `history` request and expects the page.
    pub async fn history(
        &mut self,
        room: &str,
        before: Option<u64>,
        after: Option<u64>,
        limit: Option<u32>,
    ) -> (Vec<Message>, bool) {
        self.send(&ClientFrame::History {
            room: room.to_owned(),
            before,
            after,
            limit,
        })
        .await;
        self.expect_history(room).await
    }

    /// Asks for the room list and expects it as the next frame.
    pub async fn rooms(&mut self) -> Vec<RoomInfo> {
        self.send(&ClientFrame::rooms()).await;
        self.expect_rooms().await
    }

    /// Reads the whole of `room` oldest first, as a client coming back
    /// after a long absence does: `join` with `since` 0, then `history`
    /// `after` the last id while `more`, `page` messages at a time. Returns
    /// the `joined` reply and every message.
    pub async fn read_room_forward(&mut self, room: &str, page: u32) -> (Joined, Vec<Message>) {
        let joined = self.join_with(room, Some(0), Some(page)).await;
        let mut messages = joined.history.clone();
        let mut more = joined.more;
        for _ in 0..MAX_PAGES {
            if !more {
                return (joined, messages);
            }
            let after = messages.last().map(|m| m.id);
            let (next, next_more) = self.history(room, None, after, Some(page)).await;
            assert!(
                !next.is_empty() || !next_more,
                "{}: an empty page of {room} says there is more",
                self.label
            );
            messages.extend(next);
            more = next_more;
        }
        panic!(
            "{}: {room} still had more after {MAX_PAGES} pages",
            self.label
        )
    }

    /// Reads the whole of a joined `room` newest first with `history`
    /// `before` pages of `page` messages; returns it oldest first.
    pub async fn read_room_backward(&mut self, room: &str, page: u32) -> Vec<Message> {
        let mut pages: Vec<Vec<Message>> = Vec::new();
        let mut before = None;
        for _ in 0..MAX_PAGES {
            let (messages, more) = self.history(room, before, None, Some(page)).await;
            before = messages.first().map(|m| m.id);
            pages.push(messages);
            if !more {
                return pages.into_iter().rev().flatten().collect();
            }
            assert!(
                before.is_some(),
                "{}: an empty page of {room} says there is more",
                self.label
            );
        }
        panic!(
            "{}: {room} still had more after {MAX_PAGES} pages",
            self.label
        )
    }

    /// Proves that nothing else is queued for this client: the server
    /// answers frames in order, so when the reply to `rooms` is the very
    /// next frame, nothing was sent to us before it.
    pub async fn barrier(&mut self) -> Vec<RoomInfo> {
        self.send(&ClientFrame::rooms()).await;
        match self
            .recv_within(RECV_TIMEOUT, "the rooms reply of a barrier")
            .await
        {
            ServerFrame::Rooms { rooms, .. } => rooms,
            other => panic!(
                "{}: expected nothing before the barrier's rooms reply, got {other:?}",
                self.label
            ),
        }
    }
}

/// A legal message text whose frames are as large as frames get (just
/// under the 16 KiB limit, in and out): control characters travel escaped
/// as six bytes each (`\u0001`). For floods that must fill buffers fast.
pub fn bulky_text() -> String {
    "\u{1}".repeat(2_600) + "x"
}

/// `count` `message` frames for `room` without refs, the `n`th (from 0)
/// with the text `text(n)`: a burst for [`TestClient::send_all`].
pub fn message_burst(room: &str, count: usize, text: impl Fn(usize) -> String) -> Vec<ClientFrame> {
    (0..count)
        .map(|n| ClientFrame::Message {
            room: room.to_owned(),
            text: text(n),
            reference: None,
            reply_to: None,
            action: false,
        })
        .collect()
}

/// The messages of a page, which holds nothing else while the server
/// speaks protocol 1.
pub fn messages_only(entries: Vec<chat_proto::Entry>) -> Vec<Message> {
    entries
        .into_iter()
        .map(|entry| match entry {
            chat_proto::Entry::Message(message) => message,
            other => panic!("a protocol-1 page holds only messages, got {other:?}"),
        })
        .collect()
}

/// The ids of some messages, for compact assertions.
pub fn ids(messages: &[Message]) -> Vec<u64> {
    messages.iter().map(|m| m.id).collect()
}

/// The row for `name` in a `rooms` listing.
pub fn room_info<'a>(rooms: &'a [RoomInfo], name: &str) -> Option<&'a RoomInfo> {
    rooms.iter().find(|r| r.name == name)
}

/// Joins `room` with each client in turn (each a different user), checking
/// that every earlier member sees the newcomer's presence `join` and that
/// each `joined` lists everyone so far.
pub async fn join_in_order(clients: &mut [&mut TestClient], room: &str) {
    for i in 0..clients.len() {
        let newcomer = clients[i].label().to_owned();
        let joined = clients[i].join(room).await;
        let mut expected: Vec<String> =
            clients[..=i].iter().map(|c| c.label().to_owned()).collect();
        expected.sort();
        expected.dedup();
        // In name order, as a single node and a cluster both list them.
        assert_eq!(
            joined.members, expected,
            "{newcomer}: joined {room} lists the wrong members"
        );
        for earlier in clients[..i].iter_mut() {
            earlier.expect_join(room, &newcomer).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presence(entered: bool, user: &str) -> ServerFrame {
        let (room, user, ts) = ("lobby".to_owned(), user.to_owned(), 1);
        if entered {
            ServerFrame::Join { room, user, ts }
        } else {
            ServerFrame::Leave { room, user, ts }
        }
    }

    #[test]
    fn presence_already_counted_by_joined_is_stale_and_real_changes_are_not() {
        let mut rosters = Rosters::default();
        let joined = ServerFrame::Joined {
            room: "lobby".into(),
            members: vec!["alice".into(), "bob".into()],
            history: Vec::new(),
            more: false,
            last_id: 0,
            details: None,
        };
        assert!(!rosters.apply(&joined));
        assert!(rosters.apply(&presence(true, "bob")), "bob is already in");
        assert!(rosters.apply(&presence(false, "carol")), "carol never was");
        assert!(!rosters.apply(&presence(true, "carol")));
        assert!(!rosters.apply(&presence(false, "bob")));
        assert!(
            rosters.apply(&presence(false, "bob")),
            "bob has already left"
        );
        assert!(!rosters.apply(&ServerFrame::Rooms {
            mine: false,
            rooms: Vec::new(),
            more: false,
        }));
    }
}
