//! This node's side of cluster fan-out, knowing no Redis: the store's
//! [`CommitListener`] in a cluster. Every message, from this node's
//! commits (through the store's fan-out task), the subscription or a
//! repair read, goes through one [`Sequencer`] to the registry, in id order
//! per room and once; this node's own commits are also queued, in commit
//! order, for the Redis publisher. The store holds this, not the broker.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::sequencer::{Gap, Sequencer};
use crate::registry::RoomRegistry;
use crate::store::{CommitListener, Committed, ConnId, StreamEvent};
use crate::sync::lock;

/// How long a message that arrived early waits for the ones before it
/// before they are read from the store.
const GAP_WAIT: Duration = Duration::from_millis(150);
/// Early arrivals in one room past which the store is read at once.
const MAX_HELD: usize = 10_000;

/// A committed entry as it travels between nodes: no `ref`, which only
/// ever goes to the sender's own connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub(super) struct WireMessage(pub StreamEvent);

/// Work for the publisher task.
pub(super) enum Publish {
    Batch(Vec<WireMessage>),
    /// Answered once everything queued before it has been published.
    Flush(oneshot::Sender<()>),
}

/// The sequencer and the publish queue of one cluster node.
pub struct ClusterFanOut {
    registry: Arc<RoomRegistry>,
    /// std Mutex: held for short, non-async sections (offering and
    /// delivering), by the store's fan-out task and the broker's tasks.
    sequencer: Mutex<Sequencer>,
    publish_tx: mpsc::UnboundedSender<Publish>,
}

/// The publisher's queue, from [`ClusterFanOut::new`] to
/// [`super::RedisBroker::connect`].
pub struct PublishQueue(pub(super) mpsc::UnboundedReceiver<Publish>);

impl ClusterFanOut {
    pub fn new(registry: Arc<RoomRegistry>) -> (Arc<Self>, PublishQueue) {
        let (publish_tx, publish_rx) = mpsc::unbounded_channel();
        let fan_out = Arc::new(Self {
            registry,
            sequencer: Mutex::new(Sequencer::new(GAP_WAIT, MAX_HELD)),
            publish_tx,
        });
        (fan_out, PublishQueue(publish_rx))
    }

    pub(super) fn registry(&self) -> &RoomRegistry {
        &self.registry
    }

    /// Runs `step` on the sequencer and delivers what it released, all
    /// under the sequencer's lock so that deliveries from different
    /// tasks cannot overtake each other.
    pub(super) fn sequenced(&self, step: impl FnOnce(&mut Sequencer, &mut Vec<Committed>)) {
        let mut sequencer = lock(&self.sequencer);
        let mut released = Vec::new();
        step(&mut sequencer, &mut released);
        if !released.is_empty() {
            self.registry.deliver(&released);
        }
    }

    /// The newest id delivered in `room`.
    pub(super) fn delivered(&self, room: &str) -> u64 {
        lock(&self.sequencer).delivered(room)
    }

    /// Gaps due for repair (see [`Sequencer::due`]).
    pub(super) fn due_gaps(&self, now: Instant) -> Vec<Gap> {
        lock(&self.sequencer).due(now)
    }

    /// Ends a repair (see [`Sequencer::repair_finished`]).
    pub(super) fn repair_finished(&self, room: &str, retry_at: Option<Instant>) {
        lock(&self.sequencer).repair_finished(room, retry_at);
    }

    /// Asks the publisher to answer `done` once everything queued so far
    /// is published; false when it has stopped.
    pub(super) fn flush_published(&self, done: oneshot::Sender<()>) -> bool {
        self.publish_tx.send(Publish::Flush(done)).is_ok()
    }
}

impl CommitListener for ClusterFanOut {
    fn committed(&self, batch: &[Committed]) {
        let now = Instant::now();
        self.sequenced(|sequencer, released| {
            for committed in batch {
                sequencer.offer(committed.clone(), now, released);
            }
        });
        let wire = batch
            .iter()
            .map(|committed| WireMessage(committed.event.without_reference()))
            .collect();
        if self.publish_tx.send(Publish::Batch(wire)).is_err() {
            tracing::debug!(
                "the publisher has stopped; other nodes will read these from the store"
            );
        }
    }
}

/// An entry another node committed, as this node delivers it.
pub(super) fn from_wire(wire: WireMessage) -> Committed {
    // Not from any connection of this node.
    Committed::new(wire.0.without_reference(), ConnId(0))
}

#[cfg(test)]
mod tests {
    use chat_proto::{RoomName, UserName};

    use super::*;

    fn message(id: u64, user: &str, text: &str) -> chat_proto::Entry {
        chat_proto::Entry::Message(chat_proto::Message {
            room: "lobby".into(),
            id,
            user: user.into(),
            text: if text == "m" {
                format!("m{id}")
            } else {
                text.into()
            },
            ts: 1,
            ..chat_proto::Message::default()
        })
    }

    #[test]
    fn this_nodes_commits_are_delivered_once_in_order_and_queued_for_publishing() {
        use crate::metrics::Metrics;
        use crate::registry::{Outbox, PresenceRoute};

        let (presence_tx, _presence_rx) = mpsc::unbounded_channel();
        let registry = Arc::new(RoomRegistry::new(
            Arc::new(Metrics::default()),
            PresenceRoute::Forward(presence_tx),
        ));
        let (fan_out, mut publish) = ClusterFanOut::new(registry.clone());
        let lobby = RoomName::parse("lobby").unwrap();
        let outbox = Outbox::new(16);
        let room = registry.subscribe(&lobby, ConnId(1), &UserName::parse("ann").unwrap(), &outbox);
        let joined = chat_proto::ServerFrame::Joined {
            room: "lobby".into(),
            members: vec![],
            history: vec![],
            more: false,
            last_id: 0,
            details: None,
        };
        registry.activate(&room, ConnId(1), 0, joined);
        let wire = |id: u64| WireMessage(StreamEvent::Entry(message(id, "bob", "m")));
        // Own commits 1 and 2; then the subscription brings 2 (a copy)
        // and 3 (another node's).
        let own: Vec<Committed> = [1, 2]
            .into_iter()
            .map(|id| Committed {
                origin: ConnId(1),
                ..from_wire(wire(id))
            })
            .collect();
        fan_out.committed(&own);
        fan_out.sequenced(|sequencer, released| {
            for id in [2, 3] {
                sequencer.offer(from_wire(wire(id)), Instant::now(), released);
            }
        });
        let mut ids = Vec::new();
        for (frame, _) in outbox.take_queued() {
            if let Ok(chat_proto::ServerFrame::Message(m)) =
                chat_proto::decode_server(frame.payload())
            {
                ids.push(m.id);
            }
        }
        assert_eq!(ids, [1, 2, 3]);
        match publish.0.try_recv() {
            Ok(Publish::Batch(batch)) => {
                let ids: Vec<u64> = batch
                    .iter()
                    .map(|wire| Committed::new(wire.0.clone(), ConnId(0)).id)
                    .collect();
                assert_eq!(ids, [1, 2]);
            }
            _ => panic!("this node's commits are queued for publishing"),
        }
        assert!(publish.0.try_recv().is_err(), "only this node's own");
    }

    #[test]
    fn wire_messages_carry_no_ref_and_no_origin() {
        let mut sent = message(7, "alice", "hi\u{0}");
        if let chat_proto::Entry::Message(m) = &mut sent {
            m.reference = Some("mine".into());
        }
        let encoded =
            serde_json::to_string(&WireMessage(StreamEvent::Entry(sent).without_reference()))
                .unwrap();
        let committed = from_wire(serde_json::from_str(&encoded).unwrap());
        assert_eq!(committed.origin, ConnId(0));
        assert_eq!((committed.room.as_str(), committed.id), ("lobby", 7));
        let StreamEvent::Entry(chat_proto::Entry::Message(m)) = committed.event else {
            panic!("a message");
        };
        assert_eq!(m.reference, None);
        assert_eq!(m.text, "hi\u{0}");
    }
}
