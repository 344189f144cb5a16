//! `/v1/audit`: the security event log. Admins only.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::page_window;
use super::problem::{ApiResult, Json, Problem, Query};
use super::Auth;
use crate::core::audit::{AuditQuery, AuditRecord};
use crate::core::model::Timestamp;
use crate::http::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventDto {
    pub id: i64,
    /// RFC 3339, UTC.
    pub at: String,
    /// e.g. `login`, `login.locked`, `logout`, `refresh.reuse_detected`, `password.changed`,
    /// `user.created`, `user.updated`, `user.deleted`, `roles.replaced`, `assignment.updated`,
    /// `role.deleted`, `key.rotated`.
    pub action: String,
    /// `success` or `failure`.
    pub outcome: String,
    pub actor_id: Option<i64>,
    pub actor: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// Context (field names, role names, counts); never a secret.
    pub detail: Option<String>,
}

impl From<AuditRecord> for AuditEventDto {
    fn from(r: AuditRecord) -> Self {
        AuditEventDto {
            id: r.id,
            at: r.at.to_rfc3339(),
            action: r.action,
            outcome: r.outcome,
            actor_id: r.actor_id,
            actor: r.actor,
            target_type: r.target_type,
            target_id: r.target_id,
            client_ip: r.client_ip,
            user_agent: r.user_agent,
            detail: r.detail,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    pub action: Option<String>,
    /// `success` or `failure`.
    pub outcome: Option<String>,
    pub actor_id: Option<i64>,
    /// e.g. `user`, `session`, `role`, `assignment`, `organization`, `key`.
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    /// Events at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Events before this time (RFC 3339).
    pub until: Option<String>,
    pub page: Option<u64>,
    /// 1 to 100 (default 20).
    pub per_page: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditListResponse {
    /// Newest first.
    pub items: Vec<AuditEventDto>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

fn time(field: &'static str, v: Option<&str>) -> Result<Option<Timestamp>, Problem> {
    let Some(v) = v else { return Ok(None) };
    let t = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
        .map_err(|_| {
            Problem::invalid_parameter(format!("{field} must be an RFC 3339 time"))
                .with_field(field)
        })?;
    Ok(Some(Timestamp(
        (t.unix_timestamp_nanos() / 1_000_000) as i64,
    )))
}

/// The audit log, newest first, filtered.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", security(("bearer" = [])),
    params(AuditParams),
    responses(
        (status = 200, description = "A page of events", body = AuditListResponse),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_audit(
    State(st): State<AppState>,
    Auth(p): Auth,
    Query(q): Query<AuditParams>,
) -> ApiResult<Json<AuditListResponse>> {
    let (page, per_page, offset) = page_window(q.page, q.per_page)?;
    if q.outcome
        .as_deref()
        .is_some_and(|o| o != "success" && o != "failure")
    {
        return Err(
            Problem::invalid_parameter("outcome must be success or failure").with_field("outcome"),
        );
    }
    let query = AuditQuery {
        action: q.action,
        outcome: q.outcome,
        actor_id: q.actor_id,
        target_type: q.target_type,
        target_id: q.target_id,
        since: time("since", q.since.as_deref())?,
        until: time("until", q.until.as_deref())?,
        after_id: None,
    };
    let (items, total) = st
        .svc
        .admin(&p)?
        .list_audit(&query, offset, per_page)
        .await?;
    Ok(Json(AuditListResponse {
        items: items.into_iter().map(AuditEventDto::from).collect(),
        total,
        page,
        per_page,
    }))
}
