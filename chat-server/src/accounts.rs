//! Admission of a `hello`: guest names, password accounts and their
//! argon2 hashes. Hashing and verifying run on the blocking pool, a few at
//! a time, never on a connection task's thread.

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chat_proto::UserName;
use tokio::sync::Semaphore;

use crate::broker::{Broker, BrokerError};
use crate::limits::MAX_CONCURRENT_HASHES;
use crate::store::{MessageStore, StoreError};

/// How a session was let in.
#[derive(Debug)]
pub enum Admission {
    /// A guest; the claim keeps the name reserved until it is dropped.
    Guest(GuestClaim),
    /// A password account; `registered` when this hello created it.
    Account { registered: bool },
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
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Broker(#[from] BrokerError),
    #[error("password hashing failed: {0}")]
    Hashing(String),
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

/// Decides who may start a session.
pub struct Accounts {
    store: Arc<dyn MessageStore>,
    broker: Arc<dyn Broker>,
    hashing: Semaphore,
    require_accounts: bool,
}

impl Accounts {
    pub fn new(
        store: Arc<dyn MessageStore>,
        broker: Arc<dyn Broker>,
        require_accounts: bool,
    ) -> Self {
        Self {
            store,
            broker,
            hashing: Semaphore::new(MAX_CONCURRENT_HASHES),
            require_accounts,
        }
    }

    /// Applies the session rules of the protocol to a `hello`.
    pub async fn admit(
        &self,
        user: &UserName,
        password: Option<String>,
    ) -> Result<Admission, HelloError> {
        let stored_hash = self.store.password_hash(user).await?;
        match (stored_hash, password) {
            (Some(_), None) => Err(HelloError::PasswordRequired),
            (Some(hash), Some(password)) => self.log_in(password, hash).await,
            (None, None) if self.require_accounts => Err(HelloError::AuthRequired),
            (None, None) => self.claim_guest(user).await.map(Admission::Guest),
            (None, Some(password)) => {
                if password.is_empty() {
                    return Err(HelloError::EmptyPassword);
                }
                // Registering the name of a live guest would leave two
                // people answering to it; holding the name as a guest while
                // registering also keeps a guest from taking it meanwhile.
                let _claim = self.claim_guest(user).await?;
                let hash = self.hash(password.clone()).await?;
                if self.store.create_account(user, hash).await? {
                    return Ok(Admission::Account { registered: true });
                }
                // Someone registered the name between the lookup and the
                // insert: this hello is a login against their account.
                let hash = self
                    .store
                    .password_hash(user)
                    .await?
                    .ok_or(HelloError::AuthFailed)?;
                self.log_in(password, hash).await
            }
        }
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

    async fn hash(&self, password: String) -> Result<String, HelloError> {
        self.on_hashing_pool(move || {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|e| HelloError::Hashing(e.to_string()))
        })
        .await
    }

    /// Checks a password against a stored hash: a login, or `auth_failed`.
    async fn log_in(&self, password: String, hash: String) -> Result<Admission, HelloError> {
        let matches = self
            .on_hashing_pool(move || {
                let parsed =
                    PasswordHash::new(&hash).map_err(|e| HelloError::Hashing(e.to_string()))?;
                Ok(Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok())
            })
            .await?;
        if matches {
            Ok(Admission::Account { registered: false })
        } else {
            Err(HelloError::AuthFailed)
        }
    }

    /// Runs slow hashing work on the blocking pool, a few at a time.
    async fn on_hashing_pool<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, HelloError> + Send + 'static,
    ) -> Result<T, HelloError> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|e| HelloError::Hashing(e.to_string()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| HelloError::Hashing(e.to_string()))?
    }
}
