//! `/v1/users*`: user administration, a user's roles and sessions.

use axum::extract::State;
use axum::http::StatusCode;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::*;
use super::problem::{ApiResult, Json, Path, Problem, Query};
use super::Auth;
use crate::core::model::*;
use crate::core::service::{NewAccount, UserPatch};
use crate::http::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user, delete_user))
        .routes(routes!(disable_user))
        .routes(routes!(enable_user))
        .routes(routes!(set_password))
        .routes(routes!(end_sessions))
        .routes(routes!(list_user_roles, assign_role, set_roles))
        .routes(routes!(unassign_role))
}

/// Parses `sort` (`username`, `-created_at`, …).
pub(crate) fn parse_sort(raw: Option<&str>) -> Result<(UserSort, bool), Problem> {
    let raw = raw.unwrap_or("id");
    let (desc, field) = match raw.strip_prefix('-') {
        Some(f) => (true, f),
        None => (false, raw),
    };
    let sort = match field {
        "id" => UserSort::Id,
        "username" => UserSort::Username,
        "email" => UserSort::Email,
        "created_at" => UserSort::CreatedAt,
        _ => {
            return Err(Problem::invalid_parameter(
                "sort must be one of id, username, email, created_at (prefix - for descending)",
            )
            .with_field("sort"))
        }
    };
    Ok((sort, desc))
}

/// Cursors are opaque to clients: base64url of `<kind>:<id>:<key>`.
pub(crate) fn encode_cursor(c: &UserCursor) -> String {
    let raw = match &c.key {
        CursorKey::Int(v) => format!("i:{}:{v}", c.id.0),
        CursorKey::Text(v) => format!("t:{}:{v}", c.id.0),
    };
    URL_SAFE_NO_PAD.encode(raw)
}

pub(crate) fn decode_cursor(s: &str) -> Result<Option<UserCursor>, Problem> {
    if s.is_empty() {
        return Ok(None);
    }
    let bad =
        || Problem::invalid_parameter("cursor is not one this server issued").with_field("cursor");
    let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let mut parts = text.splitn(3, ':');
    let (kind, id, key) = (parts.next(), parts.next(), parts.next());
    let id: i64 = id.and_then(|i| i.parse().ok()).ok_or_else(bad)?;
    let key = match (kind, key) {
        (Some("i"), Some(k)) => CursorKey::Int(k.parse().map_err(|_| bad())?),
        (Some("t"), Some(k)) => CursorKey::Text(k.to_owned()),
        _ => return Err(bad()),
    };
    Ok(Some(UserCursor {
        key,
        id: UserId(id),
    }))
}

/// List users, with offset (`page`, `per_page`) or keyset (`cursor`) pagination, free-text
/// search, filters and a stable sort (ties broken by id). Admins only.
#[utoipa::path(get, path = "/v1/users", tag = "users", security(("bearer" = [])),
    params(UserListParams),
    responses(
        (status = 200, description = "A page of users", body = UserListResponse),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_users(
    State(st): State<AppState>,
    Auth(p): Auth,
    Query(params): Query<UserListParams>,
) -> ApiResult<Json<UserListResponse>> {
    let (sort, descending) = parse_sort(params.sort.as_deref())?;
    let query = UserQuery {
        search: params
            .q
            .filter(|q| !q.trim().is_empty())
            .map(|q| q.trim().to_owned()),
        role: params.role,
        organization: params.organization_id.map(OrgId),
        active: params.active,
        weak_password_hash: params.weak_password_hash,
        sort,
        descending,
        count_at_most: (!params.exact_total.unwrap_or(false)).then_some(TOTAL_BOUND),
    };
    if params.cursor.is_some() && params.page.is_some() {
        return Err(
            Problem::invalid_parameter("use either page or cursor, not both").with_field("cursor"),
        );
    }
    let (page_no, per_page, offset) = page_window(params.page, params.per_page)?;
    let page = match &params.cursor {
        Some(c) => PageRequest::After {
            cursor: decode_cursor(c)?,
            limit: per_page,
        },
        None => PageRequest::Offset {
            offset,
            limit: per_page,
        },
    };
    let result = st.svc.admin(&p)?.list_users(&query, &page).await?;
    Ok(Json(UserListResponse {
        items: result.users.into_iter().map(UserDto::from).collect(),
        total: result.total,
        total_relation: if result.more { "gte" } else { "eq" },
        page: params.cursor.is_none().then_some(page_no),
        per_page,
        next_cursor: result.next_cursor.as_ref().map(encode_cursor),
    }))
}

/// Create a user with any roles. Admins only.
#[utoipa::path(post, path = "/v1/users", tag = "users", security(("bearer" = [])),
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created", body = UserDto),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Organization not found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Username or email taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_user(
    State(st): State<AppState>,
    Auth(p): Auth,
    Json(req): Json<CreateUserRequest>,
) -> ApiResult<(StatusCode, Json<UserDto>)> {
    let account = NewAccount {
        profile: Profile {
            first_name: req.first_name,
            middle_name: req.middle_name,
            last_name: req.last_name,
            name_extension: req.name_extension,
            display_name: req.display_name,
            contact_number: req.contact_number,
            address: req.address,
        },
        username: req.username,
        email: req.email,
        password: req.password,
        organization: req.organization_id.map(OrgId),
        roles: req.roles,
        is_active: req.is_active.unwrap_or(true),
        default_role: None,
        invitation: false,
    };
    let user = st.svc.admin(&p)?.create_user(account).await?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// A user. That user or an admin.
#[utoipa::path(get, path = "/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 200, description = "The user", body = UserDto),
        (status = 400, description = "Invalid id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Neither that user nor an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_user(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<Json<UserDto>> {
    Ok(Json(st.svc.get_user(&p, UserId(id)).await?.into()))
}

/// Update a user. That user or an admin; `is_active` and `organization_id` need an admin.
#[utoipa::path(patch, path = "/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = i64, Path, description = "User id")),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "Updated", body = UserDto),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Username or email taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
    ))]
async fn update_user(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
    Json(req): Json<UpdateUserRequest>,
) -> ApiResult<Json<UserDto>> {
    Ok(Json(
        st.svc.update_user(&p, UserId(id), req.into()).await?.into(),
    ))
}

/// Delete a user; their sessions end at once. Admins only, and not themselves.
#[utoipa::path(delete, path = "/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Own account", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_user(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    st.svc.admin(&p)?.delete_user(UserId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_active(
    st: &AppState,
    p: &Principal,
    id: i64,
    active: bool,
) -> ApiResult<Json<UserDto>> {
    let patch = UserPatch {
        is_active: Some(active),
        ..Default::default()
    };
    Ok(Json(st.svc.update_user(p, UserId(id), patch).await?.into()))
}

/// Disable an account: its sessions end and it cannot log in. Admins only.
#[utoipa::path(post, path = "/v1/users/{id}/disable", tag = "users", security(("bearer" = [])),
    params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 200, description = "Disabled", body = UserDto),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Own account", body = Problem, content_type = "application/problem+json"),
    ))]
async fn disable_user(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<Json<UserDto>> {
    set_active(&st, &p, id, false).await
}

/// Enable a disabled account. Admins only.
#[utoipa::path(post, path = "/v1/users/{id}/enable", tag = "users", security(("bearer" = [])),
    params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 200, description = "Enabled", body = UserDto),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
    ))]
async fn enable_user(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<Json<UserDto>> {
    set_active(&st, &p, id, true).await
}

/// Set a user's password (a reset); all of that user's sessions end. Admins only.
#[utoipa::path(put, path = "/v1/users/{id}/password", tag = "users", security(("bearer" = [])),
    params(("id" = i64, Path, description = "User id")),
    request_body = SetPasswordRequest,
    responses(
        (status = 204, description = "Password set"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid password", body = Problem, content_type = "application/problem+json"),
    ))]
async fn set_password(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
    Json(req): Json<SetPasswordRequest>,
) -> ApiResult<StatusCode> {
    st.svc
        .admin(&p)?
        .reset_password(UserId(id), &req.password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// End all of a user's sessions. Admins only.
#[utoipa::path(delete, path = "/v1/users/{id}/sessions", tag = "users", security(("bearer" = [])),
    params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 200, description = "Sessions ended", body = EndedSessions),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
    ))]
async fn end_sessions(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<Json<EndedSessions>> {
    let ended = st.svc.admin(&p)?.end_user_sessions(UserId(id)).await?;
    Ok(Json(EndedSessions { ended }))
}

/// A user's role assignments (active and inactive). Admins only.
#[utoipa::path(get, path = "/v1/users/{id}/roles", tag = "roles", security(("bearer" = [])),
    params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 200, description = "Assignments", body = [AssignmentDto]),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_user_roles(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<AssignmentDto>>> {
    st.svc.get_user(&p, UserId(id)).await?;
    let q = AssignmentQuery {
        user_id: Some(UserId(id)),
        ..Default::default()
    };
    let (list, _) = st.svc.admin(&p)?.list_assignments(&q, 0, 1000).await?;
    Ok(Json(list.into_iter().map(AssignmentDto::from).collect()))
}

/// Assign a role to a user (the role is created if it does not exist). Admins only.
#[utoipa::path(post, path = "/v1/users/{id}/roles", tag = "roles", security(("bearer" = [])),
    params(("id" = i64, Path, description = "User id")),
    request_body = AssignRoleRequest,
    responses(
        (status = 201, description = "Assigned", body = AssignmentDto),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "User not found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already assigned", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid role name", body = Problem, content_type = "application/problem+json"),
    ))]
async fn assign_role(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
    Json(req): Json<AssignRoleRequest>,
) -> ApiResult<(StatusCode, Json<AssignmentDto>)> {
    let a = st
        .svc
        .admin(&p)?
        .assign_role(UserId(id), &req.role, req.is_active.unwrap_or(true))
        .await?;
    Ok((StatusCode::CREATED, Json(a.into())))
}

/// Replace a user's roles: exactly these become active, others are removed. Admins only.
#[utoipa::path(put, path = "/v1/users/{id}/roles", tag = "roles", security(("bearer" = [])),
    params(("id" = i64, Path, description = "User id")),
    request_body = SetRolesRequest,
    responses(
        (status = 200, description = "The user with their new roles", body = UserDto),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "User not found", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid role name", body = Problem, content_type = "application/problem+json"),
    ))]
async fn set_roles(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
    Json(req): Json<SetRolesRequest>,
) -> ApiResult<Json<UserDto>> {
    Ok(Json(
        st.svc
            .admin(&p)?
            .set_user_roles(UserId(id), &req.roles)
            .await?
            .into(),
    ))
}

/// Remove a role from a user. Admins only.
#[utoipa::path(delete, path = "/v1/users/{id}/roles/{role}", tag = "roles", security(("bearer" = [])),
    params(("id" = i64, Path, description = "User id"), ("role" = String, Path, description = "Role name")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such assignment", body = Problem, content_type = "application/problem+json"),
    ))]
async fn unassign_role(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path((id, role)): Path<(i64, String)>,
) -> ApiResult<StatusCode> {
    st.svc.admin(&p)?.unassign_role(UserId(id), &role).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        for c in [
            UserCursor {
                key: CursorKey::Int(5),
                id: UserId(5),
            },
            UserCursor {
                key: CursorKey::Text("a:b".into()),
                id: UserId(9),
            },
        ] {
            assert_eq!(decode_cursor(&encode_cursor(&c)).unwrap(), Some(c));
        }
        assert_eq!(decode_cursor("").unwrap(), None);
        assert!(decode_cursor("!!").is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode("x:1:2")).is_err());
    }

    #[test]
    fn sorts_parse_with_direction() {
        assert_eq!(
            parse_sort(Some("-username")).unwrap(),
            (UserSort::Username, true)
        );
        assert_eq!(parse_sort(None).unwrap(), (UserSort::Id, false));
        assert!(parse_sort(Some("password_hash")).is_err());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn cursors_round_trip_any_key(id in any::<i64>(), text in ".{0,40}", int in any::<i64>(), is_text in any::<bool>()) {
            let key = if is_text { CursorKey::Text(text) } else { CursorKey::Int(int) };
            let c = UserCursor { key, id: UserId(id) };
            prop_assert_eq!(decode_cursor(&encode_cursor(&c)).unwrap(), Some(c));
        }

        #[test]
        fn garbage_cursors_are_refused_not_panics(raw in ".{0,80}") {
            match decode_cursor(&raw) {
                // `""` is the documented first-page marker of keyset pagination.
                Ok(None) => prop_assert!(raw.is_empty(), "{raw:?} was taken for the first page"),
                // Only a cursor this server could have issued decodes, and exactly as issued.
                Ok(Some(c)) => prop_assert_eq!(encode_cursor(&c), raw),
                Err(p) => prop_assert_eq!(p.status, 400),
            }
        }

        #[test]
        fn cursors_that_were_issued_then_damaged_are_refused(id in any::<i64>(), cut in 1usize..6) {
            let issued = encode_cursor(&UserCursor { key: CursorKey::Int(id), id: UserId(id) });
            let damaged = &issued[..issued.len().saturating_sub(cut).max(1)];
            prop_assume!(damaged != issued);
            let damaged = format!("{damaged}!");
            prop_assert!(decode_cursor(&damaged).is_err());
        }

        #[test]
        fn page_windows_match_the_arithmetic(page in 0u64..u64::MAX, per_page in 0u64..500) {
            match page_window(Some(page), Some(per_page)) {
                Ok((p, pp, offset)) => {
                    prop_assert!(page >= 1 && (1..=100).contains(&per_page));
                    prop_assert_eq!((p, pp), (page, per_page));
                    prop_assert_eq!(Some(offset), (page - 1).checked_mul(per_page));
                }
                Err(_) => prop_assert!(page == 0 || !(1..=100).contains(&per_page) || (page - 1).checked_mul(per_page).is_none()),
            }
        }
    }
}
