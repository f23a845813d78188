//! Fair shares per address: how many pending handshakes, open sessions and
//! half-finished frames one address (an IPv4 address, or an IPv6 /64) may
//! hold, so that no address takes more than `--address-share` percent of
//! any of those pools; and the log that names an offending address once in
//! a while instead of once per refusal.
//!
//! Every connection takes an [`AddressTicket`] at accept: one lock of the
//! address table then, and none after. The ticket's slots count on the
//! address's own atomics, so the per-frame accounting of half-finished
//! frames costs an atomic add, not a lock. With the shares off
//! (`--address-share 0`, as the benchmarks run) a ticket counts nothing.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub use crate::login_limits::AddressKey;
use crate::login_limits::OffenderLog;
use crate::sync::lock;

/// The fewest places of each pool an address may always hold, however
/// small the pool: a handful of people behind one NAT address still get in
/// to a server started with a small `--max-connections`.
pub const MIN_SHARE: usize = 8;

/// The pools an address has a share of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pool {
    /// Connections still in their HTTP handshake.
    Handshakes,
    /// WebSocket sessions.
    Connections,
    /// Sessions in the middle of receiving a frame.
    PartialFrames,
}

impl Pool {
    /// The pool's name in log lines and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Pool::Handshakes => "pending_handshakes",
            Pool::Connections => "connections",
            Pool::PartialFrames => "partial_frames",
        }
    }
}

/// What a connection did that the operator is told about, once per address
/// in a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Offence {
    /// Ran into its share of a pool.
    OverShare(Pool),
    /// Sent faster than the rate limit and was slowed.
    Throttled,
    /// Was closed: too slow to read, silent, a frame too slow, a protocol
    /// violation.
    Dropped(&'static str),
}

impl fmt::Display for Offence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Offence::OverShare(pool) => write!(f, "over its share of {}", pool.as_str()),
            Offence::Throttled => f.write_str("slowed by the rate limit"),
            Offence::Dropped(why) => write!(f, "dropped: {why}"),
        }
    }
}

/// One address's holdings, shared by every connection from it.
#[derive(Debug, Default)]
struct Holdings {
    handshakes: AtomicUsize,
    connections: AtomicUsize,
    partial_frames: AtomicUsize,
}

impl Holdings {
    fn count(&self, pool: Pool) -> &AtomicUsize {
        match pool {
            Pool::Handshakes => &self.handshakes,
            Pool::Connections => &self.connections,
            Pool::PartialFrames => &self.partial_frames,
        }
    }
}

/// The per-address shares of every pool, and who holds what.
#[derive(Debug)]
pub struct AddressLimits {
    /// Each pool's share per address; `None` when the shares are off.
    shares: Option<Shares>,
    holders: Mutex<HashMap<AddressKey, Arc<Holdings>>>,
    offenders: OffenderLog<Offence>,
}

/// How much of each pool one address may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shares {
    pub handshakes: usize,
    pub connections: usize,
    pub partial_frames: usize,
}

impl Shares {
    /// `percent` of each pool, at least [`MIN_SHARE`] of each.
    pub fn of(percent: u32, handshake_pool: usize, connection_pool: usize) -> Self {
        let share = |pool: usize| (pool.saturating_mul(percent as usize) / 100).max(MIN_SHARE);
        Self {
            handshakes: share(handshake_pool),
            connections: share(connection_pool),
            partial_frames: share(connection_pool),
        }
    }

    fn get(&self, pool: Pool) -> usize {
        match pool {
            Pool::Handshakes => self.handshakes,
            Pool::Connections => self.connections,
            Pool::PartialFrames => self.partial_frames,
        }
    }
}

impl AddressLimits {
    /// Shares of `shares`, or no shares at all.
    pub fn new(shares: Option<Shares>) -> Arc<Self> {
        Arc::new(Self {
            shares,
            holders: Mutex::new(HashMap::new()),
            offenders: OffenderLog::default(),
        })
    }

    /// The ticket a new connection from `ip` holds for as long as it lives.
    pub fn ticket(self: &Arc<Self>, ip: IpAddr) -> AddressTicket {
        let key = AddressKey::of(ip);
        let holdings = self.shares.map(|_| {
            let mut holders = lock(&self.holders);
            holders.entry(key).or_default().clone()
        });
        AddressTicket {
            key,
            holdings,
            limits: self.clone(),
        }
    }

    /// True when `key` was not logged for `offence` lately: the caller logs
    /// it now.
    pub fn first_in_a_while(&self, key: AddressKey, offence: Offence) -> bool {
        self.offenders
            .first_in_a_while(key, offence, Instant::now())
    }

    /// Addresses holding anything now.
    pub fn addresses_held(&self) -> usize {
        lock(&self.holders).len()
    }
}

/// A connection's standing with its address's shares. Dropping the last
/// ticket of an address forgets the address.
#[derive(Debug)]
pub struct AddressTicket {
    key: AddressKey,
    /// `None` when the shares are off.
    holdings: Option<Arc<Holdings>>,
    limits: Arc<AddressLimits>,
}

impl AddressTicket {
    pub fn key(&self) -> AddressKey {
        self.key
    }

    pub fn limits(&self) -> &AddressLimits {
        &self.limits
    }

    /// One place in `pool`, or `None` when the address holds its share.
    pub fn try_take(&self, pool: Pool) -> Option<ShareSlot> {
        let (Some(holdings), Some(shares)) = (&self.holdings, self.limits.shares) else {
            return Some(ShareSlot(None));
        };
        let count = holdings.count(pool);
        if count.fetch_add(1, Ordering::AcqRel) >= shares.get(pool) {
            count.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(ShareSlot(Some((holdings.clone(), pool))))
    }
}

impl Drop for AddressTicket {
    fn drop(&mut self) {
        let Some(holdings) = self.holdings.take() else {
            return;
        };
        let mut holders = lock(&self.limits.holders);
        // Tickets are only handed out under this lock, so when the table
        // and this ticket are the last holders no other can appear now.
        if Arc::strong_count(&holdings) == 2 {
            holders.remove(&self.key);
        }
    }
}

/// One place in one pool, given back when dropped.
#[derive(Debug)]
pub struct ShareSlot(Option<(Arc<Holdings>, Pool)>);

impl Drop for ShareSlot {
    fn drop(&mut self) {
        if let Some((holdings, pool)) = self.0.take() {
            holdings.count(pool).fetch_sub(1, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(raw: &str) -> IpAddr {
        raw.parse().unwrap()
    }

    #[test]
    fn shares_are_a_percentage_of_each_pool_and_never_below_the_minimum() {
        let shares = Shares::of(10, 4096, 100);
        assert_eq!(
            (shares.handshakes, shares.connections, shares.partial_frames),
            (409, 10, 10)
        );
        assert_eq!(Shares::of(10, 5, 5).connections, MIN_SHARE);
    }

    #[test]
    fn an_address_holds_at_most_its_share_and_gets_it_back() {
        let limits = AddressLimits::new(Some(Shares {
            handshakes: 2,
            connections: 2,
            partial_frames: 2,
        }));
        let first = limits.ticket(ip("10.0.0.1"));
        let second = limits.ticket(ip("10.0.0.1"));
        let a = first.try_take(Pool::Connections).expect("1 of 2");
        let b = second.try_take(Pool::Connections).expect("2 of 2");
        assert!(
            second.try_take(Pool::Connections).is_none(),
            "over the share"
        );
        // Another pool and another address are not affected.
        assert!(first.try_take(Pool::Handshakes).is_some());
        let other = limits.ticket(ip("10.0.0.2"));
        assert!(other.try_take(Pool::Connections).is_some());
        drop(a);
        assert!(first.try_take(Pool::Connections).is_some(), "freed");
        drop((b, first, second, other));
        assert_eq!(limits.addresses_held(), 0, "forgotten with its last ticket");
    }

    #[test]
    fn ipv6_addresses_share_per_64_and_off_means_unlimited() {
        let limits = AddressLimits::new(Some(Shares {
            handshakes: 1,
            connections: 1,
            partial_frames: 1,
        }));
        let one = limits.ticket(ip("2001:db8::1"));
        let same_64 = limits.ticket(ip("2001:db8::ffff:2"));
        let _slot = one
            .try_take(Pool::Connections)
            .expect("the /64's one place");
        assert!(same_64.try_take(Pool::Connections).is_none());
        let off = AddressLimits::new(None);
        let ticket = off.ticket(ip("127.0.0.1"));
        let slots: Vec<_> = (0..10_000)
            .map(|_| ticket.try_take(Pool::Connections))
            .collect();
        assert!(slots.iter().all(Option::is_some));
        assert_eq!(off.addresses_held(), 0, "nothing is tracked when off");
    }
}
