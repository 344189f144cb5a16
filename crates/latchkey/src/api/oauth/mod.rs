//! The OAuth 2.1 / OpenID Connect endpoints at the root: token (`/oauth/token`),
//! introspection (RFC 7662), revocation (RFC 7009), UserInfo, and discovery. They speak the
//! protocol's own wire: form-encoded requests, JSON answers, errors as
//! `{"error", "error_description"}` (RFC 6749 §5.2), not the native API's problem documents.
//! The rules are the core's. The authorization endpoint and the pages it leads to are in
//! `crate::pages`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::core::error::CoreError;
use crate::core::oauth::OAuthError;
use crate::core::service::{ClientAuth, ClientAuthMethod, TokenInfo};
use crate::http::AppState;

mod discovery;
mod token;
mod userinfo;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(token::token))
        .routes(routes!(introspect))
        .routes(routes!(revoke))
        .routes(routes!(userinfo::userinfo_get, userinfo::userinfo_post))
        .routes(routes!(discovery::metadata))
        .routes(routes!(discovery::openid_configuration))
}

/// A token endpoint error (RFC 6749 §5.2).
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthErrorBody {
    #[schema(example = "invalid_client")]
    pub error: &'static str,
    pub error_description: &'static str,
}

/// The protocol's answer to a refusal: 400, or 401 for a client that failed to
/// authenticate (with `WWW-Authenticate` when it tried HTTP Basic, RFC 6749 §5.2).
pub(super) fn oauth_error(e: OAuthError, basic: bool) -> Response {
    let status = if e == OAuthError::InvalidClient {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    let body = OAuthErrorBody {
        error: e.code(),
        error_description: e.description(),
    };
    let mut r = (status, axum::Json(body)).into_response();
    if e == OAuthError::InvalidClient && basic {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"latchkey\", charset=\"UTF-8\""),
        );
    }
    r.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

/// Core outcomes at the token endpoint, in the protocol's words.
pub(super) fn core_error(e: CoreError, basic: bool) -> Response {
    let (status, error, description) = match e {
        CoreError::OAuth(o) => return oauth_error(o, basic),
        CoreError::RateLimited { retry_after } => {
            let r = (
                StatusCode::TOO_MANY_REQUESTS,
                axum::Json(OAuthErrorBody {
                    error: "slow_down",
                    error_description: "too many requests; retry later",
                }),
            )
                .into_response();
            return crate::dialects::wire::retry_after(r, retry_after);
        }
        CoreError::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the service is unavailable; retry later",
        ),
        other => {
            crate::dialects::wire::log_internal(&other);
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "the server could not complete the request",
            )
        }
    };
    (
        status,
        axum::Json(OAuthErrorBody {
            error,
            error_description: description,
        }),
    )
        .into_response()
}

/// `Authorization: Basic` credentials: base64 of the form-urlencoded id and secret, joined by
/// a colon (RFC 6749 §2.3.1). `Err` when the header is there but is not that.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = OAuthError::InvalidClient;
    let value = value.to_str().map_err(|_| bad)?.trim();
    let (scheme, encoded) = value.split_once(' ').ok_or(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad);
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad)?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad)?;
    let (id, secret) = decoded.split_once(':').ok_or(bad)?;
    let unescape = |s: &str| -> Result<String, OAuthError> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(&format!("v={s}")).map_err(|_| bad)?;
        Ok(pairs.into_iter().next().map(|(_, v)| v).unwrap_or_default())
    };
    Ok(Some((unescape(id)?, unescape(secret)?)))
}

/// The form's parameters, each at most once (RFC 6749 §3.2).
fn form(headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, String)>, OAuthError> {
    if !crate::http::is_form(headers) {
        return Err(OAuthError::InvalidRequest(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| OAuthError::InvalidRequest("the body is not a valid form"))?;
    for (i, (k, _)) in pairs.iter().enumerate() {
        if pairs[..i].iter().any(|(p, _)| p == k) {
            return Err(OAuthError::InvalidRequest("a parameter is repeated"));
        }
    }
    if pairs
        .iter()
        .any(|(k, v)| k.contains('\0') || v.contains('\0'))
    {
        return Err(OAuthError::InvalidRequest(
            "a parameter holds a NUL character",
        ));
    }
    Ok(pairs)
}

/// How the client authenticated: Basic, the form, or (a public client) its id alone. More
/// than one way at once is refused (RFC 6749 §2.3).
fn client_auth(
    headers: &HeaderMap,
    params: &[(String, String)],
) -> Result<ClientAuth, (OAuthError, bool)> {
    let get = |k: &str| params.iter().find(|(p, _)| p == k).map(|(_, v)| v.clone());
    let basic = basic_credentials(headers).map_err(|e| (e, true))?;
    let (form_id, form_secret) = (get("client_id"), get("client_secret"));
    match basic {
        Some((id, secret)) => {
            if form_secret.is_some() || form_id.as_ref().is_some_and(|f| *f != id) {
                return Err((
                    OAuthError::InvalidRequest("use one client authentication method"),
                    true,
                ));
            }
            Ok(ClientAuth {
                client_id: id,
                secret: Some(secret),
                method: ClientAuthMethod::Basic,
            })
        }
        None => {
            // No client id at all: the core refuses (and audits) it like any other failure.
            let id = form_id.unwrap_or_default();
            Ok(match form_secret {
                Some(secret) => ClientAuth {
                    client_id: id,
                    secret: Some(secret),
                    method: ClientAuthMethod::Post,
                },
                None => ClientAuth {
                    client_id: id,
                    secret: None,
                    method: ClientAuthMethod::None,
                },
            })
        }
    }
}

/// A client-authenticated endpoint's form: its parameters, how the client presented itself,
/// and whether that was HTTP Basic (for the shape of a 401).
pub(super) struct AuthenticatedForm {
    pub(super) params: Vec<(String, String)>,
    pub(super) auth: ClientAuth,
    pub(super) basic: bool,
}

pub(super) fn authenticated_form(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<AuthenticatedForm, (OAuthError, bool)> {
    let params = form(headers, body).map_err(|e| (e, false))?;
    let auth = client_auth(headers, &params)?;
    let basic = auth.method == ClientAuthMethod::Basic;
    Ok(AuthenticatedForm {
        params,
        auth,
        basic,
    })
}

/// Introspection's and revocation's form read: the token (required), how the client
/// presented itself, and whether that was HTTP Basic.
fn token_form(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(String, ClientAuth, bool), (OAuthError, bool)> {
    let AuthenticatedForm {
        params,
        auth,
        basic,
    } = authenticated_form(headers, body)?;
    match params.into_iter().find(|(k, _)| k == "token") {
        Some((_, t)) if !t.is_empty() => Ok((t, auth, basic)),
        _ => Err((OAuthError::InvalidRequest("token is required"), basic)),
    }
}

/// The form of introspection and revocation: a token and the client's credentials.
#[derive(Debug, ToSchema)]
#[expect(
    dead_code,
    reason = "describes the form in OpenAPI; the handler reads the pairs itself to refuse repeats"
)]
pub struct TokenForm {
    /// The token to look at or revoke.
    pub token: String,
    /// `access_token` or `refresh_token` (accepted and not needed).
    pub token_type_hint: Option<String>,
    /// With `client_secret_post`, or alone for a public client (revocation).
    pub client_id: Option<String>,
    /// With `client_secret_post`.
    pub client_secret: Option<String>,
}

/// An introspection answer (RFC 7662 §2.2): `{"active": false}` alone for any token that is
/// not active.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntrospectionResponse {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `Bearer` for an active token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

impl From<Option<TokenInfo>> for IntrospectionResponse {
    fn from(t: Option<TokenInfo>) -> Self {
        match t {
            None => IntrospectionResponse {
                active: false,
                scope: None,
                client_id: None,
                username: None,
                token_type: None,
                exp: None,
                iat: None,
                sub: None,
                aud: None,
                iss: None,
                jti: None,
                sid: None,
            },
            Some(t) => IntrospectionResponse {
                active: true,
                scope: t.scope,
                client_id: t.client_id,
                username: t.username,
                token_type: Some("Bearer"),
                exp: Some(t.exp),
                iat: Some(t.iat),
                sub: Some(t.sub),
                aud: Some(t.aud),
                iss: Some(t.iss),
                jti: Some(t.jti),
                sid: t.sid,
            },
        }
    }
}

/// Token introspection (RFC 7662) for confidential clients: is this access token active, and
/// what does it carry? Any token that is not — malformed, expired, of an ended session, of a
/// deleted client — is `{"active": false}`.
#[utoipa::path(post, path = "/oauth/introspect", tag = "oauth",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The token's state", body = IntrospectionResponse),
        (status = 400, description = "A refused request (RFC 6749 §5.2)", body = OAuthErrorBody),
        (status = 401, description = "Client authentication failed", body = OAuthErrorBody),
    ))]
async fn introspect(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (token, auth, basic) = match token_form(&headers, &body) {
        Ok(f) => f,
        Err((e, basic)) => return oauth_error(e, basic),
    };
    let token = token.as_str();
    match st.svc.introspect(&auth, token).await {
        Ok(info) => axum::Json(IntrospectionResponse::from(info)).into_response(),
        Err(e) => core_error(e, basic),
    }
}

/// Token revocation (RFC 7009): an access or refresh token of the calling client ends the
/// grant's session, so every token of it stops. The answer is 200 whether or not the token
/// was known.
#[utoipa::path(post, path = "/oauth/revoke", tag = "oauth",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke"),
        (status = 400, description = "A refused request (RFC 6749 §5.2)", body = OAuthErrorBody),
        (status = 401, description = "Client authentication failed", body = OAuthErrorBody),
    ))]
async fn revoke(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (token, auth, basic) = match token_form(&headers, &body) {
        Ok(f) => f,
        Err((e, basic)) => return oauth_error(e, basic),
    };
    let token = token.as_str();
    match st.svc.revoke(&auth, token).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => core_error(e, basic),
    }
}
