//! The authorization endpoint's decisions and the hosted pages' browser session.
//!
//! The browser session is an ordinary Latchkey session opened by the same login as every
//! dialect's (throttle, locks and audit unchanged); the hosted pages' cookie carries its
//! refresh token, which is never used for a refresh, so it stays the session's one key.
//! Ending the session anywhere ends the browser's sign-in with it.

use std::sync::Arc;

use crate::audit::AuditEvent;
use crate::error::CoreResult;
use crate::model::*;
use crate::oauth::authorize::{check_request, redirect_with};
use crate::oauth::{AuthorizationRequest, AuthorizeError, Client};
use crate::ports::CodeRecord;
use crate::service::{Latchkey, LoginOutcome, LoginStep, MfaChallenge};
use crate::tokens::{new_refresh_token, refresh_digest};

/// How long an authorization code is good for.
pub const CODE_TTL_SECS: u64 = 60;

/// A signed-in browser: the session behind the hosted pages' cookie, and its user.
#[derive(Debug, Clone)]
pub struct BrowserSession {
    pub session: Session,
    pub user: Arc<User>,
}

impl BrowserSession {
    /// The signed-in user as a caller of the core, on the browser's session.
    pub fn principal(&self) -> Principal {
        Principal {
            user_id: self.user.id,
            session_id: self.session.id.clone(),
            username: self.user.username.clone(),
            roles: self.user.roles.clone(),
        }
    }
}

/// What just happened in this browser, which `prompt` and `max_age` count as satisfied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fresh {
    pub login: bool,
    pub consent: bool,
}

/// What the authorization endpoint does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeStep {
    /// Show the sign-in page (prefilled with the login hint).
    Login { login_hint: Option<String> },
    /// Ask the user to consent to these scopes for this client.
    Consent {
        client_name: String,
        scopes: Vec<String>,
    },
    /// Back to the client: a code, or an error.
    Redirect(String),
    /// The provider's own error page: the request cannot be answered to the client.
    Refused(&'static str),
}

impl AuthorizeStep {
    fn refused(e: AuthorizeError, issuer: &str) -> Self {
        match (&e, e.redirect(issuer)) {
            (_, Some(url)) => AuthorizeStep::Redirect(url),
            (AuthorizeError::Page(why), None) => AuthorizeStep::Refused(why),
            (AuthorizeError::Redirect { .. }, None) => AuthorizeStep::Refused("refused"),
        }
    }
}

/// What a sign-in with the right password led to.
#[derive(Debug, Clone)]
pub enum SignIn {
    /// The cookie value and the browser session.
    Done((String, BrowserSession)),
    SecondFactor(MfaChallenge),
}

/// Scope strings as sets.
fn covers(granted: &str, wanted: &[String]) -> bool {
    wanted.iter().all(|w| granted.split(' ').any(|g| g == w))
}

impl Latchkey {
    /// The browser session behind a hosted-pages cookie, if it is live and its user active.
    pub async fn browser_session(&self, cookie: &str) -> CoreResult<Option<BrowserSession>> {
        if cookie.is_empty() || cookie.len() > 128 {
            return Ok(None);
        }
        let Some(session) = self
            .store
            .session_by_refresh(&refresh_digest(cookie))
            .await?
        else {
            return Ok(None);
        };
        let live = session.client_id.is_none()
            && session.revoked_at.is_none()
            && session.expires_at > Timestamp::now()
            && !self.cache.session_ended(&session.id.0);
        if !live {
            return Ok(None);
        }
        Ok(match self.cached_user(session.user_id).await? {
            Some(user) if user.is_active => Some(BrowserSession { session, user }),
            _ => None,
        })
    }

    /// A registered client's name, for the sign-in page ("to continue to …").
    pub async fn client_name(&self, id: &str) -> CoreResult<Option<String>> {
        Ok(self.registered_client(id).await?.map(|c| c.name))
    }

    /// Signs a browser in through the core login: the cookie value (the new session's
    /// refresh token) and the session, or the second factor the login waits for.
    pub async fn sign_in(
        &self,
        identifier: &str,
        password: &str,
        client: &ClientInfo,
    ) -> CoreResult<SignIn> {
        match self.begin_login(identifier, password, client).await? {
            LoginStep::Done(out) => self.signed_in(*out).await.map(SignIn::Done),
            LoginStep::SecondFactor(c) => Ok(SignIn::SecondFactor(c)),
        }
    }

    /// Completes a sign-in with its second factor.
    pub async fn sign_in_second_factor(
        &self,
        mfa_token: &str,
        method: &str,
        code: &str,
        client: &ClientInfo,
    ) -> CoreResult<(String, BrowserSession)> {
        let out = self.finish_login(mfa_token, method, code, client).await?;
        self.signed_in(out).await
    }

    /// Signs a browser in with a passkey alone.
    pub async fn sign_in_passkey(
        &self,
        token: &str,
        credential: &str,
        client: &ClientInfo,
    ) -> CoreResult<(String, BrowserSession)> {
        let out = self
            .finish_passkey_sign_in(token, credential, client)
            .await?;
        self.signed_in(out).await
    }

    async fn signed_in(&self, out: LoginOutcome) -> CoreResult<(String, BrowserSession)> {
        let session = self
            .store
            .get_session(&out.tokens.session_id)
            .await?
            .ok_or(crate::error::CoreError::Unavailable)?;
        let user = self
            .cached_user(out.user.id)
            .await?
            .ok_or(crate::error::CoreError::Unavailable)?;
        Ok((out.tokens.refresh_token, BrowserSession { session, user }))
    }

    /// Ends a browser session (signing out at the hosted pages).
    pub async fn sign_out(&self, b: &BrowserSession, reason: &str) -> CoreResult<()> {
        let w = self.store.end_session(&b.session.id, reason).await?;
        self.applied(w);
        self.audit(
            AuditEvent::new("logout")
                .by_user(b.user.id, &b.user.username)
                .on("session", &b.session.id)
                .detail(reason),
        )
        .await;
        Ok(())
    }

    /// The client a request names and the request checked against it.
    async fn checked(
        &self,
        params: &[(String, String)],
    ) -> CoreResult<Result<(Client, AuthorizationRequest), AuthorizeError>> {
        let id = params
            .iter()
            .find(|(k, _)| k == "client_id")
            .map(|(_, v)| v.as_str());
        let client = match id {
            Some(id) => self.registered_client(id).await?,
            None => None,
        };
        Ok(match (check_request(params, client.as_ref()), client) {
            (Ok(r), Some(c)) => Ok((c, r)),
            (Err(e), _) => Err(e),
            (Ok(_), None) => Err(AuthorizeError::Page("the client is not registered")),
        })
    }

    /// The authorization endpoint (RFC 6749 §4.1, OpenID Connect Core §3.1.2): what to do
    /// with `params` for this browser.
    pub async fn authorize(
        &self,
        params: &[(String, String)],
        browser: Option<&BrowserSession>,
        fresh: Fresh,
    ) -> CoreResult<AuthorizeStep> {
        let issuer = self.tokens.issuer().to_owned();
        let (client, req) = match self.checked(params).await? {
            Ok(x) => x,
            Err(e) => return Ok(AuthorizeStep::refused(e, &issuer)),
        };
        let refuse = |error: &'static str, description: &'static str| {
            AuthorizeStep::refused(
                AuthorizeError::Redirect {
                    redirect_uri: req.redirect_uri.clone(),
                    error,
                    description,
                    state: req.state.clone(),
                },
                &issuer,
            )
        };
        let now = Timestamp::now();
        let too_old = |b: &BrowserSession| {
            req.max_age
                .is_some_and(|m| now.0 - b.session.created_at.0 > (m as i64).saturating_mul(1000))
        };
        let browser = match browser {
            Some(b) if fresh.login || !(req.prompt.login || too_old(b)) => b,
            _ if req.prompt.none => {
                return Ok(refuse("login_required", "the user is not signed in"))
            }
            _ => {
                return Ok(AuthorizeStep::Login {
                    login_hint: req.login_hint.clone(),
                })
            }
        };
        // The role requires a second factor the user has not set up: no application gets
        // them until they do.
        if self.must_enroll(&browser.user) {
            return Ok(AuthorizeStep::refused(
                AuthorizeError::Page(
                    "your role requires two-step verification: set it up on your account page, then sign in again",
                ),
                &issuer,
            ));
        }
        if !client.first_party {
            let granted = self
                .store
                .get_grant(browser.user.id, &client.id)
                .await?
                .unwrap_or_default();
            let asked = req.prompt.consent && !fresh.consent;
            if asked || !covers(&granted, &req.scopes) {
                if req.prompt.none {
                    return Ok(refuse("consent_required", "the user has not consented"));
                }
                return Ok(AuthorizeStep::Consent {
                    client_name: client.name.clone(),
                    scopes: req.scopes.clone(),
                });
            }
        }
        let code = new_refresh_token();
        self.store
            .insert_code(&CodeRecord {
                digest: refresh_digest(&code),
                client_id: client.id.clone(),
                user_id: browser.user.id,
                redirect_uri: req.redirect_uri.clone(),
                scope: req.scope(),
                nonce: req.nonce.clone(),
                code_challenge: req.code_challenge.clone(),
                auth_time: browser.session.created_at,
                amr: browser.session.amr.clone(),
                created_at: now,
                expires_at: now.plus_secs(CODE_TTL_SECS),
                used_at: None,
            })
            .await?;
        let mut p: Vec<(&str, &str)> = vec![("code", &code)];
        if let Some(s) = &req.state {
            p.push(("state", s));
        }
        p.push(("iss", &issuer));
        Ok(AuthorizeStep::Redirect(redirect_with(
            &req.redirect_uri,
            &p,
        )))
    }

    /// The consent form's answer: a denial goes back to the client as `access_denied`; a
    /// consent is remembered (the union with what was granted before) and the request goes on.
    pub async fn consent(
        &self,
        params: &[(String, String)],
        browser: &BrowserSession,
        allow: bool,
    ) -> CoreResult<AuthorizeStep> {
        let issuer = self.tokens.issuer().to_owned();
        let (client, req) = match self.checked(params).await? {
            Ok(x) => x,
            Err(e) => return Ok(AuthorizeStep::refused(e, &issuer)),
        };
        let user = &browser.user;
        if !allow {
            self.audit(
                AuditEvent::new("grant.denied")
                    .by_user(user.id, &user.username)
                    .on("client", &client.id),
            )
            .await;
            return Ok(AuthorizeStep::refused(
                AuthorizeError::Redirect {
                    redirect_uri: req.redirect_uri,
                    error: "access_denied",
                    description: "the user declined",
                    state: req.state,
                },
                &issuer,
            ));
        }
        let before = self
            .store
            .get_grant(user.id, &client.id)
            .await?
            .unwrap_or_default();
        let mut scopes: Vec<&str> = before.split(' ').filter(|s| !s.is_empty()).collect();
        for s in &req.scopes {
            if !scopes.contains(&s.as_str()) {
                scopes.push(s);
            }
        }
        let scope = scopes.join(" ");
        self.store.put_grant(user.id, &client.id, &scope).await?;
        self.audit(
            AuditEvent::new("grant.created")
                .by_user(user.id, &user.username)
                .on("client", &client.id)
                .detail(scope),
        )
        .await;
        self.authorize(
            params,
            Some(browser),
            Fresh {
                login: true,
                consent: true,
            },
        )
        .await
    }
}
