//! Who may do what, decided from the principal once (`../shared/STYLE.md` §2, lldap's
//! scoped views). An operation that needs an administrator is a method of [`Admin`], which
//! only [`Latchkey::admin`] (or [`Latchkey::administrator`]) hands out; an operation open
//! to any signed-in user is a method of [`Member`]. Edges whose origin refused a caller
//! before reading the request take the view first and answer its refusal; the operation
//! itself cannot run without it, so no edge checks a role and no operation checks twice.

use crate::error::{CoreError, CoreResult};
use crate::model::{Principal, UserId};
use crate::roles;
use crate::service::Latchkey;

/// The administrator's view: user, role, organization and audit administration.
pub struct Admin<'a> {
    pub(crate) svc: &'a Latchkey,
    pub(crate) actor: &'a Principal,
}

impl<'a> Admin<'a> {
    pub fn actor(&self) -> &'a Principal {
        self.actor
    }
}

/// Any signed-in user's view: what an origin let every authenticated caller read.
pub struct Member<'a> {
    pub(crate) svc: &'a Latchkey,
    pub(crate) actor: &'a Principal,
}

impl<'a> Member<'a> {
    pub fn actor(&self) -> &'a Principal {
        self.actor
    }
}

impl Latchkey {
    /// The administrator's view, for a principal holding `admin`.
    pub fn admin<'a>(&'a self, p: &'a Principal) -> CoreResult<Admin<'a>> {
        self.administrator(p, &[])
    }

    /// The administrator's view for `admin` or one of `also` (an edge whose origin had other
    /// administrator roles, such as citizen-portal's `super_admin`).
    pub fn administrator<'a>(&'a self, p: &'a Principal, also: &[&str]) -> CoreResult<Admin<'a>> {
        if p.is_admin() || also.iter().any(|r| p.has_role(r)) {
            Ok(Admin {
                svc: self,
                actor: p,
            })
        } else if also.is_empty() {
            Err(CoreError::Forbidden("the admin role is required"))
        } else {
            Err(CoreError::Forbidden("an administrator role is required"))
        }
    }

    /// The signed-in user's view. Every authenticated principal has it.
    pub fn member<'a>(&'a self, p: &'a Principal) -> Member<'a> {
        Member {
            svc: self,
            actor: p,
        }
    }
}

/// That user themself, or an administrator.
pub(crate) fn self_or_admin(p: &Principal, id: UserId) -> CoreResult<()> {
    if p.user_id == id || p.is_admin() {
        Ok(())
    } else {
        Err(CoreError::Forbidden(
            "only that user or an admin may do this",
        ))
    }
}

/// Whether `p` may create accounts with any role under a sign-up policy's registrars.
pub(crate) fn is_registrar(p: Option<&Principal>, registrars: &[&str]) -> bool {
    p.is_some_and(|p| p.is_admin() || registrars.iter().any(|r| p.has_role(r)))
}

/// Administrator roles, which only an admin may grant.
pub(crate) fn is_administrator_role(role: &str) -> bool {
    role == roles::ADMIN || role == roles::SUPER_ADMIN
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SessionId;

    fn principal(roles: &[&str]) -> Principal {
        Principal {
            user_id: UserId(7),
            session_id: SessionId("s".into()),
            username: "u".into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn only_that_user_or_an_admin_passes() {
        assert!(self_or_admin(&principal(&[]), UserId(7)).is_ok());
        assert!(self_or_admin(&principal(&[]), UserId(8)).is_err());
        assert!(self_or_admin(&principal(&["admin"]), UserId(8)).is_ok());
        assert!(is_registrar(Some(&principal(&["pi"])), &["pi"]));
        assert!(!is_registrar(Some(&principal(&["user"])), &["pi"]));
        assert!(!is_registrar(None, &["pi"]));
    }
}
