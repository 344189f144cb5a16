//! auth-admin (`shared/specs/auth-admin.txt`): a Flask-style admin API. Envelope
//! `{"message": …}`. Messages are reproduced as the description spells them, typos included
//! (clients may compare them); see `docs/dialects/auth-admin.md`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use super::wire::{self, Body, Caller, Params, QueryOf, Reject, Wire};
use crate::core::error::{AuthFailure, CoreError, UniqueField};
use crate::core::model::{PageRequest, User, UserId, UserQuery};
use crate::core::roles;
use crate::core::service::NewAccount;
use crate::http::AppState;

use super::routes::Routes;
use super::Dialect;

/// This dialect's entry in [`super::ALL`].
pub const DIALECT: Dialect = Dialect {
    name: "auth-admin",
    routes,
    route_error,
};

fn routes() -> Routes {
    Routes::new()
        .post("/auth/login", login)
        .post("/auth/create_user", create_user)
        .post("/auth/logout", logout)
        .get("/auth/users", list_users)
        .get("/auth/user/{user_id}", get_user)
        .delete("/auth/user/{user_id}", delete_user)
        .put("/auth/user/{user_id}/roles", update_roles)
}

pub struct AuthAdmin;

fn msg(status: StatusCode, message: &str) -> Response {
    wire::json(status, json!({ "message": message }))
}

/// A path under this dialect's prefix that it does not serve (404), or a method it does
/// not take there (405).
pub fn route_error(status: StatusCode) -> Response {
    let reason = status.canonical_reason().unwrap_or("Error");
    msg(status, reason)
}

/// Core outcomes that every endpoint answers alike.
fn common(e: CoreError) -> Response {
    wire::log_internal(&e);
    match e {
        CoreError::Unauthenticated(_) => msg(StatusCode::UNAUTHORIZED, "invalid or expired token"),
        CoreError::Unavailable => msg(StatusCode::SERVICE_UNAVAILABLE, "service unavailable"),
        CoreError::RateLimited { retry_after } => wire::retry_after(
            msg(StatusCode::TOO_MANY_REQUESTS, "too many attempts"),
            retry_after,
        ),
        CoreError::Invalid { field, reason } => {
            msg(StatusCode::BAD_REQUEST, &format!("{field} {reason}"))
        }
        CoreError::Conflict(UniqueField::Username) => {
            msg(StatusCode::CONFLICT, "username already exists")
        }
        CoreError::Conflict(f) => msg(
            StatusCode::CONFLICT,
            &format!("{} already exists", f.as_str()),
        ),
        CoreError::Forbidden(_) => msg(StatusCode::FORBIDDEN, "forbidden"),
        CoreError::EmailNotVerified => msg(StatusCode::FORBIDDEN, wire::EMAIL_NOT_VERIFIED),
        CoreError::NotFound(_) => msg(StatusCode::NOT_FOUND, "User not found"),
        _ => msg(
            StatusCode::INTERNAL_SERVER_ERROR,
            "an error occured while processing the request",
        ),
    }
}

/// A refusal with the endpoint's own 403 message.
fn deny(e: CoreError, forbidden: &str) -> Response {
    match e {
        CoreError::Forbidden(_) => msg(StatusCode::FORBIDDEN, forbidden),
        other => common(other),
    }
}

impl Wire for AuthAdmin {
    fn reject(r: Reject) -> Response {
        match r {
            // Flask's `<int:user_id>` converter: a non-integer id matches no route.
            Reject::Path(_) => msg(StatusCode::NOT_FOUND, "User not found"),
            other => msg(other.status(), &other.detail()),
        }
    }

    fn unauthenticated(_: AuthFailure) -> Response {
        msg(StatusCode::UNAUTHORIZED, "invalid or expired token")
    }

    fn core(e: CoreError) -> Response {
        common(e)
    }
}

type Json<T> = Body<AuthAdmin, T>;
type Auth = Caller<AuthAdmin>;
type Id = Params<AuthAdmin, i64>;

fn user_json(u: &User) -> Value {
    json!({
        "id": u.id.0,
        "username": u.username,
        "created_at": u.created_at.to_rfc3339(),
        "is_admin": u.has_role(roles::ADMIN),
        "roles": u.roles,
    })
}

#[derive(Deserialize)]
struct LoginBody {
    username: Option<String>,
    password: Option<String>,
}

async fn login(
    State(st): State<AppState>,
    client: crate::api::Client,
    Body(b, ..): Json<LoginBody>,
) -> Response {
    let (Some(username), Some(password)) = (
        b.username.filter(|s| !s.is_empty()),
        b.password.filter(|s| !s.is_empty()),
    ) else {
        return msg(StatusCode::BAD_REQUEST, "username and password reqiuired");
    };
    match st.svc.login(&username, &password, &client.0).await {
        Ok(out) => wire::json(
            StatusCode::OK,
            json!({
                "token": out.tokens.access_token,
                "roles": out.user.roles,
                "is_admin": out.user.has_role(roles::ADMIN),
            }),
        ),
        Err(CoreError::InvalidCredentials) => msg(StatusCode::UNAUTHORIZED, "invalid credentials"),
        Err(CoreError::AccountDisabled) => msg(StatusCode::FORBIDDEN, "account disabled"),
        Err(CoreError::MfaRequired) => msg(StatusCode::UNAUTHORIZED, wire::MFA_REQUIRED),
        Err(CoreError::EmailNotVerified) => msg(StatusCode::FORBIDDEN, wire::EMAIL_NOT_VERIFIED),
        Err(e) => common(e),
    }
}

#[derive(Deserialize)]
struct CreateBody {
    username: Option<String>,
    password: Option<String>,
    #[serde(default)]
    is_admin: bool,
    #[serde(default)]
    roles: Vec<String>,
}

async fn create_user(
    State(st): State<AppState>,
    Caller(p, ..): Auth,
    Body(b, ..): Json<CreateBody>,
) -> Response {
    let admin = match st.svc.admin(&p) {
        Ok(a) => a,
        Err(e) => return deny(e, "only admins can create a new user"),
    };
    let (Some(username), Some(password)) = (
        b.username.filter(|s| !s.is_empty()),
        b.password.filter(|s| !s.is_empty()),
    ) else {
        return msg(StatusCode::BAD_REQUEST, " username and password required");
    };
    let mut roles = b.roles;
    if b.is_admin {
        roles.push(roles::ADMIN.to_owned());
    }
    // auth-admin has no email; the core requires a unique one, so the user gets an address
    // under the reserved `.invalid` domain (RFC 2606) that can never receive mail.
    let email = format!("{}@auth-admin.invalid", username.trim().to_lowercase());
    let account = NewAccount {
        username,
        email,
        password,
        roles,
        is_active: true,
        ..Default::default()
    };
    match admin.create_user(account).await {
        Ok(u) => wire::json(
            StatusCode::CREATED,
            json!({"message": "user created successfully", "user_id": u.id.0, "roles": u.roles}),
        ),
        Err(CoreError::Conflict(UniqueField::Email)) => {
            msg(StatusCode::CONFLICT, "username already exists")
        }
        Err(e) => common(e),
    }
}

async fn logout(State(st): State<AppState>, Caller(p, ..): Auth) -> Response {
    match st.svc.logout(&p).await {
        Ok(()) => msg(StatusCode::OK, "succesfully logged out"),
        Err(e) => common(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    page: Option<u64>,
    per_page: Option<u64>,
}

/// All users, oldest first. `page`/`per_page` are an extension (the origin had none);
/// without them every user is returned.
async fn list_users(
    State(st): State<AppState>,
    Caller(p, ..): Auth,
    QueryOf(q, ..): QueryOf<AuthAdmin, ListParams>,
) -> Response {
    let admin = match st.svc.admin(&p) {
        Ok(a) => a,
        Err(e) => return deny(e, "unauthorized - only admins can view user records"),
    };
    let page = match (q.page, q.per_page) {
        (None, None) => PageRequest::Offset {
            offset: 0,
            limit: u64::MAX >> 1,
        },
        (page, per_page) => {
            let (page, per_page) = (page.unwrap_or(1), per_page.unwrap_or(20));
            if page == 0 || !(1..=1000).contains(&per_page) {
                return msg(
                    StatusCode::BAD_REQUEST,
                    "page must be 1 or more and per_page 1 to 1000",
                );
            }
            PageRequest::Offset {
                offset: (page - 1).saturating_mul(per_page),
                limit: per_page,
            }
        }
    };
    match admin.list_users(&UserQuery::default(), &page).await {
        Ok(list) => wire::json(
            StatusCode::OK,
            json!({ "users": list.users.iter().map(user_json).collect::<Vec<_>>() }),
        ),
        Err(e) => common(e),
    }
}

async fn get_user(State(st): State<AppState>, Caller(p, ..): Auth, Params(id, ..): Id) -> Response {
    let admin = match st.svc.admin(&p) {
        Ok(a) => a,
        Err(e) => return deny(e, "Unauthorized - only admins can view user details"),
    };
    match admin.get_user(UserId(id)).await {
        Ok(u) => wire::json(StatusCode::OK, json!({ "user": [user_json(&u)] })),
        Err(e) => common(e),
    }
}

#[derive(Deserialize)]
struct RolesBody {
    roles: Option<Vec<String>>,
}

async fn update_roles(
    State(st): State<AppState>,
    Caller(p, ..): Auth,
    Params(id, ..): Id,
    Body(b, ..): Json<RolesBody>,
) -> Response {
    let admin = match st.svc.admin(&p) {
        Ok(a) => a,
        Err(e) => return deny(e, "unauthorized - only admins can update user roles"),
    };
    let Some(roles) = b.roles.filter(|r| !r.is_empty()) else {
        return msg(StatusCode::BAD_REQUEST, "roles are required");
    };
    match admin.set_user_roles(UserId(id), &roles).await {
        Ok(u) => wire::json(
            StatusCode::OK,
            json!({"message": "user roles updated successfully", "roles": u.roles}),
        ),
        Err(CoreError::NotFound(_)) => msg(StatusCode::NOT_FOUND, "user not found"),
        Err(e) => common(e),
    }
}

async fn delete_user(
    State(st): State<AppState>,
    Caller(p, ..): Auth,
    Params(id, ..): Id,
) -> Response {
    let admin = match st.svc.admin(&p) {
        Ok(a) => a,
        Err(e) => return deny(e, "unauthorized- only admins can delete users"),
    };
    match admin.delete_user(UserId(id)).await {
        Ok(()) => msg(StatusCode::OK, "user deleted sucessfully"),
        Err(CoreError::SelfDelete) => {
            msg(StatusCode::BAD_REQUEST, "cannot delete your own account")
        }
        Err(e) => common(e),
    }
}
