//! Wire types of the native API. Requests reject unknown fields, so a typo is an error
//! rather than a silently ignored field.

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::core::model::{
    Assignment, OrgRef, Organization, Profile, ProfilePatch, Role, Session, Timestamp, User,
};
use crate::core::service::UserPatch;

/// `null` and absent differ: absent leaves a field alone, `null` clears it.
fn double<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

pub fn ts(t: Timestamp) -> String {
    t.to_rfc3339()
}

// ----- users ------------------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct OrgRefDto {
    pub id: i64,
    pub uuid: String,
    pub name: String,
}

impl From<&OrgRef> for OrgRefDto {
    fn from(o: &OrgRef) -> Self {
        OrgRefDto {
            id: o.id.0,
            uuid: o.uuid.clone(),
            name: o.name.clone(),
        }
    }
}

/// A user. Never carries a password or its hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserDto {
    pub id: i64,
    pub uuid: String,
    pub username: String,
    pub email: String,
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    pub last_name: Option<String>,
    pub name_extension: Option<String>,
    pub display_name: Option<String>,
    pub contact_number: Option<String>,
    pub address: Option<String>,
    pub organization: Option<OrgRefDto>,
    pub is_active: bool,
    /// Has a confirmed second factor (details: `/v1/users/{id}/mfa`).
    pub mfa_enabled: bool,
    /// The address was proved by a mailed link (changing it any other way clears this).
    pub email_verified: bool,
    /// Names of the user's active roles, sorted.
    pub roles: Vec<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub updated_at: String,
}

impl From<User> for UserDto {
    fn from(u: User) -> Self {
        UserDto {
            id: u.id.0,
            uuid: u.uuid,
            username: u.username,
            email: u.email,
            first_name: u.profile.first_name,
            middle_name: u.profile.middle_name,
            last_name: u.profile.last_name,
            name_extension: u.profile.name_extension,
            display_name: u.profile.display_name,
            contact_number: u.profile.contact_number,
            address: u.profile.address,
            organization: u.organization.as_ref().map(OrgRefDto::from),
            is_active: u.is_active,
            mfa_enabled: u.mfa_enabled,
            email_verified: u.email_verified,
            roles: u.roles,
            created_at: ts(u.created_at),
            updated_at: ts(u.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub username: String,
    pub email: String,
    /// 8 to 1024 bytes.
    pub password: String,
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    pub last_name: Option<String>,
    pub name_extension: Option<String>,
    pub display_name: Option<String>,
    pub contact_number: Option<String>,
    pub address: Option<String>,
}

impl RegisterRequest {
    pub fn profile(&self) -> Profile {
        Profile {
            first_name: self.first_name.clone(),
            middle_name: self.middle_name.clone(),
            last_name: self.last_name.clone(),
            name_extension: self.name_extension.clone(),
            display_name: self.display_name.clone(),
            contact_number: self.contact_number.clone(),
            address: self.address.clone(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub username: String,
    pub email: String,
    pub password: String,
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    pub last_name: Option<String>,
    pub name_extension: Option<String>,
    pub display_name: Option<String>,
    pub contact_number: Option<String>,
    pub address: Option<String>,
    /// Role names; roles that do not exist yet are created.
    #[serde(default)]
    pub roles: Vec<String>,
    pub organization_id: Option<i64>,
    /// Defaults to true.
    pub is_active: Option<bool>,
}

/// A partial update: absent fields are left alone, `null` clears an optional field.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    pub username: Option<String>,
    pub email: Option<String>,
    #[serde(default, deserialize_with = "double")]
    #[schema(value_type = Option<String>)]
    pub first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double")]
    #[schema(value_type = Option<String>)]
    pub middle_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double")]
    #[schema(value_type = Option<String>)]
    pub last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double")]
    #[schema(value_type = Option<String>)]
    pub name_extension: Option<Option<String>>,
    #[serde(default, deserialize_with = "double")]
    #[schema(value_type = Option<String>)]
    pub display_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double")]
    #[schema(value_type = Option<String>)]
    pub contact_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "double")]
    #[schema(value_type = Option<String>)]
    pub address: Option<Option<String>>,
    /// Admins only. `null` removes the user from their organization.
    #[serde(default, deserialize_with = "double")]
    #[schema(value_type = Option<i64>)]
    pub organization_id: Option<Option<i64>>,
    /// Admins only.
    pub is_active: Option<bool>,
}

impl From<UpdateUserRequest> for UserPatch {
    fn from(r: UpdateUserRequest) -> Self {
        UserPatch {
            username: r.username,
            email: r.email,
            profile: ProfilePatch {
                first_name: r.first_name,
                middle_name: r.middle_name,
                last_name: r.last_name,
                name_extension: r.name_extension,
                display_name: r.display_name,
                contact_number: r.contact_number,
                address: r.address,
            },
            organization: r.organization_id.map(|o| o.map(crate::core::model::OrgId)),
            is_active: r.is_active,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    /// 8 to 1024 bytes.
    pub new_password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPasswordRequest {
    /// 8 to 1024 bytes.
    pub password: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UserListParams {
    /// Page number, from 1 (offset pagination). Not with `cursor`.
    pub page: Option<u64>,
    /// Page size, 1 to 100 (default 20).
    pub per_page: Option<u64>,
    /// Keyset pagination: the `next_cursor` of the previous page (`""` for the first page).
    pub cursor: Option<String>,
    /// Free text over username, email and names (case-insensitive substring).
    pub q: Option<String>,
    /// Only users holding this active role.
    pub role: Option<String>,
    /// Only members of this organization.
    pub organization_id: Option<i64>,
    /// Only active (true) or disabled (false) accounts.
    pub active: Option<bool>,
    /// Only users whose imported password hash is weak (MD5/SHA-1, accepted at import with
    /// `accept_weak_hashes`): the ones to make reset (docs/import.md).
    pub weak_password_hash: Option<bool>,
    /// `id`, `username`, `email` or `created_at`; prefix `-` for descending. Default `id`.
    pub sort: Option<String>,
    /// Count every match of a filtered list (`q`, `role`, …), however many. By default a
    /// filtered list counts up to 1,000 and says `total_relation: "gte"` beyond that.
    pub exact_total: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserListResponse {
    pub items: Vec<UserDto>,
    /// Users matching the filters, on all pages: exact when `total_relation` is `eq`; when
    /// it is `gte` (a filtered list with more than 1,000 matches, unless `exact_total=true`),
    /// `total` is 1,000 and there are more.
    pub total: u64,
    /// `eq` or `gte`.
    #[schema(example = "eq")]
    pub total_relation: &'static str,
    /// Present with offset pagination.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u64>,
    pub per_page: u64,
    /// Present with keyset pagination while more rows may follow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

// ----- auth -----------------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Username or email (case-insensitive). Also accepted as `username` or `email`.
    #[serde(alias = "username", alias = "email")]
    pub identifier: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// An Ed25519-signed JWT (`typ: at+jwt`).
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// When the access token expires (RFC 3339).
    pub expires_at: String,
    /// Opaque; exchange it at `/v1/auth/refresh`. Each one works once.
    pub refresh_token: String,
    pub session_id: String,
    /// When the session ends at the latest (RFC 3339).
    pub session_expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserDto>,
    /// After a login with a recovery code: how many are left.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_codes_remaining: Option<u32>,
    /// Present (true) when the user's role requires a second factor they have not
    /// enrolled: the session reaches only `GET /v1/me`, `/v1/me/mfa*` and logout until one
    /// is confirmed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub mfa_enrollment_required: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionDto {
    pub id: String,
    pub created_at: String,
    pub last_used_at: String,
    pub expires_at: String,
    pub user_agent: Option<String>,
    pub client_ip: Option<String>,
    /// The OAuth client the session was opened for (its tokens are that client's); absent
    /// for sign-ins through the API, a dialect or the hosted pages.
    pub client_id: Option<String>,
    /// True for the session of the token making this request.
    pub current: bool,
}

impl SessionDto {
    pub fn new(s: Session, current: &str) -> Self {
        SessionDto {
            current: s.id.0 == current,
            id: s.id.0,
            created_at: ts(s.created_at),
            last_used_at: ts(s.last_used_at),
            expires_at: ts(s.expires_at),
            user_agent: s.user_agent,
            client_ip: s.client_ip,
            client_id: s.client_id,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EndedSessions {
    /// How many sessions were ended.
    pub ended: u64,
}

// ----- roles and assignments ----------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct RoleDto {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    /// Built-in roles cannot be renamed or deleted.
    pub builtin: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Role> for RoleDto {
    fn from(r: Role) -> Self {
        RoleDto {
            id: r.id.0,
            name: r.name,
            description: r.description,
            builtin: r.builtin,
            created_at: ts(r.created_at),
            updated_at: ts(r.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoleRequest {
    /// `[a-z0-9_-]{1,64}`; compared case-insensitively, stored lowercase.
    pub name: String,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRoleRequest {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssignmentDto {
    pub id: i64,
    pub user_id: i64,
    pub role_id: i64,
    pub role: String,
    /// Only active assignments grant anything.
    pub is_active: bool,
    pub created_at: String,
    /// Id of the user who created it (`null` when created at bootstrap).
    pub created_by: Option<String>,
    pub updated_at: Option<String>,
    pub updated_by: Option<String>,
    /// Grows by one on each change.
    pub version: i64,
}

impl From<Assignment> for AssignmentDto {
    fn from(a: Assignment) -> Self {
        AssignmentDto {
            id: a.id.0,
            user_id: a.user_id.0,
            role_id: a.role_id.0,
            role: a.role,
            is_active: a.is_active,
            created_at: ts(a.created_at),
            created_by: a.created_by,
            updated_at: a.updated_at.map(ts),
            updated_by: a.updated_by,
            version: a.version,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRoleRequest {
    /// Role name; created if it does not exist yet.
    pub role: String,
    /// Defaults to true.
    pub is_active: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAssignmentRequest {
    pub user_id: i64,
    pub role: String,
    /// Defaults to true.
    pub is_active: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRolesRequest {
    /// The complete set of active roles the user should hold.
    pub roles: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAssignmentRequest {
    pub user_id: Option<i64>,
    pub role: Option<String>,
    pub is_active: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AssignmentListParams {
    pub user_id: Option<i64>,
    pub role: Option<String>,
    pub is_active: Option<bool>,
    /// From 1.
    pub page: Option<u64>,
    /// 1 to 100 (default 20).
    pub per_page: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssignmentListResponse {
    pub items: Vec<AssignmentDto>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

// ----- organizations ---------------------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationDto {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub description: Option<String>,
    pub member_count: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Organization> for OrganizationDto {
    fn from(o: Organization) -> Self {
        OrganizationDto {
            id: o.id.0,
            uuid: o.uuid,
            name: o.name,
            description: o.description,
            member_count: o.member_count,
            created_at: ts(o.created_at),
            updated_at: ts(o.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganizationRequest {
    pub name: String,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganizationRequest {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    /// From 1.
    pub page: Option<u64>,
    /// 1 to 100 (default 20).
    pub per_page: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationListResponse {
    pub items: Vec<OrganizationDto>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

/// Checks page/per_page and turns them into (page, per_page, offset).
pub fn page_window(
    page: Option<u64>,
    per_page: Option<u64>,
) -> Result<(u64, u64, u64), super::problem::Problem> {
    let page = page.unwrap_or(1);
    let per_page = per_page.unwrap_or(20);
    if page == 0 {
        return Err(
            super::problem::Problem::invalid_parameter("page must be 1 or more").with_field("page"),
        );
    }
    if !(1..=100).contains(&per_page) {
        return Err(super::problem::Problem::invalid_parameter(
            "per_page must be between 1 and 100",
        )
        .with_field("per_page"));
    }
    let offset = (page - 1).checked_mul(per_page).ok_or_else(|| {
        super::problem::Problem::invalid_parameter("page is too large").with_field("page")
    })?;
    Ok((page, per_page, offset))
}
