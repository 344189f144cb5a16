//! Sign-out (`/logout`), which is also the `end_session_endpoint` of RP-initiated logout.
//! With an `id_token_hint` for the signed-in user it signs out at once; otherwise it asks
//! first (a bare link must not sign anyone out). A `post_logout_redirect_uri` is followed
//! only when it is registered, exactly, for the client the hint or `client_id` names.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

use super::views::{self, LogoutForm};
use super::{
    browser, cookie_names, csrf_ok, csrf_token, error_page, field, form_fields, page, query_params,
    see_other, set_cookie, unavailable, url,
};
use crate::core::service::{LogoutRequest, LogoutTarget};
use crate::http::AppState;

const PARAMS: [&str; 4] = [
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
];

async fn checked(st: &AppState, params: &[(String, String)]) -> Result<LogoutRequest, Response> {
    let get = |k: &str| params.iter().find(|(p, _)| p == k).map(|(_, v)| v.as_str());
    match st
        .svc
        .logout_request(
            get("id_token_hint"),
            get("client_id"),
            get("post_logout_redirect_uri"),
            get("state"),
        )
        .await
    {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(why)) => Err(error_page(StatusCode::BAD_REQUEST, why)),
        Err(e) => Err(unavailable(st, e)),
    }
}

/// Signed out: to the registered redirect, or the signed-out page; the cookie cleared.
fn done(st: &AppState, req: &LogoutRequest) -> Response {
    let clear = [set_cookie(st, cookie_names(st).session, None)];
    match &req.target {
        LogoutTarget::Redirect(to) => see_other(to, &clear),
        LogoutTarget::Page => page(
            StatusCode::OK,
            views::signed_out(&url(st, &st.pages.login)),
            None,
            &clear,
        ),
    }
}

pub(super) async fn get_logout(
    State(st): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let params = query_params(&q.unwrap_or_default());
    let req = match checked(&st, &params).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let b = match browser(&st, &headers).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(b) = b else {
        return done(&st, &req);
    };
    if req.hinted.as_ref().is_some_and(|(u, _)| *u == b.user.id) {
        if let Err(e) = st.svc.end_session(Some(&b), &req).await {
            return unavailable(&st, e);
        }
        return done(&st, &req);
    }
    let (csrf, set) = csrf_token(&st, &headers);
    let cookies: Vec<HeaderValue> = set.into_iter().collect();
    let fields: Vec<(&str, &str)> = params
        .iter()
        .filter(|(k, _)| PARAMS.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let to = match &req.target {
        LogoutTarget::Redirect(u) => Some(u.as_str()),
        LogoutTarget::Page => None,
    };
    page(
        StatusCode::OK,
        views::confirm_logout(&LogoutForm {
            action: &url(&st, &st.pages.logout),
            csrf: &csrf,
            username: &b.user.username,
            fields: &fields,
        }),
        to,
        &cookies,
    )
}

pub(super) async fn post_logout(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = form_fields(&headers, &body).unwrap_or_default();
    if !csrf_ok(&st, &headers, field(&fields, "csrf")) {
        return error_page(
            StatusCode::FORBIDDEN,
            "This form has expired or did not come from this site. Go back and try again.",
        );
    }
    let params: Vec<(String, String)> = fields
        .iter()
        .filter(|(k, _)| PARAMS.contains(&k.as_str()))
        .cloned()
        .collect();
    let req = match checked(&st, &params).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let b = match browser(&st, &headers).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    if let Err(e) = st.svc.end_session(b.as_ref(), &req).await {
        return unavailable(&st, e);
    }
    done(&st, &req)
}
