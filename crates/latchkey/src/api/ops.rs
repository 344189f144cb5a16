//! Operations endpoints: liveness, readiness, Prometheus metrics and the JWKS.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::problem::{Json, Problem};
use crate::http::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(jwks))
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`
    pub status: &'static str,
}

/// Liveness: the process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Up", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "Database unreachable", body = Problem, content_type = "application/problem+json"),
    ))]
async fn readyz(State(st): State<AppState>) -> Result<Json<Health>, Problem> {
    st.svc.ready().await?;
    Ok(Json(Health { status: "ok" }))
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Metrics", body = String, content_type = "text/plain")))]
async fn metrics(State(st): State<AppState>) -> impl IntoResponse {
    if let Ok((queued, failed)) = st.svc.mail_counts().await {
        metrics::gauge!("latchkey_mail_queued").set(queued as f64);
        metrics::gauge!("latchkey_mail_failed").set(failed as f64);
    }
    if let Ok(n) = st.svc.active_sessions().await {
        metrics::gauge!("latchkey_active_sessions").set(n as f64);
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        st.metrics.render(),
    )
}

/// A public key (RFC 7517): `OKP`/`Ed25519` (`x`), `RSA` (`n`, `e`) or `EC`/`P-256` (`x`, `y`).
#[derive(Serialize, ToSchema)]
pub struct JwkDto {
    pub kty: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    pub kid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    #[serde(rename = "use")]
    pub use_: String,
    pub alg: String,
}

#[derive(Serialize, ToSchema)]
pub struct JwkSet {
    pub keys: Vec<JwkDto>,
}

/// The public keys: Ed25519 (EdDSA, RFC 8037) verifies access tokens; RSA (RS256) and P-256
/// (ES256) keys are for OpenID Connect ID tokens. Retired keys stay while their tokens live.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "operations",
    responses(
        (status = 200, description = "Key set", body = JwkSet),
        (status = 503, description = "Database unreachable (while making a first key)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn jwks(State(st): State<AppState>) -> Result<impl IntoResponse, Problem> {
    let keys = st
        .svc
        .jwks()
        .await?
        .into_iter()
        .map(|k| JwkDto {
            kty: k.kty.into(),
            crv: k.crv.map(Into::into),
            kid: k.kid,
            x: k.x,
            y: k.y,
            n: k.n,
            e: k.e,
            use_: k.use_.into(),
            alg: k.alg.into(),
        })
        .collect();
    Ok((
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(JwkSet { keys }),
    ))
}
