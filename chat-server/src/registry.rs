//! The room registry: who is in which room, presence (`join` / `leave`),
//! and fan-out of committed messages to every member's [`Outbox`]. Two
//! kinds of entry also reach connections outside their room, through the
//! index of who is online: an invitation its invitee's, and a
//! conversation's entries (and typing) its two users' (a conversation has
//! no presence frames).
//!
//! Each outgoing frame is encoded once and its bytes shared by all members.
//! Fan-out never waits: an outbox that is full marks its connection as a
//! slow consumer to be closed, and the room moves on.
//!
//! Joining is two-step so a joiner sees every message exactly once: the
//! member is added *pending* (live messages are held back), the store reads
//! the history snapshot, then [`RoomRegistry::activate`] queues `joined`,
//! releases held messages newer than the snapshot and goes live, all under
//! the room's lock. A pending member is not yet *present*: nobody hears of
//! it until [`RoomRegistry::admit`], which the session calls once the same
//! read has let it in, so a refused join shows no presence without a read
//! of its own before `subscribe`.
//!
//! # The join invariant
//! A join is exact because of one ordering, which the stores keep: **a
//! message reaches [`RoomRegistry::deliver`] only after its transaction
//! has committed, and a join's snapshot (its page and `last_id`, read
//! together) sees every transaction that committed before the read began.**
//! Take a message `m` in the room:
//! - `m.id <= last_id`: the snapshot covers it (in the page, or older than
//!   the page and reachable with `history`); if it is delivered while the
//!   member is pending or later, the member's id floor drops it.
//! - `m.id > last_id`: the read did not see its commit, so its commit, and
//!   its delivery after that, came after the read began, which is after
//!   `subscribe`: the member was already there, pending (the frame is held
//!   and released by `activate`) or live.
//!
//! So nothing is lost or doubled. The rule holds however reads are served
//! (SQLite's reader thread reads beside the writer; PostgreSQL's pool), as
//! long as fan-out follows commit ([`crate::store`]'s commit stream). In a
//! cluster, other nodes' messages can arrive after a snapshot that already
//! holds them: the floor drops those as well.
//!
//! A room lives in the map only while it has members: the last `leave`
//! removes it, so the map does not grow with every room ever visited.
//! A room that never held a message is then handed to the
//! [`RoomRegistry::on_vacated`] hook, so the store can forget it too.
//!
//! Locks are std `Mutex`es: they guard short, non-async sections and are
//! never held across an await. Lock order: a room's lock may take the
//! map's (to remove the room), never the other way round.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use chat_proto::{Entry, RoomName, ServerFrame, UserName};
use tokio::sync::mpsc;

use crate::clock::now_ms;
use crate::limits::TYPING_INTERVAL;
use crate::metrics::Metrics;
use crate::store::{CommitListener, Committed, ConnId, StreamEvent};
use crate::sync::lock;

pub use crate::outbox::{Frame, Outbox, frame};

struct Member {
    user: UserName,
    outbox: Outbox,
    /// `Some` while joining: frames held until `joined` has been queued.
    held: Option<Vec<Held>>,
    /// The newest message id the member's `joined` covered: anything at or
    /// below it reached the member as history. Messages from other nodes
    /// can arrive after the snapshot that already held them.
    floor: u64,
    /// Counted in the room's `users` (its arrival announced): set by
    /// [`RoomRegistry::admit`], so a refused joiner comes and goes unheard.
    present: bool,
}

/// A frame held for a pending member.
struct Held {
    /// The message id it carries; 0 for presence and typing.
    id: u64,
    /// A `join` or `leave`: on one node, `joined`'s member list is read
    /// after it and already says it (see [`RoomRegistry::activate`]).
    presence: bool,
    frame: Frame,
}

impl Member {
    /// Delivers a message frame (`id` > 0), or one of no id (`id` 0) that
    /// is a presence frame when `presence`.
    fn deliver(&mut self, id: u64, presence: bool, frame: Frame) {
        if id != 0 && id <= self.floor {
            return;
        }
        match &mut self.held {
            Some(held) => held.push(Held {
                id,
                presence,
                frame,
            }),
            None => self.send(id, frame),
        }
    }

    /// Messages wait for [`Outbox::flush`], so a batch shares a write.
    fn send(&self, id: u64, frame: Frame) {
        if id == 0 {
            self.outbox.push_presence(frame);
        } else {
            self.outbox.push_unflushed(frame);
        }
    }
}

#[derive(Default)]
struct RoomState {
    members: HashMap<ConnId, Member>,
    /// Distinct users in the room and how many of their connections are
    /// present in it.
    users: HashMap<UserName, usize>,
    /// Set when the last member left and the room was taken out of the
    /// map: a subscriber still holding it must look the room up again.
    removed: bool,
    /// When each user's `typing` was last relayed here, for the limit.
    typing_relayed: HashMap<UserName, Instant>,
    /// Whether the room is known to hold a message (a join's snapshot
    /// said so, or one was delivered): a room that never did is handed to
    /// the [`RoomRegistry::on_vacated`] hook when it empties.
    held_entry: bool,
}

impl RoomState {
    /// Writes what [`Member::send`] queued unflushed, once per member.
    fn flush_members(&self) {
        for member in self.members.values() {
            member.outbox.flush();
        }
    }

    /// Sends a frame about `user` (presence when `presence`, else typing)
    /// to every member that is not one of that user's own connections.
    fn tell_others(&mut self, user: &UserName, about: &ServerFrame, presence: bool) {
        let about = frame(about);
        for member in self.members.values_mut() {
            if member.user != *user {
                member.deliver(0, presence, about.clone());
            }
        }
    }

    /// Distinct users with a connection present, sorted.
    fn user_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.users.keys().map(UserName::to_string).collect();
        names.sort();
        names
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

    /// Whether the connection is (still) in the room: a kick, a ban or
    /// the room's deletion takes it out without its asking.
    pub fn is_member(&self, conn: ConnId) -> bool {
        self.lock().members.contains_key(&conn)
    }

    fn lock(&self) -> MutexGuard<'_, RoomState> {
        lock(&self.state)
    }
}

/// A user's first connection in a room on this node entered it, or its
/// last one left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceChange {
    pub room: RoomName,
    pub user: UserName,
    pub entered: bool,
    pub ts: i64,
}

/// Where this node's presence changes go.
pub enum PresenceRoute {
    /// Single node: straight to the room's other members.
    Local,
    /// Cluster: to the broker, which decides what the whole cluster hears
    /// and delivers it back through [`RoomRegistry::deliver_presence`].
    /// Sent under the room's lock, so changes leave in the order they
    /// happened; unbounded because joins are already rate-limited.
    Forward(mpsc::UnboundedSender<PresenceChange>),
}

/// Every room with members on this node, by name.
pub struct RoomRegistry {
    rooms: Mutex<HashMap<RoomName, Arc<Room>>>,
    /// Every logged-in connection on this node by folded user name, so an
    /// invitation reaches the invitee outside the room, and a
    /// conversation its two users. Lock order: a
    /// room's lock may be taken under this one (by `invite_outside`),
    /// never this one under a room's.
    online: Mutex<HashMap<String, HashMap<ConnId, Outbox>>>,
    /// When each user's `typing` in a conversation was last relayed, for
    /// the limit (a conversation's typing does not go through its room).
    conversation_typing: Mutex<HashMap<(RoomName, UserName), Instant>>,
    presence: PresenceRoute,
    /// Set when the server starts shutting down: everyone here is about to
    /// be disconnected, so telling them who leaves would only be noise.
    shutting_down: AtomicBool,
    metrics: Arc<Metrics>,
    /// Told of each room that empties without ever having held a message.
    vacated: OnceLock<VacatedHook>,
}

/// What the registry calls, outside every lock, with a room that lost its
/// last member here and never held a message. It must not block.
pub type VacatedHook = Box<dyn Fn(&RoomName) + Send + Sync>;

impl RoomRegistry {
    pub fn new(metrics: Arc<Metrics>, presence: PresenceRoute) -> Self {
        Self {
            rooms: Mutex::new(HashMap::new()),
            online: Mutex::new(HashMap::new()),
            conversation_typing: Mutex::new(HashMap::new()),
            presence,
            shutting_down: AtomicBool::new(false),
            metrics,
            vacated: OnceLock::new(),
        }
    }

    /// Sets the hook told of rooms that empty without ever holding a
    /// message; only the first call takes effect.
    pub fn on_vacated(&self, hook: VacatedHook) {
        let _ = self.vacated.set(hook);
    }

    fn rooms(&self) -> MutexGuard<'_, HashMap<RoomName, Arc<Room>>> {
        lock(&self.rooms)
    }

    fn room(&self, name: &str) -> Option<Arc<Room>> {
        self.rooms().get(name).cloned()
    }

    /// Stops telling this node's members about presence changes: they are
    /// about to be disconnected themselves.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
    }

    /// Reports a presence change, from under the room's lock.
    fn announce(&self, state: &mut RoomState, change: PresenceChange) {
        match &self.presence {
            PresenceRoute::Local if self.shutting_down.load(Ordering::Acquire) => {}
            // A conversation has no presence frames: its users are in it
            // anyway. (A cluster's broker still hears its changes, for
            // `joined`'s members, and delivers none back.)
            PresenceRoute::Local if change.room.is_conversation() => {}
            PresenceRoute::Local => {
                let frame = presence_frame(&change);
                state.tell_others(&change.user, &frame, true);
            }
            PresenceRoute::Forward(changes_tx) => {
                if changes_tx.send(change).is_err() {
                    tracing::error!("the presence broker has stopped");
                }
            }
        }
    }

    /// Step one of joining: adds the connection as a pending member, not
    /// yet present (see [`RoomRegistry::admit`]), or makes an existing
    /// member pending again, for a re-join.
    pub fn subscribe(
        &self,
        name: &RoomName,
        conn: ConnId,
        user: &UserName,
        outbox: &Outbox,
    ) -> Arc<Room> {
        // A room found in the map may lose its last member, and its place
        // in the map, before its lock is taken here; then look again: the
        // second look finds it gone (or a new one), so this ends.
        loop {
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
            if self.add_pending(&room, conn, user, outbox) {
                return room;
            }
        }
    }

    /// Adds the member to a room still in the map; false if it was removed.
    fn add_pending(&self, room: &Room, conn: ConnId, user: &UserName, outbox: &Outbox) -> bool {
        let mut state = room.lock();
        if state.removed {
            return false;
        }
        if let Some(member) = state.members.get_mut(&conn) {
            member.held.get_or_insert_with(Vec::new);
            return true;
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
                floor: 0,
                present: false,
            },
        );
        true
    }

    /// Between the steps, once the join's read has let the member in:
    /// makes it present, announcing the user when this is its first
    /// present connection in the room. Before `joined`'s member list is
    /// read, so the list holds the joiner. Nothing for a member already
    /// present (a re-join) or gone meanwhile (kicked while pending).
    pub fn admit(&self, room: &Room, conn: ConnId) {
        let mut state = room.lock();
        let Some(member) = state.members.get_mut(&conn).filter(|m| !m.present) else {
            return;
        };
        member.present = true;
        let user = member.user.clone();
        let connections = state.users.entry(user.clone()).or_insert(0);
        *connections += 1;
        if *connections == 1 {
            let change = PresenceChange {
                room: room.name.clone(),
                user,
                entered: true,
                ts: now_ms(),
            };
            self.announce(&mut state, change);
        }
    }

    /// Step two of joining: queues `joined`, then the frames held since
    /// step one (messages only when newer than `last_id`), and makes the
    /// member live.
    ///
    /// On one node `joined`'s member list is read here, under the lock
    /// that orders presence: every `join` and `leave` held so far is in
    /// it, and is dropped rather than told again; later ones come live.
    /// (Read before, a user who arrived between the read and this step
    /// was both listed and announced.) In a cluster the list is the
    /// broker's, and held presence is released as it came.
    pub fn activate(&self, room: &Room, conn: ConnId, last_id: u64, mut first: ServerFrame) {
        let mut state = room.lock();
        state.held_entry |= last_id > 0;
        let listed_here = match &mut first {
            ServerFrame::Joined { members, .. } if self.lists_members() => {
                *members = state.user_names();
                true
            }
            _ => false,
        };
        let Some(member) = state.members.get_mut(&conn) else {
            return; // Disconnected meanwhile.
        };
        member.outbox.push(frame(&first));
        member.floor = member.floor.max(last_id);
        for held in member.held.take().unwrap_or_default() {
            let told = held.presence && listed_here;
            if !told && (held.id == 0 || held.id > member.floor) {
                member.send(held.id, held.frame);
            }
        }
        member.outbox.flush();
    }

    /// Whether `joined`'s member list is this registry's to fill (one
    /// node, see [`RoomRegistry::activate`]) rather than a broker's.
    pub fn lists_members(&self) -> bool {
        matches!(self.presence, PresenceRoute::Local)
    }

    /// Removes the connection from the room, announcing the user's
    /// departure when this was its last present connection in it. Returns
    /// whether the connection was a member.
    pub fn leave(&self, room: &Room, conn: ConnId) -> bool {
        let mut state = room.lock();
        if !self.leave_locked(room, &mut state, conn) {
            return false;
        }
        // Emptied by this leave (a kick or a deletion is an entry, so only
        // a leave can empty a room that never held one): hand it on,
        // outside the lock.
        let never_used = state.removed && !state.held_entry;
        drop(state);
        if let Some(hook) = self.vacated.get().filter(|_| never_used) {
            hook(&room.name);
        }
        true
    }

    /// [`RoomRegistry::leave`], under the room's lock.
    fn leave_locked(&self, room: &Room, state: &mut RoomState, conn: ConnId) -> bool {
        let Some(member) = state.members.remove(&conn) else {
            return false;
        };
        let last = match state.users.get_mut(&member.user) {
            // Never admitted: nobody heard it arrive, so nobody hears it go.
            _ if !member.present => false,
            Some(count) if *count > 1 => {
                *count -= 1;
                false
            }
            _ => {
                state.users.remove(&member.user);
                state.typing_relayed.remove(&member.user);
                true
            }
        };
        if last {
            let change = PresenceChange {
                room: room.name.clone(),
                user: member.user,
                entered: false,
                ts: now_ms(),
            };
            self.announce(state, change);
        }
        // Removed only after the departure has been announced: a new room
        // by that name, and the arrival it announces, can only come after.
        if state.members.is_empty() {
            self.metrics.rooms_active.fetch_sub(1, Ordering::Relaxed);
            self.remove(room, state);
        }
        true
    }

    /// Takes a room that has just lost its last member out of the map,
    /// under its lock, so no one can join it meanwhile.
    fn remove(&self, room: &Room, state: &mut RoomState) {
        state.removed = true;
        let mut rooms = self.rooms();
        if rooms
            .get(&room.name)
            .is_some_and(|listed| std::ptr::eq(Arc::as_ptr(listed), room))
        {
            rooms.remove(&room.name);
        }
    }

    /// How many rooms the map holds (rooms with members on this node).
    pub fn room_count(&self) -> usize {
        self.rooms().len()
    }

    /// Delivers a presence change decided elsewhere (by a cluster broker)
    /// to this node's members of the room.
    pub fn deliver_presence(&self, change: &PresenceChange) {
        if self.shutting_down.load(Ordering::Acquire) || change.room.is_conversation() {
            return;
        }
        if let Some(room) = self.room(change.room.as_str()) {
            room.lock()
                .tell_others(&change.user, &presence_frame(change), true);
        }
    }

    /// Relays `user`'s typing to the room's other members on this node,
    /// unless one was relayed less than [`TYPING_INTERVAL`] ago; whether
    /// it was relayed.
    pub fn typing(&self, room: &Room, user: &UserName) -> bool {
        let now = Instant::now();
        let mut state = room.lock();
        let recent = state
            .typing_relayed
            .get(user)
            .is_some_and(|last| now.duration_since(*last) < TYPING_INTERVAL);
        if recent {
            return false;
        }
        state.typing_relayed.insert(user.clone(), now);
        state.tell_others(user, &typing_frame(room.name(), user), false);
        true
    }

    /// Relays `user`'s typing in a conversation to the partner's
    /// connections on this node, joined or not, unless one was relayed
    /// less than [`TYPING_INTERVAL`] ago; whether it was relayed.
    pub fn typing_in_conversation(&self, room: &RoomName, user: &UserName) -> bool {
        let now = Instant::now();
        {
            let mut relayed = lock(&self.conversation_typing);
            let key = (room.clone(), user.clone());
            if relayed
                .get(&key)
                .is_some_and(|last| now.duration_since(*last) < TYPING_INTERVAL)
            {
                return false;
            }
            // Only the recent ones matter: the map holds no more than the
            // conversations typed in during the last interval.
            relayed.retain(|_, last| now.duration_since(*last) < TYPING_INTERVAL);
            relayed.insert(key, now);
        }
        self.typing_to_partner(room.as_str(), user);
        true
    }

    /// A conversation's typing for the partner's connections on this node.
    fn typing_to_partner(&self, room: &str, user: &UserName) {
        let Some(users) = conversation_users(room) else {
            return;
        };
        let me = user.as_str().to_ascii_lowercase();
        let partner = if users.0 == me { users.1 } else { users.0 };
        let typing = frame(&ServerFrame::Typing {
            room: room.to_owned(),
            user: user.to_string(),
        });
        for (_, outbox) in self.online_outboxes(&[partner], |_| true) {
            outbox.push_presence(typing.clone());
        }
    }

    /// Another node's relayed typing, for this node's members of the room
    /// (for a conversation: the partner's connections).
    pub fn deliver_typing(&self, room: &str, user: &UserName) {
        if conversation_users(room).is_some() {
            return self.typing_to_partner(room, user);
        }
        if let Some(found) = self.room(room) {
            let typing = typing_frame(found.name(), user);
            found.lock().tell_others(user, &typing, false);
        }
    }

    /// Distinct users with a connection in the room on this node, sorted.
    pub fn local_members(&self, name: &str) -> Vec<String> {
        self.room(name)
            .map(|room| room.lock().user_names())
            .unwrap_or_default()
    }

    /// Delivers committed entries, in the order given, to this node's
    /// members of their rooms; the origin connection gets the copy with
    /// its `ref`. Each run of one room's entries shares one write per
    /// member. A kick or ban then takes every connection of its subject out
    /// of the room; a deleted room loses every member.
    pub fn deliver(&self, batch: &[Committed]) {
        let mut current: Option<Arc<Room>> = None;
        for committed in batch {
            if current
                .as_ref()
                .is_none_or(|room| room.name.as_str() != committed.room)
            {
                if let Some(done) = &current {
                    done.lock().flush_members();
                }
                current = self.room(&committed.room);
            }
            if let StreamEvent::Entry(Entry::Invite(invite)) = &committed.event {
                self.invite_outside(current.as_deref(), committed, &invite.subject);
            } else if let Some(users) = conversation_users(&committed.room) {
                self.converse_outside(current.as_deref(), committed, users);
            }
            if let Some(room) = &current {
                self.apply(room, committed);
            }
        }
        if let Some(done) = &current {
            done.lock().flush_members();
        }
    }

    /// One committed entry for this node's members of `room`.
    fn apply(&self, room: &Room, committed: &Committed) {
        let mut state = room.lock();
        state.held_entry = true;
        match &committed.event {
            StreamEvent::Entry(entry) => {
                deliver_entry(&mut state, committed, entry);
                if let Entry::Kick(removal) | Entry::Ban(removal) = entry {
                    // The subject's connections get the entry before they go.
                    state.flush_members();
                    self.remove_user(room, &mut state, &removal.subject);
                }
            }
            StreamEvent::RoomDeleted {
                room: name,
                user,
                ts,
                ..
            } => {
                let deleted = frame(&ServerFrame::RoomDeleted {
                    room: name.clone(),
                    user: user.clone(),
                    ts: *ts,
                });
                for member in state.members.values_mut() {
                    member.deliver(committed.id, false, deleted.clone());
                }
                state.flush_members();
                self.empty_room(room, &mut state);
            }
        }
    }

    /// A logged-in connection of `user`: invitations and its
    /// conversations reach it anywhere. `welcome` runs under the index's
    /// lock, before the connection is in it: nothing sent to the user
    /// comes before the welcome, and nothing committed after the welcome
    /// was queued misses the connection.
    pub fn online(&self, user: &UserName, conn: ConnId, outbox: &Outbox, welcome: impl FnOnce()) {
        let mut online = lock(&self.online);
        welcome();
        online
            .entry(user.folded().into_string())
            .or_default()
            .insert(conn, outbox.clone());
    }

    /// The connection has closed.
    pub fn offline(&self, user: &UserName, conn: ConnId) {
        let mut online = lock(&self.online);
        let folded = user.folded().into_string();
        if let Some(conns) = online.get_mut(&folded) {
            conns.remove(&conn);
            if conns.is_empty() {
                online.remove(&folded);
            }
        }
    }

    /// The connections on this node of each of `users` (any spelling) that
    /// `keep` accepts, gathered under the index's lock (a room's lock may
    /// be taken inside it) and used after it is released.
    fn online_outboxes(
        &self,
        users: &[&str],
        keep: impl Fn(ConnId) -> bool,
    ) -> Vec<(ConnId, Outbox)> {
        let online = lock(&self.online);
        users
            .iter()
            .filter_map(|user| online.get(&user.to_ascii_lowercase()))
            .flatten()
            .filter(|(conn, _)| keep(**conn))
            .map(|(conn, outbox)| (*conn, outbox.clone()))
            .collect()
    }

    /// Sends `frame` to every connection of `user` on this node but
    /// `except` (a read marker reaching the user's other devices).
    pub fn send_to_user(&self, user: &UserName, except: Option<ConnId>, frame: &ServerFrame) {
        let outboxes = self.online_outboxes(&[user.as_str()], |conn| Some(conn) != except);
        if outboxes.is_empty() {
            return;
        }
        let frame = self::frame(frame);
        for (_, outbox) in outboxes {
            outbox.push(frame.clone());
        }
    }

    /// Sends an invitation to the invitee's connections on this node that
    /// are not in the room (those in it get it as members).
    fn invite_outside(&self, room: Option<&Room>, committed: &Committed, subject: &str) {
        let StreamEvent::Entry(entry) = &committed.event else {
            return;
        };
        let outside = self.online_outboxes(&[subject], |conn| {
            room.is_none_or(|room| !room.is_member(conn))
        });
        if outside.is_empty() {
            return;
        }
        let invite = frame(&ServerFrame::from(entry.without_reference()));
        for (_, outbox) in outside {
            outbox.push(invite.clone());
        }
    }

    /// Sends a conversation's entry to its two users' connections on this
    /// node that are not in the room (those in it get it as members): a
    /// connection is in every conversation of its user without joining.
    /// The origin's copy carries the `ref`: it is the acknowledgement.
    fn converse_outside(&self, room: Option<&Room>, committed: &Committed, users: (&str, &str)) {
        let StreamEvent::Entry(entry) = &committed.event else {
            return;
        };
        let outside = self.online_outboxes(&[users.0, users.1], |conn| {
            room.is_none_or(|room| !room.is_member(conn))
        });
        let mut shared: Option<Frame> = None;
        for (conn, outbox) in outside {
            let copy = if conn == committed.origin && entry.reference().is_some() {
                frame(&ServerFrame::from(entry.clone()))
            } else {
                shared
                    .get_or_insert_with(|| frame(&ServerFrame::from(entry.without_reference())))
                    .clone()
            };
            outbox.push(copy);
        }
    }

    /// Takes every connection of `subject` out of the room, as if each
    /// had left: the others hear the departure (as presence decides), the
    /// subject's connections hear nothing more.
    fn remove_user(&self, room: &Room, state: &mut RoomState, subject: &str) {
        let subject = subject.to_lowercase();
        let conns: Vec<ConnId> = state
            .members
            .iter()
            .filter(|(_, member)| member.user.as_str().to_lowercase() == subject)
            .map(|(conn, _)| *conn)
            .collect();
        for conn in conns {
            self.leave_locked(room, state, conn);
        }
    }

    /// Takes every member out of a deleted room at once, telling nobody.
    fn empty_room(&self, room: &Room, state: &mut RoomState) {
        if state.members.is_empty() {
            return;
        }
        state.members.clear();
        state.users.clear();
        self.metrics.rooms_active.fetch_sub(1, Ordering::Relaxed);
        self.remove(room, state);
    }
}

/// A conversation room's two users (folded names, as the `online` index
/// keys them), or `None` for any other room.
fn conversation_users(room: &str) -> Option<(&str, &str)> {
    room.strip_prefix('@')?.split_once('+')
}

/// Queues one entry to every member of the room; the origin gets the copy
/// with its `ref`.
fn deliver_entry(state: &mut RoomState, committed: &Committed, entry: &Entry) {
    // Encoded on first need: a sender alone in its room gets only its own
    // copy, and the shared one would be encoded for nobody.
    let mut shared: Option<Frame> = None;
    for (conn, member) in state.members.iter_mut() {
        let copy = if *conn == committed.origin && entry.reference().is_some() {
            frame(&ServerFrame::from(entry.clone()))
        } else {
            shared
                .get_or_insert_with(|| frame(&ServerFrame::from(entry.without_reference())))
                .clone()
        };
        member.deliver(committed.id, false, copy);
    }
}

/// The single-node listener: committed messages go straight to this
/// node's members.
impl CommitListener for RoomRegistry {
    fn committed(&self, batch: &[Committed]) {
        self.deliver(batch);
    }
}

fn presence_frame(change: &PresenceChange) -> ServerFrame {
    let (room, user, ts) = (change.room.to_string(), change.user.to_string(), change.ts);
    if change.entered {
        ServerFrame::Join { room, user, ts }
    } else {
        ServerFrame::Leave { room, user, ts }
    }
}

fn typing_frame(room: &RoomName, user: &UserName) -> ServerFrame {
    ServerFrame::Typing {
        room: room.to_string(),
        user: user.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use chat_proto::{Message, decode_server};

    use super::*;

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    fn user(name: &str) -> UserName {
        UserName::parse(name).unwrap()
    }

    fn registry() -> (RoomRegistry, Arc<Metrics>) {
        let metrics = Arc::new(Metrics::default());
        (
            RoomRegistry::new(metrics.clone(), PresenceRoute::Local),
            metrics,
        )
    }

    fn committed(room: &str, id: u64, origin: u64) -> Committed {
        let message = Message {
            room: room.into(),
            id,
            user: "bob".into(),
            text: format!("m{id}"),
            ts: 1,
            reference: Some(format!("r{id}")),
            ..Message::default()
        };
        Committed::entry(message.into(), ConnId(origin))
    }

    fn joined(name: &str, last_id: u64) -> ServerFrame {
        ServerFrame::Joined {
            room: name.into(),
            members: vec![],
            history: vec![],
            more: false,
            last_id,
            details: None,
        }
    }

    /// What a member would see, frame by frame: `joined@last_id` (and
    /// `[members]` when it lists any), `id:ref` for messages, `+user` /
    /// `-user` for presence.
    fn seen(outbox: &Outbox) -> Vec<String> {
        let mut seen = Vec::new();
        for (frame, _) in outbox.take_queued() {
            seen.push(match decode_server(frame.payload()).unwrap() {
                ServerFrame::Joined {
                    last_id, members, ..
                } if members.is_empty() => format!("joined@{last_id}"),
                ServerFrame::Joined {
                    last_id, members, ..
                } => format!("joined@{last_id}[{}]", members.join(",")),
                ServerFrame::Message(m) => format!("{}:{}", m.id, m.reference.unwrap_or_default()),
                ServerFrame::Join { user, .. } => format!("+{user}"),
                ServerFrame::Leave { user, .. } => format!("-{user}"),
                ServerFrame::Error { .. } => "error".into(),
                other => format!("{other:?}"),
            });
        }
        seen
    }

    #[test]
    fn a_pending_member_gets_joined_first_then_only_what_the_snapshot_missed() {
        let (registry, _) = registry();
        let lobby = room("lobby");
        let outbox = Outbox::new(64);
        let handle = registry.subscribe(&lobby, ConnId(1), &user("alice"), &outbox);
        // While alice's snapshot is being read: 1 and 2 commit (the
        // snapshot covers them), bob arrives, 3 commits after the read.
        registry.deliver(&[committed("lobby", 1, 9), committed("lobby", 2, 9)]);
        let bob_outbox = Outbox::new(64);
        let bob_room = registry.subscribe(&lobby, ConnId(2), &user("bob"), &bob_outbox);
        registry.admit(&bob_room, ConnId(2));
        registry.deliver(&[committed("lobby", 3, 9)]);
        assert!(seen(&outbox).is_empty(), "held while pending");

        registry.activate(&handle, ConnId(1), 2, joined("lobby", 2));
        // Bob's arrival is in the list, read now: not told again.
        assert_eq!(seen(&outbox), ["joined@2[bob]", "3:"]);
        registry.deliver(&[committed("lobby", 4, 1)]);
        assert_eq!(
            seen(&outbox),
            ["4:r4"],
            "live now; the sender's copy keeps its ref"
        );
        // Bob is still pending: everything waits for his own `joined`.
        assert!(seen(&bob_outbox).is_empty());
        let bob_room = registry.subscribe(&lobby, ConnId(2), &user("bob"), &bob_outbox);
        registry.activate(&bob_room, ConnId(2), 3, joined("lobby", 3));
        assert_eq!(seen(&bob_outbox), ["joined@3[bob]", "4:"]);
    }

    /// Two joining at once, each admitted while the other is pending: each
    /// `joined` lists both, and neither is then told the other arrived
    /// (the list used to be read before the held `join` was released, and
    /// a user could be both listed and announced). Later arrivals and
    /// departures come live.
    #[test]
    fn a_user_listed_in_joined_is_not_announced_again() {
        let (registry, _) = registry();
        let lobby = room("lobby");
        let (alice, bob, carol) = (Outbox::new(64), Outbox::new(64), Outbox::new(64));
        let alice_room = registry.subscribe(&lobby, ConnId(1), &user("alice"), &alice);
        let bob_room = registry.subscribe(&lobby, ConnId(2), &user("bob"), &bob);
        registry.admit(&alice_room, ConnId(1));
        registry.admit(&bob_room, ConnId(2));
        registry.activate(&alice_room, ConnId(1), 0, joined("lobby", 0));
        registry.activate(&bob_room, ConnId(2), 0, joined("lobby", 0));
        assert_eq!(seen(&alice), ["joined@0[alice,bob]"]);
        assert_eq!(seen(&bob), ["joined@0[alice,bob]"]);
        let carol_room = registry.subscribe(&lobby, ConnId(3), &user("carol"), &carol);
        registry.admit(&carol_room, ConnId(3));
        registry.activate(&carol_room, ConnId(3), 0, joined("lobby", 0));
        registry.leave(&carol_room, ConnId(3));
        assert_eq!(seen(&alice), ["+carol", "-carol"]);
        assert_eq!(seen(&bob), ["+carol", "-carol"]);
        assert_eq!(seen(&carol), ["joined@0[alice,bob,carol]"]);
    }

    #[test]
    fn a_joiner_is_heard_of_only_once_admitted() {
        let (registry, _) = registry();
        let lobby = room("lobby");
        let (alice, bob) = (Outbox::new(64), Outbox::new(64));
        let handle = registry.subscribe(&lobby, ConnId(1), &user("alice"), &alice);
        registry.admit(&handle, ConnId(1));
        registry.activate(&handle, ConnId(1), 0, joined("lobby", 0));
        seen(&alice);
        // Refused by the store's read: in and out, and nobody heard.
        let refused = registry.subscribe(&lobby, ConnId(2), &user("bob"), &bob);
        assert_eq!(registry.local_members("lobby"), ["alice"]);
        assert!(registry.leave(&refused, ConnId(2)));
        assert!(seen(&alice).is_empty(), "no arrival, no departure");
        // Let in: heard once, and a re-join's admit says nothing more.
        let joining = registry.subscribe(&lobby, ConnId(2), &user("bob"), &bob);
        registry.admit(&joining, ConnId(2));
        registry.admit(&joining, ConnId(2));
        assert_eq!(registry.local_members("lobby"), ["alice", "bob"]);
        registry.activate(&joining, ConnId(2), 0, joined("lobby", 0));
        let again = registry.subscribe(&lobby, ConnId(2), &user("bob"), &bob);
        registry.admit(&again, ConnId(2));
        assert_eq!(seen(&alice), ["+bob"]);
        // A re-join refused: still in, held frames released after the error.
        registry.deliver(&[committed("lobby", 1, 9)]);
        let forbidden = ServerFrame::error(chat_proto::ErrorCode::Forbidden, "banned", None);
        registry.activate(&again, ConnId(2), 0, forbidden);
        assert_eq!(seen(&bob), ["joined@0[alice,bob]", "error", "1:"]);
        registry.leave(&again, ConnId(2));
        assert_eq!(seen(&alice), ["1:", "-bob"]);
    }

    #[test]
    fn a_conversations_entries_reach_both_users_in_it_or_not_and_no_one_else() {
        let (registry, _) = registry();
        let conversation = RoomName::parse_for("@bob", &user("Ann")).unwrap();
        let (ann, bob_in, bob_out, carol) = (
            Outbox::new(64),
            Outbox::new(64),
            Outbox::new(64),
            Outbox::new(64),
        );
        registry.online(&user("Ann"), ConnId(1), &ann, || ());
        registry.online(&user("bob"), ConnId(2), &bob_in, || ());
        registry.online(&user("bob"), ConnId(3), &bob_out, || ());
        registry.online(&user("carol"), ConnId(4), &carol, || ());
        let handle = registry.subscribe(&conversation, ConnId(2), &user("bob"), &bob_in);
        registry.activate(&handle, ConnId(2), 0, joined("@ann+bob", 0));
        // Bob joined, and nobody hears of it: a conversation has no presence.
        let other_bob = registry.subscribe(&conversation, ConnId(5), &user("bob"), &bob_in);
        registry.leave(&other_bob, ConnId(5));
        assert_eq!(seen(&bob_in), ["joined@0"]);

        // Ann, outside the room, sent 1: her copy has its ref.
        registry.deliver(&[committed("@ann+bob", 1, 1)]);
        assert_eq!(seen(&ann), ["1:r1"]);
        assert_eq!(seen(&bob_in), ["1:"], "once, as a member");
        assert_eq!(seen(&bob_out), ["1:"]);
        assert!(seen(&carol).is_empty());
        registry.offline(&user("bob"), ConnId(3));
        registry.deliver(&[committed("@ann+bob", 2, 0)]);
        assert!(seen(&bob_out).is_empty(), "offline");
        assert_eq!(seen(&ann), ["2:"]);
    }

    #[test]
    fn the_id_floor_drops_what_history_already_held() {
        let (registry, _) = registry();
        let lobby = room("lobby");
        let outbox = Outbox::new(64);
        let handle = registry.subscribe(&lobby, ConnId(1), &user("alice"), &outbox);
        registry.deliver(&[committed("lobby", 5, 9), committed("lobby", 6, 9)]);
        registry.activate(&handle, ConnId(1), 5, joined("lobby", 5));
        assert_eq!(seen(&outbox), ["joined@5", "6:"]);
        // Copies arriving late (another node's, or a repair read) and
        // messages of other rooms are not shown again.
        registry.deliver(&[
            committed("lobby", 4, 9),
            committed("lobby", 5, 9),
            committed("elsewhere", 7, 9),
            committed("lobby", 7, 9),
        ]);
        assert_eq!(seen(&outbox), ["7:"]);
        // A re-join raises the floor, never lowers it.
        let again = registry.subscribe(&lobby, ConnId(1), &user("alice"), &outbox);
        registry.deliver(&[committed("lobby", 8, 9)]);
        registry.activate(&again, ConnId(1), 3, joined("lobby", 3));
        registry.deliver(&[committed("lobby", 5, 9)]);
        assert_eq!(seen(&outbox), ["joined@3", "8:"]);
    }

    #[test]
    fn the_last_member_leaving_frees_the_room() {
        let (registry, metrics) = registry();
        let lobby = room("lobby");
        let outbox = Outbox::new(64);
        let first = registry.subscribe(&lobby, ConnId(1), &user("alice"), &outbox);
        let second = registry.subscribe(&lobby, ConnId(2), &user("alice"), &outbox);
        assert!(Arc::ptr_eq(&first, &second));
        registry.subscribe(&room("other"), ConnId(1), &user("alice"), &outbox);
        assert_eq!(registry.room_count(), 2);

        assert!(registry.leave(&first, ConnId(1)));
        assert_eq!(registry.room_count(), 2, "alice's second connection stays");
        assert!(registry.leave(&first, ConnId(2)));
        assert!(!registry.leave(&first, ConnId(2)), "already gone");
        assert_eq!(registry.room_count(), 1);
        assert_eq!(metrics.rooms_active.load(Ordering::Relaxed), 1);
        assert!(registry.local_members("lobby").is_empty());

        // The removed room takes no one; a new join gets a fresh room that
        // deliveries reach.
        assert!(!registry.add_pending(&first, ConnId(3), &user("carol"), &outbox));
        let fresh = registry.subscribe(&lobby, ConnId(3), &user("carol"), &outbox);
        registry.admit(&fresh, ConnId(3));
        assert!(!Arc::ptr_eq(&first, &fresh));
        registry.activate(&fresh, ConnId(3), 0, joined("lobby", 0));
        seen(&outbox);
        registry.deliver(&[committed("lobby", 1, 9)]);
        assert_eq!(seen(&outbox), ["1:"]);
        assert_eq!(registry.local_members("lobby"), ["carol"]);
    }

    #[test]
    fn only_rooms_that_never_held_a_message_are_reported_vacated() {
        let (registry, _) = registry();
        let vacated = Arc::new(Mutex::new(Vec::new()));
        let heard = vacated.clone();
        registry.on_vacated(Box::new(move |room: &RoomName| {
            heard.lock().unwrap().push(room.to_string());
        }));
        let outbox = Outbox::new(64);
        let alice = user("alice");
        // Never held a message: reported once its last member leaves.
        let unused = registry.subscribe(&room("unused"), ConnId(1), &alice, &outbox);
        registry.activate(&unused, ConnId(1), 0, joined("unused", 0));
        // A message delivered while in it, or a snapshot with messages.
        let talked = registry.subscribe(&room("talked"), ConnId(1), &alice, &outbox);
        registry.activate(&talked, ConnId(1), 0, joined("talked", 0));
        registry.deliver(&[committed("talked", 1, 9)]);
        let old = registry.subscribe(&room("old"), ConnId(1), &alice, &outbox);
        registry.activate(&old, ConnId(1), 7, joined("old", 7));
        let shared = registry.subscribe(&room("unused"), ConnId(2), &alice, &outbox);
        for (handle, conn) in [(&unused, 1), (&talked, 1), (&old, 1)] {
            registry.leave(handle, ConnId(conn));
        }
        assert!(
            vacated.lock().unwrap().is_empty(),
            "unused still has a member"
        );
        registry.leave(&shared, ConnId(2));
        assert_eq!(*vacated.lock().unwrap(), ["unused"]);
        assert_eq!(registry.room_count(), 0, "every empty room left memory");
    }
}
