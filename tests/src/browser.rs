//! Real Chromium for the browser-client tests: a chromedriver child on a
//! port it picks, headless sessions each with a fresh profile, a [`Page`]
//! that drives the client through its `data-test` attributes, and two
//! small network helpers: a [`Forwarder`] that keeps one address while the
//! server behind it restarts on another port (and can lose replies and cut
//! connections), and a [`ForeignSite`] that serves a page from a different
//! origin.
//!
//! Every wait is for an event or a condition on the page, with a timeout.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, timeout};

/// How long a browser may take to start, or the page to show what a test
/// waits for. Generous: Chromium on a loaded two-core machine is slow.
pub const PAGE_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a condition on the page is looked at again while waited for.
const POLL_EVERY: Duration = Duration::from_millis(50);
/// Headless Chromium widens smaller windows to this; phones are emulated.
const MIN_WINDOW_WIDTH: u32 = 500;
/// The line chromedriver prints once it listens.
const READY_MARKER: &str = "started successfully on port ";

/// Chromium's flags: headless, no sandbox (tests may run as root), and
/// nothing that reaches outside the machine or updates itself.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
];

/// One browser test at a time: each Chromium takes hundreds of MiB and a
/// core to start, and the machine has two. Held by [`Browser`].
/// Tokio's mutex, which needs no runtime of its own, as each test has one.
static ONE_BROWSER_TEST: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn program(env: &str, default: &str) -> PathBuf {
    std::env::var_os(env).map_or_else(|| PathBuf::from(default), PathBuf::from)
}

/// A running chromedriver, which starts one Chromium per [`Page`].
pub struct Browser {
    driver: Child,
    url: String,
    /// Every profile lives here and goes with it.
    profiles: tempfile::TempDir,
    next_profile: u32,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Browser {
    /// Starts chromedriver (`$CHROMEDRIVER`, default `/usr/bin/chromedriver`)
    /// on a port it picks, once no other browser test is running.
    pub async fn start() -> Self {
        let turn = ONE_BROWSER_TEST.lock().await;
        let binary = program("CHROMEDRIVER", "/usr/bin/chromedriver");
        let mut driver = Command::new(&binary)
            .args(["--port=0", "--allowed-ips=127.0.0.1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            // Its own process group, so Drop can end the Chromiums it
            // started even when a test fails before closing them.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {}: {e} (Debian: apt-get install chromium chromium-driver)",
                    binary.display()
                )
            });
        let stdout = driver.stdout.take().expect("stdout was piped");
        let port = match timeout(PAGE_TIMEOUT, ready_port(stdout)).await {
            Ok(Some(port)) => port,
            Ok(None) => panic!("chromedriver exited before it listened"),
            Err(_) => panic!("chromedriver did not listen within {PAGE_TIMEOUT:?}"),
        };
        Self {
            driver,
            url: format!("http://127.0.0.1:{port}"),
            profiles: tempfile::Builder::new()
                .prefix("chat-e2e-chromium-")
                .tempdir()
                .expect("a temporary directory can be created"),
            next_profile: 0,
            _turn: turn,
        }
    }

    /// A new headless Chromium with a fresh profile and a window of
    /// `width` × `height` CSS pixels.
    pub async fn page(&mut self, width: u32, height: u32) -> Page {
        self.page_with_args(width, height, &[]).await
    }

    /// [`Browser::page`] with more Chromium flags, for example
    /// `--ignore-certificate-errors-spki-list=…` to trust one test
    /// certificate.
    pub async fn page_with_args(&mut self, width: u32, height: u32, extra: &[String]) -> Page {
        self.next_profile += 1;
        let profile = self.profiles.path().join(self.next_profile.to_string());
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| (*a).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        args.push(format!("--window-size={width},{height}"));
        args.extend(extra.iter().cloned());
        let mut options = json!({
            "binary": program("CHROMIUM", "/usr/bin/chromium"),
            "args": args,
        });
        if width < MIN_WINDOW_WIDTH {
            // Narrower than a desktop window can be: emulate the screen.
            options["mobileEmulation"] = json!({
                "deviceMetrics": { "width": width, "height": height, "pixelRatio": 1, "touch": true },
            });
        }
        let mut capabilities = Capabilities::new();
        capabilities.insert("browserName".to_owned(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".to_owned(), options);
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let mut builder = ClientBuilder::new(connector);
        builder.capabilities(capabilities);
        let started = builder.connect(&self.url);
        let client = match timeout(PAGE_TIMEOUT, started).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => panic!("chromedriver could not start Chromium: {e}"),
            Err(_) => panic!("Chromium did not start within {PAGE_TIMEOUT:?}"),
        };
        Page { client }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The whole group: chromedriver and every Chromium it started.
        if let Some(pid) = self.driver.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
    }
}

async fn ready_port(stdout: tokio::process::ChildStdout) -> Option<u16> {
    let mut lines = BufReader::new(stdout).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(rest) = line.split(READY_MARKER).nth(1) {
            let port = rest.trim_end_matches('.').trim().parse().ok();
            // Keep draining so chromedriver never blocks on a full pipe.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return port;
        }
    }
    None
}

/// One message as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub id: u64,
    pub user: String,
    /// The `data-test=text` element's textContent, exactly.
    pub text: String,
}

/// One browser window on the client, driven as a user would.
pub struct Page {
    client: Client,
}

impl Page {
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// Runs a script in the page and returns its value.
    pub async fn eval(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits until `script` returns something other than null/false, and
    /// returns that.
    pub async fn wait_for(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + PAGE_TIMEOUT;
        let mut last = Value::Null;
        while Instant::now() < deadline {
            last = self.eval(script).await;
            if !matches!(last, Value::Null | Value::Bool(false)) {
                return last;
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
        panic!("the page did not show {what} within {PAGE_TIMEOUT:?} (last: {last})");
    }

    /// The element with `data-test=name`, once it is on the page.
    pub async fn control(&self, name: &str) -> fantoccini::elements::Element {
        let css = format!("[data-test=\"{name}\"]");
        match self
            .client
            .wait()
            .at_most(PAGE_TIMEOUT)
            .for_element(Locator::Css(&css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!("no {css} within {PAGE_TIMEOUT:?}: {e}"),
        }
    }

    /// Types into a control as keys (`\u{e007}` is Enter).
    pub async fn type_into(&self, name: &str, keys: &str) {
        self.control(name)
            .await
            .send_keys(keys)
            .await
            .unwrap_or_else(|e| panic!("typing into {name} failed: {e}"));
    }

    /// Opens the client at `base` (`http://HOST:PORT`) and logs in.
    pub async fn login(&self, base: &str, user: &str, password: Option<&str>) {
        self.goto(&format!("{base}/")).await;
        self.type_into("login-name", user).await;
        if let Some(password) = password {
            self.type_into("login-password", password).await;
        }
        self.control("login-submit")
            .await
            .click()
            .await
            .expect("the login button can be clicked");
        self.wait_connected().await;
    }

    /// Waits until the connection state reads `connected`.
    pub async fn wait_connected(&self) {
        self.wait_for(
            "the connection state \"connected\"",
            r#"return document.querySelector('[data-test="connection-state"]').textContent === "connected";"#,
        )
        .await;
    }

    /// The connection state as shown.
    pub async fn connection_state(&self) -> String {
        let state = self
            .eval(r#"return document.querySelector('[data-test="connection-state"]').textContent;"#)
            .await;
        state.as_str().unwrap_or_default().to_owned()
    }

    /// Joins a room by typing its name and Enter, and waits until it is in
    /// the room list and its history has been received.
    pub async fn join(&self, room: &str) {
        self.type_into("join-room", &format!("{room}\u{e007}"))
            .await;
        // The client folds the name as the server does.
        let folded = room.trim_start_matches('#').to_ascii_lowercase();
        self.wait_caught_up(&folded).await;
    }

    /// Waits until `room` is in the room list, on screen, and caught up
    /// with the server.
    pub async fn wait_caught_up(&self, room: &str) {
        let script = format!(
            r#"const list = document.querySelector('[data-test="message-list"]');
               return document.querySelector('[data-test="room-list"] [data-room="{room}"][aria-current="page"]') !== null
                && list.dataset.shownRoom === "{room}" && list.dataset.caughtUp === "true";"#
        );
        self.wait_for(&format!("room {room} shown and caught up"), &script)
            .await;
    }

    /// Types a line and Enter in the message input.
    pub async fn say(&self, text: &str) {
        self.type_into("message-input", &format!("{text}\u{e007}"))
            .await;
    }

    /// Every message the list shows, in order.
    pub async fn messages(&self) -> Vec<Shown> {
        let value = self
            .eval(
                r#"return [...document.querySelectorAll('[data-test="message-list"] [data-id]')].map(e => ({
                    id: Number(e.dataset.id),
                    user: e.querySelector('.user').textContent,
                    text: e.querySelector('[data-test="text"]').textContent,
                }));"#,
            )
            .await;
        value
            .as_array()
            .expect("the script returns an array")
            .iter()
            .map(|m| Shown {
                id: m["id"].as_u64().expect("ids are numbers"),
                user: m["user"].as_str().unwrap_or_default().to_owned(),
                text: m["text"].as_str().unwrap_or_default().to_owned(),
            })
            .collect()
    }

    /// Waits until the list shows a message with exactly `text`, and
    /// returns every message shown then.
    pub async fn wait_message(&self, text: &str) -> Vec<Shown> {
        let deadline = Instant::now() + PAGE_TIMEOUT;
        loop {
            let shown = self.messages().await;
            if shown.iter().any(|m| m.text == text) {
                return shown;
            }
            assert!(
                Instant::now() < deadline,
                "no message {text:?} within {PAGE_TIMEOUT:?}; the page shows {shown:#?}"
            );
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    /// Waits until the list shows `count` messages (and no line still
    /// pending), and returns them.
    pub async fn wait_message_count(&self, count: usize) -> Vec<Shown> {
        let deadline = Instant::now() + PAGE_TIMEOUT;
        loop {
            let shown = self.messages().await;
            let pending = self
                .eval(r#"return document.querySelectorAll('[data-test="message-list"] .pending').length;"#)
                .await;
            if shown.len() == count && pending == json!(0) {
                return shown;
            }
            assert!(
                Instant::now() < deadline,
                "expected {count} messages and none pending within {PAGE_TIMEOUT:?}; \
                 {pending} pending, the page shows {shown:#?}"
            );
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    /// A PNG of the window.
    pub async fn screenshot(&self) -> Vec<u8> {
        self.client
            .screenshot()
            .await
            .expect("Chromium takes a screenshot")
    }

    /// Ends the session and its Chromium.
    pub async fn close(self) {
        let _ = timeout(PAGE_TIMEOUT, self.client.close()).await;
    }
}

/// A fixed address that forwards every TCP connection to a target that
/// can change: the browser keeps its page (its origin includes the port)
/// while the server behind restarts on a new port. It can also swallow
/// what the server sends and cut every connection, to lose an
/// acknowledgement on purpose. All of it stops when this is dropped.
pub struct Forwarder {
    addr: SocketAddr,
    shared: Arc<ForwardState>,
    cut_tx: watch::Sender<u64>,
    task: JoinHandle<()>,
}

struct ForwardState {
    target: Mutex<SocketAddr>,
    /// While set, bytes from the target are read and thrown away.
    swallow_replies: AtomicBool,
}

impl Forwarder {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a forwarding port can be bound");
        let addr = listener.local_addr().expect("the bound address");
        let shared = Arc::new(ForwardState {
            target: Mutex::new(target),
            swallow_replies: AtomicBool::new(false),
        });
        let (cut_tx, cut_rx) = watch::channel(0);
        let state = shared.clone();
        let task = tokio::spawn(async move {
            let mut links = JoinSet::new();
            while let Ok((inbound, _)) = listener.accept().await {
                let to = *state.target.lock().unwrap_or_else(|e| e.into_inner());
                links.spawn(forward(inbound, to, state.clone(), cut_rx.clone()));
                while links.try_join_next().is_some() {}
            }
        });
        Self {
            addr,
            shared,
            cut_tx,
            task,
        }
    }

    /// `http://127.0.0.1:PORT` of the fixed side.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn retarget(&self, target: SocketAddr) {
        *self.shared.target.lock().unwrap_or_else(|e| e.into_inner()) = target;
    }

    /// From now on (or no longer), nothing the target sends gets through.
    pub fn swallow_replies(&self, swallow: bool) {
        self.shared.swallow_replies.store(swallow, Ordering::SeqCst);
    }

    /// Closes every forwarded connection, both sides, as a network
    /// failure would.
    pub fn cut(&self) {
        self.cut_tx.send_modify(|generation| *generation += 1);
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One forwarded connection, until either side closes or it is cut.
async fn forward(
    inbound: TcpStream,
    to: SocketAddr,
    state: Arc<ForwardState>,
    mut cut_rx: watch::Receiver<u64>,
) {
    // A target that is down (restarting) refuses: the inbound side is
    // then closed, as a dead server's is.
    let Ok(outbound) = TcpStream::connect(to).await else {
        return;
    };
    cut_rx.mark_unchanged();
    let (mut from_client, mut to_client) = inbound.into_split();
    let (mut from_target, mut to_target) = outbound.into_split();
    let upstream = tokio::io::copy(&mut from_client, &mut to_target);
    let downstream = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match from_target.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if !state.swallow_replies.load(Ordering::SeqCst)
                        && to_client.write_all(&buf[..n]).await.is_err()
                    {
                        return;
                    }
                }
            }
        }
    };
    tokio::select! {
        _ = upstream => {}
        () = downstream => {}
        _ = cut_rx.changed() => {}
    }
}

/// A plain web site on its own port, so a page there has an origin other
/// than the chat server's. It answers every request with one empty HTML
/// page and no Content-Security-Policy, so scripts there may try anything.
pub struct ForeignSite {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl ForeignSite {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port for the foreign site can be bound");
        let addr = listener.local_addr().expect("the bound address");
        let task = tokio::spawn(async move {
            let mut visits = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                visits.spawn(answer_foreign_visit(stream));
                while visits.try_join_next().is_some() {}
            }
        });
        Self { addr, task }
    }

    /// `http://127.0.0.1:PORT`: the site's origin.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for ForeignSite {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer_foreign_visit(mut stream: TcpStream) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    let read_head = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        true
    };
    if !matches!(timeout(PAGE_TIMEOUT, read_head).await, Ok(true)) {
        return;
    }
    let body = "<!doctype html><title>another site</title><p>another site</p>";
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}
