//! The floor mode: what the kernel alone charges, on this machine, to
//! deliver one frame per write over loopback TCP, the work a server's
//! fan-out cannot go below when every delivery is its own packet. No
//! server, no WebSocket, no runtime: one thread writes one `bytes`-byte
//! frame per `write()` to N sockets round robin at R frames/s, one thread
//! reads them all through one `epoll` (mio), and each reports its own CPU
//! time (`/proc/thread-self/stat`) over the window, per delivery.
//!
//! The reading side runs in a child process (`chat-bench floor-reader`):
//! N pairs then take N descriptors on each side, as a server and its
//! clients do, and 10,000 pairs fit a hard limit of 20,000 open files.
//! Parent and child talk over the child's stdin and stdout: the child
//! prints [`READY_LINE`] once connected, the parent sends the number of
//! bytes it wrote, the child prints its [`ReaderFigures`] as JSON once it
//! has read them all.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use chat_proto::{Message, ServerFrame, encode};
use mio::{Events, Interest, Poll, Token, Waker};
use serde::{Deserialize, Serialize};

use crate::procfs::{self, CpuTimes};
use crate::report::{FloorReport, WriterFigures};
use crate::wire::{self, Stamp};

/// What the reader prints once all its connections are open.
pub const READY_LINE: &str = "ready";
/// How long one blocked write may wait for the reader before the run fails.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the reader may take, once the writer stopped, to read the rest.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Frames written between two clock readings without a rate.
const MAX_BURST: u64 = 256;
/// The floor listener's accept queue (the kernel caps it at somaxconn).
const ACCEPT_BACKLOG: i32 = 4096;
/// The reader's one buffer: a read takes whatever a socket holds.
const READ_BUFFER_BYTES: usize = 64 * 1024;
/// The reader's events per `epoll_wait`.
const EVENTS_PER_WAIT: usize = 1024;
/// The token of the reader's waker; connections are tokens 0..N.
const WAKE_TOKEN: Token = Token(usize::MAX);

/// One floor run's sizes.
#[derive(Debug, Clone)]
pub struct FloorPlan {
    pub connections: usize,
    /// Frames per second in total; `None` writes as fast as the sockets
    /// take them (a blocked write waits, costing no CPU).
    pub rate: Option<f64>,
    /// Bytes per frame, and so per `write()`.
    pub bytes: usize,
    pub duration: Duration,
    /// Bound on opening all the connections.
    pub setup_timeout: Duration,
}

/// Why a floor run failed.
#[derive(Debug, thiserror::Error)]
pub enum FloorError {
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("reader process: {0}")]
    Reader(String),
    #[error("timed out {0}")]
    Timeout(&'static str),
    #[error("the writer thread panicked")]
    WriterPanicked,
}

fn io_error(what: &'static str) -> impl FnOnce(io::Error) -> FloorError {
    move |source| FloorError::Io { what, source }
}

/// What the reading side measured, as the child prints it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ReaderFigures {
    pub bytes: u64,
    pub user_secs: f64,
    pub system_secs: f64,
    /// From all connected to the last byte read.
    pub secs: f64,
    /// Connections that ended before everything was read.
    pub eof: u64,
}

/// The size of what the server sends per delivery in `fanout` at 10,000
/// clients in 100 rooms: one unmasked WebSocket text frame (a 2-byte
/// header below 126 bytes of payload) holding a `message` with names, ids
/// and a bench stamp of the widths such a run has, and `text_pad` filler.
pub fn fanout_frame_bytes(text_pad: usize) -> usize {
    let stamp = Stamp {
        sender: 42,
        seq: 123,
        sent_nanos: 12_345_678_901,
    };
    let payload = encode(&ServerFrame::Message(Message {
        room: "r0123abcd-42".into(),
        id: 1234,
        user: "b0123abcd-4242".into(),
        text: wire::bench_text(stamp, text_pad),
        ts: 1_764_547_200_000,
        reference: None,
        ..Message::default()
    }));
    payload.len() + websocket_header_len(payload.len())
}

/// RFC 6455's header of an unmasked frame: 2 bytes, +2 for a 16-bit
/// length, +8 for a 64-bit one.
fn websocket_header_len(payload: usize) -> usize {
    match payload {
        0..=125 => 2,
        126..=65_535 => 4,
        _ => 10,
    }
}

/// Runs the writing side here and the reading side in a child process
/// started from `bench_exe`, and reports both.
pub fn run(plan: &FloorPlan, bench_exe: &Path) -> Result<FloorReport, FloorError> {
    let load_average = procfs::load_average().ok();
    let listener = listen_on_loopback().map_err(io_error("binding a loopback listener"))?;
    let addr = listener
        .local_addr()
        .map_err(io_error("reading the listener's address"))?;
    let setup_started = Instant::now();
    let mut reader = ReaderProcess::spawn(bench_exe, addr, plan)?;
    let sockets = accept_all(&listener, plan, &mut reader)?;
    drop(listener);
    let left = plan.setup_timeout.saturating_sub(setup_started.elapsed());
    let ready = reader.line(left, "for the reader to connect")?;
    if ready != READY_LINE {
        return Err(FloorError::Reader(format!(
            "said {ready:?} instead of ready"
        )));
    }
    let setup = setup_started.elapsed();

    let machine_before = procfs::machine().ok();
    let window_started = Instant::now();
    let writer_plan = plan.clone();
    let writer = std::thread::Builder::new()
        .name("floor-writer".into())
        .spawn(move || write_frames(sockets, &writer_plan))
        .map_err(io_error("starting the writer thread"))?;
    let (sockets, written) = writer.join().map_err(|_| FloorError::WriterPanicked)??;
    reader.send_total(written.frames * plan.bytes as u64)?;
    let line = reader.line(DRAIN_TIMEOUT + WRITE_TIMEOUT, "for the reader's figures")?;
    let read: ReaderFigures = serde_json::from_str(&line)
        .map_err(|e| FloorError::Reader(format!("figures {line:?}: {e}")))?;
    let wall = window_started.elapsed();
    let machine_busy_cores = match (machine_before, procfs::machine().ok()) {
        (Some(before), Some(after)) => Some(after.busy_cores_since(&before, wall)),
        _ => None,
    };
    // The writer's sockets close only now, so no reader saw an early EOF.
    drop(sockets);
    reader.finish();
    Ok(FloorReport::new(
        plan,
        setup,
        &written,
        &read,
        machine_busy_cores,
        load_average,
    ))
}

/// A listener on 127.0.0.1 with a long accept queue: with std's 128, the
/// reader's connects outrun a busy machine's accept loop, the kernel drops
/// the SYNs past the queue, and each of those connects waits out a 1 s
/// retransmission (10,000 pairs took 37 s to open that way).
fn listen_on_loopback() -> io::Result<TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
    socket.listen(ACCEPT_BACKLOG)?;
    Ok(socket.into())
}

/// Accepts the reader's `plan.connections` connections, each set up the
/// way the server sets up its sockets (`TCP_NODELAY`), blocking for writes.
fn accept_all(
    listener: &TcpListener,
    plan: &FloorPlan,
    reader: &mut ReaderProcess,
) -> Result<Vec<TcpStream>, FloorError> {
    listener
        .set_nonblocking(true)
        .map_err(io_error("setting up the listener"))?;
    let deadline = Instant::now() + plan.setup_timeout;
    let mut sockets = Vec::with_capacity(plan.connections);
    while sockets.len() < plan.connections {
        match listener.accept() {
            Ok((socket, _)) => {
                socket
                    .set_nonblocking(false)
                    .and_then(|()| socket.set_nodelay(true))
                    .and_then(|()| socket.set_write_timeout(Some(WRITE_TIMEOUT)))
                    .map_err(io_error("setting up an accepted socket"))?;
                sockets.push(socket);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                reader.check_alive()?;
                if Instant::now() >= deadline {
                    return Err(FloorError::Timeout("accepting the reader's connections"));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(io_error("accepting a connection")(e)),
        }
    }
    Ok(sockets)
}

/// The writing thread: one frame per `write()`, sockets in turn, frame k
/// due `k / rate` seconds into the window (late frames are written at
/// once, so the total is the one asked for while the thread keeps up).
/// Returns the sockets, to be closed once the reader has read everything.
fn write_frames(
    mut sockets: Vec<TcpStream>,
    plan: &FloorPlan,
) -> Result<(Vec<TcpStream>, WriterFigures), FloorError> {
    let frame = vec![b'x'; plan.bytes.max(1)];
    let cpu_before = procfs::thread_cpu().map_err(io_error("reading the writer's CPU time"))?;
    let started = Instant::now();
    let mut frames: u64 = 0;
    let mut next = 0;
    loop {
        let elapsed = started.elapsed();
        if elapsed >= plan.duration || sockets.is_empty() {
            break;
        }
        let due = match plan.rate {
            Some(rate) => (elapsed.as_secs_f64() * rate) as u64 + 1,
            None => frames + MAX_BURST,
        };
        while frames < due {
            sockets[next]
                .write_all(&frame)
                .map_err(io_error("writing a frame (is the reader stuck?)"))?;
            next = (next + 1) % sockets.len();
            frames += 1;
        }
        if let Some(rate) = plan.rate {
            let next_due = Duration::from_secs_f64(frames as f64 / rate);
            if let Some(wait) = next_due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait.min(plan.duration));
            }
        }
    }
    let wall = started.elapsed();
    let cpu_after = procfs::thread_cpu().map_err(io_error("reading the writer's CPU time"))?;
    let cpu: CpuTimes = cpu_after.since(&cpu_before);
    Ok((
        sockets,
        WriterFigures {
            frames,
            secs: wall.as_secs_f64(),
            user_secs: cpu.user.as_secs_f64(),
            system_secs: cpu.system.as_secs_f64(),
        },
    ))
}

/// The `floor-reader` child process, killed if dropped before it finished.
struct ReaderProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    lines_rx: mpsc::Receiver<String>,
}

impl ReaderProcess {
    fn spawn(exe: &Path, addr: SocketAddr, plan: &FloorPlan) -> Result<Self, FloorError> {
        let mut child = Command::new(exe)
            .arg("--step-timeout")
            .arg(plan.setup_timeout.as_secs_f64().to_string())
            .arg("floor-reader")
            .args(["--addr", &addr.to_string()])
            .args(["--connections", &plan.connections.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(io_error("starting the reader process"))?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| FloorError::Reader("no stdout".into()))?;
        let (lines_tx, lines_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self {
            child,
            stdin,
            lines_rx,
        })
    }

    /// Fails if the child has already exited.
    fn check_alive(&mut self) -> Result<(), FloorError> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(FloorError::Reader(format!("exited early ({status})"))),
            Err(e) => Err(io_error("checking on the reader process")(e)),
        }
    }

    /// The child's next line of stdout, waiting at most `limit`.
    fn line(&mut self, limit: Duration, waiting: &'static str) -> Result<String, FloorError> {
        match self.lines_rx.recv_timeout(limit) {
            Ok(line) => Ok(line),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(FloorError::Timeout(waiting)),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = self.child.wait().map_err(io_error("reaping the reader"))?;
                Err(FloorError::Reader(format!(
                    "exited ({status}) while {waiting}"
                )))
            }
        }
    }

    fn send_total(&mut self, bytes: u64) -> Result<(), FloorError> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| FloorError::Reader("no stdin".into()))?;
        writeln!(stdin, "{bytes}")
            .and_then(|()| stdin.flush())
            .map_err(io_error("telling the reader what was written"))
    }

    /// Closes its stdin and reaps it: it has printed its figures and exits.
    fn finish(mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

impl Drop for ReaderProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The reading side, run by `chat-bench floor-reader`: connects
/// `connections` sockets to `addr`, prints [`READY_LINE`] on `out`, reads
/// every socket as it becomes readable until it has the number of bytes
/// that arrives as one line on `total_in`, and returns what it measured.
pub fn read_side(
    addr: SocketAddr,
    connections: usize,
    connect_timeout: Duration,
    total_in: impl Read + Send + 'static,
    out: &mut impl Write,
) -> Result<ReaderFigures, FloorError> {
    let mut poll = Poll::new().map_err(io_error("creating an epoll instance"))?;
    let mut streams = Vec::with_capacity(connections);
    for n in 0..connections {
        let stream = TcpStream::connect_timeout(&addr, connect_timeout)
            .map_err(io_error("connecting to the writer"))?;
        stream
            .set_nonblocking(true)
            .map_err(io_error("setting up a reading socket"))?;
        let mut stream = mio::net::TcpStream::from_std(stream);
        poll.registry()
            .register(&mut stream, Token(n), Interest::READABLE)
            .map_err(io_error("registering a reading socket"))?;
        streams.push(stream);
    }
    let waker =
        Arc::new(Waker::new(poll.registry(), WAKE_TOKEN).map_err(io_error("creating a waker"))?);
    // Kept alive here: a waker dropped by the listener thread right after
    // its wake closes its eventfd, and the wake-up can vanish with it.
    let total_rx = spawn_total_listener(total_in, Arc::clone(&waker));
    writeln!(out, "{READY_LINE}")
        .and_then(|()| out.flush())
        .map_err(io_error("saying ready"))?;

    let cpu_before = procfs::thread_cpu().map_err(io_error("reading the reader's CPU time"))?;
    let started = Instant::now();
    let mut reading = Reading::default();
    let mut events = Events::with_capacity(EVENTS_PER_WAIT);
    let mut buffer = vec![0u8; READ_BUFFER_BYTES];
    while !reading.done() {
        let wait = reading
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()));
        if wait == Some(Duration::ZERO) {
            break;
        }
        match poll.poll(&mut events, wait) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_error("waiting for readable sockets")(e)),
        }
        for event in &events {
            if event.token() == WAKE_TOKEN {
                reading.on_total(&total_rx)?;
            } else if let Some(stream) = streams.get_mut(event.token().0) {
                reading.drain(stream, &mut buffer)?;
            }
        }
    }
    let cpu = procfs::thread_cpu()
        .map_err(io_error("reading the reader's CPU time"))?
        .since(&cpu_before);
    drop(waker);
    Ok(ReaderFigures {
        bytes: reading.bytes,
        user_secs: cpu.user.as_secs_f64(),
        system_secs: cpu.system.as_secs_f64(),
        secs: started.elapsed().as_secs_f64(),
        eof: reading.eof,
    })
}

/// Reads the one line with the writer's total and hands it to the reading
/// thread (`None` if the line never comes), waking it.
fn spawn_total_listener(
    total_in: impl Read + Send + 'static,
    waker: Arc<Waker>,
) -> mpsc::Receiver<Option<u64>> {
    let (total_tx, total_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let total = match BufReader::new(total_in).read_line(&mut line) {
            Ok(_) => line.trim().parse::<u64>().ok(),
            Err(_) => None,
        };
        let _ = total_tx.send(total);
        let _ = waker.wake();
    });
    total_rx
}

/// The reading thread's progress.
#[derive(Debug, Default)]
struct Reading {
    bytes: u64,
    /// What the writer wrote, once it has said.
    expected: Option<u64>,
    /// When to give up on the rest, once the total is known.
    deadline: Option<Instant>,
    eof: u64,
}

impl Reading {
    fn done(&self) -> bool {
        self.expected.is_some_and(|total| self.bytes >= total)
    }

    fn on_total(&mut self, total_rx: &mpsc::Receiver<Option<u64>>) -> Result<(), FloorError> {
        match total_rx.try_recv() {
            Ok(Some(total)) => {
                self.expected = Some(total);
                self.deadline = Some(Instant::now() + DRAIN_TIMEOUT);
                Ok(())
            }
            Ok(None) | Err(mpsc::TryRecvError::Disconnected) => Err(FloorError::Reader(
                "stdin ended without the writer's total".into(),
            )),
            Err(mpsc::TryRecvError::Empty) => Ok(()),
        }
    }

    /// Reads a readable socket until it would block (mio reports edges).
    fn drain(
        &mut self,
        stream: &mut mio::net::TcpStream,
        buffer: &mut [u8],
    ) -> Result<(), FloorError> {
        loop {
            match stream.read(buffer) {
                Ok(0) => {
                    self.eof += 1;
                    return Ok(());
                }
                Ok(n) => self.bytes += n as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_error("reading a socket")(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_frame_is_a_fanout_delivery() {
        let bytes = fanout_frame_bytes(0);
        // {"type":"message","room":...,"ts":...} behind a 2-byte header.
        assert!((100..=126).contains(&bytes), "{bytes}");
        // ':' and 10 filler bytes, and the payload passes 125 bytes, so the
        // header takes a 16-bit length.
        assert_eq!(fanout_frame_bytes(10), bytes + 11 + 2);
        assert_eq!(fanout_frame_bytes(200), fanout_frame_bytes(199) + 1);
        assert_eq!(websocket_header_len(125), 2);
        assert_eq!(websocket_header_len(126), 4);
        assert_eq!(websocket_header_len(70_000), 10);
    }

    #[test]
    fn the_reader_reads_until_the_total_it_is_told() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (total_tx, total_rx) = std::os::unix::net::UnixStream::pair().unwrap();
        let reader = std::thread::spawn(move || {
            let mut out = Vec::new();
            let figures = read_side(addr, 3, Duration::from_secs(5), total_rx, &mut out);
            (figures, out)
        });
        let mut sockets: Vec<TcpStream> = (0..3).map(|_| listener.accept().unwrap().0).collect();
        for (n, socket) in sockets.iter_mut().enumerate() {
            socket.write_all(&vec![b'x'; 100 * (n + 1)]).unwrap();
        }
        writeln!(&total_tx, "600").unwrap();
        let (figures, out) = reader.join().unwrap();
        let figures = figures.unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "ready\n");
        assert_eq!(figures.bytes, 600);
        assert_eq!(figures.eof, 0);
        assert!(
            figures.secs > 0.0 && figures.user_secs >= 0.0,
            "{figures:?}"
        );
    }
}
