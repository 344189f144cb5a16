//! The OAuth 2.1 provider's flows: client authentication and the token endpoint's grants.
//! The HTTP edge (`api/oauth.rs`) only translates the form and the protocol's JSON.

use subtle::ConstantTimeEq;

use crate::audit::AuditEvent;
use crate::cache::ClientEntry;
use crate::error::{CoreError, CoreResult};
use crate::oauth::clients::OIDC_SCOPES;
use crate::oauth::{Client, GrantType, OAuthError};
use crate::service::Latchkey;
use crate::tokens::{refresh_digest, Inspected};

/// How the client presented itself at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthMethod {
    /// `client_secret_basic`: HTTP Basic.
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form.
    Post,
    /// `none`: a public client, `client_id` alone.
    None,
}

/// A client's credentials as presented.
#[derive(Debug, Clone)]
pub struct ClientAuth {
    pub client_id: String,
    pub secret: Option<String>,
    pub method: ClientAuthMethod,
}

/// What introspection tells of an active token (RFC 7662 §2.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenInfo {
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub username: Option<String>,
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    /// The session of a user's token.
    pub sid: Option<String>,
}

/// An access token issued to a client for itself.
#[derive(Debug, Clone)]
pub struct ClientToken {
    pub access_token: String,
    pub expires_in: u64,
    pub scope: String,
}

fn refused(e: OAuthError) -> CoreError {
    CoreError::OAuth(e)
}

impl Latchkey {
    /// A registered client and its secret's digest, from this instance's cache when it has
    /// them (every change to a client invalidates it on every instance).
    /// An id that cannot be a client's (empty, over 64 bytes, a NUL) is not looked up.
    pub(crate) async fn cached_client(&self, id: &str) -> CoreResult<Option<ClientEntry>> {
        if id.is_empty() || id.len() > 64 || id.contains('\0') {
            return Ok(None);
        }
        if let Some(c) = self.cache.client(id) {
            return Ok(Some(c));
        }
        let generation = self.cache.client_generation();
        Ok(self
            .store
            .client_credentials(id)
            .await?
            .map(|c| self.cache.put_client(c, generation)))
    }

    /// A registered client, as [`Self::cached_client`] has it.
    pub(crate) async fn registered_client(&self, id: &str) -> CoreResult<Option<Client>> {
        Ok(self.cached_client(id).await?.map(|e| e.0.clone()))
    }

    /// Authenticates a client at the token endpoint: a confidential client by its secret
    /// (compared in constant time, as a digest), a public client by its id alone. Any failure
    /// is `invalid_client` and is audited.
    pub async fn authenticate_client(&self, auth: &ClientAuth) -> CoreResult<Client> {
        let found = self.cached_client(&auth.client_id).await?;
        let ok = match (found.as_deref(), auth.method, auth.secret.as_deref()) {
            (Some((c, _)), ClientAuthMethod::None, None) => c.public,
            (
                Some((c, Some(digest))),
                ClientAuthMethod::Basic | ClientAuthMethod::Post,
                Some(s),
            ) => !c.public && bool::from(refresh_digest(s).as_bytes().ct_eq(digest.as_bytes())),
            _ => false,
        };
        match found {
            Some(entry) if ok => Ok(entry.0.clone()),
            _ => {
                let id: String = auth.client_id.chars().take(64).collect();
                self.audit(
                    AuditEvent::new("client.auth")
                        .failed()
                        .on("client", id.replace('\0', "")),
                )
                .await;
                Err(refused(OAuthError::InvalidClient))
            }
        }
    }

    /// The client-credentials grant (RFC 6749 §4.4): an access token for the client itself,
    /// with the scopes asked for (each registered for the client, none of OpenID's), or all
    /// of its API scopes when it asks for none.
    pub async fn client_credentials_grant(
        &self,
        auth: &ClientAuth,
        scope: Option<&str>,
    ) -> CoreResult<ClientToken> {
        let client = self.authenticate_client(auth).await?;
        if !client.allows(GrantType::ClientCredentials) {
            return Err(refused(OAuthError::UnauthorizedClient));
        }
        let api_scopes: Vec<&str> = client
            .scopes
            .iter()
            .map(String::as_str)
            .filter(|s| !OIDC_SCOPES.contains(s))
            .collect();
        let granted: Vec<&str> = match scope.map(str::trim).filter(|s| !s.is_empty()) {
            None => api_scopes,
            Some(asked) => {
                let mut out: Vec<&str> = Vec::new();
                for s in asked.split(' ').filter(|s| !s.is_empty()) {
                    if !api_scopes.contains(&s) {
                        return Err(refused(OAuthError::InvalidScope));
                    }
                    if !out.contains(&s) {
                        out.push(s);
                    }
                }
                out
            }
        };
        let scope = granted.join(" ");
        let (access_token, _) = self.tokens.issue_for_client(&client.id, &scope)?;
        metrics::counter!("latchkey_oauth_tokens_total", "grant" => "client_credentials")
            .increment(1);
        Ok(ClientToken {
            access_token,
            expires_in: self.tokens.ttl_secs(),
            scope,
        })
    }

    /// Token introspection (RFC 7662) for an authenticated confidential client: `None` for a
    /// token that is not active — malformed, badly signed, expired, of an ended session or a
    /// disabled or deleted user, or of a client that no longer exists. Which of these it was
    /// is not said.
    pub async fn introspect(
        &self,
        caller: &ClientAuth,
        token: &str,
    ) -> CoreResult<Option<TokenInfo>> {
        let client = self.authenticate_client(caller).await?;
        if client.public {
            return Err(refused(OAuthError::UnauthorizedClient));
        }
        // A user's token through the verified-token cache (a repeat costs a digest, not a
        // signature check); anything else — a client's own token, or garbage — the long way.
        let found = match self.tokens.verify(token) {
            Ok(v) => {
                if self.cache.session_ended(&v.session_id.0) {
                    return Ok(None);
                }
                return Ok(match self.cached_user(v.user_id).await? {
                    Some(u) if u.is_active => Some(TokenInfo {
                        scope: v.scope,
                        client_id: v.client_id,
                        username: Some(u.username.clone()),
                        sub: v.user_id.0.to_string(),
                        iss: self.tokens.issuer().to_owned(),
                        aud: self.tokens.audience().to_owned(),
                        exp: v.expires_at,
                        iat: v.issued_at,
                        jti: v.jti,
                        sid: Some(v.session_id.0),
                    }),
                    _ => None,
                });
            }
            Err(_) => match self.tokens.inspect(token) {
                Ok(f) => f,
                Err(_) => return Ok(None),
            },
        };
        Ok(match found {
            // Verified above when it was good; here only if it failed there.
            Inspected::User { .. } => None,
            Inspected::Client(c) => {
                if self.registered_client(&c.client_id).await?.is_none() {
                    return Ok(None);
                }
                Some(TokenInfo {
                    scope: Some(c.scope),
                    client_id: Some(c.client_id),
                    username: None,
                    sub: c.sub,
                    iss: c.iss,
                    aud: c.aud,
                    exp: c.exp,
                    iat: c.iat,
                    jti: c.jti,
                    sid: None,
                })
            }
        })
    }
}
