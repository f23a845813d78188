//! Fixtures for driving the real `chat-tui` binary: [`TuiProcess`] runs it
//! under a pseudo-terminal and reads its screen through a vt100 emulator,
//! and [`Relay`] gives clients one stable address in front of a server that
//! [`crate::ServerProcess::restart`] moves to a new port.
//!
//! Every wait here is for something on the screen (or the process ending),
//! with a timeout; a timeout fails the test with the screen as it was.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::num::NonZeroU16;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portable_pty::{ChildKiller, CommandBuilder, PtySize, native_pty_system};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout_at};

use crate::process::{Signal, send_signal, workspace_binary};

/// How long a screen may take to show what a test waits for. Generous: a
/// debug build on a loaded two-core machine, and reconnects with backoff.
pub const SCREEN_TIMEOUT: Duration = Duration::from_secs(30);

/// The terminal size every client gets unless a test asks otherwise.
pub const DEFAULT_ROWS: u16 = 30;
pub const DEFAULT_COLS: u16 = 100;

/// How one `chat-tui` is started.
#[derive(Debug, Clone)]
pub struct TuiOptions {
    pub user: String,
    pub server_url: String,
    pub rooms: Vec<String>,
    /// Saved state lives here; reuse it to restart the same client.
    pub state_dir: PathBuf,
    pub rows: u16,
    pub cols: u16,
    /// Extra environment, e.g. `CHAT_PASSWORD`.
    pub env: Vec<(String, String)>,
    /// Flags after the fixture's own, e.g. `--ca-file FILE`.
    pub extra_args: Vec<String>,
}

impl TuiOptions {
    pub fn new(user: &str, server_url: &str, rooms: &[&str], state_dir: &Path) -> Self {
        Self {
            user: user.to_owned(),
            server_url: server_url.to_owned(),
            rooms: rooms.iter().map(|r| (*r).to_owned()).collect(),
            state_dir: state_dir.to_path_buf(),
            rows: DEFAULT_ROWS,
            cols: DEFAULT_COLS,
            env: Vec::new(),
            extra_args: Vec::new(),
        }
    }
}

/// What the emulator sees besides the screen: how often the terminal bell
/// (BEL outside an escape sequence) rang.
#[derive(Debug, Default)]
pub struct Bells {
    pub rung: u64,
}

impl vt100::Callbacks for Bells {
    fn audible_bell(&mut self, _: &mut vt100::Screen) {
        self.rung += 1;
    }
}

/// A `chat-tui` process on a pseudo-terminal.
pub struct TuiProcess {
    name: String,
    screen: Arc<Mutex<vt100::Parser<Bells>>>,
    /// Bumped after every chunk of output, so waits wake up.
    output_rx: watch::Receiver<u64>,
    keys: std::sync::mpsc::Sender<Vec<u8>>,
    killer: Box<dyn ChildKiller + Send + Sync>,
    pid: Option<u32>,
    exit_rx: Option<oneshot::Receiver<portable_pty::ExitStatus>>,
    /// Holds the config directory (empty, so no real config is read).
    _home: tempfile::TempDir,
}

impl TuiProcess {
    /// Starts `chat-tui` with `options` on a fresh pseudo-terminal.
    pub fn spawn(options: &TuiOptions) -> Self {
        let binary = workspace_binary("chat-tui");
        let home = tempfile::Builder::new()
            .prefix("chat-tui-home-")
            .tempdir()
            .expect("a temporary directory can be created");
        let pty = native_pty_system()
            .openpty(PtySize {
                rows: options.rows,
                cols: options.cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("a pseudo-terminal can be opened");
        let mut cmd = CommandBuilder::new(&binary);
        cmd.args(["--user", &options.user, "--server", &options.server_url]);
        for room in &options.rooms {
            cmd.args(["--room", room]);
        }
        cmd.arg("--state-dir");
        cmd.arg(&options.state_dir);
        cmd.arg("--log-file");
        cmd.arg(home.path().join("chat-tui.log"));
        cmd.args(&options.extra_args);
        cmd.env("TERM", "xterm-256color");
        cmd.env("HOME", home.path());
        cmd.env("XDG_CONFIG_HOME", home.path().join("config"));
        cmd.env("XDG_DATA_HOME", home.path().join("data"));
        cmd.env("TZ", "UTC");
        cmd.env_remove("CHAT_PASSWORD");
        for (key, value) in &options.env {
            cmd.env(key, value);
        }
        cmd.cwd(home.path());
        let mut child = pty
            .slave
            .spawn_command(cmd)
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        drop(pty.slave);
        let killer = child.clone_killer();
        let pid = child.process_id();

        let rows = NonZeroU16::new(options.rows).expect("rows > 0");
        let cols = NonZeroU16::new(options.cols).expect("cols > 0");
        let screen = Arc::new(Mutex::new(vt100::Parser::new_with_callbacks(
            rows,
            cols,
            0,
            Bells::default(),
        )));
        let (output_tx, output_rx) = watch::channel(0u64);
        let mut reader = pty
            .master
            .try_clone_reader()
            .expect("the pty master can be read");
        let parser = Arc::clone(&screen);
        // Blocking pty reads stay on their own thread, never on the runtime.
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        parser
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .process(&buf[..n]);
                        output_tx.send_modify(|v| *v += 1);
                    }
                }
            }
        });
        let mut writer = pty
            .master
            .take_writer()
            .expect("the pty master can be written");
        let (keys, keys_rx) = std::sync::mpsc::channel::<Vec<u8>>();
        let master = pty.master;
        std::thread::spawn(move || {
            // Owning the master keeps the terminal open while keys flow.
            let _master = master;
            while let Ok(bytes) = keys_rx.recv() {
                if writer
                    .write_all(&bytes)
                    .and_then(|()| writer.flush())
                    .is_err()
                {
                    break;
                }
            }
        });
        let (exit_tx, exit_rx) = oneshot::channel();
        std::thread::spawn(move || {
            if let Ok(status) = child.wait() {
                let _ = exit_tx.send(status);
            }
        });
        Self {
            name: options.user.clone(),
            screen,
            output_rx,
            keys,
            killer,
            pid,
            exit_rx: Some(exit_rx),
            _home: home,
        }
    }

    /// The screen's text, row by row.
    pub fn screen(&self) -> String {
        self.screen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .screen()
            .contents()
    }

    /// The screen's rows.
    pub fn rows(&self) -> Vec<String> {
        let parser = self.screen.lock().unwrap_or_else(|e| e.into_inner());
        let (_, cols) = parser.screen().size();
        parser.screen().rows(0, cols.get()).collect()
    }

    /// Waits until `check` holds for the screen; fails the test with the
    /// screen after `limit`.
    pub async fn wait_for(&mut self, what: &str, limit: Duration, check: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + limit;
        loop {
            let screen = self.screen();
            if check(&screen) {
                return;
            }
            match timeout_at(deadline, self.output_rx.changed()).await {
                Ok(Ok(())) => {}
                // Output ended (the process exited): one last look.
                Ok(Err(_)) => {
                    let screen = self.screen();
                    assert!(
                        check(&screen),
                        "{}: the client exited before showing {what}\n{}",
                        self.name,
                        framed(&screen)
                    );
                    return;
                }
                Err(_) => panic!(
                    "{}: {what} not on screen within {limit:?}\n{}",
                    self.name,
                    framed(&self.screen())
                ),
            }
        }
    }

    /// Waits until `text` is on the screen.
    pub async fn wait_for_text(&mut self, text: &str) {
        let needle = text.to_owned();
        self.wait_for(&format!("{text:?}"), SCREEN_TIMEOUT, move |s| {
            s.contains(&needle)
        })
        .await;
    }

    /// Waits until `text` is on the screen as a line of `author`'s in the
    /// history, not only typed into the input line.
    pub async fn wait_for_message(&mut self, author: &str, text: &str) {
        let needle = format!("{author} │ {text}");
        self.wait_for(&format!("{needle:?}"), SCREEN_TIMEOUT, move |s| {
            s.contains(&needle)
        })
        .await;
    }

    /// How often the terminal bell rang so far.
    pub fn bells(&self) -> u64 {
        self.screen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .callbacks()
            .rung
    }

    /// Waits until the bell has rung more than `seen` times.
    pub async fn wait_for_bell(&mut self, seen: u64) {
        let deadline = Instant::now() + SCREEN_TIMEOUT;
        while self.bells() <= seen {
            match timeout_at(deadline, self.output_rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => panic!(
                    "{}: the bell did not ring within {SCREEN_TIMEOUT:?}\n{}",
                    self.name,
                    framed(&self.screen())
                ),
            }
        }
    }

    /// How often `text` appears on the screen.
    pub fn count(&self, text: &str) -> usize {
        self.screen().matches(text).count()
    }

    /// Sends raw bytes as if typed.
    pub fn send_bytes(&self, bytes: &[u8]) {
        self.keys
            .send(bytes.to_vec())
            .expect("the key writer thread is running");
    }

    /// Types `text` and presses Enter.
    pub fn type_line(&self, text: &str) {
        self.send_bytes(text.as_bytes());
        self.send_bytes(b"\r");
    }

    /// Presses Ctrl-C.
    pub fn ctrl_c(&self) {
        self.send_bytes(&[0x03]);
    }

    /// Sends SIGTERM, as a session manager or `kill` would.
    pub fn sigterm(&self) {
        let pid = self.pid.expect("the client has a process id");
        assert!(send_signal(pid, Signal::Term), "kill -TERM {pid} failed");
    }

    /// Sends SIGKILL: the client dies at once, saving and restoring nothing.
    pub fn sigkill(&self) {
        let pid = self.pid.expect("the client has a process id");
        assert!(send_signal(pid, Signal::Kill), "kill -KILL {pid} failed");
    }

    /// Waits for the process to exit; fails the test after `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> portable_pty::ExitStatus {
        let exit_rx = self.exit_rx.take().expect("wait_exit is called once");
        match tokio::time::timeout(limit, exit_rx).await {
            Ok(Ok(status)) => status,
            Ok(Err(_)) => panic!("{}: lost track of the process", self.name),
            Err(_) => panic!(
                "{}: still running after {limit:?}\n{}",
                self.name,
                framed(&self.screen())
            ),
        }
    }
}

impl Drop for TuiProcess {
    fn drop(&mut self) {
        if self.exit_rx.is_some() {
            let _ = self.killer.kill();
        }
        if std::thread::panicking() {
            eprintln!("--- {} screen ---\n{}", self.name, framed(&self.screen()));
        }
    }
}

/// The screen between rulers, so trailing blanks are visible in a report.
fn framed(screen: &str) -> String {
    let mut out = String::from("+----\n");
    for line in screen.lines() {
        out.push('|');
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("+----");
    out
}

/// A TCP relay on a fixed local port that forwards every connection to the
/// server's current address. `ServerProcess::restart` brings the server
/// back on a new port, while a client knows one URL: pointed at the relay,
/// the client sees exactly a server going away and coming back at the same
/// address (the relay closes a client's connection when the server's end
/// closes, and refuses connections while the target does not answer).
pub struct Relay {
    addr: SocketAddr,
    target: Arc<Mutex<SocketAddr>>,
    task: JoinHandle<()>,
}

impl Relay {
    /// Starts a relay on `127.0.0.1:0` forwarding to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the relay can listen on a free port");
        let addr = listener.local_addr().expect("the relay has an address");
        let target = Arc::new(Mutex::new(target));
        let current = Arc::clone(&target);
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let to = *current.lock().unwrap_or_else(|e| e.into_inner());
                tokio::spawn(async move {
                    // Target down: dropping the client's socket refuses it.
                    if let Ok(mut server) = TcpStream::connect(to).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Self { addr, target, task }
    }

    /// The URL clients connect to.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Forwards new connections to `target` from now on.
    pub fn point_to(&self, target: SocketAddr) {
        *self.target.lock().unwrap_or_else(|e| e.into_inner()) = target;
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}
