//! user-profiles (`shared/specs/user-profiles.txt`): profiles with sign-up returning a JWT.
//! Envelope `{"error": …}`. See `docs/dialects/user-profiles.md` for every reading of the
//! description's loose ends.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use super::wire::{self, Body, Caller, MaybeCaller, Params, QueryOf, Reject, Wire};
use crate::api::Client;
use crate::core::error::{AuthFailure, CoreError, Reason};
use crate::core::model::{PageRequest, Profile, ProfilePatch, User, UserId, UserQuery};
use crate::core::service::{NewAccount, SignupPolicy, UserPatch};
use crate::core::{roles, validate};
use crate::http::AppState;

use super::routes::Routes;
use super::Dialect;

/// This dialect's entry in [`super::ALL`].
pub const DIALECT: Dialect = Dialect {
    name: "user-profiles",
    routes,
    route_error,
};

fn routes() -> Routes {
    Routes::new()
        .post("/users", create_user)
        .get("/users/pagination", list_users)
        .get("/users/{user_id}", get_user)
        .put("/users/update/{user_id}", update_user)
        .put("/users/update_password/{user_id}", update_password)
        .post("/login", login)
        .post("/logout", logout)
        .get("/protected", protected)
}

/// Sign-up is public for `user`; `moderator` and `admin` need an admin's token.
const SIGNUP: SignupPolicy<'static> = SignupPolicy {
    default_role: roles::USER,
    public: true,
    registrars: &[],
    existing_roles_only: false,
    min_username_chars: 1,
};

fn err(status: StatusCode, message: &str) -> Response {
    wire::json(status, json!({ "error": message }))
}

/// A path under this dialect's prefix that it does not serve (404), or a method it does
/// not take there (405).
pub fn route_error(status: StatusCode) -> Response {
    let reason = status.canonical_reason().unwrap_or("Error");
    err(status, reason)
}

const INCORRECT: &str = "Incorrect field";
/// user-profiles' middle role (its description's own; no right elsewhere).
const MODERATOR: &str = "moderator";
const INVALID_BODY: &str = "Invalid request body";

fn common(e: CoreError) -> Response {
    wire::log_internal(&e);
    match e {
        CoreError::Unauthenticated(_) => err(
            StatusCode::UNAUTHORIZED,
            "Unauthorized: User authentication failed",
        ),
        CoreError::Forbidden(_) => err(StatusCode::FORBIDDEN, "Forbidden"),
        CoreError::NotFound(_) => err(StatusCode::NOT_FOUND, "User not found"),
        CoreError::Conflict(_) => err(StatusCode::CONFLICT, INVALID_BODY),
        // The description has one 400 message; a refused common password (which its origin
        // did not check) says why after it, so the user can act on it.
        CoreError::Invalid {
            field: "password",
            reason: reason @ Reason::TooCommon,
        } => err(
            StatusCode::BAD_REQUEST,
            &format!("{INCORRECT}: password {reason}"),
        ),
        CoreError::Invalid { .. } | CoreError::UnknownRole { .. } => {
            err(StatusCode::BAD_REQUEST, INCORRECT)
        }
        CoreError::WrongPassword => err(
            StatusCode::BAD_REQUEST,
            "Invalid request: Old password is incorrect",
        ),
        CoreError::InvalidCredentials => err(StatusCode::UNAUTHORIZED, "Invalid credentials"),
        CoreError::AccountDisabled => err(StatusCode::FORBIDDEN, "Account disabled"),
        CoreError::MfaRequired => err(StatusCode::UNAUTHORIZED, wire::MFA_REQUIRED),
        CoreError::EmailNotVerified => err(StatusCode::FORBIDDEN, wire::EMAIL_NOT_VERIFIED),
        CoreError::RateLimited { retry_after } => wire::retry_after(
            err(StatusCode::TOO_MANY_REQUESTS, "Too many requests"),
            retry_after,
        ),
        CoreError::Unavailable => err(StatusCode::SERVICE_UNAVAILABLE, "Service unavailable"),
        _ => err(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error"),
    }
}

fn reject(r: Reject) -> Response {
    match r {
        // The description answers an unreadable body with 409 "Invalid request body".
        Reject::Syntax(_) | Reject::ContentType => err(StatusCode::CONFLICT, INVALID_BODY),
        Reject::TooLarge => err(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large"),
        Reject::Query(_) => err(StatusCode::BAD_REQUEST, "wrong parameters page, per_page"),
        Reject::Data(_) | Reject::Path(_) => err(StatusCode::BAD_REQUEST, INCORRECT),
    }
}

/// Profile endpoints: a refused token is "Unauthorized: User authentication failed".
pub struct UserProfiles;

impl Wire for UserProfiles {
    fn reject(r: Reject) -> Response {
        reject(r)
    }
    fn unauthenticated(_: AuthFailure) -> Response {
        err(
            StatusCode::UNAUTHORIZED,
            "Unauthorized: User authentication failed",
        )
    }
    fn core(e: CoreError) -> Response {
        common(e)
    }
}

/// `/logout` and `/protected`: a refused token is "Invalid or expired token".
pub struct TokenCheck;

impl Wire for TokenCheck {
    fn reject(r: Reject) -> Response {
        reject(r)
    }
    fn unauthenticated(_: AuthFailure) -> Response {
        err(StatusCode::UNAUTHORIZED, "Invalid or expired token")
    }
    fn core(e: CoreError) -> Response {
        common(e)
    }
}

type Json<T> = Body<UserProfiles, T>;
type Id = Params<UserProfiles, i64>;

/// The one role shown: the most privileged of admin, moderator, user; else the first.
fn shown_role(u: &User) -> &str {
    ["admin", "moderator", "user"]
        .into_iter()
        .find(|r| u.has_role(r))
        .or_else(|| u.roles.first().map(String::as_str))
        .unwrap_or("")
}

fn or_empty(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("")
}

fn profile_json(u: &User) -> Value {
    json!({
        "id": u.id.0,
        "email": u.email,
        "user_name": u.username,
        "first_name": or_empty(&u.profile.first_name),
        "last_name": or_empty(&u.profile.last_name),
        "role": shown_role(u),
    })
}

#[derive(Deserialize)]
struct CreateBody {
    email: String,
    user_name: String,
    first_name: Option<String>,
    last_name: Option<String>,
    password: String,
    /// `user`, `moderator` or `admin`, compared case-insensitively (CONTRACT.md).
    role: Option<String>,
}

async fn create_user(
    State(st): State<AppState>,
    MaybeCaller(actor, ..): MaybeCaller<UserProfiles>,
    Client(client): Client,
    Body(b, ..): Json<CreateBody>,
) -> Response {
    // The description offers three roles; the core folds their case.
    let role = match b.role.as_deref().map(validate::role_name) {
        None => roles::USER.to_owned(),
        Some(Ok(r)) if [roles::USER, MODERATOR, roles::ADMIN].contains(&r.as_str()) => r,
        Some(_) => return err(StatusCode::BAD_REQUEST, INCORRECT),
    };
    let account = NewAccount {
        username: b.user_name,
        email: b.email,
        password: b.password,
        profile: Profile {
            first_name: b.first_name,
            last_name: b.last_name,
            ..Default::default()
        },
        roles: vec![role],
        ..Default::default()
    };
    match st
        .svc
        .sign_up_and_login(actor.as_ref(), &SIGNUP, account, &client)
        .await
    {
        Ok(out) => wire::json(
            StatusCode::CREATED,
            json!({ "JWT": out.tokens.access_token }),
        ),
        Err(e) => common(e),
    }
}

async fn get_user(
    State(st): State<AppState>,
    Caller(p, ..): Caller<UserProfiles>,
    Params(id, ..): Id,
) -> Response {
    match st.svc.get_user(&p, UserId(id)).await {
        Ok(u) => wire::json(StatusCode::OK, profile_json(&u)),
        Err(e) => common(e),
    }
}

#[derive(Deserialize)]
struct UpdateBody {
    email: Option<String>,
    user_name: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
}

async fn update_user(
    State(st): State<AppState>,
    Caller(p, ..): Caller<UserProfiles>,
    Params(id, ..): Id,
    Body(b, ..): Json<UpdateBody>,
) -> Response {
    let patch = UserPatch {
        username: b.user_name,
        email: b.email,
        profile: ProfilePatch {
            first_name: b.first_name.map(Some),
            last_name: b.last_name.map(Some),
            ..Default::default()
        },
        ..Default::default()
    };
    match st.svc.update_user(&p, UserId(id), patch).await {
        Ok(u) => wire::json(StatusCode::OK, json!({ "id": u.id.0 })),
        Err(e) => common(e),
    }
}

#[derive(Deserialize)]
struct PasswordBody {
    existing_password: String,
    password: String,
}

async fn update_password(
    State(st): State<AppState>,
    Caller(p, ..): Caller<UserProfiles>,
    Params(id, ..): Id,
    Client(client): Client,
    Body(b, ..): Json<PasswordBody>,
) -> Response {
    match st
        .svc
        .change_password(&p, UserId(id), &b.existing_password, &b.password, &client)
        .await
    {
        Ok(()) => wire::json(
            StatusCode::OK,
            json!({"message": "Password updated successfully"}),
        ),
        Err(e) => common(e),
    }
}

#[derive(Deserialize)]
struct PageParams {
    page: Option<String>,
    per_page: Option<String>,
}

async fn list_users(
    State(st): State<AppState>,
    Caller(p, ..): Caller<UserProfiles>,
    QueryOf(q, ..): QueryOf<UserProfiles, PageParams>,
) -> Response {
    let parse = |v: &Option<String>, default: u64| match v {
        None => Some(default),
        Some(s) => s.trim().parse::<u64>().ok(),
    };
    let (Some(page), Some(per_page)) = (parse(&q.page, 1), parse(&q.per_page, 10)) else {
        return err(StatusCode::BAD_REQUEST, "wrong parameters page, per_page");
    };
    if page == 0 || !(1..=100).contains(&per_page) {
        return err(StatusCode::BAD_REQUEST, "wrong parameters page, per_page");
    }
    let req = PageRequest::Offset {
        offset: (page - 1).saturating_mul(per_page),
        limit: per_page,
    };
    match st
        .svc
        .member(&p)
        .list_users_as_member(&UserQuery::default(), &req)
        .await
    {
        Ok(list) => wire::json(
            StatusCode::OK,
            json!({
                "users": list.users.iter().map(|u| json!({
                    "id": u.id.0,
                    "email": u.email,
                    "user_name": u.username,
                    "first_name": or_empty(&u.profile.first_name),
                    "last_name": or_empty(&u.profile.last_name),
                })).collect::<Vec<_>>(),
                "page": page,
                "per_page": per_page,
                "total_users": list.total,
            }),
        ),
        Err(e) => common(e),
    }
}

#[derive(Deserialize)]
struct LoginBody {
    email: String,
    password: String,
}

async fn login(
    State(st): State<AppState>,
    Client(client): Client,
    Body(b, ..): Json<LoginBody>,
) -> Response {
    if b.email.trim().is_empty() || b.password.is_empty() {
        return err(StatusCode::BAD_REQUEST, INCORRECT);
    }
    match st.svc.login(&b.email, &b.password, &client).await {
        Ok(out) => {
            // RFC 3339 without fractional seconds, as the description shows.
            let exp = out.tokens.access_expires_at.to_rfc3339();
            let exp = format!("{}Z", exp.split('.').next().unwrap_or(&exp));
            wire::json(
                StatusCode::OK,
                json!({"access_token": out.tokens.access_token, "expires_at": exp}),
            )
        }
        Err(e) => common(e),
    }
}

async fn logout(State(st): State<AppState>, Caller(p, ..): Caller<TokenCheck>) -> Response {
    match st.svc.logout(&p).await {
        Ok(()) => wire::json(StatusCode::OK, json!({"message": "Logout successful"})),
        Err(e) => common(e),
    }
}

async fn protected(Caller(_p, ..): Caller<TokenCheck>) -> Response {
    wire::json(StatusCode::OK, json!({"message": "Token is valid"}))
}
