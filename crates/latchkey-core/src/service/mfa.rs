//! Second factors (ASVS 5.0 V6.4–V6.6): TOTP enrollment and removal, recovery codes, and the
//! second step of a login. The pieces without storage are in [`crate::mfa`].
//!
//! - A TOTP secret counts only once a correct code confirmed it; until then it can be
//!   replaced by a new enrollment. It is sealed at rest with the key-encryption key when one
//!   is configured.
//! - A login with the right password for a user with a factor opens no session: it answers
//!   an `mfa_token` (256 random bits, stored as SHA-256) good once, for five minutes, until
//!   five wrong codes. Wrong codes also count toward the account's login lock.
//! - Adding, replacing or removing a factor needs a session opened in the last five minutes
//!   (log in again to re-enter the password and factor) and ends the user's other sessions.

use crate::audit::{current_client, AuditEvent};
use crate::error::{CoreError, CoreResult, Entity, Reason};
use crate::mfa::{self, recovery, totp};
use crate::model::*;
use crate::ports::Factor;
use crate::seal::SEALED_PREFIX;
use crate::service::{Latchkey, LoginOutcome, LoginStep};
use crate::tokens::{new_refresh_token, refresh_digest};
use crate::validate;

/// How long an `mfa_token` lives.
pub const CHALLENGE_TTL_SECS: u64 = 5 * 60;
/// Wrong codes an `mfa_token` survives.
pub const CHALLENGE_ATTEMPTS: u32 = 5;
/// How old a session may be and still change factors.
pub const RECENT_AUTH_SECS: u64 = 5 * 60;

const PLAIN_PREFIX: &str = "plain:";

/// A second-factor method a login can be completed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MfaMethod {
    Totp,
    RecoveryCode,
    Webauthn,
}

impl MfaMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            MfaMethod::Totp => "totp",
            MfaMethod::RecoveryCode => "recovery_code",
            MfaMethod::Webauthn => "webauthn",
        }
    }

    pub fn parse(s: &str) -> CoreResult<Self> {
        match s {
            "totp" => Ok(MfaMethod::Totp),
            "recovery_code" => Ok(MfaMethod::RecoveryCode),
            "webauthn" => Ok(MfaMethod::Webauthn),
            _ => Err(CoreError::invalid(
                "method",
                Reason::OneOf("totp, recovery_code, webauthn"),
            )),
        }
    }
}

/// A login waiting for its second factor.
#[derive(Debug, Clone)]
pub struct MfaChallenge {
    /// Shown once; only its digest is stored.
    pub token: String,
    pub methods: Vec<&'static str>,
    pub expires_at: Timestamp,
}

/// A user's factors, as the user (or an admin) sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaStatus {
    /// A confirmed TOTP factor, since when.
    pub totp: Option<Timestamp>,
    /// An enrollment begun and not yet confirmed.
    pub totp_pending: bool,
    /// Registered passkeys.
    pub passkeys: u32,
    pub recovery_codes_remaining: u32,
}

impl MfaStatus {
    pub fn enabled(&self) -> bool {
        self.totp.is_some() || self.passkeys > 0
    }

    /// The methods a login can be completed with.
    pub fn methods(&self) -> Vec<&'static str> {
        let mut m = Vec::new();
        if self.totp.is_some() {
            m.push(MfaMethod::Totp.as_str());
        }
        if self.passkeys > 0 {
            m.push(MfaMethod::Webauthn.as_str());
        }
        if self.recovery_codes_remaining > 0 {
            m.push(MfaMethod::RecoveryCode.as_str());
        }
        m
    }
}

/// What beginning a TOTP enrollment gives the user's authenticator app.
#[derive(Debug, Clone)]
pub struct TotpEnrollment {
    pub secret: String,
    pub otpauth_uri: String,
    pub qr_svg: String,
}

/// A confirmed TOTP factor.
#[derive(Debug, Clone)]
pub struct TotpConfirmed {
    /// The recovery codes, on the first enrollment only (shown once).
    pub recovery_codes: Option<Vec<String>>,
    pub sessions_ended: u64,
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Latchkey {
    fn seal_totp(&self, user: UserId, secret: &totp::Secret) -> CoreResult<String> {
        match self.tokens.sealer() {
            Some(s) => s.seal(&format!("totp:{user}"), secret.as_bytes()),
            None => Ok(format!("{PLAIN_PREFIX}{}", secret.to_base32())),
        }
    }

    fn open_totp(&self, user: UserId, stored: &str) -> CoreResult<totp::Secret> {
        let damaged =
            || CoreError::internal(anyhow::anyhow!("user {user}: TOTP secret unreadable"));
        if let Some(b32) = stored.strip_prefix(PLAIN_PREFIX) {
            return totp::Secret::from_base32(b32).ok_or_else(damaged);
        }
        let sealed = stored.strip_prefix(SEALED_PREFIX).ok_or_else(damaged)?;
        let sealer = self.tokens.sealer().ok_or_else(|| {
            CoreError::invalid(
                "key_encryption_key",
                Reason::Config(
                    "TOTP secrets are encrypted: set LATCHKEY_KEY_ENCRYPTION_KEY".into(),
                ),
            )
        })?;
        let bytes = sealer
            .open(&format!("totp:{user}"), sealed)
            .map_err(|_| damaged())?;
        Ok(totp::Secret::from_bytes(&bytes))
    }

    /// A user's factors.
    pub(crate) async fn mfa_status_of(&self, user: UserId) -> CoreResult<MfaStatus> {
        let r = self.store.mfa_record(user).await?;
        Ok(MfaStatus {
            totp: r.totp.as_ref().and_then(|t| t.confirmed_at),
            totp_pending: r.totp.as_ref().is_some_and(|t| t.confirmed_at.is_none()),
            passkeys: count(r.passkeys.len()),
            recovery_codes_remaining: count(r.recovery_codes.len()),
        })
    }

    /// The caller's own factors.
    pub async fn my_mfa(&self, p: &Principal) -> CoreResult<MfaStatus> {
        self.mfa_status_of(p.user_id).await
    }

    /// Refuses a factor change from a session older than five minutes.
    pub(crate) async fn recent_auth(&self, p: &Principal) -> CoreResult<()> {
        let s = self
            .store
            .get_session(&p.session_id)
            .await?
            .ok_or(CoreError::RecentAuthRequired)?;
        let age_ms = Timestamp::now().0 - s.created_at.0;
        if age_ms > (RECENT_AUTH_SECS as i64) * 1000 {
            return Err(CoreError::RecentAuthRequired);
        }
        Ok(())
    }

    /// Begins a TOTP enrollment: a new secret, pending until a code confirms it (a second
    /// begin replaces a pending one). Refused while a confirmed one exists.
    pub async fn begin_totp(&self, p: &Principal) -> CoreResult<TotpEnrollment> {
        let user = self
            .cached_user(p.user_id)
            .await?
            .ok_or(CoreError::NotFound(Entity::User))?;
        let secret = totp::Secret::generate();
        let sealed = self.seal_totp(user.id, &secret)?;
        if !self
            .store
            .put_pending_totp(user.id, &sealed, Timestamp::now())
            .await?
        {
            return Err(CoreError::MfaState(
                "an authenticator app is already enrolled: remove it first",
            ));
        }
        let enrollment = self.totp_enrollment(&user.username, &secret)?;
        self.audit(
            AuditEvent::new("mfa.totp.enrollment_started")
                .by(p)
                .on("user", p.user_id),
        )
        .await;
        Ok(enrollment)
    }

    /// What an authenticator app needs to take `secret` for `username`: the key, its
    /// `otpauth://` URI (issuer: the public URL) and that URI as a QR code. The account page
    /// draws a pending enrollment again from the key it shows.
    pub fn totp_enrollment(
        &self,
        username: &str,
        secret: &totp::Secret,
    ) -> CoreResult<TotpEnrollment> {
        let otpauth_uri = totp::otpauth_uri(secret, self.tokens.issuer(), username);
        let qr_svg = totp::qr_svg(&otpauth_uri).ok_or_else(|| {
            CoreError::internal(anyhow::anyhow!("otpauth URI too long for a QR code"))
        })?;
        Ok(TotpEnrollment {
            secret: secret.to_base32(),
            otpauth_uri,
            qr_svg,
        })
    }

    /// A login's challenge, if it is live (unused and unexpired) at `now`.
    pub(crate) async fn live_challenge(
        &self,
        digest: &str,
        now: Timestamp,
    ) -> CoreResult<Option<crate::ports::ChallengeRecord>> {
        Ok(self
            .store
            .get_challenge(digest)
            .await?
            .filter(|c| c.used_at.is_none() && c.expires_at > now))
    }

    /// Confirms the pending TOTP secret with a code from the app. The first factor of a user
    /// comes with ten recovery codes; the user's other sessions end.
    pub async fn confirm_totp(&self, p: &Principal, code: &str) -> CoreResult<TotpConfirmed> {
        self.recent_auth(p).await?;
        let code = code.trim();
        if code.is_empty() {
            return Err(CoreError::invalid("code", Reason::Empty));
        }
        let record = self.store.mfa_record(p.user_id).await?;
        let pending = match &record.totp {
            Some(t) if t.confirmed_at.is_none() => t,
            Some(_) => {
                return Err(CoreError::MfaState(
                    "the authenticator app is already confirmed",
                ))
            }
            None => {
                return Err(CoreError::MfaState(
                    "no enrollment is pending: begin one first",
                ))
            }
        };
        let secret = self.open_totp(p.user_id, &pending.secret)?;
        let now = Timestamp::now().unix_seconds().max(0) as u64;
        let Some(step) = totp::verify(&secret, code, now, None) else {
            metrics::counter!("latchkey_mfa_verifications_total", "method" => "totp", "outcome" => "failure")
                .increment(1);
            self.audit(
                AuditEvent::new("mfa.totp.enrollment_failed")
                    .failed()
                    .by(p)
                    .on("user", p.user_id)
                    .detail("wrong code"),
            )
            .await;
            return Err(CoreError::InvalidMfaCode { remaining: None });
        };
        let (codes, digests) = if record.recovery_codes.is_empty() {
            let (c, d) = recovery::generate();
            (Some(c), Some(d))
        } else {
            (None, None)
        };
        let event = AuditEvent::new("mfa.totp.enrolled")
            .by(p)
            .on("user", p.user_id)
            .detail(if codes.is_some() {
                "authenticator app; 10 recovery codes issued"
            } else {
                "authenticator app"
            });
        let w = self
            .store
            .confirm_totp(
                p.user_id,
                step,
                digests.as_deref(),
                Some(&p.session_id),
                (&event, &current_client()),
            )
            .await?;
        let ended = self.applied(w).ok_or(CoreError::MfaState(
            "no enrollment is pending: begin one first",
        ))?;
        metrics::counter!("latchkey_mfa_verifications_total", "method" => "totp", "outcome" => "success")
            .increment(1);
        Ok(TotpConfirmed {
            recovery_codes: codes,
            sessions_ended: ended.len() as u64,
        })
    }

    /// Removes the caller's authenticator app (and the recovery codes with it when no
    /// passkey is left) and ends their other sessions.
    pub async fn remove_totp(&self, p: &Principal) -> CoreResult<()> {
        self.recent_auth(p).await?;
        let event = AuditEvent::new("mfa.totp.removed")
            .by(p)
            .on("user", p.user_id);
        let w = self
            .store
            .remove_mfa(
                p.user_id,
                Factor::Totp,
                Some(&p.session_id),
                "second factor removed",
                (&event, &current_client()),
            )
            .await?;
        if !self.applied(w) {
            return Err(CoreError::MfaState("no authenticator app is enrolled"));
        }
        Ok(())
    }

    /// Ten new recovery codes in place of the old ones (shown once).
    pub async fn regenerate_recovery_codes(&self, p: &Principal) -> CoreResult<Vec<String>> {
        self.recent_auth(p).await?;
        if !self.mfa_status_of(p.user_id).await?.enabled() {
            return Err(CoreError::MfaState(
                "recovery codes come with a second factor: enroll one first",
            ));
        }
        let (codes, digests) = recovery::generate();
        let event = AuditEvent::new("mfa.recovery_codes.regenerated")
            .by(p)
            .on("user", p.user_id);
        self.store
            .replace_recovery_codes(p.user_id, &digests, (&event, &current_client()))
            .await?;
        Ok(codes)
    }

    /// A login waiting for the second factor of `user`.
    pub(crate) async fn mfa_challenge(&self, user: &User) -> CoreResult<LoginStep> {
        let status = self.mfa_status_of(user.id).await?;
        let token = new_refresh_token();
        let now = Timestamp::now();
        let expires_at = now.plus_secs(CHALLENGE_TTL_SECS);
        self.store
            .insert_challenge(&refresh_digest(&token), user.id, now, expires_at)
            .await?;
        metrics::counter!("latchkey_logins_total", "outcome" => "mfa_challenge").increment(1);
        self.audit(
            AuditEvent::new("login.mfa_challenge")
                .by_user(user.id, &user.username)
                .on("user", user.id)
                .detail("password verified; second factor awaited"),
        )
        .await;
        Ok(LoginStep::SecondFactor(MfaChallenge {
            token,
            methods: status.methods(),
            expires_at,
        }))
    }

    /// The second step of a login: the `mfa_token` and a code of `method`.
    pub async fn finish_login(
        &self,
        mfa_token: &str,
        method: &str,
        code: &str,
        client: &ClientInfo,
    ) -> CoreResult<LoginOutcome> {
        if mfa_token.is_empty() || mfa_token.len() > 128 {
            return Err(CoreError::InvalidMfaToken);
        }
        let method = MfaMethod::parse(method)?;
        let code = code.trim();
        if code.is_empty() {
            return Err(CoreError::invalid("code", Reason::Empty));
        }
        validate::no_nul("code", code)?;
        let digest = refresh_digest(mfa_token);
        let now = Timestamp::now();
        let challenge = match self.live_challenge(&digest, now).await? {
            Some(c) => c,
            None => {
                metrics::counter!("latchkey_mfa_verifications_total", "method" => method.as_str(), "outcome" => "invalid_token")
                    .increment(1);
                return Err(CoreError::InvalidMfaToken);
            }
        };
        let user = match self.cached_user(challenge.user_id).await? {
            Some(u) if u.is_active => u,
            _ => return Err(CoreError::InvalidMfaToken),
        };
        // The account's lock covers both names a login can use.
        let id_keys = [
            format!("id:{}", validate::fold(&user.username)),
            format!("id:{}", validate::fold(&user.email)),
        ];
        let ip_key = client.ip.as_ref().map(|ip| format!("ip:{ip}"));
        let mut counted = false;
        for k in &id_keys {
            counted |= self.check_throttle(k, ip_key.as_deref()).await?;
        }
        let record = self.store.mfa_record(user.id).await?;
        let mut amr = mfa::AMR_PASSWORD_OTP.to_owned();
        let verified = match method {
            MfaMethod::Totp => match record.totp.as_ref().filter(|t| t.confirmed_at.is_some()) {
                Some(t) => {
                    let secret = self.open_totp(user.id, &t.secret)?;
                    let unix = now.unix_seconds().max(0) as u64;
                    match totp::verify(&secret, code, unix, t.last_step) {
                        // Of two uses of one code, on any instance, one wins.
                        Some(step) => self.store.use_totp_step(user.id, step).await?,
                        None => false,
                    }
                }
                None => false,
            },
            MfaMethod::RecoveryCode => match recovery::find(code, &record.recovery_codes) {
                Some(i) => {
                    self.store
                        .use_recovery_code(user.id, &record.recovery_codes[i], now)
                        .await?
                }
                None => false,
            },
            MfaMethod::Webauthn => match self
                .verify_passkey(
                    user.id,
                    challenge.webauthn_state.as_deref(),
                    code,
                    &record.passkeys,
                )
                .await?
            {
                Some(kind) => {
                    amr = format!("{} {kind}", mfa::AMR_PASSWORD);
                    true
                }
                None => false,
            },
        };
        if !verified {
            let failures = self
                .store
                .fail_challenge(&digest, CHALLENGE_ATTEMPTS, now)
                .await?;
            self.count_failure(&id_keys[0], ip_key.as_deref()).await?;
            self.count_failure(&id_keys[1], None).await?;
            let remaining = CHALLENGE_ATTEMPTS.saturating_sub(failures);
            metrics::counter!("latchkey_mfa_verifications_total", "method" => method.as_str(), "outcome" => "failure")
                .increment(1);
            self.audit(
                AuditEvent::new("login.mfa")
                    .failed()
                    .by_user(user.id, &user.username)
                    .on("user", user.id)
                    .detail(format!(
                        "{}: wrong code ({failures} of {CHALLENGE_ATTEMPTS})",
                        method.as_str()
                    )),
            )
            .await;
            return Err(if remaining == 0 {
                CoreError::InvalidMfaToken
            } else {
                CoreError::InvalidMfaCode {
                    remaining: Some(remaining),
                }
            });
        }
        if !self.store.use_challenge(&digest, now).await? {
            return Err(CoreError::InvalidMfaToken);
        }
        if counted {
            for k in &id_keys {
                self.counters.clear(k).await?;
            }
        }
        metrics::counter!("latchkey_mfa_verifications_total", "method" => method.as_str(), "outcome" => "success")
            .increment(1);
        let mut remaining_codes = None;
        let detail = match method {
            MfaMethod::Totp => "second factor: totp".to_owned(),
            MfaMethod::Webauthn => "second factor: passkey".to_owned(),
            MfaMethod::RecoveryCode => {
                let left = count(record.recovery_codes.len().saturating_sub(1));
                remaining_codes = Some(left);
                self.audit(
                    AuditEvent::new("mfa.recovery_code_used")
                        .by_user(user.id, &user.username)
                        .on("user", user.id)
                        .detail(format!("{left} left")),
                )
                .await;
                format!("second factor: recovery code ({left} left)")
            }
        };
        let mut out = self.opened(&user, client, &amr, Some(&detail)).await?;
        out.recovery_codes_remaining = remaining_codes;
        Ok(out)
    }

    /// An admin removes a user's second factors (a lost phone): audited, and every session
    /// of the user ends.
    pub(crate) async fn reset_mfa_of(
        &self,
        actor: Option<&Principal>,
        id: UserId,
    ) -> CoreResult<()> {
        let user = self.user_or_gone(id).await?;
        let mut event = AuditEvent::new("mfa.reset")
            .on("user", id)
            .detail(user.username.clone());
        if let Some(a) = actor {
            event = event.by(a);
        }
        let w = self
            .store
            .remove_mfa(
                id,
                Factor::All,
                None,
                "second factor reset by admin",
                (&event, &current_client()),
            )
            .await?;
        if !self.applied(w) {
            return Err(CoreError::MfaState("the user has no second factor"));
        }
        Ok(())
    }
}

impl crate::access::Admin<'_> {
    /// Whether a user has second factors, and which.
    pub async fn user_mfa(&self, id: UserId) -> CoreResult<MfaStatus> {
        self.svc.user_or_gone(id).await?;
        self.svc.mfa_status_of(id).await
    }

    /// Removes a user's second factors and ends their sessions.
    pub async fn reset_user_mfa(&self, id: UserId) -> CoreResult<()> {
        self.svc.reset_mfa_of(Some(self.actor), id).await
    }
}
