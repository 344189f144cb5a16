//! RFC 9457 problem details for the native API, and the extractors that make every rejected
//! request (bad JSON, wrong content type, oversized body, bad path or query) one of them.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use utoipa::ToSchema;

use crate::core::error::{AuthFailure, CoreError};
use crate::dialects::wire;

/// Stable problem type URIs, one per error kind.
pub mod kind {
    pub const NOT_FOUND: &str = "urn:latchkey:problem:not-found";
    pub const CONFLICT: &str = "urn:latchkey:problem:conflict";
    pub const INVALID_FIELD: &str = "urn:latchkey:problem:invalid-field";
    pub const MALFORMED_BODY: &str = "urn:latchkey:problem:malformed-body";
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "urn:latchkey:problem:unsupported-media-type";
    pub const PAYLOAD_TOO_LARGE: &str = "urn:latchkey:problem:payload-too-large";
    pub const INVALID_PARAMETER: &str = "urn:latchkey:problem:invalid-parameter";
    pub const UNAUTHENTICATED: &str = "urn:latchkey:problem:unauthenticated";
    pub const INVALID_CREDENTIALS: &str = "urn:latchkey:problem:invalid-credentials";
    pub const INVALID_REFRESH_TOKEN: &str = "urn:latchkey:problem:invalid-refresh-token";
    pub const ACCOUNT_DISABLED: &str = "urn:latchkey:problem:account-disabled";
    pub const WRONG_PASSWORD: &str = "urn:latchkey:problem:wrong-password";
    pub const FORBIDDEN: &str = "urn:latchkey:problem:forbidden";
    pub const CANNOT_DELETE_SELF: &str = "urn:latchkey:problem:cannot-delete-self";
    pub const RATE_LIMITED: &str = "urn:latchkey:problem:rate-limited";
    pub const UNAVAILABLE: &str = "urn:latchkey:problem:unavailable";
    pub const INTERNAL: &str = "urn:latchkey:problem:internal";
    pub const MFA_REQUIRED: &str = "urn:latchkey:problem:mfa-required";
    pub const INVALID_MFA_TOKEN: &str = "urn:latchkey:problem:invalid-mfa-token";
    pub const INVALID_MFA_CODE: &str = "urn:latchkey:problem:invalid-mfa-code";
    pub const RECENT_AUTH_REQUIRED: &str = "urn:latchkey:problem:recent-authentication-required";
    pub const MFA_ENROLLMENT_REQUIRED: &str = "urn:latchkey:problem:mfa-enrollment-required";
    pub const MFA_STATE: &str = "urn:latchkey:problem:mfa-state";
    pub const EMAIL_NOT_VERIFIED: &str = "urn:latchkey:problem:email-not-verified";
    pub const MAIL_UNAVAILABLE: &str = "urn:latchkey:problem:mail-unavailable";
    pub const INVALID_TOKEN: &str = "urn:latchkey:problem:invalid-token";
    pub const ROUTE_NOT_FOUND: &str = "urn:latchkey:problem:route-not-found";
    pub const METHOD_NOT_ALLOWED: &str = "urn:latchkey:problem:method-not-allowed";
}

/// An RFC 9457 problem. Served as `application/problem+json`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A stable URI naming the kind of error.
    #[serde(rename = "type")]
    #[schema(example = "urn:latchkey:problem:not-found")]
    pub type_: &'static str,
    /// A short summary of the kind.
    pub title: &'static str,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// The request field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip)]
    retry_after: Option<u64>,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        type_: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Problem {
            type_,
            title,
            status: status.as_u16(),
            detail: detail.into(),
            field: None,
            retry_after: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn invalid_parameter(detail: impl Into<String>) -> Self {
        Problem::new(
            StatusCode::BAD_REQUEST,
            kind::INVALID_PARAMETER,
            "Invalid parameter",
            detail,
        )
    }

    pub fn route_not_found() -> Self {
        Problem::new(
            StatusCode::NOT_FOUND,
            kind::ROUTE_NOT_FOUND,
            "Not found",
            "no such route",
        )
    }

    pub fn method_not_allowed() -> Self {
        Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            kind::METHOD_NOT_ALLOWED,
            "Method not allowed",
            "this route does not accept that method",
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut res = (status, body).into_response();
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

impl From<CoreError> for Problem {
    fn from(e: CoreError) -> Self {
        use StatusCode as S;
        match e {
            CoreError::NotFound(what) => Problem::new(
                S::NOT_FOUND,
                kind::NOT_FOUND,
                "Not found",
                format!("{} not found", what.as_str()),
            ),
            CoreError::Conflict(field) => Problem::new(
                S::CONFLICT,
                kind::CONFLICT,
                "Conflict",
                format!("{} already exists", field.as_str()),
            )
            .with_field(field.as_str()),
            CoreError::Invalid { field, reason } => Problem::new(
                S::UNPROCESSABLE_ENTITY,
                kind::INVALID_FIELD,
                "Invalid field",
                format!("{field} {reason}"),
            )
            .with_field(field),
            CoreError::InvalidCredentials => Problem::new(
                S::UNAUTHORIZED,
                kind::INVALID_CREDENTIALS,
                "Invalid credentials",
                "invalid username, email or password",
            ),
            CoreError::AccountDisabled => Problem::new(
                S::FORBIDDEN,
                kind::ACCOUNT_DISABLED,
                "Account disabled",
                "this account is disabled",
            ),
            CoreError::WrongPassword => Problem::new(
                S::BAD_REQUEST,
                kind::WRONG_PASSWORD,
                "Wrong password",
                "the current password is incorrect",
            )
            .with_field("current_password"),
            CoreError::Unauthenticated(reason) => Problem::new(
                S::UNAUTHORIZED,
                kind::UNAUTHENTICATED,
                "Unauthenticated",
                if reason == AuthFailure::Missing {
                    "a bearer token is required"
                } else {
                    "the bearer token is invalid, expired or revoked"
                },
            ),
            CoreError::InvalidRefreshToken => Problem::new(
                S::UNAUTHORIZED,
                kind::INVALID_REFRESH_TOKEN,
                "Invalid refresh token",
                "the refresh token is invalid, expired, used or revoked",
            ),
            CoreError::Forbidden(why) => {
                Problem::new(S::FORBIDDEN, kind::FORBIDDEN, "Forbidden", why)
            }
            CoreError::SelfDelete => Problem::new(
                S::BAD_REQUEST,
                kind::CANNOT_DELETE_SELF,
                "Cannot delete own account",
                "an administrator cannot delete their own account",
            ),
            CoreError::UnknownRole { valid } => Problem::new(
                S::UNPROCESSABLE_ENTITY,
                kind::INVALID_FIELD,
                "Invalid field",
                format!("role must be one of: {}", valid.join(", ")),
            )
            .with_field("role"),
            CoreError::RateLimited { retry_after } => {
                let mut p = Problem::new(
                    S::TOO_MANY_REQUESTS,
                    kind::RATE_LIMITED,
                    "Too many requests",
                    "too many attempts; try again later",
                );
                p.retry_after = Some(retry_after.as_secs().max(1));
                p
            }
            CoreError::Unavailable => Problem::new(
                S::SERVICE_UNAVAILABLE,
                kind::UNAVAILABLE,
                "Service unavailable",
                "the database is unreachable; try again shortly",
            ),
            CoreError::MfaRequired => Problem::new(
                S::UNAUTHORIZED,
                kind::MFA_REQUIRED,
                "Second factor required",
                "this account has a second factor: complete the login at /v1/auth/mfa",
            ),
            CoreError::InvalidMfaToken => Problem::new(
                S::UNAUTHORIZED,
                kind::INVALID_MFA_TOKEN,
                "Invalid mfa_token",
                "the mfa_token is invalid, expired, used or spent by wrong codes: log in again",
            )
            .with_field("mfa_token"),
            CoreError::InvalidMfaCode { remaining } => Problem::new(
                S::UNAUTHORIZED,
                kind::INVALID_MFA_CODE,
                "Invalid code",
                match remaining {
                    Some(1) => "the code (or passkey answer) is wrong or was already used; 1 attempt left".to_owned(),
                    Some(n) => format!("the code (or passkey answer) is wrong or was already used; {n} attempts left"),
                    None => "the code is wrong: use the current code of the authenticator app"
                        .to_owned(),
                },
            )
            .with_field("code"),
            CoreError::RecentAuthRequired => Problem::new(
                S::FORBIDDEN,
                kind::RECENT_AUTH_REQUIRED,
                "Recent authentication required",
                format!(
                    "changing a second factor needs a session opened in the last {} minutes: log in again",
                    crate::core::service::RECENT_AUTH_SECS / 60
                ),
            ),
            CoreError::MfaState(why) => {
                Problem::new(S::CONFLICT, kind::MFA_STATE, "Conflict", why)
            }
            CoreError::EmailNotVerified => Problem::new(
                S::FORBIDDEN,
                kind::EMAIL_NOT_VERIFIED,
                "Email address not verified",
                wire::EMAIL_NOT_VERIFIED,
            ),
            CoreError::MailUnavailable => Problem::new(
                S::SERVICE_UNAVAILABLE,
                kind::MAIL_UNAVAILABLE,
                "Mail is not configured",
                "this server sends no mail (no SMTP server is configured): ask an administrator",
            ),
            CoreError::InvalidMailToken => Problem::new(
                S::BAD_REQUEST,
                kind::INVALID_TOKEN,
                "Invalid or expired link",
                "the token is invalid, expired, already used or replaced by a newer one: ask for a new link",
            )
            .with_field("token"),
            // Only the OAuth endpoints produce these, and they answer in the protocol's JSON.
            CoreError::OAuth(o) => Problem::invalid_parameter(o.description()),
            CoreError::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                Problem::new(
                    S::INTERNAL_SERVER_ERROR,
                    kind::INTERNAL,
                    "Internal error",
                    "an unexpected error occurred",
                )
            }
        }
    }
}

pub type ApiResult<T> = Result<T, Problem>;

/// `Json` whose rejections are problems.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(rej) => Err(json_rejection(rej)),
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn json_rejection(rej: JsonRejection) -> Problem {
    use StatusCode as S;
    match rej {
        JsonRejection::MissingJsonContentType(_) => Problem::new(
            S::UNSUPPORTED_MEDIA_TYPE,
            kind::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type",
            "the body must be JSON, sent with Content-Type: application/json",
        ),
        JsonRejection::JsonSyntaxError(e) => Problem::new(
            S::BAD_REQUEST,
            kind::MALFORMED_BODY,
            "Malformed body",
            format!(
                "the body is not valid JSON: {}",
                serde_detail(&e.body_text())
            ),
        ),
        JsonRejection::JsonDataError(e) => Problem::new(
            S::UNPROCESSABLE_ENTITY,
            kind::INVALID_FIELD,
            "Invalid field",
            serde_detail(&e.body_text()),
        ),
        other if other.status() == S::PAYLOAD_TOO_LARGE => Problem::new(
            S::PAYLOAD_TOO_LARGE,
            kind::PAYLOAD_TOO_LARGE,
            "Payload too large",
            "the body is larger than 64 KiB",
        ),
        other => Problem::new(
            S::BAD_REQUEST,
            kind::MALFORMED_BODY,
            "Malformed body",
            format!("the body could not be read ({})", other.status()),
        ),
    }
}

/// axum's rejection text starts with a generic sentence; keep serde's part, which names the
/// field and the position.
fn serde_detail(text: &str) -> String {
    match text.split_once(": ") {
        Some((_, rest)) => rest.to_owned(),
        None => text.to_owned(),
    }
}

/// `Path` whose rejections are problems.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => Err(
                Problem::invalid_parameter(format!("invalid path parameter: {}", e.body_text())),
            ),
            Err(e) => Err(Problem::invalid_parameter(e.body_text())),
        }
    }
}

/// `Query` whose rejections are problems.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(Problem::invalid_parameter(serde_detail(&e.body_text())))
            }
            Err(e) => Err(Problem::invalid_parameter(e.body_text())),
        }
    }
}
