//! A session's socket: reading frames, writing its outbox in batched
//! flushes, keep-alive pings, and the close handshake each [`Ending`]
//! calls for.
//!
//! Writes drain whatever has piled up in the outbox into one flush, which
//! saves a syscall (and a packet) per frame when a room is busy. A write
//! that blocks on a client that does not read gives up at the keep-alive
//! deadline, so such a client is dropped within two ping intervals of its
//! last sign of life, whatever it was sent.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage, Utf8Bytes};

use super::deadline::{FrameDeadline, ReadRefused};
use crate::address_limits::AddressTicket;
use crate::limits::{MAX_FRAMES_PER_FLUSH, PRESENCE_FLUSH_DELAY};
use crate::metrics::Metrics;
use crate::registry::{Outgoing, SlowConsumerSignal};
use crate::shutdown::Shutdown;
use crate::tls::Stream;

/// How long a closing handshake (and the frames still queued before it)
/// may take before the connection is simply dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// A session's WebSocket, over the stream that times each frame.
pub type WsStream = WebSocketStream<FrameDeadline<Stream>>;

/// Why a session ended; decides the close frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ending {
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
    /// No hello within the handshake timeout: 1008.
    HelloTimeout,
    /// Stopped answering pings, or reading: 1008.
    Unresponsive,
    /// A frame did not finish within `--frame-timeout`: 1008.
    FrameTimeout,
    /// Its address already has its share of half-finished frames: 1008.
    OverShare,
    /// Broke the WebSocket framing rules: 1002.
    ProtocolError,
    /// A text frame that is not UTF-8: 1007.
    InvalidUtf8,
}

impl Ending {
    /// The close frame's code and reason; `None` when the client is gone.
    fn close_frame(self) -> Option<(CloseCode, &'static str)> {
        Some(match self {
            Ending::Gone => return None,
            Ending::Shutdown => (CloseCode::Away, "server shutting down"),
            Ending::SlowConsumer => (CloseCode::Policy, "too slow: frames were not read in time"),
            Ending::TooBig => (CloseCode::Size, "frame larger than 16 KiB"),
            Ending::Refused => (CloseCode::Policy, "session refused"),
            Ending::HelloTimeout => (CloseCode::Policy, "no hello in time"),
            Ending::Unresponsive => (CloseCode::Policy, "no answer to ping"),
            Ending::FrameTimeout => (CloseCode::Policy, "frame not finished in time"),
            Ending::OverShare => (
                CloseCode::Policy,
                "too many unfinished frames from this address",
            ),
            Ending::ProtocolError => (CloseCode::Protocol, "WebSocket protocol violation"),
            Ending::InvalidUtf8 => (CloseCode::Invalid, "text frame is not UTF-8"),
        })
    }

    /// Why the operator hears of this ending (once per address in a
    /// while), or `None` for the ordinary ones.
    pub(super) fn offence(self) -> Option<&'static str> {
        Some(match self {
            Ending::SlowConsumer => "too slow to read its frames",
            Ending::Unresponsive => "neither reading nor answering pings",
            Ending::FrameTimeout => "a frame took longer than --frame-timeout",
            Ending::OverShare => "its address's share of unfinished frames",
            Ending::ProtocolError => "a WebSocket protocol violation",
            Ending::InvalidUtf8 => "a text frame that is not UTF-8",
            Ending::TooBig => "a frame over the size limit",
            Ending::Gone | Ending::Shutdown | Ending::Refused | Ending::HelloTimeout => {
                return None;
            }
        })
    }

    /// Whether what is queued still goes out before the close frame: not
    /// to a client that is not reading.
    fn flushes_queue(self) -> bool {
        !matches!(self, Ending::SlowConsumer | Ending::Unresponsive)
    }
}

/// What came in from the client.
pub(super) enum Incoming {
    Text(Utf8Bytes),
    Binary,
    /// Answered by the library itself; counted against the rate limit.
    Ping,
    /// Pongs and raw frames: nothing to do but note the client is alive.
    Other,
    Ended(Ending),
}

/// The WebSocket stream of one session.
pub(super) struct Socket {
    ws: WsStream,
    peer: SocketAddr,
}

impl Socket {
    pub(super) fn new(ws: WsStream, peer: SocketAddr) -> Self {
        Self { ws, peer }
    }

    /// The connection's standing with its address's shares.
    pub(super) fn ticket(&self) -> &AddressTicket {
        self.ws.get_ref().ticket()
    }

    /// The stream beneath the WebSocket, which times frames.
    pub(super) fn stream(&mut self) -> &mut FrameDeadline<Stream> {
        self.ws.get_mut()
    }

    /// The next frame from the client. Cancel-safe.
    pub(super) async fn read(&mut self) -> Incoming {
        let next = self.ws.next().await;
        if matches!(next, Some(Ok(_))) {
            self.ws.get_mut().frame_done();
        }
        match next {
            None => Incoming::Ended(Ending::Gone),
            Some(Err(e)) => Incoming::Ended(self.read_failed(e)),
            Some(Ok(WsMessage::Text(text))) => Incoming::Text(text),
            Some(Ok(WsMessage::Binary(_))) => Incoming::Binary,
            Some(Ok(WsMessage::Ping(_))) => Incoming::Ping,
            Some(Ok(WsMessage::Close(_))) => Incoming::Ended(Ending::Gone),
            Some(Ok(WsMessage::Pong(_) | WsMessage::Frame(_))) => Incoming::Other,
        }
    }

    /// The ending a failed read calls for: the RFC 6455 code for what the
    /// client broke, where there is one.
    fn read_failed(&self, error: WsError) -> Ending {
        match error {
            WsError::Capacity(_) => Ending::TooBig,
            WsError::Protocol(_) => Ending::ProtocolError,
            WsError::Utf8(_) => Ending::InvalidUtf8,
            WsError::Io(e) if ReadRefused::of(&e) == Some(ReadRefused::TimedOut) => {
                Ending::FrameTimeout
            }
            WsError::Io(e) if ReadRefused::of(&e) == Some(ReadRefused::OverShare) => {
                Ending::OverShare
            }
            e => {
                tracing::debug!(peer = %self.peer, error = %e, "socket error");
                Ending::Gone
            }
        }
    }

    /// Sends the close frame that fits the ending, after `settle` (the
    /// session's stored messages being acknowledged) and what is queued,
    /// when the ending allows it; all within [`CLOSE_GRACE`].
    pub(super) async fn close(
        &mut self,
        outbound: &mut Outbound,
        ending: Ending,
        settle: impl Future<Output = ()>,
    ) {
        let Some((code, reason)) = ending.close_frame() else {
            // Flushes the reply to a client's own close, if any.
            let _ = tokio::time::timeout(CLOSE_GRACE, self.ws.close(None)).await;
            return;
        };
        let ws = &mut self.ws;
        let frames_rx = &mut outbound.frames_rx;
        let signal = &outbound.signal;
        let closing = async move {
            if ending.flushes_queue() {
                // Acknowledge what was already stored (its echo is queued
                // once the receipt resolves), then send what is queued.
                settle.await;
                while let Ok(queued) = frames_rx.try_recv() {
                    signal.taken(queued.frame.len());
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
}

/// Why the session's writer woke up.
pub(super) enum Wake {
    /// A frame was queued in the outbox.
    Queued(Outgoing),
    /// Presence frames waited long enough to share a write.
    FlushPresence,
    Ended(Ending),
}

/// The session's outbound side: the receiving end of its outbox, and what
/// cuts a write short (being kicked as a slow consumer, shutdown).
pub(super) struct Outbound {
    frames_rx: mpsc::Receiver<Outgoing>,
    signal: Arc<SlowConsumerSignal>,
    shutdown: Shutdown,
    /// Presence frames are buffered in the socket writer but not yet sent.
    unflushed: bool,
    presence_flush: Pin<Box<Sleep>>,
    metrics: Arc<Metrics>,
}

impl Outbound {
    pub(super) fn new(
        frames_rx: mpsc::Receiver<Outgoing>,
        signal: Arc<SlowConsumerSignal>,
        shutdown: Shutdown,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            frames_rx,
            signal,
            shutdown,
            unflushed: false,
            presence_flush: Box::pin(tokio::time::sleep(PRESENCE_FLUSH_DELAY)),
            metrics,
        }
    }

    /// Waits for something to write, or for the session to be ended from
    /// outside. Cancel-safe.
    pub(super) async fn wake(&mut self) -> Wake {
        tokio::select! {
            biased;
            _ = self.shutdown.recv() => Wake::Ended(Ending::Shutdown),
            _ = self.signal.kicked() => Wake::Ended(Ending::SlowConsumer),
            Some(first) = self.frames_rx.recv() => Wake::Queued(first),
            _ = &mut self.presence_flush, if self.unflushed => Wake::FlushPresence,
        }
    }

    /// Does what [`Outbound::wake`] woke up for; a write still blocked at
    /// `give_up_at` (the keep-alive deadline) ends the session.
    pub(super) async fn serve(
        &mut self,
        socket: &mut Socket,
        wake: Wake,
        give_up_at: Instant,
    ) -> Result<(), Ending> {
        match wake {
            Wake::Ended(ending) => Err(ending),
            Wake::FlushPresence => self.flush(socket, give_up_at).await,
            Wake::Queued(first) => {
                let was_unflushed = self.unflushed;
                self.write_queued(socket, first, give_up_at).await?;
                if self.unflushed && !was_unflushed {
                    let deadline = Instant::now() + PRESENCE_FLUSH_DELAY;
                    self.presence_flush.as_mut().reset(deadline);
                }
                Ok(())
            }
        }
    }

    /// Writes `first` and everything else already queued, in one flush,
    /// unless all of it is presence: that waits for the presence timer or
    /// the next urgent frame. Gives up when the connection is kicked or the
    /// server shuts down while the client is not reading.
    async fn write_queued(
        &mut self,
        socket: &mut Socket,
        first: Outgoing,
        give_up_at: Instant,
    ) -> Result<(), Ending> {
        let ws = &mut socket.ws;
        let frames_rx = &mut self.frames_rx;
        let signal = &self.signal;
        let write = async move {
            let mut urgent = first.urgent;
            signal.taken(first.frame.len());
            ws.feed(WsMessage::Text(first.frame)).await?;
            let mut written = 1u64;
            while written < MAX_FRAMES_PER_FLUSH as u64 {
                match frames_rx.try_recv() {
                    Ok(next) => {
                        urgent |= next.urgent;
                        signal.taken(next.frame.len());
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
            () = tokio::time::sleep_until(give_up_at) => return Err(Ending::Unresponsive),
        };
        // An urgent frame flushes everything before it, presence included.
        self.unflushed = !flushed;
        self.metrics
            .frames_out
            .fetch_add(written, Ordering::Relaxed);
        Ok(())
    }

    /// Writes out presence frames that were waiting to share a write.
    async fn flush(&mut self, socket: &mut Socket, give_up_at: Instant) -> Result<(), Ending> {
        let flushed = tokio::select! {
            result = socket.ws.flush() => result.map_err(|_| Ending::Gone),
            _ = self.signal.kicked() => Err(Ending::SlowConsumer),
            _ = self.shutdown.recv() => Err(Ending::Shutdown),
            () = tokio::time::sleep_until(give_up_at) => Err(Ending::Unresponsive),
        };
        self.unflushed = false;
        flushed
    }
}

/// Keep-alive: a ping when the client has been quiet for an interval, and
/// the end of the session when another interval passes without a word,
/// even while a write to it is blocked.
pub(super) struct KeepAlive {
    interval: Duration,
    last_heard: Instant,
    /// When the unanswered ping went out; any frame from the client
    /// answers it.
    ping_sent: Option<Instant>,
    /// The next time to look; set from `last_heard` when it fires, so
    /// hearing from the client costs no timer update.
    next_check: Pin<Box<Sleep>>,
}

impl KeepAlive {
    pub(super) fn new(interval: Duration) -> Self {
        let now = Instant::now();
        Self {
            interval,
            last_heard: now,
            ping_sent: None,
            next_check: Box::pin(tokio::time::sleep_until(now + interval)),
        }
    }

    /// The client sent something: it is alive.
    pub(super) fn heard(&mut self) {
        self.last_heard = Instant::now();
        self.ping_sent = None;
    }

    /// When the client counts as gone if it is still silent (and a write
    /// to it still blocked): two intervals after it was last heard.
    pub(super) fn give_up_at(&self) -> Instant {
        self.ping_sent
            .map_or(self.last_heard + 2 * self.interval, |sent| {
                sent + self.interval
            })
    }

    /// Waits for the next check. Cancel-safe.
    pub(super) async fn tick(&mut self) {
        self.next_check.as_mut().await;
    }

    /// Pings a quiet client, or ends the session of an unresponsive one.
    /// A session the server itself is holding back (`slowed`) is not
    /// being read, so its silence says nothing: it counts as heard.
    pub(super) async fn check(&mut self, socket: &mut Socket, slowed: bool) -> Result<(), Ending> {
        if slowed {
            self.heard();
        }
        let now = Instant::now();
        let next = match self.ping_sent {
            Some(sent) if now >= sent + self.interval => return Err(Ending::Unresponsive),
            Some(sent) => sent + self.interval,
            None if now >= self.last_heard + self.interval => {
                let ping = socket.ws.send(WsMessage::Ping(Default::default()));
                // A client that reads nothing lets the ping block: it gets
                // as long as it would have to answer.
                match tokio::time::timeout_at(now + self.interval, ping).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return Err(Ending::Gone),
                    Err(_) => return Err(Ending::Unresponsive),
                }
                self.ping_sent = Some(now);
                now + self.interval
            }
            None => self.last_heard + self.interval,
        };
        self.next_check.as_mut().reset(next);
        Ok(())
    }
}
