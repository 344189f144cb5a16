//! Domain types shared by every edge. No wire or driver types here.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! int_id {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

int_id!(
    /// A user's integer id (auth-admin, user-profiles, citizen-portal, native API).
    UserId
);
int_id!(
    /// A role's integer id (citizen-portal's `roleIds`).
    RoleId
);
int_id!(
    /// A role assignment's id (role-assignments' `_id`, as a string on that wire).
    AssignmentId
);
int_id!(
    /// An organization's integer id.
    OrgId
);

/// A session id (the `sid` claim): a random UUID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(pub String);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Self {
        let now = time::OffsetDateTime::now_utc();
        Timestamp((now.unix_timestamp_nanos() / 1_000_000) as i64)
    }

    pub fn plus_secs(self, secs: u64) -> Self {
        Timestamp(self.0.saturating_add((secs as i64).saturating_mul(1000)))
    }

    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// RFC 3339 with millisecond precision and a `Z` suffix, e.g. `2026-11-22T10:51:28.123Z`.
    pub fn to_rfc3339(self) -> String {
        let dt = time::OffsetDateTime::from_unix_timestamp_nanos(self.0 as i128 * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let fmt = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        dt.format(&fmt).unwrap_or_default()
    }
}

/// A user's organization, as shown inside a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgRef {
    pub id: OrgId,
    pub uuid: String,
    pub name: String,
}

/// A user as every edge sees it: never carries the password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub uuid: String,
    pub username: String,
    pub email: String,
    pub profile: Profile,
    pub organization: Option<OrgRef>,
    pub is_active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Names of the roles of the user's *active* assignments, sorted.
    pub roles: Vec<String>,
    /// The role the user acts in by default (citizen-portal's `defaultRole`), if set.
    pub default_role: Option<String>,
    /// Has a confirmed second factor.
    pub mfa_enabled: bool,
    /// The current address was proved by a mailed link (or by an import that said so).
    pub email_verified: bool,
}

impl User {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// Optional profile fields. `None` = not set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    pub last_name: Option<String>,
    pub name_extension: Option<String>,
    pub display_name: Option<String>,
    pub contact_number: Option<String>,
    pub address: Option<String>,
}

impl Profile {
    /// First, middle, last name and extension joined by single spaces, skipping empty parts
    /// (CONTRACT.md, citizen-portal's `name`).
    pub fn full_name(&self) -> String {
        [
            &self.first_name,
            &self.middle_name,
            &self.last_name,
            &self.name_extension,
        ]
        .into_iter()
        .filter_map(|p| p.as_deref())
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
    }
}

/// A change to profile fields: outer `None` = leave alone, `Some(None)` = clear.
#[derive(Debug, Clone, Default)]
pub struct ProfilePatch {
    pub first_name: Option<Option<String>>,
    pub middle_name: Option<Option<String>>,
    pub last_name: Option<Option<String>>,
    pub name_extension: Option<Option<String>>,
    pub display_name: Option<Option<String>>,
    pub contact_number: Option<Option<String>>,
    pub address: Option<Option<String>>,
}

impl ProfilePatch {
    pub fn apply(&self, p: &mut Profile) {
        fn set(dst: &mut Option<String>, src: &Option<Option<String>>) {
            if let Some(v) = src {
                dst.clone_from(v);
            }
        }
        set(&mut p.first_name, &self.first_name);
        set(&mut p.middle_name, &self.middle_name);
        set(&mut p.last_name, &self.last_name);
        set(&mut p.name_extension, &self.name_extension);
        set(&mut p.display_name, &self.display_name);
        set(&mut p.contact_number, &self.contact_number);
        set(&mut p.address, &self.address);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub id: RoleId,
    pub name: String,
    pub description: Option<String>,
    pub builtin: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A link between a user and a role (role-assignments' record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub id: AssignmentId,
    pub user_id: UserId,
    pub role_id: RoleId,
    pub role: String,
    pub is_active: bool,
    pub created_at: Timestamp,
    pub created_by: Option<String>,
    pub updated_at: Option<Timestamp>,
    pub updated_by: Option<String>,
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: OrgId,
    pub uuid: String,
    pub name: String,
    pub description: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub member_count: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: Timestamp,
    pub last_used_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    pub user_agent: Option<String>,
    pub client_ip: Option<String>,
    /// The OAuth client the session was opened for at the token endpoint; `None` for the
    /// native API's, the dialects' and the browser's own sessions.
    pub client_id: Option<String>,
    /// The scope granted to that client.
    pub scope: Option<String>,
    /// How the user authenticated, RFC 8176 values space-separated (`pwd`, `pwd otp`);
    /// `None` for sessions from before second factors (read as `pwd`).
    pub amr: Option<String>,
}

/// Who is asking, derived from a verified access token and the current state of the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub username: String,
    /// Active role names, sorted.
    pub roles: Vec<String>,
}

impl Principal {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// Holds an active `admin` assignment (CONTRACT.md: "admin (everything)").
    pub fn is_admin(&self) -> bool {
        self.has_role(crate::roles::ADMIN)
    }
}

/// Where a request came from, for sessions, audit and throttling.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Sort keys for user lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UserSort {
    #[default]
    Id,
    Username,
    Email,
    CreatedAt,
}

#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    /// Free text over username, email and names.
    pub search: Option<String>,
    pub role: Option<String>,
    pub organization: Option<OrgId>,
    pub active: Option<bool>,
    /// Only users whose imported hash is weak (MD5/SHA-1, accepted at import) or not.
    pub weak_password_hash: Option<bool>,
    pub sort: UserSort,
    pub descending: bool,
    /// Count the matches only up to this many (the total is then at most one more, which
    /// reads "more than"); `None` counts them all. A search's exact count walks every match,
    /// which a page that only says "1,000+ match" need not pay for.
    pub count_at_most: Option<u64>,
}

/// How far a filtered list counts its matches unless asked for the exact total (the native
/// API's `total_relation: "gte"`, the console's "1,000+"): counting every match of a common
/// search term at millions of users costs more than the page itself.
pub const TOTAL_BOUND: u64 = 1_000;

/// A page request: either offset (page/per_page) or keyset (after a cursor).
#[derive(Debug, Clone)]
pub enum PageRequest {
    Offset {
        offset: u64,
        limit: u64,
    },
    After {
        cursor: Option<UserCursor>,
        limit: u64,
    },
}

/// The position after the last row of a keyset page: the sort key and the id tiebreak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCursor {
    pub key: CursorKey,
    pub id: UserId,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorKey {
    Int(i64),
    Text(String),
}

#[derive(Debug, Clone)]
pub struct UserPage {
    pub users: Vec<User>,
    /// The matches, exact unless `more`.
    pub total: u64,
    /// The matches were counted up to [`UserQuery::count_at_most`] and there are more:
    /// `total` is that bound.
    pub more: bool,
    pub next_cursor: Option<UserCursor>,
}

/// Filter, search and order of role assignment lists.
#[derive(Debug, Clone, Default)]
pub struct AssignmentQuery {
    pub id: Option<AssignmentId>,
    pub user_id: Option<UserId>,
    pub role: Option<String>,
    pub is_active: Option<bool>,
    /// Case-insensitive substring of the role name.
    pub search: Option<String>,
    /// Sort keys in order, each ascending (false) or descending (true); ties by id.
    pub sort: Vec<(AssignmentSort, bool)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignmentSort {
    Id,
    UserId,
    Role,
    IsActive,
    CreatedAt,
    UpdatedAt,
}
