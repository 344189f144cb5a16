//! The storage ports: what the services need of a database, by table family. The SQL
//! implementation lives in `latchkey-store`; the conformance suite (`tests/api/conformance`)
//! holds any implementation to the rules that live in SQL.
//!
//! A write that can make a cached answer wrong returns [`Written`]: its value and the
//! invalidations it recorded in its own transaction. The services apply exactly those, so
//! the list of what a change invalidates is kept in one place, beside the statement.

use async_trait::async_trait;

use crate::audit::{AuditEvent, AuditQuery, AuditRecord};
use crate::cache::Invalidation;
use crate::error::CoreResult;
use crate::limits::Counters;
use crate::model::*;
use crate::oauth::clients::Registration;
use crate::oauth::Client;
use crate::tokens::StoredKey;

pub use crate::mail::store::*;

/// A write's result and the invalidations its transaction recorded (and, on PostgreSQL,
/// notified).
#[derive(Debug, Clone, PartialEq)]
#[must_use = "the invalidations of a write must be applied"]
pub struct Written<T> {
    pub value: T,
    pub invalidations: Vec<Invalidation>,
}

impl<T> Written<T> {
    pub fn new(value: T, invalidations: Vec<Invalidation>) -> Self {
        Written {
            value,
            invalidations,
        }
    }
}

/// A new user as the store receives it: validated, folded keys derived by the store.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub uuid: String,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub profile: Profile,
    pub organization: Option<OrgId>,
    pub is_active: bool,
    pub default_role: Option<String>,
}

/// What a login needs to know of a user.
#[derive(Debug, Clone)]
pub struct LoginRecord {
    pub id: UserId,
    pub password_hash: String,
    pub is_active: bool,
    /// The user has a confirmed second factor.
    pub mfa: bool,
}

/// An authorization code as stored (only its digest, never the code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRecord {
    pub digest: String,
    pub client_id: String,
    pub user_id: UserId,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    /// The PKCE `S256` challenge, when the request had one.
    pub code_challenge: Option<String>,
    /// When the user last signed in (the browser session's start).
    pub auth_time: Timestamp,
    /// How (the browser session's `amr`).
    pub amr: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
}

/// The result of redeeming a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed {
    /// First use: the session is open.
    Opened,
    /// Used before (or at the same moment): what that use opened has now been ended.
    Replayed(Option<SessionId>),
}

/// A user's remembered consent for a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub client_id: String,
    pub client_name: String,
    pub scope: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The result of presenting a refresh token.
#[derive(Debug, Clone, PartialEq)]
pub enum RotateOutcome {
    Rotated {
        session: SessionId,
        user: UserId,
        expires_at: Timestamp,
        /// The scope of an OAuth client's session.
        scope: Option<String>,
    },
    /// Used before: the session has now been ended.
    Reused { session: SessionId, user: UserId },
    /// The session had already ended.
    Ended,
    /// The session was past its idle timeout or lifetime: it has now been ended.
    Expired { session: SessionId },
    /// No such token.
    Unknown,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// How many users there are (kept exact without a scan).
    async fn count_users(&self) -> CoreResult<i64>;
    /// Inserts a user and their active role assignments (creating missing roles) at once.
    async fn insert_user(
        &self,
        u: &NewUser,
        roles: &[String],
        actor: Option<&str>,
    ) -> CoreResult<UserId>;
    async fn get_user(&self, id: UserId) -> CoreResult<Option<User>>;
    async fn get_user_by_uuid(&self, uuid: &str) -> CoreResult<Option<User>>;
    /// By username or email; `key` is folded ([`crate::validate::fold`]).
    async fn get_user_by_login(&self, key: &str) -> CoreResult<Option<User>>;
    /// What a login needs; `key` is folded.
    async fn login_record(&self, key: &str) -> CoreResult<Option<LoginRecord>>;
    async fn password_hash(&self, id: UserId) -> CoreResult<Option<String>>;
    /// Writes a user's changeable fields (validated by the core).
    async fn update_user(&self, u: &User) -> CoreResult<Written<()>>;
    /// Replaces `old` (the hash a login just verified) by `new` and records `event`, in one
    /// transaction; does nothing (`false`) when the stored hash is no longer `old`.
    async fn upgrade_password(
        &self,
        id: UserId,
        old: &str,
        new: &str,
        event: &AuditEvent,
        client: &ClientInfo,
    ) -> CoreResult<Written<bool>>;
    /// Stores a new hash; with `end_sessions`, ends the user's sessions but `keep`, at once.
    async fn set_password(
        &self,
        id: UserId,
        hash: &str,
        end_sessions: Option<(Option<&SessionId>, &str)>,
    ) -> CoreResult<Written<Vec<SessionId>>>;
    /// Deletes a user with their sessions and assignments.
    async fn delete_user(&self, id: UserId) -> CoreResult<Written<()>>;
    /// Deletes every user but `keep`; returns how many.
    async fn delete_users_except(&self, keep: UserId) -> CoreResult<Written<u64>>;
    async fn list_users(&self, q: &UserQuery, page: &PageRequest) -> CoreResult<UserPage>;
}

#[async_trait]
pub trait RoleStore: Send + Sync {
    async fn list_roles(&self) -> CoreResult<Vec<Role>>;
    async fn get_role(&self, id: RoleId) -> CoreResult<Option<Role>>;
    async fn create_role(&self, name: &str, description: Option<&str>) -> CoreResult<RoleId>;
    async fn update_role(
        &self,
        id: RoleId,
        name: &str,
        description: Option<&str>,
    ) -> CoreResult<Written<()>>;
    async fn delete_role(&self, id: RoleId) -> CoreResult<Written<()>>;
    async fn get_assignment(&self, id: AssignmentId) -> CoreResult<Option<Assignment>>;
    async fn list_assignments(
        &self,
        q: &AssignmentQuery,
        offset: u64,
        limit: u64,
    ) -> CoreResult<(Vec<Assignment>, u64)>;
    /// Sets a user's default role (the role must exist).
    async fn set_default_role(&self, user: UserId, role: Option<RoleId>)
        -> CoreResult<Written<()>>;
    /// Creates an assignment, creating the role if needed.
    async fn create_assignment(
        &self,
        user: UserId,
        role: &str,
        is_active: bool,
        actor: Option<&str>,
    ) -> CoreResult<Written<AssignmentId>>;
    /// Rewrites an assignment and bumps its version; returns the assignment as written.
    async fn update_assignment(
        &self,
        id: AssignmentId,
        user: UserId,
        role: &str,
        is_active: bool,
        actor: Option<&str>,
    ) -> CoreResult<Written<Assignment>>;
    async fn delete_assignment(&self, id: AssignmentId) -> CoreResult<Written<()>>;
    /// Makes `roles` exactly the user's active roles, at once.
    async fn replace_roles(
        &self,
        user: UserId,
        roles: &[String],
        actor: Option<&str>,
    ) -> CoreResult<Written<()>>;
}

#[async_trait]
pub trait OrgStore: Send + Sync {
    async fn list_orgs(&self, offset: u64, limit: u64) -> CoreResult<(Vec<Organization>, u64)>;
    async fn get_org(&self, id: OrgId) -> CoreResult<Option<Organization>>;
    async fn create_org(&self, name: &str, description: Option<&str>) -> CoreResult<OrgId>;
    async fn update_org(
        &self,
        id: OrgId,
        name: &str,
        description: Option<&str>,
    ) -> CoreResult<Written<()>>;
    async fn delete_org(&self, id: OrgId) -> CoreResult<Written<()>>;
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// A session, its first refresh token and (when given) its audit event, at once.
    async fn create_session(
        &self,
        s: &Session,
        refresh_digest: &str,
        audit: Option<(&AuditEvent, &ClientInfo)>,
    ) -> CoreResult<()>;
    async fn get_session(&self, id: &SessionId) -> CoreResult<Option<Session>>;
    /// A user's live sessions, newest first.
    async fn list_sessions(&self, user: UserId, now: Timestamp) -> CoreResult<Vec<Session>>;
    async fn count_active_sessions(&self, now: Timestamp) -> CoreResult<i64>;
    /// Ends one session; false if it was unknown or had ended.
    async fn end_session(&self, id: &SessionId, reason: &str) -> CoreResult<Written<bool>>;
    /// Ends a user's sessions but `keep`; returns the ended ids.
    async fn end_user_sessions(
        &self,
        user: UserId,
        keep: Option<&SessionId>,
        reason: &str,
    ) -> CoreResult<Written<Vec<SessionId>>>;
    /// Exchanges a refresh token: of two concurrent uses exactly one rotates; a reuse ends
    /// the session. Only a token of a session of `client` (`""`: no client, the native API)
    /// is found; any other is `Unknown` and changes nothing.
    async fn rotate_refresh(
        &self,
        old_digest: &str,
        new_digest: &str,
        now: Timestamp,
        idle_timeout_secs: u64,
        client: &str,
    ) -> CoreResult<Written<RotateOutcome>>;
    /// The live, unused-token session a refresh token belongs to, without rotating it (the
    /// hosted pages' cookie).
    async fn session_by_refresh(&self, digest: &str) -> CoreResult<Option<Session>>;
    /// Sessions ended since `since` (loaded at start).
    async fn sessions_ended_since(&self, since: Timestamp) -> CoreResult<Vec<SessionId>>;
    async fn prune_sessions(&self, before: Timestamp) -> CoreResult<u64>;
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn insert_audit(
        &self,
        e: &AuditEvent,
        client: &ClientInfo,
        at: Timestamp,
    ) -> CoreResult<()>;
    /// Events matching `q`, newest first (oldest first with `ascending`), and their count.
    async fn list_audit(
        &self,
        q: &AuditQuery,
        offset: u64,
        limit: u64,
        ascending: bool,
    ) -> CoreResult<(Vec<AuditRecord>, u64)>;
    /// How many events of `action` each hour since `since`, by outcome:
    /// `(hour, outcome, count)` with `hour` the hours since the epoch.
    async fn audit_hourly(
        &self,
        action: &str,
        since: Timestamp,
    ) -> CoreResult<Vec<(i64, String, i64)>>;
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn list_keys(&self) -> CoreResult<Vec<StoredKey>>;
    /// Adds a key; with `retire_others` the previous ones stop signing.
    async fn add_key(&self, key: &StoredKey, retire_others: bool) -> CoreResult<Written<()>>;
    async fn prune_keys(&self, before: Timestamp) -> CoreResult<u64>;
}

/// Registered OAuth clients. Every change records an invalidation, so instances that cache
/// a client drop it at once (on PostgreSQL through NOTIFY) and a change works everywhere.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Stores a registration under `id`, with the digest of its secret if it has one.
    async fn create_client(
        &self,
        id: &str,
        r: &Registration,
        secret_digest: Option<&str>,
    ) -> CoreResult<()>;
    async fn get_client(&self, id: &str) -> CoreResult<Option<Client>>;
    /// The client and its secret's digest, for client authentication.
    async fn client_credentials(&self, id: &str) -> CoreResult<Option<(Client, Option<String>)>>;
    /// Clients by creation, and how many there are.
    async fn list_clients(&self, offset: u64, limit: u64) -> CoreResult<(Vec<Client>, u64)>;
    async fn update_client(&self, id: &str, r: &Registration) -> CoreResult<Written<()>>;
    async fn set_client_secret(&self, id: &str, secret_digest: &str) -> CoreResult<Written<()>>;
    /// Deletes a client and ends the sessions opened for it.
    async fn delete_client(&self, id: &str) -> CoreResult<Written<()>>;
}

/// Authorization codes and remembered consent (OpenID Connect).
#[async_trait]
pub trait GrantStore: Send + Sync {
    async fn insert_code(&self, code: &CodeRecord) -> CoreResult<()>;
    /// A code as stored, used or not, without using it.
    async fn peek_code(&self, digest: &str) -> CoreResult<Option<CodeRecord>>;
    /// Uses a code once, in one transaction with the session it opens: of two redemptions
    /// exactly one wins; the loser (and any later one) ends what the winner opened.
    async fn redeem_code(
        &self,
        digest: &str,
        session: &Session,
        refresh_digest: &str,
        now: Timestamp,
        audit: Option<(&AuditEvent, &ClientInfo)>,
    ) -> CoreResult<Written<Redeemed>>;
    async fn prune_codes(&self, before: Timestamp) -> CoreResult<u64>;
    /// The scope a user has consented to for a client.
    async fn get_grant(&self, user: UserId, client: &str) -> CoreResult<Option<String>>;
    async fn put_grant(&self, user: UserId, client: &str, scope: &str) -> CoreResult<()>;
    async fn list_grants(&self, user: UserId) -> CoreResult<Vec<Grant>>;
    /// Forgets a grant and ends the user's sessions of that client; false if there was none.
    async fn delete_grant(&self, user: UserId, client: &str) -> CoreResult<Written<bool>>;
}

/// A user's TOTP factor as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpRecord {
    /// Sealed (`aead:v1:…`) or `plain:<base32>`.
    pub secret: String,
    pub created_at: Timestamp,
    /// Set once a correct code confirmed it: only then does it count.
    pub confirmed_at: Option<Timestamp>,
    /// The last time step accepted.
    pub last_step: Option<u64>,
}

/// A registered passkey as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyRecord {
    pub id: String,
    pub name: String,
    /// base64url, unique across users.
    pub credential_id: String,
    /// webauthn-rs's credential record (public key, counter, flags) as JSON.
    pub passkey: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

/// A user's second factors as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MfaRecord {
    pub totp: Option<TotpRecord>,
    /// Oldest first.
    pub passkeys: Vec<PasskeyRecord>,
    /// The digests of the unused recovery codes.
    pub recovery_codes: Vec<String>,
}

/// Which second factor a removal is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor<'a> {
    Totp,
    Passkey(&'a str),
    /// Every factor (an admin's reset).
    All,
}

/// A login awaiting its second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeRecord {
    pub user_id: UserId,
    pub expires_at: Timestamp,
    pub failures: u32,
    pub used_at: Option<Timestamp>,
    /// The passkey assertion asked for, as webauthn-rs's state (JSON).
    pub webauthn_state: Option<String>,
}

/// Second factors and the pending second step of logins.
#[async_trait]
pub trait MfaStore: Send + Sync {
    async fn mfa_record(&self, user: UserId) -> CoreResult<MfaRecord>;
    /// Stores a new unconfirmed TOTP secret, replacing an unconfirmed one; `false` (and
    /// nothing written) when the user has a confirmed one.
    async fn put_pending_totp(
        &self,
        user: UserId,
        secret: &str,
        now: Timestamp,
    ) -> CoreResult<bool>;
    /// Confirms the pending secret with the step its code used; with `recovery`, the user's
    /// recovery codes become those; ends the user's sessions but `keep`; records `audit`. One
    /// transaction. `None` when there was no pending secret (another request confirmed it).
    async fn confirm_totp(
        &self,
        user: UserId,
        step: u64,
        recovery: Option<&[String]>,
        keep: Option<&SessionId>,
        audit: (&AuditEvent, &ClientInfo),
    ) -> CoreResult<Written<Option<Vec<SessionId>>>>;
    /// Records `step` as used if it is later than the last one: of two uses of one code
    /// exactly one is `true`, on any instance.
    async fn use_totp_step(&self, user: UserId, step: u64) -> CoreResult<bool>;
    /// Spends an unused recovery code; `false` if it is unknown or used.
    async fn use_recovery_code(
        &self,
        user: UserId,
        digest: &str,
        now: Timestamp,
    ) -> CoreResult<bool>;
    /// Replaces the user's recovery codes and records `audit`, at once.
    async fn replace_recovery_codes(
        &self,
        user: UserId,
        digests: &[String],
        audit: (&AuditEvent, &ClientInfo),
    ) -> CoreResult<()>;
    /// Removes `factor` and ends the user's sessions but `keep`, recording `audit`, at once;
    /// when no factor is left, the recovery codes and pending logins go too. `false`: there
    /// was nothing to remove.
    async fn remove_mfa(
        &self,
        user: UserId,
        factor: Factor<'_>,
        keep: Option<&SessionId>,
        reason: &str,
        audit: (&AuditEvent, &ClientInfo),
    ) -> CoreResult<Written<bool>>;
    /// Keeps a passkey registration's state (replacing the user's previous one).
    async fn put_passkey_registration(
        &self,
        user: UserId,
        name: &str,
        state: &str,
        expires_at: Timestamp,
    ) -> CoreResult<()>;
    /// Takes (and forgets) the user's registration under way, if it has not expired: its
    /// name and state.
    async fn take_passkey_registration(
        &self,
        user: UserId,
        now: Timestamp,
    ) -> CoreResult<Option<(String, String)>>;
    /// Stores a new passkey; with `recovery`, the recovery codes become those; ends the
    /// user's sessions but `keep`; records `audit`. One transaction. `None` when the
    /// credential is registered already (to anyone).
    async fn add_passkey(
        &self,
        user: UserId,
        passkey: &PasskeyRecord,
        recovery: Option<&[String]>,
        keep: Option<&SessionId>,
        audit: (&AuditEvent, &ClientInfo),
    ) -> CoreResult<Written<Option<Vec<SessionId>>>>;
    /// `false` if the user has no such passkey.
    async fn rename_passkey(&self, user: UserId, id: &str, name: &str) -> CoreResult<bool>;
    /// Records a use, with the credential's new state when it changed (its counter).
    async fn passkey_used(
        &self,
        user: UserId,
        id: &str,
        passkey: Option<&str>,
        now: Timestamp,
    ) -> CoreResult<()>;
    /// Keeps a passwordless sign-in's challenge (its token's digest and webauthn-rs state).
    async fn insert_passkey_login(
        &self,
        digest: &str,
        state: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> CoreResult<()>;
    /// Spends a live passwordless challenge and answers its state; `None` if it is unknown,
    /// used or expired (of two uses exactly one gets it).
    async fn take_passkey_login(&self, digest: &str, now: Timestamp) -> CoreResult<Option<String>>;
    /// The passkey with this credential id (base64url), and whose it is.
    async fn passkey_by_credential(
        &self,
        credential_id: &str,
    ) -> CoreResult<Option<(UserId, PasskeyRecord)>>;
    /// Attaches the passkey assertion a live challenge waits for; `false` if it is not live.
    async fn set_challenge_webauthn(
        &self,
        digest: &str,
        state: &str,
        now: Timestamp,
    ) -> CoreResult<bool>;
    async fn insert_challenge(
        &self,
        digest: &str,
        user: UserId,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> CoreResult<()>;
    async fn get_challenge(&self, digest: &str) -> CoreResult<Option<ChallengeRecord>>;
    /// Counts a wrong code; the `max`th spends the challenge. Returns the count.
    async fn fail_challenge(&self, digest: &str, max: u32, now: Timestamp) -> CoreResult<u32>;
    /// Spends a live challenge; `false` if it was used or expired meanwhile.
    async fn use_challenge(&self, digest: &str, now: Timestamp) -> CoreResult<bool>;
    async fn prune_challenges(&self, before: Timestamp) -> CoreResult<u64>;
}

/// Pushed invalidations (PostgreSQL's LISTEN); the poll of [`SyncStore::invalidations_since`]
/// bounds staleness when one is lost.
/// A validated import record as the store receives it.
#[derive(Debug, Clone)]
pub struct ImportedUser {
    pub uuid: Option<String>,
    pub username: String,
    pub email: String,
    pub profile: Profile,
    pub roles: Vec<String>,
    pub organization: Option<String>,
    pub is_active: bool,
    pub created_at: Option<Timestamp>,
    /// A supported hash (checked by the core); `None`: no password was given.
    pub password_hash: Option<String>,
    pub weak_hash: bool,
}

/// What became of one imported user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    Created,
    Updated,
    /// Its username or email is taken and the import skips such users.
    Skipped,
    /// Taken, or taken by two different users; the text says how.
    Conflict(String),
}

/// A user as exported (the hash only when asked for).
#[derive(Debug, Clone)]
pub struct ExportedUser {
    pub user: User,
    pub password_hash: Option<String>,
    pub weak_hash: bool,
}

#[async_trait]
pub trait ImportStore: Send + Sync {
    /// Stores `users` in one transaction, each under its own savepoint, so a conflict
    /// fails only its own record. With `stop_on_conflict` the batch ends at the first
    /// conflict (outcomes then stop there); with `dry_run` nothing is kept.
    async fn import_users(
        &self,
        users: &[ImportedUser],
        update: bool,
        stop_on_conflict: bool,
        dry_run: bool,
        actor: &str,
    ) -> CoreResult<Written<Vec<ImportOutcome>>>;
    /// Users with ids above `after`, in id order.
    async fn export_users(
        &self,
        after: Option<UserId>,
        limit: u32,
        with_hashes: bool,
    ) -> CoreResult<Vec<ExportedUser>>;
}

#[async_trait]
pub trait InvalidationFeed: Send {
    /// The next event; never resolves where nothing is pushed.
    async fn recv(&mut self) -> Option<Invalidation>;
}

#[async_trait]
pub trait SyncStore: Send + Sync {
    /// Events recorded at or after `since`.
    async fn invalidations_since(&self, since: Timestamp) -> CoreResult<Vec<Invalidation>>;
    async fn prune_invalidations(&self, before: Timestamp) -> CoreResult<u64>;
    async fn prune_throttle(&self, before: Timestamp) -> CoreResult<u64>;
    /// A subscription to pushed events (one that yields nothing where there are none).
    async fn subscribe(&self) -> Box<dyn InvalidationFeed>;
    async fn ping(&self) -> CoreResult<()>;
}

/// Everything the services need of a database.
pub trait Storage:
    UserStore
    + RoleStore
    + OrgStore
    + SessionStore
    + AuditStore
    + KeyStore
    + ClientStore
    + GrantStore
    + ImportStore
    + MfaStore
    + MailStore
    + SyncStore
    + Counters
{
}

impl<T> Storage for T where
    T: UserStore
        + RoleStore
        + OrgStore
        + SessionStore
        + AuditStore
        + KeyStore
        + ClientStore
        + GrantStore
        + ImportStore
        + MfaStore
        + MailStore
        + SyncStore
        + Counters
{
}
