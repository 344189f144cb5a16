//! From flags to configuration: the core's settings and the database, the same for `serve`
//! and every operator command.

use std::sync::Arc;

use super::args::{CoreArgs, DbArgs, DialectMfa, ServiceArgs};
use super::{describe, Fatal};
use crate::core::limits::{RateLimits, ThrottlePolicy};
use crate::core::password::HashParams;
use crate::core::tokens::KeyEncryptionKey;
use crate::core::{CoreConfig, Latchkey};
use crate::store::{PoolConfig, Store};

impl CoreArgs {
    /// The core's configuration; `public_url` (where the server is reached) is the issuer
    /// unless `--issuer` overrides it.
    pub fn to_config(
        &self,
        allow_registration: bool,
        public_url: Option<&str>,
    ) -> Result<CoreConfig, String> {
        let hash = HashParams {
            m_kib: self.argon2_memory_kib,
            t: self.argon2_iterations,
            p: self.argon2_parallelism,
        };
        hash.validate()?;
        if self.access_ttl == 0 || self.session_idle == 0 || self.session_lifetime == 0 {
            return Err("token and session lifetimes must be at least 1 second".into());
        }
        Ok(CoreConfig {
            issuer: self
                .issuer
                .clone()
                .or_else(|| public_url.map(str::to_owned))
                .unwrap_or_else(|| CoreConfig::default().issuer),
            audience: self.audience.clone(),
            access_ttl_secs: self.access_ttl,
            session_idle_secs: self.session_idle,
            session_lifetime_secs: self.session_lifetime,
            allow_registration,
            hash,
            throttle: ThrottlePolicy {
                lock_after: self.login_lock_after,
                lock_base_secs: self.login_lock_secs.max(1),
                lock_max_secs: self.login_lock_max_secs.max(self.login_lock_secs.max(1)),
                address_limit: self.address_failure_limit,
                address_window_secs: self.address_failure_window_secs.max(1),
            },
            rates: RateLimits {
                register_per_hour: self.rate_register_per_hour,
                refresh_per_minute: self.rate_refresh_per_minute,
                password_per_hour: self.rate_password_per_hour,
            },
            password_blocklist: !self.no_password_blocklist,
            key_encryption_key: key_encryption_key()?,
            dialect_mfa_allow: self.dialect_mfa == DialectMfa::Allow,
            mfa_required_roles: self.mfa_required_roles.clone(),
            webauthn_origin: public_url.map(str::to_owned),
            ..CoreConfig::default()
        })
    }
}

pub(super) async fn open(db: &DbArgs) -> Result<Store, Fatal> {
    let pool = PoolConfig {
        max_connections: db.db_max_connections.max(1),
        ..PoolConfig::default()
    };
    let store = Store::connect(&db.database, pool)
        .await
        .map_err(|e| describe(e, &db.database))?;
    store
        .migrate()
        .await
        .map_err(|e| describe(e, &db.database))?;
    Ok(store)
}

/// The core as every command builds it: the same settings, defaults and key sealing.
pub(super) async fn service(
    args: &ServiceArgs,
    allow_registration: bool,
) -> Result<Arc<Latchkey>, Fatal> {
    let cfg = args.core.to_config(allow_registration, None)?;
    let store = open(&args.db).await?;
    Latchkey::new(Arc::new(store), cfg)
        .await
        .map_err(|e| describe(e, &args.db.database))
}

/// `LATCHKEY_KEY_ENCRYPTION_KEY`: base64 of 32 bytes; seals signing keys at rest. Read from
/// the environment only (a flag would show in the process list).
fn key_encryption_key() -> Result<Option<KeyEncryptionKey>, String> {
    match std::env::var("LATCHKEY_KEY_ENCRYPTION_KEY") {
        Ok(v) if !v.trim().is_empty() => KeyEncryptionKey::parse(&v)
            .map(Some)
            .map_err(|e| format!("LATCHKEY_KEY_ENCRYPTION_KEY: {e}")),
        _ => Ok(None),
    }
}
