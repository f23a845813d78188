//! The outbox: lines typed by the user that the server has not
//! acknowledged yet, each with a `ref` unique across runs.

use std::time::Instant;

/// A line typed by the user that the server has not acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub reference: String,
    pub room: String,
    pub text: String,
    /// When it was typed (ms since the epoch), for the screen.
    pub typed_ms: i64,
    /// How many times it was sent, over all sockets. A line never sent
    /// cannot have been stored, so it is never matched to a stored copy.
    pub attempts: u32,
    /// Sent on the current socket and not answered yet.
    pub in_flight: bool,
    /// Not to be sent again before this (after `rate_limited`).
    pub retry_at: Option<Instant>,
}

/// Lines not acknowledged yet, in the order typed, each with a unique `ref`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbox {
    pub entries: Vec<Pending>,
    next_ref: u64,
    /// Makes refs unique across runs of the client, so an old run's ack can
    /// never be mistaken for this run's.
    ref_prefix: String,
}

impl Outbox {
    pub fn new(ref_prefix: impl Into<String>) -> Self {
        Self {
            entries: Vec::new(),
            next_ref: 1,
            ref_prefix: ref_prefix.into(),
        }
    }

    /// Queues a line and returns its `ref`.
    pub fn push(&mut self, room: &str, text: &str, typed_ms: i64) -> String {
        let reference = format!("{}{}", self.ref_prefix, self.next_ref);
        self.next_ref += 1;
        self.entries.push(Pending {
            reference: reference.clone(),
            room: room.to_owned(),
            text: text.to_owned(),
            typed_ms,
            attempts: 0,
            in_flight: false,
            retry_at: None,
        });
        reference
    }

    /// Removes and returns the entry with this `ref` (its acknowledgement).
    pub fn take_by_ref(&mut self, reference: &str) -> Option<Pending> {
        let index = self.entries.iter().position(|p| p.reference == reference)?;
        Some(self.entries.remove(index))
    }

    /// Removes the oldest sent-but-unanswered line in `room` with exactly
    /// `text`: a stored copy of it came back in history without a `ref`
    /// because the socket died between storing and acknowledging.
    pub fn take_stored_copy(&mut self, room: &str, text: &str) -> Option<Pending> {
        let index = self
            .entries
            .iter()
            .position(|p| p.room == room && p.text == text && p.attempts > 0 && !p.in_flight)?;
        Some(self.entries.remove(index))
    }

    pub fn by_ref_mut(&mut self, reference: &str) -> Option<&mut Pending> {
        self.entries.iter_mut().find(|p| p.reference == reference)
    }

    pub fn in_room<'a>(&'a self, room: &'a str) -> impl Iterator<Item = &'a Pending> + 'a {
        self.entries.iter().filter(move |p| p.room == room)
    }

    /// The socket is gone: nothing is in flight any more.
    pub fn connection_lost(&mut self) {
        for p in &mut self.entries {
            p.in_flight = false;
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbox_matches_stored_copies_only_for_lines_sent_before() {
        let mut outbox = Outbox::new("t-");
        let r1 = outbox.push("lobby", "hi", 0);
        let r2 = outbox.push("lobby", "hi", 0);
        assert_eq!((r1.as_str(), r2.as_str()), ("t-1", "t-2"));
        // Never sent: cannot have been stored.
        assert_eq!(outbox.take_stored_copy("lobby", "hi"), None);
        for p in &mut outbox.entries {
            p.attempts = 1;
        }
        assert_eq!(outbox.take_stored_copy("rust", "hi"), None);
        assert_eq!(
            outbox.take_stored_copy("lobby", "hi").map(|p| p.reference),
            Some(r1)
        );
        assert_eq!(outbox.take_by_ref(&r2).map(|p| p.text), Some("hi".into()));
        assert!(outbox.entries.is_empty());
    }
}
