//! The authorization endpoint (`/oauth/authorize`, GET and POST as OpenID Connect Core
//! §3.1.2.1 asks): the core decides; this sends the browser on — to the client, to the
//! sign-in or consent page (carrying the request as their query), or to the error page.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{browser, error_page, form_fields, query_params, see_other, unavailable, url};
use crate::core::service::{AuthorizeStep, Fresh};
use crate::http::AppState;

pub(super) async fn get_authorize(
    State(st): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let q = q.unwrap_or_default();
    run(&st, &headers, &q).await
}

pub(super) async fn post_authorize(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // A posted request is the same request: carried on as a query from here.
    let Some(fields) = form_fields(&headers, &body) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "The authorization request must be a form post or a query.",
        );
    };
    let q = serde_urlencoded::to_string(&fields).unwrap_or_default();
    run(&st, &headers, &q).await
}

async fn run(st: &AppState, headers: &HeaderMap, q: &str) -> Response {
    let b = match browser(st, headers).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let params = query_params(q);
    match st
        .svc
        .authorize(&params, b.as_ref(), Fresh::default())
        .await
    {
        Ok(step) => follow(st, step, q, &[]),
        Err(e) => unavailable(st, e),
    }
}

/// Where a step of the authorization leads, for the request `q`.
pub(super) fn follow(
    st: &AppState,
    step: AuthorizeStep,
    q: &str,
    cookies: &[axum::http::HeaderValue],
) -> Response {
    match step {
        AuthorizeStep::Redirect(to) => see_other(&to, cookies),
        AuthorizeStep::Login { .. } => {
            see_other(&format!("{}?{q}", url(st, &st.pages.login)), cookies)
        }
        AuthorizeStep::Consent { .. } => {
            see_other(&format!("{}?{q}", url(st, &st.pages.consent)), cookies)
        }
        AuthorizeStep::Refused(why) => {
            let mut r = error_page(StatusCode::BAD_REQUEST, why);
            for c in cookies {
                r.headers_mut()
                    .append(axum::http::header::SET_COOKIE, c.clone());
            }
            r
        }
    }
}
