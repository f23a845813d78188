//! The Redis broker's control task: this node's presence (the registry's
//! changes applied in order, one atomic script each), its heartbeat, the
//! janitor that reaps dead nodes, guest-name releases, and putting this
//! node's entries back when Redis lost them or the cluster reaped it.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chat_proto::{RoomName, UserName};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use super::{CLOSE_GRACE, Control, GUEST_TTL, Inner, PresenceEvent, bounded, lock, millis};
use crate::broker::BrokerError;
use crate::broker::scripts::{
    self, GUEST_RELEASE, HEARTBEAT, PREFIX, PRESENCE, PRESENCE_CODE, REAP_DEAD, REAP_SELF,
};
use crate::clock::now_ms;
use crate::registry::PresenceChange;

/// How often a node renews its registration and guest names.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);
/// A node whose registration is this old is dead: the janitor removes its
/// users from their rooms and frees its guest names.
const NODE_TTL: Duration = Duration::from_secs(6);
/// How often each node looks for dead ones.
const JANITOR_EVERY: Duration = Duration::from_secs(2);
/// How long the janitor's mark on a reaped node lasts, for a node that
/// was only cut off to notice when it comes back.
const REAPED_MARK_TTL: Duration = Duration::from_secs(3600);
/// Presence changes sent per pipeline.
const PRESENCE_PIPELINE: usize = 256;

/// This node's presence, guest names and membership of the cluster.
pub(super) struct ControlTask {
    inner: Arc<Inner>,
    /// `(room, user)` entries Redis has for this node, as far as this node
    /// knows: every change it applied successfully.
    confirmed: HashSet<(RoomName, UserName)>,
    /// Changes forwarded by the registry, not yet applied, in order.
    pending: VecDeque<PresenceChange>,
    /// Guest releases that failed, to retry.
    releases: Vec<(String, String)>,
    /// Whether the last Redis call worked (to log outages once).
    healthy: bool,
}

impl ControlTask {
    pub(super) fn new(inner: Arc<Inner>) -> Self {
        Self {
            inner,
            confirmed: HashSet::new(),
            pending: VecDeque::new(),
            releases: Vec::new(),
            healthy: true,
        }
    }

    pub(super) async fn run(
        mut self,
        mut presence_rx: mpsc::UnboundedReceiver<PresenceChange>,
        mut control_rx: mpsc::UnboundedReceiver<Control>,
    ) {
        let mut heartbeat = tokio::time::interval(HEARTBEAT_EVERY);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut janitor = tokio::time::interval_at(
            tokio::time::Instant::now() + jitter(JANITOR_EVERY),
            JANITOR_EVERY,
        );
        janitor.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                command = control_rx.recv() => match command {
                    Some(Control::Flush(reply)) => {
                        self.take(&mut presence_rx);
                        let _ = reply.send(self.apply_pending().await);
                    }
                    Some(Control::Release(key, value)) => self.release(key, value).await,
                    Some(Control::Heartbeat) => {
                        let _ = self.heartbeat().await;
                    }
                    Some(Control::Close(done)) => {
                        self.take(&mut presence_rx);
                        self.leave_cluster().await;
                        let _ = done.send(());
                        return;
                    }
                    None => return,
                },
                change = presence_rx.recv() => match change {
                    Some(change) => {
                        self.push(change);
                        self.take(&mut presence_rx);
                        let _ = self.apply_pending().await;
                    }
                    None => return,
                },
                _ = heartbeat.tick() => {
                    let _ = self.heartbeat().await;
                }
                _ = janitor.tick() => self.janitor().await,
            }
        }
    }

    fn take(&mut self, presence_rx: &mut mpsc::UnboundedReceiver<PresenceChange>) {
        while let Ok(change) = presence_rx.try_recv() {
            self.push(change);
        }
    }

    /// Queues a change; a leave right after a still-unapplied enter of the
    /// same user cancels it, so a join that failed (and was undone) while
    /// Redis was away is not announced later.
    fn push(&mut self, change: PresenceChange) {
        if !change.entered {
            let last_same = self
                .pending
                .iter()
                .rposition(|p| p.room == change.room && p.user == change.user);
            if let Some(index) = last_same
                && self.pending[index].entered
            {
                self.pending.remove(index);
                return;
            }
        }
        self.pending.push_back(change);
    }

    fn note(&mut self, result: &Result<(), BrokerError>) {
        match result {
            Ok(()) if !self.healthy => {
                tracing::info!("Redis is reachable again");
                self.healthy = true;
            }
            Err(e) if self.healthy => {
                tracing::warn!(error = %e, "Redis is unreachable: presence, members and guest names wait for it");
                self.healthy = false;
            }
            _ => {}
        }
    }

    /// Applies queued presence changes, in order, a pipeline at a time.
    async fn apply_pending(&mut self) -> Result<(), BrokerError> {
        while !self.pending.is_empty() {
            let count = self.pending.len().min(PRESENCE_PIPELINE);
            let mut pipe = ::redis::pipe();
            // Loading the script first makes the EVALSHAs work even on a
            // Redis that restarted with an empty script cache.
            pipe.cmd("SCRIPT").arg("LOAD").arg(PRESENCE_CODE).ignore();
            for change in self.pending.iter().take(count) {
                add_presence(&mut pipe, &self.inner.node, change, true);
            }
            let mut redis = self.inner.redis.clone();
            let result = bounded(pipe.exec_async(&mut redis)).await;
            self.note(&result);
            result?;
            for change in self.pending.drain(..count) {
                let entry = (change.room, change.user);
                if change.entered {
                    self.confirmed.insert(entry);
                } else {
                    self.confirmed.remove(&entry);
                }
            }
        }
        Ok(())
    }

    /// Renews this node's registration and guest names, and repairs what
    /// Redis lost: after a restart it has none of this node's entries;
    /// after this node was cut off and declared dead, the other nodes were
    /// told its users left.
    pub(super) async fn heartbeat(&mut self) -> Result<(), BrokerError> {
        if !self.pending.is_empty() {
            self.apply_pending().await?;
        }
        let guests: Vec<(String, String)> = lock(&self.inner.guests)
            .held
            .iter()
            .map(|(user, claim)| {
                (
                    scripts::guest_key(user),
                    scripts::guest_value(&self.inner.node, *claim),
                )
            })
            .collect();
        let mut invocation = HEARTBEAT.prepare_invoke();
        invocation
            .arg(PREFIX)
            .arg(&self.inner.node)
            .arg(millis(NODE_TTL))
            .arg(millis(GUEST_TTL));
        for (key, value) in &guests {
            invocation.arg(key).arg(value);
        }
        let mut redis = self.inner.redis.clone();
        let result =
            bounded(invocation.invoke_async::<(i64, i64, i64, Vec<String>)>(&mut redis)).await;
        let outcome = result.as_ref().map(|_| ()).map_err(Clone::clone);
        self.note(&outcome);
        let (_existed, reaped, present, conflicts) = result?;
        for key in conflicts {
            tracing::warn!(
                key,
                "another node took a guest name this node's session holds (Redis was unreachable meanwhile)"
            );
        }
        if reaped == 1 {
            tracing::warn!("this node had been declared dead; announcing its users again");
            self.reassert(true).await?;
        } else if usize::try_from(present).ok() != Some(self.confirmed.len()) {
            // Redis lost this node's entries (a restart): put them back
            // without announcing anyone, since nobody was told they left.
            tracing::info!("restoring this node's presence in Redis");
            self.reassert(false).await?;
        }
        let releases = std::mem::take(&mut self.releases);
        for (key, value) in releases {
            self.release(key, value).await;
        }
        Ok(())
    }

    /// Makes Redis hold exactly this node's confirmed presence: entries it
    /// lacks are added (announced as joins when `loud`), entries it has
    /// that this node no longer holds are removed and announced as leaves.
    async fn reassert(&mut self, loud: bool) -> Result<(), BrokerError> {
        let mut redis = self.inner.redis.clone();
        let held: Vec<String> = bounded(
            ::redis::cmd("SMEMBERS")
                .arg(scripts::node_presence_key(&self.inner.node))
                .query_async(&mut redis),
        )
        .await?;
        let held: HashSet<String> = held.into_iter().collect();
        let mut changes = Vec::new();
        let ts = now_ms();
        for (room, user) in &self.confirmed {
            if !held.contains(&format!("{room} {user}")) {
                changes.push((
                    PresenceChange {
                        room: room.clone(),
                        user: user.clone(),
                        entered: true,
                        ts,
                    },
                    loud,
                ));
            }
        }
        for entry in &held {
            let Some((room, user)) = entry.split_once(' ') else {
                continue;
            };
            let (Ok(room), Ok(user)) = (RoomName::parse(room), UserName::parse(user)) else {
                continue;
            };
            if !self.confirmed.contains(&(room.clone(), user.clone())) {
                changes.push((
                    PresenceChange {
                        room,
                        user,
                        entered: false,
                        ts,
                    },
                    true,
                ));
            }
        }
        for chunk in changes.chunks(PRESENCE_PIPELINE) {
            let mut pipe = ::redis::pipe();
            pipe.cmd("SCRIPT").arg("LOAD").arg(PRESENCE_CODE).ignore();
            for (change, loud) in chunk {
                add_presence(&mut pipe, &self.inner.node, change, *loud);
            }
            bounded(pipe.exec_async(&mut redis)).await?;
        }
        Ok(())
    }

    async fn release(&mut self, key: String, value: String) {
        let mut invocation = GUEST_RELEASE.prepare_invoke();
        invocation
            .arg(PREFIX)
            .arg(&self.inner.node)
            .arg(&key)
            .arg(&value);
        let mut redis = self.inner.redis.clone();
        if bounded(invocation.invoke_async::<i64>(&mut redis))
            .await
            .is_err()
        {
            // Kept for the next heartbeat; meanwhile the name expires on
            // its own, since heartbeats renew only names still held.
            self.releases.push((key, value));
        }
    }

    async fn janitor(&mut self) {
        let mut invocation = REAP_DEAD.prepare_invoke();
        invocation
            .arg(PREFIX)
            .arg(now_ms())
            .arg(millis(REAPED_MARK_TTL))
            .arg(&self.inner.node);
        let mut redis = self.inner.redis.clone();
        match bounded(invocation.invoke_async::<Vec<String>>(&mut redis)).await {
            Ok(reaped) => {
                for node in reaped {
                    tracing::warn!(
                        node,
                        "a node stopped heartbeating; its users left their rooms"
                    );
                }
            }
            Err(e) => tracing::debug!(error = %e, "janitor round failed"),
        }
    }

    /// A graceful exit: announce the last presence changes, then remove
    /// everything this node still holds, within [`CLOSE_GRACE`].
    async fn leave_cluster(&mut self) {
        let leaving = async {
            let _ = self.apply_pending().await;
            let mut invocation = REAP_SELF.prepare_invoke();
            invocation.arg(PREFIX).arg(&self.inner.node).arg(now_ms());
            let mut redis = self.inner.redis.clone();
            bounded(invocation.invoke_async::<i64>(&mut redis)).await
        };
        match tokio::time::timeout(CLOSE_GRACE, leaving).await {
            Ok(Ok(_)) => tracing::info!("left the cluster"),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not leave the cluster cleanly; the janitor will")
            }
            Err(_) => tracing::warn!("leaving the cluster took too long; the janitor will finish"),
        }
    }
}

fn add_presence(pipe: &mut ::redis::Pipeline, node: &str, change: &PresenceChange, loud: bool) {
    let event = PresenceEvent {
        room: change.room.to_string(),
        user: change.user.to_string(),
        entered: change.entered,
        ts: change.ts,
    };
    let event = serde_json::to_string(&event).unwrap_or_default();
    pipe.cmd("EVALSHA")
        .arg(PRESENCE.get_hash())
        .arg(0)
        .arg(PREFIX)
        .arg(node)
        .arg(change.room.as_str())
        .arg(change.user.as_str())
        .arg(if change.entered { "1" } else { "0" })
        .arg(if loud { "1" } else { "0" })
        .arg(event)
        .ignore();
}

/// A random fraction of `period`, so nodes started together don't run
/// their janitors in lockstep.
fn jitter(period: Duration) -> Duration {
    period.mul_f64(rand::random::<f64>())
}
