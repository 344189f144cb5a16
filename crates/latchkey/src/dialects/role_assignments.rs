//! role-assignments (`shared/specs/role-assignments.txt`): a Mongoose-style API over role
//! assignment records. Successes are `{"status":"success","status_code":"200","data":…}` (the
//! code a *string*, as described), except create, which answers the bare record; errors are
//! `{"status":"error","status_code":<number>,"message":…}`. Admins only.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use super::wire::{self, Body, Caller, Params, QueryOf, Reject, Wire};
use crate::core::error::{AuthFailure, CoreError};
use crate::core::model::{Assignment, AssignmentId, AssignmentQuery, AssignmentSort, UserId};
use crate::http::AppState;

use super::routes::Routes;
use super::Dialect;

/// This dialect's entry in [`super::ALL`].
pub const DIALECT: Dialect = Dialect {
    name: "role-assignments",
    routes,
    route_error,
};

fn routes() -> Routes {
    Routes::new()
        .get("/api/v1/roles", list)
        .post("/api/v1/roles", create)
        .put("/api/v1/roles", replace)
        .get("/api/v1/roles/", list)
        .post("/api/v1/roles/", create)
        .put("/api/v1/roles/", replace)
        .get("/api/v1/roles/{role_id}", get_one)
        .patch("/api/v1/roles/{role_id}", set_active)
        .delete("/api/v1/roles/{role_id}", remove)
        .get("/api/v1/roles/user/{user_id}", roles_of_user)
}

pub struct RoleAssignments;

fn fail(status: StatusCode, message: &str) -> Response {
    wire::json(
        status,
        json!({"status": "error", "status_code": status.as_u16(), "message": message}),
    )
}

fn ok(data: Value) -> Response {
    wire::json(
        StatusCode::OK,
        json!({"status": "success", "status_code": "200", "data": data}),
    )
}

/// A path under this dialect's prefix that it does not serve (404), or a method it does
/// not take there (405).
pub fn route_error(status: StatusCode) -> Response {
    let reason = status.canonical_reason().unwrap_or("Error");
    fail(status, reason)
}

fn common(e: CoreError) -> Response {
    wire::log_internal(&e);
    match e {
        CoreError::Unauthenticated(_) => fail(StatusCode::UNAUTHORIZED, "Unauthorized"),
        CoreError::Forbidden(_) => fail(StatusCode::FORBIDDEN, "Forbidden: admin role required"),
        CoreError::NotFound(what) => {
            let what = what.as_str();
            let mut m = format!("{what} not found");
            m[..1].make_ascii_uppercase();
            fail(StatusCode::NOT_FOUND, &m)
        }
        CoreError::Conflict(_) => fail(
            StatusCode::CONFLICT,
            "This role is already assigned to this user",
        ),
        CoreError::Invalid { field, reason } => {
            fail(StatusCode::BAD_REQUEST, &format!("{field} {reason}"))
        }
        CoreError::RateLimited { retry_after } => wire::retry_after(
            fail(StatusCode::TOO_MANY_REQUESTS, "Too many requests"),
            retry_after,
        ),
        CoreError::Unavailable => fail(StatusCode::SERVICE_UNAVAILABLE, "Service unavailable"),
        _ => fail(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error"),
    }
}

impl Wire for RoleAssignments {
    fn reject(r: Reject) -> Response {
        match &r {
            Reject::Path(_) => fail(StatusCode::BAD_REQUEST, "Invalid id: expected a number"),
            other => fail(other.status(), &other.detail()),
        }
    }
    fn unauthenticated(_: AuthFailure) -> Response {
        fail(StatusCode::UNAUTHORIZED, "Unauthorized")
    }
    fn core(e: CoreError) -> Response {
        common(e)
    }
}

type Json<T> = Body<RoleAssignments, T>;
type Auth = Caller<RoleAssignments>;

fn ts(t: crate::core::model::Timestamp) -> String {
    t.to_rfc3339()
}

/// The record as list and get show it.
fn brief(a: &Assignment) -> Value {
    json!({
        "_id": a.id.0.to_string(),
        "user_id": a.user_id.0.to_string(),
        "role": a.role,
        "is_active": a.is_active,
        "created_at": ts(a.created_at),
    })
}

/// The record as create, delete and patch show it.
fn full(a: &Assignment) -> Value {
    let mut v = brief(a);
    v["created_by"] = json!(a.created_by);
    v["__v"] = json!(a.version);
    v
}

/// An id given as a JSON string of digits or a number.
fn id_value(v: &Value, field: &str) -> Result<i64, String> {
    let bad = || format!("{field} must be a numeric id");
    match v {
        Value::String(s) => s.trim().parse::<i64>().map_err(|_| bad()),
        Value::Number(n) => n.as_i64().ok_or_else(bad),
        _ => Err(bad()),
    }
}

/// `sort`: a JSON object or array of objects, `{"field": 1 | -1 | "asc" | "desc"}`.
pub fn parse_sort(raw: &str) -> Result<Vec<(AssignmentSort, bool)>, String> {
    let v: Value = serde_json::from_str(raw).map_err(|e| format!("sort is not valid JSON: {e}"))?;
    let mut out = Vec::new();
    for obj in objects(&v, "sort")? {
        for (k, dir) in obj {
            let key = field(k).ok_or_else(|| format!("sort: unknown field '{k}'"))?;
            let desc = match dir {
                Value::Number(n) if n.as_i64() == Some(1) => false,
                Value::Number(n) if n.as_i64() == Some(-1) => true,
                Value::String(s) if matches!(s.as_str(), "asc" | "ascending") => false,
                Value::String(s) if matches!(s.as_str(), "desc" | "descending") => true,
                _ => {
                    return Err(format!(
                        "sort: the direction of '{k}' must be 1, -1, \"asc\" or \"desc\""
                    ))
                }
            };
            out.push((key, desc));
        }
    }
    Ok(out)
}

fn objects<'a>(
    v: &'a Value,
    what: &str,
) -> Result<Vec<&'a serde_json::Map<String, Value>>, String> {
    match v {
        Value::Object(o) => Ok(vec![o]),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_object()
                    .ok_or_else(|| format!("{what} must hold objects"))
            })
            .collect(),
        _ => Err(format!(
            "{what} must be a JSON object or an array of objects"
        )),
    }
}

fn field(k: &str) -> Option<AssignmentSort> {
    Some(match k {
        "_id" => AssignmentSort::Id,
        "user_id" => AssignmentSort::UserId,
        "role" | "name" => AssignmentSort::Role,
        "is_active" => AssignmentSort::IsActive,
        "created_at" => AssignmentSort::CreatedAt,
        "updated_at" => AssignmentSort::UpdatedAt,
        _ => return None,
    })
}

/// `filter`: a JSON object or array of objects over `_id`, `user_id`, `role` (or `name`) and
/// `is_active`; all conditions must hold.
pub fn parse_filter(raw: &str, q: &mut AssignmentQuery) -> Result<(), String> {
    let v: Value =
        serde_json::from_str(raw).map_err(|e| format!("filter is not valid JSON: {e}"))?;
    for obj in objects(&v, "filter")? {
        for (k, val) in obj {
            let num = |val: &Value| -> Result<i64, String> {
                match val {
                    Value::String(s) => s
                        .parse()
                        .map_err(|_| format!("filter: {k} must be a numeric id")),
                    Value::Number(n) => n
                        .as_i64()
                        .ok_or_else(|| format!("filter: {k} must be a numeric id")),
                    _ => Err(format!("filter: {k} must be a numeric id")),
                }
            };
            match k.as_str() {
                "_id" => q.id = Some(AssignmentId(num(val)?)),
                "user_id" => q.user_id = Some(UserId(num(val)?)),
                "role" | "name" => {
                    q.role = Some(
                        val.as_str()
                            .ok_or_else(|| format!("filter: {k} must be a string"))?
                            .to_owned(),
                    )
                }
                "is_active" => {
                    q.is_active = Some(
                        val.as_bool()
                            .ok_or_else(|| "filter: is_active must be true or false".to_owned())?,
                    )
                }
                other => return Err(format!("filter: unknown field '{other}'")),
            }
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct ListParams {
    page: Option<String>,
    limit: Option<String>,
    sort: Option<String>,
    search_text: Option<String>,
    filter: Option<String>,
}

/// Page arithmetic: `(offset, limit, page)` or `None` when the whole list is asked for.
pub fn window(page: Option<&str>, limit: Option<&str>) -> Result<Option<(u64, u64, u64)>, String> {
    let num = |s: Option<&str>, what: &str| -> Result<Option<u64>, String> {
        match s.map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => s
                .parse::<u64>()
                .map(Some)
                .map_err(|_| format!("{what} must be a positive whole number")),
        }
    };
    let (page, limit) = (num(page, "page")?, num(limit, "limit")?);
    if page.is_none() && limit.is_none() {
        return Ok(None);
    }
    let page = page.unwrap_or(1);
    let limit = limit.unwrap_or(10);
    if page == 0 {
        return Err("page must be 1 or more".into());
    }
    if !(1..=1000).contains(&limit) {
        return Err("limit must be between 1 and 1000".into());
    }
    let offset = (page - 1).checked_mul(limit).ok_or("page is too large")?;
    Ok(Some((offset, limit, page)))
}

async fn list(
    State(st): State<AppState>,
    Caller(p, ..): Auth,
    QueryOf(q, ..): QueryOf<RoleAssignments, ListParams>,
) -> Response {
    let admin = match st.svc.admin(&p) {
        Ok(a) => a,
        Err(e) => return common(e),
    };
    let mut query = AssignmentQuery {
        search: q
            .search_text
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty()),
        ..Default::default()
    };
    if let Some(s) = q.sort.as_deref().filter(|s| !s.trim().is_empty()) {
        match parse_sort(s) {
            Ok(sort) => query.sort = sort,
            Err(m) => return fail(StatusCode::BAD_REQUEST, &m),
        }
    }
    if let Some(f) = q.filter.as_deref().filter(|s| !s.trim().is_empty()) {
        if let Err(m) = parse_filter(f, &mut query) {
            return fail(StatusCode::BAD_REQUEST, &m);
        }
    }
    let win = match window(q.page.as_deref(), q.limit.as_deref()) {
        Ok(w) => w,
        Err(m) => return fail(StatusCode::BAD_REQUEST, &m),
    };
    let (offset, limit) = win.map_or((0, u64::MAX >> 1), |(o, l, _)| (o, l));
    match admin.list_assignments(&query, offset, limit).await {
        Ok((items, total)) => {
            let roles: Vec<Value> = items.iter().map(brief).collect();
            let data = match win {
                None => json!({
                    "roles": roles, "limit": null, "total": total, "total_page": null,
                    "current_page": null, "prev_page": null, "next_page": null,
                }),
                Some((_, limit, page)) => {
                    let total_page = total.div_ceil(limit);
                    json!({
                        "roles": roles,
                        "limit": limit,
                        "total": total,
                        "total_page": total_page,
                        "current_page": page,
                        "prev_page": (page > 1).then(|| (page - 1).to_string()),
                        "next_page": (page < total_page).then(|| (page + 1).to_string()),
                    })
                }
            };
            ok(data)
        }
        Err(e) => common(e),
    }
}

async fn get_one(
    State(st): State<AppState>,
    Caller(p, ..): Auth,
    Params(id, ..): Params<RoleAssignments, i64>,
) -> Response {
    let admin = match st.svc.admin(&p) {
        Ok(a) => a,
        Err(e) => return common(e),
    };
    match admin.get_assignment(AssignmentId(id)).await {
        Ok(a) => ok(brief(&a)),
        Err(CoreError::NotFound(_)) => fail(StatusCode::NOT_FOUND, "Role not found"),
        Err(e) => common(e),
    }
}

async fn roles_of_user(
    State(st): State<AppState>,
    Caller(p, ..): Auth,
    Params(id, ..): Params<RoleAssignments, i64>,
) -> Response {
    let admin = match st.svc.admin(&p) {
        Ok(a) => a,
        Err(e) => return common(e),
    };
    match admin.get_user(UserId(id)).await {
        Ok(u) => ok(json!(u.roles)),
        Err(e) => common(e),
    }
}

#[derive(Deserialize)]
struct CreateBody {
    user_id: Option<Value>,
    role: Option<String>,
    is_active: Option<bool>,
}

async fn create(
    State(st): State<AppState>,
    Caller(p, ..): Auth,
    Body(b, ..): Json<CreateBody>,
) -> Response {
    let admin = match st.svc.admin(&p) {
        Ok(a) => a,
        Err(e) => return common(e),
    };
    let (Some(user), Some(role), Some(active)) = (b.user_id, b.role, b.is_active) else {
        return fail(
            StatusCode::BAD_REQUEST,
            "user_id, role and is_active are required",
        );
    };
    let user = match id_value(&user, "user_id") {
        Ok(u) => u,
        Err(m) => return fail(StatusCode::BAD_REQUEST, &m),
    };
    match admin.assign_role(UserId(user), &role, active).await {
        // Create answers the bare record, without the envelope, as described.
        Ok(a) => wire::json(StatusCode::OK, full(&a)),
        Err(e) => common(e),
    }
}

#[derive(Deserialize)]
struct ActiveBody {
    is_active: Option<bool>,
}

async fn set_active(
    State(st): State<AppState>,
    Caller(p, ..): Auth,
    Params(id, ..): Params<RoleAssignments, i64>,
    Body(b, ..): Json<ActiveBody>,
) -> Response {
    let admin = match st.svc.admin(&p) {
        Ok(a) => a,
        Err(e) => return common(e),
    };
    let Some(active) = b.is_active else {
        return fail(StatusCode::BAD_REQUEST, "is_active is required");
    };
    match admin
        .update_assignment(AssignmentId(id), None, None, Some(active))
        .await
    {
        Ok(a) => ok(full(&a)),
        Err(CoreError::NotFound(crate::core::error::Entity::Assignment)) => {
            fail(StatusCode::NOT_FOUND, "Role not found")
        }
        Err(e) => common(e),
    }
}

async fn remove(
    State(st): State<AppState>,
    Caller(p, ..): Auth,
    Params(id, ..): Params<RoleAssignments, i64>,
) -> Response {
    let admin = match st.svc.admin(&p) {
        Ok(a) => a,
        Err(e) => return common(e),
    };
    match admin.delete_assignment(AssignmentId(id)).await {
        Ok(a) => ok(full(&a)),
        Err(CoreError::NotFound(_)) => fail(StatusCode::NOT_FOUND, "Role not found"),
        Err(e) => common(e),
    }
}

#[derive(Deserialize)]
struct ReplaceBody {
    #[serde(rename = "_id")]
    id: Option<Value>,
    user_id: Option<Value>,
    role: Option<String>,
    is_active: Option<bool>,
}

async fn replace(
    State(st): State<AppState>,
    Caller(p, ..): Auth,
    Body(b, ..): Json<ReplaceBody>,
) -> Response {
    let admin = match st.svc.admin(&p) {
        Ok(a) => a,
        Err(e) => return common(e),
    };
    let (Some(id), Some(user), Some(role), Some(active)) = (b.id, b.user_id, b.role, b.is_active)
    else {
        return fail(
            StatusCode::BAD_REQUEST,
            "_id, user_id, role and is_active are required",
        );
    };
    let (id, user) = match (id_value(&id, "_id"), id_value(&user, "user_id")) {
        (Ok(i), Ok(u)) => (i, u),
        (Err(m), _) | (_, Err(m)) => return fail(StatusCode::BAD_REQUEST, &m),
    };
    match admin
        .update_assignment(
            AssignmentId(id),
            Some(UserId(user)),
            Some(&role),
            Some(active),
        )
        .await
    {
        Ok(a) => {
            let mut v = full(&a);
            v["updated_at"] = json!(a.updated_at.map(ts));
            v["updated_by"] = json!(a.updated_by);
            ok(v)
        }
        Err(CoreError::NotFound(crate::core::error::Entity::Assignment)) => {
            fail(StatusCode::NOT_FOUND, "Role not found")
        }
        Err(e) => common(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_parse_from_objects_and_arrays() {
        assert_eq!(
            parse_sort(r#"[{"name":1}]"#).unwrap(),
            vec![(AssignmentSort::Role, false)]
        );
        assert_eq!(
            parse_sort(r#"{"created_at":-1,"_id":"asc"}"#).unwrap(),
            vec![
                (AssignmentSort::CreatedAt, true),
                (AssignmentSort::Id, false)
            ]
        );
        assert!(parse_sort(r#"[{"password":1}]"#).is_err());
        assert!(parse_sort(r#"[{"name":2}]"#).is_err());
        assert!(parse_sort("not json").is_err());
        assert!(parse_sort("5").is_err());
    }

    #[test]
    fn filters_parse_and_reject_unknown_fields() {
        let mut q = AssignmentQuery::default();
        parse_filter(r#"[{"is_active":true},{"user_id":"7"}]"#, &mut q).unwrap();
        assert_eq!(q.is_active, Some(true));
        assert_eq!(q.user_id, Some(UserId(7)));
        assert!(parse_filter(r#"{"is_active":"yes"}"#, &mut q).is_err());
        assert!(parse_filter(r#"{"secret":1}"#, &mut q).is_err());
        assert!(parse_filter("[", &mut q).is_err());
    }

    #[test]
    fn page_windows() {
        assert_eq!(window(None, None).unwrap(), None);
        assert_eq!(window(Some("2"), Some("5")).unwrap(), Some((5, 5, 2)));
        assert_eq!(window(None, Some("5")).unwrap(), Some((0, 5, 1)));
        assert!(window(Some("0"), None).is_err());
        assert!(window(None, Some("0")).is_err());
        assert!(window(Some("-1"), None).is_err());
        assert!(window(Some("x"), None).is_err());
        assert!(window(None, Some("100000")).is_err());
        assert!(window(Some("18446744073709551615"), Some("1000")).is_err());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    const FIELDS: [(&str, AssignmentSort); 7] = [
        ("_id", AssignmentSort::Id),
        ("user_id", AssignmentSort::UserId),
        ("role", AssignmentSort::Role),
        ("name", AssignmentSort::Role),
        ("is_active", AssignmentSort::IsActive),
        ("created_at", AssignmentSort::CreatedAt),
        ("updated_at", AssignmentSort::UpdatedAt),
    ];

    proptest! {
        #[test]
        fn page_windows_are_exact_or_refused(page in 0u64..u64::MAX, limit in 0u64..5000) {
            match window(Some(&page.to_string()), Some(&limit.to_string())) {
                Ok(Some((offset, l, p))) => {
                    prop_assert!(page >= 1 && (1..=1000).contains(&limit));
                    prop_assert_eq!((l, p), (limit, page));
                    prop_assert_eq!(Some(offset), (page - 1).checked_mul(limit));
                }
                Ok(None) => prop_assert!(false, "both given, so paged"),
                Err(_) => prop_assert!(page == 0 || !(1..=1000).contains(&limit) || (page - 1).checked_mul(limit).is_none()),
            }
        }

        #[test]
        fn sorts_translate_field_by_field(keys in proptest::collection::vec((0usize..7, any::<bool>(), any::<bool>()), 1..6)) {
            let parts: Vec<String> = keys
                .iter()
                .map(|(f, desc, numeric)| {
                    let dir = match (desc, numeric) {
                        (true, true) => "-1".to_owned(),
                        (false, true) => "1".to_owned(),
                        (true, false) => "\"desc\"".to_owned(),
                        (false, false) => "\"asc\"".to_owned(),
                    };
                    format!("{{\"{}\":{dir}}}", FIELDS[*f].0)
                })
                .collect();
            let parsed = parse_sort(&format!("[{}]", parts.join(","))).unwrap();
            let expected: Vec<(AssignmentSort, bool)> = keys.iter().map(|(f, d, _)| (FIELDS[*f].1, *d)).collect();
            prop_assert_eq!(parsed, expected);
        }

        #[test]
        fn arbitrary_text_never_panics_the_parsers(raw in ".{0,64}") {
            let _ = parse_sort(&raw);
            let _ = parse_filter(&raw, &mut AssignmentQuery::default());
            let _ = window(Some(&raw), Some(&raw));
        }

        #[test]
        fn filters_set_exactly_what_they_name(user in 0i64..1_000_000, active in any::<bool>(), as_string in any::<bool>()) {
            let user_json = if as_string { format!("\"{user}\"") } else { user.to_string() };
            let mut q = AssignmentQuery::default();
            parse_filter(&format!("[{{\"user_id\":{user_json}}},{{\"is_active\":{active}}}]"), &mut q).unwrap();
            prop_assert_eq!(q.user_id, Some(UserId(user)));
            prop_assert_eq!(q.is_active, Some(active));
            prop_assert!(q.role.is_none() && q.id.is_none());
        }
    }
}
