//! NestJS's error envelope, used by org-users and citizen-portal (both NestJS services in
//! origin): `{"statusCode": <number>, "message": <string or list>, "error": <reason phrase>}`.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::wire::{self, Reject};
use crate::core::error::CoreError;

/// An error in Nest's envelope.
pub fn error(status: StatusCode, message: impl Into<Value>) -> Response {
    wire::json(
        status,
        json!({
            "statusCode": status.as_u16(),
            "message": message.into(),
            "error": status.canonical_reason().unwrap_or("Error"),
        }),
    )
}

/// The answers org-users and citizen-portal share (their origins used Nest's guards and
/// exceptions alike); each dialect maps its own cases first and hands the rest here.
pub fn shared(e: CoreError) -> Response {
    wire::log_internal(&e);
    match e {
        CoreError::Unauthenticated(_) => error(StatusCode::UNAUTHORIZED, "Unauthorized"),
        CoreError::Forbidden(_) => error(StatusCode::FORBIDDEN, "Forbidden resource"),
        CoreError::NotFound(_) => error(StatusCode::NOT_FOUND, "User not found"),
        CoreError::InvalidCredentials => error(StatusCode::UNAUTHORIZED, "Invalid credentials"),
        CoreError::AccountDisabled => error(StatusCode::FORBIDDEN, "Account disabled"),
        CoreError::MfaRequired => error(StatusCode::UNAUTHORIZED, wire::MFA_REQUIRED),
        CoreError::EmailNotVerified => error(StatusCode::FORBIDDEN, wire::EMAIL_NOT_VERIFIED),
        CoreError::RateLimited { retry_after } => wire::retry_after(
            error(StatusCode::TOO_MANY_REQUESTS, "Too many requests"),
            retry_after,
        ),
        CoreError::Unavailable => error(StatusCode::SERVICE_UNAVAILABLE, "Service unavailable"),
        CoreError::Invalid { field, reason } => {
            error(StatusCode::BAD_REQUEST, format!("{field} {reason}"))
        }
        _ => error(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error"),
    }
}

/// What Nest answers for a request its pipes could not read.
pub fn reject(r: Reject) -> Response {
    match r {
        Reject::TooLarge => error(StatusCode::PAYLOAD_TOO_LARGE, "request entity too large"),
        // ParseIntPipe's message for a non-numeric id.
        Reject::Path(_) => error(
            StatusCode::BAD_REQUEST,
            "Validation failed (numeric string is expected)",
        ),
        // ValidationPipe lists what is wrong.
        Reject::Data(d) | Reject::Query(d) => error(StatusCode::BAD_REQUEST, json!([d])),
        other => error(StatusCode::BAD_REQUEST, other.detail()),
    }
}
