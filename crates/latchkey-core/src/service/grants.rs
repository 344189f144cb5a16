//! What relying parties do with what they were given: UserInfo, revocation (RFC 7009),
//! RP-initiated logout; and what users do about it: list and revoke their grants.

use serde_json::{Map, Value};

use crate::audit::AuditEvent;
use crate::error::{AuthFailure, CoreError, CoreResult, Entity};
use crate::model::*;
use crate::oauth::authorize::redirect_with;
use crate::oauth::claims::user_claims;
use crate::ports::Grant;
use crate::service::authorize::BrowserSession;
use crate::service::{ClientAuth, Latchkey};
use crate::tokens::{refresh_digest, Inspected};

/// Where RP-initiated logout goes once the browser is signed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogoutTarget {
    /// A registered `post_logout_redirect_uri`, with `state`.
    Redirect(String),
    /// The hosted "signed out" page.
    Page,
}

/// A checked RP-initiated logout request (OpenID Connect RP-Initiated Logout 1.0 §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutRequest {
    pub target: LogoutTarget,
    /// The user the `id_token_hint` names, and the session it was issued in.
    pub hinted: Option<(UserId, SessionId)>,
}

impl Latchkey {
    /// UserInfo (OpenID Connect Core §5.3): the claims the token's scope releases. Only a
    /// token delegated to a client with `openid` in its scope is good here.
    pub async fn userinfo(&self, token: Option<&str>) -> CoreResult<Map<String, Value>> {
        let unauth = |f| Err(CoreError::Unauthenticated(f));
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return unauth(AuthFailure::Missing);
        };
        let v = self
            .tokens
            .verify(token)
            .map_err(CoreError::Unauthenticated)?;
        let scope = match (&v.client_id, &v.scope) {
            (Some(_), Some(s)) if s.split(' ').any(|x| x == "openid") => s.clone(),
            _ => return Err(CoreError::Forbidden("the token's scope has no openid")),
        };
        if self.cache.session_ended(&v.session_id.0) {
            return unauth(AuthFailure::SessionEnded);
        }
        match self.cached_user(v.user_id).await? {
            Some(u) if u.is_active => Ok(user_claims(&u, &scope)),
            Some(_) => unauth(AuthFailure::Disabled),
            None => unauth(AuthFailure::UnknownUser),
        }
    }

    /// Revocation (RFC 7009): a refresh token or an access token of the calling client ends
    /// the session it belongs to (so every token of that grant stops). Anything else — a
    /// token of another client, an unknown or malformed one — changes nothing, and the answer
    /// is the same.
    pub async fn revoke(&self, caller: &ClientAuth, token: &str) -> CoreResult<()> {
        let client = self.authenticate_client(caller).await?;
        let session = if token.matches('.').count() == 2 {
            match self.tokens.inspect(token) {
                Ok(Inspected::User {
                    claims, session, ..
                }) if claims.client_id.as_deref() == Some(&client.id) => Some(session),
                _ => None,
            }
        } else if token.len() <= 128 {
            self.store
                .session_by_refresh(&refresh_digest(token))
                .await?
                .filter(|s| s.client_id.as_deref() == Some(&client.id))
                .map(|s| s.id)
        } else {
            None
        };
        if let Some(sid) = session {
            let w = self.store.end_session(&sid, "token revoked").await?;
            if self.applied(w) {
                self.audit(
                    AuditEvent::new("oauth.revoked")
                        .on("session", &sid)
                        .detail(format!("by client {}", client.id)),
                )
                .await;
            }
        }
        Ok(())
    }

    /// Checks an RP-initiated logout request. `post_logout_redirect_uri` is honoured only
    /// when it is registered, exactly, for the client named by the `id_token_hint` or
    /// `client_id`; otherwise the request is refused (never an open redirect).
    pub async fn logout_request(
        &self,
        id_token_hint: Option<&str>,
        client_id: Option<&str>,
        post_logout_redirect_uri: Option<&str>,
        state: Option<&str>,
    ) -> CoreResult<Result<LogoutRequest, &'static str>> {
        let hint = match id_token_hint.filter(|h| !h.is_empty()) {
            None => None,
            Some(h) => match self.tokens.verify_id_token_hint(h) {
                Some(h) => Some(h),
                None => return Ok(Err("the id_token_hint is not an ID token issued here")),
            },
        };
        let client_id = match (&hint, client_id.filter(|c| !c.is_empty())) {
            (Some(h), Some(c)) if h.aud != c => {
                return Ok(Err("client_id does not match the id_token_hint"))
            }
            (Some(h), _) => Some(h.aud.clone()),
            (None, c) => c.map(str::to_owned),
        };
        let hinted = hint.as_ref().and_then(|h| {
            let user = h.sub.parse::<i64>().ok()?;
            Some((UserId(user), SessionId(h.sid.clone()?)))
        });
        let target = match post_logout_redirect_uri.filter(|u| !u.is_empty()) {
            None => LogoutTarget::Page,
            Some(uri) => {
                let Some(id) = client_id else {
                    return Ok(Err(
                        "post_logout_redirect_uri needs an id_token_hint or a client_id",
                    ));
                };
                let Some(client) = self.registered_client(&id).await? else {
                    return Ok(Err("the client is not registered"));
                };
                if !client.post_logout_redirect_uris.iter().any(|u| u == uri) {
                    return Ok(Err(
                        "post_logout_redirect_uri is not one registered for this client",
                    ));
                }
                let mut p: Vec<(&str, &str)> = Vec::new();
                if let Some(s) = state.filter(|s| !s.is_empty() && s.len() <= 1024) {
                    p.push(("state", s));
                }
                LogoutTarget::Redirect(redirect_with(uri, &p))
            }
        };
        Ok(Ok(LogoutRequest { target, hinted }))
    }

    /// Signs the browser out and, when the hint names this user's session with a client,
    /// ends that one too.
    pub async fn end_session(
        &self,
        browser: Option<&BrowserSession>,
        req: &LogoutRequest,
    ) -> CoreResult<()> {
        if let Some(b) = browser {
            self.sign_out(b, "signed out").await?;
            if let Some((user, sid)) = &req.hinted {
                if *user == b.user.id {
                    let w = self.store.end_session(sid, "signed out").await?;
                    self.applied(w);
                }
            }
        }
        Ok(())
    }

    /// The clients a user has consented to.
    pub async fn list_grants(&self, p: &Principal) -> CoreResult<Vec<Grant>> {
        self.store.list_grants(p.user_id).await
    }

    /// Revokes a user's grant to a client: the consent is forgotten and the client's
    /// sessions for the user (its refresh and access tokens) end.
    pub async fn revoke_grant(&self, p: &Principal, client_id: &str) -> CoreResult<()> {
        if client_id.is_empty() || client_id.len() > 64 || client_id.contains('\0') {
            return Err(CoreError::NotFound(Entity::Client));
        }
        let w = self.store.delete_grant(p.user_id, client_id).await?;
        if !self.applied(w) {
            return Err(CoreError::NotFound(Entity::Client));
        }
        self.audit(
            AuditEvent::new("grant.revoked")
                .by(p)
                .on("client", client_id),
        )
        .await;
        Ok(())
    }
}
