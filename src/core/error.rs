//! The one error type of the core: domain outcomes, no status codes.
//!
//! Every edge (native API, each dialect, the CLI) maps these to its own wire
//! form. Storage translates driver errors into these at its boundary, so no
//! sqlx type leaks upward.

use std::time::Duration;

/// What kind of thing was not found / conflicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    User,
    Role,
    Assignment,
    Organization,
    Session,
}

impl Entity {
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::User => "user",
            Entity::Role => "role",
            Entity::Assignment => "role assignment",
            Entity::Organization => "organization",
            Entity::Session => "session",
        }
    }
}

/// Why a presented access token was refused. Kept for logs and metrics only:
/// every edge answers all of them with the same 401 so a caller learns nothing
/// about which check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    Malformed,
    BadSignature,
    Expired,
    SessionEnded,
    UnknownUser,
    Disabled,
}

impl AuthFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing",
            AuthFailure::Malformed => "malformed",
            AuthFailure::BadSignature => "bad_signature",
            AuthFailure::Expired => "expired",
            AuthFailure::SessionEnded => "session_ended",
            AuthFailure::UnknownUser => "unknown_user",
            AuthFailure::Disabled => "disabled",
        }
    }
}

/// Fields that can conflict (unique in the database).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueField {
    Username,
    Email,
    RoleName,
    OrganizationName,
    Assignment,
}

impl UniqueField {
    pub fn as_str(self) -> &'static str {
        match self {
            UniqueField::Username => "username",
            UniqueField::Email => "email",
            UniqueField::RoleName => "role",
            UniqueField::OrganizationName => "organization",
            UniqueField::Assignment => "assignment",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("{} not found", .0.as_str())]
    NotFound(Entity),
    #[error("{} already exists", .0.as_str())]
    Conflict(UniqueField),
    /// A value that fails a domain rule (not a wire-format problem).
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// Login with a wrong identifier or password (never says which).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The right password for a disabled account.
    #[error("account disabled")]
    AccountDisabled,
    /// The current password given for a change was wrong.
    #[error("current password is incorrect")]
    WrongPassword,
    #[error("not authenticated ({})", .0.as_str())]
    Unauthenticated(AuthFailure),
    /// A refresh token that is unknown, used twice (the session is then ended), or whose
    /// session has ended.
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("an administrator cannot delete their own account")]
    SelfDelete,
    /// A role that does not exist, where only existing roles are accepted.
    #[error("unknown role")]
    UnknownRole { valid: Vec<String> },
    #[error("too many attempts")]
    RateLimited { retry_after: Duration },
    /// The database cannot be reached right now.
    #[error("service unavailable")]
    Unavailable,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl CoreError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        CoreError::Invalid {
            field,
            reason: reason.into(),
        }
    }

    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        CoreError::Internal(e.into())
    }
}

pub type CoreResult<T> = Result<T, CoreError>;
