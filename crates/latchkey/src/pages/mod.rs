//! The hosted pages: sign-in (`/login`), consent (`/consent`), sign-out (`/logout`), the
//! account's two-step verification (`/account`), the pages mails lead to (`/forgot-password`,
//! `/reset-password`, `/verify-email`, `/confirm-email`, `/accept-invitation`), the
//! authorization endpoint that leads to them (`/oauth/authorize`), and the error page.
//!
//! Server-rendered HTML (maud templates compiled into the binary, escaped by construction),
//! one stylesheet and one script (the passkey buttons, `passkey.js`) served from the binary;
//! everything but passkeys works without script. Every form carries a CSRF token
//! that must equal the one in its cookie (double submit; the cookie is `SameSite=Lax`, so a
//! cross-site post never has it), and a cross-site `Origin` or `Sec-Fetch-Site` is refused
//! too. Cookies are `HttpOnly; SameSite=Lax; Path=/`, and `Secure` with the `__Host-` prefix
//! when the public URL is https. The rules are the core's: these handlers only render.

mod account;
mod account_self;
mod authorize;
mod consent;
mod console;
mod login;
mod logout;
mod mail;
mod mail_views;
mod views;

use console::sentence as console_sentence;
use console::views as console_views;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use maud::Markup;
use subtle::ConstantTimeEq;

use crate::core::service::BrowserSession;
use crate::http::AppState;

/// The routes no dialect mount may shadow: the authorization endpoint, the stylesheet, and
/// the pages' second home under `/oauth/`.
pub const PATHS: &[(&str, &str)] = &[
    ("GET", "/oauth/authorize"),
    ("POST", "/oauth/authorize"),
    ("GET", "/oauth/login"),
    ("POST", "/oauth/login"),
    ("GET", "/oauth/consent"),
    ("POST", "/oauth/consent"),
    ("GET", "/oauth/logout"),
    ("POST", "/oauth/logout"),
    ("GET", "/oauth/account"),
    ("POST", "/oauth/account"),
    ("GET", "/assets/latchkey.css"),
    ("GET", "/assets/passkey.js"),
    ("POST", "/oauth/account/passkey-options"),
    ("GET", "/oauth/forgot-password"),
    ("POST", "/oauth/forgot-password"),
    ("GET", "/oauth/reset-password"),
    ("POST", "/oauth/reset-password"),
    ("GET", "/oauth/verify-email"),
    ("POST", "/oauth/verify-email"),
    ("GET", "/oauth/confirm-email"),
    ("POST", "/oauth/confirm-email"),
    ("GET", "/oauth/accept-invitation"),
    ("POST", "/oauth/accept-invitation"),
];

/// The console's routes.
pub const CONSOLE_PATHS: &[(&str, &str)] = console::PATHS;

/// Where the sign-in, consent and sign-out pages are served: `/login`, `/consent` and
/// `/logout`, except that a dialect mounted at the root keeps a path it serves itself
/// (user-profiles' `POST /login`, for one), and the page moves to `/oauth/login`. Every link
/// and redirect uses these, and discovery names the sign-out one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagePaths {
    pub login: String,
    pub consent: String,
    pub logout: String,
    pub account: String,
    pub forgot_password: String,
    pub reset_password: String,
    pub verify_email: String,
    pub confirm_email: String,
    pub accept_invitation: String,
}

/// The sign-in page's request that means "back to the account page afterwards".
const RETURN_TO_ACCOUNT: &str = "return=account";

impl PagePaths {
    pub fn for_mounts(mounts: &crate::dialects::Mounts) -> Self {
        let pick = |name: &str| {
            let usual = format!("/{name}");
            if mounts.serves_at_root(&usual) {
                format!("/oauth/{name}")
            } else {
                usual
            }
        };
        PagePaths {
            login: pick("login"),
            consent: pick("consent"),
            logout: pick("logout"),
            account: pick("account"),
            forgot_password: pick("forgot-password"),
            reset_password: pick("reset-password"),
            verify_email: pick("verify-email"),
            confirm_email: pick("confirm-email"),
            accept_invitation: pick("accept-invitation"),
        }
    }

    /// Where mails link to.
    pub fn mail_paths(&self) -> crate::core::mail::MailPaths {
        crate::core::mail::MailPaths {
            reset: self.reset_password.clone(),
            verify: self.verify_email.clone(),
            change: self.confirm_email.clone(),
            invitation: self.accept_invitation.clone(),
        }
    }
}

pub fn router(paths: &PagePaths) -> Router<AppState> {
    Router::new()
        .route(
            "/oauth/authorize",
            get(authorize::get_authorize).post(authorize::post_authorize),
        )
        .route(&paths.login, get(login::get_login).post(login::post_login))
        .route(
            &paths.consent,
            get(consent::get_consent).post(consent::post_consent),
        )
        .route(
            &paths.logout,
            get(logout::get_logout).post(logout::post_logout),
        )
        .route(
            &paths.account,
            get(account::get_account).post(account::post_account),
        )
        .route(
            &format!("{}/passkey-options", paths.account),
            axum::routing::post(account::post_passkey_options),
        )
        .route(
            &paths.forgot_password,
            get(mail::get_forgot).post(mail::post_forgot),
        )
        .route(
            &paths.reset_password,
            get(mail::get_reset).post(mail::post_reset),
        )
        .route(
            &paths.verify_email,
            get(mail::get_verify).post(mail::post_verify),
        )
        .route(
            &paths.confirm_email,
            get(mail::get_change).post(mail::post_change),
        )
        .route(
            &paths.accept_invitation,
            get(mail::get_invitation).post(mail::post_invitation),
        )
        .merge(console::router())
        .route("/assets/passkey.js", get(script))
        .route("/assets/latchkey.css", get(stylesheet))
}

/// The absolute URL of a page.
fn url(st: &AppState, path: &str) -> String {
    format!("{}{path}", st.public_url)
}

const STYLESHEET: &str = include_str!("latchkey.css");
const SCRIPT: &str = include_str!("passkey.js");

/// The pages' one script: the passkey buttons (everything else works without it).
async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        SCRIPT,
    )
        .into_response()
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// The names of the pages' cookies: `__Host-` prefixed (which browsers only accept with
/// `Secure` and `Path=/`) when the public URL is https.
struct CookieNames {
    session: &'static str,
    csrf: &'static str,
    secure: bool,
}

fn cookie_names(st: &AppState) -> CookieNames {
    if st.public_url.starts_with("https://") {
        CookieNames {
            session: "__Host-latchkey_session",
            csrf: "__Host-latchkey_csrf",
            secure: true,
        }
    } else {
        CookieNames {
            session: "latchkey_session",
            csrf: "latchkey_csrf",
            secure: false,
        }
    }
}

/// A cookie's value from the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// A `Set-Cookie` value; `None` clears the cookie.
fn set_cookie(st: &AppState, name: &str, value: Option<&str>) -> HeaderValue {
    let secure = if cookie_names(st).secure {
        "; Secure"
    } else {
        ""
    };
    let v = match value {
        Some(v) => format!("{name}={v}; Path=/; HttpOnly; SameSite=Lax{secure}"),
        None => format!("{name}=; Path=/; HttpOnly; SameSite=Lax{secure}; Max-Age=0"),
    };
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The signed-in browser behind the request's session cookie, if any.
async fn browser(st: &AppState, headers: &HeaderMap) -> Result<Option<BrowserSession>, Response> {
    let Some(c) = cookie(headers, cookie_names(st).session) else {
        return Ok(None);
    };
    st.svc
        .browser_session(c)
        .await
        .map_err(|e| unavailable(st, e))
}

/// The CSRF token for a form: the request's cookie when it is well formed, else a new one
/// (and the cookie to set).
fn csrf_token(st: &AppState, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    let names = cookie_names(st);
    match cookie(headers, names.csrf).filter(|v| v.len() == 43) {
        Some(v) => (v.to_owned(), None),
        None => {
            use rand::RngCore;
            let mut b = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut b);
            let t = URL_SAFE_NO_PAD.encode(b);
            let c = set_cookie(st, names.csrf, Some(&t));
            (t, Some(c))
        }
    }
}

/// The origin of the public URL (`scheme://host[:port]`).
fn public_origin(st: &AppState) -> &str {
    let url: &str = &st.public_url;
    let after = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after..].find('/') {
        Some(i) => &url[..after + i],
        None => url,
    }
}

/// Did this form post come from one of our own pages? The token must equal the cookie's
/// (constant time), and the browser must not say it was sent cross-site.
fn csrf_ok(st: &AppState, headers: &HeaderMap, form_token: Option<&str>) -> bool {
    let cross_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "cross-site");
    let foreign_origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|o| o != public_origin(st));
    let Some(cookie) = cookie(headers, cookie_names(st).csrf) else {
        return false;
    };
    let Some(form) = form_token else {
        return false;
    };
    let same = cookie.len() == 43 && bool::from(cookie.as_bytes().ct_eq(form.as_bytes()));
    same && !cross_site && !foreign_origin
}

/// The origin a form's redirect may lead to, for `form-action` (Chromium applies it to the
/// redirect after a post): the scheme and authority of `uri`, or nothing if it holds
/// anything a policy cannot carry safely.
fn form_target(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once(':')?;
    let scheme_ok = !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !scheme_ok {
        return None;
    }
    let source = match rest.strip_prefix("//") {
        Some(r) => {
            let end = r.find(['/', '?', '#']).unwrap_or(r.len());
            let authority = &r[..end];
            let ok = !authority.is_empty()
                && authority.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                });
            if !ok {
                return None;
            }
            format!("{scheme}://{authority}")
        }
        None => format!("{scheme}:"),
    };
    Some(source)
}

/// A page's response: the HTML with the pages' policy (`form-action` may also allow where
/// this page's forms redirect to).
fn page(
    status: StatusCode,
    body: Markup,
    form_to: Option<&str>,
    cookies: &[HeaderValue],
) -> Response {
    let target = form_to.and_then(form_target);
    let csp = format!(
        "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; \
         img-src 'self'; form-action 'self'{}; \
         frame-ancestors 'none'; base-uri 'none'",
        target.map(|t| format!(" {t}")).unwrap_or_default()
    );
    let mut r = (status, axum::response::Html(body.into_string())).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    // `same-origin`, not the API's `no-referrer`: under `no-referrer` a browser sends
    // `Origin: null` with the pages' own form posts, and the origin check needs the real one.
    // Other sites still get no referrer.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    for c in cookies {
        h.append(header::SET_COOKIE, c.clone());
    }
    r
}

/// `303 See Other` to `to`, setting `cookies`.
fn see_other(to: &str, cookies: &[HeaderValue]) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    for c in cookies {
        r.headers_mut().append(header::SET_COOKIE, c.clone());
    }
    r
}

/// The error page.
fn error_page(status: StatusCode, message: &str) -> Response {
    page(status, views::error(message), None, &[])
}

/// A failure of the service itself, as a page (logged, never detailed to the browser).
fn unavailable(_st: &AppState, e: crate::core::error::CoreError) -> Response {
    use crate::core::error::CoreError;
    match e {
        CoreError::Unavailable => error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The service is unavailable. Try again in a moment.",
        ),
        other => {
            crate::dialects::wire::log_internal(&other);
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on our side. Try again.",
            )
        }
    }
}

/// A form-encoded body's fields (the last of a repeated one wins; the core re-checks the
/// authorization request it carries).
fn form_fields(headers: &HeaderMap, body: &[u8]) -> Option<Vec<(String, String)>> {
    if !crate::http::is_form(headers) {
        return None;
    }
    serde_urlencoded::from_bytes(body).ok()
}

fn field<'a>(fields: &'a [(String, String)], k: &str) -> Option<&'a str> {
    fields
        .iter()
        .rev()
        .find(|(p, _)| p == k)
        .map(|(_, v)| v.as_str())
}

/// An authorization request's parameters from its query string.
fn query_params(q: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str(q).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_targets_are_origins_or_nothing() {
        assert_eq!(
            form_target("https://app.example:8443/cb?x=1").as_deref(),
            Some("https://app.example:8443")
        );
        assert_eq!(
            form_target("com.example.app:/callback").as_deref(),
            Some("com.example.app:")
        );
        assert_eq!(form_target("https://a.example; script-src *"), None);
        assert_eq!(form_target("no scheme"), None);
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; latchkey_session=xyz; latchkey_session_x=2"),
        );
        assert_eq!(cookie(&h, "latchkey_session"), Some("xyz"));
        assert_eq!(cookie(&h, "missing"), None);
    }
}
