//! The core service: every rule of Latchkey lives here, once. The native API, the five
//! dialects and the CLI translate their wire formats into calls on [`Latchkey`] and map
//! [`CoreError`] back; none of them checks a role, hashes a password or touches a token.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::audit::{current_client, AuditEvent, AuditQuery, AuditRecord};
use super::cache::{AuthCache, Invalidation};
use super::error::{AuthFailure, CoreError, CoreResult, Entity};
use super::limits::{Counters, Limited, RateLimiter, RateLimits, ThrottlePolicy};
use super::model::*;
use super::password::{HashParams, Hasher, Verified as PwVerified};
use super::roles;
use super::tokens::{new_refresh_token, refresh_digest, KeyEncryptionKey, TokenService};
use super::validate;
use crate::store::listen::Notifications;
use crate::store::{NewUser, RotateOutcome, Store};

/// The core's configuration (the CLI fills it from flags and env vars).
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
    /// Seals signing keys at rest (AES-256-GCM) when set.
    pub key_encryption_key: Option<KeyEncryptionKey>,
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
        }
    }
}

/// A new account, as any edge asks for it.
#[derive(Debug, Clone, Default)]
pub struct NewAccount {
    pub username: String,
    pub email: String,
    pub password: String,
    pub profile: Profile,
    pub organization: Option<OrgId>,
    pub roles: Vec<String>,
    pub is_active: bool,
    /// The role the user acts in by default; it is also assigned.
    pub default_role: Option<String>,
}

/// How an edge's origin let accounts be created. The rules are the core's; an edge only
/// says which of them its origin had.
#[derive(Debug, Clone, Copy)]
pub struct SignupPolicy<'a> {
    /// The role a new account gets when it asks for none; also its default role.
    pub default_role: &'a str,
    /// Whether anyone (without a registrar role) may create an unprivileged account.
    pub public: bool,
    /// Roles besides `admin` whose holders may create accounts with any role.
    pub registrars: &'a [&'a str],
    /// Accept only roles that exist (org-users); otherwise a named role is created.
    pub existing_roles_only: bool,
    /// Shortest acceptable username, in characters.
    pub min_username_chars: usize,
}

impl SignupPolicy<'_> {
    /// The native API's self-registration.
    pub const NATIVE: SignupPolicy<'static> = SignupPolicy {
        default_role: roles::USER,
        public: true,
        registrars: &[],
        existing_roles_only: false,
        min_username_chars: 1,
    };
}

/// A change to a user. `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub username: Option<String>,
    pub email: Option<String>,
    pub profile: ProfilePatch,
    /// `Some(None)` removes the user from their organization.
    pub organization: Option<Option<OrgId>>,
    pub is_active: Option<bool>,
}

/// Tokens handed out by a login or a refresh.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    pub access_token: String,
    pub access_expires_at: Timestamp,
    pub refresh_token: String,
    pub session_id: SessionId,
    pub session_expires_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct LoginOutcome {
    pub tokens: IssuedTokens,
    pub user: User,
}

/// The admin that bootstrap created, and the password when it was generated.
#[derive(Debug, Clone)]
pub struct Bootstrapped {
    pub username: String,
    pub generated_password: Option<String>,
}

pub struct Latchkey {
    store: Store,
    hasher: Hasher,
    tokens: TokenService,
    cache: AuthCache,
    limiter: RateLimiter,
    counters: Arc<dyn Counters>,
    cfg: CoreConfig,
}

fn require_admin(p: &Principal) -> CoreResult<()> {
    if p.is_admin() {
        Ok(())
    } else {
        Err(CoreError::Forbidden("the admin role is required"))
    }
}

fn self_or_admin(p: &Principal, id: UserId) -> CoreResult<()> {
    if p.user_id == id || p.is_admin() {
        Ok(())
    } else {
        Err(CoreError::Forbidden(
            "only that user or an admin may do this",
        ))
    }
}

fn clean_profile(p: Profile) -> CoreResult<Profile> {
    Ok(Profile {
        first_name: validate::profile_field("first_name", p.first_name)?,
        middle_name: validate::profile_field("middle_name", p.middle_name)?,
        last_name: validate::profile_field("last_name", p.last_name)?,
        name_extension: validate::profile_field("name_extension", p.name_extension)?,
        display_name: validate::profile_field("display_name", p.display_name)?,
        contact_number: validate::profile_field("contact_number", p.contact_number)?,
        address: validate::profile_field("address", p.address)?,
    })
}

fn clean_patch(p: ProfilePatch) -> CoreResult<ProfilePatch> {
    fn f(field: &'static str, v: Option<Option<String>>) -> CoreResult<Option<Option<String>>> {
        v.map(|inner| validate::profile_field(field, inner))
            .transpose()
    }
    Ok(ProfilePatch {
        first_name: f("first_name", p.first_name)?,
        middle_name: f("middle_name", p.middle_name)?,
        last_name: f("last_name", p.last_name)?,
        name_extension: f("name_extension", p.name_extension)?,
        display_name: f("display_name", p.display_name)?,
        contact_number: f("contact_number", p.contact_number)?,
        address: f("address", p.address)?,
    })
}

/// The names of the fields a patch changes (for the audit log; never their values).
fn patch_summary(p: &UserPatch) -> String {
    let mut f = Vec::new();
    let pairs: [(&str, bool); 11] = [
        ("username", p.username.is_some()),
        ("email", p.email.is_some()),
        ("first_name", p.profile.first_name.is_some()),
        ("middle_name", p.profile.middle_name.is_some()),
        ("last_name", p.profile.last_name.is_some()),
        ("name_extension", p.profile.name_extension.is_some()),
        ("display_name", p.profile.display_name.is_some()),
        ("contact_number", p.profile.contact_number.is_some()),
        ("address", p.profile.address.is_some()),
        ("organization", p.organization.is_some()),
        ("is_active", p.is_active.is_some()),
    ];
    for (name, set) in pairs {
        if set {
            f.push(name);
        }
    }
    let mut s = format!("fields [{}]", f.join(", "));
    if let Some(a) = p.is_active {
        s.push_str(if a { "; enabled" } else { "; disabled" });
    }
    s
}

/// Validates and de-duplicates role names, keeping their order.
pub fn clean_roles(raw: &[String]) -> CoreResult<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for r in raw {
        let r = validate::role_name(r)?;
        if !out.contains(&r) {
            out.push(r);
        }
    }
    Ok(out)
}

impl Latchkey {
    /// Builds the service on a migrated store and loads (or creates) the signing keys.
    /// Failed-login counters live in the database.
    pub async fn new(store: Store, cfg: CoreConfig) -> CoreResult<Arc<Self>> {
        Self::with_counters(store, cfg, None).await
    }

    /// As [`Self::new`], with failed-login counters elsewhere (Redis).
    pub async fn with_counters(
        store: Store,
        cfg: CoreConfig,
        counters: Option<Arc<dyn Counters>>,
    ) -> CoreResult<Arc<Self>> {
        let counters = counters.unwrap_or_else(|| Arc::new(store.clone()));
        let hasher = Hasher::new(cfg.hash, cfg.hash_workers)?;
        let tokens = TokenService::new(
            cfg.issuer.clone(),
            cfg.audience.clone(),
            cfg.access_ttl_secs,
        )
        .with_key_encryption(cfg.key_encryption_key.as_ref())?;
        let svc = Latchkey {
            store,
            hasher,
            tokens,
            cache: AuthCache::new(),
            limiter: RateLimiter::default(),
            counters,
            cfg,
        };
        svc.ensure_keys().await?;
        // Sessions that ended while this instance was not running may still have live tokens.
        let since = Timestamp(Timestamp::now().0 - (svc.cfg.access_ttl_secs as i64 + 60) * 1000);
        for sid in svc.store.sessions_ended_since(since).await? {
            svc.cache.apply(&Invalidation::Session(sid));
        }
        Ok(Arc::new(svc))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &CoreConfig {
        &self.cfg
    }

    pub fn tokens(&self) -> &TokenService {
        &self.tokens
    }

    async fn ensure_keys(&self) -> CoreResult<()> {
        let mut keys = self.store.list_keys().await?;
        if !keys.iter().any(|k| k.retired_at.is_none()) {
            self.store.add_key(&self.tokens.new_key()?, false).await?;
            keys = self.store.list_keys().await?;
        }
        self.tokens.load_keys(&keys)
    }

    /// Adds a new signing key; the old ones keep verifying until their tokens expire.
    pub async fn rotate_keys(&self) -> CoreResult<String> {
        let key = self.tokens.new_key()?;
        self.store.add_key(&key, true).await?;
        self.tokens.load_keys(&self.store.list_keys().await?)?;
        self.audit(AuditEvent::new("key.rotated").on("key", &key.kid))
            .await;
        Ok(key.kid)
    }

    /// Records a security event with the current request's client. A failure to record is
    /// logged, not returned: the change it describes has already been made.
    async fn audit(&self, e: AuditEvent) {
        if let Err(err) = self
            .store
            .insert_audit(&e, &current_client(), Timestamp::now())
            .await
        {
            tracing::error!(error = %err, audit.action = e.action, "could not record an audit event");
        }
    }

    /// The audit log, newest first. Admins only.
    pub async fn list_audit(
        &self,
        actor: &Principal,
        q: &AuditQuery,
        offset: u64,
        limit: u64,
    ) -> CoreResult<(Vec<AuditRecord>, u64)> {
        require_admin(actor)?;
        self.store.list_audit(q, offset, limit, false).await
    }

    /// Events after `after_id`, oldest first (for `latchkey audit tail`).
    pub async fn tail_audit(
        &self,
        after_id: Option<i64>,
        limit: u64,
    ) -> CoreResult<Vec<AuditRecord>> {
        let q = AuditQuery {
            after_id,
            ..Default::default()
        };
        if after_id.is_some() {
            return Ok(self.store.list_audit(&q, 0, limit, true).await?.0);
        }
        let (mut newest, _) = self.store.list_audit(&q, 0, limit, false).await?;
        newest.reverse();
        Ok(newest)
    }

    fn apply_local(&self, events: impl IntoIterator<Item = Invalidation>) {
        for e in events {
            self.cache.apply(&e);
        }
    }

    async fn apply_remote(&self, e: Invalidation) {
        if self.cache.apply(&e) {
            match self.store.list_keys().await {
                Ok(keys) => {
                    if let Err(e) = self.tokens.load_keys(&keys) {
                        tracing::error!(error = %e, "reloading signing keys failed");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "reloading signing keys failed"),
            }
        }
    }

    /// Keeps this instance's caches in step with the database until `shutdown` flips:
    /// NOTIFY on PostgreSQL for immediacy, a poll of the invalidation table as the bound.
    pub async fn run_sync(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut notifications = Notifications::connect(&self.store).await;
        let mut tick = tokio::time::interval(self.cfg.sync_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut since = Timestamp(Timestamp::now().0 - 5_000);
        let mut last_prune = std::time::Instant::now();
        loop {
            tokio::select! {
                ev = notifications.recv() => {
                    if let Some(ev) = ev {
                        self.apply_remote(ev).await;
                    }
                }
                _ = tick.tick() => {
                    let started = Timestamp::now();
                    match self.store.invalidations_since(since).await {
                        Ok(events) => {
                            for ev in events {
                                self.apply_remote(ev).await;
                            }
                            // Re-read a 2 s window next time: a transaction that took its
                            // timestamp earlier may commit later.
                            since = Timestamp(started.0 - 2_000);
                        }
                        Err(e) => tracing::debug!(error = %e, "invalidation poll failed"),
                    }
                    if last_prune.elapsed() > Duration::from_secs(300) {
                        last_prune = std::time::Instant::now();
                        self.prune().await;
                    }
                }
                _ = shutdown.changed() => break,
            }
        }
    }

    async fn prune(&self) {
        let now = Timestamp::now();
        self.cache.prune(self.cfg.access_ttl_secs);
        let _ = self
            .store
            .prune_invalidations(Timestamp(now.0 - 3_600_000))
            .await;
        let _ = self
            .store
            .prune_sessions(Timestamp(now.0 - 86_400_000))
            .await;
        let _ = self
            .store
            .prune_throttle(Timestamp(now.0 - 86_400_000))
            .await;
        let keep = (self.cfg.access_ttl_secs as i64 + 3600) * 1000;
        let _ = self.store.prune_keys(Timestamp(now.0 - keep)).await;
    }

    /// Checks that `p` may administer users, roles and organizations (holds `admin`). Edges
    /// whose origin checked rights before reading the request call this first, so that
    /// their refusals come in the origin's order; the operations check again themselves.
    pub fn require_admin(&self, p: &Principal) -> CoreResult<()> {
        require_admin(p)
    }

    // ----- bootstrap ---------------------------------------------------------------------

    /// On a database with no user, creates the admin (CONTRACT.md "Bootstrap").
    pub async fn bootstrap_admin(
        &self,
        username: &str,
        email: &str,
        password: Option<String>,
    ) -> CoreResult<Option<Bootstrapped>> {
        if self.store.count_users().await? > 0 {
            return Ok(None);
        }
        let (password, generated) = match password.filter(|p| !p.is_empty()) {
            Some(p) => (p, false),
            None => (new_refresh_token(), true),
        };
        let account = NewAccount {
            username: username.to_owned(),
            email: email.to_owned(),
            password: password.clone(),
            roles: vec![roles::ADMIN.to_owned()],
            is_active: true,
            default_role: Some(roles::ADMIN.to_owned()),
            ..Default::default()
        };
        match self.create_account(account, None).await {
            Ok(user) => Ok(Some(Bootstrapped {
                username: user.username,
                generated_password: generated.then_some(password),
            })),
            // Another instance won the race.
            Err(CoreError::Conflict(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    // ----- authentication ------------------------------------------------------------------

    /// Resolves a bearer token to a principal. The common case costs no database round trip:
    /// the signature check is local, ended sessions and user state come from the cache.
    pub async fn authenticate(&self, token: Option<&str>) -> CoreResult<Principal> {
        let token = token.filter(|t| !t.is_empty());
        let token = token.ok_or(CoreError::Unauthenticated(AuthFailure::Missing))?;
        let v = self
            .tokens
            .verify(token)
            .map_err(CoreError::Unauthenticated)?;
        if self.cache.session_ended(&v.session_id.0) {
            return Err(CoreError::Unauthenticated(AuthFailure::SessionEnded));
        }
        let user = match self.cached_user(v.user_id).await? {
            Some(u) => u,
            None => return Err(CoreError::Unauthenticated(AuthFailure::UnknownUser)),
        };
        if !user.is_active {
            return Err(CoreError::Unauthenticated(AuthFailure::Disabled));
        }
        Ok(Principal {
            user_id: v.user_id,
            session_id: v.session_id,
            username: user.username.clone(),
            roles: user.roles.clone(),
        })
    }

    /// Username-or-email and password. Unknown users cost the same as known ones.
    pub async fn login(
        &self,
        identifier: &str,
        password: &str,
        client: &ClientInfo,
    ) -> CoreResult<LoginOutcome> {
        let out = self.login_unaudited(identifier, password, client).await;
        // The identifier as typed (bounded), never the password.
        let typed: String = identifier.trim().chars().take(64).collect();
        let event = match &out {
            // Recorded with the session, in its transaction.
            Ok(_) => return out,
            Err(CoreError::InvalidCredentials) => AuditEvent::new("login").failed().detail(typed),
            Err(CoreError::AccountDisabled) => AuditEvent::new("login")
                .failed()
                .detail(format!("{typed}: account disabled")),
            Err(CoreError::RateLimited { .. }) => {
                AuditEvent::new("login.locked").failed().detail(typed)
            }
            Err(_) => return out,
        };
        self.audit(event).await;
        out
    }

    async fn login_unaudited(
        &self,
        identifier: &str,
        password: &str,
        client: &ClientInfo,
    ) -> CoreResult<LoginOutcome> {
        let key = validate::fold(identifier.trim());
        if key.is_empty() || password.is_empty() {
            return Err(CoreError::InvalidCredentials);
        }
        let id_key = format!("id:{key}");
        let ip_key = client.ip.as_ref().map(|ip| format!("ip:{ip}"));
        let counted = self.check_throttle(&id_key, ip_key.as_deref()).await?;
        let record = if password.len() > validate::PASSWORD_MAX_BYTES {
            None
        } else {
            self.store.login_record(&key).await?
        };
        let verdict = self
            .hasher
            .verify(password, record.as_ref().map(|r| r.password_hash.as_str()))
            .await?;
        let Some(record) = record.filter(|_| verdict != PwVerified::No) else {
            metrics::counter!("latchkey_logins_total", "outcome" => "failure").increment(1);
            self.count_failure(&id_key, ip_key.as_deref()).await?;
            return Err(CoreError::InvalidCredentials);
        };
        if counted {
            self.counters.clear(&id_key).await?;
        }
        if !record.is_active {
            metrics::counter!("latchkey_logins_total", "outcome" => "disabled").increment(1);
            return Err(CoreError::AccountDisabled);
        }
        if let PwVerified::YesRehashed(new_hash) = verdict {
            // Parameters changed since this hash was made: upgrade it now.
            self.store.set_password(record.id, &new_hash, None).await?;
            self.apply_local([Invalidation::User(record.id)]);
        }
        let user = self
            .cached_user(record.id)
            .await?
            .ok_or(CoreError::NotFound(Entity::User))?;
        let event = AuditEvent::new("login").by_user(user.id, &user.username);
        let tokens = self.open_session(record.id, client, Some(event)).await?;
        metrics::counter!("latchkey_logins_total", "outcome" => "success").increment(1);
        Ok(LoginOutcome {
            tokens,
            user: User::clone(&user),
        })
    }

    /// Refuses a login whose identifier is locked or whose address is throttled. Returns
    /// whether the identifier has a failure count (to clear on success).
    async fn check_throttle(&self, id_key: &str, ip_key: Option<&str>) -> CoreResult<bool> {
        let keys: Vec<&str> = std::iter::once(id_key).chain(ip_key).collect();
        let rows = self.counters.state(&keys).await?;
        let now = Timestamp::now().0;
        let policy = self.cfg.throttle;
        let mut counted = false;
        for row in &rows {
            if row.key == id_key {
                counted = true;
                if let Some(until) = row.locked_until.filter(|u| *u > now) {
                    metrics::counter!("latchkey_logins_total", "outcome" => "locked").increment(1);
                    return Err(CoreError::RateLimited {
                        retry_after: Duration::from_millis((until - now) as u64),
                    });
                }
            } else {
                let window_ms = policy.address_window_secs as i64 * 1000;
                let open = row.window_start + window_ms > now;
                if policy.address_limit > 0
                    && open
                    && row.failures >= i64::from(policy.address_limit)
                {
                    metrics::counter!("latchkey_logins_total", "outcome" => "throttled")
                        .increment(1);
                    return Err(CoreError::RateLimited {
                        retry_after: Duration::from_millis(
                            (row.window_start + window_ms - now) as u64,
                        ),
                    });
                }
            }
        }
        Ok(counted)
    }

    async fn count_failure(&self, id_key: &str, ip_key: Option<&str>) -> CoreResult<()> {
        let now = Timestamp::now();
        let policy = self.cfg.throttle;
        // Consecutive failures of one identifier; a day of quiet starts the count over.
        let n = self
            .counters
            .fail(id_key, now, Timestamp(now.0 - 86_400_000), true)
            .await?;
        if let Some(lock) = policy.lock_for(n.clamp(0, i64::from(u32::MAX)) as u32) {
            self.counters
                .lock(id_key, Timestamp(now.0 + lock.as_millis() as i64))
                .await?;
        }
        if let Some(ip_key) = ip_key {
            let window = policy.address_window_secs as i64 * 1000;
            self.counters
                .fail(ip_key, now, Timestamp(now.0 - window), false)
                .await?;
        }
        Ok(())
    }

    /// Counts a rate-limited action from `client`'s address.
    fn rate_limit(&self, what: Limited, client: &ClientInfo) -> CoreResult<()> {
        let Some(ip) = client.ip.as_deref() else {
            return Ok(());
        };
        let r = self.cfg.rates;
        let (limit, window) = match what {
            Limited::Register => (r.register_per_hour, Duration::from_secs(3600)),
            Limited::Refresh => (r.refresh_per_minute, Duration::from_secs(60)),
            Limited::Password => (r.password_per_hour, Duration::from_secs(3600)),
        };
        self.limiter
            .check(what, ip, limit, window)
            .map_err(|retry_after| CoreError::RateLimited { retry_after })
    }

    /// The rules for a new password: length (ASVS V6.2) and the common-passwords list.
    fn check_new_password(&self, pw: &str) -> CoreResult<()> {
        validate::password(pw)?;
        if self.cfg.password_blocklist && validate::is_common_password(pw) {
            return Err(CoreError::invalid(
                "password",
                "is too common; choose another",
            ));
        }
        Ok(())
    }

    /// A new session and its first tokens; `audit` (about the new session) is recorded in the
    /// same transaction.
    async fn open_session(
        &self,
        user: UserId,
        client: &ClientInfo,
        audit: Option<AuditEvent>,
    ) -> CoreResult<IssuedTokens> {
        let now = Timestamp::now();
        let session = Session {
            id: SessionId(uuid::Uuid::new_v4().to_string()),
            user_id: user,
            created_at: now,
            last_used_at: now,
            expires_at: now.plus_secs(self.cfg.session_lifetime_secs),
            revoked_at: None,
            user_agent: client.user_agent.clone(),
            client_ip: client.ip.clone(),
        };
        let refresh = new_refresh_token();
        let audit = audit.map(|e| e.on("session", &session.id));
        self.store
            .create_session(
                &session,
                &refresh_digest(&refresh),
                audit.as_ref().map(|e| (e, client)),
            )
            .await?;
        let (access, access_exp) = self.tokens.issue(user, &session.id, session.expires_at)?;
        Ok(IssuedTokens {
            access_token: access,
            access_expires_at: access_exp,
            refresh_token: refresh,
            session_id: session.id,
            session_expires_at: session.expires_at,
        })
    }

    /// Exchanges a refresh token (rotation; a reused token ends its session).
    pub async fn refresh(
        &self,
        refresh_token: &str,
        client: &ClientInfo,
    ) -> CoreResult<IssuedTokens> {
        self.rate_limit(Limited::Refresh, client)?;
        if refresh_token.is_empty() || refresh_token.len() > 128 {
            return Err(CoreError::InvalidRefreshToken);
        }
        let next = new_refresh_token();
        let now = Timestamp::now();
        let outcome = self
            .store
            .rotate_refresh(
                &refresh_digest(refresh_token),
                &refresh_digest(&next),
                now,
                self.cfg.session_idle_secs,
            )
            .await?;
        match outcome {
            RotateOutcome::Rotated {
                session,
                user,
                expires_at,
            } => {
                let principal = self.cache.user(user);
                if principal.is_some_and(|u| !u.is_active) {
                    return Err(CoreError::InvalidRefreshToken);
                }
                let (access, access_exp) = self.tokens.issue(user, &session, expires_at)?;
                Ok(IssuedTokens {
                    access_token: access,
                    access_expires_at: access_exp,
                    refresh_token: next,
                    session_id: session,
                    session_expires_at: expires_at,
                })
            }
            RotateOutcome::Reused { session, user } => {
                tracing::warn!(user.id = user.0, session.id = %session, "refresh token reuse: session ended");
                self.audit(
                    AuditEvent::new("refresh.reuse_detected")
                        .failed()
                        .on("session", &session)
                        .detail(format!("user {user}")),
                )
                .await;
                self.apply_local([Invalidation::Session(session)]);
                Err(CoreError::InvalidRefreshToken)
            }
            RotateOutcome::Expired { session } => {
                // Its access tokens stop here too, not when this instance next syncs.
                self.apply_local([Invalidation::Session(session)]);
                Err(CoreError::InvalidRefreshToken)
            }
            RotateOutcome::Ended | RotateOutcome::Unknown => Err(CoreError::InvalidRefreshToken),
        }
    }

    pub async fn logout(&self, p: &Principal) -> CoreResult<()> {
        self.store.end_session(&p.session_id, "logout").await?;
        self.apply_local([Invalidation::Session(p.session_id.clone())]);
        self.audit(AuditEvent::new("logout").by(p).on("session", &p.session_id))
            .await;
        Ok(())
    }

    pub async fn logout_all(&self, p: &Principal) -> CoreResult<u64> {
        let ended = self
            .store
            .end_user_sessions(p.user_id, None, "logout everywhere")
            .await?;
        let n = ended.len() as u64;
        self.apply_local(ended.into_iter().map(Invalidation::Session));
        self.audit(
            AuditEvent::new("logout.all")
                .by(p)
                .on("user", p.user_id)
                .detail(format!("{n} sessions")),
        )
        .await;
        Ok(n)
    }

    pub async fn list_own_sessions(&self, p: &Principal) -> CoreResult<Vec<Session>> {
        self.store.list_sessions(p.user_id, Timestamp::now()).await
    }

    pub async fn end_own_session(&self, p: &Principal, sid: &SessionId) -> CoreResult<()> {
        match self.store.get_session(sid).await? {
            Some(s) if s.user_id == p.user_id && s.revoked_at.is_none() => {
                self.store.end_session(sid, "ended by user").await?;
                self.apply_local([Invalidation::Session(sid.clone())]);
                self.audit(AuditEvent::new("session.ended").by(p).on("session", sid))
                    .await;
                Ok(())
            }
            _ => Err(CoreError::NotFound(Entity::Session)),
        }
    }

    // ----- accounts --------------------------------------------------------------------------

    /// Validates and stores a new account. `actor` is recorded as the assignments' creator.
    async fn create_account(&self, a: NewAccount, actor: Option<&Principal>) -> CoreResult<User> {
        let username = validate::username(&a.username)?;
        let email = validate::email(&a.email)?;
        self.check_new_password(&a.password)?;
        let profile = clean_profile(a.profile)?;
        let roles = clean_roles(&a.roles)?;
        if let Some(org) = a.organization {
            if self.store.get_org(org).await?.is_none() {
                return Err(CoreError::NotFound(Entity::Organization));
            }
        }
        let default_role = a
            .default_role
            .as_deref()
            .map(validate::role_name)
            .transpose()?;
        let mut roles = roles;
        if let Some(d) = &default_role {
            if !roles.contains(d) {
                roles.push(d.clone());
            }
        }
        let hash = self.hasher.hash(&a.password).await?;
        let new = NewUser {
            uuid: uuid::Uuid::new_v4().to_string(),
            username,
            email,
            password_hash: hash,
            profile,
            organization: a.organization,
            is_active: a.is_active,
            default_role,
        };
        let actor_id = actor.map(|p| p.user_id.0.to_string());
        let id = self
            .store
            .insert_user(&new, &roles, actor_id.as_deref())
            .await?;
        let user = self.user_or_gone(id).await?;
        let event = AuditEvent::new("user.created")
            .on("user", id)
            .detail(format!("roles [{}]", user.roles.join(", ")));
        self.audit(match actor {
            Some(p) => event.by(p),
            None => event.by_user(id, &user.username),
        })
        .await;
        Ok(user)
    }

    async fn user_or_gone(&self, id: UserId) -> CoreResult<User> {
        self.store
            .get_user(id)
            .await?
            .ok_or(CoreError::NotFound(Entity::User))
    }

    /// Native self-registration: the new user holds the `user` role.
    pub async fn register(&self, a: NewAccount, client: &ClientInfo) -> CoreResult<User> {
        self.sign_up(None, &SignupPolicy::NATIVE, a, client).await
    }

    /// Creates an account under an edge's sign-up policy. Without a registrar's rights
    /// (admin, or a role in `policy.registrars`), only the default role may be had, and only
    /// where the policy is public and registration is on.
    pub async fn sign_up(
        &self,
        actor: Option<&Principal>,
        policy: &SignupPolicy<'_>,
        mut a: NewAccount,
        client: &ClientInfo,
    ) -> CoreResult<User> {
        let registrar =
            actor.is_some_and(|p| p.is_admin() || policy.registrars.iter().any(|r| p.has_role(r)));
        let mut roles = match clean_roles(&a.roles) {
            Ok(r) => r,
            // Where only existing roles are accepted, a malformed name is just not one of them.
            Err(CoreError::Invalid { field: "role", .. }) if policy.existing_roles_only => {
                let valid = self
                    .store
                    .list_roles()
                    .await?
                    .into_iter()
                    .map(|r| r.name)
                    .collect();
                return Err(CoreError::UnknownRole { valid });
            }
            Err(e) => return Err(e),
        };
        if roles.is_empty() {
            roles.push(policy.default_role.to_owned());
        }
        if registrar && !actor.is_some_and(Principal::is_admin) {
            // A registrar that is not an admin (org-users' `pi`) cannot mint administrators.
            if roles
                .iter()
                .any(|r| r == roles::ADMIN || r == roles::SUPER_ADMIN)
            {
                return Err(CoreError::Forbidden(
                    "only an admin may grant an administrator role",
                ));
            }
        }
        if !registrar {
            if !policy.public {
                return Err(CoreError::Forbidden("not allowed to register users"));
            }
            if roles.iter().any(|r| r != policy.default_role) {
                return Err(CoreError::Forbidden(
                    "choosing a privileged role needs an admin",
                ));
            }
            if !self.cfg.allow_registration {
                return Err(CoreError::Forbidden("self-registration is disabled"));
            }
            self.rate_limit(Limited::Register, client)?;
        }
        if a.username.trim().chars().count() < policy.min_username_chars {
            return Err(CoreError::invalid(
                "username",
                format!(
                    "must be at least {} characters long",
                    policy.min_username_chars
                ),
            ));
        }
        if policy.existing_roles_only {
            let known: Vec<String> = self
                .store
                .list_roles()
                .await?
                .into_iter()
                .map(|r| r.name)
                .collect();
            if roles.iter().any(|r| !known.contains(r)) {
                return Err(CoreError::UnknownRole { valid: known });
            }
        }
        a.default_role = Some(policy.default_role.to_owned()).filter(|d| roles.contains(d));
        a.roles = roles;
        a.is_active = true;
        self.create_account(a, actor).await
    }

    /// [`Self::sign_up`], then a session for the new user (for edges whose sign-up answers
    /// with a token).
    pub async fn sign_up_and_login(
        &self,
        actor: Option<&Principal>,
        policy: &SignupPolicy<'_>,
        a: NewAccount,
        client: &ClientInfo,
    ) -> CoreResult<LoginOutcome> {
        let user = self.sign_up(actor, policy, a, client).await?;
        let tokens = self.open_session(user.id, client, None).await?;
        Ok(LoginOutcome { tokens, user })
    }

    /// An admin creates a user with any roles.
    pub async fn create_user(&self, actor: &Principal, a: NewAccount) -> CoreResult<User> {
        require_admin(actor)?;
        self.create_account(a, Some(actor)).await
    }

    pub async fn get_user(&self, actor: &Principal, id: UserId) -> CoreResult<User> {
        self_or_admin(actor, id)?;
        self.user_or_gone(id).await
    }

    /// Any authenticated user may look users up (org-users' "Roles Required: None").
    pub async fn find_user(&self, _actor: &Principal, login_or_uuid: &str) -> CoreResult<User> {
        let key = validate::fold(login_or_uuid.trim());
        if let Some(u) = self.store.get_user_by_login(&key).await? {
            return Ok(u);
        }
        if uuid::Uuid::parse_str(login_or_uuid).is_ok() {
            if let Some(u) = self.store.get_user_by_uuid(&key).await? {
                return Ok(u);
            }
        }
        Err(CoreError::NotFound(Entity::User))
    }

    /// The caller's own record, from the cache that authenticated them (no database round
    /// trip while nothing about them has changed).
    pub async fn me(&self, actor: &Principal) -> CoreResult<User> {
        match self.cached_user(actor.user_id).await? {
            Some(u) => Ok(User::clone(&u)),
            None => Err(CoreError::NotFound(Entity::User)),
        }
    }

    /// A user from the cache, loading (and caching) them on a miss. A load that raced with a
    /// change to the user is returned but not cached.
    async fn cached_user(&self, id: UserId) -> CoreResult<Option<Arc<User>>> {
        if let Some(u) = self.cache.user(id) {
            return Ok(Some(u));
        }
        let generation = self.cache.generation();
        Ok(self
            .store
            .get_user(id)
            .await?
            .map(|u| self.cache.put_user(id, u, generation)))
    }

    /// Updates a user. Users may change their own username, email and profile; only an
    /// admin may change activity or organization, or anyone else's account.
    pub async fn update_user(
        &self,
        actor: &Principal,
        id: UserId,
        patch: UserPatch,
    ) -> CoreResult<User> {
        self_or_admin(actor, id)?;
        if (patch.is_active.is_some() || patch.organization.is_some()) && !actor.is_admin() {
            return Err(CoreError::Forbidden("only an admin may change this"));
        }
        if patch.is_active == Some(false) && actor.user_id == id {
            return Err(CoreError::invalid(
                "is_active",
                "you cannot disable your own account",
            ));
        }
        let changed = patch_summary(&patch);
        let user = self.apply_update(id, patch).await?;
        self.audit(
            AuditEvent::new("user.updated")
                .by(actor)
                .on("user", id)
                .detail(changed),
        )
        .await;
        Ok(user)
    }

    /// Applies a validated change; the caller has decided that it is allowed.
    async fn apply_update(&self, id: UserId, patch: UserPatch) -> CoreResult<User> {
        let mut user = self.user_or_gone(id).await?;
        if let Some(u) = &patch.username {
            user.username = validate::username(u)?;
        }
        if let Some(e) = &patch.email {
            user.email = validate::email(e)?;
        }
        clean_patch(patch.profile)?.apply(&mut user.profile);
        if let Some(org) = patch.organization {
            user.organization = match org {
                Some(oid) => {
                    let o = self
                        .store
                        .get_org(oid)
                        .await?
                        .ok_or(CoreError::NotFound(Entity::Organization))?;
                    Some(OrgRef {
                        id: o.id,
                        uuid: o.uuid,
                        name: o.name,
                    })
                }
                None => None,
            };
        }
        let disabling = patch.is_active == Some(false) && user.is_active;
        if let Some(a) = patch.is_active {
            user.is_active = a;
        }
        self.store.update_user(&user).await?;
        self.apply_local([Invalidation::User(id)]);
        if disabling {
            self.end_sessions_of(id, None, "account disabled").await?;
        }
        self.user_or_gone(id).await
    }

    async fn end_sessions_of(
        &self,
        id: UserId,
        keep: Option<&SessionId>,
        reason: &str,
    ) -> CoreResult<u64> {
        let ended = self.store.end_user_sessions(id, keep, reason).await?;
        let n = ended.len() as u64;
        self.apply_local(ended.into_iter().map(Invalidation::Session));
        Ok(n)
    }

    /// An admin ends all of a user's sessions.
    pub async fn end_user_sessions(&self, actor: &Principal, id: UserId) -> CoreResult<u64> {
        require_admin(actor)?;
        self.user_or_gone(id).await?;
        let n = self.end_sessions_of(id, None, "ended by admin").await?;
        self.audit(
            AuditEvent::new("sessions.ended")
                .by(actor)
                .on("user", id)
                .detail(format!("{n} sessions")),
        )
        .await;
        Ok(n)
    }

    pub async fn delete_user(&self, actor: &Principal, id: UserId) -> CoreResult<()> {
        require_admin(actor)?;
        if actor.user_id == id {
            return Err(CoreError::SelfDelete);
        }
        let ended = self.store.delete_user(id).await?;
        self.apply_local(ended.into_iter().map(Invalidation::Session));
        self.apply_local([Invalidation::User(id)]);
        self.audit(AuditEvent::new("user.deleted").by(actor).on("user", id))
            .await;
        Ok(())
    }

    /// Deletes every user except the caller (org-users `DELETE /users/`).
    pub async fn delete_all_users(&self, actor: &Principal) -> CoreResult<u64> {
        require_admin(actor)?;
        let (n, ended) = self.store.delete_users_except(actor.user_id).await?;
        self.apply_local(ended.into_iter().map(Invalidation::Session));
        self.apply_local([Invalidation::AllUsers]);
        self.audit(
            AuditEvent::new("users.deleted_all")
                .by(actor)
                .detail(format!("{n} users")),
        )
        .await;
        Ok(n)
    }

    /// Lists users. Admins only.
    pub async fn list_users(
        &self,
        actor: &Principal,
        q: &UserQuery,
        page: &PageRequest,
    ) -> CoreResult<UserPage> {
        require_admin(actor)?;
        self.list_users_unchecked(q, page).await
    }

    /// Lists users for an edge whose origin let any authenticated user list them
    /// (user-profiles, org-users). The caller must hold a principal.
    pub async fn list_users_as_member(
        &self,
        _actor: &Principal,
        q: &UserQuery,
        page: &PageRequest,
    ) -> CoreResult<UserPage> {
        self.list_users_unchecked(q, page).await
    }

    async fn list_users_unchecked(
        &self,
        q: &UserQuery,
        page: &PageRequest,
    ) -> CoreResult<UserPage> {
        let mut q = q.clone();
        if let Some(role) = &q.role {
            q.role = Some(validate::role_name(role)?);
        }
        if let Some(s) = &q.search {
            if s.chars().count() > 256 {
                return Err(CoreError::invalid("q", "must be at most 256 characters"));
            }
        }
        self.store.list_users(&q, page).await
    }

    /// A user updates their own profile and, optionally, sets a new password without the
    /// current one (citizen-portal's `update-profile` allows that); their other sessions end.
    pub async fn update_own_profile(
        &self,
        actor: &Principal,
        patch: UserPatch,
        new_password: Option<&str>,
        client: &ClientInfo,
    ) -> CoreResult<User> {
        if let Some(pw) = new_password {
            self.rate_limit(Limited::Password, client)?;
            self.check_new_password(pw)?;
        }
        let user = self.update_user(actor, actor.user_id, patch).await?;
        if let Some(pw) = new_password {
            self.set_password_unchecked(actor, actor.user_id, pw, Some(&actor.session_id))
                .await?;
        }
        Ok(user)
    }

    /// An administrator — `admin`, or one of `admin_roles` for edges whose origin had other
    /// administrator roles — updates any user, including password, roles (by id) and the
    /// default role. Unknown role ids are invalid input. One user change at a time: the
    /// fields, then the password (ending that user's sessions), then the roles.
    #[allow(clippy::too_many_arguments)]
    pub async fn admin_update_user(
        &self,
        actor: &Principal,
        admin_roles: &[&str],
        id: UserId,
        patch: UserPatch,
        new_password: Option<&str>,
        role_ids: Option<&[RoleId]>,
        default_role_id: Option<RoleId>,
    ) -> CoreResult<User> {
        if !actor.is_admin() && !admin_roles.iter().any(|r| actor.has_role(r)) {
            return Err(CoreError::Forbidden("an administrator role is required"));
        }
        self.user_or_gone(id).await?;
        if let Some(pw) = new_password {
            self.check_new_password(pw)?;
        }
        let mut wanted = match role_ids {
            Some(ids) => Some(self.roles_for_ids(ids).await?),
            None => None,
        };
        let default = match default_role_id {
            Some(rid) => Some(self.store.get_role(rid).await?.ok_or_else(|| {
                CoreError::invalid("defaultRoleId", format!("unknown role id {rid}"))
            })?),
            None => None,
        };
        if patch.is_active == Some(false) && actor.user_id == id {
            return Err(CoreError::invalid(
                "is_active",
                "you cannot disable your own account",
            ));
        }
        self.apply_update(id, patch).await?;
        if let Some(pw) = new_password {
            let keep = (actor.user_id == id).then_some(&actor.session_id);
            self.set_password_unchecked(actor, id, pw, keep).await?;
        }
        if let Some(d) = &default {
            // The default role is always one the user holds.
            match &mut wanted {
                Some(list) if !list.contains(&d.name) => list.push(d.name.clone()),
                Some(_) => {}
                None => {
                    let current = self.user_or_gone(id).await?;
                    if !current.has_role(&d.name) {
                        let mut list = current.roles.clone();
                        list.push(d.name.clone());
                        wanted = Some(list);
                    }
                }
            }
        }
        if let Some(list) = wanted {
            self.replace_roles(actor, id, &list).await?;
        }
        if let Some(d) = default {
            self.store.set_default_role(id, Some(d.id)).await?;
            self.apply_local([Invalidation::User(id)]);
        }
        self.user_or_gone(id).await
    }

    /// Makes `roles` (already validated) exactly the user's active roles, and records it.
    async fn replace_roles(
        &self,
        actor: &Principal,
        user: UserId,
        roles: &[String],
    ) -> CoreResult<()> {
        self.store
            .replace_roles(user, roles, Some(&actor.user_id.0.to_string()))
            .await?;
        self.apply_local([Invalidation::User(user)]);
        self.audit(
            AuditEvent::new("roles.replaced")
                .by(actor)
                .on("user", user)
                .detail(format!("roles [{}]", roles.join(", "))),
        )
        .await;
        Ok(())
    }

    /// Role names for ids, all or nothing; an unknown id is invalid input.
    async fn roles_for_ids(&self, ids: &[RoleId]) -> CoreResult<Vec<String>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            match self.store.get_role(*id).await? {
                Some(r) => out.push(r.name),
                None => {
                    return Err(CoreError::invalid(
                        "roleIds",
                        format!("unknown role id {id}"),
                    ));
                }
            }
        }
        Ok(out)
    }

    // ----- passwords ---------------------------------------------------------------------------

    /// A user changes their own password: needs the current one; ends their other sessions.
    pub async fn change_password(
        &self,
        actor: &Principal,
        target: UserId,
        current: &str,
        new: &str,
        client: &ClientInfo,
    ) -> CoreResult<()> {
        self_or_admin(actor, target)?;
        self.rate_limit(Limited::Password, client)?;
        self.check_new_password(new)?;
        let stored = self
            .store
            .password_hash(target)
            .await?
            .ok_or(CoreError::NotFound(Entity::User))?;
        if self.hasher.verify(current, Some(&stored)).await? == PwVerified::No {
            return Err(CoreError::WrongPassword);
        }
        let hash = self.hasher.hash(new).await?;
        let keep = (actor.user_id == target).then_some(&actor.session_id);
        let ended = self
            .store
            .set_password(target, &hash, Some((keep, "password changed")))
            .await?;
        self.apply_local(ended.into_iter().map(Invalidation::Session));
        self.apply_local([Invalidation::User(target)]);
        self.audit(
            AuditEvent::new("password.changed")
                .by(actor)
                .on("user", target),
        )
        .await;
        Ok(())
    }

    /// An admin sets a user's password; all of that user's sessions end (but the admin's own
    /// current one, when resetting their own).
    pub async fn reset_password(
        &self,
        actor: &Principal,
        target: UserId,
        new: &str,
    ) -> CoreResult<()> {
        require_admin(actor)?;
        self.set_password_unchecked(
            actor,
            target,
            new,
            (actor.user_id == target).then_some(&actor.session_id),
        )
        .await
    }

    async fn set_password_unchecked(
        &self,
        actor: &Principal,
        target: UserId,
        new: &str,
        keep: Option<&SessionId>,
    ) -> CoreResult<()> {
        self.check_new_password(new)?;
        let hash = self.hasher.hash(new).await?;
        let ended = self
            .store
            .set_password(target, &hash, Some((keep, "password reset")))
            .await?;
        self.apply_local(ended.into_iter().map(Invalidation::Session));
        self.apply_local([Invalidation::User(target)]);
        let action = if actor.user_id == target {
            "password.changed"
        } else {
            "password.reset"
        };
        self.audit(AuditEvent::new(action).by(actor).on("user", target))
            .await;
        Ok(())
    }

    // ----- roles ----------------------------------------------------------------------------

    pub async fn list_roles(&self, actor: &Principal) -> CoreResult<Vec<Role>> {
        require_admin(actor)?;
        self.store.list_roles().await
    }

    pub async fn get_role(&self, actor: &Principal, id: RoleId) -> CoreResult<Role> {
        require_admin(actor)?;
        self.store
            .get_role(id)
            .await?
            .ok_or(CoreError::NotFound(Entity::Role))
    }

    pub async fn create_role(
        &self,
        actor: &Principal,
        name: &str,
        description: Option<String>,
    ) -> CoreResult<Role> {
        require_admin(actor)?;
        let name = validate::role_name(name)?;
        let description = validate::profile_field("description", description)?;
        let id = self
            .store
            .create_role(&name, description.as_deref())
            .await?;
        self.audit(AuditEvent::new("role.created").by(actor).on("role", &name))
            .await;
        self.get_role(actor, id).await
    }

    pub async fn update_role(
        &self,
        actor: &Principal,
        id: RoleId,
        name: Option<&str>,
        description: Option<Option<String>>,
    ) -> CoreResult<Role> {
        let mut role = self.get_role(actor, id).await?;
        if let Some(n) = name {
            let n = validate::role_name(n)?;
            if role.builtin && n != role.name {
                return Err(CoreError::invalid(
                    "name",
                    "built-in roles cannot be renamed",
                ));
            }
            role.name = n;
        }
        if let Some(d) = description {
            role.description = validate::profile_field("description", d)?;
        }
        self.store
            .update_role(id, &role.name, role.description.as_deref())
            .await?;
        self.apply_local([Invalidation::AllUsers]);
        self.audit(
            AuditEvent::new("role.updated")
                .by(actor)
                .on("role", &role.name),
        )
        .await;
        self.get_role(actor, id).await
    }

    pub async fn delete_role(&self, actor: &Principal, id: RoleId) -> CoreResult<()> {
        let role = self.get_role(actor, id).await?;
        if role.builtin {
            return Err(CoreError::invalid(
                "role",
                "built-in roles cannot be deleted",
            ));
        }
        self.store.delete_role(id).await?;
        self.apply_local([Invalidation::AllUsers]);
        self.audit(
            AuditEvent::new("role.deleted")
                .by(actor)
                .on("role", &role.name),
        )
        .await;
        Ok(())
    }

    // ----- role assignments -----------------------------------------------------------------------

    pub async fn list_assignments(
        &self,
        actor: &Principal,
        q: &AssignmentQuery,
        offset: u64,
        limit: u64,
    ) -> CoreResult<(Vec<Assignment>, u64)> {
        require_admin(actor)?;
        let mut q = q.clone();
        if let Some(r) = &q.role {
            q.role = Some(validate::role_name(r)?);
        }
        self.store.list_assignments(&q, offset, limit).await
    }

    pub async fn get_assignment(
        &self,
        actor: &Principal,
        id: AssignmentId,
    ) -> CoreResult<Assignment> {
        require_admin(actor)?;
        self.store
            .get_assignment(id)
            .await?
            .ok_or(CoreError::NotFound(Entity::Assignment))
    }

    /// Assigns a role to a user (the role is created if it does not exist yet).
    pub async fn assign_role(
        &self,
        actor: &Principal,
        user: UserId,
        role: &str,
        is_active: bool,
    ) -> CoreResult<Assignment> {
        require_admin(actor)?;
        let role = validate::role_name(role)?;
        self.user_or_gone(user).await?;
        let id = self
            .store
            .create_assignment(user, &role, is_active, Some(&actor.user_id.0.to_string()))
            .await?;
        self.apply_local([Invalidation::User(user)]);
        let a = self.get_assignment(actor, id).await?;
        self.audit(
            AuditEvent::new("assignment.created")
                .by(actor)
                .on("assignment", id)
                .detail(format!(
                    "user {user} role {} active {}",
                    a.role, a.is_active
                )),
        )
        .await;
        Ok(a)
    }

    /// Changes an assignment; fields left `None` keep their value.
    pub async fn update_assignment(
        &self,
        actor: &Principal,
        id: AssignmentId,
        user: Option<UserId>,
        role: Option<&str>,
        is_active: Option<bool>,
    ) -> CoreResult<Assignment> {
        let current = self.get_assignment(actor, id).await?;
        let role = match role {
            Some(r) => validate::role_name(r)?,
            None => current.role.clone(),
        };
        let user = user.unwrap_or(current.user_id);
        if user != current.user_id {
            self.user_or_gone(user).await?;
        }
        self.store
            .update_assignment(
                id,
                user,
                &role,
                is_active.unwrap_or(current.is_active),
                Some(&actor.user_id.0.to_string()),
            )
            .await?;
        self.apply_local([
            Invalidation::User(user),
            Invalidation::User(current.user_id),
        ]);
        let a = self.get_assignment(actor, id).await?;
        self.audit(
            AuditEvent::new("assignment.updated")
                .by(actor)
                .on("assignment", id)
                .detail(format!(
                    "user {} role {} active {} version {}",
                    a.user_id, a.role, a.is_active, a.version
                )),
        )
        .await;
        Ok(a)
    }

    pub async fn delete_assignment(
        &self,
        actor: &Principal,
        id: AssignmentId,
    ) -> CoreResult<Assignment> {
        let current = self.get_assignment(actor, id).await?;
        self.store.delete_assignment(id).await?;
        self.apply_local([Invalidation::User(current.user_id)]);
        self.audit(
            AuditEvent::new("assignment.deleted")
                .by(actor)
                .on("assignment", id)
                .detail(format!("user {} role {}", current.user_id, current.role)),
        )
        .await;
        Ok(current)
    }

    /// Removes a user's assignment of `role`, if any.
    pub async fn unassign_role(
        &self,
        actor: &Principal,
        user: UserId,
        role: &str,
    ) -> CoreResult<()> {
        require_admin(actor)?;
        let role = validate::role_name(role)?;
        let q = AssignmentQuery {
            user_id: Some(user),
            role: Some(role),
            ..Default::default()
        };
        let (found, _) = self.store.list_assignments(&q, 0, 1).await?;
        let a = found
            .into_iter()
            .next()
            .ok_or(CoreError::NotFound(Entity::Assignment))?;
        self.store.delete_assignment(a.id).await?;
        self.apply_local([Invalidation::User(user)]);
        self.audit(
            AuditEvent::new("assignment.deleted")
                .by(actor)
                .on("assignment", a.id)
                .detail(format!("user {user} role {}", a.role)),
        )
        .await;
        Ok(())
    }

    /// Makes `roles` exactly the user's active roles.
    pub async fn set_user_roles(
        &self,
        actor: &Principal,
        user: UserId,
        roles: &[String],
    ) -> CoreResult<User> {
        require_admin(actor)?;
        let roles = clean_roles(roles)?;
        self.replace_roles(actor, user, &roles).await?;
        self.user_or_gone(user).await
    }

    // ----- organizations -------------------------------------------------------------------------

    pub async fn list_orgs(
        &self,
        actor: &Principal,
        offset: u64,
        limit: u64,
    ) -> CoreResult<(Vec<Organization>, u64)> {
        require_admin(actor)?;
        self.store.list_orgs(offset, limit).await
    }

    pub async fn get_org(&self, actor: &Principal, id: OrgId) -> CoreResult<Organization> {
        require_admin(actor)?;
        self.store
            .get_org(id)
            .await?
            .ok_or(CoreError::NotFound(Entity::Organization))
    }

    pub async fn create_org(
        &self,
        actor: &Principal,
        name: &str,
        description: Option<String>,
    ) -> CoreResult<Organization> {
        require_admin(actor)?;
        let name = validate::org_name(name)?;
        let description = validate::profile_field("description", description)?;
        let id = self.store.create_org(&name, description.as_deref()).await?;
        self.audit(
            AuditEvent::new("organization.created")
                .by(actor)
                .on("organization", id),
        )
        .await;
        self.get_org(actor, id).await
    }

    pub async fn update_org(
        &self,
        actor: &Principal,
        id: OrgId,
        name: Option<&str>,
        description: Option<Option<String>>,
    ) -> CoreResult<Organization> {
        let mut org = self.get_org(actor, id).await?;
        if let Some(n) = name {
            org.name = validate::org_name(n)?;
        }
        if let Some(d) = description {
            org.description = validate::profile_field("description", d)?;
        }
        self.store
            .update_org(id, &org.name, org.description.as_deref())
            .await?;
        self.apply_local([Invalidation::AllUsers]);
        self.audit(
            AuditEvent::new("organization.updated")
                .by(actor)
                .on("organization", id),
        )
        .await;
        self.get_org(actor, id).await
    }

    pub async fn delete_org(&self, actor: &Principal, id: OrgId) -> CoreResult<()> {
        require_admin(actor)?;
        self.store.delete_org(id).await?;
        self.apply_local([Invalidation::AllUsers]);
        self.audit(
            AuditEvent::new("organization.deleted")
                .by(actor)
                .on("organization", id),
        )
        .await;
        Ok(())
    }

    /// Puts a user into an organization (or, with `None`, takes them out).
    pub async fn set_membership(
        &self,
        actor: &Principal,
        user: UserId,
        org: Option<OrgId>,
    ) -> CoreResult<User> {
        require_admin(actor)?;
        let patch = UserPatch {
            organization: Some(org),
            ..Default::default()
        };
        self.update_user(actor, user, patch).await
    }

    /// Takes a user out of `org`; not found unless they are a member of it.
    pub async fn remove_member(
        &self,
        actor: &Principal,
        org: OrgId,
        user: UserId,
    ) -> CoreResult<()> {
        require_admin(actor)?;
        let u = self.user_or_gone(user).await?;
        if u.organization.as_ref().map(|o| o.id) != Some(org) {
            return Err(CoreError::NotFound(Entity::User));
        }
        self.set_membership(actor, user, None).await.map(|_| ())
    }

    // ----- operations ------------------------------------------------------------------------------

    pub async fn ready(&self) -> CoreResult<()> {
        self.store.ping().await
    }

    pub async fn active_sessions(&self) -> CoreResult<i64> {
        self.store.count_active_sessions(Timestamp::now()).await
    }

    pub fn hash_params(&self) -> HashParams {
        self.hasher.params()
    }

    /// A principal for operator actions from the CLI (acts as an admin of the database).
    pub fn operator() -> Principal {
        Principal {
            user_id: UserId(0),
            session_id: SessionId("cli".into()),
            username: "cli".into(),
            roles: vec![roles::ADMIN.to_owned()],
        }
    }
}
