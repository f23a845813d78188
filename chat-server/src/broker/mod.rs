//! Cross-node seam: who hears a committed message, who is in a room, and
//! which guest names are taken. One node uses [`LocalBroker`], which is the
//! in-process registry itself; a cluster puts a shared broker
//! ([`RedisBroker`]) here, and the rest of the server does not change.

mod local;
mod redis;
mod scripts;
mod sequencer;

use std::future::Future;
use std::pin::Pin;

use chat_proto::{RoomName, UserName};

pub use self::redis::RedisBroker;
pub use local::LocalBroker;

use crate::store::CommitListener;

/// Why the broker could not answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BrokerError {
    #[error("broker unavailable: {0}")]
    Unavailable(String),
}

pub type BrokerFuture<T> = Pin<Box<dyn Future<Output = Result<T, BrokerError>> + Send + 'static>>;

/// Fan-out, presence and guest names for one node or many.
///
/// As a [`CommitListener`] it hears this node's committed messages and must
/// get them to every node's [`crate::registry::RoomRegistry::deliver`] (this
/// node's included), in id order per room, once.
pub trait Broker: CommitListener {
    /// Distinct users in the room, across every node, sorted.
    fn members(&self, room: &RoomName) -> BrokerFuture<Vec<String>>;
    /// Distinct users in each of these rooms, across every node.
    fn member_counts(&self, rooms: Vec<String>) -> BrokerFuture<Vec<u32>>;
    /// Reserves a guest name; false when a live session already holds it.
    fn claim_guest(&self, user: &UserName) -> BrokerFuture<bool>;
    /// Frees a name taken with [`Broker::claim_guest`]. Must not block.
    fn release_guest(&self, user: &UserName);
    /// Hands over what this node still holds (its presence, messages not
    /// yet passed on) once its sessions have closed, and stops.
    fn close(&self) -> BrokerFuture<()> {
        Box::pin(async { Ok(()) })
    }
}
