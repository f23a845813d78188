//! A connection's outbox and the one path every byte to its client takes:
//! WebSocket-framed [`Frame`]s (encoded once, shared by every recipient)
//! queued in order and written to the socket by whoever queues them.
//!
//! Server frames are unmasked, so a frame's bytes (header and payload) are
//! the same for every member of a room: they are framed once and written
//! as they are. A frame queued while the queue is empty and the socket can
//! take it is written at once by the thread that queued it (the fan-out,
//! another session, the session itself): no task is woken for it. Only
//! when the socket takes less than offered is the session woken, once, to
//! wait for the socket and write the rest ([`Outbox::drain`]). Presence
//! frames may wait in the queue for the session's presence timer, or the
//! next urgent frame, so a burst of joins shares one write.
//!
//! The WebSocket library's own writes (pongs, pings, close frames) go
//! through [`WireStream`] into the same queue, whole, so they never land
//! inside a frame that is half written. Every write happens under the
//! queue's lock, from its head: the client gets the bytes in queue order.
//!
//! The queue is bounded in frames and in bytes not yet taken by the
//! socket: past either, the connection is a slow consumer and is kicked.
//!
//! Over TLS the bytes must be encrypted, in order, by the one TLS session
//! of the connection's [`Stream`], whose writes need the writer's waker:
//! there every frame takes the queued path, and the session writes it
//! through the stream (the same stream its reads come from). Plain
//! connections keep the direct writes.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};
use std::{fmt, mem};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use chat_proto::{ServerFrame, encode};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use crate::limits::MAX_FRAMES_PER_WRITE;
use crate::metrics::Metrics;
use crate::sync::lock;
use crate::tls::Stream;

/// A WebSocket text frame, header and payload, ready to be written as it
/// is; cheap to clone (shared bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame(Bytes);

/// The longest header a frame can have (a 64-bit length).
const MAX_HEADER: usize = 10;
/// Room first reserved for a frame encoded in place: a chat message fits.
const ENCODE_CAPACITY: usize = 512;
/// Slots an empty queue may keep: past this, [`Outbox::trim`] gives its
/// room back (40 bytes a slot).
const KEPT_SLOTS: usize = 4;

/// The header of one final, unmasked text frame of `len` payload bytes:
/// the bytes, and how many of them are used.
fn header(len: usize) -> ([u8; MAX_HEADER], usize) {
    let mut header = BytesMut::with_capacity(MAX_HEADER);
    header.put_u8(0x81); // FIN, opcode 1 (text)
    if len < 126 {
        header.put_u8(len as u8);
    } else if let Ok(short) = u16::try_from(len) {
        header.put_u8(126);
        header.put_u16(short);
    } else {
        header.put_u8(127);
        header.put_u64(len as u64);
    }
    let mut bytes = [0; MAX_HEADER];
    bytes[..header.len()].copy_from_slice(&header);
    (bytes, header.len())
}

impl Frame {
    /// Frames `payload` as one final, unmasked text frame.
    pub fn text(payload: &str) -> Self {
        let (header, used) = header(payload.len());
        let mut framed = BytesMut::with_capacity(used + payload.len());
        framed.put_slice(&header[..used]);
        framed.put_slice(payload.as_bytes());
        Self(framed.freeze())
    }

    /// Encodes `server_frame` straight into the frame's buffer, behind room
    /// for the longest header, then writes its header just before the
    /// payload: no text to copy afterwards. The bytes are those of
    /// `Frame::text(&encode(server_frame))`.
    fn encoded(server_frame: &ServerFrame) -> Self {
        let mut framed = Vec::with_capacity(ENCODE_CAPACITY);
        framed.resize(MAX_HEADER, 0);
        if serde_json::to_writer(&mut framed, server_frame).is_err() {
            // Protocol frames always serialize (`encode` relies on it);
            // `encode` reports it if one ever did not.
            return Self::text(&encode(server_frame));
        }
        let (header, used) = header(framed.len() - MAX_HEADER);
        let start = MAX_HEADER - used;
        framed[start..MAX_HEADER].copy_from_slice(&header[..used]);
        let mut bytes = Bytes::from(framed);
        bytes.advance(start);
        Self(bytes)
    }

    /// Bytes on the wire, header included.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The frame's text, without its header.
    pub fn payload(&self) -> &str {
        let header = match self.0.get(1) {
            Some(126) => 4,
            Some(127) => 10,
            _ => 2,
        };
        std::str::from_utf8(self.0.get(header..).unwrap_or_default()).unwrap_or_default()
    }
}

/// Encodes a server frame once, for sharing among recipients.
pub fn frame(server_frame: &ServerFrame) -> Frame {
    Frame::encoded(server_frame)
}

/// What a queued piece of bytes is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A frame to write at once.
    Urgent,
    /// A frame to write at the next flush (one committed batch's).
    Unflushed,
    /// A presence frame, which may wait to share a write.
    Presence,
    /// The WebSocket library's own bytes (pong, ping, close): not counted
    /// as a frame out.
    Control,
}

/// A frame (or control bytes) waiting for the socket.
#[derive(Debug)]
struct Queued {
    bytes: Bytes,
    kind: Kind,
}

#[derive(Debug, Default)]
struct Queue {
    items: VecDeque<Queued>,
    /// Bytes of the head item already written.
    head_written: usize,
    /// Bytes queued and not yet taken by the socket.
    bytes: usize,
    /// Something queued must go now (not only presence).
    urgent: bool,
    /// Frames wait for [`Outbox::flush`].
    unflushed: bool,
    /// The socket took less than offered: the session is waiting for it
    /// to drain, and everyone else only queues.
    blocked: bool,
    /// A write failed, or the session ended: nothing more is taken.
    closed: bool,
}

/// The connection an outbox writes to.
enum Wire {
    /// Plain TCP: read and written through a shared reference, so any
    /// thread that queues a frame can write it with `try_write`.
    Plain(TcpStream),
    /// TLS (or its handshake): read and written only by the session's
    /// task, through the stream, with that task's waker. The lock is
    /// never contended; it lets the reads and the queue's writes share
    /// the one TLS session.
    Tls(Mutex<Stream>),
}

impl fmt::Debug for Wire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Plain(socket) => f.debug_tuple("Plain").field(socket).finish(),
            Self::Tls(_) => f.write_str("Tls"),
        }
    }
}

/// The state behind every clone of an [`Outbox`].
#[derive(Debug)]
struct Shared {
    queue: Mutex<Queue>,
    /// `None` for an outbox with no socket (unit tests): frames only queue.
    socket: Option<Wire>,
    /// Past this many queued frames the connection is a slow consumer.
    frame_cap: usize,
    /// Past this many queued bytes the connection is a slow consumer.
    byte_cap: usize,
    kicked: AtomicBool,
    kick: Notify,
    /// Tells the session there is work for it: the socket is blocked, or
    /// presence waits for its timer.
    work: Notify,
    metrics: Option<Arc<Metrics>>,
}

/// The sending side of a connection: cheap to clone, shared by the room
/// registry, the session's replies and its socket.
#[derive(Debug, Clone)]
pub struct Outbox {
    shared: Arc<Shared>,
}

/// What [`Outbox::drain`] and the queue's writes can end with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// Everything queued has been written.
    Empty,
    /// The socket failed or the outbox was closed.
    Failed,
}

impl Outbox {
    /// An outbox with no socket, holding at most `capacity` frames: what
    /// is pushed stays queued until [`Outbox::take_queued`].
    pub fn new(capacity: usize) -> Self {
        Self::build(None, capacity, usize::MAX, None)
    }

    /// The outbox of `socket`, holding at most `capacity` frames and, past
    /// one frame, about `byte_cap` bytes: a frame is refused once what is
    /// queued already exceeds `byte_cap`, so one reply larger than the cap
    /// still goes out to a client that reads.
    pub fn bounded(
        socket: Stream,
        capacity: usize,
        byte_cap: usize,
        metrics: Arc<Metrics>,
    ) -> Self {
        let wire = match socket {
            Stream::Plain(socket) => Wire::Plain(socket),
            tls => Wire::Tls(Mutex::new(tls)),
        };
        Self::build(Some(wire), capacity, byte_cap, Some(metrics))
    }

    fn build(
        socket: Option<Wire>,
        capacity: usize,
        byte_cap: usize,
        metrics: Option<Arc<Metrics>>,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                queue: Mutex::new(Queue::default()),
                socket,
                frame_cap: capacity.max(1),
                byte_cap,
                kicked: AtomicBool::new(false),
                kick: Notify::new(),
                work: Notify::new(),
                metrics,
            }),
        }
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        lock(&self.shared.queue)
    }

    /// Gives back, once the queue is empty, the room a burst grew it to
    /// (a join's presence, a batch while the socket was blocked): an idle
    /// connection would otherwise keep its largest queue for its life.
    /// Called by the session when it has drained, not on the fan-out's
    /// path, where a queue that grows and empties at every batch would
    /// pay for growing it again each time.
    pub fn trim(&self) {
        let mut queue = self.queue();
        if queue.items.is_empty() && queue.items.capacity() > KEPT_SLOTS {
            queue.items = VecDeque::new();
        }
    }

    /// Queues a frame to be written at once (written here if the socket
    /// takes it); returns whether it was taken.
    pub fn push(&self, frame: Frame) -> bool {
        self.enqueue(frame.0, Kind::Urgent)
    }

    /// Queues a presence frame, which may wait to share a write.
    pub fn push_presence(&self, frame: Frame) -> bool {
        self.enqueue(frame.0, Kind::Presence)
    }

    /// Queues a frame to be written at the next [`Outbox::flush`], so the
    /// frames of one committed batch share a write.
    pub fn push_unflushed(&self, frame: Frame) -> bool {
        self.enqueue(frame.0, Kind::Unflushed)
    }

    /// Writes what [`Outbox::push_unflushed`] queued (and what waits
    /// before it), if the socket takes it; otherwise the session will.
    pub fn flush(&self) {
        let mut queue = self.queue();
        if queue.unflushed && !queue.blocked && !queue.closed {
            queue.unflushed = false;
            queue.urgent = true;
            self.write_or_hand_over(&mut queue);
        }
    }

    /// Writes from here on a plain connection; what the socket cannot
    /// take now, and everything over TLS, is the session's to write.
    fn write_or_hand_over(&self, queue: &mut Queue) {
        if self.shared.socket.is_some() && self.write_out(queue, None) != Some(Drained::Empty) {
            queue.blocked = true;
            self.shared.work.notify_one();
        }
    }

    /// Queues without waiting. A full queue kicks the connection as a slow
    /// consumer.
    fn enqueue(&self, bytes: Bytes, kind: Kind) -> bool {
        let shared = &self.shared;
        let mut queue = self.queue();
        if queue.closed {
            return false;
        }
        if queue.bytes > shared.byte_cap || queue.items.len() >= shared.frame_cap {
            drop(queue);
            self.kick();
            return false;
        }
        queue.bytes += bytes.len();
        queue.items.push_back(Queued { bytes, kind });
        if queue.blocked {
            return true; // The session writes it once the socket drains.
        }
        if kind == Kind::Unflushed {
            queue.unflushed = true;
            return true;
        }
        if kind == Kind::Presence && !queue.urgent {
            if queue.items.len() == 1 {
                shared.work.notify_one(); // Starts the presence timer.
            }
            return true;
        }
        queue.urgent = true;
        queue.unflushed = false;
        self.write_or_hand_over(&mut queue);
        true
    }

    /// Writes from the queue's head until it is empty (`Some(Empty)`), the
    /// socket would block (`None`) or fails (`Some(Failed)`). A TLS stream
    /// is written only with the writer's `cx`: without it, `None`.
    fn write_out(&self, queue: &mut Queue, cx: Option<&mut Context<'_>>) -> Option<Drained> {
        let mut frames = 0;
        let outcome = match self.shared.socket.as_ref()? {
            Wire::Plain(socket) => write_plain(socket, queue, &mut frames),
            Wire::Tls(stream) => write_tls(&mut lock(stream), queue, cx?, &mut frames),
        };
        match outcome {
            Some(Drained::Empty) => {
                queue.urgent = false;
                queue.unflushed = false;
            }
            Some(Drained::Failed) => queue.closed = true,
            None => {}
        }
        if frames > 0
            && let Some(metrics) = &self.shared.metrics
        {
            metrics.frames_out.fetch_add(frames, Ordering::Relaxed);
        }
        outcome
    }

    /// Writes what is queued with the session's `cx`; `Pending` until the
    /// socket has taken all of it (over TLS: and the stream has flushed).
    fn poll_drain(&self, cx: &mut Context<'_>) -> Poll<Drained> {
        let Some(wire) = self.shared.socket.as_ref() else {
            return Poll::Ready(Drained::Empty);
        };
        loop {
            {
                let mut queue = self.queue();
                if queue.closed {
                    return Poll::Ready(Drained::Failed);
                }
                if let Some(done) = self.write_out(&mut queue, Some(cx)) {
                    queue.blocked = false;
                    return Poll::Ready(done);
                }
                queue.blocked = true;
            }
            match wire {
                Wire::Plain(socket) => {
                    if ready!(socket.poll_write_ready(cx)).is_err() {
                        return Poll::Ready(Drained::Failed);
                    }
                }
                // The stream holds `cx` to wake once it can go on.
                Wire::Tls(_) => return Poll::Pending,
            }
        }
    }

    /// Whether the session has something to do about its queue now: the
    /// socket is blocked, or something urgent (or failed) waits.
    pub fn needs_drain(&self) -> bool {
        let queue = self.queue();
        queue.blocked || queue.urgent || queue.closed
    }

    /// Whether presence frames wait in the queue for their timer.
    pub fn presence_waiting(&self) -> bool {
        !self.queue().items.is_empty()
    }

    /// Writes everything queued, waiting for the socket as long as it
    /// takes. Cancel-safe: what was written stays written.
    pub async fn drain(&self) -> Drained {
        std::future::poll_fn(|cx| self.poll_drain(cx)).await
    }

    /// Resolves when there may be work for the session ([`Outbox::drain`],
    /// or the presence timer). Cancel-safe.
    pub async fn work(&self) {
        self.shared.work.notified().await;
    }

    fn kick(&self) {
        if !self.shared.kicked.swap(true, Ordering::AcqRel) {
            self.shared.kick.notify_one();
        }
    }

    pub fn is_kicked(&self) -> bool {
        self.shared.kicked.load(Ordering::Acquire)
    }

    /// Resolves once the connection has been kicked as a slow consumer.
    pub async fn kicked(&self) {
        if !self.is_kicked() {
            self.shared.kick.notified().await;
        }
    }

    /// Drops what is queued and not yet begun: for a client that is not
    /// reading, whose close frame should not wait behind it. A frame
    /// already half written stays, so the close frame lands after it.
    pub fn discard_queued(&self) {
        let mut queue = self.queue();
        let keep = usize::from(queue.head_written > 0);
        queue.items.truncate(keep);
        let left = queue.items.front().map_or(0, |head| head.bytes.len());
        queue.bytes = left.saturating_sub(queue.head_written);
        queue.urgent = keep > 0;
    }

    /// Takes nothing more: the session has ended.
    pub fn close(&self) {
        self.queue().closed = true;
    }

    /// Takes nothing more, and has the kernel drop what the client has not
    /// taken when the socket closes (a reset instead of a FIN): for a client
    /// that stopped reading, whose megabytes of kernel send buffer would
    /// otherwise trickle out on zero-window probes for minutes after the
    /// session ended.
    pub fn abort(&self) {
        self.close();
        let reset = match &self.shared.socket {
            Some(Wire::Plain(socket)) => socket.set_zero_linger(),
            Some(Wire::Tls(stream)) => lock(stream)
                .tcp()
                .map_or(Ok(()), TcpStream::set_zero_linger),
            None => Ok(()),
        };
        if let Err(e) = reset {
            tracing::debug!(error = %e, "SO_LINGER could not be set");
        }
    }

    /// The library's own bytes (pong, ping, close), queued whole behind
    /// everything else; over the byte cap they still go, and kick.
    fn push_control(&self, bytes: &[u8]) -> io::Result<()> {
        let mut queue = self.queue();
        if queue.closed {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        if queue.bytes > self.shared.byte_cap {
            self.kick();
        }
        queue.bytes += bytes.len();
        queue.items.push_back(Queued {
            bytes: Bytes::copy_from_slice(bytes),
            kind: Kind::Control,
        });
        queue.urgent = true;
        if !queue.blocked {
            self.write_or_hand_over(&mut queue);
        }
        Ok(())
    }

    /// Takes what is queued, oldest first, with whether each frame was
    /// urgent; for an outbox without a socket.
    pub fn take_queued(&self) -> Vec<(Frame, bool)> {
        let mut queue = self.queue();
        queue.bytes = 0;
        queue.urgent = false;
        queue
            .items
            .drain(..)
            .map(|item| (Frame(item.bytes), item.kind != Kind::Presence))
            .collect()
    }

    /// Bytes queued and not yet taken by the socket.
    pub fn queued_bytes(&self) -> usize {
        self.queue().bytes
    }
}

/// Writes a plain socket from the queue's head until the queue is empty,
/// the socket would block (`None`) or fails; counts finished frames.
fn write_plain(socket: &TcpStream, queue: &mut Queue, frames: &mut u64) -> Option<Drained> {
    while !queue.items.is_empty() {
        match try_write(socket, queue) {
            Ok(0) => return Some(Drained::Failed),
            Ok(written) => *frames += consume(queue, written),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
            Err(_) => return Some(Drained::Failed),
        }
    }
    Some(Drained::Empty)
}

/// Writes the queue into the TLS stream, then flushes the stream: `None`
/// while it cannot go on (it wakes `cx` when it can).
fn write_tls(
    stream: &mut Stream,
    queue: &mut Queue,
    cx: &mut Context<'_>,
    frames: &mut u64,
) -> Option<Drained> {
    while !queue.items.is_empty() {
        let offered = {
            let mut slices = [IoSlice::new(&[]); MAX_FRAMES_PER_WRITE];
            let count = unwritten_slices(queue, &mut slices);
            Pin::new(&mut *stream).poll_write_vectored(cx, &slices[..count])
        };
        match offered {
            Poll::Ready(Ok(0) | Err(_)) => return Some(Drained::Failed),
            Poll::Ready(Ok(written)) => *frames += consume(queue, written),
            Poll::Pending => return None,
        }
    }
    match Pin::new(stream).poll_flush(cx) {
        Poll::Ready(Ok(())) => Some(Drained::Empty),
        Poll::Ready(Err(_)) => Some(Drained::Failed),
        Poll::Pending => None,
    }
}

/// The queue's unwritten bytes, item by item, in `slices`; returns how
/// many slices were filled.
fn unwritten_slices<'a>(queue: &'a Queue, slices: &mut [IoSlice<'a>]) -> usize {
    let mut skip = queue.head_written;
    let mut count = 0;
    for (slot, item) in slices.iter_mut().zip(&queue.items) {
        *slot = IoSlice::new(item.bytes.get(mem::take(&mut skip)..).unwrap_or_default());
        count += 1;
    }
    count
}

/// Offers the queue's unwritten bytes to the socket in one call: a lone
/// frame (the common case) without building a vector of slices.
fn try_write(socket: &TcpStream, queue: &Queue) -> io::Result<usize> {
    if let [only] = queue.items.as_slices().0
        && queue.items.len() == 1
    {
        let skip = queue.head_written;
        return socket.try_write(only.bytes.get(skip..).unwrap_or_default());
    }
    let mut slices = [IoSlice::new(&[]); MAX_FRAMES_PER_WRITE];
    let count = unwritten_slices(queue, &mut slices);
    socket.try_write_vectored(&slices[..count])
}

/// Takes `written` bytes off the queue's head; returns how many frames
/// (not control bytes) were finished.
fn consume(queue: &mut Queue, mut written: usize) -> u64 {
    queue.bytes -= written;
    let mut frames = 0;
    while let Some(head) = queue.items.front() {
        let left = head.bytes.len() - queue.head_written;
        if written < left {
            queue.head_written += written;
            break;
        }
        written -= left;
        frames += u64::from(head.kind != Kind::Control);
        queue.head_written = 0;
        queue.items.pop_front();
    }
    frames
}

/// The byte stream under a session's WebSocket: reads straight from the
/// socket, writes through the outbox's queue, whole, so the library's
/// frames and the outbox's never interleave mid-frame.
#[derive(Debug, Clone)]
pub struct WireStream {
    outbox: Outbox,
}

impl WireStream {
    /// The stream of an outbox that has a socket.
    pub fn new(outbox: Outbox) -> Self {
        Self { outbox }
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    fn socket(&self) -> io::Result<&Wire> {
        self.outbox
            .shared
            .socket
            .as_ref()
            .ok_or_else(|| io::ErrorKind::NotConnected.into())
    }
}

impl AsyncRead for WireStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let socket = match self.socket()? {
            Wire::Plain(socket) => socket,
            Wire::Tls(stream) => return Pin::new(&mut *lock(stream)).poll_read(cx, buf),
        };
        loop {
            ready!(socket.poll_read_ready(cx))?;
            match socket.try_read(buf.initialize_unfilled()) {
                Ok(read) => {
                    buf.advance(read);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for WireStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(self.outbox.push_control(buf).map(|()| buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match ready!(self.outbox.poll_drain(cx)) {
            Drained::Empty => Poll::Ready(Ok(())),
            Drained::Failed => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
        }
    }

    /// Flushes only: the socket closes when the last handle to the
    /// outbox goes, after the session has left its rooms.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_framed_once_with_the_header_its_length_needs() {
        for len in [0, 125, 126, 65_535, 65_536] {
            let text = "x".repeat(len);
            let frame = Frame::text(&text);
            let header = frame.len() - len;
            assert_eq!(
                header,
                [2, 4, 10][usize::from(len >= 126) + usize::from(len > 65_535)]
            );
            assert_eq!(frame.0[0], 0x81, "final text frame, unmasked");
            assert_eq!(frame.payload(), text);
        }
    }

    #[test]
    fn a_frame_encoded_in_place_is_the_text_frame_of_its_encoding() {
        for len in [0, 100, 126, 600, 65_536] {
            let server_frame = ServerFrame::error(
                chat_proto::ErrorCode::BadFrame,
                "x".repeat(len),
                Some("r1".into()),
            );
            assert_eq!(frame(&server_frame), Frame::text(&encode(&server_frame)));
        }
    }

    #[test]
    fn an_outbox_over_its_bytes_kicks_but_takes_one_large_frame() {
        let outbox = Outbox::build(None, 64, 100, None);
        assert!(
            outbox.push(Frame::text(&"x".repeat(300))),
            "one large frame"
        );
        assert!(!outbox.is_kicked());
        assert!(!outbox.push(Frame::text("y")), "over the cap now");
        assert!(outbox.is_kicked());
        assert_eq!(outbox.take_queued().len(), 1, "the large frame is queued");
        assert_eq!(outbox.queued_bytes(), 0, "the refused frame is not counted");
    }

    #[test]
    fn a_drained_queue_gives_back_the_room_a_burst_grew_it_to() {
        let outbox = Outbox::new(64);
        let capacity = |outbox: &Outbox| outbox.queue().items.capacity();
        outbox.push(Frame::text("a"));
        outbox.take_queued();
        outbox.trim();
        assert_eq!(
            capacity(&outbox),
            KEPT_SLOTS,
            "a small queue keeps its slots"
        );
        for _ in 0..40 {
            outbox.push_presence(Frame::text("p"));
        }
        outbox.trim();
        assert_eq!(
            outbox.take_queued().len(),
            40,
            "a queue in use is not trimmed"
        );
        assert!(capacity(&outbox) >= 40);
        outbox.trim();
        assert_eq!(capacity(&outbox), 0, "the burst's room is given back");
        assert!(outbox.push(Frame::text("b")), "and grown again when needed");
        assert_eq!(outbox.take_queued().len(), 1);
    }

    #[test]
    fn an_outbox_over_its_frames_kicks() {
        let outbox = Outbox::new(2);
        assert!(outbox.push_presence(Frame::text("a")));
        assert!(outbox.push(Frame::text("b")));
        assert!(!outbox.push(Frame::text("c")));
        assert!(outbox.is_kicked());
        let queued = outbox.take_queued();
        let kinds: Vec<bool> = queued.iter().map(|(_, urgent)| *urgent).collect();
        assert_eq!(kinds, [false, true], "presence may wait, replies may not");
    }

    /// A connected loopback pair: the server's end and the client's.
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        (accepted.unwrap().0, client.unwrap())
    }

    #[tokio::test]
    async fn what_the_socket_cannot_take_waits_in_order_and_drains_whole() {
        use tokio::io::AsyncReadExt;

        let (server, mut client) = pair().await;
        let metrics = Arc::new(Metrics::default());
        let outbox = Outbox::bounded(Stream::Plain(server), 100_000, usize::MAX, metrics.clone());
        let mut expected = Vec::new();
        let mut frames = 0u64;
        // Written at once until the socket is full; then queued.
        while outbox.queued_bytes() == 0 && frames < 10_000 {
            let frame = Frame::text(&format!("{frames:06}").repeat(10_000));
            expected.extend_from_slice(&frame.0);
            assert!(outbox.push(frame));
            frames += 1;
        }
        assert!(
            outbox.needs_drain(),
            "the socket is full: the session drains"
        );
        // The library's own bytes go behind, whole.
        let mut stream = WireStream::new(outbox.clone());
        let control = [0x89u8, 0];
        std::future::poll_fn(|cx| Pin::new(&mut stream).poll_write(cx, &control))
            .await
            .unwrap();
        expected.extend_from_slice(&control);
        let last = Frame::text("last");
        expected.extend_from_slice(&last.0);
        assert!(outbox.push(last));
        let total = expected.len();
        let reader = tokio::spawn(async move {
            let mut got = vec![0u8; total];
            client.read_exact(&mut got).await.unwrap();
            got
        });
        let drained = tokio::time::timeout(std::time::Duration::from_secs(20), outbox.drain());
        assert_eq!(drained.await.unwrap(), Drained::Empty);
        assert!(
            reader.await.unwrap() == expected,
            "every byte, in queue order"
        );
        assert!(!outbox.needs_drain());
        assert_eq!(
            metrics.frames_out.load(Ordering::Relaxed),
            frames + 1,
            "control bytes are not frames"
        );
    }

    /// `server` as a TLS stream with a fresh certificate, and `client`'s
    /// TLS connection to it (it trusts that certificate).
    fn tls_pair(
        server: TcpStream,
        client: TcpStream,
    ) -> (
        Stream,
        impl Future<Output = tokio_rustls::client::TlsStream<TcpStream>>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let (cert, key) = (dir.join("c.pem"), dir.join("k.pem"));
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
        let tls = crate::tls::ServerTls::load(&cert, &key).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(made.cert.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let connect = async move { connector.connect(name, client).await.unwrap() };
        (Stream::new(server, Some(&tls)), connect)
    }

    #[tokio::test]
    async fn over_tls_frames_wait_for_the_session_and_arrive_in_order() {
        use tokio::io::AsyncReadExt;

        let (server, client) = pair().await;
        let (stream, connect) = tls_pair(server, client);
        let metrics = Arc::new(Metrics::default());
        let outbox = Outbox::bounded(stream, 1_000, usize::MAX, metrics.clone());
        let mut expected = Vec::new();
        for n in 0..200 {
            let frame = Frame::text(&format!("{n:04}").repeat(500));
            expected.extend_from_slice(&frame.0);
            assert!(outbox.push(frame));
        }
        // Nothing is written by the queuing thread: the session drains.
        assert!(outbox.needs_drain());
        assert_eq!(outbox.queued_bytes(), expected.len());
        let mut wire = WireStream::new(outbox.clone());
        let control = [0x89u8, 0];
        std::future::poll_fn(|cx| Pin::new(&mut wire).poll_write(cx, &control))
            .await
            .unwrap();
        expected.extend_from_slice(&control);
        let total = expected.len();
        let reader = tokio::spawn(async move {
            let mut client = connect.await;
            let mut got = vec![0u8; total];
            client.read_exact(&mut got).await.unwrap();
            got
        });
        let drained = tokio::time::timeout(std::time::Duration::from_secs(20), outbox.drain());
        assert_eq!(drained.await.unwrap(), Drained::Empty);
        let got = tokio::time::timeout(std::time::Duration::from_secs(20), reader);
        assert!(
            got.await.unwrap().unwrap() == expected,
            "every byte, decrypted, in order"
        );
        assert!(!outbox.needs_drain());
        assert_eq!(outbox.queued_bytes(), 0);
        assert_eq!(metrics.frames_out.load(Ordering::Relaxed), 200);
    }
}
