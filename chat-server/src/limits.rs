//! Limits against abuse: the per-session token bucket and the fixed sizes
//! the server enforces. Tunable values live in [`crate::config::Config`].

use std::time::{Duration, Instant};

/// A session that keeps sending into an empty bucket this many times in a
/// row is flooding, not bursting: it is closed with 1008.
pub const FLOOD_STRIKES: u32 = 200;
/// WebSocket read buffer per connection. Small, because most connections
/// are idle most of the time and client frames are small; the library also
/// clears it on every read, so a large one costs CPU as well as memory.
pub const READ_BUFFER_BYTES: usize = 1024;
/// Frames queued in the socket writer before it writes them out in one go.
pub const WRITE_BUFFER_BYTES: usize = 32 * 1024;
/// The longest HTTP request head the server reads.
pub const MAX_REQUEST_HEAD_BYTES: usize = 8 * 1024;
/// How long presence frames (`join` / `leave`) may wait to share a write.
/// A burst of joins, such as everyone reconnecting after a restart, would
/// otherwise cost every member one packet per joiner.
pub const PRESENCE_FLUSH_DELAY: Duration = Duration::from_millis(200);
/// How many frames the writer gathers from the outbox into one flush.
pub const MAX_FRAMES_PER_FLUSH: usize = 256;
/// Connections that may be mid-handshake at once; past this, new TCP
/// connections are dropped at accept.
pub const MAX_PENDING_HANDSHAKES: usize = 4096;
/// Concurrent password hash computations; each is CPU- and memory-hard.
pub const MAX_CONCURRENT_HASHES: usize = 2;

/// A token bucket: `rate` tokens a second, holding at most `burst`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    refilled: Instant,
}

impl TokenBucket {
    /// A full bucket. A `rate` of 0 means unlimited.
    pub fn new(rate: u32, burst: u32, now: Instant) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            rate: f64::from(rate),
            burst,
            tokens: burst,
            refilled: now,
        }
    }

    /// Takes a token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        if self.rate == 0.0 {
            return true;
        }
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What the rate limit says about one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Serve it.
    Allowed,
    /// Drop it, and say so.
    Dropped,
    /// [`FLOOD_STRIKES`] frames in a row were dropped: close the session.
    Flooding,
}

/// A session's rate limit: its token bucket, and how many frames in a row
/// it has refused, which tells a burst from a flood.
#[derive(Debug, Clone)]
pub struct RateLimit {
    bucket: TokenBucket,
    strikes: u32,
}

impl RateLimit {
    pub fn new(rate: u32, burst: u32, now: Instant) -> Self {
        Self {
            bucket: TokenBucket::new(rate, burst, now),
            strikes: 0,
        }
    }

    /// Takes a token for one frame.
    pub fn check(&mut self, now: Instant) -> Verdict {
        if self.bucket.try_take(now) {
            self.strikes = 0;
            return Verdict::Allowed;
        }
        self.strikes += 1;
        if self.strikes >= FLOOD_STRIKES {
            Verdict::Flooding
        } else {
            Verdict::Dropped
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10, 3, start);
        assert!((0..3).all(|_| bucket.try_take(start)));
        assert!(!bucket.try_take(start));
        assert!(bucket.try_take(start + Duration::from_millis(100)));
        assert!(!bucket.try_take(start + Duration::from_millis(150)));
        // Refill stops at the burst size.
        let later = start + Duration::from_secs(60);
        assert!((0..3).all(|_| bucket.try_take(later)));
        assert!(!bucket.try_take(later));
    }

    #[test]
    fn zero_rate_is_unlimited() {
        let now = Instant::now();
        let mut bucket = TokenBucket::new(0, 1, now);
        assert!((0..10_000).all(|_| bucket.try_take(now)));
    }

    #[test]
    fn a_rate_limit_drops_then_calls_a_flood() {
        let now = Instant::now();
        let mut limit = RateLimit::new(1, 1, now);
        assert_eq!(limit.check(now), Verdict::Allowed);
        for _ in 1..FLOOD_STRIKES {
            assert_eq!(limit.check(now), Verdict::Dropped);
        }
        assert_eq!(limit.check(now), Verdict::Flooding);
        // A served frame clears the strikes.
        let later = now + Duration::from_secs(1);
        assert_eq!(limit.check(later), Verdict::Allowed);
        assert_eq!(limit.check(later), Verdict::Dropped);
    }
}
