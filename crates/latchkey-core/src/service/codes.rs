//! The token endpoint's user grants: an authorization code for tokens, and a client's
//! refresh token for new ones. Each exchange opens (or continues) a session that belongs to
//! the client: its access tokens carry the client and scope (RFC 9068), its refresh tokens
//! work only for that client, and ending it — a replayed code, revocation, a revoked grant,
//! "log out everywhere", a disabled user — stops them all.

use crate::audit::AuditEvent;
use crate::error::{CoreError, CoreResult};
use crate::keys::KeyAlg;
use crate::model::*;
use crate::oauth::authorize::pkce_matches;
use crate::oauth::claims::{at_hash, user_claims, IdToken};
use crate::oauth::{Client, GrantType, IdTokenAlg, OAuthError};
use crate::ports::{Redeemed, RotateOutcome};
use crate::service::{ClientAuth, Latchkey};
use crate::tokens::{new_refresh_token, refresh_digest};

/// Tokens for a user, issued to a client.
#[derive(Debug, Clone)]
pub struct UserTokens {
    pub access_token: String,
    pub expires_in: u64,
    pub scope: String,
    /// Only with `offline_access`, for a client registered for refresh tokens.
    pub refresh_token: Option<String>,
    /// Only with `openid`, from a code exchange.
    pub id_token: Option<String>,
}

/// What an ID token needs beyond the session: from the authorization request.
struct IdContext<'a> {
    nonce: Option<&'a str>,
    auth_time: Timestamp,
    /// The browser session's authentication methods (RFC 8176).
    amr: &'a str,
}

fn refused(e: OAuthError) -> CoreError {
    CoreError::OAuth(e)
}

fn has(scope: &str, s: &str) -> bool {
    scope.split(' ').any(|x| x == s)
}

pub(crate) fn key_alg(a: IdTokenAlg) -> KeyAlg {
    match a {
        IdTokenAlg::RS256 => KeyAlg::RS256,
        IdTokenAlg::ES256 => KeyAlg::ES256,
        IdTokenAlg::EdDSA => KeyAlg::EdDSA,
    }
}

impl Latchkey {
    /// The authorization-code grant (RFC 6749 §4.1.3, RFC 7636 §4.6): the code is good once,
    /// for 60 seconds, for the client it was issued to, with the redirect URI and the PKCE
    /// verifier of its request. A code presented again ends the session its first use opened.
    pub async fn exchange_code(
        &self,
        auth: &ClientAuth,
        code: Option<&str>,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
        info: &ClientInfo,
    ) -> CoreResult<UserTokens> {
        let client = self.authenticate_client(auth).await?;
        if !client.allows(GrantType::AuthorizationCode) {
            return Err(refused(OAuthError::UnauthorizedClient));
        }
        let code = code
            .filter(|c| !c.is_empty())
            .ok_or(refused(OAuthError::InvalidRequest("code is required")))?;
        let bad = |d| Err(refused(OAuthError::InvalidGrant(d)));
        if code.len() > 128 {
            return bad("the code is not valid");
        }
        let digest = refresh_digest(code);
        let Some(rec) = self.store.peek_code(&digest).await? else {
            return bad("the code is not valid");
        };
        if rec.client_id != client.id {
            self.audit(
                AuditEvent::new("oauth.code_misused")
                    .failed()
                    .on("client", &client.id)
                    .detail(format!("code of client {}", rec.client_id)),
            )
            .await;
            return bad("the code was issued to another client");
        }
        let now = Timestamp::now();
        if rec.used_at.is_none() {
            if rec.expires_at <= now {
                return bad("the code has expired");
            }
            if redirect_uri != Some(rec.redirect_uri.as_str()) {
                return bad("redirect_uri does not match the authorization request");
            }
            match (&rec.code_challenge, verifier) {
                (Some(c), Some(v)) if pkce_matches(c, v) => {}
                (Some(_), _) => return bad("code_verifier does not match the code_challenge"),
                (None, Some(_)) => {
                    return bad("code_verifier was sent but the request had no code_challenge")
                }
                (None, None) if client.public => return bad("PKCE is required"),
                (None, None) => {}
            }
        }
        let user = match self.cached_user(rec.user_id).await? {
            Some(u) if u.is_active => u,
            _ => return bad("the user can no longer sign in"),
        };
        let session = Session {
            id: SessionId(uuid::Uuid::new_v4().to_string()),
            user_id: user.id,
            created_at: now,
            last_used_at: now,
            expires_at: now.plus_secs(self.cfg.session_lifetime_secs),
            revoked_at: None,
            user_agent: info.user_agent.clone(),
            client_ip: info.ip.clone(),
            client_id: Some(client.id.clone()),
            scope: Some(rec.scope.clone()),
            amr: rec.amr.clone(),
        };
        let refresh = new_refresh_token();
        let event = AuditEvent::new("oauth.token")
            .by_user(user.id, &user.username)
            .on("client", &client.id)
            .detail(format!("session {}: {}", session.id, rec.scope));
        let w = self
            .store
            .redeem_code(
                &digest,
                &session,
                &refresh_digest(&refresh),
                now,
                Some((&event, info)),
            )
            .await?;
        if let Redeemed::Replayed(ended) = self.applied(w) {
            tracing::warn!(client.id = %client.id, "authorization code replayed: its tokens revoked");
            self.audit(
                AuditEvent::new("oauth.code_replayed")
                    .failed()
                    .on("client", &client.id)
                    .detail(match ended {
                        Some(s) => format!("session {s} ended"),
                        None => "nothing had been issued".into(),
                    }),
            )
            .await;
            return bad("the code was already used");
        }
        metrics::counter!("latchkey_oauth_tokens_total", "grant" => "authorization_code")
            .increment(1);
        let offline = has(&rec.scope, "offline_access") && client.allows(GrantType::RefreshToken);
        self.user_tokens(
            &client,
            &user,
            &session.id,
            session.expires_at,
            &rec.scope,
            offline.then_some(refresh),
            Some(IdContext {
                nonce: rec.nonce.as_deref(),
                auth_time: rec.auth_time,
                amr: rec.amr.as_deref().unwrap_or(crate::mfa::AMR_PASSWORD),
            }),
        )
        .await
    }

    /// The refresh-token grant (RFC 6749 §6): rotation with reuse detection, as the native
    /// API's, for the client's own sessions only. A narrower `scope` may be asked for; a
    /// wider one is `invalid_scope`.
    pub async fn refresh_grant(
        &self,
        auth: &ClientAuth,
        token: Option<&str>,
        scope: Option<&str>,
        info: &ClientInfo,
    ) -> CoreResult<UserTokens> {
        let client = self.authenticate_client(auth).await?;
        if !client.allows(GrantType::RefreshToken) {
            return Err(refused(OAuthError::UnauthorizedClient));
        }
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or(refused(OAuthError::InvalidRequest(
                "refresh_token is required",
            )))?;
        let bad = || refused(OAuthError::InvalidGrant("the refresh token is not valid"));
        self.rate_limit(crate::limits::Limited::Refresh, info)?;
        if token.len() > 128 {
            return Err(bad());
        }
        let next = new_refresh_token();
        let w = self
            .store
            .rotate_refresh(
                &refresh_digest(token),
                &refresh_digest(&next),
                Timestamp::now(),
                self.cfg.session_idle_secs,
                &client.id,
            )
            .await?;
        match self.applied(w) {
            RotateOutcome::Rotated {
                session,
                user,
                expires_at,
                scope: granted,
            } => {
                let granted = granted.unwrap_or_default();
                let scope = match scope.map(str::trim).filter(|s| !s.is_empty()) {
                    None => granted,
                    Some(asked) => {
                        let asked: Vec<&str> = asked.split(' ').filter(|s| !s.is_empty()).collect();
                        if asked.iter().any(|s| !has(&granted, s)) {
                            return Err(refused(OAuthError::InvalidScope));
                        }
                        asked.join(" ")
                    }
                };
                let user = match self.cached_user(user).await? {
                    Some(u) if u.is_active => u,
                    _ => return Err(bad()),
                };
                metrics::counter!("latchkey_oauth_tokens_total", "grant" => "refresh_token")
                    .increment(1);
                self.user_tokens(
                    &client,
                    &user,
                    &session,
                    expires_at,
                    &scope,
                    Some(next),
                    None,
                )
                .await
            }
            RotateOutcome::Reused { session, user } => {
                self.refresh_reused(&session, user, Some(&client.id)).await;
                Err(bad())
            }
            RotateOutcome::Expired { .. } | RotateOutcome::Ended | RotateOutcome::Unknown => {
                Err(bad())
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn user_tokens(
        &self,
        client: &Client,
        user: &User,
        session: &SessionId,
        session_expires: Timestamp,
        scope: &str,
        refresh_token: Option<String>,
        id: Option<IdContext<'_>>,
    ) -> CoreResult<UserTokens> {
        let (access_token, _) = self.tokens.issue_delegated(
            user.id,
            session,
            session_expires,
            Some((&client.id, scope)),
        )?;
        let id_token = match id.filter(|_| has(scope, "openid")) {
            None => None,
            Some(ctx) => {
                let alg = key_alg(client.id_token_alg);
                let now = Timestamp::now();
                let claims = IdToken {
                    iss: self.tokens.issuer(),
                    aud: &client.id,
                    azp: &client.id,
                    iat: now.unix_seconds(),
                    exp: now.plus_secs(self.tokens.ttl_secs()).unix_seconds(),
                    auth_time: ctx.auth_time.unix_seconds(),
                    nonce: ctx.nonce,
                    amr: ctx.amr.split(' ').collect(),
                    acr: crate::mfa::acr(ctx.amr),
                    at_hash: at_hash(alg, &access_token),
                    sid: &session.0,
                    claims: user_claims(user, scope),
                };
                Some(self.sign_id_token(alg, &claims).await?)
            }
        };
        Ok(UserTokens {
            access_token,
            expires_in: self.tokens.ttl_secs(),
            scope: scope.to_owned(),
            refresh_token,
            id_token,
        })
    }

    /// Signs an ID token, making the algorithm's first key if there is none yet. An RSA
    /// signature takes a millisecond or more of CPU: it runs on the blocking pool, as
    /// password hashing does, so it never stalls the requests sharing an executor thread.
    async fn sign_id_token(&self, alg: KeyAlg, claims: &IdToken<'_>) -> CoreResult<String> {
        if !self.tokens.can_sign(alg) {
            self.jwks().await?;
        }
        if alg != KeyAlg::RS256 {
            return self.tokens.sign_as(alg, "JWT", claims);
        }
        let claims = serde_json::to_value(claims).map_err(CoreError::internal)?;
        let tokens = self.tokens.clone();
        tokio::task::spawn_blocking(move || tokens.sign_as(alg, "JWT", &claims))
            .await
            .map_err(CoreError::internal)?
    }
}
