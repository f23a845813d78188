//! The listener: accepts TCP connections, runs each one's HTTP
//! `Handshake` under a timeout, hands WebSocket sessions to a [`Session`]
//! while semaphores cap how many there are (and each address's share of
//! them, [`crate::address_limits`]), and shuts everything down in order.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast, mpsc};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::address_limits::{AddressLimits, AddressTicket, Offence, Pool, ShareSlot};
use crate::broker::{Broker, BrokerError, ClusterFanOut, LocalBroker, RedisBroker};
use crate::config::{ClusterUrls, Config};
use crate::http::{self, Route};
use crate::limits::{READ_BUFFER_BYTES, WRITE_BUFFER_BYTES};
use crate::metrics::Metrics;
use crate::outbox::{Outbox, WireStream};
use crate::registry::{PresenceRoute, RoomRegistry};
use crate::session::{FrameDeadline, Session, Slots};
use crate::shared::Shared;
use crate::shutdown::{Shutdown, TaskGuard};
use crate::store::{MessageStore, PostgresStore, SqliteStore, StoreError, SyncMode};
use crate::tls::Stream;
use crate::web;

/// How long shutdown waits for connections to close before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// The longest pause between accept retries after an accept error.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Storage, fan-out and metrics: what the server runs on.
pub struct Backend {
    pub store: Arc<dyn MessageStore>,
    pub broker: Arc<dyn Broker>,
    pub registry: Arc<RoomRegistry>,
    pub metrics: Arc<Metrics>,
}

impl Backend {
    /// A single-node backend on a SQLite file: the store's commits go
    /// straight to the registry. Call it inside the tokio runtime.
    pub fn sqlite(path: &Path, sync: SyncMode) -> Result<Self, StoreError> {
        let metrics = Arc::new(Metrics::default());
        let registry = Arc::new(RoomRegistry::new(metrics.clone(), PresenceRoute::Local));
        let broker = Arc::new(LocalBroker::new(registry.clone()));
        let store = SqliteStore::open(path, sync, registry.clone(), metrics.clone())?;
        Ok(Self {
            store: Arc::new(store),
            broker,
            registry,
            metrics,
        })
    }

    /// A cluster node: messages and accounts in the shared PostgreSQL
    /// database, fan-out, presence and guest names through the shared
    /// Redis. Both must be reachable now.
    pub async fn cluster(urls: &ClusterUrls) -> Result<Self, ClusterError> {
        let metrics = Arc::new(Metrics::default());
        let (presence_tx, presence_rx) = tokio::sync::mpsc::unbounded_channel();
        let registry = Arc::new(RoomRegistry::new(
            metrics.clone(),
            PresenceRoute::Forward(presence_tx),
        ));
        let (fan_out, publish) = ClusterFanOut::new(registry.clone());
        let store: Arc<dyn MessageStore> =
            Arc::new(PostgresStore::open(&urls.database, fan_out.clone(), metrics.clone()).await?);
        let broker =
            RedisBroker::connect(&urls.redis, store.clone(), fan_out, publish, presence_rx).await?;
        Ok(Self {
            store,
            broker,
            registry,
            metrics,
        })
    }
}

/// Why a cluster node could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Broker(#[from] BrokerError),
}

/// Serves connections from `listener` until `shutdown` resolves, then
/// closes every session with 1001 and flushes storage.
pub async fn run(listener: TcpListener, config: Config, backend: Backend, shutdown: impl Future) {
    let broker = backend.broker.clone();
    let (notify_shutdown, _) = broadcast::channel(1);
    let (shutdown_complete_tx, mut shutdown_complete_rx) = mpsc::channel::<()>(1);
    let shared_registry = backend.registry.clone();
    let shared = Arc::new(Shared::new(
        config,
        backend.store.clone(),
        backend.broker,
        backend.registry,
        backend.metrics,
    ));
    let mut accept = Listener {
        listener,
        sessions: Arc::new(Semaphore::new(shared.config.max_connections)),
        handshakes: Arc::new(Semaphore::new(shared.config.max_pending_handshakes)),
        addresses: AddressLimits::new(shared.config.address_shares()),
        shared,
        notify_shutdown,
        shutdown_complete_tx,
    };

    tokio::select! {
        () = accept.run() => {}
        _ = shutdown => tracing::info!("shutting down"),
    }

    // Stop accepting, then drop the only shutdown sender, which wakes every
    // Shutdown::recv, and our own completion sender, so the channel closes
    // once the last connection task has dropped its guard.
    let Listener {
        listener,
        notify_shutdown,
        shutdown_complete_tx,
        ..
    } = accept;
    drop(listener);
    shared_registry.begin_shutdown();
    drop(notify_shutdown);
    drop(shutdown_complete_tx);
    if tokio::time::timeout(SHUTDOWN_GRACE, shutdown_complete_rx.recv())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not close in time");
    }
    if let Err(e) = broker.close().await {
        tracing::warn!(error = %e, "the broker did not close cleanly");
    }
    match backend.store.close().await {
        Ok(()) => tracing::info!("storage flushed; bye"),
        Err(e) => tracing::error!(error = %e, "flushing storage failed"),
    }
}

struct Listener {
    listener: TcpListener,
    shared: Arc<Shared>,
    /// One permit per WebSocket session, `--max-connections` in all.
    sessions: Arc<Semaphore>,
    /// One permit per connection still in its HTTP handshake.
    handshakes: Arc<Semaphore>,
    /// Each address's share of both pools, and of half-finished frames.
    addresses: Arc<AddressLimits>,
    notify_shutdown: broadcast::Sender<()>,
    shutdown_complete_tx: mpsc::Sender<()>,
}

impl Listener {
    async fn run(&mut self) {
        let mut backoff = Duration::from_millis(5);
        loop {
            let (socket, peer) = match self.listener.accept().await {
                Ok(accepted) => {
                    backoff = Duration::from_millis(5);
                    accepted
                }
                Err(e) => {
                    // Usually out of file descriptors: wait for some to free.
                    tracing::warn!(error = %e, "accept failed; retrying in {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
                    continue;
                }
            };
            let ticket = self.addresses.ticket(peer.ip());
            let Some(handshake_slot) = ticket.try_take(Pool::Handshakes) else {
                let metrics = &self.shared.metrics;
                metrics
                    .net
                    .handshakes_over_share
                    .fetch_add(1, Ordering::Relaxed);
                log_over_share(&ticket, peer, Pool::Handshakes);
                continue;
            };
            let Ok(handshake_permit) = self.handshakes.clone().try_acquire_owned() else {
                tracing::warn!(%peer, "too many pending handshakes; dropping a connection");
                continue;
            };
            let _ = socket.set_nodelay(true);
            let handshake = Handshake {
                socket: Stream::new(socket, self.shared.config.tls.as_ref()),
                peer,
                ticket,
                shared: self.shared.clone(),
                sessions: self.sessions.clone(),
                shutdown: Shutdown::new(self.notify_shutdown.subscribe()),
                guard: TaskGuard::new(self.shutdown_complete_tx.clone()),
            };
            tokio::spawn(handshake.run(HandshakeSlots {
                _server: handshake_permit,
                _address: handshake_slot,
            }));
        }
    }
}

/// Names an address that ran into its share of `pool`, once in a while.
fn log_over_share(ticket: &AddressTicket, peer: SocketAddr, pool: Pool) {
    let offence = Offence::OverShare(pool);
    if ticket.limits().first_in_a_while(ticket.key(), offence) {
        tracing::warn!(
            %peer,
            address = %ticket.key(),
            "an address is {offence} (--address-share); refusing its connections \
             (named once per address in a while)"
        );
    }
}

/// A pending handshake's places: in the server's pool and its address's
/// share, held until dropped.
struct HandshakeSlots {
    _server: OwnedSemaphorePermit,
    _address: ShareSlot,
}

/// A TCP connection in its HTTP handshake: answered over HTTP and closed,
/// or upgraded into a WebSocket [`Session`].
struct Handshake {
    socket: Stream,
    peer: SocketAddr,
    ticket: AddressTicket,
    shared: Arc<Shared>,
    sessions: Arc<Semaphore>,
    shutdown: Shutdown,
    guard: TaskGuard,
}

impl Handshake {
    async fn run(mut self, handshake_slots: HandshakeSlots) {
        let timeout = self.shared.config.handshake_timeout;
        let read = tokio::select! {
            read = tokio::time::timeout(timeout, http::read_request(&mut self.socket)) => read,
            _ = self.shutdown.recv() => return,
        };
        let head = match read {
            Ok(Ok(Route::Upgrade {
                key,
                leftover,
                origin,
                host,
            })) => {
                if !self
                    .origin_allowed(origin.as_deref(), host.as_deref())
                    .await
                {
                    return;
                }
                match self.session_slots() {
                    Some(session_slots) => {
                        return self
                            .upgrade(&key, leftover, handshake_slots, session_slots)
                            .await;
                    }
                    None => Ok(Route::Upgrade {
                        key,
                        leftover,
                        origin,
                        host,
                    }),
                }
            }
            Ok(head) => head,
            Err(_elapsed) => {
                self.shared
                    .metrics
                    .handshake_timeouts
                    .fetch_add(1, Ordering::Relaxed);
                tracing::debug!(peer = %self.peer, "handshake timed out");
                return;
            }
        };
        if let Err(http::HeadError::Io(e)) = &head {
            tracing::debug!(peer = %self.peer, error = %e, "handshake read failed");
        }
        let fault = self.shared.store.fault().map(|fault| fault.to_string());
        if let Some(response) =
            http::response(&head, || self.shared.metrics.render(), fault.as_deref())
        {
            let _ = http::write_response(&mut self.socket, &response).await;
        }
    }

    /// Whether the page's origin may open the WebSocket
    /// ([`web::check_origin`]); when not, it is answered 403.
    async fn origin_allowed(&mut self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Err(e) = web::check_origin(origin, host, &self.shared.config.allow_origins) else {
            return true;
        };
        tracing::info!(peer = %self.peer, "refusing a WebSocket upgrade: {e}");
        let refusal = http::Response::forbidden_origin();
        let _ = http::write_response(&mut self.socket, &refusal).await;
        false
    }

    /// A place for one more session, in the server and in the address's
    /// share; `None` (counted and logged) when either is full.
    fn session_slots(&self) -> Option<Slots> {
        let metrics = &self.shared.metrics;
        let Some(address) = self.ticket.try_take(Pool::Connections) else {
            metrics
                .net
                .connections_over_share
                .fetch_add(1, Ordering::Relaxed);
            log_over_share(&self.ticket, self.peer, Pool::Connections);
            return None;
        };
        let Ok(server) = self.sessions.clone().try_acquire_owned() else {
            metrics.connections_refused.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(peer = %self.peer, "at --max-connections; refusing a session");
            return None;
        };
        Some(Slots { server, address })
    }

    /// Completes the upgrade and starts the session's own task; the
    /// handshake's places are given back once the upgrade is written.
    async fn upgrade(
        mut self,
        key: &str,
        leftover: Vec<u8>,
        handshake_slots: HandshakeSlots,
        session_slots: Slots,
    ) {
        if let Err(e) = http::accept_upgrade(&mut self.socket, key).await {
            tracing::debug!(peer = %self.peer, error = %e, "upgrade write failed");
            return;
        }
        drop(handshake_slots);
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER_BYTES)
            // The library writes only its control frames (pongs, pings,
            // close): every data frame goes through the outbox, which
            // bounds what one connection can have queued.
            .write_buffer_size(WRITE_BUFFER_BYTES)
            .max_message_size(Some(chat_proto::limits::MAX_FRAME_BYTES))
            .max_frame_size(Some(chat_proto::limits::MAX_FRAME_BYTES));
        let frame_timeout = self.shared.config.frame_timeout;
        let outbox = Outbox::bounded(
            self.socket,
            self.shared.config.outbox,
            self.shared.config.outbox_bytes,
            self.shared.metrics.clone(),
        );
        let stream = FrameDeadline::new(WireStream::new(outbox), frame_timeout, self.ticket);
        let ws = WebSocketStream::from_partially_read(stream, leftover, Role::Server, Some(config))
            .await;
        // The session runs as a task of its own rather than awaited here:
        // a future awaited inline is laid out next to the handshake's
        // states, and that task's allocation (about 10 KiB, twice the
        // session's) would stay for as long as the connection is open.
        tokio::spawn(
            Session::new(
                ws,
                self.peer,
                self.shared,
                self.shutdown,
                self.guard,
                session_slots,
            )
            .run(),
        );
    }
}
