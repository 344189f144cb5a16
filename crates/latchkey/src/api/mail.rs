//! Mail in the native API: password reset, email verification, email change, invitations,
//! and the outbox for admins (`/v1/mail`). The links in the mails lead to the hosted pages;
//! these endpoints are what those pages and any other front-end call.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::{page_window, UserDto};
use super::problem::{ApiResult, Json, Path, Problem, Query};
use super::{Auth, Client};
use crate::core::model::UserId;
use crate::core::ports::MailQuery;
use crate::core::ports::MailRecord;
use crate::core::validate::fold;
use crate::http::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_password_reset))
        .routes(routes!(confirm_password_reset))
        .routes(routes!(request_verification))
        .routes(routes!(verify_email))
        .routes(routes!(request_email_change))
        .routes(routes!(confirm_email_change))
        .routes(routes!(invite_user))
        .routes(routes!(accept_invitation))
        .routes(routes!(set_email_verified))
        .routes(routes!(list_mail))
}

/// What a password-reset request answers, whether or not an account has the address.
pub const RESET_REQUESTED: &str =
    "If an account has this address, a link to reset its password is on its way.";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    pub email: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    pub message: String,
}

/// Ask for a password-reset mail. The answer is the same (202, same body) whether or not an
/// account has the address; the mail holds a link to `/reset-password` and the token, good
/// once for 30 minutes, replacing any earlier one.
#[utoipa::path(post, path = "/v1/auth/password-reset", tag = "auth", request_body = PasswordResetRequest,
    responses(
        (status = 202, description = "Accepted (whether or not the address is known)", body = Accepted),
        (status = 422, description = "No address given", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "This server sends no mail", body = Problem, content_type = "application/problem+json"),
    ))]
async fn request_password_reset(
    State(st): State<AppState>,
    Client(client): Client,
    Json(req): Json<PasswordResetRequest>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    st.svc.request_password_reset(&req.email, &client).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            message: RESET_REQUESTED.into(),
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirm {
    /// From the mail (the link's `token`).
    pub token: String,
    pub new_password: String,
}

/// Set a new password with a reset token: the password policy applies, every session of the
/// account ends, and the address counts as verified. A refused password uses nothing up.
#[utoipa::path(post, path = "/v1/auth/password-reset/confirm", tag = "auth", request_body = PasswordResetConfirm,
    responses(
        (status = 204, description = "The password is set; every session has ended"),
        (status = 400, description = "The token is invalid, expired, used or replaced", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The new password breaks the policy", body = Problem, content_type = "application/problem+json"),
    ))]
async fn confirm_password_reset(
    State(st): State<AppState>,
    Json(req): Json<PasswordResetConfirm>,
) -> ApiResult<StatusCode> {
    st.svc
        .reset_password_with_token(&req.token, &req.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VerificationSent {
    /// False when the address was already verified (nothing was sent).
    pub sent: bool,
    pub email_verified: bool,
}

/// Send a new verification link to the caller's address (good once, for 24 hours).
#[utoipa::path(post, path = "/v1/me/email/verify", tag = "me", security(("bearer" = [])),
    responses(
        (status = 202, description = "Sent, or nothing to send", body = VerificationSent),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Email verification is off on this server", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many mails to this address or from this client", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "This server sends no mail", body = Problem, content_type = "application/problem+json"),
    ))]
async fn request_verification(
    State(st): State<AppState>,
    Auth(p): Auth,
    Client(client): Client,
) -> ApiResult<(StatusCode, Json<VerificationSent>)> {
    let sent = st.svc.request_verification(&p, &client).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(VerificationSent {
            sent,
            email_verified: !sent,
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// From the mail (the link's `token`).
    pub token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EmailState {
    pub email: String,
    pub email_verified: bool,
}

/// Confirm an address with the token its verification mail carried.
#[utoipa::path(post, path = "/v1/auth/verify-email", tag = "auth", request_body = TokenRequest,
    responses(
        (status = 200, description = "Verified", body = EmailState),
        (status = 400, description = "The token is invalid, expired, used or replaced", body = Problem, content_type = "application/problem+json"),
    ))]
async fn verify_email(
    State(st): State<AppState>,
    Json(req): Json<TokenRequest>,
) -> ApiResult<Json<EmailState>> {
    let user = st.svc.verify_email(&req.token).await?;
    Ok(Json(EmailState {
        email: user.email,
        email_verified: user.email_verified,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailChangeRequest {
    pub new_email: String,
    /// The caller's current password.
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EmailChangeRequested {
    /// The new address, which must confirm the change.
    pub new_email: String,
    /// When the confirmation link expires (RFC 3339).
    pub expires_at: String,
}

/// Ask to move the caller's account to a new address: needs the current password. A link
/// goes to the new address; nothing changes until it is followed; then the old address is
/// told (with no link).
#[utoipa::path(post, path = "/v1/me/email", tag = "me", security(("bearer" = [])), request_body = EmailChangeRequest,
    responses(
        (status = 202, description = "The confirmation link is on its way to the new address", body = EmailChangeRequested),
        (status = 400, description = "Wrong password", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another account has the address", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a valid address, or the current one", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many mails to this address or from this client", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "This server sends no mail", body = Problem, content_type = "application/problem+json"),
    ))]
async fn request_email_change(
    State(st): State<AppState>,
    Auth(p): Auth,
    Client(client): Client,
    Json(req): Json<EmailChangeRequest>,
) -> ApiResult<(StatusCode, Json<EmailChangeRequested>)> {
    let expires = st
        .svc
        .request_email_change(&p, &req.new_email, &req.password, &client)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(EmailChangeRequested {
            new_email: req.new_email.trim().to_owned(),
            expires_at: expires.to_rfc3339(),
        }),
    ))
}

/// Confirm an email change with the token the new address received.
#[utoipa::path(post, path = "/v1/auth/email-change/confirm", tag = "auth", request_body = TokenRequest,
    responses(
        (status = 200, description = "The account has its new address, verified", body = EmailState),
        (status = 400, description = "The token is invalid, expired, used or replaced", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another account took the address meanwhile", body = Problem, content_type = "application/problem+json"),
    ))]
async fn confirm_email_change(
    State(st): State<AppState>,
    Json(req): Json<TokenRequest>,
) -> ApiResult<Json<EmailState>> {
    let user = st.svc.confirm_email_change(&req.token).await?;
    Ok(Json(EmailState {
        email: user.email,
        email_verified: user.email_verified,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    pub email: String,
    /// Default: the address's local part.
    pub username: Option<String>,
    /// Role names (created if missing); default none.
    #[serde(default)]
    pub roles: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InviteResponse {
    /// The invited user: they exist now, with no password until they accept.
    pub user: UserDto,
    /// When the invitation expires (RFC 3339).
    pub expires_at: String,
}

/// Invite a user by email: the account is made without a password, and the mailed link
/// lets them choose one, once, within seven days.
#[utoipa::path(post, path = "/v1/users/invite", tag = "users", security(("bearer" = [])), request_body = InviteRequest,
    responses(
        (status = 201, description = "Invited", body = InviteResponse),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Username or email taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many mails to this address or from this client", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "This server sends no mail", body = Problem, content_type = "application/problem+json"),
    ))]
async fn invite_user(
    State(st): State<AppState>,
    Auth(p): Auth,
    Client(client): Client,
    Json(req): Json<InviteRequest>,
) -> ApiResult<(StatusCode, Json<InviteResponse>)> {
    let invited = st
        .svc
        .admin(&p)?
        .invite(&req.email, req.username.as_deref(), req.roles, &client)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(InviteResponse {
            user: invited.user.into(),
            expires_at: invited.expires_at.to_rfc3339(),
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    pub token: String,
    pub password: String,
}

/// Accept an invitation: sets the invited user's password (the policy applies), once.
#[utoipa::path(post, path = "/v1/auth/invitation/accept", tag = "auth", request_body = AcceptInvitation,
    responses(
        (status = 204, description = "The password is set: sign in with it"),
        (status = 400, description = "The token is invalid, expired or used", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The password breaks the policy", body = Problem, content_type = "application/problem+json"),
    ))]
async fn accept_invitation(
    State(st): State<AppState>,
    Json(req): Json<AcceptInvitation>,
) -> ApiResult<StatusCode> {
    st.svc.accept_invitation(&req.token, &req.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailVerifiedRequest {
    pub email_verified: bool,
}

/// Mark a user's address verified (an administrator vouching for it) or not.
#[utoipa::path(put, path = "/v1/users/{id}/email-verified", tag = "users", security(("bearer" = [])),
    params(("id" = i64, Path, description = "User id")), request_body = EmailVerifiedRequest,
    responses(
        (status = 200, description = "The user", body = UserDto),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ))]
async fn set_email_verified(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
    Json(req): Json<EmailVerifiedRequest>,
) -> ApiResult<Json<UserDto>> {
    let user = st
        .svc
        .admin(&p)?
        .set_email_verified(UserId(id), req.email_verified)
        .await?;
    Ok(Json(user.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MailDto {
    pub id: i64,
    /// `verify_email`, `password_reset`, `email_change`, `email_changed`, `invitation`.
    pub kind: String,
    pub recipient: String,
    pub user_id: Option<i64>,
    pub subject: String,
    /// `queued`, `sending`, `sent` or `failed`.
    pub status: String,
    pub attempts: u32,
    /// RFC 3339.
    pub created_at: String,
    /// While queued: the next attempt (RFC 3339).
    pub next_attempt_at: Option<String>,
    pub sent_at: Option<String>,
    /// The last attempt's error (the SMTP server's reply, a connection error).
    pub last_error: Option<String>,
}

impl From<MailRecord> for MailDto {
    fn from(m: MailRecord) -> Self {
        MailDto {
            id: m.id,
            kind: m.kind,
            recipient: m.recipient,
            user_id: m.user.map(|u| u.0),
            subject: m.subject,
            status: m.status,
            attempts: m.attempts,
            created_at: m.created_at.to_rfc3339(),
            next_attempt_at: m.next_attempt_at.map(|t| t.to_rfc3339()),
            sent_at: m.sent_at.map(|t| t.to_rfc3339()),
            last_error: m.last_error,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MailParams {
    /// `queued`, `sending`, `sent` or `failed`.
    pub status: Option<String>,
    pub recipient: Option<String>,
    pub page: Option<u64>,
    /// 1 to 100 (default 20).
    pub per_page: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MailListResponse {
    /// Newest first; never a mail's body (it holds a token).
    pub items: Vec<MailDto>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

/// The outbox: recent deliveries, what waits, what failed (kept 30 days).
#[utoipa::path(get, path = "/v1/mail", tag = "users", security(("bearer" = [])),
    params(MailParams),
    responses(
        (status = 200, description = "A page of mails", body = MailListResponse),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_mail(
    State(st): State<AppState>,
    Auth(p): Auth,
    Query(q): Query<MailParams>,
) -> ApiResult<Json<MailListResponse>> {
    let (page, per_page, offset) = page_window(q.page, q.per_page)?;
    let admin = st.svc.admin(&p)?;
    if q.status
        .as_deref()
        .is_some_and(|s| !["queued", "sending", "sent", "failed"].contains(&s))
    {
        return Err(
            Problem::invalid_parameter("status must be queued, sending, sent or failed")
                .with_field("status"),
        );
    }
    let query = MailQuery {
        status: q.status,
        recipient: q.recipient.map(|r| fold(r.trim())),
    };
    let (items, total) = admin.list_mail(&query, offset, per_page).await?;
    Ok(Json(MailListResponse {
        items: items.into_iter().map(MailDto::from).collect(),
        total,
        page,
        per_page,
    }))
}
