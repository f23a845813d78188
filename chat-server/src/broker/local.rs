//! The single-node [`Broker`]: members and guest names live in this
//! process. Delivery needs no broker here: the store's fan-out hands
//! commits straight to the [`RoomRegistry`].

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use chat_proto::{FoldedName, RoomName, UserName};

use super::{Broker, BrokerFuture};
use crate::registry::RoomRegistry;
use crate::sync::lock;

pub struct LocalBroker {
    registry: Arc<RoomRegistry>,
    /// Live guest names, folded: `Dav` and `dav` are one guest name.
    guests: Mutex<HashSet<FoldedName>>,
}

impl LocalBroker {
    pub fn new(registry: Arc<RoomRegistry>) -> Self {
        Self {
            registry,
            guests: Mutex::new(HashSet::new()),
        }
    }

    fn guests(&self) -> MutexGuard<'_, HashSet<FoldedName>> {
        lock(&self.guests)
    }
}

impl Broker for LocalBroker {
    fn members(&self, room: &RoomName) -> BrokerFuture<Vec<String>> {
        let members = self.registry.local_members(room.as_str());
        Box::pin(async move { Ok(members) })
    }

    fn member_counts(&self, rooms: Vec<String>) -> BrokerFuture<Vec<u32>> {
        let counts = rooms
            .iter()
            .map(|room| u32::try_from(self.registry.local_members(room).len()).unwrap_or(u32::MAX))
            .collect();
        Box::pin(async move { Ok(counts) })
    }

    fn claim_guest(&self, user: &UserName) -> BrokerFuture<bool> {
        let claimed = self.guests().insert(user.folded());
        Box::pin(async move { Ok(claimed) })
    }

    fn release_guest(&self, user: &UserName) {
        self.guests().remove(&user.folded());
    }
}
