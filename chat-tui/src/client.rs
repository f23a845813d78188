//! The runner: loads saved state, starts the network task and the state
//! saver, owns the terminal, clears it, and loops — draw if something
//! changed, wait for the next action and take every one already waiting,
//! `update`, perform the effects. On quit it restores
//! the terminal first, then closes the socket and lets the last save finish.

use std::io::IsTerminal;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use tokio::sync::{mpsc, watch};

use crate::action::coalesce;
use crate::app::{App, Entry, Level, Size};
use crate::config::Settings;
use crate::event::Events;
use crate::net::{self, NetCommand};
use crate::state::{SavedState, StateFile};
use crate::tui::{Term, TerminalGuard};
use crate::ui;
use crate::update::{Effect, update};

/// Frames from the network task queue up to this many while the UI is busy
/// (then the network task waits, and the socket applies back-pressure).
const NET_EVENT_QUEUE: usize = 256;
/// How long quitting waits for the socket to close and the state to save.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// At most this many actions are applied between two draws, so a flood of
/// input still shows progress.
const BATCH_MAX: usize = 4096;

/// Runs the client until the user quits.
pub fn run(settings: Settings) -> anyhow::Result<()> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        anyhow::bail!("chat-tui needs a terminal (stdin and stdout must be a tty)");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run_async(settings))
}

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The starting state: saved rooms plus the ones asked for now.
pub fn initial_app(settings: &Settings, saved: &SavedState, ref_prefix: &str) -> App {
    let mut app = App::new(settings.server.clone(), settings.user.as_str(), ref_prefix);
    app.password = settings.password.clone();
    let asked: Vec<String> = settings
        .rooms
        .iter()
        .map(|r| r.as_str().to_owned())
        .collect();
    app.restore(saved, &asked, asked.first().map(String::as_str));
    app
}

async fn run_async(settings: Settings) -> anyhow::Result<()> {
    let state_file = StateFile::new(
        &settings.state_dir,
        &settings.server,
        settings.user.as_str(),
    );
    let (saved, load_problem) = match state_file.load() {
        Ok(saved) => (saved, None),
        Err(e) => (SavedState::default(), Some(e.to_string())),
    };
    let ref_prefix = format!("{:08x}-", rand::random::<u32>());
    let mut app = initial_app(&settings, &saved, &ref_prefix);
    app.now_ms = wall_ms();
    if let Some(problem) = load_problem {
        let entry = Entry::Notice {
            text: format!("Saved state ignored: {problem}"),
            ts: app.now_ms,
            level: Level::Error,
        };
        match app.current_room_mut() {
            Some(room) => room.entries.push(entry),
            None => app.status_log.push(entry),
        }
    }

    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (net_tx, net_rx) = mpsc::channel(NET_EVENT_QUEUE);
    let network = tokio::spawn(net::run(
        settings.server.clone(),
        settings.tls.clone(),
        cmd_rx,
        net_tx,
    ));
    let (save_tx, save_rx) = watch::channel(None);
    let saver = tokio::spawn(save_loop(state_file, save_rx));

    let result = async {
        let mut guard = TerminalGuard::enter().context("cannot set up the terminal")?;
        let size = guard.terminal().size()?;
        app.size = Size {
            width: size.width,
            height: size.height,
        };
        let mut events = Events::new(net_rx)?;
        main_loop(&mut app, guard.terminal(), &mut events, &cmd_tx, &save_tx).await
        // The guard drops here: the terminal is back before we wait below.
    }
    .await;

    let _ = cmd_tx.send(NetCommand::Shutdown);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, network).await;
    drop(save_tx);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, saver).await;
    result
}

async fn main_loop(
    app: &mut App,
    terminal: &mut Term,
    events: &mut Events,
    cmd_tx: &mpsc::UnboundedSender<NetCommand>,
    save_tx: &watch::Sender<Option<SavedState>>,
) -> anyhow::Result<()> {
    // Whatever an earlier program left on the terminal (a client killed
    // without restoring it, say) goes before the first draw.
    ui::clear(terminal)?;
    loop {
        if app.needs_redraw {
            let drawn = ui::render(terminal, app)?;
            app.drawn(drawn);
            app.needs_redraw = false;
        }
        // What arrived together (a burst of keys, a paste without brackets,
        // frames queued while drawing) is applied whole before the next
        // draw: one frame and one edit for it, not one per key.
        let mut batch = vec![events.next().await?];
        while batch.len() < BATCH_MAX {
            match events.ready()? {
                Some(action) => batch.push(action),
                None => break,
            }
        }
        for action in coalesce(batch) {
            app.now = Instant::now();
            app.now_ms = wall_ms();
            for effect in update(app, action) {
                if perform(app, terminal, effect, cmd_tx, save_tx)? == Flow::Quit {
                    return Ok(());
                }
            }
        }
    }
}

/// Whether the main loop goes on.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Quit,
}

/// Carries out one effect of an update.
fn perform(
    app: &mut App,
    terminal: &mut Term,
    effect: Effect,
    cmd_tx: &mpsc::UnboundedSender<NetCommand>,
    save_tx: &watch::Sender<Option<SavedState>>,
) -> anyhow::Result<Flow> {
    match effect {
        Effect::Send(frame) => {
            if let Some(epoch) = app.conn.epoch() {
                // The network task lives as long as the main loop; a failed
                // send means it is already gone and quitting.
                let _ = cmd_tx.send(NetCommand::Send { epoch, frame });
            }
        }
        Effect::SaveState(state) => {
            save_tx.send_replace(Some(state));
        }
        Effect::Reconnect => {
            let _ = cmd_tx.send(NetCommand::Reconnect);
        }
        Effect::HoldConnection => {
            let _ = cmd_tx.send(NetCommand::Hold);
        }
        Effect::ClearScreen => {
            ui::clear(terminal)?;
            app.needs_redraw = true;
        }
        Effect::Quit => return Ok(Flow::Quit),
    }
    Ok(Flow::Continue)
}

/// Writes the newest state whenever it changes, off the async thread, one
/// write at a time; after the sender is dropped, the last value is written.
async fn save_loop(file: StateFile, mut rx: watch::Receiver<Option<SavedState>>) {
    let mut written: Option<SavedState> = None;
    loop {
        let changed = rx.changed().await;
        let latest = rx.borrow_and_update().clone();
        if let Some(state) = latest
            && written.as_ref() != Some(&state)
        {
            let target = file.clone();
            let to_write = state.clone();
            match tokio::task::spawn_blocking(move || target.save(&to_write)).await {
                Ok(Ok(())) => written = Some(state),
                Ok(Err(e)) => tracing::warn!(error = %e, "saving state failed"),
                Err(e) => tracing::warn!(error = %e, "state saver task failed"),
            }
        }
        if changed.is_err() {
            return;
        }
    }
}
