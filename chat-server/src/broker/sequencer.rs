//! Puts the cluster's committed messages back into id order per room, each
//! once: pure bookkeeping, no I/O, so the broker's tasks can share it
//! behind a lock and tests can drive it with a fake clock.
//!
//! Per room it keeps the newest id delivered to this node's registry and
//! the messages that arrived early (a higher id while a lower one is still
//! missing). Ids commit in order per room and are never skipped, so a gap
//! is a message still in flight on another path or a publish that was
//! lost; [`Sequencer::due`] names the gaps that waited too long, and the
//! broker fills them from the store.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::store::Committed;

/// A room whose messages after `after` must be read from the store, at
/// least up to `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    pub room: String,
    pub after: u64,
    pub until: u64,
}

#[derive(Debug, Default)]
struct RoomCursor {
    /// The newest id handed to the registry; everything at or below it was
    /// delivered, skipped on purpose, or predates this node's interest.
    delivered: u64,
    /// Early arrivals by id, with when each arrived.
    held: BTreeMap<u64, (Instant, Committed)>,
    /// A store read for this room is running; don't start another.
    repairing: bool,
    /// After a failed repair: not before this instant.
    retry_at: Option<Instant>,
}

impl RoomCursor {
    /// Moves every held message that is next in line to `out`.
    fn drain(&mut self, out: &mut Vec<Committed>) {
        while let Some(entry) = self.held.first_entry() {
            let id = *entry.key();
            if id <= self.delivered {
                entry.remove();
            } else if id == self.delivered + 1 {
                out.push(entry.remove().1);
                self.delivered = id;
            } else {
                break;
            }
        }
    }
}

/// Per-room delivery cursors and early arrivals.
#[derive(Debug)]
pub struct Sequencer {
    rooms: HashMap<String, RoomCursor>,
    /// Rooms holding early arrivals: the only ones [`Sequencer::due`] scans.
    gapped: HashSet<String>,
    /// How long an early arrival waits for the messages before it.
    gap_wait: Duration,
    /// Early arrivals in one room past which the gap is repaired at once.
    max_held: usize,
}

impl Sequencer {
    pub fn new(gap_wait: Duration, max_held: usize) -> Self {
        Self {
            rooms: HashMap::new(),
            gapped: HashSet::new(),
            gap_wait,
            max_held,
        }
    }

    /// Takes one committed message; whatever is now next in line, this one
    /// and held ones after it, goes to `out` in id order. Duplicates and
    /// messages at or below the cursor are dropped.
    pub fn offer(&mut self, message: Committed, now: Instant, out: &mut Vec<Committed>) {
        let cursor = self.rooms.entry(message.room.clone()).or_default();
        let id = message.id;
        if id <= cursor.delivered {
            return;
        }
        if id == cursor.delivered + 1 && cursor.held.is_empty() {
            // The common case: in order, nothing waiting.
            cursor.delivered = id;
            out.push(message);
            return;
        }
        // An earlier copy wins: this node's own commit carries its origin
        // and `ref`, which a copy read back from the store does not.
        let room = message.room.clone();
        cursor.held.entry(id).or_insert((now, message));
        cursor.drain(out);
        self.track(&room);
    }

    /// Keeps [`Sequencer::gapped`] in step with a room's held messages.
    fn track(&mut self, room: &str) {
        let holds = self.rooms.get(room).is_some_and(|c| !c.held.is_empty());
        if holds {
            if !self.gapped.contains(room) {
                self.gapped.insert(room.to_owned());
            }
        } else {
            self.gapped.remove(room);
        }
    }

    /// Declares everything up to `id` in `room` accounted for (it predates
    /// this node's interest, or nobody here needs it) and releases held
    /// messages that are next in line.
    pub fn fast_forward(&mut self, room: &str, id: u64, out: &mut Vec<Committed>) {
        let cursor = self.rooms.entry(room.to_owned()).or_default();
        if id > cursor.delivered {
            cursor.delivered = id;
        }
        cursor.drain(out);
        self.track(room);
    }

    /// The newest id delivered in `room` (0 for a room never seen).
    pub fn delivered(&self, room: &str) -> u64 {
        self.rooms.get(room).map_or(0, |cursor| cursor.delivered)
    }

    /// Gaps that waited longer than the grace period (or hold too many
    /// messages) and have no repair running; marks them as being repaired.
    pub fn due(&mut self, now: Instant) -> Vec<Gap> {
        let mut gaps = Vec::new();
        for room in &self.gapped {
            let Some(cursor) = self.rooms.get_mut(room) else {
                continue;
            };
            if cursor.repairing || cursor.retry_at.is_some_and(|at| now < at) {
                continue;
            }
            let Some((&first, (arrived, _))) = cursor.held.first_key_value() else {
                continue;
            };
            let waited = now.saturating_duration_since(*arrived) >= self.gap_wait;
            if waited || cursor.held.len() >= self.max_held {
                cursor.repairing = true;
                gaps.push(Gap {
                    room: room.clone(),
                    after: cursor.delivered,
                    until: first - 1,
                });
            }
        }
        gaps
    }

    /// Ends a repair started by [`Sequencer::due`]; after a failure the
    /// room is not tried again before `retry_at`.
    pub fn repair_finished(&mut self, room: &str, retry_at: Option<Instant>) {
        if let Some(cursor) = self.rooms.get_mut(room) {
            cursor.repairing = false;
            cursor.retry_at = retry_at;
        }
    }

    /// Whether any room holds early arrivals.
    #[cfg(test)]
    fn has_gaps(&self) -> bool {
        !self.gapped.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use chat_proto::Message;

    use super::*;
    use crate::store::ConnId;

    fn message(room: &str, id: u64, origin: u64) -> Committed {
        let message = Message {
            room: room.into(),
            id,
            user: "u".into(),
            text: format!("m{id}"),
            ts: 1,
            reference: (origin != 0).then(|| format!("r{id}")),
            ..Message::default()
        };
        Committed::entry(message.into(), ConnId(origin))
    }

    fn ids(out: &[Committed]) -> Vec<u64> {
        out.iter().map(|m| m.id).collect()
    }

    #[test]
    fn in_order_messages_pass_straight_through_and_duplicates_are_dropped() {
        let mut seq = Sequencer::new(Duration::from_millis(150), 100);
        let now = Instant::now();
        let mut out = Vec::new();
        for id in 1..=3 {
            seq.offer(message("a", id, 0), now, &mut out);
        }
        seq.offer(message("a", 2, 0), now, &mut out);
        seq.offer(message("b", 1, 0), now, &mut out);
        assert_eq!(ids(&out), [1, 2, 3, 1]);
        assert_eq!(seq.delivered("a"), 3);
        assert!(!seq.has_gaps());
    }

    #[test]
    fn an_early_arrival_waits_for_the_missing_one() {
        let mut seq = Sequencer::new(Duration::from_millis(150), 100);
        let now = Instant::now();
        let mut out = Vec::new();
        seq.offer(message("a", 1, 0), now, &mut out);
        seq.offer(message("a", 3, 7), now, &mut out);
        seq.offer(message("a", 4, 7), now, &mut out);
        assert_eq!(ids(&out), [1]);
        assert!(seq.has_gaps());
        seq.offer(message("a", 2, 0), now, &mut out);
        assert_eq!(ids(&out), [1, 2, 3, 4]);
        assert_eq!(out[2].origin, ConnId(7), "the held copy keeps its origin");
        assert!(!seq.has_gaps());
    }

    #[test]
    fn a_gap_is_due_after_the_wait_and_once_until_finished() {
        let mut seq = Sequencer::new(Duration::from_millis(150), 100);
        let start = Instant::now();
        let mut out = Vec::new();
        seq.offer(message("a", 1, 0), start, &mut out);
        seq.offer(message("a", 5, 0), start, &mut out);
        assert!(seq.due(start + Duration::from_millis(100)).is_empty());
        let later = start + Duration::from_millis(151);
        assert_eq!(
            seq.due(later),
            [Gap {
                room: "a".into(),
                after: 1,
                until: 4
            }]
        );
        assert!(seq.due(later).is_empty(), "a repair is already running");
        seq.repair_finished("a", Some(later + Duration::from_secs(1)));
        assert!(seq.due(later).is_empty(), "waits before retrying");
        assert_eq!(seq.due(later + Duration::from_secs(1)).len(), 1);
        // The store's copies fill the gap; the held one is released after.
        for id in 2..=5 {
            seq.offer(message("a", id, 0), later, &mut out);
        }
        seq.repair_finished("a", None);
        assert_eq!(ids(&out), [1, 2, 3, 4, 5]);
        assert!(seq.due(later + Duration::from_secs(5)).is_empty());
    }

    #[test]
    fn too_many_held_messages_make_a_gap_due_at_once() {
        let mut seq = Sequencer::new(Duration::from_secs(60), 3);
        let now = Instant::now();
        let mut out = Vec::new();
        for id in 10..13 {
            seq.offer(message("a", id, 0), now, &mut out);
        }
        assert_eq!(seq.due(now).len(), 1);
    }

    #[test]
    fn fast_forward_skips_what_nobody_needs_and_releases_the_rest() {
        let mut seq = Sequencer::new(Duration::from_millis(150), 100);
        let now = Instant::now();
        let mut out = Vec::new();
        seq.fast_forward("a", 40, &mut out);
        seq.offer(message("a", 40, 0), now, &mut out);
        assert!(out.is_empty(), "40 predates the cursor");
        seq.offer(message("a", 43, 0), now, &mut out);
        seq.fast_forward("a", 42, &mut out);
        assert_eq!(ids(&out), [43]);
        seq.fast_forward("a", 10, &mut out);
        assert_eq!(seq.delivered("a"), 43, "never moves backwards");
    }
}
