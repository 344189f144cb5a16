//! The consent page (`/consent`): which application asks for what, in plain words, and the
//! user's answer. First-party clients never come here; a remembered grant skips it.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

use super::authorize::follow;
use super::views::{self, ConsentForm};
use super::{
    browser, csrf_ok, csrf_token, error_page, field, form_fields, page, query_params, see_other,
    unavailable, url,
};
use crate::core::service::{AuthorizeStep, Fresh};
use crate::http::AppState;

pub(super) async fn get_consent(
    State(st): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let q = q.unwrap_or_default();
    let (csrf, set) = csrf_token(&st, &headers);
    let cookies: Vec<HeaderValue> = set.into_iter().collect();
    let Some(b) = (match browser(&st, &headers).await {
        Ok(b) => b,
        Err(r) => return r,
    }) else {
        return see_other(&format!("{}?{q}", url(&st, &st.pages.login)), &cookies);
    };
    let params = query_params(&q);
    let step = match st.svc.authorize(&params, Some(&b), Fresh::default()).await {
        Ok(s) => s,
        Err(e) => return unavailable(&st, e),
    };
    match step {
        AuthorizeStep::Consent {
            client_name,
            scopes,
        } => {
            let action = url(&st, &st.pages.consent);
            let redirect = params
                .iter()
                .find(|(k, _)| k == "redirect_uri")
                .map(|(_, v)| v.as_str());
            page(
                StatusCode::OK,
                views::consent(&ConsentForm {
                    action: &action,
                    csrf: &csrf,
                    request: &q,
                    client_name: &client_name,
                    username: &b.user.username,
                    scopes: &scopes,
                }),
                redirect,
                &cookies,
            )
        }
        other => follow(&st, other, &q, &cookies),
    }
}

pub(super) async fn post_consent(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = form_fields(&headers, &body).unwrap_or_default();
    let request = field(&fields, "request").unwrap_or("").to_owned();
    if !csrf_ok(&st, &headers, field(&fields, "csrf")) {
        return error_page(
            StatusCode::FORBIDDEN,
            "This form has expired or did not come from this site. Go back and try again.",
        );
    }
    let Some(b) = (match browser(&st, &headers).await {
        Ok(b) => b,
        Err(r) => return r,
    }) else {
        return see_other(&format!("{}?{request}", url(&st, &st.pages.login)), &[]);
    };
    let allow = match field(&fields, "decision") {
        Some("allow") => true,
        Some("deny") => false,
        _ => return error_page(StatusCode::BAD_REQUEST, "Choose Allow or Deny."),
    };
    match st.svc.consent(&query_params(&request), &b, allow).await {
        Ok(step) => follow(&st, step, &request, &[]),
        Err(e) => unavailable(&st, e),
    }
}
