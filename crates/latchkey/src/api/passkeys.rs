//! Passkeys in the native API: registering, listing, renaming and removing the caller's
//! (`/v1/me/mfa/passkeys*`), the options of a login's passkey step (`/v1/auth/mfa/webauthn`),
//! and signing in with a passkey alone (`/v1/auth/passkey*`). The ceremonies' JSON is
//! WebAuthn's own (`{"publicKey": …}` in, `PublicKeyCredential.toJSON()` out).

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::token_response;
use super::dto::TokenResponse;
use super::problem::{ApiResult, Json, Path, Problem};
use super::{Auth, Client};
use crate::core::service::PasskeyInfo;
use crate::http::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_passkeys, begin_passkey))
        .routes(routes!(finish_passkey))
        .routes(routes!(rename_passkey, remove_passkey))
        .routes(routes!(passkey_challenge))
        .routes(routes!(begin_passkey_sign_in))
        .routes(routes!(finish_passkey_sign_in))
}

/// A registered passkey.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyDto {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

impl From<PasskeyInfo> for PasskeyDto {
    fn from(k: PasskeyInfo) -> Self {
        PasskeyDto {
            id: k.id,
            name: k.name,
            created_at: k.created_at.to_rfc3339(),
            last_used_at: k.last_used_at.map(|t| t.to_rfc3339()),
        }
    }
}

/// The caller's passkeys, oldest first.
#[utoipa::path(get, path = "/v1/me/mfa/passkeys", tag = "me", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's passkeys", body = [PasskeyDto]),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_passkeys(
    State(st): State<AppState>,
    Auth(p): Auth,
) -> ApiResult<Json<Vec<PasskeyDto>>> {
    let keys = st.svc.my_passkeys(&p).await?;
    Ok(Json(keys.into_iter().map(PasskeyDto::from).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyNameRequest {
    /// 1 to 64 characters, no control characters ("Work laptop", "YubiKey 5C").
    pub name: String,
}

/// Begin registering a passkey: the options to hand to `navigator.credentials.create()`
/// (`{"publicKey": …}`), good for five minutes. User verification is required. Needs a
/// session opened in the last five minutes.
#[utoipa::path(post, path = "/v1/me/mfa/passkeys", tag = "me", security(("bearer" = [])),
    request_body = PasskeyNameRequest,
    responses(
        (status = 200, description = "Creation options (WebAuthn `CredentialCreationOptions`, binary fields base64url)", body = Object),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The session is older than five minutes: log in again", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Passkeys are unavailable: the public URL is not a domain name", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name", body = Problem, content_type = "application/problem+json"),
    ))]
async fn begin_passkey(
    State(st): State<AppState>,
    Auth(p): Auth,
    Json(req): Json<PasskeyNameRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(st.svc.begin_passkey(&p, &req.name).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyCredentialRequest {
    /// What `navigator.credentials.create()` answered (binary fields base64url), as
    /// `PublicKeyCredential.toJSON()` gives it.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyAddedDto {
    pub passkey: PasskeyDto,
    /// Ten single-use codes, with the first second factor only: shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_codes: Option<Vec<String>>,
    /// The caller's other sessions, ended.
    pub sessions_ended: u64,
}

/// Finish registering the passkey begun with `POST /v1/me/mfa/passkeys`; the caller's other
/// sessions end.
#[utoipa::path(post, path = "/v1/me/mfa/passkeys/finish", tag = "me", security(("bearer" = [])),
    request_body = PasskeyCredentialRequest,
    responses(
        (status = 201, description = "Registered", body = PasskeyAddedDto),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The session is older than five minutes: log in again", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No registration under way (or it expired), or the passkey is registered already", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a registration response, or it did not verify", body = Problem, content_type = "application/problem+json"),
    ))]
async fn finish_passkey(
    State(st): State<AppState>,
    Auth(p): Auth,
    Json(req): Json<PasskeyCredentialRequest>,
) -> ApiResult<(StatusCode, Json<PasskeyAddedDto>)> {
    let added = st
        .svc
        .finish_passkey(&p, &req.credential.to_string())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(PasskeyAddedDto {
            passkey: added.passkey.into(),
            recovery_codes: added.recovery_codes,
            sessions_ended: added.sessions_ended,
        }),
    ))
}

/// Rename one of the caller's passkeys.
#[utoipa::path(patch, path = "/v1/me/mfa/passkeys/{id}", tag = "me", security(("bearer" = [])),
    params(("id" = String, Path, description = "Passkey id")),
    request_body = PasskeyNameRequest,
    responses(
        (status = 200, description = "Renamed", body = PasskeyDto),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such passkey of the caller", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name", body = Problem, content_type = "application/problem+json"),
    ))]
async fn rename_passkey(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    Json(req): Json<PasskeyNameRequest>,
) -> ApiResult<Json<PasskeyDto>> {
    Ok(Json(
        st.svc.rename_passkey(&p, &id, &req.name).await?.into(),
    ))
}

/// Remove one of the caller's passkeys (and the recovery codes with the last factor); the
/// caller's other sessions end. Needs a session opened in the last five minutes.
#[utoipa::path(delete, path = "/v1/me/mfa/passkeys/{id}", tag = "me", security(("bearer" = [])),
    params(("id" = String, Path, description = "Passkey id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The session is older than five minutes: log in again", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such passkey of the caller", body = Problem, content_type = "application/problem+json"),
    ))]
async fn remove_passkey(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    st.svc.remove_passkey(&p, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaTokenRequest {
    pub mfa_token: String,
}

/// The options for `navigator.credentials.get()` that complete a login waiting for its
/// second factor with a passkey (`{"publicKey": …}`); answer them at `/v1/auth/mfa` with
/// `method` `webauthn` and the `credential`.
#[utoipa::path(post, path = "/v1/auth/mfa/webauthn", tag = "auth", request_body = MfaTokenRequest,
    responses(
        (status = 200, description = "Request options (WebAuthn `CredentialRequestOptions`, binary fields base64url)", body = Object),
        (status = 401, description = "An invalid, expired, used or spent mfa_token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The account has no passkey, or passkeys are unavailable here", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
    ))]
async fn passkey_challenge(
    State(st): State<AppState>,
    Json(req): Json<MfaTokenRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(st.svc.passkey_challenge(&req.mfa_token).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeySignInDto {
    /// Present it with the passkey's answer to `/v1/auth/passkey` within five minutes; good
    /// once.
    pub passkey_token: String,
    pub expires_at: String,
    /// For `navigator.credentials.get()` (`{"publicKey": …}`: no allowed credentials, so the
    /// authenticator offers its own passkeys for this site; user verification required).
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
}

/// Begin signing in with a passkey alone (no password): the options for
/// `navigator.credentials.get()`. Works with passkeys the authenticator keeps discoverable.
#[utoipa::path(post, path = "/v1/auth/passkey/options", tag = "auth",
    responses(
        (status = 200, description = "Request options and their token", body = PasskeySignInDto),
        (status = 409, description = "Passkeys are unavailable here (the public URL is not a domain name)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn begin_passkey_sign_in(State(st): State<AppState>) -> ApiResult<Json<PasskeySignInDto>> {
    let s = st.svc.begin_passkey_sign_in().await?;
    Ok(Json(PasskeySignInDto {
        passkey_token: s.token,
        expires_at: s.expires_at.to_rfc3339(),
        options: s.options,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeySignInRequest {
    pub passkey_token: String,
    /// What `navigator.credentials.get()` answered (binary fields base64url).
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// Sign in with a passkey alone: the usual token response. The passkey names the user (its
/// user handle) and verified them (user verification), so no password is asked for; any
/// failure is the same 401, counted against the client address.
#[utoipa::path(post, path = "/v1/auth/passkey", tag = "auth", request_body = PasskeySignInRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 401, description = "The passkey did not sign anyone in (unknown, used or expired token; an answer that does not verify)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Account disabled", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failures from this address", body = Problem, content_type = "application/problem+json"),
    ))]
async fn finish_passkey_sign_in(
    State(st): State<AppState>,
    Client(client): Client,
    Json(req): Json<PasskeySignInRequest>,
) -> ApiResult<Json<TokenResponse>> {
    let out = st
        .svc
        .finish_passkey_sign_in(&req.passkey_token, &req.credential.to_string(), &client)
        .await?;
    Ok(Json(token_response(out.tokens, Some(out.user.into()))))
}
