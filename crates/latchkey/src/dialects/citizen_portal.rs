//! citizen-portal (`shared/specs/citizen-portal.txt`): a NestJS auth API with citizen
//! profiles. Errors in Nest's envelope. `super_admin` is an administrator here. See
//! `docs/dialects/citizen-portal.md`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use super::nest;
use super::wire::{self, Body, Caller, Params, Reject, Wire};
use crate::api::Client;
use crate::core::error::{AuthFailure, CoreError, Reason, UniqueField};
use crate::core::model::{Profile, ProfilePatch, RoleId, User, UserId};
use crate::core::roles;
use crate::core::service::{NewAccount, SignupPolicy, UserPatch};
use crate::http::AppState;

use super::routes::Routes;
use super::Dialect;

/// This dialect's entry in [`super::ALL`].
pub const DIALECT: Dialect = Dialect {
    name: "citizen-portal",
    routes,
    route_error,
};

fn routes() -> Routes {
    Routes::new()
        .post("/auth/login", login)
        .post("/auth/register", register)
        .get("/auth/profile", profile)
        .post("/auth/update-profile", update_profile)
        .post("/auth/admin/update-user/{userId}", admin_update_user)
}

/// Public sign-up as `citizen`, which is also the default role.
const REGISTER: SignupPolicy<'static> = SignupPolicy {
    default_role: roles::CITIZEN,
    public: true,
    registrars: &[],
    existing_roles_only: false,
    min_username_chars: 1,
};

/// Roles that administer users here, besides `admin` (CONTRACT.md).
const ADMIN_ROLES: &[&str] = &[roles::SUPER_ADMIN];

pub struct CitizenPortal;

/// A path under this dialect's prefix that it does not serve (404), or a method it does
/// not take there (405).
pub fn route_error(status: StatusCode) -> Response {
    let reason = status.canonical_reason().unwrap_or("Error");
    nest::error(status, reason)
}

fn common(e: CoreError) -> Response {
    match e {
        CoreError::Conflict(UniqueField::Email) => {
            nest::error(StatusCode::CONFLICT, "Email already exists")
        }
        CoreError::Conflict(_) => nest::error(StatusCode::CONFLICT, "Username already exists"),
        CoreError::Invalid { field: "email", .. } => {
            nest::error(StatusCode::BAD_REQUEST, "Invalid email format")
        }
        CoreError::Invalid {
            field: "password",
            reason,
        } => {
            let message = match reason {
                Reason::TooShort { .. } => "Password must be at least 8 characters long".to_owned(),
                other => format!("Password {other}"),
            };
            nest::error(StatusCode::BAD_REQUEST, message)
        }
        other => nest::shared(other),
    }
}

impl Wire for CitizenPortal {
    fn reject(r: Reject) -> Response {
        nest::reject(r)
    }
    fn unauthenticated(_: AuthFailure) -> Response {
        nest::error(StatusCode::UNAUTHORIZED, "Unauthorized")
    }
    fn core(e: CoreError) -> Response {
        common(e)
    }
}

type Json<T> = Body<CitizenPortal, T>;
type Auth = Caller<CitizenPortal>;

/// The default role when it is one the user holds, else the first of their roles.
fn default_role(u: &User) -> Option<&str> {
    u.default_role
        .as_deref()
        .filter(|d| u.has_role(d))
        .or_else(|| u.roles.first().map(String::as_str))
}

/// The user object of login and register.
fn brief(u: &User) -> Value {
    json!({
        "id": u.id.0,
        "email": u.email,
        "username": u.username,
        "firstName": u.profile.first_name,
        "lastName": u.profile.last_name,
        "name": u.profile.full_name(),
        "roles": u.roles,
        "defaultRole": default_role(u),
    })
}

/// The user object of profile and the updates.
fn full(u: &User) -> Value {
    json!({
        "id": u.id.0,
        "email": u.email,
        "username": u.username,
        "firstName": u.profile.first_name,
        "middleName": u.profile.middle_name,
        "lastName": u.profile.last_name,
        "nameExtension": u.profile.name_extension,
        "contactNumber": u.profile.contact_number,
        "name": u.profile.full_name(),
        "roles": u.roles,
        "defaultRole": default_role(u),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoginBody {
    email_or_username: String,
    password: String,
}

async fn login(
    State(st): State<AppState>,
    Client(client): Client,
    Body(b, ..): Json<LoginBody>,
) -> Response {
    match st
        .svc
        .login(&b.email_or_username, &b.password, &client)
        .await
    {
        Ok(out) => wire::json(
            StatusCode::OK,
            json!({"access_token": out.tokens.access_token, "user": brief(&out.user)}),
        ),
        Err(e) => common(e),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisterBody {
    email: String,
    username: String,
    password: String,
    first_name: String,
    middle_name: Option<String>,
    last_name: String,
    name_extension: Option<String>,
    contact_number: Option<String>,
}

async fn register(
    State(st): State<AppState>,
    Client(client): Client,
    Body(b, ..): Json<RegisterBody>,
) -> Response {
    let account = NewAccount {
        username: b.username,
        email: b.email,
        password: b.password,
        profile: Profile {
            first_name: Some(b.first_name),
            middle_name: b.middle_name,
            last_name: Some(b.last_name),
            name_extension: b.name_extension,
            contact_number: b.contact_number,
            ..Default::default()
        },
        ..Default::default()
    };
    match st
        .svc
        .sign_up_and_login(None, &REGISTER, account, &client)
        .await
    {
        Ok(out) => wire::json(
            StatusCode::CREATED,
            json!({"access_token": out.tokens.access_token, "user": brief(&out.user)}),
        ),
        Err(e) => common(e),
    }
}

async fn profile(State(st): State<AppState>, Caller(p, ..): Auth) -> Response {
    match st.svc.me(&p).await {
        Ok(u) => wire::json(StatusCode::OK, full(&u)),
        Err(e) => common(e),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateBody {
    email: Option<String>,
    username: Option<String>,
    password: Option<String>,
    first_name: Option<String>,
    middle_name: Option<String>,
    last_name: Option<String>,
    name_extension: Option<String>,
    contact_number: Option<String>,
    address: Option<String>,
}

/// The admin's update: the profile fields plus roles. (Fields an endpoint does not know are
/// ignored, as Nest's whitelisting ValidationPipe does.)
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AdminBody {
    #[serde(flatten)]
    fields: UpdateBody,
    default_role_id: Option<i64>,
    role_ids: Option<Vec<i64>>,
}

impl UpdateBody {
    fn patch(&mut self) -> UserPatch {
        UserPatch {
            username: self.username.take(),
            email: self.email.take(),
            profile: ProfilePatch {
                first_name: self.first_name.take().map(Some),
                middle_name: self.middle_name.take().map(Some),
                last_name: self.last_name.take().map(Some),
                name_extension: self.name_extension.take().map(Some),
                contact_number: self.contact_number.take().map(Some),
                address: self.address.take().map(Some),
                display_name: None,
            },
            ..Default::default()
        }
    }
}

async fn update_profile(
    State(st): State<AppState>,
    Caller(p, ..): Auth,
    Client(client): Client,
    Body(mut b, ..): Json<UpdateBody>,
) -> Response {
    let patch = b.patch();
    match st
        .svc
        .update_own_profile(&p, patch, b.password.as_deref(), &client)
        .await
    {
        Ok(u) => wire::json(StatusCode::OK, full(&u)),
        Err(e) => common(e),
    }
}

async fn admin_update_user(
    State(st): State<AppState>,
    Caller(p, ..): Auth,
    Params(id, ..): Params<CitizenPortal, i64>,
    Body(mut b, ..): Json<AdminBody>,
) -> Response {
    let patch = b.fields.patch();
    let role_ids: Option<Vec<RoleId>> = b
        .role_ids
        .take()
        .map(|ids| ids.into_iter().map(RoleId).collect());
    let admin = match st.svc.administrator(&p, ADMIN_ROLES) {
        Ok(a) => a,
        Err(e) => return common(e),
    };
    match admin
        .update_user_fully(
            &st.citizen_portal_role_ids,
            UserId(id),
            patch,
            b.fields.password.as_deref(),
            role_ids.as_deref(),
            b.default_role_id.map(RoleId),
        )
        .await
    {
        Ok(u) => wire::json(StatusCode::OK, full(&u)),
        Err(e) => common(e),
    }
}
