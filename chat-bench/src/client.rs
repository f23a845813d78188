//! Opening one bench connection: TCP, the WebSocket handshake, `hello` as a
//! guest, and `join`, each step bounded by a timeout. The frames of this
//! rare path go through `chat-proto` in full.

use std::time::Duration;

use chat_proto::{ClientFrame, ErrorCode, ServerFrame, decode_server, encode};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tokio_tungstenite::{WebSocketStream, client_async_with_config};

/// A bench connection: plain TCP, since the bench talks to loopback.
pub type Ws = WebSocketStream<TcpStream>;

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `ws://HOST:PORT/PATH`.
    pub url: String,
    /// `HOST:PORT`, taken from the url.
    authority: String,
    /// Bound on each setup step (connect, handshake, welcome, joined).
    pub step_timeout: Duration,
    /// tungstenite's read buffer, allocated up front per connection: small
    /// for ten thousand mostly idle sockets, larger for heavy readers.
    pub read_buffer: usize,
}

impl Endpoint {
    pub fn parse(
        url: &str,
        step_timeout: Duration,
        read_buffer: usize,
    ) -> Result<Self, SetupError> {
        let rest = url
            .strip_prefix("ws://")
            .ok_or_else(|| SetupError::BadUrl(url.to_owned()))?;
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.is_empty() || !authority.contains(':') {
            return Err(SetupError::BadUrl(url.to_owned()));
        }
        Ok(Self {
            url: url.to_owned(),
            authority: authority.to_owned(),
            step_timeout,
            read_buffer,
        })
    }
}

/// Why a connection could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("unsupported url {0:?}: expected ws://HOST:PORT/PATH")]
    BadUrl(String),
    #[error("connect: {0}")]
    Connect(#[from] std::io::Error),
    #[error("websocket: {0}")]
    WebSocket(#[from] tungstenite::Error),
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    #[error("server refused: {}: {message}", code.as_str())]
    Refused { code: ErrorCode, message: String },
    #[error("connection closed during setup")]
    Closed,
    #[error("unexpected frame during setup: {0}")]
    Unexpected(String),
}

impl SetupError {
    /// A short name to tally failures by.
    pub fn kind(&self) -> String {
        match self {
            SetupError::BadUrl(_) => "bad_url".into(),
            SetupError::Connect(_) => "connect".into(),
            SetupError::WebSocket(_) => "websocket".into(),
            SetupError::Timeout(step) => format!("timeout:{step}"),
            SetupError::Refused { code, .. } => code.as_str().into(),
            SetupError::Closed => "closed".into(),
            SetupError::Unexpected(_) => "unexpected".into(),
        }
    }
}

/// What the `joined` reply said that a scenario may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Joined {
    pub last_id: u64,
    pub history: usize,
}

/// Connects and says `hello` as guest `user`.
pub async fn connect(endpoint: &Endpoint, user: &str) -> Result<Ws, SetupError> {
    let tcp = timeout(
        endpoint.step_timeout,
        TcpStream::connect(&endpoint.authority),
    )
    .await
    .map_err(|_| SetupError::Timeout("connect"))??;
    // Each bench frame should leave at once: latency is what is measured.
    tcp.set_nodelay(true)?;
    let config = WebSocketConfig::default().read_buffer_size(endpoint.read_buffer);
    let (mut ws, _response) = timeout(
        endpoint.step_timeout,
        client_async_with_config(endpoint.url.as_str(), tcp, Some(config)),
    )
    .await
    .map_err(|_| SetupError::Timeout("handshake"))??;
    let hello = ClientFrame::Hello {
        user: user.to_owned(),
        password: None,
    };
    ws.send(WsMessage::text(encode(&hello))).await?;
    loop {
        match next_frame(&mut ws, endpoint.step_timeout, "welcome").await? {
            ServerFrame::Welcome { .. } => return Ok(ws),
            other => unexpected(other)?,
        }
    }
}

/// Joins `room` and waits for its `joined` reply, skipping presence frames.
pub async fn join(
    ws: &mut Ws,
    endpoint: &Endpoint,
    room: &str,
    limit: Option<u32>,
) -> Result<Joined, SetupError> {
    let join = ClientFrame::Join {
        room: room.to_owned(),
        since: None,
        limit,
    };
    ws.send(WsMessage::text(encode(&join))).await?;
    loop {
        match next_frame(ws, endpoint.step_timeout, "joined").await? {
            ServerFrame::Joined {
                last_id, history, ..
            } => {
                return Ok(Joined {
                    last_id,
                    history: history.len(),
                });
            }
            other => unexpected(other)?,
        }
    }
}

/// Presence and stray messages may arrive during setup and are skipped;
/// an error frame ends the setup.
fn unexpected(frame: ServerFrame) -> Result<(), SetupError> {
    match frame {
        ServerFrame::Join { .. } | ServerFrame::Leave { .. } | ServerFrame::Message(_) => Ok(()),
        ServerFrame::Error { code, message, .. } => Err(SetupError::Refused { code, message }),
        other => Err(SetupError::Unexpected(encode(&other))),
    }
}

pub async fn next_frame(
    ws: &mut Ws,
    limit: Duration,
    waiting_for: &'static str,
) -> Result<ServerFrame, SetupError> {
    loop {
        let message = timeout(limit, ws.next())
            .await
            .map_err(|_| SetupError::Timeout(waiting_for))?
            .ok_or(SetupError::Closed)??;
        match message {
            WsMessage::Text(text) => {
                return decode_server(text.as_str())
                    .map_err(|e| SetupError::Unexpected(format!("{e}: {}", text.as_str())));
            }
            WsMessage::Close(_) => return Err(SetupError::Closed),
            // tungstenite answers pings itself.
            _ => continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_takes_the_authority_from_the_url() {
        let endpoint =
            Endpoint::parse("ws://127.0.0.1:8000/ws", Duration::from_secs(1), 4096).unwrap();
        assert_eq!(endpoint.authority, "127.0.0.1:8000");
        for bad in ["wss://h:1/ws", "http://h:1/ws", "ws:///ws", "ws://host/ws"] {
            assert!(
                Endpoint::parse(bad, Duration::from_secs(1), 4096).is_err(),
                "{bad}"
            );
        }
    }
}
