//! Limits on logging in and registering: failed passwords throttled per
//! name and per address with growing delays, new accounts per address per
//! hour, and a log that names each offending address once in a while
//! instead of once per refused hello. All of it is in memory and forgotten
//! on restart; every table is swept, so it stays as small as the set of
//! recent offenders.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chat_proto::UserName;

/// The wait after the failure that uses up a name's free failures; each
/// further failure doubles it.
pub const FIRST_LOGIN_DELAY: Duration = Duration::from_secs(1);
/// The longest wait between two password guesses for one name or address.
pub const MAX_LOGIN_DELAY: Duration = Duration::from_secs(5 * 60);
/// Failures are forgotten once a name or address has had none for this long.
pub const FAILURES_FORGOTTEN_AFTER: Duration = Duration::from_secs(60 * 60);
/// An address may fail this many times as often as a name before it waits:
/// a team behind one NAT address shares its allowance.
pub const ADDRESS_FAILURE_FACTOR: u32 = 4;
/// Addresses remembered per account as ones it logged in from; a guess
/// from one of them does not count against the name, so a flood of guesses
/// from elsewhere never locks the owner out of its usual address.
pub const KNOWN_ADDRESSES_PER_ACCOUNT: usize = 4;
/// How long a successful login keeps its address known to the account.
pub const KNOWN_ADDRESS_KEPT: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// The window of `--accounts-per-hour`.
pub const REGISTRATION_WINDOW: Duration = Duration::from_secs(60 * 60);
/// An offending address is logged again after this long, not on every
/// refusal.
pub const OFFENDER_LOG_INTERVAL: Duration = Duration::from_secs(10 * 60);
/// A table is swept of forgotten entries when it has grown to twice its
/// size after the last sweep, and never below this size.
const MIN_SWEEP_LEN: usize = 1024;

/// Who is behind a peer address, for counting: an IPv4 address, or the /64
/// prefix of an IPv6 one, since one host is commonly given a whole /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressKey {
    V4(std::net::Ipv4Addr),
    V6Prefix(u64),
}

impl AddressKey {
    pub fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => AddressKey::V4(v4),
            IpAddr::V6(v6) => AddressKey::V6Prefix((u128::from(v6) >> 64) as u64),
        }
    }
}

impl fmt::Display for AddressKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressKey::V4(v4) => write!(f, "{v4}"),
            AddressKey::V6Prefix(prefix) => {
                let v6 = std::net::Ipv6Addr::from(u128::from(*prefix) << 64);
                write!(f, "{v6}/64")
            }
        }
    }
}

/// The limit a refused hello ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Too many wrong passwords for the name or from the address.
    FailedLogins,
    /// Too many new accounts from the address in the last hour.
    NewAccounts,
    /// Too many password hashes queued for the address.
    HashQueue,
    /// The account has as many sessions open as it may.
    SessionsPerAccount,
}

impl Limit {
    /// The limit's name in log lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::FailedLogins => "failed logins",
            Limit::NewAccounts => "new accounts per hour",
            Limit::HashQueue => "queued password hashes",
            Limit::SessionsPerAccount => "sessions per account",
        }
    }
}

/// A map that drops its forgotten entries now and then, so that it holds
/// about as many entries as are still remembered.
#[derive(Debug)]
struct SweptMap<K, V> {
    entries: HashMap<K, V>,
    sweep_at: usize,
}

impl<K: Eq + Hash, V> Default for SweptMap<K, V> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            sweep_at: MIN_SWEEP_LEN,
        }
    }
}

impl<K: Eq + Hash, V> SweptMap<K, V> {
    /// Sweeps the entries `keep` rejects when the map has grown enough.
    fn sweep_if_grown(&mut self, keep: impl FnMut(&K, &mut V) -> bool) {
        if self.entries.len() >= self.sweep_at {
            self.entries.retain(keep);
            self.sweep_at = (self.entries.len() * 2).max(MIN_SWEEP_LEN);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The tables hold counts only: one left mid-update by a panic is still
    // usable, so a poisoned lock is taken over rather than spread.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The failed passwords of one name or one address.
#[derive(Debug, Default)]
struct Failures {
    count: u32,
    /// Guesses being checked now; past the free failures only one at a
    /// time may be, so a burst cannot slip in before the first one fails.
    in_flight: u32,
    last: Option<Instant>,
    blocked_until: Option<Instant>,
}

impl Failures {
    /// Lets a guess be checked, or says how long to wait.
    fn admit(&mut self, free: u32, now: Instant) -> Result<(), Duration> {
        if self.is_forgotten(now) {
            self.count = 0;
            self.blocked_until = None;
        }
        if let Some(until) = self.blocked_until
            && now < until
        {
            return Err(until - now);
        }
        if self.in_flight > 0 && self.count + self.in_flight >= free {
            return Err(FIRST_LOGIN_DELAY);
        }
        self.in_flight += 1;
        Ok(())
    }

    fn settle(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    fn fail(&mut self, free: u32, now: Instant) {
        self.settle();
        self.count = self.count.saturating_add(1);
        self.last = Some(now);
        if self.count >= free {
            self.blocked_until = Some(now + login_delay(self.count - free));
        }
    }

    fn is_forgotten(&self, now: Instant) -> bool {
        self.last
            .is_none_or(|last| now.saturating_duration_since(last) >= FAILURES_FORGOTTEN_AFTER)
    }

    fn is_idle(&self, now: Instant) -> bool {
        self.in_flight == 0 && self.is_forgotten(now)
    }
}

/// The wait after a failure `excess` failures past the free ones.
fn login_delay(excess: u32) -> Duration {
    FIRST_LOGIN_DELAY
        .saturating_mul(1 << excess.min(16))
        .min(MAX_LOGIN_DELAY)
}

#[derive(Debug, Default)]
struct ThrottleState {
    names: SweptMap<String, Failures>,
    addresses: SweptMap<AddressKey, Failures>,
    /// Per account: addresses it logged in from, newest last.
    known: SweptMap<String, Vec<(AddressKey, Instant)>>,
}

/// Failed passwords throttled per name and per address: a few are free,
/// then each further one makes the next guess wait longer.
#[derive(Debug)]
pub struct LoginThrottle {
    /// Failures a name may have before it waits; 0 turns the throttle off.
    free_per_name: u32,
    state: Mutex<ThrottleState>,
}

impl LoginThrottle {
    pub fn new(free_per_name: u32) -> Self {
        Self {
            free_per_name,
            state: Mutex::new(ThrottleState::default()),
        }
    }

    fn free_per_address(&self) -> u32 {
        self.free_per_name.saturating_mul(ADDRESS_FAILURE_FACTOR)
    }

    /// Starts checking a password for `user` from `address`, or says how
    /// long the name or the address must wait first.
    pub fn begin(
        &self,
        user: &UserName,
        address: AddressKey,
        now: Instant,
    ) -> Result<LoginAttempt<'_>, Duration> {
        let name = user.folded().into_string();
        if self.free_per_name == 0 {
            return Ok(LoginAttempt::untracked(name, address));
        }
        let mut state = lock(&self.state);
        let known = state.known.entries.get(&name).is_some_and(|addresses| {
            addresses.iter().any(|(known, at)| {
                *known == address && now.saturating_duration_since(*at) < KNOWN_ADDRESS_KEPT
            })
        });
        let free_per_address = self.free_per_address();
        state
            .addresses
            .entries
            .entry(address)
            .or_default()
            .admit(free_per_address, now)?;
        if !known {
            let admitted = state
                .names
                .entries
                .entry(name.clone())
                .or_default()
                .admit(self.free_per_name, now);
            if let Err(wait) = admitted {
                if let Some(failures) = state.addresses.entries.get_mut(&address) {
                    failures.settle();
                }
                return Err(wait);
            }
        }
        Ok(LoginAttempt {
            throttle: Some(self),
            name,
            address,
            counts_for_name: !known,
            settled: false,
        })
    }

    /// Ends an attempt: `failed` counts a wrong password, otherwise the
    /// attempt is only no longer in flight.
    fn settle(&self, attempt: &LoginAttempt<'_>, failed: bool, now: Instant) {
        let free_per_address = self.free_per_address();
        let mut state = lock(&self.state);
        let ThrottleState {
            names, addresses, ..
        } = &mut *state;
        let end = |failures: &mut Failures, free: u32| {
            if failed {
                failures.fail(free, now);
            } else {
                failures.settle();
            }
        };
        if let Some(failures) = addresses.entries.get_mut(&attempt.address) {
            end(failures, free_per_address);
        }
        if attempt.counts_for_name
            && let Some(failures) = names.entries.get_mut(&attempt.name)
        {
            end(failures, self.free_per_name);
        }
        names.sweep_if_grown(|_, failures| !failures.is_idle(now));
        addresses.sweep_if_grown(|_, failures| !failures.is_idle(now));
    }

    /// Remembers that `attempt`'s address logged in to its account.
    fn remember(&self, attempt: &LoginAttempt<'_>, now: Instant) {
        let mut state = lock(&self.state);
        let addresses = state.known.entries.entry(attempt.name.clone()).or_default();
        addresses.retain(|(address, _)| *address != attempt.address);
        addresses.push((attempt.address, now));
        if addresses.len() > KNOWN_ADDRESSES_PER_ACCOUNT {
            addresses.remove(0);
        }
        state.known.sweep_if_grown(|_, addresses| {
            addresses.retain(|(_, at)| now.saturating_duration_since(*at) < KNOWN_ADDRESS_KEPT);
            !addresses.is_empty()
        });
    }
}

/// A password being checked. Say how it went with [`LoginAttempt::failed`]
/// or [`LoginAttempt::succeeded`]; dropped without either (the hello failed
/// for another reason), it only stops being in flight.
#[derive(Debug)]
pub struct LoginAttempt<'a> {
    /// `None` when the throttle is off.
    throttle: Option<&'a LoginThrottle>,
    name: String,
    address: AddressKey,
    /// False when the address is one the account logged in from.
    counts_for_name: bool,
    settled: bool,
}

impl LoginAttempt<'_> {
    fn untracked(name: String, address: AddressKey) -> Self {
        Self {
            throttle: None,
            name,
            address,
            counts_for_name: false,
            settled: true,
        }
    }

    /// The password was wrong: counts against the name and the address.
    pub fn failed(mut self, now: Instant) {
        self.end(true, now);
    }

    /// The password was right (or the account was just made with it): the
    /// address becomes one the account is known to log in from.
    pub fn succeeded(mut self, now: Instant) {
        if let Some(throttle) = self.throttle {
            throttle.remember(&self, now);
        }
        self.end(false, now);
    }

    fn end(&mut self, failed: bool, now: Instant) {
        if !self.settled {
            self.settled = true;
            if let Some(throttle) = self.throttle {
                throttle.settle(self, failed, now);
            }
        }
    }
}

impl Drop for LoginAttempt<'_> {
    fn drop(&mut self) {
        self.end(false, Instant::now());
    }
}

/// New accounts per address in a sliding hour.
#[derive(Debug)]
pub struct RegistrationLimit {
    /// Accounts an address may make per hour; 0 means unlimited.
    per_hour: u32,
    made: Mutex<SweptMap<AddressKey, VecDeque<Instant>>>,
}

impl RegistrationLimit {
    pub fn new(per_hour: u32) -> Self {
        Self {
            per_hour,
            made: Mutex::new(SweptMap::default()),
        }
    }

    /// Whether `address` may make one more account now, or how long until
    /// the oldest one of the last hour stops counting.
    pub fn check(&self, address: AddressKey, now: Instant) -> Result<(), Duration> {
        self.count(address, now, false)
    }

    /// Counts a new account for `address`, unless it is at the cap (the
    /// answer of [`RegistrationLimit::check`]). Checked before hashing and
    /// taken after, so a hello refused in between uses up no allowance.
    pub fn take(&self, address: AddressKey, now: Instant) -> Result<(), Duration> {
        self.count(address, now, true)
    }

    fn count(&self, address: AddressKey, now: Instant, take: bool) -> Result<(), Duration> {
        if self.per_hour == 0 {
            return Ok(());
        }
        let in_window = |at: &Instant| now.saturating_duration_since(*at) < REGISTRATION_WINDOW;
        let mut made = lock(&self.made);
        let times = made.entries.entry(address).or_default();
        while times.front().is_some_and(|at| !in_window(at)) {
            times.pop_front();
        }
        if times.len() >= self.per_hour as usize {
            let oldest = times.front().copied().unwrap_or(now);
            return Err((oldest + REGISTRATION_WINDOW).saturating_duration_since(now));
        }
        if take {
            times.push_back(now);
        }
        made.sweep_if_grown(|_, times| times.back().is_some_and(in_window));
        Ok(())
    }
}

/// Which offending addresses were logged lately, so each is named once per
/// [`OFFENDER_LOG_INTERVAL`] and limit, never once per refused frame. `L`
/// names the limits (the login ones here; the connection limits of
/// `crate::address_limits` keep a log of their own).
#[derive(Debug)]
pub struct OffenderLog<L = Limit> {
    logged: Mutex<SweptMap<(AddressKey, L), Instant>>,
}

impl<L: Eq + Hash> Default for OffenderLog<L> {
    fn default() -> Self {
        Self {
            logged: Mutex::new(SweptMap::default()),
        }
    }
}

impl<L: Copy + Eq + Hash> OffenderLog<L> {
    /// True when `address` was not logged for `limit` lately: the caller
    /// logs it now.
    pub fn first_in_a_while(&self, address: AddressKey, limit: L, now: Instant) -> bool {
        let recent = |at: &Instant| now.saturating_duration_since(*at) < OFFENDER_LOG_INTERVAL;
        let mut logged = lock(&self.logged);
        let fresh = match logged.entries.get(&(address, limit)) {
            Some(at) if recent(at) => false,
            _ => {
                logged.entries.insert((address, limit), now);
                true
            }
        };
        logged.sweep_if_grown(|_, at| recent(at));
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(raw: &str) -> UserName {
        UserName::parse(raw).unwrap()
    }

    fn address(last: u8) -> AddressKey {
        AddressKey::of(IpAddr::from([10, 0, 0, last]))
    }

    /// Fails `count` guesses one after the other at `now`.
    fn fail(throttle: &LoginThrottle, user: &str, from: AddressKey, count: u32, now: Instant) {
        for _ in 0..count {
            throttle.begin(&name(user), from, now).unwrap().failed(now);
        }
    }

    #[test]
    fn failures_past_the_free_ones_wait_longer_and_longer() {
        let throttle = LoginThrottle::new(3);
        let start = Instant::now();
        fail(&throttle, "alice", address(1), 3, start);
        let wait = throttle
            .begin(&name("alice"), address(1), start)
            .unwrap_err();
        assert_eq!(wait, FIRST_LOGIN_DELAY);
        let later = start + wait;
        fail(&throttle, "alice", address(1), 1, later);
        let wait = throttle
            .begin(&name("alice"), address(1), later)
            .unwrap_err();
        assert_eq!(wait, FIRST_LOGIN_DELAY * 2);
        // The name is throttled from anywhere (guessing from many
        // addresses), and case does not make it another name.
        let wait = throttle
            .begin(&name("ALICE"), address(2), later)
            .unwrap_err();
        assert_eq!(wait, FIRST_LOGIN_DELAY * 2);
        assert!(throttle.begin(&name("bob"), address(2), later).is_ok());
        assert_eq!(login_delay(40), MAX_LOGIN_DELAY);
    }

    #[test]
    fn past_the_free_failures_guesses_are_checked_one_at_a_time() {
        let throttle = LoginThrottle::new(2);
        let now = Instant::now();
        fail(&throttle, "alice", address(1), 1, now);
        let first = throttle.begin(&name("alice"), address(1), now).unwrap();
        assert!(throttle.begin(&name("alice"), address(1), now).is_err());
        drop(first);
        assert!(throttle.begin(&name("alice"), address(1), now).is_ok());
    }

    #[test]
    fn a_known_address_is_not_locked_out_by_guesses_from_elsewhere() {
        let throttle = LoginThrottle::new(2);
        let now = Instant::now();
        throttle
            .begin(&name("alice"), address(1), now)
            .unwrap()
            .succeeded(now);
        fail(&throttle, "alice", address(2), 2, now);
        assert!(throttle.begin(&name("alice"), address(3), now).is_err());
        assert!(throttle.begin(&name("alice"), address(1), now).is_ok());
    }

    #[test]
    fn an_address_guessing_many_names_waits_too_and_is_forgotten_later() {
        let throttle = LoginThrottle::new(1);
        let now = Instant::now();
        for n in 0..ADDRESS_FAILURE_FACTOR {
            fail(&throttle, &format!("user{n}"), address(1), 1, now);
        }
        assert!(throttle.begin(&name("fresh"), address(1), now).is_err());
        assert!(throttle.begin(&name("fresh"), address(2), now).is_ok());
        let much_later = now + FAILURES_FORGOTTEN_AFTER;
        assert!(
            throttle
                .begin(&name("fresh"), address(1), much_later)
                .is_ok()
        );
    }

    #[test]
    fn zero_free_failures_turns_the_throttle_off() {
        let throttle = LoginThrottle::new(0);
        let now = Instant::now();
        fail(&throttle, "alice", address(1), 100, now);
        assert!(throttle.begin(&name("alice"), address(1), now).is_ok());
    }

    #[test]
    fn registrations_are_counted_per_address_in_a_sliding_hour() {
        let limit = RegistrationLimit::new(2);
        let start = Instant::now();
        let later = start + Duration::from_secs(60);
        assert!(limit.take(address(1), start).is_ok());
        assert!(limit.check(address(1), later).is_ok());
        assert!(limit.check(address(1), later).is_ok());
        assert!(limit.take(address(1), later).is_ok());
        assert!(limit.check(address(1), later).is_err());
        let wait = limit.take(address(1), later).unwrap_err();
        assert_eq!(wait, REGISTRATION_WINDOW - Duration::from_secs(60));
        assert!(limit.take(address(2), later).is_ok());
        assert!(limit.take(address(1), start + REGISTRATION_WINDOW).is_ok());
        assert!(RegistrationLimit::new(0).take(address(1), start).is_ok());
    }

    #[test]
    fn an_offender_is_logged_once_per_interval_and_limit() {
        let log = OffenderLog::default();
        let now = Instant::now();
        assert!(log.first_in_a_while(address(1), Limit::FailedLogins, now));
        assert!(!log.first_in_a_while(address(1), Limit::FailedLogins, now));
        assert!(log.first_in_a_while(address(1), Limit::NewAccounts, now));
        assert!(log.first_in_a_while(address(2), Limit::FailedLogins, now));
        let later = now + OFFENDER_LOG_INTERVAL;
        assert!(log.first_in_a_while(address(1), Limit::FailedLogins, later));
    }

    #[test]
    fn ipv6_addresses_count_per_64_prefix() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(AddressKey::of(a), AddressKey::of(b));
        assert_ne!(AddressKey::of(a), AddressKey::of(c));
        assert_eq!(AddressKey::of(a).to_string(), "2001:db8:1:2::/64");
        let mapped: IpAddr = "::ffff:127.0.0.2".parse().unwrap();
        assert_eq!(AddressKey::of(mapped).to_string(), "127.0.0.2");
    }
}
