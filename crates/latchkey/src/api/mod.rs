//! The native REST API under `/v1`, its OpenAPI 3.1 document, and the operations endpoints
//! served at the root whatever the mounts (`/healthz`, `/readyz`, `/metrics`, `/openapi.json`,
//! `/docs`, `/.well-known/jwks.json`).

mod audit;
mod auth;
mod clients;
pub mod dto;
mod grants;
mod mail;
pub use mail::RESET_REQUESTED;
mod mfa;
mod oauth;
mod ops;
mod orgs;
mod passkeys;
pub mod problem;
mod roles;
mod transfer;
pub(crate) mod users;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::core::model::{ClientInfo, Principal};
use crate::http::{bearer_token, client_info, AppState};
use problem::Problem;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Latchkey",
        description = "Latchkey's native API: users, credentials, roles, organizations and sessions. \
            Errors are RFC 9457 problem details (`application/problem+json`) with a stable `type` per kind.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerScheme),
    tags(
        (name = "auth", description = "Login, refresh, logout, registration"),
        (name = "me", description = "The caller's own account"),
        (name = "users", description = "User administration (admins)"),
        (name = "roles", description = "Roles and role assignments (admins)"),
        (name = "organizations", description = "Organizations and membership (admins)"),
        (name = "audit", description = "The security event log (admins)"),
        (name = "clients", description = "OAuth 2.1 / OpenID Connect client registration (admins)"),
        (name = "oauth", description = "OAuth 2.1 / OpenID Connect: token, introspection, revocation, UserInfo, discovery (form requests, RFC 6749 errors). The authorization endpoint and the hosted sign-in pages are HTML: see docs/oidc.md"),
        (name = "operations", description = "Health, readiness, metrics, keys")
    )
)]
struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The native API and operations routes, and the OpenAPI document describing all of them.
pub fn router() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::router())
        .merge(mail::router())
        .merge(mfa::router())
        .merge(passkeys::router())
        .merge(users::router())
        .merge(transfer::router())
        .merge(roles::router())
        .merge(orgs::router())
        .merge(ops::router())
        .merge(audit::router())
        .merge(clients::router())
        .merge(grants::router())
        .merge(oauth::router())
        .split_for_parts()
}

/// The authenticated caller. Rejects with a 401 problem.
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers);
        let (p, enroll_only) = st.svc.authenticate_any(token).await?;
        if enroll_only && !enrollment_route(parts) {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                problem::kind::MFA_ENROLLMENT_REQUIRED,
                "Second factor enrollment required",
                "your role requires a second factor: enroll one at /v1/me/mfa/totp first",
            ));
        }
        Ok(Auth(p))
    }
}

/// What a session limited to enrolling a second factor may reach: its own account and
/// factors, and logging out.
fn enrollment_route(parts: &Parts) -> bool {
    let path = parts.uri.path();
    (path == "/v1/me" && parts.method == axum::http::Method::GET)
        || path == "/v1/me/mfa"
        || path.starts_with("/v1/me/mfa/")
        || path == "/v1/auth/logout"
}

/// Where the request came from.
pub struct Client(pub ClientInfo);

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Client(client_info(parts, &st.trusted_proxies)))
    }
}
