//! The room registry: who is in which room, presence (`join` / `leave`),
//! and fan-out of committed messages to every member's [`Outbox`].
//!
//! Each outgoing frame is encoded once and its bytes shared by all members.
//! Fan-out never waits: an outbox that is full marks its connection as a
//! slow consumer to be closed, and the room moves on.
//!
//! Joining is two-step so a joiner sees every message exactly once: the
//! member is added *pending* (live messages are held back), the store reads
//! the history snapshot, then [`RoomRegistry::activate`] queues `joined`,
//! releases held messages newer than the snapshot and goes live, all under
//! the room's lock.
//!
//! Locks are std `Mutex`es: they guard short, non-async sections, and the
//! store's writer thread (not a tokio task) takes them too.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chat_proto::{Message, RoomName, ServerFrame, UserName, encode};
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::clock::now_ms;
use crate::metrics::Metrics;
use crate::store::{CommitListener, CommittedMessage, ConnId};

/// An encoded text frame, cheap to clone (shared bytes).
pub type Frame = Utf8Bytes;

/// Encodes a server frame once, for sharing among recipients.
pub fn frame(server_frame: &ServerFrame) -> Frame {
    Frame::from(encode(server_frame))
}

/// Tells a connection task it must close because it fell behind.
#[derive(Debug, Default)]
pub struct SlowConsumerSignal {
    kicked: AtomicBool,
    notify: Notify,
}

impl SlowConsumerSignal {
    fn kick(&self) {
        if !self.kicked.swap(true, Ordering::AcqRel) {
            self.notify.notify_one();
        }
    }

    pub fn is_kicked(&self) -> bool {
        self.kicked.load(Ordering::Acquire)
    }

    /// Resolves once the connection has been kicked.
    pub async fn kicked(&self) {
        if !self.is_kicked() {
            self.notify.notified().await;
        }
    }
}

/// The sending side of a connection's bounded outbound queue.
#[derive(Debug, Clone)]
pub struct Outbox {
    frames_tx: mpsc::Sender<Frame>,
    signal: Arc<SlowConsumerSignal>,
}

impl Outbox {
    /// A new outbox holding at most `capacity` frames, with its receiving end.
    pub fn new(capacity: usize) -> (Self, mpsc::Receiver<Frame>, Arc<SlowConsumerSignal>) {
        let (frames_tx, frames_rx) = mpsc::channel(capacity.max(1));
        let signal = Arc::new(SlowConsumerSignal::default());
        (
            Self {
                frames_tx,
                signal: signal.clone(),
            },
            frames_rx,
            signal,
        )
    }

    /// Queues a frame without waiting. A full queue marks the connection
    /// as a slow consumer; returns whether the frame was queued.
    pub fn push(&self, frame: Frame) -> bool {
        match self.frames_tx.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.signal.kick();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

struct Member {
    user: UserName,
    outbox: Outbox,
    /// `Some` while joining: live messages (id, frame) held until `joined`
    /// has been queued.
    held: Option<Vec<(u64, Frame)>>,
}

#[derive(Default)]
struct RoomState {
    members: HashMap<ConnId, Member>,
    /// Distinct users in the room and how many of their connections are in it.
    users: HashMap<UserName, usize>,
}

impl RoomState {
    /// Sends a presence frame to every live member except `except`.
    fn tell_others(&self, except: ConnId, presence: &ServerFrame) {
        let presence = frame(presence);
        for (conn, member) in &self.members {
            if *conn != except && member.held.is_none() {
                member.outbox.push(presence.clone());
            }
        }
    }
}

/// One room's live membership.
pub struct Room {
    name: RoomName,
    state: Mutex<RoomState>,
}

impl Room {
    pub fn name(&self) -> &RoomName {
        &self.name
    }

    fn lock(&self) -> MutexGuard<'_, RoomState> {
        // A panic while holding the lock leaves plain data behind, still
        // consistent enough to keep serving; don't cascade the panic.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Every room with live members, by name.
pub struct RoomRegistry {
    rooms: Mutex<HashMap<RoomName, Arc<Room>>>,
    metrics: Arc<Metrics>,
}

impl RoomRegistry {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            rooms: Mutex::new(HashMap::new()),
            metrics,
        }
    }

    fn rooms(&self) -> MutexGuard<'_, HashMap<RoomName, Arc<Room>>> {
        self.rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn room(&self, name: &str) -> Option<Arc<Room>> {
        // RoomName borrows as its folded string through the map's key type;
        // parse keeps lookups consistent with how keys were made.
        let name = RoomName::parse(name).ok()?;
        self.rooms().get(&name).cloned()
    }

    /// Step one of joining: adds the connection as a pending member (or
    /// makes an existing member pending again, for a re-join) and tells the
    /// room when this is the user's first connection in it.
    pub fn subscribe(
        &self,
        name: &RoomName,
        conn: ConnId,
        user: &UserName,
        outbox: &Outbox,
    ) -> Arc<Room> {
        let room = self
            .rooms()
            .entry(name.clone())
            .or_insert_with(|| {
                Arc::new(Room {
                    name: name.clone(),
                    state: Mutex::new(RoomState::default()),
                })
            })
            .clone();
        let mut state = room.lock();
        if let Some(member) = state.members.get_mut(&conn) {
            member.held.get_or_insert_with(Vec::new);
            return room.clone();
        }
        if state.members.is_empty() {
            self.metrics.rooms_active.fetch_add(1, Ordering::Relaxed);
        }
        state.members.insert(
            conn,
            Member {
                user: user.clone(),
                outbox: outbox.clone(),
                held: Some(Vec::new()),
            },
        );
        let connections = state.users.entry(user.clone()).or_insert(0);
        *connections += 1;
        if *connections == 1 {
            state.tell_others(
                conn,
                &ServerFrame::Join {
                    room: name.to_string(),
                    user: user.to_string(),
                    ts: now_ms(),
                },
            );
        }
        drop(state);
        room
    }

    /// Step two of joining: queues the `joined` frame built from the
    /// current member list, then the held messages newer than `last_id`,
    /// and makes the member live.
    pub fn activate(
        &self,
        room: &Room,
        conn: ConnId,
        last_id: u64,
        joined: impl FnOnce(Vec<String>) -> ServerFrame,
    ) {
        let mut state = room.lock();
        let mut members: Vec<String> = state.users.keys().map(UserName::to_string).collect();
        members.sort();
        let Some(member) = state.members.get_mut(&conn) else {
            return; // Disconnected meanwhile.
        };
        member.outbox.push(frame(&joined(members)));
        for (id, held) in member.held.take().unwrap_or_default() {
            if id > last_id {
                member.outbox.push(held);
            }
        }
    }

    /// Removes the connection from the room; the room hears `leave` when
    /// this was the user's last connection in it. Returns whether the
    /// connection was a member.
    pub fn leave(&self, room: &Room, conn: ConnId) -> bool {
        let mut state = room.lock();
        let Some(member) = state.members.remove(&conn) else {
            return false;
        };
        if state.members.is_empty() {
            self.metrics.rooms_active.fetch_sub(1, Ordering::Relaxed);
        }
        let last = match state.users.get_mut(&member.user) {
            Some(count) if *count > 1 => {
                *count -= 1;
                false
            }
            _ => {
                state.users.remove(&member.user);
                true
            }
        };
        if last {
            state.tell_others(
                conn,
                &ServerFrame::Leave {
                    room: room.name.to_string(),
                    user: member.user.to_string(),
                    ts: now_ms(),
                },
            );
        }
        true
    }

    /// Distinct users now in the room.
    pub fn member_count(&self, name: &str) -> u32 {
        self.room(name)
            .map(|room| u32::try_from(room.lock().users.len()).unwrap_or(u32::MAX))
            .unwrap_or(0)
    }
}

impl CommitListener for RoomRegistry {
    fn committed(&self, batch: &[CommittedMessage]) {
        let mut current: Option<Arc<Room>> = None;
        for committed in batch {
            let message = &committed.message;
            if current
                .as_ref()
                .is_none_or(|room| room.name.as_str() != message.room)
            {
                current = self.room(&message.room);
            }
            let Some(room) = &current else {
                continue; // Nobody is in the room.
            };
            let shared = frame(&ServerFrame::Message(Message {
                reference: None,
                ..message.clone()
            }));
            let mut state = room.lock();
            for (conn, member) in state.members.iter_mut() {
                let copy = if *conn == committed.origin && message.reference.is_some() {
                    frame(&ServerFrame::Message(message.clone()))
                } else {
                    shared.clone()
                };
                match &mut member.held {
                    // Pending members keep the frame until `activate`.
                    Some(held) => held.push((message.id, copy)),
                    None => {
                        member.outbox.push(copy);
                    }
                }
            }
        }
    }
}
