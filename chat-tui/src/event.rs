//! The event source: one `select!` over terminal input, the network task's
//! channel, a one-second timer and the stop signals (SIGTERM, SIGHUP),
//! turned into [`Action`]s, and [`Events::ready`] for what has already
//! arrived, so a burst of keys is taken whole before the next draw.
//!
//! Terminal input is read on a thread of its own with crossterm's blocking
//! `event::read`, over its level-triggered `/dev/tty` source (the
//! `use-dev-tty` feature), and handed over a channel. Why not crossterm's
//! `EventStream`: its default source reads the terminal 1 KiB per wake-up
//! of an edge-triggered registration, so the rest of a larger burst (an
//! unbracketed paste, `tmux send-keys`) waited for the next key press; and
//! over the `/dev/tty` source the stream hands over one event per thread
//! wake-up, one draw each. Nothing here blocks the runtime: the blocking
//! read has its own thread.
//!
//! While `$EDITOR` has the terminal the reader must not take its keys:
//! [`Events::pause_terminal`] stops it between two reads (it waits for
//! input at most [`READ_WAIT`] at a time, so it notices soon) and
//! [`Events::resume_terminal`] lets it go on.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::mpsc;
use tokio::time::{Interval, MissedTickBehavior};

use crate::action::Action;
use crate::net::NetEvent;

/// How often [`Action::Tick`] fires.
pub const TICK: Duration = Duration::from_secs(1);
/// Terminal events read but not yet taken; the reader thread waits when
/// this many are queued.
const TERMINAL_QUEUE: usize = 8192;
/// The longest the reader waits for input before looking whether it is
/// asked to pause.
pub const READ_WAIT: Duration = Duration::from_millis(200);
/// How long pausing waits for the reader to stop (it may be waiting for
/// room in a full queue); the editor starts anyway after that.
const PAUSE_WAIT: Duration = Duration::from_secs(1);

/// Whether the reader thread reads, is asked to pause, or has paused.
enum GateState {
    Reading,
    /// Pause asked; the reader says it has stopped on this sender.
    PauseAsked(Option<tokio::sync::oneshot::Sender<()>>),
    Paused,
}

/// Shared between [`Events`] and the reader thread.
struct ReaderGate {
    state: Mutex<GateState>,
    changed: Condvar,
}

impl ReaderGate {
    /// Called by the reader between reads: stops while a pause lasts.
    fn wait_while_paused(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            match &mut *state {
                GateState::Reading => return,
                GateState::PauseAsked(ack) => {
                    if let Some(ack) = ack.take() {
                        let _ = ack.send(());
                    }
                    *state = GateState::Paused;
                }
                GateState::Paused => {
                    state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
                }
            }
        }
    }

    fn set(&self, next: GateState) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = next;
        self.changed.notify_all();
    }
}

/// Merges terminal, network and timer events.
pub struct Events {
    terminal_rx: mpsc::Receiver<std::io::Result<Action>>,
    gate: Arc<ReaderGate>,
    net_rx: mpsc::Receiver<NetEvent>,
    /// Set when the network task is gone, so its closed channel is not
    /// polled again (it would be ready forever).
    net_closed: bool,
    tick: Interval,
    terminate: Signal,
    hangup: Signal,
}

/// Why the event source ended.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("terminal input failed: {0}")]
    Terminal(#[from] std::io::Error),
    #[error("terminal input ended")]
    TerminalClosed,
    #[error("cannot listen for signals: {0}")]
    Signals(std::io::Error),
    #[error("cannot start the terminal reader: {0}")]
    Reader(std::io::Error),
}

impl Events {
    /// Must be called inside the runtime (signal handlers register with it).
    pub fn new(net_rx: mpsc::Receiver<NetEvent>) -> Result<Self, EventsError> {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let gate = Arc::new(ReaderGate {
            state: Mutex::new(GateState::Reading),
            changed: Condvar::new(),
        });
        Ok(Self {
            terminal_rx: spawn_terminal_reader(Arc::clone(&gate)).map_err(EventsError::Reader)?,
            gate,
            net_rx,
            net_closed: false,
            tick,
            terminate: signal(SignalKind::terminate()).map_err(EventsError::Signals)?,
            hangup: signal(SignalKind::hangup()).map_err(EventsError::Signals)?,
        })
    }

    /// The next action.
    pub async fn next(&mut self) -> Result<Action, EventsError> {
        loop {
            tokio::select! {
                input = self.terminal_rx.recv() => return terminal_action(input),
                event = self.net_rx.recv(), if !self.net_closed => match event {
                    Some(event) => return Ok(Action::Net(event)),
                    None => self.net_closed = true,
                },
                _ = self.tick.tick() => return Ok(Action::Tick),
                _ = self.terminate.recv() => return Ok(Action::Terminate),
                _ = self.hangup.recv() => return Ok(Action::Terminate),
            }
        }
    }

    /// Stops the terminal reader between two reads, for `$EDITOR`.
    pub async fn pause_terminal(&mut self) {
        let (ack_tx, ack_rx) = tokio::sync::oneshot::channel();
        self.gate.set(GateState::PauseAsked(Some(ack_tx)));
        let _ = tokio::time::timeout(PAUSE_WAIT, ack_rx).await;
    }

    /// Lets the terminal reader go on after [`Events::pause_terminal`].
    pub fn resume_terminal(&mut self) {
        self.gate.set(GateState::Reading);
    }

    /// An action that has already arrived (terminal input already read, a
    /// frame already queued), without waiting for one.
    pub fn ready(&mut self) -> Result<Option<Action>, EventsError> {
        match self.terminal_rx.try_recv() {
            Ok(input) => return terminal_action(Some(input)).map(Some),
            Err(mpsc::error::TryRecvError::Disconnected) => {
                return Err(EventsError::TerminalClosed);
            }
            Err(mpsc::error::TryRecvError::Empty) => {}
        }
        if self.net_closed {
            return Ok(None);
        }
        match self.net_rx.try_recv() {
            Ok(event) => Ok(Some(Action::Net(event))),
            Err(mpsc::error::TryRecvError::Disconnected) => {
                self.net_closed = true;
                Ok(None)
            }
            Err(mpsc::error::TryRecvError::Empty) => Ok(None),
        }
    }
}

fn terminal_action(input: Option<std::io::Result<Action>>) -> Result<Action, EventsError> {
    match input {
        Some(Ok(action)) => Ok(action),
        Some(Err(e)) => Err(EventsError::Terminal(e)),
        None => Err(EventsError::TerminalClosed),
    }
}

/// Starts the thread that reads terminal events as they come and queues
/// the ones the client cares about. It ends when reading fails or the
/// receiver is gone; while blocked in a read it holds crossterm's event
/// reader, so nothing else may ask the terminal a question that needs an
/// answer on the input (such as the cursor position).
fn spawn_terminal_reader(
    gate: Arc<ReaderGate>,
) -> std::io::Result<mpsc::Receiver<std::io::Result<Action>>> {
    let (input_tx, input_rx) = mpsc::channel(TERMINAL_QUEUE);
    std::thread::Builder::new()
        .name("terminal-input".into())
        .spawn(move || {
            loop {
                gate.wait_while_paused();
                let input = match crossterm::event::poll(READ_WAIT) {
                    Ok(false) => continue,
                    Ok(true) => crossterm::event::read(),
                    Err(e) => Err(e),
                };
                let input = match input {
                    Ok(event) => match Action::from_terminal(event) {
                        Some(action) => Ok(action),
                        None => continue,
                    },
                    Err(e) => Err(e),
                };
                let failed = input.is_err();
                if input_tx.blocking_send(input).is_err() || failed {
                    return;
                }
            }
        })?;
    Ok(input_rx)
}
