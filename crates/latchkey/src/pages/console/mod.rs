//! The admin console (`/console`): server-rendered pages for holders of `admin`, signed in
//! through the hosted sign-in page (with its second factor) on the same browser session.
//!
//! Every page is a GET; every change is a form POST to the page it is on, carrying the CSRF
//! token of the hosted pages (double submit, plus the `Origin`/`Sec-Fetch-Site` checks) and
//! an `action`. A change goes through the same core operation as the API — so the same
//! validation, the same audit event with the administrator as actor, the same cache and
//! cross-instance invalidation — then the browser is sent back to the page with a notice
//! (post/redirect/get); a refusal re-renders the page with the error and the status the API
//! would answer. Without a session every console URL leads to the sign-in page and back; a
//! signed-in user without `admin` gets a 403 page. htmx (vendored, `vendor/README.md`) only
//! enhances: the users search updates the list as one types; everything works without it.

mod apps;
mod directory;
mod system;
mod users;
pub(super) mod views;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};

use super::{
    browser, csrf_ok, csrf_token, error_page, field, form_fields, page, see_other, unavailable, url,
};
use crate::core::access::Admin;
use crate::core::error::CoreError;
use crate::core::model::Principal;
use crate::core::service::BrowserSession;
use crate::http::AppState;

/// The console's routes, for the mount-collision check.
pub const PATHS: &[(&str, &str)] = &[
    ("GET", "/console"),
    ("POST", "/console"),
    ("GET", "/console/users"),
    ("POST", "/console/users"),
    ("GET", "/console/users/{id}"),
    ("POST", "/console/users/{id}"),
    ("GET", "/console/roles"),
    ("POST", "/console/roles"),
    ("GET", "/console/organizations"),
    ("POST", "/console/organizations"),
    ("GET", "/console/organizations/{id}"),
    ("POST", "/console/organizations/{id}"),
    ("GET", "/console/applications"),
    ("POST", "/console/applications"),
    ("GET", "/console/applications/{id}"),
    ("POST", "/console/applications/{id}"),
    ("GET", "/console/audit"),
    ("GET", "/console/keys"),
    ("POST", "/console/keys"),
    ("GET", "/console/settings"),
    ("GET", "/assets/htmx.min.js"),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/console",
            get(system::get_overview).post(system::post_overview),
        )
        .route("/console/", get(|| async { see_other("/console", &[]) }))
        .route(
            "/console/users",
            get(users::get_list).post(users::post_list),
        )
        .route(
            "/console/users/{id}",
            get(users::get_user).post(users::post_user),
        )
        .route(
            "/console/roles",
            get(directory::get_roles).post(directory::post_roles),
        )
        .route(
            "/console/organizations",
            get(directory::get_orgs).post(directory::post_orgs),
        )
        .route(
            "/console/organizations/{id}",
            get(directory::get_org).post(directory::post_org),
        )
        .route(
            "/console/applications",
            get(apps::get_list).post(apps::post_list),
        )
        .route(
            "/console/applications/{id}",
            get(apps::get_app).post(apps::post_app),
        )
        .route("/console/audit", get(system::get_audit))
        .route(
            "/console/keys",
            get(system::get_keys).post(system::post_keys),
        )
        .route("/console/settings", get(system::get_settings))
        .route("/assets/htmx.min.js", get(htmx))
}

/// The vendored htmx release (see `vendor/README.md`).
const HTMX: &str = include_str!("vendor/htmx.min.js");
#[cfg(test)]
const HTMX_SHA256: &str = "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717";

async fn htmx() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        HTMX,
    )
        .into_response()
}

/// What a page says above its content.
pub enum Flash {
    None,
    Notice(&'static str),
    Error(String),
}

/// The notices a redirect after a change may ask for (`?notice=`): fixed texts, so nothing
/// from the URL is ever shown.
fn notice(code: Option<&str>) -> Flash {
    let text = match code.unwrap_or("") {
        "created" => "Created.",
        "saved" => "Saved.",
        "deleted" => "Deleted.",
        "user-deleted" => "The user is deleted.",
        "roles" => "Roles updated.",
        "session-ended" => "Session ended: its tokens are refused from now on.",
        "sessions-ended" => "All of the user's sessions have ended.",
        "disabled" => "The account is disabled and its sessions have ended.",
        "enabled" => "The account is enabled.",
        "mfa-reset" => "Second factors removed: the user signs in with the password alone until they set new ones up.",
        "rotated" => "New signing keys: tokens signed with the previous ones stay valid until they expire.",
        "unlocked" => "Lock lifted.",
        "member-added" => "Member added.",
        "member-removed" => "Member removed.",
        "app-deleted" => "The application is deleted; its tokens are refused.",
        _ => return Flash::None,
    };
    Flash::Notice(text)
}

/// A signed-in administrator at the console.
pub struct Console {
    pub b: BrowserSession,
    pub p: Principal,
    pub csrf: String,
    pub cookies: Vec<HeaderValue>,
}

impl Console {
    /// The core's administrator view for this session.
    fn admin<'a>(&'a self, st: &'a AppState) -> Result<Admin<'a>, CoreError> {
        st.svc.admin(&self.p)
    }

    fn frame<'a>(
        &'a self,
        title: &'a str,
        section: &'a str,
        flash: &'a Flash,
        logout: &'a str,
        account: &'a str,
    ) -> views::Frame<'a> {
        views::Frame {
            title,
            section,
            admin: &self.b.user.username,
            csrf: &self.csrf,
            logout,
            account,
            flash,
        }
    }

    /// A console page: the frame around `body`.
    fn page(
        &self,
        st: &AppState,
        status: StatusCode,
        title: &str,
        section: &str,
        flash: &Flash,
        body: Markup,
    ) -> Response {
        let logout = url(st, &st.pages.logout);
        let account = url(st, &st.pages.account);
        let f = self.frame(title, section, flash, &logout, &account);
        let mut r = page(status, views::frame(&f, body), None, &self.cookies);
        // Directory data and, once, client secrets: never kept by a cache.
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }

    /// Back to `path` with a notice after a change.
    fn done(&self, path: &str, code: &str) -> Response {
        let sep = if path.contains('?') { '&' } else { '?' };
        see_other(&format!("{path}{sep}notice={code}"), &self.cookies)
    }
}

/// The administrator behind the request, or where the browser goes instead: the sign-in page
/// (coming back to this URL afterwards), or a 403 page for a user without `admin`.
async fn enter(st: &AppState, headers: &HeaderMap, uri: &Uri) -> Result<Console, Response> {
    let (csrf, set) = csrf_token(st, headers);
    let cookies: Vec<HeaderValue> = set.into_iter().collect();
    let Some(b) = browser(st, headers).await? else {
        let back = uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/console");
        let q = serde_urlencoded::to_string([("return", back)]).unwrap_or_default();
        return Err(see_other(
            &format!("{}?{q}", url(st, &st.pages.login)),
            &cookies,
        ));
    };
    let p = b.principal();
    if !p.is_admin() {
        return Err(refused(
            st,
            "The console is for administrators. Your account page has your own settings.",
        ));
    }
    if st.svc.must_enroll_factor(&b.user) {
        return Err(refused(
            st,
            "Your role needs two-step verification: set it up on your account page, then come back.",
        ));
    }
    Ok(Console {
        b,
        p,
        csrf,
        cookies,
    })
}

impl FromRequestParts<AppState> for Console {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Response> {
        enter(st, &parts.headers, &parts.uri).await
    }
}

/// A console form post: the administrator and the posted fields, the CSRF token checked
/// (a refusal changes nothing and says so).
pub struct Posted(pub Console, pub Vec<(String, String)>);

impl FromRequest<AppState> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, st: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let c = Console::from_request_parts(&mut parts, st).await?;
        let headers = parts.headers.clone();
        let body = Bytes::from_request(Request::from_parts(parts, body), st)
            .await
            .map_err(IntoResponse::into_response)?;
        let Some(fields) = form_fields(&headers, &body) else {
            return Err(error_page(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "The console's forms are sent as application/x-www-form-urlencoded.",
            ));
        };
        if !csrf_ok(st, &headers, field(&fields, "csrf")) {
            return Err(error_page(
                StatusCode::FORBIDDEN,
                "This form has expired or did not come from this site: nothing was changed. Go back, reload the page and try again.",
            ));
        }
        Ok(Posted(c, fields))
    }
}

/// The query string's parameters.
pub struct Params(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Params(super::query_params(parts.uri.query().unwrap_or(""))))
    }
}

/// The 403 page of the console.
fn refused(st: &AppState, why: &str) -> Response {
    let account = url(st, &st.pages.account);
    let logout = url(st, &st.pages.logout);
    page(
        StatusCode::FORBIDDEN,
        super::views::layout(
            "Not allowed",
            html! {
                h1 { "Not allowed" }
                p { (why) }
                p { a href=(account) { "Your account" } " · " a href=(logout) { "Sign in as someone else" } }
            },
        ),
        None,
        &[],
    )
}

/// A refusal of the core as the page's status and message (the API's wording); the
/// service's own failures become the error page.
#[allow(clippy::result_large_err)] // a response, built once, on the way out
fn refusal(st: &AppState, e: CoreError) -> Result<(StatusCode, String), Response> {
    match e {
        CoreError::Unavailable | CoreError::Internal(_) => Err(unavailable(st, e)),
        other => {
            let p = crate::api::problem::Problem::from(other);
            let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::BAD_REQUEST);
            Ok((status, sentence(&p.detail)))
        }
    }
}

/// "email already exists" → "Email already exists."
pub(super) fn sentence(s: &str) -> String {
    let mut out = s.to_owned();
    if let Some(first) = out.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// A posted field, trimmed; empty is absent.
fn value<'a>(fields: &'a [(String, String)], k: &str) -> Option<&'a str> {
    field(fields, k).map(str::trim).filter(|v| !v.is_empty())
}

fn param<'a>(q: &'a [(String, String)], k: &str) -> Option<&'a str> {
    q.iter()
        .find(|(p, _)| p == k)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    #[test]
    fn vendored_htmx_is_the_recorded_release() {
        let digest = sha2::Sha256::digest(HTMX.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, HTMX_SHA256);
    }

    #[test]
    fn notices_are_fixed_texts() {
        assert!(matches!(notice(Some("saved")), Flash::Notice("Saved.")));
        assert!(matches!(notice(Some("<script>")), Flash::None));
        assert!(matches!(notice(None), Flash::None));
    }

    #[test]
    fn details_read_as_sentences() {
        assert_eq!(sentence("email already exists"), "Email already exists.");
        assert_eq!(sentence(""), ".");
    }
}
