//! The mail flows: email verification, password reset, email change and invitations. Every
//! token is 256 bits from the OS RNG, stored as SHA-256, single use, superseded by a newer
//! one of its kind, and written with its mail in one transaction. Answers about addresses
//! never say whether an account has one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::access::Admin;
use crate::audit::AuditEvent;
use crate::error::{CoreError, CoreResult, Entity, Reason};
use crate::limits::Limited;
use crate::mail::store::{MailQuery, MailRecord, NewMail, NewMailToken};
use crate::mail::{MailKind, TokenPurpose, Verification};
use crate::model::*;
use crate::seal::Sealer;
use crate::service::{Latchkey, NewAccount};
use crate::tokens::{new_refresh_token, refresh_digest};
use crate::validate;

/// The stored password of an invited user who has not accepted yet: no password verifies
/// against it.
pub(crate) const INVITED_HASH: &str = "!invited";

/// The sealing label of outbox bodies.
pub(crate) const MAIL_SEAL_LABEL: &str = "mail-body";

/// An invitation as sent.
#[derive(Debug, Clone)]
pub struct Invited {
    pub user: User,
    pub expires_at: Timestamp,
}

/// What a mailed link leads to, for the hosted page that shows it.
#[derive(Debug, Clone)]
pub struct LinkTarget {
    pub username: String,
    /// The address the link was sent to.
    pub email: String,
}

/// Minutes or hours, as a mail says it.
fn human(secs: u64) -> String {
    match secs {
        s if s % 86_400 == 0 && s >= 86_400 => plural(s / 86_400, "day"),
        s if s % 3600 == 0 && s >= 3600 => plural(s / 3600, "hour"),
        s => plural(s.div_ceil(60).max(1), "minute"),
    }
}

fn plural(n: u64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// A token as typed or carried by a link: base64url of 32 bytes; anything else is no token.
fn token_shape(token: &str) -> CoreResult<&str> {
    let t = token.trim();
    let ok = t.len() == 43
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(t)
    } else {
        Err(CoreError::InvalidMailToken)
    }
}

impl Latchkey {
    fn mail_configured(&self) -> CoreResult<()> {
        match self.cfg.mail.transport {
            Some(_) => Ok(()),
            None => Err(CoreError::MailUnavailable),
        }
    }

    /// Whether this server sends mail.
    pub fn mail_enabled(&self) -> bool {
        self.cfg.mail.transport.is_some()
    }

    pub fn email_verification(&self) -> Verification {
        self.cfg.mail.verification
    }

    /// Counts a request to a mail-sending endpoint from this client address.
    fn mail_rate(&self, client: &ClientInfo) -> CoreResult<()> {
        let Some(ip) = client.ip.as_deref() else {
            return Ok(());
        };
        self.limiter
            .check(
                Limited::Mail,
                ip,
                self.cfg.mail.policy.per_address_per_hour,
                Duration::from_secs(3600),
            )
            .map_err(|retry_after| CoreError::RateLimited { retry_after })
    }

    /// May another mail go to `address` this hour? (Counted in the outbox, so across
    /// instances; the caller holds [`Latchkey::mail_gate`] until it has queued the mail, so
    /// concurrent requests on one instance cannot all pass the count.)
    async fn recipient_allowed(&self, address: &str) -> CoreResult<bool> {
        let limit = self.cfg.mail.policy.per_recipient_per_hour;
        if limit == 0 {
            return Ok(true);
        }
        let since = Timestamp(Timestamp::now().0 - 3_600_000);
        let n = self
            .store
            .count_recent_mail(&validate::fold(address), since)
            .await?;
        Ok(n < i64::from(limit))
    }

    fn link(&self, path: &str, token: &str) -> String {
        let base = self
            .cfg
            .mail
            .public_url
            .as_deref()
            .unwrap_or(&self.cfg.issuer)
            .trim_end_matches('/');
        format!("{base}{path}?token={token}")
    }

    /// Renders and queues a mail of `kind` to `to` about `user`; with `ttl`, a new token
    /// (superseding older ones of its kind) goes in the same transaction. Wakes the worker.
    async fn send_mail(
        &self,
        kind: MailKind,
        user: &User,
        to: &str,
        new_email: Option<&str>,
        ttl_secs: Option<u64>,
    ) -> CoreResult<Timestamp> {
        let mail_cfg = &self.cfg.mail;
        let now = Timestamp::now();
        let token = new_refresh_token();
        let expires_at = Timestamp(now.0 + ttl_secs.unwrap_or(0) as i64 * 1000);
        let link = match kind {
            MailKind::VerifyEmail => self.link(&mail_cfg.paths.verify, &token),
            MailKind::PasswordReset => self.link(&mail_cfg.paths.reset, &token),
            MailKind::EmailChange => self.link(&mail_cfg.paths.change, &token),
            MailKind::Invitation => self.link(&mail_cfg.paths.invitation, &token),
            MailKind::EmailChanged => String::new(),
        };
        let carries_token = kind.token_purpose().is_some();
        let vars = BTreeMap::from([
            ("product", mail_cfg.product.clone()),
            (
                "public_url",
                mail_cfg
                    .public_url
                    .clone()
                    .unwrap_or_else(|| self.cfg.issuer.clone()),
            ),
            ("username", user.username.clone()),
            ("email", user.email.clone()),
            ("new_email", new_email.unwrap_or("").to_owned()),
            ("link", link),
            (
                "token",
                if carries_token {
                    token.clone()
                } else {
                    String::new()
                },
            ),
            ("expires_in", human(ttl_secs.unwrap_or(0))),
        ]);
        let r = mail_cfg
            .templates
            .render(kind, &vars)
            .map_err(|e| CoreError::internal(anyhow::anyhow!("mail template: {e}")))?;
        let (text, html) = match &self.cfg.key_encryption_key {
            Some(kek) => {
                let s = Sealer::new(kek)?;
                (
                    s.seal(MAIL_SEAL_LABEL, r.text.as_bytes())?,
                    s.seal(MAIL_SEAL_LABEL, r.html.as_bytes())?,
                )
            }
            None => (r.text, r.html),
        };
        let mail = NewMail {
            kind: kind.as_str(),
            recipient: to.to_owned(),
            user: Some(user.id),
            subject: r.subject,
            text,
            html,
            created_at: now,
        };
        match (kind.token_purpose(), ttl_secs) {
            (Some(purpose), Some(_)) => {
                let t = NewMailToken {
                    digest: refresh_digest(&token),
                    purpose,
                    user: user.id,
                    email: to.to_owned(),
                    created_at: now,
                    expires_at,
                };
                self.store.issue_mail_token(&t, &mail).await?;
            }
            _ => self.store.queue_mail(&mail).await?,
        }
        metrics::counter!("latchkey_mail_queued_total", "kind" => kind.as_str()).increment(1);
        self.mail_wake.notify_one();
        Ok(expires_at)
    }

    /// A verification mail to the user's address, if this server verifies addresses and the
    /// address may get another mail this hour. Returns whether one was queued.
    pub(crate) async fn verification_mail(&self, user: &User) -> CoreResult<bool> {
        if self.cfg.mail.verification == Verification::Off
            || !self.mail_enabled()
            || user.email_verified
        {
            return Ok(false);
        }
        let _gate = self.mail_gate.lock().await;
        if !self.recipient_allowed(&user.email).await? {
            return Ok(false);
        }
        let ttl = self.cfg.mail.policy.verify_ttl_secs;
        self.send_mail(MailKind::VerifyEmail, user, &user.email, None, Some(ttl))
            .await?;
        self.audit(
            AuditEvent::new("email.verification_sent")
                .by_user(user.id, &user.username)
                .on("user", user.id),
        )
        .await;
        Ok(true)
    }

    /// After a sign-up: the verification mail (a failure to queue it is logged; the account
    /// is made).
    pub(crate) async fn after_sign_up(&self, user: &User) {
        if let Err(e) = self.verification_mail(user).await {
            tracing::warn!(error = %e, user.id = user.id.0, "could not queue the verification mail");
        }
    }

    /// Refuses a login of an unverified user where verification is required, sending them
    /// a fresh link (within the per-recipient limit): the password was right.
    pub(crate) async fn check_verified(&self, user: &User) -> CoreResult<()> {
        if self.cfg.mail.verification != Verification::Required || user.email_verified {
            return Ok(());
        }
        metrics::counter!("latchkey_logins_total", "outcome" => "email_unverified").increment(1);
        if let Err(e) = self.verification_mail(user).await {
            tracing::warn!(error = %e, "could not queue the verification mail");
        }
        Err(CoreError::EmailNotVerified)
    }

    /// `POST /v1/me/email/verify`: a new verification link to the caller's address. `false`:
    /// the address is already verified (nothing sent).
    pub async fn request_verification(
        &self,
        actor: &Principal,
        client: &ClientInfo,
    ) -> CoreResult<bool> {
        if self.cfg.mail.verification == Verification::Off {
            return Err(CoreError::Forbidden(
                "email verification is off on this server",
            ));
        }
        self.mail_configured()?;
        self.mail_rate(client)?;
        let user = self.user_or_gone(actor.user_id).await?;
        if user.email_verified {
            return Ok(false);
        }
        if !self.verification_mail(&user).await? {
            // The address has had its share of mail this hour.
            return Err(CoreError::RateLimited {
                retry_after: Duration::from_secs(3600),
            });
        }
        Ok(true)
    }

    /// Confirms an address with the token its mail carried.
    pub async fn verify_email(&self, token: &str) -> CoreResult<User> {
        let digest = refresh_digest(token_shape(token)?);
        let w = self
            .store
            .verify_email_by_token(&digest, Timestamp::now())
            .await?;
        let id = self.applied(w).ok_or(CoreError::InvalidMailToken)?;
        let user = self.user_or_gone(id).await?;
        self.audit(
            AuditEvent::new("email.verified")
                .by_user(id, &user.username)
                .on("user", id),
        )
        .await;
        Ok(user)
    }

    /// `POST /v1/auth/password-reset`: always the same answer. The lookup and the mail run
    /// after the answer, so its timing says nothing either; an address that is nobody's,
    /// or that has had its share of mail this hour, gets none.
    pub async fn request_password_reset(
        self: &Arc<Self>,
        email: &str,
        client: &ClientInfo,
    ) -> CoreResult<()> {
        self.mail_configured()?;
        validate::no_nul("email", email)?;
        let typed = email.trim();
        if typed.is_empty() {
            return Err(CoreError::invalid("email", Reason::Empty));
        }
        if typed.chars().count() > validate::EMAIL_MAX_CHARS {
            return Err(CoreError::invalid(
                "email",
                Reason::TooLong {
                    max: validate::EMAIL_MAX_CHARS,
                },
            ));
        }
        self.mail_rate(client)?;
        let key = validate::fold(typed);
        let svc = self.clone();
        let client = client.clone();
        tokio::spawn(crate::audit::CLIENT.scope(client, async move {
            if let Err(e) = svc.password_reset_mail(&key).await {
                tracing::warn!(error = %e, "password reset request failed");
            }
        }));
        Ok(())
    }

    async fn password_reset_mail(&self, key: &str) -> CoreResult<()> {
        let typed: String = key.chars().take(64).collect();
        let user = self
            .store
            .get_user_by_login(key)
            .await?
            .filter(|u| validate::fold(&u.email) == key && u.is_active);
        let Some(user) = user else {
            self.audit(
                AuditEvent::new("password.reset_requested")
                    .failed()
                    .detail(format!("{typed}: no active account has this address")),
            )
            .await;
            return Ok(());
        };
        let _gate = self.mail_gate.lock().await;
        if !self.recipient_allowed(&user.email).await? {
            self.audit(
                AuditEvent::new("password.reset_requested")
                    .failed()
                    .on("user", user.id)
                    .detail("too many mails to this address this hour: none sent"),
            )
            .await;
            return Ok(());
        }
        let ttl = self.cfg.mail.policy.reset_ttl_secs;
        self.send_mail(MailKind::PasswordReset, &user, &user.email, None, Some(ttl))
            .await?;
        self.audit(AuditEvent::new("password.reset_requested").on("user", user.id))
            .await;
        Ok(())
    }

    /// Who a mailed link is for, if it still works (for the page that shows it); nothing is
    /// used up.
    pub async fn mail_link(&self, purpose: TokenPurpose, token: &str) -> CoreResult<LinkTarget> {
        let digest = refresh_digest(token_shape(token)?);
        let t = self
            .store
            .peek_mail_token(&digest, purpose, Timestamp::now())
            .await?
            .ok_or(CoreError::InvalidMailToken)?;
        let user = self
            .store
            .get_user(t.user)
            .await?
            .ok_or(CoreError::InvalidMailToken)?;
        Ok(LinkTarget {
            username: user.username,
            email: t.email,
        })
    }

    /// Sets a password with a reset or invitation token: the policy applies, every session
    /// of the user ends, the address counts as verified. A bad password uses nothing up.
    async fn password_by_token(
        &self,
        purpose: TokenPurpose,
        token: &str,
        new_password: &str,
    ) -> CoreResult<User> {
        let digest = refresh_digest(token_shape(token)?);
        let now = Timestamp::now();
        if self
            .store
            .peek_mail_token(&digest, purpose, now)
            .await?
            .is_none()
        {
            return Err(CoreError::InvalidMailToken);
        }
        self.check_new_password(new_password)?;
        let hash = self.hasher.hash(new_password).await?;
        let w = self
            .store
            .set_password_by_token(&digest, purpose, &hash, now)
            .await?;
        let done = self.applied(w).ok_or(CoreError::InvalidMailToken)?;
        self.user_or_gone(done.user).await
    }

    /// `POST /v1/auth/password-reset/confirm`.
    pub async fn reset_password_with_token(
        &self,
        token: &str,
        new_password: &str,
    ) -> CoreResult<User> {
        let user = self
            .password_by_token(TokenPurpose::PasswordReset, token, new_password)
            .await?;
        metrics::counter!("latchkey_password_resets_total").increment(1);
        self.audit(
            AuditEvent::new("password.reset")
                .by_user(user.id, &user.username)
                .on("user", user.id)
                .detail("by a mailed link; every session ended"),
        )
        .await;
        Ok(user)
    }

    /// `POST /v1/me/email`: asks to move the caller's account to `new_email`. Needs the
    /// current password; the new address confirms it (nothing changes until then).
    pub async fn request_email_change(
        &self,
        actor: &Principal,
        new_email: &str,
        password: &str,
        client: &ClientInfo,
    ) -> CoreResult<Timestamp> {
        self.mail_configured()?;
        let new_email = validate::email(new_email)?;
        self.mail_rate(client)?;
        match self.check_current_password(actor.user_id, password).await {
            Err(CoreError::WrongPassword) => {
                self.audit(
                    AuditEvent::new("email.change_requested")
                        .failed()
                        .by(actor)
                        .on("user", actor.user_id)
                        .detail("wrong password"),
                )
                .await;
                return Err(CoreError::WrongPassword);
            }
            checked => checked?,
        }
        let user = self.user_or_gone(actor.user_id).await?;
        let key = validate::fold(&new_email);
        if key == validate::fold(&user.email) {
            return Err(CoreError::invalid("new_email", Reason::Unchanged));
        }
        if self.store.get_user_by_login(&key).await?.is_some() {
            return Err(CoreError::Conflict(crate::error::UniqueField::Email));
        }
        let _gate = self.mail_gate.lock().await;
        if !self.recipient_allowed(&new_email).await? {
            return Err(CoreError::RateLimited {
                retry_after: Duration::from_secs(3600),
            });
        }
        let ttl = self.cfg.mail.policy.change_ttl_secs;
        let expires = self
            .send_mail(
                MailKind::EmailChange,
                &user,
                &new_email,
                Some(&new_email),
                Some(ttl),
            )
            .await?;
        self.audit(
            AuditEvent::new("email.change_requested")
                .by(actor)
                .on("user", actor.user_id),
        )
        .await;
        Ok(expires)
    }

    /// Confirms an email change from the new address; the old one is told (no link).
    pub async fn confirm_email_change(&self, token: &str) -> CoreResult<User> {
        let digest = refresh_digest(token_shape(token)?);
        let now = Timestamp::now();
        let t = self
            .store
            .peek_mail_token(&digest, TokenPurpose::EmailChange, now)
            .await?
            .ok_or(CoreError::InvalidMailToken)?;
        let before = self.user_or_gone(t.user).await?;
        let mut after = before.clone();
        after.email = t.email.clone();
        let w = self
            .store
            .change_email_by_token(&digest, &after, now)
            .await?;
        self.applied(w).ok_or(CoreError::InvalidMailToken)?;
        self.audit(
            AuditEvent::new("email.changed")
                .by_user(before.id, &before.username)
                .on("user", before.id)
                .detail("confirmed from the new address"),
        )
        .await;
        if let Err(e) = self
            .send_mail(
                MailKind::EmailChanged,
                &before,
                &before.email,
                Some(&t.email),
                None,
            )
            .await
        {
            tracing::warn!(error = %e, "could not queue the email-changed notice");
        }
        self.user_or_gone(before.id).await
    }

    /// `POST /v1/auth/invitation/accept`: the invited user sets their password, once.
    pub async fn accept_invitation(&self, token: &str, password: &str) -> CoreResult<User> {
        let user = self
            .password_by_token(TokenPurpose::Invitation, token, password)
            .await?;
        self.audit(
            AuditEvent::new("invitation.accepted")
                .by_user(user.id, &user.username)
                .on("user", user.id),
        )
        .await;
        Ok(user)
    }
}

impl Admin<'_> {
    /// Invites a user by email: the account exists at once, with no password; the mailed
    /// link sets one, once, before it expires. `username` defaults to the address's local
    /// part.
    pub async fn invite(
        &self,
        email: &str,
        username: Option<&str>,
        roles: Vec<String>,
        client: &ClientInfo,
    ) -> CoreResult<Invited> {
        self.svc.mail_configured()?;
        let email = validate::email(email)?;
        self.svc.mail_rate(client)?;
        let username = match username {
            Some(u) => u.to_owned(),
            None => email.split('@').next().unwrap_or("").to_owned(),
        };
        let _gate = self.svc.mail_gate.lock().await;
        if !self.svc.recipient_allowed(&email).await? {
            return Err(CoreError::RateLimited {
                retry_after: Duration::from_secs(3600),
            });
        }
        let account = NewAccount {
            username,
            email: email.clone(),
            roles,
            is_active: true,
            invitation: true,
            ..Default::default()
        };
        let user = self.svc.create_account(account, Some(self.actor)).await?;
        let ttl = self.svc.cfg.mail.policy.invitation_ttl_secs;
        let expires_at = self
            .svc
            .send_mail(MailKind::Invitation, &user, &email, None, Some(ttl))
            .await?;
        self.record(AuditEvent::new("user.invited").on("user", user.id))
            .await;
        Ok(Invited { user, expires_at })
    }

    /// The outbox, newest first: what was sent, what waits, what failed (never a body).
    pub async fn list_mail(
        &self,
        q: &MailQuery,
        offset: u64,
        limit: u64,
    ) -> CoreResult<(Vec<MailRecord>, u64)> {
        if let Some(s) = &q.status {
            if !["queued", "sending", "sent", "failed"].contains(&s.as_str()) {
                return Err(CoreError::invalid(
                    "status",
                    Reason::OneOf("queued, sending, sent, failed"),
                ));
            }
        }
        if let Some(r) = &q.recipient {
            validate::no_nul("recipient", r)?;
        }
        self.svc.store.list_mail(q, offset, limit).await
    }

    /// Marks a user's address verified (or not), as an administrator vouching for it.
    pub async fn set_email_verified(&self, id: UserId, verified: bool) -> CoreResult<User> {
        let w = self.svc.store.set_email_verified(id, verified).await?;
        if !self.svc.applied(w) {
            return Err(CoreError::NotFound(Entity::User));
        }
        self.record(
            AuditEvent::new("email.verified")
                .on("user", id)
                .detail(if verified {
                    "marked verified by an administrator"
                } else {
                    "marked unverified by an administrator"
                }),
        )
        .await;
        self.svc.user_or_gone(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(human(1800), "30 minutes");
        assert_eq!(human(3600), "1 hour");
        assert_eq!(human(7 * 86_400), "7 days");
        assert_eq!(human(90), "2 minutes");
    }

    #[test]
    fn only_well_formed_tokens_are_looked_up() {
        assert!(token_shape(&"a".repeat(43)).is_ok());
        assert!(token_shape("short").is_err());
        assert!(token_shape(&format!("{}!", "a".repeat(42))).is_err());
    }
}
