//! Limits against abuse: the per-session token bucket, which slows a
//! session down rather than refusing its frames, and the fixed sizes the
//! server enforces. Tunable values live in [`crate::config::Config`].

use std::time::{Duration, Instant};

/// WebSocket read buffer per connection. Small, because most connections
/// are idle most of the time and client frames are small; the library also
/// clears it on every read, so a large one costs CPU as well as memory.
pub const READ_BUFFER_BYTES: usize = 1024;
/// The WebSocket library's write buffer, which holds only its control
/// frames on their way into the outbox.
pub const WRITE_BUFFER_BYTES: usize = 32 * 1024;
/// The longest HTTP request head the server reads.
pub const MAX_REQUEST_HEAD_BYTES: usize = 8 * 1024;
/// How long presence frames (`join` / `leave`) may wait to share a write.
/// A burst of joins, such as everyone reconnecting after a restart, would
/// otherwise cost every member one packet per joiner.
pub const PRESENCE_FLUSH_DELAY: Duration = Duration::from_millis(200);
/// How many queued frames one vectored write offers the socket (the
/// kernel takes at most 1,024 slices in one call).
pub const MAX_FRAMES_PER_WRITE: usize = 64;
/// At most one `typing` per user and room is relayed in this long (the
/// protocol's figure); the rest are dropped on the node that got them.
pub const TYPING_INTERVAL: Duration =
    Duration::from_millis(chat_proto::limits::TYPING_RELAY_INTERVAL_MS);
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
        self.take_or_wait(now).is_ok()
    }

    /// Takes a token, or says how long until there is one.
    pub fn take_or_wait(&mut self, now: Instant) -> Result<(), Duration> {
        if self.rate == 0.0 {
            return Ok(());
        }
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }
}

/// What the rate limit says about one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Serve it.
    Allowed,
    /// Hold it, and stop reading, until then: the session is slowed down,
    /// not refused, so a burst arrives whole and in order.
    WaitUntil(Instant),
}

/// A session's rate limit: its token bucket.
#[derive(Debug, Clone)]
pub struct RateLimit {
    bucket: TokenBucket,
}

impl RateLimit {
    pub fn new(rate: u32, burst: u32, now: Instant) -> Self {
        Self {
            bucket: TokenBucket::new(rate, burst, now),
        }
    }

    /// Takes a token for one frame, or says when there is one. A held
    /// frame asks again at that time (and may be told to wait a little
    /// longer, when the clock's rounding fell short).
    pub fn check(&mut self, now: Instant) -> Verdict {
        match self.bucket.take_or_wait(now) {
            Ok(()) => Verdict::Allowed,
            Err(wait) => Verdict::WaitUntil(now + wait),
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
    fn a_rate_limit_says_when_the_next_token_comes() {
        let now = Instant::now();
        let mut limit = RateLimit::new(4, 1, now);
        assert_eq!(limit.check(now), Verdict::Allowed);
        let Verdict::WaitUntil(until) = limit.check(now) else {
            panic!("an empty bucket must make the frame wait");
        };
        assert_eq!(until, now + Duration::from_millis(250));
        assert_eq!(limit.check(until), Verdict::Allowed);
        // Waiting never banks: the next frame waits a full interval again.
        assert_eq!(
            limit.check(until),
            Verdict::WaitUntil(until + Duration::from_millis(250))
        );
        let mut unlimited = RateLimit::new(0, 1, now);
        assert!((0..1000).all(|_| unlimited.check(now) == Verdict::Allowed));
    }
}
