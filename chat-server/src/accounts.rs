//! Admission of a `hello`: guest names, password accounts and their
//! argon2 hashes, and the limits on them (failed passwords, new accounts per
//! address, sessions per account). Hashing and verifying run on the blocking
//! pool, a few at a time behind a queue that is fair between addresses,
//! never on a connection task's thread.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chat_proto::{ErrorCode, ServerFrame, UserName};

use crate::broker::{Broker, BrokerError};
use crate::config::LoginLimits;
use crate::hash_queue::{HashQueue, HashQueueError};
use crate::limits::MAX_CONCURRENT_HASHES;
use crate::login_limits::{
    AddressKey, Limit, LoginAttempt, LoginThrottle, OFFENDER_LOG_INTERVAL, OffenderLog,
    RegistrationLimit,
};
use crate::metrics::Metrics;
use crate::store::{MessageStore, StoreError};

/// How long a hello refused for a full hashing queue is told to wait: a
/// few hashes' time.
const HASH_QUEUE_RETRY: Duration = Duration::from_secs(1);

/// How a session was let in.
#[derive(Debug)]
pub enum Admission {
    /// A guest; the claim keeps the name reserved until it is dropped.
    Guest(GuestClaim),
    /// A password account; `registered` when this hello created it. The
    /// seat counts the session against the account's cap until dropped.
    /// `user` is the account's spelling, which may differ in case from
    /// the hello's.
    Account {
        user: UserName,
        registered: bool,
        seat: AccountSeat,
    },
}

/// Why a `hello` was refused.
#[derive(Debug, thiserror::Error)]
pub enum HelloError {
    #[error("wrong password for a registered name")]
    AuthFailed,
    #[error("this name is registered: log in with its password")]
    PasswordRequired,
    #[error("a password must not be empty")]
    EmptyPassword,
    #[error("this server requires an account: send a password")]
    AuthRequired,
    #[error("the name is in use by another guest")]
    NameTaken,
    /// The name is registered in another spelling: names are one
    /// regardless of case.
    #[error("the name is registered as {0}")]
    RegisteredAs(UserName),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Broker(#[from] BrokerError),
    #[error("password hashing failed: {0}")]
    Hashing(String),
    /// A limit refused the hello for now: `rate_limited`, the connection
    /// stays open.
    #[error("{0}")]
    Refused(Refusal),
}

/// A hello refused by one of the login limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub limit: Limit,
    /// When asking again may succeed; `None` when only the user can change
    /// that (by closing one of its sessions).
    pub retry_after: Option<Duration>,
    /// The cap that was met, for the message.
    cap: u32,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Rounded up: "try again in 1 s" must not come a moment too soon.
        let wait = self
            .retry_after
            .map_or(0, |wait| wait.as_millis().div_ceil(1000).max(1));
        match self.limit {
            Limit::FailedLogins => write!(
                f,
                "too many failed logins for this name or from this address: try again in {wait} s"
            ),
            Limit::NewAccounts => write!(
                f,
                "this address made {} new accounts in the last hour: try again in {wait} s",
                self.cap
            ),
            Limit::HashQueue => write!(
                f,
                "this address has {} logins being checked already: try again in {wait} s",
                self.cap
            ),
            Limit::SessionsPerAccount => write!(
                f,
                "this account already has {} sessions open: close one to open another",
                self.cap
            ),
        }
    }
}

impl Refusal {
    /// The `rate_limited` error frame, with `retry_after_ms` when known.
    pub fn to_frame(&self, reference: Option<String>) -> ServerFrame {
        ServerFrame::Error {
            code: ErrorCode::RateLimited,
            message: self.to_string(),
            reference,
            retry_after_ms: self
                .retry_after
                .map(|wait| u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1)),
        }
    }
}

/// A guest name held by a live session; released when dropped.
pub struct GuestClaim {
    broker: Arc<dyn Broker>,
    user: UserName,
}

impl std::fmt::Debug for GuestClaim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestClaim")
            .field("user", &self.user)
            .finish()
    }
}

impl Drop for GuestClaim {
    fn drop(&mut self) {
        self.broker.release_guest(&self.user);
    }
}

/// Live sessions per account on this server, for `--sessions-per-account`.
#[derive(Debug)]
struct Seats {
    /// Sessions an account may have; 0 means no cap.
    cap: u32,
    /// Per account (lower-cased name): sessions open now.
    held: Mutex<HashMap<String, u32>>,
}

/// One session's place in its account's count; freed when dropped.
#[derive(Debug)]
pub struct AccountSeat {
    seats: Option<Arc<Seats>>,
    account: String,
}

impl Drop for AccountSeat {
    fn drop(&mut self) {
        if let Some(seats) = &self.seats {
            let mut held = seats
                .held
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(count) = held.get_mut(&self.account) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    held.remove(&self.account);
                }
            }
        }
    }
}

impl Seats {
    /// A seat for one more session of `user`, or `None` at the cap.
    fn take(self: &Arc<Self>, user: &UserName) -> Option<AccountSeat> {
        let account = user.folded().into_string();
        if self.cap == 0 {
            return Some(AccountSeat {
                seats: None,
                account,
            });
        }
        let mut held = self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = held.entry(account.clone()).or_default();
        if *count >= self.cap {
            return None;
        }
        *count += 1;
        Some(AccountSeat {
            seats: Some(self.clone()),
            account,
        })
    }
}

/// Decides who may start a session.
pub struct Accounts {
    store: Arc<dyn MessageStore>,
    broker: Arc<dyn Broker>,
    hashing: HashQueue,
    require_accounts: bool,
    throttle: LoginThrottle,
    registrations: RegistrationLimit,
    seats: Arc<Seats>,
    limits: LoginLimits,
    offenders: OffenderLog,
    metrics: Arc<Metrics>,
}

impl Accounts {
    pub fn new(
        store: Arc<dyn MessageStore>,
        broker: Arc<dyn Broker>,
        require_accounts: bool,
        limits: LoginLimits,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            store,
            broker,
            hashing: HashQueue::new(MAX_CONCURRENT_HASHES, limits.hashes_per_address as usize),
            require_accounts,
            throttle: LoginThrottle::new(limits.failures_before_delay),
            registrations: RegistrationLimit::new(limits.accounts_per_hour),
            seats: Arc::new(Seats {
                cap: limits.sessions_per_account,
                held: Mutex::new(HashMap::new()),
            }),
            limits,
            offenders: OffenderLog::default(),
            metrics,
        }
    }

    /// Applies the session rules of the protocol, and the login limits, to
    /// a `hello` from `peer`.
    pub async fn admit(
        &self,
        user: &UserName,
        password: Option<String>,
        peer: SocketAddr,
    ) -> Result<Admission, HelloError> {
        let Some(password) = password else {
            return match self.store.account(user).await? {
                // Protocol 1: a registered name without its password.
                Some(account) if account.name == *user => Err(HelloError::PasswordRequired),
                Some(account) => Err(HelloError::RegisteredAs(account.name)),
                None if self.require_accounts => Err(HelloError::AuthRequired),
                None => self.claim_guest(user).await.map(Admission::Guest),
            };
        };
        let attempt = self
            .throttle
            .begin(user, AddressKey::of(peer.ip()), Instant::now())
            .map_err(|wait| self.refuse(Limit::FailedLogins, Some(wait), user, peer))?;
        match self.store.account(user).await? {
            // Any spelling logs in to the account, which answers with its own.
            Some(account) => {
                let hash = account.password_hash;
                self.log_in(&account.name, password, hash, attempt, peer)
                    .await
            }
            None => self.register(user, password, attempt, peer).await,
        }
    }

    /// Makes the account `user` with `password`, unless the address made
    /// its share of accounts this hour.
    async fn register(
        &self,
        user: &UserName,
        password: String,
        attempt: LoginAttempt<'_>,
        peer: SocketAddr,
    ) -> Result<Admission, HelloError> {
        if password.is_empty() {
            return Err(HelloError::EmptyPassword);
        }
        // Registering the name of a live guest would leave two people
        // answering to it; holding the name as a guest while registering
        // also keeps a guest from taking it meanwhile.
        let _claim = self.claim_guest(user).await?;
        let address = AddressKey::of(peer.ip());
        let over_cap = |wait| self.refuse(Limit::NewAccounts, Some(wait), user, peer);
        self.registrations
            .check(address, Instant::now())
            .map_err(over_cap)?;
        let hash = self.hash(user, password.clone(), peer).await?;
        self.registrations
            .take(address, Instant::now())
            .map_err(over_cap)?;
        if self.store.create_account(user, hash).await? {
            attempt.succeeded(Instant::now());
            let seat = self.take_seat(user, peer)?;
            return Ok(Admission::Account {
                user: user.clone(),
                registered: true,
                seat,
            });
        }
        // Someone registered the name (in some spelling) between the
        // lookup and the insert: this hello is a login against their
        // account.
        let account = self
            .store
            .account(user)
            .await?
            .ok_or(HelloError::AuthFailed)?;
        let hash = account.password_hash;
        self.log_in(&account.name, password, hash, attempt, peer)
            .await
    }

    async fn claim_guest(&self, user: &UserName) -> Result<GuestClaim, HelloError> {
        if !self.broker.claim_guest(user).await? {
            return Err(HelloError::NameTaken);
        }
        Ok(GuestClaim {
            broker: self.broker.clone(),
            user: user.clone(),
        })
    }

    async fn hash(
        &self,
        user: &UserName,
        password: String,
        peer: SocketAddr,
    ) -> Result<String, HelloError> {
        self.on_hashing_pool(user, peer, move || {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|e| HelloError::Hashing(e.to_string()))
        })
        .await
    }

    /// Checks a password against a stored hash: a login, or `auth_failed`
    /// (counted by the throttle).
    async fn log_in(
        &self,
        user: &UserName,
        password: String,
        hash: String,
        attempt: LoginAttempt<'_>,
        peer: SocketAddr,
    ) -> Result<Admission, HelloError> {
        let matches = self
            .on_hashing_pool(user, peer, move || {
                let parsed =
                    PasswordHash::new(&hash).map_err(|e| HelloError::Hashing(e.to_string()))?;
                Ok(Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok())
            })
            .await?;
        if !matches {
            attempt.failed(Instant::now());
            self.metrics.logins_failed.fetch_add(1, Ordering::Relaxed);
            return Err(HelloError::AuthFailed);
        }
        attempt.succeeded(Instant::now());
        let seat = self.take_seat(user, peer)?;
        Ok(Admission::Account {
            user: user.clone(),
            registered: false,
            seat,
        })
    }

    fn take_seat(&self, user: &UserName, peer: SocketAddr) -> Result<AccountSeat, HelloError> {
        self.seats
            .take(user)
            .ok_or_else(|| self.refuse(Limit::SessionsPerAccount, None, user, peer))
    }

    /// Counts and logs a refusal (each address once per interval and
    /// limit) and makes its error.
    fn refuse(
        &self,
        limit: Limit,
        retry_after: Option<Duration>,
        user: &UserName,
        peer: SocketAddr,
    ) -> HelloError {
        let (counter, cap) = match limit {
            Limit::FailedLogins => (
                &self.metrics.logins_throttled,
                self.limits.failures_before_delay,
            ),
            Limit::NewAccounts => (
                &self.metrics.registrations_refused,
                self.limits.accounts_per_hour,
            ),
            Limit::HashQueue => (
                &self.metrics.hash_queue_refused,
                self.limits.hashes_per_address,
            ),
            Limit::SessionsPerAccount => (
                &self.metrics.account_sessions_refused,
                self.limits.sessions_per_account,
            ),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let address = AddressKey::of(peer.ip());
        if self
            .offenders
            .first_in_a_while(address, limit, Instant::now())
        {
            tracing::warn!(
                %peer,
                user = %user,
                limit = limit.as_str(),
                "refusing hellos from {address} over the {} limit; \
                 its further refusals are not logged for {} minutes",
                limit.as_str(),
                OFFENDER_LOG_INTERVAL.as_secs() / 60
            );
        }
        HelloError::Refused(Refusal {
            limit,
            retry_after,
            cap,
        })
    }

    /// Runs slow hashing work on the blocking pool, when the fair queue
    /// gives `peer`'s address its turn.
    async fn on_hashing_pool<T: Send + 'static>(
        &self,
        user: &UserName,
        peer: SocketAddr,
        work: impl FnOnce() -> Result<T, HelloError> + Send + 'static,
    ) -> Result<T, HelloError> {
        let _slot = match self.hashing.slot(AddressKey::of(peer.ip())).await {
            Ok(slot) => slot,
            Err(HashQueueError::Full(_)) => {
                let wait = Some(HASH_QUEUE_RETRY);
                return Err(self.refuse(Limit::HashQueue, wait, user, peer));
            }
            Err(e @ HashQueueError::Closed) => return Err(HelloError::Hashing(e.to_string())),
        };
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| HelloError::Hashing(e.to_string()))?
    }
}
