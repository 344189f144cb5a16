//! The core service: every rule of Latchkey lives here, once, one file per capability. The
//! native API, the five dialects and the CLI translate their wire formats into calls on
//! [`Latchkey`] (or on the views of [`crate::access`]) and map [`CoreError`] back; none of
//! them checks a role, hashes a password or touches a token.
//!
//! - `sessions`: authentication, login and its throttle, refresh, logout, sessions
//! - `accounts`: bootstrap, sign-up, users and their profiles
//! - `passwords`: changing and resetting passwords
//! - `roles`: roles and role assignments
//! - `orgs`: organizations and membership
//! - `clients`: OAuth client registration
//! - `oauth`: client authentication, client credentials, introspection
//! - `authorize`: the authorization endpoint and the hosted pages' browser session
//! - `codes`: the authorization-code and refresh-token grants, ID tokens
//! - `grants`: UserInfo, revocation, RP-initiated logout, users' grants
//! - `mfa`: second factors: TOTP, recovery codes, the second step of a login
//! - `passkeys`: WebAuthn passkeys as a second factor
//! - `mail`: email verification, password reset, email change, invitations
//! - `outbox`: delivering queued mail, with retries
//! - `import`: importing users with their password hashes, and exporting them
//! - `sync`: keeping this instance's caches in step with the database

mod accounts;
mod authorize;
mod clients;
mod codes;
mod console;
mod grants;
mod import;
mod mail;
mod mfa;
mod oauth;
mod orgs;
mod outbox;
mod passkeys;
mod passwords;
mod roles;
mod sessions;
mod sync;

use std::sync::Arc;

pub use accounts::{Bootstrapped, NewAccount, SignupPolicy, UserPatch};
pub use authorize::{AuthorizeStep, BrowserSession, Fresh, SignIn, CODE_TTL_SECS};
pub use clients::CreatedClient;
pub use codes::UserTokens;
pub use console::{CurrentLock, HourlyLogins, KeyInfo, Overview};
pub use grants::{LogoutRequest, LogoutTarget};
pub use import::IMPORT_BATCH;
pub use mail::{Invited, LinkTarget};
pub use mfa::{
    MfaChallenge, MfaMethod, MfaStatus, TotpConfirmed, TotpEnrollment, CHALLENGE_ATTEMPTS,
    CHALLENGE_TTL_SECS, RECENT_AUTH_SECS,
};
pub use oauth::{ClientAuth, ClientAuthMethod, ClientToken, TokenInfo};
pub use passkeys::{PasskeyAdded, PasskeyInfo, PasskeySignIn};
pub use sessions::{IssuedTokens, LoginOutcome, LoginStep};

use crate::access::Admin;
use crate::audit::{current_client, AuditEvent, AuditQuery, AuditRecord};
use crate::cache::{AuthCache, Invalidation};
use crate::config::CoreConfig;
use crate::error::{CoreError, CoreResult};
use crate::keys::{KeyAlg, StoredKey};
use crate::limits::{Counters, RateLimiter};
use crate::model::*;
use crate::password::{HashParams, Hasher};
use crate::ports::{Storage, Written};
use crate::tokens::TokenService;

pub struct Latchkey {
    store: Arc<dyn Storage>,
    hasher: Hasher,
    tokens: Arc<TokenService>,
    cache: AuthCache,
    /// Serializes the making of signing keys.
    key_init: tokio::sync::Mutex<()>,
    limiter: RateLimiter,
    counters: Arc<dyn Counters>,
    /// Wakes the outbox worker when a mail is queued.
    mail_wake: tokio::sync::Notify,
    /// Held from a per-recipient count to the mail it allows.
    mail_gate: tokio::sync::Mutex<()>,
    /// The WebAuthn relying party, when the public URL can be one.
    webauthn: Option<Arc<webauthn_rs::Webauthn>>,
    cfg: CoreConfig,
}

impl Latchkey {
    /// Builds the service on a migrated store and loads (or creates) the signing keys.
    /// Failed-login counters live in the database.
    pub async fn new(store: Arc<dyn Storage>, cfg: CoreConfig) -> CoreResult<Arc<Self>> {
        Self::with_counters(store, cfg, None).await
    }

    /// As [`Self::new`], with failed-login counters elsewhere (Redis).
    pub async fn with_counters(
        store: Arc<dyn Storage>,
        cfg: CoreConfig,
        counters: Option<Arc<dyn Counters>>,
    ) -> CoreResult<Arc<Self>> {
        let counters = counters.unwrap_or_else(|| store.clone());
        let hasher = Hasher::new(cfg.hash, cfg.hash_workers)?;
        let tokens = TokenService::new(
            cfg.issuer.clone(),
            cfg.audience.clone(),
            cfg.access_ttl_secs,
        )
        .with_key_encryption(cfg.key_encryption_key.as_ref())?;
        let tokens = Arc::new(tokens);
        let webauthn = match cfg.webauthn_origin.as_deref().map(passkeys::relying_party) {
            Some(Ok(w)) => Some(w),
            Some(Err(why)) => {
                tracing::info!("passkeys are unavailable: {why}");
                None
            }
            None => None,
        };
        let svc = Latchkey {
            mail_wake: tokio::sync::Notify::new(),
            mail_gate: tokio::sync::Mutex::new(()),
            webauthn,
            store,
            hasher,
            tokens,
            cache: AuthCache::new(),
            key_init: tokio::sync::Mutex::new(()),
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

    /// The storage this service runs on.
    pub fn store(&self) -> &dyn Storage {
        &*self.store
    }

    pub fn tokens(&self) -> &TokenService {
        &self.tokens
    }

    /// Applies the invalidations a write recorded to this instance's caches (other instances
    /// apply them from the feed) and hands back its value.
    pub(crate) fn applied<T>(&self, w: Written<T>) -> T {
        for e in &w.invalidations {
            self.cache.apply(e);
        }
        w.value
    }

    /// A new key for `alg`, made off the async executor (an RSA key takes a moment).
    async fn new_key(&self, alg: KeyAlg) -> CoreResult<StoredKey> {
        let tokens = self.tokens.clone();
        tokio::task::spawn_blocking(move || tokens.new_key(alg))
            .await
            .map_err(CoreError::internal)?
    }

    /// Loads the signing keys, first making the access-token (Ed25519) key if there is none.
    /// The ID-token keys (RSA, P-256) are made on first need ([`Self::jwks`]): an RSA key
    /// takes a moment to make, and a deployment that never serves OpenID never needs one.
    pub(crate) async fn ensure_keys(&self) -> CoreResult<()> {
        self.ensure_keys_for(&[KeyAlg::EdDSA]).await
    }

    /// Makes a key for each of `algs` that has no active one (under a lock, so concurrent
    /// callers make one each), then loads the key set.
    async fn ensure_keys_for(&self, algs: &[KeyAlg]) -> CoreResult<()> {
        let _one_at_a_time = self.key_init.lock().await;
        let mut keys = self.store.list_keys().await?;
        for alg in algs {
            if !keys.iter().any(|k| k.alg == *alg && k.retired_at.is_none()) {
                let key = self.new_key(*alg).await?;
                let w = self.store.add_key(&key, false).await?;
                self.applied(w);
                keys = self.store.list_keys().await?;
            }
        }
        self.tokens.load_keys(&keys)
    }

    /// Makes the ID-token keys (RSA, P-256) now if there are none, so that the first sign-in
    /// through OpenID does not wait a second for an RSA key. The server runs this in the
    /// background at start; the operator commands never need it.
    pub async fn prepare_id_token_keys(&self) -> CoreResult<()> {
        self.jwks().await.map(|_| ())
    }

    /// The public keys (for `/.well-known/jwks.json`), one or more per algorithm; the
    /// ID-token keys are made here the first time they are asked for.
    pub async fn jwks(&self) -> CoreResult<Vec<crate::keys::Jwk>> {
        let published = self.tokens.jwks();
        if KeyAlg::ALL
            .iter()
            .all(|a| published.iter().any(|k| k.alg == a.as_str()))
        {
            return Ok(published);
        }
        self.ensure_keys_for(&KeyAlg::ALL).await?;
        Ok(self.tokens.jwks())
    }

    /// Adds a new signing key for each algorithm; the old ones keep verifying, and stay in
    /// the JWKS, until their tokens expire. Returns the new keys' ids.
    pub async fn rotate_keys(&self) -> CoreResult<Vec<String>> {
        self.rotate_keys_by(None).await
    }

    /// [`Self::rotate_keys`], recorded as `actor`'s doing when one is named.
    pub(crate) async fn rotate_keys_by(
        &self,
        actor: Option<&crate::model::Principal>,
    ) -> CoreResult<Vec<String>> {
        let mut kids = Vec::new();
        for alg in KeyAlg::ALL {
            let key = self.new_key(alg).await?;
            let w = self.store.add_key(&key, true).await?;
            self.applied(w);
            let mut event = AuditEvent::new("key.rotated")
                .on("key", &key.kid)
                .detail(alg.as_str().to_owned());
            if let Some(a) = actor {
                event = event.by(a);
            }
            self.audit(event).await;
            kids.push(key.kid);
        }
        self.tokens.load_keys(&self.store.list_keys().await?)?;
        Ok(kids)
    }

    /// Records a security event with the current request's client. A failure to record is
    /// logged, not returned: the change it describes has already been made.
    pub(crate) async fn audit(&self, e: AuditEvent) {
        if let Err(err) = self
            .store
            .insert_audit(&e, &current_client(), Timestamp::now())
            .await
        {
            tracing::error!(error = %err, audit.action = e.action, "could not record an audit event");
        }
    }

    /// Events after `after_id`, oldest first (for `latchkey audit tail`, an operator's
    /// command on the database itself).
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
            roles: vec![crate::roles::ADMIN.to_owned()],
        }
    }
}

impl Admin<'_> {
    /// The audit log, newest first.
    pub async fn list_audit(
        &self,
        q: &AuditQuery,
        offset: u64,
        limit: u64,
    ) -> CoreResult<(Vec<AuditRecord>, u64)> {
        for v in [&q.action, &q.outcome, &q.target_type, &q.target_id]
            .into_iter()
            .flatten()
        {
            crate::validate::no_nul("filter", v)?;
        }
        self.svc.store.list_audit(q, offset, limit, false).await
    }
}

impl Admin<'_> {
    /// Records `e` as done by this administrator.
    pub(crate) async fn record(&self, e: AuditEvent) {
        self.svc.audit(e.by(self.actor)).await
    }

    /// How assignments record their author.
    pub(crate) fn actor_ref(&self) -> String {
        self.actor.user_id.0.to_string()
    }
}
