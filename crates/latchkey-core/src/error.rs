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
    Client,
    Passkey,
    /// A sign-in lock (a failed-login counter).
    Lock,
}

impl Entity {
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::User => "user",
            Entity::Role => "role",
            Entity::Assignment => "role assignment",
            Entity::Lock => "lock",
            Entity::Organization => "organization",
            Entity::Session => "session",
            Entity::Client => "client",
            Entity::Passkey => "passkey",
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
    /// The user's role requires a second factor they have not enrolled: the session is
    /// good only for enrolling one, in the native API.
    MfaEnrollment,
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
            AuthFailure::MfaEnrollment => "mfa_enrollment",
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

/// Why a value was refused. Each edge picks its own wording from the variant; the
/// [`Display`](std::fmt::Display) text is the native API's (and the default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    Empty,
    /// Shorter than `min` characters (passwords: bytes).
    TooShort {
        min: usize,
    },
    /// Longer than `max` characters.
    TooLong {
        max: usize,
    },
    /// Longer than `max` bytes.
    TooLongBytes {
        max: usize,
    },
    /// On the common-passwords list.
    TooCommon,
    /// Holds a NUL character, which no stored text may (PostgreSQL cannot hold one).
    Nul,
    /// Holds control characters.
    ControlCharacters,
    /// A username with whitespace, control characters or `@`.
    UsernameCharacters,
    EmailMalformed,
    /// Not `[a-z0-9_-]{1,64}`.
    RoleNameFormat,
    /// Not 1 to 128 characters without control characters.
    OrganizationNameFormat,
    /// A role id that no role has (in the namespace the edge used).
    UnknownRoleId(i64),
    /// A cursor made for another sort order.
    CursorMismatch,
    /// A built-in role cannot be renamed.
    BuiltinRename,
    /// A built-in role cannot be deleted.
    BuiltinDelete,
    /// An administrator tried to disable their own account.
    SelfDisable,
    /// Not an absolute URI Latchkey can redirect to exactly (no fragment, no user info).
    UriMalformed,
    /// Plain `http` off the loopback interface, or a scheme a confidential client may not use.
    UriInsecure,
    /// More than `max` entries.
    TooMany {
        max: usize,
    },
    /// Not an RFC 6749 scope token.
    ScopeFormat,
    /// A grant type Latchkey does not offer (OAuth 2.1 has no implicit or password grant).
    UnsupportedGrant,
    /// Needed by the named grant type.
    RequiredFor(&'static str),
    /// A public client cannot use the client-credentials grant: it has no credentials.
    PublicClientCredentials,
    /// A signing algorithm Latchkey does not offer.
    UnsupportedAlg,
    /// A public client has no secret to rotate.
    PublicClientSecret,
    /// Operator configuration (database URL, keys): the text says what is wrong.
    Config(String),
    /// Not one of the listed values.
    OneOf(&'static str),
    /// The same as the current value.
    Unchanged,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Empty => f.write_str("must not be empty"),
            Reason::TooShort { min } => write!(f, "must be at least {min} characters long"),
            Reason::TooLong { max } => write!(f, "must be at most {max} characters"),
            Reason::TooLongBytes { max } => write!(f, "must be at most {max} bytes long"),
            Reason::TooCommon => f.write_str("is too common; choose another"),
            Reason::Nul => f.write_str("must not contain NUL characters"),
            Reason::ControlCharacters => f.write_str("must not contain control characters"),
            Reason::UsernameCharacters => {
                f.write_str("must not contain spaces, control characters or '@'")
            }
            Reason::EmailMalformed => f.write_str("must be a valid email address"),
            Reason::RoleNameFormat => {
                f.write_str("must be 1 to 64 characters of a-z, 0-9, '_' or '-'")
            }
            Reason::OrganizationNameFormat => {
                f.write_str("must be 1 to 128 characters without control characters")
            }
            Reason::UnknownRoleId(id) => write!(f, "unknown role id {id}"),
            Reason::CursorMismatch => f.write_str("does not match the sort"),
            Reason::BuiltinRename => f.write_str("built-in roles cannot be renamed"),
            Reason::BuiltinDelete => f.write_str("built-in roles cannot be deleted"),
            Reason::SelfDisable => f.write_str("you cannot disable your own account"),
            Reason::UriMalformed => {
                f.write_str("must be an absolute URI without a fragment or user info")
            }
            Reason::UriInsecure => f.write_str(
                "must be https (http only on a loopback host; private-use schemes only for public clients)",
            ),
            Reason::TooMany { max } => write!(f, "must have at most {max} entries"),
            Reason::ScopeFormat => {
                f.write_str("must be 1 to 128 printable ASCII characters without space, '\"' or '\\'")
            }
            Reason::UnsupportedGrant => f.write_str(
                "must be authorization_code, refresh_token or client_credentials",
            ),
            Reason::RequiredFor(what) => write!(f, "is required for {what}"),
            Reason::PublicClientCredentials => {
                f.write_str("client_credentials needs a confidential client")
            }
            Reason::UnsupportedAlg => f.write_str("must be RS256, ES256 or EdDSA"),
            Reason::PublicClientSecret => f.write_str("is a public client, which has no secret"),
            Reason::Config(text) => f.write_str(text),
            Reason::OneOf(values) => write!(f, "must be one of: {values}"),
            Reason::Unchanged => f.write_str("is already the current value"),
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
    Invalid { field: &'static str, reason: Reason },
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
    /// An OAuth protocol refusal (the token endpoint's `error`).
    #[error("oauth: {}", .0.code())]
    OAuth(crate::oauth::OAuthError),
    /// The password was right but the user has a second factor, which this path (a dialect)
    /// cannot carry.
    #[error("a second factor is required")]
    MfaRequired,
    /// An `mfa_token` that is unknown, expired, used, or spent by too many wrong codes.
    #[error("invalid mfa token")]
    InvalidMfaToken,
    /// A wrong, reused or malformed second-factor code; at a login, `remaining` attempts
    /// are left on its `mfa_token`.
    #[error("invalid code")]
    InvalidMfaCode { remaining: Option<u32> },
    /// Changing a factor needs a session opened in the last five minutes.
    #[error("recent authentication required")]
    RecentAuthRequired,
    /// A factor change that does not fit the user's factors now (the text says why).
    #[error("{0}")]
    MfaState(&'static str),
    /// The right password, but `--email-verification required` and the address is not yet
    /// verified.
    #[error("email address not verified")]
    EmailNotVerified,
    /// A flow needs to send mail and no transport is configured.
    #[error("mail is not configured")]
    MailUnavailable,
    /// A mailed token (reset, verification, email change, invitation) that is unknown,
    /// used, superseded or expired.
    #[error("invalid or expired link")]
    InvalidMailToken,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl CoreError {
    pub fn invalid(field: &'static str, reason: Reason) -> Self {
        CoreError::Invalid { field, reason }
    }

    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        CoreError::Internal(e.into())
    }
}

pub type CoreResult<T> = Result<T, CoreError>;
