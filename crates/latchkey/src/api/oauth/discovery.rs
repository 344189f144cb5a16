//! What this provider offers: OpenID Connect Discovery 1.0 at
//! `/.well-known/openid-configuration` and the same document as RFC 8414 authorization server
//! metadata at `/.well-known/oauth-authorization-server`. Every URL derives from the public
//! URL; the issuer is exactly the tokens' `iss`.

use crate::core::mfa;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use crate::core::oauth::clients::OIDC_SCOPES;
use crate::http::AppState;

/// The provider's metadata (OpenID Connect Discovery 1.0 §3, RFC 8414 §2).
#[derive(Debug, Serialize, ToSchema)]
pub struct ServerMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub jwks_uri: String,
    pub introspection_endpoint: String,
    pub revocation_endpoint: String,
    pub end_session_endpoint: String,
    pub scopes_supported: Vec<&'static str>,
    pub response_types_supported: Vec<&'static str>,
    pub response_modes_supported: Vec<&'static str>,
    pub grant_types_supported: Vec<&'static str>,
    pub subject_types_supported: Vec<&'static str>,
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    pub code_challenge_methods_supported: Vec<&'static str>,
    pub prompt_values_supported: Vec<&'static str>,
    pub claims_supported: Vec<&'static str>,
    /// `acr` values ID tokens carry: a password alone, or with a second factor.
    pub acr_values_supported: Vec<&'static str>,
    pub claims_parameter_supported: bool,
    pub request_parameter_supported: bool,
    pub request_uri_parameter_supported: bool,
    /// RFC 9207: authorization responses carry `iss`.
    pub authorization_response_iss_parameter_supported: bool,
    pub service_documentation: String,
}

fn document(st: &AppState) -> ServerMetadata {
    let base: &str = &st.public_url;
    let secret = vec!["client_secret_basic", "client_secret_post"];
    ServerMetadata {
        issuer: st.svc.tokens().issuer().to_owned(),
        authorization_endpoint: format!("{base}/oauth/authorize"),
        token_endpoint: format!("{base}/oauth/token"),
        userinfo_endpoint: format!("{base}/oauth/userinfo"),
        jwks_uri: format!("{base}/.well-known/jwks.json"),
        introspection_endpoint: format!("{base}/oauth/introspect"),
        revocation_endpoint: format!("{base}/oauth/revoke"),
        end_session_endpoint: format!("{base}{}", st.pages.logout),
        scopes_supported: OIDC_SCOPES.to_vec(),
        response_types_supported: vec!["code"],
        response_modes_supported: vec!["query"],
        grant_types_supported: vec!["authorization_code", "refresh_token", "client_credentials"],
        subject_types_supported: vec!["public"],
        id_token_signing_alg_values_supported: vec!["RS256", "ES256", "EdDSA"],
        token_endpoint_auth_methods_supported: vec![
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        introspection_endpoint_auth_methods_supported: secret.clone(),
        revocation_endpoint_auth_methods_supported: vec![
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        code_challenge_methods_supported: vec!["S256"],
        prompt_values_supported: vec!["none", "login", "consent"],
        claims_supported: vec![
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "amr",
            "acr",
            "azp",
            "at_hash",
            "sid",
            "name",
            "given_name",
            "middle_name",
            "family_name",
            "preferred_username",
            "updated_at",
            "email",
            "email_verified",
            "roles",
        ],
        acr_values_supported: vec![mfa::ACR_PASSWORD, mfa::ACR_MFA],
        claims_parameter_supported: false,
        request_parameter_supported: false,
        request_uri_parameter_supported: false,
        authorization_response_iss_parameter_supported: true,
        service_documentation: format!("{base}/docs"),
    }
}

/// OpenID Connect Discovery: the provider's endpoints, scopes, claims and algorithms.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "oauth",
    responses((status = 200, description = "The provider's configuration", body = ServerMetadata)))]
pub(super) async fn openid_configuration(State(st): State<AppState>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(document(&st)),
    )
}

/// Authorization server metadata (RFC 8414): the same document.
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "oauth",
    responses((status = 200, description = "The metadata", body = ServerMetadata)))]
pub(super) async fn metadata(State(st): State<AppState>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(document(&st)),
    )
}
