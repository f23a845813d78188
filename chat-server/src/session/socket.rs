//! A session's socket: reading frames, writing its outbox in batched
//! flushes, keep-alive pings, and the close handshake each [`Ending`]
//! calls for.
//!
//! Most frames leave without the session: whoever queues a frame writes it
//! when the socket takes it (see [`crate::outbox`]). The session writes
//! only what the socket could not take at once, all of it in one vectored
//! write when it drains, and presence that waited for its timer. A write
//! that blocks on a client that does not read gives up at the keep-alive
//! deadline, so such a client is dropped within two ping intervals of its
//! last sign of life, whatever it was sent.

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::time::{Instant, Sleep};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage, Utf8Bytes};

use super::deadline::{FrameDeadline, ReadRefused};
use crate::address_limits::AddressTicket;
use crate::limits::PRESENCE_FLUSH_DELAY;
use crate::outbox::{Drained, Outbox, WireStream};
use crate::shutdown::Shutdown;

/// How long a closing handshake (and the frames still queued before it)
/// may take before the connection is simply dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// A session's WebSocket, over the stream that times each frame.
pub type WsStream = WebSocketStream<FrameDeadline<WireStream>>;

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
    pub(super) fn stream(&mut self) -> &mut FrameDeadline<WireStream> {
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
            outbound.outbox.close();
            return;
        };
        let ws = &mut self.ws;
        let outbox = &outbound.outbox;
        let closing = async move {
            if ending.flushes_queue() {
                // Acknowledge what was already stored (its echo is queued
                // once the receipt resolves): the close frame goes behind
                // it and everything queued.
                settle.await;
            } else {
                outbox.discard_queued();
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
        let closed = tokio::time::timeout(CLOSE_GRACE, closing).await;
        if closed.is_err() && !ending.flushes_queue() {
            // Still not reading after the grace: what is left unread goes.
            outbound.outbox.abort();
        } else {
            outbound.outbox.close();
        }
    }
}

/// Why the session's writer woke up.
pub(super) enum Wake {
    /// The outbox has work for the session: the socket is blocked, or
    /// presence frames wait for their timer.
    Work,
    /// Presence frames waited long enough to share a write.
    FlushPresence,
    Ended(Ending),
}

/// The session's outbound side: its outbox (which most frames leave
/// without the session's help), and what cuts a blocked write short
/// (being kicked as a slow consumer, shutdown).
pub(super) struct Outbound {
    outbox: Outbox,
    shutdown: Shutdown,
    /// The presence timer runs: presence frames wait in the outbox.
    presence_armed: bool,
    presence_flush: Pin<Box<Sleep>>,
}

impl Outbound {
    pub(super) fn new(outbox: Outbox, shutdown: Shutdown) -> Self {
        Self {
            outbox,
            shutdown,
            presence_armed: false,
            presence_flush: Box::pin(tokio::time::sleep(PRESENCE_FLUSH_DELAY)),
        }
    }

    /// Waits for something to write, or for the session to be ended from
    /// outside. Cancel-safe.
    pub(super) async fn wake(&mut self) -> Wake {
        tokio::select! {
            biased;
            _ = self.shutdown.recv() => Wake::Ended(Ending::Shutdown),
            () = self.outbox.kicked() => Wake::Ended(Ending::SlowConsumer),
            () = self.outbox.work() => Wake::Work,
            () = &mut self.presence_flush, if self.presence_armed => Wake::FlushPresence,
        }
    }

    /// Does what [`Outbound::wake`] woke up for; a write still blocked at
    /// `give_up_at` (the keep-alive deadline) ends the session.
    pub(super) async fn serve(&mut self, wake: Wake, give_up_at: Instant) -> Result<(), Ending> {
        match wake {
            Wake::Ended(ending) => Err(ending),
            Wake::FlushPresence => {
                self.presence_armed = false;
                self.drain(give_up_at).await
            }
            Wake::Work if self.outbox.needs_drain() => self.drain(give_up_at).await,
            Wake::Work => {
                if !self.presence_armed && self.outbox.presence_waiting() {
                    self.presence_armed = true;
                    let deadline = Instant::now() + PRESENCE_FLUSH_DELAY;
                    self.presence_flush.as_mut().reset(deadline);
                }
                Ok(())
            }
        }
    }

    /// Writes out everything queued, waiting for a socket that cannot take
    /// it yet; gives up when the connection is kicked or the server shuts
    /// down while the client is not reading.
    async fn drain(&mut self, give_up_at: Instant) -> Result<(), Ending> {
        tokio::select! {
            drained = self.outbox.drain() => match drained {
                Drained::Empty => {
                    self.outbox.trim();
                    Ok(())
                }
                Drained::Failed => Err(Ending::Gone),
            },
            () = self.outbox.kicked() => Err(Ending::SlowConsumer),
            _ = self.shutdown.recv() => Err(Ending::Shutdown),
            () = tokio::time::sleep_until(give_up_at) => Err(Ending::Unresponsive),
        }
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
