//! Cross-node seam: who is in a room and which guest names are taken, and
//! in a cluster how committed messages reach every node. One node uses
//! [`LocalBroker`], which is the in-process registry itself; a cluster puts
//! a shared broker ([`RedisBroker`]) here, and the rest of the server does
//! not change.
//!
//! The store does not know the broker: it tells a [`CommitListener`] of
//! its commits, which is the registry on one node and the cluster's
//! [`ClusterFanOut`] (sequencing, then publishing) on many. The broker
//! holds the store (to read what it missed), never the other way round.

mod fan_out;
mod local;
mod redis;
mod scripts;
mod sequencer;

use std::future::Future;
use std::pin::Pin;

use chat_proto::{RoomName, UserName};

pub use self::redis::RedisBroker;
pub use fan_out::{ClusterFanOut, PublishQueue};
pub use local::LocalBroker;

#[cfg(doc)]
use crate::store::CommitListener;

/// Why the broker could not answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BrokerError {
    #[error("broker unavailable: {0}")]
    Unavailable(String),
}

pub type BrokerFuture<T> = Pin<Box<dyn Future<Output = Result<T, BrokerError>> + Send + 'static>>;

/// Presence and guest names for one node or many.
pub trait Broker: Send + Sync + 'static {
    /// Distinct users in the room, across every node, sorted.
    fn members(&self, room: &RoomName) -> BrokerFuture<Vec<String>>;
    /// Distinct users in each of these rooms, across every node.
    fn member_counts(&self, rooms: Vec<String>) -> BrokerFuture<Vec<u32>>;
    /// Reserves a guest name; false when a live session already holds it.
    fn claim_guest(&self, user: &UserName) -> BrokerFuture<bool>;
    /// Frees a name taken with [`Broker::claim_guest`]. Must not block.
    fn release_guest(&self, user: &UserName);
    /// Passes a `typing` this node relayed to its own members on to the
    /// other nodes' members. Must not block; nothing to do on one node.
    fn relay_typing(&self, _room: &RoomName, _user: &UserName) {}
    /// Passes a read marker that moved on this node to the user's
    /// connections on the other nodes. Must not block; nothing to do on
    /// one node.
    fn relay_read(&self, _room: &RoomName, _user: &UserName, _id: u64) {}
    /// Hands over what this node still holds (its presence, messages not
    /// yet passed on) once its sessions have closed, and stops.
    fn close(&self) -> BrokerFuture<()> {
        Box::pin(async { Ok(()) })
    }
}
