//! Mail: what Latchkey sends (the kinds, their templates), how the flows are configured, and
//! the port a transport implements. The outbox that makes delivery reliable is in
//! [`crate::service`] (`mail`, `outbox`) and in the store; the SMTP transport (lettre) is in
//! the server crate, so this crate stays free of network code.
//!
//! A mail is written to the outbox in the same transaction as the token it carries; a worker
//! sends it with bounded, exponential retries. Tokens are 256 random bits from the OS, stored
//! as SHA-256, single use.

pub mod store;
mod templates;

use std::sync::Arc;

use async_trait::async_trait;

pub use templates::{Rendered, Templates, TEMPLATE_NAMES};

/// What a mail is for. Each has a text and an HTML template of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailKind {
    /// Confirm an address (sign-up, or on request).
    VerifyEmail,
    /// A link to set a new password.
    PasswordReset,
    /// Confirm a new address, sent to the new address.
    EmailChange,
    /// The old address is told of a change (no link).
    EmailChanged,
    /// An administrator's invitation: set a password once.
    Invitation,
}

impl MailKind {
    pub const ALL: [MailKind; 5] = [
        MailKind::VerifyEmail,
        MailKind::PasswordReset,
        MailKind::EmailChange,
        MailKind::EmailChanged,
        MailKind::Invitation,
    ];

    /// The name stored in the outbox, used in metrics and as the template's file name.
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::VerifyEmail => "verify_email",
            MailKind::PasswordReset => "password_reset",
            MailKind::EmailChange => "email_change",
            MailKind::EmailChanged => "email_changed",
            MailKind::Invitation => "invitation",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The purpose of the token this kind of mail carries, if any.
    pub fn token_purpose(self) -> Option<TokenPurpose> {
        match self {
            MailKind::VerifyEmail => Some(TokenPurpose::VerifyEmail),
            MailKind::PasswordReset => Some(TokenPurpose::PasswordReset),
            MailKind::EmailChange => Some(TokenPurpose::EmailChange),
            MailKind::Invitation => Some(TokenPurpose::Invitation),
            MailKind::EmailChanged => None,
        }
    }
}

/// What a mailed token proves, once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenPurpose {
    VerifyEmail,
    PasswordReset,
    EmailChange,
    Invitation,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::VerifyEmail => "verify_email",
            TokenPurpose::PasswordReset => "password_reset",
            TokenPurpose::EmailChange => "email_change",
            TokenPurpose::Invitation => "invitation",
        }
    }
}

/// `--email-verification`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verification {
    /// No verification mail is sent; addresses stay unverified.
    Off,
    /// A verification mail on sign-up and on request; unverified users may log in.
    #[default]
    Optional,
    /// As optional, and logins of unverified users are refused.
    Required,
}

impl Verification {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(Verification::Off),
            "optional" => Ok(Verification::Optional),
            "required" => Ok(Verification::Required),
            other => Err(format!(
                "invalid email verification '{other}': expected off, optional or required"
            )),
        }
    }
}

/// Where the hosted pages that mails link to live (absolute paths under the public URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailPaths {
    pub reset: String,
    pub verify: String,
    pub change: String,
    pub invitation: String,
}

impl Default for MailPaths {
    fn default() -> Self {
        MailPaths {
            reset: "/reset-password".into(),
            verify: "/verify-email".into(),
            change: "/confirm-email".into(),
            invitation: "/accept-invitation".into(),
        }
    }
}

/// How long each token is good for, and the delivery and abuse limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailPolicy {
    pub reset_ttl_secs: u64,
    pub verify_ttl_secs: u64,
    pub change_ttl_secs: u64,
    pub invitation_ttl_secs: u64,
    /// Attempts before a mail is marked failed.
    pub max_attempts: u32,
    /// The first retry's delay; each further one doubles, up to `retry_max_secs`.
    pub retry_base_secs: u64,
    pub retry_max_secs: u64,
    /// Mails to one recipient per hour (across instances: counted in the outbox).
    pub per_recipient_per_hour: u32,
    /// Requests to mail-sending endpoints per client address per hour (per instance).
    pub per_address_per_hour: u32,
}

impl Default for MailPolicy {
    fn default() -> Self {
        MailPolicy {
            reset_ttl_secs: 30 * 60,
            verify_ttl_secs: 24 * 3600,
            change_ttl_secs: 60 * 60,
            invitation_ttl_secs: 7 * 24 * 3600,
            max_attempts: 8,
            retry_base_secs: 30,
            retry_max_secs: 3600,
            per_recipient_per_hour: 5,
            per_address_per_hour: 30,
        }
    }
}

impl MailPolicy {
    /// The delay before attempt `attempts + 1`, after `attempts` failed ones.
    pub fn backoff_secs(&self, attempts: u32) -> u64 {
        let doublings = attempts.saturating_sub(1).min(30);
        self.retry_base_secs
            .saturating_mul(1u64 << doublings)
            .min(self.retry_max_secs)
            .max(1)
    }
}

/// A mail as the transport receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    pub id: i64,
    pub kind: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Why a delivery attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    /// The server refused for good (a 5xx reply): retrying cannot help.
    pub permanent: bool,
    /// What happened, for the outbox and the admins (never a credential).
    pub message: String,
}

/// Something that delivers mail: SMTP, or the log in development.
#[async_trait]
pub trait MailTransport: Send + Sync {
    async fn send(&self, from: &str, mail: &OutgoingMail) -> Result<(), SendError>;
    /// What it is, for the start-up log (no credentials).
    fn describe(&self) -> String;
}

/// A configured transport (`Debug` shows what it is, never credentials).
#[derive(Clone)]
pub struct Transport(pub Arc<dyn MailTransport>);

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Transport({})", self.0.describe())
    }
}

/// Everything about mail the core needs.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `None`: no mail can be sent, and the flows that need one say so.
    pub transport: Option<Transport>,
    /// The `From:` address.
    pub from: String,
    /// The product name in the templates.
    pub product: String,
    /// The base of the links; `None`: the issuer (which `latchkey serve` sets to the public
    /// URL).
    pub public_url: Option<String>,
    pub paths: MailPaths,
    pub templates: Templates,
    pub verification: Verification,
    pub policy: MailPolicy,
    /// How often the worker looks for due mail when nothing woke it.
    pub poll_interval: std::time::Duration,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            transport: None,
            from: "Latchkey <no-reply@localhost>".into(),
            product: "Latchkey".into(),
            public_url: None,
            paths: MailPaths::default(),
            templates: Templates::built_in(),
            verification: Verification::default(),
            policy: MailPolicy::default(),
            poll_interval: std::time::Duration::from_secs(2),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap() {
        let p = MailPolicy::default();
        assert_eq!(p.backoff_secs(1), 30);
        assert_eq!(p.backoff_secs(2), 60);
        assert_eq!(p.backoff_secs(3), 120);
        assert_eq!(p.backoff_secs(20), 3600);
    }

    #[test]
    fn kinds_round_trip() {
        for k in MailKind::ALL {
            assert_eq!(MailKind::parse(k.as_str()), Some(k));
        }
        assert!(Verification::parse("sometimes").is_err());
    }
}
