//! The event source: one `select!` over the terminal's async event stream,
//! the network task's channel, a one-second timer and the stop signals
//! (SIGTERM, SIGHUP), turned into [`Action`]s. Nothing here blocks: crossterm's `EventStream` is polled as
//! a future, never with the blocking `event::poll`.

use std::time::Duration;

use crossterm::event::EventStream;
use futures_util::StreamExt;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::mpsc;
use tokio::time::{Interval, MissedTickBehavior};

use crate::action::Action;
use crate::net::NetEvent;

/// How often [`Action::Tick`] fires.
pub const TICK: Duration = Duration::from_secs(1);

/// Merges terminal, network and timer events.
pub struct Events {
    terminal: EventStream,
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
}

impl Events {
    /// Must be called inside the runtime (signal handlers register with it).
    pub fn new(net_rx: mpsc::Receiver<NetEvent>) -> Result<Self, EventsError> {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        Ok(Self {
            terminal: EventStream::new(),
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
                event = self.terminal.next() => match event {
                    Some(Ok(event)) => {
                        if let Some(action) = Action::from_terminal(event) {
                            return Ok(action);
                        }
                    }
                    Some(Err(e)) => return Err(EventsError::Terminal(e)),
                    None => return Err(EventsError::TerminalClosed),
                },
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
}
