//! Second factors in the native API: the second step of a login (`/v1/auth/mfa`), the
//! caller's own factors (`/v1/me/mfa*`), and an admin's view and reset (`/v1/users/{id}/mfa`).

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
use crate::core::error::{CoreError, Reason};
use crate::core::model::UserId;
use crate::core::service::{MfaChallenge, MfaStatus};
use crate::http::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(complete_login))
        .routes(routes!(my_mfa))
        .routes(routes!(begin_totp, remove_totp))
        .routes(routes!(confirm_totp))
        .routes(routes!(regenerate_recovery_codes))
        .routes(routes!(user_mfa, reset_user_mfa))
}

/// A login that waits for its second factor: no session is open yet.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaRequiredResponse {
    /// Always true.
    pub mfa_required: bool,
    /// Present it to `/v1/auth/mfa` within five minutes; good once, and for five wrong codes.
    pub mfa_token: String,
    /// Methods that can complete the login: `totp`, `webauthn`, `recovery_code`.
    pub methods: Vec<&'static str>,
    /// When the `mfa_token` expires (RFC 3339).
    pub expires_at: String,
}

impl From<MfaChallenge> for MfaRequiredResponse {
    fn from(c: MfaChallenge) -> Self {
        MfaRequiredResponse {
            mfa_required: true,
            mfa_token: c.token,
            methods: c.methods,
            expires_at: c.expires_at.to_rfc3339(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaLoginRequest {
    pub mfa_token: String,
    /// `totp`, `recovery_code` or `webauthn`.
    pub method: String,
    /// The six digits of the authenticator app, or a recovery code (as printed; case and
    /// dashes do not matter). For `totp` and `recovery_code`.
    pub code: Option<String>,
    /// For `webauthn`: what `navigator.credentials.get()` answered to the options of
    /// `/v1/auth/mfa/webauthn` (binary fields base64url).
    #[schema(value_type = Option<Object>)]
    pub credential: Option<serde_json::Value>,
}

/// Complete a login with its second factor: answers the tokens a login without one does.
#[utoipa::path(post, path = "/v1/auth/mfa", tag = "auth", request_body = MfaLoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 401, description = "Wrong code (attempts left in `detail`), or an invalid, expired, used or spent mfa_token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body or method", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The account is locked for too many failures", body = Problem, content_type = "application/problem+json"),
    ))]
async fn complete_login(
    State(st): State<AppState>,
    Client(client): Client,
    Json(req): Json<MfaLoginRequest>,
) -> ApiResult<Json<TokenResponse>> {
    let proof = match (req.method.as_str(), req.code, req.credential) {
        ("webauthn", _, Some(c)) => c.to_string(),
        ("webauthn", _, None) => {
            return Err(CoreError::invalid("credential", Reason::RequiredFor("webauthn")).into())
        }
        (_, Some(code), _) => code,
        (_, None, _) => return Err(CoreError::invalid("code", Reason::Empty).into()),
    };
    let out = st
        .svc
        .finish_login(&req.mfa_token, &req.method, &proof, &client)
        .await?;
    let remaining = out.recovery_codes_remaining;
    let mut t = token_response(out.tokens, Some(out.user.into()));
    t.recovery_codes_remaining = remaining;
    Ok(Json(t))
}

/// A user's second factors.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaStatusDto {
    /// The user has a confirmed second factor: logins ask for it.
    pub enabled: bool,
    pub totp: Option<TotpDto>,
    /// An enrollment was begun and not confirmed.
    pub totp_pending: bool,
    /// How many passkeys are registered (details: `/v1/me/mfa/passkeys`).
    pub passkeys: u32,
    pub recovery_codes_remaining: u32,
    /// What a login can be completed with.
    pub methods: Vec<&'static str>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TotpDto {
    /// When a code confirmed it (RFC 3339).
    pub confirmed_at: String,
}

impl From<MfaStatus> for MfaStatusDto {
    fn from(s: MfaStatus) -> Self {
        MfaStatusDto {
            enabled: s.enabled(),
            totp: s.totp.map(|t| TotpDto {
                confirmed_at: t.to_rfc3339(),
            }),
            totp_pending: s.totp_pending,
            passkeys: s.passkeys,
            recovery_codes_remaining: s.recovery_codes_remaining,
            methods: s.methods(),
        }
    }
}

/// The caller's second factors and how many recovery codes remain.
#[utoipa::path(get, path = "/v1/me/mfa", tag = "me", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's factors", body = MfaStatusDto),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    ))]
async fn my_mfa(State(st): State<AppState>, Auth(p): Auth) -> ApiResult<Json<MfaStatusDto>> {
    Ok(Json(st.svc.my_mfa(&p).await?.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TotpEnrollmentDto {
    /// The shared secret, base32 (for typing into an app).
    pub secret: String,
    /// `otpauth://totp/…` for apps that read a link.
    pub otpauth_uri: String,
    /// The same URI as a QR code (SVG), for apps that scan one.
    pub qr_svg: String,
}

/// Begin enrolling an authenticator app (TOTP, RFC 6238: SHA-1, 6 digits, 30 s). The
/// factor counts once `/v1/me/mfa/totp/confirm` proves the app has it; beginning again
/// replaces a pending enrollment.
#[utoipa::path(post, path = "/v1/me/mfa/totp", tag = "me", security(("bearer" = [])),
    responses(
        (status = 201, description = "Pending enrollment", body = TotpEnrollmentDto),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "An app is already enrolled", body = Problem, content_type = "application/problem+json"),
    ))]
async fn begin_totp(
    State(st): State<AppState>,
    Auth(p): Auth,
) -> ApiResult<(StatusCode, Json<TotpEnrollmentDto>)> {
    let e = st.svc.begin_totp(&p).await?;
    Ok((
        StatusCode::CREATED,
        Json(TotpEnrollmentDto {
            secret: e.secret,
            otpauth_uri: e.otpauth_uri,
            qr_svg: e.qr_svg,
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// The app's current six digits.
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TotpConfirmedDto {
    /// Ten single-use codes, on the first enrollment only: shown this once, keep them safe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_codes: Option<Vec<String>>,
    /// The caller's other sessions, ended.
    pub sessions_ended: u64,
}

/// Confirm the pending enrollment with the app's current code; the caller's other sessions
/// end. Needs a session opened in the last five minutes.
#[utoipa::path(post, path = "/v1/me/mfa/totp/confirm", tag = "me", security(("bearer" = [])),
    request_body = CodeRequest,
    responses(
        (status = 200, description = "Enrolled", body = TotpConfirmedDto),
        (status = 401, description = "Not authenticated, or a wrong code", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The session is older than five minutes: log in again", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Nothing pending, or already confirmed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
    ))]
async fn confirm_totp(
    State(st): State<AppState>,
    Auth(p): Auth,
    Json(req): Json<CodeRequest>,
) -> ApiResult<Json<TotpConfirmedDto>> {
    let c = st.svc.confirm_totp(&p, &req.code).await?;
    Ok(Json(TotpConfirmedDto {
        recovery_codes: c.recovery_codes,
        sessions_ended: c.sessions_ended,
    }))
}

/// Remove the authenticator app (and the recovery codes with it when no passkey is left); the
/// caller's other sessions end. Needs a session opened in the last five minutes.
#[utoipa::path(delete, path = "/v1/me/mfa/totp", tag = "me", security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The session is older than five minutes: log in again", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No app is enrolled", body = Problem, content_type = "application/problem+json"),
    ))]
async fn remove_totp(State(st): State<AppState>, Auth(p): Auth) -> ApiResult<StatusCode> {
    st.svc.remove_totp(&p).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodesDto {
    /// Ten single-use codes in place of the old ones: shown this once.
    pub recovery_codes: Vec<String>,
}

/// Replace the recovery codes with ten new ones. Needs a session opened in the last five
/// minutes.
#[utoipa::path(post, path = "/v1/me/mfa/recovery-codes", tag = "me", security(("bearer" = [])),
    responses(
        (status = 200, description = "New codes", body = RecoveryCodesDto),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The session is older than five minutes: log in again", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No second factor to recover", body = Problem, content_type = "application/problem+json"),
    ))]
async fn regenerate_recovery_codes(
    State(st): State<AppState>,
    Auth(p): Auth,
) -> ApiResult<Json<RecoveryCodesDto>> {
    let codes = st.svc.regenerate_recovery_codes(&p).await?;
    Ok(Json(RecoveryCodesDto {
        recovery_codes: codes,
    }))
}

/// Whether a user has second factors. Admins only.
#[utoipa::path(get, path = "/v1/users/{id}/mfa", tag = "users", security(("bearer" = [])),
    params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 200, description = "The user's factors", body = MfaStatusDto),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
    ))]
async fn user_mfa(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<Json<MfaStatusDto>> {
    let status = st.svc.admin(&p)?.user_mfa(UserId(id)).await?;
    Ok(Json(status.into()))
}

/// Remove a user's second factors (a lost device): audited, and every session of the user
/// ends. Admins only.
#[utoipa::path(delete, path = "/v1/users/{id}/mfa", tag = "users", security(("bearer" = [])),
    params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 204, description = "Reset"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The user has no second factor", body = Problem, content_type = "application/problem+json"),
    ))]
async fn reset_user_mfa(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    st.svc.admin(&p)?.reset_user_mfa(UserId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
