//! One child process of a fixture, written once for the server, PostgreSQL
//! and Redis: spawned with both pipes drained into a log on their own
//! threads, a ready line awaited with a timeout, signals, a bounded reap,
//! and the log printed when the test fails.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};
use tokio::time::timeout;

/// How long a stopped child may take to exit before it is killed, and a
/// child that exited before it was ready to be reaped.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between two looks at a child that was asked to stop, where no
/// runtime is there to wait on (in `Drop`).
const REAP_POLL: Duration = Duration::from_millis(10);

/// The path of a workspace binary built beside the running test executable
/// (`target/<profile>/deps/test-xyz` -> `target/<profile>/<name>`).
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own executable");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executables live in target/<profile>/deps");
    let path = profile_dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build it first (`cargo build -p {name}`, or run `cargo test --workspace`)",
        path.display()
    );
    path
}

/// A signal a test sends to a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Asks for a graceful stop.
    Term,
    /// Ctrl-C in the process's terminal.
    Int,
    /// PostgreSQL's immediate shutdown, as a crash would leave it.
    Quit,
    /// Death without any clean-up.
    Kill,
    /// Freezes the process.
    Stop,
    /// Thaws a frozen process.
    Cont,
    /// Hang-up: what a certificate renewal hook sends the server.
    Hup,
}

impl Signal {
    fn flag(self) -> &'static str {
        match self {
            Self::Term => "-TERM",
            Self::Int => "-INT",
            Self::Quit => "-QUIT",
            Self::Kill => "-KILL",
            Self::Stop => "-STOP",
            Self::Cont => "-CONT",
            Self::Hup => "-HUP",
        }
    }
}

/// Sends `signal` to `pid` with kill(1); `false` when that failed (the
/// process is gone, say).
pub fn send_signal(pid: u32, signal: Signal) -> bool {
    std::process::Command::new("kill")
        .args([signal.flag(), &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Everything a child wrote to stdout and stderr, line by line, shared
/// with the threads that drain its pipes.
#[derive(Debug, Clone)]
pub struct ProcessLog {
    text: Arc<Mutex<String>>,
    /// Bumped after every line, so a test can wait for one to appear.
    lines: Arc<watch::Sender<u64>>,
}

impl Default for ProcessLog {
    fn default() -> Self {
        Self {
            text: Arc::default(),
            lines: Arc::new(watch::channel(0).0),
        }
    }
}

impl ProcessLog {
    /// Appends one line (for the fixture's own notes, such as restarts).
    pub fn push_line(&self, line: &str) {
        let mut log = self.text.lock().unwrap_or_else(|e| e.into_inner());
        log.push_str(line);
        log.push('\n');
        drop(log);
        self.lines.send_modify(|n| *n += 1);
    }

    /// The whole log so far.
    pub fn text(&self) -> String {
        self.text.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// How long the log is now: a mark for [`ProcessLog::wait_for`].
    pub fn mark(&self) -> usize {
        self.text.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Waits until `needle` appears in what was logged after `mark`;
    /// `false` when it has not by `limit`.
    pub async fn wait_for(&self, needle: &str, mark: usize, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        let mut lines_rx = self.lines.subscribe();
        loop {
            let found = {
                let text = self.text.lock().unwrap_or_else(|e| e.into_inner());
                text.get(mark..).is_some_and(|new| new.contains(needle))
            };
            if found {
                return true;
            }
            match tokio::time::timeout_at(deadline, lines_rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return false,
            }
        }
    }
}

/// A child that ended before it printed its ready line.
#[derive(Debug)]
pub struct ExitedEarly {
    /// Its exit status, unless it could not be reaped within
    /// [`STOP_TIMEOUT`].
    pub status: Option<ExitStatus>,
}

/// A fixture's program: at most one running child at a time (a restart
/// launches the next one), and one log across all of them.
pub struct ChildProcess {
    /// Names the program in failure messages and in the log dump.
    label: String,
    log: ProcessLog,
    child: Option<Child>,
}

impl ChildProcess {
    /// A program not started yet, called `label` in reports.
    pub fn new(label: &str) -> Self {
        Self {
            label: label.to_owned(),
            log: ProcessLog::default(),
            child: None,
        }
    }

    /// Renames the program in reports (once its address is known, say).
    pub fn set_label(&mut self, label: String) {
        self.label = label;
    }

    pub fn log(&self) -> &ProcessLog {
        &self.log
    }

    /// The running child's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Starts `command` with its pipes drained into the log, and waits up
    /// to `limit` for a line that `ready` recognises, returning what
    /// `ready` made of it. A child that closes its pipes first is reaped
    /// and reported as [`ExitedEarly`]; one still silent after `limit`
    /// fails the test with the log.
    pub async fn launch<T: Send + 'static>(
        &mut self,
        mut command: Command,
        ready: impl Fn(&str) -> Option<T> + Send + Sync + 'static,
        limit: Duration,
    ) -> Result<T, ExitedEarly> {
        assert!(self.child.is_none(), "{} is already running", self.label);
        let std_command = command.as_std();
        let mut line = format!("--- chat-e2e: {}", std_command.get_program().display());
        for arg in std_command.get_args() {
            line.push(' ');
            line.push_str(&arg.to_string_lossy());
        }
        self.log.push_line(&(line + " ---"));
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.label));
        let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
        let ready = Arc::new(ready);
        if let Some(stdout) = child.stdout.take() {
            let pipe = stdout.into_owned_fd().expect("a pipe converts to a file");
            drain(
                pipe.into(),
                self.log.clone(),
                ready.clone(),
                ready_tx.clone(),
            );
        }
        if let Some(stderr) = child.stderr.take() {
            let pipe = stderr.into_owned_fd().expect("a pipe converts to a file");
            drain(pipe.into(), self.log.clone(), ready, ready_tx);
        }
        match timeout(limit, ready_rx.recv()).await {
            Ok(Some(value)) => {
                self.child = Some(child);
                Ok(value)
            }
            // Both pipes closed without the line: the child has exited.
            Ok(None) => {
                let status = timeout(STOP_TIMEOUT, child.wait()).await;
                Err(ExitedEarly {
                    status: status.ok().and_then(Result::ok),
                })
            }
            Err(_) => {
                let _ = child.start_kill();
                let _ = timeout(STOP_TIMEOUT, child.wait()).await;
                panic!(
                    "{} was not ready within {limit:?}\n--- its log ---\n{}",
                    self.label,
                    self.log.text()
                )
            }
        }
    }

    /// Sends `signal` to the running child, failing the test when it
    /// cannot be delivered.
    pub fn signal(&self, signal: Signal) {
        let pid = self
            .pid()
            .unwrap_or_else(|| panic!("{} is not running", self.label));
        assert!(
            send_signal(pid, signal),
            "kill {} {pid} ({}) failed",
            signal.flag(),
            self.label
        );
    }

    /// Waits for the child to exit, failing the test (with the log) when
    /// it still runs after `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let child = self
            .child
            .as_mut()
            .unwrap_or_else(|| panic!("{} has already been reaped", self.label));
        match timeout(limit, child.wait()).await {
            Ok(Ok(status)) => {
                self.child = None;
                status
            }
            Ok(Err(e)) => panic!("waiting for {} failed: {e}", self.label),
            Err(_) => panic!(
                "{} did not exit within {limit:?}\n--- its log ---\n{}",
                self.label,
                self.log.text()
            ),
        }
    }

    /// Stops the child: `signal` goes to `pid` (the child itself when
    /// `None`, as when the child is only a wrapper around the real
    /// server), then up to [`STOP_TIMEOUT`] for the child to exit before
    /// both are killed. Blocking, so that `Drop` can use it too.
    pub fn stop(&mut self, signal: Signal, pid: Option<u32>) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        match pid.or_else(|| child.id()) {
            Some(pid) => {
                send_signal(pid, signal);
            }
            None => return,
        }
        if reap_within(&mut child, STOP_TIMEOUT) {
            return;
        }
        if let Some(pid) = pid {
            send_signal(pid, Signal::Kill);
        }
        let _ = child.start_kill();
        reap_within(&mut child, STOP_TIMEOUT);
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            // kill_on_drop would do this too; doing it here makes it happen
            // before the fixture's temporary directory is removed.
            let _ = child.start_kill();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- {} log ---\n{}--- end of {} log ---",
                self.label,
                self.log.text(),
                self.label
            );
        }
    }
}

/// Whether `child` exited within `limit`, looked at every [`REAP_POLL`].
fn reap_within(child: &mut Child, limit: Duration) -> bool {
    let deadline = std::time::Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => return true,
            Ok(None) if std::time::Instant::now() >= deadline => return false,
            Ok(None) => std::thread::sleep(REAP_POLL),
        }
    }
}

/// Copies a pipe into `log` line by line on its own thread (so the child
/// never blocks on a full pipe, whatever the test is doing), and sends
/// what `ready` makes of the first line it recognises. The thread drops
/// its sender when the pipe closes, which is how an early exit shows.
fn drain<T: Send + 'static>(
    pipe: std::fs::File,
    log: ProcessLog,
    ready: Arc<impl Fn(&str) -> Option<T> + Send + Sync + 'static>,
    ready_tx: mpsc::UnboundedSender<T>,
) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        let mut seen = false;
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let line = String::from_utf8_lossy(&buf);
            let line = line.trim_end_matches(['\n', '\r']);
            log.push_line(line);
            if !seen && let Some(value) = ready(line) {
                seen = true;
                let _ = ready_tx.send(value);
            }
        }
    });
}

/// Runs `command` to completion with its output captured, failing the test
/// when it cannot start or still runs after `limit`. For programs that are
/// expected to exit on their own (a bad flag, `initdb`, `psql`).
pub async fn run_to_exit(mut command: Command, limit: Duration) -> Output {
    let program = command
        .as_std()
        .get_program()
        .to_string_lossy()
        .into_owned();
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    match timeout(limit, child.wait_with_output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => panic!("waiting for {program} failed: {e}"),
        Err(_) => panic!("{program} was expected to exit but still ran after {limit:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_ready_line_on_either_pipe_is_found_and_the_log_keeps_both() {
        let mut process = ChildProcess::new("sh");
        let mut command = Command::new("sh");
        command.args([
            "-c",
            "echo out-first; echo 'ready on 42' >&2; exec sleep 600",
        ]);
        let port = process
            .launch(
                command,
                |line| line.strip_prefix("ready on ")?.parse::<u16>().ok(),
                Duration::from_secs(10),
            )
            .await
            .expect("the shell prints its ready line");
        assert_eq!(port, 42);
        process.signal(Signal::Term);
        let status = process.wait_exit(Duration::from_secs(10)).await;
        assert!(!status.success(), "a terminated shell: {status}");
        let log = process.log().text();
        assert!(
            log.contains("out-first") && log.contains("ready on 42"),
            "{log}"
        );
        assert!(log.starts_with("--- chat-e2e: sh -c "), "{log}");
    }

    #[tokio::test]
    async fn a_child_that_exits_before_its_ready_line_is_reaped() {
        let mut process = ChildProcess::new("sh");
        let mut command = Command::new("sh");
        command.args(["-c", "echo going; exit 3"]);
        let early = process
            .launch(command, |_| None::<()>, Duration::from_secs(10))
            .await
            .expect_err("the shell exits without a ready line");
        assert_eq!(early.status.and_then(|s| s.code()), Some(3));
        assert!(process.log().text().contains("going"));
        assert_eq!(process.pid(), None);
    }

    #[tokio::test]
    async fn stop_signals_and_reaps() {
        let mut process = ChildProcess::new("sleep");
        let mut command = Command::new("sh");
        command.args(["-c", "echo up; exec sleep 600"]);
        process
            .launch(
                command,
                |line| (line == "up").then_some(()),
                Duration::from_secs(10),
            )
            .await
            .expect("the shell says it is up");
        let pid = process.pid().expect("it runs");
        process.stop(Signal::Term, None);
        assert_eq!(process.pid(), None);
        assert!(!send_signal(pid, Signal::Cont), "{pid} is gone");
    }
}
