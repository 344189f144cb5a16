//! The core's configuration. Every default is written here (or in the policy type it
//! belongs to) once; the CLI shows these values as its defaults and every command builds
//! the core from the same settings.

use std::time::Duration;

use crate::limits::{RateLimits, ThrottlePolicy};
use crate::mail::MailConfig;
use crate::password::HashParams;
use crate::tokens::KeyEncryptionKey;

#[derive(Debug, Clone)]
pub struct CoreConfig {
    pub issuer: String,
    pub audience: String,
    pub access_ttl_secs: u64,
    pub session_idle_secs: u64,
    pub session_lifetime_secs: u64,
    pub allow_registration: bool,
    pub hash: HashParams,
    pub hash_workers: usize,
    /// How often the invalidation table is polled (the cross-instance staleness bound).
    pub sync_interval: Duration,
    /// Failed-login locking.
    pub throttle: ThrottlePolicy,
    /// Per-address limits on sign-up, refresh and password change.
    pub rates: RateLimits,
    /// Refuse passwords on the common-passwords list.
    pub password_blocklist: bool,
    /// Seals signing keys and TOTP secrets at rest (AES-256-GCM) when set.
    pub key_encryption_key: Option<KeyEncryptionKey>,
    /// Lets a user with a second factor log in through a dialect with the password alone
    /// (weaker; every such login is audited). Off: dialects refuse them.
    pub dialect_mfa_allow: bool,
    /// Roles whose holders must have a second factor: without one, a login opens a session
    /// good only for enrolling one.
    pub mfa_required_roles: Vec<String>,
    /// The public URL, whose host is the WebAuthn relying party; `None` (or an IP address):
    /// no passkeys.
    pub webauthn_origin: Option<String>,
    /// Mail: the transport, templates, email verification, token lifetimes and limits.
    pub mail: MailConfig,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            issuer: "latchkey".into(),
            audience: "latchkey".into(),
            access_ttl_secs: 15 * 60,
            session_idle_secs: 7 * 24 * 3600,
            session_lifetime_secs: 30 * 24 * 3600,
            allow_registration: true,
            hash: HashParams::default(),
            hash_workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            sync_interval: Duration::from_millis(500),
            throttle: ThrottlePolicy::default(),
            rates: RateLimits::default(),
            password_blocklist: true,
            key_encryption_key: None,
            dialect_mfa_allow: false,
            mfa_required_roles: Vec::new(),
            webauthn_origin: None,
            mail: MailConfig::default(),
        }
    }
}
