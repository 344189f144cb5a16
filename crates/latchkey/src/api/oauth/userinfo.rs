//! UserInfo (OpenID Connect Core §5.3), GET and POST: the claims an access token's scope
//! releases. Errors are Bearer challenges (RFC 6750 §3).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::core::error::CoreError;
use crate::http::{bearer_token, AppState};

/// UserInfo's optional form (RFC 6750 §2.2).
#[derive(Debug, utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "describes the form in OpenAPI; the handler reads the pairs itself"
)]
pub struct UserInfoForm {
    /// The access token, when it is not in the `Authorization` header.
    pub access_token: Option<String>,
}

/// An RFC 6750 challenge.
fn challenge(status: StatusCode, error: &str, description: &str) -> Response {
    let mut r = (
        status,
        axum::Json(serde_json::json!({"error": error, "error_description": description})),
    )
        .into_response();
    let v = format!(
        "Bearer realm=\"latchkey\", error=\"{error}\", error_description=\"{description}\""
    );
    if let Ok(v) = HeaderValue::from_str(&v) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

async fn answer(st: &AppState, token: Option<&str>) -> Response {
    match st.svc.userinfo(token).await {
        Ok(claims) => axum::Json(claims).into_response(),
        Err(CoreError::Unauthenticated(_)) => {
            if token.is_none() {
                let mut r = StatusCode::UNAUTHORIZED.into_response();
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"latchkey\""),
                );
                return r;
            }
            challenge(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the access token is not valid",
            )
        }
        Err(CoreError::Forbidden(_)) => challenge(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "the access token was not granted the openid scope",
        ),
        Err(e) => super::core_error(e, false),
    }
}

/// The signed-in user's claims, as the token's scope releases them.
#[utoipa::path(get, path = "/oauth/userinfo", tag = "oauth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The user's claims", body = serde_json::Value),
        (status = 401, description = "No valid access token"),
        (status = 403, description = "The token lacks the openid scope"),
    ))]
pub(super) async fn userinfo_get(State(st): State<AppState>, headers: HeaderMap) -> Response {
    answer(&st, bearer_token(&headers)).await
}

/// The same, with the token in the header or as a form's `access_token` (RFC 6750 §2.2).
#[utoipa::path(post, path = "/oauth/userinfo", tag = "oauth", security(("bearer" = [])),
    request_body(content = UserInfoForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The user's claims", body = serde_json::Value),
        (status = 401, description = "No valid access token"),
        (status = 403, description = "The token lacks the openid scope"),
    ))]
pub(super) async fn userinfo_post(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(t) = bearer_token(&headers) {
        return answer(&st, Some(t)).await;
    }
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let token = form
        .iter()
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v.as_str());
    answer(&st, token).await
}
