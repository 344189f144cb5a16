//! org-users (`shared/specs/org-users.txt`): a NestJS user API with organizations, under the
//! base path `/users`. Errors in Nest's envelope; registration problems are 412s, as
//! described. See `docs/dialects/org-users.md`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::nest;
use super::wire::{self, Body, Caller, Params, Reject, Wire};
use crate::api::Client;
use crate::core::error::{AuthFailure, CoreError, Reason};
use crate::core::model::{PageRequest, User, UserQuery};
use crate::core::roles;
use crate::core::service::{NewAccount, SignupPolicy};
use crate::http::AppState;

use super::routes::Routes;
use super::Dialect;

/// This dialect's entry in [`super::ALL`].
pub const DIALECT: Dialect = Dialect {
    name: "org-users",
    routes,
    route_error,
};

fn routes() -> Routes {
    Routes::new()
        .post("/users/login", login)
        .post("/users/logout", logout)
        .post("/users/register", register)
        .get("/users", list)
        .delete("/users", delete_all)
        .get("/users/", list)
        .delete("/users/", delete_all)
        .get("/users/{username}", get_one)
}

/// Registration: admins and `pi`; only existing roles; usernames of 8 or more characters.
const REGISTER: SignupPolicy<'static> = SignupPolicy {
    default_role: roles::USER,
    public: false,
    registrars: &[roles::PI],
    existing_roles_only: true,
    min_username_chars: 8,
};

pub struct OrgUsers;

/// A path under this dialect's prefix that it does not serve (404), or a method it does
/// not take there (405).
pub fn route_error(status: StatusCode) -> Response {
    let reason = status.canonical_reason().unwrap_or("Error");
    nest::error(status, reason)
}

fn common(e: CoreError) -> Response {
    match e {
        CoreError::Unauthenticated(why) => OrgUsers::unauthenticated(why),
        CoreError::Conflict(_) => nest::error(
            StatusCode::PRECONDITION_FAILED,
            "Username or email already exists",
        ),
        CoreError::UnknownRole { valid } => nest::error(
            StatusCode::PRECONDITION_FAILED,
            format!("Invalid role. Valid roles are: {}", valid.join(", ")),
        ),
        CoreError::Invalid {
            field: "password",
            reason,
        } => {
            let message = match reason {
                Reason::TooShort { .. } => "Password must be at least 8 characters long".to_owned(),
                other => format!("Password {other}"),
            };
            nest::error(StatusCode::PRECONDITION_FAILED, message)
        }
        CoreError::Invalid {
            field: "username",
            reason: Reason::TooShort { .. },
        } => nest::error(
            StatusCode::PRECONDITION_FAILED,
            "Username must be at least 8 characters long",
        ),
        CoreError::Invalid { field: "email", .. } => {
            nest::error(StatusCode::BAD_REQUEST, json!(["email must be an email"]))
        }
        CoreError::Invalid { field, reason } => nest::error(
            StatusCode::BAD_REQUEST,
            json!([format!("{field} {reason}")]),
        ),
        other => nest::shared(other),
    }
}

impl Wire for OrgUsers {
    fn reject(r: Reject) -> Response {
        nest::reject(r)
    }
    fn unauthenticated(why: AuthFailure) -> Response {
        let message = if why == AuthFailure::SessionEnded {
            "Token has been revoked"
        } else {
            "Unauthorized"
        };
        nest::error(StatusCode::UNAUTHORIZED, message)
    }
    fn core(e: CoreError) -> Response {
        common(e)
    }
}

type Json<T> = Body<OrgUsers, T>;
type Auth = Caller<OrgUsers>;

fn user_json(u: &User) -> Value {
    let name = u
        .profile
        .display_name
        .clone()
        .unwrap_or_else(|| u.profile.full_name());
    json!({
        "id": u.uuid,
        "name": name,
        "email": u.email,
        "username": u.username,
        "roles": u.roles,
        "organization": u.organization.as_ref().map(|o| json!({"id": o.uuid, "name": o.name})),
    })
}

/// Presence and type checks of Nest's ValidationPipe: one message per problem.
fn required(fields: &[(&str, &Option<String>)]) -> Option<Response> {
    let missing: Vec<String> = fields
        .iter()
        .filter(|(_, v)| v.as_deref().is_none_or(|s| s.trim().is_empty()))
        .map(|(k, _)| format!("{k} should not be empty"))
        .collect();
    (!missing.is_empty()).then(|| nest::error(StatusCode::BAD_REQUEST, json!(missing)))
}

#[derive(Deserialize)]
struct LoginBody {
    username: Option<String>,
    password: Option<String>,
}

async fn login(
    State(st): State<AppState>,
    Client(client): Client,
    Body(b, ..): Json<LoginBody>,
) -> Response {
    if let Some(r) = required(&[("username", &b.username), ("password", &b.password)]) {
        return r;
    }
    let (username, password) = (
        b.username.unwrap_or_default(),
        b.password.unwrap_or_default(),
    );
    match st.svc.login(&username, &password, &client).await {
        Ok(out) => wire::json(
            StatusCode::CREATED,
            json!({"token": out.tokens.access_token}),
        ),
        Err(e) => common(e),
    }
}

async fn logout(State(st): State<AppState>, Caller(p, ..): Auth) -> Response {
    match st.svc.logout(&p).await {
        Ok(()) => wire::json(StatusCode::OK, json!({"message": "Logout successful"})),
        Err(e) => common(e),
    }
}

#[derive(Deserialize)]
struct RegisterBody {
    name: Option<String>,
    email: Option<String>,
    username: Option<String>,
    password: Option<String>,
    role: Option<String>,
}

async fn register(
    State(st): State<AppState>,
    Caller(p, ..): Auth,
    Client(client): Client,
    Body(b, ..): Json<RegisterBody>,
) -> Response {
    if let Some(r) = required(&[
        ("name", &b.name),
        ("email", &b.email),
        ("username", &b.username),
        ("password", &b.password),
        ("role", &b.role),
    ]) {
        return r;
    }
    // "ADMIN, PI": a comma-separated list is accepted too.
    let roles: Vec<String> = b
        .role
        .unwrap_or_default()
        .split(',')
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .collect();
    let account = NewAccount {
        username: b.username.unwrap_or_default(),
        email: b.email.unwrap_or_default(),
        password: b.password.unwrap_or_default(),
        profile: crate::core::model::Profile {
            display_name: b.name,
            ..Default::default()
        },
        roles,
        ..Default::default()
    };
    match st.svc.sign_up(Some(&p), &REGISTER, account, &client).await {
        Ok(u) => wire::json(StatusCode::CREATED, user_json(&u)),
        Err(e) => common(e),
    }
}

async fn list(State(st): State<AppState>, Caller(p, ..): Auth) -> Response {
    let all = PageRequest::Offset {
        offset: 0,
        limit: u64::MAX >> 1,
    };
    match st
        .svc
        .member(&p)
        .list_users_as_member(&UserQuery::default(), &all)
        .await
    {
        Ok(page) => wire::json(
            StatusCode::OK,
            json!(page.users.iter().map(user_json).collect::<Vec<_>>()),
        ),
        Err(e) => common(e),
    }
}

async fn get_one(
    State(st): State<AppState>,
    Caller(p, ..): Auth,
    Params(who, ..): Params<OrgUsers, String>,
) -> Response {
    match st.svc.member(&p).find_user(&who).await {
        Ok(u) => wire::json(StatusCode::OK, user_json(&u)),
        Err(e) => common(e),
    }
}

async fn delete_all(State(st): State<AppState>, Caller(p, ..): Auth) -> Response {
    let admin = match st.svc.admin(&p) {
        Ok(a) => a,
        Err(e) => return common(e),
    };
    match admin.delete_all_users().await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => common(e),
    }
}
