//! Authentication and sessions: bearer tokens, login and its throttle, refresh rotation,
//! logout, a user's own sessions.

use std::time::Duration;

use crate::audit::AuditEvent;
use crate::error::{AuthFailure, CoreError, CoreResult, Entity, Reason};
use crate::limits::Limited;
use crate::mfa;
use crate::model::*;
use crate::password::Verified as PwVerified;
use crate::ports::{LoginRecord, RotateOutcome};
use crate::service::{Latchkey, MfaChallenge};
use crate::tokens::{new_refresh_token, refresh_digest};
use crate::validate;

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
    /// After a login with a recovery code: how many are left.
    pub recovery_codes_remaining: Option<u32>,
    /// The user's role requires a second factor they have not enrolled: the session is
    /// good only for enrolling one.
    pub enrollment_required: bool,
}

/// What a login that needs no second factor gives, or the second step it waits for.
#[derive(Debug, Clone)]
pub enum LoginStep {
    Done(Box<LoginOutcome>),
    SecondFactor(MfaChallenge),
}

/// A login whose password was right.
pub(crate) struct FirstFactor {
    pub record: LoginRecord,
    pub user: User,
    /// The identifier's failure count, when it has one not yet cleared.
    pub counted: Option<String>,
}

impl Latchkey {
    /// Resolves a bearer token to a principal. The common case costs no database round trip:
    /// the signature check is local, ended sessions and user state come from the cache.
    pub async fn authenticate(&self, token: Option<&str>) -> CoreResult<Principal> {
        match self.authenticate_any(token).await? {
            (_, true) => Err(CoreError::Unauthenticated(AuthFailure::MfaEnrollment)),
            (p, false) => Ok(p),
        }
    }

    /// As [`Self::authenticate`], and also for a user whose role requires a second factor
    /// they have not enrolled (`true`): such a session is good only for enrolling one.
    pub async fn authenticate_any(&self, token: Option<&str>) -> CoreResult<(Principal, bool)> {
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
        // A token delegated to an OAuth client is good at UserInfo within its scope, never
        // as the user in the native API or a dialect.
        if v.client_id.is_some() {
            return Err(CoreError::Unauthenticated(AuthFailure::Malformed));
        }
        let enroll_only = self.must_enroll(&user);
        Ok((
            Principal {
                user_id: v.user_id,
                session_id: v.session_id,
                username: user.username.clone(),
                roles: user.roles.clone(),
            },
            enroll_only,
        ))
    }

    /// The user's role requires a second factor (`--mfa-required-role`) they do not have.
    pub(crate) fn must_enroll(&self, user: &User) -> bool {
        !user.mfa_enabled && self.cfg.mfa_required_roles.iter().any(|r| user.has_role(r))
    }

    /// A one-step login (the dialects): username-or-email and password. A user with a
    /// second factor is refused ([`CoreError::MfaRequired`]) unless the operator allows
    /// password-only dialect logins, and then each such login is audited as one.
    pub async fn login(
        &self,
        identifier: &str,
        password: &str,
        client: &ClientInfo,
    ) -> CoreResult<LoginOutcome> {
        let out = match self.first_factor(identifier, password, client).await {
            Ok(checked) => self.password_only(checked, client).await,
            Err(e) => Err(e),
        };
        if let Err(e) = &out {
            self.audit_login_failure(identifier, e).await;
        }
        out
    }

    /// The native API's and the hosted pages' login: a session, or, for a user with a
    /// second factor, the challenge that [`Self::finish_login`] completes.
    pub async fn begin_login(
        &self,
        identifier: &str,
        password: &str,
        client: &ClientInfo,
    ) -> CoreResult<LoginStep> {
        let out = match self.first_factor(identifier, password, client).await {
            Ok(c) if c.record.mfa => self.mfa_challenge(&c.user).await,
            Ok(c) => self
                .opened(&c.user, client, mfa::AMR_PASSWORD, None)
                .await
                .map(|o| LoginStep::Done(Box::new(o))),
            Err(e) => Err(e),
        };
        if let Err(e) = &out {
            self.audit_login_failure(identifier, e).await;
        }
        out
    }

    async fn audit_login_failure(&self, identifier: &str, e: &CoreError) {
        // The identifier as typed (bounded), never the password.
        let typed: String = identifier.trim().chars().take(64).collect();
        let event = match e {
            CoreError::InvalidCredentials => AuditEvent::new("login").failed().detail(typed),
            CoreError::AccountDisabled => AuditEvent::new("login")
                .failed()
                .detail(format!("{typed}: account disabled")),
            CoreError::RateLimited { .. } => AuditEvent::new("login.locked").failed().detail(typed),
            CoreError::EmailNotVerified => AuditEvent::new("login")
                .failed()
                .detail(format!("{typed}: email address not verified")),
            CoreError::MfaRequired => AuditEvent::new("login").failed().detail(format!(
                "{typed}: second factor required, refused on a dialect"
            )),
            _ => return,
        };
        self.audit(event).await;
    }

    /// A dialect's login once the password is right.
    async fn password_only(&self, c: FirstFactor, client: &ClientInfo) -> CoreResult<LoginOutcome> {
        if !c.record.mfa {
            // A role that requires a factor the user lacks: they enroll it elsewhere first.
            if self.must_enroll(&c.user) {
                metrics::counter!("latchkey_logins_total", "outcome" => "mfa_required")
                    .increment(1);
                return Err(CoreError::MfaRequired);
            }
            return self.opened(&c.user, client, mfa::AMR_PASSWORD, None).await;
        }
        if !self.cfg.dialect_mfa_allow {
            metrics::counter!("latchkey_logins_total", "outcome" => "mfa_required").increment(1);
            return Err(CoreError::MfaRequired);
        }
        metrics::counter!("latchkey_logins_total", "outcome" => "mfa_skipped").increment(1);
        if let Some(key) = &c.counted {
            self.counters.clear(key).await?;
        }
        self.opened(
            &c.user,
            client,
            mfa::AMR_PASSWORD,
            Some("second factor skipped: password-only dialect login (--dialect-mfa allow)"),
        )
        .await
    }

    /// Opens the session of a completed login, its "login" event in the same transaction.
    pub(crate) async fn opened(
        &self,
        user: &User,
        client: &ClientInfo,
        amr: &str,
        detail: Option<&str>,
    ) -> CoreResult<LoginOutcome> {
        let mut event = AuditEvent::new("login").by_user(user.id, &user.username);
        if let Some(d) = detail {
            event = event.detail(d);
        }
        let tokens = self.open_session(user.id, client, Some(event), amr).await?;
        metrics::counter!("latchkey_logins_total", "outcome" => "success").increment(1);
        Ok(LoginOutcome {
            tokens,
            user: user.clone(),
            recovery_codes_remaining: None,
            enrollment_required: self.must_enroll(user),
        })
    }

    /// Checks the password (with the throttle), upgrades an old hash, and answers who it is.
    /// Unknown users cost the same as known ones.
    async fn first_factor(
        &self,
        identifier: &str,
        password: &str,
        client: &ClientInfo,
    ) -> CoreResult<FirstFactor> {
        validate::no_nul("identifier", identifier)?;
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
        // A right password ends the failure count, unless a second factor is still to come:
        // then only the whole login does, so a known password does not buy more guesses.
        if counted && !record.mfa {
            self.counters.clear(&id_key).await?;
        }
        if !record.is_active {
            metrics::counter!("latchkey_logins_total", "outcome" => "disabled").increment(1);
            return Err(CoreError::AccountDisabled);
        }
        let mut user = self
            .cached_user(record.id)
            .await?
            .ok_or(CoreError::NotFound(Entity::User))?;
        self.check_verified(&user).await?;
        if let PwVerified::YesRehashed { hash, from } = verdict {
            // An imported hash, or other parameters than today's: argon2id at the configured
            // parameters takes its place, with its audit event in the same transaction (and
            // only if no other change replaced the old hash meanwhile).
            let event = AuditEvent::new("credential.upgraded")
                .by_user(user.id, &user.username)
                .on("user", user.id)
                .detail(format!("{from} to argon2id"));
            let w = self
                .store
                .upgrade_password(record.id, &record.password_hash, &hash, &event, client)
                .await?;
            if self.applied(w) {
                metrics::counter!("latchkey_password_upgrades_total", "from" => from).increment(1);
                user = self
                    .cached_user(record.id)
                    .await?
                    .ok_or(CoreError::NotFound(Entity::User))?;
            }
        }
        Ok(FirstFactor {
            record,
            user: User::clone(&user),
            counted: counted.then_some(id_key),
        })
    }

    /// Refuses a login whose identifier is locked or whose address is throttled. Returns
    /// whether the identifier has a failure count (to clear on success).
    pub(crate) async fn check_throttle(
        &self,
        id_key: &str,
        ip_key: Option<&str>,
    ) -> CoreResult<bool> {
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

    pub(crate) async fn count_failure(&self, id_key: &str, ip_key: Option<&str>) -> CoreResult<()> {
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
            self.count_address_failure(ip_key).await?;
        }
        Ok(())
    }

    /// Counts a failure from a client address, in its window (no identifier to lock).
    pub(crate) async fn count_address_failure(&self, ip_key: &str) -> CoreResult<()> {
        let now = Timestamp::now();
        let window = self.cfg.throttle.address_window_secs as i64 * 1000;
        self.counters
            .fail(ip_key, now, Timestamp(now.0 - window), false)
            .await
            .map(|_| ())
    }

    /// Counts a rate-limited action from `client`'s address.
    pub(crate) fn rate_limit(&self, what: Limited, client: &ClientInfo) -> CoreResult<()> {
        let Some(ip) = client.ip.as_deref() else {
            return Ok(());
        };
        let r = self.cfg.rates;
        let (limit, window) = match what {
            Limited::Register => (r.register_per_hour, Duration::from_secs(3600)),
            Limited::Refresh => (r.refresh_per_minute, Duration::from_secs(60)),
            Limited::Password => (r.password_per_hour, Duration::from_secs(3600)),
            Limited::Mail => (
                self.cfg.mail.policy.per_address_per_hour,
                Duration::from_secs(3600),
            ),
        };
        self.limiter
            .check(what, ip, limit, window)
            .map_err(|retry_after| CoreError::RateLimited { retry_after })
    }

    /// The rules for a new password: length (ASVS V6.2) and the common-passwords list.
    pub(crate) fn check_new_password(&self, pw: &str) -> CoreResult<()> {
        validate::password(pw)?;
        if self.cfg.password_blocklist && validate::is_common_password(pw) {
            return Err(CoreError::invalid("password", Reason::TooCommon));
        }
        Ok(())
    }

    /// A new session and its first tokens; `audit` (about the new session) is recorded in the
    /// same transaction.
    pub(crate) async fn open_session(
        &self,
        user: UserId,
        client: &ClientInfo,
        audit: Option<AuditEvent>,
        amr: &str,
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
            client_id: None,
            scope: None,
            amr: Some(amr.to_owned()),
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
        let w = self
            .store
            .rotate_refresh(
                &refresh_digest(refresh_token),
                &refresh_digest(&next),
                now,
                self.cfg.session_idle_secs,
                "",
            )
            .await?;
        // A reuse or an expired session ended it: its access tokens stop here too, not when
        // this instance next syncs.
        match self.applied(w) {
            RotateOutcome::Rotated {
                session,
                user,
                expires_at,
                ..
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
                self.refresh_reused(&session, user, None).await;
                Err(CoreError::InvalidRefreshToken)
            }
            RotateOutcome::Expired { .. } | RotateOutcome::Ended | RotateOutcome::Unknown => {
                Err(CoreError::InvalidRefreshToken)
            }
        }
    }

    /// A spent refresh token came back (its session has been ended): logged and audited, for
    /// the native API's refresh and a client's alike.
    pub(crate) async fn refresh_reused(
        &self,
        session: &SessionId,
        user: UserId,
        client: Option<&str>,
    ) {
        tracing::warn!(user.id = user.0, session.id = %session, client.id = client.unwrap_or(""), "refresh token reuse: session ended");
        let detail = match client {
            Some(c) => format!("user {user}, client {c}"),
            None => format!("user {user}"),
        };
        self.audit(
            AuditEvent::new("refresh.reuse_detected")
                .failed()
                .on("session", session)
                .detail(detail),
        )
        .await;
    }

    pub async fn logout(&self, p: &Principal) -> CoreResult<()> {
        let w = self.store.end_session(&p.session_id, "logout").await?;
        self.applied(w);
        self.audit(AuditEvent::new("logout").by(p).on("session", &p.session_id))
            .await;
        Ok(())
    }

    pub async fn logout_all(&self, p: &Principal) -> CoreResult<u64> {
        let w = self
            .store
            .end_user_sessions(p.user_id, None, "logout everywhere")
            .await?;
        let n = self.applied(w).len() as u64;
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
        if sid.0.contains('\0') {
            return Err(CoreError::NotFound(Entity::Session));
        }
        match self.store.get_session(sid).await? {
            Some(s) if s.user_id == p.user_id && s.revoked_at.is_none() => {
                let w = self.store.end_session(sid, "ended by user").await?;
                self.applied(w);
                self.audit(AuditEvent::new("session.ended").by(p).on("session", sid))
                    .await;
                Ok(())
            }
            _ => Err(CoreError::NotFound(Entity::Session)),
        }
    }
}
