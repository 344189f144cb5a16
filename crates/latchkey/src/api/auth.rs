//! `/v1/auth/*` and `/v1/me*`: login, refresh, logout, registration, the caller's account.

use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::*;
use super::mfa::MfaRequiredResponse;
use super::problem::{ApiResult, Json, Path, Problem};
use super::{Auth, Client};
use crate::core::model::SessionId;
use crate::core::service::{IssuedTokens, LoginStep, NewAccount};
use crate::http::AppState;
use serde::Serialize;
use utoipa::ToSchema;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(logout_all))
        .routes(routes!(register))
        .routes(routes!(get_me, update_me))
        .routes(routes!(change_password))
        .routes(routes!(list_sessions))
        .routes(routes!(end_session))
}

pub(super) fn token_response(t: IssuedTokens, user: Option<UserDto>) -> TokenResponse {
    let now = crate::core::model::Timestamp::now();
    TokenResponse {
        access_token: t.access_token,
        token_type: "Bearer",
        expires_in: (t.access_expires_at.0 - now.0).max(0) / 1000,
        expires_at: t.access_expires_at.to_rfc3339(),
        refresh_token: t.refresh_token,
        session_id: t.session_id.0,
        session_expires_at: t.session_expires_at.to_rfc3339(),
        user,
        recovery_codes_remaining: None,
        mfa_enrollment_required: false,
    }
}

/// What a login answers: tokens, or (for a user with a second factor) the `mfa_token` that
/// `/v1/auth/mfa` completes.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginResponse {
    Tokens(Box<TokenResponse>),
    SecondFactor(MfaRequiredResponse),
}

/// Log in with a username or email and a password; opens a session. A user with a second
/// factor gets `{"mfa_required": true, "mfa_token", "methods"}` instead, and no session
/// until `/v1/auth/mfa` completes the login.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in, or a second factor is awaited", body = LoginResponse),
        (status = 401, description = "Invalid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Account disabled", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = Problem, content_type = "application/problem+json"),
    ))]
async fn login(
    State(st): State<AppState>,
    Client(client): Client,
    Json(req): Json<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    let step = st
        .svc
        .begin_login(&req.identifier, &req.password, &client)
        .await?;
    Ok(Json(match step {
        LoginStep::Done(out) => {
            let mut t = token_response(out.tokens, Some(out.user.into()));
            t.mfa_enrollment_required = out.enrollment_required;
            LoginResponse::Tokens(Box::new(t))
        }
        LoginStep::SecondFactor(c) => LoginResponse::SecondFactor(c.into()),
    }))
}

/// Exchange a refresh token for new tokens. Each refresh token works once; presenting a
/// used one again ends the whole session.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = TokenResponse),
        (status = 401, description = "Invalid, used or expired refresh token", body = Problem, content_type = "application/problem+json"),
    ))]
async fn refresh(
    State(st): State<AppState>,
    Client(client): Client,
    Json(req): Json<RefreshRequest>,
) -> ApiResult<Json<TokenResponse>> {
    let t = st.svc.refresh(&req.refresh_token, &client).await?;
    Ok(Json(token_response(t, None)))
}

/// End the current session.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    ))]
async fn logout(State(st): State<AppState>, Auth(p): Auth) -> ApiResult<StatusCode> {
    st.svc.logout(&p).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// End every session of the current user.
#[utoipa::path(post, path = "/v1/auth/logout-all", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "Sessions ended", body = EndedSessions),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    ))]
async fn logout_all(State(st): State<AppState>, Auth(p): Auth) -> ApiResult<Json<EndedSessions>> {
    let ended = st.svc.logout_all(&p).await?;
    Ok(Json(EndedSessions { ended }))
}

/// Create an account (self-registration; can be turned off with `--no-registration`).
/// The new user holds the `user` role.
#[utoipa::path(post, path = "/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses(
        (status = 201, description = "Created", body = UserDto),
        (status = 403, description = "Registration disabled", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Username or email taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
    ))]
async fn register(
    State(st): State<AppState>,
    Client(client): Client,
    Json(req): Json<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<UserDto>)> {
    let account = NewAccount {
        profile: req.profile(),
        username: req.username,
        email: req.email,
        password: req.password,
        organization: None,
        roles: Vec::new(),
        is_active: true,
        default_role: None,
        invitation: false,
    };
    let user = st.svc.register(account, &client).await?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// The current user.
#[utoipa::path(get, path = "/v1/me", tag = "me", security(("bearer" = [])),
    responses(
        (status = 200, description = "The current user", body = UserDto),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_me(State(st): State<AppState>, Auth(p): Auth) -> ApiResult<Json<UserDto>> {
    Ok(Json(st.svc.me(&p).await?.into()))
}

/// Update the current user's username, email or profile. `is_active` and
/// `organization_id` need an admin.
#[utoipa::path(patch, path = "/v1/me", tag = "me", security(("bearer" = [])),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "Updated", body = UserDto),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Username or email taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
    ))]
async fn update_me(
    State(st): State<AppState>,
    Auth(p): Auth,
    Json(req): Json<UpdateUserRequest>,
) -> ApiResult<Json<UserDto>> {
    let id = p.user_id;
    Ok(Json(st.svc.update_user(&p, id, req.into()).await?.into()))
}

/// Change the current user's password; their other sessions end.
#[utoipa::path(put, path = "/v1/me/password", tag = "me", security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed"),
        (status = 400, description = "Current password incorrect", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "New password invalid", body = Problem, content_type = "application/problem+json"),
    ))]
async fn change_password(
    State(st): State<AppState>,
    Auth(p): Auth,
    Client(client): Client,
    Json(req): Json<ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    let id = p.user_id;
    st.svc
        .change_password(&p, id, &req.current_password, &req.new_password, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The current user's open sessions, newest first.
#[utoipa::path(get, path = "/v1/me/sessions", tag = "me", security(("bearer" = [])),
    responses(
        (status = 200, description = "Open sessions", body = [SessionDto]),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_sessions(
    State(st): State<AppState>,
    Auth(p): Auth,
) -> ApiResult<Json<Vec<SessionDto>>> {
    let list = st.svc.list_own_sessions(&p).await?;
    Ok(Json(
        list.into_iter()
            .map(|s| SessionDto::new(s, &p.session_id.0))
            .collect(),
    ))
}

/// End one of the current user's sessions.
#[utoipa::path(delete, path = "/v1/me/sessions/{session_id}", tag = "me", security(("bearer" = [])),
    params(("session_id" = String, Path, description = "Session id")),
    responses(
        (status = 204, description = "Ended"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such open session of yours", body = Problem, content_type = "application/problem+json"),
    ))]
async fn end_session(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(session_id): Path<String>,
) -> ApiResult<StatusCode> {
    st.svc.end_own_session(&p, &SessionId(session_id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
