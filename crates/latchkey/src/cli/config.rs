//! From flags to configuration: the core's settings and the database, the same for `serve`
//! and every operator command.

use std::sync::Arc;

use super::args::{CoreArgs, DbArgs, DialectMfa, MailArgs, ServiceArgs};
use super::{describe, Fatal};
use crate::core::limits::{RateLimits, ThrottlePolicy};
use crate::core::mail::{
    MailConfig, MailPaths, MailPolicy, MailTransport, Templates, Transport, Verification,
};
use crate::core::password::HashParams;
use crate::core::tokens::KeyEncryptionKey;
use crate::core::{CoreConfig, Latchkey};
use crate::mail::{LogTransport, SmtpTransport, SmtpUrl};
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

impl MailArgs {
    /// The core's mail settings: the transport (checked, not yet connected), the templates
    /// (each rendered once), the policy. Mail links lead to `public_url` and `paths`.
    pub fn to_config(&self, public_url: &str, paths: MailPaths) -> Result<MailConfig, String> {
        let verification = Verification::parse(self.email_verification.trim())
            .map_err(|e| format!("--email-verification: {e}"))?;
        let transport: Option<Arc<dyn MailTransport>> = match (&self.smtp_url, self.mail_log) {
            (Some(_), true) => {
                return Err("--smtp-url and --mail-log exclude each other: choose one".into())
            }
            (Some(url), false) => {
                let url = SmtpUrl::parse(url, std::env::var("LATCHKEY_SMTP_PASSWORD").ok())
                    .map_err(|e| format!("--smtp-url: {e}"))?;
                if self.mail_from.is_none() {
                    return Err(
                        "--smtp-url needs --mail-from (LATCHKEY_MAIL_FROM), the address mails come from"
                            .into(),
                    );
                }
                Some(Arc::new(SmtpTransport::new(url)?))
            }
            (None, true) => Some(Arc::new(LogTransport)),
            (None, false) => None,
        };
        if transport.is_none() && verification == Verification::Required {
            return Err(
                "--email-verification required needs mail: set --smtp-url (or --mail-log for development)"
                    .into(),
            );
        }
        let from = self
            .mail_from
            .clone()
            .unwrap_or_else(|| format!("{} <no-reply@localhost>", self.product_name));
        from.parse::<lettre::message::Mailbox>()
            .map_err(|e| format!("--mail-from '{from}': {e}"))?;
        let templates = match &self.mail_templates {
            Some(dir) => Templates::load(dir)?,
            None => Templates::built_in(),
        };
        if self.product_name.trim().is_empty() || self.product_name.chars().any(char::is_control) {
            return Err("--product-name must be a non-empty line of text".into());
        }
        if self.password_reset_ttl == 0 || self.invitation_ttl == 0 || self.mail_max_attempts == 0 {
            return Err(
                "--password-reset-ttl, --invitation-ttl and --mail-max-attempts must be at least 1"
                    .into(),
            );
        }
        Ok(MailConfig {
            transport: transport.map(Transport),
            from,
            product: self.product_name.trim().to_owned(),
            public_url: Some(public_url.to_owned()),
            paths,
            templates,
            verification,
            policy: MailPolicy {
                reset_ttl_secs: self.password_reset_ttl,
                invitation_ttl_secs: self.invitation_ttl,
                per_recipient_per_hour: self.mail_per_recipient_per_hour,
                per_address_per_hour: self.rate_mail_per_hour,
                max_attempts: self.mail_max_attempts,
                retry_base_secs: self.mail_retry_base_secs.max(1),
                ..MailPolicy::default()
            },
            ..MailConfig::default()
        })
    }
}

pub(super) async fn open(db: &DbArgs) -> Result<Store, Fatal> {
    let pool = PoolConfig {
        max_connections: db.db_max_connections.max(1),
        statement_cache: db.db_statement_cache,
        direct_url: db.database_listen_url.clone(),
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
