//! Built-in role names (CONTRACT.md "One identity, many wires").

/// Everything, in every dialect.
pub const ADMIN: &str = "admin";
/// Administrator in citizen-portal.
pub const SUPER_ADMIN: &str = "super_admin";
/// May register users in org-users.
pub const PI: &str = "pi";
/// Default role of user-profiles sign-up.
pub const USER: &str = "user";
/// Default role of citizen-portal sign-up.
pub const CITIZEN: &str = "citizen";
