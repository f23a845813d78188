//! The single task each bench connection runs once it has joined: one
//! `select!` over the socket, the run's phase and (for rate senders) a send
//! timer. Receiving takes the cheap path of [`crate::wire`]; only rare
//! frames are decoded in full.

use std::collections::VecDeque;
use std::time::Duration;

use chat_proto::{ClientFrame, ServerFrame, decode_server, encode};
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, Interval, MissedTickBehavior, interval_at, timeout};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::client::{Joined, Ws};
use crate::stats::{Clock, ConnStats, LatencyRecorder};
use crate::wire::{self, FrameKind, Stamp};

/// Frames handled per wake-up before the other select! branches get a turn.
const DRAIN_LIMIT: usize = 256;
/// How long a connection spends closing politely at the end of a run.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Where the run is; every connection watches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Connections are still being opened; nothing is sent or counted.
    Setup,
    /// The measured window: senders send, everything is counted.
    Measure,
    /// After an idle hold: probe senders send one message each and every
    /// connection reports the probe messages it receives.
    Probe,
    /// Stop, hand back the counters and close.
    Stop,
}

/// A send timer: every `period`, the first `offset` after the window
/// opens (offsets spread senders over the period).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    pub offset: Duration,
    pub period: Duration,
}

/// What a connection sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Only receives.
    Listener,
    /// Sends one message at each tick of its pace.
    Rate(Pace),
    /// Keeps `window` messages unacknowledged, sending the next as each
    /// acknowledgement (its own copy) arrives; stops after `quota` messages
    /// when one is given.
    Window { window: u32, quota: Option<u64> },
    /// Sends one message when the run enters [`Phase::Probe`].
    Probe,
    /// Sends `join` for its room again and again and times each `joined`
    /// reply (the server answers a connection's frames in order). Without a
    /// `pace` it keeps one `join` in flight; with one it sends on a timer
    /// like [`Role::Rate`]. With `random_since`, each asks for the page after
    /// a random id of the room's history.
    Joiner {
        limit: Option<u32>,
        random_since: bool,
        pace: Option<Pace>,
    },
}

impl Role {
    pub fn sends_messages(self) -> bool {
        matches!(self, Role::Rate(_) | Role::Window { .. } | Role::Probe)
    }
}

/// What every connection of a run shares.
#[derive(Clone)]
pub struct Shared {
    pub clock: Clock,
    pub latency: LatencyRecorder,
    pub phase_rx: watch::Receiver<Phase>,
    /// One `()` per probe message received.
    pub probe_tx: mpsc::UnboundedSender<()>,
    /// One `()` per window sender whose quota is acknowledged.
    pub quota_done_tx: mpsc::UnboundedSender<()>,
    /// Filler bytes appended to each message text.
    pub text_pad: usize,
}

/// A joined connection and what it is to do.
pub struct Driver {
    ws: Ws,
    /// The connection's index in the run, written into its message texts.
    index: u32,
    room: String,
    role: Role,
    joined: Joined,
    shared: Shared,
    stats: ConnStats,
    phase: Phase,
    seq: u64,
    in_flight: u32,
    /// Acknowledgements came in since the window was last topped up.
    refill_due: bool,
    /// When each unanswered `join` of a [`Role::Joiner`] was sent (run nanos).
    joins_sent: VecDeque<u64>,
}

/// The connection ended early; the reason is already counted.
struct Ended;

impl Driver {
    pub fn new(
        ws: Ws,
        index: u32,
        room: String,
        role: Role,
        joined: Joined,
        shared: Shared,
    ) -> Self {
        let phase = *shared.phase_rx.borrow();
        Self {
            ws,
            index,
            room,
            role,
            joined,
            shared,
            stats: ConnStats::for_opened(),
            phase,
            seq: 0,
            in_flight: 0,
            refill_due: false,
            joins_sent: VecDeque::new(),
        }
    }

    /// Runs until the run stops or the connection fails; returns the counts.
    pub async fn run(mut self) -> ConnStats {
        let mut ticker: Option<Interval> = None;
        let mut phase_rx = self.shared.phase_rx.clone();
        // A connection that joined after the run moved on starts there.
        let current = *phase_rx.borrow_and_update();
        let outcome: Result<(), Ended> = async {
            if current == Phase::Stop {
                return Ok(());
            }
            if current != Phase::Setup {
                self.enter(current, &mut ticker).await?;
            }
            // One phase future lives across loop turns instead of a new
            // `changed()` registration per received frame.
            let mut next_phase = Box::pin(phase_change(phase_rx));
            loop {
                tokio::select! {
                    // A fixed order spares select!'s random draw per frame;
                    // the phase and the timer come first, as polling them
                    // while idle is cheap and a busy socket must not starve
                    // them.
                    biased;
                    (next, rx) = &mut next_phase => {
                        if next == Phase::Stop {
                            return Ok(());
                        }
                        if next != self.phase {
                            self.enter(next, &mut ticker).await?;
                        }
                        next_phase = Box::pin(phase_change(rx));
                    }
                    () = tick(&mut ticker) => self.on_tick().await?,
                    frame = self.ws.next() => {
                        self.on_ws(frame).await?;
                        self.drain_ready().await?;
                    }
                }
            }
        }
        .await;
        self.stats.flush(&self.shared.latency);
        if let Ok(()) = outcome {
            // Best effort: the server may already be gone.
            let _ = timeout(CLOSE_GRACE, self.ws.close(None)).await;
        }
        self.stats
    }

    async fn enter(&mut self, phase: Phase, ticker: &mut Option<Interval>) -> Result<(), Ended> {
        self.phase = phase;
        match (phase, self.role) {
            (Phase::Measure, Role::Rate(pace))
            | (
                Phase::Measure,
                Role::Joiner {
                    pace: Some(pace), ..
                },
            ) => {
                let mut timer = interval_at(Instant::now() + pace.offset, pace.period);
                // Catch up after a stall so the total rate is the one asked for.
                timer.set_missed_tick_behavior(MissedTickBehavior::Burst);
                *ticker = Some(timer);
            }
            (Phase::Measure, Role::Window { .. }) => self.refill().await?,
            (Phase::Measure, Role::Joiner { pace: None, .. }) => self.send_join().await?,
            (Phase::Probe, Role::Probe) => self.send_message().await?,
            _ => {}
        }
        Ok(())
    }

    fn counting(&self) -> bool {
        matches!(self.phase, Phase::Measure | Phase::Probe)
    }

    async fn on_ws(
        &mut self,
        frame: Option<Result<WsMessage, tokio_tungstenite::tungstenite::Error>>,
    ) -> Result<(), Ended> {
        match frame {
            Some(Ok(WsMessage::Text(text))) => self.on_text(text.as_str()).await,
            Some(Ok(WsMessage::Close(close))) => {
                let code = close.map_or(1005, |c| u16::from(c.code));
                self.stats.error(format!("close:{code}"));
                Err(Ended)
            }
            Some(Ok(WsMessage::Binary(_))) => {
                self.stats.error("binary_frame");
                Ok(())
            }
            // Pings are answered by tungstenite; pongs need nothing.
            Some(Ok(_)) => Ok(()),
            Some(Err(_)) => {
                self.stats.error("read");
                Err(Ended)
            }
            None => {
                self.stats.error("eof");
                Err(Ended)
            }
        }
    }

    async fn on_text(&mut self, frame: &str) -> Result<(), Ended> {
        match wire::classify(frame) {
            FrameKind::Message => {
                if !self.counting() {
                    return Ok(());
                }
                self.stats.deliveries += 1;
                if let Some(stamp) = wire::find_stamp(frame) {
                    let now = self.shared.clock.nanos();
                    let latency = Duration::from_nanos(now.saturating_sub(stamp.sent_nanos));
                    self.stats.latency(&self.shared.latency, latency);
                }
                if self.phase == Phase::Probe {
                    // The receiver of the probe count is gone only when the
                    // run is over, and then nobody needs the count.
                    let _ = self.shared.probe_tx.send(());
                }
                if self.role.sends_messages() && wire::is_own_copy(frame) {
                    self.stats.acks += 1;
                    self.in_flight = self.in_flight.saturating_sub(1);
                    self.after_ack();
                }
                Ok(())
            }
            FrameKind::Presence => {
                self.stats.presence += 1;
                Ok(())
            }
            FrameKind::Joined => {
                let Some(sent) = self.joins_sent.pop_front() else {
                    return Ok(());
                };
                if self.counting() {
                    let now = self.shared.clock.nanos();
                    self.stats.deliveries += 1;
                    self.stats.latency(
                        &self.shared.latency,
                        Duration::from_nanos(now.saturating_sub(sent)),
                    );
                    self.join_again().await?;
                }
                Ok(())
            }
            FrameKind::Other => self.on_rare(frame).await,
        }
    }

    /// The slow path: a full decode for the frames that are not deliveries.
    async fn on_rare(&mut self, frame: &str) -> Result<(), Ended> {
        match decode_server(frame) {
            Ok(ServerFrame::Error {
                code, reference, ..
            }) => {
                self.stats.error(code.as_str());
                if !self.counting() {
                    return Ok(());
                }
                match self.role {
                    // The refused message will never be acknowledged.
                    Role::Window { .. } if reference.is_some() => {
                        self.in_flight = self.in_flight.saturating_sub(1);
                        self.refill_due = true;
                        Ok(())
                    }
                    Role::Joiner { .. } if self.joins_sent.pop_front().is_some() => {
                        self.join_again().await
                    }
                    _ => Ok(()),
                }
            }
            // A message or presence frame the fast path did not recognise
            // (another encoder's field order): count it the same way.
            Ok(ServerFrame::Message(message)) => {
                if self.counting() {
                    self.stats.deliveries += 1;
                    if message.reference.is_some() && self.role.sends_messages() {
                        self.stats.acks += 1;
                        self.in_flight = self.in_flight.saturating_sub(1);
                        self.after_ack();
                    }
                }
                Ok(())
            }
            Ok(ServerFrame::Join { .. } | ServerFrame::Leave { .. }) => {
                self.stats.presence += 1;
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(_) => {
                self.stats.error("undecodable_frame");
                Ok(())
            }
        }
    }

    /// Handles the frames that are already readable, then tops the window
    /// up once: acknowledgements arrive in bursts (the server flushes what
    /// piled up), and one write for the burst beats one write per ack.
    async fn drain_ready(&mut self) -> Result<(), Ended> {
        for _ in 0..DRAIN_LIMIT {
            match self.ws.next().now_or_never() {
                Some(frame) => self.on_ws(frame).await?,
                None => break,
            }
        }
        if self.refill_due {
            self.refill().await?;
        }
        Ok(())
    }

    fn after_ack(&mut self) {
        if let Role::Window { quota, .. } = self.role {
            if quota == Some(self.stats.acks) {
                let _ = self.shared.quota_done_tx.send(());
            }
            self.refill_due = true;
        }
    }

    /// Tops a window sender up to its window, within its quota.
    async fn refill(&mut self) -> Result<(), Ended> {
        self.refill_due = false;
        let Role::Window { window, quota } = self.role else {
            return Ok(());
        };
        if self.phase != Phase::Measure {
            return Ok(());
        }
        let quota = quota.unwrap_or(u64::MAX);
        let mut queued = 0u32;
        while self.in_flight < window && self.seq < quota {
            let frame = self.next_message();
            // Queue the whole top-up, then write it at once.
            if self.ws.feed(WsMessage::text(frame)).await.is_err() {
                self.stats.error("write");
                return Err(Ended);
            }
            self.in_flight += 1;
            queued += 1;
        }
        if queued > 0 {
            self.stats.frames_sent += u64::from(queued);
            if self.ws.flush().await.is_err() {
                self.stats.error("write");
                return Err(Ended);
            }
        }
        Ok(())
    }

    async fn send_message(&mut self) -> Result<(), Ended> {
        let frame = self.next_message();
        self.write(frame).await
    }

    fn next_message(&mut self) -> String {
        self.seq += 1;
        let stamp = Stamp {
            sender: self.index,
            seq: self.seq,
            sent_nanos: self.shared.clock.nanos(),
        };
        encode(&ClientFrame::Message {
            room: self.room.clone(),
            text: wire::bench_text(stamp, self.shared.text_pad),
            reference: Some(self.seq.to_string()),
            reply_to: None,
            action: false,
        })
    }

    async fn on_tick(&mut self) -> Result<(), Ended> {
        match self.role {
            Role::Joiner { .. } => self.send_join().await,
            _ => self.send_message().await,
        }
    }

    /// A closed-loop joiner sends its next `join` when a reply comes in.
    async fn join_again(&mut self) -> Result<(), Ended> {
        match self.role {
            Role::Joiner { pace: None, .. } => self.send_join().await,
            _ => Ok(()),
        }
    }

    async fn send_join(&mut self) -> Result<(), Ended> {
        let Role::Joiner {
            limit,
            random_since,
            ..
        } = self.role
        else {
            return Ok(());
        };
        let since = (random_since && self.joined.last_id > 0)
            .then(|| rand::random_range(0..self.joined.last_id));
        let frame = encode(&ClientFrame::Join {
            room: self.room.clone(),
            since,
            limit,
        });
        self.joins_sent.push_back(self.shared.clock.nanos());
        self.write(frame).await
    }

    async fn write(&mut self, frame: String) -> Result<(), Ended> {
        match self.ws.send(WsMessage::text(frame)).await {
            Ok(()) => {
                self.stats.frames_sent += 1;
                Ok(())
            }
            Err(_) => {
                self.stats.error("write");
                Err(Ended)
            }
        }
    }
}

/// Waits for the run's next phase; a dropped sender means stop.
async fn phase_change(mut phase_rx: watch::Receiver<Phase>) -> (Phase, watch::Receiver<Phase>) {
    let phase = match phase_rx.changed().await {
        Ok(()) => *phase_rx.borrow_and_update(),
        Err(_) => Phase::Stop,
    };
    (phase, phase_rx)
}

/// Waits for the next tick of an optional timer; never fires without one.
async fn tick(ticker: &mut Option<Interval>) {
    match ticker {
        Some(timer) => {
            timer.tick().await;
        }
        None => std::future::pending().await,
    }
}
