//! The WebSocket task: connects, forwards every server frame to the UI,
//! sends the frames the UI asks for, and when the socket drops retries with
//! capped exponential backoff and jitter. It reports each state change
//! (connecting, connected, disconnected with the retry delay) and knows
//! nothing about rooms: `hello`, rejoining and resending are decided by
//! [`crate::update`], which sees the state changes as actions.

use std::time::Duration;

use chat_proto::{ClientFrame, ServerFrame, decode_server, encode};
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;
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

/// Runs the connection loop until `Shutdown` or until the UI is gone;
/// `tls` verifies a `wss://` server.
pub async fn run(
    url: String,
    tls: Option<ClientTls>,
    mut cmd_rx: mpsc::UnboundedReceiver<NetCommand>,
    event_tx: mpsc::Sender<NetEvent>,
) {
    let mut backoff = Backoff::new(BACKOFF_BASE, BACKOFF_CAP);
    let mut epoch = 0u64;
    let mut held = false;
    loop {
        if held {
            match wait_for_reconnect(&mut cmd_rx).await {
                true => {
                    held = false;
                    backoff.reset();
                }
                false => return,
            }
        }
        if event_tx.send(NetEvent::Connecting).await.is_err() {
            return;
        }
        let connected = tokio::select! {
            result = connect(&url, tls.as_ref()) => result,
            () = wait_for_shutdown(&mut cmd_rx, &mut held) => return,
        };
        let reason = match connected {
            Ok(socket) => {
                epoch += 1;
                if event_tx.send(NetEvent::Connected { epoch }).await.is_err() {
                    return;
                }
                match pump(
                    socket,
                    epoch,
                    &mut cmd_rx,
                    &event_tx,
                    &mut held,
                    &mut backoff,
                )
                .await
                {
                    SocketEnd::Lost(reason) => reason,
                    SocketEnd::Shutdown => return,
                }
            }
            Err(reason) => reason,
        };
        tracing::info!(%reason, "disconnected");
        let retry_in = if held {
            None
        } else {
            Some(backoff.next_delay(&mut rand::rng()))
        };
        if event_tx
            .send(NetEvent::Disconnected { reason, retry_in })
            .await
            .is_err()
        {
            return;
        }
        if let Some(delay) = retry_in {
            let sleep = tokio::time::sleep(delay);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    () = &mut sleep => break,
                    cmd = cmd_rx.recv() => match cmd {
                        None | Some(NetCommand::Shutdown) => return,
                        Some(NetCommand::Reconnect) => { backoff.reset(); break; }
                        Some(NetCommand::Hold) => { held = true; break; }
                        // No socket: the UI resends what matters after rejoining.
                        Some(NetCommand::Send { .. }) => {}
                    }
                }
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
        Err(_) => Err(format!("no answer within {}s", CONNECT_TIMEOUT.as_secs())),
    }
}

/// Serves commands while a connect is under way; returns only on
/// `Shutdown` (or a closed channel), so otherwise the connect branch wins.
async fn wait_for_shutdown(cmd_rx: &mut mpsc::UnboundedReceiver<NetCommand>, held: &mut bool) {
    loop {
        match cmd_rx.recv().await {
            None | Some(NetCommand::Shutdown) => return,
            Some(NetCommand::Hold) => *held = true,
            // Connecting already; frames for an old socket are dropped.
            Some(NetCommand::Reconnect | NetCommand::Send { .. }) => {}
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

fn connect_error_text(
    e: &tokio_tungstenite::tungstenite::Error,
    tls: Option<&ClientTls>,
) -> String {
    use tokio_tungstenite::tungstenite::Error;
    match e {
        // A failed TLS handshake comes back as an I/O error around rustls's.
        Error::Io(io) => match (tls, io.get_ref().and_then(|e| e.downcast_ref())) {
            (Some(tls), Some(refused)) => tls.describe(refused),
            _ => io.to_string(),
        },
        Error::Http(response) => format!("server answered HTTP {}", response.status()),
        other => other.to_string(),
    }
}

/// Moves frames both ways on one open socket until it ends.
async fn pump(
    mut socket: Socket,
    epoch: u64,
    cmd_rx: &mut mpsc::UnboundedReceiver<NetCommand>,
    event_tx: &mpsc::Sender<NetEvent>,
    held: &mut bool,
    backoff: &mut Backoff,
) -> SocketEnd {
    loop {
        tokio::select! {
            incoming = socket.next() => {
                let message = match incoming {
                    None => return SocketEnd::Lost("connection closed".into()),
                    Some(Err(e)) => return SocketEnd::Lost(e.to_string()),
                    Some(Ok(message)) => message,
                };
                let event = match message {
                    WsMessage::Text(text) => match decode_server(text.as_str()) {
                        Ok(frame) => {
                            if matches!(frame, ServerFrame::Welcome { .. }) {
                                backoff.reset();
                            }
                            NetEvent::Frame(frame)
                        }
                        Err(e) => NetEvent::Undecodable { error: e.to_string() },
                    },
                    WsMessage::Close(close) => {
                        let reason = match close {
                            Some(frame) if frame.reason.is_empty() => {
                                format!("server closed the connection ({})", u16::from(frame.code))
                            }
                            Some(frame) => format!(
                                "server closed the connection ({} {})",
                                u16::from(frame.code),
                                frame.reason.as_str()
                            ),
                            None => "server closed the connection".into(),
                        };
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
                            return SocketEnd::Lost(e.to_string());
                        }
                }
                Some(NetCommand::Hold) => *held = true,
                // Already connected: nothing to do.
                Some(NetCommand::Reconnect) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

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
