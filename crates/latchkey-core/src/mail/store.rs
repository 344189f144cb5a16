//! The mail port: tokens that mails carry, and the outbox. Implemented by `latchkey-store`
//! (re-exported from [`crate::ports`]).

use async_trait::async_trait;

use super::TokenPurpose;
use crate::error::CoreResult;
use crate::model::{SessionId, Timestamp, User, UserId};
use crate::ports::Written;

/// A token to store (its SHA-256 only) with the mail that carries it.
#[derive(Debug, Clone)]
pub struct NewMailToken {
    pub digest: String,
    pub purpose: TokenPurpose,
    pub user: UserId,
    /// The address it was sent to (for an email change: the new address).
    pub email: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A live token, as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailTokenRecord {
    pub user: UserId,
    pub email: String,
    pub expires_at: Timestamp,
}

/// A mail to queue. Bodies are stored sealed when a key-encryption key is configured.
#[derive(Debug, Clone)]
pub struct NewMail {
    pub kind: &'static str,
    pub recipient: String,
    pub user: Option<UserId>,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub created_at: Timestamp,
}

/// A mail claimed for delivery (bodies as stored).
#[derive(Debug, Clone)]
pub struct ClaimedMail {
    pub id: i64,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// This attempt's number (1 for the first).
    pub attempt: u32,
}

/// An outbox entry as admins see it: never the bodies (they hold tokens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailRecord {
    pub id: i64,
    pub kind: String,
    pub recipient: String,
    pub user: Option<UserId>,
    pub subject: String,
    /// `queued`, `sending`, `sent` or `failed`.
    pub status: String,
    pub attempts: u32,
    pub created_at: Timestamp,
    pub next_attempt_at: Option<Timestamp>,
    pub sent_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

/// Filters of the outbox list.
#[derive(Debug, Clone, Default)]
pub struct MailQuery {
    pub status: Option<String>,
    /// Folded.
    pub recipient: Option<String>,
}

/// What a reset or an accepted invitation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordFromToken {
    pub user: UserId,
    pub ended: Vec<SessionId>,
}

#[async_trait]
pub trait MailStore: Send + Sync {
    /// Stores `token` (older unused ones of its user and purpose no longer work) and queues
    /// `mail`, in one transaction.
    async fn issue_mail_token(&self, token: &NewMailToken, mail: &NewMail) -> CoreResult<()>;
    /// Queues a mail that carries no token.
    async fn queue_mail(&self, mail: &NewMail) -> CoreResult<()>;
    /// The token, if unused and unexpired at `now` (nothing is written).
    async fn peek_mail_token(
        &self,
        digest: &str,
        purpose: TokenPurpose,
        now: Timestamp,
    ) -> CoreResult<Option<MailTokenRecord>>;
    /// Uses a reset or invitation token and sets the password (`hash`), at once: the
    /// address is verified (the mail reached it), every session of the user ends. `None`:
    /// the token is unknown, used, superseded or expired, and nothing changed.
    async fn set_password_by_token(
        &self,
        digest: &str,
        purpose: TokenPurpose,
        hash: &str,
        now: Timestamp,
    ) -> CoreResult<Written<Option<PasswordFromToken>>>;
    /// Uses a verification token and marks its address verified, if it is still the user's.
    async fn verify_email_by_token(
        &self,
        digest: &str,
        now: Timestamp,
    ) -> CoreResult<Written<Option<UserId>>>;
    /// Uses an email-change token and writes `user` (whose email is the new address), the
    /// address verified, at once. `None`: the token did not work, and nothing changed.
    async fn change_email_by_token(
        &self,
        digest: &str,
        user: &User,
        now: Timestamp,
    ) -> CoreResult<Written<Option<()>>>;
    /// Marks the user's current address verified or not; `false`: no such user.
    async fn set_email_verified(&self, user: UserId, verified: bool) -> CoreResult<Written<bool>>;
    /// Mails queued for `recipient_key` (folded) since `since`.
    async fn count_recent_mail(&self, recipient_key: &str, since: Timestamp) -> CoreResult<i64>;
    /// Claims up to `limit` due mails (queued and due, or sending with a lapsed lease) for
    /// this worker until `lease_until`; no other worker on the database gets them meanwhile.
    async fn claim_mail(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> CoreResult<Vec<ClaimedMail>>;
    /// Delivered: its bodies are dropped.
    async fn mail_sent(&self, id: i64, now: Timestamp) -> CoreResult<()>;
    /// Not delivered this time: tried again at `next_at`.
    async fn mail_retry(&self, id: i64, next_at: Timestamp, error: &str) -> CoreResult<()>;
    /// Given up: its bodies are dropped; admins see it as failed.
    async fn mail_failed(&self, id: i64, error: &str, now: Timestamp) -> CoreResult<()>;
    /// Newest first.
    async fn list_mail(
        &self,
        q: &MailQuery,
        offset: u64,
        limit: u64,
    ) -> CoreResult<(Vec<MailRecord>, u64)>;
    /// (queued or being sent, failed).
    async fn mail_counts(&self) -> CoreResult<(i64, i64)>;
    /// Drops sent and failed mail created before `before`, and tokens expired before it.
    async fn prune_mail(&self, before: Timestamp) -> CoreResult<u64>;
}
