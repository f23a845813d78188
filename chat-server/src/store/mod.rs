//! Storage seam: the [`MessageStore`] trait over domain types (messages,
//! rooms, accounts) and the [`CommitListener`] that hears about every
//! committed message, in id order, so fan-out happens only after a message
//! is durable. No database type crosses this seam, so a PostgreSQL store can
//! sit beside the SQLite one.
//!
//! The rules both stores follow are written once: `batch` (the writer's
//! queue, group commit, answers after commit, refusing after close),
//! `commits` (committed batches streamed to a fan-out task that delivers,
//! then acknowledges) and `page` (page bounds and paging, the rooms a
//! join need not create, the schema-version rule) and `listing` (room
//! list pages, the same from both stores). [`sqlite`] and
//! [`postgres`] keep only their SQL and how they run it. [`health`] says
//! whether storage takes writes now (and logs and counts its faults);
//! `db_file` keeps a second server off a SQLite file and notices the file
//! being deleted or replaced under a running one; `fingerprint` is the
//! content half of exactly once (a resent request is found by its `ref`
//! and fingerprint, not stored again). The rules of rooms people own are
//! in `rules`, those of fixable messages in `fixable`, each backend's SQL
//! for them in `*_rooms` and `*_fixable`; search's words and paging are
//! in `search`, each backend's index reads in `*_search`. Each store's schema migrations
//! past version 1 are SQL files in `store/schema/` (or constants beside
//! their SQL).

mod batch;
mod commits;
pub mod crash_hook;
mod db_file;
mod entry;
mod fingerprint;
mod fixable;
pub mod health;
mod listing;
mod mine;
mod page;
pub mod postgres;
mod postgres_fixable;
mod postgres_mine;
mod postgres_rooms;
mod postgres_search;
mod rows;
mod rules;
pub mod search;
pub mod sqlite;
mod sqlite_fixable;
mod sqlite_mine;
mod sqlite_rooms;
mod sqlite_search;

use std::future::Future;
use std::pin::Pin;

use chat_proto::{Entry, Role, RoomName, UserName};
use tokio::sync::oneshot;

pub use entry::{
    Actor, Change, Committed, NewEntry, NewMessage, Outcome, Refusal, Seen, StreamEvent,
};
pub use health::{StorageFault, StoreHealth};
pub use mine::{MAX_MY_ROOMS, MyRoom};
pub use postgres::PostgresStore;
pub use search::{SearchPage, SearchQuery, SearchScope};
pub use sqlite::{SqliteStore, SyncMode};

/// Identifies the connection a message came from, so fan-out can give the
/// sender its own copy (with its `ref`) as the acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Which slice of a room's history to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// The newest `limit` messages.
    Newest { limit: u32 },
    /// The newest `limit` messages with an id below `id`.
    Before { id: u64, limit: u32 },
    /// The oldest `limit` messages with an id above `id`.
    After { id: u64, limit: u32 },
}

/// Entries in ascending id order, and whether the page was cut at its limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryPage {
    pub entries: Vec<Entry>,
    pub more: bool,
}

/// A room's state as a joiner sees it (`joined`'s protocol-2 fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomState {
    pub topic: String,
    pub owner: Option<String>,
    /// In name order.
    pub ops: Vec<String>,
    pub private: bool,
    /// The joiner's role.
    pub role: Role,
    /// Where a registered joiner stopped reading (0 for a guest).
    pub read_id: u64,
    /// Whether the room is in a registered joiner's remembered rooms
    /// already (so the join need not write it).
    pub listed: bool,
}

impl Default for RoomState {
    fn default() -> Self {
        Self {
            topic: String::new(),
            owner: None,
            ops: Vec::new(),
            private: false,
            role: Role::Member,
            read_id: 0,
            listed: false,
        }
    }
}

/// What a join reads: a history page, the room's newest id and its state,
/// taken together, so entries committed later are exactly those with a
/// larger id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomSnapshot {
    pub page: HistoryPage,
    pub last_id: u64,
    pub state: RoomState,
}

/// A room as a join (or a search of it) finds it, for one viewer, in
/// either backend's one statement.
struct JoinState {
    room_id: i64,
    /// The room's newest id in the same snapshot.
    last_id: u64,
    /// The room's state and the viewer's role, read marker and listing,
    /// or why the viewer may not enter.
    state: Result<RoomState, Refusal>,
}

/// A join's answer: the snapshot, or why the joiner may not enter (banned,
/// or a private room it is not on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    Joined(RoomSnapshot),
    Refused(Refusal),
}

/// A room as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRoom {
    pub name: String,
    pub last_id: u64,
    pub topic: String,
    pub private: bool,
}

/// An account as the store keeps it: the spelling first registered, which
/// every session of it answers with, and its password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAccount {
    pub name: UserName,
    pub password_hash: String,
}

/// One page of the room list: names containing `contains`, after `after`,
/// in name (byte) order, at most `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomQuery {
    /// Lower case, as room names are; `None` lists every room.
    pub contains: Option<String>,
    /// Only names that sort after this one.
    pub after: Option<String>,
    pub limit: u32,
}

/// Rooms in name order, and whether the page was cut at its limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomPage {
    pub rooms: Vec<StoredRoom>,
    pub more: bool,
}

/// Why a storage operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {path}: {reason}")]
    Open { path: String, reason: String },
    #[error(
        "database {path} is in use by another chat-server{}, which holds {lock}; stop it or \
         pass another --db",
        holder.map(|pid| format!(" (process {pid})")).unwrap_or_default()
    )]
    InUse {
        path: String,
        lock: String,
        holder: Option<u32>,
    },
    #[error("database error: {0}")]
    Database(String),
    /// Refused without trying, or failed, because of a storage fault.
    #[error("{0}")]
    Unavailable(StorageFault),
    #[error("the store has shut down")]
    Closed,
    /// The room's rules refused the entry (from [`MessageStore::queue_append`]).
    #[error("refused: {0}")]
    Refused(&'static str),
}

pub type StoreFuture<T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'static>>;

/// Resolves to what became of a queued entry once its batch committed.
pub type Receipt = StoreFuture<Outcome>;

/// Where a store's writer answers a queued entry.
pub type ReceiptSender = oneshot::Sender<Result<Outcome, StoreError>>;

/// Durable storage for messages, rooms and accounts.
///
/// Every method queues its work at once and returns a future for the
/// result, so a session can keep many appends in flight.
pub trait MessageStore: Send + Sync + 'static {
    /// Queues an entry for storage. The outer future resolves once the
    /// entry holds its place in the queue, so entries a session queues
    /// one after another get ids in that order; the [`Receipt`] resolves to
    /// its [`Outcome`] after the commit (its id; the entry the same request
    /// stored before, which nobody else hears of; or the rule that refused
    /// it), and the [`CommitListener`] has heard of a stored one before
    /// that.
    fn queue_entry(&self, entry: NewEntry) -> StoreFuture<Receipt>;
    /// Queues a plain message, as [`MessageStore::queue_entry`] does; the
    /// inner future resolves to its id (the stored one's, for a request
    /// sent before), or [`StoreError::Refused`].
    fn queue_append(&self, message: NewMessage) -> StoreFuture<StoreFuture<u64>> {
        let queued = self.queue_entry(message.into());
        Box::pin(async move {
            let receipt = queued.await?;
            let id: StoreFuture<u64> = Box::pin(async move {
                match receipt.await? {
                    Outcome::Stored(id) => Ok(id),
                    Outcome::Duplicate(entry) => Ok(entry.id()),
                    Outcome::Refused(refusal) => Err(StoreError::Refused(refusal.reason)),
                }
            });
            Ok(id)
        })
    }
    /// Creates the room if it is new (or was deleted), owned by `viewer`
    /// when registered, and reads a page of it with its newest id and
    /// state, in one read that sees every commit fanned out before the call
    /// (see [`crate::registry`] for why a join relies on that). A banned
    /// viewer, or one not on a private room's list, is refused by the same
    /// read, and a room that exists is then left as it was: the session
    /// asks nothing before, so one join is one read (the joiner, pending
    /// and not yet present, shows no presence meanwhile).
    fn join(&self, room: &RoomName, viewer: &Actor, page: Page) -> StoreFuture<JoinOutcome>;
    /// Reads a page of a room's history.
    fn history(&self, room: &RoomName, page: Page) -> StoreFuture<HistoryPage>;
    /// Every room, by name, deleted rooms left out (for a cluster node's
    /// catch-up; clients get
    /// [`MessageStore::list_rooms`] pages).
    fn rooms(&self) -> StoreFuture<Vec<StoredRoom>>;
    /// One page of the room list, read beside the writer (never on it).
    fn list_rooms(&self, query: RoomQuery) -> StoreFuture<RoomPage>;
    /// The private rooms `viewer` may see in a listing (owner, op, on the
    /// access list), by name.
    fn readable_private(&self, viewer: &Actor) -> StoreFuture<Vec<String>>;
    /// The messages matching `query` that `viewer` may read, in one read
    /// beside the writer (`store/search.rs`); refused when the query names
    /// a room the viewer may not join (banned, or private and not on it).
    fn search(
        &self,
        viewer: &Actor,
        query: SearchQuery,
    ) -> StoreFuture<Result<SearchPage, Refusal>>;
    /// Forgets a room that never held a message (its last member has
    /// left); true when it was deleted, false when it holds messages or
    /// is not there.
    fn sweep_room(&self, room: &RoomName) -> StoreFuture<bool>;
    /// The rooms that never held a message, for the sweep at start.
    fn unused_rooms(&self) -> StoreFuture<Vec<RoomName>>;
    /// The account registered under this name in any spelling.
    fn account(&self, user: &UserName) -> StoreFuture<Option<StoredAccount>>;
    /// The stored password hash of the account registered under this name
    /// in any spelling.
    fn password_hash(&self, user: &UserName) -> StoreFuture<Option<String>> {
        let account = self.account(user);
        Box::pin(async move { Ok(account.await?.map(|account| account.password_hash)) })
    }
    /// Registers an account; false when the name, in any spelling, was
    /// registered meanwhile.
    fn create_account(&self, user: &UserName, password_hash: String) -> StoreFuture<bool>;
    /// Every account's name, in name order (for `chat-server user list`).
    fn account_names(&self) -> StoreFuture<Vec<String>>;
    /// Replaces an account's password hash; false when there is no such
    /// account.
    fn set_password(&self, user: &UserName, password_hash: String) -> StoreFuture<bool>;
    /// Removes an account; false when there was none. Its messages stay.
    fn remove_account(&self, user: &UserName) -> StoreFuture<bool>;
    /// Adds the room to the registered user's remembered rooms (`rooms
    /// mine`), or lists it again, keeping its read marker; nothing for a
    /// name without an account or a room not there. A join calls it, and
    /// so does whatever else makes a room one of the user's (a direct
    /// conversation, for both of its users).
    fn remember_room(&self, user: &UserName, room: &RoomName) -> StoreFuture<()>;
    /// Takes the room out of the user's remembered rooms (a `leave`),
    /// keeping its read marker. A kick or ban does the same inside its
    /// entry's transaction.
    fn forget_room(&self, user: &UserName, room: &RoomName) -> StoreFuture<()>;
    /// The user's remembered rooms, deleted ones left out, in name order,
    /// at most [`MAX_MY_ROOMS`]; read beside the writer.
    fn my_rooms(&self, user: &UserName) -> StoreFuture<Vec<MyRoom>>;
    /// Moves the registered user's read marker in the room forward to
    /// `id`, or to the room's newest id when `id` is past it; the new
    /// marker when it moved, `None` when it did not.
    fn mark_read(&self, user: &UserName, room: &RoomName, id: u64) -> StoreFuture<Option<u64>>;
    /// The fault that keeps the store from taking writes now, if any
    /// (what `/healthz` reports).
    fn fault(&self) -> Option<StorageFault>;
    /// Finishes queued work, makes it durable and stops; an error when
    /// that could not be done (a storage fault included), so shutdown
    /// never claims a flush that did not happen.
    fn close(&self) -> StoreFuture<()>;
}

/// Hears about committed entries, in commit (and so id) order, before the
/// appending sessions are told. Called from the store's fan-out task on the
/// tokio runtime (see `store/commits.rs`): it must not block.
pub trait CommitListener: Send + Sync + 'static {
    fn committed(&self, batch: &[Committed]);
}
