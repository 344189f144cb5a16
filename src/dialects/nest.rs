//! NestJS's error envelope, used by org-users and citizen-portal (both NestJS services in
//! origin): `{"statusCode": <number>, "message": <string or list>, "error": <reason phrase>}`.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::wire::{self, Reject};

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
