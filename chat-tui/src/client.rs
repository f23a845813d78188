//! The runner: loads saved state, starts the network task and the state
//! saver, owns the terminal, clears it, and loops — draw if something
//! changed, wait for the next action and take every one already waiting,
//! `update`, perform the effects in order (a durable save is waited for
//! before the next effect, so an outbox request is on disk before it is
//! sent). On quit it restores the terminal first, then closes the socket
//! and lets the last save finish.

use std::io::IsTerminal;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use tokio::sync::{mpsc, watch};

use crate::action::coalesce;
use crate::app::{App, Entry, Level, Size};
use crate::config::Settings;
use crate::event::Events;
use crate::keybind::Keymap;
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

/// This installation's `ref` prefix: the saved one, or a new random one
/// (64 bits, so two installations practically never share it) that is
/// saved with the first request.
pub fn ref_prefix(saved: &SavedState) -> String {
    match &saved.ref_prefix {
        Some(prefix) if !prefix.is_empty() => prefix.clone(),
        _ => format!("{:016x}-", rand::random::<u64>()),
    }
}

/// The starting state: saved rooms plus the ones asked for now, and the
/// saved outbox with this installation's `ref` prefix and counter.
pub fn initial_app(settings: &Settings, saved: &SavedState) -> App {
    let prefix = ref_prefix(saved);
    let mut app = App::new(settings.server.clone(), settings.user.as_str(), &prefix);
    app.password = settings.password.clone();
    let asked: Vec<String> = settings
        .rooms
        .iter()
        .map(|r| r.as_str().to_owned())
        .collect();
    app.restore(saved, &asked, asked.first().map(String::as_str));
    app.paste_max_lines = settings.paste_max_lines;
    app.send_typing = settings.send_typing;
    app.notify = settings.notify;
    let (keymap, problems) = Keymap::with_changes(&settings.keys);
    app.keymap = keymap;
    if !problems.is_empty() {
        let entry = Entry::Notice {
            text: format!(
                "Key bindings in the config file ignored: {}.",
                problems.join("; ")
            ),
            ts: 0,
            level: Level::Error,
        };
        match app.current_room_mut() {
            Some(room) => room.entries.push(entry),
            None => app.status_log.push(entry),
        }
    }
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
    let mut app = initial_app(&settings, &saved);
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
    stamp_start_notices(&mut app);

    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (net_tx, net_rx) = mpsc::channel(NET_EVENT_QUEUE);
    let network = tokio::spawn(net::run(
        settings.server.clone(),
        settings.tls.clone(),
        cmd_rx,
        net_tx,
    ));
    let (mut saver, saver_task) = Saver::start(state_file);

    let result = async {
        let mut guard = TerminalGuard::enter().context("cannot set up the terminal")?;
        let size = guard.terminal().size()?;
        app.size = Size {
            width: size.width,
            height: size.height,
        };
        let mut events = Events::new(net_rx)?;
        main_loop(&mut app, guard.terminal(), &mut events, &cmd_tx, &mut saver).await
        // The guard drops here: the terminal is back before we wait below.
    }
    .await;

    let _ = cmd_tx.send(NetCommand::Shutdown);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, network).await;
    drop(saver);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, saver_task).await;
    result
}

async fn main_loop(
    app: &mut App,
    terminal: &mut Term,
    events: &mut Events,
    cmd_tx: &mpsc::UnboundedSender<NetCommand>,
    saver: &mut Saver,
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
        let mut actions: std::collections::VecDeque<_> = coalesce(batch).into();
        while let Some(action) = actions.pop_front() {
            app.now = Instant::now();
            app.now_ms = wall_ms();
            for effect in update(app, action) {
                if let Effect::Edit(text) = effect {
                    // What the editor left is the next thing to apply.
                    let outcome = edit(terminal, events, &text).await?;
                    actions.push_front(crate::action::Action::Edited(outcome));
                } else if perform(app, terminal, effect, cmd_tx, saver).await? == Flow::Quit {
                    return Ok(());
                }
            }
        }
    }
}

/// Gives the terminal to `$EDITOR` on `text` and takes it back; the
/// editor's outcome. The socket and the timers go on meanwhile (frames
/// queue up for the next update).
async fn edit(
    terminal: &mut Term,
    events: &mut Events,
    text: &str,
) -> anyhow::Result<Result<String, String>> {
    let command =
        crate::editor::editor_command(std::env::var("VISUAL").ok(), std::env::var("EDITOR").ok());
    events.pause_terminal().await;
    crate::tui::suspend();
    let outcome = crate::editor::compose(&command, text).await;
    crate::tui::resume().context("cannot take the terminal back from the editor")?;
    events.resume_terminal();
    ui::clear(terminal)?;
    Ok(outcome)
}

/// Notices made before the clock was read (in [`initial_app`]) get the
/// start time.
fn stamp_start_notices(app: &mut App) {
    let now = app.now_ms;
    let entries = app.rooms.iter_mut().flat_map(|r| r.entries.iter_mut());
    for entry in entries.chain(app.status_log.iter_mut()) {
        if let Entry::Notice { ts, .. } = entry
            && *ts == 0
        {
            *ts = now;
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
async fn perform(
    app: &mut App,
    terminal: &mut Term,
    effect: Effect,
    cmd_tx: &mpsc::UnboundedSender<NetCommand>,
    saver: &mut Saver,
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
            saver.save(state);
        }
        Effect::SaveStateDurably(state) => {
            if let Err(error) = saver.save_durably(state).await {
                saver.failed(app, error);
            }
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
        Effect::Notify(notification) => {
            use std::io::Write;
            // Between two draws, so the sequence never lands inside one.
            let out = terminal.backend_mut();
            out.write_all(notification.escape_sequences().as_bytes())?;
            out.flush()?;
        }
        Effect::Quit => return Ok(Flow::Quit),
        // Handled by the main loop, which can wait for the editor.
        Effect::Edit(_) => {}
    }
    Ok(Flow::Continue)
}

/// What the saver did last: the newest generation it handled, and why
/// writing it failed, if it did.
#[derive(Debug, Clone, Default)]
struct SaveReport {
    generation: u64,
    error: Option<String>,
}

/// The runner's handle on the state saver task, the one writer of the
/// state file: a newer state replaces one not yet written, and a durable
/// save waits until the saver has handled that state or a newer one.
struct Saver {
    state_tx: watch::Sender<Option<(u64, SavedState)>>,
    report_rx: watch::Receiver<SaveReport>,
    generation: u64,
    /// The last failure shown, so a full disk is reported once, not per line.
    shown_error: Option<String>,
}

impl Saver {
    fn start(file: StateFile) -> (Self, tokio::task::JoinHandle<()>) {
        let (state_tx, state_rx) = watch::channel(None);
        let (report_tx, report_rx) = watch::channel(SaveReport::default());
        let task = tokio::spawn(save_loop(file, state_rx, report_tx));
        let saver = Self {
            state_tx,
            report_rx,
            generation: 0,
            shown_error: None,
        };
        (saver, task)
    }

    /// Hands the saver a state to write when it can; returns its generation.
    fn save(&mut self, state: SavedState) -> u64 {
        self.generation += 1;
        self.state_tx.send_replace(Some((self.generation, state)));
        self.generation
    }

    /// Writes `state` and waits until it (or a newer state) is on disk.
    async fn save_durably(&mut self, state: SavedState) -> Result<(), String> {
        let generation = self.save(state);
        loop {
            {
                let report = self.report_rx.borrow_and_update();
                if report.generation >= generation {
                    return report.error.clone().map_or(Ok(()), Err);
                }
            }
            if self.report_rx.changed().await.is_err() {
                return Err("the state saver stopped".to_owned());
            }
        }
    }

    /// A durable save failed: the user is told once per reason, since
    /// what they type now would be lost with the client.
    fn failed(&mut self, app: &mut App, error: String) {
        if self.shown_error.as_deref() == Some(error.as_str()) {
            return;
        }
        let entry = Entry::Notice {
            text: format!(
                "Cannot save unsent lines ({error}); they are lost if the client is killed."
            ),
            ts: app.now_ms,
            level: Level::Error,
        };
        match app.current_room_mut() {
            Some(room) => room.entries.push(entry),
            None => app.status_log.push(entry),
        }
        app.needs_redraw = true;
        self.shown_error = Some(error);
    }
}

/// Writes the newest state whenever it changes, off the async thread, one
/// write at a time, and reports each generation it handled; after the
/// sender is dropped, the last value is written.
async fn save_loop(
    file: StateFile,
    mut rx: watch::Receiver<Option<(u64, SavedState)>>,
    report_tx: watch::Sender<SaveReport>,
) {
    let mut written: Option<SavedState> = None;
    loop {
        let changed = rx.changed().await;
        let latest = rx.borrow_and_update().clone();
        if let Some((generation, state)) = latest {
            let mut error = None;
            if written.as_ref() != Some(&state) {
                let target = file.clone();
                let to_write = state.clone();
                match tokio::task::spawn_blocking(move || target.save(&to_write)).await {
                    Ok(Ok(())) => written = Some(state),
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "saving state failed");
                        error = Some(e.to_string());
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "state saver task failed");
                        error = Some(e.to_string());
                    }
                }
            }
            report_tx.send_replace(SaveReport { generation, error });
        }
        if changed.is_err() {
            return;
        }
    }
}
