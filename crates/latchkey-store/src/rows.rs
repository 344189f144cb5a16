//! Row shapes: the SELECT lists and their decoding into domain types.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::db_err;
use latchkey_core::error::CoreResult;
use latchkey_core::model::*;

/// The columns `user_from_row` reads, and the joins they need: `SELECT … FROM users u …`.
macro_rules! user_select {
    ($($extra:literal),*) => {
        concat!(
            "SELECT u.id, u.uuid, u.username, u.email, u.first_name, \
             u.middle_name, u.last_name, u.name_extension, u.display_name, u.contact_number, \
             u.address, u.organization_id, o.uuid AS org_uuid, o.name AS org_name, u.is_active, \
             u.created_at, u.updated_at, dr.name AS default_role, \
             (EXISTS (SELECT 1 FROM mfa_totp t WHERE t.user_id = u.id \
             AND t.confirmed_at IS NOT NULL) \
             OR EXISTS (SELECT 1 FROM mfa_passkeys k WHERE k.user_id = u.id)) AS mfa_enabled, \
             (u.email_verified_at IS NOT NULL) AS email_verified",
            $(", ", $extra,)*
            " FROM users u \
             LEFT JOIN organizations o ON o.id = u.organization_id \
             LEFT JOIN roles dr ON dr.id = u.default_role_id"
        )
    };
}
pub(crate) use user_select;

pub const USER_SELECT: &str = user_select!();

pub fn user_from_row(r: &AnyRow) -> CoreResult<User> {
    let org_id: Option<i64> = r.try_get("organization_id").map_err(db_err)?;
    let organization = match org_id {
        Some(id) => Some(OrgRef {
            id: OrgId(id),
            uuid: r.try_get("org_uuid").map_err(db_err)?,
            name: r.try_get("org_name").map_err(db_err)?,
        }),
        None => None,
    };
    Ok(User {
        id: UserId(r.try_get("id").map_err(db_err)?),
        uuid: r.try_get("uuid").map_err(db_err)?,
        username: r.try_get("username").map_err(db_err)?,
        email: r.try_get("email").map_err(db_err)?,
        profile: Profile {
            first_name: r.try_get("first_name").map_err(db_err)?,
            middle_name: r.try_get("middle_name").map_err(db_err)?,
            last_name: r.try_get("last_name").map_err(db_err)?,
            name_extension: r.try_get("name_extension").map_err(db_err)?,
            display_name: r.try_get("display_name").map_err(db_err)?,
            contact_number: r.try_get("contact_number").map_err(db_err)?,
            address: r.try_get("address").map_err(db_err)?,
        },
        organization,
        is_active: get_bool(r, "is_active")?,
        created_at: Timestamp(r.try_get("created_at").map_err(db_err)?),
        updated_at: Timestamp(r.try_get("updated_at").map_err(db_err)?),
        roles: Vec::new(),
        default_role: r.try_get("default_role").map_err(db_err)?,
        mfa_enabled: get_bool(r, "mfa_enabled")?,
        email_verified: get_bool(r, "email_verified")?,
    })
}

pub const ROLE_SELECT: &str =
    "SELECT id, name, description, builtin, created_at, updated_at FROM roles";

pub fn role_from_row(r: &AnyRow) -> CoreResult<Role> {
    Ok(Role {
        id: RoleId(r.try_get("id").map_err(db_err)?),
        name: r.try_get("name").map_err(db_err)?,
        description: r.try_get("description").map_err(db_err)?,
        builtin: get_bool(r, "builtin")?,
        created_at: Timestamp(r.try_get("created_at").map_err(db_err)?),
        updated_at: Timestamp(r.try_get("updated_at").map_err(db_err)?),
    })
}

pub const ASSIGNMENT_SELECT: &str = "SELECT ra.id, ra.user_id, ra.role_id, r.name AS role_name, \
    ra.is_active, ra.created_at, ra.created_by, ra.updated_at, ra.updated_by, ra.version \
    FROM role_assignments ra JOIN roles r ON r.id = ra.role_id";

pub fn assignment_from_row(r: &AnyRow) -> CoreResult<Assignment> {
    Ok(Assignment {
        id: AssignmentId(r.try_get("id").map_err(db_err)?),
        user_id: UserId(r.try_get("user_id").map_err(db_err)?),
        role_id: RoleId(r.try_get("role_id").map_err(db_err)?),
        role: r.try_get("role_name").map_err(db_err)?,
        is_active: get_bool(r, "is_active")?,
        created_at: Timestamp(r.try_get("created_at").map_err(db_err)?),
        created_by: r.try_get("created_by").map_err(db_err)?,
        updated_at: r
            .try_get::<Option<i64>, _>("updated_at")
            .map_err(db_err)?
            .map(Timestamp),
        updated_by: r.try_get("updated_by").map_err(db_err)?,
        version: r.try_get("version").map_err(db_err)?,
    })
}

pub const ORG_SELECT: &str = "SELECT o.id, o.uuid, o.name, o.description, o.created_at, \
    o.updated_at, (SELECT COUNT(*) FROM users u WHERE u.organization_id = o.id) AS member_count \
    FROM organizations o";

pub fn org_from_row(r: &AnyRow) -> CoreResult<Organization> {
    Ok(Organization {
        id: OrgId(r.try_get("id").map_err(db_err)?),
        uuid: r.try_get("uuid").map_err(db_err)?,
        name: r.try_get("name").map_err(db_err)?,
        description: r.try_get("description").map_err(db_err)?,
        created_at: Timestamp(r.try_get("created_at").map_err(db_err)?),
        updated_at: Timestamp(r.try_get("updated_at").map_err(db_err)?),
        member_count: r.try_get("member_count").map_err(db_err)?,
    })
}

pub const SESSION_SELECT: &str = "SELECT id, user_id, created_at, last_used_at, expires_at, \
    revoked_at, user_agent, client_ip, client_id, scope, amr FROM sessions";

pub fn session_from_row(r: &AnyRow) -> CoreResult<Session> {
    Ok(Session {
        id: SessionId(r.try_get("id").map_err(db_err)?),
        user_id: UserId(r.try_get("user_id").map_err(db_err)?),
        created_at: Timestamp(r.try_get("created_at").map_err(db_err)?),
        last_used_at: Timestamp(r.try_get("last_used_at").map_err(db_err)?),
        expires_at: Timestamp(r.try_get("expires_at").map_err(db_err)?),
        revoked_at: r
            .try_get::<Option<i64>, _>("revoked_at")
            .map_err(db_err)?
            .map(Timestamp),
        user_agent: r.try_get("user_agent").map_err(db_err)?,
        client_ip: r.try_get("client_ip").map_err(db_err)?,
        client_id: r.try_get("client_id").map_err(db_err)?,
        scope: r.try_get("scope").map_err(db_err)?,
        amr: r.try_get("amr").map_err(db_err)?,
    })
}

/// Booleans are BOOLEAN on PostgreSQL and INTEGER 0/1 on SQLite (the `Any` driver cannot
/// decode SQLite's BOOLEAN), so read either.
pub fn get_bool(r: &AnyRow, col: &str) -> CoreResult<bool> {
    match r.try_get::<bool, _>(col) {
        Ok(b) => Ok(b),
        Err(_) => r.try_get::<i64, _>(col).map(|v| v != 0).map_err(db_err),
    }
}
