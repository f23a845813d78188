//! The WebSocket task: connects, forwards every server frame to the UI,
//! sends the frames the UI asks for, and when the socket drops retries with
//! capped exponential backoff and jitter. It reports each state change
//! (connecting, connected, disconnected with the retry delay) and knows
//! nothing about rooms: `hello`, rejoining and resending are decided by
//! [`crate::update`], which sees the state changes as actions.

use std::io;
use std::time::Duration;

use chat_proto::{ClientFrame, ServerFrame, decode_server, encode};
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::tls::ClientTls;

/// The first retry waits about this long.
pub const BACKOFF_BASE: Duration = Duration::from_millis(500);
/// No retry waits longer than this.
pub const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// Opening a socket that takes longer than this is given up and retried.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a clean close may take on quit.
const CLOSE_TIMEOUT: Duration = Duration::from_millis(500);

/// What the UI asks the network task to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetCommand {
    /// Send a frame on socket `epoch`; dropped if that socket is gone, so a
    /// frame meant for an old socket never reaches a new one before `hello`.
    Send { epoch: u64, frame: ClientFrame },
    /// Connect now (resetting the backoff), e.g. after a password was typed.
    Reconnect,
    /// After the current socket closes, do not retry until `Reconnect`: the
    /// server refused the login and retrying the same login is pointless.
    Hold,
    /// Close the socket cleanly and end the task.
    Shutdown,
}

/// What the network task reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    Connecting,
    /// The socket is open; frames for `epoch` will be sent.
    Connected {
        epoch: u64,
    },
    Frame(ServerFrame),
    /// The server sent a frame this client cannot read.
    Undecodable {
        error: String,
    },
    /// The socket is gone. `retry_in` is when the next attempt starts, or
    /// `None` while held (waiting for a password).
    Disconnected {
        reason: String,
        retry_in: Option<Duration>,
    },
}

/// Capped exponential backoff with jitter: attempt n waits a random time
/// in `[d/2, d]` where `d = min(cap, base * 2^n)`, so clients dropped by
/// the same server restart do not all come back in the same instant.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap,
            attempt: 0,
        }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self, rng: &mut impl Rng) -> Duration {
        let factor = 2u32.saturating_pow(self.attempt.min(20));
        let ceiling = self.base.saturating_mul(factor).min(self.cap);
        self.attempt = self.attempt.saturating_add(1);
        let half = ceiling / 2;
        let jitter_ms = rng.random_range(0..=half.as_millis().max(1) as u64);
        half + Duration::from_millis(jitter_ms).min(half)
    }

    /// A session worked: the next failure starts from the base delay again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

enum SocketEnd {
    /// The socket closed or failed, for this reason.
    Lost(String),
    Shutdown,
}

/// What the connection loop carries from one socket to the next.
struct Link {
    backoff: Backoff,
    /// Numbers the sockets; frames for an older one are dropped.
    epoch: u64,
    /// Do not retry until `Reconnect`.
    held: bool,
    /// `Reconnect` came while a socket was open or opening: retry at once
    /// when it ends.
    retry_now: bool,
}

impl Link {
    /// `Reconnect` before the socket it answers has closed. The user typed
    /// the password while the server was still closing the refused socket:
    /// the hold is lifted here, or the command would be lost and the
    /// client would wait for a second `Reconnect` that never comes. On a
    /// socket not held there is nothing to do: it is connected already.
    fn reconnect_after_this_socket(&mut self) {
        if self.held {
            self.held = false;
            self.retry_now = true;
            self.backoff.reset();
        }
    }

    /// How long until the next attempt, or `None` when held.
    fn retry_in(&mut self) -> Option<Duration> {
        if self.held {
            None
        } else if std::mem::take(&mut self.retry_now) {
            Some(Duration::ZERO)
        } else {
            Some(self.backoff.next_delay(&mut rand::rng()))
        }
    }
}

/// Runs the connection loop until `Shutdown` or until the UI is gone;
/// `tls` verifies a `wss://` server.
pub async fn run(
    url: String,
    tls: Option<ClientTls>,
    mut cmd_rx: mpsc::UnboundedReceiver<NetCommand>,
    event_tx: mpsc::Sender<NetEvent>,
) {
    let mut link = Link {
        backoff: Backoff::new(BACKOFF_BASE, BACKOFF_CAP),
        epoch: 0,
        held: false,
        retry_now: false,
    };
    loop {
        if link.held {
            if !wait_for_reconnect(&mut cmd_rx).await {
                return;
            }
            link.held = false;
            link.backoff.reset();
        }
        if event_tx.send(NetEvent::Connecting).await.is_err() {
            return;
        }
        let Some(reason) =
            connect_and_pump(&url, tls.as_ref(), &mut cmd_rx, &event_tx, &mut link).await
        else {
            return;
        };
        tracing::info!(%reason, "disconnected");
        let retry_in = link.retry_in();
        if event_tx
            .send(NetEvent::Disconnected { reason, retry_in })
            .await
            .is_err()
        {
            return;
        }
        if let Some(delay) = retry_in
            && !wait_to_retry(delay, &mut cmd_rx, &mut link).await
        {
            return;
        }
    }
}

/// Opens one socket and serves it until it ends; returns why it ended,
/// or `None` when the task should stop.
async fn connect_and_pump(
    url: &str,
    tls: Option<&ClientTls>,
    cmd_rx: &mut mpsc::UnboundedReceiver<NetCommand>,
    event_tx: &mpsc::Sender<NetEvent>,
    link: &mut Link,
) -> Option<String> {
    let connected = tokio::select! {
        result = connect(url, tls) => result,
        () = wait_for_shutdown(cmd_rx, link) => return None,
    };
    match connected {
        Ok(socket) => {
            link.epoch += 1;
            let epoch = link.epoch;
            event_tx.send(NetEvent::Connected { epoch }).await.ok()?;
            match pump(socket, epoch, cmd_rx, event_tx, link).await {
                SocketEnd::Lost(reason) => Some(reason),
                SocketEnd::Shutdown => None,
            }
        }
        Err(reason) => Some(reason),
    }
}

/// Waits `delay` before the next attempt, serving commands meanwhile;
/// false when the task should stop.
async fn wait_to_retry(
    delay: Duration,
    cmd_rx: &mut mpsc::UnboundedReceiver<NetCommand>,
    link: &mut Link,
) -> bool {
    let sleep = tokio::time::sleep(delay);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            () = &mut sleep => return true,
            cmd = cmd_rx.recv() => match cmd {
                None | Some(NetCommand::Shutdown) => return false,
                Some(NetCommand::Reconnect) => {
                    link.backoff.reset();
                    return true;
                }
                Some(NetCommand::Hold) => {
                    link.held = true;
                    return true;
                }
                // No socket: the UI resends what matters after rejoining.
                Some(NetCommand::Send { .. }) => {}
            }
        }
    }
}

/// Opens the socket within [`CONNECT_TIMEOUT`]; a failure comes back as
/// the line the UI shows.
async fn connect(url: &str, tls: Option<&ClientTls>) -> Result<Socket, String> {
    let connector = tls.map(|tls| Connector::Rustls(tls.config()));
    let opening = tokio_tungstenite::connect_async_tls_with_config(url, None, true, connector);
    match tokio::time::timeout(CONNECT_TIMEOUT, opening).await {
        Ok(Ok((socket, _response))) => Ok(socket),
        Ok(Err(e)) => Err(connect_error_text(&e, tls)),
        Err(_) => Err(format!(
            "no answer from the server within {} s",
            CONNECT_TIMEOUT.as_secs()
        )),
    }
}

/// Serves commands while a connect is under way; returns only on
/// `Shutdown` (or a closed channel), so otherwise the connect branch wins.
async fn wait_for_shutdown(cmd_rx: &mut mpsc::UnboundedReceiver<NetCommand>, link: &mut Link) {
    loop {
        match cmd_rx.recv().await {
            None | Some(NetCommand::Shutdown) => return,
            Some(NetCommand::Hold) => link.held = true,
            Some(NetCommand::Reconnect) => link.reconnect_after_this_socket(),
            // Frames for an old socket are dropped.
            Some(NetCommand::Send { .. }) => {}
        }
    }
}

/// Held: waits for `Reconnect` (true) or `Shutdown` (false).
async fn wait_for_reconnect(cmd_rx: &mut mpsc::UnboundedReceiver<NetCommand>) -> bool {
    loop {
        match cmd_rx.recv().await {
            None | Some(NetCommand::Shutdown) => return false,
            Some(NetCommand::Reconnect) => return true,
            Some(_) => {}
        }
    }
}

/// Why a connect failed, in words for the user rather than the library's.
fn connect_error_text(e: &WsError, tls: Option<&ClientTls>) -> String {
    match e {
        // A failed TLS handshake comes back as an I/O error around rustls's.
        WsError::Io(io) => match (tls, tls_refusal(io)) {
            (Some(tls), Some(refused)) => tls.describe(refused),
            _ => io_error_text(io),
        },
        WsError::Http(response) if response.status().as_u16() == 503 => {
            "the server is full or busy (HTTP 503)".into()
        }
        WsError::Http(response) => format!(
            "the server answered HTTP {} instead of opening a chat connection",
            response.status().as_u16()
        ),
        WsError::Url(_) => "the server address is not a usable ws:// or wss:// URL".into(),
        _ => "the server did not open a chat connection".into(),
    }
}

/// Why a connect's socket failed, in words for the user.
fn io_error_text(io: &io::Error) -> String {
    match io.kind() {
        io::ErrorKind::ConnectionRefused => {
            "the server refused the connection (is it running?)".into()
        }
        io::ErrorKind::TimedOut => "no answer from the server".into(),
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
            "the server's network cannot be reached".into()
        }
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::UnexpectedEof => "the server dropped the connection".into(),
        _ => "the server cannot be reached".into(),
    }
}

/// The rustls error inside a failed TLS handshake's I/O error.
fn tls_refusal(io: &io::Error) -> Option<&rustls::Error> {
    io.get_ref().and_then(|e| e.downcast_ref())
}

/// Why an open socket was lost, in words for the user: a dropped
/// connection reads "connection lost", not the library's error.
fn lost_text(e: &WsError) -> String {
    match e {
        WsError::ConnectionClosed | WsError::AlreadyClosed => "the connection closed".into(),
        WsError::Io(io) if io.kind() == io::ErrorKind::TimedOut => {
            "connection lost (timed out)".into()
        }
        WsError::Capacity(_) => "the server sent more than this client accepts".into(),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) | WsError::Io(_) => {
            "connection lost".into()
        }
        WsError::Protocol(_) | WsError::Utf8(_) => {
            "connection lost (the server broke the WebSocket rules)".into()
        }
        _ => "connection lost".into(),
    }
}

/// What a close frame from the server means, in words for the user.
fn close_text(close: Option<&CloseFrame>) -> String {
    let Some(frame) = close else {
        return "the server closed the connection".into();
    };
    let why = match u16::from(frame.code) {
        1000 => "the server closed the connection".to_owned(),
        1001 => "the server is restarting or shutting down".to_owned(),
        1008 => "the server closed the connection for breaking its rules".to_owned(),
        1009 => "the server refused a frame as too big".to_owned(),
        1011 => "the server had an internal error".to_owned(),
        code => format!("the server closed the connection (code {code})"),
    };
    if frame.reason.is_empty() {
        why
    } else {
        format!("{why}: {}", frame.reason.as_str())
    }
}

/// Moves frames both ways on one open socket until it ends.
async fn pump(
    mut socket: Socket,
    epoch: u64,
    cmd_rx: &mut mpsc::UnboundedReceiver<NetCommand>,
    event_tx: &mpsc::Sender<NetEvent>,
    link: &mut Link,
) -> SocketEnd {
    loop {
        tokio::select! {
            incoming = socket.next() => {
                let message = match incoming {
                    None => return SocketEnd::Lost("the connection closed".into()),
                    Some(Err(e)) => return SocketEnd::Lost(lost_text(&e)),
                    Some(Ok(message)) => message,
                };
                let event = match message {
                    WsMessage::Text(text) => match decode_server(text.as_str()) {
                        Ok(frame) => {
                            if matches!(frame, ServerFrame::Welcome { .. }) {
                                link.backoff.reset();
                            }
                            NetEvent::Frame(frame)
                        }
                        Err(e) => NetEvent::Undecodable { error: e.to_string() },
                    },
                    WsMessage::Close(close) => {
                        let reason = close_text(close.as_ref());
                        // Let tungstenite finish the closing handshake.
                        let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.close(None)).await;
                        return SocketEnd::Lost(reason);
                    }
                    WsMessage::Binary(_) => NetEvent::Undecodable {
                        error: "binary frame".into(),
                    },
                    // Pings are answered by tungstenite itself as we read.
                    WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_) => continue,
                };
                if event_tx.send(event).await.is_err() {
                    return SocketEnd::Shutdown;
                }
            }
            cmd = cmd_rx.recv() => match cmd {
                None | Some(NetCommand::Shutdown) => {
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.close(None)).await;
                    return SocketEnd::Shutdown;
                }
                Some(NetCommand::Send { epoch: for_epoch, frame }) => {
                    if for_epoch == epoch
                        && let Err(e) = socket.send(WsMessage::text(encode(&frame))).await {
                            return SocketEnd::Lost(lost_text(&e));
                        }
                }
                Some(NetCommand::Hold) => link.held = true,
                Some(NetCommand::Reconnect) => link.reconnect_after_this_socket(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use tokio::net::TcpListener;

    const WAIT: Duration = Duration::from_secs(10);

    /// The next event that is not `Connecting`, within [`WAIT`].
    async fn next_event(events: &mut mpsc::Receiver<NetEvent>) -> NetEvent {
        loop {
            let event = tokio::time::timeout(WAIT, events.recv()).await;
            match event.expect("no event in time").expect("the task ended") {
                NetEvent::Connecting => continue,
                event => return event,
            }
        }
    }

    /// The user types the password while the server is still closing the
    /// socket it refused: `Hold` and `Reconnect` both arrive before the
    /// close, and the client must still come back, at once.
    #[tokio::test]
    async fn a_password_typed_before_the_refused_socket_closes_reconnects() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/ws", listener.local_addr().unwrap());
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (event_tx, mut events) = mpsc::channel(16);
        let task = tokio::spawn(run(url, None, cmd_rx, event_tx));

        let (stream, _) = tokio::time::timeout(WAIT, listener.accept())
            .await
            .unwrap()
            .unwrap();
        let mut refused = tokio_tungstenite::accept_async(stream).await.unwrap();
        assert!(matches!(
            next_event(&mut events).await,
            NetEvent::Connected { epoch: 1 }
        ));
        cmd_tx.send(NetCommand::Hold).unwrap();
        cmd_tx.send(NetCommand::Reconnect).unwrap();
        // The task serves commands in order: once the frame sent after
        // them arrives, both were read while the socket was still open.
        let frame = ClientFrame::Leave {
            room: "lobby".into(),
        };
        cmd_tx.send(NetCommand::Send { epoch: 1, frame }).unwrap();
        assert!(refused.next().await.unwrap().unwrap().is_text());
        refused.close(None).await.unwrap();

        match next_event(&mut events).await {
            NetEvent::Disconnected { retry_in, .. } => assert_eq!(retry_in, Some(Duration::ZERO)),
            other => panic!("expected a disconnect, got {other:?}"),
        }
        let again = tokio::time::timeout(WAIT, listener.accept()).await;
        assert!(again.expect("the client did not reconnect").is_ok());
        task.abort();
    }

    #[test]
    fn lost_connections_are_told_in_plain_words() {
        let reset = WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake);
        assert_eq!(lost_text(&reset), "connection lost");
        let io = WsError::Io(io::Error::from(io::ErrorKind::ConnectionReset));
        assert_eq!(lost_text(&io), "connection lost");
        let refused = WsError::Io(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(
            connect_error_text(&refused, None),
            "the server refused the connection (is it running?)"
        );
        for e in [reset, io, refused] {
            for text in [lost_text(&e), connect_error_text(&e, None)] {
                assert!(!text.contains("WebSocket protocol error"), "{text}");
                assert!(!text.contains("os error"), "{text}");
            }
        }
        let going_away = CloseFrame {
            code: 1001.into(),
            reason: "".into(),
        };
        assert_eq!(
            close_text(Some(&going_away)),
            "the server is restarting or shutting down"
        );
        let policy = CloseFrame {
            code: 1008.into(),
            reason: "too slow".into(),
        };
        assert_eq!(
            close_text(Some(&policy)),
            "the server closed the connection for breaking its rules: too slow"
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let mut ceilings = Vec::new();
        for attempt in 0..12u32 {
            let ceiling =
                (Duration::from_millis(500) * 2u32.pow(attempt)).min(Duration::from_secs(30));
            let delay = backoff.next_delay(&mut rng);
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "attempt {attempt}: {delay:?} not in [{:?}, {ceiling:?}]",
                ceiling / 2
            );
            ceilings.push(ceiling);
        }
        assert_eq!(ceilings.last(), Some(&Duration::from_secs(30)));
        backoff.reset();
        assert!(backoff.next_delay(&mut rng) <= Duration::from_millis(500));
    }

    #[test]
    fn jitter_spreads_clients_apart() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let delays: std::collections::BTreeSet<_> = (0..20)
            .map(|_| {
                let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
                b.next_delay(&mut rng); // 0.25-0.5 s
                b.next_delay(&mut rng) // 0.5-1 s
            })
            .collect();
        assert!(delays.len() > 10, "{delays:?}");
    }
}
