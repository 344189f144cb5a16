//! `/v1/roles*` and `/v1/role-assignments*`. Admins only.

use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::*;
use super::problem::{ApiResult, Json, Path, Problem, Query};
use super::Auth;
use crate::core::model::*;
use crate::http::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_roles, create_role))
        .routes(routes!(get_role, update_role, delete_role))
        .routes(routes!(list_assignments, create_assignment))
        .routes(routes!(
            get_assignment,
            update_assignment,
            delete_assignment
        ))
}

/// All roles, by name.
#[utoipa::path(get, path = "/v1/roles", tag = "roles", security(("bearer" = [])),
    responses(
        (status = 200, description = "Roles", body = [RoleDto]),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_roles(State(st): State<AppState>, Auth(p): Auth) -> ApiResult<Json<Vec<RoleDto>>> {
    Ok(Json(
        st.svc
            .admin(&p)?
            .list_roles()
            .await?
            .into_iter()
            .map(RoleDto::from)
            .collect(),
    ))
}

/// Create a role.
#[utoipa::path(post, path = "/v1/roles", tag = "roles", security(("bearer" = [])),
    request_body = CreateRoleRequest,
    responses(
        (status = 201, description = "Created", body = RoleDto),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_role(
    State(st): State<AppState>,
    Auth(p): Auth,
    Json(req): Json<CreateRoleRequest>,
) -> ApiResult<(StatusCode, Json<RoleDto>)> {
    let r = st
        .svc
        .admin(&p)?
        .create_role(&req.name, req.description)
        .await?;
    Ok((StatusCode::CREATED, Json(r.into())))
}

/// A role.
#[utoipa::path(get, path = "/v1/roles/{id}", tag = "roles", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Role id")),
    responses(
        (status = 200, description = "The role", body = RoleDto),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_role(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<Json<RoleDto>> {
    Ok(Json(st.svc.admin(&p)?.get_role(RoleId(id)).await?.into()))
}

/// Rename a role or change its description. Built-in roles cannot be renamed.
#[utoipa::path(patch, path = "/v1/roles/{id}", tag = "roles", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Role id")),
    request_body = UpdateRoleRequest,
    responses(
        (status = 200, description = "Updated", body = RoleDto),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name, or a built-in role", body = Problem, content_type = "application/problem+json"),
    ))]
async fn update_role(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
    Json(req): Json<UpdateRoleRequest>,
) -> ApiResult<Json<RoleDto>> {
    let r = st
        .svc
        .admin(&p)?
        .update_role(RoleId(id), req.name.as_deref(), req.description)
        .await?;
    Ok(Json(r.into()))
}

/// Delete a role and all its assignments. Built-in roles cannot be deleted.
#[utoipa::path(delete, path = "/v1/roles/{id}", tag = "roles", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Role id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A built-in role", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_role(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    st.svc.admin(&p)?.delete_role(RoleId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Role assignments, filtered, oldest first.
#[utoipa::path(get, path = "/v1/role-assignments", tag = "roles", security(("bearer" = [])),
    params(AssignmentListParams),
    responses(
        (status = 200, description = "A page of assignments", body = AssignmentListResponse),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_assignments(
    State(st): State<AppState>,
    Auth(p): Auth,
    Query(params): Query<AssignmentListParams>,
) -> ApiResult<Json<AssignmentListResponse>> {
    let (page, per_page, offset) = page_window(params.page, params.per_page)?;
    let q = AssignmentQuery {
        user_id: params.user_id.map(UserId),
        role: params.role,
        is_active: params.is_active,
        ..Default::default()
    };
    let (items, total) = st
        .svc
        .admin(&p)?
        .list_assignments(&q, offset, per_page)
        .await?;
    Ok(Json(AssignmentListResponse {
        items: items.into_iter().map(AssignmentDto::from).collect(),
        total,
        page,
        per_page,
    }))
}

/// Assign a role to a user (the role is created if it does not exist).
#[utoipa::path(post, path = "/v1/role-assignments", tag = "roles", security(("bearer" = [])),
    request_body = CreateAssignmentRequest,
    responses(
        (status = 201, description = "Created", body = AssignmentDto),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "User not found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already assigned", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid role name", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_assignment(
    State(st): State<AppState>,
    Auth(p): Auth,
    Json(req): Json<CreateAssignmentRequest>,
) -> ApiResult<(StatusCode, Json<AssignmentDto>)> {
    let a = st
        .svc
        .admin(&p)?
        .assign_role(
            UserId(req.user_id),
            &req.role,
            req.is_active.unwrap_or(true),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(a.into())))
}

/// One assignment.
#[utoipa::path(get, path = "/v1/role-assignments/{id}", tag = "roles", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Assignment id")),
    responses(
        (status = 200, description = "The assignment", body = AssignmentDto),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_assignment(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<Json<AssignmentDto>> {
    Ok(Json(
        st.svc
            .admin(&p)?
            .get_assignment(AssignmentId(id))
            .await?
            .into(),
    ))
}

/// Change an assignment's user, role or activity; its version grows by one.
#[utoipa::path(patch, path = "/v1/role-assignments/{id}", tag = "roles", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Assignment id")),
    request_body = UpdateAssignmentRequest,
    responses(
        (status = 200, description = "Updated", body = AssignmentDto),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "That user already has that role", body = Problem, content_type = "application/problem+json"),
    ))]
async fn update_assignment(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
    Json(req): Json<UpdateAssignmentRequest>,
) -> ApiResult<Json<AssignmentDto>> {
    let a = st
        .svc
        .admin(&p)?
        .update_assignment(
            AssignmentId(id),
            req.user_id.map(UserId),
            req.role.as_deref(),
            req.is_active,
        )
        .await?;
    Ok(Json(a.into()))
}

/// Delete an assignment; returns what was deleted.
#[utoipa::path(delete, path = "/v1/role-assignments/{id}", tag = "roles", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Assignment id")),
    responses(
        (status = 200, description = "Deleted", body = AssignmentDto),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_assignment(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<Json<AssignmentDto>> {
    Ok(Json(
        st.svc
            .admin(&p)?
            .delete_assignment(AssignmentId(id))
            .await?
            .into(),
    ))
}
