//! `/v1/me/grants`: the applications a user has let in, and taking that back.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::ts;
use super::problem::{ApiResult, Json, Path, Problem};
use super::Auth;
use crate::http::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_grants))
        .routes(routes!(revoke_grant))
}

/// A client the user consented to.
#[derive(Debug, Serialize, ToSchema)]
pub struct GrantDto {
    pub client_id: String,
    pub client_name: String,
    /// The scopes consented to, space-separated.
    pub scope: String,
    pub created_at: String,
    pub updated_at: String,
}

/// The applications the current user has consented to.
#[utoipa::path(get, path = "/v1/me/grants", tag = "me", security(("bearer" = [])),
    responses(
        (status = 200, description = "Grants, oldest first", body = [GrantDto]),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_grants(State(st): State<AppState>, Auth(p): Auth) -> ApiResult<Json<Vec<GrantDto>>> {
    let list = st.svc.list_grants(&p).await?;
    Ok(Json(
        list.into_iter()
            .map(|g| GrantDto {
                client_id: g.client_id,
                client_name: g.client_name,
                scope: g.scope,
                created_at: ts(g.created_at),
                updated_at: ts(g.updated_at),
            })
            .collect(),
    ))
}

/// Revoke a grant: the consent is forgotten and the client's tokens for this user (its
/// sessions, refresh tokens included) end now.
#[utoipa::path(delete, path = "/v1/me/grants/{client_id}", tag = "me", security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The client's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No grant to that client", body = Problem, content_type = "application/problem+json"),
    ))]
async fn revoke_grant(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(client_id): Path<String>,
) -> ApiResult<StatusCode> {
    st.svc.revoke_grant(&p, &client_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
