//! Extractors shared by the dialects, generic over each dialect's error envelope: a body that
//! is not JSON, a wrong content type, a missing or mistyped field, an oversized body, a bad
//! path or query parameter, or a missing or refused token is answered in the dialect's own
//! envelope — never axum's plain text.

use std::marker::PhantomData;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::core::error::{AuthFailure, CoreError};
use crate::core::model::Principal;
use crate::http::{bearer_token, AppState};

/// What every dialect's login says to a user with a second factor (none of the origins had
/// one, so none can carry it): the dialect's own 401, this message, never a session.
pub const MFA_REQUIRED: &str = "A second factor is required for this account: \
    sign in through the hosted sign-in page or the native API (/v1/auth/login)";

/// What every login says when `--email-verification required` holds and the user's address
/// is not verified yet (a new link is on its way, within the per-address mail limit).
pub const EMAIL_NOT_VERIFIED: &str = "Email address not verified: \
    follow the link in the verification mail we sent, then sign in again";

/// What could not be read from a request.
#[derive(Debug, Clone)]
pub enum Reject {
    /// The body is not JSON (syntax error, empty body).
    Syntax(String),
    /// The body was not sent as `application/json`.
    ContentType,
    /// JSON, but a field is missing or has the wrong type.
    Data(String),
    /// Over the 64 KiB limit.
    TooLarge,
    /// A path parameter of the wrong shape (e.g. a non-numeric id).
    Path(String),
    /// A query parameter of the wrong shape.
    Query(String),
}

impl Reject {
    /// The HTTP status most dialects use for it.
    pub fn status(&self) -> StatusCode {
        match self {
            Reject::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Reject::ContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    pub fn detail(&self) -> String {
        match self {
            Reject::Syntax(d) => format!("the body is not valid JSON: {d}"),
            Reject::ContentType => {
                "the body must be JSON, sent with Content-Type: application/json".into()
            }
            Reject::Data(d) => d.clone(),
            Reject::TooLarge => "the body is larger than 64 KiB".into(),
            Reject::Path(d) | Reject::Query(d) => d.clone(),
        }
    }
}

/// A dialect's answers to requests that never reach its handlers' logic.
pub trait Wire: Send + Sync + 'static {
    fn reject(r: Reject) -> Response;
    /// No token, or a refused one (every reason gets the same answer on the wire).
    fn unauthenticated(why: AuthFailure) -> Response;
    /// Any other core error met while authenticating (e.g. the database is down).
    fn core(e: CoreError) -> Response;
}

fn serde_detail(text: &str) -> String {
    match text.split_once(": ") {
        Some((_, rest)) => rest.to_owned(),
        None => text.to_owned(),
    }
}

/// A JSON body, rejected in `W`'s envelope.
pub struct Body<W, T>(pub T, pub PhantomData<W>);

impl<W: Wire, S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<W, T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Body(v, PhantomData)),
            Err(rej) => Err(W::reject(match rej {
                JsonRejection::MissingJsonContentType(_) => Reject::ContentType,
                JsonRejection::JsonSyntaxError(e) => Reject::Syntax(serde_detail(&e.body_text())),
                JsonRejection::JsonDataError(e) => Reject::Data(serde_detail(&e.body_text())),
                other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Reject::TooLarge,
                other => Reject::Syntax(other.body_text()),
            })),
        }
    }
}

/// Path parameters, rejected in `W`'s envelope.
pub struct Params<W, T>(pub T, pub PhantomData<W>);

impl<W: Wire, S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Params<W, T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Params(v, PhantomData))
            .map_err(|e| W::reject(Reject::Path(e.body_text())))
    }
}

/// Query parameters, rejected in `W`'s envelope.
pub struct QueryOf<W, T>(pub T, pub PhantomData<W>);

impl<W: Wire, S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryOf<W, T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| QueryOf(v, PhantomData))
            .map_err(|e| W::reject(Reject::Query(serde_detail(&e.body_text()))))
    }
}

/// The authenticated caller, refused in `W`'s envelope.
pub struct Caller<W>(pub Principal, pub PhantomData<W>);

impl<W: Wire> FromRequestParts<AppState> for Caller<W> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        match st.svc.authenticate(bearer_token(&parts.headers)).await {
            Ok(p) => Ok(Caller(p, PhantomData)),
            Err(CoreError::Unauthenticated(why)) => Err(W::unauthenticated(why)),
            Err(e) => Err(W::core(e)),
        }
    }
}

/// The caller if a token was sent: `None` without one; a refused token is refused.
pub struct MaybeCaller<W>(pub Option<Principal>, pub PhantomData<W>);

impl<W: Wire> FromRequestParts<AppState> for MaybeCaller<W> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        let Some(token) = bearer_token(&parts.headers) else {
            return Ok(MaybeCaller(None, PhantomData));
        };
        match st.svc.authenticate(Some(token)).await {
            Ok(p) => Ok(MaybeCaller(Some(p), PhantomData)),
            Err(CoreError::Unauthenticated(why)) => Err(W::unauthenticated(why)),
            Err(e) => Err(W::core(e)),
        }
    }
}

/// A JSON response with a status.
pub fn json(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// Logs an internal error once, at the edge, and says whether it was one (for edges whose
/// envelope has a fixed 500 message).
pub fn log_internal(e: &CoreError) {
    if let CoreError::Internal(inner) = e {
        tracing::error!(error = ?inner, "internal error");
    }
}

/// Adds `Retry-After` (whole seconds, at least 1) to a 429.
pub fn retry_after(mut res: Response, after: std::time::Duration) -> Response {
    let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
    res.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from(secs.max(1)),
    );
    res
}
