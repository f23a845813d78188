//! Rooms that never held a message are not kept: when one loses its last
//! member on this node and nobody is in it on any node, the store forgets
//! it; at start, every such room nobody is in is forgotten too (a single
//! node's SQLite store already does that when it opens).
//!
//! This sits between the registry (which sees a room empty), the broker
//! (which knows whether anyone is in it elsewhere) and the store (which
//! deletes it), because the store knows no broker. It holds both weakly:
//! the registry, which holds it, is held by both.

use std::sync::{Arc, Weak};

use chat_proto::RoomName;

use crate::broker::Broker;
use crate::registry::RoomRegistry;
use crate::store::MessageStore;

/// Rooms asked about in one broker call at start.
const START_CHUNK: usize = 500;

/// Forgets rooms that never held a message once nobody is in them.
pub struct Sweeper {
    store: Weak<dyn MessageStore>,
    broker: Weak<dyn Broker>,
}

impl Sweeper {
    /// Hooks the sweeper to the registry and sweeps what is left from an
    /// earlier run. Needs a tokio runtime.
    pub fn start(store: &Arc<dyn MessageStore>, broker: &Arc<dyn Broker>, registry: &RoomRegistry) {
        let sweeper = Arc::new(Self {
            store: Arc::downgrade(store),
            broker: Arc::downgrade(broker),
        });
        let hooked = sweeper.clone();
        registry.on_vacated(Box::new(move |room| hooked.vacated(room.clone())));
        tokio::spawn(async move { sweeper.sweep_left_over().await });
    }

    /// A room emptied here; called from under no lock, on the runtime.
    fn vacated(self: &Arc<Self>, room: RoomName) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let sweeper = self.clone();
        runtime.spawn(async move { sweeper.sweep(room).await });
    }

    async fn sweep(&self, room: RoomName) {
        let (Some(store), Some(broker)) = (self.store.upgrade(), self.broker.upgrade()) else {
            return;
        };
        match broker.members(&room).await {
            Ok(members) if members.is_empty() => {}
            Ok(_) => return,
            Err(e) => {
                tracing::debug!(room = %room, error = %e, "not sweeping a room: no member count");
                return;
            }
        }
        if let Err(e) = store.sweep_room(&room).await {
            // Swept at the next start instead.
            tracing::debug!(room = %room, error = %e, "could not forget an unused room");
        }
    }

    /// Sweeps the rooms that never held a message and have nobody in them.
    async fn sweep_left_over(&self) {
        let (Some(store), Some(broker)) = (self.store.upgrade(), self.broker.upgrade()) else {
            return;
        };
        let rooms = match store.unused_rooms().await {
            Ok(rooms) => rooms,
            Err(e) => {
                tracing::warn!(error = %e, "could not list unused rooms to forget");
                return;
            }
        };
        let mut swept = 0usize;
        for chunk in rooms.chunks(START_CHUNK) {
            let names = chunk.iter().map(|room| room.to_string()).collect();
            let Ok(counts) = broker.member_counts(names).await else {
                return;
            };
            for (room, members) in chunk.iter().zip(counts) {
                if members == 0 && matches!(store.sweep_room(room).await, Ok(true)) {
                    swept += 1;
                }
            }
        }
        if swept > 0 {
            tracing::info!(rooms = swept, "forgot rooms that never held a message");
        }
    }
}
