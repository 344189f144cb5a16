//! The token endpoint (RFC 6749 §3.2): `authorization_code` (with PKCE), `refresh_token`
//! and `client_credentials`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::{authenticated_form, core_error, oauth_error, AuthenticatedForm, OAuthErrorBody};
use crate::api::Client;
use crate::core::error::CoreError;
use crate::core::oauth::OAuthError;
use crate::core::service::UserTokens;
use crate::http::AppState;

/// A successful token response (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// `Bearer`
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The scopes granted, space-separated.
    pub scope: String,
    /// With `offline_access`, for a client registered for refresh tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// With `openid`, from a code exchange.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// The token request's form (`application/x-www-form-urlencoded`).
#[derive(Debug, ToSchema)]
#[expect(
    dead_code,
    reason = "describes the form in OpenAPI; the handler reads the pairs itself to refuse repeats"
)]
pub struct TokenRequest {
    /// `authorization_code`, `refresh_token` or `client_credentials`
    pub grant_type: String,
    /// `authorization_code`: the code from the redirect.
    pub code: Option<String>,
    /// `authorization_code`: the redirect URI of the authorization request.
    pub redirect_uri: Option<String>,
    /// `authorization_code`: the PKCE verifier.
    pub code_verifier: Option<String>,
    /// `refresh_token`: the refresh token.
    pub refresh_token: Option<String>,
    /// Space-separated scopes. `client_credentials`: default every API scope the client is
    /// registered for; `refresh_token`: at most what was granted.
    pub scope: Option<String>,
    /// With `client_secret_post` (or a public client).
    pub client_id: Option<String>,
    /// With `client_secret_post`.
    pub client_secret: Option<String>,
}

impl From<UserTokens> for TokenResponse {
    fn from(t: UserTokens) -> Self {
        TokenResponse {
            access_token: t.access_token,
            token_type: "Bearer",
            expires_in: t.expires_in,
            scope: t.scope,
            refresh_token: t.refresh_token,
            id_token: t.id_token,
        }
    }
}

/// The token endpoint: `authorization_code` (single use, 60 s, bound to the client, the
/// redirect URI and the PKCE verifier), `refresh_token` (rotation with reuse detection) and
/// `client_credentials`; clients authenticate with `client_secret_basic`,
/// `client_secret_post`, or (public clients) `none`.
#[utoipa::path(post, path = "/oauth/token", tag = "oauth",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Tokens", body = TokenResponse),
        (status = 400, description = "A refused request (RFC 6749 §5.2)", body = OAuthErrorBody),
        (status = 401, description = "Client authentication failed", body = OAuthErrorBody),
    ))]
pub(super) async fn token(
    State(st): State<AppState>,
    Client(info): Client,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let AuthenticatedForm {
        params,
        auth,
        basic,
    } = match authenticated_form(&headers, &body) {
        Ok(f) => f,
        Err((e, basic)) => return oauth_error(e, basic),
    };
    let get = |k: &str| params.iter().find(|(p, _)| p == k).map(|(_, v)| v.as_str());
    let outcome = match get("grant_type") {
        None => Err(CoreError::OAuth(OAuthError::InvalidRequest(
            "grant_type is required",
        ))),
        Some("authorization_code") => st
            .svc
            .exchange_code(
                &auth,
                get("code"),
                get("redirect_uri"),
                get("code_verifier"),
                &info,
            )
            .await
            .map(TokenResponse::from),
        Some("refresh_token") => st
            .svc
            .refresh_grant(&auth, get("refresh_token"), get("scope"), &info)
            .await
            .map(TokenResponse::from),
        Some("client_credentials") => st
            .svc
            .client_credentials_grant(&auth, get("scope"))
            .await
            .map(|t| TokenResponse {
                access_token: t.access_token,
                token_type: "Bearer",
                expires_in: t.expires_in,
                scope: t.scope,
                refresh_token: None,
                id_token: None,
            }),
        Some(_) => {
            // Authenticate first: an unknown client learns nothing about grant types.
            match st.svc.authenticate_client(&auth).await {
                Ok(_) => Err(CoreError::OAuth(OAuthError::UnsupportedGrantType)),
                Err(e) => Err(e),
            }
        }
    };
    match outcome {
        Ok(t) => {
            let mut r = axum::Json(t).into_response();
            r.headers_mut()
                .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            r
        }
        Err(e) => core_error(e, basic),
    }
}
