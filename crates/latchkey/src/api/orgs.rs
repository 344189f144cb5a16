//! `/v1/organizations*`: organizations and membership. Admins only.

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
        .routes(routes!(list_orgs, create_org))
        .routes(routes!(get_org, update_org, delete_org))
        .routes(routes!(list_members))
        .routes(routes!(add_member, remove_member))
}

/// Organizations, oldest first.
#[utoipa::path(get, path = "/v1/organizations", tag = "organizations", security(("bearer" = [])),
    params(PageParams),
    responses(
        (status = 200, description = "A page of organizations", body = OrganizationListResponse),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_orgs(
    State(st): State<AppState>,
    Auth(p): Auth,
    Query(params): Query<PageParams>,
) -> ApiResult<Json<OrganizationListResponse>> {
    let (page, per_page, offset) = page_window(params.page, params.per_page)?;
    let (items, total) = st.svc.admin(&p)?.list_orgs(offset, per_page).await?;
    Ok(Json(OrganizationListResponse {
        items: items.into_iter().map(OrganizationDto::from).collect(),
        total,
        page,
        per_page,
    }))
}

/// Create an organization (names are unique, case-insensitively).
#[utoipa::path(post, path = "/v1/organizations", tag = "organizations", security(("bearer" = [])),
    request_body = CreateOrganizationRequest,
    responses(
        (status = 201, description = "Created", body = OrganizationDto),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_org(
    State(st): State<AppState>,
    Auth(p): Auth,
    Json(req): Json<CreateOrganizationRequest>,
) -> ApiResult<(StatusCode, Json<OrganizationDto>)> {
    let o = st
        .svc
        .admin(&p)?
        .create_org(&req.name, req.description)
        .await?;
    Ok((StatusCode::CREATED, Json(o.into())))
}

/// An organization.
#[utoipa::path(get, path = "/v1/organizations/{id}", tag = "organizations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Organization id")),
    responses(
        (status = 200, description = "The organization", body = OrganizationDto),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_org(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<Json<OrganizationDto>> {
    Ok(Json(st.svc.admin(&p)?.get_org(OrgId(id)).await?.into()))
}

/// Rename an organization or change its description.
#[utoipa::path(patch, path = "/v1/organizations/{id}", tag = "organizations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Organization id")),
    request_body = UpdateOrganizationRequest,
    responses(
        (status = 200, description = "Updated", body = OrganizationDto),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"),
    ))]
async fn update_org(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
    Json(req): Json<UpdateOrganizationRequest>,
) -> ApiResult<Json<OrganizationDto>> {
    let o = st
        .svc
        .admin(&p)?
        .update_org(OrgId(id), req.name.as_deref(), req.description)
        .await?;
    Ok(Json(o.into()))
}

/// Delete an organization; its members stay, without an organization.
#[utoipa::path(delete, path = "/v1/organizations/{id}", tag = "organizations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Organization id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_org(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    st.svc.admin(&p)?.delete_org(OrgId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Members of an organization, by id.
#[utoipa::path(get, path = "/v1/organizations/{id}/members", tag = "organizations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Organization id"), PageParams),
    responses(
        (status = 200, description = "A page of members", body = UserListResponse),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_members(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
    Query(params): Query<PageParams>,
) -> ApiResult<Json<UserListResponse>> {
    st.svc.admin(&p)?.get_org(OrgId(id)).await?;
    let (page, per_page, offset) = page_window(params.page, params.per_page)?;
    let q = UserQuery {
        organization: Some(OrgId(id)),
        ..Default::default()
    };
    let result = st
        .svc
        .admin(&p)?
        .list_users(
            &q,
            &PageRequest::Offset {
                offset,
                limit: per_page,
            },
        )
        .await?;
    Ok(Json(UserListResponse {
        items: result.users.into_iter().map(UserDto::from).collect(),
        total: result.total,
        total_relation: if result.more { "gte" } else { "eq" },
        page: Some(page),
        per_page,
        next_cursor: None,
    }))
}

/// Put a user into this organization (a user belongs to at most one).
#[utoipa::path(put, path = "/v1/organizations/{id}/members/{user_id}", tag = "organizations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Organization id"), ("user_id" = i64, Path, description = "User id")),
    responses(
        (status = 200, description = "The user, now a member", body = UserDto),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Organization or user not found", body = Problem, content_type = "application/problem+json"),
    ))]
async fn add_member(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path((id, user_id)): Path<(i64, i64)>,
) -> ApiResult<Json<UserDto>> {
    Ok(Json(
        st.svc
            .admin(&p)?
            .set_membership(UserId(user_id), Some(OrgId(id)))
            .await?
            .into(),
    ))
}

/// Take a user out of this organization.
#[utoipa::path(delete, path = "/v1/organizations/{id}/members/{user_id}", tag = "organizations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Organization id"), ("user_id" = i64, Path, description = "User id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not a member, or not found", body = Problem, content_type = "application/problem+json"),
    ))]
async fn remove_member(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path((id, user_id)): Path<(i64, i64)>,
) -> ApiResult<StatusCode> {
    st.svc
        .admin(&p)?
        .remove_member(OrgId(id), UserId(user_id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
