//! [`Shared`]: the state every connection task holds a handle to (config,
//! storage, fan-out, accounts, metrics), and the connection id counter.
//! Making it starts the sweep of rooms that never held a message.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::accounts::Accounts;
use crate::broker::Broker;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::registry::RoomRegistry;
use crate::store::{ConnId, MessageStore};
use crate::sweep::Sweeper;

/// State every connection task shares, behind one `Arc`.
pub struct Shared {
    pub config: Config,
    pub store: Arc<dyn MessageStore>,
    pub broker: Arc<dyn Broker>,
    pub registry: Arc<RoomRegistry>,
    pub accounts: Accounts,
    pub metrics: Arc<Metrics>,
    /// The next connection's id: ids tell a message's sender apart in fan-out.
    next_conn: AtomicU64,
}

impl Shared {
    pub fn new(
        config: Config,
        store: Arc<dyn MessageStore>,
        broker: Arc<dyn Broker>,
        registry: Arc<RoomRegistry>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Sweeper::start(&store, &broker, &registry);
        Self {
            accounts: Accounts::new(
                store.clone(),
                broker.clone(),
                config.require_accounts,
                config.logins,
                metrics.clone(),
            ),
            config,
            store,
            broker,
            registry,
            metrics,
            next_conn: AtomicU64::new(1),
        }
    }

    pub fn next_conn_id(&self) -> ConnId {
        ConnId(self.next_conn.fetch_add(1, Ordering::Relaxed))
    }
}
